//! The crate's one error type. Every error knows its category and, where a peer caused it,
//! the response that goes on the wire (`400` with the error text as reason phrase, `505` for
//! an unsupported version, ...).

use crate::message::StatusCode;

/// What kind of problem an [`Error`] is, which decides what the peer is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    /// The bytes are not a well-formed SIP message (answer `400`, or drop a response).
    Malformed,
    /// Well-formed, but something we do not support (e.g. `505 Version Not Supported`).
    Unsupported,
    /// The local caller used the API wrongly (unknown id, wrong state). Nothing goes on the wire.
    ApiMisuse,
}

/// Errors of the SIP stack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Nothing but whitespace was received.
    #[error("empty message")]
    Empty,
    /// The request or status line is malformed.
    #[error("invalid start line: {0}")]
    StartLine(String),
    /// The Request-URI is malformed or not allowed.
    #[error("invalid Request-URI: {0}")]
    RequestUri(String),
    /// A SIP version other than 2.0.
    #[error("SIP version {0} not supported")]
    Version(String),
    /// A header line that is not `name: value`.
    #[error("invalid header line: {0}")]
    HeaderLine(String),
    /// A known header whose value does not follow its grammar.
    #[error("invalid {name}: {reason}")]
    Header {
        /// Canonical header name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A header the message must have.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A header that may appear only once appears several times.
    #[error("more than one {0} header")]
    Duplicate(&'static str),
    /// The CSeq method differs from the request method.
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch {
        /// Method in the CSeq header.
        cseq: String,
        /// Method in the request line.
        method: String,
    },
    /// Content-Length announces more bytes than the datagram holds.
    #[error("Content-Length {declared} exceeds body of {available} bytes")]
    BodyTooShort {
        /// The Content-Length value.
        declared: usize,
        /// Bytes actually present after the header section.
        available: usize,
    },
    /// A stream message without Content-Length (RFC 3261 §18.3 makes it mandatory).
    #[error("missing Content-Length on a stream transport")]
    StreamWithoutLength,
    /// The header section or body exceeds the configured limit.
    #[error("message {part} exceeds {limit} bytes")]
    TooLarge {
        /// `"header"` or `"body"`.
        part: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// The header section is not valid UTF-8.
    #[error("header section is not valid UTF-8")]
    Utf8,
    /// A value given to a builder would produce an invalid message.
    #[error("invalid value for {what}: {reason}")]
    InvalidValue {
        /// What was being built.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// No transaction with this id (it may have terminated).
    #[error("no such transaction")]
    NoSuchTransaction,
    /// No dialog with this id (it may have terminated).
    #[error("no such dialog")]
    NoSuchDialog,
    /// The operation is not allowed in the current state.
    #[error("not allowed now: {0}")]
    InvalidState(&'static str),
    /// A re-INVITE cannot be sent while another INVITE transaction of the dialog is pending.
    #[error("an INVITE transaction is already pending in this dialog")]
    RequestPending,
}

impl Error {
    /// Shorthand for [`Error::Header`].
    pub(crate) fn header(name: &'static str, reason: impl Into<String>) -> Error {
        Error::Header {
            name,
            reason: reason.into(),
        }
    }

    /// The category of this error.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Error::Version(_) => ErrorCategory::Unsupported,
            Error::InvalidValue { .. }
            | Error::NoSuchTransaction
            | Error::NoSuchDialog
            | Error::InvalidState(_)
            | Error::RequestPending => ErrorCategory::ApiMisuse,
            _ => ErrorCategory::Malformed,
        }
    }

    /// The status a UAS answers a request with when parsing failed with this error, or
    /// `None` when the error does not come from a peer.
    pub fn status(&self) -> Option<StatusCode> {
        match self.category() {
            ErrorCategory::Malformed => Some(StatusCode::BAD_REQUEST),
            ErrorCategory::Unsupported => Some(StatusCode::VERSION_NOT_SUPPORTED),
            ErrorCategory::ApiMisuse => None,
        }
    }

    /// The error text made safe for a reason phrase: printable ASCII only, at most 120 bytes.
    pub fn reason_phrase(&self) -> String {
        let mut out: String = self
            .to_string()
            .chars()
            .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
            .collect();
        if out.len() > 120 {
            out.truncate(117);
            out.push_str("...");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(Error::Missing("Call-ID").to_string(), "missing Call-ID");
        assert_eq!(
            Error::CSeqMismatch {
                cseq: "INVITE".into(),
                method: "REGISTER".into()
            }
            .to_string(),
            "CSeq method INVITE does not match request method REGISTER"
        );
        assert_eq!(
            Error::BodyTooShort {
                declared: 300,
                available: 120
            }
            .to_string(),
            "Content-Length 300 exceeds body of 120 bytes"
        );
    }

    #[test]
    fn malformed_maps_to_400_and_version_to_505() {
        assert_eq!(Error::Missing("To").status(), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            Error::Version("SIP/7.0".into()).status(),
            Some(StatusCode::VERSION_NOT_SUPPORTED)
        );
        assert_eq!(Error::NoSuchDialog.status(), None);
    }

    #[test]
    fn reason_phrase_is_printable_and_bounded() {
        let e = Error::header("To", "bad \u{7} char ".repeat(20));
        let r = e.reason_phrase();
        assert!(r.len() <= 120);
        assert!(r.bytes().all(|b| (0x20..0x7f).contains(&b)));
    }
}
