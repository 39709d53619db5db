//! The media engine fed arbitrary datagrams on routed, recorded, DTMF-detecting legs (RTP and
//! RTCP ports; G.711, G.729, GSM and Opus payloads), with ticks in between: nothing may panic.
//!
//! Input: a sequence of `[selector, len, bytes...]` records.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use media::*;

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut e = Engine::new(1, EngineConfig::default());
    let s = SessionId(1);
    let mut a_cfg = LegConfig::audio(None, vec![CodecSpec::new("PCMU", 0, 8000), CodecSpec::new("PCMA", 8, 8000)]);
    a_cfg.telephone_event_pt = Some(101);
    let Ok(a) = e.add_leg(t0, LegId(1), s, a_cfg) else { return };
    let Ok(b) = e.add_leg(t0, LegId(2), s, LegConfig::audio(None, vec![CodecSpec::new("PCMA", 8, 8000)])) else { return };
    let other = |name: &str, pt: u8, clock: u32, channels: u8| CodecSpec { name: name.into(), payload_type: pt, clock_rate: clock, channels, fmtp: None };
    let c_codecs = vec![
        CodecSpec::new("PCMU", 0, 8000),
        other("G729", 18, 8000, 1),
        other("GSM", 3, 8000, 1),
        other("opus", 111, 48_000, 2),
    ];
    let Ok(c) = e.add_leg(t0, LegId(3), s, LegConfig::audio(None, c_codecs)) else { return };
    let _ = e.route(t0, RouteId(1), s, LegId(1), LegId(2));
    let _ = e.start_recording(t0, RecordingId(1), s, RecordSource::Stereo(LegId(1), LegId(3)));
    let mut rest = data;
    let mut k = 0u64;
    let mut buf = vec![0u8; 2048];
    while rest.len() >= 2 {
        let (sel, len) = (rest[0], usize::from(rest[1]));
        let body = &rest[2..(2 + len).min(rest.len())];
        rest = &rest[(2 + len).min(rest.len())..];
        k += 1;
        let now = t0 + Duration::from_millis(k * 7);
        let slot = [a, b, c][usize::from(sel % 3)];
        let from = SocketAddr::from(([127, 0, 0, 1], 4000 + u16::from(sel >> 6)));
        buf[..body.len()].copy_from_slice(body);
        if sel & 0x20 == 0 {
            let _ = e.handle_rtp(now, slot, from, &mut buf, body.len());
        } else {
            e.handle_rtcp(now, slot, from, body);
        }
        if sel & 0x10 != 0 {
            e.tick(now, Duration::from_secs(1_700_000_000));
        }
        while e.poll_transmit(&mut buf).is_some() {}
        while e.poll_event().is_some() {}
        while e.poll_record().is_some() {}
    }
});
