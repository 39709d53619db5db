//! WAV files: reading prompts (PCM 16-bit, decoded to 8 kHz once), writing recordings so that a
//! crash leaves a readable file, and repairing the header of a file whose writer died.
//!
//! Recordings use the plain 44-byte header (RIFF, `fmt ` PCM, `data`). The writer fills in the
//! RIFF and data sizes at the start, and again every time [`WavWriter::update_header`] is
//! called (the handler's writer thread does so about once a second), so a crash loses at most
//! the sizes of the last second; [`repair`] recomputes them from the file length.
//!
//! These functions work on `Read`/`Write`/`Seek` values the caller opened: the engine itself
//! never touches the file system.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::error::MediaError;

/// Decoded audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavAudio {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channels in the file (the samples are already down-mixed to mono).
    pub channels: u16,
    /// Mono samples.
    pub samples: Vec<i16>,
}

fn bad(msg: impl Into<String>) -> MediaError {
    MediaError::UnsupportedFile(msg.into())
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// Parse a WAV file held in memory: PCM 16-bit (format 1, or extensible with the PCM
/// sub-format), mono or stereo (stereo is averaged to mono). Never panics on any input. A
/// `data` size larger than the file (a file whose writer died) is clamped to what is there.
pub fn parse_wav(bytes: &[u8]) -> Result<WavAudio, MediaError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let mut at = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4).ok_or_else(|| bad("truncated chunk header"))? as usize;
        let body = at + 8;
        if id == b"fmt " {
            let f = bytes
                .get(body..body + size.min(40))
                .ok_or_else(|| bad("truncated fmt chunk"))?;
            let format = u16_at(f, 0).ok_or_else(|| bad("short fmt chunk"))?;
            let channels = u16_at(f, 2).ok_or_else(|| bad("short fmt chunk"))?;
            let rate = u32_at(f, 4).ok_or_else(|| bad("short fmt chunk"))?;
            let bits = u16_at(f, 14).ok_or_else(|| bad("short fmt chunk"))?;
            let format = if format == 0xFFFE {
                // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the format code.
                u16_at(f, 24).ok_or_else(|| bad("short extensible fmt chunk"))?
            } else {
                format
            };
            fmt = Some((format, channels, rate, bits));
        } else if id == b"data" {
            let (format, channels, rate, bits) = fmt.ok_or_else(|| bad("data chunk before fmt"))?;
            if format != 1 {
                return Err(bad(format!("format {format} is not PCM")));
            }
            if bits != 16 {
                return Err(bad(format!("{bits}-bit samples (16-bit needed)")));
            }
            if channels != 1 && channels != 2 {
                return Err(bad(format!("{channels} channels (mono needed)")));
            }
            if rate == 0 {
                return Err(bad("sample rate 0"));
            }
            let end = body.saturating_add(size).min(bytes.len());
            let data = &bytes[body.min(end)..end];
            let frame = 2 * channels as usize;
            let samples = data
                .chunks_exact(frame)
                .map(|f| {
                    if channels == 1 {
                        i16::from_le_bytes([f[0], f[1]])
                    } else {
                        let l = i32::from(i16::from_le_bytes([f[0], f[1]]));
                        let r = i32::from(i16::from_le_bytes([f[2], f[3]]));
                        ((l + r) / 2) as i16
                    }
                })
                .collect();
            return Ok(WavAudio {
                sample_rate: rate,
                channels,
                samples,
            });
        }
        // Chunks are padded to an even size.
        at = body.saturating_add(size).saturating_add(size & 1);
    }
    Err(bad("no data chunk"))
}

/// Resample mono audio to 8 kHz. 8 kHz passes through; rates that are a multiple of 8 kHz
/// (16, 24, 32, 48 kHz) are low-pass filtered (windowed sinc, cut-off 3.6 kHz) and decimated.
pub fn to_8k(samples: &[i16], rate: u32) -> Result<Vec<i16>, MediaError> {
    if rate == 8000 {
        return Ok(samples.to_vec());
    }
    if !rate.is_multiple_of(8000) || rate > 48_000 {
        return Err(bad(format!(
            "sample rate {rate} Hz (8, 16, 24, 32 or 48 kHz needed)"
        )));
    }
    let m = (rate / 8000) as usize;
    let taps = filter(m);
    let half = taps.len() / 2;
    let mut out = Vec::with_capacity(samples.len() / m + 1);
    let mut i = 0;
    while i < samples.len() {
        let mut acc = 0f32;
        for (k, &h) in taps.iter().enumerate() {
            let j = i as isize + k as isize - half as isize;
            if j >= 0 && (j as usize) < samples.len() {
                acc += h * f32::from(samples[j as usize]);
            }
        }
        out.push(acc.round().clamp(-32768.0, 32767.0) as i16);
        i += m;
    }
    Ok(out)
}

/// Low-pass taps for decimation by `m`: cut-off 3.6 kHz at `8 kHz × m`, Blackman window, unity
/// gain at DC.
fn filter(m: usize) -> Vec<f32> {
    let n = 24 * m + 1;
    let fc = 3600.0 / (8000.0 * m as f64); // cycles per input sample
    let mid = (n / 2) as f64;
    let mut taps: Vec<f64> = (0..n)
        .map(|k| {
            let x = k as f64 - mid;
            let sinc = if x == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * x).sin() / (std::f64::consts::PI * x)
            };
            let w = 0.42 - 0.5 * (2.0 * std::f64::consts::PI * k as f64 / (n - 1) as f64).cos()
                + 0.08 * (4.0 * std::f64::consts::PI * k as f64 / (n - 1) as f64).cos();
            sinc * w
        })
        .collect();
    let sum: f64 = taps.iter().sum();
    for t in &mut taps {
        *t /= sum;
    }
    taps.into_iter().map(|t| t as f32).collect()
}

/// Load a prompt: parse a WAV and bring it to 8 kHz mono.
pub fn load_prompt(bytes: &[u8]) -> Result<Vec<i16>, MediaError> {
    let wav = parse_wav(bytes)?;
    to_8k(&wav.samples, wav.sample_rate)
}

/// The length of the header [`WavWriter`] writes.
pub const HEADER_LEN: u64 = 44;

fn header(channels: u16, rate: u32, data_len: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    let block_align = channels.saturating_mul(2);
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&rate.saturating_mul(u32::from(block_align)).to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

/// Writes a 16-bit PCM WAV incrementally (see the module documentation).
#[derive(Debug)]
pub struct WavWriter<W: Write + Seek> {
    out: W,
    channels: u16,
    rate: u32,
    data_len: u64,
    header_len: u64,
}

impl<W: Write + Seek> WavWriter<W> {
    /// The largest data length a RIFF header can state.
    const MAX_DATA: u64 = u32::MAX as u64 - 36;

    /// Start a file: writes the header with zero sizes.
    pub fn new(mut out: W, channels: u16, rate: u32) -> io::Result<Self> {
        out.write_all(&header(channels, rate, 0))?;
        Ok(WavWriter {
            out,
            channels,
            rate,
            data_len: 0,
            header_len: 0,
        })
    }

    /// Append interleaved samples. Data beyond the 4 GiB RIFF limit is dropped.
    pub fn write_samples(&mut self, samples: &[i16]) -> io::Result<()> {
        let room = (Self::MAX_DATA - self.data_len) / 2;
        let take = samples.len().min(room as usize);
        let mut bytes = Vec::with_capacity(take * 2);
        for s in &samples[..take] {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        self.out.write_all(&bytes)?;
        self.data_len += bytes.len() as u64;
        Ok(())
    }

    /// Rewrite the header's sizes to match what was written so far, and flush.
    pub fn update_header(&mut self) -> io::Result<()> {
        if self.header_len != self.data_len {
            self.out.seek(SeekFrom::Start(0))?;
            self.out
                .write_all(&header(self.channels, self.rate, self.data_len as u32))?;
            self.out.seek(SeekFrom::End(0))?;
            self.header_len = self.data_len;
        }
        self.out.flush()
    }

    /// Bytes of sample data written.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Duration written, in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        let frames = self.data_len / (2 * u64::from(self.channels));
        frames * 1000 / u64::from(self.rate)
    }

    /// Final header update; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.update_header()?;
        Ok(self.out)
    }
}

/// What [`repair`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// The header already matched the file.
    Intact,
    /// The sizes were rewritten; the file holds this many data bytes.
    Fixed {
        /// Data bytes now declared.
        data_len: u64,
    },
    /// Not a file this writer produced (left untouched).
    NotOurs,
}

/// Fix the RIFF and data sizes of a 44-byte-header PCM WAV from the file's actual length
/// (a trailing partial sample frame is left outside the declared data).
pub fn repair<F: Read + Write + Seek>(file: &mut F) -> io::Result<Repair> {
    let len = file.seek(SeekFrom::End(0))?;
    if len < HEADER_LEN {
        return Ok(Repair::NotOurs);
    }
    let mut h = [0u8; 44];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut h)?;
    let ours = &h[0..4] == b"RIFF"
        && &h[8..12] == b"WAVE"
        && &h[12..16] == b"fmt "
        && u32_at(&h, 16) == Some(16)
        && u16_at(&h, 20) == Some(1)
        && &h[36..40] == b"data";
    if !ours {
        return Ok(Repair::NotOurs);
    }
    let channels = u16_at(&h, 22).unwrap_or(0);
    let rate = u32_at(&h, 24).unwrap_or(0);
    if !(1..=2).contains(&channels) || !(1..=192_000).contains(&rate) {
        return Ok(Repair::NotOurs);
    }
    let align = u64::from(channels) * 2;
    let data = ((len - HEADER_LEN) / align * align).min(WavWriter::<io::Cursor<Vec<u8>>>::MAX_DATA);
    if u32_at(&h, 40) == Some(data as u32) && u32_at(&h, 4) == Some(data as u32 + 36) {
        return Ok(Repair::Intact);
    }
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&header(channels, rate, data as u32))?;
    file.flush()?;
    Ok(Repair::Fixed { data_len: data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn wav_bytes(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let mut w = WavWriter::new(Cursor::new(Vec::new()), channels, rate).expect("in memory");
        w.write_samples(samples).expect("in memory");
        w.finish().expect("in memory").into_inner()
    }

    #[test]
    fn written_file_parses_back() {
        let samples: Vec<i16> = (0..800).map(|i| (i * 37 % 2000) as i16 - 1000).collect();
        let bytes = wav_bytes(8000, 1, &samples);
        assert_eq!(bytes.len(), 44 + 1600);
        let wav = parse_wav(&bytes).expect("valid");
        assert_eq!(wav.sample_rate, 8000);
        assert_eq!(wav.samples, samples);
    }

    #[test]
    fn stereo_is_averaged_to_mono() {
        let bytes = wav_bytes(8000, 2, &[100, 300, -50, -150]);
        assert_eq!(parse_wav(&bytes).expect("valid").samples, vec![200, -100]);
    }

    #[test]
    fn rejects_what_it_cannot_play() {
        assert!(parse_wav(b"not a wav").is_err());
        let mut b = wav_bytes(8000, 1, &[1, 2]);
        b[34] = 8; // 8-bit
        let err = parse_wav(&b).expect_err("8-bit");
        assert!(err.to_string().contains("8-bit"), "{err}");
        assert!(to_8k(&[0; 10], 11_025).is_err());
    }

    #[test]
    fn sixteen_khz_tone_keeps_its_frequency_and_level() {
        // 1 kHz at 16 kHz → 8 kHz: every 8th output sample repeats the phase.
        let s16: Vec<i16> = (0..16_000)
            .map(|n| {
                (10_000.0 * (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 16_000.0).sin())
                    as i16
            })
            .collect();
        let s8 = to_8k(&s16, 16_000).expect("supported");
        assert_eq!(s8.len(), 8000);
        let mid = &s8[1000..7000];
        let peak = mid
            .iter()
            .map(|s| i32::from(*s).abs())
            .max()
            .expect("non-empty");
        assert!((9_500..=10_300).contains(&peak), "peak {peak}");
        for k in 1000..6900 {
            assert!(
                (i32::from(s8[k]) - i32::from(s8[k + 8])).abs() < 150,
                "sample {k}"
            );
        }
    }

    #[test]
    fn content_above_4khz_is_filtered_out() {
        let s16: Vec<i16> = (0..16_000)
            .map(|n| {
                (10_000.0 * (2.0 * std::f64::consts::PI * 6000.0 * n as f64 / 16_000.0).sin())
                    as i16
            })
            .collect();
        let s8 = to_8k(&s16, 16_000).expect("supported");
        let peak = s8[1000..7000]
            .iter()
            .map(|s| i32::from(*s).abs())
            .max()
            .expect("non-empty");
        assert!(peak < 300, "aliased 6 kHz came through at {peak}");
    }

    #[test]
    fn header_is_updated_as_data_is_written() {
        let mut w = WavWriter::new(Cursor::new(Vec::new()), 2, 8000).expect("in memory");
        w.write_samples(&[1; 320]).expect("in memory");
        w.update_header().expect("in memory");
        w.write_samples(&[2; 320]).expect("in memory");
        // Without a final update the header states the first part only, and still parses.
        let snapshot = w.out.get_ref().clone();
        assert_eq!(u32_at(&snapshot, 40), Some(640));
        assert_eq!(parse_wav(&snapshot).expect("readable").samples.len(), 160);
        assert_eq!(w.duration_ms(), 40, "640 stereo samples at 8 kHz");
    }

    #[test]
    fn repair_recomputes_sizes_of_an_unfinished_file() {
        let mut w = WavWriter::new(Cursor::new(Vec::new()), 1, 8000).expect("in memory");
        w.write_samples(&[7; 1000]).expect("in memory");
        // The writer "crashes": no header update. Add a stray half sample too.
        let mut bytes = w.out.into_inner();
        bytes.push(0);
        let mut f = Cursor::new(bytes);
        assert_eq!(
            repair(&mut f).expect("in memory"),
            Repair::Fixed { data_len: 2000 }
        );
        let wav = parse_wav(f.get_ref()).expect("readable");
        assert_eq!(wav.samples.len(), 1000);
        assert_eq!(repair(&mut f).expect("in memory"), Repair::Intact);
        assert_eq!(
            repair(&mut Cursor::new(b"hello".to_vec())).expect("in memory"),
            Repair::NotOurs
        );
    }
}
