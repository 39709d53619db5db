//! The engine of one media thread: legs, routes, players, recordings and mixes, driven by
//! packets and a 20 ms tick.
//!
//! # The driver's contract (mutate, then drain)
//!
//! The engine never reads a clock or touches a socket. Its driver:
//! 1. hands it every datagram: [`Engine::handle_rtp`] (RTP port) and [`Engine::handle_rtcp`]
//!    (RTCP port). `handle_rtp` rewrites the packet **in the driver's buffer** and answers
//!    [`Forward::Send`] when the driver must send those bytes from another leg's socket —
//!    the relay path allocates nothing and copies nothing;
//! 2. calls [`Engine::tick`] every 20 ms (late or repeated calls are harmless: the tick works
//!    out how many 20 ms frames are due from `now`);
//! 3. after **each** of these calls, and after each command, drains
//!    [`Engine::poll_transmit`] (generated RTP and RTCP, written into a buffer the driver
//!    lends), [`Engine::poll_event`] and [`Engine::poll_record`] until they return `None`.
//!
//! Commands (`add_leg`, `route`, `play`, ...) are plain method calls that return a result.
//!
//! # What a leg hears
//!
//! A leg's output is, in priority order: its player while something plays; else its mix; else
//! the leg it is routed with; else nothing. Every packet toward the leg goes through the
//! leg's [`rtp::CallSequence`], so the endpoint sees one gapless stream across every change.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtp::packet::{HeaderRewrite, RTP_HEADER_LEN, looks_like_rtcp, rewrite, write_header};
use rtp::rtcp::{self, NtpTime, ReportParams};
use rtp::{RtpHeader, SourceId, TelephoneEvent, g711};

use crate::codec::{MediaKind, new_audio_codec};
use crate::error::MediaError;
use crate::ids::{LegId, LegSlot, MixId, PlaybackId, RecordingId, RouteId, SessionId};
use crate::leg::{Action, FRAME, Leg, LegConfig, LegSnapshot, LegUpdate, RouteOut};
use crate::player::{EndReason, PlayItem, PlaySource};
use crate::rng::Rng;

/// Engine settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Mean interval between RTCP reports per leg (randomised ±50%, RFC 3550 §6.3.1).
    pub rtcp_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            rtcp_interval: Duration::from_secs(5),
        }
    }
}

/// The tick period: one frame of generated and mixed audio.
pub const TICK: Duration = Duration::from_millis(20);
/// At most this many missed frames are caught up after a stall; beyond, the streams rebase.
const MAX_CATCH_UP: u64 = 50;
/// Recorded frames handed out together.
const CHUNK_FRAMES: usize = 10;
/// Decoded samples a single packet may hold (120 ms at 48 kHz).
const SCRATCH: usize = 5760;

/// How a DTMF digit was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// An RFC 4733 telephone-event.
    Rfc4733,
    /// Goertzel detection in the audio.
    Inband,
}

/// Something the control side should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// A digit ended.
    Dtmf {
        /// Session.
        session: SessionId,
        /// Leg it came from.
        leg: LegId,
        /// The digit.
        digit: char,
        /// How long it lasted.
        duration: Duration,
        /// How it was detected.
        source: DtmfSource,
    },
    /// A playback ended.
    PlaybackFinished {
        /// Session.
        session: SessionId,
        /// Leg.
        leg: LegId,
        /// Playback.
        playback: PlaybackId,
        /// Why.
        reason: EndReason,
    },
    /// No RTP for the leg's timeout.
    RtpTimeout {
        /// Session.
        session: SessionId,
        /// Leg.
        leg: LegId,
        /// How long it has been silent.
        silent: Duration,
    },
    /// A leg latched to its endpoint's source address.
    LegLatched {
        /// Session.
        session: SessionId,
        /// Leg.
        leg: LegId,
        /// The source address.
        remote: SocketAddr,
    },
}

/// Audio for the recording writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutput {
    /// Interleaved 8 kHz samples to append to the recording's file.
    Samples {
        /// The recording.
        id: RecordingId,
        /// Samples (frames × channels).
        samples: Vec<i16>,
    },
    /// The recording stopped: close (finalize) the file.
    Finished {
        /// The recording.
        id: RecordingId,
        /// Its session.
        session: SessionId,
        /// Its length.
        duration: Duration,
    },
}

/// What a recording captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordSource {
    /// One leg's inbound audio.
    Leg(LegId),
    /// Two legs' inbound audio, left and right.
    Stereo(LegId, LegId),
    /// A mono mix of several legs' inbound audio.
    Mix(Vec<LegId>),
}

impl RecordSource {
    /// Channels of the file.
    pub fn channels(&self) -> u16 {
        match self {
            RecordSource::Stereo(..) => 2,
            _ => 1,
        }
    }

    fn legs(&self) -> Vec<LegId> {
        match self {
            RecordSource::Leg(l) => vec![*l],
            RecordSource::Stereo(l, r) => vec![*l, *r],
            RecordSource::Mix(ls) => ls.clone(),
        }
    }
}

/// Replace what plays, or queue after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlayMode {
    /// Replace.
    #[default]
    Replace,
    /// Enqueue.
    Enqueue,
}

/// The answer to [`Engine::play`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayStarted {
    /// Whether it plays now (else it is queued).
    pub playing_now: bool,
    /// Its length (`None` when looped).
    pub duration: Option<Duration>,
}

/// What to do with a packet after [`Engine::handle_rtp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Nothing to send (consumed, or dropped and counted).
    Drop,
    /// Send the first `len` bytes of the (rewritten) buffer from `from`'s RTP socket to `to`.
    Send {
        /// The leg whose socket sends.
        from: LegSlot,
        /// Destination.
        to: SocketAddr,
        /// Length.
        len: usize,
    },
}

/// A generated packet in the buffer lent to [`Engine::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The leg whose socket sends.
    pub from: LegSlot,
    /// RTCP (from the RTCP socket) rather than RTP.
    pub rtcp: bool,
    /// Destination.
    pub to: SocketAddr,
    /// Length.
    pub len: usize,
}

#[derive(Debug)]
struct Recorder {
    session: SessionId,
    source: RecordSource,
    paused: bool,
    chunk: Vec<i16>,
    frames: u64,
}

#[derive(Debug)]
struct MixState {
    legs: Vec<LegId>,
}

// Source ids: the top two bits say what kind of source it is.
const SRC_ROUTED: u64 = 0;
const SRC_PLAYER: u64 = 1 << 62;
const SRC_MIX: u64 = 2 << 62;

fn routed_source(leg: LegId, ssrc: u32) -> SourceId {
    SourceId(SRC_ROUTED | ((leg.0 & 0x3FFF_FFFF) << 32) | u64::from(ssrc))
}

/// The media engine of one media thread (see the module documentation).
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    rng: Rng,
    legs: Vec<Option<Leg>>,
    free: Vec<u32>,
    index: HashMap<LegId, LegSlot>,
    routes: BTreeMap<RouteId, (LegId, LegId)>,
    mixes: BTreeMap<MixId, MixState>,
    recordings: BTreeMap<RecordingId, Recorder>,
    events: VecDeque<EngineEvent>,
    records: VecDeque<RecordOutput>,
    pending_rtp: VecDeque<LegSlot>,
    pending_rtcp: VecDeque<LegSlot>,
    scratch: Box<[i16; SCRATCH]>,
    epoch: Option<Instant>,
    frames_done: u64,
    now: Option<Instant>,
    unix: Duration,
}

impl Engine {
    /// An engine whose random choices (SSRCs, first sequence numbers and timestamps) all come
    /// from `seed`.
    pub fn new(seed: u64, config: EngineConfig) -> Self {
        Engine {
            config,
            rng: Rng::new(seed),
            legs: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            routes: BTreeMap::new(),
            mixes: BTreeMap::new(),
            recordings: BTreeMap::new(),
            events: VecDeque::new(),
            records: VecDeque::new(),
            pending_rtp: VecDeque::with_capacity(1024),
            pending_rtcp: VecDeque::with_capacity(64),
            scratch: Box::new([0; SCRATCH]),
            epoch: None,
            frames_done: 0,
            now: None,
            unix: Duration::ZERO,
        }
    }

    fn slot_of(&self, id: LegId) -> Result<LegSlot, MediaError> {
        self.index
            .get(&id)
            .copied()
            .ok_or(MediaError::UnknownLeg(id))
    }

    fn leg_ref(&self, id: LegId) -> Result<&Leg, MediaError> {
        let slot = self.slot_of(id)?;
        self.legs[slot.0 as usize]
            .as_ref()
            .ok_or(MediaError::UnknownLeg(id))
    }

    fn leg_mut(&mut self, id: LegId) -> Result<&mut Leg, MediaError> {
        let slot = self.slot_of(id)?;
        self.legs[slot.0 as usize]
            .as_mut()
            .ok_or(MediaError::UnknownLeg(id))
    }

    fn check_session(&self, leg: LegId, session: SessionId) -> Result<&Leg, MediaError> {
        let l = self.leg_ref(leg)?;
        if l.session != session {
            return Err(MediaError::WrongSession {
                leg,
                actual: l.session,
                expected: session,
            });
        }
        Ok(l)
    }

    fn check_audio(&self, leg: LegId, session: SessionId) -> Result<&Leg, MediaError> {
        let l = self.check_session(leg, session)?;
        if !l.is_audio() {
            return Err(MediaError::InvalidState(format!(
                "leg {leg} is a video leg"
            )));
        }
        Ok(l)
    }

    /// Number of legs.
    pub fn leg_count(&self) -> usize {
        self.index.len()
    }

    /// Number of recordings running or paused.
    pub fn recording_count(&self) -> usize {
        self.recordings.len()
    }

    /// Add a leg; the slot is the driver's key for the leg's sockets.
    pub fn add_leg(
        &mut self,
        now: Instant,
        id: LegId,
        session: SessionId,
        cfg: LegConfig,
    ) -> Result<LegSlot, MediaError> {
        if self.index.contains_key(&id) {
            return Err(MediaError::DuplicateId(id.0));
        }
        let interval = self.config.rtcp_interval;
        let first_rtcp = interval / 2 + interval.mul_f64(self.rng.below(1000) as f64 / 2000.0);
        let leg = Leg::new(now, id, session, cfg, &mut self.rng, first_rtcp)?;
        let slot = match self.free.pop() {
            Some(s) => {
                self.legs[s as usize] = Some(leg);
                LegSlot(s)
            }
            None => {
                self.legs.push(Some(leg));
                LegSlot(self.legs.len() as u32 - 1)
            }
        };
        self.index.insert(id, slot);
        Ok(slot)
    }

    /// Change a leg (re-INVITE, hold/unhold). Routes through it are re-planned.
    pub fn update_leg(
        &mut self,
        now: Instant,
        id: LegId,
        update: LegUpdate,
    ) -> Result<(), MediaError> {
        let direction_changed = update.direction.is_some();
        let slot = self.slot_of(id)?;
        let Some(leg) = self.legs[slot.0 as usize].as_mut() else {
            return Err(MediaError::UnknownLeg(id));
        };
        leg.apply(update, &mut self.rng)?;
        if direction_changed {
            leg.last_rx = Some(now);
            leg.timeout_reported = false;
        }
        if let Some(route) = self.leg_ref(id)?.route.as_ref().map(|r| r.id) {
            self.replan_route(route)?;
        }
        Ok(())
    }

    /// Remove a leg: its playbacks end (`Stopped`), its route and mix membership go away, and
    /// recordings that include it continue with silence in its place. Returns its slot, so
    /// the driver can close its sockets.
    pub fn remove_leg(&mut self, _now: Instant, id: LegId) -> Result<LegSlot, MediaError> {
        let slot = self.slot_of(id)?;
        if let Some(route) = self.leg_ref(id)?.route.as_ref().map(|r| r.id) {
            self.unroute_inner(route);
        }
        if let Some(mix) = self.leg_ref(id)?.mix
            && let Some(m) = self.mixes.get_mut(&mix)
        {
            m.legs.retain(|l| *l != id);
        }
        let Some(mut leg) = self.legs[slot.0 as usize].take() else {
            return Err(MediaError::UnknownLeg(id));
        };
        let events = &mut self.events;
        leg.player.stop(|playback, reason| {
            events.push_back(EngineEvent::PlaybackFinished {
                session: leg.session,
                leg: id,
                playback,
                reason,
            })
        });
        self.index.remove(&id);
        self.free.push(slot.0);
        self.pending_rtp.retain(|s| *s != slot);
        self.pending_rtcp.retain(|s| *s != slot);
        Ok(slot)
    }

    /// Remove everything of a session: recordings are stopped (their `Finished` record output
    /// follows), mixes and routes removed, legs removed. Returns the freed slots.
    pub fn remove_session(&mut self, now: Instant, session: SessionId) -> Vec<LegSlot> {
        let recs: Vec<RecordingId> = self
            .recordings
            .iter()
            .filter(|(_, r)| r.session == session)
            .map(|(id, _)| *id)
            .collect();
        for r in recs {
            let _ = self.stop_recording(r);
        }
        let legs: Vec<LegId> = self
            .legs
            .iter()
            .flatten()
            .filter(|l| l.session == session)
            .map(|l| l.id)
            .collect();
        let mixes: Vec<MixId> = self
            .legs
            .iter()
            .flatten()
            .filter(|l| l.session == session)
            .filter_map(|l| l.mix)
            .collect();
        for m in mixes {
            let _ = self.delete_mix(now, m);
        }
        legs.into_iter()
            .filter_map(|l| self.remove_leg(now, l).ok())
            .collect()
    }

    /// A leg's addresses and counters.
    pub fn leg_snapshot(&self, id: LegId) -> Option<LegSnapshot> {
        self.leg_ref(id).ok().map(Leg::snapshot)
    }

    /// Route `a` and `b` of `session`, both directions.
    pub fn route(
        &mut self,
        _now: Instant,
        id: RouteId,
        session: SessionId,
        a: LegId,
        b: LegId,
    ) -> Result<(), MediaError> {
        if self.routes.contains_key(&id) {
            return Err(MediaError::DuplicateId(id.0));
        }
        if a == b {
            return Err(MediaError::BadRequest(format!(
                "cannot route leg {a} to itself"
            )));
        }
        for leg in [a, b] {
            let l = self.check_session(leg, session)?;
            if let Some(r) = &l.route {
                return Err(MediaError::InvalidState(format!(
                    "leg {leg} is already routed (route {})",
                    r.id
                )));
            }
            if let Some(m) = l.mix {
                return Err(MediaError::InvalidState(format!("leg {leg} is in mix {m}")));
            }
        }
        if self.leg_ref(a)?.cfg.kind != self.leg_ref(b)?.cfg.kind {
            return Err(MediaError::InvalidState(format!(
                "legs {a} and {b} are not both audio or both video"
            )));
        }
        let ab = self.plan(id, a, b)?;
        let ba = self.plan(id, b, a)?;
        self.leg_mut(a)?.route = Some(ab);
        self.leg_mut(b)?.route = Some(ba);
        self.routes.insert(id, (a, b));
        Ok(())
    }

    /// The per-payload-type plan for media arriving on `from` and going to `to`.
    fn plan(&self, id: RouteId, from: LegId, to: LegId) -> Result<RouteOut, MediaError> {
        let f = self.leg_ref(from)?;
        let t = self.leg_ref(to)?;
        let mut actions = Box::new([Action::Drop; 128]);
        let mut transcoders = Vec::new();
        for c in &f.cfg.codecs {
            let pt = usize::from(c.payload_type & 0x7F);
            if let Some(same) = t.cfg.codecs.iter().find(|x| x.same_codec(c)) {
                actions[pt] = Action::Pass(same.payload_type);
                continue;
            }
            if f.cfg.kind == MediaKind::Video {
                continue;
            }
            let Some(enc) = &t.encoder else { continue };
            match (c.g711(), enc.g711()) {
                (Some(crate::codec::G711::Ulaw), Some(crate::codec::G711::Alaw)) => {
                    actions[pt] = Action::UlawToAlaw(t.send_pt);
                }
                (Some(crate::codec::G711::Alaw), Some(crate::codec::G711::Ulaw)) => {
                    actions[pt] = Action::AlawToUlaw(t.send_pt);
                }
                _ => {
                    let send_spec = t.cfg.codecs.iter().find(|x| x.payload_type == t.send_pt);
                    if let (Some(dec), Some(enc)) =
                        (new_audio_codec(c), send_spec.and_then(new_audio_codec))
                    {
                        actions[pt] = Action::Transcode(t.send_pt);
                        transcoders.push(crate::leg::Transcoder {
                            pt: c.payload_type,
                            dec,
                            enc,
                            in_clock: c.clock_rate,
                            out_clock: t.send_clock,
                        });
                    }
                }
            }
        }
        if let (Some(fte), Some(tte)) = (f.cfg.telephone_event_pt, t.cfg.telephone_event_pt) {
            actions[usize::from(fte & 0x7F)] = Action::Pass(tte);
        }
        if actions.iter().all(|a| *a == Action::Drop) {
            return Err(MediaError::UnsupportedCodec(format!(
                "no codec of leg {from} can be delivered to leg {to}"
            )));
        }
        let peer = self.slot_of(to)?;
        Ok(RouteOut {
            id,
            peer,
            actions,
            transcoders,
        })
    }

    fn replan_route(&mut self, id: RouteId) -> Result<(), MediaError> {
        let Some(&(a, b)) = self.routes.get(&id) else {
            return Err(MediaError::UnknownRoute(id));
        };
        let ab = self.plan(id, a, b)?;
        let ba = self.plan(id, b, a)?;
        self.leg_mut(a)?.route = Some(ab);
        self.leg_mut(b)?.route = Some(ba);
        Ok(())
    }

    fn unroute_inner(&mut self, id: RouteId) -> bool {
        let Some((a, b)) = self.routes.remove(&id) else {
            return false;
        };
        for l in [a, b] {
            if let Ok(leg) = self.leg_mut(l) {
                leg.route = None;
            }
        }
        true
    }

    /// Remove a route.
    pub fn unroute(&mut self, _now: Instant, id: RouteId) -> Result<(), MediaError> {
        if self.unroute_inner(id) {
            Ok(())
        } else {
            Err(MediaError::UnknownRoute(id))
        }
    }

    /// Play to a leg.
    pub fn play(
        &mut self,
        _now: Instant,
        leg: LegId,
        id: PlaybackId,
        source: PlaySource,
        looped: bool,
        mode: PlayMode,
    ) -> Result<PlayStarted, MediaError> {
        let session = self.leg_ref(leg)?.session;
        self.check_audio(leg, session)?;
        let len = source.len_samples();
        if len == 0 {
            return Err(MediaError::BadRequest(
                "nothing to play (zero length)".into(),
            ));
        }
        let duration = (!looped).then(|| Duration::from_millis(len / 8));
        let item = PlayItem { id, source, looped };
        let events = &mut self.events;
        let slot = self.index[&leg];
        let Some(l) = self.legs[slot.0 as usize].as_mut() else {
            return Err(MediaError::UnknownLeg(leg));
        };
        let playing_now = match mode {
            PlayMode::Replace => {
                l.player.replace(item, |playback, reason| {
                    events.push_back(EngineEvent::PlaybackFinished {
                        session,
                        leg,
                        playback,
                        reason,
                    })
                });
                true
            }
            PlayMode::Enqueue => l.player.enqueue(item),
        };
        Ok(PlayStarted {
            playing_now,
            duration,
        })
    }

    /// Stop what plays on a leg and clear its queue (each item ends with `Stopped`).
    pub fn stop_play(&mut self, _now: Instant, leg: LegId) -> Result<(), MediaError> {
        let events = &mut self.events;
        let slot = self
            .index
            .get(&leg)
            .copied()
            .ok_or(MediaError::UnknownLeg(leg))?;
        let Some(l) = self.legs[slot.0 as usize].as_mut() else {
            return Err(MediaError::UnknownLeg(leg));
        };
        let session = l.session;
        l.player.stop(|playback, reason| {
            events.push_back(EngineEvent::PlaybackFinished {
                session,
                leg,
                playback,
                reason,
            })
        });
        Ok(())
    }

    /// Start a recording; returns the file's channel count. Audio flows through
    /// [`Engine::poll_record`].
    pub fn start_recording(
        &mut self,
        _now: Instant,
        id: RecordingId,
        session: SessionId,
        source: RecordSource,
    ) -> Result<u16, MediaError> {
        if self.recordings.contains_key(&id) {
            return Err(MediaError::DuplicateId(id.0));
        }
        let legs = source.legs();
        if legs.is_empty() {
            return Err(MediaError::BadRequest(
                "a recording needs at least one leg".into(),
            ));
        }
        for l in &legs {
            self.check_audio(*l, session)?;
        }
        for l in &legs {
            self.leg_mut(*l)?.add_consumer();
        }
        let channels = source.channels();
        let chunk = Vec::with_capacity(CHUNK_FRAMES * FRAME * usize::from(channels));
        self.recordings.insert(
            id,
            Recorder {
                session,
                source,
                paused: false,
                chunk,
                frames: 0,
            },
        );
        Ok(channels)
    }

    /// Pause a recording: silence is written until it resumes.
    pub fn pause_recording(&mut self, id: RecordingId) -> Result<(), MediaError> {
        let r = self
            .recordings
            .get_mut(&id)
            .ok_or(MediaError::UnknownRecording(id))?;
        r.paused = true;
        Ok(())
    }

    /// Resume a paused recording.
    pub fn resume_recording(&mut self, id: RecordingId) -> Result<(), MediaError> {
        let r = self
            .recordings
            .get_mut(&id)
            .ok_or(MediaError::UnknownRecording(id))?;
        r.paused = false;
        Ok(())
    }

    /// Whether a recording is paused.
    pub fn recording_paused(&self, id: RecordingId) -> Option<bool> {
        self.recordings.get(&id).map(|r| r.paused)
    }

    /// Stop a recording: its last samples and a `Finished` record output follow.
    pub fn stop_recording(&mut self, id: RecordingId) -> Result<Duration, MediaError> {
        let mut r = self
            .recordings
            .remove(&id)
            .ok_or(MediaError::UnknownRecording(id))?;
        for l in r.source.legs() {
            if let Ok(leg) = self.leg_mut(l) {
                leg.remove_consumer();
            }
        }
        if !r.chunk.is_empty() {
            self.records.push_back(RecordOutput::Samples {
                id,
                samples: std::mem::take(&mut r.chunk),
            });
        }
        let duration = TICK * r.frames as u32;
        self.records.push_back(RecordOutput::Finished {
            id,
            session: r.session,
            duration,
        });
        Ok(duration)
    }

    /// Mix three or more legs: each hears the others.
    pub fn create_mix(
        &mut self,
        _now: Instant,
        id: MixId,
        session: SessionId,
        legs: Vec<LegId>,
    ) -> Result<(), MediaError> {
        if self.mixes.contains_key(&id) {
            return Err(MediaError::DuplicateId(id.0));
        }
        if legs.len() < 3 {
            return Err(MediaError::BadRequest(format!(
                "a mix needs at least three legs ({} given; route two legs instead)",
                legs.len()
            )));
        }
        for (k, l) in legs.iter().enumerate() {
            if legs[..k].contains(l) {
                return Err(MediaError::BadRequest(format!("leg {l} is listed twice")));
            }
            let leg = self.check_audio(*l, session)?;
            if let Some(r) = &leg.route {
                return Err(MediaError::InvalidState(format!(
                    "leg {l} is routed (route {})",
                    r.id
                )));
            }
            if let Some(m) = leg.mix {
                return Err(MediaError::InvalidState(format!(
                    "leg {l} is already in mix {m}"
                )));
            }
        }
        for l in &legs {
            let leg = self.leg_mut(*l)?;
            leg.mix = Some(id);
            leg.add_consumer();
        }
        self.mixes.insert(id, MixState { legs });
        Ok(())
    }

    /// Remove a mix.
    pub fn delete_mix(&mut self, _now: Instant, id: MixId) -> Result<(), MediaError> {
        let m = self.mixes.remove(&id).ok_or(MediaError::UnknownMix(id))?;
        for l in m.legs {
            if let Ok(leg) = self.leg_mut(l) {
                leg.mix = None;
                leg.remove_consumer();
            }
        }
        Ok(())
    }

    /// An RTP datagram arrived on `slot`'s RTP socket from `from`; `buf[..len]` holds it and
    /// the rest of `buf` is room for a transcoded payload. See [`Forward`].
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        slot: LegSlot,
        from: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Forward {
        let len = len.min(buf.len());
        if looks_like_rtcp(&buf[..len]) {
            // RTCP multiplexed on the RTP port (RFC 5761).
            self.handle_rtcp(now, slot, from, &buf[..len]);
            return Forward::Drop;
        }
        let Some(Some(leg)) = self.legs.get_mut(slot.0 as usize) else {
            return Forward::Drop;
        };
        let Ok(h) = RtpHeader::parse(&buf[..len]) else {
            leg.stats.malformed_dropped += 1;
            return Forward::Drop;
        };
        let pt = h.payload_type;
        match leg.latched_rtp {
            Some(addr) if addr != from => {
                leg.stats.foreign_dropped += 1;
                return Forward::Drop;
            }
            Some(_) => {}
            None => {
                if !leg.accepts_pt(pt) {
                    leg.stats.malformed_dropped += 1;
                    return Forward::Drop;
                }
                leg.latched_rtp = Some(from);
                leg.dest_rtp = Some(from);
                if leg.latched_rtcp.is_none() && leg.cfg.remote_rtcp.is_none() {
                    leg.dest_rtcp = Some(crate::leg::rtcp_of(from));
                }
                self.events.push_back(EngineEvent::LegLatched {
                    session: leg.session,
                    leg: leg.id,
                    remote: from,
                });
            }
        }
        if !leg.accepts_pt(pt) {
            leg.stats.malformed_dropped += 1;
            return Forward::Drop;
        }
        if !leg.cfg.direction.receives() {
            return Forward::Drop;
        }
        leg.stats.packets_in += 1;
        leg.stats.octets_in += h.payload_len as u64;
        leg.reception
            .on_packet(now, h.ssrc, h.sequence, h.timestamp);
        leg.last_rx = Some(now);
        leg.timeout_reported = false;

        let payload = h.payload_range();
        if leg.cfg.telephone_event_pt == Some(pt) {
            if let Ok(ev) = TelephoneEvent::parse(&buf[payload.clone()])
                && let Some(d) = leg.events.on_packet(now, h.timestamp, ev)
            {
                self.events.push_back(EngineEvent::Dtmf {
                    session: leg.session,
                    leg: leg.id,
                    digit: d.digit,
                    duration: d.duration,
                    source: DtmfSource::Rfc4733,
                });
            }
        } else if leg.inbound.is_some() || leg.inband.is_some() {
            let scratch = &mut self.scratch[..];
            let decoded = match leg.decoder(pt) {
                Some(dec) => dec.decode(&buf[payload.clone()], scratch).unwrap_or(0),
                None => 0,
            };
            if decoded > 0 {
                let pcm = &scratch[..decoded];
                if let Some(inb) = leg.inbound.as_mut() {
                    inb.push(pcm);
                }
                if let Some(det) = leg.inband.as_mut() {
                    let (session, id, events) = (leg.session, leg.id, &mut self.events);
                    det.process(pcm, |d| {
                        events.push_back(EngineEvent::Dtmf {
                            session,
                            leg: id,
                            digit: d.digit,
                            duration: d.duration,
                            source: DtmfSource::Inband,
                        })
                    });
                }
            }
        }

        // Relay to the routed peer.
        let Some(route) = leg.route.as_mut() else {
            return Forward::Drop;
        };
        let action = route.actions[usize::from(pt)];
        let peer_slot = route.peer;
        let source = routed_source(leg.id, h.ssrc);
        let mut payload_len = h.payload_len;
        let mut total = len;
        let mut in_ts = h.timestamp;
        let out_pt = match action {
            Action::Drop => return Forward::Drop,
            Action::Pass(p) => p,
            Action::UlawToAlaw(p) => {
                g711::ulaw_to_alaw_in_place(&mut buf[payload]);
                p
            }
            Action::AlawToUlaw(p) => {
                g711::alaw_to_ulaw_in_place(&mut buf[payload]);
                p
            }
            Action::Transcode(p) => {
                let Some(tc) = route.transcoders.iter_mut().find(|t| t.pt == pt) else {
                    return Forward::Drop;
                };
                let scratch = &mut self.scratch[..];
                let Ok(n) = tc.dec.decode(&buf[payload.clone()], scratch) else {
                    return Forward::Drop;
                };
                let Ok(m) = tc.enc.encode(&scratch[..n], &mut buf[h.payload_offset..]) else {
                    return Forward::Drop;
                };
                if tc.in_clock != tc.out_clock {
                    // Timestamps move to the peer's clock. (Where the inbound timestamp
                    // wraps, the scaled one jumps: the call sequence sees a restart and
                    // rebases, once a day or so.)
                    in_ts = (u64::from(h.timestamp) * u64::from(tc.out_clock)
                        / u64::from(tc.in_clock.max(1))) as u32;
                }
                buf[0] &= !0x20; // the new payload has no padding
                payload_len = m;
                total = h.payload_offset + m;
                p
            }
        };
        let Some(Some(peer)) = self.legs.get_mut(peer_slot.0 as usize) else {
            return Forward::Drop;
        };
        if !peer.cfg.direction.sends() || peer.player.is_playing() || peer.mix.is_some() {
            return Forward::Drop;
        }
        let Some(to) = peer.dest_rtp else {
            return Forward::Drop;
        };
        let Some(r) = peer
            .seq
            .rewrite(now, source, h.sequence, in_ts, h.marker, payload_len)
        else {
            return Forward::Drop;
        };
        let rw = HeaderRewrite {
            marker: r.marker,
            payload_type: out_pt,
            sequence: r.sequence,
            timestamp: r.timestamp,
            ssrc: r.ssrc,
        };
        if rewrite(&mut buf[..total], &rw).is_err() {
            return Forward::Drop;
        }
        peer.stats.packets_out += 1;
        peer.stats.octets_out += payload_len as u64;
        Forward::Send {
            from: peer_slot,
            to,
            len: total,
        }
    }

    /// An RTCP datagram arrived on `slot`'s RTCP socket (or multiplexed on its RTP socket).
    pub fn handle_rtcp(&mut self, now: Instant, slot: LegSlot, from: SocketAddr, data: &[u8]) {
        let Some(Some(leg)) = self.legs.get_mut(slot.0 as usize) else {
            return;
        };
        let Ok(summary) = rtcp::parse(data) else {
            leg.stats.malformed_dropped += 1;
            return;
        };
        match leg.latched_rtcp {
            Some(a) if a != from => {
                leg.stats.foreign_dropped += 1;
                return;
            }
            Some(_) => {}
            None => {
                leg.latched_rtcp = Some(from);
                leg.dest_rtcp = Some(from);
            }
        }
        leg.stats.rtcp_in += 1;
        if let Some((_, ntp)) = summary.sender {
            leg.last_sr = Some((ntp.middle(), now));
        }
        if let Some(rep) = summary.report
            && rep.ssrc == leg.seq.ssrc()
        {
            leg.stats.remote_fraction_lost_pct = Some(f64::from(rep.fraction_lost) * 100.0 / 256.0);
            leg.stats.remote_jitter_ms =
                Some(f64::from(rep.jitter) * 1000.0 / f64::from(leg.send_clock));
        }
    }

    /// Drive players, mixers, recorders, RTCP reports and timeouts. `unix` is the wall-clock
    /// time (since the Unix epoch) for RTCP NTP timestamps.
    pub fn tick(&mut self, now: Instant, unix: Duration) {
        self.now = Some(now);
        self.unix = unix;
        let epoch = *self.epoch.get_or_insert(now);
        // Frame k is due at epoch + k·TICK. A driver's wake-ups jitter around its own grid, a
        // little early or late against this one, so a frame counts as due from half a tick
        // before its time: a tick that comes a hair early still sends the frame, instead of
        // leaving it to the next tick (a 40 ms gap, then a skipped frame).
        let elapsed = now.saturating_duration_since(epoch).as_nanos() + TICK.as_nanos() / 2;
        let target = (elapsed / TICK.as_nanos()) as u64 + 1;
        let due = target.saturating_sub(self.frames_done);
        if due > MAX_CATCH_UP {
            // A long stall: skip the frames, and let every stream rebase on wall-clock time.
            for leg in self.legs.iter_mut().flatten() {
                leg.seq.end_segment();
                leg.acc.clear();
                leg.acc_source = None;
            }
            self.frames_done = target - 1;
            self.frame(now, true);
            self.frames_done = target;
        } else {
            for k in 0..due {
                self.frame(now, k + 1 == due);
                self.frames_done += 1;
            }
        }
        self.timers(now);
    }

    /// One 20 ms frame. With `send` false the frame only advances time (catching up).
    fn frame(&mut self, now: Instant, send: bool) {
        let _ = now;
        for leg in self.legs.iter_mut().flatten() {
            if let Some(inb) = leg.inbound.as_mut() {
                inb.read_frame(&mut leg.tick_frame[..]);
            }
        }
        // Recordings.
        for (id, rec) in self.recordings.iter_mut() {
            let ch = usize::from(rec.source.channels());
            let mut frame = [0i16; 2 * FRAME];
            if !rec.paused {
                let get = |l: &LegId| {
                    self.index
                        .get(l)
                        .and_then(|s| self.legs[s.0 as usize].as_ref())
                        .map(|leg| &*leg.tick_frame)
                };
                match &rec.source {
                    RecordSource::Leg(l) => {
                        if let Some(f) = get(l) {
                            frame[..FRAME].copy_from_slice(f);
                        }
                    }
                    RecordSource::Stereo(l, r) => {
                        let zero = [0i16; FRAME];
                        let (fl, fr) = (get(l).unwrap_or(&zero), get(r).unwrap_or(&zero));
                        for k in 0..FRAME {
                            frame[2 * k] = fl[k];
                            frame[2 * k + 1] = fr[k];
                        }
                    }
                    RecordSource::Mix(ls) => {
                        let mut sum = [0i32; FRAME];
                        for f in ls.iter().filter_map(get) {
                            for k in 0..FRAME {
                                sum[k] += i32::from(f[k]);
                            }
                        }
                        for k in 0..FRAME {
                            frame[k] = sum[k].clamp(-32768, 32767) as i16;
                        }
                    }
                }
            }
            rec.chunk.extend_from_slice(&frame[..FRAME * ch]);
            rec.frames += 1;
            if rec.chunk.len() >= CHUNK_FRAMES * FRAME * ch {
                let samples = std::mem::replace(
                    &mut rec.chunk,
                    Vec::with_capacity(CHUNK_FRAMES * FRAME * ch),
                );
                self.records
                    .push_back(RecordOutput::Samples { id: *id, samples });
            }
        }
        // Mixes: each member hears the sum of the others.
        for (mid, mix) in &self.mixes {
            let mut sum = [0i32; FRAME];
            for l in &mix.legs {
                if let Some(leg) = self
                    .index
                    .get(l)
                    .and_then(|s| self.legs[s.0 as usize].as_ref())
                {
                    for (acc, &x) in sum.iter_mut().zip(leg.tick_frame.iter()) {
                        *acc += i32::from(x);
                    }
                }
            }
            for l in &mix.legs {
                let Some(&slot) = self.index.get(l) else {
                    continue;
                };
                let Some(leg) = self.legs[slot.0 as usize].as_mut() else {
                    continue;
                };
                if leg.player.is_playing() {
                    continue;
                }
                let mut out = [0i16; FRAME];
                for k in 0..FRAME {
                    out[k] = (sum[k] - i32::from(leg.tick_frame[k])).clamp(-32768, 32767) as i16;
                }
                push_generated(
                    leg,
                    slot,
                    SourceId(SRC_MIX | mid.0),
                    &out,
                    send,
                    &mut self.pending_rtp,
                );
            }
        }
        // Players.
        for (k, entry) in self.legs.iter_mut().enumerate() {
            let Some(leg) = entry.as_mut() else { continue };
            let Some(current) = leg.player.current() else {
                continue;
            };
            let mut out = [0i16; FRAME];
            let (session, id, events) = (leg.session, leg.id, &mut self.events);
            leg.player.fill(&mut out, |playback, reason| {
                events.push_back(EngineEvent::PlaybackFinished {
                    session,
                    leg: id,
                    playback,
                    reason,
                })
            });
            let source = SourceId(SRC_PLAYER | (current.0 & 0x3FFF_FFFF_FFFF_FFFF));
            push_generated(
                leg,
                LegSlot(k as u32),
                source,
                &out,
                send,
                &mut self.pending_rtp,
            );
        }
    }

    fn timers(&mut self, now: Instant) {
        let interval = self.config.rtcp_interval;
        for (k, entry) in self.legs.iter_mut().enumerate() {
            let Some(leg) = entry.as_mut() else { continue };
            if now >= leg.next_rtcp {
                let jitter = interval.mul_f64(self.rng.below(1000) as f64 / 1000.0);
                leg.next_rtcp = now + interval / 2 + jitter;
                let active = leg.seq.stats().packets > 0 || leg.reception.received() > 0;
                if active
                    && leg.dest_rtcp.is_some()
                    && leg.cfg.direction != crate::leg::Direction::Inactive
                {
                    self.pending_rtcp.push_back(LegSlot(k as u32));
                }
            }
            if let Some(timeout) = leg.cfg.rtp_timeout {
                let since = leg.last_rx.unwrap_or(leg.created);
                let silent = now.saturating_duration_since(since);
                if leg.cfg.direction.receives() && !leg.timeout_reported && silent >= timeout {
                    leg.timeout_reported = true;
                    self.events.push_back(EngineEvent::RtpTimeout {
                        session: leg.session,
                        leg: leg.id,
                        silent,
                    });
                }
            }
            if let Some(d) = leg.events.poll_timeout(now) {
                self.events.push_back(EngineEvent::Dtmf {
                    session: leg.session,
                    leg: leg.id,
                    digit: d.digit,
                    duration: d.duration,
                    source: DtmfSource::Rfc4733,
                });
            }
        }
    }

    /// The next generated packet, written into `buf` (at least 1500 bytes). Drain until
    /// `None` after every input.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let now = self.now?;
        while let Some(slot) = self.pending_rtp.pop_front() {
            let Some(Some(leg)) = self.legs.get_mut(slot.0 as usize) else {
                continue;
            };
            let spp = leg.samples_per_packet();
            if leg.acc.len() < spp {
                continue;
            }
            let (Some(to), Some(source)) = (leg.dest_rtp, leg.acc_source) else {
                leg.acc.clear();
                continue;
            };
            if !leg.cfg.direction.sends() || buf.len() < RTP_HEADER_LEN + spp * 2 {
                leg.acc.clear();
                continue;
            }
            let Some(enc) = leg.encoder.as_mut() else {
                leg.acc.clear();
                continue;
            };
            let Ok(n) = enc.encode(&leg.acc[..spp], &mut buf[RTP_HEADER_LEN..]) else {
                leg.acc.clear();
                continue;
            };
            let units = leg.clock_units(spp);
            let ts = leg.acc_ts;
            leg.acc_ts = leg.acc_ts.wrapping_add(units);
            leg.acc.drain(..spp);
            let seq = leg.gen_seq;
            leg.gen_seq = leg.gen_seq.wrapping_add(1);
            let more = leg.acc.len() >= spp;
            let Some(r) = leg.seq.rewrite(now, source, seq, ts, false, n) else {
                continue;
            };
            let rw = HeaderRewrite {
                marker: r.marker,
                payload_type: leg.send_pt,
                sequence: r.sequence,
                timestamp: r.timestamp,
                ssrc: r.ssrc,
            };
            let Ok(len) = write_header(buf, &rw, n) else {
                continue;
            };
            leg.stats.packets_out += 1;
            leg.stats.octets_out += n as u64;
            if more {
                self.pending_rtp.push_front(slot);
            }
            return Some(Transmit {
                from: slot,
                rtcp: false,
                to,
                len,
            });
        }
        while let Some(slot) = self.pending_rtcp.pop_front() {
            let Some(Some(leg)) = self.legs.get_mut(slot.0 as usize) else {
                continue;
            };
            let Some(to) = leg.dest_rtcp else { continue };
            let ntp_now = NtpTime::from_unix(self.unix);
            let last_sr = leg.last_sr.map(|(middle, at)| {
                let d = now.saturating_duration_since(at);
                (middle, (d.as_nanos() * 65_536 / 1_000_000_000) as u32)
            });
            let params = ReportParams {
                ssrc: leg.seq.ssrc(),
                sender: leg.seq.sender_info(now),
                ntp_now,
                reception: leg.reception.report(),
                last_sr,
                cname: &leg.cname,
            };
            let Ok(len) = rtcp::write_report(buf, &params) else {
                continue;
            };
            leg.stats.rtcp_out += 1;
            return Some(Transmit {
                from: slot,
                rtcp: true,
                to,
                len,
            });
        }
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        self.events.pop_front()
    }

    /// The next recording output.
    pub fn poll_record(&mut self) -> Option<RecordOutput> {
        self.records.pop_front()
    }
}

/// Put one frame of generated audio on a leg's output.
fn push_generated(
    leg: &mut Leg,
    slot: LegSlot,
    source: SourceId,
    samples: &[i16; FRAME],
    send: bool,
    pending: &mut VecDeque<LegSlot>,
) {
    if leg.acc_source != Some(source) {
        let units = leg.clock_units(leg.acc.len());
        leg.acc_ts = leg.acc_ts.wrapping_add(units);
        leg.acc.clear();
        leg.acc_source = Some(source);
    }
    if !send || !leg.cfg.direction.sends() {
        // Time passes for the generator even when nothing is sent.
        let units = leg.clock_units(leg.acc.len() + FRAME);
        leg.acc_ts = leg.acc_ts.wrapping_add(units);
        leg.acc.clear();
        return;
    }
    let was_ready = leg.acc.len() >= leg.samples_per_packet();
    leg.acc.extend_from_slice(samples);
    if !was_ready && leg.acc.len() >= leg.samples_per_packet() {
        pending.push_back(slot);
    }
}
