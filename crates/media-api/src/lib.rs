//! The media-handler control interface: the HTTP/JSON types under `/v1` and an async client.
//!
//! This crate is the contract between the conference controller and every media handler,
//! embedded or remote (design.md §2, "Control interface"). It is the only place where the media
//! plane meets JSON: the engine crates (`rtp`, `media`) know nothing of serde, and the handler
//! (`media-handler`) maps these types onto its core types explicitly.
//!
//! - [`types`]: requests, responses and events, with `utoipa` schemas for the OpenAPI document
//!   the handler serves at `/v1/openapi.json`.
//! - [`error`]: the one error body every endpoint returns ([`ApiError`]) and its stable codes.
//! - [`client`]: [`MediaClient`], the client the controller uses for embedded and remote
//!   handlers alike, and [`EventStream`] for the WebSocket at `/v1/events`.
//!
//! # Endpoints
//!
//! | method and path | body → answer |
//! |---|---|
//! | `GET /v1/status` | → [`Status`] |
//! | `GET /v1/sessions` | → `[`[`Session`]`]` |
//! | `POST /v1/sessions` | [`CreateSession`] → 201 [`Session`] |
//! | `GET /v1/sessions/{session_id}` | → [`Session`] |
//! | `DELETE /v1/sessions/{session_id}` | → 204 (ports back to the pool, recordings finalized) |
//! | `POST /v1/sessions/{session_id}/legs` | [`AddLeg`] → 201 [`Leg`] |
//! | `GET /v1/sessions/{session_id}/legs/{leg_id}` | → [`Leg`] (with live [`LegStats`]) |
//! | `PATCH /v1/sessions/{session_id}/legs/{leg_id}` | [`UpdateLeg`] → [`Leg`] |
//! | `DELETE /v1/sessions/{session_id}/legs/{leg_id}` | → 204 |
//! | `POST /v1/sessions/{session_id}/routes` | [`CreateRoute`] → 201 [`Route`] |
//! | `DELETE /v1/sessions/{session_id}/routes/{route_id}` | → 204 |
//! | `POST /v1/sessions/{session_id}/legs/{leg_id}/play` | [`Play`] → 201 [`Playback`] |
//! | `DELETE /v1/sessions/{session_id}/legs/{leg_id}/play` | → 204 (stops and clears the queue) |
//! | `POST /v1/sessions/{session_id}/recordings` | [`StartRecording`] → 201 [`Recording`] |
//! | `POST /v1/sessions/{session_id}/recordings/{recording_id}/pause` | → [`Recording`] |
//! | `POST /v1/sessions/{session_id}/recordings/{recording_id}/resume` | → [`Recording`] |
//! | `POST /v1/sessions/{session_id}/recordings/{recording_id}/stop` | → [`Recording`] |
//! | `POST /v1/sessions/{session_id}/mixes` | [`CreateMix`] → 201 [`Mix`] |
//! | `DELETE /v1/sessions/{session_id}/mixes/{mix_id}` | → 204 |
//! | `GET /v1/events` | WebSocket; one JSON [`Event`] per text message |
//! | `GET /v1/openapi.json` | the OpenAPI document |
//!
//! Every error is an [`ApiError`] body: 400/422 for a bad request, 404 for an unknown id,
//! 409 when the port pool is exhausted or the request does not fit the current state.

pub mod client;
pub mod error;
pub mod types;

pub use client::{CONNECT_TIMEOUT, ClientError, EventStream, MediaClient, REQUEST_TIMEOUT};
pub use error::{ApiError, ErrorCode};
pub use types::*;

/// The path prefix of every endpoint of this interface.
pub const API_PREFIX: &str = "/v1";

/// Where a media handler started with `--controller URL` posts its [`Registration`],
/// relative to the controller's base URL (`POST {controller}{REGISTRATION_PATH}`).
pub const REGISTRATION_PATH: &str = "/api/v1/media-handlers/register";
