//! The SQLite store: one file, write-ahead log, one writer connection.
//!
//! **Durability.** The database runs in WAL mode. With [`SqliteSync::Normal`] (the
//! default) a commit has reached the operating system when the call returns, so it
//! survives the process being killed at any moment; only a power loss or kernel
//! crash can lose the last commits (never corrupt the file). [`SqliteSync::Full`]
//! also syncs the log to the disk at every commit, which survives power loss and
//! costs one `fsync` per write.
//!
//! **Concurrency.** SQLite allows one writer at a time. All writes go through a pool
//! of exactly one connection, so they queue in the pool instead of failing with
//! `SQLITE_BUSY`; reads use a separate pool of read-only connections, which WAL lets
//! run alongside the writer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

use crate::error::{StoreError, StoreResult};
use crate::open::{OpenOptions, SqliteSync};
use crate::store::Backend;

/// The database type the shared repository code is compiled for in this module.
type Db = Sqlite;
/// The store type the shared repository code implements [`Store`](crate::Store) for.
type This = SqliteStore;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a connection waits for a lock held by another process on the same file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`](crate::Store) on a SQLite file (or in memory).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Pool<Sqlite>,
    reader: Pool<Sqlite>,
    path: Option<PathBuf>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the database file at
    /// `path`, and brings its schema up to date.
    pub async fn open(path: &Path, options: &OpenOptions) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let synchronous = match options.sqlite_sync {
            SqliteSync::Normal => SqliteSynchronous::Normal,
            SqliteSync::Full => SqliteSynchronous::Full,
        };
        let base = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // A local file cannot drop a connection the way a network can, so the pool's
        // health check (one extra round trip to the connection's worker thread per
        // statement) buys nothing here.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(synchronous),
            )
            .await
            .map_err(StoreError::Database)?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(base.read_only(true))
            .await
            .map_err(StoreError::Database)?;
        tracing::debug!(path = %path.display(), "opened SQLite store");
        Ok(SqliteStore {
            writer,
            reader,
            path: Some(path.to_owned()),
        })
    }

    /// Opens a private in-memory database (for tests of code that uses a store). It
    /// lives as long as this store and its clones.
    pub async fn open_in_memory() -> StoreResult<Self> {
        // One connection that never expires: an in-memory database lives and dies
        // with its connection, so the pool must never close it.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                SqliteConnectOptions::new()
                    .in_memory(true)
                    .foreign_keys(true),
            )
            .await
            .map_err(StoreError::Database)?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore {
            writer: pool.clone(),
            reader: pool,
            path: None,
        })
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    const BACKEND: Backend = Backend::Sqlite;

    /// Starts a read that spans several statements. In WAL mode a transaction reads
    /// one snapshot from its first statement on.
    const BEGIN_READ: &'static str = "BEGIN";

    fn writer(&self) -> &Pool<Db> {
        &self.writer
    }

    fn reader(&self) -> &Pool<Db> {
        &self.reader
    }

    async fn close_pools(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

// The repository code is shared with the PostgreSQL store: the same file is compiled
// once per backend against that backend's `Db` and `This`, so both run the same SQL
// with no generic trait bounds to maintain. See the file's header.
#[allow(clippy::duplicate_mod)]
#[path = "repo.rs"]
mod repo;
