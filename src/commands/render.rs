//! `eksscale render`: the Kubernetes objects `up` would apply, customised and
//! labelled, one file per object or a YAML stream. Works without a cluster
//! (and without AWS credentials): values not known yet are clearly marked
//! placeholders; real values are used once they exist.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::output::Report;
use crate::cli::{Global, RenderArgs};
use crate::kube::object::{Object, labelled};

/// What `render` reports.
pub enum RenderReport {
    /// One file per object (or the helm values file) written under `--out`.
    Files {
        source: Option<String>,
        installer: Option<&'static str>,
        chart: Option<String>,
        files: Vec<PathBuf>,
    },
    /// The objects as a YAML stream (human) or a JSON array.
    Stream { yaml: String, docs: Vec<Value> },
    /// `keda.installer: helm`: the chart values (human: commented YAML).
    HelmValues {
        installer: &'static str,
        chart: String,
        values: Value,
        text: String,
    },
    /// KEDA is disabled: nothing to render.
    Nothing,
}

impl Serialize for RenderReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = match self {
            RenderReport::Files {
                source,
                installer,
                chart,
                files,
            } => {
                let mut v = serde_json::json!({"command": "render", "ok": true, "files": files});
                if let Some(x) = source {
                    v["source"] = Value::from(x.as_str());
                }
                if let Some(x) = installer {
                    v["installer"] = Value::from(*x);
                }
                if let Some(x) = chart {
                    v["chart"] = Value::from(x.as_str());
                }
                v
            }
            // A bare array of objects, as `kubectl` reads a list.
            RenderReport::Stream { docs, .. } => Value::from(docs.clone()),
            RenderReport::HelmValues {
                installer,
                chart,
                values,
                ..
            } => serde_json::json!({"installer": installer, "chart": chart, "values": values}),
            RenderReport::Nothing => {
                serde_json::json!({"command": "render", "ok": true, "objects": 0})
            }
        };
        v.serialize(s)
    }
}

impl fmt::Display for RenderReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderReport::Files {
                installer: Some(_),
                files,
                ..
            } => writeln!(
                f,
                "Wrote the KEDA chart values to {} (installer: helm).",
                files
                    .first()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            RenderReport::Files { source, files, .. } => writeln!(
                f,
                "Wrote {} files to {} (KEDA from {}).",
                files.len(),
                files
                    .first()
                    .and_then(|p| p.parent())
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                source.as_deref().unwrap_or("")
            ),
            RenderReport::Stream { yaml, .. } => f.write_str(yaml),
            RenderReport::HelmValues { text, .. } => f.write_str(text),
            RenderReport::Nothing => Ok(()),
        }
    }
}

impl Report for RenderReport {}

/// Shown for the AWS account while it is not known (no credentials).
const ACCOUNT_PLACEHOLDER: &str = "EKSSCALE-PLACEHOLDER-ACCOUNT";

/// The KEDA operator role ARN if the role exists (else the placeholder), and
/// the AWS account if credentials work (else a placeholder).
async fn known_values(region: &str, role: &str) -> (String, String) {
    let lookup = async {
        let (aws, account) = crate::aws::connect_checked(region).await?;
        let found = crate::kinds::role::read(&aws, role).await?;
        anyhow::Ok((found.and_then(|o| o.arn), account))
    };
    let placeholder = crate::keda::ROLE_PLACEHOLDER.to_string();
    match tokio::time::timeout(std::time::Duration::from_secs(15), lookup).await {
        Ok(Ok((Some(arn), account))) => (arn, account),
        Ok(Ok((None, account))) => {
            eprintln!("note: role {role} does not exist yet; its ARN is a placeholder");
            (placeholder, account)
        }
        Ok(Err(e)) => {
            eprintln!(
                "note: AWS not reachable ({e:#}); the role ARN and the account ({ACCOUNT_PLACEHOLDER}) are placeholders"
            );
            (placeholder, ACCOUNT_PLACEHOLDER.into())
        }
        Err(_) => {
            eprintln!(
                "note: AWS did not answer within 15s; the role ARN and the account ({ACCOUNT_PLACEHOLDER}) are placeholders"
            );
            (placeholder, ACCOUNT_PLACEHOLDER.into())
        }
    }
}

fn file_name(i: usize, o: &Object) -> String {
    let mut parts = vec![format!("{:02}", i + 1), o.kind().to_ascii_lowercase()];
    if let Some(ns) = &o.namespace {
        parts.push(ns.clone());
    }
    parts.push(o.name.replace(['/', ':'], "_"));
    format!("{}.yaml", parts.join("-"))
}

pub async fn run(g: &Global, a: RenderArgs) -> anyhow::Result<RenderReport> {
    let loaded = super::load_config(g).await?;
    let spec = loaded.spec;
    if !spec.keda.enabled {
        eprintln!("spec.keda.enabled is false: there is nothing to render");
        return Ok(RenderReport::Nothing);
    }
    let dir = super::config_dir(g);
    let samples = crate::samples::selected(&spec, &dir)?;
    let role = spec.role_name("keda-operator");
    let (role_arn, account) = known_values(&spec.region, &role).await;
    let zones: Vec<String> = match &spec.vpc.zones {
        crate::spec::ZoneChoice::Names(n) => n.clone(),
        crate::spec::ZoneChoice::Count(c) => (0..*c)
            .map(|i| format!("{}{}", spec.region, (b'a' + i as u8) as char))
            .collect(),
    };
    let (sample_objects, warnings) = crate::samples::objects(
        &samples,
        &crate::samples::Inputs {
            spec: &spec,
            account: &account,
            zones,
        },
    )?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if spec.keda.installer == crate::spec::KedaInstaller::Helm {
        return helm_values(&a, &spec, &role_arn, &sample_objects);
    }
    let (mut objects, origin) = crate::keda::objects(&spec.keda, &dir, &role_arn).await?;
    objects.extend(sample_objects);
    let docs: Vec<Value> = objects
        .iter()
        .map(|o| labelled(&o.value, &spec.name))
        .collect();
    match &a.out {
        Some(out) => {
            let files = write_files(out, &objects, &docs, 0)?;
            Ok(RenderReport::Files {
                source: Some(origin),
                installer: None,
                chart: None,
                files,
            })
        }
        None => {
            let mut yaml = String::new();
            for doc in &docs {
                yaml.push_str("---\n");
                yaml.push_str(&crate::kube::kubeconfig::yaml_11_safe(doc)?);
            }
            Ok(RenderReport::Stream { yaml, docs })
        }
    }
}

/// One file per object under `out`, numbered from `first`.
fn write_files(
    out: &Path,
    objects: &[Object],
    docs: &[Value],
    first: usize,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut files = Vec::new();
    for (i, (o, doc)) in objects.iter().zip(docs).enumerate() {
        let path = out.join(file_name(first + i, o));
        std::fs::write(&path, crate::kube::kubeconfig::yaml_11_safe(doc)?)?;
        files.push(path);
    }
    Ok(files)
}

/// `keda.installer: helm`: what `up` hands to helm is the chart values.
fn helm_values(
    a: &RenderArgs,
    spec: &crate::spec::Spec,
    role_arn: &str,
    samples: &[Object],
) -> anyhow::Result<RenderReport> {
    use crate::keda::helm;
    let values = helm::values(&spec.keda, &spec.name, role_arn)?;
    let chart = format!(
        "{} --repo {} --version {}",
        helm::CHART,
        helm::CHART_REPO,
        crate::catalog::keda_release(&spec.keda.version)
            .and_then(|r| r.chart_version)
            .unwrap_or(&spec.keda.version)
    );
    let text = format!(
        "# Values for `helm upgrade --install {} {chart} --namespace {}`\n# (keda.installer: helm). See the objects with `helm template` and these values.\n{}",
        helm::RELEASE,
        crate::keda::NAMESPACE,
        crate::kube::kubeconfig::yaml_11_safe(&values)?
    );
    match &a.out {
        Some(out) => {
            std::fs::create_dir_all(out)?;
            let path = out.join("keda-values.yaml");
            std::fs::write(&path, &text)?;
            let docs: Vec<Value> = samples
                .iter()
                .map(|o| labelled(&o.value, &spec.name))
                .collect();
            let mut files = vec![path];
            files.extend(write_files(out, samples, &docs, 0)?);
            Ok(RenderReport::Files {
                source: None,
                installer: Some("helm"),
                chart: Some(chart),
                files,
            })
        }
        None => {
            if !samples.is_empty() {
                eprintln!(
                    "note: the samples' objects are written with --out DIR (beside the chart values)"
                );
            }
            Ok(RenderReport::HelmValues {
                installer: "helm",
                chart,
                values,
                text,
            })
        }
    }
}
