//! Character classes and a small cursor for the RFC 3261 §25 grammar.
//!
//! All SIP delimiters are ASCII, so the scanners work on bytes and only ever cut a `&str` at an
//! ASCII byte, which is always a character boundary. Header values keep their folded line
//! breaks (`CRLF` followed by a space or tab); the scanners treat such folds as whitespace.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::text::Text;

/// `token` characters: alphanum and `-.!%*_+`'~`.
pub(crate) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// `word` characters (Call-ID): token plus `()<>:\"/[]?{}`.
pub(crate) fn is_word(b: u8) -> bool {
    is_token(b)
        || matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        )
}

/// `unreserved` = alphanum / mark.
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Whether a whole string is a non-empty token.
pub(crate) fn is_token_str(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token)
}

/// Space or horizontal tab.
pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims linear whitespace (including folds) from both ends.
pub(crate) fn trim_lws(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n')
}

/// Checks `%HH` escapes and that every other byte satisfies `ok`.
pub(crate) fn check_escaped(s: &str, ok: impl Fn(u8) -> bool) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return Err("bad % escape".into()),
            }
        } else if ok(b[i]) {
            i += 1;
        } else {
            return Err(format!("unexpected character {:?}", char_at(s, i)));
        }
    }
    Ok(())
}

/// The character starting at byte `i` (for error messages).
pub(crate) fn char_at(s: &str, i: usize) -> char {
    s.get(i..).and_then(|r| r.chars().next()).unwrap_or('?')
}

/// Decodes `%HH` escapes; invalid UTF-8 after decoding is replaced.
pub fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (hex_val(b.get(i + 1)), hex_val(b.get(i + 2)))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex_val(b: Option<&u8>) -> Option<u8> {
    let b = *b?;
    (b as char).to_digit(16).map(|v| v as u8)
}

/// Removes the quotes of a quoted-string and resolves quoted-pairs. Input without a leading
/// quote is returned unchanged.
pub fn unquote(s: &str) -> Cow<'_, str> {
    let t = trim_lws(s);
    if !(t.len() >= 2 && t.starts_with('"') && t.ends_with('"')) {
        return Cow::Borrowed(t);
    }
    let inner = &t[1..t.len() - 1];
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Quotes a string as a quoted-string, escaping `"` and `\`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Parses `1*DIGIT` into a `u32`, failing on overflow.
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u32 = 0;
    for b in s.bytes() {
        v = v.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some(v)
}

/// Parses `delta-seconds`, saturating at `u32::MAX` as RFC 3261 §20.19 asks.
pub(crate) fn parse_delta_seconds(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(parse_u32(s).unwrap_or(u32::MAX))
}

/// A byte cursor over a `&str`.
#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a str) -> Cursor<'a> {
        Cursor { s, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    /// Slice between two positions previously returned by [`Cursor::pos`].
    pub(crate) fn between(&self, start: usize, end: usize) -> &'a str {
        &self.s[start..end]
    }

    /// Skips `LWS`: spaces, tabs, and line folds (a line break followed by a space or tab).
    /// Returns whether anything was skipped.
    pub(crate) fn skip_lws(&mut self) -> bool {
        let b = self.s.as_bytes();
        let start = self.pos;
        loop {
            while self.pos < b.len() && is_wsp(b[self.pos]) {
                self.pos += 1;
            }
            let nl = if b[self.pos..].starts_with(b"\r\n") {
                2
            } else if b[self.pos..].starts_with(b"\n") {
                1
            } else {
                0
            };
            if nl > 0 && self.pos + nl < b.len() && is_wsp(b[self.pos + nl]) {
                self.pos += nl;
                continue;
            }
            break;
        }
        self.pos > start
    }

    /// Consumes `c` if it is next.
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `SWS c SWS` if `c` follows (after optional whitespace). On failure the
    /// position is unchanged.
    pub(crate) fn eat_sep(&mut self, c: u8) -> bool {
        let save = self.pos;
        self.skip_lws();
        if self.eat(c) {
            self.skip_lws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Consumes bytes while `f` holds.
    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let b = self.s.as_bytes();
        let start = self.pos;
        while self.pos < b.len() && f(b[self.pos]) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// Consumes a non-empty token.
    pub(crate) fn token(&mut self) -> Option<&'a str> {
        let t = self.take_while(is_token);
        (!t.is_empty()).then_some(t)
    }

    /// Consumes a quoted-string starting at the cursor (which must be at `"`); returns it
    /// with its quotes.
    pub(crate) fn quoted_string(&mut self) -> Result<&'a str, &'static str> {
        let b = self.s.as_bytes();
        let start = self.pos;
        if b.get(self.pos) != Some(&b'"') {
            return Err("expected a quoted string");
        }
        let mut i = self.pos + 1;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(&self.s[start..self.pos]);
                }
                b'\\' => {
                    let Some(&n) = b.get(i + 1) else {
                        break;
                    };
                    if n == b'\r' || n == b'\n' {
                        return Err("line break after backslash in quoted string");
                    }
                    // Skip the whole escaped character, which may be multi-byte.
                    let len = char_at(self.s, i + 1).len_utf8();
                    i += 1 + len;
                }
                b'\r' | b'\n' => {
                    let nl = if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                    match b.get(i + nl) {
                        Some(&w) if is_wsp(w) => i += nl,
                        _ => return Err("unterminated quoted string"),
                    }
                }
                _ => i += 1,
            }
        }
        Err("unterminated quoted string")
    }
}

/// Splits a list header value at top-level commas (outside quotes and angle brackets).
/// Pieces are trimmed of whitespace; empty pieces are kept so callers can reject them.
pub(crate) fn split_list(s: &str) -> Result<Vec<&str>, &'static str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut angle = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let mut c = Cursor { s, pos: i };
                c.quoted_string()?;
                i = c.pos;
                continue;
            }
            b'<' => angle = true,
            b'>' => angle = false,
            b',' if !angle => {
                out.push(trim_lws(&s[start..i]));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if angle {
        return Err("unterminated <");
    }
    out.push(trim_lws(&s[start..]));
    Ok(out)
}

/// Iterates the `;name[=value]` parameters of a header (`generic-param`, LWS allowed around
/// `;` and `=`). Values are returned raw (quoted strings keep their quotes).
#[derive(Clone)]
pub struct ParamIter<'a> {
    cur: Cursor<'a>,
    failed: bool,
}

impl<'a> ParamIter<'a> {
    /// Iterates parameters in `s`, which starts (after optional whitespace) with `;` or is
    /// empty.
    pub(crate) fn new(s: &'a str) -> ParamIter<'a> {
        ParamIter {
            cur: Cursor::new(s),
            failed: false,
        }
    }

    /// Checks the whole list, returning the first problem.
    pub(crate) fn validate(s: &'a str) -> Result<(), String> {
        for p in ParamIter::new(s) {
            p?;
        }
        Ok(())
    }
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Result<(&'a str, Option<&'a str>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let c = &mut self.cur;
        c.skip_lws();
        if c.at_end() {
            return None;
        }
        let r = (|| {
            if !c.eat(b';') {
                return Err(format!(
                    "unexpected {:?} before parameter",
                    char_at(c.rest(), 0)
                ));
            }
            c.skip_lws();
            let name = c.token().ok_or_else(|| "empty parameter".to_string())?;
            if !c.eat_sep(b'=') {
                return Ok((name, None));
            }
            let value = if c.peek() == Some(b'"') {
                c.quoted_string().map_err(str::to_string)?
            } else {
                let v = c.take_while(|b| is_token(b) || b == b':' || b == b'[' || b == b']');
                if v.is_empty() {
                    return Err(format!("parameter {name} has an empty value"));
                }
                v
            };
            Ok((name, Some(value)))
        })();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// Looks up a parameter by case-insensitive name: `None` if absent, `Some(None)` if present
/// without value.
pub(crate) fn find_param<'a>(s: &'a str, name: &str) -> Option<Option<&'a str>> {
    ParamIter::new(s)
        .filter_map(Result::ok)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A host: domain name, IPv4 address or IPv6 address.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// A domain name (case preserved; compare with [`Host::eq_ignore_case`]).
    Domain(Text),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written in brackets in SIP).
    V6(Ipv6Addr),
}

impl Host {
    /// Parses `hostname / IPv4address / IPv6reference`. A bare IPv6 address without brackets
    /// is accepted too (some implementations put one in `received`).
    pub fn parse(s: &str) -> Result<Host, String> {
        Host::parse_in(None, s)
    }

    /// Parses a host that is a slice of `text` (a domain name then shares the buffer).
    pub(crate) fn parse_in(text: Option<&Text>, s: &str) -> Result<Host, String> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| "unterminated IPv6 reference".to_string())?;
            return inner
                .parse::<Ipv6Addr>()
                .map(Host::V6)
                .map_err(|_| format!("bad IPv6 address {inner:?}"));
        }
        if s.is_empty() {
            return Err("empty host".into());
        }
        if s.contains(':') {
            return s
                .parse::<Ipv6Addr>()
                .map(Host::V6)
                .map_err(|_| format!("bad host {s:?}"));
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && let Ok(a) = s.parse::<Ipv4Addr>()
        {
            return Ok(Host::V4(a));
        }
        if let Some(i) = s
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'))
        {
            return Err(format!("unexpected character {:?} in host", char_at(s, i)));
        }
        Ok(Host::Domain(match text {
            Some(t) => t.slice_ref(s),
            None => Text::from(s),
        }))
    }

    /// The address, when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
        }
    }

    /// Case-insensitive comparison (domain names are case-insensitive).
    pub fn eq_ignore_case(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            _ => self == other,
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Host {
        match ip {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Splits `host[:port]`, respecting IPv6 brackets.
#[cfg(test)]
pub(crate) fn split_hostport(s: &str) -> Result<(Host, Option<u16>), String> {
    split_hostport_in(None, s)
}

/// [`split_hostport`] for a slice of `text`.
pub(crate) fn split_hostport_in(
    text: Option<&Text>,
    s: &str,
) -> Result<(Host, Option<u16>), String> {
    let (host, port) = if s.starts_with('[') {
        match s.find(']') {
            Some(i) => (&s[..=i], &s[i + 1..]),
            None => return Err("unterminated IPv6 reference".into()),
        }
    } else {
        match s.find(':') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        }
    };
    let port = if port.is_empty() {
        None
    } else {
        let p = port
            .strip_prefix(':')
            .ok_or_else(|| format!("unexpected text {port:?} after host"))?;
        Some(parse_port(p)?)
    };
    Ok((Host::parse_in(text, host)?, port))
}

/// Parses a port number (1*DIGIT, at most 65535).
pub(crate) fn parse_port(p: &str) -> Result<u16, String> {
    parse_u32(p)
        .and_then(|v| u16::try_from(v).ok())
        .ok_or_else(|| format!("bad port {p:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_includes_folds() {
        let mut c = Cursor::new(" \r\n  x");
        assert!(c.skip_lws());
        assert_eq!(c.rest(), "x");
        let mut c = Cursor::new(" \r\nx");
        c.skip_lws();
        assert_eq!(
            c.rest(),
            "\r\nx",
            "a line break not followed by WSP ends the value"
        );
    }

    #[test]
    fn quoted_strings_handle_escapes_and_reject_unterminated() {
        let mut c = Cursor::new(r#""J Rosenberg \\\""  <x>"#);
        assert_eq!(c.quoted_string().unwrap(), r#""J Rosenberg \\\"""#);
        assert_eq!(unquote(r#""J Rosenberg \\\"""#), r#"J Rosenberg \""#);
        let mut c = Cursor::new(r#""Mr. J. User <sip:j.user@example.com>"#);
        assert_eq!(c.quoted_string(), Err("unterminated quoted string"));
    }

    #[test]
    fn list_split_respects_quotes_and_brackets() {
        let v = split_list(r#""a,b" <sip:x,y@h>;q=1 , <sip:z@h>"#).unwrap();
        assert_eq!(v, vec![r#""a,b" <sip:x,y@h>;q=1"#, "<sip:z@h>"]);
        assert_eq!(split_list(";;,;,,").unwrap(), vec![";;", ";", "", ""]);
    }

    #[test]
    fn params_allow_lws_and_reject_empty_names() {
        let p: Vec<_> = ParamIter::new(" ;  branch  =   z9hG4bK9ikj8 ; rport")
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(p, vec![("branch", Some("z9hG4bK9ikj8")), ("rport", None)]);
        assert!(ParamIter::validate(";;").is_err());
        assert!(ParamIter::validate(";a=").is_err());
        assert_eq!(find_param(";Tag=1;x", "tag"), Some(Some("1")));
    }

    #[test]
    fn hosts_parse_all_three_forms() {
        assert_eq!(Host::parse("[::1]").unwrap().to_string(), "[::1]");
        assert_eq!(
            Host::parse("192.0.2.1").unwrap(),
            Host::V4(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert!(Host::parse("exa mple").is_err());
        let (h, p) = split_hostport("[2001:db8::10]:5070").unwrap();
        assert_eq!(
            (h.to_string(), p),
            ("[2001:db8::10]".to_string(), Some(5070))
        );
        assert!(split_hostport("host:99999").is_err());
    }

    #[test]
    fn numbers_reject_overflow_but_delta_seconds_saturate() {
        assert_eq!(parse_u32("0009"), Some(9));
        assert_eq!(parse_u32("36893488147419103232"), None);
        assert_eq!(parse_delta_seconds("280297596632815"), Some(u32::MAX));
        assert_eq!(parse_delta_seconds("-1"), None);
    }

    #[test]
    fn escapes_are_checked_and_decoded() {
        assert!(check_escaped("a%20b", is_unreserved).is_ok());
        assert!(check_escaped("a%2", is_unreserved).is_err());
        assert!(check_escaped("a%zz", is_unreserved).is_err());
        assert_eq!(unescape("cal%6Cer"), "caller");
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
