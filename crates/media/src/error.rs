//! The engine's one error type. Each variant says which category it is in, so the control
//! interface can map it to its wire form (404 unknown id, 409 invalid state, 400 bad input).

use crate::ids::{LegId, MixId, RecordingId, RouteId, SessionId};

/// Errors of the media engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// No such leg in this engine.
    #[error("unknown leg {0}")]
    UnknownLeg(LegId),
    /// No such route.
    #[error("unknown route {0}")]
    UnknownRoute(RouteId),
    /// No such recording.
    #[error("unknown recording {0}")]
    UnknownRecording(RecordingId),
    /// No such mix.
    #[error("unknown mix {0}")]
    UnknownMix(MixId),
    /// An id given for a new object is already used.
    #[error("id {0} is already in use")]
    DuplicateId(u64),
    /// The request does not fit the current state (the message says why).
    #[error("{0}")]
    InvalidState(String),
    /// Two legs of different sessions were combined.
    #[error("leg {leg} belongs to session {actual}, not {expected}")]
    WrongSession {
        /// The leg.
        leg: LegId,
        /// Its session.
        actual: SessionId,
        /// The session the request was for.
        expected: SessionId,
    },
    /// A codec the engine cannot handle (the message names it).
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    /// Bad parameters (the message names the problem).
    #[error("{0}")]
    BadRequest(String),
    /// An audio file that is not a supported WAV.
    #[error("unsupported audio file: {0}")]
    UnsupportedFile(String),
}

impl MediaError {
    /// Whether this error means "no such object" (a 404 on the control interface).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            MediaError::UnknownLeg(_)
                | MediaError::UnknownRoute(_)
                | MediaError::UnknownRecording(_)
                | MediaError::UnknownMix(_)
        )
    }
}
