//! `eksscale kubeconfig`: merge the cluster into a kubeconfig file.

use crate::cli::{Global, KubeconfigArgs, Output};
use crate::kube::{self, kubeconfig};

pub async fn run(g: &Global, a: KubeconfigArgs) -> anyhow::Result<u8> {
    let (name, region) = super::target(g, &a.target).await?;
    let (aws, _) = super::connect(&region).await?;
    let cluster = crate::aws::eks::read_cluster(&aws, &name)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!("cluster {name} does not exist in {region}; run `eksscale up` first")
        })?;
    let (Some(endpoint), Some(ca)) = (
        cluster.internal.get("endpoint"),
        cluster.internal.get("certificateAuthority"),
    ) else {
        anyhow::bail!(
            "cluster {name} has no endpoint yet (status {}); try again when it is ACTIVE",
            cluster.state.as_deref().unwrap_or("unknown")
        );
    };
    let context = a
        .alias
        .unwrap_or_else(|| kube::context_name(&name, &region));
    let path = match a.out {
        Some(p) => p,
        None => kubeconfig::default_path()?,
    };
    let entry = kube::eks_entry(&context, &name, &region, endpoint, ca);
    kubeconfig::update(&path, &entry)?;
    match g.output {
        Output::Json => super::print_json(&serde_json::json!({
            "command": "kubeconfig", "ok": true, "cluster": name, "region": region,
            "context": context, "file": path,
        }))?,
        Output::Human => println!("{context}"),
    }
    Ok(0)
}
