//! Shared test harness: a simulated clock, the demo catalog, and a one-line-per-input script
//! language that drives a `Contact` and prints what it does.
//!
//! Script lines (a line starting with `#`, or text after ` # `, is a comment):
//!
//! ```text
//! at 5s <input>        # absolute time since the start (the clock never goes back)
//! after 2s <input>     # relative to the previous line
//! <input>              # same time as the previous line
//! ```
//!
//! Inputs: `start <caller> <called> [k=v ...]` (first input only; extra initial variables), `played N`, `digit D`, `digits 123`,
//! `recorded N <id> <path> <duration>`, `record-failed N <reason>`,
//! `webhook N [k=v ...] [next=<outcome>]`, `webhook-failed N <reason>`,
//! `position N <pos> [<wait>]`, `agent N <name>`, `acd-max-wait N`, `no-agents N`,
//! `queue-failed N <reason>`, `transferred N`, `transfer-failed N <reason>`, `hangup`,
//! `timeout` (fire timers due now), `wait` (advance to the next deadline and fire it),
//! `deadline` (report `poll_timeout`), `show-recordings` (report the contact's recordings).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flow::{Catalog, Contact, Dtmf, Event, Flow, OpId, Recording, load_str};
use jiff::Timestamp;

/// Every prompt the demo prompt directory provides (design brief), without `.wav`.
pub fn demo_prompts() -> BTreeSet<String> {
    let mut p: BTreeSet<String> = [
        "welcome",
        "menu",
        "invalid",
        "closed",
        "queue-busy",
        "queue-position",
        "queue-wait",
        "minutes",
        "minute",
        "seconds",
        "second",
        "voicemail",
        "goodbye",
        "no-agents",
        "transfer",
        "hold-music",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    p.extend(flow::number_prompts());
    p
}

pub fn demo_queues() -> BTreeSet<String> {
    ["sales", "support"].iter().map(|s| s.to_string()).collect()
}

/// Compiles `yaml` against the demo catalog, panicking with every error if it is invalid.
pub fn compile(file: &str, yaml: &str) -> Arc<Flow> {
    let prompts = demo_prompts();
    let queues = demo_queues();
    let catalog = Catalog::new(&prompts, &queues);
    match load_str(file, yaml, &catalog) {
        Ok(f) => Arc::new(f),
        Err(e) => panic!("{file} should be valid:\n{e}"),
    }
}

pub fn parse_duration(text: &str) -> Duration {
    let (n, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = n
        .parse()
        .unwrap_or_else(|_| panic!("bad duration {text} in script"));
    match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => panic!("bad duration {text} in script"),
    }
}

fn secs(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// A contact under a simulated clock. `t0` is a real `Instant` taken once; every time after is
/// `t0 + offset`, so nothing depends on how fast the test runs.
pub struct Run {
    pub contact: Option<Contact>,
    pub flow: Arc<Flow>,
    pub t0: Instant,
    pub wall0: Timestamp,
    pub offset: Duration,
    pub trace: String,
}

impl Run {
    pub fn new(flow: Arc<Flow>, wall0: Timestamp) -> Run {
        Run {
            contact: None,
            flow,
            t0: Instant::now(),
            wall0,
            offset: Duration::ZERO,
            trace: String::new(),
        }
    }

    fn now(&self) -> (Instant, Timestamp) {
        let wall = self
            .wall0
            .checked_add(jiff::SignedDuration::try_from(self.offset).expect("small offsets"))
            .expect("test times stay in range");
        (self.t0 + self.offset, wall)
    }

    pub fn contact(&self) -> &Contact {
        self.contact
            .as_ref()
            .expect("the script starts the contact first")
    }

    /// Runs one script line; returns the commands it produced (as text) and the event result.
    pub fn line(&mut self, line: &str) -> (Vec<String>, Option<String>) {
        let line = line.split(" # ").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            return (Vec::new(), None);
        }
        let mut words: Vec<&str> = line.split_whitespace().collect();
        match words[0] {
            "at" => {
                let t = parse_duration(words[1]);
                assert!(t >= self.offset, "time goes back at `{line}`");
                self.offset = t;
                words.drain(..2);
            }
            "after" => {
                self.offset += parse_duration(words[1]);
                words.drain(..2);
            }
            _ => {}
        }
        let input = words.join(" ");
        let (now, wall) = self.now();
        let op = |i: usize| OpId(words[i].parse().expect("operation number"));
        let rest = |i: usize| words[i..].join(" ");
        let mut result = None;
        let mut header = format!("{:>8}  {input}", secs(self.offset));
        let event = match words[0] {
            "start" => {
                assert!(self.contact.is_none(), "start twice");
                let extra: Vec<(String, String)> = words[3..]
                    .iter()
                    .map(|w| {
                        let (k, v) = w.split_once('=').expect("start extra vars are k=v");
                        (k.to_string(), v.to_string())
                    })
                    .collect();
                self.contact = Some(Contact::start_with_vars(
                    self.flow.clone(),
                    words[1],
                    words[2],
                    extra,
                    now,
                    wall,
                ));
                None
            }
            "deadline" => {
                result = Some(match self.contact().poll_timeout() {
                    Some(t) => format!("deadline {}", secs(t - self.t0)),
                    None => "deadline none".into(),
                });
                None
            }
            "show-recordings" => {
                let ids: Vec<String> = self
                    .contact()
                    .recordings()
                    .iter()
                    .map(|r| r.id.clone())
                    .collect();
                result = Some(format!("recordings: {}", ids.join(" ")));
                None
            }
            "timeout" => {
                self.contact
                    .as_mut()
                    .expect("started")
                    .handle_timeout(now, wall);
                None
            }
            "wait" => {
                let deadline = self
                    .contact()
                    .poll_timeout()
                    .expect("`wait` needs a pending timer");
                self.offset = deadline - self.t0;
                let (now, wall) = self.now();
                header = format!("{:>8}  wait (timer)", secs(self.offset));
                self.contact
                    .as_mut()
                    .expect("started")
                    .handle_timeout(now, wall);
                None
            }
            "played" => Some(vec![Event::PlaybackFinished { play: op(1) }]),
            "digit" | "digits" => Some(
                words[1]
                    .chars()
                    .map(|c| Event::Digit(Dtmf::new(c).expect("DTMF in script")))
                    .collect(),
            ),
            "recorded" => Some(vec![Event::RecordingFinished {
                record: op(1),
                recording: Recording {
                    id: words[2].into(),
                    path: words[3].into(),
                    duration: parse_duration(words[4]),
                },
            }]),
            "record-failed" => Some(vec![Event::RecordingFailed {
                record: op(1),
                reason: rest(2),
            }]),
            "webhook" => {
                let mut vars = Vec::new();
                let mut next = None;
                for w in &words[2..] {
                    let (k, v) = w.split_once('=').expect("k=v");
                    if k == "next" {
                        next = Some(v.to_string());
                    } else {
                        vars.push((k.to_string(), v.to_string()));
                    }
                }
                Some(vec![Event::WebhookReplied {
                    request: op(1),
                    vars,
                    next,
                }])
            }
            "webhook-failed" => Some(vec![Event::WebhookFailed {
                request: op(1),
                reason: rest(2),
            }]),
            "position" => Some(vec![Event::QueuePosition {
                entry: op(1),
                position: words[2].parse().expect("position"),
                estimated_wait: words.get(3).map(|w| parse_duration(w)),
            }]),
            "agent" => Some(vec![Event::AgentConnected {
                entry: op(1),
                agent: words[2].into(),
            }]),
            "acd-max-wait" => Some(vec![Event::MaxWait { entry: op(1) }]),
            "no-agents" => Some(vec![Event::NoAgents { entry: op(1) }]),
            "queue-failed" => Some(vec![Event::QueueFailed {
                entry: op(1),
                reason: rest(2),
            }]),
            "transferred" => Some(vec![Event::TransferCompleted { transfer: op(1) }]),
            "transfer-failed" => Some(vec![Event::TransferFailed {
                transfer: op(1),
                reason: rest(2),
            }]),
            "hangup" => Some(vec![Event::Hangup]),
            other => panic!("unknown script input `{other}`"),
        };
        if let Some(events) = event {
            let contact = self
                .contact
                .as_mut()
                .expect("the script starts the contact first");
            for e in events {
                if let Err(err) = contact.handle_event(now, wall, e) {
                    result = Some(format!("! {err}"));
                }
            }
        }
        let contact = self.contact.as_mut().expect("started");
        let mut commands = Vec::new();
        while let Some(c) = contact.poll_command() {
            commands.push(c.to_string());
        }
        let _ = writeln!(self.trace, "{header}");
        if let Some(r) = &result {
            let _ = writeln!(self.trace, "          {r}");
        }
        for c in &commands {
            let _ = writeln!(self.trace, "          > {c}");
        }
        let status = match contact.outcome() {
            Some(o) => format!("ended: {o}"),
            None => match contact.poll_timeout() {
                Some(t) => format!("in {} until {}", contact.state_name(), secs(t - self.t0)),
                None => format!("in {}", contact.state_name()),
            },
        };
        let _ = writeln!(self.trace, "          = {status}");
        (commands, result)
    }

    /// The call record summary: path with offsets, outcome, variables, recordings.
    pub fn path(&self) -> Vec<String> {
        self.contact()
            .path()
            .iter()
            .map(|s| format!("{}@{}", s.state, secs(s.at - self.t0)))
            .collect()
    }

    pub fn summary(&self) -> String {
        let c = self.contact();
        let mut out = String::from("path:");
        for step in c.path() {
            let _ = write!(out, " {}@{}", step.state, secs(step.at - self.t0));
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "outcome: {}",
            c.outcome()
                .map(|o| o.to_string())
                .unwrap_or_else(|| "(running)".into())
        );
        let _ = write!(out, "vars:");
        for (k, v) in c.variables() {
            let _ = write!(out, " {k}={v:?}");
        }
        let _ = writeln!(out);
        for r in c.recordings() {
            let _ = writeln!(
                out,
                "recording: {} {} {}s",
                r.id,
                r.path,
                r.duration.as_secs()
            );
        }
        out
    }
}

pub fn wall(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("bad wall time {text}: {e}"))
}
