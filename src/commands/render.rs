//! `eksscale render`: the Kubernetes objects `up` would apply, customised and
//! labelled, one file per object or a YAML stream. Works without a cluster
//! (and without AWS credentials): values not known yet are clearly marked
//! placeholders; real values are used once they exist.

use std::path::Path;

use crate::cli::{Global, Output, RenderArgs};

/// The KEDA operator role ARN if the role exists, else the placeholder.
async fn operator_role_arn(region: &str, role: &str) -> String {
    let lookup = async {
        let (aws, _) = super::connect(region).await?;
        let found = crate::aws::iam::read_role(&aws, role).await?;
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

fn file_name(i: usize, o: &crate::kube::apply::Object) -> String {
    let mut parts = vec![format!("{:02}", i + 1), o.kind().to_ascii_lowercase()];
    if let Some(ns) = &o.namespace {
        parts.push(ns.clone());
    }
    parts.push(o.name.replace(['/', ':'], "_"));
    format!("{}.yaml", parts.join("-"))
}

pub async fn run(g: &Global, a: RenderArgs) -> anyhow::Result<u8> {
    let loaded = super::load_config(g).await?;
    let spec = loaded.spec;
    if !spec.keda.enabled {
        eprintln!("spec.keda.enabled is false: there is nothing to render");
        return Ok(0);
    }
    let role = spec.role_name("keda-operator");
    let role_arn = operator_role_arn(&spec.region, &role).await;
    if spec.keda.installer == crate::spec::KedaInstaller::Helm {
        return render_helm_values(g, &a, &spec, &role_arn);
    }
    let dir = g.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let (objects, origin) = crate::keda::objects(&spec.keda, &dir, &role_arn).await?;
    let docs: Vec<serde_json::Value> = objects
        .iter()
        .map(|o| crate::kube::apply::labelled(&o.value, &spec.name))
        .collect();
    match &a.out {
        Some(out) => {
            std::fs::create_dir_all(out)?;
            let mut files = Vec::new();
            for (i, (o, doc)) in objects.iter().zip(&docs).enumerate() {
                let path = out.join(file_name(i, o));
                std::fs::write(&path, serde_saphyr::to_string(doc)?)?;
                files.push(path);
            }
            match g.output {
                Output::Json => super::print_json(&serde_json::json!({
                    "command": "render", "ok": true, "source": origin, "files": files,
                }))?,
                Output::Human => println!(
                    "Wrote {} files to {} (KEDA from {origin}).",
                    files.len(),
                    out.display()
                ),
            }
        }
        None => match g.output {
            Output::Json => super::print_json(&docs)?,
            Output::Human => {
                for doc in &docs {
                    print!("---\n{}", serde_saphyr::to_string(doc)?);
                }
            }
        },
    }
    Ok(0)
}

/// `keda.installer: helm`: what `up` hands to helm is the chart values.
fn render_helm_values(
    g: &Global,
    a: &RenderArgs,
    spec: &crate::spec::Spec,
    role_arn: &str,
) -> anyhow::Result<u8> {
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
        serde_saphyr::to_string(&values)?
    );
    match &a.out {
        Some(out) => {
            std::fs::create_dir_all(out)?;
            let path = out.join("keda-values.yaml");
            std::fs::write(&path, &text)?;
            match g.output {
                Output::Json => super::print_json(&serde_json::json!({
                    "command": "render", "ok": true, "installer": "helm",
                    "chart": chart, "files": [path],
                }))?,
                Output::Human => println!(
                    "Wrote the KEDA chart values to {} (installer: helm).",
                    path.display()
                ),
            }
        }
        None => match g.output {
            Output::Json => super::print_json(&serde_json::json!({
                "installer": "helm", "chart": chart, "values": values,
            }))?,
            Output::Human => print!("{text}"),
        },
    }
    Ok(0)
}
