//! The README cannot drift from the binary.
//!
//! - A ```text block preceded by `<!-- readme-test: offline -->` is a transcript: each
//!   `$ kubectl upgrade ...` line is run (from the repository root, 120 columns, no colour) and
//!   the lines after it must appear in its stdout in order, each exactly (trailing spaces
//!   aside); a `...` line stands for any number of lines left out. `$ echo $?` and the next line
//!   check the exit code.
//! - Every `kubectl upgrade ...` (or `kubectl-upgrade ...`) example anywhere in the README's
//!   code blocks must parse with the current binary: it is run with `--help` appended, which
//!   succeeds only when every flag and value before it is accepted.

use std::path::Path;
use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubectl-upgrade"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("COLUMNS", "120")
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG");
    c
}

/// Code blocks: (marker on the line before the fence, fence info, lines).
fn blocks(text: &str) -> Vec<(Option<String>, String, Vec<String>)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_start();
        if let Some(info) = line.strip_prefix("```") {
            let marker = i
                .checked_sub(1)
                .map(|j| lines[j].trim())
                .and_then(|l| l.strip_prefix("<!-- readme-test:"))
                .and_then(|l| l.strip_suffix("-->"))
                .map(|m| m.trim().to_string());
            let indent = lines[i].len() - line.len();
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                body.push(
                    lines[i]
                        .get(indent..)
                        .unwrap_or(lines[i].trim_start())
                        .to_string(),
                );
                i += 1;
            }
            out.push((marker, info.trim().to_string(), body));
        }
        i += 1;
    }
    out
}

/// Does `want` (with `...` lines eliding any run) appear in `got`, in order?
fn matches(want: &[String], got: &str) -> Result<(), String> {
    let got: Vec<&str> = got.lines().map(str::trim_end).collect();
    let mut at = 0;
    let mut segments: Vec<Vec<&str>> = vec![vec![]];
    for w in want {
        if w.trim() == "..." {
            segments.push(vec![]);
        } else if let Some(last) = segments.last_mut() {
            last.push(w.trim_end());
        }
    }
    for seg in segments.iter().filter(|s| !s.is_empty()) {
        let found = (at..=got.len().saturating_sub(seg.len()))
            .find(|&start| got[start..start + seg.len()] == seg[..]);
        match found {
            Some(start) => at = start + seg.len(),
            None => {
                return Err(format!(
                    "these README lines are not in the output (in order, after line {at}):\n{}\n--- output:\n{}",
                    seg.join("\n"),
                    got.join("\n")
                ))
            }
        }
    }
    Ok(())
}

/// Words of one shell command line, up to the first operator or comment.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                started = true;
            }
            None if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            None if "|;&>)#<`".contains(c) => break,
            None => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

/// The arguments of every `kubectl upgrade` / `kubectl-upgrade` invocation in a line.
fn invocations(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for prefix in ["kubectl upgrade ", "kubectl-upgrade "] {
        let mut rest = line;
        while let Some(i) = rest.find(prefix) {
            let after = &rest[i + prefix.len()..];
            // A command starts a word (not `.../kubectl-upgrade kubectl-upgrade` in a URL).
            let starts_word = rest[..i]
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace() || "($`".contains(c));
            let w = words(after);
            // ... and is followed by a subcommand or a flag (not a path: `install kubectl-upgrade /usr/local/bin/`).
            let invoked = w.first().is_some_and(|f| {
                f.starts_with('-') || f.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            });
            if starts_word && invoked {
                out.push(w);
            }
            rest = after;
        }
    }
    out
}

#[test]
fn transcripts_match_the_binary() {
    let text = readme();
    let marked: Vec<_> = blocks(&text)
        .into_iter()
        .filter(|(m, _, _)| m.as_deref() == Some("offline"))
        .collect();
    assert!(!marked.is_empty(), "the Quick start block is marked");
    for (_, _, lines) in marked {
        let mut last_code: Option<i32> = None;
        let mut i = 0;
        while i < lines.len() {
            let line = &lines[i];
            let Some(cmd) = line.strip_prefix("$ ") else {
                panic!("a transcript line outside a command's output: {line}");
            };
            let mut j = i + 1;
            while j < lines.len() && !lines[j].starts_with("$ ") {
                j += 1;
            }
            let expected = &lines[i + 1..j];
            if cmd.trim() == "echo $?" {
                let want: i32 = expected
                    .first()
                    .and_then(|l| l.trim().parse().ok())
                    .expect("an exit code after `echo $?`");
                assert_eq!(last_code, Some(want), "exit code of the command before");
            } else {
                let args = invocations(cmd)
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| panic!("not a kubectl upgrade command: {cmd}"));
                let out = bin().args(&args).output().expect("runs");
                last_code = out.status.code();
                let stdout = String::from_utf8_lossy(&out.stdout);
                if let Err(e) = matches(expected, &stdout) {
                    panic!("README transcript `{cmd}` drifted from the binary: {e}");
                }
            }
            i = j;
        }
    }
}

#[test]
fn every_example_parses() {
    let text = readme();
    let mut seen = 0;
    for (_, info, lines) in blocks(&text) {
        if !matches!(info.as_str(), "sh" | "text" | "bash" | "") {
            continue;
        }
        for line in &lines {
            let line = line.strip_prefix("$ ").unwrap_or(line);
            for args in invocations(line) {
                let out = bin().args(&args).arg("--help").output().expect("runs");
                assert!(
                    out.status.success(),
                    "README example `kubectl upgrade {}` (line: {line}) does not parse: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 20, "found only {seen} examples");
}

#[test]
fn the_matcher_needs_every_shown_line() {
    let want: Vec<String> = ["a", "...", "c", "d"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(matches(&want, "a\nb\nc\nd\n").is_ok());
    assert!(
        matches(&want, "a\nb\nc\nx\nd\n").is_err(),
        "c and d must be adjacent"
    );
    assert!(matches(&want, "c\nd\na\n").is_err(), "in order");
    assert_eq!(
        words("drain-next --to 'v1.33' | jq"),
        ["drain-next", "--to", "v1.33"]
    );
}
