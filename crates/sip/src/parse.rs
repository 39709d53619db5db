//! The message parser: bytes → [`Message`].
//!
//! The header section is validated as UTF-8 and copied once into a shared buffer; every header
//! value is a [`Text`] range of it. Every known header the stack relies on is checked against
//! its grammar here, so a message that parses can be answered, matched and routed without
//! further syntax errors. Unknown headers are kept as they are.
//!
//! Datagram semantics (RFC 3261 §18.3): the body is the rest of the datagram; a shorter
//! Content-Length truncates it, a longer one is an error. On streams, frame first with
//! [`crate::framing::check_stream`], then parse the complete frame with the same functions.

use std::sync::Arc;

use bytes::Bytes;

use crate::error::Error;
use crate::grammar::{is_token_str, is_wsp, parse_delta_seconds, split_list, trim_lws};
use crate::header::{
    Header, HeaderName, Headers, parse_content_length, parse_max_forwards, validate_call_id,
};
use crate::message::{Message, Method, Request, Response, StatusCode};
use crate::text::Text;
use crate::typed::{CSeq, MediaType, NameAddr, RetryAfter, Via, parse_token_list};
use crate::uri::Uri;

/// Largest header section accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

impl Message {
    /// Parses one message from a datagram (or a complete stream frame).
    pub fn parse(bytes: &[u8]) -> Result<Message, Error> {
        parse_message(bytes, |range| Bytes::copy_from_slice(&bytes[range]))
    }

    /// Like [`Message::parse`], but the body shares `bytes` instead of being copied.
    pub fn parse_bytes(bytes: Bytes) -> Result<Message, Error> {
        parse_message(&bytes, |range| bytes.slice(range))
    }
}

impl Request {
    /// Parses a request; a response is an error.
    pub fn parse(bytes: &[u8]) -> Result<Request, Error> {
        match Message::parse(bytes)? {
            Message::Request(r) => Ok(r),
            Message::Response(_) => Err(Error::StartLine("expected a request".into())),
        }
    }
}

impl Response {
    /// Parses a response; a request is an error.
    pub fn parse(bytes: &[u8]) -> Result<Response, Error> {
        match Message::parse(bytes)? {
            Message::Response(r) => Ok(r),
            Message::Request(_) => Err(Error::StartLine("expected a response".into())),
        }
    }
}

/// Skips the empty lines that may precede a message (RFC 3261 §7.5).
pub(crate) fn skip_leading_crlf(b: &[u8]) -> usize {
    b.iter().take_while(|&&c| c == b'\r' || c == b'\n').count()
}

/// Finds the end of the header section: returns (end of the last header line, start of the
/// body). Accepts CRLF CRLF and, leniently, LF LF.
pub(crate) fn find_head_end(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'\n') {
        let nl = i + off;
        let next = nl + 1;
        if b.get(next) == Some(&b'\n') {
            return Some((nl + 1, next + 1));
        }
        if b.get(next) == Some(&b'\r') && b.get(next + 1) == Some(&b'\n') {
            return Some((nl + 1, next + 2));
        }
        i = next;
    }
    None
}

fn parse_message(
    bytes: &[u8],
    body_of: impl FnOnce(std::ops::Range<usize>) -> Bytes,
) -> Result<Message, Error> {
    let start = skip_leading_crlf(bytes);
    if start == bytes.len() {
        return Err(Error::Empty);
    }
    let (head_end, body_start) = match find_head_end(&bytes[start..]) {
        Some((h, b)) => (start + h, start + b),
        // A datagram may end right after the last header line; accept it.
        None => (bytes.len(), bytes.len()),
    };
    if head_end - start > MAX_HEADER_BYTES {
        return Err(Error::TooLarge {
            part: "header",
            limit: MAX_HEADER_BYTES,
        });
    }
    let head = std::str::from_utf8(&bytes[start..head_end]).map_err(|_| Error::Utf8)?;
    let head = Text::from_shared(Arc::from(head));
    let (start_line, headers) = split_head(&head)?;
    let summary = validate_headers(&headers)?;

    let available = bytes.len() - body_start;
    let body_len = match summary.content_length {
        Some(declared) if declared > available => {
            return Err(Error::BodyTooShort {
                declared,
                available,
            });
        }
        Some(declared) => declared,
        None => available,
    };
    if body_len > MAX_BODY_BYTES {
        return Err(Error::TooLarge {
            part: "body",
            limit: MAX_BODY_BYTES,
        });
    }
    let body = if body_len == 0 {
        Bytes::new()
    } else {
        body_of(body_start..body_start + body_len)
    };

    match start_line {
        StartLine::Request { method, uri } => {
            check_request(&method, &uri, &summary)?;
            Ok(Message::Request(Request::from_parts(
                method, uri, headers, body,
            )))
        }
        StartLine::Response { status, reason } => {
            check_common(&summary)?;
            Ok(Message::Response(Response::from_parts(
                status, reason, headers, body,
            )))
        }
    }
}

enum StartLine {
    Request { method: Method, uri: Uri },
    Response { status: StatusCode, reason: Text },
}

/// Splits the head into the start line and header lines (unfolding continuation lines into
/// their header's value range).
fn split_head(head: &Text) -> Result<(StartLine, Headers), Error> {
    let s = head.as_str();
    let b = s.as_bytes();
    let line_end = |from: usize| -> (usize, usize) {
        match b[from..].iter().position(|&c| c == b'\n') {
            Some(off) => {
                let nl = from + off;
                let end = if nl > from && b[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (end, nl + 1)
            }
            None => (b.len(), b.len()),
        }
    };
    let (sl_end, mut pos) = line_end(0);
    let start_line = parse_start_line(head, &s[..sl_end])?;

    let mut headers = Headers::with_capacity(16);
    while pos < b.len() {
        let h_start = pos;
        let (mut end, mut next) = line_end(pos);
        if end == h_start {
            break;
        }
        if is_wsp(b[h_start]) {
            return Err(Error::HeaderLine(
                "continuation line without a header".into(),
            ));
        }
        // Continuation lines.
        while next < b.len() && is_wsp(b[next]) {
            let (e, n) = line_end(next);
            end = e;
            next = n;
        }
        pos = next;
        let line = &s[h_start..end];
        let colon = line
            .find(':')
            .ok_or_else(|| Error::HeaderLine(format!("no colon in {:?}", truncate(line))))?;
        let name = line[..colon].trim_end_matches([' ', '\t']);
        if !is_token_str(name) {
            return Err(Error::HeaderLine(format!(
                "bad header name {:?}",
                truncate(name)
            )));
        }
        let value = trim_lws(&line[colon + 1..]);
        if has_bare_cr(value) {
            return Err(Error::HeaderLine(format!("bare CR in {name}")));
        }
        headers.push(Header::from_parts(
            HeaderName::parse(name),
            head.slice(h_start..h_start + name.len()),
            head.slice_ref(value),
        ));
    }
    Ok((start_line, headers))
}

fn has_bare_cr(v: &str) -> bool {
    let b = v.as_bytes();
    b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'\r' && b.get(i + 1) != Some(&b'\n'))
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Whether a line starts with `SIP/` in any case (byte-wise: safe before any UTF-8 char).
pub(crate) fn starts_with_sip(line: &str) -> bool {
    line.as_bytes()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
}

fn check_version(v: &str) -> Result<(), Error> {
    if v.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    let looks_like_sip = v.len() > 4
        && starts_with_sip(v)
        && v.bytes().skip(4).all(|c| c.is_ascii_digit() || c == b'.');
    if looks_like_sip {
        Err(Error::Version(v.to_string()))
    } else {
        Err(Error::StartLine(format!("bad version {:?}", truncate(v))))
    }
}

fn parse_start_line(head: &Text, line: &str) -> Result<StartLine, Error> {
    if starts_with_sip(line) {
        let (version, rest) = line
            .split_once(' ')
            .ok_or_else(|| Error::StartLine("status line without status code".into()))?;
        check_version(version)?;
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Error::StartLine(format!(
                "bad status code {:?}",
                truncate(code)
            )));
        }
        let status = code
            .parse::<u16>()
            .ok()
            .and_then(StatusCode::new)
            .ok_or_else(|| Error::StartLine(format!("bad status code {code}")))?;
        return Ok(StartLine::Response {
            status,
            reason: head.slice_ref(reason),
        });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        let why = if line.ends_with(' ') || line.ends_with('\t') {
            "whitespace at the end of the request line"
        } else if line.contains("  ") || line.starts_with(' ') {
            "more than one space between request line elements"
        } else if parts.len() > 3 {
            "whitespace inside the Request-URI"
        } else {
            "expected Method SP Request-URI SP SIP-Version"
        };
        return Err(Error::StartLine(why.into()));
    }
    let (method, uri, version) = (parts[0], parts[1], parts[2]);
    if !is_token_str(method) {
        return Err(Error::StartLine(format!(
            "bad method {:?}",
            truncate(method)
        )));
    }
    check_version(version)?;
    let uri = Uri::parse_text(head.slice_ref(uri)).map_err(Error::RequestUri)?;
    Ok(StartLine::Request {
        method: Method::parse(method),
        uri,
    })
}

/// What validation learned that the message-level checks need.
#[derive(Default)]
struct Summary {
    vias: usize,
    from: usize,
    to: usize,
    call_id: usize,
    cseq: Option<CSeq>,
    cseq_count: usize,
    content_length: Option<usize>,
    content_length_count: usize,
    max_forwards: usize,
}

/// Parses the elements of one line of a comma-list header, in order.
fn each_element(
    h: &Header,
    canon: &'static str,
    mut f: impl FnMut(Text) -> Result<(), Error>,
) -> Result<usize, Error> {
    let pieces = split_list(h.value()).map_err(|e| Error::header(canon, e))?;
    for p in &pieces {
        if p.is_empty() {
            return Err(Error::header(canon, "empty list element"));
        }
        f(h.value_text().slice_ref(p))?;
    }
    Ok(pieces.len())
}

/// Checks every known header the stack depends on, in one pass, parsing each once.
fn validate_headers(headers: &Headers) -> Result<Summary, Error> {
    let mut sum = Summary::default();
    let mut contacts = 0usize;
    let mut star = false;
    for h in headers {
        let v = h.value();
        match h.name() {
            HeaderName::Via => {
                sum.vias += each_element(h, "Via", |t| Via::parse_text(t).map(|_| ()))?;
            }
            HeaderName::From => {
                NameAddr::parse_text(h.value_text().clone(), "From")?;
                sum.from += 1;
            }
            HeaderName::To => {
                NameAddr::parse_text(h.value_text().clone(), "To")?;
                sum.to += 1;
            }
            HeaderName::CallId => {
                validate_call_id(v)?;
                sum.call_id += 1;
            }
            HeaderName::CSeq => {
                sum.cseq = Some(CSeq::parse(v)?);
                sum.cseq_count += 1;
            }
            HeaderName::MaxForwards => {
                parse_max_forwards(v)?;
                sum.max_forwards += 1;
            }
            HeaderName::ContentLength => {
                sum.content_length = Some(parse_content_length(v)?);
                sum.content_length_count += 1;
            }
            HeaderName::ContentType => {
                MediaType::parse_text(h.value_text().clone())?;
            }
            HeaderName::Contact => {
                contacts += each_element(h, "Contact", |t| {
                    if t.as_str() == "*" {
                        star = true;
                        Ok(())
                    } else {
                        NameAddr::parse_text(t, "Contact").map(|_| ())
                    }
                })?;
            }
            HeaderName::Route => {
                each_element(h, "Route", |t| NameAddr::parse_text(t, "Route").map(|_| ()))?;
            }
            HeaderName::RecordRoute => {
                each_element(h, "Record-Route", |t| {
                    NameAddr::parse_text(t, "Record-Route").map(|_| ())
                })?;
            }
            HeaderName::Expires | HeaderName::MinExpires => {
                let canon = if h.name() == &HeaderName::Expires {
                    "Expires"
                } else {
                    "Min-Expires"
                };
                parse_delta_seconds(trim_lws(v)).ok_or_else(|| {
                    Error::header(canon, format!("not a number of seconds: {v:?}"))
                })?;
            }
            HeaderName::RetryAfter => {
                RetryAfter::parse(v)?;
            }
            HeaderName::Date => validate_date(v)?,
            HeaderName::Require => {
                parse_token_list("Require", v)?;
            }
            HeaderName::Supported => {
                parse_token_list("Supported", v)?;
            }
            HeaderName::Allow => {
                parse_token_list("Allow", v)?;
            }
            _ => {}
        }
    }
    if star && contacts != 1 {
        return Err(Error::header("Contact", "* must be the only contact"));
    }
    for (count, name) in [
        (sum.call_id, "Call-ID"),
        (sum.cseq_count, "CSeq"),
        (sum.from, "From"),
        (sum.to, "To"),
        (sum.content_length_count, "Content-Length"),
        (sum.max_forwards, "Max-Forwards"),
    ] {
        if count > 1 {
            return Err(Error::Duplicate(name));
        }
    }
    Ok(sum)
}

/// `rfc1123-date`: `wkday "," SP date1 SP time SP "GMT"` (RFC 3261 §20.17).
fn validate_date(v: &str) -> Result<(), Error> {
    let parts: Vec<&str> = trim_lws(v).split(' ').collect();
    let ok = parts.len() == 6
        && parts[0].len() == 4
        && parts[0].ends_with(',')
        && parts[1].len() == 2
        && parts[1].bytes().all(|c| c.is_ascii_digit())
        && parts[2].len() == 3
        && parts[3].len() == 4
        && parts[3].bytes().all(|c| c.is_ascii_digit())
        && parts[4].len() == 8;
    if !ok {
        return Err(Error::header(
            "Date",
            format!("not an RFC 1123 date: {:?}", truncate(v)),
        ));
    }
    if parts[5] != "GMT" {
        return Err(Error::header(
            "Date",
            format!("time zone must be GMT, not {}", truncate(parts[5])),
        ));
    }
    Ok(())
}

fn check_common(sum: &Summary) -> Result<&CSeq, Error> {
    for (count, name) in [
        (sum.vias, "Via"),
        (sum.from, "From"),
        (sum.to, "To"),
        (sum.call_id, "Call-ID"),
    ] {
        if count == 0 {
            return Err(Error::Missing(name));
        }
    }
    sum.cseq.as_ref().ok_or(Error::Missing("CSeq"))
}

fn check_request(method: &Method, uri: &Uri, sum: &Summary) -> Result<(), Error> {
    if uri.headers().is_some() {
        return Err(Error::RequestUri(
            "a Request-URI must not contain headers".into(),
        ));
    }
    let cseq = check_common(sum)?;
    if &cseq.method != method {
        return Err(Error::CSeqMismatch {
            cseq: cseq.method.to_string(),
            method: method.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\r\n";

    #[test]
    fn parses_a_basic_invite() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        let r = m.as_request().unwrap();
        assert_eq!(r.method(), &Method::Invite);
        assert_eq!(
            r.headers().call_id().unwrap(),
            "a84b4c76e66710@pc33.atlanta.example.com"
        );
        assert_eq!(r.body().as_ref(), b"v=0\r");
        assert_eq!(r.headers().from().unwrap().tag(), Some("1928301774"));
    }

    #[test]
    fn content_length_shorter_than_datagram_truncates() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.body().len(), 4);
    }

    #[test]
    fn content_length_longer_than_datagram_is_an_error() {
        let s = INVITE.replace("Content-Length: 4", "Content-Length: 300");
        let e = Message::parse(s.as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "Content-Length 300 exceeds body of 5 bytes");
    }

    #[test]
    fn cseq_mismatch_is_named() {
        let s = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 REGISTER");
        let e = Message::parse(s.as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CSeq method REGISTER does not match request method INVITE"
        );
    }

    #[test]
    fn missing_call_id_is_named() {
        let s = INVITE.replace("Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", "");
        assert_eq!(
            Message::parse(s.as_bytes()).unwrap_err(),
            Error::Missing("Call-ID")
        );
    }

    #[test]
    fn leading_crlf_is_skipped_and_empty_input_rejected() {
        let s = format!("\r\n\r\n{INVITE}");
        assert!(Message::parse(s.as_bytes()).is_ok());
        assert_eq!(Message::parse(b"\r\n\r\n").unwrap_err(), Error::Empty);
    }

    #[test]
    fn bytes_parse_shares_the_body() {
        let b = Bytes::from(INVITE.as_bytes().to_vec());
        let m = Message::parse_bytes(b.clone()).unwrap();
        assert_eq!(m.body().as_ptr(), b[b.len() - 5..].as_ptr());
    }

    #[test]
    fn non_utf8_headers_are_rejected_but_binary_bodies_are_fine() {
        let mut raw = INVITE
            .replace("Content-Length: 4", "Content-Length: 5")
            .into_bytes();
        let n = raw.len();
        raw[n - 1] = 0xff;
        assert!(Message::parse(&raw).is_ok());
        let bad = INVITE.replace("Bob <", "B\u{0}ob <");
        assert!(Message::parse(bad.as_bytes()).is_err());
        let mut raw = INVITE.as_bytes().to_vec();
        raw[60] = 0xff;
        assert_eq!(Message::parse(&raw).unwrap_err(), Error::Utf8);
    }

    #[test]
    fn dates_must_be_gmt() {
        assert!(validate_date("Sat, 15 Oct 2005 04:44:56 GMT").is_ok());
        assert!(validate_date("Fri, 01 Jan 2010 16:00:00 EST").is_err());
    }
}
