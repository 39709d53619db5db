//! G.711 µ-law and A-law (ITU-T G.711), as lookup tables built at compile time.
//!
//! Samples are 16-bit linear PCM. Decoding is one table lookup; encoding follows the segment
//! rules of G.711 directly (a handful of integer operations). Transcoding µ-law ↔ A-law is one
//! table lookup per byte, built as decode-then-encode, so a byte stream can be converted in
//! place on the relay path without going through PCM.

/// The µ-law bias added before segment search (0x84 = 132).
const ULAW_BIAS: i32 = 0x84;
/// The largest magnitude µ-law can represent before clipping (on the 16-bit scale).
const ULAW_CLIP: i32 = 32635;

const fn ulaw_decode_one(byte: u8) -> i16 {
    let u = !byte;
    let mantissa = (u & 0x0F) as i32;
    let exponent = ((u & 0x70) >> 4) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_one(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mantissa = ((a & 0x0F) as i32) << 4;
    let segment = ((a & 0x70) >> 4) as i32;
    let magnitude = match segment {
        0 => mantissa + 8,
        1 => mantissa + 0x108,
        s => (mantissa + 0x108) << (s - 1),
    };
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// Encode one 16-bit linear sample as µ-law.
pub const fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = sample as i32;
    let sign: u8 = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    if pcm > ULAW_CLIP {
        pcm = ULAW_CLIP;
    }
    pcm += ULAW_BIAS;
    // The exponent is the position of the highest set bit above bit 7 (0..=7).
    let mut exponent = 7u8;
    let mut mask = 0x4000;
    while exponent > 0 && pcm & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = ((pcm >> (exponent as i32 + 3)) & 0x0F) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Encode one 16-bit linear sample as A-law.
pub const fn linear_to_alaw(sample: i16) -> u8 {
    // A-law works on 13 bits.
    let mut pcm = (sample as i32) >> 3;
    let mask: u8 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    // Segment end points on the 13-bit scale.
    let mut segment = 0u8;
    let mut end = 0x1F;
    while segment < 8 && pcm > end {
        segment += 1;
        end = (end << 1) | 1;
    }
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let shift = if segment < 2 { 1 } else { segment as i32 };
    let value = (segment << 4) | ((pcm >> shift) & 0x0F) as u8;
    value ^ mask
}

const fn build_ulaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_one(i as u8);
        i += 1;
    }
    t
}

const fn build_alaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_one(i as u8);
        i += 1;
    }
    t
}

const fn build_ulaw_to_alaw() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = linear_to_alaw(ulaw_decode_one(i as u8));
        i += 1;
    }
    t
}

const fn build_alaw_to_ulaw() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = linear_to_ulaw(alaw_decode_one(i as u8));
        i += 1;
    }
    t
}

/// µ-law byte → 16-bit linear.
pub static ULAW_TO_LINEAR: [i16; 256] = build_ulaw_decode();
/// A-law byte → 16-bit linear.
pub static ALAW_TO_LINEAR: [i16; 256] = build_alaw_decode();
/// µ-law byte → A-law byte (decode then encode).
pub static ULAW_TO_ALAW: [u8; 256] = build_ulaw_to_alaw();
/// A-law byte → µ-law byte (decode then encode).
pub static ALAW_TO_ULAW: [u8; 256] = build_alaw_to_ulaw();

/// The µ-law byte for digital silence.
pub const ULAW_SILENCE: u8 = 0xFF;
/// The A-law byte for digital silence.
pub const ALAW_SILENCE: u8 = 0xD5;

/// Decode µ-law bytes into `out` (which must be at least as long as `input`).
pub fn decode_ulaw(input: &[u8], out: &mut [i16]) {
    for (o, &b) in out.iter_mut().zip(input) {
        *o = ULAW_TO_LINEAR[b as usize];
    }
}

/// Decode A-law bytes into `out` (which must be at least as long as `input`).
pub fn decode_alaw(input: &[u8], out: &mut [i16]) {
    for (o, &b) in out.iter_mut().zip(input) {
        *o = ALAW_TO_LINEAR[b as usize];
    }
}

/// Encode samples as µ-law into `out` (which must be at least as long as `input`).
pub fn encode_ulaw(input: &[i16], out: &mut [u8]) {
    for (o, &s) in out.iter_mut().zip(input) {
        *o = linear_to_ulaw(s);
    }
}

/// Encode samples as A-law into `out` (which must be at least as long as `input`).
pub fn encode_alaw(input: &[i16], out: &mut [u8]) {
    for (o, &s) in out.iter_mut().zip(input) {
        *o = linear_to_alaw(s);
    }
}

/// Convert a µ-law payload to A-law in place.
pub fn ulaw_to_alaw_in_place(payload: &mut [u8]) {
    for b in payload {
        *b = ULAW_TO_ALAW[*b as usize];
    }
}

/// Convert an A-law payload to µ-law in place.
pub fn alaw_to_ulaw_in_place(payload: &mut [u8]) {
    for b in payload {
        *b = ALAW_TO_ULAW[*b as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference points from the G.711 tables (Tables 2a/2b), on the 16-bit scale: µ-law
    // decoder outputs are the 14-bit table values ×4 (±8031 → ±32124), A-law ones the 13-bit
    // values ×8 (±4032 → ±32256).
    #[test]
    fn ulaw_decodes_to_g711_reference_values() {
        assert_eq!(ULAW_TO_LINEAR[0xFF], 0);
        assert_eq!(ULAW_TO_LINEAR[0x7F], 0);
        assert_eq!(ULAW_TO_LINEAR[0x80], 32124);
        assert_eq!(ULAW_TO_LINEAR[0x00], -32124);
        assert_eq!(ULAW_TO_LINEAR[0xFE], 8);
        assert_eq!(ULAW_TO_LINEAR[0x7E], -8);
        assert_eq!(ULAW_TO_LINEAR[0xF0], 120);
        assert_eq!(ULAW_TO_LINEAR[0xEF], 132);
        assert_eq!(ULAW_TO_LINEAR[0x8F], 16764);
        assert_eq!(ULAW_TO_LINEAR[0x0F], -16764);
        assert_eq!(ULAW_TO_LINEAR[0x90], 15996);
    }

    #[test]
    fn alaw_decodes_to_g711_reference_values() {
        assert_eq!(ALAW_TO_LINEAR[0xD5], 8);
        assert_eq!(ALAW_TO_LINEAR[0x55], -8);
        assert_eq!(ALAW_TO_LINEAR[0xAA], 32256);
        assert_eq!(ALAW_TO_LINEAR[0x2A], -32256);
        assert_eq!(ALAW_TO_LINEAR[0xD4], 24);
        assert_eq!(ALAW_TO_LINEAR[0xC5], 264);
        assert_eq!(ALAW_TO_LINEAR[0xF5], 528);
    }

    #[test]
    fn encoders_map_reference_inputs_to_g711_codes() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
        assert_eq!(linear_to_ulaw(16764), 0x8F);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(32767), 0xAA);
        assert_eq!(linear_to_alaw(-32768), 0x2A);
        assert_eq!(linear_to_alaw(264), 0xC5);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            let u = ULAW_TO_LINEAR[code as usize];
            // 0x7F is µ-law's "negative zero": it re-encodes as positive zero.
            let expect = if code == 0x7F { 0xFF } else { code };
            assert_eq!(linear_to_ulaw(u), expect, "µ-law {code:#04x}");
            assert_eq!(
                linear_to_alaw(ALAW_TO_LINEAR[code as usize]),
                code,
                "A-law {code:#04x}"
            );
        }
    }

    #[test]
    fn decoding_is_monotonic_in_magnitude_within_each_sign() {
        // Positive µ-law codes 0xFF down to 0x80 grow in value.
        let pos: Vec<i16> = (0x80..=0xFFu8)
            .rev()
            .map(|c| ULAW_TO_LINEAR[c as usize])
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
        let mut alaw_pos: Vec<i16> = (0x80..=0xFFu8)
            .map(|c| ALAW_TO_LINEAR[c as usize])
            .collect();
        alaw_pos.sort_unstable();
        alaw_pos.dedup();
        assert_eq!(alaw_pos.len(), 128);
    }

    #[test]
    fn quantisation_error_stays_within_half_a_step() {
        for s in (-32000i32..32000).step_by(7) {
            let s = s as i16;
            let u = ULAW_TO_LINEAR[linear_to_ulaw(s) as usize] as i32;
            let a = ALAW_TO_LINEAR[linear_to_alaw(s) as usize] as i32;
            let mag = (s as i32).abs();
            // The step size of either law is at most 1/16 of the magnitude (plus the smallest
            // step near zero).
            assert!((u - s as i32).abs() <= mag / 16 + 8, "µ-law {s} -> {u}");
            assert!((a - s as i32).abs() <= mag / 16 + 16, "A-law {s} -> {a}");
        }
    }

    #[test]
    fn transcoding_tables_agree_with_decode_and_encode() {
        for code in 0..=255u8 {
            let via_pcm = linear_to_alaw(ULAW_TO_LINEAR[code as usize]);
            assert_eq!(ULAW_TO_ALAW[code as usize], via_pcm);
            let back = ALAW_TO_ULAW[ULAW_TO_ALAW[code as usize] as usize];
            let err =
                (ULAW_TO_LINEAR[back as usize] as i32 - ULAW_TO_LINEAR[code as usize] as i32).abs();
            let mag = (ULAW_TO_LINEAR[code as usize] as i32).abs();
            assert!(
                err <= mag / 8 + 16,
                "code {code:#04x}: round trip error {err}"
            );
        }
        let mut buf = [ULAW_SILENCE; 4];
        ulaw_to_alaw_in_place(&mut buf);
        assert_eq!(buf, [ALAW_SILENCE; 4]);
        // A-law has no zero: its quietest code is ±8, which µ-law represents exactly.
        alaw_to_ulaw_in_place(&mut buf);
        assert_eq!(buf, [0xFE; 4]);
    }
}
