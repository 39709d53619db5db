//! The control side of a handler: sessions and their legs, routes, mixes and recordings as
//! the control interface sees them; the port pool; the prompt cache; and the calls into the
//! media threads that own the engines.
//!
//! Control operations are serialised by one async lock (they are rare next to packets, and
//! each is a short round trip to a media thread); packets never take it.

use std::collections::{BTreeMap, HashMap};
use std::net::UdpSocket;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use media::{LegId, LegSnapshot, MixId, PlaybackId, RecordingId, RouteId, SessionId};
use media_api as api;
use media_api::{ApiError, ErrorCode};
use tokio::sync::broadcast;

use crate::config::HandlerConfig;
use crate::convert;
use crate::pool::{Lease, PortPool};
use crate::thread::{Gone, ThreadHandle};
use crate::writer::{self, WriterMsg};

struct LegInfo {
    kind: api::MediaKind,
    rtp_port: u16,
    codecs: Vec<api::Codec>,
    telephone_event_pt: Option<u8>,
    ptime_ms: u16,
    direction: api::Direction,
}

struct SessionInfo {
    thread: usize,
    services: Vec<api::ServiceType>,
    reserved_kbps: u32,
    label: Option<String>,
    legs: BTreeMap<u64, LegInfo>,
    routes: BTreeMap<u64, api::Route>,
    mixes: BTreeMap<u64, api::Mix>,
    recordings: BTreeMap<u64, api::Recording>,
}

#[derive(Default)]
struct Registry {
    sessions: BTreeMap<u64, SessionInfo>,
    sessions_per_thread: Vec<usize>,
}

/// Measured rates, sampled about once a second.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    at: Option<Instant>,
    totals: [u64; 4],
    /// Packets received per second.
    pub packets_in_per_s: f64,
    /// Packets sent per second.
    pub packets_out_per_s: f64,
    /// kbit/s in + out, IP and UDP headers included.
    pub kbps: f64,
}

/// The shared state of one handler.
pub struct Handler {
    pub(crate) config: HandlerConfig,
    pub(crate) url: String,
    pub(crate) threads: Vec<ThreadHandle>,
    pool: Arc<Mutex<PortPool>>,
    registry: tokio::sync::Mutex<Registry>,
    pub(crate) events: broadcast::Sender<api::Event>,
    writer: SyncSender<WriterMsg>,
    prompts: Mutex<HashMap<PathBuf, Arc<[i16]>>>,
    next_id: AtomicU64,
    rates: Mutex<Rates>,
    /// The registry's counts as last read, for a status asked while a control request
    /// holds the registry (see [`Handler::status`]).
    last_counts: Mutex<Counts>,
    started: Instant,
}

/// What the status reports from the session registry.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    reserved_kbps: u32,
    sessions: u32,
    legs: u32,
    recordings: u32,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn gone(_: Gone) -> ApiError {
    ApiError::new(
        ErrorCode::Unavailable,
        "the media thread is not running (shutting down?)",
    )
}

fn not_found_session(id: u64) -> ApiError {
    ApiError::new(ErrorCode::UnknownSession, format!("no session {id}"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere while holding it; the data inside (a cache, a
    // pool, rates) is consistent after every single step, so keep using it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Handler {
    pub(crate) fn new(
        config: HandlerConfig,
        url: String,
        threads: Vec<ThreadHandle>,
        events: broadcast::Sender<api::Event>,
        writer: SyncSender<WriterMsg>,
    ) -> Handler {
        let pool = Arc::new(Mutex::new(PortPool::new(config.rtp_ports)));
        let registry = Registry {
            sessions: BTreeMap::new(),
            sessions_per_thread: vec![0; threads.len()],
        };
        Handler {
            config,
            url,
            threads,
            pool,
            registry: tokio::sync::Mutex::new(registry),
            events,
            writer,
            prompts: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            rates: Mutex::new(Rates::default()),
            last_counts: Mutex::new(Counts::default()),
            started: Instant::now(),
        }
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn session(reg: &Registry, id: u64) -> Result<&SessionInfo, ApiError> {
        reg.sessions.get(&id).ok_or_else(|| not_found_session(id))
    }

    fn session_mut(reg: &mut Registry, id: u64) -> Result<&mut SessionInfo, ApiError> {
        reg.sessions
            .get_mut(&id)
            .ok_or_else(|| not_found_session(id))
    }

    fn check_leg(s: &SessionInfo, sid: u64, leg: u64) -> Result<(), ApiError> {
        if s.legs.contains_key(&leg) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::UnknownLeg,
                format!("no leg {leg} in session {sid}"),
            ))
        }
    }

    fn leg_view(&self, sid: u64, id: u64, info: &LegInfo, snap: Option<LegSnapshot>) -> api::Leg {
        let snap = snap.unwrap_or(LegSnapshot {
            remote_rtp: None,
            remote_rtcp: None,
            latched: false,
            stats: media::LegStats::default(),
        });
        api::Leg {
            id: api::LegId(id),
            session_id: api::SessionId(sid),
            kind: info.kind,
            local_ip: self.config.rtp_ip,
            rtp_port: info.rtp_port,
            rtcp_port: info.rtp_port + 1,
            remote_rtp: snap.remote_rtp,
            remote_rtcp: snap.remote_rtcp,
            latched: snap.latched,
            codecs: info.codecs.clone(),
            telephone_event_pt: info.telephone_event_pt,
            ptime_ms: info.ptime_ms,
            direction: info.direction,
            stats: convert::stats(&snap.stats),
        }
    }

    async fn snapshots(
        &self,
        thread: usize,
        legs: Vec<u64>,
    ) -> Result<Vec<Option<LegSnapshot>>, ApiError> {
        self.threads[thread]
            .call(move |ctx| {
                legs.iter()
                    .map(|l| ctx.engine.leg_snapshot(LegId(*l)))
                    .collect()
            })
            .await
            .map_err(gone)
    }

    async fn session_view(&self, sid: u64, s: &SessionInfo) -> Result<api::Session, ApiError> {
        let ids: Vec<u64> = s.legs.keys().copied().collect();
        let snaps = self.snapshots(s.thread, ids.clone()).await?;
        let legs = ids
            .iter()
            .zip(snaps)
            .map(|(id, snap)| self.leg_view(sid, *id, &s.legs[id], snap))
            .collect();
        Ok(api::Session {
            id: api::SessionId(sid),
            services: s.services.clone(),
            reserved_kbps: s.reserved_kbps,
            label: s.label.clone(),
            legs,
            routes: s.routes.values().cloned().collect(),
            mixes: s.mixes.values().cloned().collect(),
            recordings: s.recordings.values().cloned().collect(),
        })
    }

    /// `POST /v1/sessions`.
    pub async fn create_session(&self, req: api::CreateSession) -> Result<api::Session, ApiError> {
        if req.services.is_empty() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "services must name at least one of route, play, record, mix",
            ));
        }
        let mut reg = self.registry.lock().await;
        let thread = (0..self.threads.len())
            .min_by_key(|t| reg.sessions_per_thread[*t])
            .unwrap_or(0);
        reg.sessions_per_thread[thread] += 1;
        let id = self.id();
        let info = SessionInfo {
            thread,
            services: req.services,
            reserved_kbps: req.reserved_kbps.unwrap_or(0),
            label: req.label,
            legs: BTreeMap::new(),
            routes: BTreeMap::new(),
            mixes: BTreeMap::new(),
            recordings: BTreeMap::new(),
        };
        let view = api::Session {
            id: api::SessionId(id),
            services: info.services.clone(),
            reserved_kbps: info.reserved_kbps,
            label: info.label.clone(),
            legs: vec![],
            routes: vec![],
            mixes: vec![],
            recordings: vec![],
        };
        reg.sessions.insert(id, info);
        Ok(view)
    }

    /// `GET /v1/sessions/{id}`.
    pub async fn get_session(&self, sid: u64) -> Result<api::Session, ApiError> {
        let reg = self.registry.lock().await;
        let s = Self::session(&reg, sid)?;
        self.session_view(sid, s).await
    }

    /// `GET /v1/sessions`.
    pub async fn list_sessions(&self) -> Result<Vec<api::Session>, ApiError> {
        let reg = self.registry.lock().await;
        let mut out = Vec::with_capacity(reg.sessions.len());
        for (sid, s) in &reg.sessions {
            out.push(self.session_view(*sid, s).await?);
        }
        Ok(out)
    }

    /// `DELETE /v1/sessions/{id}`: legs closed, ports returned, recordings finalized.
    pub async fn delete_session(&self, sid: u64) -> Result<(), ApiError> {
        let mut reg = self.registry.lock().await;
        let s = reg
            .sessions
            .remove(&sid)
            .ok_or_else(|| not_found_session(sid))?;
        reg.sessions_per_thread[s.thread] = reg.sessions_per_thread[s.thread].saturating_sub(1);
        let result = self.threads[s.thread]
            .call(move |ctx| {
                let slots = ctx.engine.remove_session(Instant::now(), SessionId(sid));
                for slot in slots {
                    ctx.detach(slot);
                }
            })
            .await;
        // The sockets are closed (or their thread is gone): the ports are free either way.
        let mut pool = lock(&self.pool);
        for leg in s.legs.values() {
            pool.release(leg.rtp_port);
        }
        result.map_err(gone)
    }

    fn bind_pair(&self) -> Result<(Lease, UdpSocket, UdpSocket), ApiError> {
        let ip = self.config.rtp_ip;
        for _ in 0..16 {
            let Some(lease) = Lease::take(&self.pool) else {
                break;
            };
            let p = lease.port();
            let Ok(rtp) = UdpSocket::bind((ip, p)) else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind((ip, p + 1)) else {
                continue;
            };
            return Ok((lease, rtp, rtcp));
        }
        Err(ApiError::new(
            ErrorCode::PortsExhausted,
            format!(
                "no free RTP/RTCP port pair in {} on {ip}",
                self.config.rtp_ports
            ),
        ))
    }

    /// `POST /v1/sessions/{id}/legs`.
    pub async fn add_leg(&self, sid: u64, req: api::AddLeg) -> Result<api::Leg, ApiError> {
        let mut reg = self.registry.lock().await;
        let thread = Self::session(&reg, sid)?.thread;
        let (lease, rtp, rtcp) = self.bind_pair()?;
        let id = self.id();
        let cfg = convert::leg_config(&req);
        let snap = self.threads[thread]
            .call(move |ctx| {
                let slot = ctx
                    .engine
                    .add_leg(Instant::now(), LegId(id), SessionId(sid), cfg)
                    .map_err(convert::error)?;
                if let Err(e) = ctx.attach(slot, rtp, rtcp) {
                    let _ = ctx.engine.remove_leg(Instant::now(), LegId(id));
                    return Err(ApiError::new(
                        ErrorCode::Internal,
                        format!("cannot watch the leg's sockets: {e}"),
                    ));
                }
                Ok(ctx.engine.leg_snapshot(LegId(id)))
            })
            .await
            .map_err(gone)??;
        let info = LegInfo {
            kind: req.kind,
            rtp_port: lease.keep(),
            codecs: req.codecs,
            telephone_event_pt: req.telephone_event_pt,
            ptime_ms: req.ptime_ms.unwrap_or(20),
            direction: req.direction,
        };
        let view = self.leg_view(sid, id, &info, snap);
        Self::session_mut(&mut reg, sid)?.legs.insert(id, info);
        Ok(view)
    }

    /// `GET /v1/sessions/{id}/legs/{leg}`.
    pub async fn get_leg(&self, sid: u64, lid: u64) -> Result<api::Leg, ApiError> {
        let reg = self.registry.lock().await;
        let s = Self::session(&reg, sid)?;
        Self::check_leg(s, sid, lid)?;
        let snap = self.snapshots(s.thread, vec![lid]).await?.pop().flatten();
        Ok(self.leg_view(sid, lid, &s.legs[&lid], snap))
    }

    /// `PATCH /v1/sessions/{id}/legs/{leg}`.
    pub async fn update_leg(
        &self,
        sid: u64,
        lid: u64,
        req: api::UpdateLeg,
    ) -> Result<api::Leg, ApiError> {
        let mut reg = self.registry.lock().await;
        let s = Self::session(&reg, sid)?;
        Self::check_leg(s, sid, lid)?;
        let update = convert::leg_update(&req);
        let snap = self.threads[s.thread]
            .call(move |ctx| {
                ctx.engine
                    .update_leg(Instant::now(), LegId(lid), update)
                    .map_err(convert::error)?;
                Ok::<_, ApiError>(ctx.engine.leg_snapshot(LegId(lid)))
            })
            .await
            .map_err(gone)??;
        let s = Self::session_mut(&mut reg, sid)?;
        let Some(info) = s.legs.get_mut(&lid) else {
            return Err(not_found_session(sid));
        };
        if let Some(c) = req.codecs {
            info.codecs = c;
        }
        if req.clear_telephone_event {
            info.telephone_event_pt = None;
        } else if let Some(te) = req.telephone_event_pt {
            info.telephone_event_pt = Some(te);
        }
        if let Some(p) = req.ptime_ms {
            info.ptime_ms = p;
        }
        if let Some(d) = req.direction {
            info.direction = d;
        }
        let info = &s.legs[&lid];
        Ok(self.leg_view(sid, lid, info, snap))
    }

    /// `DELETE /v1/sessions/{id}/legs/{leg}`.
    pub async fn remove_leg(&self, sid: u64, lid: u64) -> Result<(), ApiError> {
        let mut reg = self.registry.lock().await;
        let s = Self::session_mut(&mut reg, sid)?;
        Self::check_leg(s, sid, lid)?;
        let thread = s.thread;
        let result = self.threads[thread]
            .call(move |ctx| {
                if let Ok(slot) = ctx.engine.remove_leg(Instant::now(), LegId(lid)) {
                    ctx.detach(slot);
                }
            })
            .await;
        if let Some(info) = s.legs.remove(&lid) {
            lock(&self.pool).release(info.rtp_port);
        }
        s.routes.retain(|_, r| r.a.0 != lid && r.b.0 != lid);
        for m in s.mixes.values_mut() {
            m.legs.retain(|l| l.0 != lid);
        }
        result.map_err(gone)
    }

    /// `POST /v1/sessions/{id}/routes`.
    pub async fn create_route(
        &self,
        sid: u64,
        req: api::CreateRoute,
    ) -> Result<api::Route, ApiError> {
        let mut reg = self.registry.lock().await;
        let s = Self::session(&reg, sid)?;
        Self::check_leg(s, sid, req.a.0)?;
        Self::check_leg(s, sid, req.b.0)?;
        let id = self.id();
        let (a, b) = (LegId(req.a.0), LegId(req.b.0));
        self.threads[s.thread]
            .call(move |ctx| {
                ctx.engine
                    .route(Instant::now(), RouteId(id), SessionId(sid), a, b)
            })
            .await
            .map_err(gone)?
            .map_err(convert::error)?;
        let route = api::Route {
            id: api::RouteId(id),
            a: req.a,
            b: req.b,
        };
        Self::session_mut(&mut reg, sid)?
            .routes
            .insert(id, route.clone());
        Ok(route)
    }

    /// `DELETE /v1/sessions/{id}/routes/{route}`.
    pub async fn delete_route(&self, sid: u64, rid: u64) -> Result<(), ApiError> {
        let mut reg = self.registry.lock().await;
        let s = Self::session_mut(&mut reg, sid)?;
        if !s.routes.contains_key(&rid) {
            return Err(ApiError::new(
                ErrorCode::UnknownRoute,
                format!("no route {rid} in session {sid}"),
            ));
        }
        self.threads[s.thread]
            .call(move |ctx| ctx.engine.unroute(Instant::now(), RouteId(rid)))
            .await
            .map_err(gone)?
            .map_err(convert::error)?;
        s.routes.remove(&rid);
        Ok(())
    }

    fn resolve_prompt(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.config.data_dir.join("prompts").join(p)
        }
    }

    /// A prompt decoded at 8 kHz, from the cache or loaded once.
    async fn prompt(&self, path: &str) -> Result<Arc<[i16]>, ApiError> {
        let full = self.resolve_prompt(path);
        if let Some(p) = lock(&self.prompts).get(&full) {
            return Ok(p.clone());
        }
        let bytes = tokio::fs::read(&full).await.map_err(|e| {
            ApiError::new(
                ErrorCode::FileNotFound,
                format!("cannot read {}: {e}", full.display()),
            )
        })?;
        let samples = tokio::task::spawn_blocking(move || media::wav::load_prompt(&bytes))
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::UnsupportedFile,
                    format!("{}: {e}", full.display()),
                )
            })?;
        let samples: Arc<[i16]> = samples.into();
        lock(&self.prompts).insert(full, samples.clone());
        Ok(samples)
    }

    /// `POST /v1/sessions/{id}/legs/{leg}/play`.
    pub async fn play(
        &self,
        sid: u64,
        lid: u64,
        req: api::Play,
    ) -> Result<api::Playback, ApiError> {
        let source = match &req.source {
            api::PlaySource::File { path } => media::PlaySource::Samples(self.prompt(path).await?),
            api::PlaySource::Tone { tone, duration_ms } => {
                let t = convert::tone(*tone);
                media::PlaySource::Tone(t, duration_ms.unwrap_or_else(|| t.cycle_ms()))
            }
            api::PlaySource::Silence { duration_ms } => {
                media::PlaySource::Silence(duration_ms.unwrap_or(1000))
            }
        };
        let reg = self.registry.lock().await;
        let s = Self::session(&reg, sid)?;
        Self::check_leg(s, sid, lid)?;
        let id = self.id();
        let mode = match req.mode {
            api::PlayMode::Replace => media::PlayMode::Replace,
            api::PlayMode::Enqueue => media::PlayMode::Enqueue,
        };
        let looped = req.looped;
        let started = self.threads[s.thread]
            .call(move |ctx| {
                ctx.engine.play(
                    Instant::now(),
                    LegId(lid),
                    PlaybackId(id),
                    source,
                    looped,
                    mode,
                )
            })
            .await
            .map_err(gone)?
            .map_err(convert::error)?;
        Ok(api::Playback {
            id: api::PlaybackId(id),
            leg_id: api::LegId(lid),
            state: if started.playing_now {
                api::PlaybackState::Playing
            } else {
                api::PlaybackState::Queued
            },
            duration_ms: started.duration.map(|d| d.as_millis() as u64),
        })
    }

    /// `DELETE /v1/sessions/{id}/legs/{leg}/play`.
    pub async fn stop_play(&self, sid: u64, lid: u64) -> Result<(), ApiError> {
        let reg = self.registry.lock().await;
        let s = Self::session(&reg, sid)?;
        Self::check_leg(s, sid, lid)?;
        self.threads[s.thread]
            .call(move |ctx| ctx.engine.stop_play(Instant::now(), LegId(lid)))
            .await
            .map_err(gone)?
            .map_err(convert::error)
    }

    fn recording_path(&self, sid: u64, rid: u64, name: Option<&str>) -> Result<PathBuf, ApiError> {
        let dir = self.config.data_dir.join("recordings");
        let Some(name) = name else {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            return Ok(dir.join(format!("{sid}-{rid}-{secs}.wav")));
        };
        let p = Path::new(name);
        let plain = p.components().all(|c| matches!(c, Component::Normal(_)));
        if name.is_empty() || !plain || p.extension().and_then(|e| e.to_str()) != Some("wav") {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "recording path `{name}` must be a relative path without `..`, ending in .wav"
                ),
            ));
        }
        Ok(dir.join(p))
    }

    /// `POST /v1/sessions/{id}/recordings`.
    pub async fn start_recording(
        &self,
        sid: u64,
        req: api::StartRecording,
    ) -> Result<api::Recording, ApiError> {
        let mut reg = self.registry.lock().await;
        let s = Self::session(&reg, sid)?;
        let legs = match &req.source {
            api::RecordSource::Leg { leg } => vec![*leg],
            api::RecordSource::Stereo { left, right } => vec![*left, *right],
            api::RecordSource::Mix { legs } => legs.clone(),
        };
        for l in &legs {
            Self::check_leg(s, sid, l.0)?;
        }
        let id = self.id();
        let path = self.recording_path(sid, id, req.path.as_deref())?;
        let source = convert::record_source(&req.source);
        let channels = source.channels();
        let p = path.clone();
        let file = tokio::task::spawn_blocking(move || writer::create(&p, channels))
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::Internal,
                    format!("cannot create {}: {e}", path.display()),
                )
            })?;
        let open = WriterMsg::Open {
            id: RecordingId(id),
            session: SessionId(sid),
            path: path.clone(),
            file,
        };
        if self.writer.try_send(open).is_err() {
            let _ = std::fs::remove_file(&path);
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "the recording writer is overloaded",
            ));
        }
        let started = self.threads[s.thread]
            .call(move |ctx| {
                ctx.engine
                    .start_recording(Instant::now(), RecordingId(id), SessionId(sid), source)
            })
            .await
            .map_err(gone)
            .and_then(|r| r.map_err(convert::error));
        if let Err(e) = started {
            let _ = self.writer.send(WriterMsg::Abort {
                id: RecordingId(id),
            });
            return Err(e);
        }
        let rec = api::Recording {
            id: api::RecordingId(id),
            source: req.source,
            path: path.display().to_string(),
            state: api::RecordingState::Recording,
        };
        Self::session_mut(&mut reg, sid)?
            .recordings
            .insert(id, rec.clone());
        Ok(rec)
    }

    async fn recording_op(
        &self,
        sid: u64,
        rid: u64,
        op: fn(&mut media::Engine, RecordingId) -> Result<(), media::MediaError>,
        state: api::RecordingState,
    ) -> Result<api::Recording, ApiError> {
        let mut reg = self.registry.lock().await;
        let s = Self::session_mut(&mut reg, sid)?;
        if !s.recordings.contains_key(&rid) {
            return Err(ApiError::new(
                ErrorCode::UnknownRecording,
                format!("no recording {rid} in session {sid}"),
            ));
        }
        self.threads[s.thread]
            .call(move |ctx| op(&mut ctx.engine, RecordingId(rid)))
            .await
            .map_err(gone)?
            .map_err(convert::error)?;
        let mut rec = if state == api::RecordingState::Stopped {
            s.recordings.remove(&rid)
        } else {
            s.recordings.get(&rid).cloned()
        }
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownRecording, format!("no recording {rid}")))?;
        rec.state = state;
        if let Some(r) = s.recordings.get_mut(&rid) {
            r.state = state;
        }
        Ok(rec)
    }

    /// `POST .../recordings/{rec}/pause`.
    pub async fn pause_recording(&self, sid: u64, rid: u64) -> Result<api::Recording, ApiError> {
        self.recording_op(
            sid,
            rid,
            |e, r| e.pause_recording(r),
            api::RecordingState::Paused,
        )
        .await
    }

    /// `POST .../recordings/{rec}/resume`.
    pub async fn resume_recording(&self, sid: u64, rid: u64) -> Result<api::Recording, ApiError> {
        self.recording_op(
            sid,
            rid,
            |e, r| e.resume_recording(r),
            api::RecordingState::Recording,
        )
        .await
    }

    /// `POST .../recordings/{rec}/stop`.
    pub async fn stop_recording(&self, sid: u64, rid: u64) -> Result<api::Recording, ApiError> {
        self.recording_op(
            sid,
            rid,
            |e, r| e.stop_recording(r).map(|_| ()),
            api::RecordingState::Stopped,
        )
        .await
    }

    /// `POST /v1/sessions/{id}/mixes`.
    pub async fn create_mix(&self, sid: u64, req: api::CreateMix) -> Result<api::Mix, ApiError> {
        let mut reg = self.registry.lock().await;
        let s = Self::session(&reg, sid)?;
        for l in &req.legs {
            Self::check_leg(s, sid, l.0)?;
        }
        let id = self.id();
        let legs: Vec<LegId> = req.legs.iter().map(|l| LegId(l.0)).collect();
        self.threads[s.thread]
            .call(move |ctx| {
                ctx.engine
                    .create_mix(Instant::now(), MixId(id), SessionId(sid), legs)
            })
            .await
            .map_err(gone)?
            .map_err(convert::error)?;
        let mix = api::Mix {
            id: api::MixId(id),
            legs: req.legs,
        };
        Self::session_mut(&mut reg, sid)?
            .mixes
            .insert(id, mix.clone());
        Ok(mix)
    }

    /// `DELETE /v1/sessions/{id}/mixes/{mix}`.
    pub async fn delete_mix(&self, sid: u64, mid: u64) -> Result<(), ApiError> {
        let mut reg = self.registry.lock().await;
        let s = Self::session_mut(&mut reg, sid)?;
        if !s.mixes.contains_key(&mid) {
            return Err(ApiError::new(
                ErrorCode::UnknownMix,
                format!("no mix {mid} in session {sid}"),
            ));
        }
        self.threads[s.thread]
            .call(move |ctx| ctx.engine.delete_mix(Instant::now(), MixId(mid)))
            .await
            .map_err(gone)?
            .map_err(convert::error)?;
        s.mixes.remove(&mid);
        Ok(())
    }

    /// Sample the threads' counters (called about once a second).
    pub(crate) fn sample_rates(&self) {
        let mut totals = [0u64; 4];
        for t in &self.threads {
            let c = &t.counters;
            totals[0] += c.packets_in.load(Ordering::Relaxed);
            totals[1] += c.bytes_in.load(Ordering::Relaxed);
            totals[2] += c.packets_out.load(Ordering::Relaxed);
            totals[3] += c.bytes_out.load(Ordering::Relaxed);
        }
        let now = Instant::now();
        let mut r = lock(&self.rates);
        if let Some(at) = r.at {
            let dt = now.duration_since(at).as_secs_f64().max(1e-3);
            let d: Vec<f64> = (0..4)
                .map(|k| totals[k].saturating_sub(r.totals[k]) as f64 / dt)
                .collect();
            // IPv4 + UDP headers: 28 bytes per packet.
            let kbps = ((d[1] + d[3]) + 28.0 * (d[0] + d[2])) * 8.0 / 1000.0;
            let smooth = |old: f64, new: f64| {
                if old == 0.0 {
                    new
                } else {
                    0.5 * old + 0.5 * new
                }
            };
            r.packets_in_per_s = smooth(r.packets_in_per_s, d[0]);
            r.packets_out_per_s = smooth(r.packets_out_per_s, d[2]);
            r.kbps = smooth(r.kbps, kbps);
        }
        r.at = Some(now);
        r.totals = totals;
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> api::Status {
        // The controller reads this every half second to tell a live handler from a dead
        // one, so it must not queue behind control requests that hold the registry (a burst
        // of call set-ups on a loaded machine). When the registry is busy, the counts as
        // last read are reported; they are at most one burst old.
        let counts = match self.registry.try_lock() {
            Ok(reg) => {
                let c = Counts {
                    reserved_kbps: reg.sessions.values().map(|s| s.reserved_kbps).sum(),
                    sessions: reg.sessions.len() as u32,
                    legs: reg.sessions.values().map(|s| s.legs.len()).sum::<usize>() as u32,
                    recordings: reg
                        .sessions
                        .values()
                        .map(|s| s.recordings.len())
                        .sum::<usize>() as u32,
                };
                *lock(&self.last_counts) = c;
                c
            }
            Err(_) => *lock(&self.last_counts),
        };
        let rates = *lock(&self.rates);
        let (free, total) = {
            let p = lock(&self.pool);
            (p.free(), p.total())
        };
        api::Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            capacity_kbps: self.config.capacity_kbps,
            reserved_kbps: counts.reserved_kbps,
            measured_kbps: (rates.kbps * 10.0).round() / 10.0,
            packets_in_per_s: rates.packets_in_per_s.round(),
            packets_out_per_s: rates.packets_out_per_s.round(),
            sessions: counts.sessions,
            legs: counts.legs,
            media_threads: self.threads.len() as u32,
            media_io: self.threads.first().map_or("", |t| t.io).to_string(),
            ports_free: free as u32,
            ports_total: total as u32,
            recordings: counts.recordings,
            uptime_s: self.started.elapsed().as_secs(),
        }
    }

    /// Stop the media threads (recordings are finalized) and the writer.
    pub(crate) fn stop_threads(&self) {
        for t in &self.threads {
            t.stop();
        }
        let _ = self.writer.send(WriterMsg::FinishAll);
    }
}
