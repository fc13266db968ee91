//! Classic ELBs that Kubernetes `Service type: LoadBalancer` left in the VPC
//! (the in-tree cloud provider makes them). They bill and block deleting the
//! subnets, so `down` removes them before the network.

use super::{Cx, Deletion, DiscoverCx, Kind, Observed, Phase};
use crate::aws::AwsResultExt;
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
    Ok(lbs
        .iter()
        .filter(|l| l.vpc_id().is_some_and(|v| cx.vpcs.iter().any(|x| x == v)))
        .map(|lb| {
            Observed::new(
                Kind::ClassicLoadBalancer,
                lb.load_balancer_name().unwrap_or_default(),
            )
        })
        .collect())
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    cx.aws
        .elb
        .delete_load_balancer()
        .load_balancer_name(&obs.id)
        .send()
        .await
        .ctx("elasticloadbalancing:DeleteLoadBalancer")?;
    Ok(Done::new(Outcome::Deleted))
}
