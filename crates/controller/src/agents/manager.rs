//! The agent-manager task: the one owner of the sans-IO [`acd::Acd`].
//!
//! # The driver contract: mutate, then drain
//!
//! The task waits for the first of: a [`Msg`] on its channel (from contact tasks, the agent
//! API and the admin API), the ACD's deadline ([`Acd::poll_timeout`]: ring timeouts, wrap-up
//! ends, max waits, midnight), or the statistics tick. It hands that **one** input to the ACD
//! (`handle` or `handle_timeout`), then drains **every** output ([`Acd::poll_output`]) before
//! it waits again, carrying each out without awaiting anything:
//!
//! | ACD output | carried out as |
//! |---|---|
//! | `Offer` | [`ContactEvent::Offer`] to the contact; `add_offer` in its call record |
//! | `Cancel` | [`ContactEvent::Cancel`] to the contact; the offer's result (`no_answer`/`cancelled`) |
//! | `Connect` | [`ContactEvent::Connected`]; the offer `answered`, `set_answered` |
//! | `MaxWait`, `NoAgents` | the matching [`ContactEvent`]; the manager lets go of the contact |
//! | `QueuePosition` | [`ContactEvent::Position`] with the ACD's estimated wait |
//! | `AgentStateChanged`, `StatsChanged` | marks the agent / queue for the statistics push |
//!
//! A contact that can no longer be told (its task ended: the channel is closed) is an
//! abandon: the manager feeds `CustomerHungUp` back to the ACD as a follow-up input, handled
//! inside the same drain, so nothing waits for a contact that is gone. Only when the ACD has
//! nothing more to say are the marked statistics pulled and broadcast, and the timer re-armed
//! at the new [`Acd::poll_timeout`]. Every decision stays in the ACD; this task only moves
//! values between channels, the store writer and the broadcast.
//!
//! Time: the task reads `tokio::time::Instant` (so tests can pause and advance it) and the
//! wall clock only for call records and RFC 3339 times in views.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acd::{
    Acd, AcdConfig, AcdError, AgentConfig, AgentId, AgentState, ContactId, ContactStatus, Input,
    NotReadyReason, Output, QueueConfig, QueueId, Rejection,
};
use jiff::Timestamp;
use store::OfferResult;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::records::{AcdRecords, OfferKey};
use super::views::{AgentView, QueueStatsView, StatsMessage};
use crate::queue::{
    CallRequest, CallRequestError, ConferenceAction, ConferenceView, RecordingAction, RecordingView,
};

/// Settings of the agent manager.
#[derive(Clone, Debug)]
pub struct ManagerOptions {
    /// Seed of the ACD's tie-break RNG (one seed reproduces a run).
    pub seed: u64,
    /// Time zone whose midnight starts "today" in the statistics.
    pub time_zone: jiff::tz::TimeZone,
    /// How often every queue's statistics are pushed even without events (the 15-minute
    /// window slides on its own).
    pub stats_interval: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            seed: 0,
            time_zone: jiff::tz::TimeZone::UTC,
            stats_interval: Duration::from_secs(5),
        }
    }
}

/// A contact entering a queue (the flow's `enqueue`).
#[derive(Debug)]
pub struct Enqueue {
    /// The contact's call record id (unique while the contact lives).
    pub contact: String,
    /// The queue; `None` only with `agent`: the agent's first queue.
    pub queue: Option<String>,
    /// Overrides the queue's priority for this contact (larger is more urgent).
    pub priority: Option<i32>,
    /// A flow's transfer to this agent (its id, or else its SIP user): the contact is offered
    /// to that agent only. An unknown agent, or one that serves no queue, is `NoAgents`.
    pub agent: Option<String>,
    /// Where the manager sends what it decides for this contact, in order.
    pub events: mpsc::UnboundedSender<ContactEvent>,
}

/// Why the manager stops an agent's offer ([`ContactEvent::Cancel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The ACD withdrew the offer (ring timeout, another agent answered, the agent left ...).
    Acd(acd::CancelReason),
    /// The device answered after the ACD had already withdrawn the offer: hang that leg up.
    TooLate,
}

/// What the manager tells one contact. The contact side carries out the agent legs:
/// `Offer` → INVITE the agent's device, `Cancel` → CANCEL it (or BYE once answered),
/// `Connected` → bridge customer ↔ agent, stop the music, record when asked.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactEvent {
    /// The contact's place in line (1 is next) and, when known, the estimated wait.
    Position {
        position: u32,
        estimated_wait: Option<Duration>,
    },
    /// Ring `agent`'s registered device(s) (SIP user `sip_user`). The ACD withdraws the offer
    /// itself at `ring_until` (a `Cancel` follows); report the device's answer or refusal with
    /// [`AgentManager::offer_answered`] / [`AgentManager::offer_rejected`].
    Offer {
        agent: String,
        sip_user: String,
        queue: String,
        ring_until: Instant,
        /// Whether the queue records its calls (start the recording on answer).
        record: bool,
    },
    /// Stop ringing `agent`: CANCEL its INVITE, or BYE its leg if it answered meanwhile.
    Cancel { agent: String, reason: CancelReason },
    /// `agent` won the contact: bridge customer ↔ agent, stop the music, start a stereo
    /// recording when `record`, and tell the flow `AgentConnected`.
    Connected {
        agent: String,
        queue: String,
        record: bool,
        waited: Duration,
    },
    /// The queue's max wait passed: the contact has left the queue (flow `max_wait`).
    MaxWait,
    /// The queue has no logged-in agent: the contact is not in the queue (flow `no_agents`).
    NoAgents,
    /// The ACD refused the contact (e.g. unknown queue): flow `QueueFailed`.
    Failed { reason: String },
    /// The agent hung up from its desktop: end both legs. The ACD knows already; do not
    /// report this hang-up back.
    HangUp { agent: String },
    /// The agent put the call on hold from its desktop (the ACD accepted it): play music to
    /// the customer instead of the agent's audio.
    Hold { agent: String },
    /// The agent resumed the held call: route customer ↔ agent again.
    Unhold { agent: String },
    /// The agent transferred the call (blind): hang the agent's leg up (the ACD knows: do
    /// not report it), play music to the customer and enqueue again in `queue` / for
    /// `to_agent`, or dial `uri`.
    Transfer {
        agent: String,
        queue: Option<String>,
        to_agent: Option<String>,
        uri: Option<String>,
    },
    /// The agent's request on its connected call (recording, conference): carry it out and
    /// answer on the request's reply.
    Request {
        agent: String,
        request: Once<CallRequest>,
    },
}

/// Nobody answered a call request: the manager stopped or the call ended meanwhile.
fn call_gone(agent: &str) -> CallRequestError {
    CallRequestError::Conflict(format!("agent {agent} has no call any more"))
}

/// A value that can be taken once, carried inside a [`ContactEvent`] (which is cloned and
/// compared in tests): clones share the one value, and two are equal when they share it.
#[derive(Debug)]
pub struct Once<T>(Arc<std::sync::Mutex<Option<T>>>);

impl<T> Once<T> {
    /// Holds `value` until taken.
    pub fn new(value: T) -> Once<T> {
        Once(Arc::new(std::sync::Mutex::new(Some(value))))
    }

    /// Takes the value (once; later calls get `None`).
    pub fn take(&self) -> Option<T> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl<T> Clone for Once<T> {
    fn clone(&self) -> Self {
        Once(self.0.clone())
    }
}

impl<T> PartialEq for Once<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// How an agent's device answered an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferOutcome {
    /// 200 OK.
    Answered,
    /// 486/600 → `Busy`, 603 → `Declined`, no device / 404 / 408 / 480 / transport → `Unreachable`.
    Rejected(Rejection),
}

/// A request of (or for) an agent, from the agent interface.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentAction {
    /// Log in, available when `ready` (else not ready "login"). Logging in again is accepted.
    Login { ready: bool },
    /// Log out (refused on a call).
    Logout,
    /// Become available.
    Ready,
    /// Stop taking contacts.
    NotReady { reason: String },
    /// Hold the call.
    Hold,
    /// Resume the held call.
    Unhold,
    /// Hang up the call.
    HangUp,
    /// Finish wrap-up early; the disposition (if any) goes to the last contact's record.
    FinishWrapUp { disposition: Option<String> },
    /// Blind transfer: the agent leaves the call (wrap-up) and the customer waits, with
    /// music, in `queue`, or for `agent` (through `queue` when both are given), or the call
    /// goes to `uri` (a SIP URI, dialled as is; not with a queue or agent).
    Transfer {
        queue: Option<String>,
        agent: Option<String>,
        uri: Option<String>,
    },
}

/// A configuration change applied live.
#[derive(Debug, Clone)]
pub enum ConfigChange {
    UpsertQueue(QueueConfig),
    RemoveQueue(String),
    UpsertAgent {
        config: AgentConfig,
        sip_user: String,
    },
    RemoveAgent(String),
}

/// Why a request to the manager failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManagerError {
    /// The ACD refused it (its kind gives the HTTP status).
    #[error(transparent)]
    Acd(#[from] AcdError),
    /// A disposition was given but the agent has handled no contact.
    #[error("agent {0} has no contact to give a disposition to")]
    NoContact(String),
    /// A transfer's target does not exist.
    #[error("{0}")]
    NoTarget(String),
    /// Not possible now (e.g. a transfer to a queue nobody is logged in to).
    #[error("{0}")]
    Refused(String),
    /// The manager task has stopped (shutdown).
    #[error("the agent manager has stopped")]
    Stopped,
}

impl ManagerError {
    /// The HTTP status of this error.
    pub fn http_status(&self) -> u16 {
        match self {
            ManagerError::Acd(e) => e.http_status(),
            ManagerError::NoContact(_) | ManagerError::Refused(_) => 409,
            ManagerError::NoTarget(_) => 404,
            ManagerError::Stopped => 503,
        }
    }
}

enum Msg {
    Enqueue(Enqueue),
    Withdraw {
        contact: String,
    },
    CustomerHungUp {
        contact: String,
    },
    OfferResult {
        contact: String,
        agent: AgentId,
        outcome: OfferOutcome,
    },
    AgentHungUp {
        agent: AgentId,
    },
    ContactGone {
        id: ContactId,
    },
    Agent {
        agent: AgentId,
        action: AgentAction,
        reply: oneshot::Sender<Result<AgentView, ManagerError>>,
    },
    Request {
        agent: AgentId,
        request: CallRequest,
    },
    Config {
        change: ConfigChange,
        reply: oneshot::Sender<Result<(), ManagerError>>,
    },
    QueueStats {
        queue: QueueId,
        reply: oneshot::Sender<Option<QueueStatsView>>,
    },
    AgentView {
        agent: AgentId,
        reply: oneshot::Sender<Option<AgentView>>,
    },
    Snapshot {
        reply: oneshot::Sender<StatsMessage>,
    },
    Audit {
        reply: oneshot::Sender<Result<usize, String>>,
    },
}

/// The handle every other task uses to reach the agent manager; cheap to clone. The task
/// stops when the last handle is dropped.
#[derive(Clone)]
pub struct AgentManager {
    tx: mpsc::UnboundedSender<Msg>,
    stats: broadcast::Sender<Arc<StatsMessage>>,
}

impl AgentManager {
    /// Starts the manager task with the stored queues and agents (`(agent, SIP user)`).
    pub fn spawn(
        options: ManagerOptions,
        queues: Vec<QueueConfig>,
        agents: Vec<(AgentConfig, String)>,
        records: AcdRecords,
    ) -> AgentManager {
        let now = tokio::time::Instant::now().into_std();
        let wall = Timestamp::now();
        let config = AcdConfig {
            seed: options.seed,
            time_zone: options.time_zone.clone(),
            ..AcdConfig::default()
        };
        let mut acd = Acd::new(config, now, wall);
        for q in queues {
            let id = q.id.clone();
            if let Err(e) = acd.handle(now, Input::UpsertQueue(q)) {
                tracing::warn!(queue = %id, error = %e, "stored queue not loaded");
            }
        }
        let mut sip_users = HashMap::new();
        for (a, user) in agents {
            let id = a.id.clone();
            match acd.handle(now, Input::UpsertAgent(a)) {
                Ok(()) => {
                    sip_users.insert(id, user);
                }
                Err(e) => tracing::warn!(agent = %id, error = %e, "stored agent not loaded"),
            }
        }
        // Configuration produces only statistics notifications; nobody listens yet.
        while acd.poll_output().is_some() {}
        let (tx, rx) = mpsc::unbounded_channel();
        let (stats, _) = broadcast::channel(1024);
        let driver = Driver {
            acd,
            me: tx.downgrade(),
            contacts: HashMap::new(),
            by_record: HashMap::new(),
            next_contact: 1,
            next_offer: 1,
            sip_users,
            last_contact: HashMap::new(),
            records,
            stats: stats.clone(),
            dirty_queues: BTreeSet::new(),
            dirty_agents: BTreeSet::new(),
            followups: VecDeque::new(),
            released: Vec::new(),
        };
        tokio::spawn(driver.run(rx, options.stats_interval));
        AgentManager { tx, stats }
    }

    fn send(&self, msg: Msg) {
        // A closed channel means shutdown; contact-side reports are then moot.
        let _ = self.tx.send(msg);
    }

    async fn ask<T>(&self, msg: impl FnOnce(oneshot::Sender<T>) -> Msg) -> Option<T> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(msg(reply)).ok()?;
        rx.await.ok()
    }

    // ----- contact side -----

    /// The flow's `enqueue`: what the manager decides comes back on `request.events`.
    pub fn enqueue(&self, request: Enqueue) {
        self.send(Msg::Enqueue(request));
    }

    /// The flow took the contact out of its queue (another reason than a queue event).
    pub fn withdraw(&self, contact: &str) {
        self.send(Msg::Withdraw {
            contact: contact.into(),
        });
    }

    /// The customer hung up (an abandon while waiting or ringing, the end of the call when
    /// connected: the agent enters wrap-up). The contact side sends BYE to the agent leg.
    pub fn customer_hung_up(&self, contact: &str) {
        self.send(Msg::CustomerHungUp {
            contact: contact.into(),
        });
    }

    /// The agent's device answered (200 OK). The manager answers with
    /// [`ContactEvent::Connected`], or [`ContactEvent::Cancel`] with
    /// [`CancelReason::TooLate`] when the offer was already withdrawn.
    pub fn offer_answered(&self, contact: &str, agent: &str) {
        self.send(Msg::OfferResult {
            contact: contact.into(),
            agent: agent.into(),
            outcome: OfferOutcome::Answered,
        });
    }

    /// The agent's device refused the offer or could not be reached.
    pub fn offer_rejected(&self, contact: &str, agent: &str, reason: Rejection) {
        self.send(Msg::OfferResult {
            contact: contact.into(),
            agent: agent.into(),
            outcome: OfferOutcome::Rejected(reason),
        });
    }

    /// The agent hung up its call (BYE from the phone). The contact side ends the customer's
    /// leg; the agent enters wrap-up.
    pub fn agent_hung_up(&self, agent: &str) {
        self.send(Msg::AgentHungUp {
            agent: agent.into(),
        });
    }

    // ----- agent interface -----

    /// Carries out an agent's request; answers with the agent's state afterwards.
    pub async fn agent_action(
        &self,
        agent: &str,
        action: AgentAction,
    ) -> Result<AgentView, ManagerError> {
        self.ask(|reply| Msg::Agent {
            agent: agent.into(),
            action,
            reply,
        })
        .await
        .unwrap_or(Err(ManagerError::Stopped))
    }

    /// An agent's request on its call's recording, carried out by the call.
    pub async fn recording(
        &self,
        agent: &str,
        action: RecordingAction,
    ) -> Result<RecordingView, CallRequestError> {
        let (reply, answer) = oneshot::channel();
        self.send(Msg::Request {
            agent: agent.into(),
            request: CallRequest::Recording { action, reply },
        });
        answer.await.unwrap_or_else(|_| Err(call_gone(agent)))
    }

    /// An agent's conference request, carried out by the call; adding a party answers once
    /// it answered or failed.
    pub async fn conference(
        &self,
        agent: &str,
        action: ConferenceAction,
    ) -> Result<ConferenceView, CallRequestError> {
        let (reply, answer) = oneshot::channel();
        self.send(Msg::Request {
            agent: agent.into(),
            request: CallRequest::Conference { action, reply },
        });
        answer.await.unwrap_or_else(|_| Err(call_gone(agent)))
    }

    /// Applies a configuration change to the running ACD.
    pub async fn configure(&self, change: ConfigChange) -> Result<(), ManagerError> {
        self.ask(|reply| Msg::Config { change, reply })
            .await
            .unwrap_or(Err(ManagerError::Stopped))
    }

    /// A queue's statistics now; `None` for an unknown queue.
    pub async fn queue_stats(&self, queue: &str) -> Option<QueueStatsView> {
        self.ask(|reply| Msg::QueueStats {
            queue: queue.into(),
            reply,
        })
        .await
        .flatten()
    }

    /// An agent's state and figures now; `None` for an unknown agent.
    pub async fn agent_view(&self, agent: &str) -> Option<AgentView> {
        self.ask(|reply| Msg::AgentView {
            agent: agent.into(),
            reply,
        })
        .await
        .flatten()
    }

    /// Every queue and agent now ([`StatsMessage::Snapshot`]).
    pub async fn snapshot(&self) -> Option<StatsMessage> {
        self.ask(|reply| Msg::Snapshot { reply }).await
    }

    /// Statistics as they change: a queue after every event that touched it (and every
    /// `stats_interval`), an agent after every state change.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StatsMessage>> {
        self.stats.subscribe()
    }

    /// Checks the ACD's internal invariants and that the manager holds exactly the contacts
    /// the ACD holds; answers how many contacts it holds. For tests and debugging.
    pub async fn audit(&self) -> Result<usize, String> {
        self.ask(|reply| Msg::Audit { reply })
            .await
            .unwrap_or_else(|| Err("stopped".into()))
    }
}

/// A contact the ACD holds.
struct Entry {
    record: String,
    events: mpsc::UnboundedSender<ContactEvent>,
    /// Offers ringing (or answered, until the ACD decides), by agent.
    offers: HashMap<AgentId, OfferKey>,
}

struct Driver {
    acd: Acd,
    /// To report contacts whose task ended; weak so that the task stops with its handles.
    me: mpsc::WeakUnboundedSender<Msg>,
    contacts: HashMap<ContactId, Entry>,
    by_record: HashMap<String, ContactId>,
    next_contact: u64,
    next_offer: u64,
    sip_users: HashMap<AgentId, String>,
    /// The call record of each agent's last connected contact (for dispositions and for
    /// the view of an agent in wrap-up).
    last_contact: HashMap<AgentId, String>,
    records: AcdRecords,
    stats: broadcast::Sender<Arc<StatsMessage>>,
    dirty_queues: BTreeSet<QueueId>,
    dirty_agents: BTreeSet<AgentId>,
    /// Inputs the drain itself produced (a contact gone while being told something).
    followups: VecDeque<Input>,
    /// Contacts the ACD let go during this input; forgotten once the drain is over.
    released: Vec<ContactId>,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Driver {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>, stats_interval: Duration) {
        let mut tick = tokio::time::interval(stats_interval.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.acd.poll_timeout();
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                msg = rx.recv() => match msg {
                    Some(msg) => self.on_msg(msg),
                    None => break,
                },
                () = timer => {
                    let now = now();
                    self.acd.handle_timeout(now);
                    self.drain(now);
                }
                _ = tick.tick() => self.publish_all(now()),
            }
        }
        tracing::debug!("agent manager stopped");
    }

    /// Feeds one input and drains (the ACD's error, if any, is returned after the drain).
    fn input(&mut self, now: Instant, input: Input) -> Result<(), AcdError> {
        let result = self.acd.handle(now, input);
        self.drain(now);
        result
    }

    fn on_msg(&mut self, msg: Msg) {
        let now = now();
        // A deadline that passed before this message arrived comes first (the select may
        // pick the message in the same wake-up as the timer).
        if self.acd.poll_timeout().is_some_and(|at| at <= now) {
            self.acd.handle_timeout(now);
            self.drain(now);
        }
        match msg {
            Msg::Enqueue(e) => self.enqueue(now, e),
            Msg::Withdraw { contact } => {
                if let Some(&id) = self.by_record.get(&contact) {
                    match self.input(now, Input::Withdraw { contact: id }) {
                        Ok(()) => self.forget(id),
                        Err(e) => tracing::debug!(%contact, error = %e, "withdraw refused"),
                    }
                }
            }
            Msg::CustomerHungUp { contact } => {
                if let Some(&id) = self.by_record.get(&contact) {
                    self.customer_gone(now, id);
                }
            }
            Msg::ContactGone { id } => {
                if self.contacts.contains_key(&id) {
                    tracing::warn!(contact = %id, "contact task ended without telling the agent manager; treated as a hang-up");
                    self.customer_gone(now, id);
                }
            }
            Msg::OfferResult {
                contact,
                agent,
                outcome,
            } => self.offer_result(now, &contact, agent, outcome),
            Msg::AgentHungUp { agent } => {
                let contact = self.acd.agent_state(&agent).and_then(AgentState::contact);
                match self.input(
                    now,
                    Input::AgentHungUp {
                        agent: agent.clone(),
                    },
                ) {
                    Ok(()) => {
                        if let Some(id) = contact {
                            self.forget(id);
                        }
                    }
                    Err(e) => tracing::debug!(%agent, error = %e, "agent hang-up refused"),
                }
            }
            Msg::Agent {
                agent,
                action,
                reply,
            } => {
                let result = self.agent_action(now, &agent, action);
                let answer = result.and_then(|()| {
                    self.agent_view(now, &agent)
                        .ok_or_else(|| AcdError::UnknownAgent(agent.clone()).into())
                });
                let _ = reply.send(answer);
            }
            Msg::Request { agent, request } => {
                let contact = match self.acd.agent_state(&agent) {
                    None => Err(CallRequestError::UnknownAgent(agent.to_string())),
                    Some(state) => state
                        .contact()
                        .filter(|_| {
                            matches!(state, AgentState::OnCall { .. } | AgentState::OnHold { .. })
                        })
                        .ok_or_else(|| {
                            CallRequestError::Conflict(format!("agent {agent} is not on a call"))
                        }),
                };
                match contact {
                    Ok(id) => self.tell(
                        id,
                        ContactEvent::Request {
                            agent: agent.to_string(),
                            request: Once::new(request),
                        },
                    ),
                    Err(e) => request.refuse(e),
                }
            }
            Msg::Config { change, reply } => {
                let _ = reply.send(self.configure(now, change).map_err(Into::into));
            }
            Msg::QueueStats { queue, reply } => {
                let view = self
                    .acd
                    .queue_stats(now, &queue)
                    .map(|s| QueueStatsView::new(&s, Timestamp::now()));
                let _ = reply.send(view);
            }
            Msg::AgentView { agent, reply } => {
                let _ = reply.send(self.agent_view(now, &agent));
            }
            Msg::Snapshot { reply } => {
                let _ = reply.send(self.snapshot(now));
            }
            Msg::Audit { reply } => {
                let _ = reply.send(self.audit());
            }
        }
    }

    fn enqueue(&mut self, now: Instant, e: Enqueue) {
        if self.by_record.contains_key(&e.contact) {
            let _ = e.events.send(ContactEvent::Failed {
                reason: format!("contact {} is already in a queue", e.contact),
            });
            return;
        }
        let target = match &e.agent {
            None => None,
            Some(name) => match self.resolve_agent(name) {
                Some(id) => Some(id),
                None => {
                    tracing::info!(contact = %e.contact, agent = %name, "transfer to an unknown agent");
                    let _ = e.events.send(ContactEvent::NoAgents);
                    return;
                }
            },
        };
        let queue = match (&e.queue, &target) {
            (Some(q), _) => q.clone(),
            (None, Some(agent)) => {
                let first = self
                    .acd
                    .agent_config(agent)
                    .and_then(|cfg| cfg.queues.first())
                    .map(|q| q.as_str().to_string());
                match first {
                    Some(q) => q,
                    None => {
                        tracing::info!(contact = %e.contact, %agent, "transfer to an agent who serves no queue");
                        let _ = e.events.send(ContactEvent::NoAgents);
                        return;
                    }
                }
            }
            (None, None) => {
                let _ = e.events.send(ContactEvent::Failed {
                    reason: "no queue given".into(),
                });
                return;
            }
        };
        let id = ContactId(self.next_contact);
        self.next_contact += 1;
        // The entry exists before the input: the drain may already offer the contact.
        self.contacts.insert(
            id,
            Entry {
                record: e.contact.clone(),
                events: e.events.clone(),
                offers: HashMap::new(),
            },
        );
        self.by_record.insert(e.contact.clone(), id);
        let input = Input::Enqueue {
            contact: id,
            queue: queue.as_str().into(),
            priority: e.priority,
            agent: target,
        };
        match self.input(now, input) {
            Ok(()) => {
                self.records.queue(&e.contact, &queue, Timestamp::now());
                // When the contact's task ends without a word, the ACD must still let go.
                let me = self.me.clone();
                let events = e.events;
                tokio::spawn(async move {
                    events.closed().await;
                    if let Some(tx) = me.upgrade() {
                        let _ = tx.send(Msg::ContactGone { id });
                    }
                });
            }
            Err(err) => {
                self.forget(id);
                let _ = e.events.send(ContactEvent::Failed {
                    reason: err.to_string(),
                });
            }
        }
    }

    /// The agent a flow names: by id, else by SIP user.
    fn resolve_agent(&self, name: &str) -> Option<AgentId> {
        let id = AgentId::from(name);
        if self.acd.agent_config(&id).is_some() {
            return Some(id);
        }
        let mut by_user: Vec<&AgentId> = self
            .sip_users
            .iter()
            .filter(|(_, user)| user.as_str() == name)
            .map(|(id, _)| id)
            .collect();
        by_user.sort();
        by_user.first().map(|id| (*id).clone())
    }

    fn customer_gone(&mut self, now: Instant, id: ContactId) {
        if let Err(e) = self.input(now, Input::CustomerHungUp { contact: id }) {
            tracing::debug!(contact = %id, error = %e, "customer hang-up refused");
        }
        self.forget(id);
    }

    fn offer_result(&mut self, now: Instant, contact: &str, agent: AgentId, outcome: OfferOutcome) {
        let Some(&id) = self.by_record.get(contact) else {
            tracing::debug!(%contact, %agent, ?outcome, "offer result for a contact the ACD no longer holds");
            return;
        };
        match outcome {
            OfferOutcome::Answered => {
                let input = Input::AgentAnswered {
                    agent: agent.clone(),
                    contact: id,
                };
                if let Err(e) = self.input(now, input) {
                    tracing::debug!(%contact, %agent, error = %e, "late answer: hanging the agent leg up");
                    self.tell(
                        id,
                        ContactEvent::Cancel {
                            agent: agent.to_string(),
                            reason: CancelReason::TooLate,
                        },
                    );
                }
            }
            OfferOutcome::Rejected(reason) => {
                let input = Input::OfferRejected {
                    agent: agent.clone(),
                    contact: id,
                    reason,
                };
                match self.input(now, input) {
                    Ok(()) => {
                        let key = self
                            .contacts
                            .get_mut(&id)
                            .and_then(|e| e.offers.remove(&agent));
                        if let Some(key) = key {
                            let result = match reason {
                                Rejection::Busy => OfferResult::Busy,
                                Rejection::Declined => OfferResult::Declined,
                                // The store has no "unreachable": the offer was not answered.
                                Rejection::Unreachable => OfferResult::NoAnswer,
                            };
                            self.records.offer_result(key, result, Timestamp::now());
                        }
                    }
                    Err(e) => {
                        tracing::debug!(%contact, %agent, error = %e, "rejection of a withdrawn offer")
                    }
                }
            }
        }
    }

    fn agent_action(
        &mut self,
        now: Instant,
        agent: &AgentId,
        action: AgentAction,
    ) -> Result<(), ManagerError> {
        let state = self
            .acd
            .agent_state(agent)
            .cloned()
            .ok_or_else(|| AcdError::UnknownAgent(agent.clone()))?;
        let agent = agent.clone();
        match action {
            AgentAction::Login { ready } => {
                match self.input(now, Input::Login { agent, ready }) {
                    // Logging in again (a desktop reconnecting) keeps the current state.
                    Err(AcdError::InvalidTransition { .. }) if state != AgentState::LoggedOut => {
                        Ok(())
                    }
                    r => Ok(r?),
                }
            }
            AgentAction::Logout => Ok(self.input(now, Input::Logout { agent })?),
            AgentAction::Ready => Ok(self.input(now, Input::Ready { agent })?),
            AgentAction::NotReady { reason } => Ok(self.input(
                now,
                Input::NotReady {
                    agent,
                    reason: NotReadyReason::new(reason),
                },
            )?),
            AgentAction::Hold => {
                self.input(
                    now,
                    Input::Hold {
                        agent: agent.clone(),
                    },
                )?;
                if let Some(id) = state.contact() {
                    self.tell(
                        id,
                        ContactEvent::Hold {
                            agent: agent.to_string(),
                        },
                    );
                }
                Ok(())
            }
            AgentAction::Unhold => {
                self.input(
                    now,
                    Input::Unhold {
                        agent: agent.clone(),
                    },
                )?;
                if let Some(id) = state.contact() {
                    self.tell(
                        id,
                        ContactEvent::Unhold {
                            agent: agent.to_string(),
                        },
                    );
                }
                Ok(())
            }
            AgentAction::HangUp => {
                self.input(
                    now,
                    Input::AgentHungUp {
                        agent: agent.clone(),
                    },
                )?;
                if let Some(id) = state.contact() {
                    self.tell(
                        id,
                        ContactEvent::HangUp {
                            agent: agent.to_string(),
                        },
                    );
                    self.forget(id);
                }
                Ok(())
            }
            AgentAction::Transfer {
                queue,
                agent: to_agent,
                uri,
            } => {
                let contact = state
                    .contact()
                    .filter(|_| {
                        matches!(state, AgentState::OnCall { .. } | AgentState::OnHold { .. })
                    })
                    .ok_or_else(|| {
                        ManagerError::Refused(format!("agent {agent} is not on a call"))
                    })?;
                if uri.is_some() {
                    if queue.is_some() || to_agent.is_some() {
                        return Err(ManagerError::Refused(
                            "a transfer goes to a SIP URI or to a queue/agent, not both".into(),
                        ));
                    }
                } else {
                    self.check_transfer_target(now, &agent, queue.as_deref(), to_agent.as_deref())?;
                }
                // The agent's part ends here (wrap-up); the contact task hangs its leg up and
                // enqueues the customer again, a new contact for the ACD.
                self.input(
                    now,
                    Input::AgentHungUp {
                        agent: agent.clone(),
                    },
                )?;
                tracing::info!(%agent, ?queue, ?to_agent, ?uri, "blind transfer");
                self.tell(
                    contact,
                    ContactEvent::Transfer {
                        agent: agent.to_string(),
                        queue,
                        to_agent,
                        uri,
                    },
                );
                self.forget(contact);
                Ok(())
            }
            AgentAction::FinishWrapUp { disposition } => {
                if let Some(d) = &disposition {
                    let record = self
                        .last_contact
                        .get(&agent)
                        .ok_or_else(|| ManagerError::NoContact(agent.to_string()))?;
                    self.records.disposition(record, d);
                }
                match (&state, disposition) {
                    (AgentState::WrapUp { .. }, _) | (_, None) => {
                        Ok(self.input(now, Input::FinishWrapUp { agent })?)
                    }
                    // A disposition after wrap-up ended by itself: recorded, nothing to end.
                    (_, Some(_)) => Ok(()),
                }
            }
        }
    }

    /// A blind transfer's target must exist and have someone to answer: the queue an agent
    /// other than the transferring one is logged in to, or a logged-in other agent.
    fn check_transfer_target(
        &mut self,
        now: Instant,
        from: &AgentId,
        queue: Option<&str>,
        to_agent: Option<&str>,
    ) -> Result<(), ManagerError> {
        if queue.is_none() && to_agent.is_none() {
            return Err(ManagerError::Refused(
                "a transfer needs a queue or an agent".into(),
            ));
        }
        if let Some(q) = queue {
            let id = QueueId::from(q);
            let stats = self
                .acd
                .queue_stats(now, &id)
                .ok_or_else(|| ManagerError::NoTarget(format!("no queue {q:?}")))?;
            let a = &stats.agents;
            let mut logged_in =
                a.available + a.ringing + a.on_call + a.on_hold + a.wrap_up + a.not_ready;
            let serves = self
                .acd
                .agent_config(from)
                .is_some_and(|c| c.queues.contains(&id));
            if serves {
                logged_in = logged_in.saturating_sub(1);
            }
            if to_agent.is_none() && logged_in == 0 {
                return Err(ManagerError::Refused(format!(
                    "no other agent is logged in to queue {q}"
                )));
            }
        }
        if let Some(t) = to_agent {
            let id = AgentId::from(t);
            if &id == from {
                return Err(ManagerError::Refused(
                    "an agent cannot transfer a call to itself".into(),
                ));
            }
            match self.acd.agent_state(&id) {
                None => return Err(ManagerError::NoTarget(format!("no agent {t:?}"))),
                Some(AgentState::LoggedOut) => {
                    return Err(ManagerError::Refused(format!("agent {t} is logged out")));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn configure(&mut self, now: Instant, change: ConfigChange) -> Result<(), AcdError> {
        match change {
            ConfigChange::UpsertQueue(q) => self.input(now, Input::UpsertQueue(q)),
            ConfigChange::RemoveQueue(id) => self.input(now, Input::RemoveQueue(id.into())),
            ConfigChange::UpsertAgent { config, sip_user } => {
                let id = config.id.clone();
                self.input(now, Input::UpsertAgent(config))?;
                self.sip_users.insert(id, sip_user);
                Ok(())
            }
            ConfigChange::RemoveAgent(id) => {
                let id = AgentId::from(id);
                self.input(now, Input::RemoveAgent(id.clone()))?;
                self.sip_users.remove(&id);
                self.last_contact.remove(&id);
                // Its last figures leave with it.
                self.dirty_agents.remove(&id);
                Ok(())
            }
        }
    }

    /// Sends an event to a contact; a contact that is gone is treated as an abandon.
    fn tell(&mut self, id: ContactId, event: ContactEvent) {
        let Some(entry) = self.contacts.get(&id) else {
            return;
        };
        if entry.events.send(event).is_err() && !self.released.contains(&id) {
            self.followups
                .push_back(Input::CustomerHungUp { contact: id });
            self.released.push(id);
        }
    }

    /// Lets go of a contact the ACD no longer holds.
    fn forget(&mut self, id: ContactId) {
        if let Some(entry) = self.contacts.remove(&id) {
            self.by_record.remove(&entry.record);
            // Offers still open belong to a contact that left: they were cancelled.
            for key in entry.offers.into_values() {
                self.records
                    .offer_result(key, OfferResult::Cancelled, Timestamp::now());
            }
        }
    }

    /// Takes every output of the ACD and carries it out (mutate, then drain), then pushes
    /// the statistics it marked.
    fn drain(&mut self, now: Instant) {
        loop {
            while let Some(out) = self.acd.poll_output() {
                self.on_output(now, out);
            }
            let Some(input) = self.followups.pop_front() else {
                break;
            };
            if let Err(e) = self.acd.handle(now, input) {
                tracing::debug!(error = %e, "follow-up input refused");
            }
        }
        for id in std::mem::take(&mut self.released) {
            self.forget(id);
        }
        self.publish_marked(now);
    }

    fn on_output(&mut self, now: Instant, out: Output) {
        let wall = Timestamp::now();
        match out {
            Output::Offer {
                agent,
                contact,
                queue,
                ring_until,
            } => {
                let key = OfferKey(self.next_offer);
                self.next_offer += 1;
                let Some(entry) = self.contacts.get_mut(&contact) else {
                    // Invariant: the ACD offers only contacts enqueued here and not released.
                    tracing::error!(%contact, "the ACD offered a contact the manager does not hold");
                    self.followups.push_back(Input::CustomerHungUp { contact });
                    return;
                };
                entry.offers.insert(agent.clone(), key);
                let contact_record = entry.record.clone();
                self.records
                    .offer(key, &contact_record, agent.as_str(), queue.as_str(), wall);
                let record = self.acd.queue_config(&queue).is_some_and(|q| q.record);
                let sip_user = self
                    .sip_users
                    .get(&agent)
                    .cloned()
                    .unwrap_or_else(|| agent.to_string());
                self.tell(
                    contact,
                    ContactEvent::Offer {
                        agent: agent.to_string(),
                        sip_user,
                        queue: queue.to_string(),
                        ring_until,
                        record,
                    },
                );
            }
            Output::Cancel {
                agent,
                contact,
                reason,
            } => {
                let key = self
                    .contacts
                    .get_mut(&contact)
                    .and_then(|e| e.offers.remove(&agent));
                if let Some(key) = key {
                    let result = match reason {
                        acd::CancelReason::NoAnswer => OfferResult::NoAnswer,
                        _ => OfferResult::Cancelled,
                    };
                    self.records.offer_result(key, result, wall);
                }
                self.tell(
                    contact,
                    ContactEvent::Cancel {
                        agent: agent.to_string(),
                        reason: CancelReason::Acd(reason),
                    },
                );
            }
            Output::Connect {
                agent,
                contact,
                queue,
                record,
                waited,
            } => {
                let Some(entry) = self.contacts.get_mut(&contact) else {
                    tracing::error!(%contact, "the ACD connected a contact the manager does not hold");
                    return;
                };
                if let Some(key) = entry.offers.remove(&agent) {
                    self.records.offer_result(key, OfferResult::Answered, wall);
                }
                let rec = entry.record.clone();
                self.records.answered(&rec, agent.as_str(), wall);
                self.last_contact.insert(agent.clone(), rec);
                self.tell(
                    contact,
                    ContactEvent::Connected {
                        agent: agent.to_string(),
                        queue: queue.to_string(),
                        record,
                        waited,
                    },
                );
            }
            Output::MaxWait { contact, .. } => {
                self.tell(contact, ContactEvent::MaxWait);
                self.released.push(contact);
            }
            Output::NoAgents { contact, .. } => {
                self.tell(contact, ContactEvent::NoAgents);
                self.released.push(contact);
            }
            Output::QueuePosition {
                contact, position, ..
            } => {
                let estimated_wait = match self.acd.contact_status(now, contact) {
                    Some(ContactStatus::Waiting { estimated_wait, .. }) => estimated_wait,
                    _ => None,
                };
                self.tell(
                    contact,
                    ContactEvent::Position {
                        position,
                        estimated_wait,
                    },
                );
            }
            Output::AgentStateChanged { agent, .. } => {
                self.dirty_agents.insert(agent);
            }
            Output::StatsChanged { queue } => {
                self.dirty_queues.insert(queue);
            }
        }
    }

    fn agent_view(&mut self, now: Instant, agent: &AgentId) -> Option<AgentView> {
        let stats = self.acd.agent_stats(now, agent)?;
        let contact = match stats.state.contact() {
            Some(id) => self
                .contacts
                .get(&id)
                .map(|e| e.record.clone())
                .or_else(|| self.last_contact.get(agent).cloned()),
            None => None,
        };
        Some(AgentView::new(&stats, now, Timestamp::now(), contact))
    }

    fn snapshot(&mut self, now: Instant) -> StatsMessage {
        let wall = Timestamp::now();
        let mut queue_ids: Vec<QueueId> = self.acd.queue_ids().cloned().collect();
        queue_ids.sort();
        let mut agent_ids: Vec<AgentId> = self.acd.agent_ids().cloned().collect();
        agent_ids.sort();
        let queues = queue_ids
            .iter()
            .filter_map(|q| self.acd.queue_stats(now, q))
            .map(|s| QueueStatsView::new(&s, wall))
            .collect();
        let agents = agent_ids
            .iter()
            .filter_map(|a| self.agent_view(now, a))
            .collect();
        StatsMessage::Snapshot { queues, agents }
    }

    /// Pushes the queues and agents marked since the last push.
    fn publish_marked(&mut self, now: Instant) {
        let queues = std::mem::take(&mut self.dirty_queues);
        let agents = std::mem::take(&mut self.dirty_agents);
        if self.stats.receiver_count() == 0 {
            return;
        }
        let wall = Timestamp::now();
        for q in queues {
            if let Some(s) = self.acd.queue_stats(now, &q) {
                let _ = self.stats.send(Arc::new(StatsMessage::Queue(Box::new(
                    QueueStatsView::new(&s, wall),
                ))));
            }
        }
        for a in agents {
            if let Some(v) = self.agent_view(now, &a) {
                let _ = self.stats.send(Arc::new(StatsMessage::Agent(Box::new(v))));
            }
        }
    }

    /// Pushes every queue (the sliding window moves without events).
    fn publish_all(&mut self, now: Instant) {
        if self.stats.receiver_count() == 0 {
            return;
        }
        let wall = Timestamp::now();
        let mut ids: Vec<QueueId> = self.acd.queue_ids().cloned().collect();
        ids.sort();
        for q in ids {
            if let Some(s) = self.acd.queue_stats(now, &q) {
                let _ = self.stats.send(Arc::new(StatsMessage::Queue(Box::new(
                    QueueStatsView::new(&s, wall),
                ))));
            }
        }
    }

    fn audit(&self) -> Result<usize, String> {
        self.acd.check_invariants().map_err(|e| e.to_string())?;
        let now = now();
        for (&id, entry) in &self.contacts {
            if self.acd.contact_status(now, id).is_none() {
                return Err(format!(
                    "the manager holds contact {} ({id}) which the ACD does not",
                    entry.record
                ));
            }
        }
        if self.by_record.len() != self.contacts.len() {
            return Err("the record index and the contacts disagree".into());
        }
        for q in self.acd.queue_ids() {
            for id in self.acd.waiting_contacts(q).unwrap_or_default() {
                if !self.contacts.contains_key(&id) {
                    return Err(format!("contact {id} waits in {q} but the manager lost it"));
                }
            }
        }
        Ok(self.contacts.len())
    }
}
