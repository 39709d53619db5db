//! End to end: the real `switchboard run` on loopback, driven by sipp and raw
//! SIP over UDP and TCP (issue 3, item 8).

mod support;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Setup, Switchboard, tone_pcap};
use testkit::capture::Capture;
use testkit::process::{free_sip_port, free_udp_port};
use testkit::rtpcheck::{Options, analyze};
use testkit::sipp::{Outcome, Sipp};

/// The bundled caller (`uac_call.xml`): PCMU RTP to the answer's address.
fn caller(sb: &Switchboard, media_port: u16, hold_ms: u32) -> Sipp {
    let audio = tone_pcap(f64::from(hold_ms) / 1000.0 + 1.0);
    Sipp::scenario("uac_call")
        .file("caller.pcap", &audio)
        .file("caller_dtmf.pcap", &audio)
        .local(free_sip_port(), media_port)
        .args(["-s", "1000", "-d", &hold_ms.to_string()])
        .calls(1)
        .timeout(Duration::from_secs(40))
        .target(&sb.target())
}

fn assert_ok(o: &Outcome) {
    assert!(
        o.code == 0 && o.successful == 1 && o.failed == 0,
        "{}",
        o.output
    );
}

fn path_of(cdr: &Value) -> Vec<String> {
    cdr["path"]
        .as_array()
        .expect("a path")
        .iter()
        .map(|s| s["state"].as_str().expect("a state").to_string())
        .collect()
}

#[test]
fn caller_hears_the_prompts_on_one_continuous_stream() {
    let sb = Switchboard::start(Setup::default());
    let media = free_udp_port();
    let cap = Capture::start(&format!("udp and dst port {media}")).expect("capture");
    // 4.5 s: the welcome prompt (2.9 s), then the switch to the menu prompt.
    let out = caller(&sb, media, 4500).run();
    assert_ok(&out);
    let packets = cap.stop().expect("capture");
    let report = analyze(&packets, &Options::to_port(media));
    assert_eq!(
        report.flows.len(),
        1,
        "one sender toward the caller: {report:?}"
    );
    let flow = &report.flows[0];
    assert_eq!(flow.ssrcs.len(), 1, "one SSRC: {flow:?}");
    assert_eq!(flow.ssrc_changes, 0);
    let stream = &report.streams[0];
    assert!(stream.is_continuous(), "gaps or jumps: {stream:?}");
    // About 50 packets a second for the whole call, across the prompt switch.
    assert!(stream.packets >= 200, "only {} packets", stream.packets);
    assert_eq!(
        stream.payload_types.keys().copied().collect::<Vec<_>>(),
        [0]
    );

    let cdr = &sb.ended_cdrs(1, Duration::from_secs(10))[0];
    let path = format!("/api/v1/cdrs/{}", cdr["id"].as_str().unwrap());
    // Call records, live contacts and the media handlers (their addresses and load) are
    // for the administrator: no token, or a wrong one, gets 401.
    for auth in [None, Some("Bearer not-the-token")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        for p in [
            path.as_str(),
            "/api/v1/cdrs",
            "/api/v1/contacts",
            "/api/v1/media-handlers",
        ] {
            let r = testkit::http::request(sb.http, "GET", p, &headers, None).expect("GET");
            assert_eq!(r.status, 401, "GET {p} with {auth:?}: {}", r.text());
        }
    }
    let detail = sb.get(&path);
    assert_eq!(path_of(&detail), ["override", "welcome", "menu"]);
    assert_eq!(detail["hangup_by"], "customer");
    assert_eq!(detail["codec"], "PCMU");
    assert_eq!(detail["media_handler"], "embedded-1");
    assert_eq!(detail["placement"]["chosen"], "embedded-1");
    assert_eq!(
        sb.metric("switchboard_calls_total{result=\"answered\"}"),
        Some(1.0)
    );
}

#[test]
fn call_over_tcp_is_answered_and_ends_with_bye() {
    let sb = Switchboard::start(Setup::default());
    let out = caller(&sb, free_udp_port(), 1000).args(["-t", "t1"]).run();
    assert_ok(&out);
    let cdr = &sb.ended_cdrs(1, Duration::from_secs(10))[0];
    assert_eq!(cdr["hangup_by"], "customer");
    assert_eq!(cdr["end_reason"], "caller hung up");
}

/// REGISTERs user 1001 from `port` (the Contact's port).
fn register(sb: &Switchboard, port: u16, password: &str, expires: u32) -> Outcome {
    Sipp::scenario("register")
        .local(port, free_udp_port())
        .args(["-s", "1001", "-au", "1001", "-ap", password])
        .set("expires", &expires.to_string())
        .calls(1)
        .timeout(Duration::from_secs(15))
        .target(&sb.target())
        .run()
}

#[test]
fn register_with_the_right_password_binds_and_a_wrong_one_never_does() {
    let sb = Switchboard::start(Setup::default());
    let phone = free_sip_port();
    let wrong = register(&sb, phone, "not-alices-password", 600);
    assert_eq!(wrong.successful, 0, "{}", wrong.output);
    assert_eq!(
        sb.metric("switchboard_registrations").unwrap_or(0.0),
        0.0,
        "a wrong password created a binding"
    );
    // Challenged (401), then refused (403): never a 200.
    assert_eq!(
        sb.metric("switchboard_register_requests_total{status=\"403\"}"),
        Some(1.0)
    );
    assert_eq!(
        sb.metric("switchboard_register_requests_total{status=\"200\"}"),
        None
    );

    assert_ok(&register(&sb, phone, "alice-1001", 600));
    assert_eq!(sb.metric("switchboard_registrations"), Some(1.0));
    assert_eq!(
        sb.metric("switchboard_register_requests_total{status=\"200\"}"),
        Some(1.0)
    );

    // Expires 0 on the same contact removes the binding.
    assert_ok(&register(&sb, phone, "alice-1001", 0));
    assert_eq!(sb.metric("switchboard_registrations"), Some(0.0));
}

/// INVITE, then CANCEL after the 100: expects 200 to the CANCEL and 487.
const CANCEL_SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="cancel before answer">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-inv
      From: <sip:canceller@[local_ip]:[local_port]>;tag=[pid]c[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:canceller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=c 1 1 IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="100" />
  <pause milliseconds="500" />
  <send>
    <![CDATA[

      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-inv
      From: <sip:canceller@[local_ip]:[local_port]>;tag=[pid]c[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" />
  <recv response="487" />
  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-inv
      From: <sip:canceller@[local_ip]:[local_port]>;tag=[pid]c[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
</scenario>
"#;

#[test]
fn cancel_before_answer_gets_487() {
    // A CRM that never answers: the flow's webhook holds the call unanswered.
    let crm = TcpListener::bind("127.0.0.1:0").expect("bind");
    let crm_addr = crm.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in crm.incoming().flatten() {
            held.push(s);
        }
    });
    let flow = format!(
        r#"
name: slow
start: lookup
states:
  lookup:
    webhook: {{ url: "http://{crm_addr}/crm", timeout: 5s }}
    next: hello
    on: {{ error: hello }}
  hello:
    play: welcome
    next: hangup
"#
    );
    let sb = Switchboard::start(Setup {
        flows: vec![("slow".into(), flow)],
        extra: "[[routes]]\nnumber = \"2000\"\nflow = \"slow\"\n".into(),
        ..Setup::default()
    });
    let out = Sipp::inline("cancel", CANCEL_SCENARIO)
        .local(free_sip_port(), free_udp_port())
        .args(["-s", "2000"])
        .calls(1)
        .timeout(Duration::from_secs(15))
        .target(&sb.target())
        .run();
    assert_ok(&out);
    let cdr = &sb.ended_cdrs(1, Duration::from_secs(10))[0];
    assert_eq!(cdr["end_reason"], "cancelled");
    assert_eq!(cdr["hangup_by"], "customer");
    assert_eq!(
        sb.metric("switchboard_calls_total{result=\"cancelled\"}"),
        Some(1.0)
    );
    // The media session was released: the handler carries nothing.
    let handlers = sb.get("/api/v1/media-handlers");
    assert_eq!(handlers[0]["sessions"], 0, "{handlers:#}");
}

fn invite(number: &str, cseq: &str, body: &str) -> String {
    format!(
        "INVITE sip:{number}@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP LOCAL;branch=z9hG4bK{tag};rport\r\n\
         From: <sip:tester@127.0.0.1>;tag={tag}\r\n\
         To: <sip:{number}@127.0.0.1>\r\n\
         Call-ID: {tag}@test\r\n\
         CSeq: {cseq}\r\n\
         Contact: <sip:tester@LOCAL>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{body}",
        tag = format!("t{}", free_udp_port()),
        len = body.len(),
    )
}

const GOOD_SDP: &str = "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

#[test]
fn unknown_number_gets_404_and_options_gets_200() {
    let sb = Switchboard::start(Setup::default());
    let answer = sb
        .udp_exchange(&invite("9999", "1 INVITE", GOOD_SDP))
        .expect("an answer");
    assert!(answer.starts_with("SIP/2.0 404 "), "{answer}");

    let options = "OPTIONS sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP LOCAL;branch=z9hG4bKopt1;rport\r\n\
         From: <sip:tester@127.0.0.1>;tag=o1\r\n\
         To: <sip:127.0.0.1>\r\n\
         Call-ID: opt1@test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n";
    let answer = sb.udp_exchange(options).expect("an answer");
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    assert!(answer.contains("\r\nAllow: INVITE"), "{answer}");
}

#[test]
fn no_common_codec_gets_488() {
    let sb = Switchboard::start(Setup::default());
    let g723 = "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 4\r\n";
    let answer = sb
        .udp_exchange(&invite("1000", "1 INVITE", g723))
        .expect("an answer");
    assert!(answer.starts_with("SIP/2.0 488 "), "{answer}");
    assert!(answer.contains("\r\nWarning: 305 "), "{answer}");
    let cdr = &sb.ended_cdrs(1, Duration::from_secs(10))[0];
    assert!(
        cdr["end_reason"]
            .as_str()
            .unwrap()
            .starts_with("rejected 488"),
        "{cdr:#}"
    );
}

#[test]
fn malformed_invites_get_400_and_the_next_call_still_works() {
    let sb = Switchboard::start(Setup::default());
    // A header the parser rejects.
    let answer = sb
        .udp_exchange(&invite("1000", "one INVITE", GOOD_SDP))
        .expect("an answer");
    assert!(answer.starts_with("SIP/2.0 400 "), "{answer}");
    // Well-formed SIP, malformed SDP.
    let bad_sdp = "v=0\r\nthis is not SDP\r\nm=audio x RTP/AVP 0\r\n";
    let answer = sb
        .udp_exchange(&invite("1000", "1 INVITE", bad_sdp))
        .expect("an answer");
    assert!(answer.starts_with("SIP/2.0 400 "), "{answer}");
    // A TCP stream that cannot be framed: 400, and only that connection closes.
    let mut tcp = TcpStream::connect(("127.0.0.1", sb.sip_port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let unframed = invite("1000", "1 INVITE", "").replace("Content-Length: 0\r\n", "");
    let unframed = unframed
        .replace("LOCAL", "127.0.0.1:9")
        .replace("UDP", "TCP");
    tcp.write_all(unframed.as_bytes()).expect("write");
    let mut got = String::new();
    let _ = tcp.read_to_string(&mut got);
    assert!(got.starts_with("SIP/2.0 400 "), "{got:?}");

    // The next calls work, on UDP and TCP.
    assert_ok(&caller(&sb, free_udp_port(), 500).run());
    assert_ok(&caller(&sb, free_udp_port(), 500).args(["-t", "t1"]).run());
}

/// Call, hold (sendonly), resume (sendrecv), hang up; checks the answers' direction.
const HOLD_SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hold and resume">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:holder@[local_ip]:[local_port]>;tag=[pid]h[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:holder@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=h 1 1 IN IP4 [media_ip]
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
  <recv response="200" rrs="true">
    <action><ereg regexp="a=sendrecv" search_in="body" check_it="true" assign_to="d1" /></action>
  </recv>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:holder@[local_ip]:[local_port]>;tag=[pid]h[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="1000" />
  <send retrans="500">
    <![CDATA[

      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:holder@[local_ip]:[local_port]>;tag=[pid]h[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:holder@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=h 1 2 IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=sendonly

    ]]>
  </send>
  <recv response="100" optional="true" />
  <recv response="200">
    <action><ereg regexp="a=recvonly" search_in="body" check_it="true" assign_to="d2" /></action>
  </recv>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:holder@[local_ip]:[local_port]>;tag=[pid]h[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="2000" />
  <send retrans="500">
    <![CDATA[

      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:holder@[local_ip]:[local_port]>;tag=[pid]h[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 INVITE
      Contact: <sip:holder@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=h 1 3 IN IP4 [media_ip]
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
  <recv response="200">
    <action><ereg regexp="a=sendrecv" search_in="body" check_it="true" assign_to="d3" /></action>
  </recv>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:holder@[local_ip]:[local_port]>;tag=[pid]h[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="1500" />
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <sip:holder@[local_ip]:[local_port]>;tag=[pid]h[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 4 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true" />
  <Reference variables="d1,d2,d3" />
</scenario>
"#;

#[test]
fn reinvite_holds_and_resumes_the_call() {
    let sb = Switchboard::start(Setup::default());
    let media = free_udp_port();
    let cap = Capture::start(&format!("udp and dst port {media}")).expect("capture");
    let mut sipp = Sipp::inline("hold", HOLD_SCENARIO)
        .local(free_sip_port(), media)
        .args(["-s", "1000"])
        .calls(1)
        .timeout(Duration::from_secs(30))
        .target(&sb.target())
        .spawn();
    let state = |v: &Value| {
        v.as_array()
            .and_then(|a| a.first())
            .map(|c| c["state"].clone())
    };
    sb.wait_for("/api/v1/contacts", Duration::from_secs(10), |v| {
        state(v).is_some_and(|s| s == "on_hold")
    });
    let held_at = Instant::now();
    sb.wait_for("/api/v1/contacts", Duration::from_secs(10), |v| {
        state(v).is_some_and(|s| s == "answered")
    });
    let out = sipp.wait(Duration::from_secs(40));
    assert_ok(&out);
    assert!(held_at.elapsed() < Duration::from_secs(10));

    // While held (a=recvonly from the handler) nothing was sent to the phone:
    // the stream to it has a silence of about the hold's length, and is one
    // stream before and after (one SSRC).
    let packets = cap.stop().expect("capture");
    let report = analyze(&packets, &Options::to_port(media));
    assert_eq!(report.flows.len(), 1, "{report:?}");
    assert_eq!(report.flows[0].ssrc_changes, 0, "{report:?}");
    let gap = report.streams[0].max_interarrival;
    assert!(
        gap > 1.5,
        "no pause in the media while held (largest gap {gap:.3} s)"
    );

    let cdr = &sb.ended_cdrs(1, Duration::from_secs(10))[0];
    assert_eq!(cdr["hangup_by"], "customer");
}

#[test]
fn overload_gets_503_with_retry_after() {
    let sb = Switchboard::start(Setup {
        max_calls: 1,
        ..Setup::default()
    });
    let mut first = caller(&sb, free_udp_port(), 4000).spawn();
    sb.wait_for("/api/v1/contacts", Duration::from_secs(10), |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    });
    let answer = sb
        .udp_exchange(&invite("1000", "1 INVITE", GOOD_SDP))
        .expect("an answer");
    assert!(answer.starts_with("SIP/2.0 503 "), "{answer}");
    assert!(answer.contains("\r\nRetry-After: 7"), "{answer}");
    assert_ok(&first.wait(Duration::from_secs(30)));
    assert_eq!(
        sb.metric("switchboard_calls_refused_total{reason=\"overload\"}"),
        Some(1.0)
    );
}
