//! Draining nodes through the Eviction API: pure per-pod filters (`filters`), PDB arithmetic
//! and the drain preview (`pdb`), node order for drain-next (`order`), the I/O engine
//! (`engine`), progress display (`progress`) and the command-line layer (`cli`).

pub mod cli;
pub mod engine;
pub mod filters;
pub mod order;
pub mod pdb;
pub mod progress;
