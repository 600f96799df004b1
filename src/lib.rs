//! kubectl-upgrade: make Kubernetes cluster upgrades safe and boring.
//!
//! Layers (see the README's "Code map"), each importing only the ones above it:
//! - `facts`: plain data reduced from Kubernetes objects (node, pod, PDB, selector,
//!   progress record, inventory). Pure.
//! - `findings`: the verdict vocabulary (severity, section, finding). Pure.
//! - `policy`: the rules (version, releases, skew, support, path, setup, drain filters,
//!   preflight, drain order, drain preview). Pure: no I/O, nothing of the CLI.
//! - `report` + `render`: turn facts and policy into the `check` report and print it;
//!   `evidence`: the same report as SARIF and JUnit for CI.
//! - `client`, `inventory`, `drain`: the I/O (connect, read, patch, evict, watch).
//! - `cli` + `app`: flags, commands, exit codes (`exit`).

pub mod app;
pub mod buildinfo;
pub mod cli;
pub mod client;
pub mod drain;
pub mod evidence;
pub mod exit;
pub mod facts;
pub mod findings;
pub mod fleet;
pub mod inventory;
pub mod memory;
pub mod policy;
pub mod render;
pub mod report;
pub mod rollout;
pub mod signals;
