//! End to end: a flow asks a webhook where the call goes, then transfers it
//! to a SIP phone. The transfer is done as a B2BUA: the controller INVITEs the
//! target from a new leg on the caller's media session and routes the two legs
//! on the media handler. Checked: the webhook got the contact's data and its
//! reply chose the state and the target; audio flows both ways between
//! caller and target; the caller's RTP stays one unbroken stream from the
//! prompt through the ringback to the target's voice; the caller's BYE reaches
//! the target.

mod support;

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Setup, Switchboard, pcap_bytes, pcmu_packets, tone};
use testkit::capture::Capture;
use testkit::pcap::UdpPacket;
use testkit::process::{free_sip_port, free_udp_port};
use testkit::rtpcheck::{Options, analyze};
use testkit::sipp::Sipp;

/// A one-route CRM: answers every POST with `reply`, keeps the bodies.
fn crm(reply: &'static str) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            seen.lock()
                .expect("not poisoned")
                .push(String::from_utf8_lossy(&body).into_owned());
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (addr, bodies)
}

fn payloads(packets: &[UdpPacket]) -> HashSet<Vec<u8>> {
    packets.iter().map(|p| p.payload[12..].to_vec()).collect()
}

#[test]
fn webhook_routes_the_call_and_transfer_bridges_it_to_a_sip_phone() {
    let (crm_addr, bodies) = crm(r#"{"next": "vip", "who": "agent7", "tier": "gold"}"#);
    let agent_sip = free_sip_port();
    let flow = format!(
        r#"
name: xfer
start: lookup
states:
  lookup:
    webhook: {{ url: "http://{crm_addr}/route", timeout: 3s }}
    next: goodbye
    on: {{ vip: vip, error: goodbye }}
  vip:
    play: welcome
    next: transfer
  transfer:
    transfer: {{ uri: "sip:${{who}}@127.0.0.1:{agent_sip}" }}
    on: {{ error: goodbye }}
  goodbye:
    play: goodbye
    next: hangup
"#
    );
    let sb = Switchboard::start(Setup {
        flows: vec![("xfer".into(), flow)],
        extra: "[[routes]]\nnumber = \"4000\"\nflow = \"xfer\"\n".into(),
        ..Setup::default()
    });

    // The target phone: rings 0.5 s, answers, plays an 880 Hz tone.
    let agent_audio = pcmu_packets(&tone(880.0, 8.0), 0x0A6E_0007, 1_700_000_000.0);
    let agent_media = free_udp_port();
    let mut agent = Sipp::scenario("uas_agent")
        .file("agent.pcap", &pcap_bytes(&agent_audio))
        .local(agent_sip, agent_media)
        .set("play", "yes")
        .args(["-d", "500"])
        .calls(1)
        .timeout(Duration::from_secs(40))
        .spawn();

    // The caller: 440 Hz for 8 s, hangs up after 7 s.
    let caller_audio = pcmu_packets(&tone(440.0, 8.0), 0x0CA1_1E40, 1_700_000_000.0);
    let caller_media = free_udp_port();
    let cap = Capture::start(&format!(
        "udp and (dst port {caller_media} or dst port {agent_media})"
    ))
    .expect("capture");
    let caller = Sipp::scenario("uac_call")
        .file("caller.pcap", &pcap_bytes(&caller_audio))
        .file("caller_dtmf.pcap", &pcap_bytes(&caller_audio))
        .local(free_sip_port(), caller_media)
        .args(["-s", "4000", "-d", "7000"])
        .calls(1)
        .timeout(Duration::from_secs(40))
        .target(&sb.target())
        .run();
    assert!(
        caller.code == 0 && caller.successful == 1,
        "{}",
        caller.output
    );
    let agent = agent.wait(Duration::from_secs(20));
    assert!(agent.code == 0 && agent.successful == 1, "{}", agent.output);

    // The webhook saw the caller and the dialled number.
    let posted = bodies.lock().expect("not poisoned").clone();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(posted[0].contains("\"called\":\"4000\""), "{}", posted[0]);
    assert!(
        posted[0].contains("\"caller\":\"caller1\""),
        "{}",
        posted[0]
    );

    let cdr = &sb.ended_cdrs(1, Duration::from_secs(10))[0];
    let detail = sb.get(&format!("/api/v1/cdrs/{}", cdr["id"].as_str().unwrap()));
    let path: Vec<&str> = detail["path"]
        .as_array()
        .expect("a path")
        .iter()
        .map(|s| s["state"].as_str().expect("a state"))
        .collect();
    assert_eq!(path, ["lookup", "vip", "transfer"]);
    assert_eq!(detail["hangup_by"], "customer");

    // Media both ways, G.711 relayed untouched: the caller heard the target's
    // audio and the target the caller's.
    let packets = cap.stop().expect("capture");
    let to_caller: Vec<UdpPacket> = packets
        .iter()
        .filter(|p| p.dst.port() == caller_media)
        .cloned()
        .collect();
    let to_agent: Vec<UdpPacket> = packets
        .iter()
        .filter(|p| p.dst.port() == agent_media)
        .cloned()
        .collect();
    let agent_sent = payloads(&agent_audio);
    let caller_sent = payloads(&caller_audio);
    let heard_agent = to_caller
        .iter()
        .filter(|p| agent_sent.contains(&p.payload[12..]))
        .count();
    let heard_caller = to_agent
        .iter()
        .filter(|p| caller_sent.contains(&p.payload[12..]))
        .count();
    assert!(
        heard_agent > 50,
        "the caller heard {heard_agent} packets of the target"
    );
    assert!(
        heard_caller > 50,
        "the target heard {heard_caller} packets of the caller"
    );

    // One stream to the caller from the prompt, through the ringback, to the target.
    let report = analyze(&to_caller, &Options::to_port(caller_media));
    assert_eq!(report.flows.len(), 1, "{report:?}");
    assert_eq!(report.flows[0].ssrc_changes, 0, "{report:?}");
    assert!(report.streams[0].is_continuous(), "{:?}", report.streams[0]);
}
