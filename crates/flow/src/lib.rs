//! The event handler's engine: YAML call flows, their validation, and the pure state machine
//! that picks each contact's next media event.
//!
//! # Place in Switchboard
//!
//! The controller answers a call, finds the flow its number routes to, and starts a
//! [`Contact`] on it. From then on the controller only carries messages: it executes the
//! [`Command`]s the contact emits (answer, play, record, enqueue, transfer, webhook, hang up)
//! against the media handler, signalling, the ACD and HTTP, and feeds the results back as
//! [`Event`]s. Which prompt plays next, what a digit means, when a timer expires and where the
//! call goes are decided here, and only here.
//!
//! **Architecture invariant:** this crate never does I/O on the call path, never reads a clock
//! and never sleeps. Every entry point takes `now: Instant` (timers) and `wall: Timestamp`
//! (business hours, call record). Only the loader ([`load_dir`], [`load_file`],
//! [`prompts_in_dir`], [`FlowSet::reload_dir`]) reads files.
//!
//! # Parts
//!
//! - Loading and validation ([`load_str`], [`load_dir`], [`FlowSet`]): YAML is parsed with
//!   `serde-saphyr` into a tree whose every node keeps its line and column (its `Spanned`
//!   wrapper), then compiled by hand so that *all* problems are reported, each as
//!   `file:line:column: state `name`: problem` ([`FlowError`]). Prompts and queues are checked
//!   against a [`Catalog`] the caller supplies.
//! - The engine ([`Contact`]): one per call. See "Driving a contact" below.
//! - Speech ([`speak_number`], [`speak_duration`]): numbers and durations as lists of the
//!   bundled number prompts, for queue announcements and `{ number: .. }` prompt items.
//! - Business hours ([`BusinessHours`]): weekly ranges in an IANA time zone, with holidays.
//!
//! The flow file format is described in [`mod@format`] (also `crates/flow/FLOWS.md`).
//!
//! # Driving a contact
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! use flow::{AnyName, Catalog, Command, Contact, Event, load_str};
//!
//! let yaml = "
//! start: hello
//! states:
//!   hello: { play: welcome, next: bye }
//!   bye: { hangup: }
//! ";
//! let catalog = Catalog::new(&AnyName, &AnyName);
//! let flow = Arc::new(load_str("hello.yaml", yaml, &catalog).expect("valid flow"));
//! let t0 = Instant::now();
//! let wall = jiff::Timestamp::UNIX_EPOCH;
//!
//! let mut contact = Contact::start(flow, "+15550100", "1000", t0, wall);
//! assert_eq!(contact.poll_command(), Some(Command::Answer));
//! let Some(Command::Play { play, prompts, .. }) = contact.poll_command() else { panic!() };
//! assert_eq!(prompts, ["welcome"]);
//! assert_eq!(contact.poll_command(), None); // drained: now wait for events or poll_timeout()
//!
//! contact
//!     .handle_event(t0 + Duration::from_secs(3), wall, Event::PlaybackFinished { play })
//!     .expect("the contact waits for this playback");
//! assert_eq!(contact.poll_command(), Some(Command::Hangup));
//! assert!(contact.is_finished());
//! let path: Vec<&str> = contact.path().iter().map(|s| s.state.as_str()).collect();
//! assert_eq!(path, ["hello", "bye"]);
//! ```
//!
//! The driver's contract ("mutate, then drain"):
//! 1. After [`Contact::start`], [`Contact::handle_event`] or [`Contact::handle_timeout`],
//!    take every command with [`Contact::poll_command`] and execute them in order.
//! 2. Then (re)arm a single timer at [`Contact::poll_timeout`]; when it fires, call
//!    `handle_timeout(now, wall)`. Early or duplicate calls are harmless.
//! 3. Echo each command's [`OpId`] in the event that reports its result. Late events for
//!    operations the engine has moved on from return [`EventError::Stale`] and change nothing.
//! 4. After the caller hangs up, keep feeding events until [`Contact::is_finished`]: a flow
//!    may run `on: hangup` states (a webhook), and the report of a recording cut short by the
//!    hangup is still added to [`Contact::recordings`].
//! 5. Store [`Contact::path`], [`Contact::outcome`] and [`Contact::recordings`] with the
//!    call record.

#![warn(missing_docs)]

mod compile;
mod duration;
mod engine;
mod error;
mod hours;
mod model;
mod set;
mod speech;
mod template;
mod yaml;

#[doc = include_str!("../FLOWS.md")]
pub mod format {}

pub use compile::{
    ACTIONS, AnyName, Catalog, DEFAULT_TRANSFER_MUSIC, NameSet, QUEUE_POSITION_PROMPT,
    QUEUE_WAIT_PROMPT, READ_ONLY_VARS,
};
pub use engine::{
    Command, Contact, Event, FailReason, MAX_PATH_LEN, MAX_PROMPTS_PER_PLAY, MAX_STEPS_PER_INPUT,
    MAX_VARIABLES, OpId, Outcome, PathStep, RECORDING_FINISH_GRACE, Recording,
};
pub use error::{EventError, FlowError, LoadErrors, Problem};
pub use hours::BusinessHours;
/// The wall-clock type the engine takes (re-exported so drivers use the same `jiff`).
pub use jiff::Timestamp;
pub use model::{Dtmf, Flow};
pub use set::{FlowSet, compile_all, load_dir, load_file, load_str, prompts_in_dir};
pub use speech::{
    MAX_SPOKEN_NUMBER, duration_unit_prompts, number_prompts, speak_digits, speak_duration,
    speak_number,
};
