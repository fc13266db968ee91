//! The VPC layer: VPC, subnets, internet gateway, Elastic IPs, NAT gateways
//! and route tables. Discovery finds them by the `eksscale.io/cluster` tag;
//! `ensure` creates or updates one node from the diff; `delete` removes one
//! discovered resource, retrying while AWS still reports dependencies.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, NatGatewayState, ResourceType, VpcAttributeName,
};

use super::tags::{self, Tags};
use super::{Aws, AwsResultExt, error_code};
use crate::engine::step::StepCtx;
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome};
use crate::plan::graph::NodeSpec;
use crate::plan::{Change, Kind, Node, Observed, Resolve, diff, tag_changes, touches};

/// How long deletes keep retrying while AWS reports a dependency (ENIs of a
/// deleted cluster or load balancer can take several minutes to go).
const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// AWS's NAT gateway waiter polls every 15 s.
const NAT_POLL: Duration = Duration::from_secs(15);
const NAT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

// ----------------------------------------------------------------- discovery

/// Every network resource tagged for `cluster`.
pub async fn discover(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let (vpcs, subnets, igws, eips, nats, rts) = tokio::try_join!(
        discover_vpcs(aws, cluster),
        discover_subnets(aws, cluster),
        discover_igws(aws, cluster),
        discover_eips(aws, cluster),
        discover_nats(aws, cluster),
        discover_route_tables(aws, cluster),
    )?;
    Ok([vpcs, subnets, igws, eips, nats, rts]
        .into_iter()
        .flatten()
        .collect())
}

fn keyed(mut o: Observed, t: Tags) -> Observed {
    o.key = tags::component(&t);
    o.tags = t;
    o
}

async fn discover_vpcs(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let vpcs = aws
        .ec2
        .describe_vpcs()
        .filters(tags::ec2_cluster_filter(cluster))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeVpcs")?;
    let mut out = Vec::new();
    for v in vpcs {
        let t = tags::from_ec2(v.tags());
        if !tags::owned_by(&t, cluster) {
            continue;
        }
        let id = v.vpc_id().unwrap_or_default().to_string();
        let (support, hostnames) = tokio::try_join!(
            vpc_attribute(aws, &id, VpcAttributeName::EnableDnsSupport),
            vpc_attribute(aws, &id, VpcAttributeName::EnableDnsHostnames),
        )?;
        let (Some(support), Some(hostnames)) = (support, hostnames) else {
            continue;
        };
        let mut o = Observed::new(Kind::Vpc, &id)
            .attr("cidr", v.cidr_block().unwrap_or_default())
            .attr("enableDnsSupport", support.to_string())
            .attr("enableDnsHostnames", hostnames.to_string());
        o.state = v.state().map(|s| s.as_str().to_string());
        out.push(keyed(o, t));
    }
    Ok(out)
}

/// One DNS attribute of a VPC; `None` if the VPC was deleted meanwhile.
async fn vpc_attribute(
    aws: &Aws,
    vpc: &str,
    attr: VpcAttributeName,
) -> anyhow::Result<Option<bool>> {
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

async fn discover_subnets(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(tags::ec2_cluster_filter(cluster))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeSubnets")?;
    Ok(subnets
        .into_iter()
        .filter_map(|s| {
            let t = tags::from_ec2(s.tags());
            tags::owned_by(&t, cluster).then(|| {
                let o = Observed::new(Kind::Subnet, s.subnet_id().unwrap_or_default())
                    .attr("vpc", s.vpc_id().unwrap_or_default())
                    .attr("cidr", s.cidr_block().unwrap_or_default())
                    .attr("zone", s.availability_zone().unwrap_or_default())
                    .attr(
                        "mapPublicIpOnLaunch",
                        s.map_public_ip_on_launch().unwrap_or(false).to_string(),
                    );
                keyed(o, t)
            })
        })
        .collect())
}

async fn discover_igws(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let igws = aws
        .ec2
        .describe_internet_gateways()
        .filters(tags::ec2_cluster_filter(cluster))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeInternetGateways")?;
    Ok(igws
        .into_iter()
        .filter_map(|g| {
            let t = tags::from_ec2(g.tags());
            tags::owned_by(&t, cluster).then(|| {
                let vpc = g
                    .attachments()
                    .iter()
                    .find_map(|a| a.vpc_id())
                    .unwrap_or("none")
                    .to_string();
                keyed(
                    Observed::new(
                        Kind::InternetGateway,
                        g.internet_gateway_id().unwrap_or_default(),
                    )
                    .attr("attachedVpc", vpc),
                    t,
                )
            })
        })
        .collect())
}

async fn discover_eips(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let r = aws
        .ec2
        .describe_addresses()
        .filters(tags::ec2_cluster_filter(cluster))
        .send()
        .await
        .ctx("ec2:DescribeAddresses")?;
    Ok(r.addresses()
        .iter()
        .filter_map(|a| {
            let t = tags::from_ec2(a.tags());
            tags::owned_by(&t, cluster).then(|| {
                let mut o = Observed::new(Kind::ElasticIp, a.allocation_id().unwrap_or_default())
                    .attr("domain", a.domain().map(|d| d.as_str()).unwrap_or("vpc"));
                if let Some(ip) = a.public_ip() {
                    o.internal.insert("publicIp".into(), ip.into());
                }
                if let Some(assoc) = a.association_id() {
                    o.internal.insert("association".into(), assoc.into());
                }
                keyed(o, t)
            })
        })
        .collect())
}

async fn discover_nats(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    // The tag filter narrows the search on AWS; ownership is re-checked below
    // because not every EC2 implementation honours tag filters here.
    let nats = aws
        .ec2
        .describe_nat_gateways()
        .filter(tags::ec2_cluster_filter(cluster))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeNatGateways")?;
    Ok(nats
        .into_iter()
        .filter_map(|n| {
            let t = tags::from_ec2(n.tags());
            let state = n.state().cloned();
            let gone = matches!(
                state,
                Some(NatGatewayState::Deleted) | Some(NatGatewayState::Failed)
            );
            (tags::owned_by(&t, cluster) && !gone).then(|| {
                let allocation = n
                    .nat_gateway_addresses()
                    .iter()
                    .find_map(|a| a.allocation_id())
                    .unwrap_or_default()
                    .to_string();
                let mut o = Observed::new(Kind::NatGateway, n.nat_gateway_id().unwrap_or_default())
                    .attr("subnet", n.subnet_id().unwrap_or_default())
                    .attr("allocation", allocation);
                o.state = state.map(|s| s.as_str().to_string());
                keyed(o, t)
            })
        })
        .collect())
}

async fn discover_route_tables(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let rts = aws
        .ec2
        .describe_route_tables()
        .filters(tags::ec2_cluster_filter(cluster))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeRouteTables")?;
    Ok(rts
        .into_iter()
        .filter_map(|rt| {
            let t = tags::from_ec2(rt.tags());
            tags::owned_by(&t, cluster).then(|| route_table_observed(&rt, t))
        })
        .collect())
}

fn route_table_observed(rt: &aws_sdk_ec2::types::RouteTable, t: Tags) -> Observed {
    let target = rt
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .and_then(|r| r.nat_gateway_id().or(r.gateway_id()))
        .unwrap_or("none")
        .to_string();
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
        .attr("vpc", rt.vpc_id().unwrap_or_default())
        .attr("route:0.0.0.0/0", target)
        .attr("subnets", subnets.join(","));
    o.internal = internal;
    keyed(o, t)
}

// -------------------------------------------------------------------- ensure

/// The observed form of a node whose desired state now holds.
pub fn realized(
    node: &Node,
    id: impl Into<String>,
    r: &dyn Resolve,
    previous: Option<&Observed>,
) -> Observed {
    let mut o = previous
        .cloned()
        .unwrap_or_else(|| Observed::new(node.kind, ""));
    o.kind = Some(node.kind);
    o.id = id.into();
    o.key = Some(node.id.clone());
    for (k, a) in &node.attrs {
        if let Some(v) = a.value.resolve(r) {
            o.attrs.insert(k.clone(), v);
        }
    }
    for (k, v) in &node.tags {
        o.tags.insert(k.clone(), v.clone());
    }
    o
}

fn need(r: &dyn Resolve, node: &str) -> anyhow::Result<String> {
    r.id_of(node)
        .with_context(|| format!("{node} does not exist yet (it should have been created first)"))
}

/// Creates or updates one network node. `create_tags` are added only at
/// creation (e.g. the TTL expiry, which must not change on later runs).
pub async fn ensure(
    s: &StepCtx,
    aws: &Aws,
    node: &Node,
    obs: Option<&Observed>,
    r: &dyn Resolve,
    create_tags: &Tags,
) -> anyhow::Result<(Done, Observed)> {
    // A NAT gateway still being deleted (an interrupted `down`) is going away:
    // let it finish (its Elastic IP is freed only then), and create a new one.
    let obs = match obs {
        Some(o) if o.kind() == Kind::NatGateway && o.state.as_deref() == Some("deleting") => {
            wait_nat_deleted(s, aws, &o.id).await?;
            None
        }
        other => other,
    };
    let change = diff(node, obs, r);
    let mut all_tags = node.tags.clone();
    all_tags.extend(create_tags.clone());
    match (&change, obs) {
        (Change::Create, _) => {
            let (id, internal) = create(s, aws, node, r, &all_tags).await?;
            let mut o = realized(node, &id, r, None);
            o.internal = internal;
            o.tags = all_tags;
            Ok((Done::with(Outcome::Created, id), o))
        }
        (Change::Update { changes }, Some(obs)) => {
            let internal = update(s, aws, node, obs, r, changes).await?;
            let mut o = realized(node, &obs.id, r, Some(obs));
            o.internal.extend(internal);
            let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
            Ok((Done::with(Outcome::Updated, fields.join(", ")), o))
        }
        (Change::Unchanged, Some(obs)) => {
            if node.kind == Kind::NatGateway && obs.state.as_deref() != Some("available") {
                wait_nat_available(s, aws, &obs.id).await?;
            }
            Ok((Done::new(Outcome::Unchanged), obs.clone()))
        }
        (Change::Replace { changes }, _) => bail!(
            "cannot change {} in place ({}); eksscale does not replace network resources",
            node.id,
            changes
                .iter()
                .map(|c| c.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (_, None) => unreachable!("update without an observed resource"),
    }
}

async fn create(
    s: &StepCtx,
    aws: &Aws,
    node: &Node,
    r: &dyn Resolve,
    t: &Tags,
) -> anyhow::Result<(String, BTreeMap<String, String>)> {
    let ec2 = &aws.ec2;
    let mut internal = BTreeMap::new();
    let id = match &node.spec {
        NodeSpec::Vpc { cidr } => {
            let v = ec2
                .create_vpc()
                .cidr_block(cidr)
                .tag_specifications(tags::ec2_spec(ResourceType::Vpc, t))
                .send()
                .await
                .ctx("ec2:CreateVpc")?;
            let id = v
                .vpc()
                .and_then(|v| v.vpc_id())
                .context("CreateVpc returned no id")?
                .to_string();
            // DNS support is on by default; hostnames are needed for EKS nodes.
            set_vpc_dns(aws, &id, false, true).await?;
            id
        }
        NodeSpec::Subnet { zone, cidr, public } => {
            let vpc = need(r, "vpc")?;
            let sn = ec2
                .create_subnet()
                .vpc_id(vpc)
                .cidr_block(cidr)
                .availability_zone(zone)
                .tag_specifications(tags::ec2_spec(ResourceType::Subnet, t))
                .send()
                .await
                .ctx("ec2:CreateSubnet")?;
            let id = sn
                .subnet()
                .and_then(|s| s.subnet_id())
                .context("CreateSubnet returned no id")?
                .to_string();
            if *public {
                set_map_public_ip(aws, &id, true).await?;
            }
            id
        }
        NodeSpec::InternetGateway => {
            let vpc = need(r, "vpc")?;
            let g = ec2
                .create_internet_gateway()
                .tag_specifications(tags::ec2_spec(ResourceType::InternetGateway, t))
                .send()
                .await
                .ctx("ec2:CreateInternetGateway")?;
            let id = g
                .internet_gateway()
                .and_then(|g| g.internet_gateway_id())
                .context("CreateInternetGateway returned no id")?
                .to_string();
            ec2.attach_internet_gateway()
                .internet_gateway_id(&id)
                .vpc_id(vpc)
                .send()
                .await
                .ctx("ec2:AttachInternetGateway")?;
            id
        }
        NodeSpec::ElasticIp => {
            let a = ec2
                .allocate_address()
                .domain(DomainType::Vpc)
                .tag_specifications(tags::ec2_spec(ResourceType::ElasticIp, t))
                .send()
                .await
                .ctx("ec2:AllocateAddress")?;
            if let Some(ip) = a.public_ip() {
                internal.insert("publicIp".into(), ip.into());
            }
            a.allocation_id()
                .context("AllocateAddress returned no allocation id")?
                .to_string()
        }
        NodeSpec::NatGateway { subnet, eip, .. } => {
            let subnet_id = need(r, subnet)?;
            let allocation = need(r, eip)?;
            // Same inputs, same token: a retried create cannot make a second NAT.
            let token = format!(
                "eksscale-{}",
                crate::spec::short_hash(&format!(
                    "{}/{}/{allocation}",
                    t[crate::plan::graph::TAG_CLUSTER],
                    node.id
                ))
            );
            let n = ec2
                .create_nat_gateway()
                .subnet_id(subnet_id)
                .allocation_id(allocation)
                .client_token(token)
                .tag_specifications(tags::ec2_spec(ResourceType::Natgateway, t))
                .send()
                .await
                .ctx("ec2:CreateNatGateway")?;
            let id = n
                .nat_gateway()
                .and_then(|n| n.nat_gateway_id())
                .context("CreateNatGateway returned no id")?
                .to_string();
            wait_nat_available(s, aws, &id).await?;
            id
        }
        NodeSpec::RouteTable { subnets, target } => {
            let vpc = need(r, "vpc")?;
            let rt = ec2
                .create_route_table()
                .vpc_id(vpc)
                .tag_specifications(tags::ec2_spec(ResourceType::RouteTable, t))
                .send()
                .await
                .ctx("ec2:CreateRouteTable")?;
            let id = rt
                .route_table()
                .and_then(|r| r.route_table_id())
                .context("CreateRouteTable returned no id")?
                .to_string();
            if let Some(target) = target {
                set_default_route(aws, &id, &need(r, target)?, false).await?;
            }
            for sn in subnets {
                let subnet_id = need(r, sn)?;
                let assoc = associate(aws, &id, &subnet_id).await?;
                internal.insert(format!("assoc:{subnet_id}"), assoc);
            }
            id
        }
        other => bail!("network::create called for {other:?}"),
    };
    Ok((id, internal))
}

async fn update(
    s: &StepCtx,
    aws: &Aws,
    node: &Node,
    obs: &Observed,
    r: &dyn Resolve,
    changes: &[crate::plan::FieldChange],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut internal = BTreeMap::new();
    let id = obs.id.as_str();
    match &node.spec {
        NodeSpec::Vpc { .. } => {
            set_vpc_dns(
                aws,
                id,
                touches(changes, "enableDnsSupport"),
                touches(changes, "enableDnsHostnames"),
            )
            .await?;
        }
        NodeSpec::Subnet { public, .. } => {
            if touches(changes, "mapPublicIpOnLaunch") {
                set_map_public_ip(aws, id, *public).await?;
            }
        }
        NodeSpec::InternetGateway => {
            if touches(changes, "attachedVpc") {
                let vpc = need(r, "vpc")?;
                if let Some(old) = obs.attrs.get("attachedVpc").filter(|v| *v != "none") {
                    aws.ec2
                        .detach_internet_gateway()
                        .internet_gateway_id(id)
                        .vpc_id(old)
                        .send()
                        .await
                        .ctx("ec2:DetachInternetGateway")?;
                }
                aws.ec2
                    .attach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(vpc)
                    .send()
                    .await
                    .ctx("ec2:AttachInternetGateway")?;
            }
        }
        NodeSpec::RouteTable { subnets, target } => {
            if touches(changes, "route:0.0.0.0/0") {
                let had = obs
                    .attrs
                    .get("route:0.0.0.0/0")
                    .is_some_and(|v| v != "none");
                match target {
                    Some(t) => set_default_route(aws, id, &need(r, t)?, had).await?,
                    None if had => {
                        aws.ec2
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
            if touches(changes, "subnets") {
                let want: Vec<String> = subnets
                    .iter()
                    .map(|n| need(r, n))
                    .collect::<anyhow::Result<_>>()?;
                for (k, assoc) in &obs.internal {
                    if let Some(sn) = k.strip_prefix("assoc:")
                        && !want.iter().any(|w| w == sn)
                    {
                        aws.ec2
                            .disassociate_route_table()
                            .association_id(assoc)
                            .send()
                            .await
                            .ctx("ec2:DisassociateRouteTable")?;
                    }
                }
                for sn in &want {
                    if !obs.internal.contains_key(&format!("assoc:{sn}")) {
                        let assoc = associate(aws, id, sn).await?;
                        internal.insert(format!("assoc:{sn}"), assoc);
                    }
                }
            }
        }
        NodeSpec::NatGateway { .. } | NodeSpec::ElasticIp => {}
        other => bail!("network::update called for {other:?}"),
    }
    let t = tag_changes(changes);
    if !t.is_empty() {
        s.progress(format!("tagging {id}"));
        aws.ec2
            .create_tags()
            .resources(id)
            .set_tags(Some(tags::to_ec2(&t)))
            .send()
            .await
            .ctx("ec2:CreateTags")?;
    }
    Ok(internal)
}

async fn set_vpc_dns(aws: &Aws, vpc: &str, support: bool, hostnames: bool) -> anyhow::Result<()> {
    let on = || AttributeBooleanValue::builder().value(true).build();
    if support {
        aws.ec2
            .modify_vpc_attribute()
            .vpc_id(vpc)
            .enable_dns_support(on())
            .send()
            .await
            .ctx("ec2:ModifyVpcAttribute")?;
    }
    if hostnames {
        aws.ec2
            .modify_vpc_attribute()
            .vpc_id(vpc)
            .enable_dns_hostnames(on())
            .send()
            .await
            .ctx("ec2:ModifyVpcAttribute")?;
    }
    Ok(())
}

async fn set_map_public_ip(aws: &Aws, subnet: &str, value: bool) -> anyhow::Result<()> {
    aws.ec2
        .modify_subnet_attribute()
        .subnet_id(subnet)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build())
        .send()
        .await
        .ctx("ec2:ModifySubnetAttribute")?;
    Ok(())
}

async fn set_default_route(aws: &Aws, rt: &str, target: &str, replace: bool) -> anyhow::Result<()> {
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
        req.send().await.ctx("ec2:ReplaceRoute")?;
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
        req.send().await.ctx("ec2:CreateRoute")?;
    }
    Ok(())
}

/// Associates a subnet, taking it over if another table holds it explicitly.
async fn associate(aws: &Aws, rt: &str, subnet: &str) -> anyhow::Result<String> {
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
                .ctx("ec2:DescribeRouteTables")?;
            let assoc = tables
                .route_tables()
                .iter()
                .flat_map(|t| t.associations())
                .find(|a| a.subnet_id() == Some(subnet))
                .and_then(|a| a.route_table_association_id())
                .context("subnet reported as associated but no association was found")?;
            let r = aws
                .ec2
                .replace_route_table_association()
                .association_id(assoc)
                .route_table_id(rt)
                .send()
                .await
                .ctx("ec2:ReplaceRouteTableAssociation")?;
            Ok(r.new_association_id().unwrap_or_default().to_string())
        }
        Err(e) => Err(super::describe_error("ec2:AssociateRouteTable", e)),
    }
}

async fn nat_state(aws: &Aws, id: &str) -> anyhow::Result<Option<(NatGatewayState, String)>> {
    let r = aws
        .ec2
        .describe_nat_gateways()
        .nat_gateway_ids(id)
        .send()
        .await;
    let r = match r {
        Ok(r) => r,
        Err(e) if error_code(&e) == Some("NatGatewayNotFound") => return Ok(None),
        Err(e) => return Err(super::describe_error("ec2:DescribeNatGateways", e)),
    };
    Ok(r.nat_gateways().first().and_then(|n| {
        n.state()
            .cloned()
            .map(|s| (s, n.failure_message().unwrap_or_default().to_string()))
    }))
}

async fn wait_nat_deleted(s: &StepCtx, aws: &Aws, id: &str) -> anyhow::Result<()> {
    s.wait(
        format!("NAT gateway {id} to be deleted"),
        NAT_TIMEOUT,
        NAT_POLL,
        || async {
            Ok(match nat_state(aws, id).await? {
                None | Some((NatGatewayState::Deleted, _)) => Poll::Ready(()),
                Some((state, _)) => Poll::Pending(state.as_str().to_string()),
            })
        },
    )
    .await
}

async fn wait_nat_available(s: &StepCtx, aws: &Aws, id: &str) -> anyhow::Result<()> {
    s.wait(
        format!("NAT gateway {id} to become available"),
        NAT_TIMEOUT,
        NAT_POLL,
        || async {
            Ok(match nat_state(aws, id).await? {
                Some((NatGatewayState::Available, _)) => Poll::Ready(()),
                Some((NatGatewayState::Failed, why)) => {
                    Poll::Failed(format!("state failed: {why}"))
                }
                Some((state, _)) => Poll::Pending(state.as_str().to_string()),
                None => Poll::Pending("not visible yet".into()),
            })
        },
    )
    .await
}

// -------------------------------------------------------------------- delete

/// Runs `op` until it succeeds, retrying while AWS reports a dependency that
/// is still going away. `Ok(false)` means the resource was already gone.
async fn retry_dependency<F, Fut>(
    s: &StepCtx,
    what: &str,
    not_found: &[&str],
    mut op: F,
) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(), (Option<String>, anyhow::Error)>>,
{
    s.wait(
        format!("{what} to have no dependencies left"),
        DEPENDENCY_TIMEOUT,
        Duration::from_secs(15),
        || {
            let fut = op();
            async move {
                match fut.await {
                    Ok(()) => Ok(Poll::Ready(true)),
                    Err((Some(code), _)) if not_found.contains(&code.as_str()) => {
                        Ok(Poll::Ready(false))
                    }
                    Err((Some(code), e))
                        if code == "DependencyViolation"
                            || code == "InvalidIPAddress.InUse"
                            || code == "AuthFailure" =>
                    {
                        Ok(Poll::Pending(format!("{e:#}")))
                    }
                    Err((_, e)) => Err(e),
                }
            }
        },
    )
    .await
}

/// Splits an SDK error into its code and a readable error.
fn coded<E, R>(
    op: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> (Option<String>, anyhow::Error)
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = error_code(&e).map(str::to_string);
    (code, super::describe_error(op, e))
}

pub async fn delete(s: &StepCtx, aws: &Aws, obs: &Observed) -> anyhow::Result<Done> {
    let ec2 = &aws.ec2;
    let id = obs.id.clone();
    let existed = match obs.kind() {
        Kind::Vpc => {
            retry_dependency(
                s,
                &format!("VPC {id}"),
                &["InvalidVpcID.NotFound"],
                || async {
                    ec2.delete_vpc()
                        .vpc_id(&id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| coded("ec2:DeleteVpc", e))
                },
            )
            .await?
        }
        Kind::Subnet => {
            retry_dependency(
                s,
                &format!("subnet {id}"),
                &["InvalidSubnetID.NotFound"],
                || async {
                    ec2.delete_subnet()
                        .subnet_id(&id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| coded("ec2:DeleteSubnet", e))
                },
            )
            .await?
        }
        Kind::InternetGateway => {
            if let Some(vpc) = obs.attrs.get("attachedVpc").filter(|v| *v != "none") {
                retry_dependency(
                    s,
                    &format!("internet gateway {id} detachment"),
                    &["InvalidInternetGatewayID.NotFound", "Gateway.NotAttached"],
                    || async {
                        ec2.detach_internet_gateway()
                            .internet_gateway_id(&id)
                            .vpc_id(vpc)
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| coded("ec2:DetachInternetGateway", e))
                    },
                )
                .await?;
            }
            retry_dependency(
                s,
                &format!("internet gateway {id}"),
                &["InvalidInternetGatewayID.NotFound"],
                || async {
                    ec2.delete_internet_gateway()
                        .internet_gateway_id(&id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| coded("ec2:DeleteInternetGateway", e))
                },
            )
            .await?
        }
        Kind::ElasticIp => {
            retry_dependency(
                s,
                &format!("Elastic IP {id}"),
                &["InvalidAllocationID.NotFound"],
                || async {
                    ec2.release_address()
                        .allocation_id(&id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| coded("ec2:ReleaseAddress", e))
                },
            )
            .await?
        }
        Kind::NatGateway => {
            if obs.state.as_deref() != Some("deleting") {
                match ec2.delete_nat_gateway().nat_gateway_id(&id).send().await {
                    Ok(_) => {}
                    Err(e) if error_code(&e) == Some("NatGatewayNotFound") => {
                        return Ok(Done::new(Outcome::Absent));
                    }
                    Err(e) => return Err(super::describe_error("ec2:DeleteNatGateway", e)),
                }
            }
            // Its Elastic IP can only be released once the NAT is fully gone.
            wait_nat_deleted(s, aws, &id).await?;
            true
        }
        Kind::RouteTable => {
            let current = match ec2
                .describe_route_tables()
                .route_table_ids(&id)
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) if error_code(&e) == Some("InvalidRouteTableID.NotFound") => {
                    return Ok(Done::new(Outcome::Absent));
                }
                Err(e) => return Err(super::describe_error("ec2:DescribeRouteTables", e)),
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
                        Err(e) => {
                            return Err(super::describe_error("ec2:DisassociateRouteTable", e));
                        }
                    }
                }
            }
            retry_dependency(
                s,
                &format!("route table {id}"),
                &["InvalidRouteTableID.NotFound"],
                || async {
                    ec2.delete_route_table()
                        .route_table_id(&id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| coded("ec2:DeleteRouteTable", e))
                },
            )
            .await?
        }
        other => bail!("network::delete called for {other}"),
    };
    Ok(Done::new(if existed {
        Outcome::Deleted
    } else {
        Outcome::Absent
    }))
}

/// Availability zones of the region, in name order, that are plain zones
/// (not Local or Wavelength zones) and available to this account.
pub async fn available_zones(aws: &Aws) -> anyhow::Result<Vec<String>> {
    let r = aws
        .ec2
        .describe_availability_zones()
        .filters(tags::ec2_filter("state", "available"))
        .send()
        .await
        .ctx("ec2:DescribeAvailabilityZones")?;
    let mut zones: Vec<String> = r
        .availability_zones()
        .iter()
        .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
        .filter_map(|z| z.zone_name().map(str::to_string))
        .collect();
    zones.sort();
    Ok(zones)
}
