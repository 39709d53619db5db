//! Shared by the end-to-end tests (`sip_*.rs`, `flow_*.rs`): start the real
//! `switchboard run` with a test configuration on free loopback ports, read
//! its HTTP API, and build the RTP that sipp plays.

#![allow(dead_code)] // each test file uses its own share of these helpers

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::http;
use testkit::pcap::UdpPacket;
use testkit::process::{Process, free_sip_port, free_tcp_addr, rtp_port_range};

/// The repository's bundled demo (flows and prompts).
pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo")
}

/// What a test run of the binary is given.
pub struct Setup {
    /// Extra flows: (file name without `.yaml`, YAML).
    pub flows: Vec<(String, String)>,
    /// Extra TOML appended to the configuration (e.g. `[[routes]]`).
    pub extra: String,
    /// `sip.max_calls`.
    pub max_calls: usize,
    /// `http.admin_token` (default [`ADMIN_TOKEN`]).
    pub admin_token: Option<String>,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            flows: Vec::new(),
            extra: String::new(),
            max_calls: 100,
            admin_token: None,
        }
    }
}

/// The admin token of a test site that does not choose its own.
pub const ADMIN_TOKEN: &str = "e2e-admin-token";

/// A running `switchboard run`.
pub struct Switchboard {
    pub process: Process,
    pub sip_port: u16,
    pub http: SocketAddr,
    pub data: PathBuf,
    /// The admin token, sent with every [`Switchboard::get`].
    pub admin_token: String,
    args: Vec<String>,
    _dir: tempfile::TempDir,
}

fn spawn(args: &[String], http: SocketAddr) -> Process {
    let mut process = Process::spawn(
        "switchboard",
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        args,
        &[("RUST_LOG", "info,controller=debug")],
    );
    process.wait_http(http, "/api/v1/health", Duration::from_secs(30));
    process
}

impl Switchboard {
    /// Starts the binary with the demo flow (route `1000`, business hours
    /// forced open), the demo's queues and agents, and `setup`'s additions.
    pub fn start(setup: Setup) -> Switchboard {
        let dir = tempfile::tempdir().expect("temp dir");
        let flows = dir.path().join("flows");
        std::fs::create_dir_all(&flows).expect("flows dir");
        std::fs::copy(demo_dir().join("flows/demo.yaml"), flows.join("demo.yaml"))
            .expect("copy the demo flow");
        for (name, yaml) in &setup.flows {
            std::fs::write(flows.join(format!("{name}.yaml")), yaml).expect("write flow");
        }
        let sip_port = free_sip_port();
        let http = free_tcp_addr();
        let (first, last) = rtp_port_range(200);
        let admin_token = setup
            .admin_token
            .clone()
            .unwrap_or_else(|| ADMIN_TOKEN.to_string());
        let prompts = demo_dir()
            .join("prompts")
            .canonicalize()
            .expect("demo prompts");
        let config = format!(
            r#"
flows = "flows"
prompts = "{prompts}"

[sip]
listen = ["udp:127.0.0.1:{sip_port}", "tcp:127.0.0.1:{sip_port}"]
domain = "switchboard.test"
max_calls = {max_calls}
retry_after = 7

[http]
listen = "{http}"
admin_token = "{admin_token}"

[media]
embedded = 1
rtp_ports = "{first}-{last}"

[[queues]]
id = "sales"
max_wait = "5m"

[[queues]]
id = "support"

[[agents]]
id = "1001"
password = "alice-1001"
queues = ["sales"]

[[routes]]
number = "1000"
flow = "demo"
vars = {{ hours_override = "open" }}
{extra}
"#,
            prompts = prompts.display(),
            max_calls = setup.max_calls,
            extra = setup.extra,
        );
        let path = dir.path().join("switchboard.toml");
        std::fs::write(&path, config).expect("write config");
        let data = dir.path().join("data");
        let args: Vec<String> = [
            "run",
            "--config",
            &path.display().to_string(),
            "--data-dir",
            &data.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Switchboard {
            process: spawn(&args, http),
            sip_port,
            http,
            data,
            admin_token,
            args,
            _dir: dir,
        }
    }

    /// Starts the binary again on the same configuration and data (after
    /// it stopped or was killed).
    pub fn restart(&mut self) {
        assert!(!self.process.is_running(), "stop it first");
        self.process = spawn(&self.args, self.http);
    }

    /// `127.0.0.1:<sip port>`, sipp's target.
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.sip_port)
    }

    /// `GET path` with the admin token.
    pub fn get_raw(&self, path: &str) -> http::Response {
        let auth = format!("Bearer {}", self.admin_token);
        http::request(self.http, "GET", path, &[("Authorization", &auth)], None)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `GET path` as JSON, with the admin token; panics (with the body) unless 2xx.
    pub fn get(&self, path: &str) -> Value {
        let r = self.get_raw(path);
        assert!(
            (200..300).contains(&r.status),
            "GET {path}: {} {}",
            r.status,
            r.text()
        );
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.text()))
    }

    /// A sample of `/metrics` (the first line starting with `series`).
    pub fn metric(&self, series: &str) -> Option<f64> {
        let r = http::get(self.http, "/metrics").ok()?;
        r.text()
            .lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Every call record (newest first).
    pub fn cdrs(&self) -> Vec<Value> {
        self.get("/api/v1/cdrs")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `count` call records have ended; returns them (newest first).
    pub fn ended_cdrs(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self.get("/api/v1/cdrs?status=ended");
            let list = all.as_array().cloned().unwrap_or_default();
            if list.len() >= count {
                return list;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} call records ended after {timeout:?}: {:#}",
                list.len(),
                self.get("/api/v1/cdrs")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls `cond` on `GET path` until it holds (or panics after `timeout`).
    pub fn wait_for(&self, path: &str, timeout: Duration, cond: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.get(path);
            if cond(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} never satisfied the condition: {v:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends one SIP message over UDP from a fresh socket and returns the
    /// first answer (within 3 s).
    pub fn udp_exchange(&self, message: &str) -> Option<String> {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let message = message.replace("LOCAL", &sock.local_addr().expect("addr").to_string());
        sock.send_to(message.as_bytes(), ("127.0.0.1", self.sip_port))
            .expect("send");
        let mut buf = vec![0u8; 65535];
        loop {
            let n = sock.recv(&mut buf).ok()?;
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            // Skip provisional responses.
            if !text.starts_with("SIP/2.0 1") {
                return Some(text);
            }
        }
    }
}

// ---- RTP for sipp's play_pcap_audio ------------------------------------------------------

/// RTP packets (PCMU, 20 ms, one SSRC, consecutive sequence numbers) of
/// `samples` at 8 kHz, 20 ms apart, starting at `t0` (seconds).
pub fn pcmu_packets(samples: &[i16], ssrc: u32, t0: f64) -> Vec<UdpPacket> {
    let mut out = Vec::new();
    for (i, frame) in samples.chunks(160).enumerate() {
        let mut payload = vec![0u8; frame.len()];
        rtp::g711::encode_ulaw(frame, &mut payload);
        out.push(rtp_packet(
            0,
            i as u16,
            (i * 160) as u32,
            ssrc,
            false,
            &payload,
            t0 + i as f64 * 0.02,
        ));
    }
    out
}

/// One RTP packet as a loopback UDP datagram.
pub fn rtp_packet(
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    marker: bool,
    payload: &[u8],
    time: f64,
) -> UdpPacket {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    UdpPacket {
        time,
        src: "127.0.0.1:40000".parse().expect("literal"),
        dst: "127.0.0.1:40002".parse().expect("literal"),
        payload: p,
    }
}

/// `seconds` of a sine at `hz` (amplitude ~ -12 dBFS).
pub fn tone(hz: f64, seconds: f64) -> Vec<i16> {
    let n = (seconds * 8000.0) as usize;
    (0..n)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// `seconds` of silence.
pub fn silence(seconds: f64) -> Vec<i16> {
    vec![0; (seconds * 8000.0) as usize]
}

/// A DTMF digit's dual tone, `seconds` long.
pub fn dtmf_tone(digit: char, seconds: f64) -> Vec<i16> {
    let (lo, hi) = match digit {
        '1' => (697.0, 1209.0),
        '2' => (697.0, 1336.0),
        '3' => (697.0, 1477.0),
        '4' => (770.0, 1209.0),
        '5' => (770.0, 1336.0),
        '6' => (770.0, 1477.0),
        '7' => (852.0, 1209.0),
        '8' => (852.0, 1336.0),
        '9' => (852.0, 1477.0),
        '*' => (941.0, 1209.0),
        '0' => (941.0, 1336.0),
        '#' => (941.0, 1477.0),
        other => panic!("no DTMF tone for {other:?}"),
    };
    let n = (seconds * 8000.0) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let v = 5000.0 * (2.0 * std::f64::consts::PI * lo * t).sin()
                + 5000.0 * (2.0 * std::f64::consts::PI * hi * t).sin();
            v as i16
        })
        .collect()
}

/// The pcap file bytes of `packets`, for `Sipp::file`.
pub fn pcap_bytes(packets: &[UdpPacket]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("x.pcap");
    testkit::pcap::write_udp(&path, packets).expect("write pcap");
    std::fs::read(&path).expect("read pcap")
}

/// `seconds` of a 440 Hz tone as a PCMU pcap.
pub fn tone_pcap(seconds: f64) -> Vec<u8> {
    pcap_bytes(&pcmu_packets(
        &tone(440.0, seconds),
        0x1234_5678,
        1_700_000_000.0,
    ))
}

/// A caller that answers nothing but the flow: INVITE (PCMU + telephone-event),
/// ACK, plays `caller.pcap` if present, then waits (up to 60 s) for the
/// far end's BYE and answers it.
pub const CALLER_UNTIL_BYE: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller until BYE">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+15550199@[local_ip]:[local_port]>;tag=[pid]w[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=c 1 1 IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true" />
  <recv response="200" rrs="true" />
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:+15550199@[local_ip]:[local_port]>;tag=[pid]w[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv request="BYE" timeout="60000" />
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"#;
