//! Talking to the API server: connection set-up from kubeconfig flags (`connect`) and node
//! writes (cordon, uncordon, progress records) (`nodes`).

pub mod connect;
pub mod nodes;
