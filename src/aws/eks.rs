//! The EKS layer: control plane, its IAM OIDC provider (IRSA), access
//! entries, add-ons, managed node groups, Pod Identity associations, and the
//! control-plane log group. Discovery finds them by cluster name and the
//! `eksscale.io/cluster` tag; waits follow EKS's recommended 30 s polling and
//! report EKS's own health issues when something fails.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_eks::types::{
    AccessScope, AccessScopeType, AddonStatus, AuthenticationMode, CapacityTypes, ClusterStatus,
    CreateAccessConfigRequest, LogSetup, LogType, Logging, NodegroupScalingConfig, NodegroupStatus,
    NodegroupUpdateConfig, ResolveConflicts, Taint, TaintEffect, UpdateAccessConfigRequest,
    UpdateLabelsPayload, UpdateStatus, UpdateTaintsPayload, VpcConfigRequest,
};

use aws_sdk_eks::error::ProvideErrorMetadata;

use super::tags::{self, Tags};
use super::{Aws, AwsResultExt, error_code};
use crate::engine::step::StepCtx;
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome};
use crate::plan::graph::{
    self, AddonSpec, CLUSTER, ClusterSpec, LOG_GROUP, NodeGroupNodeSpec, NodeSpec, OIDC,
    labels_text, taints_text,
};
use crate::plan::{Change, FieldChange, Kind, Node, Observed, Resolve, diff, tag_changes, touches};

const EKS_POLL: Duration = Duration::from_secs(30);
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(40 * 60);
const NODEGROUP_TIMEOUT: Duration = Duration::from_secs(40 * 60);
const ADDON_TIMEOUT: Duration = Duration::from_secs(25 * 60);
/// How long a new IAM role may take to become usable by EKS.
const IAM_PROPAGATION: Duration = Duration::from_secs(3 * 60);
const NOT_FOUND: &str = "ResourceNotFoundException";

// ----------------------------------------------------------------- discovery

/// Everything EKS-side for `cluster`: the cluster and what hangs off it, the
/// OIDC provider and the log group (which can outlive the cluster).
pub async fn discover(aws: &Aws, cluster: &str, log_group: &str) -> anyhow::Result<Vec<Observed>> {
    let c = read_cluster(aws, cluster).await?;
    let issuer = c.as_ref().and_then(|c| c.internal.get("issuer").cloned());
    let (oidc, logs) = tokio::try_join!(
        discover_oidc(aws, cluster, issuer.as_deref()),
        read_log_group(aws, log_group)
    )?;
    let mut out: Vec<Observed> = oidc.into_iter().chain(logs).collect();
    if let Some(c) = c {
        let (ngs, addons, entries, pods) = tokio::try_join!(
            discover_nodegroups(aws, cluster),
            discover_addons(aws, cluster),
            discover_access_entries(aws, cluster),
            discover_pod_identities(aws, cluster),
        )?;
        out.extend(read_keda_sg_rule(aws, &c).await?);
        out.push(c);
        out.extend(ngs);
        out.extend(addons);
        out.extend(entries);
        out.extend(pods);
    }
    Ok(out)
}

fn health_text<'a>(issues: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> String {
    issues
        .into_iter()
        .map(|(code, msg)| {
            format!(
                "{}: {}",
                code.unwrap_or("issue"),
                msg.unwrap_or("no message")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub async fn read_cluster(aws: &Aws, name: &str) -> anyhow::Result<Option<Observed>> {
    let c = match aws.eks.describe_cluster().name(name).send().await {
        Ok(r) => r.cluster.context("DescribeCluster returned no cluster")?,
        Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(None),
        Err(e) => return Err(super::describe_error("eks:DescribeCluster", e)),
    };
    let vpc = c.resources_vpc_config();
    let mut subnets: Vec<String> = vpc.map(|v| v.subnet_ids().to_vec()).unwrap_or_default();
    subnets.sort();
    let mut cidrs: Vec<String> = vpc
        .map(|v| v.public_access_cidrs().to_vec())
        .unwrap_or_default();
    cidrs.sort();
    let mut logging: Vec<String> = c
        .logging()
        .map(|l| {
            l.cluster_logging()
                .iter()
                .filter(|s| s.enabled() == Some(true))
                .flat_map(|s| s.types().iter().map(|t| t.as_str().to_string()))
                .collect()
        })
        .unwrap_or_default();
    logging.sort();
    let public = vpc.is_some_and(|v| v.endpoint_public_access());
    let mut o = Observed::new(Kind::EksCluster, name)
        .attr("subnets", subnets.join(","))
        .attr("roleArn", c.role_arn().unwrap_or_default())
        .attr("version", c.version().unwrap_or_default())
        .attr("endpointPublicAccess", public.to_string())
        .attr(
            "endpointPrivateAccess",
            vpc.is_some_and(|v| v.endpoint_private_access()).to_string(),
        )
        .attr(
            "publicAccessCidrs",
            if public {
                cidrs.join(",")
            } else {
                String::new()
            },
        )
        .attr("logging", logging.join(","))
        .attr(
            "authenticationMode",
            c.access_config()
                .and_then(|a| a.authentication_mode())
                .map(|m| m.as_str())
                .unwrap_or("CONFIG_MAP"),
        );
    o.key = Some(CLUSTER.to_string());
    o.arn = c.arn().map(str::to_string);
    o.state = c.status().map(|s| s.as_str().to_string());
    o.tags = tags::from_map(c.tags());
    let internal = &mut o.internal;
    for (k, v) in [
        ("endpoint", c.endpoint()),
        (
            "certificateAuthority",
            c.certificate_authority().and_then(|a| a.data()),
        ),
        (
            "issuer",
            c.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer()),
        ),
        (
            "clusterSecurityGroupId",
            vpc.and_then(|v| v.cluster_security_group_id()),
        ),
        ("vpcId", vpc.and_then(|v| v.vpc_id())),
        ("platformVersion", c.platform_version()),
    ] {
        if let Some(v) = v {
            internal.insert(k.to_string(), v.to_string());
        }
    }
    if let Some(h) = c.health() {
        let text = health_text(
            h.issues()
                .iter()
                .map(|i| (i.code().map(|c| c.as_str()), i.message())),
        );
        if !text.is_empty() {
            internal.insert("health".into(), text);
        }
    }
    // Shown by `status` (not compared: the graph does not ask for them).
    for k in ["endpoint", "issuer"] {
        if let Some(v) = o.internal.get(k).cloned() {
            o.attrs.insert(k.to_string(), v);
        }
    }
    Ok(Some(o))
}

/// Which of KEDA's ports the cluster security group already admits from
/// itself (managed node groups without launch templates use that group).
async fn read_keda_sg_rule(aws: &Aws, cluster: &Observed) -> anyhow::Result<Vec<Observed>> {
    let Some(sg) = cluster.internal.get("clusterSecurityGroupId") else {
        return Ok(Vec::new());
    };
    let allowed = allowed_self_ports(aws, sg, &graph::KEDA_PORTS).await?;
    let mut o = Observed::new(Kind::SecurityGroupRule, sg).attr(
        "allowedTcpPorts",
        allowed
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    o.key = Some(graph::KEDA_SG_RULE.to_string());
    Ok(vec![o])
}

/// The subset of `ports` a group's ingress rules allow from the group itself.
async fn allowed_self_ports(aws: &Aws, sg: &str, ports: &[i32]) -> anyhow::Result<Vec<i32>> {
    let r = aws
        .ec2
        .describe_security_groups()
        .group_ids(sg)
        .send()
        .await
        .ctx("ec2:DescribeSecurityGroups")?;
    let rules: Vec<_> = r
        .security_groups()
        .iter()
        .flat_map(|g| g.ip_permissions())
        .filter(|p| {
            p.user_id_group_pairs()
                .iter()
                .any(|u| u.group_id() == Some(sg))
        })
        .collect();
    Ok(ports
        .iter()
        .copied()
        .filter(|port| {
            rules.iter().any(|p| match p.ip_protocol() {
                Some("-1") => true,
                Some("tcp") | Some("6") => {
                    p.from_port().unwrap_or(0) <= *port && *port <= p.to_port().unwrap_or(65535)
                }
                _ => false,
            })
        })
        .collect())
}

async fn discover_oidc(
    aws: &Aws,
    cluster: &str,
    issuer: Option<&str>,
) -> anyhow::Result<Vec<Observed>> {
    let list = aws
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .ctx("iam:ListOpenIDConnectProviders")?;
    let issuer = issuer.map(|i| i.trim_start_matches("https://").to_string());
    let arns: Vec<String> = list
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn().map(str::to_string))
        // Provider ARNs end with the issuer host/path; only EKS issuers can be ours.
        .filter(|arn| arn.contains("oidc-provider/oidc.eks."))
        .collect();
    let read = arns.iter().map(|arn| async move {
        let p = aws
            .iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .found("iam:GetOpenIDConnectProvider", &["NoSuchEntity"])?;
        anyhow::Ok(p.map(|p| (arn.clone(), p)))
    });
    let mut out = Vec::new();
    for (arn, p) in futures::future::try_join_all(read)
        .await?
        .into_iter()
        .flatten()
    {
        let t = tags::from_iam(p.tags());
        let url = p
            .url()
            .unwrap_or_default()
            .trim_start_matches("https://")
            .to_string();
        if !tags::owned_by(&t, cluster) && issuer.as_deref() != Some(url.as_str()) {
            continue;
        }
        let mut ids = p.client_id_list().to_vec();
        ids.sort();
        let mut o = Observed::new(Kind::OidcProvider, &arn)
            .attr("url", url)
            .attr("clientIds", ids.join(","))
            .tags(t);
        o.arn = Some(arn);
        o.key = Some(OIDC.to_string());
        out.push(o);
    }
    Ok(out)
}

async fn read_log_group(aws: &Aws, name: &str) -> anyhow::Result<Vec<Observed>> {
    let r = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .ctx("logs:DescribeLogGroups")?;
    let Some(g) = r
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
    else {
        return Ok(Vec::new());
    };
    let arn = g
        .log_group_arn()
        .map(str::to_string)
        .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()));
    let t = match &arn {
        Some(arn) => {
            let r = aws
                .logs
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .ctx("logs:ListTagsForResource")?;
            tags::from_map(r.tags())
        }
        None => Tags::new(),
    };
    let mut o = Observed::new(Kind::LogGroup, name)
        .attr(
            "retentionInDays",
            g.retention_in_days()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "never".into()),
        )
        .tags(t);
    o.arn = arn;
    o.key = Some(LOG_GROUP.to_string());
    Ok(vec![o])
}

async fn discover_nodegroups(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let names = aws
        .eks
        .list_nodegroups()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("eks:ListNodegroups")?;
    let read = names.iter().map(|n| read_nodegroup(aws, cluster, n));
    Ok(futures::future::try_join_all(read)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

async fn read_nodegroup(aws: &Aws, cluster: &str, name: &str) -> anyhow::Result<Option<Observed>> {
    let ng = match aws
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
    {
        Ok(r) => r
            .nodegroup
            .context("DescribeNodegroup returned no node group")?,
        Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(None),
        Err(e) => return Err(super::describe_error("eks:DescribeNodegroup", e)),
    };
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
    let mut o = Observed::new(Kind::NodeGroup, name)
        .attr("subnets", subnets.join(","))
        .attr("instanceTypes", types.join(","))
        .attr(
            "capacityType",
            ng.capacity_type()
                .map(|c| c.as_str())
                .unwrap_or("ON_DEMAND"),
        )
        .attr("nodeRole", ng.node_role().unwrap_or_default())
        .attr(
            "minSize",
            sc.and_then(|s| s.min_size()).unwrap_or(0).to_string(),
        )
        .attr(
            "desiredSize",
            sc.and_then(|s| s.desired_size()).unwrap_or(0).to_string(),
        )
        .attr(
            "maxSize",
            sc.and_then(|s| s.max_size()).unwrap_or(0).to_string(),
        )
        .attr("labels", labels_text(&labels))
        .attr("taints", taints)
        .attr("version", ng.version().unwrap_or_default());
    o.arn = ng.nodegroup_arn().map(str::to_string);
    o.state = ng.status().map(|s| s.as_str().to_string());
    // Only node groups eksscale made are mapped onto the graph (and so can be
    // changed or pruned by `up`); others are still deleted by `down`.
    if tags::owned_by(&t, cluster) {
        o.key = Some(graph::nodegroup_id(name));
    }
    o.tags = t;
    Ok(Some(o))
}

async fn discover_addons(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let names = aws
        .eks
        .list_addons()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("eks:ListAddons")?;
    let read = names.iter().map(|n| read_addon(aws, cluster, n));
    Ok(futures::future::try_join_all(read)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

async fn read_addon(aws: &Aws, cluster: &str, name: &str) -> anyhow::Result<Option<Observed>> {
    let a = match aws
        .eks
        .describe_addon()
        .cluster_name(cluster)
        .addon_name(name)
        .send()
        .await
    {
        Ok(r) => r.addon.context("DescribeAddon returned no add-on")?,
        Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(None),
        Err(e) => return Err(super::describe_error("eks:DescribeAddon", e)),
    };
    let t = tags::from_map(a.tags());
    let mut o = Observed::new(Kind::Addon, name)
        .attr("version", a.addon_version().unwrap_or_default())
        .attr(
            "serviceAccountRoleArn",
            a.service_account_role_arn().unwrap_or("none"),
        );
    o.arn = a.addon_arn().map(str::to_string);
    o.state = a.status().map(|s| s.as_str().to_string());
    if let Some(h) = a.health() {
        let text = health_text(
            h.issues()
                .iter()
                .map(|i| (i.code().map(|c| c.as_str()), i.message())),
        );
        if !text.is_empty() {
            o.internal.insert("health".into(), text);
        }
    }
    if tags::owned_by(&t, cluster) {
        o.key = Some(graph::addon_id(name));
    }
    o.tags = t;
    Ok(Some(o))
}

async fn discover_access_entries(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let principals = aws
        .eks
        .list_access_entries()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("eks:ListAccessEntries")?;
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
        if !tags::owned_by(&t, cluster) {
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
        let mut ps: Vec<String> = policies
            .associated_access_policies()
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
        let mut o = Observed::new(Kind::AccessEntry, p.as_str())
            .attr("policies", ps.join(","))
            .tags(t);
        o.key = Some(graph::access_entry_id(p));
        anyhow::Ok(Some(o))
    });
    Ok(futures::future::try_join_all(read)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

async fn discover_pod_identities(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let list = aws
        .eks
        .list_pod_identity_associations()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("eks:ListPodIdentityAssociations")?;
    let read = list.iter().map(|a| async move {
        let id = a.association_id().unwrap_or_default();
        let d = aws
            .eks
            .describe_pod_identity_association()
            .cluster_name(cluster)
            .association_id(id)
            .send()
            .await
            .found("eks:DescribePodIdentityAssociation", &[NOT_FOUND])?;
        let Some(d) = d.as_ref().and_then(|d| d.association()) else {
            return anyhow::Ok(None);
        };
        let t = tags::from_map(d.tags());
        let (ns, sa) = (
            d.namespace().unwrap_or_default(),
            d.service_account().unwrap_or_default(),
        );
        let mut o = Observed::new(Kind::PodIdentityAssociation, id)
            .attr("namespace", ns)
            .attr("serviceAccount", sa)
            .attr("roleArn", d.role_arn().unwrap_or_default());
        o.arn = d.association_arn().map(str::to_string);
        if tags::owned_by(&t, cluster) {
            o.key = Some(format!("pod-identity/{ns}/{sa}"));
        }
        o.tags = t;
        anyhow::Ok(Some(o))
    });
    Ok(futures::future::try_join_all(read)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// Default add-on versions for a Kubernetes version, one read per add-on.
pub async fn default_addon_versions(
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

// -------------------------------------------------------------------- ensure

fn need_arn(r: &dyn Resolve, node: &str) -> anyhow::Result<String> {
    r.arn_of(node)
        .with_context(|| format!("{node} has no ARN yet (it should have been created first)"))
}

fn need_id(r: &dyn Resolve, node: &str) -> anyhow::Result<String> {
    r.id_of(node)
        .with_context(|| format!("{node} does not exist yet (it should have been created first)"))
}

fn fields(changes: &[FieldChange]) -> String {
    changes
        .iter()
        .map(|c| c.field.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates or updates one EKS-side node.
pub async fn ensure(
    s: &StepCtx,
    aws: &Aws,
    cluster: &str,
    node: &Node,
    obs: Option<&Observed>,
    r: &dyn Resolve,
) -> anyhow::Result<(Done, Observed)> {
    let change = diff(node, obs, r);
    if let Change::Replace { changes } = &change {
        bail!(
            "{} cannot be changed in place ({}); eksscale never replaces it silently",
            node.id,
            fields(changes)
        );
    }
    match &node.spec {
        NodeSpec::EksCluster(c) => ensure_cluster(s, aws, node, c, obs, r, &change).await,
        NodeSpec::OidcProvider => ensure_oidc(aws, node, obs, r, &change).await,
        NodeSpec::AccessEntry { principal } => {
            ensure_access_entry(aws, cluster, node, principal, obs, r, &change).await
        }
        NodeSpec::Addon(a) => ensure_addon(s, aws, cluster, node, a, obs, r, &change).await,
        NodeSpec::NodeGroup(ng) => {
            ensure_nodegroup(s, aws, cluster, node, ng, obs, r, &change).await
        }
        NodeSpec::LogGroup {
            name,
            retention_days,
        } => ensure_log_group(aws, node, name, *retention_days, obs, r, &change).await,
        NodeSpec::PodIdentity {
            namespace,
            service_account,
            role,
        } => {
            ensure_pod_identity(
                aws,
                cluster,
                node,
                (namespace, service_account),
                role,
                obs,
                r,
                &change,
            )
            .await
        }
        NodeSpec::SecurityGroupRule { ports, description } => {
            ensure_sg_rule(s, aws, node, ports, description, obs, r, &change).await
        }
        other => bail!("eks::ensure called for {other:?}"),
    }
}

fn vpc_config(c: &ClusterSpec, subnets: Option<Vec<String>>) -> VpcConfigRequest {
    let mut b = VpcConfigRequest::builder()
        .set_subnet_ids(subnets)
        .endpoint_public_access(c.endpoint_public)
        .endpoint_private_access(c.endpoint_private);
    if c.endpoint_public {
        b = b.set_public_access_cidrs(Some(c.public_access_cidrs.clone()));
    }
    b.build()
}

fn logging(types: &[String]) -> Logging {
    let on: Vec<LogType> = types.iter().map(|t| LogType::from(t.as_str())).collect();
    let off: Vec<LogType> = crate::spec::LogType::ALL
        .iter()
        .map(|t| t.as_str())
        .filter(|t| !types.iter().any(|x| x == t))
        .map(LogType::from)
        .collect();
    let mut b = Logging::builder();
    if !on.is_empty() {
        b = b.cluster_logging(
            LogSetup::builder()
                .set_types(Some(on))
                .enabled(true)
                .build(),
        );
    }
    if !off.is_empty() {
        b = b.cluster_logging(
            LogSetup::builder()
                .set_types(Some(off))
                .enabled(false)
                .build(),
        );
    }
    b.build()
}

async fn ensure_cluster(
    s: &StepCtx,
    aws: &Aws,
    node: &Node,
    c: &ClusterSpec,
    obs: Option<&Observed>,
    r: &dyn Resolve,
    change: &Change,
) -> anyhow::Result<(Done, Observed)> {
    match change {
        Change::Create => {
            let role = need_arn(r, "iam-role/cluster")?;
            let subnets: Vec<String> = c
                .subnets
                .iter()
                .map(|n| need_id(r, n))
                .collect::<anyhow::Result<_>>()?;
            let token = format!(
                "eksscale-{}",
                crate::spec::short_hash(&format!("create/{}", c.name))
            );
            // A role created seconds ago may not be assumable by EKS yet.
            s.wait(
                "the cluster role to become usable by EKS",
                IAM_PROPAGATION,
                Duration::from_secs(10),
                || async {
                    let res = aws
                        .eks
                        .create_cluster()
                        .name(&c.name)
                        .version(&c.version)
                        .role_arn(&role)
                        .resources_vpc_config(vpc_config(c, Some(subnets.clone())))
                        .logging(logging(&c.logging))
                        .access_config(
                            CreateAccessConfigRequest::builder()
                                .authentication_mode(AuthenticationMode::Api)
                                .bootstrap_cluster_creator_admin_permissions(c.bootstrap_admin)
                                .build(),
                        )
                        .bootstrap_self_managed_addons(c.bootstrap_self_managed_addons)
                        .set_tags(Some(tags::to_map(&node.tags)))
                        .client_request_token(&token)
                        .send()
                        .await;
                    match res {
                        Ok(_) => Ok(Poll::Ready(())),
                        Err(e)
                            if error_code(&e) == Some("InvalidParameterException")
                                && e.message().is_some_and(|m| m.contains("role")) =>
                        {
                            Ok(Poll::Pending("role not assumable yet".into()))
                        }
                        // Same client token, same request: an earlier attempt went through.
                        Err(e) if error_code(&e) == Some("ResourceInUseException") => {
                            Ok(Poll::Ready(()))
                        }
                        Err(e) => Err(super::describe_error("eks:CreateCluster", e)),
                    }
                },
            )
            .await?;
            let o = wait_cluster_active(s, aws, &c.name).await?;
            Ok((Done::with(Outcome::Created, &c.name), o))
        }
        Change::Update { changes } => {
            let obs = obs.expect("update has an observed cluster");
            wait_cluster_active(s, aws, &c.name).await?;
            if touches(changes, "version") {
                s.progress(format!(
                    "upgrading the control plane to Kubernetes {}",
                    c.version
                ));
                let u = aws
                    .eks
                    .update_cluster_version()
                    .name(&c.name)
                    .version(&c.version)
                    .send()
                    .await
                    .ctx("eks:UpdateClusterVersion")?;
                wait_update(s, aws, &c.name, None, u.update().and_then(|u| u.id())).await?;
            }
            if [
                "endpointPublicAccess",
                "endpointPrivateAccess",
                "publicAccessCidrs",
            ]
            .iter()
            .any(|f| touches(changes, f))
            {
                let u = aws
                    .eks
                    .update_cluster_config()
                    .name(&c.name)
                    .resources_vpc_config(vpc_config(c, None))
                    .send()
                    .await
                    .ctx("eks:UpdateClusterConfig")?;
                wait_update(s, aws, &c.name, None, u.update().and_then(|u| u.id())).await?;
            }
            if touches(changes, "logging") {
                let u = aws
                    .eks
                    .update_cluster_config()
                    .name(&c.name)
                    .logging(logging(&c.logging))
                    .send()
                    .await
                    .ctx("eks:UpdateClusterConfig")?;
                wait_update(s, aws, &c.name, None, u.update().and_then(|u| u.id())).await?;
            }
            if touches(changes, "authenticationMode") {
                let u = aws
                    .eks
                    .update_cluster_config()
                    .name(&c.name)
                    .access_config(
                        UpdateAccessConfigRequest::builder()
                            .authentication_mode(AuthenticationMode::Api)
                            .build(),
                    )
                    .send()
                    .await
                    .ctx("eks:UpdateClusterConfig")?;
                wait_update(s, aws, &c.name, None, u.update().and_then(|u| u.id())).await?;
            }
            tag_eks(
                aws,
                obs.arn.as_deref().unwrap_or_default(),
                &tag_changes(changes),
            )
            .await?;
            let o = wait_cluster_active(s, aws, &c.name).await?;
            Ok((Done::with(Outcome::Updated, fields(changes)), o))
        }
        _ => {
            let obs = obs.expect("no change means it exists");
            if obs.state.as_deref() == Some("ACTIVE") {
                Ok((Done::new(Outcome::Unchanged), obs.clone()))
            } else {
                let o = wait_cluster_active(s, aws, &c.name).await?;
                Ok((Done::new(Outcome::Unchanged), o))
            }
        }
    }
}

async fn wait_cluster_active(s: &StepCtx, aws: &Aws, name: &str) -> anyhow::Result<Observed> {
    s.wait(
        format!("cluster {name} to become ACTIVE"),
        CLUSTER_TIMEOUT,
        EKS_POLL,
        || async {
            let Some(o) = read_cluster(aws, name).await? else {
                return Ok(Poll::Pending("not visible yet".into()));
            };
            let state = o.state.clone().unwrap_or_default();
            Ok(match ClusterStatus::from(state.as_str()) {
                ClusterStatus::Active => Poll::Ready(o),
                ClusterStatus::Failed => Poll::Failed(format!(
                    "status FAILED ({}); delete it with `eksscale down` and run `up` again",
                    o.internal
                        .get("health")
                        .map(String::as_str)
                        .unwrap_or("EKS gave no reason")
                )),
                ClusterStatus::Deleting => Poll::Failed("the cluster is being deleted".into()),
                _ => Poll::Pending(state),
            })
        },
    )
    .await
}

/// Waits for an EKS update (cluster or node group) to finish.
async fn wait_update(
    s: &StepCtx,
    aws: &Aws,
    cluster: &str,
    nodegroup: Option<&str>,
    id: Option<&str>,
) -> anyhow::Result<()> {
    let Some(id) = id else { return Ok(()) };
    s.wait(
        format!("update {id} of {}", nodegroup.unwrap_or(cluster)),
        CLUSTER_TIMEOUT,
        EKS_POLL,
        || async {
            let u = aws
                .eks
                .describe_update()
                .name(cluster)
                .set_nodegroup_name(nodegroup.map(str::to_string))
                .update_id(id)
                .send()
                .await
                .ctx("eks:DescribeUpdate")?;
            let Some(u) = u.update() else {
                return Ok(Poll::Pending("not visible yet".into()));
            };
            Ok(match u.status() {
                Some(UpdateStatus::Successful) => Poll::Ready(()),
                Some(UpdateStatus::Failed) | Some(UpdateStatus::Cancelled) => Poll::Failed(
                    u.errors()
                        .iter()
                        .map(|e| {
                            format!(
                                "{}: {}",
                                e.error_code().map(|c| c.as_str()).unwrap_or("error"),
                                e.error_message().unwrap_or("")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                other => Poll::Pending(other.map(|s| s.as_str()).unwrap_or("unknown").to_string()),
            })
        },
    )
    .await
}

async fn ensure_oidc(
    aws: &Aws,
    node: &Node,
    obs: Option<&Observed>,
    r: &dyn Resolve,
    change: &Change,
) -> anyhow::Result<(Done, Observed)> {
    match change {
        Change::Create => {
            let issuer = r
                .get(CLUSTER)
                .and_then(|c| c.internal.get("issuer").cloned())
                .context("the cluster has no OIDC issuer yet")?;
            // No thumbprint: IAM fetches it and validates EKS issuers through its trusted CAs.
            let created = aws
                .iam
                .create_open_id_connect_provider()
                .url(&issuer)
                .client_id_list("sts.amazonaws.com")
                .set_tags(Some(tags::to_iam(&node.tags)?))
                .send()
                .await
                .ctx("iam:CreateOpenIDConnectProvider")?;
            let arn = created
                .open_id_connect_provider_arn()
                .context("CreateOpenIDConnectProvider returned no ARN")?
                .to_string();
            let mut o = super::network::realized(node, &arn, r, None);
            o.arn = Some(arn.clone());
            Ok((Done::with(Outcome::Created, arn), o))
        }
        Change::Update { changes } => {
            let obs = obs.expect("update has an observed provider");
            if touches(changes, "clientIds") {
                aws.iam
                    .add_client_id_to_open_id_connect_provider()
                    .open_id_connect_provider_arn(&obs.id)
                    .client_id("sts.amazonaws.com")
                    .send()
                    .await
                    .ctx("iam:AddClientIDToOpenIDConnectProvider")?;
            }
            let t = tag_changes(changes);
            if !t.is_empty() {
                aws.iam
                    .tag_open_id_connect_provider()
                    .open_id_connect_provider_arn(&obs.id)
                    .set_tags(Some(tags::to_iam(&t)?))
                    .send()
                    .await
                    .ctx("iam:TagOpenIDConnectProvider")?;
            }
            let mut o = super::network::realized(node, &obs.id, r, Some(obs));
            o.arn = Some(obs.id.clone());
            Ok((Done::with(Outcome::Updated, fields(changes)), o))
        }
        _ => Ok((Done::new(Outcome::Unchanged), obs.cloned().expect("exists"))),
    }
}

async fn ensure_access_entry(
    aws: &Aws,
    cluster: &str,
    node: &Node,
    principal: &str,
    obs: Option<&Observed>,
    r: &dyn Resolve,
    change: &Change,
) -> anyhow::Result<(Done, Observed)> {
    let policy_arn = format!(
        "arn:{}:eks::aws:cluster-access-policy/{}",
        graph::partition(&aws.region),
        graph::CLUSTER_ADMIN_POLICY
    );
    let associate = || async {
        aws.eks
            .associate_access_policy()
            .cluster_name(cluster)
            .principal_arn(principal)
            .policy_arn(&policy_arn)
            .access_scope(
                AccessScope::builder()
                    .r#type(AccessScopeType::Cluster)
                    .build(),
            )
            .send()
            .await
            .ctx("eks:AssociateAccessPolicy")
    };
    match change {
        Change::Create => {
            match aws
                .eks
                .create_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal)
                .set_tags(Some(tags::to_map(&node.tags)))
                .send()
                .await
            {
                Ok(_) => {}
                // The creator's own entry exists already (bootstrapCreatorAdmin): adopt it.
                Err(e) if error_code(&e) == Some("ResourceInUseException") => {
                    let arn = aws
                        .eks
                        .describe_access_entry()
                        .cluster_name(cluster)
                        .principal_arn(principal)
                        .send()
                        .await
                        .ctx("eks:DescribeAccessEntry")?
                        .access_entry()
                        .and_then(|a| a.access_entry_arn())
                        .unwrap_or_default()
                        .to_string();
                    tag_eks(aws, &arn, &node.tags).await?;
                }
                Err(e) => return Err(super::describe_error("eks:CreateAccessEntry", e)),
            }
            associate().await?;
            let o = super::network::realized(node, principal, r, None);
            Ok((Done::with(Outcome::Created, principal), o))
        }
        Change::Update { changes } => {
            let obs = obs.expect("update has an observed entry");
            if touches(changes, "policies") {
                associate().await?;
            }
            let t = tag_changes(changes);
            if !t.is_empty() {
                let arn = aws
                    .eks
                    .describe_access_entry()
                    .cluster_name(cluster)
                    .principal_arn(principal)
                    .send()
                    .await
                    .ctx("eks:DescribeAccessEntry")?
                    .access_entry()
                    .and_then(|a| a.access_entry_arn())
                    .unwrap_or_default()
                    .to_string();
                tag_eks(aws, &arn, &t).await?;
            }
            Ok((
                Done::with(Outcome::Updated, fields(changes)),
                super::network::realized(node, &obs.id, r, Some(obs)),
            ))
        }
        _ => Ok((Done::new(Outcome::Unchanged), obs.cloned().expect("exists"))),
    }
}

/// Adds `t` to an EKS resource's tags (nothing to do when empty).
async fn tag_eks(aws: &Aws, arn: &str, t: &Tags) -> anyhow::Result<()> {
    if t.is_empty() {
        return Ok(());
    }
    aws.eks
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags::to_map(t)))
        .send()
        .await
        .ctx("eks:TagResource")?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn ensure_addon(
    s: &StepCtx,
    aws: &Aws,
    cluster: &str,
    node: &Node,
    a: &AddonSpec,
    obs: Option<&Observed>,
    r: &dyn Resolve,
    change: &Change,
) -> anyhow::Result<(Done, Observed)> {
    let role = match &a.role {
        Some(role) => Some(need_arn(r, role)?),
        None => None,
    };
    let version = node.attrs["version"]
        .value
        .resolve(r)
        .unwrap_or_else(|| a.version.clone());
    let outcome = match change {
        Change::Create => {
            aws.eks
                .create_addon()
                .cluster_name(cluster)
                .addon_name(&a.name)
                .addon_version(&version)
                .set_service_account_role_arn(role.clone())
                .resolve_conflicts(ResolveConflicts::Overwrite)
                .set_tags(Some(tags::to_map(&node.tags)))
                .send()
                .await
                .ctx("eks:CreateAddon")?;
            Done::with(Outcome::Created, &version)
        }
        Change::Update { changes } => {
            if touches(changes, "version") || touches(changes, "serviceAccountRoleArn") {
                let u = aws
                    .eks
                    .update_addon()
                    .cluster_name(cluster)
                    .addon_name(&a.name)
                    .addon_version(&version)
                    .set_service_account_role_arn(role.clone())
                    .resolve_conflicts(ResolveConflicts::Overwrite)
                    .send()
                    .await
                    .ctx("eks:UpdateAddon")?;
                let _ = u;
            }
            tag_eks(
                aws,
                obs.and_then(|o| o.arn.as_deref()).unwrap_or_default(),
                &tag_changes(changes),
            )
            .await?;
            Done::with(Outcome::Updated, fields(changes))
        }
        _ => {
            let obs = obs.expect("exists");
            if obs.state.as_deref() == Some("ACTIVE") {
                return Ok((Done::new(Outcome::Unchanged), obs.clone()));
            }
            Done::new(Outcome::Unchanged)
        }
    };
    let o = wait_addon_active(s, aws, cluster, &a.name, a.before_nodes).await?;
    let mut o = super::network::realized(node, &a.name, r, Some(&o));
    o.key = Some(node.id.clone());
    Ok((outcome, o))
}

async fn wait_addon_active(
    s: &StepCtx,
    aws: &Aws,
    cluster: &str,
    name: &str,
    before_nodes: bool,
) -> anyhow::Result<Observed> {
    s.wait(
        format!("add-on {name} to become ACTIVE"),
        ADDON_TIMEOUT,
        EKS_POLL,
        || async {
            let Some(o) = read_addon(aws, cluster, name).await? else {
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

#[allow(clippy::too_many_arguments)]
async fn ensure_nodegroup(
    s: &StepCtx,
    aws: &Aws,
    cluster: &str,
    node: &Node,
    ng: &NodeGroupNodeSpec,
    obs: Option<&Observed>,
    r: &dyn Resolve,
    change: &Change,
) -> anyhow::Result<(Done, Observed)> {
    let eks_taints = || -> Vec<Taint> {
        ng.taints
            .iter()
            .map(|t| {
                Taint::builder()
                    .key(&t.key)
                    .set_value(t.value.clone())
                    .effect(TaintEffect::from(t.effect.eks_api()))
                    .build()
            })
            .collect()
    };
    let scaling = NodegroupScalingConfig::builder()
        .min_size(ng.min)
        .desired_size(ng.desired)
        .max_size(ng.max)
        .build();
    let outcome = match change {
        Change::Create => {
            let subnets: Vec<String> = ng
                .subnets
                .iter()
                .map(|n| need_id(r, n))
                .collect::<anyhow::Result<_>>()?;
            let token = format!(
                "eksscale-{}",
                crate::spec::short_hash(&format!("{cluster}/{}", ng.name))
            );
            aws.eks
                .create_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(&ng.name)
                .scaling_config(scaling)
                .set_subnets(Some(subnets))
                .set_instance_types(Some(ng.instance_types.clone()))
                .capacity_type(CapacityTypes::from(ng.capacity.as_str()))
                .node_role(need_arn(r, "iam-role/node")?)
                .set_labels(Some(
                    ng.labels.clone().into_iter().collect::<HashMap<_, _>>(),
                ))
                .set_taints(Some(eks_taints()))
                .version(&ng.version)
                .update_config(NodegroupUpdateConfig::builder().max_unavailable(1).build())
                .set_tags(Some(tags::to_map(&node.tags)))
                .client_request_token(token)
                .send()
                .await
                .ctx("eks:CreateNodegroup")?;
            Done::with(Outcome::Created, &ng.name)
        }
        Change::Update { changes } => {
            let obs = obs.expect("update has an observed node group");
            wait_nodegroup_active(s, aws, cluster, &ng.name).await?;
            let scaling_changed = ["minSize", "desiredSize", "maxSize"]
                .iter()
                .any(|f| touches(changes, f));
            let labels_changed = touches(changes, "labels");
            let taints_changed = touches(changes, "taints");
            if scaling_changed || labels_changed || taints_changed {
                let mut req = aws
                    .eks
                    .update_nodegroup_config()
                    .cluster_name(cluster)
                    .nodegroup_name(&ng.name);
                if scaling_changed {
                    req = req.scaling_config(scaling);
                }
                if labels_changed {
                    let old =
                        parse_labels(obs.attrs.get("labels").map(String::as_str).unwrap_or(""));
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
                        parse_taints(obs.attrs.get("taints").map(String::as_str).unwrap_or(""))
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
                            .set_add_or_update_taints(Some(eks_taints()))
                            .set_remove_taints((!remove.is_empty()).then_some(remove))
                            .build(),
                    );
                }
                let u = req.send().await.ctx("eks:UpdateNodegroupConfig")?;
                wait_update(
                    s,
                    aws,
                    cluster,
                    Some(&ng.name),
                    u.update().and_then(|u| u.id()),
                )
                .await?;
            }
            if touches(changes, "version") {
                s.progress(format!(
                    "rolling node group {} to Kubernetes {}",
                    ng.name, ng.version
                ));
                let u = aws
                    .eks
                    .update_nodegroup_version()
                    .cluster_name(cluster)
                    .nodegroup_name(&ng.name)
                    .version(&ng.version)
                    .send()
                    .await
                    .ctx("eks:UpdateNodegroupVersion")?;
                wait_update(
                    s,
                    aws,
                    cluster,
                    Some(&ng.name),
                    u.update().and_then(|u| u.id()),
                )
                .await?;
            }
            tag_eks(
                aws,
                obs.arn.as_deref().unwrap_or_default(),
                &tag_changes(changes),
            )
            .await?;
            Done::with(Outcome::Updated, fields(changes))
        }
        _ => {
            let obs = obs.expect("exists");
            if obs.state.as_deref() == Some("ACTIVE") {
                return Ok((Done::new(Outcome::Unchanged), obs.clone()));
            }
            Done::new(Outcome::Unchanged)
        }
    };
    let o = wait_nodegroup_active(s, aws, cluster, &ng.name).await?;
    let mut o = super::network::realized(node, &ng.name, r, Some(&o));
    o.key = Some(node.id.clone());
    Ok((outcome, o))
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse_taints(text: &str) -> Vec<(String, Option<String>, String)> {
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

async fn wait_nodegroup_active(
    s: &StepCtx,
    aws: &Aws,
    cluster: &str,
    name: &str,
) -> anyhow::Result<Observed> {
    s.wait(
        format!("node group {name} to become ACTIVE"),
        NODEGROUP_TIMEOUT,
        EKS_POLL,
        || async {
            let Some(o) = read_nodegroup(aws, cluster, name).await? else {
                return Ok(Poll::Pending("not visible yet".into()));
            };
            let state = o.state.clone().unwrap_or_default();
            Ok(match NodegroupStatus::from(state.as_str()) {
                NodegroupStatus::Active => Poll::Ready(o),
                NodegroupStatus::CreateFailed | NodegroupStatus::Degraded => Poll::Failed(format!(
                    "status {state}: {}",
                    nodegroup_health(aws, cluster, name)
                        .await
                        .unwrap_or_else(|| "EKS gave no reason".into())
                )),
                _ => Poll::Pending(state),
            })
        },
    )
    .await
}

async fn nodegroup_health(aws: &Aws, cluster: &str, name: &str) -> Option<String> {
    let r = aws
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
        .ok()?;
    let h = r.nodegroup()?.health()?;
    let text = health_text(
        h.issues()
            .iter()
            .map(|i| (i.code().map(|c| c.as_str()), i.message())),
    );
    (!text.is_empty()).then_some(text)
}

async fn ensure_log_group(
    aws: &Aws,
    node: &Node,
    name: &str,
    retention_days: i32,
    obs: Option<&Observed>,
    r: &dyn Resolve,
    change: &Change,
) -> anyhow::Result<(Done, Observed)> {
    let retention = || async {
        aws.logs
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(retention_days)
            .send()
            .await
            .ctx("logs:PutRetentionPolicy")
    };
    match change {
        Change::Create => {
            match aws
                .logs
                .create_log_group()
                .log_group_name(name)
                .set_tags(Some(tags::to_map(&node.tags)))
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if error_code(&e) == Some("ResourceAlreadyExistsException") => {}
                Err(e) => return Err(super::describe_error("logs:CreateLogGroup", e)),
            }
            retention().await?;
            Ok((
                Done::with(Outcome::Created, name),
                super::network::realized(node, name, r, None),
            ))
        }
        Change::Update { changes } => {
            let obs = obs.expect("update has an observed log group");
            if touches(changes, "retentionInDays") {
                retention().await?;
            }
            let t = tag_changes(changes);
            if !t.is_empty()
                && let Some(arn) = &obs.arn
            {
                aws.logs
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tags::to_map(&t)))
                    .send()
                    .await
                    .ctx("logs:TagResource")?;
            }
            Ok((
                Done::with(Outcome::Updated, fields(changes)),
                super::network::realized(node, name, r, Some(obs)),
            ))
        }
        _ => Ok((Done::new(Outcome::Unchanged), obs.cloned().expect("exists"))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn ensure_pod_identity(
    aws: &Aws,
    cluster: &str,
    node: &Node,
    (namespace, service_account): (&str, &str),
    role: &str,
    obs: Option<&Observed>,
    r: &dyn Resolve,
    change: &Change,
) -> anyhow::Result<(Done, Observed)> {
    let role_arn = need_arn(r, role)?;
    match change {
        Change::Create => {
            let a = aws
                .eks
                .create_pod_identity_association()
                .cluster_name(cluster)
                .namespace(namespace)
                .service_account(service_account)
                .role_arn(&role_arn)
                .set_tags(Some(tags::to_map(&node.tags)))
                .send()
                .await
                .ctx("eks:CreatePodIdentityAssociation")?;
            let a = a
                .association()
                .context("CreatePodIdentityAssociation returned nothing")?;
            let id = a.association_id().unwrap_or_default().to_string();
            let mut o = super::network::realized(node, &id, r, None);
            o.arn = a.association_arn().map(str::to_string);
            Ok((Done::with(Outcome::Created, id), o))
        }
        Change::Update { changes } => {
            let obs = obs.expect("update has an observed association");
            if touches(changes, "roleArn") {
                aws.eks
                    .update_pod_identity_association()
                    .cluster_name(cluster)
                    .association_id(&obs.id)
                    .role_arn(&role_arn)
                    .send()
                    .await
                    .ctx("eks:UpdatePodIdentityAssociation")?;
            }
            tag_eks(
                aws,
                obs.arn.as_deref().unwrap_or_default(),
                &tag_changes(changes),
            )
            .await?;
            Ok((
                Done::with(Outcome::Updated, fields(changes)),
                super::network::realized(node, &obs.id, r, Some(obs)),
            ))
        }
        _ => Ok((Done::new(Outcome::Unchanged), obs.cloned().expect("exists"))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn ensure_sg_rule(
    s: &StepCtx,
    aws: &Aws,
    node: &Node,
    ports: &[i32],
    description: &str,
    obs: Option<&Observed>,
    r: &dyn Resolve,
    change: &Change,
) -> anyhow::Result<(Done, Observed)> {
    if matches!(change, Change::Unchanged) {
        return Ok((Done::new(Outcome::Unchanged), obs.cloned().expect("exists")));
    }
    let sg = r
        .get(CLUSTER)
        .and_then(|c| c.internal.get("clusterSecurityGroupId").cloned())
        .context("the cluster has no cluster security group yet")?;
    // The plan may not have known the group; look at its rules now.
    let allowed = allowed_self_ports(aws, &sg, ports).await?;
    let missing: Vec<i32> = ports
        .iter()
        .copied()
        .filter(|p| !allowed.contains(p))
        .collect();
    if !missing.is_empty() {
        s.progress(format!("allowing TCP {missing:?} within {sg}"));
        let perms: Vec<aws_sdk_ec2::types::IpPermission> = missing
            .iter()
            .map(|p| {
                aws_sdk_ec2::types::IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(*p)
                    .to_port(*p)
                    .user_id_group_pairs(
                        aws_sdk_ec2::types::UserIdGroupPair::builder()
                            .group_id(&sg)
                            .description(description)
                            .build(),
                    )
                    .build()
            })
            .collect();
        aws.ec2
            .authorize_security_group_ingress()
            .group_id(&sg)
            .set_ip_permissions(Some(perms))
            .send()
            .await
            .ctx("ec2:AuthorizeSecurityGroupIngress")?;
    }
    let o = super::network::realized(node, &sg, r, obs);
    let outcome = match (change, missing.is_empty()) {
        (_, true) => Outcome::Unchanged,
        (Change::Create, false) => Outcome::Created,
        _ => Outcome::Updated,
    };
    Ok((
        Done::with(outcome, format!("{sg} admits TCP {ports:?} from itself")),
        o,
    ))
}

// -------------------------------------------------------------------- delete

pub async fn delete(s: &StepCtx, aws: &Aws, cluster: &str, obs: &Observed) -> anyhow::Result<Done> {
    let id = obs.id.as_str();
    match obs.kind() {
        Kind::NodeGroup => {
            // A node group still being created or updated cannot be deleted yet.
            s.wait(
                format!("node group {id} to be deleted"),
                NODEGROUP_TIMEOUT,
                EKS_POLL,
                || async {
                    let Some(cur) = read_nodegroup(aws, cluster, id).await? else {
                        return Ok(Poll::Ready(()));
                    };
                    match cur.state.as_deref() {
                        Some("CREATING") | Some("UPDATING") => Ok(Poll::Pending(format!(
                            "{} (deleting once it settles)",
                            cur.state.unwrap_or_default()
                        ))),
                        Some("DELETING") => Ok(Poll::Pending("DELETING".into())),
                        _ => match aws
                            .eks
                            .delete_nodegroup()
                            .cluster_name(cluster)
                            .nodegroup_name(id)
                            .send()
                            .await
                        {
                            Ok(_) => Ok(Poll::Pending("DELETING".into())),
                            Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(Poll::Ready(())),
                            Err(e) if error_code(&e) == Some("ResourceInUseException") => {
                                Ok(Poll::Pending("in use".into()))
                            }
                            Err(e) => Err(super::describe_error("eks:DeleteNodegroup", e)),
                        },
                    }
                },
            )
            .await?;
            Ok(Done::new(Outcome::Deleted))
        }
        Kind::Addon => {
            match aws
                .eks
                .delete_addon()
                .cluster_name(cluster)
                .addon_name(id)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if error_code(&e) == Some(NOT_FOUND) => {
                    return Ok(Done::new(Outcome::Absent));
                }
                Err(e) => return Err(super::describe_error("eks:DeleteAddon", e)),
            }
            s.wait(
                format!("add-on {id} to be deleted"),
                ADDON_TIMEOUT,
                EKS_POLL,
                || async {
                    Ok(match read_addon(aws, cluster, id).await? {
                        None => Poll::Ready(()),
                        Some(a) => Poll::Pending(a.state.unwrap_or_default()),
                    })
                },
            )
            .await?;
            Ok(Done::new(Outcome::Deleted))
        }
        Kind::AccessEntry => match aws
            .eks
            .delete_access_entry()
            .cluster_name(cluster)
            .principal_arn(id)
            .send()
            .await
        {
            Ok(_) => Ok(Done::new(Outcome::Deleted)),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(Done::new(Outcome::Absent)),
            Err(e) => Err(super::describe_error("eks:DeleteAccessEntry", e)),
        },
        Kind::PodIdentityAssociation => match aws
            .eks
            .delete_pod_identity_association()
            .cluster_name(cluster)
            .association_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(Done::new(Outcome::Deleted)),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(Done::new(Outcome::Absent)),
            Err(e) => Err(super::describe_error("eks:DeletePodIdentityAssociation", e)),
        },
        Kind::EksCluster => delete_cluster(s, aws, id).await,
        Kind::OidcProvider => match aws
            .iam
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(id)
            .send()
            .await
        {
            Ok(_) => Ok(Done::new(Outcome::Deleted)),
            Err(e) if error_code(&e) == Some("NoSuchEntity") => Ok(Done::new(Outcome::Absent)),
            Err(e) => Err(super::describe_error("iam:DeleteOpenIDConnectProvider", e)),
        },
        Kind::LogGroup => match aws.logs.delete_log_group().log_group_name(id).send().await {
            Ok(_) => Ok(Done::new(Outcome::Deleted)),
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {
                Ok(Done::new(Outcome::Absent))
            }
            Err(e) => Err(super::describe_error("logs:DeleteLogGroup", e)),
        },
        other => bail!("eks::delete called for {other}"),
    }
}

/// Deletes the cluster, waiting out a creation in progress first (a cluster
/// stuck in CREATING cannot be deleted until EKS finishes or fails it).
async fn delete_cluster(s: &StepCtx, aws: &Aws, name: &str) -> anyhow::Result<Done> {
    let mut requested = false;
    s.wait(
        format!("cluster {name} to be deleted"),
        CLUSTER_TIMEOUT,
        EKS_POLL,
        || {
            let first = !requested;
            requested = true;
            async move {
                let Some(c) = read_cluster(aws, name).await? else {
                    return Ok(Poll::Ready(()));
                };
                match c.state.as_deref() {
                    Some("CREATING") | Some("UPDATING") => Ok(Poll::Pending(format!(
                        "{} (EKS does not allow deleting it until that ends)",
                        c.state.unwrap_or_default()
                    ))),
                    Some("DELETING") => Ok(Poll::Pending("DELETING".into())),
                    _ => match aws.eks.delete_cluster().name(name).send().await {
                        Ok(_) => Ok(Poll::Pending("DELETING".into())),
                        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(Poll::Ready(())),
                        Err(e) if error_code(&e) == Some("ResourceInUseException") && !first => Ok(
                            Poll::Pending("still has node groups or add-ons being deleted".into()),
                        ),
                        Err(e) => Err(super::describe_error("eks:DeleteCluster", e)),
                    },
                }
            }
        },
    )
    .await?;
    Ok(Done::new(Outcome::Deleted))
}
