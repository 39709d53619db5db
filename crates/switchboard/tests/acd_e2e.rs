//! The agent manager end to end: the real `switchboard run` binary, agent phones that
//! REGISTER with digest authentication and answer (sipp), and customers who call a number
//! whose flow puts them straight into a queue (sipp with RTP).
//!
//! * `twenty_customers_three_agents_none_lost`: 20 callers arrive faster than 3 agents can
//!   serve them; every call is answered by an agent or abandoned, none is lost; the caller's
//!   audio reaches the agent and comes back (captured on loopback, one SSRC and no gap from
//!   music to agent); recordings are stereo WAVs as long as the talk; there is one call
//!   record per call; the queue's statistics agree with the call records.
//! * `no_answer_then_busy_then_answer`: the first agent's phone rings out (CANCEL, the agent
//!   goes not ready "no answer"), the second is busy (486, stays available), the third
//!   answers; the call record lists the three offers in order.
//! * `agent_desktop_holds_hangs_up_and_disposes`: the agent's REST requests reach the
//!   call: hold and resume, hang up (the caller gets BYE), a disposition in the record.
//! * `agent_records_pauses_resumes_and_stops_its_call`: the agent's desktop starts a stereo
//!   recording mid-call, pauses it, resumes it and stops it; the WAV in the call record has
//!   the caller's audio where it ran and silence (not a cut) where it was paused.
//! * `queue_recording_is_paused_not_stopped_by_the_agent`: a recording the queue requires
//!   refuses the agent's stop (403) but takes pause and resume.
//! * `agent_blind_transfer_to_the_queue_reaches_another_agent`: the agent's desktop
//!   transfers a connected caller back into the queue; its phone gets BYE, the caller stays
//!   up, hears music and is answered by the other agent; one call record lists both offers.
//!   Transfers nobody could answer are refused up front.
//! * `agent_blind_transfer_to_a_sip_uri`: the agent's desktop transfers the caller to a
//!   SIP phone outside the ACD; that phone answers and talks to the caller until the caller
//!   hangs up; the call record's path says who transferred where.
//! * `agent_conferences_a_third_party_in_and_lets_it_go`: the agent's desktop dials a SIP
//!   phone into its call; once it answers the three are mixed (the third party hears the
//!   call), the agent holds and resumes, then lets the third party go (it gets BYE); the
//!   caller's stream stays one SSRC without a gap through route → mix → route.
//! * `agent_consults_a_third_party_then_leaves_the_customer_with_it`: the agent holds the
//!   customer, dials a SIP phone (a consultation: agent and third party alone), resumes (a
//!   conference), then leaves: its phone gets BYE and it enters wrap-up while customer and
//!   third party talk on; the customer's hang-up ends the third party's leg; the caller's
//!   stream stays continuous throughout.
//! * `killed_mid_call_record_is_closed_on_restart`: `kill -9` while a customer talks to an
//!   agent; the restarted binary closes the record as interrupted, keeping its agent.
//! * `flow_transfer_to_an_agent_rings_only_that_agent`: the flow says
//!   `transfer: { agent: target }` while another agent, idle for longer, is available: only
//!   the target's phone is offered the calls; a second caller waits while the target talks to
//!   the first, then gets the target; the other agent is offered nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::capture::Capture;
use testkit::http;
use testkit::pcap::{UdpPacket, write_udp};
use testkit::process::{Process, free_sip_port, free_tcp_addr, free_udp_port, rtp_port_range};
use testkit::rtpcheck::{Options, analyze};
use testkit::sipp::{Running, Sipp};

const ADMIN: &str = "acd-e2e-admin-token";
const NUMBER: &str = "100";
/// Every RTP payload a customer sends starts with these bytes, then a packet counter.
const MAGIC: [u8; 2] = [0x5b, 0xa7];

// ---------------------------------------------------------------------------------------
// The site: configuration, binary, API
// ---------------------------------------------------------------------------------------

struct Site {
    proc: Process,
    sip: u16,
    http: SocketAddr,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

fn prompts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/prompts")
}

/// The flow's one state: enqueue at once.
const ENQUEUE: &str = "enqueue: { queue: support, music: hold-music }";

/// A configuration with `agents` (password `pw-<id>`) serving queue `support`, whose
/// settings are `queue` (TOML lines), and number 100 → a flow whose one state does `action`
/// (e.g. [`ENQUEUE`]) and hangs up on `no_agents` or `error`.
fn write_site(
    dir: &Path,
    agents: &[&str],
    queue: &str,
    action: &str,
) -> (PathBuf, u16, SocketAddr) {
    let sip = free_sip_port();
    let http_addr = free_tcp_addr();
    let (first, last) = rtp_port_range(400);
    std::fs::create_dir_all(dir.join("flows")).expect("flows dir");
    std::fs::write(
        dir.join("flows/acd.yaml"),
        format!("name: acd\nstart: queue\nstates:\n  queue:\n    {action}\n    on: {{ no_agents: hangup, error: hangup }}\n"),
    )
    .expect("flow");
    let mut toml = format!(
        r#"flows = "flows"
prompts = "{prompts}"
data_dir = "{data}"

[sip]
listen = ["udp:127.0.0.1:{sip}"]
domain = "switchboard.test"
advertise = "127.0.0.1"

[http]
listen = "{http_addr}"
admin_token = "{ADMIN}"

[media]
embedded = 2
rtp_ip = "127.0.0.1"
rtp_ports = "{first}-{last}"

[[queues]]
id = "support"
{queue}

[[routes]]
number = "{NUMBER}"
flow = "acd"
"#,
        prompts = prompts_dir().display(),
        data = dir.join("data").display(),
    );
    for a in agents {
        toml.push_str(&format!(
            "\n[[agents]]\nid = \"{a}\"\npassword = \"pw-{a}\"\nqueues = [\"support\"]\n"
        ));
    }
    let config = dir.join("switchboard.toml");
    std::fs::write(&config, toml).expect("config");
    (config, sip, http_addr)
}

fn run_binary(config: &Path, http_addr: SocketAddr) -> Process {
    let args = vec![
        "run".to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    let mut p = Process::spawn(
        "switchboard",
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        &args,
        &[("RUST_LOG", "info")],
    );
    p.wait_http(http_addr, "/api/v1/health", Duration::from_secs(30));
    p
}

impl Site {
    fn start(agents: &[&str], queue: &str) -> Site {
        Site::start_with(agents, queue, ENQUEUE)
    }

    /// A site whose flow does `action` (see [`write_site`]).
    fn start_with(agents: &[&str], queue: &str, action: &str) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let (config, sip, http_addr) = write_site(dir.path(), agents, queue, action);
        let proc = run_binary(&config, http_addr);
        Site {
            proc,
            sip,
            http: http_addr,
            config,
            _dir: dir,
        }
    }

    fn restart(&mut self) {
        self.proc.kill_hard();
        self.proc = run_binary(&self.config, self.http);
    }

    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.sip)
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

    fn login(&self, agent: &str) -> String {
        let (status, v) = self.call(
            "POST",
            &format!("/api/v1/agents/{agent}/login"),
            None,
            Some(json!({"password": format!("pw-{agent}")})),
        );
        assert_eq!(status, 200, "login {agent}: {v}");
        assert_eq!(v["agent"]["state"], "available", "{v}");
        v["token"].as_str().expect("a token").to_string()
    }

    fn agent(&self, agent: &str) -> Value {
        self.get(&format!("/api/v1/agents/{agent}/state"))
    }

    fn cdrs(&self) -> Vec<Value> {
        match self.get("/api/v1/cdrs?limit=1000") {
            Value::Array(v) => v,
            other => panic!("cdrs: {other}"),
        }
    }

    fn cdr(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/cdrs/{id}"))
    }
}

/// Polls `f` until it gives a value, or panics with `what` after `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn seconds_between(a: &Value, b: &Value) -> f64 {
    let t = |v: &Value| -> jiff::Timestamp {
        v.as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a time: {v}"))
    };
    (t(b) - t(a)).as_secs_f64()
}

// ---------------------------------------------------------------------------------------
// Phones
// ---------------------------------------------------------------------------------------

/// An agent's phone: REGISTER (digest) from `sip_port`, then `scenario` answers there.
struct Phone {
    sipp: Running,
    media: u16,
}

fn phone(site: &Site, agent: &str, scenario: &str, args: &[&str]) -> Phone {
    let sip_port = free_sip_port();
    let reg = Sipp::scenario("register")
        .local(sip_port, free_udp_port())
        .args(["-s", agent, "-au", agent, "-ap", &format!("pw-{agent}")])
        .set("expires", "600")
        .calls(1)
        .timeout(Duration::from_secs(15))
        .target(&site.target())
        .run();
    assert_eq!(reg.code, 0, "REGISTER {agent}: {}", reg.output);
    let media = free_udp_port();
    // uas_agent.xml names agent.pcap (played only with `-set play yes`); sipp wants it there.
    let sipp = Sipp::scenario(scenario)
        .file("agent.pcap", &rtp_pcap(*b"AG"))
        .local(sip_port, media)
        .args(args.iter().copied())
        .spawn();
    Phone { sipp, media }
}

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

/// The caller's audio: every payload starts with [`MAGIC`].
fn caller_pcap() -> Vec<u8> {
    rtp_pcap(MAGIC)
}

/// 30 s of PCMU RTP at 20 ms: a 440 Hz tone whose every payload starts with `tag` and a
/// counter, so the far end's captures tell this audio from anything else.
fn rtp_pcap(tag: [u8; 2]) -> Vec<u8> {
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
        payload[..2].copy_from_slice(&tag);
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

/// A caller who plays `caller.pcap` and waits up to `patience_ms` for the far end to hang
/// up; then hangs up itself. A call counts as successful either way.
fn customer_xml(patience_ms: u64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="customer with patience">
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
  <recv request="BYE" timeout="{patience_ms}" ontimeout="hangup" />
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
  <nop next="end" />
  <label id="hangup" />
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
  <label id="end" />
</scenario>
"#
    )
}

/// `calls` customers with `patience_ms`, at `rate` calls per second, from one sipp.
fn customers(site: &Site, pcap: &[u8], calls: u64, rate: u32, patience_ms: u64) -> (Running, u16) {
    let media = free_udp_port();
    let run = Sipp::inline("customer", &customer_xml(patience_ms))
        .file("caller.pcap", pcap)
        .local(free_sip_port(), media)
        .args(["-s", NUMBER, "-r", &rate.to_string(), "-l", "50"])
        .calls(calls)
        .timeout(Duration::from_secs(90))
        .target(&site.target())
        .spawn();
    (run, media)
}

/// Reads a WAV's channels, sample rate, bits and length in seconds.
fn wav_info(bytes: &[u8]) -> (u16, u32, u16, f64) {
    assert!(
        bytes.len() >= 44 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "not a WAV"
    );
    let mut at = 12;
    let (mut channels, mut rate, mut bits, mut data) = (0, 0, 0, None);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            channels = u16::from_le_bytes([body[2], body[3]]);
            rate = u32::from_le_bytes(body[4..8].try_into().expect("4 bytes"));
            bits = u16::from_le_bytes([body[14], body[15]]);
        } else if id == b"data" {
            data = Some(body.len());
        }
        at += 8 + len + len % 2;
    }
    let data = data.expect("a data chunk");
    let secs = data as f64 / (f64::from(rate) * f64::from(channels) * f64::from(bits / 8));
    (channels, rate, bits, secs)
}

/// A 16-bit WAV's channel count and interleaved samples.
fn wav_samples(bytes: &[u8]) -> (u16, Vec<i16>) {
    let (channels, _, bits, _) = wav_info(bytes);
    assert_eq!(bits, 16, "16-bit WAV");
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        if &bytes[at..at + 4] == b"data" {
            let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
            let samples = body
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return (channels, samples);
        }
        at += 8 + len + len % 2;
    }
    panic!("no data chunk");
}

/// The RMS level of the left channel of a stereo 8 kHz recording between two times.
fn left_rms(samples: &[i16], from: f64, to: f64) -> f64 {
    let frames = samples.len() / 2;
    let (a, b) = (
        ((from * 8000.0) as usize).min(frames),
        ((to * 8000.0) as usize).min(frames),
    );
    assert!(
        b > a,
        "window {from:.2}-{to:.2} s is outside a {frames}-frame recording"
    );
    let sum: f64 = (a..b).map(|i| f64::from(samples[2 * i]).powi(2)).sum();
    (sum / (b - a) as f64).sqrt()
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// The end of a log, enough to see why a call was refused.
fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

#[test]
fn twenty_customers_three_agents_none_lost() {
    let agents = ["a1", "a2", "a3"];
    let site = Site::start(
        &agents,
        "ring_timeout = \"5s\"\nwrap_up = \"0s\"\nservice_level = \"2s\"\nrecord = true",
    );
    // Each agent talks 1 s, then hangs up (echoing the caller's audio meanwhile).
    let mut phones: Vec<Phone> = agents
        .iter()
        .map(|a| phone(&site, a, "agent_hangup", &["-rtp_echo", "-d", "1000"]))
        .collect();
    for a in agents {
        let _ = site.login(a);
    }
    let pcap = caller_pcap();
    let mut ports: Vec<u16> = phones.iter().map(|p| p.media).collect();

    // 12 patient callers and 8 who give up after 1.5 s, arriving within about a second.
    let patient_media = free_udp_port();
    let impatient_media = free_udp_port();
    ports.extend([patient_media, impatient_media]);
    let filter = format!(
        "udp and ({})",
        ports
            .iter()
            .map(|p| format!("dst port {p}"))
            .collect::<Vec<_>>()
            .join(" or ")
    );
    let capture = Capture::start(&filter).expect("capture on lo");
    let started = Instant::now();
    let mut patient = Sipp::inline("customer", &customer_xml(30_000))
        .file("caller.pcap", &pcap)
        .local(free_sip_port(), patient_media)
        .args(["-s", NUMBER, "-r", "12", "-l", "50"])
        .calls(12)
        .timeout(Duration::from_secs(90))
        .target(&site.target())
        .spawn();
    let mut impatient = Sipp::inline("customer", &customer_xml(1_500))
        .file("caller.pcap", &pcap)
        .local(free_sip_port(), impatient_media)
        .args(["-s", NUMBER, "-r", "8", "-l", "50"])
        .calls(8)
        .timeout(Duration::from_secs(90))
        .target(&site.target())
        .spawn();
    let p = patient.wait(Duration::from_secs(100));
    let i = impatient.wait(Duration::from_secs(100));
    assert_eq!(
        (p.successful, p.failed),
        (12, 0),
        "patient callers: {}\nswitchboard's log (last lines):\n{}",
        p.output,
        log_tail(&site.proc.log())
    );
    assert_eq!(
        (i.successful, i.failed),
        (8, 0),
        "impatient callers: {}\nswitchboard's log (last lines):\n{}",
        i.output,
        log_tail(&site.proc.log())
    );
    let elapsed = started.elapsed();

    // Every call has one record, and every record ends.
    let records = wait_for("20 ended call records", Duration::from_secs(20), || {
        let r = site.cdrs();
        (r.len() == 20 && r.iter().all(|c| c["status"] == "ended")).then_some(r)
    });
    let packets = capture.stop().expect("capture");
    for p in &mut phones {
        p.sipp.stop();
    }

    let answered: Vec<&Value> = records.iter().filter(|c| c["agent"].is_string()).collect();
    let abandoned: Vec<&Value> = records.iter().filter(|c| c["abandoned"] == true).collect();
    println!(
        "20 calls in {:.1} s: {} answered, {} abandoned",
        elapsed.as_secs_f64(),
        answered.len(),
        abandoned.len()
    );
    // Answered by an agent or abandoned; nothing else, nothing twice.
    for c in &records {
        let is_answered = c["agent"].is_string();
        assert!(
            is_answered != (c["abandoned"] == true),
            "answered xor abandoned: {c}"
        );
        assert_eq!(c["queue"], "support", "{c}");
        assert_eq!(c["dialed"], NUMBER, "{c}");
        assert!(
            c["media_handler"].is_string() && c["codec"] == "PCMU",
            "{c}"
        );
        if is_answered {
            // The agent hangs up after 1 s, unless an impatient caller hung up first.
            assert!(
                c["hangup_by"] == "agent" || c["hangup_by"] == "customer",
                "{c}"
            );
        } else {
            assert_eq!(c["hangup_by"], "customer", "{c}");
        }
    }
    assert!(
        records.iter().filter(|c| c["hangup_by"] == "agent").count() >= 3,
        "agents' BYEs ended calls"
    );
    assert!(answered.len() >= 3, "every agent answered at least once");
    assert!(
        !abandoned.is_empty(),
        "callers arrived faster than 3 agents could serve them"
    );

    // Each answered call: its offers end with the answering agent, and it was recorded
    // in stereo for as long as the agent talked.
    for c in &answered {
        let id = c["id"].as_str().expect("id");
        let detail = site.cdr(id);
        let offers = detail["offers"].as_array().expect("offers");
        let last = offers.last().expect("an offer");
        assert_eq!(
            (&last["agent"], &last["result"]),
            (&c["agent"], &json!("answered")),
            "{detail}"
        );
        let talk = seconds_between(&c["answered_at"], &c["ended_at"]);
        let recs = detail["recordings"].as_array().expect("recordings");
        assert_eq!(recs.len(), 1, "{detail}");
        let rec = &recs[0];
        assert_eq!(
            (rec["channels"].as_u64(), rec["sample_rate"].as_u64()),
            (Some(2), Some(8000)),
            "{rec}"
        );
        let r = http::request(
            site.http,
            "GET",
            &format!("/api/v1/recordings/{}", rec["id"].as_str().expect("id")),
            &[("Authorization", &format!("Bearer {ADMIN}"))],
            None,
        )
        .expect("recording");
        assert_eq!(r.status, 200, "{}", r.text());
        let (channels, rate, bits, secs) = wav_info(&r.body);
        assert_eq!((channels, rate, bits), (2, 8000, 16));
        assert!(
            (secs - talk).abs() < 0.5 && (0.05..3.0).contains(&secs),
            "recording of {secs:.2} s for {talk:.2} s of talk: {rec}"
        );
    }
    for c in &abandoned {
        let detail = site.cdr(c["id"].as_str().expect("id"));
        for o in detail["offers"].as_array().expect("offers") {
            assert_ne!(o["result"], "answered", "{detail}");
        }
    }

    // The statistics agree with the call records.
    let stats = site.get("/api/v1/queues/support/stats");
    assert_eq!(stats["offered"], 20, "{stats}");
    assert_eq!(
        stats["answered"].as_u64(),
        Some(answered.len() as u64),
        "{stats}"
    );
    assert_eq!(
        stats["abandoned"].as_u64(),
        Some(abandoned.len() as u64),
        "{stats}"
    );
    assert_eq!(stats["waiting"], 0, "{stats}");
    assert_eq!(stats["today"]["in_queue"], 0, "{stats}");
    assert_eq!(stats["last_15_minutes"]["offered"], 20, "{stats}");
    let answered_by_agents: u64 = agents
        .iter()
        .map(|a| {
            site.agent(a)["today"]["answered"]
                .as_u64()
                .expect("answered")
        })
        .sum();
    assert_eq!(answered_by_agents, answered.len() as u64);
    let waits: Vec<f64> = answered
        .iter()
        .map(|c| seconds_between(&c["queued_at"], &c["answered_at"]))
        .collect();
    let asa = waits.iter().sum::<f64>() / waits.len() as f64;
    let stats_asa = stats["asa_seconds"].as_f64().expect("asa");
    assert!(
        (stats_asa - asa).abs() < 0.3,
        "ASA {stats_asa} vs {asa} from the records"
    );

    // The caller's audio reached the agents and came back; what each caller heard kept one
    // SSRC and no gap from the music to the agent.
    let tagged = |p: &UdpPacket| p.payload.len() > 16 && p.payload[12..14] == MAGIC;
    for ph in &phones {
        let heard = packets
            .iter()
            .filter(|p| p.dst.port() == ph.media && tagged(p))
            .count();
        assert!(
            heard > 20,
            "agent on port {} heard {heard} packets of caller audio",
            ph.media
        );
    }
    for port in [patient_media, impatient_media] {
        // The agent's audio is relayed as it comes: a stall of the echoing sipp on a busy
        // machine shows up as late packets. A timestamp not rebased at the switch from the
        // music to the agent would be off by far more than this tolerance.
        let opts = Options {
            ts_tolerance: 0.25,
            ..Options::to_port(port)
        };
        let report = analyze(&packets, &opts);
        assert!(!report.flows.is_empty(), "callers on {port} received RTP");
        for f in &report.flows {
            assert_eq!(f.ssrc_changes, 0, "one SSRC per call: {f:?}");
        }
        for s in &report.streams {
            assert!(s.is_continuous(), "continuous RTP to callers: {s:?}");
        }
    }
    let echoed = packets
        .iter()
        .filter(|p| p.dst.port() == patient_media && tagged(p))
        .count();
    assert!(
        echoed > 20,
        "patient callers heard their own audio back via the agents ({echoed})"
    );
}

#[test]
fn no_answer_then_busy_then_answer() {
    let site = Site::start(
        &["quiet", "busy", "ready"],
        "ring_timeout = \"2s\"\nwrap_up = \"0s\"\nrecord = false",
    );
    let mut quiet = phone(&site, "quiet", "agent_noanswer", &[]);
    let mut busy = phone(&site, "busy", "agent_busy", &[]);
    let mut ready = phone(&site, "ready", "uas_agent", &["-rtp_echo"]);
    // Longest idle: the first to log in is offered first.
    for a in ["quiet", "busy", "ready"] {
        let _ = site.login(a);
        std::thread::sleep(Duration::from_millis(50));
    }
    let pcap = caller_pcap();
    let (mut caller, _) = customers(&site, &pcap, 1, 1, 6_000);
    let out = caller.wait(Duration::from_secs(60));
    assert_eq!((out.successful, out.failed), (1, 0), "{}", out.output);
    let record = wait_for("the ended record", Duration::from_secs(15), || {
        site.cdrs().into_iter().find(|c| c["status"] == "ended")
    });
    let detail = site.cdr(record["id"].as_str().expect("id"));
    let offers: Vec<(String, String)> = detail["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .map(|o| {
            (
                o["agent"].as_str().unwrap_or_default().to_string(),
                o["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("quiet", "no_answer"),
        ("busy", "busy"),
        ("ready", "answered"),
    ]
    .iter()
    .map(|(a, r)| (a.to_string(), r.to_string()))
    .collect();
    assert_eq!(offers, expected, "{detail}");
    assert_eq!(record["agent"], "ready");
    assert_eq!(record["hangup_by"], "customer");
    assert_eq!(record["abandoned"], false);

    let q = site.agent("quiet");
    assert_eq!(
        (q["state"].as_str(), q["reason"].as_str()),
        (Some("not_ready"), Some("no answer")),
        "{q}"
    );
    assert_eq!(q["today"]["no_answers"], 1, "{q}");
    let b = site.agent("busy");
    assert_eq!(
        b["state"], "available",
        "busy keeps the agent available: {b}"
    );
    assert_eq!(b["today"]["rejections"], 1, "{b}");
    let r = wait_for(
        "the answering agent free again",
        Duration::from_secs(10),
        || {
            let r = site.agent("ready");
            (r["state"] == "available").then_some(r)
        },
    );
    assert_eq!(r["today"]["answered"], 1, "{r}");
    for p in [&mut quiet, &mut busy, &mut ready] {
        p.sipp.stop();
    }
}

#[test]
fn killed_mid_call_record_is_closed_on_restart() {
    let mut site = Site::start(&["solo"], "ring_timeout = \"5s\"\nrecord = true");
    let mut agent = phone(&site, "solo", "uas_agent", &["-rtp_echo"]);
    let _ = site.login("solo");
    let pcap = caller_pcap();
    let (mut caller, _) = customers(&site, &pcap, 1, 1, 60_000);
    let live = wait_for(
        "the call answered by the agent",
        Duration::from_secs(20),
        || {
            site.cdrs()
                .into_iter()
                .find(|c| c["agent"] == "solo" && c["status"] == "in_progress")
        },
    );
    assert_eq!(site.agent("solo")["state"], "on_call");
    site.restart();
    let id = live["id"].as_str().expect("id");
    let closed = site.cdr(id);
    assert_eq!(closed["status"], "ended", "{closed}");
    assert_eq!(closed["end_reason"], "interrupted", "{closed}");
    assert_eq!(closed["agent"], "solo", "{closed}");
    assert_eq!(closed["queue"], "support", "{closed}");
    let offers = closed["offers"].as_array().expect("offers");
    assert_eq!(offers.len(), 1, "{closed}");
    assert_eq!(offers[0]["result"], "answered", "{closed}");
    // The recording that was running is indexed (its file may be cut short, but readable).
    assert_eq!(
        closed["recordings"].as_array().map(Vec::len),
        Some(1),
        "{closed}"
    );
    // After the restart the agent is logged out and the site takes calls again.
    assert_eq!(site.agent("solo")["state"], "logged_out");
    caller.stop();
    agent.sipp.stop();
}

#[test]
fn agent_desktop_holds_hangs_up_and_disposes() {
    let site = Site::start(&["desk"], "ring_timeout = \"5s\"\nwrap_up = \"30s\"");
    let mut agent = phone(&site, "desk", "uas_agent", &["-rtp_echo"]);
    let token = site.login("desk");
    let pcap = caller_pcap();
    // The caller would wait 30 s; the agent's desktop ends the call first.
    let (mut caller, _) = customers(&site, &pcap, 1, 1, 30_000);
    let record = wait_for("the call answered", Duration::from_secs(20), || {
        site.cdrs().into_iter().find(|c| c["agent"] == "desk")
    });
    let id = record["id"].as_str().expect("id").to_string();
    let act = |what: &str, body: Option<Value>| {
        let (status, v) = site.call(
            "POST",
            &format!("/api/v1/agents/desk/{what}"),
            Some(&token),
            body,
        );
        assert_eq!(status, 200, "{what}: {v}");
        v
    };
    let live_state = || -> Option<String> {
        let (_, v) = site.call("GET", "/api/v1/contacts", Some(ADMIN), None);
        v.as_array()?
            .iter()
            .find(|c| c["id"] == id.as_str())
            .map(|c| c["state"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(act("hold", None)["state"], "on_hold");
    wait_for("the contact on hold", Duration::from_secs(10), || {
        (live_state()? == "on_hold").then_some(())
    });
    assert_eq!(act("unhold", None)["state"], "on_call");
    wait_for("the contact bridged again", Duration::from_secs(10), || {
        (live_state()? == "bridged").then_some(())
    });
    assert_eq!(act("hangup", None)["state"], "wrap_up");
    let out = caller.wait(Duration::from_secs(20));
    assert_eq!(
        (out.successful, out.failed),
        (1, 0),
        "the caller got BYE: {}",
        out.output
    );
    let ended = wait_for("the record ended", Duration::from_secs(10), || {
        let c = site.cdr(&id);
        (c["status"] == "ended").then_some(c)
    });
    assert_eq!(ended["hangup_by"], "agent", "{ended}");
    let v = act("wrap-up", Some(json!({"disposition": "resolved"})));
    assert_eq!(v["state"], "available", "{v}");
    let disposed = wait_for("the disposition", Duration::from_secs(10), || {
        let c = site.cdr(&id);
        (c["disposition"] == "resolved").then_some(c)
    });
    assert_eq!(disposed["agent"], "desk");
    agent.sipp.stop();
}

/// Posts an agent's recording request; answers the status and body.
fn recording_request(site: &Site, agent: &str, token: &str, action: &str) -> (u16, Value) {
    site.call(
        "POST",
        &format!("/api/v1/agents/{agent}/recording/{action}"),
        Some(token),
        None,
    )
}

#[test]
fn agent_records_pauses_resumes_and_stops_its_call() {
    let site = Site::start(
        &["rec"],
        "ring_timeout = \"5s\"\nwrap_up = \"0s\"\nrecord = false",
    );
    let mut agent = phone(&site, "rec", "uas_agent", &["-rtp_echo"]);
    let token = site.login("rec");
    let (status, v) = recording_request(&site, "rec", &token, "start");
    assert_eq!(status, 409, "no call, nothing to record: {v}");
    let pcap = caller_pcap();
    let (mut caller, _) = customers(&site, &pcap, 1, 1, 30_000);
    let record = wait_for("the call answered", Duration::from_secs(20), || {
        site.cdrs().into_iter().find(|c| c["agent"] == "rec")
    });
    let id = record["id"].as_str().expect("id").to_string();
    let (status, v) = recording_request(&site, "rec", &token, "stop");
    assert_eq!(status, 409, "nothing to stop yet: {v}");
    let (status, v) = recording_request(&site, "rec", &token, "rewind");
    assert_eq!(status, 404, "unknown action: {v}");

    let act = |action: &str, state: &str| -> (Instant, Value) {
        let (status, v) = recording_request(&site, "rec", &token, action);
        assert_eq!(status, 200, "{action}: {v}");
        assert_eq!(
            (&v["state"], &v["owner"], &v["contact"]),
            (&json!(state), &json!("agent"), &json!(id)),
            "{action}: {v}"
        );
        (Instant::now(), v)
    };
    let (started, v) = act("start", "recording");
    let rec_id = v["id"].as_str().expect("recording id").to_string();
    let (status, v) = recording_request(&site, "rec", &token, "start");
    assert_eq!(status, 409, "already recording: {v}");
    std::thread::sleep(Duration::from_millis(1200));
    let (paused, _) = act("pause", "paused");
    let (status, v) = recording_request(&site, "rec", &token, "pause");
    assert_eq!(status, 409, "already paused: {v}");
    std::thread::sleep(Duration::from_millis(1200));
    let (resumed, _) = act("resume", "recording");
    std::thread::sleep(Duration::from_millis(1200));
    let (stopped, _) = act("stop", "stopped");

    // The file is finalized and listed in the call record while the call goes on.
    let rec = wait_for("the recording's length", Duration::from_secs(10), || {
        let detail = site.cdr(&id);
        detail["recordings"]
            .as_array()?
            .iter()
            .find(|r| r["id"] == rec_id.as_str() && r["duration_ms"].is_u64())
            .cloned()
    });
    assert_eq!(rec["channels"], 2, "{rec}");
    let r = http::request(
        site.http,
        "GET",
        &format!("/api/v1/recordings/{rec_id}"),
        &[("Authorization", &format!("Bearer {ADMIN}"))],
        None,
    )
    .expect("recording");
    assert_eq!(r.status, 200, "{}", r.text());
    let (channels, samples) = wav_samples(&r.body);
    assert_eq!(channels, 2);
    let secs = |t: Instant| t.duration_since(started).as_secs_f64();
    let (p, q, end) = (secs(paused), secs(resumed), secs(stopped));
    let length = samples.len() as f64 / 2.0 / 8000.0;
    assert!(
        (length - end).abs() < 0.3,
        "{length:.2} s recorded between start and stop {end:.2} s apart (paused time included)"
    );
    // The caller's 440 Hz tone (amplitude ~8000) on the left, silence while paused.
    let margin = 0.25;
    let before = left_rms(&samples, margin, p - margin);
    let during = left_rms(&samples, p + margin, q - margin);
    let after = left_rms(&samples, q + margin, end - margin);
    assert!(
        before > 2000.0 && after > 2000.0 && during < 50.0,
        "RMS before the pause {before:.0}, during {during:.0}, after {after:.0}"
    );

    let (status, v) = recording_request(&site, "rec", &token, "resume");
    assert_eq!(status, 409, "a stopped recording cannot be resumed: {v}");
    let (status, v) = site.call("POST", "/api/v1/agents/rec/hangup", Some(&token), None);
    assert_eq!(status, 200, "hang up: {v}");
    let out = caller.wait(Duration::from_secs(20));
    assert_eq!((out.successful, out.failed), (1, 0), "{}", out.output);
    agent.sipp.stop();
}

#[test]
fn agent_blind_transfer_to_the_queue_reaches_another_agent() {
    // wrap_up 30 s: the transferring agent cannot simply be offered the call again.
    let site = Site::start(
        &["first", "second"],
        "ring_timeout = \"5s\"\nwrap_up = \"30s\"",
    );
    // The first phone takes one call and exits: its BYE from the transfer ends the run.
    let mut first = phone(&site, "first", "uas_agent", &["-rtp_echo", "-m", "1"]);
    let mut second = phone(&site, "second", "uas_agent", &["-rtp_echo"]);
    let token = site.login("first");
    let pcap = caller_pcap();
    let (mut caller, _) = customers(&site, &pcap, 1, 1, 30_000);
    let record = wait_for("the call answered", Duration::from_secs(20), || {
        site.cdrs().into_iter().find(|c| c["agent"] == "first")
    });
    let id = record["id"].as_str().expect("id").to_string();
    let transfer = |body: Value| {
        site.call(
            "POST",
            "/api/v1/agents/first/transfer",
            Some(&token),
            Some(body),
        )
    };

    // Refused up front, and the call stays with the first agent.
    let (status, v) = transfer(json!({"queue": "support"}));
    assert_eq!(status, 409, "nobody else is logged in to support: {v}");
    let (status, v) = transfer(json!({"queue": "nowhere"}));
    assert_eq!(status, 404, "{v}");
    let (status, v) = transfer(json!({"agent": "second"}));
    assert_eq!(status, 409, "second is logged out: {v}");
    let (status, v) = transfer(json!({"agent": "first"}));
    assert_eq!(status, 409, "not to itself: {v}");
    let (status, v) = transfer(json!({}));
    assert_eq!(status, 422, "{v}");
    assert_eq!(site.agent("first")["state"], "on_call");

    let second_token = site.login("second");
    let (status, v) = transfer(json!({"queue": "support"}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "wrap_up", "{v}");
    let out = first.sipp.wait(Duration::from_secs(20));
    assert_eq!(
        (out.successful, out.failed),
        (1, 0),
        "the first agent's phone got BYE: {}",
        out.output
    );
    let connected = wait_for("the second agent", Duration::from_secs(20), || {
        let c = site.cdr(&id);
        (c["agent"] == "second").then_some(c)
    });
    assert_eq!(
        connected["status"], "in_progress",
        "the caller stayed: {connected}"
    );
    let offers: Vec<(&str, &str)> = connected["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .map(|o| {
            (
                o["agent"].as_str().unwrap_or_default(),
                o["result"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        offers,
        [("first", "answered"), ("second", "answered")],
        "{connected}"
    );
    assert_eq!(site.agent("second")["state"], "on_call");
    assert_eq!(site.agent("first")["state"], "wrap_up");
    wait_for(
        "the caller bridged to the second agent",
        Duration::from_secs(10),
        || {
            let (_, v) = site.call("GET", "/api/v1/contacts", Some(ADMIN), None);
            v.as_array()?
                .iter()
                .any(|c| c["id"] == id.as_str() && c["state"] == "bridged")
                .then_some(())
        },
    );

    // The second agent ends the call; the caller was never cut off before that.
    let (status, v) = site.call(
        "POST",
        "/api/v1/agents/second/hangup",
        Some(&second_token),
        None,
    );
    assert_eq!(status, 200, "hang up: {v}");
    let out = caller.wait(Duration::from_secs(20));
    assert_eq!((out.successful, out.failed), (1, 0), "{}", out.output);
    let ended = wait_for("the record ended", Duration::from_secs(10), || {
        let c = site.cdr(&id);
        (c["status"] == "ended").then_some(c)
    });
    assert_eq!(
        (&ended["agent"], &ended["hangup_by"]),
        (&json!("second"), &json!("agent")),
        "{ended}"
    );
    second.sipp.stop();
}

#[test]
fn agent_blind_transfer_to_a_sip_uri() {
    let site = Site::start(&["first"], "ring_timeout = \"5s\"\nwrap_up = \"30s\"");
    let mut first = phone(&site, "first", "uas_agent", &["-rtp_echo", "-m", "1"]);
    // A phone the ACD knows nothing about (another site, a supervisor's desk).
    let desk_sip = free_sip_port();
    let mut desk = Sipp::scenario("uas_agent")
        .file("agent.pcap", &rtp_pcap(*b"DK"))
        .local(desk_sip, free_udp_port())
        .args(["-rtp_echo"])
        .calls(1)
        .timeout(Duration::from_secs(40))
        .spawn();
    let token = site.login("first");
    let pcap = caller_pcap();
    // The caller hangs up 8 s after the answer.
    let (mut caller, _) = customers(&site, &pcap, 1, 1, 8_000);
    let record = wait_for("the call answered", Duration::from_secs(20), || {
        site.cdrs().into_iter().find(|c| c["agent"] == "first")
    });
    let id = record["id"].as_str().expect("id").to_string();
    let transfer = |body: Value| {
        site.call(
            "POST",
            "/api/v1/agents/first/transfer",
            Some(&token),
            Some(body),
        )
    };
    let (status, v) = transfer(json!({"uri": "tel:+15551234"}));
    assert_eq!(status, 422, "{v}");
    let uri = format!("sip:desk@127.0.0.1:{desk_sip}");
    let (status, v) = transfer(json!({"uri": uri, "queue": "support"}));
    assert_eq!(status, 422, "{v}");
    let (status, v) = transfer(json!({"uri": uri}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "wrap_up", "{v}");
    let out = first.sipp.wait(Duration::from_secs(20));
    assert_eq!(
        (out.successful, out.failed),
        (1, 0),
        "first got BYE: {}",
        out.output
    );
    wait_for(
        "the caller bridged to the desk",
        Duration::from_secs(10),
        || {
            let (_, v) = site.call("GET", "/api/v1/contacts", Some(ADMIN), None);
            v.as_array()?
                .iter()
                .any(|c| c["id"] == id.as_str() && c["state"] == "bridged")
                .then_some(())
        },
    );
    // The caller hangs up; the desk gets BYE.
    let out = caller.wait(Duration::from_secs(30));
    assert_eq!((out.successful, out.failed), (1, 0), "{}", out.output);
    let out = desk.wait(Duration::from_secs(20));
    assert_eq!((out.successful, out.failed), (1, 0), "desk: {}", out.output);
    let ended = wait_for("the record ended", Duration::from_secs(10), || {
        let c = site.cdr(&id);
        (c["status"] == "ended").then_some(c)
    });
    assert_eq!(ended["hangup_by"], "customer", "{ended}");
    let path = ended["path"].to_string();
    assert!(
        path.contains(&format!("agent first transferred to {uri}")),
        "{ended}"
    );
}

#[test]
fn agent_conferences_a_third_party_in_and_lets_it_go() {
    let site = Site::start(
        &["lead"],
        "ring_timeout = \"5s\"\nwrap_up = \"0s\"\nrecord = true",
    );
    let mut agent = phone(&site, "lead", "uas_agent", &["-rtp_echo"]);
    // The third party: a phone outside the ACD that plays its own audio and takes one call.
    let desk_sip = free_sip_port();
    let desk_media = free_udp_port();
    let mut desk = Sipp::scenario("uas_agent")
        .file("agent.pcap", &rtp_pcap(*b"DK"))
        .local(desk_sip, desk_media)
        .set("play", "yes")
        .calls(1)
        .timeout(Duration::from_secs(60))
        .spawn();
    let token = site.login("lead");
    let pcap = caller_pcap();
    let (mut caller, caller_media) = customers(&site, &pcap, 1, 1, 30_000);
    let capture = Capture::start(&format!(
        "udp and (dst port {caller_media} or dst port {desk_media})"
    ))
    .expect("capture on lo");
    let record = wait_for("the call answered", Duration::from_secs(20), || {
        site.cdrs().into_iter().find(|c| c["agent"] == "lead")
    });
    let id = record["id"].as_str().expect("id").to_string();
    let live_state = || -> Option<String> {
        let (_, v) = site.call("GET", "/api/v1/contacts", Some(ADMIN), None);
        v.as_array()?
            .iter()
            .find(|c| c["id"] == id.as_str())
            .map(|c| c["state"].as_str().unwrap_or_default().to_string())
    };
    let conference = |method: &str, body: Option<Value>| {
        site.call(method, "/api/v1/agents/lead/conference", Some(&token), body)
    };
    wait_for("the call bridged", Duration::from_secs(10), || {
        (live_state()? == "bridged").then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));

    let (status, v) = conference("DELETE", None);
    assert_eq!(status, 409, "no third party yet: {v}");
    let (status, v) = conference("POST", Some(json!({"uri": "mailto:x@y"})));
    assert_eq!(status, 422, "{v}");
    let uri = format!("sip:desk@127.0.0.1:{desk_sip}");
    let (status, v) = conference("POST", Some(json!({"uri": uri})));
    assert_eq!(status, 200, "the third party answered: {v}");
    assert_eq!(
        (&v["state"], &v["uri"], &v["contact"]),
        (&json!("connected"), &json!(uri), &json!(id)),
        "{v}"
    );
    assert_eq!(live_state().as_deref(), Some("conference"));
    let (status, v) = conference("POST", Some(json!({"uri": uri})));
    assert_eq!(status, 409, "one third party at a time: {v}");
    std::thread::sleep(Duration::from_millis(1500));

    // The agent holds: customer and third party talk on; resumed, the three again.
    let act = |what: &str| {
        let (status, v) = site.call(
            "POST",
            &format!("/api/v1/agents/lead/{what}"),
            Some(&token),
            None,
        );
        assert_eq!(status, 200, "{what}: {v}");
    };
    act("hold");
    wait_for("the agent holding", Duration::from_secs(10), || {
        (live_state()? == "on_hold").then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    act("unhold");
    wait_for("the conference again", Duration::from_secs(10), || {
        (live_state()? == "conference").then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));

    let (status, v) = conference("DELETE", None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "ended", "{v}");
    let out = desk.wait(Duration::from_secs(20));
    assert_eq!(
        (out.successful, out.failed),
        (1, 0),
        "the third party got BYE: {}",
        out.output
    );
    wait_for(
        "customer and agent bridged again",
        Duration::from_secs(10),
        || (live_state()? == "bridged").then_some(()),
    );
    std::thread::sleep(Duration::from_millis(1000));
    act("hangup");
    let out = caller.wait(Duration::from_secs(20));
    assert_eq!((out.successful, out.failed), (1, 0), "{}", out.output);

    let packets = capture.stop().expect("capture");
    // The third party heard the call: mixed audio, not silence (PCMU 0xFF/0x7F).
    let heard = packets
        .iter()
        .filter(|p| p.dst.port() == desk_media && p.payload.len() == 12 + 160)
        .filter(|p| p.payload[12..].iter().any(|&b| b != 0xFF && b != 0x7F))
        .count();
    assert!(
        heard > 50,
        "the third party received {heard} packets of audio"
    );
    // The caller's stream: one SSRC, no gap, through route → mix → (hold) → route.
    let opts = Options {
        ts_tolerance: 0.25,
        ..Options::to_port(caller_media)
    };
    let report = analyze(&packets, &opts);
    assert!(!report.flows.is_empty(), "the caller received RTP");
    for f in &report.flows {
        assert_eq!(f.ssrc_changes, 0, "one SSRC: {f:?}");
    }
    for st in &report.streams {
        assert!(st.is_continuous(), "continuous RTP to the caller: {st:?}");
    }
    // The queue's recording followed the parties: customer and agent, the three mixed,
    // customer and agent again.
    assert_eq!(recording_parts(&site, &id), [2, 1, 2]);
    agent.sipp.stop();
}

/// The channels of a call's recordings in order, once each has its length (none empty).
fn recording_parts(site: &Site, id: &str) -> Vec<u64> {
    wait_for("the recordings' lengths", Duration::from_secs(15), || {
        let detail = site.cdr(id);
        let mut recs = detail["recordings"].as_array()?.clone();
        if detail["status"] != "ended" || recs.iter().any(|r| !r["duration_ms"].is_u64()) {
            return None;
        }
        recs.sort_by_key(|r| r["started_at"].as_str().unwrap_or_default().to_string());
        for r in &recs {
            assert!(
                r["duration_ms"].as_u64() > Some(200),
                "a part too short: {detail}"
            );
        }
        Some(recs.iter().filter_map(|r| r["channels"].as_u64()).collect())
    })
}

#[test]
fn agent_consults_a_third_party_then_leaves_the_customer_with_it() {
    let site = Site::start(
        &["cons"],
        "ring_timeout = \"5s\"\nwrap_up = \"30s\"\nrecord = true",
    );
    let mut agent = phone(&site, "cons", "uas_agent", &["-rtp_echo", "-m", "1"]);
    let desk_sip = free_sip_port();
    let desk_media = free_udp_port();
    let mut desk = Sipp::scenario("uas_agent")
        .file("agent.pcap", &rtp_pcap(*b"DK"))
        .local(desk_sip, desk_media)
        .set("play", "yes")
        .calls(1)
        .timeout(Duration::from_secs(60))
        .spawn();
    let token = site.login("cons");
    let pcap = caller_pcap();
    // The caller hangs up 9 s after the answer.
    let (mut caller, caller_media) = customers(&site, &pcap, 1, 1, 9_000);
    let capture = Capture::start(&format!("udp and dst port {caller_media}")).expect("capture");
    let record = wait_for("the call answered", Duration::from_secs(20), || {
        site.cdrs().into_iter().find(|c| c["agent"] == "cons")
    });
    let id = record["id"].as_str().expect("id").to_string();
    let live_state = || -> Option<String> {
        let (_, v) = site.call("GET", "/api/v1/contacts", Some(ADMIN), None);
        v.as_array()?
            .iter()
            .find(|c| c["id"] == id.as_str())
            .map(|c| c["state"].as_str().unwrap_or_default().to_string())
    };
    let post = |path: &str, body: Option<Value>| {
        site.call(
            "POST",
            &format!("/api/v1/agents/cons/{path}"),
            Some(&token),
            body,
        )
    };
    wait_for("the call bridged", Duration::from_secs(10), || {
        (live_state()? == "bridged").then_some(())
    });
    let (status, v) = post("conference/leave", None);
    assert_eq!(status, 409, "nobody to leave the customer with: {v}");
    std::thread::sleep(Duration::from_millis(700));

    let (status, v) = post("hold", None);
    assert_eq!(status, 200, "hold: {v}");
    let uri = format!("sip:desk@127.0.0.1:{desk_sip}");
    let (status, v) = post("conference", Some(json!({"uri": uri})));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["state"], "consulting",
        "the customer holds meanwhile: {v}"
    );
    assert_eq!(live_state().as_deref(), Some("consulting"));
    std::thread::sleep(Duration::from_millis(700));
    let (status, v) = post("unhold", None);
    assert_eq!(status, 200, "unhold: {v}");
    wait_for("the conference", Duration::from_secs(10), || {
        (live_state()? == "conference").then_some(())
    });
    std::thread::sleep(Duration::from_millis(700));

    let (status, v) = post("conference/leave", None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "agent_left", "{v}");
    let out = agent.sipp.wait(Duration::from_secs(20));
    assert_eq!(
        (out.successful, out.failed),
        (1, 0),
        "the agent's phone got BYE: {}",
        out.output
    );
    wait_for("the agent in wrap-up", Duration::from_secs(10), || {
        (site.agent("cons")["state"] == "wrap_up").then_some(())
    });
    assert_eq!(live_state().as_deref(), Some("bridged"));

    // The customer hangs up: the third party gets BYE.
    let out = caller.wait(Duration::from_secs(30));
    assert_eq!((out.successful, out.failed), (1, 0), "{}", out.output);
    let out = desk.wait(Duration::from_secs(20));
    assert_eq!((out.successful, out.failed), (1, 0), "desk: {}", out.output);
    let ended = wait_for("the record ended", Duration::from_secs(10), || {
        let c = site.cdr(&id);
        (c["status"] == "ended").then_some(c)
    });
    assert_eq!(ended["hangup_by"], "customer", "{ended}");
    assert!(
        ended["path"]
            .to_string()
            .contains(&format!("agent cons left the call to {uri}")),
        "{ended}"
    );
    let packets = capture.stop().expect("capture");
    let opts = Options {
        ts_tolerance: 0.25,
        ..Options::to_port(caller_media)
    };
    let report = analyze(&packets, &opts);
    assert!(!report.flows.is_empty(), "the caller received RTP");
    for f in &report.flows {
        assert_eq!(f.ssrc_changes, 0, "one SSRC: {f:?}");
    }
    for st in &report.streams {
        assert!(st.is_continuous(), "continuous RTP to the caller: {st:?}");
    }
    // Recorded throughout: customer and agent, the three (consultation and conference),
    // customer and third party after the agent left.
    assert_eq!(recording_parts(&site, &id), [2, 1, 2]);
}

#[test]
fn queue_recording_is_paused_not_stopped_by_the_agent() {
    let site = Site::start(
        &["q"],
        "ring_timeout = \"5s\"\nwrap_up = \"0s\"\nrecord = true",
    );
    let mut agent = phone(&site, "q", "uas_agent", &["-rtp_echo"]);
    let token = site.login("q");
    let pcap = caller_pcap();
    let (mut caller, _) = customers(&site, &pcap, 1, 1, 30_000);
    wait_for("the call answered", Duration::from_secs(20), || {
        site.cdrs().into_iter().find(|c| c["agent"] == "q")
    });
    // The queue's recording starts as the call is bridged; the agent may ask just after.
    let (status, v) = wait_for("the queue's recording", Duration::from_secs(10), || {
        let (status, v) = recording_request(&site, "q", &token, "pause");
        (status != 409).then_some((status, v))
    });
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["owner"], &v["state"]),
        (&json!("queue"), &json!("paused")),
        "{v}"
    );
    let (status, v) = recording_request(&site, "q", &token, "stop");
    assert_eq!(status, 403, "the queue requires it: {v}");
    let (status, v) = recording_request(&site, "q", &token, "start");
    assert_eq!(status, 409, "already recorded: {v}");
    let (status, v) = recording_request(&site, "q", &token, "resume");
    assert_eq!((status, &v["state"]), (200, &json!("recording")), "{v}");
    let (status, v) = site.call("POST", "/api/v1/agents/q/hangup", Some(&token), None);
    assert_eq!(status, 200, "hang up: {v}");
    let out = caller.wait(Duration::from_secs(20));
    assert_eq!((out.successful, out.failed), (1, 0), "{}", out.output);
    agent.sipp.stop();
}

#[test]
fn flow_transfer_to_an_agent_rings_only_that_agent() {
    let site = Site::start_with(
        &["other", "target"],
        "ring_timeout = \"5s\"\nwrap_up = \"0s\"\nrecord = false",
        "transfer: { agent: target, music: hold-music }",
    );
    let mut other = phone(&site, "other", "uas_agent", &["-rtp_echo"]);
    let mut target = phone(&site, "target", "uas_agent", &["-rtp_echo"]);
    // Longest idle: `other` logs in first, so an ordinary enqueue would ring it.
    let _ = site.login("other");
    std::thread::sleep(Duration::from_millis(50));
    let _ = site.login("target");
    let pcap = caller_pcap();
    // The first caller talks to the target for 3 s; the second arrives a second later and
    // must wait for the target (while `other` is available), then talks to it.
    let (mut first, _) = customers(&site, &pcap, 1, 1, 3_000);
    std::thread::sleep(Duration::from_secs(1));
    let (mut second, _) = customers(&site, &pcap, 1, 1, 10_000);
    for (name, caller) in [("first", &mut first), ("second", &mut second)] {
        let out = caller.wait(Duration::from_secs(60));
        assert_eq!(
            (out.successful, out.failed),
            (1, 0),
            "{name} caller: {}\n--- switchboard\n{}",
            out.output,
            log_tail(&site.proc.log())
        );
    }
    let mut records = wait_for("two ended records", Duration::from_secs(15), || {
        let ended: Vec<Value> = site
            .cdrs()
            .into_iter()
            .filter(|c| c["status"] == "ended")
            .collect();
        (ended.len() == 2).then_some(ended)
    });
    records.sort_by_key(|c| c["arrived_at"].as_str().unwrap_or_default().to_string());
    for record in &records {
        let detail = site.cdr(record["id"].as_str().expect("id"));
        let offers: Vec<(String, String)> = detail["offers"]
            .as_array()
            .expect("offers")
            .iter()
            .map(|o| {
                (
                    o["agent"].as_str().unwrap_or_default().to_string(),
                    o["result"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert_eq!(
            offers,
            vec![("target".to_string(), "answered".to_string())],
            "{detail}"
        );
        assert_eq!(record["agent"], "target", "{record}");
        assert_eq!(record["abandoned"], false, "{record}");
    }
    // The second caller waited for the first call to end (about 2 s) although `other` was
    // available all along.
    let waited = seconds_between(&records[1]["queued_at"], &records[1]["answered_at"]);
    assert!(
        waited > 1.0,
        "the second caller waited {waited} s: {}",
        records[1]
    );
    let t = wait_for("the target free again", Duration::from_secs(10), || {
        let t = site.agent("target");
        (t["state"] == "available").then_some(t)
    });
    assert_eq!(
        (
            t["today"]["offers"].as_u64(),
            t["today"]["answered"].as_u64()
        ),
        (Some(2), Some(2)),
        "{t}"
    );
    let o = site.agent("other");
    assert_eq!(o["state"], "available", "{o}");
    assert_eq!(
        o["today"]["offers"].as_u64(),
        Some(0),
        "other was offered a call: {o}"
    );
    for p in [&mut other, &mut target] {
        p.sipp.stop();
    }
}
