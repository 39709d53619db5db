//! Typed views of the header values the stack uses: [`Via`], [`NameAddr`] (From, To, Contact,
//! Route, Record-Route), [`CSeq`], [`MediaType`], [`RetryAfter`]. Each keeps its original text
//! and the offsets of its parts, so unknown parameters survive unchanged; "modifying" one builds
//! a new value from text.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;

use crate::error::Error;
use crate::grammar::{
    Cursor, Host, ParamIter, char_at, find_param, is_token, parse_delta_seconds, parse_port,
    parse_u32, quote, trim_lws, unquote,
};
use crate::message::Method;
use crate::text::Text;
use crate::transport::Transport;
use crate::uri::Uri;

fn r(range: Range<usize>) -> Range<u32> {
    range.start as u32..range.end as u32
}

fn sub<'a>(text: &'a Text, range: &Range<u32>) -> &'a str {
    &text.as_str()[range.start as usize..range.end as usize]
}

/// One Via header value (RFC 3261 §20.42): the sent-protocol, the sent-by address and
/// parameters (`branch`, `received`, `rport`, `maddr`, ...).
#[derive(Clone, PartialEq, Eq)]
pub struct Via {
    text: Text,
    transport: Transport,
    transport_name: Range<u32>,
    host: Host,
    port: Option<u16>,
    params: Range<u32>,
}

/// The RFC 3261 magic cookie that starts every branch this stack generates.
pub const BRANCH_MAGIC: &str = "z9hG4bK";

impl Via {
    /// Parses one Via value (no commas).
    pub fn parse(s: &str) -> Result<Via, Error> {
        Via::parse_text(Text::from(s))
    }

    pub(crate) fn parse_text(text: Text) -> Result<Via, Error> {
        let err = |m: String| Error::header("Via", m);
        let s = text.as_str();
        let mut c = Cursor::new(s);
        c.skip_lws();
        let proto = c
            .token()
            .ok_or_else(|| err("missing protocol name".into()))?;
        if !c.eat_sep(b'/') {
            return Err(err("expected / after protocol name".into()));
        }
        let version = c
            .token()
            .ok_or_else(|| err("missing protocol version".into()))?;
        if !c.eat_sep(b'/') {
            return Err(err("expected / after protocol version".into()));
        }
        if !proto.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err(err(format!("unsupported protocol {proto}/{version}")));
        }
        let t_start = c.pos();
        let tname = c.token().ok_or_else(|| err("missing transport".into()))?;
        let t_end = t_start + tname.len();
        if !c.skip_lws() {
            return Err(err("expected whitespace before sent-by".into()));
        }
        let h_start = c.pos();
        if c.peek() == Some(b'[') {
            c.take_while(|b| b != b']');
            if !c.eat(b']') {
                return Err(err("unterminated IPv6 reference".into()));
            }
        } else {
            c.take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        }
        let host = Host::parse_in(Some(&text), c.between(h_start, c.pos())).map_err(err)?;
        let port = if c.eat_sep(b':') {
            let p = c.take_while(|b| b.is_ascii_digit());
            Some(parse_port(p).map_err(err)?)
        } else {
            None
        };
        let p_start = c.pos();
        let params = &s[p_start..];
        ParamIter::validate(params).map_err(err)?;
        if let Some(Some(rport)) = find_param(params, "rport") {
            parse_port(rport).map_err(|e| err(format!("rport: {e}")))?;
        }
        if let Some(Some(ttl)) = find_param(params, "ttl") {
            parse_u32(ttl)
                .filter(|v| *v <= 255)
                .ok_or_else(|| err(format!("bad ttl {ttl:?}")))?;
        }
        Ok(Via {
            transport: Transport::from_name(tname),
            transport_name: r(t_start..t_end),
            host,
            port,
            params: r(p_start..s.len()),
            text,
        })
    }

    /// Builds `SIP/2.0/<transport> host[:port];branch=<branch>`.
    pub fn new(
        transport: Transport,
        host: &Host,
        port: Option<u16>,
        branch: &str,
    ) -> Result<Via, Error> {
        let mut s = format!("SIP/2.0/{} {}", transport.as_str(), host);
        if let Some(p) = port {
            s.push_str(&format!(":{p}"));
        }
        s.push_str(";branch=");
        s.push_str(branch);
        Via::parse(&s)
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// The transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The transport name as written.
    pub fn transport_name(&self) -> &str {
        sub(&self.text, &self.transport_name)
    }

    /// The sent-by host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The sent-by port as written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The sent-by port, defaulting by transport (5060, or 5061 for TLS).
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or_else(|| self.transport.default_port())
    }

    /// The raw parameter section (starting with optional whitespace and `;`).
    pub fn params_str(&self) -> &str {
        sub(&self.text, &self.params)
    }

    /// Iterates the parameters.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        ParamIter::new(self.params_str()).filter_map(Result::ok)
    }

    /// A parameter by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(self.params_str(), name)
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    /// Whether the branch starts with the RFC 3261 magic cookie `z9hG4bK`.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.starts_with(BRANCH_MAGIC) && b.len() > BRANCH_MAGIC.len())
    }

    /// The `received` parameter as written.
    pub fn received(&self) -> Option<&str> {
        self.param("received").flatten()
    }

    /// The `received` parameter as an address.
    pub fn received_ip(&self) -> Option<IpAddr> {
        self.received()
            .and_then(|r| Host::parse(r).ok())
            .and_then(|h| h.ip())
    }

    /// The `rport` parameter (RFC 3581): `None` when absent, `Some(None)` when requested
    /// without value, `Some(Some(port))` when filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport")
            .map(|v| v.and_then(|p| parse_port(p).ok()))
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.param("maddr").flatten()
    }

    /// The sent-by as `host[:port]` text, used to match server transactions.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{}", self.host, p),
            None => self.host.to_string(),
        }
    }

    /// A copy with a parameter set (added, or its value replaced in place).
    pub fn with_param(&self, name: &str, value: Option<&str>) -> Via {
        let s = self.as_str();
        let params = self.params_str();
        let mut out = String::with_capacity(s.len() + 24);
        out.push_str(&s[..self.params.start as usize]);
        let mut replaced = false;
        for (n, v) in ParamIter::new(params).filter_map(Result::ok) {
            out.push(';');
            if n.eq_ignore_ascii_case(name) && !replaced {
                replaced = true;
                out.push_str(n);
                if let Some(nv) = value {
                    out.push('=');
                    out.push_str(nv);
                }
            } else {
                out.push_str(n);
                if let Some(v) = v {
                    out.push('=');
                    out.push_str(v);
                }
            }
        }
        if !replaced {
            out.push(';');
            out.push_str(name);
            if let Some(nv) = value {
                out.push('=');
                out.push_str(nv);
            }
        }
        // Invariant: the prefix is a valid Via head and the parameters are tokens, a quoted
        // string or an address; callers pass token or address values.
        Via::parse(&out).unwrap_or_else(|_| self.clone())
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Via({})", self.as_str())
    }
}

/// A `name-addr` or `addr-spec` with header parameters: the value of From, To, Contact,
/// Route, Record-Route and Reply-To (RFC 3261 §20.10).
#[derive(Clone, PartialEq, Eq)]
pub struct NameAddr {
    text: Text,
    display: Option<Range<u32>>,
    uri: Uri,
    angle: bool,
    params: Range<u32>,
}

impl NameAddr {
    /// Parses one value (no list commas).
    pub fn parse(s: &str) -> Result<NameAddr, Error> {
        NameAddr::parse_text(Text::from(s), "name-addr")
    }

    pub(crate) fn parse_text(text: Text, header: &'static str) -> Result<NameAddr, Error> {
        let err = |m: String| Error::header(header, m);
        let s = text.as_str();
        let mut c = Cursor::new(s);
        c.skip_lws();
        let mut display = None;
        let angle;
        if c.peek() == Some(b'"') {
            let d_start = c.pos();
            let q = c.quoted_string().map_err(|e| err(e.to_string()))?;
            display = Some(r(d_start..d_start + q.len()));
            c.skip_lws();
            if c.peek() != Some(b'<') {
                return Err(err("expected < after display name".into()));
            }
            angle = true;
        } else if c.peek() == Some(b'<') {
            angle = true;
        } else {
            // Either display-name tokens followed by `<`, or an addr-spec.
            let d_start = c.pos();
            let mut d_end = d_start;
            loop {
                if c.token().is_none() {
                    break;
                }
                d_end = c.pos();
                c.skip_lws();
            }
            if c.peek() == Some(b'<') && d_end > d_start {
                display = Some(r(d_start..d_end));
                angle = true;
            } else if s[..s.find(';').unwrap_or(s.len())].contains('<') {
                return Err(err(
                    "a display name with non-token characters must be quoted".into(),
                ));
            } else {
                c = Cursor::new(s);
                c.skip_lws();
                angle = false;
            }
        }
        let (uri_range, after) = if angle {
            if !c.eat(b'<') {
                return Err(err("expected <".into()));
            }
            let u_start = c.pos();
            let inner = c.take_while(|b| b != b'>');
            if !c.eat(b'>') {
                return Err(err("unterminated <".into()));
            }
            if inner
                .bytes()
                .any(|b| b == b' ' || b == b'\t' || b == b'\r' || b == b'\n')
            {
                return Err(err("whitespace inside <addr-spec>".into()));
            }
            (u_start..u_start + inner.len(), c.pos())
        } else {
            let u_start = c.pos();
            let spec =
                c.take_while(|b| b != b';' && b != b' ' && b != b'\t' && b != b'\r' && b != b'\n');
            if spec.is_empty() {
                return Err(err("missing URI".into()));
            }
            if spec.contains('?') || spec.contains(',') {
                return Err(err("a URI with headers must be enclosed in <>".into()));
            }
            if let Some(i) = spec
                .bytes()
                .position(|b| b == b'<' || b == b'>' || b == b'"')
            {
                return Err(err(format!("unexpected character {:?}", char_at(spec, i))));
            }
            (u_start..u_start + spec.len(), c.pos())
        };
        let uri =
            Uri::parse_text(text.slice(uri_range)).map_err(|e| err(format!("bad URI: {e}")))?;
        let params = &s[after..];
        ParamIter::validate(params).map_err(err)?;
        Ok(NameAddr {
            display,
            uri,
            angle,
            params: r(after..s.len()),
            text,
        })
    }

    /// Builds `["display"] <uri>`. The display name is quoted when it is not a plain token.
    pub fn new(display: Option<&str>, uri: &Uri) -> NameAddr {
        let mut s = String::new();
        if let Some(d) = display.filter(|d| !d.is_empty()) {
            if d.bytes().all(is_token) {
                s.push_str(d);
            } else {
                s.push_str(&quote(d));
            }
            s.push(' ');
        }
        s.push('<');
        s.push_str(uri.as_str());
        s.push('>');
        // Invariant: a quoted or token display name and a valid URI in <> always parse.
        NameAddr::parse(&s).expect("a built name-addr is valid")
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// The display name as written (with quotes when quoted).
    pub fn display_raw(&self) -> Option<&str> {
        self.display.as_ref().map(|d| sub(&self.text, d))
    }

    /// The display name without quotes and escapes.
    pub fn display_name(&self) -> Option<Cow<'_, str>> {
        self.display_raw().map(unquote)
    }

    /// The URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Whether the URI is written in angle brackets.
    pub fn is_name_addr(&self) -> bool {
        self.angle
    }

    /// The raw parameter section.
    pub fn params_str(&self) -> &str {
        sub(&self.text, &self.params)
    }

    /// Iterates the header parameters.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        ParamIter::new(self.params_str()).filter_map(Result::ok)
    }

    /// A header parameter by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(self.params_str(), name)
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// The Contact `expires` parameter (saturating at `u32::MAX`).
    pub fn expires(&self) -> Option<u32> {
        self.param("expires")
            .flatten()
            .and_then(|v| parse_delta_seconds(unquote(v).as_ref()))
    }

    /// The Contact `q` parameter in thousandths (`q=0.5` is 500).
    pub fn q(&self) -> Option<u16> {
        self.param("q").flatten().and_then(parse_qvalue)
    }

    /// A copy with the parameter set (added, or replaced in place); the URI and the other
    /// parameters are kept as written.
    pub fn with_param(&self, name: &str, value: Option<&str>) -> NameAddr {
        let s = self.as_str();
        let mut out = String::with_capacity(s.len() + 24);
        let head_end = self.params.start as usize;
        out.push_str(trim_lws(&s[..head_end]));
        if !self.angle {
            // An addr-spec URI gains brackets so that the result stays unambiguous.
            out = format!("<{}>", self.uri.as_str());
        }
        let mut replaced = false;
        for (n, v) in self.params() {
            out.push(';');
            out.push_str(n);
            let v = if n.eq_ignore_ascii_case(name) && !replaced {
                replaced = true;
                value
            } else {
                v
            };
            if let Some(v) = v {
                out.push('=');
                out.push_str(v);
            }
        }
        if !replaced {
            out.push(';');
            out.push_str(name);
            if let Some(v) = value {
                out.push('=');
                out.push_str(v);
            }
        }
        // Invariant: the head was valid and parameters are appended in valid syntax; a value
        // the caller passes that is not a token falls back to the unchanged value.
        NameAddr::parse(&out).unwrap_or_else(|_| self.clone())
    }

    /// A copy with the `tag` parameter set.
    pub fn with_tag(&self, tag: &str) -> NameAddr {
        self.with_param("tag", Some(tag))
    }

    /// A copy without the named parameter.
    pub fn without_param(&self, name: &str) -> NameAddr {
        if self.param(name).is_none() {
            return self.clone();
        }
        let s = self.as_str();
        let mut out = String::from(trim_lws(&s[..self.params.start as usize]));
        for (n, v) in self.params() {
            if n.eq_ignore_ascii_case(name) {
                continue;
            }
            out.push(';');
            out.push_str(n);
            if let Some(v) = v {
                out.push('=');
                out.push_str(v);
            }
        }
        // Invariant: removing a parameter keeps a valid value valid.
        NameAddr::parse(&out).unwrap_or_else(|_| self.clone())
    }
}

/// Parses a `qvalue` (`0`, `0.5`, `1.000`) into thousandths.
pub(crate) fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = match v.find('.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0u16,
        "1" => 1000,
        _ => return None,
    };
    let mut f: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        f += u16::from(b - b'0') * [100, 10, 1][i];
    }
    let q = whole + f;
    (q <= 1000).then_some(q)
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameAddr({})", self.as_str())
    }
}

/// The Contact header of a REGISTER may be `*` (remove all bindings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *`
    Star,
    /// A list of contacts (possibly empty when the header is absent).
    List(Vec<NameAddr>),
}

/// The CSeq header: sequence number and method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CSeq {
    /// The sequence number (fits in 32 bits, RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses a CSeq value (`"8 INVITE"`; LWS and leading zeros allowed).
    pub fn parse(s: &str) -> Result<CSeq, Error> {
        let err = |m: String| Error::header("CSeq", m);
        let mut c = Cursor::new(s);
        c.skip_lws();
        let digits = c.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(err("missing sequence number".into()));
        }
        let seq = parse_u32(digits)
            .ok_or_else(|| err(format!("sequence number {digits} exceeds 2^32-1")))?;
        if !c.skip_lws() {
            return Err(err("expected whitespace after sequence number".into()));
        }
        let m = c.token().ok_or_else(|| err("missing method".into()))?;
        c.skip_lws();
        if !c.at_end() {
            return Err(err("unexpected text after method".into()));
        }
        Ok(CSeq {
            seq,
            method: Method::parse(m),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// A media type (Content-Type, RFC 3261 §20.15): `type/subtype` and parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaType {
    text: Text,
    slash: u32,
    end: u32,
}

impl MediaType {
    /// Parses a Content-Type value.
    pub fn parse(s: &str) -> Result<MediaType, Error> {
        MediaType::parse_text(Text::from(s))
    }

    pub(crate) fn parse_text(text: Text) -> Result<MediaType, Error> {
        let err = |m: String| Error::header("Content-Type", m);
        let s = text.as_str();
        let mut c = Cursor::new(s);
        let t = c.token().ok_or_else(|| err("missing type".into()))?;
        if !c.eat_sep(b'/') {
            return Err(err("expected / in media type".into()));
        }
        let st_start = c.pos();
        c.token().ok_or_else(|| err("missing subtype".into()))?;
        let end = c.pos();
        let _ = t;
        ParamIter::validate(&s[end..]).map_err(err)?;
        let slash = s[..st_start].find('/').unwrap_or(0);
        Ok(MediaType {
            slash: slash as u32,
            end: end as u32,
            text,
        })
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// The top-level type (`application`).
    pub fn mtype(&self) -> &str {
        trim_lws(&self.text.as_str()[..self.slash as usize])
    }

    /// The subtype (`sdp`).
    pub fn subtype(&self) -> &str {
        trim_lws(&self.text.as_str()[self.slash as usize + 1..self.end as usize])
    }

    /// Whether this is `type/subtype` (case-insensitive), e.g. `is("application", "sdp")`.
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype().eq_ignore_ascii_case(mtype) && self.subtype().eq_ignore_ascii_case(subtype)
    }

    /// A parameter by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.text.as_str()[self.end as usize..], name)
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaType({})", self.as_str())
    }
}

/// The Retry-After header: seconds, optional comment and `duration` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryAfter {
    /// Seconds to wait (saturating at `u32::MAX`).
    pub seconds: u32,
    /// The `duration` parameter, if any.
    pub duration: Option<u32>,
}

impl RetryAfter {
    /// Parses `delta-seconds [comment] *(;param)`.
    pub fn parse(s: &str) -> Result<RetryAfter, Error> {
        let err = |m: String| Error::header("Retry-After", m);
        let mut c = Cursor::new(s);
        c.skip_lws();
        let digits = c.take_while(|b| b.is_ascii_digit());
        let seconds =
            parse_delta_seconds(digits).ok_or_else(|| err("missing delta-seconds".into()))?;
        c.skip_lws();
        let mut rest = c.rest();
        if rest.starts_with('(') {
            let b = rest.as_bytes();
            let (mut depth, mut i, mut closed) = (0usize, 0usize, false);
            while i < b.len() {
                match b[i] {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            closed = true;
                            i += 1;
                            break;
                        }
                    }
                    b'\\' => i += 1,
                    _ => {}
                }
                i += 1;
            }
            if !closed {
                return Err(err("unterminated comment".into()));
            }
            rest = &rest[i..];
        }
        ParamIter::validate(rest).map_err(err)?;
        let duration = find_param(rest, "duration")
            .flatten()
            .and_then(parse_delta_seconds);
        Ok(RetryAfter { seconds, duration })
    }
}

/// Parses a comma-separated token list (Allow, Supported, Require, ...).
pub(crate) fn parse_token_list<'a>(name: &'static str, s: &'a str) -> Result<Vec<&'a str>, Error> {
    let t = trim_lws(s);
    if t.is_empty() {
        // Allow and Supported may be empty.
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for piece in t.split(',') {
        let p = trim_lws(piece);
        if p.is_empty() || !p.bytes().all(is_token) {
            return Err(Error::header(name, format!("bad token {p:?}")));
        }
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_lws_everywhere_parses() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport(), Transport::Udp);
        assert_eq!(v.host().to_string(), "192.0.2.2");
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse(" SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239")
            .unwrap();
        assert_eq!(v.branch(), Some("z9hG4bK30239"));
        assert!(v.has_rfc3261_branch());
    }

    #[test]
    fn via_rejects_extra_separators_and_bad_versions() {
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDP host;rport=99999").is_err());
    }

    #[test]
    fn via_rport_and_received() {
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9]:5070;rport;branch=z9hG4bKx").unwrap();
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.port_or_default(), 5070);
        let v = v
            .with_param("received", Some("2001:db8::1"))
            .with_param("rport", Some("4000"));
        assert_eq!(
            v.as_str(),
            "SIP/2.0/UDP [2001:db8::9]:5070;rport=4000;branch=z9hG4bKx;received=2001:db8::1"
        );
        assert_eq!(v.rport(), Some(Some(4000)));
        assert_eq!(v.received_ip(), Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8"#
                .replace('\n', "\r\n")
                .as_str(),
        )
        .unwrap();
        assert_eq!(a.display_name().unwrap(), r#"J Rosenberg \""#);
        assert_eq!(a.tag(), Some("98asjd8"));
        let b = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(b.display_name().unwrap(), "caller");
        let c = NameAddr::parse("sip:caller@example.org;tag=33242").unwrap();
        assert!(!c.is_name_addr());
        assert_eq!(c.uri().as_str(), "sip:caller@example.org");
        assert_eq!(c.tag(), Some("33242"));
        let d =
            NameAddr::parse("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>").unwrap();
        assert_eq!(d.display_raw(), Some("token1~` token2'+_ token3*%!.-"));
    }

    #[test]
    fn name_addr_rejects_the_rfc4475_mistakes() {
        assert!(NameAddr::parse(r#""Mr. J. User <sip:j.user@example.com>"#).is_err());
        assert!(NameAddr::parse(r#""Watson, Thomas" < sip:t.watson@example.org >"#).is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(NameAddr::parse(r#""Joe" <sip:joe@example.org>;;;;"#).is_err());
    }

    #[test]
    fn name_addr_tags_and_contact_params() {
        let a = NameAddr::parse("sip:bob@example.com")
            .unwrap()
            .with_tag("abc");
        assert_eq!(a.as_str(), "<sip:bob@example.com>;tag=abc");
        let c = NameAddr::parse("<sip:a@h>;expires=280297596632815;q=0.33").unwrap();
        assert_eq!(c.expires(), Some(u32::MAX));
        assert_eq!(c.q(), Some(330));
        assert_eq!(
            c.without_param("q").as_str(),
            "<sip:a@h>;expires=280297596632815"
        );
        let n = NameAddr::new(Some("Alice Smith"), &Uri::parse("sip:a@h").unwrap());
        assert_eq!(n.as_str(), r#""Alice Smith" <sip:a@h>"#);
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("1.5"), None);
        assert_eq!(parse_qvalue("0.1234"), None);
    }

    #[test]
    fn cseq_with_fold_and_leading_zeros() {
        let c = CSeq::parse("0009\r\n  INVITE").unwrap();
        assert_eq!(
            c,
            CSeq {
                seq: 9,
                method: Method::Invite
            }
        );
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("1INVITE").is_err());
    }

    #[test]
    fn media_type_and_retry_after() {
        let m = MediaType::parse("multipart/mixed;boundary=7a9cbec02ceef655").unwrap();
        assert!(m.is("MULTIPART", "Mixed"));
        assert_eq!(m.param("boundary"), Some(Some("7a9cbec02ceef655")));
        let r = RetryAfter::parse("18000 (in a meeting) ;duration=3600").unwrap();
        assert_eq!(
            r,
            RetryAfter {
                seconds: 18000,
                duration: Some(3600)
            }
        );
        assert!(RetryAfter::parse("soon").is_err());
    }
}
