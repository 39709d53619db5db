//! The [`Store`] trait: everything Switchboard persists, behind one object-safe API.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use jiff::Timestamp;

use crate::error::StoreError;
use crate::model::{
    Agent, ApplyReport, CallRecord, ConfigObjects, Contact, ContactEnd, ContactFilter, Flow,
    MediaPlacement, NewContact, OfferId, OfferResult, Origin, Queue, Recording, Route, Stored,
    Upserted,
};

/// The future every [`Store`] method returns: boxed so that the trait stays object
/// safe (`Arc<dyn Store>`), `Send` so that it can run on any tokio worker.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A local SQLite file (the all-in-one default).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Switchboard's persistence: configuration objects and call records.
///
/// One implementation per database ([`SqliteStore`](crate::SqliteStore),
/// [`PgStore`](crate::PgStore)); [`open`](crate::open) picks one from a URL.
///
/// **Contract.** When a write method's future resolves `Ok`, the write is committed:
/// it survives the process being killed (`kill -9`) at any later moment. Each method
/// is one transaction; a failed method changes nothing. Times are wall-clock UTC
/// passed in by the caller (the store never reads a clock), kept to the millisecond.
///
/// **Call records are written incrementally**: [`create_contact`](Store::create_contact)
/// at arrival, then one small write per event, so a crash loses at most the event in
/// flight. At start-up, [`close_in_progress`](Store::close_in_progress) closes the
/// records a killed process left open.
pub trait Store: Send + Sync + 'static {
    /// The database behind this store.
    fn backend(&self) -> Backend;

    /// Closes every connection, waiting for them to finish. Dropping the store
    /// without calling this is safe (committed writes are never lost); closing lets
    /// SQLite checkpoint its write-ahead log.
    fn close(&self) -> StoreFuture<'_, ()>;

    // ----- agents -----

    /// Creates an agent; [`AlreadyExists`](StoreError::AlreadyExists) if the id is taken,
    /// [`Conflict`](StoreError::Conflict) if another agent has the SIP user.
    fn insert_agent<'a>(
        &'a self,
        agent: &'a Agent,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, ()>;

    /// Creates or replaces an agent (skills and queues included).
    fn upsert_agent<'a>(
        &'a self,
        agent: &'a Agent,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, Upserted>;

    /// The agent with this id.
    fn get_agent<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Stored<Agent>>>;

    /// Finds an agent by SIP user (the registrar's lookup).
    fn get_agent_by_sip_user<'a>(
        &'a self,
        sip_user: &'a str,
    ) -> StoreFuture<'a, Option<Stored<Agent>>>;

    /// Every agent, by id.
    fn list_agents(&self) -> StoreFuture<'_, Vec<Stored<Agent>>>;

    /// Deletes an agent; `false` if there was none. Call records keep its id.
    fn delete_agent<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;

    // ----- queues -----

    /// Creates a queue; [`AlreadyExists`](StoreError::AlreadyExists) if the id is taken.
    fn insert_queue<'a>(
        &'a self,
        queue: &'a Queue,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, ()>;

    /// Creates or replaces a queue (required skills included).
    fn upsert_queue<'a>(
        &'a self,
        queue: &'a Queue,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, Upserted>;

    /// The queue with this id.
    fn get_queue<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Stored<Queue>>>;

    /// Every queue, by id.
    fn list_queues(&self) -> StoreFuture<'_, Vec<Stored<Queue>>>;

    /// Deletes a queue; `false` if there was none. Agents listing it keep the
    /// reference (validated by the configuration layer).
    fn delete_queue<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;

    // ----- routes -----

    /// Creates a route; [`AlreadyExists`](StoreError::AlreadyExists) if the number is taken.
    fn insert_route<'a>(
        &'a self,
        route: &'a Route,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, ()>;

    /// Creates or replaces a route.
    fn upsert_route<'a>(
        &'a self,
        route: &'a Route,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, Upserted>;

    /// The route for this number.
    fn get_route<'a>(&'a self, number: &'a str) -> StoreFuture<'a, Option<Stored<Route>>>;

    /// Every route, by number.
    fn list_routes(&self) -> StoreFuture<'_, Vec<Stored<Route>>>;

    /// Deletes a route; `false` if there was none.
    fn delete_route<'a>(&'a self, number: &'a str) -> StoreFuture<'a, bool>;

    // ----- flows -----

    /// Creates a flow; [`AlreadyExists`](StoreError::AlreadyExists) if the name is taken.
    fn insert_flow<'a>(
        &'a self,
        flow: &'a Flow,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, ()>;

    /// Creates or replaces a flow; `now` becomes its `updated_at`.
    fn upsert_flow<'a>(
        &'a self,
        flow: &'a Flow,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, Upserted>;

    /// The flow with this name.
    fn get_flow<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Stored<Flow>>>;

    /// Every flow, by name.
    fn list_flows(&self) -> StoreFuture<'_, Vec<Stored<Flow>>>;

    /// Deletes a flow; `false` if there was none.
    fn delete_flow<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool>;

    // ----- configuration file -----

    /// Applies what the configuration file declares, in one transaction: every object
    /// is upserted with [`Origin::Config`]; objects not in the file (created through
    /// the API, or dropped from the file) are left as they are. If any object is
    /// invalid nothing is applied.
    fn apply_config<'a>(
        &'a self,
        objects: &'a ConfigObjects,
        now: Timestamp,
    ) -> StoreFuture<'a, ApplyReport>;

    // ----- call records -----

    /// Starts a call record, status in progress. [`AlreadyExists`](StoreError::AlreadyExists)
    /// if the id is taken.
    fn create_contact<'a>(&'a self, contact: &'a NewContact) -> StoreFuture<'a, ()>;

    /// Appends a flow state to the contact's path.
    fn add_path_step<'a>(
        &'a self,
        contact_id: &'a str,
        state: &'a str,
        at: Timestamp,
    ) -> StoreFuture<'a, ()>;

    /// Records that the contact entered a queue (replacing an earlier queue).
    fn set_queue<'a>(
        &'a self,
        contact_id: &'a str,
        queue: &'a str,
        at: Timestamp,
    ) -> StoreFuture<'a, ()>;

    /// Records an offer to an agent, result pending.
    fn add_offer<'a>(
        &'a self,
        contact_id: &'a str,
        agent: &'a str,
        queue: Option<&'a str>,
        at: Timestamp,
    ) -> StoreFuture<'a, OfferId>;

    /// Records how an offer ended.
    fn set_offer_result(
        &self,
        offer: OfferId,
        result: OfferResult,
        at: Timestamp,
    ) -> StoreFuture<'_, ()>;

    /// Records that an agent answered the contact.
    fn set_answered<'a>(
        &'a self,
        contact_id: &'a str,
        agent: &'a str,
        at: Timestamp,
    ) -> StoreFuture<'a, ()>;

    /// Records (or replaces, after a re-INVITE) where the contact's media runs and why.
    fn set_media<'a>(
        &'a self,
        contact_id: &'a str,
        media: &'a MediaPlacement,
    ) -> StoreFuture<'a, ()>;

    /// Ends the contact. [`Conflict`](StoreError::Conflict) if it has already ended.
    fn end_contact<'a>(&'a self, contact_id: &'a str, end: &'a ContactEnd) -> StoreFuture<'a, ()>;

    /// Records the agent's disposition (usually after the contact ended, at wrap-up).
    fn set_disposition<'a>(
        &'a self,
        contact_id: &'a str,
        disposition: &'a str,
    ) -> StoreFuture<'a, ()>;

    /// Adds a recording to the index (usually when it starts, with no duration yet).
    fn add_recording<'a>(&'a self, recording: &'a Recording) -> StoreFuture<'a, ()>;

    /// Records a finished recording's length.
    fn finish_recording<'a>(&'a self, id: &'a str, duration: Duration) -> StoreFuture<'a, ()>;

    /// The recording with this id (`GET /api/v1/recordings/{id}`).
    fn get_recording<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Recording>>;

    /// One full call record: the contact with its path, offers and recordings.
    fn get_contact<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<CallRecord>>;

    /// Call records matching the filter, newest first (`GET /api/v1/cdrs`).
    fn list_contacts<'a>(&'a self, filter: &'a ContactFilter) -> StoreFuture<'a, Vec<Contact>>;

    /// How many call records match the filter, ignoring its limit and offset.
    fn count_contacts<'a>(&'a self, filter: &'a ContactFilter) -> StoreFuture<'a, u64>;

    /// Ends every contact still in progress with reason
    /// [`END_REASON_INTERRUPTED`](crate::END_REASON_INTERRUPTED) and end time `now`;
    /// returns how many. Call it once at start-up, before taking calls: any contact in
    /// progress then was left by a process that died.
    fn close_in_progress(&self, now: Timestamp) -> StoreFuture<'_, u64>;
}
