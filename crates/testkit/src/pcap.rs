//! Reading and writing packet captures: classic pcap (µs and ns, either byte
//! order) and pcapng, as written by `dumpcap`/`tshark`; and writing classic
//! pcap files of UDP packets (sipp's `play_pcap_audio` reads those).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// One UDP datagram found in a capture.
#[derive(Debug, Clone, PartialEq)]
pub struct UdpPacket {
    /// Capture time in seconds since the Unix epoch.
    pub time: f64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

/// Why a capture could not be read.
#[derive(Debug)]
pub enum PcapError {
    Io(std::io::Error),
    /// The file is neither pcap nor pcapng.
    UnknownFormat,
    /// A record or block runs past the end of the file, or is inconsistent.
    Truncated {
        offset: usize,
    },
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::Io(e) => write!(f, "cannot read capture: {e}"),
            PcapError::UnknownFormat => write!(f, "not a pcap or pcapng file"),
            PcapError::Truncated { offset } => write!(f, "capture truncated at byte {offset}"),
        }
    }
}

impl std::error::Error for PcapError {}

/// Reads every UDP datagram (IPv4 or IPv6, unfragmented) from a capture file.
pub fn read_udp(path: &Path) -> Result<Vec<UdpPacket>, PcapError> {
    let data = std::fs::read(path).map_err(PcapError::Io)?;
    parse_udp(&data)
}

/// Like [`read_udp`], from bytes in memory. A truncated final record (a
/// capture still being written, or cut by a signal) ends the list quietly.
pub fn parse_udp(data: &[u8]) -> Result<Vec<UdpPacket>, PcapError> {
    if data.len() < 4 {
        return Err(PcapError::UnknownFormat);
    }
    let magic = [data[0], data[1], data[2], data[3]];
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => parse_pcapng(data),
        _ => parse_classic(data),
    }
}

#[derive(Clone, Copy)]
struct Endian {
    little: bool,
}

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let s: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.little {
            u16::from_le_bytes(s)
        } else {
            u16::from_be_bytes(s)
        })
    }
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.little {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    }
}

fn parse_classic(data: &[u8]) -> Result<Vec<UdpPacket>, PcapError> {
    let (endian, nanos) = match data.get(0..4) {
        Some([0xd4, 0xc3, 0xb2, 0xa1]) => (Endian { little: true }, false),
        Some([0xa1, 0xb2, 0xc3, 0xd4]) => (Endian { little: false }, false),
        Some([0x4d, 0x3c, 0xb2, 0xa1]) => (Endian { little: true }, true),
        Some([0xa1, 0xb2, 0x3c, 0x4d]) => (Endian { little: false }, true),
        _ => return Err(PcapError::UnknownFormat),
    };
    let linktype = endian
        .u32(data, 20)
        .ok_or(PcapError::Truncated { offset: 20 })?;
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        // Both reads are within the 16 bytes checked by the loop condition.
        let secs = endian.u32(data, at).unwrap_or(0);
        let frac = endian.u32(data, at + 4).unwrap_or(0);
        let caplen = endian.u32(data, at + 8).unwrap_or(0) as usize;
        let start = at + 16;
        let Some(frame) = data.get(start..start + caplen) else {
            break; // a record cut short at the end of the file
        };
        let time = secs as f64 + frac as f64 / if nanos { 1e9 } else { 1e6 };
        if let Some(p) = decode_frame(linktype, frame, time) {
            out.push(p);
        }
        at = start + caplen;
    }
    Ok(out)
}

fn parse_pcapng(data: &[u8]) -> Result<Vec<UdpPacket>, PcapError> {
    // Section header: byte-order magic at offset 8.
    let endian = match data.get(8..12) {
        Some([0x4d, 0x3c, 0x2b, 0x1a]) => Endian { little: true },
        Some([0x1a, 0x2b, 0x3c, 0x4d]) => Endian { little: false },
        _ => return Err(PcapError::UnknownFormat),
    };
    // Per interface: (link type, timestamp units per second).
    let mut interfaces: Vec<(u32, f64)> = Vec::new();
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= data.len() {
        let block_type = endian.u32(data, at).unwrap_or(0);
        let len = endian.u32(data, at + 4).unwrap_or(0) as usize;
        if len < 12 || !len.is_multiple_of(4) {
            return Err(PcapError::Truncated { offset: at });
        }
        let Some(block) = data.get(at..at + len) else {
            break; // last block cut short
        };
        match block_type {
            0x0a0d0d0a => interfaces.clear(), // a new section
            1 => {
                let linktype = endian.u16(block, 8).unwrap_or(0) as u32;
                let resolution = if_tsresol(endian, block).unwrap_or(1e6);
                interfaces.push((linktype, resolution));
            }
            6 => {
                let iface = endian.u32(block, 8).unwrap_or(0) as usize;
                let hi = endian.u32(block, 12).unwrap_or(0) as u64;
                let lo = endian.u32(block, 16).unwrap_or(0) as u64;
                let caplen = endian.u32(block, 20).unwrap_or(0) as usize;
                let (linktype, per_sec) = interfaces.get(iface).copied().unwrap_or((1, 1e6));
                let time = ((hi << 32) | lo) as f64 / per_sec;
                if let Some(p) = block
                    .get(28..28 + caplen)
                    .and_then(|f| decode_frame(linktype, f, time))
                {
                    out.push(p);
                }
            }
            _ => {}
        }
        at += len;
    }
    Ok(out)
}

/// The `if_tsresol` option of an interface description block, as units per second.
fn if_tsresol(endian: Endian, block: &[u8]) -> Option<f64> {
    let mut at = 16;
    let end = block.len().checked_sub(4)?;
    while at + 4 <= end {
        let code = endian.u16(block, at)?;
        let len = endian.u16(block, at + 2)? as usize;
        if code == 0 {
            break;
        }
        if code == 9 && len >= 1 {
            let v = *block.get(at + 4)?;
            let exp = (v & 0x7f) as i32;
            return Some(if v & 0x80 != 0 {
                2f64.powi(exp)
            } else {
                10f64.powi(exp)
            });
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

fn decode_frame(linktype: u32, frame: &[u8], time: f64) -> Option<UdpPacket> {
    let l3 = match linktype {
        // BSD loopback: 4-byte address family in host order.
        0 => 4,
        // Ethernet, skipping VLAN tags.
        1 => {
            let mut at = 12;
            loop {
                let et = u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?);
                if et == 0x8100 || et == 0x88a8 {
                    at += 4;
                    continue;
                }
                if et != 0x0800 && et != 0x86dd {
                    return None;
                }
                break at + 2;
            }
        }
        113 => 16,                      // Linux cooked v1
        276 => 20,                      // Linux cooked v2
        12 | 14 | 101 | 228 | 229 => 0, // raw IP
        _ => return None,
    };
    decode_ip(frame.get(l3..)?, time)
}

fn decode_ip(ip: &[u8], time: f64) -> Option<UdpPacket> {
    let version = ip.first()? >> 4;
    let (src, dst, udp) = match version {
        4 => {
            let ihl = (ip[0] & 0x0f) as usize * 4;
            if *ip.get(9)? != 17 {
                return None;
            }
            let frag = u16::from_be_bytes(ip.get(6..8)?.try_into().ok()?);
            if frag & 0x3fff != 0 {
                return None; // a fragment: not reassembled here
            }
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (
                IpAddr::V4(Ipv4Addr::from(s)),
                IpAddr::V4(Ipv4Addr::from(d)),
                ip.get(ihl..)?,
            )
        }
        6 => {
            if *ip.get(6)? != 17 {
                return None;
            }
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(d)),
                ip.get(40..)?,
            )
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes(udp.get(0..2)?.try_into().ok()?);
    let dport = u16::from_be_bytes(udp.get(2..4)?.try_into().ok()?);
    let ulen = u16::from_be_bytes(udp.get(4..6)?.try_into().ok()?) as usize;
    let end = ulen.clamp(8, udp.len());
    Some(UdpPacket {
        time,
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        payload: udp[8..end].to_vec(),
    })
}

/// Writes UDP datagrams as a classic pcap file (Ethernet link type, IPv4 or
/// IPv6 headers with zero checksums — what sipp's pcap player expects).
pub fn write_udp(path: &Path, packets: &[UdpPacket]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(24 + packets.len() * 256);
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    for p in packets {
        let frame = ethernet_frame(p);
        let secs = p.time.floor();
        let micros = ((p.time - secs) * 1e6).round() as u32;
        out.extend_from_slice(&(secs as u32).to_le_bytes());
        out.extend_from_slice(&micros.min(999_999).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out)
}

fn ethernet_frame(p: &UdpPacket) -> Vec<u8> {
    let udp_len = 8 + p.payload.len();
    let mut f = Vec::with_capacity(14 + 40 + udp_len);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1]);
    match (p.src.ip(), p.dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let total = (20 + udp_len) as u16;
            f.extend_from_slice(&[0x45, 0]);
            f.extend_from_slice(&total.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        (s, d) => {
            let to6 = |a: IpAddr| match a {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(udp_len as u16).to_be_bytes());
            f.extend_from_slice(&[17, 64]);
            f.extend_from_slice(&to6(s).octets());
            f.extend_from_slice(&to6(d).octets());
        }
    }
    f.extend_from_slice(&p.src.port().to_be_bytes());
    f.extend_from_slice(&p.dst.port().to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&p.payload);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<UdpPacket> {
        vec![
            UdpPacket {
                time: 1_700_000_000.02,
                src: "127.0.0.1:4000".parse().unwrap(),
                dst: "127.0.0.1:5000".parse().unwrap(),
                payload: vec![0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xff],
            },
            UdpPacket {
                time: 1_700_000_000.04,
                src: "[::1]:4000".parse().unwrap(),
                dst: "[::1]:5000".parse().unwrap(),
                payload: vec![7; 172],
            },
        ]
    }

    #[test]
    fn written_capture_reads_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcap");
        write_udp(&path, &sample()).unwrap();
        let back = read_udp(&path).unwrap();
        assert_eq!(back.len(), 2);
        for (a, b) in back.iter().zip(sample()) {
            assert_eq!(a.src, b.src);
            assert_eq!(a.dst, b.dst);
            assert_eq!(a.payload, b.payload);
            assert!((a.time - b.time).abs() < 1e-6);
        }
    }

    #[test]
    fn truncated_last_record_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcap");
        write_udp(&path, &sample()).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 10);
        assert_eq!(parse_udp(&bytes).unwrap().len(), 1);
    }

    #[test]
    fn garbage_is_not_a_capture() {
        assert!(matches!(
            parse_udp(b"hello world"),
            Err(PcapError::UnknownFormat)
        ));
    }
}
