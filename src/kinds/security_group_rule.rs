//! The ingress rule that lets the EKS control plane reach KEDA on the nodes:
//! the metrics API server (6443) and the admission webhooks (9443), within the
//! cluster security group (which managed node groups without a launch
//! template use). It lives in EKS's own group, so it goes with the cluster.

use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value};
use crate::aws::{Aws, AwsResultExt};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "security-group-rule";
pub const DELETE_AFTER: &[Kind] = &[];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::InCluster;
pub const DELETION: Deletion = Deletion::WithCluster;

pub const ALLOWED_TCP_PORTS: &str = "allowedTcpPorts";
pub const STATUS_COLUMNS: &[&str] = &[ALLOWED_TCP_PORTS];

/// The one rule eksscale manages.
pub const CONTROL_PLANE_TO_KEDA: &str = "security-group-rule/control-plane-to-keda";
/// The KEDA metrics API server (6443) and admission webhooks (9443) listen
/// on these ports on the nodes; the control plane must reach them.
pub const KEDA_PORTS: [i32; 2] = [6443, 9443];

#[derive(Debug, Clone)]
pub struct Desired {
    pub ports: Vec<i32>,
    pub description: String,
    /// The cluster node whose security group gets the rule.
    pub cluster: NodeId,
}

fn ports_text(ports: &[i32]) -> String {
    ports
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl Desired {
    pub fn node(self, id: &str) -> Node {
        let (cluster, ports) = (self.cluster.clone(), ports_text(&self.ports));
        Node::new(id, NodeSpec::SecurityGroupRule(self))
            .dep(&cluster)
            .mutable(ALLOWED_TCP_PORTS, Value::lit(ports))
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    5
}

/// Which of KEDA's ports the cluster security group already admits from itself.
pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    // Only in eksscale's own cluster: another tool's cluster group is not ours.
    let Some(sg) = cx
        .eks
        .filter(|c| c.is_ours())
        .and_then(|c| c.internal.get(super::cluster::CLUSTER_SECURITY_GROUP))
    else {
        return Ok(Vec::new());
    };
    let allowed = allowed_self_ports(cx.aws, sg, &KEDA_PORTS).await?;
    Ok(vec![
        Observed::new(Kind::SecurityGroupRule, sg)
            .attr(ALLOWED_TCP_PORTS, ports_text(&allowed))
            .keyed(CONTROL_PLANE_TO_KEDA),
    ])
}

/// The subset of `ports` a group's ingress rules allow from the group itself.
async fn allowed_self_ports(aws: &Aws, sg: &str, ports: &[i32]) -> anyhow::Result<Vec<i32>> {
    let r = aws
        .ec2
        .describe_security_groups()
        .group_ids(sg)
        .send()
        .await
        .found("ec2:DescribeSecurityGroups", &["InvalidGroup.NotFound"])?;
    // The cluster's group gone since DescribeCluster (the cluster is being
    // deleted): no rule.
    let Some(r) = r else {
        return Ok(Vec::new());
    };
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

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    if let Ensure::Unchanged(obs) = e {
        return Ok((Done::new(Outcome::Unchanged), obs.clone()));
    }
    let sg = cx
        .refs
        .get(&want.cluster)
        .and_then(|c| c.internal.get(super::cluster::CLUSTER_SECURITY_GROUP).cloned())
        .ok_or_else(|| anyhow::anyhow!("the cluster has no cluster security group yet"))?;
    // The plan may not have known the group; look at its rules now.
    let allowed = allowed_self_ports(cx.aws, &sg, &want.ports).await?;
    let missing: Vec<i32> = want
        .ports
        .iter()
        .copied()
        .filter(|p| !allowed.contains(p))
        .collect();
    if !missing.is_empty() {
        cx.step
            .progress(format!("allowing TCP {missing:?} within {sg}"));
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
                            .description(&want.description)
                            .build(),
                    )
                    .build()
            })
            .collect();
        cx.aws
            .ec2
            .authorize_security_group_ingress()
            .group_id(&sg)
            .set_ip_permissions(Some(perms))
            .send()
            .await
            .ctx("ec2:AuthorizeSecurityGroupIngress")?;
    }
    let previous = match e {
        Ensure::Update { obs, .. } => Some(obs),
        _ => None,
    };
    let o = node.realized(&sg, cx.refs, previous);
    let outcome = match (e, missing.is_empty()) {
        (_, true) => Outcome::Unchanged,
        (Ensure::Create, false) => Outcome::Created,
        _ => Outcome::Updated,
    };
    Ok((
        Done::with(
            outcome,
            format!("{sg} admits TCP {:?} from itself", want.ports),
        ),
        o,
    ))
}

/// The rule is part of the cluster security group, which EKS deletes with
/// the cluster: nothing to do on its own.
pub async fn delete(_: &Cx<'_>, _: &Observed) -> anyhow::Result<Done> {
    Ok(Done::with(
        Outcome::Absent,
        "part of the cluster security group; deleted with the cluster",
    ))
}
