//! EBS snapshots the cluster's CSI snapshotter made (tagged like its volumes,
//! see `volume`): they bill per GiB-month after the cluster is gone. Ours
//! only by those tags; anything else is never touched.

use super::{Cx, Deletion, DiscoverCx, Kind, Observed, Phase};
use crate::aws::tags;
use crate::aws::{AwsResultExt, describe_error, error_code};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "ebs-snapshot";
pub const DELETE_AFTER: &[Kind] = &[];
pub const BILLABLE: bool = true;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;
pub const SIZE: &str = "sizeGiB";
pub const STATUS_COLUMNS: &[&str] = &[SIZE];

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let mut out: Vec<Observed> = Vec::new();
    for f in super::volume::cluster_filters(cx.cluster) {
        let snaps: Vec<_> = cx
            .aws
            .ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(f)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .ctx("ec2:DescribeSnapshots")?;
        for s in snaps {
            let id = s.snapshot_id().unwrap_or_default().to_string();
            if out.iter().any(|o| o.id == id) {
                continue;
            }
            let t = tags::from_ec2(s.tags());
            let pairs: Vec<(String, String)> = t.clone().into_iter().collect();
            let mut o = Observed::new(Kind::Snapshot, &id)
                .attr(SIZE, s.volume_size().unwrap_or(0).to_string())
                .tags(t);
            if !super::volume::made_for(&pairs, cx.cluster) {
                o.foreign = Some(super::not_kube_made(cx.cluster));
            }
            out.push(o);
        }
    }
    Ok(out)
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    match cx.aws.ec2.delete_snapshot().snapshot_id(&obs.id).send().await {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e) if error_code(&e) == Some("InvalidSnapshot.NotFound") => {
            Ok(Done::new(Outcome::Absent))
        }
        Err(e) => Err(describe_error("ec2:DeleteSnapshot", e)),
    }
}
