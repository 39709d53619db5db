//! SIP parser: parse; when it parses, serialize and reparse (must be equal) and walk the
//! typed accessors; frame as a stream; build the 400 for what does not parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip::{Message, check_stream, reject::error_response};

fuzz_target!(|data: &[u8]| {
    let _ = check_stream(data);
    match Message::parse(data) {
        Ok(m) => {
            let again = Message::parse(&m.to_bytes()).expect("a parsed message must reparse");
            assert_eq!(again, m, "parse(serialize(m)) == m");
            let h = m.headers();
            let _ = (h.vias(), h.top_via(), h.from(), h.to(), h.call_id(), h.cseq());
            let _ = (h.contacts(), h.routes(), h.record_routes(), h.expires(), h.min_expires());
            let _ = (h.content_type(), h.content_length(), h.retry_after(), h.max_forwards());
            for a in h.get_all(&sip::HeaderName::Authorization) {
                let _ = sip::digest::Credentials::parse(a.value());
            }
            for a in h.get_all(&sip::HeaderName::WwwAuthenticate) {
                let _ = sip::digest::Challenge::parse(a.value());
            }
        }
        Err(e) => {
            if let Some(r) = error_response(data, &e) {
                let _ = r.to_bytes();
            }
        }
    }
});
