//! The bandwidth manager's ledger, health, selection, degradation and explanations.

use std::time::{Duration, Instant};

use bandwidth::{
    BandwidthManager, Config, ContactId, Degradation, Exclusion, HandlerId, HandlerState,
    HandlerStatus, HealthEvent, PlaceError, PlaceRequest, Priority, RefusalReason, Services,
};
use sdp::{Codec, LocalMedia, LocalSession, RejectReason, SessionDescription, StreamOutcome};

fn offer(media: &str) -> SessionDescription {
    let text = format!("v=0\no=- 1 1 IN IP4 192.0.2.7\ns=-\nc=IN IP4 192.0.2.7\nt=0 0\n{media}");
    SessionDescription::parse(text.replace('\n', "\r\n").as_bytes()).expect("valid test SDP")
}

fn pcmu() -> SessionDescription {
    offer("m=audio 4000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n")
}

const NONE: Services = Services {
    route: false,
    play: false,
    record: false,
    mix_participants: 0,
};

fn request(offer: &SessionDescription) -> PlaceRequest<'_> {
    PlaceRequest {
        offer,
        services: NONE,
        priority: Priority::Normal,
        transcodable: &[],
    }
}

fn h(id: &str) -> HandlerId {
    HandlerId::from(id)
}

fn c(id: &str) -> ContactId {
    ContactId::from(id)
}

fn status(measured_kbps: u64) -> HandlerStatus {
    HandlerStatus {
        measured_kbps,
        ..HandlerStatus::default()
    }
}

/// A manager with handlers of the given capacities (kbit/s), all reporting at `now`.
fn manager(now: Instant, capacities: &[(&str, u64)]) -> BandwidthManager {
    let mut m = BandwidthManager::new(Config::default());
    for (id, cap) in capacities {
        m.add_handler(h(id), &format!("http://{id}:9090"), Some(*cap))
            .expect("new handler");
        m.update_status(now, &h(id), status(0))
            .expect("known handler");
    }
    m
}

fn placed_on(
    m: &mut BandwidthManager,
    now: Instant,
    contact: &str,
    o: &SessionDescription,
) -> HandlerId {
    m.place(now, c(contact), &request(o))
        .expect("placed")
        .handler
}

#[test]
fn a_handler_that_never_reported_is_down_and_gets_no_contacts() {
    let now = Instant::now();
    let mut m = BandwidthManager::new(Config::default());
    m.add_handler(h("mh-1"), "http://mh-1:9090", Some(10_000))
        .expect("new handler");
    assert_eq!(m.state(now, &h("mh-1")), Some(HandlerState::Down));
    let o = pcmu();
    let err = m.place(now, c("x"), &request(&o)).expect_err("nothing up");
    assert_eq!(err.status_code(), 503);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    let PlaceError::Refused(r) = err else {
        panic!("refusal expected")
    };
    assert_eq!(r.reason, RefusalReason::NoHandlerUp);
    assert_eq!(
        r.explanation.attempts[0].candidates[0].excluded,
        Some(Exclusion::Down)
    );
    // Degradation cannot help when nothing is up: one attempt only.
    assert_eq!(r.explanation.attempts.len(), 1);
}

#[test]
fn a_handler_is_down_once_its_last_status_is_3_seconds_old() {
    let t0 = Instant::now();
    let mut m = BandwidthManager::new(Config::default());
    m.add_handler(h("mh-1"), "http://mh-1:9090", Some(10_000))
        .expect("new handler");
    m.update_status(t0, &h("mh-1"), status(0)).expect("known");
    assert_eq!(
        m.tick(t0),
        vec![HealthEvent {
            handler: h("mh-1"),
            from: HandlerState::Down,
            to: HandlerState::Up
        }]
    );
    assert_eq!(m.next_deadline(), Some(t0 + Duration::from_secs(3)));
    let just_before = t0 + Duration::from_millis(2_999);
    assert_eq!(m.state(just_before, &h("mh-1")), Some(HandlerState::Up));
    assert!(m.tick(just_before).is_empty());
    let t3 = t0 + Duration::from_secs(3);
    assert_eq!(m.state(t3, &h("mh-1")), Some(HandlerState::Down));
    assert_eq!(
        m.tick(t3),
        vec![HealthEvent {
            handler: h("mh-1"),
            from: HandlerState::Up,
            to: HandlerState::Down
        }]
    );
    // Placement uses the state at `now` even without a tick.
    let o = pcmu();
    assert!(m.place(t3, c("late"), &request(&o)).is_err());
    // Reporting again brings it back.
    m.update_status(t3, &h("mh-1"), status(0)).expect("known");
    assert_eq!(placed_on(&mut m, t3, "back", &o), h("mh-1"));
}

#[test]
fn a_handler_silent_for_lost_after_hands_out_its_contacts_once_per_silence() {
    let t0 = Instant::now();
    let mut m = manager(t0, &[("mh-1", 10_000), ("mh-2", 10_000)]);
    let o = pcmu();
    let first = placed_on(&mut m, t0, "a", &o);
    let second = placed_on(&mut m, t0, "b", &o);
    assert_ne!(first, second);
    let on_1 = if first == h("mh-1") { "a" } else { "b" };
    // mh-2 keeps reporting; mh-1 falls silent at t0.
    let lost_at = t0 + Config::default().lost_after;
    let before = lost_at - Duration::from_millis(1);
    m.update_status(before, &h("mh-2"), status(0))
        .expect("known");
    assert_eq!(m.state(before, &h("mh-1")), Some(HandlerState::Down));
    assert!(m.take_lost(before).is_empty(), "down is not yet lost");
    assert_eq!(m.take_lost(lost_at), vec![(h("mh-1"), vec![c(on_1)])]);
    assert!(
        m.take_lost(lost_at + Duration::from_secs(5)).is_empty(),
        "once"
    );
    // Back, then silent again: a new silence, reported again while the contact stays.
    let t1 = lost_at + Duration::from_secs(6);
    m.update_status(t1, &h("mh-1"), status(0)).expect("known");
    let t2 = t1 + Config::default().lost_after;
    m.update_status(t2, &h("mh-2"), status(0)).expect("known");
    assert_eq!(m.take_lost(t2), vec![(h("mh-1"), vec![c(on_1)])]);
    // Released contacts are not reported.
    m.release(&c(on_1)).expect("placed");
    m.update_status(t2, &h("mh-1"), status(0)).expect("known");
    let t3 = t2 + Duration::from_secs(60);
    m.update_status(t3, &h("mh-2"), status(0)).expect("known");
    assert!(m.take_lost(t3).is_empty());
}

#[test]
fn each_contact_goes_to_the_lowest_relative_load() {
    let now = Instant::now();
    // 1 Mbit/s and 4 Mbit/s; each PCMU contact needs 84 kbit/s.
    let mut m = manager(now, &[("small", 1_000), ("big", 4_000)]);
    let o = pcmu();
    let order: Vec<String> = (0..10)
        .map(|i| placed_on(&mut m, now, &format!("c{i}"), &o).0)
        .collect();
    // Empty tie → the bigger one; then whichever is relatively emptier:
    // small 0% < big 2.1%; big 2.1% < small 8.4%; big 4.2%; big 6.3%; big 8.4% = small
    // 8.4% → bigger; ...
    assert_eq!(
        order,
        [
            "big", "small", "big", "big", "big", "big", "small", "big", "big", "big"
        ]
    );
    let views = m.handlers(now);
    assert_eq!(views[0].id, h("big"));
    assert_eq!((views[0].sessions, views[0].reserved_kbps), (8, 8 * 84));
    assert_eq!((views[1].sessions, views[1].reserved_kbps), (2, 2 * 84));
}

#[test]
fn measured_load_counts_when_it_exceeds_reservations() {
    let now = Instant::now();
    let mut m = manager(now, &[("a", 10_000), ("b", 10_000)]);
    m.update_status(now, &h("a"), status(5_000)).expect("known");
    let o = pcmu();
    let p = m.place(now, c("x"), &request(&o)).expect("placed");
    assert_eq!(p.handler, h("b"));
    let a = &p.explanation.attempts[0].candidates[0];
    assert_eq!(
        (a.reserved_kbps, a.measured_kbps, a.load_kbps),
        (0, 5_000, 5_000)
    );
    assert_eq!(a.load_permille, 500);
}

#[test]
fn a_draining_handler_keeps_its_contacts_and_takes_no_new_ones() {
    let now = Instant::now();
    let mut m = manager(now, &[("a", 10_000), ("b", 1_000)]);
    let o = pcmu();
    assert_eq!(placed_on(&mut m, now, "first", &o), h("a"));
    m.set_draining(&h("a"), true).expect("known");
    assert_eq!(m.state(now, &h("a")), Some(HandlerState::Draining));
    assert_eq!(placed_on(&mut m, now, "second", &o), h("b"));
    let views = m.handlers(now);
    assert_eq!(
        (views[0].state, views[0].sessions),
        (HandlerState::Draining, 1)
    );
    let released = m.release(&c("first")).expect("was placed");
    assert_eq!(released.handler, h("a"));
    assert_eq!(released.need.peak_kbps(), 84);
    assert_eq!(m.handlers(now)[0].reserved_kbps, 0);
    assert_eq!(m.release(&c("first")), None);
    m.set_draining(&h("a"), false).expect("known");
    assert_eq!(placed_on(&mut m, now, "third", &o), h("a"));
}

#[test]
fn priority_contacts_may_use_the_reserved_headroom() {
    let now = Instant::now();
    // 1,000 kbit/s, 10% kept for priority: normal contacts fit in 900 (10 × 84 = 840).
    let mut m = manager(now, &[("a", 1_000)]);
    let o = pcmu();
    for i in 0..10 {
        placed_on(&mut m, now, &format!("n{i}"), &o);
    }
    let err = m.place(now, c("n10"), &request(&o)).expect_err("past 900");
    assert_eq!(err.status_code(), 503);
    let PlaceError::Refused(r) = err else {
        panic!("refusal expected")
    };
    assert_eq!(r.reason, RefusalReason::NoRoom);
    assert_eq!(r.explanation.attempts[0].candidates[0].usable_kbps, 900);
    let vip = PlaceRequest {
        priority: Priority::High,
        ..request(&o)
    };
    let p = m
        .place(now, c("vip"), &vip)
        .expect("priority fits in 1,000");
    assert_eq!(p.explanation.attempts[0].candidates[0].usable_kbps, 1_000);
    assert!(p.degradations.is_empty());
}

const AUDIO_VIDEO: &str = "m=audio 5004 RTP/AVP 0 18 101\na=rtpmap:101 telephone-event/8000\n\
m=video 5006 RTP/AVP 99\nb=TIAS:2000000\na=rtpmap:99 H264/90000\n";

#[test]
fn video_is_dropped_before_a_contact_is_refused() {
    let now = Instant::now();
    let mut config = Config::default();
    config.answer.video = vec![Codec::H264];
    let mut m = BandwidthManager::new(config);
    m.add_handler(h("a"), "http://a:9090", Some(1_000))
        .expect("new");
    m.update_status(now, &h("a"), status(0)).expect("known");
    let o = offer(AUDIO_VIDEO);
    let p = m
        .place(now, c("x"), &request(&o))
        .expect("placed without video");
    assert_eq!(
        p.degradations,
        vec![Degradation::DroppedVideo { streams: vec![1] }]
    );
    assert!(matches!(
        &p.negotiation.streams[1],
        StreamOutcome::Rejected(r) if r.reason == RejectReason::Dropped
    ));
    assert_eq!(
        p.negotiation.audio().map(|a| a.codec.codec),
        Some(Codec::Pcmu)
    );
    assert_eq!(p.estimate.total.peak_kbps(), 84);
    // The first attempt with video needed 2 Mbit/s and more, and did not fit.
    let first = &p.explanation.attempts[0];
    assert!(first.estimate.total.peak_kbps() > 2_000);
    assert_eq!(first.candidates[0].excluded, Some(Exclusion::NoRoom));
    // The answer the controller builds says video port 0.
    let answer = sdp::build_answer(
        &o,
        &p.negotiation,
        &LocalMedia {
            address: "198.51.100.1".parse().expect("literal"),
            ports: vec![20000, 20002],
        },
        &mut LocalSession::new(1, 1, "198.51.100.1".parse().expect("literal")),
    )
    .expect("answer");
    assert!(
        answer.to_string().contains("m=video 0 RTP/AVP 99\r\n"),
        "{answer}"
    );
}

#[test]
fn a_cheaper_offered_codec_is_answered_before_refusing() {
    let now = Instant::now();
    // 125 kbit/s less 10% headroom: 112.5 for normal contacts: one PCMU call (84) and
    // then only G.729 (25.2).
    let mut m = manager(now, &[("a", 125)]);
    let o = offer("m=audio 5004 RTP/AVP 0 8 18 3 101\na=rtpmap:101 telephone-event/8000\n");
    let transcoding = PlaceRequest {
        transcodable: &[Codec::G729, Codec::Gsm],
        ..request(&o)
    };
    let first = m
        .place(now, c("first"), &transcoding)
        .expect("room for PCMU");
    assert!(first.degradations.is_empty());
    let second = m.place(now, c("second"), &transcoding).expect("G.729 fits");
    assert_eq!(
        second.degradations,
        vec![Degradation::CheaperCodec {
            from: Codec::Pcmu,
            to: Codec::G729
        }]
    );
    let audio = second.negotiation.audio().expect("audio");
    assert_eq!(audio.codec.codec, Codec::G729);
    assert!(audio.telephone_event.is_some());
    assert_eq!(second.estimate.total.peak_bps(), 25_200);
    // Without transcoding the same offer is refused.
    let plain = request(&o);
    let err = m
        .place(now, c("third"), &plain)
        .expect_err("no room, no transcoder");
    assert_eq!(err.status_code(), 503);
}

#[test]
fn opus_is_answered_at_the_floor_bitrate_under_pressure() {
    let now = Instant::now();
    let mut m = manager(now, &[("a", 50)]);
    let o = offer("m=audio 5004 RTP/AVP 0 111\na=rtpmap:111 opus/48000/2\n");
    let req = PlaceRequest {
        transcodable: &[Codec::Opus],
        ..request(&o)
    };
    let p = m
        .place(now, c("x"), &req)
        .expect("Opus at 12 kbit/s fits in 45");
    assert_eq!(
        p.degradations,
        vec![
            Degradation::CheaperCodec {
                from: Codec::Pcmu,
                to: Codec::Opus
            },
            Degradation::OpusBitrate { bps: 12_000 }
        ]
    );
    let audio = p.negotiation.audio().expect("audio");
    assert_eq!(
        audio
            .codec
            .local_fmtp
            .as_ref()
            .and_then(|f| f.get_u32("maxaveragebitrate")),
        Some(12_000)
    );
    // (30 + 40) · 8 · 50 = 28,000 plus 5% RTCP.
    assert_eq!(p.estimate.total.peak_bps(), 29_400);
}

#[test]
fn refusal_records_every_attempt_and_the_lowest_need() {
    let now = Instant::now();
    let mut m = manager(now, &[("a", 20), ("b", 10)]);
    let o = offer("m=audio 5004 RTP/AVP 0 18\n");
    let req = PlaceRequest {
        transcodable: &[Codec::G729],
        ..request(&o)
    };
    let err = m
        .place(now, c("x"), &req)
        .expect_err("25.2 fits in neither");
    let PlaceError::Refused(r) = err else {
        panic!("refusal expected")
    };
    assert_eq!(r.reason, RefusalReason::NoRoom);
    assert_eq!(r.lowest_need.peak_bps(), 25_200);
    let codecs: Vec<_> = r.explanation.attempts.iter().map(|a| a.codec).collect();
    assert_eq!(codecs, [Some(Codec::Pcmu), Some(Codec::G729)]);
    for attempt in &r.explanation.attempts {
        assert_eq!(attempt.chosen, None);
        assert_eq!(attempt.candidates.len(), 2);
        assert!(
            attempt
                .candidates
                .iter()
                .all(|c| c.excluded == Some(Exclusion::NoRoom))
        );
    }
    assert!(m.handlers(now).iter().all(|v| v.sessions == 0));
}

#[test]
fn an_offer_without_a_common_codec_is_488_unless_the_transcoder_has_one() {
    let now = Instant::now();
    let mut m = manager(now, &[("a", 10_000)]);
    let o = offer("m=audio 5004 RTP/AVP 18\n");
    let err = m.place(now, c("x"), &request(&o)).expect_err("G.729 only");
    assert_eq!(err.status_code(), 488);
    let req = PlaceRequest {
        transcodable: &[Codec::G729],
        ..request(&o)
    };
    let p = m
        .place(now, c("x"), &req)
        .expect("the transcoder does G.729");
    assert_eq!(
        p.negotiation.audio().map(|a| a.codec.codec),
        Some(Codec::G729)
    );
    assert!(p.degradations.is_empty());
    let bad = SessionDescription::parse(b"v=0\r\n");
    assert!(bad.is_ok(), "a bare v= line is a valid empty session");
    let empty = bad.expect("checked");
    assert_eq!(
        m.place(now, c("y"), &request(&empty))
            .expect_err("no stream")
            .status_code(),
        488
    );
}

#[test]
fn hold_reinvite_lowers_the_reservation_on_the_same_handler() {
    let now = Instant::now();
    let mut m = manager(now, &[("a", 10_000), ("b", 10_000)]);
    let o = pcmu();
    let first = m.place(now, c("x"), &request(&o)).expect("placed");
    let hold = offer("m=audio 4000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\na=sendonly\n");
    let p = m
        .adjust(now, &c("x"), &request(&hold))
        .expect("lower need fits");
    assert_eq!(p.handler, first.handler);
    assert_eq!(
        p.negotiation.audio().map(|a| a.direction),
        Some(sdp::Direction::RecvOnly)
    );
    assert_eq!(p.estimate.total.ingress.bps, 84_000);
    assert_eq!(p.estimate.total.egress.bps, 4_000);
    let view = m
        .handlers(now)
        .into_iter()
        .find(|v| v.id == first.handler)
        .expect("handler listed");
    assert_eq!((view.sessions, view.reserved_kbps), (1, 84));
}

#[test]
fn reinvite_keeps_the_current_codec_when_still_offered() {
    let now = Instant::now();
    let mut m = manager(now, &[("a", 10_000)]);
    let o = offer("m=audio 4000 RTP/AVP 8 0\n");
    let p = m.place(now, c("x"), &request(&o)).expect("placed");
    assert_eq!(
        p.negotiation.audio().map(|a| a.codec.codec),
        Some(Codec::Pcma)
    );
    // The phone now lists PCMU first; we stay on PCMA.
    let reoffer = offer("m=audio 4000 RTP/AVP 0 8\n");
    let p = m.adjust(now, &c("x"), &request(&reoffer)).expect("fits");
    assert_eq!(
        p.negotiation.audio().map(|a| a.codec.codec),
        Some(Codec::Pcma)
    );
}

#[test]
fn a_reinvite_that_does_not_fit_leaves_the_old_reservation() {
    let now = Instant::now();
    let mut config = Config::default();
    config.answer.video = vec![Codec::H264];
    let mut m = BandwidthManager::new(config);
    m.add_handler(h("a"), "http://a:9090", Some(300))
        .expect("new");
    m.update_status(now, &h("a"), status(0)).expect("known");
    let audio = pcmu();
    m.place(now, c("x"), &request(&audio)).expect("placed");
    m.place(now, c("y"), &request(&audio)).expect("placed");
    // x asks to add video; it cannot fit, and dropping it is the same as before, which
    // fits: the re-INVITE is answered without video.
    let with_video = offer(AUDIO_VIDEO);
    let p = m
        .adjust(now, &c("x"), &request(&with_video))
        .expect("video dropped");
    assert_eq!(
        p.degradations,
        vec![Degradation::DroppedVideo { streams: vec![1] }]
    );
    // y switches to a G.722-only offer: same rate, we have no G.722 → 488, unchanged.
    let g722 = offer("m=audio 4000 RTP/AVP 9\n");
    let err = m
        .adjust(now, &c("y"), &request(&g722))
        .expect_err("no codec");
    assert_eq!(err.status_code(), 488);
    assert_eq!(m.handlers(now)[0].reserved_kbps, 2 * 84);
    // A bigger need that does not fit is refused and leaves the reservation.
    let routed = PlaceRequest {
        services: Services {
            route: true,
            record: true,
            ..NONE
        },
        ..request(&audio)
    };
    let err = m.adjust(now, &c("y"), &routed).expect_err("4 × 84 > 270");
    assert_eq!(err.status_code(), 503);
    assert_eq!(m.handlers(now)[0].reserved_kbps, 2 * 84);
    assert_eq!(
        m.adjust(now, &c("nobody"), &request(&audio))
            .expect_err("not placed")
            .status_code(),
        500
    );
}

#[test]
fn changing_services_moves_the_reservation_and_reports_overcommit() {
    let now = Instant::now();
    let mut m = manager(now, &[("a", 200)]);
    let o = pcmu();
    m.place(now, c("x"), &request(&o)).expect("placed");
    let change = m
        .set_services(&c("x"), Services::AGENT_CALL)
        .expect("placed contact");
    assert_eq!(
        (change.before.peak_kbps(), change.after.peak_kbps()),
        (84, 168)
    );
    assert!(!change.over_capacity);
    let change = m
        .set_services(
            &c("x"),
            Services {
                record: true,
                ..Services::AGENT_CALL
            },
        )
        .expect("placed contact");
    assert_eq!(change.after.peak_kbps(), 336);
    assert!(change.over_capacity);
    assert_eq!(m.handlers(now)[0].reserved_kbps, 336);
    assert_eq!(
        m.placement(&c("x")).map(|p| p.estimate.total.peak_kbps()),
        Some(336)
    );
    m.release(&c("x")).expect("placed");
    assert_eq!(m.handlers(now)[0].reserved_kbps, 0);
}

#[test]
fn capacity_can_come_from_the_handler_itself() {
    let now = Instant::now();
    let mut m = BandwidthManager::new(Config::default());
    m.add_handler(h("a"), "http://a:9090", None).expect("new");
    m.update_status(now, &h("a"), status(0)).expect("known");
    let o = pcmu();
    let PlaceError::Refused(r) = m.place(now, c("x"), &request(&o)).expect_err("no capacity")
    else {
        panic!("refusal expected")
    };
    assert_eq!(
        r.explanation.attempts[0].candidates[0].excluded,
        Some(Exclusion::NoCapacity)
    );
    m.update_status(
        now,
        &h("a"),
        HandlerStatus {
            capacity_kbps: Some(5_000),
            ..status(0)
        },
    )
    .expect("known");
    assert_eq!(m.handlers(now)[0].capacity_kbps, 5_000);
    assert_eq!(placed_on(&mut m, now, "x", &o), h("a"));
}

#[test]
fn registry_mistakes_are_errors_not_panics() {
    let now = Instant::now();
    let mut m = manager(now, &[("a", 1_000)]);
    assert_eq!(
        m.add_handler(h("a"), "http://a", None)
            .expect_err("duplicate")
            .status_code(),
        409
    );
    assert_eq!(
        m.update_status(now, &h("zz"), status(0))
            .expect_err("unknown")
            .status_code(),
        404
    );
    assert!(m.set_draining(&h("zz"), true).is_err());
    assert!(m.set_services(&c("nobody"), NONE).is_err());
    let o = pcmu();
    placed_on(&mut m, now, "x", &o);
    assert_eq!(
        m.place(now, c("x"), &request(&o))
            .expect_err("twice")
            .status_code(),
        500
    );
    assert_eq!(m.remove_handler(&h("a")).expect("known"), vec![c("x")]);
    assert_eq!(m.placement(&c("x")), None);
}

#[test]
fn the_explanation_names_the_candidates_and_the_choice() {
    let now = Instant::now();
    let mut m = manager(now, &[("a", 1_000), ("b", 2_000), ("c", 4_000)]);
    m.set_draining(&h("c"), true).expect("known");
    let o = pcmu();
    placed_on(&mut m, now, "first", &o);
    let p = m
        .place(
            now,
            c("second"),
            &PlaceRequest {
                services: Services::AGENT_CALL,
                ..request(&o)
            },
        )
        .expect("placed");
    let chosen = p.explanation.chosen().expect("one attempt chose");
    assert_eq!(chosen.chosen, Some(p.handler.clone()));
    assert_eq!(chosen.estimate.total.peak_kbps(), 168);
    let summary: Vec<(String, HandlerState, u64, Option<Exclusion>)> = chosen
        .candidates
        .iter()
        .map(|c| (c.handler.0.clone(), c.state, c.load_kbps, c.excluded))
        .collect();
    assert_eq!(
        summary,
        [
            ("a".to_owned(), HandlerState::Up, 0, None),
            ("b".to_owned(), HandlerState::Up, 84, None),
            (
                "c".to_owned(),
                HandlerState::Draining,
                0,
                Some(Exclusion::Draining)
            ),
        ]
    );
    assert_eq!(p.handler, h("a"));
    assert_eq!(p.url, "http://a:9090");
}
