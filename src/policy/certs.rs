//! Certificates' days left (pure): expired is a VIOLATION (clients or the server fail every
//! TLS handshake with it), under 30 days a WARN (a minor hop of the plan takes longer than
//! that to prepare and roll out), else INFO with the date. On kubeadm clusters the finding
//! says that `kubeadm upgrade apply` renews kubeadm's certificates by default.

use crate::facts::cert::{days_left, CertFacts};
use crate::findings::{Finding, Section, Severity};

/// Fewer days left than this is a warning.
pub const WARN_DAYS: i64 = 30;

pub const RULE: &str = "certificates: a certificate past its notAfter fails every TLS handshake; kubeadm renews its own at `kubeadm upgrade apply` (--certificate-renewal, default true) and with `kubeadm certs renew` (kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-certs/)";

pub fn judge(certs: &[CertFacts], today: jiff::civil::Date, kubeadm: bool) -> Vec<Finding> {
    let now = today
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_second())
        .unwrap_or(0);
    let renew = if kubeadm {
        "; `kubeadm upgrade apply` renews kubeadm's certificates by default (`kubeadm certs check-expiration` lists them)"
    } else {
        ""
    };
    certs
        .iter()
        .map(|c| {
            let days = days_left(c, now);
            let (severity, message) = if days < 0 {
                (
                    Severity::Violation,
                    format!("{} ({}) expired on {}, {} day(s) ago: renew it{renew}", c.what, c.subject, c.not_after, -days),
                )
            } else if days < WARN_DAYS {
                (
                    Severity::Warn,
                    format!("{} ({}) expires on {}, in {days} day(s): renew it before the upgrade{renew}", c.what, c.subject, c.not_after),
                )
            } else {
                (
                    Severity::Info,
                    format!("{} ({}) is valid until {} ({days} days){renew}", c.what, c.subject, c.not_after),
                )
            };
            Finding::new(Section::Cluster, severity, c.what.clone(), message, RULE)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(not_after: &str) -> CertFacts {
        let t: jiff::Timestamp = not_after.parse().expect("time");
        CertFacts {
            what: "apiserver serving certificate".into(),
            subject: "CN=kube-apiserver".into(),
            not_after: not_after.into(),
            not_after_unix: t.as_second(),
        }
    }

    #[test]
    fn days_left_decide_the_severity() {
        let today: jiff::civil::Date = "2026-12-06".parse().expect("date");
        let sev = |at: &str| judge(&[cert(at)], today, false)[0].severity;
        assert_eq!(sev("2026-12-01T00:00:00Z"), Severity::Violation);
        assert_eq!(sev("2026-12-20T00:00:00Z"), Severity::Warn);
        assert_eq!(sev("2027-12-20T00:00:00Z"), Severity::Info);
        let f = judge(&[cert("2026-12-20T00:00:00Z")], today, true);
        assert!(
            f[0].message.contains("in 14 day(s)") && f[0].message.contains("kubeadm upgrade apply"),
            "{}",
            f[0].message
        );
    }
}
