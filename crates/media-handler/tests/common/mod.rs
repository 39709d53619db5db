//! Shared helpers of the handler's loopback tests: an embedded handler with its own port
//! range and data directory, RTP endpoints on real UDP sockets, and the event stream.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media_api::*;
use media_handler::pool::PortRange;
use media_handler::{Handle, HandlerConfig};
use rtp::packet::{HeaderRewrite, write_header};
use rtp::{RtpHeader, g711};
use tokio::net::UdpSocket;

/// A handler on loopback with RTP ports `first..first+199` (tests use disjoint ranges below
/// the ephemeral range) and a temporary data directory.
pub async fn handler(
    first_port: u16,
    tweak: impl FnOnce(&mut HandlerConfig),
) -> (Handle, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = HandlerConfig::local(
        PortRange {
            first: first_port,
            last: first_port + 199,
        },
        dir.path(),
    );
    cfg.media_threads = 2;
    cfg.seed = Some(u64::from(first_port));
    tweak(&mut cfg);
    let h = media_handler::spawn(cfg).await.expect("handler starts");
    (h, dir)
}

pub fn pcmu() -> Codec {
    Codec {
        name: "PCMU".into(),
        payload_type: 0,
        clock_rate: 8000,
        channels: 1,
        fmtp: None,
    }
}

pub fn pcma() -> Codec {
    Codec {
        name: "PCMA".into(),
        payload_type: 8,
        clock_rate: 8000,
        channels: 1,
        fmtp: None,
    }
}

pub fn leg(remote: Option<SocketAddr>, codecs: Vec<Codec>, te: Option<u8>) -> AddLeg {
    AddLeg {
        kind: MediaKind::Audio,
        remote_rtp: remote,
        remote_rtcp: None,
        codecs,
        telephone_event_pt: te,
        ptime_ms: None,
        direction: Direction::Sendrecv,
        rtp_timeout_ms: None,
    }
}

pub async fn session(c: &MediaClient, services: Vec<ServiceType>) -> Session {
    c.create_session(&CreateSession {
        services,
        reserved_kbps: Some(200),
        label: None,
    })
    .await
    .expect("session")
}

/// An endpoint: an RTP socket and the RTCP socket next to it.
pub struct Endpoint {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

impl Endpoint {
    pub async fn new() -> Endpoint {
        // Find a free even/odd pair.
        for _ in 0..100 {
            let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            let port = rtp.local_addr().expect("addr").port();
            if port % 2 == 1 || port == u16::MAX {
                continue;
            }
            if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)).await {
                return Endpoint { rtp, rtcp };
            }
        }
        panic!("no free port pair");
    }

    pub fn addr(&self) -> SocketAddr {
        self.rtp.local_addr().expect("addr")
    }

    pub async fn send(&self, to: u16, pkt: &[u8]) {
        self.rtp
            .send_to(pkt, ("127.0.0.1", to))
            .await
            .expect("send");
    }

    /// The next RTP packet, or `None` after `wait`.
    pub async fn recv(&self, wait: Duration) -> Option<(Vec<u8>, Instant)> {
        let mut buf = vec![0u8; 2048];
        match tokio::time::timeout(wait, self.rtp.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => {
                buf.truncate(n);
                Some((buf, Instant::now()))
            }
            _ => None,
        }
    }

    /// Drop whatever is queued.
    pub async fn flush(&self) {
        while self.recv(Duration::from_millis(1)).await.is_some() {}
    }
}

pub fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 12 + payload.len()];
    buf[12..].copy_from_slice(payload);
    write_header(
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
    buf
}

pub fn header(pkt: &[u8]) -> RtpHeader {
    RtpHeader::parse(pkt).expect("valid RTP from the handler")
}

pub fn ulaw_level(level: i16) -> u8 {
    g711::linear_to_ulaw(level)
}

/// Wait for the first event matching `pred` (other events are skipped).
pub async fn wait_event(
    events: &mut EventStream,
    wait: Duration,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.next()).await {
            Ok(Some(Ok(ev))) if pred(&ev) => return ev,
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("event stream ended: {other:?}"),
            Err(_) => panic!("no matching event within {wait:?}"),
        }
    }
}

/// A 16-bit mono WAV of `samples` at `rate`.
pub fn wav(rate: u32, samples: &[i16]) -> Vec<u8> {
    let mut w =
        media::wav::WavWriter::new(std::io::Cursor::new(Vec::new()), 1, rate).expect("in memory");
    w.write_samples(samples).expect("in memory");
    w.finish().expect("in memory").into_inner()
}

/// Send a steady 20 ms stream from `ep` to `port` until `until`, with a constant payload
/// byte; returns how many packets were sent.
pub async fn stream(
    ep: &Endpoint,
    port: u16,
    pt: u8,
    ssrc: u32,
    first_seq: u16,
    byte: u8,
    until: Instant,
) -> u16 {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut k: u16 = 0;
    while Instant::now() < until {
        tick.tick().await;
        ep.send(
            port,
            &packet(
                pt,
                first_seq.wrapping_add(k),
                160 * u32::from(k),
                ssrc,
                k == 0,
                &[byte; 160],
            ),
        )
        .await;
        k += 1;
    }
    k
}
