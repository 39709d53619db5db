//! The real `switchboard media` binary, driven over HTTP on loopback: the control interface,
//! a relayed call whose received stream passes the RTP continuity check across a prompt
//! switch, settings from SWITCHBOARD_* variables, and a recording that survives SIGKILL.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::http;
use testkit::pcap::UdpPacket;
use testkit::process::{Process, free_tcp_addr, rtp_port_range};
use testkit::rtpcheck::{Options, analyze};

fn start(data_dir: &Path, env: &[(&str, &str)]) -> (Process, SocketAddr) {
    let addr = free_tcp_addr();
    let (first, last) = rtp_port_range(40);
    let args: Vec<String> = [
        "media",
        "--http-listen",
        &addr.to_string(),
        "--rtp-ip",
        "127.0.0.1",
        "--rtp-ports",
        &format!("{first}-{last}"),
        "--data-dir",
        &data_dir.display().to_string(),
        "--media-threads",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut p = Process::spawn(
        "switchboard-media",
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        &args,
        env,
    );
    p.wait_http(addr, "/v1/status", Duration::from_secs(20));
    (p, addr)
}

fn json_of(r: &http::Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

fn post(addr: SocketAddr, path: &str, body: Value) -> Value {
    let r = http::post(addr, path, &body.to_string()).expect("answer");
    assert!(
        (200..300).contains(&r.status),
        "POST {path}: {} {}",
        r.status,
        r.text()
    );
    json_of(&r)
}

fn rtp(seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xAB, 0xCD];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn leg(remote: SocketAddr) -> Value {
    json!({"remote_rtp": remote.to_string(), "codecs": [{"name": "PCMU", "payload_type": 0, "clock_rate": 8000}], "telephone_event_pt": 101})
}

#[test]
fn media_binary_relays_a_call_with_a_continuous_stream_and_answers_errors_in_json() {
    let data = tempfile::tempdir().expect("temp dir");
    let (mut p, addr) = start(data.path(), &[("SWITCHBOARD_CAPACITY_KBPS", "1234")]);
    let status = json_of(&http::get(addr, "/v1/status").expect("status"));
    assert_eq!(
        status["capacity_kbps"], 1234,
        "settable by environment: {status}"
    );
    assert_eq!(status["sessions"], 0);
    assert!(status["ports_total"].as_u64().expect("ports") >= 19);

    let r = http::post(addr, "/v1/sessions", "{\"services\": 5}").expect("answer");
    assert_eq!(r.status, 422);
    assert!(
        json_of(&r)["message"]
            .as_str()
            .expect("message")
            .contains("services")
    );
    let r = http::delete(addr, "/v1/sessions/777").expect("answer");
    assert_eq!(
        (r.status, json_of(&r)["error"].as_str()),
        (404, Some("unknown_session"))
    );
    let doc = json_of(&http::get(addr, "/v1/openapi.json").expect("openapi"));
    assert!(doc["paths"]["/v1/sessions/{session_id}/routes"].is_object());

    let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
    b.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let s = post(
        addr,
        "/v1/sessions",
        json!({"services": ["route", "play"], "reserved_kbps": 180}),
    );
    let sid = s["id"].as_u64().expect("id");
    let la = post(
        addr,
        &format!("/v1/sessions/{sid}/legs"),
        leg(a.local_addr().expect("addr")),
    );
    let lb = post(
        addr,
        &format!("/v1/sessions/{sid}/legs"),
        leg(b.local_addr().expect("addr")),
    );
    post(
        addr,
        &format!("/v1/sessions/{sid}/routes"),
        json!({"a": la["id"], "b": lb["id"]}),
    );
    let a_port = la["rtp_port"].as_u64().expect("port") as u16;
    let b_id = lb["id"].as_u64().expect("id");

    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(2600) {
            if let Ok((n, src)) = b.recv_from(&mut buf) {
                let time = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_secs_f64();
                got.push(UdpPacket {
                    time,
                    src,
                    dst: b.local_addr().expect("addr"),
                    payload: buf[..n].to_vec(),
                });
            }
        }
        got
    });
    let t0 = Instant::now();
    for k in 0..120u32 {
        if k == 40 {
            post(
                addr,
                &format!("/v1/sessions/{sid}/legs/{b_id}/play"),
                json!({"source": {"type": "tone", "tone": "beep"}}),
            );
        }
        let due = t0 + Duration::from_millis(20 * u64::from(k));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        a.send_to(
            &rtp(1000 + k as u16, 160 * k, &[0x55; 160]),
            ("127.0.0.1", a_port),
        )
        .expect("send");
    }
    let got = receiver.join().expect("receiver");
    assert!(got.len() > 100, "only {} packets relayed", got.len());
    let report = analyze(&got, &Options::default());
    assert_eq!(report.flows.len(), 1, "{report:?}");
    assert_eq!(report.flows[0].ssrc_changes, 0);
    let stream = &report.streams[0];
    assert!(stream.is_continuous(), "{stream:?}");
    assert!(
        stream.markers.len() >= 3,
        "route → beep → route: {:?}",
        stream.markers
    );

    let status = json_of(&http::get(addr, "/v1/status").expect("status"));
    assert_eq!(
        (
            status["sessions"].as_u64(),
            status["legs"].as_u64(),
            status["reserved_kbps"].as_u64()
        ),
        (Some(1), Some(2), Some(180))
    );
    let r = http::delete(addr, &format!("/v1/sessions/{sid}")).expect("delete");
    assert_eq!(r.status, 204);
    let status = json_of(&http::get(addr, "/v1/status").expect("status"));
    assert_eq!(status["ports_free"], status["ports_total"]);
    assert!(p.terminate(Duration::from_secs(5)), "exits on SIGTERM");
}

fn wav_sizes(path: &Path) -> (u64, u32, u32) {
    let bytes = std::fs::read(path).expect("recording file");
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let riff = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let data = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]);
    (bytes.len() as u64, riff, data)
}

#[test]
fn recording_stays_readable_after_a_crash_and_is_repaired_on_restart() {
    let data = tempfile::tempdir().expect("temp dir");
    let (mut p, addr) = start(data.path(), &[]);
    let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let s = post(addr, "/v1/sessions", json!({"services": ["record"]}));
    let sid = s["id"].as_u64().expect("id");
    let la = post(
        addr,
        &format!("/v1/sessions/{sid}/legs"),
        leg(a.local_addr().expect("addr")),
    );
    let rec = post(
        addr,
        &format!("/v1/sessions/{sid}/recordings"),
        json!({"source": {"type": "leg", "leg": la["id"]}, "path": "crash.wav"}),
    );
    let path = std::path::PathBuf::from(rec["path"].as_str().expect("path"));
    let a_port = la["rtp_port"].as_u64().expect("port") as u16;
    let t0 = Instant::now();
    for k in 0..125u32 {
        let due = t0 + Duration::from_millis(20 * u64::from(k));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        a.send_to(&rtp(k as u16, 160 * k, &[0x20; 160]), ("127.0.0.1", a_port))
            .expect("send");
    }
    p.kill_hard();
    // Readable as it was left: the header was brought up to date while recording.
    let (len, riff, data_len) = wav_sizes(&path);
    assert!(
        data_len >= 8000 * 2,
        "header states {data_len} bytes after 2.5 s of recording"
    );
    assert!(u64::from(data_len) + 44 <= len);
    assert_eq!(riff, data_len + 36);
    // A restart repairs the header to cover everything written.
    let (mut p2, _addr) = start(data.path(), &[]);
    let (len, riff, data_len) = wav_sizes(&path);
    assert_eq!(u64::from(data_len) + 44, len - (len - 44) % 2);
    assert_eq!(riff, data_len + 36);
    p2.terminate(Duration::from_secs(5));
}
