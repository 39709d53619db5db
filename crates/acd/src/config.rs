//! Configuration of agents, queues and the ACD itself.
//!
//! These are plain values: the controller builds them from its TOML file or its admin API (and
//! the store persists them); the ACD receives them through [`Input::UpsertQueue`] and
//! [`Input::UpsertAgent`] at any time, including while contacts wait.
//!
//! [`Input::UpsertQueue`]: crate::Input::UpsertQueue
//! [`Input::UpsertAgent`]: crate::Input::UpsertAgent

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::AcdError;
use crate::ids::{AgentId, QueueId};

/// Lowest proficiency an agent can have in a skill, and lowest minimum a queue can require.
pub const MIN_PROFICIENCY: u8 = 1;
/// Highest proficiency.
pub const MAX_PROFICIENCY: u8 = 10;

/// Skill name → proficiency (1–10). For an agent: how good it is; for a queue: the minimum an
/// agent needs in that skill to serve the queue.
pub type Skills = BTreeMap<String, u8>;

/// How a queue picks among several available agents that may take a contact.
///
/// The strategy only matters when agents wait for contacts. When contacts wait for agents, an
/// agent that becomes available always takes the best contact it can serve (highest priority,
/// then longest waiting) whatever the strategy.
///
/// Ties (equal strategy keys) go to the agent idle the longest, then to a per-agent rank drawn
/// once from the ACD's seeded RNG when the agent is first configured: deterministic for a given
/// seed and configuration order, with no bias toward ids that sort first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Strategy {
    /// The agent that has been available the longest (the default).
    #[default]
    LongestIdle,
    /// Agents in turn, in the order they joined the queue, starting after the last one offered.
    RoundRobin,
    /// The agent that has answered the fewest contacts from this queue.
    FewestCalls,
    /// The agent with the highest sum of proficiencies over the queue's required skills (all
    /// agents are equal, so longest idle decides, when the queue requires no skill).
    MostSkilled,
    /// Every eligible available agent at once; the first to answer wins and the others get
    /// [`Output::Cancel`](crate::Output::Cancel).
    RingAll,
}

impl Strategy {
    /// The strategy's name as used in configuration files (`longest_idle`, `ring_all`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::LongestIdle => "longest_idle",
            Strategy::RoundRobin => "round_robin",
            Strategy::FewestCalls => "fewest_calls",
            Strategy::MostSkilled => "most_skilled",
            Strategy::RingAll => "ring_all",
        }
    }

    /// Parses a configuration name (the inverse of [`Strategy::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Strategy::LongestIdle,
            Strategy::RoundRobin,
            Strategy::FewestCalls,
            Strategy::MostSkilled,
            Strategy::RingAll,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// A queue: which agents may serve it and how its contacts are treated.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueConfig {
    /// The queue's id (what flows name in `enqueue`).
    pub id: QueueId,
    /// Skills an agent needs, each with a minimum proficiency, on top of listing the queue.
    pub required_skills: Skills,
    /// How the queue picks among available agents.
    pub strategy: Strategy,
    /// How long an offer rings before the agent counts as not answering. Must be positive.
    pub ring_timeout: Duration,
    /// Wrap-up after each contact of this queue (an agent's personal wrap-up overrides it).
    pub wrap_up: Duration,
    /// How long a contact may wait before [`Output::MaxWait`](crate::Output::MaxWait) hands it
    /// back to its flow; `None` means forever. Applies to contacts enqueued after a change.
    pub max_wait: Option<Duration>,
    /// Service-level threshold: a contact answered within this wait counts as "in service level".
    pub service_level_threshold: Duration,
    /// Abandons quicker than this are "short" and excluded from the service-level denominator.
    pub short_abandon_threshold: Duration,
    /// Contacts of higher-priority queues are served first by agents serving several queues.
    /// Larger is more urgent. A contact may carry its own priority instead (see
    /// [`Input::Enqueue`](crate::Input::Enqueue)).
    pub priority: i32,
    /// Whether the controller records this queue's calls (passed through in
    /// [`Output::Connect`](crate::Output::Connect)).
    pub record: bool,
}

impl QueueConfig {
    /// A queue with the defaults: longest idle, 15 s ring timeout, no wrap-up, no max wait,
    /// 20 s service level, 5 s short abandon, priority 0, no recording, no required skill.
    pub fn new(id: impl Into<QueueId>) -> Self {
        Self {
            id: id.into(),
            required_skills: Skills::new(),
            strategy: Strategy::LongestIdle,
            ring_timeout: Duration::from_secs(15),
            wrap_up: Duration::ZERO,
            max_wait: None,
            service_level_threshold: Duration::from_secs(20),
            short_abandon_threshold: Duration::from_secs(5),
            priority: 0,
            record: false,
        }
    }

    /// Adds a required skill with its minimum proficiency.
    pub fn requires(mut self, skill: impl Into<String>, min_proficiency: u8) -> Self {
        self.required_skills.insert(skill.into(), min_proficiency);
        self
    }

    /// Sets the strategy.
    pub fn with_strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Checks the values the ACD relies on.
    pub fn validate(&self) -> Result<(), AcdError> {
        if self.ring_timeout.is_zero() {
            return Err(AcdError::InvalidConfig(format!(
                "queue {}: ring timeout must be positive",
                self.id
            )));
        }
        check_skills(&format!("queue {}", self.id), &self.required_skills)
    }
}

/// An agent: who it is, what it can do and which queues it serves.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    /// The agent's id (its login).
    pub id: AgentId,
    /// Display name.
    pub name: String,
    /// Skills with proficiency 1–10.
    pub skills: Skills,
    /// Queues the agent serves, provided it has their required skills. Queues that do not exist
    /// (yet) are allowed: the agent serves them once they are configured.
    pub queues: Vec<QueueId>,
    /// Personal wrap-up, overriding the queue's.
    pub wrap_up: Option<Duration>,
}

impl AgentConfig {
    /// An agent with no skill, no queue and the queue's wrap-up; its name is its id.
    pub fn new(id: impl Into<AgentId>) -> Self {
        let id = id.into();
        Self {
            name: id.to_string(),
            id,
            skills: Skills::new(),
            queues: Vec::new(),
            wrap_up: None,
        }
    }

    /// Adds a skill.
    pub fn skill(mut self, skill: impl Into<String>, proficiency: u8) -> Self {
        self.skills.insert(skill.into(), proficiency);
        self
    }

    /// Adds a queue the agent serves.
    pub fn serving(mut self, queue: impl Into<QueueId>) -> Self {
        self.queues.push(queue.into());
        self
    }

    /// Checks the values the ACD relies on.
    pub fn validate(&self) -> Result<(), AcdError> {
        check_skills(&format!("agent {}", self.id), &self.skills)
    }

    /// Whether this agent may serve `queue` (it lists the queue and meets every required skill).
    pub fn may_serve(&self, queue: &QueueConfig) -> bool {
        self.queues.contains(&queue.id)
            && queue
                .required_skills
                .iter()
                .all(|(skill, min)| self.skills.get(skill).is_some_and(|p| p >= min))
    }
}

fn check_skills(owner: &str, skills: &Skills) -> Result<(), AcdError> {
    for (skill, p) in skills {
        if !(MIN_PROFICIENCY..=MAX_PROFICIENCY).contains(p) {
            return Err(AcdError::InvalidConfig(format!(
                "{owner}: proficiency {p} in {skill:?} is outside {MIN_PROFICIENCY}–{MAX_PROFICIENCY}"
            )));
        }
    }
    Ok(())
}

/// Settings of the ACD as a whole.
#[derive(Clone, Debug)]
pub struct AcdConfig {
    /// Seed of the RNG behind tie-breaks; one seed reproduces a run.
    pub seed: u64,
    /// Time zone whose midnight starts a new "today" for the statistics.
    pub time_zone: jiff::tz::TimeZone,
    /// Length of the sliding statistics window (15 minutes by default).
    pub stats_window: Duration,
    /// Whether to emit [`Output::QueuePosition`](crate::Output::QueuePosition) whenever a
    /// waiting contact's place changes. It costs O(contacts waiting in the queue) per change, so
    /// the simulator turns it off.
    pub position_updates: bool,
}

impl Default for AcdConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            time_zone: jiff::tz::TimeZone::UTC,
            stats_window: Duration::from_secs(15 * 60),
            position_updates: true,
        }
    }
}
