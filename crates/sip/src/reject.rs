//! Answering what does not parse: given raw bytes that failed with an [`Error`], build the
//! `400` (or `505`) response when enough of the message can be recovered, or say "drop".
//!
//! A response can be formed when the bytes start like a request (not `SIP/...`, not `ACK`)
//! and the five headers a response copies (Via, From, To, Call-ID, CSeq) are present. Their
//! values are copied as they are (folds joined by a space), even when one of them is the
//! malformed part. Because such a request was never stamped with `received`/`rport`, the
//! driver sends the answer straight back to the packet's source address, or on the
//! connection it came from.

use crate::error::Error;
use crate::header::{Header, HeaderName};
use crate::message::Response;
use crate::parse::{find_head_end, skip_leading_crlf};

/// What to do with bytes that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Send this response back where the bytes came from.
    Respond(Response),
    /// Drop silently (a response, an ACK, or too little to answer).
    Drop,
}

/// Builds the answer to unparseable bytes: `Some(response)` with `err`'s status and text as
/// reason phrase, or `None` to drop.
pub fn error_response(raw: &[u8], err: &Error) -> Option<Response> {
    let status = err.status()?;
    let start = skip_leading_crlf(raw);
    let raw = &raw[start..];
    let head_len = find_head_end(raw).map_or(raw.len(), |(h, _)| h);
    let head = String::from_utf8_lossy(&raw[..head_len]);
    let mut lines = unfolded_lines(&head).into_iter();
    let first = lines.next()?;
    if crate::parse::starts_with_sip(&first) {
        return None;
    }
    let method = first.split([' ', '\t']).next().unwrap_or("");
    if method.is_empty() || method == "ACK" || !crate::grammar::is_token_str(method) {
        return None;
    }
    let mut vias = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let name = HeaderName::parse(name.trim_end());
        let slot = match name {
            HeaderName::Via => {
                vias.push(Header::new(HeaderName::Via, value).ok()?);
                continue;
            }
            HeaderName::From => &mut from,
            HeaderName::To => &mut to,
            HeaderName::CallId => &mut call_id,
            HeaderName::CSeq => &mut cseq,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(Header::new(name, value).ok()?);
        }
    }
    if vias.is_empty() {
        return None;
    }
    let mut resp = Response::new(status, &err.reason_phrase());
    let h = resp.headers_mut();
    for v in vias {
        h.push(v);
    }
    for x in [from?, to?, call_id?, cseq?] {
        h.push(x);
    }
    h.append(HeaderName::ContentLength, "0").ok()?;
    Some(resp)
}

/// [`error_response`] as a [`Rejection`].
pub fn reject(raw: &[u8], err: &Error) -> Rejection {
    error_response(raw, err).map_or(Rejection::Drop, Rejection::Respond)
}

/// Header lines with folds joined by a single space; bare CRs become spaces.
fn unfolded_lines(head: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in head.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line).replace('\r', " ");
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t'])
            && let Some(last) = out.last_mut()
        {
            last.push(' ');
            last.push_str(line.trim());
            continue;
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, StatusCode};

    #[test]
    fn a_request_with_the_five_headers_gets_a_400_naming_the_problem() {
        let raw = b"OPTIONS sip:user@example.com SIP/2.0\r\n\
To: sip:j.user@example.com\r\n\
From: sip:caller@example.net;tag=34525\r\n\
Max-Forwards: 6\r\n\
Call-ID: mismatch01.dj0234sxdfl3\r\n\
CSeq: 8 INVITE\r\n\
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r\n\
l: 0\r\n\r\n";
        let err = Message::parse(raw).unwrap_err();
        let r = error_response(raw, &err).unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.reason(),
            "CSeq method INVITE does not match request method OPTIONS"
        );
        assert_eq!(r.headers().call_id().unwrap(), "mismatch01.dj0234sxdfl3");
        assert!(
            Message::parse(&r.to_bytes()).is_ok(),
            "the 400 itself is well formed"
        );
    }

    #[test]
    fn responses_acks_and_headerless_garbage_are_dropped() {
        let err = Error::Empty;
        assert!(error_response(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", &err).is_none());
        let ack = b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n\r\n";
        assert!(error_response(ack, &err).is_none());
        assert!(
            error_response(
                b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n",
                &err
            )
            .is_none()
        );
        assert_eq!(reject(b"\x00\x01", &err), Rejection::Drop);
    }
}
