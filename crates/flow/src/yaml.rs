//! A YAML document as a tree of nodes that remember where they came from.
//!
//! `serde-saphyr` parses the text; its [`Spanned`] wrapper gives every node — keys included —
//! its line and column. We deserialize into this generic tree rather than into typed structs so
//! that the compiler in `compile.rs` can keep going after the first problem and report all of
//! them, each at its own position.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, Options, Spanned};

/// Largest flow file we accept, in bytes. Real flows are a few kilobytes.
pub(crate) const MAX_SOURCE_BYTES: usize = 1024 * 1024;

/// A 1-based position in a source file. `line == 0` means "no position" (a problem with the
/// whole file, such as an I/O error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    /// 1-based line, or 0 when the problem has no position.
    pub line: u32,
    /// 1-based column (in characters), or 0 when unknown.
    pub column: u32,
}

impl Loc {
    /// A position that stands for the whole file.
    pub const NONE: Loc = Loc { line: 0, column: 0 };

    fn from_saphyr(loc: &serde_saphyr::Location) -> Loc {
        Loc {
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
        }
    }
}

/// One YAML node with its position.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub loc: Loc,
}

/// What a node holds. Scalars keep their source text (`1.50` stays `1.50`, `007` stays `007`):
/// the flow compiler decides what a scalar means from where it stands, not YAML's type guess.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Null,
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar text, if this node is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// A short description of the node's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "nothing",
            Kind::Scalar(_) => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// Parses `source` into a node tree, or returns the YAML error with its position.
pub(crate) fn parse(source: &str) -> Result<Node, (Loc, String)> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err((
            Loc::NONE,
            format!(
                "file is {} bytes; flow files are limited to {MAX_SOURCE_BYTES}",
                source.len()
            ),
        ));
    }
    let raw: Spanned<Raw> =
        serde_saphyr::from_str_with_options(source, options()).map_err(|e| {
            let loc = e
                .location()
                .map(|l| Loc::from_saphyr(&l))
                .unwrap_or(Loc::NONE);
            (loc, clean_message(&e.to_string()))
        })?;
    Ok(convert(raw, source))
}

/// Parser options: YAML 1.2 booleans only (`on`, `yes` and `no` are plain words — `on` is a
/// key in every flow), numbers with leading zeros or underscores stay text, duplicate keys are
/// errors, and a tight budget so that hostile input (alias bombs, deep nesting) costs little.
fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = 32;
    budget.max_nodes = 100_000;
    budget.max_events = 200_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_total_scalar_bytes = MAX_SOURCE_BYTES;
    budget.max_recorded_anchor_events = 100_000;
    budget.max_recorded_anchor_bytes = MAX_SOURCE_BYTES;
    budget.max_documents = 1;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.strict_booleans = true;
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    options.with_snippet = false;
    options.alias_limits.max_total_replayed_events = 100_000;
    options
}

/// serde-saphyr frames messages with "line N column M: " / " at line N, column M" and hints
/// meant for programmers; we print our own position and talk to flow authors.
fn clean_message(message: &str) -> String {
    let mut message = message.trim();
    if let Some(i) = message.rfind(" at line ")
        && message[i + 9..]
            .split([',', ' '])
            .all(|w| w.is_empty() || w == "column" || w.parse::<u64>().is_ok())
    {
        message = &message[..i];
    }
    let message = message
        .strip_suffix(", set DuplicateKeyPolicy in Options if acceptable")
        .unwrap_or(message);
    let message = message.strip_prefix("error: ").unwrap_or(message);
    if let Some(rest) = message.strip_prefix("line ")
        && let Some((_, after)) = rest.split_once(": ")
        && rest.split_once(": ").is_some_and(|(pos, _)| {
            pos.split(' ')
                .all(|w| w == "column" || w.parse::<u64>().is_ok())
        })
    {
        return after.to_string();
    }
    message.to_string()
}

/// The shape serde hands us. Typed scalars (numbers, booleans) are marked so that `convert`
/// can take their text from the source instead of the re-printed value.
enum Raw {
    Null,
    Str(String),
    Typed(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Raw, D::Error> {
        Raw::deserialize(deserializer)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Typed(v.to_string()))
    }
    fn visit_char<E>(self, v: char) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(Raw::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Raw::Map(entries))
    }
}

fn convert(raw: Spanned<Raw>, source: &str) -> Node {
    let loc = Loc::from_saphyr(&raw.referenced);
    let kind = match raw.value {
        Raw::Null => Kind::Null,
        Raw::Str(s) => Kind::Scalar(s),
        Raw::Typed(printed) => {
            // Prefer the exact source text of a plain scalar; fall back to the printed value
            // when the span is unavailable or does not cover a plain token.
            let span = raw.defined.span();
            let text = span
                .byte_offset()
                .zip(span.byte_len())
                .and_then(|(start, len)| {
                    let start = usize::try_from(start).ok()?;
                    let end = start.checked_add(usize::try_from(len).ok()?)?;
                    source.get(start..end)
                })
                .filter(|t| {
                    !t.is_empty()
                        && !t.contains(['\n', '"', '\'', ':', '#', ',', '[', ']', '{', '}'])
                })
                .map(str::to_string);
            Kind::Scalar(text.unwrap_or(printed))
        }
        Raw::Seq(items) => Kind::Seq(items.into_iter().map(|i| convert(i, source)).collect()),
        Raw::Map(entries) => Kind::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(k, source), convert(v, source)))
                .collect(),
        ),
    };
    Node { kind, loc }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalars(node: &Node, out: &mut Vec<(String, u32, u32)>) {
        match &node.kind {
            Kind::Scalar(s) => out.push((s.clone(), node.loc.line, node.loc.column)),
            Kind::Null => {}
            Kind::Seq(items) => items.iter().for_each(|i| scalars(i, out)),
            Kind::Map(entries) => entries.iter().for_each(|(k, v)| {
                scalars(k, out);
                scalars(v, out);
            }),
        }
    }

    #[test]
    fn plain_scalars_keep_their_source_text_and_position() {
        let node =
            parse("on: { 007: a, 1_000: b, yes: c, 1.50: d, true: e }\n").expect("valid YAML");
        let mut out = Vec::new();
        scalars(&node, &mut out);
        let expected: Vec<(String, u32, u32)> = [
            ("on", 1, 1),
            ("007", 1, 7),
            ("a", 1, 12),
            ("1_000", 1, 15),
            ("b", 1, 22),
            ("yes", 1, 25),
            ("c", 1, 30),
            ("1.50", 1, 33),
            ("d", 1, 39),
            ("true", 1, 42),
            ("e", 1, 48),
        ]
        .iter()
        .map(|(s, l, c)| (s.to_string(), *l, *c))
        .collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn duplicate_keys_are_errors_with_position() {
        let (loc, message) = parse("a: 1\na: 2\n").expect_err("duplicate key");
        assert_eq!(loc, Loc { line: 2, column: 1 });
        assert_eq!(message, "duplicate mapping key: a");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let (loc, _) = parse("a: [1\nb: 2\n").expect_err("unclosed list");
        assert_eq!(loc.line, 2);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse(&s).is_err());
    }
}
