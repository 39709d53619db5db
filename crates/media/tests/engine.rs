//! Behaviour of the sans-IO engine, with simulated time and no sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::*;
use rtp::packet::{HeaderRewrite, write_header};
use rtp::{RtpHeader, TelephoneEvent, g711};

const S: SessionId = SessionId(1);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn pcmu() -> CodecSpec {
    CodecSpec::new("PCMU", 0, 8000)
}

fn pcma() -> CodecSpec {
    CodecSpec::new("PCMA", 8, 8000)
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    buf[12..12 + payload.len()].copy_from_slice(payload);
    let n = write_header(
        &mut buf,
        &HeaderRewrite {
            marker,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc,
        },
        payload.len(),
    )
    .expect("fits");
    buf.truncate(n);
    buf
}

/// Feed one packet; returns (bytes sent, destination, sending slot) if forwarded.
fn feed(
    e: &mut Engine,
    now: Instant,
    slot: LegSlot,
    from: SocketAddr,
    pkt: &[u8],
) -> Option<(Vec<u8>, SocketAddr, LegSlot)> {
    let mut buf = vec![0u8; 2048];
    buf[..pkt.len()].copy_from_slice(pkt);
    match e.handle_rtp(now, slot, from, &mut buf, pkt.len()) {
        Forward::Drop => None,
        Forward::Send { from, to, len } => Some((buf[..len].to_vec(), to, from)),
    }
}

fn drain_tx(e: &mut Engine) -> Vec<(Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(t) = e.poll_transmit(&mut buf) {
        out.push((t, buf[..t.len].to_vec()));
    }
    out
}

fn drain_events(e: &mut Engine) -> Vec<EngineEvent> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

fn two_legs(
    e: &mut Engine,
    now: Instant,
    a_codecs: Vec<CodecSpec>,
    b_codecs: Vec<CodecSpec>,
) -> (LegSlot, LegSlot) {
    let a = e
        .add_leg(
            now,
            LegId(1),
            S,
            LegConfig::audio(Some(addr(4000)), a_codecs),
        )
        .expect("leg a");
    let b = e
        .add_leg(
            now,
            LegId(2),
            S,
            LegConfig::audio(Some(addr(5000)), b_codecs),
        )
        .expect("leg b");
    (a, b)
}

#[test]
fn unlatched_leg_latches_to_first_valid_source_then_drops_foreign_packets() {
    let t0 = Instant::now();
    let mut e = Engine::new(1, EngineConfig::default());
    let slot = e
        .add_leg(t0, LegId(1), S, LegConfig::audio(None, vec![pcmu()]))
        .expect("leg");
    // A packet with a payload type the leg did not negotiate does not latch.
    assert!(
        feed(
            &mut e,
            t0,
            slot,
            addr(7000),
            &packet(18, 1, 0, 9, false, &[0; 20])
        )
        .is_none()
    );
    assert!(!e.leg_snapshot(LegId(1)).expect("leg").latched);
    feed(
        &mut e,
        t0,
        slot,
        addr(6000),
        &packet(0, 1, 0, 9, false, &[0xFF; 160]),
    );
    let snap = e.leg_snapshot(LegId(1)).expect("leg");
    assert!(snap.latched);
    assert_eq!(snap.remote_rtp, Some(addr(6000)));
    assert_eq!(snap.remote_rtcp, Some(addr(6001)));
    assert_eq!(
        drain_events(&mut e),
        vec![EngineEvent::LegLatched {
            session: S,
            leg: LegId(1),
            remote: addr(6000)
        }]
    );
    feed(
        &mut e,
        t0,
        slot,
        addr(6666),
        &packet(0, 2, 160, 9, false, &[0xFF; 160]),
    );
    let stats = e.leg_snapshot(LegId(1)).expect("leg").stats;
    assert_eq!(stats.foreign_dropped, 1);
    assert_eq!(stats.packets_in, 1);
    assert_eq!(stats.malformed_dropped, 1);
}

#[test]
fn same_codec_route_rewrites_headers_and_leaves_payload_untouched() {
    let t0 = Instant::now();
    let mut e = Engine::new(2, EngineConfig::default());
    let (a, b) = two_legs(
        &mut e,
        t0,
        vec![pcmu()],
        vec![CodecSpec::new("pcmu", 0, 8000)],
    );
    e.route(t0, RouteId(1), S, LegId(1), LegId(2))
        .expect("route");
    let payload: Vec<u8> = (0..160).map(|i| i as u8).collect();
    let (out, to, from) = feed(
        &mut e,
        t0,
        a,
        addr(4000),
        &packet(0, 500, 8000, 0xAAAA, false, &payload),
    )
    .expect("relayed");
    assert_eq!((to, from), (addr(5000), b));
    let h = RtpHeader::parse(&out).expect("valid");
    assert_eq!(&out[12..], &payload[..]);
    assert_ne!(h.ssrc, 0xAAAA, "leg b has its own SSRC");
    assert!(h.marker, "first packet of the leg");
    let (out2, _, _) = feed(
        &mut e,
        t0 + Duration::from_millis(20),
        a,
        addr(4000),
        &packet(0, 501, 8160, 0xAAAA, false, &payload),
    )
    .expect("relayed");
    let h2 = RtpHeader::parse(&out2).expect("valid");
    assert_eq!(h2.sequence, h.sequence.wrapping_add(1));
    assert_eq!(h2.timestamp, h.timestamp.wrapping_add(160));
    assert_eq!(h2.ssrc, h.ssrc);
    assert!(!h2.marker);
    // And the other way.
    let back = feed(
        &mut e,
        t0,
        b,
        addr(5000),
        &packet(0, 1, 1, 0xBBBB, false, &payload),
    )
    .expect("relayed");
    assert_eq!((back.1, back.2), (addr(4000), a));
}

#[test]
fn pcmu_to_pcma_route_transcodes_and_remaps_telephone_events() {
    let t0 = Instant::now();
    let mut e = Engine::new(3, EngineConfig::default());
    let mut ca = LegConfig::audio(Some(addr(4000)), vec![pcmu()]);
    ca.telephone_event_pt = Some(101);
    let mut cb = LegConfig::audio(Some(addr(5000)), vec![pcma()]);
    cb.telephone_event_pt = Some(96);
    let a = e.add_leg(t0, LegId(1), S, ca).expect("a");
    let b = e.add_leg(t0, LegId(2), S, cb).expect("b");
    e.route(t0, RouteId(1), S, LegId(1), LegId(2))
        .expect("route");
    let pcm: Vec<i16> = (0..160)
        .map(|i| ((i as f64 / 5.0).sin() * 8000.0) as i16)
        .collect();
    let mut ulaw = vec![0u8; 160];
    g711::encode_ulaw(&pcm, &mut ulaw);
    let (out, _, _) =
        feed(&mut e, t0, a, addr(4000), &packet(0, 1, 0, 7, false, &ulaw)).expect("relayed");
    let h = RtpHeader::parse(&out).expect("valid");
    assert_eq!(h.payload_type, 8);
    for (k, &byte) in out[12..].iter().enumerate() {
        assert_eq!(byte, g711::ULAW_TO_ALAW[ulaw[k] as usize]);
    }
    // A telephone-event from a arrives at b with b's payload type, in the same stream.
    let ev = TelephoneEvent {
        event: 5,
        end: false,
        volume: 10,
        duration: 160,
    }
    .to_bytes();
    let (out, _, _) = feed(
        &mut e,
        t0 + Duration::from_millis(20),
        a,
        addr(4000),
        &packet(101, 2, 160, 7, true, &ev),
    )
    .expect("relayed");
    let he = RtpHeader::parse(&out).expect("valid");
    assert_eq!(he.payload_type, 96);
    assert_eq!(he.sequence, h.sequence.wrapping_add(1));
    assert_eq!(&out[12..16], &ev);
    // PCMA from b becomes PCMU on a.
    let mut alaw = vec![0u8; 160];
    g711::encode_alaw(&pcm, &mut alaw);
    let (back, _, _) =
        feed(&mut e, t0, b, addr(5000), &packet(8, 1, 0, 8, false, &alaw)).expect("relayed");
    assert_eq!(RtpHeader::parse(&back).expect("valid").payload_type, 0);
    assert_eq!(back[12], g711::ALAW_TO_ULAW[alaw[0] as usize]);
}

#[test]
fn telephone_events_are_dropped_toward_a_leg_without_them() {
    let t0 = Instant::now();
    let mut e = Engine::new(4, EngineConfig::default());
    let mut ca = LegConfig::audio(Some(addr(4000)), vec![pcmu()]);
    ca.telephone_event_pt = Some(101);
    let a = e.add_leg(t0, LegId(1), S, ca).expect("a");
    e.add_leg(
        t0,
        LegId(2),
        S,
        LegConfig::audio(Some(addr(5000)), vec![pcmu()]),
    )
    .expect("b");
    e.route(t0, RouteId(1), S, LegId(1), LegId(2))
        .expect("route");
    let ev = TelephoneEvent {
        event: 1,
        end: true,
        volume: 10,
        duration: 800,
    }
    .to_bytes();
    assert!(feed(&mut e, t0, a, addr(4000), &packet(101, 1, 0, 7, true, &ev)).is_none());
    // ... but the digit is still reported.
    let events: Vec<EngineEvent> = drain_events(&mut e)
        .into_iter()
        .filter(|e| !matches!(e, EngineEvent::LegLatched { .. }))
        .collect();
    assert!(matches!(
        events.as_slice(),
        [EngineEvent::Dtmf {
            digit: '1',
            source: DtmfSource::Rfc4733,
            ..
        }]
    ));
}

#[test]
fn rfc4733_end_packets_report_one_digit() {
    let t0 = Instant::now();
    let mut e = Engine::new(5, EngineConfig::default());
    let mut cfg = LegConfig::audio(Some(addr(4000)), vec![pcmu()]);
    cfg.telephone_event_pt = Some(101);
    let a = e.add_leg(t0, LegId(1), S, cfg).expect("a");
    for (k, (end, dur)) in [
        (false, 160u16),
        (false, 480),
        (true, 960),
        (true, 960),
        (true, 960),
    ]
    .iter()
    .enumerate()
    {
        let ev = TelephoneEvent {
            event: 11,
            end: *end,
            volume: 10,
            duration: *dur,
        }
        .to_bytes();
        feed(
            &mut e,
            t0,
            a,
            addr(4000),
            &packet(101, k as u16, 4000, 7, k == 0, &ev),
        );
    }
    let dtmf: Vec<EngineEvent> = drain_events(&mut e)
        .into_iter()
        .filter(|e| matches!(e, EngineEvent::Dtmf { .. }))
        .collect();
    assert_eq!(
        dtmf,
        vec![EngineEvent::Dtmf {
            session: S,
            leg: LegId(1),
            digit: '#',
            duration: Duration::from_millis(120),
            source: DtmfSource::Rfc4733
        }]
    );
}

fn dtmf_ulaw(digit_rows: (f64, f64), ms: usize, offset: usize) -> Vec<u8> {
    (0..ms * 8)
        .map(|n| {
            let t = (n + offset) as f64 / 8000.0;
            let x = 7000.0
                * ((2.0 * std::f64::consts::PI * digit_rows.0 * t).sin()
                    + (2.0 * std::f64::consts::PI * digit_rows.1 * t).sin());
            g711::linear_to_ulaw(x as i16)
        })
        .collect()
}

#[test]
fn inband_digits_are_detected_on_legs_without_telephone_event() {
    let t0 = Instant::now();
    let mut e = Engine::new(6, EngineConfig::default());
    let a = e
        .add_leg(
            t0,
            LegId(1),
            S,
            LegConfig::audio(Some(addr(4000)), vec![pcmu()]),
        )
        .expect("a");
    // "9" (852 + 1477 Hz) for 120 ms, then 200 ms of silence, in 20 ms packets.
    let mut audio = dtmf_ulaw((852.0, 1477.0), 120, 0);
    audio.extend(std::iter::repeat_n(0xFF, 1600));
    for (k, chunk) in audio.chunks(160).enumerate() {
        let now = t0 + Duration::from_millis(20 * k as u64);
        feed(
            &mut e,
            now,
            a,
            addr(4000),
            &packet(0, k as u16, 160 * k as u32, 7, false, chunk),
        );
    }
    let digits: Vec<(char, DtmfSource)> = drain_events(&mut e)
        .into_iter()
        .filter_map(|e| match e {
            EngineEvent::Dtmf { digit, source, .. } => Some((digit, source)),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec![('9', DtmfSource::Inband)]);
}

fn headers(tx: &[(Transmit, Vec<u8>)]) -> Vec<RtpHeader> {
    tx.iter()
        .filter(|(t, _)| !t.rtcp)
        .map(|(_, b)| RtpHeader::parse(b).expect("valid"))
        .collect()
}

#[test]
fn prompt_plays_in_20ms_packets_and_reports_completion() {
    let t0 = Instant::now();
    let mut e = Engine::new(7, EngineConfig::default());
    e.add_leg(
        t0,
        LegId(1),
        S,
        LegConfig::audio(Some(addr(4000)), vec![pcma()]),
    )
    .expect("a");
    let prompt: Arc<[i16]> = vec![1000i16; 800].into(); // 100 ms
    let started = e
        .play(
            t0,
            LegId(1),
            PlaybackId(9),
            PlaySource::Samples(prompt),
            false,
            PlayMode::Replace,
        )
        .expect("play");
    assert_eq!(
        started,
        PlayStarted {
            playing_now: true,
            duration: Some(Duration::from_millis(100))
        }
    );
    let mut all = Vec::new();
    let mut events = Vec::new();
    for k in 0..10u32 {
        e.tick(t0 + TICK * k, Duration::from_secs(1_700_000_000));
        all.extend(drain_tx(&mut e));
        events.extend(drain_events(&mut e));
    }
    let hs = headers(&all);
    assert_eq!(hs.len(), 5, "100 ms of prompt = 5 packets");
    assert!(
        hs.iter()
            .all(|h| h.payload_type == 8 && h.payload_len == 160)
    );
    assert!(hs[0].marker && !hs[1].marker);
    for w in hs.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1));
        assert_eq!(w[1].timestamp, w[0].timestamp.wrapping_add(160));
    }
    assert_eq!(
        events,
        vec![EngineEvent::PlaybackFinished {
            session: S,
            leg: LegId(1),
            playback: PlaybackId(9),
            reason: EndReason::Completed
        }]
    );
}

#[test]
fn ticks_a_little_early_or_late_still_send_one_packet_each() {
    // A driver wakes around its own 20 ms grid: here the first tick is 0.4 ms late (it sets
    // the engine's epoch) and the others alternate 0.3 ms early and 0.3 ms late against
    // that. Every tick must send exactly one packet, with no timestamp jump.
    let t0 = Instant::now();
    let mut e = Engine::new(7, EngineConfig::default());
    e.add_leg(
        t0,
        LegId(1),
        S,
        LegConfig::audio(Some(addr(4000)), vec![pcmu()]),
    )
    .expect("a");
    let tone: Arc<[i16]> = vec![1000i16; 8000].into();
    e.play(
        t0,
        LegId(1),
        PlaybackId(1),
        PlaySource::Samples(tone),
        false,
        PlayMode::Replace,
    )
    .expect("play");
    let late = Duration::from_micros(400);
    let jitter = Duration::from_micros(300);
    let mut per_tick = Vec::new();
    let mut all = Vec::new();
    for k in 0..40u32 {
        let grid = t0 + late + TICK * k;
        let now = if k == 0 {
            grid
        } else if k % 2 == 0 {
            grid - jitter - late
        } else {
            grid + jitter - late
        };
        e.tick(now, Duration::ZERO);
        let tx = drain_tx(&mut e);
        per_tick.push(tx.len());
        all.extend(tx);
    }
    assert!(
        per_tick.iter().all(|&n| n == 1),
        "packets per tick: {per_tick:?}"
    );
    let hs = headers(&all);
    for w in hs.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1));
        assert_eq!(w[1].timestamp, w[0].timestamp.wrapping_add(160));
    }
}

#[test]
fn replace_and_stop_report_their_reasons() {
    let t0 = Instant::now();
    let mut e = Engine::new(8, EngineConfig::default());
    e.add_leg(
        t0,
        LegId(1),
        S,
        LegConfig::audio(Some(addr(4000)), vec![pcmu()]),
    )
    .expect("a");
    e.play(
        t0,
        LegId(1),
        PlaybackId(1),
        PlaySource::Tone(Tone::Ringback, 6000),
        true,
        PlayMode::Replace,
    )
    .expect("play");
    let q = e
        .play(
            t0,
            LegId(1),
            PlaybackId(2),
            PlaySource::Silence(1000),
            false,
            PlayMode::Enqueue,
        )
        .expect("queue");
    assert!(!q.playing_now);
    e.play(
        t0,
        LegId(1),
        PlaybackId(3),
        PlaySource::Tone(Tone::Beep, 250),
        false,
        PlayMode::Replace,
    )
    .expect("replace");
    e.stop_play(t0, LegId(1)).expect("stop");
    let reasons: Vec<(u64, EndReason)> = drain_events(&mut e)
        .into_iter()
        .filter_map(|e| match e {
            EngineEvent::PlaybackFinished {
                playback, reason, ..
            } => Some((playback.0, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            (1, EndReason::Replaced),
            (2, EndReason::Replaced),
            (3, EndReason::Stopped)
        ]
    );
}

#[test]
fn call_sequence_stays_gapless_across_play_route_play() {
    let t0 = Instant::now();
    let mut e = Engine::new(9, EngineConfig::default());
    let (a, _b) = two_legs(&mut e, t0, vec![pcmu()], vec![pcmu()]);
    e.route(t0, RouteId(1), S, LegId(1), LegId(2))
        .expect("route");
    e.play(
        t0,
        LegId(2),
        PlaybackId(1),
        PlaySource::Silence(60),
        false,
        PlayMode::Replace,
    )
    .expect("play");
    let mut sent: Vec<(u32, RtpHeader)> = Vec::new(); // (tick, header) toward leg b
    let mut a_seq = 100u16;
    for k in 0..40u32 {
        let now = t0 + TICK * k;
        if k == 20 {
            e.play(
                now,
                LegId(2),
                PlaybackId(2),
                PlaySource::Tone(Tone::Beep, 100),
                false,
                PlayMode::Replace,
            )
            .expect("play");
        }
        // a sends every tick, 7 ms after it.
        if let Some((out, to, _)) = feed(
            &mut e,
            now + Duration::from_millis(7),
            a,
            addr(4000),
            &packet(0, a_seq, 3000 + 160 * k, 0x5151, false, &[0xFF; 160]),
        ) {
            assert_eq!(to, addr(5000));
            sent.push((k, RtpHeader::parse(&out).expect("valid")));
        }
        a_seq = a_seq.wrapping_add(1);
        e.tick(now, Duration::ZERO);
        for (t, b) in drain_tx(&mut e) {
            if !t.rtcp && t.to == addr(5000) {
                sent.push((k, RtpHeader::parse(&b).expect("valid")));
            }
        }
    }
    // play (3 packets) → route → beep (5 packets) → route
    let markers: Vec<usize> = sent
        .iter()
        .enumerate()
        .filter(|(_, (_, h))| h.marker)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        markers.len(),
        4,
        "one marker per source switch: {markers:?}"
    );
    let ssrc = sent[0].1.ssrc;
    for w in sent.windows(2) {
        let (h0, h1) = (&w[0].1, &w[1].1);
        assert_eq!(h1.ssrc, ssrc);
        assert_eq!(h1.sequence, h0.sequence.wrapping_add(1), "no gap");
        let dt = h1.timestamp.wrapping_sub(h0.timestamp) as i64;
        assert!(
            (80..=320).contains(&dt),
            "timestamp step {dt} disagrees with 20 ms packets"
        );
    }
}

#[test]
fn stereo_recording_interleaves_left_and_right_and_pauses_with_silence() {
    let t0 = Instant::now();
    let mut e = Engine::new(10, EngineConfig::default());
    let (a, b) = two_legs(&mut e, t0, vec![pcmu()], vec![pcmu()]);
    let ch = e
        .start_recording(
            t0,
            RecordingId(1),
            S,
            RecordSource::Stereo(LegId(1), LegId(2)),
        )
        .expect("rec");
    assert_eq!(ch, 2);
    let la = g711::linear_to_ulaw(4000);
    let lb = g711::linear_to_ulaw(-2000);
    let mut samples = Vec::new();
    for k in 0..30u32 {
        let now = t0 + TICK * k;
        if k == 20 {
            e.pause_recording(RecordingId(1)).expect("pause");
        }
        feed(
            &mut e,
            now,
            a,
            addr(4000),
            &packet(0, k as u16, 160 * k, 1, false, &[la; 160]),
        );
        feed(
            &mut e,
            now,
            b,
            addr(5000),
            &packet(0, k as u16, 160 * k, 2, false, &[lb; 160]),
        );
        e.tick(now, Duration::ZERO);
        while let Some(r) = e.poll_record() {
            if let RecordOutput::Samples { samples: s, .. } = r {
                samples.extend(s);
            }
        }
    }
    let d = e.stop_recording(RecordingId(1)).expect("stop");
    assert_eq!(d, Duration::from_millis(600));
    let mut finished = false;
    while let Some(r) = e.poll_record() {
        match r {
            RecordOutput::Samples { samples: s, .. } => samples.extend(s),
            RecordOutput::Finished { id, duration, .. } => {
                assert_eq!((id, duration), (RecordingId(1), d));
                finished = true;
            }
        }
    }
    assert!(finished);
    assert_eq!(samples.len(), 30 * 160 * 2);
    let (ua, ub) = (
        g711::ULAW_TO_LINEAR[la as usize],
        g711::ULAW_TO_LINEAR[lb as usize],
    );
    // After the prefill, frames 5..20 hold a on the left and b on the right.
    let frame = |k: usize| &samples[k * 320..(k + 1) * 320];
    assert!(
        frame(10).chunks(2).all(|lr| lr == [ua, ub]),
        "{:?}",
        &frame(10)[..4]
    );
    assert!(
        frame(25).iter().all(|&s| s == 0),
        "paused frames are silence"
    );
}

#[test]
fn mix_of_three_gives_each_leg_the_others() {
    let t0 = Instant::now();
    let mut e = Engine::new(11, EngineConfig::default());
    let levels = [1000i16, 2000, 4000];
    let mut slots = Vec::new();
    for (k, _) in levels.iter().enumerate() {
        slots.push(
            e.add_leg(
                t0,
                LegId(k as u64 + 1),
                S,
                LegConfig::audio(Some(addr(4000 + 10 * k as u16)), vec![pcma()]),
            )
            .expect("leg"),
        );
    }
    assert!(
        e.create_mix(t0, MixId(1), S, vec![LegId(1), LegId(2)])
            .is_err(),
        "two legs are a route"
    );
    e.create_mix(t0, MixId(1), S, vec![LegId(1), LegId(2), LegId(3)])
        .expect("mix");
    let mut last = std::collections::HashMap::new();
    for k in 0..20u32 {
        let now = t0 + TICK * k;
        for (i, slot) in slots.iter().enumerate() {
            let byte = g711::linear_to_alaw(levels[i]);
            feed(
                &mut e,
                now,
                *slot,
                addr(4000 + 10 * i as u16),
                &packet(8, k as u16, 160 * k, i as u32, false, &[byte; 160]),
            );
        }
        e.tick(now, Duration::ZERO);
        for (t, b) in drain_tx(&mut e) {
            if !t.rtcp {
                let h = RtpHeader::parse(&b).expect("valid");
                last.insert(t.to, g711::ALAW_TO_LINEAR[b[h.payload_offset] as usize]);
            }
        }
    }
    let heard = |port: u16| i32::from(last[&addr(port)]);
    let dec = |x: i16| i32::from(g711::ALAW_TO_LINEAR[g711::linear_to_alaw(x) as usize]);
    let near = |got: i32, want: i32| (got - want).abs() <= want / 16 + 16;
    assert!(
        near(heard(4000), dec(2000) + dec(4000)),
        "leg 1 hears {}",
        heard(4000)
    );
    assert!(
        near(heard(4010), dec(1000) + dec(4000)),
        "leg 2 hears {}",
        heard(4010)
    );
    assert!(
        near(heard(4020), dec(1000) + dec(2000)),
        "leg 3 hears {}",
        heard(4020)
    );
}

#[test]
fn silent_leg_reports_rtp_timeout_once() {
    let t0 = Instant::now();
    let mut e = Engine::new(12, EngineConfig::default());
    let mut cfg = LegConfig::audio(Some(addr(4000)), vec![pcmu()]);
    cfg.rtp_timeout = Some(Duration::from_secs(2));
    let a = e.add_leg(t0, LegId(1), S, cfg).expect("a");
    feed(
        &mut e,
        t0,
        a,
        addr(4000),
        &packet(0, 1, 0, 1, false, &[0xFF; 160]),
    );
    drain_events(&mut e);
    e.tick(t0 + Duration::from_millis(1900), Duration::ZERO);
    assert!(drain_events(&mut e).is_empty());
    e.tick(t0 + Duration::from_millis(2100), Duration::ZERO);
    assert!(matches!(
        drain_events(&mut e).as_slice(),
        [EngineEvent::RtpTimeout { leg: LegId(1), .. }]
    ));
    e.tick(t0 + Duration::from_millis(5000), Duration::ZERO);
    assert!(drain_events(&mut e).is_empty(), "reported once");
}

#[test]
fn rtcp_sender_report_describes_the_rewritten_stream() {
    let t0 = Instant::now();
    let mut e = Engine::new(
        13,
        EngineConfig {
            rtcp_interval: Duration::from_secs(1),
        },
    );
    e.add_leg(
        t0,
        LegId(1),
        S,
        LegConfig::audio(Some(addr(4000)), vec![pcmu()]),
    )
    .expect("a");
    e.play(
        t0,
        LegId(1),
        PlaybackId(1),
        PlaySource::Silence(10_000),
        false,
        PlayMode::Replace,
    )
    .expect("play");
    let mut last_rtp: Option<RtpHeader> = None;
    let mut rtp_count = 0u32;
    for k in 0..100u32 {
        e.tick(t0 + TICK * k, Duration::from_secs(1_700_000_000) + TICK * k);
        for (t, b) in drain_tx(&mut e) {
            if t.rtcp {
                assert_eq!(t.to, addr(4001));
                let mut c = rtcp_types::Compound::parse(&b).expect("valid RTCP");
                let Some(Ok(rtcp_types::Packet::Sr(sr))) = c.next() else {
                    panic!("SR first")
                };
                let h = last_rtp.expect("RTP before the SR");
                assert_eq!(sr.ssrc(), h.ssrc);
                assert_eq!(sr.packet_count(), rtp_count);
                assert_eq!(sr.octet_count(), rtp_count * 160);
                // The SR is generated in the same tick as the last packet: same timestamp.
                assert_eq!(sr.rtp_timestamp(), h.timestamp);
                return;
            }
            last_rtp = Some(RtpHeader::parse(&b).expect("valid"));
            rtp_count += 1;
        }
    }
    panic!("no RTCP within 2 s");
}

#[test]
fn video_legs_relay_untouched_and_refuse_audio_services() {
    let t0 = Instant::now();
    let mut e = Engine::new(14, EngineConfig::default());
    let mut va = LegConfig::audio(Some(addr(4000)), vec![CodecSpec::new("H264", 96, 90000)]);
    va.kind = MediaKind::Video;
    let mut vb = LegConfig::audio(Some(addr(5000)), vec![CodecSpec::new("h264", 100, 90000)]);
    vb.kind = MediaKind::Video;
    let a = e.add_leg(t0, LegId(1), S, va).expect("a");
    e.add_leg(t0, LegId(2), S, vb).expect("b");
    e.add_leg(t0, LegId(3), S, LegConfig::audio(None, vec![pcmu()]))
        .expect("audio");
    assert!(matches!(
        e.route(t0, RouteId(1), S, LegId(1), LegId(3)),
        Err(MediaError::InvalidState(_))
    ));
    e.route(t0, RouteId(1), S, LegId(1), LegId(2))
        .expect("video route");
    let payload = [0x65u8; 900];
    let (o1, _, _) = feed(
        &mut e,
        t0,
        a,
        addr(4000),
        &packet(96, 10, 90_000, 3, false, &payload),
    )
    .expect("relayed");
    let (o2, _, _) = feed(
        &mut e,
        t0 + Duration::from_millis(1),
        a,
        addr(4000),
        &packet(96, 11, 90_000, 3, true, &payload),
    )
    .expect("relayed");
    let (h1, h2) = (
        RtpHeader::parse(&o1).expect("valid"),
        RtpHeader::parse(&o2).expect("valid"),
    );
    assert_eq!((h1.payload_type, h2.payload_type), (100, 100));
    assert_eq!(h2.timestamp, h1.timestamp, "same frame, same timestamp");
    assert!(h2.marker, "the source's marker passes through");
    assert_eq!(&o2[12..], &payload[..]);
    let err = e.play(
        t0,
        LegId(1),
        PlaybackId(1),
        PlaySource::Silence(100),
        false,
        PlayMode::Replace,
    );
    assert!(matches!(err, Err(MediaError::InvalidState(m)) if m.contains("video")));
}

#[test]
fn invalid_requests_are_errors_naming_the_problem() {
    let t0 = Instant::now();
    let mut e = Engine::new(15, EngineConfig::default());
    let err = e.add_leg(
        t0,
        LegId(1),
        S,
        LegConfig::audio(None, vec![CodecSpec::new("G722", 9, 8000)]),
    );
    assert!(matches!(err, Err(MediaError::UnsupportedCodec(m)) if m.contains("G722")));
    e.add_leg(t0, LegId(1), S, LegConfig::audio(None, vec![pcmu()]))
        .expect("a");
    e.add_leg(
        t0,
        LegId(2),
        SessionId(2),
        LegConfig::audio(None, vec![pcmu()]),
    )
    .expect("b");
    assert!(matches!(
        e.route(t0, RouteId(1), S, LegId(1), LegId(1)),
        Err(MediaError::BadRequest(_))
    ));
    assert!(matches!(
        e.route(t0, RouteId(1), S, LegId(1), LegId(2)),
        Err(MediaError::WrongSession { .. })
    ));
    assert!(matches!(
        e.route(t0, RouteId(1), S, LegId(1), LegId(9)),
        Err(MediaError::UnknownLeg(LegId(9)))
    ));
    let mut bad = LegConfig::audio(None, vec![pcmu()]);
    bad.ptime_ms = 25;
    assert!(
        matches!(e.add_leg(t0, LegId(3), S, bad), Err(MediaError::BadRequest(m)) if m.contains("ptime"))
    );
}

#[test]
fn removing_a_session_frees_its_slots_and_finishes_its_recordings() {
    let t0 = Instant::now();
    let mut e = Engine::new(16, EngineConfig::default());
    let (a, b) = two_legs(&mut e, t0, vec![pcmu()], vec![pcmu()]);
    e.route(t0, RouteId(1), S, LegId(1), LegId(2))
        .expect("route");
    e.start_recording(t0, RecordingId(1), S, RecordSource::Leg(LegId(1)))
        .expect("rec");
    let mut freed = e.remove_session(t0, S);
    freed.sort();
    assert_eq!(freed, vec![a, b]);
    assert_eq!(e.leg_count(), 0);
    assert!(
        std::iter::from_fn(|| e.poll_record()).any(|r| matches!(r, RecordOutput::Finished { .. }))
    );
    // Slots are reused.
    let c = e
        .add_leg(t0, LegId(3), S, LegConfig::audio(None, vec![pcmu()]))
        .expect("c");
    assert!(c == a || c == b);
}

mod garbage {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..50)) {
            let t0 = Instant::now();
            let mut e = Engine::new(17, EngineConfig::default());
            let mut cfg = LegConfig::audio(None, vec![pcmu(), pcma()]);
            cfg.telephone_event_pt = Some(101);
            let a = e.add_leg(t0, LegId(1), S, cfg).expect("a");
            let b = e.add_leg(t0, LegId(2), S, LegConfig::audio(None, vec![pcma()])).expect("b");
            e.route(t0, RouteId(1), S, LegId(1), LegId(2)).expect("route");
            e.start_recording(t0, RecordingId(1), S, RecordSource::Stereo(LegId(1), LegId(2))).expect("rec");
            for (k, p) in packets.iter().enumerate() {
                let mut buf = vec![0u8; 2048];
                buf[..p.len()].copy_from_slice(p);
                let now = t0 + Duration::from_millis(k as u64);
                let slot = if k % 2 == 0 { a } else { b };
                e.handle_rtp(now, slot, addr(9), &mut buf, p.len());
                e.handle_rtcp(now, slot, addr(10), p);
                e.tick(now, Duration::ZERO);
                drain_tx(&mut e);
                drain_events(&mut e);
            }
        }
    }
}

#[test]
fn hold_stops_sending_to_a_leg_and_unhold_resumes_the_same_stream() {
    let t0 = Instant::now();
    let mut e = Engine::new(18, EngineConfig::default());
    let (a, b) = two_legs(&mut e, t0, vec![pcmu()], vec![pcmu()]);
    e.route(t0, RouteId(1), S, LegId(1), LegId(2))
        .expect("route");
    let ms = |k: u64| t0 + Duration::from_millis(20 * k);
    let (first, _, _) = feed(
        &mut e,
        ms(0),
        a,
        addr(4000),
        &packet(0, 1, 0, 7, false, &[1; 160]),
    )
    .expect("relayed");
    // b's phone holds (a=sendonly): the handler answers recvonly toward b.
    let hold = LegUpdate {
        direction: Some(Direction::RecvOnly),
        ..LegUpdate::default()
    };
    e.update_leg(ms(1), LegId(2), hold).expect("hold");
    assert!(
        feed(
            &mut e,
            ms(1),
            a,
            addr(4000),
            &packet(0, 2, 160, 7, false, &[1; 160])
        )
        .is_none(),
        "nothing to b on hold"
    );
    assert!(
        feed(
            &mut e,
            ms(1),
            b,
            addr(5000),
            &packet(0, 1, 0, 8, false, &[2; 160])
        )
        .is_some(),
        "b still heard"
    );
    let unhold = LegUpdate {
        direction: Some(Direction::SendRecv),
        ..LegUpdate::default()
    };
    e.update_leg(ms(5), LegId(2), unhold).expect("unhold");
    let (back, _, _) = feed(
        &mut e,
        ms(5),
        a,
        addr(4000),
        &packet(0, 6, 800, 7, false, &[1; 160]),
    )
    .expect("relayed");
    let (h0, h1) = (
        RtpHeader::parse(&first).expect("valid"),
        RtpHeader::parse(&back).expect("valid"),
    );
    assert_eq!(h1.ssrc, h0.ssrc);
    assert_eq!(
        h1.sequence,
        h0.sequence.wrapping_add(1),
        "no gap across the hold"
    );
    assert_eq!(
        h1.timestamp,
        h0.timestamp.wrapping_add(800),
        "timestamps follow the 100 ms on hold"
    );
    assert!(h1.marker, "a new talkspurt after the hold");
}
