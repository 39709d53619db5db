//! The engine under any sequence of controller events (including stale, duplicated and
//! out-of-order ones) on the bundled demo flow: never panics, never leaves a due timer behind,
//! and stays quiet once finished.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use flow::{
    AnyName, Catalog, Command, Contact, Dtmf, Event, Flow, OpId, Recording, Timestamp, load_str,
};
use libfuzzer_sys::fuzz_target;

fn demo() -> Arc<Flow> {
    static DEMO: OnceLock<Arc<Flow>> = OnceLock::new();
    DEMO.get_or_init(|| {
        let yaml = include_str!("../../demo/flows/demo.yaml");
        // The demo is valid (crates/flow tests check it against the real prompts).
        Arc::new(
            load_str("demo.yaml", yaml, &Catalog::new(&AnyName, &AnyName))
                .expect("demo flow is valid"),
        )
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let wall0 = Timestamp::UNIX_EPOCH;
    let mut elapsed = Duration::ZERO;
    let mut ops: Vec<OpId> = vec![OpId(1)];
    let mut contact = Contact::start(demo(), "+15550100", "1000", t0, wall0);
    for chunk in data.chunks(3) {
        while let Some(c) = contact.poll_command() {
            let op = match c {
                Command::Play { play, .. } => Some(play),
                Command::Record { record, .. } => Some(record),
                Command::Enqueue { entry, .. } => Some(entry),
                Command::Webhook { request, .. } => Some(request),
                Command::Transfer { transfer, .. } => Some(transfer),
                _ => None,
            };
            ops.extend(op);
        }
        let (kind, a, b) = (
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        );
        elapsed += Duration::from_millis(u64::from(a) * 250);
        let now = t0 + elapsed;
        let wall = Timestamp::from_second(i64::from(b) * 3600 * 24).unwrap_or(wall0);
        let op = ops[usize::from(b) % ops.len()];
        let was_finished = contact.is_finished();
        let event = match kind % 16 {
            0 => Event::PlaybackFinished { play: op },
            1 => match Dtmf::new(char::from(b"0123456789*#ABCD"[usize::from(b) % 16])) {
                Some(d) => Event::Digit(d),
                None => continue,
            },
            2 => Event::RecordingFinished {
                record: op,
                recording: Recording {
                    id: "r".into(),
                    path: "/r".into(),
                    duration: Duration::from_secs(u64::from(a)),
                },
            },
            3 => Event::RecordingFailed {
                record: op,
                reason: "x".into(),
            },
            4 => Event::WebhookReplied {
                request: op,
                vars: vec![("k".into(), "v".into())],
                next: Some("x".into()),
            },
            5 => Event::WebhookFailed {
                request: op,
                reason: "x".into(),
            },
            6 => Event::QueuePosition {
                entry: op,
                position: u32::from(a) * 1000,
                estimated_wait: Some(Duration::from_secs(u64::from(b) * 97)),
            },
            7 => Event::AgentConnected {
                entry: op,
                agent: "a".into(),
            },
            8 => Event::MaxWait { entry: op },
            9 => Event::NoAgents { entry: op },
            10 => Event::QueueFailed {
                entry: op,
                reason: "x".into(),
            },
            11 => Event::TransferCompleted { transfer: op },
            12 => Event::TransferFailed {
                transfer: op,
                reason: "x".into(),
            },
            13 => Event::Hangup,
            _ => {
                contact.handle_timeout(now, wall);
                if let Some(next) = contact.poll_timeout() {
                    assert!(next > now, "handle_timeout left a due timer");
                }
                continue;
            }
        };
        let result = contact.handle_event(now, wall, event);
        if was_finished && result.is_ok() {
            // Only the report of a recording cut short by the hangup is accepted after the end.
            assert!(kind % 16 == 2 || kind % 16 == 3);
        }
        if contact.is_finished() {
            assert!(contact.poll_timeout().is_none());
        }
    }
});
