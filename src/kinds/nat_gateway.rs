//! NAT gateways: per zone or a single one (`spec.vpc.natGateway`), each with
//! its Elastic IP, in a public subnet. Created with an idempotency token;
//! waited for until available (AWS's waiter polls every 15 s); a NAT gateway
//! still being deleted by an interrupted `down` is waited out, then replaced.

use std::time::Duration;

use aws_sdk_ec2::types::{NatGatewayState, ResourceType};

use super::ec2;
use super::retry::{self, Lag};
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value};
use crate::aws::tags::{self, TAG_CLUSTER, Tags};
use crate::aws::{AwsResultExt, describe_error, error_code};
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "nat-gateway";
pub const DELETE_AFTER: &[Kind] = &[Kind::NodeGroup, Kind::EksCluster];
pub const BILLABLE: bool = true;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;

pub const SUBNET: &str = "subnet";
pub const ALLOCATION: &str = "allocation";
pub const STATUS_COLUMNS: &[&str] = &[SUBNET];

const POLL: Duration = Duration::from_secs(15);
const TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// `nat-gateway/<zone>`.
pub fn id(zone: &str) -> NodeId {
    format!("nat-gateway/{zone}")
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub subnet: NodeId,
    pub eip: NodeId,
    /// Nodes that must exist first (the internet gateway).
    pub after: Vec<NodeId>,
}

impl Desired {
    pub fn node(self, id: &str, tags: Tags) -> Node {
        let (subnet, eip, after) = (self.subnet.clone(), self.eip.clone(), self.after.clone());
        Node::new(id, NodeSpec::NatGateway(self))
            .dep(&subnet)
            .dep(&eip)
            .deps(after)
            .fixed(SUBNET, Value::Ref(subnet))
            .fixed(ALLOCATION, Value::Ref(eip))
            .tagged(tags)
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    120
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    // The tag filter narrows the search on AWS; ownership is re-checked below
    // because not every EC2 implementation honours tag filters here.
    let nats = cx
        .aws
        .ec2
        .describe_nat_gateways()
        .filter(tags::ec2_cluster_filter(cx.cluster))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeNatGateways")?;
    Ok(nats
        .iter()
        .filter_map(|n| {
            let t = tags::from_ec2(n.tags());
            let gone = matches!(
                n.state(),
                Some(NatGatewayState::Deleted) | Some(NatGatewayState::Failed)
            );
            (tags::for_cluster(&t, cx.cluster) && !gone)
                .then(|| observe(n, t.clone()).claimed(t, cx.cluster, &cx.aws.region))
        })
        .collect())
}

fn observe(n: &aws_sdk_ec2::types::NatGateway, t: Tags) -> Observed {
    let allocation = n
        .nat_gateway_addresses()
        .iter()
        .find_map(|a| a.allocation_id())
        .unwrap_or_default();
    let mut o = Observed::new(Kind::NatGateway, n.nat_gateway_id().unwrap_or_default())
        .attr(SUBNET, n.subnet_id().unwrap_or_default())
        .attr(ALLOCATION, allocation);
    o.state = n.state().map(|s| s.as_str().to_string());
    o.key = tags::component(&t);
    o.tags(t)
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    let e = match e {
        // Going away (an interrupted `down`): let it finish (its Elastic IP is
        // freed only then), and create a new one.
        Ensure::Unchanged(o) | Ensure::Update { obs: o, .. }
            if o.state.as_deref() == Some("deleting") =>
        {
            wait_deleted(cx, &o.id).await?;
            Ensure::Create
        }
        other => other,
    };
    match e {
        Ensure::Create => {
            let subnet = cx.refs.need_id(&want.subnet)?;
            let allocation = cx.refs.need_id(&want.eip)?;
            // Same inputs, same token: a retried create cannot make a second NAT.
            let token = format!(
                "eksscale-{}",
                crate::spec::short_hash(&format!(
                    "{}/{}/{allocation}",
                    node.tags.get(TAG_CLUSTER).map(String::as_str).unwrap_or(cx.cluster),
                    node.id
                ))
            );
            let n = retry::eventually(cx, "ec2:CreateNatGateway", Lag::Ec2Id, || async {
                cx.aws
                    .ec2
                    .create_nat_gateway()
                    .subnet_id(&subnet)
                    .allocation_id(&allocation)
                    .client_token(&token)
                    .tag_specifications(tags::ec2_spec(ResourceType::Natgateway, &node.tags))
                    .send()
                    .await
                    .map_err(|e| ec2::coded("ec2:CreateNatGateway", e))
            })
            .await?;
            let id = n
                .nat_gateway()
                .and_then(|n| n.nat_gateway_id())
                .ok_or_else(|| anyhow::anyhow!("CreateNatGateway returned no id"))?
                .to_string();
            wait_available(cx, &id).await?;
            let o = node.realized(&id, cx.refs, None);
            Ok((Done::with(Outcome::Created, id), o))
        }
        Ensure::Update { obs, .. } => {
            ec2::tag(cx, &obs.id, &e.tag_changes()).await?;
            let o = node.realized(&obs.id, cx.refs, Some(obs));
            Ok((Done::with(Outcome::Updated, e.fields()), o))
        }
        Ensure::Unchanged(obs) => {
            if obs.state.as_deref() != Some("available") {
                wait_available(cx, &obs.id).await?;
            }
            Ok((Done::new(Outcome::Unchanged), obs.clone()))
        }
    }
}

async fn state(cx: &Cx<'_>, id: &str) -> anyhow::Result<Option<(NatGatewayState, String)>> {
    let r = match cx
        .aws
        .ec2
        .describe_nat_gateways()
        .nat_gateway_ids(id)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) if error_code(&e) == Some("NatGatewayNotFound") => return Ok(None),
        Err(e) => return Err(describe_error("ec2:DescribeNatGateways", e)),
    };
    Ok(r.nat_gateways().first().and_then(|n| {
        n.state()
            .cloned()
            .map(|s| (s, n.failure_message().unwrap_or_default().to_string()))
    }))
}

async fn wait_deleted(cx: &Cx<'_>, id: &str) -> anyhow::Result<()> {
    cx.step
        .wait(
            format!("NAT gateway {id} to be deleted"),
            TIMEOUT,
            POLL,
            || async {
                Ok(match state(cx, id).await? {
                    None | Some((NatGatewayState::Deleted, _)) => Poll::Ready(()),
                    Some((s, _)) => Poll::Pending(s.as_str().to_string()),
                })
            },
        )
        .await
}

async fn wait_available(cx: &Cx<'_>, id: &str) -> anyhow::Result<()> {
    cx.step
        .wait(
            format!("NAT gateway {id} to become available"),
            TIMEOUT,
            POLL,
            || async {
                Ok(match state(cx, id).await? {
                    Some((NatGatewayState::Available, _)) => Poll::Ready(()),
                    Some((NatGatewayState::Failed, why)) => {
                        Poll::Failed(format!("state failed: {why}"))
                    }
                    Some((s, _)) => Poll::Pending(s.as_str().to_string()),
                    None => Poll::Pending("not visible yet".into()),
                })
            },
        )
        .await
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    if obs.state.as_deref() != Some("deleting") {
        match cx
            .aws
            .ec2
            .delete_nat_gateway()
            .nat_gateway_id(&obs.id)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if error_code(&e) == Some("NatGatewayNotFound") => {
                return Ok(Done::new(Outcome::Absent));
            }
            Err(e) => return Err(describe_error("ec2:DeleteNatGateway", e)),
        }
    }
    // Its Elastic IP can only be released once the NAT is fully gone.
    wait_deleted(cx, &obs.id).await?;
    Ok(Done::new(Outcome::Deleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_exactly_the_compared_attributes() {
        let node = Desired {
            subnet: "subnet/public/us-west-2a".into(),
            eip: "elastic-ip/us-west-2a".into(),
            after: vec!["internet-gateway".into()],
        }
        .node(&id("us-west-2a"), Tags::new());
        let n = aws_sdk_ec2::types::NatGateway::builder()
            .nat_gateway_id("nat-1")
            .subnet_id("subnet-1")
            .nat_gateway_addresses(
                aws_sdk_ec2::types::NatGatewayAddress::builder()
                    .allocation_id("eipalloc-1")
                    .build(),
            )
            .build();
        let o = observe(&n, Tags::new());
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
        assert!(node.deps.contains(&"internet-gateway".to_string()));
    }
}
