//! The Goertzel DTMF detector on synthesised digits (levels, twists, noise, G.711 round trip)
//! and on signals that must not pass as digits (pure tones, call-progress tones, speech, noise).

use rtp::dtmf::{COLS, DtmfDetector, ROWS};
use rtp::g711;

/// Peak amplitude of a 0 dBm0 sine on the 16-bit G.711 scale (+3.17 dBm0 is full scale).
const DBM0_PEAK: f64 = 32124.0 / 1.4401;
const RATE: f64 = 8000.0;

fn amplitude(dbm0: f64) -> f64 {
    DBM0_PEAK * 10f64.powf(dbm0 / 20.0)
}

/// A small deterministic noise source (xorshift), uniform in [-1, 1].
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

fn freqs(digit: char) -> (f64, f64) {
    let keys = ["123A", "456B", "789C", "*0#D"];
    for (r, row) in keys.iter().enumerate() {
        if let Some(c) = row.find(digit) {
            return (f64::from(ROWS[r]), f64::from(COLS[c]));
        }
    }
    panic!("not a DTMF digit: {digit}")
}

/// Append `ms` of a digit: row tone at `level` dBm0, column tone `twist_db` louder than it
/// (negative: the row is louder).
fn push_digit(out: &mut Vec<f64>, digit: char, level: f64, twist_db: f64, ms: usize) {
    let (fr, fc) = freqs(digit);
    let (ar, ac) = (amplitude(level), amplitude(level + twist_db));
    let start = out.len();
    for n in 0..ms * 8 {
        let t = (start + n) as f64 / RATE;
        out.push(
            ar * (2.0 * std::f64::consts::PI * fr * t).sin()
                + ac * (2.0 * std::f64::consts::PI * fc * t).sin(),
        );
    }
}

fn push_silence(out: &mut Vec<f64>, ms: usize) {
    out.extend(std::iter::repeat_n(0.0, ms * 8));
}

/// Through µ-law (as the audio arrives on a leg), in 20 ms frames, into the detector.
fn detect(signal: &[f64]) -> Vec<(char, u128)> {
    let mut det = DtmfDetector::new();
    let mut digits = Vec::new();
    let pcm: Vec<i16> = signal
        .iter()
        .map(|&x| {
            g711::ULAW_TO_LINEAR[g711::linear_to_ulaw(x.clamp(-32768.0, 32767.0) as i16) as usize]
        })
        .collect();
    for frame in pcm.chunks(160) {
        det.process(frame, |d| digits.push((d.digit, d.duration.as_millis())));
    }
    // Flush: a digit at the very end needs two blocks without it.
    det.process(&[0; 410], |d| {
        digits.push((d.digit, d.duration.as_millis()))
    });
    digits
}

fn chars(digits: &[(char, u128)]) -> String {
    digits.iter().map(|d| d.0).collect()
}

#[test]
fn detects_all_sixteen_digits() {
    let mut s = Vec::new();
    for d in "0123456789*#ABCD".chars() {
        push_digit(&mut s, d, -10.0, 0.0, 100);
        push_silence(&mut s, 100);
    }
    assert_eq!(chars(&detect(&s)), "0123456789*#ABCD");
}

#[test]
fn reports_duration_close_to_the_tone_length() {
    let mut s = Vec::new();
    push_silence(&mut s, 30);
    push_digit(&mut s, '5', -10.0, 0.0, 300);
    push_silence(&mut s, 100);
    let got = detect(&s);
    assert_eq!(chars(&got), "5");
    let ms = got[0].1;
    assert!((250..=330).contains(&ms), "duration {ms} ms");
}

#[test]
fn detects_digits_at_levels_from_minus_3_to_minus_25_dbm0() {
    for level in [-3.0, -10.0, -18.0, -25.0] {
        let mut s = Vec::new();
        for d in "159#".chars() {
            push_digit(&mut s, d, level, 0.0, 100);
            push_silence(&mut s, 100);
        }
        assert_eq!(chars(&detect(&s)), "159#", "level {level} dBm0");
    }
}

#[test]
fn ignores_digits_below_the_minimum_level() {
    let mut s = Vec::new();
    push_digit(&mut s, '1', -40.0, 0.0, 200);
    assert_eq!(detect(&s), vec![]);
}

#[test]
fn accepts_twists_within_limits_and_rejects_larger_ones() {
    for twist in [-6.0, -3.0, 3.0, 4.0] {
        let mut s = Vec::new();
        for d in "2580".chars() {
            push_digit(&mut s, d, -12.0, twist, 100);
            push_silence(&mut s, 100);
        }
        assert_eq!(chars(&detect(&s)), "2580", "twist {twist} dB");
    }
    for twist in [-12.0, 10.0] {
        let mut s = Vec::new();
        push_digit(&mut s, '8', -10.0, twist, 200);
        assert_eq!(detect(&s), vec![], "twist {twist} dB must be rejected");
    }
}

#[test]
fn detects_digits_in_noise_at_20_db_snr() {
    let mut s = Vec::new();
    for d in "3690".chars() {
        push_digit(&mut s, d, -12.0, 0.0, 120);
        push_silence(&mut s, 100);
    }
    // Each tone at -12 dBm0 has mean power A²/2; uniform noise of peak P has P²/3.
    let tone_power = amplitude(-12.0).powi(2); // both tones
    let noise_peak = (tone_power / 100.0 * 3.0).sqrt();
    let mut n = Noise(0x1234_5678);
    for x in &mut s {
        *x += noise_peak * n.next();
    }
    assert_eq!(chars(&detect(&s)), "3690");
}

#[test]
fn a_blip_shorter_than_40_ms_is_not_a_digit() {
    let mut s = Vec::new();
    push_silence(&mut s, 40);
    push_digit(&mut s, '7', -10.0, 0.0, 20);
    push_silence(&mut s, 200);
    assert_eq!(detect(&s), vec![]);
}

#[test]
fn pure_tones_are_not_digits() {
    for f in (300..=3400).step_by(25) {
        let mut s = Vec::new();
        for n in 0..8000 {
            s.push(
                amplitude(-6.0) * (2.0 * std::f64::consts::PI * f as f64 * n as f64 / RATE).sin(),
            );
        }
        assert_eq!(detect(&s), vec![], "{f} Hz");
    }
}

#[test]
fn call_progress_tones_are_not_digits() {
    // dial 350+440, ringback 440+480, busy 480+620, and a 1 kHz + 1.4 kHz pair.
    for (a, b) in [
        (350.0, 440.0),
        (440.0, 480.0),
        (480.0, 620.0),
        (1000.0, 1400.0),
    ] {
        let mut s = Vec::new();
        for n in 0..16000 {
            let t = n as f64 / RATE;
            s.push(
                amplitude(-10.0)
                    * ((2.0 * std::f64::consts::PI * a * t).sin()
                        + (2.0 * std::f64::consts::PI * b * t).sin()),
            );
        }
        assert_eq!(detect(&s), vec![], "{a}+{b} Hz");
    }
}

#[test]
fn white_noise_is_not_a_digit() {
    for level in [1000.0, 5000.0, 20000.0] {
        let mut n = Noise(42);
        let s: Vec<f64> = (0..80_000).map(|_| level * n.next()).collect();
        assert_eq!(detect(&s), vec![], "noise peak {level}");
    }
}

#[test]
fn synthetic_vowels_are_not_digits() {
    // Harmonic series with falling amplitude and a gliding pitch (80–300 Hz), like voiced
    // speech.
    let mut s = Vec::new();
    for f0 in (80..=300).step_by(7) {
        for n in 0..1600 {
            let t = n as f64 / RATE;
            let mut x = 0.0;
            let mut h = 1;
            while f0 as f64 * h as f64 * 2.0 < RATE {
                x += (2.0 * std::f64::consts::PI * f0 as f64 * h as f64 * t).sin() / h as f64;
                h += 1;
            }
            s.push(x * 4000.0);
        }
    }
    assert_eq!(detect(&s), vec![]);
}

/// Reads the PCM samples of a 16-bit mono WAV (the test vector is a plain 44-byte-header file).
fn wav_samples(bytes: &[u8]) -> Vec<i16> {
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .expect("data chunk")
        + 8;
    bytes[data..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn recorded_speech_is_not_a_digit() {
    // espeak-ng speech at 8 kHz (the peers' speech8k.wav), at its own level and 6 dB louder.
    let samples = wav_samples(include_bytes!("data/speech8k.wav"));
    assert!(samples.len() > 8000 * 5);
    for gain in [1.0, 2.0] {
        let s: Vec<f64> = samples.iter().map(|&x| x as f64 * gain).collect();
        assert_eq!(detect(&s), vec![], "gain {gain}");
    }
}

#[test]
fn digits_after_speech_are_still_found() {
    let samples = wav_samples(include_bytes!("data/speech8k.wav"));
    let mut s: Vec<f64> = samples[..8000 * 3].iter().map(|&x| x as f64).collect();
    push_silence(&mut s, 50);
    for d in "42".chars() {
        push_digit(&mut s, d, -10.0, 0.0, 100);
        push_silence(&mut s, 100);
    }
    assert_eq!(chars(&detect(&s)), "42");
}
