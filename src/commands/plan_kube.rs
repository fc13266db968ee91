//! The Kubernetes part of `plan`: what `up` would create, update and prune
//! in the cluster (KEDA's objects with the manifest installer, its helm
//! release with the helm installer, and the samples), read without writing. Skipped, with the reason, when the cluster does not exist
//! yet or its API cannot be reached.

use std::path::Path;

use futures::StreamExt;
use serde::Serialize;

use super::plan::Prepared;
use crate::cli::Global;
use crate::engine::Outcome;
use crate::keda::helm;
use crate::keda::install::Install;
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
    /// `keda.installer: helm`: what `up` does to the release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm_release: Option<HelmPreview>,
}

/// What `up` would do to the KEDA helm release (read with `helm list` and
/// `helm get values`; nothing is installed).
#[derive(Debug, Serialize)]
pub struct HelmPreview {
    /// `install`, `upgrade` or `unchanged`.
    pub action: &'static str,
    /// The chart `up` installs, e.g. `keda-2.20.2`.
    pub chart: String,
    /// The release as it is (chart and status), when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

impl KubePlan {
    pub fn has_changes(&self) -> bool {
        !(self.create.is_empty() && self.update.is_empty() && self.delete.is_empty())
            || self
                .helm_release
                .as_ref()
                .is_some_and(|h| h.action != "unchanged")
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
        if let Some(h) = &self.helm_release {
            let (sign, current) = match h.action {
                "install" => ("+", String::new()),
                "upgrade" => (
                    "~",
                    format!(", now {}", h.current.as_deref().unwrap_or("?")),
                ),
                _ => (" ", String::new()),
            };
            out.push_str(&format!(
                "  {sign} helm release keda/keda: {} ({}{current})\n",
                h.action, h.chart
            ));
        }
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
/// installer, the samples'), and the helm install (with `installer: helm`),
/// or why they cannot be known here.
async fn wanted(p: &Prepared, dir: &Path) -> anyhow::Result<(Vec<Object>, Option<Install>)> {
    let mut out = Vec::new();
    let mut helm = None;
    if p.spec.keda.enabled {
        match crate::keda::install::prepare(&p.spec, &p.account, dir).await? {
            Install::Manifest { objects, .. } => out.extend(objects),
            h @ Install::Helm { .. } => helm = Some(h),
        }
    }
    let (samples, _) = p.sample_objects()?;
    out.extend(samples);
    Ok((out, helm))
}

/// What `up` would do to the helm release, read through the same access
/// `up` gives helm.
async fn helm_preview(
    p: &Prepared,
    access: &KubeAccess,
    world: &dyn crate::kinds::Resolve,
    install: &Install,
) -> anyhow::Result<Option<HelmPreview>> {
    let Install::Helm {
        helm,
        chart_version,
        values,
        ..
    } = install
    else {
        return Ok(None);
    };
    let dir = crate::keda::install::helm_workdir()?;
    let access =
        crate::keda::install::helm_access(access, &p.spec.name, &p.spec.region, world, dir.path())?;
    let current = helm::release(helm, &access).await?;
    Ok(Some(HelmPreview {
        action: match helm::decide(current.as_ref(), chart_version, values) {
            helm::Action::Install => "install",
            helm::Action::Upgrade => "upgrade",
            helm::Action::None => "unchanged",
        },
        chart: format!("{}-{chart_version}", helm::CHART),
        current: current.map(|r| format!("{} {}", r.chart, r.status)),
    }))
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
    let (wanted, helm_install) = match wanted(p, &super::config_dir(g)).await {
        Ok(w) => w,
        Err(e) => return skipped(format!("{e:#}")),
    };
    let mut out = KubePlan::default();
    if let Some(install) = &helm_install {
        match helm_preview(p, &access, &world, install).await {
            Ok(h) => out.helm_release = h,
            Err(e) => return skipped(format!("reading the helm release: {e:#}")),
        }
    }
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
