//! RTP packets: a copy of the fixed header fields, in-place rewriting, and building.
//!
//! Parsing goes through `rtp-types` (zero-copy, validates version, CSRC count, extension and
//! padding lengths). [`RtpHeader`] copies the few fields the engine decides on, so the caller
//! can then borrow the buffer mutably and rewrite it in place with [`rewrite`].

use crate::RtpError;

/// The fixed RTP header length without CSRCs or extension.
pub const RTP_HEADER_LEN: usize = 12;

/// The header fields of a parsed RTP packet, and where its payload lies in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (0–127).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Offset of the payload in the buffer.
    pub payload_offset: usize,
    /// Payload length (padding excluded).
    pub payload_len: usize,
}

impl RtpHeader {
    /// Parse the header of an RTP packet. Never panics, whatever `data` holds.
    pub fn parse(data: &[u8]) -> Result<RtpHeader, RtpError> {
        let p = rtp_types::RtpPacket::parse(data).map_err(|_| RtpError::Malformed)?;
        Ok(RtpHeader {
            marker: p.marker_bit(),
            payload_type: p.payload_type(),
            sequence: p.sequence_number(),
            timestamp: p.timestamp(),
            ssrc: p.ssrc(),
            payload_offset: p.payload_offset(),
            payload_len: p.payload_len(),
        })
    }

    /// The payload range in the buffer the header was parsed from.
    pub fn payload_range(&self) -> std::ops::Range<usize> {
        self.payload_offset..self.payload_offset + self.payload_len
    }
}

/// The header fields the call sequence and the router set on an outgoing packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRewrite {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (0–127).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// Overwrite the fixed header fields of the RTP packet in `buf` in place.
///
/// `buf` must hold a packet that [`RtpHeader::parse`] accepted (at least 12 bytes); a shorter
/// buffer is left untouched and reported as malformed.
pub fn rewrite(buf: &mut [u8], h: &HeaderRewrite) -> Result<(), RtpError> {
    if buf.len() < RTP_HEADER_LEN {
        return Err(RtpError::Malformed);
    }
    buf[1] = (u8::from(h.marker) << 7) | (h.payload_type & 0x7F);
    buf[2..4].copy_from_slice(&h.sequence.to_be_bytes());
    buf[4..8].copy_from_slice(&h.timestamp.to_be_bytes());
    buf[8..12].copy_from_slice(&h.ssrc.to_be_bytes());
    Ok(())
}

/// Write a plain RTP packet (no CSRC, no extension, no padding) with `payload_len` payload
/// bytes already placed at `buf[12..12 + payload_len]`; returns the packet length.
///
/// Building around a payload written in place avoids a copy: encode into
/// `&mut buf[RTP_HEADER_LEN..]`, then call this.
pub fn write_header(
    buf: &mut [u8],
    h: &HeaderRewrite,
    payload_len: usize,
) -> Result<usize, RtpError> {
    let len = RTP_HEADER_LEN + payload_len;
    if buf.len() < len {
        return Err(RtpError::BufferTooSmall {
            needed: len,
            available: buf.len(),
        });
    }
    buf[0] = 0x80;
    rewrite(buf, h)?;
    Ok(len)
}

/// Whether a datagram on a multiplexed port is RTCP rather than RTP (RFC 5761 §4: the second
/// byte, read as an RTCP packet type, lies in 192–223).
pub fn looks_like_rtcp(data: &[u8]) -> bool {
    data.len() >= 2 && (192..=223).contains(&data[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_packet() -> Vec<u8> {
        let mut buf = vec![0u8; 12 + 160];
        let h = HeaderRewrite {
            marker: true,
            payload_type: 8,
            sequence: 65535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
        };
        let n = write_header(&mut buf, &h, 160).expect("buffer is large enough");
        assert_eq!(n, 172);
        buf
    }

    #[test]
    fn built_packet_parses_back() {
        let buf = sample_packet();
        let h = RtpHeader::parse(&buf).expect("valid");
        assert!(h.marker);
        assert_eq!(h.payload_type, 8);
        assert_eq!(h.sequence, 65535);
        assert_eq!(h.timestamp, 0xDEAD_BEEF);
        assert_eq!(h.ssrc, 0x1234_5678);
        assert_eq!(h.payload_range(), 12..172);
    }

    #[test]
    fn rewrite_changes_only_header_fields() {
        let mut buf = sample_packet();
        buf[12..].fill(0x55);
        let r = HeaderRewrite {
            marker: false,
            payload_type: 0,
            sequence: 7,
            timestamp: 9,
            ssrc: 1,
        };
        rewrite(&mut buf, &r).expect("valid length");
        let h = RtpHeader::parse(&buf).expect("valid");
        assert_eq!(
            (h.marker, h.payload_type, h.sequence, h.timestamp, h.ssrc),
            (false, 0, 7, 9, 1)
        );
        assert!(buf[12..].iter().all(|&b| b == 0x55));
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        assert_eq!(RtpHeader::parse(&[]), Err(RtpError::Malformed));
        assert_eq!(RtpHeader::parse(&[0x80, 0, 0]), Err(RtpError::Malformed));
        // Version 1.
        let mut buf = sample_packet();
        buf[0] = 0x40;
        assert_eq!(RtpHeader::parse(&buf), Err(RtpError::Malformed));
        // 15 CSRCs announced in a 12-byte packet.
        assert_eq!(RtpHeader::parse(&[0x8F; 12]), Err(RtpError::Malformed));
        assert_eq!(
            rewrite(
                &mut [0u8; 4],
                &HeaderRewrite {
                    marker: false,
                    payload_type: 0,
                    sequence: 0,
                    timestamp: 0,
                    ssrc: 0
                }
            ),
            Err(RtpError::Malformed)
        );
    }

    #[test]
    fn rtcp_is_told_apart_from_rtp() {
        assert!(looks_like_rtcp(&[0x80, 200, 0, 6]));
        assert!(!looks_like_rtcp(&[0x80, 0, 0, 6]));
        assert!(!looks_like_rtcp(&[0x80, 0x80 | 8]));
    }
}
