//! Building messages: requests from parts, responses to a request (RFC 3261 §8.2.6), and the
//! common responses a UAS sends.

use bytes::Bytes;

use crate::error::Error;
use crate::header::{Header, HeaderName, Headers};
use crate::message::{Method, Request, Response, StatusCode};
use crate::typed::{NameAddr, Via};
use crate::uri::Uri;

/// Builds a request header by header. Max-Forwards defaults to 70, CSeq's method is the
/// request method, and Content-Length always matches the body.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    method: Method,
    uri: Uri,
    headers: Headers,
    cseq: Option<u32>,
    max_forwards: u8,
    body: Option<(Option<String>, Bytes)>,
    error: Option<Error>,
}

impl RequestBuilder {
    /// Starts a request.
    pub fn new(method: Method, uri: Uri) -> RequestBuilder {
        RequestBuilder {
            method,
            uri,
            headers: Headers::new(),
            cseq: None,
            max_forwards: 70,
            body: None,
            error: None,
        }
    }

    fn push(mut self, name: HeaderName, value: &str) -> RequestBuilder {
        match Header::new(name, value) {
            Ok(h) => self.headers.push(h),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Adds a Via (call once per hop; the endpoint adds its own on send).
    pub fn via(self, via: &Via) -> RequestBuilder {
        self.push(HeaderName::Via, via.as_str())
    }

    /// Sets From.
    pub fn from(self, from: &NameAddr) -> RequestBuilder {
        self.push(HeaderName::From, from.as_str())
    }

    /// Sets To.
    pub fn to(self, to: &NameAddr) -> RequestBuilder {
        self.push(HeaderName::To, to.as_str())
    }

    /// Sets Call-ID.
    pub fn call_id(self, call_id: &str) -> RequestBuilder {
        self.push(HeaderName::CallId, call_id)
    }

    /// Sets the CSeq number.
    pub fn cseq(mut self, seq: u32) -> RequestBuilder {
        self.cseq = Some(seq);
        self
    }

    /// Sets Max-Forwards (default 70).
    pub fn max_forwards(mut self, hops: u8) -> RequestBuilder {
        self.max_forwards = hops;
        self
    }

    /// Adds a Contact.
    pub fn contact(self, contact: &NameAddr) -> RequestBuilder {
        self.push(HeaderName::Contact, contact.as_str())
    }

    /// Adds a Route.
    pub fn route(self, route: &NameAddr) -> RequestBuilder {
        self.push(HeaderName::Route, route.as_str())
    }

    /// Adds any header.
    pub fn header(self, name: HeaderName, value: &str) -> RequestBuilder {
        self.push(name, value)
    }

    /// Sets the body and its content type.
    pub fn body(mut self, content_type: &str, body: Bytes) -> RequestBuilder {
        self.body = Some((Some(content_type.to_string()), body));
        self
    }

    /// Finishes the request. Fails when a value was invalid or From, To, Call-ID or the CSeq
    /// number is missing.
    pub fn build(self) -> Result<Request, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let seq = self.cseq.ok_or(Error::Missing("CSeq"))?;
        let mut req = Request::new(self.method.clone(), self.uri);
        let headers = req.headers_mut();
        *headers = self.headers;
        headers.set(HeaderName::CSeq, &format!("{seq} {}", self.method))?;
        headers.set(HeaderName::MaxForwards, &self.max_forwards.to_string())?;
        headers.from()?;
        headers.to()?;
        headers.call_id()?;
        match self.body {
            Some((ct, body)) => req.set_body(ct.as_deref(), body)?,
            None => req.set_body(None, Bytes::new())?,
        }
        Ok(req)
    }
}

/// A response to `req` (RFC 3261 §8.2.6.2): copies every Via (in order), From, To, Call-ID
/// and CSeq; adds `to_tag` to To when To has none; Content-Length 0; the canonical reason.
pub fn response_to(req: &Request, status: StatusCode, to_tag: Option<&str>) -> Response {
    response_with_reason(req, status, status.canonical_reason(), to_tag)
}

/// Like [`response_to`], with a chosen reason phrase.
pub fn response_with_reason(
    req: &Request,
    status: StatusCode,
    reason: &str,
    to_tag: Option<&str>,
) -> Response {
    let mut resp = Response::new(status, reason);
    let src = req.headers();
    let out = resp.headers_mut();
    for h in src.iter() {
        match h.name() {
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                out.push(h.clone());
            }
            HeaderName::To => match (to_tag, src.to()) {
                (Some(tag), Ok(to)) if to.tag().is_none() => {
                    // Invariant: a tag this stack generates is a token, so the header is valid.
                    if let Ok(hdr) = Header::new(HeaderName::To, to.with_tag(tag).as_str()) {
                        out.push(hdr);
                    } else {
                        out.push(h.clone());
                    }
                }
                _ => out.push(h.clone()),
            },
            _ => {}
        }
    }
    // Invariant: an empty body with no content type always sets valid headers.
    let _ = resp.set_body(None, Bytes::new());
    resp
}

/// `100 Trying` (never carries a To tag).
pub fn trying(req: &Request) -> Response {
    response_to(req, StatusCode::TRYING, None)
}

/// `180 Ringing`.
pub fn ringing(req: &Request, to_tag: &str) -> Response {
    response_to(req, StatusCode::RINGING, Some(to_tag))
}

/// `200 OK`, with an optional body (content type, bytes).
pub fn ok(req: &Request, to_tag: &str, body: Option<(&str, Bytes)>) -> Result<Response, Error> {
    let mut r = response_to(req, StatusCode::OK, Some(to_tag));
    if let Some((ct, b)) = body {
        r.set_body(Some(ct), b)?;
    }
    Ok(r)
}

/// `404 Not Found`.
pub fn not_found(req: &Request, to_tag: &str) -> Response {
    response_to(req, StatusCode::NOT_FOUND, Some(to_tag))
}

/// `486 Busy Here`.
pub fn busy_here(req: &Request, to_tag: &str) -> Response {
    response_to(req, StatusCode::BUSY_HERE, Some(to_tag))
}

/// `487 Request Terminated`.
pub fn request_terminated(req: &Request, to_tag: &str) -> Response {
    response_to(req, StatusCode::REQUEST_TERMINATED, Some(to_tag))
}

/// `488 Not Acceptable Here`.
pub fn not_acceptable_here(req: &Request, to_tag: &str) -> Response {
    response_to(req, StatusCode::NOT_ACCEPTABLE_HERE, Some(to_tag))
}

/// `503 Service Unavailable` with `Retry-After: seconds`.
pub fn service_unavailable(req: &Request, to_tag: &str, retry_after: u32) -> Response {
    let mut r = response_to(req, StatusCode::SERVICE_UNAVAILABLE, Some(to_tag));
    // Invariant: a decimal number is a valid header value.
    let _ = r
        .headers_mut()
        .append(HeaderName::RetryAfter, &retry_after.to_string());
    r
}

/// `481 Call/Transaction Does Not Exist`.
pub fn call_does_not_exist(req: &Request) -> Response {
    response_to(req, StatusCode::CALL_DOES_NOT_EXIST, None)
}

/// `491 Request Pending` (re-INVITE glare).
pub fn request_pending(req: &Request) -> Response {
    response_to(req, StatusCode::REQUEST_PENDING, None)
}

/// `400 Bad Request` with a specific reason phrase.
pub fn bad_request(req: &Request, reason: &str) -> Response {
    response_with_reason(req, StatusCode::BAD_REQUEST, reason, None)
}

/// `500 Server Internal Error` with `Retry-After`, as RFC 3261 §14.2 asks for an INVITE that
/// arrives while another is pending.
pub fn server_internal_error(req: &Request, retry_after: u32) -> Response {
    let mut r = response_to(req, StatusCode::SERVER_INTERNAL_ERROR, None);
    // Invariant: a decimal number is a valid header value.
    let _ = r
        .headers_mut()
        .append(HeaderName::RetryAfter, &retry_after.to_string());
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn invite() -> Request {
        RequestBuilder::new(
            Method::Invite,
            Uri::parse("sip:1000@pbx.example.com").unwrap(),
        )
        .via(&Via::parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport").unwrap())
        .via(&Via::parse("SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKdef").unwrap())
        .from(&NameAddr::parse("<sip:alice@example.com>;tag=a1").unwrap())
        .to(&NameAddr::parse("<sip:1000@pbx.example.com>").unwrap())
        .call_id("c1@192.0.2.1")
        .cseq(7)
        .contact(&NameAddr::parse("<sip:alice@192.0.2.1>").unwrap())
        .body("application/sdp", Bytes::from_static(b"v=0\r\n"))
        .build()
        .unwrap()
    }

    #[test]
    fn built_requests_are_complete_and_reparse() {
        let r = invite();
        assert_eq!(r.headers().cseq().unwrap().seq, 7);
        assert_eq!(r.headers().max_forwards().unwrap(), Some(70));
        assert_eq!(r.headers().content_length().unwrap(), Some(5));
        let again = Message::parse(&r.to_bytes()).unwrap();
        assert_eq!(again, Message::Request(r));
    }

    #[test]
    fn builder_refuses_missing_headers_and_bad_values() {
        let u = Uri::parse("sip:a@b").unwrap();
        assert_eq!(
            RequestBuilder::new(Method::Options, u.clone())
                .cseq(1)
                .build()
                .unwrap_err(),
            Error::Missing("From")
        );
        assert!(
            RequestBuilder::new(Method::Options, u)
                .header(HeaderName::Subject, "a\r\nb")
                .build()
                .is_err()
        );
    }

    #[test]
    fn responses_copy_the_transaction_headers_and_add_a_to_tag() {
        let req = invite();
        let r = ringing(&req, "t1");
        assert_eq!(r.headers().vias().unwrap().len(), 2);
        assert_eq!(r.headers().to().unwrap().tag(), Some("t1"));
        assert_eq!(r.headers().cseq().unwrap(), req.headers().cseq().unwrap());
        assert!(r.headers().get(&HeaderName::Contact).is_none());
        assert_eq!(trying(&req).headers().to().unwrap().tag(), None);
        let s = service_unavailable(&req, "t1", 30);
        assert_eq!(s.headers().retry_after().unwrap().unwrap().seconds, 30);
        assert_eq!(s.reason(), "Service Unavailable");
        let reparsed = Message::parse(&s.to_bytes()).unwrap();
        assert_eq!(reparsed, Message::Response(s));
    }
}
