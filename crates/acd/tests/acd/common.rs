//! The test rig: an ACD, a simulated clock, and helpers to read outputs.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use acd::{
    Acd, AcdConfig, AcdError, AgentConfig, AgentId, AgentState, CancelReason, ContactId, Input,
    Output, QueueConfig, QueueId,
};

pub struct Rig {
    pub acd: Acd,
    pub t0: Instant,
    pub now: Instant,
}

/// 2024-05-01T12:00:00Z: the wall time at the rig's start.
pub fn noon() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_714_564_800).expect("valid timestamp")
}

impl Rig {
    pub fn new() -> Self {
        Self::with_config(
            AcdConfig {
                seed: 7,
                ..AcdConfig::default()
            },
            noon(),
        )
    }

    pub fn with_config(config: AcdConfig, wall: jiff::Timestamp) -> Self {
        let t0 = Instant::now();
        Self {
            acd: Acd::new(config, t0, wall),
            t0,
            now: t0,
        }
    }

    /// Feeds an input, drains the outputs and audits the ACD.
    pub fn try_input(&mut self, input: Input) -> Result<Vec<Output>, AcdError> {
        let result = self.acd.handle(self.now, input);
        let out = self.drain();
        if result.is_err() {
            assert!(out.is_empty(), "a refused input produced outputs: {out:?}");
        }
        result.map(|()| out)
    }

    pub fn input(&mut self, input: Input) -> Vec<Output> {
        let what = format!("{input:?}");
        self.try_input(input)
            .unwrap_or_else(|e| panic!("{what} refused: {e}"))
    }

    /// Moves the clock forward and runs the timers that fell due.
    pub fn advance(&mut self, d: Duration) -> Vec<Output> {
        self.now += d;
        self.acd.handle_timeout(self.now);
        self.drain()
    }

    pub fn secs(&mut self, s: u64) -> Vec<Output> {
        self.advance(Duration::from_secs(s))
    }

    fn drain(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(o) = self.acd.poll_output() {
            out.push(o);
        }
        if let Err(e) = self.acd.check_invariants() {
            panic!("{e}\noutputs: {out:#?}");
        }
        out
    }

    pub fn queue(&mut self, cfg: QueueConfig) -> Vec<Output> {
        self.input(Input::UpsertQueue(cfg))
    }

    pub fn agent(&mut self, cfg: AgentConfig) -> Vec<Output> {
        self.input(Input::UpsertAgent(cfg))
    }

    /// Configures and logs in (ready) an agent serving `queues`.
    pub fn ready_agent(&mut self, id: &str, queues: &[&str]) -> Vec<Output> {
        let mut cfg = AgentConfig::new(id);
        for q in queues {
            cfg = cfg.serving(*q);
        }
        self.agent(cfg);
        self.login(id)
    }

    pub fn login(&mut self, id: &str) -> Vec<Output> {
        self.input(Input::Login {
            agent: id.into(),
            ready: true,
        })
    }

    pub fn enqueue(&mut self, contact: u64, queue: &str) -> Vec<Output> {
        self.input(Input::Enqueue {
            contact: ContactId(contact),
            queue: queue.into(),
            priority: None,
            agent: None,
        })
    }

    pub fn answer(&mut self, agent: &str, contact: u64) -> Vec<Output> {
        self.input(Input::AgentAnswered {
            agent: agent.into(),
            contact: ContactId(contact),
        })
    }

    pub fn hang_up(&mut self, contact: u64) -> Vec<Output> {
        self.input(Input::CustomerHungUp {
            contact: ContactId(contact),
        })
    }

    pub fn state(&self, agent: &str) -> AgentState {
        self.acd
            .agent_state(&AgentId::from(agent))
            .expect("configured agent")
            .clone()
    }

    pub fn kind(&self, agent: &str) -> &'static str {
        self.state(agent).name()
    }

    pub fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }
}

/// The (agent, contact) pairs offered, in order.
pub fn offers(out: &[Output]) -> Vec<(String, u64)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Offer { agent, contact, .. } => Some((agent.to_string(), contact.0)),
            _ => None,
        })
        .collect()
}

/// The (agent, contact, reason) cancels, in order.
pub fn cancels(out: &[Output]) -> Vec<(String, u64, CancelReason)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Cancel {
                agent,
                contact,
                reason,
            } => Some((agent.to_string(), contact.0, *reason)),
            _ => None,
        })
        .collect()
}

/// The (agent, contact) connections, in order.
pub fn connects(out: &[Output]) -> Vec<(String, u64)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Connect { agent, contact, .. } => Some((agent.to_string(), contact.0)),
            _ => None,
        })
        .collect()
}

pub fn no_agents(out: &[Output]) -> Vec<u64> {
    out.iter()
        .filter_map(|o| match o {
            Output::NoAgents { contact, .. } => Some(contact.0),
            _ => None,
        })
        .collect()
}

pub fn max_waits(out: &[Output]) -> Vec<u64> {
    out.iter()
        .filter_map(|o| match o {
            Output::MaxWait { contact, .. } => Some(contact.0),
            _ => None,
        })
        .collect()
}

pub fn stats_changed(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::StatsChanged { queue } => Some(queue.to_string()),
            _ => None,
        })
        .collect()
}

pub fn q(id: &str) -> QueueId {
    QueueId::from(id)
}

pub fn a(id: &str) -> AgentId {
    AgentId::from(id)
}
