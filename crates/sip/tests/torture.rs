//! RFC 4475 torture messages (§3.1.1 valid, §3.1.2 invalid), read from files under
//! `tests/torture/`. See `tests/torture/README.md` for where the bytes come from.

use std::path::PathBuf;

use sip::reject::error_response;
use sip::{
    Error, Framing, HeaderName, Message, Method, Request, Response, Scheme, StatusCode, Transport,
    check_stream,
};

fn vector(kind: &str, name: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "torture",
        kind,
        &format!("{name}.sip"),
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn valid_request(name: &str) -> Request {
    match Message::parse(&vector("valid", name)) {
        Ok(Message::Request(r)) => r,
        other => panic!("{name}: expected a request, got {other:?}"),
    }
}

fn valid_response(name: &str) -> Response {
    match Message::parse(&vector("valid", name)) {
        Ok(Message::Response(r)) => r,
        other => panic!("{name}: expected a response, got {other:?}"),
    }
}

const VALID: [&str; 13] = [
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
];

#[test]
fn every_valid_message_parses_and_round_trips() {
    for name in VALID {
        let m = Message::parse(&vector("valid", name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again =
            Message::parse(&m.to_bytes()).unwrap_or_else(|e| panic!("{name} reserialized: {e}"));
        assert_eq!(again, m, "{name}: parse(serialize(m)) == m");
    }
}

#[test]
fn every_valid_message_frames_on_a_stream() {
    for name in VALID {
        let raw = vector("valid", name);
        match check_stream(&raw) {
            Framing::Complete(len) if name == "dblreq" => {
                // Two requests in one buffer: the first (Content-Length: 0) is framed alone.
                let first = Message::parse(&raw[..len]).unwrap();
                assert_eq!(first.as_request().unwrap().method(), &Method::Register);
                // The trailing INVITE frames too (its own Content-Length is 3 bytes short of
                // its SDP, which only matters to whoever reads it).
                assert!(matches!(check_stream(&raw[len..]), Framing::Complete(_)));
            }
            Framing::Complete(len) => assert_eq!(len, raw.len(), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn wsinv_short_tortuous_invite() {
    let r = valid_request("wsinv");
    let h = r.headers();
    assert_eq!(r.method(), &Method::Invite);
    assert_eq!(r.uri().param("unknownparam"), Some(None));
    let to = h.to().unwrap();
    assert_eq!(to.uri().as_str(), "sip:vivekg@chair-dnrc.example.com");
    assert_eq!(to.tag(), Some("1918181833n"));
    let from = h.from().unwrap();
    assert_eq!(from.display_name().unwrap(), r#"J Rosenberg \""#);
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(h.max_forwards().unwrap(), Some(68));
    let cseq = h.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    let vias = h.vias().unwrap();
    let branches: Vec<_> = vias.iter().map(|v| v.branch().unwrap()).collect();
    assert_eq!(branches, ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]);
    assert_eq!(vias[1].transport(), Transport::Tcp);
    assert_eq!(vias[1].host().to_string(), "spindle.example.com");
    assert_eq!(h.value(&HeaderName::Subject), Some(""));
    assert_eq!(
        h.value(&HeaderName::parse("NewFangledHeader")),
        Some("newfangled value\r\n continued newfangled value")
    );
    assert_eq!(
        h.value(&HeaderName::parse("UnknownHeaderWithUnusualValue")),
        Some(";;,,;;,;")
    );
    let route = &h.routes().unwrap()[0];
    assert!(route.uri().lr());
    assert_eq!(route.uri().param("unknownwith"), Some(Some("value")));
    assert_eq!(route.uri().param("unknown-no-value"), Some(None));
    let contact = h.contact().unwrap().unwrap();
    assert_eq!(contact.display_name().unwrap(), r#"Quoted string """#);
    assert_eq!(contact.q(), Some(330));
    assert_eq!(contact.param("newparam"), Some(Some("newvalue")));
    assert_eq!(contact.param("secondparam"), Some(None));
    assert!(h.content_type().unwrap().unwrap().is("application", "sdp"));
    assert_eq!(r.body().len(), 150);
}

#[test]
fn unknown_headers_are_serialized_byte_for_byte() {
    let raw = vector("valid", "wsinv");
    let out = Message::parse(&raw).unwrap().to_bytes();
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("NewFangledHeader: newfangled value\r\n continued newfangled value\r\n"));
    assert!(out.contains("UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n"));
    assert!(out.starts_with("INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"));
}

#[test]
fn intmeth_wide_range_of_valid_characters() {
    let r = valid_request("intmeth");
    assert_eq!(
        r.method().as_str(),
        "!interesting-Method0123456789_*+`.%indeed'~"
    );
    assert!(matches!(r.method(), Method::Other(_)));
    assert_eq!(
        r.uri().user(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        r.uri().password(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    let h = r.headers();
    assert_eq!(
        h.to().unwrap().display_name().unwrap(),
        "BEL:\u{7} NUL:\u{0} DEL:\u{7f}"
    );
    let from = h.from().unwrap();
    assert_eq!(from.display_raw(), Some("token1~` token2'+_ token3*%!.-"));
    assert_eq!(
        from.param("fromParam''~+*_!.-%"),
        Some(Some("\"работающий\""))
    );
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        h.call_id().unwrap(),
        "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    );
    assert_eq!(h.cseq().unwrap().method, *r.method());
    assert_eq!(h.max_forwards().unwrap(), Some(255));
    assert_eq!(
        h.value(&HeaderName::parse("extensionHeader-!.%*+_`'~")),
        Some("\u{feff}大停電")
    );
    assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK-.!%66*_+`'~"));
}

#[test]
fn esc01_escaped_uris_keep_their_escapes() {
    let r = valid_request("esc01");
    assert_eq!(r.uri().user(), Some("sips%3Auser%40example.com"));
    assert_eq!(r.uri().user_unescaped().unwrap(), "sips:user@example.com");
    assert_eq!(r.uri().host().unwrap().to_string(), "example.net");
    let h = r.headers();
    assert_eq!(h.to().unwrap().uri().user_unescaped().unwrap(), "user");
    assert_eq!(
        h.from().unwrap().uri().user_unescaped().unwrap(),
        "I have spaces"
    );
    assert_eq!(h.call_id().unwrap(), "esc01.239409asdfakjkn23onasd0-3234");
    let c = h.contact().unwrap().unwrap();
    assert_eq!(c.uri().params_str(), ";%6C%72;n%61me=v%61lue%25%34%31");
    assert_eq!(c.uri().user_unescaped().unwrap(), "caller");
    assert!(h.content_type().unwrap().unwrap().is("application", "sdp"));
}

#[test]
fn escnull_escaped_nul_in_user_parts() {
    let r = valid_request("escnull");
    let h = r.headers();
    assert_eq!(h.to().unwrap().uri().user(), Some("null-%00-null"));
    let contacts = match h.contacts().unwrap() {
        sip::Contacts::List(l) => l,
        sip::Contacts::Star => panic!("not a star"),
    };
    let users: Vec<_> = contacts.iter().map(|c| c.uri().user().unwrap()).collect();
    assert_eq!(users, ["%00", "%00%00"]);
    assert_eq!(h.content_length().unwrap(), Some(0));
}

#[test]
fn esc02_escapes_in_method_and_header_name_are_not_decoded() {
    let r = valid_request("esc02");
    assert_eq!(r.method(), &Method::Other("RE%47IST%45R".into()));
    let h = r.headers();
    assert_eq!(h.to().unwrap().display_name().unwrap(), "%Z%45");
    assert!(h.get(&HeaderName::parse("C%6Fntact")).is_some());
    match h.contacts().unwrap() {
        sip::Contacts::List(l) => assert_eq!(l.len(), 2, "C%6Fntact is not a Contact"),
        sip::Contacts::Star => panic!(),
    }
}

#[test]
fn lwsdisp_display_name_without_space_before_angle() {
    let r = valid_request("lwsdisp");
    let from = r.headers().from().unwrap();
    assert_eq!(from.display_name().unwrap(), "caller");
    assert_eq!(from.uri().as_str(), "sip:caller@example.com");
    assert_eq!(from.tag(), Some("323"));
}

#[test]
fn longreq_long_values_everywhere() {
    let r = valid_request("longreq");
    let h = r.headers();
    assert_eq!(h.vias().unwrap().len(), 34);
    assert_eq!(h.top_via().unwrap().host().to_string(), "sip33.example.com");
    let to = h.to().unwrap();
    assert!(
        to.display_name()
            .unwrap()
            .starts_with("I have a user name of extreme")
    );
    assert_eq!(to.uri().port(), Some(6000));
    assert_eq!(
        to.uri().param(&format!(
            "very{}ParameterNameWithNoValue",
            "long".repeat(25)
        )),
        Some(None)
    );
    assert_eq!(
        h.from().unwrap().tag(),
        Some(format!("12{}424", "982".repeat(50)).as_str())
    );
    assert_eq!(
        h.call_id().unwrap(),
        format!("longreq.one{}longcallid", "really".repeat(20))
    );
    assert_eq!(r.body().len(), 150);
}

#[test]
fn dblreq_extra_bytes_after_content_length_are_ignored_on_udp() {
    let r = valid_request("dblreq");
    assert_eq!(r.method(), &Method::Register);
    assert!(r.body().is_empty());
    assert_eq!(
        r.headers().call_id().unwrap(),
        "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    );
}

#[test]
fn semiuri_semicolons_in_user_part() {
    let r = valid_request("semiuri");
    assert_eq!(r.uri().user(), Some("user;par=u%40example.net"));
    assert_eq!(r.uri().host().unwrap().to_string(), "example.com");
    assert_eq!(r.uri().params_str(), "");
    assert!(
        r.headers()
            .value(&HeaderName::Accept)
            .unwrap()
            .contains("message/sipfrag")
    );
}

#[test]
fn transports_all_via_transports() {
    let r = valid_request("transports");
    let t: Vec<_> = r
        .headers()
        .vias()
        .unwrap()
        .iter()
        .map(|v| v.transport())
        .collect();
    assert_eq!(
        t,
        [
            Transport::Udp,
            Transport::Sctp,
            Transport::Tls,
            Transport::Other,
            Transport::Tcp
        ]
    );
    assert_eq!(r.headers().vias().unwrap()[3].transport_name(), "UNKNOWN");
}

#[test]
fn mpart01_binary_multipart_body_is_opaque() {
    let r = valid_request("mpart01");
    assert_eq!(r.method(), &Method::Message);
    assert_eq!(r.body().len(), 553);
    let ct = r.headers().content_type().unwrap().unwrap();
    assert!(ct.is("multipart", "mixed"));
    assert_eq!(ct.param("boundary"), Some(Some("7a9cbec02ceef655")));
    assert_eq!(r.headers().top_via().unwrap().rport(), Some(None));
    assert!(matches!(
        r.headers().routes().unwrap()[0].uri().scheme(),
        Scheme::Sip
    ));
}

#[test]
fn unreason_and_noreason_status_lines() {
    let r = valid_response("unreason");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.reason(),
        "= 2**3 * 5**2 но сто девяносто девять - простое"
    );
    assert_eq!(r.body().len(), 154);
    let r = valid_response("noreason");
    assert_eq!(r.status(), StatusCode::TRYING);
    assert_eq!(r.reason(), "");
}

/// What RFC 4475 §3.1.2 expects of each invalid message, and what our stack does.
enum Expect {
    /// A request answered with this status.
    Answer(u16),
    /// A response: dropped.
    Drop,
}

fn invalid_cases() -> Vec<(&'static str, &'static str, Expect)> {
    use Expect::*;
    vec![
        ("badinv01", "invalid Via: empty parameter", Answer(400)),
        (
            "clerr",
            "Content-Length 9999 exceeds body of 154 bytes",
            Answer(400),
        ),
        (
            "ncl",
            "invalid Content-Length: not a length: \"-999\"",
            Answer(400),
        ),
        (
            "scalar02",
            "invalid CSeq: sequence number 36893488147419103232 exceeds 2^32-1",
            Answer(400),
        ),
        (
            "scalarlg",
            "invalid CSeq: sequence number 9292394834772304023312 exceeds 2^32-1",
            Drop,
        ),
        (
            "quotbal",
            "invalid To: unterminated quoted string",
            Answer(400),
        ),
        (
            "ltgtruri",
            "invalid Request-URI: unexpected character '<'",
            Answer(400),
        ),
        (
            "lwsruri",
            "invalid start line: whitespace inside the Request-URI",
            Answer(400),
        ),
        (
            "lwsstart",
            "invalid start line: more than one space between request line elements",
            Answer(400),
        ),
        (
            "trws",
            "invalid start line: whitespace at the end of the request line",
            Answer(400),
        ),
        (
            "escruri",
            "invalid Request-URI: a Request-URI must not contain headers",
            Answer(400),
        ),
        (
            "baddate",
            "invalid Date: time zone must be GMT, not EST",
            Answer(400),
        ),
        (
            "regbadct",
            "invalid Contact: a URI with headers must be enclosed in <>",
            Answer(400),
        ),
        (
            "badaspec",
            "invalid To: whitespace inside <addr-spec>",
            Answer(400),
        ),
        (
            "baddn",
            "invalid From: a display name with non-token characters must be quoted",
            Answer(400),
        ),
        ("badvers", "SIP version SIP/7.0 not supported", Answer(505)),
        (
            "mismatch01",
            "CSeq method INVITE does not match request method OPTIONS",
            Answer(400),
        ),
        (
            "mismatch02",
            "CSeq method INVITE does not match request method NEWMETHOD",
            Answer(400),
        ),
        (
            "bigcode",
            "invalid start line: bad status code \"4294967301\"",
            Drop,
        ),
    ]
}

#[test]
fn every_invalid_message_is_rejected_with_an_error_naming_the_problem() {
    for (name, text, _) in invalid_cases() {
        let err = Message::parse(&vector("invalid", name)).expect_err(name);
        assert_eq!(err.to_string(), text, "{name}");
    }
}

#[test]
fn invalid_requests_are_answered_and_invalid_responses_dropped() {
    for (name, _, expect) in invalid_cases() {
        let raw = vector("invalid", name);
        let err = Message::parse(&raw).unwrap_err();
        match (expect, error_response(&raw, &err)) {
            (Expect::Answer(code), Some(resp)) => {
                assert_eq!(resp.status().code(), code, "{name}");
                assert_eq!(resp.reason(), err.reason_phrase(), "{name}");
                let wire = resp.to_bytes();
                assert!(wire.ends_with(b"Content-Length: 0\r\n\r\n"), "{name}");
                // The answer copies the request's Via, From, To, Call-ID and CSeq as they are;
                // unless one of those was the broken part, the answer parses cleanly.
                let copied_header_broken = matches!(
                    err,
                    Error::Header {
                        name: "Via" | "From" | "To" | "Call-ID" | "CSeq",
                        ..
                    } | Error::Version(_)
                );
                if !copied_header_broken {
                    Message::parse(&wire)
                        .unwrap_or_else(|e| panic!("{name}: answer does not parse: {e}"));
                }
            }
            (Expect::Drop, None) => {}
            (Expect::Answer(_), None) => panic!("{name}: expected an answer, got drop"),
            (Expect::Drop, Some(r)) => panic!("{name}: expected drop, got {r:?}"),
        }
    }
}

#[test]
fn clerr_waits_for_more_bytes_on_a_stream_and_ncl_closes_it() {
    assert_eq!(
        check_stream(&vector("invalid", "clerr")),
        Framing::Incomplete
    );
    assert!(matches!(
        check_stream(&vector("invalid", "ncl")),
        Framing::Invalid(Error::Header {
            name: "Content-Length",
            ..
        })
    ));
}
