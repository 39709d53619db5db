//! Contacts transferred to one agent (`Input::Enqueue { agent: Some(..) }`): offered to that
//! agent only, when it is free; never to anyone else; the contacts behind are served as usual.

use std::time::Duration;

use acd::{AgentConfig, ContactId, Input, QueueConfig, Rejection, Strategy};

use crate::common::*;

fn enqueue_for(rig: &mut Rig, contact: u64, queue: &str, agent: &str) -> Vec<acd::Output> {
    rig.input(Input::Enqueue {
        contact: ContactId(contact),
        queue: q(queue),
        priority: None,
        agent: Some(a(agent)),
    })
}

/// Queue `q` (wrap-up 0 unless said), alice and bob ready; alice is on a call with contact 1.
fn alice_busy(cfg: QueueConfig) -> Rig {
    let mut rig = Rig::new();
    rig.queue(cfg);
    rig.ready_agent("alice", &["q"]);
    rig.secs(1);
    rig.ready_agent("bob", &["q"]);
    let out = enqueue_for(&mut rig, 1, "q", "alice");
    assert_eq!(offers(&out), vec![("alice".into(), 1)]);
    rig.answer("alice", 1);
    assert_eq!(rig.kind("alice"), "on_call");
    assert_eq!(rig.kind("bob"), "available");
    rig
}

fn no_wrap_up() -> QueueConfig {
    QueueConfig {
        wrap_up: Duration::ZERO,
        ..QueueConfig::new("q")
    }
}

#[test]
fn a_targeted_contact_waits_for_its_busy_agent_and_is_never_offered_to_another() {
    let mut rig = alice_busy(no_wrap_up());
    // bob is available, longest idle would pick him: the targeted contact waits instead.
    let out = enqueue_for(&mut rig, 2, "q", "alice");
    assert_eq!(offers(&out), vec![]);
    assert_eq!(rig.acd.waiting_contacts(&q("q")), Some(vec![ContactId(2)]));
    // An ordinary contact behind it goes to bob at once.
    let out = rig.enqueue(3, "q");
    assert_eq!(offers(&out), vec![("bob".into(), 3)]);
    rig.answer("bob", 3);
    rig.secs(30);
    assert_eq!(rig.acd.waiting_contacts(&q("q")), Some(vec![ContactId(2)]));
    // alice's call ends: contact 2 is offered to her.
    let out = rig.hang_up(1);
    assert_eq!(offers(&out), vec![("alice".into(), 2)]);
    let out = rig.answer("alice", 2);
    assert_eq!(connects(&out), vec![("alice".into(), 2)]);
}

#[test]
fn an_agent_freed_elsewhere_skips_contacts_targeted_at_others() {
    let mut rig = alice_busy(no_wrap_up());
    enqueue_for(&mut rig, 2, "q", "alice");
    rig.secs(1);
    // bob is busy too; an ordinary contact queues behind the targeted one.
    rig.enqueue(3, "q");
    rig.answer("bob", 3);
    rig.enqueue(4, "q");
    assert_eq!(
        rig.acd.waiting_contacts(&q("q")),
        Some(vec![ContactId(2), ContactId(4)])
    );
    // bob frees up first: he gets 4, not the older 2 (which is alice's).
    let out = rig.hang_up(3);
    assert_eq!(offers(&out), vec![("bob".into(), 4)]);
    assert_eq!(rig.acd.waiting_contacts(&q("q")), Some(vec![ContactId(2)]));
    let out = rig.hang_up(1);
    assert_eq!(offers(&out), vec![("alice".into(), 2)]);
}

#[test]
fn the_targeted_agent_takes_the_oldest_contact_it_may_take() {
    let mut rig = alice_busy(no_wrap_up());
    rig.input(Input::NotReady {
        agent: a("bob"),
        reason: "lunch".into(),
    });
    rig.enqueue(2, "q");
    rig.secs(1);
    enqueue_for(&mut rig, 3, "q", "alice");
    // alice is free: the ordinary contact 2 arrived first and she may take it.
    let out = rig.hang_up(1);
    assert_eq!(offers(&out), vec![("alice".into(), 2)]);
    rig.answer("alice", 2);
    // bob comes back: contact 3 is still alice's alone.
    let out = rig.input(Input::Ready { agent: a("bob") });
    assert_eq!(offers(&out), vec![]);
    let out = rig.hang_up(2);
    assert_eq!(offers(&out), vec![("alice".into(), 3)]);
}

#[test]
fn ring_all_rings_only_the_target() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q").with_strategy(Strategy::RingAll));
    for id in ["alice", "bob", "carol"] {
        rig.ready_agent(id, &["q"]);
    }
    let out = enqueue_for(&mut rig, 1, "q", "bob");
    assert_eq!(offers(&out), vec![("bob".into(), 1)]);
    assert_eq!(rig.kind("alice"), "available");
    assert_eq!(rig.kind("carol"), "available");
    let out = rig.enqueue(2, "q");
    assert_eq!(offers(&out), vec![("alice".into(), 2), ("carol".into(), 2)]);
}

#[test]
fn an_agent_who_cannot_take_it_means_no_agents_at_once() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.queue(QueueConfig::new("other"));
    rig.ready_agent("alice", &["q"]);
    rig.ready_agent("dave", &["other"]);
    rig.agent(AgentConfig::new("bob").serving("q")); // logged out
    for (contact, agent) in [(1, "bob"), (2, "nobody"), (3, "dave")] {
        let out = enqueue_for(&mut rig, contact, "q", agent);
        assert_eq!(no_agents(&out), vec![contact], "target {agent}");
        assert_eq!(offers(&out), vec![], "target {agent}");
    }
    assert_eq!(rig.acd.waiting_contacts(&q("q")), Some(vec![]));
    assert_eq!(rig.kind("alice"), "available");
}

#[test]
fn the_target_logging_out_sends_its_waiting_contacts_to_no_agents_only() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.ready_agent("bob", &["q"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "break".into(),
    });
    rig.input(Input::NotReady {
        agent: a("bob"),
        reason: "break".into(),
    });
    enqueue_for(&mut rig, 1, "q", "alice");
    rig.enqueue(2, "q");
    enqueue_for(&mut rig, 3, "q", "bob");
    let out = rig.input(Input::Logout { agent: a("alice") });
    assert_eq!(no_agents(&out), vec![1]);
    assert_eq!(
        rig.acd.waiting_contacts(&q("q")),
        Some(vec![ContactId(2), ContactId(3)])
    );
    // bob stops serving the queue: his contact leaves too; the ordinary one waits... and
    // with nobody left logged in to the queue, leaves as well.
    let out = rig.agent(AgentConfig::new("bob"));
    assert_eq!(no_agents(&out), vec![2, 3]);
}

#[test]
fn a_declined_offer_means_no_agents_and_a_missed_one_waits_for_max_wait() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig {
        max_wait: Some(Duration::from_secs(120)),
        ..QueueConfig::new("q")
    });
    rig.ready_agent("alice", &["q"]);
    rig.ready_agent("bob", &["q"]);
    enqueue_for(&mut rig, 1, "q", "alice");
    let out = rig.input(Input::OfferRejected {
        agent: a("alice"),
        contact: ContactId(1),
        reason: Rejection::Declined,
    });
    assert_eq!(no_agents(&out), vec![1]);
    assert_eq!(offers(&out), vec![]);

    enqueue_for(&mut rig, 2, "q", "alice");
    // No answer within the ring timeout: alice goes not ready, the contact waits for her
    // (bob is available and is not offered it).
    let out = rig.secs(60);
    assert_eq!(offers(&out), vec![]);
    assert_eq!(rig.kind("alice"), "not_ready");
    assert_eq!(rig.kind("bob"), "available");
    assert_eq!(rig.acd.waiting_contacts(&q("q")), Some(vec![ContactId(2)]));
    let out = rig.secs(60);
    assert_eq!(max_waits(&out), vec![2]);
    assert_eq!(rig.kind("bob"), "available");
}

#[test]
fn removing_the_target_sends_its_ringing_contact_to_no_agents() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.ready_agent("bob", &["q"]);
    let out = enqueue_for(&mut rig, 1, "q", "alice");
    assert_eq!(offers(&out), vec![("alice".into(), 1)]);
    let out = rig.input(Input::RemoveAgent(a("alice")));
    assert_eq!(no_agents(&out), vec![1]);
    assert_eq!(offers(&out), vec![]);
    assert_eq!(rig.kind("bob"), "available");
}
