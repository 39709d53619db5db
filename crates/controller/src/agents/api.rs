//! The agent interface and the administration of agents, queues and routes, under `/api/v1`.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET, POST /api/v1/agents`; `GET, PUT, DELETE /api/v1/agents/{id}` | admin | agents (persisted, applied live) |
//! | `GET, POST /api/v1/queues`; `GET, PUT, DELETE /api/v1/queues/{id}` | admin | queues |
//! | `GET, POST /api/v1/routes`; `GET, PUT, DELETE /api/v1/routes/{number}` | admin | routes |
//! | `POST /api/v1/agents/{id}/login` | the agent's password | log in; returns a bearer token |
//! | `POST /api/v1/agents/{id}/{logout, ready, not-ready, hold, unhold, hangup, wrap-up}` | the agent or admin | the agent's own state and call |
//! | `GET /api/v1/agents/{id}/state` (also `/stats`) | the agent or admin | state and today's figures |
//! | `GET /api/v1/queues/{id}/stats`, `GET /api/v1/stats` | admin or any agent | live statistics |
//! | `GET /api/v1/stats/ws` | admin or any agent | WebSocket: a snapshot, then every change |
//!
//! Every failure is the API's one error body (`{"error": code, "message": ...}`), including
//! malformed JSON and unknown fields, with a message that names the field.
//!
//! Configuration writes go to the store first, then to the running ACD and the
//! [`Directory`] (credentials, routes), one at a time, so the three never disagree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use store::{Agent, Origin, Queue, QueueStrategy, Route, SipSecret, Store, StoreError, Stored};
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Auth, Caller, same_secret};
use super::convert::{acd_agent, acd_queue, secs};
use super::directory::Directory;
use super::manager::{AgentAction, AgentManager, ConfigChange, ManagerError};
use super::views::{AgentView, QueueStatsView, StatsMessage};
use crate::api::ApiError;
use crate::queue::{
    CallRequestError, ConferenceAction, ConferenceView, RecordingAction, RecordingView,
};

/// Checks a flow name given to a route (the flow set is the contact side's).
pub type FlowCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What the agent interface's handlers reach; cheap to clone.
#[derive(Clone)]
pub struct AgentsApi {
    /// The agent-manager task.
    pub manager: AgentManager,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Credentials and routes read by the registrar and the contact tasks.
    pub directory: Directory,
    /// Tokens.
    pub auth: Auth,
    /// Whether a flow of this name exists (routes must name one); `None` accepts any name.
    pub flow_exists: Option<FlowCheck>,
    /// Serializes configuration writes (store, then ACD and directory).
    config_lock: Arc<tokio::sync::Mutex<()>>,
}

impl AgentsApi {
    /// The API's state.
    pub fn new(
        manager: AgentManager,
        store: Arc<dyn Store>,
        directory: Directory,
        auth: Auth,
        flow_exists: Option<FlowCheck>,
    ) -> AgentsApi {
        AgentsApi {
            manager,
            store,
            directory,
            auth,
            flow_exists,
            config_lock: Arc::default(),
        }
    }
}

type St = State<Arc<AgentsApi>>;

/// The agent interface's routes, for merging into the `/api/v1` router.
pub fn router<S: Clone + Send + Sync + 'static>(state: AgentsApi) -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(get_agent, put_agent, delete_agent))
        .routes(routes!(list_queues, create_queue))
        .routes(routes!(get_queue, put_queue, delete_queue))
        .routes(routes!(list_routes, create_route))
        .routes(routes!(get_route, put_route, delete_route))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(ready))
        .routes(routes!(not_ready))
        .routes(routes!(hold))
        .routes(routes!(unhold))
        .routes(routes!(hang_up))
        .routes(routes!(finish_wrap_up))
        .routes(routes!(recording))
        .routes(routes!(transfer))
        .routes(routes!(conference_add, conference_drop))
        .routes(routes!(conference_leave))
        .routes(routes!(agent_state))
        .routes(routes!(agent_stats))
        .routes(routes!(queue_stats))
        .routes(routes!(all_stats))
        .routes(routes!(stats_ws))
        .with_state(Arc::new(state))
}

// ---------------------------------------------------------------------------------------
// Plumbing: errors, JSON bodies, authentication
// ---------------------------------------------------------------------------------------

fn err(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::new(status, message)
}

fn invalid(message: impl Into<String>) -> ApiError {
    err(StatusCode::UNPROCESSABLE_ENTITY, message)
}

fn store_error(e: StoreError) -> ApiError {
    let status = match &e {
        StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
        StoreError::AlreadyExists { .. } | StoreError::Conflict(_) => StatusCode::CONFLICT,
        StoreError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => {
            tracing::error!(error = %e, "store failure in the agent API");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    err(status, e.to_string())
}

fn manager_error(e: ManagerError) -> ApiError {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::CONFLICT);
    err(status, e.to_string())
}

/// A JSON body whose every rejection (bad JSON, wrong type, unknown field, wrong content
/// type) is answered with the API's error body.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(err(rejection.status(), rejection.body_text())),
        }
    }
}

/// `?token=` (for the WebSocket).
#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn caller(api: &AgentsApi, headers: &HeaderMap, query: Option<&str>) -> Result<Caller, ApiError> {
    identify(&api.auth, headers, query)
}

/// Who sends a request: its bearer token (or `query`, for WebSockets) looked up in `auth`.
/// No token, or an unknown one, is 401. Every token check of the HTTP API goes through here.
fn identify(auth: &Auth, headers: &HeaderMap, query: Option<&str>) -> Result<Caller, ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = bearer.or(query) else {
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "missing token: send Authorization: Bearer <token>",
        ));
    };
    auth.identify(token)
        .ok_or_else(|| err(StatusCode::UNAUTHORIZED, "unknown or expired token"))
}

fn admin(api: &AgentsApi, headers: &HeaderMap) -> Result<(), ApiError> {
    require_admin(&api.auth, headers)
}

/// The admin token or an error: 401 without a known token, 403 for an agent's token.
pub(crate) fn require_admin(auth: &Auth, headers: &HeaderMap) -> Result<(), ApiError> {
    match identify(auth, headers, None)? {
        Caller::Admin => Ok(()),
        Caller::Agent(_) | Caller::MediaHandler => Err(err(
            StatusCode::FORBIDDEN,
            "this request needs the admin token",
        )),
    }
}

/// The admin token or the media handlers' registration token, for a handler registering.
pub(crate) fn require_registrar(auth: &Auth, headers: &HeaderMap) -> Result<(), ApiError> {
    match identify(auth, headers, None)? {
        Caller::Admin | Caller::MediaHandler => Ok(()),
        Caller::Agent(_) => Err(err(
            StatusCode::FORBIDDEN,
            "registering a media handler needs the admin or the media-handler token",
        )),
    }
}

fn acting_for(api: &AgentsApi, headers: &HeaderMap, agent: &str) -> Result<Caller, ApiError> {
    let c = caller(api, headers, None)?;
    if c.may_act_for(agent) {
        Ok(c)
    } else {
        Err(err(
            StatusCode::FORBIDDEN,
            format!("an agent may act only on its own state, not on agent {agent:?}"),
        ))
    }
}

/// A duration in JSON: seconds as a number (`15`, `0.5`) or text (`"15s"`, `"1m30s"`).
#[derive(Debug, Clone, Copy, PartialEq, ToSchema)]
#[schema(value_type = Object)]
pub struct Seconds(pub Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected seconds as a number or a duration such as \"15s\"")
        })? {
            Raw::Number(n) if n.is_finite() && (0.0..=1e9).contains(&n) => {
                Ok(Seconds(Duration::from_secs_f64(n)))
            }
            Raw::Number(n) => Err(serde::de::Error::custom(format!(
                "{n} is not a duration in seconds"
            ))),
            Raw::Text(t) => crate::config::parse_duration(&t)
                .map(Seconds)
                .map_err(serde::de::Error::custom),
        }
    }
}

fn valid_id(field: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(invalid(format!(
            "{field}: {id:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

fn valid_skills(field: &str, skills: &BTreeMap<String, u8>) -> Result<(), ApiError> {
    for (skill, level) in skills {
        valid_id(&format!("{field} key"), skill)?;
        if !(store::PROFICIENCY_MIN..=store::PROFICIENCY_MAX).contains(level) {
            return Err(invalid(format!(
                "{field}.{skill}: proficiency {level} is outside {}–{}",
                store::PROFICIENCY_MIN,
                store::PROFICIENCY_MAX
            )));
        }
    }
    Ok(())
}

/// The path's id, checked against an id also given in the body.
fn same_id(path: &str, body: Option<&str>, field: &str) -> Result<(), ApiError> {
    match body {
        Some(b) if b != path => Err(invalid(format!(
            "{field}: the body says {b:?} but the path says {path:?}"
        ))),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// Agents (admin)
// ---------------------------------------------------------------------------------------

/// An agent as given to `POST /api/v1/agents` and `PUT /api/v1/agents/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentIn {
    /// Required by POST; PUT takes it from the path.
    pub id: Option<String>,
    /// Display name (default: the id).
    pub name: Option<String>,
    /// The SIP user the agent's phone registers with (default: the id).
    pub sip_user: Option<String>,
    /// The SIP (and agent desktop) password. Required for a new agent; PUT keeps the
    /// current one when absent.
    pub password: Option<String>,
    /// Skill → proficiency 1–10.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Queues the agent serves (they must exist).
    #[serde(default)]
    pub queues: Vec<String>,
    /// Personal wrap-up, overriding the queue's.
    pub wrap_up: Option<Seconds>,
}

/// An agent as the API shows it (never with its password).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentOut {
    pub id: String,
    pub name: String,
    pub sip_user: String,
    /// Whether the agent has SIP credentials.
    pub has_password: bool,
    pub skills: BTreeMap<String, u8>,
    pub queues: Vec<String>,
    /// Personal wrap-up, seconds.
    pub wrap_up: Option<f64>,
    /// `config` (the configuration file) or `api`.
    pub origin: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl From<Stored<Agent>> for AgentOut {
    fn from(s: Stored<Agent>) -> Self {
        let a = s.value;
        AgentOut {
            has_password: a.secret.is_some(),
            id: a.id,
            name: a.name,
            sip_user: a.sip_user,
            skills: a.skills,
            queues: a.queues.into_iter().collect(),
            wrap_up: a.wrap_up.map(secs),
            origin: s.origin.as_str().into(),
            updated_at: s.updated_at.to_string(),
        }
    }
}

async fn agent_from_input(api: &AgentsApi, id: &str, body: AgentIn) -> Result<Agent, ApiError> {
    valid_id("id", id)?;
    let sip_user = body.sip_user.unwrap_or_else(|| id.to_string());
    if sip_user.is_empty()
        || sip_user.len() > 64
        || !sip_user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+*#".contains(c))
    {
        return Err(invalid(format!(
            "sip_user: {sip_user:?} is not a SIP user name (letters, digits, - _ . + * #)"
        )));
    }
    valid_skills("skills", &body.skills)?;
    let known: BTreeSet<String> = api
        .store
        .list_queues()
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|q| q.value.id)
        .collect();
    for q in &body.queues {
        if !known.contains(q) {
            return Err(invalid(format!("queues: unknown queue {q:?}")));
        }
    }
    let secret = match body.password {
        Some(pw) if pw.is_empty() => return Err(invalid("password: must not be empty")),
        Some(pw) => Some(SipSecret::Password(pw)),
        None => match api.store.get_agent(id).await.map_err(store_error)? {
            Some(existing) => existing.value.secret,
            None => return Err(invalid("password: required for a new agent")),
        },
    };
    Ok(Agent {
        id: id.to_string(),
        name: body
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| id.to_string()),
        sip_user,
        secret,
        skills: body.skills,
        queues: body.queues.into_iter().collect(),
        wrap_up: body.wrap_up.map(|s| s.0),
    })
}

/// Applies a stored agent to the ACD and the directory.
async fn apply_agent(api: &AgentsApi, agent: &Agent) -> Result<(), ApiError> {
    api.manager
        .configure(ConfigChange::UpsertAgent {
            config: acd_agent(agent),
            sip_user: agent.sip_user.clone(),
        })
        .await
        .map_err(manager_error)?;
    api.directory.put_agent(agent, None);
    Ok(())
}

async fn stored_agent(api: &AgentsApi, id: &str) -> Result<AgentOut, ApiError> {
    api.store
        .get_agent(id)
        .await
        .map_err(store_error)?
        .map(AgentOut::from)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("no agent {id:?}")))
}

/// Every agent.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses((status = 200, body = [AgentOut]), (status = 401, body = ApiError)))]
async fn list_agents(State(api): St, headers: HeaderMap) -> Result<Json<Vec<AgentOut>>, ApiError> {
    admin(&api, &headers)?;
    let all = api.store.list_agents().await.map_err(store_error)?;
    Ok(Json(all.into_iter().map(AgentOut::from).collect()))
}

/// Creates an agent (persisted; its phone can register at once; logged out in the ACD).
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = AgentIn,
    responses((status = 201, body = AgentOut), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn create_agent(
    State(api): St,
    headers: HeaderMap,
    Body(body): Body<AgentIn>,
) -> Result<(StatusCode, Json<AgentOut>), ApiError> {
    admin(&api, &headers)?;
    let Some(id) = body.id.clone() else {
        return Err(invalid("id: required"));
    };
    if body.password.is_none() {
        return Err(invalid("password: required for a new agent"));
    }
    let _guard = api.config_lock.lock().await;
    let agent = agent_from_input(&api, &id, body).await?;
    api.store
        .insert_agent(&agent, Origin::Api, jiff::Timestamp::now())
        .await
        .map_err(store_error)?;
    apply_agent(&api, &agent).await?;
    Ok((StatusCode::CREATED, Json(stored_agent(&api, &id).await?)))
}

/// One agent.
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "The agent")),
    responses((status = 200, body = AgentOut), (status = 404, body = ApiError)))]
async fn get_agent(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<AgentOut>, ApiError> {
    admin(&api, &headers)?;
    Ok(Json(stored_agent(&api, &id).await?))
}

/// Creates or replaces an agent; its state in the ACD is kept.
#[utoipa::path(put, path = "/api/v1/agents/{id}", tag = "agents", request_body = AgentIn,
    params(("id" = String, Path, description = "The agent")),
    responses((status = 200, body = AgentOut), (status = 201, body = AgentOut), (status = 422, body = ApiError)))]
async fn put_agent(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body<AgentIn>,
) -> Result<(StatusCode, Json<AgentOut>), ApiError> {
    admin(&api, &headers)?;
    same_id(&id, body.id.as_deref(), "id")?;
    let _guard = api.config_lock.lock().await;
    let agent = agent_from_input(&api, &id, body).await?;
    let upserted = api
        .store
        .upsert_agent(&agent, Origin::Api, jiff::Timestamp::now())
        .await
        .map_err(store_error)?;
    apply_agent(&api, &agent).await?;
    let status = match upserted {
        store::Upserted::Created => StatusCode::CREATED,
        store::Upserted::Updated => StatusCode::OK,
    };
    Ok((status, Json(stored_agent(&api, &id).await?)))
}

/// Removes an agent (refused while it handles a contact).
#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "The agent")),
    responses((status = 204), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn delete_agent(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&api, &headers)?;
    let _guard = api.config_lock.lock().await;
    let in_acd = match api
        .manager
        .configure(ConfigChange::RemoveAgent(id.clone()))
        .await
    {
        Ok(()) => true,
        Err(ManagerError::Acd(acd::AcdError::UnknownAgent(_))) => false,
        Err(e) => return Err(manager_error(e)),
    };
    let in_store = api.store.delete_agent(&id).await.map_err(store_error)?;
    api.directory.remove_agent(&id);
    api.auth.revoke_agent(&id);
    if in_acd || in_store {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(err(StatusCode::NOT_FOUND, format!("no agent {id:?}")))
    }
}

// ---------------------------------------------------------------------------------------
// Queues (admin)
// ---------------------------------------------------------------------------------------

/// A queue as given to `POST /api/v1/queues` and `PUT /api/v1/queues/{id}`. Absent fields
/// take the configuration file's defaults.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueIn {
    /// Required by POST; PUT takes it from the path.
    pub id: Option<String>,
    pub name: Option<String>,
    /// Required skill → minimum proficiency 1–10.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// `longest_idle` (default), `round_robin`, `fewest_calls`, `most_skilled`, `ring_all`.
    pub strategy: Option<String>,
    /// Default 15 s; must be more than zero.
    pub ring_timeout: Option<Seconds>,
    /// Default 0.
    pub wrap_up: Option<Seconds>,
    /// Default: none (wait forever).
    pub max_wait: Option<Seconds>,
    /// Service-level threshold, default 20 s.
    pub service_level: Option<Seconds>,
    /// Short-abandon threshold, default 5 s.
    pub short_abandon: Option<Seconds>,
    /// Higher is served first (default 0).
    pub priority: Option<i32>,
    /// Record answered calls (stereo: customer left, agent right). Default false.
    pub record: Option<bool>,
}

/// A queue as the API shows it; durations in seconds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueOut {
    pub id: String,
    pub name: String,
    pub skills: BTreeMap<String, u8>,
    pub strategy: String,
    pub ring_timeout: f64,
    pub wrap_up: f64,
    pub max_wait: Option<f64>,
    pub service_level: f64,
    pub short_abandon: f64,
    pub priority: i32,
    pub record: bool,
    pub origin: String,
    pub updated_at: String,
}

impl From<Stored<Queue>> for QueueOut {
    fn from(s: Stored<Queue>) -> Self {
        let q = s.value;
        QueueOut {
            id: q.id,
            name: q.name,
            skills: q.skills,
            strategy: q.strategy.as_str().into(),
            ring_timeout: secs(q.ring_timeout),
            wrap_up: secs(q.wrap_up),
            max_wait: q.max_wait.map(secs),
            service_level: secs(q.service_level),
            short_abandon: secs(q.short_abandon),
            priority: q.priority,
            record: q.record,
            origin: s.origin.as_str().into(),
            updated_at: s.updated_at.to_string(),
        }
    }
}

fn queue_from_input(id: &str, body: QueueIn) -> Result<Queue, ApiError> {
    valid_id("id", id)?;
    valid_skills("skills", &body.skills)?;
    let strategy = match body.strategy.as_deref() {
        None => QueueStrategy::LongestIdle,
        Some(s) => s.parse::<QueueStrategy>().map_err(|_| {
            invalid(format!(
                "strategy: unknown strategy {s:?} (expected one of: {})",
                QueueStrategy::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
    };
    let ring_timeout = body.ring_timeout.map_or(Duration::from_secs(15), |s| s.0);
    if ring_timeout.is_zero() {
        return Err(invalid("ring_timeout: must be more than zero"));
    }
    if body.max_wait.is_some_and(|m| m.0.is_zero()) {
        return Err(invalid(
            "max_wait: must be more than zero (leave it out to wait forever)",
        ));
    }
    Ok(Queue {
        id: id.to_string(),
        name: body
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| id.to_string()),
        skills: body.skills,
        strategy,
        ring_timeout,
        wrap_up: body.wrap_up.map_or(Duration::ZERO, |s| s.0),
        max_wait: body.max_wait.map(|s| s.0),
        service_level: body.service_level.map_or(Duration::from_secs(20), |s| s.0),
        short_abandon: body.short_abandon.map_or(Duration::from_secs(5), |s| s.0),
        priority: body.priority.unwrap_or(0),
        record: body.record.unwrap_or(false),
    })
}

async fn stored_queue(api: &AgentsApi, id: &str) -> Result<QueueOut, ApiError> {
    api.store
        .get_queue(id)
        .await
        .map_err(store_error)?
        .map(QueueOut::from)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("no queue {id:?}")))
}

/// Every queue.
#[utoipa::path(get, path = "/api/v1/queues", tag = "queues",
    responses((status = 200, body = [QueueOut]), (status = 401, body = ApiError)))]
async fn list_queues(State(api): St, headers: HeaderMap) -> Result<Json<Vec<QueueOut>>, ApiError> {
    admin(&api, &headers)?;
    let all = api.store.list_queues().await.map_err(store_error)?;
    Ok(Json(all.into_iter().map(QueueOut::from).collect()))
}

/// Creates a queue (persisted, live at once).
#[utoipa::path(post, path = "/api/v1/queues", tag = "queues", request_body = QueueIn,
    responses((status = 201, body = QueueOut), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn create_queue(
    State(api): St,
    headers: HeaderMap,
    Body(body): Body<QueueIn>,
) -> Result<(StatusCode, Json<QueueOut>), ApiError> {
    admin(&api, &headers)?;
    let Some(id) = body.id.clone() else {
        return Err(invalid("id: required"));
    };
    let queue = queue_from_input(&id, body)?;
    let _guard = api.config_lock.lock().await;
    api.store
        .insert_queue(&queue, Origin::Api, jiff::Timestamp::now())
        .await
        .map_err(store_error)?;
    api.manager
        .configure(ConfigChange::UpsertQueue(acd_queue(&queue)))
        .await
        .map_err(manager_error)?;
    Ok((StatusCode::CREATED, Json(stored_queue(&api, &id).await?)))
}

/// One queue.
#[utoipa::path(get, path = "/api/v1/queues/{id}", tag = "queues",
    params(("id" = String, Path, description = "The queue")),
    responses((status = 200, body = QueueOut), (status = 404, body = ApiError)))]
async fn get_queue(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<QueueOut>, ApiError> {
    admin(&api, &headers)?;
    Ok(Json(stored_queue(&api, &id).await?))
}

/// Creates or replaces a queue; waiting contacts stay.
#[utoipa::path(put, path = "/api/v1/queues/{id}", tag = "queues", request_body = QueueIn,
    params(("id" = String, Path, description = "The queue")),
    responses((status = 200, body = QueueOut), (status = 201, body = QueueOut), (status = 422, body = ApiError)))]
async fn put_queue(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body<QueueIn>,
) -> Result<(StatusCode, Json<QueueOut>), ApiError> {
    admin(&api, &headers)?;
    same_id(&id, body.id.as_deref(), "id")?;
    let queue = queue_from_input(&id, body)?;
    let _guard = api.config_lock.lock().await;
    let upserted = api
        .store
        .upsert_queue(&queue, Origin::Api, jiff::Timestamp::now())
        .await
        .map_err(store_error)?;
    api.manager
        .configure(ConfigChange::UpsertQueue(acd_queue(&queue)))
        .await
        .map_err(manager_error)?;
    let status = match upserted {
        store::Upserted::Created => StatusCode::CREATED,
        store::Upserted::Updated => StatusCode::OK,
    };
    Ok((status, Json(stored_queue(&api, &id).await?)))
}

/// Removes a queue; its waiting contacts take their flow's `no_agents` transition.
#[utoipa::path(delete, path = "/api/v1/queues/{id}", tag = "queues",
    params(("id" = String, Path, description = "The queue")),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_queue(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&api, &headers)?;
    let _guard = api.config_lock.lock().await;
    let in_acd = match api
        .manager
        .configure(ConfigChange::RemoveQueue(id.clone()))
        .await
    {
        Ok(()) => true,
        Err(ManagerError::Acd(acd::AcdError::UnknownQueue(_))) => false,
        Err(e) => return Err(manager_error(e)),
    };
    let in_store = api.store.delete_queue(&id).await.map_err(store_error)?;
    if in_acd || in_store {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(err(StatusCode::NOT_FOUND, format!("no queue {id:?}")))
    }
}

// ---------------------------------------------------------------------------------------
// Routes (admin)
// ---------------------------------------------------------------------------------------

/// A route as given to `POST /api/v1/routes` and `PUT /api/v1/routes/{number}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteIn {
    /// Required by POST; PUT takes it from the path.
    pub number: Option<String>,
    /// The flow that handles calls to the number.
    pub flow: String,
    /// Calls may use the bandwidth kept for priority contacts. Default false.
    pub priority: Option<bool>,
}

/// A route as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RouteOut {
    pub number: String,
    pub flow: String,
    pub priority: bool,
    pub origin: String,
    pub updated_at: String,
}

impl From<Stored<Route>> for RouteOut {
    fn from(s: Stored<Route>) -> Self {
        RouteOut {
            number: s.value.number,
            flow: s.value.flow,
            priority: s.value.priority,
            origin: s.origin.as_str().into(),
            updated_at: s.updated_at.to_string(),
        }
    }
}

fn route_from_input(api: &AgentsApi, number: &str, body: RouteIn) -> Result<Route, ApiError> {
    if number.is_empty()
        || number.len() > 64
        || !number
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+*#-_.".contains(c))
    {
        return Err(invalid(format!(
            "number: {number:?} is not a dialable number or user name"
        )));
    }
    if body.flow.trim().is_empty() {
        return Err(invalid("flow: required"));
    }
    if let Some(check) = &api.flow_exists
        && !check(&body.flow)
    {
        return Err(invalid(format!("flow: unknown flow {:?}", body.flow)));
    }
    Ok(Route {
        number: number.to_string(),
        flow: body.flow,
        priority: body.priority.unwrap_or(false),
    })
}

async fn stored_route(api: &AgentsApi, number: &str) -> Result<RouteOut, ApiError> {
    api.store
        .get_route(number)
        .await
        .map_err(store_error)?
        .map(RouteOut::from)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("no route {number:?}")))
}

/// Every route.
#[utoipa::path(get, path = "/api/v1/routes", tag = "routes",
    responses((status = 200, body = [RouteOut]), (status = 401, body = ApiError)))]
async fn list_routes(State(api): St, headers: HeaderMap) -> Result<Json<Vec<RouteOut>>, ApiError> {
    admin(&api, &headers)?;
    let all = api.store.list_routes().await.map_err(store_error)?;
    Ok(Json(all.into_iter().map(RouteOut::from).collect()))
}

/// Creates a route (persisted, live at once).
#[utoipa::path(post, path = "/api/v1/routes", tag = "routes", request_body = RouteIn,
    responses((status = 201, body = RouteOut), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn create_route(
    State(api): St,
    headers: HeaderMap,
    Body(body): Body<RouteIn>,
) -> Result<(StatusCode, Json<RouteOut>), ApiError> {
    admin(&api, &headers)?;
    let Some(number) = body.number.clone() else {
        return Err(invalid("number: required"));
    };
    let route = route_from_input(&api, &number, body)?;
    let _guard = api.config_lock.lock().await;
    api.store
        .insert_route(&route, Origin::Api, jiff::Timestamp::now())
        .await
        .map_err(store_error)?;
    api.directory.put_route(route);
    Ok((
        StatusCode::CREATED,
        Json(stored_route(&api, &number).await?),
    ))
}

/// One route.
#[utoipa::path(get, path = "/api/v1/routes/{number}", tag = "routes",
    params(("number" = String, Path, description = "The dialled number")),
    responses((status = 200, body = RouteOut), (status = 404, body = ApiError)))]
async fn get_route(
    State(api): St,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<Json<RouteOut>, ApiError> {
    admin(&api, &headers)?;
    Ok(Json(stored_route(&api, &number).await?))
}

/// Creates or replaces a route.
#[utoipa::path(put, path = "/api/v1/routes/{number}", tag = "routes", request_body = RouteIn,
    params(("number" = String, Path, description = "The dialled number")),
    responses((status = 200, body = RouteOut), (status = 201, body = RouteOut), (status = 422, body = ApiError)))]
async fn put_route(
    State(api): St,
    headers: HeaderMap,
    Path(number): Path<String>,
    Body(body): Body<RouteIn>,
) -> Result<(StatusCode, Json<RouteOut>), ApiError> {
    admin(&api, &headers)?;
    same_id(&number, body.number.as_deref(), "number")?;
    let route = route_from_input(&api, &number, body)?;
    let _guard = api.config_lock.lock().await;
    let upserted = api
        .store
        .upsert_route(&route, Origin::Api, jiff::Timestamp::now())
        .await
        .map_err(store_error)?;
    api.directory.put_route(route);
    let status = match upserted {
        store::Upserted::Created => StatusCode::CREATED,
        store::Upserted::Updated => StatusCode::OK,
    };
    Ok((status, Json(stored_route(&api, &number).await?)))
}

/// Removes a route: new calls to the number get `404`.
#[utoipa::path(delete, path = "/api/v1/routes/{number}", tag = "routes",
    params(("number" = String, Path, description = "The dialled number")),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_route(
    State(api): St,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&api, &headers)?;
    let _guard = api.config_lock.lock().await;
    let found = api.store.delete_route(&number).await.map_err(store_error)?;
    api.directory.remove_route(&number);
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(err(StatusCode::NOT_FOUND, format!("no route {number:?}")))
    }
}

// ---------------------------------------------------------------------------------------
// The agent's own state
// ---------------------------------------------------------------------------------------

/// `POST /api/v1/agents/{id}/login`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    /// The agent's password.
    pub password: String,
    /// Start available (default) or not ready ("login").
    #[serde(default = "yes")]
    pub ready: bool,
}

fn yes() -> bool {
    true
}

/// The answer to a login.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginOut {
    /// The bearer token for the agent's requests (until logout).
    pub token: String,
    /// The agent's state after logging in.
    pub agent: AgentView,
}

fn password_matches(agent: &Agent, password: &str) -> bool {
    match &agent.secret {
        Some(SipSecret::Password(pw)) => same_secret(pw, password),
        Some(SipSecret::Ha1 { realm, md5, .. }) => {
            match SipSecret::digest(&agent.sip_user, realm, password) {
                SipSecret::Ha1 { md5: given, .. } => same_secret(md5, &given),
                SipSecret::Password(_) => false,
            }
        }
        None => false,
    }
}

/// Logs an agent in with its password and returns its bearer token.
#[utoipa::path(post, path = "/api/v1/agents/{id}/login", tag = "agent",
    params(("id" = String, Path, description = "The agent")), request_body = LoginIn,
    responses((status = 200, body = LoginOut), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
async fn login(
    State(api): St,
    Path(id): Path<String>,
    Body(body): Body<LoginIn>,
) -> Result<Json<LoginOut>, ApiError> {
    let Some(stored) = api.store.get_agent(&id).await.map_err(store_error)? else {
        return Err(err(StatusCode::NOT_FOUND, format!("no agent {id:?}")));
    };
    if !password_matches(&stored.value, &body.password) {
        return Err(err(
            StatusCode::UNAUTHORIZED,
            format!("wrong password for agent {id:?}"),
        ));
    }
    let agent = api
        .manager
        .agent_action(&id, AgentAction::Login { ready: body.ready })
        .await
        .map_err(manager_error)?;
    let token = api.auth.issue(&id).map_err(|e| {
        err(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot issue a token: {e}"),
        )
    })?;
    Ok(Json(LoginOut { token, agent }))
}

async fn act(
    api: &AgentsApi,
    headers: &HeaderMap,
    id: &str,
    action: AgentAction,
) -> Result<Json<AgentView>, ApiError> {
    acting_for(api, headers, id)?;
    let view = api
        .manager
        .agent_action(id, action)
        .await
        .map_err(manager_error)?;
    Ok(Json(view))
}

/// Logs the agent out (refused on a call) and ends its tokens.
#[utoipa::path(post, path = "/api/v1/agents/{id}/logout", tag = "agent",
    params(("id" = String, Path, description = "The agent")),
    responses((status = 200, body = AgentView), (status = 409, body = ApiError)))]
async fn logout(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    let view = act(&api, &headers, &id, AgentAction::Logout).await?;
    api.auth.revoke_agent(&id);
    Ok(view)
}

/// The agent becomes available (from not ready, or ending wrap-up early).
#[utoipa::path(post, path = "/api/v1/agents/{id}/ready", tag = "agent",
    params(("id" = String, Path, description = "The agent")),
    responses((status = 200, body = AgentView), (status = 409, body = ApiError)))]
async fn ready(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    act(&api, &headers, &id, AgentAction::Ready).await
}

/// `POST /api/v1/agents/{id}/not-ready`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotReadyIn {
    /// Why (e.g. `break`, `lunch`); default `break`.
    pub reason: Option<String>,
}

/// The agent stops taking contacts (on a call: after its wrap-up).
#[utoipa::path(post, path = "/api/v1/agents/{id}/not-ready", tag = "agent",
    params(("id" = String, Path, description = "The agent")), request_body = NotReadyIn,
    responses((status = 200, body = AgentView), (status = 409, body = ApiError)))]
async fn not_ready(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body<NotReadyIn>,
) -> Result<Json<AgentView>, ApiError> {
    let reason = body.reason.unwrap_or_else(|| "break".into());
    if reason.trim().is_empty() || reason.len() > 100 {
        return Err(invalid("reason: must be 1 to 100 characters"));
    }
    act(&api, &headers, &id, AgentAction::NotReady { reason }).await
}

/// Puts the agent's call on hold (the customer hears music).
#[utoipa::path(post, path = "/api/v1/agents/{id}/hold", tag = "agent",
    params(("id" = String, Path, description = "The agent")),
    responses((status = 200, body = AgentView), (status = 409, body = ApiError)))]
async fn hold(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    act(&api, &headers, &id, AgentAction::Hold).await
}

/// Resumes the agent's held call.
#[utoipa::path(post, path = "/api/v1/agents/{id}/unhold", tag = "agent",
    params(("id" = String, Path, description = "The agent")),
    responses((status = 200, body = AgentView), (status = 409, body = ApiError)))]
async fn unhold(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    act(&api, &headers, &id, AgentAction::Unhold).await
}

/// Hangs up the agent's call (both legs); the agent enters wrap-up.
#[utoipa::path(post, path = "/api/v1/agents/{id}/hangup", tag = "agent",
    params(("id" = String, Path, description = "The agent")),
    responses((status = 200, body = AgentView), (status = 409, body = ApiError)))]
async fn hang_up(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    act(&api, &headers, &id, AgentAction::HangUp).await
}

/// `POST /api/v1/agents/{id}/transfer`
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferIn {
    /// The queue the customer waits in.
    pub queue: Option<String>,
    /// The agent the customer waits for (through `queue` when given, else that agent's
    /// first queue).
    pub agent: Option<String>,
    /// Or a SIP URI to dial (`sip:` or `sips:`), e.g. another site or a supervisor's
    /// phone; not together with `queue` or `agent`.
    pub uri: Option<String>,
}

/// Blind transfer: the agent leaves the call (its phone gets BYE; it enters wrap-up) and
/// the customer waits, with music, in the queue or for the agent named, or hears ringback
/// while the SIP URI is dialled. Refused when the target does not exist (404) or nobody
/// could answer: a queue no other agent is logged in to, a logged-out agent, the agent
/// itself (409). If the new queue later gives up (its max wait) or the URI does not answer,
/// the call ends; the call record says why.
#[utoipa::path(post, path = "/api/v1/agents/{id}/transfer", tag = "agent",
    params(("id" = String, Path, description = "The agent")), request_body = TransferIn,
    responses((status = 200, body = AgentView), (status = 404, body = ApiError),
        (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn transfer(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body<TransferIn>,
) -> Result<Json<AgentView>, ApiError> {
    let named = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    match (named(&body.queue) || named(&body.agent), named(&body.uri)) {
        (false, false) => return Err(invalid("give a queue, an agent, or a uri")),
        (true, true) => return Err(invalid("uri: not together with queue or agent")),
        _ => {}
    }
    if let Some(uri) = body.uri.as_deref().filter(|u| !u.trim().is_empty()) {
        match sip::Uri::parse(uri) {
            Ok(u) if u.is_sip() => {}
            Ok(_) => return Err(invalid("uri: only sip: and sips: URIs can be dialled")),
            Err(e) => return Err(invalid(format!("uri: {e}"))),
        }
    }
    let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    act(
        &api,
        &headers,
        &id,
        AgentAction::Transfer {
            queue: given(body.queue),
            agent: given(body.agent),
            uri: given(body.uri),
        },
    )
    .await
}

/// `POST /api/v1/agents/{id}/conference`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConferenceIn {
    /// The third party: a `sip:` or `sips:` URI (a supervisor's or expert's phone, another
    /// site).
    pub uri: String,
}

/// Brings a third party into the agent's call: the URI is dialled on the call's media
/// session while customer and agent go on as they were. When it answers, the three hear
/// each other (`connected`), or, if the agent holds the customer, agent and third party
/// talk alone (`consulting`: a consultation; `unhold` makes it a conference, `leave` hands
/// the customer over). Answers once the party answered (200), or why it did not join (502:
/// busy, no answer, unreachable). Refused with a third party already in (409).
#[utoipa::path(post, path = "/api/v1/agents/{id}/conference", tag = "agent",
    params(("id" = String, Path, description = "The agent")), request_body = ConferenceIn,
    responses((status = 200, body = ConferenceView), (status = 409, body = ApiError),
        (status = 422, body = ApiError), (status = 502, body = ApiError)))]
async fn conference_add(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body<ConferenceIn>,
) -> Result<Json<ConferenceView>, ApiError> {
    acting_for(&api, &headers, &id)?;
    match sip::Uri::parse(body.uri.trim()) {
        Ok(u) if u.is_sip() => {}
        Ok(_) => return Err(invalid("uri: only sip: and sips: URIs can be dialled")),
        Err(e) => return Err(invalid(format!("uri: {e}"))),
    }
    let action = ConferenceAction::Add {
        uri: body.uri.trim().to_string(),
    };
    conference(&api, &id, action).await
}

/// Carries out a conference request (the caller checked who may).
async fn conference(
    api: &AgentsApi,
    id: &str,
    action: ConferenceAction,
) -> Result<Json<ConferenceView>, ApiError> {
    api.manager
        .conference(id, action)
        .await
        .map(Json)
        .map_err(call_request_error)
}

/// Lets the third party go (it gets BYE); customer and agent talk on.
#[utoipa::path(delete, path = "/api/v1/agents/{id}/conference", tag = "agent",
    params(("id" = String, Path, description = "The agent")),
    responses((status = 200, body = ConferenceView), (status = 409, body = ApiError)))]
async fn conference_drop(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ConferenceView>, ApiError> {
    acting_for(&api, &headers, &id)?;
    conference(&api, &id, ConferenceAction::Drop).await
}

/// Consultative transfer: the agent leaves the customer talking with the answered third
/// party (its phone gets BYE; it enters wrap-up). The call goes on until either hangs up.
#[utoipa::path(post, path = "/api/v1/agents/{id}/conference/leave", tag = "agent",
    params(("id" = String, Path, description = "The agent")),
    responses((status = 200, body = ConferenceView), (status = 409, body = ApiError)))]
async fn conference_leave(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ConferenceView>, ApiError> {
    acting_for(&api, &headers, &id)?;
    conference(&api, &id, ConferenceAction::Leave).await
}

/// Starts, stops, pauses or resumes the recording of the agent's call. `start` records
/// customer (left) and agent (right) as a stereo WAV; `pause` writes silence until `resume`
/// (the file's timeline stays true); `stop` ends a recording the agent started. A recording
/// the queue (`record = true`) or the call flow requires can be paused but not stopped (403).
#[utoipa::path(post, path = "/api/v1/agents/{id}/recording/{action}", tag = "agent",
    params(("id" = String, Path, description = "The agent"),
        ("action" = String, Path, description = "start, stop, pause or resume")),
    responses((status = 200, body = RecordingView), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError),
        (status = 502, body = ApiError)))]
async fn recording(
    State(api): St,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<RecordingView>, ApiError> {
    acting_for(&api, &headers, &id)?;
    let action = RecordingAction::parse(&action).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            format!("no recording action {action:?}: start, stop, pause or resume"),
        )
    })?;
    api.manager
        .recording(&id, action)
        .await
        .map(Json)
        .map_err(call_request_error)
}

fn call_request_error(e: CallRequestError) -> ApiError {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::CONFLICT);
    err(status, e.to_string())
}

/// `POST /api/v1/agents/{id}/wrap-up`
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WrapUpIn {
    /// The outcome of the contact, stored in its call record.
    pub disposition: Option<String>,
}

/// Finishes wrap-up (early) with a disposition for the last contact.
#[utoipa::path(post, path = "/api/v1/agents/{id}/wrap-up", tag = "agent",
    params(("id" = String, Path, description = "The agent")), request_body = WrapUpIn,
    responses((status = 200, body = AgentView), (status = 409, body = ApiError)))]
async fn finish_wrap_up(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    Body(body): Body<WrapUpIn>,
) -> Result<Json<AgentView>, ApiError> {
    if body
        .disposition
        .as_deref()
        .is_some_and(|d| d.trim().is_empty() || d.len() > 200)
    {
        return Err(invalid("disposition: must be 1 to 200 characters"));
    }
    act(
        &api,
        &headers,
        &id,
        AgentAction::FinishWrapUp {
            disposition: body.disposition,
        },
    )
    .await
}

async fn view_of(
    api: &AgentsApi,
    headers: &HeaderMap,
    id: &str,
) -> Result<Json<AgentView>, ApiError> {
    acting_for(api, headers, id)?;
    api.manager
        .agent_view(id)
        .await
        .map(Json)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("no agent {id:?}")))
}

/// The agent's state, its contact and today's figures.
#[utoipa::path(get, path = "/api/v1/agents/{id}/state", tag = "agent",
    params(("id" = String, Path, description = "The agent")),
    responses((status = 200, body = AgentView), (status = 404, body = ApiError)))]
async fn agent_state(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    view_of(&api, &headers, &id).await
}

/// The same as `/state`, under the statistics' name.
#[utoipa::path(get, path = "/api/v1/agents/{id}/stats", tag = "statistics",
    params(("id" = String, Path, description = "The agent")),
    responses((status = 200, body = AgentView), (status = 404, body = ApiError)))]
async fn agent_stats(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    view_of(&api, &headers, &id).await
}

// ---------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------

/// A queue's live statistics.
#[utoipa::path(get, path = "/api/v1/queues/{id}/stats", tag = "statistics",
    params(("id" = String, Path, description = "The queue")),
    responses((status = 200, body = QueueStatsView), (status = 404, body = ApiError)))]
async fn queue_stats(
    State(api): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<QueueStatsView>, ApiError> {
    caller(&api, &headers, None)?;
    api.manager
        .queue_stats(&id)
        .await
        .map(Json)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("no queue {id:?}")))
}

/// Every queue and agent now (the WebSocket's first message).
#[utoipa::path(get, path = "/api/v1/stats", tag = "statistics",
    responses((status = 200, body = StatsMessage), (status = 401, body = ApiError)))]
async fn all_stats(State(api): St, headers: HeaderMap) -> Result<Json<StatsMessage>, ApiError> {
    caller(&api, &headers, None)?;
    api.manager.snapshot().await.map(Json).ok_or_else(|| {
        err(
            StatusCode::SERVICE_UNAVAILABLE,
            "the agent manager has stopped",
        )
    })
}

/// WebSocket of live statistics: a `snapshot` message, then a `queue` message whenever a
/// queue changes (and every few seconds, as its 15-minute window slides) and an `agent`
/// message whenever an agent changes state. Token as `Authorization: Bearer` or `?token=`.
#[utoipa::path(get, path = "/api/v1/stats/ws", tag = "statistics",
    params(("token" = Option<String>, Query, description = "The admin or an agent token")),
    responses((status = 101, description = "WebSocket of StatsMessage (JSON text)"), (status = 401, body = ApiError)))]
async fn stats_ws(
    State(api): St,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    caller(&api, &headers, q.token.as_deref())?;
    let manager = api.manager.clone();
    Ok(ws
        .on_upgrade(move |socket| push_stats(socket, manager))
        .into_response())
}

async fn send_json(socket: &mut WebSocket, msg: &StatsMessage) -> bool {
    match serde_json::to_string(msg) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "statistics message not serializable");
            false
        }
    }
}

async fn push_stats(mut socket: WebSocket, manager: AgentManager) {
    // Subscribe before the snapshot so that nothing falls between them.
    let mut updates = manager.subscribe();
    let Some(snapshot) = manager.snapshot().await else {
        return;
    };
    if !send_json(&mut socket, &snapshot).await {
        return;
    }
    loop {
        tokio::select! {
            update = updates.recv() => match update {
                Ok(msg) => {
                    if !send_json(&mut socket, &msg).await {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Too slow to follow every change: start again from a snapshot.
                    let Some(snapshot) = manager.snapshot().await else { return };
                    if !send_json(&mut socket, &snapshot).await {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
