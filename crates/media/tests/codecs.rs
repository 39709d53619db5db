//! The codecs beyond G.711 (G.729 via libbcg729, GSM via libgsm, Opus via libopus): speech-band
//! signals survive a round trip, payloads have their standard sizes, garbage never panics,
//! and routes transcode to and from them (with Opus's 48 kHz RTP clock).

#![cfg(all(feature = "g729", feature = "gsm", feature = "opus"))]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::codec::{AudioCodec, new_audio_codec};
use media::*;
use proptest::prelude::*;
use rtp::packet::{HeaderRewrite, write_header};
use rtp::{RtpHeader, g711};

fn spec(name: &str, pt: u8, clock: u32, channels: u8) -> CodecSpec {
    CodecSpec {
        name: name.into(),
        payload_type: pt,
        clock_rate: clock,
        channels,
        fmtp: None,
    }
}

fn codec(name: &str) -> Box<dyn AudioCodec> {
    let s = match name {
        "opus" => spec("opus", 111, 48_000, 2),
        n => spec(n, 18, 8000, 1),
    };
    new_audio_codec(&s).expect("supported")
}

fn signal(n: usize) -> Vec<i16> {
    (0..n)
        .map(|k| {
            let t = k as f64 / 8000.0;
            (6000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                + 3000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16
        })
        .collect()
}

/// The best normalised correlation between `a` and `b` delayed by 0..400 samples.
fn best_correlation(a: &[i16], b: &[i16]) -> f64 {
    let (from, to) = (2000, a.len() - 2000);
    (0..400)
        .map(|lag| {
            let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
            for k in from..to {
                let (x, y) = (f64::from(a[k]), f64::from(b[k + lag]));
                ab += x * y;
                aa += x * x;
                bb += y * y;
            }
            ab / (aa.sqrt() * bb.sqrt()).max(1.0)
        })
        .fold(f64::MIN, f64::max)
}

fn round_trip(name: &str, bytes_per_packet: Option<usize>) {
    let mut c = codec(name);
    let pcm = signal(8000 * 2);
    let mut out = Vec::new();
    let mut payload = [0u8; 1500];
    let mut decoded = [0i16; 5760];
    for frame in pcm.chunks(160) {
        let n = c.encode(frame, &mut payload).expect("encodes 20 ms");
        if let Some(b) = bytes_per_packet {
            assert_eq!(n, b, "{name} payload size");
        }
        let m = c
            .decode(&payload[..n], &mut decoded)
            .expect("decodes its own output");
        assert_eq!(m, 160, "{name} decodes 20 ms");
        out.extend_from_slice(&decoded[..m]);
    }
    let corr = best_correlation(&pcm, &out);
    assert!(
        corr > 0.85,
        "{name}: correlation {corr:.3} after a round trip"
    );
}

#[test]
fn g729_round_trip_keeps_the_signal_in_20_bytes_per_packet() {
    round_trip("G729", Some(20));
}

#[test]
fn gsm_round_trip_keeps_the_signal_in_33_bytes_per_packet() {
    round_trip("GSM", Some(33));
}

#[test]
fn opus_round_trip_keeps_the_signal() {
    round_trip("opus", None);
    assert_eq!(codec("opus").clock_rate(), 48_000);
}

#[test]
fn g729_sid_frames_decode_to_comfort_noise() {
    let mut c = codec("G729");
    let mut out = [0i16; 160];
    assert_eq!(c.decode(&[0x12, 0x34], &mut out).expect("SID"), 80);
    assert!(c.decode(&[1, 2, 3], &mut out).is_err(), "not frames");
}

proptest! {
    #[test]
    fn garbage_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut out = [0i16; 5760];
        for name in ["G729", "GSM", "opus"] {
            let _ = codec(name).decode(&bytes, &mut out);
        }
    }
}

const S: SessionId = SessionId(1);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    buf[12..12 + payload.len()].copy_from_slice(payload);
    let h = HeaderRewrite {
        marker: false,
        payload_type: pt,
        sequence: seq,
        timestamp: ts,
        ssrc: 5,
    };
    let n = write_header(&mut buf, &h, payload.len()).expect("fits");
    buf.truncate(n);
    buf
}

fn relay(
    e: &mut Engine,
    now: Instant,
    slot: LegSlot,
    from: SocketAddr,
    pkt: &[u8],
) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 2048];
    buf[..pkt.len()].copy_from_slice(pkt);
    match e.handle_rtp(now, slot, from, &mut buf, pkt.len()) {
        Forward::Send { len, .. } => Some(buf[..len].to_vec()),
        Forward::Drop => None,
    }
}

#[test]
fn route_transcodes_pcmu_to_g729_and_back() {
    let t0 = Instant::now();
    let mut e = Engine::new(1, EngineConfig::default());
    let a = e
        .add_leg(
            t0,
            LegId(1),
            S,
            LegConfig::audio(Some(addr(4000)), vec![CodecSpec::new("PCMU", 0, 8000)]),
        )
        .expect("a");
    let b = e
        .add_leg(
            t0,
            LegId(2),
            S,
            LegConfig::audio(Some(addr(5000)), vec![spec("G729", 18, 8000, 1)]),
        )
        .expect("b");
    e.route(t0, RouteId(1), S, LegId(1), LegId(2))
        .expect("route");
    let pcm = signal(160);
    let mut ulaw = [0u8; 160];
    g711::encode_ulaw(&pcm, &mut ulaw);
    let out = relay(&mut e, t0, a, addr(4000), &packet(0, 1, 0, &ulaw)).expect("relayed");
    let h = RtpHeader::parse(&out).expect("valid");
    assert_eq!((h.payload_type, h.payload_len), (18, 20));
    let back = relay(&mut e, t0, b, addr(5000), &out).expect("relayed back");
    let h = RtpHeader::parse(&back).expect("valid");
    assert_eq!((h.payload_type, h.payload_len), (0, 160));
}

#[test]
fn route_to_opus_moves_timestamps_to_48_khz() {
    let t0 = Instant::now();
    let mut e = Engine::new(2, EngineConfig::default());
    let a = e
        .add_leg(
            t0,
            LegId(1),
            S,
            LegConfig::audio(Some(addr(4000)), vec![CodecSpec::new("PCMA", 8, 8000)]),
        )
        .expect("a");
    e.add_leg(
        t0,
        LegId(2),
        S,
        LegConfig::audio(Some(addr(5000)), vec![spec("opus", 111, 48_000, 2)]),
    )
    .expect("b");
    e.route(t0, RouteId(1), S, LegId(1), LegId(2))
        .expect("route");
    let mut alaw = [0u8; 160];
    g711::encode_alaw(&signal(160), &mut alaw);
    let mut ts = Vec::new();
    for k in 0..3u32 {
        let now = t0 + Duration::from_millis(20 * u64::from(k));
        let out = relay(
            &mut e,
            now,
            a,
            addr(4000),
            &packet(8, k as u16, 1000 + 160 * k, &alaw),
        )
        .expect("relayed");
        let h = RtpHeader::parse(&out).expect("valid");
        assert_eq!(h.payload_type, 111);
        ts.push(h.timestamp);
    }
    assert_eq!(ts[1].wrapping_sub(ts[0]), 960);
    assert_eq!(ts[2].wrapping_sub(ts[1]), 960);
}

#[test]
fn ptime_that_does_not_fit_the_codec_is_refused() {
    let t0 = Instant::now();
    let mut e = Engine::new(3, EngineConfig::default());
    let mut cfg = LegConfig::audio(None, vec![spec("GSM", 3, 8000, 1)]);
    cfg.ptime_ms = 30;
    let err = e
        .add_leg(t0, LegId(1), S, cfg)
        .expect_err("GSM frames are 20 ms");
    assert!(matches!(err, MediaError::BadRequest(m) if m.contains("GSM")));
}
