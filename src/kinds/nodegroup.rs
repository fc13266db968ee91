//! Managed node groups: one per entry of `spec.nodeGroups`, or one per zone
//! (`perZone`, named `<name>-<zone letter>`) so the cluster autoscaler and
//! topology spread can count on every zone. Updates roll one node at a time
//! (maxUnavailable 1); instance types, capacity type and subnets are fixed.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_eks::types::{
    AmiTypes, CapacityTypes, NodegroupScalingConfig, NodegroupStatus, NodegroupUpdateConfig, Taint,
    TaintEffect, UpdateLabelsPayload, UpdateTaintsPayload,
};

use super::ec2::coded;
use super::eks::{self, EKS_POLL, NOT_FOUND, UpdateOf};
use super::retry::{self, Lag};
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value};
use crate::aws::tags::{self, Tags};
use crate::aws::{Aws, AwsResultExt, describe_error, error_code};
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "nodegroup";
pub const DELETE_AFTER: &[Kind] = &[];
pub const BILLABLE: bool = true;
pub const PHASE: Phase = Phase::InCluster;
pub const DELETION: Deletion = Deletion::Each;

pub const SUBNETS: &str = "subnets";
pub const INSTANCE_TYPES: &str = "instanceTypes";
pub const CAPACITY_TYPE: &str = "capacityType";
pub const AMI_TYPE: &str = "amiType";
pub const NODE_ROLE: &str = "nodeRole";
pub const MIN_SIZE: &str = "minSize";
pub const DESIRED_SIZE: &str = "desiredSize";
pub const MAX_SIZE: &str = "maxSize";
pub const LABELS: &str = "labels";
pub const TAINTS: &str = "taints";
pub const VERSION: &str = "version";
/// `<template id>:<version>`, or `none`.
pub const LAUNCH_TEMPLATE: &str = "launchTemplate";
pub const STATUS_COLUMNS: &[&str] = &[MIN_SIZE, DESIRED_SIZE, MAX_SIZE, INSTANCE_TYPES, VERSION];

/// Managed node group creation, typically 3-4 minutes.
pub const CREATE_SECONDS: u64 = 210;
const TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// `nodegroup/<name>`.
pub fn id(name: &str) -> NodeId {
    format!("nodegroup/{name}")
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub cluster: NodeId,
    pub role: NodeId,
    pub subnets: Vec<NodeId>,
    pub instance_types: Vec<String>,
    /// EKS AMI type, e.g. `AL2023_ARM_64_STANDARD` (chosen at validation).
    pub ami_type: String,
    pub capacity: String,
    pub min: i32,
    pub desired: i32,
    pub max: i32,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<crate::spec::Taint>,
    pub version: String,
    /// eksscale's launch template for the nodes (IMDSv2, hop limit 1,
    /// encrypted volume).
    pub launch_template: Option<NodeId>,
    /// Nodes that must be ready first: the private routes (nodes pull images
    /// through the NAT gateway) and the DaemonSet add-ons.
    pub after: Vec<NodeId>,
}

impl Desired {
    pub fn node(self, tags: Tags) -> Node {
        let d = self.clone();
        let mut types = d.instance_types.clone();
        types.sort();
        Node::new(id(&d.name), NodeSpec::NodeGroup(self))
            .dep(&d.cluster)
            .dep(&d.role)
            .deps(d.subnets.iter().cloned())
            .deps(d.after.iter().cloned())
            .fixed(SUBNETS, Value::Refs(d.subnets.clone()))
            .fixed(INSTANCE_TYPES, Value::lit(types.join(",")))
            .fixed(CAPACITY_TYPE, Value::lit(&d.capacity))
            .fixed(AMI_TYPE, Value::lit(&d.ami_type))
            .fixed(NODE_ROLE, Value::arn_of(&d.role))
            .mutable(MIN_SIZE, Value::lit(d.min.to_string()))
            .mutable(DESIRED_SIZE, Value::lit(d.desired.to_string()))
            .mutable(MAX_SIZE, Value::lit(d.max.to_string()))
            .mutable(LABELS, Value::lit(labels_text(&d.labels)))
            .mutable(
                TAINTS,
                Value::lit(taints_text(d.taints.iter().map(|t| {
                    (t.key.as_str(), t.value.as_deref(), t.effect.eks_api())
                }))),
            )
            .mutable(VERSION, Value::lit(&d.version))
            .mutable(
                LAUNCH_TEMPLATE,
                match &d.launch_template {
                    Some(lt) => {
                        let lt = lt.clone();
                        Value::computed(move |r| {
                            let o = r.get(&lt)?;
                            let v = o.internal.get(super::launch_template::VERSION)?;
                            Some(format!("{}:{v}", o.id))
                        })
                    }
                    None => Value::lit("none"),
                },
            )
            .deps(d.launch_template.iter().cloned())
            .tagged(tags)
    }
}

pub fn typical_seconds(_: &Desired, change: &Change) -> u64 {
    match change {
        Change::Update { .. } => 300,
        _ => CREATE_SECONDS,
    }
}

/// `key=value` pairs, sorted, comma-joined (labels as compared).
pub fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `key=value:EFFECT` entries, sorted, comma-joined (taints as compared).
pub fn taints_text<'a>(
    taints: impl IntoIterator<Item = (&'a str, Option<&'a str>, &'a str)>,
) -> String {
    let mut v: Vec<String> = taints
        .into_iter()
        .map(|(k, val, e)| format!("{k}={}:{e}", val.unwrap_or("")))
        .collect();
    v.sort();
    v.join(",")
}

/// The inverse of [`labels_text`].
pub fn parse_labels(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The inverse of [`taints_text`]: (key, value, EKS effect).
pub fn parse_taints(text: &str) -> Vec<(String, Option<String>, String)> {
    text.split(',')
        .filter(|t| !t.is_empty())
        .filter_map(|t| {
            let (kv, effect) = t.rsplit_once(':')?;
            let (k, v) = kv.split_once('=')?;
            Some((
                k.to_string(),
                (!v.is_empty()).then(|| v.to_string()),
                effect.to_string(),
            ))
        })
        .collect()
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    if cx.eks.is_none() {
        return Ok(Vec::new());
    }
    let names = cx
        .aws
        .eks
        .list_nodegroups()
        .cluster_name(cx.cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .found("eks:ListNodegroups", &[super::eks::NOT_FOUND])?
        // The cluster deleted since DescribeCluster: nothing of it left.
        .unwrap_or_default();
    let read = names.iter().map(|n| read(cx.aws, cx.cluster, n));
    super::eks::found_all(read).await
}

async fn read(aws: &Aws, cluster: &str, name: &str) -> anyhow::Result<Option<Observed>> {
    match aws
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
    {
        Ok(r) => Ok(r.nodegroup().map(|ng| observe(ng, cluster, &aws.region))),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(None),
        Err(e) => Err(describe_error("eks:DescribeNodegroup", e)),
    }
}

fn observe(ng: &aws_sdk_eks::types::Nodegroup, cluster: &str, region: &str) -> Observed {
    let name = ng.nodegroup_name().unwrap_or_default();
    let mut subnets = ng.subnets().to_vec();
    subnets.sort();
    let mut types = ng.instance_types().to_vec();
    types.sort();
    let sc = ng.scaling_config();
    let labels: BTreeMap<String, String> = ng
        .labels()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let taints = taints_text(ng.taints().iter().map(|t| {
        (
            t.key().unwrap_or_default(),
            t.value(),
            t.effect().map(|e| e.as_str()).unwrap_or(""),
        )
    }));
    let t = tags::from_map(ng.tags());
    let size = |f: fn(&NodegroupScalingConfig) -> Option<i32>| {
        sc.and_then(f).unwrap_or(0).to_string()
    };
    let mut o = Observed::new(Kind::NodeGroup, name)
        .attr(SUBNETS, subnets.join(","))
        .attr(INSTANCE_TYPES, types.join(","))
        .attr(
            CAPACITY_TYPE,
            ng.capacity_type()
                .map(|c| c.as_str())
                .unwrap_or("ON_DEMAND"),
        )
        .attr(NODE_ROLE, ng.node_role().unwrap_or_default())
        .attr(
            AMI_TYPE,
            // EKS's default when none was sent (Kubernetes 1.30 and later).
            ng.ami_type()
                .map(|a| a.as_str())
                .unwrap_or("AL2023_x86_64_STANDARD"),
        )
        .attr(MIN_SIZE, size(NodegroupScalingConfig::min_size))
        .attr(DESIRED_SIZE, size(NodegroupScalingConfig::desired_size))
        .attr(MAX_SIZE, size(NodegroupScalingConfig::max_size))
        .attr(LABELS, labels_text(&labels))
        .attr(TAINTS, taints)
        .attr(VERSION, ng.version().unwrap_or_default())
        .attr(
            LAUNCH_TEMPLATE,
            match ng.launch_template() {
                Some(lt) => format!(
                    "{}:{}",
                    lt.id().unwrap_or_default(),
                    lt.version().unwrap_or_default()
                ),
                None => "none".to_string(),
            },
        );
    o.arn = ng.nodegroup_arn().map(str::to_string);
    o.state = ng.status().map(|s| s.as_str().to_string());
    // Node groups eksscale did not make (no ownership tags) are reported and
    // left alone, never changed or deleted.
    o.keyed(id(name)).claimed(t, cluster, region)
}

fn eks_taints(d: &Desired) -> Vec<Taint> {
    d.taints
        .iter()
        .map(|t| {
            Taint::builder()
                .key(&t.key)
                .set_value(t.value.clone())
                .effect(TaintEffect::from(t.effect.eks_api()))
                .build()
        })
        .collect()
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    ng: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    let scaling = NodegroupScalingConfig::builder()
        .min_size(ng.min)
        .desired_size(ng.desired)
        .max_size(ng.max)
        .build();
    let e = match e {
        // Being deleted (an interrupted `down`), or a delete that failed: let
        // it go (deleting it again if needed), then create it again.
        Ensure::Unchanged(o) | Ensure::Update { obs: o, .. }
            if matches!(o.state.as_deref(), Some("DELETING") | Some("DELETE_FAILED")) =>
        {
            cx.step.progress(format!(
                "node group {} is {}; waiting for it to go, then creating it again",
                ng.name,
                o.state.as_deref().unwrap_or_default()
            ));
            delete(cx, o).await?;
            Ensure::Create
        }
        other => other,
    };
    let outcome = match e {
        Ensure::Create => {
            let subnets: Vec<String> = ng
                .subnets
                .iter()
                .map(|n| cx.refs.need_id(n))
                .collect::<anyhow::Result<_>>()?;
            let node_role = cx.refs.need_arn(&ng.role)?;
            let launch_template = launch_template_spec(cx, ng)?;
            // No client request token: the SDK generates one per call (EKS
            // wants 33-126 characters, and a token derived from the name would
            // be reused by the next cluster of the same name). A node role
            // created moments ago may not be usable by EKS yet.
            retry::eventually(cx, "eks:CreateNodegroup", Lag::Iam, || async {
            cx.aws
                .eks
                .create_nodegroup()
                .cluster_name(cx.cluster)
                .nodegroup_name(&ng.name)
                .scaling_config(scaling.clone())
                .set_subnets(Some(subnets.clone()))
                .set_instance_types(Some(ng.instance_types.clone()))
                .ami_type(AmiTypes::from(ng.ami_type.as_str()))
                .set_launch_template(launch_template.clone())
                .capacity_type(CapacityTypes::from(ng.capacity.as_str()))
                .node_role(&node_role)
                .set_labels(Some(
                    ng.labels.clone().into_iter().collect::<HashMap<_, _>>(),
                ))
                .set_taints(Some(eks_taints(ng)))
                .version(&ng.version)
                .update_config(NodegroupUpdateConfig::builder().max_unavailable(1).build())
                .set_tags(Some(tags::to_map(&node.tags)))
                .send()
                .await
                .map_err(|e| coded("eks:CreateNodegroup", e))
            })
            .await?;
            Done::with(Outcome::Created, &ng.name)
        }
        Ensure::Update { obs, .. } => {
            wait_active(cx, &ng.name).await?;
            update(cx, ng, obs, &e, scaling).await?;
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
    let o = wait_active(cx, &ng.name).await?;
    let mut o = node.realized(&ng.name, cx.refs, Some(&o));
    o.key = Some(node.id.clone());
    Ok((outcome, o))
}

/// Scaling, labels and taints in one config update; the version on its own.
async fn update(
    cx: &Cx<'_>,
    ng: &Desired,
    obs: &Observed,
    e: &Ensure<'_>,
    scaling: NodegroupScalingConfig,
) -> anyhow::Result<()> {
    let scaling_changed = [MIN_SIZE, DESIRED_SIZE, MAX_SIZE]
        .iter()
        .any(|f| e.touches(f));
    let (labels_changed, taints_changed) = (e.touches(LABELS), e.touches(TAINTS));
    if scaling_changed || labels_changed || taints_changed {
        let mut req = cx
            .aws
            .eks
            .update_nodegroup_config()
            .cluster_name(cx.cluster)
            .nodegroup_name(&ng.name);
        if scaling_changed {
            req = req.scaling_config(scaling);
        }
        if labels_changed {
            let old = parse_labels(obs.attrs.get(LABELS).map(String::as_str).unwrap_or(""));
            let remove: Vec<String> = old
                .keys()
                .filter(|k| !ng.labels.contains_key(*k))
                .cloned()
                .collect();
            req = req.labels(
                UpdateLabelsPayload::builder()
                    .set_add_or_update_labels(Some(ng.labels.clone().into_iter().collect()))
                    .set_remove_labels((!remove.is_empty()).then_some(remove))
                    .build(),
            );
        }
        if taints_changed {
            let remove: Vec<Taint> =
                parse_taints(obs.attrs.get(TAINTS).map(String::as_str).unwrap_or(""))
                    .into_iter()
                    .filter(|(k, _, e)| {
                        !ng.taints
                            .iter()
                            .any(|t| &t.key == k && t.effect.eks_api() == e)
                    })
                    .map(|(k, v, e)| {
                        Taint::builder()
                            .key(k)
                            .set_value(v)
                            .effect(TaintEffect::from(e.as_str()))
                            .build()
                    })
                    .collect();
            req = req.taints(
                UpdateTaintsPayload::builder()
                    .set_add_or_update_taints(Some(eks_taints(ng)))
                    .set_remove_taints((!remove.is_empty()).then_some(remove))
                    .build(),
            );
        }
        let u = req.send().await.ctx("eks:UpdateNodegroupConfig")?;
        eks::wait_update(
            cx,
            UpdateOf::Nodegroup(&ng.name),
            u.update().and_then(|u| u.id()),
        )
        .await?;
    }
    if e.touches(VERSION) || e.touches(LAUNCH_TEMPLATE) {
        cx.step.progress(format!(
            "rolling node group {} to Kubernetes {}{}",
            ng.name,
            ng.version,
            if e.touches(LAUNCH_TEMPLATE) {
                " and its launch template's new version"
            } else {
                ""
            }
        ));
        let mut req = cx
            .aws
            .eks
            .update_nodegroup_version()
            .cluster_name(cx.cluster)
            .nodegroup_name(&ng.name);
        // The version and the template cannot change in one update.
        if e.touches(VERSION) {
            req = req.version(&ng.version);
        } else {
            req = req.set_launch_template(launch_template_spec(cx, ng)?);
        }
        let u = req.send().await.ctx("eks:UpdateNodegroupVersion")?;
        eks::wait_update(
            cx,
            UpdateOf::Nodegroup(&ng.name),
            u.update().and_then(|u| u.id()),
        )
        .await?;
    }
    Ok(())
}

/// The node group's launch template (id and version) once it exists.
fn launch_template_spec(
    cx: &Cx<'_>,
    ng: &Desired,
) -> anyhow::Result<Option<aws_sdk_eks::types::LaunchTemplateSpecification>> {
    let Some(lt) = &ng.launch_template else {
        return Ok(None);
    };
    let o = cx
        .refs
        .get(lt)
        .ok_or_else(|| anyhow::anyhow!("{lt} does not exist yet"))?;
    Ok(Some(
        aws_sdk_eks::types::LaunchTemplateSpecification::builder()
            .id(&o.id)
            .set_version(o.internal.get(super::launch_template::VERSION).cloned())
            .build(),
    ))
}

async fn wait_active(cx: &Cx<'_>, name: &str) -> anyhow::Result<Observed> {
    cx.step
        .wait(
            format!("node group {name} to become ACTIVE"),
            TIMEOUT,
            EKS_POLL,
            || async {
                let Some(o) = read(cx.aws, cx.cluster, name).await? else {
                    return Ok(Poll::Pending("not visible yet".into()));
                };
                let state = o.state.clone().unwrap_or_default();
                Ok(match NodegroupStatus::from(state.as_str()) {
                    NodegroupStatus::Active => Poll::Ready(o),
                    // It exists and runs what it can (e.g. Spot capacity is
                    // short in a zone): a warning, not a failure of every run.
                    NodegroupStatus::Degraded => {
                        cx.step.events.warn(format!(
                            "node group {name} is DEGRADED: {}; it runs what it can, eksscale goes on (see the EKS console's health issues)",
                            health(cx.aws, cx.cluster, name)
                                .await
                                .unwrap_or_else(|| "EKS gave no reason".into())
                        ));
                        Poll::Ready(o)
                    }
                    NodegroupStatus::CreateFailed => Poll::Failed(format!(
                        "status {state}: {}",
                        health(cx.aws, cx.cluster, name)
                            .await
                            .unwrap_or_else(|| "EKS gave no reason".into())
                    )),
                    _ => Poll::Pending(state),
                })
            },
        )
        .await
}

async fn health(aws: &Aws, cluster: &str, name: &str) -> Option<String> {
    let r = aws
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
        .ok()?;
    let h = r.nodegroup()?.health()?;
    let text = eks::health_text(
        h.issues()
            .iter()
            .map(|i| (i.code().map(|c| c.as_str()), i.message())),
    );
    (!text.is_empty()).then_some(text)
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let name = obs.id.as_str();
    // A node group still being created or updated cannot be deleted yet.
    cx.step
        .wait(
            format!("node group {name} to be deleted"),
            TIMEOUT,
            EKS_POLL,
            || async {
                let Some(cur) = read(cx.aws, cx.cluster, name).await? else {
                    return Ok(Poll::Ready(()));
                };
                match cur.state.as_deref() {
                    Some("CREATING") | Some("UPDATING") => Ok(Poll::Pending(format!(
                        "{} (deleting once it settles)",
                        cur.state.unwrap_or_default()
                    ))),
                    Some("DELETING") => Ok(Poll::Pending("DELETING".into())),
                    _ => match cx
                        .aws
                        .eks
                        .delete_nodegroup()
                        .cluster_name(cx.cluster)
                        .nodegroup_name(name)
                        .send()
                        .await
                    {
                        Ok(_) => Ok(Poll::Pending("DELETING".into())),
                        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(Poll::Ready(())),
                        Err(e) if error_code(&e) == Some("ResourceInUseException") => {
                            Ok(Poll::Pending("in use".into()))
                        }
                        Err(e) => Err(describe_error("eks:DeleteNodegroup", e)),
                    },
                }
            },
        )
        .await?;
    Ok(Done::new(Outcome::Deleted))
}

#[cfg(test)]
#[path = "nodegroup_tests.rs"]
mod tests;
