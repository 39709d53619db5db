//! Property tests: random sequences of configuration changes, logins, logouts, ready/not
//! ready, enqueues, answers, no-answers, rejections, hangups, abandons and time advances.
//!
//! A model, built only from the inputs the ACD accepted and the outputs it produced (the
//! controller's view), is checked against the ACD after every step:
//! * never a double offer: an agent is offered a contact only while available, and never has
//!   two offers outstanding; cancels and connects only concern outstanding offers;
//! * never a lost contact: every contact ever enqueued is refused, waiting, ringing, connected
//!   or ended (answered, abandoned, overflowed), and the ACD agrees contact by contact;
//! * FIFO within priority: each offer goes to the best waiting contact the agent may take,
//!   and each line is ordered by priority then arrival;
//! * agent states: what the notifications said equals what the ACD reports, and requests are
//!   accepted exactly when the state allows them;
//! * positions: the last announced position of every waiting contact is its place in line;
//! * statistics agree with the history, in the since-start, today and 15-minute periods;
//! * the ACD's own invariant audit passes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use acd::{
    AcdConfig, AcdError, AgentConfig, AgentState, ContactId, ContactStatus, Input, Output,
    QueueConfig, Rejection, StateKind, Strategy as Routing,
};

use crate::common::Rig;

const AGENTS: usize = 4;
const QUEUES: usize = 3;
const SKILLS: [&str; 2] = ["english", "billing"];
/// 2024-05-01T23:00:00Z: midnight UTC comes an hour into the run.
const START_WALL: i64 = 1_714_604_400;

#[derive(Clone, Debug)]
enum Op {
    Login(usize, bool),
    Logout(usize),
    Ready(usize),
    NotReady(usize),
    /// Queue, priority override, target agent (`AGENTS` is an unknown one).
    Enqueue(usize, Option<i32>, Option<usize>),
    Answer(usize),
    Reject(usize, Rejection),
    CustomerHangUp(usize),
    Withdraw(usize),
    AgentHangUp(usize),
    Hold(usize),
    Unhold(usize),
    FinishWrapUp(usize),
    Advance(u64),
    Reconfigure(usize, u8, u8),
    RemoveAgent(usize),
    QueuePriority(usize, i32),
    ToggleQueue(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let agent = 0..AGENTS;
    prop_oneof![
        3 => (agent.clone(), any::<bool>()).prop_map(|(a, r)| Op::Login(a, r)),
        1 => agent.clone().prop_map(Op::Logout),
        2 => agent.clone().prop_map(Op::Ready),
        1 => agent.clone().prop_map(Op::NotReady),
        5 => (0..QUEUES, prop::option::weighted(0.3, -1i32..3), prop::option::weighted(0.25, 0..=AGENTS))
            .prop_map(|(q, p, t)| Op::Enqueue(q, p, t)),
        8 => agent.clone().prop_map(Op::Answer),
        1 => (agent.clone(), prop_oneof![
            Just(Rejection::Busy), Just(Rejection::Declined), Just(Rejection::Unreachable)
        ]).prop_map(|(a, r)| Op::Reject(a, r)),
        2 => any::<usize>().prop_map(Op::CustomerHangUp),
        1 => any::<usize>().prop_map(Op::Withdraw),
        3 => agent.clone().prop_map(Op::AgentHangUp),
        1 => agent.clone().prop_map(Op::Hold),
        1 => agent.clone().prop_map(Op::Unhold),
        1 => agent.clone().prop_map(Op::FinishWrapUp),
        5 => prop_oneof![0..20u64, 0..400u64].prop_map(Op::Advance),
        1 => (agent.clone(), 0..8u8, 0..4u8).prop_map(|(a, m, s)| Op::Reconfigure(a, m, s)),
        1 => agent.prop_map(Op::RemoveAgent),
        1 => (0..QUEUES, -1i32..4).prop_map(|(q, p)| Op::QueuePriority(q, p)),
        1 => (0..QUEUES).prop_map(Op::ToggleQueue),
    ]
}

fn strategy() -> impl Strategy<Value = Routing> {
    prop_oneof![
        Just(Routing::LongestIdle),
        Just(Routing::RoundRobin),
        Just(Routing::FewestCalls),
        Just(Routing::MostSkilled),
        Just(Routing::RingAll),
    ]
}

fn queue_cfg() -> impl Strategy<Value = (Routing, i32, u64, u64, Option<u64>, u8)> {
    let skill = prop_oneof![3 => Just(0u8), 1 => 1..3u8];
    (
        strategy(),
        0..3i32,
        5..40u64,
        0..30u64,
        prop::option::weighted(0.3, 20..400u64),
        skill,
    )
}

fn make_queue(
    i: usize,
    (strategy, priority, ring, wrap, max_wait, skill): (Routing, i32, u64, u64, Option<u64>, u8),
) -> QueueConfig {
    let mut cfg = QueueConfig::new(format!("q{i}")).with_strategy(strategy);
    cfg.priority = priority;
    cfg.ring_timeout = Duration::from_secs(ring);
    cfg.wrap_up = Duration::from_secs(wrap);
    cfg.max_wait = max_wait.map(Duration::from_secs);
    if skill > 0 {
        cfg = cfg.requires(SKILLS[usize::from(skill) - 1], 3);
    }
    cfg
}

/// Agent `i` serving the queues in `mask` with `skills` (bit 0: english 5, bit 1: billing 2).
fn make_agent(i: usize, mask: u8, skills: u8) -> AgentConfig {
    let mut cfg = AgentConfig::new(format!("a{i}"));
    for q in 0..QUEUES {
        if mask & (1 << q) != 0 {
            cfg = cfg.serving(format!("q{q}"));
        }
    }
    if skills & 1 != 0 {
        cfg = cfg.skill("english", 5);
    }
    if skills & 2 != 0 {
        cfg = cfg.skill("billing", 2);
    }
    cfg
}

/// Whether a contact belongs to a statistics period.
type Within<'a> = Box<dyn Fn(&MContact) -> bool + 'a>;

#[derive(Clone, Debug, PartialEq)]
enum Status {
    Waiting,
    Ringing(BTreeSet<usize>),
    Connected(usize),
    Answered,
    Abandoned,
    Overflowed,
    Refused,
}

#[derive(Clone, Debug)]
struct MContact {
    queue: usize,
    generation: u32,
    priority: i32,
    overridden: bool,
    seq: u64,
    arrival: Instant,
    status: Status,
    excluded: BTreeSet<usize>,
    /// Transferred to this agent: offered to nobody else.
    target: Option<usize>,
    answered_within: Option<bool>,
    short_abandon: bool,
    position: u32,
}

impl MContact {
    fn queue_cfg_short(&self, queues: &[Option<QueueConfig>]) -> Duration {
        queues[self.queue]
            .as_ref()
            .map_or(Duration::ZERO, |q| q.short_abandon_threshold)
    }
    fn live(&self) -> bool {
        matches!(
            self.status,
            Status::Waiting | Status::Ringing(_) | Status::Connected(_)
        )
    }
    fn key(&self) -> (std::cmp::Reverse<i32>, u64) {
        (std::cmp::Reverse(self.priority), self.seq)
    }
}

#[derive(Clone, Debug)]
struct MAgent {
    cfg: Option<AgentConfig>,
    state: AgentState,
    offer: Option<u64>,
    pending_not_ready: bool,
    /// (contact, answered at) from the answer to the end of wrap-up.
    work: Option<(u64, Instant)>,
}

struct Model {
    rig: Rig,
    queues: Vec<Option<QueueConfig>>,
    generations: Vec<u32>,
    agents: Vec<MAgent>,
    contacts: BTreeMap<u64, MContact>,
    next_contact: u64,
    /// (queue, generation) → (handled, total handle time)
    handled: BTreeMap<(usize, u32), (u64, Duration)>,
}

fn agent_id(i: usize) -> acd::AgentId {
    acd::AgentId::new(format!("a{i}"))
}

fn queue_id(i: usize) -> acd::QueueId {
    acd::QueueId::new(format!("q{i}"))
}

fn index(id: &str) -> usize {
    id[1..].parse().expect("model ids are a<n> / q<n>")
}

impl Model {
    fn new(seed: u64, queues: Vec<QueueConfig>, agents: Vec<AgentConfig>) -> Self {
        let wall = jiff::Timestamp::from_second(START_WALL).expect("valid");
        let rig = Rig::with_config(
            AcdConfig {
                seed,
                ..AcdConfig::default()
            },
            wall,
        );
        let mut model = Model {
            rig,
            queues: vec![None; QUEUES],
            generations: vec![0; QUEUES],
            agents: (0..AGENTS)
                .map(|_| MAgent {
                    cfg: None,
                    state: AgentState::LoggedOut,
                    offer: None,
                    pending_not_ready: false,
                    work: None,
                })
                .collect(),
            contacts: BTreeMap::new(),
            next_contact: 1,
            handled: BTreeMap::new(),
        };
        for (i, q) in queues.into_iter().enumerate() {
            model.apply(Op::ToggleQueue(i), Some(q));
        }
        for (i, a) in agents.into_iter().enumerate() {
            model.step_with(Input::UpsertAgent(a.clone()), true, |m| {
                m.agents[i].cfg = Some(a)
            });
        }
        model
    }

    fn eligible(&self, agent: usize, queue: usize) -> bool {
        match (&self.agents[agent].cfg, &self.queues[queue]) {
            (Some(a), Some(q)) => a.may_serve(q),
            _ => false,
        }
    }

    fn live_contacts(&self) -> Vec<u64> {
        self.contacts
            .iter()
            .filter(|(_, c)| c.live())
            .map(|(&id, _)| id)
            .collect()
    }

    fn pick(&self, n: usize) -> Option<u64> {
        let live = self.live_contacts();
        (!live.is_empty()).then(|| live[n % live.len()])
    }

    fn kind(&self, a: usize) -> Option<StateKind> {
        self.agents[a]
            .cfg
            .as_ref()
            .map(|_| self.agents[a].state.kind())
    }

    /// Applies one operation: decides the input and whether the ACD must accept it.
    fn apply(&mut self, op: Op, queue_cfg: Option<QueueConfig>) {
        use StateKind as K;
        let k = |a: usize| self.kind(a);
        let (input, ok) = match op {
            Op::Login(a, ready) => (
                Input::Login {
                    agent: agent_id(a),
                    ready,
                },
                k(a) == Some(K::LoggedOut),
            ),
            Op::Logout(a) => (
                Input::Logout { agent: agent_id(a) },
                matches!(k(a), Some(s) if !matches!(s, K::LoggedOut | K::OnCall | K::OnHold)),
            ),
            Op::Ready(a) => (
                Input::Ready { agent: agent_id(a) },
                match k(a) {
                    Some(K::NotReady | K::WrapUp) => true,
                    Some(K::OnCall | K::OnHold) => self.agents[a].pending_not_ready,
                    _ => false,
                },
            ),
            Op::NotReady(a) => (
                Input::NotReady {
                    agent: agent_id(a),
                    reason: "model".into(),
                },
                matches!(k(a), Some(s) if s != K::LoggedOut),
            ),
            Op::Hold(a) => (Input::Hold { agent: agent_id(a) }, k(a) == Some(K::OnCall)),
            Op::Unhold(a) => (
                Input::Unhold { agent: agent_id(a) },
                k(a) == Some(K::OnHold),
            ),
            Op::AgentHangUp(a) => (
                Input::AgentHungUp { agent: agent_id(a) },
                matches!(k(a), Some(K::OnCall | K::OnHold)),
            ),
            Op::FinishWrapUp(a) => (
                Input::FinishWrapUp { agent: agent_id(a) },
                k(a) == Some(K::WrapUp),
            ),
            Op::Enqueue(q, priority, target) => {
                let contact = self.next_contact;
                self.next_contact += 1;
                (
                    Input::Enqueue {
                        contact: ContactId(contact),
                        queue: queue_id(q),
                        priority,
                        agent: target.map(agent_id),
                    },
                    self.queues[q].is_some(),
                )
            }
            Op::Answer(a) => match self.agents[a].offer {
                Some(c) => (
                    Input::AgentAnswered {
                        agent: agent_id(a),
                        contact: ContactId(c),
                    },
                    true,
                ),
                None => {
                    let c = self.pick(a).unwrap_or(999);
                    (
                        Input::AgentAnswered {
                            agent: agent_id(a),
                            contact: ContactId(c),
                        },
                        false,
                    )
                }
            },
            Op::Reject(a, reason) => match self.agents[a].offer {
                Some(c) => (
                    Input::OfferRejected {
                        agent: agent_id(a),
                        contact: ContactId(c),
                        reason,
                    },
                    true,
                ),
                None => (
                    Input::OfferRejected {
                        agent: agent_id(a),
                        contact: ContactId(999),
                        reason,
                    },
                    false,
                ),
            },
            Op::CustomerHangUp(n) => match self.pick(n) {
                Some(c) => (
                    Input::CustomerHungUp {
                        contact: ContactId(c),
                    },
                    true,
                ),
                None => (
                    Input::CustomerHungUp {
                        contact: ContactId(999),
                    },
                    false,
                ),
            },
            Op::Withdraw(n) => match self.pick(n) {
                Some(c) => {
                    let connected = matches!(self.contacts[&c].status, Status::Connected(_));
                    (
                        Input::Withdraw {
                            contact: ContactId(c),
                        },
                        !connected,
                    )
                }
                None => (
                    Input::Withdraw {
                        contact: ContactId(999),
                    },
                    false,
                ),
            },
            Op::Advance(secs) => {
                self.rig.now += Duration::from_secs(secs);
                self.rig.acd.handle_timeout(self.rig.now);
                let out = self.drain();
                self.absorb(None, out);
                return;
            }
            Op::Reconfigure(a, mask, skills) => {
                let cfg = make_agent(a, mask, skills);
                let fresh = self.agents[a].cfg.is_none();
                self.step_with(Input::UpsertAgent(cfg.clone()), true, |m| {
                    if fresh {
                        m.agents[a] = MAgent {
                            cfg: None,
                            state: AgentState::LoggedOut,
                            offer: None,
                            pending_not_ready: false,
                            work: None,
                        };
                    }
                    m.agents[a].cfg = Some(cfg);
                });
                return;
            }
            Op::RemoveAgent(a) => {
                let ok = matches!(k(a), Some(s) if !matches!(s, K::OnCall | K::OnHold));
                self.step_with(Input::RemoveAgent(agent_id(a)), ok, |m| {
                    m.agents[a].cfg = None
                });
                if ok {
                    // The removal's last notification (logged out) closed any wrap-up.
                    assert!(self.agents[a].work.is_none() && self.agents[a].offer.is_none());
                }
                return;
            }
            Op::QueuePriority(q, priority) => {
                let Some(mut cfg) = self.queues[q].clone() else {
                    return;
                };
                cfg.priority = priority;
                self.step_with(Input::UpsertQueue(cfg.clone()), true, |m| {
                    for c in m.contacts.values_mut() {
                        if c.queue == q && c.generation == m.generations[q] && !c.overridden {
                            c.priority = priority;
                        }
                    }
                    m.queues[q] = Some(cfg);
                });
                return;
            }
            Op::ToggleQueue(q) => {
                match self.queues[q].clone() {
                    Some(_) => self.step_with(Input::RemoveQueue(queue_id(q)), true, |m| {
                        m.queues[q] = None;
                    }),
                    None => {
                        let cfg = queue_cfg.unwrap_or_else(|| QueueConfig::new(format!("q{q}")));
                        self.step_with(Input::UpsertQueue(cfg.clone()), true, |m| {
                            m.generations[q] += 1;
                            m.queues[q] = Some(cfg);
                        });
                    }
                }
                return;
            }
        };
        self.step(input, ok);
    }

    fn step(&mut self, input: Input, ok: bool) {
        self.step_with(input, ok, |_| {});
    }

    /// Feeds an input; `before` updates the model's configuration when it is accepted, before
    /// the outputs are read.
    fn step_with(&mut self, input: Input, ok: bool, before: impl FnOnce(&mut Model)) {
        let what = format!("{input:?}");
        let result = self.rig.acd.handle(self.rig.now, input.clone());
        let out = self.drain();
        assert_eq!(
            result.is_ok(),
            ok,
            "{what}: {result:?} (state model: {:?})",
            self.agents
        );
        if let Err(e) = result {
            assert!(out.is_empty(), "refused {what} ({e}) produced {out:?}");
            return;
        }
        before(self);
        self.absorb(Some(input), out);
    }

    fn drain(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(o) = self.rig.acd.poll_output() {
            out.push(o);
        }
        out
    }

    /// Updates the model with an accepted input and its outputs, checking each output.
    fn absorb(&mut self, input: Option<Input>, out: Vec<Output>) {
        let now = self.rig.now;
        let mut enqueued = None;
        match &input {
            Some(Input::Enqueue {
                contact,
                queue,
                priority,
                agent,
            }) => {
                let q = index(queue.as_str());
                let cfg = self.queues[q].as_ref().expect("accepted: queue exists");
                self.contacts.insert(
                    contact.0,
                    MContact {
                        queue: q,
                        generation: self.generations[q],
                        priority: priority.unwrap_or(cfg.priority),
                        overridden: priority.is_some(),
                        seq: contact.0,
                        arrival: now,
                        status: Status::Waiting,
                        excluded: BTreeSet::new(),
                        target: agent.as_ref().map(|a| index(a.as_str())),
                        answered_within: None,
                        short_abandon: false,
                        position: 0,
                    },
                );
                enqueued = Some(contact.0);
            }
            Some(Input::CustomerHungUp { contact }) | Some(Input::Withdraw { contact }) => {
                let abandon = matches!(input, Some(Input::CustomerHungUp { .. }));
                let short = self.contacts[&contact.0].queue_cfg_short(&self.queues);
                let c = self.contacts.get_mut(&contact.0).expect("accepted: known");
                c.short_abandon = abandon && now - c.arrival < short;
                c.status = match c.status {
                    Status::Connected(_) => Status::Answered,
                    _ if abandon => Status::Abandoned,
                    _ => Status::Overflowed,
                };
            }
            Some(Input::AgentHungUp { agent }) => {
                let a = index(agent.as_str());
                let c = self.agents[a].state.contact().expect("accepted: on a call");
                self.contacts.get_mut(&c.0).expect("known").status = Status::Answered;
            }
            Some(Input::OfferRejected {
                agent,
                contact,
                reason,
            }) => {
                let a = index(agent.as_str());
                assert_eq!(self.agents[a].offer.take(), Some(contact.0));
                let c = self.contacts.get_mut(&contact.0).expect("known");
                if *reason != Rejection::Unreachable {
                    c.excluded.insert(a);
                }
                if let Status::Ringing(set) = &mut c.status {
                    set.remove(&a);
                    if set.is_empty() {
                        c.status = Status::Waiting;
                    }
                }
            }
            Some(Input::NotReady { agent, .. }) => {
                let a = index(agent.as_str());
                if matches!(
                    self.kind(a),
                    Some(StateKind::OnCall | StateKind::OnHold | StateKind::WrapUp)
                ) {
                    self.agents[a].pending_not_ready = true;
                }
            }
            Some(Input::Ready { agent }) => {
                self.agents[index(agent.as_str())].pending_not_ready = false
            }
            Some(Input::RemoveQueue(_))
            | Some(Input::UpsertQueue(_))
            | Some(Input::UpsertAgent(_)) => {}
            _ => {}
        }
        for o in &out {
            self.output(o, enqueued);
        }
        self.check(&out);
    }

    fn output(&mut self, o: &Output, enqueued: Option<u64>) {
        let now = self.rig.now;
        match o {
            Output::Offer {
                agent,
                contact,
                queue,
                ring_until,
            } => {
                let a = index(agent.as_str());
                let ag = &self.agents[a];
                assert!(
                    ag.offer.is_none(),
                    "double offer to {agent}: {:?} and {contact}",
                    ag.offer
                );
                assert_eq!(
                    ag.state.kind(),
                    StateKind::Available,
                    "offer to {agent} while {:?}",
                    ag.state
                );
                let c = &self.contacts[&contact.0];
                assert_eq!(queue_id(c.queue), *queue);
                assert!(self.eligible(a, c.queue), "{agent} may not serve {queue}");
                assert!(
                    !c.excluded.contains(&a),
                    "{agent} declined {contact} before"
                );
                assert!(
                    c.target.is_none_or(|t| t == a),
                    "{contact} is for a{:?}, offered to {agent}",
                    c.target
                );
                let ring = self.queues[c.queue]
                    .as_ref()
                    .expect("live queue")
                    .ring_timeout;
                assert_eq!(*ring_until, now + ring);
                // The agent gets the best contact it may take: no waiting contact it may take
                // has a higher priority or the same priority and an earlier arrival.
                for (id, other) in &self.contacts {
                    if other.status == Status::Waiting
                        && *id != contact.0
                        && self.eligible(a, other.queue)
                        && !other.excluded.contains(&a)
                        && other.target.is_none_or(|t| t == a)
                    {
                        assert!(
                            c.key() < other.key(),
                            "{agent} got {contact} while {id} was ahead"
                        );
                    }
                }
                let c = self.contacts.get_mut(&contact.0).expect("known");
                match &mut c.status {
                    Status::Waiting => c.status = Status::Ringing(BTreeSet::from([a])),
                    Status::Ringing(set) => {
                        set.insert(a);
                    }
                    other => panic!("offer of {contact} in status {other:?}"),
                }
                c.position = 0;
                self.agents[a].offer = Some(contact.0);
            }
            Output::Cancel { agent, contact, .. } => {
                let a = index(agent.as_str());
                assert_eq!(
                    self.agents[a].offer.take(),
                    Some(contact.0),
                    "cancel without offer"
                );
                let c = self.contacts.get_mut(&contact.0).expect("known");
                if let Status::Ringing(set) = &mut c.status {
                    set.remove(&a);
                    if set.is_empty() {
                        c.status = Status::Waiting;
                    }
                }
            }
            Output::Connect {
                agent,
                contact,
                queue,
                waited,
                ..
            } => {
                let a = index(agent.as_str());
                assert_eq!(
                    self.agents[a].offer.take(),
                    Some(contact.0),
                    "connect without offer"
                );
                let threshold = self.queues[index(queue.as_str())]
                    .as_ref()
                    .expect("live queue")
                    .service_level_threshold;
                let c = self.contacts.get_mut(&contact.0).expect("known");
                assert!(matches!(&c.status, Status::Ringing(set) if set.contains(&a)));
                assert_eq!(*waited, now - c.arrival);
                c.status = Status::Connected(a);
                c.answered_within = Some(*waited <= threshold);
                self.agents[a].work = Some((contact.0, now));
            }
            Output::MaxWait { contact, .. } | Output::NoAgents { contact, .. } => {
                let c = self.contacts.get_mut(&contact.0).expect("known");
                assert_eq!(c.status, Status::Waiting, "{o:?}");
                let refused = enqueued == Some(contact.0) && matches!(o, Output::NoAgents { .. });
                c.status = if refused {
                    Status::Refused
                } else {
                    Status::Overflowed
                };
            }
            Output::QueuePosition {
                contact, position, ..
            } => {
                self.contacts.get_mut(&contact.0).expect("known").position = *position;
            }
            Output::AgentStateChanged { agent, state } => {
                let a = index(agent.as_str());
                let ag = &mut self.agents[a];
                ag.state = state.clone();
                let busy = matches!(
                    state.kind(),
                    StateKind::OnCall | StateKind::OnHold | StateKind::WrapUp
                );
                if !busy {
                    ag.pending_not_ready = false;
                    if let Some((contact, answered)) = ag.work.take() {
                        let c = &self.contacts[&contact];
                        let entry = self.handled.entry((c.queue, c.generation)).or_default();
                        entry.0 += 1;
                        entry.1 += now - answered;
                    }
                }
            }
            Output::StatsChanged { .. } => {}
        }
    }

    fn check(&mut self, out: &[Output]) {
        let now = self.rig.now;
        if let Err(e) = self.rig.acd.check_invariants() {
            panic!("{e}\noutputs: {out:#?}");
        }
        // Agents: the notified state is the state; ringing ⇔ offer; on a call ⇔ connected.
        for (a, ag) in self.agents.iter().enumerate() {
            let actual = self.rig.acd.agent_state(&agent_id(a)).cloned();
            if ag.cfg.is_none() {
                assert_eq!(actual, None);
                continue;
            }
            assert_eq!(actual.as_ref(), Some(&ag.state), "agent a{a}");
            match &ag.state {
                AgentState::Ringing { contact, .. } => assert_eq!(ag.offer, Some(contact.0)),
                AgentState::OnCall { contact, .. } | AgentState::OnHold { contact, .. } => {
                    assert_eq!(self.contacts[&contact.0].status, Status::Connected(a));
                    assert_eq!(ag.offer, None);
                }
                _ => assert_eq!(ag.offer, None, "a{a} has an offer while {:?}", ag.state),
            }
        }
        // Contacts: none lost, and the ACD agrees on each.
        for (&id, c) in &self.contacts {
            let status = self.rig.acd.contact_status(now, ContactId(id));
            match (&c.status, &status) {
                (Status::Waiting, Some(ContactStatus::Waiting { queue, .. })) => {
                    assert_eq!(*queue, queue_id(c.queue))
                }
                (Status::Ringing(set), Some(ContactStatus::Ringing { agents, .. })) => {
                    let acd: BTreeSet<usize> = agents.iter().map(|a| index(a.as_str())).collect();
                    assert_eq!(*set, acd);
                }
                (Status::Connected(a), Some(ContactStatus::Connected { agent, .. })) => {
                    assert_eq!(*a, index(agent.as_str()))
                }
                (
                    Status::Answered | Status::Abandoned | Status::Overflowed | Status::Refused,
                    None,
                ) => {}
                (model, acd) => panic!("contact {id}: model {model:?}, ACD {acd:?}"),
            }
        }
        for q in 0..QUEUES {
            if self.queues[q].is_none() {
                assert_eq!(self.rig.acd.waiting_contacts(&queue_id(q)), None);
                continue;
            }
            let generation = self.generations[q];
            let mine: Vec<(&u64, &MContact)> = self
                .contacts
                .iter()
                .filter(|(_, c)| c.queue == q && c.generation == generation)
                .collect();
            // FIFO within priority: the line is ordered by priority, then arrival.
            let mut line: Vec<(u64, &MContact)> = mine
                .iter()
                .filter(|(_, c)| c.status == Status::Waiting)
                .map(|(id, c)| (**id, *c))
                .collect();
            line.sort_by_key(|(_, c)| c.key());
            let expected: Vec<ContactId> = line.iter().map(|(id, _)| ContactId(*id)).collect();
            assert_eq!(self.rig.acd.waiting_contacts(&queue_id(q)), Some(expected));
            // Positions: every waiting contact was told its place.
            for (place, (id, c)) in line.iter().enumerate() {
                assert_eq!(c.position as usize, place + 1, "position of {id}");
            }
            // Statistics agree with the history, per period of arrival.
            let stats = self
                .rig
                .acd
                .queue_stats(now, &queue_id(q))
                .expect("live queue");
            let day_of =
                |t: Instant| (START_WALL + (t - self.rig.t0).as_secs() as i64).div_euclid(86_400);
            let periods: [(&str, &acd::PeriodStats, Within<'_>); 3] = [
                ("since start", &stats.since_start, Box::new(|_| true)),
                (
                    "today",
                    &stats.today,
                    Box::new(|c: &MContact| day_of(c.arrival) == day_of(now)),
                ),
                (
                    "window",
                    &stats.window,
                    Box::new(|c: &MContact| now - c.arrival < Duration::from_secs(900)),
                ),
            ];
            for (name, p, within) in &periods {
                let entered: Vec<&MContact> = mine
                    .iter()
                    .map(|(_, c)| *c)
                    .filter(|c| c.status != Status::Refused && within(c))
                    .collect();
                let count =
                    |f: &dyn Fn(&MContact) -> bool| entered.iter().filter(|c| f(c)).count() as u64;
                let answered = count(&|c| c.answered_within.is_some());
                let within_sl = count(&|c| c.answered_within == Some(true));
                let abandoned = count(&|c| c.status == Status::Abandoned);
                let short = count(&|c| c.status == Status::Abandoned && c.short_abandon);
                assert_eq!(p.short_abandoned, short, "short abandons in q{q}, {name}");
                let overflowed = count(&|c| c.status == Status::Overflowed);
                let in_queue = count(&|c| matches!(c.status, Status::Waiting | Status::Ringing(_)));
                assert_eq!(
                    (
                        p.offered,
                        p.answered,
                        p.answered_within_threshold,
                        p.abandoned,
                        p.overflowed,
                        p.in_queue
                    ),
                    (
                        entered.len() as u64,
                        answered,
                        within_sl,
                        abandoned,
                        overflowed,
                        in_queue
                    ),
                    "queue q{q}, {name}"
                );
                assert_eq!(
                    p.offered,
                    p.answered + p.abandoned + p.overflowed + p.in_queue
                );
            }
            let (handled, total) = self
                .handled
                .get(&(q, generation))
                .copied()
                .unwrap_or_default();
            assert_eq!(stats.since_start.handled, handled, "handled in q{q}");
            if handled > 0 {
                let aht = stats.since_start.aht_seconds.expect("handled > 0");
                assert!((aht * handled as f64 - total.as_secs_f64()).abs() < 1e-6);
            }
            let waiting = line.len() as u64;
            let ringing = mine
                .iter()
                .filter(|(_, c)| matches!(c.status, Status::Ringing(_)))
                .count();
            assert_eq!((stats.waiting, stats.ringing), (waiting, ringing as u64));
            // Agents by state among those who may serve the queue.
            let mut counts = [0u32; 7];
            for (a, ag) in self.agents.iter().enumerate() {
                if self.eligible(a, q) {
                    counts[ag.state.kind() as usize] += 1;
                }
            }
            let s = stats.agents;
            assert_eq!(
                [
                    s.logged_out,
                    s.available,
                    s.ringing,
                    s.on_call,
                    s.on_hold,
                    s.wrap_up,
                    s.not_ready
                ],
                counts,
                "agents by state in q{q}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_traffic_keeps_every_promise(
        seed in any::<u64>(),
        queues in prop::array::uniform3(queue_cfg()),
        agents in prop::array::uniform4((1..8u8, prop_oneof![1 => 0..4u8, 2 => Just(3u8)], prop::bool::weighted(0.8))),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let queues: Vec<QueueConfig> =
            queues.into_iter().enumerate().map(|(i, q)| make_queue(i, q)).collect();
        let logins: Vec<bool> = agents.iter().map(|&(_, _, login)| login).collect();
        let agents: Vec<AgentConfig> =
            agents.into_iter().enumerate().map(|(i, (m, s, _))| make_agent(i, m, s)).collect();
        let mut model = Model::new(seed, queues.clone(), agents);
        for (i, login) in logins.into_iter().enumerate() {
            if login {
                model.apply(Op::Login(i, true), None);
            }
        }
        for op in ops {
            let cfg = match op {
                Op::ToggleQueue(q) => Some(queues[q].clone()),
                _ => None,
            };
            model.apply(op, cfg);
        }
        // Every contact ever enqueued is accounted for.
        for c in model.contacts.values() {
            prop_assert!(c.status != Status::Waiting || model.queues[c.queue].is_some());
        }
    }
}

#[test]
fn refused_requests_leave_no_trace() {
    // Sanity of the harness itself: a request the model expects to be refused must be.
    let mut model = Model::new(
        1,
        vec![
            QueueConfig::new("q0"),
            QueueConfig::new("q1"),
            QueueConfig::new("q2"),
        ],
        (0..AGENTS).map(|i| make_agent(i, 1, 0)).collect(),
    );
    model.apply(Op::Hold(0), None);
    model.apply(Op::Login(0, true), None);
    model.apply(Op::Login(0, true), None);
    model.apply(Op::Enqueue(0, None, None), None);
    model.apply(Op::Answer(0), None);
    model.apply(Op::Logout(0), None);
    assert_eq!(model.kind(0), Some(StateKind::OnCall));
    let err = model
        .rig
        .acd
        .handle(model.rig.now, Input::Logout { agent: agent_id(0) });
    assert_eq!(err, Err(AcdError::AgentBusy(agent_id(0))));
}
