//! Fuzzes the SDP parser and the answer path behind it.
//!
//! Properties: parsing never panics; a parsed description returns its input byte for
//! byte; the canonical rewrite parses back to the same typed view; and any offer we
//! accept yields an answer that reads back against the offer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdp::{Capabilities, Codec, LocalMedia, LocalSession, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = SessionDescription::parse(data) else {
        return;
    };
    assert_eq!(offer.as_bytes(), data);
    let canonical = SessionDescription::parse(&offer.canonical_bytes())
        .expect("the canonical form of a parsed description parses");
    assert_eq!(canonical.media(), offer.media());

    let mut caps = Capabilities::audio(&[Codec::Pcmu, Codec::Pcma, Codec::G729, Codec::Opus]);
    caps.video = vec![Codec::H264, Codec::Vp8];
    let Ok(negotiation) = sdp::negotiate(&offer, &caps) else {
        return;
    };
    let address = "198.51.100.1".parse().expect("literal address");
    let local = LocalMedia {
        address,
        ports: (0..offer.media().len()).map(|i| 20000 + 2 * (i % 1000) as u16).collect(),
    };
    let answer = sdp::build_answer(&offer, &negotiation, &local, &mut LocalSession::new(1, 1, address))
        .expect("an accepted offer can be answered");
    sdp::process_answer(&offer, &answer).expect("our answer fits the offer");
});
