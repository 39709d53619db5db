//! The agent manager (ACD): agents, queues, skills, routing strategies, live statistics, and
//! a traffic simulator that runs this same code on a virtual clock.
//!
//! # Place in Switchboard
//!
//! When a call flow reaches `enqueue`, the conference controller hands the contact to the ACD,
//! which decides which agent's phone rings. The controller carries out the ACD's commands over
//! SIP (INVITE to the agent's registered device, CANCEL, bridging on the media handler), reports
//! what the devices and customers did, forwards agents' desktop requests, persists
//! configuration and call records (`crates/store`), and pushes the ACD's statistics on its
//! WebSocket. The ACD itself is **sans-IO**: a synchronous state machine that never reads a
//! clock, never sleeps and never touches a socket. Every entry point takes `now: Instant`;
//! "today" comes from the wall time the driver passes at construction. This makes every
//! decision testable in microseconds and lets [`sim`] push a day of traffic through it in
//! milliseconds.
//!
//! # Model
//!
//! * [`QueueConfig`]: required skills with minimum proficiency, [`Strategy`], ring timeout,
//!   wrap-up, max wait, service-level and short-abandon thresholds, priority, recording flag.
//! * [`AgentConfig`]: name, skills (proficiency 1–10), queues served, optional personal
//!   wrap-up. An agent serves a queue when it lists it *and* meets every required skill.
//! * One [`AgentState`] per agent across all its queues. An offer reserves the agent
//!   ([`AgentState::Ringing`]): the state holds a single contact, so an agent can never be
//!   offered two contacts.
//! * Contacts wait in their queue's line ordered by priority (the queue's, or the contact's
//!   own), then arrival. An agent that becomes available takes, among the queues it serves, the
//!   contact that has waited longest among the highest priority. When several agents are
//!   available, the queue's strategy picks; ties go to the longest idle, then to a per-agent
//!   rank drawn once from the seeded RNG ([`AcdConfig::seed`]).
//! * No answer within the ring timeout: the agent goes not ready ("no answer") and the contact
//!   returns to its original place (ahead of everyone who came after it). Busy or declined:
//!   the agent stays available but is never offered that contact again; the contact goes to
//!   the next agent. Unreachable: the agent goes not ready ("unreachable").
//! * Configuration changes at any time through [`Input::UpsertQueue`],
//!   [`Input::UpsertAgent`], [`Input::RemoveQueue`] and [`Input::RemoveAgent`]; contacts are
//!   never lost: those whose queue loses its last logged-in agent get [`Output::NoAgents`].
//!
//! # Driving it: mutate, then drain
//!
//! After **every** call to [`Acd::handle`] or [`Acd::handle_timeout`], take every output with
//! [`Acd::poll_output`] and carry it out before waiting again; then wait no longer than
//! [`Acd::poll_timeout`]. A refused input ([`AcdError`]) changes nothing and outputs nothing.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use acd::{Acd, AcdConfig, AgentConfig, ContactId, Input, Output, QueueConfig};
//!
//! let t0 = Instant::now(); // in the controller: the tokio clock; in tests: any instant
//! let wall = jiff::Timestamp::from_second(1_714_564_800)?; // wall time at t0 ("today")
//! let mut acd = Acd::new(AcdConfig::default(), t0, wall);
//!
//! // Configuration (from the TOML file, the admin API, or the store at start-up).
//! acd.handle(t0, Input::UpsertQueue(QueueConfig::new("support").requires("english", 3)))?;
//! acd.handle(t0, Input::UpsertAgent(AgentConfig::new("alice").skill("english", 8).serving("support")))?;
//! // Agent desktop: log in, ready.
//! acd.handle(t0, Input::Login { agent: "alice".into(), ready: true })?;
//! // The flow's `enqueue` action.
//! acd.handle(t0, Input::Enqueue { contact: ContactId(1), queue: "support".into(), priority: None, agent: None })?;
//!
//! // Drain: the controller INVITEs alice's phone for contact 1.
//! let mut offered = None;
//! while let Some(output) = acd.poll_output() {
//!     match output {
//!         Output::Offer { agent, contact, .. } => offered = Some((agent, contact)),
//!         Output::Cancel { .. } => { /* CANCEL (or BYE) that agent's leg */ }
//!         Output::Connect { .. } => { /* bridge customer ↔ agent, stop music, record? */ }
//!         Output::MaxWait { .. } | Output::NoAgents { .. } => { /* back to the flow */ }
//!         Output::QueuePosition { .. } => { /* maybe announce */ }
//!         Output::AgentStateChanged { .. } | Output::StatsChanged { .. } => { /* push */ }
//!     }
//! }
//! let (agent, contact) = offered.expect("alice is available");
//!
//! // The phone answers (200 OK) three seconds later.
//! let now = t0 + Duration::from_secs(3);
//! acd.handle(now, Input::AgentAnswered { agent, contact })?;
//! assert!(matches!(acd.poll_output(), Some(Output::Connect { .. })));
//! while acd.poll_output().is_some() {}
//!
//! // Statistics for the wallboard: pull a snapshot when StatsChanged says so.
//! let stats = acd.queue_stats(now, &"support".into()).expect("queue exists");
//! assert_eq!((stats.today.offered, stats.today.answered), (1, 1));
//! assert_eq!(stats.today.asa_seconds, Some(3.0));
//!
//! // Timers (ring timeouts, wrap-up ends, max waits, midnight) fire through handle_timeout;
//! // running it early is harmless. Here the next deadline is midnight UTC, 12 hours away.
//! assert_eq!(acd.poll_timeout(), Some(t0 + Duration::from_secs(12 * 3600)));
//! acd.handle_timeout(now);
//! assert!(acd.poll_output().is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A controller task owns the `Acd` (no locks inside), feeds it SIP results and REST requests
//! as [`Input`]s, arms one timer at [`Acd::poll_timeout`], and maps [`AcdError::kind`] to HTTP
//! statuses. Statistics are attributed to the period in which a contact entered its queue (see
//! [`QueueStats`]); the sliding window also moves without events, so a wallboard should pull
//! [`Acd::queue_stats`] periodically as well as on [`Output::StatsChanged`].
//!
//! **Architecture invariant:** the ACD never does I/O and never reads a clock.

mod config;
mod engine;
pub mod erlang;
mod error;
mod ids;
mod io;
pub mod sim;
mod stats;

pub use config::{
    AcdConfig, AgentConfig, MAX_PROFICIENCY, MIN_PROFICIENCY, QueueConfig, Skills, Strategy,
};
pub use engine::Acd;
pub use error::{AcdError, ErrorKind, InvariantViolation};
pub use ids::{AgentId, ContactId, NotReadyReason, QueueId};
pub use io::{AgentState, CancelReason, ContactStatus, Input, Output, Rejection, StateKind};
pub use stats::{AgentCounts, AgentPeriodStats, AgentStats, PeriodStats, QueueStats};
