//! The Kubernetes side of `up` and `down` as engine steps: reaching the API
//! (the EKS endpoint, or a given kubeconfig), waiting until it answers,
//! writing the user's kubeconfig entry, and finding what eksscale applied so
//! `down` can delete it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use super::apply::Applier;
use super::{Target, context_name, eks_entry, kubeconfig};
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome, Step, Verb};
use crate::kinds::steps::{Outputs, RunCtx};
use crate::kinds::{NodeId, Resolve, cluster};

pub const CONNECT: &str = "k8s/connect";
pub const KUBECONFIG: &str = "kubeconfig";

/// How the Kubernetes phase reaches the API.
#[derive(Debug, Clone)]
pub enum KubeAccess {
    /// A kubeconfig given with `--kubeconfig` (tunnels, proxies, tests).
    File {
        path: std::path::PathBuf,
        context: Option<String>,
    },
    /// The EKS endpoint, authenticated with `eksscale token`.
    Eks,
}

impl KubeAccess {
    /// The concrete target, once the cluster (if EKS) is known.
    pub fn target(&self, name: &str, region: &str, r: &dyn Resolve) -> anyhow::Result<Target> {
        Ok(match self {
            KubeAccess::File { path, context } => Target::File {
                path: path.clone(),
                context: context.clone(),
            },
            KubeAccess::Eks => {
                let c = r
                    .get(cluster::ID)
                    .context("the cluster does not exist yet")?;
                let (Some(endpoint), Some(ca)) = (
                    c.internal.get(cluster::ENDPOINT),
                    c.internal.get(cluster::CA),
                ) else {
                    bail!("cluster {name} has no endpoint yet");
                };
                Target::Eks(eks_entry(
                    &context_name(name, region),
                    name,
                    region,
                    endpoint,
                    ca,
                ))
            }
        })
    }
}

/// Connects once `deps` are done (the cluster and the identities KEDA needs),
/// waits until the API answers, and hands the client to `applier`.
pub fn connect_step(
    ctx: &RunCtx,
    region: &str,
    access: &KubeAccess,
    applier: &Arc<Applier>,
    outputs: &Outputs,
    deps: Vec<NodeId>,
) -> Step {
    let (ctx, region, access, applier, outputs) = (
        ctx.clone(),
        region.to_string(),
        access.clone(),
        applier.clone(),
        outputs.clone(),
    );
    Step {
        id: CONNECT.into(),
        deps,
        verb: Verb::Connect,
        run: Box::new(move || {
            Box::pin(async move {
                let s = ctx.step(CONNECT);
                let target = access.target(&ctx.cluster, &region, &outputs)?;
                let client = super::client(&target).await?;
                // A new endpoint's DNS and a new access entry take a moment to
                // work; `/version` proves the login, a SelfSubjectAccessReview
                // that the access policy is in effect for what `up` does.
                let version = s
                    .wait(
                        "the Kubernetes API to answer and allow eksscale's changes",
                        Duration::from_secs(5 * 60),
                        Duration::from_secs(10),
                        || async {
                            let v = match client.apiserver_version().await {
                                Ok(v) => v.git_version,
                                Err(e) => return Ok(Poll::Pending(e.to_string())),
                            };
                            Ok(match missing_permission(&client).await {
                                Ok(None) => Poll::Ready(v),
                                Ok(Some(why)) => Poll::Pending(why),
                                Err(e) => Poll::Pending(format!("access review failed: {e}")),
                            })
                        },
                    )
                    .await?;
                applier.connect(client);
                Ok(Done::with(
                    Outcome::Unchanged,
                    format!("Kubernetes {version}"),
                ))
            })
        }),
    }
}

/// What `up` does on the cluster, as (verb, group, resource, namespace).
const NEEDED: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "create",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        None,
    ),
    (
        "create",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        None,
    ),
    ("patch", "apps", "deployments", Some("keda")),
    ("delete", "", "namespaces", None),
];

/// The first of [`NEEDED`] the caller may not do yet, or `None`.
async fn missing_permission(client: &kube::Client) -> anyhow::Result<Option<String>> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let api: kube::Api<SelfSubjectAccessReview> = kube::Api::all(client.clone());
    for (verb, group, resource, ns) in NEEDED {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_string()),
                    group: Some(group.to_string()),
                    resource: Some(resource.to_string()),
                    namespace: ns.map(str::to_string),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let r = api.create(&Default::default(), &review).await?;
        let status = r.status.unwrap_or_default();
        if !status.allowed {
            return Ok(Some(format!(
                "not allowed to {verb} {resource}{} yet{} (a new EKS access entry takes a moment to apply)",
                if group.is_empty() {
                    String::new()
                } else {
                    format!(".{group}")
                },
                status
                    .reason
                    .filter(|r| !r.is_empty())
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )));
        }
    }
    Ok(None)
}

/// Writes the user's kubeconfig entry once the cluster is ACTIVE.
pub fn kubeconfig_step(name: &str, region: &str, outputs: &Outputs) -> Step {
    let (name, region, outputs) = (name.to_string(), region.to_string(), outputs.clone());
    Step {
        id: KUBECONFIG.into(),
        deps: vec![cluster::ID.into()],
        verb: Verb::Write,
        run: Box::new(move || {
            Box::pin(async move {
                let Target::Eks(entry) = KubeAccess::Eks.target(&name, &region, &outputs)? else {
                    unreachable!("EKS access gives an EKS target")
                };
                let path = kubeconfig::default_path()?;
                let before = std::fs::read_to_string(&path).ok();
                kubeconfig::update(&path, &entry)?;
                let after = std::fs::read_to_string(&path).ok();
                let had_entry = before
                    .as_deref()
                    .is_some_and(|t| t.contains(&format!("name: {}", entry.name)));
                let outcome = if before == after {
                    Outcome::Unchanged
                } else if had_entry {
                    Outcome::Updated
                } else {
                    Outcome::Created
                };
                Ok(Done::with(
                    outcome,
                    format!("context {} in {}", entry.name, path.display()),
                ))
            })
        }),
    }
}

/// For `down`: a connected applier and client, or why the API cannot be
/// reached (deleting the cluster removes the objects anyway, so `down` goes
/// on without them).
pub async fn reach(
    cluster: &str,
    region: &str,
    access: &KubeAccess,
    world: &dyn Resolve,
) -> Result<(Arc<Applier>, kube::Client), String> {
    let reachable = async {
        let target = access.target(cluster, region, world)?;
        let client = super::client(&target).await?;
        client.apiserver_version().await?;
        let applier = Arc::new(Applier::new(cluster, false, Duration::from_secs(5 * 60)));
        applier.connect(client.clone());
        anyhow::Ok((applier, client))
    };
    match tokio::time::timeout(Duration::from_secs(60), reachable).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("cannot reach the Kubernetes API ({e:#})")),
        Err(_) => Err("the Kubernetes API did not answer within 60s".into()),
    }
}
