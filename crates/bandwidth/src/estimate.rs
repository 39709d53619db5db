//! The estimate: what one contact costs a media handler, in bit/s and packets/s per
//! direction, with a per-stream breakdown. Pure functions of SDP and services.
//!
//! # The model
//!
//! All figures are at IP level: payload plus RTP (12 bytes), UDP (8) and IP (20 for
//! IPv4, 40 for IPv6) headers, plus the SRTP authentication tag on `RTP/SAVP(F)` and
//! `UDP/TLS/RTP/SAVP(F)` streams (from the first `a=crypto` suite: 10 bytes for `*_80`,
//! 4 for `*_32`, 16 for AEAD-GCM; 10 when the suite is unknown or keyed by DTLS, whose
//! mandatory profile is `SRTP_AES128_CM_HMAC_SHA1_80`). Rates are rounded up to whole
//! bit/s and whole packets/s per stream.
//!
//! **Audio.** Payload bitrate from the codec: PCMU/PCMA 64 kbit/s, G.722 64, G.729 8,
//! GSM 13.2, G.723.1 6.3, iLBC 15.2 (`mode=20`) or 13.33 (default `mode=30`), AMR 12.2,
//! AMR-WB 23.85; Opus from the smallest `maxaveragebitrate` in the SDP(s) involved,
//! else [`OPUS_DEFAULT_BPS`] (32 kbit/s, libwebrtc's default for mono speech), clamped
//! to 6–510 kbit/s (RFC 7587); any other audio format [`UNKNOWN_AUDIO_BPS`] (64 kbit/s).
//! Non-Opus codecs with more than one channel multiply. Packets carry `ptime` ms of
//! audio (`a=ptime`, else the codec's default: 30 ms for G.723.1 and iLBC, 20 ms for the
//! rest): `payload bytes = ⌈bitrate × ptime / 8000⌉`, `packets/s = ⌈1000 / ptime⌉`,
//! `bit/s = (payload + headers) × 8 × 1000 / ptime`. PCMU at 20 ms over IPv4:
//! (160 + 12 + 8 + 20) × 8 × 50 = 80,000 bit/s. Telephone-event and comfort noise are
//! negligible and not counted.
//!
//! **Video** (no transcoding, so the offer's own figures are used): media-level
//! `b=TIAS` (payload bit/s, headers added), else media-level `b=AS` (kbit/s, read as
//! IP-level per RFC 3890 §4), else the session-level `b=AS`/`b=CT` minus the audio
//! streams' IP-level rate, else [`VIDEO_DEFAULT_BPS`] payload (1 Mbit/s). Packets/s:
//! payload ÷ [`VIDEO_PACKET_PAYLOAD_BYTES`] (1,000 bytes), at least 30 (one per frame).
//!
//! **Other media** (`application`, `image`, ...) count only by their media-level
//! `b=TIAS`/`b=AS`.
//!
//! **Direction.** RTP flows only where the stream's direction says so (`sendonly`
//! from the caller's SDP means the handler only receives); `inactive` carries no RTP.
//!
//! **RTCP.** Each party's RTCP is 5% of the stream's one-way RTP rate (RFC 3550 §6.2
//! gives the whole session 5%, so this is an upper bound for a two-party call), counted
//! in both directions whatever the direction attribute says, since RTCP continues on
//! held streams. A `b=RS`/`b=RR` (RFC 3556, media level, else session level) replaces
//! it: a party that sends RTP uses `RS`, one that only receives uses `RR`, both read as
//! per-party allowances (again an upper bound). RTCP packets: 1/s per direction when
//! its rate is non-zero (the 5 s minimum interval keeps real stacks well below).
//!
//! **Services** the contact uses on the handler cost capacity too. They are
//! capacity-equivalents: the capacity figure stands for the handler's whole media
//! budget (network, encoding, disk), so work that sends no packets is still charged.
//! - `route` (bridge to an agent): a second leg mirroring the caller's, every stream
//!   (video is relayed between legs that both negotiated it). The agent leg is assumed
//!   to use the caller's codec, which the B2BUA offers first.
//! - `mix` with *n* extra participants: *n* more audio legs like the caller's.
//! - `play` (prompts, music on hold): one more one-way audio stream, charged to egress.
//! - `record`: a fork of both directions of the audio, two one-way streams, charged to
//!   egress (as if forked to a recorder; for the local WAV writer a stand-in for the
//!   decoding and disk cost).

use std::fmt;

use sdp::{
    AcceptedStream, AddressFamily, Bandwidth, BandwidthKind, Codec, Direction, MediaDescription,
    MediaKind, Negotiation, SessionDescription, StreamOutcome, bandwidth_bps,
};

/// Opus payload bitrate assumed when no `maxaveragebitrate` says otherwise, bit/s.
pub const OPUS_DEFAULT_BPS: u64 = 32_000;
/// Payload bitrate assumed for an audio format not in the codec table, bit/s.
pub const UNKNOWN_AUDIO_BPS: u64 = 64_000;
/// Video payload bitrate assumed when no `b=` line gives one, bit/s.
pub const VIDEO_DEFAULT_BPS: u64 = 1_000_000;
/// Average video RTP payload assumed for the packet rate, bytes.
pub const VIDEO_PACKET_PAYLOAD_BYTES: u64 = 1_000;
/// The RTCP share of the RTP rate, percent.
pub const RTCP_PERCENT: u64 = 5;

const RTP_HEADER: u64 = 12;
const UDP_HEADER: u64 = 8;
const MIN_VIDEO_PPS: u64 = 30;
const DEFAULT_SRTP_TAG: u8 = 10;

/// A rate in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Rate {
    /// Bits per second at IP level.
    pub bps: u64,
    /// Packets per second.
    pub pps: u64,
}

impl Rate {
    /// No traffic.
    pub const ZERO: Rate = Rate { bps: 0, pps: 0 };

    /// Kilobits per second, rounded up.
    pub fn kbps(self) -> u64 {
        self.bps.div_ceil(1000)
    }

    /// The sum of two rates.
    pub fn plus(self, other: Rate) -> Rate {
        Rate {
            bps: self.bps.saturating_add(other.bps),
            pps: self.pps.saturating_add(other.pps),
        }
    }

    /// The rate `n` times.
    pub fn times(self, n: u64) -> Rate {
        Rate {
            bps: self.bps.saturating_mul(n),
            pps: self.pps.saturating_mul(n),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} kbit/s, {} packets/s", self.kbps(), self.pps)
    }
}

/// Traffic in both directions, from the media handler's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Need {
    /// Into the handler (from the endpoint).
    pub ingress: Rate,
    /// Out of the handler (to the endpoint).
    pub egress: Rate,
}

impl Need {
    /// No traffic.
    pub const ZERO: Need = Need {
        ingress: Rate::ZERO,
        egress: Rate::ZERO,
    };

    /// The busier direction in bit/s: what a handler's capacity is compared against
    /// (capacity is a one-way link figure; links are full duplex).
    pub fn peak_bps(self) -> u64 {
        self.ingress.bps.max(self.egress.bps)
    }

    /// [`Need::peak_bps`] in kbit/s, rounded up.
    pub fn peak_kbps(self) -> u64 {
        self.peak_bps().div_ceil(1000)
    }

    /// The busier direction in packets/s.
    pub fn peak_pps(self) -> u64 {
        self.ingress.pps.max(self.egress.pps)
    }

    /// The sum of two needs, direction by direction.
    pub fn plus(self, other: Need) -> Need {
        Need {
            ingress: self.ingress.plus(other.ingress),
            egress: self.egress.plus(other.egress),
        }
    }

    /// The same traffic seen from the other end: ingress and egress swapped.
    pub fn mirrored(self) -> Need {
        Need {
            ingress: self.egress,
            egress: self.ingress,
        }
    }
}

/// Who wrote the SDP being estimated; decides which way `sendonly` points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// The endpoint (the caller's offer, an agent phone's answer): what it sends is the
    /// handler's ingress.
    Endpoint,
    /// Our side, on behalf of the handler (our answer or offer): what it sends is the
    /// handler's egress.
    Handler,
}

/// The media services a contact uses on its handler (see the module docs for costs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Services {
    /// Bridged to another leg (an agent).
    pub route: bool,
    /// Prompts or music played to the caller.
    pub play: bool,
    /// Recorded.
    pub record: bool,
    /// Extra participants mixed in (conference, supervisor barge-in).
    pub mix_participants: u8,
}

impl Services {
    /// A caller in an IVR: prompts only.
    pub const IVR: Services = Services {
        route: false,
        play: true,
        record: false,
        mix_participants: 0,
    };
    /// A caller talking to an agent.
    pub const AGENT_CALL: Services = Services {
        route: true,
        play: false,
        record: false,
        mix_participants: 0,
    };
}

/// How a stream's payload bitrate was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basis {
    /// The codec table's fixed rate.
    Codec,
    /// Opus `maxaveragebitrate` in the SDP.
    OpusFmtp,
    /// Opus without `maxaveragebitrate`: [`OPUS_DEFAULT_BPS`].
    OpusDefault,
    /// An audio format not in the table: [`UNKNOWN_AUDIO_BPS`].
    UnknownAudio,
    /// The m-line's `b=TIAS`.
    MediaTias,
    /// The m-line's `b=AS`.
    MediaAs,
    /// The session's `b=AS`/`b=CT` less the audio.
    SessionBandwidth,
    /// No figure: [`VIDEO_DEFAULT_BPS`].
    VideoDefault,
    /// A non-RTP stream without `b=`: not counted.
    NotCounted,
}

/// The estimate for one m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEstimate {
    /// The m-line position.
    pub index: usize,
    /// Audio, video or other.
    pub kind: MediaKind,
    /// The codec the estimate assumes (the stream's codec in an answer or negotiation,
    /// the first offered one in an offer).
    pub codec: Option<Codec>,
    /// Where the payload bitrate came from.
    pub basis: Basis,
    /// Payload bitrate, bit/s (for `MediaAs`/`SessionBandwidth`, the IP-level figure).
    pub payload_bps: u64,
    /// Packetisation time, ms (audio).
    pub ptime_ms: Option<u32>,
    /// IP version of the media path.
    pub family: AddressFamily,
    /// Header bytes per packet: RTP + UDP + IP + SRTP tag.
    pub overhead_bytes: u64,
    /// The SRTP tag bytes included in `overhead_bytes` (0 for plain RTP).
    pub srtp_tag_bytes: u8,
    /// One direction of RTP when flowing.
    pub rtp: Rate,
    /// RTCP each way.
    pub rtcp: Need,
    /// The stream's direction from the handler's side.
    pub direction: Direction,
    /// The stream's total, from the handler's side.
    pub need: Need,
}

/// What a contact needs from its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// Per enabled stream of the caller's leg.
    pub streams: Vec<StreamEstimate>,
    /// The caller's leg: the streams summed.
    pub leg: Need,
    /// The services charged.
    pub services: Services,
    /// What the services add.
    pub services_need: Need,
    /// Leg plus services: what the ledger reserves.
    pub total: Need,
}

/// The inputs for one stream, whatever SDP(s) they come from.
struct StreamInput<'a> {
    index: usize,
    kind: MediaKind,
    codec: Option<Codec>,
    channels: u16,
    ilbc_mode_20: bool,
    ptime: Option<u32>,
    family: AddressFamily,
    srtp_tag: Option<u8>,
    /// Handler-side direction.
    direction: Direction,
    /// `maxaveragebitrate` values in play.
    opus_caps: Vec<u64>,
    media_bandwidths: &'a [Bandwidth],
}

/// Estimates a contact from one SDP (an offer or an answer) and its services.
///
/// Each enabled m-line counts with its first real codec: in an answer the codec in use,
/// in an offer the offerer's preferred one. To estimate what *our* answer to an offer
/// will cost, use [`estimate_negotiation`], which knows the chosen codec.
pub fn estimate(sdp: &SessionDescription, author: Author, services: Services) -> Estimate {
    let inputs: Vec<StreamInput<'_>> = sdp
        .media()
        .iter()
        .filter(|m| m.is_enabled())
        .map(|m| {
            let primary = m.primary_format();
            let direction = match author {
                Author::Handler => m.direction,
                Author::Endpoint => m.direction.reverse(),
            };
            StreamInput {
                index: m.index,
                kind: m.kind,
                codec: primary.and_then(|f| f.codec),
                channels: primary
                    .and_then(|f| f.encoding.as_ref())
                    .map_or(1, |e| e.channels),
                ilbc_mode_20: primary
                    .and_then(|f| f.fmtp.as_ref())
                    .and_then(|p| p.get_u32("mode"))
                    == Some(20),
                ptime: m.ptime,
                family: family_of(m),
                srtp_tag: srtp_tag(m),
                direction,
                opus_caps: primary
                    .and_then(|f| f.fmtp.as_ref())
                    .and_then(|p| p.get_u32("maxaveragebitrate"))
                    .map(u64::from)
                    .into_iter()
                    .collect(),
                media_bandwidths: &m.bandwidths,
            }
        })
        .collect();
    compute(inputs, sdp.bandwidths(), services)
}

/// Estimates what our answer to `offer` costs once `negotiation` (from
/// [`sdp::negotiate`]) has chosen codecs: accepted streams only, with the chosen codec,
/// the agreed ptime and directions, and the Opus cap of either side.
pub fn estimate_negotiation(
    offer: &SessionDescription,
    negotiation: &Negotiation,
    services: Services,
) -> Estimate {
    let inputs: Vec<StreamInput<'_>> = negotiation
        .streams
        .iter()
        .filter_map(StreamOutcome::accepted)
        .filter_map(|a| offer.media().get(a.index).map(|m| (a, m)))
        .map(|(a, m): (&AcceptedStream, &MediaDescription)| StreamInput {
            index: a.index,
            kind: a.kind,
            codec: Some(a.codec.codec),
            channels: a.codec.channels,
            ilbc_mode_20: [&a.codec.local_fmtp, &a.codec.remote_fmtp]
                .into_iter()
                .flatten()
                .any(|p| p.get_u32("mode") == Some(20)),
            ptime: a.ptime,
            family: family_of(m),
            srtp_tag: srtp_tag(m),
            direction: a.direction,
            opus_caps: [&a.codec.local_fmtp, &a.codec.remote_fmtp]
                .into_iter()
                .flatten()
                .filter_map(|p| p.get_u32("maxaveragebitrate"))
                .map(u64::from)
                .collect(),
            media_bandwidths: &m.bandwidths,
        })
        .collect();
    compute(inputs, offer.bandwidths(), services)
}

fn family_of(m: &MediaDescription) -> AddressFamily {
    m.connection
        .as_ref()
        .map_or(AddressFamily::Ipv4, |c| c.family)
}

fn srtp_tag(m: &MediaDescription) -> Option<u8> {
    m.protocol.is_srtp().then(|| {
        m.crypto
            .first()
            .and_then(|c| c.suite.auth_tag_len())
            .unwrap_or(DEFAULT_SRTP_TAG)
    })
}

/// Payload bitrate of an audio codec, bit/s, and how it was found.
fn audio_payload(input: &StreamInput<'_>) -> (u64, Basis) {
    let fixed = |bps: u64| {
        (
            bps.saturating_mul(u64::from(input.channels.max(1))),
            Basis::Codec,
        )
    };
    match input.codec {
        Some(Codec::Pcmu | Codec::Pcma | Codec::G722) => fixed(64_000),
        Some(Codec::G729) => fixed(8_000),
        Some(Codec::Gsm) => fixed(13_200),
        Some(Codec::G723) => fixed(6_300),
        Some(Codec::Ilbc) if input.ilbc_mode_20 => fixed(15_200),
        // 30 ms frames of 50 bytes: 13.33 kbit/s.
        Some(Codec::Ilbc) => fixed(13_330),
        Some(Codec::Amr) => fixed(12_200),
        Some(Codec::AmrWb) => fixed(23_850),
        Some(Codec::Opus) => match input.opus_caps.iter().min() {
            Some(&cap) => (cap.clamp(6_000, 510_000), Basis::OpusFmtp),
            None => (OPUS_DEFAULT_BPS, Basis::OpusDefault),
        },
        _ => (UNKNOWN_AUDIO_BPS, Basis::UnknownAudio),
    }
}

fn compute(inputs: Vec<StreamInput<'_>>, session_bw: &[Bandwidth], services: Services) -> Estimate {
    let mut streams = Vec::with_capacity(inputs.len());
    // Audio first, so video can take the session-level b= line less the audio.
    let mut audio_ip_bps = 0u64;
    for input in inputs.iter().filter(|i| i.kind == MediaKind::Audio) {
        let s = stream(input, session_bw, 0);
        audio_ip_bps = audio_ip_bps.saturating_add(s.rtp.bps);
        streams.push(s);
    }
    for input in inputs.iter().filter(|i| i.kind != MediaKind::Audio) {
        streams.push(stream(input, session_bw, audio_ip_bps));
    }
    streams.sort_by_key(|s| s.index);

    let leg = streams.iter().fold(Need::ZERO, |acc, s| acc.plus(s.need));
    let services_need = services_need(&streams, leg, services);
    Estimate {
        streams,
        leg,
        services,
        services_need,
        total: leg.plus(services_need),
    }
}

fn services_need(streams: &[StreamEstimate], leg: Need, services: Services) -> Need {
    let audio = streams.iter().find(|s| s.kind == MediaKind::Audio);
    let audio_leg = streams
        .iter()
        .filter(|s| s.kind == MediaKind::Audio)
        .fold(Need::ZERO, |acc, s| acc.plus(s.need));
    let one_way = audio.map_or(Rate::ZERO, |s| s.rtp.plus(s.rtcp.egress));
    let mut need = Need::ZERO;
    if services.route {
        need = need.plus(leg.mirrored());
    }
    for _ in 0..services.mix_participants {
        need = need.plus(audio_leg.mirrored());
    }
    if services.play {
        need.egress = need.egress.plus(one_way);
    }
    if services.record {
        need.egress = need.egress.plus(one_way.times(2));
    }
    need
}

fn stream(input: &StreamInput<'_>, session_bw: &[Bandwidth], audio_ip_bps: u64) -> StreamEstimate {
    let ip = match input.family {
        AddressFamily::Ipv4 => 20,
        AddressFamily::Ipv6 => 40,
    };
    let srtp_tag_bytes = input.srtp_tag.unwrap_or(0);
    let overhead = RTP_HEADER + UDP_HEADER + ip + u64::from(srtp_tag_bytes);
    let media_tias = bandwidth_bps(input.media_bandwidths, &BandwidthKind::Tias);
    let media_as = bandwidth_bps(input.media_bandwidths, &BandwidthKind::As);

    let (payload_bps, basis, ptime_ms, rtp) = match input.kind {
        MediaKind::Audio => {
            let (payload, basis) = audio_payload(input);
            let ptime = input
                .ptime
                .filter(|p| *p > 0)
                .or_else(|| input.codec.and_then(Codec::default_ptime_ms))
                .unwrap_or(20);
            let ptime64 = u64::from(ptime);
            let payload_bytes = (payload.saturating_mul(ptime64)).div_ceil(8000);
            let bps = payload_bytes
                .saturating_add(overhead)
                .saturating_mul(8 * 1000)
                .div_ceil(ptime64);
            let pps = 1000u64.div_ceil(ptime64);
            (payload, basis, Some(ptime), Rate { bps, pps })
        }
        MediaKind::Video | MediaKind::Other => {
            let session = bandwidth_bps(session_bw, &BandwidthKind::As)
                .or_else(|| bandwidth_bps(session_bw, &BandwidthKind::Ct))
                .and_then(|bps| bps.checked_sub(audio_ip_bps))
                .filter(|bps| *bps > 0);
            let video = input.kind == MediaKind::Video;
            let (figure, basis, includes_headers) = if let Some(t) = media_tias {
                (t, Basis::MediaTias, false)
            } else if let Some(a) = media_as {
                (a, Basis::MediaAs, true)
            } else if let (true, Some(s)) = (video, session) {
                (s, Basis::SessionBandwidth, true)
            } else if video {
                (VIDEO_DEFAULT_BPS, Basis::VideoDefault, false)
            } else {
                (0, Basis::NotCounted, false)
            };
            let rtp = if figure == 0 {
                Rate::ZERO
            } else if includes_headers {
                let pps = figure
                    .div_ceil(8 * (VIDEO_PACKET_PAYLOAD_BYTES + overhead))
                    .max(MIN_VIDEO_PPS);
                Rate { bps: figure, pps }
            } else {
                let pps = figure
                    .div_ceil(8 * VIDEO_PACKET_PAYLOAD_BYTES)
                    .max(MIN_VIDEO_PPS);
                Rate {
                    bps: figure.saturating_add(pps.saturating_mul(overhead * 8)),
                    pps,
                }
            };
            (figure, basis, None, rtp)
        }
    };

    let rtcp_for = |sends_rtp: bool| -> Rate {
        let kind = if sends_rtp {
            BandwidthKind::Rs
        } else {
            BandwidthKind::Rr
        };
        let bps = bandwidth_bps(input.media_bandwidths, &kind)
            .or_else(|| bandwidth_bps(session_bw, &kind))
            .unwrap_or_else(|| rtp.bps.saturating_mul(RTCP_PERCENT).div_ceil(100));
        Rate {
            bps,
            pps: u64::from(bps > 0),
        }
    };
    // Handler's direction: what it sends is egress; the endpoint sends ingress.
    let handler_sends = input.direction.sends();
    let endpoint_sends = input.direction.receives();
    let rtcp_out = rtcp_for(handler_sends);
    let rtcp_in = rtcp_for(endpoint_sends);
    let need = Need {
        ingress: if endpoint_sends { rtp } else { Rate::ZERO }.plus(rtcp_in),
        egress: if handler_sends { rtp } else { Rate::ZERO }.plus(rtcp_out),
    };
    StreamEstimate {
        index: input.index,
        kind: input.kind,
        codec: input.codec,
        basis,
        payload_bps,
        ptime_ms,
        family: input.family,
        overhead_bytes: overhead,
        srtp_tag_bytes,
        rtp,
        rtcp: Need {
            ingress: rtcp_in,
            egress: rtcp_out,
        },
        direction: input.direction,
        need,
    }
}
