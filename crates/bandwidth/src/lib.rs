//! # `bandwidth`: the bandwidth manager's core
//!
//! The conference controller places every contact on the media handler with the lowest
//! bandwidth load relative to its capacity, and lowers a contact's need before it refuses
//! one (design.md §2, issue 4). This crate is that decision, without I/O: the controller
//! feeds it handler status reports and offers, and gets back placements, refusals and
//! health changes as values. It sits between `sdp` (whose typed view and offer/answer
//! decisions it weighs) and `controller` (which polls handlers, answers INVITEs and keeps
//! the records).
//!
//! - [`estimate()`] / [`estimate_negotiation`]: SDP + [`Services`] → [`Estimate`]: kbit/s
//!   and packets/s per direction with a per-stream breakdown. The model (codec rates,
//!   header overhead, RTCP, SRTP, video, services) is documented in [`estimate`'s
//!   module](mod@crate::estimate).
//! - [`BandwidthManager`]: the handler registry (capacity, state up/draining/down from
//!   status age, measured load), the reservation ledger, selection
//!   ([`BandwidthManager::place`]), degradation before refusal, re-INVITE adjustment,
//!   release, and the [`Explanation`] of every decision.
//!
//! **Architecture Invariant:** no clock, socket, sleep, thread or randomness here: every
//! time-dependent call takes `now: Instant`, and identical inputs give identical
//! decisions (ties are broken by capacity, then handler id).
//!
//! ## Driving it (the controller's side)
//!
//! 1. Register handlers with [`BandwidthManager::add_handler`]; feed each status poll to
//!    [`BandwidthManager::update_status`]; call [`BandwidthManager::tick`] at
//!    [`BandwidthManager::next_deadline`] (or every second) and act on the returned
//!    [`HealthEvent`]s. A handler is down once its last status is 3 s old.
//! 2. For an INVITE: parse the offer, then [`BandwidthManager::place`]. On `Ok`, create
//!    the session on [`Placement::handler`] and answer with
//!    `sdp::build_answer(offer, &placement.negotiation, ports, session)`. On `Err`,
//!    answer [`PlaceError::status_code`] (400/488 for the offer, 503 with
//!    [`PlaceError::retry_after`] when no handler has room).
//! 3. On re-INVITE, [`BandwidthManager::adjust`]; when the flow changes what runs on the
//!    handler, [`BandwidthManager::set_services`]; at the end,
//!    [`BandwidthManager::release`].
//!
//! Capacities and loads are one-way figures in kbit/s: a contact's need is its busier
//! direction, and a handler's `measured_kbps` must be its busier direction too.

pub mod estimate;
mod manager;

pub use estimate::{
    Author, Basis, Estimate, Need, Rate, Services, StreamEstimate, estimate, estimate_negotiation,
};
pub use manager::{
    Attempt, BandwidthManager, Candidate, Config, ContactId, Degradation, Exclusion, Explanation,
    HandlerId, HandlerState, HandlerStatus, HandlerView, HealthEvent, PlaceError, PlaceRequest,
    Placement, Priority, Refusal, RefusalReason, RegistryError, Released, ServiceChange,
};
