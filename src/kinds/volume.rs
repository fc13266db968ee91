//! EBS volumes the cluster's storage drivers left: the EBS CSI driver's (tag
//! `kubernetes.io/cluster/<cluster>`, set with `k8sTagClusterId`) and the
//! in-tree plugin's (`KubernetesCluster=<cluster>`). `down` first deletes
//! their PersistentVolumeClaims through Kubernetes (the driver deletes the
//! volume); what is left after that, or when the API cannot be reached, is
//! deleted here once the node groups are gone (a volume attached to a node
//! cannot be deleted). A volume without those tags is not the cluster's and
//! is never touched.

use std::time::Duration;

use super::{Cx, Deletion, DiscoverCx, Kind, Observed, Phase};
use crate::aws::tags::{self, ec2_filter};
use crate::aws::{AwsResultExt, describe_error, error_code};
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "ebs-volume";
pub const DELETE_AFTER: &[Kind] = &[Kind::NodeGroup];
pub const BILLABLE: bool = true;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;
pub const SIZE: &str = "sizeGiB";
pub const TYPE: &str = "volumeType";
pub const STATUS_COLUMNS: &[&str] = &[SIZE, TYPE];

/// The filters that find volumes made for `cluster` (one query each: EC2
/// filters are ANDed).
pub fn cluster_filters(cluster: &str) -> Vec<aws_sdk_ec2::types::Filter> {
    vec![
        aws_sdk_ec2::types::Filter::builder()
            .name("tag-key")
            .values(format!("kubernetes.io/cluster/{cluster}"))
            .build(),
        ec2_filter("tag:KubernetesCluster", cluster),
        ec2_filter("tag:eksscale.io/cluster", cluster),
    ]
}

/// Whether the tags tie the resource to `cluster` (and how).
pub fn made_for(t: &[(String, String)], cluster: &str) -> bool {
    super::kube_made(t, cluster).is_some()
        || t.iter().any(|(k, v)| {
            (k == "KubernetesCluster" || k == tags::TAG_CLUSTER) && v == cluster
        })
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let mut out: Vec<Observed> = Vec::new();
    for f in cluster_filters(cx.cluster) {
        let vols: Vec<_> = cx
            .aws
            .ec2
            .describe_volumes()
            .filters(f)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .ctx("ec2:DescribeVolumes")?;
        for v in vols {
            let id = v.volume_id().unwrap_or_default().to_string();
            if out.iter().any(|o| o.id == id) {
                continue;
            }
            let t = tags::from_ec2(v.tags());
            let pairs: Vec<(String, String)> = t.clone().into_iter().collect();
            let mut o = Observed::new(Kind::Volume, &id)
                .attr(SIZE, v.size().unwrap_or(0).to_string())
                .attr(
                    TYPE,
                    v.volume_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                )
                .tags(t);
            o.state = v.state().map(|s| s.as_str().to_string());
            if !made_for(&pairs, cx.cluster) {
                o.foreign = Some(super::not_kube_made(cx.cluster));
            }
            out.push(o);
        }
    }
    Ok(out)
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let id = obs.id.as_str();
    let ec2 = &cx.aws.ec2;
    // Attached to a node: it frees up when the node group's instances go.
    let existed = cx
        .step
        .wait(
            format!("EBS volume {id} to be detached and deleted"),
            Duration::from_secs(10 * 60),
            Duration::from_secs(10),
            || async {
                match ec2.delete_volume().volume_id(id).send().await {
                    Ok(_) => Ok(Poll::Ready(true)),
                    Err(e) if error_code(&e) == Some("InvalidVolume.NotFound") => {
                        Ok(Poll::Ready(false))
                    }
                    Err(e) if error_code(&e) == Some("VolumeInUse") => {
                        Ok(Poll::Pending("attached to an instance".into()))
                    }
                    Err(e) => Err(describe_error("ec2:DeleteVolume", e)),
                }
            },
        )
        .await?;
    Ok(if existed {
        Done::new(Outcome::Deleted)
    } else {
        Done::new(Outcome::Absent)
    })
}
