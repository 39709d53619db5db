//! Codecs: what a leg negotiated, and the audio codecs the engine can decode and encode.
//!
//! The engine's internal audio is 16-bit PCM at 8 kHz in 20 ms frames. Every audio codec is an
//! [`AudioCodec`]: it decodes a payload to 8 kHz PCM and encodes 8 kHz PCM to a payload, and
//! says how it maps onto RTP (clock rate, samples per encode granule, bitrate for bandwidth
//! estimates). Adding a codec (G.729, GSM, Opus for the bandwidth manager's degradation) is
//! one more implementation plus a line in [`new_audio_codec`]; the router then transcodes to
//! and from it through PCM. G.711 pairs never go through PCM on the relay path: µ-law ↔ A-law
//! is one table lookup per byte, in place.
//!
//! Built in: PCMU and PCMA; with the default features also G.729 (libbcg729), GSM 06.10
//! (libgsm) and Opus (libopus, RTP clock 48 kHz, coded at 8 kHz).

use crate::error::MediaError;
use rtp::g711;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MediaKind {
    /// Audio.
    #[default]
    Audio,
    /// Video (routed untouched between video legs).
    Video,
}

/// One negotiated codec (the SDP `a=rtpmap` / `a=fmtp` of a leg).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecSpec {
    /// Encoding name, e.g. `PCMU`.
    pub name: String,
    /// RTP payload type.
    pub payload_type: u8,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channels.
    pub channels: u8,
    /// Format parameters, untouched.
    pub fmtp: Option<String>,
}

impl CodecSpec {
    /// A codec spec with one channel and no fmtp.
    pub fn new(name: &str, payload_type: u8, clock_rate: u32) -> Self {
        CodecSpec {
            name: name.to_string(),
            payload_type,
            clock_rate,
            channels: 1,
            fmtp: None,
        }
    }

    /// Whether two specs name the same codec (name case-insensitive, same clock and channels).
    pub fn same_codec(&self, other: &CodecSpec) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.clock_rate == other.clock_rate
            && self.channels == other.channels
    }

    /// The G.711 law this spec names, if it does.
    pub fn g711(&self) -> Option<G711> {
        if self.clock_rate != 8000 || self.channels != 1 {
            return None;
        }
        if self.name.eq_ignore_ascii_case("PCMU") {
            Some(G711::Ulaw)
        } else if self.name.eq_ignore_ascii_case("PCMA") {
            Some(G711::Alaw)
        } else {
            None
        }
    }
}

/// The two G.711 laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711 {
    /// µ-law (PCMU, static payload type 0).
    Ulaw,
    /// A-law (PCMA, static payload type 8).
    Alaw,
}

/// An audio codec instance (it may keep state between frames, e.g. a predictor).
pub trait AudioCodec: Send + std::fmt::Debug {
    /// The encoding name as in SDP.
    fn name(&self) -> &'static str;
    /// The RTP clock rate.
    fn clock_rate(&self) -> u32;
    /// Encoder granule in 8 kHz samples: frames passed to [`AudioCodec::encode`] are a
    /// multiple of this.
    fn granule(&self) -> usize;
    /// Nominal bitrate of the payload, bit/s (for bandwidth estimates).
    fn bitrate(&self) -> u32;
    /// Decode one payload into 8 kHz samples; returns how many were written.
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, MediaError>;
    /// Encode 8 kHz samples into a payload; returns its length.
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, MediaError>;
    /// The G.711 law, when this is G.711 (lets the router transcode byte by byte).
    fn g711(&self) -> Option<G711> {
        None
    }
    /// Whether a packet of `samples` 8 kHz samples can be encoded (a multiple of the
    /// granule by default).
    fn fits(&self, samples: usize) -> bool {
        samples > 0 && samples.is_multiple_of(self.granule())
    }
}

/// G.711 as an [`AudioCodec`].
#[derive(Debug, Clone, Copy)]
pub struct G711Codec(pub G711);

impl AudioCodec for G711Codec {
    fn name(&self) -> &'static str {
        match self.0 {
            G711::Ulaw => "PCMU",
            G711::Alaw => "PCMA",
        }
    }
    fn clock_rate(&self) -> u32 {
        8000
    }
    fn granule(&self) -> usize {
        1
    }
    fn bitrate(&self) -> u32 {
        64_000
    }
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, MediaError> {
        let n = payload.len().min(out.len());
        match self.0 {
            G711::Ulaw => g711::decode_ulaw(&payload[..n], &mut out[..n]),
            G711::Alaw => g711::decode_alaw(&payload[..n], &mut out[..n]),
        }
        Ok(n)
    }
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, MediaError> {
        if out.len() < pcm.len() {
            return Err(MediaError::BadRequest("encode buffer too small".into()));
        }
        match self.0 {
            G711::Ulaw => g711::encode_ulaw(pcm, &mut out[..pcm.len()]),
            G711::Alaw => g711::encode_alaw(pcm, &mut out[..pcm.len()]),
        }
        Ok(pcm.len())
    }
    fn g711(&self) -> Option<G711> {
        Some(self.0)
    }
}

/// Opus (RFC 7587: RTP clock 48 kHz), encoded and decoded at 8 kHz mono through libopus.
#[cfg(feature = "opus")]
pub struct OpusCodec {
    enc: opus::Encoder,
    dec: opus::Decoder,
}

#[cfg(feature = "opus")]
impl std::fmt::Debug for OpusCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusCodec").finish_non_exhaustive()
    }
}

#[cfg(feature = "opus")]
impl OpusCodec {
    /// A codec instance (narrowband VoIP mode), or `None` if libopus refuses.
    pub fn new() -> Option<OpusCodec> {
        let enc = opus::Encoder::new(8000, opus::Channels::Mono, opus::Application::Voip).ok()?;
        let dec = opus::Decoder::new(8000, opus::Channels::Mono).ok()?;
        Some(OpusCodec { enc, dec })
    }
}

#[cfg(feature = "opus")]
impl AudioCodec for OpusCodec {
    fn name(&self) -> &'static str {
        "opus"
    }
    fn clock_rate(&self) -> u32 {
        48_000
    }
    fn granule(&self) -> usize {
        160
    }
    fn bitrate(&self) -> u32 {
        16_000
    }
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, MediaError> {
        self.dec
            .decode(payload, out, false)
            .map_err(|e| MediaError::BadRequest(format!("opus decode: {e}")))
    }
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, MediaError> {
        self.enc
            .encode(pcm, out)
            .map_err(|e| MediaError::BadRequest(format!("opus encode: {e}")))
    }
    fn fits(&self, samples: usize) -> bool {
        // Opus frames of 10, 20, 40 or 60 ms.
        matches!(samples, 80 | 160 | 320 | 480)
    }
}

/// The audio codecs this build can decode and encode (names as in SDP).
pub const SUPPORTED: &[&str] = &[
    "PCMU",
    "PCMA",
    #[cfg(feature = "g729")]
    "G729",
    #[cfg(feature = "gsm")]
    "GSM",
    #[cfg(feature = "opus")]
    "opus",
];

/// An audio codec instance for a negotiated spec, if the engine supports it.
pub fn new_audio_codec(spec: &CodecSpec) -> Option<Box<dyn AudioCodec>> {
    if let Some(law) = spec.g711() {
        return Some(Box::new(G711Codec(law)));
    }
    let name = spec.name.to_ascii_uppercase();
    match (name.as_str(), spec.clock_rate) {
        #[cfg(feature = "g729")]
        ("G729", 8000) if spec.channels == 1 => {
            crate::native::G729::new().map(|c| Box::new(c) as Box<dyn AudioCodec>)
        }
        #[cfg(feature = "gsm")]
        ("GSM", 8000) if spec.channels == 1 => {
            crate::native::Gsm::new().map(|c| Box::new(c) as Box<dyn AudioCodec>)
        }
        #[cfg(feature = "opus")]
        ("OPUS", 48_000) if spec.channels <= 2 => {
            OpusCodec::new().map(|c| Box::new(c) as Box<dyn AudioCodec>)
        }
        _ => None,
    }
}

/// Whether the spec is `telephone-event` (RFC 4733).
pub fn is_telephone_event(spec: &CodecSpec) -> bool {
    spec.name.eq_ignore_ascii_case("telephone-event")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_specs_are_recognised_case_insensitively() {
        assert_eq!(CodecSpec::new("pcmu", 0, 8000).g711(), Some(G711::Ulaw));
        assert_eq!(CodecSpec::new("PCMA", 8, 8000).g711(), Some(G711::Alaw));
        assert_eq!(CodecSpec::new("PCMA", 8, 16000).g711(), None);
        assert!(new_audio_codec(&CodecSpec::new("H264", 96, 90000)).is_none());
        assert!(CodecSpec::new("PCMU", 0, 8000).same_codec(&CodecSpec::new("pcmu", 101, 8000)));
    }

    #[test]
    fn g711_codec_round_trips_pcm() {
        let mut c = new_audio_codec(&CodecSpec::new("PCMA", 8, 8000)).expect("supported");
        let pcm: Vec<i16> = (0..160).map(|i| ((i * 200) - 16000) as i16).collect();
        let mut payload = [0u8; 160];
        assert_eq!(c.encode(&pcm, &mut payload).expect("fits"), 160);
        let mut back = [0i16; 160];
        assert_eq!(c.decode(&payload, &mut back).expect("ok"), 160);
        for (a, b) in pcm.iter().zip(back.iter()) {
            assert!((i32::from(*a) - i32::from(*b)).abs() <= 512, "{a} vs {b}");
        }
    }
}
