//! A leg: one RTP/RTCP port pair toward one endpoint, with everything the engine keeps about
//! it (latching, codecs, the call sequence, reception statistics, DTMF receivers, the player,
//! and the buffers for generated and inbound audio).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtp::dtmf::DtmfDetector;
use rtp::stats::ReceptionStats;
use rtp::{CallSequence, EventReceiver, SourceId};

use crate::codec::{AudioCodec, CodecSpec, MediaKind, new_audio_codec};
use crate::error::MediaError;
use crate::ids::{LegId, MixId, RouteId, SessionId};
use crate::inbound::InboundAudio;
use crate::player::Player;
use crate::rng::Rng;

/// What the handler does with a leg's media, seen from the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Send and receive.
    #[default]
    SendRecv,
    /// Send only: inbound media is dropped.
    SendOnly,
    /// Receive only: nothing is sent.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// Whether the handler sends to the endpoint.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the handler takes media from the endpoint.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// Everything a new leg is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegConfig {
    /// Audio or video.
    pub kind: MediaKind,
    /// Where to send RTP (until latching learns where the endpoint sends from).
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP (default: RTP port + 1).
    pub remote_rtcp: Option<SocketAddr>,
    /// Negotiated codecs, preferred first.
    pub codecs: Vec<CodecSpec>,
    /// The telephone-event payload type, if negotiated.
    pub telephone_event_pt: Option<u8>,
    /// Packet time of generated audio, ms (10–120, a multiple of 10).
    pub ptime_ms: u16,
    /// Direction.
    pub direction: Direction,
    /// Report an RTP timeout after this long without inbound RTP (`None`: never).
    pub rtp_timeout: Option<Duration>,
}

impl LegConfig {
    /// An audio leg with these codecs, 20 ms, sendrecv, 30 s RTP timeout.
    pub fn audio(remote_rtp: Option<SocketAddr>, codecs: Vec<CodecSpec>) -> Self {
        LegConfig {
            kind: MediaKind::Audio,
            remote_rtp,
            remote_rtcp: None,
            codecs,
            telephone_event_pt: None,
            ptime_ms: 20,
            direction: Direction::SendRecv,
            rtp_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// Changes to a leg (re-INVITE, hold); `None` fields stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegUpdate {
    /// New remote RTP address (restarts latching).
    pub remote_rtp: Option<SocketAddr>,
    /// New remote RTCP address.
    pub remote_rtcp: Option<SocketAddr>,
    /// New codecs.
    pub codecs: Option<Vec<CodecSpec>>,
    /// New telephone-event payload type (`Some(None)` removes it).
    pub telephone_event_pt: Option<Option<u8>>,
    /// New ptime.
    pub ptime_ms: Option<u16>,
    /// New direction.
    pub direction: Option<Direction>,
}

/// Per-leg counters and state, as reported to the control interface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegStats {
    /// RTP packets accepted.
    pub packets_in: u64,
    /// RTP payload octets accepted.
    pub octets_in: u64,
    /// RTP packets sent.
    pub packets_out: u64,
    /// RTP payload octets sent.
    pub octets_out: u64,
    /// Inbound packets lost (RFC 3550).
    pub packets_lost: i64,
    /// Inbound jitter, ms.
    pub jitter_ms: f64,
    /// Packets from a source other than the latched one.
    pub foreign_dropped: u64,
    /// Packets that were not valid RTP/RTCP, or carried a payload type not negotiated.
    pub malformed_dropped: u64,
    /// Late packets of an older source.
    pub late_dropped: u64,
    /// RTCP packets received.
    pub rtcp_in: u64,
    /// RTCP packets sent.
    pub rtcp_out: u64,
    /// Fraction lost the endpoint last reported, percent.
    pub remote_fraction_lost_pct: Option<f64>,
    /// Jitter the endpoint last reported, ms.
    pub remote_jitter_ms: Option<f64>,
}

/// A snapshot of a leg for the control interface.
#[derive(Debug, Clone, PartialEq)]
pub struct LegSnapshot {
    /// Where RTP goes.
    pub remote_rtp: Option<SocketAddr>,
    /// Where RTCP goes.
    pub remote_rtcp: Option<SocketAddr>,
    /// Whether the leg latched.
    pub latched: bool,
    /// Counters.
    pub stats: LegStats,
}

/// What a packet arriving on this leg becomes on its routed peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Not forwarded.
    Drop,
    /// Forwarded untouched, with this payload type.
    Pass(u8),
    /// µ-law → A-law in place.
    UlawToAlaw(u8),
    /// A-law → µ-law in place.
    AlawToUlaw(u8),
    /// Decoded and re-encoded through PCM.
    Transcode(u8),
}

/// Decoding one payload type of a leg and encoding it for the routed peer.
#[derive(Debug)]
pub(crate) struct Transcoder {
    /// The inbound payload type.
    pub pt: u8,
    /// Decoder of the inbound codec.
    pub dec: Box<dyn AudioCodec>,
    /// Encoder of the peer's send codec.
    pub enc: Box<dyn AudioCodec>,
    /// RTP clock of the inbound codec.
    pub in_clock: u32,
    /// RTP clock of the peer's codec.
    pub out_clock: u32,
}

/// One direction of a route, kept on the leg media arrives on.
#[derive(Debug)]
pub(crate) struct RouteOut {
    pub id: RouteId,
    pub peer: crate::ids::LegSlot,
    pub actions: Box<[Action; 128]>,
    /// (decoder of this leg's codec, encoder of the peer's) for [`Action::Transcode`], by
    /// inbound payload type.
    pub transcoders: Vec<Transcoder>,
}

/// The samples of one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

#[derive(Debug)]
pub(crate) struct Leg {
    pub id: LegId,
    pub session: SessionId,
    pub cfg: LegConfig,
    pub cname: String,
    // Addresses.
    pub dest_rtp: Option<SocketAddr>,
    pub dest_rtcp: Option<SocketAddr>,
    pub latched_rtp: Option<SocketAddr>,
    pub latched_rtcp: Option<SocketAddr>,
    /// Bit `pt` set: payload type `pt` was negotiated (codecs and telephone-event).
    pub pt_mask: u128,
    // Sending.
    pub seq: CallSequence,
    pub encoder: Option<Box<dyn AudioCodec>>,
    pub send_pt: u8,
    pub send_clock: u32,
    pub decoders: Vec<(u8, Box<dyn AudioCodec>)>,
    // Receiving.
    pub reception: ReceptionStats,
    pub events: EventReceiver,
    /// Boxed: large, and off the relay path's cache lines.
    pub inband: Option<Box<DtmfDetector>>,
    pub inbound: Option<InboundAudio>,
    pub consumers: u32,
    /// Boxed: large, and only read by ticks.
    pub tick_frame: Box<[i16; FRAME]>,
    // Output.
    pub player: Player,
    pub route: Option<RouteOut>,
    pub mix: Option<MixId>,
    /// Generated audio waiting to be packetised, and its source.
    pub acc: Vec<i16>,
    pub acc_source: Option<SourceId>,
    /// Source timestamp (leg clock) of the first sample in `acc`.
    pub acc_ts: u32,
    /// Source sequence number of generated packets.
    pub gen_seq: u16,
    // Timers.
    pub created: Instant,
    pub last_rx: Option<Instant>,
    pub timeout_reported: bool,
    pub next_rtcp: Instant,
    pub last_sr: Option<(u32, Instant)>,
    pub stats: LegStats,
}

impl Leg {
    pub fn new(
        now: Instant,
        id: LegId,
        session: SessionId,
        cfg: LegConfig,
        rng: &mut Rng,
        first_rtcp: Duration,
    ) -> Result<Leg, MediaError> {
        validate(&cfg)?;
        let (encoder, send_pt, send_clock, decoders) = codecs_for(&cfg)?;
        let ssrc = rng.next_u32();
        let seq = CallSequence::new(
            ssrc,
            rng.next_u64() as u16,
            rng.next_u32(),
            send_clock,
            min_step(&cfg, send_clock),
        );
        let dest_rtcp = cfg.remote_rtcp.or_else(|| cfg.remote_rtp.map(rtcp_of));
        let mut leg = Leg {
            id,
            session,
            cname: format!("leg{}-{:08x}@switchboard", id.0, ssrc),
            dest_rtp: cfg.remote_rtp,
            dest_rtcp,
            latched_rtp: None,
            latched_rtcp: None,
            pt_mask: 0,
            seq,
            encoder,
            send_pt,
            send_clock,
            decoders,
            reception: ReceptionStats::new(send_clock),
            events: EventReceiver::new(8000),
            inband: None,
            inbound: None,
            consumers: 0,
            tick_frame: Box::new([0; FRAME]),
            player: Player::default(),
            route: None,
            mix: None,
            acc: Vec::with_capacity(2048),
            acc_source: None,
            acc_ts: rng.next_u32(),
            gen_seq: rng.next_u64() as u16,
            created: now,
            last_rx: None,
            timeout_reported: false,
            next_rtcp: now + first_rtcp,
            last_sr: None,
            stats: LegStats::default(),
            cfg,
        };
        leg.refresh_inband();
        leg.refresh_pt_mask();
        Ok(leg)
    }

    pub fn is_audio(&self) -> bool {
        self.cfg.kind == MediaKind::Audio
    }

    /// In-band detection runs on audio legs without telephone-event.
    pub fn refresh_inband(&mut self) {
        let want = self.is_audio() && self.cfg.telephone_event_pt.is_none();
        if want && self.inband.is_none() {
            self.inband = Some(Box::new(DtmfDetector::new()));
        } else if !want {
            self.inband = None;
        }
    }

    /// Generated samples per packet at 8 kHz.
    pub fn samples_per_packet(&self) -> usize {
        usize::from(self.cfg.ptime_ms) * 8
    }

    /// Leg-clock units per 8 kHz sample count.
    pub fn clock_units(&self, samples_8k: usize) -> u32 {
        (samples_8k as u64 * u64::from(self.send_clock) / 8000) as u32
    }

    pub fn accepts_pt(&self, pt: u8) -> bool {
        pt < 128 && self.pt_mask & (1u128 << pt) != 0
    }

    /// Recompute the set of payload types the leg accepts.
    fn refresh_pt_mask(&mut self) {
        let mut mask = 0u128;
        for c in &self.cfg.codecs {
            mask |= 1u128 << (c.payload_type & 0x7F);
        }
        if let Some(te) = self.cfg.telephone_event_pt {
            mask |= 1u128 << (te & 0x7F);
        }
        self.pt_mask = mask;
    }

    pub fn decoder(&mut self, pt: u8) -> Option<&mut Box<dyn AudioCodec>> {
        self.decoders
            .iter_mut()
            .find(|(p, _)| *p == pt)
            .map(|(_, d)| d)
    }

    pub fn add_consumer(&mut self) {
        self.consumers += 1;
        if self.inbound.is_none() {
            self.inbound = Some(InboundAudio::default());
        }
    }

    pub fn remove_consumer(&mut self) {
        self.consumers = self.consumers.saturating_sub(1);
        if self.consumers == 0 {
            self.inbound = None;
        }
    }

    pub fn apply(&mut self, u: LegUpdate, rng: &mut Rng) -> Result<(), MediaError> {
        let mut cfg = self.cfg.clone();
        if let Some(r) = u.remote_rtp {
            cfg.remote_rtp = Some(r);
        }
        if let Some(r) = u.remote_rtcp {
            cfg.remote_rtcp = Some(r);
        }
        if let Some(c) = u.codecs {
            cfg.codecs = c;
        }
        if let Some(te) = u.telephone_event_pt {
            cfg.telephone_event_pt = te;
        }
        if let Some(p) = u.ptime_ms {
            cfg.ptime_ms = p;
        }
        if let Some(d) = u.direction {
            cfg.direction = d;
        }
        validate(&cfg)?;
        let (encoder, send_pt, send_clock, decoders) = codecs_for(&cfg)?;
        if send_clock != self.send_clock {
            let next = self.seq.next_sequence();
            self.seq = CallSequence::new(self.seq.ssrc(), next, rng.next_u32(), send_clock, 0);
            self.reception = ReceptionStats::new(send_clock);
        }
        self.encoder = encoder;
        self.send_pt = send_pt;
        self.send_clock = send_clock;
        self.decoders = decoders;
        if u.remote_rtp.is_some() {
            self.dest_rtp = cfg.remote_rtp;
            self.latched_rtp = None;
            self.latched_rtcp = None;
        }
        if u.remote_rtp.is_some() || u.remote_rtcp.is_some() {
            self.dest_rtcp = cfg.remote_rtcp.or_else(|| self.dest_rtp.map(rtcp_of));
        }
        if cfg.direction != self.cfg.direction {
            // Whatever flows after a direction change starts a new segment (marker bit).
            self.seq.end_segment();
        }
        self.seq.set_min_step(min_step(&cfg, send_clock));
        self.acc.clear();
        self.acc_source = None;
        self.cfg = cfg;
        self.refresh_inband();
        self.refresh_pt_mask();
        Ok(())
    }

    pub fn snapshot(&self) -> LegSnapshot {
        let mut stats = self.stats.clone();
        stats.packets_lost = self.reception.lost();
        stats.jitter_ms = self.reception.jitter_ms();
        stats.late_dropped = self.seq.stats().late_dropped;
        LegSnapshot {
            remote_rtp: self.dest_rtp,
            remote_rtcp: self.dest_rtcp,
            latched: self.latched_rtp.is_some(),
            stats,
        }
    }
}

/// The RTCP address next to an RTP address (port + 1).
pub fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    let mut a = rtp;
    a.set_port(rtp.port().wrapping_add(1));
    a
}

fn min_step(cfg: &LegConfig, clock: u32) -> u32 {
    match cfg.kind {
        MediaKind::Audio => (u64::from(cfg.ptime_ms) * u64::from(clock) / 1000) as u32,
        MediaKind::Video => 1,
    }
}

fn validate(cfg: &LegConfig) -> Result<(), MediaError> {
    if cfg.codecs.is_empty() {
        return Err(MediaError::BadRequest(
            "a leg needs at least one codec".into(),
        ));
    }
    for c in &cfg.codecs {
        if c.payload_type > 127 {
            return Err(MediaError::BadRequest(format!(
                "payload type {} of {} is out of range 0-127",
                c.payload_type, c.name
            )));
        }
        if c.clock_rate == 0 {
            return Err(MediaError::BadRequest(format!(
                "codec {} has clock rate 0",
                c.name
            )));
        }
    }
    if let Some(te) = cfg.telephone_event_pt {
        if te > 127 {
            return Err(MediaError::BadRequest(format!(
                "telephone-event payload type {te} is out of range 0-127"
            )));
        }
        if cfg.codecs.iter().any(|c| c.payload_type == te) {
            return Err(MediaError::BadRequest(format!(
                "payload type {te} is used twice"
            )));
        }
    }
    if !(10..=120).contains(&cfg.ptime_ms) || !cfg.ptime_ms.is_multiple_of(10) {
        return Err(MediaError::BadRequest(format!(
            "ptime {} ms is not supported (10 to 120, a multiple of 10)",
            cfg.ptime_ms
        )));
    }
    Ok(())
}

type Codecs = (
    Option<Box<dyn AudioCodec>>,
    u8,
    u32,
    Vec<(u8, Box<dyn AudioCodec>)>,
);

/// The encoder (first supported codec), its payload type and clock, and a decoder per
/// supported payload type. Video legs have none and use their first codec's clock.
fn codecs_for(cfg: &LegConfig) -> Result<Codecs, MediaError> {
    match cfg.kind {
        MediaKind::Video => {
            let first = &cfg.codecs[0];
            Ok((None, first.payload_type, first.clock_rate, Vec::new()))
        }
        MediaKind::Audio => {
            let mut encoder = None;
            let mut decoders = Vec::new();
            for spec in &cfg.codecs {
                if let Some(dec) = new_audio_codec(spec) {
                    if encoder.is_none() {
                        encoder =
                            new_audio_codec(spec).map(|e| (spec.payload_type, spec.clock_rate, e));
                    }
                    decoders.push((spec.payload_type, dec));
                }
            }
            let Some((pt, clock, enc)) = encoder else {
                let names: Vec<&str> = cfg.codecs.iter().map(|c| c.name.as_str()).collect();
                return Err(MediaError::UnsupportedCodec(format!(
                    "none of {} (supported: {})",
                    names.join(", "),
                    crate::codec::SUPPORTED.join(", ")
                )));
            };
            let samples = usize::from(cfg.ptime_ms) * 8;
            if !enc.fits(samples) {
                return Err(MediaError::BadRequest(format!(
                    "ptime {} ms does not fit {} frames",
                    cfg.ptime_ms,
                    enc.name()
                )));
            }
            Ok((Some(enc), pt, clock, decoders))
        }
    }
}
