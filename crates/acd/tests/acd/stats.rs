//! Live statistics: formulas, windows, days, agents.

use std::time::Duration;

use acd::{AcdConfig, AgentCounts, ContactId, Input, QueueConfig};

use crate::common::*;

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

/// alice and bob serve "q" (20 s service level, 5 s short abandon, 10 s wrap-up):
/// contacts 1–4 arrive at 0; 3 abandons at 2 s (short); alice answers 1 at 10 s; bob answers
/// 2 at 30 s; 4 abandons at 40 s; 5 arrives at 41 s; alice holds 20–30 s and hangs up at
/// 70 s (wrap-up to 80 s); the customer of 2 hangs up at 50 s and bob finishes wrap-up at 55 s,
/// which offers him 5; he lets it ring out.
fn scenario() -> Rig {
    let mut rig = Rig::new();
    let mut cfg = QueueConfig::new("q");
    cfg.wrap_up = Duration::from_secs(10);
    rig.queue(cfg);
    for id in ["alice", "bob"] {
        rig.ready_agent(id, &["q"]);
        rig.input(Input::NotReady {
            agent: a(id),
            reason: "x".into(),
        });
    }
    for c in 1..=4 {
        rig.enqueue(c, "q");
    }
    rig.secs(2);
    rig.hang_up(3);
    rig.secs(8);
    rig.input(Input::Ready { agent: a("alice") });
    rig.answer("alice", 1);
    rig.secs(10);
    rig.input(Input::Hold { agent: a("alice") });
    rig.secs(10);
    rig.input(Input::Unhold { agent: a("alice") });
    rig.input(Input::Ready { agent: a("bob") });
    rig.answer("bob", 2);
    rig.secs(10);
    rig.hang_up(4);
    rig.secs(1);
    rig.enqueue(5, "q");
    rig.secs(9);
    rig.hang_up(2);
    rig.secs(5);
    let out = rig.input(Input::FinishWrapUp { agent: a("bob") });
    assert_eq!(offers(&out), vec![("bob".into(), 5)]);
    rig.secs(15);
    rig.input(Input::AgentHungUp { agent: a("alice") });
    rig.secs(10);
    rig
}

#[test]
fn service_level_asa_abandons_and_aht_follow_their_formulas() {
    let mut rig = scenario();
    assert_eq!(rig.now, rig.at(80));
    let s = rig.acd.queue_stats(rig.now, &q("q")).expect("queue");
    for p in [&s.window, &s.today, &s.since_start] {
        assert_eq!(
            (p.offered, p.answered, p.abandoned, p.short_abandoned),
            (5, 2, 2, 1)
        );
        assert_eq!(
            (p.overflowed, p.in_queue, p.answered_within_threshold),
            (0, 1, 1)
        );
        // 1 in service level ÷ (5 offered − 1 short abandon).
        assert!(close(p.service_level, 0.25), "{:?}", p.service_level);
        assert!(close(p.asa_seconds, 20.0));
        assert!(close(p.abandon_rate, 0.4));
        // Handles: 1 = 50 s talk + 10 s hold + 10 s wrap; 2 = 20 s talk + 5 s wrap.
        assert_eq!(p.handled, 2);
        assert!(close(p.aht_seconds, (70.0 + 25.0) / 2.0));
        assert!(close(Some(p.talk_seconds), 70.0));
        assert!(close(Some(p.hold_seconds), 10.0));
        assert!(close(Some(p.wrap_up_seconds), 15.0));
        assert!(close(Some(p.max_answer_wait_seconds), 30.0));
    }
    // 5 rang bob from 55 s and rang out at 70 s (bob: not ready, no answer); alice was in
    // wrap-up until 80 s, so 5 has been ringing her since.
    assert_eq!(rig.state("alice").contact(), Some(ContactId(5)));
    assert_eq!(s.waiting, 0);
    assert_eq!(s.ringing, 1);
    assert_eq!(s.longest_wait_seconds, 39.0);
    assert_eq!(
        s.agents,
        AgentCounts {
            ringing: 1,
            not_ready: 1,
            ..AgentCounts::default()
        }
    );
}

#[test]
fn agent_figures_accumulate_time_by_state() {
    let mut rig = scenario();
    let s = rig.acd.agent_stats(rig.now, &a("alice")).expect("agent");
    let p = &s.since_start;
    assert_eq!(
        (p.offers, p.answered, p.handled, p.no_answers),
        (2, 1, 1, 0)
    );
    // alice: not ready 0–10, on call 10–20 and 30–70, hold 20–30, wrap-up 70–80, ringing since.
    assert_eq!(p.not_ready_seconds, 10.0);
    assert_eq!(p.talk_seconds, 50.0);
    assert_eq!(p.hold_seconds, 10.0);
    assert_eq!(p.wrap_up_seconds, 10.0);
    assert_eq!(p.available_seconds, 0.0);
    assert_eq!(p.logged_in_seconds, 80.0);
    assert_eq!(p.occupancy, Some(1.0));
    assert_eq!(s.today, s.since_start);
    assert_eq!(s.queues, vec![q("q")]);
    let bob = rig.acd.agent_stats(rig.now, &a("bob")).expect("agent");
    // bob: not ready 0–30, talk 30–50, wrap 50–55, ringing 55–70, then not ready (no answer).
    assert_eq!(bob.since_start.no_answers, 1);
    assert_eq!(bob.since_start.ringing_seconds, 15.0);
    assert_eq!(bob.since_start.occupancy, Some(1.0));
}

#[test]
fn the_window_keeps_only_contacts_that_entered_in_the_last_15_minutes() {
    let mut rig = scenario();
    // Contacts 1–4 entered at 0 s; 5 at 41 s. At 900 s, 1–4 have slid out.
    rig.advance(Duration::from_secs(900 - 80));
    let s = rig.acd.queue_stats(rig.now, &q("q")).expect("queue");
    assert_eq!(s.window.offered, 1);
    assert_eq!(s.window.answered + s.window.in_queue, 1);
    assert_eq!(s.since_start.offered, 5);
    rig.advance(Duration::from_secs(41));
    let s = rig.acd.queue_stats(rig.now, &q("q")).expect("queue");
    assert_eq!(s.window.offered, 0);
    assert_eq!(s.window.service_level, None);
    assert_eq!(s.window.asa_seconds, None);
}

#[test]
fn today_starts_over_at_midnight_in_the_configured_time_zone() {
    // UTC+2: the rig's noon UTC is 14:00 local, so midnight comes after 10 hours.
    let config = AcdConfig {
        time_zone: jiff::tz::TimeZone::fixed(jiff::tz::Offset::constant(2)),
        ..AcdConfig::default()
    };
    let mut rig = Rig::with_config(config, noon());
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.enqueue(1, "q");
    rig.answer("alice", 1);
    rig.hang_up(1);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.enqueue(2, "q");
    assert_eq!(rig.acd.poll_timeout(), Some(rig.at(10 * 3600)));
    rig.advance(Duration::from_secs(10 * 3600 - 1));
    let s = rig.acd.queue_stats(rig.now, &q("q")).expect("queue");
    assert_eq!(
        (s.today.offered, s.today.answered, s.today.in_queue),
        (2, 1, 1)
    );
    let out = rig.secs(1);
    assert_eq!(
        stats_changed(&out),
        vec!["q".to_string()],
        "the wallboard learns of the new day"
    );
    let s = rig.acd.queue_stats(rig.now, &q("q")).expect("queue");
    assert_eq!(
        (s.today.offered, s.today.answered, s.today.in_queue),
        (0, 0, 0)
    );
    assert_eq!(s.since_start.offered, 2);
    // Contact 2 entered yesterday: answering it today counts for yesterday only.
    rig.input(Input::Ready { agent: a("alice") });
    rig.answer("alice", 2);
    let s = rig.acd.queue_stats(rig.now, &q("q")).expect("queue");
    assert_eq!((s.today.offered, s.today.answered), (0, 0));
    assert_eq!(s.since_start.answered, 2);
    // The agent's day starts over too: the not-ready time before midnight stays yesterday's.
    let agent = rig.acd.agent_stats(rig.now, &a("alice")).expect("agent");
    assert_eq!(agent.today.answered, 1);
    assert_eq!(agent.today.not_ready_seconds, 0.0);
    assert_eq!(agent.since_start.not_ready_seconds, (10 * 3600) as f64);
    // The next midnight is 24 h later.
    assert_eq!(rig.acd.poll_timeout(), Some(rig.at(34 * 3600)));
}

#[test]
fn stats_changed_fires_once_per_input_per_queue_touched() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("a"));
    rig.queue(QueueConfig::new("b"));
    let out = rig.ready_agent("alice", &["a", "b"]);
    let mut changed = stats_changed(&out);
    changed.sort();
    assert_eq!(changed, ["a", "b"]);
    let out = rig.enqueue(1, "a");
    let mut changed = stats_changed(&out);
    changed.sort();
    assert_eq!(changed, ["a", "b"], "alice's state counts in both queues");
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    let out = rig.enqueue(2, "b");
    assert_eq!(stats_changed(&out), ["b"]);
    // A refused input changes nothing and says nothing.
    assert!(rig.try_input(Input::Hold { agent: a("alice") }).is_err());
}

#[test]
fn refused_contacts_are_counted_apart_from_offered() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.enqueue(1, "q");
    let s = rig.acd.queue_stats(rig.now, &q("q")).expect("queue");
    assert_eq!(s.refused_no_agents_today, 1);
    assert_eq!(s.today.offered, 0);
}

#[test]
fn thresholds_are_inclusive_for_service_level_and_exclusive_for_short_abandons() {
    let mut rig = Rig::new();
    rig.queue(QueueConfig::new("q"));
    rig.ready_agent("alice", &["q"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    });
    rig.enqueue(1, "q");
    rig.enqueue(2, "q");
    rig.enqueue(3, "q");
    rig.secs(4);
    rig.hang_up(1); // 4 s: short
    rig.secs(1);
    rig.hang_up(2); // 5 s: not short (quicker than 5 s is short)
    rig.secs(15);
    rig.input(Input::Ready { agent: a("alice") });
    rig.answer("alice", 3); // exactly 20 s: within the service level
    let s = rig.acd.queue_stats(rig.now, &q("q")).expect("queue");
    assert_eq!(s.today.short_abandoned, 1);
    assert_eq!(s.today.answered_within_threshold, 1);
    assert!(close(s.today.service_level, 0.5));
}
