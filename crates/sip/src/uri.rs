//! SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), and any other absolute URI as opaque
//! text. A [`Uri`] is its original text plus the offsets of its parts, so unknown parameters
//! and escapes survive byte for byte.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Range;

use crate::error::Error;
use crate::grammar::{Host, char_at, check_escaped, is_unreserved, split_hostport_in, unescape};
use crate::text::Text;
use crate::transport::Transport;

/// The scheme of a URI.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:`
    Tel,
    /// Any other scheme (kept as written, without the colon).
    Other(Text),
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        })
    }
}

/// A parsed URI. Equality and hashing are on the exact text; use [`Uri::matches`] for the
/// RFC 3261 §19.1.4 comparison.
#[derive(Clone)]
pub struct Uri {
    text: Text,
    scheme: Scheme,
    user: Option<Range<u32>>,
    password: Option<Range<u32>>,
    host: Option<Host>,
    port: Option<u16>,
    params: Range<u32>,
    headers: Option<Range<u32>>,
}

fn r(range: Range<usize>) -> Range<u32> {
    range.start as u32..range.end as u32
}

fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

fn is_header_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$' | b'=' | b'&'
        )
}

impl Uri {
    /// Parses a URI from a string.
    pub fn parse(s: &str) -> Result<Uri, Error> {
        Uri::parse_text(Text::from(s)).map_err(|reason| Error::InvalidValue {
            what: "URI",
            reason,
        })
    }

    /// Parses a URI that is a [`Text`] (no copy).
    pub(crate) fn parse_text(text: Text) -> Result<Uri, String> {
        let s = text.as_str();
        if let Some(i) = s.bytes().position(|b| b <= b' ' || b == 0x7f || b >= 0x80) {
            return Err(format!("unexpected character {:?}", char_at(s, i)));
        }
        if let Some(i) = s.bytes().position(|b| matches!(b, b'<' | b'>' | b'"')) {
            return Err(format!("unexpected character {:?}", char_at(s, i)));
        }
        let colon = s.find(':').ok_or("missing scheme")?;
        let scheme_str = &s[..colon];
        let scheme_ok = scheme_str
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme_str
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err("missing scheme".into());
        }
        let scheme = if scheme_str.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_str.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_str.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other(text.slice(0..colon))
        };
        let body_start = colon + 1;
        let body = &s[body_start..];
        let mut uri = Uri {
            text: text.clone(),
            scheme,
            user: None,
            password: None,
            host: None,
            port: None,
            params: r(s.len()..s.len()),
            headers: None,
        };
        match uri.scheme {
            Scheme::Sip | Scheme::Sips => {
                let mut hp_start = body_start;
                if let Some(at) = body.find('@') {
                    let userinfo = &body[..at];
                    let (user, pass) = match userinfo.find(':') {
                        Some(c) => (&userinfo[..c], Some(c)),
                        None => (userinfo, None),
                    };
                    if user.is_empty() {
                        return Err("empty user part".into());
                    }
                    check_escaped(user, is_user_char).map_err(|e| format!("user part: {e}"))?;
                    uri.user = Some(r(body_start..body_start + user.len()));
                    if let Some(c) = pass {
                        let p = &userinfo[c + 1..];
                        check_escaped(p, is_password_char).map_err(|e| format!("password: {e}"))?;
                        uri.password = Some(r(body_start + c + 1..body_start + at));
                    }
                    hp_start = body_start + at + 1;
                }
                let tail = &s[hp_start..];
                let hp_len = tail.find([';', '?']).unwrap_or(tail.len());
                let (host, port) = split_hostport_in(Some(&text), &tail[..hp_len])?;
                uri.host = Some(host);
                uri.port = port;
                uri.parse_params_and_headers(hp_start + hp_len)?;
            }
            Scheme::Tel => {
                let num_len = body.find([';', '?']).unwrap_or(body.len());
                let num = &body[..num_len];
                if num.is_empty() {
                    return Err("empty telephone number".into());
                }
                if let Some(i) = num.bytes().position(|b| {
                    !(b.is_ascii_alphanumeric()
                        || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#'))
                }) {
                    return Err(format!(
                        "unexpected character {:?} in number",
                        char_at(num, i)
                    ));
                }
                uri.user = Some(r(body_start..body_start + num_len));
                uri.parse_params_and_headers(body_start + num_len)?;
            }
            Scheme::Other(_) => {
                if body.is_empty() {
                    return Err("empty URI".into());
                }
            }
        }
        Ok(uri)
    }

    fn parse_params_and_headers(&mut self, from: usize) -> Result<(), String> {
        let s = self.text.as_str();
        let rest = &s[from..];
        let q = rest.find('?').unwrap_or(rest.len());
        let params = &rest[..q];
        for p in params.split(';').skip(1) {
            let (name, value) = match p.find('=') {
                Some(e) => (&p[..e], Some(&p[e + 1..])),
                None => (p, None),
            };
            if name.is_empty() {
                return Err("empty URI parameter".into());
            }
            check_escaped(name, is_param_char).map_err(|e| format!("URI parameter: {e}"))?;
            if let Some(v) = value {
                if v.is_empty() {
                    return Err(format!("URI parameter {name} has an empty value"));
                }
                check_escaped(v, is_param_char).map_err(|e| format!("URI parameter: {e}"))?;
            }
        }
        if !params.is_empty() && !params.starts_with(';') {
            return Err("unexpected text after host".into());
        }
        self.params = r(from..from + q);
        if q < rest.len() {
            let h = &rest[q + 1..];
            if h.is_empty() {
                return Err("empty URI headers".into());
            }
            check_escaped(h, is_header_char).map_err(|e| format!("URI headers: {e}"))?;
            self.headers = Some(r(from + q + 1..s.len()));
        }
        Ok(())
    }

    fn part(&self, range: &Range<u32>) -> &str {
        &self.text.as_str()[range.start as usize..range.end as usize]
    }

    /// Builds `sip:[user@]host[:port]`.
    pub fn sip(user: Option<&str>, host: &Host, port: Option<u16>) -> Result<Uri, Error> {
        let mut s = String::from("sip:");
        if let Some(u) = user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&host.to_string());
        if let Some(p) = port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        Uri::parse(&s)
    }

    /// The whole URI as written.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// The URI as shared text.
    pub fn as_text(&self) -> &Text {
        &self.text
    }

    /// The scheme.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Whether this is a `sip:` or `sips:` URI.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The user part as written (escapes kept); the number of a `tel:` URI.
    pub fn user(&self) -> Option<&str> {
        self.user.as_ref().map(|u| self.part(u))
    }

    /// The user part with `%HH` escapes decoded.
    pub fn user_unescaped(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.user().map(unescape)
    }

    /// The password, if any (deprecated by RFC 3261 but legal).
    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(|p| self.part(p))
    }

    /// The host of a SIP/SIPS URI.
    pub fn host(&self) -> Option<&Host> {
        self.host.as_ref()
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The raw parameter section, starting with `;` (empty if none).
    pub fn params_str(&self) -> &str {
        self.part(&self.params)
    }

    /// Iterates `(name, value)` URI parameters as written.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.params_str()
            .split(';')
            .skip(1)
            .map(|p| match p.find('=') {
                Some(e) => (&p[..e], Some(&p[e + 1..])),
                None => (p, None),
            })
    }

    /// A URI parameter by case-insensitive name: `Some(None)` when present without value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The `?headers` part without the `?`, if any.
    pub fn headers(&self) -> Option<&str> {
        self.headers.as_ref().map(|h| self.part(h))
    }

    /// Whether the `lr` parameter is present (loose routing, RFC 3261 §16.12).
    pub fn lr(&self) -> bool {
        self.param("lr").is_some()
    }

    /// The `maddr` parameter, if any.
    pub fn maddr(&self) -> Option<&str> {
        self.param("maddr").flatten()
    }

    /// The transport named by the `transport` parameter, if any.
    pub fn transport(&self) -> Option<Transport> {
        self.param("transport").flatten().map(Transport::from_name)
    }

    /// A copy with a parameter added (or replaced when already present).
    pub fn with_param(&self, name: &str, value: Option<&str>) -> Result<Uri, Error> {
        let base = self.without_param(name);
        let s = base.as_str();
        let insert_at = base
            .headers
            .as_ref()
            .map_or(s.len(), |h| h.start as usize - 1);
        let mut out = String::with_capacity(s.len() + name.len() + 8);
        out.push_str(&s[..insert_at]);
        out.push(';');
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
        out.push_str(&s[insert_at..]);
        Uri::parse(&out)
    }

    /// A copy without the named parameter.
    pub fn without_param(&self, name: &str) -> Uri {
        if self.param(name).is_none() {
            return self.clone();
        }
        let s = self.as_str();
        let mut out = String::with_capacity(s.len());
        out.push_str(&s[..self.params.start as usize]);
        for p in self.params_str().split(';').skip(1) {
            let n = p.split('=').next().unwrap_or(p);
            if !n.eq_ignore_ascii_case(name) {
                out.push(';');
                out.push_str(p);
            }
        }
        out.push_str(&s[self.params.end as usize..]);
        // Invariant: removing a valid parameter from a valid URI leaves a valid URI.
        Uri::parse(&out).expect("removing a parameter keeps the URI valid")
    }

    /// A copy without the `?headers` part (what a Request-URI may carry, RFC 3261 §19.1.5).
    pub fn without_headers(&self) -> Uri {
        match &self.headers {
            None => self.clone(),
            Some(h) => {
                let s = &self.as_str()[..h.start as usize - 1];
                // Invariant: a prefix of a valid URI that ends before `?` is a valid URI.
                Uri::parse(s).expect("a URI without its headers stays valid")
            }
        }
    }

    /// URI comparison per RFC 3261 §19.1.4: scheme, user and password exact (after
    /// unescaping), host case-insensitive, ports equal, the `user`, `ttl`, `method`, `maddr`
    /// and `transport` parameters equal when either side has them, other parameters equal
    /// when both sides have them, and headers ignored.
    pub fn matches(&self, other: &Uri) -> bool {
        if self.scheme != other.scheme {
            return false;
        }
        if !self.is_sip() {
            return self.as_str().eq_ignore_ascii_case(other.as_str());
        }
        if self.user_unescaped() != other.user_unescaped()
            || self.password().map(unescape) != other.password().map(unescape)
            || self.port != other.port
        {
            return false;
        }
        match (&self.host, &other.host) {
            (Some(a), Some(b)) if a.eq_ignore_case(b) => {}
            _ => return false,
        }
        for special in ["user", "ttl", "method", "maddr", "transport"] {
            let a = self
                .param(special)
                .map(|v| v.map(|v| unescape(v).to_ascii_lowercase()));
            let b = other
                .param(special)
                .map(|v| v.map(|v| unescape(v).to_ascii_lowercase()));
            if a != b {
                return false;
            }
        }
        for (name, value) in self.params() {
            if let Some(v2) = other.param(name) {
                let a = value.map(|v| unescape(v).to_ascii_lowercase());
                let b = v2.map(|v| unescape(v).to_ascii_lowercase());
                if a != b {
                    return false;
                }
            }
        }
        true
    }
}

impl PartialEq for Uri {
    fn eq(&self, other: &Uri) -> bool {
        self.text == other.text
    }
}

impl Eq for Uri {}

impl Hash for Uri {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uri({})", self.as_str())
    }
}

impl std::str::FromStr for Uri {
    type Err = Error;
    fn from_str(s: &str) -> Result<Uri, Error> {
        Uri::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Uri {
        Uri::parse(s).unwrap()
    }

    #[test]
    fn parses_the_parts_of_a_sip_uri() {
        let x = u("sip:alice:secret@[2001:db8::1]:5070;transport=tcp;lr?Subject=hi");
        assert_eq!(x.scheme(), &Scheme::Sip);
        assert_eq!(x.user(), Some("alice"));
        assert_eq!(x.password(), Some("secret"));
        assert_eq!(x.host().unwrap().to_string(), "[2001:db8::1]");
        assert_eq!(x.port(), Some(5070));
        assert_eq!(x.transport(), Some(Transport::Tcp));
        assert!(x.lr());
        assert_eq!(x.headers(), Some("Subject=hi"));
        assert_eq!(
            x.without_headers().as_str(),
            "sip:alice:secret@[2001:db8::1]:5070;transport=tcp;lr"
        );
    }

    #[test]
    fn keeps_unusual_but_legal_user_parts() {
        let x = u(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        );
        assert_eq!(
            x.user(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            x.password(),
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        assert_eq!(x.host().unwrap().to_string(), "example.com");
        let y = u("sip:user;par=u%40example.net@example.com");
        assert_eq!(y.user_unescaped().unwrap(), "user;par=u@example.net");
    }

    #[test]
    fn rejects_spaces_brackets_and_bad_escapes() {
        assert!(Uri::parse("<sip:user@example.com>").is_err());
        assert!(Uri::parse("sip:user@example.com; lr").is_err());
        assert!(Uri::parse("sip:us%zzer@example.com").is_err());
        assert!(Uri::parse("sip:@example.com").is_err());
        assert!(Uri::parse("user@example.com").is_err());
    }

    #[test]
    fn tel_and_other_schemes_parse() {
        let t = u("tel:+1-201-555-0123;phone-context=example.com");
        assert_eq!(t.scheme(), &Scheme::Tel);
        assert_eq!(t.user(), Some("+1-201-555-0123"));
        assert_eq!(t.param("phone-context"), Some(Some("example.com")));
        let h = u("https://127.0.0.1:5080/cert");
        assert!(matches!(h.scheme(), Scheme::Other(s) if s == "https"));
    }

    #[test]
    fn params_can_be_added_and_removed_keeping_others_byte_exact() {
        let x = u("sip:h.example.com;%6C%72;n%61me=v%61lue?X=1");
        let y = x.with_param("transport", Some("tcp")).unwrap();
        assert_eq!(
            y.as_str(),
            "sip:h.example.com;%6C%72;n%61me=v%61lue;transport=tcp?X=1"
        );
        assert_eq!(y.without_param("TRANSPORT").as_str(), x.as_str());
    }

    #[test]
    fn rfc3261_comparison_rules() {
        assert!(
            u("sip:%61lice@atlanta.com;transport=TCP")
                .matches(&u("sip:alice@AtLanTa.CoM;Transport=tcp"))
        );
        assert!(!u("sip:alice@atlanta.com").matches(&u("sip:ALICE@atlanta.com")));
        assert!(!u("sip:bob@biloxi.com").matches(&u("sip:bob@biloxi.com:5060")));
        assert!(!u("sip:bob@biloxi.com;transport=udp").matches(&u("sip:bob@biloxi.com")));
        assert!(u("sip:carol@chicago.com;security=on").matches(&u("sip:carol@chicago.com")));
    }
}
