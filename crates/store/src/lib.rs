//! Switchboard's persistence: configuration objects and call records, on SQLite or
//! PostgreSQL.
//!
//! # Place in the system
//!
//! The controller is the only user. At start it [`open`]s the store named by the
//! configuration's `[storage] url`, calls [`Store::close_in_progress`] to close the call
//! records a killed process left open, and [`Store::apply_config`] with the agents,
//! queues, routes and flows the configuration file declares. The admin API then reads
//! and changes those objects through the same [`Store`]; objects it creates persist
//! across restarts. While calls run, the controller writes each contact's call record
//! event by event ([`Store::create_contact`] at arrival, then path steps, queue entry,
//! offers, answer, media placement, recordings, end), and the agent API serves
//! `GET /api/v1/cdrs` from [`Store::list_contacts`] and [`Store::get_contact`].
//!
//! The sans-IO cores (ACD, flow engine, bandwidth manager) never see the store: the
//! controller's driver maps their events to these calls.
//!
//! # Backends
//!
//! [`SqliteStore`] (the all-in-one default: one file in WAL mode, one writer
//! connection) and [`PgStore`] (a server, for several controllers or large sites)
//! implement the object-safe [`Store`] trait with the same SQL; each embeds its own
//! migrations (`migrations/sqlite`, `migrations/postgres`), applied on open. Times are
//! stored as integer milliseconds since the Unix epoch (UTC) in both.
//!
//! **Architecture Invariant:** the store never reads a clock. Every time it stores is
//! passed in by the caller, so tests and simulations control it.
//!
//! **Architecture Invariant:** a write whose future resolved `Ok` is committed and
//! survives the process being killed at any later moment.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), store::StoreError> {
//! use store::{ContactEnd, NewContact, Party};
//!
//! let store = store::open("sqlite://data/switchboard.db").await?;
//! let now = jiff::Timestamp::now();
//! store.close_in_progress(now).await?;
//! store
//!     .create_contact(&NewContact {
//!         id: "c-1".into(),
//!         arrived_at: now,
//!         caller: Some("+15550100".into()),
//!         dialed: Some("1000".into()),
//!         flow: Some("support".into()),
//!     })
//!     .await?;
//! store.add_path_step("c-1", "welcome", now).await?;
//! let end = ContactEnd { at: now, hangup_by: Some(Party::Customer), reason: "normal".into(), abandoned: false };
//! store.end_contact("c-1", &end).await?;
//! # Ok(())
//! # }
//! ```

mod convert;
mod error;
mod model;
mod open;
mod postgres;
mod rows;
mod sqlite;
mod store;

pub use crate::error::{StoreError, StoreResult};
pub use crate::model::{
    Agent, ApplyReport, CallRecord, ConfigObjects, Contact, ContactEnd, ContactFilter,
    ContactStatus, DEFAULT_CONTACT_LIMIT, END_REASON_INTERRUPTED, Flow, MediaPlacement, NewContact,
    Offer, OfferId, OfferResult, Origin, PROFICIENCY_MAX, PROFICIENCY_MIN, Party, PathStep, Queue,
    QueueStrategy, Recording, RecordingKind, Route, SipSecret, Stored, UnknownVariant, Upserted,
};
pub use crate::open::{OpenOptions, SqliteSync, open, open_with};
pub use crate::postgres::PgStore;
pub use crate::sqlite::SqliteStore;
pub use crate::store::{Backend, Store, StoreFuture};
