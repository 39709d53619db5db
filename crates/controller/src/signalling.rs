//! The signalling task: the one owner of the SIP [`Endpoint`] (transactions
//! and dialogs) and the [`Registrar`], driving them from the transports, the
//! contacts' commands and one timer.
//!
//! # The driver contract: mutate, then drain
//!
//! The task waits for the first of: an [`Inbound`] message from a transport,
//! a [`SigCommand`] from a contact task, or the deadline
//! `min(endpoint.poll_timeout(), registrar.poll_timeout())`. It hands that one
//! input to the core (`handle_input`, a TU command, `handle_timeout`), then
//! drains **every** output before it waits again: transmits go to
//! [`Transports::send`] (a failed send with a transaction is reported back
//! with `transport_error`, which is an input too, so the drain continues), and
//! TU events are either answered inline or forwarded to the contact task they
//! belong to. Only then is the timer re-armed at the new deadline.
//!
//! # What is decided here, and what is forwarded
//!
//! Inline (cheap, and nothing else needs them): `REGISTER` (the registrar, with
//! digest credentials from the configured agents), `OPTIONS` (`200`), other
//! out-of-dialog methods (`405`), in-dialog `INFO`/`OPTIONS`/`NOTIFY` (`200`)
//! and the rest (`501`), and admission of a new INVITE: while shutting down,
//! with `sip.max_calls` contacts already running, with `sip.max_setups` calls
//! still being set up (the media handlers or the store fall behind), or with
//! `sip.max_record_backlog` call-record writes waiting, it is refused with
//! `503` and `Retry-After` before any work is done for it.
//!
//! Forwarded: everything about an admitted call goes to its contact task over
//! that call's channel ([`SipEvent`]), found through three maps kept here:
//! server transaction → call (the INVITE, until it is answered), dialog →
//! call, client transaction → call (requests the call sent, e.g. a transfer's
//! INVITE). The contact task answers with [`SigCommand`]s; when it ends it
//! sends [`SigCommand::Ended`] and its entries are dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::builder::{response_to, response_with_reason};
use sip::dialog::DialogId;
use sip::endpoint::{Endpoint, EndpointConfig, Event, Output, TerminationReason};
use sip::registrar::{Binding, Registrar, RegistrarConfig, RegistrarEvent};
use sip::transaction::{ClientTxId, ServerTxId, TxId};
use sip::{Flow, HeaderName, Host, Method, NameAddr, Request, Response, StatusCode, Uri};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::metrics;
use crate::transport::{Inbound, Transports};

/// The methods we accept, for `Allow`.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO";

/// A call's number in the signalling task (not shown to anyone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

/// An admitted INVITE, handed to [`CallHandler::incoming`].
#[derive(Debug)]
pub struct NewCall {
    /// The call's key (echo it in every command).
    pub key: CallKey,
    /// The INVITE's server transaction (`100 Trying` was sent).
    pub tx: ServerTxId,
    /// The INVITE, with `received`/`rport` stamped.
    pub request: Request,
    /// Where it came from.
    pub flow: Flow,
}

/// What refusing a new call looks like on the wire.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The status.
    pub status: StatusCode,
    /// A specific reason phrase, if any.
    pub reason: Option<String>,
}

/// Starts contacts for admitted INVITEs (implemented by [`crate::call`]).
pub trait CallHandler: Send + Sync + 'static {
    /// Starts the call's contact task and returns the channel for its SIP
    /// events, or the final response to refuse it with (e.g. `404` for an
    /// unknown number). Must not block.
    fn incoming(&self, call: NewCall) -> Result<mpsc::UnboundedSender<SipEvent>, Refusal>;
}

/// What a contact task hears from the signalling task.
#[derive(Debug)]
pub enum SipEvent {
    /// The caller cancelled the INVITE (`487` was sent).
    Cancelled,
    /// The ACK for our 2xx arrived.
    Ack {
        /// The dialog.
        dialog: DialogId,
        /// The ACK (its body may be an SDP answer).
        request: Request,
    },
    /// The peer hung up the dialog (`200` was sent).
    Bye {
        /// The dialog.
        dialog: DialogId,
    },
    /// A re-INVITE: answer it with [`SigCommand::Respond`].
    ReInvite {
        /// The dialog.
        dialog: DialogId,
        /// Its server transaction.
        tx: ServerTxId,
        /// The request.
        request: Request,
    },
    /// Our 2xx was never acknowledged: hang up.
    AckTimeout {
        /// The dialog.
        dialog: DialogId,
    },
    /// A dialog ended (after our BYE, or the peer is gone).
    DialogTerminated {
        /// The dialog.
        dialog: DialogId,
        /// Why.
        reason: TerminationReason,
    },
    /// A response to a request this call sent.
    Response {
        /// The client transaction.
        tx: ClientTxId,
        /// The dialog (created by a 2xx to an INVITE).
        dialog: Option<DialogId>,
        /// The response.
        response: Response,
    },
    /// A request this call sent timed out or could not be sent.
    RequestFailed {
        /// The client transaction.
        tx: ClientTxId,
    },
    /// The controller is shutting down: hang up.
    Shutdown,
}

/// A response a contact asks for.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// A reason phrase instead of the canonical one.
    pub reason: Option<String>,
    /// Extra headers.
    pub headers: Vec<(HeaderName, String)>,
    /// An SDP body.
    pub sdp: Option<Bytes>,
}

impl Reply {
    /// A plain response with the canonical reason.
    pub fn status(status: StatusCode) -> Reply {
        Reply {
            status,
            reason: None,
            headers: Vec::new(),
            sdp: None,
        }
    }

    /// A response with an SDP body.
    pub fn with_sdp(status: StatusCode, sdp: Bytes) -> Reply {
        Reply {
            sdp: Some(sdp),
            ..Reply::status(status)
        }
    }
}

/// An out-of-dialog INVITE a contact sends (a transfer target, an agent).
#[derive(Debug, Clone)]
pub struct Dial {
    /// The Request-URI.
    pub uri: Uri,
    /// From (without tag; the endpoint adds one).
    pub from: NameAddr,
    /// To.
    pub to: NameAddr,
    /// Where to send it.
    pub flow: Flow,
    /// The SDP offer.
    pub sdp: Bytes,
}

/// What contact tasks (and the API) ask the signalling task to do.
#[derive(Debug)]
pub enum SigCommand {
    /// Respond in a server transaction of this call; for a 2xx to the
    /// INVITE, `done` gets the dialog.
    Respond {
        /// The call.
        call: CallKey,
        /// The transaction.
        tx: ServerTxId,
        /// The response.
        reply: Reply,
        /// The dialog a 2xx created, or the error.
        done: Option<oneshot::Sender<Result<Option<DialogId>, sip::Error>>>,
    },
    /// Send BYE in a dialog.
    Bye {
        /// The dialog.
        dialog: DialogId,
    },
    /// Send an INVITE for this call; its responses come back as
    /// [`SipEvent::Response`].
    Invite {
        /// The call.
        call: CallKey,
        /// What to send.
        dial: Box<Dial>,
        /// The client transaction, or the error.
        done: oneshot::Sender<Result<ClientTxId, sip::Error>>,
    },
    /// Cancel an INVITE this call sent.
    Cancel {
        /// Its client transaction.
        tx: ClientTxId,
    },
    /// The registered contacts of an address-of-record (agent presence).
    Lookup {
        /// The AOR (SIP user).
        aor: String,
        /// The live bindings, best first.
        done: oneshot::Sender<Vec<Binding>>,
    },
    /// The call's contact task ended.
    Ended {
        /// The call.
        call: CallKey,
    },
    /// Stop admitting calls and tell every call to hang up.
    Shutdown,
}

/// The registrar's credentials: SIP user → digest password, read at every REGISTER (so
/// agents added or changed through the admin API register at once).
pub type PasswordFn = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Settings of the signalling task.
#[derive(Clone)]
pub struct SignallingConfig {
    /// Host and port for Via and Contact.
    pub host: Host,
    /// Port for Via and Contact.
    pub port: Option<u16>,
    /// The digest realm (`sip.domain`).
    pub realm: String,
    /// Digest algorithms offered, in order (`sip.digest_algorithms`).
    pub digest_algorithms: Vec<sip::digest::Algorithm>,
    /// Concurrent calls before `503`.
    pub max_calls: usize,
    /// `Retry-After` of the overload `503`.
    pub retry_after: u32,
    /// Calls in setup (no final response to their INVITE yet) before `503`.
    pub max_setups: usize,
    /// The store's backlog, and how much of it is too much (then `503`).
    pub record_backlog: (crate::records::Backlog, usize),
    /// Seed of the endpoint's RNG (tags, branches, Call-IDs).
    pub seed: u64,
    /// The digest nonce key (from the OS RNG).
    pub secret: [u8; 32],
    /// SIP user → password, from the configured agents.
    pub passwords: PasswordFn,
    /// `Server` / `User-Agent`.
    pub user_agent: String,
}

/// A handle to the signalling task; cheap to clone.
#[derive(Clone)]
pub struct Signalling {
    commands: mpsc::UnboundedSender<SigCommand>,
    registrations: broadcast::Sender<RegistrarEvent>,
    active: watch::Receiver<usize>,
}

/// The signalling task's inputs before it is started (see [`Signalling::channel`]).
pub struct SigInbox {
    commands: mpsc::UnboundedReceiver<SigCommand>,
    registrations: broadcast::Sender<RegistrarEvent>,
    active: watch::Sender<usize>,
}

impl Signalling {
    /// A handle and the inbox of a signalling task not yet started: the
    /// handle can be given to the [`CallHandler`] before the task starts.
    pub fn channel() -> (Signalling, SigInbox) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (registrations, _) = broadcast::channel(1024);
        let (active_tx, active) = watch::channel(0);
        (
            Signalling {
                commands,
                registrations: registrations.clone(),
                active,
            },
            SigInbox {
                commands: command_rx,
                registrations,
                active: active_tx,
            },
        )
    }

    /// Sends a command; `false` when the task has stopped.
    pub fn send(&self, command: SigCommand) -> bool {
        self.commands.send(command).is_ok()
    }

    /// Registrations and their removal, as they happen (agent presence).
    pub fn registrations(&self) -> broadcast::Receiver<RegistrarEvent> {
        self.registrations.subscribe()
    }

    /// The live bindings of a SIP user (empty when the task has stopped).
    pub async fn lookup(&self, aor: &str) -> Vec<Binding> {
        let (done, rx) = oneshot::channel();
        if !self.send(SigCommand::Lookup {
            aor: aor.to_string(),
            done,
        }) {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Running calls.
    pub fn active_calls(&self) -> usize {
        *self.active.borrow()
    }

    /// Waits until no call is running, or `timeout` passes; `true` if none is.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let mut active = self.active.clone();
        tokio::time::timeout(timeout, active.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl SigInbox {
    /// Starts the task. `inbound` is the receiving end of the channel given
    /// to [`Transports::bind`].
    pub fn spawn(
        self,
        config: SignallingConfig,
        transports: Transports,
        inbound: mpsc::Receiver<Inbound>,
        calls: Arc<dyn CallHandler>,
    ) -> Result<tokio::task::JoinHandle<()>, sip::Error> {
        let mut ep_cfg = EndpointConfig::new(config.host.clone(), config.port, config.seed);
        ep_cfg.user_agent = Some(config.user_agent.clone());
        let endpoint = Endpoint::new(ep_cfg)?;
        let start = Instant::now();
        let digest = sip::digest::DigestServer::new(&config.realm, config.secret, start)
            .with_algorithms(&config.digest_algorithms);
        let registrar = Registrar::new(RegistrarConfig::default(), digest);
        let task = Task {
            endpoint,
            registrar,
            transports,
            calls,
            config,
            entries: HashMap::new(),
            setups: std::collections::HashSet::new(),
            by_server_tx: HashMap::new(),
            by_dialog: HashMap::new(),
            by_client_tx: HashMap::new(),
            next_key: 1,
            shutting_down: false,
            registrations: self.registrations,
            active: self.active,
            bindings: 0,
        };
        Ok(tokio::spawn(task.run(inbound, self.commands)))
    }
}

struct Entry {
    events: mpsc::UnboundedSender<SipEvent>,
    server_txs: Vec<ServerTxId>,
    dialogs: Vec<DialogId>,
    client_txs: Vec<ClientTxId>,
}

struct Task {
    endpoint: Endpoint,
    registrar: Registrar,
    transports: Transports,
    calls: Arc<dyn CallHandler>,
    config: SignallingConfig,
    entries: HashMap<CallKey, Entry>,
    /// Calls whose INVITE has no final response yet.
    setups: std::collections::HashSet<CallKey>,
    by_server_tx: HashMap<ServerTxId, CallKey>,
    by_dialog: HashMap<DialogId, CallKey>,
    by_client_tx: HashMap<ClientTxId, CallKey>,
    next_key: u64,
    shutting_down: bool,
    registrations: broadcast::Sender<RegistrarEvent>,
    active: watch::Sender<usize>,
    bindings: i64,
}

impl Task {
    async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut commands: mpsc::UnboundedReceiver<SigCommand>,
    ) {
        loop {
            let deadline = match (self.endpoint.poll_timeout(), self.registrar.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                msg = inbound.recv() => match msg {
                    Some(m) => self.on_inbound(m),
                    None => break,
                },
                () = sleep => {
                    let now = Instant::now();
                    self.endpoint.handle_timeout(now);
                    self.registrar.handle_timeout(now);
                }
            }
            self.drain();
        }
        self.transports.shutdown();
    }

    fn on_inbound(&mut self, m: Inbound) {
        match m {
            Inbound::Message { flow, bytes } => {
                metrics::sip_message_in();
                self.endpoint.handle_input(Instant::now(), flow, &bytes);
            }
            Inbound::Opened {
                connection,
                remote,
                writer,
            } => self.transports.opened(connection, remote, writer),
            Inbound::Closed { connection } => self.transports.closed(connection),
        }
    }

    /// Takes every output of the endpoint and the registrar (mutate, then drain).
    fn drain(&mut self) {
        while let Some(out) = self.endpoint.poll_output() {
            match out {
                Output::Transmit(t) => {
                    metrics::sip_message_out();
                    if let Err(e) = self.transports.send(&t.flow, t.payload) {
                        tracing::debug!(remote = %t.flow.remote, error = %e, "cannot send");
                        if let Some(tx) = t.tx {
                            self.endpoint.transport_error(Instant::now(), tx);
                        }
                    }
                }
                Output::Event(e) => self.on_event(e),
            }
        }
        while let Some(e) = self.registrar.poll_event() {
            match &e {
                RegistrarEvent::Registered { aor, .. } => {
                    self.bindings += 1;
                    tracing::info!(%aor, "registered");
                }
                RegistrarEvent::Removed { aor, reason, .. } => {
                    self.bindings -= 1;
                    tracing::info!(%aor, ?reason, "registration removed");
                }
            }
            metrics::registrations(self.bindings.max(0) as f64);
            let _ = self.registrations.send(e);
        }
    }

    fn forward(&mut self, key: CallKey, event: SipEvent) {
        if let Some(entry) = self.entries.get(&key) {
            // A closed channel means the contact is ending; it will send `Ended`.
            let _ = entry.events.send(event);
        }
    }

    fn reply_inline(&mut self, tx: ServerTxId, status: StatusCode, extra: &[(HeaderName, &str)]) {
        let Some(req) = self.endpoint.server_request(tx) else {
            return;
        };
        let mut resp = response_to(req, status, None);
        for (name, value) in extra {
            // Invariant: the values are fixed tokens and numbers.
            let _ = resp.headers_mut().append(name.clone(), value);
        }
        let _ = self.endpoint.respond(Instant::now(), tx, resp);
    }

    fn on_event(&mut self, e: Event) {
        let now = Instant::now();
        match e {
            Event::IncomingInvite { tx, request, flow } => self.on_invite(tx, request, flow),
            Event::IncomingRequest { tx, request, flow } => match request.method() {
                Method::Register => {
                    let passwords = self.config.passwords.clone();
                    let lookup = |user: &str| passwords(user);
                    let resp = self
                        .registrar
                        .handle_register(now, &request, Some(flow), &lookup);
                    metrics::register_request(resp.status().code());
                    let _ = self.endpoint.respond(now, tx, resp);
                }
                Method::Options => self.reply_inline(
                    tx,
                    StatusCode::OK,
                    &[
                        (HeaderName::Allow, ALLOW),
                        (HeaderName::Accept, "application/sdp"),
                    ],
                ),
                _ => self.reply_inline(
                    tx,
                    StatusCode::METHOD_NOT_ALLOWED,
                    &[(HeaderName::Allow, ALLOW)],
                ),
            },
            Event::Cancelled { tx } => {
                if let Some(key) = self.by_server_tx.get(&tx).copied() {
                    self.setups.remove(&key);
                    self.forward(key, SipEvent::Cancelled);
                }
            }
            Event::ReInvite {
                dialog,
                tx,
                request,
            } => match self.by_dialog.get(&dialog).copied() {
                Some(key) => {
                    if let Some(entry) = self.entries.get_mut(&key) {
                        entry.server_txs.push(tx);
                    }
                    self.by_server_tx.insert(tx, key);
                    self.forward(
                        key,
                        SipEvent::ReInvite {
                            dialog,
                            tx,
                            request,
                        },
                    );
                }
                None => self.reply_inline(tx, StatusCode::CALL_DOES_NOT_EXIST, &[]),
            },
            Event::DialogRequest { tx, request, .. } => {
                let status = match request.method() {
                    Method::Options | Method::Info | Method::Notify => StatusCode::OK,
                    _ => StatusCode::NOT_IMPLEMENTED,
                };
                self.reply_inline(tx, status, &[(HeaderName::Allow, ALLOW)]);
            }
            Event::Ack { dialog, request } => {
                if let Some(key) = self.by_dialog.get(&dialog).copied() {
                    self.forward(key, SipEvent::Ack { dialog, request });
                }
            }
            Event::Bye { dialog, .. } => {
                if let Some(key) = self.by_dialog.get(&dialog).copied() {
                    self.forward(key, SipEvent::Bye { dialog });
                }
            }
            Event::Response {
                tx,
                dialog,
                response,
            } => {
                if let Some(key) = self.by_client_tx.get(&tx).copied() {
                    if let Some(d) = dialog
                        && response.status().is_success()
                        && !self.by_dialog.contains_key(&d)
                    {
                        self.by_dialog.insert(d, key);
                        if let Some(entry) = self.entries.get_mut(&key) {
                            entry.dialogs.push(d);
                        }
                    }
                    self.forward(
                        key,
                        SipEvent::Response {
                            tx,
                            dialog,
                            response,
                        },
                    );
                } else if let Some(d) = dialog
                    && response.status().is_success()
                {
                    // A 2xx for a call that has ended (e.g. answered just after
                    // our CANCEL): the endpoint sent the ACK; hang it up.
                    let _ = self.endpoint.bye(now, d);
                }
            }
            Event::AckTimeout { dialog } => {
                if let Some(key) = self.by_dialog.get(&dialog).copied() {
                    self.forward(key, SipEvent::AckTimeout { dialog });
                }
            }
            Event::DialogTerminated { dialog, reason } => {
                if let Some(key) = self.by_dialog.get(&dialog).copied() {
                    self.forward(key, SipEvent::DialogTerminated { dialog, reason });
                }
            }
            Event::Timeout {
                tx: TxId::Client(tx),
            }
            | Event::TransportError {
                tx: TxId::Client(tx),
            } => {
                if let Some(key) = self.by_client_tx.get(&tx).copied() {
                    self.forward(key, SipEvent::RequestFailed { tx });
                }
            }
            Event::Timeout { .. } | Event::TransportError { .. } => {}
            Event::Malformed { flow, error } => {
                metrics::sip_malformed();
                tracing::debug!(remote = %flow.remote, %error, "malformed SIP message");
            }
        }
    }

    fn on_invite(&mut self, tx: ServerTxId, request: Request, flow: Flow) {
        let now = Instant::now();
        let (backlog, max_backlog) = &self.config.record_backlog;
        let overload = if self.shutting_down {
            Some("shutting_down")
        } else if self.entries.len() >= self.config.max_calls {
            Some("overload")
        } else if self.setups.len() >= self.config.max_setups {
            Some("setup_backlog")
        } else if backlog.get() >= *max_backlog {
            Some("record_backlog")
        } else {
            None
        };
        if let Some(reason) = overload {
            metrics::call_refused(reason);
            let _ = self
                .endpoint
                .reply_unavailable(now, tx, self.config.retry_after);
            return;
        }
        let key = CallKey(self.next_key);
        self.next_key += 1;
        let call = NewCall {
            key,
            tx,
            request,
            flow,
        };
        match self.calls.incoming(call) {
            Ok(events) => {
                self.entries.insert(
                    key,
                    Entry {
                        events,
                        server_txs: vec![tx],
                        dialogs: Vec::new(),
                        client_txs: Vec::new(),
                    },
                );
                self.by_server_tx.insert(tx, key);
                self.setups.insert(key);
                self.active.send_replace(self.entries.len());
                metrics::calls_active(self.entries.len() as f64);
            }
            Err(refusal) => {
                metrics::call_refused(refusal_label(refusal.status));
                let Some(req) = self.endpoint.server_request(tx) else {
                    return;
                };
                let resp = match &refusal.reason {
                    Some(r) => response_with_reason(req, refusal.status, r, None),
                    None => response_to(req, refusal.status, None),
                };
                let _ = self.endpoint.respond(now, tx, resp);
            }
        }
    }

    fn on_command(&mut self, c: SigCommand) {
        let now = Instant::now();
        match c {
            SigCommand::Respond {
                call,
                tx,
                reply,
                done,
            } => {
                let setup_over = reply.status.is_final()
                    && self
                        .entries
                        .get(&call)
                        .is_some_and(|e| e.server_txs.first() == Some(&tx));
                if setup_over {
                    self.setups.remove(&call);
                }
                let result = self.respond(now, tx, reply);
                if let Ok(Some(d)) = &result {
                    self.by_dialog.insert(*d, call);
                    if let Some(entry) = self.entries.get_mut(&call) {
                        entry.dialogs.push(*d);
                    }
                }
                if let Some(done) = done {
                    let _ = done.send(result);
                }
            }
            SigCommand::Bye { dialog } => {
                if let Err(e) = self.endpoint.bye(now, dialog) {
                    tracing::debug!(%dialog, error = %e, "BYE not sent");
                }
            }
            SigCommand::Invite { call, dial, done } => {
                let result = self.invite(now, &dial);
                if let Ok(tx) = &result {
                    self.by_client_tx.insert(*tx, call);
                    if let Some(entry) = self.entries.get_mut(&call) {
                        entry.client_txs.push(*tx);
                    }
                }
                let _ = done.send(result);
            }
            SigCommand::Cancel { tx } => {
                if let Err(e) = self.endpoint.cancel(now, tx) {
                    tracing::debug!(error = %e, "CANCEL not sent");
                }
            }
            SigCommand::Lookup { aor, done } => {
                let bindings = self
                    .registrar
                    .lookup(now, &aor)
                    .into_iter()
                    .cloned()
                    .collect();
                let _ = done.send(bindings);
            }
            SigCommand::Ended { call } => {
                self.setups.remove(&call);
                if let Some(entry) = self.entries.remove(&call) {
                    for tx in entry.server_txs {
                        self.by_server_tx.remove(&tx);
                    }
                    for d in entry.dialogs {
                        self.by_dialog.remove(&d);
                    }
                    for tx in entry.client_txs {
                        self.by_client_tx.remove(&tx);
                    }
                }
                self.active.send_replace(self.entries.len());
                metrics::calls_active(self.entries.len() as f64);
            }
            SigCommand::Shutdown => {
                self.shutting_down = true;
                let keys: Vec<CallKey> = self.entries.keys().copied().collect();
                for key in keys {
                    self.forward(key, SipEvent::Shutdown);
                }
            }
        }
    }

    fn respond(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        reply: Reply,
    ) -> Result<Option<DialogId>, sip::Error> {
        let req = self
            .endpoint
            .server_request(tx)
            .ok_or(sip::Error::NoSuchTransaction)?;
        let mut resp = match &reply.reason {
            Some(r) => response_with_reason(req, reply.status, r, None),
            None => response_to(req, reply.status, None),
        };
        for (name, value) in &reply.headers {
            resp.headers_mut().append(name.clone(), value)?;
        }
        if let Some(sdp) = reply.sdp {
            resp.set_body(Some("application/sdp"), sdp)?;
        }
        self.endpoint.respond(now, tx, resp)
    }

    fn invite(&mut self, now: Instant, dial: &Dial) -> Result<ClientTxId, sip::Error> {
        let mut req = self.endpoint.new_request(
            Method::Invite,
            dial.uri.clone(),
            &dial.from,
            &dial.to,
            dial.flow.transport,
        )?;
        req.headers_mut().append(HeaderName::Allow, ALLOW)?;
        req.set_body(Some("application/sdp"), dial.sdp.clone())?;
        self.endpoint.send_request(now, req, dial.flow)
    }
}

fn refusal_label(status: StatusCode) -> &'static str {
    match status.code() {
        404 => "not_found",
        400 => "bad_request",
        488 => "not_acceptable",
        503 => "unavailable",
        _ => "refused",
    }
}
