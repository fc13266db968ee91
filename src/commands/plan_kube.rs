//! The Kubernetes part of `plan`: what `up` would create, update and prune
//! in the cluster (KEDA with the manifest installer, and the samples), read
//! without writing. Skipped, with the reason, when the cluster does not exist
//! yet or its API cannot be reached.

use std::path::Path;

use futures::StreamExt;
use serde::Serialize;

use super::plan::Prepared;
use crate::cli::Global;
use crate::engine::Outcome;
use crate::kinds::Kind;
use crate::kinds::steps::by_key;
use crate::kube::object::Object;
use crate::kube::steps::{KubeAccess, reach};

/// Objects read at once.
const PREVIEW_CONCURRENCY: usize = 8;

#[derive(Debug, Default, Serialize)]
pub struct KubePlan {
    /// Why the cluster was not read (then the lists are empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub create: Vec<String>,
    pub update: Vec<String>,
    pub unchanged: usize,
    /// Applied by eksscale earlier, no longer asked for: `up` deletes them.
    pub delete: Vec<String>,
}

impl KubePlan {
    pub fn has_changes(&self) -> bool {
        !(self.create.is_empty() && self.update.is_empty() && self.delete.is_empty())
    }

    pub fn text(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("Kubernetes: not read ({why}).\n");
        }
        let mut out = format!(
            "Kubernetes: {} to create, {} to update, {} to delete, {} unchanged.\n",
            self.create.len(),
            self.update.len(),
            self.delete.len(),
            self.unchanged
        );
        for (sign, list) in [
            ("+", &self.create),
            ("~", &self.update),
            ("-", &self.delete),
        ] {
            for id in list {
                out.push_str(&format!("  {sign} {id}\n"));
            }
        }
        out
    }
}

/// The objects `up` applies for this config (KEDA's with the manifest
/// installer, the samples'), or why they cannot be known here.
async fn wanted(p: &Prepared, dir: &Path) -> anyhow::Result<Vec<Object>> {
    let mut out = Vec::new();
    if p.spec.keda.enabled
        && p.spec.keda.installer == crate::spec::KedaInstaller::Manifest
        && let crate::keda::install::Install::Manifest { objects, .. } =
            crate::keda::install::prepare(&p.spec, &p.account, dir).await?
    {
        out.extend(objects);
    }
    let (samples, _) = p.sample_objects()?;
    out.extend(samples);
    Ok(out)
}

pub async fn plan(g: &Global, p: &Prepared) -> KubePlan {
    let skipped = |why: String| KubePlan {
        skipped: Some(why),
        ..Default::default()
    };
    let cluster_active = p
        .observed
        .iter()
        .any(|o| o.kind == Kind::EksCluster && o.is_ours() && o.state.as_deref() == Some("ACTIVE"));
    let access = match &g.kubeconfig {
        Some(path) => KubeAccess::File {
            path: path.clone(),
            context: g.context.clone(),
        },
        None if cluster_active => KubeAccess::Eks,
        None => return skipped("the cluster does not exist yet; `up` applies every object".into()),
    };
    let world = by_key(&p.observed);
    let (applier, _) = match reach(&p.spec.name, &p.spec.region, &access, &world).await {
        Ok(v) => v,
        Err(why) => return skipped(why),
    };
    let wanted = match wanted(p, &super::config_dir(g)).await {
        Ok(w) => w,
        Err(e) => return skipped(format!("{e:#}")),
    };
    let mut out = KubePlan::default();
    // Read a few at a time, as `up` applies them; reported in config order.
    let previews: Vec<_> = futures::stream::iter(&wanted)
        .map(|o| {
            let applier = &applier;
            async move { (o, applier.preview(o).await) }
        })
        .buffered(PREVIEW_CONCURRENCY)
        .collect()
        .await;
    for (o, preview) in previews {
        match preview {
            Ok(Outcome::Created) => out.create.push(o.id()),
            Ok(Outcome::Unchanged) => out.unchanged += 1,
            Ok(_) => out.update.push(o.id()),
            Err(e) => return skipped(format!("reading {}: {e:#}", o.id())),
        }
    }
    match applier.find_owned().await {
        Ok(owned) => {
            out.delete = crate::kube::prune::unwanted(owned, &wanted)
                .iter()
                .map(Object::id)
                .collect();
        }
        Err(e) => return skipped(format!("{e:#}")),
    }
    out
}
