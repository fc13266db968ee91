//! EKS Pod Identity associations: a (namespace, service account) of this
//! cluster bound to an IAM role, served by the eks-pod-identity-agent add-on.

use super::ec2::coded;
use super::eks::{self, NOT_FOUND};
use super::retry::{self, Lag};
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value};
use crate::aws::tags::{self, Tags};
use crate::aws::{AwsResultExt, describe_error, error_code};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "pod-identity";
pub const DELETE_AFTER: &[Kind] = &[Kind::NodeGroup];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::InCluster;
pub const DELETION: Deletion = Deletion::Each;

pub const NAMESPACE: &str = "namespace";
pub const SERVICE_ACCOUNT: &str = "serviceAccount";
pub const ROLE_ARN: &str = "roleArn";
pub const STATUS_COLUMNS: &[&str] = &[];

/// `pod-identity/<namespace>/<service account>`.
pub fn id(namespace: &str, service_account: &str) -> NodeId {
    format!("pod-identity/{namespace}/{service_account}")
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub namespace: String,
    pub service_account: String,
    pub role: NodeId,
    pub cluster: NodeId,
    /// Nodes that must exist first (the eks-pod-identity-agent add-on).
    pub after: Vec<NodeId>,
}

impl Desired {
    pub fn node(self, tags: Tags) -> Node {
        let d = self.clone();
        Node::new(id(&d.namespace, &d.service_account), NodeSpec::PodIdentityAssociation(self))
            .dep(&d.cluster)
            .dep(&d.role)
            .deps(d.after.iter().cloned())
            .fixed(NAMESPACE, Value::lit(&d.namespace))
            .fixed(SERVICE_ACCOUNT, Value::lit(&d.service_account))
            .mutable(ROLE_ARN, Value::arn_of(&d.role))
            .tagged(tags)
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    3
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    if cx.eks.is_none() {
        return Ok(Vec::new());
    }
    let (aws, cluster) = (cx.aws, cx.cluster);
    let list = aws
        .eks
        .list_pod_identity_associations()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .found("eks:ListPodIdentityAssociations", &[super::eks::NOT_FOUND])?
        // The cluster deleted since DescribeCluster: nothing of it left.
        .unwrap_or_default();
    let read = list.iter().map(|a| async move {
        let d = aws
            .eks
            .describe_pod_identity_association()
            .cluster_name(cluster)
            .association_id(a.association_id().unwrap_or_default())
            .send()
            .await
            .found("eks:DescribePodIdentityAssociation", &[NOT_FOUND])?;
        anyhow::Ok(
            d.as_ref()
                .and_then(|d| d.association())
                .map(|a| observe(a, cluster, &aws.region)),
        )
    });
    super::eks::found_all(read).await
}

fn observe(
    d: &aws_sdk_eks::types::PodIdentityAssociation,
    cluster: &str,
    region: &str,
) -> Observed {
    let t = tags::from_map(d.tags());
    let (ns, sa) = (
        d.namespace().unwrap_or_default(),
        d.service_account().unwrap_or_default(),
    );
    let mut o = Observed::new(
        Kind::PodIdentityAssociation,
        d.association_id().unwrap_or_default(),
    )
    .attr(NAMESPACE, ns)
    .attr(SERVICE_ACCOUNT, sa)
    .attr(ROLE_ARN, d.role_arn().unwrap_or_default());
    o.arn = d.association_arn().map(str::to_string);
    o.keyed(id(ns, sa)).claimed(t, cluster, region)
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    let role_arn = cx.refs.need_arn(&want.role)?;
    match e {
        Ensure::Create => {
            // "Role provided in the request does not exist." while IAM propagates.
            let a = retry::eventually(cx, "eks:CreatePodIdentityAssociation", Lag::Iam, || async {
                cx.aws
                    .eks
                    .create_pod_identity_association()
                    .cluster_name(cx.cluster)
                    .namespace(&want.namespace)
                    .service_account(&want.service_account)
                    .role_arn(&role_arn)
                    .set_tags(Some(tags::to_map(&node.tags)))
                    .send()
                    .await
                    .map_err(|e| coded("eks:CreatePodIdentityAssociation", e))
            })
            .await?;
            let a = a
                .association()
                .ok_or_else(|| anyhow::anyhow!("CreatePodIdentityAssociation returned nothing"))?;
            let id = a.association_id().unwrap_or_default().to_string();
            let mut o = node.realized(&id, cx.refs, None);
            o.arn = a.association_arn().map(str::to_string);
            Ok((Done::with(Outcome::Created, id), o))
        }
        Ensure::Update { obs, .. } => {
            if e.touches(ROLE_ARN) {
                retry::eventually(cx, "eks:UpdatePodIdentityAssociation", Lag::Iam, || async {
                    cx.aws
                        .eks
                        .update_pod_identity_association()
                        .cluster_name(cx.cluster)
                        .association_id(&obs.id)
                        .role_arn(&role_arn)
                        .send()
                        .await
                        .map_err(|e| coded("eks:UpdatePodIdentityAssociation", e))
                })
                .await?;
            }
            eks::tag(
                cx.aws,
                obs.arn.as_deref().unwrap_or_default(),
                &e.tag_changes(),
            )
            .await?;
            Ok((
                Done::with(Outcome::Updated, e.fields()),
                node.realized(&obs.id, cx.refs, Some(obs)),
            ))
        }
        Ensure::Unchanged(obs) => Ok((Done::new(Outcome::Unchanged), obs.clone())),
    }
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    match cx
        .aws
        .eks
        .delete_pod_identity_association()
        .cluster_name(cx.cluster)
        .association_id(&obs.id)
        .send()
        .await
    {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(Done::new(Outcome::Absent)),
        Err(e) => Err(describe_error("eks:DeletePodIdentityAssociation", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_exactly_the_compared_attributes() {
        let node = Desired {
            namespace: "keda".into(),
            service_account: "keda-operator".into(),
            role: "iam-role/keda-operator".into(),
            cluster: "eks-cluster".into(),
            after: vec![],
        }
        .node(Tags::new());
        let a = aws_sdk_eks::types::PodIdentityAssociation::builder()
            .association_id("a-1")
            .namespace("keda")
            .service_account("keda-operator")
            .role_arn("arn:aws:iam::1:role/x")
            .build();
        let o = observe(&a, "demo", "us-west-2");
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
    }
}
