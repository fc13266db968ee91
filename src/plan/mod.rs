//! The picture every command works from: resource kinds, the desired graph
//! (what the config asks for), what discovery observed, and the diff between
//! them.
//!
//! Diffing is generic: each desired node lists comparable attributes (some
//! immutable) and tags; references to other nodes are resolved to the AWS
//! ids that discovery found (for `plan`) or that earlier steps produced (for
//! `up`). The same diff drives the plan output and the updates `up` makes, so
//! the two cannot disagree.

pub mod graph;
pub mod render;
pub mod timeline;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// Every kind of thing eksscale creates or cleans up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Vpc,
    Subnet,
    InternetGateway,
    ElasticIp,
    NatGateway,
    RouteTable,
    IamRole,
    EksCluster,
    OidcProvider,
    AccessEntry,
    Addon,
    NodeGroup,
    PodIdentityAssociation,
    LogGroup,
    /// Left behind by Kubernetes `Service type: LoadBalancer` (classic ELB).
    ClassicLoadBalancer,
    /// Left behind by the AWS Load Balancer Controller (ALB/NLB).
    LoadBalancer,
    /// Detached ENIs left in the VPC (by the VPC CNI or load balancers).
    NetworkInterface,
    /// Non-default security groups left in the VPC (by Kubernetes or EKS).
    SecurityGroup,
    /// The ingress rule letting the control plane reach KEDA on the nodes.
    SecurityGroupRule,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Vpc => "vpc",
            Kind::Subnet => "subnet",
            Kind::InternetGateway => "internet-gateway",
            Kind::ElasticIp => "elastic-ip",
            Kind::NatGateway => "nat-gateway",
            Kind::RouteTable => "route-table",
            Kind::IamRole => "iam-role",
            Kind::EksCluster => "eks-cluster",
            Kind::OidcProvider => "oidc-provider",
            Kind::AccessEntry => "access-entry",
            Kind::Addon => "addon",
            Kind::NodeGroup => "nodegroup",
            Kind::PodIdentityAssociation => "pod-identity",
            Kind::LogGroup => "log-group",
            Kind::ClassicLoadBalancer => "classic-load-balancer",
            Kind::LoadBalancer => "load-balancer",
            Kind::NetworkInterface => "network-interface",
            Kind::SecurityGroup => "security-group",
            Kind::SecurityGroupRule => "security-group-rule",
        }
    }

    /// Kinds that must be gone before this kind can be deleted (`down` order).
    /// Kind-level, so `down` needs nothing but discovery to order its work.
    pub fn delete_after(self) -> &'static [Kind] {
        use Kind::*;
        match self {
            NodeGroup | ClassicLoadBalancer | LoadBalancer | SecurityGroupRule => &[],
            Addon | AccessEntry | PodIdentityAssociation => &[NodeGroup],
            EksCluster => &[NodeGroup, Addon, AccessEntry, PodIdentityAssociation],
            OidcProvider | LogGroup => &[EksCluster],
            IamRole => &[
                EksCluster,
                NodeGroup,
                Addon,
                OidcProvider,
                PodIdentityAssociation,
            ],
            NatGateway => &[NodeGroup, EksCluster],
            ElasticIp => &[NatGateway],
            NetworkInterface => &[
                EksCluster,
                NodeGroup,
                ClassicLoadBalancer,
                LoadBalancer,
                NatGateway,
            ],
            SecurityGroup => &[
                EksCluster,
                NodeGroup,
                ClassicLoadBalancer,
                LoadBalancer,
                NetworkInterface,
            ],
            InternetGateway => &[
                NatGateway,
                ElasticIp,
                ClassicLoadBalancer,
                LoadBalancer,
                EksCluster,
                NodeGroup,
            ],
            RouteTable => &[NodeGroup, EksCluster, NatGateway],
            Subnet => &[
                EksCluster,
                NodeGroup,
                NatGateway,
                NetworkInterface,
                ClassicLoadBalancer,
                LoadBalancer,
            ],
            Vpc => &[
                Subnet,
                InternetGateway,
                RouteTable,
                SecurityGroup,
                NatGateway,
                NetworkInterface,
            ],
        }
    }

    /// Resources that cost money while they exist (what `down` must prove gone).
    pub fn billable(self) -> bool {
        use Kind::*;
        matches!(
            self,
            NatGateway
                | ElasticIp
                | EksCluster
                | NodeGroup
                | ClassicLoadBalancer
                | LoadBalancer
                | LogGroup
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A resource as discovery found it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    pub kind: Option<Kind>,
    /// The desired node it corresponds to (from its component tag or name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// AWS identifier: `vpc-...`, a role name, a cluster name, an ARN.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Comparable attributes (shown by `plan` and `status`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Data needed to change or delete it, not compared (association ids, ...).
    #[serde(skip)]
    pub internal: BTreeMap<String, String>,
}

impl Observed {
    pub fn new(kind: Kind, id: impl Into<String>) -> Self {
        Self {
            kind: Some(kind),
            id: id.into(),
            ..Default::default()
        }
    }
    pub fn kind(&self) -> Kind {
        self.kind.expect("discovered resources always have a kind")
    }
    pub fn attr(mut self, k: &str, v: impl Into<String>) -> Self {
        self.attrs.insert(k.to_string(), v.into());
        self
    }
    pub fn tags(mut self, tags: BTreeMap<String, String>) -> Self {
        self.tags = tags;
        self
    }
}

/// Looks up what is known about other nodes: discovered (plan) or produced by
/// finished steps (up).
pub trait Resolve: Send + Sync {
    fn get(&self, node: &str) -> Option<Observed>;
    fn id_of(&self, node: &str) -> Option<String> {
        self.get(node).map(|o| o.id)
    }
    fn arn_of(&self, node: &str) -> Option<String> {
        self.get(node).and_then(|o| o.arn)
    }
}

impl Resolve for BTreeMap<String, Observed> {
    fn get(&self, node: &str) -> Option<Observed> {
        BTreeMap::get(self, node).cloned()
    }
}

pub type ComputeFn = Arc<dyn Fn(&dyn Resolve) -> Option<String> + Send + Sync>;

/// A desired attribute value; references resolve through [`Resolve`].
#[derive(Clone)]
pub enum Value {
    Lit(String),
    /// The AWS id of another node.
    Ref(String),
    /// The AWS ids of other nodes, compared as a sorted, comma-joined list.
    Refs(Vec<String>),
    /// Anything derived from other nodes (e.g. a trust policy naming the OIDC
    /// provider). `None` while an input does not exist yet.
    Computed(ComputeFn),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Lit(s) => write!(f, "{s:?}"),
            Value::Ref(n) => write!(f, "ref({n})"),
            Value::Refs(n) => write!(f, "refs({n:?})"),
            Value::Computed(_) => write!(f, "computed"),
        }
    }
}

/// Placeholder shown for a value that will exist after an earlier step runs.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

impl Value {
    pub fn resolve(&self, r: &dyn Resolve) -> Option<String> {
        match self {
            Value::Lit(s) => Some(s.clone()),
            Value::Ref(n) => r.id_of(n),
            Value::Refs(ns) => {
                let mut ids = ns.iter().map(|n| r.id_of(n)).collect::<Option<Vec<_>>>()?;
                ids.sort();
                Some(ids.join(","))
            }
            Value::Computed(f) => f(r),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attr {
    pub value: Value,
    /// False: a difference cannot be fixed in place (eksscale refuses to
    /// replace; the plan says what to do instead).
    pub mutable: bool,
}

/// One resource the config asks for.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub kind: Kind,
    pub deps: Vec<String>,
    pub attrs: BTreeMap<String, Attr>,
    /// Tags that must be present (others on the resource are left alone).
    pub tags: BTreeMap<String, String>,
    pub spec: graph::NodeSpec,
}

impl Node {
    pub fn new(id: impl Into<String>, kind: Kind, spec: graph::NodeSpec) -> Self {
        Self {
            id: id.into(),
            kind,
            deps: Vec::new(),
            attrs: BTreeMap::new(),
            tags: BTreeMap::new(),
            spec,
        }
    }
    pub fn dep(mut self, d: impl Into<String>) -> Self {
        let d = d.into();
        if !self.deps.contains(&d) {
            self.deps.push(d);
        }
        self
    }
    pub fn fixed(mut self, k: &str, v: Value) -> Self {
        self.attrs.insert(
            k.to_string(),
            Attr {
                value: v,
                mutable: false,
            },
        );
        self
    }
    pub fn mutable(mut self, k: &str, v: Value) -> Self {
        self.attrs.insert(
            k.to_string(),
            Attr {
                value: v,
                mutable: true,
            },
        );
        self
    }
    pub fn tagged(mut self, tags: BTreeMap<String, String>) -> Self {
        self.tags = tags;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    Create,
    Update {
        changes: Vec<FieldChange>,
    },
    Unchanged,
    /// Exists, but an immutable field differs; eksscale will not recreate it.
    Replace {
        changes: Vec<FieldChange>,
    },
}

impl Change {
    pub fn is_change(&self) -> bool {
        !matches!(self, Change::Unchanged)
    }
    pub fn label(&self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update { .. } => "update",
            Change::Unchanged => "no change",
            Change::Replace { .. } => "replace (refused)",
        }
    }
}

/// Compares one desired node with what exists.
pub fn diff(node: &Node, observed: Option<&Observed>, r: &dyn Resolve) -> Change {
    let Some(obs) = observed else {
        return Change::Create;
    };
    let mut changes = Vec::new();
    let mut immutable_changed = false;
    for (field, attr) in &node.attrs {
        let want = attr
            .value
            .resolve(r)
            .unwrap_or_else(|| KNOWN_AFTER_APPLY.to_string());
        let have = obs.attrs.get(field);
        if have != Some(&want) {
            immutable_changed |= !attr.mutable;
            changes.push(FieldChange {
                field: field.clone(),
                from: have.cloned(),
                to: want,
            });
        }
    }
    for (k, v) in &node.tags {
        if obs.tags.get(k) != Some(v) {
            changes.push(FieldChange {
                field: format!("tag:{k}"),
                from: obs.tags.get(k).cloned(),
                to: v.clone(),
            });
        }
    }
    match (changes.is_empty(), immutable_changed) {
        (true, _) => Change::Unchanged,
        (false, true) => Change::Replace { changes },
        (false, false) => Change::Update { changes },
    }
}

/// Fields of an update that are tags (`tag:key` -> value).
pub fn tag_changes(changes: &[FieldChange]) -> BTreeMap<String, String> {
    changes
        .iter()
        .filter_map(|c| {
            c.field
                .strip_prefix("tag:")
                .map(|k| (k.to_string(), c.to.clone()))
        })
        .collect()
}

/// Whether an update touches a given (non-tag) field.
pub fn touches(changes: &[FieldChange], field: &str) -> bool {
    changes.iter().any(|c| c.field == field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use graph::NodeSpec;

    fn node() -> Node {
        Node::new("subnet/public/a", Kind::Subnet, NodeSpec::InternetGateway)
            .fixed("cidr", Value::Lit("10.0.0.0/24".into()))
            .fixed("vpc", Value::Ref("vpc".into()))
            .mutable("mapPublicIpOnLaunch", Value::Lit("true".into()))
            .tagged([("eksscale.io/cluster".to_string(), "demo".to_string())].into())
    }

    fn observed() -> Observed {
        Observed::new(Kind::Subnet, "subnet-1")
            .attr("cidr", "10.0.0.0/24")
            .attr("vpc", "vpc-1")
            .attr("mapPublicIpOnLaunch", "true")
            .tags(
                [
                    ("eksscale.io/cluster".to_string(), "demo".to_string()),
                    ("extra".to_string(), "kept".to_string()),
                ]
                .into(),
            )
    }

    fn world() -> BTreeMap<String, Observed> {
        [("vpc".to_string(), Observed::new(Kind::Vpc, "vpc-1"))].into()
    }

    #[test]
    fn identical_is_no_change_and_extra_tags_are_ignored() {
        assert_eq!(
            diff(&node(), Some(&observed()), &world()),
            Change::Unchanged
        );
    }

    #[test]
    fn missing_is_create() {
        assert_eq!(diff(&node(), None, &world()), Change::Create);
    }

    #[test]
    fn mutable_difference_is_update_with_fields() {
        let mut o = observed();
        o.attrs.insert("mapPublicIpOnLaunch".into(), "false".into());
        o.tags.remove("eksscale.io/cluster");
        let Change::Update { changes } = diff(&node(), Some(&o), &world()) else {
            panic!("expected update")
        };
        assert_eq!(changes.len(), 2);
        assert!(touches(&changes, "mapPublicIpOnLaunch"));
        assert_eq!(tag_changes(&changes)["eksscale.io/cluster"], "demo");
    }

    #[test]
    fn immutable_difference_is_refused_replace() {
        let mut o = observed();
        o.attrs.insert("cidr".into(), "10.9.0.0/24".into());
        assert!(matches!(
            diff(&node(), Some(&o), &world()),
            Change::Replace { .. }
        ));
    }

    #[test]
    fn unresolved_reference_shows_known_after_apply() {
        let empty: BTreeMap<String, Observed> = BTreeMap::new();
        let Change::Replace { changes } = diff(&node(), Some(&observed()), &empty) else {
            panic!("expected replace")
        };
        assert_eq!(changes[0].to, KNOWN_AFTER_APPLY);
    }
}
