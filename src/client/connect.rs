//! Connection flags (parsed by the plugin itself: kubectl refuses flags placed before the
//! plugin name) and the one `kube::Client` built from them. Also the translation of API
//! errors into one-line messages that say what to do.

use crate::exit::{CliError, Code};
use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;
use std::time::Duration;

/// kubectl's global connection flags, honoured the same way.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Connection options (like kubectl's)")]
pub struct ConnectOpts {
    /// Path to the kubeconfig file (default: $KUBECONFIG, merged like kubectl, else ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig cluster to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// Username to impersonate for the operation.
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Group to impersonate (repeatable).
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,
    /// Don't verify the server's certificate (insecure).
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
    /// Time limit for one API request, e.g. 30s, 1m, 500ms; 0 means none.
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
}

/// Parse kubectl-style durations: `30s`, `1m`, `1m30s`, `500ms`, `2h`, bare seconds `45`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration; use e.g. 30s, 2m, 500ms".into());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("invalid duration '{s}': missing unit (use s, m, h, ms)"))?;
        if digits == 0 {
            return Err(format!("invalid duration '{s}': use e.g. 30s, 2m, 500ms"));
        }
        let value: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration '{s}': use e.g. 30s, 2m, 500ms"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "invalid duration unit '{other}' in '{s}': use ms, s, m or h"
                ))
            }
        };
        total += Duration::from_secs_f64(value * factor);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A connected client plus what the report needs to say about where it points.
#[derive(Clone)]
pub struct Connection {
    pub client: kube::Client,
    /// Human description: `context NAME (server URL)`.
    pub description: String,
    pub default_namespace: String,
    pub request_timeout: Option<Duration>,
}

impl ConnectOpts {
    /// Load the kubeconfig the way kubectl does and build the config, without connecting.
    pub async fn config(&self) -> Result<(kube::Config, String), CliError> {
        let kubeconfig = match &self.kubeconfig {
            Some(path) => Kubeconfig::read_from(path).map_err(|e| {
                CliError::new(
                    Code::Api,
                    format!("cannot read kubeconfig {}: {e}; check --kubeconfig", path.display()),
                )
            })?,
            None => Kubeconfig::read().map_err(|e| {
                CliError::new(
                    Code::Api,
                    format!("cannot load kubeconfig ($KUBECONFIG or ~/.kube/config): {e}; pass --kubeconfig FILE"),
                )
            })?,
        };
        let context_name = self
            .context
            .clone()
            .or_else(|| kubeconfig.current_context.clone())
            .unwrap_or_default();
        let options = KubeConfigOptions {
            context: self.context.clone(),
            cluster: self.cluster.clone(),
            user: self.user.clone(),
        };
        missing_names(&kubeconfig, &options).map_err(CliError::usage)?;
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| {
                CliError::new(
                    Code::Api,
                    format!("cannot use kubeconfig context '{context_name}': {e}; check --context/--cluster/--user"),
                )
            })?;
        if let Some(user) = &self.as_user {
            config.auth_info.impersonate = Some(user.clone());
        }
        if !self.as_group.is_empty() {
            config.auth_info.impersonate_groups = Some(self.as_group.clone());
        }
        if self.insecure_skip_tls_verify {
            config.accept_invalid_certs = true;
        }
        let timeout = self.timeout();
        config.connect_timeout = timeout.or(config.connect_timeout);
        config.read_timeout = timeout;
        config.write_timeout = timeout;
        let description = format!("context {context_name} ({})", config.cluster_url);
        Ok((config, description))
    }

    pub fn timeout(&self) -> Option<Duration> {
        (!self.request_timeout.is_zero()).then_some(self.request_timeout)
    }

    /// Build the client. `default_retry` is left as kube sets it (on) for reads; mutating code
    /// that owns its retry loop (evictions) builds its own with [`ConnectOpts::connect_no_retry`].
    pub async fn connect(&self) -> Result<Connection, CliError> {
        self.connect_with(true).await
    }

    /// A client whose transport does not retry 429/503/504 itself.
    pub async fn connect_no_retry(&self) -> Result<Connection, CliError> {
        self.connect_with(false).await
    }

    async fn connect_with(&self, retry: bool) -> Result<Connection, CliError> {
        let (mut config, description) = self.config().await?;
        config.default_retry = retry;
        let default_namespace = config.default_namespace.clone();
        let client = kube::Client::try_from(config)
            .map_err(|e| CliError::api(format!("cannot build a client for {description}: {e}")))?;
        Ok(Connection {
            client,
            description,
            default_namespace,
            request_timeout: self.timeout(),
        })
    }
}

/// Translate an API error into one line that says what to do, naming the verb and resource
/// (`verb`, `resource` as RBAC spells them, e.g. `list`, `pods` or `create`, `pods/eviction`).
pub fn api_error(
    err: &kube::Error,
    verb: &str,
    resource: &str,
    object: Option<&str>,
    target: &str,
) -> CliError {
    let what = match object {
        Some(name) => format!("{resource} {name}"),
        None => resource.to_string(),
    };
    match err {
        kube::Error::Api(status) => {
            let code = status.code;
            let msg = status.message.clone();
            let text = match code {
                401 => format!("unauthorized at {target}: credentials rejected ({msg}); refresh your login or check --user"),
                403 => format!(
                    "forbidden: cannot {verb} {resource}{}; grant verb \"{verb}\" on resource \"{resource}\" (see deploy/rbac.yaml): {msg}",
                    object.map(|o| format!(" ({o})")).unwrap_or_default()
                ),
                404 => format!("not found: {what}: {msg}"),
                _ => format!("API error {code} on {verb} {what}: {msg}"),
            };
            CliError::api(text)
        }
        other => CliError::api(format!(
            "cannot reach the API server at {target}: {}; check the cluster is up, --context and --request-timeout",
            one_line(&other.to_string())
        )),
    }
}

/// Collapse an error chain onto one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `--context`, `--cluster` and `--user` must name entries of the kubeconfig: a typo is an
/// error (as in kubectl), never a silent fall-back to the context's own cluster or user.
fn missing_names(kubeconfig: &Kubeconfig, options: &KubeConfigOptions) -> Result<(), String> {
    let checks = [
        (
            "context",
            "--context",
            options.context.as_deref(),
            kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
        ),
        (
            "cluster",
            "--cluster",
            options.cluster.as_deref(),
            kubeconfig
                .clusters
                .iter()
                .map(|c| c.name.as_str())
                .collect(),
        ),
        (
            "user (auth info)",
            "--user",
            options.user.as_deref(),
            kubeconfig
                .auth_infos
                .iter()
                .map(|a| a.name.as_str())
                .collect(),
        ),
    ];
    for (what, flag, wanted, have) in checks {
        if let Some(name) = wanted {
            if !have.contains(&name) {
                return Err(format!(
                    "{flag} {name}: the kubeconfig has no {what} named '{name}' (it has: {}); see `kubectl config view`",
                    if have.is_empty() { "none".to_string() } else { have.join(", ") }
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_names_must_exist() {
        let kc = Kubeconfig::from_yaml(
            "apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters:\n- name: c1\n  cluster: {server: 'https://127.0.0.1:6443'}\ncontexts:\n- name: a\n  context: {cluster: c1, user: u1}\nusers:\n- name: u1\n  user: {token: t}\n",
        )
        .unwrap();
        let opts =
            |context: Option<&str>, cluster: Option<&str>, user: Option<&str>| KubeConfigOptions {
                context: context.map(String::from),
                cluster: cluster.map(String::from),
                user: user.map(String::from),
            };
        assert!(missing_names(&kc, &opts(None, None, None)).is_ok());
        assert!(missing_names(&kc, &opts(Some("a"), Some("c1"), Some("u1"))).is_ok());
        let e = missing_names(&kc, &opts(None, None, Some("nope"))).unwrap_err();
        assert!(e.contains("--user nope") && e.contains("u1"), "{e}");
        let e = missing_names(&kc, &opts(Some("b"), None, None)).unwrap_err();
        assert!(e.starts_with("--context b"), "{e}");
        let e = missing_names(&kc, &opts(None, Some("c9"), None)).unwrap_err();
        assert!(e.starts_with("--cluster c9"), "{e}");
    }

    #[test]
    fn durations() {
        let cases = [
            ("30s", Some(30_000)),
            ("1m", Some(60_000)),
            ("1m30s", Some(90_000)),
            ("500ms", Some(500)),
            ("2h", Some(7_200_000)),
            ("45", Some(45_000)),
            ("0", Some(0)),
            ("", None),
            ("5x", None),
            ("s", None),
            ("1.5s", Some(1500)),
        ];
        for (input, want) in cases {
            let got = parse_duration(input).ok().map(|d| d.as_millis() as u64);
            assert_eq!(got, want, "{input}");
        }
    }
}
