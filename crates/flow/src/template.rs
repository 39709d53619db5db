//! `${name}` templates in flow values: `"caller ${caller} pressed ${digits}"`.
//!
//! `$$` is a literal dollar sign. A variable that is not set expands to the empty string.

use std::collections::BTreeMap;

/// Longest value a template expansion produces; longer results are cut (at a char boundary).
pub(crate) const MAX_VALUE_LEN: usize = 4096;

/// A parsed template: literal text and variable references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(String),
}

/// Whether `name` can name a variable: ASCII letters, digits and `_`, not starting with a digit.
pub(crate) fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

impl Template {
    /// Parses `text`; the error says what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            literal.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                literal.push('$');
                rest = tail;
            } else if let Some(tail) = after.strip_prefix('{') {
                let Some(end) = tail.find('}') else {
                    return Err("`${` without a closing `}`".into());
                };
                let name = tail[..end].trim();
                if !is_var_name(name) {
                    return Err(format!(
                        "`{name}` is not a variable name (letters, digits and _, e.g. `${{caller}}`)"
                    ));
                }
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Var(name.to_string()));
                rest = &tail[end + 1..];
            } else {
                return Err("a `$` must start `${name}`; write `$$` for a dollar sign".into());
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// The text before the first variable, if the template starts with text.
    pub(crate) fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Text(t)) => t,
            _ => "",
        }
    }

    /// Whether the template contains variables.
    pub(crate) fn has_vars(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var(_)))
    }

    /// Expands the template against `vars`.
    pub(crate) fn render(&self, vars: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            let piece = match part {
                Part::Text(t) => t.as_str(),
                Part::Var(name) => vars.get(name).map(String::as_str).unwrap_or(""),
            };
            out.push_str(piece);
            if out.len() > MAX_VALUE_LEN {
                truncate(&mut out, MAX_VALUE_LEN);
                break;
            }
        }
        out
    }
}

/// Cuts `s` to at most `max` bytes at a char boundary.
pub(crate) fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_variables_and_escapes() {
        let vars: BTreeMap<String, String> = [("caller", "+331234"), ("digits", "42")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("${caller}", "+331234"),
            (
                "caller ${caller} pressed ${ digits }",
                "caller +331234 pressed 42",
            ),
            ("cost: $$5", "cost: $5"),
            ("${unset}x", "x"),
            ("", ""),
        ];
        for (text, want) in cases {
            let t = Template::parse(text).expect("valid template");
            assert_eq!(t.render(&vars), *want, "{text}");
        }
    }

    #[test]
    fn refuses_malformed_templates() {
        let cases: &[(&str, &str)] = &[
            ("${caller", "`${` without a closing `}`"),
            (
                "$caller",
                "a `$` must start `${name}`; write `$$` for a dollar sign",
            ),
            (
                "${9x}",
                "`9x` is not a variable name (letters, digits and _, e.g. `${caller}`)",
            ),
            (
                "${}",
                "`` is not a variable name (letters, digits and _, e.g. `${caller}`)",
            ),
            (
                "5$",
                "a `$` must start `${name}`; write `$$` for a dollar sign",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Template::parse(text).as_deref_err(), Err(*want), "{text}");
        }
    }

    trait AsDerefErr {
        fn as_deref_err(&self) -> Result<(), &str>;
    }
    impl AsDerefErr for Result<Template, String> {
        fn as_deref_err(&self) -> Result<(), &str> {
            self.as_ref().map(|_| ()).map_err(String::as_str)
        }
    }

    #[test]
    fn long_expansions_are_cut() {
        let vars: BTreeMap<String, String> = [("x".to_string(), "é".repeat(MAX_VALUE_LEN))]
            .into_iter()
            .collect();
        let out = Template::parse("${x}${x}").expect("valid").render(&vars);
        assert!(out.len() <= MAX_VALUE_LEN);
        assert!(out.len() > MAX_VALUE_LEN - 4);
    }
}
