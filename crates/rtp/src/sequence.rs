//! The call sequence: the egress rewriter every RTP packet toward one endpoint goes through.
//!
//! Whatever feeds a leg — a relayed leg, a prompt, a tone, a mixer, silence — the endpoint
//! sees **one** RTP stream for the life of the leg:
//!
//! - one SSRC;
//! - consecutive sequence numbers across every change of source;
//! - timestamps that keep advancing with wall-clock time: on each change of source the new
//!   source's timestamps are rebased so that its first packet carries the previous packet's
//!   timestamp plus the wall-clock time elapsed since it (at least `min_step`), in the leg's
//!   clock rate;
//! - the marker bit on the first packet after each change.
//!
//! A *segment* is the run of packets from one source. Within a segment the mapping is a pure
//! offset (`out = in + offset` for both sequence number and timestamp), decided at the
//! segment's first packet. That choice fixes what happens to a source's own irregularities:
//!
//! - **Gaps** in a relayed source (packets it lost upstream) pass through as gaps of the same
//!   size: the endpoint's jitter buffer must know that audio is missing, and its timestamps
//!   still agree with the sequence numbers. (The handler never invents gaps of its own.)
//! - **Reordering** within a segment passes through: a packet older than the newest one is
//!   sent at once with its mapped numbers, so the endpoint's jitter buffer can put it back in
//!   place. It does not move the segment's "newest" point.
//! - **Duplicates** pass through (the endpoint discards them).
//! - **Late packets of an older source** — a packet of the previous segment's source that is
//!   not newer than the newest one seen from it — are dropped and counted
//!   ([`SequenceStats::late_dropped`]): their numbers would fall inside or before the current
//!   segment. So are packets of the current source older than the segment's first packet.
//! - **Restarts**: a jump in one source of more than [`MAX_DROPOUT`] forward or
//!   [`MAX_MISORDER`] backward is treated as a new segment (like a change of source).
//!
//! The struct is sans-IO: time comes in as `now`, and nothing here reads a clock. RTCP sender
//! reports take their figures from [`CallSequence::sender_info`], so they describe the
//! rewritten stream: packet and octet counts of what was sent, and the RTP timestamp that
//! corresponds to "now" on the same timeline.

use std::time::{Duration, Instant};

/// A forward jump in one source larger than this (in packets) is a restart, not loss.
pub const MAX_DROPOUT: u16 = 3000;
/// A backward jump in one source larger than this (in packets) is a restart, not reordering.
pub const MAX_MISORDER: u16 = 100;

/// Identifies what feeds the leg. The caller chooses the values; two packets with the same
/// id belong to the same stream (e.g. "leg 7, inbound SSRC x" or "player 3").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceId(pub u64);

/// The header fields the call sequence chose for one outgoing packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// SSRC (always the leg's).
    pub ssrc: u32,
    /// Marker bit: the source's, or set on the first packet after a change.
    pub marker: bool,
}

/// What an RTCP sender report should say about the rewritten stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// The stream's SSRC.
    pub ssrc: u32,
    /// The RTP timestamp that corresponds to `now`.
    pub rtp_timestamp: u32,
    /// Packets sent so far (wrapping, as RFC 3550 says).
    pub packet_count: u32,
    /// Payload octets sent so far (wrapping).
    pub octet_count: u32,
}

/// Counters of the call sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SequenceStats {
    /// Packets sent.
    pub packets: u64,
    /// Payload octets sent.
    pub octets: u64,
    /// Changes of source (and restarts) that started a new segment.
    pub segments: u64,
    /// Late packets of an older source, dropped.
    pub late_dropped: u64,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    source: SourceId,
    seq_offset: u16,
    ts_offset: u32,
    first_seq: u16,
    highest_seq: u16,
}

/// The egress rewriter of one outbound leg (see the module documentation).
#[derive(Debug, Clone)]
pub struct CallSequence {
    ssrc: u32,
    clock_rate: u32,
    min_step: u32,
    next_seq: u16,
    last_ts: u32,
    last_at: Option<Instant>,
    segment: Option<Segment>,
    previous: Option<(SourceId, u16)>,
    stats: SequenceStats,
}

impl CallSequence {
    /// A call sequence with the leg's SSRC, first sequence number and first timestamp (all
    /// three random, from the engine's seeded RNG), clock rate in Hz, and the smallest
    /// timestamp step across a change of source (one packet time, e.g. 160 at 8 kHz / 20 ms).
    pub fn new(ssrc: u32, first_seq: u16, first_ts: u32, clock_rate: u32, min_step: u32) -> Self {
        CallSequence {
            ssrc,
            clock_rate: clock_rate.max(1),
            min_step,
            next_seq: first_seq,
            last_ts: first_ts,
            last_at: None,
            segment: None,
            previous: None,
            stats: SequenceStats::default(),
        }
    }

    /// The leg's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The clock rate.
    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// The sequence number the next packet of a new segment will get.
    pub fn next_sequence(&self) -> u16 {
        self.next_seq
    }

    /// Counters.
    pub fn stats(&self) -> SequenceStats {
        self.stats
    }

    /// Change the smallest step across a change of source (after a ptime change).
    pub fn set_min_step(&mut self, min_step: u32) {
        self.min_step = min_step;
    }

    /// Wall-clock time in RTP units (wrapping).
    fn units(&self, d: Duration) -> u32 {
        (d.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32
    }

    /// The timestamp the stream is at `now`: the last sent one plus the elapsed time.
    fn timestamp_at(&self, now: Instant) -> u32 {
        match self.last_at {
            Some(at) => self
                .last_ts
                .wrapping_add(self.units(now.saturating_duration_since(at))),
            None => self.last_ts,
        }
    }

    /// Forget the current source: the next packet, whatever its source, starts a new segment
    /// (with the marker bit). Used when the leg's output is switched to something else.
    pub fn end_segment(&mut self) {
        if let Some(seg) = self.segment.take() {
            self.previous = Some((seg.source, seg.highest_seq));
        }
    }

    fn start_segment(&mut self, now: Instant, source: SourceId, seq: u16, ts: u32) {
        let out_ts = match self.last_at {
            Some(at) => {
                let elapsed = self.units(now.saturating_duration_since(at));
                self.last_ts.wrapping_add(elapsed.max(self.min_step))
            }
            None => self.last_ts,
        };
        if let Some(seg) = self.segment
            && seg.source != source
        {
            self.previous = Some((seg.source, seg.highest_seq));
        }
        self.segment = Some(Segment {
            source,
            seq_offset: self.next_seq.wrapping_sub(seq),
            ts_offset: out_ts.wrapping_sub(ts),
            first_seq: seq,
            highest_seq: seq,
        });
        self.stats.segments += 1;
    }

    /// Rewrite one packet from `source` with its own sequence number, timestamp and marker,
    /// carrying `payload_len` payload octets. `None`: drop it (a late packet of an older
    /// source, counted).
    pub fn rewrite(
        &mut self,
        now: Instant,
        source: SourceId,
        seq: u16,
        ts: u32,
        marker: bool,
        payload_len: usize,
    ) -> Option<Rewritten> {
        let mut newest = true;
        let mut first = false;
        match self.segment {
            Some(seg) if seg.source == source => {
                let ahead = seq.wrapping_sub(seg.highest_seq);
                if ahead == 0 {
                    newest = false; // a duplicate: same numbers again
                } else if ahead < 0x8000 {
                    if ahead > MAX_DROPOUT {
                        self.start_segment(now, source, seq, ts);
                        first = true;
                    }
                } else {
                    let behind = seg.highest_seq.wrapping_sub(seq);
                    let before_start = seq.wrapping_sub(seg.first_seq) >= 0x8000;
                    if behind > MAX_MISORDER {
                        self.start_segment(now, source, seq, ts);
                        first = true;
                    } else if before_start {
                        self.stats.late_dropped += 1;
                        return None;
                    } else {
                        newest = false;
                    }
                }
            }
            _ => {
                if let Some((prev, highest)) = self.previous {
                    let ahead = seq.wrapping_sub(highest);
                    let behind = highest.wrapping_sub(seq);
                    if prev == source && (ahead == 0 || (ahead >= 0x8000 && behind <= MAX_MISORDER))
                    {
                        self.stats.late_dropped += 1;
                        return None;
                    }
                }
                self.start_segment(now, source, seq, ts);
                first = true;
            }
        }
        // Invariant: every branch above that did not return leaves a segment in place.
        let seg = self.segment.as_mut()?;
        let out_seq = seq.wrapping_add(seg.seq_offset);
        let out_ts = ts.wrapping_add(seg.ts_offset);
        if newest {
            seg.highest_seq = seq;
            self.next_seq = out_seq.wrapping_add(1);
            self.last_ts = out_ts;
            self.last_at = Some(now);
        }
        self.stats.packets += 1;
        self.stats.octets += payload_len as u64;
        Some(Rewritten {
            sequence: out_seq,
            timestamp: out_ts,
            ssrc: self.ssrc,
            marker: marker || first,
        })
    }

    /// The figures for an RTCP sender report at `now`, or `None` before the first packet.
    pub fn sender_info(&self, now: Instant) -> Option<SenderInfo> {
        self.last_at?;
        Some(SenderInfo {
            ssrc: self.ssrc,
            rtp_timestamp: self.timestamp_at(now),
            packet_count: self.stats.packets as u32,
            octet_count: self.stats.octets as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS20: Duration = Duration::from_millis(20);

    fn seq() -> CallSequence {
        CallSequence::new(0xABCD, 100, 10_000, 8000, 160)
    }

    #[test]
    fn first_source_is_rebased_onto_the_leg_numbers_with_marker() {
        let t0 = Instant::now();
        let mut cs = seq();
        let r = cs
            .rewrite(t0, SourceId(1), 5000, 77, false, 160)
            .expect("sent");
        assert_eq!(
            r,
            Rewritten {
                sequence: 100,
                timestamp: 10_000,
                ssrc: 0xABCD,
                marker: true
            }
        );
        let r = cs
            .rewrite(t0 + MS20, SourceId(1), 5001, 237, false, 160)
            .expect("sent");
        assert_eq!(
            r,
            Rewritten {
                sequence: 101,
                timestamp: 10_160,
                ssrc: 0xABCD,
                marker: false
            }
        );
    }

    #[test]
    fn switch_keeps_sequence_and_advances_timestamp_by_wall_clock() {
        let t0 = Instant::now();
        let mut cs = seq();
        cs.rewrite(t0, SourceId(1), 1, 1000, false, 160);
        // 70 ms later another source starts with unrelated numbers.
        let r = cs
            .rewrite(
                t0 + Duration::from_millis(70),
                SourceId(2),
                40_000,
                9,
                false,
                160,
            )
            .expect("sent");
        assert_eq!(r.sequence, 101);
        assert_eq!(r.timestamp, 10_000 + 560);
        assert!(r.marker);
        assert_eq!(r.ssrc, 0xABCD);
    }

    #[test]
    fn switch_at_the_same_instant_still_advances_one_packet_time() {
        let t0 = Instant::now();
        let mut cs = seq();
        cs.rewrite(t0, SourceId(1), 1, 1000, false, 160);
        let r = cs
            .rewrite(t0, SourceId(2), 1, 1000, false, 160)
            .expect("sent");
        assert_eq!(r.timestamp, 10_160);
    }

    #[test]
    fn source_gap_passes_through_as_the_same_gap() {
        let t0 = Instant::now();
        let mut cs = seq();
        cs.rewrite(t0, SourceId(1), 10, 0, false, 160);
        let r = cs
            .rewrite(t0 + 3 * MS20, SourceId(1), 13, 480, false, 160)
            .expect("sent");
        assert_eq!((r.sequence, r.timestamp, r.marker), (103, 10_480, false));
    }

    #[test]
    fn reordered_packet_keeps_its_place_and_does_not_move_the_head() {
        let t0 = Instant::now();
        let mut cs = seq();
        cs.rewrite(t0, SourceId(1), 10, 0, false, 160);
        cs.rewrite(t0 + 2 * MS20, SourceId(1), 12, 320, false, 160);
        let r = cs
            .rewrite(t0 + 2 * MS20, SourceId(1), 11, 160, false, 160)
            .expect("sent");
        assert_eq!((r.sequence, r.timestamp), (101, 10_160));
        let r = cs
            .rewrite(t0 + 3 * MS20, SourceId(1), 13, 480, false, 160)
            .expect("sent");
        assert_eq!(r.sequence, 103);
    }

    #[test]
    fn late_packets_of_the_previous_source_are_dropped() {
        let t0 = Instant::now();
        let mut cs = seq();
        cs.rewrite(t0, SourceId(1), 10, 0, false, 160);
        cs.rewrite(t0 + MS20, SourceId(1), 11, 160, false, 160);
        cs.rewrite(t0 + 2 * MS20, SourceId(2), 500, 0, false, 160);
        assert_eq!(
            cs.rewrite(t0 + 2 * MS20, SourceId(1), 9, 0, false, 160),
            None
        );
        assert_eq!(
            cs.rewrite(t0 + 2 * MS20, SourceId(1), 11, 0, false, 160),
            None
        );
        assert_eq!(cs.stats().late_dropped, 2);
        // The next packet of the current source continues without a gap.
        let r = cs
            .rewrite(t0 + 3 * MS20, SourceId(2), 501, 160, false, 160)
            .expect("sent");
        assert_eq!(r.sequence, 103);
        // The old source resuming with newer packets is a switch back.
        let r = cs
            .rewrite(t0 + 4 * MS20, SourceId(1), 14, 640, false, 160)
            .expect("sent");
        assert_eq!((r.sequence, r.marker), (104, true));
    }

    #[test]
    fn packet_older_than_the_segment_start_is_dropped() {
        let t0 = Instant::now();
        let mut cs = seq();
        cs.rewrite(t0, SourceId(1), 50, 0, false, 160);
        assert_eq!(cs.rewrite(t0, SourceId(1), 49, 0, false, 160), None);
    }

    #[test]
    fn big_jump_within_a_source_is_a_restart() {
        let t0 = Instant::now();
        let mut cs = seq();
        cs.rewrite(t0, SourceId(1), 50, 0, false, 160);
        let r = cs
            .rewrite(t0 + MS20, SourceId(1), 20_000, 5, false, 160)
            .expect("sent");
        assert_eq!((r.sequence, r.timestamp, r.marker), (101, 10_160, true));
        let r = cs
            .rewrite(t0 + 2 * MS20, SourceId(1), 10, 5, false, 160)
            .expect("sent");
        assert_eq!((r.sequence, r.timestamp, r.marker), (102, 10_320, true));
    }

    #[test]
    fn end_segment_makes_the_same_source_a_new_segment() {
        let t0 = Instant::now();
        let mut cs = seq();
        cs.rewrite(t0, SourceId(1), 50, 0, false, 160);
        cs.end_segment();
        let r = cs
            .rewrite(t0 + MS20, SourceId(1), 51, 160, false, 160)
            .expect("sent");
        assert!(r.marker);
        assert_eq!(r.sequence, 101);
    }

    #[test]
    fn sender_info_follows_the_rewritten_timeline() {
        let t0 = Instant::now();
        let mut cs = seq();
        assert_eq!(cs.sender_info(t0), None);
        cs.rewrite(t0, SourceId(1), 1, 0, false, 160);
        cs.rewrite(t0 + MS20, SourceId(1), 2, 160, false, 160);
        let info = cs
            .sender_info(t0 + Duration::from_millis(1020))
            .expect("sent before");
        assert_eq!(
            info,
            SenderInfo {
                ssrc: 0xABCD,
                rtp_timestamp: 10_000 + 8160,
                packet_count: 2,
                octet_count: 320
            }
        );
    }
}
