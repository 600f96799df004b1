//! How a mutating command sends its changes: for real, not at all (a client dry run prints
//! what it would do) or with `dryRun=All` (the API server validates, nothing persists).

/// The dry-run mode of a mutating command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DryRun {
    #[default]
    None,
    /// Print what would happen; send no mutating request.
    Client,
    /// Send mutating requests with `dryRun=All`.
    Server,
}

impl DryRun {
    pub fn is_dry(self) -> bool {
        self != DryRun::None
    }

    /// What a message about a change adds: ` (dry run)`, ` (server dry run)`, or nothing.
    pub fn suffix(self) -> &'static str {
        match self {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }
}
