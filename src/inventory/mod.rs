//! Inventory readers: the facts `check` reasons about (`crate::facts::inventory::Inventory`),
//! read from
//! - the live API ([`live`]: nodes, pods, PDBs, ConfigMaps; [`scan`]: the objects of kinds
//!   with removed API versions, CRDs, Helm release Secrets), also written out as a snapshot
//!   ([`snapshot`]);
//! - files ([`ingest`]): our snapshots, any JSON or YAML List or object, dump directories
//!   (`kubectl cluster-info dump`, support bundles, sonobuoy results), .tar.gz archives,
//!   `kubectl get nodes -o wide` tables and `kubectl version` text ([`tables`]), and the
//!   Go-struct dumps some bundles hold ([`legacy`]).
//!
//! Every reader feeds objects one at a time into [`Reducer`], which keeps only what the
//! report needs (never the whole cluster's JSON).

pub mod ingest;
pub mod legacy;
pub mod live;
pub mod reduce;
pub mod scan;
pub mod snapshot;
pub mod tables;

pub use reduce::Reducer;
