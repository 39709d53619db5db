//! Interop harness, not the product driver: a blocking std UDP loop around the sans-IO
//! [`Endpoint`] and [`Registrar`], so real peers (sipp) can be pointed at the stack by hand.
//! It answers every INVITE with 200 and a fixed SDP, BYE and CANCEL as the endpoint does,
//! OPTIONS with 200, and REGISTER through the registrar (users `agent1001`…`agent1010`,
//! password `secret1001`…, like `../shared/peers/sipp/agents.csv`). It exits after
//! `--idle` seconds without traffic and prints what it saw.
//!
//!     cargo run -p sip --example udp_interop -- 127.0.0.1:5070 --idle 5
//!     sipp -sf uac_flood.xml 127.0.0.1:5070 -i 127.0.0.1 -p 5071 -s 1000 -m 200 -r 100
//!
//! The controller's real driver (tokio, UDP and TCP) lives in `crates/controller`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::digest::DigestServer;
use sip::endpoint::{Endpoint, EndpointConfig, Event, Output};
use sip::registrar::{Registrar, RegistrarConfig};
use sip::{Flow, Host, Method, StatusCode};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = args
        .get(1)
        .map_or("127.0.0.1:5070", String::as_str)
        .parse()
        .expect("an address like 127.0.0.1:5070");
    let idle = args
        .iter()
        .position(|a| a == "--idle")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_secs);

    let sock = UdpSocket::bind(addr)?;
    sock.set_read_timeout(Some(Duration::from_millis(5)))?;
    let start = Instant::now();
    let mut cfg = EndpointConfig::new(Host::from(addr.ip()), Some(addr.port()), 7);
    cfg.user_agent = Some("switchboard-sip-interop".into());
    let mut ep = Endpoint::new(cfg).expect("valid configuration");
    // An example may use a fixed key; the controller passes 32 bytes from the OS RNG.
    let mut registrar = Registrar::new(
        RegistrarConfig::default(),
        DigestServer::new("switchboard", [9; 32], start),
    );
    let passwords = |user: &str| {
        let n: u32 = user.strip_prefix("agent")?.parse().ok()?;
        (1001..=1010).contains(&n).then(|| format!("secret{n}"))
    };
    let sdp = Bytes::from(format!(
        "v=0\r\no=switchboard 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        ip = addr.ip()
    ));

    let mut seen: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut last_traffic = Instant::now();
    let mut buf = vec![0u8; 65535];
    println!("listening on udp:{addr}");
    while last_traffic.elapsed() < idle {
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                last_traffic = Instant::now();
                ep.handle_input(Instant::now(), Flow::udp(from), &buf[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
        }
        registrar.handle_timeout(now);
        while registrar.poll_event().is_some() {}
        // Drain everything before waiting again.
        while let Some(out) = ep.poll_output() {
            match out {
                Output::Transmit(t) => {
                    sock.send_to(&t.payload, t.flow.remote)?;
                }
                Output::Event(e) => {
                    let name = match &e {
                        Event::IncomingInvite { .. } => "invite",
                        Event::IncomingRequest { request, .. }
                            if request.method() == &Method::Register =>
                        {
                            "register"
                        }
                        Event::IncomingRequest { .. } => "other request",
                        Event::Cancelled { .. } => "cancelled",
                        Event::Ack { .. } => "ack",
                        Event::Bye { .. } => "bye",
                        Event::Malformed { .. } => "malformed",
                        Event::AckTimeout { .. } => "ack timeout",
                        _ => "other event",
                    };
                    *seen.entry(name).or_default() += 1;
                    match e {
                        Event::IncomingInvite { tx, .. } => {
                            let _ = ep.reply(
                                now,
                                tx,
                                StatusCode::OK,
                                Some(("application/sdp", sdp.clone())),
                            );
                        }
                        Event::IncomingRequest { tx, request, flow }
                            if request.method() == &Method::Register =>
                        {
                            let resp =
                                registrar.handle_register(now, &request, Some(flow), &passwords);
                            *seen
                                .entry(if resp.status() == StatusCode::OK {
                                    "register 200"
                                } else {
                                    "register challenged/refused"
                                })
                                .or_default() += 1;
                            let _ = ep.respond(now, tx, resp);
                        }
                        Event::IncomingRequest { tx, .. }
                        | Event::DialogRequest { tx, .. }
                        | Event::ReInvite { tx, .. } => {
                            let _ = ep.reply(now, tx, StatusCode::OK, None);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    println!("idle for {idle:?}; events: {seen:?}");
    println!("dialogs still open: {}", ep.dialogs().count());
    Ok(())
}
