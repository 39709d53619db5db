//! Parser throughput on a typical INVITE (the one sipp's `uac_flood.xml` sends, with SDP).
//! Prints messages per second for: parse, parse + the lookups a transaction layer does,
//! serialize, and stream framing. A figure, not a test: it never fails on timing.
//!
//!     cargo run --release -p sip --example parse_bench

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{Message, check_stream};

const INVITE: &[u8] = include_bytes!("../tests/vectors/sipp/sipp_uac_invite.sip");

/// CPU time of this thread (Linux), so a busy shared machine does not skew the figure.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_comm.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 Hz).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn rate(label: &str, mut f: impl FnMut()) {
    // Warm up, then run for about two seconds.
    for _ in 0..10_000 {
        f();
    }
    let start = Instant::now();
    let cpu0 = cpu_secs();
    let mut n: u64 = 0;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..1_000 {
            f();
        }
        n += 1_000;
    }
    let wall = start.elapsed().as_secs_f64();
    let secs = match (cpu0, cpu_secs()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall,
    };
    println!(
        "{label:<40} {:>10.0} msg/s per core  {:>6.2} µs/msg  (wall {:.0} msg/s)",
        n as f64 / secs,
        secs * 1e6 / n as f64,
        n as f64 / wall
    );
}

fn main() {
    println!("INVITE of {} bytes (sipp uac_flood.xml)", INVITE.len());
    rate("parse (copying the body)", || {
        black_box(Message::parse(black_box(INVITE)).unwrap());
    });
    let shared = Bytes::from_static(INVITE);
    rate("parse_bytes (body shared)", || {
        black_box(Message::parse_bytes(black_box(shared.clone())).unwrap());
    });
    rate("parse + branch, CSeq, Call-ID, tags", || {
        let m = Message::parse(black_box(INVITE)).unwrap();
        let h = m.headers();
        black_box(h.top_via().unwrap().branch().map(str::len));
        black_box(h.cseq().unwrap());
        black_box(h.call_id().unwrap().len());
        black_box(h.from().unwrap().tag().map(str::len));
        black_box(h.to().unwrap().tag().map(str::len));
    });
    let m = Message::parse(INVITE).unwrap();
    rate("serialize", || {
        black_box(m.to_bytes());
    });
    rate("check_stream (TCP framing)", || {
        black_box(check_stream(black_box(INVITE)));
    });
}
