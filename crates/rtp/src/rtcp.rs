//! RTCP: what the engine reads from an endpoint's compound packets, and the SR/RR + SDES
//! compound packets it sends (RFC 3550 §6), both through `rtcp-types`.

use rtcp_types::{
    Compound, Packet, ReceiverReport, ReportBlock, RtcpPacketWriterExt, Sdes, SdesChunk, SdesItem,
    SenderReport,
};

use crate::RtpError;
use crate::sequence::SenderInfo;
use crate::stats::ReportBlockData;

/// An NTP timestamp (RFC 5905: seconds since 1900 in the high 32 bits, fraction in the low).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// Seconds between 1900-01-01 and 1970-01-01.
    const UNIX_OFFSET: u64 = 2_208_988_800;

    /// From a wall-clock time given as the duration since the Unix epoch (the caller reads
    /// the clock; this crate never does).
    pub fn from_unix(since_epoch: std::time::Duration) -> NtpTime {
        let secs = since_epoch.as_secs() + Self::UNIX_OFFSET;
        let frac = (u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTime((secs << 32) | frac)
    }

    /// The middle 32 bits, as used in LSR and DLSR fields.
    pub fn middle(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// What an endpoint's report says about the stream the handler sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteReport {
    /// The SSRC the block is about (should be the leg's own).
    pub ssrc: u32,
    /// Fraction lost, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative lost.
    pub cumulative_lost: u32,
    /// Jitter in RTP units.
    pub jitter: u32,
}

/// What the engine takes from one compound RTCP packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtcpSummary {
    /// The endpoint's own SSRC and the NTP time of its sender report, if it sent one.
    pub sender: Option<(u32, NtpTime)>,
    /// The first report block about a stream (from an SR or RR).
    pub report: Option<RemoteReport>,
    /// The endpoint said BYE.
    pub bye: bool,
}

fn remote(block: &ReportBlock<'_>) -> RemoteReport {
    RemoteReport {
        ssrc: block.ssrc(),
        fraction_lost: block.fraction_lost(),
        cumulative_lost: block.cumulative_lost(),
        jitter: block.interarrival_jitter(),
    }
}

/// Parse a compound RTCP packet. Never panics, whatever `data` holds; a compound packet
/// with a malformed part is rejected as a whole.
pub fn parse(data: &[u8]) -> Result<RtcpSummary, RtpError> {
    let compound = Compound::parse(data).map_err(|_| RtpError::Malformed)?;
    let mut out = RtcpSummary::default();
    for packet in compound {
        match packet.map_err(|_| RtpError::Malformed)? {
            Packet::Sr(sr) => {
                out.sender = Some((sr.ssrc(), NtpTime(sr.ntp_timestamp())));
                if out.report.is_none() {
                    out.report = sr.report_blocks().next().as_ref().map(remote);
                }
            }
            Packet::Rr(rr) if out.report.is_none() => {
                out.report = rr.report_blocks().next().as_ref().map(remote);
            }
            Packet::Bye(_) => out.bye = true,
            _ => {}
        }
    }
    Ok(out)
}

/// Everything a generated report says.
#[derive(Debug, Clone, Copy)]
pub struct ReportParams<'a> {
    /// The leg's SSRC (the reporter).
    pub ssrc: u32,
    /// Sender figures when the leg has sent RTP (then an SR is written, else an RR).
    pub sender: Option<SenderInfo>,
    /// NTP time of "now" (the SR's NTP timestamp).
    pub ntp_now: NtpTime,
    /// Reception figures about the endpoint's stream, if any arrived.
    pub reception: Option<ReportBlockData>,
    /// The middle 32 bits of the endpoint's last SR NTP time, and how long ago (in 1/65536 s)
    /// it arrived, for LSR/DLSR.
    pub last_sr: Option<(u32, u32)>,
    /// The CNAME.
    pub cname: &'a str,
}

/// Write a compound SR (or RR) + SDES CNAME into `buf`; returns its length.
pub fn write_report(buf: &mut [u8], p: &ReportParams<'_>) -> Result<usize, RtpError> {
    let block = p.reception.map(|r| {
        let (lsr, dlsr) = p.last_sr.unwrap_or((0, 0));
        ReportBlock::builder(r.ssrc)
            .fraction_lost(r.fraction_lost)
            .cumulative_lost((r.cumulative_lost as u32) & 0x00FF_FFFF)
            .extended_sequence_number(r.extended_highest)
            .interarrival_jitter(r.jitter)
            .last_sender_report_timestamp(lsr)
            .delay_since_last_sender_report_timestamp(dlsr)
    });
    let sdes = Sdes::builder().add_chunk(
        SdesChunk::builder(p.ssrc).add_item(SdesItem::builder(SdesItem::CNAME, p.cname)),
    );
    let written = match p.sender {
        Some(s) => {
            let mut sr = SenderReport::builder(p.ssrc)
                .ntp_timestamp(p.ntp_now.0)
                .rtp_timestamp(s.rtp_timestamp)
                .packet_count(s.packet_count)
                .octet_count(s.octet_count);
            if let Some(b) = block {
                sr = sr.add_report_block(b);
            }
            Compound::builder()
                .add_packet(sr)
                .add_packet(sdes)
                .write_into(buf)
        }
        None => {
            let mut rr = ReceiverReport::builder(p.ssrc);
            if let Some(b) = block {
                rr = rr.add_report_block(b);
            }
            Compound::builder()
                .add_packet(rr)
                .add_packet(sdes)
                .write_into(buf)
        }
    };
    written.map_err(|_| RtpError::BufferTooSmall {
        needed: 0,
        available: buf.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_report_round_trips() {
        let mut buf = [0u8; 256];
        let params = ReportParams {
            ssrc: 0x1111,
            sender: Some(SenderInfo {
                ssrc: 0x1111,
                rtp_timestamp: 123_456,
                packet_count: 50,
                octet_count: 8000,
            }),
            ntp_now: NtpTime::from_unix(std::time::Duration::from_secs(1_700_000_000)),
            reception: Some(ReportBlockData {
                ssrc: 0x2222,
                fraction_lost: 12,
                cumulative_lost: 3,
                extended_highest: 70_000,
                jitter: 40,
            }),
            last_sr: None,
            cname: "leg-1@switchboard",
        };
        let n = write_report(&mut buf, &params).expect("fits");
        let s = parse(&buf[..n]).expect("valid");
        assert_eq!(s.sender, Some((0x1111, params.ntp_now)));
        assert_eq!(
            s.report,
            Some(RemoteReport {
                ssrc: 0x2222,
                fraction_lost: 12,
                cumulative_lost: 3,
                jitter: 40
            })
        );
        let sr = Compound::parse(&buf[..n])
            .expect("valid")
            .next()
            .expect("one")
            .expect("ok");
        match sr {
            Packet::Sr(sr) => {
                assert_eq!(sr.rtp_timestamp(), 123_456);
                assert_eq!(sr.packet_count(), 50);
                assert_eq!(sr.octet_count(), 8000);
            }
            other => panic!("expected SR first, got {other:?}"),
        }
    }

    #[test]
    fn receiver_report_when_nothing_was_sent() {
        let mut buf = [0u8; 256];
        let params = ReportParams {
            ssrc: 1,
            sender: None,
            ntp_now: NtpTime(0),
            reception: None,
            last_sr: None,
            cname: "x",
        };
        let n = write_report(&mut buf, &params).expect("fits");
        assert_eq!(buf[1], 201);
        assert_eq!(parse(&buf[..n]).expect("valid").sender, None);
    }

    #[test]
    fn ntp_time_of_unix_epoch() {
        let t = NtpTime::from_unix(std::time::Duration::from_millis(1500));
        assert_eq!(t.0 >> 32, 2_208_988_801);
        assert_eq!(t.0 & 0xFFFF_FFFF, 1 << 31);
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(parse(&[]), Err(RtpError::Malformed));
        assert_eq!(parse(&[0x80, 200, 0xFF, 0xFF]), Err(RtpError::Malformed));
        assert_eq!(parse(&[0x00, 200, 0, 0]), Err(RtpError::Malformed));
    }
}
