//! Every message captured from sipp parses, keeps its headers, and round-trips.

use sip::{Message, Method, StatusCode};

fn load(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/vectors/sipp/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn every_sipp_message_parses_and_round_trips() {
    let dir = format!("{}/tests/vectors/sipp", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sip") {
            let raw = std::fs::read(&path).unwrap();
            let m = Message::parse(&raw).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                Message::parse(&m.to_bytes()).unwrap(),
                m,
                "{}",
                path.display()
            );
            n += 1;
        }
    }
    assert_eq!(n, 9);
}

#[test]
fn sipp_invite_has_the_sdp_offer_and_dialog_headers() {
    let m = Message::parse(&load("sipp_uac_invite.sip")).unwrap();
    let r = m.as_request().unwrap();
    assert_eq!(r.method(), &Method::Invite);
    assert!(r.headers().from().unwrap().tag().is_some());
    assert!(r.headers().to().unwrap().tag().is_none());
    assert!(r.headers().top_via().unwrap().has_rfc3261_branch());
    assert!(
        r.headers()
            .content_type()
            .unwrap()
            .unwrap()
            .is("application", "sdp")
    );
    assert_eq!(Some(r.body().len()), r.headers().content_length().unwrap());
}

#[test]
fn sipp_ack_follows_the_record_route() {
    let m = Message::parse(&load("sipp_uac_ack.sip")).unwrap();
    let r = m.as_request().unwrap();
    assert_eq!(r.method(), &Method::Ack);
    assert_eq!(r.uri().as_str(), "sip:1000@127.0.0.1:5090");
    assert_eq!(
        r.headers().routes().unwrap()[0].uri().as_str(),
        "sip:127.0.0.1:5090;lr"
    );
    assert_eq!(r.headers().to().unwrap().tag(), Some("srv1"));
}

#[test]
fn sipp_agent_answers_with_a_tagged_200_and_sdp() {
    let m = Message::parse(&load("sipp_uas_200.sip")).unwrap();
    let r = m.as_response().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().to().unwrap().tag().is_some());
    assert_eq!(r.headers().content_length().unwrap(), Some(r.body().len()));
    assert_eq!(
        r.headers().contact().unwrap().unwrap().uri().transport(),
        Some(sip::Transport::Udp)
    );
}
