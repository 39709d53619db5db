//! One task per customer contact: the customer side of the B2BUA and the
//! driver of the contact's flow.
//!
//! # Life of a contact
//!
//! 1. **Admission** ([`CallContext::incoming`], on the signalling task): the
//!    Request-URI's user must be a configured number (else `404`). The task is
//!    spawned with three inputs: SIP events from the signalling task, media
//!    events from the contact's handler, and its own inputs (webhook replies,
//!    queue events).
//! 2. **Setup**: the SDP offer is parsed (`400` when malformed), the bandwidth
//!    manager places the contact (`488` with `Warning` when nothing is
//!    acceptable, `503` + `Retry-After` when no handler has room), the media
//!    session and the caller's leg are created on the chosen handler, and the
//!    SDP answer is built on the leg's address and ports. Accepted video gets a
//!    video leg of its own (its port in the answer's `m=video`); the bandwidth
//!    manager answers it with port 0 first when room is short.
//! 3. **The flow** runs. This task is its driver, with the engine's contract:
//!    after every input (`start`, `handle_event`, `handle_timeout`) take every
//!    command and execute it in order — mutate, then drain — then arm one
//!    timer at `poll_timeout`. `Answer` sends the `200` with the SDP answer
//!    (the `2xx` is retransmitted until the ACK by the endpoint). Media
//!    commands go to the handler; results come back as events.
//! 4. **End**: the customer's BYE or CANCEL, the flow's hang-up, an ACK
//!    timeout, an RTP timeout or shutdown. Teardown waits for a running
//!    recording's file, deletes the media session, releases the placement,
//!    and closes the call record.
//!
//! **Transfer** (`transfer: sip:...`) is done as a B2BUA, not with REFER: the
//! controller INVITEs the target from a new leg of the contact's own media
//! session (the caller hears ringback meanwhile), and on `2xx` routes caller ↔
//! target on the handler. The caller's RTP keeps its SSRC and sequence, the
//! call stays recorded and accounted, and a failure (busy, no answer, bad
//! answer) goes back to the flow as `TransferFailed`. When the caller has video,
//! the target is offered the caller's video codec on a second leg, and if its
//! answer accepts it the two video legs are routed too (relayed untouched, no
//! transcoding). The same machinery
//! connects ACD agents ([`crate::queue::QueueEvent::Offer`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bandwidth::{ContactId, HandlerId, PlaceError, PlaceRequest, Priority, Services};
use bytes::Bytes;
use flow::{Command, OpId, Timestamp};
use media_api::{
    AddLeg, CreateRoute, CreateSession, Leg, MediaClient, MediaKind, PlayMode, PlaySource,
    RecordSource, RecordingId, ServiceType, SessionId, StartRecording, Tone, UpdateLeg,
};
use sdp::{AcceptedStream, LocalMedia, LocalSession, Negotiation, SdpError, SessionDescription};
use sip::dialog::DialogId;
use sip::endpoint::TerminationReason;
use sip::transaction::{ClientTxId, ServerTxId};
use sip::{Flow, HeaderName, Host, NameAddr, Request, Response, StatusCode, Transport, Uri};
use store::{ContactEnd, MediaPlacement, NewContact, Party, RecordingKind, Store};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

mod conference;

use self::conference::{Conference, ConferenceReply};
use crate::config::RouteConfig;
use crate::explain;
use crate::live::{LiveContact, LiveContacts};
use crate::media_events::MediaEvents;
use crate::metrics;
use crate::queue::{
    CallRequest, CallRequestError, DequeueReason, EnqueueRequest, MediaRef, Offer, OfferResult,
    QueueEvent, QueueEvents, QueueService, RecordingAction, RecordingOwner, RecordingState,
    RecordingView,
};
use crate::records::{Drain, Records};
use crate::registry::Registry;
use crate::signalling::{
    CallHandler, CallKey, Dial, NewCall, Refusal, Reply, SigCommand, Signalling, SipEvent,
};

/// How long a contact may linger after the caller is gone (a flow's
/// `on: hangup` webhook, a recording's report) before it is torn down anyway.
pub const LINGER_AFTER_HANGUP: Duration = Duration::from_secs(90);
/// Queue entries of agents' blind transfers: far above any id a flow gives out.
const AGENT_TRANSFER_ENTRIES: u64 = 1 << 62;

/// How long teardown waits for a stopped recording's file.
pub const RECORDING_REPORT_WAIT: Duration = Duration::from_secs(5);
/// How long a transfer target may ring.
pub const TRANSFER_RING_TIMEOUT: Duration = Duration::from_secs(30);

/// What a contact task gets besides SIP and media events.
#[derive(Debug)]
pub enum CallInput {
    /// A webhook's result, as the flow event to feed.
    Webhook(flow::Event),
    /// A queue's decision.
    Queue(QueueEvent),
    /// The contact's media handler stopped answering long enough that its media is
    /// considered gone: the call is ended.
    MediaLost,
}

/// Everything contact tasks share.
pub struct CallContext {
    /// Configured numbers → route (for their `vars`; which numbers exist and their flow
    /// come from `directory`, which the admin API changes live).
    pub routes: HashMap<String, RouteConfig>,
    /// Routes (and agent credentials) as stored, changed live by the admin API.
    pub directory: crate::agents::Directory,
    /// The loaded flows.
    pub flows: Arc<RwLock<flow::FlowSet>>,
    /// The prompts folder (absolute): `Play` sends `<prompts>/<name>.wav`.
    pub prompts: PathBuf,
    /// Media handlers and the bandwidth manager.
    pub registry: Registry,
    /// Audio codecs the media handlers transcode (`bandwidth.transcode`): the
    /// bandwidth manager may answer with them, and degrades to the cheapest.
    pub transcodable: Vec<sdp::Codec>,
    /// Call records.
    pub store: Arc<dyn Store>,
    /// The signalling task.
    pub sig: Signalling,
    /// Media handlers' events.
    pub media_events: MediaEvents,
    /// The live contacts view.
    pub live: LiveContacts,
    /// Where `enqueue` goes (the ACD seam).
    pub queues: Arc<dyn QueueService>,
    /// For webhooks.
    pub http: reqwest::Client,
    /// Tracks the call record writers.
    pub drain: Drain,
    /// Our SIP host and port (From of outgoing INVITEs).
    pub host: Host,
    /// Our SIP port.
    pub port: Option<u16>,
    /// Prefix of contact ids, unique per process start.
    pub id_prefix: String,
    /// Contact counter.
    pub counter: AtomicU64,
}

/// The [`CallHandler`] the signalling task calls for admitted INVITEs.
pub struct Calls(pub Arc<CallContext>);

impl CallHandler for Calls {
    fn incoming(&self, call: NewCall) -> Result<mpsc::UnboundedSender<SipEvent>, Refusal> {
        let cx = &self.0;
        let dialed = call
            .request
            .uri()
            .user_unescaped()
            .map(|u| u.into_owned())
            .unwrap_or_default();
        let Some(stored) = cx.directory.route(&dialed) else {
            return Err(Refusal {
                status: StatusCode::NOT_FOUND,
                reason: None,
            });
        };
        let route = RouteConfig {
            number: toml::Spanned::new(0..0, stored.number),
            flow: toml::Spanned::new(0..0, stored.flow),
            priority: stored.priority,
            vars: cx
                .routes
                .get(&dialed)
                .map(|r| r.vars.clone())
                .unwrap_or_default(),
        };
        let n = cx.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("{}-{n}", cx.id_prefix);
        let call_id = call
            .request
            .headers()
            .call_id()
            .unwrap_or_default()
            .to_string();
        let span = tracing::info_span!("call", contact = %id, call_id = %call_id);
        let (sip_tx, sip_rx) = mpsc::unbounded_channel();
        let cx = cx.clone();
        tokio::spawn(
            async move {
                run(cx, call, id, n, call_id, dialed, route, sip_rx).await;
            }
            .instrument(span),
        );
        Ok(sip_tx)
    }
}

enum Customer {
    /// The INVITE waits for its final response.
    Offered,
    /// `200` sent; the dialog.
    Answered(DialogId),
    /// Hung up, cancelled or refused.
    Gone,
}

struct Media {
    handler: HandlerId,
    client: MediaClient,
    session: SessionId,
    leg: Leg,
    /// The caller's video leg, when the answer accepted video (relayed untouched to
    /// an agent or transfer target whose answer accepts it too; nothing to relay
    /// before that).
    video: Option<Leg>,
    local: LocalSession,
    answer: Bytes,
    codec: String,
    services: Services,
}

struct ActiveRecording {
    /// The flow's record operation; `None` for a call recording started when an agent
    /// was connected (the flow does not wait for it).
    op: Option<OpId>,
    /// Who asked for it (only an agent's own recording may be stopped by the agent).
    owner: RecordingOwner,
    id: String,
    handler_id: RecordingId,
    /// What it records.
    source: RecordSource,
    paused: bool,
    stopping: bool,
}

impl ActiveRecording {
    fn view(&self, contact: &str) -> RecordingView {
        RecordingView {
            id: self.id.clone(),
            contact: contact.to_string(),
            owner: self.owner,
            state: if self.stopping {
                RecordingState::Stopped
            } else if self.paused {
                RecordingState::Paused
            } else {
                RecordingState::Recording
            },
        }
    }
}

enum Purpose {
    Transfer {
        op: OpId,
        uri: String,
    },
    Agent {
        entry: OpId,
        agent: String,
        result: mpsc::UnboundedSender<OfferResult>,
        /// Record once bridged (stereo: customer left, agent right).
        record: bool,
    },
    /// A third party the agent conferences in (`conference.rs`).
    Conference {
        uri: String,
        /// The agent's request, answered once the party answered or failed.
        reply: Option<ConferenceReply>,
    },
}

enum OutState {
    Ringing {
        tx: ClientTxId,
        deadline: Option<Instant>,
        cancelled: bool,
        ringback: bool,
    },
    Connected(DialogId),
}

struct Outbound {
    purpose: Purpose,
    /// Customer ↔ this leg is routed on the handler (an agent's leg waits for the
    /// queue's confirmation after its 200).
    bridged: Option<media_api::RouteId>,
    leg: Leg,
    /// The target's video leg, offered when the caller has video; dropped when the
    /// target's answer rejects video.
    video: Option<Leg>,
    offer: SessionDescription,
    local: LocalSession,
    state: OutState,
}

struct Ending {
    by: Option<Party>,
    reason: String,
    abandoned: bool,
}

struct Call {
    cx: Arc<CallContext>,
    key: CallKey,
    id: String,
    n: u64,
    tx: ServerTxId,
    invite: Request,
    call_id: String,
    caller: String,
    route: RouteConfig,
    customer: Customer,
    ever_answered: bool,
    records: Records,
    inputs: mpsc::UnboundedSender<CallInput>,
    media_route: mpsc::UnboundedSender<media_api::Event>,
    media: Option<Media>,
    flow: Option<flow::Contact>,
    path_written: usize,
    plays: HashMap<media_api::PlaybackId, OpId>,
    current_play: Option<OpId>,
    recording: Option<ActiveRecording>,
    /// Stopped recordings whose file is not reported finished yet (a new recording may
    /// start meanwhile: the parties changed).
    finishing: Vec<ActiveRecording>,
    recordings: u32,
    queued: Option<OpId>,
    /// The queue entry of the last blind transfer by an agent: its outcome is the call's
    /// own business (the flow finished when the first agent answered).
    agent_transfer: Option<OpId>,
    transfers: u64,
    outbound: Option<Outbound>,
    /// A third party the agent dialled into the call (ringing or mixed).
    third: Option<Outbound>,
    conference: Option<Conference>,
    hold: bool,
    ending: Option<Ending>,
    gone_at: Option<Instant>,
    hangup_fed: bool,
}

#[allow(clippy::too_many_arguments)]
async fn run(
    cx: Arc<CallContext>,
    call: NewCall,
    id: String,
    n: u64,
    call_id: String,
    dialed: String,
    route: RouteConfig,
    mut sip_rx: mpsc::UnboundedReceiver<SipEvent>,
) {
    let wall = Timestamp::now();
    let from = call.request.headers().from().ok();
    let caller = from
        .as_ref()
        .and_then(|f| f.uri().user().map(str::to_string))
        .or_else(|| from.as_ref().map(|f| f.uri().as_str().to_string()))
        .unwrap_or_default();
    let flow_name = route.flow.get_ref().clone();
    let records = Records::start(
        cx.store.clone(),
        &cx.drain,
        NewContact {
            id: id.clone(),
            arrived_at: wall,
            caller: Some(caller.clone()),
            dialed: Some(dialed.clone()),
            flow: Some(flow_name.clone()),
        },
    );
    cx.live.put(LiveContact {
        id: id.clone(),
        call_id: call_id.clone(),
        caller: caller.clone(),
        dialed: dialed.clone(),
        arrived_at: wall.to_string(),
        state: "setup".into(),
        flow: Some(flow_name),
        flow_state: None,
        handler: None,
        codec: None,
        placement: None,
    });
    let (inputs, mut input_rx) = mpsc::unbounded_channel();
    let (media_route, mut media_rx) = mpsc::unbounded_channel();
    let mut c = Call {
        cx,
        key: call.key,
        id,
        n,
        tx: call.tx,
        invite: call.request,
        call_id,
        caller,
        route,
        customer: Customer::Offered,
        ever_answered: false,
        records,
        inputs,
        media_route,
        media: None,
        flow: None,
        path_written: 0,
        plays: HashMap::new(),
        current_play: None,
        recording: None,
        finishing: Vec::new(),
        recordings: 0,
        queued: None,
        agent_transfer: None,
        transfers: 0,
        outbound: None,
        third: None,
        conference: None,
        hold: false,
        ending: None,
        gone_at: None,
        hangup_fed: false,
    };
    tracing::debug!("incoming call");

    match c.setup().await {
        Ok(()) => c.start_flow(&dialed).await,
        Err((reply, reason)) => {
            tracing::info!(status = reply.status.code(), %reason, "call refused");
            c.refuse(reply, &reason);
        }
    }

    loop {
        if c.finished() {
            break;
        }
        let deadline = c.deadline();
        let sleep = async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = sip_rx.recv() => match ev {
                Some(e) => c.on_sip(e).await,
                None => {
                    // The signalling task is gone: nothing can be signalled any more.
                    c.customer_gone(Party::System, "signalling stopped", false);
                    c.outbound = None;
                }
            },
            Some(ev) = media_rx.recv() => c.on_media(ev).await,
            Some(input) = input_rx.recv() => c.on_input(input).await,
            () = sleep => c.on_timer().await,
        }
        c.run_flow().await;
    }
    c.teardown(&mut media_rx).await;
}

/// Parses the INVITE's SDP offer.
fn parse_offer(req: &Request) -> Result<SessionDescription, (Reply, String)> {
    let is_sdp = req
        .headers()
        .content_type()
        .ok()
        .flatten()
        .is_some_and(|t| t.is("application", "sdp"));
    if req.body().is_empty() {
        return Err((
            reason_reply(StatusCode::NOT_ACCEPTABLE_HERE, "SDP Offer Required"),
            "no SDP offer".into(),
        ));
    }
    if !is_sdp {
        let mut r = Reply::status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        r.headers
            .push((HeaderName::Accept, "application/sdp".to_string()));
        return Err((r, "body is not SDP".into()));
    }
    SessionDescription::parse(req.body()).map_err(|e| (sdp_error_reply(&e), e.to_string()))
}

fn reason_reply(status: StatusCode, reason: &str) -> Reply {
    Reply {
        reason: Some(reason.to_string()),
        ..Reply::status(status)
    }
}

/// A reason phrase made safe for a status line.
fn phrase(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(100)
        .collect();
    clean.trim().to_string()
}

fn sdp_error_reply(e: &SdpError) -> Reply {
    let status = StatusCode::new(e.status_code()).unwrap_or(StatusCode::NOT_ACCEPTABLE_HERE);
    let mut r = reason_reply(status, &phrase(&e.to_string()));
    if let Some(code) = e.warning_code() {
        r.headers.push((
            HeaderName::Warning,
            format!("{code} switchboard \"{}\"", e.reason_phrase()),
        ));
    }
    r
}

fn place_error_reply(e: &PlaceError) -> Reply {
    match e {
        PlaceError::Offer(sdp) => sdp_error_reply(sdp),
        _ => {
            let status =
                StatusCode::new(e.status_code()).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
            let mut r = Reply::status(status);
            if let Some(after) = e.retry_after() {
                r.headers
                    .push((HeaderName::RetryAfter, after.as_secs().max(1).to_string()));
            }
            r
        }
    }
}

fn media_direction(d: sdp::Direction) -> media_api::Direction {
    match d {
        sdp::Direction::SendRecv => media_api::Direction::Sendrecv,
        sdp::Direction::SendOnly => media_api::Direction::Sendonly,
        sdp::Direction::RecvOnly => media_api::Direction::Recvonly,
        sdp::Direction::Inactive => media_api::Direction::Inactive,
    }
}

/// A tone replacing whatever plays, once or looped until stopped.
fn tone_play(tone: Tone, looped: bool) -> media_api::Play {
    media_api::Play {
        source: PlaySource::Tone {
            tone,
            duration_ms: None,
        },
        looped,
        mode: PlayMode::Replace,
    }
}

/// A leg's update to what an audio stream negotiated: the peer's address, codec,
/// telephone-event, ptime and direction.
fn audio_leg_update(stream: &AcceptedStream) -> UpdateLeg {
    let (codecs, te) = leg_codecs(stream);
    UpdateLeg {
        remote_rtp: remote_rtp(stream),
        codecs: Some(codecs),
        telephone_event_pt: te,
        clear_telephone_event: te.is_none(),
        ptime_ms: stream.ptime.and_then(|p| u16::try_from(p).ok()),
        direction: Some(media_direction(stream.direction)),
        ..UpdateLeg::default()
    }
}

/// The codec list and telephone-event payload type for a leg, from a
/// negotiated stream.
fn leg_codecs(s: &AcceptedStream) -> (Vec<media_api::Codec>, Option<u8>) {
    let c = &s.codec;
    let codec = media_api::Codec {
        name: c.codec.encoding_name().to_string(),
        payload_type: c.send_payload_type,
        clock_rate: c.clock_rate,
        channels: u8::try_from(c.channels).unwrap_or(1).max(1),
        fmtp: c.remote_fmtp.as_ref().map(|f| f.raw().to_string()),
    };
    (
        vec![codec],
        s.telephone_event.as_ref().map(|t| t.send_payload_type),
    )
}

/// Where the remote side of a stream wants RTP, when it says so.
fn remote_rtp(s: &AcceptedStream) -> Option<SocketAddr> {
    let ip = s.remote_connection.as_ref()?.ip()?;
    (!ip.is_unspecified() && s.remote_port != 0).then(|| SocketAddr::new(ip, s.remote_port))
}

fn audio(n: &Negotiation) -> Result<&AcceptedStream, (Reply, String)> {
    n.audio().ok_or_else(|| {
        (
            reason_reply(StatusCode::NOT_ACCEPTABLE_HERE, "No Audio Stream"),
            "no audio stream".into(),
        )
    })
}

/// The accepted video stream of a negotiation, if any.
fn video(n: &Negotiation) -> Option<&AcceptedStream> {
    n.accepted().find(|s| s.kind == sdp::MediaKind::Video)
}

/// A video leg for a negotiated stream: relayed untouched, never timed out (video
/// may pause or flow one way only).
fn video_leg(s: &AcceptedStream) -> AddLeg {
    AddLeg {
        kind: MediaKind::Video,
        remote_rtp: remote_rtp(s),
        remote_rtcp: None,
        codecs: leg_codecs(s).0,
        telephone_event_pt: None,
        ptime_ms: None,
        direction: media_direction(s.direction),
        rtp_timeout_ms: Some(0),
    }
}

/// The RTP port of each m-line in an answer: the audio leg's, or the video leg's for
/// an accepted video stream (rejected streams get port 0 from the answer builder).
fn answer_ports(n: &Negotiation, audio: &Leg, video: Option<&Leg>) -> Vec<u16> {
    n.streams
        .iter()
        .map(|o| match o.accepted() {
            Some(a) if a.kind == sdp::MediaKind::Video => video.map_or(0, |l| l.rtp_port),
            _ => audio.rtp_port,
        })
        .collect()
}

/// Points an existing video leg at what a (re-)negotiation says: the stream's address,
/// codec and direction, or inactive when video is no longer accepted.
fn video_update(s: Option<&AcceptedStream>) -> UpdateLeg {
    match s {
        Some(s) => UpdateLeg {
            remote_rtp: remote_rtp(s),
            codecs: Some(leg_codecs(s).0),
            direction: Some(media_direction(s.direction)),
            ..UpdateLeg::default()
        },
        None => UpdateLeg {
            direction: Some(media_api::Direction::Inactive),
            ..UpdateLeg::default()
        },
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> (Reply, String) {
    (
        reason_reply(StatusCode::SERVICE_UNAVAILABLE, "Media Unavailable"),
        format!("{what}: {e}"),
    )
}

fn now_pair() -> (Instant, Timestamp) {
    (Instant::now(), Timestamp::now())
}

impl Call {
    fn contact_id(&self) -> ContactId {
        ContactId(self.id.clone())
    }

    fn priority(&self) -> Priority {
        if self.route.priority {
            Priority::High
        } else {
            Priority::Normal
        }
    }

    fn session_id(&self) -> u64 {
        // Unique per contact and per process start: the `o=` session id.
        (self.cx.counter.load(Ordering::Relaxed) << 20) ^ self.n.wrapping_mul(0x9E37_79B9)
    }

    // ---- setup -------------------------------------------------------------------------

    async fn setup(&mut self) -> Result<(), (Reply, String)> {
        let offer = parse_offer(&self.invite)?;
        let request = PlaceRequest {
            offer: &offer,
            services: Services::IVR,
            priority: self.priority(),
            transcodable: &self.cx.transcodable,
        };
        let (placement, client) = self
            .cx
            .registry
            .place(self.contact_id(), &request)
            .map_err(|e| (place_error_reply(&e), e.to_string()))?;
        let handler = placement.handler.clone();
        let result = self.create_media(&offer, &placement, client).await;
        if result.is_err() {
            self.cx.registry.release(&self.contact_id());
        }
        let media = result?;
        let explanation = explain::explanation(&placement.explanation);
        self.records.media(MediaPlacement {
            handler: handler.0.clone(),
            codec: Some(media.codec.clone()),
            explanation: Some(explanation.to_string()),
        });
        let codec = media.codec.clone();
        self.cx.live.update(&self.id, |l| {
            l.handler = Some(handler.0.clone());
            l.codec = Some(codec);
            l.placement = Some(explanation);
        });
        tracing::debug!(handler = %handler, codec = %media.codec, "media placed");
        let inputs = self.inputs.clone();
        self.cx.registry.on_lost(
            self.contact_id(),
            Box::new(move || {
                let _ = inputs.send(CallInput::MediaLost);
            }),
        );
        self.media = Some(media);
        Ok(())
    }

    async fn create_media(
        &mut self,
        offer: &SessionDescription,
        placement: &bandwidth::Placement,
        client: MediaClient,
    ) -> Result<Media, (Reply, String)> {
        let handler = placement.handler.clone();
        if !self.cx.media_events.ensure(&handler, &client).await {
            tracing::warn!(%handler, "media events not subscribed; events may be missed");
        }
        let reserved = u32::try_from(placement.estimate.total.peak_kbps()).unwrap_or(u32::MAX);
        let session = client
            .create_session(&CreateSession {
                services: vec![ServiceType::Play],
                reserved_kbps: Some(reserved),
                label: Some(self.call_id.clone()),
            })
            .await
            .map_err(|e| unavailable("create session", e))?;
        self.cx
            .media_events
            .register(&handler, session.id, self.media_route.clone());
        let undo = |client: MediaClient, cx: Arc<CallContext>, handler: HandlerId| async move {
            cx.media_events.unregister(&handler, session.id);
            let _ = client.delete_session(session.id).await;
        };
        let stream = match audio(&placement.negotiation) {
            Ok(s) => s.clone(),
            Err(e) => {
                undo(client, self.cx.clone(), handler).await;
                return Err(e);
            }
        };
        let (codecs, te) = leg_codecs(&stream);
        let add = AddLeg {
            kind: MediaKind::Audio,
            remote_rtp: remote_rtp(&stream),
            remote_rtcp: None,
            codecs,
            telephone_event_pt: te,
            ptime_ms: stream.ptime.and_then(|p| u16::try_from(p).ok()),
            direction: media_direction(stream.direction),
            rtp_timeout_ms: None,
        };
        let leg = match client.add_leg(session.id, &add).await {
            Ok(l) => l,
            Err(e) => {
                undo(client, self.cx.clone(), handler).await;
                return Err(unavailable("add leg", e));
            }
        };
        let video_leg = match video(&placement.negotiation) {
            Some(v) => match client.add_leg(session.id, &video_leg(v)).await {
                Ok(l) => Some(l),
                Err(e) => {
                    undo(client, self.cx.clone(), handler).await;
                    return Err(unavailable("add video leg", e));
                }
            },
            None => None,
        };
        let mut local = LocalSession::new(self.session_id(), 1, leg.local_ip);
        let ports = answer_ports(&placement.negotiation, &leg, video_leg.as_ref());
        let answer = sdp::build_answer(
            offer,
            &placement.negotiation,
            &LocalMedia {
                address: leg.local_ip,
                ports,
            },
            &mut local,
        );
        let answer = match answer {
            Ok(a) => Bytes::from(a.to_string()),
            Err(e) => {
                undo(client, self.cx.clone(), handler).await;
                return Err((sdp_error_reply(&e), e.to_string()));
            }
        };
        self.hold = !stream.direction.sends();
        Ok(Media {
            handler,
            client,
            session: session.id,
            leg,
            video: video_leg,
            local,
            answer,
            codec: stream.codec.codec.encoding_name().to_string(),
            services: Services::IVR,
        })
    }

    fn refuse(&mut self, reply: Reply, reason: &str) {
        let status = reply.status.code();
        self.cx.sig.send(SigCommand::Respond {
            call: self.key,
            tx: self.tx,
            reply,
            done: None,
        });
        self.customer = Customer::Gone;
        self.set_ending(
            Party::System,
            &format!("rejected {status}: {reason}"),
            false,
        );
    }

    async fn start_flow(&mut self, dialed: &str) {
        let name = self.route.flow.get_ref().clone();
        let flow = self
            .cx
            .flows
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name);
        let Some(flow) = flow else {
            tracing::error!(flow = %name, "the route's flow is not loaded");
            self.refuse(
                reason_reply(StatusCode::TEMPORARILY_UNAVAILABLE, "No Flow"),
                "flow not loaded",
            );
            return;
        };
        let (now, wall) = now_pair();
        let vars = self
            .route
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>();
        self.flow = Some(flow::Contact::start_with_vars(
            flow,
            &self.caller,
            dialed,
            vars,
            now,
            wall,
        ));
        self.run_flow().await;
    }

    // ---- the loop's helpers ------------------------------------------------------------

    fn finished(&self) -> bool {
        if let Some(gone) = self.gone_at
            && gone.elapsed() >= LINGER_AFTER_HANGUP
        {
            return true;
        }
        matches!(self.customer, Customer::Gone)
            && self.outbound.is_none()
            && self.third.is_none()
            && self.flow.as_ref().is_none_or(|f| f.is_finished())
    }

    fn deadline(&self) -> Option<Instant> {
        let flow = self.flow.as_ref().and_then(|f| f.poll_timeout());
        let ring = |ob: &Option<Outbound>| match ob {
            Some(Outbound {
                state: OutState::Ringing { deadline, .. },
                ..
            }) => *deadline,
            _ => None,
        };
        let linger = self.gone_at.map(|t| t + LINGER_AFTER_HANGUP);
        [flow, ring(&self.outbound), ring(&self.third), linger]
            .into_iter()
            .flatten()
            .min()
    }

    fn set_ending(&mut self, by: Party, reason: &str, abandoned: bool) {
        if self.ending.is_none() {
            self.ending = Some(Ending {
                by: Some(by),
                reason: reason.to_string(),
                abandoned,
            });
        }
    }

    fn set_state(&self, state: &str) {
        self.cx
            .live
            .update(&self.id, |l| l.state = state.to_string());
    }

    /// The customer's side is over (whoever ended it); the flow hears `Hangup`.
    fn customer_gone(&mut self, by: Party, reason: &str, abandoned: bool) {
        self.customer = Customer::Gone;
        self.set_ending(by, reason, abandoned);
        if self.gone_at.is_none() {
            self.gone_at = Some(Instant::now());
        }
        self.set_state("ending");
        if by == Party::Customer {
            self.feed(flow::Event::Hangup);
        }
    }

    /// Feeds one event to the flow (its commands run in `run_flow`).
    fn feed(&mut self, event: flow::Event) {
        if matches!(event, flow::Event::Hangup) {
            if self.hangup_fed {
                return;
            }
            self.hangup_fed = true;
        }
        if let Some(f) = &mut self.flow {
            let (now, wall) = now_pair();
            if let Err(e) = f.handle_event(now, wall, event) {
                tracing::debug!(error = %e, "flow event not applied");
            }
        }
    }

    /// Executes every command the flow has (mutate, then drain), then writes
    /// the path steps entered meanwhile.
    async fn run_flow(&mut self) {
        loop {
            let commands: Vec<Command> = match &mut self.flow {
                Some(f) => std::iter::from_fn(|| f.poll_command()).collect(),
                None => return,
            };
            if commands.is_empty() {
                break;
            }
            for c in commands {
                tracing::debug!(command = %c, "flow command");
                self.exec(c).await;
            }
        }
        let Some(f) = &self.flow else {
            return;
        };
        let path = f.path();
        for step in &path[self.path_written.min(path.len())..] {
            self.records.path_step(&step.state, step.wall);
        }
        self.path_written = path.len();
        let state = f.state_name().to_string();
        self.cx
            .live
            .update(&self.id, |l| l.flow_state = Some(state));
        if f.is_finished()
            && let Some(outcome) = f.outcome()
        {
            tracing::debug!(%outcome, "flow finished");
        }
    }

    async fn exec(&mut self, c: Command) {
        match c {
            Command::Answer => self.answer().await,
            Command::Play {
                play,
                prompts,
                looped,
                ..
            } => self.play(play, &prompts, looped).await,
            Command::StopPlay { play } => {
                if self.current_play == Some(play) {
                    self.current_play = None;
                    if let Some(m) = &self.media
                        && let Err(e) = m.client.stop_play(m.session, m.leg.id).await
                    {
                        tracing::debug!(error = %e, "stop play");
                    }
                }
            }
            Command::Record {
                record, kind, beep, ..
            } => self.record(record, &kind, beep).await,
            Command::StopRecord { record } => self.stop_record(record).await,
            Command::Enqueue {
                entry,
                queue,
                priority,
                agent,
            } => self.enqueue(entry, queue, priority, agent),
            Command::Dequeue { entry } => {
                if self.queued == Some(entry) {
                    self.queued = None;
                    // The flow leaves its queue state when the caller hangs up, too: that
                    // is an abandon for the queue's statistics, not a withdrawal.
                    let reason = if matches!(self.customer, Customer::Gone) {
                        DequeueReason::CallerHungUp
                    } else {
                        DequeueReason::FlowLeft
                    };
                    self.cx.queues.dequeue(&self.id, entry, reason);
                }
            }
            Command::Transfer { transfer, uri } => self.transfer(transfer, uri).await,
            Command::Webhook {
                request,
                url,
                data,
                timeout,
            } => {
                let http = self.cx.http.clone();
                let inputs = self.inputs.clone();
                tokio::spawn(
                    async move {
                        let event = webhook(&http, request, &url, &data, timeout).await;
                        let _ = inputs.send(CallInput::Webhook(event));
                    }
                    .in_current_span(),
                );
            }
            Command::Hangup => self.flow_hangup(),
        }
    }

    async fn answer(&mut self) {
        if !matches!(self.customer, Customer::Offered) {
            return;
        }
        let Some(m) = &self.media else {
            return;
        };
        let (done, rx) = oneshot::channel();
        self.cx.sig.send(SigCommand::Respond {
            call: self.key,
            tx: self.tx,
            reply: Reply::with_sdp(StatusCode::OK, m.answer.clone()),
            done: Some(done),
        });
        match rx.await {
            Ok(Ok(Some(dialog))) => {
                self.customer = Customer::Answered(dialog);
                self.ever_answered = true;
                self.set_state(if self.hold { "on_hold" } else { "answered" });
                tracing::debug!(%dialog, "answered");
            }
            other => {
                // The INVITE is gone (cancelled just now) or the answer could not be sent.
                tracing::debug!(?other, "answer not sent");
                self.customer_gone(Party::Customer, "cancelled", true);
            }
        }
    }

    fn flow_hangup(&mut self) {
        let failed = matches!(
            self.flow.as_ref().and_then(|f| f.outcome()),
            Some(flow::Outcome::Failed { .. })
        );
        let reason = if failed {
            "flow failed"
        } else {
            "flow hung up"
        };
        self.hangup_customer(
            reason_reply(StatusCode::TEMPORARILY_UNAVAILABLE, "Call Ended By Flow"),
            Party::System,
            reason,
        );
    }

    /// Ends the customer's side from our end: BYE, or a final response if unanswered.
    fn hangup_customer(&mut self, unanswered: Reply, by: Party, reason: &str) {
        match self.customer {
            Customer::Offered => {
                self.cx.sig.send(SigCommand::Respond {
                    call: self.key,
                    tx: self.tx,
                    reply: unanswered,
                    done: None,
                });
            }
            Customer::Answered(dialog) => {
                self.cx.sig.send(SigCommand::Bye { dialog });
            }
            Customer::Gone => return,
        }
        self.customer_gone(by, reason, false);
    }

    async fn play(&mut self, play: OpId, prompts: &[String], looped: bool) {
        self.current_play = Some(play);
        let Some(m) = &self.media else {
            return;
        };
        if prompts.is_empty() {
            self.feed(flow::Event::PlaybackFinished { play });
            return;
        }
        let last = prompts.len() - 1;
        for (i, name) in prompts.iter().enumerate() {
            let path = self.cx.prompts.join(format!("{name}.wav"));
            let req = media_api::Play {
                source: PlaySource::File {
                    path: path.display().to_string(),
                },
                looped: looped && i == last,
                mode: if i == 0 {
                    PlayMode::Replace
                } else {
                    PlayMode::Enqueue
                },
            };
            match m.client.play(m.session, m.leg.id, &req).await {
                Ok(p) => {
                    if i == last {
                        self.plays.insert(p.id, play);
                    }
                }
                Err(e) => {
                    tracing::warn!(prompt = %name, error = %e, "cannot play");
                    self.feed(flow::Event::PlaybackFinished { play });
                    return;
                }
            }
        }
    }

    async fn record(&mut self, record: OpId, kind: &str, beep: bool) {
        let Some(m) = &self.media else {
            self.feed(flow::Event::RecordingFailed {
                record,
                reason: "no media".into(),
            });
            return;
        };
        if beep {
            let req = tone_play(Tone::Beep, false);
            if let Err(e) = m.client.play(m.session, m.leg.id, &req).await {
                tracing::debug!(error = %e, "beep");
            }
        }
        self.recordings += 1;
        let id = format!("{}-{}", self.id, self.recordings);
        let started = Timestamp::now();
        let req = StartRecording {
            source: RecordSource::Leg { leg: m.leg.id },
            path: Some(format!("{id}.wav")),
        };
        match m.client.start_recording(m.session, &req).await {
            Ok(r) => {
                let kind = if kind == "voicemail" {
                    RecordingKind::Voicemail
                } else {
                    RecordingKind::Call
                };
                self.records.add_recording(store::Recording {
                    id: id.clone(),
                    contact_id: self.id.clone(),
                    kind,
                    path: r.path.clone(),
                    started_at: started,
                    duration: None,
                    channels: 1,
                    sample_rate: 8000,
                });
                self.recording = Some(ActiveRecording {
                    op: Some(record),
                    owner: RecordingOwner::Flow,
                    id,
                    handler_id: r.id,
                    source: req.source.clone(),
                    paused: false,
                    stopping: false,
                });
                self.set_services(|s| s.record = true);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start recording");
                self.feed(flow::Event::RecordingFailed {
                    record,
                    reason: e.to_string(),
                });
            }
        }
    }

    async fn stop_record(&mut self, record: OpId) {
        let (Some(m), Some(r)) = (&self.media, &mut self.recording) else {
            return;
        };
        if r.op != Some(record) || r.stopping {
            return;
        }
        r.stopping = true;
        if let Err(e) = m.client.stop_recording(m.session, r.handler_id).await {
            tracing::warn!(error = %e, "cannot stop recording");
            let reason = e.to_string();
            self.recording = None;
            self.feed(flow::Event::RecordingFailed { record, reason });
        }
    }

    fn set_services(&mut self, change: impl FnOnce(&mut Services)) {
        let Some(m) = &mut self.media else {
            return;
        };
        change(&mut m.services);
        if let Err(e) = self
            .cx
            .registry
            .set_services(&ContactId(self.id.clone()), m.services)
        {
            tracing::debug!(error = %e, "services not changed");
        }
    }

    fn enqueue(
        &mut self,
        entry: OpId,
        queue: Option<String>,
        priority: i32,
        agent: Option<String>,
    ) {
        let Some(m) = &self.media else {
            self.feed(flow::Event::QueueFailed {
                entry,
                reason: "no media".into(),
            });
            return;
        };
        self.queued = Some(entry);
        if let Some(queue) = &queue {
            self.records.queue(queue, Timestamp::now());
        }
        self.cx.queues.enqueue(EnqueueRequest {
            contact: self.id.clone(),
            entry,
            queue,
            priority,
            agent,
            caller: self.caller.clone(),
            events: QueueEvents {
                tx: self.inputs.clone(),
            },
            media: MediaRef {
                handler: m.handler.clone(),
                client: m.client.clone(),
                session: m.session,
                caller_leg: m.leg.id,
            },
        });
    }

    // ---- transfer and agent legs (B2BUA) -----------------------------------------------

    async fn transfer(&mut self, op: OpId, uri: String) {
        let target = match Uri::parse(&uri) {
            Ok(u) if u.is_sip() => u,
            Ok(_) => {
                let reason = format!("{uri}: only sip: and sips: targets can be dialled");
                self.transfer_failed(op, reason);
                return;
            }
            Err(e) => {
                self.transfer_failed(op, format!("{uri}: {e}"));
                return;
            }
        };
        let purpose = Purpose::Transfer {
            op,
            uri: uri.clone(),
        };
        if let Err((purpose, reason)) = self
            .dial(purpose, target, None, TRANSFER_RING_TIMEOUT)
            .await
        {
            self.outbound_failed(purpose, &reason, OfferResult::Failed(0));
        }
    }

    /// Dials `target` from a new leg of this contact's media session: the agent or
    /// transfer leg.
    async fn dial(
        &mut self,
        purpose: Purpose,
        target: Uri,
        flow: Option<Flow>,
        ring_timeout: Duration,
    ) -> Result<(), (Purpose, String)> {
        if self.outbound.is_some() {
            return Err((purpose, "another leg is being dialled".into()));
        }
        let ob = self.dial_leg(purpose, target, flow, ring_timeout).await?;
        self.set_state("transferring");
        self.outbound = Some(ob);
        Ok(())
    }

    /// Adds a leg to the contact's media session, offers it to `target` in an INVITE, and
    /// gives back the ringing leg.
    async fn dial_leg(
        &self,
        purpose: Purpose,
        target: Uri,
        flow: Option<Flow>,
        ring_timeout: Duration,
    ) -> Result<Outbound, (Purpose, String)> {
        if !matches!(self.customer, Customer::Answered(_)) {
            return Err((purpose, "the caller is not answered".into()));
        }
        let Some(m) = &self.media else {
            return Err((purpose, "no media".into()));
        };
        let flow = match flow {
            Some(f) => f,
            None => match next_hop(&target).await {
                Ok(f) => f,
                Err(e) => return Err((purpose, e)),
            },
        };
        let add = AddLeg {
            kind: MediaKind::Audio,
            remote_rtp: None,
            remote_rtcp: None,
            codecs: vec![g711("PCMU", 0), g711("PCMA", 8)],
            telephone_event_pt: Some(101),
            ptime_ms: Some(20),
            direction: media_api::Direction::Sendrecv,
            rtp_timeout_ms: None,
        };
        let leg = match m.client.add_leg(m.session, &add).await {
            Ok(l) => l,
            Err(e) => return Err((purpose, format!("add leg: {e}"))),
        };
        // Video, when the caller has it: the caller's codec (relayed untouched, so the
        // target must take it as is) on a video leg of its own.
        let mut video_leg = None;
        let mut video_stream = None;
        if let Some(cv) = &m.video
            && let Some(c) = cv.codecs.first()
            && let Some(codec) = sdp::Codec::from_encoding(&c.name, c.clock_rate)
        {
            let add = AddLeg {
                kind: MediaKind::Video,
                remote_rtp: None,
                remote_rtcp: None,
                codecs: vec![c.clone()],
                telephone_event_pt: None,
                ptime_ms: None,
                direction: media_api::Direction::Sendrecv,
                rtp_timeout_ms: Some(0),
            };
            match m.client.add_leg(m.session, &add).await {
                Ok(l) => {
                    video_stream = Some(sdp::OfferStream {
                        kind: sdp::MediaKind::Video,
                        port: l.rtp_port,
                        codecs: vec![sdp::OfferedCodec {
                            codec,
                            payload_type: Some(c.payload_type),
                            fmtp: c.fmtp.clone(),
                        }],
                        telephone_event: None,
                        direction: sdp::Direction::SendRecv,
                        ptime: None,
                        rtcp_mux: false,
                        bandwidths: Vec::new(),
                    });
                    video_leg = Some(l);
                }
                Err(e) => tracing::warn!(error = %e, "no video leg; offering audio only"),
            }
        }
        let mut local = LocalSession::new(self.session_id() ^ 0x5a5a, 1, leg.local_ip);
        let mut streams = vec![sdp::OfferStream::audio(
            leg.rtp_port,
            &[sdp::Codec::Pcmu, sdp::Codec::Pcma],
        )];
        streams.extend(video_stream);
        let spec = sdp::OfferSpec {
            address: leg.local_ip,
            streams,
        };
        let offer = match sdp::build_offer(&spec, &mut local) {
            Ok(o) => o,
            Err(e) => {
                let _ = m.client.remove_leg(m.session, leg.id).await;
                if let Some(v) = &video_leg {
                    let _ = m.client.remove_leg(m.session, v.id).await;
                }
                return Err((purpose, format!("offer: {e}")));
            }
        };
        let user = if self.caller.is_empty() {
            "switchboard"
        } else {
            self.caller.as_str()
        };
        let from_uri = Uri::sip(Some(user), &self.cx.host, self.cx.port)
            .or_else(|_| Uri::sip(Some("switchboard"), &self.cx.host, self.cx.port));
        let from_uri = match from_uri {
            Ok(u) => u,
            Err(e) => return Err((purpose, format!("from: {e}"))),
        };
        let dial = Dial {
            uri: target.clone(),
            from: NameAddr::new(None, &from_uri),
            to: NameAddr::new(None, &target),
            flow,
            sdp: Bytes::from(offer.to_string()),
        };
        let (done, rx) = oneshot::channel();
        self.cx.sig.send(SigCommand::Invite {
            call: self.key,
            dial: Box::new(dial),
            done,
        });
        let tx = match rx.await {
            Ok(Ok(tx)) => tx,
            Ok(Err(e)) => {
                let _ = m.client.remove_leg(m.session, leg.id).await;
                if let Some(v) = &video_leg {
                    let _ = m.client.remove_leg(m.session, v.id).await;
                }
                return Err((purpose, format!("INVITE: {e}")));
            }
            Err(_) => return Err((purpose, "signalling stopped".into())),
        };
        tracing::info!(target = %target, "dialling");
        Ok(Outbound {
            purpose,
            bridged: None,
            leg,
            video: video_leg,
            offer,
            local,
            state: OutState::Ringing {
                tx,
                deadline: Some(Instant::now() + ring_timeout),
                cancelled: false,
                ringback: false,
            },
        })
    }

    async fn on_outbound_response(
        &mut self,
        tx: ClientTxId,
        dialog: Option<DialogId>,
        response: Response,
    ) {
        let status = response.status();
        let rings = |ob: &Option<Outbound>| matches!(ob, Some(Outbound { state: OutState::Ringing { tx: t, .. }, .. }) if *t == tx);
        let third = rings(&self.third);
        let ours = third || rings(&self.outbound);
        if !ours {
            // A late 2xx (e.g. to a cancelled INVITE): hang that dialog up.
            if status.is_success()
                && let Some(d) = dialog
                && !self.is_our_dialog(d)
            {
                self.cx.sig.send(SigCommand::Bye { dialog: d });
            }
            return;
        }
        if status.is_provisional() {
            if !third {
                self.maybe_ringback(status).await;
            }
            return;
        }
        // Invariant: `ours` checked that the leg exists.
        let ob = if third {
            self.third.take()
        } else {
            self.outbound.take()
        }
        .expect("checked above");
        let cancelled = matches!(
            ob.state,
            OutState::Ringing {
                cancelled: true,
                ..
            }
        );
        if status.is_success() {
            let Some(d) = dialog else {
                self.outbound_cleanup(&ob).await;
                self.outbound_failed(ob.purpose, "2xx without dialog", OfferResult::Failed(500));
                return;
            };
            if !matches!(self.customer, Customer::Answered(_)) {
                // The caller left while it rang.
                self.cx.sig.send(SigCommand::Bye { dialog: d });
                self.outbound_cleanup(&ob).await;
                self.outbound_failed(ob.purpose, "caller hung up", OfferResult::Abandoned);
                return;
            }
            self.connect(ob, d, &response).await;
        } else {
            self.outbound_cleanup(&ob).await;
            let result = if cancelled {
                OfferResult::NoAnswer
            } else {
                OfferResult::Failed(status.code())
            };
            let reason = format!("{} {}", status.code(), phrase(response.reason()));
            self.outbound_failed(ob.purpose, &reason, result);
        }
    }

    fn is_our_dialog(&self, d: DialogId) -> bool {
        matches!(self.customer, Customer::Answered(c) if c == d)
            || matches!(&self.outbound, Some(Outbound { state: OutState::Connected(o), .. }) if *o == d)
            || self.is_third_dialog(d)
    }

    async fn maybe_ringback(&mut self, status: StatusCode) {
        let Some(Outbound {
            purpose: Purpose::Transfer { .. },
            state: OutState::Ringing { ringback, .. },
            ..
        }) = &mut self.outbound
        else {
            return;
        };
        if *ringback || !(status == StatusCode::RINGING || status == StatusCode::SESSION_PROGRESS) {
            return;
        }
        *ringback = true;
        if let Some(m) = &self.media {
            let req = tone_play(Tone::Ringback, true);
            if let Err(e) = m.client.play(m.session, m.leg.id, &req).await {
                tracing::debug!(error = %e, "ringback");
            }
        }
    }

    async fn connect(&mut self, mut ob: Outbound, dialog: DialogId, response: &Response) {
        let answer = SessionDescription::parse(response.body())
            .and_then(|a| sdp::process_answer(&ob.offer, &a));
        let answered_video = answer.as_ref().ok().and_then(video).cloned();
        let stream = match answer.as_ref().map(|n| n.audio()) {
            Ok(Some(s)) => s.clone(),
            Ok(None) | Err(_) => {
                let reason = match answer {
                    Err(e) => e.to_string(),
                    Ok(_) => "no audio in the answer".into(),
                };
                self.cx.sig.send(SigCommand::Bye { dialog });
                self.outbound_cleanup(&ob).await;
                self.outbound_failed(ob.purpose, &reason, OfferResult::Failed(488));
                return;
            }
        };
        // Invariant: `dial` only runs with media.
        let m = self
            .media
            .as_ref()
            .expect("dialled legs exist only with media");
        let update = audio_leg_update(&stream);
        if let Err(e) = m.client.update_leg(m.session, ob.leg.id, &update).await {
            self.cx.sig.send(SigCommand::Bye { dialog });
            self.outbound_cleanup(&ob).await;
            self.outbound_failed(ob.purpose, &format!("leg: {e}"), OfferResult::Failed(500));
            return;
        }
        if let Some(v) = &ob.video {
            let kept = match &answered_video {
                Some(s) => m
                    .client
                    .update_leg(m.session, v.id, &video_update(Some(s)))
                    .await
                    .map_err(|e| tracing::warn!(error = %e, "video leg not updated"))
                    .is_ok(),
                None => false,
            };
            if !kept {
                let _ = m.client.remove_leg(m.session, v.id).await;
                ob.video = None;
            }
        }
        ob.state = OutState::Connected(dialog);
        if let Purpose::Agent { result, agent, .. } = &ob.purpose {
            // The queue decides who gets the contact (ring all, an offer withdrawn while
            // the 200 was on its way): bridge on its `Connected`, hang up on its `Cancel`.
            tracing::info!(%dialog, %agent, "agent answered; waiting for the queue");
            let _ = result.send(OfferResult::Answered);
            self.outbound = Some(ob);
            return;
        }
        if matches!(ob.purpose, Purpose::Conference { .. }) {
            self.third_answered(ob).await;
            return;
        }
        self.bridge(ob).await;
    }

    /// Routes customer ↔ the answered outbound leg (the music stops on the same call
    /// sequence: one SSRC, no gap) and tells the flow.
    async fn bridge(&mut self, mut ob: Outbound) {
        let OutState::Connected(dialog) = ob.state else {
            return;
        };
        // Invariant: `dial` only runs with media.
        let m = self
            .media
            .as_ref()
            .expect("dialled legs exist only with media");
        let routed = async {
            let _ = m.client.stop_play(m.session, m.leg.id).await;
            m.client
                .create_route(
                    m.session,
                    &CreateRoute {
                        a: m.leg.id,
                        b: ob.leg.id,
                    },
                )
                .await
        }
        .await;
        let route = match routed {
            Ok(r) => r,
            Err(e) => {
                self.cx.sig.send(SigCommand::Bye { dialog });
                self.outbound_cleanup(&ob).await;
                self.outbound_failed(ob.purpose, &format!("route: {e}"), OfferResult::Failed(500));
                return;
            }
        };
        if let (Some(cv), Some(tv)) = (&m.video, &ob.video) {
            let video = CreateRoute { a: cv.id, b: tv.id };
            match m.client.create_route(m.session, &video).await {
                Ok(_) => tracing::debug!("video relayed"),
                Err(e) => tracing::warn!(error = %e, "video not relayed"),
            }
        }
        ob.bridged = Some(route.id);
        self.current_play = None;
        self.set_services(|s| {
            s.route = true;
            s.play = false;
        });
        self.set_state("bridged");
        tracing::info!(%dialog, "connected");
        match &ob.purpose {
            Purpose::Transfer { op, .. } => {
                let op = *op;
                self.outbound = Some(ob);
                self.feed(flow::Event::TransferCompleted { transfer: op });
            }
            Purpose::Agent {
                entry,
                agent,
                record,
                ..
            } => {
                let event = flow::Event::AgentConnected {
                    entry: *entry,
                    agent: agent.clone(),
                };
                let (record, agent_leg) = (*record, ob.leg.id);
                self.queued = None;
                self.outbound = Some(ob);
                if record && let Err(e) = self.record_call(agent_leg, RecordingOwner::Queue).await {
                    tracing::warn!(error = %e, "cannot start the call recording");
                }
                self.feed(event);
            }
            // `connect` hands a third party to `third_answered`, never here.
            Purpose::Conference { .. } => {
                tracing::warn!("a conference leg reached bridge: hanging it up");
                self.cx.sig.send(SigCommand::Bye { dialog });
                self.outbound_cleanup(&ob).await;
            }
        }
    }

    /// Records customer (left) and agent (right) as a stereo WAV until the call ends (or
    /// the agent who asked for it stops it).
    async fn record_call(
        &mut self,
        agent_leg: media_api::LegId,
        owner: RecordingOwner,
    ) -> Result<RecordingView, CallRequestError> {
        let Some(m) = &self.media else {
            return Err(CallRequestError::Conflict("the call has no media".into()));
        };
        let source = RecordSource::Stereo {
            left: m.leg.id,
            right: agent_leg,
        };
        self.start_call_recording(source, owner).await
    }

    /// Starts a call recording of `source` (a stopped one may still be finishing).
    async fn start_call_recording(
        &mut self,
        source: RecordSource,
        owner: RecordingOwner,
    ) -> Result<RecordingView, CallRequestError> {
        if let Some(r) = self.recording.take_if(|r| r.stopping) {
            self.finishing.push(r);
        }
        if let Some(r) = &self.recording {
            return Err(CallRequestError::Conflict(format!(
                "the call is already being recorded ({})",
                r.id
            )));
        }
        let Some(m) = &self.media else {
            return Err(CallRequestError::Conflict("the call has no media".into()));
        };
        let channels = match &source {
            RecordSource::Stereo { .. } => 2,
            _ => 1,
        };
        self.recordings += 1;
        let id = format!("{}-{}", self.id, self.recordings);
        let started = Timestamp::now();
        let req = StartRecording {
            source,
            path: Some(format!("{id}.wav")),
        };
        match m.client.start_recording(m.session, &req).await {
            Ok(r) => {
                self.records.add_recording(store::Recording {
                    id: id.clone(),
                    contact_id: self.id.clone(),
                    kind: RecordingKind::Call,
                    path: r.path.clone(),
                    started_at: started,
                    duration: None,
                    channels,
                    sample_rate: 8000,
                });
                let active = ActiveRecording {
                    op: None,
                    owner,
                    id,
                    handler_id: r.id,
                    source: req.source.clone(),
                    paused: false,
                    stopping: false,
                };
                let view = active.view(&self.id);
                self.recording = Some(active);
                self.set_services(|s| s.record = true);
                tracing::info!(recording = %view.id, ?owner, "call recording started");
                Ok(view)
            }
            Err(e) => Err(CallRequestError::Media(e.to_string())),
        }
    }

    /// The agent's desktop asks to start, stop, pause or resume the call's recording.
    async fn agent_recording(
        &mut self,
        agent: &str,
        action: RecordingAction,
    ) -> Result<RecordingView, CallRequestError> {
        let agent_leg = match &self.outbound {
            Some(Outbound {
                purpose: Purpose::Agent { agent: a, .. },
                state: OutState::Connected(_),
                leg,
                ..
            }) if a == agent => leg.id,
            _ => {
                return Err(CallRequestError::Conflict(format!(
                    "agent {agent} is not connected to this call"
                )));
            }
        };
        if action == RecordingAction::Start && self.recording.is_none() {
            return self.record_call(agent_leg, RecordingOwner::Agent).await;
        }
        let (Some(m), Some(r)) = (&self.media, &mut self.recording) else {
            return Err(CallRequestError::Conflict(
                "the call is not being recorded".into(),
            ));
        };
        if r.stopping {
            return Err(CallRequestError::Conflict(
                if action == RecordingAction::Start {
                    "the last recording is still being finalized; try again".into()
                } else {
                    format!("recording {} is already stopped", r.id)
                },
            ));
        }
        let result = match action {
            // Only reached with a recording running (started above otherwise).
            RecordingAction::Start => {
                return Err(CallRequestError::Conflict(format!(
                    "the call is already being recorded ({})",
                    r.id
                )));
            }
            RecordingAction::Stop if r.owner != RecordingOwner::Agent => {
                return Err(CallRequestError::Forbidden(format!(
                    "the {} requires recording {}; pause it instead",
                    if r.owner == RecordingOwner::Queue {
                        "queue"
                    } else {
                        "call flow"
                    },
                    r.id
                )));
            }
            RecordingAction::Stop => {
                let done = m.client.stop_recording(m.session, r.handler_id).await;
                if done.is_ok() {
                    r.stopping = true;
                }
                done
            }
            RecordingAction::Pause | RecordingAction::Resume => {
                let pause = action == RecordingAction::Pause;
                if r.paused == pause {
                    return Err(CallRequestError::Conflict(format!(
                        "recording {} is already {}",
                        r.id,
                        if pause { "paused" } else { "running" }
                    )));
                }
                let done = if pause {
                    m.client.pause_recording(m.session, r.handler_id).await
                } else {
                    m.client.resume_recording(m.session, r.handler_id).await
                };
                if done.is_ok() {
                    r.paused = pause;
                }
                done
            }
        };
        match result {
            Ok(_) => {
                tracing::info!(recording = %r.id, ?action, %agent, "agent recording request");
                Ok(r.view(&self.id))
            }
            Err(e) => Err(CallRequestError::Media(e.to_string())),
        }
    }

    /// The queue's word on the agent leg.
    async fn on_agent_leg(&mut self, agent: &str, confirm: bool) {
        let ours = matches!(
            &self.outbound,
            Some(Outbound { purpose: Purpose::Agent { agent: a, .. }, .. }) if a == agent
        );
        if !ours {
            tracing::debug!(%agent, confirm, "queue event for an agent leg we do not have");
            return;
        }
        // Invariant: `ours` checked that the outbound leg exists.
        let ob = self.outbound.take().expect("checked above");
        match (&ob.state, confirm) {
            (OutState::Connected(_), true) if ob.bridged.is_none() => self.bridge(ob).await,
            (OutState::Ringing { tx, .. }, false) => {
                // CANCEL and free the slot at once: the queue may offer the next agent
                // now. The 487 finds no outbound leg and is dropped; a 200 crossing the
                // CANCEL is hung up (`on_outbound_response`).
                self.cx.sig.send(SigCommand::Cancel { tx: *tx });
                self.outbound_cleanup(&ob).await;
            }
            (OutState::Connected(dialog), false) => {
                tracing::info!(%agent, "the queue took the contact back: hanging the agent up");
                self.cx.sig.send(SigCommand::Bye { dialog: *dialog });
                self.outbound_cleanup(&ob).await;
                if ob.bridged.is_some() {
                    self.hangup_customer(
                        Reply::status(StatusCode::TEMPORARILY_UNAVAILABLE),
                        Party::System,
                        "agent withdrawn",
                    );
                }
            }
            _ => self.outbound = Some(ob),
        }
    }

    /// The agent's desktop put the call on hold (music to the customer) or resumed it.
    async fn agent_hold(&mut self, agent: &str, hold: bool) {
        let ours = matches!(
            &self.outbound,
            Some(Outbound { purpose: Purpose::Agent { agent: a, .. }, .. }) if a == agent
        );
        if !ours || self.conference_hold(hold).await {
            return;
        }
        let (Some(m), Some(ob)) = (&self.media, &mut self.outbound) else {
            return;
        };
        if hold {
            let Some(route) = ob.bridged else { return };
            if let Err(e) = m.client.delete_route(m.session, route).await {
                tracing::warn!(error = %e, "hold: route not removed");
                return;
            }
            ob.bridged = None;
            let req = self.hold_music();
            if let Err(e) = m.client.play(m.session, m.leg.id, &req).await {
                tracing::warn!(error = %e, "hold music");
            }
            self.set_state("on_hold");
        } else {
            if ob.bridged.is_some() {
                return;
            }
            let _ = m.client.stop_play(m.session, m.leg.id).await;
            match m
                .client
                .create_route(
                    m.session,
                    &CreateRoute {
                        a: m.leg.id,
                        b: ob.leg.id,
                    },
                )
                .await
            {
                Ok(r) => ob.bridged = Some(r.id),
                Err(e) => tracing::warn!(error = %e, "unhold: route not restored"),
            }
            self.set_state("bridged");
        }
    }

    /// Music on hold, looped: the bundled hold music, else a ringback tone.
    fn hold_music(&self) -> media_api::Play {
        let music = self.cx.prompts.join("hold-music.wav");
        if !music.exists() {
            return tone_play(Tone::Ringback, true);
        }
        media_api::Play {
            source: PlaySource::File {
                path: music.display().to_string(),
            },
            looped: true,
            mode: PlayMode::Replace,
        }
    }

    /// The agent's blind transfer (the manager has ended the agent's part already): hang
    /// the agent's leg up, music to the customer, and enqueue again.
    async fn agent_blind_transfer(
        &mut self,
        agent: &str,
        queue: Option<String>,
        to_agent: Option<String>,
        uri: Option<String>,
    ) {
        let Some(ob) = self
            .outbound
            .take_if(|ob| matches!(&ob.purpose, Purpose::Agent { agent: a, .. } if a == agent))
        else {
            tracing::debug!(%agent, "transfer by an agent this call does not have");
            return;
        };
        // A third party the agent had brought in leaves with the agent.
        self.end_third(true).await;
        if let OutState::Connected(dialog) = ob.state {
            self.cx.sig.send(SigCommand::Bye { dialog });
        }
        // No `OfferResult` for this leg: the manager has closed the agent's part, and the
        // customer is not gone.
        self.outbound_cleanup(&ob).await;
        // The next agent's queue starts its own recording if it records.
        self.stop_agent_recording().await;
        let entry = self.next_transfer_entry();
        self.agent_transfer = Some(entry);
        let target = match (&uri, &queue, &to_agent) {
            (Some(u), _, _) => u.clone(),
            (None, Some(q), Some(a)) => format!("agent {a} in queue {q}"),
            (None, Some(q), None) => format!("queue {q}"),
            (None, None, Some(a)) => format!("agent {a}"),
            (None, None, None) => "nowhere".into(),
        };
        self.records.path_step(
            &format!("agent {agent} transferred to {target}"),
            Timestamp::now(),
        );
        tracing::info!(%agent, %target, "blind transfer");
        if let Some(uri) = uri {
            // The dial plays ringback to the caller; bridged on answer.
            self.transfer(entry, uri).await;
            return;
        }
        if let Some(m) = &self.media {
            let req = self.hold_music();
            if let Err(e) = m.client.play(m.session, m.leg.id, &req).await {
                tracing::warn!(error = %e, "transfer: hold music");
            }
        }
        self.enqueue(entry, queue, 0, to_agent);
        self.set_state("queued");
    }

    /// A stereo recording of customer and agent (the queue's or the agent's, not the
    /// flow's) ends with the agent's leg.
    async fn stop_agent_recording(&mut self) {
        if let (Some(m), Some(r)) = (&self.media, &mut self.recording)
            && r.op.is_none()
            && !r.stopping
        {
            match m.client.stop_recording(m.session, r.handler_id).await {
                Ok(_) => r.stopping = true,
                Err(e) => tracing::warn!(error = %e, "recording not stopped"),
            }
        }
    }

    /// The parties talking changed (a third party joined or left, the agent handed the
    /// customer over): a call recording of the queue or the agent goes on in a new file
    /// that covers `source`, paused if it was. The call record lists each file.
    async fn recording_follows(&mut self, source: RecordSource) {
        let Some(r) = &self.recording else {
            return;
        };
        if r.op.is_some() || r.stopping || r.source == source {
            return;
        }
        let (owner, paused) = (r.owner, r.paused);
        self.stop_agent_recording().await;
        match self.start_call_recording(source, owner).await {
            Ok(_) if paused => {
                if let (Some(m), Some(r)) = (&self.media, &mut self.recording) {
                    match m.client.pause_recording(m.session, r.handler_id).await {
                        Ok(_) => r.paused = true,
                        Err(e) => tracing::warn!(error = %e, "the new recording is not paused"),
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the recording does not go on"),
        }
    }

    /// A fresh id for an agent's transfer, outside the flow's ids.
    fn next_transfer_entry(&mut self) -> OpId {
        self.transfers += 1;
        OpId(AGENT_TRANSFER_ENTRIES | self.transfers)
    }

    /// A transfer could not be made: the flow's (it decides what next) or an agent's.
    fn transfer_failed(&mut self, op: OpId, reason: String) {
        if self.agent_transfer == Some(op) {
            self.agent_transfer_failed(&reason);
        } else {
            self.feed(flow::Event::TransferFailed {
                transfer: op,
                reason,
            });
        }
    }

    /// The queue of an agent's blind transfer let the customer go (max wait, no agents,
    /// an error): no flow is left to decide, so the call ends, recorded with the reason.
    fn agent_transfer_failed(&mut self, reason: &str) {
        self.queued = None;
        tracing::info!(%reason, "transfer queue gave up");
        self.hangup_customer(
            Reply::status(StatusCode::TEMPORARILY_UNAVAILABLE),
            Party::System,
            &format!("transfer: {reason}"),
        );
    }

    async fn outbound_cleanup(&mut self, ob: &Outbound) {
        if let Some(m) = &self.media {
            let _ = m.client.remove_leg(m.session, ob.leg.id).await;
            if let Some(v) = &ob.video {
                let _ = m.client.remove_leg(m.session, v.id).await;
            }
        }
        // A third party's leg going leaves customer and agent as they were.
        if matches!(self.customer, Customer::Answered(_))
            && !matches!(ob.purpose, Purpose::Conference { .. })
        {
            self.set_state(if self.hold { "on_hold" } else { "answered" });
        }
    }

    fn outbound_failed(&mut self, purpose: Purpose, reason: &str, result: OfferResult) {
        tracing::info!(%reason, "dial failed");
        match purpose {
            Purpose::Transfer { op, uri } => {
                tracing::debug!(%uri, "transfer failed");
                self.transfer_failed(op, reason.to_string());
            }
            Purpose::Agent { result: tx, .. } => {
                let _ = tx.send(result);
            }
            p @ Purpose::Conference { .. } => self.third_failed(p, reason),
        }
    }

    async fn offer(&mut self, entry: OpId, offer: Offer) {
        if self.queued != Some(entry) {
            let _ = offer.result.send(OfferResult::Abandoned);
            return;
        }
        let purpose = Purpose::Agent {
            entry,
            agent: offer.agent,
            result: offer.result,
            record: offer.record,
        };
        if let Err((purpose, reason)) = self
            .dial(purpose, offer.target, Some(offer.flow), offer.ring_timeout)
            .await
        {
            self.outbound_failed(purpose, &reason, OfferResult::Failed(0));
        }
    }

    /// Ends the outbound leg from our side (CANCEL or BYE).
    async fn hangup_outbound(&mut self, by_agent: bool) {
        // A third party leaves with the agent.
        self.end_third(true).await;
        let Some(ob) = self.outbound.take() else {
            return;
        };
        match ob.state {
            OutState::Ringing { tx, .. } => {
                self.cx.sig.send(SigCommand::Cancel { tx });
                if let Purpose::Agent { result, .. } = &ob.purpose {
                    let _ = result.send(OfferResult::Abandoned);
                }
            }
            OutState::Connected(dialog) => {
                if !by_agent {
                    self.cx.sig.send(SigCommand::Bye { dialog });
                }
                if let Purpose::Agent { result, .. } = &ob.purpose {
                    let _ = result.send(OfferResult::Ended { by_agent });
                }
            }
        }
    }

    // ---- inputs ------------------------------------------------------------------------

    async fn on_sip(&mut self, e: SipEvent) {
        match e {
            SipEvent::Cancelled => {
                tracing::debug!("cancelled");
                self.customer_gone(Party::Customer, "cancelled", true);
            }
            SipEvent::Ack { .. } => {}
            SipEvent::Bye { dialog } | SipEvent::DialogTerminated { dialog, .. } if matches!(self.customer, Customer::Answered(d) if d == dialog) =>
            {
                let reason = match &e {
                    SipEvent::DialogTerminated {
                        reason: TerminationReason::PeerGone,
                        ..
                    } => "caller unreachable",
                    _ => "caller hung up",
                };
                let abandoned = self.queued.is_some();
                self.customer_gone(Party::Customer, reason, abandoned);
                self.hangup_outbound(false).await;
            }
            SipEvent::Bye { dialog } | SipEvent::DialogTerminated { dialog, .. } if matches!(&self.outbound, Some(Outbound { state: OutState::Connected(d), .. }) if *d == dialog) =>
            {
                self.hangup_outbound(true).await;
                self.hangup_customer(
                    Reply::status(StatusCode::TEMPORARILY_UNAVAILABLE),
                    Party::Agent,
                    "other party hung up",
                );
            }
            SipEvent::Bye { dialog } | SipEvent::DialogTerminated { dialog, .. }
                if self.is_third_dialog(dialog) =>
            {
                tracing::info!("conference: the third party left");
                let holding = self.end_third(false).await;
                self.after_third(holding).await;
            }
            SipEvent::Bye { .. } | SipEvent::DialogTerminated { .. } => {}
            SipEvent::ReInvite {
                dialog,
                tx,
                request,
            } => {
                let reply = self.on_reinvite(dialog, &request).await;
                self.cx.sig.send(SigCommand::Respond {
                    call: self.key,
                    tx,
                    reply,
                    done: None,
                });
            }
            SipEvent::AckTimeout { dialog } => {
                self.cx.sig.send(SigCommand::Bye { dialog });
                if matches!(self.customer, Customer::Answered(d) if d == dialog) {
                    self.customer = Customer::Gone;
                    self.customer_gone(Party::System, "no ACK", false);
                    self.feed(flow::Event::Hangup);
                    self.hangup_outbound(false).await;
                }
            }
            SipEvent::Response {
                tx,
                dialog,
                response,
            } => self.on_outbound_response(tx, dialog, response).await,
            SipEvent::RequestFailed { tx } => {
                let ours = matches!(
                    &self.outbound,
                    Some(Outbound { state: OutState::Ringing { tx: t, .. }, .. }) if *t == tx
                );
                if ours {
                    // Invariant: checked just above.
                    let ob = self.outbound.take().expect("checked above");
                    self.outbound_cleanup(&ob).await;
                    self.outbound_failed(ob.purpose, "no response", OfferResult::Failed(408));
                } else if let Some(ob) = self
                    .third
                    .take_if(|ob| matches!(ob.state, OutState::Ringing { tx: t, .. } if t == tx))
                {
                    self.outbound_cleanup(&ob).await;
                    self.outbound_failed(ob.purpose, "no response", OfferResult::Failed(408));
                }
            }
            SipEvent::Shutdown => {
                tracing::info!("shutting down: hanging up");
                self.hangup_outbound(false).await;
                self.hangup_customer(
                    reason_reply(StatusCode::SERVICE_UNAVAILABLE, "Shutting Down"),
                    Party::System,
                    "shutdown",
                );
                self.feed(flow::Event::Hangup);
            }
        }
    }

    async fn on_reinvite(&mut self, dialog: DialogId, request: &Request) -> Reply {
        if matches!(self.customer, Customer::Answered(d) if d == dialog) {
            return match self.customer_reoffer(request).await {
                Ok(r) => r,
                Err((r, reason)) => {
                    tracing::info!(%reason, "re-INVITE refused");
                    r
                }
            };
        }
        if let Some(Outbound {
            state: OutState::Connected(d),
            ..
        }) = &self.outbound
            && *d == dialog
        {
            return match self.outbound_reoffer(request).await {
                Ok(r) => r,
                Err((r, reason)) => {
                    tracing::info!(%reason, "re-INVITE refused");
                    r
                }
            };
        }
        if self.is_third_dialog(dialog) {
            return Self::third_reinvite_reply();
        }
        Reply::status(StatusCode::CALL_DOES_NOT_EXIST)
    }

    /// A re-INVITE from the caller (hold, resume, new codec or address): the
    /// bandwidth manager re-decides, the leg is updated, the answer says so.
    async fn customer_reoffer(&mut self, request: &Request) -> Result<Reply, (Reply, String)> {
        let contact = self.contact_id();
        let priority = self.priority();
        let Some(m) = &mut self.media else {
            return Err((
                Reply::status(StatusCode::SERVER_INTERNAL_ERROR),
                "no media".into(),
            ));
        };
        if request.body().is_empty() {
            // No offer: ours (unchanged) is the offer; the ACK carries the answer.
            return Ok(Reply::with_sdp(StatusCode::OK, m.answer.clone()));
        }
        let offer = parse_offer(request)?;
        let placement = self
            .cx
            .registry
            .adjust(
                &contact,
                &PlaceRequest {
                    offer: &offer,
                    services: m.services,
                    priority,
                    transcodable: &self.cx.transcodable,
                },
            )
            .map_err(|e| (place_error_reply(&e), e.to_string()))?;
        let stream = audio(&placement.negotiation)?.clone();
        let update = audio_leg_update(&stream);
        m.client
            .update_leg(m.session, m.leg.id, &update)
            .await
            .map_err(|e| unavailable("update leg", e))?;
        let offered_video = video(&placement.negotiation);
        match (&m.video, offered_video) {
            (Some(v), s) => {
                m.client
                    .update_leg(m.session, v.id, &video_update(s))
                    .await
                    .map_err(|e| unavailable("update video leg", e))?;
            }
            (None, Some(s)) => {
                // Video added by the re-offer: relayed once a target with video joins.
                let leg = m
                    .client
                    .add_leg(m.session, &video_leg(s))
                    .await
                    .map_err(|e| unavailable("add video leg", e))?;
                m.video = Some(leg);
            }
            (None, None) => {}
        }
        let ports = answer_ports(&placement.negotiation, &m.leg, m.video.as_ref());
        let answer = sdp::build_answer(
            &offer,
            &placement.negotiation,
            &LocalMedia {
                address: m.leg.local_ip,
                ports,
            },
            &mut m.local,
        )
        .map_err(|e| (sdp_error_reply(&e), e.to_string()))?;
        m.answer = Bytes::from(answer.to_string());
        m.codec = stream.codec.codec.encoding_name().to_string();
        let hold = !stream.direction.sends();
        let answer = m.answer.clone();
        let explanation = explain::explanation(&placement.explanation);
        self.records.media(MediaPlacement {
            handler: placement.handler.0.clone(),
            codec: Some(m.codec.clone()),
            explanation: Some(explanation.to_string()),
        });
        let codec = m.codec.clone();
        self.cx.live.update(&self.id, |l| {
            l.codec = Some(codec);
            l.placement = Some(explanation);
        });
        if hold != self.hold {
            tracing::info!(hold, "hold changed");
        }
        self.hold = hold;
        if self.outbound.is_none() {
            self.set_state(if hold { "on_hold" } else { "answered" });
        }
        Ok(Reply::with_sdp(StatusCode::OK, answer))
    }

    /// A re-INVITE from a transfer target or an agent.
    async fn outbound_reoffer(&mut self, request: &Request) -> Result<Reply, (Reply, String)> {
        let offer = parse_offer(request)?;
        let (Some(m), Some(ob)) = (&self.media, &mut self.outbound) else {
            return Err((
                Reply::status(StatusCode::SERVER_INTERNAL_ERROR),
                "no leg".into(),
            ));
        };
        let mut caps = sdp::Capabilities::audio(&[sdp::Codec::Pcmu, sdp::Codec::Pcma]);
        // Video only as the relay already set up: the same codec on the same leg.
        caps.video = ob
            .video
            .iter()
            .flat_map(|v| v.codecs.first())
            .filter_map(|c| sdp::Codec::from_encoding(&c.name, c.clock_rate))
            .collect();
        let negotiation =
            sdp::negotiate(&offer, &caps).map_err(|e| (sdp_error_reply(&e), e.to_string()))?;
        let stream = audio(&negotiation)?.clone();
        let update = audio_leg_update(&stream);
        m.client
            .update_leg(m.session, ob.leg.id, &update)
            .await
            .map_err(|e| unavailable("update leg", e))?;
        if let Some(v) = &ob.video {
            m.client
                .update_leg(m.session, v.id, &video_update(video(&negotiation)))
                .await
                .map_err(|e| unavailable("update video leg", e))?;
        }
        let answer = sdp::build_answer(
            &offer,
            &negotiation,
            &LocalMedia {
                address: ob.leg.local_ip,
                ports: answer_ports(&negotiation, &ob.leg, ob.video.as_ref()),
            },
            &mut ob.local,
        )
        .map_err(|e| (sdp_error_reply(&e), e.to_string()))?;
        Ok(Reply::with_sdp(
            StatusCode::OK,
            Bytes::from(answer.to_string()),
        ))
    }

    async fn on_media(&mut self, e: media_api::Event) {
        let caller_leg = self.media.as_ref().map(|m| m.leg.id);
        match e {
            media_api::Event::Dtmf {
                leg_id,
                digit,
                source,
                ..
            } => {
                if Some(leg_id) != caller_leg {
                    return;
                }
                tracing::debug!(%digit, ?source, "digit");
                if let Some(d) = digit.chars().next().and_then(flow::Dtmf::new) {
                    self.feed(flow::Event::Digit(d));
                }
            }
            media_api::Event::PlaybackFinished { playback_id, .. } => {
                if let Some(play) = self.plays.remove(&playback_id) {
                    self.feed(flow::Event::PlaybackFinished { play });
                }
            }
            media_api::Event::RecordingFinished {
                recording_id,
                path,
                duration_ms,
                ..
            } => {
                let r = match self.recording.take_if(|r| r.handler_id == recording_id) {
                    Some(r) => r,
                    None => match self
                        .finishing
                        .iter()
                        .position(|r| r.handler_id == recording_id)
                    {
                        Some(i) => self.finishing.swap_remove(i),
                        None => return,
                    },
                };
                let duration = Duration::from_millis(duration_ms);
                self.records.finish_recording(&r.id, duration);
                tracing::info!(recording = %r.id, ms = duration_ms, "recording stored");
                if self.recording.is_none() {
                    self.set_services(|s| s.record = false);
                }
                if let Some(op) = r.op {
                    self.feed(flow::Event::RecordingFinished {
                        record: op,
                        recording: flow::Recording {
                            id: r.id,
                            path,
                            duration,
                        },
                    });
                }
            }
            media_api::Event::RtpTimeout {
                leg_id, silent_ms, ..
            } => {
                if Some(leg_id) == caller_leg
                    && !self.hold
                    && matches!(self.customer, Customer::Answered(_))
                {
                    tracing::info!(silent_ms, "no RTP from the caller: hanging up");
                    self.hangup_outbound(false).await;
                    self.hangup_customer(
                        Reply::status(StatusCode::REQUEST_TIMEOUT),
                        Party::System,
                        "rtp timeout",
                    );
                    self.feed(flow::Event::Hangup);
                }
            }
            media_api::Event::LegLatched { leg_id, remote, .. } => {
                tracing::debug!(leg = %leg_id, %remote, "leg latched");
            }
            media_api::Event::Lagged { .. } => {}
        }
    }

    async fn on_input(&mut self, input: CallInput) {
        match input {
            CallInput::Webhook(event) => self.feed(event),
            CallInput::MediaLost => {
                tracing::warn!("the media handler is lost: hanging up");
                self.hangup_outbound(false).await;
                self.hangup_customer(
                    Reply::status(StatusCode::SERVICE_UNAVAILABLE),
                    Party::System,
                    "media handler lost",
                );
                self.feed(flow::Event::Hangup);
            }
            CallInput::Queue(q) => match q {
                QueueEvent::Position {
                    entry,
                    position,
                    estimated_wait,
                } => self.feed(flow::Event::QueuePosition {
                    entry,
                    position,
                    estimated_wait,
                }),
                QueueEvent::Offer { entry, offer } => self.offer(entry, *offer).await,
                QueueEvent::Connected { agent, .. } => self.on_agent_leg(&agent, true).await,
                QueueEvent::Cancel { agent, .. } => self.on_agent_leg(&agent, false).await,
                QueueEvent::HangUp { agent } => {
                    let ours = matches!(
                        &self.outbound,
                        Some(Outbound { purpose: Purpose::Agent { agent: a, .. }, .. }) if *a == agent
                    );
                    if ours {
                        self.hangup_outbound(false).await;
                        self.hangup_customer(
                            Reply::status(StatusCode::TEMPORARILY_UNAVAILABLE),
                            Party::Agent,
                            "agent hung up",
                        );
                    }
                }
                QueueEvent::Hold { agent, hold } => self.agent_hold(&agent, hold).await,
                QueueEvent::Request { agent, request } => match request {
                    CallRequest::Recording { action, reply } => {
                        let answer = self.agent_recording(&agent, action).await;
                        let _ = reply.send(answer);
                    }
                    CallRequest::Conference { action, reply } => {
                        self.agent_conference(&agent, action, reply).await;
                    }
                },
                QueueEvent::Transfer {
                    agent,
                    queue,
                    to_agent,
                    uri,
                } => {
                    self.agent_blind_transfer(&agent, queue, to_agent, uri)
                        .await;
                }
                QueueEvent::MaxWait { entry } if self.agent_transfer == Some(entry) => {
                    self.agent_transfer_failed("max wait");
                }
                QueueEvent::NoAgents { entry } if self.agent_transfer == Some(entry) => {
                    self.agent_transfer_failed("no agents");
                }
                QueueEvent::Failed { entry, reason } if self.agent_transfer == Some(entry) => {
                    self.agent_transfer_failed(&reason);
                }
                QueueEvent::MaxWait { entry } => {
                    self.queued = None;
                    self.feed(flow::Event::MaxWait { entry });
                }
                QueueEvent::NoAgents { entry } => {
                    self.queued = None;
                    self.feed(flow::Event::NoAgents { entry });
                }
                QueueEvent::Failed { entry, reason } => {
                    self.queued = None;
                    self.feed(flow::Event::QueueFailed { entry, reason });
                }
            },
        }
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if let Some(f) = &mut self.flow
            && f.poll_timeout().is_some_and(|t| t <= now)
        {
            f.handle_timeout(now, Timestamp::now());
        }
        for ob in [&mut self.outbound, &mut self.third] {
            if let Some(Outbound {
                state:
                    OutState::Ringing {
                        tx,
                        deadline,
                        cancelled,
                        ..
                    },
                ..
            }) = ob
                && deadline.is_some_and(|d| d <= now)
            {
                *deadline = None;
                *cancelled = true;
                self.cx.sig.send(SigCommand::Cancel { tx: *tx });
            }
        }
    }

    // ---- the end -----------------------------------------------------------------------

    async fn teardown(&mut self, media_rx: &mut mpsc::UnboundedReceiver<media_api::Event>) {
        if let Some(entry) = self.queued.take() {
            self.cx
                .queues
                .dequeue(&self.id, entry, DequeueReason::CallerHungUp);
        }
        self.hangup_outbound(false).await;
        if let Some(m) = self.media.take() {
            // A recording still running: stop it and wait for its file, so the
            // record gets its length and the flow its report.
            if self.recording.is_some() || !self.finishing.is_empty() {
                if let Some(r) = &self.recording
                    && !r.stopping
                {
                    let _ = m.client.stop_recording(m.session, r.handler_id).await;
                }
                let wait = tokio::time::sleep(RECORDING_REPORT_WAIT);
                tokio::pin!(wait);
                while self.recording.is_some() || !self.finishing.is_empty() {
                    tokio::select! {
                        ev = media_rx.recv() => match ev {
                            Some(ev @ media_api::Event::RecordingFinished { .. }) => self.on_media(ev).await,
                            Some(_) => {}
                            None => break,
                        },
                        () = &mut wait => {
                            tracing::warn!("no report for the recording");
                            break;
                        }
                    }
                }
            }
            self.cx.media_events.unregister(&m.handler, m.session);
            if let Err(e) = m.client.delete_session(m.session).await {
                tracing::warn!(error = %e, "cannot delete the media session");
            }
            self.cx.registry.release(&self.contact_id());
        }
        self.run_flow().await;
        let ending = self.ending.take().unwrap_or(Ending {
            by: None,
            reason: "ended".into(),
            abandoned: false,
        });
        let result = if self.ever_answered {
            "answered"
        } else if ending.reason == "cancelled" {
            "cancelled"
        } else if ending.reason.starts_with("rejected") {
            "rejected"
        } else {
            "unanswered"
        };
        metrics::call_ended(result);
        tracing::info!(reason = %ending.reason, result, "call ended");
        self.records.end(ContactEnd {
            at: Timestamp::now(),
            hangup_by: ending.by,
            reason: ending.reason,
            abandoned: ending.abandoned,
        });
        self.cx.live.remove(&self.id);
        self.cx.sig.send(SigCommand::Ended { call: self.key });
    }
}

fn g711(name: &str, pt: u8) -> media_api::Codec {
    media_api::Codec {
        name: name.to_string(),
        payload_type: pt,
        clock_rate: 8000,
        channels: 1,
        fmtp: None,
    }
}

/// Where to send an out-of-dialog request to `uri` (names resolved here:
/// the SIP stack never resolves DNS).
async fn next_hop(uri: &Uri) -> Result<Flow, String> {
    let hop = sip::routing::uri_next_hop(uri).map_err(|e| e.to_string())?;
    if !matches!(hop.transport, Transport::Udp | Transport::Tcp) {
        return Err(format!("{} is not supported", hop.transport));
    }
    let addr = match hop.destination {
        sip::routing::Destination::Addr(a) => a,
        sip::routing::Destination::Resolve { host, port } => {
            tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| format!("{host}: {e}"))?
                .next()
                .ok_or_else(|| format!("{host}: no address"))?
        }
    };
    Ok(Flow::new(hop.transport, addr))
}

/// POSTs the contact's data and turns the reply into the flow's event.
async fn webhook(
    http: &reqwest::Client,
    request: OpId,
    url: &str,
    data: &[(String, String)],
    timeout: Duration,
) -> flow::Event {
    let failed = |reason: String| flow::Event::WebhookFailed { request, reason };
    let body: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let sent = http.post(url).timeout(timeout).json(&body).send().await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return failed("timeout".into()),
        Err(e) => return failed(e.to_string()),
    };
    let status = resp.status();
    if !status.is_success() {
        return failed(format!("HTTP {}", status.as_u16()));
    }
    let value: serde_json::Value = match resp.json().await {
        Ok(v) => v,
        Err(e) => return failed(format!("bad JSON: {e}")),
    };
    let Some(obj) = value.as_object() else {
        return failed("the reply is not a JSON object".into());
    };
    let mut vars = Vec::new();
    let mut next = None;
    for (k, v) in obj {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        if k == "next" {
            next = Some(text);
        } else {
            vars.push((k.clone(), text));
        }
    }
    flow::Event::WebhookReplied {
        request,
        vars,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_sdp_is_answered_400_with_a_clean_reason() {
        let e = SessionDescription::parse(b"v=0\r\nthis is not sdp\r\n").unwrap_err();
        let r = sdp_error_reply(&e);
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let reason = r.reason.unwrap();
        assert!(!reason.contains('\r') && !reason.contains('\n'), "{reason}");
    }

    #[test]
    fn no_common_codec_is_488_with_warning_305() {
        let e = SdpError::NoCommonCodec {
            offered: "G723".into(),
        };
        let r = sdp_error_reply(&e);
        assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE_HERE);
        assert!(
            r.headers
                .iter()
                .any(|(n, v)| *n == HeaderName::Warning && v.starts_with("305 "))
        );
    }

    #[test]
    fn remote_address_of_a_hold_offer_is_not_taken() {
        let offer = SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
              m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n",
        )
        .unwrap();
        let n = sdp::negotiate(&offer, &sdp::Capabilities::audio(&[sdp::Codec::Pcmu])).unwrap();
        let s = n.audio().unwrap();
        assert_eq!(remote_rtp(s), None);
        assert_eq!(media_direction(s.direction), media_api::Direction::Recvonly);
    }
}
