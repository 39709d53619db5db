//! Registrar behaviour: digest challenge and verification, bindings with expiry, refresh,
//! un-register, fetch, ordering rules. Time is simulated; `now` is a base instant plus offsets.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::digest::{self, Algorithm, Challenge, DigestServer, compute_response};
use sip::registrar::{Registrar, RegistrarConfig, RegistrarEvent, RemovalReason};
use sip::{HeaderName, Message, Method, NameAddr, Request, Response, StatusCode, Uri, Via};

fn passwords(user: &str) -> Option<String> {
    match user {
        "alice" => Some("wonderland".into()),
        "bob" => Some("builder".into()),
        _ => None,
    }
}

struct Phone {
    user: &'static str,
    password: &'static str,
    call_id: String,
    cseq: u32,
}

impl Phone {
    fn new(user: &'static str, password: &'static str, call_id: &str) -> Phone {
        Phone {
            user,
            password,
            call_id: call_id.into(),
            cseq: 0,
        }
    }

    fn register(
        &mut self,
        contacts: &[&str],
        expires: Option<u32>,
        challenge: Option<&Response>,
    ) -> Request {
        self.cseq += 1;
        let uri = Uri::parse("sip:switchboard.local").unwrap();
        let mut b = sip::builder::RequestBuilder::new(Method::Register, uri.clone())
            .via(
                &Via::parse(&format!(
                    "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{}{}",
                    self.call_id, self.cseq
                ))
                .unwrap(),
            )
            .from(
                &NameAddr::parse(&format!("<sip:{}@switchboard.local>;tag=ft", self.user)).unwrap(),
            )
            .to(&NameAddr::parse(&format!("<sip:{}@switchboard.local>", self.user)).unwrap())
            .call_id(&self.call_id)
            .cseq(self.cseq);
        for c in contacts {
            b = b.header(HeaderName::Contact, c);
        }
        if let Some(e) = expires {
            b = b.header(HeaderName::Expires, &e.to_string());
        }
        if let Some(ch) = challenge {
            let c = Challenge::parse(ch.headers().value(&HeaderName::WwwAuthenticate).unwrap())
                .unwrap();
            let creds = digest::authorize(
                &c,
                self.user,
                self.password,
                &Method::Register,
                &uri,
                "cafe",
                1,
            );
            b = b.header(HeaderName::Authorization, &creds.to_header_value());
        }
        b.build().unwrap()
    }
}

fn registrar(t0: Instant) -> Registrar {
    Registrar::new(
        RegistrarConfig::default(),
        DigestServer::new("switchboard", [42; 32], t0).with_nonce_lifetime(Duration::from_secs(30)),
    )
}

/// REGISTER, answer the challenge, return the final response.
fn register_authenticated(
    r: &mut Registrar,
    now: Instant,
    phone: &mut Phone,
    contacts: &[&str],
    expires: Option<u32>,
) -> Response {
    let first = r.handle_register(
        now,
        &phone.register(contacts, expires, None),
        None,
        &passwords,
    );
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    r.handle_register(
        now,
        &phone.register(contacts, expires, Some(&first)),
        None,
        &passwords,
    )
}

fn contact_expires(resp: &Response) -> Vec<(String, u32)> {
    match resp.headers().contacts().unwrap() {
        sip::Contacts::List(l) => l
            .iter()
            .map(|c| (c.uri().to_string(), c.expires().unwrap()))
            .collect(),
        sip::Contacts::Star => panic!("star in a 200"),
    }
}

#[test]
fn unauthenticated_register_is_challenged_with_md5_and_sha256() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut alice = Phone::new("alice", "wonderland", "c1");
    let resp = r.handle_register(
        t0,
        &alice.register(&["<sip:alice@192.0.2.10>"], None, None),
        None,
        &passwords,
    );
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let algs: Vec<_> = resp
        .headers()
        .challenges(false)
        .into_iter()
        .map(|c| {
            assert!(c.qop_auth && !c.stale);
            assert_eq!(c.realm, "switchboard");
            c.algorithm
        })
        .collect();
    assert_eq!(algs, [Algorithm::Md5, Algorithm::Sha256]);
    assert!(r.lookup(t0, "alice").is_empty());
}

#[test]
fn authenticated_register_creates_a_binding_and_reports_it() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut alice = Phone::new("alice", "wonderland", "c1");
    let ok = register_authenticated(
        &mut r,
        t0,
        &mut alice,
        &["<sip:alice@192.0.2.10:5060>"],
        Some(600),
    );
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        contact_expires(&ok),
        [("sip:alice@192.0.2.10:5060".to_string(), 600)]
    );
    let b = r.lookup(t0, "alice");
    assert_eq!(b.len(), 1);
    assert!(
        matches!(r.poll_event(), Some(RegistrarEvent::Registered { aor, .. }) if aor == "alice")
    );
    assert_eq!(r.poll_event(), None);
}

#[test]
fn sha256_challenge_answered_with_sha256_works() {
    let t0 = Instant::now();
    let mut r = Registrar::new(
        RegistrarConfig::default(),
        DigestServer::new("switchboard", [1; 32], t0).with_algorithms(&[Algorithm::Sha256]),
    );
    let mut bob = Phone::new("bob", "builder", "c9");
    let ok = register_authenticated(&mut r, t0, &mut bob, &["<sip:bob@192.0.2.11>"], None);
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(contact_expires(&ok)[0].1, 3600, "default expiry");
}

#[test]
fn wrong_password_never_creates_a_binding() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut mallory = Phone::new("alice", "guess", "c2");
    let resp = register_authenticated(&mut r, t0, &mut mallory, &["<sip:evil@198.51.100.1>"], None);
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(r.lookup(t0, "alice").is_empty());
    assert_eq!(r.poll_event(), None);
    // Even much later, with an expired nonce, a wrong password is refused (not "stale").
    let late = t0 + Duration::from_secs(3600);
    let first = r.handle_register(
        late,
        &mallory.register(&["<sip:evil@198.51.100.1>"], None, None),
        None,
        &passwords,
    );
    let stale_req = mallory.register(&["<sip:evil@198.51.100.1>"], None, Some(&first));
    let resp = r.handle_register(
        late + Duration::from_secs(100),
        &stale_req,
        None,
        &passwords,
    );
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(r.lookup(late, "alice").is_empty());
}

#[test]
fn unknown_user_and_someone_elses_aor_are_forbidden() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut eve = Phone::new("eve", "x", "c3");
    assert_eq!(
        register_authenticated(&mut r, t0, &mut eve, &["<sip:eve@h>"], None).status(),
        StatusCode::FORBIDDEN
    );
    // Bob authenticates correctly but tries to register Alice's address.
    let mut bob = Phone::new("bob", "builder", "c4");
    let first = r.handle_register(
        t0,
        &bob.register(&["<sip:bob@h>"], None, None),
        None,
        &passwords,
    );
    let mut req = bob.register(&["<sip:bob@h>"], None, Some(&first));
    let to = NameAddr::parse("<sip:alice@switchboard.local>").unwrap();
    req.headers_mut().set(HeaderName::To, to.as_str()).unwrap();
    assert_eq!(
        r.handle_register(t0, &req, None, &passwords).status(),
        StatusCode::FORBIDDEN
    );
    assert!(r.lookup(t0, "alice").is_empty());
}

#[test]
fn stale_nonce_with_right_password_gets_a_stale_challenge() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut alice = Phone::new("alice", "wonderland", "c5");
    let first = r.handle_register(
        t0,
        &alice.register(&["<sip:alice@h>"], None, None),
        None,
        &passwords,
    );
    let later = t0 + Duration::from_secs(31);
    let resp = r.handle_register(
        later,
        &alice.register(&["<sip:alice@h>"], None, Some(&first)),
        None,
        &passwords,
    );
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let c = Challenge::parse(resp.headers().value(&HeaderName::WwwAuthenticate).unwrap()).unwrap();
    assert!(c.stale);
    assert!(r.lookup(later, "alice").is_empty());
    // Answering the new challenge succeeds.
    let ok = r.handle_register(
        later,
        &alice.register(&["<sip:alice@h>"], None, Some(&resp)),
        None,
        &passwords,
    );
    assert_eq!(ok.status(), StatusCode::OK);
}

#[test]
fn too_brief_interval_gets_423_with_min_expires() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut alice = Phone::new("alice", "wonderland", "c6");
    let resp = register_authenticated(&mut r, t0, &mut alice, &["<sip:alice@h>;expires=10"], None);
    assert_eq!(resp.status(), StatusCode::INTERVAL_TOO_BRIEF);
    assert_eq!(resp.headers().min_expires().unwrap(), Some(60));
    assert!(r.lookup(t0, "alice").is_empty());
}

#[test]
fn long_intervals_are_capped_and_contact_param_beats_header() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut alice = Phone::new("alice", "wonderland", "c7");
    let ok = register_authenticated(
        &mut r,
        t0,
        &mut alice,
        &["<sip:a1@h>;expires=120", "<sip:a2@h>"],
        Some(86400),
    );
    let mut got = contact_expires(&ok);
    got.sort();
    assert_eq!(
        got,
        [
            ("sip:a1@h".to_string(), 120),
            ("sip:a2@h".to_string(), 3600)
        ]
    );
}

#[test]
fn bindings_expire_with_time_and_are_reported() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut alice = Phone::new("alice", "wonderland", "c8");
    register_authenticated(&mut r, t0, &mut alice, &["<sip:alice@h>"], Some(120));
    while r.poll_event().is_some() {}
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(120)));
    r.handle_timeout(t0 + Duration::from_secs(119));
    assert_eq!(r.lookup(t0 + Duration::from_secs(119), "alice").len(), 1);
    r.handle_timeout(t0 + Duration::from_secs(120));
    r.handle_timeout(t0 + Duration::from_secs(120));
    assert!(r.lookup(t0 + Duration::from_secs(120), "alice").is_empty());
    assert!(matches!(
        r.poll_event(),
        Some(RegistrarEvent::Removed {
            reason: RemovalReason::Expired,
            ..
        })
    ));
    assert_eq!(r.poll_event(), None, "expiring twice reports once");
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn refresh_extends_and_unregister_removes() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut alice = Phone::new("alice", "wonderland", "c10");
    register_authenticated(
        &mut r,
        t0,
        &mut alice,
        &["<sip:alice@h>", "<sip:alice@desk>"],
        Some(300),
    );
    let t1 = t0 + Duration::from_secs(200);
    let ok = register_authenticated(&mut r, t1, &mut alice, &["<sip:alice@h>"], Some(300));
    let mut got = contact_expires(&ok);
    got.sort();
    assert_eq!(
        got,
        [
            ("sip:alice@desk".to_string(), 100),
            ("sip:alice@h".to_string(), 300)
        ]
    );
    let ok = register_authenticated(&mut r, t1, &mut alice, &["<sip:alice@desk>"], Some(0));
    assert_eq!(contact_expires(&ok), [("sip:alice@h".to_string(), 300)]);
    let ok = register_authenticated(&mut r, t1, &mut alice, &["*"], Some(0));
    assert!(contact_expires(&ok).is_empty());
    assert!(r.lookup(t1, "alice").is_empty());
}

#[test]
fn star_without_expires_zero_is_a_bad_request() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut alice = Phone::new("alice", "wonderland", "c11");
    assert_eq!(
        register_authenticated(&mut r, t0, &mut alice, &["*"], None).status(),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn fetch_returns_current_bindings_without_changing_them() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut alice = Phone::new("alice", "wonderland", "c12");
    register_authenticated(
        &mut r,
        t0,
        &mut alice,
        &["<sip:alice@h>;q=0.5", "<sip:alice@desk>;q=0.9"],
        Some(600),
    );
    let t1 = t0 + Duration::from_secs(60);
    let ok = register_authenticated(&mut r, t1, &mut alice, &[], None);
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        contact_expires(&ok),
        [
            ("sip:alice@desk".to_string(), 540),
            ("sip:alice@h".to_string(), 540)
        ],
        "best q first, remaining time"
    );
}

#[test]
fn replayed_or_older_cseq_for_same_call_id_is_refused() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut alice = Phone::new("alice", "wonderland", "c13");
    let first = r.handle_register(
        t0,
        &alice.register(&["<sip:alice@h>"], Some(600), None),
        None,
        &passwords,
    );
    let req = alice.register(&["<sip:alice@h>"], Some(600), Some(&first));
    assert_eq!(
        r.handle_register(t0, &req, None, &passwords).status(),
        StatusCode::OK
    );
    // The same request again (a capture replayed): its credentials were used, so it only
    // gets a fresh challenge.
    let again = r.handle_register(t0, &req, None, &passwords);
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(
        again
            .headers()
            .value(&HeaderName::WwwAuthenticate)
            .is_some_and(|v| v.contains("stale=true")),
        "{again:?}"
    );
    // Rightly authenticated but with the same Call-ID and CSeq: out of order.
    alice.cseq -= 1;
    let same_cseq = alice.register(&["<sip:alice@h>"], Some(600), Some(&again));
    let refused = r.handle_register(t0, &same_cseq, None, &passwords);
    assert_eq!(refused.status(), StatusCode::SERVER_INTERNAL_ERROR);
    // A new Call-ID (phone rebooted) with a lower CSeq is fine.
    let mut rebooted = Phone::new("alice", "wonderland", "c14");
    let ok = register_authenticated(&mut r, t0, &mut rebooted, &["<sip:alice@h>"], Some(600));
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(r.lookup(t0, "alice")[0].call_id, "c14");
}

#[test]
fn required_extensions_are_refused_with_420() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let mut alice = Phone::new("alice", "wonderland", "c15");
    let mut req = alice.register(&["<sip:alice@h>"], None, None);
    req.headers_mut()
        .append(HeaderName::Require, "gruu")
        .unwrap();
    let resp = r.handle_register(t0, &req, None, &passwords);
    assert_eq!(resp.status(), StatusCode::BAD_EXTENSION);
    assert_eq!(resp.headers().value(&HeaderName::Unsupported), Some("gruu"));
}

fn sipp_vector(name: &str) -> Request {
    let path = format!("{}/tests/vectors/sipp/{name}", env!("CARGO_MANIFEST_DIR"));
    match Message::parse_bytes(Bytes::from(std::fs::read(path).unwrap())).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("expected a request"),
    }
}

#[test]
fn sipp_register_and_its_digest_answer_parse_and_verify() {
    let first = sipp_vector("sipp_register.sip");
    assert_eq!(first.headers().expires().unwrap(), Some(3600));
    let auth = sipp_vector("sipp_register_auth.sip");
    let creds =
        digest::Credentials::parse(auth.headers().value(&HeaderName::Authorization).unwrap())
            .unwrap();
    assert_eq!(creds.username, "agent1001");
    assert_eq!(creds.qop.as_deref(), Some("auth"));
    // The response sipp computed (password from agents.csv) matches ours.
    let ours = compute_response(
        creds.algorithm,
        "agent1001",
        &creds.realm,
        "secret1001",
        "REGISTER",
        &creds.uri,
        &creds.nonce,
        Some((
            "auth",
            creds.nc.as_deref().unwrap(),
            creds.cnonce.as_deref().unwrap(),
        )),
    );
    assert_eq!(ours, creds.response);
}
