//! End to end: the bandwidth manager on the real binaries (issue 4, item 7).
//!
//! `switchboard controller` (no embedded media handler) and three `switchboard
//! media` processes with capacities 1:2:4 that register themselves, driven by
//! sipp callers whose flow plays a prompt in a loop:
//!
//! 1. placement follows capacity (sessions and reserved kbit/s from
//!    `GET /api/v1/media-handlers`);
//! 2. `kill -9` of the largest handler: it is `down` within 3 s and new calls
//!    go only to the other two, until G.711 fits nowhere (a PCMU-only offer is
//!    then refused with `503` + `Retry-After`);
//! 3. an offer that also lists G.729 and GSM is answered with G.729 (the
//!    cheapest): the 200's SDP says payload 18, the caller receives payload 18,
//!    and what it receives decodes to the spoken prompt (real energy); the
//!    contact's live view and its call record show the degradation;
//! 4. G.729 calls fill what is left, then the same offer gets `503` +
//!    `Retry-After`;
//! 5. the killed handler's calls are hung up once it has been silent for 10 s.
//!
//! Video (item 6): an audio+video offer keeps `m=video` on a port of its own
//! when there is room and gets port 0 under pressure (the first thing dropped);
//! video RTP is relayed untouched between the caller and a transfer target
//! that negotiated it, and not at all when the target answers audio only.
//!
//! How many calls fit is planned from the bandwidth crate's own estimate of the
//! offers (checked against the reservations the API reports), so every step is
//! exact rather than "about".

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{demo_dir, pcap_bytes, pcmu_packets, rtp_packet, tone};
use testkit::capture::Capture;
use testkit::http;
use testkit::pcap::UdpPacket;
use testkit::process::{Process, free_sip_port, free_tcp_addr, free_udp_port, rtp_port_range};
use testkit::sipp::Sipp;

/// The controller's admin token (call records and live contacts need it).
const ADMIN: &str = "bandwidth-e2e-admin-token";
/// What the handlers register with: `http.media_handler_token`, good for nothing else.
const HANDLERS: &str = "bandwidth-e2e-handlers-token";
/// Capacities of the three handlers, kbit/s (1:2:4).
const CAPACITIES: [u64; 3] = [440, 880, 1760];
/// `bandwidth.priority_reserve_percent` (the default): normal calls use 90%.
const PRIORITY_RESERVE: u64 = 10;
/// Calls placed before the kill.
const FIRST_CALLS: usize = 7;
/// How long the background callers stay (the test ends them sooner).
const HOLD_MS: u32 = 120_000;

/// The flow: answer with the welcome prompt, again and again.
const HOLD_FLOW: &str = "start: talk\nstates:\n  talk:\n    play: welcome\n    next: talk\n";

/// The offers the sipp scenarios make (`uac_call.xml`, `uac_cheap.xml`), for the estimates.
const PCMU_OFFER: &str = "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 16000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";
const CHEAP_OFFER: &str = "v=0\r\no=cheap 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 16000 RTP/AVP 0 18 3 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\na=rtpmap:3 GSM/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";

/// What a contact answered with `codec` reserves (bit/s), as the bandwidth manager estimates it.
fn need_bps(offer: &str, codec: sdp::Codec) -> u64 {
    let offer = sdp::SessionDescription::parse(offer.as_bytes()).expect("offer parses");
    let caps = sdp::Capabilities::audio(&[codec]);
    let n = sdp::negotiate(&offer, &caps).expect("negotiates");
    bandwidth::estimate_negotiation(&offer, &n, bandwidth::Services::IVR)
        .total
        .peak_bps()
}

struct Handler {
    process: Process,
    id: String,
    capacity_kbps: u64,
    /// Its `--control-token`.
    token: String,
}

impl Handler {
    /// What a normal contact may use of it, bit/s.
    fn usable_bps(&self) -> u64 {
        self.capacity_kbps * 1000 / 100 * (100 - PRIORITY_RESERVE)
    }
}

struct Rig {
    controller: Process,
    http: SocketAddr,
    sip_port: u16,
    handlers: Vec<Handler>,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// The controller with route `1000` to `flow` (YAML without `name:`), and
    /// self-registering handlers of `capacities`.
    fn start(capacities: &[u64], flow: &str) -> Rig {
        let dir = tempfile::tempdir().expect("temp dir");
        let flows = dir.path().join("flows");
        std::fs::create_dir_all(&flows).expect("flows dir");
        std::fs::write(flows.join("test.yaml"), flow).expect("write flow");
        let prompts = demo_dir()
            .join("prompts")
            .canonicalize()
            .expect("demo prompts");
        let sip_port = free_sip_port();
        let http = free_tcp_addr();
        let config = format!(
            r#"
flows = "flows"
prompts = "{prompts}"

[sip]
listen = ["udp:127.0.0.1:{sip_port}"]
domain = "switchboard.test"
max_calls = 100
retry_after = 9

[http]
listen = "{http}"
admin_token = "{ADMIN}"
media_handler_token = "{HANDLERS}"

[bandwidth]
priority_reserve_percent = {PRIORITY_RESERVE}

[[routes]]
number = "1000"
flow = "test"
"#,
            prompts = prompts.display(),
        );
        let path = dir.path().join("switchboard.toml");
        std::fs::write(&path, config).expect("write config");
        let data = dir.path().join("data");
        let args: Vec<String> = [
            "controller",
            "--config",
            &path.display().to_string(),
            "--data-dir",
            &data.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut controller = Process::spawn(
            "switchboard-controller",
            Path::new(env!("CARGO_BIN_EXE_switchboard")),
            &args,
            &[("RUST_LOG", "info,controller=debug")],
        );
        controller.wait_http(http, "/api/v1/health", Duration::from_secs(30));

        let handlers = capacities
            .iter()
            .enumerate()
            .map(|(i, &capacity_kbps)| {
                let addr = free_tcp_addr();
                let (first, last) = rtp_port_range(60);
                let hdata = dir.path().join(format!("media-{i}"));
                let args: Vec<String> = [
                    "media",
                    "--http-listen",
                    &addr.to_string(),
                    "--rtp-ip",
                    "127.0.0.1",
                    "--rtp-ports",
                    &format!("{first}-{last}"),
                    "--capacity-kbps",
                    &capacity_kbps.to_string(),
                    "--data-dir",
                    &hdata.display().to_string(),
                    "--media-threads",
                    "1",
                    "--controller",
                    &format!("http://{http}"),
                    "--controller-token",
                    HANDLERS,
                    "--control-token",
                    &control_token(i),
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                let mut process = Process::spawn(
                    &format!("switchboard-media-{capacity_kbps}"),
                    Path::new(env!("CARGO_BIN_EXE_switchboard")),
                    &args,
                    &[],
                );
                // The OpenAPI document is the one request a guarded handler answers
                // without its control token.
                process.wait_http(addr, "/v1/openapi.json", Duration::from_secs(30));
                Handler {
                    process,
                    id: addr.to_string(),
                    capacity_kbps,
                    token: control_token(i),
                }
            })
            .collect();
        Rig {
            controller,
            http,
            sip_port,
            handlers,
            _dir: dir,
        }
    }

    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.sip_port)
    }

    fn get(&self, path: &str) -> Value {
        let auth = format!("Bearer {ADMIN}");
        let r = http::request(self.http, "GET", path, &[("Authorization", &auth)], None)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(
            (200..300).contains(&r.status),
            "GET {path}: {} {}",
            r.status,
            r.text()
        );
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.text()))
    }

    /// `GET /api/v1/media-handlers` by id.
    fn media_handlers(&self) -> BTreeMap<String, Value> {
        self.get("/api/v1/media-handlers")
            .as_array()
            .expect("a list")
            .iter()
            .map(|h| (h["id"].as_str().expect("an id").to_string(), h.clone()))
            .collect()
    }

    fn sessions(&self) -> Vec<u64> {
        let all = self.media_handlers();
        self.handlers
            .iter()
            .map(|h| {
                all.get(&h.id)
                    .map_or(0, |v| v["sessions"].as_u64().unwrap_or(0))
            })
            .collect()
    }

    /// Polls `cond` on the handlers' view until it holds (panics after `timeout`).
    fn wait_handlers(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&BTreeMap<String, Value>) -> bool,
    ) -> BTreeMap<String, Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.media_handlers();
            if cond(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not after {timeout:?}: {v:#?}\ncontacts: {:#}",
                self.get("/api/v1/contacts")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The live contacts by id.
    fn contacts(&self) -> BTreeMap<String, Value> {
        self.get("/api/v1/contacts")
            .as_array()
            .expect("a list")
            .iter()
            .map(|c| (c["id"].as_str().expect("an id").to_string(), c.clone()))
            .collect()
    }

    /// Waits until `n` contacts not in `before` are live and answered; returns them.
    fn wait_new_answered(
        &self,
        before: &BTreeSet<String>,
        n: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let new: Vec<Value> = self
                .contacts()
                .into_iter()
                .filter(|(id, _)| !before.contains(id))
                .map(|(_, c)| c)
                .collect();
            let answered = new.iter().filter(|c| c["state"] == "answered").count();
            if answered >= n {
                assert_eq!(new.len(), n, "more new contacts than calls: {new:#?}");
                return new;
            }
            assert!(
                Instant::now() < deadline,
                "{answered} of {n} new contacts answered after {timeout:?}: {new:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Callers in the background: `n` calls placed 4 a second, each held `HOLD_MS`.
fn background_callers(rig: &Rig, scenario: &str, audio: &[u8], n: usize) -> testkit::sipp::Running {
    Sipp::scenario(scenario)
        .file("caller.pcap", audio)
        .file("caller_dtmf.pcap", audio)
        .local(free_sip_port(), free_udp_port())
        .args([
            "-s".to_string(),
            "1000".into(),
            "-d".into(),
            HOLD_MS.to_string(),
            "-r".into(),
            "4".into(),
            "-l".into(),
            n.to_string(),
        ])
        .calls(n as u64)
        .target(&rig.target())
        .spawn()
}

/// `seconds` of a 440 Hz tone as G.729 RTP (payload type 18), as a pcap.
fn g729_pcap(seconds: f64) -> Vec<u8> {
    let mut enc = media::codec::new_audio_codec(&media::CodecSpec::new("G729", 18, 8000))
        .expect("G.729 is built in");
    let pcm = tone(440.0, seconds);
    let packets: Vec<UdpPacket> = pcm
        .chunks_exact(160)
        .enumerate()
        .map(|(i, frame)| {
            let mut payload = [0u8; 64];
            let n = enc.encode(frame, &mut payload).expect("encode");
            rtp_packet(
                18,
                i as u16,
                (i * 160) as u32,
                0x0729_0729,
                false,
                &payload[..n],
                1_700_000_000.0 + i as f64 * 0.02,
            )
        })
        .collect();
    pcap_bytes(&packets)
}

/// Sends an INVITE with `sdp` from a fresh UDP socket and returns the final
/// response (ACKed when it is not a 2xx).
fn invite_final(rig: &Rig, tag: &str, sdp: &str) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let local = sock.local_addr().expect("addr");
    let target = rig.target();
    let head = |method: &str, to_tag: &str| {
        format!(
            "{method} sip:1000@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{tag};rport\r\n\
             From: <sip:probe@{local}>;tag=f-{tag}\r\n\
             To: <sip:1000@{target}>{to_tag}\r\n\
             Call-ID: {tag}@probe\r\n\
             CSeq: 1 {method}\r\n\
             Contact: <sip:probe@{local}>\r\n\
             Max-Forwards: 70\r\n"
        )
    };
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE", ""),
        sdp.len()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 65535];
    let mut last_send = Instant::now() - Duration::from_secs(1);
    loop {
        assert!(Instant::now() < deadline, "no final answer to INVITE {tag}");
        if last_send.elapsed() >= Duration::from_millis(500) {
            sock.send_to(invite.as_bytes(), &target).expect("send");
            last_send = Instant::now();
        }
        let Ok(n) = sock.recv(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 1") {
            // Provisional: stop retransmitting (timer A stops on a provisional).
            last_send = Instant::now() + Duration::from_secs(60);
            continue;
        }
        if !text.starts_with("SIP/2.0 2") {
            let to_tag = header(&text, "To")
                .and_then(|t| t.split_once(";tag=").map(|(_, tag)| format!(";tag={tag}")))
                .unwrap_or_default();
            let ack = format!("{}Content-Length: 0\r\n\r\n", head("ACK", &to_tag))
                .replace("CSeq: 1 ACK", "CSeq: 1 ACK");
            sock.send_to(ack.as_bytes(), &target).expect("send ACK");
        }
        return text;
    }
}

/// A header's value (first occurrence, case-insensitive name).
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn assert_refused_503(response: &str) {
    assert!(
        response.starts_with("SIP/2.0 503"),
        "expected 503, got:\n{response}"
    );
    let after: u64 = header(response, "Retry-After")
        .unwrap_or_else(|| panic!("503 without Retry-After:\n{response}"))
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad Retry-After:\n{response}"));
    assert_eq!(after, 9, "the configured sip.retry_after:\n{response}");
}

/// The degradations of the attempt that placed a contact.
fn degradations(placement: &Value) -> Vec<Value> {
    placement["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .find(|a| !a["chosen"].is_null())
        .and_then(|a| a["degradations"].as_array().cloned())
        .unwrap_or_default()
}

fn rtp_payload(p: &[u8]) -> Option<(u8, &[u8])> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(p[0] & 0x0f);
    let mut at = 12 + 4 * cc;
    if p[0] & 0x10 != 0 {
        let len = usize::from(u16::from_be_bytes([*p.get(at + 2)?, *p.get(at + 3)?]));
        at += 4 + 4 * len;
    }
    Some((p[1] & 0x7f, p.get(at..)?))
}

fn messages_log(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).expect("sipp dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with("_messages.log") {
            out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    out
}

/// The SDP body of the first `200 OK` that has one, from sipp's message trace.
fn answer_sdp(trace: &str) -> Option<String> {
    let start = trace.find("SIP/2.0 200 OK")?;
    let msg = &trace[start..];
    let body = msg
        .find("\r\n\r\n")
        .map(|i| &msg[i + 4..])
        .or_else(|| msg.find("\n\n").map(|i| &msg[i + 2..]))?;
    let end = body.find("----------").unwrap_or(body.len());
    let body = &body[..end];
    body.contains("m=audio").then(|| body.to_string())
}

#[test]
fn placement_failover_degradation_and_refusal_on_real_processes() {
    let mut rig = Rig::start(&CAPACITIES, HOLD_FLOW);
    let ids: Vec<String> = rig.handlers.iter().map(|h| h.id.clone()).collect();

    // All three registered themselves and are up with their capacities.
    rig.wait_handlers("three handlers up", Duration::from_secs(20), |v| {
        rig.handlers.iter().all(|h| {
            v.get(&h.id).is_some_and(|x| {
                x["state"] == "up"
                    && x["capacity_kbps"] == h.capacity_kbps
                    && x["origin"] == "registered"
            })
        })
    });

    // Joining needs the controller's admin token (a handler receives calls' media): a
    // well-formed registration without it, or with a wrong one, is refused and adds nothing.
    let real: SocketAddr = ids[0].parse().expect("a handler id is its address");
    let h0 = rig
        .handlers
        .iter()
        .find(|h| h.id == ids[0])
        .expect("a started handler");
    // Each handler guards its control interface with its own token, which it gave the
    // controller in its registration: without it a handler answers 401.
    let bare = http::get(real, "/v1/status").expect("an answer");
    assert_eq!(bare.status, 401, "{}", bare.text());
    let bearer = format!("Bearer {}", h0.token);
    let status = http::request(
        real,
        "GET",
        "/v1/status",
        &[("Authorization", &bearer)],
        None,
    )
    .expect("a handler's status");
    assert_eq!(status.status, 200, "{}", status.text());
    let rogue = format!(
        r#"{{"url": "http://127.0.0.1:9", "status": {}}}"#,
        status.text()
    );
    for auth in [None, Some("Bearer not-the-token")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let r = http::request(
            rig.http,
            "POST",
            "/api/v1/media-handlers/register",
            &headers,
            Some(&rogue),
        )
        .expect("POST register");
        assert_eq!(r.status, 401, "registration with {auth:?}: {}", r.text());
    }
    let listed = rig.get("/api/v1/media-handlers");
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(3),
        "only the three real handlers: {listed}"
    );
    // The handlers' token (the three registered with it) opens nothing else.
    let handlers_auth = format!("Bearer {HANDLERS}");
    for path in ["/api/v1/media-handlers", "/api/v1/cdrs", "/api/v1/contacts"] {
        let r = http::request(
            rig.http,
            "GET",
            path,
            &[("Authorization", &handlers_auth)],
            None,
        )
        .expect("GET");
        assert_eq!(
            r.status,
            403,
            "GET {path} with the handlers' token: {}",
            r.text()
        );
    }

    let pcmu = need_bps(PCMU_OFFER, sdp::Codec::Pcmu);
    let g729 = need_bps(CHEAP_OFFER, sdp::Codec::G729);
    eprintln!("estimates: PCMU {pcmu} bit/s, G.729 {g729} bit/s per IVR contact");
    assert!(
        g729 * 2 < pcmu,
        "G.729 must be much cheaper: {g729} vs {pcmu}"
    );

    // ---- (a) placement follows capacity ----------------------------------------------------
    let pcmu_audio = pcmu_pcap(f64::from(HOLD_MS) / 1000.0);
    let _first = background_callers(&rig, "uac_call", &pcmu_audio, FIRST_CALLS);
    rig.wait_new_answered(&BTreeSet::new(), FIRST_CALLS, Duration::from_secs(30));
    let view = rig.media_handlers();
    let sessions = rig.sessions();
    let total_cap: u64 = CAPACITIES.iter().sum();
    eprintln!("after {FIRST_CALLS} calls: sessions {sessions:?} on capacities {CAPACITIES:?}");
    for (h, &s) in rig.handlers.iter().zip(&sessions) {
        let fair = FIRST_CALLS as f64 * h.capacity_kbps as f64 / total_cap as f64;
        assert!(
            (s as f64 - fair).abs() <= 1.0,
            "handler {} ({} kbit/s) has {s} sessions, its share is {fair:.2}: {view:#?}",
            h.id,
            h.capacity_kbps
        );
        let reserved = view[&h.id]["reserved_kbps"].as_u64().unwrap();
        assert_eq!(
            reserved,
            (s * pcmu).div_ceil(1000),
            "reservations are the estimate per call: {view:#?}"
        );
    }
    let rel: Vec<f64> = rig
        .handlers
        .iter()
        .map(|h| view[&h.id]["reserved_kbps"].as_f64().unwrap() / h.capacity_kbps as f64)
        .collect();
    let spread =
        rel.iter().cloned().fold(f64::MIN, f64::max) - rel.iter().cloned().fold(f64::MAX, f64::min);
    let one_call_on_smallest = pcmu as f64 / 1000.0 / CAPACITIES[0] as f64;
    assert!(
        spread <= one_call_on_smallest + 1e-9,
        "relative loads {rel:?} differ by more than one call on the smallest handler"
    );
    assert_eq!(sessions.iter().sum::<u64>(), FIRST_CALLS as u64);

    // ---- (b) kill -9 the largest handler -------------------------------------------------
    let victim = 2;
    let before_kill = rig.sessions();
    let killed_at = Instant::now();
    rig.handlers[victim].process.kill_hard();
    let down = rig.wait_handlers("killed handler down", Duration::from_secs(10), |v| {
        v[&ids[victim]]["state"] == "down"
    });
    let took = killed_at.elapsed();
    eprintln!("killed handler marked down after {took:?}");
    assert!(
        took <= Duration::from_millis(3500),
        "down only after {took:?} (3 s allowed)"
    );
    for (i, id) in ids.iter().enumerate() {
        if i != victim {
            assert_eq!(down[id]["state"], "up", "{down:#?}");
        }
    }

    // New G.711 calls fill the other two exactly, and none goes to the dead one.
    let room = |sessions: &[u64], need: u64| -> Vec<u64> {
        rig.handlers
            .iter()
            .zip(sessions)
            .enumerate()
            .map(|(i, (h, &s))| {
                if i == victim {
                    0
                } else {
                    h.usable_bps().saturating_sub(s * pcmu) / need
                }
            })
            .collect()
    };
    let more = room(&before_kill, pcmu);
    let fill: u64 = more.iter().sum();
    assert!(fill >= 2, "the plan needs room for G.711 calls: {more:?}");
    let before: BTreeSet<String> = rig.contacts().into_keys().collect();
    let _second = background_callers(&rig, "uac_call", &pcmu_audio, fill as usize);
    let new = rig.wait_new_answered(&before, fill as usize, Duration::from_secs(30));
    for c in &new {
        assert_ne!(
            c["handler"],
            ids[victim].as_str(),
            "placed on the dead handler: {c:#}"
        );
        let dead = c["placement"]["attempts"][0]["candidates"]
            .as_array()
            .expect("candidates")
            .iter()
            .find(|x| x["handler"] == ids[victim].as_str())
            .cloned()
            .expect("the dead handler is a candidate");
        assert_eq!(dead["excluded"], "Down", "{c:#}");
        assert_eq!(c["codec"], "PCMU");
    }
    let after_fill = rig.sessions();
    for i in 0..3 {
        if i == victim {
            assert!(after_fill[i] <= before_kill[i], "{after_fill:?}");
        } else {
            assert_eq!(after_fill[i], before_kill[i] + more[i], "{after_fill:?}");
        }
    }
    eprintln!("after the failover fill: sessions {after_fill:?}");

    // G.711 fits nowhere now: an offer of PCMU alone is refused.
    let full = room(&after_fill, pcmu);
    assert!(full.iter().all(|&n| n == 0), "{full:?}");
    assert_refused_503(&invite_final(&rig, "pcmu-only", PCMU_OFFER));

    // ---- (c) the cheaper codec, really transcoded ----------------------------------------
    let cheap_room = room(&after_fill, g729);
    assert!(
        cheap_room.iter().sum::<u64>() >= 2,
        "the plan needs room for G.729 calls: {cheap_room:?}"
    );
    let media_port = free_udp_port();
    let cap = Capture::start(&format!("udp and dst port {media_port}")).expect("capture");
    let before: BTreeSet<String> = rig.contacts().into_keys().collect();
    let cheap = Sipp::scenario("uac_cheap")
        .file("caller.pcap", &g729_pcap(6.0))
        .local(free_sip_port(), media_port)
        .args(["-s", "1000", "-d", "4000", "-trace_msg"])
        .calls(1)
        .timeout(Duration::from_secs(40))
        .target(&rig.target());
    let trace_dir: PathBuf = cheap.dir().to_path_buf();
    let mut cheap = cheap.spawn();
    let live = rig.wait_new_answered(&before, 1, Duration::from_secs(20));
    let contact = &live[0];
    assert_eq!(contact["codec"], "G729", "{contact:#}");
    let d = degradations(&contact["placement"]);
    assert!(
        d.iter()
            .any(|x| x["type"] == "cheaper_codec" && x["from"] == "PCMU" && x["to"] == "G729"),
        "the live view shows the degradation: {contact:#}"
    );
    let out = cheap.wait(Duration::from_secs(50));
    let trace = messages_log(&trace_dir);
    assert!(
        out.code == 0 && out.successful == 1,
        "{}\n{trace}",
        out.output
    );
    let packets = cap.stop().expect("capture");
    let answer = answer_sdp(&trace).unwrap_or_else(|| panic!("no 200 with SDP in:\n{trace}"));
    let mline = answer
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .expect("m=audio")
        .trim()
        .to_string();
    let formats: Vec<&str> = mline.split_whitespace().skip(3).collect();
    assert_eq!(
        formats.first(),
        Some(&"18"),
        "answered with G.729: {answer}"
    );
    assert!(!formats.contains(&"0"), "PCMU not answered: {answer}");

    // What the caller received: G.729 only, and it decodes to speech.
    let mut dec = media::codec::new_audio_codec(&media::CodecSpec::new("G729", 18, 8000))
        .expect("G.729 is built in");
    let mut pts = BTreeMap::new();
    let mut frames_rms = Vec::new();
    for p in packets.iter().filter(|p| p.dst.port() == media_port) {
        let Some((pt, payload)) = rtp_payload(&p.payload) else {
            continue;
        };
        *pts.entry(pt).or_insert(0usize) += 1;
        if pt == 18 {
            let mut pcm = [0i16; 480];
            let n = dec.decode(payload, &mut pcm).expect("decodes");
            let sum: f64 = pcm[..n].iter().map(|&s| f64::from(s) * f64::from(s)).sum();
            frames_rms.push((sum / n.max(1) as f64).sqrt());
        }
    }
    let received = frames_rms.len();
    let voiced = frames_rms.iter().filter(|&&r| r > 300.0).count();
    let loudest = frames_rms.iter().cloned().fold(0.0, f64::max);
    eprintln!(
        "caller received {received} G.729 packets ({pts:?}); {voiced} voiced frames, loudest RMS {loudest:.0}"
    );
    assert_eq!(
        pts.keys().copied().collect::<Vec<_>>(),
        [18],
        "only G.729 toward the caller: {pts:?}"
    );
    assert!(
        received >= 150,
        "about 4 s of audio expected, got {received} packets"
    );
    assert!(
        voiced * 4 >= received && loudest > 1500.0,
        "the prompt is not heard: {voiced} of {received} frames voiced, loudest RMS {loudest:.0}"
    );

    // The call record keeps the degradation.
    let id = contact["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(15);
    let cdr = loop {
        let cdr = rig.get(&format!("/api/v1/cdrs/{id}"));
        if cdr["ended_at"].is_string() {
            break cdr;
        }
        assert!(Instant::now() < deadline, "record not closed: {cdr:#}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(cdr["codec"], "G729", "{cdr:#}");
    assert!(
        degradations(&cdr["placement"])
            .iter()
            .any(|x| x["type"] == "cheaper_codec" && x["to"] == "G729"),
        "the record shows the degradation: {cdr:#}"
    );

    // ---- (d) G.729 fills the rest, then 503 -----------------------------------------------
    rig.wait_handlers("the G.729 call released", Duration::from_secs(10), |v| {
        rig.handlers
            .iter()
            .zip(&after_fill)
            .enumerate()
            .all(|(i, (h, &s))| i == victim || v[&h.id]["sessions"] == s)
    });
    let k: u64 = cheap_room.iter().sum();
    let before: BTreeSet<String> = rig.contacts().into_keys().collect();
    let _third = background_callers(
        &rig,
        "uac_cheap",
        &g729_pcap(f64::from(HOLD_MS) / 1000.0),
        k as usize,
    );
    let new = rig.wait_new_answered(&before, k as usize, Duration::from_secs(30));
    assert!(new.iter().all(|c| c["codec"] == "G729"), "{new:#?}");
    let last = rig.sessions();
    eprintln!("after the G.729 fill: sessions {last:?}");
    for i in 0..3 {
        if i != victim {
            assert_eq!(last[i], after_fill[i] + cheap_room[i], "{last:?}");
        }
    }
    assert_refused_503(&invite_final(&rig, "cheap-refused", CHEAP_OFFER));

    // The calls the killed handler carried are not left in silence: once it has been
    // silent for 10 s (bandwidth lost_after) they are hung up and their records closed.
    let ghosts = before_kill[victim];
    assert!(ghosts > 0);
    rig.wait_handlers(
        "the dead handler's calls ended",
        Duration::from_secs(25).saturating_sub(killed_at.elapsed()),
        |v| v[&ids[victim]]["sessions"] == 0,
    );
    eprintln!(
        "the dead handler's {ghosts} calls ended {:?} after the kill",
        killed_at.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lost = rig
            .get("/api/v1/cdrs?status=ended")
            .as_array()
            .expect("a list")
            .iter()
            .filter(|c| c["end_reason"] == "media handler lost")
            .count() as u64;
        if lost == ghosts {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{lost} of {ghosts} records closed as 'media handler lost': {:#}",
            rig.get("/api/v1/cdrs")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(rig.controller.is_running());
}

fn pcmu_pcap(seconds: f64) -> Vec<u8> {
    pcap_bytes(&pcmu_packets(
        &tone(440.0, seconds),
        0x1234_5678,
        1_700_000_000.0,
    ))
}

// ---- video (issue 4, item 6) ---------------------------------------------------------------

/// The offer of `uac_video.xml` (audio + H.264 at `b=AS:256`), for the estimates.
const VIDEO_OFFER: &str = "v=0\r\no=video 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 16000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n\
m=video 16010 RTP/AVP 96\r\nb=AS:256\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\na=sendrecv\r\n";

/// What the video offer reserves for an IVR contact, with and without its video.
fn video_needs_bps() -> (u64, u64) {
    let offer = sdp::SessionDescription::parse(VIDEO_OFFER.as_bytes()).expect("offer parses");
    let mut caps = sdp::Capabilities::audio(&[sdp::Codec::Pcmu]);
    caps.video = vec![sdp::Codec::H264];
    let with = sdp::negotiate(&offer, &caps).expect("negotiates");
    assert!(
        with.accepted().any(|s| s.kind == sdp::MediaKind::Video),
        "video accepted"
    );
    caps.drop_video = true;
    let without = sdp::negotiate(&offer, &caps).expect("negotiates");
    let need = |n: &sdp::Negotiation| {
        bandwidth::estimate_negotiation(&offer, n, bandwidth::Services::IVR)
            .total
            .peak_bps()
    };
    (need(&with), need(&without))
}

/// A `uac_video.xml` caller whose video port is `vport` (owned by the test).
fn video_caller(rig: &Rig, vport: u16, hold_ms: u32) -> Sipp {
    let audio = pcmu_pcap(f64::from(hold_ms) / 1000.0 + 1.0);
    Sipp::scenario("uac_video")
        .file("caller.pcap", &audio)
        .local(free_sip_port(), free_udp_port())
        .set("vport", &vport.to_string())
        .args(["-s", "1000", "-d", &hold_ms.to_string(), "-trace_msg"])
        .calls(1)
        .timeout(Duration::from_secs(40))
        .target(&rig.target())
}

/// The port of the first `m=<kind>` line of an SDP body.
fn mline_port(sdp: &str, kind: &str) -> Option<u16> {
    let line = sdp.lines().find(|l| l.starts_with(&format!("m={kind} ")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The media handler's sessions (`GET /v1/sessions`).
fn handler_sessions(h: &Handler) -> Vec<Value> {
    let addr: SocketAddr = h.id.parse().expect("handler id is its address");
    let bearer = format!("Bearer {}", h.token);
    let r = http::request(
        addr,
        "GET",
        "/v1/sessions",
        &[("Authorization", &bearer)],
        None,
    )
    .expect("sessions");
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice::<Value>(&r.body)
        .expect("JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn video_is_answered_on_its_own_port_with_room_and_dropped_first_under_pressure() {
    let (with_video, audio_only) = video_needs_bps();
    // Room for one call with video plus one without, not for two with video.
    let capacity_kbps =
        ((with_video + audio_only) * 100 / (100 - PRIORITY_RESERVE)).div_ceil(1000) + 1;
    let rig = Rig::start(&[capacity_kbps], HOLD_FLOW);
    let usable = rig.handlers[0].usable_bps();
    assert!(
        with_video + audio_only <= usable && 2 * with_video > usable,
        "plan: {with_video} + {audio_only} within {usable}, two videos not"
    );
    eprintln!(
        "video call {with_video} bit/s, without video {audio_only} bit/s, handler {capacity_kbps} kbit/s"
    );
    rig.wait_handlers("handler up", Duration::from_secs(20), |v| {
        v.get(&rig.handlers[0].id)
            .is_some_and(|x| x["state"] == "up")
    });

    // With room: video accepted on a video leg of its own.
    let first = video_caller(&rig, free_udp_port(), 6000);
    let first_dir = first.dir().to_path_buf();
    let mut first = first.spawn();
    let live = rig.wait_new_answered(&BTreeSet::new(), 1, Duration::from_secs(20));
    assert!(
        degradations(&live[0]["placement"]).is_empty(),
        "{:#}",
        live[0]
    );
    let streams = &live[0]["placement"]["attempts"][0]["estimate"]["streams"];
    assert!(
        streams
            .as_array()
            .expect("streams")
            .iter()
            .any(|s| s["kind"] == "video"),
        "the estimate counts the video: {streams:#}"
    );
    let sessions = handler_sessions(&rig.handlers[0]);
    let video_legs: Vec<&Value> = sessions
        .iter()
        .flat_map(|s| s["legs"].as_array().into_iter().flatten())
        .filter(|l| l["kind"] == "video")
        .collect();
    assert_eq!(video_legs.len(), 1, "{sessions:#?}");
    assert_eq!(video_legs[0]["codecs"][0]["name"], "H264", "{sessions:#?}");
    let video_leg_port = video_legs[0]["rtp_port"].as_u64().expect("port");

    // Under pressure: the second call keeps its audio, its video is answered with port 0.
    let before: BTreeSet<String> = rig.contacts().into_keys().collect();
    let second = video_caller(&rig, free_udp_port(), 1500);
    let second_dir = second.dir().to_path_buf();
    let mut second = second.spawn();
    let live2 = rig.wait_new_answered(&before, 1, Duration::from_secs(20));
    let d = degradations(&live2[0]["placement"]);
    assert!(
        d.iter().any(|x| x["type"] == "dropped_video"),
        "video dropped first: {:#}",
        live2[0]
    );
    assert_eq!(
        live2[0]["codec"], "PCMU",
        "audio kept as it was: {:#}",
        live2[0]
    );
    let out = second.wait(Duration::from_secs(50));
    let trace2 = messages_log(&second_dir);
    assert!(
        out.code == 0 && out.successful == 1,
        "{}\n{trace2}",
        out.output
    );
    let answer2 = answer_sdp(&trace2).unwrap_or_else(|| panic!("no 200 with SDP:\n{trace2}"));
    assert_eq!(
        mline_port(&answer2, "video"),
        Some(0),
        "video refused: {answer2}"
    );
    assert!(
        mline_port(&answer2, "audio").is_some_and(|p| p != 0),
        "{answer2}"
    );

    let out = first.wait(Duration::from_secs(50));
    let trace1 = messages_log(&first_dir);
    assert!(
        out.code == 0 && out.successful == 1,
        "{}\n{trace1}",
        out.output
    );
    let answer1 = answer_sdp(&trace1).unwrap_or_else(|| panic!("no 200 with SDP:\n{trace1}"));
    let audio_port = mline_port(&answer1, "audio").expect("m=audio");
    let video_port = mline_port(&answer1, "video").expect("m=video");
    assert_eq!(
        u64::from(video_port),
        video_leg_port,
        "the video leg's port: {answer1}"
    );
    assert!(video_port != 0 && video_port != audio_port, "{answer1}");
    assert!(
        answer1
            .lines()
            .any(|l| l.trim() == "a=rtpmap:96 H264/90000"),
        "H.264 answered: {answer1}"
    );
}

/// RTP with payload type `pt` and a payload that names its sender and number.
fn video_rtp(pt: u8, seq: u16, who: u8) -> Vec<u8> {
    let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0x0F, who];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&[who, (seq >> 8) as u8, seq as u8]);
    p.extend(std::iter::repeat_n(0x5A, 400));
    p
}

/// The payloads (after a 12-byte header) received on `sock` until it is quiet for 1 s.
fn drain_video(sock: &UdpSocket) -> Vec<(u8, Vec<u8>)> {
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok(n) = sock.recv(&mut buf) {
        if let Some((pt, payload)) = rtp_payload(&buf[..n]) {
            got.push((pt, payload.to_vec()));
        }
    }
    got
}

#[test]
fn video_is_relayed_untouched_between_the_caller_and_a_target_that_negotiated_it() {
    let target_sip = free_sip_port();
    let flow = format!(
        "start: hello\nstates:\n  hello:\n    answer: {{}}\n    next: xfer\n  xfer:\n    transfer: {{ uri: \"sip:vphone@127.0.0.1:{target_sip}\" }}\n    on: {{ error: hangup }}\n"
    );
    let rig = Rig::start(&[20_000], &flow);
    rig.wait_handlers("handler up", Duration::from_secs(20), |v| {
        v.get(&rig.handlers[0].id)
            .is_some_and(|x| x["state"] == "up")
    });

    let caller_video = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let target_video = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let caller_vport = caller_video.local_addr().expect("addr").port();
    let target_vport = target_video.local_addr().expect("addr").port();

    let target_audio = pcmu_pcap(10.0);
    let mut target = Sipp::scenario("uas_video")
        .file("agent.pcap", &target_audio)
        .local(target_sip, free_udp_port())
        .set("vport", &target_vport.to_string())
        .calls(1)
        .timeout(Duration::from_secs(40))
        .spawn();
    let mut caller = video_caller(&rig, caller_vport, 5000).spawn();

    // Bridged: the caller's and the target's video legs are on the handler.
    let deadline = Instant::now() + Duration::from_secs(20);
    let contact = loop {
        let c = rig.contacts().into_values().next();
        if let Some(c) = c.filter(|c| c["state"] == "bridged") {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "not bridged: {:#}",
            rig.get("/api/v1/contacts")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let sessions = handler_sessions(&rig.handlers[0]);
    let legs: Vec<&Value> = sessions
        .iter()
        .flat_map(|s| s["legs"].as_array().into_iter().flatten())
        .filter(|l| l["kind"] == "video")
        .collect();
    let leg_toward = |port: u16| {
        legs.iter()
            .find(|l| l["remote_rtp"] == format!("127.0.0.1:{port}"))
            .and_then(|l| l["rtp_port"].as_u64())
            .map(|p| p as u16)
            .unwrap_or_else(|| {
                panic!("no video leg toward port {port}: {sessions:#?}\n{contact:#}")
            })
    };
    let caller_leg = leg_toward(caller_vport);
    let target_leg = leg_toward(target_vport);

    // Video both ways, each packet's payload arrives as sent.
    const N: u16 = 60;
    for seq in 0..N {
        caller_video
            .send_to(&video_rtp(96, seq, 0xCA), ("127.0.0.1", caller_leg))
            .expect("send");
        target_video
            .send_to(&video_rtp(96, seq, 0x7A), ("127.0.0.1", target_leg))
            .expect("send");
        std::thread::sleep(Duration::from_millis(10));
    }
    let at_target = drain_video(&target_video);
    let at_caller = drain_video(&caller_video);
    let sent = |who: u8| -> Vec<Vec<u8>> {
        (0..N)
            .map(|seq| video_rtp(96, seq, who)[12..].to_vec())
            .collect()
    };
    let from_caller = sent(0xCA);
    let from_target = sent(0x7A);
    let relayed_to_target = at_target
        .iter()
        .filter(|(pt, p)| *pt == 96 && from_caller.contains(p))
        .count();
    let relayed_to_caller = at_caller
        .iter()
        .filter(|(pt, p)| *pt == 96 && from_target.contains(p))
        .count();
    eprintln!(
        "video relayed: {relayed_to_target}/{N} caller→target, {relayed_to_caller}/{N} target→caller"
    );
    assert!(
        relayed_to_target >= usize::from(N) * 9 / 10,
        "{relayed_to_target} of {N} caller packets reached the target ({} received)",
        at_target.len()
    );
    assert!(
        relayed_to_caller >= usize::from(N) * 9 / 10,
        "{relayed_to_caller} of {N} target packets reached the caller ({} received)",
        at_caller.len()
    );

    let out = caller.wait(Duration::from_secs(50));
    assert!(out.code == 0 && out.successful == 1, "{}", out.output);
    let out = target.wait(Duration::from_secs(20));
    assert!(out.code == 0 && out.successful == 1, "{}", out.output);
}

#[test]
fn video_is_not_relayed_to_a_target_that_answers_audio_only() {
    let target_sip = free_sip_port();
    let flow = format!(
        "start: hello\nstates:\n  hello:\n    answer: {{}}\n    next: xfer\n  xfer:\n    transfer: {{ uri: \"sip:agent@127.0.0.1:{target_sip}\" }}\n    on: {{ error: hangup }}\n"
    );
    let rig = Rig::start(&[20_000], &flow);
    rig.wait_handlers("handler up", Duration::from_secs(20), |v| {
        v.get(&rig.handlers[0].id)
            .is_some_and(|x| x["state"] == "up")
    });
    let caller_video = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let caller_vport = caller_video.local_addr().expect("addr").port();

    // The bundled agent phone answers PCMU only: the offered video m-line gets port 0.
    let mut target = Sipp::scenario("uas_agent")
        .file("agent.pcap", &pcmu_pcap(8.0))
        .local(target_sip, free_udp_port())
        .set("play", "yes")
        .calls(1)
        .timeout(Duration::from_secs(40))
        .spawn();
    let caller = video_caller(&rig, caller_vport, 3000);
    let caller_dir = caller.dir().to_path_buf();
    let mut caller = caller.spawn();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let bridged = rig
            .contacts()
            .into_values()
            .any(|c| c["state"] == "bridged");
        if bridged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not bridged: {:#}",
            rig.get("/api/v1/contacts")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The caller keeps its video leg (its answer said so); the target has none, and
    // nothing is routed to or from the caller's video.
    let sessions = handler_sessions(&rig.handlers[0]);
    let legs: Vec<&Value> = sessions
        .iter()
        .flat_map(|s| s["legs"].as_array().into_iter().flatten())
        .collect();
    let video: Vec<&&Value> = legs.iter().filter(|l| l["kind"] == "video").collect();
    assert_eq!(video.len(), 1, "{sessions:#?}");
    assert_eq!(video[0]["remote_rtp"], format!("127.0.0.1:{caller_vport}"));
    assert_eq!(
        legs.len(),
        3,
        "caller audio + video, target audio: {sessions:#?}"
    );
    let video_leg = video[0]["id"].clone();
    let routes: Vec<&Value> = sessions
        .iter()
        .flat_map(|s| s["routes"].as_array().into_iter().flatten())
        .collect();
    assert!(
        routes
            .iter()
            .all(|r| r["a"] != video_leg && r["b"] != video_leg),
        "video routed with no one to take it: {routes:#?}"
    );
    assert_eq!(routes.len(), 1, "the audio route only: {routes:#?}");

    let out = caller.wait(Duration::from_secs(50));
    let trace = messages_log(&caller_dir);
    assert!(
        out.code == 0 && out.successful == 1,
        "{}\n{trace}",
        out.output
    );
    let answer = answer_sdp(&trace).unwrap_or_else(|| panic!("no 200 with SDP:\n{trace}"));
    assert!(
        mline_port(&answer, "video").is_some_and(|p| p != 0),
        "{answer}"
    );
    let out = target.wait(Duration::from_secs(20));
    assert!(out.code == 0 && out.successful == 1, "{}", out.output);
}

/// The control token the test gives handler `i`.
fn control_token(i: usize) -> String {
    format!("media-control-token-{i}")
}
