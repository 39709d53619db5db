//! Stream framing: check, then parse (RFC 3261 §18.3).
//!
//! On TCP and TLS the driver accumulates bytes per connection and asks [`check_stream`] what
//! the buffer holds before parsing anything:
//!
//! - [`Framing::Complete`]: the first `len` bytes are one message; pass them to
//!   [`crate::Message::parse`] (or hand them to the endpoint) and drop them from the buffer.
//! - [`Framing::Incomplete`]: wait for more bytes.
//! - [`Framing::KeepAlive`]: the buffer starts with empty lines; drop them. A double CRLF
//!   (`n >= 4`) is an RFC 5626 ping, answered with a single CRLF.
//! - [`Framing::Invalid`]: the stream can no longer be framed (no or bad Content-Length, too
//!   large); answer `400` if a response can be formed, then close only this connection.

use crate::error::Error;
use crate::grammar::{is_wsp, parse_u32, trim_lws};
use crate::parse::{MAX_BODY_BYTES, MAX_HEADER_BYTES, find_head_end, skip_leading_crlf};

/// What the start of a stream buffer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// One whole message of this many bytes.
    Complete(usize),
    /// Not enough bytes yet.
    Incomplete,
    /// This many bytes of CR/LF keep-alive to discard.
    KeepAlive(usize),
    /// The stream is broken; close the connection after answering if possible.
    Invalid(Error),
}

/// Frames the first message of a stream buffer by its Content-Length.
pub fn check_stream(buf: &[u8]) -> Framing {
    let crlf = skip_leading_crlf(buf);
    if crlf > 0 {
        return Framing::KeepAlive(crlf);
    }
    let Some((head_end, body_start)) = find_head_end(buf) else {
        return if buf.len() > MAX_HEADER_BYTES {
            Framing::Invalid(Error::TooLarge {
                part: "header",
                limit: MAX_HEADER_BYTES,
            })
        } else {
            Framing::Incomplete
        };
    };
    if head_end > MAX_HEADER_BYTES {
        return Framing::Invalid(Error::TooLarge {
            part: "header",
            limit: MAX_HEADER_BYTES,
        });
    }
    let len = match content_length(&buf[..head_end]) {
        Ok(Some(len)) => len,
        Ok(None) => return Framing::Invalid(Error::StreamWithoutLength),
        Err(e) => return Framing::Invalid(e),
    };
    if len > MAX_BODY_BYTES {
        return Framing::Invalid(Error::TooLarge {
            part: "body",
            limit: MAX_BODY_BYTES,
        });
    }
    let total = body_start + len;
    if buf.len() >= total {
        Framing::Complete(total)
    } else {
        Framing::Incomplete
    }
}

/// Finds Content-Length (or `l`) in a raw header section, following folded lines.
fn content_length(head: &[u8]) -> Result<Option<usize>, Error> {
    let mut lines = head.split(|&c| c == b'\n').skip(1).peekable();
    let mut found: Option<usize> = None;
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|&c| is_wsp(c)) {
            // A folded continuation of some other header, never a header itself.
            continue;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let name = trim_bytes(&line[..colon]);
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let mut value = line[colon + 1..].to_vec();
        while let Some(next) = lines.peek() {
            if next.first().is_some_and(|&c| is_wsp(c)) {
                value.push(b' ');
                value.extend_from_slice(next.strip_suffix(b"\r").unwrap_or(next));
                lines.next();
            } else {
                break;
            }
        }
        let text = String::from_utf8_lossy(&value);
        let t = trim_lws(&text);
        let v = parse_u32(t)
            .map(|v| v as usize)
            .ok_or_else(|| Error::header("Content-Length", format!("not a length: {t:?}")))?;
        if found.is_some_and(|f| f != v) {
            return Err(Error::Duplicate("Content-Length"));
        }
        found = Some(v);
    }
    Ok(found)
}

fn trim_bytes(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !is_wsp(*c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_wsp(*c)).map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl : 3\r\n\r\nabc";

    #[test]
    fn complete_incomplete_and_pipelined() {
        assert_eq!(check_stream(MSG), Framing::Complete(MSG.len()));
        assert_eq!(check_stream(&MSG[..MSG.len() - 1]), Framing::Incomplete);
        assert_eq!(check_stream(&MSG[..20]), Framing::Incomplete);
        let mut two = MSG.to_vec();
        two.extend_from_slice(MSG);
        assert_eq!(check_stream(&two), Framing::Complete(MSG.len()));
    }

    #[test]
    fn keepalives_are_reported() {
        assert_eq!(check_stream(b"\r\n\r\n"), Framing::KeepAlive(4));
        assert_eq!(check_stream(b"\r\nOPT"), Framing::KeepAlive(2));
    }

    #[test]
    fn missing_or_negative_length_is_invalid() {
        let no_len = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
        assert_eq!(
            check_stream(no_len),
            Framing::Invalid(Error::StreamWithoutLength)
        );
        let neg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n";
        assert!(matches!(
            check_stream(neg),
            Framing::Invalid(Error::Header {
                name: "Content-Length",
                ..
            })
        ));
    }

    #[test]
    fn folded_line_that_looks_like_a_compact_header_is_a_continuation() {
        // Found by the round-trip property test: " l:" continues X-A's value.
        let msg = b"SIP/2.0 100 \r\nvia: SIP/2.0/UDP a;branch=z9hG4bK0\r\nX-A: a\r\n l:\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(check_stream(msg), Framing::Complete(msg.len()));
    }

    #[test]
    fn folded_content_length_is_followed() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n  2\r\n\r\nhi";
        assert_eq!(check_stream(m), Framing::Complete(m.len()));
    }

    #[test]
    fn oversized_header_is_invalid() {
        let big = vec![b'a'; MAX_HEADER_BYTES + 1];
        assert!(matches!(
            check_stream(&big),
            Framing::Invalid(Error::TooLarge { .. })
        ));
    }
}
