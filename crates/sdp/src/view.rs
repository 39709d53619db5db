//! The typed view over a parsed session description: what each m-line offers, where
//! its media goes, and the attributes Switchboard acts on.

use std::fmt;
use std::net::IpAddr;

use crate::codec::{Codec, Encoding, EventSet, FormatParameters};

/// The kind of media an m-line carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `m=audio`.
    Audio,
    /// `m=video`.
    Video,
    /// Anything else (`application`, `image`, `text`, `message`, ...).
    Other,
}

impl MediaKind {
    /// Classifies the media field of an m-line (case-insensitive).
    pub fn from_media_type(media: &str) -> MediaKind {
        if media.eq_ignore_ascii_case("audio") {
            MediaKind::Audio
        } else if media.eq_ignore_ascii_case("video") {
            MediaKind::Video
        } else {
            MediaKind::Other
        }
    }

    /// `audio`, `video` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Other => "other",
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transport protocol of an m-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `RTP/AVP` (RFC 3551), plain RTP.
    RtpAvp,
    /// `RTP/AVPF` (RFC 4585), plain RTP with RTCP feedback.
    RtpAvpf,
    /// `RTP/SAVP` (RFC 3711), SRTP, keys usually by `a=crypto` (SDES).
    RtpSavp,
    /// `RTP/SAVPF` (RFC 5124), SRTP with feedback.
    RtpSavpf,
    /// `UDP/TLS/RTP/SAVP` (RFC 5764), DTLS-SRTP.
    UdpTlsRtpSavp,
    /// `UDP/TLS/RTP/SAVPF` (RFC 5764), DTLS-SRTP with feedback, as WebRTC uses.
    UdpTlsRtpSavpf,
    /// Anything else (`udptl`, `TCP/MSRP`, `UDP/BFCP`, `RTP/AVP/TCP`, ...).
    Other,
}

impl Protocol {
    /// Classifies the proto field of an m-line (case-insensitive).
    pub fn parse(proto: &str) -> Protocol {
        const KNOWN: [(&str, Protocol); 6] = [
            ("RTP/AVP", Protocol::RtpAvp),
            ("RTP/AVPF", Protocol::RtpAvpf),
            ("RTP/SAVP", Protocol::RtpSavp),
            ("RTP/SAVPF", Protocol::RtpSavpf),
            ("UDP/TLS/RTP/SAVP", Protocol::UdpTlsRtpSavp),
            ("UDP/TLS/RTP/SAVPF", Protocol::UdpTlsRtpSavpf),
        ];
        KNOWN
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(proto))
            .map_or(Protocol::Other, |&(_, p)| p)
    }

    /// The canonical spelling, or `None` for [`Protocol::Other`].
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Protocol::RtpAvp => "RTP/AVP",
            Protocol::RtpAvpf => "RTP/AVPF",
            Protocol::RtpSavp => "RTP/SAVP",
            Protocol::RtpSavpf => "RTP/SAVPF",
            Protocol::UdpTlsRtpSavp => "UDP/TLS/RTP/SAVP",
            Protocol::UdpTlsRtpSavpf => "UDP/TLS/RTP/SAVPF",
            Protocol::Other => return None,
        })
    }

    /// Whether the m-line carries RTP over UDP, so its formats are payload types.
    pub fn is_rtp(self) -> bool {
        self != Protocol::Other
    }

    /// Whether media is SRTP (any `SAVP` profile): each RTP packet carries an
    /// authentication tag.
    pub fn is_srtp(self) -> bool {
        matches!(
            self,
            Protocol::RtpSavp
                | Protocol::RtpSavpf
                | Protocol::UdpTlsRtpSavp
                | Protocol::UdpTlsRtpSavpf
        )
    }

    /// Whether SRTP keys come from a DTLS handshake on the media path (RFC 5764).
    pub fn uses_dtls(self) -> bool {
        matches!(self, Protocol::UdpTlsRtpSavp | Protocol::UdpTlsRtpSavpf)
    }
}

/// The direction of a stream, from the point of view of the SDP's author (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// The author sends and receives.
    #[default]
    SendRecv,
    /// The author only sends (the peer is put on hold by the author).
    SendOnly,
    /// The author only receives.
    RecvOnly,
    /// Neither side sends RTP (RTCP still flows).
    Inactive,
}

impl Direction {
    /// Parses a direction attribute name (case-insensitive).
    pub fn from_attribute(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.attribute().eq_ignore_ascii_case(name))
    }

    /// The attribute name: `sendrecv`, `sendonly`, `recvonly` or `inactive`.
    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Whether the author sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the author receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other side: `sendonly` ↔ `recvonly`.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// Builds a direction from whether the author sends and receives.
    pub fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The direction an answerer writes (RFC 3264 §6.1) given the offer's direction and
    /// what the answerer is willing to do itself (`local`, usually `sendrecv`; `sendonly`
    /// when the answerer holds the call).
    pub fn answer_to(offer: Direction, local: Direction) -> Direction {
        Direction::from_flags(
            offer.receives() && local.sends(),
            offer.sends() && local.receives(),
        )
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.attribute())
    }
}

/// The address family of a connection address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// `IP4`.
    Ipv4,
    /// `IP6`.
    Ipv6,
}

impl AddressFamily {
    /// The SDP addrtype token, `IP4` or `IP6`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressFamily::Ipv4 => "IP4",
            AddressFamily::Ipv6 => "IP6",
        }
    }

    /// The family of an IP address.
    pub fn of(ip: IpAddr) -> AddressFamily {
        match ip {
            IpAddr::V4(_) => AddressFamily::Ipv4,
            IpAddr::V6(_) => AddressFamily::Ipv6,
        }
    }
}

/// The host part of a connection address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A literal IP address (any multicast TTL or count suffix removed).
    Ip(IpAddr),
    /// A fully qualified domain name, which RFC 8866 allows but which few implementations
    /// send; the controller must resolve it before media can flow.
    Name(String),
}

/// A `c=` line: where the author wants to receive media.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Connection {
    /// `IP4` or `IP6`.
    pub family: AddressFamily,
    /// The address.
    pub host: Host,
}

impl Connection {
    /// The IP address, when the host is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.host {
            Host::Ip(ip) => Some(ip),
            Host::Name(_) => None,
        }
    }

    /// Whether the address is `0.0.0.0` or `::`, the RFC 2543 way of saying "do not send
    /// to me" (old hold, or an offer whose address is not known yet; RFC 3264 §8.4).
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

/// The type of a `b=` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BandwidthKind {
    /// `AS`: application-specific maximum, kbit/s, including IP/UDP/RTP headers by
    /// common reading (RFC 3890 §4).
    As,
    /// `CT`: conference total, kbit/s.
    Ct,
    /// `TIAS` (RFC 3890): transport-independent application maximum, bit/s, without
    /// IP/UDP/RTP headers.
    Tias,
    /// `RS` (RFC 3556): RTCP bandwidth for senders, bit/s.
    Rs,
    /// `RR` (RFC 3556): RTCP bandwidth for receivers, bit/s.
    Rr,
    /// Any other type, kept as written.
    Other(String),
}

/// A `b=` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bandwidth {
    /// Its type.
    pub kind: BandwidthKind,
    /// The value as written (kbit/s for AS/CT, bit/s for TIAS/RS/RR).
    pub value: u64,
}

impl Bandwidth {
    /// Classifies a `b=` line from its type token and value.
    pub fn from_parts(bwtype: &str, value: u64) -> Bandwidth {
        let kind = match bwtype.trim() {
            t if t.eq_ignore_ascii_case("AS") => BandwidthKind::As,
            t if t.eq_ignore_ascii_case("CT") => BandwidthKind::Ct,
            t if t.eq_ignore_ascii_case("TIAS") => BandwidthKind::Tias,
            t if t.eq_ignore_ascii_case("RS") => BandwidthKind::Rs,
            t if t.eq_ignore_ascii_case("RR") => BandwidthKind::Rr,
            t => BandwidthKind::Other(t.to_owned()),
        };
        Bandwidth { kind, value }
    }

    /// The value in bit/s, or `None` for unknown types.
    pub fn bits_per_second(&self) -> Option<u64> {
        match self.kind {
            BandwidthKind::As | BandwidthKind::Ct => Some(self.value.saturating_mul(1000)),
            BandwidthKind::Tias | BandwidthKind::Rs | BandwidthKind::Rr => Some(self.value),
            BandwidthKind::Other(_) => None,
        }
    }
}

/// Finds the first `b=` line of a kind in a list and returns it in bit/s.
pub fn bandwidth_bps(list: &[Bandwidth], kind: &BandwidthKind) -> Option<u64> {
    list.iter()
        .find(|b| &b.kind == kind)
        .and_then(Bandwidth::bits_per_second)
}

/// An SRTP crypto suite named in `a=crypto` (RFC 4568, RFC 6188, RFC 7714).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SrtpSuite {
    /// `AES_CM_128_HMAC_SHA1_80`: 10-byte tag.
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32`: 4-byte tag.
    AesCm128HmacSha1_32,
    /// `F8_128_HMAC_SHA1_80`: 10-byte tag.
    F8_128HmacSha1_80,
    /// `AES_192_CM_HMAC_SHA1_80`: 10-byte tag.
    Aes192CmHmacSha1_80,
    /// `AES_192_CM_HMAC_SHA1_32`: 4-byte tag.
    Aes192CmHmacSha1_32,
    /// `AES_256_CM_HMAC_SHA1_80`: 10-byte tag.
    Aes256CmHmacSha1_80,
    /// `AES_256_CM_HMAC_SHA1_32`: 4-byte tag.
    Aes256CmHmacSha1_32,
    /// `AEAD_AES_128_GCM`: 16-byte tag.
    AeadAes128Gcm,
    /// `AEAD_AES_256_GCM`: 16-byte tag.
    AeadAes256Gcm,
    /// Anything else, as written.
    Other(String),
}

impl SrtpSuite {
    /// Classifies a suite name (case-insensitive).
    pub fn parse(name: &str) -> SrtpSuite {
        const KNOWN: [(&str, SrtpSuite); 9] = [
            ("AES_CM_128_HMAC_SHA1_80", SrtpSuite::AesCm128HmacSha1_80),
            ("AES_CM_128_HMAC_SHA1_32", SrtpSuite::AesCm128HmacSha1_32),
            ("F8_128_HMAC_SHA1_80", SrtpSuite::F8_128HmacSha1_80),
            ("AES_192_CM_HMAC_SHA1_80", SrtpSuite::Aes192CmHmacSha1_80),
            ("AES_192_CM_HMAC_SHA1_32", SrtpSuite::Aes192CmHmacSha1_32),
            ("AES_256_CM_HMAC_SHA1_80", SrtpSuite::Aes256CmHmacSha1_80),
            ("AES_256_CM_HMAC_SHA1_32", SrtpSuite::Aes256CmHmacSha1_32),
            ("AEAD_AES_128_GCM", SrtpSuite::AeadAes128Gcm),
            ("AEAD_AES_256_GCM", SrtpSuite::AeadAes256Gcm),
        ];
        KNOWN
            .into_iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(name))
            .map_or_else(|| SrtpSuite::Other(name.to_owned()), |(_, suite)| suite)
    }

    /// Bytes the suite's authentication tag adds to every SRTP packet, when known.
    pub fn auth_tag_len(&self) -> Option<u8> {
        match self {
            SrtpSuite::AesCm128HmacSha1_80
            | SrtpSuite::F8_128HmacSha1_80
            | SrtpSuite::Aes192CmHmacSha1_80
            | SrtpSuite::Aes256CmHmacSha1_80 => Some(10),
            SrtpSuite::AesCm128HmacSha1_32
            | SrtpSuite::Aes192CmHmacSha1_32
            | SrtpSuite::Aes256CmHmacSha1_32 => Some(4),
            SrtpSuite::AeadAes128Gcm | SrtpSuite::AeadAes256Gcm => Some(16),
            SrtpSuite::Other(_) => None,
        }
    }
}

/// One `a=crypto` line (SDES keying, RFC 4568). Only the tag and suite are exposed; key
/// material stays in the model and is never logged by this crate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Crypto {
    /// The crypto tag that the answer echoes.
    pub tag: u32,
    /// The suite.
    pub suite: SrtpSuite,
}

/// An `a=rtcp` line (RFC 3605): RTCP on a port other than RTP's + 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RtcpAttribute {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when given.
    pub connection: Option<Connection>,
}

/// One payload format of an RTP m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFormat {
    /// The RTP payload type.
    pub payload_type: u8,
    /// The encoding, from `a=rtpmap` or the static table; `None` for a dynamic type
    /// without `a=rtpmap`.
    pub encoding: Option<Encoding>,
    /// The codec, when the encoding is one in the [codec table](crate::Codec).
    pub codec: Option<Codec>,
    /// The `a=fmtp` parameters for this payload type.
    pub fmtp: Option<FormatParameters>,
}

impl PayloadFormat {
    /// The RTP clock rate, when the encoding is known.
    pub fn clock_rate(&self) -> Option<u32> {
        self.encoding.as_ref().map(|e| e.clock_rate)
    }

    /// For telephone-event: the events offered (RFC 4733 §2.4.1: 0-15 when there is no
    /// `a=fmtp`). `None` for other formats or an unreadable event list.
    pub fn telephone_events(&self) -> Option<EventSet> {
        if self.codec != Some(Codec::TelephoneEvent) {
            return None;
        }
        match &self.fmtp {
            None => Some(EventSet::dtmf()),
            Some(p) => EventSet::parse(p.raw()),
        }
    }

    /// For G.729: whether Annex B (silence suppression) is on; RFC 4856 makes it on
    /// unless `annexb=no`. `None` for other formats.
    pub fn g729_annexb(&self) -> Option<bool> {
        (self.codec == Some(Codec::G729)).then(|| {
            self.fmtp
                .as_ref()
                .and_then(|p| p.get("annexb"))
                .is_none_or(|v| !v.eq_ignore_ascii_case("no"))
        })
    }

    /// For Opus: `maxaveragebitrate` in bit/s, if given. `None` for other formats.
    pub fn opus_max_average_bitrate(&self) -> Option<u32> {
        if self.codec != Some(Codec::Opus) {
            return None;
        }
        self.fmtp
            .as_ref()
            .and_then(|p| p.get_u32("maxaveragebitrate"))
    }

    /// The encoding name, or the payload type number when unknown (for logs).
    pub fn label(&self) -> String {
        match &self.encoding {
            Some(e) => format!("{}/{}", e.name, e.clock_rate),
            None => self.payload_type.to_string(),
        }
    }
}

/// The typed view of one m-line and its attributes, with session-level defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Position of the m-line in the session (0-based); answers keep positions.
    pub index: usize,
    /// Audio, video or other.
    pub kind: MediaKind,
    /// The media field as written (`audio`, `video`, `image`, ...).
    pub media_type: String,
    /// The transport port; 0 means the stream is disabled or rejected.
    pub port: u16,
    /// The `/<number of ports>` suffix, if present.
    pub num_ports: Option<u16>,
    /// The classified protocol.
    pub protocol: Protocol,
    /// The protocol as written.
    pub proto: String,
    /// The format tokens as written on the m-line.
    pub fmt: Vec<String>,
    /// For RTP protocols, the payload formats in m-line order (the author's preference).
    pub formats: Vec<PayloadFormat>,
    /// The effective connection: the m-line's own `c=`, else the session's.
    pub connection: Option<Connection>,
    /// The m-line's `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// The effective direction: the m-line's attribute, else the session's, else
    /// `sendrecv`.
    pub direction: Direction,
    /// `a=ptime` in milliseconds.
    pub ptime: Option<u32>,
    /// `a=maxptime` in milliseconds.
    pub maxptime: Option<u32>,
    /// `a=crypto` lines, in order of preference.
    pub crypto: Vec<Crypto>,
    /// `a=rtcp-mux`: RTP and RTCP share the port.
    pub rtcp_mux: bool,
    /// `a=rtcp`.
    pub rtcp: Option<RtcpAttribute>,
    /// `a=mid` (RFC 5888).
    pub mid: Option<String>,
}

impl MediaDescription {
    /// Whether the stream is enabled (port ≠ 0).
    pub fn is_enabled(&self) -> bool {
        self.port != 0
    }

    /// The payload format with this payload type.
    pub fn format(&self, payload_type: u8) -> Option<&PayloadFormat> {
        self.formats.iter().find(|f| f.payload_type == payload_type)
    }

    /// The first format whose codec is a real codec (not DTMF events, CN, RED, RTX, FEC):
    /// the author's preferred codec, or in an answer the codec in use.
    pub fn primary_format(&self) -> Option<&PayloadFormat> {
        self.formats
            .iter()
            .find(|f| f.codec.is_none_or(|c| !c.is_auxiliary()))
    }

    /// The media-level `b=` line of a kind, in bit/s.
    pub fn bandwidth_bps(&self, kind: &BandwidthKind) -> Option<u64> {
        bandwidth_bps(&self.bandwidths, kind)
    }
}
