//! Reading `eksscale.yaml`: syntax (serde), then rules (validate), with every
//! problem reported as `file:line:column: message`. Nothing in here talks to
//! AWS; a config that fails here exits with code 2 before any call is made.

pub mod schema;
pub mod spans;
pub mod starter;
pub mod validate;

use std::fmt;
use std::path::Path;

use crate::spec::Spec;
use spans::SpanIndex;

/// One located message, printed as `path:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Why a config could not be used. Always a usage error (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("{}", render_all(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render_all(d: &[Diagnostic]) -> String {
    let mut out = d
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    if d.len() > 1 {
        out.push_str(&format!(
            "\n{} problems found; nothing was created",
            d.len()
        ));
    }
    out
}

/// A usable config: the resolved spec plus warnings worth printing.
#[derive(Debug)]
pub struct Loaded {
    pub spec: Spec,
    pub warnings: Vec<Diagnostic>,
}

/// Reads, parses and validates the file at `path`.
pub fn load(path: &Path, region_fallback: Option<String>) -> Result<Loaded, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        file: file.clone(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            "no such file; run `eksscale init` to write a starter config, or pass -f PATH"
                .to_string()
        } else {
            e.to_string()
        },
    })?;
    parse(&file, &text, region_fallback)
}

/// Parses and validates config text; `file` is only used in messages.
pub fn parse(
    file: &str,
    text: &str,
    region_fallback: Option<String>,
) -> Result<Loaded, ConfigError> {
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(ConfigError::Invalid(vec![Diagnostic {
            file: file.to_string(),
            line: None,
            column: None,
            message: "the file is empty; run `eksscale init` to write a starter config".to_string(),
        }]));
    }
    let index = SpanIndex::build(text);
    let parsed: schema::ConfigFile = serde_saphyr::from_str(text).map_err(|e| {
        let loc = e.location();
        let path = loc.and_then(|l| index.path_at(l.into()));
        ConfigError::Invalid(vec![Diagnostic {
            file: file.to_string(),
            line: loc.map(|l| l.line()),
            column: loc.map(|l| l.column()),
            // Name the field, like every validation error does (not for a
            // top-level field that is missing: the location is then
            // wherever the file ended, not where the field belongs).
            message: match path {
                Some(p) if !missing_top_level(&e) => format!("{p}: {}", syntax_message(&e)),
                _ => syntax_message(&e),
            },
        }])
    })?;
    let at = |path: &str, message: String| {
        let pos = index.locate(path);
        Diagnostic {
            file: file.to_string(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            message,
        }
    };
    match validate::validate(&parsed, region_fallback) {
        Ok((spec, warnings)) => Ok(Loaded {
            spec,
            warnings: warnings
                .into_iter()
                .map(|w| at(&w.path, w.message))
                .collect(),
        }),
        Err((problems, _)) => Err(ConfigError::Invalid(
            problems
                .into_iter()
                .map(|p| at(&p.path, p.message))
                .collect(),
        )),
    }
}

/// Whether the file sets `metadata.region` (so the SDK chain, which may ask
/// instance metadata, need not be consulted). Unreadable files say no.
pub fn declares_region(path: &Path) -> bool {
    #[derive(serde::Deserialize)]
    struct Head {
        metadata: HeadMeta,
    }
    #[derive(serde::Deserialize)]
    struct HeadMeta {
        region: Option<String>,
    }
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_saphyr::from_str::<Head>(&t).ok())
        .is_some_and(|h| h.metadata.region.is_some())
}

/// Just enough of the file to name the cluster: `metadata.name` and
/// `metadata.region`. `status` and `down` use this so they still work when
/// the rest of the file no longer validates.
pub fn identity(
    path: &Path,
    region_fallback: Option<String>,
) -> Result<(String, String), ConfigError> {
    #[derive(serde::Deserialize)]
    struct Head {
        metadata: HeadMeta,
    }
    #[derive(serde::Deserialize)]
    struct HeadMeta {
        name: String,
        region: Option<String>,
    }
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        file: file.clone(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            "no such file; pass --name and --region, or -f PATH".to_string()
        } else {
            e.to_string()
        },
    })?;
    let head: Head = serde_saphyr::from_str(&text).map_err(|e| {
        let loc = e.location();
        ConfigError::Invalid(vec![Diagnostic {
            file: file.clone(),
            line: loc.map(|l| l.line()),
            column: loc.map(|l| l.column()),
            message: syntax_message(&e),
        }])
    })?;
    let index = SpanIndex::build(&text);
    let bad = |path: &str, message: String| {
        let pos = index.locate(path);
        ConfigError::Invalid(vec![Diagnostic {
            file: file.clone(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            message,
        }])
    };
    let name = head.metadata.name;
    if !validate::is_eks_name(&name) || name.len() > validate::CLUSTER_NAME_MAX {
        return Err(bad(
            "metadata.name",
            format!("metadata.name {name:?} is not a valid EKS cluster name"),
        ));
    }
    let region = head.metadata.region.or(region_fallback).ok_or_else(|| {
        bad(
            "metadata",
            "metadata.region is not set and AWS_REGION is empty; pass --region or set metadata.region".to_string(),
        )
    })?;
    if !validate::is_region(&region) {
        return Err(bad(
            "metadata.region",
            format!("{region:?} is not an AWS region name such as us-west-2"),
        ));
    }
    Ok((name, region))
}

/// serde-saphyr's message without its own location suffix or snippet (we
/// print the location in our `file:line:col:` prefix).
fn syntax_message(e: &serde_saphyr::Error) -> String {
    let raw = e.without_snippet().to_string();
    let msg = raw.lines().next().unwrap_or_default().trim();
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    let msg = msg.trim_end_matches(':').trim();
    if msg.contains("missing field") {
        let top = if missing_top_level(e) {
            " at the top level of the file"
        } else {
            ""
        };
        format!("{msg}{top} (see `eksscale init` for a complete example)")
    } else if msg.strip_prefix("invalid ").is_some_and(is_int_type) {
        "must be a whole number, without quotes".to_string()
    } else if msg.contains("tabs disallowed") {
        format!("{msg}: YAML indents with spaces, not tabs")
    } else {
        msg.to_string()
    }
}

/// `i64`, `u16`, ...: serde-saphyr's "invalid i64" for a string where a
/// number belongs.
fn is_int_type(k: &str) -> bool {
    k.len() > 1
        && (k.starts_with('i') || k.starts_with('u'))
        && k[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A missing `apiVersion`, `kind` or `metadata` (the file's own fields).
fn missing_top_level(e: &serde_saphyr::Error) -> bool {
    let raw = e.without_snippet().to_string();
    ["apiVersion", "kind", "metadata"]
        .iter()
        .any(|f| raw.contains(&format!("missing field `{f}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "apiVersion: eksscale.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: demo\n  region: us-west-2\n";

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let l = parse("eksscale.yaml", MINIMAL, None).unwrap();
        let s = l.spec;
        assert_eq!(s.kubernetes_version, "1.35");
        assert_eq!(s.vpc.cidr.to_string(), "10.0.0.0/16");
        assert_eq!(s.vpc.zones.count(), 3);
        assert_eq!(s.node_groups.len(), 1);
        assert_eq!(
            (
                s.node_groups[0].min,
                s.node_groups[0].desired,
                s.node_groups[0].max
            ),
            (2, 3, 6)
        );
        assert_eq!(s.addons.len(), 5);
        assert!(s.keda.enabled);
        assert_eq!(s.keda.operator_replicas, 2);
    }

    #[test]
    fn zones_error_points_at_the_value() {
        let text = format!("{MINIMAL}spec:\n  vpc:\n    cidr: 10.0.0.0/16\n    zones: 1\n");
        let err = parse("eksscale.yaml", &text, None).unwrap_err().to_string();
        assert_eq!(
            err,
            "eksscale.yaml:9:12: spec.vpc.zones must be at least 2 (EKS needs subnets in two zones), got 1"
        );
    }

    #[test]
    fn unknown_field_is_an_error_with_location() {
        let text = format!("{MINIMAL}spec:\n  vpc:\n    zone: 3\n");
        let err = parse("eksscale.yaml", &text, None).unwrap_err().to_string();
        assert!(err.starts_with("eksscale.yaml:8:"), "{err}");
        assert!(err.contains("unknown field `zone`"), "{err}");
    }

    #[test]
    fn unknown_enum_values_name_the_field() {
        let text = format!(
            "{MINIMAL}spec:\n  nodeGroups:\n    - name: general\n      capacityType: CHEAP\n"
        );
        let err = parse("eksscale.yaml", &text, None).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "eksscale.yaml:9:21: spec.nodeGroups[0].capacityType: unknown variant `CHEAP`"
            ),
            "{err}"
        );
        let text = format!("{MINIMAL}spec:\n  vpc:\n    natGateway: sometimes\n");
        let err = parse("eksscale.yaml", &text, None).unwrap_err().to_string();
        assert!(
            err.contains("spec.vpc.natGateway: unknown variant `sometimes`"),
            "{err}"
        );
    }

    #[test]
    fn region_falls_back_to_sdk_chain() {
        let text = "apiVersion: eksscale.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: demo\n";
        assert_eq!(
            parse("f", text, Some("eu-west-1".into()))
                .unwrap()
                .spec
                .region,
            "eu-west-1"
        );
        let err = parse("f", text, None).unwrap_err().to_string();
        assert!(err.contains("metadata.region is not set"), "{err}");
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let text = format!("{MINIMAL}spec:\n  kubernetesVersion: \"1.20\"\n  vpc:\n    zones: 1\n");
        let err = parse("f", &text, None).unwrap_err().to_string();
        assert!(err.contains("kubernetesVersion"), "{err}");
        assert!(err.contains("zones"), "{err}");
        assert!(err.contains("2 problems found"), "{err}");
    }
}
