//! Explicit mappings from the store's objects to the ACD's configuration values (the cores
//! know nothing of each other). The configuration file's objects reach the store through
//! the controller's start-up (`apply_config`), so the ACD always loads from the store.

use std::time::Duration;

use acd::{AgentConfig, QueueConfig, Strategy};
use store::{Agent, Queue, QueueStrategy};

/// The ACD's strategy for a stored one.
pub fn acd_strategy(s: QueueStrategy) -> Strategy {
    match s {
        QueueStrategy::LongestIdle => Strategy::LongestIdle,
        QueueStrategy::RoundRobin => Strategy::RoundRobin,
        QueueStrategy::FewestCalls => Strategy::FewestCalls,
        QueueStrategy::MostSkilled => Strategy::MostSkilled,
        QueueStrategy::RingAll => Strategy::RingAll,
    }
}

/// The ACD's configuration of a stored queue.
pub fn acd_queue(q: &Queue) -> QueueConfig {
    let mut c = QueueConfig::new(q.id.as_str());
    c.required_skills = q.skills.iter().map(|(k, v)| (k.clone(), *v)).collect();
    c.strategy = acd_strategy(q.strategy);
    c.ring_timeout = q.ring_timeout;
    c.wrap_up = q.wrap_up;
    c.max_wait = q.max_wait;
    c.service_level_threshold = q.service_level;
    c.short_abandon_threshold = q.short_abandon;
    c.priority = q.priority;
    c.record = q.record;
    c
}

/// The ACD's configuration of a stored agent.
pub fn acd_agent(a: &Agent) -> AgentConfig {
    let mut c = AgentConfig::new(a.id.as_str());
    c.name = a.name.clone();
    c.skills = a.skills.iter().map(|(k, v)| (k.clone(), *v)).collect();
    c.queues = a.queues.iter().map(|q| q.as_str().into()).collect();
    c.wrap_up = a.wrap_up;
    c
}

/// Seconds as a JSON number (fractions kept to the millisecond).
pub fn secs(d: Duration) -> f64 {
    d.as_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_objects_map_to_the_acd() {
        let q = Queue {
            id: "support".into(),
            name: "Support".into(),
            skills: [("english".to_string(), 3)].into(),
            strategy: QueueStrategy::RingAll,
            ring_timeout: Duration::from_secs(7),
            wrap_up: Duration::from_secs(2),
            max_wait: Some(Duration::from_secs(60)),
            service_level: Duration::from_secs(30),
            short_abandon: Duration::from_secs(4),
            priority: 4,
            record: true,
        };
        let a = Agent {
            id: "alice".into(),
            name: "Alice".into(),
            sip_user: "1001".into(),
            secret: None,
            skills: [("english".to_string(), 8)].into(),
            queues: ["support".to_string()].into(),
            wrap_up: Some(Duration::from_secs(3)),
        };
        let aq = acd_queue(&q);
        assert_eq!(aq.strategy, Strategy::RingAll);
        assert_eq!(aq.required_skills.get("english"), Some(&3));
        assert_eq!((aq.priority, aq.record), (4, true));
        assert_eq!(aq.wrap_up, Duration::from_secs(2));
        assert_eq!(aq.max_wait, Some(Duration::from_secs(60)));
        assert_eq!(aq.service_level_threshold, Duration::from_secs(30));
        assert_eq!(aq.short_abandon_threshold, Duration::from_secs(4));
        let aa = acd_agent(&a);
        assert_eq!(aa.name, "Alice");
        assert!(aa.may_serve(&aq));
        assert_eq!(aa.wrap_up, Some(Duration::from_secs(3)));
        for s in QueueStrategy::ALL {
            assert_eq!(acd_strategy(*s).as_str(), s.as_str());
        }
    }
}
