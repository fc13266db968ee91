//! `eksscale kubeconfig`: merge the cluster into a kubeconfig file.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::output::Report;
use crate::cli::{Global, KubeconfigArgs};
use crate::kinds::cluster;
use crate::kube::{self, kubeconfig};

/// What `kubeconfig` reports: the context it wrote (human output is just
/// its name, for `kubectl --context "$(eksscale kubeconfig)"`).
#[derive(Serialize)]
pub struct KubeconfigReport {
    command: &'static str,
    ok: bool,
    cluster: String,
    region: String,
    context: String,
    file: PathBuf,
}

impl fmt::Display for KubeconfigReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.context)
    }
}

impl Report for KubeconfigReport {}

pub async fn run(g: &Global, a: KubeconfigArgs) -> anyhow::Result<KubeconfigReport> {
    let (name, region) = super::target(g, &a.target).await?;
    let (aws, _) = crate::aws::connect_checked(&region).await?;
    let found = cluster::read(&aws, &name).await?.ok_or_else(|| {
        anyhow::anyhow!("cluster {name} does not exist in {region}; run `eksscale up` first")
    })?;
    let (Some(endpoint), Some(ca)) = (
        found.internal.get(cluster::ENDPOINT),
        found.internal.get(cluster::CA),
    ) else {
        anyhow::bail!(
            "cluster {name} has no endpoint yet (status {}); try again when it is ACTIVE",
            found.state.as_deref().unwrap_or("unknown")
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
    Ok(KubeconfigReport {
        command: "kubeconfig",
        ok: true,
        cluster: name,
        region,
        context,
        file: path,
    })
}
