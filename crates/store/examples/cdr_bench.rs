//! Measures the call-record write path: how many writes (and whole contacts) per
//! second the store acknowledges.
//!
//! Each simulated contact makes the writes a real one does: create, three flow
//! steps, queue entry, two offers with results, answer, media placement (with a
//! ~300-byte explanation), end — 12 writes, each its own committed transaction.
//!
//! ```text
//! cargo run --release -p store --example cdr_bench -- [CONTACTS] [CONCURRENCY] [URL]
//! ```
//!
//! Without a URL it measures SQLite in a temporary directory, once with
//! `synchronous=normal` (the default) and once with `synchronous=full`. It prints
//! figures and never fails on a timing.

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use store::{ContactEnd, MediaPlacement, NewContact, OfferResult, Party, Store};

/// Writes one simulated contact makes.
const WRITES_PER_CONTACT: u64 = 12;

const PLACEMENT: &str = r#"{"estimate":{"kbps_up":87.2,"kbps_down":87.2,"pps":50},"candidates":[{"id":"mh-1","capacity_kbps":100000,"load":0.31},{"id":"mh-2","capacity_kbps":200000,"load":0.22}],"choice":"mh-2","degradation":null}"#;

fn at(ms: u64) -> Timestamp {
    let ms = i64::try_from(ms).expect("benchmark times stay far below i64::MAX");
    Timestamp::from_millisecond(1_735_689_600_000 + ms).expect("in range")
}

async fn one_contact(store: &dyn Store, run: &str, n: u64) -> Result<(), store::StoreError> {
    let id = format!("{run}-{n}");
    let t0 = n * 100;
    store
        .create_contact(&NewContact {
            id: id.clone(),
            arrived_at: at(t0),
            caller: Some("sip:+15550100@example.com".into()),
            dialed: Some("1000".into()),
            flow: Some("support".into()),
        })
        .await?;
    for (i, state) in ["welcome", "menu", "support"].into_iter().enumerate() {
        store
            .add_path_step(&id, state, at(t0 + 1 + i as u64))
            .await?;
    }
    store.set_queue(&id, "support", at(t0 + 5)).await?;
    let first = store
        .add_offer(&id, "bob", Some("support"), at(t0 + 6))
        .await?;
    store
        .set_offer_result(first, OfferResult::NoAnswer, at(t0 + 7))
        .await?;
    let second = store
        .add_offer(&id, "alice", Some("support"), at(t0 + 8))
        .await?;
    store
        .set_offer_result(second, OfferResult::Answered, at(t0 + 9))
        .await?;
    store.set_answered(&id, "alice", at(t0 + 9)).await?;
    let media = MediaPlacement {
        handler: "mh-2".into(),
        codec: Some("PCMU".into()),
        explanation: Some(PLACEMENT.into()),
    };
    store.set_media(&id, &media).await?;
    let end = ContactEnd {
        at: at(t0 + 50),
        hangup_by: Some(Party::Customer),
        reason: "normal".into(),
        abandoned: false,
    };
    store.end_contact(&id, &end).await
}

async fn run(label: &str, store: Arc<dyn Store>, contacts: u64, concurrency: u64) {
    // Distinct contact ids per run, so runs can share a database (the URL mode).
    let run_id: Arc<str> = format!("bench-{}-c{concurrency}", std::process::id()).into();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let store = store.clone();
        let run_id = run_id.clone();
        tasks.spawn(async move {
            let mut n = worker;
            while n < contacts {
                one_contact(store.as_ref(), &run_id, n).await?;
                n += concurrency;
            }
            Ok::<_, store::StoreError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{label}: a write failed: {e}"),
            Err(e) => panic!("{label}: a writer task failed: {e}"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let writes = contacts * WRITES_PER_CONTACT;
    println!(
        "{label:<34} {contacts:>6} contacts x {WRITES_PER_CONTACT} writes, {concurrency:>3} concurrent: \
         {:>8.0} writes/s  {:>7.0} contacts/s  ({secs:.2} s)",
        writes as f64 / secs,
        contacts as f64 / secs,
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let contacts: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2_000);
    let concurrency: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(32)
        .max(1);
    if let Some(url) = args.next() {
        let store = store::open(&url).await?;
        for c in [1, concurrency] {
            run(
                &format!("{:?}", store.backend()),
                store.clone(),
                contacts,
                c,
            )
            .await;
        }
        return Ok(());
    }
    for sync in ["normal", "full"] {
        for c in [1, concurrency] {
            let dir = tempfile::tempdir()?;
            let url = format!(
                "sqlite://{}/bench.db?synchronous={sync}",
                dir.path().display()
            );
            let store = store::open(&url).await?;
            run(
                &format!("SQLite synchronous={sync}"),
                store.clone(),
                contacts,
                c,
            )
            .await;
            store.close().await?;
        }
    }
    Ok(())
}
