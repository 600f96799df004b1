//! Talking to the API server: connection set-up from kubeconfig flags (`connect`), node
//! writes (cordon, uncordon, progress records) (`nodes`) and access reviews before
//! mutations (`access`), paged lists (`paging`), the rollout lock (`lock`), admission webhooks and their endpoints (`admission`).

pub mod access;
pub mod admission;
pub mod apiservers;
pub mod certs;
pub mod configz;
pub mod connect;
pub mod error;
pub mod lock;
pub mod nodes;
pub mod paging;
pub mod volumes;
