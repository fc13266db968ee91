//! The EKS control plane: API authentication mode, endpoint access, logging,
//! on every public and private subnet. Created with an idempotency token,
//! waited for until ACTIVE (EKS's waiters poll every 30 s), updated in place
//! (version one minor at a time, endpoint access, logging, authentication
//! mode); never replaced.

use std::time::Duration;

use aws_sdk_eks::error::ProvideErrorMetadata;
use aws_sdk_eks::types::{
    AuthenticationMode, ClusterStatus, CreateAccessConfigRequest, LogSetup, LogType, Logging,
    SupportType, UpdateAccessConfigRequest, UpgradePolicyRequest, VpcConfigRequest,
};

use super::eks::{self, EKS_POLL, NOT_FOUND, UpdateOf};
use super::retry::Lag;
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value};
use crate::aws::tags::{self, Tags};
use crate::aws::{Aws, AwsResultExt, describe_error, error_code};
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "eks-cluster";
pub const ID: &str = "eks-cluster";
pub const DELETE_AFTER: &[Kind] = &[
    Kind::NodeGroup,
    Kind::Addon,
    Kind::AccessEntry,
    Kind::PodIdentityAssociation,
];
pub const BILLABLE: bool = true;
pub const PHASE: Phase = Phase::Cluster;
pub const DELETION: Deletion = Deletion::Each;

pub const SUBNETS: &str = "subnets";
pub const ROLE_ARN: &str = "roleArn";
pub const VERSION: &str = "version";
pub const ENDPOINT_PUBLIC: &str = "endpointPublicAccess";
pub const ENDPOINT_PRIVATE: &str = "endpointPrivateAccess";
pub const PUBLIC_CIDRS: &str = "publicAccessCidrs";
pub const LOGGING: &str = "logging";
pub const AUTH_MODE: &str = "authenticationMode";
pub const SUPPORT_TYPE: &str = "supportType";
/// Shown by `status`, not compared (the config does not choose them).
pub const ENDPOINT: &str = "endpoint";
pub const ISSUER: &str = "issuer";
pub const SHOWN: &[&str] = &[ENDPOINT, ISSUER];
pub const STATUS_COLUMNS: &[&str] = &[VERSION, ENDPOINT, ISSUER];

/// Keys of `Observed::internal` other kinds read.
pub const CA: &str = "certificateAuthority";
pub const CLUSTER_SECURITY_GROUP: &str = "clusterSecurityGroupId";
pub const HEALTH: &str = "health";

/// EKS control plane creation, typically 8-10 minutes.
pub const CREATE_SECONDS: u64 = 540;
const TIMEOUT: Duration = Duration::from_secs(40 * 60);
/// How long a new IAM role may take to become usable by EKS.
const IAM_PROPAGATION: Duration = Duration::from_secs(3 * 60);

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub version: String,
    /// The cluster role node.
    pub role: NodeId,
    /// Subnet nodes (every public and private subnet of every zone).
    pub subnets: Vec<NodeId>,
    /// The log group node, created first so eksscale owns it.
    pub log_group: Option<NodeId>,
    pub endpoint_public: bool,
    pub endpoint_private: bool,
    pub public_access_cidrs: Vec<String>,
    pub logging: Vec<String>,
    /// `upgradePolicy.supportType`: STANDARD or EXTENDED.
    pub support_type: String,
    pub bootstrap_admin: bool,
    /// False when the config installs vpc-cni, kube-proxy and coredns as EKS
    /// add-ons, so EKS does not first install self-managed copies of them.
    pub bootstrap_self_managed_addons: bool,
}

impl Desired {
    pub fn node(self, tags: Tags) -> Node {
        let mut cidrs = self.public_access_cidrs.clone();
        cidrs.sort();
        let d = self.clone();
        Node::new(ID, NodeSpec::EksCluster(self))
            .dep(&d.role)
            .deps(d.subnets.iter().cloned())
            .deps(d.log_group.iter().cloned())
            .fixed(SUBNETS, Value::Refs(d.subnets.clone()))
            .fixed(ROLE_ARN, Value::arn_of(&d.role))
            .mutable(VERSION, Value::lit(&d.version))
            .mutable(ENDPOINT_PUBLIC, Value::lit(d.endpoint_public.to_string()))
            .mutable(ENDPOINT_PRIVATE, Value::lit(d.endpoint_private.to_string()))
            .mutable(PUBLIC_CIDRS, Value::lit(cidrs.join(",")))
            .mutable(LOGGING, Value::lit(d.logging.join(",")))
            .mutable(AUTH_MODE, Value::lit("API"))
            .mutable(SUPPORT_TYPE, Value::lit(&d.support_type))
            .tagged(tags)
    }
}

pub fn typical_seconds(_: &Desired, change: &Change) -> u64 {
    match change {
        Change::Update { .. } => 600,
        _ => CREATE_SECONDS,
    }
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    Ok(read(cx.aws, cx.cluster).await?.into_iter().collect())
}

/// Reads the cluster by name; `None` if it does not exist.
pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<Observed>> {
    match aws.eks.describe_cluster().name(name).send().await {
        Ok(r) => Ok(r
            .cluster
            .as_ref()
            .map(|c| observe(c).claimed(tags::from_map(c.tags()), name, &aws.region))),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(None),
        Err(e) => Err(describe_error("eks:DescribeCluster", e)),
    }
}

fn observe(c: &aws_sdk_eks::types::Cluster) -> Observed {
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
    let mut o = Observed::new(Kind::EksCluster, c.name().unwrap_or_default())
        .attr(SUBNETS, subnets.join(","))
        .attr(ROLE_ARN, c.role_arn().unwrap_or_default())
        .attr(VERSION, c.version().unwrap_or_default())
        .attr(ENDPOINT_PUBLIC, public.to_string())
        .attr(
            ENDPOINT_PRIVATE,
            vpc.is_some_and(|v| v.endpoint_private_access()).to_string(),
        )
        .attr(
            PUBLIC_CIDRS,
            if public {
                cidrs.join(",")
            } else {
                String::new()
            },
        )
        .attr(LOGGING, logging.join(","))
        .attr(
            AUTH_MODE,
            c.access_config()
                .and_then(|a| a.authentication_mode())
                .map(|m| m.as_str())
                .unwrap_or("CONFIG_MAP"),
        )
        .attr(
            SUPPORT_TYPE,
            // EKS's default when a cluster was created without one.
            c.upgrade_policy()
                .and_then(|u| u.support_type())
                .map(|t| t.as_str())
                .unwrap_or("EXTENDED"),
        )
        .keyed(ID);
    o.arn = c.arn().map(str::to_string);
    o.state = c.status().map(|s| s.as_str().to_string());
    o.tags = tags::from_map(c.tags());
    for (k, v) in [
        (ENDPOINT, c.endpoint()),
        (CA, c.certificate_authority().and_then(|a| a.data())),
        (
            ISSUER,
            c.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer()),
        ),
        (
            CLUSTER_SECURITY_GROUP,
            vpc.and_then(|v| v.cluster_security_group_id()),
        ),
        ("vpcId", vpc.and_then(|v| v.vpc_id())),
        ("platformVersion", c.platform_version()),
    ] {
        if let Some(v) = v {
            o.internal.insert(k.to_string(), v.to_string());
        }
    }
    if let Some(h) = c.health() {
        let text = eks::health_text(
            h.issues()
                .iter()
                .map(|i| (i.code().map(|c| c.as_str()), i.message())),
        );
        if !text.is_empty() {
            o.internal.insert(HEALTH.into(), text);
        }
    }
    for k in SHOWN {
        if let Some(v) = o.internal.get(*k).cloned() {
            o.attrs.insert(k.to_string(), v);
        }
    }
    o
}

fn vpc_config(c: &Desired, subnets: Option<Vec<String>>) -> VpcConfigRequest {
    let mut b = VpcConfigRequest::builder()
        .set_subnet_ids(subnets)
        .endpoint_public_access(c.endpoint_public)
        .endpoint_private_access(c.endpoint_private);
    if c.endpoint_public {
        b = b.set_public_access_cidrs(Some(c.public_access_cidrs.clone()));
    }
    b.build()
}

fn upgrade_policy(c: &Desired) -> UpgradePolicyRequest {
    UpgradePolicyRequest::builder()
        .support_type(SupportType::from(c.support_type.as_str()))
        .build()
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

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    c: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    let eks_client = &cx.aws.eks;
    let e = match e {
        // Being deleted (an interrupted `down`): let it go, then create it again.
        Ensure::Unchanged(o) | Ensure::Update { obs: o, .. }
            if o.state.as_deref() == Some("DELETING") =>
        {
            cx.step.progress(format!(
                "cluster {} is being deleted; waiting for it to go, then creating it again",
                c.name
            ));
            delete(cx, o).await?;
            Ensure::Create
        }
        other => other,
    };
    match e {
        Ensure::Create => {
            let role = cx.refs.need_arn(&c.role)?;
            let subnets: Vec<String> = c
                .subnets
                .iter()
                .map(|n| cx.refs.need_id(n))
                .collect::<anyhow::Result<_>>()?;
            // spec.ttl: the cluster carries its VPC's expiry too, so `list`
            // and `reap` read it from the cluster (the VPC's when it is gone).
            let mut create_tags = node.tags.clone();
            if let Some(at) = cx
                .refs
                .get(super::vpc::ID)
                .and_then(|v| v.tags.get(tags::TAG_EXPIRES).cloned())
            {
                create_tags.insert(tags::TAG_EXPIRES.to_string(), at);
            }
            let create_tags = &create_tags;
            // A role created seconds ago may not be assumable by EKS yet.
            cx.step
                .wait(
                    "the cluster role to become usable by EKS",
                    IAM_PROPAGATION,
                    Duration::from_secs(10),
                    || async {
                        let res = eks_client
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
                            .upgrade_policy(upgrade_policy(c))
                            .set_tags(Some(tags::to_map(create_tags)))
                            .send()
                            .await;
                        match res {
                            Ok(_) => Ok(Poll::Ready(())),
                            // A new role (or subnet) EKS cannot see yet.
                            Err(e)
                                if Lag::Iam.matches(error_code(&e), e.message().unwrap_or("")) =>
                            {
                                Ok(Poll::Pending(format!(
                                    "not usable by EKS yet: {}",
                                    e.message().unwrap_or("")
                                )))
                            }
                            // An earlier attempt went through (the name is taken by
                            // this cluster, which the wait below checks).
                            Err(e) if error_code(&e) == Some("ResourceInUseException") => {
                                Ok(Poll::Ready(()))
                            }
                            Err(e) => Err(describe_error("eks:CreateCluster", e)),
                        }
                    },
                )
                .await?;
            let o = wait_active(cx, &c.name).await?;
            Ok((Done::with(Outcome::Created, &c.name), o))
        }
        Ensure::Update { obs, .. } => {
            wait_active(cx, &c.name).await?;
            if e.touches(VERSION) {
                cx.step.progress(format!(
                    "upgrading the control plane to Kubernetes {}",
                    c.version
                ));
                let u = eks_client
                    .update_cluster_version()
                    .name(&c.name)
                    .version(&c.version)
                    .send()
                    .await
                    .ctx("eks:UpdateClusterVersion")?;
                eks::wait_update(cx, UpdateOf::Cluster, u.update().and_then(|u| u.id())).await?;
            }
            if [ENDPOINT_PUBLIC, ENDPOINT_PRIVATE, PUBLIC_CIDRS]
                .iter()
                .any(|f| e.touches(f))
            {
                let u = eks_client
                    .update_cluster_config()
                    .name(&c.name)
                    .resources_vpc_config(vpc_config(c, None))
                    .send()
                    .await
                    .ctx("eks:UpdateClusterConfig")?;
                eks::wait_update(cx, UpdateOf::Cluster, u.update().and_then(|u| u.id())).await?;
            }
            if e.touches(LOGGING) {
                let u = eks_client
                    .update_cluster_config()
                    .name(&c.name)
                    .logging(logging(&c.logging))
                    .send()
                    .await
                    .ctx("eks:UpdateClusterConfig")?;
                eks::wait_update(cx, UpdateOf::Cluster, u.update().and_then(|u| u.id())).await?;
            }
            if e.touches(SUPPORT_TYPE) {
                let u = eks_client
                    .update_cluster_config()
                    .name(&c.name)
                    .upgrade_policy(upgrade_policy(c))
                    .send()
                    .await
                    .ctx("eks:UpdateClusterConfig")?;
                eks::wait_update(cx, UpdateOf::Cluster, u.update().and_then(|u| u.id())).await?;
            }
            if e.touches(AUTH_MODE) {
                let u = eks_client
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
                eks::wait_update(cx, UpdateOf::Cluster, u.update().and_then(|u| u.id())).await?;
            }
            eks::tag(
                cx.aws,
                obs.arn.as_deref().unwrap_or_default(),
                &e.tag_changes(),
            )
            .await?;
            let o = wait_active(cx, &c.name).await?;
            Ok((Done::with(Outcome::Updated, e.fields()), o))
        }
        Ensure::Unchanged(obs) => {
            if obs.state.as_deref() == Some("ACTIVE") {
                Ok((Done::new(Outcome::Unchanged), obs.clone()))
            } else {
                let o = wait_active(cx, &c.name).await?;
                Ok((Done::new(Outcome::Unchanged), o))
            }
        }
    }
}

async fn wait_active(cx: &Cx<'_>, name: &str) -> anyhow::Result<Observed> {
    cx.step
        .wait(
            format!("cluster {name} to become ACTIVE"),
            TIMEOUT,
            EKS_POLL,
            || async {
                let Some(o) = read(cx.aws, name).await? else {
                    return Ok(Poll::Pending("not visible yet".into()));
                };
                let state = o.state.clone().unwrap_or_default();
                Ok(match ClusterStatus::from(state.as_str()) {
                    ClusterStatus::Active => Poll::Ready(o),
                    ClusterStatus::Failed => Poll::Failed(format!(
                        "status FAILED ({}); delete it with `eksscale down` and run `up` again",
                        o.internal
                            .get(HEALTH)
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

/// Deletes the cluster, waiting out a creation in progress first (a cluster
/// stuck in CREATING cannot be deleted until EKS finishes or fails it).
pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let name = obs.id.as_str();
    let mut requested = false;
    cx.step
        .wait(
            format!("cluster {name} to be deleted"),
            TIMEOUT,
            EKS_POLL,
            || {
                let first = !requested;
                requested = true;
                async move {
                    let Some(c) = read(cx.aws, name).await? else {
                        return Ok(Poll::Ready(()));
                    };
                    match c.state.as_deref() {
                        Some("CREATING") | Some("UPDATING") => Ok(Poll::Pending(format!(
                            "{} (EKS does not allow deleting it until that ends)",
                            c.state.unwrap_or_default()
                        ))),
                        Some("DELETING") => Ok(Poll::Pending("DELETING".into())),
                        _ => match cx.aws.eks.delete_cluster().name(name).send().await {
                            Ok(_) => Ok(Poll::Pending("DELETING".into())),
                            Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(Poll::Ready(())),
                            Err(e)
                                if error_code(&e) == Some("ResourceInUseException") && !first =>
                            {
                                Ok(Poll::Pending(
                                    "still has node groups or add-ons being deleted".into(),
                                ))
                            }
                            Err(e) => Err(describe_error("eks:DeleteCluster", e)),
                        },
                    }
                }
            },
        )
        .await?;
    Ok(Done::new(Outcome::Deleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_the_compared_attributes_plus_what_status_shows() {
        let node = Desired {
            name: "demo".into(),
            version: "1.35".into(),
            role: "iam-role/cluster".into(),
            subnets: vec!["subnet/public/a".into()],
            log_group: None,
            endpoint_public: true,
            endpoint_private: true,
            public_access_cidrs: vec!["0.0.0.0/0".into()],
            logging: vec!["api".into()],
            support_type: "STANDARD".into(),
            bootstrap_admin: true,
            bootstrap_self_managed_addons: false,
        }
        .node(Tags::new());
        let c = aws_sdk_eks::types::Cluster::builder()
            .name("demo")
            .endpoint("https://x.eks.amazonaws.com")
            .identity(
                aws_sdk_eks::types::Identity::builder()
                    .oidc(
                        aws_sdk_eks::types::Oidc::builder()
                            .issuer("https://oidc.eks/x")
                            .build(),
                    )
                    .build(),
            )
            .build();
        let o = observe(&c);
        let mut want: Vec<&str> = node.attrs.keys().map(String::as_str).collect();
        want.extend(SHOWN);
        want.sort();
        assert_eq!(o.attrs.keys().map(String::as_str).collect::<Vec<_>>(), want);
    }
}
