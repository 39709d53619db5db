//! Offer/answer decisions (RFC 3264): which streams we accept, with which codec, in which
//! direction — without any address or port, so the bandwidth manager can weigh the
//! outcome before a media handler is chosen.

use crate::codec::{Codec, EventSet, FormatParameters};
use crate::description::SessionDescription;
use crate::error::SdpError;
use crate::view::{Connection, Direction, MediaDescription, MediaKind, PayloadFormat, Protocol};

/// Whose codec order decides when several offered codecs are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preference {
    /// The offerer's order (the m-line order), as RFC 3264 §6.1 suggests. Default.
    #[default]
    Offerer,
    /// Our order (the order of [`Capabilities::audio`] / [`Capabilities::video`]).
    Ours,
}

/// What our side can do when answering an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Audio codecs we can use, in our order of preference (no auxiliary formats here).
    pub audio: Vec<Codec>,
    /// Video codecs we can relay; empty rejects video streams.
    pub video: Vec<Codec>,
    /// Whether we accept RFC 4733 telephone-event alongside the audio codec.
    pub telephone_event: bool,
    /// The telephone events we handle; the answer carries their intersection with the
    /// offer's.
    pub events: EventSet,
    /// Whether we accept RFC 3389 comfort noise.
    pub comfort_noise: bool,
    /// Whose preference picks among acceptable codecs.
    pub preference: Preference,
    /// What our side wants to do: `sendrecv`, or `sendonly`/`inactive` when we hold.
    pub local_direction: Direction,
    /// Whether SDES-SRTP (`RTP/SAVP(F)` with `a=crypto`) is accepted. The answer
    /// builder has no keys, so this stays `false` until the media handler does SRTP.
    pub srtp: bool,
    /// Whether `a=rtcp-mux` is accepted when offered.
    pub rtcp_mux: bool,
    /// Whether G.729 Annex B (silence suppression) is accepted; if not, the answer says
    /// `annexb=no`.
    pub g729_annexb: bool,
    /// Caps Opus with `maxaveragebitrate` in the answer (bit/s), e.g. when the bandwidth
    /// manager degrades a call.
    pub opus_max_average_bitrate: Option<u32>,
    /// Rejects every video stream with [`RejectReason::Dropped`] (degradation).
    pub drop_video: bool,
    /// How many streams of each kind (audio, video) we accept; later ones are rejected
    /// with [`RejectReason::ExtraStream`].
    pub max_streams_per_kind: usize,
}

impl Capabilities {
    /// Audio only with the given codecs, telephone-event 0-16, the offerer's preference,
    /// `sendrecv`, no SRTP, no rtcp-mux: what a media handler doing G.711 answers with.
    pub fn audio(codecs: &[Codec]) -> Capabilities {
        Capabilities {
            audio: codecs.to_vec(),
            video: Vec::new(),
            telephone_event: true,
            events: EventSet::parse("0-16").expect("invariant: literal event range is valid"),
            comfort_noise: false,
            preference: Preference::Offerer,
            local_direction: Direction::SendRecv,
            srtp: false,
            rtcp_mux: false,
            g729_annexb: false,
            opus_max_average_bitrate: None,
            drop_video: false,
            max_streams_per_kind: 1,
        }
    }

    fn codecs_for(&self, kind: MediaKind) -> &[Codec] {
        match kind {
            MediaKind::Audio => &self.audio,
            MediaKind::Video => &self.video,
            MediaKind::Other => &[],
        }
    }
}

/// Why a stream is answered with port 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The offerer disabled it (port 0 in the offer).
    DisabledByOfferer,
    /// The answerer rejected it (port 0 in an answer to our offer).
    RejectedByAnswerer,
    /// A media type we do not handle (`image`, `application`, or video without video
    /// codecs).
    UnsupportedMedia,
    /// A transport we do not handle (SRTP, DTLS-SRTP, non-RTP); carries the protocol.
    UnsupportedTransport(String),
    /// None of the offered codecs is one we can use.
    NoCommonCodec,
    /// More streams of this kind than [`Capabilities::max_streams_per_kind`].
    ExtraStream,
    /// Dropped on purpose, e.g. video shed by the bandwidth manager.
    Dropped,
}

/// A payload format chosen for a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedFormat {
    /// The codec.
    pub codec: Codec,
    /// The payload type the remote side puts on packets it sends to us (the number in
    /// the SDP *we* wrote).
    pub recv_payload_type: u8,
    /// The payload type we put on packets we send to the remote side (the number in the
    /// SDP *it* wrote). Equal to `recv_payload_type` when we answer, since the answer
    /// reuses the offer's numbers.
    pub send_payload_type: u8,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// The rtpmap channel count.
    pub channels: u16,
    /// The format parameters in the SDP we wrote (what we ask to receive).
    pub local_fmtp: Option<FormatParameters>,
    /// The format parameters in the SDP the remote side wrote.
    pub remote_fmtp: Option<FormatParameters>,
}

/// A stream both sides will use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedStream {
    /// The m-line position.
    pub index: usize,
    /// Audio or video.
    pub kind: MediaKind,
    /// The transport protocol (as offered).
    pub protocol: Protocol,
    /// The codec.
    pub codec: SelectedFormat,
    /// RFC 4733 events, when both sides do them at the codec's clock rate.
    pub telephone_event: Option<SelectedFormat>,
    /// Comfort noise, when both sides do it.
    pub comfort_noise: Option<SelectedFormat>,
    /// Our direction, as written in our SDP.
    pub direction: Direction,
    /// The packetisation time to use (ms), when either SDP named one.
    pub ptime: Option<u32>,
    /// Where the remote side receives RTP: its connection address.
    pub remote_connection: Option<Connection>,
    /// Where the remote side receives RTP: its port.
    pub remote_port: u16,
    /// RTCP on the RTP port (both sides agreed to `a=rtcp-mux`).
    pub rtcp_mux: bool,
    /// The `a=mid` of the offer, echoed in the answer.
    pub mid: Option<String>,
}

/// A stream answered with port 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedStream {
    /// The m-line position.
    pub index: usize,
    /// Its media kind.
    pub kind: MediaKind,
    /// Why.
    pub reason: RejectReason,
}

/// The outcome for one m-line.
// A handful of these exist per call and they are matched on often; boxing the larger
// variant would cost clarity for no measurable gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOutcome {
    /// Media flows (in at least one direction, or the stream is inactive).
    Accepted(AcceptedStream),
    /// Port 0.
    Rejected(RejectedStream),
}

impl StreamOutcome {
    /// The accepted stream, if this one is.
    pub fn accepted(&self) -> Option<&AcceptedStream> {
        match self {
            StreamOutcome::Accepted(a) => Some(a),
            StreamOutcome::Rejected(_) => None,
        }
    }

    /// The m-line position.
    pub fn index(&self) -> usize {
        match self {
            StreamOutcome::Accepted(a) => a.index,
            StreamOutcome::Rejected(r) => r.index,
        }
    }
}

/// The decisions for every m-line of an offer, in m-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    /// One outcome per m-line of the offer.
    pub streams: Vec<StreamOutcome>,
}

impl Negotiation {
    /// The accepted streams.
    pub fn accepted(&self) -> impl Iterator<Item = &AcceptedStream> {
        self.streams.iter().filter_map(StreamOutcome::accepted)
    }

    /// The first accepted audio stream (the call's voice).
    pub fn audio(&self) -> Option<&AcceptedStream> {
        self.accepted().find(|s| s.kind == MediaKind::Audio)
    }
}

/// Decides the answer to `offer` given what we can do (RFC 3264 §6).
///
/// Every m-line gets an outcome. Fails with a 488-class [`SdpError`] when no audio
/// stream can be accepted: [`SdpError::NoCommonCodec`] when an audio stream was usable
/// but shared no codec, [`SdpError::IncompatibleTransport`] when audio came only over a
/// transport we do not do, else [`SdpError::NoAcceptableStream`].
pub fn negotiate(offer: &SessionDescription, caps: &Capabilities) -> Result<Negotiation, SdpError> {
    let mut taken = [0usize; 2];
    let mut streams = Vec::with_capacity(offer.media().len());
    for m in offer.media() {
        let outcome = match decide(m, caps) {
            Ok(accepted) => {
                let slot = usize::from(m.kind == MediaKind::Video);
                if taken[slot] >= caps.max_streams_per_kind {
                    reject(m, RejectReason::ExtraStream)
                } else {
                    taken[slot] += 1;
                    StreamOutcome::Accepted(accepted)
                }
            }
            Err(reason) => reject(m, reason),
        };
        streams.push(outcome);
    }
    let negotiation = Negotiation { streams };
    if negotiation.audio().is_some() {
        return Ok(negotiation);
    }
    let audio_reasons = negotiation.streams.iter().filter_map(|s| match s {
        StreamOutcome::Rejected(r) if r.kind == MediaKind::Audio => Some(&r.reason),
        _ => None,
    });
    let mut transport = None;
    for reason in audio_reasons {
        match reason {
            RejectReason::NoCommonCodec => {
                return Err(SdpError::NoCommonCodec {
                    offered: offered_audio(offer),
                });
            }
            RejectReason::UnsupportedTransport(proto) => transport = Some(proto.clone()),
            _ => {}
        }
    }
    Err(match transport {
        Some(proto) => SdpError::IncompatibleTransport { proto },
        None => SdpError::NoAcceptableStream,
    })
}

fn offered_audio(offer: &SessionDescription) -> String {
    offer
        .media()
        .iter()
        .filter(|m| m.kind == MediaKind::Audio && m.is_enabled())
        .flat_map(|m| m.formats.iter().map(PayloadFormat::label))
        .collect::<Vec<_>>()
        .join(" ")
}

fn reject(m: &MediaDescription, reason: RejectReason) -> StreamOutcome {
    StreamOutcome::Rejected(RejectedStream {
        index: m.index,
        kind: m.kind,
        reason,
    })
}

fn decide(m: &MediaDescription, caps: &Capabilities) -> Result<AcceptedStream, RejectReason> {
    if !m.is_enabled() {
        return Err(RejectReason::DisabledByOfferer);
    }
    match m.kind {
        MediaKind::Other => return Err(RejectReason::UnsupportedMedia),
        MediaKind::Video if caps.drop_video => return Err(RejectReason::Dropped),
        MediaKind::Video if caps.video.is_empty() => return Err(RejectReason::UnsupportedMedia),
        _ => {}
    }
    let transport_ok = match m.protocol {
        Protocol::RtpAvp | Protocol::RtpAvpf => true,
        Protocol::RtpSavp | Protocol::RtpSavpf => caps.srtp && !m.crypto.is_empty(),
        Protocol::UdpTlsRtpSavp | Protocol::UdpTlsRtpSavpf | Protocol::Other => false,
    };
    if !transport_ok {
        return Err(RejectReason::UnsupportedTransport(m.proto.clone()));
    }

    let ours = caps.codecs_for(m.kind);
    let usable = |f: &&PayloadFormat| {
        f.codec
            .is_some_and(|c| !c.is_auxiliary() && c.kind() == m.kind && ours.contains(&c))
    };
    let chosen = match caps.preference {
        Preference::Offerer => m.formats.iter().find(usable),
        Preference::Ours => m
            .formats
            .iter()
            .filter(usable)
            .min_by_key(|f| ours.iter().position(|c| Some(*c) == f.codec)),
    }
    .ok_or(RejectReason::NoCommonCodec)?;
    let codec = answer_format(chosen, caps)
        .expect("invariant: `usable` only passes formats that have a codec and an encoding");
    let clock_rate = codec.clock_rate;

    let telephone_event = (caps.telephone_event && m.kind == MediaKind::Audio)
        .then(|| {
            m.formats.iter().find_map(|f| {
                (f.codec == Some(Codec::TelephoneEvent) && f.clock_rate() == Some(clock_rate))
                    .then(|| answer_events(f, &caps.events))
                    .flatten()
            })
        })
        .flatten();
    let comfort_noise = (caps.comfort_noise && m.kind == MediaKind::Audio)
        .then(|| {
            m.formats.iter().find(|f| {
                f.codec == Some(Codec::ComfortNoise) && f.clock_rate() == Some(clock_rate)
            })
        })
        .flatten()
        .and_then(|f| answer_format(f, caps));

    Ok(AcceptedStream {
        index: m.index,
        kind: m.kind,
        protocol: m.protocol,
        codec,
        telephone_event,
        comfort_noise,
        direction: Direction::answer_to(m.direction, caps.local_direction),
        ptime: m.ptime,
        remote_connection: m.connection.clone(),
        remote_port: m.port,
        rtcp_mux: m.rtcp_mux && caps.rtcp_mux,
        mid: m.mid.clone(),
    })
}

/// The format as we answer it: the offer's payload type and encoding, with our fmtp.
fn answer_format(f: &PayloadFormat, caps: &Capabilities) -> Option<SelectedFormat> {
    let codec = f.codec?;
    let encoding = f.encoding.as_ref()?;
    let local_fmtp = match codec {
        Codec::Opus => caps.opus_max_average_bitrate.map(|cap| {
            let offered = f.opus_max_average_bitrate();
            let rate = offered.map_or(cap, |o| o.min(cap)).to_string();
            FormatParameters::from_pairs([("maxaveragebitrate", rate.as_str())])
        }),
        Codec::G729 => {
            let offered_no = f.g729_annexb() == Some(false);
            (!caps.g729_annexb || offered_no)
                .then(|| FormatParameters::from_pairs([("annexb", "no")]))
        }
        Codec::ComfortNoise => None,
        // Codec-specific modes (iLBC mode, AMR octet-align, H.264 profile and
        // packetization-mode) must match, so echo what was offered.
        _ => f.fmtp.clone(),
    };
    Some(SelectedFormat {
        codec,
        recv_payload_type: f.payload_type,
        send_payload_type: f.payload_type,
        clock_rate: encoding.clock_rate,
        channels: encoding.channels,
        local_fmtp,
        remote_fmtp: f.fmtp.clone(),
    })
}

/// telephone-event with the events both sides handle; `None` when there are none.
fn answer_events(f: &PayloadFormat, ours: &EventSet) -> Option<SelectedFormat> {
    let offered = f.telephone_events()?;
    let common = offered.intersect(ours);
    if common.is_empty() {
        return None;
    }
    let encoding = f.encoding.as_ref()?;
    Some(SelectedFormat {
        codec: Codec::TelephoneEvent,
        recv_payload_type: f.payload_type,
        send_payload_type: f.payload_type,
        clock_rate: encoding.clock_rate,
        channels: 1,
        local_fmtp: Some(FormatParameters::parse(&common.to_string())),
        remote_fmtp: f.fmtp.clone(),
    })
}

/// Reads the answer to an offer we made (RFC 3264 §6 from the offerer's side): which
/// streams the answerer accepted, the codec it picked (the first format of its m-line
/// that we offered), and the resulting directions.
///
/// An answer with fewer m-lines than the offer (a phone that drops the video line it
/// does not understand) has the missing trailing streams rejected.
///
/// Fails with [`SdpError::AnswerMismatch`] when the answer does not fit the offer (more
/// m-lines, a media type differs, or an accepted stream names no format we offered), and
/// with [`SdpError::NoAcceptableStream`] when the answerer rejected every stream.
pub fn process_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Negotiation, SdpError> {
    // RFC 3264 §6 wants one m-line per offered one; a phone that knows nothing of
    // video often answers an audio+video offer with its audio line alone. Missing
    // trailing lines are taken as rejected; extra lines are a mismatch.
    if offer.media().len() < answer.media().len() {
        return Err(SdpError::AnswerMismatch {
            reason: format!(
                "the offer has {} m-lines, the answer {}",
                offer.media().len(),
                answer.media().len()
            ),
        });
    }
    let mut streams = Vec::with_capacity(offer.media().len());
    for (o, a) in offer.media().iter().zip(answer.media()) {
        if !o.media_type.eq_ignore_ascii_case(&a.media_type) {
            return Err(SdpError::AnswerMismatch {
                reason: format!(
                    "m-line {} was offered as {} and answered as {}",
                    o.index + 1,
                    o.media_type,
                    a.media_type
                ),
            });
        }
        if !o.is_enabled() {
            streams.push(reject(o, RejectReason::DisabledByOfferer));
            continue;
        }
        if !a.is_enabled() {
            streams.push(reject(o, RejectReason::RejectedByAnswerer));
            continue;
        }
        if !o.protocol.is_rtp() {
            streams.push(reject(
                o,
                RejectReason::UnsupportedTransport(o.proto.clone()),
            ));
            continue;
        }
        streams.push(StreamOutcome::Accepted(answered(o, a)?));
    }
    for o in &offer.media()[answer.media().len()..] {
        streams.push(reject(
            o,
            if o.is_enabled() {
                RejectReason::RejectedByAnswerer
            } else {
                RejectReason::DisabledByOfferer
            },
        ));
    }
    let negotiation = Negotiation { streams };
    if negotiation.accepted().next().is_none() {
        return Err(SdpError::NoAcceptableStream);
    }
    Ok(negotiation)
}

/// Pairs an answer format with the offered one for the same codec and clock rate,
/// preferring the same payload type number.
fn pair<'a>(o: &'a MediaDescription, af: &PayloadFormat) -> Option<&'a PayloadFormat> {
    let codec = af.codec?;
    let clock = af.clock_rate()?;
    let same = |f: &&PayloadFormat| f.codec == Some(codec) && f.clock_rate() == Some(clock);
    o.formats
        .iter()
        .filter(same)
        .find(|f| f.payload_type == af.payload_type)
        .or_else(|| o.formats.iter().find(same))
}

fn selected(of: &PayloadFormat, af: &PayloadFormat) -> Option<SelectedFormat> {
    Some(SelectedFormat {
        codec: af.codec?,
        recv_payload_type: of.payload_type,
        send_payload_type: af.payload_type,
        clock_rate: af.clock_rate()?,
        channels: af.encoding.as_ref().map_or(1, |e| e.channels),
        local_fmtp: of.fmtp.clone(),
        remote_fmtp: af.fmtp.clone(),
    })
}

fn answered(o: &MediaDescription, a: &MediaDescription) -> Result<AcceptedStream, SdpError> {
    let codec = a
        .formats
        .iter()
        .filter(|f| f.codec.is_some_and(|c| !c.is_auxiliary()))
        .find_map(|af| pair(o, af).and_then(|of| selected(of, af)))
        .ok_or_else(|| SdpError::AnswerMismatch {
            reason: format!(
                "m-line {} answers with no codec that was offered ({})",
                o.index + 1,
                a.fmt.join(" ")
            ),
        })?;
    let aux = |want: Codec| {
        a.formats.iter().find_map(|af| {
            (af.codec == Some(want) && af.clock_rate() == Some(codec.clock_rate))
                .then(|| pair(o, af).and_then(|of| selected(of, af)))
                .flatten()
        })
    };
    Ok(AcceptedStream {
        index: o.index,
        kind: o.kind,
        protocol: o.protocol,
        telephone_event: aux(Codec::TelephoneEvent),
        comfort_noise: aux(Codec::ComfortNoise),
        codec,
        direction: Direction::from_flags(
            o.direction.sends() && a.direction.receives(),
            o.direction.receives() && a.direction.sends(),
        ),
        ptime: a.ptime.or(o.ptime),
        remote_connection: a.connection.clone(),
        remote_port: a.port,
        rtcp_mux: o.rtcp_mux && a.rtcp_mux,
        mid: o.mid.clone(),
    })
}
