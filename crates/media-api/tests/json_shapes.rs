//! The JSON spellings the controller relies on.

use media_api::*;

#[test]
fn add_leg_accepts_minimal_body_and_fills_defaults() {
    let leg: AddLeg =
        serde_json::from_str(r#"{"codecs":[{"name":"PCMU","payload_type":0,"clock_rate":8000}]}"#)
            .expect("minimal body is valid");
    assert_eq!(leg.kind, MediaKind::Audio);
    assert_eq!(leg.direction, Direction::Sendrecv);
    assert_eq!(leg.codecs[0].channels, 1);
    assert_eq!(leg.remote_rtp, None);
}

#[test]
fn unknown_field_is_rejected_by_name() {
    let err = serde_json::from_str::<AddLeg>(r#"{"codecs":[],"remote":"1.2.3.4:5"}"#)
        .expect_err("unknown field");
    assert!(err.to_string().contains("remote"), "{err}");
}

#[test]
fn play_source_is_tagged_by_type() {
    let play: Play =
        serde_json::from_str(r#"{"source":{"type":"tone","tone":"ringback"},"looped":true}"#)
            .expect("valid");
    assert_eq!(
        play.source,
        PlaySource::Tone {
            tone: Tone::Ringback,
            duration_ms: None
        }
    );
    assert!(play.looped);
    assert_eq!(play.mode, PlayMode::Replace);
}

#[test]
fn events_serialize_with_a_type_tag() {
    let ev = Event::Dtmf {
        session_id: SessionId(1),
        leg_id: LegId(2),
        digit: "5".into(),
        duration_ms: 100,
        source: DtmfSource::Inband,
    };
    let json = serde_json::to_value(&ev).expect("serializable");
    assert_eq!(json["type"], "dtmf");
    assert_eq!(json["source"], "inband");
    assert_eq!(json["leg_id"], 2);
    let back: Event = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, ev);
}

#[test]
fn error_codes_map_to_their_statuses() {
    assert_eq!(ErrorCode::UnknownLeg.http_status(), 404);
    assert_eq!(ErrorCode::PortsExhausted.http_status(), 409);
    assert_eq!(ErrorCode::BadRequest.http_status(), 400);
    let body = serde_json::to_string(&ApiError::new(ErrorCode::PortsExhausted, "no ports"))
        .expect("serializable");
    assert_eq!(body, r#"{"error":"ports_exhausted","message":"no ports"}"#);
}
