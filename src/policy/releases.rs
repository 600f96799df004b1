//! The release calendar: per minor, its release date, end of patch support and newest patch.
//! Compiled in from `data/releases.yaml` (with its as-of date and sources); `--releases FILE`
//! loads the same format at run time.

use crate::facts::version::{self, Minor};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// The compiled-in release data.
pub const BUILTIN_YAML: &str = include_str!("../../data/releases.yaml");

/// One minor release line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Release {
    pub minor: Minor,
    pub released: Date,
    /// Planned end of patch support: unsupported from this day on.
    pub end_of_life: Date,
    /// Newest patch known on the calendar's as-of date, e.g. `1.33.13`.
    pub latest_patch: String,
}

/// The whole calendar, sorted by minor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Calendar {
    /// When the data was gathered.
    pub as_of: Date,
    /// Where the dates come from. Optional in a `--releases` file (the built-in data cites
    /// its sources; a test asserts it).
    #[serde(default)]
    pub sources: Vec<String>,
    pub releases: Vec<Release>,
}

/// The calendar compiled into the binary. A parse error here is a bug (tested).
pub fn builtin() -> Calendar {
    match parse_str(BUILTIN_YAML) {
        Ok(cal) => cal,
        Err(e) => panic!("bug: data/releases.yaml does not parse: {e}"),
    }
}

/// Parses and validates a calendar. The error message says where (line) and what.
pub fn parse_str(text: &str) -> Result<Calendar, String> {
    let mut cal: Calendar = serde_yaml::from_str(text).map_err(|e| yaml_error(&e))?;
    cal.releases.sort_by_key(|r| r.minor);
    for w in cal.releases.windows(2) {
        if w[0].minor == w[1].minor {
            return Err(format!("minor {} is listed twice", w[0].minor));
        }
    }
    for r in &cal.releases {
        if r.end_of_life <= r.released {
            return Err(format!(
                "minor {}: endOfLife {} is not after released {}",
                r.minor, r.end_of_life, r.released
            ));
        }
        match version::parse(&r.latest_patch) {
            Ok(v) if v.minor() == r.minor => {}
            Ok(_) => {
                return Err(format!(
                    "minor {}: latestPatch '{}' is not a {} release",
                    r.minor, r.latest_patch, r.minor
                ))
            }
            Err(e) => return Err(format!("minor {}: latestPatch: {e}", r.minor)),
        }
    }
    if cal.releases.is_empty() {
        return Err("no releases listed".to_string());
    }
    Ok(cal)
}

/// A YAML error as `line L column C: what` (the data files' one error format).
pub(crate) fn yaml_error(e: &serde_yaml::Error) -> String {
    match e.location() {
        Some(loc) => format!(
            "line {} column {}: {}",
            loc.line(),
            loc.column(),
            strip_location(e)
        ),
        None => e.to_string(),
    }
}

/// serde_yaml appends " at line X column Y" to its messages; we print the location first.
fn strip_location(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

impl Calendar {
    /// The release line for `m`, if known.
    pub fn get(&self, m: Minor) -> Option<&Release> {
        self.releases.iter().find(|r| r.minor == m)
    }

    /// The newest minor in the calendar.
    pub fn newest(&self) -> Option<&Release> {
        self.releases.iter().max_by_key(|r| r.minor)
    }

    /// The oldest minor in the calendar.
    pub fn oldest(&self) -> Option<&Release> {
        self.releases.iter().min_by_key(|r| r.minor)
    }

    /// Minors released on or before `today` whose end of life is after `today`, oldest first.
    pub fn supported(&self, today: Date) -> Vec<&Release> {
        self.releases
            .iter()
            .filter(|r| r.released <= today && today < r.end_of_life)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn builtin_parses_and_matches_the_reference_table() {
        let cal = builtin();
        assert_eq!(cal.as_of, date(2026, 9, 30));
        assert!(cal
            .sources
            .iter()
            .any(|s| s.contains("kubernetes.io/releases")));
        assert!(cal.sources.iter().any(|s| s.contains("endoflife.date")));
        assert_eq!(cal.releases.len(), 19);
        assert_eq!(cal.oldest().unwrap().minor, Minor::new(1, 19));
        assert_eq!(cal.newest().unwrap().minor, Minor::new(1, 37));
        let r = cal.get(Minor::new(1, 33)).unwrap();
        assert_eq!(r.released, date(2025, 4, 23));
        assert_eq!(r.end_of_life, date(2026, 6, 28));
        assert_eq!(r.latest_patch, "1.33.13");
        assert_eq!(
            cal.get(Minor::new(1, 30)).unwrap().end_of_life,
            date(2025, 7, 15)
        );
        assert_eq!(
            cal.get(Minor::new(1, 28)).unwrap().end_of_life,
            date(2024, 10, 28)
        );
        assert!(cal.get(Minor::new(1, 18)).is_none());
        // Contiguous minors: the path planner relies on no gaps.
        for w in cal.releases.windows(2) {
            assert_eq!(w[0].minor.next(), w[1].minor);
        }
    }

    #[test]
    fn supported_window_edges() {
        let cal = builtin();
        let minors = |d: Date| -> Vec<String> {
            cal.supported(d)
                .iter()
                .map(|r| r.minor.to_string())
                .collect()
        };
        // 1.34 ends 2026-10-27; 1.37 released 2026-08-26.
        assert_eq!(minors(date(2026, 9, 30)), ["1.34", "1.35", "1.36", "1.37"]);
        assert_eq!(minors(date(2026, 10, 26)), ["1.34", "1.35", "1.36", "1.37"]);
        assert_eq!(minors(date(2026, 10, 27)), ["1.35", "1.36", "1.37"]);
        assert_eq!(minors(date(2026, 8, 25)), ["1.34", "1.35", "1.36"]);
    }

    #[test]
    fn sources_are_optional_in_a_file() {
        let text = "asOf: 2027-01-01\nreleases:\n  - { minor: \"1.38\", released: 2026-12-10, endOfLife: 2028-02-28, latestPatch: \"1.38.0\" }\n";
        let cal = parse_str(text).expect("no sources: is fine");
        assert!(cal.sources.is_empty());
        assert_eq!(cal.newest().unwrap().minor, Minor::new(1, 38));
    }

    #[test]
    fn duplicate_minor_is_rejected() {
        let text = "asOf: 2027-01-01\nsources: []\nreleases:\n  - { minor: \"1.30\", released: 2024-04-17, endOfLife: 2025-07-15, latestPatch: \"1.30.1\" }\n  - { minor: \"v1.30\", released: 2024-04-17, endOfLife: 2025-07-15, latestPatch: \"1.30.2\" }\n";
        assert!(parse_str(text).unwrap_err().contains("twice"));
    }
}
