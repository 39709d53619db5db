//! How a queue picks among available agents.

use std::time::Duration;

use acd::{
    AcdConfig, AgentConfig, AgentState, CancelReason, ContactId, Input, NotReadyReason,
    QueueConfig, Rejection, Strategy,
};

use crate::common::*;

fn rig(strategy: Strategy) -> Rig {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q").with_strategy(strategy));
    rig
}

/// Serves one contact from offer to hang-up (1 s of talk, no wrap-up); returns the agent.
fn serve(rig: &mut Rig, contact: u64) -> String {
    let out = rig.enqueue(contact, "q");
    let offered = offers(&out);
    assert_eq!(offered.len(), 1, "{out:?}");
    let agent = offered[0].0.clone();
    rig.answer(&agent, contact);
    rig.secs(1);
    rig.hang_up(contact);
    agent
}

#[test]
fn longest_idle_picks_the_agent_available_the_longest() {
    let mut rig = rig(Strategy::LongestIdle);
    rig.ready_agent("carol", &["q"]);
    rig.secs(1);
    rig.ready_agent("alice", &["q"]);
    rig.secs(1);
    rig.ready_agent("bob", &["q"]);
    // carol has idled longest, then alice (carol is back after her call: idle since now).
    assert_eq!(serve(&mut rig, 1), "carol");
    assert_eq!(serve(&mut rig, 2), "alice");
    assert_eq!(serve(&mut rig, 3), "bob");
    assert_eq!(serve(&mut rig, 4), "carol");
}

#[test]
fn longest_idle_ties_break_by_the_seeded_rank() {
    // Three agents available at the same instant. Same seed → same pick; across seeds the pick
    // varies, so it is not simply the first id.
    let pick = |seed: u64| {
        let mut rig = Rig::with_config(
            AcdConfig {
                seed,
                ..AcdConfig::default()
            },
            noon(),
        );
        rig.queue(QueueConfig::new("q"));
        for id in ["alice", "bob", "carol"] {
            rig.ready_agent(id, &["q"]);
        }
        offers(&rig.enqueue(1, "q"))[0].0.clone()
    };
    for seed in 0..5 {
        assert_eq!(pick(seed), pick(seed));
    }
    let mut picked: Vec<String> = (0..40).map(pick).collect();
    picked.sort();
    picked.dedup();
    assert_eq!(picked.len(), 3, "every agent wins some tie: {picked:?}");
}

#[test]
fn round_robin_rotates_in_the_order_agents_joined() {
    let mut rig = rig(Strategy::RoundRobin);
    for id in ["alice", "bob", "carol"] {
        rig.ready_agent(id, &["q"]);
    }
    let order: Vec<String> = (1..=7).map(|c| serve(&mut rig, c)).collect();
    assert_eq!(
        order,
        ["alice", "bob", "carol", "alice", "bob", "carol", "alice"]
    );
}

#[test]
fn round_robin_skips_agents_that_are_not_available() {
    let mut rig = rig(Strategy::RoundRobin);
    for id in ["alice", "bob", "carol"] {
        rig.ready_agent(id, &["q"]);
    }
    assert_eq!(serve(&mut rig, 1), "alice");
    rig.input(Input::NotReady {
        agent: a("bob"),
        reason: "x".into(),
    });
    assert_eq!(serve(&mut rig, 2), "carol");
    rig.input(Input::Ready { agent: a("bob") });
    assert_eq!(serve(&mut rig, 3), "alice");
    assert_eq!(serve(&mut rig, 4), "bob");
}

#[test]
fn fewest_calls_prefers_the_agent_with_the_fewest_answered_contacts() {
    let mut rig = rig(Strategy::FewestCalls);
    rig.ready_agent("alice", &["q"]);
    // Alice answers two contacts alone.
    assert_eq!(serve(&mut rig, 1), "alice");
    assert_eq!(serve(&mut rig, 2), "alice");
    rig.secs(1);
    rig.ready_agent("bob", &["q"]);
    // Alice has idled longer, but bob has fewer calls: bob twice, then the tie goes to the
    // longest idle.
    assert_eq!(serve(&mut rig, 3), "bob");
    assert_eq!(serve(&mut rig, 4), "bob");
    rig.secs(1);
    assert_eq!(serve(&mut rig, 5), "alice");
}

#[test]
fn most_skilled_prefers_the_highest_proficiency_in_the_required_skills() {
    let mut rig = Rig::new();
    rig.queue(
        QueueConfig::new("q")
            .with_strategy(Strategy::MostSkilled)
            .requires("french", 3)
            .requires("billing", 1),
    );
    let agents = [
        ("alice", 4, 2),
        ("bob", 9, 5),
        ("carol", 10, 1),
        ("dave", 2, 10),
    ];
    for (id, french, billing) in agents {
        rig.agent(
            AgentConfig::new(id)
                .serving("q")
                .skill("french", french)
                .skill("billing", billing),
        );
        rig.login(id);
    }
    // dave lacks french ≥ 3: never offered. Order by sum: bob 14, carol 11, alice 6.
    let mut order = Vec::new();
    for c in 1..=3 {
        let offered = offers(&rig.enqueue(c, "q"));
        order.push(offered[0].0.clone());
        rig.answer(&offered[0].0, c);
    }
    assert_eq!(order, ["bob", "carol", "alice"]);
    assert!(
        offers(&rig.enqueue(4, "q")).is_empty(),
        "dave is not eligible"
    );
}

#[test]
fn ring_all_offers_every_available_agent_and_the_first_answer_wins() {
    let mut rig = rig(Strategy::RingAll);
    for id in ["alice", "bob", "carol"] {
        rig.ready_agent(id, &["q"]);
    }
    rig.input(Input::NotReady {
        agent: a("carol"),
        reason: "x".into(),
    });
    let out = rig.enqueue(1, "q");
    let mut rung: Vec<String> = offers(&out).into_iter().map(|(a, _)| a).collect();
    rung.sort();
    assert_eq!(rung, ["alice", "bob"]);
    let out = rig.answer("bob", 1);
    assert_eq!(connects(&out), vec![("bob".into(), 1)]);
    assert_eq!(
        cancels(&out),
        vec![("alice".into(), 1, CancelReason::AnsweredElsewhere)]
    );
    assert_eq!(
        rig.state("alice"),
        AgentState::Available { since: rig.at(0) }
    );
    // Alice answering late is refused (the controller hangs that leg up).
    assert!(
        rig.try_input(Input::AgentAnswered {
            agent: a("alice"),
            contact: ContactId(1)
        })
        .is_err()
    );
}

#[test]
fn ring_all_losers_take_the_next_contact_together() {
    let mut rig = rig(Strategy::RingAll);
    for id in ["alice", "bob", "carol"] {
        rig.ready_agent(id, &["q"]);
    }
    rig.enqueue(1, "q");
    rig.enqueue(2, "q");
    // Contact 2 waits while all three ring for 1; when carol wins, alice and bob ring for 2.
    let out = rig.answer("carol", 1);
    let mut rung: Vec<(String, u64)> = offers(&out);
    rung.sort();
    assert_eq!(rung, vec![("alice".into(), 2), ("bob".into(), 2)]);
}

#[test]
fn ring_all_with_one_decline_keeps_the_others_ringing() {
    let mut rig = rig(Strategy::RingAll);
    rig.ready_agent("alice", &["q"]);
    rig.ready_agent("bob", &["q"]);
    rig.enqueue(1, "q");
    let out = rig.input(Input::OfferRejected {
        agent: a("alice"),
        contact: ContactId(1),
        reason: Rejection::Declined,
    });
    assert!(offers(&out).is_empty() && cancels(&out).is_empty());
    assert_eq!(rig.kind("bob"), "ringing");
    assert_eq!(rig.kind("alice"), "available");
}

#[test]
fn ring_all_timeout_sets_every_ringing_agent_not_ready() {
    let mut rig = rig(Strategy::RingAll);
    rig.ready_agent("alice", &["q"]);
    rig.ready_agent("bob", &["q"]);
    rig.enqueue(1, "q");
    let out = rig.secs(15);
    assert_eq!(cancels(&out).len(), 2);
    for id in ["alice", "bob"] {
        assert_eq!(
            rig.state(id),
            AgentState::NotReady {
                reason: NotReadyReason::no_answer(),
                since: rig.now
            }
        );
    }
    assert_eq!(rig.acd.waiting_contacts(&q("q")), Some(vec![ContactId(1)]));
}

#[test]
fn changing_the_strategy_at_runtime_takes_effect_at_once() {
    let mut rig = rig(Strategy::LongestIdle);
    rig.ready_agent("alice", &["q"]);
    rig.ready_agent("bob", &["q"]);
    rig.queue(QueueConfig::new("q").with_strategy(Strategy::RingAll));
    assert_eq!(offers(&rig.enqueue(1, "q")).len(), 2);
    let mut cfg = QueueConfig::new("q").with_strategy(Strategy::RoundRobin);
    cfg.ring_timeout = Duration::from_secs(5);
    rig.queue(cfg);
    // Contact 1 keeps ringing both: a strategy change does not touch offers in progress.
    assert_eq!(rig.kind("alice"), "ringing");
    assert_eq!(rig.kind("bob"), "ringing");
}
