//! Reading cluster dumps for `check --snapshot`: our snapshot, any v1 `List` or typed list
//! (items with or without `kind`/`apiVersion`), single objects, multi-document YAML,
//! `/version` and `kubectl version -o json` documents, and directories (read recursively) or
//! `.tar.gz` archives of them, in particular the layouts of `kubectl cluster-info dump
//! --output-directory`, troubleshoot.sh support bundles (`cluster-resources/...`) and
//! sonobuoy results (`resources/cluster/...`, `serverversion.json`).
//!
//! JSON is streamed item by item into the [`Reducer`] (a 150k-pod snapshot is never held
//! whole). A list's items without `kind` get it from the list's `kind` (`NodeList` ->
//! `Node`), or, where the list has none (client-go typed lists as support bundles write
//! them), from the file's path (`nodes.json`, `pods/<ns>.json`, `core_v1_pods.json`).

use super::snapshot::{SnapshotMeta, META_FIELD};
use super::Reducer;
use crate::facts::pdb::PdbVersion;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Why a dump could not be read: a file that cannot be opened or read, one that is not
/// Kubernetes objects, or one with nothing `check` can use. Each says what to do; all are
/// bad input (the exit code is chosen in `crate::exit`).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot {action} {name}: {source}")]
    Io {
        action: &'static str,
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name}: {why}")]
    Malformed { name: String, why: String },
    #[error("{0}")]
    Unusable(String),
}

fn io<'a>(action: &'static str, name: &'a str) -> impl FnOnce(std::io::Error) -> InputError + 'a {
    move |source| InputError::Io {
        action,
        name: name.to_string(),
        source,
    }
}

/// The kinds `check` reads; every other kind is skipped.
const KINDS: &[&str] = &["Node", "Pod", "PodDisruptionBudget", "ConfigMap"];
/// The group/versions a selfLink may name for [`KINDS`].
const KNOWN_APIS: &[&str] = &["v1", "policy/v1", "policy/v1beta1"];

/// What the readers collected besides the objects fed to the reducer.
#[derive(Debug, Default)]
struct Collected {
    /// Server version and where it came from.
    server_version: Option<(String, String)>,
    /// Other server versions seen (a dump mixing clusters).
    other_versions: Vec<(String, String)>,
    kubectl_version: Option<String>,
    meta_notes: Vec<String>,
    files_read: usize,
    /// Files in a directory or archive that were not Kubernetes objects or could not be read.
    skipped: Vec<String>,
    /// Items whose kind could not be told.
    kindless: usize,
    /// Reading manifests (`--file`): every object is an API usage, nothing is cluster state.
    manifests: bool,
}

/// Read every path (file, directory, `.tar.gz`, `-` for stdin) into one reducer.
/// `apiserver_version` (from `--apiserver-version`) overrides what the dump says.
pub fn read_paths(
    paths: &[PathBuf],
    apiserver_version: Option<&str>,
) -> Result<Reducer, InputError> {
    read_into(paths, apiserver_version, Reducer::new)
}

/// [`read_paths`] for `simulate`: the reducer also keeps every node's labels and each pod's
/// scheduling facts ([`Reducer::finish_world`]).
pub fn read_paths_for_simulation(paths: &[PathBuf]) -> Result<Reducer, InputError> {
    read_into(paths, None, Reducer::for_simulation)
}

fn read_into(
    paths: &[PathBuf],
    apiserver_version: Option<&str>,
    make: fn(String) -> Reducer,
) -> Result<Reducer, InputError> {
    let named = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut reducer = make(format!("snapshot {named}"));
    let mut got = Collected::default();
    for path in paths {
        read_path(path, &mut reducer, &mut got)?;
    }
    if reducer.node_count() == 0 {
        let mut msg = format!(
            "{named} holds no nodes: check needs them; capture with `kubectl upgrade snapshot` or `kubectl get nodes,pods,pdb,cm -A -o json`"
        );
        if got.kindless > 0 {
            msg.push_str(&format!(
                " ({} item(s) had no kind and no list kind or file name to tell it)",
                got.kindless
            ));
        }
        return Err(InputError::Unusable(msg));
    }
    finish(&mut reducer, got, apiserver_version);
    Ok(reducer)
}

/// Read manifests (`check --file`: files or directories, multi-document YAML, JSON, Lists)
/// into `reducer` as API usages, each naming its file. Nothing read here is cluster state.
pub fn read_manifests(paths: &[PathBuf], reducer: &mut Reducer) -> Result<(), InputError> {
    let mut got = Collected {
        manifests: true,
        ..Collected::default()
    };
    for path in paths {
        read_path(path, reducer, &mut got)?;
    }
    if !got.skipped.is_empty() {
        reducer.note(format!(
            "--file: {} file(s) read; {} not read as manifests (templates or not YAML/JSON): {}",
            got.files_read,
            got.skipped.len(),
            crate::findings::bounded(&got.skipped, crate::findings::NAMES_SHOWN)
        ));
    }
    Ok(())
}

/// Read one in-memory stream (JSON or YAML) strictly: every error is returned. For tests and
/// tools that hold a dump in memory; it does not require nodes.
pub fn read(reader: impl Read, source: &str) -> Result<Reducer, InputError> {
    let mut reducer = Reducer::new(source);
    let mut got = Collected::default();
    read_stream(
        BufReader::with_capacity(1 << 16, reader),
        source,
        &Hint::default(),
        &mut reducer,
        &mut got,
    )?;
    finish(&mut reducer, got, None);
    Ok(reducer)
}

fn finish(reducer: &mut Reducer, got: Collected, apiserver_version: Option<&str>) {
    match (apiserver_version, &got.server_version) {
        (Some(v), Some((dumped, from))) if dumped != v => {
            reducer.note(format!(
                "--apiserver-version {v} used; the dump says {dumped} ({from})"
            ));
            reducer.set_server_version(v);
        }
        (Some(v), _) => reducer.set_server_version(v),
        (None, Some((v, _))) => reducer.set_server_version(v.clone()),
        // Said once, with what to add, by the support finding (`unknown_control_plane`).
        (None, None) => {}
    }
    for (v, from) in &got.other_versions {
        reducer.note(format!(
            "another server version {v} in {from}: does the dump mix clusters?"
        ));
    }
    reducer.set_kubectl_version(got.kubectl_version);
    for n in got.meta_notes {
        reducer.note(n);
    }
    if got.kindless > 0 {
        reducer.note(format!(
            "{} item(s) skipped: no kind, and neither the list's kind nor the file name tells it",
            got.kindless
        ));
    }
    if !got.skipped.is_empty() {
        reducer.note(format!(
            "{} file(s) read; {} skipped (not Kubernetes objects or unreadable): {}",
            got.files_read,
            got.skipped.len(),
            crate::findings::bounded(&got.skipped, crate::findings::NAMES_SHOWN)
        ));
    }
}

fn read_path(path: &Path, reducer: &mut Reducer, got: &mut Collected) -> Result<(), InputError> {
    if path.as_os_str() == "-" {
        let stdin = std::io::stdin().lock();
        return read_stream(
            BufReader::with_capacity(1 << 16, stdin),
            "standard input",
            &Hint::default(),
            reducer,
            got,
        );
    }
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(io("open snapshot", &name))?;
    if meta.is_dir() {
        let mut files = Vec::new();
        let root = std::fs::canonicalize(path).map_err(io("read directory", &name))?;
        let mut walked = Walk {
            root: root.clone(),
            seen_dirs: std::collections::HashSet::new(),
            seen_files: std::collections::HashSet::new(),
            passed_over: Vec::new(),
        };
        walked
            .dir(&root, path, 0, &mut files)
            .map_err(io("read directory", &name))?;
        got.skipped.extend(walked.passed_over);
        for file in files {
            let rel = file.strip_prefix(path).unwrap_or(&file).to_path_buf();
            let shown = file.display().to_string();
            if is_archive(&file) {
                if let Err(e) = read_archive(&file, reducer, got) {
                    got.skipped.push(format!("{shown}: {e}"));
                }
                continue;
            }
            if is_text_file(&file) {
                // A pasted capture (`kubectl get nodes -o wide`, `kubectl version`) is read;
                // any other text file (logs in a support bundle) is not ours to judge.
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                if super::tables::is_capture(&text) {
                    if let Err(e) = read_stream(
                        BufReader::new(text.as_bytes()),
                        &shown,
                        &Hint::of(&rel),
                        reducer,
                        got,
                    ) {
                        got.skipped.push(e.to_string());
                    }
                }
                continue;
            }
            if !is_object_file(&file) {
                continue;
            }
            let opened = std::fs::File::open(&file);
            let outcome = match opened {
                Ok(f) => read_stream(
                    BufReader::with_capacity(1 << 16, f),
                    &shown,
                    &Hint::of(&rel),
                    reducer,
                    got,
                ),
                Err(e) => Err(io("open", &shown)(e)),
            };
            if let Err(e) = outcome {
                got.skipped.push(e.to_string());
            }
        }
        return Ok(());
    }
    if is_archive(path) {
        return read_archive(path, reducer, got);
    }
    let file = std::fs::File::open(path).map_err(io("open snapshot", &name))?;
    read_stream(
        BufReader::with_capacity(1 << 16, file),
        &name,
        &Hint::of(path),
        reducer,
        got,
    )
}

/// How deep a dump directory is read (support bundles nest about 6 levels).
const MAX_DEPTH: usize = 32;

/// A walk over a dump directory, which is untrusted input (a support bundle from a ticket):
/// a symbolic link is followed only when it stays inside the directory given, every
/// directory and file is read once however many links lead to it (no loop, no double
/// count), and the depth is bounded. What is passed over is said.
struct Walk {
    /// The directory given, resolved.
    root: PathBuf,
    seen_dirs: std::collections::HashSet<PathBuf>,
    seen_files: std::collections::HashSet<PathBuf>,
    passed_over: Vec<String>,
}

impl Walk {
    /// Every regular file under `dir` (resolved: `real`; as named: `shown`), sorted (so the
    /// same dump always reads the same way).
    fn dir(
        &mut self,
        real: &Path,
        shown: &Path,
        depth: usize,
        out: &mut Vec<PathBuf>,
    ) -> std::io::Result<()> {
        if !self.seen_dirs.insert(real.to_path_buf()) {
            return Ok(()); // read already (a link back up, or two links to one place)
        }
        if depth > MAX_DEPTH {
            self.passed_over.push(format!(
                "{}: deeper than {MAX_DEPTH} directories, not read",
                shown.display()
            ));
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(real)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .map(|n| shown.join(n))
            .collect();
        entries.sort();
        for p in entries {
            let Ok(resolved) = std::fs::canonicalize(&p) else {
                self.passed_over
                    .push(format!("{}: a broken link", p.display()));
                continue;
            };
            if !resolved.starts_with(&self.root) {
                self.passed_over.push(format!(
                    "{}: a link out of the directory given, not followed",
                    p.display()
                ));
                continue;
            }
            if resolved.is_dir() {
                self.dir(&resolved, &p, depth + 1, out)?;
            } else if resolved.is_file() && self.seen_files.insert(resolved) {
                out.push(p);
            }
        }
        Ok(())
    }
}

fn is_archive(p: &Path) -> bool {
    let n = p.to_string_lossy().to_ascii_lowercase();
    n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

fn is_text_file(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("txt")
    )
}

fn is_object_file(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("json" | "yaml" | "yml")
    )
}

/// A `.tar.gz` (support bundle, sonobuoy result), read entry by entry without unpacking.
fn read_archive(path: &Path, reducer: &mut Reducer, got: &mut Collected) -> Result<(), InputError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(io("open archive", &name))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let entries = archive.entries().map_err(io("read archive", &name))?;
    for entry in entries {
        let entry = entry.map_err(io("read the entries of archive", &name))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let inner = match entry.path() {
            Ok(p) => p.into_owned(),
            Err(_) => continue,
        };
        if !is_object_file(&inner) {
            continue;
        }
        let shown = format!("{name}:{}", inner.display());
        let outcome = read_stream(
            BufReader::with_capacity(1 << 16, entry),
            &shown,
            &Hint::of(&inner),
            reducer,
            got,
        );
        if let Err(e) = outcome {
            got.skipped.push(e.to_string());
        }
    }
    Ok(())
}

/// What a kindless item is, as this reader tells it: from its `metadata.selfLink`, else from
/// the file's path (`nodes.json`, `config/node/NAME.json`): `(kind, apiVersion)`. The tests
/// that load a dump into a real API server use it to give every object its kind.
pub fn kind_of(path: &Path, item: &Value) -> Option<(&'static str, &'static str)> {
    let h = Hint::of_self_link(item).unwrap_or_else(|| Hint::of(path));
    Some((h.kind?, h.api_version?))
}

/// What a file's path says about the items it holds when they carry no kind.
#[derive(Debug, Clone, Default, PartialEq)]
struct Hint {
    kind: Option<&'static str>,
    api_version: Option<&'static str>,
}

impl Hint {
    /// From the file name (`nodes.json`, `core_v1_nodes.json`, `Nodes.json`,
    /// `policy_v1beta1_poddisruptionbudgets.json`), else from the directory holding it
    /// (`cluster-resources/pods/default.json`).
    fn of(path: &Path) -> Hint {
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.split('.').next().unwrap_or(n).to_ascii_lowercase())
            .unwrap_or_default();
        if let Some(h) = Hint::of_word(&stem) {
            return h;
        }
        path.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| Hint::of_word(&n.to_ascii_lowercase()))
            .unwrap_or_default()
    }

    /// From an object's `metadata.selfLink`, which servers before 1.20 filled in:
    /// `/api/v1/nodes/NAME`, `/apis/policy/v1beta1/namespaces/NS/poddisruptionbudgets/NAME`.
    fn of_self_link(item: &Value) -> Option<Hint> {
        let link = item.pointer("/metadata/selfLink")?.as_str()?;
        let parts: Vec<&str> = link.trim_matches('/').split('/').collect();
        let (api, rest) = match parts.as_slice() {
            ["api", version, rest @ ..] => (version.to_string(), rest),
            ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
            _ => return None,
        };
        let rest = match rest {
            ["namespaces", _, rest @ ..] if !rest.is_empty() => rest,
            rest => rest,
        };
        let hint = Hint::of_word(rest.first()?)?;
        // The link's group/version is the object's, whatever the word says.
        let api = KNOWN_APIS.iter().find(|a| **a == api)?;
        Some(Hint {
            kind: hint.kind,
            api_version: Some(api),
        })
    }

    fn of_word(word: &str) -> Option<Hint> {
        let beta = word.contains("v1beta1");
        // `core_v1_nodes` / `policy_v1beta1_poddisruptionbudgets`: the resource is last.
        let resource = word.rsplit('_').next().unwrap_or(word);
        // Plural (`cluster-resources/nodes.json`) or singular (an OpenShift insights
        // archive's `config/node/NAME.json`, `config/pod/NS/NAME.json`).
        let kind = match resource {
            "nodes" | "node" => "Node",
            "pods" | "pod" => "Pod",
            "poddisruptionbudgets" | "pod-disruption-budgets" | "pdbs" | "pdb" => {
                "PodDisruptionBudget"
            }
            "configmaps" | "config-maps" | "configmap" => "ConfigMap",
            _ => return None,
        };
        let api_version = match kind {
            "PodDisruptionBudget" if beta => "policy/v1beta1",
            "PodDisruptionBudget" => "policy/v1",
            _ => "v1",
        };
        Some(Hint {
            kind: Some(kind),
            api_version: Some(api_version),
        })
    }
}

/// Read one stream: JSON (streamed) or YAML (one or more documents).
fn read_stream(
    mut input: impl BufRead,
    name: &str,
    hint: &Hint,
    reducer: &mut Reducer,
    got: &mut Collected,
) -> Result<(), InputError> {
    let first = first_byte(&mut input).map_err(io("read", name))?;
    got.files_read += 1;
    let mut ctx = Feed {
        reducer,
        got,
        name,
        hint,
    };
    match first {
        None => Err(InputError::Unusable(format!(
            "{name} is empty; write a snapshot with `kubectl upgrade snapshot > FILE`"
        ))),
        Some(b'{') | Some(b'[') => {
            // One JSON value, or several one after another (`kubectl get ... -o json`
            // appended to one file): `end` leaves the next value's first byte unread.
            let mut de = serde_json::Deserializer::from_reader(input);
            loop {
                TopSeed { ctx: &mut ctx }
                    .deserialize(&mut de)
                    .map_err(|e| InputError::Malformed {
                        name: name.to_string(),
                        why: describe_json_error(&e),
                    })?;
                match de.end() {
                    Ok(()) => return Ok(()),
                    Err(e) if e.is_syntax() && e.to_string().starts_with("trailing characters") => {
                    }
                    Err(e) => {
                        return Err(InputError::Malformed {
                            name: name.to_string(),
                            why: describe_json_error(&e),
                        })
                    }
                }
            }
        }
        Some(_) => {
            let mut text = String::new();
            input.read_to_string(&mut text).map_err(io("read", name))?;
            if super::tables::is_capture(&text) {
                return ctx.capture(&text).map_err(InputError::Unusable);
            }
            let mut docs = 0;
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let value = <Value as serde::Deserialize>::deserialize(doc).map_err(|e| {
                    InputError::Malformed {
                        name: name.to_string(),
                        why: format!(
                            "neither JSON nor YAML: {}",
                            crate::client::connect::one_line(&e.to_string())
                        ),
                    }
                })?;
                if value.is_null() {
                    continue;
                }
                docs += 1;
                ctx.value(value).map_err(InputError::Unusable)?;
            }
            if docs == 0 {
                return Err(InputError::Unusable(format!(
                    "{name} holds no YAML document"
                )));
            }
            Ok(())
        }
    }
}

/// The first non-whitespace byte, left unread; `None` at end of input.
fn first_byte(input: &mut impl BufRead) -> std::io::Result<Option<u8>> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                input.consume(i);
                return Ok(Some(b));
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
}

pub(super) fn describe_json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "truncated JSON",
        serde_json::error::Category::Syntax => "invalid JSON",
        _ => "unexpected content",
    };
    let detail = crate::client::connect::one_line(&e.to_string());
    format!(
        "{what} at line {} column {}: {detail}",
        e.line(),
        e.column()
    )
}

/// Where objects go, and what names them in messages.
struct Feed<'a> {
    reducer: &'a mut Reducer,
    got: &'a mut Collected,
    name: &'a str,
    hint: &'a Hint,
}

impl Feed<'_> {
    /// One whole document: a list, an object, or a version document.
    fn value(&mut self, value: Value) -> Result<(), String> {
        let Value::Object(mut map) = value else {
            if let Value::Array(items) = value {
                for item in items {
                    self.item(item, None, None)?;
                }
                return Ok(());
            }
            return Err(format!("{}: not a Kubernetes object", self.name));
        };
        if let Some(Value::Array(items)) = map.remove("items") {
            let kind = map.get("kind").and_then(Value::as_str).map(str::to_string);
            let api = map
                .get("apiVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(meta) = map.remove(META_FIELD) {
                self.meta(meta)?;
            }
            let item_kind = kind.as_deref().and_then(|k| k.strip_suffix("List"));
            for item in items {
                self.item(item, item_kind, api.as_deref())?;
            }
            return Ok(());
        }
        self.object(map)
    }

    /// A top-level object that is not a list.
    fn object(&mut self, mut map: serde_json::Map<String, Value>) -> Result<(), String> {
        if super::legacy::is_internal_list(&map) {
            // An old `cluster-info dump`: internal types; the kind comes from the list's
            // selfLink (`/api/v1/nodes`) or the file name.
            let kind = Hint::of_self_link(&serde_json::json!({"metadata": {
                "selfLink": map.get("selfLink").cloned().unwrap_or_default()
            }}))
            .and_then(|h| h.kind);
            if let Some(Value::Array(items)) = map.remove("Items") {
                for item in items {
                    self.item(super::legacy::to_v1(item), kind, Some("v1"))?;
                }
            }
            return Ok(());
        }
        if map.contains_key("kind") {
            return self.item(Value::Object(map), None, None);
        }
        // `kubectl version -o json`
        if map.contains_key("serverVersion") || map.contains_key("clientVersion") {
            if let Some(v) = map.get("serverVersion").and_then(git_version) {
                self.server_version(v, "kubectl version -o json");
            }
            if let Some(v) = map.get("clientVersion").and_then(git_version) {
                self.got.kubectl_version.get_or_insert(v);
            }
            return Ok(());
        }
        // `/version` (sonobuoy's serverversion.json) or troubleshoot's cluster_version.json.
        let direct = git_version(&Value::Object(map.clone()));
        if let Some(v) = direct.or_else(|| map.get("info").and_then(git_version)) {
            self.server_version(v, "/version document");
            return Ok(());
        }
        // rancher/support-bundle-kit's metadata.yaml (`kubernetesversion: v1.21.7+rke2r1`).
        if let Some(v) = map.get("kubernetesversion").and_then(Value::as_str) {
            self.server_version(v.to_string(), "support-bundle-kit metadata");
            return Ok(());
        }
        // An object written without its kind (`kubectl get --raw` of one object, an
        // insights archive): its kind comes from its selfLink or the file's path.
        if map.contains_key("metadata") {
            return self.item(Value::Object(map), None, None);
        }
        Err(format!(
            "{}: neither a Kubernetes object nor a version document",
            self.name
        ))
    }

    /// A pasted `kubectl get nodes -o wide` table and `kubectl version` text.
    fn capture(&mut self, text: &str) -> Result<(), String> {
        let nodes = super::tables::nodes(text);
        if !nodes.is_empty() {
            self.got.meta_notes.push(format!(
                "{}: read from a `kubectl get nodes -o wide` table: {} node(s) with their readiness, roles, kubelet versions, OS images, kernels and runtimes only (no pods, PDBs, taints or other labels)",
                self.name,
                nodes.len()
            ));
        }
        for n in nodes {
            let mut v = serde_json::to_value(n).map_err(|e| e.to_string())?;
            v["kind"] = Value::from("Node");
            v["apiVersion"] = Value::from("v1");
            self.value(v)?;
        }
        let (server, client) = super::tables::versions(text);
        if let Some(s) = server {
            self.server_version(s, "kubectl version text in");
        }
        if client.is_some() && self.got.kubectl_version.is_none() {
            self.got.kubectl_version = client;
        }
        Ok(())
    }

    fn server_version(&mut self, v: String, what: &str) {
        let from = format!("{what} {}", self.name);
        match &self.got.server_version {
            None => self.got.server_version = Some((v, from)),
            Some((known, _)) if *known == v => {}
            Some(_) => self.got.other_versions.push((v, from)),
        }
    }

    fn meta(&mut self, meta: Value) -> Result<(), String> {
        let meta: SnapshotMeta = serde_json::from_value(meta)
            .map_err(|e| format!("{}: malformed {META_FIELD} header: {e}", self.name))?;
        if let Some(v) = meta.server_version {
            self.server_version(v, "snapshot header of");
        }
        if let Some(v) = meta.kubectl_version {
            self.got.kubectl_version.get_or_insert(v);
        }
        self.got.meta_notes.extend(meta.notes);
        for u in meta.usages.iter().filter_map(|r| r.to_usage()) {
            self.reducer.api_usage(u);
        }
        if !meta.certificates.is_empty() {
            self.reducer.certificates(meta.certificates);
        }
        for c in meta.helm_charts {
            self.reducer.helm_chart(c);
        }
        Ok(())
    }

    /// One object, its kind from itself, else the list, else the file name.
    fn item(
        &mut self,
        mut item: Value,
        list_kind: Option<&str>,
        list_api: Option<&str>,
    ) -> Result<(), String> {
        let own = item.get("kind").and_then(Value::as_str).map(str::to_string);
        let linked = Hint::of_self_link(&item).unwrap_or_default();
        let kind = match own {
            Some(k) if !k.is_empty() => k,
            _ => match list_kind
                .filter(|k| !k.is_empty())
                .or(linked.kind)
                .or(self.hint.kind)
            {
                Some(k) => k.to_string(),
                None => {
                    self.got.kindless += 1;
                    return Ok(());
                }
            },
        };
        let api = item
            .get("apiVersion")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .or_else(|| {
                // A list's apiVersion is its items' only when it is a typed list.
                list_kind
                    .and(list_api)
                    .map(str::to_string)
                    .or(linked.api_version.map(str::to_string))
                    .or(self.hint.api_version.map(str::to_string))
            })
            .unwrap_or_default();
        if self.got.manifests {
            if let Some(map) = item.as_object_mut() {
                map.insert("kind".into(), Value::from(kind.as_str()));
                map.insert("apiVersion".into(), Value::from(api.as_str()));
            }
            let source = crate::facts::apiusage::UsageSource::File(self.name.to_string());
            if let Some(u) = crate::facts::apiusage::from_manifest(&item, source) {
                self.reducer.api_usage(u);
            }
            // Static pod manifests and component configuration files: flags and gates.
            for c in crate::facts::config::of_file(&item, &format!("file:{}", self.name)) {
                self.reducer.component_config(c);
            }
            self.helm_secret(&kind, &item);
            return Ok(());
        }
        if !KINDS.contains(&kind.as_str()) {
            if self.helm_secret(&kind, &item) {
                return Ok(());
            }
            // Where bound volumes let pods run (simulate).
            match (kind.as_str(), api.as_str()) {
                ("PersistentVolumeClaim", "v1") => {
                    if let Ok(c) = serde_json::from_value(item.clone()) {
                        self.reducer.volume_claim(&c);
                    }
                    return Ok(());
                }
                ("PersistentVolume", "v1") => {
                    if let Ok(v) = serde_json::from_value(item.clone()) {
                        self.reducer.volume(&v);
                    }
                    return Ok(());
                }
                _ => {}
            }
            // What the webhook check reads (webhook configurations also go to the API scan).
            if let Some(o) = admission_object(&kind, &api, &item) {
                self.reducer.admission(o);
                if matches!(kind.as_str(), "EndpointSlice" | "Namespace") {
                    return Ok(());
                }
            }
            // Other kinds matter only for what API versions they were written with.
            if kind == "CustomResourceDefinition" {
                if let Some(c) = crate::facts::apiusage::crd_facts(&item) {
                    self.reducer.crd(c);
                }
            } else if let Some(meta) = item.get("metadata") {
                if let Ok(meta) = serde_json::from_value::<
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
                >(meta.clone())
                {
                    self.reducer.api_object(&kind, &api, &meta);
                }
            }
            return Ok(());
        }
        if let Some(map) = item.as_object_mut() {
            map.remove("kind");
            map.remove("apiVersion");
        }
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let bad = |e: serde_json::Error| format!("{}: malformed {kind} {name}: {e}", self.name);
        match kind.as_str() {
            "Node" => self
                .reducer
                .node(serde_json::from_value::<Node>(item).map_err(bad)?),
            "Pod" => self
                .reducer
                .pod(serde_json::from_value::<Pod>(item).map_err(bad)?),
            "PodDisruptionBudget" => {
                let pdb = serde_json::from_value::<PodDisruptionBudget>(item).map_err(bad)?;
                let version = if api == "policy/v1beta1" {
                    PdbVersion::V1beta1
                } else {
                    PdbVersion::V1
                };
                self.reducer.pdb_as(&pdb, version);
            }
            "ConfigMap" => self
                .reducer
                .configmap(serde_json::from_value::<ConfigMap>(item).map_err(bad)?),
            _ => {}
        }
        Ok(())
    }
}

impl Feed<'_> {
    /// A Helm 3 release Secret (`type: helm.sh/release.v1`): decoded as the live scan
    /// decodes it. Whether it was one.
    fn helm_secret(&mut self, kind: &str, item: &Value) -> bool {
        if kind != "Secret"
            || item.get("type").and_then(Value::as_str) != Some("helm.sh/release.v1")
        {
            return false;
        }
        let ns = item
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let labels: std::collections::BTreeMap<String, String> = item
            .pointer("/metadata/labels")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        // `data.release` under the Secret's own base64, as `kubectl get secret -o json` prints it.
        let data = item
            .pointer("/data/release")
            .and_then(Value::as_str)
            .and_then(|s| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .ok()
            });
        if let Some(d) = data {
            self.reducer.helm_release_secret(ns, &labels, &d);
        }
        true
    }
}

/// A webhook configuration (admissionregistration.k8s.io/v1), EndpointSlice
/// (discovery.k8s.io/v1) or Namespace, for the webhook check; other versions or a malformed
/// object are left to the API scan.
fn admission_object(
    kind: &str,
    api: &str,
    item: &Value,
) -> Option<crate::facts::webhook::AdmissionObject> {
    use crate::facts::webhook::AdmissionObject as A;
    let v = || item.clone();
    match (kind, api) {
        ("ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1") => {
            serde_json::from_value(v()).ok().map(A::Validating)
        }
        ("MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1") => {
            serde_json::from_value(v()).ok().map(A::Mutating)
        }
        ("EndpointSlice", "discovery.k8s.io/v1") => serde_json::from_value(v()).ok().map(A::Slice),
        ("Namespace", "v1") => serde_json::from_value(v()).ok().map(A::Namespace),
        _ => None,
    }
}

fn git_version(v: &Value) -> Option<String> {
    v.get("gitVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The top-level JSON value: a list is streamed item by item; anything else is small and
/// collected whole.
struct TopSeed<'a, 'b> {
    ctx: &'a mut Feed<'b>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes List or object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            self.ctx.item(item, None, None).map_err(de::Error::custom)?;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut rest = serde_json::Map::new();
        // Items seen before the list's `kind` (kubectl sorts keys: `items` < `kind`) and
        // carrying no kind of their own wait here; all others are fed at once.
        let mut waiting: Vec<Value> = Vec::new();
        let mut saw_items = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                saw_items = true;
                let list_kind = rest.get("kind").and_then(Value::as_str).map(str::to_string);
                let list_api = rest
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                map.next_value_seed(ItemsSeed {
                    ctx: self.ctx,
                    list_kind,
                    list_api,
                    waiting: &mut waiting,
                })?;
            } else {
                let v: Value = map.next_value()?;
                rest.insert(key, v);
            }
        }
        if !saw_items {
            return self.ctx.object(rest).map_err(de::Error::custom);
        }
        let kind = rest.get("kind").and_then(Value::as_str).unwrap_or_default();
        if !kind.is_empty() && !kind.ends_with("List") {
            return Err(de::Error::custom(format!(
                "expected a List, found a {kind} with items"
            )));
        }
        let item_kind = kind.strip_suffix("List").map(str::to_string);
        let api = rest
            .get("apiVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        for item in waiting {
            self.ctx
                .item(item, item_kind.as_deref(), api.as_deref())
                .map_err(de::Error::custom)?;
        }
        if let Some(meta) = rest.remove(META_FIELD) {
            self.ctx.meta(meta).map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

struct ItemsSeed<'a, 'b> {
    ctx: &'a mut Feed<'b>,
    list_kind: Option<String>,
    list_api: Option<String>,
    waiting: &'a mut Vec<Value>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of Kubernetes objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let item_kind = self
            .list_kind
            .as_deref()
            .and_then(|k| k.strip_suffix("List"));
        while let Some(item) = seq.next_element::<Value>()? {
            let has_kind = item
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| !k.is_empty());
            if !has_kind && self.list_kind.is_none() && self.ctx.hint.kind.is_none() {
                self.waiting.push(item);
                continue;
            }
            self.ctx
                .item(item, item_kind, self.list_api.as_deref())
                .map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

/// Counts of what a dump held, for tests.
#[cfg(test)]
fn kinds_of(reducer: Reducer) -> std::collections::BTreeMap<&'static str, usize> {
    let inv = reducer.finish();
    let mut m = std::collections::BTreeMap::new();
    m.insert("nodes", inv.nodes.len());
    m.insert("pdbs", inv.pdbs.len());
    m.insert("pods", inv.pods_seen);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str, file: &str) -> Result<Reducer, InputError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(file);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        read_paths(&[p], None)
    }

    const NODE: &str = r#"{"metadata":{"name":"n1"},"status":{"nodeInfo":{"kubeletVersion":"v1.30.2","kubeProxyVersion":"","containerRuntimeVersion":"containerd://1.7","osImage":"","kernelVersion":"","architecture":"amd64","operatingSystem":"linux","machineID":"","systemUUID":"","bootID":""}}}"#;

    /// A support bundle is untrusted: links back up (`self -> .`, `up -> ..`), links out of
    /// the directory and a second link to the same file are not followed, so the walk ends,
    /// reads every file once and says what it passed over.
    #[cfg(unix)]
    #[test]
    fn symlink_loops_and_links_out_are_not_followed() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(
            outside.path().join("elsewhere.json"),
            format!(
                r#"{{"kind":"NodeList","items":[{}]}}"#,
                NODE.replace("n1", "x9")
            ),
        )
        .unwrap();
        let top = tempfile::tempdir().unwrap();
        let d = top.path().join("d");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(
            d.join("sub/nodes.json"),
            format!(r#"{{"kind":"NodeList","items":[{NODE}]}}"#),
        )
        .unwrap();
        symlink(".", d.join("self")).unwrap();
        symlink("..", d.join("sub/up")).unwrap();
        symlink("..", d.join("parent")).unwrap();
        symlink(outside.path(), d.join("out")).unwrap();
        symlink(d.join("sub/nodes.json"), d.join("again.json")).unwrap();
        symlink("missing.json", d.join("broken.json")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let dir = d.clone();
        std::thread::spawn(move || {
            let _ = tx.send(read_paths(&[dir], None));
        });
        let inv = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the walk ends")
            .unwrap()
            .finish();
        let names: Vec<&str> = inv.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["n1"], "read once, nothing from outside");
        let notes = inv.notes.join("\n");
        assert!(
            notes.contains("a link out of the directory given, not followed"),
            "{notes}"
        );
        assert!(notes.contains("broken link"), "{notes}");
    }

    /// The same objects twice count once; copies that disagree are said, the first kept.
    #[test]
    fn duplicate_objects_count_once() {
        let dir = tempfile::tempdir().unwrap();
        let node = |rv: &str| {
            NODE.replace(
                r#""name":"n1""#,
                &format!(r#""name":"n1","uid":"u1","resourceVersion":"{rv}""#),
            )
        };
        let list = |rv: &str| format!(r#"{{"kind":"NodeList","items":[{}]}}"#, node(rv));
        std::fs::write(dir.path().join("a.json"), list("5")).unwrap();
        std::fs::write(dir.path().join("copy.json"), list("5")).unwrap();
        let a = dir.path().join("a.json");
        let inv = read_paths(&[a.clone(), a.clone(), dir.path().to_path_buf()], None)
            .unwrap()
            .finish();
        assert_eq!(inv.nodes.len(), 1);
        assert!(
            inv.notes
                .iter()
                .any(|n| n.contains("3 object(s) were given more than once")),
            "{:?}",
            inv.notes
        );
        std::fs::write(dir.path().join("later.json"), list("9")).unwrap();
        let inv = read_paths(&[dir.path().to_path_buf()], None)
            .unwrap()
            .finish();
        assert_eq!(inv.nodes.len(), 1);
        assert!(
            inv.notes.iter().any(
                |n| n.contains("appear twice with different contents") && n.contains("Node n1")
            ),
            "{:?}",
            inv.notes
        );
    }

    #[test]
    fn kindless_items_take_the_list_kind_wherever_it_is() {
        // The API server's order (kind first) and kubectl's (keys sorted: items first).
        for text in [
            format!(r#"{{"kind":"NodeList","apiVersion":"v1","items":[{NODE}]}}"#),
            format!(r#"{{"apiVersion":"v1","items":[{NODE}],"kind":"NodeList"}}"#),
        ] {
            let counts = kinds_of(read_str(&text, "x.json").unwrap());
            assert_eq!(counts["nodes"], 1, "{text}");
        }
    }

    #[test]
    fn bare_objects_take_their_kind_from_the_self_link_or_the_directory() {
        // `kubectl get --raw` of one node (no kind, a selfLink), in a file named anything.
        let linked = NODE.replacen(
            r#""name":"n1""#,
            r#""name":"n1","selfLink":"/api/v1/nodes/n1""#,
            1,
        );
        assert_eq!(
            kinds_of(read_str(&linked, "dump.json").unwrap())["nodes"],
            1
        );
        // An insights archive: `config/node/NAME.json`, no kind, no selfLink.
        assert_eq!(
            kinds_of(read_str(NODE, "config/node/n1.json").unwrap())["nodes"],
            1
        );
        // A v1beta1 PDB known only by its selfLink keeps its version's meaning.
        let pdb = r#"{"metadata":{"name":"p","namespace":"a","selfLink":"/apis/policy/v1beta1/namespaces/a/poddisruptionbudgets/p"},"spec":{"selector":{},"maxUnavailable":1}}"#;
        assert_eq!(
            Hint::of_self_link(&serde_json::from_str(pdb).unwrap()),
            Some(Hint {
                kind: Some("PodDisruptionBudget"),
                api_version: Some("policy/v1beta1")
            })
        );
        let both = format!("{linked}\n{pdb}");
        assert_eq!(kinds_of(read_str(&both, "x.json").unwrap())["pdbs"], 1);
        // A kindless object nothing names is counted, not guessed.
        let other = r#"{"metadata":{"name":"version","selfLink":"/apis/config.openshift.io/v1/clusterversions/version"}}"#;
        assert_eq!(
            Hint::of_self_link(&serde_json::from_str(other).unwrap()),
            None
        );
    }

    #[test]
    fn old_cluster_info_dumps_and_bundle_metadata_are_read() {
        // kubectl's old `cluster-info dump`: internal types, `Items`, Go field names.
        let internal = r#"{"selfLink":"/api/v1/nodes","resourceVersion":"1","Items":[
            {"name":"m1","labels":{"node-role.kubernetes.io/master":""},
             "Spec":{"Unschedulable":true},
             "Status":{"Conditions":[{"Type":"Ready","Status":"True"}],
                       "NodeInfo":{"KubeletVersion":"v1.8.1","OSImage":"CentOS","MachineID":"","SystemUUID":"","BootID":"","KernelVersion":"","ContainerRuntimeVersion":"docker://1","KubeProxyVersion":"","OperatingSystem":"linux","Architecture":"amd64"}}}]}"#;
        let inv = read_str(internal, "dump/nodes.json").unwrap().finish();
        assert_eq!(inv.nodes.len(), 1);
        let n = &inv.nodes[0];
        assert_eq!(
            (n.name.as_str(), n.kubelet_version.as_str()),
            ("m1", "v1.8.1")
        );
        assert!(n.ready && n.unschedulable && n.is_control_plane());
        // rancher/support-bundle-kit's metadata.yaml names the server version.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nodes.json"), NODE).unwrap();
        std::fs::write(
            dir.path().join("metadata.yaml"),
            "bundleversion: 0.1.0\nkubernetesversion: v1.21.7+rke2r1\n",
        )
        .unwrap();
        let inv = read_paths(&[dir.path().to_path_buf()], None)
            .unwrap()
            .finish();
        assert_eq!(inv.server_version.as_deref(), Some("v1.21.7+rke2r1"));
    }

    #[test]
    fn typed_lists_without_kind_take_it_from_the_path() {
        let text = format!(r#"{{"metadata":{{}},"items":[{NODE}]}}"#);
        assert_eq!(
            kinds_of(read_str(&text, "cluster-resources/nodes.json").unwrap())["nodes"],
            1
        );
        let err = read_str(&text, "cluster-resources/whatever.json")
            .err()
            .unwrap();
        assert!(err.to_string().contains("no kind"), "{}", err.to_string());
        assert_eq!(
            Hint::of(Path::new("cluster-resources/pods/default.json")).kind,
            Some("Pod")
        );
        assert_eq!(
            Hint::of(Path::new(
                "resources/ns/a/policy_v1beta1_poddisruptionbudgets.json"
            )),
            Hint {
                kind: Some("PodDisruptionBudget"),
                api_version: Some("policy/v1beta1")
            }
        );
    }

    #[test]
    fn v1beta1_pdb_lists_keep_their_meaning() {
        // v1beta1: an empty selector selects nothing; v1: everything.
        let pdb = r#"{"metadata":{"name":"all","namespace":"a"},"spec":{"minAvailable":1,"selector":{}}}"#;
        let text = format!(
            r#"{{"kind":"PodDisruptionBudgetList","apiVersion":"policy/v1beta1","items":[{pdb}]}}
{{"kind":"NodeList","apiVersion":"v1","items":[{NODE}]}}"#
        );
        // Two JSON documents one after the other, or as YAML documents.
        let yaml = text
            .lines()
            .map(|l| serde_yaml::to_string(&serde_json::from_str::<Value>(l).unwrap()).unwrap())
            .collect::<Vec<_>>()
            .join("---\n");
        for (t, f) in [(text.as_str(), "x.json"), (yaml.as_str(), "x.yaml")] {
            let inv = read_str(t, f).unwrap().finish();
            assert_eq!(inv.pdbs.len(), 1, "{f}");
            assert!(!inv.pdbs[0].selector.everything, "{f}");
            assert_eq!(inv.nodes.len(), 1, "{f}");
        }
    }

    #[test]
    fn version_documents_give_the_server_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("nodes.json"),
            format!(r#"{{"items":[{NODE}]}}"#),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("serverversion.json"),
            r#"{"major":"1","minor":"30","gitVersion":"v1.30.4"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        std::fs::write(dir.path().join("junk.json"), r#"{"hello":1}"#).unwrap();
        let inv = read_paths(&[dir.path().to_path_buf()], None)
            .unwrap()
            .finish();
        assert_eq!(inv.server_version.as_deref(), Some("v1.30.4"));
        assert!(
            inv.notes.iter().any(|n| n.contains("junk.json")),
            "{:?}",
            inv.notes
        );
        // --apiserver-version wins, and says so.
        let inv = read_paths(&[dir.path().to_path_buf()], Some("v1.30.9"))
            .unwrap()
            .finish();
        assert_eq!(inv.server_version.as_deref(), Some("v1.30.9"));
        assert!(inv
            .notes
            .iter()
            .any(|n| n.contains("the dump says v1.30.4")));

        let kv = r#"{"clientVersion":{"gitVersion":"v1.31.0"},"serverVersion":{"gitVersion":"v1.30.5"}}"#;
        std::fs::write(dir.path().join("serverversion.json"), kv).unwrap();
        let inv = read_paths(&[dir.path().to_path_buf()], None)
            .unwrap()
            .finish();
        assert_eq!(inv.server_version.as_deref(), Some("v1.30.5"));
        assert_eq!(inv.kubectl_version.as_deref(), Some("v1.31.0"));
    }

    #[test]
    fn archives_are_read_without_unpacking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let body = format!(r#"{{"items":[{NODE}]}}"#);
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(
            &mut header,
            "bundle/cluster-resources/nodes.json",
            body.as_bytes(),
        )
        .unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let inv = read_paths(&[path], None).unwrap().finish();
        assert_eq!(inv.nodes.len(), 1);
    }

    #[test]
    fn single_objects_and_arrays_are_read() {
        let one = format!(r#"{{"kind":"Node","apiVersion":"v1",{}"#, &NODE[1..]);
        assert_eq!(kinds_of(read_str(&one, "n.json").unwrap())["nodes"], 1);
        let arr = format!("[{one}]");
        assert_eq!(kinds_of(read_str(&arr, "n.json").unwrap())["nodes"], 1);
    }
}

/// Our own snapshots: what `snapshot` writes, `check --snapshot` reads back.
#[cfg(test)]
mod snapshot_round_trip {
    use super::read;
    use crate::inventory::snapshot::*;
    use crate::inventory::Reducer;
    use k8s_openapi::api::core::v1::Pod;

    const LIST: &str = r#"{"apiVersion":"v1","kind":"List","items":[
      {"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"shop","labels":{"app":"web"},
        "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-x","uid":"u","controller":true}]},
        "spec":{"nodeName":"n1","containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}},
      {"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","labels":{"node-role.kubernetes.io/control-plane":""}},
        "status":{"nodeInfo":{"kubeletVersion":"v1.30.2","kubeProxyVersion":"","containerRuntimeVersion":"containerd://1.7","osImage":"Ubuntu","kernelVersion":"6.1","architecture":"amd64","operatingSystem":"linux","machineID":"","systemUUID":"","bootID":""},
        "conditions":[{"type":"Ready","status":"True"}]}},
      {"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"web","namespace":"shop"},
        "spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}},"status":{"currentHealthy":1,"desiredHealthy":1,"expectedPods":1,"disruptionsAllowed":0}},
      {"apiVersion":"v1","kind":"Service","metadata":{"name":"ignored"}}
    ],"kubectlUpgrade":{"serverVersion":"v1.30.2"}}"#;

    #[test]
    fn reads_a_list_and_matches_pdbs_given_after_pods() {
        let inv = read(LIST.as_bytes(), "test").map(Reducer::finish).unwrap();
        assert_eq!(inv.server_version.as_deref(), Some("v1.30.2"));
        assert_eq!(inv.nodes.len(), 1);
        assert!(inv.nodes[0].is_control_plane());
        assert!(inv.nodes[0].ready);
        // The ReplicaSet pod is evictable under PDB 0 alone: counted, not kept.
        assert_eq!(inv.pods_seen, 1);
        assert!(inv.pods.is_empty());
        assert_eq!(
            inv.covered,
            [crate::facts::inventory::CoveredPods {
                node: "n1".into(),
                pdb: 0,
                pods: 1
            }]
        );
        assert_eq!(inv.pdbs[0].disruptions_allowed, 0);
    }

    #[test]
    fn truncated_file_names_the_position() {
        let cut = &LIST[..LIST.len() / 2];
        let err = read(cut.as_bytes(), "test").err().unwrap();
        assert!(
            matches!(err, crate::inventory::ingest::InputError::Malformed { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("truncated JSON at line"),
            "{}",
            err.to_string()
        );
    }

    #[test]
    fn corrupt_file_names_the_position() {
        let bad = LIST.replacen("\"kind\":\"Pod\",", "\"kind\":\"Pod\",,", 1);
        let err = read(bad.as_bytes(), "test").err().unwrap();
        assert!(
            err.to_string().contains("invalid JSON at line 2"),
            "{}",
            err.to_string()
        );
    }

    #[test]
    fn writer_round_trips_and_strips_secrets() {
        let inv_in = read(LIST.as_bytes(), "t").map(Reducer::finish).unwrap();
        let mut pod: Pod = serde_json::from_str(
            r#"{"metadata":{"name":"p","namespace":"a","managedFields":[{"manager":"x"}]},
               "spec":{"nodeName":"n1","containers":[{"name":"c","image":"i","env":[{"name":"PASSWORD","value":"hunter2"}]}]},
               "status":{"phase":"Running","podIP":"10.0.0.1"}}"#,
        )
        .unwrap();
        pod.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        let mut w = SnapshotWriter::begin(Vec::new()).unwrap();
        w.pod(&pod).unwrap();
        let bytes = w
            .finish(&SnapshotMeta {
                server_version: Some("v1.30.2".into()),
                ..SnapshotMeta::default()
            })
            .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains("hunter2"));
        assert!(!text.contains("managedFields"));
        assert!(!text.contains("10.0.0.1"));
        let inv = read(text.as_bytes(), "t").map(Reducer::finish).unwrap();
        assert_eq!(inv.pods.len(), 1);
        assert_eq!(inv.server_version, inv_in.server_version);
    }
}

/// Webhook configurations, EndpointSlices and Namespaces in a dump reach the webhook check.
#[cfg(test)]
mod webhooks_in_dumps {
    use super::read;

    const HOOK: &str = r#"{"apiVersion":"admissionregistration.k8s.io/v1","kind":"ValidatingWebhookConfiguration","metadata":{"name":"guard"},
        "webhooks":[{"name":"guard.example.com","admissionReviewVersions":["v1"],"sideEffects":"None",
          "clientConfig":{"service":{"namespace":"guard","name":"guard"}},
          "rules":[{"apiGroups":[""],"apiVersions":["v1"],"operations":["CREATE"],"resources":["pods/eviction"]}]}]}"#;
    const SLICE: &str = r#"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"guard-x","namespace":"guard","labels":{"kubernetes.io/service-name":"guard"}},
        "addressType":"IPv4","endpoints":[{"addresses":["10.0.0.9"],"nodeName":"n2","conditions":{"ready":false}}]}"#;

    fn node(name: &str) -> String {
        format!(
            r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{name}"}},"status":{{"nodeInfo":{{"kubeletVersion":"v1.33.2","kubeProxyVersion":"","containerRuntimeVersion":"containerd://1.7","osImage":"Ubuntu","kernelVersion":"6.1","architecture":"amd64","operatingSystem":"linux","machineID":"","systemUUID":"","bootID":""}},"conditions":[{{"type":"Ready","status":"True"}}]}}}}"#
        )
    }

    const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"shop","labels":{"app":"web"},
        "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-x","uid":"u","controller":true}]},
        "spec":{"nodeName":"n1","containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#;

    fn findings(items: &[&str]) -> (Vec<crate::findings::Finding>, Vec<String>) {
        let list = format!(
            r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#,
            items.join(",")
        );
        let inv = read(list.as_bytes(), "dump.json").expect("read").finish();
        let f = crate::policy::preview::preview(&inv)
            .into_iter()
            .filter(|f| f.subject.starts_with("webhook "))
            .collect();
        (f, inv.notes)
    }

    #[test]
    fn a_webhook_without_ready_endpoints_blocks_the_nodes_with_pods_to_move() {
        let (n1, n2) = (node("n1"), node("n2"));
        let (f, notes) = findings(&[HOOK, SLICE, &n1, &n2, POD]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, crate::findings::Severity::Violation);
        assert!(
            f[0].message.contains("guard/guard has no ready endpoint")
                && f[0].message.ends_with("blocks draining n1"),
            "{}",
            f[0].message
        );
        assert!(!notes.iter().any(|n| n.contains("webhook")), "{notes:?}");
        // Given after the pods: every node with pods is taken to meet it, and said.
        let (f, notes) = findings(&[&n1, &n2, POD, HOOK, SLICE]);
        assert!(f[0].message.ends_with("blocks draining n1, n2"), "{f:?}");
        assert!(
            notes.iter().any(|n| n.contains("after the pods")),
            "{notes:?}"
        );
    }
}

/// A dump with `pv,pvc` gives simulate where bound volumes reach.
#[cfg(test)]
mod volumes_in_dumps {
    #[test]
    fn claims_resolve_to_their_volumes_node_affinity() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("dump.json");
        std::fs::write(
            &path,
            r#"{"apiVersion":"v1","kind":"List","items":[
              {"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},"status":{"nodeInfo":{"kubeletVersion":"v1.33.2","kubeProxyVersion":"","containerRuntimeVersion":"containerd://1.7","osImage":"Ubuntu","kernelVersion":"6.1","architecture":"amd64","operatingSystem":"linux","machineID":"","systemUUID":"","bootID":""}}},
              {"apiVersion":"v1","kind":"Pod","metadata":{"name":"db-0","namespace":"db"},
               "spec":{"nodeName":"n1","containers":[{"name":"c"}],"volumes":[{"name":"d","persistentVolumeClaim":{"claimName":"data"}}]},
               "status":{"phase":"Running"}},
              {"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"data","namespace":"db"},"spec":{"volumeName":"pv-a"}},
              {"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pv-a"},"spec":{"nodeAffinity":{"required":{"nodeSelectorTerms":[
                {"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["a"]}]}]}}}}
            ]}"#,
        )
        .expect("write");
        let (_, world) = super::read_paths_for_simulation(&[path])
            .expect("read")
            .finish_world();
        assert_eq!(world.pods.len(), 1);
        assert_eq!(world.pods[0].moving.rules.volume_affinity.len(), 1);
    }
}
