//! Exit codes (documented in `--help` and the README) and the one error type the shell
//! turns into a one-line message plus that code.

use std::fmt;

/// Process exit codes. Stable: scripts branch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// All ok / drained / nothing to do.
    Ok = 0,
    /// `check`: warnings only.
    Warnings = 1,
    /// `check`: violations or unsupported version. `drain`: blocked or timed out (node left cordoned).
    Violations = 2,
    /// Could not read or write the cluster: connect, auth, RBAC, API errors.
    Api = 3,
    /// `drain-next`: another node drained earlier is still in progress.
    InProgress = 4,
    /// `drain-next`: the cluster did not settle after the last node within
    /// `--validate-timeout` (validation between nodes).
    Unsettled = 5,
    /// `drain`, `drain-next`: another rollout holds the lock (named in the message).
    Locked = 6,
    /// `drain`, `drain-next`: interrupted (SIGINT, SIGTERM or SIGHUP); a node being drained is
    /// left cordoned, the lock released; a rerun resumes.
    Interrupted = 130,
    /// Usage errors: bad flags, malformed versions, unreadable input files.
    Usage = 64,
    /// An internal error (a bug, e.g. a report that cannot be serialized): please report it.
    Internal = 70,
}

impl Code {
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The more serious of two results, for a command that did several things (a batch of
    /// drains): interrupted, then internal, usage, API errors, blocked, unsettled, locked, in
    /// progress, warnings, ok.
    pub fn worse(self, other: Code) -> Code {
        let rank = |c: Code| match c {
            Code::Ok => 0,
            Code::Warnings => 1,
            Code::InProgress => 2,
            Code::Locked => 3,
            Code::Unsettled => 4,
            Code::Violations => 5,
            Code::Api => 6,
            Code::Usage => 7,
            Code::Internal => 8,
            Code::Interrupted => 9,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// An error with the exit code it maps to. `message` is one line that says what to do.
#[derive(Debug)]
pub struct CliError {
    pub code: Code,
    pub message: String,
}

impl CliError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, message)
    }
    pub fn api(message: impl Into<String>) -> Self {
        Self::new(Code::Api, message)
    }
    /// A bug of ours (never the user's input): says so and asks for a report.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            Code::Internal,
            format!(
                "internal error: {}; please report it with the command you ran",
                message.into()
            ),
        )
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// The one exit-code mapping of the client layer's typed errors: a bad kubeconfig, a failed
/// contact, a failed call or a denied permission cannot read or change the cluster (3); flags
/// that do not go together and unknown node names are bad input (64).
impl From<crate::client::error::ClientError> for CliError {
    fn from(e: crate::client::error::ClientError) -> Self {
        CliError::new(Code::from(&e), e.to_string())
    }
}

impl From<&crate::client::error::ClientError> for Code {
    fn from(e: &crate::client::error::ClientError) -> Self {
        use crate::client::error::ClientError as E;
        match e {
            E::Kubeconfig { .. }
            | E::Connect { .. }
            | E::Call(_)
            | E::Denied(_)
            | E::Request(_) => Code::Api,
            E::Flags(_) | E::NodeNotFound(_) | E::Output(_) => Code::Usage,
            E::Locked(_) => Code::Locked,
            E::Interrupted(_) => Code::Interrupted,
        }
    }
}

/// drain-next's reasons to stop: nothing to do is success; a node still in progress is 4;
/// an unsettled cluster 5; a signal 130; the others (only skipped nodes left, no
/// destination or room for `--strategy replace`, a blocked all-at-once batch, every node left
/// blocked with `--on-blocked=skip`) 2.
impl From<&crate::rollout::plan::StopReason> for Code {
    fn from(r: &crate::rollout::plan::StopReason) -> Self {
        use crate::rollout::plan::StopReason as R;
        match r {
            R::NothingToDo(_) => Code::Ok,
            R::InProgress(_) => Code::InProgress,
            R::Unsettled(_) => Code::Unsettled,
            R::Interrupted(_) => Code::Interrupted,
            R::OnlySkipped(_)
            | R::NoDestination(_)
            | R::NoCapacity(_)
            | R::WouldBlock(_)
            | R::AllBlocked(_) => Code::Violations,
        }
    }
}

/// `simulate`: 0 when the predicted rollout completes, 1 when it completes but leaves pods
/// with no node, 2 when it stops at a step.
impl From<&crate::rollout::simulate::Simulation> for Code {
    fn from(s: &crate::rollout::simulate::Simulation) -> Self {
        match (s.completes, s.pending_at_end.is_empty()) {
            (true, true) => Code::Ok,
            (true, false) => Code::Warnings,
            (false, _) => Code::Violations,
        }
    }
}

/// A drain-next run: its stop, or the most serious of its nodes' drains (a Node that could
/// not be deleted after its drain is an API error).
impl From<&crate::rollout::plan::Verdict> for Code {
    fn from(v: &crate::rollout::plan::Verdict) -> Self {
        use crate::rollout::plan::{NodeEnd, Verdict};
        match v {
            Verdict::Stopped(r) => Code::from(r),
            Verdict::Drains(ends) => ends.iter().fold(Code::Ok, |code, end| {
                code.worse(match end {
                    NodeEnd::Ran {
                        summary,
                        delete_failed,
                        ..
                    } => {
                        let c = Code::from(summary.outcome);
                        if *delete_failed {
                            c.worse(Code::Api)
                        } else {
                            c
                        }
                    }
                    NodeEnd::NotStarted { error, .. } => Code::from(error),
                })
            }),
        }
    }
}

impl From<crate::client::error::ApiCallError> for CliError {
    fn from(e: crate::client::error::ApiCallError) -> Self {
        crate::client::error::ClientError::from(e).into()
    }
}

/// The one mapping from a verdict's severity to `check`'s exit code: violations 2, warnings
/// 1, anything else 0 (the report's `summary.exitCode` and each fleet row say the same).
impl From<crate::findings::Severity> for Code {
    fn from(s: crate::findings::Severity) -> Self {
        use crate::findings::Severity as S;
        match s {
            S::Violation => Code::Violations,
            S::Warn => Code::Warnings,
            S::Info | S::Ok => Code::Ok,
        }
    }
}

/// A drain's outcome: done (0), stopped with the node left cordoned or never touched (2),
/// an API error (3), interrupted (130).
impl From<crate::drain::model::Outcome> for Code {
    fn from(o: crate::drain::model::Outcome) -> Self {
        use crate::drain::model::Outcome as O;
        match o {
            O::Drained | O::NothingToDo | O::DryRun => Code::Ok,
            O::Blocked | O::TimedOut | O::Failed | O::Partial => Code::Violations,
            O::ApiError => Code::Api,
            O::Interrupted => Code::Interrupted,
        }
    }
}

/// A plan that cannot be made because the request is wrong (a `--to` older than the
/// control plane) is bad input (64); an unanswerable one never reaches here (it is a finding).
impl From<crate::policy::path::PlanError> for CliError {
    fn from(e: crate::policy::path::PlanError) -> Self {
        CliError::usage(e.to_string())
    }
}

/// A report that cannot be serialized is a bug of ours (70), never a usage error.
/// A report that cannot be serialized (`crate::render`): a bug of ours, never the user's
/// input (exit 70).
#[derive(Debug, thiserror::Error)]
#[error("cannot render {format}: {why}")]
pub struct RenderError {
    pub format: &'static str,
    pub why: String,
}

impl From<RenderError> for CliError {
    fn from(e: RenderError) -> Self {
        CliError::internal(e.to_string())
    }
}

/// Input files that cannot be read, parsed or used are bad input (64).
impl From<crate::inventory::ingest::InputError> for CliError {
    fn from(e: crate::inventory::ingest::InputError) -> Self {
        CliError::usage(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::error::ClientError;
    use crate::inventory::ingest::InputError;

    /// The one mapping: what cannot reach or change the cluster is 3, bad input is 64.
    #[test]
    fn typed_errors_map_to_their_exit_codes() {
        let code = |e: CliError| e.code;
        assert_eq!(
            code(ClientError::NodeNotFound("n".into()).into()),
            Code::Usage
        );
        assert_eq!(code(ClientError::Flags("x".into()).into()), Code::Usage);
        assert_eq!(code(ClientError::Denied("x".into()).into()), Code::Api);
        let connect = ClientError::Connect {
            message: "down".into(),
            source: None,
        };
        assert_eq!(code(connect.into()), Code::Api);
        assert_eq!(
            code(InputError::Unusable("empty".into()).into()),
            Code::Usage
        );
        let e: CliError = ClientError::NodeNotFound("w-1".into()).into();
        assert_eq!(
            e.message,
            "node w-1 not found; check the name with `kubectl get nodes`"
        );
    }

    /// `check`: the worst severity decides (the report's `summary.exitCode` comes from here).
    #[test]
    fn the_worst_severity_decides_checks_exit_code() {
        use crate::findings::Severity as S;
        assert_eq!(Code::from(S::Violation), Code::Violations);
        assert_eq!(Code::from(S::Warn), Code::Warnings);
        assert_eq!(Code::from(S::Info), Code::Ok);
        assert_eq!(Code::from(S::Ok), Code::Ok);
    }

    #[test]
    fn drain_outcomes_map_to_their_exit_codes() {
        use crate::drain::model::Outcome;
        assert_eq!(Code::from(Outcome::Drained), Code::Ok);
        assert_eq!(Code::from(Outcome::Blocked), Code::Violations);
        assert_eq!(Code::from(Outcome::TimedOut), Code::Violations);
        assert_eq!(Code::from(Outcome::ApiError), Code::Api);
        assert_eq!(Code::from(Outcome::Interrupted), Code::Interrupted);
    }

    #[test]
    fn drain_next_stops_map_to_their_exit_codes() {
        use crate::rollout::plan::StopReason as R;
        let m = String::new;
        let table = [
            (R::NothingToDo(m()), Code::Ok),
            (R::OnlySkipped(m()), Code::Violations),
            (R::InProgress(m()), Code::InProgress),
            (R::NoDestination(m()), Code::Violations),
            (R::NoCapacity(m()), Code::Violations),
            (R::WouldBlock(m()), Code::Violations),
            (R::Unsettled(m()), Code::Unsettled),
            (R::Interrupted(m()), Code::Interrupted),
        ];
        for (r, want) in table {
            assert_eq!(Code::from(&r), want, "{r:?}");
        }
    }

    #[test]
    fn a_batch_exits_with_its_most_serious_result() {
        assert_eq!(Code::Ok.worse(Code::Violations), Code::Violations);
        assert_eq!(Code::Api.worse(Code::Violations), Code::Api);
        assert_eq!(Code::Violations.worse(Code::Interrupted), Code::Interrupted);
        assert_eq!(Code::Ok.worse(Code::Ok), Code::Ok);
    }
}
