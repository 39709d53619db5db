//! The behaviours every backend must show, one async function each.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use store::{
    Agent, ApplyReport, ConfigObjects, ContactEnd, ContactFilter, ContactStatus,
    END_REASON_INTERRUPTED, Flow, MediaPlacement, NewContact, OfferId, OfferResult, Origin, Party,
    PathStep, Queue, QueueStrategy, Recording, RecordingKind, Route, SipSecret, StoreError,
    Upserted,
};

use crate::{Case, Fixture, TestResult};

/// Every case, by name.
pub fn all() -> Vec<(&'static str, Case)> {
    macro_rules! cases {
        ($($name:ident),* $(,)?) => {
            vec![$((stringify!($name), (|fx| Box::pin($name(fx))) as Case)),*]
        };
    }
    cases![
        agent_round_trips_every_field,
        agent_with_digest_secret_round_trips_and_is_found_by_sip_user,
        inserting_an_existing_agent_is_already_exists,
        two_agents_cannot_share_a_sip_user,
        upsert_agent_creates_then_replaces_skills_and_queues,
        proficiency_outside_one_to_ten_is_rejected,
        deleting_an_agent_removes_it,
        queue_round_trips_every_field_and_upserts,
        routes_and_flows_support_crud,
        apply_config_creates_updates_and_keeps_api_objects,
        apply_config_with_an_invalid_object_applies_nothing,
        contact_lifecycle_keeps_every_event_in_order,
        placement_json_is_kept_byte_for_byte,
        creating_a_contact_twice_is_already_exists,
        events_for_an_unknown_contact_are_not_found,
        ending_a_contact_twice_is_a_conflict,
        contacts_filter_by_time_queue_agent_status_and_page_newest_first,
        close_in_progress_after_drop_marks_only_open_contacts_interrupted,
        recordings_are_indexed_finished_and_found,
        concurrent_writers_lose_nothing,
        invalid_page_bounds_are_rejected,
    ]
}

/// A time `ms` milliseconds after 2025-01-01T00:00:00Z.
fn t(ms: i64) -> Timestamp {
    let base: Timestamp = "2025-01-01T00:00:00Z"
        .parse()
        .expect("valid RFC 3339 literal");
    Timestamp::from_millisecond(base.as_millisecond() + ms).expect("in range")
}

fn alice() -> Agent {
    Agent {
        id: "alice".into(),
        name: "Alice Example".into(),
        sip_user: "alice".into(),
        secret: Some(SipSecret::Password("change-me".into())),
        skills: BTreeMap::from([("english".into(), 8), ("billing".into(), 5)]),
        queues: BTreeSet::from(["support".into(), "sales".into()]),
        wrap_up: Some(Duration::from_secs(15)),
    }
}

fn agent(id: &str) -> Agent {
    Agent {
        id: id.into(),
        name: id.to_uppercase(),
        sip_user: id.into(),
        secret: None,
        skills: BTreeMap::from([("english".into(), 3)]),
        queues: BTreeSet::from(["support".into()]),
        wrap_up: None,
    }
}

fn support_queue() -> Queue {
    Queue {
        id: "support".into(),
        name: "Support".into(),
        skills: BTreeMap::from([("english".into(), 1)]),
        strategy: QueueStrategy::LongestIdle,
        ring_timeout: Duration::from_secs(15),
        wrap_up: Duration::from_secs(10),
        max_wait: Some(Duration::from_secs(300)),
        service_level: Duration::from_secs(20),
        short_abandon: Duration::from_secs(5),
        priority: 2,
        record: true,
    }
}

fn new_contact(id: &str, arrived_ms: i64) -> NewContact {
    NewContact {
        id: id.into(),
        arrived_at: t(arrived_ms),
        caller: Some("sip:+15550100@example.com".into()),
        dialed: Some("1000".into()),
        flow: Some("support".into()),
    }
}

fn ended(at_ms: i64, by: Party, abandoned: bool) -> ContactEnd {
    ContactEnd {
        at: t(at_ms),
        hangup_by: Some(by),
        reason: "normal".into(),
        abandoned,
    }
}

fn is_not_found(r: &Result<impl std::fmt::Debug, StoreError>, kind: &str) -> bool {
    matches!(r, Err(StoreError::NotFound { kind: k, .. }) if *k == kind)
}

// ----- configuration objects -----

async fn agent_round_trips_every_field(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    assert_eq!(store.backend(), fx.backend());
    store.insert_agent(&alice(), Origin::Api, t(1)).await?;
    let got = store.get_agent("alice").await?.ok_or("alice was stored")?;
    assert_eq!(got.value, alice());
    assert_eq!(got.origin, Origin::Api);
    assert_eq!(got.updated_at, t(1));
    assert!(store.get_agent("bob").await?.is_none());
    Ok(())
}

async fn agent_with_digest_secret_round_trips_and_is_found_by_sip_user(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    let mut bob = agent("bob");
    bob.sip_user = "bob-desk".into();
    bob.secret = Some(SipSecret::digest("bob-desk", "switchboard.local", "pw"));
    bob.queues.clear();
    bob.skills.clear();
    store.insert_agent(&bob, Origin::Config, t(2)).await?;
    let got = store
        .get_agent_by_sip_user("bob-desk")
        .await?
        .ok_or("bob is found by SIP user")?;
    assert_eq!(got.value, bob);
    assert!(store.get_agent_by_sip_user("bob").await?.is_none());
    Ok(())
}

async fn inserting_an_existing_agent_is_already_exists(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    store.insert_agent(&alice(), Origin::Api, t(1)).await?;
    let mut again = alice();
    again.name = "Someone else".into();
    let r = store.insert_agent(&again, Origin::Api, t(2)).await;
    assert!(
        matches!(&r, Err(StoreError::AlreadyExists { kind: "agent", id }) if id == "alice"),
        "{r:?}"
    );
    let kept = store.get_agent("alice").await?.ok_or("alice kept")?;
    assert_eq!(kept.value.name, "Alice Example");
    assert_eq!(kept.updated_at, t(1));
    Ok(())
}

async fn two_agents_cannot_share_a_sip_user(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    store.insert_agent(&alice(), Origin::Api, t(1)).await?;
    let mut bob = agent("bob");
    bob.sip_user = "alice".into();
    let r = store.insert_agent(&bob, Origin::Api, t(2)).await;
    assert!(
        matches!(&r, Err(StoreError::Conflict(m)) if m.contains("alice")),
        "{r:?}"
    );
    let r = store.upsert_agent(&bob, Origin::Api, t(2)).await;
    assert!(matches!(&r, Err(StoreError::Conflict(_))), "{r:?}");
    assert!(
        store.get_agent("bob").await?.is_none(),
        "nothing of bob was written"
    );
    Ok(())
}

async fn upsert_agent_creates_then_replaces_skills_and_queues(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    assert_eq!(
        store.upsert_agent(&alice(), Origin::Config, t(1)).await?,
        Upserted::Created
    );
    let mut changed = alice();
    changed.skills = BTreeMap::from([("french".into(), 10)]);
    changed.queues = BTreeSet::from(["billing".into()]);
    changed.secret = None;
    changed.wrap_up = None;
    assert_eq!(
        store.upsert_agent(&changed, Origin::Api, t(2)).await?,
        Upserted::Updated
    );
    let got = store.get_agent("alice").await?.ok_or("alice stored")?;
    assert_eq!(got.value, changed);
    assert_eq!((got.origin, got.updated_at), (Origin::Api, t(2)));
    let all = store.list_agents().await?;
    assert_eq!(all.len(), 1);
    Ok(())
}

async fn proficiency_outside_one_to_ten_is_rejected(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    for level in [0u8, 11] {
        let mut a = alice();
        a.skills.insert("english".into(), level);
        let r = store.upsert_agent(&a, Origin::Api, t(1)).await;
        assert!(
            matches!(
                &r,
                Err(StoreError::Invalid {
                    field: "agent.skills",
                    ..
                })
            ),
            "{level}: {r:?}"
        );
        let mut q = support_queue();
        q.skills.insert("english".into(), level);
        let r = store.upsert_queue(&q, Origin::Api, t(1)).await;
        assert!(
            matches!(
                &r,
                Err(StoreError::Invalid {
                    field: "queue.skills",
                    ..
                })
            ),
            "{level}: {r:?}"
        );
    }
    assert!(store.list_agents().await?.is_empty());
    assert!(store.list_queues().await?.is_empty());
    let mut a = alice();
    a.skills = BTreeMap::from([("low".into(), 1), ("high".into(), 10)]);
    store.upsert_agent(&a, Origin::Api, t(1)).await?;
    assert_eq!(
        store
            .get_agent("alice")
            .await?
            .ok_or("stored")?
            .value
            .skills,
        a.skills
    );
    Ok(())
}

async fn deleting_an_agent_removes_it(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    store.insert_agent(&alice(), Origin::Api, t(1)).await?;
    store.insert_agent(&agent("bob"), Origin::Api, t(1)).await?;
    assert!(store.delete_agent("alice").await?);
    assert!(!store.delete_agent("alice").await?);
    assert!(store.get_agent("alice").await?.is_none());
    let left: Vec<String> = store
        .list_agents()
        .await?
        .into_iter()
        .map(|a| a.value.id)
        .collect();
    assert_eq!(left, ["bob"]);
    // Re-creating it starts from nothing: no skills or queues linger.
    let mut bare = alice();
    bare.skills.clear();
    bare.queues.clear();
    store.insert_agent(&bare, Origin::Api, t(2)).await?;
    assert_eq!(store.get_agent("alice").await?.ok_or("stored")?.value, bare);
    Ok(())
}

async fn queue_round_trips_every_field_and_upserts(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    store
        .insert_queue(&support_queue(), Origin::Config, t(1))
        .await?;
    let got = store.get_queue("support").await?.ok_or("queue stored")?;
    assert_eq!(got.value, support_queue());
    assert_eq!(got.origin, Origin::Config);

    for strategy in QueueStrategy::ALL {
        let sales = Queue {
            id: "sales".into(),
            name: "Sales".into(),
            skills: BTreeMap::new(),
            strategy: *strategy,
            ring_timeout: Duration::from_millis(12_345),
            wrap_up: Duration::ZERO,
            max_wait: None,
            service_level: Duration::from_secs(30),
            short_abandon: Duration::ZERO,
            priority: -1,
            record: false,
        };
        store.upsert_queue(&sales, Origin::Api, t(2)).await?;
        assert_eq!(
            store.get_queue("sales").await?.ok_or("sales stored")?.value,
            sales
        );
    }
    let r = store
        .insert_queue(&support_queue(), Origin::Api, t(3))
        .await;
    assert!(
        matches!(r, Err(StoreError::AlreadyExists { kind: "queue", .. })),
        "{r:?}"
    );
    let ids: Vec<String> = store
        .list_queues()
        .await?
        .into_iter()
        .map(|q| q.value.id)
        .collect();
    assert_eq!(ids, ["sales", "support"]);
    assert_eq!(
        store.list_queues().await?[1].value.skills,
        support_queue().skills,
        "list carries the skills"
    );
    assert!(store.delete_queue("sales").await?);
    assert!(store.get_queue("sales").await?.is_none());
    Ok(())
}

async fn routes_and_flows_support_crud(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    let route = Route {
        number: "1000".into(),
        flow: "support".into(),
        priority: false,
    };
    store.insert_route(&route, Origin::Config, t(1)).await?;
    let vip = Route {
        number: "2000".into(),
        flow: "vip".into(),
        priority: true,
    };
    assert_eq!(
        store.upsert_route(&vip, Origin::Api, t(1)).await?,
        Upserted::Created
    );
    let got = store.get_route("2000").await?.ok_or("route stored")?;
    assert_eq!((got.value, got.origin), (vip.clone(), Origin::Api));
    let moved = Route {
        flow: "sales".into(),
        ..route.clone()
    };
    assert_eq!(
        store.upsert_route(&moved, Origin::Api, t(2)).await?,
        Upserted::Updated
    );
    let numbers: Vec<Route> = store
        .list_routes()
        .await?
        .into_iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(numbers, [moved, vip]);
    assert!(store.delete_route("2000").await?);
    assert!(store.get_route("2000").await?.is_none());

    let source =
        "name: support\nstart: welcome\nstates:\n  welcome: { play: welcome.wav, next: hangup }\n";
    let flow = Flow {
        name: "support".into(),
        source: source.into(),
    };
    store.insert_flow(&flow, Origin::Config, t(5)).await?;
    let r = store.insert_flow(&flow, Origin::Config, t(6)).await;
    assert!(
        matches!(r, Err(StoreError::AlreadyExists { kind: "flow", .. })),
        "{r:?}"
    );
    let edited = Flow {
        source: format!("{source}# edited\n"),
        ..flow.clone()
    };
    assert_eq!(
        store.upsert_flow(&edited, Origin::Api, t(7)).await?,
        Upserted::Updated
    );
    let got = store.get_flow("support").await?.ok_or("flow stored")?;
    assert_eq!((got.value, got.updated_at), (edited, t(7)));
    assert_eq!(store.list_flows().await?.len(), 1);
    assert!(store.delete_flow("support").await?);
    assert!(!store.delete_flow("support").await?);
    assert!(store.list_flows().await?.is_empty());
    Ok(())
}

async fn apply_config_creates_updates_and_keeps_api_objects(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    // An operator created carol and a route through the API, and the file already
    // declared alice once with other skills.
    store
        .insert_agent(&agent("carol"), Origin::Api, t(1))
        .await?;
    let api_route = Route {
        number: "3000".into(),
        flow: "sales".into(),
        priority: false,
    };
    store.insert_route(&api_route, Origin::Api, t(1)).await?;
    let mut old_alice = alice();
    old_alice.skills = BTreeMap::from([("english".into(), 2)]);
    store.upsert_agent(&old_alice, Origin::Config, t(1)).await?;

    let file = ConfigObjects {
        queues: vec![support_queue()],
        agents: vec![alice(), agent("bob")],
        routes: vec![Route {
            number: "1000".into(),
            flow: "support".into(),
            priority: false,
        }],
        flows: vec![Flow {
            name: "support".into(),
            source: "name: support\n".into(),
        }],
    };
    let report = store.apply_config(&file, t(10)).await?;
    // Created: support, bob, the route, the flow; updated: alice.
    assert_eq!(
        report,
        ApplyReport {
            created: 4,
            updated: 1
        }
    );
    store.close().await?;

    // After a restart the file is applied again: everything is an update.
    let store = fx.open().await?;
    assert_eq!(
        store.apply_config(&file, t(20)).await?,
        ApplyReport {
            created: 0,
            updated: 5
        }
    );
    let got = store.get_agent("alice").await?.ok_or("alice stored")?;
    assert_eq!(
        (got.value, got.origin, got.updated_at),
        (alice(), Origin::Config, t(20))
    );
    let carol = store
        .get_agent("carol")
        .await?
        .ok_or("API agent survives")?;
    assert_eq!((carol.value, carol.origin), (agent("carol"), Origin::Api));
    let route = store.get_route("3000").await?.ok_or("API route survives")?;
    assert_eq!(route.value, api_route);
    let ids: Vec<String> = store
        .list_agents()
        .await?
        .into_iter()
        .map(|a| a.value.id)
        .collect();
    assert_eq!(ids, ["alice", "bob", "carol"]);
    Ok(())
}

async fn apply_config_with_an_invalid_object_applies_nothing(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    let mut bad = agent("zed");
    bad.skills.insert("english".into(), 11);
    let file = ConfigObjects {
        queues: vec![support_queue()],
        agents: vec![alice(), bad],
        routes: vec![],
        flows: vec![],
    };
    let r = store.apply_config(&file, t(1)).await;
    assert!(matches!(r, Err(StoreError::Invalid { .. })), "{r:?}");
    assert!(
        store.list_queues().await?.is_empty(),
        "the transaction rolled back"
    );
    assert!(
        store.list_agents().await?.is_empty(),
        "the transaction rolled back"
    );
    Ok(())
}

// ----- call records -----

async fn contact_lifecycle_keeps_every_event_in_order(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    store.create_contact(&new_contact("c1", 0)).await?;
    let open = store.get_contact("c1").await?.ok_or("created")?;
    assert_eq!(open.contact.status, ContactStatus::InProgress);
    assert_eq!(open.contact.ended_at, None);
    assert!(open.path.is_empty() && open.offers.is_empty() && open.recordings.is_empty());

    for (ms, state) in [(10, "welcome"), (2_000, "menu"), (5_000, "support")] {
        store.add_path_step("c1", state, t(ms)).await?;
    }
    let placement =
        r#"{"estimate_kbps":87.2,"candidates":[{"id":"mh-1","load":0.25}],"choice":"mh-1"}"#;
    let media = MediaPlacement {
        handler: "mh-1".into(),
        codec: Some("PCMU".into()),
        explanation: Some(placement.into()),
    };
    store.set_media("c1", &media).await?;
    store.set_queue("c1", "support", t(5_001)).await?;
    let first = store
        .add_offer("c1", "bob", Some("support"), t(6_000))
        .await?;
    store
        .set_offer_result(first, OfferResult::NoAnswer, t(21_000))
        .await?;
    let second = store
        .add_offer("c1", "alice", Some("support"), t(21_500))
        .await?;
    assert_ne!(first, second);
    store
        .set_offer_result(second, OfferResult::Answered, t(24_000))
        .await?;
    store.set_answered("c1", "alice", t(24_000)).await?;
    let recording = Recording {
        id: "rec-c1".into(),
        contact_id: "c1".into(),
        kind: RecordingKind::Call,
        path: "recordings/2025/01/01/rec-c1.wav".into(),
        started_at: t(24_010),
        duration: None,
        channels: 2,
        sample_rate: 8_000,
    };
    store.add_recording(&recording).await?;
    store
        .end_contact("c1", &ended(90_000, Party::Agent, false))
        .await?;
    store
        .finish_recording("rec-c1", Duration::from_millis(65_990))
        .await?;
    store.set_disposition("c1", "resolved").await?;

    let record = store.get_contact("c1").await?.ok_or("still there")?;
    let c = &record.contact;
    assert_eq!(c.id, "c1");
    assert_eq!(c.arrived_at, t(0));
    assert_eq!(c.caller.as_deref(), Some("sip:+15550100@example.com"));
    assert_eq!(c.dialed.as_deref(), Some("1000"));
    assert_eq!(c.flow.as_deref(), Some("support"));
    assert_eq!(c.status, ContactStatus::Ended);
    assert_eq!(
        (c.queue.as_deref(), c.queued_at),
        (Some("support"), Some(t(5_001)))
    );
    assert_eq!(
        (c.agent.as_deref(), c.answered_at),
        (Some("alice"), Some(t(24_000)))
    );
    assert_eq!(c.ended_at, Some(t(90_000)));
    assert_eq!(c.hangup_by, Some(Party::Agent));
    assert_eq!(c.end_reason.as_deref(), Some("normal"));
    assert!(!c.abandoned);
    assert_eq!(c.disposition.as_deref(), Some("resolved"));
    assert_eq!(c.media.as_ref(), Some(&media));
    let states: Vec<&str> = record.path.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["welcome", "menu", "support"]);
    assert_eq!(
        record.path[1],
        PathStep {
            state: "menu".into(),
            entered_at: t(2_000)
        }
    );
    let offers: Vec<(OfferId, &str, Option<OfferResult>)> = record
        .offers
        .iter()
        .map(|o| (o.id, o.agent.as_str(), o.result))
        .collect();
    assert_eq!(
        offers,
        [
            (first, "bob", Some(OfferResult::NoAnswer)),
            (second, "alice", Some(OfferResult::Answered))
        ]
    );
    assert_eq!(record.offers[0].offered_at, t(6_000));
    assert_eq!(record.offers[0].result_at, Some(t(21_000)));
    assert_eq!(record.offers[0].queue.as_deref(), Some("support"));
    let finished = Recording {
        duration: Some(Duration::from_millis(65_990)),
        ..recording
    };
    assert_eq!(record.recordings, [finished]);
    Ok(())
}

async fn placement_json_is_kept_byte_for_byte(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    store.create_contact(&new_contact("c1", 0)).await?;
    // Odd spacing, key order, escapes and non-ASCII survive: the store never parses it.
    let json = "{ \"z\": 1,\n  \"a\": [\"caf\u{e9}\", \"\\u00e9\", 1.50e3],  \"degraded\": {\"from\": \"PCMU\", \"to\": \"G729\"} }";
    let media = MediaPlacement {
        handler: "mh-2".into(),
        codec: None,
        explanation: Some(json.into()),
    };
    store.set_media("c1", &media).await?;
    let got = store.get_contact("c1").await?.ok_or("stored")?;
    assert_eq!(
        got.contact.media.and_then(|m| m.explanation).as_deref(),
        Some(json)
    );
    Ok(())
}

async fn creating_a_contact_twice_is_already_exists(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    store.create_contact(&new_contact("c1", 0)).await?;
    let r = store.create_contact(&new_contact("c1", 50)).await;
    assert!(
        matches!(
            r,
            Err(StoreError::AlreadyExists {
                kind: "contact",
                ..
            })
        ),
        "{r:?}"
    );
    let got = store.get_contact("c1").await?.ok_or("stored")?;
    assert_eq!(got.contact.arrived_at, t(0), "the first write stands");
    Ok(())
}

async fn events_for_an_unknown_contact_are_not_found(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    assert!(is_not_found(
        &store.add_path_step("nope", "welcome", t(1)).await,
        "contact"
    ));
    assert!(is_not_found(
        &store.set_queue("nope", "support", t(1)).await,
        "contact"
    ));
    assert!(is_not_found(
        &store.add_offer("nope", "alice", None, t(1)).await,
        "contact"
    ));
    assert!(is_not_found(
        &store.set_answered("nope", "alice", t(1)).await,
        "contact"
    ));
    let media = MediaPlacement {
        handler: "mh".into(),
        codec: None,
        explanation: None,
    };
    assert!(is_not_found(
        &store.set_media("nope", &media).await,
        "contact"
    ));
    assert!(is_not_found(
        &store
            .end_contact("nope", &ended(1, Party::Customer, true))
            .await,
        "contact"
    ));
    assert!(is_not_found(
        &store.set_disposition("nope", "x").await,
        "contact"
    ));
    let rec = Recording {
        id: "r".into(),
        contact_id: "nope".into(),
        kind: RecordingKind::Voicemail,
        path: "r.wav".into(),
        started_at: t(1),
        duration: None,
        channels: 1,
        sample_rate: 8_000,
    };
    assert!(is_not_found(&store.add_recording(&rec).await, "contact"));
    assert!(is_not_found(
        &store.finish_recording("r", Duration::from_secs(1)).await,
        "recording"
    ));
    assert!(is_not_found(
        &store
            .set_offer_result(OfferId(424_242), OfferResult::Busy, t(1))
            .await,
        "offer"
    ));
    assert!(store.get_contact("nope").await?.is_none());
    assert_eq!(store.count_contacts(&ContactFilter::default()).await?, 0);
    Ok(())
}

async fn ending_a_contact_twice_is_a_conflict(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    store.create_contact(&new_contact("c1", 0)).await?;
    store
        .end_contact("c1", &ended(1_000, Party::Customer, true))
        .await?;
    let r = store
        .end_contact("c1", &ended(2_000, Party::Agent, false))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    let c = store.get_contact("c1").await?.ok_or("stored")?.contact;
    assert_eq!(
        (c.ended_at, c.hangup_by, c.abandoned),
        (Some(t(1_000)), Some(Party::Customer), true)
    );
    Ok(())
}

async fn contacts_filter_by_time_queue_agent_status_and_page_newest_first(
    fx: Fixture,
) -> TestResult {
    let store = fx.open().await?;
    // c0..c9 arrive one second apart; even ones go to support, odd ones to sales;
    // every third is answered by alice, the others by bob; c8 and c9 are still going;
    // c7 was abandoned.
    for i in 0..10i64 {
        let id = format!("c{i}");
        store.create_contact(&new_contact(&id, i * 1_000)).await?;
        let queue = if i % 2 == 0 { "support" } else { "sales" };
        store.set_queue(&id, queue, t(i * 1_000 + 10)).await?;
        if i == 7 {
            store
                .end_contact(&id, &ended(i * 1_000 + 500, Party::Customer, true))
                .await?;
            continue;
        }
        let agent = if i % 3 == 0 { "alice" } else { "bob" };
        store.set_answered(&id, agent, t(i * 1_000 + 20)).await?;
        if i < 8 {
            store
                .end_contact(&id, &ended(i * 1_000 + 900, Party::Customer, false))
                .await?;
        }
    }
    let ids = |cs: Vec<store::Contact>| cs.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let all = ContactFilter::default();
    assert_eq!(
        ids(store.list_contacts(&all).await?),
        ["c9", "c8", "c7", "c6", "c5", "c4", "c3", "c2", "c1", "c0"]
    );
    assert_eq!(store.count_contacts(&all).await?, 10);

    let window = ContactFilter {
        arrived_from: Some(t(2_000)),
        arrived_until: Some(t(5_000)),
        ..all.clone()
    };
    assert_eq!(
        ids(store.list_contacts(&window).await?),
        ["c4", "c3", "c2"],
        "from inclusive, until exclusive"
    );
    assert_eq!(store.count_contacts(&window).await?, 3);

    let support = ContactFilter {
        queue: Some("support".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(store.list_contacts(&support).await?),
        ["c8", "c6", "c4", "c2", "c0"]
    );

    let alice = ContactFilter {
        agent: Some("alice".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(store.list_contacts(&alice).await?),
        ["c9", "c6", "c3", "c0"]
    );

    let going = ContactFilter {
        status: Some(ContactStatus::InProgress),
        ..all.clone()
    };
    assert_eq!(ids(store.list_contacts(&going).await?), ["c9", "c8"]);
    let done = ContactFilter {
        status: Some(ContactStatus::Ended),
        ..all.clone()
    };
    assert_eq!(store.count_contacts(&done).await?, 8);

    let abandoned = ContactFilter {
        abandoned: Some(true),
        ..all.clone()
    };
    assert_eq!(ids(store.list_contacts(&abandoned).await?), ["c7"]);

    let combined = ContactFilter {
        queue: Some("support".into()),
        agent: Some("bob".into()),
        status: Some(ContactStatus::Ended),
        arrived_from: Some(t(1)),
        ..all.clone()
    };
    assert_eq!(ids(store.list_contacts(&combined).await?), ["c4", "c2"]);

    let page = ContactFilter {
        limit: 3,
        offset: 2,
        ..all.clone()
    };
    assert_eq!(ids(store.list_contacts(&page).await?), ["c7", "c6", "c5"]);
    assert_eq!(
        store.count_contacts(&page).await?,
        10,
        "count ignores paging"
    );
    let past_end = ContactFilter {
        limit: 5,
        offset: 9,
        ..all.clone()
    };
    assert_eq!(ids(store.list_contacts(&past_end).await?), ["c0"]);

    // Same arrival time: the id breaks the tie, still newest (greatest) first.
    store.create_contact(&new_contact("c9b", 9_000)).await?;
    let latest = ContactFilter { limit: 2, ..all };
    assert_eq!(ids(store.list_contacts(&latest).await?), ["c9b", "c9"]);
    Ok(())
}

async fn close_in_progress_after_drop_marks_only_open_contacts_interrupted(
    fx: Fixture,
) -> TestResult {
    {
        let store = fx.open().await?;
        store.create_contact(&new_contact("done", 0)).await?;
        store
            .end_contact("done", &ended(500, Party::Customer, false))
            .await?;
        store.create_contact(&new_contact("queued", 100)).await?;
        store.add_path_step("queued", "support", t(150)).await?;
        store.set_queue("queued", "support", t(160)).await?;
        store.create_contact(&new_contact("talking", 200)).await?;
        store.set_answered("talking", "alice", t(300)).await?;
        let offer = store
            .add_offer("talking", "alice", Some("support"), t(250))
            .await?;
        store
            .set_offer_result(offer, OfferResult::Answered, t(300))
            .await?;
        // Dropped without close(): as far as the database knows, the process died.
    }
    let store = fx.open().await?;
    assert_eq!(store.close_in_progress(t(60_000)).await?, 2);
    for id in ["queued", "talking"] {
        let record = store.get_contact(id).await?.ok_or("kept")?;
        let c = record.contact;
        assert_eq!(c.status, ContactStatus::Ended, "{id}");
        assert_eq!(
            c.end_reason.as_deref(),
            Some(END_REASON_INTERRUPTED),
            "{id}"
        );
        assert_eq!(c.ended_at, Some(t(60_000)), "{id}");
        assert_eq!(c.hangup_by, None, "{id}: nobody is known to have hung up");
    }
    let talking = store.get_contact("talking").await?.ok_or("kept")?;
    assert_eq!(
        talking.contact.agent.as_deref(),
        Some("alice"),
        "earlier events survive"
    );
    assert_eq!(talking.offers.len(), 1);
    let queued = store.get_contact("queued").await?.ok_or("kept")?;
    assert_eq!(queued.path.len(), 1);
    let done = store.get_contact("done").await?.ok_or("kept")?.contact;
    assert_eq!(
        (done.end_reason.as_deref(), done.ended_at),
        (Some("normal"), Some(t(500)))
    );
    assert_eq!(
        store.close_in_progress(t(70_000)).await?,
        0,
        "nothing left open"
    );
    Ok(())
}

async fn recordings_are_indexed_finished_and_found(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    store.create_contact(&new_contact("c1", 0)).await?;
    let voicemail = Recording {
        id: "vm-1".into(),
        contact_id: "c1".into(),
        kind: RecordingKind::Voicemail,
        path: "recordings/vm-1.wav".into(),
        started_at: t(30_000),
        duration: Some(Duration::from_millis(12_340)),
        channels: 1,
        sample_rate: 16_000,
    };
    let call = Recording {
        id: "call-1".into(),
        kind: RecordingKind::Call,
        path: "recordings/call-1.wav".into(),
        started_at: t(10_000),
        duration: None,
        channels: 2,
        ..voicemail.clone()
    };
    store.add_recording(&voicemail).await?;
    store.add_recording(&call).await?;
    let r = store.add_recording(&call).await;
    assert!(
        matches!(
            r,
            Err(StoreError::AlreadyExists {
                kind: "recording",
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(store.get_recording("call-1").await?, Some(call.clone()));
    store
        .finish_recording("call-1", Duration::from_secs(20))
        .await?;
    let finished = Recording {
        duration: Some(Duration::from_secs(20)),
        ..call
    };
    assert_eq!(store.get_recording("call-1").await?, Some(finished.clone()));
    assert_eq!(store.get_recording("vm-1").await?, Some(voicemail.clone()));
    assert_eq!(store.get_recording("none").await?, None);
    let record = store.get_contact("c1").await?.ok_or("stored")?;
    assert_eq!(
        record.recordings,
        [finished, voicemail],
        "ordered by start time"
    );
    let bad = Recording {
        id: "bad".into(),
        channels: 0,
        ..record.recordings[0].clone()
    };
    assert!(matches!(
        store.add_recording(&bad).await,
        Err(StoreError::Invalid { .. })
    ));
    Ok(())
}

async fn concurrent_writers_lose_nothing(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    const TASKS: i64 = 16;
    const PER_TASK: i64 = 25;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            for n in 0..PER_TASK {
                let id = format!("t{task}-{n}");
                let at = task * 1_000_000 + n * 1_000;
                store.create_contact(&new_contact(&id, at)).await?;
                store.add_path_step(&id, "welcome", t(at + 1)).await?;
                let offer = store
                    .add_offer(&id, "alice", Some("support"), t(at + 2))
                    .await?;
                store
                    .set_offer_result(offer, OfferResult::Answered, t(at + 3))
                    .await?;
                store
                    .end_contact(&id, &ended(at + 4, Party::Customer, false))
                    .await?;
            }
            Ok::<_, StoreError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    let done = ContactFilter {
        status: Some(ContactStatus::Ended),
        ..ContactFilter::default()
    };
    assert_eq!(
        store.count_contacts(&done).await?,
        (TASKS * PER_TASK) as u64
    );
    let sample = store.get_contact("t7-13").await?.ok_or("written")?;
    assert_eq!(sample.path.len(), 1);
    assert_eq!(sample.offers.len(), 1);
    assert_eq!(sample.offers[0].result, Some(OfferResult::Answered));
    Ok(())
}

async fn invalid_page_bounds_are_rejected(fx: Fixture) -> TestResult {
    let store = fx.open().await?;
    let huge = ContactFilter {
        offset: u64::MAX,
        ..ContactFilter::default()
    };
    let r = store.list_contacts(&huge).await;
    assert!(
        matches!(
            r,
            Err(StoreError::Invalid {
                field: "filter.offset",
                ..
            })
        ),
        "{r:?}"
    );
    Ok(())
}
