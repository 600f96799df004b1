//! The rollout lock: one `coordination.k8s.io/v1` Lease per cluster
//! ([`LOCK_NAMESPACE`]/[`LOCK_NAME`]) that `drain`, `drain-next` (every strategy) hold while
//! they change nodes, so two operators cannot roll nodes at once. This file is what a Lease
//! says and whether it is held; the I/O (acquire, renew, release) is `crate::client::lock`.
//!
//! Like client-go's leader election, the Lease names its holder (`holderIdentity`), when it
//! was taken (`acquireTime`), its heartbeat (`renewTime`, renewed every [`RENEW_EVERY`]) and
//! how long a silent holder keeps it (`leaseDurationSeconds`, [`LEASE_SECONDS`]); a holder
//! that released it clears `holderIdentity`. Unlike leader election, nobody waits to take
//! over by default: a second run is refused, naming the holder. Annotations say what the
//! holder is doing (its command line, user, host and nodes), for that message and `status`.
//! Pure: no I/O.

use k8s_openapi::api::coordination::v1::Lease;
use serde::Serialize;
use std::time::Duration;

/// Namespace of the lock Lease (every cluster has it; control-plane leases live there too).
pub const LOCK_NAMESPACE: &str = "kube-system";
/// Name of the lock Lease.
pub const LOCK_NAME: &str = "kubectl-upgrade-rollout";
/// How long a holder that stopped renewing keeps the lock (then it is taken over).
pub const LEASE_SECONDS: i32 = 60;
/// How often a holder renews it (a quarter of [`LEASE_SECONDS`]: three renewals can fail
/// before it expires).
pub const RENEW_EVERY: Duration = Duration::from_secs(15);

/// Annotation: the holder's command line (`kubectl upgrade drain-next ...`).
pub const COMMAND_ANNOTATION: &str = "kubectl-upgrade.io/lock-command";
/// Annotation: who runs it (`$USER`).
pub const USER_ANNOTATION: &str = "kubectl-upgrade.io/lock-user";
/// Annotation: the machine it runs on, with its process id (`host (pid 4242)`).
pub const HOST_ANNOTATION: &str = "kubectl-upgrade.io/lock-host";
/// Annotation: the nodes it is working on, comma-separated.
pub const NODES_ANNOTATION: &str = "kubectl-upgrade.io/lock-nodes";

/// Who holds (or held) the lock and what for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// `holderIdentity`: unique per run (`user@host/pid/nonce`).
    pub identity: String,
    pub user: String,
    pub host: String,
    pub command: String,
    /// The nodes the holder said it works on (empty before it picked them).
    pub nodes: Vec<String>,
    /// RFC 3339: when it took the lock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<jiff::Timestamp>,
    /// RFC 3339: its last heartbeat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewed: Option<jiff::Timestamp>,
    pub lease_seconds: i64,
}

/// What the lock Lease says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// No Lease, or its holder released it.
    Free,
    /// Held, with a heartbeat younger than its lease duration.
    Held(Holder),
    /// Its holder stopped renewing it longer ago than its lease duration (crashed, killed,
    /// lost its network): free to take over, which is said.
    Expired(Holder),
}

impl LockState {
    /// Judge a Lease at `now` (`None`: there is none).
    pub fn of(lease: Option<&Lease>, now: jiff::Timestamp) -> LockState {
        let Some(lease) = lease else {
            return LockState::Free;
        };
        let Some(holder) = Holder::of(lease) else {
            return LockState::Free;
        };
        if holder.expired(now) {
            LockState::Expired(holder)
        } else {
            LockState::Held(holder)
        }
    }

    /// The holder of a lock that is held (not free, not expired).
    pub fn held(&self) -> Option<&Holder> {
        match self {
            LockState::Held(h) => Some(h),
            _ => None,
        }
    }
}

impl Holder {
    /// The holder a Lease names, if any.
    pub fn of(lease: &Lease) -> Option<Holder> {
        let spec = lease.spec.as_ref()?;
        let identity = spec.holder_identity.clone().filter(|h| !h.is_empty())?;
        let note = |key: &str| {
            lease
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .cloned()
                .unwrap_or_default()
        };
        let nodes = note(NODES_ANNOTATION)
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        Some(Holder {
            identity,
            user: note(USER_ANNOTATION),
            host: note(HOST_ANNOTATION),
            command: note(COMMAND_ANNOTATION),
            nodes,
            since: spec.acquire_time.as_ref().map(|t| t.0),
            renewed: spec
                .renew_time
                .as_ref()
                .or(spec.acquire_time.as_ref())
                .map(|t| t.0),
            lease_seconds: i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS)),
        })
    }

    /// Silent for longer than its lease duration (no heartbeat at all counts as silent).
    pub fn expired(&self, now: jiff::Timestamp) -> bool {
        self.silent_for(now) > self.lease_seconds.max(1)
    }

    /// Whole seconds since the last heartbeat (0 for a clock behind the server's).
    pub fn silent_for(&self, now: jiff::Timestamp) -> i64 {
        self.renewed
            .map_or(i64::MAX, |t| now.as_second().saturating_sub(t.as_second()))
            .max(0)
    }

    /// One phrase for messages: `alice on laptop (pid 42) running `kubectl upgrade
    /// drain-next`, on node w-2, since 2026-12-06T10:00:00Z, last heartbeat 5s ago`.
    pub fn describe(&self, now: jiff::Timestamp) -> String {
        let who = match (self.user.as_str(), self.host.as_str()) {
            ("", "") => self.identity.clone(),
            (u, "") => u.to_string(),
            ("", h) => h.to_string(),
            (u, h) => format!("{u} on {h}"),
        };
        let mut out = who;
        if !self.command.is_empty() {
            out.push_str(&format!(" running `{}`", self.command));
        }
        match self.nodes.as_slice() {
            [] => {}
            [one] => out.push_str(&format!(", on node {one}")),
            many => out.push_str(&format!(", on nodes {}", many.join(", "))),
        }
        if let Some(since) = self.since {
            out.push_str(&format!(", since {}", since.strftime("%Y-%m-%dT%H:%M:%SZ")));
        }
        match (self.renewed, self.silent_for(now)) {
            (None, _) => {}
            (Some(_), 0) => out.push_str(", last heartbeat just now"),
            (Some(_), s) => out.push_str(&format!(
                ", last heartbeat {} ago",
                crate::findings::duration_text(Duration::from_secs(s.try_into().unwrap_or(0)))
            )),
        }
        out
    }

    /// Is `node` one the holder is working on?
    pub fn works_on(&self, node: &str) -> bool {
        self.nodes.iter().any(|n| n == node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn lease(holder: Option<&str>, renewed: Option<&str>, seconds: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(LOCK_NAME.into()),
                namespace: Some(LOCK_NAMESPACE.into()),
                annotations: Some(
                    [
                        (
                            COMMAND_ANNOTATION.to_string(),
                            "kubectl upgrade drain-next".to_string(),
                        ),
                        (USER_ANNOTATION.to_string(), "alice".to_string()),
                        (HOST_ANNOTATION.to_string(), "laptop (pid 42)".to_string()),
                        (NODES_ANNOTATION.to_string(), "w-2, w-3".to_string()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                acquire_time: Some(MicroTime(at("2026-12-06T10:00:00Z"))),
                renew_time: renewed.map(|r| MicroTime(at(r))),
                lease_duration_seconds: Some(seconds),
                ..LeaseSpec::default()
            }),
        }
    }

    /// Free without a Lease or a holder; held while the heartbeat is younger than the lease
    /// duration; expired after it (the boundary second still counts as held).
    #[test]
    fn a_lease_is_free_held_or_expired() {
        let now = at("2026-12-06T10:05:00Z");
        assert_eq!(LockState::of(None, now), LockState::Free);
        assert_eq!(
            LockState::of(Some(&lease(None, None, 60)), now),
            LockState::Free
        );
        assert_eq!(
            LockState::of(Some(&lease(Some(""), None, 60)), now),
            LockState::Free
        );
        let fresh = lease(Some("alice@laptop/42/x"), Some("2026-12-06T10:04:00Z"), 60);
        let held = LockState::of(Some(&fresh), now);
        let h = held.held().expect("held");
        assert_eq!(h.nodes, ["w-2", "w-3"]);
        assert!(h.works_on("w-3") && !h.works_on("w-1"));
        let stale = lease(Some("alice@laptop/42/x"), Some("2026-12-06T10:03:59Z"), 60);
        assert!(matches!(
            LockState::of(Some(&stale), now),
            LockState::Expired(_)
        ));
        // A heartbeat in the future (the holder's clock is ahead) is not expired.
        let ahead = lease(Some("a"), Some("2026-12-06T10:06:00Z"), 60);
        assert!(LockState::of(Some(&ahead), now).held().is_some());
    }

    /// The refusal names who, what, where and since when.
    #[test]
    fn the_holder_is_described_for_the_refusal() {
        let now = at("2026-12-06T10:05:00Z");
        let l = lease(Some("alice@laptop/42/x"), Some("2026-12-06T10:04:55Z"), 60);
        let h = Holder::of(&l).unwrap();
        assert_eq!(
            h.describe(now),
            "alice on laptop (pid 42) running `kubectl upgrade drain-next`, on nodes w-2, w-3, since 2026-12-06T10:00:00Z, last heartbeat 5s ago"
        );
    }
}
