//! Offer/answer behaviour beyond the golden files: our offers to agent phones, reading
//! their answers, re-offers and the `o=` version, and a property test that whatever we
//! answer reads back as what we decided.

use std::net::IpAddr;

use proptest::prelude::*;
use sdp::{
    Capabilities, Codec, Direction, EventSet, LocalMedia, LocalSession, OfferSpec, OfferStream,
    OfferedCodec, Preference, RejectReason, SdpError, SessionDescription, StreamOutcome,
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("literal address")
}

fn parse(s: &str) -> SessionDescription {
    SessionDescription::parse(s.replace('\n', "\r\n").as_bytes()).expect("valid test SDP")
}

fn agent_offer(session: &mut LocalSession, direction: Direction) -> SessionDescription {
    let mut audio = OfferStream::audio(30000, &[Codec::Pcmu, Codec::Pcma, Codec::Opus]);
    audio.direction = direction;
    audio.ptime = Some(20);
    sdp::build_offer(
        &OfferSpec {
            address: ip("198.51.100.1"),
            streams: vec![audio],
        },
        session,
    )
    .expect("valid offer")
}

#[test]
fn offer_to_agent_uses_static_and_conventional_payload_types() {
    let mut session = LocalSession::new(77, 1, ip("198.51.100.1"));
    let offer = agent_offer(&mut session, Direction::SendRecv);
    let text = offer.to_string();
    assert!(
        text.contains("m=audio 30000 RTP/AVP 0 8 111 101 96\r\n"),
        "{text}"
    );
    assert!(text.contains("a=rtpmap:111 opus/48000/2\r\n"), "{text}");
    assert!(
        text.contains("a=rtpmap:101 telephone-event/8000\r\n"),
        "{text}"
    );
    assert!(
        text.contains("a=rtpmap:96 telephone-event/48000\r\n"),
        "{text}"
    );
    assert!(text.contains("a=fmtp:101 0-15\r\n"), "{text}");
    assert!(
        text.contains("o=switchboard 77 1 IN IP4 198.51.100.1\r\n"),
        "{text}"
    );
    let m = &offer.media()[0];
    assert_eq!(m.ptime, Some(20));
    assert_eq!(
        m.formats.iter().map(|f| f.codec).collect::<Vec<_>>(),
        [
            Some(Codec::Pcmu),
            Some(Codec::Pcma),
            Some(Codec::Opus),
            Some(Codec::TelephoneEvent),
            Some(Codec::TelephoneEvent)
        ]
    );
}

#[test]
fn reoffer_bumps_the_version_only_when_the_content_changes() {
    let mut session = LocalSession::new(77, 5, ip("198.51.100.1"));
    assert_eq!(
        agent_offer(&mut session, Direction::SendRecv).session_version(),
        5
    );
    // The same offer again (e.g. a session refresh) keeps version 5.
    assert_eq!(
        agent_offer(&mut session, Direction::SendRecv).session_version(),
        5
    );
    // Hold changes the content: 6. Resume changes it again: 7.
    let hold = agent_offer(&mut session, Direction::SendOnly);
    assert_eq!(hold.session_version(), 6);
    assert_eq!(hold.media()[0].direction, Direction::SendOnly);
    assert_eq!(
        agent_offer(&mut session, Direction::SendRecv).session_version(),
        7
    );
    assert_eq!(session.version(), 7);
}

#[test]
fn agent_answer_with_renumbered_telephone_event_is_paired_by_name() {
    let mut session = LocalSession::new(77, 1, ip("198.51.100.1"));
    let offer = agent_offer(&mut session, Direction::SendRecv);
    let answer = parse(
        "v=0
o=- 5 5 IN IP4 10.0.0.23
s=-
c=IN IP4 10.0.0.23
t=0 0
m=audio 11780 RTP/AVP 8 120
a=rtpmap:8 PCMA/8000
a=rtpmap:120 telephone-event/8000
a=ptime:30
a=sendrecv
",
    );
    let n = sdp::process_answer(&offer, &answer).expect("fits the offer");
    let audio = n.audio().expect("audio accepted");
    assert_eq!(audio.codec.codec, Codec::Pcma);
    assert_eq!(audio.codec.send_payload_type, 8);
    let te = audio.telephone_event.as_ref().expect("events agreed");
    assert_eq!((te.send_payload_type, te.recv_payload_type), (120, 101));
    assert_eq!(audio.ptime, Some(30));
    assert_eq!(audio.remote_port, 11780);
    assert_eq!(
        audio.remote_connection.as_ref().and_then(|c| c.ip()),
        Some(ip("10.0.0.23"))
    );
}

#[test]
fn agent_answer_that_holds_us_makes_our_side_recvonly() {
    let mut session = LocalSession::new(77, 1, ip("198.51.100.1"));
    let offer = agent_offer(&mut session, Direction::SendRecv);
    let answer = parse(
        "v=0
o=- 5 5 IN IP4 10.0.0.23
s=-
c=IN IP4 10.0.0.23
t=0 0
m=audio 11780 RTP/AVP 0
a=sendonly
",
    );
    let n = sdp::process_answer(&offer, &answer).expect("fits");
    assert_eq!(n.audio().map(|a| a.direction), Some(Direction::RecvOnly));
}

#[test]
fn an_answer_without_the_trailing_video_line_rejects_the_video() {
    let mut session = LocalSession::new(77, 1, ip("198.51.100.1"));
    let mut video = OfferStream::audio(30002, &[Codec::H264]);
    video.kind = sdp::MediaKind::Video;
    video.telephone_event = None;
    let offer = sdp::build_offer(
        &OfferSpec {
            address: ip("198.51.100.1"),
            streams: vec![OfferStream::audio(30000, &[Codec::Pcmu]), video],
        },
        &mut session,
    )
    .expect("valid offer");
    let audio_only = parse(
        "v=0
o=- 5 5 IN IP4 10.0.0.23
s=-
c=IN IP4 10.0.0.23
t=0 0
m=audio 11780 RTP/AVP 0
",
    );
    let n = sdp::process_answer(&offer, &audio_only).expect("audio fits");
    assert_eq!(n.streams.len(), 2);
    assert_eq!(n.audio().map(|a| a.codec.codec), Some(Codec::Pcmu));
    assert!(matches!(
        &n.streams[1],
        StreamOutcome::Rejected(r) if r.reason == RejectReason::RejectedByAnswerer
            && r.kind == sdp::MediaKind::Video
    ));
}

#[test]
fn answers_that_do_not_fit_the_offer_are_488() {
    let mut session = LocalSession::new(77, 1, ip("198.51.100.1"));
    let offer = agent_offer(&mut session, Direction::SendRecv);
    let g729 = parse(
        "v=0
o=- 5 5 IN IP4 10.0.0.23
s=-
c=IN IP4 10.0.0.23
t=0 0
m=audio 11780 RTP/AVP 18
",
    );
    let e = sdp::process_answer(&offer, &g729).expect_err("G.729 was not offered");
    assert!(matches!(e, SdpError::AnswerMismatch { .. }), "{e:?}");
    assert_eq!(e.status_code(), 488);

    let two = parse(
        "v=0
o=- 5 5 IN IP4 10.0.0.23
s=-
c=IN IP4 10.0.0.23
t=0 0
m=audio 11780 RTP/AVP 0
m=video 0 RTP/AVP 96
",
    );
    assert!(matches!(
        sdp::process_answer(&offer, &two),
        Err(SdpError::AnswerMismatch { .. })
    ));

    let rejected = parse(
        "v=0
o=- 5 5 IN IP4 10.0.0.23
s=-
c=IN IP4 10.0.0.23
t=0 0
m=audio 0 RTP/AVP 0
",
    );
    assert_eq!(
        sdp::process_answer(&offer, &rejected),
        Err(SdpError::NoAcceptableStream)
    );
}

const PHONE_OFFER: &str = "v=0
o=- 1 1 IN IP4 10.0.0.23
s=-
c=IN IP4 10.0.0.23
t=0 0
m=audio 11780 RTP/AVP 8 0 111 110
a=rtpmap:111 opus/48000/2
a=fmtp:111 maxaveragebitrate=10000
a=rtpmap:110 telephone-event/48000
a=ptime:40
";

#[test]
fn offerer_preference_and_ours_choose_differently() {
    let offer = parse(PHONE_OFFER);
    let mut caps = Capabilities::audio(&[Codec::Pcmu, Codec::Pcma]);
    let n = sdp::negotiate(&offer, &caps).expect("common codec");
    assert_eq!(n.audio().map(|a| a.codec.codec), Some(Codec::Pcma));
    caps.preference = Preference::Ours;
    let n = sdp::negotiate(&offer, &caps).expect("common codec");
    assert_eq!(n.audio().map(|a| a.codec.codec), Some(Codec::Pcmu));
}

#[test]
fn telephone_event_is_only_answered_at_the_codec_clock_rate() {
    let offer = parse(PHONE_OFFER);
    let n = sdp::negotiate(&offer, &Capabilities::audio(&[Codec::Pcma])).expect("PCMA");
    assert_eq!(n.audio().and_then(|a| a.telephone_event.as_ref()), None);
    let n = sdp::negotiate(&offer, &Capabilities::audio(&[Codec::Opus])).expect("Opus");
    let te = n
        .audio()
        .and_then(|a| a.telephone_event.as_ref())
        .expect("telephone-event/48000 goes with Opus");
    assert_eq!(te.recv_payload_type, 110);
}

#[test]
fn opus_cap_keeps_a_lower_offered_bitrate() {
    let offer = parse(PHONE_OFFER);
    let mut caps = Capabilities::audio(&[Codec::Opus]);
    caps.opus_max_average_bitrate = Some(12_000);
    let n = sdp::negotiate(&offer, &caps).expect("Opus");
    let fmtp = n
        .audio()
        .and_then(|a| a.codec.local_fmtp.as_ref())
        .expect("fmtp");
    assert_eq!(fmtp.get_u32("maxaveragebitrate"), Some(10_000));
}

#[test]
fn our_hold_answers_sendonly_to_a_sendrecv_offer() {
    let offer = parse(PHONE_OFFER);
    let mut caps = Capabilities::audio(&[Codec::Pcma]);
    caps.local_direction = Direction::SendOnly;
    let n = sdp::negotiate(&offer, &caps).expect("PCMA");
    assert_eq!(n.audio().map(|a| a.direction), Some(Direction::SendOnly));
    let local = LocalMedia {
        address: ip("198.51.100.1"),
        ports: vec![20000],
    };
    let answer = sdp::build_answer(
        &offer,
        &n,
        &local,
        &mut LocalSession::new(1, 1, ip("198.51.100.1")),
    )
    .expect("answer");
    assert!(
        answer.to_string().contains("a=ptime:40\r\na=sendonly\r\n"),
        "{answer}"
    );
}

#[test]
fn answering_without_a_port_for_an_accepted_stream_is_a_caller_bug() {
    let offer = parse(PHONE_OFFER);
    let n = sdp::negotiate(&offer, &Capabilities::audio(&[Codec::Pcma])).expect("PCMA");
    let local = LocalMedia {
        address: ip("198.51.100.1"),
        ports: vec![],
    };
    let e = sdp::build_answer(
        &offer,
        &n,
        &local,
        &mut LocalSession::new(1, 1, ip("198.51.100.1")),
    )
    .expect_err("no port");
    assert_eq!(e.status_code(), 500);
}

#[test]
fn video_is_rejected_when_we_have_no_video_codecs() {
    let offer = parse(
        "v=0
o=- 1 1 IN IP4 10.0.0.23
s=-
c=IN IP4 10.0.0.23
t=0 0
m=audio 11780 RTP/AVP 0
m=video 11782 RTP/AVP 96
a=rtpmap:96 VP8/90000
",
    );
    let n = sdp::negotiate(&offer, &Capabilities::audio(&[Codec::Pcmu])).expect("audio");
    assert!(matches!(
        &n.streams[1],
        StreamOutcome::Rejected(r) if r.reason == RejectReason::UnsupportedMedia
    ));
}

#[test]
fn offers_with_bad_arguments_are_refused() {
    let mut session = LocalSession::new(1, 1, ip("198.51.100.1"));
    let spec = |codecs: Vec<OfferedCodec>| OfferSpec {
        address: ip("198.51.100.1"),
        streams: vec![OfferStream {
            codecs,
            ..OfferStream::audio(30000, &[])
        }],
    };
    assert!(sdp::build_offer(&spec(vec![]), &mut session).is_err());
    assert!(sdp::build_offer(&spec(vec![Codec::Vp8.into()]), &mut session).is_err());
    let clash = vec![
        OfferedCodec {
            codec: Codec::Opus,
            payload_type: Some(101),
            fmtp: None,
        },
        Codec::Pcmu.into(),
    ];
    // Opus pinned to 101 pushes telephone-event to another number.
    let offer = sdp::build_offer(&spec(clash), &mut session).expect("resolvable clash");
    assert!(
        offer
            .to_string()
            .contains("m=audio 30000 RTP/AVP 101 0 96 97\r\n"),
        "{offer}"
    );
}

fn any_codec() -> impl Strategy<Value = Codec> {
    prop::sample::select(vec![
        Codec::Pcmu,
        Codec::Pcma,
        Codec::G722,
        Codec::G729,
        Codec::Gsm,
        Codec::Opus,
        Codec::Ilbc,
    ])
}

fn any_direction() -> impl Strategy<Value = Direction> {
    prop::sample::select(vec![
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ])
}

proptest! {
    /// Whatever offer a phone makes and whatever we support: either negotiation refuses
    /// with a 488, or our answer reads back (as the phone reads it) to the codec we chose,
    /// one we support and the phone offered, in the mirrored direction.
    #[test]
    fn our_answers_read_back_as_decided(
        offered in prop::collection::vec(any_codec(), 1..5),
        supported in prop::collection::vec(any_codec(), 1..4),
        offer_dir in any_direction(),
        local_dir in any_direction(),
        ours_first in any::<bool>(),
        ptime in prop::option::of(10u32..60),
    ) {
        let mut phone = LocalSession::new(9, 1, ip("10.0.0.23"));
        let mut stream = OfferStream::audio(11780, &offered);
        stream.codecs.dedup();
        stream.direction = offer_dir;
        stream.ptime = ptime;
        let offer = sdp::build_offer(&OfferSpec { address: ip("10.0.0.23"), streams: vec![stream] }, &mut phone)
            .expect("valid offer");
        let mut caps = Capabilities::audio(&supported);
        caps.local_direction = local_dir;
        caps.preference = if ours_first { Preference::Ours } else { Preference::Offerer };
        match sdp::negotiate(&offer, &caps) {
            Err(e) => {
                prop_assert_eq!(e.status_code(), 488);
                prop_assert!(!offered.iter().any(|c| supported.contains(c)));
            }
            Ok(n) => {
                let chosen = n.audio().expect("audio accepted").codec.codec;
                prop_assert!(offered.contains(&chosen) && supported.contains(&chosen));
                let local = LocalMedia { address: ip("198.51.100.1"), ports: vec![20000] };
                let answer = sdp::build_answer(&offer, &n, &local, &mut LocalSession::new(1, 1, ip("198.51.100.1")))
                    .expect("answer builds");
                let back = sdp::process_answer(&offer, &answer).expect("answer fits offer");
                let ours = n.audio().expect("accepted");
                let theirs = back.audio().expect("accepted");
                prop_assert_eq!(theirs.codec.codec, chosen);
                prop_assert_eq!(theirs.direction, ours.direction.reverse());
                prop_assert_eq!(theirs.ptime, ptime);
                prop_assert_eq!(Direction::answer_to(offer_dir, local_dir), ours.direction);
                prop_assert!(theirs.telephone_event.is_some());
            }
        }
    }
}

#[test]
fn events_outside_ours_are_not_answered() {
    let offer = parse(
        "v=0
o=- 1 1 IN IP4 10.0.0.23
s=-
c=IN IP4 10.0.0.23
t=0 0
m=audio 11780 RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
a=fmtp:101 32-40
",
    );
    let n = sdp::negotiate(&offer, &Capabilities::audio(&[Codec::Pcmu])).expect("PCMU");
    assert_eq!(n.audio().and_then(|a| a.telephone_event.as_ref()), None);
    let mut caps = Capabilities::audio(&[Codec::Pcmu]);
    caps.events = EventSet::parse("0-255").expect("valid");
    let n = sdp::negotiate(&offer, &caps).expect("PCMU");
    assert!(n.audio().and_then(|a| a.telephone_event.as_ref()).is_some());
}
