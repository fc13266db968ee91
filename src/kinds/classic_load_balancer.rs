//! Classic ELBs that Kubernetes `Service type: LoadBalancer` left in the VPC
//! (the in-tree cloud provider makes them, tagged
//! `kubernetes.io/cluster/<cluster>`). They bill and block deleting the
//! subnets, so `down` removes them before the network; one without that tag
//! is not this cluster's: it is reported as what blocks the VPC, never
//! deleted.

use super::load_balancer::{TagList, describe_in_batches};
use super::{Cx, Deletion, DiscoverCx, Kind, Observed, Phase, VPC};
use crate::aws::{AwsResultExt, describe_error, error_code};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "classic-load-balancer";
pub const DELETE_AFTER: &[Kind] = &[];
pub const BILLABLE: bool = true;
pub const PHASE: Phase = Phase::InVpc;
pub const DELETION: Deletion = Deletion::Each;
pub const STATUS_COLUMNS: &[&str] = &[];

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let lbs = cx
        .aws
        .elb
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("elasticloadbalancing:DescribeLoadBalancers")?;
    let ours: Vec<(String, String)> = lbs
        .iter()
        .filter_map(|l| {
            let vpc = l.vpc_id()?;
            cx.vpcs
                .iter()
                .any(|x| x == vpc)
                .then(|| (l.load_balancer_name().unwrap_or_default().to_string(), vpc.to_string()))
        })
        .collect();
    let names: Vec<String> = ours.iter().map(|(n, _)| n.clone()).collect();
    let tagged = tags_of(&cx.aws.elb, &names).await?;
    Ok(ours
        .into_iter()
        // Gone between the listing and DescribeTags: not left over.
        .filter_map(|(name, vpc)| {
            let tags = tagged.get(&name)?;
            let mut o = Observed::new(Kind::ClassicLoadBalancer, &name);
            o.internal.insert(VPC.into(), vpc);
            o.foreign = super::kube_made(tags, cx.cluster)
                .is_none()
                .then(|| super::not_kube_made(cx.cluster));
            Some(o)
        })
        .collect())
}

/// Tags by name of the load balancers that still exist.
pub async fn tags_of(
    elb: &aws_sdk_elasticloadbalancing::Client,
    names: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, TagList>> {
    let described = describe_in_batches(names, |names| async move {
        elb.describe_tags()
            .set_load_balancer_names(Some(names))
            .send()
            .await
            .found("elasticloadbalancing:DescribeTags", &["LoadBalancerNotFound"])
    })
    .await?;
    Ok(described
        .iter()
        .flat_map(|r| r.tag_descriptions())
        .map(|d| {
            let tags = d.tags().iter().map(|t| {
                (t.key().to_string(), t.value().unwrap_or_default().to_string())
            });
            (d.load_balancer_name().unwrap_or_default().to_string(), tags.collect())
        })
        .collect())
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    match cx
        .aws
        .elb
        .delete_load_balancer()
        .load_balancer_name(&obs.id)
        .send()
        .await
    {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e) if error_code(&e) == Some("LoadBalancerNotFound") => {
            Ok(Done::new(Outcome::Absent))
        }
        Err(e) => Err(describe_error("elasticloadbalancing:DeleteLoadBalancer", e)),
    }
}
