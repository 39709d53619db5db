//! What goes in (inputs: requests and device events) and what comes out (commands and
//! notifications), plus the agent state machine's states.

use std::time::{Duration, Instant};

use crate::config::{AgentConfig, QueueConfig};
use crate::ids::{AgentId, ContactId, NotReadyReason, QueueId};

/// The state of an agent, shared by every queue it serves. Each state is named for what the
/// agent is doing or waiting for. Transitions (anything else is refused with
/// [`AcdError::InvalidTransition`](crate::AcdError::InvalidTransition)):
///
/// | from | event | to |
/// |---|---|---|
/// | `LoggedOut` | login | `Available` (ready) or `NotReady("login")` |
/// | `Available` | the ACD offers a contact | `Ringing` |
/// | `Available`, `NotReady` | not ready | `NotReady` |
/// | `NotReady` | ready | `Available` |
/// | `Ringing` | device answered | `OnCall` (ring all: the others → `Available`) |
/// | `Ringing` | busy / declined | `Available` (not offered that contact again) |
/// | `Ringing` | unreachable | `NotReady("unreachable")` |
/// | `Ringing` | ring timeout | `NotReady("no answer")` |
/// | `Ringing` | abandon / withdraw / another agent answered | `Available` |
/// | `Ringing` | not ready / logout | `NotReady` / `LoggedOut` (the contact goes back) |
/// | `OnCall` ⇄ `OnHold` | hold / unhold | |
/// | `OnCall`, `OnHold` | hang-up (either side) | `WrapUp` (or straight on when wrap-up is 0) |
/// | `OnCall`, `OnHold`, `WrapUp` | not ready | unchanged; pending until wrap-up ends |
/// | `WrapUp` | deadline / finish / ready | `Available`, or the pending `NotReady` |
/// | any but `OnCall`, `OnHold` | logout | `LoggedOut` |
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentState {
    /// Not logged in: never offered anything.
    LoggedOut,
    /// Waiting for a contact since `since` (when it last became available).
    Available {
        /// When the agent became available; longest idle picks the earliest.
        since: Instant,
    },
    /// Reserved for `contact`: the agent's device rings until `until` (then: no answer).
    Ringing {
        /// The offered contact.
        contact: ContactId,
        /// The ring timeout's deadline.
        until: Instant,
    },
    /// Talking with `contact` since `since` (the answer).
    OnCall {
        /// The contact.
        contact: ContactId,
        /// When the agent answered.
        since: Instant,
    },
    /// Holding `contact` since `since` (the start of this hold).
    OnHold {
        /// The contact.
        contact: ContactId,
        /// When the hold started.
        since: Instant,
    },
    /// Finishing the paperwork of `contact` until `until` (or until the agent finishes early).
    WrapUp {
        /// The contact that ended.
        contact: ContactId,
        /// When wrap-up ends by itself.
        until: Instant,
    },
    /// Logged in but not taking contacts, for `reason`, since `since`.
    NotReady {
        /// Why.
        reason: NotReadyReason,
        /// Since when.
        since: Instant,
    },
}

impl AgentState {
    /// The state's name in snake case (`logged_out`, `available`, `ringing`, `on_call`,
    /// `on_hold`, `wrap_up`, `not_ready`), as used in errors and APIs.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The state's kind, without its data.
    pub fn kind(&self) -> StateKind {
        match self {
            AgentState::LoggedOut => StateKind::LoggedOut,
            AgentState::Available { .. } => StateKind::Available,
            AgentState::Ringing { .. } => StateKind::Ringing,
            AgentState::OnCall { .. } => StateKind::OnCall,
            AgentState::OnHold { .. } => StateKind::OnHold,
            AgentState::WrapUp { .. } => StateKind::WrapUp,
            AgentState::NotReady { .. } => StateKind::NotReady,
        }
    }

    /// The contact the agent is ringing for, talking to, holding or wrapping up.
    pub fn contact(&self) -> Option<ContactId> {
        match self {
            AgentState::Ringing { contact, .. }
            | AgentState::OnCall { contact, .. }
            | AgentState::OnHold { contact, .. }
            | AgentState::WrapUp { contact, .. } => Some(*contact),
            _ => None,
        }
    }
}

/// The kind of an [`AgentState`], used to count agents by state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateKind {
    /// [`AgentState::LoggedOut`].
    LoggedOut = 0,
    /// [`AgentState::Available`].
    Available = 1,
    /// [`AgentState::Ringing`].
    Ringing = 2,
    /// [`AgentState::OnCall`].
    OnCall = 3,
    /// [`AgentState::OnHold`].
    OnHold = 4,
    /// [`AgentState::WrapUp`].
    WrapUp = 5,
    /// [`AgentState::NotReady`].
    NotReady = 6,
}

impl StateKind {
    /// Every kind, in declaration order.
    pub const ALL: [StateKind; 7] = [
        StateKind::LoggedOut,
        StateKind::Available,
        StateKind::Ringing,
        StateKind::OnCall,
        StateKind::OnHold,
        StateKind::WrapUp,
        StateKind::NotReady,
    ];

    /// The kind's name in snake case.
    pub fn name(self) -> &'static str {
        match self {
            StateKind::LoggedOut => "logged_out",
            StateKind::Available => "available",
            StateKind::Ringing => "ringing",
            StateKind::OnCall => "on_call",
            StateKind::OnHold => "on_hold",
            StateKind::WrapUp => "wrap_up",
            StateKind::NotReady => "not_ready",
        }
    }

    /// Whether the agent is reserved for or handling a contact (counts toward occupancy).
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            StateKind::Ringing | StateKind::OnCall | StateKind::OnHold | StateKind::WrapUp
        )
    }
}

/// Why an agent's device did not take an offer.
///
/// * `Busy` (486/600 from the phone) and `Declined` (603, or the agent pressed "reject"): the
///   agent stays available (keeping its idle time) but is never offered *this* contact again
///   while it stays in this queue; the contact goes to the next agent.
/// * `Unreachable` (no registered device, 404/408/480, transport failure): the agent goes to
///   not ready ("unreachable"), since every further offer would fail the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The device is busy with something else.
    Busy,
    /// The agent declined the offer.
    Declined,
    /// The device could not be reached.
    Unreachable,
}

/// Why an offer was withdrawn from an agent ([`Output::Cancel`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// Ring all: another agent answered first.
    AnsweredElsewhere,
    /// The ring timeout passed (the agent went to not ready "no answer").
    NoAnswer,
    /// The customer hung up.
    Abandoned,
    /// The flow withdrew the contact from the queue.
    Withdrawn,
    /// The agent logged out or went not ready while ringing.
    AgentLeft,
    /// The agent or the queue was removed from the configuration.
    Reconfigured,
}

/// An input to [`Acd::handle`](crate::Acd::handle): a configuration change, a contact event
/// from the flow or the customer leg, a result from an agent's device, or an agent's request.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Adds a queue or replaces its configuration. Waiting contacts stay; a priority change
    /// re-orders contacts that use the queue's priority.
    UpsertQueue(QueueConfig),
    /// Removes a queue. Its waiting and ringing contacts get [`Output::NoAgents`] (ringing
    /// offers are cancelled); contacts already connected continue.
    RemoveQueue(QueueId),
    /// Adds an agent (logged out) or replaces its configuration (its state is kept).
    UpsertAgent(AgentConfig),
    /// Removes an agent, which must not be on a call. A ringing offer is cancelled.
    RemoveAgent(AgentId),

    /// The flow puts a contact in a queue. `priority` overrides the queue's priority for this
    /// contact (larger is more urgent). When the queue has no logged-in agent the contact does
    /// not enter: [`Output::NoAgents`] follows at once.
    ///
    /// With `agent` (a flow's transfer to an agent) the contact is offered to that agent only,
    /// when it is available, and counts in `queue`'s statistics; other agents never see it,
    /// and the contacts behind it are served as usual. The agent must be logged in and serve
    /// `queue`, else [`Output::NoAgents`] follows at once; [`Output::NoAgents`] also follows
    /// when, while the contact waits, the agent logs out, is removed, stops serving the queue,
    /// or rejects the offer as busy or declined.
    Enqueue {
        /// The contact (unique among the contacts the ACD holds).
        contact: ContactId,
        /// The queue.
        queue: QueueId,
        /// Priority override.
        priority: Option<i32>,
        /// Offer the contact to this agent only.
        agent: Option<AgentId>,
    },
    /// The flow takes a waiting or ringing contact out of its queue (e.g. the caller chose
    /// voicemail). Ringing offers are cancelled. Counted as "overflowed".
    Withdraw {
        /// The contact.
        contact: ContactId,
    },
    /// The customer hung up: an abandon while waiting or ringing, the end of the call (and
    /// the agent's wrap-up) when connected.
    CustomerHungUp {
        /// The contact.
        contact: ContactId,
    },

    /// The agent's device answered the offer (200 OK). The ACD replies [`Output::Connect`], or
    /// refuses with [`AcdError::NoSuchOffer`](crate::AcdError::NoSuchOffer) when the offer
    /// was already withdrawn (then the controller hangs that leg up).
    AgentAnswered {
        /// The agent.
        agent: AgentId,
        /// The offered contact.
        contact: ContactId,
    },
    /// The agent's device did not take the offer (see [`Rejection`]).
    OfferRejected {
        /// The agent.
        agent: AgentId,
        /// The offered contact.
        contact: ContactId,
        /// How it failed.
        reason: Rejection,
    },
    /// The agent hung up its call (BYE from the phone or "hang up" on the desktop). The agent
    /// enters wrap-up; the controller ends the customer's leg.
    AgentHungUp {
        /// The agent.
        agent: AgentId,
    },

    /// The agent logs in, available when `ready`, else not ready ("login").
    Login {
        /// The agent.
        agent: AgentId,
        /// Whether to start available.
        ready: bool,
    },
    /// The agent logs out. Refused on a call; a ringing offer is cancelled; wrap-up ends.
    Logout {
        /// The agent.
        agent: AgentId,
    },
    /// The agent becomes available: from not ready, or from wrap-up (finishing it early). On a
    /// call it cancels a pending "not ready".
    Ready {
        /// The agent.
        agent: AgentId,
    },
    /// The agent stops taking contacts. Available or not ready: at once. Ringing: the offer is
    /// cancelled and the contact goes back to the head of its line. On a call, on hold or in
    /// wrap-up: pending, taking effect when wrap-up ends.
    NotReady {
        /// The agent.
        agent: AgentId,
        /// Why.
        reason: NotReadyReason,
    },
    /// The agent puts its call on hold.
    Hold {
        /// The agent.
        agent: AgentId,
    },
    /// The agent resumes its held call.
    Unhold {
        /// The agent.
        agent: AgentId,
    },
    /// The agent finishes wrap-up early (to available, or to a pending not ready).
    FinishWrapUp {
        /// The agent.
        agent: AgentId,
    },
}

/// An output drained with [`Acd::poll_output`](crate::Acd::poll_output): a command for the
/// controller to carry out, or a notification for the flow, the store or the WebSocket.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Ring `agent`'s device for `contact` (INVITE). The agent is reserved: it is offered
    /// nothing else until this offer ends. The ACD cancels it itself at `ring_until`.
    Offer {
        /// The agent.
        agent: AgentId,
        /// The contact.
        contact: ContactId,
        /// The contact's queue.
        queue: QueueId,
        /// The ring timeout's deadline.
        ring_until: Instant,
    },
    /// Stop ringing `agent` for `contact` (CANCEL, or BYE if it answered meanwhile).
    Cancel {
        /// The agent.
        agent: AgentId,
        /// The contact.
        contact: ContactId,
        /// Why.
        reason: CancelReason,
    },
    /// `agent` won `contact`: bridge them, stop the music, and record when `record`.
    Connect {
        /// The agent.
        agent: AgentId,
        /// The contact.
        contact: ContactId,
        /// The contact's queue.
        queue: QueueId,
        /// The queue's recording policy.
        record: bool,
        /// How long the contact waited in the queue.
        waited: Duration,
    },
    /// The contact waited past its queue's max wait and has left the queue: the flow takes
    /// its `max_wait` transition.
    MaxWait {
        /// The contact.
        contact: ContactId,
        /// The queue it left.
        queue: QueueId,
    },
    /// The contact's queue has no logged-in agent (at enqueue, or after the last one logged
    /// out or was removed): the contact is not (or no longer) in the queue and the flow takes
    /// its `no_agents` transition.
    NoAgents {
        /// The contact.
        contact: ContactId,
        /// The queue.
        queue: QueueId,
    },
    /// A waiting contact's place in its line changed (1 is next). Emitted only when
    /// [`AcdConfig::position_updates`](crate::AcdConfig::position_updates) is on; a contact
    /// that starts ringing has no position and gets a new one if it comes back.
    QueuePosition {
        /// The contact.
        contact: ContactId,
        /// Its queue.
        queue: QueueId,
        /// Its position, from 1.
        position: u32,
    },
    /// An agent changed state (for the agent desktop, the wallboard and the store).
    AgentStateChanged {
        /// The agent.
        agent: AgentId,
        /// The new state.
        state: AgentState,
    },
    /// A queue's statistics changed during the last input: pull
    /// [`Acd::queue_stats`](crate::Acd::queue_stats) to push it. At most one per queue per input.
    StatsChanged {
        /// The queue.
        queue: QueueId,
    },
}

/// Where a contact is, as answered by [`Acd::contact_status`](crate::Acd::contact_status).
#[derive(Clone, Debug, PartialEq)]
pub enum ContactStatus {
    /// Waiting in `queue` at `position` (1 is next).
    Waiting {
        /// The queue.
        queue: QueueId,
        /// 1-based place among the waiting contacts of the queue.
        position: u32,
        /// Time since it entered the queue.
        waited: Duration,
        /// Rough estimate of the remaining wait: `position × AHT ÷ staffed agents`, with the AHT
        /// of the last window (else today, else since start); `None` without history or staff.
        estimated_wait: Option<Duration>,
    },
    /// Offered to `agents`, whose devices ring.
    Ringing {
        /// The queue.
        queue: QueueId,
        /// The ringing agents (several with ring all).
        agents: Vec<AgentId>,
    },
    /// Connected to `agent`.
    Connected {
        /// The queue it came from.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
    },
}
