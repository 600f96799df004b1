//! Support window: is the running minor still patched, until when, and is a newer patch out.
//! Pure: the calendar and "today" (`--now`) are inputs.

use crate::facts::inventory::Inventory;
use crate::facts::version::{self, Distro, Minor, Version};
use crate::findings::{Finding, Section, Severity};
use crate::policy::releases::Calendar;
use jiff::civil::Date;
use jiff::ToSpan;

/// Days before end of life from which the verdict is a warning.
pub const WARN_DAYS: i64 = 90;
/// Release data older than this many months (before today) gets a warning.
pub const STALE_MONTHS: i32 = 6;
/// Patches behind the newest from which "newer patch available" is a warning, not info.
pub const PATCHES_BEHIND_WARN: u64 = 3;

const RULE_WINDOW: &str = "support: each minor gets patch releases until its end-of-life date, \
     about 14 months (kubernetes.io/releases, endoflife.date/kubernetes)";
const RULE_PATCH: &str = "support: run the newest patch of your minor; patches carry security \
     and bug fixes (kubernetes.io/releases/patch-releases)";
const RULE_DATA: &str = "support: the release data must be recent to judge support \
     (data/releases.yaml, --releases FILE)";

/// Whole days from `a` to `b` (negative when `b` is earlier).
pub fn days_between(a: Date, b: Date) -> i64 {
    a.duration_until(b).as_hours() / 24
}

/// "1 day" / "N days".
fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_string()
    } else {
        format!("{n} days")
    }
}

/// Support verdicts for the `running` control-plane version against `cal` on `today`.
pub fn evaluate(cal: &Calendar, running: &Version, today: Date) -> Vec<Finding> {
    let mut out = Vec::new();
    let minor = running.minor();
    let subject = format!("Kubernetes {minor}");
    let find = |sev, msg: String, rule: &str| {
        Finding::new(Section::Support, sev, subject.clone(), msg, rule)
    };

    match cal.get(minor) {
        Some(rel) => {
            let (standing, left) = window(rel.end_of_life, today);
            if standing == Severity::Violation {
                out.push(find(
                    Severity::Violation,
                    format!(
                        "{minor} is end of life since {} ({} ago); upgrade to a supported minor",
                        rel.end_of_life,
                        days(-left)
                    ),
                    RULE_WINDOW,
                ));
            } else if standing == Severity::Warn {
                out.push(find(
                    Severity::Warn,
                    format!(
                        "{minor} support ends within {WARN_DAYS} days: on {} ({} left)",
                        rel.end_of_life,
                        days(left)
                    ),
                    RULE_WINDOW,
                ));
            } else {
                out.push(find(
                    Severity::Ok,
                    format!(
                        "{minor} is supported until {} ({} left)",
                        rel.end_of_life,
                        days(left)
                    ),
                    RULE_WINDOW,
                ));
            }
            out.extend(patch_finding(running, &rel.latest_patch, &subject));
        }
        None => {
            let newest = cal.newest();
            match (older_than_data(cal, minor, today), newest) {
                (Some(o), _) => out.push(find(
                    Severity::Violation,
                    format!(
                        "{minor} is older than every release in the data; {} already reached end of life on {}",
                        o.minor, o.end_of_life
                    ),
                    RULE_WINDOW,
                )),
                (_, Some(n)) if minor > n.minor => out.push(find(
                    Severity::Warn,
                    format!(
                        "{minor} is unknown to the release data (newest known {}); pass --releases FILE with newer data",
                        n.minor
                    ),
                    RULE_DATA,
                )),
                _ => out.push(find(
                    Severity::Warn,
                    format!("{minor} is unknown to the release data; pass --releases FILE"),
                    RULE_DATA,
                )),
            }
        }
    }

    if let Some(pre) = &running.pre {
        out.push(find(
            Severity::Warn,
            format!(
                "{} is a pre-release ({pre}); not for production",
                running.raw
            ),
            RULE_PATCH,
        ));
    }

    let stale_before = today.saturating_sub(STALE_MONTHS.months());
    if cal.as_of < stale_before {
        out.push(Finding::new(
            Section::Support,
            Severity::Warn,
            "release data",
            format!(
                "release data is from {}; pass --releases FILE with current data",
                cal.as_of
            ),
            RULE_DATA,
        ));
    }
    out
}

/// "Newer patch available" (Info, or Warn when several patches behind). Managed
/// distributions set their own patch numbers, so for them it is Info at most.
fn patch_finding(running: &Version, latest_patch: &str, subject: &str) -> Option<Finding> {
    let latest = version::parse(latest_patch).ok()?;
    if latest.minor() != running.minor() || running.patch >= latest.patch {
        return None;
    }
    let behind = latest.patch - running.patch;
    let managed = matches!(running.distro, Distro::Eks | Distro::Gke | Distro::Aks);
    let (sev, tail) = if managed {
        (
            Severity::Info,
            "; the provider chooses patch releases for managed control planes".to_string(),
        )
    } else if behind >= PATCHES_BEHIND_WARN {
        (Severity::Warn, format!(" ({behind} patches behind)"))
    } else {
        (Severity::Info, String::new())
    };
    Some(Finding::new(
        Section::Support,
        sev,
        subject,
        format!(
            "newer patch {} available (running {}){tail}",
            latest.core(),
            running.core()
        ),
        RULE_PATCH,
    ))
}

/// Where a minor stands on `today` in the support window: past its end of life (Violation),
/// within [`WARN_DAYS`] of it (Warn), or supported (Ok); with the days left.
fn window(end_of_life: Date, today: Date) -> (Severity, i64) {
    let left = days_between(today, end_of_life);
    let standing = if left <= 0 {
        Severity::Violation
    } else if left <= WARN_DAYS {
        Severity::Warn
    } else {
        Severity::Ok
    };
    (standing, left)
}

/// Where a minor stands on `today`: `Some(severity of the window)`, or `None` when the
/// calendar cannot tell (newer than its data). Minors older than the calendar's oldest are
/// end of life (the calendar lists every minor since long-unsupported ones).
fn standing(cal: &Calendar, m: Minor, today: Date) -> Option<Severity> {
    match cal.get(m) {
        Some(rel) => Some(window(rel.end_of_life, today).0),
        None => older_than_data(cal, m, today).map(|_| Severity::Violation),
    }
}

/// The calendar's oldest release when `m` is older than it and it has itself reached end of
/// life (so `m` certainly has); `None` otherwise.
fn older_than_data(
    cal: &Calendar,
    m: Minor,
    today: Date,
) -> Option<&crate::policy::releases::Release> {
    cal.oldest()
        .filter(|o| m < o.minor && o.end_of_life <= today)
}

/// Apiserver instances newer than the oldest (mid-upgrade HA) judged too: when they are out
/// of support as well, upgrading the old ones to their minor would not be enough.
pub fn newer_apiservers(
    cal: &Calendar,
    inv: &Inventory,
    oldest: &Version,
    today: Date,
) -> Option<Finding> {
    let api = crate::policy::skew::apiservers(inv)?;
    let newest = api.newest.minor();
    if newest == oldest.minor() {
        return None;
    }
    let sev = standing(cal, newest, today)?;
    if sev == Severity::Ok {
        return None;
    }
    let end = cal
        .get(newest)
        .map_or_else(String::new, |r| format!(" ({})", r.end_of_life));
    let what = if sev == Severity::Violation {
        "past end of life too"
    } else {
        "close to end of life too"
    };
    Some(Finding::new(
        Section::Support,
        sev,
        format!("kube-apiserver {newest} (newer instances)"),
        format!(
            "the newer kube-apiserver instances run {newest}, {what}{end}: finishing this upgrade at {newest} is not enough"
        ),
        RULE_WINDOW,
    ))
}

/// Kubelets on a minor past end of life, when the control plane itself is not (known and in
/// support, or unknown): the skew policy lets kubelets lag, but only the newest three minors
/// get patches, so those nodes run an unpatched kubelet. One finding per such minor.
pub fn eol_kubelets(
    cal: &Calendar,
    inv: &Inventory,
    control_plane: Option<Minor>,
    today: Date,
) -> Vec<Finding> {
    if control_plane.is_some_and(|m| standing(cal, m, today) == Some(Severity::Violation)) {
        return Vec::new(); // the control plane's own verdict already says it
    }
    let mut by_minor: std::collections::BTreeMap<Minor, Vec<String>> = Default::default();
    for n in &inv.nodes {
        if let Ok(v) = version::parse(&n.kubelet_version) {
            by_minor.entry(v.minor()).or_default().push(n.name.clone());
        }
    }
    by_minor
        .into_iter()
        .filter(|(m, _)| Some(*m) != control_plane)
        .filter(|(m, _)| standing(cal, *m, today) == Some(Severity::Violation))
        .map(|(m, names)| {
            let since = cal
                .get(m)
                .map_or_else(String::new, |r| format!(" since {}", r.end_of_life));
            Finding::new(
                Section::Support,
                Severity::Warn,
                crate::findings::counted(&format!("kubelet {m}"), "node", &names),
                format!(
                    "kubelet {m} is past end of life{since}: these nodes get no more kubelet patches; the skew policy allows the lag, the support window does not: upgrade them"
                ),
                RULE_WINDOW,
            )
        })
        .collect()
}

/// The support verdict when the control plane's version is unknown (a dump of a managed
/// cluster without /version): the kubelets bound it. No kubelet may be newer than the
/// apiserver, and the apiserver is at most 3 minors (2 before 1.28) newer than the oldest
/// kubelet; when every minor in that range stands the same, that is the verdict.
pub fn unknown_control_plane(cal: &Calendar, inv: &Inventory, today: Date) -> Finding {
    let add = "pass --apiserver-version vX.Y.Z, or add `kubectl version -o json` output to the dump, for the exact verdict";
    let minors: Vec<Minor> = inv
        .nodes
        .iter()
        .filter_map(|n| version::parse(&n.kubelet_version).ok())
        .map(|v| v.minor())
        .collect();
    let (Some(lo), Some(oldest)) = (minors.iter().max().copied(), minors.iter().min().copied())
    else {
        return Finding::new(
            Section::Support,
            Severity::Warn,
            "kube-apiserver",
            format!("control-plane version unknown (no /version, apiserver pod or kubeadm-config in the input) and no readable kubelet version to bound it: support cannot be judged; {add}"),
            RULE_WINDOW,
        );
    };
    let mut possible = vec![lo];
    let mut m = lo.next();
    while m.diff(oldest) <= crate::policy::skew::kubelet_max_skew(m) {
        possible.push(m);
        m = m.next();
    }
    let hi = *possible.last().unwrap_or(&lo);
    let range = if hi == lo {
        lo.to_string()
    } else {
        format!("{lo} to {hi}")
    };
    let standings: Vec<Option<Severity>> =
        possible.iter().map(|m| standing(cal, *m, today)).collect();
    let subject = format!("Kubernetes {range} (from the kubelets)");
    let kubelets = if oldest == lo {
        format!("at {lo}")
    } else {
        format!("{oldest} to {lo}")
    };
    let why = format!(
        "control-plane version unknown (no /version, apiserver pod or kubeadm-config in the input); the kubelets ({kubelets}) put the apiserver at {range}"
    );
    let (sev, verdict) = if standings.iter().all(|s| *s == Some(Severity::Violation)) {
        (
            Severity::Violation,
            "every one of them is past end of life: the cluster is unsupported whatever it runs",
        )
    } else if standings.iter().all(|s| *s == Some(Severity::Ok)) {
        (Severity::Ok, "every one of them is supported today")
    } else {
        (Severity::Warn, "support depends on which one it runs")
    };
    Finding::new(
        Section::Support,
        sev,
        subject,
        format!("{why}: {verdict}; {add}"),
        format!(
            "{RULE_WINDOW}; kubelet never newer than kube-apiserver, at most 3 minors older (2 before 1.28) ({})",
            crate::policy::skew::POLICY
        ),
    )
}

/// The path's target judged by the same window: planning into a minor that is already end
/// of life (or close to it) is said, with the oldest minor still supported after it.
pub fn target(cal: &Calendar, to: Minor, today: Date) -> Option<Finding> {
    let rel = cal.get(to)?;
    let (standing, left) = window(rel.end_of_life, today);
    let better = cal
        .supported(today)
        .into_iter()
        .map(|r| r.minor)
        .filter(|m| *m > to)
        .min();
    let instead = better.map_or_else(String::new, |m| format!("; consider --to {m}"));
    let (severity, message) = if standing == Severity::Violation {
        (
            Severity::Violation,
            format!(
                "the target {to} is past its end of life ({}, {} ago): it gets no more patches{instead}",
                rel.end_of_life,
                days(-left)
            ),
        )
    } else if standing == Severity::Warn {
        (
            Severity::Warn,
            format!(
                "the target {to} reaches end of life on {} ({} left){instead}",
                rel.end_of_life,
                days(left)
            ),
        )
    } else {
        return None;
    };
    Some(Finding::new(
        Section::Support,
        severity,
        format!("target {to}"),
        message,
        RULE_WINDOW,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::releases::builtin;
    use jiff::civil::date;

    #[test]
    fn target_past_or_near_end_of_life_is_said() {
        let cal = builtin();
        let rel = cal
            .get(Minor::new(1, 33))
            .expect("1.33 in the data")
            .clone();
        let f = target(&cal, rel.minor, rel.end_of_life).expect("EOL day");
        assert_eq!(f.severity, Severity::Violation, "{}", f.message);
        assert!(f.message.contains("--to 1.3"), "{}", f.message);
        let near = rel.end_of_life.checked_sub(30.days()).unwrap();
        assert_eq!(
            target(&cal, rel.minor, near).map(|f| f.severity),
            Some(Severity::Warn)
        );
        assert_eq!(target(&cal, rel.minor, rel.released), None);
    }

    fn sev_msgs(fs: &[Finding]) -> Vec<(Severity, String)> {
        fs.iter().map(|f| (f.severity, f.message.clone())).collect()
    }

    #[test]
    fn window_edges() {
        let cal = builtin();
        // 1.33: end of life 2026-06-28, latest patch 1.33.13.
        let v = version::parse("v1.33.13").unwrap();
        let table = [
            (
                date(2026, 6, 28),
                Severity::Violation,
                "end of life since 2026-06-28 (0 days ago)",
            ),
            (
                date(2026, 6, 29),
                Severity::Violation,
                "end of life since 2026-06-28 (1 day ago)",
            ),
            (date(2026, 6, 27), Severity::Warn, "(1 day left)"),
            (
                date(2026, 3, 30),
                Severity::Warn,
                "on 2026-06-28 (90 days left)",
            ),
            (
                date(2026, 3, 29),
                Severity::Ok,
                "supported until 2026-06-28 (91 days left)",
            ),
            (date(2025, 6, 1), Severity::Ok, "(392 days left)"),
        ];
        for (today, sev, msg) in table {
            let fs = evaluate(&cal, &v, today);
            assert_eq!(fs.len(), 1, "{today}: {:?}", sev_msgs(&fs));
            assert_eq!(fs[0].severity, sev, "{today}: {}", fs[0].message);
            assert!(fs[0].message.contains(msg), "{today}: {}", fs[0].message);
            assert_eq!(fs[0].section, Section::Support);
            assert_eq!(fs[0].subject, "Kubernetes 1.33");
        }
    }

    #[test]
    fn newer_patch() {
        let cal = builtin();
        let today = date(2025, 6, 1); // 1.33 supported
        let table = [
            ("v1.33.13", None),
            ("v1.33.14", None),
            ("v1.33.12", Some(Severity::Info)),
            ("v1.33.11", Some(Severity::Info)),
            ("v1.33.10", Some(Severity::Warn)),
            ("v1.33.1", Some(Severity::Warn)),
            ("v1.33.1-eks-adc7111", Some(Severity::Info)),
            ("v1.33.1-gke.100", Some(Severity::Info)),
        ];
        for (input, want) in table {
            let fs = evaluate(&cal, &version::parse(input).unwrap(), today);
            let patch: Vec<_> = fs
                .iter()
                .filter(|f| f.message.contains("newer patch"))
                .collect();
            match want {
                None => assert!(patch.is_empty(), "{input}: {:?}", sev_msgs(&fs)),
                Some(sev) => {
                    assert_eq!(patch.len(), 1, "{input}");
                    assert_eq!(patch[0].severity, sev, "{input}");
                    assert!(patch[0].message.contains("1.33.13"), "{}", patch[0].message);
                }
            }
        }
    }

    #[test]
    fn kubelets_past_end_of_life_are_named_unless_the_control_plane_is() {
        use crate::facts::node::NodeFacts;
        let cal = builtin();
        let today = date(2026, 12, 3); // 1.33 ended 2026-06-28, 1.35 is supported
        let node = |name: &str, v: &str| NodeFacts {
            name: name.into(),
            kubelet_version: v.into(),
            ..NodeFacts::default()
        };
        let inv = Inventory {
            nodes: vec![
                node("a", "v1.33.5"),
                node("b", "v1.35.1"),
                node("c", "v1.33.2"),
            ],
            ..Inventory::default()
        };
        let m = |s: &str| s.parse::<crate::facts::version::Minor>().unwrap();
        let fs = eol_kubelets(&cal, &inv, Some(m("1.35")), today);
        assert_eq!(fs.len(), 1, "{fs:#?}");
        assert_eq!(fs[0].severity, Severity::Warn);
        assert_eq!(fs[0].subject, "kubelet 1.33 (2 nodes: a, c)");
        assert!(fs[0].message.contains("2026-06-28"));
        // Unknown control plane: the same; an end-of-life control plane already says it all.
        assert_eq!(eol_kubelets(&cal, &inv, None, today).len(), 1);
        assert!(eol_kubelets(&cal, &inv, Some(m("1.33")), today).is_empty());
    }

    #[test]
    fn unknown_minors() {
        let cal = builtin();
        let today = date(2026, 9, 30);
        let table = [
            ("v1.38.0", Severity::Warn, "newest known 1.37"),
            ("v1.18.20", Severity::Violation, "older than every release"),
            ("v1.2.0", Severity::Violation, "older than every release"),
        ];
        for (input, sev, msg) in table {
            let fs = evaluate(&cal, &version::parse(input).unwrap(), today);
            assert_eq!(fs.len(), 1, "{input}");
            assert_eq!(fs[0].severity, sev, "{input}");
            assert!(fs[0].message.contains(msg), "{input}: {}", fs[0].message);
        }
        // A custom calendar starting at a still-supported minor: older is merely unknown.
        let mut cal2 = builtin();
        cal2.releases
            .retain(|r| r.minor >= crate::facts::version::Minor::new(1, 35));
        let fs = evaluate(&cal2, &version::parse("v1.30.0").unwrap(), date(2026, 1, 1));
        assert_eq!(fs[0].severity, Severity::Warn);
        assert!(fs[0].message.contains("unknown to the release data"));
    }

    #[test]
    fn stale_release_data() {
        let cal = builtin(); // as of 2026-09-30
        let v = version::parse("v1.37.1").unwrap();
        let stale = |today| {
            evaluate(&cal, &v, today)
                .into_iter()
                .filter(|f| f.subject == "release data")
                .collect::<Vec<_>>()
        };
        assert!(stale(date(2027, 3, 31)).is_empty()); // exactly six months: still fresh
        assert!(stale(date(2026, 10, 1)).is_empty());
        let fs = stale(date(2027, 4, 1));
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].severity, Severity::Warn);
        assert_eq!(
            fs[0].message,
            "release data is from 2026-09-30; pass --releases FILE with current data"
        );
    }

    #[test]
    fn pre_release_warns() {
        let cal = builtin();
        let fs = evaluate(
            &cal,
            &version::parse("v1.37.0-rc.1").unwrap(),
            date(2026, 9, 1),
        );
        assert!(fs
            .iter()
            .any(|f| f.severity == Severity::Warn && f.message.contains("pre-release")));
    }
}
