//! Detached ENIs left in the VPC by the VPC CNI or by load balancers. They
//! block deleting subnets and security groups; `down` sweeps each VPC for
//! them once the cluster and load balancers are gone (they are freed only
//! then), listing again when the sweep runs.

use super::{Cx, Deletion, DiscoverCx, Kind, Observed, Phase, SWEEP};
use crate::aws::tags;
use crate::aws::{Aws, AwsResultExt, describe_error, error_code};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "network-interface";
pub const DELETE_AFTER: &[Kind] = &[
    Kind::EksCluster,
    Kind::NodeGroup,
    Kind::ClassicLoadBalancer,
    Kind::LoadBalancer,
    Kind::NatGateway,
];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::InVpc;
pub const DELETION: Deletion = Deletion::SweptPerVpc;
pub const STATUS_COLUMNS: &[&str] = &["description"];

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let mut out = Vec::new();
    for vpc in cx.vpcs {
        out.extend(in_vpc(cx.aws, vpc).await?);
    }
    Ok(out)
}

async fn in_vpc(aws: &Aws, vpc: &str) -> anyhow::Result<Vec<Observed>> {
    let enis = aws
        .ec2
        .describe_network_interfaces()
        .filters(tags::ec2_filter("vpc-id", vpc))
        .filters(tags::ec2_filter("status", "available"))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeNetworkInterfaces")?;
    Ok(enis
        .iter()
        .map(|eni| {
            let mut o = Observed::new(
                Kind::NetworkInterface,
                eni.network_interface_id().unwrap_or_default(),
            );
            if let Some(d) = eni.description() {
                o.attrs.insert("description".into(), d.to_string());
            }
            o
        })
        .collect())
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    if !obs.internal.contains_key(SWEEP) {
        return delete_one(cx.aws, &obs.id).await;
    }
    // A sweep of VPC `obs.id`: list again now, delete what is there.
    let found = in_vpc(cx.aws, &obs.id).await?;
    for o in &found {
        cx.step.progress(format!("deleting {}", o.id));
        delete_one(cx.aws, &o.id).await?;
    }
    Ok(super::swept(&found))
}

async fn delete_one(aws: &Aws, id: &str) -> anyhow::Result<Done> {
    match aws
        .ec2
        .delete_network_interface()
        .network_interface_id(id)
        .send()
        .await
    {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e) if error_code(&e) == Some("InvalidNetworkInterfaceID.NotFound") => {
            Ok(Done::new(Outcome::Absent))
        }
        Err(e) => Err(describe_error("ec2:DeleteNetworkInterface", e)),
    }
}
