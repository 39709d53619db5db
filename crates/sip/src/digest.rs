//! HTTP Digest authentication for SIP (RFC 3261 §22, RFC 7616 computations, RFC 8760 for
//! SHA-256): challenges and credentials as header values, the response computation for both
//! sides, and a stateless nonce scheme for the server.
//!
//! **Nonces.** [`DigestServer`] issues nonces without storing them: a nonce is the time it
//! was issued (milliseconds since the server was created) followed by an HMAC-SHA256 over
//! that time and the realm, keyed with a secret the caller supplies at start (the driver
//! reads it from the OS RNG; the core never does). A nonce is accepted if its MAC is right
//! and it is younger than the configured lifetime. An old nonce, or one from before a
//! restart (other secret), with a correct response gets a fresh challenge with `stale=true`;
//! a wrong password never passes.
//!
//! **Replays.** Only credentials that verified are remembered, per user and nonce, until the
//! nonce expires: with `qop=auth` the nonce count must grow from one request to the next
//! (RFC 7616 §3.4); without `qop` a nonce serves one request. A replayed Authorization (a
//! count already seen) gets a fresh challenge with `stale=true`, so an honest client that
//! lost track simply answers it again, and a captured header is worth nothing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::grammar::{Cursor, quote, unquote};
use crate::message::Method;
use crate::uri::Uri;

/// A digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (RFC 2617).
    Md5,
    /// `SHA-256` (RFC 8760).
    Sha256,
}

impl Algorithm {
    /// Parses an algorithm name; `-sess` variants and others are unsupported (`None`).
    pub fn parse(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// Parsed `auth-param`s of a Digest header: lower-cased names, unquoted values.
fn parse_digest_params(value: &str, header: &'static str) -> Result<Vec<(String, String)>, Error> {
    let err = |m: &str| Error::header(header, m.to_string());
    let mut c = Cursor::new(value);
    c.skip_lws();
    let scheme = c.token().ok_or_else(|| err("missing scheme"))?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(err("only the Digest scheme is supported"));
    }
    if !c.skip_lws() {
        return Err(err("expected parameters after Digest"));
    }
    let mut out = Vec::new();
    loop {
        c.skip_lws();
        let name = c.token().ok_or_else(|| err("expected a parameter name"))?;
        if !c.eat_sep(b'=') {
            return Err(err("expected = after parameter name"));
        }
        let v = if c.peek() == Some(b'"') {
            unquote(c.quoted_string().map_err(err)?).into_owned()
        } else {
            c.token()
                .ok_or_else(|| err("expected a parameter value"))?
                .to_string()
        };
        out.push((name.to_ascii_lowercase(), v));
        if !c.eat_sep(b',') {
            c.skip_lws();
            if !c.at_end() {
                return Err(err("expected , between parameters"));
            }
            return Ok(out);
        }
    }
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space.
    pub realm: String,
    /// The server nonce.
    pub nonce: String,
    /// Opaque data to echo back.
    pub opaque: Option<String>,
    /// The algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// Whether `qop="auth"` is offered.
    pub qop_auth: bool,
    /// Whether the previous nonce was merely stale (retry without asking the user).
    pub stale: bool,
}

impl Challenge {
    /// Parses a challenge header value.
    pub fn parse(value: &str) -> Result<Challenge, Error> {
        let p = parse_digest_params(value, "WWW-Authenticate")?;
        let realm = get(&p, "realm")
            .ok_or(Error::Missing("realm in challenge"))?
            .to_string();
        let nonce = get(&p, "nonce")
            .ok_or(Error::Missing("nonce in challenge"))?
            .to_string();
        let algorithm = match get(&p, "algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or_else(|| {
                Error::header("WWW-Authenticate", format!("unsupported algorithm {a}"))
            })?,
        };
        let qop_auth = get(&p, "qop")
            .is_some_and(|q| q.split(',').any(|x| x.trim().eq_ignore_ascii_case("auth")));
        Ok(Challenge {
            realm,
            nonce,
            opaque: get(&p, "opaque").map(str::to_string),
            algorithm,
            qop_auth,
            stale: get(&p, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The header value.
    pub fn to_header_value(&self) -> String {
        let mut s = format!(
            "Digest realm={}, nonce={}",
            quote(&self.realm),
            quote(&self.nonce)
        );
        if let Some(o) = &self.opaque {
            let _ = write!(s, ", opaque={}", quote(o));
        }
        let _ = write!(s, ", algorithm={}", self.algorithm.as_str());
        if self.qop_auth {
            s.push_str(", qop=\"auth\"");
        }
        if self.stale {
            s.push_str(", stale=true");
        }
        s
    }
}

/// An `Authorization` / `Proxy-Authorization` Digest credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The realm.
    pub realm: String,
    /// The server nonce being answered.
    pub nonce: String,
    /// The digest-uri (the Request-URI).
    pub uri: String,
    /// The hex response.
    pub response: String,
    /// The algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// Client nonce (with qop).
    pub cnonce: Option<String>,
    /// Nonce count, 8 hex digits (with qop).
    pub nc: Option<String>,
    /// `auth` when quality of protection is used.
    pub qop: Option<String>,
    /// Echoed opaque data.
    pub opaque: Option<String>,
}

impl Credentials {
    /// Parses a credentials header value.
    pub fn parse(value: &str) -> Result<Credentials, Error> {
        let p = parse_digest_params(value, "Authorization")?;
        let req = |n: &'static str| {
            get(&p, n)
                .map(str::to_string)
                .ok_or_else(|| Error::header("Authorization", format!("missing {n}")))
        };
        let algorithm = match get(&p, "algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or_else(|| {
                Error::header("Authorization", format!("unsupported algorithm {a}"))
            })?,
        };
        Ok(Credentials {
            username: req("username")?,
            realm: req("realm")?,
            nonce: req("nonce")?,
            uri: req("uri")?,
            response: req("response")?,
            algorithm,
            cnonce: get(&p, "cnonce").map(str::to_string),
            nc: get(&p, "nc").map(str::to_string),
            qop: get(&p, "qop").map(str::to_string),
            opaque: get(&p, "opaque").map(str::to_string),
        })
    }

    /// The header value.
    pub fn to_header_value(&self) -> String {
        let mut s = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            quote(&self.username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(&self.uri),
            quote(&self.response),
            self.algorithm.as_str()
        );
        if let (Some(qop), Some(nc), Some(cnonce)) = (&self.qop, &self.nc, &self.cnonce) {
            let _ = write!(s, ", qop={qop}, nc={nc}, cnonce={}", quote(cnonce));
        }
        if let Some(o) = &self.opaque {
            let _ = write!(s, ", opaque={}", quote(o));
        }
        s
    }
}

/// The digest `response` (RFC 7616 §3.4.1, `-sess` excluded): `H(H(A1):nonce[:nc:cnonce:qop]:H(A2))`
/// with `A1 = user:realm:password` and `A2 = method:uri`.
#[allow(clippy::too_many_arguments)]
pub fn compute_response(
    algorithm: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str, &str)>,
) -> String {
    let ha1 = algorithm.hash(&format!("{username}:{realm}:{password}"));
    let ha2 = algorithm.hash(&format!("{method}:{uri}"));
    match qop {
        Some((qop, nc, cnonce)) => {
            algorithm.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
        }
        None => algorithm.hash(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// Client side: answers `challenge` for a request (`qop=auth` when offered).
pub fn authorize(
    challenge: &Challenge,
    username: &str,
    password: &str,
    method: &Method,
    uri: &Uri,
    cnonce: &str,
    nc: u32,
) -> Credentials {
    let nc = format!("{nc:08x}");
    let qop = challenge.qop_auth.then_some(("auth", nc.as_str(), cnonce));
    let response = compute_response(
        challenge.algorithm,
        username,
        &challenge.realm,
        password,
        method.as_str(),
        uri.as_str(),
        &challenge.nonce,
        qop,
    );
    Credentials {
        username: username.to_string(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: uri.as_str().to_string(),
        response,
        algorithm: challenge.algorithm,
        cnonce: challenge.qop_auth.then(|| cnonce.to_string()),
        nc: challenge.qop_auth.then_some(nc),
        qop: challenge.qop_auth.then(|| "auth".to_string()),
        opaque: challenge.opaque.clone(),
    }
}

/// The outcome of checking credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Right password, fresh nonce of ours.
    Ok,
    /// Right password, but the nonce expired or is not ours, or the credentials were used
    /// already (a replay): challenge again with `stale=true`.
    Stale,
    /// Wrong password, wrong realm, or malformed: challenge again.
    Rejected(&'static str),
}

/// Server side of digest authentication, with stateless nonces (see the module docs).
#[derive(Clone)]
pub struct DigestServer {
    realm: String,
    key: [u8; 32],
    epoch: Instant,
    lifetime: Duration,
    algorithms: Vec<Algorithm>,
    opaque: Option<String>,
    /// (user, nonce) → the highest nonce count used (0: a request without `qop`) and when
    /// the nonce was issued; pruned once nonces expire.
    used: HashMap<(String, String), (u32, Instant)>,
    /// `used` is pruned when it grows past this (then set to twice what is left).
    prune_at: usize,
    /// The time stamp of the last nonce issued: every nonce gets a later one (a burst
    /// within one millisecond runs a few milliseconds ahead), so no two challenges share a
    /// nonce and an honest client's first count is never taken for a replay.
    last_issued_ms: Option<u64>,
}

const MIN_PRUNE_AT: usize = 1024;

impl std::fmt::Debug for DigestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestServer")
            .field("realm", &self.realm)
            .field("lifetime", &self.lifetime)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

const NONCE_MAC_BYTES: usize = 16;

impl DigestServer {
    /// A server for `realm`, keyed with `secret` (32 bytes from the OS RNG, given by the
    /// driver), created at `now`. Nonces live 5 minutes; challenges offer MD5 first, then
    /// SHA-256 (see [`DigestServer::with_algorithms`]).
    pub fn new(realm: &str, secret: [u8; 32], now: Instant) -> DigestServer {
        DigestServer {
            realm: realm.to_string(),
            key: secret,
            epoch: now,
            lifetime: Duration::from_secs(300),
            algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
            opaque: None,
            used: HashMap::new(),
            prune_at: MIN_PRUNE_AT,
            last_issued_ms: None,
        }
    }

    /// Sets the nonce lifetime.
    pub fn with_nonce_lifetime(mut self, lifetime: Duration) -> DigestServer {
        self.lifetime = lifetime;
        self
    }

    /// Sets the algorithms offered, one challenge each, in this order. Many clients (sipp
    /// 3.6 among them) answer only the first challenge and only know MD5, which is why MD5
    /// comes first by default; put SHA-256 first for RFC 8760's preference order.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> DigestServer {
        if !algorithms.is_empty() {
            self.algorithms = algorithms.to_vec();
        }
        self
    }

    /// Sets an `opaque` value sent with every challenge.
    pub fn with_opaque(mut self, opaque: &str) -> DigestServer {
        self.opaque = Some(opaque.to_string());
        self
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn mac(&self, ts: &[u8; 8]) -> Hmac<Sha256> {
        // Invariant: HMAC accepts keys of any length.
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes any key length");
        m.update(ts);
        m.update(self.realm.as_bytes());
        m
    }

    /// A fresh nonce for `now`, unlike any issued before.
    pub fn nonce(&mut self, now: Instant) -> String {
        let mut ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        if let Some(last) = self.last_issued_ms {
            ms = ms.max(last + 1);
        }
        self.last_issued_ms = Some(ms);
        let ts = ms.to_be_bytes();
        let tag = self.mac(&ts).finalize().into_bytes();
        format!(
            "{}{}",
            hex::encode(ts),
            hex::encode(&tag[..NONCE_MAC_BYTES])
        )
    }

    /// Whether `nonce` is ours: `Some(age)` when its MAC is right.
    fn nonce_age(&self, now: Instant, nonce: &str) -> Option<Duration> {
        // A nonce of a burst may carry a time a little ahead: its age is then zero.
        self.nonce_issued(nonce)
            .map(|issued| now.saturating_duration_since(issued))
    }

    /// When `nonce` was issued, if it is ours.
    fn nonce_issued(&self, nonce: &str) -> Option<Instant> {
        if nonce.len() != 16 + 2 * NONCE_MAC_BYTES {
            return None;
        }
        let raw = hex::decode(nonce).ok()?;
        let ts: [u8; 8] = raw[..8].try_into().ok()?;
        self.mac(&ts).verify_truncated_left(&raw[8..]).ok()?;
        Some(self.epoch + Duration::from_millis(u64::from_be_bytes(ts)))
    }

    /// Records a use of verified credentials; `false` for a replay (a count not above the
    /// last one for this user and nonce; any second use without `qop`).
    fn first_use(&mut self, now: Instant, creds: &Credentials, nc: u32) -> bool {
        let issued = self.nonce_issued(&creds.nonce).unwrap_or(now);
        let key = (creds.username.clone(), creds.nonce.clone());
        match self.used.get_mut(&key) {
            Some((last, _)) if nc <= *last => return false,
            Some((last, _)) => *last = nc,
            None => {
                self.used.insert(key, (nc, issued));
            }
        }
        if self.used.len() > self.prune_at {
            let lifetime = self.lifetime;
            self.used
                .retain(|_, (_, issued)| now.saturating_duration_since(*issued) <= lifetime);
            self.prune_at = (2 * self.used.len()).max(MIN_PRUNE_AT);
        }
        true
    }

    /// The challenges to send (one per algorithm, same nonce).
    pub fn challenges(&mut self, now: Instant, stale: bool) -> Vec<Challenge> {
        let nonce = self.nonce(now);
        self.algorithms
            .iter()
            .map(|&algorithm| Challenge {
                realm: self.realm.clone(),
                nonce: nonce.clone(),
                opaque: self.opaque.clone(),
                algorithm,
                qop_auth: true,
                stale,
            })
            .collect()
    }

    /// Checks credentials for a request with `method` and `request_uri`, given the user's
    /// password (looked up by the caller from `creds.username`).
    pub fn verify(
        &mut self,
        now: Instant,
        method: &Method,
        request_uri: &Uri,
        creds: &Credentials,
        password: &str,
    ) -> Verdict {
        if creds.realm != self.realm {
            return Verdict::Rejected("wrong realm");
        }
        if !self.algorithms.contains(&creds.algorithm) {
            return Verdict::Rejected("algorithm not offered");
        }
        let uri_ok = match Uri::parse(&creds.uri) {
            Ok(u) => u.matches(request_uri) || creds.uri == request_uri.as_str(),
            Err(_) => creds.uri == request_uri.as_str(),
        };
        if !uri_ok {
            return Verdict::Rejected("digest uri does not match the Request-URI");
        }
        let qop = match (&creds.qop, &creds.nc, &creds.cnonce) {
            (None, _, _) => None,
            (Some(q), Some(nc), Some(cnonce)) if q.eq_ignore_ascii_case("auth") => {
                if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Verdict::Rejected("bad nonce count");
                }
                Some((q.as_str(), nc.as_str(), cnonce.as_str()))
            }
            _ => return Verdict::Rejected("unsupported qop"),
        };
        let expected = compute_response(
            creds.algorithm,
            &creds.username,
            &creds.realm,
            password,
            method.as_str(),
            &creds.uri,
            &creds.nonce,
            qop,
        );
        if !constant_time_eq(
            expected.as_bytes(),
            creds.response.to_ascii_lowercase().as_bytes(),
        ) {
            return Verdict::Rejected("wrong credentials");
        }
        match self.nonce_age(now, &creds.nonce) {
            Some(age) if age <= self.lifetime => {}
            _ => return Verdict::Stale,
        }
        // Checked above: with qop the count is 8 hex digits.
        let nc = qop.map_or(0, |(_, nc, _)| u32::from_str_radix(nc, 16).unwrap_or(0));
        if qop.is_some() && nc == 0 {
            return Verdict::Rejected("bad nonce count");
        }
        if !self.first_use(now, creds, nc) {
            return Verdict::Stale;
        }
        Verdict::Ok
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_response() {
        // RFC 2617 §3.5 (HTTP, but the computation is the same).
        let r = compute_response(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("auth", "00000001", "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_sha256_example_response() {
        // RFC 7616 §3.9.1.
        let r = compute_response(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            Some((
                "auth",
                "00000001",
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            )),
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn challenge_and_credentials_round_trip() {
        let c = Challenge::parse(r#"Digest realm="switchboard", nonce="abc", opaque="op", algorithm=SHA-256, qop="auth,auth-int", stale=TRUE"#).unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert!(c.qop_auth && c.stale);
        assert_eq!(Challenge::parse(&c.to_header_value()).unwrap(), c);
        let uri = Uri::parse("sip:switchboard.local").unwrap();
        let creds = authorize(&c, "alice", "pw", &Method::Register, &uri, "cn", 1);
        assert_eq!(creds.nc.as_deref(), Some("00000001"));
        assert_eq!(Credentials::parse(&creds.to_header_value()).unwrap(), creds);
        assert!(Challenge::parse("Basic realm=\"x\"").is_err());
    }

    fn server(now: Instant) -> DigestServer {
        DigestServer::new("switchboard", [7; 32], now).with_nonce_lifetime(Duration::from_secs(60))
    }

    #[test]
    fn right_password_passes_and_wrong_never_does() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let uri = Uri::parse("sip:switchboard.local").unwrap();
        // One nonce for both algorithms: the counts go on from one to the next.
        for (nc, ch) in (1..).zip(s.challenges(t0, false)) {
            let good = authorize(&ch, "alice", "secret", &Method::Register, &uri, "c1", nc);
            assert_eq!(
                s.verify(t0, &Method::Register, &uri, &good, "secret"),
                Verdict::Ok
            );
            let bad = authorize(
                &ch,
                "alice",
                "guess",
                &Method::Register,
                &uri,
                "c1",
                nc + 10,
            );
            assert_eq!(
                s.verify(t0, &Method::Register, &uri, &bad, "secret"),
                Verdict::Rejected("wrong credentials")
            );
            // A wrong password stays wrong even with an expired nonce.
            let late = t0 + Duration::from_secs(3600);
            assert_eq!(
                s.verify(late, &Method::Register, &uri, &bad, "secret"),
                Verdict::Rejected("wrong credentials")
            );
        }
    }

    #[test]
    fn expired_or_foreign_nonce_with_right_password_is_stale() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let uri = Uri::parse("sip:switchboard.local").unwrap();
        let ch = &s.challenges(t0, false)[0];
        let creds = authorize(ch, "alice", "secret", &Method::Register, &uri, "c1", 1);
        assert_eq!(
            s.verify(
                t0 + Duration::from_secs(61),
                &Method::Register,
                &uri,
                &creds,
                "secret"
            ),
            Verdict::Stale
        );
        let mut restarted = DigestServer::new("switchboard", [8; 32], t0);
        assert_eq!(
            restarted.verify(t0, &Method::Register, &uri, &creds, "secret"),
            Verdict::Stale
        );
        let mut forged = creds.clone();
        forged.nonce = "00".repeat(24);
        forged.response = compute_response(
            Algorithm::Md5,
            "alice",
            "switchboard",
            "secret",
            "REGISTER",
            uri.as_str(),
            &forged.nonce,
            Some(("auth", "00000001", "c1")),
        );
        assert_eq!(
            s.verify(t0, &Method::Register, &uri, &forged, "secret"),
            Verdict::Stale
        );
    }

    #[test]
    fn realm_uri_and_method_are_bound() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let uri = Uri::parse("sip:switchboard.local").unwrap();
        let ch = &s.challenges(t0, false)[0];
        let creds = authorize(ch, "alice", "secret", &Method::Register, &uri, "c1", 1);
        let other = Uri::parse("sip:elsewhere.example").unwrap();
        assert!(matches!(
            s.verify(t0, &Method::Register, &other, &creds, "secret"),
            Verdict::Rejected(_)
        ));
        assert!(matches!(
            s.verify(t0, &Method::Invite, &uri, &creds, "secret"),
            Verdict::Rejected(_)
        ));
        let mut wrong_realm = creds.clone();
        wrong_realm.realm = "other".into();
        assert_eq!(
            s.verify(t0, &Method::Register, &uri, &wrong_realm, "secret"),
            Verdict::Rejected("wrong realm")
        );
    }

    #[test]
    fn replayed_credentials_are_stale_and_counts_must_grow() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let uri = Uri::parse("sip:switchboard.local").unwrap();
        let ch = s.challenges(t0, false).remove(0);
        let r = |nc| authorize(&ch, "alice", "secret", &Method::Register, &uri, "c1", nc);
        let t = t0 + Duration::from_secs(1);
        assert_eq!(
            s.verify(t, &Method::Register, &uri, &r(1), "secret"),
            Verdict::Ok
        );
        // The same header again (a capture replayed), and an older count: stale.
        assert_eq!(
            s.verify(t, &Method::Register, &uri, &r(1), "secret"),
            Verdict::Stale
        );
        assert_eq!(
            s.verify(t, &Method::Register, &uri, &r(2), "secret"),
            Verdict::Ok
        );
        assert_eq!(
            s.verify(t, &Method::Register, &uri, &r(2), "secret"),
            Verdict::Stale
        );
        // Counts may skip (requests lost on the way), never go back.
        assert_eq!(
            s.verify(t, &Method::Register, &uri, &r(9), "secret"),
            Verdict::Ok
        );
        assert_eq!(
            s.verify(t, &Method::Register, &uri, &r(5), "secret"),
            Verdict::Stale
        );
        // Another user answering the same nonce counts on its own.
        let bob = authorize(&ch, "bob", "pw", &Method::Register, &uri, "c2", 1);
        assert_eq!(
            s.verify(t, &Method::Register, &uri, &bob, "pw"),
            Verdict::Ok
        );
        // A count of zero is not a count.
        assert_eq!(
            s.verify(t, &Method::Register, &uri, &r(0), "secret"),
            Verdict::Rejected("bad nonce count")
        );
        // A wrong password is rejected before anything is remembered.
        let guess = authorize(&ch, "alice", "guess", &Method::Register, &uri, "c1", 20);
        assert!(matches!(
            s.verify(t, &Method::Register, &uri, &guess, "secret"),
            Verdict::Rejected(_)
        ));
        assert_eq!(
            s.verify(t, &Method::Register, &uri, &r(20), "secret"),
            Verdict::Ok
        );
    }

    #[test]
    fn challenges_in_one_millisecond_get_different_nonces() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let uri = Uri::parse("sip:switchboard.local").unwrap();
        let a = s.challenges(t0, false).remove(0);
        let b = s.challenges(t0, false).remove(0);
        assert_ne!(a.nonce, b.nonce);
        // Each is answered with count 1, as a phone answering a new challenge does.
        for ch in [a, b] {
            let c = authorize(&ch, "alice", "secret", &Method::Register, &uri, "c1", 1);
            assert_eq!(
                s.verify(t0, &Method::Register, &uri, &c, "secret"),
                Verdict::Ok
            );
        }
    }

    #[test]
    fn without_qop_a_nonce_serves_one_request() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let uri = Uri::parse("sip:switchboard.local").unwrap();
        let mut ch = s.challenges(t0, false).remove(0);
        ch.qop_auth = false;
        let creds = authorize(&ch, "alice", "secret", &Method::Register, &uri, "c1", 1);
        assert_eq!(creds.qop, None);
        assert_eq!(
            s.verify(t0, &Method::Register, &uri, &creds, "secret"),
            Verdict::Ok
        );
        assert_eq!(
            s.verify(t0, &Method::Register, &uri, &creds, "secret"),
            Verdict::Stale
        );
    }

    #[test]
    fn remembered_uses_are_forgotten_once_their_nonces_expire() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let uri = Uri::parse("sip:switchboard.local").unwrap();
        let ch = s.challenges(t0, false).remove(0);
        for i in 0..=MIN_PRUNE_AT {
            let user = format!("u{i}");
            let c = authorize(&ch, &user, "pw", &Method::Register, &uri, "c", 1);
            assert_eq!(s.verify(t0, &Method::Register, &uri, &c, "pw"), Verdict::Ok);
        }
        // Nothing had expired at the first prune: kept, and the next prune comes at twice
        // the size.
        assert_eq!(s.used.len(), MIN_PRUNE_AT + 1);
        // Past the lifetime, the use that crosses that size prunes every expired entry.
        let later = t0 + Duration::from_secs(61);
        let fresh = s.challenges(later, false).remove(0);
        for i in 0..=MIN_PRUNE_AT + 1 {
            let user = format!("v{i}");
            let c = authorize(&fresh, &user, "pw", &Method::Register, &uri, "c", 1);
            assert_eq!(
                s.verify(later, &Method::Register, &uri, &c, "pw"),
                Verdict::Ok
            );
        }
        assert_eq!(s.used.len(), MIN_PRUNE_AT + 2);
        assert!(s.used.keys().all(|(u, _)| u.starts_with('v')));
    }
}
