//! The rules, pure: no I/O, nothing of the CLI. Each reads facts and returns verdicts.

pub mod apis;
pub mod batch;
pub mod capacity;
pub mod certs;
pub mod config;
pub mod filters;
pub mod helm;
pub mod order;
pub mod path;
pub mod preflight;
pub mod preview;
pub mod releases;
pub mod setup;
pub mod skew;
pub mod support;
pub mod webhooks;
