//! Connection flags (parsed by the plugin itself: kubectl refuses flags placed before the
//! plugin name) and the one `kube::Client` built from them. Also the translation of API
//! errors into one-line messages that say what to do.

use crate::client::error::{ApiCallError, ClientError};
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
    /// The kubeconfig context to use (`check` takes it several times: one fleet report).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Vec<String>,
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
    /// The same connection for watch streams: no read timeout, since a quiet watch (a real
    /// API server sends a bookmark about once a minute) is not a stalled request;
    /// `--request-timeout` bounds requests, not streams.
    pub watch_client: kube::Client,
    /// Human description: `context NAME (server URL)`.
    pub description: String,
    pub request_timeout: Option<Duration>,
    /// Who and where, for errors that must name them.
    pub identity: Identity,
    /// `/version` gitVersion, read at first contact.
    pub server_version: String,
    /// The configuration the clients were built from (its server URL, TLS names, user).
    pub config: kube::Config,
}

/// What the kubeconfig says about the connection, for errors that must name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub context: String,
    pub user: String,
    pub server: String,
    /// What the cluster entry trusts: `certificate-authority FILE`, `certificate-authority-data`,
    /// `insecure-skip-tls-verify` or the system roots.
    pub trust: String,
    pub credential: CredentialKind,
}

/// How the kubeconfig user authenticates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CredentialKind {
    ClientCert,
    Token,
    Exec(String),
    AuthProvider(String),
    Basic,
    #[default]
    None,
}

impl Identity {
    /// Read from the kubeconfig entries the options select (before kube consumes it).
    fn of(kubeconfig: &Kubeconfig, options: &KubeConfigOptions, insecure_flag: bool) -> Identity {
        let context_name = options
            .context
            .clone()
            .or_else(|| kubeconfig.current_context.clone())
            .unwrap_or_default();
        let ctx = kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.clone());
        let cluster_name = options
            .cluster
            .clone()
            .or_else(|| ctx.as_ref().map(|c| c.cluster.clone()))
            .unwrap_or_default();
        let user = options
            .user
            .clone()
            .or_else(|| ctx.as_ref().and_then(|c| c.user.clone()))
            .unwrap_or_default();
        let cluster = kubeconfig
            .clusters
            .iter()
            .find(|c| c.name == cluster_name)
            .and_then(|c| c.cluster.clone())
            .unwrap_or_default();
        let auth = kubeconfig
            .auth_infos
            .iter()
            .find(|a| a.name == user)
            .and_then(|a| a.auth_info.clone())
            .unwrap_or_default();
        let trust = if insecure_flag || cluster.insecure_skip_tls_verify == Some(true) {
            "insecure-skip-tls-verify".to_string()
        } else if let Some(f) = &cluster.certificate_authority {
            format!("certificate-authority {f}")
        } else if cluster.certificate_authority_data.is_some() {
            format!("the certificate-authority-data of cluster '{cluster_name}'")
        } else {
            "the system's root CAs (the kubeconfig names no certificate-authority)".to_string()
        };
        let credential = if let Some(exec) = &auth.exec {
            CredentialKind::Exec(exec.command.clone().unwrap_or_default())
        } else if let Some(p) = &auth.auth_provider {
            CredentialKind::AuthProvider(p.name.clone())
        } else if auth.client_certificate.is_some() || auth.client_certificate_data.is_some() {
            CredentialKind::ClientCert
        } else if auth.token.is_some() || auth.token_file.is_some() {
            CredentialKind::Token
        } else if auth.username.is_some() {
            CredentialKind::Basic
        } else {
            CredentialKind::None
        };
        Identity {
            context: context_name,
            user,
            server: cluster.server.unwrap_or_default(),
            trust,
            credential,
        }
    }
}

impl ConnectOpts {
    /// The kubeconfig as kubectl loads it: `--kubeconfig`, else `$KUBECONFIG` merged, else
    /// `~/.kube/config`.
    pub fn kubeconfig_file(&self) -> Result<Kubeconfig, ClientError> {
        match &self.kubeconfig {
            Some(path) => Kubeconfig::read_from(path).map_err(|e| ClientError::Kubeconfig {
                message: format!("cannot read kubeconfig {}: {e}; check --kubeconfig", path.display()),
                source: Some(Box::new(e)),
            }),
            None => Kubeconfig::read().map_err(|e| ClientError::Kubeconfig {
                message: format!("cannot load kubeconfig ($KUBECONFIG or ~/.kube/config): {e}; pass --kubeconfig FILE"),
                source: Some(Box::new(e)),
            }),
        }
    }

    /// Load the kubeconfig the way kubectl does and build the config, without connecting.
    pub async fn config(&self) -> Result<(kube::Config, String, Identity), ClientError> {
        let kubeconfig = self.kubeconfig_file()?;
        let context =
            match self.context.as_slice() {
                [] => None,
                [one] => Some(one.clone()),
                _ => return Err(ClientError::Flags(
                    "--context given several times: only `check` reads several clusters at once"
                        .into(),
                )),
            };
        let context_name = context
            .clone()
            .or_else(|| kubeconfig.current_context.clone())
            .unwrap_or_default();
        let options = KubeConfigOptions {
            context,
            cluster: self.cluster.clone(),
            user: self.user.clone(),
        };
        missing_names(&kubeconfig, &options).map_err(ClientError::Flags)?;

        let identity = Identity::of(&kubeconfig, &options, self.insecure_skip_tls_verify);
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| ClientError::Kubeconfig {
                message: format!("cannot use kubeconfig context '{context_name}': {e}; check --context/--cluster/--user"),
                source: Some(Box::new(e)),
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
        Ok((config, description, identity))
    }

    pub fn timeout(&self) -> Option<Duration> {
        (!self.request_timeout.is_zero()).then_some(self.request_timeout)
    }

    /// Build the client. `default_retry` is left as kube sets it (on) for reads; mutating code
    /// that owns its retry loop (evictions) builds its own with [`ConnectOpts::connect_no_retry`].
    pub async fn connect(&self) -> Result<Connection, ClientError> {
        self.connect_with(true).await
    }

    /// A client whose transport does not retry 429/503/504 itself.
    pub async fn connect_no_retry(&self) -> Result<Connection, ClientError> {
        self.connect_with(false).await
    }

    async fn connect_with(&self, retry: bool) -> Result<Connection, ClientError> {
        let (mut config, description, identity) = self.config().await?;
        config.default_retry = retry;
        let mut streams = config.clone();
        streams.read_timeout = None;
        let kept = config.clone();
        // Building the client already runs an exec credential plugin.
        let client = kube::Client::try_from(config)
            .map_err(|e| first_contact_error(e, &identity, &description))?;
        let watch_client = kube::Client::try_from(streams)
            .map_err(|e| first_contact_error(e, &identity, &description))?;
        // First contact: /version is open to every user, so its failure is about the
        // connection itself (TLS, credentials, reachability), said with the kubeconfig's names.
        let version = client.apiserver_version();
        let version = match self.timeout() {
            None => version.await,
            Some(limit) => tokio::time::timeout(limit, version).await.map_err(|_| {
                ClientError::Connect {
                    message: format!(
                        "GET /version on {description} timed out after {}; raise --request-timeout or check the API server",
                        crate::findings::duration_text(limit)
                    ),
                    source: None,
                }
            })?,
        }
        .map_err(|e| first_contact_error(e, &identity, &description))?;
        Ok(Connection {
            client,
            watch_client,
            description,
            request_timeout: self.timeout(),
            identity,
            server_version: version.git_version,
            config: kept,
        })
    }
}

/// The first request failed: say why in the kubeconfig's terms (which CA, which user of
/// which context, which exec plugin) and what to do. Exit 3.
pub fn first_contact_error(err: kube::Error, id: &Identity, description: &str) -> ClientError {
    ClientError::Connect {
        message: first_contact_message(&err, id, description),
        source: Some(Box::new(err)),
    }
}

fn first_contact_message(err: &kube::Error, id: &Identity, description: &str) -> String {
    let server = if id.server.is_empty() {
        description.to_string()
    } else {
        id.server.clone()
    };
    let who = format!("user '{}' of context '{}'", id.user, id.context);
    if let kube::Error::Api(status) = err {
        if status.code == 401 {
            let advice = match &id.credential {
                CredentialKind::ClientCert => "its client certificate is expired, not yet valid or from another cluster's CA: renew it (kubeadm: `kubeadm certs renew admin.conf`, then copy admin.conf) or fetch a fresh kubeconfig".to_string(),
                CredentialKind::Token => "its token is invalid or expired: get a new token or kubeconfig".to_string(),
                CredentialKind::Exec(cmd) => format!("the token from exec plugin '{cmd}' was refused: log in again with that tool and check it targets this cluster"),
                CredentialKind::AuthProvider(p) => format!("the '{p}' auth-provider token was refused: log in again"),
                CredentialKind::Basic => "basic authentication is refused (kube-apiserver dropped it in 1.19): use a token or certificate".to_string(),
                CredentialKind::None => "it has no credentials: add a token, client certificate or exec plugin to the kubeconfig".to_string(),
            };
            return format!(
                "unauthorized: {server} rejected the credentials of {who} (401); {advice}"
            );
        }
        if status.message.contains("HTTP request to an HTTPS server") {
            return format!(
                "{server} speaks HTTPS, not plain HTTP: use https:// in the kubeconfig's server"
            );
        }
        return api_error_message(err, "get", "/version", None, description);
    }
    if let Some(auth) = find_source::<kube::client::AuthError>(err) {
        use kube::client::AuthError as A;
        let cmd = match &id.credential {
            CredentialKind::Exec(c) => c.clone(),
            _ => String::new(),
        };
        let text = match auth {
            A::AuthExecStart(io) if io.kind() == std::io::ErrorKind::NotFound => format!(
                "exec credential plugin '{cmd}' of {who} not found: install it or put it on PATH (or fix users[].user.exec.command in the kubeconfig)"
            ),
            A::AuthExecStart(io) => format!(
                "exec credential plugin '{cmd}' of {who} could not start: {}; check it is executable",
                one_line(&io.to_string())
            ),
            A::AuthExecRun { status, out, .. } => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let first = stderr.lines().map(str::trim).find(|l| !l.is_empty());
                let exit = status.code().map(|c| format!("exit {c}")).unwrap_or_else(|| status.to_string());
                format!(
                    "exec credential plugin '{cmd}' of {who} failed ({exit}): {}; run it by hand to see why (often: log in again)",
                    first.unwrap_or("(no stderr; with interactiveMode other than Never it goes to the terminal)")
                )
            }
            other => format!(
                "cannot get credentials for {who}: {}; check the user entry of the kubeconfig",
                one_line(&other.to_string())
            ),
        };
        return text;
    }
    if let Some(tls) = find_source::<rustls::Error>(err) {
        use rustls::{CertificateError as C, Error as E};
        let text = match tls {
            E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
                "the certificate of {server} is not signed by the CA the kubeconfig trusts ({}): put the cluster's CA there (kubeadm: /etc/kubernetes/pki/ca.crt) or fetch a fresh kubeconfig; only for a throwaway cluster, --insecure-skip-tls-verify",
                id.trust
            ),
            E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => format!(
                "the certificate of {server} has expired: renew the API server's certificate (kubeadm: `kubeadm certs renew apiserver`) or check this machine's clock"
            ),
            E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => format!(
                "the certificate of {server} is not valid yet: check this machine's clock (and the control plane's)"
            ),
            E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => format!(
                "the certificate of {server} is not valid for that address: use the name or IP the certificate was issued for (or set tls-server-name in the kubeconfig)"
            ),
            E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => format!(
                "{server} does not speak TLS (plain HTTP?): check the port, or use http:// in the kubeconfig's server if it really is plain"
            ),
            other => format!(
                "TLS with {server} failed: {}; check the kubeconfig's CA ({}) and client certificate",
                one_line(&other.to_string()),
                id.trust
            ),
        };
        return text;
    }
    let chain = error_chain(err);
    if server.starts_with("http://") && chain.contains("connection closed before message completed")
    {
        return format!(
            "{server} closed the connection on a plain HTTP request: it probably speaks HTTPS; use https:// in the kubeconfig's server"
        );
    }
    format!(
        "cannot reach the API server at {description}: {}; check the cluster is up, --context and --request-timeout",
        one_line(&chain)
    )
}

/// The first error of type `T` in `err`'s source chain.
fn find_source<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        // io::Error's source() skips the error it wraps (rustls errors arrive that way).
        cur = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// `err` and its sources, joined with ": " (kube's Display often hides the cause).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.last().is_some_and(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// 403: the user may not (RBAC).
pub fn is_forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}

/// 404: the cluster does not serve the group/version (405 from servers that route it but do
/// not list it).
pub fn is_not_served(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || s.code == 405)
}

/// Translate an API error into one line that says what to do, naming the verb and resource
/// (`verb`, `resource` as RBAC spells them, e.g. `list`, `pods` or `create`, `pods/eviction`).
pub fn api_error(
    err: kube::Error,
    verb: &str,
    resource: &str,
    object: Option<&str>,
    cluster: &str,
) -> ApiCallError {
    ApiCallError {
        verb: verb.to_string(),
        resource: resource.to_string(),
        object: object.map(str::to_string),
        cluster: cluster.to_string(),
        status: match &err {
            kube::Error::Api(s) => Some(s.code),
            _ => None,
        },
        message: api_error_message(&err, verb, resource, object, cluster),
        source: Box::new(err),
    }
}

/// The one line for a failed API call: what to grant on 403, what to check when unreachable.
fn api_error_message(
    err: &kube::Error,
    verb: &str,
    resource: &str,
    object: Option<&str>,
    cluster: &str,
) -> String {
    let what = match object {
        Some(name) => format!("{resource} {name}"),
        None => resource.to_string(),
    };
    match err {
        kube::Error::Api(status) => {
            let code = status.code;
            let msg = status.message.clone();
            let text = match code {
                401 => format!("unauthorized at {cluster}: credentials rejected ({msg}); refresh your login or check --user"),
                403 => format!(
                    "forbidden: cannot {verb} {resource}{}; grant verb \"{verb}\" on resource \"{resource}\" (see deploy/rbac.yaml): {msg}",
                    object.map(|o| format!(" ({o})")).unwrap_or_default()
                ),
                404 => format!("not found: {what}: {msg}"),
                _ => format!("API error {code} on {verb} {what}: {msg}"),
            };
            text
        }
        other => format!(
            "cannot reach the API server at {cluster}: {}; check the cluster is up, --context and --request-timeout",
            one_line(&other.to_string())
        ),
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
