//! The endpoint: a sans-IO SIP user agent core that owns the transaction layer and the
//! dialogs, turns wire messages into TU [`Event`]s (new INVITE, CANCEL, ACK, BYE, re-INVITE,
//! responses) and takes TU commands (respond, send, send in dialog, cancel, BYE).
//!
//! What it does on its own, so a B2BUA does not have to:
//! - `100 Trying` to every INVITE; `200` to CANCEL and `487` to the cancelled INVITE;
//! - `481` for requests that match no dialog (or transaction, for CANCEL); `420` for `Require`d
//!   extensions it does not support; `500` for out-of-order CSeq; `491` on re-INVITE glare and
//!   `500` + `Retry-After` for a second incoming INVITE while one is pending (RFC 3261 §14.2);
//! - `200` to BYE, ending the dialog (and `487` to a re-INVITE still pending in it);
//! - `received`/`rport` on arriving requests; `400` (or `505`) for unparseable requests;
//! - the ACK for every 2xx to its INVITEs (re-sent for 2xx retransmissions); the ACK for
//!   non-2xx comes from the transaction layer;
//! - retransmission of its own 2xx to INVITE until the ACK (T1 doubling to T2, giving up after
//!   64·T1 with [`Event::AckTimeout`] so the TU can send BYE);
//! - dialog teardown after a `481`/`408`/timeout to an in-dialog request.
//!
//! See the crate documentation for the driver loop.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::{Rng as _, RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

use crate::builder::{response_to, response_with_reason};
use crate::dialog::{Dialog, DialogId, DialogKey, DialogState, Role, Unacked2xx};
use crate::error::Error;
use crate::grammar::Host;
use crate::header::{Header, HeaderName};
use crate::message::{Message, Method, Request, Response, StatusCode};
use crate::reject::error_response;
use crate::routing::{Destination, response_flow, stamp_received};
use crate::transaction::{
    ClientState, ClientTxId, ServerState, ServerTxId, TimerConfig, TransactionLayer, Transmit,
    TxEvent, TxId, TxOutput,
};
use crate::transport::{Flow, Transport};
use crate::typed::{BRANCH_MAGIC, NameAddr, Via};
use crate::uri::Uri;

/// Endpoint settings.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Transaction timer values.
    pub timers: TimerConfig,
    /// Seed of the RNG that makes tags, branches, Call-IDs and CSeq starts. One seed
    /// reproduces a run.
    pub seed: u64,
    /// The host we put in Via and Contact (the address peers reach us at).
    pub host: Host,
    /// The port we put in Via and Contact, if not the default.
    pub port: Option<u16>,
    /// User part of our Contact URI, if any.
    pub contact_user: Option<String>,
    /// Sent as User-Agent in requests and Server in responses, if set.
    pub user_agent: Option<String>,
    /// Option tags we support; a request that `Require`s anything else gets `420`.
    pub supported: Vec<String>,
}

impl EndpointConfig {
    /// Default timers, no user agent string, no extensions.
    pub fn new(host: Host, port: Option<u16>, seed: u64) -> EndpointConfig {
        EndpointConfig {
            timers: TimerConfig::default(),
            seed,
            host,
            port,
            contact_user: None,
            user_agent: None,
            supported: Vec::new(),
        }
    }
}

/// Why a dialog ended (other than a BYE from the peer, which is [`Event::Bye`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminationReason {
    /// Our BYE got its final response (or none in time).
    ByeSent,
    /// An in-dialog request got `481`/`408`, timed out or could not be sent: the peer is gone.
    PeerGone,
}

/// What the endpoint tells the TU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An INVITE outside any dialog: a new call. `100 Trying` was sent; answer with
    /// [`Endpoint::respond`] / [`Endpoint::reply`].
    IncomingInvite {
        /// Its server transaction.
        tx: ServerTxId,
        /// The INVITE (with `received`/`rport` stamped).
        request: Request,
        /// Where it came from.
        flow: Flow,
    },
    /// A request outside any dialog other than INVITE (REGISTER, OPTIONS, MESSAGE, ...).
    IncomingRequest {
        /// Its server transaction.
        tx: ServerTxId,
        /// The request.
        request: Request,
        /// Where it came from.
        flow: Flow,
    },
    /// The caller cancelled an INVITE we had not answered finally: `200` went to the CANCEL
    /// and `487` to the INVITE.
    Cancelled {
        /// The INVITE's server transaction.
        tx: ServerTxId,
    },
    /// A re-INVITE in an established dialog (e.g. hold with `sendonly`/`inactive`, resume):
    /// answer it with [`Endpoint::respond`] / [`Endpoint::reply`].
    ReInvite {
        /// The dialog.
        dialog: DialogId,
        /// Its server transaction.
        tx: ServerTxId,
        /// The request.
        request: Request,
    },
    /// Another in-dialog request (INFO, UPDATE, OPTIONS, NOTIFY, REFER, MESSAGE): answer it.
    DialogRequest {
        /// The dialog.
        dialog: DialogId,
        /// Its server transaction.
        tx: ServerTxId,
        /// The request.
        request: Request,
    },
    /// The ACK for our 2xx to an INVITE (its body may carry an SDP answer).
    Ack {
        /// The dialog.
        dialog: DialogId,
        /// The ACK.
        request: Request,
    },
    /// The peer hung up: `200` was sent and the dialog is gone.
    Bye {
        /// The (former) dialog.
        dialog: DialogId,
        /// The BYE.
        request: Request,
    },
    /// A response to one of our requests. For a 2xx to INVITE the dialog exists and the ACK
    /// has been sent; retransmitted 2xx are not reported again.
    Response {
        /// Our client transaction.
        tx: ClientTxId,
        /// The dialog it belongs to (or was created by this 2xx).
        dialog: Option<DialogId>,
        /// The response.
        response: Response,
    },
    /// Our 2xx to an INVITE was never acknowledged within 64·T1: send BYE.
    AckTimeout {
        /// The dialog.
        dialog: DialogId,
    },
    /// A dialog ended.
    DialogTerminated {
        /// The (former) dialog.
        dialog: DialogId,
        /// Why.
        reason: TerminationReason,
    },
    /// A transaction timed out (no response to our request; or no ACK to our final non-2xx).
    Timeout {
        /// The transaction.
        tx: TxId,
    },
    /// The driver reported a send failure for this transaction.
    TransportError {
        /// The transaction.
        tx: TxId,
    },
    /// Bytes that did not parse; answered with `400`/`505` when possible, else dropped.
    Malformed {
        /// Where they came from.
        flow: Flow,
        /// The parse error.
        error: Error,
    },
}

/// An output of the endpoint: a message to send, or an event for the TU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this.
    Transmit(Transmit),
    /// Handle this.
    Event(Event),
}

/// The UAS-core timers of a dialog (RFC 3261 §13.3.1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DialogTimer {
    /// Re-send our 2xx to INVITE (T1, doubling to T2), unreliable transports only.
    Retransmit2xx,
    /// Give up waiting for the ACK of our 2xx (64·T1).
    AckTimeout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerKind {
    InitialInvite,
    ReInvite,
    Other,
}

#[derive(Clone, Debug)]
struct ServerCtx {
    to_tag: String,
    dialog: Option<DialogId>,
    kind: ServerKind,
    /// Its key in `merge` (requests outside a dialog).
    merge: Option<MergeKey>,
}

/// What identifies a request outside a dialog apart from its branch (RFC 3261 §8.2.2.2):
/// the same From tag, Call-ID and CSeq arriving in a second transaction is the same request
/// come again along another path (a loop, or a forking proxy): answered `482`.
type MergeKey = (String, String, u32, Method);

#[derive(Clone, Debug, Default)]
struct ClientCtx {
    dialog: Option<DialogId>,
    initial_invite: bool,
    bye: bool,
    want_cancel: bool,
    cancel_sent: bool,
}

/// The SIP endpoint (UA core + transaction layer + dialogs).
pub struct Endpoint {
    cfg: EndpointConfig,
    rng: ChaCha8Rng,
    txl: TransactionLayer,
    dialogs: BTreeMap<DialogId, Dialog>,
    dialog_index: HashMap<DialogKey, DialogId>,
    next_dialog: u64,
    servers: HashMap<ServerTxId, ServerCtx>,
    /// Live server transactions outside a dialog, for merged-request detection.
    merge: HashMap<MergeKey, ServerTxId>,
    clients: HashMap<ClientTxId, ClientCtx>,
    timers: BinaryHeap<Reverse<(Instant, u64, DialogId, DialogTimer)>>,
    timer_seq: u64,
    out: VecDeque<Output>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("dialogs", &self.dialogs.len())
            .field("transactions", &self.txl.len())
            .finish_non_exhaustive()
    }
}

const TAG_CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

fn contact_text(cfg: &EndpointConfig, transport: Transport) -> String {
    let mut s = String::from("sip:");
    if let Some(u) = &cfg.contact_user {
        s.push_str(u);
        s.push('@');
    }
    s.push_str(&cfg.host.to_string());
    if let Some(p) = cfg.port {
        s.push_str(&format!(":{p}"));
    }
    if transport != Transport::Udp {
        s.push_str(";transport=");
        s.push_str(&transport.as_str().to_ascii_lowercase());
    }
    s
}

impl Endpoint {
    /// An endpoint with these settings. Fails when the host, port and contact user do not
    /// make a valid Via and Contact, or a timer is zero or longer than an hour.
    pub fn new(cfg: EndpointConfig) -> Result<Endpoint, Error> {
        let t = cfg.timers;
        for (name, v) in [("T1", t.t1), ("T2", t.t2), ("T4", t.t4)] {
            if v.is_zero() || v > Duration::from_secs(3600) {
                return Err(Error::InvalidValue {
                    what: "timer",
                    reason: format!("{name} must be between 1 ns and 1 hour"),
                });
            }
        }
        Via::new(Transport::Udp, &cfg.host, cfg.port, "z9hG4bKcheck")?;
        for transport in [Transport::Udp, Transport::Tcp, Transport::Tls] {
            Uri::parse(&contact_text(&cfg, transport))?;
        }
        Ok(Endpoint {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            txl: TransactionLayer::new(cfg.timers),
            cfg,
            dialogs: BTreeMap::new(),
            dialog_index: HashMap::new(),
            next_dialog: 1,
            servers: HashMap::new(),
            merge: HashMap::new(),
            clients: HashMap::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            out: VecDeque::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    // ---- identifiers -------------------------------------------------------------------

    /// A fresh tag (10 characters of `[0-9a-z]`).
    pub fn new_tag(&mut self) -> String {
        (0..10)
            .map(|_| TAG_CHARS[self.rng.random_range(0..TAG_CHARS.len())] as char)
            .collect()
    }

    /// A fresh RFC 3261 branch (`z9hG4bK` + 16 hex digits).
    pub fn new_branch(&mut self) -> String {
        format!("{BRANCH_MAGIC}{:016x}", self.rng.next_u64())
    }

    /// A fresh Call-ID (`<32 hex>@<our host>`).
    pub fn new_call_id(&mut self) -> String {
        let host = self.cfg.host.to_string().replace(['[', ']'], "");
        format!(
            "{:016x}{:016x}@{host}",
            self.rng.next_u64(),
            self.rng.next_u64()
        )
    }

    /// Our Contact for a transport (with `transport=` for anything but UDP).
    pub fn local_contact(&self, transport: Transport) -> NameAddr {
        // Invariant: Endpoint::new checked that the configuration makes a valid contact URI
        // for every transport (the transport parameter is always a token).
        let uri =
            Uri::parse(&contact_text(&self.cfg, transport)).expect("checked in Endpoint::new");
        NameAddr::new(None, &uri)
    }

    fn our_via(&mut self, transport: Transport) -> Result<Via, Error> {
        let branch = self.new_branch();
        let via = Via::new(transport, &self.cfg.host, self.cfg.port, &branch)?;
        Ok(via.with_param("rport", None))
    }

    /// A new out-of-dialog request: fresh Call-ID, `from` with a fresh tag, CSeq 1, our
    /// Contact, Max-Forwards 70. Add a body or headers, then [`Endpoint::send_request`].
    pub fn new_request(
        &mut self,
        method: Method,
        uri: Uri,
        from: &NameAddr,
        to: &NameAddr,
        transport: Transport,
    ) -> Result<Request, Error> {
        let tag = self.new_tag();
        let call_id = self.new_call_id();
        let contact = self.local_contact(transport);
        crate::builder::RequestBuilder::new(method, uri)
            .from(&from.with_tag(&tag))
            .to(to)
            .call_id(&call_id)
            .cseq(1)
            .contact(&contact)
            .build()
    }

    // ---- input -------------------------------------------------------------------------

    /// Feeds bytes that arrived on `flow`: a UDP datagram, or one frame from
    /// [`crate::framing::check_stream`] on a stream.
    pub fn handle_input(&mut self, now: Instant, flow: Flow, bytes: &[u8]) {
        match Message::parse(bytes) {
            Ok(m) => self.handle_message(now, flow, m),
            Err(error) => {
                if let Some(resp) = error_response(bytes, &error) {
                    self.out.push_back(Output::Transmit(Transmit {
                        flow,
                        payload: resp.to_bytes(),
                        tx: None,
                    }));
                }
                self.out
                    .push_back(Output::Event(Event::Malformed { flow, error }));
            }
        }
    }

    /// Feeds a parsed message that arrived on `flow`.
    pub fn handle_message(&mut self, now: Instant, flow: Flow, message: Message) {
        let message = match message {
            Message::Request(mut r) => {
                if stamp_received(&mut r, flow.remote).is_err() {
                    return;
                }
                Message::Request(r)
            }
            m => m,
        };
        self.txl.handle_message(now, message, flow);
        self.pump(now);
    }

    /// The driver could not send a message of transaction `tx`.
    pub fn transport_error(&mut self, now: Instant, tx: TxId) {
        self.txl.transport_error(now, tx);
        self.pump(now);
    }

    // ---- output and time ---------------------------------------------------------------

    /// The next output. Call until `None` after every input, command and timeout.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must run next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let dialog = loop {
            match self.timers.peek().copied() {
                None => break None,
                Some(Reverse((at, _, d, t))) => {
                    if self.dialog_timer_armed(d, t) == Some(at) {
                        break Some(at);
                    }
                    self.timers.pop();
                }
            }
        };
        match (self.txl.poll_timeout(), dialog) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs every timer due at `now` (harmless to call early or twice).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.txl.handle_timeout(now);
        self.pump(now);
        while let Some(Reverse((at, _, d, t))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.dialog_timer_armed(d, t) != Some(at) {
                continue;
            }
            self.fire_dialog_timer(now, d, t);
        }
    }

    fn dialog_timer_armed(&self, d: DialogId, t: DialogTimer) -> Option<Instant> {
        let u = self.dialogs.get(&d)?.unacked_2xx.as_ref()?;
        match t {
            DialogTimer::Retransmit2xx => u.next,
            DialogTimer::AckTimeout => Some(u.give_up),
        }
    }

    fn arm_dialog_timer(&mut self, d: DialogId, t: DialogTimer, at: Instant) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, d, t)));
    }

    fn fire_dialog_timer(&mut self, now: Instant, d: DialogId, t: DialogTimer) {
        let t2 = self.cfg.timers.t2;
        let Some(dialog) = self.dialogs.get_mut(&d) else {
            return;
        };
        match t {
            DialogTimer::Retransmit2xx => {
                let Some(u) = dialog.unacked_2xx.as_mut() else {
                    return;
                };
                let (flow, payload) = (u.flow, u.payload.clone());
                u.interval = (u.interval * 2).min(t2);
                let next = now + u.interval;
                u.next = Some(next);
                self.out.push_back(Output::Transmit(Transmit {
                    flow,
                    payload,
                    tx: None,
                }));
                self.arm_dialog_timer(d, DialogTimer::Retransmit2xx, next);
            }
            DialogTimer::AckTimeout => {
                dialog.unacked_2xx = None;
                self.out
                    .push_back(Output::Event(Event::AckTimeout { dialog: d }));
            }
        }
    }

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    /// Moves the transaction layer's outputs into ours, reacting to its events.
    fn pump(&mut self, now: Instant) {
        while let Some(o) = self.txl.poll_output() {
            match o {
                TxOutput::Transmit(t) => self.out.push_back(Output::Transmit(t)),
                TxOutput::Event(e) => self.on_tx_event(now, e),
            }
        }
    }

    fn on_tx_event(&mut self, now: Instant, e: TxEvent) {
        match e {
            TxEvent::Request { tx, request, flow } => self.on_request(now, tx, request, flow),
            TxEvent::Ack { request, .. } => self.on_ack(request),
            TxEvent::Response { tx, response } => self.on_response(now, tx, response),
            TxEvent::StrayResponse { response, .. } => self.on_stray_response(&response),
            TxEvent::Timeout { tx } => {
                self.emit(Event::Timeout { tx });
                self.on_client_failure(tx);
            }
            TxEvent::TransportError { tx } => {
                self.emit(Event::TransportError { tx });
                self.on_client_failure(tx);
            }
            TxEvent::Terminated { tx } => match tx {
                TxId::Client(c) => {
                    self.clients.remove(&c);
                }
                TxId::Server(s) => {
                    if let Some(key) = self.servers.remove(&s).and_then(|c| c.merge) {
                        self.merge.remove(&key);
                    }
                }
            },
        }
    }

    // ---- incoming requests -------------------------------------------------------------

    fn auto_respond(&mut self, now: Instant, tx: ServerTxId, resp: Response) {
        // Invariant: automatic answers go to fresh transactions that sent nothing final.
        let _ = self.respond(now, tx, resp);
    }

    fn on_request(&mut self, now: Instant, tx: ServerTxId, req: Request, flow: Flow) {
        let h = req.headers();
        let to_tag = h.to().ok().and_then(|t| t.tag().map(str::to_string));
        let method = req.method().clone();
        let fresh_tag = self.new_tag();
        let merge_key = match (&method, &to_tag) {
            (Method::Cancel | Method::Ack, _) | (_, Some(_)) => None,
            (_, None) => match (h.from(), h.call_id(), h.cseq()) {
                (Ok(from), Ok(call_id), Ok(cseq)) => from.tag().map(|tag| {
                    (
                        tag.to_string(),
                        call_id.to_string(),
                        cseq.seq,
                        method.clone(),
                    )
                }),
                _ => None,
            },
        };
        let merged = merge_key
            .as_ref()
            .is_some_and(|k| self.merge.get(k).is_some_and(|other| *other != tx));
        self.servers.insert(
            tx,
            ServerCtx {
                to_tag: to_tag.clone().unwrap_or(fresh_tag),
                dialog: None,
                kind: ServerKind::Other,
                merge: merge_key.clone().filter(|_| !merged),
            },
        );
        if merged {
            self.auto_respond(now, tx, response_to(&req, StatusCode::LOOP_DETECTED, None));
            return;
        }
        if let Some(k) = merge_key {
            self.merge.insert(k, tx);
        }
        if method != Method::Cancel {
            let unsupported: Vec<String> = h
                .tokens(&HeaderName::Require)
                .unwrap_or_default()
                .into_iter()
                .filter(|t| !self.cfg.supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
                .map(str::to_string)
                .collect();
            if !unsupported.is_empty() {
                let mut r = response_to(&req, StatusCode::BAD_EXTENSION, None);
                let _ = r
                    .headers_mut()
                    .append(HeaderName::Unsupported, &unsupported.join(", "));
                self.auto_respond(now, tx, r);
                return;
            }
        }
        match (method, to_tag) {
            (Method::Cancel, _) => self.on_cancel(now, tx, req),
            (_, Some(local_tag)) => {
                let key = DialogKey {
                    call_id: h.call_id().unwrap_or_default().to_string(),
                    local_tag,
                    remote_tag: h
                        .from()
                        .ok()
                        .and_then(|f| f.tag().map(str::to_string))
                        .unwrap_or_default(),
                };
                match self.dialog_index.get(&key).copied() {
                    Some(d) => self.on_dialog_request(now, d, tx, req),
                    None => self.auto_respond(
                        now,
                        tx,
                        response_to(&req, StatusCode::CALL_DOES_NOT_EXIST, None),
                    ),
                }
            }
            (Method::Invite, None) => {
                if h.contact().ok().flatten().is_none() {
                    let r = response_with_reason(
                        &req,
                        StatusCode::BAD_REQUEST,
                        "missing Contact",
                        None,
                    );
                    self.auto_respond(now, tx, r);
                    return;
                }
                if let Some(ctx) = self.servers.get_mut(&tx) {
                    ctx.kind = ServerKind::InitialInvite;
                }
                self.emit(Event::IncomingInvite {
                    tx,
                    request: req,
                    flow,
                });
            }
            (_, None) => self.emit(Event::IncomingRequest {
                tx,
                request: req,
                flow,
            }),
        }
    }

    fn on_cancel(&mut self, now: Instant, tx: ServerTxId, cancel: Request) {
        let Some(invite_tx) = self.txl.find_invite_for_cancel(&cancel) else {
            self.auto_respond(
                now,
                tx,
                response_to(&cancel, StatusCode::CALL_DOES_NOT_EXIST, None),
            );
            return;
        };
        if let Some(tag) = self.servers.get(&invite_tx).map(|c| c.to_tag.clone())
            && let Some(ctx) = self.servers.get_mut(&tx)
        {
            ctx.to_tag = tag;
        }
        self.auto_respond(now, tx, response_to(&cancel, StatusCode::OK, None));
        if self.txl.server_state(invite_tx) == Some(ServerState::Proceeding)
            && let Some(invite) = self.txl.server_request(invite_tx).cloned()
        {
            self.auto_respond(
                now,
                invite_tx,
                response_to(&invite, StatusCode::REQUEST_TERMINATED, None),
            );
            self.emit(Event::Cancelled { tx: invite_tx });
        }
    }

    fn on_dialog_request(&mut self, now: Instant, d: DialogId, tx: ServerTxId, req: Request) {
        if let Some(ctx) = self.servers.get_mut(&tx) {
            ctx.dialog = Some(d);
        }
        let Some(dialog) = self.dialogs.get_mut(&d) else {
            return;
        };
        if dialog.state == DialogState::Terminating && req.method() != &Method::Bye {
            self.auto_respond(
                now,
                tx,
                response_to(&req, StatusCode::CALL_DOES_NOT_EXIST, None),
            );
            return;
        }
        if dialog.accept_remote_seq(&req).is_err() {
            let r = response_with_reason(
                &req,
                StatusCode::SERVER_INTERNAL_ERROR,
                "CSeq out of order",
                None,
            );
            self.auto_respond(now, tx, r);
            return;
        }
        match req.method() {
            Method::Invite => {
                if dialog.pending_outgoing_invite.is_some() {
                    self.auto_respond(
                        now,
                        tx,
                        response_to(&req, StatusCode::REQUEST_PENDING, None),
                    );
                } else if dialog.pending_incoming_invite.is_some() || dialog.unacked_2xx.is_some() {
                    let wait = self.rng.random_range(0..=10u32);
                    self.auto_respond(now, tx, crate::builder::server_internal_error(&req, wait));
                } else {
                    dialog.pending_incoming_invite = Some(tx);
                    if let Some(ctx) = self.servers.get_mut(&tx) {
                        ctx.kind = ServerKind::ReInvite;
                    }
                    self.emit(Event::ReInvite {
                        dialog: d,
                        tx,
                        request: req,
                    });
                }
            }
            Method::Bye => {
                let pending = dialog.pending_incoming_invite.take();
                self.auto_respond(now, tx, response_to(&req, StatusCode::OK, None));
                if let Some(itx) = pending
                    && let Some(inv) = self.txl.server_request(itx).cloned()
                {
                    self.auto_respond(
                        now,
                        itx,
                        response_to(&inv, StatusCode::REQUEST_TERMINATED, None),
                    );
                }
                self.remove_dialog(d);
                self.emit(Event::Bye {
                    dialog: d,
                    request: req,
                });
            }
            _ => self.emit(Event::DialogRequest {
                dialog: d,
                tx,
                request: req,
            }),
        }
    }

    fn dialog_of(
        &self,
        msg_headers: &crate::header::Headers,
        local_is_to: bool,
    ) -> Option<DialogId> {
        let to = msg_headers.to().ok()?.tag()?.to_string();
        let from = msg_headers.from().ok()?.tag()?.to_string();
        let (local_tag, remote_tag) = if local_is_to { (to, from) } else { (from, to) };
        self.dialog_index
            .get(&DialogKey {
                call_id: msg_headers.call_id().ok()?.to_string(),
                local_tag,
                remote_tag,
            })
            .copied()
    }

    fn on_ack(&mut self, ack: Request) {
        let Some(d) = self.dialog_of(ack.headers(), true) else {
            return;
        };
        let Ok(cseq) = ack.headers().cseq() else {
            return;
        };
        let Some(dialog) = self.dialogs.get_mut(&d) else {
            return;
        };
        if dialog
            .unacked_2xx
            .as_ref()
            .is_some_and(|u| u.cseq == cseq.seq)
        {
            dialog.unacked_2xx = None;
            self.emit(Event::Ack {
                dialog: d,
                request: ack,
            });
        }
    }

    // ---- responses to our requests -----------------------------------------------------

    fn send_ack(&mut self, d: DialogId, seq: u32) {
        let Some(dialog) = self.dialogs.get(&d) else {
            return;
        };
        let transport = dialog.flow.transport;
        let Ok(mut ack) = dialog.build_ack(seq) else {
            return;
        };
        let Ok(via) = self.our_via(transport) else {
            return;
        };
        let Ok(hdr) = Header::new(HeaderName::Via, via.as_str()) else {
            return;
        };
        ack.headers_mut().push_front_of_name(hdr);
        let payload = ack.to_bytes();
        let Some(dialog) = self.dialogs.get_mut(&d) else {
            return;
        };
        dialog.last_ack = Some((seq, payload.clone()));
        let flow = dialog.flow;
        self.out.push_back(Output::Transmit(Transmit {
            flow,
            payload,
            tx: None,
        }));
    }

    fn resend_ack(&mut self, d: DialogId, seq: u32) {
        if let Some(dialog) = self.dialogs.get(&d)
            && let Some((s, payload)) = &dialog.last_ack
            && *s == seq
        {
            let (flow, payload) = (dialog.flow, payload.clone());
            self.out.push_back(Output::Transmit(Transmit {
                flow,
                payload,
                tx: None,
            }));
        }
    }

    fn on_response(&mut self, now: Instant, tx: ClientTxId, resp: Response) {
        let ctx = self.clients.get(&tx).cloned().unwrap_or_default();
        let Some(req) = self.txl.client_request(tx).cloned() else {
            return;
        };
        let status = resp.status();
        if req.method() == &Method::Invite {
            if status.is_provisional() {
                if ctx.want_cancel && !ctx.cancel_sent {
                    // RFC 3261 §9.1: any provisional response allows the deferred CANCEL.
                    let _ = self.send_cancel(now, tx);
                }
                self.emit(Event::Response {
                    tx,
                    dialog: ctx.dialog,
                    response: resp,
                });
                return;
            }
            let seq = resp.headers().cseq().map(|c| c.seq).unwrap_or(0);
            if status.is_success() {
                if ctx.initial_invite {
                    if let Some(d) = self.dialog_of(resp.headers(), false) {
                        self.resend_ack(d, seq);
                        return;
                    }
                    let Some(flow) = self.txl.client_flow(tx) else {
                        return;
                    };
                    let id = DialogId(self.next_dialog);
                    let contact = self.local_contact(flow.transport);
                    match Dialog::new_uac(id, &req, &resp, contact, flow) {
                        Ok(dialog) => {
                            self.next_dialog += 1;
                            self.dialog_index.insert(dialog.key(), id);
                            self.dialogs.insert(id, dialog);
                            self.send_ack(id, seq);
                            self.emit(Event::Response {
                                tx,
                                dialog: Some(id),
                                response: resp,
                            });
                        }
                        Err(_) => self.emit(Event::Response {
                            tx,
                            dialog: None,
                            response: resp,
                        }),
                    }
                } else if let Some(d) = ctx.dialog {
                    let first = self
                        .dialogs
                        .get(&d)
                        .is_some_and(|x| x.pending_outgoing_invite == Some(tx));
                    if !first {
                        self.resend_ack(d, seq);
                        return;
                    }
                    if let Some(dialog) = self.dialogs.get_mut(&d) {
                        dialog.pending_outgoing_invite = None;
                        dialog.refresh_target(resp.headers().contact().ok().flatten());
                    }
                    self.send_ack(d, seq);
                    self.emit(Event::Response {
                        tx,
                        dialog: Some(d),
                        response: resp,
                    });
                }
                return;
            }
            // Non-2xx final: the transaction already sent the ACK.
            if let Some(d) = ctx.dialog
                && let Some(dialog) = self.dialogs.get_mut(&d)
                && dialog.pending_outgoing_invite == Some(tx)
            {
                dialog.pending_outgoing_invite = None;
            }
            self.emit(Event::Response {
                tx,
                dialog: ctx.dialog,
                response: resp,
            });
            self.maybe_peer_gone(ctx.dialog, status);
            return;
        }
        self.emit(Event::Response {
            tx,
            dialog: ctx.dialog,
            response: resp,
        });
        if status.is_final() {
            if ctx.bye {
                if let Some(d) = ctx.dialog {
                    self.end_dialog(d, TerminationReason::ByeSent);
                }
            } else {
                self.maybe_peer_gone(ctx.dialog, status);
            }
        }
    }

    fn maybe_peer_gone(&mut self, dialog: Option<DialogId>, status: StatusCode) {
        if let Some(d) = dialog
            && (status == StatusCode::CALL_DOES_NOT_EXIST || status == StatusCode::REQUEST_TIMEOUT)
        {
            self.end_dialog(d, TerminationReason::PeerGone);
        }
    }

    fn on_stray_response(&mut self, resp: &Response) {
        let Ok(cseq) = resp.headers().cseq() else {
            return;
        };
        if cseq.method == Method::Invite
            && resp.status().is_success()
            && let Some(d) = self.dialog_of(resp.headers(), false)
        {
            self.resend_ack(d, cseq.seq);
        }
    }

    fn on_client_failure(&mut self, tx: TxId) {
        let TxId::Client(c) = tx else {
            return;
        };
        let Some(ctx) = self.clients.get(&c).cloned() else {
            return;
        };
        if let Some(d) = ctx.dialog {
            let reason = if ctx.bye {
                TerminationReason::ByeSent
            } else {
                TerminationReason::PeerGone
            };
            self.end_dialog(d, reason);
        }
    }

    fn remove_dialog(&mut self, d: DialogId) -> Option<Dialog> {
        let dialog = self.dialogs.remove(&d)?;
        self.dialog_index.remove(&dialog.key());
        Some(dialog)
    }

    fn end_dialog(&mut self, d: DialogId, reason: TerminationReason) {
        if self.remove_dialog(d).is_some() {
            self.emit(Event::DialogTerminated { dialog: d, reason });
        }
    }

    // ---- TU commands -------------------------------------------------------------------

    /// Sends a response in a server transaction. Adds our To tag (except to `100`), and for
    /// INVITE adds Contact and copies Record-Route when missing. A 2xx to an INVITE creates
    /// the dialog (or refreshes it, for a re-INVITE), whose id is returned, and is re-sent
    /// until its ACK.
    pub fn respond(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        mut resp: Response,
    ) -> Result<Option<DialogId>, Error> {
        let ctx = self
            .servers
            .get(&tx)
            .cloned()
            .ok_or(Error::NoSuchTransaction)?;
        let req = self
            .txl
            .server_request(tx)
            .cloned()
            .ok_or(Error::NoSuchTransaction)?;
        let flow = self.txl.server_flow(tx).ok_or(Error::NoSuchTransaction)?;
        let status = resp.status();
        if status != StatusCode::TRYING {
            let to = resp.headers().to()?;
            if to.tag().is_none() {
                resp.headers_mut()
                    .set(HeaderName::To, to.with_tag(&ctx.to_tag).as_str())?;
            }
        }
        if let Some(ua) = &self.cfg.user_agent
            && !resp.headers().contains(&HeaderName::Server)
        {
            resp.headers_mut().append(HeaderName::Server, ua)?;
        }
        let invite = req.method() == &Method::Invite;
        let dialog_forming = invite
            && status != StatusCode::TRYING
            && (status.is_success() || status.is_provisional());
        if dialog_forming {
            if !resp.headers().contains(&HeaderName::Contact) {
                let c = self.local_contact(flow.transport);
                resp.headers_mut().append(HeaderName::Contact, c.as_str())?;
            }
            if ctx.kind == ServerKind::InitialInvite
                && !resp.headers().contains(&HeaderName::RecordRoute)
            {
                for rr in req.headers().get_all(&HeaderName::RecordRoute) {
                    resp.headers_mut().push(rr.clone());
                }
            }
        }
        let mut new_dialog = None;
        let mut dialog_id = ctx.dialog;
        if invite
            && status.is_success()
            && ctx.kind == ServerKind::InitialInvite
            && ctx.dialog.is_none()
        {
            let id = DialogId(self.next_dialog);
            let contact = resp
                .headers()
                .contact()?
                .unwrap_or_else(|| self.local_contact(flow.transport));
            let seq = self.rng.random_range(1..=0xffffu32);
            new_dialog = Some(Dialog::new_uas(id, &req, &resp, contact, seq, flow)?);
            dialog_id = Some(id);
        }
        let payload = resp.to_bytes();
        self.txl.send_response(now, tx, resp.clone())?;
        if let Some(dialog) = new_dialog {
            self.next_dialog += 1;
            self.dialog_index.insert(dialog.key(), dialog.id);
            self.dialogs.insert(dialog.id, dialog);
            if let Some(c) = self.servers.get_mut(&tx) {
                c.dialog = dialog_id;
            }
        }
        if invite
            && status.is_final()
            && let Some(d) = dialog_id
            && let Some(dialog) = self.dialogs.get_mut(&d)
        {
            if ctx.kind == ServerKind::ReInvite {
                dialog.pending_incoming_invite = None;
                if status.is_success() {
                    dialog.refresh_target(req.headers().contact().ok().flatten());
                }
            }
            if status.is_success() {
                let (rflow, dest) = response_flow(&resp, &flow)?;
                let rflow = if matches!(dest, Destination::Addr(_)) {
                    rflow
                } else {
                    flow
                };
                let t = self.cfg.timers;
                let reliable = flow.transport.is_reliable();
                let seq = req.headers().cseq()?.seq;
                dialog.unacked_2xx = Some(Unacked2xx {
                    cseq: seq,
                    payload,
                    flow: rflow,
                    interval: t.t1,
                    next: (!reliable).then(|| now + t.t1),
                    give_up: now + t.t1 * 64,
                });
                if !reliable {
                    self.arm_dialog_timer(d, DialogTimer::Retransmit2xx, now + t.t1);
                }
                self.arm_dialog_timer(d, DialogTimer::AckTimeout, now + t.t1 * 64);
            }
        }
        self.pump(now);
        Ok(if invite && status.is_success() {
            dialog_id
        } else {
            None
        })
    }

    /// Builds and sends a response: our To tag, the canonical reason, an optional body
    /// (content type, bytes). See [`Endpoint::respond`].
    pub fn reply(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        status: StatusCode,
        body: Option<(&str, Bytes)>,
    ) -> Result<Option<DialogId>, Error> {
        let req = self
            .txl
            .server_request(tx)
            .ok_or(Error::NoSuchTransaction)?;
        let mut resp = response_to(req, status, None);
        if let Some((ct, b)) = body {
            resp.set_body(Some(ct), b)?;
        }
        self.respond(now, tx, resp)
    }

    /// A `503 Service Unavailable` with `Retry-After` (overload), via [`Endpoint::respond`].
    pub fn reply_unavailable(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        retry_after: u32,
    ) -> Result<(), Error> {
        let req = self
            .txl
            .server_request(tx)
            .ok_or(Error::NoSuchTransaction)?;
        let mut resp = response_to(req, StatusCode::SERVICE_UNAVAILABLE, None);
        resp.headers_mut()
            .append(HeaderName::RetryAfter, &retry_after.to_string())?;
        self.respond(now, tx, resp).map(|_| ())
    }

    /// The request of a server transaction (to build a response by hand).
    pub fn server_request(&self, tx: ServerTxId) -> Option<&Request> {
        self.txl.server_request(tx)
    }

    fn prepare_outgoing(&mut self, req: &mut Request, transport: Transport) -> Result<(), Error> {
        let via = self.our_via(transport)?;
        req.headers_mut()
            .push_front_of_name(Header::new(HeaderName::Via, via.as_str())?);
        if !req.headers().contains(&HeaderName::MaxForwards) {
            req.headers_mut().append(HeaderName::MaxForwards, "70")?;
        }
        if let Some(ua) = &self.cfg.user_agent
            && !req.headers().contains(&HeaderName::UserAgent)
        {
            req.headers_mut().append(HeaderName::UserAgent, ua)?;
        }
        Ok(())
    }

    /// Sends an out-of-dialog request to `flow` (our Via with a fresh branch and `rport` is
    /// added on top). An INVITE without To tag creates a dialog per 2xx.
    pub fn send_request(
        &mut self,
        now: Instant,
        mut req: Request,
        flow: Flow,
    ) -> Result<ClientTxId, Error> {
        self.prepare_outgoing(&mut req, flow.transport)?;
        let initial_invite = req.method() == &Method::Invite && req.headers().to()?.tag().is_none();
        let tx = self.txl.send_request(now, req, flow)?;
        self.clients.insert(
            tx,
            ClientCtx {
                initial_invite,
                ..ClientCtx::default()
            },
        );
        self.pump(now);
        Ok(tx)
    }

    /// Sends a request in a dialog (BYE, re-INVITE, INFO, UPDATE, ...), with an optional
    /// body. A re-INVITE while another INVITE of the dialog is pending is refused with
    /// [`Error::RequestPending`]; after BYE the dialog accepts nothing new.
    pub fn send_in_dialog(
        &mut self,
        now: Instant,
        d: DialogId,
        method: Method,
        body: Option<(&str, Bytes)>,
    ) -> Result<ClientTxId, Error> {
        let dialog = self.dialogs.get_mut(&d).ok_or(Error::NoSuchDialog)?;
        if dialog.state == DialogState::Terminating {
            return Err(Error::InvalidState("the dialog is ending"));
        }
        if matches!(method, Method::Ack | Method::Cancel) {
            return Err(Error::InvalidState(
                "ACK and CANCEL are sent by the endpoint itself",
            ));
        }
        if method == Method::Invite && dialog.invite_pending() {
            return Err(Error::RequestPending);
        }
        let mut req = dialog.next_request(method.clone())?;
        if let Some((ct, b)) = body {
            req.set_body(Some(ct), b)?;
        }
        let flow = dialog.flow;
        let bye = method == Method::Bye;
        // Hanging up answers a re-INVITE from the peer that is still waiting for us.
        let pending_in = if bye {
            dialog.pending_incoming_invite.take()
        } else {
            None
        };
        self.prepare_outgoing(&mut req, flow.transport)?;
        if let Some(itx) = pending_in
            && let Some(inv) = self.txl.server_request(itx).cloned()
        {
            self.auto_respond(
                now,
                itx,
                response_to(&inv, StatusCode::REQUEST_TERMINATED, None),
            );
        }
        let tx = self.txl.send_request(now, req, flow)?;
        if let Some(dialog) = self.dialogs.get_mut(&d) {
            if method == Method::Invite {
                dialog.pending_outgoing_invite = Some(tx);
            }
            if bye {
                dialog.state = DialogState::Terminating;
                dialog.unacked_2xx = None;
            }
        }
        self.clients.insert(
            tx,
            ClientCtx {
                dialog: Some(d),
                bye,
                ..ClientCtx::default()
            },
        );
        self.pump(now);
        Ok(tx)
    }

    /// Hangs up: sends BYE in the dialog.
    pub fn bye(&mut self, now: Instant, d: DialogId) -> Result<ClientTxId, Error> {
        self.send_in_dialog(now, d, Method::Bye, None)
    }

    /// Cancels an INVITE we sent (RFC 3261 §9.1). The CANCEL goes out once a provisional
    /// response has arrived (at once if one has). Fails once a final response arrived.
    pub fn cancel(&mut self, now: Instant, invite: ClientTxId) -> Result<(), Error> {
        let state = self
            .txl
            .client_state(invite)
            .ok_or(Error::NoSuchTransaction)?;
        let ctx = self
            .clients
            .get_mut(&invite)
            .ok_or(Error::NoSuchTransaction)?;
        if self.txl.client_request(invite).map(Request::method) != Some(&Method::Invite) {
            return Err(Error::InvalidState("only an INVITE can be cancelled"));
        }
        match state {
            ClientState::Calling => {
                ctx.want_cancel = true;
                Ok(())
            }
            ClientState::Proceeding => {
                ctx.want_cancel = true;
                if ctx.cancel_sent {
                    return Ok(());
                }
                self.send_cancel(now, invite)
            }
            _ => Err(Error::InvalidState(
                "the INVITE already got its final response",
            )),
        }
    }

    fn send_cancel(&mut self, now: Instant, invite_tx: ClientTxId) -> Result<(), Error> {
        let invite = self
            .txl
            .client_request(invite_tx)
            .cloned()
            .ok_or(Error::NoSuchTransaction)?;
        let flow = self
            .txl
            .client_flow(invite_tx)
            .ok_or(Error::NoSuchTransaction)?;
        let mut cancel = Request::new(Method::Cancel, invite.uri().clone());
        let src = invite.headers();
        let h = cancel.headers_mut();
        h.push(Header::new(HeaderName::Via, src.top_via()?.as_str())?);
        for hdr in src.iter() {
            if matches!(
                hdr.name(),
                HeaderName::Route
                    | HeaderName::MaxForwards
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
            ) {
                h.push(hdr.clone());
            }
        }
        h.append(HeaderName::CSeq, &format!("{} CANCEL", src.cseq()?.seq))?;
        cancel.set_body(None, Bytes::new())?;
        if let Some(ctx) = self.clients.get_mut(&invite_tx) {
            ctx.cancel_sent = true;
        }
        let tx = self.txl.send_request(now, cancel, flow)?;
        self.clients.insert(tx, ClientCtx::default());
        self.pump(now);
        Ok(())
    }

    /// How long to wait before retrying a re-INVITE that got `491` (RFC 3261 §14.1): 2.1–4 s
    /// if we own the Call-ID (we sent the dialog's INVITE), else 0–2 s, in 10 ms steps.
    pub fn glare_retry_delay(&mut self, d: DialogId) -> Result<Duration, Error> {
        let dialog = self.dialogs.get(&d).ok_or(Error::NoSuchDialog)?;
        let steps = match dialog.role {
            Role::Uac => self.rng.random_range(210..=400u64),
            Role::Uas => self.rng.random_range(0..=200u64),
        };
        Ok(Duration::from_millis(steps * 10))
    }

    /// Points in-dialog requests of a dialog to another flow (e.g. a new connection).
    pub fn set_dialog_flow(&mut self, d: DialogId, flow: Flow) -> Result<(), Error> {
        self.dialogs.get_mut(&d).ok_or(Error::NoSuchDialog)?.flow = flow;
        Ok(())
    }

    /// A dialog.
    pub fn dialog(&self, d: DialogId) -> Option<&Dialog> {
        self.dialogs.get(&d)
    }

    /// All dialogs, in creation order.
    pub fn dialogs(&self) -> impl Iterator<Item = &Dialog> {
        self.dialogs.values()
    }

    /// The transaction layer (for state inspection).
    pub fn transactions(&self) -> &TransactionLayer {
        &self.txl
    }
}
