//! Spec -> desired graph: every AWS resource the config implies, built by each
//! kind's own constructor (`kinds::<kind>::Desired::node`), with the
//! references between them and the tags they carry.
//!
//! Node ids are stable, readable paths (`subnet/private/us-west-2a`); the same
//! id is written into each resource's `eksscale.io/component` tag, which is
//! how discovery maps what exists back onto the graph.

use std::collections::BTreeMap;

use crate::aws::tags::{TAG_CLUSTER, TAG_COMPONENT, TAG_REGION, Tags};
use crate::kinds::role::Trust;
use crate::kinds::{
    Node, NodeId, access_entry, addon, cluster, elastic_ip, internet_gateway, launch_template,
    log_group, nat_gateway, nodegroup, oidc_provider, pod_identity, queue, role, route_table,
    security_group_rule, subnet, vpc,
};
use crate::spec::{NatMode, Spec, ZoneLayout};

pub use crate::keda::ROLE as KEDA_ROLE;

/// `eksscale-<cluster>-<node group>`, within EC2's 128 characters.
fn launch_template_name(spec: &Spec, nodegroup: &str) -> String {
    let full = format!("eksscale-{}-{nodegroup}", spec.name);
    if full.len() <= 128 {
        full
    } else {
        format!(
            "eksscale-{}-{nodegroup}",
            crate::spec::short_hash(&spec.name)
        )
    }
}
pub const CLUSTER_ROLE: &str = "iam-role/cluster";
pub const NODE_ROLE: &str = "iam-role/node";
use crate::spec::partition;

pub fn managed_policy_arn(region: &str, name: &str) -> String {
    format!("arn:{}:iam::aws:policy/{name}", partition(region))
}

/// The tags every resource of this cluster carries, for one component.
pub fn base_tags(spec: &Spec, component: &str) -> Tags {
    let mut t = spec.tags.clone();
    t.insert(TAG_CLUSTER.to_string(), spec.name.clone());
    t.insert(TAG_REGION.to_string(), spec.region.clone());
    t.insert(TAG_COMPONENT.to_string(), component.to_string());
    t
}

/// EC2 resources also get a `Name` (what the console shows).
fn ec2_tags(spec: &Spec, component: &str) -> Tags {
    let mut t = base_tags(spec, component);
    t.insert(
        "Name".to_string(),
        format!("{}-{}", spec.name, component.replace('/', "-")),
    );
    t
}

/// `kubernetes.io/cluster/<name>`: how Kubernetes finds the VPC and subnets.
fn kube_cluster_tag(spec: &Spec) -> String {
    format!("kubernetes.io/cluster/{}", spec.name)
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
pub fn nat_for_zone(spec: &Spec, zones: &[ZoneLayout], zone: &str) -> Option<NodeId> {
    match spec.vpc.nat {
        NatMode::Single => zones.first().map(|z| nat_gateway::id(&z.zone)),
        NatMode::PerZone => Some(nat_gateway::id(zone)),
        NatMode::None => None,
    }
}

/// Subnets node groups run in: private, or public when there is no NAT.
pub fn node_subnets(spec: &Spec, zones: &[ZoneLayout]) -> Vec<NodeId> {
    let public = spec.vpc.nat == NatMode::None;
    zones.iter().map(|z| subnet::id(public, &z.zone)).collect()
}

/// Facts from AWS the graph needs besides the spec.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub account: String,
    /// Add-on name -> default version for the cluster's Kubernetes version.
    pub addon_versions: BTreeMap<String, String>,
    /// The selected samples that consume a queue (`queue: true`).
    pub queue_samples: Vec<String>,
}

/// The whole desired graph for a spec laid out over resolved zones.
pub fn build(spec: &Spec, zones: &[ZoneLayout], inputs: &Inputs) -> Vec<Node> {
    let mut nodes = network(spec, zones);
    nodes.extend(iam(spec, inputs));
    nodes.extend(eks(spec, zones, inputs));
    if spec.keda.enabled {
        nodes.extend(keda(spec, inputs));
        nodes.extend(samples(spec, inputs));
    }
    nodes
}

/// Queues the configured samples scale on (`eksscale-<cluster>-<sample>`).
pub fn sample_queue_arns(spec: &Spec, inputs: &Inputs) -> Vec<String> {
    inputs
        .queue_samples
        .iter()
        .map(|s| {
            crate::samples::queue_arn(
                spec,
                &inputs.account,
                &crate::samples::queue_name(&spec.name, s),
            )
        })
        .collect()
}

/// For each sample with a queue: the queue and its dead-letter queue, and
/// the consumer's role (only what consuming that queue takes), with its Pod
/// Identity association when KEDA uses Pod Identity.
fn samples(spec: &Spec, inputs: &Inputs) -> Vec<Node> {
    let mut out = Vec::new();
    for s in &inputs.queue_samples {
        let dlq_id = queue::id(&format!("{s}-dlq"));
        out.push(
            queue::Desired {
                name: crate::samples::dlq_name(&spec.name, s),
                dead_letter: None,
                retention_seconds: queue::RETENTION_DLQ,
            }
            .node(&dlq_id, base_tags(spec, &dlq_id)),
        );
        let queue_id = queue::id(s);
        out.push(
            queue::Desired {
                name: crate::samples::queue_name(&spec.name, s),
                dead_letter: Some(dlq_id.clone()),
                retention_seconds: queue::RETENTION_QUEUE,
            }
            .node(&queue_id, base_tags(spec, &queue_id)),
        );
        let queue_arn = crate::samples::queue_arn(
            spec,
            &inputs.account,
            &crate::samples::queue_name(&spec.name, s),
        );
        let purpose = crate::samples::role_purpose(s);
        let trust = workload_trust(spec, inputs, crate::samples::NAMESPACE, s);
        let inline = vec![(
            "consume-queue".to_string(),
            crate::policy::sample_consumer(&queue_arn)
                .expect("the sample consumer policy template renders"),
        )];
        out.push(role_node(
            spec,
            &purpose,
            role::Desired {
                name: spec.role_name(&purpose),
                description: format!("sample {s} of cluster {} (eksscale)", spec.name),
                trust,
                managed: Vec::new(),
                inline,
                boundary: spec.permissions_boundary.clone(),
            },
        ));
        out.extend(association(
            spec,
            crate::samples::NAMESPACE,
            s,
            role::id(&purpose),
        ));
    }
    out
}

fn role_node(spec: &Spec, purpose: &str, want: role::Desired) -> Node {
    let id = role::id(purpose);
    want.node(&id, base_tags(spec, &id))
}

/// The trust of a role used by one service account: IRSA through the
/// cluster's OIDC provider, or EKS Pod Identity (as `keda.identity` says).
fn workload_trust(spec: &Spec, inputs: &Inputs, namespace: &str, sa: &str) -> Trust {
    match spec.keda.identity {
        crate::spec::KedaIdentity::Irsa => Trust::Irsa {
            provider: oidc_provider::ID.into(),
            namespace: namespace.into(),
            service_account: sa.into(),
        },
        crate::spec::KedaIdentity::PodIdentity => Trust::PodIdentity {
            account: inputs.account.clone(),
            cluster: cluster::ID.into(),
            namespace: namespace.into(),
            service_account: sa.into(),
        },
    }
}

/// With Pod Identity: the association of `role` with one service account.
fn association(spec: &Spec, namespace: &str, sa: &str, role: NodeId) -> Option<Node> {
    if spec.keda.identity != crate::spec::KedaIdentity::PodIdentity {
        return None;
    }
    let want = pod_identity::Desired {
        namespace: namespace.into(),
        service_account: sa.into(),
        role,
        cluster: cluster::ID.into(),
        after: vec![addon::id("eks-pod-identity-agent")],
    };
    let id = pod_identity::id(&want.namespace, &want.service_account);
    Some(want.node(base_tags(spec, &id)))
}

/// The KEDA operator's AWS identity and the network path KEDA needs.
fn keda(spec: &Spec, inputs: &Inputs) -> Vec<Node> {
    let permissions = crate::policy::KedaPermissions {
        sqs_queue_arns: sample_queue_arns(spec, inputs),
        cloudwatch: false,
    };
    let inline = crate::policy::keda_operator(&permissions)
        .expect("the KEDA policy template renders")
        .map(|doc| vec![("keda-scalers".to_string(), doc)])
        .unwrap_or_default();
    let trust = workload_trust(spec, inputs, crate::keda::NAMESPACE, crate::keda::OPERATOR);
    let mut out = vec![role_node(
        spec,
        crate::keda::ROLE_PURPOSE,
        role::Desired {
            name: spec.role_name(crate::keda::ROLE_PURPOSE),
            description: format!("KEDA operator of cluster {} (eksscale)", spec.name),
            trust,
            managed: Vec::new(),
            inline,
            boundary: spec.permissions_boundary.clone(),
        },
    )];
    out.extend(association(
        spec,
        crate::keda::NAMESPACE,
        crate::keda::OPERATOR,
        KEDA_ROLE.into(),
    ));
    out.push(
        security_group_rule::Desired {
            ports: security_group_rule::KEDA_PORTS.to_vec(),
            description:
                "eksscale: control plane to KEDA metrics API (6443) and admission webhooks (9443)"
                    .into(),
            cluster: cluster::ID.into(),
        }
        .node(security_group_rule::CONTROL_PLANE_TO_KEDA),
    );
    out
}

fn network(spec: &Spec, zones: &[ZoneLayout]) -> Vec<Node> {
    let mut out = Vec::new();
    let mut vpc_tags = ec2_tags(spec, vpc::ID);
    vpc_tags.insert(kube_cluster_tag(spec), "shared".into());
    out.push(
        vpc::Desired {
            cidr: spec.vpc.cidr.to_string(),
            ttl: spec.ttl,
        }
        .node(vpc_tags),
    );

    for z in zones {
        for public in [true, false] {
            let id = subnet::id(public, &z.zone);
            let cidr = if public { z.public } else { z.private };
            let mut tags = ec2_tags(spec, &id);
            tags.insert(kube_cluster_tag(spec), "shared".into());
            let role_tag = if public {
                "kubernetes.io/role/elb"
            } else {
                "kubernetes.io/role/internal-elb"
            };
            tags.insert(role_tag.into(), "1".into());
            out.push(
                subnet::Desired {
                    vpc: vpc::ID.into(),
                    zone: z.zone.clone(),
                    cidr: cidr.to_string(),
                    public,
                }
                .node(&id, tags),
            );
        }
    }

    out.push(
        internet_gateway::Desired {
            vpc: vpc::ID.into(),
        }
        .node(ec2_tags(spec, internet_gateway::ID)),
    );

    for zone in nat_zones(spec, zones) {
        let eip = elastic_ip::id(&zone);
        let nat = nat_gateway::id(&zone);
        out.push(elastic_ip::Desired.node(&eip, ec2_tags(spec, &eip)));
        out.push(
            nat_gateway::Desired {
                subnet: subnet::id(true, &zone),
                eip: eip.clone(),
                after: vec![internet_gateway::ID.into()],
            }
            .node(&nat, ec2_tags(spec, &nat)),
        );
    }

    out.push(
        route_table::Desired {
            vpc: vpc::ID.into(),
            subnets: zones.iter().map(|z| subnet::id(true, &z.zone)).collect(),
            target: Some(internet_gateway::ID.into()),
        }
        .node(route_table::PUBLIC, ec2_tags(spec, route_table::PUBLIC)),
    );
    for z in zones {
        let id = route_table::private_id(&z.zone);
        out.push(
            route_table::Desired {
                vpc: vpc::ID.into(),
                subnets: vec![subnet::id(false, &z.zone)],
                target: nat_for_zone(spec, zones, &z.zone),
            }
            .node(&id, ec2_tags(spec, &id)),
        );
    }
    out
}

/// The cluster's ARN, known before it exists (for the trust that names it).
pub fn cluster_arn(spec: &Spec, account: &str) -> String {
    format!(
        "arn:{}:eks:{}:{account}:cluster/{}",
        partition(&spec.region),
        spec.region,
        spec.name
    )
}

fn iam(spec: &Spec, inputs: &Inputs) -> Vec<Node> {
    let region = &spec.region;
    vec![
        role_node(
            spec,
            "cluster",
            role::Desired {
                name: spec.role_name("cluster"),
                description: format!("EKS control plane of cluster {} (eksscale)", spec.name),
                trust: Trust::EksCluster {
                    account: inputs.account.clone(),
                    cluster_arn: cluster_arn(spec, &inputs.account),
                },
                managed: vec![managed_policy_arn(region, "AmazonEKSClusterPolicy")],
                inline: Vec::new(),
                boundary: spec.permissions_boundary.clone(),
            },
        ),
        role_node(
            spec,
            "node",
            role::Desired {
                name: spec.role_name("node"),
                description: format!("Worker nodes of cluster {} (eksscale)", spec.name),
                trust: Trust::Service("ec2.amazonaws.com"),
                managed: vec![
                    managed_policy_arn(region, "AmazonEKSWorkerNodePolicy"),
                    // Pull only: ReadOnly also lists and describes every
                    // repository (EKS user guide, "Amazon EKS node IAM role").
                    managed_policy_arn(region, "AmazonEC2ContainerRegistryPullOnly"),
                ],
                inline: Vec::new(),
                boundary: spec.permissions_boundary.clone(),
            },
        ),
    ]
}

fn eks(spec: &Spec, zones: &[ZoneLayout], inputs: &Inputs) -> Vec<Node> {
    let mut out = Vec::new();
    let all_subnets: Vec<NodeId> = zones
        .iter()
        .flat_map(|z| [subnet::id(true, &z.zone), subnet::id(false, &z.zone)])
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
            log_group::Desired {
                name: log_group::name(&spec.name),
                retention_days: log_group::RETENTION_DAYS,
            }
            .node(base_tags(spec, log_group::ID)),
        );
    }

    out.push(
        cluster::Desired {
            name: spec.name.clone(),
            version: spec.kubernetes_version.clone(),
            role: CLUSTER_ROLE.into(),
            subnets: all_subnets,
            // Created first so that eksscale, not EKS, owns it (retention, tags).
            log_group: (!logging.is_empty()).then(|| log_group::ID.into()),
            endpoint_public: spec.endpoint.public,
            endpoint_private: spec.endpoint.private,
            public_access_cidrs: spec.endpoint.public_access_cidrs.clone(),
            logging,
            support_type: spec.support_type.as_str().to_string(),
            bootstrap_admin: spec.access.bootstrap_creator_admin,
            bootstrap_self_managed_addons: !managed_core,
        }
        .node(base_tags(spec, cluster::ID)),
    );

    out.push(
        oidc_provider::Desired {
            cluster: cluster::ID.into(),
        }
        .node(base_tags(spec, oidc_provider::ID)),
    );

    let admin_policy =
        access_entry::policy_arn(partition(&spec.region), access_entry::CLUSTER_ADMIN_POLICY);
    for principal in &spec.access.admins {
        let id = access_entry::id(principal);
        out.push(
            access_entry::Desired {
                principal: principal.clone(),
                cluster: cluster::ID.into(),
                policy_arn: admin_policy.clone(),
            }
            .node(base_tags(spec, &id)),
        );
    }

    // Node groups that can run an add-on's pods: some nodes, no hard taint.
    let schedulable: Vec<NodeId> = spec
        .node_group_names(zones)
        .iter()
        .filter(|(_, ng, _)| {
            ng.desired > 0
                && !ng.taints.iter().any(|t| {
                    matches!(
                        t.effect,
                        crate::spec::TaintEffect::NoSchedule | crate::spec::TaintEffect::NoExecute
                    )
                })
        })
        .map(|(name, _, _)| nodegroup::id(name))
        .collect();
    let mut before_nodes = Vec::new();
    for name in &spec.addons {
        let info = crate::catalog::addon(name);
        let role = info.and_then(|i| i.irsa).map(|irsa| {
            out.push(role_node(
                spec,
                name,
                role::Desired {
                    name: spec.role_name(name),
                    description: format!(
                        "IRSA role of the {name} add-on of cluster {} (eksscale)",
                        spec.name
                    ),
                    trust: Trust::Irsa {
                        provider: oidc_provider::ID.into(),
                        namespace: irsa.namespace.to_string(),
                        service_account: irsa.service_account.to_string(),
                    },
                    managed: vec![managed_policy_arn(&spec.region, irsa.policy)],
                    inline: Vec::new(),
                    boundary: spec.permissions_boundary.clone(),
                },
            ));
            role::id(name)
        });
        let before = info.is_some_and(|i| i.before_nodes);
        let id = addon::id(name);
        if before {
            before_nodes.push(id.clone());
        }
        out.push(
            addon::Desired {
                name: name.clone(),
                cluster: cluster::ID.into(),
                version: inputs.addon_versions.get(name).cloned().unwrap_or_default(),
                role,
                before_nodes: before,
                runs_on: if before {
                    Vec::new()
                } else {
                    schedulable.clone()
                },
                core: info.is_some_and(|i| i.core),
                configuration: crate::catalog::addon_configuration(name, &spec.name, &spec.region),
            }
            .node(base_tags(spec, &id)),
        );
    }

    let shared_subnets = node_subnets(spec, zones);
    // Nodes need their default route (NAT) to pull images and join.
    let route_tables: Vec<NodeId> = if spec.vpc.nat == NatMode::None {
        vec![route_table::PUBLIC.to_string()]
    } else {
        zones
            .iter()
            .map(|z| route_table::private_id(&z.zone))
            .collect()
    };
    for (name, ng, zone) in spec.node_group_names(zones) {
        let subnets: Vec<NodeId> = match &zone {
            Some(z) => vec![subnet::id(spec.vpc.nat == NatMode::None, &z.zone)],
            None => shared_subnets.clone(),
        };
        let id = nodegroup::id(&name);
        let lt = launch_template::id(&name);
        out.push(
            launch_template::Desired {
                name: launch_template_name(spec, &name),
                device: if ng.ami_type.as_str().starts_with("BOTTLEROCKET") {
                    "/dev/xvdb".into()
                } else {
                    "/dev/xvda".into()
                },
                volume_gib: ng.volume_gib,
            }
            .node(&lt, ec2_tags(spec, &lt)),
        );
        out.push(
            nodegroup::Desired {
                launch_template: Some(lt),
                name,
                cluster: cluster::ID.into(),
                role: NODE_ROLE.into(),
                subnets,
                instance_types: ng.instance_types.clone(),
                ami_type: ng.ami_type.as_str().to_string(),
                capacity: ng.capacity.as_str().to_string(),
                min: ng.min,
                desired: ng.desired,
                max: ng.max,
                labels: ng.labels.clone(),
                taints: ng.taints.clone(),
                version: spec.kubernetes_version.clone(),
                after: route_tables.iter().chain(&before_nodes).cloned().collect(),
            }
            .node(base_tags(spec, &id)),
        );
    }
    out
}

#[cfg(test)]
#[path = "graph_tests.rs"]
pub(crate) mod tests;
