//! Configuration changes at runtime keep every contact and every invariant.

use std::time::Duration;

use acd::{AcdError, AgentConfig, AgentState, CancelReason, ContactId, Input, QueueConfig};

use crate::common::*;

#[test]
fn invalid_configuration_is_refused() {
    let mut rig = Rig::new();
    let mut cfg = QueueConfig::new("q");
    cfg.ring_timeout = Duration::ZERO;
    assert!(matches!(
        rig.try_input(Input::UpsertQueue(cfg)),
        Err(AcdError::InvalidConfig(_))
    ));
    let cfg = QueueConfig::new("q").requires("french", 11);
    assert!(rig.try_input(Input::UpsertQueue(cfg)).is_err());
    let cfg = AgentConfig::new("alice").skill("french", 0);
    let err = rig.try_input(Input::UpsertAgent(cfg)).unwrap_err();
    assert_eq!(err.http_status(), 422);
}

#[test]
fn an_agent_may_list_a_queue_before_it_exists() {
    let mut rig = Rig::new();
    rig.ready_agent("alice", &["later"]);
    let out = rig.queue(QueueConfig::new("later"));
    assert!(offers(&out).is_empty());
    assert_eq!(offers(&rig.enqueue(1, "later")), vec![("alice".into(), 1)]);
}

#[test]
fn adding_an_agent_to_a_queue_serves_its_waiting_contacts() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("a"));
    rig.queue(QueueConfig::new("b"));
    rig.ready_agent("alice", &["a"]);
    rig.ready_agent("bob", &["b"]);
    rig.input(Input::NotReady {
        agent: a("bob"),
        reason: "x".into(),
    });
    rig.enqueue(1, "b");
    let out = rig.agent(AgentConfig::new("alice").serving("a").serving("b"));
    assert_eq!(offers(&out), vec![("alice".into(), 1)]);
}

#[test]
fn taking_the_last_agent_out_of_a_queue_sends_its_contacts_back() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q").requires("french", 3));
    rig.agent(AgentConfig::new("alice").serving("q").skill("french", 5));
    rig.login("alice");
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.enqueue(1, "q");
    // Her french drops below the queue's minimum: she no longer serves it.
    let out = rig.agent(AgentConfig::new("alice").serving("q").skill("french", 2));
    assert_eq!(no_agents(&out), vec![1]);
}

#[test]
fn raising_a_queue_requirement_sends_contacts_back_when_nobody_qualifies() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.enqueue(1, "q");
    let out = rig.queue(QueueConfig::new("q").requires("french", 1));
    assert_eq!(no_agents(&out), vec![1]);
}

#[test]
fn removing_a_queue_returns_waiting_and_ringing_contacts_and_keeps_calls() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.queue(QueueConfig::new("other"));
    rig.ready_agent("alice", &["q", "other"]);
    rig.ready_agent("bob", &["q"]);
    rig.ready_agent("carol", &["q"]);
    rig.enqueue(1, "q");
    rig.enqueue(2, "q");
    rig.enqueue(3, "q");
    rig.enqueue(4, "q");
    rig.input(Input::AgentAnswered {
        agent: rig
            .acd
            .contact_status(rig.now, ContactId(1))
            .map(|s| match s {
                acd::ContactStatus::Ringing { agents, .. } => agents[0].clone(),
                other => panic!("{other:?}"),
            })
            .expect("held"),
        contact: ContactId(1),
    });
    rig.enqueue(5, "other");
    // 1 connected, 2 and 3 ringing, 4 waiting, 5 waiting in "other".
    let out = rig.input(Input::RemoveQueue(q("q")));
    let mut gone = no_agents(&out);
    gone.sort();
    assert_eq!(gone, vec![2, 3, 4]);
    assert!(
        cancels(&out)
            .iter()
            .all(|(_, _, r)| *r == CancelReason::Reconfigured)
    );
    assert_eq!(cancels(&out).len(), 2);
    assert_eq!(rig.acd.queue_stats(rig.now, &q("q")), None);
    // The connected call goes on and ends normally.
    let on_call = rig.acd.contact_status(rig.now, ContactId(1));
    assert!(matches!(
        on_call,
        Some(acd::ContactStatus::Connected { .. })
    ));
    rig.hang_up(1);
    // Alice, freed by the removal (or after her call), serves "other".
    let status = rig.acd.contact_status(rig.now, ContactId(5));
    assert!(
        matches!(status, Some(acd::ContactStatus::Ringing { .. })),
        "{status:?}"
    );
    // Enqueueing to the removed queue is refused.
    let err = rig.try_input(Input::Enqueue {
        contact: ContactId(9),
        queue: q("q"),
        priority: None,
        agent: None,
    });
    assert_eq!(err, Err(AcdError::UnknownQueue(q("q"))));
}

#[test]
fn removing_an_agent_on_a_call_is_refused_and_while_ringing_cancels() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.secs(1);
    rig.ready_agent("bob", &["q"]);
    rig.enqueue(1, "q");
    rig.answer("alice", 1);
    assert_eq!(
        rig.try_input(Input::RemoveAgent(a("alice"))),
        Err(AcdError::AgentBusy(a("alice")))
    );
    rig.enqueue(2, "q");
    let out = rig.input(Input::RemoveAgent(a("bob")));
    assert_eq!(
        cancels(&out),
        vec![("bob".into(), 2, CancelReason::Reconfigured)]
    );
    assert_eq!(rig.acd.agent_state(&a("bob")), None);
    assert_eq!(rig.acd.waiting_contacts(&q("q")), Some(vec![ContactId(2)]));
    // Re-adding bob creates a fresh, logged-out agent.
    rig.agent(AgentConfig::new("bob").serving("q"));
    assert_eq!(rig.state("bob"), AgentState::LoggedOut);
}

#[test]
fn removing_the_last_logged_in_agent_sends_contacts_back() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.enqueue(1, "q");
    assert_eq!(
        no_agents(&rig.input(Input::RemoveAgent(a("alice")))),
        vec![1]
    );
}

#[test]
fn changing_a_queue_priority_reorders_its_waiting_contacts_for_shared_agents() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("a"));
    rig.queue(QueueConfig::new("b"));
    rig.ready_agent("alice", &["a", "b"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.enqueue(1, "a");
    rig.enqueue(2, "b");
    let mut b = QueueConfig::new("b");
    b.priority = 3;
    rig.queue(b);
    let out = rig.input(Input::Ready { agent: a("alice") });
    assert_eq!(offers(&out), vec![("alice".into(), 2)]);
}

#[test]
fn an_agent_removed_from_a_queue_while_ringing_finishes_that_offer() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.ready_agent("bob", &["q"]);
    rig.input(Input::NotReady {
        agent: a("bob"),
        reason: "x".into(),
    });
    rig.enqueue(1, "q");
    rig.agent(AgentConfig::new("alice"));
    assert_eq!(rig.kind("alice"), "ringing");
    let out = rig.answer("alice", 1);
    assert_eq!(connects(&out), vec![("alice".into(), 1)]);
}
