//! The KEDA operator's AWS identity, checked where it matters: in the pods.
//!
//! Both IRSA and EKS Pod Identity reach a pod through a mutating webhook that
//! acts only when the pod is created (IRSA: `AWS_ROLE_ARN` and
//! `AWS_WEB_IDENTITY_TOKEN_FILE` from the service account's annotation; Pod
//! Identity: `AWS_CONTAINER_CREDENTIALS_FULL_URI` from the association). A
//! pod created before the annotation or association existed, or while the
//! webhook lagged, runs with the node's role, and every SQS or CloudWatch
//! scaler then fails with AccessDenied, silently. So after the operator is
//! rolled out, its pods are checked; pods without the variables are replaced
//! once (`kubectl rollout restart`), and if they still lack them `up` fails
//! and says why.

use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::engine::step::StepCtx;
use crate::engine::{Done, Outcome};
use crate::kube::apply::{Applier, retried};
use crate::kube::object::Object;
use crate::spec::KedaIdentity;

/// Pod-template annotation naming the identity the pods should carry.
pub const ANNOTATION: &str = "eksscale.io/aws-identity";

pub fn annotation_value(identity: KedaIdentity, role_arn: &str) -> String {
    format!("{}:{role_arn}", env_var(identity).0)
}

/// (mode, the variable the webhook injects) for an identity.
pub fn env_var(identity: KedaIdentity) -> (&'static str, &'static str) {
    match identity {
        KedaIdentity::Irsa => ("irsa", "AWS_ROLE_ARN"),
        KedaIdentity::PodIdentity => ("pod-identity", "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    }
}

/// Pods of the Deployment (by its selector) that are not being deleted, and
/// those of them whose containers all lack `var`.
async fn pods_without(
    client: &kube::Client,
    namespace: &str,
    deployment: &Deployment,
    var: &str,
) -> anyhow::Result<(usize, Vec<String>)> {
    let labels = deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&selector.join(","));
    let list = retried(|| pods.list(&params)).await?;
    let live: Vec<&Pod> = list
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let missing = live
        .iter()
        .filter(|p| {
            !p.spec.as_ref().is_some_and(|s| {
                s.containers.iter().any(|c| {
                    c.env
                        .as_ref()
                        .is_some_and(|e| e.iter().any(|e| e.name == var))
                })
            })
        })
        .map(|p| p.metadata.name.clone().unwrap_or_default())
        .collect();
    Ok((live.len(), missing))
}

/// Checks the operator's pods; replaces them once if they lack the identity.
pub async fn ensure_in_pods(
    applier: &Applier,
    s: &StepCtx,
    namespace: &str,
    name: &str,
    identity: KedaIdentity,
) -> anyhow::Result<Done> {
    let client = applier.client()?.clone();
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let (_, var) = env_var(identity);
    let d = retried(|| api.get(name))
        .await
        .with_context(|| format!("reading Deployment {namespace}/{name}"))?;
    let (count, missing) = pods_without(&client, namespace, &d, var).await?;
    if missing.is_empty() {
        return Ok(Done::with(
            Outcome::Unchanged,
            format!("{count} pods carry {var}"),
        ));
    }
    s.progress(format!(
        "pods {} run without {var} (created before the identity was in place); restarting them",
        missing.join(", ")
    ));
    let now = jiff::Timestamp::now().to_string();
    let restart = Patch::Merge(json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": now
    }}}}}));
    let pp = PatchParams::default();
    retried(|| api.patch(name, &pp, &restart))
        .await
        .with_context(|| format!("restarting Deployment {namespace}/{name}"))?;
    let obj = Object::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
    }))?;
    applier.wait_for(s, &obj).await?;
    // The old pods may take a moment to go after the rollout completes.
    for _ in 0..15 {
        let d = retried(|| api.get(name)).await?;
        let (count, missing) = pods_without(&client, namespace, &d, var).await?;
        if missing.is_empty() {
            return Ok(Done::with(
                Outcome::Updated,
                format!("restarted; {count} pods carry {var}"),
            ));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    bail!(
        "the pods of Deployment {namespace}/{name} still run without {var} after a restart, so KEDA's AWS scalers would use the node's role; {}",
        match identity {
            KedaIdentity::Irsa =>
                "check that the service account keda-operator has the eks.amazonaws.com/role-arn annotation and that the cluster's OIDC provider exists (eksscale status)",
            KedaIdentity::PodIdentity =>
                "check that the eks-pod-identity-agent add-on is ACTIVE and the pod identity association for keda/keda-operator exists (eksscale status)",
        }
    )
}
