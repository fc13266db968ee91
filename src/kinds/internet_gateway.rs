//! The internet gateway: public subnets' default route, and the way out for
//! the NAT gateways. Detached before it is deleted.

use aws_sdk_ec2::types::ResourceType;

use super::ec2;
use super::retry::{self, Lag};
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value, gone};
use crate::aws::AwsResultExt;
use crate::aws::tags::{self, Tags};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "internet-gateway";
pub const ID: &str = "internet-gateway";
pub const DELETE_AFTER: &[Kind] = &[
    Kind::NatGateway,
    Kind::ElasticIp,
    Kind::ClassicLoadBalancer,
    Kind::LoadBalancer,
    Kind::EksCluster,
    Kind::NodeGroup,
];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;

pub const ATTACHED_VPC: &str = "attachedVpc";
pub const STATUS_COLUMNS: &[&str] = &[];

#[derive(Debug, Clone)]
pub struct Desired {
    pub vpc: NodeId,
}

impl Desired {
    pub fn node(self, tags: Tags) -> Node {
        let vpc = self.vpc.clone();
        Node::new(ID, NodeSpec::InternetGateway(self))
            .dep(&vpc)
            .mutable(ATTACHED_VPC, Value::Ref(vpc))
            .tagged(tags)
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    3
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let igws = cx
        .aws
        .ec2
        .describe_internet_gateways()
        .filters(tags::ec2_cluster_filter(cx.cluster))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeInternetGateways")?;
    Ok(igws
        .iter()
        .filter_map(|g| {
            let t = tags::from_ec2(g.tags());
            tags::for_cluster(&t, cx.cluster)
                .then(|| observe(g, t.clone()).claimed(t, cx.cluster, &cx.aws.region))
        })
        .collect())
}

fn observe(g: &aws_sdk_ec2::types::InternetGateway, t: Tags) -> Observed {
    let vpc = g
        .attachments()
        .iter()
        .find_map(|a| a.vpc_id())
        .unwrap_or("none");
    let mut o = Observed::new(
        Kind::InternetGateway,
        g.internet_gateway_id().unwrap_or_default(),
    )
    .attr(ATTACHED_VPC, vpc);
    o.key = tags::component(&t);
    o.tags(t)
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    let ec2 = &cx.aws.ec2;
    match e {
        Ensure::Create => {
            let vpc = cx.refs.need_id(&want.vpc)?;
            let g = ec2
                .create_internet_gateway()
                .tag_specifications(tags::ec2_spec(ResourceType::InternetGateway, &node.tags))
                .send()
                .await
                .ctx("ec2:CreateInternetGateway")?;
            let id = g
                .internet_gateway()
                .and_then(|g| g.internet_gateway_id())
                .ok_or_else(|| anyhow::anyhow!("CreateInternetGateway returned no id"))?
                .to_string();
            retry::eventually(cx, "ec2:AttachInternetGateway", Lag::Ec2Id, || async {
                ec2.attach_internet_gateway()
                    .internet_gateway_id(&id)
                    .vpc_id(&vpc)
                    .send()
                    .await
                    .map_err(|e| ec2::coded("ec2:AttachInternetGateway", e))
            })
            .await?;
            let o = node.realized(&id, cx.refs, None);
            Ok((Done::with(Outcome::Created, id), o))
        }
        Ensure::Update { obs, .. } => {
            if e.touches(ATTACHED_VPC) {
                let vpc = cx.refs.need_id(&want.vpc)?;
                if let Some(old) = obs.attrs.get(ATTACHED_VPC).filter(|v| *v != "none") {
                    ec2.detach_internet_gateway()
                        .internet_gateway_id(&obs.id)
                        .vpc_id(old)
                        .send()
                        .await
                        .ctx("ec2:DetachInternetGateway")?;
                }
                retry::eventually(cx, "ec2:AttachInternetGateway", Lag::Ec2Id, || async {
                    ec2.attach_internet_gateway()
                        .internet_gateway_id(&obs.id)
                        .vpc_id(&vpc)
                        .send()
                        .await
                        .map_err(|e| ec2::coded("ec2:AttachInternetGateway", e))
                })
                .await?;
            }
            ec2::tag(cx, &obs.id, &e.tag_changes()).await?;
            let o = node.realized(&obs.id, cx.refs, Some(obs));
            Ok((Done::with(Outcome::Updated, e.fields()), o))
        }
        Ensure::Unchanged(obs) => Ok((Done::new(Outcome::Unchanged), obs.clone())),
    }
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let id = &obs.id;
    let ec2 = &cx.aws.ec2;
    if let Some(vpc) = obs.attrs.get(ATTACHED_VPC).filter(|v| *v != "none") {
        ec2::retry_dependency(
            cx,
            &format!("internet gateway {id} detachment"),
            &["InvalidInternetGatewayID.NotFound", "Gateway.NotAttached"],
            || async {
                ec2.detach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(vpc)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| ec2::coded("ec2:DetachInternetGateway", e))
            },
        )
        .await?;
    }
    let existed = ec2::retry_dependency(
        cx,
        &format!("internet gateway {id}"),
        &["InvalidInternetGatewayID.NotFound"],
        || async {
            ec2.delete_internet_gateway()
                .internet_gateway_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| ec2::coded("ec2:DeleteInternetGateway", e))
        },
    )
    .await?;
    Ok(gone(existed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_exactly_the_compared_attributes() {
        let node = Desired { vpc: "vpc".into() }.node(Tags::new());
        let g = aws_sdk_ec2::types::InternetGateway::builder()
            .internet_gateway_id("igw-1")
            .attachments(
                aws_sdk_ec2::types::InternetGatewayAttachment::builder()
                    .vpc_id("vpc-1")
                    .build(),
            )
            .build();
        let o = observe(&g, Tags::new());
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
    }
}
