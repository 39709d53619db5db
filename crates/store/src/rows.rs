//! Rows as the database returns them, and their conversion to model values.
//!
//! The `FromRow` derives are generic over the row type, so both backends share these.
//! Integers are `i64` and flags `bool` in both (SQLite `INTEGER`, PostgreSQL `BIGINT`
//! and `BOOLEAN`).

use std::collections::{BTreeMap, BTreeSet};

use crate::convert::{
    duration, narrow, opt_duration, opt_parse, opt_timestamp, parse, proficiency, timestamp,
};
use crate::error::{StoreError, StoreResult};
use crate::model::{
    Agent, Contact, Flow, MediaPlacement, Offer, OfferId, PathStep, Queue, Recording, Route,
    SipSecret, Stored,
};

/// Stored text of [`SipSecret::Password`].
pub(crate) const SECRET_PASSWORD: &str = "password";
/// Stored text of [`SipSecret::Ha1`].
pub(crate) const SECRET_HA1: &str = "ha1";

/// The secret columns of an agent row: kind, password, realm, MD5 HA1, SHA-256 HA1.
pub(crate) type SecretColumns<'a> = (
    Option<&'static str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

/// Splits a secret into its columns.
pub(crate) fn secret_columns(secret: Option<&SipSecret>) -> SecretColumns<'_> {
    match secret {
        None => (None, None, None, None, None),
        Some(SipSecret::Password(p)) => (Some(SECRET_PASSWORD), Some(p), None, None, None),
        Some(SipSecret::Ha1 { realm, md5, sha256 }) => {
            (Some(SECRET_HA1), None, Some(realm), Some(md5), Some(sha256))
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AgentRow {
    pub id: String,
    pub name: String,
    pub sip_user: String,
    pub secret_kind: Option<String>,
    pub password: Option<String>,
    pub ha1_realm: Option<String>,
    pub ha1_md5: Option<String>,
    pub ha1_sha256: Option<String>,
    pub wrap_up_ms: Option<i64>,
    pub origin: String,
    pub updated_at: i64,
}

/// Columns of the row struct above, in a `SELECT` list (a macro so that `concat!`
/// can build `&'static str` statements from it).
macro_rules! agent_columns {
    () => {
        "id, name, sip_user, secret_kind, password, ha1_realm, \
     ha1_md5, ha1_sha256, wrap_up_ms, origin, updated_at"
    };
}
pub(crate) use agent_columns;

impl AgentRow {
    pub(crate) fn into_model(
        self,
        skills: BTreeMap<String, u8>,
        queues: BTreeSet<String>,
    ) -> StoreResult<Stored<Agent>> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("agent {:?}: {what}", self.id));
        let secret = match self.secret_kind.as_deref() {
            None => None,
            Some(SECRET_PASSWORD) => Some(SipSecret::Password(
                self.password
                    .clone()
                    .ok_or_else(|| corrupt("password missing"))?,
            )),
            Some(SECRET_HA1) => Some(SipSecret::Ha1 {
                realm: self
                    .ha1_realm
                    .clone()
                    .ok_or_else(|| corrupt("realm missing"))?,
                md5: self
                    .ha1_md5
                    .clone()
                    .ok_or_else(|| corrupt("MD5 HA1 missing"))?,
                sha256: self
                    .ha1_sha256
                    .clone()
                    .ok_or_else(|| corrupt("SHA-256 HA1 missing"))?,
            }),
            Some(other) => return Err(corrupt(&format!("secret kind {other:?}"))),
        };
        Ok(Stored {
            origin: parse(&self.origin)?,
            updated_at: timestamp(self.updated_at)?,
            value: Agent {
                id: self.id,
                name: self.name,
                sip_user: self.sip_user,
                secret,
                skills,
                queues,
                wrap_up: opt_duration(self.wrap_up_ms)?,
            },
        })
    }
}

/// One skill of an agent (proficiency) or a queue (minimum proficiency).
#[derive(sqlx::FromRow)]
pub(crate) struct SkillRow {
    pub owner: String,
    pub skill: String,
    pub level: i64,
}

/// Groups skill rows by owner.
pub(crate) fn group_skills(
    rows: Vec<SkillRow>,
) -> StoreResult<BTreeMap<String, BTreeMap<String, u8>>> {
    let mut by_owner: BTreeMap<String, BTreeMap<String, u8>> = BTreeMap::new();
    for row in rows {
        by_owner
            .entry(row.owner)
            .or_default()
            .insert(row.skill, proficiency(row.level)?);
    }
    Ok(by_owner)
}

/// One queue an agent serves.
#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    pub agent_id: String,
    pub queue_id: String,
}

/// Groups membership rows by agent.
pub(crate) fn group_memberships(rows: Vec<MembershipRow>) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_agent: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows {
        by_agent
            .entry(row.agent_id)
            .or_default()
            .insert(row.queue_id);
    }
    by_agent
}

#[derive(sqlx::FromRow)]
pub(crate) struct QueueRow {
    pub id: String,
    pub name: String,
    pub strategy: String,
    pub ring_timeout_ms: i64,
    pub wrap_up_ms: i64,
    pub max_wait_ms: Option<i64>,
    pub service_level_ms: i64,
    pub short_abandon_ms: i64,
    pub priority: i64,
    pub record: bool,
    pub origin: String,
    pub updated_at: i64,
}

/// Columns of the row struct above, in a `SELECT` list (a macro so that `concat!`
/// can build `&'static str` statements from it).
macro_rules! queue_columns {
    () => {
        "id, name, strategy, ring_timeout_ms, wrap_up_ms, \
     max_wait_ms, service_level_ms, short_abandon_ms, priority, record, origin, updated_at"
    };
}
pub(crate) use queue_columns;

impl QueueRow {
    pub(crate) fn into_model(self, skills: BTreeMap<String, u8>) -> StoreResult<Stored<Queue>> {
        Ok(Stored {
            origin: parse(&self.origin)?,
            updated_at: timestamp(self.updated_at)?,
            value: Queue {
                strategy: parse(&self.strategy)?,
                ring_timeout: duration(self.ring_timeout_ms)?,
                wrap_up: duration(self.wrap_up_ms)?,
                max_wait: opt_duration(self.max_wait_ms)?,
                service_level: duration(self.service_level_ms)?,
                short_abandon: duration(self.short_abandon_ms)?,
                priority: narrow("queue priority", self.priority)?,
                record: self.record,
                skills,
                id: self.id,
                name: self.name,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RouteRow {
    pub number: String,
    pub flow: String,
    pub priority: bool,
    pub origin: String,
    pub updated_at: i64,
}

/// Columns of the row struct above, in a `SELECT` list (a macro so that `concat!`
/// can build `&'static str` statements from it).
macro_rules! route_columns {
    () => {
        "number, flow, priority, origin, updated_at"
    };
}
pub(crate) use route_columns;

impl RouteRow {
    pub(crate) fn into_model(self) -> StoreResult<Stored<Route>> {
        Ok(Stored {
            origin: parse(&self.origin)?,
            updated_at: timestamp(self.updated_at)?,
            value: Route {
                number: self.number,
                flow: self.flow,
                priority: self.priority,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct FlowRow {
    pub name: String,
    pub source: String,
    pub origin: String,
    pub updated_at: i64,
}

/// Columns of the row struct above, in a `SELECT` list (a macro so that `concat!`
/// can build `&'static str` statements from it).
macro_rules! flow_columns {
    () => {
        "name, source, origin, updated_at"
    };
}
pub(crate) use flow_columns;

impl FlowRow {
    pub(crate) fn into_model(self) -> StoreResult<Stored<Flow>> {
        Ok(Stored {
            origin: parse(&self.origin)?,
            updated_at: timestamp(self.updated_at)?,
            value: Flow {
                name: self.name,
                source: self.source,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ContactRow {
    pub id: String,
    pub arrived_at: i64,
    pub caller: Option<String>,
    pub dialed: Option<String>,
    pub flow: Option<String>,
    pub status: String,
    pub queue_id: Option<String>,
    pub queued_at: Option<i64>,
    pub agent_id: Option<String>,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub hangup_by: Option<String>,
    pub end_reason: Option<String>,
    pub abandoned: bool,
    pub disposition: Option<String>,
    pub media_handler: Option<String>,
    pub codec: Option<String>,
    pub placement: Option<String>,
}

/// Columns of the row struct above, in a `SELECT` list (a macro so that `concat!`
/// can build `&'static str` statements from it).
macro_rules! contact_columns {
    () => {
        "id, arrived_at, caller, dialed, flow, status, \
     queue_id, queued_at, agent_id, answered_at, ended_at, hangup_by, end_reason, abandoned, \
     disposition, media_handler, codec, placement"
    };
}
pub(crate) use contact_columns;

impl ContactRow {
    pub(crate) fn into_model(self) -> StoreResult<Contact> {
        let media = self.media_handler.map(|handler| MediaPlacement {
            handler,
            codec: self.codec,
            explanation: self.placement,
        });
        Ok(Contact {
            arrived_at: timestamp(self.arrived_at)?,
            status: parse(&self.status)?,
            queued_at: opt_timestamp(self.queued_at)?,
            answered_at: opt_timestamp(self.answered_at)?,
            ended_at: opt_timestamp(self.ended_at)?,
            hangup_by: opt_parse(self.hangup_by.as_deref())?,
            id: self.id,
            caller: self.caller,
            dialed: self.dialed,
            flow: self.flow,
            queue: self.queue_id,
            agent: self.agent_id,
            end_reason: self.end_reason,
            abandoned: self.abandoned,
            disposition: self.disposition,
            media,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PathRow {
    pub state: String,
    pub entered_at: i64,
}

impl PathRow {
    pub(crate) fn into_model(self) -> StoreResult<PathStep> {
        Ok(PathStep {
            entered_at: timestamp(self.entered_at)?,
            state: self.state,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OfferRow {
    pub id: i64,
    pub agent_id: String,
    pub queue_id: Option<String>,
    pub offered_at: i64,
    pub result: Option<String>,
    pub result_at: Option<i64>,
}

impl OfferRow {
    pub(crate) fn into_model(self) -> StoreResult<Offer> {
        Ok(Offer {
            id: OfferId(self.id),
            offered_at: timestamp(self.offered_at)?,
            result: opt_parse(self.result.as_deref())?,
            result_at: opt_timestamp(self.result_at)?,
            agent: self.agent_id,
            queue: self.queue_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RecordingRow {
    pub id: String,
    pub contact_id: String,
    pub kind: String,
    pub path: String,
    pub started_at: i64,
    pub duration_ms: Option<i64>,
    pub channels: i64,
    pub sample_rate: i64,
}

/// Columns of the row struct above, in a `SELECT` list (a macro so that `concat!`
/// can build `&'static str` statements from it).
macro_rules! recording_columns {
    () => {
        "id, contact_id, kind, path, started_at, duration_ms, channels, sample_rate"
    };
}
pub(crate) use recording_columns;

impl RecordingRow {
    pub(crate) fn into_model(self) -> StoreResult<Recording> {
        Ok(Recording {
            kind: parse(&self.kind)?,
            started_at: timestamp(self.started_at)?,
            duration: opt_duration(self.duration_ms)?,
            channels: narrow("recording channels", self.channels)?,
            sample_rate: narrow("recording sample rate", self.sample_rate)?,
            id: self.id,
            contact_id: self.contact_id,
            path: self.path,
        })
    }
}
