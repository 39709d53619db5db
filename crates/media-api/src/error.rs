//! The one error body of the control interface.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stable, machine-readable error code. The JSON spelling (`snake_case`) never changes
/// meaning; new codes may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request body or a parameter is malformed or out of range (400).
    BadRequest,
    /// The body is well-formed JSON of the wrong shape, e.g. an unknown field (422).
    InvalidBody,
    /// No session with this id (404).
    UnknownSession,
    /// No leg with this id in the session (404).
    UnknownLeg,
    /// No route with this id in the session (404).
    UnknownRoute,
    /// No recording with this id in the session (404).
    UnknownRecording,
    /// No mix with this id in the session (404).
    UnknownMix,
    /// A file to play does not exist or cannot be read (404).
    FileNotFound,
    /// The file exists but is not a supported WAV (PCM 16-bit mono) (400).
    UnsupportedFile,
    /// A codec the handler cannot send or receive (400).
    UnsupportedCodec,
    /// The RTP port pool has no free pair (409).
    PortsExhausted,
    /// The request does not fit the current state, e.g. routing a leg that is in a mix (409).
    InvalidState,
    /// The handler has a control token and the request did not carry it (401).
    Unauthorized,
    /// The handler is shutting down or a media thread is gone (503).
    Unavailable,
    /// A bug or an I/O failure on the handler's side (500).
    Internal,
}

impl ErrorCode {
    /// The HTTP status that carries this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::UnsupportedFile | ErrorCode::UnsupportedCodec => 400,
            ErrorCode::InvalidBody => 422,
            ErrorCode::UnknownSession
            | ErrorCode::UnknownLeg
            | ErrorCode::UnknownRoute
            | ErrorCode::UnknownRecording
            | ErrorCode::UnknownMix
            | ErrorCode::FileNotFound => 404,
            ErrorCode::PortsExhausted | ErrorCode::InvalidState => 409,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

/// The JSON body of every non-2xx answer: `{"error": "unknown_leg", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, thiserror::Error)]
#[error("{error:?}: {message}")]
pub struct ApiError {
    /// What went wrong, as a stable code.
    pub error: ErrorCode,
    /// A human-readable sentence naming the problem (which field, which id).
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            error,
            message: message.into(),
        }
    }

    /// The HTTP status that carries this error.
    pub fn http_status(&self) -> u16 {
        self.error.http_status()
    }
}
