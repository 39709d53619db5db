//! The staffing simulator: the production [`Acd`] driven by synthetic traffic on a virtual
//! clock.
//!
//! A discrete-event loop keeps a priority queue of timed events (arrivals, customers running
//! out of patience, agents answering and hanging up, shifts starting and ending) and merges it
//! with the ACD's own [`Acd::poll_timeout`] (ring timeouts, wrap-up ends, max waits). Time jumps
//! from event to event, so a day of traffic takes milliseconds; nothing sleeps and no clock is
//! read. The ACD is driven exactly as the controller drives it: mutate, then drain.
//!
//! Randomness comes from one seed, split into independent ChaCha streams: one per queue for
//! arrivals, one per queue for each caller's talk time and patience (drawn on arrival). The
//! same callers therefore arrive with the same needs whatever the staffing, which makes
//! what-if comparisons between staffing levels sharp (common random numbers).
//!
//! Simulated agents answer every offer after [`SimConfig::answer_delay`]; an agent that lets an
//! offer ring out (answer delay ≥ ring timeout) becomes ready again after
//! [`SimConfig::not_ready_recovery`]. Connected calls end when the caller's talk time is over;
//! wrap-up then follows the queue's (or the agent group's) configuration.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::config::{AcdConfig, AgentConfig, QueueConfig, Skills};
use crate::engine::Acd;
use crate::error::AcdError;
use crate::ids::{AgentId, ContactId, NotReadyReason, QueueId};
use crate::io::{AgentState, Input, Output, StateKind};
use crate::stats::PeriodStats;

/// How talk times are distributed around their mean.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Distribution {
    /// Exponential (memoryless): the M/M/c assumption behind Erlang C.
    #[default]
    Exponential,
    /// Every call lasts exactly the mean.
    Constant,
    /// Log-normal with the given coefficient of variation (standard deviation ÷ mean), the
    /// usual fit for real handle times.
    LogNormal {
        /// Standard deviation ÷ mean.
        cv: f64,
    },
}

/// One queue's traffic.
#[derive(Clone, Debug)]
pub struct SimQueue {
    /// The queue as the ACD sees it (strategy, wrap-up, thresholds, max wait, ...).
    pub queue: QueueConfig,
    /// Poisson arrival rate per hour, one value per hour of the run; the profile repeats when
    /// the run is longer (24 values make a daily profile). One value means a constant rate.
    pub arrivals_per_hour: Vec<f64>,
    /// Mean talk time (the handle time is talk plus wrap-up).
    pub talk: Duration,
    /// Distribution of talk times.
    pub talk_distribution: Distribution,
    /// Mean patience of callers (exponential); `None`: callers never abandon.
    pub patience: Option<Duration>,
}

/// A group of identical agents.
#[derive(Clone, Debug)]
pub struct SimAgentGroup {
    /// Prefix of the agents' ids (`name-0001`, ...).
    pub name: String,
    /// How many agents.
    pub count: u32,
    /// Their skills.
    pub skills: Skills,
    /// The queues they serve.
    pub queues: Vec<QueueId>,
    /// Personal wrap-up overriding the queue's.
    pub wrap_up: Option<Duration>,
    /// Hour of the run at which they log in.
    pub start_hour: f64,
    /// Hour at which they log out (after finishing their call); `None`: they stay.
    pub end_hour: Option<f64>,
}

/// A whole scenario.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The one seed of the run.
    pub seed: u64,
    /// How long contacts arrive. The run then continues until every contact is resolved.
    pub hours: f64,
    /// The queues and their traffic.
    pub queues: Vec<SimQueue>,
    /// The staff.
    pub agents: Vec<SimAgentGroup>,
    /// How long an agent's device rings before it answers.
    pub answer_delay: Duration,
    /// How long an agent set "not ready (no answer)" takes to become ready again.
    pub not_ready_recovery: Duration,
}

impl SimConfig {
    /// The classic single-queue scenario: `agents` agents serve one queue named `queue` with
    /// Poisson arrivals at `arrivals_per_hour` and exponential talk times of mean `talk`.
    pub fn single_queue(agents: u32, arrivals_per_hour: f64, talk: Duration, hours: f64) -> Self {
        let queue = QueueConfig::new("queue");
        Self {
            seed: 1,
            hours,
            agents: vec![SimAgentGroup {
                name: "agent".into(),
                count: agents,
                skills: Skills::new(),
                queues: vec![queue.id.clone()],
                wrap_up: None,
                start_hour: 0.0,
                end_hour: None,
            }],
            queues: vec![SimQueue {
                queue,
                arrivals_per_hour: vec![arrivals_per_hour],
                talk,
                talk_distribution: Distribution::Exponential,
                patience: None,
            }],
            answer_delay: Duration::ZERO,
            not_ready_recovery: Duration::from_secs(60),
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        let bad = |msg: String| Err(SimError::Config(msg));
        if !(self.hours.is_finite() && self.hours > 0.0) {
            return bad(format!("hours must be positive, not {}", self.hours));
        }
        if self.queues.is_empty() {
            return bad("at least one queue is needed".into());
        }
        for q in &self.queues {
            if q.arrivals_per_hour.is_empty()
                || q.arrivals_per_hour
                    .iter()
                    .any(|r| !(r.is_finite() && *r >= 0.0))
            {
                return bad(format!(
                    "queue {}: arrival rates must be finite and ≥ 0",
                    q.queue.id
                ));
            }
            if let Distribution::LogNormal { cv } = q.talk_distribution
                && !(cv.is_finite() && cv > 0.0)
            {
                return bad(format!(
                    "queue {}: log-normal cv must be positive",
                    q.queue.id
                ));
            }
            if self
                .queues
                .iter()
                .filter(|o| o.queue.id == q.queue.id)
                .count()
                > 1
            {
                return bad(format!("queue {} is defined twice", q.queue.id));
            }
        }
        for g in &self.agents {
            let end_ok = g.end_hour.is_none_or(|e| e.is_finite() && e > g.start_hour);
            if !(g.start_hour.is_finite() && g.start_hour >= 0.0 && end_ok) {
                return bad(format!(
                    "agent group {}: shift hours are inconsistent",
                    g.name
                ));
            }
        }
        Ok(())
    }
}

/// What can stop a simulation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is inconsistent.
    #[error("invalid scenario: {0}")]
    Config(String),
    /// The ACD refused something the simulator did: a bug in one of them.
    #[error("the ACD refused an input: {0}")]
    Acd(#[from] AcdError),
    /// Contacts remain but nothing can resolve them.
    #[error("the simulation cannot finish: {0} contacts remain with nothing left to happen")]
    Stuck(u64),
}

/// The figures of one queue (or of all queues together) over the contacts that arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct SimFigures {
    /// Contacts that entered the queue.
    pub offered: u64,
    /// Contacts answered.
    pub answered: u64,
    /// Contacts abandoned.
    pub abandoned: u64,
    /// Contacts that left unanswered for their flow (max wait, no agents).
    pub overflowed: u64,
    /// Contacts refused at entry because no agent was logged in.
    pub refused: u64,
    /// Answered within the threshold ÷ (offered − short abandons).
    pub service_level: Option<f64>,
    /// Average speed of answer.
    pub asa_seconds: Option<f64>,
    /// Abandoned ÷ offered.
    pub abandon_rate: Option<f64>,
    /// Average handle time (talk + hold + wrap-up).
    pub aht_seconds: Option<f64>,
    /// Longest wait of an answered contact.
    pub max_answer_wait_seconds: f64,
}

/// The result of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct SimReport {
    /// All queues together.
    pub overall: SimFigures,
    /// Each queue, in scenario order.
    pub queues: Vec<(QueueId, SimFigures)>,
    /// Busy time ÷ (busy + available) time over all agents during the arrival hours.
    pub occupancy: Option<f64>,
    /// Agents in the scenario.
    pub agents: u32,
    /// Events processed (simulator events plus ACD timer runs).
    pub events: u64,
    /// Simulated time until the last contact was resolved.
    pub simulated_seconds: f64,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Event {
    Measure,
    ShiftStart(u32),
    ShiftEnd(u32),
    Logout(u32),
    Ready(u32),
    Arrival(u32),
    Answer { agent: u32, offer: u64 },
    HangUp(u64),
    Patience(u64),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    Queued,
    Connected,
    Done,
}

struct SimAgent {
    id: AgentId,
    offer: Option<(u64, ContactId)>,
    leaving: bool,
    kind: StateKind,
}

struct Stream {
    arrivals: ChaCha8Rng,
    callers: ChaCha8Rng,
}

/// Runs a scenario to completion. `epoch` is any instant: the ACD needs `Instant`s, and only
/// differences from `epoch` matter, so the report depends on the scenario and seed alone.
pub fn run(config: &SimConfig, epoch: Instant) -> Result<SimReport, SimError> {
    config.validate()?;
    let mut sim = Sim::new(config, epoch)?;
    sim.run()?;
    sim.report()
}

struct Sim<'a> {
    cfg: &'a SimConfig,
    epoch: Instant,
    acd: Acd,
    heap: BinaryHeap<Reverse<(Duration, u64, Event)>>,
    seq: u64,
    streams: Vec<Stream>,
    callers: Vec<Caller>,
    talk: Vec<Duration>,
    agents: Vec<SimAgent>,
    agent_ix: HashMap<AgentId, u32>,
    offers: u64,
    live: u64,
    wrapping: u64,
    arrivals_pending: u32,
    events: u64,
    end: Duration,
    occupancy: Option<f64>,
    now: Duration,
}

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    // 53 random bits → [0, 1).
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    -mean * (1.0 - uniform(rng)).ln()
}

fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; 1 − u is in (0, 1], so the logarithm is finite.
    let (u1, u2) = (1.0 - uniform(rng), uniform(rng));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn sample(rng: &mut ChaCha8Rng, mean: Duration, dist: Distribution) -> Duration {
    let m = mean.as_secs_f64();
    let secs = match dist {
        Distribution::Exponential => exponential(rng, m),
        Distribution::Constant => m,
        Distribution::LogNormal { cv } => {
            let sigma2 = (1.0 + cv * cv).ln();
            let mu = m.max(f64::MIN_POSITIVE).ln() - sigma2 / 2.0;
            (mu + sigma2.sqrt() * standard_normal(rng)).exp()
        }
    };
    Duration::from_secs_f64(secs.max(0.0))
}

fn hours(h: f64) -> Duration {
    Duration::from_secs_f64(h * 3600.0)
}

impl<'a> Sim<'a> {
    fn new(cfg: &'a SimConfig, epoch: Instant) -> Result<Self, SimError> {
        let acd_cfg = AcdConfig {
            seed: cfg.seed,
            position_updates: false,
            ..AcdConfig::default()
        };
        let acd = Acd::new(acd_cfg, epoch, jiff::Timestamp::UNIX_EPOCH);
        let streams = (0..cfg.queues.len() as u64)
            .map(|i| {
                let mut arrivals = ChaCha8Rng::seed_from_u64(cfg.seed);
                arrivals.set_stream(2 * i + 1);
                let mut callers = ChaCha8Rng::seed_from_u64(cfg.seed);
                callers.set_stream(2 * i + 2);
                Stream { arrivals, callers }
            })
            .collect();
        let mut sim = Sim {
            cfg,
            epoch,
            acd,
            heap: BinaryHeap::new(),
            seq: 0,
            streams,
            callers: Vec::new(),
            talk: Vec::new(),
            agents: Vec::new(),
            agent_ix: HashMap::new(),
            offers: 0,
            live: 0,
            wrapping: 0,
            arrivals_pending: 0,
            events: 0,
            end: hours(cfg.hours),
            occupancy: None,
            now: Duration::ZERO,
        };
        for q in &cfg.queues {
            sim.acd.handle(epoch, Input::UpsertQueue(q.queue.clone()))?;
        }
        for g in &cfg.agents {
            for n in 1..=g.count {
                let id = AgentId::new(format!("{}-{n:04}", g.name));
                let mut agent = AgentConfig::new(id.clone());
                agent.skills = g.skills.clone();
                agent.queues = g.queues.clone();
                agent.wrap_up = g.wrap_up;
                sim.acd.handle(epoch, Input::UpsertAgent(agent))?;
                let i = sim.agents.len() as u32;
                sim.agent_ix.insert(id.clone(), i);
                sim.agents.push(SimAgent {
                    id,
                    offer: None,
                    leaving: false,
                    kind: StateKind::LoggedOut,
                });
                sim.push(hours(g.start_hour), Event::ShiftStart(i));
                if let Some(end) = g.end_hour {
                    sim.push(hours(end), Event::ShiftEnd(i));
                }
            }
        }
        sim.drain()?;
        for q in 0..cfg.queues.len() as u32 {
            sim.schedule_arrival(q, Duration::ZERO);
        }
        sim.push(sim.end, Event::Measure);
        Ok(sim)
    }

    fn push(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, event)));
    }

    fn at(&self, t: Duration) -> Instant {
        self.epoch + t
    }

    /// Schedules queue `q`'s next arrival after `from`, for a rate that is constant within each
    /// hour: draw with the current hour's rate; when the draw crosses into the next hour,
    /// restart from the boundary (exact, since the exponential is memoryless).
    fn schedule_arrival(&mut self, q: u32, from: Duration) {
        let profile = &self.cfg.queues[q as usize].arrivals_per_hour;
        let mut t = from.as_secs_f64();
        let end = self.end.as_secs_f64();
        while t < end {
            let hour = (t / 3600.0).floor();
            let rate = profile[hour as usize % profile.len()];
            let boundary = ((hour + 1.0) * 3600.0).min(end);
            if rate > 0.0 {
                let next = t + exponential(&mut self.streams[q as usize].arrivals, 3600.0 / rate);
                if next < boundary {
                    self.arrivals_pending += 1;
                    self.push(Duration::from_secs_f64(next), Event::Arrival(q));
                    return;
                }
            }
            t = boundary;
        }
    }

    fn run(&mut self) -> Result<(), SimError> {
        // Beyond this, contacts that remain can only be waiting for something that never comes.
        let limit = self.end + Duration::from_secs(366 * 86_400);
        loop {
            if self.arrivals_pending == 0
                && self.live == 0
                && self.wrapping == 0
                && self.occupancy.is_some()
            {
                return Ok(());
            }
            let next_event = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = self
                .acd
                .poll_timeout()
                .map(|i| i.saturating_duration_since(self.epoch));
            let timer_first = match (next_timer, next_event) {
                (Some(t), Some(e)) => t <= e,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return Err(SimError::Stuck(self.live)),
            };
            self.events += 1;
            if timer_first {
                let t = next_timer.expect("invariant: chosen because it exists");
                if t > limit {
                    return Err(SimError::Stuck(self.live));
                }
                self.now = t;
                self.acd.handle_timeout(self.at(t));
            } else {
                let Reverse((t, _, event)) = self
                    .heap
                    .pop()
                    .expect("invariant: chosen because it exists");
                self.now = t;
                self.event(t, event)?;
            }
            self.drain()?;
        }
    }

    fn event(&mut self, t: Duration, event: Event) -> Result<(), SimError> {
        let now = self.at(t);
        match event {
            Event::Measure => self.measure(now),
            Event::ShiftStart(i) => {
                let agent = self.agents[i as usize].id.clone();
                self.acd.handle(now, Input::Login { agent, ready: true })?;
            }
            Event::ShiftEnd(i) => {
                let sa = &mut self.agents[i as usize];
                sa.leaving = true;
                let agent = sa.id.clone();
                match self.acd.agent_state(&agent) {
                    Some(AgentState::Available { .. }) | Some(AgentState::NotReady { .. }) => {
                        self.acd.handle(now, Input::Logout { agent })?;
                    }
                    Some(AgentState::LoggedOut) | None => {}
                    Some(_) => {
                        // Ringing: the offer goes back; on a call: after wrap-up. Either way the
                        // agent ends up not ready, and the drain then logs it out.
                        let reason = NotReadyReason::new("end of shift");
                        self.acd.handle(now, Input::NotReady { agent, reason })?;
                    }
                }
            }
            Event::Logout(i) => {
                let agent = self.agents[i as usize].id.clone();
                if let Some(AgentState::NotReady { .. }) = self.acd.agent_state(&agent) {
                    self.acd.handle(now, Input::Logout { agent })?;
                }
            }
            Event::Ready(i) => {
                let sa = &self.agents[i as usize];
                let agent = sa.id.clone();
                if !sa.leaving
                    && matches!(
                        self.acd.agent_state(&agent),
                        Some(AgentState::NotReady { .. })
                    )
                {
                    self.acd.handle(now, Input::Ready { agent })?;
                }
            }
            Event::Arrival(q) => {
                self.arrivals_pending -= 1;
                let sq = &self.cfg.queues[q as usize];
                let rng = &mut self.streams[q as usize].callers;
                let talk = sample(rng, sq.talk, sq.talk_distribution);
                let patience = sq.patience.map(|p| exponential(rng, p.as_secs_f64()));
                let contact = ContactId(self.callers.len() as u64);
                self.callers.push(Caller::Queued);
                self.talk.push(talk);
                self.live += 1;
                if let Some(p) = patience {
                    self.push(t + Duration::from_secs_f64(p), Event::Patience(contact.0));
                }
                let queue = sq.queue.id.clone();
                self.acd.handle(
                    now,
                    Input::Enqueue {
                        contact,
                        queue,
                        priority: None,
                        agent: None,
                    },
                )?;
                self.schedule_arrival(q, t);
            }
            Event::Answer { agent, offer } => {
                let sa = &self.agents[agent as usize];
                if let Some((o, contact)) = sa.offer
                    && o == offer
                {
                    let agent = sa.id.clone();
                    self.acd
                        .handle(now, Input::AgentAnswered { agent, contact })?;
                }
            }
            Event::HangUp(c) => {
                if self.callers[c as usize] == Caller::Connected {
                    self.resolve(c);
                    self.acd.handle(
                        now,
                        Input::CustomerHungUp {
                            contact: ContactId(c),
                        },
                    )?;
                }
            }
            Event::Patience(c) => {
                if self.callers[c as usize] == Caller::Queued {
                    self.resolve(c);
                    self.acd.handle(
                        now,
                        Input::CustomerHungUp {
                            contact: ContactId(c),
                        },
                    )?;
                }
            }
        }
        Ok(())
    }

    fn index_of(&self, agent: &AgentId) -> u32 {
        *self
            .agent_ix
            .get(agent)
            .expect("invariant: the ACD only names agents the simulator configured")
    }

    fn resolve(&mut self, c: u64) {
        self.callers[c as usize] = Caller::Done;
        self.live -= 1;
    }

    /// Mutate, then drain: reacts to everything the ACD said.
    fn drain(&mut self) -> Result<(), SimError> {
        let t = self.now;
        while let Some(output) = self.acd.poll_output() {
            match output {
                Output::Offer { agent, contact, .. } => {
                    let i = self.index_of(&agent);
                    self.offers += 1;
                    let offer = self.offers;
                    self.agents[i as usize].offer = Some((offer, contact));
                    self.push(t + self.cfg.answer_delay, Event::Answer { agent: i, offer });
                }
                Output::Cancel { agent, .. } => {
                    let i = self.index_of(&agent);
                    self.agents[i as usize].offer = None;
                }
                Output::Connect { agent, contact, .. } => {
                    let i = self.index_of(&agent);
                    self.agents[i as usize].offer = None;
                    self.callers[contact.0 as usize] = Caller::Connected;
                    let talk = self.talk[contact.0 as usize];
                    self.push(t + talk, Event::HangUp(contact.0));
                }
                Output::MaxWait { contact, .. } | Output::NoAgents { contact, .. } => {
                    if self.callers[contact.0 as usize] == Caller::Queued {
                        self.resolve(contact.0);
                    }
                }
                Output::AgentStateChanged { agent, state } => {
                    let i = self.index_of(&agent);
                    let sa = &mut self.agents[i as usize];
                    let kind = state.kind();
                    if sa.kind == StateKind::WrapUp {
                        self.wrapping -= 1;
                    }
                    if kind == StateKind::WrapUp {
                        self.wrapping += 1;
                    }
                    sa.kind = kind;
                    if let AgentState::NotReady { reason, .. } = state {
                        if sa.leaving {
                            self.push(t, Event::Logout(i));
                        } else if reason == NotReadyReason::no_answer()
                            || reason == NotReadyReason::unreachable()
                        {
                            self.push(t + self.cfg.not_ready_recovery, Event::Ready(i));
                        }
                    }
                }
                Output::QueuePosition { .. } | Output::StatsChanged { .. } => {}
            }
        }
        Ok(())
    }

    fn measure(&mut self, now: Instant) {
        let (mut busy, mut ready) = (0.0, 0.0);
        for i in 0..self.agents.len() {
            let id = self.agents[i].id.clone();
            if let Some(s) = self.acd.agent_stats(now, &id) {
                let p = s.since_start;
                let b = p.ringing_seconds + p.talk_seconds + p.hold_seconds + p.wrap_up_seconds;
                busy += b;
                ready += b + p.available_seconds;
            }
        }
        self.occupancy = Some(if ready > 0.0 { busy / ready } else { 0.0 });
    }

    fn report(&mut self) -> Result<SimReport, SimError> {
        let now = self.at(self.now);
        let mut queues = Vec::new();
        let mut all = Vec::new();
        for q in &self.cfg.queues {
            let stats = self
                .acd
                .queue_stats(now, &q.queue.id)
                .ok_or_else(|| SimError::Config(format!("queue {} vanished", q.queue.id)))?;
            let refused = stats.refused_no_agents_total;
            queues.push((
                q.queue.id.clone(),
                figures(&[(&stats.since_start, refused)]),
            ));
            all.push((stats.since_start, refused));
        }
        let refs: Vec<(&PeriodStats, u64)> = all.iter().map(|(p, r)| (p, *r)).collect();
        Ok(SimReport {
            overall: figures(&refs),
            queues,
            occupancy: self.occupancy,
            agents: self.agents.len() as u32,
            events: self.events,
            simulated_seconds: self.now.as_secs_f64(),
        })
    }
}

/// Combines the since-start figures of several queues.
fn figures(parts: &[(&PeriodStats, u64)]) -> SimFigures {
    let sum = |f: fn(&PeriodStats) -> u64| parts.iter().map(|(p, _)| f(p)).sum::<u64>();
    let offered = sum(|p| p.offered);
    let answered = sum(|p| p.answered);
    let abandoned = sum(|p| p.abandoned);
    let handled = sum(|p| p.handled);
    let sl_base = offered - sum(|p| p.short_abandoned);
    let ratio = |num: f64, den: u64| (den > 0).then(|| num / den as f64);
    let weighted = |f: fn(&PeriodStats) -> Option<f64>, w: fn(&PeriodStats) -> u64| {
        parts
            .iter()
            .map(|(p, _)| f(p).unwrap_or(0.0) * w(p) as f64)
            .sum::<f64>()
    };
    SimFigures {
        offered,
        answered,
        abandoned,
        overflowed: sum(|p| p.overflowed),
        refused: parts.iter().map(|(_, r)| r).sum(),
        service_level: ratio(sum(|p| p.answered_within_threshold) as f64, sl_base),
        asa_seconds: ratio(weighted(|p| p.asa_seconds, |p| p.answered), answered),
        abandon_rate: ratio(abandoned as f64, offered),
        aht_seconds: ratio(weighted(|p| p.aht_seconds, |p| p.handled), handled),
        max_answer_wait_seconds: parts
            .iter()
            .map(|(p, _)| p.max_answer_wait_seconds)
            .fold(0.0, f64::max),
    }
}
