//! Detached ENIs the cluster left in its VPC: the VPC CNI's (description
//! `aws-K8S-...`, tag `cluster.k8s.amazonaws.com/name`), the control plane's
//! (`Amazon EKS <cluster>`). They block deleting subnets and security groups;
//! `down` sweeps each VPC for them once the cluster and load balancers are
//! gone (they are freed only then), listing again when the sweep runs. Any
//! other detached ENI is not the cluster's: reported as what blocks the VPC.

use super::{Cx, Deletion, DiscoverCx, Kind, Observed, Phase, SWEEP, VPC};
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
        out.extend(in_vpc(cx.aws, cx.cluster, vpc).await?);
    }
    Ok(out)
}

/// Whether an ENI's description or tags show this cluster made it.
fn cluster_made(description: &str, t: &[(String, String)], cluster: &str) -> bool {
    description.starts_with("aws-K8S-")
        || description == format!("Amazon EKS {cluster}")
        || super::kube_made(t, cluster).is_some()
}

async fn in_vpc(aws: &Aws, cluster: &str, vpc: &str) -> anyhow::Result<Vec<Observed>> {
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
        // ENIs an AWS service manages for a resource (a NAT gateway's, a load
        // balancer's, EKS's control plane's) go with that resource; only
        // plain interfaces are swept or block anything.
        .filter(|eni| eni.requester_managed() != Some(true))
        .filter(|eni| {
            eni.interface_type()
                .is_none_or(|t| t.as_str() == "interface")
        })
        .map(|eni| {
            let mut o = Observed::new(
                Kind::NetworkInterface,
                eni.network_interface_id().unwrap_or_default(),
            );
            let description = eni.description().unwrap_or_default();
            if !description.is_empty() {
                o.attrs.insert("description".into(), description.to_string());
            }
            o.internal.insert(VPC.into(), vpc.to_string());
            let t: Vec<(String, String)> = tags::from_ec2(eni.tag_set()).into_iter().collect();
            if let Some(owner) = eni.owner_id() {
                o.internal.insert(super::OWNER.into(), owner.to_string());
            }
            if !cluster_made(description, &t, cluster) {
                o.foreign = Some(super::not_kube_made(cluster));
            }
            o
        })
        .collect())
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    if !obs.internal.contains_key(SWEEP) {
        return delete_one(cx.aws, &obs.id).await;
    }
    // A sweep of VPC `obs.id`: list again now, delete what is the cluster's.
    let found: Vec<Observed> = in_vpc(cx.aws, cx.cluster, &obs.id)
        .await?
        .into_iter()
        .filter(Observed::is_ours)
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_cluster_made_is_claimed() {
        let none: Vec<(String, String)> = Vec::new();
        assert!(cluster_made("aws-K8S-i-0abc", &none, "demo"));
        assert!(cluster_made("Amazon EKS demo", &none, "demo"));
        assert!(!cluster_made("Amazon EKS other", &none, "demo"));
        assert!(!cluster_made("RDSNetworkInterface", &none, "demo"));
        let cni = vec![(
            "cluster.k8s.amazonaws.com/name".to_string(),
            "demo".to_string(),
        )];
        assert!(cluster_made("", &cni, "demo"));
        assert!(!cluster_made("", &cni, "prod"));
    }
}
