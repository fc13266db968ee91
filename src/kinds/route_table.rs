//! Route tables: one public (default route to the internet gateway, every
//! public subnet) and one private per zone (default route to the zone's NAT
//! gateway, or the single one, or none), so private traffic stays in its zone
//! when there is a NAT gateway per zone.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::ResourceType;

use super::ec2;
use super::retry::{self, Lag};
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value, gone};
use crate::aws::tags::{self, Tags};
use crate::aws::{Aws, AwsResultExt, describe_error, error_code};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "route-table";
pub const PUBLIC: &str = "route-table/public";
pub const DELETE_AFTER: &[Kind] = &[Kind::NodeGroup, Kind::EksCluster, Kind::NatGateway];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;

pub const VPC: &str = "vpc";
pub const DEFAULT_ROUTE: &str = "route:0.0.0.0/0";
pub const SUBNETS: &str = "subnets";
pub const STATUS_COLUMNS: &[&str] = &[DEFAULT_ROUTE];

/// `route-table/private/<zone>`.
pub fn private_id(zone: &str) -> NodeId {
    format!("route-table/private/{zone}")
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub vpc: NodeId,
    /// Subnet nodes associated with the table.
    pub subnets: Vec<NodeId>,
    /// Internet or NAT gateway node of the default route (None: no default route).
    pub target: Option<NodeId>,
}

impl Desired {
    pub fn node(self, id: &str, tags: Tags) -> Node {
        let (vpc, subnets, target) = (self.vpc.clone(), self.subnets.clone(), self.target.clone());
        let mut node = Node::new(id, NodeSpec::RouteTable(self))
            .dep(&vpc)
            .deps(subnets.iter().cloned())
            .fixed(VPC, Value::Ref(vpc))
            .mutable(SUBNETS, Value::Refs(subnets))
            .tagged(tags);
        node = match target {
            Some(t) => node.dep(&t).mutable(DEFAULT_ROUTE, Value::Ref(t)),
            None => node.mutable(DEFAULT_ROUTE, Value::lit("none")),
        };
        node
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    3
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let rts = cx
        .aws
        .ec2
        .describe_route_tables()
        .filters(tags::ec2_cluster_filter(cx.cluster))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeRouteTables")?;
    Ok(rts
        .iter()
        .filter_map(|rt| {
            let t = tags::from_ec2(rt.tags());
            tags::for_cluster(&t, cx.cluster)
                .then(|| observe(rt, t.clone()).claimed(t, cx.cluster, &cx.aws.region))
        })
        .collect())
}

fn observe(rt: &aws_sdk_ec2::types::RouteTable, t: Tags) -> Observed {
    let target = rt
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .and_then(|r| r.nat_gateway_id().or(r.gateway_id()))
        .unwrap_or("none");
    let mut subnets = Vec::new();
    let mut internal = BTreeMap::new();
    for a in rt.associations() {
        if a.main() == Some(true) {
            continue;
        }
        if let (Some(subnet), Some(assoc)) = (a.subnet_id(), a.route_table_association_id()) {
            subnets.push(subnet.to_string());
            internal.insert(format!("assoc:{subnet}"), assoc.to_string());
        }
    }
    subnets.sort();
    let mut o = Observed::new(Kind::RouteTable, rt.route_table_id().unwrap_or_default())
        .attr(VPC, rt.vpc_id().unwrap_or_default())
        .attr(DEFAULT_ROUTE, target)
        .attr(SUBNETS, subnets.join(","));
    o.internal = internal;
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
            let rt = retry::eventually(cx, "ec2:CreateRouteTable", Lag::Ec2Id, || async {
                cx.aws
                    .ec2
                    .create_route_table()
                    .vpc_id(&vpc)
                    .tag_specifications(tags::ec2_spec(ResourceType::RouteTable, &node.tags))
                    .send()
                    .await
                    .map_err(|e| ec2::coded("ec2:CreateRouteTable", e))
            })
            .await?;
            let id = rt
                .route_table()
                .and_then(|r| r.route_table_id())
                .ok_or_else(|| anyhow::anyhow!("CreateRouteTable returned no id"))?
                .to_string();
            if let Some(target) = &want.target {
                let target = cx.refs.need_id(target)?;
                retry::eventually(cx, "ec2:CreateRoute", Lag::Ec2Id, || {
                    set_default_route(cx.aws, &id, &target, false)
                })
                .await?;
            }
            let mut o = node.realized(&id, cx.refs, None);
            for sn in &want.subnets {
                let subnet = cx.refs.need_id(sn)?;
                let assoc = retry::eventually(cx, "ec2:AssociateRouteTable", Lag::Ec2Id, || {
                    associate(cx.aws, &id, &subnet)
                })
                .await?;
                o.internal.insert(format!("assoc:{subnet}"), assoc);
            }
            Ok((Done::with(Outcome::Created, id), o))
        }
        Ensure::Update { obs, .. } => {
            let id = obs.id.as_str();
            let mut o = node.realized(id, cx.refs, Some(obs));
            if e.touches(DEFAULT_ROUTE) {
                let had = obs.attrs.get(DEFAULT_ROUTE).is_some_and(|v| v != "none");
                match &want.target {
                    Some(t) => {
                        let target = cx.refs.need_id(t)?;
                        retry::eventually(cx, "ec2:CreateRoute", Lag::Ec2Id, || {
                            set_default_route(cx.aws, id, &target, had)
                        })
                        .await?
                    }
                    None if had => {
                        cx.aws
                            .ec2
                            .delete_route()
                            .route_table_id(id)
                            .destination_cidr_block("0.0.0.0/0")
                            .send()
                            .await
                            .ctx("ec2:DeleteRoute")?;
                    }
                    None => {}
                }
            }
            if e.touches(SUBNETS) {
                let want: Vec<String> = want
                    .subnets
                    .iter()
                    .map(|n| cx.refs.need_id(n))
                    .collect::<anyhow::Result<_>>()?;
                for (k, assoc) in &obs.internal {
                    if let Some(sn) = k.strip_prefix("assoc:")
                        && !want.iter().any(|w| w == sn)
                    {
                        cx.aws
                            .ec2
                            .disassociate_route_table()
                            .association_id(assoc)
                            .send()
                            .await
                            .ctx("ec2:DisassociateRouteTable")?;
                        o.internal.remove(k);
                    }
                }
                for sn in &want {
                    if !obs.internal.contains_key(&format!("assoc:{sn}")) {
                        let assoc =
                            retry::eventually(cx, "ec2:AssociateRouteTable", Lag::Ec2Id, || {
                                associate(cx.aws, id, sn)
                            })
                            .await?;
                        o.internal.insert(format!("assoc:{sn}"), assoc);
                    }
                }
            }
            ec2::tag(cx, id, &e.tag_changes()).await?;
            Ok((Done::with(Outcome::Updated, e.fields()), o))
        }
        Ensure::Unchanged(obs) => Ok((Done::new(Outcome::Unchanged), obs.clone())),
    }
}

async fn set_default_route(
    aws: &Aws,
    rt: &str,
    target: &str,
    replace: bool,
) -> Result<(), ec2::Coded> {
    let nat = target.starts_with("nat-");
    if replace {
        let mut req = aws
            .ec2
            .replace_route()
            .route_table_id(rt)
            .destination_cidr_block("0.0.0.0/0");
        req = if nat {
            req.nat_gateway_id(target)
        } else {
            req.gateway_id(target)
        };
        req.send()
            .await
            .map_err(|e| ec2::coded("ec2:ReplaceRoute", e))?;
    } else {
        let mut req = aws
            .ec2
            .create_route()
            .route_table_id(rt)
            .destination_cidr_block("0.0.0.0/0");
        req = if nat {
            req.nat_gateway_id(target)
        } else {
            req.gateway_id(target)
        };
        req.send()
            .await
            .map_err(|e| ec2::coded("ec2:CreateRoute", e))?;
    }
    Ok(())
}

/// Associates a subnet, taking it over if another table holds it explicitly.
async fn associate(aws: &Aws, rt: &str, subnet: &str) -> Result<String, ec2::Coded> {
    match aws
        .ec2
        .associate_route_table()
        .route_table_id(rt)
        .subnet_id(subnet)
        .send()
        .await
    {
        Ok(r) => Ok(r.association_id().unwrap_or_default().to_string()),
        Err(e) if error_code(&e) == Some("Resource.AlreadyAssociated") => {
            let tables = aws
                .ec2
                .describe_route_tables()
                .filters(tags::ec2_filter("association.subnet-id", subnet))
                .send()
                .await
                .map_err(|e| ec2::coded("ec2:DescribeRouteTables", e))?;
            let assoc = tables
                .route_tables()
                .iter()
                .flat_map(|t| t.associations())
                .find(|a| a.subnet_id() == Some(subnet))
                .and_then(|a| a.route_table_association_id())
                .ok_or_else(|| {
                    (
                        None,
                        anyhow::anyhow!(
                            "subnet reported as associated but no association was found"
                        ),
                    )
                })?;
            let r = aws
                .ec2
                .replace_route_table_association()
                .association_id(assoc)
                .route_table_id(rt)
                .send()
                .await
                .map_err(|e| ec2::coded("ec2:ReplaceRouteTableAssociation", e))?;
            Ok(r.new_association_id().unwrap_or_default().to_string())
        }
        Err(e) => Err(ec2::coded("ec2:AssociateRouteTable", e)),
    }
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let id = &obs.id;
    let ec2 = &cx.aws.ec2;
    let current = match ec2.describe_route_tables().route_table_ids(id).send().await {
        Ok(r) => r,
        Err(e) if error_code(&e) == Some("InvalidRouteTableID.NotFound") => {
            return Ok(Done::new(Outcome::Absent));
        }
        Err(e) => return Err(describe_error("ec2:DescribeRouteTables", e)),
    };
    for a in current.route_tables().iter().flat_map(|t| t.associations()) {
        if a.main() == Some(true) {
            continue;
        }
        if let Some(assoc) = a.route_table_association_id() {
            match ec2
                .disassociate_route_table()
                .association_id(assoc)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if error_code(&e) == Some("InvalidAssociationID.NotFound") => {}
                Err(e) => return Err(describe_error("ec2:DisassociateRouteTable", e)),
            }
        }
    }
    let existed = ec2::retry_dependency(
        cx,
        &format!("route table {id}"),
        &["InvalidRouteTableID.NotFound"],
        || async {
            ec2.delete_route_table()
                .route_table_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| ec2::coded("ec2:DeleteRouteTable", e))
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
            subnets: vec!["subnet/public/a".into()],
            target: Some("internet-gateway".into()),
        }
        .node(PUBLIC, Tags::new());
        let rt = aws_sdk_ec2::types::RouteTable::builder()
            .route_table_id("rtb-1")
            .vpc_id("vpc-1")
            .routes(
                aws_sdk_ec2::types::Route::builder()
                    .destination_cidr_block("0.0.0.0/0")
                    .gateway_id("igw-1")
                    .build(),
            )
            .associations(
                aws_sdk_ec2::types::RouteTableAssociation::builder()
                    .subnet_id("subnet-1")
                    .route_table_association_id("rtbassoc-1")
                    .build(),
            )
            .build();
        let o = observe(&rt, Tags::new());
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
        assert_eq!(o.internal["assoc:subnet-1"], "rtbassoc-1");
    }
}
