//! The I/O layer's errors, typed: what failed (the kubeconfig, the first contact with a
//! server, one API call with its verb, resource and object, a permission a drain lacks, a
//! node that does not exist) with the source error where there is one. Each renders as the
//! one line the user reads; the exit code for each is chosen in one place, `crate::exit`.
//! Nothing here knows of exit codes.

/// A failed API call: what was asked, of which server, the client's error, and the one-line
/// message that says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiCallError {
    pub verb: String,
    pub resource: String,
    pub object: Option<String>,
    /// The server, as the kubeconfig names it.
    pub cluster: String,
    /// The HTTP status when the server answered.
    pub status: Option<u16>,
    pub message: String,
    #[source]
    pub source: Box<kube::Error>,
}

/// Everything else the client layer can fail on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig cannot be read or used (file, context, cluster, user).
    #[error("{message}")]
    Kubeconfig {
        message: String,
        #[source]
        source: Option<Box<kube::config::KubeconfigError>>,
    },
    /// Connection flags that do not go together (a bad combination, an unknown name).
    #[error("{0}")]
    Flags(String),
    /// The first contact failed: TLS, credentials, reachability, a timeout.
    #[error("{message}")]
    Connect {
        message: String,
        #[source]
        source: Option<Box<kube::Error>>,
    },
    /// One API call failed.
    #[error(transparent)]
    Call(Box<ApiCallError>),
    /// A node named on the command line does not exist.
    #[error("node {0} not found; check the name with `kubectl get nodes`")]
    NodeNotFound(String),
    /// A permission the command needs is denied (asked before anything changed).
    #[error("{0}")]
    Denied(String),
    /// A request that got no answer in time, or a read that could not finish.
    #[error("{0}")]
    Request(String),
    /// Another run holds the rollout lock (`crate::client::lock`): who, doing what, since when.
    #[error("{0}")]
    Locked(String),
    /// Stopped by a signal before anything was changed (waiting for the lock).
    #[error("{0}")]
    Interrupted(String),
    /// What was read could not be written out (`snapshot` to a closed pipe or a full disk).
    #[error("cannot write the snapshot: {0}")]
    Output(#[source] std::io::Error),
}

impl From<ApiCallError> for ClientError {
    fn from(e: ApiCallError) -> Self {
        ClientError::Call(Box::new(e))
    }
}
