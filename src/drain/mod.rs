//! Draining nodes through the Eviction API: the I/O engine (`engine`) and the progress
//! display (`ui`). The per-pod rules live in `crate::policy`.

pub mod engine;
pub mod ui;
