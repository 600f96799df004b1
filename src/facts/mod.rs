//! Facts: plain data reduced from Kubernetes objects, each written once and used by the
//! inventory reducer, the drain engine and the preview alike. Pure: no I/O.

pub mod apiusage;
pub mod cert;
pub mod config;
pub mod dry_run;
pub mod helm;
pub mod inventory;
pub mod lock;
pub mod node;
pub mod pdb;
pub mod pod;
pub mod progress;
pub mod resources;
pub mod selector;
pub mod version;
pub mod webhook;
