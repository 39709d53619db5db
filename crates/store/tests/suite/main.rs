//! The store's behavioural suite, run against both backends.
//!
//! Every case in [`cases`] runs twice: as `sqlite::NAME` on a database file in a
//! fresh temporary directory, and as `postgres::NAME` on a fresh database of a
//! throwaway PostgreSQL server (see [`pg`]) that this binary starts once and stops at
//! the end. The [`durability`] cases kill a writer child process with SIGKILL.
//!
//! It is a `harness = false` test so that one server serves every case and is
//! always stopped; `libtest-mimic` keeps the usual command line (`cargo test -p store
//! -- FILTER`, `--exact`, `--list`, `--test-threads`).
//!
//! If the PostgreSQL binaries are missing, every `postgres::` case fails with a
//! message naming the package to install; `-- --skip postgres::` runs SQLite only.

mod cases;
mod durability;
mod pg;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use store::{OpenOptions, Store};

/// What a case returns; `Err` and panics both fail it.
pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A case: given a fixture, a future that checks one behaviour.
pub type Case = fn(Fixture) -> Pin<Box<dyn Future<Output = TestResult>>>;

/// The database a case runs against, which it may open (and reopen) as often as it likes.
pub struct Fixture {
    url: String,
    backend: store::Backend,
    /// Keeps the SQLite directory alive for the case's duration.
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    /// The storage URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which backend the case runs on.
    pub fn backend(&self) -> store::Backend {
        self.backend
    }

    /// Opens the store; small pools, since cases run in parallel on one server.
    pub async fn open(&self) -> Result<Arc<dyn Store>, store::StoreError> {
        let options = OpenOptions {
            max_connections: 4,
            ..OpenOptions::default()
        };
        store::open_with(&self.url, &options).await
    }
}

/// Where the SQLite file of a fixture goes: nested directories that do not exist
/// yet, so every case also checks that opening creates them.
fn sqlite_fixture() -> Result<Fixture, String> {
    let dir = tempfile::Builder::new()
        .prefix("store-suite-")
        .tempdir()
        .map_err(|e| format!("creating a temporary directory: {e}"))?;
    let path: PathBuf = dir
        .path()
        .join("data")
        .join("nested")
        .join("switchboard.db");
    Ok(Fixture {
        url: format!("sqlite://{}", path.display()),
        backend: store::Backend::Sqlite,
        _dir: Some(dir),
    })
}

async fn postgres_fixture(server: &Result<pg::PgServer, String>) -> Result<Fixture, String> {
    let server = server.as_ref().map_err(Clone::clone)?;
    Ok(Fixture {
        url: server.create_database().await?,
        backend: store::Backend::Postgres,
        _dir: None,
    })
}

fn run_case(
    case: Case,
    backend: store::Backend,
    server: Option<Arc<Result<pg::PgServer, String>>>,
) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("building a runtime: {e}")))?;
    runtime.block_on(async move {
        let fixture = match (backend, &server) {
            (store::Backend::Sqlite, _) => sqlite_fixture()?,
            (store::Backend::Postgres, Some(server)) => postgres_fixture(server).await?,
            (store::Backend::Postgres, None) => return Err("no PostgreSQL server".into()),
        };
        case(fixture).await.map_err(|e| Failed::from(e.to_string()))
    })
}

fn main() {
    if durability::is_child() {
        durability::child_main();
    }
    let args = Arguments::from_args();
    let mut cases: Vec<(&'static str, Case)> = cases::all();
    cases.extend(durability::cases());

    let name = |backend: &str, case: &str| format!("{backend}::{case}");
    let wants_postgres = !args.list
        && cases
            .iter()
            .any(|(case, _)| selected(&args, &name("postgres", case)));
    let server = wants_postgres.then(|| Arc::new(pg::PgServer::start()));

    let mut trials = Vec::new();
    for &(case_name, case) in &cases {
        trials.push(Trial::test(name("sqlite", case_name), move || {
            run_case(case, store::Backend::Sqlite, None)
        }));
        let server = server.clone();
        trials.push(Trial::test(name("postgres", case_name), move || {
            run_case(case, store::Backend::Postgres, server)
        }));
    }
    for (case_name, case) in durability::sqlite_cases() {
        trials.push(Trial::test(name("sqlite", case_name), move || {
            run_case(case, store::Backend::Sqlite, None)
        }));
    }
    let conclusion = libtest_mimic::run(&args, trials);
    // Stops the server (the trials holding clones are gone) before exiting.
    drop(server);
    conclusion.exit();
}

/// Whether libtest-mimic will run a trial of this name (to start the server only
/// when a PostgreSQL case is selected).
fn selected(args: &Arguments, name: &str) -> bool {
    let matches = |pattern: &str| {
        if args.exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    let included = args.filter.as_deref().is_none_or(matches);
    included && !args.skip.iter().any(|s| matches(s))
}
