//! Drain progress on stderr: a live line (indicatif) on a terminal, plain lines otherwise.
//! Counts: gone / terminating / waiting on a PDB (and which) / failed.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Off a terminal, how often a drain waiting on PDBs says it is still waiting.
pub const STATUS_EVERY: Duration = Duration::from_secs(30);

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
    started: Instant,
    /// When the last "still waiting" line was printed (plain mode).
    last_status: Mutex<Instant>,
    status_every: Duration,
}

/// `still waiting after 1m30s: 3 pod(s) on PDB app/web (...)`, for plain output.
fn status_line(waiting: &BTreeMap<String, String>, elapsed: Duration, detail: &str) -> String {
    let mut pdbs: Vec<&str> = waiting.values().map(String::as_str).collect();
    pdbs.sort_unstable();
    pdbs.dedup();
    format!(
        "still waiting after {}: {} pod(s) on PDB {} ({detail})",
        crate::findings::duration_text(elapsed),
        waiting.len(),
        pdbs.join(", ")
    )
}

impl Ui {
    /// A live bar when stderr is a terminal (and `live` is allowed), plain lines otherwise.
    pub fn new(node: &str, total: usize, live: bool) -> Ui {
        let bar = (live && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} {prefix} {elapsed} [{bar:30}] {pos}/{len} gone  {msg}",
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
            started: Instant::now(),
            last_status: Mutex::new(Instant::now()),
            status_every: STATUS_EVERY,
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
                // One line per pod per wait episode, not per retry; off a terminal, a status
                // line every `status_every` while the wait goes on.
                let first = c.waiting.insert(pod.clone(), pdb.clone()).is_none();
                if first {
                    Some(format!("waiting {pod} on PDB {pdb}: {detail}"))
                } else if self.bar.is_none() && self.status_due() {
                    Some(status_line(&c.waiting, self.started.elapsed(), &detail))
                } else {
                    None
                }
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

    /// Whether a plain "still waiting" line is due (and mark it printed).
    fn status_due(&self) -> bool {
        let Ok(mut last) = self.last_status.lock() else {
            return false;
        };
        if last.elapsed() >= self.status_every {
            *last = Instant::now();
            true
        } else {
            false
        }
    }

    /// Remove the live view.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_name_pods_pdbs_and_elapsed() {
        let mut w = BTreeMap::new();
        w.insert("app/web-1".to_string(), "app/web".to_string());
        w.insert("app/web-2".to_string(), "app/web".to_string());
        w.insert("app/db-0".to_string(), "app/db".to_string());
        let l = status_line(&w, Duration::from_secs(95), "needs 3 healthy, has 2");
        assert_eq!(
            l,
            "still waiting after 1m35s: 3 pod(s) on PDB app/db, app/web (needs 3 healthy, has 2)"
        );
        assert_eq!(crate::findings::duration_text(Duration::from_secs(7)), "7s");
        assert_eq!(
            crate::findings::duration_text(Duration::from_secs(3725)),
            "1h02m"
        );
    }

    #[test]
    fn a_status_line_is_due_every_interval() {
        let mut ui = Ui::plain("n1");
        ui.status_every = Duration::from_millis(50);
        assert!(!ui.status_due(), "not right away");
        std::thread::sleep(Duration::from_millis(60));
        assert!(ui.status_due());
        assert!(!ui.status_due(), "once per interval");
    }
}
