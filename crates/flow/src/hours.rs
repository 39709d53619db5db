//! Business hours: a weekly schedule in an IANA time zone, with holidays.
//!
//! The schedule is local wall-clock time, so a rule "Mon–Fri 08:00–18:00 Europe/Paris" holds on
//! both sides of a daylight-saving change; the time zone rules come from `jiff` (the system
//! database, falling back to the copy bundled into the binary).

use std::collections::BTreeSet;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A weekly schedule in a time zone, with holidays (whole local days, closed).
#[derive(Clone)]
pub struct BusinessHours {
    zone_name: String,
    zone: TimeZone,
    /// Open ranges per weekday (0 = Monday), in minutes since local midnight, `[start, end)`.
    week: [Vec<(u16, u16)>; 7],
    holidays: BTreeSet<Date>,
}

impl fmt::Debug for BusinessHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusinessHours")
            .field("zone", &self.zone_name)
            .field("week", &self.week)
            .field("holidays", &self.holidays)
            .finish()
    }
}

impl BusinessHours {
    /// An always-closed schedule in the named IANA time zone (e.g. `Europe/Paris`).
    pub fn new(zone_name: &str) -> Result<BusinessHours, String> {
        let zone = TimeZone::get(zone_name).map_err(|_| {
            format!("unknown time zone `{zone_name}` (use an IANA name such as `Europe/Paris`)")
        })?;
        Ok(BusinessHours {
            zone_name: zone_name.to_string(),
            zone,
            week: Default::default(),
            holidays: BTreeSet::new(),
        })
    }

    /// Opens the days named by `days` (`mon`, `mon-fri`, ...) during `range` (`08:00-18:00`).
    pub fn add(&mut self, days: &str, range: &str) -> Result<(), String> {
        let days = parse_days(days)?;
        let range = parse_range(range)?;
        for day in days {
            self.week[day].push(range);
        }
        Ok(())
    }

    /// Closes a whole local day (`2025-12-25`).
    pub fn add_holiday(&mut self, date: &str) -> Result<(), String> {
        let parsed = parse_date(date)?;
        self.holidays.insert(parsed);
        Ok(())
    }

    /// The time zone's name.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// Whether the schedule is open at the instant `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let local = self.zone.to_datetime(at);
        if self.holidays.contains(&local.date()) {
            return false;
        }
        let day = usize::try_from(local.weekday().to_monday_zero_offset()).unwrap_or(0);
        let minute =
            u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
        self.week.get(day).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|&(start, end)| start <= minute && minute < end)
        })
    }
}

/// `mon`, `Mon`, `mon-fri` → weekday indexes (0 = Monday).
pub(crate) fn parse_days(text: &str) -> Result<Vec<usize>, String> {
    let lower = text.trim().to_ascii_lowercase();
    let day = |name: &str| {
        DAYS.iter()
            .position(|d| *d == name.trim())
            .ok_or_else(|| format!("`{}` is not a day (use mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri)", name.trim()))
    };
    match lower.split_once('-') {
        Some((from, to)) => {
            let (from, to) = (day(from)?, day(to)?);
            if from > to {
                return Err(format!(
                    "day range `{text}` runs backwards (write it from Monday to Sunday, e.g. mon-fri)"
                ));
            }
            Ok((from..=to).collect())
        }
        None => Ok(vec![day(&lower)?]),
    }
}

/// `08:00-18:00` → minutes `[480, 1080)`. `24:00` may end a range.
pub(crate) fn parse_range(text: &str) -> Result<(u16, u16), String> {
    let (from, to) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is not a time range (write `08:00-18:00`)"))?;
    let (from, to) = (parse_clock(from, false)?, parse_clock(to, true)?);
    if from >= to {
        return Err(format!(
            "time range `{text}` ends before it starts (ranges cannot cross midnight; split them per day)"
        ));
    }
    Ok((from, to))
}

fn parse_clock(text: &str, may_be_midnight_end: bool) -> Result<u16, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a time of day (write HH:MM, e.g. 08:30)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && (m != 0 || !may_be_midnight_end)) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn parse_date(text: &str) -> Result<Date, String> {
    let text = text.trim();
    let shape_ok = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape_ok {
        return Err(format!("`{text}` is not a date (write YYYY-MM-DD)"));
    }
    text.parse::<Date>()
        .map_err(|_| format!("`{text}` is not a date in the calendar"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office() -> BusinessHours {
        let mut h = BusinessHours::new("Europe/Paris").expect("zone exists");
        h.add("mon-fri", "08:00-18:00").expect("valid");
        h.add("sat", "09:00-12:00").expect("valid");
        h.add("sat", "14:00-16:30").expect("valid");
        h.add_holiday("2025-12-25").expect("valid");
        h.add_holiday("2026-01-01").expect("valid");
        h
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("valid timestamp")
    }

    #[test]
    fn open_and_closed_across_the_week_dst_and_holidays() {
        let h = office();
        // (instant in UTC, expected open, why)
        let cases: &[(&str, bool, &str)] = &[
            // Winter, UTC+1.
            (
                "2025-03-28T06:59:59Z",
                false,
                "Fri 07:59:59 local, before opening",
            ),
            (
                "2025-03-28T07:00:00Z",
                true,
                "Fri 08:00 local, opening minute",
            ),
            (
                "2025-03-28T16:59:59Z",
                true,
                "Fri 17:59:59 local, last second",
            ),
            ("2025-03-28T17:00:00Z", false, "Fri 18:00 local, closed"),
            (
                "2025-03-29T08:30:00Z",
                true,
                "Sat 09:30 local, morning range",
            ),
            ("2025-03-29T11:30:00Z", false, "Sat 12:30 local, lunch gap"),
            (
                "2025-03-29T13:30:00Z",
                true,
                "Sat 14:30 local, afternoon range",
            ),
            (
                "2025-03-29T15:30:00Z",
                false,
                "Sat 16:30 local, end of afternoon",
            ),
            ("2025-03-30T09:00:00Z", false, "Sunday (the DST change day)"),
            // Summer, UTC+2 since 2025-03-30 01:00 UTC: the same UTC instants move by an hour.
            (
                "2025-03-31T06:00:00Z",
                true,
                "Mon 08:00 CEST: open (was 07:00 local in winter)",
            ),
            ("2025-03-31T05:59:00Z", false, "Mon 07:59 CEST"),
            ("2025-03-31T15:59:00Z", true, "Mon 17:59 CEST"),
            (
                "2025-03-31T16:00:00Z",
                false,
                "Mon 18:00 CEST: closed (was 17:00 local in winter)",
            ),
            // Autumn change, 2025-10-26 (Sunday): back to UTC+1.
            ("2025-10-24T06:30:00Z", true, "Fri 08:30 CEST"),
            ("2025-10-27T06:30:00Z", false, "Mon 07:30 CET"),
            ("2025-10-27T07:00:00Z", true, "Mon 08:00 CET"),
            // Holidays: whole local days.
            ("2025-12-25T10:00:00Z", false, "Christmas, a Thursday"),
            (
                "2025-12-24T22:59:59Z",
                false,
                "Wed 23:59:59 local: closed anyway",
            ),
            ("2025-12-26T07:00:00Z", true, "Fri after Christmas"),
            (
                "2025-12-31T23:30:00Z",
                false,
                "00:30 local on New Year's Day (still 2025 in UTC)",
            ),
            ("2026-01-02T07:00:00Z", true, "Fri 2 January"),
        ];
        for (instant, open, why) in cases {
            assert_eq!(h.is_open(at(instant)), *open, "{instant}: {why}");
        }
    }

    #[test]
    fn new_york_spring_forward() {
        let mut h = BusinessHours::new("America/New_York").expect("zone exists");
        h.add("sun", "01:00-03:00").expect("valid");
        // 2025-03-09: 02:00 EST jumps to 03:00 EDT. 06:59 UTC = 01:59 EST (open); 07:00 UTC =
        // 03:00 EDT (closed: the hour 02:00-03:00 does not exist that day).
        assert!(h.is_open(at("2025-03-09T06:59:00Z")));
        assert!(!h.is_open(at("2025-03-09T07:00:00Z")));
        // A week later the same local window is 05:00-07:00 UTC.
        assert!(h.is_open(at("2025-03-16T06:59:00Z")));
        assert!(!h.is_open(at("2025-03-16T07:00:00Z")));
    }

    #[test]
    fn ranges_may_end_at_midnight() {
        let mut h = BusinessHours::new("UTC").expect("zone exists");
        h.add("mon", "22:00-24:00").expect("valid");
        assert!(h.is_open(at("2025-03-31T23:59:59Z")));
        assert!(!h.is_open(at("2025-04-01T00:00:00Z")));
    }

    #[test]
    fn refuses_bad_schedules() {
        assert_eq!(
            BusinessHours::new("Mars/Olympus").map(|_| ()),
            Err(
                "unknown time zone `Mars/Olympus` (use an IANA name such as `Europe/Paris`)"
                    .to_string()
            )
        );
        let cases: &[(&str, &str, &str)] = &[
            (
                "funday",
                "08:00-18:00",
                "`funday` is not a day (use mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri)",
            ),
            (
                "fri-mon",
                "08:00-18:00",
                "day range `fri-mon` runs backwards (write it from Monday to Sunday, e.g. mon-fri)",
            ),
            (
                "mon",
                "8-18",
                "`8` is not a time of day (write HH:MM, e.g. 08:30)",
            ),
            (
                "mon",
                "08:00",
                "`08:00` is not a time range (write `08:00-18:00`)",
            ),
            (
                "mon",
                "18:00-08:00",
                "time range `18:00-08:00` ends before it starts (ranges cannot cross midnight; split them per day)",
            ),
            (
                "mon",
                "08:60-09:00",
                "`08:60` is not a time of day (write HH:MM, e.g. 08:30)",
            ),
            (
                "mon",
                "24:00-24:00",
                "`24:00` is not a time of day (write HH:MM, e.g. 08:30)",
            ),
            (
                "mon",
                "08:00-24:01",
                "`24:01` is not a time of day (write HH:MM, e.g. 08:30)",
            ),
        ];
        let mut h = BusinessHours::new("UTC").expect("zone exists");
        for (days, range, want) in cases {
            assert_eq!(
                h.add(days, range).as_ref().map_err(String::as_str),
                Err(*want),
                "{days} {range}"
            );
        }
        assert_eq!(
            h.add_holiday("2025-02-30"),
            Err("`2025-02-30` is not a date in the calendar".to_string())
        );
        assert_eq!(
            h.add_holiday("25/12/2025"),
            Err("`25/12/2025` is not a date (write YYYY-MM-DD)".to_string())
        );
    }
}
