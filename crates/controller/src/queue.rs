//! **The seam where the agent manager (ACD) plugs in.**
//!
//! A flow's `enqueue` (and its `transfer` to a queue or to one agent, which
//! carries [`EnqueueRequest::agent`]) reaches the controller as
//! `flow::Command::Enqueue`; the contact task hands it to the [`QueueService`]
//! it was given and carries on:
//! the flow engine itself plays the greeting and the music, announces, and
//! applies the flow's own `max_wait`. What the queue decides comes back into
//! the contact task as [`QueueEvent`]s sent through the request's
//! [`QueueEvents`] handle, and the contact task feeds them to its flow
//! (`QueuePosition`, `AgentConnected`, `MaxWait`, `NoAgents`, `QueueFailed`).
//!
//! The service is the agent manager ([`crate::agents::service::AcdQueues`]);
//! [`MusicOnly`] (nothing is ever offered, the caller hears music until the
//! flow's `max_wait`) remains for tests of the rest. How an agent gets
//! connected:
//! 1. The ACD picks an agent; the service looks up the agent's registered
//!    device and sends [`QueueEvent::Offer`] with its URI and flow. The contact
//!    task dials it on the contact's own media session (a new leg, an SDP offer
//!    from the handler, an INVITE through the signalling task), exactly like a
//!    flow `transfer`, and reports the outcome on [`Offer::result`].
//! 2. On the device's `200` the contact reports [`OfferResult::Answered`] and
//!    waits: the ACD decides who gets the contact (ring all; an offer withdrawn
//!    while the `200` was on its way). [`QueueEvent::Connected`] → route
//!    customer ↔ agent on the handler (the music stops on the same call
//!    sequence: one SSRC, no gap), record when [`Offer::record`], tell the flow
//!    `AgentConnected`; [`QueueEvent::Cancel`] → CANCEL a ringing INVITE, or BYE
//!    an answered leg.
//! 3. Both dialogs stay; either side's BYE ends the other, reported once as
//!    [`OfferResult::Ended`] (the agent enters wrap-up).
//! 4. `MaxWait` / `NoAgents` / `Failed` are the flow's matching events;
//!    [`QueueEvent::HangUp`], [`QueueEvent::Hold`] and [`QueueEvent::Request`] come
//!    from the agent's desktop.
//!
//! The contact's media (handler client, session, caller leg) is in
//! [`EnqueueRequest::media`].

use std::time::Duration;

use bandwidth::HandlerId;
use flow::OpId;
use media_api::{LegId, MediaClient, SessionId};
use serde::{Deserialize, Serialize};
use sip::{Flow, Uri};
use tokio::sync::{mpsc, oneshot};
use utoipa::ToSchema;

use crate::call::CallInput;

/// Where a contact's media runs.
#[derive(Clone)]
pub struct MediaRef {
    /// The handler.
    pub handler: HandlerId,
    /// Its client.
    pub client: MediaClient,
    /// The contact's session.
    pub session: SessionId,
    /// The caller's leg.
    pub caller_leg: LegId,
}

/// A contact entering a queue.
pub struct EnqueueRequest {
    /// The contact (its call record id).
    pub contact: String,
    /// The flow's queue entry; echo it in every event.
    pub entry: OpId,
    /// The queue; `None` only with `agent` (a flow's transfer to an agent that named no
    /// queue): the agent's first queue.
    pub queue: Option<String>,
    /// 0–100 (the flow's priority).
    pub priority: i32,
    /// A flow's transfer to this agent (id or SIP user): offered to that agent only; an
    /// unknown or logged-out agent is `NoAgents`.
    pub agent: Option<String>,
    /// Who called.
    pub caller: String,
    /// Where to send what the queue decides.
    pub events: QueueEvents,
    /// The contact's media.
    pub media: MediaRef,
}

/// Why a contact left a queue without a queue event saying so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DequeueReason {
    /// The caller hung up (abandoned).
    CallerHungUp,
    /// The flow moved on (a digit, its own max wait, an error).
    FlowLeft,
}

/// An agent to ring for a queued contact.
#[derive(Debug)]
pub struct Offer {
    /// The agent.
    pub agent: String,
    /// The agent device's URI (a registered contact).
    pub target: Uri,
    /// Where to send the INVITE (the binding's flow, for devices behind NAT).
    pub flow: Flow,
    /// Ring at most this long, then CANCEL.
    pub ring_timeout: Duration,
    /// Record the call once connected (stereo: customer left, agent right).
    pub record: bool,
    /// How the offer ends.
    pub result: mpsc::UnboundedSender<OfferResult>,
}

/// How an offer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferResult {
    /// The agent's device answered (`200`); the contact waits for
    /// [`QueueEvent::Connected`] (bridge) or [`QueueEvent::Cancel`] (hang up).
    Answered,
    /// The device refused (its status) or could not be reached.
    Failed(u16),
    /// Nobody answered within the ring timeout.
    NoAnswer,
    /// The caller hung up meanwhile (the agent's INVITE was cancelled).
    Abandoned,
    /// The connected call ended; `by_agent` tells who hung up.
    Ended {
        /// Whether the agent hung up (else the customer).
        by_agent: bool,
    },
}

/// What a queue tells a contact.
#[derive(Debug)]
pub enum QueueEvent {
    /// The contact's place in line (1 = next) and estimated wait.
    Position {
        /// The entry.
        entry: OpId,
        /// 1 = next.
        position: u32,
        /// Estimated wait.
        estimated_wait: Option<Duration>,
    },
    /// Ring an agent (see the module docs).
    Offer {
        /// The entry.
        entry: OpId,
        /// Whom and how.
        offer: Box<Offer>,
    },
    /// The queue confirmed the agent whose device answered: bridge customer ↔ agent (stop
    /// the music, start the recording if the offer said so) and tell the flow.
    Connected {
        /// The entry.
        entry: OpId,
        /// The agent.
        agent: String,
    },
    /// Stop ringing this agent (CANCEL), or hang its leg up if it answered but the queue
    /// gave the contact to someone else (or took it back).
    Cancel {
        /// The entry.
        entry: OpId,
        /// The agent.
        agent: String,
    },
    /// The agent hung up from its desktop: end both legs.
    HangUp {
        /// The agent.
        agent: String,
    },
    /// The agent put the call on hold (`hold`) or resumed it, from its desktop.
    Hold {
        /// The agent.
        agent: String,
        /// On hold (music to the customer) or back (customer ↔ agent).
        hold: bool,
    },
    /// The agent transferred the call (blind) from its desktop: hang the agent's leg up
    /// without reporting it (the ACD knows), music to the customer, and enqueue again in
    /// `queue` / for `to_agent`. The flow has finished by now; this queue entry's outcome
    /// is the call's own business.
    Transfer {
        /// The transferring agent.
        agent: String,
        /// The queue to wait in.
        queue: Option<String>,
        /// The agent to wait for.
        to_agent: Option<String>,
        /// Or a SIP URI to dial (the caller hears ringback meanwhile).
        uri: Option<String>,
    },
    /// A request of the agent's desktop on its connected call (recording, conference); the
    /// contact answers on the request's reply.
    Request {
        /// The agent.
        agent: String,
        /// What to do, and where to answer.
        request: CallRequest,
    },
    /// The queue's own max wait passed.
    MaxWait {
        /// The entry.
        entry: OpId,
    },
    /// No agent is logged in for the queue.
    NoAgents {
        /// The entry.
        entry: OpId,
    },
    /// The queue refused or lost the contact.
    Failed {
        /// The entry.
        entry: OpId,
        /// Why.
        reason: String,
    },
}

/// An agent's request on its connected call, carried out by the contact, which answers on
/// the request's `reply`.
#[derive(Debug)]
pub enum CallRequest {
    /// Start, stop, pause or resume the call's recording.
    Recording {
        /// What to do.
        action: RecordingAction,
        /// The outcome.
        reply: oneshot::Sender<Result<RecordingView, CallRequestError>>,
    },
    /// Bring a third party into the call, or let it go.
    Conference {
        /// What to do.
        action: ConferenceAction,
        /// The outcome (for `Add`: once the third party answered or failed).
        reply: oneshot::Sender<Result<ConferenceView, CallRequestError>>,
    },
}

impl CallRequest {
    /// Answers the request with an error.
    pub fn refuse(self, e: CallRequestError) {
        match self {
            CallRequest::Recording { reply, .. } => {
                let _ = reply.send(Err(e));
            }
            CallRequest::Conference { reply, .. } => {
                let _ = reply.send(Err(e));
            }
        }
    }
}

/// An agent's conference request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConferenceAction {
    /// Dial `uri` on the contact's session; on answer, customer, agent and the third party
    /// all hear each other (a mix on the media handler).
    Add {
        /// A `sip:` or `sips:` URI.
        uri: String,
    },
    /// Hang the third party up; customer and agent talk on as before.
    Drop,
    /// The agent leaves the customer with the answered third party (consultative
    /// transfer) and enters wrap-up.
    Leave,
}

/// Where a conference stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConferenceState {
    /// The three parties hear each other.
    Connected,
    /// The agent talks to the third party; the customer holds (music).
    Consulting,
    /// The agent left the customer with the third party.
    AgentLeft,
    /// The third party has left (or was let go).
    Ended,
}

/// A contact's conference, as the agent interface shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConferenceView {
    /// The contact (call record).
    pub contact: String,
    /// The third party.
    pub uri: String,
    /// Where it stands after the request.
    pub state: ConferenceState,
}

/// An agent's request on its call's recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingAction {
    /// Record customer (left) and agent (right) as a stereo WAV.
    Start,
    /// Stop the recording the agent started (one the queue or flow requires cannot be).
    Stop,
    /// Write silence instead of the audio (e.g. while a card number is read out); the
    /// recording's timeline stays true.
    Pause,
    /// Record the audio again.
    Resume,
}

impl RecordingAction {
    /// Parses the last path segment of `/api/v1/agents/{id}/recording/{action}`.
    pub fn parse(s: &str) -> Option<RecordingAction> {
        Some(match s {
            "start" => RecordingAction::Start,
            "stop" => RecordingAction::Stop,
            "pause" => RecordingAction::Pause,
            "resume" => RecordingAction::Resume,
            _ => return None,
        })
    }
}

/// Who asked for a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingOwner {
    /// The flow's `record` operation.
    Flow,
    /// The queue records its calls (`record = true`).
    Queue,
    /// The agent, from its desktop.
    Agent,
}

/// Where a call's recording stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Audio is being written.
    Recording,
    /// Silence is being written.
    Paused,
    /// Stopped; the file is being finalized (its length goes to the call record).
    Stopped,
}

/// A call's recording, as the agent interface shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecordingView {
    /// The recording's id (`GET /api/v1/recordings/{id}` downloads it once finished).
    pub id: String,
    /// The contact (call record) it belongs to.
    pub contact: String,
    /// Who asked for it; only an agent's own recording can be stopped by the agent.
    pub owner: RecordingOwner,
    /// Where it stands after the request.
    pub state: RecordingState,
}

/// Why an agent's request on its call was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallRequestError {
    /// No such agent: HTTP 404.
    #[error("no agent {0:?}")]
    UnknownAgent(String),
    /// Not possible in the call's present state (no call, already recording, nothing to
    /// stop ...): HTTP 409.
    #[error("{0}")]
    Conflict(String),
    /// Not the agent's to decide (stopping a recording the queue or flow requires): 403.
    #[error("{0}")]
    Forbidden(String),
    /// The media handler failed the request: 502.
    #[error("media handler: {0}")]
    Media(String),
    /// The party dialled did not answer, refused or could not be reached: 502.
    #[error("{0}")]
    Dial(String),
}

impl CallRequestError {
    /// The HTTP status of this error.
    pub fn http_status(&self) -> u16 {
        match self {
            CallRequestError::UnknownAgent(_) => 404,
            CallRequestError::Conflict(_) => 409,
            CallRequestError::Forbidden(_) => 403,
            CallRequestError::Media(_) | CallRequestError::Dial(_) => 502,
        }
    }
}

/// Sends [`QueueEvent`]s to one contact; cheap to clone.
#[derive(Clone)]
pub struct QueueEvents {
    pub(crate) tx: mpsc::UnboundedSender<CallInput>,
}

impl QueueEvents {
    /// Sends an event; `false` when the contact has ended.
    pub fn send(&self, event: QueueEvent) -> bool {
        self.tx.send(CallInput::Queue(event)).is_ok()
    }
}

/// The queues, as the contact tasks see them.
pub trait QueueService: Send + Sync + 'static {
    /// A contact enters `request.queue`. Must not block.
    fn enqueue(&self, request: EnqueueRequest);
    /// A contact leaves its queue for another reason than a queue event.
    fn dequeue(&self, contact: &str, entry: OpId, reason: DequeueReason);
}

/// No ACD yet: queued callers hear music until the flow's own `max_wait`.
pub struct MusicOnly;

impl QueueService for MusicOnly {
    fn enqueue(&self, request: EnqueueRequest) {
        tracing::info!(contact = %request.contact, queue = ?request.queue, agent = ?request.agent, "queued (music only: no agent manager)");
    }

    fn dequeue(&self, contact: &str, entry: OpId, reason: DequeueReason) {
        tracing::debug!(%contact, %entry, ?reason, "left the queue");
    }
}
