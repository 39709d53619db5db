//! The manager task driven through its handle with channels in place of contact tasks and
//! a fake dialer (the test answers or rejects offers itself), on tokio's paused clock.

use std::time::Duration;

use acd::{AgentConfig, QueueConfig, Rejection};
use tokio::sync::mpsc;

use super::manager::*;
use super::records::AcdRecords;
use super::views::StatsMessage;

type Events = mpsc::UnboundedReceiver<ContactEvent>;

fn queue(id: &str) -> QueueConfig {
    let mut q = QueueConfig::new(id);
    q.ring_timeout = Duration::from_secs(10);
    q.wrap_up = Duration::from_secs(5);
    q.record = true;
    q
}

fn agent(id: &str, queue: &str) -> (AgentConfig, String) {
    (AgentConfig::new(id).serving(queue), format!("sip-{id}"))
}

fn manager(agents: &[&str]) -> AgentManager {
    AgentManager::spawn(
        ManagerOptions::default(),
        vec![queue("support")],
        agents.iter().map(|a| agent(a, "support")).collect(),
        AcdRecords::disabled(),
    )
}

async fn login(m: &AgentManager, agent: &str) {
    let view = m
        .agent_action(agent, AgentAction::Login { ready: true })
        .await
        .expect("login");
    assert_eq!(view.state, "available");
}

fn enqueue(m: &AgentManager, contact: &str) -> Events {
    let (tx, rx) = mpsc::unbounded_channel();
    m.enqueue(Enqueue {
        contact: contact.into(),
        queue: Some("support".into()),
        priority: None,
        agent: None,
        events: tx,
    });
    rx
}

/// The next event that is not a position update.
async fn next(rx: &mut Events) -> ContactEvent {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(3600), rx.recv())
            .await
            .expect("an event within the hour")
            .expect("the manager keeps the channel");
        if !matches!(ev, ContactEvent::Position { .. }) {
            return ev;
        }
    }
}

fn offered_to(ev: &ContactEvent) -> &str {
    match ev {
        ContactEvent::Offer { agent, .. } => agent,
        other => panic!("expected an offer, got {other:?}"),
    }
}

async fn state(m: &AgentManager, agent: &str) -> String {
    m.agent_view(agent).await.expect("known agent").state
}

#[tokio::test(start_paused = true)]
async fn answered_offer_connects_and_customer_hangup_starts_wrap_up() {
    let m = manager(&["alice"]);
    login(&m, "alice").await;
    let mut rx = enqueue(&m, "c-1");
    let offer = next(&mut rx).await;
    let ContactEvent::Offer {
        agent,
        sip_user,
        queue,
        ..
    } = &offer
    else {
        panic!("expected an offer, got {offer:?}");
    };
    assert_eq!(
        (agent.as_str(), sip_user.as_str(), queue.as_str()),
        ("alice", "sip-alice", "support")
    );
    assert_eq!(state(&m, "alice").await, "ringing");

    tokio::time::advance(Duration::from_secs(2)).await;
    m.offer_answered("c-1", "alice");
    match next(&mut rx).await {
        ContactEvent::Connected {
            agent,
            record,
            waited,
            ..
        } => {
            assert_eq!(agent, "alice");
            assert!(record, "the queue records");
            assert_eq!(waited, Duration::from_secs(2));
        }
        other => panic!("expected Connected, got {other:?}"),
    }
    let view = m.agent_view("alice").await.expect("alice");
    assert_eq!(
        (view.state.as_str(), view.contact.as_deref()),
        ("on_call", Some("c-1"))
    );

    m.customer_hung_up("c-1");
    let view = m.agent_view("alice").await.expect("alice");
    assert_eq!(
        (view.state.as_str(), view.contact.as_deref()),
        ("wrap_up", Some("c-1"))
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(state(&m, "alice").await, "available");
    assert_eq!(m.audit().await, Ok(0));
    let stats = m.queue_stats("support").await.expect("queue");
    assert_eq!((stats.offered, stats.answered, stats.abandoned), (1, 1, 0));
    assert_eq!(stats.asa_seconds, Some(2.0));
}

#[tokio::test(start_paused = true)]
async fn ring_timeout_cancels_and_offers_the_next_agent() {
    let m = manager(&["alice", "bob"]);
    login(&m, "alice").await;
    tokio::time::advance(Duration::from_secs(1)).await;
    login(&m, "bob").await;
    let mut rx = enqueue(&m, "c-1");
    // Longest idle: alice logged in first.
    assert_eq!(offered_to(&next(&mut rx).await), "alice");
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(
        next(&mut rx).await,
        ContactEvent::Cancel {
            agent: "alice".into(),
            reason: CancelReason::Acd(acd::CancelReason::NoAnswer),
        }
    );
    assert_eq!(offered_to(&next(&mut rx).await), "bob");
    let alice = m.agent_view("alice").await.expect("alice");
    assert_eq!(
        (alice.state.as_str(), alice.reason.as_deref()),
        ("not_ready", Some("no answer"))
    );
}

#[tokio::test(start_paused = true)]
async fn busy_device_sends_the_contact_to_the_next_agent() {
    let m = manager(&["alice", "bob"]);
    login(&m, "alice").await;
    tokio::time::advance(Duration::from_secs(1)).await;
    login(&m, "bob").await;
    let mut rx = enqueue(&m, "c-1");
    assert_eq!(offered_to(&next(&mut rx).await), "alice");
    m.offer_rejected("c-1", "alice", Rejection::Busy);
    assert_eq!(offered_to(&next(&mut rx).await), "bob");
    // Busy keeps alice available (she is just not offered this contact again).
    assert_eq!(state(&m, "alice").await, "available");
    m.offer_rejected("c-1", "bob", Rejection::Unreachable);
    let bob = m.agent_view("bob").await.expect("bob");
    assert_eq!(
        (bob.state.as_str(), bob.reason.as_deref()),
        ("not_ready", Some("unreachable"))
    );
    // Nobody left to take it: the contact waits (alice declined it once already).
    let stats = m.queue_stats("support").await.expect("queue");
    assert_eq!(stats.waiting, 1);
}

#[tokio::test(start_paused = true)]
async fn an_answer_after_the_offer_was_withdrawn_is_hung_up() {
    let m = manager(&["alice"]);
    login(&m, "alice").await;
    let mut rx = enqueue(&m, "c-1");
    assert_eq!(offered_to(&next(&mut rx).await), "alice");
    // The agent goes not ready while ringing; her phone's 200 crosses the CANCEL.
    m.agent_action(
        "alice",
        AgentAction::NotReady {
            reason: "break".into(),
        },
    )
    .await
    .expect("not ready while ringing");
    assert!(matches!(
        next(&mut rx).await,
        ContactEvent::Cancel {
            reason: CancelReason::Acd(acd::CancelReason::AgentLeft),
            ..
        }
    ));
    m.offer_answered("c-1", "alice");
    assert_eq!(
        next(&mut rx).await,
        ContactEvent::Cancel {
            agent: "alice".into(),
            reason: CancelReason::TooLate
        }
    );
    assert_eq!(m.audit().await, Ok(1), "the contact waits again");
}

#[tokio::test(start_paused = true)]
async fn a_contact_task_that_ends_silently_is_an_abandon() {
    let m = manager(&["alice"]);
    login(&m, "alice").await;
    let mut rx = enqueue(&m, "c-1");
    assert_eq!(offered_to(&next(&mut rx).await), "alice");
    drop(rx);
    // The watcher reports the closed channel; the ACD frees alice.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while state(&m, "alice").await != "available" {
        assert!(tokio::time::Instant::now() < deadline, "alice never freed");
        tokio::task::yield_now().await;
    }
    assert_eq!(m.audit().await, Ok(0));
    let stats = m.queue_stats("support").await.expect("queue");
    assert_eq!((stats.offered, stats.abandoned), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn no_agents_and_unknown_queue_go_back_to_the_flow() {
    let m = manager(&["alice"]);
    let mut rx = enqueue(&m, "c-1");
    assert_eq!(next(&mut rx).await, ContactEvent::NoAgents);
    let (tx, mut rx2) = mpsc::unbounded_channel();
    m.enqueue(Enqueue {
        contact: "c-2".into(),
        queue: Some("nowhere".into()),
        priority: None,
        agent: None,
        events: tx,
    });
    match next(&mut rx2).await {
        ContactEvent::Failed { reason } => assert!(reason.contains("nowhere"), "{reason}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(m.audit().await, Ok(0));
    // The same contact may enter a queue again once it has left one.
    login(&m, "alice").await;
    let mut rx3 = enqueue(&m, "c-1");
    assert_eq!(offered_to(&next(&mut rx3).await), "alice");
}

#[tokio::test(start_paused = true)]
async fn queue_max_wait_hands_the_contact_back() {
    let mut q = queue("support");
    q.max_wait = Some(Duration::from_secs(30));
    let m = AgentManager::spawn(
        ManagerOptions::default(),
        vec![q],
        vec![agent("alice", "support")],
        AcdRecords::disabled(),
    );
    login(&m, "alice").await;
    m.agent_action(
        "alice",
        AgentAction::NotReady {
            reason: "lunch".into(),
        },
    )
    .await
    .expect("not ready");
    let mut rx = enqueue(&m, "c-1");
    match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
        Ok(Some(ContactEvent::Position { position: 1, .. })) => {}
        other => panic!("expected position 1, got {other:?}"),
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(next(&mut rx).await, ContactEvent::MaxWait);
    assert_eq!(m.audit().await, Ok(0));
}

#[tokio::test(start_paused = true)]
async fn desktop_hold_and_hang_up_reach_the_contact() {
    let m = manager(&["alice"]);
    login(&m, "alice").await;
    let mut rx = enqueue(&m, "c-1");
    assert_eq!(offered_to(&next(&mut rx).await), "alice");
    m.offer_answered("c-1", "alice");
    assert!(matches!(
        next(&mut rx).await,
        ContactEvent::Connected { .. }
    ));
    let v = m
        .agent_action("alice", AgentAction::Hold)
        .await
        .expect("hold");
    assert_eq!(v.state, "on_hold");
    assert_eq!(
        next(&mut rx).await,
        ContactEvent::Hold {
            agent: "alice".into()
        }
    );
    // Logging out on a call is refused, and changes nothing.
    let e = m
        .agent_action("alice", AgentAction::Logout)
        .await
        .expect_err("logout on a call");
    assert_eq!(e.http_status(), 409);
    m.agent_action("alice", AgentAction::Unhold)
        .await
        .expect("unhold");
    assert_eq!(
        next(&mut rx).await,
        ContactEvent::Unhold {
            agent: "alice".into()
        }
    );
    let v = m
        .agent_action("alice", AgentAction::HangUp)
        .await
        .expect("hang up");
    assert_eq!(v.state, "wrap_up");
    assert_eq!(
        next(&mut rx).await,
        ContactEvent::HangUp {
            agent: "alice".into()
        }
    );
    let v = m
        .agent_action(
            "alice",
            AgentAction::FinishWrapUp {
                disposition: Some("sold".into()),
            },
        )
        .await
        .expect("finish wrap-up");
    assert_eq!(v.state, "available");
    assert_eq!(m.audit().await, Ok(0));
}

#[tokio::test(start_paused = true)]
async fn recording_requests_reach_the_agents_contact_only_on_a_call() {
    use crate::queue::{
        CallRequest, CallRequestError, RecordingAction, RecordingOwner, RecordingState,
        RecordingView,
    };

    let m = manager(&["alice"]);
    let e = m
        .recording("nobody", RecordingAction::Start)
        .await
        .expect_err("unknown agent");
    assert_eq!(e.http_status(), 404, "{e}");
    login(&m, "alice").await;
    let e = m
        .recording("alice", RecordingAction::Start)
        .await
        .expect_err("an available agent has no call");
    assert!(matches!(e, CallRequestError::Conflict(_)), "{e}");

    let mut rx = enqueue(&m, "c-1");
    assert_eq!(offered_to(&next(&mut rx).await), "alice");
    // Still ringing: not a call to record yet.
    let e = m
        .recording("alice", RecordingAction::Start)
        .await
        .expect_err("ringing");
    assert!(matches!(e, CallRequestError::Conflict(_)), "{e}");
    m.offer_answered("c-1", "alice");
    assert!(matches!(
        next(&mut rx).await,
        ContactEvent::Connected { .. }
    ));
    // The contact (here: the test) carries the request out and answers.
    let asked = tokio::spawn({
        let m = m.clone();
        async move { m.recording("alice", RecordingAction::Pause).await }
    });
    let ContactEvent::Request { agent, request } = next(&mut rx).await else {
        panic!("expected a call request");
    };
    assert_eq!(agent, "alice");
    let taken = request.take().expect("the request");
    assert!(request.take().is_none(), "a request is carried out once");
    let CallRequest::Recording { action, reply } = taken else {
        panic!("expected a recording request, got {taken:?}");
    };
    assert_eq!(action, RecordingAction::Pause);
    let view = RecordingView {
        id: "c-1-1".into(),
        contact: "c-1".into(),
        owner: RecordingOwner::Queue,
        state: RecordingState::Paused,
    };
    reply.send(Ok(view.clone())).expect("the API waits");
    assert_eq!(asked.await.expect("joined"), Ok(view));

    // A contact that drops the request unanswered: the agent is told the call is gone.
    let asked = tokio::spawn({
        let m = m.clone();
        async move { m.recording("alice", RecordingAction::Resume).await }
    });
    drop(next(&mut rx).await);
    let e = asked.await.expect("joined").expect_err("unanswered");
    assert!(matches!(e, CallRequestError::Conflict(_)), "{e}");
    assert_eq!(m.audit().await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn blind_transfer_ends_the_agents_part_and_hands_the_contact_back() {
    let m = manager(&["alice", "bob"]);
    login(&m, "alice").await;
    let mut rx = enqueue(&m, "c-1");
    assert_eq!(offered_to(&next(&mut rx).await), "alice");
    m.offer_answered("c-1", "alice");
    assert!(matches!(
        next(&mut rx).await,
        ContactEvent::Connected { .. }
    ));
    let transfer = |queue: Option<&str>, agent: Option<&str>| AgentAction::Transfer {
        queue: queue.map(Into::into),
        agent: agent.map(Into::into),
        uri: None,
    };
    // Nobody could answer: refused, nothing changes.
    for (action, status) in [
        (transfer(Some("support"), None), 409),
        (transfer(Some("nowhere"), None), 404),
        (transfer(None, Some("bob")), 409),
        (transfer(None, Some("alice")), 409),
        (transfer(None, Some("carol")), 404),
        (transfer(None, None), 409),
    ] {
        let e = m
            .agent_action("alice", action.clone())
            .await
            .expect_err("refused");
        assert_eq!(e.http_status(), status, "{action:?}: {e}");
    }
    assert_eq!(state(&m, "alice").await, "on_call");
    login(&m, "bob").await;
    let v = m
        .agent_action("alice", transfer(Some("support"), None))
        .await
        .expect("transfer");
    assert_eq!(v.state, "wrap_up");
    assert_eq!(
        next(&mut rx).await,
        ContactEvent::Transfer {
            agent: "alice".into(),
            queue: Some("support".into()),
            to_agent: None,
            uri: None,
        }
    );
    // The ACD let go of the contact; the contact task enqueues it again.
    assert_eq!(m.audit().await, Ok(0));
    let mut rx = enqueue(&m, "c-1");
    assert_eq!(offered_to(&next(&mut rx).await), "bob");
    let e = m
        .agent_action("bob", transfer(Some("support"), None))
        .await
        .expect_err("bob is ringing, not on a call");
    assert_eq!(e.http_status(), 409);
}

#[tokio::test(start_paused = true)]
async fn statistics_are_pushed_on_every_change() {
    let m = manager(&["alice"]);
    let mut stats = m.subscribe();
    login(&m, "alice").await;
    let mut saw_agent = false;
    while let Ok(msg) = stats.try_recv() {
        if let StatsMessage::Agent(a) = &*msg {
            saw_agent |= a.agent == "alice" && a.state == "available";
        }
    }
    assert!(saw_agent, "the login was pushed");
    m.agent_action(
        "alice",
        AgentAction::NotReady {
            reason: "break".into(),
        },
    )
    .await
    .expect("not ready");
    let _rx = enqueue(&m, "c-1");
    // The snapshot is a sync point: the enqueue was handled before it.
    let Some(StatsMessage::Snapshot { queues, agents }) = m.snapshot().await else {
        panic!("snapshot");
    };
    assert_eq!(queues[0].waiting, 1);
    assert_eq!(agents[0].state, "not_ready");
    let mut waiting_pushed = false;
    while let Ok(msg) = stats.try_recv() {
        if let StatsMessage::Queue(q) = &*msg {
            waiting_pushed |= q.waiting == 1 && q.offered == 1;
        }
    }
    assert!(waiting_pushed, "the queue change was pushed");
    // And periodically, without events, for the sliding window.
    tokio::time::advance(Duration::from_secs(6)).await;
    let msg = tokio::time::timeout(Duration::from_secs(1), stats.recv())
        .await
        .expect("a periodic push")
        .expect("open");
    assert!(matches!(&*msg, StatsMessage::Queue(q) if q.queue == "support"));
}

#[tokio::test(start_paused = true)]
async fn configuration_changes_apply_live() {
    let m = manager(&[]);
    m.configure(ConfigChange::UpsertAgent {
        config: AgentConfig::new("carol").serving("support"),
        sip_user: "3003".into(),
    })
    .await
    .expect("new agent");
    login(&m, "carol").await;
    let mut rx = enqueue(&m, "c-1");
    match next(&mut rx).await {
        ContactEvent::Offer { sip_user, .. } => assert_eq!(sip_user, "3003"),
        other => panic!("expected an offer, got {other:?}"),
    }
    m.offer_answered("c-1", "carol");
    assert!(matches!(
        next(&mut rx).await,
        ContactEvent::Connected { .. }
    ));
    let e = m
        .configure(ConfigChange::RemoveAgent("carol".into()))
        .await
        .expect_err("on a call");
    assert_eq!(e.http_status(), 409);
    m.configure(ConfigChange::RemoveQueue("support".into()))
        .await
        .expect("remove queue");
    assert!(m.queue_stats("support").await.is_none());
    assert_eq!(
        m.configure(ConfigChange::UpsertQueue(QueueConfig::new("")))
            .await
            .map_err(|e| e.http_status()),
        Ok(()),
        "the ACD accepts any id; the API validates ids"
    );
}

/// Random traffic through the real task: contacts arrive, phones answer, refuse or ring
/// out, agents log in and out, callers and agents hang up. After every step the manager
/// and the ACD agree on the contacts held, and at the end every contact got exactly one
/// final word (connected and ended, or back to its flow, or abandoned).
#[tokio::test(start_paused = true)]
async fn random_traffic_never_loses_a_contact() {
    use rand::{RngExt as _, SeedableRng as _};
    let seed = 0x5eed_u64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let agents = ["a1", "a2", "a3", "a4"];
    let m = manager(&agents);
    let mut contacts: Vec<(String, Events, Option<String>)> = Vec::new();
    let mut finished = 0usize;
    for step in 0..400 {
        match rng.random_range(0..10) {
            0..=2 => {
                let id = format!("c-{step}");
                let rx = enqueue(&m, &id);
                contacts.push((id, rx, None));
            }
            3 => {
                let a = agents[rng.random_range(0..agents.len())];
                let _ = m.agent_action(a, AgentAction::Login { ready: true }).await;
                let _ = m.agent_action(a, AgentAction::Ready).await;
            }
            4 => {
                let a = agents[rng.random_range(0..agents.len())];
                let _ = m.agent_action(a, AgentAction::Logout).await;
            }
            5 => tokio::time::advance(Duration::from_secs(rng.random_range(1..12))).await,
            _ if contacts.is_empty() => {}
            6 => {
                let i = rng.random_range(0..contacts.len());
                let (id, _, _) = contacts.swap_remove(i);
                m.customer_hung_up(&id);
                finished += 1;
            }
            _ => {
                let i = rng.random_range(0..contacts.len());
                let (id, rx, ringing) = &mut contacts[i];
                while let Ok(ev) = rx.try_recv() {
                    match ev {
                        ContactEvent::Offer { agent, .. } => *ringing = Some(agent),
                        ContactEvent::Cancel { agent, .. } if ringing.as_ref() == Some(&agent) => {
                            *ringing = None
                        }
                        ContactEvent::Connected { agent, .. } => {
                            // Talk, then either side hangs up.
                            if rng.random_bool(0.5) {
                                m.agent_hung_up(&agent);
                            } else {
                                m.customer_hung_up(id);
                            }
                            *ringing = Some(String::from("done"));
                        }
                        ContactEvent::MaxWait
                        | ContactEvent::NoAgents
                        | ContactEvent::Failed { .. } => *ringing = Some(String::from("done")),
                        _ => {}
                    }
                }
                match ringing.clone() {
                    Some(d) if d == "done" => {
                        contacts.swap_remove(i);
                        finished += 1;
                    }
                    Some(agent) => match rng.random_range(0..3) {
                        0 => m.offer_answered(id, &agent),
                        1 => m.offer_rejected(id, &agent, Rejection::Busy),
                        _ => {}
                    },
                    None => {}
                }
            }
        }
        m.audit()
            .await
            .unwrap_or_else(|e| panic!("seed {seed:#x}, step {step}: {e}"));
    }
    // Every remaining contact hangs up: the manager must hold nothing afterwards.
    for (id, _, _) in contacts.drain(..) {
        m.customer_hung_up(&id);
        finished += 1;
    }
    assert_eq!(m.audit().await, Ok(0), "seed {seed:#x}");
    assert!(
        finished > 50,
        "the run exercised enough contacts ({finished})"
    );
    let stats = m.queue_stats("support").await.expect("queue");
    let t = &stats.since_start;
    assert_eq!(t.in_queue, 0);
    assert_eq!(t.offered, t.answered + t.abandoned + t.overflowed);
}

fn transfer(m: &AgentManager, contact: &str, agent: &str, queue: Option<&str>) -> Events {
    let (tx, rx) = mpsc::unbounded_channel();
    m.enqueue(Enqueue {
        contact: contact.into(),
        queue: queue.map(Into::into),
        priority: None,
        agent: Some(agent.into()),
        events: tx,
    });
    rx
}

#[tokio::test(start_paused = true)]
async fn a_transfer_to_an_agent_rings_only_that_agent_in_its_first_queue() {
    let m = manager(&["alice", "bob"]);
    login(&m, "alice").await;
    tokio::time::advance(Duration::from_secs(1)).await;
    login(&m, "bob").await;
    // alice is the longest idle, but the flow asked for bob (by SIP user).
    let mut rx = transfer(&m, "c-1", "sip-bob", None);
    let offer = next(&mut rx).await;
    let ContactEvent::Offer { agent, queue, .. } = &offer else {
        panic!("expected an offer, got {offer:?}");
    };
    assert_eq!((agent.as_str(), queue.as_str()), ("bob", "support"));
    assert_eq!(state(&m, "alice").await, "available");
    m.offer_answered("c-1", "bob");
    assert!(matches!(next(&mut rx).await, ContactEvent::Connected { agent, .. } if agent == "bob"));

    // bob is busy: a second transfer to him (by id) waits; alice is not offered it, while an
    // ordinary contact goes to her.
    let mut rx2 = transfer(&m, "c-2", "bob", Some("support"));
    let mut rx3 = enqueue(&m, "c-3");
    assert_eq!(offered_to(&next(&mut rx3).await), "alice");
    m.customer_hung_up("c-1");
    tokio::time::advance(Duration::from_secs(5)).await; // bob's wrap-up
    assert_eq!(offered_to(&next(&mut rx2).await), "bob");
    // c-2 rings bob, c-3 rings alice.
    assert_eq!(m.audit().await, Ok(2));
}

#[tokio::test(start_paused = true)]
async fn a_transfer_to_an_unknown_or_logged_out_agent_is_no_agents() {
    let m = manager(&["alice", "bob"]);
    login(&m, "alice").await;
    let mut rx = transfer(&m, "c-1", "bob", None);
    assert_eq!(next(&mut rx).await, ContactEvent::NoAgents);
    let mut rx = transfer(&m, "c-2", "nobody", None);
    assert_eq!(next(&mut rx).await, ContactEvent::NoAgents);
    let mut rx = transfer(&m, "c-3", "nobody", Some("support"));
    assert_eq!(next(&mut rx).await, ContactEvent::NoAgents);
    assert_eq!(state(&m, "alice").await, "available");
    assert_eq!(m.audit().await, Ok(0));
}
