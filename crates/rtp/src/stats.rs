//! Reception statistics of one inbound RTP source (RFC 3550 appendix A.1, A.3, A.8): the
//! extended highest sequence number, cumulative and interval loss, and interarrival jitter.

use std::time::Instant;

/// A sequence jump larger than this starts the statistics over (a new source numbering).
const MAX_DROPOUT: u16 = 3000;
/// A backward step larger than this starts the statistics over.
const MAX_MISORDER: u16 = 100;

/// What goes into an RTCP report block about this source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlockData {
    /// The source's SSRC.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire; clamped here).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest: u32,
    /// Interarrival jitter in RTP units.
    pub jitter: u32,
}

/// Reception statistics of one source.
#[derive(Debug, Clone)]
pub struct ReceptionStats {
    clock_rate: u32,
    ssrc: u32,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    epoch: Option<Instant>,
    last_transit: Option<i64>,
    jitter: f64,
}

impl ReceptionStats {
    /// Statistics on a clock of `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> Self {
        ReceptionStats {
            clock_rate: clock_rate.max(1),
            ssrc: 0,
            base_seq: 0,
            max_seq: 0,
            cycles: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            epoch: None,
            last_transit: None,
            jitter: 0.0,
        }
    }

    fn restart(&mut self, ssrc: u32, seq: u16) {
        self.ssrc = ssrc;
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.cycles = 0;
        self.received = 0;
        self.expected_prior = 0;
        self.received_prior = 0;
        self.last_transit = None;
    }

    /// Account for one packet that arrived at `now`.
    pub fn on_packet(&mut self, now: Instant, ssrc: u32, seq: u16, timestamp: u32) {
        let epoch = *self.epoch.get_or_insert(now);
        if self.received == 0 || ssrc != self.ssrc {
            self.restart(ssrc, seq);
        } else {
            let ahead = seq.wrapping_sub(self.max_seq);
            if ahead != 0 && ahead < 0x8000 {
                if ahead > MAX_DROPOUT {
                    self.restart(ssrc, seq);
                } else {
                    if seq < self.max_seq {
                        self.cycles = self.cycles.wrapping_add(1 << 16);
                    }
                    self.max_seq = seq;
                }
            } else if ahead != 0 && self.max_seq.wrapping_sub(seq) > MAX_MISORDER {
                self.restart(ssrc, seq);
            }
        }
        self.received += 1;
        // Jitter (A.8): transit time difference in RTP units.
        // Microsecond resolution in 64-bit arithmetic (no 128-bit division on the packet
        // path); it overflows only after years at 90 kHz.
        let micros = now.saturating_duration_since(epoch).as_micros() as u64;
        let arrival = (micros.wrapping_mul(u64::from(self.clock_rate)) / 1_000_000) as i64;
        let transit = arrival - i64::from(timestamp);
        if let Some(prev) = self.last_transit {
            // Timestamps wrap at 2^32: take the difference modulo 2^32 as a signed value.
            let d = (transit - prev) as i32;
            let d = f64::from(d).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// Packets received.
    pub fn received(&self) -> u64 {
        self.received
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    fn expected(&self) -> u64 {
        u64::from(self.extended_max().wrapping_sub(self.base_seq)) + 1
    }

    /// Cumulative packets lost (negative with duplicates).
    pub fn lost(&self) -> i64 {
        if self.received == 0 {
            return 0;
        }
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter in RTP units.
    pub fn jitter(&self) -> u32 {
        self.jitter as u32
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0 / f64::from(self.clock_rate)
    }

    /// The report block for an RTCP SR/RR, and start a new reporting interval. `None` before
    /// the first packet.
    pub fn report(&mut self) -> Option<ReportBlockData> {
        if self.received == 0 {
            return None;
        }
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        Some(ReportBlockData {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            extended_highest: self.extended_max(),
            jitter: self.jitter(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counts_loss_across_the_sequence_wrap() {
        let t0 = Instant::now();
        let mut st = ReceptionStats::new(8000);
        let mut seq = 65530u16;
        for i in 0..20u32 {
            if i != 7 && i != 8 {
                st.on_packet(
                    t0 + Duration::from_millis(20 * u64::from(i)),
                    1,
                    seq,
                    i * 160,
                );
            }
            seq = seq.wrapping_add(1);
        }
        assert_eq!(st.received(), 18);
        assert_eq!(st.lost(), 2);
        let r = st.report().expect("packets arrived");
        assert_eq!(r.extended_highest, (1 << 16) + 13);
        assert_eq!(r.fraction_lost, (2 * 256 / 20) as u8);
        assert_eq!(r.cumulative_lost, 2);
        // Next interval without loss.
        st.on_packet(t0 + Duration::from_millis(400), 1, seq, 20 * 160);
        assert_eq!(st.report().expect("packets").fraction_lost, 0);
    }

    #[test]
    fn steady_stream_has_no_jitter_and_delayed_packet_raises_it() {
        let t0 = Instant::now();
        let mut st = ReceptionStats::new(8000);
        for i in 0..50u32 {
            st.on_packet(
                t0 + Duration::from_millis(20 * u64::from(i)),
                1,
                i as u16,
                i * 160,
            );
        }
        assert_eq!(st.jitter(), 0);
        st.on_packet(t0 + Duration::from_millis(20 * 50 + 30), 1, 50, 50 * 160);
        // One packet 30 ms (240 units) late: J = 240/16 = 15.
        assert_eq!(st.jitter(), 15);
    }

    #[test]
    fn new_ssrc_restarts_the_statistics() {
        let t0 = Instant::now();
        let mut st = ReceptionStats::new(8000);
        st.on_packet(t0, 1, 100, 0);
        st.on_packet(t0, 2, 5, 0);
        assert_eq!(st.lost(), 0);
        assert_eq!(st.report().expect("packets").ssrc, 2);
    }
}
