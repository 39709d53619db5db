//! Issue 2, item 4: what one leg receives on a real UDP socket while its source switches
//! route → prompt → route → music → silence → route → beep → route → ringback → route (and
//! the routed phone restarts its stream with a new SSRC): one SSRC, no sequence gap,
//! timestamps that follow the arrival times within one packet interval, the marker bit on
//! exactly the first packet after each switch, and RTCP sender reports that describe the
//! stream as received.

mod common;

use media_handler::IoMode;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use media_api::*;

/// Datagrams with their arrival times.
type Log = Arc<Mutex<Vec<(Vec<u8>, Instant)>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Route(u8),
    Prompt,
    Silence,
    Tone,
}

fn classify(payload: &[u8], prompt_byte: u8) -> Class {
    let first = payload[0];
    if payload.iter().all(|&b| b == first) {
        match first {
            0x2A | 0x2B => return Class::Route(first),
            0xFF => return Class::Silence,
            b if b == prompt_byte => return Class::Prompt,
            _ => {}
        }
    }
    Class::Tone
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leg_keeps_one_gapless_stream_across_source_switches() {
    // io_uring where the kernel allows it (the default).
    gapless_stream(IoMode::Auto, 22000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leg_keeps_one_gapless_stream_across_source_switches_with_epoll() {
    // The fallback loop, used where io_uring is unavailable.
    gapless_stream(IoMode::Epoll, 24400).await;
}

async fn gapless_stream(io: IoMode, first_port: u16) {
    let (h, dir) = handler(first_port, |c| {
        c.rtcp_interval = Duration::from_millis(800);
        c.io = io;
    })
    .await;
    let c = h.client();
    let io_loop = c.status().await.expect("status").media_io;
    match io {
        IoMode::Epoll => assert_eq!(io_loop, "epoll"),
        _ => assert!(
            io_loop == "uring" || io_loop == "epoll",
            "media_io {io_loop:?}"
        ),
    }
    let prompt_level = 1000i16;
    std::fs::write(
        dir.path().join("prompts/prompt.wav"),
        wav(8000, &vec![prompt_level; 3200]),
    )
    .expect("write");
    let music: Vec<i16> = (0..16_000)
        .map(|n| (6000.0 * (2.0 * std::f64::consts::PI * 300.0 * n as f64 / 16_000.0).sin()) as i16)
        .collect();
    std::fs::write(dir.path().join("prompts/music16k.wav"), wav(16_000, &music)).expect("write");

    let a = Endpoint::new().await;
    let b = Arc::new(Endpoint::new().await);
    let s = session(&c, vec![ServiceType::Route, ServiceType::Play]).await;
    let la = c
        .add_leg(s.id, &leg(Some(a.addr()), vec![pcmu()], Some(101)))
        .await
        .expect("leg a");
    let lb = c
        .add_leg(s.id, &leg(Some(b.addr()), vec![pcmu()], None))
        .await
        .expect("leg b");
    c.create_route(s.id, &CreateRoute { a: la.id, b: lb.id })
        .await
        .expect("route");
    let mut events = c.events().await.expect("event stream");

    // B records what arrives: RTP and RTCP, with arrival times.
    let rtp_log: Log = Arc::default();
    let rtcp_log: Log = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (bb, log, d) = (b.clone(), rtp_log.clone(), done.clone());
    let rx_rtp = tokio::spawn(async move {
        while !d.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(p) = bb.recv(Duration::from_millis(50)).await {
                log.lock().expect("lock").push(p);
            }
        }
    });
    let (bb, log, d) = (b.clone(), rtcp_log.clone(), done.clone());
    let rx_rtcp = tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        while !d.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_millis(50), bb.rtcp.recv_from(&mut buf)).await
            {
                log.lock()
                    .expect("lock")
                    .push((buf[..n].to_vec(), Instant::now()));
            }
        }
    });
    // A: a phone sending 20 ms PCMU; it restarts with a new SSRC and sequence half-way.
    let a_port = la.rtp_port;
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for k in 0u32..250 {
            tick.tick().await;
            let (ssrc, seq, byte) = if k < 120 {
                (0xA1, 60_000u16.wrapping_add(k as u16), 0x2A)
            } else {
                (0xA2, 7 + k as u16, 0x2B)
            };
            a.send(
                a_port,
                &packet(0, seq, 1000 + 160 * k, ssrc, false, &[byte; 160]),
            )
            .await;
        }
        a
    });

    let play = |source: PlaySource, looped: bool| Play {
        source,
        looped,
        mode: PlayMode::Replace,
    };
    let finished = |id: PlaybackId| move |e: &Event| matches!(e, Event::PlaybackFinished { playback_id, .. } if *playback_id == id);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let p = c
        .play(
            s.id,
            lb.id,
            &play(
                PlaySource::File {
                    path: "prompt.wav".into(),
                },
                false,
            ),
        )
        .await
        .expect("prompt");
    assert_eq!(p.duration_ms, Some(400));
    wait_event(&mut events, Duration::from_secs(3), finished(p.id)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.play(
        s.id,
        lb.id,
        &play(
            PlaySource::File {
                path: "music16k.wav".into(),
            },
            true,
        ),
    )
    .await
    .expect("music");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let p = c
        .play(
            s.id,
            lb.id,
            &play(
                PlaySource::Silence {
                    duration_ms: Some(400),
                },
                false,
            ),
        )
        .await
        .expect("silence");
    wait_event(&mut events, Duration::from_secs(3), finished(p.id)).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let p = c
        .play(
            s.id,
            lb.id,
            &play(
                PlaySource::Tone {
                    tone: Tone::Beep,
                    duration_ms: None,
                },
                false,
            ),
        )
        .await
        .expect("beep");
    wait_event(&mut events, Duration::from_secs(3), finished(p.id)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let p = c
        .play(
            s.id,
            lb.id,
            &play(
                PlaySource::Tone {
                    tone: Tone::Ringback,
                    duration_ms: Some(500),
                },
                false,
            ),
        )
        .await
        .expect("ringback");
    wait_event(&mut events, Duration::from_secs(3), finished(p.id)).await;
    let _a = sender.await.expect("sender");
    tokio::time::sleep(Duration::from_millis(100)).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    rx_rtp.await.expect("rx");
    rx_rtcp.await.expect("rx");

    let rtp: Vec<(Vec<u8>, Instant)> = rtp_log.lock().expect("lock").clone();
    assert!(rtp.len() > 200, "only {} packets arrived", rtp.len());
    let prompt_byte = ulaw_level(prompt_level);
    let hs: Vec<_> = rtp.iter().map(|(p, _)| header(p)).collect();
    let classes: Vec<Class> = rtp
        .iter()
        .zip(&hs)
        .map(|((p, _), h)| classify(&p[h.payload_range()], prompt_byte))
        .collect();
    let ssrc = hs[0].ssrc;
    let mut switches = 0;
    for i in 0..rtp.len() {
        assert_eq!(hs[i].ssrc, ssrc, "SSRC changed at packet {i}");
        let switched = i == 0 || classes[i] != classes[i - 1];
        assert_eq!(
            hs[i].marker,
            switched,
            "marker at packet {i} ({:?} after {:?})",
            classes[i],
            classes.get(i.wrapping_sub(1))
        );
        if i == 0 {
            continue;
        }
        switches += usize::from(switched);
        assert_eq!(
            hs[i].sequence,
            hs[i - 1].sequence.wrapping_add(1),
            "sequence gap at packet {i}"
        );
        let ts_ms = f64::from(hs[i].timestamp.wrapping_sub(hs[i - 1].timestamp)) / 8.0;
        let arrival_ms = rtp[i].1.duration_since(rtp[i - 1].1).as_secs_f64() * 1000.0;
        assert!(
            (ts_ms - arrival_ms).abs() <= 20.0,
            "packet {i} ({:?}): timestamp step {ts_ms} ms vs arrival step {arrival_ms:.1} ms",
            classes[i]
        );
    }
    let seen: Vec<Class> = classes
        .iter()
        .enumerate()
        .filter(|(i, c)| *i == 0 || classes[i - 1] != **c)
        .map(|(_, c)| *c)
        .collect();
    assert!(switches >= 8, "switches: {seen:?}");
    for needed in [
        Class::Prompt,
        Class::Silence,
        Class::Tone,
        Class::Route(0x2A),
        Class::Route(0x2B),
    ] {
        assert!(seen.contains(&needed), "never heard {needed:?}: {seen:?}");
    }

    // RTCP sender reports describe the rewritten stream as received.
    let rtcp: Vec<(Vec<u8>, Instant)> = rtcp_log.lock().expect("lock").clone();
    let mut checked = 0;
    for (bytes, at) in &rtcp {
        let mut compound = rtcp_types::Compound::parse(bytes).expect("valid RTCP");
        let Some(Ok(rtcp_types::Packet::Sr(sr))) = compound.next() else {
            continue;
        };
        assert_eq!(sr.ssrc(), ssrc);
        let before: Vec<usize> = (0..rtp.len()).filter(|&i| rtp[i].1 <= *at).collect();
        let Some(&last) = before.last() else { continue };
        let count = before.len() as i64;
        assert!(
            (i64::from(sr.packet_count()) - count).abs() <= 2,
            "SR says {} packets, {count} arrived",
            sr.packet_count()
        );
        assert_eq!(
            i64::from(sr.octet_count()),
            160 * i64::from(sr.packet_count())
        );
        let expect = hs[last]
            .timestamp
            .wrapping_add((at.duration_since(rtp[last].1).as_secs_f64() * 8000.0) as u32);
        let diff = sr.rtp_timestamp().wrapping_sub(expect) as i32;
        assert!(diff.abs() <= 160, "SR RTP timestamp off by {diff} units");
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} sender reports arrived");
    h.shutdown().await;
}
