//! Compound RTCP parsing on arbitrary bytes: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(summary) = rtp::rtcp::parse(data) {
        if let Some(r) = summary.report {
            let _ = r.fraction_lost;
        }
    }
});
