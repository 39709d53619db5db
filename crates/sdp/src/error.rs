//! The crate's one error type, with the SIP response each error is answered with.

/// What went wrong with an SDP body or an offer/answer exchange.
///
/// Each variant knows its SIP wire form: [`SdpError::status_code`] for the response to
/// the request that carried the SDP, [`SdpError::reason_phrase`] for its reason phrase, and
/// [`SdpError::warning_code`] for an RFC 3261 §20.43 `Warning` header where one applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body is not a syntactically valid session description (400).
    #[error("malformed SDP: {reason}")]
    Malformed {
        /// 1-based line number, when the problem sits on one line.
        line: Option<usize>,
        /// What is wrong, in words fit for a log or a `Warning` text (names the line
        /// when there is one).
        reason: String,
    },
    /// No offered stream has a codec we can use (488, Warning 305).
    #[error("no common codec: offered {offered}")]
    NoCommonCodec {
        /// The offered formats, for logs and the call record (e.g. `G723 iLBC`).
        offered: String,
    },
    /// Streams were offered only over transports we do not do, e.g. SDES-SRTP (488,
    /// Warning 302).
    #[error("incompatible transport protocol: {proto}")]
    IncompatibleTransport {
        /// The offered protocol, e.g. `RTP/SAVP`.
        proto: String,
    },
    /// The offer has no stream we can accept at all: none, all disabled, or only media
    /// types we do not handle (488, Warning 304).
    #[error("no acceptable media stream")]
    NoAcceptableStream,
    /// An answer does not fit the offer it answers (RFC 3264 §6): wrong m-line count,
    /// a different media type, or formats that were not offered (488).
    #[error("answer does not match the offer: {reason}")]
    AnswerMismatch {
        /// What does not match.
        reason: String,
    },
    /// The caller of this crate passed arguments that do not fit together, e.g. an
    /// answer plan for another offer or no port for an accepted stream. A bug in the
    /// caller, answered 500.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What does not fit.
        reason: String,
    },
}

impl SdpError {
    pub(crate) fn malformed(line: Option<usize>, reason: impl Into<String>) -> SdpError {
        SdpError::Malformed {
            line,
            reason: reason.into(),
        }
    }

    /// The SIP status code the request carrying this SDP is answered with: 400 for a
    /// malformed body, 488 (Not Acceptable Here) for everything negotiation refuses.
    ///
    /// For an answer received in a 2xx, no response can be sent; the dialog is
    /// acknowledged and then ended with BYE (RFC 3261 §13.2.2.4), and this code is a
    /// fitting `Reason` header value.
    pub fn status_code(&self) -> u16 {
        match self {
            SdpError::Malformed { .. } => 400,
            SdpError::NoCommonCodec { .. }
            | SdpError::IncompatibleTransport { .. }
            | SdpError::NoAcceptableStream
            | SdpError::AnswerMismatch { .. } => 488,
            SdpError::InvalidArgument { .. } => 500,
        }
    }

    /// A short reason phrase for the status line.
    pub fn reason_phrase(&self) -> &'static str {
        match self {
            SdpError::Malformed { .. } => "Malformed SDP",
            SdpError::NoCommonCodec { .. } => "Not Acceptable Here (no common codec)",
            SdpError::IncompatibleTransport { .. } => {
                "Not Acceptable Here (incompatible transport)"
            }
            SdpError::NoAcceptableStream => "Not Acceptable Here (no acceptable stream)",
            SdpError::AnswerMismatch { .. } => "Not Acceptable Here (answer mismatch)",
            SdpError::InvalidArgument { .. } => "Server Internal Error",
        }
    }

    /// The RFC 3261 `Warning` code that explains a 488: 302 incompatible transport
    /// protocol, 304 media type not available, 305 incompatible media format.
    pub fn warning_code(&self) -> Option<u16> {
        match self {
            SdpError::Malformed { .. }
            | SdpError::AnswerMismatch { .. }
            | SdpError::InvalidArgument { .. } => None,
            SdpError::IncompatibleTransport { .. } => Some(302),
            SdpError::NoAcceptableStream => Some(304),
            SdpError::NoCommonCodec { .. } => Some(305),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_is_400_and_negotiation_failures_are_488() {
        assert_eq!(SdpError::malformed(Some(3), "x").status_code(), 400);
        let e = SdpError::NoCommonCodec {
            offered: "G723".into(),
        };
        assert_eq!(e.status_code(), 488);
        assert_eq!(e.warning_code(), Some(305));
        assert_eq!(
            SdpError::IncompatibleTransport {
                proto: "RTP/SAVP".into()
            }
            .warning_code(),
            Some(302)
        );
        assert_eq!(SdpError::NoAcceptableStream.warning_code(), Some(304));
    }

    #[test]
    fn parser_errors_name_the_line() {
        let e = crate::SessionDescription::parse(b"v=0\r\ns=-\r\nm=audio x RTP/AVP 0\r\n")
            .expect_err("bad port");
        assert!(
            matches!(e, SdpError::Malformed { line: Some(3), .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("line 3"), "{e}");
    }
}
