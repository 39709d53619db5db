//! [`SessionDescription`]: a parsed SDP body, its bytes, the `sdp-types` model and the
//! typed view, always consistent with each other.

use std::fmt;
use std::net::IpAddr;

use crate::codec::{Codec, Encoding, FormatParameters};
use crate::error::SdpError;
use crate::view::{
    AddressFamily, Bandwidth, Connection, Crypto, Direction, Host, MediaDescription, MediaKind,
    PayloadFormat, Protocol, RtcpAttribute, SrtpSuite,
};

/// A session description: the exact bytes, the `sdp-types` model, and the typed view.
///
/// A description is immutable. [`SessionDescription::as_bytes`] returns the input of
/// [`SessionDescription::parse`] byte for byte, so an SDP that passes through unchanged
/// is forwarded exactly as received (line order, spacing, LF-only line ends and lines
/// `sdp-types` drops are all kept). To change a description, take its model with
/// [`SessionDescription::into_model`], edit it, and build a new one with
/// [`SessionDescription::from_model`]; that writes the model out and parses the result,
/// so the bytes and the view can never disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    bytes: Vec<u8>,
    model: sdp_types::Session,
    connection: Option<Connection>,
    bandwidths: Vec<Bandwidth>,
    direction: Option<Direction>,
    media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Parses an SDP body.
    ///
    /// Structure errors (bad lines, m-lines whose RTP formats are not payload type
    /// numbers, connection lines that are not `IN IP4|IP6 <address>`, an enabled stream
    /// without any connection address) are [`SdpError::Malformed`] (400). Attributes
    /// whose values cannot be understood are ignored, as RFC 8866 §5.13 asks for unknown
    /// attributes: a garbled `a=ptime` is treated as absent.
    pub fn parse(bytes: &[u8]) -> Result<SessionDescription, SdpError> {
        let model = sdp_types::Session::parse(bytes).map_err(parser_error)?;
        let connection = model
            .connection
            .as_ref()
            .map(|c| connection(c, None))
            .transpose()?;
        let bandwidths = model
            .bandwidths
            .iter()
            .map(Bandwidth::parse_model)
            .collect();
        let direction = direction_of(&model.attributes);
        let media = model
            .medias
            .iter()
            .enumerate()
            .map(|(index, m)| media(index, m, connection.as_ref(), direction))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SessionDescription {
            bytes: bytes.to_vec(),
            model,
            connection,
            bandwidths,
            direction,
            media,
        })
    }

    /// Writes an `sdp-types` model out (CRLF line ends, RFC 8866 line order) and parses
    /// the result. Fails when the model does not describe a valid session.
    pub fn from_model(model: &sdp_types::Session) -> Result<SessionDescription, SdpError> {
        SessionDescription::parse(&write_model(model))
    }

    /// The body: for a parsed description exactly the parsed bytes, for a built one the
    /// written model.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The model written out in canonical form by `sdp-types` (which differs from
    /// [`as_bytes`](Self::as_bytes) when the input was not canonical).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        write_model(&self.model)
    }

    /// The `sdp-types` model.
    pub fn model(&self) -> &sdp_types::Session {
        &self.model
    }

    /// Takes the `sdp-types` model, to edit it and build a new description.
    pub fn into_model(self) -> sdp_types::Session {
        self.model
    }

    /// The `o=` line.
    pub fn origin(&self) -> &sdp_types::Origin {
        &self.model.origin
    }

    /// The session version of the `o=` line; it increases when the author changes the
    /// session (RFC 3264 §8).
    pub fn session_version(&self) -> u64 {
        self.model.origin.sess_version
    }

    /// The session-level `c=` line.
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// The session-level `b=` lines.
    pub fn bandwidths(&self) -> &[Bandwidth] {
        &self.bandwidths
    }

    /// The session-level direction attribute, if any (each m-line's
    /// [`direction`](MediaDescription::direction) already has it applied).
    pub fn session_direction(&self) -> Option<Direction> {
        self.direction
    }

    /// The m-lines, in order.
    pub fn media(&self) -> &[MediaDescription] {
        &self.media
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.bytes))
    }
}

fn write_model(model: &sdp_types::Session) -> Vec<u8> {
    let mut out = Vec::new();
    model
        .write(&mut out)
        .expect("invariant: writing to a Vec<u8> cannot fail");
    out
}

fn parser_error(e: sdp_types::ParserError) -> SdpError {
    use sdp_types::ParserError as P;
    #[allow(deprecated)]
    let line = match &e {
        P::UnexpectedLine(n, _)
        | P::InvalidLineFormat(n, _)
        | P::InvalidFieldEncoding(n, _)
        | P::InvalidFieldFormat(n, _)
        | P::MissingField(n, _)
        | P::FieldTrailingData(n, _)
        | P::InvalidVersion(n, _)
        | P::MultipleVersions(n)
        | P::MultipleOrigins(n)
        | P::MultipleSessionNames(n)
        | P::MultipleSessionDescription(n)
        | P::MultipleUris(n)
        | P::MultipleConnections(n)
        | P::MultipleTimeZones(n)
        | P::MultipleMediaTitles(n)
        | P::MultipleKeys(n)
        | P::RepeatWithoutTime(n) => Some(*n),
        P::NoVersion | P::NoOrigin | P::NoSessionName => None,
    };
    SdpError::malformed(line, e.to_string())
}

impl Bandwidth {
    fn parse_model(b: &sdp_types::Bandwidth) -> Bandwidth {
        Bandwidth::from_parts(&b.bwtype, b.bandwidth)
    }
}

fn connection(c: &sdp_types::Connection, media: Option<usize>) -> Result<Connection, SdpError> {
    let at = |what: &str| match media {
        Some(i) => format!("{what} in m-line {}", i + 1),
        None => format!("{what} at session level"),
    };
    if !c.nettype.as_str().eq_ignore_ascii_case("IN") {
        return Err(SdpError::malformed(
            None,
            at("connection nettype is not IN"),
        ));
    }
    let family = match c.addrtype.as_str() {
        t if t.eq_ignore_ascii_case("IP4") => AddressFamily::Ipv4,
        t if t.eq_ignore_ascii_case("IP6") => AddressFamily::Ipv6,
        _ => {
            return Err(SdpError::malformed(
                None,
                at("connection addrtype is not IP4 or IP6"),
            ));
        }
    };
    // Multicast addresses may carry `/ttl` and `/count` suffixes; the host is before them.
    let address = c.connection_address.split('/').next().unwrap_or_default();
    let host = match address.parse::<IpAddr>() {
        Ok(ip) if AddressFamily::of(ip) == family => Host::Ip(ip),
        Ok(_) => {
            return Err(SdpError::malformed(
                None,
                at("connection address does not match its addrtype"),
            ));
        }
        Err(_) if is_domain_name(address) => Host::Name(address.to_owned()),
        Err(_) => {
            return Err(SdpError::malformed(
                None,
                at("connection address is neither an IP address nor a domain name"),
            ));
        }
    };
    Ok(Connection { family, host })
}

fn is_domain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

fn direction_of(attributes: &[sdp_types::Attribute]) -> Option<Direction> {
    attributes
        .iter()
        .filter(|a| a.value.is_none())
        .find_map(|a| Direction::from_attribute(a.attribute.trim()))
}

fn values<'a>(attributes: &'a [sdp_types::Attribute], name: &str) -> Vec<&'a str> {
    attributes
        .iter()
        .filter(|a| a.attribute.trim().eq_ignore_ascii_case(name))
        .map(|a| a.value.as_deref().unwrap_or("").trim())
        .collect()
}

fn has_flag(attributes: &[sdp_types::Attribute], name: &str) -> bool {
    attributes
        .iter()
        .any(|a| a.attribute.trim().eq_ignore_ascii_case(name))
}

/// `ptime` and `maxptime` are integers by RFC 8866, but decimals (`20.0`) are seen in the
/// wild; round them. Zero and garbage mean "absent".
fn milliseconds(value: &str) -> Option<u32> {
    let v: f64 = value.trim().parse().ok()?;
    if !(0.5..=10_000.0).contains(&v) {
        return None;
    }
    // In range 1..=10000 after rounding, so the cast is exact.
    Some(v.round() as u32)
}

/// `<pt> <name>/<clock>[/<channels>]`.
fn rtpmap(value: &str) -> Option<(u8, Encoding)> {
    let (pt, rest) = value.split_once(char::is_whitespace)?;
    let pt: u8 = pt.parse().ok().filter(|pt| *pt <= 127)?;
    let mut parts = rest.trim().split('/');
    let name = parts.next()?.trim();
    let clock_rate: u32 = parts.next()?.trim().parse().ok().filter(|r| *r > 0)?;
    let channels = match parts.next() {
        Some(c) => c.trim().parse().ok().filter(|c| *c > 0)?,
        None => 1,
    };
    if name.is_empty() || parts.next().is_some() {
        return None;
    }
    Some((
        pt,
        Encoding {
            name: name.to_owned(),
            clock_rate,
            channels,
        },
    ))
}

/// `<pt> <params>`, params possibly empty.
fn fmtp(value: &str) -> Option<(u8, FormatParameters)> {
    let (pt, params) = match value.split_once(char::is_whitespace) {
        Some((pt, params)) => (pt, params.trim()),
        None => (value, ""),
    };
    Some((pt.parse().ok()?, FormatParameters::parse(params)))
}

/// `<tag> <suite> <key params> ...`.
fn crypto(value: &str) -> Option<Crypto> {
    let mut parts = value.split_whitespace();
    let tag = parts.next()?.parse().ok()?;
    let suite = SrtpSuite::parse(parts.next()?);
    Some(Crypto { tag, suite })
}

/// `<port> [IN IP4|IP6 <address>]`.
fn rtcp(value: &str, media_index: usize) -> Option<RtcpAttribute> {
    let mut parts = value.split_whitespace();
    let port = parts.next()?.parse().ok()?;
    let connection = match (parts.next(), parts.next(), parts.next()) {
        (Some(nettype), Some(addrtype), Some(address)) => connection(
            &sdp_types::Connection {
                nettype: nettype.into(),
                addrtype: addrtype.into(),
                connection_address: address.to_owned(),
            },
            Some(media_index),
        )
        .ok(),
        _ => None,
    };
    Some(RtcpAttribute { port, connection })
}

fn media(
    index: usize,
    m: &sdp_types::Media,
    session_connection: Option<&Connection>,
    session_direction: Option<Direction>,
) -> Result<MediaDescription, SdpError> {
    let kind = MediaKind::from_media_type(&m.media);
    let protocol = Protocol::parse(m.proto.trim());
    let fmt: Vec<String> = m.fmt.split_whitespace().map(str::to_owned).collect();
    if fmt.is_empty() {
        return Err(SdpError::malformed(
            None,
            format!("m-line {} has no formats", index + 1),
        ));
    }

    let attrs = &m.attributes;
    let mut formats = Vec::new();
    if protocol.is_rtp() {
        let maps: Vec<(u8, Encoding)> = values(attrs, "rtpmap")
            .into_iter()
            .filter_map(rtpmap)
            .collect();
        let fmtps: Vec<(u8, FormatParameters)> =
            values(attrs, "fmtp").into_iter().filter_map(fmtp).collect();
        for token in &fmt {
            let payload_type = token
                .parse::<u8>()
                .ok()
                .filter(|pt| *pt <= 127)
                .ok_or_else(|| {
                    SdpError::malformed(
                        None,
                        format!(
                            "m-line {} format {token:?} is not an RTP payload type",
                            index + 1
                        ),
                    )
                })?;
            let encoding = maps
                .iter()
                .find(|(pt, _)| *pt == payload_type)
                .map(|(_, e)| e.clone())
                .or_else(|| {
                    (payload_type < 96)
                        .then(|| Codec::static_encoding(payload_type))
                        .flatten()
                });
            let codec = encoding
                .as_ref()
                .and_then(|e| Codec::from_encoding(&e.name, e.clock_rate));
            let fmtp = fmtps
                .iter()
                .find(|(pt, _)| *pt == payload_type)
                .map(|(_, p)| p.clone());
            formats.push(PayloadFormat {
                payload_type,
                encoding,
                codec,
                fmtp,
            });
        }
    }

    let connection = match m.connections.first() {
        Some(c) => Some(connection(c, Some(index))?),
        None => session_connection.cloned(),
    };
    for extra in m.connections.iter().skip(1) {
        connection_check(extra, index)?;
    }
    if m.port != 0 && connection.is_none() {
        return Err(SdpError::malformed(
            None,
            format!(
                "m-line {} has no connection address (no c= line at media or session level)",
                index + 1
            ),
        ));
    }

    let first = |name: &str| values(attrs, name).into_iter().next();
    Ok(MediaDescription {
        index,
        kind,
        media_type: m.media.clone(),
        port: m.port,
        num_ports: m.num_ports,
        protocol,
        proto: m.proto.clone(),
        fmt,
        formats,
        connection,
        bandwidths: m.bandwidths.iter().map(Bandwidth::parse_model).collect(),
        direction: direction_of(attrs)
            .or(session_direction)
            .unwrap_or_default(),
        ptime: first("ptime").and_then(milliseconds),
        maxptime: first("maxptime").and_then(milliseconds),
        crypto: values(attrs, "crypto")
            .into_iter()
            .filter_map(crypto)
            .collect(),
        rtcp_mux: has_flag(attrs, "rtcp-mux"),
        rtcp: first("rtcp").and_then(|v| rtcp(v, index)),
        mid: first("mid").filter(|v| !v.is_empty()).map(str::to_owned),
    })
}

fn connection_check(c: &sdp_types::Connection, index: usize) -> Result<(), SdpError> {
    connection(c, Some(index)).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::BandwidthKind;

    const SIPP_UAC: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n\
s=-\r\n\
c=IN IP4 127.0.1.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn parse_keeps_the_exact_bytes() {
        let lf_only = SIPP_UAC.replace("\r\n", "\n");
        let d = SessionDescription::parse(lf_only.as_bytes()).expect("valid");
        assert_eq!(d.as_bytes(), lf_only.as_bytes());
        assert_ne!(d.canonical_bytes(), lf_only.as_bytes());
    }

    #[test]
    fn typed_view_of_a_simple_offer() {
        let d = SessionDescription::parse(SIPP_UAC.as_bytes()).expect("valid");
        assert_eq!(d.session_version(), 2353687637);
        let m = &d.media()[0];
        assert_eq!(m.kind, MediaKind::Audio);
        assert_eq!(m.port, 6000);
        assert_eq!(m.protocol, Protocol::RtpAvp);
        assert_eq!(m.direction, Direction::SendRecv);
        assert_eq!(
            m.connection.as_ref().and_then(Connection::ip),
            Some("127.0.1.1".parse().expect("literal"))
        );
        assert_eq!(m.formats.len(), 1);
        assert_eq!(m.formats[0].codec, Some(Codec::Pcmu));
    }

    #[test]
    fn static_payload_types_need_no_rtpmap_and_dynamic_ones_do() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 18 3 96\r\n";
        let d = SessionDescription::parse(sdp.as_bytes()).expect("valid");
        let f = &d.media()[0].formats;
        assert_eq!(f[0].codec, Some(Codec::G729));
        assert_eq!(f[1].codec, Some(Codec::Gsm));
        assert_eq!(f[2].codec, None);
        assert_eq!(f[2].encoding, None);
    }

    #[test]
    fn media_level_attributes_override_session_level_ones() {
        let sdp = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nb=AS:200\r\n\
t=0 0\r\na=sendonly\r\n\
m=audio 4000 RTP/AVP 0\r\n\
m=audio 4002 RTP/AVP 0\r\nc=IN IP6 2001:db8::2\r\nb=TIAS:64000\r\na=inactive\r\na=ptime:30\r\n";
        let d = SessionDescription::parse(sdp.as_bytes()).expect("valid");
        assert_eq!(d.bandwidths()[0].kind, BandwidthKind::As);
        assert_eq!(d.bandwidths()[0].bits_per_second(), Some(200_000));
        let [a, b] = d.media() else {
            panic!("two m-lines expected")
        };
        assert_eq!(a.direction, Direction::SendOnly);
        assert_eq!(b.direction, Direction::Inactive);
        assert_eq!(
            a.connection.as_ref().map(|c| c.family),
            Some(AddressFamily::Ipv6)
        );
        assert_eq!(
            b.connection.as_ref().and_then(Connection::ip),
            Some("2001:db8::2".parse().expect("literal"))
        );
        assert_eq!(b.bandwidth_bps(&BandwidthKind::Tias), Some(64_000));
        assert_eq!(a.ptime, None);
        assert_eq!(b.ptime, Some(30));
    }

    #[test]
    fn enabled_stream_without_connection_is_malformed() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let e = SessionDescription::parse(sdp.as_bytes()).expect_err("no c=");
        assert_eq!(e.status_code(), 400);
        // A disabled stream needs no address.
        let sdp = sdp.replace("audio 4000", "audio 0");
        assert!(SessionDescription::parse(sdp.as_bytes()).is_ok());
    }

    #[test]
    fn non_numeric_rtp_format_is_malformed_but_other_protocols_keep_tokens() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP PCMU\r\n";
        assert_eq!(
            SessionDescription::parse(sdp.as_bytes())
                .expect_err("bad fmt")
                .status_code(),
            400
        );
        let sdp = sdp.replace("RTP/AVP PCMU", "udptl t38");
        let d = SessionDescription::parse(sdp.as_bytes()).expect("valid");
        assert_eq!(d.media()[0].protocol, Protocol::Other);
        assert_eq!(d.media()[0].fmt, vec!["t38".to_owned()]);
    }

    #[test]
    fn connection_address_must_match_its_family() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 2001:db8::1\r\nt=0 0\r\n";
        assert!(SessionDescription::parse(sdp.as_bytes()).is_err());
        let sdp = sdp.replace("2001:db8::1", "media.example.com");
        let d = SessionDescription::parse(sdp.as_bytes()).expect("FQDN is legal");
        assert_eq!(
            d.connection().map(|c| &c.host),
            Some(&Host::Name("media.example.com".into()))
        );
        let sdp = sdp.replace("media.example.com", "224.2.1.1/127/3");
        let d = SessionDescription::parse(sdp.as_bytes()).expect("multicast with ttl");
        assert_eq!(
            d.connection().and_then(Connection::ip),
            Some("224.2.1.1".parse().expect("literal"))
        );
    }

    #[test]
    fn garbled_attribute_values_are_ignored() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 101\r\na=ptime:x\r\na=rtpmap:101 telephone-event\r\na=maxptime:20.0\r\n";
        let d = SessionDescription::parse(sdp.as_bytes()).expect("valid");
        let m = &d.media()[0];
        assert_eq!(m.ptime, None);
        assert_eq!(m.maxptime, Some(20));
        assert_eq!(m.formats[1].encoding, None);
    }

    #[test]
    fn fmtp_parameters_of_interest_are_typed() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 111 18 101 100\r\na=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 useinbandfec=1; maxaveragebitrate=24000\r\na=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15,66\r\n\
a=rtpmap:100 telephone-event/48000\r\n";
        let d = SessionDescription::parse(sdp.as_bytes()).expect("valid");
        let f = &d.media()[0].formats;
        assert_eq!(f[0].opus_max_average_bitrate(), Some(24_000));
        assert_eq!(f[1].g729_annexb(), Some(false));
        assert_eq!(
            f[2].telephone_events().map(|e| e.to_string()).as_deref(),
            Some("0-15,66")
        );
        // Without fmtp, RFC 4733 implies 0-15; without annexb, RFC 4856 implies yes.
        assert_eq!(
            f[3].telephone_events().map(|e| e.to_string()).as_deref(),
            Some("0-15")
        );
        assert_eq!(f[0].g729_annexb(), None);
        assert_eq!(f[1].opus_max_average_bitrate(), None);
        let plain_g729 = sdp.replace("a=fmtp:18 annexb=no\r\n", "");
        let d = SessionDescription::parse(plain_g729.as_bytes()).expect("valid");
        assert_eq!(d.media()[0].formats[1].g729_annexb(), Some(true));
    }

    #[test]
    fn from_model_writes_and_reparses() {
        let d = SessionDescription::parse(SIPP_UAC.as_bytes()).expect("valid");
        let mut model = d.clone().into_model();
        model.medias[0].port = 7000;
        let e = SessionDescription::from_model(&model).expect("still valid");
        assert_eq!(e.media()[0].port, 7000);
        assert!(
            String::from_utf8_lossy(e.as_bytes()).contains("m=audio 7000 RTP/AVP 0\r\n"),
            "{e}"
        );
    }
}
