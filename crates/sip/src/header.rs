//! Header names (with compact forms), header lines, and the ordered header list with typed
//! accessors.

use std::fmt;

use crate::error::Error;
use crate::grammar::{is_token_str, parse_delta_seconds, parse_u32, split_list, trim_lws};
use crate::text::Text;
use crate::typed::{CSeq, Contacts, MediaType, NameAddr, RetryAfter, Via, parse_token_list};

macro_rules! header_names {
    ($( $variant:ident => $canon:literal, $lower:literal $(, $compact:literal)? ; )*) => {
        /// A header name. Known names are variants (matched case-insensitively, compact forms
        /// included); anything else is [`HeaderName::Other`] with its spelling.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $canon, "`")]
                $variant,
            )*
            /// An extension header, as spelled on the wire.
            Other(Text),
        }

        impl HeaderName {
            /// Parses a header name (long or compact form, any case).
            pub fn parse(name: &str) -> HeaderName {
                let mut buf = [0u8; 24];
                if name.len() <= buf.len() {
                    let lower = &mut buf[..name.len()];
                    lower.copy_from_slice(name.as_bytes());
                    lower.make_ascii_lowercase();
                    if let Ok(l) = std::str::from_utf8(lower) {
                        match l {
                            $(
                                $lower => return HeaderName::$variant,
                                $( $compact => return HeaderName::$variant, )?
                            )*
                            _ => {}
                        }
                    }
                }
                HeaderName::Other(Text::from(name))
            }

            /// The canonical spelling (`Call-ID`, `CSeq`, `WWW-Authenticate`, ...).
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canon, )*
                    HeaderName::Other(t) => t.as_str(),
                }
            }

            /// The compact form, if the header has one (`i` for Call-ID, ...).
            pub fn compact(&self) -> Option<&'static str> {
                match self {
                    $( $( HeaderName::$variant => Some($compact), )? )*
                    _ => None,
                }
            }
        }
    };
}

header_names! {
    Accept => "Accept", "accept";
    AcceptContact => "Accept-Contact", "accept-contact", "a";
    AcceptEncoding => "Accept-Encoding", "accept-encoding";
    AcceptLanguage => "Accept-Language", "accept-language";
    AlertInfo => "Alert-Info", "alert-info";
    Allow => "Allow", "allow";
    AllowEvents => "Allow-Events", "allow-events", "u";
    AuthenticationInfo => "Authentication-Info", "authentication-info";
    Authorization => "Authorization", "authorization";
    CallId => "Call-ID", "call-id", "i";
    CallInfo => "Call-Info", "call-info";
    Contact => "Contact", "contact", "m";
    ContentDisposition => "Content-Disposition", "content-disposition";
    ContentEncoding => "Content-Encoding", "content-encoding", "e";
    ContentLanguage => "Content-Language", "content-language";
    ContentLength => "Content-Length", "content-length", "l";
    ContentType => "Content-Type", "content-type", "c";
    CSeq => "CSeq", "cseq";
    Date => "Date", "date";
    ErrorInfo => "Error-Info", "error-info";
    Event => "Event", "event", "o";
    Expires => "Expires", "expires";
    From => "From", "from", "f";
    Identity => "Identity", "identity", "y";
    IdentityInfo => "Identity-Info", "identity-info", "n";
    InReplyTo => "In-Reply-To", "in-reply-to";
    MaxForwards => "Max-Forwards", "max-forwards";
    MimeVersion => "MIME-Version", "mime-version";
    MinExpires => "Min-Expires", "min-expires";
    MinSe => "Min-SE", "min-se";
    Organization => "Organization", "organization";
    PAssertedIdentity => "P-Asserted-Identity", "p-asserted-identity";
    Priority => "Priority", "priority";
    ProxyAuthenticate => "Proxy-Authenticate", "proxy-authenticate";
    ProxyAuthorization => "Proxy-Authorization", "proxy-authorization";
    ProxyRequire => "Proxy-Require", "proxy-require";
    RAck => "RAck", "rack";
    Reason => "Reason", "reason";
    RecordRoute => "Record-Route", "record-route";
    ReferTo => "Refer-To", "refer-to", "r";
    ReferredBy => "Referred-By", "referred-by", "b";
    RejectContact => "Reject-Contact", "reject-contact", "j";
    Replaces => "Replaces", "replaces";
    ReplyTo => "Reply-To", "reply-to";
    RequestDisposition => "Request-Disposition", "request-disposition", "d";
    Require => "Require", "require";
    RetryAfter => "Retry-After", "retry-after";
    Route => "Route", "route";
    RSeq => "RSeq", "rseq";
    Server => "Server", "server";
    SessionExpires => "Session-Expires", "session-expires", "x";
    Subject => "Subject", "subject", "s";
    Supported => "Supported", "supported", "k";
    Timestamp => "Timestamp", "timestamp";
    To => "To", "to", "t";
    Unsupported => "Unsupported", "unsupported";
    UserAgent => "User-Agent", "user-agent";
    Via => "Via", "via", "v";
    Warning => "Warning", "warning";
    WwwAuthenticate => "WWW-Authenticate", "www-authenticate";
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for HeaderName {
    fn from(s: &str) -> HeaderName {
        HeaderName::parse(s)
    }
}

/// One header line: its name (typed and as spelled) and its raw value.
///
/// The value keeps its original bytes, including folded line breaks, with leading and
/// trailing whitespace removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    name: HeaderName,
    raw_name: Text,
    value: Text,
}

impl Header {
    /// A header with the canonical spelling of `name`. The value must not contain line breaks.
    pub fn new(name: HeaderName, value: &str) -> Result<Header, Error> {
        let value = trim_lws(value);
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::InvalidValue {
                what: "header value",
                reason: "line breaks and NUL are not allowed".into(),
            });
        }
        let raw_name = match &name {
            HeaderName::Other(t) => {
                if !is_token_str(t) {
                    return Err(Error::InvalidValue {
                        what: "header name",
                        reason: format!("{t:?} is not a token"),
                    });
                }
                t.clone()
            }
            known => Text::from(known.as_str()),
        };
        Ok(Header {
            name,
            raw_name,
            value: Text::from(value),
        })
    }

    /// Built by the parser from slices of the shared buffer (already validated).
    pub(crate) fn from_parts(name: HeaderName, raw_name: Text, value: Text) -> Header {
        Header {
            name,
            raw_name,
            value,
        }
    }

    /// The typed name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// The name as spelled on the wire (`v`, `VIA`, `Via`...).
    pub fn raw_name(&self) -> &str {
        &self.raw_name
    }

    /// The raw value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The raw value as shared text.
    pub fn value_text(&self) -> &Text {
        &self.value
    }
}

/// The headers of a message, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    list: Vec<Header>,
}

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers::default()
    }

    pub(crate) fn with_capacity(n: usize) -> Headers {
        Headers {
            list: Vec::with_capacity(n),
        }
    }

    /// Iterates all headers in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.list.iter()
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The first header with this name.
    pub fn get(&self, name: &HeaderName) -> Option<&Header> {
        self.list.iter().find(|h| &h.name == name)
    }

    /// The value of the first header with this name.
    pub fn value(&self, name: &HeaderName) -> Option<&str> {
        self.get(name).map(Header::value)
    }

    /// All headers with this name, in order.
    pub fn get_all(&self, name: &HeaderName) -> impl Iterator<Item = &Header> + '_ {
        let name = name.clone();
        self.list.iter().filter(move |h| h.name == name)
    }

    /// Whether a header with this name is present.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.get(name).is_some()
    }

    /// Appends a header line.
    pub fn push(&mut self, header: Header) {
        self.list.push(header);
    }

    /// Appends `name: value`.
    pub fn append(&mut self, name: HeaderName, value: &str) -> Result<(), Error> {
        self.list.push(Header::new(name, value)?);
        Ok(())
    }

    /// Inserts a header line before all others of the same name (or at the end when there
    /// are none). Used for Via and Record-Route, which are prepended.
    pub fn push_front_of_name(&mut self, header: Header) {
        match self.list.iter().position(|h| h.name == header.name) {
            Some(i) => self.list.insert(i, header),
            None => self.list.push(header),
        }
    }

    /// Replaces every header of this name by one line with `value`, at the position of the
    /// first one (or at the end).
    pub fn set(&mut self, name: HeaderName, value: &str) -> Result<(), Error> {
        let header = Header::new(name, value)?;
        match self.list.iter().position(|h| h.name == header.name) {
            Some(i) => {
                self.list[i] = header;
                let name = self.list[i].name.clone();
                let mut idx = 0;
                self.list.retain(|h| {
                    let keep = idx <= i || h.name != name;
                    idx += 1;
                    keep
                });
            }
            None => self.list.push(header),
        }
        Ok(())
    }

    /// Removes every header with this name; returns how many were removed.
    pub fn remove_all(&mut self, name: &HeaderName) -> usize {
        let before = self.list.len();
        self.list.retain(|h| &h.name != name);
        before - self.list.len()
    }

    /// Removes and returns the first header line with this name.
    pub fn remove_first(&mut self, name: &HeaderName) -> Option<Header> {
        let i = self.list.iter().position(|h| &h.name == name)?;
        Some(self.list.remove(i))
    }

    /// Splits every comma-separated value of the named list header into its elements and
    /// parses them in order, so the first problem reported is the first one in the text.
    fn list_elements<T>(
        &self,
        name: &HeaderName,
        canon: &'static str,
        parse: impl Fn(Text) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        for h in self.get_all(name) {
            let pieces = split_list(h.value()).map_err(|e| Error::header(canon, e))?;
            for p in pieces {
                if p.is_empty() {
                    return Err(Error::header(canon, "empty list element"));
                }
                out.push(parse(h.value.slice_ref(p))?);
            }
        }
        Ok(out)
    }

    fn single(&self, name: &HeaderName, canon: &'static str) -> Result<Option<&Header>, Error> {
        let mut it = self.get_all(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(Error::Duplicate(canon));
        }
        Ok(first)
    }

    /// The Call-ID (required; exactly one).
    pub fn call_id(&self) -> Result<&str, Error> {
        let h = self
            .single(&HeaderName::CallId, "Call-ID")?
            .ok_or(Error::Missing("Call-ID"))?;
        validate_call_id(h.value())?;
        Ok(h.value())
    }

    /// The Call-ID as shared text.
    pub fn call_id_text(&self) -> Result<Text, Error> {
        self.call_id()?;
        // Invariant: call_id() just found the header.
        Ok(self
            .get(&HeaderName::CallId)
            .map(|h| h.value.clone())
            .unwrap_or_else(|| Text::from("")))
    }

    /// The CSeq (required; exactly one).
    pub fn cseq(&self) -> Result<CSeq, Error> {
        let h = self
            .single(&HeaderName::CSeq, "CSeq")?
            .ok_or(Error::Missing("CSeq"))?;
        CSeq::parse(h.value())
    }

    /// The From header (required; exactly one).
    pub fn from(&self) -> Result<NameAddr, Error> {
        let h = self
            .single(&HeaderName::From, "From")?
            .ok_or(Error::Missing("From"))?;
        NameAddr::parse_text(h.value.clone(), "From")
    }

    /// The To header (required; exactly one).
    pub fn to(&self) -> Result<NameAddr, Error> {
        let h = self
            .single(&HeaderName::To, "To")?
            .ok_or(Error::Missing("To"))?;
        NameAddr::parse_text(h.value.clone(), "To")
    }

    /// All Via values, top first.
    pub fn vias(&self) -> Result<Vec<Via>, Error> {
        self.list_elements(&HeaderName::Via, "Via", Via::parse_text)
    }

    /// The topmost Via (required in every message).
    pub fn top_via(&self) -> Result<Via, Error> {
        let h = self.get(&HeaderName::Via).ok_or(Error::Missing("Via"))?;
        let pieces = split_list(h.value()).map_err(|e| Error::header("Via", e))?;
        let first = pieces
            .first()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Error::header("Via", "empty list element"))?;
        Via::parse_text(h.value.slice_ref(first))
    }

    /// Replaces the topmost Via value, splitting a comma-separated first line if needed.
    pub fn set_top_via(&mut self, via: &Via) -> Result<(), Error> {
        let i = self
            .list
            .iter()
            .position(|h| h.name == HeaderName::Via)
            .ok_or(Error::Missing("Via"))?;
        let pieces = split_list(self.list[i].value()).map_err(|e| Error::header("Via", e))?;
        let rest: Vec<String> = pieces.iter().skip(1).map(|p| p.to_string()).collect();
        let raw_name = self.list[i].raw_name.clone();
        self.list[i] = Header {
            name: HeaderName::Via,
            raw_name: raw_name.clone(),
            value: Text::from(via.as_str()),
        };
        if !rest.is_empty() {
            self.list.insert(
                i + 1,
                Header {
                    name: HeaderName::Via,
                    raw_name,
                    value: Text::from(rest.join(", ")),
                },
            );
        }
        Ok(())
    }

    /// Removes the topmost Via value (as a proxy or B2BUA does before forwarding a response).
    pub fn pop_top_via(&mut self) -> Result<Via, Error> {
        let top = self.top_via()?;
        let i = self
            .list
            .iter()
            .position(|h| h.name == HeaderName::Via)
            .ok_or(Error::Missing("Via"))?;
        let pieces = split_list(self.list[i].value()).map_err(|e| Error::header("Via", e))?;
        if pieces.len() <= 1 {
            self.list.remove(i);
        } else {
            let rest = pieces[1..].join(", ");
            self.list[i].value = Text::from(rest);
        }
        Ok(top)
    }

    /// Max-Forwards, if present (0–255).
    pub fn max_forwards(&self) -> Result<Option<u8>, Error> {
        match self.single(&HeaderName::MaxForwards, "Max-Forwards")? {
            None => Ok(None),
            Some(h) => parse_max_forwards(h.value()).map(Some),
        }
    }

    /// The Contact header(s): `*`, or the list of contacts (empty when absent).
    pub fn contacts(&self) -> Result<Contacts, Error> {
        let elements = self.list_elements(&HeaderName::Contact, "Contact", |e| {
            if e.as_str() == "*" {
                Ok(None)
            } else {
                NameAddr::parse_text(e, "Contact").map(Some)
            }
        })?;
        if elements.iter().any(Option::is_none) {
            if elements.len() != 1 {
                return Err(Error::header("Contact", "* must be the only contact"));
            }
            return Ok(Contacts::Star);
        }
        Ok(Contacts::List(elements.into_iter().flatten().collect()))
    }

    /// The first Contact, if any (not `*`).
    pub fn contact(&self) -> Result<Option<NameAddr>, Error> {
        match self.contacts()? {
            Contacts::Star => Err(Error::header("Contact", "unexpected *")),
            Contacts::List(mut l) => Ok((!l.is_empty()).then(|| l.swap_remove(0))),
        }
    }

    /// All Route values, in order.
    pub fn routes(&self) -> Result<Vec<NameAddr>, Error> {
        self.list_elements(&HeaderName::Route, "Route", |e| {
            NameAddr::parse_text(e, "Route")
        })
    }

    /// All Record-Route values, in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, Error> {
        self.list_elements(&HeaderName::RecordRoute, "Record-Route", |e| {
            NameAddr::parse_text(e, "Record-Route")
        })
    }

    /// The Expires header, if present (saturating at `u32::MAX`).
    pub fn expires(&self) -> Result<Option<u32>, Error> {
        self.delta_seconds(&HeaderName::Expires, "Expires")
    }

    /// The Min-Expires header, if present.
    pub fn min_expires(&self) -> Result<Option<u32>, Error> {
        self.delta_seconds(&HeaderName::MinExpires, "Min-Expires")
    }

    fn delta_seconds(&self, name: &HeaderName, canon: &'static str) -> Result<Option<u32>, Error> {
        match self.single(name, canon)? {
            None => Ok(None),
            Some(h) => parse_delta_seconds(trim_lws(h.value()))
                .map(Some)
                .ok_or_else(|| {
                    Error::header(canon, format!("not a number of seconds: {:?}", h.value()))
                }),
        }
    }

    /// Content-Type, if present.
    pub fn content_type(&self) -> Result<Option<MediaType>, Error> {
        match self.single(&HeaderName::ContentType, "Content-Type")? {
            None => Ok(None),
            Some(h) => MediaType::parse_text(h.value.clone()).map(Some),
        }
    }

    /// Content-Length, if present.
    pub fn content_length(&self) -> Result<Option<usize>, Error> {
        match self.single(&HeaderName::ContentLength, "Content-Length")? {
            None => Ok(None),
            Some(h) => parse_content_length(h.value()).map(Some),
        }
    }

    /// Retry-After, if present.
    pub fn retry_after(&self) -> Result<Option<RetryAfter>, Error> {
        match self.single(&HeaderName::RetryAfter, "Retry-After")? {
            None => Ok(None),
            Some(h) => RetryAfter::parse(h.value()).map(Some),
        }
    }

    /// The tokens of a list header such as Allow, Supported, Require, Unsupported.
    pub fn tokens(&self, name: &HeaderName) -> Result<Vec<&str>, Error> {
        let canon = known_canon(name);
        let mut out = Vec::new();
        for h in self.get_all(name) {
            out.extend(parse_token_list(canon, h.value())?);
        }
        Ok(out)
    }

    /// The Digest challenges of a 401 (`WWW-Authenticate`) or 407 (`Proxy-Authenticate`),
    /// in order. Challenges of schemes other than Digest are skipped.
    pub fn challenges(&self, proxy: bool) -> Vec<crate::digest::Challenge> {
        let name = if proxy {
            HeaderName::ProxyAuthenticate
        } else {
            HeaderName::WwwAuthenticate
        };
        self.get_all(&name)
            .filter_map(|h| crate::digest::Challenge::parse(h.value()).ok())
            .collect()
    }

    /// The Digest credentials of a request (`Authorization`, or `Proxy-Authorization`), in
    /// order. Malformed ones are skipped.
    pub fn credentials(&self, proxy: bool) -> Vec<crate::digest::Credentials> {
        let name = if proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        self.get_all(&name)
            .filter_map(|h| crate::digest::Credentials::parse(h.value()).ok())
            .collect()
    }

    /// User-Agent, if present.
    pub fn user_agent(&self) -> Option<&str> {
        self.value(&HeaderName::UserAgent)
    }

    /// Server, if present.
    pub fn server(&self) -> Option<&str> {
        self.value(&HeaderName::Server)
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

fn known_canon(name: &HeaderName) -> &'static str {
    match name {
        HeaderName::Allow => "Allow",
        HeaderName::Supported => "Supported",
        HeaderName::Require => "Require",
        HeaderName::ProxyRequire => "Proxy-Require",
        HeaderName::Unsupported => "Unsupported",
        HeaderName::AllowEvents => "Allow-Events",
        _ => "header",
    }
}

/// `callid = word [ "@" word ]`.
pub(crate) fn validate_call_id(v: &str) -> Result<(), Error> {
    let v = trim_lws(v);
    if v.is_empty() {
        return Err(Error::header("Call-ID", "empty"));
    }
    let mut parts = v.splitn(2, '@');
    for p in parts.by_ref() {
        if p.is_empty() || !p.bytes().all(crate::grammar::is_word) {
            return Err(Error::header("Call-ID", format!("bad character in {v:?}")));
        }
    }
    Ok(())
}

pub(crate) fn parse_max_forwards(v: &str) -> Result<u8, Error> {
    let t = trim_lws(v);
    match parse_u32(t) {
        Some(n) if n <= 255 => Ok(n as u8),
        Some(n) => Err(Error::header("Max-Forwards", format!("{n} exceeds 255"))),
        None => Err(Error::header(
            "Max-Forwards",
            format!("not a number: {t:?}"),
        )),
    }
}

pub(crate) fn parse_content_length(v: &str) -> Result<usize, Error> {
    let t = trim_lws(v);
    parse_u32(t)
        .map(|n| n as usize)
        .ok_or_else(|| Error::header("Content-Length", format!("not a length: {t:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_case_insensitively_with_compact_forms() {
        assert_eq!(HeaderName::parse("MaX-fOrWaRdS"), HeaderName::MaxForwards);
        assert_eq!(HeaderName::parse("i"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("L"), HeaderName::ContentLength);
        assert_eq!(HeaderName::parse("v"), HeaderName::Via);
        assert_eq!(HeaderName::parse("k"), HeaderName::Supported);
        assert_eq!(
            HeaderName::parse("www-authenticate"),
            HeaderName::WwwAuthenticate
        );
        assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
        assert_eq!(HeaderName::CallId.compact(), Some("i"));
        assert!(matches!(HeaderName::parse("C%6Fntact"), HeaderName::Other(t) if t == "C%6Fntact"));
    }

    #[test]
    fn header_values_cannot_inject_lines() {
        assert!(Header::new(HeaderName::Subject, "hi\r\nVia: evil").is_err());
        assert!(Header::new(HeaderName::Other("bad name".into()), "x").is_err());
        assert_eq!(
            Header::new(HeaderName::Subject, "  hi ").unwrap().value(),
            "hi"
        );
    }

    #[test]
    fn set_replaces_all_lines_of_a_name() {
        let mut h = Headers::new();
        h.append(HeaderName::Contact, "<sip:a@h>").unwrap();
        h.append(HeaderName::To, "<sip:b@h>").unwrap();
        h.append(HeaderName::Contact, "<sip:c@h>").unwrap();
        h.set(HeaderName::Contact, "<sip:d@h>").unwrap();
        let names: Vec<_> = h.iter().map(|x| x.value().to_string()).collect();
        assert_eq!(names, vec!["<sip:d@h>", "<sip:b@h>"]);
    }

    #[test]
    fn top_via_of_a_comma_list_can_be_replaced_and_popped() {
        let mut h = Headers::new();
        h.append(
            HeaderName::Via,
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
        )
        .unwrap();
        let top = h
            .top_via()
            .unwrap()
            .with_param("received", Some("192.0.2.1"));
        h.set_top_via(&top).unwrap();
        let vias = h.vias().unwrap();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].received(), Some("192.0.2.1"));
        assert_eq!(h.pop_top_via().unwrap().host().to_string(), "a");
        assert_eq!(h.top_via().unwrap().host().to_string(), "b");
    }

    #[test]
    fn duplicate_single_headers_are_errors() {
        let mut h = Headers::new();
        h.append(HeaderName::CallId, "a@b").unwrap();
        h.append(HeaderName::CallId, "c@d").unwrap();
        assert_eq!(h.call_id(), Err(Error::Duplicate("Call-ID")));
    }

    #[test]
    fn contact_star_must_be_alone() {
        let mut h = Headers::new();
        h.append(HeaderName::Contact, "*").unwrap();
        assert_eq!(h.contacts().unwrap(), Contacts::Star);
        h.append(HeaderName::Contact, "<sip:a@h>").unwrap();
        assert!(h.contacts().is_err());
    }
}
