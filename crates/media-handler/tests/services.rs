//! The media services on real loopback sockets, driven through the control interface:
//! transcoding routes, stereo recording, a mix of three, DTMF events of both kinds, and
//! robustness against foreign and malformed packets and bad requests.

mod common;

use media_handler::IoMode;

use std::time::{Duration, Instant};

use common::*;
use media_api::*;
use rtp::{TelephoneEvent, g711};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcmu_pcma_route_transcodes_and_remaps_telephone_events() {
    let (h, _dir) = handler(22_400, |_| {}).await;
    let c = h.client();
    let a = Endpoint::new().await;
    let b = Endpoint::new().await;
    let s = session(&c, vec![ServiceType::Route]).await;
    let la = c
        .add_leg(s.id, &leg(None, vec![pcmu()], Some(101)))
        .await
        .expect("a");
    let lb = c
        .add_leg(s.id, &leg(None, vec![pcma()], Some(96)))
        .await
        .expect("b");
    assert_eq!(la.rtcp_port, la.rtp_port + 1);
    assert_eq!(la.rtp_port % 2, 0);
    c.create_route(s.id, &CreateRoute { a: la.id, b: lb.id })
        .await
        .expect("route");
    // Neither leg was given a remote address: each latches to its first packet. a's first
    // packet latches a (b has no address yet, so it goes nowhere); then b's latches b and
    // reaches a.
    a.send(la.rtp_port, &packet(0, 9, 1440, 0xA, false, &[0xFF; 160]))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.send(lb.rtp_port, &packet(8, 1, 0, 0xB, false, &[0xD5; 160]))
        .await;
    let got = a
        .recv(Duration::from_secs(2))
        .await
        .expect("b's audio reaches a");
    let hb = header(&got.0);
    assert_eq!(hb.payload_type, 0, "PCMA became PCMU");
    assert!(got.0[12..].iter().all(|&x| x == g711::ALAW_TO_ULAW[0xD5]));

    let pcm: Vec<i16> = (0..160)
        .map(|i| ((i as f64 / 4.0).sin() * 9000.0) as i16)
        .collect();
    let mut ulaw = vec![0u8; 160];
    g711::encode_ulaw(&pcm, &mut ulaw);
    a.send(la.rtp_port, &packet(0, 10, 1600, 0xA, false, &ulaw))
        .await;
    let (out, _) = b
        .recv(Duration::from_secs(2))
        .await
        .expect("a's audio reaches b");
    let ha = header(&out);
    assert_eq!(ha.payload_type, 8);
    let expect: Vec<u8> = ulaw
        .iter()
        .map(|&x| g711::ULAW_TO_ALAW[x as usize])
        .collect();
    assert_eq!(&out[12..], &expect[..]);
    for (k, end) in [(0u16, false), (1, false), (2, true)] {
        let ev = TelephoneEvent {
            event: 3,
            end,
            volume: 10,
            duration: 160 * (k + 1),
        }
        .to_bytes();
        a.send(la.rtp_port, &packet(101, 11 + k, 1760, 0xA, k == 0, &ev))
            .await;
    }
    for k in 0..3u16 {
        let (out, _) = b.recv(Duration::from_secs(2)).await.expect("event relayed");
        let he = header(&out);
        assert_eq!(he.payload_type, 96, "telephone-event re-mapped 101 → 96");
        assert_eq!(
            he.sequence,
            ha.sequence.wrapping_add(1 + k),
            "event packet {k}: {he:?} after {ha:?}"
        );
        assert_eq!(he.ssrc, ha.ssrc);
        assert_eq!(out[12], 3);
    }
    h.shutdown().await;
}

fn wav_channels(bytes: &[u8]) -> (u16, Vec<i16>) {
    assert_eq!(&bytes[0..4], b"RIFF");
    let channels = u16::from_le_bytes([bytes[22], bytes[23]]);
    let len = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]) as usize;
    assert_eq!(len, bytes.len() - 44, "header states the data length");
    let samples = bytes[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    (channels, samples)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stereo_recording_puts_first_leg_left_and_pauses_with_silence() {
    let (h, dir) = handler(22_600, |_| {}).await;
    let c = h.client();
    let a = Endpoint::new().await;
    let b = Endpoint::new().await;
    let s = session(&c, vec![ServiceType::Route, ServiceType::Record]).await;
    let la = c
        .add_leg(s.id, &leg(Some(a.addr()), vec![pcmu()], None))
        .await
        .expect("a");
    let lb = c
        .add_leg(s.id, &leg(Some(b.addr()), vec![pcmu()], None))
        .await
        .expect("b");
    let mut events = c.events().await.expect("events");
    let rec = c
        .start_recording(
            s.id,
            &StartRecording {
                source: RecordSource::Stereo {
                    left: la.id,
                    right: lb.id,
                },
                path: Some("calls/stereo.wav".into()),
            },
        )
        .await
        .expect("record");
    assert!(
        rec.path.ends_with("recordings/calls/stereo.wav"),
        "{}",
        rec.path
    );
    let bad = c
        .start_recording(
            s.id,
            &StartRecording {
                source: RecordSource::Leg { leg: la.id },
                path: Some("../x.wav".into()),
            },
        )
        .await
        .expect_err("path escapes");
    assert_eq!(
        bad.api_error().expect("api error").error,
        ErrorCode::BadRequest
    );

    let (left, right) = (ulaw_level(4000), ulaw_level(-2000));
    let until = Instant::now() + Duration::from_millis(1800);
    let (pa, pb) = (la.rtp_port, lb.rtp_port);
    let pause_resume = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        c.pause_recording(s.id, rec.id).await.expect("pause");
        tokio::time::sleep(Duration::from_millis(400)).await;
        c.resume_recording(s.id, rec.id).await.expect("resume");
    };
    tokio::join!(
        stream(&a, pa, 0, 1, 0, left, until),
        stream(&b, pb, 0, 2, 0, right, until),
        pause_resume
    );
    let stopped = c.stop_recording(s.id, rec.id).await.expect("stop");
    assert_eq!(stopped.state, RecordingState::Stopped);
    let ev = wait_event(&mut events, Duration::from_secs(5), |e| {
        matches!(e, Event::RecordingFinished { .. })
    })
    .await;
    let Event::RecordingFinished {
        path,
        duration_ms,
        recording_id,
        ..
    } = ev
    else {
        unreachable!()
    };
    assert_eq!(recording_id, rec.id);
    assert_eq!(
        std::path::Path::new(&path),
        dir.path().join("recordings/calls/stereo.wav")
    );
    assert!(
        (1600..=2200).contains(&duration_ms),
        "duration {duration_ms} ms"
    );
    let (channels, samples) = wav_channels(&std::fs::read(&path).expect("file"));
    assert_eq!(channels, 2);
    assert_eq!(samples.len() as u64, duration_ms * 16, "8 kHz × 2 channels");
    let frames: Vec<(i16, i16)> = samples.chunks_exact(2).map(|f| (f[0], f[1])).collect();
    let (ul, ur) = (
        g711::ULAW_TO_LINEAR[left as usize],
        g711::ULAW_TO_LINEAR[right as usize],
    );
    let both = frames.iter().filter(|f| **f == (ul, ur)).count();
    let silent = frames.iter().filter(|f| **f == (0, 0)).count();
    let swapped = frames.iter().filter(|f| **f == (ur, ul)).count();
    assert_eq!(swapped, 0);
    // About 1.3 s of both legs, and the 0.4 s pause (plus the start) as silence.
    assert!(both > 8000, "{both} frames with both legs");
    assert!(
        silent > 2800,
        "{silent} silent frames: the pause keeps the timeline"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_of_three_lets_each_leg_hear_the_other_two() {
    let (h, _dir) = handler(22_800, |_| {}).await;
    let c = h.client();
    let eps = [
        Endpoint::new().await,
        Endpoint::new().await,
        Endpoint::new().await,
    ];
    let s = session(&c, vec![ServiceType::Mix]).await;
    let mut legs = Vec::new();
    for ep in &eps {
        legs.push(
            c.add_leg(s.id, &leg(Some(ep.addr()), vec![pcma()], None))
                .await
                .expect("leg"),
        );
    }
    let two = c
        .create_mix(
            s.id,
            &CreateMix {
                legs: vec![legs[0].id, legs[1].id],
            },
        )
        .await
        .expect_err("two legs");
    assert_eq!(two.api_error().expect("api").error, ErrorCode::BadRequest);
    c.create_mix(
        s.id,
        &CreateMix {
            legs: legs.iter().map(|l| l.id).collect(),
        },
    )
    .await
    .expect("mix");
    let levels = [1000i16, 2000, 4000];
    let t0 = Instant::now();
    let until = t0 + Duration::from_millis(1200);
    let send = |i: usize| {
        stream(
            &eps[i],
            legs[i].rtp_port,
            8,
            i as u32 + 1,
            0,
            g711::linear_to_alaw(levels[i]),
            until,
        )
    };
    // What each leg hears in the steady state (between 0.6 s and 1.0 s).
    let eps = &eps;
    // A mix keeps sending (silence too), so listen for a fixed time.
    let listen = |i: usize| async move {
        let mut v = Vec::new();
        while Instant::now() < until {
            let Some((p, at)) = eps[i].recv(Duration::from_millis(100)).await else {
                continue;
            };
            let t = at.duration_since(t0);
            if t > Duration::from_millis(600) && t < Duration::from_millis(1000) {
                v.push(g711::ALAW_TO_LINEAR[p[12 + 80] as usize]);
            }
        }
        v
    };
    let (_, _, _, h0, h1, h2) =
        tokio::join!(send(0), send(1), send(2), listen(0), listen(1), listen(2));
    let dec = |x: i16| i32::from(g711::ALAW_TO_LINEAR[g711::linear_to_alaw(x) as usize]);
    let near = |got: i16, want: i32| (i32::from(got) - want).abs() <= want / 16 + 16;
    let median = |mut v: Vec<i16>| {
        assert!(
            v.len() >= 10,
            "only {} packets in the steady state",
            v.len()
        );
        v.sort_unstable();
        v[v.len() / 2]
    };
    let heard = [median(h0), median(h1), median(h2)];
    assert!(
        near(heard[0], dec(2000) + dec(4000)),
        "leg 1 hears {}",
        heard[0]
    );
    assert!(
        near(heard[1], dec(1000) + dec(4000)),
        "leg 2 hears {}",
        heard[1]
    );
    assert!(
        near(heard[2], dec(1000) + dec(2000)),
        "leg 3 hears {}",
        heard[2]
    );
    h.shutdown().await;
}

fn dtmf_audio(low: f64, high: f64, ms: usize) -> Vec<u8> {
    (0..ms * 8)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let x = 7000.0
                * ((2.0 * std::f64::consts::PI * low * t).sin()
                    + (2.0 * std::f64::consts::PI * high * t).sin());
            g711::linear_to_ulaw(x as i16)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_of_both_kinds_arrives_on_the_event_stream() {
    let (h, _dir) = handler(23_000, |_| {}).await;
    let c = h.client();
    let a = Endpoint::new().await;
    let b = Endpoint::new().await;
    let s = session(&c, vec![ServiceType::Play]).await;
    let la = c
        .add_leg(s.id, &leg(None, vec![pcmu()], Some(101)))
        .await
        .expect("a");
    let lb = c
        .add_leg(s.id, &leg(None, vec![pcmu()], None))
        .await
        .expect("b");
    let mut events = c.events().await.expect("events");
    // a: RFC 4733 "5" with the usual three end packets.
    for (k, end) in [
        (0u16, false),
        (1, false),
        (2, false),
        (3, true),
        (4, true),
        (5, true),
    ] {
        let ev = TelephoneEvent {
            event: 5,
            end,
            volume: 10,
            duration: 160 * (k + 1).min(4),
        }
        .to_bytes();
        a.send(la.rtp_port, &packet(101, k, 8000, 0xA, k == 0, &ev))
            .await;
    }
    // b: in-band "#" (941 + 1477 Hz) for 120 ms, then silence.
    let mut audio = dtmf_audio(941.0, 1477.0, 120);
    audio.extend(std::iter::repeat_n(0xFF, 8 * 200));
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for (k, chunk) in audio.chunks(160).enumerate() {
        tick.tick().await;
        b.send(
            lb.rtp_port,
            &packet(0, k as u16, 160 * k as u32, 0xB, false, chunk),
        )
        .await;
    }
    let mut got = Vec::new();
    while got.len() < 2 {
        let ev = wait_event(&mut events, Duration::from_secs(3), |e| {
            matches!(e, Event::Dtmf { .. })
        })
        .await;
        let Event::Dtmf {
            leg_id,
            digit,
            source,
            duration_ms,
            ..
        } = ev
        else {
            unreachable!()
        };
        got.push((leg_id, digit, source, duration_ms));
    }
    got.sort_by_key(|g| g.0);
    assert_eq!(
        (got[0].0, got[0].1.as_str(), got[0].2),
        (la.id, "5", DtmfSource::Rfc4733)
    );
    assert_eq!(got[0].3, 80);
    assert_eq!(
        (got[1].0, got[1].1.as_str(), got[1].2),
        (lb.id, "#", DtmfSource::Inband)
    );
    assert!(
        (80..=160).contains(&got[1].3),
        "in-band duration {}",
        got[1].3
    );
    // No duplicate from the redundant end packets.
    let more = tokio::time::timeout(Duration::from_millis(300), events.next()).await;
    assert!(
        !matches!(more, Ok(Some(Ok(Event::Dtmf { .. })))),
        "duplicate digit: {more:?}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_malformed_packets_are_dropped_and_counted() {
    // io_uring where the kernel allows it (the default).
    foreign_and_malformed(IoMode::Auto, 23200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_malformed_packets_are_dropped_and_counted_with_epoll() {
    // The fallback loop, used where io_uring is unavailable.
    foreign_and_malformed(IoMode::Epoll, 24600).await;
}

async fn foreign_and_malformed(io: IoMode, first_port: u16) {
    let (h, _dir) = handler(first_port, |c| c.io = io).await;
    let c = h.client();
    let a = Endpoint::new().await;
    let b = Endpoint::new().await;
    let intruder = Endpoint::new().await;
    let s = session(&c, vec![ServiceType::Route]).await;
    let la = c
        .add_leg(s.id, &leg(None, vec![pcmu()], None))
        .await
        .expect("a");
    let lb = c
        .add_leg(s.id, &leg(Some(b.addr()), vec![pcmu()], None))
        .await
        .expect("b");
    c.create_route(s.id, &CreateRoute { a: la.id, b: lb.id })
        .await
        .expect("route");
    let mut events = c.events().await.expect("events");
    a.send(la.rtp_port, &packet(0, 1, 0, 1, false, &[0x11; 160]))
        .await;
    let ev = wait_event(&mut events, Duration::from_secs(2), |e| {
        matches!(e, Event::LegLatched { .. })
    })
    .await;
    assert_eq!(
        ev,
        Event::LegLatched {
            session_id: s.id,
            leg_id: la.id,
            remote: a.addr()
        }
    );
    assert!(b.recv(Duration::from_secs(2)).await.is_some());
    // Media toward A too: the io_uring loop now sends to A from a second socket on A's port,
    // connected to A, which the kernel also hands A's own packets to.
    b.send(lb.rtp_port, &packet(0, 1, 0, 2, false, &[0x44; 160]))
        .await;
    let (p, _) = a.recv(Duration::from_secs(2)).await.expect("B reaches A");
    assert_eq!(p[12], 0x44);
    // After latching, another source is dropped; garbage of every kind too.
    intruder
        .send(la.rtp_port, &packet(0, 2, 160, 1, false, &[0x22; 160]))
        .await;
    for junk in [
        &[][..],
        &[0x80],
        &[0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
        &[0xFF; 40],
        &[0x8F; 12],
    ] {
        a.send(la.rtp_port, junk).await;
        a.rtcp
            .send_to(junk, ("127.0.0.1", la.rtcp_port))
            .await
            .expect("send");
    }
    a.send(la.rtp_port, &packet(0, 3, 320, 1, false, &[0x33; 160]))
        .await;
    let (p, _) = b
        .recv(Duration::from_secs(2))
        .await
        .expect("the latched source still flows");
    assert_eq!(p[12], 0x33, "the intruder's packet never came through");
    let stats = c.leg(s.id, la.id).await.expect("leg").stats;
    assert_eq!(stats.foreign_dropped, 1);
    assert!(stats.malformed_dropped >= 4, "{stats:?}");
    assert_eq!(stats.packets_in, 2);
    assert!(c.status().await.is_ok(), "the handler is still up");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_naming_the_problem() {
    let (h, dir) = handler(23_400, |c| {
        c.rtp_ports = media_handler::pool::PortRange {
            first: 23_400,
            last: 23_403,
        }
    })
    .await;
    let c = h.client();
    let http = reqwest::Client::new();
    let post = |path: &str, body: &'static str| {
        http.post(format!("{}/v1{path}", h.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = post("/sessions", "{not json").await.expect("answer");
    assert_eq!(r.status(), 400);
    let e: ApiError = r.json().await.expect("error body");
    assert_eq!(e.error, ErrorCode::BadRequest);
    let r = post("/sessions", r#"{"services":["route"],"colour":"red"}"#)
        .await
        .expect("answer");
    assert_eq!(r.status(), 422);
    let e: ApiError = r.json().await.expect("error body");
    assert!(e.message.contains("colour"), "{}", e.message);
    let r = post("/sessions", r#"{"services":[]}"#)
        .await
        .expect("answer");
    assert_eq!(r.status(), 400);
    let r = http
        .get(format!("{}/v1/sessions/99", h.url))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<ApiError>().await.expect("body").error,
        ErrorCode::UnknownSession
    );
    let r = http
        .get(format!("{}/v1/sessions/x", h.url))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 400);
    let r = http
        .get(format!("{}/v1/nowhere", h.url))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 400);

    let s = session(&c, vec![ServiceType::Play]).await;
    let err = c
        .add_leg(
            s.id,
            &leg(
                None,
                vec![Codec {
                    name: "G722".into(),
                    payload_type: 9,
                    clock_rate: 8000,
                    channels: 1,
                    fmtp: None,
                }],
                None,
            ),
        )
        .await
        .expect_err("G.722 is not supported");
    let ApiError { error, message } = err.api_error().expect("api error").clone();
    assert_eq!(error, ErrorCode::UnsupportedCodec);
    assert!(message.contains("G722"), "{message}");
    // Two pairs in this pool: the third leg finds it exhausted.
    let l1 = c
        .add_leg(s.id, &leg(None, vec![pcmu()], None))
        .await
        .expect("1");
    c.add_leg(s.id, &leg(None, vec![pcmu()], None))
        .await
        .expect("2");
    let err = c
        .add_leg(s.id, &leg(None, vec![pcmu()], None))
        .await
        .expect_err("exhausted");
    assert_eq!(
        err.api_error().expect("api").error,
        ErrorCode::PortsExhausted
    );
    assert!(matches!(
        err,
        media_api::ClientError::Api { status: 409, .. }
    ));
    let err = c
        .play(
            s.id,
            l1.id,
            &Play {
                source: PlaySource::File {
                    path: "missing.wav".into(),
                },
                looped: false,
                mode: PlayMode::Replace,
            },
        )
        .await
        .expect_err("no such file");
    assert_eq!(err.api_error().expect("api").error, ErrorCode::FileNotFound);
    std::fs::write(dir.path().join("prompts/bad.wav"), b"RIFF....WAVEjunk").expect("write");
    let err = c
        .play(
            s.id,
            l1.id,
            &Play {
                source: PlaySource::File {
                    path: "bad.wav".into(),
                },
                looped: false,
                mode: PlayMode::Replace,
            },
        )
        .await
        .expect_err("not a WAV");
    assert_eq!(
        err.api_error().expect("api").error,
        ErrorCode::UnsupportedFile
    );
    let err = c
        .create_route(
            s.id,
            &CreateRoute {
                a: l1.id,
                b: LegId(12345),
            },
        )
        .await
        .expect_err("unknown leg");
    assert_eq!(err.api_error().expect("api").error, ErrorCode::UnknownLeg);
    let err = c.delete_mix(s.id, MixId(5)).await.expect_err("unknown mix");
    assert_eq!(err.api_error().expect("api").error, ErrorCode::UnknownMix);

    let doc = c.openapi().await.expect("openapi");
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/v1/status",
        "/v1/sessions",
        "/v1/sessions/{session_id}/legs",
        "/v1/sessions/{session_id}/legs/{leg_id}/play",
        "/v1/sessions/{session_id}/recordings",
        "/v1/sessions/{session_id}/mixes",
    ] {
        assert!(paths.contains_key(p), "OpenAPI lacks {p}");
    }
    assert!(doc["components"]["schemas"]["Event"].is_object());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_token_guards_every_request_and_the_event_stream() {
    let (h, _dir) = handler(25_000, |c| c.control_token = Some("s3cret-token".into())).await;
    let http = reqwest::Client::new();
    // Without the token, or with a wrong one: 401 with a JSON error naming the problem.
    for auth in [
        None,
        Some("Bearer wrong-token!"),
        Some("Basic s3cret-token"),
    ] {
        let mut req = http
            .post(format!("{}/v1/sessions", h.url))
            .json(&CreateSession {
                services: vec![ServiceType::Record],
                reserved_kbps: None,
                label: None,
            });
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.expect("answer");
        assert_eq!(r.status(), 401, "{auth:?}");
        let e: ApiError = r.json().await.expect("error body");
        assert_eq!(e.error, ErrorCode::Unauthorized);
        assert!(e.message.contains("control token"), "{}", e.message);
    }
    let anon = MediaClient::new(h.url.clone());
    assert!(anon.status().await.is_err());
    assert!(
        anon.events().await.is_err(),
        "the event stream needs the token too"
    );
    assert!(
        anon.list_sessions().await.is_err(),
        "nothing was created without the token"
    );
    // The OpenAPI document stays readable.
    assert!(anon.openapi().await.is_ok());
    // With it, everything works, the event stream included.
    let c = h.client();
    let mut events = c.events().await.expect("event stream with the token");
    let s = session(&c, vec![ServiceType::Play]).await;
    assert_eq!(c.list_sessions().await.expect("sessions").len(), 1);
    let ep = Endpoint::new().await;
    let l = c
        .add_leg(s.id, &leg(Some(ep.addr()), vec![pcmu()], None))
        .await
        .expect("leg");
    c.play(
        s.id,
        l.id,
        &Play {
            source: PlaySource::Tone {
                tone: Tone::Beep,
                duration_ms: None,
            },
            looped: false,
            mode: PlayMode::Replace,
        },
    )
    .await
    .expect("play");
    let ev = wait_event(&mut events, Duration::from_secs(3), |e| {
        matches!(e, Event::PlaybackFinished { .. })
    })
    .await;
    assert!(matches!(ev, Event::PlaybackFinished { session_id, .. } if session_id == s.id));
    c.delete_session(s.id).await.expect("delete");
    h.shutdown().await;
}
