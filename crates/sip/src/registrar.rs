//! The registrar core (RFC 3261 §10.3): REGISTER in, response out, bindings kept per
//! address-of-record with expiry driven by `now`. Digest authentication with
//! [`DigestServer`]; passwords come from a [`PasswordLookup`] the caller supplies.
//!
//! **Architecture Invariant:** a binding is only ever created or changed by a REGISTER whose
//! credentials verified as [`Verdict::Ok`]; a wrong password never creates a binding.
//!
//! This is a single-domain registrar: an address-of-record is identified by the user part of
//! the To URI (the host is not checked, since phones often put the registrar's IP address
//! there), and the digest username must equal it.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::builder::{response_to, response_with_reason};
use crate::digest::{DigestServer, Verdict};
use crate::header::HeaderName;
use crate::message::{Method, Request, Response, StatusCode};
use crate::transport::Flow;
use crate::typed::{Contacts, NameAddr};
use crate::uri::Uri;

/// Looks up the password of a user (the controller backs it with the configured agents).
pub trait PasswordLookup {
    /// The password of `username`, or `None` when there is no such user.
    fn password(&self, username: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> PasswordLookup for F {
    fn password(&self, username: &str) -> Option<String> {
        self(username)
    }
}

/// Registrar settings.
#[derive(Clone, Debug)]
pub struct RegistrarConfig {
    /// Shortest registration accepted; shorter ones get `423 Interval Too Brief`.
    pub min_expires: u32,
    /// Longest registration granted; longer requests are shortened to this.
    pub max_expires: u32,
    /// Used when neither the contact nor the request says.
    pub default_expires: u32,
    /// Most contacts kept per address-of-record; the oldest is dropped beyond it.
    pub max_contacts: usize,
}

impl Default for RegistrarConfig {
    fn default() -> RegistrarConfig {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
        }
    }
}

/// One registered contact of an address-of-record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The Contact as the device sent it (without our `expires`).
    pub contact: NameAddr,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// Call-ID of the REGISTER that set it.
    pub call_id: String,
    /// CSeq of the REGISTER that set it.
    pub cseq: u32,
    /// Preference (`q`, thousandths), if given.
    pub q: Option<u16>,
    /// The flow the REGISTER arrived on: send requests for this contact here to reach a device
    /// behind NAT (RFC 5626-style flow reuse).
    pub flow: Option<Flow>,
}

impl Binding {
    /// The contact URI.
    pub fn uri(&self) -> &Uri {
        self.contact.uri()
    }

    /// Seconds left at `now`.
    pub fn remaining(&self, now: Instant) -> u32 {
        self.expires_at
            .saturating_duration_since(now)
            .as_secs()
            .min(u64::from(u32::MAX)) as u32
    }
}

/// Why a binding went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalReason {
    /// `Expires: 0` or `Contact: *`.
    Unregistered,
    /// Not refreshed in time.
    Expired,
    /// Dropped because the address-of-record had too many contacts.
    Replaced,
}

/// What happened to the bindings, for the controller (agent presence).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// A new contact was registered.
    Registered {
        /// Address-of-record (user part).
        aor: String,
        /// The binding.
        binding: Binding,
    },
    /// A contact went away.
    Removed {
        /// Address-of-record (user part).
        aor: String,
        /// The contact URI.
        contact: Uri,
        /// Why.
        reason: RemovalReason,
    },
}

/// The registrar state machine.
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    auth: DigestServer,
    bindings: BTreeMap<String, Vec<Binding>>,
    events: VecDeque<RegistrarEvent>,
}

enum Change {
    Add(Binding),
    Update(usize, Binding),
    Remove(usize),
}

impl Registrar {
    /// A registrar with these settings and authenticator.
    pub fn new(config: RegistrarConfig, auth: DigestServer) -> Registrar {
        Registrar {
            config,
            auth,
            bindings: BTreeMap::new(),
            events: VecDeque::new(),
        }
    }

    /// The authenticator (to challenge other requests with the same realm and nonces).
    pub fn digest(&self) -> &DigestServer {
        &self.auth
    }

    fn challenge(&mut self, now: Instant, req: &Request, stale: bool) -> Response {
        let mut r = response_to(req, StatusCode::UNAUTHORIZED, None);
        for c in self.auth.challenges(now, stale) {
            // Invariant: challenge values are built from quoted strings and tokens.
            let _ = r
                .headers_mut()
                .append(HeaderName::WwwAuthenticate, &c.to_header_value());
        }
        r
    }

    /// Handles a REGISTER that arrived on `flow` and returns the response to send. The
    /// response has no To tag; [`crate::endpoint::Endpoint::respond`] adds one.
    pub fn handle_register(
        &mut self,
        now: Instant,
        req: &Request,
        flow: Option<Flow>,
        passwords: &impl PasswordLookup,
    ) -> Response {
        self.expire(now);
        if req.method() != &Method::Register {
            let mut r = response_to(req, StatusCode::METHOD_NOT_ALLOWED, None);
            let _ = r.headers_mut().append(HeaderName::Allow, "REGISTER");
            return r;
        }
        let h = req.headers();
        match h.tokens(&HeaderName::Require) {
            Ok(t) if !t.is_empty() => {
                let mut r = response_to(req, StatusCode::BAD_EXTENSION, None);
                let _ = r
                    .headers_mut()
                    .append(HeaderName::Unsupported, &t.join(", "));
                return r;
            }
            Err(e) => {
                return response_with_reason(
                    req,
                    StatusCode::BAD_REQUEST,
                    &e.reason_phrase(),
                    None,
                );
            }
            Ok(_) => {}
        }
        let to = match h.to() {
            Ok(t) => t,
            Err(e) => {
                return response_with_reason(
                    req,
                    StatusCode::BAD_REQUEST,
                    &e.reason_phrase(),
                    None,
                );
            }
        };
        let Some(aor) = to
            .uri()
            .is_sip()
            .then(|| to.uri().user_unescaped())
            .flatten()
        else {
            return response_with_reason(req, StatusCode::NOT_FOUND, "No user in To", None);
        };
        let aor = aor.into_owned();

        // Authentication: only credentials for our realm count.
        let creds = h
            .credentials(false)
            .into_iter()
            .find(|c| c.realm == self.auth.realm());
        let Some(creds) = creds else {
            return self.challenge(now, req, false);
        };
        let verdict = match passwords.password(&creds.username) {
            Some(pw) => self.auth.verify(now, req.method(), req.uri(), &creds, &pw),
            None => Verdict::Rejected("unknown user"),
        };
        match verdict {
            Verdict::Ok => {}
            Verdict::Stale => return self.challenge(now, req, true),
            Verdict::Rejected(_) => {
                return response_with_reason(
                    req,
                    StatusCode::FORBIDDEN,
                    "Forbidden (bad credentials)",
                    None,
                );
            }
        }
        if creds.username != aor {
            return response_with_reason(
                req,
                StatusCode::FORBIDDEN,
                "Forbidden (not your address-of-record)",
                None,
            );
        }

        // Bindings.
        let call_id = h.call_id().unwrap_or_default().to_string();
        let cseq = match h.cseq() {
            Ok(c) => c.seq,
            Err(e) => {
                return response_with_reason(
                    req,
                    StatusCode::BAD_REQUEST,
                    &e.reason_phrase(),
                    None,
                );
            }
        };
        let header_expires = match h.expires() {
            Ok(e) => e,
            Err(e) => {
                return response_with_reason(
                    req,
                    StatusCode::BAD_REQUEST,
                    &e.reason_phrase(),
                    None,
                );
            }
        };
        let contacts = match h.contacts() {
            Ok(c) => c,
            Err(e) => {
                return response_with_reason(
                    req,
                    StatusCode::BAD_REQUEST,
                    &e.reason_phrase(),
                    None,
                );
            }
        };
        let existing = self.bindings.get(&aor).cloned().unwrap_or_default();
        let mut changes = Vec::new();
        match contacts {
            Contacts::Star => {
                if header_expires != Some(0) {
                    return response_with_reason(
                        req,
                        StatusCode::BAD_REQUEST,
                        "Contact: * requires Expires: 0",
                        None,
                    );
                }
                for (i, b) in existing.iter().enumerate() {
                    if b.call_id == call_id && cseq <= b.cseq {
                        return out_of_order(req);
                    }
                    changes.push(Change::Remove(i));
                }
            }
            Contacts::List(list) => {
                for c in &list {
                    let asked = c
                        .expires()
                        .or(header_expires)
                        .unwrap_or(self.config.default_expires);
                    if asked != 0 && asked < self.config.min_expires {
                        let mut r = response_to(req, StatusCode::INTERVAL_TOO_BRIEF, None);
                        let _ = r
                            .headers_mut()
                            .append(HeaderName::MinExpires, &self.config.min_expires.to_string());
                        return r;
                    }
                    let granted = asked.min(self.config.max_expires);
                    let found = existing.iter().position(|b| b.uri().matches(c.uri()));
                    if let Some(i) = found
                        && existing[i].call_id == call_id
                        && cseq <= existing[i].cseq
                    {
                        return out_of_order(req);
                    }
                    let binding = Binding {
                        contact: c.without_param("expires"),
                        expires_at: now + Duration::from_secs(u64::from(granted)),
                        call_id: call_id.clone(),
                        cseq,
                        q: c.q(),
                        flow,
                    };
                    changes.push(match (found, granted) {
                        (Some(i), 0) => Change::Remove(i),
                        (None, 0) => continue,
                        (Some(i), _) => Change::Update(i, binding),
                        (None, _) => Change::Add(binding),
                    });
                }
            }
        }
        self.apply(&aor, changes);
        self.ok_with_bindings(now, req, &aor)
    }

    fn apply(&mut self, aor: &str, changes: Vec<Change>) {
        let list = self.bindings.entry(aor.to_string()).or_default();
        let mut removed = Vec::new();
        let mut added = Vec::new();
        for ch in changes {
            match ch {
                Change::Update(i, b) => list[i] = b,
                Change::Remove(i) => removed.push(i),
                Change::Add(b) => added.push(b),
            }
        }
        removed.sort_unstable();
        removed.dedup();
        for i in removed.into_iter().rev() {
            let b = list.remove(i);
            self.events.push_back(RegistrarEvent::Removed {
                aor: aor.to_string(),
                contact: b.uri().clone(),
                reason: RemovalReason::Unregistered,
            });
        }
        for b in added {
            list.push(b.clone());
            self.events.push_back(RegistrarEvent::Registered {
                aor: aor.to_string(),
                binding: b,
            });
        }
        while list.len() > self.config.max_contacts {
            // Drop the binding that lapses first.
            let oldest = list
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.expires_at)
                .map(|(i, _)| i)
                .unwrap_or(0);
            let b = list.remove(oldest);
            self.events.push_back(RegistrarEvent::Removed {
                aor: aor.to_string(),
                contact: b.uri().clone(),
                reason: RemovalReason::Replaced,
            });
        }
        if list.is_empty() {
            self.bindings.remove(aor);
        }
    }

    fn ok_with_bindings(&self, now: Instant, req: &Request, aor: &str) -> Response {
        let mut r = response_to(req, StatusCode::OK, None);
        for b in self.lookup(now, aor) {
            let c = b
                .contact
                .with_param("expires", Some(&b.remaining(now).to_string()));
            let _ = r.headers_mut().append(HeaderName::Contact, c.as_str());
        }
        r
    }

    /// The live bindings of an address-of-record, best first (highest `q`, then the most
    /// recently refreshed).
    pub fn lookup(&self, now: Instant, aor: &str) -> Vec<&Binding> {
        let mut v: Vec<&Binding> = self
            .bindings
            .get(aor)
            .map(|l| l.iter().filter(|b| b.expires_at > now).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| {
            b.q.unwrap_or(1000)
                .cmp(&a.q.unwrap_or(1000))
                .then(b.expires_at.cmp(&a.expires_at))
        });
        v
    }

    /// Every address-of-record with live bindings.
    pub fn aors(&self) -> impl Iterator<Item = &str> {
        self.bindings.keys().map(String::as_str)
    }

    /// When the next binding lapses.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings
            .values()
            .flat_map(|l| l.iter().map(|b| b.expires_at))
            .min()
    }

    /// Removes lapsed bindings (harmless to call early or twice).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        let mut gone = Vec::new();
        for (aor, list) in &mut self.bindings {
            list.retain(|b| {
                let live = b.expires_at > now;
                if !live {
                    gone.push((aor.clone(), b.uri().clone()));
                }
                live
            });
        }
        self.bindings.retain(|_, l| !l.is_empty());
        for (aor, contact) in gone {
            self.events.push_back(RegistrarEvent::Removed {
                aor,
                contact,
                reason: RemovalReason::Expired,
            });
        }
    }

    /// The next event, if any. Drain after every call that changes state.
    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }
}

fn out_of_order(req: &Request) -> Response {
    response_with_reason(
        req,
        StatusCode::SERVER_INTERNAL_ERROR,
        "Out of order REGISTER",
        None,
    )
}
