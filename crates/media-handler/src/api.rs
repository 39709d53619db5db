//! The HTTP side of the control interface: axum handlers (thin: they parse, call
//! [`Handler`], and answer), the WebSocket event stream, and the OpenAPI document.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use media_api::*;
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::Handler;

type Shared = State<Arc<AppState>>;

/// What the routes share.
pub struct AppState {
    pub(crate) handler: Arc<Handler>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// An [`ApiError`] as an HTTP answer.
#[derive(Debug)]
pub struct ErrorResponse(pub ApiError);

impl From<ApiError> for ErrorResponse {
    fn from(e: ApiError) -> Self {
        ErrorResponse(e)
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0)).into_response()
    }
}

type ApiResult<T> = Result<T, ErrorResponse>;

/// A JSON body whose rejections become [`ApiError`]s naming the problem.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ErrorResponse;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => {
                let code = match &e {
                    JsonRejection::JsonDataError(_) => ErrorCode::InvalidBody,
                    _ => ErrorCode::BadRequest,
                };
                Err(ErrorResponse(ApiError::new(code, e.body_text())))
            }
        }
    }
}

/// Path parameters whose rejections become [`ApiError`]s.
pub struct Ids<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Ids<T> {
    type Rejection = ErrorResponse;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Ids(v)),
            Err(e) => {
                let msg = match &e {
                    PathRejection::FailedToDeserializePathParams(d) => {
                        format!("bad id in the path: {}", d.body_text())
                    }
                    other => other.body_text(),
                };
                Err(ErrorResponse(ApiError::new(ErrorCode::BadRequest, msg)))
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard media handler",
        description = "Control interface of a Switchboard media handler: sessions, legs, route, play, record, mix, status, and an event stream at /v1/events (WebSocket, one JSON Event per message)."
    ),
    components(schemas(Event, Registration))
)]
struct ApiDoc;

/// The router: every endpoint under `/v1`, plus `/v1/openapi.json` and `/v1/events`. With a
/// control token every request but the OpenAPI document must carry it.
pub fn router(state: Arc<AppState>, token: Option<String>) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(status))
        .routes(routes!(list_sessions, create_session))
        .routes(routes!(get_session, delete_session))
        .routes(routes!(add_leg))
        .routes(routes!(get_leg, update_leg, remove_leg))
        .routes(routes!(create_route))
        .routes(routes!(delete_route))
        .routes(routes!(play, stop_play))
        .routes(routes!(start_recording))
        .routes(routes!(pause_recording))
        .routes(routes!(resume_recording))
        .routes(routes!(stop_recording))
        .routes(routes!(create_mix))
        .routes(routes!(delete_mix))
        .with_state(state.clone())
        .split_for_parts();
    let doc = Arc::new(doc);
    router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { Json((*doc).clone()) }
            }),
        )
        .route("/v1/events", axum::routing::get(events).with_state(state))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let token = token.clone();
                async move {
                    match &token {
                    Some(t) if req.uri().path() != "/v1/openapi.json" && !bearer_is(&req, t) => {
                        ErrorResponse(ApiError::new(
                            ErrorCode::Unauthorized,
                            "this handler needs its control token: Authorization: Bearer <token>",
                        ))
                        .into_response()
                    }
                    _ => next.run(req).await,
                }
                }
            },
        ))
        .fallback(|| async {
            ErrorResponse(ApiError::new(
                ErrorCode::BadRequest,
                "no such endpoint (see /v1/openapi.json)",
            ))
        })
}

/// Whether the request carries `Authorization: Bearer <token>` (compared in constant time).
fn bearer_is(req: &Request, token: &str) -> bool {
    let Some(given) = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().as_bytes())
    else {
        return false;
    };
    let want = token.as_bytes();
    given.len() == want.len() && given.iter().zip(want).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
}

/// Status: capacity, reservations, measured load, sessions.
#[utoipa::path(get, path = "/v1/status", tag = "status", responses((status = 200, body = Status)))]
async fn status(State(s): Shared) -> Json<Status> {
    Json(s.handler.status().await)
}

/// All sessions.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", responses((status = 200, body = Vec<Session>)))]
async fn list_sessions(State(s): Shared) -> ApiResult<Json<Vec<Session>>> {
    Ok(Json(s.handler.list_sessions().await?))
}

/// Create a session for the given media services.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = CreateSession,
    responses((status = 201, body = Session), (status = 400, body = ApiError), (status = 422, body = ApiError)))]
async fn create_session(
    State(s): Shared,
    Body(req): Body<CreateSession>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.handler.create_session(req).await?),
    ))
}

/// A session with its legs (live counters), routes, mixes and recordings.
#[utoipa::path(get, path = "/v1/sessions/{session_id}", tag = "sessions",
    params(("session_id" = u64, Path, description = "Session id")),
    responses((status = 200, body = Session), (status = 404, body = ApiError)))]
async fn get_session(State(s): Shared, Ids(sid): Ids<u64>) -> ApiResult<Json<Session>> {
    Ok(Json(s.handler.get_session(sid).await?))
}

/// Delete a session: its ports go back to the pool and its recordings are finalized.
#[utoipa::path(delete, path = "/v1/sessions/{session_id}", tag = "sessions",
    params(("session_id" = u64, Path, description = "Session id")),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_session(State(s): Shared, Ids(sid): Ids<u64>) -> ApiResult<StatusCode> {
    s.handler.delete_session(sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a leg; the answer gives the local RTP/RTCP ports (the outbound media ports).
#[utoipa::path(post, path = "/v1/sessions/{session_id}/legs", tag = "legs", request_body = AddLeg,
    params(("session_id" = u64, Path, description = "Session id")),
    responses((status = 201, body = Leg), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn add_leg(
    State(s): Shared,
    Ids(sid): Ids<u64>,
    Body(req): Body<AddLeg>,
) -> ApiResult<(StatusCode, Json<Leg>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.handler.add_leg(sid, req).await?),
    ))
}

/// A leg with live counters.
#[utoipa::path(get, path = "/v1/sessions/{session_id}/legs/{leg_id}", tag = "legs",
    params(("session_id" = u64, Path, description = "Session id"), ("leg_id" = u64, Path, description = "Leg id")),
    responses((status = 200, body = Leg), (status = 404, body = ApiError)))]
async fn get_leg(State(s): Shared, Ids((sid, lid)): Ids<(u64, u64)>) -> ApiResult<Json<Leg>> {
    Ok(Json(s.handler.get_leg(sid, lid).await?))
}

/// Update a leg (re-INVITE, hold/unhold).
#[utoipa::path(patch, path = "/v1/sessions/{session_id}/legs/{leg_id}", tag = "legs", request_body = UpdateLeg,
    params(("session_id" = u64, Path, description = "Session id"), ("leg_id" = u64, Path, description = "Leg id")),
    responses((status = 200, body = Leg), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
async fn update_leg(
    State(s): Shared,
    Ids((sid, lid)): Ids<(u64, u64)>,
    Body(req): Body<UpdateLeg>,
) -> ApiResult<Json<Leg>> {
    Ok(Json(s.handler.update_leg(sid, lid, req).await?))
}

/// Remove a leg (its ports go back to the pool).
#[utoipa::path(delete, path = "/v1/sessions/{session_id}/legs/{leg_id}", tag = "legs",
    params(("session_id" = u64, Path, description = "Session id"), ("leg_id" = u64, Path, description = "Leg id")),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn remove_leg(State(s): Shared, Ids((sid, lid)): Ids<(u64, u64)>) -> ApiResult<StatusCode> {
    s.handler.remove_leg(sid, lid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Route two legs, both directions (PCMU ↔ PCMA transcoded, telephone-events re-mapped).
#[utoipa::path(post, path = "/v1/sessions/{session_id}/routes", tag = "routes", request_body = CreateRoute,
    params(("session_id" = u64, Path, description = "Session id")),
    responses((status = 201, body = Route), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn create_route(
    State(s): Shared,
    Ids(sid): Ids<u64>,
    Body(req): Body<CreateRoute>,
) -> ApiResult<(StatusCode, Json<Route>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.handler.create_route(sid, req).await?),
    ))
}

/// Remove a route.
#[utoipa::path(delete, path = "/v1/sessions/{session_id}/routes/{route_id}", tag = "routes",
    params(("session_id" = u64, Path, description = "Session id"), ("route_id" = u64, Path, description = "Route id")),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_route(State(s): Shared, Ids((sid, rid)): Ids<(u64, u64)>) -> ApiResult<StatusCode> {
    s.handler.delete_route(sid, rid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Play a WAV file, a tone or silence to a leg.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/legs/{leg_id}/play", tag = "play", request_body = Play,
    params(("session_id" = u64, Path, description = "Session id"), ("leg_id" = u64, Path, description = "Leg id")),
    responses((status = 201, body = Playback), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn play(
    State(s): Shared,
    Ids((sid, lid)): Ids<(u64, u64)>,
    Body(req): Body<Play>,
) -> ApiResult<(StatusCode, Json<Playback>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.handler.play(sid, lid, req).await?),
    ))
}

/// Stop what plays on a leg and clear its queue.
#[utoipa::path(delete, path = "/v1/sessions/{session_id}/legs/{leg_id}/play", tag = "play",
    params(("session_id" = u64, Path, description = "Session id"), ("leg_id" = u64, Path, description = "Leg id")),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn stop_play(State(s): Shared, Ids((sid, lid)): Ids<(u64, u64)>) -> ApiResult<StatusCode> {
    s.handler.stop_play(sid, lid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start recording a leg, two legs as stereo, or a mix.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/recordings", tag = "recordings", request_body = StartRecording,
    params(("session_id" = u64, Path, description = "Session id")),
    responses((status = 201, body = Recording), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
async fn start_recording(
    State(s): Shared,
    Ids(sid): Ids<u64>,
    Body(req): Body<StartRecording>,
) -> ApiResult<(StatusCode, Json<Recording>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.handler.start_recording(sid, req).await?),
    ))
}

/// Pause a recording (silence is written meanwhile).
#[utoipa::path(post, path = "/v1/sessions/{session_id}/recordings/{recording_id}/pause", tag = "recordings",
    params(("session_id" = u64, Path, description = "Session id"), ("recording_id" = u64, Path, description = "Recording id")),
    responses((status = 200, body = Recording), (status = 404, body = ApiError)))]
async fn pause_recording(
    State(s): Shared,
    Ids((sid, rid)): Ids<(u64, u64)>,
) -> ApiResult<Json<Recording>> {
    Ok(Json(s.handler.pause_recording(sid, rid).await?))
}

/// Resume a paused recording.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/recordings/{recording_id}/resume", tag = "recordings",
    params(("session_id" = u64, Path, description = "Session id"), ("recording_id" = u64, Path, description = "Recording id")),
    responses((status = 200, body = Recording), (status = 404, body = ApiError)))]
async fn resume_recording(
    State(s): Shared,
    Ids((sid, rid)): Ids<(u64, u64)>,
) -> ApiResult<Json<Recording>> {
    Ok(Json(s.handler.resume_recording(sid, rid).await?))
}

/// Stop a recording; `recording_finished` follows on the event stream.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/recordings/{recording_id}/stop", tag = "recordings",
    params(("session_id" = u64, Path, description = "Session id"), ("recording_id" = u64, Path, description = "Recording id")),
    responses((status = 200, body = Recording), (status = 404, body = ApiError)))]
async fn stop_recording(
    State(s): Shared,
    Ids((sid, rid)): Ids<(u64, u64)>,
) -> ApiResult<Json<Recording>> {
    Ok(Json(s.handler.stop_recording(sid, rid).await?))
}

/// Mix three or more legs: each hears the others.
#[utoipa::path(post, path = "/v1/sessions/{session_id}/mixes", tag = "mixes", request_body = CreateMix,
    params(("session_id" = u64, Path, description = "Session id")),
    responses((status = 201, body = Mix), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn create_mix(
    State(s): Shared,
    Ids(sid): Ids<u64>,
    Body(req): Body<CreateMix>,
) -> ApiResult<(StatusCode, Json<Mix>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.handler.create_mix(sid, req).await?),
    ))
}

/// Remove a mix.
#[utoipa::path(delete, path = "/v1/sessions/{session_id}/mixes/{mix_id}", tag = "mixes",
    params(("session_id" = u64, Path, description = "Session id"), ("mix_id" = u64, Path, description = "Mix id")),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_mix(State(s): Shared, Ids((sid, mid)): Ids<(u64, u64)>) -> ApiResult<StatusCode> {
    s.handler.delete_mix(sid, mid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/events`: the WebSocket event stream.
async fn events(State(s): Shared, ws: WebSocketUpgrade) -> Response {
    let rx = s.handler.events.subscribe();
    let shutdown = s.shutdown.clone();
    ws.on_upgrade(move |socket| forward_events(socket, rx, shutdown))
}

async fn forward_events(
    mut socket: WebSocket,
    mut rx: broadcast::Receiver<Event>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = shutdown.changed() => break,
            msg = socket.recv() => match msg {
                Some(Ok(_)) => continue,
                _ => break,
            },
        };
        let ev = match ev {
            Ok(ev) => ev,
            Err(broadcast::error::RecvError::Lagged(missed)) => Event::Lagged { missed },
            Err(broadcast::error::RecvError::Closed) => break,
        };
        let Ok(text) = serde_json::to_string(&ev) else {
            continue;
        };
        if socket.send(Message::Text(text.into())).await.is_err() {
            break;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
