//! The vocabulary every kind speaks: a desired [`Node`] (what the config asks
//! for), an [`Observed`] resource (what discovery found), and the [`diff`]
//! between them.
//!
//! Diffing is generic: each node lists comparable attributes (some immutable)
//! and tags; references to other nodes resolve to the AWS ids that discovery
//! found (for `plan`) or that earlier steps produced (for `up`). The same diff
//! drives the plan output and the updates `up` makes, so the two cannot
//! disagree. Attribute names are constants of each kind's module, shared by
//! the node it builds, the discovery that reads it back and the update code.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;

use super::{Kind, NodeSpec};

/// A graph node id such as `subnet/private/us-west-2a`; also the value of
/// the resource's `eksscale.io/component` tag.
pub type NodeId = String;

/// A resource as discovery found it.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    pub kind: Kind,
    /// The desired node it corresponds to (from its component tag or name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<NodeId>,
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
    /// Why it is not eksscale's (found for the cluster, but without both
    /// ownership tags, or not made for it): never modified or deleted.
    #[serde(rename = "not_owned", skip_serializing_if = "Option::is_none")]
    pub foreign: Option<String>,
}

impl Observed {
    pub fn new(kind: Kind, id: impl Into<String>) -> Self {
        Self {
            kind,
            key: None,
            id: id.into(),
            arn: None,
            state: None,
            attrs: BTreeMap::new(),
            tags: BTreeMap::new(),
            internal: BTreeMap::new(),
            foreign: None,
        }
    }
    pub fn attr(mut self, k: &str, v: impl Into<String>) -> Self {
        self.attrs.insert(k.to_string(), v.into());
        self
    }
    pub fn tags(mut self, tags: BTreeMap<String, String>) -> Self {
        self.tags = tags;
        self
    }
    pub fn keyed(mut self, key: impl Into<NodeId>) -> Self {
        self.key = Some(key.into());
        self
    }
    /// Takes `t` as its tags, its graph key from the component tag (if it
    /// has none yet), and whether it is ours from the ownership tags.
    pub fn claimed(mut self, t: BTreeMap<String, String>, cluster: &str, region: &str) -> Self {
        if self.key.is_none() {
            self.key = crate::aws::tags::component(&t);
        }
        self.foreign = crate::aws::tags::not_ours(&t, cluster, region);
        self.tags = t;
        self
    }
    pub fn is_ours(&self) -> bool {
        self.foreign.is_none()
    }
    /// Being deleted (an interrupted `down`): `up` waits for it to go and
    /// creates it again, so the plan shows a create.
    pub fn is_going_away(&self) -> bool {
        matches!(
            self.state.as_deref(),
            Some("deleting") | Some("DELETING") | Some("DELETE_FAILED")
        )
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
    /// The AWS id of a node that must exist by now (a dependency).
    fn need_id(&self, node: &str) -> anyhow::Result<String> {
        self.id_of(node).with_context(|| {
            format!("{node} does not exist yet (it should have been created first)")
        })
    }
    /// The ARN of a node that must exist by now (a dependency).
    fn need_arn(&self, node: &str) -> anyhow::Result<String> {
        self.arn_of(node)
            .with_context(|| format!("{node} has no ARN yet (it should have been created first)"))
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
    Ref(NodeId),
    /// The AWS ids of other nodes, compared as a sorted, comma-joined list.
    Refs(Vec<NodeId>),
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
    pub fn lit(s: impl Into<String>) -> Self {
        Value::Lit(s.into())
    }
    /// A value computed from other nodes.
    pub fn computed(f: impl Fn(&dyn Resolve) -> Option<String> + Send + Sync + 'static) -> Self {
        Value::Computed(Arc::new(f))
    }
    /// The ARN of another node.
    pub fn arn_of(node: impl Into<NodeId>) -> Self {
        let node = node.into();
        Value::computed(move |r| r.arn_of(&node))
    }
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
    pub id: NodeId,
    pub deps: Vec<NodeId>,
    pub attrs: BTreeMap<String, Attr>,
    /// Tags that must be present (others on the resource are left alone).
    pub tags: BTreeMap<String, String>,
    /// What the kind needs to create it, beyond the comparable attributes.
    pub spec: NodeSpec,
}

impl Node {
    pub fn new(id: impl Into<NodeId>, spec: NodeSpec) -> Self {
        Self {
            id: id.into(),
            deps: Vec::new(),
            attrs: BTreeMap::new(),
            tags: BTreeMap::new(),
            spec,
        }
    }
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }
    pub fn dep(mut self, d: impl Into<NodeId>) -> Self {
        let d = d.into();
        if !self.deps.contains(&d) {
            self.deps.push(d);
        }
        self
    }
    pub fn deps<I: IntoIterator<Item = S>, S: Into<NodeId>>(mut self, ds: I) -> Self {
        for d in ds {
            self = self.dep(d);
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

    /// The observed form of this node once its desired state holds: `id`,
    /// every attribute that resolves, and its tags, over what was observed
    /// before (so internal data such as association ids is kept).
    pub fn realized(
        &self,
        id: impl Into<String>,
        r: &dyn Resolve,
        previous: Option<&Observed>,
    ) -> Observed {
        let mut o = previous
            .cloned()
            .unwrap_or_else(|| Observed::new(self.kind(), ""));
        o.kind = self.kind();
        o.id = id.into();
        o.key = Some(self.id.clone());
        for (k, a) in &self.attrs {
            if let Some(v) = a.value.resolve(r) {
                o.attrs.insert(k.clone(), v);
            }
        }
        for (k, v) in &self.tags {
            o.tags.insert(k.clone(), v.clone());
        }
        o
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

/// What a change does, without its details: what plans count and steps show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    NoChange,
    Replace,
}

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::NoChange => "no change",
            Action::Replace => "replace (refused)",
        }
    }
}

/// The verb a step shows for a planned action (`check` when nothing changes).
impl From<Action> for crate::engine::Verb {
    fn from(a: Action) -> Self {
        match a {
            Action::Create => crate::engine::Verb::Create,
            Action::Update | Action::Replace => crate::engine::Verb::Update,
            Action::NoChange => crate::engine::Verb::Check,
        }
    }
}

impl Change {
    pub fn is_change(&self) -> bool {
        !matches!(self, Change::Unchanged)
    }
    pub fn action(&self) -> Action {
        match self {
            Change::Create => Action::Create,
            Change::Update { .. } => Action::Update,
            Change::Unchanged => Action::NoChange,
            Change::Replace { .. } => Action::Replace,
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

/// What an `ensure` has to do, decided by the registry from the diff, so that
/// each kind's code matches on it instead of unwrapping `Option`s.
#[derive(Debug, Clone, Copy)]
pub enum Ensure<'a> {
    /// Nothing exists: create it.
    Create,
    /// It exists and these mutable fields (or tags) differ.
    Update {
        obs: &'a Observed,
        changes: &'a [FieldChange],
    },
    /// It exists as desired (it may still be settling, e.g. CREATING).
    Unchanged(&'a Observed),
}

impl Ensure<'_> {
    /// Whether an update touches a given (non-tag) field.
    pub fn touches(&self, field: &str) -> bool {
        match self {
            Ensure::Update { changes, .. } => changes.iter().any(|c| c.field == field),
            _ => false,
        }
    }
    /// The tags an update must add or change (`tag:key` fields).
    pub fn tag_changes(&self) -> BTreeMap<String, String> {
        match self {
            Ensure::Update { changes, .. } => tag_changes(changes),
            _ => BTreeMap::new(),
        }
    }
    /// The changed fields, comma-separated (the step's detail).
    pub fn fields(&self) -> String {
        match self {
            Ensure::Update { changes, .. } => changes
                .iter()
                .map(|c| c.field.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::subnet;

    fn node() -> Node {
        subnet::Desired {
            vpc: "vpc".into(),
            zone: "us-west-2a".into(),
            cidr: "10.0.0.0/24".into(),
            public: true,
        }
        .node(
            "subnet/public/a",
            [("eksscale.io/cluster".to_string(), "demo".to_string())].into(),
        )
    }

    fn observed() -> Observed {
        Observed::new(Kind::Subnet, "subnet-1")
            .attr(subnet::CIDR, "10.0.0.0/24")
            .attr(subnet::VPC, "vpc-1")
            .attr(subnet::ZONE, "us-west-2a")
            .attr(subnet::MAP_PUBLIC_IP, "true")
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
        o.attrs.insert(subnet::MAP_PUBLIC_IP.into(), "false".into());
        o.tags.remove("eksscale.io/cluster");
        let Change::Update { changes } = diff(&node(), Some(&o), &world()) else {
            panic!("expected update")
        };
        assert_eq!(changes.len(), 2);
        let e = Ensure::Update {
            obs: &o,
            changes: &changes,
        };
        assert!(e.touches(subnet::MAP_PUBLIC_IP));
        assert_eq!(e.tag_changes()["eksscale.io/cluster"], "demo");
    }

    #[test]
    fn immutable_difference_is_refused_replace() {
        let mut o = observed();
        o.attrs.insert(subnet::CIDR.into(), "10.9.0.0/24".into());
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
