//! End to end (issue 5, item 5): a caller drives a flow with DTMF — once as
//! RFC 4733 events, once as in-band tones — through the menu into a queue
//! (greeting, then music) and into voicemail, leaves a message ended with
//! `#`, and is hung up by the flow. Checked: the path stored with the call
//! record, the voicemail's length (record and WAV file), and that the RTP the
//! caller received kept one SSRC and consecutive sequence numbers across every
//! switch (menu prompt → queue greeting → music → voicemail prompt → beep →
//! goodbye).

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Setup, Switchboard, dtmf_tone, pcap_bytes, pcmu_packets, rtp_packet, silence, tone};
use testkit::capture::Capture;
use testkit::pcap::UdpPacket;
use testkit::process::{free_sip_port, free_udp_port};
use testkit::rtpcheck::{Options, analyze};
use testkit::sipp::Sipp;

/// The demo's shape with short waits, so the whole call takes ~25 s.
const IVR: &str = r#"
name: ivr
start: welcome
states:
  welcome:
    play: { prompts: welcome, barge_in: true }
    next: menu
  menu:
    menu: { prompt: menu, timeout: 5s, retries: 1, invalid_prompt: invalid }
    on: { "1": sales, "3": voicemail, failed: goodbye }
  sales:
    enqueue: { queue: sales, greeting: queue-busy, music: hold-music, max_wait: 8s }
    on: { max_wait: voicemail, no_agents: voicemail, error: voicemail }
  voicemail:
    play: voicemail
    next: record
  record:
    record: { kind: voicemail, max: 15s, beep: true }
    next: goodbye
    on: { error: goodbye }
  goodbye:
    play: goodbye
    next: hangup
"#;

/// When the caller presses `1` (during the menu prompt, 2.9 s – 9.6 s).
const MENU_DIGIT_AT: f64 = 5.0;
/// When the caller starts speaking (after the voicemail prompt and beep,
/// which start when the 8 s max wait ends: ~13.1 s + 5.0 s).
const SPEAK_FROM: f64 = 18.6;
/// When the caller presses `#` to end the message.
const HASH_AT: f64 = 22.0;
/// How long the caller's RTP lasts.
const AUDIO_LEN: f64 = 32.0;

const SSRC: u32 = 0x00C0_FFEE;
const T0: f64 = 1_700_000_000.0;

/// The caller's audio: silence, a tone while it speaks its message.
fn caller_audio(inband_digits: bool) -> Vec<i16> {
    let mut a = silence(AUDIO_LEN);
    let put = |a: &mut Vec<i16>, at: f64, s: &[i16]| {
        let start = (at * 8000.0) as usize;
        a[start..start + s.len()].copy_from_slice(s);
    };
    put(&mut a, SPEAK_FROM, &tone(440.0, HASH_AT - SPEAK_FROM - 0.3));
    if inband_digits {
        put(&mut a, MENU_DIGIT_AT, &dtmf_tone('1', 0.12));
        put(&mut a, HASH_AT, &dtmf_tone('#', 0.12));
    }
    a
}

/// The caller's RTP with the digits as RFC 4733 events (PT 101) in the same
/// stream: audio packets give way to event packets while a key is down.
fn rfc4733_packets() -> Vec<UdpPacket> {
    let audio = pcmu_packets(&caller_audio(false), SSRC, T0);
    let digit_at = |t: f64| (t / 0.02) as usize;
    let digits = [(digit_at(MENU_DIGIT_AT), 1u8), (digit_at(HASH_AT), 11u8)];
    let mut out = Vec::new();
    let mut seq: u16 = 0;
    let mut slot = 0;
    while slot < audio.len() {
        if let Some(&(start, event)) = digits.iter().find(|(s, _)| *s == slot) {
            // 120 ms of event: six updates, then the end packet three times.
            let ts = (start * 160) as u32;
            for i in 0..9u16 {
                let end = i >= 6;
                let duration = (u16::min(i, 5) + 1) * 160;
                let mut payload = vec![event, if end { 0x80 | 10 } else { 10 }];
                payload.extend_from_slice(&duration.to_be_bytes());
                let time = T0 + (slot + usize::from(i)) as f64 * 0.02;
                out.push(rtp_packet(101, seq, ts, SSRC, i == 0, &payload, time));
                seq = seq.wrapping_add(1);
            }
            slot += 9;
            continue;
        }
        let mut p = audio[slot].clone();
        p.payload[2..4].copy_from_slice(&seq.to_be_bytes());
        out.push(p);
        seq = seq.wrapping_add(1);
        slot += 1;
    }
    out
}

/// INVITE (PCMU, with or without telephone-event), play the pcap, wait for
/// the flow's BYE and answer it.
fn scenario(telephone_event: bool) -> String {
    let (fmts, te) = if telephone_event {
        (
            "0 101",
            "a=rtpmap:101 telephone-event/8000\n      a=fmtp:101 0-16\n",
        )
    } else {
        ("0", "")
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ivr caller">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]i[call_number]
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
      m=audio [media_port] RTP/AVP {fmts}
      a=rtpmap:0 PCMU/8000
      {te}a=ptime:20
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
      From: <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]i[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop>
    <action><exec play_pcap_audio="caller.pcap" /></action>
  </nop>
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
"#
    )
}

fn wav_seconds(wav: &[u8]) -> f64 {
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(&wav[8..12], b"WAVE");
    let u16_at = |i: usize| u16::from_le_bytes([wav[i], wav[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([wav[i], wav[i + 1], wav[i + 2], wav[i + 3]]);
    let (channels, rate, bits) = (u16_at(22), u32_at(24), u16_at(34));
    let mut at = 12;
    while at + 8 <= wav.len() {
        let size = u32_at(at + 4) as usize;
        if &wav[at..at + 4] == b"data" {
            let frame = usize::from(channels) * usize::from(bits / 8);
            return size as f64 / frame as f64 / f64::from(rate);
        }
        at += 8 + size + size % 2;
    }
    panic!("no data chunk in the WAV");
}

fn caller_reaches_voicemail_through_menu_and_queue(rfc4733: bool) {
    let sb = Switchboard::start(Setup {
        flows: vec![("ivr".into(), IVR.into())],
        extra: "[[routes]]\nnumber = \"3000\"\nflow = \"ivr\"\n".into(),
        ..Setup::default()
    });
    // With nobody logged in, the ACD sends a caller straight to `no_agents`. A logged-in
    // agent who is not ready keeps the queue open: the caller waits for the flow's max wait.
    let login = testkit::http::post(
        sb.http,
        "/api/v1/agents/1001/login",
        r#"{"password": "alice-1001", "ready": false}"#,
    )
    .expect("agent login");
    assert_eq!(login.status, 200, "{}", login.text());
    let packets = if rfc4733 {
        rfc4733_packets()
    } else {
        pcmu_packets(&caller_audio(true), SSRC, T0)
    };
    let media = free_udp_port();
    let cap = Capture::start(&format!("udp and dst port {media}")).expect("capture");
    let mut sipp = Sipp::inline("ivr", &scenario(rfc4733))
        .file("caller.pcap", &pcap_bytes(&packets))
        .local(free_sip_port(), media)
        .args(["-s", "3000"])
        .calls(1)
        .timeout(Duration::from_secs(60))
        .target(&sb.target())
        .spawn();
    // The caller waits in the queue, hearing the music.
    sb.wait_for("/api/v1/contacts", Duration::from_secs(15), |v| {
        v[0]["flow_state"] == "sales"
    });
    let out = sipp.wait(Duration::from_secs(70));
    assert!(out.code == 0 && out.successful == 1, "{}", out.output);

    let cdr = &sb.ended_cdrs(1, Duration::from_secs(10))[0];
    let id = cdr["id"].as_str().expect("an id");
    let detail = sb.get(&format!("/api/v1/cdrs/{id}"));
    let path: Vec<&str> = detail["path"]
        .as_array()
        .expect("a path")
        .iter()
        .map(|s| s["state"].as_str().expect("a state"))
        .collect();
    assert_eq!(
        path,
        ["welcome", "menu", "sales", "voicemail", "record", "goodbye"]
    );
    assert_eq!(detail["queue"], "sales");
    assert_eq!(detail["hangup_by"], "system");
    assert_eq!(detail["end_reason"], "flow hung up");

    // The message: from the beep to the `#`, about 3.4 s.
    let recs = detail["recordings"].as_array().expect("recordings");
    assert_eq!(recs.len(), 1, "{detail:#}");
    let rec: &Value = &recs[0];
    assert_eq!(rec["kind"], "voicemail");
    let stored = rec["duration_ms"].as_u64().expect("a finished recording") as f64 / 1000.0;
    assert!((2.5..5.0).contains(&stored), "recorded {stored} s");
    let wav = sb.get_raw(&format!(
        "/api/v1/recordings/{}",
        rec["id"].as_str().unwrap()
    ));
    assert_eq!(wav.status, 200);
    let in_file = wav_seconds(&wav.body);
    assert!(
        (in_file - stored).abs() < 0.25,
        "the file holds {in_file} s, the record says {stored} s"
    );

    // What the caller heard: one stream, unbroken, across every switch.
    let packets = cap.stop().expect("capture");
    let report = analyze(&packets, &Options::to_port(media));
    assert_eq!(report.flows.len(), 1, "{report:?}");
    assert_eq!(report.flows[0].ssrc_changes, 0, "{report:?}");
    assert_eq!(report.streams.len(), 1, "{report:?}");
    let s = &report.streams[0];
    assert_eq!(s.lost, 0, "sequence gaps: {:?}", s.gaps);
    assert!(s.is_continuous(), "{s:?}");
    // ~23 s of prompts and music at 50 packets/s (nothing plays while recording).
    assert!(s.packets > 800, "only {} packets", s.packets);
    // A marker on the first packet after each source switch.
    assert!(s.markers.len() >= 4, "switches marked: {:?}", s.markers);
}

#[test]
fn rfc4733_digits_lead_through_menu_and_queue_into_voicemail() {
    caller_reaches_voicemail_through_menu_and_queue(true);
}

#[test]
fn inband_digits_lead_through_menu_and_queue_into_voicemail() {
    caller_reaches_voicemail_through_menu_and_queue(false);
}
