//! The transaction layer (RFC 3261 §17, with RFC 6026's Accepted state for INVITE 2xx).
//!
//! Four state machines — client/server × INVITE/non-INVITE — matched by branch (§17.1.3,
//! §17.2.3) and driven by the named [`Timer`] table. Retransmissions run only over unreliable
//! transports. The layer is sans-IO: inputs are parsed messages and `now`; outputs are
//! [`Transmit`]s and [`TxEvent`]s for the transaction user, drained with
//! [`TransactionLayer::poll_output`] after every input; [`TransactionLayer::poll_timeout`]
//! says when to call [`TransactionLayer::handle_timeout`] next.
//!
//! **Architecture Invariant:** nothing here reads a clock, sleeps or touches a socket; the same
//! inputs at the same `now`s always give the same outputs.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::builder::trying;
use crate::error::Error;
use crate::header::{Header, HeaderName};
use crate::message::{Message, Method, Request, Response};
use crate::routing::{Destination, response_flow};
use crate::transport::Flow;
use crate::typed::BRANCH_MAGIC;

/// The base timer values (RFC 3261 §17.1.1.1, Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Longest time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> TimerConfig {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// The transaction timers (RFC 3261 Table 4, RFC 6026 L and M).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE client: retransmit the request (T1, doubling), unreliable only.
    A,
    /// INVITE client: give up waiting for any response (64·T1).
    B,
    /// INVITE client: linger in Completed to re-ACK retransmitted finals (32 s, unreliable).
    D,
    /// Non-INVITE client: retransmit (T1 doubling to T2), unreliable only.
    E,
    /// Non-INVITE client: give up (64·T1).
    F,
    /// INVITE server: retransmit the final non-2xx response (T1 doubling to T2).
    G,
    /// INVITE server: give up waiting for the ACK (64·T1).
    H,
    /// INVITE server: absorb ACK retransmissions in Confirmed (T4, unreliable).
    I,
    /// Non-INVITE server: absorb request retransmissions in Completed (64·T1, unreliable).
    J,
    /// Non-INVITE client: absorb response retransmissions in Completed (T4, unreliable).
    K,
    /// INVITE server: stay in Accepted for 2xx retransmissions and stray ACKs (64·T1).
    L,
    /// INVITE client: stay in Accepted to pass 2xx retransmissions on (64·T1).
    M,
}

impl Timer {
    /// The timer's initial duration.
    pub fn duration(self, c: &TimerConfig) -> Duration {
        match self {
            Timer::A | Timer::E | Timer::G => c.t1,
            Timer::B | Timer::F | Timer::H | Timer::J | Timer::L | Timer::M => c.t1 * 64,
            Timer::D => Duration::from_secs(32).max(c.t1 * 64 / 2),
            Timer::I | Timer::K => c.t4,
        }
    }

    const ALL: usize = 12;

    fn index(self) -> usize {
        self as usize
    }
}

/// A client transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(pub u64);

/// A server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(pub u64);

/// Either kind of transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxId {
    /// A client transaction.
    Client(ClientTxId),
    /// A server transaction.
    Server(ServerTxId),
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxId::Client(c) => write!(f, "client#{}", c.0),
            TxId::Server(s) => write!(f, "server#{}", s.0),
        }
    }
}

/// States of a client transaction. INVITE: Calling → Proceeding → Completed / Accepted.
/// Non-INVITE: Trying → Proceeding → Completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// INVITE sent, waiting for any response.
    Calling,
    /// Non-INVITE sent, waiting for any response.
    Trying,
    /// A provisional response arrived; waiting for a final one.
    Proceeding,
    /// A final (non-2xx for INVITE) response arrived; absorbing retransmissions.
    Completed,
    /// INVITE got a 2xx; passing 2xx retransmissions to the TU (RFC 6026).
    Accepted,
}

/// States of a server transaction. INVITE: Proceeding → Completed → Confirmed, or Accepted.
/// Non-INVITE: Trying → Proceeding → Completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// Non-INVITE received, no response yet.
    Trying,
    /// A provisional response was sent (INVITE starts here).
    Proceeding,
    /// A final response was sent (non-2xx for INVITE); waiting for ACK or absorbing.
    Completed,
    /// INVITE: the ACK for the non-2xx final arrived.
    Confirmed,
    /// INVITE: a 2xx was sent; the TU retransmits it until its ACK (RFC 6026).
    Accepted,
}

/// A message to put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub flow: Flow,
    /// The serialized message.
    pub payload: Bytes,
    /// The transaction it belongs to, so the driver can report send failures with
    /// [`TransactionLayer::transport_error`].
    pub tx: Option<TxId>,
}

/// What the transaction layer tells its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxEvent {
    /// A new request created a server transaction (every method but ACK).
    Request {
        /// The new server transaction.
        tx: ServerTxId,
        /// The request.
        request: Request,
        /// Where it came from.
        flow: Flow,
    },
    /// An ACK that belongs to no transaction (the ACK for a 2xx, RFC 3261 §17.1.1.3).
    Ack {
        /// The ACK.
        request: Request,
        /// Where it came from.
        flow: Flow,
    },
    /// A response for a client transaction: provisional, the first final, and (INVITE)
    /// every 2xx retransmission.
    Response {
        /// The client transaction.
        tx: ClientTxId,
        /// The response.
        response: Response,
    },
    /// A response matching no transaction (e.g. a 2xx retransmitted after the INVITE
    /// transaction ended): the TU re-sends the ACK of the dialog.
    StrayResponse {
        /// The response.
        response: Response,
        /// Where it came from.
        flow: Flow,
    },
    /// Timer B or F (no response), or H (no ACK for our final response).
    Timeout {
        /// The transaction.
        tx: TxId,
    },
    /// The driver reported that a message of this transaction could not be sent.
    TransportError {
        /// The transaction.
        tx: TxId,
    },
    /// The transaction is gone; its id will not be used again.
    Terminated {
        /// The transaction.
        tx: TxId,
    },
}

/// An output of the layer: something to send, or an event for the TU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxOutput {
    /// Send this.
    Transmit(Transmit),
    /// Tell the TU this.
    Event(TxEvent),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ServerKey {
    branch: String,
    sent_by: String,
    method: Method,
    /// For branches without the RFC 3261 magic cookie: Call-ID, CSeq number, From tag.
    legacy: Option<(String, u32, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClientKey {
    branch: String,
    method: Method,
}

fn match_method(m: &Method) -> Method {
    if m == &Method::Ack {
        Method::Invite
    } else {
        m.clone()
    }
}

fn server_key(req: &Request) -> Result<ServerKey, Error> {
    let via = req.headers().top_via()?;
    let branch = via.branch().unwrap_or("").to_string();
    let legacy = if branch.starts_with(BRANCH_MAGIC) {
        None
    } else {
        let h = req.headers();
        Some((
            h.call_id()?.to_string(),
            h.cseq()?.seq,
            h.from()?.tag().unwrap_or("").to_string(),
        ))
    };
    Ok(ServerKey {
        branch,
        sent_by: via.sent_by().to_ascii_lowercase(),
        method: match_method(req.method()),
        legacy,
    })
}

fn client_key_of_response(resp: &Response) -> Result<ClientKey, Error> {
    let via = resp.headers().top_via()?;
    Ok(ClientKey {
        branch: via.branch().unwrap_or("").to_string(),
        method: resp.headers().cseq()?.method,
    })
}

struct TimerSlots {
    at: [Option<Instant>; Timer::ALL],
}

impl TimerSlots {
    fn new() -> TimerSlots {
        TimerSlots {
            at: [None; Timer::ALL],
        }
    }
}

struct ClientTx {
    key: ClientKey,
    invite: bool,
    state: ClientState,
    request: Request,
    payload: Bytes,
    flow: Flow,
    ack: Option<Bytes>,
    interval: Duration,
    timers: TimerSlots,
}

struct ServerTx {
    key: ServerKey,
    invite: bool,
    state: ServerState,
    request: Request,
    flow: Flow,
    last_response: Option<(Flow, Bytes)>,
    interval: Duration,
    timers: TimerSlots,
}

/// The transaction layer.
pub struct TransactionLayer {
    config: TimerConfig,
    auto_trying: bool,
    next_id: u64,
    clients: BTreeMap<ClientTxId, ClientTx>,
    servers: BTreeMap<ServerTxId, ServerTx>,
    client_index: HashMap<ClientKey, ClientTxId>,
    server_index: HashMap<ServerKey, ServerTxId>,
    heap: BinaryHeap<Reverse<(Instant, u64, TxId, Timer)>>,
    seq: u64,
    out: VecDeque<TxOutput>,
}

impl fmt::Debug for TransactionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionLayer")
            .field("clients", &self.clients.len())
            .field("servers", &self.servers.len())
            .finish_non_exhaustive()
    }
}

impl TransactionLayer {
    /// A layer with these timer values (each clamped to 1 ms – 1 h, so that deadlines never
    /// overflow). INVITE server transactions answer `100 Trying` at once (see
    /// [`TransactionLayer::set_auto_trying`]).
    pub fn new(config: TimerConfig) -> TransactionLayer {
        let clamp = |d: Duration| d.clamp(Duration::from_millis(1), Duration::from_secs(3600));
        let config = TimerConfig {
            t1: clamp(config.t1),
            t2: clamp(config.t2),
            t4: clamp(config.t4),
        };
        TransactionLayer {
            config,
            auto_trying: true,
            next_id: 1,
            clients: BTreeMap::new(),
            servers: BTreeMap::new(),
            client_index: HashMap::new(),
            server_index: HashMap::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            out: VecDeque::new(),
        }
    }

    /// Whether INVITE server transactions send `100 Trying` when they start (default true;
    /// RFC 3261 §17.2.1 requires it unless the TU answers within 200 ms).
    pub fn set_auto_trying(&mut self, on: bool) {
        self.auto_trying = on;
    }

    /// The timer values.
    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// Number of live transactions (client, server).
    pub fn len(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }

    /// The next output, if any. Call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<TxOutput> {
        self.out.pop_front()
    }

    /// The earliest deadline at which [`TransactionLayer::handle_timeout`] must run.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, _, tx, timer))) = self.heap.peek().copied() {
            if self.armed(tx, timer) == Some(at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    fn armed(&self, tx: TxId, timer: Timer) -> Option<Instant> {
        match tx {
            TxId::Client(id) => self
                .clients
                .get(&id)
                .and_then(|t| t.timers.at[timer.index()]),
            TxId::Server(id) => self
                .servers
                .get(&id)
                .and_then(|t| t.timers.at[timer.index()]),
        }
    }

    fn arm(&mut self, tx: TxId, timer: Timer, at: Instant) {
        let slots = match tx {
            TxId::Client(id) => self.clients.get_mut(&id).map(|t| &mut t.timers),
            TxId::Server(id) => self.servers.get_mut(&id).map(|t| &mut t.timers),
        };
        if let Some(s) = slots {
            s.at[timer.index()] = Some(at);
            self.seq += 1;
            self.heap.push(Reverse((at, self.seq, tx, timer)));
        }
    }

    fn disarm(&mut self, tx: TxId, timer: Timer) {
        match tx {
            TxId::Client(id) => {
                if let Some(t) = self.clients.get_mut(&id) {
                    t.timers.at[timer.index()] = None;
                }
            }
            TxId::Server(id) => {
                if let Some(t) = self.servers.get_mut(&id) {
                    t.timers.at[timer.index()] = None;
                }
            }
        }
    }

    fn transmit(&mut self, flow: Flow, payload: Bytes, tx: Option<TxId>) {
        self.out
            .push_back(TxOutput::Transmit(Transmit { flow, payload, tx }));
    }

    fn event(&mut self, e: TxEvent) {
        self.out.push_back(TxOutput::Event(e));
    }

    fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends a message outside any transaction (the ACK for a 2xx, a stateless response).
    pub fn send_stateless(&mut self, message: &Message, flow: Flow) {
        self.transmit(flow, message.to_bytes(), None);
    }

    /// Starts a client transaction for `request` (which must carry its top Via with a unique
    /// branch) towards `flow`.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        flow: Flow,
    ) -> Result<ClientTxId, Error> {
        if request.method() == &Method::Ack {
            return Err(Error::InvalidState(
                "ACK is not sent in a transaction; use send_stateless",
            ));
        }
        let via = request.headers().top_via()?;
        let branch = via
            .branch()
            .filter(|b| b.starts_with(BRANCH_MAGIC))
            .ok_or_else(|| Error::InvalidValue {
                what: "Via",
                reason: "a client transaction needs a z9hG4bK branch".into(),
            })?
            .to_string();
        let key = ClientKey {
            branch,
            method: request.method().clone(),
        };
        if self.client_index.contains_key(&key) {
            return Err(Error::InvalidState(
                "a client transaction with this branch exists",
            ));
        }
        let id = ClientTxId(self.new_id());
        let invite = request.method() == &Method::Invite;
        let payload = request.to_bytes();
        self.client_index.insert(key.clone(), id);
        self.clients.insert(
            id,
            ClientTx {
                key,
                invite,
                state: if invite {
                    ClientState::Calling
                } else {
                    ClientState::Trying
                },
                request,
                payload: payload.clone(),
                flow,
                ack: None,
                interval: self.config.t1,
                timers: TimerSlots::new(),
            },
        );
        let tx = TxId::Client(id);
        self.transmit(flow, payload, Some(tx));
        let c = self.config;
        if !flow.transport.is_reliable() {
            self.arm(tx, if invite { Timer::A } else { Timer::E }, now + c.t1);
        }
        let give_up = if invite { Timer::B } else { Timer::F };
        self.arm(tx, give_up, now + give_up.duration(&c));
        Ok(id)
    }

    /// Sends a response in a server transaction.
    pub fn send_response(
        &mut self,
        now: Instant,
        id: ServerTxId,
        response: Response,
    ) -> Result<(), Error> {
        let c = self.config;
        let st = self.servers.get_mut(&id).ok_or(Error::NoSuchTransaction)?;
        let status = response.status();
        let allowed = match (st.invite, st.state) {
            (_, ServerState::Trying | ServerState::Proceeding) => true,
            (true, ServerState::Accepted) => status.is_success(),
            _ => false,
        };
        if !allowed {
            return Err(Error::InvalidState(
                "the transaction already sent its final response",
            ));
        }
        let (flow, dest) = response_flow(&response, &st.flow)?;
        let flow = match dest {
            Destination::Addr(_) => flow,
            // A sent-by name with no `received` means the request came from that address.
            Destination::Resolve { .. } => st.flow,
        };
        let payload = response.to_bytes();
        st.last_response = Some((flow, payload.clone()));
        let reliable = st.flow.transport.is_reliable();
        let tx = TxId::Server(id);
        self.transmit(flow, payload, Some(tx));
        let st = self.servers.get_mut(&id).ok_or(Error::NoSuchTransaction)?;
        if status.is_provisional() {
            st.state = ServerState::Proceeding;
            return Ok(());
        }
        if st.invite {
            if status.is_success() {
                if st.state != ServerState::Accepted {
                    st.state = ServerState::Accepted;
                    self.arm(tx, Timer::L, now + Timer::L.duration(&c));
                }
            } else {
                st.state = ServerState::Completed;
                st.interval = c.t1;
                if !reliable {
                    self.arm(tx, Timer::G, now + c.t1);
                }
                self.arm(tx, Timer::H, now + Timer::H.duration(&c));
            }
        } else {
            st.state = ServerState::Completed;
            if reliable {
                self.terminate(tx);
            } else {
                self.arm(tx, Timer::J, now + Timer::J.duration(&c));
            }
        }
        Ok(())
    }

    /// Feeds a message that arrived on `flow`. Requests should already carry `received` and
    /// `rport` (see [`crate::routing::stamp_received`]).
    pub fn handle_message(&mut self, now: Instant, message: Message, flow: Flow) {
        match message {
            Message::Request(r) => self.handle_request(now, r, flow),
            Message::Response(r) => self.handle_response(now, r, flow),
        }
    }

    fn handle_request(&mut self, now: Instant, request: Request, flow: Flow) {
        let Ok(key) = server_key(&request) else {
            return;
        };
        if let Some(&id) = self.server_index.get(&key) {
            self.server_retransmission(now, id, request, flow);
            return;
        }
        if request.method() == &Method::Ack {
            self.event(TxEvent::Ack { request, flow });
            return;
        }
        let id = ServerTxId(self.new_id());
        let invite = request.method() == &Method::Invite;
        self.server_index.insert(key.clone(), id);
        self.servers.insert(
            id,
            ServerTx {
                key,
                invite,
                state: if invite {
                    ServerState::Proceeding
                } else {
                    ServerState::Trying
                },
                request: request.clone(),
                flow,
                last_response: None,
                interval: self.config.t1,
                timers: TimerSlots::new(),
            },
        );
        if invite && self.auto_trying {
            // Invariant: the transaction was just inserted in Proceeding, where 1xx is allowed.
            let _ = self.send_response(now, id, trying(&request));
        }
        self.event(TxEvent::Request {
            tx: id,
            request,
            flow,
        });
    }

    fn server_retransmission(
        &mut self,
        now: Instant,
        id: ServerTxId,
        request: Request,
        flow: Flow,
    ) {
        let c = self.config;
        let Some(st) = self.servers.get_mut(&id) else {
            return;
        };
        let tx = TxId::Server(id);
        if request.method() == &Method::Ack {
            match st.state {
                ServerState::Completed => {
                    st.state = ServerState::Confirmed;
                    let reliable = st.flow.transport.is_reliable();
                    self.disarm(tx, Timer::G);
                    self.disarm(tx, Timer::H);
                    if reliable {
                        self.terminate(tx);
                    } else {
                        self.arm(tx, Timer::I, now + Timer::I.duration(&c));
                    }
                }
                // An ACK with the INVITE's branch for our 2xx (RFC 2543-style client).
                ServerState::Accepted => self.event(TxEvent::Ack { request, flow }),
                _ => {}
            }
            return;
        }
        // A retransmitted request: re-send the last response, if any (absorb in Accepted,
        // where the TU retransmits the 2xx itself).
        if st.state == ServerState::Accepted {
            return;
        }
        if let Some((f, p)) = st.last_response.clone() {
            self.transmit(f, p, Some(tx));
        }
    }

    fn handle_response(&mut self, now: Instant, response: Response, flow: Flow) {
        let Ok(key) = client_key_of_response(&response) else {
            return;
        };
        let Some(&id) = self.client_index.get(&key) else {
            self.event(TxEvent::StrayResponse { response, flow });
            return;
        };
        let c = self.config;
        let tx = TxId::Client(id);
        let Some(ct) = self.clients.get_mut(&id) else {
            return;
        };
        let status = response.status();
        let reliable = ct.flow.transport.is_reliable();
        if ct.invite {
            match (ct.state, status.is_provisional(), status.is_success()) {
                (ClientState::Calling | ClientState::Proceeding, true, _) => {
                    ct.state = ClientState::Proceeding;
                    self.disarm(tx, Timer::A);
                    self.disarm(tx, Timer::B);
                    self.event(TxEvent::Response { tx: id, response });
                }
                (ClientState::Calling | ClientState::Proceeding, false, true) => {
                    ct.state = ClientState::Accepted;
                    self.disarm(tx, Timer::A);
                    self.disarm(tx, Timer::B);
                    self.arm(tx, Timer::M, now + Timer::M.duration(&c));
                    self.event(TxEvent::Response { tx: id, response });
                }
                (ClientState::Calling | ClientState::Proceeding, false, false) => {
                    let ack = non_2xx_ack(&ct.request, &response).to_bytes();
                    ct.ack = Some(ack.clone());
                    ct.state = ClientState::Completed;
                    let f = ct.flow;
                    self.disarm(tx, Timer::A);
                    self.disarm(tx, Timer::B);
                    self.transmit(f, ack, Some(tx));
                    self.event(TxEvent::Response { tx: id, response });
                    if reliable {
                        self.terminate(tx);
                    } else {
                        self.arm(tx, Timer::D, now + Timer::D.duration(&c));
                    }
                }
                (ClientState::Completed, false, false) => {
                    if let Some(ack) = ct.ack.clone() {
                        let f = ct.flow;
                        self.transmit(f, ack, Some(tx));
                    }
                }
                (ClientState::Accepted, false, true) => {
                    self.event(TxEvent::Response { tx: id, response });
                }
                _ => {}
            }
        } else {
            match (ct.state, status.is_provisional()) {
                (ClientState::Trying | ClientState::Proceeding, true) => {
                    ct.state = ClientState::Proceeding;
                    self.event(TxEvent::Response { tx: id, response });
                }
                (ClientState::Trying | ClientState::Proceeding, false) => {
                    ct.state = ClientState::Completed;
                    self.disarm(tx, Timer::E);
                    self.disarm(tx, Timer::F);
                    self.event(TxEvent::Response { tx: id, response });
                    if reliable {
                        self.terminate(tx);
                    } else {
                        self.arm(tx, Timer::K, now + Timer::K.duration(&c));
                    }
                }
                _ => {}
            }
        }
    }

    /// Fires every timer due at `now`. Calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _, tx, timer))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if self.armed(tx, timer) != Some(at) {
                continue;
            }
            self.disarm(tx, timer);
            self.fire(now, tx, timer);
        }
    }

    fn fire(&mut self, now: Instant, tx: TxId, timer: Timer) {
        let c = self.config;
        match (tx, timer) {
            (TxId::Client(id), Timer::A | Timer::E) => {
                let Some(ct) = self.clients.get_mut(&id) else {
                    return;
                };
                let (flow, payload) = (ct.flow, ct.payload.clone());
                ct.interval = if timer == Timer::A {
                    ct.interval * 2
                } else if ct.state == ClientState::Proceeding {
                    c.t2
                } else {
                    (ct.interval * 2).min(c.t2)
                };
                let next = ct.interval;
                self.transmit(flow, payload, Some(tx));
                self.arm(tx, timer, now + next);
            }
            (TxId::Client(_), Timer::B | Timer::F) | (TxId::Server(_), Timer::H) => {
                self.event(TxEvent::Timeout { tx });
                self.terminate(tx);
            }
            (TxId::Server(id), Timer::G) => {
                let Some(st) = self.servers.get_mut(&id) else {
                    return;
                };
                st.interval = (st.interval * 2).min(c.t2);
                let next = st.interval;
                if let Some((f, p)) = st.last_response.clone() {
                    self.transmit(f, p, Some(tx));
                }
                self.arm(tx, Timer::G, now + next);
            }
            _ => self.terminate(tx),
        }
    }

    /// The driver could not send a message of transaction `tx`: the transaction ends and the
    /// TU is told (RFC 3261 §17.1.4, §17.2.4).
    pub fn transport_error(&mut self, _now: Instant, tx: TxId) {
        let exists = match tx {
            TxId::Client(id) => self.clients.contains_key(&id),
            TxId::Server(id) => self.servers.contains_key(&id),
        };
        if exists {
            self.event(TxEvent::TransportError { tx });
            self.terminate(tx);
        }
    }

    fn terminate(&mut self, tx: TxId) {
        let removed = match tx {
            TxId::Client(id) => self.clients.remove(&id).map(|t| {
                self.client_index.remove(&t.key);
            }),
            TxId::Server(id) => self.servers.remove(&id).map(|t| {
                self.server_index.remove(&t.key);
            }),
        };
        if removed.is_some() {
            self.event(TxEvent::Terminated { tx });
        }
    }

    /// The INVITE server transaction a CANCEL refers to (RFC 3261 §9.2: same branch and
    /// sent-by, method INVITE).
    pub fn find_invite_for_cancel(&self, cancel: &Request) -> Option<ServerTxId> {
        let mut key = server_key(cancel).ok()?;
        key.method = Method::Invite;
        self.server_index.get(&key).copied()
    }

    /// The request that started a server transaction.
    pub fn server_request(&self, id: ServerTxId) -> Option<&Request> {
        self.servers.get(&id).map(|t| &t.request)
    }

    /// The flow a server transaction's request came on.
    pub fn server_flow(&self, id: ServerTxId) -> Option<Flow> {
        self.servers.get(&id).map(|t| t.flow)
    }

    /// The state of a server transaction, `None` once terminated.
    pub fn server_state(&self, id: ServerTxId) -> Option<ServerState> {
        self.servers.get(&id).map(|t| t.state)
    }

    /// The request of a client transaction.
    pub fn client_request(&self, id: ClientTxId) -> Option<&Request> {
        self.clients.get(&id).map(|t| &t.request)
    }

    /// The flow a client transaction sends to.
    pub fn client_flow(&self, id: ClientTxId) -> Option<Flow> {
        self.clients.get(&id).map(|t| t.flow)
    }

    /// The state of a client transaction, `None` once terminated.
    pub fn client_state(&self, id: ClientTxId) -> Option<ClientState> {
        self.clients.get(&id).map(|t| t.state)
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): Request-URI, Call-ID, From,
/// CSeq number and the single top Via of the original request, To from the response, and the
/// original Route headers.
pub fn non_2xx_ack(invite: &Request, response: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri().clone());
    let src = invite.headers();
    let h = ack.headers_mut();
    if let Ok(via) = src.top_via()
        && let Ok(hdr) = Header::new(HeaderName::Via, via.as_str())
    {
        h.push(hdr);
    }
    for hdr in src.iter() {
        match hdr.name() {
            HeaderName::From | HeaderName::CallId | HeaderName::Route | HeaderName::MaxForwards => {
                h.push(hdr.clone());
            }
            _ => {}
        }
    }
    if let Some(to) = response.headers().get(&HeaderName::To) {
        h.push(to.clone());
    }
    if let Ok(cseq) = src.cseq() {
        // Invariant: "<number> ACK" is a valid header value.
        let _ = h.append(HeaderName::CSeq, &format!("{} ACK", cseq.seq));
    }
    let _ = ack.set_body(None, Bytes::new());
    ack
}
