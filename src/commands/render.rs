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

/// The KEDA operator role ARN if the role exists, else the placeholder.
async fn operator_role_arn(region: &str, role: &str) -> String {
    let lookup = async {
        let (aws, _) = crate::aws::connect_checked(region).await?;
        let found = crate::kinds::role::read(&aws, role).await?;
        anyhow::Ok(found.and_then(|o| o.arn))
    };
    match tokio::time::timeout(std::time::Duration::from_secs(15), lookup).await {
        Ok(Ok(Some(arn))) => arn,
        Ok(Ok(None)) => {
            eprintln!("note: role {role} does not exist yet; its ARN is a placeholder");
            crate::keda::ROLE_PLACEHOLDER.to_string()
        }
        Ok(Err(e)) => {
            eprintln!("note: AWS not reachable ({e:#}); the role ARN is a placeholder");
            crate::keda::ROLE_PLACEHOLDER.to_string()
        }
        Err(_) => {
            eprintln!("note: AWS did not answer within 15s; the role ARN is a placeholder");
            crate::keda::ROLE_PLACEHOLDER.to_string()
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
    let role = spec.role_name("keda-operator");
    let role_arn = operator_role_arn(&spec.region, &role).await;
    if spec.keda.installer == crate::spec::KedaInstaller::Helm {
        return helm_values(&a, &spec, &role_arn);
    }
    let dir = g.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let (objects, origin) = crate::keda::objects(&spec.keda, &dir, &role_arn).await?;
    let docs: Vec<Value> = objects
        .iter()
        .map(|o| labelled(&o.value, &spec.name))
        .collect();
    match &a.out {
        Some(out) => {
            std::fs::create_dir_all(out)?;
            let mut files = Vec::new();
            for (i, (o, doc)) in objects.iter().zip(&docs).enumerate() {
                let path = out.join(file_name(i, o));
                std::fs::write(&path, crate::kube::kubeconfig::yaml_11_safe(doc)?)?;
                files.push(path);
            }
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

/// `keda.installer: helm`: what `up` hands to helm is the chart values.
fn helm_values(
    a: &RenderArgs,
    spec: &crate::spec::Spec,
    role_arn: &str,
) -> anyhow::Result<RenderReport> {
    use crate::keda::helm;
    let values = helm::values(&spec.keda, &spec.name, role_arn)?;
    let chart = format!(
        "{} --repo {} --version {}",
        helm::CHART,
        helm::CHART_REPO,
        spec.keda.version
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
            Ok(RenderReport::Files {
                source: None,
                installer: Some("helm"),
                chart: Some(chart),
                files: vec![path],
            })
        }
        None => Ok(RenderReport::HelmValues {
            installer: "helm",
            chart,
            values,
            text,
        }),
    }
}
