//! Sample workloads that scale on events: templates in `templates/samples/`
//! (embedded in the binary) and, with `spec.templatesDir`, the user's own,
//! rendered with minijinja into Kubernetes objects in namespace
//! `eksscale-samples`; a sample whose `sample.yaml` says `queue: true` also
//! gets an SQS queue with a dead-letter queue and a consumer role (AWS nodes
//! in `plan::graph`). docs/samples.md documents the layout and the template
//! inputs.
//!
//! Everything here is checked before the first AWS call: unknown names, a
//! missing directory, a template that does not render (file:line), a
//! rendered object that is not YAML or has no name are usage errors.

pub mod load;
mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use render::{Inputs, default_spread_added, objects};

use crate::spec::{Spec, partition};

pub const NAMESPACE: &str = "eksscale-samples";
/// Label on every sample object: which sample it belongs to.
pub const LABEL_SAMPLE: &str = "eksscale.io/sample";

static BUILT_IN: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/templates/samples");

/// A sample problem found before anything changed (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// `sample.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    description: String,
    #[serde(default)]
    queue: bool,
}

/// Where a sample's templates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    /// The user's `templatesDir/<name>`; `overrides` when a built-in has that name.
    Dir {
        path: PathBuf,
        overrides: bool,
    },
}

/// One sample: its metadata and template files (name, text), in order.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub description: String,
    /// eksscale creates a queue, a dead-letter queue and a consumer role.
    pub queue: bool,
    pub origin: Origin,
    pub files: Vec<(String, String)>,
}

fn meta(name: &str, where_: &str, text: &str) -> Result<Meta, Invalid> {
    serde_saphyr::from_str(text)
        .map_err(|e| Invalid(format!("{where_}/sample.yaml of sample {name:?}: {e}")))
}

fn built_ins() -> Result<BTreeMap<String, Sample>, Invalid> {
    let mut out = BTreeMap::new();
    for dir in BUILT_IN.dirs() {
        let name = dir.path().to_string_lossy().to_string();
        let meta_text = dir
            .get_file(dir.path().join("sample.yaml"))
            .and_then(|f| f.contents_utf8())
            .ok_or_else(|| Invalid(format!("built-in sample {name} has no sample.yaml")))?;
        let m = meta(&name, "templates/samples", meta_text)?;
        let mut files: Vec<(String, String)> = dir
            .files()
            .filter(|f| f.path().to_string_lossy().ends_with(".yaml.j2"))
            .map(|f| {
                (
                    format!("templates/samples/{}", f.path().display()),
                    f.contents_utf8().unwrap_or_default().to_string(),
                )
            })
            .collect();
        files.sort();
        out.insert(
            name.clone(),
            Sample {
                name,
                description: m.description,
                queue: m.queue,
                origin: Origin::BuiltIn,
                files,
            },
        );
    }
    Ok(out)
}

/// Every sample available: the built-in ones, then those in `dir` (which
/// override built-ins of the same name).
pub fn available(dir: Option<&Path>) -> Result<BTreeMap<String, Sample>, Invalid> {
    let mut out = built_ins()?;
    let Some(dir) = dir else {
        return Ok(out);
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Invalid(format!(
            "spec.templatesDir {}: {e}; it must be a directory with one sub-directory per sample (see docs/samples.md)",
            dir.display()
        ))
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for path in dirs {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let meta_path = path.join("sample.yaml");
        let Ok(meta_text) = std::fs::read_to_string(&meta_path) else {
            continue; // not a sample directory
        };
        if !is_dns_label(&name) {
            return Err(Invalid(format!(
                "{}: a sample's directory name becomes Kubernetes names and labels; use lowercase letters, digits and '-'",
                path.display()
            )));
        }
        let m = meta(&name, &path.display().to_string(), &meta_text)?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&path)
            .map_err(|e| Invalid(format!("{}: {e}", path.display())))?
            .filter_map(Result::ok)
        {
            let p = entry.path();
            if p.to_string_lossy().ends_with(".yaml.j2") {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| Invalid(format!("{}: {e}", p.display())))?;
                files.push((p.display().to_string(), text));
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(Invalid(format!(
                "{}: sample {name:?} has no *.yaml.j2 template",
                path.display()
            )));
        }
        let overrides = out.contains_key(&name);
        out.insert(
            name.clone(),
            Sample {
                name,
                description: m.description,
                queue: m.queue,
                origin: Origin::Dir { path, overrides },
                files,
            },
        );
    }
    Ok(out)
}

/// A DNS-1123 label of at most 40 characters (it names Deployments, service
/// accounts and, in the consumer role's name, IAM roles).
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `spec.templatesDir` resolved against the config file's directory.
pub fn templates_dir(spec: &Spec, config_dir: &Path) -> Option<PathBuf> {
    spec.templates_dir.as_ref().map(|d| config_dir.join(d))
}

/// The samples the config selects, in its order; an unknown name is an
/// error that lists what exists.
pub fn selected(spec: &Spec, config_dir: &Path) -> Result<Vec<Sample>, Invalid> {
    if spec.samples.is_empty() {
        return Ok(Vec::new());
    }
    let all = available(templates_dir(spec, config_dir).as_deref())?;
    spec.samples
        .iter()
        .map(|name| {
            all.get(name).cloned().ok_or_else(|| {
                let names: Vec<&str> = all.keys().map(String::as_str).collect();
                let hint = crate::catalog::suggest(name, names.iter().copied())
                    .map(|s| format!(" (did you mean {s:?}?)"))
                    .unwrap_or_default();
                Invalid(format!(
                    "spec.samples: sample {name:?} does not exist{hint}; available samples: {}",
                    names.join(", ")
                ))
            })
        })
        .collect()
}

/// SQS queue names allow 80 characters; long cluster names are hashed.
pub fn queue_name(cluster: &str, sample: &str) -> String {
    let full = format!("eksscale-{cluster}-{sample}");
    // Room for "-dlq" too, so the dead-letter queue's name fits.
    if full.len() + 4 <= 80 {
        full
    } else {
        let room = 80usize
            .saturating_sub("eksscale--".len() + 9 + sample.len() + 4)
            .max(1);
        let head: String = cluster.chars().take(room).collect();
        format!(
            "eksscale-{head}-{}-{sample}",
            crate::spec::short_hash(cluster)
        )
    }
}

pub fn dlq_name(cluster: &str, sample: &str) -> String {
    format!("{}-dlq", queue_name(cluster, sample))
}

pub fn queue_arn(spec: &Spec, account: &str, name: &str) -> String {
    format!(
        "arn:{}:sqs:{}:{account}:{name}",
        partition(&spec.region),
        spec.region
    )
}

/// The queue URL in the form SQS returns (`https://sqs.<region>.<domain>/<account>/<name>`).
pub fn queue_url(spec: &Spec, account: &str, name: &str) -> String {
    let domain = if spec.region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://sqs.{}.{domain}/{account}/{name}", spec.region)
}

/// The consumer role's purpose (`eksscale-<cluster>-<region>-sample-<name>`).
pub fn role_purpose(sample: &str) -> String {
    format!("sample-{sample}")
}

pub fn role_arn(spec: &Spec, account: &str, sample: &str) -> String {
    format!(
        "arn:{}:iam::{account}:role/eksscale/{}",
        partition(&spec.region),
        spec.role_name(&role_purpose(sample))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_ins_are_the_catalog_samples() {
        let all = available(None).unwrap();
        let names: Vec<&str> = all.keys().map(String::as_str).collect();
        let mut want = crate::catalog::SAMPLES.to_vec();
        want.sort();
        assert_eq!(names, want);
        assert!(all["sqs-consumer"].queue);
        assert!(!all["cron-scaler"].queue);
        assert!(
            all.values()
                .all(|s| !s.files.is_empty() && !s.description.is_empty())
        );
    }

    #[test]
    fn queue_names_fit_sqs_limits_for_any_cluster_name() {
        let long = format!("{}-", "c".repeat(99));
        for cluster in ["demo", long.as_str()] {
            let q = queue_name(cluster, "sqs-consumer");
            let d = dlq_name(cluster, "sqs-consumer");
            assert!(q.len() <= 80 && d.len() <= 80, "{q} {d}");
            assert!(
                q.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
        }
        assert_eq!(
            queue_name("demo", "sqs-consumer"),
            "eksscale-demo-sqs-consumer"
        );
    }

    #[test]
    fn a_user_directory_adds_and_overrides_samples() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("mine");
        std::fs::create_dir_all(&mine).unwrap();
        std::fs::write(mine.join("sample.yaml"), "description: mine\n").unwrap();
        std::fs::write(mine.join("10-a.yaml.j2"), "kind: x\n").unwrap();
        let cron = dir.path().join("cron-scaler");
        std::fs::create_dir_all(&cron).unwrap();
        std::fs::write(cron.join("sample.yaml"), "description: my cron\n").unwrap();
        std::fs::write(cron.join("10-a.yaml.j2"), "kind: x\n").unwrap();
        let all = available(Some(dir.path())).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all["cron-scaler"].description, "my cron");
        assert!(matches!(
            all["cron-scaler"].origin,
            Origin::Dir {
                overrides: true,
                ..
            }
        ));
        assert!(matches!(
            all["mine"].origin,
            Origin::Dir {
                overrides: false,
                ..
            }
        ));
        let e = available(Some(&dir.path().join("nope"))).unwrap_err();
        assert!(e.0.contains("spec.templatesDir"), "{e}");
    }
}
