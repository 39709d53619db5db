//! The agent manager itself: [`Acd`].
//!
//! Data structures, chosen so that no event scans all agents or all contacts:
//!
//! * each queue keeps its **line** of waiting contacts in a `BTreeMap` ordered by
//!   (priority descending, arrival sequence), so the head is the contact to serve next;
//! * each queue keeps its **available** eligible agents in a `BTreeSet` ordered by the
//!   queue's strategy key, then idle-since, then the agent's seeded rank, so picking an agent
//!   is O(log n) (agents in several queues are in several sets);
//! * an agent becoming available looks only at the heads of the queues it serves;
//! * timers live in one ordered set of `(deadline, timer)`, removed exactly when their
//!   reason disappears, so [`Acd::poll_timeout`] is always the true next deadline.
//!
//! **Architecture invariant:** the ACD never reads a clock, never sleeps and never does I/O.
//! Every entry point takes `now`; "today" comes from the wall time the driver passes.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::config::{AcdConfig, AgentConfig, QueueConfig, Strategy};
use crate::error::{AcdError, InvariantViolation};
use crate::ids::{AgentId, ContactId, NotReadyReason, QueueId};
use crate::io::{AgentState, CancelReason, ContactStatus, Input, Output, Rejection, StateKind};
use crate::stats::{
    AgentCounts, AgentStats, AgentTally, Fact, QueueStats, QueueTallies, RecordRef,
};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct AgentIdx(u32);

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct QueueIdx(u32);

/// Place in a line: higher priority first, then earlier arrival (sequence numbers grow with
/// time because `now` never goes backwards inside the ACD).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct LineKey {
    priority: Reverse<i32>,
    seq: u64,
}

/// Place in a queue's set of available agents: the strategy's key, then longest idle, then
/// the seeded rank, then the index (which makes keys unique).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct AvailKey {
    primary: u64,
    idle_since: Duration,
    rank: u64,
    agent: AgentIdx,
}

/// The named timers. At equal deadlines they run in this order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Timer {
    /// The configured time zone's midnight: "today" starts over.
    Midnight,
    /// An agent's wrap-up ends.
    WrapUp(AgentIdx),
    /// A contact's offer rang out.
    Ring(ContactId),
    /// A contact waited past its queue's max wait.
    MaxWait(ContactId),
}

#[derive(Debug)]
struct Membership {
    queue: QueueIdx,
    member_no: u64,
    calls: u64,
    skill_score: u64,
}

/// The contact an agent is handling, from answer to the end of wrap-up.
#[derive(Debug)]
struct Work {
    contact: ContactId,
    queue: QueueIdx,
    record: RecordRef,
    answered_at: Instant,
    hold: Duration,
    hold_since: Option<Instant>,
    ended_at: Option<Instant>,
}

#[derive(Debug)]
struct Agent {
    cfg: AgentConfig,
    state: AgentState,
    state_since: Instant,
    /// When the agent last became available; restored when an offer fails through no fault
    /// of the agent's idleness (cancelled, busy, declined).
    idle_since: Instant,
    rank: u64,
    memberships: Vec<Membership>,
    /// The keys under which the agent sits in its queues' available sets (only while
    /// available), so removal never depends on recomputing them.
    avail_keys: Vec<(QueueIdx, AvailKey)>,
    calls_by_queue: HashMap<QueueIdx, u64>,
    pending_not_ready: Option<NotReadyReason>,
    work: Option<Work>,
    today: AgentTally,
    total: AgentTally,
    accounted_at: Instant,
}

impl Agent {
    fn accrue(&mut self, until: Instant) {
        let d = until.saturating_duration_since(self.accounted_at);
        let k = self.state.kind() as usize;
        self.today.time[k] += d;
        self.total.time[k] += d;
        self.accounted_at = self.accounted_at.max(until);
    }
}

#[derive(Debug)]
enum ContactState {
    Waiting,
    Ringing {
        agents: Vec<AgentIdx>,
        until: Instant,
    },
    Connected {
        agent: AgentIdx,
    },
}

#[derive(Debug)]
struct Contact {
    queue: QueueIdx,
    queue_id: QueueId,
    priority: i32,
    priority_override: bool,
    seq: u64,
    enqueued_at: Instant,
    state: ContactState,
    /// Agents that were busy or declined: never offered this contact again.
    excluded: Vec<AgentIdx>,
    /// A transfer to this agent: offered to nobody else.
    target: Option<AgentIdx>,
    max_wait_at: Option<Instant>,
    /// Max wait passed while ringing: leave the queue if the offer fails.
    max_wait_due: bool,
    record: RecordRef,
    /// Last position announced (0: none).
    position: u32,
}

impl Contact {
    /// Whether `a` may be offered this contact (not excluded; the target, if any).
    fn may_offer(&self, a: AgentIdx) -> bool {
        !self.excluded.contains(&a) && self.target.is_none_or(|t| t == a)
    }

    fn line_key(&self) -> LineKey {
        LineKey {
            priority: Reverse(self.priority),
            seq: self.seq,
        }
    }
}

#[derive(Debug)]
struct Queue {
    cfg: QueueConfig,
    line: BTreeMap<LineKey, ContactId>,
    /// Contacts waiting or ringing, by arrival: the first is the longest waiting.
    present: BTreeMap<u64, Instant>,
    ringing: u64,
    available: BTreeSet<AvailKey>,
    member_nos: HashMap<AgentIdx, u64>,
    next_member_no: u64,
    members: u32,
    counts: [u32; 7],
    rr_last: Option<u64>,
    stats: QueueTallies,
    dirty: bool,
    line_dirty: bool,
}

impl Queue {
    fn logged_in(&self) -> u32 {
        self.members - self.counts[StateKind::LoggedOut as usize]
    }
}

/// How a contact leaves its queue unanswered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leave {
    Abandoned,
    MaxWait,
    NoAgents,
    Withdrawn,
}

#[derive(Debug)]
struct DayClock {
    tz: jiff::tz::TimeZone,
    anchor: Instant,
    anchor_wall: jiff::Timestamp,
    day: u64,
    next_midnight: Option<Instant>,
}

impl DayClock {
    /// The first midnight (in the time zone) strictly after `at`, as an `Instant`.
    fn midnight_after(&self, at: Instant) -> Option<Instant> {
        let wall = if at >= self.anchor {
            self.anchor_wall.checked_add(at - self.anchor).ok()?
        } else {
            self.anchor_wall.checked_sub(self.anchor - at).ok()?
        };
        let next = wall
            .to_zoned_datetime(self.tz.clone())
            .tomorrow()
            .ok()?
            .start_of_day()
            .ok()?;
        let ahead = Duration::try_from(wall.duration_until(next.timestamp())).ok()?;
        at.checked_add(ahead)
    }
}

/// The agent manager: a sans-IO state machine.
///
/// Drive it by **mutate, then drain**: after every [`Acd::handle`] or [`Acd::handle_timeout`],
/// take every [`Output`] with [`Acd::poll_output`] before waiting again, and sleep no longer
/// than [`Acd::poll_timeout`]. See the crate documentation for a driver.
#[derive(Debug)]
pub struct Acd {
    cfg: AcdConfig,
    rng: ChaCha8Rng,
    epoch: Instant,
    now: Instant,
    agents: Vec<Option<Agent>>,
    agent_ix: HashMap<AgentId, AgentIdx>,
    queues: Vec<Option<Queue>>,
    queue_ix: HashMap<QueueId, QueueIdx>,
    contacts: HashMap<ContactId, Contact>,
    timers: BTreeSet<(Instant, Timer)>,
    outputs: VecDeque<Output>,
    next_seq: u64,
    day: DayClock,
    dirty: Vec<QueueIdx>,
}

fn invalid(agent: &Agent, request: &'static str) -> AcdError {
    AcdError::InvalidTransition {
        agent: agent.cfg.id.clone(),
        state: agent.state.name(),
        request,
    }
}

impl Acd {
    /// Creates an empty ACD. `now` and `wall` are the same moment on the monotonic clock and
    /// on the wall clock: the wall time only decides where "today" starts (see
    /// [`Acd::set_wall_clock`]).
    pub fn new(config: AcdConfig, now: Instant, wall: jiff::Timestamp) -> Self {
        let mut day = DayClock {
            tz: config.time_zone.clone(),
            anchor: now,
            anchor_wall: wall,
            day: 0,
            next_midnight: None,
        };
        day.next_midnight = day.midnight_after(now);
        let mut timers = BTreeSet::new();
        if let Some(m) = day.next_midnight {
            timers.insert((m, Timer::Midnight));
        }
        Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            cfg: config,
            epoch: now,
            now,
            agents: Vec::new(),
            agent_ix: HashMap::new(),
            queues: Vec::new(),
            queue_ix: HashMap::new(),
            contacts: HashMap::new(),
            timers,
            outputs: VecDeque::new(),
            next_seq: 0,
            day,
            dirty: Vec::new(),
        }
    }

    /// Re-anchors the wall clock (e.g. after the host's clock was corrected): `wall` is the
    /// wall time at `now`. The next midnight is recomputed from it.
    pub fn set_wall_clock(&mut self, now: Instant, wall: jiff::Timestamp) {
        let now = self.advance(now);
        self.day.anchor = now;
        self.day.anchor_wall = wall;
        if let Some(m) = self.day.next_midnight.take() {
            self.timers.remove(&(m, Timer::Midnight));
        }
        self.day.next_midnight = self.day.midnight_after(now);
        if let Some(m) = self.day.next_midnight {
            self.timers.insert((m, Timer::Midnight));
        }
    }

    // ----------------------------------------------------------------------------------
    // Driving
    // ----------------------------------------------------------------------------------

    /// Feeds one input at `now`. On error nothing changed and nothing was output.
    ///
    /// `now` must not go backwards; an earlier `now` is treated as the latest one seen.
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), AcdError> {
        let now = self.advance(now);
        let result = match input {
            Input::UpsertQueue(cfg) => self.upsert_queue(now, cfg),
            Input::RemoveQueue(id) => self.remove_queue(now, &id),
            Input::UpsertAgent(cfg) => self.upsert_agent(now, cfg),
            Input::RemoveAgent(id) => self.remove_agent(now, &id),
            Input::Enqueue {
                contact,
                queue,
                priority,
                agent,
            } => self.enqueue(now, contact, &queue, priority, agent.as_ref()),
            Input::Withdraw { contact } => self.withdraw(now, contact),
            Input::CustomerHungUp { contact } => self.customer_hung_up(now, contact),
            Input::AgentAnswered { agent, contact } => self.agent_answered(now, &agent, contact),
            Input::OfferRejected {
                agent,
                contact,
                reason,
            } => self.offer_rejected(now, &agent, contact, reason),
            Input::AgentHungUp { agent } => self.agent_hung_up(now, &agent),
            Input::Login { agent, ready } => self.login(now, &agent, ready),
            Input::Logout { agent } => self.logout(now, &agent),
            Input::Ready { agent } => self.ready(now, &agent),
            Input::NotReady { agent, reason } => self.not_ready(now, &agent, reason),
            Input::Hold { agent } => self.hold(now, &agent, true),
            Input::Unhold { agent } => self.hold(now, &agent, false),
            Input::FinishWrapUp { agent } => self.finish_wrap_up(now, &agent),
        };
        self.finish(now);
        result
    }

    /// Runs every timer due at `now` (ring timeouts, wrap-up ends, max waits, midnight).
    /// Calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            match timer {
                // `advance` already started the new day.
                Timer::Midnight => {}
                Timer::WrapUp(a) => {
                    debug_assert!(matches!(self.agent(a).state, AgentState::WrapUp { .. }));
                    self.finish_work(now, a, true);
                }
                Timer::Ring(c) => self.ring_timeout(now, c),
                Timer::MaxWait(c) => self.max_wait_reached(now, c),
            }
        }
        self.finish(now);
    }

    /// The next deadline at which [`Acd::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// The next output, oldest first. Drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    // ----------------------------------------------------------------------------------
    // Queries
    // ----------------------------------------------------------------------------------

    /// An agent's state.
    pub fn agent_state(&self, agent: &AgentId) -> Option<&AgentState> {
        self.agent_ix.get(agent).map(|&a| &self.agent(a).state)
    }

    /// Every configured agent, in no particular order.
    pub fn agent_ids(&self) -> impl Iterator<Item = &AgentId> {
        self.agent_ix.keys()
    }

    /// Every configured queue, in no particular order.
    pub fn queue_ids(&self) -> impl Iterator<Item = &QueueId> {
        self.queue_ix.keys()
    }

    /// A queue's configuration.
    pub fn queue_config(&self, queue: &QueueId) -> Option<&QueueConfig> {
        self.queue_ix.get(queue).map(|&q| &self.queue(q).cfg)
    }

    /// An agent's configuration.
    pub fn agent_config(&self, agent: &AgentId) -> Option<&AgentConfig> {
        self.agent_ix.get(agent).map(|&a| &self.agent(a).cfg)
    }

    /// The contacts waiting (not ringing) in a queue, next first.
    pub fn waiting_contacts(&self, queue: &QueueId) -> Option<Vec<ContactId>> {
        let q = *self.queue_ix.get(queue)?;
        Some(self.queue(q).line.values().copied().collect())
    }

    /// Where a contact is: its position and estimated wait while waiting (for the flow's
    /// announcements), its ringing agents, or its agent. `None` if the ACD does not hold it.
    /// Costs O(position).
    pub fn contact_status(&self, now: Instant, contact: ContactId) -> Option<ContactStatus> {
        let c = self.contacts.get(&contact)?;
        Some(match &c.state {
            ContactState::Waiting => {
                let queue = self.queue(c.queue);
                let position = queue.line.range(..c.line_key()).count() as u32 + 1;
                let staffed = AgentCounts::from_array(&queue.counts).staffed();
                let aht = [queue.stats.window(), queue.stats.today, queue.stats.total]
                    .iter()
                    .find(|t| t.handled > 0)
                    .map(|t| (t.talk + t.hold + t.wrap) / t.handled as u32);
                let estimated_wait = match (aht, staffed) {
                    (Some(aht), n) if n > 0 => {
                        Some(aht.mul_f64(f64::from(position) / f64::from(n)))
                    }
                    _ => None,
                };
                ContactStatus::Waiting {
                    queue: c.queue_id.clone(),
                    position,
                    waited: now.saturating_duration_since(c.enqueued_at),
                    estimated_wait,
                }
            }
            ContactState::Ringing { agents, .. } => ContactStatus::Ringing {
                queue: c.queue_id.clone(),
                agents: agents
                    .iter()
                    .map(|&a| self.agent(a).cfg.id.clone())
                    .collect(),
            },
            ContactState::Connected { agent } => ContactStatus::Connected {
                queue: c.queue_id.clone(),
                agent: self.agent(*agent).cfg.id.clone(),
            },
        })
    }

    /// A snapshot of a queue's statistics at `now`.
    pub fn queue_stats(&mut self, now: Instant, queue: &QueueId) -> Option<QueueStats> {
        let q = *self.queue_ix.get(queue)?;
        let now = self.advance(now);
        let queue = self.queue_mut(q);
        queue.stats.prune(now);
        let threshold = queue.cfg.service_level_threshold;
        Some(QueueStats {
            queue: queue.cfg.id.clone(),
            waiting: queue.line.len() as u64,
            ringing: queue.ringing,
            longest_wait_seconds: queue.present.first_key_value().map_or(0.0, |(_, &t)| {
                now.saturating_duration_since(t).as_secs_f64()
            }),
            agents: AgentCounts::from_array(&queue.counts),
            window: queue.stats.window().period(threshold),
            today: queue.stats.today.period(threshold),
            since_start: queue.stats.total.period(threshold),
            refused_no_agents_today: queue.stats.refused_today,
            refused_no_agents_total: queue.stats.refused_total,
        })
    }

    /// A snapshot of an agent at `now` (times include the current state so far).
    pub fn agent_stats(&mut self, now: Instant, agent: &AgentId) -> Option<AgentStats> {
        let a = *self.agent_ix.get(agent)?;
        let now = self.advance(now);
        let agent = self.agent(a);
        let current = Some((
            agent.state.kind(),
            now.saturating_duration_since(agent.accounted_at),
        ));
        Some(AgentStats {
            agent: agent.cfg.id.clone(),
            name: agent.cfg.name.clone(),
            state: agent.state.clone(),
            state_since: agent.state_since,
            pending_not_ready: agent.pending_not_ready.clone(),
            queues: agent
                .memberships
                .iter()
                .map(|m| self.queue(m.queue).cfg.id.clone())
                .collect(),
            today: agent.today.period(current),
            since_start: agent.total.period(current),
        })
    }

    // ----------------------------------------------------------------------------------
    // Audit
    // ----------------------------------------------------------------------------------

    /// Checks every internal invariant (indexes, available sets, counts, lines, timers,
    /// statistics, and that no waiting contact could be offered to an available agent).
    /// O(everything): for tests, simulations and debugging, not for every event.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let fail = |msg: String| Err(InvariantViolation(msg));
        for (id, &a) in &self.agent_ix {
            match self.agents[a.0 as usize].as_ref() {
                Some(agent) if agent.cfg.id == *id => {}
                _ => return fail(format!("agent index {id} points to a wrong slot")),
            }
        }
        if self.agents.iter().flatten().count() != self.agent_ix.len() {
            return fail("an agent slot is not indexed".into());
        }
        for (id, &q) in &self.queue_ix {
            match self.queues[q.0 as usize].as_ref() {
                Some(queue) if queue.cfg.id == *id => {}
                _ => return fail(format!("queue index {id} points to a wrong slot")),
            }
        }
        if self.queues.iter().flatten().count() != self.queue_ix.len() {
            return fail("a queue slot is not indexed".into());
        }
        let timer_at = |t: Timer, at: Instant| self.timers.contains(&(at, t));

        for (i, agent) in self.agents.iter().enumerate() {
            let Some(agent) = agent else { continue };
            let a = AgentIdx(i as u32);
            let id = &agent.cfg.id;
            // Memberships are exactly the listed queues whose skills the agent meets.
            let mut expected: Vec<QueueIdx> = Vec::new();
            for qid in &agent.cfg.queues {
                if let Some(&q) = self.queue_ix.get(qid)
                    && !expected.contains(&q)
                    && agent.cfg.may_serve(&self.queue(q).cfg)
                {
                    expected.push(q);
                }
            }
            let actual: Vec<QueueIdx> = agent.memberships.iter().map(|m| m.queue).collect();
            if actual != expected {
                return fail(format!(
                    "agent {id}: memberships {actual:?}, expected {expected:?}"
                ));
            }
            let available = matches!(agent.state, AgentState::Available { .. });
            let want_keys = if available {
                agent.memberships.len()
            } else {
                0
            };
            if agent.avail_keys.len() != want_keys {
                return fail(format!(
                    "agent {id}: {} available keys",
                    agent.avail_keys.len()
                ));
            }
            for (q, key) in &agent.avail_keys {
                if key.agent != a || !self.queue(*q).available.contains(key) {
                    return fail(format!("agent {id}: key missing from queue set"));
                }
            }
            if agent.pending_not_ready.is_some()
                && !matches!(
                    agent.state,
                    AgentState::OnCall { .. }
                        | AgentState::OnHold { .. }
                        | AgentState::WrapUp { .. }
                )
            {
                return fail(format!(
                    "agent {id}: pending not ready while {}",
                    agent.state.name()
                ));
            }
            match &agent.state {
                AgentState::Ringing { contact, until } => match self.contacts.get(contact) {
                    Some(Contact {
                        state: ContactState::Ringing { agents, until: u },
                        ..
                    }) if agents.contains(&a) && u == until => {}
                    _ => {
                        return fail(format!(
                            "agent {id} rings for {contact}, which is not ringing it"
                        ));
                    }
                },
                AgentState::OnCall { contact, .. } | AgentState::OnHold { contact, .. } => {
                    match self.contacts.get(contact) {
                        Some(Contact {
                            state: ContactState::Connected { agent: b },
                            ..
                        }) if *b == a => {}
                        _ => {
                            return fail(format!(
                                "agent {id} talks to {contact}, not connected to it"
                            ));
                        }
                    }
                    let held = matches!(agent.state, AgentState::OnHold { .. });
                    match &agent.work {
                        Some(w) if w.contact == *contact && w.hold_since.is_some() == held => {}
                        _ => return fail(format!("agent {id}: work does not match its call")),
                    }
                }
                AgentState::WrapUp { contact, until } => {
                    if !timer_at(Timer::WrapUp(a), *until) {
                        return fail(format!("agent {id}: wrap-up without timer"));
                    }
                    match &agent.work {
                        Some(w) if w.contact == *contact && w.ended_at.is_some() => {}
                        _ => return fail(format!("agent {id}: wrap-up without ended work")),
                    }
                    if self.contacts.contains_key(contact) {
                        return fail(format!("agent {id}: wraps up {contact}, still held"));
                    }
                }
                _ => {
                    if agent.work.is_some() {
                        return fail(format!("agent {id}: work while {}", agent.state.name()));
                    }
                }
            }
        }

        for (i, queue) in self.queues.iter().enumerate() {
            let Some(queue) = queue else { continue };
            let q = QueueIdx(i as u32);
            let qid = &queue.cfg.id;
            for key in &queue.available {
                match self.agents[key.agent.0 as usize].as_ref() {
                    Some(agent) if agent.avail_keys.contains(&(q, *key)) => {}
                    _ => return fail(format!("queue {qid}: stale available key")),
                }
            }
            let mut counts = [0u32; 7];
            let mut members = 0;
            for agent in self.agents.iter().flatten() {
                if agent.memberships.iter().any(|m| m.queue == q) {
                    counts[agent.state.kind() as usize] += 1;
                    members += 1;
                }
            }
            if counts != queue.counts || members != queue.members {
                return fail(format!(
                    "queue {qid}: counts {:?} != {counts:?}",
                    queue.counts
                ));
            }
            for (key, cid) in &queue.line {
                match self.contacts.get(cid) {
                    Some(c)
                        if c.queue == q
                            && c.line_key() == *key
                            && matches!(c.state, ContactState::Waiting) => {}
                    _ => return fail(format!("queue {qid}: line entry {cid} is not waiting here")),
                }
            }
            let mut present: Vec<u64> = Vec::new();
            let (mut ringing, mut today, mut window) = (0u64, 0u64, 0u64);
            for c in self.contacts.values().filter(|c| c.queue == q) {
                match c.state {
                    ContactState::Connected { .. } => continue,
                    ContactState::Ringing { .. } => ringing += 1,
                    ContactState::Waiting => {}
                }
                present.push(c.seq);
                today += u64::from(c.record.day == self.day.day);
                window += u64::from(queue.stats.in_window(c.record));
            }
            present.sort_unstable();
            let listed: Vec<u64> = queue.present.keys().copied().collect();
            if present != listed || ringing != queue.ringing {
                return fail(format!("queue {qid}: present/ringing contacts disagree"));
            }
            if queue.line.len() as u64 + ringing != present.len() as u64 {
                return fail(format!(
                    "queue {qid}: waiting contacts missing from the line"
                ));
            }
            let tallies = [
                (
                    "since start",
                    queue.stats.total.in_queue(),
                    present.len() as u64,
                ),
                ("today", queue.stats.today.in_queue(), today),
                ("window", queue.stats.window().in_queue(), window),
            ];
            for (period, counted, actual) in tallies {
                if counted != actual {
                    return fail(format!(
                        "queue {qid}: {period} in_queue {counted} != {actual}"
                    ));
                }
            }
            if !queue.line.is_empty() && queue.logged_in() == 0 {
                return fail(format!(
                    "queue {qid}: contacts wait with no agent logged in"
                ));
            }
            for cid in queue.line.values() {
                let c = self.contact(*cid);
                if queue.available.iter().any(|k| c.may_offer(k.agent)) {
                    return fail(format!(
                        "queue {qid}: {cid} waits while an agent is available"
                    ));
                }
            }
        }

        for (cid, c) in &self.contacts {
            let live_queue = self.queues[c.queue.0 as usize].is_some();
            match &c.state {
                ContactState::Waiting | ContactState::Ringing { .. } if !live_queue => {
                    return fail(format!("{cid} waits in a removed queue"));
                }
                ContactState::Waiting => {
                    if self.target_lost(c) {
                        return fail(format!("{cid}: waits for an agent who cannot take it"));
                    }
                }
                ContactState::Ringing { agents, until } => {
                    if agents.is_empty() || !timer_at(Timer::Ring(*cid), *until) {
                        return fail(format!("{cid}: ringing without agents or timer"));
                    }
                    if let Some(t) = c.target
                        && agents.iter().any(|&a| a != t)
                    {
                        return fail(format!("{cid}: targeted contact rings another agent"));
                    }
                    for &a in agents {
                        let ok = matches!(
                            self.agents[a.0 as usize].as_ref().map(|ag| &ag.state),
                            Some(AgentState::Ringing { contact, .. }) if contact == cid
                        );
                        if !ok {
                            return fail(format!("{cid}: a listed agent is not ringing for it"));
                        }
                    }
                }
                ContactState::Connected { agent } => {
                    let state = self.agents[agent.0 as usize].as_ref().map(|ag| &ag.state);
                    if state.and_then(AgentState::contact) != Some(*cid) {
                        return fail(format!("{cid}: connected agent is not on it"));
                    }
                    if c.max_wait_at.is_some() {
                        return fail(format!("{cid}: connected with a max-wait timer"));
                    }
                }
            }
            if let Some(at) = c.max_wait_at
                && !timer_at(Timer::MaxWait(*cid), at)
            {
                return fail(format!("{cid}: max wait without timer"));
            }
        }

        for &(at, timer) in &self.timers {
            let ok = match timer {
                Timer::Midnight => self.day.next_midnight == Some(at),
                Timer::WrapUp(a) => matches!(
                    self.agents[a.0 as usize].as_ref().map(|ag| &ag.state),
                    Some(AgentState::WrapUp { until, .. }) if *until == at
                ),
                Timer::Ring(c) => matches!(
                    self.contacts.get(&c).map(|c| &c.state),
                    Some(ContactState::Ringing { until, .. }) if *until == at
                ),
                Timer::MaxWait(c) => self
                    .contacts
                    .get(&c)
                    .is_some_and(|c| c.max_wait_at == Some(at)),
            };
            if !ok {
                return fail(format!("stale timer {timer:?} at {at:?}"));
            }
        }
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // Configuration
    // ----------------------------------------------------------------------------------

    fn upsert_queue(&mut self, now: Instant, cfg: QueueConfig) -> Result<(), AcdError> {
        cfg.validate()?;
        let q = match self.queue_ix.get(&cfg.id) {
            Some(&q) => {
                let queue = self.queue_mut(q);
                let old = std::mem::replace(&mut queue.cfg, cfg);
                if old.strategy != queue.cfg.strategy {
                    queue.rr_last = None;
                }
                if old.priority != queue.cfg.priority {
                    self.rekey_line(q);
                }
                q
            }
            None => {
                let q = QueueIdx(self.queues.len() as u32);
                self.queue_ix.insert(cfg.id.clone(), q);
                self.queues.push(Some(Queue {
                    cfg,
                    line: BTreeMap::new(),
                    present: BTreeMap::new(),
                    ringing: 0,
                    available: BTreeSet::new(),
                    member_nos: HashMap::new(),
                    next_member_no: 0,
                    members: 0,
                    counts: [0; 7],
                    rr_last: None,
                    stats: QueueTallies::new(self.cfg.stats_window),
                    dirty: false,
                    line_dirty: false,
                }));
                q
            }
        };
        for a in self.live_agents() {
            self.refresh_memberships(a);
        }
        self.mark(q, true);
        self.enforce_agents_present(now, q);
        self.dispatch_all(now);
        Ok(())
    }

    fn rekey_line(&mut self, q: QueueIdx) {
        let priority = self.queue(q).cfg.priority;
        let line = std::mem::take(&mut self.queue_mut(q).line);
        let mut rebuilt = BTreeMap::new();
        for cid in line.into_values() {
            let c = self.contact_mut(cid);
            if !c.priority_override {
                c.priority = priority;
            }
            rebuilt.insert(c.line_key(), cid);
        }
        // Ringing contacts go back to the line under their new key.
        for c in self.contacts.values_mut() {
            if c.queue == q && !c.priority_override {
                c.priority = priority;
            }
        }
        self.queue_mut(q).line = rebuilt;
    }

    fn remove_queue(&mut self, now: Instant, id: &QueueId) -> Result<(), AcdError> {
        let q = *self
            .queue_ix
            .get(id)
            .ok_or_else(|| AcdError::UnknownQueue(id.clone()))?;
        // Unlink every agent first, so that agents freed below are never offered this queue.
        self.queue_ix.remove(id);
        for a in self.live_agents() {
            self.refresh_memberships(a);
        }
        let mut leaving: Vec<(u64, ContactId)> = self
            .contacts
            .iter()
            .filter(|(_, c)| c.queue == q && !matches!(c.state, ContactState::Connected { .. }))
            .map(|(&cid, c)| (c.seq, cid))
            .collect();
        leaving.sort_unstable();
        for (_, cid) in leaving {
            self.leave(now, cid, Leave::NoAgents);
        }
        self.queues[q.0 as usize] = None;
        self.dirty.retain(|&d| d != q);
        Ok(())
    }

    fn upsert_agent(&mut self, now: Instant, cfg: AgentConfig) -> Result<(), AcdError> {
        cfg.validate()?;
        let a = match self.agent_ix.get(&cfg.id) {
            Some(&a) => {
                self.agent_mut(a).cfg = cfg;
                a
            }
            None => {
                let a = AgentIdx(self.agents.len() as u32);
                self.agent_ix.insert(cfg.id.clone(), a);
                let rank = self.rng.next_u64();
                self.agents.push(Some(Agent {
                    cfg,
                    state: AgentState::LoggedOut,
                    state_since: now,
                    idle_since: now,
                    rank,
                    memberships: Vec::new(),
                    avail_keys: Vec::new(),
                    calls_by_queue: HashMap::new(),
                    pending_not_ready: None,
                    work: None,
                    today: AgentTally::default(),
                    total: AgentTally::default(),
                    accounted_at: now,
                }));
                a
            }
        };
        let left = self.refresh_memberships(a);
        for q in left {
            self.enforce_agents_present(now, q);
        }
        self.match_agent(now, a);
        Ok(())
    }

    fn remove_agent(&mut self, now: Instant, id: &AgentId) -> Result<(), AcdError> {
        let a = self.agent_idx(id)?;
        let agent = self.agent(a);
        if matches!(
            agent.state,
            AgentState::OnCall { .. } | AgentState::OnHold { .. }
        ) {
            return Err(AcdError::AgentBusy(id.clone()));
        }
        self.leave_state(now, a, AgentState::LoggedOut, CancelReason::Reconfigured);
        self.agent_mut(a).cfg.queues.clear();
        let left = self.refresh_memberships(a);
        self.agent_ix.remove(id);
        self.agents[a.0 as usize] = None;
        for q in left {
            self.enforce_agents_present(now, q);
        }
        Ok(())
    }

    /// Recomputes which queues an agent serves, keeping the per-queue structures (available
    /// sets, state counts) in step. Returns the queues it no longer serves.
    fn refresh_memberships(&mut self, a: AgentIdx) -> Vec<QueueIdx> {
        let epoch = self.epoch;
        let agent = self.agents[a.0 as usize]
            .as_mut()
            .expect("invariant: `a` is a live agent");
        let kind = agent.state.kind() as usize;
        for (q, key) in agent.avail_keys.drain(..) {
            if let Some(queue) = self.queues[q.0 as usize].as_mut() {
                queue.available.remove(&key);
            }
        }
        let old = std::mem::take(&mut agent.memberships);
        for m in &old {
            if let Some(queue) = self.queues[m.queue.0 as usize].as_mut() {
                queue.counts[kind] -= 1;
                queue.members -= 1;
                mark_queue(&mut self.dirty, m.queue, queue, false);
            }
        }
        let mut seen = Vec::new();
        let mut served = Vec::new();
        for qid in &agent.cfg.queues {
            let Some(&q) = self.queue_ix.get(qid) else {
                continue;
            };
            if seen.contains(&q) {
                continue;
            }
            seen.push(q);
            let queue = self.queues[q.0 as usize]
                .as_mut()
                .expect("invariant: indexed queue");
            if !agent.cfg.may_serve(&queue.cfg) {
                continue;
            }
            served.push(q);
            let member_no = *queue.member_nos.entry(a).or_insert_with(|| {
                queue.next_member_no += 1;
                queue.next_member_no
            });
            let skill_score = queue
                .cfg
                .required_skills
                .keys()
                .map(|s| u64::from(agent.cfg.skills.get(s).copied().unwrap_or(0)))
                .sum();
            let m = Membership {
                queue: q,
                member_no,
                calls: agent.calls_by_queue.get(&q).copied().unwrap_or(0),
                skill_score,
            };
            queue.counts[kind] += 1;
            queue.members += 1;
            if let AgentState::Available { .. } = agent.state {
                let key = avail_key(queue.cfg.strategy, agent, &m, a, epoch);
                queue.available.insert(key);
                agent.avail_keys.push((q, key));
            }
            mark_queue(&mut self.dirty, q, queue, false);
            agent.memberships.push(m);
        }
        old.into_iter()
            .map(|m| m.queue)
            .filter(|q| !served.contains(q))
            .collect()
    }

    // ----------------------------------------------------------------------------------
    // Contacts
    // ----------------------------------------------------------------------------------

    fn enqueue(
        &mut self,
        now: Instant,
        cid: ContactId,
        queue_id: &QueueId,
        priority: Option<i32>,
        target: Option<&AgentId>,
    ) -> Result<(), AcdError> {
        if self.contacts.contains_key(&cid) {
            return Err(AcdError::DuplicateContact(cid));
        }
        let q = *self
            .queue_ix
            .get(queue_id)
            .ok_or_else(|| AcdError::UnknownQueue(queue_id.clone()))?;
        // A transfer to an agent who cannot take it (unknown, logged out, not serving the
        // queue) is refused like a queue without agents.
        let target = target.map(|id| self.agent_ix.get(id).copied());
        let target_ok = match target {
            None => true,
            Some(None) => false,
            Some(Some(t)) => self.can_serve(t, q),
        };
        let target = target.flatten();
        let day = self.day.day;
        let seq = self.next_seq;
        let queue = self.queue_mut(q);
        if queue.logged_in() == 0 || !target_ok {
            queue.stats.refused_today += 1;
            queue.stats.refused_total += 1;
            self.mark(q, false);
            self.outputs.push_back(Output::NoAgents {
                contact: cid,
                queue: queue_id.clone(),
            });
            return Ok(());
        }
        let record = queue.stats.offer(now, day);
        let max_wait_at = queue.cfg.max_wait.map(|w| now + w);
        let contact = Contact {
            queue: q,
            queue_id: queue.cfg.id.clone(),
            priority: priority.unwrap_or(queue.cfg.priority),
            priority_override: priority.is_some(),
            seq,
            enqueued_at: now,
            state: ContactState::Waiting,
            excluded: Vec::new(),
            target,
            max_wait_at,
            max_wait_due: false,
            record,
            position: 0,
        };
        queue.line.insert(contact.line_key(), cid);
        queue.present.insert(seq, now);
        self.next_seq += 1;
        self.contacts.insert(cid, contact);
        if let Some(at) = max_wait_at {
            self.timers.insert((at, Timer::MaxWait(cid)));
        }
        self.mark(q, true);
        self.try_offer(now, cid);
        Ok(())
    }

    fn withdraw(&mut self, now: Instant, cid: ContactId) -> Result<(), AcdError> {
        let c = self
            .contacts
            .get(&cid)
            .ok_or(AcdError::UnknownContact(cid))?;
        if let ContactState::Connected { .. } = c.state {
            return Err(AcdError::ContactConnected(cid));
        }
        self.leave(now, cid, Leave::Withdrawn);
        Ok(())
    }

    fn customer_hung_up(&mut self, now: Instant, cid: ContactId) -> Result<(), AcdError> {
        let c = self
            .contacts
            .get(&cid)
            .ok_or(AcdError::UnknownContact(cid))?;
        match c.state {
            ContactState::Connected { agent } => self.end_call(now, agent),
            _ => self.leave(now, cid, Leave::Abandoned),
        }
        Ok(())
    }

    fn max_wait_reached(&mut self, now: Instant, cid: ContactId) {
        let c = self.contact_mut(cid);
        c.max_wait_at = None;
        match c.state {
            ContactState::Waiting => self.leave(now, cid, Leave::MaxWait),
            ContactState::Ringing { .. } => c.max_wait_due = true,
            ContactState::Connected { .. } => {
                debug_assert!(false, "max-wait timer of a connected contact");
            }
        }
    }

    /// Removes a waiting or ringing contact that leaves unanswered; ringing agents get
    /// `Cancel` and become available again.
    fn leave(&mut self, now: Instant, cid: ContactId, how: Leave) {
        let c = self
            .contacts
            .remove(&cid)
            .expect("invariant: callers checked the contact exists");
        let mut freed = Vec::new();
        match c.state {
            ContactState::Waiting => {
                self.queue_mut(c.queue).line.remove(&c.line_key());
            }
            ContactState::Ringing { agents, until } => {
                self.timers.remove(&(until, Timer::Ring(cid)));
                self.queue_mut(c.queue).ringing -= 1;
                let reason = match how {
                    Leave::Abandoned => CancelReason::Abandoned,
                    Leave::Withdrawn => CancelReason::Withdrawn,
                    Leave::NoAgents | Leave::MaxWait => CancelReason::Reconfigured,
                };
                for a in agents {
                    self.cancel_offer(now, a, cid, reason);
                    freed.push(a);
                }
            }
            ContactState::Connected { .. } => {
                unreachable!("invariant: callers only remove unconnected contacts")
            }
        }
        if let Some(at) = c.max_wait_at {
            self.timers.remove(&(at, Timer::MaxWait(cid)));
        }
        let wait = now.saturating_duration_since(c.enqueued_at);
        let day = self.day.day;
        let queue = self.queue_mut(c.queue);
        queue.present.remove(&c.seq);
        let fact = match how {
            Leave::Abandoned => Fact::Abandoned {
                wait,
                short: wait < queue.cfg.short_abandon_threshold,
            },
            _ => Fact::Overflowed,
        };
        queue.stats.record(c.record, day, fact);
        self.mark(c.queue, true);
        match how {
            Leave::MaxWait => self.outputs.push_back(Output::MaxWait {
                contact: cid,
                queue: c.queue_id,
            }),
            Leave::NoAgents => self.outputs.push_back(Output::NoAgents {
                contact: cid,
                queue: c.queue_id,
            }),
            Leave::Abandoned | Leave::Withdrawn => {}
        }
        self.dispatch_batch(now, &freed);
    }

    /// Puts a contact whose offer failed back in its line, at its original place, and tries
    /// the next agent (or lets it leave when its queue is unstaffed or its max wait passed).
    fn return_to_line(&mut self, now: Instant, cid: ContactId) {
        let c = self.contact_mut(cid);
        c.state = ContactState::Waiting;
        let (q, key, due) = (c.queue, c.line_key(), c.max_wait_due);
        let Some(queue) = self.queues[q.0 as usize].as_mut() else {
            unreachable!("invariant: a ringing contact's queue exists (removal ends its contacts)")
        };
        queue.ringing -= 1;
        queue.line.insert(key, cid);
        let staffed = queue.logged_in() > 0 && !self.target_lost(self.contact(cid));
        self.mark(q, true);
        if due {
            self.leave(now, cid, Leave::MaxWait);
        } else if !staffed {
            self.leave(now, cid, Leave::NoAgents);
        } else {
            self.try_offer(now, cid);
        }
    }

    /// Every contact of a queue without a logged-in agent leaves with `NoAgents`, and so does
    /// every waiting contact transferred to an agent who can no longer take it.
    fn enforce_agents_present(&mut self, now: Instant, q: QueueIdx) {
        let Some(queue) = self.queues[q.0 as usize].as_ref() else {
            return;
        };
        if queue.line.is_empty() {
            return;
        }
        let staffed = queue.logged_in() > 0;
        let waiting: Vec<ContactId> = queue
            .line
            .values()
            .copied()
            .filter(|cid| !staffed || self.target_lost(self.contact(*cid)))
            .collect();
        for cid in waiting {
            self.leave(now, cid, Leave::NoAgents);
        }
    }

    /// Whether agent `a` exists, is logged in and serves queue `q`.
    fn can_serve(&self, a: AgentIdx, q: QueueIdx) -> bool {
        self.agents[a.0 as usize].as_ref().is_some_and(|ag| {
            ag.state != AgentState::LoggedOut && ag.memberships.iter().any(|m| m.queue == q)
        })
    }

    /// Whether a contact transferred to an agent can no longer be given to that agent: the
    /// agent is gone, logged out, no longer serves the queue, or turned the contact down.
    fn target_lost(&self, c: &Contact) -> bool {
        c.target
            .is_some_and(|t| c.excluded.contains(&t) || !self.can_serve(t, c.queue))
    }

    // ----------------------------------------------------------------------------------
    // Matching
    // ----------------------------------------------------------------------------------

    /// Offers a waiting contact to the agent(s) its queue's strategy picks among the
    /// available, eligible, non-excluded agents. Returns whether anyone was offered it.
    fn try_offer(&mut self, now: Instant, cid: ContactId) -> bool {
        let c = self
            .contacts
            .get(&cid)
            .expect("invariant: try_offer gets a held contact");
        debug_assert!(matches!(c.state, ContactState::Waiting));
        let q = c.queue;
        let queue = self.queue(q);
        let free = |k: &&AvailKey| c.may_offer(k.agent);
        let chosen: Vec<AgentIdx> = match queue.cfg.strategy {
            Strategy::RingAll => queue
                .available
                .iter()
                .filter(free)
                .map(|k| k.agent)
                .collect(),
            Strategy::RoundRobin => {
                let from = AvailKey {
                    primary: queue.rr_last.map_or(0, |n| n + 1),
                    idle_since: Duration::ZERO,
                    rank: 0,
                    agent: AgentIdx(0),
                };
                let after = queue.available.range(from..);
                let before = queue.available.range(..from);
                after
                    .chain(before)
                    .find(free)
                    .map(|k| k.agent)
                    .into_iter()
                    .collect()
            }
            Strategy::LongestIdle | Strategy::FewestCalls | Strategy::MostSkilled => queue
                .available
                .iter()
                .find(free)
                .map(|k| k.agent)
                .into_iter()
                .collect(),
        };
        let Some(&first) = chosen.first() else {
            return false;
        };
        let until = now + queue.cfg.ring_timeout;
        let key = c.line_key();
        let queue_id = c.queue_id.clone();
        // A transfer to an agent does not move the round-robin rotation.
        let rr = (queue.cfg.strategy == Strategy::RoundRobin && c.target.is_none())
            .then(|| self.membership(first, q).map(|m| m.member_no))
            .flatten();
        let queue = self.queue_mut(q);
        if rr.is_some() {
            queue.rr_last = rr;
        }
        queue.line.remove(&key);
        queue.ringing += 1;
        self.mark(q, true);
        self.timers.insert((until, Timer::Ring(cid)));
        for &a in &chosen {
            let agent = self.agent_mut(a);
            agent.today.offers += 1;
            agent.total.offers += 1;
            let id = agent.cfg.id.clone();
            self.outputs.push_back(Output::Offer {
                agent: id,
                contact: cid,
                queue: queue_id.clone(),
                ring_until: until,
            });
            self.set_state(
                now,
                a,
                AgentState::Ringing {
                    contact: cid,
                    until,
                },
            );
        }
        let c = self.contact_mut(cid);
        c.state = ContactState::Ringing {
            agents: chosen,
            until,
        };
        c.position = 0;
        true
    }

    /// Gives an available agent the best contact it may take (highest priority, then longest
    /// waiting, across its queues), repeatedly, until it is reserved or nothing fits.
    fn match_agent(&mut self, now: Instant, a: AgentIdx) {
        loop {
            let agent = self.agent(a);
            if !matches!(agent.state, AgentState::Available { .. }) {
                return;
            }
            let mut best: Option<(LineKey, ContactId)> = None;
            for m in &agent.memberships {
                for (key, cid) in &self.queue(m.queue).line {
                    if best.is_some_and(|(b, _)| *key >= b) {
                        break;
                    }
                    if self.contact(*cid).may_offer(a) {
                        best = Some((*key, *cid));
                        break;
                    }
                }
            }
            let Some((_, cid)) = best else { return };
            let offered = self.try_offer(now, cid);
            debug_assert!(offered, "an available eligible agent exists for {cid}");
        }
    }

    /// Several agents became available at once: serve the waiting contacts of their queues in
    /// line order (priority, then arrival), each by its queue's strategy.
    fn dispatch_batch(&mut self, now: Instant, agents: &[AgentIdx]) {
        match agents {
            [] => {}
            [a] => self.match_agent(now, *a),
            _ => {
                let mut queues: Vec<QueueIdx> = agents
                    .iter()
                    .flat_map(|&a| self.agent(a).memberships.iter().map(|m| m.queue))
                    .collect();
                queues.sort_unstable();
                queues.dedup();
                let waiting = self.lines_in_order(&queues);
                for cid in waiting {
                    let any_free = agents
                        .iter()
                        .any(|&a| matches!(self.agent(a).state, AgentState::Available { .. }));
                    if !any_free {
                        break;
                    }
                    if matches!(self.contact(cid).state, ContactState::Waiting) {
                        self.try_offer(now, cid);
                    }
                }
            }
        }
    }

    /// After a configuration change: serve every waiting contact in global line order.
    fn dispatch_all(&mut self, now: Instant) {
        let all: Vec<QueueIdx> = self.queue_ix.values().copied().collect();
        for cid in self.lines_in_order(&all) {
            if matches!(self.contact(cid).state, ContactState::Waiting) {
                self.try_offer(now, cid);
            }
        }
    }

    fn lines_in_order(&self, queues: &[QueueIdx]) -> Vec<ContactId> {
        let mut waiting: Vec<(LineKey, ContactId)> = queues
            .iter()
            .filter_map(|&q| self.queues[q.0 as usize].as_ref())
            .flat_map(|queue| queue.line.iter().map(|(k, c)| (*k, *c)))
            .collect();
        waiting.sort_unstable();
        waiting.into_iter().map(|(_, c)| c).collect()
    }

    // ----------------------------------------------------------------------------------
    // Offers and calls
    // ----------------------------------------------------------------------------------

    fn ringing_for(&self, agent: &AgentId, cid: ContactId) -> Result<AgentIdx, AcdError> {
        let a = self.agent_idx(agent)?;
        match self.agent(a).state {
            AgentState::Ringing { contact, .. } if contact == cid => Ok(a),
            _ => Err(AcdError::NoSuchOffer {
                agent: agent.clone(),
                contact: cid,
            }),
        }
    }

    fn agent_answered(
        &mut self,
        now: Instant,
        agent: &AgentId,
        cid: ContactId,
    ) -> Result<(), AcdError> {
        let a = self.ringing_for(agent, cid)?;
        let day = self.day.day;
        let c = self.contact_mut(cid);
        let ContactState::Ringing { agents, until } =
            std::mem::replace(&mut c.state, ContactState::Connected { agent: a })
        else {
            unreachable!("invariant: a ringing agent's contact is ringing")
        };
        let (q, record, seq, enqueued_at, queue_id) =
            (c.queue, c.record, c.seq, c.enqueued_at, c.queue_id.clone());
        let max_wait_at = c.max_wait_at.take();
        c.max_wait_due = false;
        self.timers.remove(&(until, Timer::Ring(cid)));
        if let Some(at) = max_wait_at {
            self.timers.remove(&(at, Timer::MaxWait(cid)));
        }
        let waited = now.saturating_duration_since(enqueued_at);
        let queue = self.queue_mut(q);
        queue.ringing -= 1;
        queue.present.remove(&seq);
        let fact = Fact::Answered {
            wait: waited,
            in_service_level: waited <= queue.cfg.service_level_threshold,
        };
        queue.stats.record(record, day, fact);
        let record_call = queue.cfg.record;
        self.mark(q, false);

        let winner = self.agent_mut(a);
        winner.today.answered += 1;
        winner.total.answered += 1;
        *winner.calls_by_queue.entry(q).or_default() += 1;
        if let Some(m) = winner.memberships.iter_mut().find(|m| m.queue == q) {
            m.calls += 1;
        }
        winner.work = Some(Work {
            contact: cid,
            queue: q,
            record,
            answered_at: now,
            hold: Duration::ZERO,
            hold_since: None,
            ended_at: None,
        });
        self.outputs.push_back(Output::Connect {
            agent: agent.clone(),
            contact: cid,
            queue: queue_id,
            record: record_call,
            waited,
        });
        self.set_state(
            now,
            a,
            AgentState::OnCall {
                contact: cid,
                since: now,
            },
        );
        let losers: Vec<AgentIdx> = agents.into_iter().filter(|&b| b != a).collect();
        for &b in &losers {
            self.cancel_offer(now, b, cid, CancelReason::AnsweredElsewhere);
        }
        self.dispatch_batch(now, &losers);
        Ok(())
    }

    fn offer_rejected(
        &mut self,
        now: Instant,
        agent: &AgentId,
        cid: ContactId,
        reason: Rejection,
    ) -> Result<(), AcdError> {
        let a = self.ringing_for(agent, cid)?;
        let ag = self.agent_mut(a);
        ag.today.rejections += 1;
        ag.total.rejections += 1;
        let idle_since = ag.idle_since;
        let c = self
            .contacts
            .get_mut(&cid)
            .expect("invariant: a ringing agent's contact is held");
        if reason != Rejection::Unreachable {
            c.excluded.push(a);
        }
        let alone = remove_ringing_agent(c, a, &mut self.timers, cid);
        let next = match reason {
            Rejection::Busy | Rejection::Declined => AgentState::Available { since: idle_since },
            Rejection::Unreachable => AgentState::NotReady {
                reason: NotReadyReason::unreachable(),
                since: now,
            },
        };
        self.set_state(now, a, next);
        if alone {
            self.return_to_line(now, cid);
        }
        self.match_agent(now, a);
        Ok(())
    }

    fn ring_timeout(&mut self, now: Instant, cid: ContactId) {
        let c = self.contact_mut(cid);
        let ContactState::Ringing { agents, .. } = &mut c.state else {
            unreachable!("invariant: the ring timer exists only while the contact rings")
        };
        let agents = std::mem::take(agents);
        for a in agents {
            let agent = self.agent_mut(a);
            agent.today.no_answers += 1;
            agent.total.no_answers += 1;
            agent.pending_not_ready = None;
            let id = agent.cfg.id.clone();
            self.outputs.push_back(Output::Cancel {
                agent: id,
                contact: cid,
                reason: CancelReason::NoAnswer,
            });
            let state = AgentState::NotReady {
                reason: NotReadyReason::no_answer(),
                since: now,
            };
            self.set_state(now, a, state);
        }
        self.return_to_line(now, cid);
    }

    /// Withdraws a ringing offer from an agent (which becomes available again, keeping its
    /// idle time). The caller has already detached the agent from the contact.
    fn cancel_offer(&mut self, now: Instant, a: AgentIdx, cid: ContactId, reason: CancelReason) {
        let agent = self.agent(a);
        debug_assert_eq!(agent.state.contact(), Some(cid));
        let since = agent.idle_since;
        self.outputs.push_back(Output::Cancel {
            agent: agent.cfg.id.clone(),
            contact: cid,
            reason,
        });
        self.set_state(now, a, AgentState::Available { since });
    }

    fn end_call(&mut self, now: Instant, a: AgentIdx) {
        let agent = self.agent_mut(a);
        let personal = agent.cfg.wrap_up;
        let work = agent
            .work
            .as_mut()
            .expect("invariant: an agent on a call has work");
        if let Some(since) = work.hold_since.take() {
            work.hold += now.saturating_duration_since(since);
        }
        work.ended_at = Some(now);
        let (cid, q) = (work.contact, work.queue);
        self.contacts.remove(&cid);
        let queue_wrap = self.queues[q.0 as usize]
            .as_ref()
            .map(|queue| queue.cfg.wrap_up);
        let wrap = personal.or(queue_wrap).unwrap_or_default();
        if wrap.is_zero() {
            self.finish_work(now, a, true);
        } else {
            let until = now + wrap;
            self.timers.insert((until, Timer::WrapUp(a)));
            self.set_state(
                now,
                a,
                AgentState::WrapUp {
                    contact: cid,
                    until,
                },
            );
        }
    }

    /// Ends an agent's work on its contact (wrap-up over, or no wrap-up): counts the handle
    /// time, and when `next_state` moves the agent on to available or its pending not ready.
    fn finish_work(&mut self, now: Instant, a: AgentIdx, next_state: bool) {
        let day = self.day.day;
        let agent = self.agents[a.0 as usize]
            .as_mut()
            .expect("invariant: `a` is a live agent");
        let work = agent
            .work
            .take()
            .expect("invariant: an agent finishing work has work");
        if let AgentState::WrapUp { until, .. } = agent.state {
            self.timers.remove(&(until, Timer::WrapUp(a)));
        }
        let ended = work.ended_at.unwrap_or(now);
        let talk = ended
            .saturating_duration_since(work.answered_at)
            .saturating_sub(work.hold);
        let fact = Fact::Handled {
            talk,
            hold: work.hold,
            wrap: now.saturating_duration_since(ended),
        };
        agent.today.handled += 1;
        agent.total.handled += 1;
        if let Some(queue) = self.queues[work.queue.0 as usize].as_mut() {
            queue.stats.record(work.record, day, fact);
            mark_queue(&mut self.dirty, work.queue, queue, false);
        }
        if next_state {
            let agent = self.agent_mut(a);
            let next = match agent.pending_not_ready.take() {
                Some(reason) => AgentState::NotReady { reason, since: now },
                None => AgentState::Available { since: now },
            };
            self.set_state(now, a, next);
            self.match_agent(now, a);
        }
    }

    // ----------------------------------------------------------------------------------
    // Agent requests
    // ----------------------------------------------------------------------------------

    fn agent_hung_up(&mut self, now: Instant, agent: &AgentId) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        match self.agent(a).state {
            AgentState::OnCall { .. } | AgentState::OnHold { .. } => {
                self.end_call(now, a);
                Ok(())
            }
            _ => Err(invalid(self.agent(a), "hang up")),
        }
    }

    fn login(&mut self, now: Instant, agent: &AgentId, ready: bool) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        if self.agent(a).state != AgentState::LoggedOut {
            return Err(invalid(self.agent(a), "log in"));
        }
        let state = if ready {
            AgentState::Available { since: now }
        } else {
            AgentState::NotReady {
                reason: NotReadyReason::login(),
                since: now,
            }
        };
        self.set_state(now, a, state);
        self.match_agent(now, a);
        Ok(())
    }

    fn logout(&mut self, now: Instant, agent: &AgentId) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        match self.agent(a).state {
            AgentState::LoggedOut => return Err(invalid(self.agent(a), "log out")),
            AgentState::OnCall { .. } | AgentState::OnHold { .. } => {
                return Err(AcdError::AgentBusy(agent.clone()));
            }
            _ => {}
        }
        self.leave_state(now, a, AgentState::LoggedOut, CancelReason::AgentLeft);
        let queues: Vec<QueueIdx> = self.agent(a).memberships.iter().map(|m| m.queue).collect();
        for q in queues {
            self.enforce_agents_present(now, q);
        }
        Ok(())
    }

    /// Moves an agent that is not on a call to `next` (logged out or not ready): a ringing
    /// offer is cancelled and its contact returns to its line; wrap-up is closed.
    fn leave_state(&mut self, now: Instant, a: AgentIdx, next: AgentState, reason: CancelReason) {
        let agent = self.agent_mut(a);
        agent.pending_not_ready = None;
        match agent.state {
            AgentState::Ringing { contact, .. } => {
                let id = agent.cfg.id.clone();
                self.outputs.push_back(Output::Cancel {
                    agent: id,
                    contact,
                    reason,
                });
                let c = self
                    .contacts
                    .get_mut(&contact)
                    .expect("invariant: ringing contact held");
                let alone = remove_ringing_agent(c, a, &mut self.timers, contact);
                self.set_state(now, a, next);
                if alone {
                    self.return_to_line(now, contact);
                }
            }
            AgentState::WrapUp { .. } => {
                self.finish_work(now, a, false);
                self.set_state(now, a, next);
            }
            _ => self.set_state(now, a, next),
        }
    }

    fn ready(&mut self, now: Instant, agent: &AgentId) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        let ag = self.agent_mut(a);
        match ag.state {
            AgentState::NotReady { .. } => {
                self.set_state(now, a, AgentState::Available { since: now });
                self.match_agent(now, a);
            }
            AgentState::WrapUp { .. } => {
                ag.pending_not_ready = None;
                self.finish_work(now, a, true);
            }
            AgentState::OnCall { .. } | AgentState::OnHold { .. }
                if ag.pending_not_ready.is_some() =>
            {
                ag.pending_not_ready = None;
            }
            _ => return Err(invalid(ag, "become ready")),
        }
        Ok(())
    }

    fn not_ready(
        &mut self,
        now: Instant,
        agent: &AgentId,
        reason: NotReadyReason,
    ) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        let ag = self.agent_mut(a);
        match ag.state {
            AgentState::LoggedOut => return Err(invalid(ag, "become not ready")),
            AgentState::OnCall { .. } | AgentState::OnHold { .. } | AgentState::WrapUp { .. } => {
                ag.pending_not_ready = Some(reason);
            }
            AgentState::Available { .. }
            | AgentState::NotReady { .. }
            | AgentState::Ringing { .. } => {
                let next = AgentState::NotReady { reason, since: now };
                self.leave_state(now, a, next, CancelReason::AgentLeft);
            }
        }
        Ok(())
    }

    fn hold(&mut self, now: Instant, agent: &AgentId, hold: bool) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        let ag = self.agent_mut(a);
        let work = ag.work.as_mut();
        let next = match (&ag.state, hold, work) {
            (AgentState::OnCall { contact, .. }, true, Some(work)) => {
                work.hold_since = Some(now);
                AgentState::OnHold {
                    contact: *contact,
                    since: now,
                }
            }
            (AgentState::OnHold { contact, .. }, false, Some(work)) => {
                let since = work.hold_since.take().unwrap_or(now);
                work.hold += now.saturating_duration_since(since);
                AgentState::OnCall {
                    contact: *contact,
                    since: work.answered_at,
                }
            }
            _ => return Err(invalid(ag, if hold { "hold" } else { "unhold" })),
        };
        self.set_state(now, a, next);
        Ok(())
    }

    fn finish_wrap_up(&mut self, now: Instant, agent: &AgentId) -> Result<(), AcdError> {
        let a = self.agent_idx(agent)?;
        if !matches!(self.agent(a).state, AgentState::WrapUp { .. }) {
            return Err(invalid(self.agent(a), "finish wrap-up"));
        }
        self.finish_work(now, a, true);
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // State changes, time and bookkeeping
    // ----------------------------------------------------------------------------------

    /// The one place an agent changes state: keeps the available sets, the per-queue counts
    /// and the time accounting in step, and announces the change.
    fn set_state(&mut self, now: Instant, a: AgentIdx, state: AgentState) {
        let epoch = self.epoch;
        let agent = self.agents[a.0 as usize]
            .as_mut()
            .expect("invariant: `a` is a live agent");
        agent.accrue(now);
        let old = agent.state.kind() as usize;
        let new = state.kind() as usize;
        for (q, key) in agent.avail_keys.drain(..) {
            if let Some(queue) = self.queues[q.0 as usize].as_mut() {
                queue.available.remove(&key);
            }
        }
        if let AgentState::Available { since } = state {
            agent.idle_since = since;
        }
        agent.state = state;
        agent.state_since = now;
        for m in &agent.memberships {
            let queue = self.queues[m.queue.0 as usize]
                .as_mut()
                .expect("invariant: memberships are live");
            queue.counts[old] -= 1;
            queue.counts[new] += 1;
            if new == StateKind::Available as usize {
                let key = avail_key(queue.cfg.strategy, agent, m, a, epoch);
                queue.available.insert(key);
                agent.avail_keys.push((m.queue, key));
            }
            mark_queue(&mut self.dirty, m.queue, queue, false);
        }
        self.outputs.push_back(Output::AgentStateChanged {
            agent: agent.cfg.id.clone(),
            state: agent.state.clone(),
        });
    }

    /// Clamps `now` to be monotonic and starts new days that began before it.
    fn advance(&mut self, now: Instant) -> Instant {
        let now = now.max(self.now);
        self.now = now;
        while let Some(midnight) = self.day.next_midnight {
            if now < midnight {
                break;
            }
            self.timers.remove(&(midnight, Timer::Midnight));
            for agent in self.agents.iter_mut().flatten() {
                agent.accrue(midnight);
                agent.today = AgentTally::default();
            }
            for (i, slot) in self.queues.iter_mut().enumerate() {
                if let Some(queue) = slot {
                    queue.stats.new_day();
                    mark_queue(&mut self.dirty, QueueIdx(i as u32), queue, false);
                }
            }
            self.day.day += 1;
            self.day.next_midnight = self.day.midnight_after(midnight);
            if let Some(m) = self.day.next_midnight {
                self.timers.insert((m, Timer::Midnight));
            }
        }
        now
    }

    /// Emits what an input changed: positions of waiting contacts, then `StatsChanged`.
    fn finish(&mut self, now: Instant) {
        for q in std::mem::take(&mut self.dirty) {
            let Some(queue) = self.queues[q.0 as usize].as_mut() else {
                continue;
            };
            queue.stats.prune(now);
            if queue.line_dirty && self.cfg.position_updates {
                for (position, cid) in (1u32..).zip(queue.line.values()) {
                    let c = self
                        .contacts
                        .get_mut(cid)
                        .expect("invariant: line holds contacts");
                    if c.position != position {
                        c.position = position;
                        self.outputs.push_back(Output::QueuePosition {
                            contact: *cid,
                            queue: queue.cfg.id.clone(),
                            position,
                        });
                    }
                }
            }
            queue.line_dirty = false;
            if queue.dirty {
                queue.dirty = false;
                self.outputs.push_back(Output::StatsChanged {
                    queue: queue.cfg.id.clone(),
                });
            }
        }
    }

    fn mark(&mut self, q: QueueIdx, line: bool) {
        if let Some(queue) = self.queues[q.0 as usize].as_mut() {
            mark_queue(&mut self.dirty, q, queue, line);
        }
    }

    fn live_agents(&self) -> Vec<AgentIdx> {
        let mut v: Vec<AgentIdx> = self.agent_ix.values().copied().collect();
        v.sort_unstable();
        v
    }

    fn agent_idx(&self, id: &AgentId) -> Result<AgentIdx, AcdError> {
        self.agent_ix
            .get(id)
            .copied()
            .ok_or_else(|| AcdError::UnknownAgent(id.clone()))
    }

    fn agent(&self, a: AgentIdx) -> &Agent {
        self.agents[a.0 as usize]
            .as_ref()
            .expect("invariant: AgentIdx values name live agents")
    }

    fn agent_mut(&mut self, a: AgentIdx) -> &mut Agent {
        self.agents[a.0 as usize]
            .as_mut()
            .expect("invariant: AgentIdx values name live agents")
    }

    fn queue(&self, q: QueueIdx) -> &Queue {
        self.queues[q.0 as usize]
            .as_ref()
            .expect("invariant: this QueueIdx names a live queue")
    }

    fn queue_mut(&mut self, q: QueueIdx) -> &mut Queue {
        self.queues[q.0 as usize]
            .as_mut()
            .expect("invariant: this QueueIdx names a live queue")
    }

    fn contact(&self, cid: ContactId) -> &Contact {
        self.contacts
            .get(&cid)
            .expect("invariant: this contact is held")
    }

    fn contact_mut(&mut self, cid: ContactId) -> &mut Contact {
        self.contacts
            .get_mut(&cid)
            .expect("invariant: this contact is held")
    }

    fn membership(&self, a: AgentIdx, q: QueueIdx) -> Option<&Membership> {
        self.agent(a).memberships.iter().find(|m| m.queue == q)
    }
}

fn mark_queue(dirty: &mut Vec<QueueIdx>, q: QueueIdx, queue: &mut Queue, line: bool) {
    if !queue.dirty && !queue.line_dirty {
        dirty.push(q);
    }
    queue.dirty = true;
    queue.line_dirty |= line;
}

fn avail_key(
    strategy: Strategy,
    agent: &Agent,
    m: &Membership,
    a: AgentIdx,
    epoch: Instant,
) -> AvailKey {
    let primary = match strategy {
        Strategy::LongestIdle | Strategy::RingAll => 0,
        Strategy::RoundRobin => m.member_no,
        Strategy::FewestCalls => m.calls,
        Strategy::MostSkilled => u64::MAX - m.skill_score,
    };
    AvailKey {
        primary,
        idle_since: agent.idle_since.saturating_duration_since(epoch),
        rank: agent.rank,
        agent: a,
    }
}

/// Detaches agent `a` from ringing contact `c`; when it was the last one, also disarms the
/// ring timer and returns `true` (the caller then returns the contact to its line).
fn remove_ringing_agent(
    c: &mut Contact,
    a: AgentIdx,
    timers: &mut BTreeSet<(Instant, Timer)>,
    cid: ContactId,
) -> bool {
    let ContactState::Ringing { agents, until } = &mut c.state else {
        unreachable!("invariant: a ringing agent's contact is ringing")
    };
    agents.retain(|&b| b != a);
    if agents.is_empty() {
        timers.remove(&(*until, Timer::Ring(cid)));
        true
    } else {
        false
    }
}
