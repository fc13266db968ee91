//! `down`, Kubernetes first: what in the cluster holds AWS resources is
//! deleted through the API so that its controllers release them, before the
//! node groups and the cluster go (the controllers would otherwise recreate
//! a load balancer while nodes drain, and nothing would delete a volume).
//!
//! - Services of `type: LoadBalancer`: the service controller (in-tree AWS
//!   cloud provider or the AWS Load Balancer Controller) deletes the load
//!   balancer, then removes its finalizer (`service.kubernetes.io/
//!   load-balancer-cleanup`, `service.k8s.aws/resources`).
//! - Ingresses the AWS Load Balancer Controller handles (the annotation
//!   `kubernetes.io/ingress.class: alb`, or an `ingressClassName` whose
//!   IngressClass has `spec.controller: ingress.k8s.aws/alb`): the ALB.
//! - PersistentVolumeClaims bound to EBS volumes (the `ebs.csi.aws.com` CSI
//!   driver or the in-tree `awsElasticBlockStore`): with reclaim policy
//!   Delete the driver deletes the volume once the claim is gone.
//!
//! The wait is bounded: what is still there at the deadline (or everything,
//! when the API cannot be reached) is deleted from AWS by the cluster's
//! Kubernetes ownership tags (kinds `load_balancer`, `classic_load_balancer`,
//! `volume`).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Api, DeleteParams, ListParams};

use super::apply::retried;
use crate::engine::step::StepCtx;
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome};

pub const RELEASE_STEP: &str = "k8s/release-aws-resources";
const ALB_CONTROLLER: &str = "ingress.k8s.aws/alb";

/// What holds AWS resources: (kind, namespace, name), and the EBS-backed
/// PersistentVolumes of the claims.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Holders {
    objects: BTreeSet<(&'static str, String, String)>,
    volumes: BTreeSet<String>,
}

async fn holders(client: &kube::Client) -> Result<Holders, kube::Error> {
    let lp = ListParams::default();
    let services: Api<Service> = Api::all(client.clone());
    let ingresses: Api<Ingress> = Api::all(client.clone());
    let classes: Api<IngressClass> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::all(client.clone());
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let mut h = Holders::default();
    for s in retried(|| services.list(&lp)).await?.items {
        if s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer") {
            h.objects.insert((
                "Service",
                s.metadata.namespace.unwrap_or_default(),
                s.metadata.name.unwrap_or_default(),
            ));
        }
    }
    let alb_classes: BTreeSet<String> = retried(|| classes.list(&lp))
        .await?
        .items
        .into_iter()
        .filter(|c| c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(ALB_CONTROLLER))
        .filter_map(|c| c.metadata.name)
        .collect();
    for i in retried(|| ingresses.list(&lp)).await?.items {
        let annotation = i
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubernetes.io/ingress.class"))
            .cloned();
        let class = i.spec.as_ref().and_then(|s| s.ingress_class_name.clone());
        let alb = match annotation {
            Some(a) => a == "alb",
            None => class.is_some_and(|c| alb_classes.contains(&c)),
        };
        if alb {
            h.objects.insert((
                "Ingress",
                i.metadata.namespace.unwrap_or_default(),
                i.metadata.name.unwrap_or_default(),
            ));
        }
    }
    let ebs: BTreeSet<String> = retried(|| volumes.list(&lp))
        .await?
        .items
        .into_iter()
        .filter(|pv| {
            pv.spec.as_ref().is_some_and(|s| {
                s.csi
                    .as_ref()
                    .is_some_and(|c| c.driver == "ebs.csi.aws.com")
                    || s.aws_elastic_block_store.is_some()
            })
        })
        .filter_map(|pv| pv.metadata.name)
        .collect();
    for c in retried(|| claims.list(&lp)).await?.items {
        let volume = c.spec.as_ref().and_then(|s| s.volume_name.clone());
        if let Some(v) = volume.filter(|v| ebs.contains(v)) {
            h.objects.insert((
                "PersistentVolumeClaim",
                c.metadata.namespace.unwrap_or_default(),
                c.metadata.name.unwrap_or_default(),
            ));
            h.volumes.insert(v);
        }
    }
    Ok(h)
}

fn describe(h: &Holders) -> String {
    let mut parts: Vec<String> = h
        .objects
        .iter()
        .map(|(k, ns, n)| format!("{k} {ns}/{n}"))
        .collect();
    parts.extend(h.volumes.iter().map(|v| format!("PersistentVolume {v}")));
    parts.join(", ")
}

async fn exists<K>(api: Api<K>, name: &str) -> Result<bool, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    Ok(retried(|| api.get_opt(name)).await?.is_some())
}

async fn delete<K>(api: Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let dp = DeleteParams::background();
    match retried(|| api.delete(name, &dp)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Still there: the objects, and the volumes they were bound to.
async fn left(client: &kube::Client, wanted: &Holders) -> Result<Vec<String>, kube::Error> {
    let mut out = Vec::new();
    for (kind, ns, name) in &wanted.objects {
        let c = client.clone();
        let found = match *kind {
            "Service" => exists(Api::<Service>::namespaced(c, ns), name).await?,
            "Ingress" => exists(Api::<Ingress>::namespaced(c, ns), name).await?,
            _ => exists(Api::<PersistentVolumeClaim>::namespaced(c, ns), name).await?,
        };
        if found {
            out.push(format!("{kind} {ns}/{name}"));
        }
    }
    for v in &wanted.volumes {
        if exists(Api::<PersistentVolume>::all(client.clone()), v).await? {
            out.push(format!("PersistentVolume {v}"));
        }
    }
    Ok(out)
}

/// Deletes every holder and waits (at most `timeout`) until its controller
/// has released the AWS resource. A deadline is not a failure: what is left
/// is deleted by tags in the AWS part of `down`, which the detail says.
pub async fn release(
    client: &kube::Client,
    s: &StepCtx,
    timeout: Duration,
) -> anyhow::Result<Done> {
    let h = holders(client).await?;
    if h.objects.is_empty() {
        return Ok(Done::new(Outcome::Absent));
    }
    s.progress(format!(
        "deleting what holds AWS resources, so its controllers release them: {}",
        describe(&h)
    ));
    for (kind, ns, name) in &h.objects {
        let c = client.clone();
        match *kind {
            "Service" => delete(Api::<Service>::namespaced(c, ns), name).await,
            "Ingress" => delete(Api::<Ingress>::namespaced(c, ns), name).await,
            _ => delete(Api::<PersistentVolumeClaim>::namespaced(c, ns), name).await,
        }
        .map_err(|e| anyhow::Error::new(e).context(format!("deleting {kind} {ns}/{name}")))?;
    }
    let waited = s
        .wait(
            "the load balancer and volume controllers to release their AWS resources",
            timeout,
            Duration::from_secs(3),
            || async {
                Ok(match left(client, &h).await {
                    Ok(l) if l.is_empty() => Poll::Ready(()),
                    Ok(l) => Poll::Pending(format!("waiting for {}", l.join(", "))),
                    Err(e) => Poll::Pending(format!("the API failed a read ({e}); retrying")),
                })
            },
        )
        .await;
    let n = h.objects.len();
    Ok(match waited {
        Ok(()) => Done::with(Outcome::Deleted, describe(&h)),
        Err(e) => Done::with(
            Outcome::Unchanged,
            format!(
                "{n} objects deleted, but not all released in time ({e:#}); what is left in AWS is deleted by its Kubernetes tags"
            ),
        ),
    })
}
