//! How a drain ended, from what each pod's removal did: the lists in the summary, the
//! outcome and the one message that says it (pure: no I/O).

use crate::drain::model::{DrainOptions, DrainSummary, FailedPod, HeldBudget, Outcome};
use crate::drain::removal::{PodEnd, Removed};
use crate::facts::dry_run::DryRun;
use crate::facts::pdb::{Budget, PdbFacts, UnhealthyPolicy};
use crate::facts::pod::PodFacts;
use crate::findings::bounded;
use std::time::Instant;

/// What the per-pod results add up to, beyond the summary's lists.
#[derive(Default)]
struct Tally {
    timed_out: bool,
    interrupted: bool,
    /// Server dry run refusals, one line each.
    dry_notes: Vec<String>,
    /// Pods still there at the timeout, with the PDB that held each up.
    stuck: Vec<String>,
}

/// Fill the summary's lists from the results.
fn tally(summary: &mut DrainSummary, removed: Removed) -> Tally {
    let mut t = Tally::default();
    summary.eviction_requests = removed.requests;
    summary.too_many_requests = removed.too_many;
    summary.deleted_blocking = removed.deleted_blocking;
    let refusals = removed.webhook_refusals;
    for r in removed.results {
        let Some((pod, how, accepted, end)) = r else {
            summary.failed.push(FailedPod {
                pod: "?".into(),
                error: "internal task failed".into(),
            });
            continue;
        };
        let key = pod.key();
        // Accepted by the server (or by its dry run): counted as evicted or deleted, whatever
        // happened while waiting for the pod to go (then it is also listed as remaining).
        if accepted || matches!(end, PodEnd::DryRun(Ok(()))) {
            if how.evicts() {
                summary.evicted.push(key.clone());
            } else {
                summary.deleted.push(key.clone());
            }
        }
        match end {
            PodEnd::Gone if !accepted => summary.waited.push(key),
            PodEnd::Gone | PodEnd::DryRun(Ok(())) => {}
            PodEnd::DryRun(Err(e)) => {
                t.dry_notes.push(format!("  {key}: {e}"));
                summary.failed.push(FailedPod { pod: key, error: e });
            }
            PodEnd::Failed(e) => summary.failed.push(FailedPod { pod: key, error: e }),
            // Turned into a DELETE by the removal itself; never an end.
            PodEnd::StillBlocking => summary.failed.push(FailedPod {
                pod: key,
                error: "still blocked by its budget".into(),
            }),
            PodEnd::TimedOut => {
                t.timed_out = true;
                t.stuck.push(match refusals.get(&key) {
                    Some(why) => format!("{key} (refused by an admission webhook: {why})"),
                    None if pod.pdb_names.is_empty() => key.clone(),
                    None => format!("{key} (held up by PDB {})", pod.pdb_names),
                });
                summary.remaining.push(key);
            }
            PodEnd::Interrupted => {
                t.interrupted = true;
                summary.remaining.push(key);
            }
        }
    }
    t
}

/// Why budget `pdb` still held the drain at the timeout (the first rung of the blocked-drain
/// ladder): its numbers, the pods it selects that are not Ready (`selected`: its pods, read
/// at the timeout) and the advice that applies. `stuck_not_ready`: a pod still on the node
/// waiting on it is itself not Ready.
pub fn held_budget(pdb: &PdbFacts, selected: &[PodFacts], stuck_not_ready: bool) -> HeldBudget {
    let not_ready: Vec<String> = selected
        .iter()
        .filter(|p| !p.ready && !p.deleting && !p.is_finished())
        .map(|p| match p.node.as_deref() {
            Some(n) => format!("{} (on {n})", p.key()),
            None => format!("{} (not scheduled)", p.key()),
        })
        .collect();
    let key = pdb.key();
    let advice = match pdb.budget() {
        _ if stuck_not_ready && pdb.unhealthy_policy != UnhealthyPolicy::AlwaysAllow => format!(
            "the pods waiting on it are not Ready themselves, and under the default unhealthyPodEvictionPolicy (IfHealthyBudget) a not-Ready pod is evicted only while the budget is met: with AlwaysAllow (Kubernetes 1.27+) they would go at once: kubectl patch pdb {} -n {} --type merge -p '{{\"spec\":{{\"unhealthyPodEvictionPolicy\":\"AlwaysAllow\"}}}}'",
            pdb.name, pdb.namespace
        ),
        Budget::Never(why) => format!(
            "it can never allow an eviction ({why}): change the budget or scale the workload up"
        ),
        _ if !pdb.observed => "the disruption controller has not observed it (is kube-controller-manager running?): nothing can be evicted under it until it does".to_string(),
        Budget::ZeroNow if !not_ready.is_empty() => format!(
            "its {} not-Ready pod(s) hold it at zero: it allows an eviction again once they are Ready (or replaced); fix them, or scale the workload up",
            not_ready.len()
        ),
        Budget::ZeroNow => "it allows no disruption now: pods it expects are missing (a replacement not yet created or scheduled?); it recovers when they are Ready".to_string(),
        Budget::Allows(n) => format!(
            "it allows {n} now: its pods recovered after the timeout; rerun to continue, or give a longer --timeout"
        ),
    };
    HeldBudget {
        pdb: key,
        numbers: pdb.numbers(),
        not_ready,
        advice,
    }
}

/// Add the budgets' explanations to a timed-out drain's message.
pub(super) fn explain_held(summary: &mut DrainSummary, held: Vec<HeldBudget>) {
    for h in &held {
        summary.message.push_str(&format!(
            "\n  PDB {}: {}{}\n    {}",
            h.pdb,
            h.numbers,
            h.not_ready_text(),
            h.advice
        ));
    }
    summary.held_by = held;
}

/// The pods are gone but the node's VolumeAttachments were not released within
/// `--volume-detach-timeout`: the drain is not finished (the node stays cordoned; a rerun
/// resumes and waits again).
pub(super) fn volumes_still_attached(
    summary: &mut DrainSummary,
    attached: Vec<String>,
    limit: std::time::Duration,
) {
    summary.outcome = Outcome::TimedOut;
    summary.message = format!(
        "{}: its pods are gone but {} VolumeAttachment(s) were not released within {} (--volume-detach-timeout): {}; the node does not count as drained and stays cordoned (a node deleted now would go under a mounted disk): check the CSI driver's detach, then rerun",
        summary.node,
        attached.len(),
        crate::findings::duration_text(limit),
        bounded(&attached, crate::findings::NAMES_SHOWN)
    );
    summary.volumes_attached = attached;
}

/// A signal while waiting for the node's VolumeAttachments: the pods are gone, the node does
/// not count as drained yet; a rerun resumes (and waits again).
pub(super) fn interrupted_waiting_for_volumes(
    summary: &mut DrainSummary,
    attached: &[String],
    opts: &DrainOptions,
) {
    summary.outcome = Outcome::Interrupted;
    summary.resume = Some(opts.resume_command.clone());
    summary.message = format!(
        "interrupted while waiting for {} VolumeAttachment(s) on {} to be released ({}): its pods are gone, it stays cordoned and does not count as drained yet; resume with: {}",
        attached.len(),
        summary.node,
        bounded(attached, crate::findings::NAMES_SHOWN),
        opts.resume_command
    );
}

/// The pods `--delete-blocking-after` deleted, said after the drain's line.
fn deleted_blocking_note(deleted: &[String], opts: &DrainOptions) -> String {
    match opts.delete_blocking_after {
        Some(after) if !deleted.is_empty() => format!(
            "\n  deleted {} pod(s) whose budget still refused their eviction after {} (--delete-blocking-after; their PDBs were bypassed): {}",
            deleted.len(),
            crate::findings::duration_text(after),
            bounded(deleted, crate::findings::NAMES_SHOWN)
        ),
        _ => String::new(),
    }
}

/// The drain stopped (timed out or failed) while the API server was unreachable: an API
/// error (exit 3), not the budgets' doing; the node stays cordoned and a rerun resumes.
pub(super) fn lost_contact(
    summary: &mut DrainSummary,
    why: &str,
    cluster: &str,
    opts: &DrainOptions,
) {
    let accepted = summary.evicted.len() + summary.deleted.len();
    summary.outcome = Outcome::ApiError;
    summary.resume = Some(opts.resume_command.clone());
    summary.message = format!(
        "lost contact with the API server at {cluster} ({why}): {} left cordoned, {accepted} pod(s) evicted or deleted before, {} still on the node; once the server answers, resume with: {}",
        summary.node,
        summary.remaining.len().max(summary.failed.len()),
        opts.resume_command
    );
}

/// drain-next with `-n`/`--pod-selector` removed every pod in scope, but pods outside it
/// that a full drain removes still run on the node: not ready for its upgrade (exit 2).
pub(super) fn partial(summary: &mut DrainSummary, outside: Vec<String>, opts: &DrainOptions) {
    let scope = opts.scope.flags();
    summary.outcome = Outcome::Partial;
    summary.message = format!(
        "{} partly drained: the pods in scope ({scope}) are gone ({} evicted, {} deleted), but {} other pod(s) still run on it, so it is not ready for its upgrade: {}; it stays cordoned, recorded as partial; rerun drain-next without {scope} to finish it",
        summary.node,
        summary.evicted.len(),
        summary.deleted.len(),
        outside.len(),
        bounded(&outside, crate::findings::NAMES_SHOWN)
    );
    summary.outside_scope = outside;
}

/// The summary of a drain whose removals ran: lists, outcome, message. `cancelled`: the user
/// asked to stop (Ctrl-C), as opposed to an internal stop.
pub(super) fn conclude(
    mut summary: DrainSummary,
    mut removed: Removed,
    opts: &DrainOptions,
    started: Instant,
    cancelled: bool,
) -> DrainSummary {
    let fatal = removed.fatal.take();
    let t = tally(&mut summary, removed);
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    let node = summary.node.clone();
    let left = "node left cordoned";
    if opts.dry_run == DryRun::Server {
        summary.outcome = if summary.failed.is_empty() {
            Outcome::DryRun
        } else {
            Outcome::Blocked
        };
        summary.message = format!(
            "dry run (server): {} eviction(s)/delete(s) accepted, {} refused; nothing was changed{}{}",
            summary.evicted.len() + summary.deleted.len(),
            summary.failed.len(),
            if t.dry_notes.is_empty() { "" } else { ":\n" },
            t.dry_notes.join("\n")
        );
        return summary;
    }
    // Evictions/deletes the server accepted (some pods may still be terminating).
    let accepted = summary.evicted.len() + summary.deleted.len();
    let (outcome, message) = if let Some(e) = fatal {
        (
            Outcome::ApiError,
            format!("{e}; {left} ({accepted} pod(s) evicted or deleted before the error)"),
        )
    } else if t.interrupted && cancelled {
        summary.resume = Some(opts.resume_command.clone());
        (
            Outcome::Interrupted,
            format!(
                "interrupted: {left}, {accepted} pod(s) evicted or deleted, {} still on the node; resume with: {}",
                summary.remaining.len(),
                opts.resume_command
            ),
        )
    } else if !summary.failed.is_empty() {
        let list: Vec<String> = summary
            .failed
            .iter()
            .map(|f| format!("  {}: {}", f.pod, f.error))
            .collect();
        let at_timeout = if t.timed_out {
            format!(
                ", {} still there at the timeout: {}",
                summary.remaining.len(),
                bounded(&t.stuck, crate::findings::NAMES_SHOWN)
            )
        } else {
            String::new()
        };
        (
            Outcome::Failed,
            format!(
                "drain of {node} incomplete, {left}: {} pod(s) could not be removed{at_timeout}:\n{}",
                summary.failed.len(),
                list.join("\n")
            ),
        )
    } else if t.timed_out || t.interrupted {
        let shown = if t.stuck.is_empty() {
            &summary.remaining
        } else {
            &t.stuck
        };
        (
            Outcome::TimedOut,
            format!(
                "timed out after {:.0}s, {left}: {} pod(s) still on {node}: {}; rerun to continue: {}",
                summary.elapsed_seconds,
                summary.remaining.len(),
                bounded(shown, crate::findings::NAMES_SHOWN),
                opts.resume_command
            ),
        )
    } else {
        (
            Outcome::Drained,
            format!(
                "{node} drained: {} evicted, {} deleted, {} already terminating, {} skipped, in {:.1}s; the node stays cordoned until you uncordon it{}",
                summary.evicted.len(),
                summary.deleted.len(),
                summary.waited.len(),
                summary.skipped.len(),
                summary.elapsed_seconds,
                deleted_blocking_note(&summary.deleted_blocking, opts)
            ),
        )
    };
    summary.outcome = outcome;
    summary.message = message;
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::pdb::tests::pdb;
    use crate::facts::pdb::IntOrPercent::Int;

    fn pod(name: &str, node: Option<&str>, ready: bool) -> PodFacts {
        PodFacts {
            namespace: "app".into(),
            name: name.into(),
            node: node.map(str::to_string),
            phase: "Running".into(),
            ready,
            ..PodFacts::default()
        }
    }

    /// minAvailable 3 of 4 with two not Ready: healthy 2, desired 3, none allowed.
    fn held_at_zero() -> PdbFacts {
        let mut b = pdb(Some(Int(3)), None, 4, 0);
        b.current_healthy = 2;
        b
    }

    #[test]
    fn the_budget_held_at_zero_names_its_not_ready_pods_and_the_advice_that_applies() {
        let pods = [
            pod("web-0", Some("w-1"), false),
            pod("web-1", Some("w-2"), true),
            pod("web-2", None, false),
            pod("web-3", Some("w-1"), true),
        ];
        // The pods waiting on it are Ready: only fixing the others helps.
        let h = held_budget(&held_at_zero(), &pods, false);
        assert_eq!(h.pdb, "app/web");
        assert_eq!(
            h.numbers,
            "minAvailable 3; healthy 2/4, desired 3, disruptionsAllowed 0"
        );
        assert_eq!(
            h.not_ready,
            ["app/web-0 (on w-1)", "app/web-2 (not scheduled)"]
        );
        assert!(
            h.advice
                .starts_with("its 2 not-Ready pod(s) hold it at zero"),
            "{}",
            h.advice
        );
        // A not-Ready pod waits on it: AlwaysAllow would let it go, and the command says how.
        let h = held_budget(&held_at_zero(), &pods, true);
        assert!(
            h.advice.contains("unhealthyPodEvictionPolicy"),
            "{}",
            h.advice
        );
        assert!(
            h.advice.contains("kubectl patch pdb web -n app"),
            "{}",
            h.advice
        );
        // Already AlwaysAllow: that advice does not apply.
        let mut always = held_at_zero();
        always.unhealthy_policy = UnhealthyPolicy::AlwaysAllow;
        let h = held_budget(&always, &pods, true);
        assert!(!h.advice.contains("kubectl patch"), "{}", h.advice);
    }

    #[test]
    fn other_reasons_a_budget_says_no() {
        // Can never allow one: minAvailable equal to the expected pods.
        let never = pdb(Some(Int(4)), None, 4, 0);
        let h = held_budget(&never, &[], false);
        assert!(
            h.advice.starts_with("it can never allow an eviction"),
            "{}",
            h.advice
        );
        // Not yet observed by the disruption controller.
        let mut unseen = pdb(None, Some(Int(1)), 4, 0);
        unseen.observed = false;
        let h = held_budget(&unseen, &[], false);
        assert!(h.advice.contains("has not observed it"), "{}", h.advice);
        // Zero with every pod Ready: a pod it expects is missing.
        let missing = pdb(None, Some(Int(1)), 4, 0);
        let h = held_budget(&missing, &[pod("web-0", Some("w-1"), true)], false);
        assert!(h.not_ready.is_empty());
        assert!(
            h.advice.contains("pods it expects are missing"),
            "{}",
            h.advice
        );
        // Recovered by the time it was read again.
        let recovered = pdb(None, Some(Int(1)), 4, 1);
        let h = held_budget(&recovered, &[], false);
        assert!(h.advice.starts_with("it allows 1 now"), "{}", h.advice);
    }
}
