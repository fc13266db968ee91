//! IAM roles eksscale owns: `eksscale-<cluster>-<purpose>` under path
//! `/eksscale/`, tagged with the cluster. Trust documents come from
//! `policies/` (see `crate::policy`); attached policies are kept exactly as
//! desired (extras are detached, because these roles are eksscale's alone).

use std::collections::BTreeSet;

use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::ec2::coded;
use super::retry::{self, Lag};
use super::{Phase, Resolve, Value};
use crate::aws::tags::{self, Tags};
use crate::aws::{Aws, AwsResultExt, describe_error, error_code};
use crate::engine::{Done, Outcome};
use crate::policy;

pub const LABEL: &str = "iam-role";
pub const DELETE_AFTER: &[Kind] = &[
    Kind::EksCluster,
    Kind::NodeGroup,
    Kind::Addon,
    Kind::OidcProvider,
    Kind::PodIdentityAssociation,
];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;

pub const PATH: &str = "path";
pub const TRUST: &str = "trust";
pub const MANAGED: &str = "managedPolicies";
/// The permissions boundary's ARN, or `none`.
pub const BOUNDARY: &str = "permissionsBoundary";
/// Prefix of an inline policy's attribute: `inline:<name>`.
pub const INLINE_PREFIX: &str = "inline:";
pub const STATUS_COLUMNS: &[&str] = &[MANAGED];

/// The IAM path of every role eksscale creates.
pub const IAM_PATH: &str = "/eksscale/";

/// `iam-role/<purpose>`.
pub fn id(purpose: &str) -> NodeId {
    format!("iam-role/{purpose}")
}

/// Who may assume a role.
#[derive(Debug, Clone)]
pub enum Trust {
    Service(&'static str),
    /// IRSA: one service account of this cluster, via its OIDC provider node.
    Irsa {
        provider: NodeId,
        namespace: String,
        service_account: String,
    },
    /// EKS Pod Identity, limited to this cluster (node) and to one
    /// namespace and service account.
    PodIdentity {
        account: String,
        cluster: NodeId,
        namespace: String,
        service_account: String,
    },
    /// The EKS service, only for this account's cluster of this ARN.
    EksCluster { account: String, cluster_arn: String },
}

impl Trust {
    /// The rendered trust document, or `None` while an input (e.g. the OIDC
    /// provider) does not exist yet.
    pub fn document(&self, r: &dyn Resolve) -> Option<serde_json::Value> {
        match self {
            Trust::Service(s) => policy::trust_service(s).ok(),
            Trust::Irsa {
                provider,
                namespace,
                service_account,
            } => {
                let p = r.get(provider)?;
                let url = p.attrs.get(super::oidc_provider::URL)?;
                policy::trust_irsa(&p.id, url, namespace, service_account).ok()
            }
            Trust::PodIdentity {
                account,
                cluster,
                namespace,
                service_account,
            } => {
                let cluster = r.arn_of(cluster)?;
                policy::trust_pod_identity(account, &cluster, namespace, service_account).ok()
            }
            Trust::EksCluster {
                account,
                cluster_arn,
            } => policy::trust_eks_cluster(account, cluster_arn).ok(),
        }
    }

    /// Graph nodes the trust document is built from.
    pub fn inputs(&self) -> Vec<NodeId> {
        match self {
            Trust::Service(_) | Trust::EksCluster { .. } => vec![],
            Trust::Irsa { provider, .. } => vec![provider.clone()],
            Trust::PodIdentity { cluster, .. } => vec![cluster.clone()],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub description: String,
    pub trust: Trust,
    /// AWS managed policy ARNs attached to the role.
    pub managed: Vec<String>,
    /// Inline permission policies (name, document), rendered from `policies/`.
    pub inline: Vec<(String, serde_json::Value)>,
    /// `spec.iam.permissionsBoundary`.
    pub boundary: Option<String>,
}

impl Desired {
    pub fn node(self, id: &str, tags: Tags) -> Node {
        let trust = self.trust.clone();
        let mut managed = self.managed.clone();
        managed.sort();
        let inline = self.inline.clone();
        let inputs = self.trust.inputs();
        let boundary = self.boundary.clone().unwrap_or_else(|| "none".into());
        let mut node = Node::new(id, NodeSpec::IamRole(self))
            .fixed(PATH, Value::lit(IAM_PATH))
            .mutable(
                TRUST,
                Value::computed(move |r| trust.document(r).map(|d| policy::canonical(&d))),
            )
            .mutable(MANAGED, Value::lit(managed.join(",")))
            .mutable(
                BOUNDARY,
                Value::lit(boundary),
            );
        for (name, doc) in &inline {
            node = node.mutable(
                &format!("{INLINE_PREFIX}{name}"),
                Value::lit(policy::canonical(doc)),
            );
        }
        node.deps(inputs).tagged(tags)
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    // Role creation plus IAM's propagation before EKS can assume it.
    5
}

/// Reads one role by name; `None` if it does not exist.
pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<Observed>> {
    let role = match aws.iam.get_role().role_name(name).send().await {
        Ok(r) => r
            .role
            .ok_or_else(|| anyhow::anyhow!("GetRole returned no role"))?,
        Err(e) if error_code(&e) == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(describe_error("iam:GetRole", e)),
    };
    let (attached, inline) = tokio::try_join!(
        async {
            aws.iam
                .list_attached_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .found("iam:ListAttachedRolePolicies", &["NoSuchEntity"])
        },
        async {
            aws.iam
                .list_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .found("iam:ListRolePolicies", &["NoSuchEntity"])
        }
    )?;
    // Deleted between the reads (another run, or a concurrent down): not there.
    let (Some(attached), Some(inline)) = (attached, inline) else {
        return Ok(None);
    };
    let managed: Vec<String> = attached
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    let mut docs = Vec::new();
    for p in inline {
        let doc = aws
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(&p)
            .send()
            .await
            .found("iam:GetRolePolicy", &["NoSuchEntity"])?;
        let Some(doc) = doc else {
            return Ok(None);
        };
        docs.push((p, policy::parse_returned(doc.policy_document())?));
    }
    let trust = match role.assume_role_policy_document() {
        Some(d) => Some(policy::parse_returned(d)?),
        None => None,
    };
    Ok(Some(observe(&role, trust.as_ref(), managed, &docs)))
}

/// The observed form of a role from what IAM returned (documents decoded).
fn observe(
    role: &aws_sdk_iam::types::Role,
    trust: Option<&serde_json::Value>,
    mut managed: Vec<String>,
    inline: &[(String, serde_json::Value)],
) -> Observed {
    managed.sort();
    let t = tags::from_iam(role.tags());
    let mut o = Observed::new(Kind::IamRole, role.role_name())
        .attr(PATH, role.path())
        .attr(TRUST, trust.map(policy::canonical).unwrap_or_default())
        .attr(MANAGED, managed.join(","))
        .attr(
            BOUNDARY,
            role.permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .unwrap_or("none"),
        );
    for (name, doc) in inline {
        o.attrs
            .insert(format!("{INLINE_PREFIX}{name}"), policy::canonical(doc));
    }
    o.arn = Some(role.arn().to_string());
    o.key = tags::component(&t);
    o.tags = t;
    o
}

/// Every role of this cluster in this region under `/eksscale/` (found
/// without a config: `status` and `down` may not have one). Roles with the
/// region's name prefix but without both ownership tags are reported as not
/// eksscale's; roles of the same cluster name in another region are another
/// deployment's and skipped.
pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let roles = cx
        .aws
        .iam
        .list_roles()
        .path_prefix(IAM_PATH)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("iam:ListRoles")?;
    // ListRoles carries no tags; narrow by name, then confirm ownership by tag.
    let region = &cx.aws.region;
    let prefix = crate::spec::role_prefix(cx.cluster, region);
    let reads = roles
        .iter()
        .map(|r| r.role_name())
        .filter(|n| n.starts_with(&prefix))
        .map(|n| read(cx.aws, n));
    let found = futures::future::try_join_all(reads).await?;
    Ok(found
        .into_iter()
        .flatten()
        // Another deployment's: the same name in another region, or another
        // cluster whose name extends this one's (`demo-usw2`).
        .filter(|o| !tags::other_region(&o.tags, cx.cluster, region))
        .filter(|o| {
            o.tags
                .get(tags::TAG_CLUSTER)
                .is_none_or(|c| c == cx.cluster)
        })
        .map(|mut o| {
            // An untagged role with one of our names is in our way: key it by
            // the purpose its name gives, so `up` can refuse before it starts.
            if o.key.is_none()
                && let Some(purpose) = o.id.strip_prefix(&prefix)
                && !prefix.ends_with(|c: char| c.is_ascii_alphanumeric())
            {
                o.key = Some(id(purpose));
            }
            let t = o.tags.clone();
            o.claimed(t, cx.cluster, region)
        })
        .collect())
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    let iam = &cx.aws.iam;
    let trust = want.trust.document(cx.refs).ok_or_else(|| {
        anyhow::anyhow!(
            "the trust policy of {} needs resources that do not exist yet",
            node.id
        )
    })?;
    match e {
        Ensure::Create => {
            cx.step.progress(format!("creating role {}", want.name));
            let role_tags = tags::to_iam(&node.tags)?;
            // A trust naming an OIDC provider created moments ago is refused
            // ("Invalid principal") until IAM has propagated it.
            let created = retry::eventually(cx, "iam:CreateRole", Lag::Iam, || async {
                iam.create_role()
                    .role_name(&want.name)
                    .path(IAM_PATH)
                    .description(&want.description)
                    .assume_role_policy_document(trust.to_string())
                    .set_permissions_boundary(want.boundary.clone())
                    .set_tags(Some(role_tags.clone()))
                    .send()
                    .await
                    .map_err(|e| coded("iam:CreateRole", e))
            })
            .await?;
            for arn in &want.managed {
                attach(cx.aws, &want.name, arn).await?;
            }
            for (name, doc) in &want.inline {
                put_inline(cx.aws, &want.name, name, doc).await?;
            }
            let mut o = node.realized(&want.name, cx.refs, None);
            o.arn = created.role().map(|r| r.arn().to_string());
            Ok((Done::with(Outcome::Created, &want.name), o))
        }
        Ensure::Update { obs, .. } => {
            if e.touches(TRUST) {
                retry::eventually(cx, "iam:UpdateAssumeRolePolicy", Lag::Iam, || async {
                    iam.update_assume_role_policy()
                        .role_name(&want.name)
                        .policy_document(trust.to_string())
                        .send()
                        .await
                        .map_err(|e| coded("iam:UpdateAssumeRolePolicy", e))
                })
                .await?;
            }
            if e.touches(MANAGED) {
                let have: BTreeSet<&str> = obs
                    .attrs
                    .get(MANAGED)
                    .map(|s| s.split(',').filter(|x| !x.is_empty()).collect())
                    .unwrap_or_default();
                let wanted: BTreeSet<&str> = want.managed.iter().map(String::as_str).collect();
                for arn in wanted.difference(&have) {
                    attach(cx.aws, &want.name, arn).await?;
                }
                for arn in have.difference(&wanted) {
                    iam.detach_role_policy()
                        .role_name(&want.name)
                        .policy_arn(*arn)
                        .send()
                        .await
                        .ctx("iam:DetachRolePolicy")?;
                }
            }
            if e.touches(BOUNDARY) {
                match &want.boundary {
                    Some(b) => {
                        iam.put_role_permissions_boundary()
                            .role_name(&want.name)
                            .permissions_boundary(b)
                            .send()
                            .await
                            .ctx("iam:PutRolePermissionsBoundary")?;
                    }
                    None => {
                        iam.delete_role_permissions_boundary()
                            .role_name(&want.name)
                            .send()
                            .await
                            .ctx("iam:DeleteRolePermissionsBoundary")?;
                    }
                }
            }
            for (name, doc) in &want.inline {
                if e.touches(&format!("{INLINE_PREFIX}{name}")) {
                    put_inline(cx.aws, &want.name, name, doc).await?;
                }
            }
            let t = e.tag_changes();
            if !t.is_empty() {
                iam.tag_role()
                    .role_name(&want.name)
                    .set_tags(Some(tags::to_iam(&t)?))
                    .send()
                    .await
                    .ctx("iam:TagRole")?;
            }
            let o = node.realized(&obs.id, cx.refs, Some(obs));
            Ok((Done::with(Outcome::Updated, e.fields()), o))
        }
        Ensure::Unchanged(obs) => Ok((Done::new(Outcome::Unchanged), obs.clone())),
    }
}

async fn attach(aws: &Aws, role: &str, arn: &str) -> anyhow::Result<()> {
    aws.iam
        .attach_role_policy()
        .role_name(role)
        .policy_arn(arn)
        .send()
        .await
        .ctx("iam:AttachRolePolicy")?;
    Ok(())
}

async fn put_inline(
    aws: &Aws,
    role: &str,
    name: &str,
    doc: &serde_json::Value,
) -> anyhow::Result<()> {
    aws.iam
        .put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(doc.to_string())
        .send()
        .await
        .ctx("iam:PutRolePolicy")?;
    Ok(())
}

/// Deletes a role and everything that blocks its deletion: attached and
/// inline policies, and instance-profile memberships (EKS managed node groups
/// put the node role in instance profiles).
pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    // The role, or what is detached from it, gone meanwhile (another run's
    // `down`): what deleting wanted; DeleteRole then answers NoSuchEntity.
    const GONE: &[&str] = &["NoSuchEntity"];
    let name = obs.id.as_str();
    let iam = &cx.aws.iam;
    let attached = match iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
    {
        Ok(v) => v,
        Err(e) if error_code(&e) == Some("NoSuchEntity") => return Ok(Done::new(Outcome::Absent)),
        Err(e) => return Err(describe_error("iam:ListAttachedRolePolicies", e)),
    };
    for p in attached {
        if let Some(arn) = p.policy_arn() {
            cx.step.progress(format!("detaching {arn}"));
            iam.detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .found("iam:DetachRolePolicy", GONE)?;
        }
    }
    let inline = iam
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .found("iam:ListRolePolicies", GONE)?
        .unwrap_or_default();
    for p in inline {
        iam.delete_role_policy()
            .role_name(name)
            .policy_name(&p)
            .send()
            .await
            .found("iam:DeleteRolePolicy", GONE)?;
    }
    let profiles = iam
        .list_instance_profiles_for_role()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .found("iam:ListInstanceProfilesForRole", GONE)?
        .unwrap_or_default();
    for p in profiles {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(p.instance_profile_name())
            .role_name(name)
            .send()
            .await
            .found("iam:RemoveRoleFromInstanceProfile", GONE)?;
    }
    match iam.delete_role().role_name(name).send().await {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e) if error_code(&e) == Some("NoSuchEntity") => Ok(Done::new(Outcome::Absent)),
        Err(e) => Err(describe_error("iam:DeleteRole", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_exactly_the_compared_attributes() {
        let doc = serde_json::json!({"Version": "2012-10-17", "Statement": []});
        let node = Desired {
            name: "eksscale-demo-keda-operator".into(),
            description: "test".into(),
            trust: Trust::Service("eks.amazonaws.com"),
            managed: vec!["arn:aws:iam::aws:policy/B".into(), "arn:aws:iam::aws:policy/A".into()],
            inline: vec![("keda-scalers".into(), doc.clone())],
            boundary: None,
        }
        .node(&id("keda-operator"), Tags::new());
        let role = aws_sdk_iam::types::Role::builder()
            .role_name("eksscale-demo-keda-operator")
            .path(IAM_PATH)
            .role_id("AROA")
            .arn("arn:aws:iam::123456789012:role/eksscale/eksscale-demo-keda-operator")
            .create_date(aws_smithy_types::DateTime::from_secs(0))
            .build()
            .unwrap();
        let trust = policy::trust_service("eks.amazonaws.com").unwrap();
        let o = observe(
            &role,
            Some(&trust),
            vec!["arn:aws:iam::aws:policy/A".into(), "arn:aws:iam::aws:policy/B".into()],
            &[("keda-scalers".into(), doc)],
        );
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
        let world = std::collections::BTreeMap::new();
        assert_eq!(super::super::diff(&node, Some(&o), &world), Change::Unchanged);
    }
}
