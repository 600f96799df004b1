//! The real control plane: `kube_testserver::real` (shared with the benchmarks).
pub use kube_testserver::real::*;
