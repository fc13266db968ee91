//! Removing what eksscale applied earlier and the config no longer asks for
//! (an operator PodDisruptionBudget after `operatorReplicas: 1`, a sample
//! taken out of `spec.samples`), and KEDA's custom resources before KEDA
//! itself goes: KEDA puts `finalizer.keda.sh` on them, which only a running
//! operator removes, so they must be deleted while it still runs.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::core::GroupVersionKind;

use std::sync::Arc;

use super::apply::{Applier, retried, transient};
use super::object::{DeletePhase, Object};
use crate::engine::step::StepCtx;
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome, Step, Verb};
use crate::kinds::steps::RunCtx;

pub const PRUNE_STEP: &str = "k8s/prune";

/// After `deps` (every apply of this run) succeeded: deletes what eksscale
/// applied before and `wanted` no longer contains.
pub fn prune_step(
    ctx: &RunCtx,
    applier: &Arc<Applier>,
    wanted: Vec<Object>,
    deps: Vec<String>,
) -> Step {
    let (ctx, applier) = (ctx.clone(), applier.clone());
    Step {
        id: PRUNE_STEP.into(),
        deps,
        verb: Verb::Delete,
        run: Box::new(move || {
            Box::pin(async move {
                let s = ctx.step(PRUNE_STEP);
                let gone = unwanted(applier.find_owned().await?, &wanted);
                if gone.is_empty() {
                    return Ok(Done::new(Outcome::Unchanged));
                }
                s.progress(format!(
                    "removing {} objects the config no longer asks for: {}",
                    gone.len(),
                    gone.iter().map(Object::id).collect::<Vec<_>>().join(", ")
                ));
                let ids = delete_in_order(&applier, &s, &gone).await?;
                Ok(Done::with(Outcome::Deleted, ids.join(", ")))
            })
        }),
    }
}

/// KEDA's custom resource kinds (group, version, kind): every one that KEDA
/// 2.20 defines (`../shared/keda/2.20.2`), namespaced and cluster-scoped.
pub const KEDA_KINDS: &[(&str, &str, &str)] = &[
    ("keda.sh", "v1alpha1", "ScaledObject"),
    ("keda.sh", "v1alpha1", "ScaledJob"),
    ("keda.sh", "v1alpha1", "TriggerAuthentication"),
    ("keda.sh", "v1alpha1", "ClusterTriggerAuthentication"),
    ("eventing.keda.sh", "v1alpha1", "CloudEventSource"),
    ("eventing.keda.sh", "v1alpha1", "ClusterCloudEventSource"),
];

/// The key an object is known by when comparing applied and wanted sets.
pub fn key(o: &Object) -> (String, String, Option<String>, String) {
    (
        o.gvk.group.clone(),
        o.gvk.kind.clone(),
        o.namespace.clone(),
        o.name.clone(),
    )
}

/// What eksscale applied before (labelled for this cluster) that `wanted`
/// does not contain, in delete order.
pub fn unwanted(owned: Vec<Object>, wanted: &[Object]) -> Vec<Object> {
    let keep: BTreeSet<_> = wanted.iter().map(key).collect();
    let mut out: Vec<Object> = owned
        .into_iter()
        .filter(|o| !keep.contains(&key(o)))
        .collect();
    out.sort_by_key(|o| (o.delete_phase(), o.id()));
    out
}

/// Deletes `objects` phase by phase (scaled objects, registrations, objects,
/// namespaces, definitions), each phase's objects concurrently, each waited
/// for until gone. Returns the ids deleted.
pub async fn delete_in_order(
    applier: &Applier,
    s: &StepCtx,
    objects: &[Object],
) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    let phases: BTreeSet<DeletePhase> = objects.iter().map(Object::delete_phase).collect();
    for phase in phases {
        let batch: Vec<&Object> = objects
            .iter()
            .filter(|o| o.delete_phase() == phase)
            .collect();
        let results = futures::future::join_all(batch.iter().map(|o| applier.delete(s, o))).await;
        for (o, r) in batch.iter().zip(results) {
            r.with_context(|| format!("deleting {}", o.id()))?;
            done.push(o.id());
        }
        if phase == DeletePhase::Definitions {
            applier.refresh_discovery();
        }
    }
    Ok(done)
}

/// Every KEDA custom resource in the cluster, in every namespace, whoever
/// made it: `(api, object)` pairs, for the kinds the cluster serves.
async fn keda_resources(
    client: &kube::Client,
) -> anyhow::Result<Vec<(Api<DynamicObject>, String, String)>> {
    let mut out = Vec::new();
    for (group, version, kind) in KEDA_KINDS {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let Ok((ar, _)) = retried(|| kube::discovery::pinned_kind(client, &gvk)).await else {
            continue; // CRD not installed
        };
        let all: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let params = ListParams::default();
        let list = match retried(|| all.list(&params)).await {
            Ok(l) => l,
            Err(kube::Error::Api(e)) if e.code == 404 => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {kind}s")),
        };
        for item in list.items {
            let name = item.metadata.name.clone().unwrap_or_default();
            let (api, shown) = match &item.metadata.namespace {
                Some(ns) => (
                    Api::namespaced_with(client.clone(), ns, &ar),
                    format!("{kind} {ns}/{name}"),
                ),
                None => (Api::all_with(client.clone(), &ar), format!("{kind} {name}")),
            };
            out.push((api, name, shown));
        }
    }
    Ok(out)
}

/// Deletes every KEDA custom resource in the cluster while the operator still
/// runs (it removes their finalizers and the HPAs it made), and waits until
/// they are gone. Returns how many there were.
pub async fn delete_keda_resources(
    client: &kube::Client,
    s: &StepCtx,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let found = keda_resources(client).await?;
    if found.is_empty() {
        return Ok(0);
    }
    s.progress(format!(
        "deleting {} KEDA custom resources while the operator still runs: {}",
        found.len(),
        found
            .iter()
            .map(|(_, _, shown)| shown.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for (api, name, shown) in &found {
        let dp = DeleteParams::background();
        match retried(|| api.delete(name, &dp)).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e).with_context(|| format!("deleting {shown}")),
        }
    }
    s.wait(
        "KEDA's custom resources to be deleted (the operator removes finalizer.keda.sh)",
        timeout,
        Duration::from_secs(2),
        || async {
            let left = match keda_resources(client).await {
                Ok(l) => l,
                Err(e) => {
                    let retry = e
                        .downcast_ref::<kube::Error>()
                        .is_some_and(transient);
                    if retry {
                        return Ok(Poll::Pending(format!("the API failed a read ({e:#}); retrying")));
                    }
                    return Err(e);
                }
            };
            Ok(if left.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending(format!(
                    "{} left: {}",
                    left.len(),
                    left.iter()
                        .take(5)
                        .map(|(_, _, shown)| shown.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        },
    )
    .await
    .context("KEDA's custom resources are not gone; is the keda-operator Deployment running? (`kubectl -n keda get pods`)")?;
    Ok(found.len())
}
