//! Draining nodes through the Eviction API: the orchestration (`engine`), its data
//! (`model`: options, pods, summary), its API calls
//! (`api`), one pod's removal (`removal`), how a drain ended (`outcome`) and the progress
//! display (`ui`). The per-pod rules live in `crate::policy`.

pub mod api;
pub mod engine;
pub mod model;
pub mod outcome;
pub mod removal;
pub mod ui;
