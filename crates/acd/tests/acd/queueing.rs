//! Lines, priorities, skills, max wait, no agents, abandons and positions.

use std::time::Duration;

use acd::{AgentConfig, ContactId, ContactStatus, Input, Output, QueueConfig};

use crate::common::*;

#[test]
fn contacts_are_served_first_come_first_served_within_a_priority() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    for c in [5, 3, 9] {
        rig.enqueue(c, "q");
        rig.secs(1);
    }
    assert_eq!(
        rig.acd.waiting_contacts(&q("q")),
        Some(vec![ContactId(5), ContactId(3), ContactId(9)])
    );
    let out = rig.input(Input::Ready { agent: a("alice") });
    assert_eq!(offers(&out), vec![("alice".into(), 5)]);
}

#[test]
fn a_contact_priority_goes_ahead_of_earlier_arrivals() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.enqueue(1, "q");
    rig.input(Input::Enqueue {
        contact: ContactId(2),
        queue: q("q"),
        priority: Some(5),
        agent: None,
    });
    rig.input(Input::Enqueue {
        contact: ContactId(3),
        queue: q("q"),
        priority: Some(-1),
        agent: None,
    });
    rig.enqueue(4, "q");
    let line = rig.acd.waiting_contacts(&q("q")).expect("queue");
    assert_eq!(line, [2, 1, 4, 3].map(ContactId));
}

#[test]
fn an_agent_in_several_queues_takes_the_longest_waiting_of_the_highest_priority() {
    let mut rig = Rig::new();
    let mut vip = QueueConfig::new("vip");
    vip.priority = 10;
    rig.queue(vip);
    rig.queue(QueueConfig::new("general"));
    rig.ready_agent("alice", &["general", "vip"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.enqueue(1, "general");
    rig.secs(5);
    rig.enqueue(2, "vip");
    rig.secs(5);
    rig.enqueue(3, "vip");
    rig.enqueue(4, "general");
    let mut served = Vec::new();
    rig.input(Input::Ready { agent: a("alice") });
    for _ in 0..4 {
        let contact = rig.state("alice").contact().expect("ringing").0;
        served.push(contact);
        rig.answer("alice", contact);
        rig.hang_up(contact);
    }
    assert_eq!(served, [2, 3, 1, 4]);
}

#[test]
fn equal_priorities_across_queues_go_by_arrival() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("a"));
    rig.queue(QueueConfig::new("b"));
    rig.ready_agent("alice", &["a", "b"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.enqueue(1, "b");
    rig.secs(1);
    rig.enqueue(2, "a");
    let out = rig.input(Input::Ready { agent: a("alice") });
    assert_eq!(offers(&out), vec![("alice".into(), 1)]);
}

#[test]
fn agents_without_the_required_skill_level_are_never_offered() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("fr").requires("french", 5));
    rig.agent(AgentConfig::new("low").serving("fr").skill("french", 4));
    rig.agent(AgentConfig::new("none").serving("fr"));
    rig.agent(AgentConfig::new("unlisted").skill("french", 9));
    for id in ["low", "none", "unlisted"] {
        rig.login(id);
    }
    // Nobody may serve "fr": it has no logged-in agent.
    assert_eq!(no_agents(&rig.enqueue(1, "fr")), vec![1]);
    rig.agent(AgentConfig::new("high").serving("fr").skill("french", 5));
    rig.login("high");
    assert_eq!(offers(&rig.enqueue(2, "fr")), vec![("high".into(), 2)]);
}

#[test]
fn no_agents_at_entry_when_nobody_is_logged_in() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.agent(AgentConfig::new("alice").serving("q"));
    let out = rig.enqueue(1, "q");
    assert_eq!(
        out[0],
        Output::NoAgents {
            contact: ContactId(1),
            queue: q("q")
        }
    );
    assert_eq!(rig.acd.contact_status(rig.now, ContactId(1)), None);
    // The id is free again.
    rig.login("alice");
    assert_eq!(offers(&rig.enqueue(1, "q")).len(), 1);
}

#[test]
fn no_agents_when_the_last_agent_logs_out_while_contacts_wait() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.ready_agent("bob", &["q"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.input(Input::NotReady {
        agent: a("bob"),
        reason: "x".into(),
    });
    rig.enqueue(1, "q");
    rig.enqueue(2, "q");
    let out = rig.input(Input::Logout { agent: a("alice") });
    assert!(no_agents(&out).is_empty(), "bob is still logged in");
    let out = rig.input(Input::Logout { agent: a("bob") });
    assert_eq!(no_agents(&out), vec![1, 2]);
    assert_eq!(rig.acd.waiting_contacts(&q("q")), Some(vec![]));
}

#[test]
fn max_wait_hands_the_contact_back_to_its_flow() {
    let mut rig = Rig::new();
    let mut cfg = QueueConfig::new("q");
    cfg.max_wait = Some(Duration::from_secs(60));
    rig.queue(cfg);
    rig.ready_agent("alice", &["q"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.enqueue(1, "q");
    rig.secs(30);
    rig.enqueue(2, "q");
    assert!(max_waits(&rig.secs(29)).is_empty());
    assert_eq!(max_waits(&rig.secs(1)), vec![1]);
    assert_eq!(max_waits(&rig.secs(30)), vec![2]);
    assert_eq!(rig.acd.contact_status(rig.now, ContactId(1)), None);
}

#[test]
fn max_wait_while_ringing_waits_for_the_outcome_of_the_offer() {
    let mut rig = Rig::new();
    let mut cfg = QueueConfig::new("q");
    cfg.max_wait = Some(Duration::from_secs(10));
    cfg.ring_timeout = Duration::from_secs(15);
    rig.queue(cfg);
    rig.ready_agent("alice", &["q"]);
    rig.ready_agent("bob", &["q"]);
    rig.enqueue(1, "q");
    // Max wait passes while ringing: nothing yet.
    assert!(max_waits(&rig.secs(12)).is_empty());
    // The offer rings out: instead of trying bob, the contact leaves with MaxWait.
    let out = rig.secs(3);
    assert_eq!(max_waits(&out), vec![1]);
    assert!(offers(&out).is_empty());
    // Had it been answered, it would simply have been connected.
    rig.enqueue(2, "q");
    rig.secs(12);
    let out = rig.answer("bob", 2);
    assert_eq!(connects(&out), vec![("bob".into(), 2)]);
}

#[test]
fn abandon_while_waiting_removes_the_contact() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.enqueue(1, "q");
    rig.enqueue(2, "q");
    rig.hang_up(1);
    assert_eq!(rig.acd.waiting_contacts(&q("q")), Some(vec![ContactId(2)]));
}

#[test]
fn withdraw_takes_a_waiting_or_ringing_contact_out_but_not_a_connected_one() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.enqueue(1, "q");
    rig.enqueue(2, "q");
    let out = rig.input(Input::Withdraw {
        contact: ContactId(1),
    });
    assert_eq!(
        cancels(&out),
        vec![("alice".into(), 1, acd::CancelReason::Withdrawn)]
    );
    // Alice is free again and takes 2.
    assert_eq!(offers(&out), vec![("alice".into(), 2)]);
    rig.answer("alice", 2);
    assert_eq!(
        rig.try_input(Input::Withdraw {
            contact: ContactId(2)
        }),
        Err(acd::AcdError::ContactConnected(ContactId(2)))
    );
}

#[test]
fn a_contact_id_in_use_is_refused() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.enqueue(1, "q");
    let err = rig.try_input(Input::Enqueue {
        contact: ContactId(1),
        queue: q("q"),
        priority: None,
        agent: None,
    });
    assert_eq!(err, Err(acd::AcdError::DuplicateContact(ContactId(1))));
    let err = rig.try_input(Input::Enqueue {
        contact: ContactId(2),
        queue: q("nope"),
        priority: None,
        agent: None,
    });
    assert_eq!(err, Err(acd::AcdError::UnknownQueue(q("nope"))));
}

#[test]
fn position_and_estimated_wait_for_announcements() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.ready_agent("bob", &["q"]);
    // Build history: two calls of 120 s handle time each.
    for c in [100, 101] {
        let offered = offers(&rig.enqueue(c, "q"));
        rig.answer(&offered[0].0, c);
    }
    rig.secs(120);
    rig.hang_up(100);
    rig.hang_up(101);
    for id in ["alice", "bob"] {
        rig.input(Input::NotReady {
            agent: a(id),
            reason: "x".into(),
        });
    }
    rig.input(Input::Ready { agent: a("alice") });
    rig.input(Input::Ready { agent: a("bob") });
    // Both agents busy with 1 and 2, then 3 and 4 wait.
    for c in 1..=4 {
        rig.enqueue(c, "q");
    }
    rig.answer("alice", 1);
    rig.answer("bob", 2);
    rig.secs(6);
    match rig.acd.contact_status(rig.now, ContactId(4)) {
        Some(ContactStatus::Waiting {
            position,
            waited,
            estimated_wait,
            ..
        }) => {
            assert_eq!(position, 2);
            assert_eq!(waited, Duration::from_secs(6));
            // 2 × 120 s ÷ 2 staffed agents.
            assert_eq!(estimated_wait, Some(Duration::from_secs(120)));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        rig.acd.contact_status(rig.now, ContactId(1)),
        Some(ContactStatus::Connected { .. })
    ));
}

#[test]
fn position_changes_are_announced() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    let positions = |out: &[Output]| -> Vec<(u64, u32)> {
        out.iter()
            .filter_map(|o| match o {
                Output::QueuePosition {
                    contact, position, ..
                } => Some((contact.0, *position)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(positions(&rig.enqueue(1, "q")), vec![(1, 1)]);
    assert_eq!(positions(&rig.enqueue(2, "q")), vec![(2, 2)]);
    let out = rig.input(Input::Enqueue {
        contact: ContactId(3),
        queue: q("q"),
        priority: Some(1),
        agent: None,
    });
    assert_eq!(positions(&out), vec![(3, 1), (1, 2), (2, 3)]);
    // 3 starts ringing: it has no position any more, the others move up.
    let out = rig.input(Input::Ready { agent: a("alice") });
    assert_eq!(positions(&out), vec![(1, 1), (2, 2)]);
    // It rings out and comes back to the head.
    let out = rig.secs(15);
    assert_eq!(positions(&out), vec![(3, 1), (1, 2), (2, 3)]);
}
