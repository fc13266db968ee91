//! Subnets: one public and one private per zone, carved deterministically
//! from the VPC CIDR (`spec::carve_subnets`) and tagged for load balancers
//! (`kubernetes.io/role/elb` public, `.../internal-elb` private).

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};

use super::ec2;
use super::retry::{self, Lag};
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value, gone};
use crate::aws::tags::{self, Tags};
use crate::aws::{Aws, AwsResultExt};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "subnet";
pub const DELETE_AFTER: &[Kind] = &[
    Kind::EksCluster,
    Kind::NodeGroup,
    Kind::NatGateway,
    Kind::NetworkInterface,
    Kind::ClassicLoadBalancer,
    Kind::LoadBalancer,
];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;

pub const VPC: &str = "vpc";
pub const CIDR: &str = "cidr";
pub const ZONE: &str = "zone";
pub const MAP_PUBLIC_IP: &str = "mapPublicIpOnLaunch";
pub const STATUS_COLUMNS: &[&str] = &[ZONE, CIDR];

/// `subnet/public/<zone>` or `subnet/private/<zone>`.
pub fn id(public: bool, zone: &str) -> NodeId {
    format!(
        "subnet/{}/{zone}",
        if public { "public" } else { "private" }
    )
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub vpc: NodeId,
    pub zone: String,
    pub cidr: String,
    pub public: bool,
}

impl Desired {
    pub fn node(self, id: &str, tags: Tags) -> Node {
        let (vpc, zone, cidr, public) = (
            self.vpc.clone(),
            self.zone.clone(),
            self.cidr.clone(),
            self.public,
        );
        Node::new(id, NodeSpec::Subnet(self))
            .dep(&vpc)
            .fixed(VPC, Value::Ref(vpc))
            .fixed(CIDR, Value::lit(cidr))
            .fixed(ZONE, Value::lit(zone))
            .mutable(MAP_PUBLIC_IP, Value::lit(public.to_string()))
            .tagged(tags)
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    3
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let subnets = cx
        .aws
        .ec2
        .describe_subnets()
        .filters(tags::ec2_cluster_filter(cx.cluster))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeSubnets")?;
    Ok(subnets
        .iter()
        .filter_map(|s| {
            let t = tags::from_ec2(s.tags());
            tags::for_cluster(&t, cx.cluster)
                .then(|| observe(s, t.clone()).claimed(t, cx.cluster, &cx.aws.region))
        })
        .collect())
}

fn observe(s: &aws_sdk_ec2::types::Subnet, t: Tags) -> Observed {
    let mut o = Observed::new(Kind::Subnet, s.subnet_id().unwrap_or_default())
        .attr(VPC, s.vpc_id().unwrap_or_default())
        .attr(CIDR, s.cidr_block().unwrap_or_default())
        .attr(ZONE, s.availability_zone().unwrap_or_default())
        .attr(
            MAP_PUBLIC_IP,
            s.map_public_ip_on_launch().unwrap_or(false).to_string(),
        );
    o.key = tags::component(&t);
    o.tags(t)
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    match e {
        Ensure::Create => {
            let vpc = cx.refs.need_id(&want.vpc)?;
            let sn = retry::eventually(cx, "ec2:CreateSubnet", Lag::Ec2Id, || async {
                cx.aws
                    .ec2
                    .create_subnet()
                    .vpc_id(&vpc)
                    .cidr_block(&want.cidr)
                    .availability_zone(&want.zone)
                    .tag_specifications(tags::ec2_spec(ResourceType::Subnet, &node.tags))
                    .send()
                    .await
                    .map_err(|e| ec2::coded("ec2:CreateSubnet", e))
            })
            .await?;
            let id = sn
                .subnet()
                .and_then(|s| s.subnet_id())
                .ok_or_else(|| anyhow::anyhow!("CreateSubnet returned no id"))?
                .to_string();
            if want.public {
                retry::eventually(cx, "ec2:ModifySubnetAttribute", Lag::Ec2Id, || {
                    set_map_public_ip(cx.aws, &id, true)
                })
                .await?;
            }
            let o = node.realized(&id, cx.refs, None);
            Ok((Done::with(Outcome::Created, id), o))
        }
        Ensure::Update { obs, .. } => {
            if e.touches(MAP_PUBLIC_IP) {
                retry::eventually(cx, "ec2:ModifySubnetAttribute", Lag::Ec2Id, || {
                    set_map_public_ip(cx.aws, &obs.id, want.public)
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

async fn set_map_public_ip(aws: &Aws, subnet: &str, value: bool) -> Result<(), ec2::Coded> {
    aws.ec2
        .modify_subnet_attribute()
        .subnet_id(subnet)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build())
        .send()
        .await
        .map(drop)
        .map_err(|e| ec2::coded("ec2:ModifySubnetAttribute", e))
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let id = &obs.id;
    let existed = ec2::retry_dependency(
        cx,
        &format!("subnet {id}"),
        &["InvalidSubnetID.NotFound"],
        || async {
            cx.aws
                .ec2
                .delete_subnet()
                .subnet_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| ec2::coded("ec2:DeleteSubnet", e))
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
        let node = Desired {
            vpc: "vpc".into(),
            zone: "us-west-2a".into(),
            cidr: "10.0.128.0/21".into(),
            public: true,
        }
        .node(&id(true, "us-west-2a"), Tags::new());
        let s = aws_sdk_ec2::types::Subnet::builder()
            .subnet_id("subnet-1")
            .vpc_id("vpc-1")
            .cidr_block("10.0.128.0/21")
            .availability_zone("us-west-2a")
            .map_public_ip_on_launch(true)
            .build();
        let o = observe(&s, Tags::new());
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
        let world: std::collections::BTreeMap<String, Observed> =
            [("vpc".to_string(), Observed::new(Kind::Vpc, "vpc-1"))].into();
        assert_eq!(super::super::diff(&node, Some(&o), &world), Change::Unchanged);
    }
}
