//! Drain progress on stderr: a live line (indicatif) on a terminal, plain lines otherwise.
//! Counts: gone / terminating / waiting on a PDB (and which) / failed.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// What happened to one pod (or to the drain).
#[derive(Debug, Clone)]
pub enum Event {
    /// Eviction (or delete) accepted; the pod is terminating.
    Accepted { pod: String, how: &'static str },
    /// The pod is gone (by uid).
    Gone { pod: String },
    /// Eviction refused (429): waiting on this PDB.
    WaitingOnPdb {
        pod: String,
        pdb: String,
        detail: String,
    },
    /// The API server is unreachable; retrying.
    Retrying { what: String, error: String },
    /// This pod will not be removed.
    Failed { pod: String, error: String },
    /// Anything else worth a line.
    Note(String),
}

#[derive(Default)]
struct Counts {
    gone: usize,
    terminating: usize,
    failed: usize,
    waiting: BTreeMap<String, String>,
}

/// The progress reporter. Cheap to share (`&Ui` across tasks).
pub struct Ui {
    bar: Option<ProgressBar>,
    counts: Mutex<Counts>,
    node: String,
}

impl Ui {
    /// A live bar when stderr is a terminal (and `live` is allowed), plain lines otherwise.
    pub fn new(node: &str, total: usize, live: bool) -> Ui {
        let bar = (live && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {pos}/{len} gone  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(node.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Ui {
            bar,
            counts: Mutex::new(Counts::default()),
            node: node.to_string(),
        }
    }

    /// Plain lines only (tests, `-o json`).
    pub fn plain(node: &str) -> Ui {
        Ui::new(node, 0, false)
    }

    fn line(&self, s: String) {
        match &self.bar {
            Some(bar) => bar.println(s),
            None => eprintln!("{s}"),
        }
    }

    /// Print a line above the live view (or plainly).
    pub fn say(&self, s: impl Into<String>) {
        self.line(s.into());
    }

    pub fn event(&self, e: Event) {
        let Ok(mut c) = self.counts.lock() else {
            return;
        };
        let line = match e {
            Event::Accepted { pod, how } => {
                c.terminating += 1;
                c.waiting.remove(&pod);
                // On a terminal the bar carries the counts; per-pod lines in plain mode only.
                self.bar.is_none().then(|| format!("{how} {pod}"))
            }
            Event::Gone { pod } => {
                c.terminating = c.terminating.saturating_sub(1);
                c.gone += 1;
                self.bar.is_none().then(|| format!("gone {pod}"))
            }
            Event::WaitingOnPdb { pod, pdb, detail } => {
                // One line per pod per wait episode, not per retry.
                let first = c.waiting.insert(pod.clone(), pdb.clone()).is_none();
                first.then(|| format!("waiting {pod} on PDB {pdb}: {detail}"))
            }
            Event::Retrying { what, error } => Some(format!("retrying {what}: {error}")),
            Event::Failed { pod, error } => {
                c.failed += 1;
                c.waiting.remove(&pod);
                Some(format!("FAILED {pod}: {error}"))
            }
            Event::Note(s) => Some(s),
        };
        if let Some(bar) = &self.bar {
            bar.set_position(c.gone as u64);
            let mut pdbs: Vec<&str> = c.waiting.values().map(String::as_str).collect();
            pdbs.sort_unstable();
            pdbs.dedup();
            let waiting = if pdbs.is_empty() {
                String::new()
            } else {
                format!(
                    " · waiting on PDB: {} pod(s) ({})",
                    c.waiting.len(),
                    pdbs.join(", ")
                )
            };
            bar.set_message(format!(
                "terminating {}{waiting} · failed {}",
                c.terminating, c.failed
            ));
        }
        drop(c);
        if let Some(l) = line {
            self.line(format!("{}: {l}", self.node));
        }
    }

    /// Remove the live view.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
