//! How a drain ended, from what each pod's removal did: the lists in the summary, the
//! outcome and the one message that says it (pure: no I/O).

use crate::drain::model::{DrainOptions, DrainSummary, FailedPod, Outcome};
use crate::drain::removal::{PodEnd, Removed};
use crate::facts::dry_run::DryRun;
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
            PodEnd::TimedOut => {
                t.timed_out = true;
                t.stuck.push(if pod.pdb_names.is_empty() {
                    key.clone()
                } else {
                    format!("{key} (held up by PDB {})", pod.pdb_names)
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
                "{node} drained: {} evicted, {} deleted, {} already terminating, {} skipped, in {:.1}s; the node stays cordoned until you uncordon it",
                summary.evicted.len(),
                summary.deleted.len(),
                summary.waited.len(),
                summary.skipped.len(),
                summary.elapsed_seconds
            ),
        )
    };
    summary.outcome = outcome;
    summary.message = message;
    summary
}
