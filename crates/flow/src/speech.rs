//! Numbers and durations spoken from the bundled number prompts (English).
//!
//! The prompts are recordings named `digits/0` … `digits/19`, `digits/20`, `digits/30` …
//! `digits/90`, `digits/hundred` and `digits/thousand`, plus `minute`, `minutes`, `second` and
//! `seconds` for durations. "You are caller number" + 3 becomes
//! `[queue-position, digits/3]`; 2 min 30 s becomes
//! `[digits/2, minutes, digits/30, seconds]`. American style: no "and" (`115` is "one hundred
//! fifteen").

use std::time::Duration;

/// The largest number [`speak_number`] can say.
pub const MAX_SPOKEN_NUMBER: u64 = 999_999;

/// The prompts needed to speak any number from 0 to [`MAX_SPOKEN_NUMBER`].
pub fn number_prompts() -> Vec<String> {
    let mut names: Vec<String> = (0..20).map(|n| format!("digits/{n}")).collect();
    names.extend((2..10).map(|t| format!("digits/{}", t * 10)));
    names.push("digits/hundred".into());
    names.push("digits/thousand".into());
    names
}

/// The prompts needed, besides [`number_prompts`], to speak a duration.
pub fn duration_unit_prompts() -> Vec<String> {
    ["minute", "minutes", "second", "seconds"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The prompt names that say `n` in English, or `None` when `n` exceeds
/// [`MAX_SPOKEN_NUMBER`].
///
/// ```
/// assert_eq!(flow::speak_number(3).unwrap(), ["digits/3"]);
/// assert_eq!(
///     flow::speak_number(1_115).unwrap(),
///     ["digits/1", "digits/thousand", "digits/1", "digits/hundred", "digits/15"]
/// );
/// ```
pub fn speak_number(n: u64) -> Option<Vec<String>> {
    if n > MAX_SPOKEN_NUMBER {
        return None;
    }
    let mut out = Vec::new();
    if n == 0 {
        out.push("digits/0".to_string());
        return Some(out);
    }
    let thousands = n / 1000;
    let rest = n % 1000;
    if thousands > 0 {
        below_thousand(thousands, &mut out);
        out.push("digits/thousand".into());
    }
    if rest > 0 {
        below_thousand(rest, &mut out);
    }
    Some(out)
}

/// Appends the words for 1..=999.
fn below_thousand(n: u64, out: &mut Vec<String>) {
    let hundreds = n / 100;
    let rest = n % 100;
    if hundreds > 0 {
        out.push(format!("digits/{hundreds}"));
        out.push("digits/hundred".into());
    }
    if rest == 0 {
        return;
    }
    if rest < 20 {
        out.push(format!("digits/{rest}"));
    } else {
        out.push(format!("digits/{}", rest / 10 * 10));
        if !rest.is_multiple_of(10) {
            out.push(format!("digits/{}", rest % 10));
        }
    }
}

/// Says each digit of `text` one by one (`"42"` → `[digits/4, digits/2]`), skipping anything
/// that is not a digit: for account numbers and caller numbers.
pub fn speak_digits(text: &str) -> Vec<String> {
    text.chars()
        .filter(char::is_ascii_digit)
        .map(|c| format!("digits/{c}"))
        .collect()
}

/// The prompt names that say a duration in whole minutes and seconds ("2 minutes 30 seconds",
/// "1 minute", "45 seconds", "0 seconds"). Fractions of a second are dropped; an hour is said as
/// "60 minutes". Minutes beyond [`MAX_SPOKEN_NUMBER`] are capped there.
pub fn speak_duration(d: Duration) -> Vec<String> {
    let total = d.as_secs();
    let minutes = (total / 60).min(MAX_SPOKEN_NUMBER);
    let seconds = total % 60;
    let mut out = Vec::new();
    if minutes > 0 {
        push_number(minutes, &mut out);
        out.push(if minutes == 1 { "minute" } else { "minutes" }.into());
    }
    if seconds > 0 || minutes == 0 {
        push_number(seconds, &mut out);
        out.push(if seconds == 1 { "second" } else { "seconds" }.into());
    }
    out
}

fn push_number(n: u64, out: &mut Vec<String>) {
    // Callers pass at most MAX_SPOKEN_NUMBER, so the speller always has words for it.
    out.extend(speak_number(n.min(MAX_SPOKEN_NUMBER)).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the prompt list back as English words, so the table below says what a caller hears.
    fn words(prompts: &[String]) -> String {
        prompts
            .iter()
            .map(|p| {
                let name = p.strip_prefix("digits/").unwrap_or(p);
                match name.parse::<u32>() {
                    Ok(n) => [
                        "zero",
                        "one",
                        "two",
                        "three",
                        "four",
                        "five",
                        "six",
                        "seven",
                        "eight",
                        "nine",
                        "ten",
                        "eleven",
                        "twelve",
                        "thirteen",
                        "fourteen",
                        "fifteen",
                        "sixteen",
                        "seventeen",
                        "eighteen",
                        "nineteen",
                    ]
                    .get(n as usize)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| {
                        [
                            "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
                            "ninety",
                        ][(n / 10 - 2) as usize]
                            .to_string()
                    }),
                    Err(_) => name.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn speaks_numbers_in_english() {
        let cases: &[(u64, &str)] = &[
            (0, "zero"),
            (1, "one"),
            (13, "thirteen"),
            (19, "nineteen"),
            (20, "twenty"),
            (21, "twenty one"),
            (40, "forty"),
            (99, "ninety nine"),
            (100, "one hundred"),
            (101, "one hundred one"),
            (115, "one hundred fifteen"),
            (250, "two hundred fifty"),
            (999, "nine hundred ninety nine"),
            (1000, "one thousand"),
            (1001, "one thousand one"),
            (1010, "one thousand ten"),
            (1100, "one thousand one hundred"),
            (12_345, "twelve thousand three hundred forty five"),
            (100_000, "one hundred thousand"),
            (200_019, "two hundred thousand nineteen"),
            (
                999_999,
                "nine hundred ninety nine thousand nine hundred ninety nine",
            ),
        ];
        for (n, want) in cases {
            let prompts = speak_number(*n).expect("in range");
            assert_eq!(words(&prompts), *want, "{n}");
        }
    }

    #[test]
    fn every_spoken_number_uses_only_bundled_prompts() {
        let known = number_prompts();
        for n in (0..=2_000)
            .chain((2_000..=MAX_SPOKEN_NUMBER).step_by(997))
            .chain([MAX_SPOKEN_NUMBER])
        {
            for p in speak_number(n).expect("in range") {
                assert!(known.contains(&p), "{n} uses unknown prompt {p}");
            }
        }
    }

    #[test]
    fn refuses_numbers_out_of_range() {
        assert_eq!(speak_number(1_000_000), None);
        assert_eq!(speak_number(u64::MAX), None);
    }

    #[test]
    fn speaks_durations() {
        let cases: &[(u64, &str)] = &[
            (0, "zero seconds"),
            (1, "one second"),
            (45, "forty five seconds"),
            (60, "one minute"),
            (61, "one minute one second"),
            (150, "two minutes thirty seconds"),
            (3600, "sixty minutes"),
            (3725, "sixty two minutes five seconds"),
        ];
        for (secs, want) in cases {
            assert_eq!(
                words(&speak_duration(Duration::from_secs(*secs))),
                *want,
                "{secs}"
            );
        }
        assert_eq!(
            words(&speak_duration(Duration::from_millis(1_999))),
            "one second",
            "fractions are dropped"
        );
    }

    #[test]
    fn speaks_digits_one_by_one() {
        assert_eq!(
            speak_digits("+33 1 02"),
            ["digits/3", "digits/3", "digits/1", "digits/0", "digits/2"]
        );
        assert!(speak_digits("abc").is_empty());
    }
}
