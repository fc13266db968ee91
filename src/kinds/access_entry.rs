//! EKS access entries for `spec.access.admins`, each with the
//! `AmazonEKSClusterAdminPolicy` at cluster scope (authentication mode API:
//! no aws-auth ConfigMap). Entries EKS made itself are never touched.

use aws_sdk_eks::types::{AccessScope, AccessScopeType};

use super::eks::{self, NOT_FOUND};
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value};
use crate::aws::tags::{self, Tags};
use crate::aws::{AwsResultExt, describe_error, error_code};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "access-entry";
pub const DELETE_AFTER: &[Kind] = &[Kind::NodeGroup];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::InCluster;
pub const DELETION: Deletion = Deletion::Each;

/// `<policy ARN>@<scope>` entries, sorted, comma-joined.
pub const POLICIES: &str = "policies";
pub const STATUS_COLUMNS: &[&str] = &[];

pub const CLUSTER_ADMIN_POLICY: &str = "AmazonEKSClusterAdminPolicy";

/// `access-entry/<principal ARN>`.
pub fn id(principal: &str) -> NodeId {
    format!("access-entry/{principal}")
}

/// The ARN of an EKS access policy in the region's partition.
pub fn policy_arn(partition: &str, policy: &str) -> String {
    format!("arn:{partition}:eks::aws:cluster-access-policy/{policy}")
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub principal: String,
    pub cluster: NodeId,
    /// The access policy associated at cluster scope.
    pub policy_arn: String,
}

impl Desired {
    pub fn node(self, tags: Tags) -> Node {
        let (cluster, policy) = (self.cluster.clone(), self.policy_arn.clone());
        Node::new(id(&self.principal), NodeSpec::AccessEntry(self))
            .dep(&cluster)
            .mutable(POLICIES, Value::lit(format!("{policy}@cluster")))
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
    let principals = aws
        .eks
        .list_access_entries()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .found("eks:ListAccessEntries", &[super::eks::NOT_FOUND])?
        // The cluster deleted since DescribeCluster: nothing of it left.
        .unwrap_or_default();
    let read = principals.iter().map(|p| async move {
        let e = aws
            .eks
            .describe_access_entry()
            .cluster_name(cluster)
            .principal_arn(p)
            .send()
            .await
            .found("eks:DescribeAccessEntry", &[NOT_FOUND])?;
        let Some(e) = e else {
            return anyhow::Ok(None);
        };
        let t = tags::from_map(e.access_entry().and_then(|a| a.tags()));
        if !tags::owned_by(&t, cluster, &aws.region) {
            // Entries EKS made itself (the cluster creator, node roles) are not ours.
            return anyhow::Ok(None);
        }
        let policies = aws
            .eks
            .list_associated_access_policies()
            .cluster_name(cluster)
            .principal_arn(p)
            .send()
            .await
            .found("eks:ListAssociatedAccessPolicies", &[NOT_FOUND])?;
        let Some(policies) = policies else {
            return anyhow::Ok(None);
        };
        anyhow::Ok(Some(observe(p, policies.associated_access_policies(), t)))
    });
    super::eks::found_all(read).await
}

fn observe(
    principal: &str,
    policies: &[aws_sdk_eks::types::AssociatedAccessPolicy],
    t: Tags,
) -> Observed {
    let mut ps: Vec<String> = policies
        .iter()
        .map(|a| {
            format!(
                "{}@{}",
                a.policy_arn().unwrap_or_default(),
                a.access_scope()
                    .and_then(|s| s.r#type())
                    .map(|t| t.as_str())
                    .unwrap_or("cluster")
            )
        })
        .collect();
    ps.sort();
    Observed::new(Kind::AccessEntry, principal)
        .attr(POLICIES, ps.join(","))
        .tags(t)
        .keyed(id(principal))
}

async fn entry_arn(cx: &Cx<'_>, principal: &str) -> anyhow::Result<String> {
    Ok(cx
        .aws
        .eks
        .describe_access_entry()
        .cluster_name(cx.cluster)
        .principal_arn(principal)
        .send()
        .await
        .ctx("eks:DescribeAccessEntry")?
        .access_entry()
        .and_then(|a| a.access_entry_arn())
        .unwrap_or_default()
        .to_string())
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    let principal = want.principal.as_str();
    let associate = || async {
        cx.aws
            .eks
            .associate_access_policy()
            .cluster_name(cx.cluster)
            .principal_arn(principal)
            .policy_arn(&want.policy_arn)
            .access_scope(
                AccessScope::builder()
                    .r#type(AccessScopeType::Cluster)
                    .build(),
            )
            .send()
            .await
            .ctx("eks:AssociateAccessPolicy")
    };
    match e {
        Ensure::Create => {
            match cx
                .aws
                .eks
                .create_access_entry()
                .cluster_name(cx.cluster)
                .principal_arn(principal)
                .set_tags(Some(tags::to_map(&node.tags)))
                .send()
                .await
            {
                Ok(_) => {}
                // The creator's own entry exists already (bootstrapCreatorAdmin): adopt it.
                Err(e) if error_code(&e) == Some("ResourceInUseException") => {
                    let arn = entry_arn(cx, principal).await?;
                    eks::tag(cx.aws, &arn, &node.tags).await?;
                }
                Err(e) => return Err(describe_error("eks:CreateAccessEntry", e)),
            }
            associate().await?;
            let o = node.realized(principal, cx.refs, None);
            Ok((Done::with(Outcome::Created, principal), o))
        }
        Ensure::Update { obs, .. } => {
            if e.touches(POLICIES) {
                associate().await?;
            }
            let t = e.tag_changes();
            if !t.is_empty() {
                let arn = entry_arn(cx, principal).await?;
                eks::tag(cx.aws, &arn, &t).await?;
            }
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
        .delete_access_entry()
        .cluster_name(cx.cluster)
        .principal_arn(&obs.id)
        .send()
        .await
    {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(Done::new(Outcome::Absent)),
        Err(e) => Err(describe_error("eks:DeleteAccessEntry", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_exactly_the_compared_attributes() {
        let principal = "arn:aws:iam::123456789012:role/Admin";
        let policy = policy_arn("aws", CLUSTER_ADMIN_POLICY);
        let node = Desired {
            principal: principal.into(),
            cluster: "eks-cluster".into(),
            policy_arn: policy.clone(),
        }
        .node(Tags::new());
        let p = aws_sdk_eks::types::AssociatedAccessPolicy::builder()
            .policy_arn(&policy)
            .access_scope(
                AccessScope::builder()
                    .r#type(AccessScopeType::Cluster)
                    .build(),
            )
            .build();
        let o = observe(principal, &[p], Tags::new());
        assert_eq!(o.key.as_deref(), Some(node.id.as_str()));
        assert_eq!(
            super::super::diff(&node, Some(&o), &std::collections::BTreeMap::new()),
            Change::Unchanged
        );
    }
}
