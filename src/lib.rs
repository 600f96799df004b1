//! kubectl-upgrade: make Kubernetes cluster upgrades safe and boring.
//!
//! Shape (see `../shared/CONVENTIONS.md`): `inventory` (facts, read from the API or a
//! snapshot) -> pure policy (`version`, `skew`, `support`, `path`, `setup`, `drain::filters`,
//! `drain::pdb`) -> `report` (findings + plan) -> `render`; `drain::engine` and `nodes` do the I/O.

pub mod app;
pub mod buildinfo;
pub mod check;
pub mod cli;
pub mod completion;
pub mod connect;
pub mod drain;
pub mod exit;
pub mod inventory;
pub mod nodes;
pub mod path;
pub mod releases;
pub mod render;
pub mod report;
pub mod selector;
pub mod setup;
pub mod skew;
pub mod support;
pub mod version;
