//! RTP header parsing, in-place rewriting through a call sequence, RFC 4733 payloads and RTCP
//! on arbitrary bytes: nothing may panic.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rtp::packet::{HeaderRewrite, rewrite};
use rtp::{CallSequence, RtpHeader, SourceId, TelephoneEvent};

fuzz_target!(|data: &[u8]| {
    let _ = rtp::rtcp::parse(data);
    let Ok(h) = RtpHeader::parse(data) else { return };
    let payload = &data[h.payload_range()];
    let _ = TelephoneEvent::parse(payload);
    let mut cs = CallSequence::new(1, 2, 3, 8000, 160);
    let t0 = Instant::now();
    for (k, chunk) in data.chunks(2).enumerate() {
        let seq = h.sequence.wrapping_add(u16::from(chunk[0]));
        let now = t0 + Duration::from_millis(k as u64 * 7);
        let src = SourceId(u64::from(chunk.get(1).copied().unwrap_or(0) % 3));
        if let Some(r) = cs.rewrite(now, src, seq, h.timestamp, h.marker, payload.len()) {
            let mut buf = data.to_vec();
            let rw = HeaderRewrite { marker: r.marker, payload_type: h.payload_type, sequence: r.sequence, timestamp: r.timestamp, ssrc: r.ssrc };
            rewrite(&mut buf, &rw).expect("parsed packets are at least 12 bytes");
            assert_eq!(RtpHeader::parse(&buf).map(|x| x.sequence), Ok(r.sequence));
        }
        let _ = cs.sender_info(now);
    }
});
