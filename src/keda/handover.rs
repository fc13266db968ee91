//! Switching `keda.installer` without a second KEDA and without losing the
//! user's scaled objects: KEDA's CustomResourceDefinitions (and with them
//! every ScaledObject in the cluster) are handed from one installer to the
//! other, everything else of the old install is removed first.
//!
//! - manifest -> helm: the objects eksscale applied for KEDA are deleted
//!   (helm refuses to install over objects it does not own); the CRDs get
//!   Helm's ownership label and release annotations, which helm (>= 3.2)
//!   adopts; the `keda` namespace is released (helm's `--create-namespace`
//!   does not own it).
//! - helm -> manifest: the CRDs get `helm.sh/resource-policy: keep`, the
//!   release is uninstalled (helm keeps those), and the CRDs lose Helm's
//!   marks; the manifest's apply then takes their fields over.

use std::path::PathBuf;

use anyhow::Context;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::helm;
use crate::engine::Cancel;
use crate::engine::step::StepCtx;
use crate::kube::apply::{Applier, retried};
use crate::kube::object::{ANNOTATION_APPLIED, LABEL_CLUSTER, LABEL_MANAGED_BY, Object};
use crate::kube::prune::delete_in_order;

const HELM_RELEASE_NAME: &str = "meta.helm.sh/release-name";
const HELM_RELEASE_NAMESPACE: &str = "meta.helm.sh/release-namespace";
const HELM_KEEP: &str = "helm.sh/resource-policy";

/// A KEDA CustomResourceDefinition (`*.keda.sh`).
fn is_keda_crd(o: &Object) -> bool {
    o.kind() == "CustomResourceDefinition" && o.name.ends_with("keda.sh")
}

/// One of the objects eksscale applied for KEDA (not a sample's).
fn is_keda_object(o: &Object) -> bool {
    o.value["metadata"]["labels"]["eksscale.io/sample"].is_null()
        && (o.namespace.as_deref() == Some(super::NAMESPACE)
            || is_keda_crd(o)
            || o.name.starts_with("keda")
            || o.name == "v1beta1.external.metrics.k8s.io")
}

async fn patch_meta(client: &kube::Client, obj: &Object, meta: Value) -> anyhow::Result<()> {
    let ar = kube::discovery::ApiResource::from_gvk(&obj.gvk);
    let api: Api<DynamicObject> = match &obj.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let patch = Patch::Merge(json!({ "metadata": meta }));
    let pp = PatchParams::default();
    retried(|| api.patch(&obj.name, &pp, &patch))
        .await
        .with_context(|| format!("relabelling {}", obj.id()))?;
    Ok(())
}

/// manifest -> helm. Returns what was done, or `None` when there was no
/// manifest install.
pub async fn manifest_to_helm(applier: &Applier, s: &StepCtx) -> anyhow::Result<Option<String>> {
    let owned: Vec<Object> = applier
        .find_owned()
        .await?
        .into_iter()
        .filter(is_keda_object)
        .collect();
    if owned.is_empty() {
        return Ok(None);
    }
    let client = applier.client()?.clone();
    let (crds, rest): (Vec<Object>, Vec<Object>) = owned.into_iter().partition(is_keda_crd);
    let (namespaces, rest): (Vec<Object>, Vec<Object>) =
        rest.into_iter().partition(|o| o.kind() == "Namespace");
    s.progress(format!(
        "keda.installer changed to helm: removing {} objects of the manifest install, handing {} CRDs to helm",
        rest.len(),
        crds.len()
    ));
    delete_in_order(applier, s, &rest).await?;
    for crd in &crds {
        patch_meta(
            &client,
            crd,
            json!({
                "labels": {LABEL_MANAGED_BY: "Helm"},
                "annotations": {
                    HELM_RELEASE_NAME: helm::RELEASE,
                    HELM_RELEASE_NAMESPACE: super::NAMESPACE,
                    ANNOTATION_APPLIED: null,
                },
            }),
        )
        .await?;
    }
    for ns in &namespaces {
        patch_meta(
            &client,
            ns,
            json!({"labels": {LABEL_MANAGED_BY: null, LABEL_CLUSTER: null}, "annotations": {ANNOTATION_APPLIED: null}}),
        )
        .await?;
    }
    Ok(Some(format!(
        "switched from the manifest install: {} objects removed, {} CRDs handed to helm",
        rest.len(),
        crds.len()
    )))
}

/// helm -> manifest: needs the helm that installed the release.
pub async fn helm_to_manifest(
    applier: &Applier,
    s: &StepCtx,
    helm_bin: Option<PathBuf>,
    access: &helm::Access,
    cancel: &Cancel,
) -> anyhow::Result<String> {
    let helm_bin = helm_bin.context(
        "KEDA was installed with helm and keda.installer is now manifest: `helm` must be on PATH to uninstall the release first",
    )?;
    let client = applier.client()?.clone();
    let crd_api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &kube::discovery::ApiResource::erase::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >(&()),
    );
    let mut crds = Vec::new();
    let params = ListParams::default();
    for item in retried(|| crd_api.list(&params)).await?.items {
        let name = item.metadata.name.clone().unwrap_or_default();
        let release = item
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(HELM_RELEASE_NAME))
            .cloned();
        if name.ends_with("keda.sh") && release.as_deref() == Some(helm::RELEASE) {
            let mut v = serde_json::to_value(&item)?;
            v["apiVersion"] = "apiextensions.k8s.io/v1".into();
            v["kind"] = "CustomResourceDefinition".into();
            crds.push(Object::from_value(v)?);
        }
    }
    s.progress(format!(
        "keda.installer changed to manifest: marking {} CRDs keep, then `helm uninstall {}`",
        crds.len(),
        helm::RELEASE
    ));
    // helm uninstall reads `helm.sh/resource-policy` from the release's
    // stored manifest, not from the live objects (helm/helm#8132, #10890),
    // so the policy goes in through an upgrade of the same chart with the
    // chart's `crds.additionalAnnotations` value.
    let current = helm::release(&helm_bin, access)
        .await?
        .context("helm lists no keda release, though its operator carries helm's marks")?;
    let chart_version = current
        .chart
        .strip_prefix(&format!("{}-", helm::CHART))
        .context("the keda release's chart has an unexpected name")?
        .to_string();
    let mut values = current.values.clone();
    if !values.is_object() {
        values = json!({});
    }
    values["crds"]["additionalAnnotations"][HELM_KEEP] = json!("keep");
    let dir = super::install::helm_workdir()?;
    helm::install(
        &helm_bin,
        access,
        &chart_version,
        &values,
        dir.path(),
        cancel,
    )
    .await?;
    helm::uninstall(&helm_bin, access, cancel).await?;
    for crd in &crds {
        patch_meta(
            &client,
            crd,
            json!({"annotations": {HELM_KEEP: null, HELM_RELEASE_NAME: null, HELM_RELEASE_NAMESPACE: null}}),
        )
        .await?;
    }
    // Helm's field manager owns the CRDs' fields; the manifest takes them.
    applier.force_conflicts();
    Ok(format!(
        "switched from helm: release uninstalled, {} CRDs kept for the manifest",
        crds.len()
    ))
}
