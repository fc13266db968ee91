//! Security groups Kubernetes or EKS made for this cluster in its VPC (for
//! load balancers: `kubernetes.io/cluster/<cluster>`,
//! `elbv2.k8s.aws/cluster`; EKS's own: `aws:eks:cluster-name`). They block
//! deleting the VPC; `down` sweeps each VPC for them once ENIs and load
//! balancers are gone. Groups may reference each other, so the sweep drops
//! the rules of the groups it deletes first. Any other non-default group is
//! not the cluster's: reported as what blocks the VPC, its rules untouched.

use std::time::Duration;

use super::{Cx, Deletion, DiscoverCx, Kind, Observed, Phase, SWEEP, VPC};
use crate::aws::tags;
use crate::aws::{Aws, AwsResultExt, describe_error, error_code};
use crate::engine::wait::Poll;
use crate::engine::Done;

pub const LABEL: &str = "security-group";
pub const DELETE_AFTER: &[Kind] = &[
    Kind::EksCluster,
    Kind::NodeGroup,
    Kind::ClassicLoadBalancer,
    Kind::LoadBalancer,
    Kind::NetworkInterface,
];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::InVpc;
pub const DELETION: Deletion = Deletion::SweptPerVpc;
pub const STATUS_COLUMNS: &[&str] = &["name"];

const TIMEOUT: Duration = Duration::from_secs(10 * 60);

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let mut out = Vec::new();
    for vpc in cx.vpcs {
        out.extend(in_vpc(cx.aws, cx.cluster, vpc).await?);
    }
    Ok(out)
}

async fn in_vpc(aws: &Aws, cluster: &str, vpc: &str) -> anyhow::Result<Vec<Observed>> {
    let sgs = aws
        .ec2
        .describe_security_groups()
        .filters(tags::ec2_filter("vpc-id", vpc))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeSecurityGroups")?;
    Ok(sgs
        .iter()
        .filter(|g| g.group_name() != Some("default"))
        .map(|sg| {
            let mut o = Observed::new(Kind::SecurityGroup, sg.group_id().unwrap_or_default());
            if let Some(n) = sg.group_name() {
                o.attrs.insert("name".into(), n.to_string());
            }
            o.internal.insert(VPC.into(), vpc.to_string());
            let t: Vec<(String, String)> = tags::from_ec2(sg.tags()).into_iter().collect();
            if let Some(owner) = sg.owner_id() {
                o.internal.insert(super::OWNER.into(), owner.to_string());
            }
            if super::kube_made(&t, cluster).is_none() {
                o.foreign = Some(super::not_kube_made(cluster));
            }
            o
        })
        .collect())
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    if !obs.internal.contains_key(SWEEP) {
        return delete_one(cx, &obs.id).await;
    }
    // A sweep of VPC `obs.id`: list again now, delete what is the cluster's.
    let found: Vec<Observed> = in_vpc(cx.aws, cx.cluster, &obs.id)
        .await?
        .into_iter()
        .filter(Observed::is_ours)
        .collect();
    for sg in &found {
        revoke_all(cx.aws, &sg.id).await?;
    }
    for o in &found {
        cx.step.progress(format!("deleting {}", o.id));
        delete_one(cx, &o.id).await?;
    }
    Ok(super::swept(&found))
}

async fn delete_one(cx: &Cx<'_>, id: &str) -> anyhow::Result<Done> {
    let deleted = cx
        .step
        .wait(
            format!("security group {id} to be unused"),
            TIMEOUT,
            Duration::from_secs(15),
            || async {
                match cx.aws.ec2.delete_security_group().group_id(id).send().await {
                    Ok(_) => Ok(Poll::Ready(true)),
                    Err(e) if error_code(&e) == Some("InvalidGroup.NotFound") => {
                        Ok(Poll::Ready(false))
                    }
                    Err(e) if error_code(&e) == Some("DependencyViolation") => {
                        Ok(Poll::Pending("still referenced".into()))
                    }
                    Err(e) => Err(describe_error("ec2:DeleteSecurityGroup", e)),
                }
            },
        )
        .await?;
    Ok(super::gone(deleted))
}

const GROUP_GONE: &[&str] = &["InvalidGroup.NotFound"];
/// The group, or the rule, went meanwhile: what revoking wanted.
const REVOKE_GONE: &[&str] = &["InvalidGroup.NotFound", "InvalidPermission.NotFound"];

/// Drops a group's rules (only ever called for groups about to be deleted).
async fn revoke_all(aws: &Aws, group: &str) -> anyhow::Result<()> {
    let r = aws
        .ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .found("ec2:DescribeSecurityGroups", GROUP_GONE)?;
    // Deleted since the listing (by its controller): nothing to revoke.
    let Some(r) = r else {
        return Ok(());
    };
    for sg in r.security_groups() {
        if !sg.ip_permissions().is_empty() {
            aws.ec2
                .revoke_security_group_ingress()
                .group_id(group)
                .set_ip_permissions(Some(sg.ip_permissions().to_vec()))
                .send()
                .await
                .found("ec2:RevokeSecurityGroupIngress", REVOKE_GONE)?;
        }
        let refs_groups: Vec<_> = sg
            .ip_permissions_egress()
            .iter()
            .filter(|p| !p.user_id_group_pairs().is_empty())
            .cloned()
            .collect();
        if !refs_groups.is_empty() {
            aws.ec2
                .revoke_security_group_egress()
                .group_id(group)
                .set_ip_permissions(Some(refs_groups))
                .send()
                .await
                .found("ec2:RevokeSecurityGroupEgress", REVOKE_GONE)?;
        }
    }
    Ok(())
}
