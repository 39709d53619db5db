//! Every transition of the agent state machine.

use std::time::Duration;

use acd::{
    AcdError, AgentConfig, AgentState, CancelReason, ContactId, ContactStatus, ErrorKind, Input,
    NotReadyReason, Output, QueueConfig, Rejection,
};

use crate::common::*;

fn rig_with_support() -> Rig {
    let mut rig = Rig::new();
    let mut queue = QueueConfig::new("support");
    queue.wrap_up = Duration::from_secs(10);
    rig.queue(queue);
    rig
}

#[test]
fn a_new_agent_is_logged_out_and_never_offered() {
    let mut rig = rig_with_support();
    rig.agent(AgentConfig::new("alice").serving("support"));
    assert_eq!(rig.state("alice"), AgentState::LoggedOut);
    // No logged-in agent: the contact does not even enter.
    let out = rig.enqueue(1, "support");
    assert_eq!(no_agents(&out), vec![1]);
    assert!(offers(&out).is_empty());
}

#[test]
fn login_ready_makes_the_agent_available_since_now() {
    let mut rig = rig_with_support();
    rig.agent(AgentConfig::new("alice").serving("support"));
    rig.secs(3);
    let out = rig.login("alice");
    assert_eq!(
        rig.state("alice"),
        AgentState::Available { since: rig.at(3) }
    );
    assert!(out.contains(&Output::AgentStateChanged {
        agent: a("alice"),
        state: AgentState::Available { since: rig.at(3) }
    }));
}

#[test]
fn login_not_ready_starts_not_ready_for_login() {
    let mut rig = rig_with_support();
    rig.agent(AgentConfig::new("alice").serving("support"));
    rig.input(Input::Login {
        agent: a("alice"),
        ready: false,
    });
    assert_eq!(
        rig.state("alice"),
        AgentState::NotReady {
            reason: NotReadyReason::login(),
            since: rig.now
        }
    );
    // Logged in but not ready still counts as staffed for entry: the contact waits.
    let out = rig.enqueue(1, "support");
    assert!(no_agents(&out).is_empty() && offers(&out).is_empty());
}

#[test]
fn logging_in_twice_is_refused_and_changes_nothing() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    let err = rig
        .try_input(Input::Login {
            agent: a("alice"),
            ready: true,
        })
        .unwrap_err();
    assert_eq!(
        err,
        AcdError::InvalidTransition {
            agent: a("alice"),
            state: "available",
            request: "log in"
        }
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.http_status(), 409);
}

#[test]
fn unknown_agent_is_not_found() {
    let mut rig = rig_with_support();
    let err = rig
        .try_input(Input::Ready { agent: a("ghost") })
        .unwrap_err();
    assert_eq!(err, AcdError::UnknownAgent(a("ghost")));
    assert_eq!(err.http_status(), 404);
}

#[test]
fn not_ready_then_ready_round_trip() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.secs(5);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "lunch".into(),
    });
    assert_eq!(
        rig.state("alice"),
        AgentState::NotReady {
            reason: "lunch".into(),
            since: rig.at(5)
        }
    );
    // A contact arriving now waits: the agent is not ready.
    assert!(offers(&rig.enqueue(1, "support")).is_empty());
    rig.secs(5);
    let out = rig.input(Input::Ready { agent: a("alice") });
    // Ready at once takes the waiting contact.
    assert_eq!(offers(&out), vec![("alice".into(), 1)]);
}

#[test]
fn changing_the_not_ready_reason_is_allowed() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "lunch".into(),
    });
    rig.secs(1);
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "training".into(),
    });
    assert_eq!(
        rig.state("alice"),
        AgentState::NotReady {
            reason: "training".into(),
            since: rig.at(1)
        }
    );
}

#[test]
fn ready_while_available_or_logged_out_is_refused() {
    let mut rig = rig_with_support();
    rig.agent(AgentConfig::new("alice").serving("support"));
    assert!(rig.try_input(Input::Ready { agent: a("alice") }).is_err());
    assert!(
        rig.try_input(Input::NotReady {
            agent: a("alice"),
            reason: "x".into()
        })
        .is_err()
    );
    assert!(rig.try_input(Input::Logout { agent: a("alice") }).is_err());
    rig.login("alice");
    assert!(rig.try_input(Input::Ready { agent: a("alice") }).is_err());
}

#[test]
fn an_offer_reserves_the_agent_until_the_ring_timeout() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    let out = rig.enqueue(1, "support");
    let until = rig.now + Duration::from_secs(15);
    assert_eq!(
        out[0],
        Output::Offer {
            agent: a("alice"),
            contact: ContactId(1),
            queue: q("support"),
            ring_until: until
        }
    );
    assert_eq!(
        rig.state("alice"),
        AgentState::Ringing {
            contact: ContactId(1),
            until
        }
    );
    assert_eq!(rig.acd.poll_timeout(), Some(until));
    // A second contact waits: alice is reserved.
    assert!(offers(&rig.enqueue(2, "support")).is_empty());
}

#[test]
fn answering_connects_and_puts_the_agent_on_call() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    rig.secs(4);
    let out = rig.answer("alice", 1);
    assert_eq!(
        out[0],
        Output::Connect {
            agent: a("alice"),
            contact: ContactId(1),
            queue: q("support"),
            record: false,
            waited: Duration::from_secs(4),
        }
    );
    assert_eq!(
        rig.state("alice"),
        AgentState::OnCall {
            contact: ContactId(1),
            since: rig.now
        }
    );
    assert_eq!(
        rig.acd.contact_status(rig.now, ContactId(1)),
        Some(ContactStatus::Connected {
            queue: q("support"),
            agent: a("alice")
        })
    );
    // The ring timer is gone; nothing fires at the old deadline.
    assert!(
        rig.secs(30)
            .iter()
            .all(|o| !matches!(o, Output::Cancel { .. }))
    );
}

#[test]
fn the_recording_policy_is_passed_on_connect() {
    let mut rig = Rig::new();
    let mut queue = QueueConfig::new("sales");
    queue.record = true;
    rig.queue(queue);
    rig.ready_agent("bob", &["sales"]);
    rig.enqueue(1, "sales");
    let out = rig.answer("bob", 1);
    assert!(matches!(out[0], Output::Connect { record: true, .. }));
}

#[test]
fn hold_and_unhold_toggle_and_are_refused_out_of_place() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    assert!(rig.try_input(Input::Hold { agent: a("alice") }).is_err());
    rig.enqueue(1, "support");
    assert!(
        rig.try_input(Input::Hold { agent: a("alice") }).is_err(),
        "ringing"
    );
    rig.answer("alice", 1);
    let answered = rig.now;
    assert!(rig.try_input(Input::Unhold { agent: a("alice") }).is_err());
    rig.secs(10);
    rig.input(Input::Hold { agent: a("alice") });
    assert_eq!(
        rig.state("alice"),
        AgentState::OnHold {
            contact: ContactId(1),
            since: rig.now
        }
    );
    assert!(rig.try_input(Input::Hold { agent: a("alice") }).is_err());
    rig.secs(20);
    rig.input(Input::Unhold { agent: a("alice") });
    assert_eq!(
        rig.state("alice"),
        AgentState::OnCall {
            contact: ContactId(1),
            since: answered
        }
    );
}

#[test]
fn agent_hang_up_starts_wrap_up_which_ends_by_itself() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    rig.answer("alice", 1);
    rig.secs(60);
    rig.input(Input::AgentHungUp { agent: a("alice") });
    let until = rig.now + Duration::from_secs(10);
    assert_eq!(
        rig.state("alice"),
        AgentState::WrapUp {
            contact: ContactId(1),
            until
        }
    );
    // The contact is gone from the ACD.
    assert_eq!(rig.acd.contact_status(rig.now, ContactId(1)), None);
    rig.secs(9);
    assert_eq!(rig.kind("alice"), "wrap_up");
    rig.secs(1);
    assert_eq!(rig.state("alice"), AgentState::Available { since: until });
}

#[test]
fn customer_hang_up_during_a_call_starts_wrap_up() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    rig.answer("alice", 1);
    rig.input(Input::Hold { agent: a("alice") });
    rig.hang_up(1);
    assert_eq!(rig.kind("alice"), "wrap_up");
    assert!(
        rig.try_input(Input::AgentHungUp { agent: a("alice") })
            .is_err()
    );
}

#[test]
fn wrap_up_end_takes_the_next_waiting_contact() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    rig.answer("alice", 1);
    rig.enqueue(2, "support");
    rig.hang_up(1);
    let out = rig.secs(10);
    assert_eq!(offers(&out), vec![("alice".into(), 2)]);
}

#[test]
fn finishing_wrap_up_early_or_by_ready() {
    for request in ["finish", "ready"] {
        let mut rig = rig_with_support();
        rig.ready_agent("alice", &["support"]);
        rig.enqueue(1, "support");
        rig.answer("alice", 1);
        rig.hang_up(1);
        rig.secs(3);
        let input = match request {
            "finish" => Input::FinishWrapUp { agent: a("alice") },
            _ => Input::Ready { agent: a("alice") },
        };
        rig.input(input);
        assert_eq!(rig.state("alice"), AgentState::Available { since: rig.now });
        // The wrap-up timer is gone.
        rig.secs(20);
        assert_eq!(
            rig.state("alice"),
            AgentState::Available { since: rig.at(3) }
        );
    }
}

#[test]
fn finish_wrap_up_outside_wrap_up_is_refused() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    assert!(
        rig.try_input(Input::FinishWrapUp { agent: a("alice") })
            .is_err()
    );
}

#[test]
fn personal_wrap_up_overrides_the_queue_and_zero_skips_it() {
    let mut rig = rig_with_support();
    let mut cfg = AgentConfig::new("alice").serving("support");
    cfg.wrap_up = Some(Duration::from_secs(30));
    rig.agent(cfg);
    rig.login("alice");
    let mut bob = AgentConfig::new("bob").serving("support");
    bob.wrap_up = Some(Duration::ZERO);
    rig.agent(bob);
    rig.login("bob");
    rig.enqueue(1, "support");
    rig.enqueue(2, "support");
    let (first, second) = match rig.state("alice") {
        AgentState::Ringing {
            contact: ContactId(1),
            ..
        } => (1, 2),
        _ => (2, 1),
    };
    rig.answer("alice", first);
    rig.answer("bob", second);
    rig.hang_up(1);
    rig.hang_up(2);
    assert_eq!(
        rig.state("alice"),
        AgentState::WrapUp {
            contact: ContactId(first),
            until: rig.now + Duration::from_secs(30)
        }
    );
    assert_eq!(rig.state("bob"), AgentState::Available { since: rig.now });
}

#[test]
fn not_ready_during_a_call_waits_for_the_end_of_wrap_up() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    rig.answer("alice", 1);
    let out = rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "break".into(),
    });
    assert!(
        out.iter()
            .all(|o| !matches!(o, Output::AgentStateChanged { .. }))
    );
    assert_eq!(rig.kind("alice"), "on_call");
    rig.enqueue(2, "support");
    rig.hang_up(1);
    assert_eq!(rig.kind("alice"), "wrap_up");
    let out = rig.secs(10);
    assert_eq!(
        rig.state("alice"),
        AgentState::NotReady {
            reason: "break".into(),
            since: rig.now
        }
    );
    assert!(offers(&out).is_empty(), "contact 2 keeps waiting");
}

#[test]
fn ready_on_a_call_cancels_a_pending_not_ready() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    rig.answer("alice", 1);
    // Without anything pending, ready on a call is meaningless.
    assert!(rig.try_input(Input::Ready { agent: a("alice") }).is_err());
    rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "break".into(),
    });
    rig.input(Input::Ready { agent: a("alice") });
    rig.hang_up(1);
    rig.secs(10);
    assert_eq!(rig.kind("alice"), "available");
}

#[test]
fn logout_on_a_call_is_refused() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    rig.answer("alice", 1);
    let err = rig
        .try_input(Input::Logout { agent: a("alice") })
        .unwrap_err();
    assert_eq!(err, AcdError::AgentBusy(a("alice")));
}

#[test]
fn logout_during_wrap_up_closes_it() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    rig.answer("alice", 1);
    rig.hang_up(1);
    rig.secs(2);
    rig.input(Input::Logout { agent: a("alice") });
    assert_eq!(rig.state("alice"), AgentState::LoggedOut);
    // The wrap-up timer is gone: the next deadline is midnight (the rig starts at noon UTC).
    assert_eq!(rig.acd.poll_timeout(), Some(rig.at(12 * 3600)));
}

#[test]
fn logout_while_ringing_cancels_the_offer_and_the_contact_goes_to_the_next_agent() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.secs(1);
    rig.ready_agent("bob", &["support"]);
    rig.enqueue(1, "support");
    assert_eq!(rig.kind("alice"), "ringing", "longest idle");
    let out = rig.input(Input::Logout { agent: a("alice") });
    assert_eq!(
        cancels(&out),
        vec![("alice".into(), 1, CancelReason::AgentLeft)]
    );
    assert_eq!(offers(&out), vec![("bob".into(), 1)]);
}

#[test]
fn not_ready_while_ringing_returns_the_contact_to_the_head_of_its_line() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    rig.enqueue(2, "support");
    let out = rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "phone".into(),
    });
    assert_eq!(
        cancels(&out),
        vec![("alice".into(), 1, CancelReason::AgentLeft)]
    );
    assert_eq!(
        rig.acd.waiting_contacts(&q("support")),
        Some(vec![ContactId(1), ContactId(2)])
    );
}

#[test]
fn ring_timeout_sets_not_ready_no_answer_and_the_contact_keeps_its_place() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    rig.secs(5);
    rig.enqueue(2, "support");
    let out = rig.secs(10);
    assert_eq!(
        cancels(&out),
        vec![("alice".into(), 1, CancelReason::NoAnswer)]
    );
    assert_eq!(
        rig.state("alice"),
        AgentState::NotReady {
            reason: NotReadyReason::no_answer(),
            since: rig.now
        }
    );
    assert_eq!(
        rig.acd.waiting_contacts(&q("support")),
        Some(vec![ContactId(1), ContactId(2)])
    );
    // The next agent to become ready takes contact 1, not 2.
    let out = rig.ready_agent("bob", &["support"]);
    assert_eq!(offers(&out), vec![("bob".into(), 1)]);
    // A late answer from alice is refused: the controller must hang that leg up.
    let err = rig.try_input(Input::AgentAnswered {
        agent: a("alice"),
        contact: ContactId(1),
    });
    assert_eq!(
        err,
        Err(AcdError::NoSuchOffer {
            agent: a("alice"),
            contact: ContactId(1)
        })
    );
}

#[test]
fn busy_or_declined_goes_to_the_next_agent_and_never_back() {
    for reason in [Rejection::Busy, Rejection::Declined] {
        let mut rig = rig_with_support();
        rig.ready_agent("alice", &["support"]);
        rig.secs(1);
        rig.ready_agent("bob", &["support"]);
        rig.enqueue(1, "support");
        let out = rig.input(Input::OfferRejected {
            agent: a("alice"),
            contact: ContactId(1),
            reason,
        });
        assert_eq!(offers(&out), vec![("bob".into(), 1)]);
        // Alice stays available, keeping her idle time (longest idle still picks her first).
        assert_eq!(
            rig.state("alice"),
            AgentState::Available { since: rig.at(0) }
        );
        // Bob declines too: contact 1 waits although alice is available.
        let out = rig.input(Input::OfferRejected {
            agent: a("bob"),
            contact: ContactId(1),
            reason,
        });
        assert!(offers(&out).is_empty());
        assert_eq!(
            rig.acd.waiting_contacts(&q("support")),
            Some(vec![ContactId(1)])
        );
        // Contact 2 may go to alice.
        let out = rig.enqueue(2, "support");
        assert_eq!(offers(&out), vec![("alice".into(), 2)]);
    }
}

#[test]
fn an_unreachable_device_sets_the_agent_not_ready() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    let out = rig.input(Input::OfferRejected {
        agent: a("alice"),
        contact: ContactId(1),
        reason: Rejection::Unreachable,
    });
    assert!(cancels(&out).is_empty(), "the device already failed");
    assert_eq!(
        rig.state("alice"),
        AgentState::NotReady {
            reason: NotReadyReason::unreachable(),
            since: rig.now
        }
    );
    // Once back, alice may get contact 1 again: unreachable does not exclude.
    let out = rig.input(Input::Ready { agent: a("alice") });
    assert_eq!(offers(&out), vec![("alice".into(), 1)]);
}

#[test]
fn device_results_for_offers_that_do_not_exist_are_refused() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.ready_agent("bob", &["support"]);
    rig.enqueue(1, "support");
    let ringing = if rig.kind("alice") == "ringing" {
        "alice"
    } else {
        "bob"
    };
    let idle = if ringing == "alice" { "bob" } else { "alice" };
    let wrong = [
        Input::AgentAnswered {
            agent: a(idle),
            contact: ContactId(1),
        },
        Input::AgentAnswered {
            agent: a(ringing),
            contact: ContactId(9),
        },
        Input::OfferRejected {
            agent: a(idle),
            contact: ContactId(1),
            reason: Rejection::Busy,
        },
    ];
    for input in wrong {
        assert!(matches!(
            rig.try_input(input),
            Err(AcdError::NoSuchOffer { .. })
        ));
    }
}

#[test]
fn abandon_while_ringing_frees_the_agent() {
    let mut rig = rig_with_support();
    rig.ready_agent("alice", &["support"]);
    rig.enqueue(1, "support");
    rig.secs(3);
    let out = rig.hang_up(1);
    assert_eq!(
        cancels(&out),
        vec![("alice".into(), 1, CancelReason::Abandoned)]
    );
    assert_eq!(
        rig.state("alice"),
        AgentState::Available { since: rig.at(0) }
    );
    assert_eq!(
        rig.try_input(Input::CustomerHungUp {
            contact: ContactId(1)
        }),
        Err(AcdError::UnknownContact(ContactId(1)))
    );
}

#[test]
fn the_agent_state_notification_follows_every_change() {
    let mut rig = rig_with_support();
    rig.agent(AgentConfig::new("alice").serving("support"));
    let mut seen = Vec::new();
    let mut record = |out: Vec<Output>| {
        for o in out {
            if let Output::AgentStateChanged { state, .. } = o {
                seen.push(state.name());
            }
        }
    };
    record(rig.login("alice"));
    record(rig.enqueue(1, "support"));
    record(rig.answer("alice", 1));
    record(rig.input(Input::Hold { agent: a("alice") }));
    record(rig.input(Input::Unhold { agent: a("alice") }));
    record(rig.hang_up(1));
    record(rig.secs(10));
    record(rig.input(Input::NotReady {
        agent: a("alice"),
        reason: "x".into(),
    }));
    record(rig.input(Input::Logout { agent: a("alice") }));
    assert_eq!(
        seen,
        [
            "available",
            "ringing",
            "on_call",
            "on_hold",
            "on_call",
            "wrap_up",
            "available",
            "not_ready",
            "logged_out"
        ]
    );
}
