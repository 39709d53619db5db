//! Errors: problems found in flow files (all of them, each with file, line, column and state),
//! and events the engine could not apply.

use std::fmt;

use crate::engine::OpId;

/// One problem in a flow file.
///
/// Displays as `file:line:column: state `name`: problem`, leaving out the parts that do not
/// apply (a YAML syntax error has no state; an unreadable file has no line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    /// The file name given to the loader (a path for files read from a directory).
    pub file: String,
    /// 1-based line, or 0 when the problem concerns the whole file.
    pub line: u32,
    /// 1-based column, or 0 when unknown.
    pub column: u32,
    /// The state the problem belongs to, if any.
    pub state: Option<String>,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        write!(f, ": ")?;
        if let Some(state) = &self.state {
            write!(f, "state `{state}`: ")?;
        }
        write!(f, "{}", self.problem)
    }
}

impl std::error::Error for FlowError {}

/// What is wrong in a flow file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(String),
    /// The text is not YAML (syntax, duplicate key, size or depth limit).
    #[error("YAML: {0}")]
    Yaml(String),
    /// A value has the wrong shape.
    #[error("`{key}` must be {expected}, not {found}")]
    WrongType {
        /// Where the value stands (a key or a description).
        key: String,
        /// What it must be.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// A key this place does not know.
    #[error("unknown key `{key}` in {place}{}", suggest(.suggestion))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where it stands.
        place: String,
        /// A known key with a similar spelling.
        suggestion: Option<String>,
    },
    /// A required key is missing.
    #[error("missing `{key}` in {place}")]
    MissingKey {
        /// The key.
        key: &'static str,
        /// Where it should be.
        place: String,
    },
    /// A state without an action.
    #[error("no action (give one of: {})", crate::compile::ACTIONS.join(", "))]
    NoAction,
    /// A state with two actions.
    #[error("more than one action (`{first}` and `{second}`); split them into states")]
    SeveralActions {
        /// The first action.
        first: String,
        /// The second action.
        second: String,
    },
    /// A transition (or `start`) names a state that does not exist.
    #[error("unknown state `{target}` in {via}{}", suggest(.suggestion))]
    UnknownState {
        /// The state named.
        target: String,
        /// The transition (`transition `1``, `start`, ...).
        via: String,
        /// A state with a similar name.
        suggestion: Option<String>,
    },
    /// No path from `start` leads to the state.
    #[error("unreachable: no transition from the start state leads here")]
    Unreachable,
    /// A state with no transitions whose action does not end the call.
    #[error("no way out: `{action}` does not end the call and the state has no transitions")]
    NoWayOut {
        /// The action.
        action: &'static str,
    },
    /// A transition the action needs is missing.
    #[error("`{action}` needs the `{key}` transition ({why})")]
    MissingTransition {
        /// The action.
        action: &'static str,
        /// The transition key.
        key: &'static str,
        /// When it is taken.
        why: &'static str,
    },
    /// A transition key the action never takes.
    #[error("`{action}` has no `{key}` transition (it takes: {allowed})")]
    TransitionNotAllowed {
        /// The action.
        action: &'static str,
        /// The key as written.
        key: String,
        /// The keys the action takes.
        allowed: String,
    },
    /// A digit key that is not one DTMF digit.
    #[error("`{key}` is not a digit key (use one of 0-9, *, #, A-D; quote `*` and `#`)")]
    BadDigitKey {
        /// The key as written.
        key: String,
    },
    /// A prompt the prompt directory does not have.
    #[error("missing prompt `{name}`")]
    MissingPrompt {
        /// The prompt name.
        name: String,
    },
    /// Prompts needed to speak numbers or durations are missing.
    #[error("{what} needs prompts that are missing: {names}")]
    MissingSpeechPrompts {
        /// What needs them.
        what: &'static str,
        /// The missing names, comma separated.
        names: String,
    },
    /// A duration that does not parse.
    #[error("bad duration `{text}`: {reason}")]
    BadDuration {
        /// The text.
        text: String,
        /// Why.
        reason: String,
    },
    /// A duration outside the range the setting allows.
    #[error("`{key}` must be between {min} and {max}")]
    DurationOutOfRange {
        /// The setting.
        key: &'static str,
        /// Lower bound, as written in flows.
        min: String,
        /// Upper bound, as written in flows.
        max: String,
    },
    /// A number that does not parse or is out of range.
    #[error("`{key}` must be a whole number from {min} to {max}, not `{text}`")]
    BadNumber {
        /// The setting.
        key: &'static str,
        /// The text.
        text: String,
        /// Lower bound.
        min: i64,
        /// Upper bound.
        max: i64,
    },
    /// A yes/no setting that is neither.
    #[error("`{key}` must be true or false, not `{text}`")]
    BadBool {
        /// The setting.
        key: &'static str,
        /// The text.
        text: String,
    },
    /// A queue the configuration does not have.
    #[error("unknown queue `{queue}`")]
    UnknownQueue {
        /// The queue id.
        queue: String,
    },
    /// A problem with business hours (time zone, day, range, date).
    #[error("{0}")]
    BadHours(String),
    /// A regular expression that does not compile.
    #[error("bad regex: {0}")]
    BadRegex(String),
    /// A malformed `${...}` template.
    #[error("bad template `{text}`: {reason}")]
    BadTemplate {
        /// The text.
        text: String,
        /// Why.
        reason: String,
    },
    /// A variable name that is not an identifier.
    #[error("`{name}` is not a variable name (letters, digits and _, not starting with a digit)")]
    BadVariableName {
        /// The name.
        name: String,
    },
    /// An attempt to set a variable the engine owns.
    #[error("`{name}` is read-only (set by the engine)")]
    ReadOnlyVariable {
        /// The name.
        name: String,
    },
    /// A URL or URI with the wrong scheme.
    #[error("`{text}` must start with {schemes}")]
    BadUri {
        /// The text.
        text: String,
        /// The schemes allowed.
        schemes: &'static str,
    },
    /// A state or flow name with characters we do not allow.
    #[error("`{name}` is not a valid {what} name (letters, digits, `_` and `-`)")]
    BadName {
        /// The name.
        name: String,
        /// `state` or `flow`.
        what: &'static str,
    },
    /// A state named like a reserved transition target.
    #[error("`{name}` is reserved (`next: {name}` ends the call); rename the state")]
    ReservedStateName {
        /// The name.
        name: String,
    },
    /// A value that is not allowed (a free-form explanation).
    #[error("{0}")]
    Invalid(String),
    /// A media action in a state that runs after the caller hung up.
    #[error(
        "`{action}` needs the caller, but this state can run after the caller hung up (only set, branch, hours, webhook and hangup can)"
    )]
    MediaAfterHangup {
        /// The action.
        action: &'static str,
    },
    /// Two files declare the same flow name.
    #[error("flow `{name}` is also defined in {other}")]
    DuplicateFlow {
        /// The flow name.
        name: String,
        /// The other file.
        other: String,
    },
}

fn suggest(s: &Option<String>) -> String {
    match s {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// All the problems found while loading one or more flow files, sorted by file and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<FlowError>);

impl LoadErrors {
    /// The problems.
    pub fn errors(&self) -> &[FlowError] {
        &self.0
    }

    pub(crate) fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (&a.file, a.line, a.column, &a.state).cmp(&(&b.file, b.line, b.column, &b.state))
        });
        self.0.dedup();
    }
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// Why [`Contact::handle_event`](crate::Contact::handle_event) did not apply an event. None of
/// these change the contact; the controller should log them (at debug level for `Stale`, which
/// are ordinary races such as a playback that finished just as a digit stopped it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The flow has ended; nothing more is expected.
    #[error("the flow has ended")]
    Finished,
    /// The event answers an operation the engine no longer waits for.
    #[error("stale event for operation {0}")]
    Stale(OpId),
    /// The current state does not expect this kind of event.
    #[error("state `{state}` does not expect {event}")]
    Unexpected {
        /// The current state.
        state: String,
        /// The event kind.
        event: &'static str,
    },
    /// A digit event with a character that is not DTMF.
    #[error("`{0}` is not a DTMF digit")]
    BadDigit(char),
}
