//! Elastic IPs, one per NAT gateway. Released only once their NAT gateway is
//! fully deleted (AWS refuses while it is associated).

use aws_sdk_ec2::types::{DomainType, ResourceType};

use super::ec2;
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value, gone};
use crate::aws::AwsResultExt;
use crate::aws::tags::{self, Tags};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "elastic-ip";
pub const DELETE_AFTER: &[Kind] = &[Kind::NatGateway];
pub const BILLABLE: bool = true;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;

pub const DOMAIN: &str = "domain";
pub const STATUS_COLUMNS: &[&str] = &[];

/// `elastic-ip/<zone>`.
pub fn id(zone: &str) -> NodeId {
    format!("elastic-ip/{zone}")
}

#[derive(Debug, Clone)]
pub struct Desired;

impl Desired {
    pub fn node(self, id: &str, tags: Tags) -> Node {
        Node::new(id, NodeSpec::ElasticIp(self))
            .fixed(DOMAIN, Value::lit("vpc"))
            .tagged(tags)
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    2
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let r = cx
        .aws
        .ec2
        .describe_addresses()
        .filters(tags::ec2_cluster_filter(cx.cluster))
        .send()
        .await
        .ctx("ec2:DescribeAddresses")?;
    Ok(r.addresses()
        .iter()
        .filter_map(|a| {
            let t = tags::from_ec2(a.tags());
            tags::for_cluster(&t, cx.cluster)
                .then(|| observe(a, t.clone()).claimed(t, cx.cluster, &cx.aws.region))
        })
        .collect())
}

fn observe(a: &aws_sdk_ec2::types::Address, t: Tags) -> Observed {
    let mut o = Observed::new(Kind::ElasticIp, a.allocation_id().unwrap_or_default())
        .attr(DOMAIN, a.domain().map(|d| d.as_str()).unwrap_or("vpc"));
    if let Some(ip) = a.public_ip() {
        o.internal.insert("publicIp".into(), ip.into());
    }
    if let Some(assoc) = a.association_id() {
        o.internal.insert("association".into(), assoc.into());
    }
    o.key = tags::component(&t);
    o.tags(t)
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    _: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    match e {
        Ensure::Create => {
            let a = cx
                .aws
                .ec2
                .allocate_address()
                .domain(DomainType::Vpc)
                .tag_specifications(tags::ec2_spec(ResourceType::ElasticIp, &node.tags))
                .send()
                .await
                .ctx("ec2:AllocateAddress")?;
            let id = a
                .allocation_id()
                .ok_or_else(|| anyhow::anyhow!("AllocateAddress returned no allocation id"))?
                .to_string();
            let mut o = node.realized(&id, cx.refs, None);
            if let Some(ip) = a.public_ip() {
                o.internal.insert("publicIp".into(), ip.into());
            }
            Ok((Done::with(Outcome::Created, id), o))
        }
        Ensure::Update { obs, .. } => {
            ec2::tag(cx, &obs.id, &e.tag_changes()).await?;
            let o = node.realized(&obs.id, cx.refs, Some(obs));
            Ok((Done::with(Outcome::Updated, e.fields()), o))
        }
        Ensure::Unchanged(obs) => Ok((Done::new(Outcome::Unchanged), obs.clone())),
    }
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let id = &obs.id;
    let existed = ec2::retry_dependency(
        cx,
        &format!("Elastic IP {id}"),
        &["InvalidAllocationID.NotFound"],
        || async {
            cx.aws
                .ec2
                .release_address()
                .allocation_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| ec2::coded("ec2:ReleaseAddress", e))
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
        let node = Desired.node(&id("us-west-2a"), Tags::new());
        let a = aws_sdk_ec2::types::Address::builder()
            .allocation_id("eipalloc-1")
            .domain(DomainType::Vpc)
            .build();
        let o = observe(&a, Tags::new());
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
    }
}
