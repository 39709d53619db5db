//! Interoperability with a real softphone: baresip (Debian package `baresip`) as an agent's
//! phone, against the real `switchboard run` binary.
//!
//! * `baresip_agent_registers_and_answers_a_queued_customer`: baresip registers as agent
//!   `bob` with digest authentication; a customer (sipp, with RTP) calls number 100, whose
//!   flow puts the call into queue `support`; Switchboard rings baresip, which answers on
//!   its own (`answermode=auto`); the call record says `bob` answered; the caller's audio
//!   reaches baresip and baresip's audio (a constant-level WAV, so every PCMU payload is
//!   one known byte) reaches the caller, both seen on the wire (loopback capture).
//!
//! baresip 1.0 (Debian's, with libre 1.1) refuses a whole 401 when any of its challenges
//! names an algorithm it does not know ("Register: Function not implemented"), so the site
//! offers MD5 only (`sip.digest_algorithms`), as an operator with such phones would.
//!
//! The test is skipped, with a message, when `baresip` is not installed.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::capture::Capture;
use testkit::http;
use testkit::pcap::{UdpPacket, write_udp};
use testkit::process::{Process, free_sip_port, free_tcp_addr, free_udp_port, rtp_port_range};
use testkit::sipp::{Running, Sipp};

const ADMIN: &str = "baresip-interop-admin-token";
const NUMBER: &str = "100";
const AGENT: &str = "bob";
/// Every RTP payload the customer sends starts with these bytes, then a packet counter.
const MAGIC: [u8; 2] = [0x5b, 0xa7];
/// The level of every sample baresip sends (from a WAV file).
const BARESIP_LEVEL: i16 = 4000;

// ---------------------------------------------------------------------------------------
// The site
// ---------------------------------------------------------------------------------------

struct Site {
    proc: Process,
    sip: u16,
    http: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Site {
    /// Agent [`AGENT`] (password `pw-bob`) serves queue `support`; number 100 enqueues there.
    fn start() -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let sip = free_sip_port();
        let http_addr = free_tcp_addr();
        let (first, last) = rtp_port_range(400);
        let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/prompts");
        std::fs::create_dir_all(dir.path().join("flows")).expect("flows dir");
        std::fs::write(
            dir.path().join("flows/acd.yaml"),
            "name: acd\nstart: queue\nstates:\n  queue:\n    enqueue: { queue: support, music: hold-music }\n    on: { no_agents: hangup, error: hangup }\n",
        )
        .expect("flow");
        let toml = format!(
            r#"flows = "flows"
prompts = "{prompts}"
data_dir = "{data}"

[sip]
listen = ["udp:127.0.0.1:{sip}"]
domain = "switchboard.test"
advertise = "127.0.0.1"
# baresip 1.0 (libre 1.1) gives up on a 401 that also offers SHA-256.
digest_algorithms = ["MD5"]

[http]
listen = "{http_addr}"
admin_token = "{ADMIN}"

[media]
embedded = 2
rtp_ip = "127.0.0.1"
rtp_ports = "{first}-{last}"

[[queues]]
id = "support"
ring_timeout = "10s"
wrap_up = "0s"
record = false

[[routes]]
number = "{NUMBER}"
flow = "acd"

[[agents]]
id = "{AGENT}"
password = "pw-{AGENT}"
queues = ["support"]
"#,
            prompts = prompts.display(),
            data = dir.path().join("data").display(),
        );
        let config = dir.path().join("switchboard.toml");
        std::fs::write(&config, toml).expect("config");
        let args = vec![
            "run".to_string(),
            "--config".into(),
            config.display().to_string(),
        ];
        let mut proc = Process::spawn(
            "switchboard",
            Path::new(env!("CARGO_BIN_EXE_switchboard")),
            &args,
            &[("RUST_LOG", "info")],
        );
        proc.wait_http(http_addr, "/api/v1/health", Duration::from_secs(30));
        Site {
            proc,
            sip,
            http: http_addr,
            _dir: dir,
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        let body = body.map(|b| b.to_string());
        let r = http::request(self.http, method, path, &headers, body.as_deref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let value = if r.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&r.body).unwrap_or(Value::String(r.text()))
        };
        (r.status, value)
    }

    fn get(&self, path: &str) -> Value {
        let (status, v) = self.call("GET", path, Some(ADMIN), None);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    fn cdrs(&self) -> Vec<Value> {
        match self.get("/api/v1/cdrs?limit=100") {
            Value::Array(v) => v,
            other => panic!("cdrs: {other}"),
        }
    }
}

/// Polls `f` until it gives a value, or panics with `what` (and `context()`) after `timeout`.
fn wait_for<T>(
    what: &str,
    timeout: Duration,
    context: impl Fn() -> String,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `log` without terminal colour codes (ESC [ ... m).
fn without_colours(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The end of a log.
fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

// ---------------------------------------------------------------------------------------
// baresip
// ---------------------------------------------------------------------------------------

/// Whether the `baresip` program can be started.
fn baresip_installed() -> bool {
    Command::new("baresip")
        .arg("-h")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A 16-bit mono 8 kHz WAV of `secs` seconds whose every sample is `level`.
fn constant_wav(level: i16, secs: u32) -> Vec<u8> {
    let samples = 8000 * secs;
    let data_len = samples * 2;
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for _ in 0..samples {
        w.extend_from_slice(&level.to_le_bytes());
    }
    w
}

/// baresip as agent `agent`'s phone: SIP on `sip_port`, RTP in `rtp`, registering at
/// Switchboard with digest credentials and answering every call at once. No sound card:
/// the microphone is a WAV file (aufile), nothing plays what is heard.
struct Baresip {
    proc: Process,
    rtp: (u16, u16),
    _dir: tempfile::TempDir,
}

fn baresip(site: &Site, agent: &str) -> Baresip {
    let dir = tempfile::tempdir().expect("temp dir");
    let sip_port = free_sip_port();
    let rtp = rtp_port_range(20);
    let wav = dir.path().join("mic.wav");
    std::fs::write(&wav, constant_wav(BARESIP_LEVEL, 60)).expect("wav");
    let config = format!(
        "sip_listen 127.0.0.1:{sip_port}\n\
         net_interface 127.0.0.1\n\
         rtp_ports {}-{}\n\
         audio_source aufile,{}\n\
         module_path /usr/lib/baresip/modules\n\
         module g711.so\n\
         module aufile.so\n\
         module_app account.so\n",
        rtp.0,
        rtp.1,
        wav.display(),
    );
    std::fs::write(dir.path().join("config"), config).expect("baresip config");
    std::fs::write(
        dir.path().join("accounts"),
        format!(
            "<sip:{agent}@127.0.0.1:{};transport=udp>;auth_pass=pw-{agent};regint=600;answermode=auto\n",
            site.sip
        ),
    )
    .expect("baresip accounts");
    let args = vec![
        "-v".to_string(),
        "-f".into(),
        dir.path().display().to_string(),
    ];
    let proc = Process::spawn("baresip", Path::new("baresip"), &args, &[]);
    Baresip {
        proc,
        rtp,
        _dir: dir,
    }
}

// ---------------------------------------------------------------------------------------
// The customer
// ---------------------------------------------------------------------------------------

/// μ-law of a 16-bit sample (G.711).
fn ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = (s + BIAS).min(32635 + BIAS);
    let exp = (7 - ((s >> 7).leading_zeros() as i32 - 24).clamp(0, 7)) as u8;
    let mantissa = ((s >> (exp + 3)) & 0x0f) as u8;
    !(sign | (exp << 4) | mantissa)
}

/// 30 s of PCMU RTP at 20 ms: a 440 Hz tone whose every payload starts with [`MAGIC`] and
/// a counter.
fn caller_pcap() -> Vec<u8> {
    let mut packets = Vec::new();
    for i in 0..1500u32 {
        let mut rtp = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
        rtp[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        rtp[4..8].copy_from_slice(&(i * 160).to_be_bytes());
        let mut payload: Vec<u8> = (0..160)
            .map(|n| {
                let t = f64::from(i * 160 + n) / 8000.0;
                ulaw((8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16)
            })
            .collect();
        payload[..2].copy_from_slice(&MAGIC);
        payload[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        rtp.extend_from_slice(&payload);
        packets.push(UdpPacket {
            time: 1_700_000_000.0 + f64::from(i) * 0.02,
            src: "127.0.0.1:16000".parse().expect("addr"),
            dst: "127.0.0.1:20000".parse().expect("addr"),
            payload: rtp,
        });
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("caller.pcap");
    write_udp(&path, &packets).expect("write pcap");
    std::fs::read(&path).expect("read pcap")
}

/// A caller who plays `caller.pcap` for `talk_ms`, then hangs up.
fn customer_xml(talk_ms: u64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="customer">
  <send retrans="500" start_txn="invite">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "caller [call_number]" <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]uac[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller[call_number]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 53655765 2353687637 IN IP[local_ip_type] [media_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true" response_txn="invite" />
  <recv response="180" optional="true" response_txn="invite" />
  <recv response="183" optional="true" response_txn="invite" />
  <recv response="200" rtd="true" rrs="true" response_txn="invite" />
  <send ack_txn="invite">
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "caller [call_number]" <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]uac[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop>
    <action>
      <exec play_pcap_audio="caller.pcap" />
    </action>
  </nop>
  <pause milliseconds="{talk_ms}" />
  <send retrans="500" start_txn="bye">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "caller [call_number]" <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]uac[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true" response_txn="bye" />
</scenario>
"#
    )
}

fn customer(site: &Site, media: u16, talk_ms: u64) -> Running {
    Sipp::inline("customer", &customer_xml(talk_ms))
        .file("caller.pcap", &caller_pcap())
        .local(free_sip_port(), media)
        .args(["-s", NUMBER])
        .calls(1)
        .timeout(Duration::from_secs(60))
        .target(&format!("127.0.0.1:{}", site.sip))
        .spawn()
}

// ---------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------

#[test]
fn baresip_agent_registers_and_answers_a_queued_customer() {
    if !baresip_installed() {
        println!(
            "SKIPPED baresip_agent_registers_and_answers_a_queued_customer: `baresip` is not \
             installed (apt-get install baresip; .ci/run installs it)"
        );
        return;
    }
    let site = Site::start();
    let mut phone = baresip(&site, AGENT);

    // baresip registers with digest authentication: it reports the 200 and its binding, and
    // Switchboard's registrar logs the new binding for bob.
    let context = || {
        format!(
            "baresip's log:\n{}\nswitchboard's log:\n{}",
            log_tail(&phone.proc.log()),
            log_tail(&site.proc.log())
        )
    };
    wait_for(
        "baresip's registration",
        Duration::from_secs(20),
        context,
        || {
            let log = phone.proc.log();
            log.lines()
                .any(|l| l.contains("200 OK") && l.contains("binding"))
                .then_some(())
        },
    );
    let registered = without_colours(&site.proc.log())
        .lines()
        .any(|l| l.ends_with(&format!(" registered aor={AGENT}")));
    assert!(registered, "switchboard registered bob\n{}", context());

    let (status, v) = site.call(
        "POST",
        &format!("/api/v1/agents/{AGENT}/login"),
        None,
        Some(json!({"password": format!("pw-{AGENT}")})),
    );
    assert_eq!(status, 200, "login: {v}");
    assert_eq!(v["agent"]["state"], "available", "{v}");

    // One customer calls the queue's number, talks 6 s and hangs up.
    let media = free_udp_port();
    let filter = format!(
        "udp and (dst portrange {}-{} or dst port {media})",
        phone.rtp.0, phone.rtp.1
    );
    let capture = Capture::start(&filter).expect("capture on lo");
    let mut caller = customer(&site, media, 6_000);
    let out = caller.wait(Duration::from_secs(60));
    assert_eq!(
        (out.successful, out.failed),
        (1, 0),
        "customer: {}\n{}",
        out.output,
        context()
    );

    // The call record: answered by bob, in the queue, hung up by the customer.
    let record = wait_for(
        "the ended call record",
        Duration::from_secs(15),
        context,
        || site.cdrs().into_iter().find(|c| c["status"] == "ended"),
    );
    assert_eq!(record["agent"], AGENT, "{record}");
    assert_eq!(record["queue"], "support", "{record}");
    assert_eq!(record["dialed"], NUMBER, "{record}");
    assert_eq!(record["abandoned"], false, "{record}");
    assert_eq!(record["hangup_by"], "customer", "{record}");
    assert_eq!(record["codec"], "PCMU", "{record}");
    let detail = site.get(&format!(
        "/api/v1/cdrs/{}",
        record["id"].as_str().expect("id")
    ));
    let offers = detail["offers"].as_array().expect("offers");
    assert_eq!(offers.len(), 1, "{detail}");
    assert_eq!(
        (&offers[0]["agent"], &offers[0]["result"]),
        (&json!(AGENT), &json!("answered")),
        "{detail}"
    );

    // baresip answered by itself, and was told the call ended.
    wait_for(
        "baresip to see the call end",
        Duration::from_secs(10),
        context,
        || phone.proc.log().contains("terminated").then_some(()),
    );
    let log = phone.proc.log();
    assert!(log.contains("Call established"), "{}", context());

    // RTP both ways: the caller's tagged audio reached baresip, and baresip's constant
    // level (every PCMU byte the same) reached the caller.
    let packets = capture.stop().expect("capture");
    let to_baresip = packets
        .iter()
        .filter(|p| {
            (phone.rtp.0..=phone.rtp.1).contains(&p.dst.port())
                && p.payload.len() > 16
                && p.payload[12..14] == MAGIC
        })
        .count();
    let level = ulaw(BARESIP_LEVEL);
    let to_caller = packets
        .iter()
        .filter(|p| {
            p.dst.port() == media
                && p.payload.len() == 12 + 160
                && p.payload[12..].iter().all(|b| *b == level)
        })
        .count();
    println!(
        "baresip received {to_baresip} packets of the caller's audio; the caller received \
         {to_caller} packets of baresip's"
    );
    assert!(
        to_baresip > 100,
        "baresip received {to_baresip} packets of the caller's audio\n{}",
        context()
    );
    assert!(
        to_caller > 100,
        "the caller received {to_caller} packets of baresip's audio\n{}",
        context()
    );
    phone.proc.terminate(Duration::from_secs(5));
}
