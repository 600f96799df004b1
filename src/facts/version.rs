//! Versions as real clusters report them: `v1.29.3`, `v1.29.3-eks-adc7111`,
//! `v1.30.2-gke.1587003`, `v1.28.5+k3s1`, `v1.27.9+rke2r1`, `v1.31.0-rc.1`, image tags
//! (`registry.k8s.io/kube-apiserver:v1.28.7`, digests, private registries with ports),
//! etcd `3.5.10-0`, CoreDNS `v1.10.1`.
//!
//! Distribution suffixes (`-eks-…`, `-gke.…`, `+k3s1`, `-0` image revisions) are not semver
//! pre-releases: they go to [`Version::build`] and set [`Version::distro`]; only `alpha`,
//! `beta` and `rc` suffixes are [`Version::pre`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Which distribution a version string hints at (from its suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distro {
    Upstream,
    Eks,
    Gke,
    Aks,
    K3s,
    Rke2,
    Other,
}

/// A parsed version. `raw` is the input as given (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// A real pre-release (`alpha.1`, `beta.0`, `rc.1`), without the leading `-`.
    pub pre: Option<String>,
    /// Distribution or packaging suffix (`eks-adc7111`, `gke.1587003`, `k3s1`, `0`).
    pub build: Option<String>,
    pub distro: Distro,
    pub raw: String,
}

/// A minor release line, e.g. `1.30`. Serialized as the string `"1.30"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minor {
    pub major: u64,
    pub minor: u64,
}

/// Why a version string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("empty version: expected vMAJOR.MINOR[.PATCH]")]
    Empty,
    #[error("malformed version '{input}': expected vMAJOR.MINOR[.PATCH]")]
    Malformed { input: String },
    #[error("malformed minor '{input}': expected MAJOR.MINOR, e.g. 1.30 or v1.30")]
    MalformedMinor { input: String },
    #[error("image '{image}' has no version tag: expected NAME:vMAJOR.MINOR[.PATCH]")]
    NoTag { image: String },
}

const EXPECTED_PRE: [&str; 3] = ["alpha", "beta", "rc"];

/// Parses a version as clusters report it. Leading `v`/`V` optional; patch defaults to 0.
pub fn parse(s: &str) -> Result<Version, VersionError> {
    let raw = s.trim();
    if raw.is_empty() {
        return Err(VersionError::Empty);
    }
    let malformed = || VersionError::Malformed {
        input: raw.to_string(),
    };
    let body = raw
        .strip_prefix('v')
        .or_else(|| raw.strip_prefix('V'))
        .unwrap_or(raw);
    // Split off `+build` first, then `-suffix`.
    let (body, plus) = match body.split_once('+') {
        Some((b, p)) => (b, Some(p)),
        None => (body, None),
    };
    let (core, dash) = match body.split_once('-') {
        Some((c, d)) => (c, Some(d)),
        None => (body, None),
    };
    let nums: Vec<&str> = core.split('.').collect();
    if nums.len() < 2 || nums.len() > 3 {
        return Err(malformed());
    }
    let num = |t: &str| -> Result<u64, VersionError> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        t.parse::<u64>().map_err(|_| malformed())
    };
    let major = num(nums[0])?;
    let minor = num(nums[1])?;
    let patch = match nums.get(2) {
        Some(t) => num(t)?,
        None => 0,
    };
    let valid_suffix = |t: &str| {
        !t.is_empty()
            && t.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    };
    let mut pre = None;
    let mut build_parts: Vec<&str> = Vec::new();
    if let Some(d) = dash {
        if !valid_suffix(d) {
            return Err(malformed());
        }
        let lower = d.to_ascii_lowercase();
        if EXPECTED_PRE.iter().any(|p| lower.starts_with(p)) {
            pre = Some(d.to_string());
        } else {
            build_parts.push(d);
        }
    }
    if let Some(p) = plus {
        if !valid_suffix(p) {
            return Err(malformed());
        }
        build_parts.push(p);
    }
    let build = if build_parts.is_empty() {
        None
    } else {
        Some(build_parts.join("+"))
    };
    let distro = build.as_deref().map_or(Distro::Upstream, distro_of);
    Ok(Version {
        major,
        minor,
        patch,
        pre,
        build,
        distro,
        raw: raw.to_string(),
    })
}

/// The distribution a suffix hints at. Purely numeric suffixes (etcd `-0`) are upstream.
fn distro_of(suffix: &str) -> Distro {
    let s = suffix.to_ascii_lowercase();
    if s.contains("k3s") {
        Distro::K3s
    } else if s.contains("rke2") {
        Distro::Rke2
    } else if s.contains("eks") {
        Distro::Eks
    } else if s.contains("gke") {
        Distro::Gke
    } else if s.contains("aks") || s.contains("azure") {
        Distro::Aks
    } else if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        Distro::Upstream
    } else {
        Distro::Other
    }
}

/// Reads the version from an image reference's tag:
/// `registry.k8s.io/kube-apiserver:v1.28.7`, `…:v1.28.7@sha256:…`,
/// `host:5000/kube-proxy:v1.30.1`. A digest without a tag is an error.
pub fn from_image(image: &str) -> Result<Version, VersionError> {
    let image = image.trim();
    let no_tag = || VersionError::NoTag {
        image: image.to_string(),
    };
    let without_digest = image.split_once('@').map_or(image, |(name, _)| name);
    // The tag is after the last ':' of the last path component (a registry port is not).
    let last = without_digest
        .rsplit_once('/')
        .map_or(without_digest, |(_, l)| l);
    match last.rsplit_once(':') {
        Some((_, tag)) if !tag.is_empty() => parse(tag),
        _ => Err(no_tag()),
    }
}

impl Version {
    /// The minor release line, e.g. `1.30`.
    pub fn minor(&self) -> Minor {
        Minor {
            major: self.major,
            minor: self.minor,
        }
    }

    /// `MAJOR.MINOR.PATCH` without prefix or suffixes, e.g. `1.30.2`.
    pub fn core(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }

    /// The release it names: the core with its pre-release, if any (`1.34.0-rc.1`), without
    /// distribution suffixes.
    pub fn release(&self) -> String {
        match &self.pre {
            Some(pre) => format!("{}-{pre}", self.core()),
            None => self.core(),
        }
    }

    /// Semver-like precedence on (major, minor, patch, pre): a pre-release sorts before its
    /// release; distribution suffixes are ignored.
    pub fn cmp_precedence(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => cmp_pre(a, b),
            })
    }
}

/// Compares dot-separated pre-release identifiers, numbers numerically (`rc.10` > `rc.2`).
fn cmp_pre(a: &str, b: &str) -> Ordering {
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// A version for tests, parsed or the test fails.
#[cfg(test)]
pub fn v(s: &str) -> Version {
    parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Minor {
    /// A minor line `major.minor`.
    pub const fn new(major: u64, minor: u64) -> Minor {
        Minor { major, minor }
    }

    /// `self - other` in minor releases (`1.30.diff(1.27) == 3`). Across majors, each major
    /// counts as 1000 minors, which is "far" for every rule here.
    pub fn diff(self, other: Minor) -> i64 {
        let a = self.major as i64 * 1000 + self.minor as i64;
        let b = other.major as i64 * 1000 + other.minor as i64;
        a - b
    }

    /// The next minor release line (`1.30` -> `1.31`).
    pub fn next(self) -> Minor {
        Minor {
            major: self.major,
            minor: self.minor + 1,
        }
    }

    /// The previous minor release line, saturating at `X.0`.
    pub fn prev(self) -> Minor {
        Minor {
            major: self.major,
            minor: self.minor.saturating_sub(1),
        }
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for Minor {
    type Err = VersionError;

    /// Accepts `1.30`, `v1.30`, `v1.30.2` (patch and suffixes ignored).
    fn from_str(s: &str) -> Result<Minor, VersionError> {
        match parse(s) {
            Ok(v) => Ok(v.minor()),
            Err(VersionError::Empty) => Err(VersionError::Empty),
            Err(_) => Err(VersionError::MalformedMinor {
                input: s.trim().to_string(),
            }),
        }
    }
}

impl Serialize for Minor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Minor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Minor, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(
        major: u64,
        minor: u64,
        patch: u64,
        pre: Option<&str>,
        build: Option<&str>,
        distro: Distro,
    ) -> (u64, u64, u64, Option<String>, Option<String>, Distro) {
        (
            major,
            minor,
            patch,
            pre.map(String::from),
            build.map(String::from),
            distro,
        )
    }

    #[test]
    fn parses_what_clusters_report() {
        use Distro::*;
        let table = [
            ("v1.29.3", v(1, 29, 3, None, None, Upstream)),
            ("1.29.3", v(1, 29, 3, None, None, Upstream)),
            (" v1.29.3\n", v(1, 29, 3, None, None, Upstream)),
            (
                "v1.29.3-eks-adc7111",
                v(1, 29, 3, None, Some("eks-adc7111"), Eks),
            ),
            (
                "v1.30.2-gke.1587003",
                v(1, 30, 2, None, Some("gke.1587003"), Gke),
            ),
            ("v1.28.5+k3s1", v(1, 28, 5, None, Some("k3s1"), K3s)),
            ("v1.27.9+rke2r1", v(1, 27, 9, None, Some("rke2r1"), Rke2)),
            ("v1.31.0-rc.1", v(1, 31, 0, Some("rc.1"), None, Upstream)),
            (
                "v1.32.0-alpha.3",
                v(1, 32, 0, Some("alpha.3"), None, Upstream),
            ),
            (
                "v1.29.4-aks.20240101",
                v(1, 29, 4, None, Some("aks.20240101"), Aks),
            ),
            (
                "v1.29.0-minimal-eksbuild.1",
                v(1, 29, 0, None, Some("minimal-eksbuild.1"), Eks),
            ),
            ("3.5.10-0", v(3, 5, 10, None, Some("0"), Upstream)),
            ("v1.10.1", v(1, 10, 1, None, None, Upstream)),
            ("1.30", v(1, 30, 0, None, None, Upstream)),
            ("v1.30", v(1, 30, 0, None, None, Upstream)),
            ("v1.27.6+f67aeb3", v(1, 27, 6, None, Some("f67aeb3"), Other)),
            (
                "v1.28.3+vmware.1",
                v(1, 28, 3, None, Some("vmware.1"), Other),
            ),
        ];
        for (input, want) in table {
            let got = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (
                    got.major,
                    got.minor,
                    got.patch,
                    got.pre.clone(),
                    got.build.clone(),
                    got.distro
                ),
                want,
                "{input}"
            );
            assert_eq!(got.raw, input.trim());
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [
            "",
            "   ",
            "v",
            "latest",
            "1",
            "v1",
            "1.",
            "1..2",
            "1.2.3.4",
            "v1.x.3",
            "v-1.2.3",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-rc..1",
            "v1.29.3 extra",
            "99999999999999999999999.1.0",
            "ＶＩ.2",
            "sha256:abcdef",
        ] {
            let err = parse(input).expect_err(input);
            let msg = err.to_string();
            assert!(msg.contains("expected vMAJOR.MINOR[.PATCH]"), "{msg}");
        }
        assert_eq!(
            parse("x").unwrap_err().to_string(),
            "malformed version 'x': expected vMAJOR.MINOR[.PATCH]"
        );
    }

    #[test]
    fn reads_image_tags() {
        let table = [
            ("registry.k8s.io/kube-apiserver:v1.28.7", Ok("1.28.7")),
            (
                "registry.k8s.io/kube-apiserver:v1.28.7@sha256:0123456789abcdef",
                Ok("1.28.7"),
            ),
            ("host:5000/kube-proxy:v1.30.1", Ok("1.30.1")),
            ("host.example:5000/team/kube-proxy:v1.30.1-custom", Ok("1.30.1")),
            ("kube-proxy:v1.30.1", Ok("1.30.1")),
            ("registry.k8s.io/etcd:3.5.10-0", Ok("3.5.10")),
            ("registry.k8s.io/coredns/coredns:v1.10.1", Ok("1.10.1")),
            (
                "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.29.0-minimal-eksbuild.1",
                Ok("1.29.0"),
            ),
            ("registry.k8s.io/kube-apiserver@sha256:0123456789abcdef", Err(())),
            ("host:5000/kube-proxy", Err(())),
            ("kube-proxy", Err(())),
            ("kube-proxy:", Err(())),
            ("", Err(())),
            ("registry.k8s.io/kube-proxy:latest", Err(())),
        ];
        for (image, want) in table {
            let got = from_image(image);
            match want {
                Ok(core) => assert_eq!(got.map(|v| v.core()).as_deref(), Ok(core), "{image}"),
                Err(()) => assert!(got.is_err(), "{image}: {got:?}"),
            }
        }
        assert_eq!(
            from_image("r/kube-apiserver@sha256:00").unwrap_err().to_string(),
            "image 'r/kube-apiserver@sha256:00' has no version tag: expected NAME:vMAJOR.MINOR[.PATCH]"
        );
        let eks = from_image("x/eks/kube-proxy:v1.29.0-eksbuild.1").unwrap();
        assert_eq!(eks.distro, Distro::Eks);
    }

    #[test]
    fn minor_parses_displays_and_serializes() {
        for (input, want) in [("1.30", (1, 30)), ("v1.30", (1, 30)), ("v1.30.2", (1, 30))] {
            let m: Minor = input.parse().unwrap();
            assert_eq!((m.major, m.minor), want, "{input}");
            assert_eq!(m.to_string(), "1.30");
        }
        assert!("1".parse::<Minor>().is_err());
        assert!("one.two".parse::<Minor>().is_err());
        assert!("".parse::<Minor>().is_err());
        assert_eq!(
            "x".parse::<Minor>().unwrap_err().to_string(),
            "malformed minor 'x': expected MAJOR.MINOR, e.g. 1.30 or v1.30"
        );
        let m = Minor::new(1, 30);
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"1.30\"");
        let back: Minor = serde_json::from_str("\"v1.31\"").unwrap();
        assert_eq!(back, Minor::new(1, 31));
        assert!(serde_json::from_str::<Minor>("1.3").is_err());
    }

    #[test]
    fn minor_arithmetic_and_order() {
        let table = [
            ((1, 30), (1, 27), 3),
            ((1, 27), (1, 30), -3),
            ((1, 30), (1, 30), 0),
            ((2, 0), (1, 35), 965),
        ];
        for (a, b, want) in table {
            assert_eq!(Minor::new(a.0, a.1).diff(Minor::new(b.0, b.1)), want);
        }
        assert_eq!(Minor::new(1, 30).next(), Minor::new(1, 31));
        assert_eq!(Minor::new(1, 30).prev(), Minor::new(1, 29));
        assert!(Minor::new(1, 9) < Minor::new(1, 10));
        assert!(Minor::new(1, 99) < Minor::new(2, 0));
    }

    #[test]
    fn version_helpers_and_serialization() {
        let v = parse("v1.30.2-gke.1587003").unwrap();
        assert_eq!(v.minor(), Minor::new(1, 30));
        assert_eq!(v.core(), "1.30.2");
        assert_eq!(v.to_string(), "v1.30.2-gke.1587003");
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["distro"], "gke");
        assert_eq!(json["patch"], 2);
        let order = [
            "v1.30.0-alpha.1",
            "v1.30.0-rc.2",
            "v1.30.0-rc.10",
            "v1.30.0",
            "v1.30.1-eks-1",
            "v1.31.0",
        ];
        for w in order.windows(2) {
            let (a, b) = (parse(w[0]).unwrap(), parse(w[1]).unwrap());
            assert_eq!(a.cmp_precedence(&b), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(b.cmp_precedence(&a), Ordering::Greater);
        }
        let (a, b) = (parse("v1.30.1").unwrap(), parse("v1.30.1+k3s1").unwrap());
        assert_eq!(a.cmp_precedence(&b), Ordering::Equal);
    }
}
