//! Nothing acknowledged is lost when the process is killed.
//!
//! The parent re-runs this test binary as a child (marked by an environment variable)
//! that writes call records as fast as it can and prints a line after each write is
//! acknowledged. Once the child has acknowledged a few hundred, the parent kills it
//! with SIGKILL mid-write, reads every acknowledgement still in the pipe, reopens
//! the database and checks each acknowledged write, then closes what the child left
//! in progress.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use jiff::Timestamp;
use store::{ContactEnd, ContactFilter, ContactStatus, NewContact, Party};

use crate::{Case, Fixture, TestResult};

/// Set in the child's environment to the storage URL it writes to.
const CHILD_URL: &str = "STORE_SUITE_DURABILITY_CHILD_URL";
/// Contacts the child must have fully written before the parent kills it.
const ENDED_BEFORE_KILL: usize = 300;
/// The child stops on its own after this many, should the parent never kill it.
const CHILD_LIMIT: u64 = 1_000_000;

/// Cases for both backends.
pub fn cases() -> Vec<(&'static str, Case)> {
    vec![(
        "kill_9_loses_no_acknowledged_write",
        (|fx| Box::pin(kill_9_loses_no_acknowledged_write(fx, ""))) as Case,
    )]
}

/// Cases for SQLite only: its other durability setting.
pub fn sqlite_cases() -> Vec<(&'static str, Case)> {
    vec![(
        "kill_9_loses_no_acknowledged_write_with_full_sync",
        (|fx| Box::pin(kill_9_loses_no_acknowledged_write(fx, "?synchronous=full"))) as Case,
    )]
}

/// Whether this process is the writer child.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_URL).is_some()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_735_689_600_000 + ms).expect("in range")
}

/// The child: write contacts until killed, acknowledging each write on stdout.
pub fn child_main() -> ! {
    let url = std::env::var(CHILD_URL).expect("is_child() checked the variable");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the child can build a runtime");
    let result: TestResult = runtime.block_on(async move {
        let store = store::open(&url).await?;
        let mut out = std::io::stdout().lock();
        for i in 0..CHILD_LIMIT {
            let id = format!("k{i}");
            let ms = i64::try_from(i)? * 10;
            store
                .create_contact(&NewContact {
                    id: id.clone(),
                    arrived_at: at(ms),
                    caller: None,
                    dialed: Some("1000".into()),
                    flow: None,
                })
                .await?;
            writeln!(out, "created {id}")?;
            out.flush()?;
            store.add_path_step(&id, "welcome", at(ms + 1)).await?;
            let end = ContactEnd {
                at: at(ms + 2),
                hangup_by: Some(Party::Customer),
                reason: "normal".into(),
                abandoned: false,
            };
            store.end_contact(&id, &end).await?;
            writeln!(out, "ended {id}")?;
            out.flush()?;
        }
        Ok(())
    });
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("durability child: {e}");
            std::process::exit(2);
        }
    }
}

/// `url_suffix` is appended to the fixture's URL for the child (SQLite options).
async fn kill_9_loses_no_acknowledged_write(fx: Fixture, url_suffix: &'static str) -> TestResult {
    // Create the schema first so the child's start-up is only connecting.
    fx.open().await?.close().await?;
    let url = format!("{}{url_suffix}", fx.url());
    let exe = std::env::current_exe()?;
    let (created, ended, status) = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let mut child = Command::new(exe)
            .env(CHILD_URL, &url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the writer child: {e}"))?;
        let stdout = child.stdout.take().ok_or("the child's stdout is piped")?;
        let mut created = BTreeSet::new();
        let mut ended = BTreeSet::new();
        let mut killed = false;
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading the child: {e}"))?;
            match line.split_once(' ') {
                Some(("created", id)) => created.insert(id.to_owned()),
                Some(("ended", id)) => ended.insert(id.to_owned()),
                _ => return Err(format!("unexpected line from the child: {line:?}")),
            };
            if !killed && ended.len() >= ENDED_BEFORE_KILL {
                // SIGKILL: no destructor, no flush, no close.
                child
                    .kill()
                    .map_err(|e| format!("killing the child: {e}"))?;
                killed = true;
            }
        }
        // The pipe is at its end: every acknowledgement the child printed is read.
        let status = child
            .wait()
            .map_err(|e| format!("waiting for the child: {e}"))?;
        Ok((created, ended, status))
    })
    .await??;
    assert_eq!(
        status.signal(),
        Some(9),
        "the child was killed by SIGKILL while writing (status {status})"
    );
    assert!(ended.len() >= ENDED_BEFORE_KILL);

    let store = fx.open().await?;
    let in_progress: BTreeSet<String> = store
        .list_contacts(&ContactFilter {
            status: Some(ContactStatus::InProgress),
            limit: 1_000,
            ..ContactFilter::default()
        })
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    // Created and acknowledged, its end not acknowledged: left in progress, unless the end
    // committed in the instant between the commit and the acknowledgement the kill cut off
    // (possible for the last contact only).
    let mut ended_unacknowledged = Vec::new();
    for id in &created {
        let record = store.get_contact(id).await?;
        let record = record.ok_or_else(|| format!("acknowledged contact {id} was lost"))?;
        if ended.contains(id) {
            assert_eq!(record.contact.status, ContactStatus::Ended, "{id}");
            assert_eq!(record.contact.hangup_by, Some(Party::Customer), "{id}");
            assert_eq!(record.path.len(), 1, "{id}: its path step was lost");
        } else if record.contact.status == ContactStatus::Ended {
            assert_eq!(record.path.len(), 1, "{id}: ended without its path step");
            ended_unacknowledged.push(id);
        } else {
            assert!(in_progress.contains(id), "{id} is left in progress");
        }
    }
    assert!(
        ended_unacknowledged.len() <= 1,
        "only the last contact's end can commit unacknowledged: {ended_unacknowledged:?}"
    );
    // At most one contact can be in progress beyond the acknowledged ones: the one
    // whose creation committed just before the kill, unacknowledged.
    let unacknowledged: Vec<&String> = in_progress.difference(&created).collect();
    assert!(unacknowledged.len() <= 1, "{unacknowledged:?}");
    let open_acknowledged = created.difference(&ended).count() - ended_unacknowledged.len();
    let closed = store.close_in_progress(at(99_999_999)).await?;
    assert_eq!(closed as usize, in_progress.len());
    assert!(closed as usize >= open_acknowledged);
    let total = store.count_contacts(&ContactFilter::default()).await?;
    assert!(total as usize >= created.len());
    assert!(total as usize <= created.len() + 1);
    store.close().await?;
    Ok(())
}
