//! Durations as flow files write them: `500ms`, `5s`, `2m`, `1h`, `1m30s`.

use std::time::Duration;

/// The longest duration a flow may name. Keeps every `now + duration` far from overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Parses a duration: one or more `<whole number><unit>` groups, units `ms`, `s`, `m`, `h`,
/// each unit at most once and from largest to smallest (`1m30s`, not `30s1m`). A bare number is
/// refused because `timeout: 5` is ambiguous. Returns a message for the user on error.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration".into());
    }
    let mut rest = trimmed;
    let mut total = Duration::ZERO;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        if digits > 9 {
            return Err("number too large".into());
        }
        let (number, after) = rest.split_at(digits);
        let value: u64 = number
            .parse()
            .map_err(|_| format!("`{number}` is not a whole number"))?;
        if after.starts_with(['.', ',']) {
            return Err("fractions are not allowed; use a smaller unit (e.g. `1500ms`)".into());
        }
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        let (rank, part) = match unit {
            "h" => (0, Duration::from_secs(value * 3600)),
            "m" => (1, Duration::from_secs(value * 60)),
            "s" => (2, Duration::from_secs(value)),
            "ms" => (3, Duration::from_millis(value)),
            "" => {
                return Err(format!(
                    "`{number}` has no unit (use ms, s, m or h, e.g. `{number}s`)"
                ));
            }
            other => return Err(format!("unknown unit `{other}` (use ms, s, m or h)")),
        };
        if last_rank != usize::MAX && rank <= last_rank {
            return Err("units must go from largest to smallest, each once (e.g. `1m30s`)".into());
        }
        last_rank = rank;
        total += part;
        if total > MAX_DURATION {
            return Err("longer than 24h".into());
        }
        rest = after;
    }
    Ok(total)
}

/// Prints a duration the way a flow file would write it (for traces and messages).
pub(crate) fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000u128), ("m", 60_000), ("s", 1000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_flows_use() {
        let cases: &[(&str, Duration)] = &[
            ("5s", Duration::from_secs(5)),
            ("500ms", Duration::from_millis(500)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("1m30s", Duration::from_secs(90)),
            ("1h2m3s4ms", Duration::from_millis(3_723_004)),
            (" 0s ", Duration::ZERO),
            ("24h", MAX_DURATION),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(*want), "{text}");
            assert_eq!(
                parse_duration(&format_duration(*want)),
                Ok(*want),
                "{text} round trip"
            );
        }
    }

    #[test]
    fn refuses_bad_durations_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("5x", "unknown unit `x` (use ms, s, m or h)"),
            ("5", "`5` has no unit (use ms, s, m or h, e.g. `5s`)"),
            ("", "empty duration"),
            ("s", "expected a number at `s`"),
            (
                "30s1m",
                "units must go from largest to smallest, each once (e.g. `1m30s`)",
            ),
            (
                "1s1s",
                "units must go from largest to smallest, each once (e.g. `1m30s`)",
            ),
            ("25h", "longer than 24h"),
            (
                "1.5s",
                "fractions are not allowed; use a smaller unit (e.g. `1500ms`)",
            ),
            ("9999999999s", "number too large"),
            ("-1s", "expected a number at `-1s`"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Err(want.to_string()), "{text}");
        }
    }
}
