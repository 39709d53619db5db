//! A compiled flow: states resolved to indexes, durations parsed, templates and regexes
//! compiled. Built only by the compiler, so every `Flow` has passed validation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use regex::Regex;

use crate::hours::BusinessHours;
use crate::template::Template;

/// One DTMF key: `0`–`9`, `*`, `#`, `A`–`D`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dtmf(char);

impl Dtmf {
    /// The key for `c`, if `c` is a DTMF key (`a`–`d` are taken as `A`–`D`).
    pub fn new(c: char) -> Option<Dtmf> {
        let c = c.to_ascii_uppercase();
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(Dtmf(c))
    }

    /// The key as a character.
    pub fn as_char(self) -> char {
        self.0
    }
}

impl TryFrom<char> for Dtmf {
    type Error = crate::EventError;
    fn try_from(c: char) -> Result<Dtmf, Self::Error> {
        Dtmf::new(c).ok_or(crate::EventError::BadDigit(c))
    }
}

impl fmt::Display for Dtmf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A validated, ready-to-run flow. Cheap to share: contacts hold it in an `Arc`, so a reload
/// never changes the flow under a call in progress.
#[derive(Debug)]
pub struct Flow {
    pub(crate) name: String,
    /// Where the name was given (`name:`), or line 1 when it comes from the file name.
    pub(crate) name_loc: crate::yaml::Loc,
    pub(crate) file: String,
    pub(crate) start: StateId,
    pub(crate) states: Vec<State>,
    pub(crate) vars: Vec<(String, Template)>,
}

impl Flow {
    /// The flow's name (its `name:` key, or the file name without extension).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it was loaded from, as given to the loader.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The start state's name.
    pub fn start(&self) -> &str {
        &self.states[self.start.index()].name
    }

    /// The state names, in file order.
    pub fn state_names(&self) -> impl Iterator<Item = &str> {
        self.states.iter().map(|s| s.name.as_str())
    }

    /// The queue ids the flow enqueues into.
    pub fn queues(&self) -> BTreeSet<&str> {
        self.states
            .iter()
            .filter_map(|s| match &s.action {
                Action::Enqueue(e) => e.queue.as_deref(),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn state(&self, id: StateId) -> &State {
        &self.states[id.index()]
    }
}

/// Index of a state in [`Flow::states`]. Only the compiler makes them, from the flow's own
/// state list, so indexing with one never goes out of bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StateId(pub(crate) u32);

impl StateId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug)]
pub(crate) struct State {
    pub name: String,
    pub action: Action,
    pub on: BTreeMap<Key, Target>,
}

/// What a transition is taken on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Key {
    /// The action finished normally (`next:`).
    Done,
    /// Collect/menu: the retries are used up.
    Failed,
    /// Collect/menu: the last attempt got no input.
    Timeout,
    /// Collect/menu: the last attempt got invalid input.
    Invalid,
    /// Enqueue, record, transfer, webhook: something went wrong.
    Error,
    /// Enqueue: waited too long.
    MaxWait,
    /// Enqueue: the queue has no agents.
    NoAgents,
    /// Hours: open.
    Open,
    /// Hours: closed.
    Closed,
    /// The caller hung up.
    Hangup,
    /// Menu/enqueue: a key was pressed.
    Digit(Dtmf),
    /// Webhook: the reply picked this outcome.
    Outcome(String),
}

impl Key {
    pub(crate) fn name(&self) -> String {
        match self {
            Key::Done => "next".into(),
            Key::Failed => "failed".into(),
            Key::Timeout => "timeout".into(),
            Key::Invalid => "invalid".into(),
            Key::Error => "error".into(),
            Key::MaxWait => "max_wait".into(),
            Key::NoAgents => "no_agents".into(),
            Key::Open => "open".into(),
            Key::Closed => "closed".into(),
            Key::Hangup => "hangup".into(),
            Key::Digit(d) => d.to_string(),
            Key::Outcome(o) => o.clone(),
        }
    }
}

/// Where a transition goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    State(StateId),
    /// `next: hangup`: end the call.
    Hangup,
}

#[derive(Debug)]
pub(crate) enum Action {
    Answer,
    Play(Play),
    Collect(Input),
    Menu(Input),
    Enqueue(Enqueue),
    Record(Record),
    Transfer(Transfer),
    Set(Vec<(String, Template)>),
    Branch(Vec<Rule>),
    Hours(BusinessHours),
    Webhook(Webhook),
    Hangup,
}

impl Action {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Action::Answer => "answer",
            Action::Play(_) => "play",
            Action::Collect(_) => "collect",
            Action::Menu(_) => "menu",
            Action::Enqueue(e) if e.transfer => "transfer",
            Action::Enqueue(_) => "enqueue",
            Action::Record(_) => "record",
            Action::Transfer(_) => "transfer",
            Action::Set(_) => "set",
            Action::Branch(_) => "branch",
            Action::Hours(_) => "hours",
            Action::Webhook(_) => "webhook",
            Action::Hangup => "hangup",
        }
    }

    /// Whether the action needs the caller's media (and so cannot run after a hangup).
    pub(crate) fn needs_caller(&self) -> bool {
        matches!(
            self,
            Action::Answer
                | Action::Play(_)
                | Action::Collect(_)
                | Action::Menu(_)
                | Action::Enqueue(_)
                | Action::Record(_)
                | Action::Transfer(_)
        )
    }
}

/// One item of a prompt list.
#[derive(Debug, Clone)]
pub(crate) enum PromptItem {
    /// A recorded prompt by name.
    Name(String),
    /// A number, spoken with the number prompts.
    Number(Template),
    /// A duration in seconds, spoken as minutes and seconds.
    Duration(Template),
    /// Digits said one by one.
    Digits(Template),
}

#[derive(Debug)]
pub(crate) struct Play {
    pub prompts: Vec<PromptItem>,
    pub barge_in: bool,
}

/// Collect and menu share their settings; a menu takes one digit and no terminator.
#[derive(Debug)]
pub(crate) struct Input {
    pub prompt: Vec<PromptItem>,
    pub max_digits: usize,
    pub min_digits: usize,
    pub terminator: Option<Dtmf>,
    pub first_timeout: Duration,
    pub inter_timeout: Duration,
    pub retries: u32,
    pub invalid_prompt: Vec<PromptItem>,
    pub no_input_prompt: Vec<PromptItem>,
    pub into: String,
    pub barge_in: bool,
}

/// `enqueue`, and `transfer` to a queue or an agent (which is an enqueue by another name,
/// optionally aimed at one agent).
#[derive(Debug)]
pub(crate) struct Enqueue {
    /// The queue; `None` only for a transfer to an agent without `queue:` (the agent's first
    /// queue, resolved by the controller).
    pub queue: Option<String>,
    /// A transfer to this agent: offered to nobody else.
    pub agent: Option<Template>,
    /// Written as `transfer:` (for messages).
    pub transfer: bool,
    pub priority: i32,
    pub greeting: Vec<PromptItem>,
    pub music: Option<String>,
    pub announce: Option<Announce>,
    pub max_wait: Option<Duration>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Announce {
    pub position: bool,
    pub wait: bool,
    pub every: Duration,
}

#[derive(Debug)]
pub(crate) struct Record {
    pub kind: String,
    pub max: Duration,
    pub beep: bool,
    pub silence: Option<Duration>,
    pub stop_digits: Vec<Dtmf>,
}

#[derive(Debug)]
pub(crate) struct Transfer {
    pub uri: Template,
}

#[derive(Debug)]
pub(crate) struct Rule {
    pub var: String,
    pub test: Test,
    pub goto: Target,
}

#[derive(Debug)]
pub(crate) enum Test {
    Equals(String),
    In(Vec<String>),
    Prefix(String),
    Regex(Regex),
    /// `present: true` — set and not empty; `present: false` — the opposite.
    Present(bool),
}

impl Test {
    pub(crate) fn matches(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match self {
            Test::Equals(want) => v == want,
            Test::In(list) => list.iter().any(|w| w == v),
            Test::Prefix(p) => v.starts_with(p.as_str()),
            Test::Regex(r) => r.is_match(v),
            Test::Present(want) => v.is_empty() != *want,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Webhook {
    pub url: Template,
    pub data: Vec<(String, Template)>,
    pub timeout: Duration,
}
