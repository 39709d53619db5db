//! The repository: every [`Store`] method as SQL.
//!
//! **This file is compiled twice**, as `sqlite::repo` and `postgres::repo`. Each parent
//! module defines `Db` (its `sqlx::Database`) and `This` (its store type, with
//! `writer()`, `reader()`, `close_pools()`, `BACKEND` and `BEGIN_READ`, the statement
//! that starts a multi-statement read from one snapshot); this code implements
//! [`Store`] for `This` against `Db`. Both backends thus run the very same statements,
//! and the compiler checks each against its own driver's types, with none of the
//! trait bounds a generic implementation over `sqlx::Database` would need.
//!
//! The SQL stays within what both databases accept: `$n` parameters (SQLite reads
//! them by number), `ON CONFLICT (key) DO NOTHING`, `RETURNING`, integer times.
//!
//! **Architecture Invariant:** no statement here may be specific to one backend. A
//! difference belongs in the migrations (types) or in the parent module.

use std::time::Duration;

use jiff::Timestamp;
use sqlx::QueryBuilder;

use super::{Db, This};
use crate::convert::{check_key, check_skills, duration_millis, millis, opt_duration_millis};
use crate::error::{StoreError, StoreResult};
use crate::model::{
    Agent, ApplyReport, CallRecord, ConfigObjects, Contact, ContactEnd, ContactFilter,
    ContactStatus, END_REASON_INTERRUPTED, Flow, MediaPlacement, NewContact, OfferId, OfferResult,
    Origin, Queue, Recording, Route, Stored, Upserted,
};
use crate::rows::{
    AgentRow, ContactRow, FlowRow, MembershipRow, OfferRow, PathRow, QueueRow, RecordingRow,
    RouteRow, SkillRow, agent_columns, contact_columns, flow_columns, group_memberships,
    group_skills, queue_columns, recording_columns, route_columns, secret_columns,
};
use crate::store::{Backend, Store, StoreFuture};

/// A connection of this backend (what a transaction dereferences to).
type Conn = <Db as sqlx::Database>::Connection;

/// Whether a write may replace an existing object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Fail with `AlreadyExists` if the key is taken.
    Insert,
    /// Replace the object if the key is taken.
    Upsert,
}

/// Turns "the insert did nothing" into the mode's outcome: `Created` if a row was
/// inserted, `AlreadyExists` in insert mode, or `None` (go on and update) in upsert mode.
fn insert_outcome(
    inserted: u64,
    mode: Mode,
    kind: &'static str,
    id: &str,
) -> StoreResult<Option<Upserted>> {
    match (inserted, mode) {
        (0, Mode::Insert) => Err(StoreError::AlreadyExists {
            kind,
            id: id.to_owned(),
        }),
        (0, Mode::Upsert) => Ok(None),
        _ => Ok(Some(Upserted::Created)),
    }
}

/// `NotFound` unless an update touched a row.
fn touched(rows: u64, kind: &'static str, id: &str) -> StoreResult<()> {
    if rows == 0 {
        return Err(StoreError::NotFound {
            kind,
            id: id.to_owned(),
        });
    }
    Ok(())
}

// ----- agents -----

async fn write_agent(
    conn: &mut Conn,
    agent: &Agent,
    origin: Origin,
    now: Timestamp,
    mode: Mode,
) -> StoreResult<Upserted> {
    check_key("agent.id", &agent.id)?;
    check_key("agent.sip_user", &agent.sip_user)?;
    check_skills("agent.skills", &agent.skills)?;
    for queue in &agent.queues {
        check_key("agent.queues", queue)?;
    }
    let wrap_up = opt_duration_millis("agent.wrap_up", agent.wrap_up)?;
    let (kind, password, realm, md5, sha256) = secret_columns(agent.secret.as_ref());
    let sip_user_taken = |err: sqlx::Error| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(format!(
            "SIP user {:?} belongs to another agent",
            agent.sip_user
        )),
        _ => StoreError::db(err),
    };

    let inserted = sqlx::query(
        "INSERT INTO agents (id, name, sip_user, secret_kind, password, ha1_realm, ha1_md5, \
         ha1_sha256, wrap_up_ms, origin, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&agent.id)
    .bind(&agent.name)
    .bind(&agent.sip_user)
    .bind(kind)
    .bind(password)
    .bind(realm)
    .bind(md5)
    .bind(sha256)
    .bind(wrap_up)
    .bind(origin.as_str())
    .bind(millis(now))
    .execute(&mut *conn)
    .await
    .map_err(sip_user_taken)?
    .rows_affected();
    let outcome = match insert_outcome(inserted, mode, "agent", &agent.id)? {
        Some(created) => created,
        None => {
            sqlx::query(
                "UPDATE agents SET name = $2, sip_user = $3, secret_kind = $4, password = $5, \
                 ha1_realm = $6, ha1_md5 = $7, ha1_sha256 = $8, wrap_up_ms = $9, origin = $10, \
                 updated_at = $11 WHERE id = $1",
            )
            .bind(&agent.id)
            .bind(&agent.name)
            .bind(&agent.sip_user)
            .bind(kind)
            .bind(password)
            .bind(realm)
            .bind(md5)
            .bind(sha256)
            .bind(wrap_up)
            .bind(origin.as_str())
            .bind(millis(now))
            .execute(&mut *conn)
            .await
            .map_err(sip_user_taken)?;
            sqlx::query("DELETE FROM agent_skills WHERE agent_id = $1")
                .bind(&agent.id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM agent_queues WHERE agent_id = $1")
                .bind(&agent.id)
                .execute(&mut *conn)
                .await?;
            Upserted::Updated
        }
    };
    for (skill, level) in &agent.skills {
        sqlx::query("INSERT INTO agent_skills (agent_id, skill, level) VALUES ($1, $2, $3)")
            .bind(&agent.id)
            .bind(skill)
            .bind(i64::from(*level))
            .execute(&mut *conn)
            .await?;
    }
    for queue in &agent.queues {
        sqlx::query("INSERT INTO agent_queues (agent_id, queue_id) VALUES ($1, $2)")
            .bind(&agent.id)
            .bind(queue)
            .execute(&mut *conn)
            .await?;
    }
    Ok(outcome)
}

async fn read_agent(conn: &mut Conn, row: Option<AgentRow>) -> StoreResult<Option<Stored<Agent>>> {
    let Some(row) = row else {
        return Ok(None);
    };
    let skills: Vec<SkillRow> = sqlx::query_as(
        "SELECT agent_id AS owner, skill, level FROM agent_skills WHERE agent_id = $1",
    )
    .bind(&row.id)
    .fetch_all(&mut *conn)
    .await?;
    let queues: Vec<MembershipRow> =
        sqlx::query_as("SELECT agent_id, queue_id FROM agent_queues WHERE agent_id = $1")
            .bind(&row.id)
            .fetch_all(&mut *conn)
            .await?;
    let skills = group_skills(skills)?.remove(&row.id).unwrap_or_default();
    let queues = group_memberships(queues)
        .remove(&row.id)
        .unwrap_or_default();
    row.into_model(skills, queues).map(Some)
}

// ----- queues -----

async fn write_queue(
    conn: &mut Conn,
    queue: &Queue,
    origin: Origin,
    now: Timestamp,
    mode: Mode,
) -> StoreResult<Upserted> {
    check_key("queue.id", &queue.id)?;
    check_skills("queue.skills", &queue.skills)?;
    let ring_timeout = duration_millis("queue.ring_timeout", queue.ring_timeout)?;
    let wrap_up = duration_millis("queue.wrap_up", queue.wrap_up)?;
    let max_wait = opt_duration_millis("queue.max_wait", queue.max_wait)?;
    let service_level = duration_millis("queue.service_level", queue.service_level)?;
    let short_abandon = duration_millis("queue.short_abandon", queue.short_abandon)?;

    let inserted = sqlx::query(
        "INSERT INTO queues (id, name, strategy, ring_timeout_ms, wrap_up_ms, max_wait_ms, \
         service_level_ms, short_abandon_ms, priority, record, origin, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&queue.id)
    .bind(&queue.name)
    .bind(queue.strategy.as_str())
    .bind(ring_timeout)
    .bind(wrap_up)
    .bind(max_wait)
    .bind(service_level)
    .bind(short_abandon)
    .bind(i64::from(queue.priority))
    .bind(queue.record)
    .bind(origin.as_str())
    .bind(millis(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let outcome = match insert_outcome(inserted, mode, "queue", &queue.id)? {
        Some(created) => created,
        None => {
            sqlx::query(
                "UPDATE queues SET name = $2, strategy = $3, ring_timeout_ms = $4, \
                 wrap_up_ms = $5, max_wait_ms = $6, service_level_ms = $7, \
                 short_abandon_ms = $8, priority = $9, record = $10, origin = $11, \
                 updated_at = $12 WHERE id = $1",
            )
            .bind(&queue.id)
            .bind(&queue.name)
            .bind(queue.strategy.as_str())
            .bind(ring_timeout)
            .bind(wrap_up)
            .bind(max_wait)
            .bind(service_level)
            .bind(short_abandon)
            .bind(i64::from(queue.priority))
            .bind(queue.record)
            .bind(origin.as_str())
            .bind(millis(now))
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM queue_skills WHERE queue_id = $1")
                .bind(&queue.id)
                .execute(&mut *conn)
                .await?;
            Upserted::Updated
        }
    };
    for (skill, level) in &queue.skills {
        sqlx::query("INSERT INTO queue_skills (queue_id, skill, level) VALUES ($1, $2, $3)")
            .bind(&queue.id)
            .bind(skill)
            .bind(i64::from(*level))
            .execute(&mut *conn)
            .await?;
    }
    Ok(outcome)
}

// ----- routes and flows -----

async fn write_route(
    conn: &mut Conn,
    route: &Route,
    origin: Origin,
    now: Timestamp,
    mode: Mode,
) -> StoreResult<Upserted> {
    check_key("route.number", &route.number)?;
    check_key("route.flow", &route.flow)?;
    let inserted = sqlx::query(
        "INSERT INTO routes (number, flow, priority, origin, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (number) DO NOTHING",
    )
    .bind(&route.number)
    .bind(&route.flow)
    .bind(route.priority)
    .bind(origin.as_str())
    .bind(millis(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if let Some(created) = insert_outcome(inserted, mode, "route", &route.number)? {
        return Ok(created);
    }
    sqlx::query(
        "UPDATE routes SET flow = $2, priority = $3, origin = $4, updated_at = $5 \
         WHERE number = $1",
    )
    .bind(&route.number)
    .bind(&route.flow)
    .bind(route.priority)
    .bind(origin.as_str())
    .bind(millis(now))
    .execute(&mut *conn)
    .await?;
    Ok(Upserted::Updated)
}

async fn write_flow(
    conn: &mut Conn,
    flow: &Flow,
    origin: Origin,
    now: Timestamp,
    mode: Mode,
) -> StoreResult<Upserted> {
    check_key("flow.name", &flow.name)?;
    let inserted = sqlx::query(
        "INSERT INTO flows (name, source, origin, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(&flow.name)
    .bind(&flow.source)
    .bind(origin.as_str())
    .bind(millis(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if let Some(created) = insert_outcome(inserted, mode, "flow", &flow.name)? {
        return Ok(created);
    }
    sqlx::query("UPDATE flows SET source = $2, origin = $3, updated_at = $4 WHERE name = $1")
        .bind(&flow.name)
        .bind(&flow.source)
        .bind(origin.as_str())
        .bind(millis(now))
        .execute(&mut *conn)
        .await?;
    Ok(Upserted::Updated)
}

// ----- call records -----

/// Appends the filter's `WHERE` clause (no `ORDER BY`, `LIMIT`).
fn push_contact_filter(query: &mut QueryBuilder<Db>, filter: &ContactFilter) {
    query.push(" WHERE 1 = 1");
    if let Some(from) = filter.arrived_from {
        query.push(" AND arrived_at >= ").push_bind(millis(from));
    }
    if let Some(until) = filter.arrived_until {
        query.push(" AND arrived_at < ").push_bind(millis(until));
    }
    if let Some(queue) = &filter.queue {
        query.push(" AND queue_id = ").push_bind(queue.clone());
    }
    if let Some(agent) = &filter.agent {
        query.push(" AND agent_id = ").push_bind(agent.clone());
    }
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(abandoned) = filter.abandoned {
        query.push(" AND abandoned = ").push_bind(abandoned);
    }
}

/// Converts a page bound to the database's integer type.
fn page_bound(field: &'static str, value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Invalid {
        field,
        reason: format!("{value} is too large"),
    })
}

impl Store for This {
    fn backend(&self) -> Backend {
        Self::BACKEND
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.close_pools().await;
            Ok(())
        })
    }

    // ----- agents -----

    fn insert_agent<'a>(
        &'a self,
        agent: &'a Agent,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.writer().begin().await?;
            write_agent(&mut tx, agent, origin, now, Mode::Insert).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn upsert_agent<'a>(
        &'a self,
        agent: &'a Agent,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, Upserted> {
        Box::pin(async move {
            let mut tx = self.writer().begin().await?;
            let outcome = write_agent(&mut tx, agent, origin, now, Mode::Upsert).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    fn get_agent<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Stored<Agent>>> {
        Box::pin(async move {
            let mut tx = self.reader().begin_with(Self::BEGIN_READ).await?;
            let row: Option<AgentRow> = sqlx::query_as(concat!(
                "SELECT ",
                agent_columns!(),
                " FROM agents WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let agent = read_agent(&mut tx, row).await?;
            tx.commit().await?;
            Ok(agent)
        })
    }

    fn get_agent_by_sip_user<'a>(
        &'a self,
        sip_user: &'a str,
    ) -> StoreFuture<'a, Option<Stored<Agent>>> {
        Box::pin(async move {
            let mut tx = self.reader().begin_with(Self::BEGIN_READ).await?;
            let row: Option<AgentRow> = sqlx::query_as(concat!(
                "SELECT ",
                agent_columns!(),
                " FROM agents WHERE sip_user = $1"
            ))
            .bind(sip_user)
            .fetch_optional(&mut *tx)
            .await?;
            let agent = read_agent(&mut tx, row).await?;
            tx.commit().await?;
            Ok(agent)
        })
    }

    fn list_agents(&self) -> StoreFuture<'_, Vec<Stored<Agent>>> {
        Box::pin(async move {
            let mut tx = self.reader().begin_with(Self::BEGIN_READ).await?;
            let rows: Vec<AgentRow> = sqlx::query_as(concat!(
                "SELECT ",
                agent_columns!(),
                " FROM agents ORDER BY id"
            ))
            .fetch_all(&mut *tx)
            .await?;
            let skills: Vec<SkillRow> =
                sqlx::query_as("SELECT agent_id AS owner, skill, level FROM agent_skills")
                    .fetch_all(&mut *tx)
                    .await?;
            let queues: Vec<MembershipRow> =
                sqlx::query_as("SELECT agent_id, queue_id FROM agent_queues")
                    .fetch_all(&mut *tx)
                    .await?;
            tx.commit().await?;
            let mut skills = group_skills(skills)?;
            let mut queues = group_memberships(queues);
            rows.into_iter()
                .map(|row| {
                    let s = skills.remove(&row.id).unwrap_or_default();
                    let q = queues.remove(&row.id).unwrap_or_default();
                    row.into_model(s, q)
                })
                .collect()
        })
    }

    fn delete_agent<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let deleted = sqlx::query("DELETE FROM agents WHERE id = $1")
                .bind(id)
                .execute(self.writer())
                .await?
                .rows_affected();
            Ok(deleted > 0)
        })
    }

    // ----- queues -----

    fn insert_queue<'a>(
        &'a self,
        queue: &'a Queue,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.writer().begin().await?;
            write_queue(&mut tx, queue, origin, now, Mode::Insert).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn upsert_queue<'a>(
        &'a self,
        queue: &'a Queue,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, Upserted> {
        Box::pin(async move {
            let mut tx = self.writer().begin().await?;
            let outcome = write_queue(&mut tx, queue, origin, now, Mode::Upsert).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    fn get_queue<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Stored<Queue>>> {
        Box::pin(async move {
            let mut tx = self.reader().begin_with(Self::BEGIN_READ).await?;
            let row: Option<QueueRow> = sqlx::query_as(concat!(
                "SELECT ",
                queue_columns!(),
                " FROM queues WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let skills: Vec<SkillRow> = sqlx::query_as(
                "SELECT queue_id AS owner, skill, level FROM queue_skills WHERE queue_id = $1",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            let skills = group_skills(skills)?.remove(id).unwrap_or_default();
            row.into_model(skills).map(Some)
        })
    }

    fn list_queues(&self) -> StoreFuture<'_, Vec<Stored<Queue>>> {
        Box::pin(async move {
            let mut tx = self.reader().begin_with(Self::BEGIN_READ).await?;
            let rows: Vec<QueueRow> = sqlx::query_as(concat!(
                "SELECT ",
                queue_columns!(),
                " FROM queues ORDER BY id"
            ))
            .fetch_all(&mut *tx)
            .await?;
            let skills: Vec<SkillRow> =
                sqlx::query_as("SELECT queue_id AS owner, skill, level FROM queue_skills")
                    .fetch_all(&mut *tx)
                    .await?;
            tx.commit().await?;
            let mut skills = group_skills(skills)?;
            rows.into_iter()
                .map(|row| {
                    let s = skills.remove(&row.id).unwrap_or_default();
                    row.into_model(s)
                })
                .collect()
        })
    }

    fn delete_queue<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let deleted = sqlx::query("DELETE FROM queues WHERE id = $1")
                .bind(id)
                .execute(self.writer())
                .await?
                .rows_affected();
            Ok(deleted > 0)
        })
    }

    // ----- routes -----

    fn insert_route<'a>(
        &'a self,
        route: &'a Route,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.writer().begin().await?;
            write_route(&mut tx, route, origin, now, Mode::Insert).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn upsert_route<'a>(
        &'a self,
        route: &'a Route,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, Upserted> {
        Box::pin(async move {
            let mut tx = self.writer().begin().await?;
            let outcome = write_route(&mut tx, route, origin, now, Mode::Upsert).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    fn get_route<'a>(&'a self, number: &'a str) -> StoreFuture<'a, Option<Stored<Route>>> {
        Box::pin(async move {
            let row: Option<RouteRow> = sqlx::query_as(concat!(
                "SELECT ",
                route_columns!(),
                " FROM routes WHERE number = $1"
            ))
            .bind(number)
            .fetch_optional(self.reader())
            .await?;
            row.map(RouteRow::into_model).transpose()
        })
    }

    fn list_routes(&self) -> StoreFuture<'_, Vec<Stored<Route>>> {
        Box::pin(async move {
            let rows: Vec<RouteRow> = sqlx::query_as(concat!(
                "SELECT ",
                route_columns!(),
                " FROM routes ORDER BY number"
            ))
            .fetch_all(self.reader())
            .await?;
            rows.into_iter().map(RouteRow::into_model).collect()
        })
    }

    fn delete_route<'a>(&'a self, number: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let deleted = sqlx::query("DELETE FROM routes WHERE number = $1")
                .bind(number)
                .execute(self.writer())
                .await?
                .rows_affected();
            Ok(deleted > 0)
        })
    }

    // ----- flows -----

    fn insert_flow<'a>(
        &'a self,
        flow: &'a Flow,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.writer().begin().await?;
            write_flow(&mut tx, flow, origin, now, Mode::Insert).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn upsert_flow<'a>(
        &'a self,
        flow: &'a Flow,
        origin: Origin,
        now: Timestamp,
    ) -> StoreFuture<'a, Upserted> {
        Box::pin(async move {
            let mut tx = self.writer().begin().await?;
            let outcome = write_flow(&mut tx, flow, origin, now, Mode::Upsert).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    fn get_flow<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Stored<Flow>>> {
        Box::pin(async move {
            let row: Option<FlowRow> = sqlx::query_as(concat!(
                "SELECT ",
                flow_columns!(),
                " FROM flows WHERE name = $1"
            ))
            .bind(name)
            .fetch_optional(self.reader())
            .await?;
            row.map(FlowRow::into_model).transpose()
        })
    }

    fn list_flows(&self) -> StoreFuture<'_, Vec<Stored<Flow>>> {
        Box::pin(async move {
            let rows: Vec<FlowRow> = sqlx::query_as(concat!(
                "SELECT ",
                flow_columns!(),
                " FROM flows ORDER BY name"
            ))
            .fetch_all(self.reader())
            .await?;
            rows.into_iter().map(FlowRow::into_model).collect()
        })
    }

    fn delete_flow<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let deleted = sqlx::query("DELETE FROM flows WHERE name = $1")
                .bind(name)
                .execute(self.writer())
                .await?
                .rows_affected();
            Ok(deleted > 0)
        })
    }

    // ----- configuration file -----

    fn apply_config<'a>(
        &'a self,
        objects: &'a ConfigObjects,
        now: Timestamp,
    ) -> StoreFuture<'a, ApplyReport> {
        Box::pin(async move {
            let mut report = ApplyReport::default();
            let mut count = |outcome: Upserted| match outcome {
                Upserted::Created => report.created += 1,
                Upserted::Updated => report.updated += 1,
            };
            let mut tx = self.writer().begin().await?;
            for queue in &objects.queues {
                count(write_queue(&mut tx, queue, Origin::Config, now, Mode::Upsert).await?);
            }
            for agent in &objects.agents {
                count(write_agent(&mut tx, agent, Origin::Config, now, Mode::Upsert).await?);
            }
            for flow in &objects.flows {
                count(write_flow(&mut tx, flow, Origin::Config, now, Mode::Upsert).await?);
            }
            for route in &objects.routes {
                count(write_route(&mut tx, route, Origin::Config, now, Mode::Upsert).await?);
            }
            tx.commit().await?;
            Ok(report)
        })
    }

    // ----- call records -----

    fn create_contact<'a>(&'a self, contact: &'a NewContact) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            check_key("contact.id", &contact.id)?;
            let inserted = sqlx::query(
                "INSERT INTO contacts (id, arrived_at, caller, dialed, flow, status) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&contact.id)
            .bind(millis(contact.arrived_at))
            .bind(contact.caller.as_deref())
            .bind(contact.dialed.as_deref())
            .bind(contact.flow.as_deref())
            .bind(ContactStatus::InProgress.as_str())
            .execute(self.writer())
            .await?
            .rows_affected();
            insert_outcome(inserted, Mode::Insert, "contact", &contact.id).map(drop)
        })
    }

    fn add_path_step<'a>(
        &'a self,
        contact_id: &'a str,
        state: &'a str,
        at: Timestamp,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO contact_path (contact_id, state, entered_at) VALUES ($1, $2, $3)",
            )
            .bind(contact_id)
            .bind(state)
            .bind(millis(at))
            .execute(self.writer())
            .await
            .map_err(|e| StoreError::db_parent(e, "contact", contact_id))?;
            Ok(())
        })
    }

    fn set_queue<'a>(
        &'a self,
        contact_id: &'a str,
        queue: &'a str,
        at: Timestamp,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let rows =
                sqlx::query("UPDATE contacts SET queue_id = $2, queued_at = $3 WHERE id = $1")
                    .bind(contact_id)
                    .bind(queue)
                    .bind(millis(at))
                    .execute(self.writer())
                    .await?
                    .rows_affected();
            touched(rows, "contact", contact_id)
        })
    }

    fn add_offer<'a>(
        &'a self,
        contact_id: &'a str,
        agent: &'a str,
        queue: Option<&'a str>,
        at: Timestamp,
    ) -> StoreFuture<'a, OfferId> {
        Box::pin(async move {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO offers (contact_id, agent_id, queue_id, offered_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(contact_id)
            .bind(agent)
            .bind(queue)
            .bind(millis(at))
            .fetch_one(self.writer())
            .await
            .map_err(|e| StoreError::db_parent(e, "contact", contact_id))?;
            Ok(OfferId(id))
        })
    }

    fn set_offer_result(
        &self,
        offer: OfferId,
        result: OfferResult,
        at: Timestamp,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let rows = sqlx::query("UPDATE offers SET result = $2, result_at = $3 WHERE id = $1")
                .bind(offer.0)
                .bind(result.as_str())
                .bind(millis(at))
                .execute(self.writer())
                .await?
                .rows_affected();
            touched(rows, "offer", &offer.to_string())
        })
    }

    fn set_answered<'a>(
        &'a self,
        contact_id: &'a str,
        agent: &'a str,
        at: Timestamp,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let rows =
                sqlx::query("UPDATE contacts SET agent_id = $2, answered_at = $3 WHERE id = $1")
                    .bind(contact_id)
                    .bind(agent)
                    .bind(millis(at))
                    .execute(self.writer())
                    .await?
                    .rows_affected();
            touched(rows, "contact", contact_id)
        })
    }

    fn set_media<'a>(
        &'a self,
        contact_id: &'a str,
        media: &'a MediaPlacement,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let rows = sqlx::query(
                "UPDATE contacts SET media_handler = $2, codec = $3, placement = $4 WHERE id = $1",
            )
            .bind(contact_id)
            .bind(&media.handler)
            .bind(media.codec.as_deref())
            .bind(media.explanation.as_deref())
            .execute(self.writer())
            .await?
            .rows_affected();
            touched(rows, "contact", contact_id)
        })
    }

    fn end_contact<'a>(&'a self, contact_id: &'a str, end: &'a ContactEnd) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let rows = sqlx::query(
                "UPDATE contacts SET status = $2, ended_at = $3, hangup_by = $4, \
                 end_reason = $5, abandoned = $6 WHERE id = $1 AND status = $7",
            )
            .bind(contact_id)
            .bind(ContactStatus::Ended.as_str())
            .bind(millis(end.at))
            .bind(end.hangup_by.map(|p| p.as_str()))
            .bind(&end.reason)
            .bind(end.abandoned)
            .bind(ContactStatus::InProgress.as_str())
            .execute(self.writer())
            .await?
            .rows_affected();
            if rows > 0 {
                return Ok(());
            }
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM contacts WHERE id = $1")
                    .bind(contact_id)
                    .fetch_optional(self.writer())
                    .await?;
            match exists {
                Some(_) => Err(StoreError::Conflict(format!(
                    "contact {contact_id:?} has already ended"
                ))),
                None => touched(0, "contact", contact_id),
            }
        })
    }

    fn set_disposition<'a>(
        &'a self,
        contact_id: &'a str,
        disposition: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let rows = sqlx::query("UPDATE contacts SET disposition = $2 WHERE id = $1")
                .bind(contact_id)
                .bind(disposition)
                .execute(self.writer())
                .await?
                .rows_affected();
            touched(rows, "contact", contact_id)
        })
    }

    fn add_recording<'a>(&'a self, recording: &'a Recording) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            check_key("recording.id", &recording.id)?;
            check_key("recording.path", &recording.path)?;
            if recording.channels == 0 || recording.sample_rate == 0 {
                return Err(StoreError::Invalid {
                    field: "recording",
                    reason: "channels and sample rate must be positive".to_owned(),
                });
            }
            let duration = opt_duration_millis("recording.duration", recording.duration)?;
            let inserted = sqlx::query(
                "INSERT INTO recordings (id, contact_id, kind, path, started_at, duration_ms, \
                 channels, sample_rate) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&recording.id)
            .bind(&recording.contact_id)
            .bind(recording.kind.as_str())
            .bind(&recording.path)
            .bind(millis(recording.started_at))
            .bind(duration)
            .bind(i64::from(recording.channels))
            .bind(i64::from(recording.sample_rate))
            .execute(self.writer())
            .await
            .map_err(|e| StoreError::db_parent(e, "contact", &recording.contact_id))?
            .rows_affected();
            insert_outcome(inserted, Mode::Insert, "recording", &recording.id).map(drop)
        })
    }

    fn finish_recording<'a>(&'a self, id: &'a str, duration: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let duration = duration_millis("recording.duration", duration)?;
            let rows = sqlx::query("UPDATE recordings SET duration_ms = $2 WHERE id = $1")
                .bind(id)
                .bind(duration)
                .execute(self.writer())
                .await?
                .rows_affected();
            touched(rows, "recording", id)
        })
    }

    fn get_recording<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Recording>> {
        Box::pin(async move {
            let row: Option<RecordingRow> = sqlx::query_as(concat!(
                "SELECT ",
                recording_columns!(),
                " FROM recordings WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
            row.map(RecordingRow::into_model).transpose()
        })
    }

    fn get_contact<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<CallRecord>> {
        Box::pin(async move {
            let mut tx = self.reader().begin_with(Self::BEGIN_READ).await?;
            let row: Option<ContactRow> = sqlx::query_as(concat!(
                "SELECT ",
                contact_columns!(),
                " FROM contacts WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let path: Vec<PathRow> = sqlx::query_as(
                "SELECT state, entered_at FROM contact_path WHERE contact_id = $1 \
                 ORDER BY entered_at, id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            let offers: Vec<OfferRow> = sqlx::query_as(
                "SELECT id, agent_id, queue_id, offered_at, result, result_at FROM offers \
                 WHERE contact_id = $1 ORDER BY offered_at, id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            let recordings: Vec<RecordingRow> = sqlx::query_as(concat!(
                "SELECT ",
                recording_columns!(),
                " FROM recordings WHERE contact_id = $1 ORDER BY started_at, id"
            ))
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(CallRecord {
                contact: row.into_model()?,
                path: path
                    .into_iter()
                    .map(PathRow::into_model)
                    .collect::<StoreResult<_>>()?,
                offers: offers
                    .into_iter()
                    .map(OfferRow::into_model)
                    .collect::<StoreResult<_>>()?,
                recordings: recordings
                    .into_iter()
                    .map(RecordingRow::into_model)
                    .collect::<StoreResult<_>>()?,
            }))
        })
    }

    fn list_contacts<'a>(&'a self, filter: &'a ContactFilter) -> StoreFuture<'a, Vec<Contact>> {
        Box::pin(async move {
            let limit = page_bound("filter.limit", u64::from(filter.limit))?;
            let offset = page_bound("filter.offset", filter.offset)?;
            let mut query =
                QueryBuilder::<Db>::new(concat!("SELECT ", contact_columns!(), " FROM contacts"));
            push_contact_filter(&mut query, filter);
            query
                .push(" ORDER BY arrived_at DESC, id DESC LIMIT ")
                .push_bind(limit)
                .push(" OFFSET ")
                .push_bind(offset);
            let rows: Vec<ContactRow> = query.build_query_as().fetch_all(self.reader()).await?;
            rows.into_iter().map(ContactRow::into_model).collect()
        })
    }

    fn count_contacts<'a>(&'a self, filter: &'a ContactFilter) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let mut query = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM contacts");
            push_contact_filter(&mut query, filter);
            let count: i64 = query.build_query_scalar().fetch_one(self.reader()).await?;
            u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("count {count}")))
        })
    }

    fn close_in_progress(&self, now: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let closed = sqlx::query(
                "UPDATE contacts SET status = $1, ended_at = $2, end_reason = $3 \
                 WHERE status = $4",
            )
            .bind(ContactStatus::Ended.as_str())
            .bind(millis(now))
            .bind(END_REASON_INTERRUPTED)
            .bind(ContactStatus::InProgress.as_str())
            .execute(self.writer())
            .await?
            .rows_affected();
            if closed > 0 {
                tracing::info!(
                    closed,
                    "closed call records left in progress by an earlier run"
                );
            }
            Ok(closed)
        })
    }
}
