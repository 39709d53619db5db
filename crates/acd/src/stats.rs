//! Live statistics: counters kept incrementally on every event, and the snapshot types the
//! controller pushes on its WebSocket.
//!
//! **Attribution.** Every figure of a contact (offered, answered and its wait, abandoned,
//! overflowed, and its handle time once wrap-up ends) belongs to the period in which the contact
//! *entered the queue*. A period therefore always satisfies
//! `offered = answered + abandoned + overflowed + in_queue`, where `in_queue` counts the contacts
//! of that period still waiting or ringing. Periods are: the sliding window (contacts that
//! entered during the last [`AcdConfig::stats_window`](crate::AcdConfig::stats_window)), today
//! (since the last midnight in the configured time zone) and since the ACD started.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::ids::{AgentId, NotReadyReason, QueueId};
use crate::io::{AgentState, StateKind};

/// One fact about a contact, as counted in a period.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fact {
    Offered,
    Answered {
        wait: Duration,
        in_service_level: bool,
    },
    Abandoned {
        wait: Duration,
        short: bool,
    },
    Overflowed,
    Handled {
        talk: Duration,
        hold: Duration,
        wrap: Duration,
    },
}

/// Additive counters of a period (every field only grows, so a window can subtract the
/// contribution of a contact that slides out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub offered: u64,
    pub answered: u64,
    pub answered_in_sl: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub overflowed: u64,
    pub answer_wait: Duration,
    pub abandon_wait: Duration,
    pub max_answer_wait: Duration,
    pub handled: u64,
    pub talk: Duration,
    pub hold: Duration,
    pub wrap: Duration,
}

impl Tally {
    pub fn record(&mut self, fact: Fact) {
        match fact {
            Fact::Offered => self.offered += 1,
            Fact::Answered {
                wait,
                in_service_level,
            } => {
                self.answered += 1;
                self.answered_in_sl += u64::from(in_service_level);
                self.answer_wait += wait;
                self.max_answer_wait = self.max_answer_wait.max(wait);
            }
            Fact::Abandoned { wait, short } => {
                self.abandoned += 1;
                self.short_abandoned += u64::from(short);
                self.abandon_wait += wait;
            }
            Fact::Overflowed => self.overflowed += 1,
            Fact::Handled { talk, hold, wrap } => {
                self.handled += 1;
                self.talk += talk;
                self.hold += hold;
                self.wrap += wrap;
            }
        }
    }

    /// Removes a contribution previously recorded into `self`.
    fn subtract(&mut self, c: &Tally) {
        self.offered -= c.offered;
        self.answered -= c.answered;
        self.answered_in_sl -= c.answered_in_sl;
        self.abandoned -= c.abandoned;
        self.short_abandoned -= c.short_abandoned;
        self.overflowed -= c.overflowed;
        self.answer_wait -= c.answer_wait;
        self.abandon_wait -= c.abandon_wait;
        self.handled -= c.handled;
        self.talk -= c.talk;
        self.hold -= c.hold;
        self.wrap -= c.wrap;
        // A maximum cannot be un-merged; it is recomputed by the window from its records.
    }

    /// Contacts of the period still in the queue.
    pub fn in_queue(&self) -> u64 {
        self.offered - self.answered - self.abandoned - self.overflowed
    }

    pub fn period(&self, sl_threshold: Duration) -> PeriodStats {
        let secs = |d: Duration| d.as_secs_f64();
        let ratio = |num: f64, den: u64| (den > 0).then(|| num / den as f64);
        let sl_base = self.offered - self.short_abandoned;
        PeriodStats {
            offered: self.offered,
            answered: self.answered,
            answered_within_threshold: self.answered_in_sl,
            abandoned: self.abandoned,
            short_abandoned: self.short_abandoned,
            overflowed: self.overflowed,
            in_queue: self.in_queue(),
            handled: self.handled,
            service_level_threshold_seconds: secs(sl_threshold),
            service_level: ratio(self.answered_in_sl as f64, sl_base),
            asa_seconds: ratio(secs(self.answer_wait), self.answered),
            max_answer_wait_seconds: secs(self.max_answer_wait),
            aht_seconds: ratio(secs(self.talk + self.hold + self.wrap), self.handled),
            talk_seconds: secs(self.talk),
            hold_seconds: secs(self.hold),
            wrap_up_seconds: secs(self.wrap),
            abandon_rate: ratio(self.abandoned as f64, self.offered),
        }
    }
}

/// Where a contact's facts go: its record in the sliding window and the day it entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordRef {
    pub seq: u64,
    pub day: u64,
}

#[derive(Debug)]
struct WindowRecord {
    arrival: Instant,
    contribution: Tally,
}

/// The three periods of one queue.
#[derive(Debug)]
pub(crate) struct QueueTallies {
    window_len: Duration,
    window: VecDeque<WindowRecord>,
    window_base: u64,
    window_sum: Tally,
    pub today: Tally,
    pub total: Tally,
    /// Contacts refused at enqueue because no agent was logged in (not counted as offered).
    pub refused_today: u64,
    pub refused_total: u64,
}

impl QueueTallies {
    pub fn new(window_len: Duration) -> Self {
        Self {
            window_len,
            window: VecDeque::new(),
            window_base: 0,
            window_sum: Tally::default(),
            today: Tally::default(),
            total: Tally::default(),
            refused_today: 0,
            refused_total: 0,
        }
    }

    /// Counts a contact entering the queue and returns where its later facts go.
    pub fn offer(&mut self, now: Instant, day: u64) -> RecordRef {
        let seq = self.window_base + self.window.len() as u64;
        let mut contribution = Tally::default();
        contribution.record(Fact::Offered);
        self.window.push_back(WindowRecord {
            arrival: now,
            contribution,
        });
        self.window_sum.record(Fact::Offered);
        self.today.record(Fact::Offered);
        self.total.record(Fact::Offered);
        RecordRef { seq, day }
    }

    /// Counts a later fact of a contact in the periods it still belongs to.
    pub fn record(&mut self, at: RecordRef, current_day: u64, fact: Fact) {
        self.total.record(fact);
        if at.day == current_day {
            self.today.record(fact);
        }
        if let Some(i) = at.seq.checked_sub(self.window_base)
            && let Some(rec) = self.window.get_mut(i as usize)
        {
            rec.contribution.record(fact);
            self.window_sum.record(fact);
        }
    }

    /// Whether a contact's record is still inside the window.
    pub fn in_window(&self, at: RecordRef) -> bool {
        at.seq >= self.window_base
    }

    /// Drops contacts that entered before `now − window`.
    pub fn prune(&mut self, now: Instant) {
        while let Some(front) = self.window.front() {
            if now.saturating_duration_since(front.arrival) < self.window_len {
                break;
            }
            self.window_sum.subtract(&front.contribution);
            self.window.pop_front();
            self.window_base += 1;
        }
        if self.window.is_empty() {
            self.window_sum = Tally::default();
        }
    }

    /// The window's sum (call [`QueueTallies::prune`] first).
    pub fn window(&self) -> Tally {
        let mut sum = self.window_sum;
        sum.max_answer_wait = self
            .window
            .iter()
            .map(|r| r.contribution.max_answer_wait)
            .max()
            .unwrap_or_default();
        sum
    }

    pub fn new_day(&mut self) {
        self.today = Tally::default();
        self.refused_today = 0;
    }
}

/// The figures of one period of a queue.
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodStats {
    /// Contacts that entered the queue.
    pub offered: u64,
    /// Of those, answered by an agent.
    pub answered: u64,
    /// Of those, answered within the service-level threshold (inclusive).
    pub answered_within_threshold: u64,
    /// Of those, abandoned (the customer hung up while waiting or ringing).
    pub abandoned: u64,
    /// Of the abandoned, those quicker than the short-abandon threshold.
    pub short_abandoned: u64,
    /// Of those, gone back to their flow unanswered (max wait, no agents, withdrawn).
    pub overflowed: u64,
    /// Of those, still waiting or ringing.
    pub in_queue: u64,
    /// Answered contacts whose wrap-up has ended (the AHT's denominator).
    pub handled: u64,
    /// The queue's service-level threshold.
    pub service_level_threshold_seconds: f64,
    /// `answered_within_threshold ÷ (offered − short_abandoned)`; `None` when nothing counts.
    pub service_level: Option<f64>,
    /// Average speed of answer: mean wait of the answered contacts.
    pub asa_seconds: Option<f64>,
    /// Longest wait of an answered contact.
    pub max_answer_wait_seconds: f64,
    /// Average handle time: (talk + hold + wrap-up) ÷ handled.
    pub aht_seconds: Option<f64>,
    /// Total talk time of the handled contacts (on call, excluding hold).
    pub talk_seconds: f64,
    /// Total hold time of the handled contacts.
    pub hold_seconds: f64,
    /// Total wrap-up time of the handled contacts.
    pub wrap_up_seconds: f64,
    /// `abandoned ÷ offered`.
    pub abandon_rate: Option<f64>,
}

/// Agents of a queue (those that may serve it) counted by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentCounts {
    /// Logged out.
    pub logged_out: u32,
    /// Available.
    pub available: u32,
    /// Ringing (reserved).
    pub ringing: u32,
    /// On a call.
    pub on_call: u32,
    /// Holding a call.
    pub on_hold: u32,
    /// In wrap-up.
    pub wrap_up: u32,
    /// Not ready.
    pub not_ready: u32,
}

impl AgentCounts {
    pub(crate) fn from_array(counts: &[u32; 7]) -> Self {
        Self {
            logged_out: counts[StateKind::LoggedOut as usize],
            available: counts[StateKind::Available as usize],
            ringing: counts[StateKind::Ringing as usize],
            on_call: counts[StateKind::OnCall as usize],
            on_hold: counts[StateKind::OnHold as usize],
            wrap_up: counts[StateKind::WrapUp as usize],
            not_ready: counts[StateKind::NotReady as usize],
        }
    }

    /// Agents logged in (every state but logged out).
    pub fn logged_in(&self) -> u32 {
        self.available + self.ringing + self.on_call + self.on_hold + self.wrap_up + self.not_ready
    }

    /// Agents logged in and not "not ready": the staff that will take contacts.
    pub fn staffed(&self) -> u32 {
        self.logged_in() - self.not_ready
    }
}

/// A snapshot of one queue: O(1) apart from the sliding window, which costs O(contacts that
/// entered during the window).
#[derive(Clone, Debug, PartialEq)]
pub struct QueueStats {
    /// The queue.
    pub queue: QueueId,
    /// Contacts waiting for an agent (not ringing).
    pub waiting: u64,
    /// Contacts whose offer is ringing.
    pub ringing: u64,
    /// How long the oldest contact still in the queue (waiting or ringing) has waited.
    pub longest_wait_seconds: f64,
    /// Agents that may serve the queue, by state.
    pub agents: AgentCounts,
    /// Contacts that entered during the sliding window (15 minutes by default).
    pub window: PeriodStats,
    /// Contacts that entered today.
    pub today: PeriodStats,
    /// Contacts that entered since the ACD started.
    pub since_start: PeriodStats,
    /// Contacts refused today because no agent was logged in (not part of `offered`).
    pub refused_no_agents_today: u64,
    /// Contacts refused since start because no agent was logged in.
    pub refused_no_agents_total: u64,
}

impl QueueStats {
    /// Waiting contacts (the issue's `waiting`).
    pub fn waiting(&self) -> u64 {
        self.waiting
    }

    /// Today's service level.
    pub fn service_level(&self) -> Option<f64> {
        self.today.service_level
    }
}

/// Per-agent counters of one period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AgentTally {
    pub offers: u64,
    pub answered: u64,
    pub no_answers: u64,
    pub rejections: u64,
    pub handled: u64,
    pub time: [Duration; 7],
}

impl AgentTally {
    pub fn period(&self, current: Option<(StateKind, Duration)>) -> AgentPeriodStats {
        let mut time = self.time;
        if let Some((kind, d)) = current {
            time[kind as usize] += d;
        }
        let secs = |k: StateKind| time[k as usize].as_secs_f64();
        let busy: f64 = StateKind::ALL
            .iter()
            .filter(|k| k.is_busy())
            .map(|&k| secs(k))
            .sum();
        let staffed = busy + secs(StateKind::Available);
        AgentPeriodStats {
            offers: self.offers,
            answered: self.answered,
            no_answers: self.no_answers,
            rejections: self.rejections,
            handled: self.handled,
            available_seconds: secs(StateKind::Available),
            ringing_seconds: secs(StateKind::Ringing),
            talk_seconds: secs(StateKind::OnCall),
            hold_seconds: secs(StateKind::OnHold),
            wrap_up_seconds: secs(StateKind::WrapUp),
            not_ready_seconds: secs(StateKind::NotReady),
            logged_in_seconds: staffed + secs(StateKind::NotReady),
            occupancy: (staffed > 0.0).then(|| busy / staffed),
        }
    }
}

/// Per-agent figures of one period.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentPeriodStats {
    /// Offers rung on the agent's device.
    pub offers: u64,
    /// Offers answered.
    pub answered: u64,
    /// Offers that rang out (the agent went not ready "no answer").
    pub no_answers: u64,
    /// Offers the device rejected (busy, declined, unreachable).
    pub rejections: u64,
    /// Contacts whose wrap-up ended.
    pub handled: u64,
    /// Time available.
    pub available_seconds: f64,
    /// Time ringing.
    pub ringing_seconds: f64,
    /// Time on call (excluding hold).
    pub talk_seconds: f64,
    /// Time holding calls.
    pub hold_seconds: f64,
    /// Time in wrap-up.
    pub wrap_up_seconds: f64,
    /// Time not ready.
    pub not_ready_seconds: f64,
    /// Time logged in.
    pub logged_in_seconds: f64,
    /// (ringing + talk + hold + wrap-up) ÷ (that + available): the share of ready time spent
    /// on contacts; not-ready time is excluded.
    pub occupancy: Option<f64>,
}

/// A snapshot of one agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentStats {
    /// The agent.
    pub agent: AgentId,
    /// Its display name.
    pub name: String,
    /// Its state.
    pub state: AgentState,
    /// When it entered that state.
    pub state_since: Instant,
    /// A "not ready" requested during a call, taking effect after wrap-up.
    pub pending_not_ready: Option<NotReadyReason>,
    /// Queues it serves now (listed and skilled), in configuration order.
    pub queues: Vec<QueueId>,
    /// Since the last midnight.
    pub today: AgentPeriodStats,
    /// Since the ACD started.
    pub since_start: AgentPeriodStats,
}
