//! The node rollout, `drain-next`'s whole run, in three parts:
//! - [`status`]: where every node stands (the `status` view), pure;
//! - [`plan`]: the next step or the reason to stop, as typed values, from the nodes, their
//!   progress records, the pods and budgets, the strategy and the options; pure and tested by
//!   tables;
//! - [`run`]: the I/O around it: one read of the nodes, waits for the cluster to settle as
//!   watch conditions, then each chosen node drained through the one engine
//!   ([`crate::drain::engine`]).
//!
//! The CLI (`cli/drain_next.rs`) parses flags into [`plan::Options`] and renders [`plan::StepReport`].

pub mod plan;
pub mod run;
pub mod simulate;
pub mod status;
