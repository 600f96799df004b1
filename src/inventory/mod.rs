//! Inventory readers: the facts `check` reasons about (`crate::facts::inventory::Inventory`),
//! read either from the live API (`live`) or from a snapshot file (`snapshot`).
//!
//! Both readers feed objects one at a time into [`Reducer`], which keeps only what the
//! report needs (never the whole cluster's JSON).

pub mod ingest;
pub mod legacy;
pub mod live;
pub mod reduce;
pub mod scan;
pub mod snapshot;

pub use reduce::Reducer;
