//! EKS add-ons at the default version EKS offers for the cluster's Kubernetes
//! version (never downgraded), with `OVERWRITE` conflict resolution and, where
//! the add-on needs AWS permissions, an IRSA role. DaemonSet add-ons
//! (`before_nodes`) are ACTIVE without nodes and node groups wait for them;
//! the others (coredns, metrics-server) become ACTIVE once nodes run them.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_eks::types::{AddonStatus, ResolveConflicts};

use super::ec2::coded;
use super::eks::{self, EKS_POLL, NOT_FOUND, UpdateOf};
use super::retry::{self, Lag};
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value};
use crate::aws::tags::{self, Tags};
use crate::aws::{Aws, AwsResultExt, describe_error, error_code};
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "addon";
pub const DELETE_AFTER: &[Kind] = &[Kind::NodeGroup];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::InCluster;
pub const DELETION: Deletion = Deletion::Each;

pub const VERSION: &str = "version";
pub const SA_ROLE_ARN: &str = "serviceAccountRoleArn";
/// EKS `configurationValues` (JSON), `none` when unset.
pub const CONFIG: &str = "configurationValues";
pub const STATUS_COLUMNS: &[&str] = &[VERSION];

const TIMEOUT: Duration = Duration::from_secs(25 * 60);

/// `addon/<name>`.
pub fn id(name: &str) -> NodeId {
    format!("addon/{name}")
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub cluster: NodeId,
    /// The default version for the cluster's Kubernetes version.
    pub version: String,
    /// IRSA role node for the add-on's service account.
    pub role: Option<NodeId>,
    /// Runs on every node (DaemonSet): ACTIVE without nodes; node groups wait for it.
    pub before_nodes: bool,
    /// For add-ons that need nodes (coredns, metrics-server): the node groups
    /// that can run their pods (some desired nodes, no NoSchedule/NoExecute
    /// taint). They are waited for after those node groups; with none, not at
    /// all (they would hold a step until they time out: eksctl #4607).
    pub runs_on: Vec<NodeId>,
    /// Pod networking, DNS or service routing: removed from EKS management
    /// with `preserve`, never from the cluster.
    pub core: bool,
    /// `configurationValues` eksscale sets (`catalog::addon_configuration`);
    /// `None` leaves whatever the add-on has (a user's own settings).
    pub configuration: Option<String>,
}

impl Desired {
    pub fn node(self, tags: Tags) -> Node {
        let d = self.clone();
        let own = id(&d.name);
        let want = d.version.clone();
        let lookup = own.clone();
        let node = Node::new(&own, NodeSpec::Addon(self))
            .dep(&d.cluster)
            // The default version, unless a newer one is already installed
            // (never downgrade an add-on).
            .mutable(
                VERSION,
                Value::computed(move |r| {
                    let current = r.get(&lookup).and_then(|o| o.attrs.get(VERSION).cloned());
                    Some(match current {
                        Some(c) if version_key(&c) >= version_key(&want) => c,
                        _ => want.clone(),
                    })
                }),
            )
            .mutable(CONFIG, {
                let (want, lookup) = (d.configuration.clone(), own.clone());
                Value::computed(move |r| {
                    Some(match &want {
                        Some(c) => c.clone(),
                        // Not eksscale's to set: never a change.
                        None => r
                            .get(&lookup)
                            .and_then(|o| o.attrs.get(CONFIG).cloned())
                            .unwrap_or_else(|| "none".into()),
                    })
                })
            })
            .tagged(tags);
        match &d.role {
            Some(role) => node.dep(role).mutable(SA_ROLE_ARN, Value::arn_of(role)),
            None => node.mutable(SA_ROLE_ARN, Value::lit("none")),
        }
    }
}

pub fn typical_seconds(d: &Desired, _: &Change) -> u64 {
    // DaemonSet add-ons go ACTIVE quickly while no node exists yet.
    if d.before_nodes { 30 } else { 60 }
}

/// Compares EKS add-on versions such as `v1.19.2-eksbuild.1` numerically.
pub fn version_key(v: &str) -> Vec<u64> {
    v.trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// Default add-on versions for a Kubernetes version, one read per add-on.
pub async fn default_versions(
    aws: &Aws,
    kubernetes_version: &str,
    names: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let read = names.iter().map(|name| async move {
        let r = aws
            .eks
            .describe_addon_versions()
            .kubernetes_version(kubernetes_version)
            .addon_name(name)
            .send()
            .await
            .ctx("eks:DescribeAddonVersions")?;
        let default = r
            .addons()
            .iter()
            .flat_map(|a| a.addon_versions())
            .find(|v| {
                v.compatibilities()
                    .iter()
                    .any(|c| c.cluster_version() == Some(kubernetes_version) && c.default_version())
            })
            .and_then(|v| v.addon_version())
            .with_context(|| {
                format!("EKS offers no default version of add-on {name} for Kubernetes {kubernetes_version}; remove it from spec.addons or pick another kubernetesVersion")
            })?;
        anyhow::Ok((name.clone(), default.to_string()))
    });
    Ok(futures::future::try_join_all(read)
        .await?
        .into_iter()
        .collect())
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    if cx.eks.is_none() {
        return Ok(Vec::new());
    }
    let names = cx
        .aws
        .eks
        .list_addons()
        .cluster_name(cx.cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .found("eks:ListAddons", &[super::eks::NOT_FOUND])?
        // The cluster deleted since DescribeCluster: nothing of it left.
        .unwrap_or_default();
    let read = names.iter().map(|n| read(cx.aws, cx.cluster, n));
    super::eks::found_all(read).await
}

async fn read(aws: &Aws, cluster: &str, name: &str) -> anyhow::Result<Option<Observed>> {
    match aws
        .eks
        .describe_addon()
        .cluster_name(cluster)
        .addon_name(name)
        .send()
        .await
    {
        Ok(r) => Ok(r.addon().map(|a| observe(a, cluster, &aws.region))),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(None),
        Err(e) => Err(describe_error("eks:DescribeAddon", e)),
    }
}

fn observe(a: &aws_sdk_eks::types::Addon, cluster: &str, region: &str) -> Observed {
    let t = tags::from_map(a.tags());
    let name = a.addon_name().unwrap_or_default();
    let mut o = Observed::new(Kind::Addon, name)
        .attr(VERSION, a.addon_version().unwrap_or_default())
        .attr(
            SA_ROLE_ARN,
            a.service_account_role_arn().unwrap_or("none"),
        )
        .attr(
            CONFIG,
            a.configuration_values()
                .filter(|c| !c.is_empty())
                .unwrap_or("none"),
        );
    o.arn = a.addon_arn().map(str::to_string);
    o.state = a.status().map(|s| s.as_str().to_string());
    if let Some(h) = a.health() {
        let text = eks::health_text(
            h.issues()
                .iter()
                .map(|i| (i.code().map(|c| c.as_str()), i.message())),
        );
        if !text.is_empty() {
            o.internal.insert("health".into(), text);
        }
    }
    // Add-ons eksscale did not make are reported and left alone (EKS deletes
    // them with the cluster).
    o.keyed(id(name)).claimed(t, cluster, region)
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    a: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    let role = match &a.role {
        Some(role) => Some(cx.refs.need_arn(role)?),
        None => None,
    };
    let version = node
        .attrs
        .get(VERSION)
        .and_then(|v| v.value.resolve(cx.refs))
        .unwrap_or_else(|| a.version.clone());
    let e = match e {
        // Being deleted (an interrupted `down`): let it go, then create it again.
        Ensure::Unchanged(o) | Ensure::Update { obs: o, .. } if going_away(o) => {
            cx.step.progress(format!(
                "add-on {} is {}; waiting for it to go, then creating it again",
                a.name,
                o.state.as_deref().unwrap_or_default()
            ));
            delete(cx, o).await?;
            Ensure::Create
        }
        other => other,
    };
    let outcome = match e {
        Ensure::Create => {
            retry::eventually(cx, "eks:CreateAddon", Lag::Iam, || async {
                cx.aws
                    .eks
                    .create_addon()
                    .cluster_name(cx.cluster)
                    .addon_name(&a.name)
                    .addon_version(&version)
                    .set_service_account_role_arn(role.clone())
                    .set_configuration_values(a.configuration.clone())
                    .resolve_conflicts(ResolveConflicts::Overwrite)
                    .set_tags(Some(tags::to_map(&node.tags)))
                    .send()
                    .await
                    .map_err(|e| coded("eks:CreateAddon", e))
            })
            .await?;
            Done::with(Outcome::Created, &version)
        }
        Ensure::Update { obs, .. } => {
            if e.touches(VERSION) || e.touches(SA_ROLE_ARN) || e.touches(CONFIG) {
                let u = cx
                    .aws
                    .eks
                    .update_addon()
                    .cluster_name(cx.cluster)
                    .addon_name(&a.name)
                    .addon_version(&version)
                    .set_service_account_role_arn(role.clone())
                    .set_configuration_values(a.configuration.clone())
                    .resolve_conflicts(ResolveConflicts::Overwrite)
                    .send()
                    .await
                    .ctx("eks:UpdateAddon")?;
                // Wait for this update by its id: a stale ACTIVE read right
                // after the call would end the wait too early.
                eks::wait_update(cx, UpdateOf::Addon(&a.name), u.update().and_then(|u| u.id()))
                    .await?;
            }
            eks::tag(
                cx.aws,
                obs.arn.as_deref().unwrap_or_default(),
                &e.tag_changes(),
            )
            .await?;
            Done::with(Outcome::Updated, e.fields())
        }
        Ensure::Unchanged(obs) => {
            if obs.state.as_deref() == Some("ACTIVE") {
                return Ok((Done::new(Outcome::Unchanged), obs.clone()));
            }
            Done::new(Outcome::Unchanged)
        }
    };
    if !a.before_nodes {
        // ACTIVE only once nodes run its pods: the `ready` step waits for
        // that after the node groups, so nothing here holds a slot.
        let o = read(cx.aws, cx.cluster, &a.name)
            .await?
            .ok_or_else(|| anyhow::anyhow!("add-on {} is not visible after creating it", a.name))?;
        let mut o = node.realized(&a.name, cx.refs, Some(&o));
        o.key = Some(node.id.clone());
        let note = if a.runs_on.is_empty() {
            "not waited for: no node group can run its pods (desiredSize 0, or tainted)"
        } else {
            "ACTIVE once nodes run it"
        };
        let outcome = Done::with(
            outcome.outcome,
            match outcome.detail {
                Some(d) if !d.is_empty() => format!("{d}; {note}"),
                _ => note.to_string(),
            },
        );
        return Ok((outcome, o));
    }
    let o = wait_active(cx, &a.name, a.before_nodes).await?;
    let mut o = node.realized(&a.name, cx.refs, Some(&o));
    o.key = Some(node.id.clone());
    Ok((outcome, o))
}

fn going_away(o: &Observed) -> bool {
    matches!(o.state.as_deref(), Some("DELETING") | Some("DELETE_FAILED"))
}

/// The step that waits for an add-on that needs nodes to become ACTIVE, once
/// the node groups that can run it are ready; `None` when there are none.
pub fn ready_step(
    ctx: &super::steps::RunCtx,
    node: &Node,
    a: &Desired,
    outputs: &super::steps::Outputs,
) -> Option<crate::engine::Step> {
    if a.before_nodes || a.runs_on.is_empty() {
        return None;
    }
    let id = format!("{}/ready", node.id);
    let (ctx, name, outputs) = (ctx.clone(), a.name.clone(), outputs.clone());
    Some(crate::engine::Step {
        id: id.clone(),
        deps: std::iter::once(node.id.clone())
            .chain(a.runs_on.iter().cloned())
            .collect(),
        verb: crate::engine::Verb::Check,
        run: Box::new(move || {
            Box::pin(async move {
                let s = ctx.step(&id);
                let cx = Cx {
                    step: &s,
                    aws: &ctx.aws,
                    cluster: &ctx.cluster,
                    refs: &outputs,
                };
                let o = wait_active(&cx, &name, false).await?;
                Ok(Done::with(
                    Outcome::Unchanged,
                    format!("ACTIVE ({})", o.attrs.get(VERSION).cloned().unwrap_or_default()),
                ))
            })
        }),
    })
}

async fn wait_active(cx: &Cx<'_>, name: &str, before_nodes: bool) -> anyhow::Result<Observed> {
    cx.step
        .wait(
            format!("add-on {name} to become ACTIVE"),
            TIMEOUT,
            EKS_POLL,
            || async {
                let Some(o) = read(cx.aws, cx.cluster, name).await? else {
                    return Ok(Poll::Pending("not visible yet".into()));
                };
                let state = o.state.clone().unwrap_or_default();
                let health = o.internal.get("health").cloned().unwrap_or_default();
                Ok(match AddonStatus::from(state.as_str()) {
                    AddonStatus::Active => Poll::Ready(o),
                    AddonStatus::CreateFailed | AddonStatus::UpdateFailed => {
                        Poll::Failed(format!("status {state}: {health}"))
                    }
                    // Deployment-type add-ons (coredns, metrics-server) stay degraded until nodes join.
                    AddonStatus::Degraded if !before_nodes => {
                        Poll::Pending("DEGRADED (waiting for nodes to run on)".into())
                    }
                    _ => Poll::Pending(if health.is_empty() {
                        state
                    } else {
                        format!("{state}: {health}")
                    }),
                })
            },
        )
        .await
}

/// Deletes an add-on. Core add-ons (pod networking, DNS, service routing) are
/// deleted with `preserve`: EKS stops managing them, their pods keep running,
/// so a cluster whose config drops one keeps working.
pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let name = obs.id.as_str();
    let preserve = crate::catalog::addon(name).is_some_and(|i| i.core);
    if obs.state.as_deref() != Some("DELETING") {
        match cx
            .aws
            .eks
            .delete_addon()
            .cluster_name(cx.cluster)
            .addon_name(name)
            .preserve(preserve)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(Done::new(Outcome::Absent)),
            Err(e) => return Err(describe_error("eks:DeleteAddon", e)),
        }
    }
    cx.step
        .wait(
            format!("add-on {name} to be deleted"),
            TIMEOUT,
            EKS_POLL,
            || async {
                Ok(match read(cx.aws, cx.cluster, name).await? {
                    None => Poll::Ready(()),
                    Some(a) => Poll::Pending(a.state.unwrap_or_default()),
                })
            },
        )
        .await?;
    Ok(if preserve {
        Done::with(
            Outcome::Deleted,
            "preserved: its pods keep running, no longer managed by EKS",
        )
    } else {
        Done::new(Outcome::Deleted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_exactly_the_compared_attributes() {
        let node = Desired {
            name: "coredns".into(),
            cluster: "eks-cluster".into(),
            version: "v1.11.4-eksbuild.2".into(),
            role: None,
            before_nodes: false,
            runs_on: vec![],
            core: true,
            configuration: None,
        }
        .node(Tags::new());
        let a = aws_sdk_eks::types::Addon::builder()
            .addon_name("coredns")
            .addon_version("v1.11.4-eksbuild.2")
            .build();
        let o = observe(&a, "demo", "us-west-2");
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn versions_compare_numerically_and_never_downgrade() {
        assert!(version_key("v1.19.10-eksbuild.1") > version_key("v1.19.9-eksbuild.3"));
        let node = Desired {
            name: "vpc-cni".into(),
            cluster: "eks-cluster".into(),
            version: "v1.19.2-eksbuild.1".into(),
            role: None,
            before_nodes: true,
            runs_on: vec![],
            core: true,
            configuration: None,
        }
        .node(Tags::new());
        let newer = Observed::new(Kind::Addon, "vpc-cni").attr(VERSION, "v1.20.0-eksbuild.1");
        let world: BTreeMap<String, Observed> = [(id("vpc-cni"), newer)].into();
        assert_eq!(
            node.attrs[VERSION].value.resolve(&world).as_deref(),
            Some("v1.20.0-eksbuild.1")
        );
    }

    #[test]
    fn configuration_is_compared_only_where_eksscale_sets_it() {
        let desired = |configuration: Option<&str>| {
            Desired {
                name: "aws-ebs-csi-driver".into(),
                cluster: "eks-cluster".into(),
                version: "v1.40.0-eksbuild.1".into(),
                role: None,
                before_nodes: false,
                runs_on: vec![],
                core: false,
                configuration: configuration.map(str::to_string),
            }
            .node(Tags::new())
        };
        let users = Observed::new(Kind::Addon, "aws-ebs-csi-driver")
            .attr(CONFIG, r#"{"controller":{"replicaCount":3}}"#);
        let world: BTreeMap<String, Observed> = [(id("aws-ebs-csi-driver"), users)].into();
        // Not eksscale's: the user's value stands.
        assert_eq!(
            desired(None).attrs[CONFIG].value.resolve(&world).as_deref(),
            Some(r#"{"controller":{"replicaCount":3}}"#)
        );
        assert_eq!(
            desired(None).attrs[CONFIG].value.resolve(&BTreeMap::<String, Observed>::new()).as_deref(),
            Some("none")
        );
        // eksscale's: its value, whatever is there.
        assert_eq!(
            desired(Some("{}")).attrs[CONFIG].value.resolve(&world).as_deref(),
            Some("{}")
        );
    }
}
