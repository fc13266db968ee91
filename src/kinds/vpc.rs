//! The VPC: one per cluster, DNS support and hostnames on (EKS nodes need
//! both). Carries the TTL expiry tag, set once at creation.

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};

use super::ec2;
use super::retry::{self, Lag};
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeSpec, Observed, Phase};
use super::{Value, gone};
use crate::aws::tags::{self, TAG_EXPIRES, Tags};
use crate::aws::{AwsResultExt, Aws};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "vpc";
pub const ID: &str = "vpc";
pub const DELETE_AFTER: &[Kind] = &[
    Kind::Subnet,
    Kind::InternetGateway,
    Kind::RouteTable,
    Kind::SecurityGroup,
    Kind::NatGateway,
    Kind::NetworkInterface,
];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;

pub const CIDR: &str = "cidr";
pub const DNS_SUPPORT: &str = "enableDnsSupport";
pub const DNS_HOSTNAMES: &str = "enableDnsHostnames";
pub const STATUS_COLUMNS: &[&str] = &[CIDR];

#[derive(Debug, Clone)]
pub struct Desired {
    pub cidr: String,
    /// `spec.ttl`: the `eksscale.io/expires-at` tag is set at creation only.
    pub ttl: Option<jiff::SignedDuration>,
}

impl Desired {
    pub fn node(self, tags: Tags) -> Node {
        let cidr = self.cidr.clone();
        Node::new(ID, NodeSpec::Vpc(self))
            .fixed(CIDR, Value::lit(cidr))
            .mutable(DNS_SUPPORT, Value::lit("true"))
            .mutable(DNS_HOSTNAMES, Value::lit("true"))
            .tagged(tags)
    }

    fn create_tags(&self, node: &Node) -> Tags {
        let mut t = node.tags.clone();
        if let Some(ttl) = self.ttl
            && let Ok(at) = jiff::Timestamp::now().checked_add(ttl)
        {
            t.insert(
                TAG_EXPIRES.to_string(),
                at.round(jiff::Unit::Second).unwrap_or(at).to_string(),
            );
        }
        t
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    3
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let vpcs = cx
        .aws
        .ec2
        .describe_vpcs()
        .filters(tags::ec2_cluster_filter(cx.cluster))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeVpcs")?;
    let mut out = Vec::new();
    for v in vpcs {
        let t = tags::from_ec2(v.tags());
        if !tags::for_cluster(&t, cx.cluster) {
            continue;
        }
        let id = v.vpc_id().unwrap_or_default();
        let (support, hostnames) = tokio::try_join!(
            attribute(cx.aws, id, VpcAttributeName::EnableDnsSupport),
            attribute(cx.aws, id, VpcAttributeName::EnableDnsHostnames),
        )?;
        // Listed, so it exists: an attribute read that answers NotFound is
        // EC2's eventual consistency for a VPC created moments ago (skipping
        // it would make `up` create a second one). Unknown, so compared as
        // different and set again.
        let known = |v: Option<bool>| v.map_or_else(|| "unknown".to_string(), |b| b.to_string());
        out.push(
            observe(&v, &known(support), &known(hostnames), t.clone()).claimed(
                t,
                cx.cluster,
                &cx.aws.region,
            ),
        );
    }
    Ok(out)
}

fn observe(v: &aws_sdk_ec2::types::Vpc, support: &str, hostnames: &str, t: Tags) -> Observed {
    let mut o = Observed::new(Kind::Vpc, v.vpc_id().unwrap_or_default())
        .attr(CIDR, v.cidr_block().unwrap_or_default())
        .attr(DNS_SUPPORT, support)
        .attr(DNS_HOSTNAMES, hostnames);
    o.state = v.state().map(|s| s.as_str().to_string());
    o.key = tags::component(&t);
    o.tags(t)
}

/// One DNS attribute of a VPC; `None` if the VPC was deleted meanwhile.
async fn attribute(aws: &Aws, vpc: &str, attr: VpcAttributeName) -> anyhow::Result<Option<bool>> {
    let Some(r) = aws
        .ec2
        .describe_vpc_attribute()
        .vpc_id(vpc)
        .attribute(attr.clone())
        .send()
        .await
        .found("ec2:DescribeVpcAttribute", &["InvalidVpcID.NotFound"])?
    else {
        return Ok(None);
    };
    let v = match attr {
        VpcAttributeName::EnableDnsSupport => r.enable_dns_support(),
        _ => r.enable_dns_hostnames(),
    };
    Ok(Some(v.and_then(|b| b.value()).unwrap_or(false)))
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    match e {
        Ensure::Create => {
            let t = want.create_tags(node);
            let v = cx
                .aws
                .ec2
                .create_vpc()
                .cidr_block(&want.cidr)
                .tag_specifications(tags::ec2_spec(ResourceType::Vpc, &t))
                .send()
                .await
                .ctx("ec2:CreateVpc")?;
            let id = v
                .vpc()
                .and_then(|v| v.vpc_id())
                .ok_or_else(|| anyhow::anyhow!("CreateVpc returned no id"))?
                .to_string();
            // DNS support is on by default; hostnames are needed for EKS nodes.
            retry::eventually(cx, "ec2:ModifyVpcAttribute", Lag::Ec2Id, || {
                set_dns(cx.aws, &id, false, true)
            })
            .await?;
            let mut o = node.realized(&id, cx.refs, None);
            o.tags = t;
            Ok((Done::with(Outcome::Created, id), o))
        }
        Ensure::Update { obs, .. } => {
            retry::eventually(cx, "ec2:ModifyVpcAttribute", Lag::Ec2Id, || {
                set_dns(
                    cx.aws,
                    &obs.id,
                    e.touches(DNS_SUPPORT),
                    e.touches(DNS_HOSTNAMES),
                )
            })
            .await?;
            ec2::tag(cx, &obs.id, &e.tag_changes()).await?;
            let o = node.realized(&obs.id, cx.refs, Some(obs));
            Ok((Done::with(Outcome::Updated, e.fields()), o))
        }
        Ensure::Unchanged(obs) => Ok((Done::new(Outcome::Unchanged), obs.clone())),
    }
}

async fn set_dns(aws: &Aws, vpc: &str, support: bool, hostnames: bool) -> Result<(), ec2::Coded> {
    let on = || AttributeBooleanValue::builder().value(true).build();
    if support {
        aws.ec2
            .modify_vpc_attribute()
            .vpc_id(vpc)
            .enable_dns_support(on())
            .send()
            .await
            .map_err(|e| ec2::coded("ec2:ModifyVpcAttribute", e))?;
    }
    if hostnames {
        aws.ec2
            .modify_vpc_attribute()
            .vpc_id(vpc)
            .enable_dns_hostnames(on())
            .send()
            .await
            .map_err(|e| ec2::coded("ec2:ModifyVpcAttribute", e))?;
    }
    Ok(())
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let id = &obs.id;
    let existed = ec2::retry_dependency(cx, &format!("VPC {id}"), &["InvalidVpcID.NotFound"], || async {
        cx.aws
            .ec2
            .delete_vpc()
            .vpc_id(id)
            .send()
            .await
            .map(drop)
            .map_err(|e| ec2::coded("ec2:DeleteVpc", e))
    })
    .await?;
    Ok(gone(existed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_exactly_the_compared_attributes() {
        let node = Desired {
            cidr: "10.0.0.0/16".into(),
            ttl: None,
        }
        .node(Tags::new());
        let v = aws_sdk_ec2::types::Vpc::builder()
            .vpc_id("vpc-1")
            .cidr_block("10.0.0.0/16")
            .build();
        let o = observe(&v, "true", "true", Tags::new());
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            super::super::diff(&node, Some(&o), &std::collections::BTreeMap::new()),
            Change::Unchanged
        );
    }
}
