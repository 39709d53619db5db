//! SIP endpoint: the input is split at `\0` into datagrams fed to one endpoint from two
//! peers, with time advancing between them. Nothing may panic, and everything the endpoint
//! sends must parse, except the 400 it answers unparseable bytes with (that copies the
//! peer's broken headers back as they are, as RFC 4475 expects).
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sip::endpoint::{Endpoint, EndpointConfig, Output};
use sip::{Flow, Host, Message};

fn drain(ep: &mut Endpoint, must_parse: bool) {
    while let Some(o) = ep.poll_output() {
        if let Output::Transmit(t) = o
            && must_parse
        {
            Message::parse(&t.payload).expect("the endpoint only sends parseable messages");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let host = Host::parse("192.0.2.9").expect("a literal address parses");
    let mut ep = Endpoint::new(EndpointConfig::new(host, Some(5060), 1)).expect("a valid configuration");
    let t0 = Instant::now();
    let mut now = t0;
    let peers = [
        Flow::udp("192.0.2.1:5060".parse().expect("literal")),
        Flow::tcp("198.51.100.7:40000".parse().expect("literal"), sip::ConnectionId(1)),
    ];
    for (i, chunk) in data.split(|&b| b == 0).filter(|c| !c.is_empty()).enumerate() {
        ep.handle_input(now, peers[i % 2], chunk);
        drain(&mut ep, Message::parse(chunk).is_ok());
        now += Duration::from_millis(u64::from(chunk[0]) * 50);
        ep.handle_timeout(now);
        drain(&mut ep, true);
    }
});
