//! The sans-IO flow engine: one [`Contact`] per call, driven by events and timeouts, answering
//! with [`Command`]s.
//!
//! The engine never reads a clock, sleeps or does I/O. Every input carries `now` (monotonic,
//! for timers) and `wall` (a [`Timestamp`], for business hours and the call record). After each
//! input the driver drains [`Contact::poll_command`] until it returns `None`, executes the
//! commands in order, and arms one timer for [`Contact::poll_timeout`]; when it fires it calls
//! [`Contact::handle_timeout`]. Calling `handle_timeout` early or twice is harmless.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::compile::{QUEUE_POSITION_PROMPT, QUEUE_WAIT_PROMPT, READ_ONLY_VARS};
use crate::duration::{format_duration, parse_duration};
use crate::error::EventError;
use crate::model::{Action, Dtmf, Flow, Input, Key, PromptItem, StateId, Target};
use crate::speech::{MAX_SPOKEN_NUMBER, speak_digits, speak_duration, speak_number};
use crate::template::{MAX_VALUE_LEN, is_var_name, truncate};

/// How many states a contact may enter in reaction to one input before the engine decides the
/// flow loops (e.g. `set` → `branch` → `set`) and ends it with [`FailReason::StepLimit`].
pub const MAX_STEPS_PER_INPUT: u32 = 100;

/// How long the engine waits for `RecordingFinished` after it sent `StopRecord` before it
/// takes the `error` transition.
pub const RECORDING_FINISH_GRACE: Duration = Duration::from_secs(5);

/// Most entries kept in a contact's path; later states are counted but not stored.
pub const MAX_PATH_LEN: usize = 1000;

/// Most variables a contact holds; a webhook reply cannot grow it past this.
pub const MAX_VARIABLES: usize = 256;

/// Most prompts in one `Play` (a long variable said digit by digit is cut here).
pub const MAX_PROMPTS_PER_PLAY: usize = 64;

/// Most digits kept from barge-in on a `play` for the next `collect` or `menu`.
const MAX_TYPEAHEAD: usize = 16;

/// Identifies one asynchronous operation the engine started (a playback, a recording, a queue
/// entry, a webhook request, a transfer). The controller echoes it in the event that reports
/// the result, so a late event for an operation the engine has moved on from is recognised as
/// stale instead of being applied to the wrong thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the engine asks the controller to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Answer the call (200 OK). Sent once, before the first media action.
    Answer,
    /// Play `prompts` (names such as `welcome` or `digits/3`, without `.wav`) one after the
    /// other to the caller. Replaces whatever this contact was playing, without a
    /// `PlaybackFinished` for the replaced playback being needed. `looped`: start again at the
    /// end until stopped (music). `barge_in`: a digit will stop it — the engine sends
    /// `StopPlay` itself; the controller may use the hint to stop sooner.
    /// Report the end with [`Event::PlaybackFinished`].
    Play {
        /// Echo in `PlaybackFinished`.
        play: OpId,
        /// Prompt names.
        prompts: Vec<String>,
        /// Repeat until stopped.
        looped: bool,
        /// A digit interrupts it.
        barge_in: bool,
    },
    /// Stop that playback. A `PlaybackFinished` for it may follow or not; both are fine.
    StopPlay {
        /// The playback.
        play: OpId,
    },
    /// Play a beep (if `beep`) and record the caller, at most `max`, stopping early after
    /// `silence` of silence when given. Store it as a recording of `kind` (`voicemail`)
    /// linked to the contact; report with [`Event::RecordingFinished`] or
    /// [`Event::RecordingFailed`].
    Record {
        /// Echo in the result.
        record: OpId,
        /// Recording kind, e.g. `voicemail`.
        kind: String,
        /// Longest recording.
        max: Duration,
        /// Beep first.
        beep: bool,
        /// Stop after this much silence.
        silence: Option<Duration>,
    },
    /// Stop that recording (the caller pressed a stop digit or `max` passed); then report it
    /// with `RecordingFinished`. Stopping one already stopped must be harmless.
    StopRecord {
        /// The recording.
        record: OpId,
    },
    /// Put the contact in `queue` (`enqueue`, or `transfer` to a queue or an agent). The engine
    /// plays the greeting and music and applies the flow's `max_wait` itself. Queue events
    /// carry `entry`.
    Enqueue {
        /// Echo in queue events.
        entry: OpId,
        /// Queue id; `None` only with `agent` when the flow named no queue: the agent's first
        /// queue.
        queue: Option<String>,
        /// 0 (normal) to 100 (first).
        priority: i32,
        /// Offer the contact to this agent only (a `transfer` to an agent). An unknown or
        /// logged-out agent is reported as `NoAgents`.
        agent: Option<String>,
    },
    /// Take the contact out of the queue (it left for another reason than a queue event).
    Dequeue {
        /// The queue entry.
        entry: OpId,
    },
    /// Transfer the call to `uri` (`sip:`, `sips:` or `tel:`). Report with
    /// `TransferCompleted` or `TransferFailed`.
    Transfer {
        /// Echo in the result.
        transfer: OpId,
        /// Target URI.
        uri: String,
    },
    /// POST `data` as a JSON object of strings to `url`, giving up after `timeout`. Report
    /// with `WebhookReplied` (variables and/or an outcome from the JSON reply) or
    /// `WebhookFailed` (timeout, connection error, non-2xx, bad JSON).
    Webhook {
        /// Echo in the result.
        request: OpId,
        /// Where to POST.
        url: String,
        /// The contact's data, sorted by key.
        data: Vec<(String, String)>,
        /// Give up after this.
        timeout: Duration,
    },
    /// Hang up the call.
    Hangup,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Answer => write!(f, "Answer"),
            Command::Play {
                play,
                prompts,
                looped,
                barge_in,
            } => {
                write!(f, "Play {play} [{}]", prompts.join(", "))?;
                if *looped {
                    write!(f, " loop")?;
                }
                if *barge_in {
                    write!(f, " barge-in")?;
                }
                Ok(())
            }
            Command::StopPlay { play } => write!(f, "StopPlay {play}"),
            Command::Record {
                record,
                kind,
                max,
                beep,
                silence,
            } => {
                write!(f, "Record {record} {kind} max={}", format_duration(*max))?;
                if *beep {
                    write!(f, " beep")?;
                }
                if let Some(s) = silence {
                    write!(f, " silence={}", format_duration(*s))?;
                }
                Ok(())
            }
            Command::StopRecord { record } => write!(f, "StopRecord {record}"),
            Command::Enqueue {
                entry,
                queue,
                priority,
                agent,
            } => {
                let queue = queue.as_deref().unwrap_or("-");
                write!(f, "Enqueue {entry} {queue} priority={priority}")?;
                if let Some(a) = agent {
                    write!(f, " agent={a}")?;
                }
                Ok(())
            }
            Command::Dequeue { entry } => write!(f, "Dequeue {entry}"),
            Command::Transfer { transfer, uri } => write!(f, "Transfer {transfer} {uri}"),
            Command::Webhook {
                request,
                url,
                data,
                timeout,
            } => {
                write!(
                    f,
                    "Webhook {request} {url} timeout={} {{",
                    format_duration(*timeout)
                )?;
                for (i, (k, v)) in data.iter().enumerate() {
                    write!(f, "{}{k}={v:?}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, "}}")
            }
            Command::Hangup => write!(f, "Hangup"),
        }
    }
}

/// A stored recording, as reported by the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The recording's id in the store.
    pub id: String,
    /// Where the file is.
    pub path: String,
    /// How long it is.
    pub duration: Duration,
}

/// What the controller feeds back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A playback ended (or was stopped).
    PlaybackFinished {
        /// From `Play`.
        play: OpId,
    },
    /// The caller pressed a key (RFC 4733 or in-band).
    Digit(Dtmf),
    /// A recording was stored.
    RecordingFinished {
        /// From `Record`.
        record: OpId,
        /// The stored recording.
        recording: Recording,
    },
    /// A recording could not be made or stored.
    RecordingFailed {
        /// From `Record`.
        record: OpId,
        /// Why, for the call record.
        reason: String,
    },
    /// The webhook answered 2xx with a JSON object, e.g. `{"tier": "gold", "next": "vip"}`:
    /// the controller passes `next` (a string naming one of the state's outcomes) separately
    /// and every other string, number or boolean member as a variable (as text); members
    /// with other values are dropped. Names that are not identifiers or are read-only are
    /// ignored here.
    WebhookReplied {
        /// From `Webhook`.
        request: OpId,
        /// Variables to set.
        vars: Vec<(String, String)>,
        /// An outcome name from the state's `on:`.
        next: Option<String>,
    },
    /// The webhook failed (timeout, network, non-2xx, bad JSON).
    WebhookFailed {
        /// From `Webhook`.
        request: OpId,
        /// Why.
        reason: String,
    },
    /// ACD: the contact's place in line and, if known, the estimated wait.
    QueuePosition {
        /// From `Enqueue`.
        entry: OpId,
        /// 1 = next.
        position: u32,
        /// Estimated time until an agent answers.
        estimated_wait: Option<Duration>,
    },
    /// ACD: an agent answered; the controller has bridged the caller to the agent.
    AgentConnected {
        /// From `Enqueue`.
        entry: OpId,
        /// The agent's id.
        agent: String,
    },
    /// ACD: the queue's own max wait passed; the contact is out of the queue.
    MaxWait {
        /// From `Enqueue`.
        entry: OpId,
    },
    /// ACD: no agent is logged in to serve the queue; the contact is out of the queue.
    NoAgents {
        /// From `Enqueue`.
        entry: OpId,
    },
    /// ACD: the queue refused or lost the contact.
    QueueFailed {
        /// From `Enqueue`.
        entry: OpId,
        /// Why.
        reason: String,
    },
    /// The transfer succeeded; the call has left the flow.
    TransferCompleted {
        /// From `Transfer`.
        transfer: OpId,
    },
    /// The transfer failed.
    TransferFailed {
        /// From `Transfer`.
        transfer: OpId,
        /// Why.
        reason: String,
    },
    /// The caller hung up.
    Hangup,
}

impl Event {
    fn kind(&self) -> &'static str {
        match self {
            Event::PlaybackFinished { .. } => "PlaybackFinished",
            Event::Digit(_) => "Digit",
            Event::RecordingFinished { .. } => "RecordingFinished",
            Event::RecordingFailed { .. } => "RecordingFailed",
            Event::WebhookReplied { .. } => "WebhookReplied",
            Event::WebhookFailed { .. } => "WebhookFailed",
            Event::QueuePosition { .. } => "QueuePosition",
            Event::AgentConnected { .. } => "AgentConnected",
            Event::MaxWait { .. } => "MaxWait",
            Event::NoAgents { .. } => "NoAgents",
            Event::QueueFailed { .. } => "QueueFailed",
            Event::TransferCompleted { .. } => "TransferCompleted",
            Event::TransferFailed { .. } => "TransferFailed",
            Event::Hangup => "Hangup",
        }
    }
}

/// How a contact's flow ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The flow hung up (a `hangup` state or `next: hangup`).
    FlowHungUp,
    /// The caller hung up while the flow was in `state` (after any `on: hangup` states ran).
    CallerHungUp {
        /// Where the caller hung up.
        state: String,
    },
    /// An agent answered; the call continues outside the flow.
    ConnectedToAgent {
        /// The queue; empty for a transfer to an agent that named none.
        queue: String,
        /// The agent.
        agent: String,
    },
    /// The call was transferred.
    Transferred {
        /// The target URI.
        uri: String,
    },
    /// The flow could not go on in `state`; the engine hung up.
    Failed {
        /// Where.
        state: String,
        /// Why.
        reason: FailReason,
    },
}

/// Why a flow failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    /// More than [`MAX_STEPS_PER_INPUT`] states in reaction to one input: a loop.
    StepLimit,
    /// The state has no transition for what happened (e.g. an `error` without `on: error`).
    NoTransition {
        /// The transition that was needed.
        event: String,
        /// The error message, if an error caused it.
        detail: Option<String>,
    },
    /// A media action was reached after the caller hung up.
    MediaAfterHangup,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::FlowHungUp => write!(f, "flow hung up"),
            Outcome::CallerHungUp { state } => write!(f, "caller hung up in `{state}`"),
            Outcome::ConnectedToAgent { queue, agent } if queue.is_empty() => {
                write!(f, "connected to agent {agent}")
            }
            Outcome::ConnectedToAgent { queue, agent } => {
                write!(f, "connected to agent {agent} from queue {queue}")
            }
            Outcome::Transferred { uri } => write!(f, "transferred to {uri}"),
            Outcome::Failed { state, reason } => {
                write!(f, "failed in `{state}`: ")?;
                match reason {
                    FailReason::StepLimit => write!(
                        f,
                        "more than {MAX_STEPS_PER_INPUT} states without waiting for input (a loop)"
                    ),
                    FailReason::NoTransition { event, detail } => {
                        write!(f, "no `{event}` transition")?;
                        if let Some(d) = detail {
                            write!(f, " ({d})")?;
                        }
                        Ok(())
                    }
                    FailReason::MediaAfterHangup => write!(f, "media action after hangup"),
                }
            }
        }
    }
}

/// One entry of a contact's path through the flow, for the call record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStep {
    /// The state entered.
    pub state: String,
    /// When, on the monotonic clock.
    pub at: Instant,
    /// When, on the wall clock.
    pub wall: Timestamp,
}

/// The engine's timers, one slot each. When several are due at once they fire in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Enqueue: the flow's `max_wait`.
    MaxWait,
    /// Record: `max` passed; send `StopRecord`.
    RecordLimit,
    /// Record: `StopRecord` sent and no `RecordingFinished` yet.
    RecordFinish,
    /// Webhook: no reply in time.
    WebhookReply,
    /// Collect/menu: no first digit.
    FirstDigit,
    /// Collect: no next digit.
    InterDigit,
    /// Enqueue: time for the next position/wait announcement.
    Announce,
}

const TIMERS: [Timer; 7] = [
    Timer::MaxWait,
    Timer::RecordLimit,
    Timer::RecordFinish,
    Timer::WebhookReply,
    Timer::FirstDigit,
    Timer::InterDigit,
    Timer::Announce,
];

#[derive(Debug, Default, Clone)]
struct Timers([Option<Instant>; TIMERS.len()]);

impl Timers {
    fn slot(t: Timer) -> usize {
        t as usize
    }
    fn set(&mut self, t: Timer, now: Instant, after: Duration) {
        // A deadline past the end of Instant's range never comes; leave the slot empty.
        self.0[Self::slot(t)] = now.checked_add(after);
    }
    fn clear(&mut self, t: Timer) {
        self.0[Self::slot(t)] = None;
    }
    fn clear_all(&mut self) {
        self.0 = Default::default();
    }
    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
    fn due(&self, now: Instant) -> Option<Timer> {
        TIMERS
            .iter()
            .copied()
            .find(|t| self.0[Self::slot(*t)].is_some_and(|d| d <= now))
    }
}

/// Why a collect or menu attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Miss {
    NoInput,
    Invalid,
}

/// What the queue's caller hears right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sound {
    Greeting(OpId),
    Music(OpId),
    Announcement(OpId),
    Silence,
}

/// What the current state waits for. Each variant is named for the input that moves it on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wait {
    /// `play`: the end of the prompts (or a digit, with barge-in).
    PlaybackEnd { play: OpId, barge_in: bool },
    /// `collect`/`menu`: the end of the prompt (or a digit, with barge-in).
    PromptEnd { play: OpId, attempt: u32 },
    /// `collect`/`menu`: (more) digits, or the first/inter-digit timer.
    Digits { attempt: u32, digits: String },
    /// `enqueue`: queue events, a digit with a transition, or `max_wait`.
    Queue {
        entry: OpId,
        sound: Sound,
        position: Option<u32>,
        wait: Option<Duration>,
    },
    /// `record`: the recording's end (max, stop digit, silence, or the handler's report).
    RecordingEnd { record: OpId },
    /// `record`: `StopRecord` was sent; the handler's report.
    RecordingReport { record: OpId },
    /// `webhook`: the reply or the timer.
    WebhookReply { request: OpId },
    /// `transfer`: the result.
    TransferResult { transfer: OpId, uri: String },
    /// Nothing (between states, or ended).
    Nothing,
}

/// One call's run through a flow: the current state, variables, timers and the commands not
/// yet taken by the driver.
#[derive(Debug)]
pub struct Contact {
    flow: Arc<Flow>,
    state: StateId,
    wait: Wait,
    vars: BTreeMap<String, String>,
    timers: Timers,
    commands: VecDeque<Command>,
    path: Vec<PathStep>,
    states_entered: usize,
    recordings: Vec<Recording>,
    outcome: Option<Outcome>,
    answered: bool,
    hung_up: bool,
    hung_up_in: Option<String>,
    /// Resources the engine started and must stop when the state is left.
    playing: Option<OpId>,
    queued: Option<OpId>,
    recording: Option<OpId>,
    /// A recording stopped by the caller's hangup, whose report is still welcome.
    late_recording: Option<OpId>,
    typeahead: VecDeque<Dtmf>,
    next_op: u64,
    steps: u32,
}

impl Contact {
    /// Starts `flow` for a call from `caller` to `called`: sets the variables `caller`,
    /// `called`, `flow` and the flow's `vars`, enters the start state and queues the first
    /// commands.
    pub fn start(
        flow: Arc<Flow>,
        caller: &str,
        called: &str,
        now: Instant,
        wall: Timestamp,
    ) -> Contact {
        Contact::start_with_vars(flow, caller, called, std::iter::empty(), now, wall)
    }

    /// Like [`Contact::start`], with extra initial variables (e.g. from the route that chose
    /// the flow) applied after the flow's own `vars`. Read-only names (`caller`, `called`,
    /// `flow`) and names that are not identifiers are ignored.
    pub fn start_with_vars(
        flow: Arc<Flow>,
        caller: &str,
        called: &str,
        extra: impl IntoIterator<Item = (String, String)>,
        now: Instant,
        wall: Timestamp,
    ) -> Contact {
        let mut vars = BTreeMap::new();
        for (k, v) in [
            ("caller", caller),
            ("called", called),
            ("flow", flow.name()),
        ] {
            let mut v = v.to_string();
            truncate(&mut v, MAX_VALUE_LEN);
            vars.insert(k.to_string(), v);
        }
        for (name, template) in &flow.vars {
            let value = template.render(&vars);
            vars.insert(name.clone(), value);
        }
        for (name, mut value) in extra {
            if is_var_name(&name)
                && !READ_ONLY_VARS.contains(&name.as_str())
                && vars.len() < MAX_VARIABLES
            {
                truncate(&mut value, MAX_VALUE_LEN);
                vars.insert(name, value);
            }
        }
        let start = flow.start;
        let mut c = Contact {
            flow,
            state: start,
            wait: Wait::Nothing,
            vars,
            timers: Timers::default(),
            commands: VecDeque::new(),
            path: Vec::new(),
            states_entered: 0,
            recordings: Vec::new(),
            outcome: None,
            answered: false,
            hung_up: false,
            hung_up_in: None,
            playing: None,
            queued: None,
            recording: None,
            late_recording: None,
            typeahead: VecDeque::new(),
            next_op: 1,
            steps: 0,
        };
        c.goto(Target::State(start), now, wall);
        c
    }

    /// The next command to execute, in order. Drain after every input.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// When [`Contact::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        self.timers.next()
    }

    /// Fires every timer due at `now`. Early or repeated calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant, wall: Timestamp) {
        self.steps = 0;
        // Each firing clears its slot and any re-armed timer lies strictly after `now`
        // (the compiler refuses zero durations), so this ends; the bound is a second guard.
        for _ in 0..(TIMERS.len() * 2) {
            if self.outcome.is_some() {
                return;
            }
            let Some(timer) = self.timers.due(now) else {
                return;
            };
            self.timers.clear(timer);
            self.on_timer(timer, now, wall);
        }
    }

    /// Applies one event. On `Err` nothing changed.
    pub fn handle_event(
        &mut self,
        now: Instant,
        wall: Timestamp,
        event: Event,
    ) -> Result<(), EventError> {
        self.steps = 0;
        if self.outcome.is_some() {
            // The report of a recording that the caller's hangup cut short still belongs to
            // the call record.
            return match event {
                Event::RecordingFinished { record, recording }
                    if self.late_recording == Some(record) =>
                {
                    self.late_recording = None;
                    self.recordings.push(recording);
                    Ok(())
                }
                Event::RecordingFailed { record, .. } if self.late_recording == Some(record) => {
                    self.late_recording = None;
                    Ok(())
                }
                _ => Err(EventError::Finished),
            };
        }
        match event {
            Event::Hangup => self.on_hangup(now, wall),
            Event::Digit(d) => {
                self.on_digit(d, now, wall);
                Ok(())
            }
            Event::PlaybackFinished { play } => self.on_playback_finished(play, now, wall),
            Event::RecordingFinished { record, recording } => {
                if self.late_recording == Some(record) {
                    self.late_recording = None;
                    self.recordings.push(recording);
                    return Ok(());
                }
                match self.wait {
                    Wait::RecordingEnd { record: r } | Wait::RecordingReport { record: r }
                        if r == record =>
                    {
                        self.recording = None;
                        self.set_var("recording_id", &recording.id);
                        self.set_var("recording_path", &recording.path);
                        self.set_var(
                            "recording_seconds",
                            &recording.duration.as_secs().to_string(),
                        );
                        self.recordings.push(recording);
                        let key = if self.hung_up { Key::Hangup } else { Key::Done };
                        self.follow(&[key], None, now, wall);
                        Ok(())
                    }
                    _ => Err(EventError::Stale(record)),
                }
            }
            Event::RecordingFailed { record, reason } => {
                if self.late_recording == Some(record) {
                    self.late_recording = None;
                    return Ok(());
                }
                match self.wait {
                    Wait::RecordingEnd { record: r } | Wait::RecordingReport { record: r }
                        if r == record =>
                    {
                        self.recording = None;
                        let key = if self.hung_up {
                            Key::Hangup
                        } else {
                            Key::Error
                        };
                        self.follow(&[key], Some(reason), now, wall);
                        Ok(())
                    }
                    _ => Err(EventError::Stale(record)),
                }
            }
            Event::WebhookReplied {
                request,
                vars,
                next,
            } => match self.wait {
                Wait::WebhookReply { request: r } if r == request => {
                    for (k, v) in vars {
                        if is_var_name(&k) && !READ_ONLY_VARS.contains(&k.as_str()) {
                            self.set_var(&k, &v);
                        }
                    }
                    match next {
                        None => self.follow(&[Key::Done], None, now, wall),
                        Some(label) => {
                            let key = Key::Outcome(label.clone());
                            if self.current_on(&key).is_some() {
                                self.follow(&[key], None, now, wall);
                            } else {
                                let detail =
                                    format!("the webhook picked unknown outcome `{label}`");
                                self.follow(&[Key::Error], Some(detail), now, wall);
                            }
                        }
                    }
                    Ok(())
                }
                _ => Err(EventError::Stale(request)),
            },
            Event::WebhookFailed { request, reason } => match self.wait {
                Wait::WebhookReply { request: r } if r == request => {
                    self.follow(&[Key::Error], Some(reason), now, wall);
                    Ok(())
                }
                _ => Err(EventError::Stale(request)),
            },
            Event::QueuePosition {
                entry,
                position,
                estimated_wait,
            } => match &mut self.wait {
                Wait::Queue {
                    entry: e,
                    position: p,
                    wait: w,
                    ..
                } if *e == entry => {
                    *p = Some(position);
                    *w = estimated_wait;
                    self.set_var("queue_position", &position.to_string());
                    match estimated_wait {
                        Some(d) => self.set_var("queue_wait_seconds", &d.as_secs().to_string()),
                        None => {
                            self.vars.remove("queue_wait_seconds");
                        }
                    }
                    Ok(())
                }
                _ => Err(EventError::Stale(entry)),
            },
            Event::AgentConnected { entry, agent } => match self.wait {
                Wait::Queue { entry: e, .. } if e == entry => {
                    self.queued = None;
                    self.leave();
                    self.set_var("agent", &agent);
                    let queue = match &self.flow.state(self.state).action {
                        Action::Enqueue(q) => q.queue.clone().unwrap_or_default(),
                        _ => String::new(),
                    };
                    self.outcome = Some(Outcome::ConnectedToAgent { queue, agent });
                    Ok(())
                }
                _ => Err(EventError::Stale(entry)),
            },
            Event::MaxWait { entry } => {
                self.queue_exit(entry, &[Key::MaxWait, Key::Error], None, now, wall)
            }
            Event::NoAgents { entry } => {
                self.queue_exit(entry, &[Key::NoAgents, Key::Error], None, now, wall)
            }
            Event::QueueFailed { entry, reason } => {
                self.queue_exit(entry, &[Key::Error], Some(reason), now, wall)
            }
            Event::TransferCompleted { transfer } => match &self.wait {
                Wait::TransferResult { transfer: t, uri } if *t == transfer => {
                    let uri = uri.clone();
                    self.leave();
                    self.outcome = Some(Outcome::Transferred { uri });
                    Ok(())
                }
                _ => Err(EventError::Stale(transfer)),
            },
            Event::TransferFailed { transfer, reason } => match self.wait {
                Wait::TransferResult { transfer: t, .. } if t == transfer => {
                    self.follow(&[Key::Error], Some(reason), now, wall);
                    Ok(())
                }
                _ => Err(EventError::Stale(transfer)),
            },
        }
    }

    /// The flow this contact runs.
    pub fn flow(&self) -> &Arc<Flow> {
        &self.flow
    }

    /// The current state's name (the last one, once finished).
    pub fn state_name(&self) -> &str {
        &self.flow.state(self.state).name
    }

    /// The variables, sorted by name.
    pub fn variables(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// The states entered so far, with times (at most [`MAX_PATH_LEN`]).
    pub fn path(&self) -> &[PathStep] {
        &self.path
    }

    /// How many states were entered, including any beyond [`MAX_PATH_LEN`].
    pub fn states_entered(&self) -> usize {
        self.states_entered
    }

    /// The recordings made for this contact.
    pub fn recordings(&self) -> &[Recording] {
        &self.recordings
    }

    /// How the flow ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Whether the flow has ended. A contact whose caller hung up may still run `on: hangup`
    /// states (e.g. a webhook); keep feeding it until this is true.
    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// Whether a recording stopped by the caller's hangup has not been reported yet.
    pub fn awaits_recording(&self) -> Option<OpId> {
        self.late_recording
    }

    // ----- internals -----------------------------------------------------------------------

    fn op(&mut self) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        id
    }

    fn push(&mut self, c: Command) {
        self.commands.push_back(c);
    }

    fn set_var(&mut self, name: &str, value: &str) {
        if !self.vars.contains_key(name) && self.vars.len() >= MAX_VARIABLES {
            return;
        }
        let mut v = value.to_string();
        truncate(&mut v, MAX_VALUE_LEN);
        self.vars.insert(name.to_string(), v);
    }

    fn current_on(&self, key: &Key) -> Option<Target> {
        self.flow.state(self.state).on.get(key).copied()
    }

    fn ensure_answered(&mut self) {
        if !self.answered {
            self.answered = true;
            self.push(Command::Answer);
        }
    }

    fn play(&mut self, prompts: Vec<String>, looped: bool, barge_in: bool) -> OpId {
        let play = self.op();
        self.playing = Some(play);
        self.push(Command::Play {
            play,
            prompts,
            looped,
            barge_in,
        });
        play
    }

    fn stop_play(&mut self) {
        if let Some(play) = self.playing.take() {
            self.push(Command::StopPlay { play });
        }
    }

    /// Releases what the current state started: timers, playback, queue entry, recording.
    fn leave(&mut self) {
        self.timers.clear_all();
        self.stop_play();
        if let Some(entry) = self.queued.take() {
            self.push(Command::Dequeue { entry });
        }
        if let Some(record) = self.recording.take() {
            self.push(Command::StopRecord { record });
        }
        self.wait = Wait::Nothing;
    }

    fn fail(&mut self, reason: FailReason) {
        self.leave();
        if !self.hung_up {
            self.push(Command::Hangup);
        }
        self.outcome = Some(Outcome::Failed {
            state: self.flow.state(self.state).name.clone(),
            reason,
        });
    }

    /// Leaves the current state by the first of `keys` it has a transition for.
    fn follow(&mut self, keys: &[Key], detail: Option<String>, now: Instant, wall: Timestamp) {
        self.leave();
        if let Some(d) = &detail {
            self.set_var("error", d);
        }
        match keys.iter().find_map(|k| self.current_on(k)) {
            Some(target) => self.goto(target, now, wall),
            None => {
                let event = keys.first().map(Key::name).unwrap_or_default();
                self.fail(FailReason::NoTransition { event, detail });
            }
        }
    }

    /// Enters `target` and keeps going through states that finish at once (answer, set,
    /// branch, hours) until one waits for input, the flow ends, or the step limit trips.
    fn goto(&mut self, target: Target, now: Instant, wall: Timestamp) {
        let mut next = Some(target);
        while let Some(target) = next.take() {
            match target {
                Target::Hangup => {
                    self.leave();
                    self.finish_hangup();
                }
                Target::State(id) => {
                    self.steps += 1;
                    if self.steps > MAX_STEPS_PER_INPUT {
                        self.fail(FailReason::StepLimit);
                        return;
                    }
                    next = self.enter(id, now, wall);
                }
            }
        }
    }

    fn finish_hangup(&mut self) {
        if self.hung_up {
            let state = self.hung_up_in.clone().unwrap_or_default();
            self.outcome = Some(Outcome::CallerHungUp { state });
        } else {
            self.push(Command::Hangup);
            self.outcome = Some(Outcome::FlowHungUp);
        }
    }

    /// Runs a state's action. Returns where to go at once, or `None` when the state waits
    /// (or the flow ended).
    fn enter(&mut self, id: StateId, now: Instant, wall: Timestamp) -> Option<Target> {
        self.state = id;
        self.wait = Wait::Nothing;
        self.states_entered += 1;
        let flow = Arc::clone(&self.flow);
        let state = flow.state(id);
        if self.path.len() < MAX_PATH_LEN {
            self.path.push(PathStep {
                state: state.name.clone(),
                at: now,
                wall,
            });
        }
        if self.hung_up && state.action.needs_caller() {
            self.fail(FailReason::MediaAfterHangup);
            return None;
        }
        let keeps_typeahead = matches!(
            state.action,
            Action::Play(_)
                | Action::Collect(_)
                | Action::Menu(_)
                | Action::Answer
                | Action::Set(_)
                | Action::Branch(_)
                | Action::Hours(_)
        );
        if !keeps_typeahead {
            self.typeahead.clear();
        }
        let done = |c: &mut Contact, key: Key| -> Option<Target> {
            let t = c.current_on(&key);
            if t.is_none() {
                c.fail(FailReason::NoTransition {
                    event: key.name(),
                    detail: None,
                });
            }
            t
        };
        match &state.action {
            Action::Answer => {
                self.ensure_answered();
                done(self, Key::Done)
            }
            Action::Set(list) => {
                for (name, template) in list {
                    let value = template.render(&self.vars);
                    self.set_var(name, &value);
                }
                done(self, Key::Done)
            }
            Action::Branch(rules) => {
                let hit = rules
                    .iter()
                    .find(|r| r.test.matches(self.vars.get(&r.var).map(String::as_str)));
                match hit {
                    Some(rule) => Some(rule.goto),
                    None => done(self, Key::Done),
                }
            }
            Action::Hours(hours) => {
                let key = if hours.is_open(wall) {
                    Key::Open
                } else {
                    Key::Closed
                };
                done(self, key)
            }
            Action::Hangup => {
                self.finish_hangup();
                None
            }
            Action::Play(p) => {
                self.ensure_answered();
                let prompts = render_prompts(&p.prompts, &self.vars);
                if prompts.is_empty() {
                    // Everything in the list rendered to nothing (e.g. an unset number).
                    return done(self, Key::Done);
                }
                let play = self.play(prompts, false, p.barge_in);
                self.wait = Wait::PlaybackEnd {
                    play,
                    barge_in: p.barge_in,
                };
                None
            }
            Action::Collect(input) | Action::Menu(input) => {
                self.ensure_answered();
                self.start_attempt(input, 0, None, now, wall);
                None
            }
            Action::Enqueue(e) => {
                self.ensure_answered();
                let entry = self.op();
                self.queued = Some(entry);
                let agent = e.agent.as_ref().map(|t| t.render(&self.vars));
                self.push(Command::Enqueue {
                    entry,
                    queue: e.queue.clone(),
                    priority: e.priority,
                    agent,
                });
                let greeting = render_prompts(&e.greeting, &self.vars);
                let sound = if !greeting.is_empty() {
                    Sound::Greeting(self.play(greeting, false, false))
                } else {
                    self.music(e.music.as_deref())
                };
                self.wait = Wait::Queue {
                    entry,
                    sound,
                    position: None,
                    wait: None,
                };
                if let Some(max) = e.max_wait {
                    self.timers.set(Timer::MaxWait, now, max);
                }
                if let Some(a) = e.announce {
                    self.timers.set(Timer::Announce, now, a.every);
                }
                None
            }
            Action::Record(r) => {
                self.ensure_answered();
                let record = self.op();
                self.recording = Some(record);
                self.push(Command::Record {
                    record,
                    kind: r.kind.clone(),
                    max: r.max,
                    beep: r.beep,
                    silence: r.silence,
                });
                self.timers.set(Timer::RecordLimit, now, r.max);
                self.wait = Wait::RecordingEnd { record };
                None
            }
            Action::Transfer(t) => {
                let uri = t.uri.render(&self.vars);
                let scheme_ok = ["sip:", "sips:", "tel:"]
                    .iter()
                    .any(|s| uri.to_ascii_lowercase().starts_with(s));
                if !scheme_ok || uri.chars().any(char::is_control) {
                    // Only a variable can make it so; the compiler checked the literal part.
                    self.set_var("error", &format!("`{uri}` is not a SIP or tel URI"));
                    return match self.current_on(&Key::Error) {
                        Some(t) => Some(t),
                        None => {
                            self.fail(FailReason::NoTransition {
                                event: "error".into(),
                                detail: Some(format!("`{uri}` is not a SIP or tel URI")),
                            });
                            None
                        }
                    };
                }
                let transfer = self.op();
                self.push(Command::Transfer {
                    transfer,
                    uri: uri.clone(),
                });
                self.wait = Wait::TransferResult { transfer, uri };
                None
            }
            Action::Webhook(w) => {
                let request = self.op();
                let mut data: BTreeMap<String, String> = self.vars.clone();
                data.insert("state".into(), state.name.clone());
                for (k, t) in &w.data {
                    data.insert(k.clone(), t.render(&self.vars));
                }
                self.push(Command::Webhook {
                    request,
                    url: w.url.render(&self.vars),
                    data: data.into_iter().collect(),
                    timeout: w.timeout,
                });
                self.timers.set(Timer::WebhookReply, now, w.timeout);
                self.wait = Wait::WebhookReply { request };
                None
            }
        }
    }

    fn music(&mut self, music: Option<&str>) -> Sound {
        match music {
            Some(m) => Sound::Music(self.play(vec![m.to_string()], true, false)),
            None => Sound::Silence,
        }
    }

    /// Starts attempt `attempt` of a collect/menu: the (re)prompt, or straight to digits.
    fn start_attempt(
        &mut self,
        input: &Input,
        attempt: u32,
        miss: Option<Miss>,
        now: Instant,
        wall: Timestamp,
    ) {
        let mut prompts = Vec::new();
        match miss {
            Some(Miss::Invalid) => {
                prompts.extend(render_prompts(&input.invalid_prompt, &self.vars))
            }
            Some(Miss::NoInput) => {
                prompts.extend(render_prompts(&input.no_input_prompt, &self.vars))
            }
            None => {}
        }
        prompts.extend(render_prompts(&input.prompt, &self.vars));
        if attempt > 0 {
            self.typeahead.clear();
        }
        if input.barge_in && !self.typeahead.is_empty() {
            self.await_digits(attempt, String::new(), now);
            let state = self.state;
            while let Some(d) = self.typeahead.pop_front() {
                if self.state != state
                    || !matches!(self.wait, Wait::Digits { .. })
                    || self.outcome.is_some()
                {
                    break;
                }
                self.digit_in_input(d, now, wall);
            }
            return;
        }
        self.typeahead.clear();
        if prompts.is_empty() {
            self.await_digits(attempt, String::new(), now);
        } else {
            let play = self.play(prompts, false, input.barge_in);
            self.wait = Wait::PromptEnd { play, attempt };
        }
    }

    fn await_digits(&mut self, attempt: u32, digits: String, now: Instant) {
        let Some(input) = self.input() else { return };
        let (first, inter) = (input.first_timeout, input.inter_timeout);
        if digits.is_empty() {
            self.timers.set(Timer::FirstDigit, now, first);
            self.timers.clear(Timer::InterDigit);
        } else {
            self.timers.clear(Timer::FirstDigit);
            self.timers.set(Timer::InterDigit, now, inter);
        }
        self.wait = Wait::Digits { attempt, digits };
    }

    fn input(&self) -> Option<&Input> {
        match &self.flow.state(self.state).action {
            Action::Collect(i) | Action::Menu(i) => Some(i),
            _ => None,
        }
    }

    fn is_menu(&self) -> bool {
        matches!(self.flow.state(self.state).action, Action::Menu(_))
    }

    fn on_digit(&mut self, d: Dtmf, now: Instant, wall: Timestamp) {
        match self.wait.clone() {
            Wait::PlaybackEnd { barge_in: true, .. } => {
                if self.typeahead.len() < MAX_TYPEAHEAD {
                    self.typeahead.push_back(d);
                }
                self.follow(&[Key::Done], None, now, wall);
            }
            Wait::PromptEnd { attempt, .. } if self.input().is_some_and(|i| i.barge_in) => {
                self.stop_play();
                self.await_digits(attempt, String::new(), now);
                self.digit_in_input(d, now, wall);
            }
            Wait::Digits { .. } => self.digit_in_input(d, now, wall),
            Wait::Queue { .. } if self.current_on(&Key::Digit(d)).is_some() => {
                self.follow(&[Key::Digit(d)], None, now, wall);
            }
            Wait::RecordingEnd { record } => {
                let stops = matches!(&self.flow.state(self.state).action, Action::Record(r) if r.stop_digits.contains(&d));
                if stops {
                    self.stop_recording(record, now);
                }
            }
            _ => {}
        }
    }

    fn stop_recording(&mut self, record: OpId, now: Instant) {
        self.recording = None;
        self.push(Command::StopRecord { record });
        self.timers.clear(Timer::RecordLimit);
        self.timers
            .set(Timer::RecordFinish, now, RECORDING_FINISH_GRACE);
        self.wait = Wait::RecordingReport { record };
    }

    /// A digit while a collect/menu waits for digits.
    fn digit_in_input(&mut self, d: Dtmf, now: Instant, wall: Timestamp) {
        let Wait::Digits {
            attempt,
            mut digits,
        } = self.wait.clone()
        else {
            return;
        };
        let Some(input) = self.input() else { return };
        if self.is_menu() {
            if self.current_on(&Key::Digit(d)).is_some() {
                self.set_var("digits", &d.to_string());
                self.follow(&[Key::Digit(d)], None, now, wall);
            } else {
                self.miss(attempt, Miss::Invalid, now, wall);
            }
            return;
        }
        if input.terminator == Some(d) {
            self.finish_collect(attempt, digits, Miss::Invalid, now, wall);
            return;
        }
        digits.push(d.as_char());
        if digits.len() >= input.max_digits {
            self.finish_collect(attempt, digits, Miss::Invalid, now, wall);
        } else {
            self.await_digits(attempt, digits, now);
        }
    }

    /// Ends a collect attempt with `digits`; `empty` says what an empty result counts as.
    fn finish_collect(
        &mut self,
        attempt: u32,
        digits: String,
        empty: Miss,
        now: Instant,
        wall: Timestamp,
    ) {
        let Some(input) = self.input() else { return };
        if digits.is_empty() {
            self.miss(attempt, empty, now, wall);
        } else if digits.len() < input.min_digits {
            self.miss(attempt, Miss::Invalid, now, wall);
        } else {
            let into = input.into.clone();
            self.set_var(&into, &digits);
            self.follow(&[Key::Done], None, now, wall);
        }
    }

    fn miss(&mut self, attempt: u32, miss: Miss, now: Instant, wall: Timestamp) {
        let flow = Arc::clone(&self.flow);
        let Some(input) = (match &flow.state(self.state).action {
            Action::Collect(i) | Action::Menu(i) => Some(i),
            _ => None,
        }) else {
            return;
        };
        self.timers.clear_all();
        self.stop_play();
        let next = attempt + 1;
        if next > input.retries {
            let specific = match miss {
                Miss::NoInput => Key::Timeout,
                Miss::Invalid => Key::Invalid,
            };
            self.follow(&[specific, Key::Failed], None, now, wall);
        } else {
            self.start_attempt(input, next, Some(miss), now, wall);
        }
    }

    fn on_playback_finished(
        &mut self,
        play: OpId,
        now: Instant,
        wall: Timestamp,
    ) -> Result<(), EventError> {
        if self.playing != Some(play) {
            return Err(EventError::Stale(play));
        }
        self.playing = None;
        match self.wait.clone() {
            Wait::PlaybackEnd { play: p, .. } if p == play => {
                self.follow(&[Key::Done], None, now, wall);
            }
            Wait::PromptEnd { play: p, attempt } if p == play => {
                self.await_digits(attempt, String::new(), now);
            }
            Wait::Queue {
                entry,
                sound,
                position,
                wait,
            } => {
                let music = match &self.flow.state(self.state).action {
                    Action::Enqueue(e) => e.music.clone(),
                    _ => None,
                };
                let sound = match sound {
                    Sound::Greeting(p) | Sound::Announcement(p) | Sound::Music(p) if p == play => {
                        self.music(music.as_deref())
                    }
                    other => other,
                };
                self.wait = Wait::Queue {
                    entry,
                    sound,
                    position,
                    wait,
                };
            }
            _ => {}
        }
        Ok(())
    }

    fn queue_exit(
        &mut self,
        entry: OpId,
        keys: &[Key],
        detail: Option<String>,
        now: Instant,
        wall: Timestamp,
    ) -> Result<(), EventError> {
        match self.wait {
            Wait::Queue { entry: e, .. } if e == entry => {
                // The ACD has already taken the contact out of the queue.
                self.queued = None;
                self.follow(keys, detail, now, wall);
                Ok(())
            }
            _ => Err(EventError::Stale(entry)),
        }
    }

    fn on_hangup(&mut self, now: Instant, wall: Timestamp) -> Result<(), EventError> {
        if self.hung_up {
            return Err(EventError::Unexpected {
                state: self.state_name().to_string(),
                event: Event::Hangup.kind(),
            });
        }
        self.hung_up = true;
        self.hung_up_in = Some(self.state_name().to_string());
        // The media is gone: nothing to stop playing. A recording in progress is stopped so
        // that the controller stores what was said; its report is still accepted.
        self.playing = None;
        self.typeahead.clear();
        let recording = match self.wait {
            Wait::RecordingEnd { record } | Wait::RecordingReport { record } => Some(record),
            _ => None,
        };
        if let Some(record) = recording {
            if self.current_on(&Key::Hangup).is_some() {
                // The `on: hangup` states run once the recording is reported, so that they
                // see `recording_id` (a voicemail notification, typically).
                if matches!(self.wait, Wait::RecordingEnd { .. }) {
                    self.stop_recording(record, now);
                }
                return Ok(());
            }
            self.late_recording = Some(record);
        }
        match self.current_on(&Key::Hangup) {
            Some(target) => {
                self.leave();
                self.goto(target, now, wall);
            }
            None => {
                self.leave();
                self.finish_hangup();
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, now: Instant, wall: Timestamp) {
        match (timer, self.wait.clone()) {
            (Timer::MaxWait, Wait::Queue { .. }) => {
                self.follow(&[Key::MaxWait], None, now, wall);
            }
            (
                Timer::Announce,
                Wait::Queue {
                    entry,
                    sound,
                    position,
                    wait,
                },
            ) => {
                let Action::Enqueue(e) = &self.flow.state(self.state).action else {
                    return;
                };
                let Some(a) = e.announce else { return };
                self.timers.set(Timer::Announce, now, a.every);
                if !matches!(sound, Sound::Music(_) | Sound::Silence) {
                    return;
                }
                let mut prompts = Vec::new();
                if a.position
                    && let Some(p) = position
                {
                    prompts.push(QUEUE_POSITION_PROMPT.to_string());
                    prompts.extend(
                        speak_number(u64::from(p)).unwrap_or_else(|| speak_digits(&p.to_string())),
                    );
                }
                if a.wait
                    && let Some(w) = wait
                {
                    prompts.push(QUEUE_WAIT_PROMPT.to_string());
                    prompts.extend(speak_duration(w));
                }
                if !prompts.is_empty() {
                    let play = self.play(prompts, false, false);
                    self.wait = Wait::Queue {
                        entry,
                        sound: Sound::Announcement(play),
                        position,
                        wait,
                    };
                }
            }
            (Timer::RecordLimit, Wait::RecordingEnd { record }) => self.stop_recording(record, now),
            (Timer::RecordFinish, Wait::RecordingReport { record }) => {
                if self.hung_up {
                    // Still welcome in the call record if it comes after all.
                    self.late_recording = Some(record);
                }
                let key = if self.hung_up {
                    Key::Hangup
                } else {
                    Key::Error
                };
                self.follow(
                    &[key],
                    Some("the recording was not reported in time".into()),
                    now,
                    wall,
                );
            }
            (Timer::WebhookReply, Wait::WebhookReply { .. }) => {
                self.follow(
                    &[Key::Error],
                    Some("the webhook did not answer in time".into()),
                    now,
                    wall,
                );
            }
            (Timer::FirstDigit, Wait::Digits { attempt, .. }) => {
                self.miss(attempt, Miss::NoInput, now, wall);
            }
            (Timer::InterDigit, Wait::Digits { attempt, digits }) => {
                self.finish_collect(attempt, digits, Miss::NoInput, now, wall);
            }
            // A timer left from a state already left: `leave` clears them, so this is only
            // reachable through an early call; nothing to do.
            _ => {}
        }
    }
}

/// A duration value to speak: whole seconds (`150`) or flow syntax (`2m30s`).
pub(crate) fn parse_spoken_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<u64>().ok().map(Duration::from_secs);
    }
    parse_duration(t).ok()
}

/// Turns a prompt list into prompt names, speaking numbers, durations and digits. Items whose
/// value is not a number (an unset variable) say nothing.
fn render_prompts(items: &[PromptItem], vars: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for item in items {
        match item {
            PromptItem::Name(n) => out.push(n.clone()),
            PromptItem::Number(t) => {
                let value = t.render(vars);
                if let Ok(n) = value.trim().parse::<u64>() {
                    if n <= MAX_SPOKEN_NUMBER {
                        out.extend(speak_number(n).unwrap_or_default());
                    } else {
                        out.extend(speak_digits(&value));
                    }
                }
            }
            PromptItem::Duration(t) => {
                if let Some(d) = parse_spoken_duration(&t.render(vars)) {
                    out.extend(speak_duration(d));
                }
            }
            PromptItem::Digits(t) => out.extend(speak_digits(&t.render(vars))),
        }
        if out.len() >= MAX_PROMPTS_PER_PLAY {
            out.truncate(MAX_PROMPTS_PER_PLAY);
            break;
        }
    }
    out
}
