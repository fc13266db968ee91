//! Classic ELBs that Kubernetes `Service type: LoadBalancer` left in the VPC
//! (the in-tree cloud provider makes them, tagged
//! `kubernetes.io/cluster/<cluster>`). They bill and block deleting the
//! subnets, so `down` removes them before the network; one without that tag
//! is not this cluster's: it is reported as what blocks the VPC, never
//! deleted.

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
    let mut out = Vec::new();
    // DescribeTags takes at most 20 names.
    for chunk in ours.chunks(20) {
        let r = cx
            .aws
            .elb
            .describe_tags()
            .set_load_balancer_names(Some(chunk.iter().map(|(n, _)| n.clone()).collect()))
            .send()
            .await
            .ctx("elasticloadbalancing:DescribeTags")?;
        for (name, vpc) in chunk {
            let tags: Vec<(String, String)> = r
                .tag_descriptions()
                .iter()
                .filter(|d| d.load_balancer_name() == Some(name.as_str()))
                .flat_map(|d| d.tags())
                .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()))
                .collect();
            let mut o = Observed::new(Kind::ClassicLoadBalancer, name);
            o.internal.insert(VPC.into(), vpc.clone());
            o.foreign = super::kube_made(&tags, cx.cluster)
                .is_none()
                .then(|| super::not_kube_made(cx.cluster));
            out.push(o);
        }
    }
    Ok(out)
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
