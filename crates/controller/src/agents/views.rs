//! The JSON the agent interface and the statistics WebSocket speak, mapped explicitly from
//! the ACD's snapshot types (the core has no serde).

use std::time::Instant;

use acd::{AgentCounts, AgentPeriodStats, AgentState, AgentStats, PeriodStats, QueueStats};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The figures of one period of a queue. Every contact counts in the period in which it
/// entered the queue, so `offered = answered + abandoned + overflowed + in_queue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeriodView {
    /// Contacts that entered the queue.
    pub offered: u64,
    /// Of those, answered by an agent.
    pub answered: u64,
    /// Answered within the service-level threshold.
    pub answered_within_threshold: u64,
    /// The caller hung up while waiting or ringing.
    pub abandoned: u64,
    /// Of the abandoned, quicker than the short-abandon threshold.
    pub short_abandoned: u64,
    /// Went back to the flow unanswered (max wait, no agents, withdrawn).
    pub overflowed: u64,
    /// Still waiting or ringing.
    pub in_queue: u64,
    /// Answered contacts whose wrap-up has ended (the AHT's denominator).
    pub handled: u64,
    /// `answered_within_threshold ÷ (offered − short_abandoned)`; null when nothing counts.
    pub service_level: Option<f64>,
    /// The service-level threshold, seconds.
    pub service_level_threshold_seconds: f64,
    /// Average speed of answer (mean wait of the answered), seconds.
    pub asa_seconds: Option<f64>,
    /// Longest wait of an answered contact, seconds.
    pub max_answer_wait_seconds: f64,
    /// Average handle time: (talk + hold + wrap-up) ÷ handled, seconds.
    pub aht_seconds: Option<f64>,
    /// `abandoned ÷ offered`.
    pub abandon_rate: Option<f64>,
}

impl From<&PeriodStats> for PeriodView {
    fn from(p: &PeriodStats) -> Self {
        PeriodView {
            offered: p.offered,
            answered: p.answered,
            answered_within_threshold: p.answered_within_threshold,
            abandoned: p.abandoned,
            short_abandoned: p.short_abandoned,
            overflowed: p.overflowed,
            in_queue: p.in_queue,
            handled: p.handled,
            service_level: p.service_level,
            service_level_threshold_seconds: p.service_level_threshold_seconds,
            asa_seconds: p.asa_seconds,
            max_answer_wait_seconds: p.max_answer_wait_seconds,
            aht_seconds: p.aht_seconds,
            abandon_rate: p.abandon_rate,
        }
    }
}

/// Agents that may serve a queue, by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentCountsView {
    pub logged_out: u32,
    pub available: u32,
    pub ringing: u32,
    pub on_call: u32,
    pub on_hold: u32,
    pub wrap_up: u32,
    pub not_ready: u32,
}

impl From<&AgentCounts> for AgentCountsView {
    fn from(c: &AgentCounts) -> Self {
        AgentCountsView {
            logged_out: c.logged_out,
            available: c.available,
            ringing: c.ringing,
            on_call: c.on_call,
            on_hold: c.on_hold,
            wrap_up: c.wrap_up,
            not_ready: c.not_ready,
        }
    }
}

/// `GET /api/v1/queues/{id}/stats`: a queue right now. The top-level `offered` … `aht_seconds`
/// are today's figures; `last_15_minutes`, `today` and `since_start` give every figure per
/// period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueStatsView {
    /// The queue.
    pub queue: String,
    /// When this snapshot was taken (RFC 3339).
    pub at: String,
    /// Contacts waiting for an agent (not ringing).
    pub waiting: u64,
    /// Contacts whose offer is ringing.
    pub ringing: u64,
    /// How long the oldest contact still in the queue has waited, seconds.
    pub longest_wait_seconds: f64,
    /// Today: contacts that entered the queue.
    pub offered: u64,
    /// Today: answered.
    pub answered: u64,
    /// Today: abandoned.
    pub abandoned: u64,
    /// Today: service level (null when nothing counts yet).
    pub service_level: Option<f64>,
    /// Today: average speed of answer, seconds.
    pub asa_seconds: Option<f64>,
    /// Today: average handle time, seconds.
    pub aht_seconds: Option<f64>,
    /// Agents serving the queue, by state.
    pub agents: AgentCountsView,
    /// Contacts that entered during the last 15 minutes (a sliding window).
    pub last_15_minutes: PeriodView,
    /// Contacts that entered today (since midnight in the ACD's time zone).
    pub today: PeriodView,
    /// Contacts that entered since the controller started.
    pub since_start: PeriodView,
    /// Contacts refused today because no agent was logged in (not part of `offered`).
    pub refused_no_agents_today: u64,
}

impl QueueStatsView {
    /// Maps an ACD snapshot taken at `wall`.
    pub fn new(s: &QueueStats, wall: Timestamp) -> Self {
        QueueStatsView {
            queue: s.queue.to_string(),
            at: wall.to_string(),
            waiting: s.waiting,
            ringing: s.ringing,
            longest_wait_seconds: s.longest_wait_seconds,
            offered: s.today.offered,
            answered: s.today.answered,
            abandoned: s.today.abandoned,
            service_level: s.today.service_level,
            asa_seconds: s.today.asa_seconds,
            aht_seconds: s.today.aht_seconds,
            agents: (&s.agents).into(),
            last_15_minutes: (&s.window).into(),
            today: (&s.today).into(),
            since_start: (&s.since_start).into(),
            refused_no_agents_today: s.refused_no_agents_today,
        }
    }
}

/// An agent's figures for one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentPeriodView {
    /// Offers rung on the agent's device.
    pub offers: u64,
    /// Offers answered.
    pub answered: u64,
    /// Offers that rang out.
    pub no_answers: u64,
    /// Offers the device refused (busy, declined, unreachable).
    pub rejections: u64,
    /// Contacts whose wrap-up ended.
    pub handled: u64,
    pub available_seconds: f64,
    pub ringing_seconds: f64,
    pub talk_seconds: f64,
    pub hold_seconds: f64,
    pub wrap_up_seconds: f64,
    pub not_ready_seconds: f64,
    pub logged_in_seconds: f64,
    /// Busy time ÷ (busy + available) time.
    pub occupancy: Option<f64>,
}

impl From<&AgentPeriodStats> for AgentPeriodView {
    fn from(p: &AgentPeriodStats) -> Self {
        AgentPeriodView {
            offers: p.offers,
            answered: p.answered,
            no_answers: p.no_answers,
            rejections: p.rejections,
            handled: p.handled,
            available_seconds: p.available_seconds,
            ringing_seconds: p.ringing_seconds,
            talk_seconds: p.talk_seconds,
            hold_seconds: p.hold_seconds,
            wrap_up_seconds: p.wrap_up_seconds,
            not_ready_seconds: p.not_ready_seconds,
            logged_in_seconds: p.logged_in_seconds,
            occupancy: p.occupancy,
        }
    }
}

/// An agent right now (`GET /api/v1/agents/{id}/state`, the answer to every agent request,
/// and the WebSocket's `agent` message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    /// The agent.
    pub agent: String,
    /// Display name.
    pub name: String,
    /// `logged_out`, `available`, `ringing`, `on_call`, `on_hold`, `wrap_up` or `not_ready`.
    pub state: String,
    /// Why the agent is not ready (`no answer`, `unreachable`, `login`, or the agent's own).
    pub reason: Option<String>,
    /// When the agent entered this state (RFC 3339).
    pub state_since: String,
    /// Seconds in this state.
    pub state_seconds: f64,
    /// The call record id of the contact the agent is ringing for, talking to, holding or
    /// wrapping up.
    pub contact: Option<String>,
    /// Ringing: when the ring timeout passes; wrap-up: when it ends (RFC 3339).
    pub until: Option<String>,
    /// A "not ready" asked for during a call, taking effect after wrap-up.
    pub pending_not_ready: Option<String>,
    /// Queues the agent serves now.
    pub queues: Vec<String>,
    /// Since midnight.
    pub today: AgentPeriodView,
}

impl AgentView {
    /// Maps an ACD snapshot taken at `now` (`wall` on the wall clock); `contact` is the call
    /// record id of the state's contact.
    pub fn new(s: &AgentStats, now: Instant, wall: Timestamp, contact: Option<String>) -> Self {
        let at = |i: Instant| wall_at(now, wall, i).to_string();
        let (reason, until) = match &s.state {
            AgentState::NotReady { reason, .. } => (Some(reason.to_string()), None),
            AgentState::Ringing { until, .. } | AgentState::WrapUp { until, .. } => {
                (None, Some(at(*until)))
            }
            _ => (None, None),
        };
        AgentView {
            agent: s.agent.to_string(),
            name: s.name.clone(),
            state: s.state.name().into(),
            reason,
            state_since: at(s.state_since),
            state_seconds: now.saturating_duration_since(s.state_since).as_secs_f64(),
            contact,
            until,
            pending_not_ready: s.pending_not_ready.as_ref().map(|r| r.to_string()),
            queues: s.queues.iter().map(|q| q.to_string()).collect(),
            today: (&s.today).into(),
        }
    }
}

/// The wall time of monotonic instant `i`, given that `now` is `wall`.
pub fn wall_at(now: Instant, wall: Timestamp, i: Instant) -> Timestamp {
    let signed = if i >= now {
        jiff::SignedDuration::try_from(i - now).unwrap_or(jiff::SignedDuration::MAX)
    } else {
        -jiff::SignedDuration::try_from(now - i).unwrap_or(jiff::SignedDuration::MAX)
    };
    wall.checked_add(signed).unwrap_or(wall)
}

/// One message of the statistics WebSocket (`/api/v1/stats/ws`), tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StatsMessage {
    /// Everything, sent first on every connection (and again after a client fell behind).
    Snapshot {
        /// Every queue.
        queues: Vec<QueueStatsView>,
        /// Every agent.
        agents: Vec<AgentView>,
    },
    /// A queue changed (or the periodic refresh of the sliding window).
    Queue(Box<QueueStatsView>),
    /// An agent changed state.
    Agent(Box<AgentView>),
}
