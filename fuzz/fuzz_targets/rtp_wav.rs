//! Prompt WAV parsing (and resampling to 8 kHz) and recording header repair on arbitrary
//! bytes: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(wav) = media::wav::parse_wav(data) {
        if wav.samples.len() < 100_000 {
            let _ = media::wav::to_8k(&wav.samples, wav.sample_rate);
        }
    }
    let mut file = std::io::Cursor::new(data.to_vec());
    let _ = media::wav::repair(&mut file);
});
