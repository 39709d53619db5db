//! A TCP byte stream as a driver sees it: several messages back to back, keep-alives between
//! them, delivered in arbitrary chunks. Framing must give back exactly the messages sent.

use proptest::prelude::*;
use sip::{Framing, Message, check_stream};

fn vectors() -> Vec<Vec<u8>> {
    let dir = format!("{}/tests/vectors/sipp", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// The driver's read loop: append what arrived, then take every complete frame.
fn deliver(stream: &[u8], chunks: &[usize]) -> (Vec<Message>, usize) {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut pings = 0;
    let mut pos = 0;
    let mut i = 0;
    while pos < stream.len() {
        let n = chunks[i % chunks.len()].min(stream.len() - pos);
        buf.extend_from_slice(&stream[pos..pos + n]);
        pos += n;
        i += 1;
        loop {
            match check_stream(&buf) {
                Framing::Complete(len) => {
                    out.push(Message::parse(&buf[..len]).unwrap());
                    buf.drain(..len);
                }
                Framing::KeepAlive(len) => {
                    if len >= 4 {
                        pings += 1;
                    }
                    buf.drain(..len);
                }
                Framing::Incomplete => break,
                Framing::Invalid(e) => panic!("{e}"),
            }
        }
    }
    assert!(buf.is_empty(), "nothing left over");
    (out, pings)
}

proptest! {
    #[test]
    fn messages_in_arbitrary_chunks_frame_exactly(chunks in proptest::collection::vec(1usize..700, 1..20)) {
        let msgs = vectors();
        let mut stream = Vec::new();
        for m in &msgs {
            stream.extend_from_slice(m);
            stream.extend_from_slice(b"\r\n\r\n");
        }
        let (got, pings) = deliver(&stream, &chunks);
        prop_assert_eq!(got.len(), msgs.len());
        for (g, m) in got.iter().zip(&msgs) {
            prop_assert_eq!(g, &Message::parse(m).unwrap());
        }
        // Chunks may split a double CRLF, so not every one is seen whole.
        prop_assert!(pings <= msgs.len());
    }
}

#[test]
fn byte_by_byte_delivery_works() {
    let msgs = vectors();
    let stream: Vec<u8> = msgs.concat();
    let (got, _) = deliver(&stream, &[1]);
    assert_eq!(got.len(), msgs.len());
}
