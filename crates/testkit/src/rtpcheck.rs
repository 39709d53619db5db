//! RTP continuity analysis of captured packets: what a receiver would see.
//!
//! For every stream (source, destination, SSRC) it counts packets and payload
//! types and finds sequence gaps, duplicates, reordering, markers and
//! timestamp jumps; for every flow (source, destination, any SSRC) it counts
//! SSRC changes. This is the check Switchboard's call sequence must pass when
//! the media a leg hears switches source.
//!
//! **Timestamp jumps.** For each non-event packet `i` the transit offset
//! `D_i = arrival_i - timestamp_i / clock_rate` is computed (timestamps
//! unwrapped past 2^32). A correct sender keeps `D` constant apart from
//! network and scheduling jitter. A *step* is a packet whose `D` differs from
//! the previous packet's by more than the tolerance; a *jump* is a step that
//! persists: the median of `D` over the next few packets differs from the
//! median over the previous few by more than the tolerance. A single late
//! packet makes a step but not a jump; a timestamp that was not rebased after
//! a pause makes both. Telephone-event packets (RFC 4733 holds one timestamp
//! for a whole event) are left out of the timestamp checks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;

use crate::pcap::UdpPacket;

/// What to analyse and how strictly.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only packets whose destination port is in this range.
    pub dst_ports: Option<RangeInclusive<u16>>,
    /// Payload types carrying RFC 4733 events (no timestamp checks).
    pub event_pts: BTreeSet<u8>,
    /// RTP clock rate per payload type; absent ones use `default_clock_rate`.
    pub clock_rates: BTreeMap<u8, u32>,
    pub default_clock_rate: u32,
    /// Largest disagreement, in seconds, between a timestamp step and the
    /// arrival-time step (one packet interval by default).
    pub ts_tolerance: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dst_ports: None,
            event_pts: [101].into_iter().collect(),
            clock_rates: BTreeMap::new(),
            default_clock_rate: 8000,
            ts_tolerance: 0.020,
        }
    }
}

impl Options {
    /// Only packets sent to `port`.
    pub fn to_port(port: u16) -> Self {
        Options {
            dst_ports: Some(port..=port),
            ..Options::default()
        }
    }
}

/// A timestamp disagreement between two consecutive (non-event) packets.
#[derive(Debug, Clone, PartialEq)]
pub struct TsStep {
    pub seq: u16,
    /// RTP timestamp step converted to seconds.
    pub ts_step: f64,
    /// Arrival-time step in seconds.
    pub arrival_step: f64,
}

/// The report for one stream (source, destination, SSRC).
#[derive(Debug, Clone, Default)]
pub struct StreamReport {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub ssrc: u32,
    pub packets: usize,
    pub payload_types: BTreeMap<u8, usize>,
    /// Packets missing from the sequence (sum of all gaps).
    pub lost: u64,
    /// (sequence number before the gap, packets missing).
    pub gaps: Vec<(u16, u64)>,
    pub duplicates: u64,
    pub reordered: u64,
    /// Sequence numbers of packets with the marker bit.
    pub markers: Vec<u16>,
    /// Steps whose timestamp disagrees with arrival time (may be jitter).
    pub ts_steps: Vec<TsStep>,
    /// Persistent timestamp disagreements: real jumps.
    pub ts_jumps: Vec<TsStep>,
    pub max_interarrival: f64,
    /// RFC 3550 interarrival jitter, seconds.
    pub jitter: f64,
    pub first_time: f64,
    pub last_time: f64,
}

impl StreamReport {
    /// No gap, duplicate, reordering or timestamp jump.
    pub fn is_continuous(&self) -> bool {
        self.lost == 0 && self.duplicates == 0 && self.reordered == 0 && self.ts_jumps.is_empty()
    }
}

/// The report for one flow (source, destination) across SSRCs.
#[derive(Debug, Clone, Default)]
pub struct FlowReport {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub packets: usize,
    /// SSRCs in the order they first appeared.
    pub ssrcs: Vec<u32>,
    /// How often consecutive packets changed SSRC.
    pub ssrc_changes: usize,
}

/// The whole analysis.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub streams: Vec<StreamReport>,
    pub flows: Vec<FlowReport>,
}

impl Report {
    /// Every stream continuous and no flow changed SSRC.
    pub fn is_continuous(&self) -> bool {
        self.streams.iter().all(StreamReport::is_continuous)
            && self.flows.iter().all(|f| f.ssrc_changes == 0)
    }

    /// The flow to `dst`, if exactly one flow went there.
    pub fn flow_to(&self, dst: SocketAddr) -> Option<&FlowReport> {
        let mut it = self.flows.iter().filter(|f| f.dst == Some(dst));
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    /// The streams sent to `dst`.
    pub fn streams_to(&self, dst: SocketAddr) -> impl Iterator<Item = &StreamReport> {
        self.streams.iter().filter(move |s| s.dst == Some(dst))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.streams {
            writeln!(
                f,
                "stream {:?} -> {:?} ssrc {:#010x}: {} packets, pts {:?}, lost {} in {} gaps, \
                 dup {}, reord {}, markers {}, ts steps {}, ts jumps {}, max IAT {:.1} ms, jitter {:.2} ms",
                s.src,
                s.dst,
                s.ssrc,
                s.packets,
                s.payload_types,
                s.lost,
                s.gaps.len(),
                s.duplicates,
                s.reordered,
                s.markers.len(),
                s.ts_steps.len(),
                s.ts_jumps.len(),
                s.max_interarrival * 1e3,
                s.jitter * 1e3
            )?;
            for j in s.ts_jumps.iter().take(5) {
                writeln!(
                    f,
                    "  ts jump at seq {}: timestamp step {:.3} s, arrival step {:.3} s",
                    j.seq, j.ts_step, j.arrival_step
                )?;
            }
        }
        for fl in &self.flows {
            writeln!(
                f,
                "flow {:?} -> {:?}: {} packets, ssrcs {:x?}, ssrc changes {}",
                fl.src, fl.dst, fl.packets, fl.ssrcs, fl.ssrc_changes
            )?;
        }
        Ok(())
    }
}

/// A parsed RTP header: the fields the analysis needs.
#[derive(Debug, Clone, Copy)]
struct Rtp {
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
}

fn parse_rtp(b: &[u8]) -> Option<Rtp> {
    if b.len() < 12 || b[0] >> 6 != 2 {
        return None;
    }
    let pt = b[1] & 0x7f;
    if (72..=76).contains(&pt) {
        return None; // RTCP (SR, RR, SDES, BYE, APP) seen through the marker bit
    }
    Some(Rtp {
        marker: b[1] & 0x80 != 0,
        pt,
        seq: u16::from_be_bytes([b[2], b[3]]),
        ts: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
    })
}

#[derive(Default)]
struct StreamState {
    report: StreamReport,
    max_ext: Option<u64>,
    last_arrival: Option<f64>,
    /// Unwrapped timestamp of the previous non-event packet.
    last_ts_ext: Option<i64>,
    last_ts_raw: u32,
    /// (seq, D, arrival, ts seconds) of non-event packets, for the jump check.
    transit: Vec<(u16, f64, f64, f64)>,
}

/// Analyses every RTP packet in `packets` (in capture order).
pub fn analyze(packets: &[UdpPacket], opts: &Options) -> Report {
    let mut streams: BTreeMap<(SocketAddr, SocketAddr, u32), StreamState> = BTreeMap::new();
    let mut order: Vec<(SocketAddr, SocketAddr, u32)> = Vec::new();
    let mut flows: BTreeMap<(SocketAddr, SocketAddr), (FlowReport, Option<u32>)> = BTreeMap::new();
    let mut flow_order: Vec<(SocketAddr, SocketAddr)> = Vec::new();

    for p in packets {
        if opts
            .dst_ports
            .as_ref()
            .is_some_and(|ports| !ports.contains(&p.dst.port()))
        {
            continue;
        }
        let Some(rtp) = parse_rtp(&p.payload) else {
            continue;
        };

        let (flow, last_ssrc) = flows.entry((p.src, p.dst)).or_insert_with(|| {
            flow_order.push((p.src, p.dst));
            (
                FlowReport {
                    src: Some(p.src),
                    dst: Some(p.dst),
                    ..FlowReport::default()
                },
                None,
            )
        });
        flow.packets += 1;
        if !flow.ssrcs.contains(&rtp.ssrc) {
            flow.ssrcs.push(rtp.ssrc);
        }
        if last_ssrc.is_some_and(|s| s != rtp.ssrc) {
            flow.ssrc_changes += 1;
        }
        *last_ssrc = Some(rtp.ssrc);

        let key = (p.src, p.dst, rtp.ssrc);
        let st = streams.entry(key).or_insert_with(|| {
            order.push(key);
            StreamState {
                report: StreamReport {
                    src: Some(p.src),
                    dst: Some(p.dst),
                    ssrc: rtp.ssrc,
                    first_time: p.time,
                    ..StreamReport::default()
                },
                ..StreamState::default()
            }
        });
        add_packet(st, p.time, rtp, opts);
    }

    let mut report = Report::default();
    for key in order {
        // Every key in `order` was inserted into `streams` alongside it.
        let mut st = streams.remove(&key).expect("stream recorded with its key");
        find_jumps(&mut st, opts.ts_tolerance);
        report.streams.push(st.report);
    }
    for key in flow_order {
        // Same invariant as above for flows.
        report
            .flows
            .push(flows.remove(&key).expect("flow recorded with its key").0);
    }
    report
}

fn add_packet(st: &mut StreamState, time: f64, rtp: Rtp, opts: &Options) {
    let r = &mut st.report;
    r.packets += 1;
    *r.payload_types.entry(rtp.pt).or_default() += 1;
    r.last_time = time;
    if rtp.marker {
        r.markers.push(rtp.seq);
    }
    if let Some(prev) = st.last_arrival {
        r.max_interarrival = r.max_interarrival.max(time - prev);
    }
    st.last_arrival = Some(time);

    // Sequence numbers, extended past 16 bits.
    match st.max_ext {
        None => st.max_ext = Some(rtp.seq as u64 + (1 << 16)),
        Some(max_ext) => {
            let d = rtp.seq.wrapping_sub(max_ext as u16);
            if d == 0 {
                r.duplicates += 1;
            } else if d < 0x8000 {
                if d > 1 {
                    r.lost += d as u64 - 1;
                    r.gaps.push((max_ext as u16, d as u64 - 1));
                }
                st.max_ext = Some(max_ext + d as u64);
            } else {
                r.reordered += 1;
            }
        }
    }

    if opts.event_pts.contains(&rtp.pt) {
        return;
    }
    let rate = opts
        .clock_rates
        .get(&rtp.pt)
        .copied()
        .unwrap_or(opts.default_clock_rate) as f64;
    let ts_ext = match st.last_ts_ext {
        None => rtp.ts as i64,
        Some(prev) => prev + rtp.ts.wrapping_sub(st.last_ts_raw) as i32 as i64,
    };
    if let Some(&(_, d_prev, a_prev, t_prev)) = st.transit.last() {
        let ts_secs = ts_ext as f64 / rate;
        let d = time - ts_secs;
        if (d - d_prev).abs() > opts.ts_tolerance {
            r.ts_steps.push(TsStep {
                seq: rtp.seq,
                ts_step: ts_secs - t_prev,
                arrival_step: time - a_prev,
            });
        }
        // RFC 3550 §6.4.1 jitter estimate.
        r.jitter += ((d - d_prev).abs() - r.jitter) / 16.0;
    }
    st.last_ts_ext = Some(ts_ext);
    st.last_ts_raw = rtp.ts;
    let ts_secs = ts_ext as f64 / rate;
    st.transit.push((rtp.seq, time - ts_secs, time, ts_secs));
}

/// Keeps the steps whose change of transit offset persists (see module docs).
fn find_jumps(st: &mut StreamState, tolerance: f64) {
    const WINDOW: usize = 5;
    let t = &st.transit;
    for step in &st.report.ts_steps {
        let Some(i) = t.iter().position(|&(seq, ..)| seq == step.seq) else {
            continue;
        };
        let before: Vec<f64> = t[i.saturating_sub(WINDOW)..i].iter().map(|x| x.1).collect();
        let after: Vec<f64> = t[i..(i + WINDOW).min(t.len())]
            .iter()
            .map(|x| x.1)
            .collect();
        if before.is_empty() || after.is_empty() {
            continue;
        }
        if (median(after) - median(before)).abs() > tolerance {
            st.report.ts_jumps.push(step.clone());
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a packet of a 20 ms PCMU stream.
    fn pkt(time: f64, seq: u16, ts: u32, ssrc: u32, marker: bool, pt: u8) -> UdpPacket {
        let mut b = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&ts.to_be_bytes());
        b.extend_from_slice(&ssrc.to_be_bytes());
        b.extend_from_slice(&[0xff; 160]);
        UdpPacket {
            time,
            src: "127.0.0.1:20000".parse().unwrap(),
            dst: "127.0.0.1:16000".parse().unwrap(),
            payload: b,
        }
    }

    fn steady(n: usize, seq0: u16, ts0: u32) -> Vec<UdpPacket> {
        (0..n)
            .map(|i| {
                pkt(
                    100.0 + i as f64 * 0.02,
                    seq0.wrapping_add(i as u16),
                    ts0.wrapping_add(160 * i as u32),
                    7,
                    false,
                    0,
                )
            })
            .collect()
    }

    #[test]
    fn steady_stream_across_both_wraps_is_continuous() {
        let r = analyze(&steady(200, 65500, u32::MAX - 8000), &Options::default());
        assert!(r.is_continuous(), "{r}");
        assert_eq!(r.streams[0].packets, 200);
        assert!(r.streams[0].ts_steps.is_empty());
    }

    #[test]
    fn missing_packets_are_a_gap() {
        let mut p = steady(50, 1, 0);
        p.remove(20);
        p.remove(20);
        let r = analyze(&p, &Options::default());
        assert_eq!(r.streams[0].lost, 2);
        assert_eq!(r.streams[0].gaps, vec![(20, 2)]);
        assert!(!r.is_continuous());
        // A lost packet is not a timestamp jump: arrival and timestamp both skip.
        assert!(r.streams[0].ts_jumps.is_empty());
    }

    #[test]
    fn duplicate_and_late_packets_are_counted() {
        let mut p = steady(30, 1, 0);
        let dup = p[10].clone();
        p.insert(11, dup);
        p.swap(20, 21);
        let r = analyze(&p, &Options::default());
        assert_eq!(r.streams[0].duplicates, 1);
        assert_eq!(r.streams[0].reordered, 1);
    }

    #[test]
    fn timestamp_not_rebased_after_a_pause_is_a_jump() {
        // 1 s of silence on the wire, but the timestamp only advanced 20 ms.
        let mut p = steady(20, 1, 0);
        for i in 0..20 {
            p.push(pkt(
                101.4 + i as f64 * 0.02,
                21 + i as u16,
                3200 + 160 * i as u32,
                7,
                false,
                0,
            ));
        }
        let r = analyze(&p, &Options::default());
        assert_eq!(r.streams[0].ts_jumps.len(), 1, "{r}");
        assert_eq!(r.streams[0].ts_jumps[0].seq, 21);
    }

    #[test]
    fn timestamp_rebased_after_a_pause_is_not_a_jump() {
        let mut p = steady(20, 1, 0);
        for i in 0..20 {
            // arrival 1.0 s after the last packet, timestamp advanced 1.0 s too
            p.push(pkt(
                101.38 + i as f64 * 0.02,
                21 + i as u16,
                3040 + 8000 + 160 * i as u32,
                7,
                true,
                0,
            ));
        }
        let r = analyze(&p, &Options::default());
        assert!(r.streams[0].ts_jumps.is_empty(), "{r}");
    }

    #[test]
    fn one_late_packet_is_a_step_not_a_jump() {
        let mut p = steady(40, 1, 0);
        p[20].time += 0.045; // delayed by the sender's scheduler, then back on time
        let r = analyze(&p, &Options::default());
        assert!(!r.streams[0].ts_steps.is_empty());
        assert!(r.streams[0].ts_jumps.is_empty(), "{r}");
    }

    #[test]
    fn ssrc_change_is_counted_per_flow() {
        let mut p = steady(10, 1, 0);
        p.extend((0..10).map(|i| {
            pkt(
                100.2 + i as f64 * 0.02,
                500 + i as u16,
                9000 + 160 * i,
                8,
                false,
                0,
            )
        }));
        let r = analyze(&p, &Options::default());
        assert_eq!(r.flows.len(), 1);
        assert_eq!(r.flows[0].ssrc_changes, 1);
        assert_eq!(r.flows[0].ssrcs, vec![7, 8]);
        assert!(!r.is_continuous());
    }

    #[test]
    fn telephone_events_skip_timestamp_checks() {
        let mut p = steady(10, 1, 0);
        // An RFC 4733 event: several packets with the same timestamp.
        for i in 0..5 {
            p.push(pkt(100.2 + i as f64 * 0.02, 11 + i, 1600, 7, i == 0, 101));
        }
        let r = analyze(&p, &Options::default());
        assert!(r.is_continuous(), "{r}");
        assert_eq!(r.streams[0].payload_types.get(&101), Some(&5));
    }

    #[test]
    fn rtcp_and_other_ports_are_ignored() {
        let mut p = steady(10, 1, 0);
        let mut rtcp = p[0].clone();
        rtcp.payload[1] = 200; // SR
        p.push(rtcp);
        let mut other = p[0].clone();
        other.dst = "127.0.0.1:9".parse().unwrap();
        p.push(other);
        let r = analyze(&p, &Options::to_port(16000));
        assert_eq!(r.streams.len(), 1);
        assert_eq!(r.streams[0].packets, 10);
    }
}
