//! **The seam where the agent manager (ACD) plugs in.**
//!
//! A flow's `enqueue` reaches the controller as `flow::Command::Enqueue`; the
//! contact task hands it to the [`QueueService`] it was given and carries on:
//! the flow engine itself plays the greeting and the music, announces, and
//! applies the flow's own `max_wait`. What the queue decides comes back into
//! the contact task as [`QueueEvent`]s sent through the request's
//! [`QueueEvents`] handle, and the contact task feeds them to its flow
//! (`QueuePosition`, `AgentConnected`, `MaxWait`, `NoAgents`, `QueueFailed`).
//!
//! Until the ACD is wired (issue 6), [`MusicOnly`] is the service: nothing is
//! offered to anyone, the caller hears music until the flow's `max_wait`.
//!
//! For the ACD engineer — how an agent gets connected:
//! 1. The agent-manager task owns `acd::Acd` (sans-IO) and implements
//!    [`QueueService`] by sending `Input::Enqueue` / `Input::Abandon` to it.
//! 2. On `acd::Output::Offer`, look up the agent's registered devices with
//!    [`crate::signalling::Signalling::lookup`] and send the contact
//!    [`QueueEvent::Offer`] with the agent's target URI and flow. The contact
//!    task dials it on the contact's own media session (a new leg, an SDP offer
//!    from the handler, an INVITE through the signalling task), exactly like a
//!    flow `transfer`, and reports the outcome on `Offer::result`.
//! 3. When the agent answers, the contact task routes customer ↔ agent on the
//!    handler (stopping the music on the same call sequence: one SSRC, no
//!    gap), tells the flow `AgentConnected`, and keeps both dialogs: either
//!    side's BYE ends the other (report that to the ACD for wrap-up via the
//!    `result` channel's `OfferResult::Ended`).
//! 4. `MaxWait` / `NoAgents` from the ACD are sent as the matching events.
//!
//! The contact's media (handler client, session, caller leg) is in
//! [`EnqueueRequest::media`], for services that need to act on it directly
//! (e.g. start a stereo recording once an agent is connected).

use std::time::Duration;

use bandwidth::HandlerId;
use flow::OpId;
use media_api::{LegId, MediaClient, SessionId};
use sip::{Flow, Uri};
use tokio::sync::mpsc;

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
    /// The queue.
    pub queue: String,
    /// 0–100 (the flow's priority).
    pub priority: i32,
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
    /// How the offer ends.
    pub result: mpsc::UnboundedSender<OfferResult>,
}

/// How an offer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferResult {
    /// The agent answered and is connected to the caller.
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
        tracing::info!(contact = %request.contact, queue = %request.queue, "queued (music only: no agent manager)");
    }

    fn dequeue(&self, contact: &str, entry: OpId, reason: DequeueReason) {
        tracing::debug!(%contact, %entry, ?reason, "left the queue");
    }
}
