//! `down`'s Kubernetes phase: delete every object eksscale labelled for the
//! cluster (scaled objects first so their HPAs go, then KEDA, CRDs last),
//! then the KEDA helm release if eksscale installed one. Best effort: when
//! the API cannot be reached, deleting the cluster removes those objects.

use std::path::PathBuf;

use super::helm;
use super::install::{helm_access, helm_workdir};
use crate::engine::{Done, Outcome, RunReport, Step, Verb};
use crate::kinds::Observed;
use crate::kinds::steps::{RunCtx, by_key};
use crate::kube::object::{LABEL_CLUSTER, LABEL_MANAGED_BY};
use crate::kube::steps::{KubeAccess, reach};

pub const HELM_UNINSTALL_STEP: &str = "k8s/helm/keda-uninstall";

/// Whether this cluster's KEDA was installed by eksscale with helm: the
/// chart's operator Deployment carries our cluster label and Helm's marks.
pub async fn helm_release_is_ours(client: &::kube::Client, cluster: &str) -> anyhow::Result<bool> {
    let api: ::kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        ::kube::Api::namespaced(client.clone(), super::NAMESPACE);
    let Some(d) = crate::kube::apply::retried(|| api.get_opt(helm::OPERATOR)).await? else {
        return Ok(false);
    };
    let labels = d.metadata.labels.unwrap_or_default();
    let annotations = d.metadata.annotations.unwrap_or_default();
    Ok(labels.get(LABEL_CLUSTER).map(String::as_str)
        == Some(crate::kube::object::cluster_label(cluster).as_str())
        && labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some("Helm")
        && annotations
            .get("meta.helm.sh/release-name")
            .map(String::as_str)
            == Some(helm::RELEASE))
}

/// Uninstalls the helm release after `deps` (the scaled objects) are gone.
fn helm_uninstall_step(
    ctx: &RunCtx,
    helm_bin: PathBuf,
    to: helm::Access,
    dir: tempfile::TempDir,
    deps: Vec<String>,
) -> Step {
    let ctx = ctx.clone();
    Step {
        id: HELM_UNINSTALL_STEP.into(),
        deps,
        verb: Verb::HelmUninstall,
        run: Box::new(move || {
            Box::pin(async move {
                let s = ctx.step(HELM_UNINSTALL_STEP);
                s.progress(format!(
                    "helm uninstall {} --namespace {}",
                    helm::RELEASE,
                    super::NAMESPACE
                ));
                helm::uninstall(&helm_bin, &to, &ctx.cancel).await?;
                drop(dir);
                Ok(Done::new(Outcome::Deleted))
            })
        }),
    }
}

pub const KEDA_RESOURCES_STEP: &str = "k8s/keda-custom-resources";

/// Deletes Services, Ingresses and claims that hold AWS resources and waits
/// for their controllers (at most `timeout`).
fn release_step(ctx: &RunCtx, client: &::kube::Client, timeout: std::time::Duration) -> Step {
    let (ctx, client) = (ctx.clone(), client.clone());
    let id = crate::kube::release::RELEASE_STEP;
    Step {
        id: id.into(),
        deps: vec![],
        verb: Verb::Delete,
        run: Box::new(move || {
            Box::pin(async move {
                let s = ctx.step(id);
                let done = crate::kube::release::release(&client, &s, timeout).await?;
                if done.outcome == Outcome::Unchanged
                    && let Some(d) = &done.detail
                {
                    ctx.events.warn(format!("{id}: {d}"));
                }
                Ok(done)
            })
        }),
    }
}

/// Deletes every KEDA custom resource in the cluster and waits for them.
pub fn keda_resources_step(ctx: &RunCtx, client: &::kube::Client) -> Step {
    let (ctx, client) = (ctx.clone(), client.clone());
    Step {
        id: KEDA_RESOURCES_STEP.into(),
        deps: vec![],
        verb: Verb::Delete,
        run: Box::new(move || {
            Box::pin(async move {
                let s = ctx.step(KEDA_RESOURCES_STEP);
                let n = crate::kube::prune::delete_keda_resources(
                    &client,
                    &s,
                    std::time::Duration::from_secs(5 * 60),
                )
                .await?;
                Ok(if n == 0 {
                    Done::new(Outcome::Absent)
                } else {
                    Done::with(Outcome::Deleted, format!("{n} KEDA custom resources"))
                })
            })
        }),
    }
}

/// Runs the cleanup; `None` when there was nothing to do or the API could
/// not be reached (a warning says so).
pub async fn cleanup(
    ctx: &RunCtx,
    region: &str,
    access: &KubeAccess,
    observed: &[Observed],
    concurrency: usize,
    unreachable: &str,
    release: Option<std::time::Duration>,
) -> anyhow::Result<Option<RunReport>> {
    let world = by_key(observed);
    let (applier, client) = match reach(&ctx.cluster, region, access, &world).await {
        Ok(v) => v,
        Err(why) => {
            ctx.events.warn(format!("{unreachable}: {why}"));
            return Ok(None);
        }
    };
    let owned = applier.find_owned().await?;
    let helm = if helm_release_is_ours(&client, &ctx.cluster).await? {
        match helm::find() {
            Some(helm_bin) => {
                let dir = helm_workdir()?;
                let to = helm_access(access, &ctx.cluster, region, &world, dir.path())?;
                Some((helm_bin, to, dir))
            }
            None => {
                ctx.events.warn(
                    "KEDA was installed with helm, but no `helm` is on PATH; skipping `helm uninstall` (deleting the cluster removes KEDA anyway)",
                );
                None
            }
        }
    } else {
        None
    };
    let mut steps = Vec::new();
    // `down`: what holds load balancers and volumes goes first, through the
    // API, so that its controllers release them.
    if let Some(timeout) = release {
        steps.push(release_step(ctx, &client, timeout));
    }
    if owned.is_empty() && helm.is_none() {
        if steps.is_empty() {
            return Ok(None);
        }
        return Ok(Some(
            crate::engine::execute(steps, concurrency, &ctx.events, &ctx.cancel).await?,
        ));
    }
    ctx.events.info(format!(
        "deleting {} Kubernetes objects eksscale applied{}",
        owned.len(),
        if helm.is_some() {
            ", then the KEDA helm release"
        } else {
            ""
        }
    ));
    // KEDA's custom resources, anyone's, go first, while the operator runs to
    // remove their finalizers; otherwise deleting the CRDs (or `helm
    // uninstall`) hangs on them.
    steps.push(keda_resources_step(ctx, &client));
    let mut deletes = crate::kube::apply::delete_steps(&applier, &owned, &ctx.events, &ctx.cancel);
    for st in deletes.iter_mut() {
        st.deps.push(KEDA_RESOURCES_STEP.into());
    }
    steps.extend(deletes);
    if let Some((helm_bin, to, dir)) = helm {
        let deps = steps.iter().map(|s| s.id.clone()).collect();
        steps.push(helm_uninstall_step(ctx, helm_bin, to, dir, deps));
    }
    Ok(Some(
        crate::engine::execute(steps, concurrency, &ctx.events, &ctx.cancel).await?,
    ))
}
