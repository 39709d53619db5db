//! Writing our own SDP: answers to offers, offers to agent phones, and the `o=` line
//! bookkeeping that goes with re-offers (RFC 3264 §8).

use std::net::IpAddr;

use crate::codec::{Codec, EventSet, FormatParameters};
use crate::description::SessionDescription;
use crate::error::SdpError;
use crate::negotiate::{AcceptedStream, Negotiation, SelectedFormat, StreamOutcome};
use crate::view::{AddressFamily, Bandwidth, Direction, MediaKind, Protocol};

/// Our side of one SDP session (one dialog): the `o=` line's identity and version, and
/// the last description sent, so the version moves exactly when the content does.
///
/// RFC 3264 §8: a new offer or answer in the same session keeps the `o=` line except for
/// the version, which increments by one when the description changes and stays the same
/// when it is identical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSession {
    username: String,
    session_id: u64,
    version: u64,
    address: IpAddr,
    session_name: String,
    last: Option<sdp_types::Session>,
}

impl LocalSession {
    /// A new session. `session_id` should come from the caller's seeded RNG (style habit
    /// 3); the first description carries `version`.
    pub fn new(session_id: u64, version: u64, address: IpAddr) -> LocalSession {
        LocalSession {
            username: "switchboard".to_owned(),
            session_id,
            version,
            address,
            session_name: "switchboard".to_owned(),
            last: None,
        }
    }

    /// The `o=` username (default `switchboard`).
    pub fn with_username(mut self, username: &str) -> LocalSession {
        self.username = username.to_owned();
        self
    }

    /// The `s=` line (default `switchboard`).
    pub fn with_session_name(mut self, name: &str) -> LocalSession {
        self.session_name = name.to_owned();
        self
    }

    /// The version the last description carried (or the first will carry).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The `o=` session id.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// Stamps `model` with our `o=` and `s=` lines, bumping the version if the content
    /// differs from the last description stamped, and builds the description.
    pub fn stamp(&mut self, mut model: sdp_types::Session) -> Result<SessionDescription, SdpError> {
        model.session_name = self.session_name.clone();
        model.origin = sdp_types::Origin {
            username: Some(self.username.clone()),
            sess_id: self.session_id.to_string(),
            sess_version: 0,
            nettype: sdp_types::NetType::In,
            addrtype: addrtype(self.address),
            unicast_address: self.address.to_string(),
        };
        match &self.last {
            Some(last) if *last == model => {}
            Some(_) => self.version = self.version.wrapping_add(1),
            None => {}
        }
        self.last = Some(model.clone());
        model.origin.sess_version = self.version;
        SessionDescription::from_model(&model)
    }
}

fn addrtype(ip: IpAddr) -> sdp_types::AddrType {
    match AddressFamily::of(ip) {
        AddressFamily::Ipv4 => sdp_types::AddrType::Ip4,
        AddressFamily::Ipv6 => sdp_types::AddrType::Ip6,
    }
}

fn empty_session() -> sdp_types::Session {
    sdp_types::Session {
        origin: sdp_types::Origin::with_ip_addr("0", 0, std::net::Ipv4Addr::UNSPECIFIED),
        session_name: String::new(),
        session_description: None,
        uri: None,
        emails: Vec::new(),
        phones: Vec::new(),
        connection: None,
        bandwidths: Vec::new(),
        times: vec![sdp_types::Time::new(0, 0)],
        time_zones: Vec::new(),
        key: None,
        attributes: Vec::new(),
        medias: Vec::new(),
    }
}

fn media_line(media_type: &str, port: u16, proto: &str, fmt: String) -> sdp_types::Media {
    sdp_types::Media {
        media: media_type.to_owned(),
        port,
        num_ports: None,
        proto: proto.to_owned(),
        fmt,
        media_title: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    }
}

fn attr(m: &mut sdp_types::Media, name: &str, value: Option<String>) {
    m.attributes.push(sdp_types::Attribute {
        attribute: name.to_owned(),
        value,
    });
}

fn rtpmap_value(pt: u8, codec: Codec, clock_rate: u32, channels: u16) -> String {
    let mut v = format!("{pt} {}/{clock_rate}", codec.encoding_name());
    if channels > 1 || codec.rtpmap_channels().is_some() {
        v.push_str(&format!("/{}", codec.rtpmap_channels().unwrap_or(channels)));
    }
    v
}

fn push_format(m: &mut sdp_types::Media, f: &SelectedFormat) {
    attr(
        m,
        "rtpmap",
        Some(rtpmap_value(
            f.recv_payload_type,
            f.codec,
            f.clock_rate,
            f.channels,
        )),
    );
    if let Some(p) = f.local_fmtp.as_ref().filter(|p| !p.raw().is_empty()) {
        attr(
            m,
            "fmtp",
            Some(format!("{} {}", f.recv_payload_type, p.raw())),
        );
    }
}

/// Where our media handler receives media for an answer: the connection address and one
/// port per m-line of the offer (the value for rejected m-lines is not used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// The media handler's media address (`c=`).
    pub address: IpAddr,
    /// RTP ports by m-line position.
    pub ports: Vec<u16>,
}

/// Builds the answer to `offer` from the decisions in `negotiation` (RFC 3264 §6): the
/// same m-lines in the same order, accepted ones on our address and ports with the
/// chosen codec (plus telephone-event and CN where agreed), rejected ones with port 0,
/// the offer's `t=` line and `a=ptime`, and our direction on every m-line.
///
/// Fails with [`SdpError::InvalidArgument`] when `negotiation` is not for this offer or
/// an accepted m-line has no port (or port 0) in `local`.
pub fn build_answer(
    offer: &SessionDescription,
    negotiation: &Negotiation,
    local: &LocalMedia,
    session: &mut LocalSession,
) -> Result<SessionDescription, SdpError> {
    if negotiation.streams.len() != offer.media().len() {
        return Err(SdpError::InvalidArgument {
            reason: "the negotiation is for another offer".to_owned(),
        });
    }
    let mut model = empty_session();
    if !offer.model().times.is_empty() {
        model.times = offer.model().times.clone();
    }
    model.connection = Some(sdp_types::Connection::from_ip_addr(local.address));
    for (m, outcome) in offer.media().iter().zip(&negotiation.streams) {
        if outcome.index() != m.index {
            return Err(SdpError::InvalidArgument {
                reason: "the negotiation's streams are out of order".to_owned(),
            });
        }
        let line = match outcome {
            StreamOutcome::Rejected(_) => {
                // RFC 3264 §6: a rejected m-line still lists at least one format.
                let fmt = m.fmt.first().cloned().unwrap_or_else(|| "0".to_owned());
                let mut line = media_line(&m.media_type, 0, &m.proto, fmt);
                if let Some(mid) = &m.mid {
                    attr(&mut line, "mid", Some(mid.clone()));
                }
                line
            }
            StreamOutcome::Accepted(s) => {
                let port = local
                    .ports
                    .get(m.index)
                    .copied()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| SdpError::InvalidArgument {
                        reason: format!("no local port for m-line {}", m.index + 1),
                    })?;
                accepted_line(&m.media_type, &m.proto, port, s)
            }
        };
        model.medias.push(line);
    }
    session.stamp(model)
}

fn accepted_line(media_type: &str, proto: &str, port: u16, s: &AcceptedStream) -> sdp_types::Media {
    let formats: Vec<&SelectedFormat> = [
        Some(&s.codec),
        s.telephone_event.as_ref(),
        s.comfort_noise.as_ref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let fmt = formats
        .iter()
        .map(|f| f.recv_payload_type.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let mut line = media_line(media_type, port, proto, fmt);
    for f in &formats {
        push_format(&mut line, f);
    }
    if let Some(ptime) = s.ptime {
        attr(&mut line, "ptime", Some(ptime.to_string()));
    }
    if s.rtcp_mux {
        attr(&mut line, "rtcp-mux", None);
    }
    if let Some(mid) = &s.mid {
        attr(&mut line, "mid", Some(mid.clone()));
    }
    attr(&mut line, s.direction.attribute(), None);
    line
}

/// One codec to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedCodec {
    /// The codec.
    pub codec: Codec,
    /// The payload type to use; `None` picks the static type or the codec's
    /// conventional dynamic one, moving to a free number on a clash.
    pub payload_type: Option<u8>,
    /// Format parameters to write, e.g. `annexb=no` or `maxaveragebitrate=24000`.
    pub fmtp: Option<String>,
}

impl From<Codec> for OfferedCodec {
    fn from(codec: Codec) -> OfferedCodec {
        OfferedCodec {
            codec,
            payload_type: None,
            fmtp: None,
        }
    }
}

/// One m-line to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferStream {
    /// Audio or video.
    pub kind: MediaKind,
    /// Our RTP port on the media handler; 0 offers the stream disabled.
    pub port: u16,
    /// Codecs in our order of preference (auxiliary formats are added by the fields
    /// below, not listed here).
    pub codecs: Vec<OfferedCodec>,
    /// RFC 4733 events to offer: one telephone-event format per distinct clock rate of
    /// the codecs (audio only).
    pub telephone_event: Option<EventSet>,
    /// Our direction.
    pub direction: Direction,
    /// `a=ptime` to write.
    pub ptime: Option<u32>,
    /// Offer `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// `b=` lines to write on the m-line.
    pub bandwidths: Vec<Bandwidth>,
}

impl OfferStream {
    /// An audio stream with these codecs, DTMF events 0-15 and `sendrecv`.
    pub fn audio(port: u16, codecs: &[Codec]) -> OfferStream {
        OfferStream {
            kind: MediaKind::Audio,
            port,
            codecs: codecs.iter().copied().map(OfferedCodec::from).collect(),
            telephone_event: Some(EventSet::dtmf()),
            direction: Direction::SendRecv,
            ptime: None,
            rtcp_mux: false,
            bandwidths: Vec::new(),
        }
    }
}

/// What to offer: our media address and the m-lines, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferSpec {
    /// The media handler's media address.
    pub address: IpAddr,
    /// The m-lines.
    pub streams: Vec<OfferStream>,
}

/// Builds an offer (RTP/AVP), e.g. the controller's INVITE to an agent phone or a
/// re-INVITE for hold. Stamping through `session` makes a re-offer keep the `o=` line
/// and bump its version when anything changed.
///
/// Fails with [`SdpError::InvalidArgument`] for a stream without codecs, a codec of
/// the wrong kind, or a payload type clash that cannot be resolved.
pub fn build_offer(
    spec: &OfferSpec,
    session: &mut LocalSession,
) -> Result<SessionDescription, SdpError> {
    let mut model = empty_session();
    model.connection = Some(sdp_types::Connection::from_ip_addr(spec.address));
    for (i, s) in spec.streams.iter().enumerate() {
        model.medias.push(offer_line(i, s)?);
    }
    session.stamp(model)
}

fn offer_line(index: usize, s: &OfferStream) -> Result<sdp_types::Media, SdpError> {
    let invalid = |reason: String| SdpError::InvalidArgument { reason };
    let media_type = match s.kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
        MediaKind::Other => {
            return Err(invalid(format!(
                "stream {} must be audio or video",
                index + 1
            )));
        }
    };
    if s.codecs.is_empty() {
        return Err(invalid(format!("stream {} has no codecs", index + 1)));
    }
    let mut used: Vec<u8> = s.codecs.iter().filter_map(|c| c.payload_type).collect();
    let pick = |wanted: Option<u8>, codec: Codec, used: &mut Vec<u8>| -> Result<u8, SdpError> {
        let first = wanted.unwrap_or_else(|| codec.preferred_payload_type());
        let pt = if wanted.is_some() || !used.contains(&first) {
            first
        } else {
            (96..=127)
                .find(|pt| !used.contains(pt))
                .ok_or_else(|| invalid(format!("stream {} ran out of payload types", index + 1)))?
        };
        if wanted.is_none() {
            used.push(pt);
        }
        Ok(pt)
    };

    let mut formats: Vec<SelectedFormat> = Vec::new();
    for c in &s.codecs {
        if c.codec.is_auxiliary() || c.codec.kind() != s.kind {
            return Err(invalid(format!(
                "{} cannot be offered as a {} codec",
                c.codec, media_type
            )));
        }
        let pt = pick(c.payload_type, c.codec, &mut used)?;
        formats.push(offered_format(
            pt,
            c.codec,
            c.codec.default_clock_rate(),
            c.fmtp.clone(),
        ));
    }
    if let (MediaKind::Audio, Some(events)) = (s.kind, &s.telephone_event) {
        let mut clocks: Vec<u32> = formats.iter().map(|f| f.clock_rate).collect();
        clocks.dedup();
        let mut seen = Vec::new();
        for clock in clocks {
            if seen.contains(&clock) {
                continue;
            }
            seen.push(clock);
            let pt = pick(None, Codec::TelephoneEvent, &mut used)?;
            formats.push(offered_format(
                pt,
                Codec::TelephoneEvent,
                clock,
                Some(events.to_string()),
            ));
        }
    }
    let mut seen_pts: Vec<u8> = Vec::new();
    for f in &formats {
        if seen_pts.contains(&f.recv_payload_type) {
            return Err(invalid(format!(
                "payload type {} is used twice in stream {}",
                f.recv_payload_type,
                index + 1
            )));
        }
        seen_pts.push(f.recv_payload_type);
    }

    let fmt = formats
        .iter()
        .map(|f| f.recv_payload_type.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let mut line = media_line(
        media_type,
        s.port,
        Protocol::RtpAvp.as_str().unwrap_or("RTP/AVP"),
        fmt,
    );
    line.bandwidths = s
        .bandwidths
        .iter()
        .filter_map(|b| {
            let bwtype = match &b.kind {
                crate::view::BandwidthKind::As => "AS",
                crate::view::BandwidthKind::Ct => "CT",
                crate::view::BandwidthKind::Tias => "TIAS",
                crate::view::BandwidthKind::Rs => "RS",
                crate::view::BandwidthKind::Rr => "RR",
                crate::view::BandwidthKind::Other(t) => t.as_str(),
            };
            (!bwtype.is_empty()).then(|| sdp_types::Bandwidth {
                bwtype: bwtype.to_owned(),
                bandwidth: b.value,
            })
        })
        .collect();
    for f in &formats {
        push_format(&mut line, f);
    }
    if let Some(ptime) = s.ptime {
        attr(&mut line, "ptime", Some(ptime.to_string()));
    }
    if s.rtcp_mux {
        attr(&mut line, "rtcp-mux", None);
    }
    attr(&mut line, s.direction.attribute(), None);
    Ok(line)
}

fn offered_format(pt: u8, codec: Codec, clock_rate: u32, fmtp: Option<String>) -> SelectedFormat {
    SelectedFormat {
        codec,
        recv_payload_type: pt,
        send_payload_type: pt,
        clock_rate,
        channels: codec.rtpmap_channels().unwrap_or(1),
        local_fmtp: fmtp.as_deref().map(FormatParameters::parse),
        remote_fmtp: None,
    }
}
