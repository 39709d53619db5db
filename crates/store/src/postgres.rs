//! The PostgreSQL store: a connection pool to a server.
//!
//! Commits are as durable as the server's settings make them (`fsync`,
//! `synchronous_commit`); with PostgreSQL's defaults a write acknowledged here
//! survives both this process and the server being killed.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres};

use crate::error::{StoreError, StoreResult};
use crate::open::OpenOptions;
use crate::store::Backend;

/// The database type the shared repository code is compiled for in this module.
type Db = Postgres;
/// The store type the shared repository code implements [`Store`](crate::Store) for.
type This = PgStore;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A [`Store`](crate::Store) on a PostgreSQL server.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool<Postgres>,
}

impl PgStore {
    /// Connects to the server at `url` (`postgres://user:password@host:port/db?...`)
    /// and brings the schema up to date. Several controllers may connect at once:
    /// migrations take a database lock.
    pub async fn connect(url: &str, options: &OpenOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Url("not a valid PostgreSQL URL".to_owned()))?
            .application_name("switchboard");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(StoreError::Database)?;
        MIGRATOR.run(&pool).await?;
        tracing::debug!("connected to PostgreSQL store");
        Ok(PgStore { pool })
    }

    const BACKEND: Backend = Backend::Postgres;

    /// Starts a read that spans several statements, all from one snapshot.
    const BEGIN_READ: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

    fn writer(&self) -> &Pool<Db> {
        &self.pool
    }

    fn reader(&self) -> &Pool<Db> {
        &self.pool
    }

    async fn close_pools(&self) {
        self.pool.close().await;
    }
}

// The repository code is shared with the SQLite store; see `sqlite.rs` and the
// header of `repo.rs`.
#[allow(clippy::duplicate_mod)]
#[path = "repo.rs"]
mod repo;
