//! Fuzzes what the bandwidth manager does with any parsable SDP: estimating it from
//! either side with every service, and placing it (with degradation) on handlers that
//! are nearly full. Nothing may panic or overflow, and a placement must be answerable.
#![no_main]

use std::time::Instant;

use bandwidth::{
    Author, BandwidthManager, Config, ContactId, HandlerId, HandlerStatus, PlaceRequest, Priority,
    Services,
};
use libfuzzer_sys::fuzz_target;
use sdp::{Codec, LocalMedia, LocalSession, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = SessionDescription::parse(data) else {
        return;
    };
    let all = Services {
        route: true,
        play: true,
        record: true,
        mix_participants: 3,
    };
    for author in [Author::Endpoint, Author::Handler] {
        let e = bandwidth::estimate(&offer, author, all);
        assert!(e.total.peak_bps() >= e.leg.peak_bps());
    }

    let now = Instant::now();
    let mut config = Config::default();
    config.answer.video = vec![Codec::H264, Codec::Vp8];
    let mut m = BandwidthManager::new(config);
    for (id, cap) in [("a", 100), ("b", 1_000)] {
        let id = HandlerId::from(id);
        m.add_handler(id.clone(), "http://h", Some(cap)).expect("new handler");
        m.update_status(now, &id, HandlerStatus { measured_kbps: 50, ..HandlerStatus::default() })
            .expect("known handler");
    }
    let request = PlaceRequest {
        offer: &offer,
        services: Services::AGENT_CALL,
        priority: Priority::Normal,
        transcodable: &[Codec::G729, Codec::Gsm, Codec::Opus],
    };
    let contact = ContactId::from("c");
    if let Ok(p) = m.place(now, contact.clone(), &request) {
        let address = "198.51.100.1".parse().expect("literal address");
        let local = LocalMedia {
            address,
            ports: (0..offer.media().len()).map(|i| 20000 + 2 * (i % 1000) as u16).collect(),
        };
        sdp::build_answer(&offer, &p.negotiation, &local, &mut LocalSession::new(1, 1, address))
            .expect("a placement can be answered");
        m.adjust(now, &contact, &request).ok();
        assert!(m.release(&contact).is_some());
        assert!(m.handlers(now).iter().all(|h| h.reserved_kbps == 0));
    }
});
