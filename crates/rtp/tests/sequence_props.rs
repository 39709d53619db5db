//! Property tests of the call sequence: gapless output, one SSRC, timestamps that follow the
//! wall clock across any number of source switches, over the 16-bit sequence and 32-bit
//! timestamp wraps.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rtp::{CallSequence, SourceId};

const PTIME: Duration = Duration::from_millis(20);

/// A source that runs on its own clock: at tick `k` its packet is `base_seq + k`,
/// `base_ts + 160 k`, whether or not the leg is listening to it.
#[derive(Debug, Clone, Copy)]
struct Source {
    base_seq: u16,
    base_ts: u32,
}

fn edge_u16() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), Just(65535), 65500u16..=65535, any::<u16>()]
}

fn edge_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(u32::MAX),
        (u32::MAX - 20_000)..=u32::MAX,
        any::<u32>()
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn output_is_one_gapless_stream_across_switches(
        first_seq in edge_u16(),
        first_ts in edge_u32(),
        ssrc in any::<u32>(),
        sources in prop::collection::vec((edge_u16(), edge_u32()), 2..5),
        // (which source, packets fed, idle ticks before the segment); a segment of the same
        // source as the one before models that source losing packets during the idle ticks.
        segments in prop::collection::vec((0usize..4, 1u32..60, 0u32..10), 5..20),
    ) {
        let sources: Vec<Source> = sources.iter().map(|&(s, t)| Source { base_seq: s, base_ts: t }).collect();
        let t0 = Instant::now();
        let mut cs = CallSequence::new(ssrc, first_seq, first_ts, 8000, 160);
        let mut tick: u32 = 0;
        let mut last: Option<(u16, u32, u32)> = None; // (seq, ts, tick)
        let mut current: Option<usize> = None;
        for &(which, count, idle) in &segments {
            let which = which % sources.len();
            tick += idle;
            for k in 0..count {
                let src = sources[which];
                let now = t0 + PTIME * tick;
                let r = cs.rewrite(
                    now,
                    SourceId(which as u64),
                    src.base_seq.wrapping_add(tick as u16),
                    src.base_ts.wrapping_add(160 * tick),
                    false,
                    160,
                ).expect("in-order packets are never dropped");
                prop_assert_eq!(r.ssrc, ssrc);
                let switched = current != Some(which) && k == 0;
                prop_assert_eq!(r.marker, switched || last.is_none());
                match last {
                    None => {
                        prop_assert_eq!(r.sequence, first_seq);
                        prop_assert_eq!(r.timestamp, first_ts);
                    }
                    Some((s, ts, at)) => {
                        // Across a switch the sequence continues; within one source, ticks
                        // it was not fed are its own loss and pass through as a gap.
                        let step = if switched { 1 } else { (tick - at) as u16 };
                        prop_assert_eq!(r.sequence, s.wrapping_add(step), "sequence gap");
                        // Timestamps advance exactly with the wall clock (160 per 20 ms).
                        prop_assert_eq!(r.timestamp.wrapping_sub(ts), 160 * (tick - at));
                    }
                }
                last = Some((r.sequence, r.timestamp, tick));
                current = Some(which);
                tick += 1;
            }
        }
    }

    #[test]
    fn source_loss_passes_through_and_switches_stay_contiguous(
        first_seq in edge_u16(),
        first_ts in edge_u32(),
        lost in prop::collection::btree_set(1u16..200, 0..20),
        in_seq in edge_u16(),
    ) {
        let t0 = Instant::now();
        let mut cs = CallSequence::new(1, first_seq, first_ts, 8000, 160);
        let mut out = Vec::new();
        for k in 0u16..200 {
            if lost.contains(&k) {
                continue;
            }
            let now = t0 + PTIME * u32::from(k);
            let r = cs.rewrite(now, SourceId(1), in_seq.wrapping_add(k), 160 * u32::from(k), false, 160)
                .expect("sent");
            out.push((k, r));
        }
        for (k, r) in &out {
            prop_assert_eq!(r.sequence, first_seq.wrapping_add(*k));
            prop_assert_eq!(r.timestamp, first_ts.wrapping_add(160 * u32::from(*k)));
        }
        // A switch after the loss continues right after the newest packet sent.
        let r = cs.rewrite(t0 + PTIME * 200, SourceId(2), 7, 7, false, 160).expect("sent");
        let newest = out.last().map_or(0, |(k, _)| *k);
        prop_assert_eq!(r.sequence, first_seq.wrapping_add(newest + 1));
        prop_assert_eq!(r.timestamp, first_ts.wrapping_add(160 * 200));
    }

    #[test]
    fn sender_info_matches_the_last_packet_plus_elapsed_time(
        first_ts in edge_u32(),
        n in 1u32..100,
        extra_ms in 0u64..10_000,
    ) {
        let t0 = Instant::now();
        let mut cs = CallSequence::new(9, 0, first_ts, 8000, 160);
        for k in 0..n {
            cs.rewrite(t0 + PTIME * k, SourceId(k as u64 % 3), k as u16, 0, false, 100);
        }
        let at = t0 + PTIME * (n - 1) + Duration::from_millis(extra_ms);
        let info = cs.sender_info(at).expect("sent");
        prop_assert_eq!(info.packet_count, n);
        prop_assert_eq!(info.octet_count, 100 * n);
        let expected = first_ts.wrapping_add(160 * (n - 1)).wrapping_add((extra_ms * 8) as u32);
        prop_assert_eq!(info.rtp_timestamp, expected);
    }
}
