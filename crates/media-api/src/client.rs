//! The async client of the control interface, one code path for embedded and remote handlers.

use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_tungstenite::tungstenite::Message;

use crate::error::ApiError;
use crate::types::*;

/// What can go wrong talking to a handler.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The handler answered with an error body.
    #[error("media handler answered {status}: {body}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error body.
        body: ApiError,
    },
    /// The handler answered with a status and a body that is not an [`ApiError`].
    #[error("media handler answered {status} with an unexpected body: {body}")]
    Unexpected {
        /// The HTTP status.
        status: u16,
        /// The first bytes of the body.
        body: String,
    },
    /// The request never got an answer (connection refused, timeout, ...).
    #[error("cannot reach the media handler: {0}")]
    Transport(#[from] reqwest::Error),
    /// The event stream failed.
    #[error("event stream: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// An event could not be decoded.
    #[error("event stream sent an undecodable message: {0}")]
    Decode(#[from] serde_json::Error),
}

impl ClientError {
    /// The [`ApiError`] the handler sent, if this is one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// How long a control request may take to connect.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a control request may take in all (the event stream has none).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A client for one media handler, e.g. `MediaClient::new("http://127.0.0.1:9090")`.
///
/// Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct MediaClient {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl MediaClient {
    /// A client for the handler whose control interface is at `base_url` (no `/v1`).
    pub fn new(base_url: impl Into<String>) -> Self {
        let mut base = base_url.into();
        while base.ends_with('/') {
            base.pop();
        }
        MediaClient {
            base,
            http: Self::http(None),
            token: None,
        }
    }

    /// The same client, sending `Authorization: Bearer <token>` with every request (for a
    /// handler started with `--control-token`); `None` sends none.
    pub fn with_token(mut self, token: Option<&str>) -> Self {
        let header = token.and_then(|t| {
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")).ok()?;
            v.set_sensitive(true);
            Some(v)
        });
        self.http = Self::http(header);
        self.token = token.map(str::to_owned);
        self
    }

    fn http(auth: Option<reqwest::header::HeaderValue>) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(v) = auth {
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        // A handler that accepts connections but never answers (stopped, wedged) must
        // not hold a contact task forever: every control request has a deadline.
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .default_headers(headers)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    }

    /// The base URL this client talks to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}{}", self.base, crate::API_PREFIX, path)
    }

    async fn answer<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        if (200..300).contains(&status) {
            let body = if bytes.is_empty() {
                &b"null"[..]
            } else {
                &bytes[..]
            };
            return serde_json::from_slice(body).map_err(|_| ClientError::Unexpected {
                status,
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            });
        }
        match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected {
                status,
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            }),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Self::answer(self.http.get(self.url(path)).send().await?).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        Self::answer(self.http.post(self.url(path)).json(body).send().await?).await
    }

    async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Self::answer(self.http.post(self.url(path)).send().await?).await
    }

    async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        Self::answer(self.http.patch(self.url(path)).json(body).send().await?).await
    }

    async fn delete(&self, path: &str) -> Result<(), ClientError> {
        Self::answer::<()>(self.http.delete(self.url(path)).send().await?).await
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/status").await
    }

    /// `GET /v1/sessions`.
    pub async fn list_sessions(&self) -> Result<Vec<Session>, ClientError> {
        self.get("/sessions").await
    }

    /// `POST /v1/sessions`.
    pub async fn create_session(&self, req: &CreateSession) -> Result<Session, ClientError> {
        self.post("/sessions", req).await
    }

    /// `GET /v1/sessions/{id}`.
    pub async fn session(&self, id: SessionId) -> Result<Session, ClientError> {
        self.get(&format!("/sessions/{id}")).await
    }

    /// `DELETE /v1/sessions/{id}`: ports go back to the pool, recordings are finalized.
    pub async fn delete_session(&self, id: SessionId) -> Result<(), ClientError> {
        self.delete(&format!("/sessions/{id}")).await
    }

    /// `POST /v1/sessions/{id}/legs`: the answer carries the leg's local RTP/RTCP ports.
    pub async fn add_leg(&self, session: SessionId, req: &AddLeg) -> Result<Leg, ClientError> {
        self.post(&format!("/sessions/{session}/legs"), req).await
    }

    /// `GET /v1/sessions/{id}/legs/{leg}` with live counters.
    pub async fn leg(&self, session: SessionId, leg: LegId) -> Result<Leg, ClientError> {
        self.get(&format!("/sessions/{session}/legs/{leg}")).await
    }

    /// `PATCH /v1/sessions/{id}/legs/{leg}` (re-INVITE, hold).
    pub async fn update_leg(
        &self,
        session: SessionId,
        leg: LegId,
        req: &UpdateLeg,
    ) -> Result<Leg, ClientError> {
        self.patch(&format!("/sessions/{session}/legs/{leg}"), req)
            .await
    }

    /// `DELETE /v1/sessions/{id}/legs/{leg}`.
    pub async fn remove_leg(&self, session: SessionId, leg: LegId) -> Result<(), ClientError> {
        self.delete(&format!("/sessions/{session}/legs/{leg}"))
            .await
    }

    /// `POST /v1/sessions/{id}/routes`.
    pub async fn create_route(
        &self,
        session: SessionId,
        req: &CreateRoute,
    ) -> Result<Route, ClientError> {
        self.post(&format!("/sessions/{session}/routes"), req).await
    }

    /// `DELETE /v1/sessions/{id}/routes/{route}`.
    pub async fn delete_route(
        &self,
        session: SessionId,
        route: RouteId,
    ) -> Result<(), ClientError> {
        self.delete(&format!("/sessions/{session}/routes/{route}"))
            .await
    }

    /// `POST /v1/sessions/{id}/legs/{leg}/play`.
    pub async fn play(
        &self,
        session: SessionId,
        leg: LegId,
        req: &Play,
    ) -> Result<Playback, ClientError> {
        self.post(&format!("/sessions/{session}/legs/{leg}/play"), req)
            .await
    }

    /// `DELETE /v1/sessions/{id}/legs/{leg}/play`: stop what plays and clear the queue.
    pub async fn stop_play(&self, session: SessionId, leg: LegId) -> Result<(), ClientError> {
        self.delete(&format!("/sessions/{session}/legs/{leg}/play"))
            .await
    }

    /// `POST /v1/sessions/{id}/recordings`.
    pub async fn start_recording(
        &self,
        session: SessionId,
        req: &StartRecording,
    ) -> Result<Recording, ClientError> {
        self.post(&format!("/sessions/{session}/recordings"), req)
            .await
    }

    /// `POST /v1/sessions/{id}/recordings/{rec}/pause`.
    pub async fn pause_recording(
        &self,
        session: SessionId,
        rec: RecordingId,
    ) -> Result<Recording, ClientError> {
        self.post_empty(&format!("/sessions/{session}/recordings/{rec}/pause"))
            .await
    }

    /// `POST /v1/sessions/{id}/recordings/{rec}/resume`.
    pub async fn resume_recording(
        &self,
        session: SessionId,
        rec: RecordingId,
    ) -> Result<Recording, ClientError> {
        self.post_empty(&format!("/sessions/{session}/recordings/{rec}/resume"))
            .await
    }

    /// `POST /v1/sessions/{id}/recordings/{rec}/stop`; `recording_finished` follows on the
    /// event stream once the file is closed.
    pub async fn stop_recording(
        &self,
        session: SessionId,
        rec: RecordingId,
    ) -> Result<Recording, ClientError> {
        self.post_empty(&format!("/sessions/{session}/recordings/{rec}/stop"))
            .await
    }

    /// `POST /v1/sessions/{id}/mixes`.
    pub async fn create_mix(
        &self,
        session: SessionId,
        req: &CreateMix,
    ) -> Result<Mix, ClientError> {
        self.post(&format!("/sessions/{session}/mixes"), req).await
    }

    /// `DELETE /v1/sessions/{id}/mixes/{mix}`.
    pub async fn delete_mix(&self, session: SessionId, mix: MixId) -> Result<(), ClientError> {
        self.delete(&format!("/sessions/{session}/mixes/{mix}"))
            .await
    }

    /// `GET /v1/openapi.json`, as raw JSON.
    pub async fn openapi(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/openapi.json").await
    }

    /// Connect to `/v1/events`. Events that happen before this returns are not seen.
    pub async fn events(&self) -> Result<EventStream, ClientError> {
        let url = match self.base.strip_prefix("http") {
            Some(rest) => format!("ws{rest}{}/events", crate::API_PREFIX),
            None => format!("{}{}/events", self.base, crate::API_PREFIX),
        };
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request()?;
        if let Some(t) = &self.token
            && let Ok(v) = format!("Bearer {t}").parse()
        {
            request.headers_mut().insert("authorization", v);
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(EventStream { ws })
    }
}

/// The handler's event stream (`/v1/events`).
pub struct EventStream {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    /// The next event; `None` when the handler closed the stream.
    pub async fn next(&mut self) -> Option<Result<Event, ClientError>> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(serde_json::from_str(text.as_str()).map_err(ClientError::from));
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }
}
