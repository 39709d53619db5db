//! From YAML text to a validated [`Flow`], collecting every problem on the way.
//!
//! The compiler walks the node tree from `yaml.rs`. It never stops at the first problem: each
//! check records a [`FlowError`] (file, line, column, state, problem) and carries on with what
//! it can still make sense of, so one run of `switchboard check` lists everything to fix.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use regex::RegexBuilder;

use crate::duration::{MAX_DURATION, format_duration, parse_duration};
use crate::error::{FlowError, LoadErrors, Problem};
use crate::hours::BusinessHours;
use crate::model::{
    Action, Announce, Dtmf, Enqueue, Flow, Input, Key, Play, PromptItem, Record, Rule, State,
    StateId, Target, Test, Transfer, Webhook,
};
use crate::speech::{duration_unit_prompts, number_prompts};
use crate::template::{Template, is_var_name};
use crate::yaml::{self, Kind, Loc, Node};

/// The action keys a state may have (exactly one of them).
pub const ACTIONS: &[&str] = &[
    "answer", "play", "collect", "menu", "enqueue", "record", "transfer", "set", "branch", "hours",
    "webhook", "hangup",
];

/// Variables the engine sets at the start and flows may not change.
pub const READ_ONLY_VARS: &[&str] = &["caller", "called", "flow"];

/// The prompt said before a queue position ("you are caller number").
pub const QUEUE_POSITION_PROMPT: &str = "queue-position";
/// The prompt said before an estimated wait ("your estimated wait time is").
pub const QUEUE_WAIT_PROMPT: &str = "queue-wait";

/// Most states a flow may have.
/// The music a `transfer` to a queue or an agent plays when it names none (if the prompt
/// exists; else silence).
pub const DEFAULT_TRANSFER_MUSIC: &str = "hold-music";

const MAX_STATES: usize = 1000;

/// A set of names the loader checks references against: which prompts exist, which queues are
/// configured.
pub trait NameSet {
    /// Whether `name` exists.
    fn contains_name(&self, name: &str) -> bool;
}

impl NameSet for BTreeSet<String> {
    fn contains_name(&self, name: &str) -> bool {
        self.contains(name)
    }
}

impl NameSet for HashSet<String> {
    fn contains_name(&self, name: &str) -> bool {
        self.contains(name)
    }
}

impl NameSet for [&str] {
    fn contains_name(&self, name: &str) -> bool {
        self.contains(&name)
    }
}

impl<const N: usize> NameSet for [&str; N] {
    fn contains_name(&self, name: &str) -> bool {
        self.contains(&name)
    }
}

impl NameSet for Vec<String> {
    fn contains_name(&self, name: &str) -> bool {
        self.iter().any(|n| n == name)
    }
}

/// A [`NameSet`] that contains every name: for tools that validate a flow's shape before the
/// prompts or queues are known. Prefer a real set whenever one exists.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyName;

impl NameSet for AnyName {
    fn contains_name(&self, _: &str) -> bool {
        true
    }
}

/// What the loader checks flow files against: the prompts that exist (names without `.wav`,
/// e.g. `welcome`, `digits/7`) and the configured queue ids.
#[derive(Clone, Copy)]
pub struct Catalog<'a> {
    /// Prompt names that exist.
    pub prompts: &'a dyn NameSet,
    /// Queue ids that exist.
    pub queues: &'a dyn NameSet,
}

impl<'a> Catalog<'a> {
    /// A catalog of these prompts and queues.
    pub fn new(prompts: &'a dyn NameSet, queues: &'a dyn NameSet) -> Catalog<'a> {
        Catalog { prompts, queues }
    }
}

/// Compiles one flow file. `file` names it in errors (and, without its directory and
/// extension, is the flow's name when the file has no `name:`).
pub fn compile(file: &str, source: &str, catalog: &Catalog<'_>) -> Result<Flow, LoadErrors> {
    let mut c = Compiler {
        file,
        catalog,
        errors: Vec::new(),
        state: None,
        said_numbers: false,
        said_durations: false,
        said_digits: false,
        hints: HINT_BUDGET,
    };
    let flow = match yaml::parse(source) {
        Ok(root) => c.flow(&root),
        Err((loc, message)) => {
            c.err(loc, Problem::Yaml(message));
            None
        }
    };
    match flow {
        Some(flow) if c.errors.is_empty() => Ok(flow),
        _ => {
            let mut errors = LoadErrors(c.errors);
            errors.sort();
            Err(errors)
        }
    }
}

/// The name a flow gets from its file when it has no `name:`.
pub(crate) fn stem(file: &str) -> &str {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.strip_suffix(".yaml")
        .or_else(|| base.strip_suffix(".yml"))
        .unwrap_or(base)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within two edits, if any. `budget` bounds the number of distances
/// computed, so that a hostile file with thousands of unknown names stays cheap to check.
fn suggestion<'s>(
    word: &str,
    candidates: impl IntoIterator<Item = &'s str>,
    budget: &mut usize,
) -> Option<String> {
    if word.len() > 32 {
        return None;
    }
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c.len().abs_diff(word.len()) > 2 || c.len() > 34 {
            continue;
        }
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let d = distance(word, c);
        if d > 0 && d <= 2 && d < c.len().max(2) && best.is_none_or(|b| (d, c) < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// How many "did you mean" distances one file may cost.
const HINT_BUDGET: usize = 20_000;

/// A mapping's entries with scalar keys, for field lookups.
struct Fields<'n> {
    items: Vec<(&'n str, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.items.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// A state's transitions before checking which the action takes.
struct RawTransition {
    key: Key,
    key_loc: Loc,
    target: Option<Target>,
}

struct Compiler<'a> {
    file: &'a str,
    catalog: &'a Catalog<'a>,
    errors: Vec<FlowError>,
    /// The state being compiled, for error messages.
    state: Option<String>,
    said_numbers: bool,
    said_durations: bool,
    said_digits: bool,
    /// Remaining "did you mean" work.
    hints: usize,
}

impl Compiler<'_> {
    fn err(&mut self, loc: Loc, problem: Problem) {
        self.errors.push(FlowError {
            file: self.file.to_string(),
            line: loc.line,
            column: loc.column,
            state: self.state.clone(),
            problem,
        });
    }

    fn wrong_type(&mut self, node: &Node, key: &str, expected: &'static str) {
        self.err(
            node.loc,
            Problem::WrongType {
                key: key.to_string(),
                expected,
                found: node.kind_name(),
            },
        );
    }

    // ----- generic node access -------------------------------------------------------------

    /// The fields of a mapping (`null` counts as empty), reporting keys not in `allowed`.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        key: &str,
        place: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let entries: &[(Node, Node)] = match &node.kind {
            Kind::Map(entries) => entries,
            Kind::Null => &[],
            _ => {
                self.wrong_type(node, key, "a mapping");
                return None;
            }
        };
        let mut items = Vec::new();
        for (k, v) in entries {
            let Some(name) = k.as_str() else {
                self.wrong_type(k, "a key", "a scalar");
                continue;
            };
            if allowed.contains(&name) {
                items.push((name, v));
            } else {
                let hint = suggestion(name, allowed.iter().copied(), &mut self.hints);
                self.err(
                    k.loc,
                    Problem::UnknownKey {
                        key: name.to_string(),
                        place: place.to_string(),
                        suggestion: hint,
                    },
                );
            }
        }
        Some(Fields { items })
    }

    fn required<'n>(
        &mut self,
        fields: &Fields<'n>,
        key: &'static str,
        place: &str,
        loc: Loc,
    ) -> Option<&'n Node> {
        let found = fields.get(key);
        if found.is_none() {
            self.err(
                loc,
                Problem::MissingKey {
                    key,
                    place: place.to_string(),
                },
            );
        }
        found
    }

    fn scalar<'n>(&mut self, node: &'n Node, key: &str) -> Option<&'n str> {
        let s = node.as_str();
        if s.is_none() {
            self.wrong_type(node, key, "a scalar");
        }
        s
    }

    fn duration(
        &mut self,
        node: &Node,
        key: &'static str,
        min: Duration,
        max: Duration,
    ) -> Option<Duration> {
        let text = self.scalar(node, key)?;
        match parse_duration(text) {
            Ok(d) if d >= min && d <= max => Some(d),
            Ok(_) => {
                self.err(
                    node.loc,
                    Problem::DurationOutOfRange {
                        key,
                        min: format_duration(min),
                        max: format_duration(max),
                    },
                );
                None
            }
            Err(reason) => {
                self.err(
                    node.loc,
                    Problem::BadDuration {
                        text: text.to_string(),
                        reason,
                    },
                );
                None
            }
        }
    }

    fn int(&mut self, node: &Node, key: &'static str, min: i64, max: i64) -> Option<i64> {
        let text = self.scalar(node, key)?;
        match text.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.err(
                    node.loc,
                    Problem::BadNumber {
                        key,
                        text: text.to_string(),
                        min,
                        max,
                    },
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, key: &'static str) -> Option<bool> {
        let text = self.scalar(node, key)?;
        match text.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.err(
                    node.loc,
                    Problem::BadBool {
                        key,
                        text: text.to_string(),
                    },
                );
                None
            }
        }
    }

    fn template(&mut self, node: &Node, key: &str) -> Option<Template> {
        let text = self.scalar(node, key)?;
        match Template::parse(text) {
            Ok(t) => Some(t),
            Err(reason) => {
                self.err(
                    node.loc,
                    Problem::BadTemplate {
                        text: text.to_string(),
                        reason,
                    },
                );
                None
            }
        }
    }

    fn var_name(&mut self, node: &Node, key: &str, writable: bool) -> Option<String> {
        let name = self.scalar(node, key)?;
        if !is_var_name(name) {
            self.err(
                node.loc,
                Problem::BadVariableName {
                    name: name.to_string(),
                },
            );
            return None;
        }
        if writable && READ_ONLY_VARS.contains(&name) {
            self.err(
                node.loc,
                Problem::ReadOnlyVariable {
                    name: name.to_string(),
                },
            );
            return None;
        }
        Some(name.to_string())
    }

    /// `name: template` pairs (for `set`, top-level `vars` and webhook `data`).
    fn assignments(&mut self, node: &Node, key: &str, writable: bool) -> Vec<(String, Template)> {
        let mut out = Vec::new();
        let Kind::Map(entries) = &node.kind else {
            self.wrong_type(node, key, "a mapping of names to values");
            return out;
        };
        for (k, v) in entries {
            let name = self.var_name(k, key, writable);
            let value = self.template(v, k.as_str().unwrap_or(key));
            if let (Some(name), Some(value)) = (name, value) {
                out.push((name, value));
            }
        }
        out
    }

    fn check_uri(&mut self, node: &Node, t: &Template, schemes: &'static [&'static str]) {
        let prefix = t.literal_prefix().to_ascii_lowercase();
        if !schemes.iter().any(|s| prefix.starts_with(s)) {
            self.err(
                node.loc,
                Problem::BadUri {
                    text: node.as_str().unwrap_or_default().to_string(),
                    schemes: if schemes.contains(&"sip:") {
                        "sip:, sips: or tel:"
                    } else {
                        "http:// or https://"
                    },
                },
            );
        }
    }

    // ----- prompts -------------------------------------------------------------------------

    /// A prompt name as written (`welcome` or `welcome.wav`) → its canonical name, checked
    /// against the catalog.
    fn prompt_name(&mut self, node: &Node, key: &str) -> Option<String> {
        let text = self.scalar(node, key)?;
        let name = text.strip_suffix(".wav").unwrap_or(text);
        let well_formed = !name.is_empty()
            && name.len() <= 128
            && !name.starts_with('/')
            && !name
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.'));
        if !well_formed {
            self.err(
                node.loc,
                Problem::Invalid(format!(
                    "`{text}` is not a prompt name (letters, digits, `_`, `-`, `.`, `/` between folders)"
                )),
            );
            return None;
        }
        if !self.catalog.prompts.contains_name(name) {
            self.err(
                node.loc,
                Problem::MissingPrompt {
                    name: name.to_string(),
                },
            );
        }
        Some(name.to_string())
    }

    fn require_speech(&mut self, loc: Loc, what: &'static str, names: Vec<String>) {
        let missing: Vec<String> = names
            .into_iter()
            .filter(|n| !self.catalog.prompts.contains_name(n))
            .collect();
        if !missing.is_empty() {
            self.err(
                loc,
                Problem::MissingSpeechPrompts {
                    what,
                    names: missing.join(", "),
                },
            );
        }
    }

    fn need_numbers(&mut self, loc: Loc) {
        if !self.said_numbers {
            self.said_numbers = true;
            self.require_speech(loc, "speaking numbers", number_prompts());
        }
    }

    fn need_durations(&mut self, loc: Loc) {
        self.need_numbers(loc);
        if !self.said_durations {
            self.said_durations = true;
            self.require_speech(loc, "speaking durations", duration_unit_prompts());
        }
    }

    fn need_digits(&mut self, loc: Loc) {
        if !self.said_digits && !self.said_numbers {
            self.said_digits = true;
            self.require_speech(
                loc,
                "speaking digits",
                (0..10).map(|d| format!("digits/{d}")).collect(),
            );
        }
    }

    /// A prompt list: `welcome`, `[welcome, menu]`, or items like `{ number: "${n}" }`.
    fn prompts(&mut self, node: &Node, key: &str) -> Option<Vec<PromptItem>> {
        match &node.kind {
            Kind::Scalar(_) => self
                .prompt_name(node, key)
                .map(|n| vec![PromptItem::Name(n)]),
            Kind::Seq(items) if items.is_empty() => {
                self.err(
                    node.loc,
                    Problem::Invalid(format!("`{key}` is an empty prompt list")),
                );
                None
            }
            Kind::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for item in items {
                    match self.prompt_item(item, key) {
                        Some(p) => out.push(p),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            Kind::Map(_) => self.prompt_item(node, key).map(|p| vec![p]),
            Kind::Null => {
                self.wrong_type(node, key, "a prompt or a list of prompts");
                None
            }
        }
    }

    fn prompt_item(&mut self, node: &Node, key: &str) -> Option<PromptItem> {
        match &node.kind {
            Kind::Scalar(_) => self.prompt_name(node, key).map(PromptItem::Name),
            Kind::Map(entries) if entries.len() == 1 => {
                // The guard above: exactly one entry.
                let (k, v) = &entries[0];
                let kind = k.as_str().unwrap_or_default();
                let t = match kind {
                    "number" | "duration" | "digits" => self.template(v, kind)?,
                    other => {
                        let hint =
                            suggestion(other, ["number", "duration", "digits"], &mut self.hints);
                        self.err(
                            k.loc,
                            Problem::UnknownKey {
                                key: other.to_string(),
                                place: "a prompt item".into(),
                                suggestion: hint,
                            },
                        );
                        return None;
                    }
                };
                if !t.has_vars() {
                    let fixed = t.render(&BTreeMap::new());
                    let valid = match kind {
                        "number" => fixed
                            .parse::<u64>()
                            .is_ok_and(|n| n <= crate::speech::MAX_SPOKEN_NUMBER),
                        "duration" => crate::engine::parse_spoken_duration(&fixed).is_some(),
                        _ => fixed.chars().any(|c| c.is_ascii_digit()),
                    };
                    if !valid {
                        let why = match kind {
                            "number" => format!(
                                "`{fixed}` is not a number from 0 to {}",
                                crate::speech::MAX_SPOKEN_NUMBER
                            ),
                            "duration" => {
                                format!("`{fixed}` is not a duration (seconds, or e.g. `2m30s`)")
                            }
                            _ => format!("`{fixed}` has no digits to say"),
                        };
                        self.err(v.loc, Problem::Invalid(why));
                    }
                }
                match kind {
                    "number" => {
                        self.need_numbers(v.loc);
                        Some(PromptItem::Number(t))
                    }
                    "duration" => {
                        self.need_durations(v.loc);
                        Some(PromptItem::Duration(t))
                    }
                    _ => {
                        self.need_digits(v.loc);
                        Some(PromptItem::Digits(t))
                    }
                }
            }
            _ => {
                self.wrong_type(
                    node,
                    key,
                    "a prompt name or one of { number: .. }, { duration: .. }, { digits: .. }",
                );
                None
            }
        }
    }

    // ----- the flow ------------------------------------------------------------------------

    fn flow(&mut self, root: &Node) -> Option<Flow> {
        let fields = self.fields(
            root,
            "the file",
            "the top level",
            &["name", "description", "start", "vars", "states"],
        )?;
        let mut name_loc = Loc { line: 1, column: 1 };
        let name = match fields.get("name") {
            Some(node) => {
                name_loc = node.loc;
                let n = self.scalar(node, "name").unwrap_or_default().to_string();
                if !is_name(&n) {
                    self.err(
                        node.loc,
                        Problem::BadName {
                            name: n.clone(),
                            what: "flow",
                        },
                    );
                }
                n
            }
            None => {
                let n = stem(self.file).to_string();
                if !is_name(&n) {
                    self.err(
                        Loc { line: 1, column: 1 },
                        Problem::Invalid(format!(
                            "the file name `{n}` is not a valid flow name; add `name:`"
                        )),
                    );
                }
                n
            }
        };
        if let Some(d) = fields.get("description") {
            self.scalar(d, "description");
        }
        let vars = fields
            .get("vars")
            .map(|v| self.assignments(v, "vars", true))
            .unwrap_or_default();
        let top = Loc { line: 1, column: 1 };
        let start_node = self.required(&fields, "start", "the top level", top);
        let states_node = self.required(&fields, "states", "the top level", top)?;
        let Kind::Map(state_entries) = &states_node.kind else {
            self.wrong_type(states_node, "states", "a mapping of state names to states");
            return None;
        };
        if state_entries.is_empty() {
            self.err(
                states_node.loc,
                Problem::Invalid("`states` is empty".into()),
            );
            return None;
        }
        if state_entries.len() > MAX_STATES {
            self.err(
                states_node.loc,
                Problem::Invalid(format!("more than {MAX_STATES} states")),
            );
            return None;
        }

        // Pass 1: names.
        let mut ids: HashMap<String, StateId> = HashMap::new();
        let mut names: Vec<(String, Loc)> = Vec::new();
        for (k, _) in state_entries {
            let name = match k.as_str() {
                Some(n) => n.to_string(),
                None => {
                    self.wrong_type(k, "a state name", "a scalar");
                    format!("#{}", names.len())
                }
            };
            if k.as_str().is_some() {
                if name == "hangup" {
                    self.err(k.loc, Problem::ReservedStateName { name: name.clone() });
                } else if !is_name(&name) {
                    self.err(
                        k.loc,
                        Problem::BadName {
                            name: name.clone(),
                            what: "state",
                        },
                    );
                }
            }
            let id = StateId(u32::try_from(names.len()).unwrap_or(u32::MAX));
            ids.entry(name.clone()).or_insert(id);
            names.push((name, k.loc));
        }
        let start = start_node.and_then(|node| {
            let text = self.scalar(node, "start")?;
            self.resolve(&ids, text, node.loc, "`start`")
        });
        let start = match start {
            Some(Target::State(id)) => Some(id),
            Some(Target::Hangup) => {
                self.err(
                    start_node.map(|n| n.loc).unwrap_or(top),
                    Problem::Invalid("`start` must name a state".into()),
                );
                None
            }
            None => None,
        };

        // Pass 2: bodies.
        let mut states: Vec<State> = Vec::new();
        let mut ok_actions: Vec<bool> = Vec::new();
        for ((name, key_loc), (_, body)) in names.iter().zip(state_entries) {
            self.state = Some(name.clone());
            let (action, on) = self.state_body(&ids, body, *key_loc);
            ok_actions.push(action.is_some());
            states.push(State {
                name: name.clone(),
                action: action.unwrap_or(Action::Hangup),
                on,
            });
        }
        self.state = None;

        // Without a valid start every state would look unreachable: skip that check then.
        self.graph_checks(&states, &ok_actions, &names, start);
        let start = start?;
        Some(Flow {
            name,
            name_loc,
            file: self.file.to_string(),
            start,
            states,
            vars,
        })
    }

    fn resolve(
        &mut self,
        ids: &HashMap<String, StateId>,
        name: &str,
        loc: Loc,
        via: &str,
    ) -> Option<Target> {
        if name == "hangup" {
            return Some(Target::Hangup);
        }
        match ids.get(name) {
            Some(id) => Some(Target::State(*id)),
            None => {
                let suggestion = suggestion(name, ids.keys().map(String::as_str), &mut self.hints);
                self.err(
                    loc,
                    Problem::UnknownState {
                        target: name.to_string(),
                        via: via.to_string(),
                        suggestion,
                    },
                );
                None
            }
        }
    }

    /// One state's action and transitions.
    fn state_body(
        &mut self,
        ids: &HashMap<String, StateId>,
        body: &Node,
        key_loc: Loc,
    ) -> (Option<Action>, BTreeMap<Key, Target>) {
        let mut on = BTreeMap::new();
        let Kind::Map(entries) = &body.kind else {
            self.wrong_type(body, "a state", "a mapping with an action");
            return (None, on);
        };
        let mut action_entry: Option<(&str, &Node, &Node)> = None;
        let mut raw: Vec<RawTransition> = Vec::new();
        let mut on_node: Option<&Node> = None;
        let mut action_failed = false;
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                self.wrong_type(k, "a key", "a scalar");
                continue;
            };
            if ACTIONS.contains(&key) {
                if let Some((first, _, _)) = action_entry {
                    self.err(
                        k.loc,
                        Problem::SeveralActions {
                            first: first.to_string(),
                            second: key.to_string(),
                        },
                    );
                    action_failed = true;
                } else {
                    action_entry = Some((key, k, v));
                }
            } else if key == "next" {
                let target = self
                    .scalar(v, "next")
                    .and_then(|t| self.resolve(ids, t, v.loc, "`next`"));
                raw.push(RawTransition {
                    key: Key::Done,
                    key_loc: k.loc,
                    target,
                });
            } else if key == "on" {
                on_node = Some(v);
            } else if key == "description" {
                self.scalar(v, "description");
            } else {
                let candidates = ACTIONS.iter().copied().chain(["next", "on", "description"]);
                let hint = suggestion(key, candidates, &mut self.hints);
                self.err(
                    k.loc,
                    Problem::UnknownKey {
                        key: key.to_string(),
                        place: "a state (actions and `next`, `on`, `description`)".into(),
                        suggestion: hint,
                    },
                );
            }
        }
        let action = match action_entry {
            Some((name, key_node, value)) => {
                let a = self.action(ids, name, key_node, value);
                if action_failed { None } else { a }
            }
            None => {
                if !action_failed {
                    self.err(key_loc, Problem::NoAction);
                }
                None
            }
        };
        let is_webhook = matches!(action, Some(Action::Webhook(_)));
        if let Some(on_value) = on_node {
            match &on_value.kind {
                Kind::Map(pairs) => {
                    for (k, v) in pairs {
                        let Some(text) = k.as_str() else {
                            self.wrong_type(k, "a transition key", "a scalar");
                            continue;
                        };
                        let Some(key) = self.transition_key(text, k.loc, is_webhook) else {
                            continue;
                        };
                        let via = format!("transition `{text}`");
                        let target = self
                            .scalar(v, text)
                            .and_then(|t| self.resolve(ids, t, v.loc, &via));
                        raw.push(RawTransition {
                            key,
                            key_loc: k.loc,
                            target,
                        });
                    }
                }
                _ => self.wrong_type(on_value, "on", "a mapping of events to states"),
            }
        }
        for t in raw {
            if let Some(action) = &action
                && let Some(allowed) = allowed_keys(action)
                && !key_allowed(action, &t.key)
            {
                self.err(
                    t.key_loc,
                    Problem::TransitionNotAllowed {
                        action: action.name(),
                        key: t.key.name(),
                        allowed: allowed.to_string(),
                    },
                );
                continue;
            }
            if on.contains_key(&t.key) {
                self.err(
                    t.key_loc,
                    Problem::Invalid(format!("transition `{}` is given twice", t.key.name())),
                );
                continue;
            }
            if let Some(target) = t.target {
                on.insert(t.key, target);
            } else {
                // Keep the key so that "missing transition" checks do not pile on; the
                // unknown target was reported. Point it at the state itself: the flow is
                // rejected anyway.
                on.insert(t.key, Target::Hangup);
            }
        }
        if let Some(action) = &action {
            self.required_transitions(action, &on, key_loc);
        }
        (action, on)
    }

    fn transition_key(&mut self, text: &str, loc: Loc, is_webhook: bool) -> Option<Key> {
        let key = match text {
            "next" => Key::Done,
            "failed" => Key::Failed,
            "timeout" => Key::Timeout,
            "invalid" => Key::Invalid,
            "error" => Key::Error,
            "max_wait" => Key::MaxWait,
            "no_agents" => Key::NoAgents,
            "open" => Key::Open,
            "closed" => Key::Closed,
            "hangup" => Key::Hangup,
            "agent_connected" => {
                self.err(
                    loc,
                    Problem::Invalid(
                        "the flow ends when an agent answers; `agent_connected` is not a transition"
                            .into(),
                    ),
                );
                return None;
            }
            _ => {
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if Dtmf::new(c).is_some() => {
                        // Dtmf::new accepted `c` on the line above.
                        Key::Digit(Dtmf::new(c)?)
                    }
                    _ if text.chars().all(|c| Dtmf::new(c).is_some()) => {
                        self.err(
                            loc,
                            Problem::BadDigitKey {
                                key: text.to_string(),
                            },
                        );
                        return None;
                    }
                    _ if is_webhook && is_var_name(text) => Key::Outcome(text.to_string()),
                    _ => {
                        const KNOWN: &[&str] = &[
                            "next",
                            "failed",
                            "timeout",
                            "invalid",
                            "error",
                            "max_wait",
                            "no_agents",
                            "open",
                            "closed",
                            "hangup",
                        ];
                        let looks_like_digits = text.chars().count() <= 3
                            && text
                                .chars()
                                .any(|c| c.is_ascii_digit() || c == '*' || c == '#');
                        if looks_like_digits {
                            self.err(
                                loc,
                                Problem::BadDigitKey {
                                    key: text.to_string(),
                                },
                            );
                        } else {
                            let hint = suggestion(text, KNOWN.iter().copied(), &mut self.hints);
                            self.err(
                                loc,
                                Problem::UnknownKey {
                                    key: text.to_string(),
                                    place: "`on`".into(),
                                    suggestion: hint,
                                },
                            );
                        }
                        return None;
                    }
                }
            }
        };
        Some(key)
    }

    fn required_transitions(&mut self, action: &Action, on: &BTreeMap<Key, Target>, loc: Loc) {
        let terminal = matches!(action, Action::Transfer(_) | Action::Hangup);
        if on.is_empty() && !terminal {
            self.err(
                loc,
                Problem::NoWayOut {
                    action: action.name(),
                },
            );
            return;
        }
        let name = action.name();
        let need = |c: &mut Self, key: Key, label: &'static str, why: &'static str| {
            if !on.contains_key(&key) {
                c.err(
                    loc,
                    Problem::MissingTransition {
                        action: name,
                        key: label,
                        why,
                    },
                );
            }
        };
        match action {
            Action::Answer | Action::Set(_) => need(self, Key::Done, "next", "where to go next"),
            Action::Play(_) => need(self, Key::Done, "next", "taken when the prompts end"),
            Action::Branch(_) => need(self, Key::Done, "next", "taken when no rule matches"),
            Action::Record(_) => need(self, Key::Done, "next", "taken when the recording ends"),
            Action::Webhook(_) => {
                need(
                    self,
                    Key::Done,
                    "next",
                    "taken when the reply picks no outcome",
                );
                need(self, Key::Error, "error", "taken on timeout or failure");
            }
            Action::Hours(_) => {
                need(self, Key::Open, "open", "taken during business hours");
                need(self, Key::Closed, "closed", "taken outside business hours");
            }
            Action::Collect(_) | Action::Menu(_) => {
                if matches!(action, Action::Collect(_)) {
                    need(
                        self,
                        Key::Done,
                        "next",
                        "taken when the digits are collected",
                    );
                } else if !on.keys().any(|k| matches!(k, Key::Digit(_))) {
                    self.err(
                        loc,
                        Problem::Invalid(
                            "`menu` needs at least one digit transition, e.g. `on: { \"1\": sales }`"
                                .into(),
                        ),
                    );
                }
                let covered = on.contains_key(&Key::Failed)
                    || (on.contains_key(&Key::Timeout) && on.contains_key(&Key::Invalid));
                if !covered {
                    self.err(
                        loc,
                        Problem::MissingTransition {
                            action: name,
                            key: "failed",
                            why: "taken when the retries are used up; or give both `timeout` and `invalid`",
                        },
                    );
                }
            }
            Action::Enqueue(e) => {
                if e.max_wait.is_some() {
                    need(
                        self,
                        Key::MaxWait,
                        "max_wait",
                        "taken when `max_wait` runs out",
                    );
                }
            }
            Action::Transfer(_) | Action::Hangup => {}
        }
    }

    /// Reachability from `start`, and no media after a hangup.
    fn graph_checks(
        &mut self,
        states: &[State],
        ok_actions: &[bool],
        names: &[(String, Loc)],
        start: Option<StateId>,
    ) {
        let edges = |s: &State| -> Vec<StateId> {
            let mut out: Vec<StateId> =
                s.on.values()
                    .filter_map(|t| match t {
                        Target::State(id) => Some(*id),
                        Target::Hangup => None,
                    })
                    .collect();
            if let Action::Branch(rules) = &s.action {
                out.extend(rules.iter().filter_map(|r| match r.goto {
                    Target::State(id) => Some(id),
                    Target::Hangup => None,
                }));
            }
            out
        };
        let walk = |from: &[StateId]| -> Vec<bool> {
            let mut seen = vec![false; states.len()];
            let mut queue: VecDeque<StateId> = from.iter().copied().collect();
            while let Some(id) = queue.pop_front() {
                if std::mem::replace(&mut seen[id.index()], true) {
                    continue;
                }
                queue.extend(edges(&states[id.index()]));
            }
            seen
        };
        if let Some(start) = start {
            let reached = walk(&[start]);
            for (i, seen) in reached.iter().enumerate() {
                if !seen {
                    self.state = Some(names[i].0.clone());
                    self.err(names[i].1, Problem::Unreachable);
                }
            }
        }
        let after_hangup: Vec<StateId> = states
            .iter()
            .filter_map(|s| match s.on.get(&Key::Hangup) {
                Some(Target::State(id)) => Some(*id),
                _ => None,
            })
            .collect();
        let post = walk(&after_hangup);
        for (i, seen) in post.iter().enumerate() {
            if *seen && ok_actions[i] && states[i].action.needs_caller() {
                self.state = Some(names[i].0.clone());
                self.err(
                    names[i].1,
                    Problem::MediaAfterHangup {
                        action: states[i].action.name(),
                    },
                );
            }
        }
        self.state = None;
    }

    // ----- actions -------------------------------------------------------------------------

    fn action(
        &mut self,
        ids: &HashMap<String, StateId>,
        name: &str,
        key: &Node,
        v: &Node,
    ) -> Option<Action> {
        match name {
            "answer" | "hangup" => {
                let empty = matches!(v.kind, Kind::Null)
                    || matches!(&v.kind, Kind::Map(m) if m.is_empty())
                    || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"));
                if !empty {
                    self.wrong_type(v, name, "empty (`answer: {}`, or `answer: true`)");
                    return None;
                }
                Some(if name == "answer" {
                    Action::Answer
                } else {
                    Action::Hangup
                })
            }
            "play" => self.play(v),
            "collect" => self.collect(v, key.loc).map(Action::Collect),
            "menu" => self.menu(v, key.loc).map(Action::Menu),
            "enqueue" => self.enqueue(v, key.loc),
            "record" => self.record(v, key.loc),
            "transfer" => self.transfer(v, key.loc),
            "set" => {
                let list = self.assignments(v, "set", true);
                let Kind::Map(entries) = &v.kind else {
                    return None;
                };
                if entries.is_empty() {
                    self.err(v.loc, Problem::Invalid("`set` is empty".into()));
                    return None;
                }
                (list.len() == entries.len()).then_some(Action::Set(list))
            }
            "branch" => self.branch(ids, v),
            "hours" => self.hours(v, key.loc),
            "webhook" => self.webhook(v, key.loc),
            _ => None,
        }
    }

    fn play(&mut self, v: &Node) -> Option<Action> {
        if let Kind::Map(entries) = &v.kind
            && entries
                .iter()
                .any(|(k, _)| matches!(k.as_str(), Some("prompts" | "barge_in")))
        {
            let f = self.fields(v, "play", "`play`", &["prompts", "barge_in"])?;
            let prompts = self
                .required(&f, "prompts", "`play`", v.loc)
                .and_then(|p| self.prompts(p, "prompts"));
            let barge_in = match f.get("barge_in") {
                Some(b) => self.boolean(b, "barge_in")?,
                None => false,
            };
            return Some(Action::Play(Play {
                prompts: prompts?,
                barge_in,
            }));
        }
        let prompts = self.prompts(v, "play")?;
        Some(Action::Play(Play {
            prompts,
            barge_in: false,
        }))
    }

    fn optional_prompts(
        &mut self,
        f: &Fields<'_>,
        key: &'static str,
    ) -> Result<Vec<PromptItem>, ()> {
        match f.get(key) {
            Some(node) => self.prompts(node, key).ok_or(()),
            None => Ok(Vec::new()),
        }
    }

    fn input_common(&mut self, f: &Fields<'_>, place: &str, loc: Loc) -> Option<Input> {
        let prompt = self
            .required(f, "prompt", place, loc)
            .and_then(|p| self.prompts(p, "prompt"));
        let invalid = self.optional_prompts(f, "invalid_prompt");
        let no_input = self.optional_prompts(f, "no_input_prompt");
        let first_timeout = match f.get("timeout") {
            Some(n) => self.duration(
                n,
                "timeout",
                Duration::from_millis(500),
                Duration::from_secs(120),
            ),
            None => Some(Duration::from_secs(5)),
        };
        let retries = match f.get("retries") {
            Some(n) => self.int(n, "retries", 0, 9),
            None => Some(2),
        };
        let barge_in = match f.get("barge_in") {
            Some(n) => self.boolean(n, "barge_in"),
            None => Some(true),
        };
        Some(Input {
            prompt: prompt?,
            max_digits: 1,
            min_digits: 1,
            terminator: None,
            first_timeout: first_timeout?,
            inter_timeout: Duration::from_secs(3),
            // Bounded to 0..=9 by `int` above.
            retries: u32::try_from(retries?).ok()?,
            invalid_prompt: invalid.ok()?,
            no_input_prompt: no_input.ok()?,
            into: "digits".into(),
            barge_in: barge_in?,
        })
    }

    fn collect(&mut self, v: &Node, loc: Loc) -> Option<Input> {
        let f = self.fields(
            v,
            "collect",
            "`collect`",
            &[
                "prompt",
                "max_digits",
                "min_digits",
                "terminator",
                "timeout",
                "inter_digit_timeout",
                "retries",
                "invalid_prompt",
                "no_input_prompt",
                "into",
                "barge_in",
            ],
        )?;
        let common = self.input_common(&f, "`collect`", loc);
        let max = self
            .required(&f, "max_digits", "`collect`", loc)
            .and_then(|n| self.int(n, "max_digits", 1, 32));
        let min = match f.get("min_digits") {
            Some(n) => self.int(n, "min_digits", 1, 32),
            None => Some(1),
        };
        if let (Some(max), Some(min), Some(n)) = (max, min, f.get("min_digits"))
            && min > max
        {
            self.err(
                n.loc,
                Problem::Invalid(format!(
                    "`min_digits` ({min}) is above `max_digits` ({max})"
                )),
            );
        }
        let terminator = match f.get("terminator") {
            None => Some(Dtmf::new('#')),
            Some(n) => match &n.kind {
                Kind::Null => Some(None),
                _ => {
                    let text = self.scalar(n, "terminator")?;
                    let mut chars = text.chars();
                    match (chars.next().and_then(Dtmf::new), chars.next()) {
                        (Some(d), None) => Some(Some(d)),
                        _ if text == "none" || text.eq_ignore_ascii_case("false") => Some(None),
                        _ => {
                            self.err(
                                n.loc,
                                Problem::BadDigitKey {
                                    key: text.to_string(),
                                },
                            );
                            None
                        }
                    }
                }
            },
        };
        let inter = match f.get("inter_digit_timeout") {
            Some(n) => self.duration(
                n,
                "inter_digit_timeout",
                Duration::from_millis(500),
                Duration::from_secs(60),
            ),
            None => Some(Duration::from_secs(3)),
        };
        let into = match f.get("into") {
            Some(n) => self.var_name(n, "into", true),
            None => Some("digits".into()),
        };
        let mut input = common?;
        // `int` bounded both to 1..=32.
        input.max_digits = usize::try_from(max?).ok()?;
        input.min_digits = usize::try_from(min?).ok()?.min(input.max_digits);
        input.terminator = terminator?;
        input.inter_timeout = inter?;
        input.into = into?;
        Some(input)
    }

    fn menu(&mut self, v: &Node, loc: Loc) -> Option<Input> {
        let f = self.fields(
            v,
            "menu",
            "`menu`",
            &[
                "prompt",
                "timeout",
                "retries",
                "invalid_prompt",
                "no_input_prompt",
                "barge_in",
            ],
        )?;
        self.input_common(&f, "`menu`", loc)
    }

    fn enqueue(&mut self, v: &Node, loc: Loc) -> Option<Action> {
        self.queue_action(v, loc, false)
    }

    /// `enqueue`, or (`transfer`) a transfer to a queue or an agent: the same options, plus
    /// `agent` for a transfer; a transfer plays `hold-music` by default when that prompt exists.
    fn queue_action(&mut self, v: &Node, loc: Loc, transfer: bool) -> Option<Action> {
        let (key, place) = if transfer {
            ("transfer", "`transfer`")
        } else {
            ("enqueue", "`enqueue`")
        };
        let allowed: &[&str] = if transfer {
            &[
                "queue", "agent", "priority", "greeting", "music", "announce", "max_wait",
            ]
        } else {
            &[
                "queue", "priority", "greeting", "music", "announce", "max_wait",
            ]
        };
        let f = self.fields(v, key, place, allowed)?;
        let agent = match f.get("agent") {
            Some(a) => {
                let t = self.template(a, "agent")?;
                if a.as_str().is_some_and(|s| s.trim().is_empty()) {
                    self.err(
                        a.loc,
                        Problem::Invalid(
                            "`agent` needs an agent id, e.g. `agent: \"1001\"`".into(),
                        ),
                    );
                    return None;
                }
                Some(t)
            }
            None => None,
        };
        let queue_node = if agent.is_some() {
            f.get("queue")
        } else {
            Some(self.required(&f, "queue", place, loc)?)
        };
        let queue = match queue_node {
            None => Some(None),
            Some(q) => self.scalar(q, "queue").map(|id| {
                if !self.catalog.queues.contains_name(id) {
                    self.err(
                        q.loc,
                        Problem::UnknownQueue {
                            queue: id.to_string(),
                        },
                    );
                }
                Some(id.to_string())
            }),
        };
        let priority = match f.get("priority") {
            Some(n) => self.int(n, "priority", 0, 100),
            None => Some(0),
        };
        let greeting = self.optional_prompts(&f, "greeting");
        let music = match f.get("music") {
            Some(m) => self.prompt_name(m, "music").map(Some),
            None if transfer && self.catalog.prompts.contains_name(DEFAULT_TRANSFER_MUSIC) => {
                Some(Some(DEFAULT_TRANSFER_MUSIC.to_string()))
            }
            None => Some(None),
        };
        let max_wait = match f.get("max_wait") {
            Some(n) => self
                .duration(n, "max_wait", Duration::from_secs(1), MAX_DURATION)
                .map(Some),
            None => Some(None),
        };
        let announce = match f.get("announce") {
            None => Some(None),
            Some(a) => self.announce(a).map(Some),
        };
        Some(Action::Enqueue(Enqueue {
            queue: queue?,
            agent,
            transfer,
            // Bounded to 0..=100 by `int`.
            priority: i32::try_from(priority?).ok()?,
            greeting: greeting.ok()?,
            music: music?,
            announce: announce?,
            max_wait: max_wait?,
        }))
    }

    fn announce(&mut self, a: &Node) -> Option<Announce> {
        let f = self.fields(a, "announce", "`announce`", &["position", "wait", "every"])?;
        let position = match f.get("position") {
            Some(n) => self.boolean(n, "position"),
            None => Some(false),
        };
        let wait = match f.get("wait") {
            Some(n) => self.boolean(n, "wait"),
            None => Some(false),
        };
        let every = self
            .required(&f, "every", "`announce`", a.loc)
            .and_then(|n| {
                self.duration(
                    n,
                    "every",
                    Duration::from_secs(5),
                    Duration::from_secs(3600),
                )
            });
        let (position, wait) = (position?, wait?);
        if !position && !wait {
            self.err(
                a.loc,
                Problem::Invalid(
                    "`announce` says nothing: set `position: true` and/or `wait: true`".into(),
                ),
            );
        }
        if position {
            self.need_numbers(a.loc);
            if !self.catalog.prompts.contains_name(QUEUE_POSITION_PROMPT) {
                self.err(
                    a.loc,
                    Problem::MissingPrompt {
                        name: QUEUE_POSITION_PROMPT.into(),
                    },
                );
            }
        }
        if wait {
            self.need_durations(a.loc);
            if !self.catalog.prompts.contains_name(QUEUE_WAIT_PROMPT) {
                self.err(
                    a.loc,
                    Problem::MissingPrompt {
                        name: QUEUE_WAIT_PROMPT.into(),
                    },
                );
            }
        }
        Some(Announce {
            position,
            wait,
            every: every?,
        })
    }

    fn record(&mut self, v: &Node, loc: Loc) -> Option<Action> {
        let f = self.fields(
            v,
            "record",
            "`record`",
            &["kind", "max", "beep", "silence", "stop_digits"],
        )?;
        let kind = match f.get("kind") {
            Some(n) => self.scalar(n, "kind").and_then(|k| {
                if is_var_name(k) {
                    Some(k.to_string())
                } else {
                    self.err(
                        n.loc,
                        Problem::Invalid(format!(
                            "`{k}` is not a recording kind (letters, digits and _)"
                        )),
                    );
                    None
                }
            }),
            None => Some("voicemail".into()),
        };
        let max = self.required(&f, "max", "`record`", loc).and_then(|n| {
            self.duration(n, "max", Duration::from_secs(1), Duration::from_secs(3600))
        });
        let beep = match f.get("beep") {
            Some(n) => self.boolean(n, "beep"),
            None => Some(true),
        };
        let silence = match f.get("silence") {
            Some(n) => self
                .duration(
                    n,
                    "silence",
                    Duration::from_secs(1),
                    Duration::from_secs(60),
                )
                .map(Some),
            None => Some(None),
        };
        let stop_digits = match f.get("stop_digits") {
            None => Some(vec![Dtmf::new('#')?]),
            Some(n) if matches!(n.kind, Kind::Null) => Some(Vec::new()),
            Some(n) => {
                let text = self.scalar(n, "stop_digits")?;
                let digits: Option<Vec<Dtmf>> = text.chars().map(Dtmf::new).collect();
                if digits.is_none() {
                    self.err(
                        n.loc,
                        Problem::BadDigitKey {
                            key: text.to_string(),
                        },
                    );
                }
                digits
            }
        };
        Some(Action::Record(Record {
            kind: kind?,
            max: max?,
            beep: beep?,
            silence: silence?,
            stop_digits: stop_digits?,
        }))
    }

    fn transfer(&mut self, v: &Node, loc: Loc) -> Option<Action> {
        let uri_node = match &v.kind {
            Kind::Scalar(_) => v,
            Kind::Map(entries) => {
                if entries
                    .iter()
                    .any(|(k, _)| matches!(k.as_str(), Some("queue" | "agent")))
                {
                    return self.queue_action(v, loc, true);
                }
                if !entries.iter().any(|(k, _)| k.as_str() == Some("uri")) {
                    // Unknown keys are named against every transfer option.
                    let _ = self.fields(
                        v,
                        "transfer",
                        "`transfer`",
                        &[
                            "uri", "queue", "agent", "priority", "greeting", "music", "announce",
                            "max_wait",
                        ],
                    );
                    self.err(
                        loc,
                        Problem::Invalid(
                            "`transfer` needs `uri` (a SIP URI), `queue` or `agent`".into(),
                        ),
                    );
                    return None;
                }
                let f = self.fields(v, "transfer", "`transfer`", &["uri"])?;
                self.required(&f, "uri", "`transfer`", loc)?
            }
            _ => {
                self.wrong_type(
                    v,
                    "transfer",
                    "a SIP URI, `{ uri: ... }`, `{ queue: ... }` or `{ agent: ... }`",
                );
                return None;
            }
        };
        let uri = self.template(uri_node, "uri")?;
        self.check_uri(uri_node, &uri, &["sip:", "sips:", "tel:"]);
        Some(Action::Transfer(Transfer { uri }))
    }

    fn branch(&mut self, ids: &HashMap<String, StateId>, v: &Node) -> Option<Action> {
        let Kind::Seq(items) = &v.kind else {
            self.wrong_type(v, "branch", "a list of rules");
            return None;
        };
        if items.is_empty() {
            self.err(v.loc, Problem::Invalid("`branch` has no rules".into()));
            return None;
        }
        let mut rules = Vec::new();
        let mut ok = true;
        for item in items {
            match self.rule(ids, item) {
                Some(r) => rules.push(r),
                None => ok = false,
            }
        }
        ok.then_some(Action::Branch(rules))
    }

    fn rule(&mut self, ids: &HashMap<String, StateId>, item: &Node) -> Option<Rule> {
        const TESTS: &[&str] = &["equals", "in", "prefix", "regex", "present"];
        let f = self.fields(
            item,
            "a branch rule",
            "a branch rule",
            &["var", "equals", "in", "prefix", "regex", "present", "goto"],
        )?;
        let var = self
            .required(&f, "var", "a branch rule", item.loc)
            .and_then(|n| self.var_name(n, "var", false));
        let goto = self
            .required(&f, "goto", "a branch rule", item.loc)
            .and_then(|n| {
                let name = self.scalar(n, "goto")?;
                self.resolve(ids, name, n.loc, "`goto`")
            });
        let given: Vec<&str> = TESTS
            .iter()
            .copied()
            .filter(|t| f.get(t).is_some())
            .collect();
        let test = match given.as_slice() {
            [one] => {
                // `one` came from the fields present above.
                let n = f.get(one)?;
                match *one {
                    "equals" => self
                        .scalar(n, "equals")
                        .map(|s| Test::Equals(s.to_string())),
                    "prefix" => self
                        .scalar(n, "prefix")
                        .map(|s| Test::Prefix(s.to_string())),
                    "present" => self.boolean(n, "present").map(Test::Present),
                    "in" => match &n.kind {
                        Kind::Seq(values) => {
                            let list: Option<Vec<String>> = values
                                .iter()
                                .map(|x| self.scalar(x, "in").map(str::to_string))
                                .collect();
                            list.map(Test::In)
                        }
                        _ => {
                            self.wrong_type(n, "in", "a list");
                            None
                        }
                    },
                    _ => {
                        let pattern = self.scalar(n, "regex")?;
                        match RegexBuilder::new(pattern)
                            .size_limit(256 * 1024)
                            .dfa_size_limit(256 * 1024)
                            .build()
                        {
                            Ok(r) => Some(Test::Regex(r)),
                            Err(e) => {
                                let msg = e.to_string();
                                let last = msg.lines().last().unwrap_or_default().trim();
                                let last = last.strip_prefix("error: ").unwrap_or(last).to_string();
                                self.err(n.loc, Problem::BadRegex(last));
                                None
                            }
                        }
                    }
                }
            }
            [] => {
                self.err(
                    item.loc,
                    Problem::Invalid(format!(
                        "a branch rule needs one test: {}",
                        TESTS.join(", ")
                    )),
                );
                None
            }
            _ => {
                self.err(
                    item.loc,
                    Problem::Invalid(format!(
                        "a branch rule takes one test, not {}",
                        given.join(" and ")
                    )),
                );
                None
            }
        };
        Some(Rule {
            var: var?,
            test: test?,
            goto: goto?,
        })
    }

    fn hours(&mut self, v: &Node, loc: Loc) -> Option<Action> {
        let f = self.fields(v, "hours", "`hours`", &["timezone", "schedule", "holidays"])?;
        let zone = self.required(&f, "timezone", "`hours`", loc);
        let schedule = self.required(&f, "schedule", "`hours`", loc);
        let mut hours = match zone {
            Some(z) => match self.scalar(z, "timezone").map(BusinessHours::new) {
                Some(Ok(h)) => Some(h),
                Some(Err(e)) => {
                    self.err(z.loc, Problem::BadHours(e));
                    None
                }
                None => None,
            },
            None => None,
        };
        let mut ok = true;
        if let Some(s) = schedule {
            match &s.kind {
                Kind::Map(days) => {
                    for (day, ranges) in days {
                        let Some(day_text) = self.scalar(day, "a day") else {
                            ok = false;
                            continue;
                        };
                        let list: Vec<&Node> = match &ranges.kind {
                            Kind::Seq(items) => items.iter().collect(),
                            Kind::Scalar(_) => vec![ranges],
                            Kind::Null => Vec::new(),
                            Kind::Map(_) => {
                                self.wrong_type(ranges, day_text, "a time range or a list of them");
                                ok = false;
                                continue;
                            }
                        };
                        if let Err(e) = crate::hours::parse_days(day_text) {
                            self.err(day.loc, Problem::BadHours(e));
                            ok = false;
                            continue;
                        }
                        for r in list {
                            let Some(text) = self.scalar(r, day_text) else {
                                ok = false;
                                continue;
                            };
                            if let Some(h) = hours.as_mut() {
                                if let Err(e) = h.add(day_text, text) {
                                    self.err(r.loc, Problem::BadHours(e));
                                    ok = false;
                                }
                            } else if let Err(e) = crate::hours::parse_range(text) {
                                self.err(r.loc, Problem::BadHours(e));
                                ok = false;
                            }
                        }
                    }
                }
                _ => {
                    self.wrong_type(s, "schedule", "a mapping of days to time ranges");
                    ok = false;
                }
            }
        }
        if let Some(list) = f.get("holidays") {
            match &list.kind {
                Kind::Seq(items) => {
                    for d in items {
                        let Some(text) = self.scalar(d, "holidays") else {
                            ok = false;
                            continue;
                        };
                        let mut probe = BusinessHours::new("UTC").ok();
                        let target = hours.as_mut().or(probe.as_mut());
                        if let Some(h) = target
                            && let Err(e) = h.add_holiday(text)
                        {
                            self.err(d.loc, Problem::BadHours(e));
                            ok = false;
                        }
                    }
                }
                _ => {
                    self.wrong_type(list, "holidays", "a list of dates (YYYY-MM-DD)");
                    ok = false;
                }
            }
        }
        if !ok || schedule.is_none() {
            return None;
        }
        hours.map(Action::Hours)
    }

    fn webhook(&mut self, v: &Node, loc: Loc) -> Option<Action> {
        let f = self.fields(v, "webhook", "`webhook`", &["url", "timeout", "data"])?;
        let url = self.required(&f, "url", "`webhook`", loc).and_then(|n| {
            let t = self.template(n, "url")?;
            self.check_uri(n, &t, &["http://", "https://"]);
            Some(t)
        });
        let timeout = match f.get("timeout") {
            Some(n) => self.duration(
                n,
                "timeout",
                Duration::from_millis(100),
                Duration::from_secs(60),
            ),
            None => Some(Duration::from_secs(5)),
        };
        let data = match f.get("data") {
            Some(n) => {
                let Kind::Map(entries) = &n.kind else {
                    self.wrong_type(n, "data", "a mapping of names to values");
                    return None;
                };
                let list = self.assignments(n, "data", false);
                if list.len() != entries.len() {
                    return None;
                }
                list
            }
            None => Vec::new(),
        };
        Some(Action::Webhook(Webhook {
            url: url?,
            data,
            timeout: timeout?,
        }))
    }
}

/// The transition keys an action takes, for messages; `None` for webhook (free outcomes).
fn allowed_keys(action: &Action) -> Option<&'static str> {
    Some(match action {
        Action::Answer | Action::Play(_) | Action::Set(_) | Action::Branch(_) => "next, hangup",
        Action::Collect(_) => "next, failed, timeout, invalid, hangup",
        Action::Menu(_) => "digits, failed, timeout, invalid, hangup",
        Action::Enqueue(_) => "max_wait, no_agents, error, digits, hangup",
        Action::Record(_) => "next, error, hangup",
        Action::Transfer(_) => "error, hangup",
        Action::Hours(_) => "open, closed, hangup",
        Action::Webhook(_) => "next, error, hangup and outcome names",
        Action::Hangup => "nothing",
    })
}

fn key_allowed(action: &Action, key: &Key) -> bool {
    use Key as K;
    match action {
        Action::Answer | Action::Play(_) | Action::Set(_) | Action::Branch(_) => {
            matches!(key, K::Done | K::Hangup)
        }
        Action::Collect(_) => matches!(
            key,
            K::Done | K::Failed | K::Timeout | K::Invalid | K::Hangup
        ),
        Action::Menu(_) => matches!(
            key,
            K::Digit(_) | K::Failed | K::Timeout | K::Invalid | K::Hangup
        ),
        Action::Enqueue(_) => {
            matches!(
                key,
                K::MaxWait | K::NoAgents | K::Error | K::Digit(_) | K::Hangup
            )
        }
        Action::Record(_) => matches!(key, K::Done | K::Error | K::Hangup),
        Action::Transfer(_) => matches!(key, K::Error | K::Hangup),
        Action::Hours(_) => matches!(key, K::Open | K::Closed | K::Hangup),
        Action::Webhook(_) => matches!(key, K::Done | K::Error | K::Hangup | K::Outcome(_)),
        Action::Hangup => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_pick_close_names_only() {
        assert_eq!(
            suggestion("plya", ACTIONS.iter().copied(), &mut 100).as_deref(),
            Some("play")
        );
        assert_eq!(
            suggestion("mnu", ACTIONS.iter().copied(), &mut 100).as_deref(),
            Some("menu")
        );
        assert_eq!(
            suggestion("zzzzzz", ACTIONS.iter().copied(), &mut 100),
            None
        );
        assert_eq!(
            suggestion("play", ACTIONS.iter().copied(), &mut 100),
            None,
            "exact is not a hint"
        );
    }

    #[test]
    fn flow_names_come_from_the_file_name() {
        assert_eq!(stem("flows/demo.yaml"), "demo");
        assert_eq!(stem("c:\\flows\\support.yml"), "support");
        assert_eq!(stem("plain"), "plain");
    }
}
