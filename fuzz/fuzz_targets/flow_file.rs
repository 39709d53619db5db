//! Flow files are operator input (and arrive through the API): loading any text must return
//! flows or positioned errors, never panic, and a flow that loads must run.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use flow::{AnyName, Catalog, Command, Contact, Event, Timestamp, load_str};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Nothing exists: every reference is an error, exercising the error paths.
    let none: [&str; 0] = [];
    if let Err(errors) = load_str("fuzz.yaml", text, &Catalog::new(&none, &none)) {
        for e in errors.errors() {
            assert!(e.to_string().starts_with("fuzz.yaml"));
        }
    }
    // Everything exists: the compiler goes as deep as the text allows.
    let Ok(flow) = load_str("fuzz.yaml", text, &Catalog::new(&AnyName, &AnyName)) else {
        return;
    };
    let t0 = Instant::now();
    let wall = Timestamp::UNIX_EPOCH;
    let mut contact = Contact::start(Arc::new(flow), "+15550100", "1000", t0, wall);
    // Answer every playback, press 1, let every timer fire: a bounded walk through the flow.
    for step in 0..64u64 {
        let now = t0 + Duration::from_secs(step * 10);
        let mut events = Vec::new();
        while let Some(c) = contact.poll_command() {
            if let Command::Play { play, .. } = c {
                events.push(Event::PlaybackFinished { play });
            }
        }
        if contact.is_finished() {
            break;
        }
        for e in events {
            let _ = contact.handle_event(now, wall, e);
        }
        if let Some(d) = flow::Dtmf::new('1') {
            let _ = contact.handle_event(now, wall, Event::Digit(d));
        }
        if let Some(deadline) = contact.poll_timeout() {
            contact.handle_timeout(deadline, wall);
            if let Some(next) = contact.poll_timeout() {
                assert!(next > deadline, "handle_timeout left a due timer");
            }
        }
    }
});
