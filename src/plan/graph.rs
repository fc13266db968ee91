//! Spec -> desired graph: every AWS resource the config implies, with its
//! dependencies, comparable attributes and tags.
//!
//! Node ids are stable, readable paths (`subnet/private/us-west-2a`); the same
//! id is written into each resource's `eksscale.io/component` tag, which is
//! how discovery maps what exists back onto the graph.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Kind, Node, Resolve, Value};
use crate::spec::{NatMode, Spec, ZoneLayout};

pub const TAG_CLUSTER: &str = "eksscale.io/cluster";
pub const TAG_COMPONENT: &str = "eksscale.io/component";
pub const TAG_EXPIRES: &str = "eksscale.io/expires-at";
pub const IAM_PATH: &str = "/eksscale/";
pub const CLUSTER: &str = "eks-cluster";
pub const OIDC: &str = "oidc-provider";
pub const LOG_GROUP: &str = "log-group";
/// Days CloudWatch keeps control-plane logs (EKS itself never expires them).
pub const LOG_RETENTION_DAYS: i32 = 90;
pub const CLUSTER_ADMIN_POLICY: &str = "AmazonEKSClusterAdminPolicy";
pub const KEDA_ROLE: &str = "iam-role/keda-operator";
pub const KEDA_POD_IDENTITY: &str = "pod-identity/keda/keda-operator";
pub const KEDA_SG_RULE: &str = "security-group-rule/control-plane-to-keda";
/// The KEDA metrics API server (6443) and admission webhooks (9443) listen
/// on these ports on the nodes; the control plane must reach them.
pub const KEDA_PORTS: [i32; 2] = [6443, 9443];

/// What a node needs to be created, beyond its comparable attributes.
#[derive(Debug, Clone)]
pub enum NodeSpec {
    Vpc {
        cidr: String,
    },
    Subnet {
        zone: String,
        cidr: String,
        public: bool,
    },
    InternetGateway,
    ElasticIp,
    NatGateway {
        subnet: String,
        eip: String,
    },
    RouteTable {
        subnets: Vec<String>,
        target: Option<String>,
    },
    IamRole(RoleSpec),
    LogGroup {
        name: String,
        retention_days: i32,
    },
    EksCluster(ClusterSpec),
    OidcProvider,
    AccessEntry {
        principal: String,
    },
    Addon(AddonSpec),
    NodeGroup(NodeGroupNodeSpec),
    PodIdentity {
        namespace: String,
        service_account: String,
        role: String,
    },
    /// Ingress on the cluster security group from itself on these TCP ports.
    SecurityGroupRule {
        ports: Vec<i32>,
        description: String,
    },
}

#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub name: String,
    pub version: String,
    /// Subnet node ids (every public and private subnet of every zone).
    pub subnets: Vec<String>,
    pub endpoint_public: bool,
    pub endpoint_private: bool,
    pub public_access_cidrs: Vec<String>,
    pub logging: Vec<String>,
    pub bootstrap_admin: bool,
    /// False when the config installs vpc-cni, kube-proxy and coredns as EKS
    /// add-ons, so EKS does not first install self-managed copies of them.
    pub bootstrap_self_managed_addons: bool,
}

#[derive(Debug, Clone)]
pub struct AddonSpec {
    pub name: String,
    pub version: String,
    /// IRSA role node for the add-on's service account.
    pub role: Option<String>,
    /// Runs on every node (DaemonSet): ACTIVE without nodes; node groups wait for it.
    pub before_nodes: bool,
}

#[derive(Debug, Clone)]
pub struct NodeGroupNodeSpec {
    pub name: String,
    pub subnets: Vec<String>,
    pub instance_types: Vec<String>,
    pub capacity: String,
    pub min: i32,
    pub desired: i32,
    pub max: i32,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<crate::spec::Taint>,
    pub version: String,
}

#[derive(Debug, Clone)]
pub struct RoleSpec {
    pub name: String,
    pub description: String,
    pub trust: Trust,
    /// AWS managed policy ARNs attached to the role.
    pub managed: Vec<String>,
    /// Inline permission policies (name, document), rendered from `policies/`.
    pub inline: Vec<(String, serde_json::Value)>,
}

/// Who may assume a role.
#[derive(Debug, Clone)]
pub enum Trust {
    Service(&'static str),
    /// IRSA: one service account of this cluster, via its OIDC provider node.
    Irsa {
        namespace: String,
        service_account: String,
    },
    /// EKS Pod Identity, limited to this cluster.
    PodIdentity {
        account: String,
    },
}

impl Trust {
    /// The rendered trust document, or `None` while an input (e.g. the OIDC
    /// provider) does not exist yet.
    pub fn document(&self, r: &dyn Resolve) -> Option<serde_json::Value> {
        match self {
            Trust::Service(s) => crate::policy::trust_service(s).ok(),
            Trust::Irsa {
                namespace,
                service_account,
            } => {
                let provider = r.get(OIDC)?;
                let url = provider.attrs.get("url")?;
                crate::policy::trust_irsa(&provider.id, url, namespace, service_account).ok()
            }
            Trust::PodIdentity { account } => {
                let cluster = r.arn_of(CLUSTER)?;
                crate::policy::trust_pod_identity(account, &cluster).ok()
            }
        }
    }

    /// Graph nodes the trust document is built from.
    pub fn inputs(&self) -> Vec<&'static str> {
        match self {
            Trust::Service(_) => vec![],
            Trust::Irsa { .. } => vec![OIDC],
            Trust::PodIdentity { .. } => vec![CLUSTER],
        }
    }
}

/// `aws`, `aws-cn` or `aws-us-gov`, for ARNs.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

pub fn managed_policy_arn(region: &str, name: &str) -> String {
    format!("arn:{}:iam::aws:policy/{name}", partition(region))
}

/// The tags every resource of this cluster carries, for one component.
pub fn base_tags(spec: &Spec, component: &str) -> BTreeMap<String, String> {
    let mut t = spec.tags.clone();
    t.insert(TAG_CLUSTER.to_string(), spec.name.clone());
    t.insert(TAG_COMPONENT.to_string(), component.to_string());
    t
}

fn ec2_tags(spec: &Spec, component: &str) -> BTreeMap<String, String> {
    let mut t = base_tags(spec, component);
    t.insert(
        "Name".to_string(),
        format!("{}-{}", spec.name, component.replace('/', "-")),
    );
    t
}

fn kube_cluster_tag(spec: &Spec) -> String {
    format!("kubernetes.io/cluster/{}", spec.name)
}

pub fn subnet_id(public: bool, zone: &str) -> String {
    format!(
        "subnet/{}/{zone}",
        if public { "public" } else { "private" }
    )
}

/// Zones that get a NAT gateway, by mode.
pub fn nat_zones(spec: &Spec, zones: &[ZoneLayout]) -> Vec<String> {
    match spec.vpc.nat {
        NatMode::Single => zones.iter().take(1).map(|z| z.zone.clone()).collect(),
        NatMode::PerZone => zones.iter().map(|z| z.zone.clone()).collect(),
        NatMode::None => Vec::new(),
    }
}

/// The NAT gateway node a private subnet in `zone` routes through.
pub fn nat_for_zone(spec: &Spec, zones: &[ZoneLayout], zone: &str) -> Option<String> {
    match spec.vpc.nat {
        NatMode::Single => zones.first().map(|z| format!("nat-gateway/{}", z.zone)),
        NatMode::PerZone => Some(format!("nat-gateway/{zone}")),
        NatMode::None => None,
    }
}

/// Subnets node groups run in: private, or public when there is no NAT.
pub fn node_subnets(spec: &Spec, zones: &[ZoneLayout]) -> Vec<String> {
    let public = spec.vpc.nat == NatMode::None;
    zones.iter().map(|z| subnet_id(public, &z.zone)).collect()
}

/// Facts from AWS the graph needs besides the spec.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub account: String,
    /// Add-on name -> default version for the cluster's Kubernetes version.
    pub addon_versions: BTreeMap<String, String>,
}

/// The whole desired graph for a spec laid out over resolved zones.
pub fn build(spec: &Spec, zones: &[ZoneLayout], inputs: &Inputs) -> Vec<Node> {
    let mut nodes = network(spec, zones);
    nodes.extend(iam(spec));
    nodes.extend(eks(spec, zones, inputs));
    if spec.keda.enabled {
        nodes.extend(keda(spec, inputs));
    }
    nodes
}

/// Queues the configured samples scale on (`eksscale-<cluster>-<sample>`).
pub fn sample_queue_arns(spec: &Spec, account: &str) -> Vec<String> {
    spec.samples
        .iter()
        .filter(|s| s.as_str() == "sqs-consumer")
        .map(|s| {
            format!(
                "arn:{}:sqs:{}:{account}:{}",
                partition(&spec.region),
                spec.region,
                sample_queue_name(&spec.name, s)
            )
        })
        .collect()
}

/// SQS queue names allow 80 characters; long cluster names are hashed.
pub fn sample_queue_name(cluster: &str, sample: &str) -> String {
    let full = format!("eksscale-{cluster}-{sample}");
    if full.len() <= 80 {
        full
    } else {
        let room = 80 - "eksscale--".len() - 9 - sample.len();
        let head: String = cluster.chars().take(room).collect();
        format!(
            "eksscale-{head}-{}-{sample}",
            crate::spec::short_hash(cluster)
        )
    }
}

/// The KEDA operator's AWS identity and the network path KEDA needs.
fn keda(spec: &Spec, inputs: &Inputs) -> Vec<Node> {
    use crate::spec::KedaIdentity;
    let permissions = crate::policy::KedaPermissions {
        sqs_queue_arns: sample_queue_arns(spec, &inputs.account),
        cloudwatch: false,
    };
    let inline = crate::policy::keda_operator(&permissions)
        .expect("the KEDA policy template renders")
        .map(|doc| vec![("keda-scalers".to_string(), doc)])
        .unwrap_or_default();
    let trust = match spec.keda.identity {
        KedaIdentity::Irsa => Trust::Irsa {
            namespace: "keda".into(),
            service_account: "keda-operator".into(),
        },
        KedaIdentity::PodIdentity => Trust::PodIdentity {
            account: inputs.account.clone(),
        },
    };
    let mut out = vec![role_node(
        spec,
        "keda-operator",
        RoleSpec {
            name: spec.role_name("keda-operator"),
            description: format!("KEDA operator of cluster {} (eksscale)", spec.name),
            trust,
            managed: Vec::new(),
            inline,
        },
    )];
    if spec.keda.identity == KedaIdentity::PodIdentity {
        out.push(
            Node::new(
                KEDA_POD_IDENTITY,
                Kind::PodIdentityAssociation,
                NodeSpec::PodIdentity {
                    namespace: "keda".into(),
                    service_account: "keda-operator".into(),
                    role: KEDA_ROLE.into(),
                },
            )
            .dep(CLUSTER)
            .dep(KEDA_ROLE)
            .dep(addon_id("eks-pod-identity-agent"))
            .fixed("namespace", lit("keda"))
            .fixed("serviceAccount", lit("keda-operator"))
            .mutable(
                "roleArn",
                Value::Computed(Arc::new(|r: &dyn Resolve| r.arn_of(KEDA_ROLE))),
            )
            .tagged(base_tags(spec, KEDA_POD_IDENTITY)),
        );
    }
    out.push(
        Node::new(
            KEDA_SG_RULE,
            Kind::SecurityGroupRule,
            NodeSpec::SecurityGroupRule {
                ports: KEDA_PORTS.to_vec(),
                description: "eksscale: control plane to KEDA metrics API (6443) and admission webhooks (9443)".into(),
            },
        )
        .dep(CLUSTER)
        .mutable(
            "allowedTcpPorts",
            lit(KEDA_PORTS.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",")),
        ),
    );
    out
}

fn lit(s: impl Into<String>) -> Value {
    Value::Lit(s.into())
}

fn network(spec: &Spec, zones: &[ZoneLayout]) -> Vec<Node> {
    let mut out = Vec::new();
    let mut vpc_tags = ec2_tags(spec, "vpc");
    vpc_tags.insert(kube_cluster_tag(spec), "shared".into());
    out.push(
        Node::new(
            "vpc",
            Kind::Vpc,
            NodeSpec::Vpc {
                cidr: spec.vpc.cidr.to_string(),
            },
        )
        .fixed("cidr", lit(spec.vpc.cidr.to_string()))
        .mutable("enableDnsSupport", lit("true"))
        .mutable("enableDnsHostnames", lit("true"))
        .tagged(vpc_tags),
    );

    for z in zones {
        for public in [true, false] {
            let id = subnet_id(public, &z.zone);
            let cidr = if public { z.public } else { z.private };
            let mut tags = ec2_tags(spec, &id);
            tags.insert(kube_cluster_tag(spec), "shared".into());
            if public {
                tags.insert("kubernetes.io/role/elb".into(), "1".into());
            } else {
                tags.insert("kubernetes.io/role/internal-elb".into(), "1".into());
            }
            out.push(
                Node::new(
                    &id,
                    Kind::Subnet,
                    NodeSpec::Subnet {
                        zone: z.zone.clone(),
                        cidr: cidr.to_string(),
                        public,
                    },
                )
                .dep("vpc")
                .fixed("vpc", Value::Ref("vpc".into()))
                .fixed("cidr", lit(cidr.to_string()))
                .fixed("zone", lit(&z.zone))
                .mutable("mapPublicIpOnLaunch", lit(public.to_string()))
                .tagged(tags),
            );
        }
    }

    out.push(
        Node::new(
            "internet-gateway",
            Kind::InternetGateway,
            NodeSpec::InternetGateway,
        )
        .dep("vpc")
        .mutable("attachedVpc", Value::Ref("vpc".into()))
        .tagged(ec2_tags(spec, "internet-gateway")),
    );

    for zone in nat_zones(spec, zones) {
        let eip = format!("elastic-ip/{zone}");
        let nat = format!("nat-gateway/{zone}");
        let subnet = subnet_id(true, &zone);
        out.push(
            Node::new(&eip, Kind::ElasticIp, NodeSpec::ElasticIp)
                .fixed("domain", lit("vpc"))
                .tagged(ec2_tags(spec, &eip)),
        );
        out.push(
            Node::new(
                &nat,
                Kind::NatGateway,
                NodeSpec::NatGateway {
                    subnet: subnet.clone(),
                    eip: eip.clone(),
                },
            )
            .dep(&subnet)
            .dep(&eip)
            .dep("internet-gateway")
            .fixed("subnet", Value::Ref(subnet))
            .fixed("allocation", Value::Ref(eip))
            .tagged(ec2_tags(spec, &nat)),
        );
    }

    let public_subnets: Vec<String> = zones.iter().map(|z| subnet_id(true, &z.zone)).collect();
    let mut rt = Node::new(
        "route-table/public",
        Kind::RouteTable,
        NodeSpec::RouteTable {
            subnets: public_subnets.clone(),
            target: Some("internet-gateway".into()),
        },
    )
    .dep("vpc")
    .dep("internet-gateway")
    .fixed("vpc", Value::Ref("vpc".into()))
    .mutable("route:0.0.0.0/0", Value::Ref("internet-gateway".into()))
    .mutable("subnets", Value::Refs(public_subnets.clone()))
    .tagged(ec2_tags(spec, "route-table/public"));
    for s in &public_subnets {
        rt = rt.dep(s);
    }
    out.push(rt);

    for z in zones {
        let id = format!("route-table/private/{}", z.zone);
        let subnet = subnet_id(false, &z.zone);
        let target = nat_for_zone(spec, zones, &z.zone);
        let mut node = Node::new(
            &id,
            Kind::RouteTable,
            NodeSpec::RouteTable {
                subnets: vec![subnet.clone()],
                target: target.clone(),
            },
        )
        .dep("vpc")
        .dep(&subnet)
        .fixed("vpc", Value::Ref("vpc".into()))
        .mutable("subnets", Value::Refs(vec![subnet.clone()]))
        .tagged(ec2_tags(spec, &id));
        node = match target {
            Some(nat) => node.dep(&nat).mutable("route:0.0.0.0/0", Value::Ref(nat)),
            None => node.mutable("route:0.0.0.0/0", lit("none")),
        };
        out.push(node);
    }
    out
}

/// A role node: comparable path, trust document and attached policies.
pub fn role_node(spec: &Spec, purpose: &str, role: RoleSpec) -> Node {
    let id = format!("iam-role/{purpose}");
    let trust = role.trust.clone();
    let mut managed = role.managed.clone();
    managed.sort();
    let inline = role.inline.clone();
    let trust_inputs = role.trust.inputs();
    let mut node = Node::new(&id, Kind::IamRole, NodeSpec::IamRole(role))
        .fixed("path", lit(IAM_PATH))
        .mutable(
            "trust",
            Value::Computed(Arc::new(move |r: &dyn Resolve| {
                trust.document(r).map(|d| crate::policy::canonical(&d))
            })),
        )
        .mutable("managedPolicies", lit(managed.join(",")));
    for (name, doc) in &inline {
        node = node.mutable(
            &format!("inline:{name}"),
            lit(crate::policy::canonical(doc)),
        );
    }
    for input in trust_inputs {
        node = node.dep(input);
    }
    node.tagged(base_tags(spec, &id))
}

fn iam(spec: &Spec) -> Vec<Node> {
    let region = &spec.region;
    vec![
        role_node(
            spec,
            "cluster",
            RoleSpec {
                name: spec.role_name("cluster"),
                description: format!("EKS control plane of cluster {} (eksscale)", spec.name),
                trust: Trust::Service("eks.amazonaws.com"),
                managed: vec![managed_policy_arn(region, "AmazonEKSClusterPolicy")],
                inline: Vec::new(),
            },
        ),
        role_node(
            spec,
            "node",
            RoleSpec {
                name: spec.role_name("node"),
                description: format!("Worker nodes of cluster {} (eksscale)", spec.name),
                trust: Trust::Service("ec2.amazonaws.com"),
                managed: vec![
                    managed_policy_arn(region, "AmazonEKSWorkerNodePolicy"),
                    managed_policy_arn(region, "AmazonEC2ContainerRegistryReadOnly"),
                ],
                inline: Vec::new(),
            },
        ),
    ]
}

/// Compares EKS add-on versions such as `v1.19.2-eksbuild.1` numerically.
pub fn addon_version_key(v: &str) -> Vec<u64> {
    v.trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().unwrap_or(0))
        .collect()
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

pub fn nodegroup_id(name: &str) -> String {
    format!("nodegroup/{name}")
}

pub fn addon_id(name: &str) -> String {
    format!("addon/{name}")
}

pub fn access_entry_id(principal: &str) -> String {
    format!("access-entry/{principal}")
}

fn eks(spec: &Spec, zones: &[ZoneLayout], inputs: &Inputs) -> Vec<Node> {
    let mut out = Vec::new();
    let all_subnets: Vec<String> = zones
        .iter()
        .flat_map(|z| [subnet_id(true, &z.zone), subnet_id(false, &z.zone)])
        .collect();
    let logging: Vec<String> = spec
        .logging
        .iter()
        .map(|l| l.as_str().to_string())
        .collect();
    let managed_core = ["vpc-cni", "kube-proxy", "coredns"]
        .iter()
        .all(|a| spec.addons.iter().any(|x| x == a));

    if !logging.is_empty() {
        out.push(
            Node::new(
                LOG_GROUP,
                Kind::LogGroup,
                NodeSpec::LogGroup {
                    name: spec.log_group_name(),
                    retention_days: LOG_RETENTION_DAYS,
                },
            )
            .mutable("retentionInDays", lit(LOG_RETENTION_DAYS.to_string()))
            .tagged(base_tags(spec, LOG_GROUP)),
        );
    }

    let mut cidrs = spec.endpoint.public_access_cidrs.clone();
    cidrs.sort();
    let mut cluster = Node::new(
        CLUSTER,
        Kind::EksCluster,
        NodeSpec::EksCluster(ClusterSpec {
            name: spec.name.clone(),
            version: spec.kubernetes_version.clone(),
            subnets: all_subnets.clone(),
            endpoint_public: spec.endpoint.public,
            endpoint_private: spec.endpoint.private,
            public_access_cidrs: spec.endpoint.public_access_cidrs.clone(),
            logging: logging.clone(),
            bootstrap_admin: spec.access.bootstrap_creator_admin,
            bootstrap_self_managed_addons: !managed_core,
        }),
    )
    .dep("iam-role/cluster")
    .fixed("subnets", Value::Refs(all_subnets.clone()))
    .fixed(
        "roleArn",
        Value::Computed(Arc::new(|r: &dyn Resolve| r.arn_of("iam-role/cluster"))),
    )
    .mutable("version", lit(&spec.kubernetes_version))
    .mutable(
        "endpointPublicAccess",
        lit(spec.endpoint.public.to_string()),
    )
    .mutable(
        "endpointPrivateAccess",
        lit(spec.endpoint.private.to_string()),
    )
    .mutable("publicAccessCidrs", lit(cidrs.join(",")))
    .mutable("logging", lit(logging.join(",")))
    .mutable("authenticationMode", lit("API"))
    .tagged(base_tags(spec, CLUSTER));
    for s in &all_subnets {
        cluster = cluster.dep(s);
    }
    if !logging.is_empty() {
        // Created first so that eksscale, not EKS, owns it (retention, tags).
        cluster = cluster.dep(LOG_GROUP);
    }
    out.push(cluster);

    out.push(
        Node::new(OIDC, Kind::OidcProvider, NodeSpec::OidcProvider)
            .dep(CLUSTER)
            .fixed(
                "url",
                Value::Computed(Arc::new(|r: &dyn Resolve| {
                    r.get(CLUSTER)
                        .and_then(|c| c.internal.get("issuer").cloned())
                        .map(|u| u.trim_start_matches("https://").to_string())
                })),
            )
            .mutable("clientIds", lit("sts.amazonaws.com"))
            .tagged(base_tags(spec, OIDC)),
    );

    for principal in &spec.access.admins {
        let id = access_entry_id(principal);
        let policy = format!(
            "arn:{}:eks::aws:cluster-access-policy/{CLUSTER_ADMIN_POLICY}@cluster",
            partition(&spec.region)
        );
        out.push(
            Node::new(
                &id,
                Kind::AccessEntry,
                NodeSpec::AccessEntry {
                    principal: principal.clone(),
                },
            )
            .dep(CLUSTER)
            .mutable("policies", lit(policy))
            .tagged(base_tags(spec, &id)),
        );
    }

    let mut before_nodes = Vec::new();
    for name in &spec.addons {
        let info = crate::catalog::addon(name);
        let id = addon_id(name);
        let role = info.and_then(|i| i.irsa_service_account).map(|(ns, sa)| {
            let purpose = name.clone();
            out.push(role_node(
                spec,
                &purpose,
                RoleSpec {
                    name: spec.role_name(&purpose),
                    description: format!(
                        "IRSA role of the {name} add-on of cluster {} (eksscale)",
                        spec.name
                    ),
                    trust: Trust::Irsa {
                        namespace: ns.to_string(),
                        service_account: sa.to_string(),
                    },
                    managed: vec![managed_policy_arn(&spec.region, "AmazonEKS_CNI_Policy")],
                    inline: Vec::new(),
                },
            ));
            format!("iam-role/{purpose}")
        });
        let default = inputs.addon_versions.get(name).cloned().unwrap_or_default();
        let before = info.is_some_and(|i| i.before_nodes);
        let own_id = id.clone();
        let want = default.clone();
        let mut node = Node::new(
            &id,
            Kind::Addon,
            NodeSpec::Addon(AddonSpec {
                name: name.clone(),
                version: default,
                role: role.clone(),
                before_nodes: before,
            }),
        )
        .dep(CLUSTER)
        // The default version for the cluster's Kubernetes version, unless a
        // newer one is already installed (never downgrade an add-on).
        .mutable(
            "version",
            Value::Computed(Arc::new(move |r: &dyn Resolve| {
                let current = r.get(&own_id).and_then(|o| o.attrs.get("version").cloned());
                Some(match current {
                    Some(c) if addon_version_key(&c) >= addon_version_key(&want) => c,
                    _ => want.clone(),
                })
            })),
        )
        .tagged(base_tags(spec, &id));
        node = match &role {
            Some(role) => {
                let role_id = role.clone();
                node.dep(role).mutable(
                    "serviceAccountRoleArn",
                    Value::Computed(Arc::new(move |r: &dyn Resolve| r.arn_of(&role_id))),
                )
            }
            None => node.mutable("serviceAccountRoleArn", lit("none")),
        };
        if before {
            before_nodes.push(id.clone());
        }
        out.push(node);
    }

    let node_subnets = node_subnets(spec, zones);
    let route_tables: Vec<String> = if spec.vpc.nat == NatMode::None {
        vec!["route-table/public".to_string()]
    } else {
        zones
            .iter()
            .map(|z| format!("route-table/private/{}", z.zone))
            .collect()
    };
    for (name, ng, zone) in spec.node_group_names(zones) {
        let subnets: Vec<String> = match &zone {
            Some(z) => vec![subnet_id(spec.vpc.nat == NatMode::None, &z.zone)],
            None => node_subnets.clone(),
        };
        let id = nodegroup_id(&name);
        let mut types = ng.instance_types.clone();
        types.sort();
        let mut node = Node::new(
            &id,
            Kind::NodeGroup,
            NodeSpec::NodeGroup(NodeGroupNodeSpec {
                name: name.clone(),
                subnets: subnets.clone(),
                instance_types: ng.instance_types.clone(),
                capacity: ng.capacity.as_str().to_string(),
                min: ng.min,
                desired: ng.desired,
                max: ng.max,
                labels: ng.labels.clone(),
                taints: ng.taints.clone(),
                version: spec.kubernetes_version.clone(),
            }),
        )
        .dep(CLUSTER)
        .dep("iam-role/node")
        .fixed("subnets", Value::Refs(subnets.clone()))
        .fixed("instanceTypes", lit(types.join(",")))
        .fixed("capacityType", lit(ng.capacity.as_str()))
        .fixed(
            "nodeRole",
            Value::Computed(Arc::new(|r: &dyn Resolve| r.arn_of("iam-role/node"))),
        )
        .mutable("minSize", lit(ng.min.to_string()))
        .mutable("desiredSize", lit(ng.desired.to_string()))
        .mutable("maxSize", lit(ng.max.to_string()))
        .mutable("labels", lit(labels_text(&ng.labels)))
        .mutable(
            "taints",
            lit(taints_text(ng.taints.iter().map(|t| {
                (t.key.as_str(), t.value.as_deref(), t.effect.eks_api())
            }))),
        )
        .mutable("version", lit(&spec.kubernetes_version))
        .tagged(base_tags(spec, &id));
        for s in &subnets {
            node = node.dep(s);
        }
        // Nodes need their default route (NAT) to pull images and join.
        for rt in &route_tables {
            node = node.dep(rt);
        }
        for a in &before_nodes {
            node = node.dep(a);
        }
        out.push(node);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config;

    pub fn spec_with(extra: &str) -> Spec {
        let text = format!(
            "apiVersion: eksscale.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: demo\n  region: us-west-2\n{extra}"
        );
        config::parse("test", &text, None).unwrap().spec
    }

    pub fn zones(spec: &Spec) -> Vec<ZoneLayout> {
        let names: Vec<String> = ["a", "b", "c"]
            .iter()
            .take(spec.vpc.zones.count())
            .map(|s| format!("us-west-2{s}"))
            .collect();
        crate::spec::layout(spec.vpc.cidr, &spec.region, &names).unwrap()
    }

    fn ids(nodes: &[Node], kind: Kind) -> Vec<String> {
        nodes
            .iter()
            .filter(|n| n.kind == kind)
            .map(|n| n.id.clone())
            .collect()
    }

    #[test]
    fn nat_count_follows_mode() {
        for (mode, n) in [("single", 1), ("perZone", 3), ("none", 0)] {
            let s = spec_with(&format!("spec:\n  vpc:\n    natGateway: {mode}\n"));
            let g = build(&s, &zones(&s), &Inputs::default());
            assert_eq!(ids(&g, Kind::NatGateway).len(), n, "{mode}");
            assert_eq!(ids(&g, Kind::ElasticIp).len(), n, "{mode}");
            assert_eq!(ids(&g, Kind::Subnet).len(), 6);
            assert_eq!(ids(&g, Kind::RouteTable).len(), 4);
        }
    }

    #[test]
    fn private_routes_stay_in_zone_when_per_zone() {
        let s = spec_with("spec:\n  vpc:\n    natGateway: perZone\n");
        let g = build(&s, &zones(&s), &Inputs::default());
        let rt = g
            .iter()
            .find(|n| n.id == "route-table/private/us-west-2b")
            .unwrap();
        assert!(rt.deps.contains(&"nat-gateway/us-west-2b".to_string()));
        let s = spec_with("spec:\n  vpc:\n    natGateway: single\n");
        let g = build(&s, &zones(&s), &Inputs::default());
        let rt = g
            .iter()
            .find(|n| n.id == "route-table/private/us-west-2b")
            .unwrap();
        assert!(rt.deps.contains(&"nat-gateway/us-west-2a".to_string()));
    }

    #[test]
    fn graph_is_a_valid_dag_with_expected_tags() {
        let s = spec_with("");
        let g = build(&s, &zones(&s), &Inputs::default());
        let shape: Vec<(String, Vec<String>)> =
            g.iter().map(|n| (n.id.clone(), n.deps.clone())).collect();
        crate::engine::check_graph(&shape).unwrap();
        let public = g
            .iter()
            .find(|n| n.id == "subnet/public/us-west-2a")
            .unwrap();
        assert_eq!(public.tags["kubernetes.io/role/elb"], "1");
        assert_eq!(public.tags["kubernetes.io/cluster/demo"], "shared");
        assert_eq!(public.tags[TAG_COMPONENT], "subnet/public/us-west-2a");
        let private = g
            .iter()
            .find(|n| n.id == "subnet/private/us-west-2c")
            .unwrap();
        assert_eq!(private.tags["kubernetes.io/role/internal-elb"], "1");
    }
}
