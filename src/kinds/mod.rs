//! One module per resource kind, and the registry that dispatches over them.
//!
//! A kind's module owns everything about it: the desired form (`Desired`, and
//! the graph node built from it), its attribute names, how discovery finds it,
//! how `up` ensures it (create / update / no change), how `down` deletes it,
//! what must be deleted before it, whether it costs money, its typical
//! duration for the timeline, and its status columns. The [`registry!`] list
//! below is the only place that names every kind: it generates the [`Kind`]
//! enum, the [`NodeSpec`] enum of desired forms, and exhaustive `match`es that
//! call each module, so a kind missing a piece does not compile.
//!
//! Adding a kind: write `src/kinds/<kind>.rs` with the items listed in
//! docs/architecture.md, add one line to the registry, and ask for it where
//! the graph is built (`plan::graph`).
//!
//! Nothing here prints: progress and waits go through [`Cx::step`].

pub mod model;
pub mod steps;

mod ec2;
mod eks;
mod retry;

use serde::Serialize;

use crate::aws::Aws;
use crate::engine::step::StepCtx;
use crate::engine::{Done, Outcome};

pub use model::{
    Action, Change, Ensure, FieldChange, KNOWN_AFTER_APPLY, Node, NodeId, Observed, Resolve, Value,
    diff,
};

/// When discovery can find a kind: by its tags or name alone, once the EKS
/// cluster is known (its add-ons, node groups, issuer ...), or inside the
/// cluster's VPCs (what Kubernetes left there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Tagged,
    /// The EKS cluster itself, which the `InCluster` kinds wait for.
    Cluster,
    InCluster,
    InVpc,
}

/// How `down` removes a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// One step per resource found.
    Each,
    /// One sweep step per VPC, which lists again when it runs (ENIs and
    /// security groups are freed only as the cluster and load balancers go).
    SweptPerVpc,
    /// Goes with the EKS cluster (e.g. a rule in its security group): never
    /// deleted on its own, never pruned.
    WithCluster,
}

/// What a step that ensures or deletes one resource works with.
#[derive(Clone, Copy)]
pub struct Cx<'a> {
    /// Progress, waits and cancellation.
    pub step: &'a StepCtx,
    pub aws: &'a Aws,
    /// The cluster's name (EKS calls take it; tags carry it).
    pub cluster: &'a str,
    /// What is known about other nodes (discovered, or made by earlier steps).
    pub refs: &'a dyn Resolve,
}

/// What discovery of one kind works with.
#[derive(Clone, Copy)]
pub struct DiscoverCx<'a> {
    pub aws: &'a Aws,
    pub cluster: &'a str,
    /// The EKS cluster, for `Phase::InCluster` kinds (None: it does not exist).
    pub eks: Option<&'a Observed>,
    /// The cluster's VPC ids, for `Phase::InVpc` kinds.
    pub vpcs: &'a [String],
}

macro_rules! registry {
    (
        managed { $($m:ident => $mm:ident,)* }
        found { $($f:ident => $fm:ident,)* }
    ) => {
        $(pub mod $mm;)*
        $(pub mod $fm;)*

        /// Every kind of thing eksscale creates or cleans up.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Kind {
            $($m,)*
            $($f,)*
        }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$m,)* $(Kind::$f,)*];

            /// Short name in plans, status and step ids (`vpc`, `nodegroup`).
            pub fn label(self) -> &'static str {
                match self {
                    $(Kind::$m => $mm::LABEL,)*
                    $(Kind::$f => $fm::LABEL,)*
                }
            }
            /// Kinds that must be gone before this kind can be deleted (`down`
            /// order). Kind-level, so `down` needs nothing but discovery.
            pub fn delete_after(self) -> &'static [Kind] {
                match self {
                    $(Kind::$m => $mm::DELETE_AFTER,)*
                    $(Kind::$f => $fm::DELETE_AFTER,)*
                }
            }
            /// Costs money while it exists (what `down` must prove gone).
            pub fn billable(self) -> bool {
                match self {
                    $(Kind::$m => $mm::BILLABLE,)*
                    $(Kind::$f => $fm::BILLABLE,)*
                }
            }
            /// Attributes `status` shows for it.
            pub fn status_columns(self) -> &'static [&'static str] {
                match self {
                    $(Kind::$m => $mm::STATUS_COLUMNS,)*
                    $(Kind::$f => $fm::STATUS_COLUMNS,)*
                }
            }
            pub fn phase(self) -> Phase {
                match self {
                    $(Kind::$m => $mm::PHASE,)*
                    $(Kind::$f => $fm::PHASE,)*
                }
            }
            /// Created by eksscale from the config (false: only found and
            /// cleaned up, such as what Kubernetes left).
            pub fn is_managed(self) -> bool {
                match self {
                    $(Kind::$m => true,)*
                    $(Kind::$f => false,)*
                }
            }
            pub fn deletion(self) -> Deletion {
                match self {
                    $(Kind::$m => $mm::DELETION,)*
                    $(Kind::$f => $fm::DELETION,)*
                }
            }
        }

        /// What a node needs to be created, by kind: each kind's `Desired`.
        #[derive(Debug, Clone)]
        pub enum NodeSpec {
            $($m($mm::Desired),)*
        }

        impl NodeSpec {
            pub fn kind(&self) -> Kind {
                match self {
                    $(NodeSpec::$m(_) => Kind::$m,)*
                }
            }
            /// Typical seconds to create or update it (for `plan --timeline`).
            pub fn typical_seconds(&self, change: &Change) -> u64 {
                if !change.is_change() {
                    return 0;
                }
                match self {
                    $(NodeSpec::$m(d) => $mm::typical_seconds(d, change),)*
                }
            }
        }

        async fn ensure_kind(
            cx: &Cx<'_>,
            node: &Node,
            e: Ensure<'_>,
        ) -> anyhow::Result<(Done, Observed)> {
            match &node.spec {
                $(NodeSpec::$m(d) => $mm::ensure(cx, node, d, e).await,)*
            }
        }

        async fn delete_kind(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
            match obs.kind {
                $(Kind::$m => $mm::delete(cx, obs).await,)*
                $(Kind::$f => $fm::delete(cx, obs).await,)*
            }
        }

        async fn discover_kind(kind: Kind, cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
            match kind {
                $(Kind::$m => $mm::discover(cx).await,)*
                $(Kind::$f => $fm::discover(cx).await,)*
            }
        }
    };
}

registry! {
    managed {
        Vpc => vpc,
        Subnet => subnet,
        InternetGateway => internet_gateway,
        ElasticIp => elastic_ip,
        NatGateway => nat_gateway,
        RouteTable => route_table,
        IamRole => role,
        LogGroup => log_group,
        EksCluster => cluster,
        OidcProvider => oidc_provider,
        AccessEntry => access_entry,
        Addon => addon,
        LaunchTemplate => launch_template,
        NodeGroup => nodegroup,
        PodIdentityAssociation => pod_identity,
        SecurityGroupRule => security_group_rule,
        Queue => queue,
    }
    found {
        ClassicLoadBalancer => classic_load_balancer,
        LoadBalancer => load_balancer,
        NetworkInterface => network_interface,
        SecurityGroup => security_group,
        Volume => volume,
        Snapshot => snapshot,
        Instance => instance,
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Creates or updates one node, from the diff against what exists. A change
/// to an immutable field is refused: eksscale never replaces a resource.
pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    obs: Option<&Observed>,
) -> anyhow::Result<(Done, Observed)> {
    if let Some(why) = obs.and_then(|o| o.foreign.as_ref()) {
        anyhow::bail!(
            "{} exists but is not eksscale's ({why}); eksscale never changes what it does not own",
            node.id
        );
    }
    // Being deleted: the kind waits for it to go and creates it again (its
    // attributes are of no interest).
    if let Some(o) = obs.filter(|o| o.is_going_away()) {
        return ensure_kind(cx, node, Ensure::Unchanged(o)).await;
    }
    let change = diff(node, obs, cx.refs);
    let e = match (obs, &change) {
        (_, Change::Replace { changes }) => anyhow::bail!(
            "{} cannot be changed in place ({}); eksscale never replaces a resource: revert the change, or run `eksscale down` and `eksscale up` to rebuild",
            node.id,
            changes
                .iter()
                .map(|c| c.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (None, _) => Ensure::Create,
        (Some(o), Change::Update { changes }) => Ensure::Update { obs: o, changes },
        (Some(o), _) => Ensure::Unchanged(o),
    };
    ensure_kind(cx, node, e).await
}

/// Deletes one discovered resource (or sweeps one VPC, for swept kinds).
pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    delete_kind(cx, obs).await
}

/// What discovery covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// What `up` and `plan` compare against: the kinds eksscale creates.
    Managed,
    /// Everything `status` and `down` account for, including what Kubernetes
    /// left in the VPC.
    Everything,
}

/// Every resource of the cluster, found by tags (and names) alone: the
/// `Tagged` kinds and the cluster concurrently, then what hangs off the
/// cluster, then (for [`Scope::Everything`]) what is inside its VPCs.
pub async fn discover(aws: &Aws, cluster: &str, scope: Scope) -> anyhow::Result<Vec<Observed>> {
    let base = DiscoverCx {
        aws,
        cluster,
        eks: None,
        vpcs: &[],
    };
    let of_phase = |p: Phase| Kind::ALL.iter().copied().filter(move |k| k.phase() == p);
    // What eksscale does not create (volumes, instances Kubernetes and EKS
    // made) is only looked for by `status` and `down`: `up` must never see
    // it as something the config no longer asks for.
    let tagged_kinds =
        of_phase(Phase::Tagged).filter(|k| scope == Scope::Everything || k.is_managed());
    let tagged = futures::future::try_join_all(tagged_kinds.map(|k| {
        let base = &base;
        async move { discover_kind(k, base).await }
    }));
    let eks_side = async {
        let mut found = Vec::new();
        for k in of_phase(Phase::Cluster) {
            found.extend(discover_kind(k, &base).await?);
        }
        let cx = DiscoverCx {
            eks: found.first(),
            ..base
        };
        let children = futures::future::try_join_all(of_phase(Phase::InCluster).map(|k| {
            let cx = &cx;
            async move { discover_kind(k, cx).await }
        }))
        .await?;
        let children: Vec<Observed> = children.into_iter().flatten().collect();
        found.extend(children);
        anyhow::Ok(found)
    };
    let (tagged, eks_side) = tokio::try_join!(tagged, eks_side)?;
    let mut out: Vec<Observed> = tagged.into_iter().flatten().chain(eks_side).collect();
    if scope == Scope::Everything {
        let vpcs: Vec<String> = out
            .iter()
            .filter(|o| o.kind == Kind::Vpc)
            .map(|o| o.id.clone())
            .collect();
        if !vpcs.is_empty() {
            let cx = DiscoverCx {
                vpcs: &vpcs,
                ..base
            };
            let inside = futures::future::try_join_all(of_phase(Phase::InVpc).map(|k| {
                let cx = &cx;
                async move { discover_kind(k, cx).await }
            }))
            .await?;
            out.extend(inside.into_iter().flatten());
        }
    }
    Ok(out)
}

/// Key in `Observed::internal` of what was found inside a VPC: the VPC id.
pub const VPC: &str = "vpc";
/// Key in `Observed::internal`: the AWS account that owns it, where known.
pub const OWNER: &str = "owner";

/// Which tag shows that Kubernetes or EKS made a resource for `cluster`:
/// the in-tree cloud provider's `kubernetes.io/cluster/<cluster>`, the AWS
/// Load Balancer Controller's `elbv2.k8s.aws/cluster`, EKS's
/// `aws:eks:cluster-name`, the VPC CNI's `cluster.k8s.amazonaws.com/name`.
pub fn kube_made(tags: &[(String, String)], cluster: &str) -> Option<&'static str> {
    let owner = format!("kubernetes.io/cluster/{cluster}");
    tags.iter().find_map(|(k, v)| {
        if *k == owner {
            Some("kubernetes.io/cluster")
        } else if v == cluster {
            match k.as_str() {
                "elbv2.k8s.aws/cluster" => Some("elbv2.k8s.aws/cluster"),
                "aws:eks:cluster-name" => Some("aws:eks:cluster-name"),
                "cluster.k8s.amazonaws.com/name" => Some("cluster.k8s.amazonaws.com/name"),
                _ => None,
            }
        } else {
            None
        }
    })
}

/// The reason given for something in the VPC that no tag ties to the cluster.
pub fn not_kube_made(cluster: &str) -> String {
    format!(
        "not made for cluster {cluster} (no kubernetes.io/cluster/{cluster}, elbv2.k8s.aws/cluster or aws:eks:cluster-name tag); it blocks deleting the VPC"
    )
}

/// Marker in `Observed::internal` of a per-VPC sweep item (its id is the VPC).
pub const SWEEP: &str = "sweep";

/// The item `down` runs to sweep one VPC of a [`Deletion::SweptPerVpc`] kind.
pub fn sweep_item(kind: Kind, vpc: &str) -> Observed {
    let mut o = Observed::new(kind, vpc).keyed(format!("sweep/{}/{vpc}", kind.label()));
    o.internal.insert(SWEEP.into(), "true".into());
    o
}

/// The outcome of a sweep: what it deleted, or `Absent` when nothing was there.
pub fn swept(found: &[Observed]) -> Done {
    if found.is_empty() {
        Done::new(Outcome::Absent)
    } else {
        Done::with(
            Outcome::Deleted,
            found
                .iter()
                .map(|o| o.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

/// `Deleted`, or `Absent` when a delete found nothing (already gone).
pub fn gone(existed: bool) -> Done {
    Done::new(if existed {
        Outcome::Deleted
    } else {
        Outcome::Absent
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_delete_order_is_acyclic() {
        let mut labels: Vec<&str> = Kind::ALL.iter().map(|k| k.label()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), Kind::ALL.len());
        let shape: Vec<(String, Vec<String>)> = Kind::ALL
            .iter()
            .map(|k| {
                (
                    k.label().to_string(),
                    k.delete_after()
                        .iter()
                        .map(|d| d.label().to_string())
                        .collect(),
                )
            })
            .collect();
        crate::engine::check_graph(&shape).unwrap();
    }

    #[test]
    fn exactly_one_kind_is_the_cluster() {
        let n = Kind::ALL
            .iter()
            .filter(|k| k.phase() == Phase::Cluster)
            .count();
        assert_eq!(n, 1);
    }
}
