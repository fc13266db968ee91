//! EC2 instances of the cluster that outlive its node groups (tag
//! `eks:cluster-name=<cluster>`, which EKS puts on managed nodes, or
//! `kubernetes.io/cluster/<cluster>`): normally none, since deleting a
//! managed node group terminates its instances; `down` terminates what is
//! left so nothing keeps billing, and its proof lists any that remain.

use std::time::Duration;

use super::{Cx, Deletion, DiscoverCx, Kind, Observed, Phase};
use crate::aws::tags::{self, ec2_filter};
use crate::aws::{AwsResultExt, describe_error, error_code};
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "ec2-instance";
pub const DELETE_AFTER: &[Kind] = &[Kind::NodeGroup];
pub const BILLABLE: bool = true;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;
pub const TYPE: &str = "instanceType";
pub const STATUS_COLUMNS: &[&str] = &[TYPE];

const LIVE: [&str; 4] = ["pending", "running", "stopping", "stopped"];

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let filters = [
        ec2_filter("tag:eks:cluster-name", cx.cluster),
        aws_sdk_ec2::types::Filter::builder()
            .name("tag-key")
            .values(format!("kubernetes.io/cluster/{}", cx.cluster))
            .build(),
    ];
    let mut out: Vec<Observed> = Vec::new();
    for f in filters {
        let state = aws_sdk_ec2::types::Filter::builder()
            .name("instance-state-name")
            .set_values(Some(LIVE.iter().map(|s| s.to_string()).collect()))
            .build();
        let pages: Vec<_> = cx
            .aws
            .ec2
            .describe_instances()
            .filters(f)
            .filters(state)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .ctx("ec2:DescribeInstances")?;
        for r in pages {
            for i in r.instances() {
                let id = i.instance_id().unwrap_or_default().to_string();
                if out.iter().any(|o| o.id == id) {
                    continue;
                }
                let mut o = Observed::new(Kind::Instance, &id)
                    .attr(
                        TYPE,
                        i.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                    )
                    .tags(tags::from_ec2(i.tags()));
                o.state = i
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string());
                out.push(o);
            }
        }
    }
    Ok(out)
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let ec2 = &cx.aws.ec2;
    match ec2.terminate_instances().instance_ids(&obs.id).send().await {
        Ok(_) => {}
        Err(e) if error_code(&e) == Some("InvalidInstanceID.NotFound") => {
            return Ok(Done::new(Outcome::Absent));
        }
        Err(e) => return Err(describe_error("ec2:TerminateInstances", e)),
    }
    cx.step
        .wait(
            format!("instance {} to terminate", obs.id),
            Duration::from_secs(10 * 60),
            Duration::from_secs(10),
            || async {
                let r = ec2
                    .describe_instances()
                    .instance_ids(&obs.id)
                    .send()
                    .await
                    .found("ec2:DescribeInstances", &["InvalidInstanceID.NotFound"])?;
                // No longer known to EC2: terminated long enough ago.
                let state = r
                    .iter()
                    .flat_map(|r| r.reservations())
                    .flat_map(|r| r.instances())
                    .find_map(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()))
                    .unwrap_or_else(|| "terminated".into());
                Ok(if state == "terminated" {
                    Poll::Ready(())
                } else {
                    Poll::Pending(state)
                })
            },
        )
        .await?;
    Ok(Done::new(Outcome::Deleted))
}
