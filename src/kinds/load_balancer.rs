//! ALBs/NLBs and their target groups that the AWS Load Balancer Controller
//! (tag `elbv2.k8s.aws/cluster=<cluster>`) or the in-tree NLB support (tag
//! `kubernetes.io/cluster/<cluster>`) left in the VPC. They bill and block
//! deleting the subnets; target groups are in use until their load
//! balancer's listeners go. Untagged ones are not this cluster's: reported
//! as what blocks the VPC, never deleted.

use std::time::Duration;

use super::{Cx, Deletion, DiscoverCx, Kind, Observed, Phase, VPC};
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
    fn in_vpc<'a>(vpcs: &[String], v: Option<&'a str>) -> Option<&'a str> {
        v.filter(|v| vpcs.iter().any(|x| x == v))
    }
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
    let mut found: Vec<Observed> = Vec::new();
    for lb in &lbs {
        if let Some(vpc) = in_vpc(cx.vpcs, lb.vpc_id()) {
            let mut o = Observed::new(
                Kind::LoadBalancer,
                lb.load_balancer_arn().unwrap_or_default(),
            );
            o.internal.insert(TYPE.into(), "load-balancer".into());
            // application | network | gateway (for what `down` says it costs).
            o.attrs.insert(
                "type".into(),
                lb.r#type().map(|t| t.as_str().to_string()).unwrap_or_default(),
            );
            o.internal.insert(VPC.into(), vpc.to_string());
            found.push(o);
        }
    }
    for tg in &groups {
        if let Some(vpc) = in_vpc(cx.vpcs, tg.vpc_id()) {
            let mut o = Observed::new(
                Kind::LoadBalancer,
                tg.target_group_arn().unwrap_or_default(),
            );
            o.internal.insert(TYPE.into(), TARGET_GROUP.into());
            o.internal.insert(VPC.into(), vpc.to_string());
            found.push(o);
        }
    }
    let ids: Vec<String> = found.iter().map(|o| o.id.clone()).collect();
    let tagged = tags_of(elbv2, &ids).await?;
    // Gone between the listing and DescribeTags (its controller deleted it):
    // not left over.
    found.retain(|o| tagged.contains_key(&o.id));
    for o in &mut found {
        let tags = tagged.get(&o.id).cloned().unwrap_or_default();
        if super::kube_made(&tags, cx.cluster).is_none() {
            o.foreign = Some(super::not_kube_made(cx.cluster));
        }
    }
    Ok(found)
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let id = obs.id.as_str();
    let elbv2 = &cx.aws.elbv2;
    if obs.internal.get(TYPE).map(String::as_str) == Some(TARGET_GROUP) {
        let existed = cx
            .step
            .wait(
                format!("target group {id} to be released"),
                TIMEOUT,
                Duration::from_secs(10),
                || async {
                    match elbv2.delete_target_group().target_group_arn(id).send().await {
                        Ok(_) => Ok(Poll::Ready(true)),
                        Err(e) if error_code(&e) == Some("TargetGroupNotFound") => {
                            Ok(Poll::Ready(false))
                        }
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
        return Ok(super::gone(existed));
    }
    match elbv2.delete_load_balancer().load_balancer_arn(id).send().await {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e) if error_code(&e) == Some("LoadBalancerNotFound") => {
            Ok(Done::new(Outcome::Absent))
        }
        Err(e) => Err(describe_error(
            "elasticloadbalancing:DeleteLoadBalancer (v2)",
            e,
        )),
    }
}

pub type TagList = Vec<(String, String)>;

/// DescribeTags in calls of at most 20 keys (ARNs or names, both APIs'
/// limit). Such a call fails as a whole when one of its keys was deleted
/// after the listing (a controller does so while `down` waits); `describe`
/// answers `None` then, and that chunk is described one key at a time, the
/// gone ones left out.
pub async fn describe_in_batches<T, F, Fut>(keys: &[String], describe: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let mut out = Vec::new();
    for chunk in keys.chunks(20) {
        match describe(chunk.to_vec()).await? {
            Some(r) => out.push(r),
            None => {
                for key in chunk {
                    out.extend(describe(vec![key.clone()]).await?);
                }
            }
        }
    }
    Ok(out)
}

/// Tags by ARN of load balancers and target groups that still exist.
pub async fn tags_of(
    elbv2: &aws_sdk_elasticloadbalancingv2::Client,
    arns: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, TagList>> {
    const GONE: &[&str] = &["LoadBalancerNotFound", "TargetGroupNotFound"];
    let described = describe_in_batches(arns, |arns| async move {
        elbv2
            .describe_tags()
            .set_resource_arns(Some(arns))
            .send()
            .await
            .found("elasticloadbalancing:DescribeTags (v2)", GONE)
    })
    .await?;
    Ok(described
        .iter()
        .flat_map(|r| r.tag_descriptions())
        .map(|d| {
            let tags = d.tags().iter().map(|t| {
                let (k, v) = (t.key().unwrap_or_default(), t.value().unwrap_or_default());
                (k.to_string(), v.to_string())
            });
            (d.resource_arn().unwrap_or_default().to_string(), tags.collect())
        })
        .collect())
}
