//! IAM roles eksscale owns: `eksscale-<cluster>-<purpose>` under path
//! `/eksscale/`, tagged with the cluster. Trust documents come from
//! `policies/` (see `crate::policy`); attached policies are kept exactly as
//! desired (extras are detached, because these roles are eksscale's alone).

use std::collections::BTreeSet;

use anyhow::{Context, bail};

use super::tags;
use super::{Aws, AwsResultExt, error_code};
use crate::engine::step::StepCtx;
use crate::engine::{Done, Outcome};
use crate::plan::graph::{IAM_PATH, NodeSpec};
use crate::plan::{Change, Kind, Node, Observed, Resolve, diff, tag_changes, touches};
use crate::policy;

/// Reads one role by name; `None` if it does not exist.
pub async fn read_role(aws: &Aws, name: &str) -> anyhow::Result<Option<Observed>> {
    let role = match aws.iam.get_role().role_name(name).send().await {
        Ok(r) => r.role.context("GetRole returned no role")?,
        Err(e) if error_code(&e) == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(super::describe_error("iam:GetRole", e)),
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
    let mut managed: Vec<String> = attached
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    managed.sort();
    let trust = match role.assume_role_policy_document() {
        Some(d) => policy::canonical(&policy::parse_returned(d)?),
        None => String::new(),
    };
    let t = tags::from_iam(role.tags());
    let mut o = Observed::new(Kind::IamRole, role.role_name())
        .attr("path", role.path())
        .attr("trust", trust)
        .attr("managedPolicies", managed.join(","));
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
        o.attrs.insert(
            format!("inline:{p}"),
            policy::canonical(&policy::parse_returned(doc.policy_document())?),
        );
    }
    o.arn = Some(role.arn().to_string());
    o.key = tags::component(&t);
    o.tags = t;
    Ok(Some(o))
}

/// Finds the desired roles by their deterministic names.
pub async fn discover_named(aws: &Aws, names: &[String]) -> anyhow::Result<Vec<Observed>> {
    let found = futures::future::try_join_all(names.iter().map(|n| read_role(aws, n))).await?;
    Ok(found.into_iter().flatten().collect())
}

/// Every role tagged for `cluster` under `/eksscale/` (for `status`/`down`,
/// which may not have a config file).
pub async fn discover_cluster(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let roles = aws
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
    let head: String = cluster.chars().take(10).collect();
    let prefix = format!("eksscale-{head}");
    let candidates: Vec<String> = roles
        .iter()
        .map(|r| r.role_name().to_string())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    let found = discover_named(aws, &candidates).await?;
    Ok(found
        .into_iter()
        .filter(|o| tags::owned_by(&o.tags, cluster))
        .collect())
}

/// Creates or updates one role node.
pub async fn ensure(
    s: &StepCtx,
    aws: &Aws,
    node: &Node,
    obs: Option<&Observed>,
    r: &dyn Resolve,
) -> anyhow::Result<(Done, Observed)> {
    let NodeSpec::IamRole(role) = &node.spec else {
        bail!("iam::ensure called for {}", node.id);
    };
    let trust = role.trust.document(r).with_context(|| {
        format!(
            "the trust policy of {} needs resources that do not exist yet",
            node.id
        )
    })?;
    let inline = &role.inline;
    match diff(node, obs, r) {
        Change::Create => {
            s.progress(format!("creating role {}", role.name));
            let created = aws
                .iam
                .create_role()
                .role_name(&role.name)
                .path(IAM_PATH)
                .description(&role.description)
                .assume_role_policy_document(trust.to_string())
                .set_tags(Some(tags::to_iam(&node.tags)?))
                .send()
                .await
                .ctx("iam:CreateRole")?;
            for arn in &role.managed {
                attach(aws, &role.name, arn).await?;
            }
            for (name, doc) in inline {
                put_inline(aws, &role.name, name, doc).await?;
            }
            let mut o = super::network::realized(node, &role.name, r, None);
            o.arn = created.role().map(|r| r.arn().to_string());
            Ok((Done::with(Outcome::Created, &role.name), o))
        }
        Change::Update { changes } => {
            let obs = obs.expect("update has an observed role");
            if touches(&changes, "trust") {
                aws.iam
                    .update_assume_role_policy()
                    .role_name(&role.name)
                    .policy_document(trust.to_string())
                    .send()
                    .await
                    .ctx("iam:UpdateAssumeRolePolicy")?;
            }
            if touches(&changes, "managedPolicies") {
                let have: BTreeSet<&str> = obs
                    .attrs
                    .get("managedPolicies")
                    .map(|s| s.split(',').filter(|x| !x.is_empty()).collect())
                    .unwrap_or_default();
                let want: BTreeSet<&str> = role.managed.iter().map(String::as_str).collect();
                for arn in want.difference(&have) {
                    attach(aws, &role.name, arn).await?;
                }
                for arn in have.difference(&want) {
                    aws.iam
                        .detach_role_policy()
                        .role_name(&role.name)
                        .policy_arn(*arn)
                        .send()
                        .await
                        .ctx("iam:DetachRolePolicy")?;
                }
            }
            for (name, doc) in inline {
                if touches(&changes, &format!("inline:{name}")) {
                    put_inline(aws, &role.name, name, doc).await?;
                }
            }
            let t = tag_changes(&changes);
            if !t.is_empty() {
                aws.iam
                    .tag_role()
                    .role_name(&role.name)
                    .set_tags(Some(tags::to_iam(&t)?))
                    .send()
                    .await
                    .ctx("iam:TagRole")?;
            }
            let o = super::network::realized(node, &obs.id, r, Some(obs));
            let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
            Ok((Done::with(Outcome::Updated, fields.join(", ")), o))
        }
        Change::Unchanged => Ok((
            Done::new(Outcome::Unchanged),
            obs.cloned().expect("no change means it exists"),
        )),
        Change::Replace { changes } => bail!(
            "role {} cannot be changed in place ({}); delete it with `eksscale down` and run `up` again",
            role.name,
            changes
                .iter()
                .map(|c| c.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
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
pub async fn delete(s: &StepCtx, aws: &Aws, obs: &Observed) -> anyhow::Result<Done> {
    let name = obs.id.as_str();
    let attached = match aws
        .iam
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
        Err(e) => return Err(super::describe_error("iam:ListAttachedRolePolicies", e)),
    };
    for p in attached {
        if let Some(arn) = p.policy_arn() {
            s.progress(format!("detaching {arn}"));
            aws.iam
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .ctx("iam:DetachRolePolicy")?;
        }
    }
    let inline = aws
        .iam
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("iam:ListRolePolicies")?;
    for p in inline {
        aws.iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(&p)
            .send()
            .await
            .ctx("iam:DeleteRolePolicy")?;
    }
    let profiles = aws
        .iam
        .list_instance_profiles_for_role()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("iam:ListInstanceProfilesForRole")?;
    for p in profiles {
        aws.iam
            .remove_role_from_instance_profile()
            .instance_profile_name(p.instance_profile_name())
            .role_name(name)
            .send()
            .await
            .ctx("iam:RemoveRoleFromInstanceProfile")?;
    }
    match aws.iam.delete_role().role_name(name).send().await {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e) if error_code(&e) == Some("NoSuchEntity") => Ok(Done::new(Outcome::Absent)),
        Err(e) => Err(super::describe_error("iam:DeleteRole", e)),
    }
}
