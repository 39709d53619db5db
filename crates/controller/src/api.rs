//! The controller's HTTP API under `/api/v1` (documented at
//! `/api/v1/openapi.json`) and Prometheus metrics at `/metrics`.
//!
//! This module is the edge: it maps JSON onto the controller's parts and
//! back. One error type ([`ApiError`]) gives every failure the same body:
//! `{"error": "<code>", "message": "<what went wrong>"}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::live::{LiveContact, LiveContacts};
use crate::registry::Registry;
use crate::signalling::Signalling;

/// What the API handlers reach.
#[derive(Clone)]
pub struct ApiState {
    pub registry: Registry,
    pub store: Arc<dyn store::Store>,
    pub live: LiveContacts,
    /// The Prometheus recorder (absent: `/metrics` answers 404).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub signalling: Signalling,
    /// The flows in service (`/api/v1/flows` replaces them one at a time).
    pub flows: Arc<std::sync::RwLock<flow::FlowSet>>,
    /// What uploaded flows are checked against.
    pub catalog: FlowCatalog,
    /// Who may change configuration (the admin token).
    pub auth: crate::agents::Auth,
    /// The agent interface and the administration of agents, queues and routes
    /// ([`crate::agents::api`]); absent in tests of the rest.
    pub agents: Option<crate::agents::AgentsApi>,
}

/// What an uploaded flow is validated against: the prompts that exist and
/// the configured queues.
#[derive(Clone, Debug)]
pub struct FlowCatalog {
    /// The prompts folder.
    pub prompts: std::path::PathBuf,
    /// Queue ids.
    pub queues: std::collections::BTreeSet<String>,
}

/// The error body of every failed request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// A stable code: `bad_request`, `not_found`, `conflict`, `unauthorized`, `unavailable`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    #[serde(skip)]
    #[schema(ignore)]
    pub status: u16,
}

impl ApiError {
    /// An error with `status` (its code derived from it) and a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        let error = match status.as_u16() {
            400 | 422 => "bad_request",
            401 | 403 => "unauthorized",
            404 => "not_found",
            409 => "conflict",
            503 => "unavailable",
            _ => "internal",
        };
        ApiError {
            error: error.into(),
            message: message.into(),
            status: status.as_u16(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self)).into_response()
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

impl From<bandwidth::RegistryError> for ApiError {
    fn from(e: bandwidth::RegistryError) -> ApiError {
        let status = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError::new(status, e.to_string())
    }
}

#[derive(OpenApi)]
#[openapi(info(
    title = "Switchboard controller API",
    description = "The conference controller's administration, agent and supervisor interface."
))]
struct ApiDoc;

/// The router with every `/api/v1` endpoint, and its OpenAPI document.
pub fn router(state: ApiState) -> axum::Router {
    let state = Arc::new(state);
    let agents = match state.agents.clone() {
        Some(a) => crate::agents::api::router(a),
        None => OpenApiRouter::new(),
    };
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(list_media_handlers))
        .routes(routes!(register_media_handler))
        .routes(routes!(update_media_handler))
        .routes(routes!(list_contacts))
        .routes(routes!(list_cdrs))
        .routes(routes!(get_cdr))
        .routes(routes!(get_recording))
        .routes(routes!(list_flows))
        .routes(routes!(get_flow, put_flow))
        .with_state(state.clone())
        .merge(agents)
        .split_for_parts();
    let api = Arc::new(api);
    let metrics = state.metrics.clone();
    router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let api = api.clone();
                async move { Json((*api).clone()) }
            }),
        )
        .route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                async move {
                    match metrics {
                        Some(m) => (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "text/plain; version=0.0.4",
                            )],
                            m.render(),
                        )
                            .into_response(),
                        None => ApiError::new(StatusCode::NOT_FOUND, "metrics are not enabled")
                            .into_response(),
                    }
                }
            }),
        )
}

/// `GET /api/v1/health`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// Liveness.
#[utoipa::path(get, path = "/api/v1/health", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// One media handler as the controller sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MediaHandlerView {
    pub id: String,
    pub url: String,
    /// `up`, `draining` or `down`.
    pub state: String,
    /// `embedded`, `configured` or `registered`.
    pub origin: String,
    pub capacity_kbps: u64,
    /// Reserved by the bandwidth manager's ledger.
    pub reserved_kbps: u64,
    /// Measured by the handler (busier direction).
    pub measured_kbps: u64,
    /// Contacts placed on it.
    pub sessions: u32,
    /// Sessions the handler itself reports.
    pub reported_sessions: Option<u32>,
    /// Seconds since its last status.
    pub status_age_s: Option<f64>,
}

/// The media handlers, their addresses, state and load (admin token).
#[utoipa::path(
    get,
    path = "/api/v1/media-handlers",
    responses((status = 200, body = [MediaHandlerView]), (status = 401, body = ApiError))
)]
async fn list_media_handlers(
    State(state): State<Arc<ApiState>>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Vec<MediaHandlerView>>, ApiError> {
    require_admin(&state, &headers)?;
    Ok(Json(handler_views(&state)))
}

fn handler_views(state: &ApiState) -> Vec<MediaHandlerView> {
    state
        .registry
        .views()
        .into_iter()
        .map(|(v, origin)| MediaHandlerView {
            id: v.id.0,
            url: v.url,
            state: v.state.as_str().into(),
            origin: origin.as_str().into(),
            capacity_kbps: v.capacity_kbps,
            reserved_kbps: v.reserved_kbps,
            measured_kbps: v.measured_kbps,
            sessions: v.sessions,
            reported_sessions: v.reported_sessions,
            status_age_s: v.status_age.map(|d| d.as_secs_f64()),
        })
        .collect()
}

/// The answer to a self-registration.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Registered {
    pub id: String,
}

/// A media handler started with `--controller URL` registers itself and
/// reports its status (periodically).
#[utoipa::path(
    post,
    path = "/api/v1/media-handlers/register",
    request_body = media_api::Registration,
    responses((status = 200, body = Registered), (status = 400, body = ApiError), (status = 401, body = ApiError))
)]
async fn register_media_handler(
    State(state): State<Arc<ApiState>>,
    headers: axum::http::HeaderMap,
    Json(reg): Json<media_api::Registration>,
) -> Result<Json<Registered>, ApiError> {
    // A registered handler receives calls' media: only one given the admin token or the
    // media handlers' own token (`http.media_handler_token`) may join.
    crate::agents::api::require_registrar(&state.auth, &headers)?;
    if !(reg.url.starts_with("http://") || reg.url.starts_with("https://")) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("url {:?} is not an http(s) URL", reg.url),
        ));
    }
    let id = state.registry.register(&reg)?;
    Ok(Json(Registered { id: id.0 }))
}

/// A change to a media handler.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMediaHandler {
    /// Draining: keeps its calls, takes no new ones.
    pub draining: bool,
}

/// Sets a media handler to draining, or back.
#[utoipa::path(
    patch,
    path = "/api/v1/media-handlers/{id}",
    params(("id" = String, Path, description = "The handler's id")),
    request_body = UpdateMediaHandler,
    responses((status = 200, body = MediaHandlerView), (status = 401, body = ApiError), (status = 404, body = ApiError))
)]
async fn update_media_handler(
    State(state): State<Arc<ApiState>>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    Json(update): Json<UpdateMediaHandler>,
) -> Result<Json<MediaHandlerView>, ApiError> {
    require_admin(&state, &headers)?;
    let hid = bandwidth::HandlerId(id.clone());
    state.registry.set_draining(&hid, update.draining)?;
    handler_views(&state)
        .into_iter()
        .find(|h| h.id == id)
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no media handler {id:?}")))
}

/// The contacts running now.
#[utoipa::path(
    get,
    path = "/api/v1/contacts",
    responses((status = 200, body = [LiveContact]), (status = 401, body = ApiError))
)]
async fn list_contacts(
    State(state): State<Arc<ApiState>>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Vec<LiveContact>>, ApiError> {
    require_admin(&state, &headers)?;
    Ok(Json(state.live.list()))
}

/// Filters of `GET /api/v1/cdrs`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CdrQuery {
    /// Arrived at or after (RFC 3339).
    pub from: Option<String>,
    /// Arrived before (RFC 3339).
    pub until: Option<String>,
    /// Last queue entered.
    pub queue: Option<String>,
    /// Agent who answered.
    pub agent: Option<String>,
    /// `in_progress` or `ended`.
    pub status: Option<String>,
    /// Abandoned or not.
    pub abandoned: Option<bool>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Records to skip.
    pub offset: Option<u64>,
}

/// A call record's main row.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CdrView {
    pub id: String,
    pub arrived_at: String,
    pub caller: Option<String>,
    pub dialed: Option<String>,
    pub flow: Option<String>,
    /// `in_progress` or `ended`.
    pub status: String,
    pub queue: Option<String>,
    pub queued_at: Option<String>,
    pub agent: Option<String>,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    /// `customer`, `agent` or `system`.
    pub hangup_by: Option<String>,
    pub end_reason: Option<String>,
    pub abandoned: bool,
    pub disposition: Option<String>,
    pub media_handler: Option<String>,
    pub codec: Option<String>,
    /// The bandwidth manager's explanation of the placement.
    #[schema(value_type = Object)]
    pub placement: Option<serde_json::Value>,
}

/// One flow state a contact entered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PathStepView {
    pub state: String,
    pub entered_at: String,
}

/// An offer to an agent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OfferView {
    pub agent: String,
    pub queue: Option<String>,
    pub offered_at: String,
    pub result: Option<String>,
    pub result_at: Option<String>,
}

/// A recording's index entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordingView {
    pub id: String,
    pub contact_id: String,
    /// `call` or `voicemail`.
    pub kind: String,
    pub path: String,
    pub started_at: String,
    pub duration_ms: Option<u64>,
    pub channels: u16,
    pub sample_rate: u32,
}

/// A full call record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CdrDetail {
    #[serde(flatten)]
    pub contact: CdrView,
    pub path: Vec<PathStepView>,
    pub offers: Vec<OfferView>,
    pub recordings: Vec<RecordingView>,
}

fn cdr_view(c: store::Contact) -> CdrView {
    let (media_handler, codec, placement) = match c.media {
        Some(m) => (
            Some(m.handler),
            m.codec,
            m.explanation.and_then(|x| serde_json::from_str(&x).ok()),
        ),
        None => (None, None, None),
    };
    CdrView {
        id: c.id,
        arrived_at: c.arrived_at.to_string(),
        caller: c.caller,
        dialed: c.dialed,
        flow: c.flow,
        status: c.status.as_str().into(),
        queue: c.queue,
        queued_at: c.queued_at.map(|t| t.to_string()),
        agent: c.agent,
        answered_at: c.answered_at.map(|t| t.to_string()),
        ended_at: c.ended_at.map(|t| t.to_string()),
        hangup_by: c.hangup_by.map(|p| p.as_str().into()),
        end_reason: c.end_reason,
        abandoned: c.abandoned,
        disposition: c.disposition,
        media_handler,
        codec,
        placement,
    }
}

fn recording_view(r: store::Recording) -> RecordingView {
    RecordingView {
        id: r.id,
        contact_id: r.contact_id,
        kind: r.kind.as_str().into(),
        path: r.path,
        started_at: r.started_at.to_string(),
        duration_ms: r.duration.map(|d| d.as_millis() as u64),
        channels: r.channels,
        sample_rate: r.sample_rate,
    }
}

fn timestamp(name: &str, value: &Option<String>) -> Result<Option<jiff::Timestamp>, ApiError> {
    value
        .as_deref()
        .map(|v| {
            v.parse::<jiff::Timestamp>().map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("{name}: {v:?} is not an RFC 3339 time: {e}"),
                )
            })
        })
        .transpose()
}

/// Call records, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/cdrs",
    params(CdrQuery),
    responses((status = 200, body = [CdrView]), (status = 400, body = ApiError), (status = 401, body = ApiError))
)]
async fn list_cdrs(
    State(state): State<Arc<ApiState>>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(q): axum::extract::Query<CdrQuery>,
) -> Result<Json<Vec<CdrView>>, ApiError> {
    require_admin(&state, &headers)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            s.parse::<store::ContactStatus>()
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
        })
        .transpose()?;
    let filter = store::ContactFilter {
        arrived_from: timestamp("from", &q.from)?,
        arrived_until: timestamp("until", &q.until)?,
        queue: q.queue,
        agent: q.agent,
        status,
        abandoned: q.abandoned,
        limit: q.limit.unwrap_or(store::DEFAULT_CONTACT_LIMIT).min(1000),
        offset: q.offset.unwrap_or(0),
    };
    let list = state.store.list_contacts(&filter).await?;
    Ok(Json(list.into_iter().map(cdr_view).collect()))
}

/// One call record with its flow path, offers and recordings.
#[utoipa::path(
    get,
    path = "/api/v1/cdrs/{id}",
    params(("id" = String, Path, description = "The contact id")),
    responses((status = 200, body = CdrDetail), (status = 401, body = ApiError), (status = 404, body = ApiError))
)]
async fn get_cdr(
    State(state): State<Arc<ApiState>>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CdrDetail>, ApiError> {
    require_admin(&state, &headers)?;
    let record =
        state.store.get_contact(&id).await?.ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("no call record {id:?}"))
        })?;
    Ok(Json(CdrDetail {
        contact: cdr_view(record.contact),
        path: record
            .path
            .into_iter()
            .map(|p| PathStepView {
                state: p.state,
                entered_at: p.entered_at.to_string(),
            })
            .collect(),
        offers: record
            .offers
            .into_iter()
            .map(|o| OfferView {
                agent: o.agent,
                queue: o.queue,
                offered_at: o.offered_at.to_string(),
                result: o.result.map(|r| r.as_str().into()),
                result_at: o.result_at.map(|t| t.to_string()),
            })
            .collect(),
        recordings: record.recordings.into_iter().map(recording_view).collect(),
    }))
}

/// A recording's WAV file.
#[utoipa::path(
    get,
    path = "/api/v1/recordings/{id}",
    params(("id" = String, Path, description = "The recording id")),
    responses(
        (status = 200, description = "The WAV file", content_type = "audio/wav"),
        (status = 401, body = ApiError),
        (status = 404, body = ApiError)
    )
)]
async fn get_recording(
    State(state): State<Arc<ApiState>>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let rec = state
        .store
        .get_recording(&id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no recording {id:?}")))?;
    let bytes = tokio::fs::read(&rec.path).await.map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("recording {id:?} has no readable file here: {e}"),
        )
    })?;
    Ok(([(axum::http::header::CONTENT_TYPE, "audio/wav")], bytes).into_response())
}

fn require_admin(state: &ApiState, headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    crate::agents::api::require_admin(&state.auth, headers)
}

/// A flow in service.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FlowView {
    pub name: String,
    /// Where it was loaded from (a file path, or `<name>.yaml` when uploaded).
    pub file: String,
    /// Its states, in file order.
    pub states: Vec<String>,
}

/// A flow with its YAML source.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FlowSource {
    #[serde(flatten)]
    pub flow: FlowView,
    pub source: String,
}

fn flow_view(f: &flow::Flow) -> FlowView {
    FlowView {
        name: f.name().to_string(),
        file: f.file().to_string(),
        states: f.state_names().map(str::to_string).collect(),
    }
}

/// The flows in service.
#[utoipa::path(get, path = "/api/v1/flows", responses((status = 200, body = [FlowView])))]
async fn list_flows(State(state): State<Arc<ApiState>>) -> Json<Vec<FlowView>> {
    let set = state.flows.read().unwrap_or_else(|p| p.into_inner());
    let views = set
        .names()
        .filter_map(|n| set.get(n))
        .map(|f| flow_view(&f))
        .collect();
    Json(views)
}

/// One flow and its YAML.
#[utoipa::path(
    get,
    path = "/api/v1/flows/{name}",
    params(("name" = String, Path, description = "The flow's name")),
    responses((status = 200, body = FlowSource), (status = 404, body = ApiError))
)]
async fn get_flow(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<FlowSource>, ApiError> {
    let flow = state
        .flows
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no flow {name:?}")))?;
    let source = match state.store.get_flow(&name).await? {
        Some(stored) => stored.value.source,
        None => tokio::fs::read_to_string(flow.file())
            .await
            .unwrap_or_default(),
    };
    Ok(Json(FlowSource {
        flow: flow_view(&flow),
        source,
    }))
}

/// Adds or replaces a flow (YAML body; admin token). It is validated like a
/// file — every problem is reported with its line — and put in service only
/// when valid: a bad flow never replaces a good one. Stored, so it survives
/// a restart.
#[utoipa::path(
    put,
    path = "/api/v1/flows/{name}",
    params(("name" = String, Path, description = "The flow's name")),
    request_body(content = String, content_type = "application/yaml"),
    responses(
        (status = 200, body = FlowView),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError)
    )
)]
async fn put_flow(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    body: String,
) -> Result<Json<FlowView>, ApiError> {
    require_admin(&state, &headers)?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{name:?} is not a flow name (letters, digits, - and _)"),
        ));
    }
    let prompts = flow::prompts_in_dir(&state.catalog.prompts).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the prompts: {e}"),
        )
    })?;
    let file = format!("{name}.yaml");
    // Compile first: nothing changes unless the flow is valid and named right.
    // (The catalog borrows `dyn NameSet`s, which are not `Sync`: it must not
    // live across an await.)
    let compile = |set: Option<&mut flow::FlowSet>| {
        let catalog = flow::Catalog::new(&prompts, &state.catalog.queues);
        match set {
            Some(set) => set.upsert(&file, &body, &catalog).map(|f| flow_view(&f)),
            None => flow::load_str(&file, &body, &catalog).map(|f| flow_view(&f)),
        }
        .map_err(|errors| ApiError::new(StatusCode::BAD_REQUEST, errors.to_string()))
    };
    let view = compile(None)?;
    if view.name != name {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the flow is named {:?}, not {name:?}", view.name),
        ));
    }
    state
        .store
        .upsert_flow(
            &store::Flow {
                name: name.clone(),
                source: body.clone(),
            },
            store::Origin::Api,
            jiff::Timestamp::now(),
        )
        .await?;
    compile(Some(
        &mut state.flows.write().unwrap_or_else(|p| p.into_inner()),
    ))?;
    tracing::info!(flow = %name, "flow replaced through the API");
    Ok(Json(view))
}
