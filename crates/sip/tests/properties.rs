//! Property tests: `parse(serialize(m)) == m` for generated messages (written with random
//! header casing, compact forms, spacing and folding), and no panic on arbitrary or mutated
//! input anywhere network bytes enter.

use std::time::Instant;

use proptest::prelude::*;
use sip::endpoint::{Endpoint, EndpointConfig};
use sip::reject::error_response;
use sip::{Flow, Framing, Host, Message, check_stream};

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,12}"
        .prop_filter("no stray % escapes in tokens used inside URIs", |s| {
            !s.contains('%')
        })
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9]{0,6}){0,2}",
        (any::<u8>(), any::<u8>(), any::<u8>(), 1u8..255)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

fn uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("sip"), Just("sips"), Just("SIP")],
        proptest::option::of("[a-zA-Z0-9_.~!*'()&=+$,;?/-]{1,12}|[a-z]{1,4}%[0-9A-F]{2}"),
        host(),
        proptest::option::of(1u16..),
        proptest::collection::vec(
            (
                "[a-z][a-z0-9-]{0,8}",
                proptest::option::of("[a-zA-Z0-9%-]{1,6}"),
            ),
            0..3,
        ),
    )
        .prop_filter_map("valid escapes", |(scheme, user, host, port, params)| {
            let mut s = format!("{scheme}:");
            if let Some(u) = user {
                if u.contains('%')
                    && !u
                        .split('%')
                        .skip(1)
                        .all(|p| p.len() >= 2 && p[..2].chars().all(|c| c.is_ascii_hexdigit()))
                {
                    return None;
                }
                s.push_str(&u);
                s.push('@');
            }
            s.push_str(&host);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            for (n, v) in params {
                s.push(';');
                s.push_str(&n);
                if let Some(v) = v {
                    if v.contains('%') {
                        continue;
                    }
                    s.push('=');
                    s.push_str(&v);
                }
            }
            Some(s)
        })
}

fn quoted() -> impl Strategy<Value = String> {
    "[ a-zA-Z0-9,;:<>@\\\\\"é]{0,16}".prop_map(|s| sip::grammar::quote(&s))
}

fn name_addr(tag: bool) -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(None), token().prop_map(Some), quoted().prop_map(Some)],
        uri(),
        if tag {
            token().prop_map(Some).boxed()
        } else {
            Just(None).boxed()
        },
    )
        .prop_map(|(display, uri, tag)| {
            let mut s = match display {
                Some(d) => format!("{d} <{uri}>"),
                None => format!("<{uri}>"),
            };
            if let Some(t) = tag {
                s.push_str(";tag=");
                s.push_str(&t);
            }
            s
        })
}

fn via() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("UDP"), Just("TCP"), Just("TLS"), Just("udp")],
        host(),
        proptest::option::of(1u16..),
        token(),
        any::<bool>(),
    )
        .prop_map(|(t, h, p, b, rport)| {
            let mut s = format!("SIP/2.0/{t} {h}");
            if let Some(p) = p {
                s.push_str(&format!(":{p}"));
            }
            s.push_str(&format!(";branch=z9hG4bK{b}"));
            if rport {
                s.push_str(";rport");
            }
            s
        })
}

/// A header name written one of the legal ways.
fn spelled(long: &'static str, compact: Option<&'static str>) -> impl Strategy<Value = String> {
    (any::<bool>(), any::<u32>()).prop_map(move |(use_compact, case)| {
        let base = match (use_compact, compact) {
            (true, Some(c)) => c.to_string(),
            _ => long.to_string(),
        };
        base.chars()
            .enumerate()
            .map(|(i, c)| {
                if case >> (i % 32) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    })
}

/// Separator between name and value: optional spaces, colon, optional spaces or a fold.
fn colon() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(": "),
        Just(":"),
        Just(" : "),
        Just(":\r\n "),
        Just(":\t")
    ]
}

fn unknown_header() -> impl Strategy<Value = String> {
    (
        "X-[a-zA-Z0-9-]{1,10}",
        colon(),
        "[!-~]([ -~]{0,20}[!-~])?",
        proptest::option::of("[!-~]{1,10}"),
    )
        .prop_map(|(n, c, v, cont)| match cont {
            Some(more) => format!("{n}{c}{v}\r\n {more}"),
            None => format!("{n}{c}{v}"),
        })
}

fn message_text() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        prop_oneof![
            Just("INVITE".to_string()),
            Just("REGISTER".to_string()),
            Just("OPTIONS".to_string()),
            Just("BYE".to_string()),
            "[A-Z]{3,10}"
        ],
        uri(),
        (100u16..700, "[ -~]{0,20}"),
        proptest::collection::vec(via(), 1..4),
        (
            name_addr(true),
            name_addr(false),
            "[a-zA-Z0-9.!%*_+`'~-]{1,16}(@[a-z0-9.]{1,10})?",
            0u32..=u32::MAX,
        ),
        proptest::collection::vec(name_addr(false), 0..3),
        proptest::collection::vec(unknown_header(), 0..4),
        proptest::collection::vec(any::<u8>(), 0..64),
        (
            spelled("Via", Some("v")),
            spelled("From", Some("f")),
            spelled("To", Some("t")),
            spelled("Call-ID", Some("i")),
        ),
        (
            spelled("CSeq", None),
            spelled("Contact", Some("m")),
            spelled("Content-Length", Some("l")),
            colon(),
        ),
    )
        .prop_map(
            |(
                is_req,
                method,
                ruri,
                (code, reason),
                vias,
                (from, to, call_id, seq),
                contacts,
                unknown,
                body,
                names,
                names2,
            )| {
                let (via_n, from_n, to_n, cid_n) = names;
                let (cseq_n, contact_n, cl_n, sep) = names2;
                let mut s = if is_req {
                    format!("{method} {ruri} SIP/2.0\r\n")
                } else {
                    format!("SIP/2.0 {code} {reason}\r\n")
                };
                for v in &vias {
                    s.push_str(&format!("{via_n}{sep}{v}\r\n"));
                }
                s.push_str(&format!(
                    "{from_n}{sep}{from}\r\n{to_n}{sep}{to}\r\n{cid_n}{sep}{call_id}\r\n"
                ));
                s.push_str(&format!("{cseq_n}{sep}{seq} {method}\r\n"));
                if !contacts.is_empty() {
                    s.push_str(&format!("{contact_n}{sep}{}\r\n", contacts.join(", ")));
                }
                for u in &unknown {
                    s.push_str(u);
                    s.push_str("\r\n");
                }
                s.push_str(&format!("{cl_n}{sep}{}\r\n\r\n", body.len()));
                let mut out = s.into_bytes();
                out.extend_from_slice(&body);
                out
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_messages_parse_and_round_trip(raw in message_text()) {
        let m = Message::parse(&raw).map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&raw))))?;
        let again = Message::parse(&m.to_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again, &m);
        // Serializing is stable after one round.
        prop_assert_eq!(again.to_bytes(), m.to_bytes());
        // Stream framing agrees with the datagram parser about the length.
        prop_assert_eq!(check_stream(&raw), Framing::Complete(raw.len()));
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&raw);
    }

    #[test]
    fn mutated_messages_never_panic(
        raw in message_text(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut raw = raw;
        for (at, byte, kind) in edits {
            if raw.is_empty() {
                break;
            }
            let i = at.index(raw.len());
            match kind {
                0 => raw[i] = byte,
                1 => { raw.remove(i); }
                _ => raw.insert(i, byte),
            }
        }
        exercise(&raw);
    }
}

/// Everything that touches network bytes: parse, reserialize, frame, reject, and an endpoint.
fn exercise(raw: &[u8]) {
    match Message::parse(raw) {
        Ok(m) => {
            let again = Message::parse(&m.to_bytes())
                .expect("a parsed message reserializes to a parseable one");
            assert_eq!(again, m);
            let h = m.headers();
            let _ = (
                h.vias(),
                h.contacts(),
                h.routes(),
                h.record_routes(),
                h.expires(),
                h.retry_after(),
            );
        }
        Err(e) => {
            if let Some(r) = error_response(raw, &e) {
                let _ = r.to_bytes();
            }
        }
    }
    let _ = check_stream(raw);
    let mut ep = Endpoint::new(EndpointConfig::new(
        Host::parse("192.0.2.9").unwrap(),
        None,
        7,
    ))
    .unwrap();
    let now = Instant::now();
    ep.handle_input(now, Flow::udp("192.0.2.1:5060".parse().unwrap()), raw);
    while ep.poll_output().is_some() {}
}

#[test]
fn torture_vectors_survive_single_byte_deletions() {
    // Deterministic companion to the random mutations: every RFC 4475 message with each byte
    // removed in turn.
    let dir = format!("{}/tests/torture/valid", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        for i in 0..raw.len().min(600) {
            let mut m = raw.clone();
            m.remove(i);
            exercise(&m);
        }
    }
}
