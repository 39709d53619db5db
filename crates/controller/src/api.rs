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

use crate::registry::Registry;

/// What the API handlers reach.
#[derive(Clone)]
pub struct ApiState {
    pub registry: Registry,
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
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(list_media_handlers))
        .routes(routes!(register_media_handler))
        .routes(routes!(update_media_handler))
        .with_state(Arc::new(state))
        .split_for_parts();
    let api = Arc::new(api);
    router.route(
        "/api/v1/openapi.json",
        axum::routing::get(move || {
            let api = api.clone();
            async move { Json((*api).clone()) }
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

/// The media handlers, their state and load.
#[utoipa::path(
    get,
    path = "/api/v1/media-handlers",
    responses((status = 200, body = [MediaHandlerView]))
)]
async fn list_media_handlers(State(state): State<Arc<ApiState>>) -> Json<Vec<MediaHandlerView>> {
    let views = state
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
        .collect();
    Json(views)
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
    responses((status = 200, body = Registered), (status = 400, body = ApiError))
)]
async fn register_media_handler(
    State(state): State<Arc<ApiState>>,
    Json(reg): Json<media_api::Registration>,
) -> Result<Json<Registered>, ApiError> {
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
    responses((status = 200, body = MediaHandlerView), (status = 404, body = ApiError))
)]
async fn update_media_handler(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Json(update): Json<UpdateMediaHandler>,
) -> Result<Json<MediaHandlerView>, ApiError> {
    let hid = bandwidth::HandlerId(id.clone());
    state.registry.set_draining(&hid, update.draining)?;
    let Json(all) = list_media_handlers(State(state)).await;
    all.into_iter()
        .find(|h| h.id == id)
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no media handler {id:?}")))
}
