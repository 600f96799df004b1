//! Helm 3 release Secrets (`type: helm.sh/release.v1`, name `sh.helm.release.v1.NAME.vREV`,
//! labels `owner=helm`, `name`, `status`, `version`): which revision counts, and the API
//! usages of its manifest. `data.release` is base64 (a second time, under the Secret's own
//! base64) of gzip of the release JSON; very old releases are not gzipped. Pure.

use crate::facts::apiusage::{from_manifest, Usage, UsageSource};
use base64::Engine;
use serde_json::Value;
use std::io::Read;

/// One release Secret's labels, enough to pick the revision that counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRef {
    pub namespace: String,
    pub release: String,
    pub revision: u64,
    pub status: String,
}

impl ReleaseRef {
    /// From a Secret's namespace and labels; `None` when it is not a Helm release Secret.
    pub fn of(
        namespace: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Option<ReleaseRef> {
        if labels.get("owner").map(String::as_str) != Some("helm") {
            return None;
        }
        Some(ReleaseRef {
            namespace: namespace.to_string(),
            release: labels.get("name")?.clone(),
            revision: labels.get("version")?.parse().ok()?,
            status: labels.get("status").cloned().unwrap_or_default(),
        })
    }
}

/// The revision of each release that is what the cluster runs: the newest `deployed` one;
/// a release with none deployed (failed install, pending upgrade) counts its newest revision.
pub fn current(refs: &[ReleaseRef]) -> Vec<&ReleaseRef> {
    let mut best: std::collections::BTreeMap<(&str, &str), &ReleaseRef> = Default::default();
    for r in refs {
        let key = (r.namespace.as_str(), r.release.as_str());
        let better = match best.get(&key) {
            None => true,
            Some(b) => {
                let rank = |x: &ReleaseRef| (x.status == "deployed", x.revision);
                rank(r) > rank(b)
            }
        };
        if better {
            best.insert(key, r);
        }
    }
    best.into_values().collect()
}

/// The release JSON from `data.release` (as the Secret holds it after its own base64).
pub fn decode_release(data: &[u8]) -> Result<Value, String> {
    let text: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|e| format!("release data is not base64: {e}"))?;
    let json = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format!("release data is not gzip: {e}"))?;
        out
    } else {
        raw
    };
    serde_json::from_slice(&json).map_err(|e| format!("release data is not JSON: {e}"))
}

/// A deployed release's chart: its name and version and its `kubeVersion` constraint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartFacts {
    /// `NAMESPACE/RELEASE`.
    pub release: String,
    /// `name-version`.
    pub chart: String,
    /// `Chart.yaml` `kubeVersion` ("" when the chart sets none).
    pub kube_version: String,
}

/// The chart of a decoded release.
pub fn chart_of(release: &Value, namespace: &str, name: &str) -> ChartFacts {
    let meta = release.pointer("/chart/metadata");
    let field = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    ChartFacts {
        release: format!("{namespace}/{name}"),
        chart: format!("{}-{}", field("name"), field("version")),
        kube_version: field("kubeVersion"),
    }
}

/// The usages of a release's manifest (multi-document YAML), each naming the release.
/// A document that does not parse is counted, not fatal (a chart may render odd YAML);
/// the documents after it are not read.
pub fn manifest_usages(release: &Value, namespace: &str, name: &str) -> (Vec<Usage>, usize) {
    let manifest = release
        .get("manifest")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut bad = 0;
    for doc in serde_yaml::Deserializer::from_str(manifest) {
        match <Value as serde::Deserialize>::deserialize(doc) {
            Ok(Value::Null) => {}
            Ok(v) => {
                let source = UsageSource::Helm(format!("{namespace}/{name}"));
                if let Some(mut u) = from_manifest(&v, source) {
                    // Namespaced objects without one land in the release's namespace.
                    if u.namespace.is_none() {
                        u.namespace = Some(namespace.to_string());
                    }
                    out.push(u);
                }
            }
            // A syntax error ends the stream (the parser cannot resync; iterating on loops).
            Err(_) => {
                bad += 1;
                break;
            }
        }
    }
    (out, bad)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A release payload built the way Helm 3 builds it: JSON, gzip, base64.
    pub(crate) fn helm_payload(release: &Value) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(release.to_string().as_bytes()).unwrap();
        let zipped = gz.finish().unwrap();
        base64::engine::general_purpose::STANDARD
            .encode(zipped)
            .into_bytes()
    }

    #[test]
    fn release_round_trip_and_usages() {
        let release = serde_json::json!({
            "name": "web", "namespace": "shop", "version": 3,
            "info": {"status": "deployed"},
            "manifest": "---\n# Source: web/templates/ingress.yaml\napiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: web\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: other\n---\n: bad: [\n"
        });
        let decoded = decode_release(&helm_payload(&release)).unwrap();
        assert_eq!(decoded["name"], "web");
        let (u, bad) = manifest_usages(&decoded, "shop", "web");
        assert_eq!(bad, 1);
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].api_version, "extensions/v1beta1");
        assert_eq!(u[0].namespace.as_deref(), Some("shop"));
        assert_eq!(u[1].namespace.as_deref(), Some("other"));
        assert_eq!(u[0].source.label(), "helm:shop/web");
        // Not gzipped (very old Helm 3): plain base64 of JSON.
        let plain = base64::engine::general_purpose::STANDARD.encode(release.to_string());
        assert_eq!(decode_release(plain.as_bytes()).unwrap()["version"], 3);
        assert!(decode_release(b"%%%").is_err());
    }

    #[test]
    fn the_deployed_revision_counts() {
        let r = |rel: &str, rev: u64, status: &str| ReleaseRef {
            namespace: "ns".into(),
            release: rel.into(),
            revision: rev,
            status: status.into(),
        };
        let refs = vec![
            r("a", 1, "superseded"),
            r("a", 2, "deployed"),
            r("a", 3, "failed"),
            r("b", 1, "failed"),
            r("b", 2, "pending-upgrade"),
        ];
        let cur = current(&refs);
        assert_eq!(cur.len(), 2);
        assert_eq!((cur[0].release.as_str(), cur[0].revision), ("a", 2));
        assert_eq!((cur[1].release.as_str(), cur[1].revision), ("b", 2));
        let labels: std::collections::BTreeMap<String, String> = [
            ("owner", "helm"),
            ("name", "web"),
            ("version", "7"),
            ("status", "deployed"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(ReleaseRef::of("shop", &labels).unwrap().revision, 7);
        let mut not = labels.clone();
        not.insert("owner".into(), "someone".into());
        assert!(ReleaseRef::of("shop", &not).is_none());
    }
}
