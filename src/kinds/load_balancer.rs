//! ALBs/NLBs and their target groups that the AWS Load Balancer Controller
//! left in the VPC. They bill and block deleting the subnets; target groups
//! are in use until their load balancer's listeners go.

use std::time::Duration;

use super::{Cx, Deletion, DiscoverCx, Kind, Observed, Phase};
use crate::aws::{AwsResultExt, describe_error, error_code};
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "load-balancer";
pub const DELETE_AFTER: &[Kind] = &[];
pub const BILLABLE: bool = true;
pub const PHASE: Phase = Phase::InVpc;
pub const DELETION: Deletion = Deletion::Each;
pub const STATUS_COLUMNS: &[&str] = &[];

/// `Observed::internal` key: `load-balancer` or `target-group`.
const TYPE: &str = "type";
const TARGET_GROUP: &str = "target-group";
const TIMEOUT: Duration = Duration::from_secs(10 * 60);

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let elbv2 = &cx.aws.elbv2;
    let in_vpc = |v: Option<&str>| v.is_some_and(|v| cx.vpcs.iter().any(|x| x == v));
    let (lbs, groups) = tokio::try_join!(
        async {
            elbv2
                .describe_load_balancers()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .ctx("elasticloadbalancing:DescribeLoadBalancers (v2)")
        },
        async {
            elbv2
                .describe_target_groups()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .ctx("elasticloadbalancing:DescribeTargetGroups")
        },
    )?;
    let mut out = Vec::new();
    for lb in lbs.iter().filter(|l| in_vpc(l.vpc_id())) {
        let mut o = Observed::new(
            Kind::LoadBalancer,
            lb.load_balancer_arn().unwrap_or_default(),
        );
        o.internal.insert(TYPE.into(), "load-balancer".into());
        out.push(o);
    }
    for tg in groups.iter().filter(|g| in_vpc(g.vpc_id())) {
        let mut o = Observed::new(
            Kind::LoadBalancer,
            tg.target_group_arn().unwrap_or_default(),
        );
        o.internal.insert(TYPE.into(), TARGET_GROUP.into());
        out.push(o);
    }
    Ok(out)
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let id = obs.id.as_str();
    let elbv2 = &cx.aws.elbv2;
    if obs.internal.get(TYPE).map(String::as_str) == Some(TARGET_GROUP) {
        cx.step
            .wait(
                format!("target group {id} to be released"),
                TIMEOUT,
                Duration::from_secs(10),
                || async {
                    match elbv2.delete_target_group().target_group_arn(id).send().await {
                        Ok(_) => Ok(Poll::Ready(())),
                        Err(e) if error_code(&e) == Some("ResourceInUse") => {
                            Ok(Poll::Pending("in use".into()))
                        }
                        Err(e) => Err(describe_error(
                            "elasticloadbalancing:DeleteTargetGroup",
                            e,
                        )),
                    }
                },
            )
            .await?;
        return Ok(Done::new(Outcome::Deleted));
    }
    elbv2
        .delete_load_balancer()
        .load_balancer_arn(id)
        .send()
        .await
        .ctx("elasticloadbalancing:DeleteLoadBalancer (v2)")?;
    Ok(Done::new(Outcome::Deleted))
}
