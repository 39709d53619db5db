//! Opening a store from the configuration's storage URL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{StoreError, StoreResult};
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::store::Store;

/// How hard SQLite pushes each commit to the disk. See [`SqliteStore`] for the trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// Commits survive the process being killed; a power loss may lose the last few
    /// (WAL + `synchronous=NORMAL`).
    #[default]
    Normal,
    /// Commits also survive a power loss; one `fsync` per commit
    /// (WAL + `synchronous=FULL`).
    Full,
}

/// Tuning for [`open_with`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// PostgreSQL pool size; for SQLite, the number of read connections (writes
    /// always use one connection).
    pub max_connections: u32,
    /// How long a call waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// SQLite commit durability; overridden by a `?synchronous=` URL parameter.
    pub sqlite_sync: SqliteSync,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
            sqlite_sync: SqliteSync::default(),
        }
    }
}

/// A parsed storage URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A SQLite file, with an optional durability override.
    SqliteFile {
        path: PathBuf,
        sync: Option<SqliteSync>,
    },
    /// A private in-memory SQLite database.
    SqliteMemory,
    /// A PostgreSQL URL, passed to the driver as is.
    Postgres(String),
}

/// Parses a storage URL. Messages never repeat the URL (it may hold a password).
pub(crate) fn parse_url(url: &str) -> StoreResult<Target> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(url.to_owned()));
    }
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Err(StoreError::Url(
            "expected sqlite://PATH, sqlite::memory:, postgres://... or postgresql://..."
                .to_owned(),
        ));
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let mut sync = None;
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        match pair.split_once('=') {
            Some(("synchronous", value)) => {
                sync = Some(match value.to_ascii_lowercase().as_str() {
                    "normal" => SqliteSync::Normal,
                    "full" => SqliteSync::Full,
                    other => {
                        return Err(StoreError::Url(format!(
                            "synchronous={other:?}: expected normal or full"
                        )));
                    }
                });
            }
            _ => {
                return Err(StoreError::Url(format!(
                    "unknown SQLite URL parameter {pair:?} (known: synchronous=normal|full)"
                )));
            }
        }
    }
    if path == ":memory:" {
        return Ok(Target::SqliteMemory);
    }
    if path.is_empty() {
        return Err(StoreError::Url("the SQLite URL names no file".to_owned()));
    }
    Ok(Target::SqliteFile {
        path: PathBuf::from(path),
        sync,
    })
}

/// Opens the store a storage URL names, with default options.
///
/// * `sqlite://data/switchboard.db` — a file relative to the working directory;
///   `sqlite:///var/lib/switchboard/switchboard.db` — an absolute path. The file and
///   its parent directories are created if missing. `?synchronous=full` makes every
///   commit survive power loss (see [`SqliteSync`]).
/// * `sqlite::memory:` — a private in-memory database, gone when the store is dropped.
/// * `postgres://user:password@host:5432/switchboard` (or `postgresql://`) — a server.
///
/// Either way the embedded migrations bring the schema up to date before this returns.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    open_with(url, &OpenOptions::default()).await
}

/// [`open`] with explicit options.
pub async fn open_with(url: &str, options: &OpenOptions) -> StoreResult<Arc<dyn Store>> {
    Ok(match parse_url(url)? {
        Target::SqliteFile { path, sync } => {
            let mut options = options.clone();
            if let Some(sync) = sync {
                options.sqlite_sync = sync;
            }
            Arc::new(SqliteStore::open(&path, &options).await?)
        }
        Target::SqliteMemory => Arc::new(SqliteStore::open_in_memory().await?),
        Target::Postgres(url) => Arc::new(PgStore::connect(&url, options).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, sync: Option<SqliteSync>) -> Target {
        Target::SqliteFile {
            path: PathBuf::from(path),
            sync,
        }
    }

    #[test]
    fn sqlite_urls_name_relative_and_absolute_files() {
        assert_eq!(
            parse_url("sqlite://data/switchboard.db").ok(),
            Some(file("data/switchboard.db", None))
        );
        assert_eq!(
            parse_url("sqlite:///var/lib/sb.db").ok(),
            Some(file("/var/lib/sb.db", None))
        );
        assert_eq!(parse_url("sqlite:sb.db").ok(), Some(file("sb.db", None)));
        assert_eq!(
            parse_url("sqlite://sb.db?synchronous=FULL").ok(),
            Some(file("sb.db", Some(SqliteSync::Full)))
        );
        assert_eq!(
            parse_url("sqlite::memory:").ok(),
            Some(Target::SqliteMemory)
        );
        assert_eq!(
            parse_url("sqlite://:memory:").ok(),
            Some(Target::SqliteMemory)
        );
    }

    #[test]
    fn postgres_urls_pass_through() {
        let url = "postgres://sb:secret@db:5432/sb?sslmode=disable";
        assert_eq!(parse_url(url).ok(), Some(Target::Postgres(url.to_owned())));
        let url = "postgresql://db/sb";
        assert_eq!(parse_url(url).ok(), Some(Target::Postgres(url.to_owned())));
    }

    #[tokio::test]
    async fn in_memory_stores_work_and_are_private() {
        let contact = crate::NewContact {
            id: "c1".into(),
            arrived_at: jiff::Timestamp::UNIX_EPOCH,
            caller: None,
            dialed: None,
            flow: None,
        };
        let a = open("sqlite::memory:")
            .await
            .expect("in-memory store opens");
        let b = open("sqlite::memory:")
            .await
            .expect("in-memory store opens");
        a.create_contact(&contact)
            .await
            .expect("write to a fresh store");
        let got = a.get_contact("c1").await.expect("read back");
        assert_eq!(got.map(|r| r.contact.id).as_deref(), Some("c1"));
        assert!(b.get_contact("c1").await.expect("read").is_none());
    }

    #[test]
    fn bad_urls_are_rejected_without_echoing_them() {
        for url in [
            "mysql://root:secret@db/sb",
            "sqlite://",
            "sqlite://x.db?synchronous=off",
            "sqlite://x.db?mode=ro",
        ] {
            let err = parse_url(url).expect_err(url).to_string();
            assert!(!err.contains("secret"), "{err}");
            assert!(err.starts_with("storage URL: "), "{err}");
        }
    }
}
