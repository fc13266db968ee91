//! The bridge between the desired graph and the AWS modules: for each kind
//! of resource, how it is discovered, ensured and deleted. Commands use this
//! to turn (graph, discovered) into a plan, `up` steps or `down` steps, which
//! the engine then runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use anyhow::bail;
use serde::Serialize;

use crate::aws::step::StepCtx;
use crate::aws::tags::Tags;
use crate::aws::{self, Aws};
use crate::engine::{Cancel, Done, EventSink, Step};
use crate::plan::graph::TAG_EXPIRES;
use crate::plan::{Change, Kind, Node, Observed, Resolve, diff};
use crate::spec::Spec;

/// Every AWS resource tagged (or named) for `cluster`, found without a config.
pub async fn discover_cluster(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let log_group = log_group_name(cluster);
    let (network, roles, eks) = tokio::try_join!(
        aws::network::discover(aws, cluster),
        aws::iam::discover_cluster(aws, cluster),
        aws::eks::discover(aws, cluster, &log_group),
    )?;
    let vpcs: Vec<String> = network
        .iter()
        .filter(|o| o.kind() == Kind::Vpc)
        .map(|o| o.id.clone())
        .collect();
    let leftovers = aws::leftovers::discover(aws, &vpcs).await?;
    Ok([network, roles, eks, leftovers]
        .into_iter()
        .flatten()
        .collect())
}

/// The control-plane log group EKS writes to.
pub fn log_group_name(cluster: &str) -> String {
    format!("/aws/eks/{cluster}/cluster")
}

/// What `up` compares against: the cluster's resources, keyed by graph node.
pub async fn discover_for_spec(aws: &Aws, spec: &Spec) -> anyhow::Result<Vec<Observed>> {
    let log_group = spec.log_group_name();
    let (network, roles, eks) = tokio::try_join!(
        aws::network::discover(aws, &spec.name),
        aws::iam::discover_cluster(aws, &spec.name),
        aws::eks::discover(aws, &spec.name, &log_group),
    )?;
    Ok([network, roles, eks].into_iter().flatten().collect())
}

/// Results of finished steps plus what discovery found, by node id.
#[derive(Debug, Clone, Default)]
pub struct Outputs(Arc<RwLock<BTreeMap<String, Observed>>>);

impl Outputs {
    pub fn seeded(observed: &[Observed]) -> Self {
        let map = observed
            .iter()
            .filter_map(|o| o.key.clone().map(|k| (k, o.clone())))
            .collect();
        Self(Arc::new(RwLock::new(map)))
    }
    pub fn insert(&self, key: &str, o: Observed) {
        self.0
            .write()
            .expect("outputs lock")
            .insert(key.to_string(), o);
    }
    pub fn snapshot(&self) -> BTreeMap<String, Observed> {
        self.0.read().expect("outputs lock").clone()
    }
}

impl Resolve for Outputs {
    fn get(&self, node: &str) -> Option<Observed> {
        self.0.read().expect("outputs lock").get(node).cloned()
    }
}

/// One line of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanEntry {
    pub id: String,
    pub kind: Kind,
    #[serde(flatten)]
    pub change: Change,
    /// The AWS id of the existing resource, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub entries: Vec<PlanEntry>,
    /// Tagged for the cluster but no longer in the config: `up` deletes them
    /// after everything else succeeded.
    pub deletions: Vec<Observed>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.deletions.is_empty() || self.entries.iter().any(|e| e.change.is_change())
    }
    pub fn refused(&self) -> Vec<&PlanEntry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.change, Change::Replace { .. }))
            .collect()
    }
    pub fn count(&self, label: &str) -> usize {
        self.entries
            .iter()
            .filter(|e| e.change.label() == label)
            .count()
    }
}

/// Keyed view of discovery results (first match per key wins; duplicates are
/// reported by [`duplicates`]).
pub fn by_key(observed: &[Observed]) -> BTreeMap<String, Observed> {
    let mut m = BTreeMap::new();
    for o in observed {
        if let Some(k) = &o.key {
            m.entry(k.clone()).or_insert_with(|| o.clone());
        }
    }
    m
}

/// Two resources claiming the same graph node (e.g. a VPC created twice by
/// hand-run tooling) must be resolved by a human before eksscale acts.
pub fn duplicates(observed: &[Observed]) -> Vec<(String, Vec<String>)> {
    let mut m: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for o in observed {
        if let Some(k) = &o.key {
            m.entry(k).or_default().push(o.id.clone());
        }
    }
    m.into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(k, ids)| (k.to_string(), ids))
        .collect()
}

pub fn plan(graph: &[Node], observed: &[Observed]) -> Plan {
    let world = by_key(observed);
    let wanted: BTreeSet<&str> = graph.iter().map(|n| n.id.as_str()).collect();
    let entries = graph
        .iter()
        .map(|n| {
            let obs = world.get(&n.id);
            PlanEntry {
                id: n.id.clone(),
                kind: n.kind,
                change: diff(n, obs, &world),
                existing: obs.map(|o| o.id.clone()),
            }
        })
        .collect();
    let deletions = observed
        .iter()
        .filter(|o| o.key.as_deref().is_some_and(|k| !wanted.contains(k)))
        .cloned()
        .collect();
    Plan { entries, deletions }
}

/// Shared by every step of one run.
#[derive(Debug, Clone)]
pub struct RunCtx {
    pub aws: Aws,
    pub cluster: String,
    pub events: EventSink,
    pub cancel: Cancel,
}

impl RunCtx {
    fn step(&self, id: &str) -> StepCtx {
        StepCtx::new(id, self.events.clone(), self.cancel.clone())
    }
}

/// Tags set only when a resource is created (never updated later).
fn create_only_tags(spec: &Spec, kind: Kind) -> Tags {
    let mut t = Tags::new();
    if let Some(ttl) = spec.ttl
        && matches!(kind, Kind::Vpc)
        && let Ok(at) = jiff::Timestamp::now().checked_add(ttl)
    {
        t.insert(
            TAG_EXPIRES.to_string(),
            at.round(jiff::Unit::Second).unwrap_or(at).to_string(),
        );
    }
    t
}

/// One engine step per desired node.
pub fn up_steps(
    ctx: &RunCtx,
    spec: &Arc<Spec>,
    graph: &[Node],
    observed: &[Observed],
    outputs: &Outputs,
) -> Vec<Step> {
    let world = by_key(observed);
    graph
        .iter()
        .map(|node| {
            let obs = world.get(&node.id).cloned();
            let action = diff(node, obs.as_ref(), &world).label().to_string();
            let (ctx, spec, node, outputs) =
                (ctx.clone(), spec.clone(), node.clone(), outputs.clone());
            Step {
                id: node.id.clone(),
                deps: node.deps.clone(),
                action: if action == "no change" {
                    "check".into()
                } else {
                    action
                },
                run: Box::new(move || {
                    Box::pin(async move {
                        let s = ctx.step(&node.id);
                        let (done, o) =
                            ensure(&s, &ctx.aws, &spec, &node, obs.as_ref(), &outputs).await?;
                        outputs.insert(&node.id, o);
                        Ok(done)
                    })
                }),
            }
        })
        .collect()
}

async fn ensure(
    s: &StepCtx,
    aws: &Aws,
    spec: &Spec,
    node: &Node,
    obs: Option<&Observed>,
    r: &Outputs,
) -> anyhow::Result<(Done, Observed)> {
    match node.kind {
        Kind::Vpc
        | Kind::Subnet
        | Kind::InternetGateway
        | Kind::ElasticIp
        | Kind::NatGateway
        | Kind::RouteTable => {
            aws::network::ensure(s, aws, node, obs, r, &create_only_tags(spec, node.kind)).await
        }
        Kind::IamRole => aws::iam::ensure(s, aws, node, obs, r).await,
        Kind::EksCluster
        | Kind::OidcProvider
        | Kind::AccessEntry
        | Kind::Addon
        | Kind::NodeGroup
        | Kind::LogGroup => aws::eks::ensure(s, aws, &spec.name, node, obs, r).await,
        other => bail!("{other} is not created by `up`"),
    }
}

/// Step id for a discovered resource in `down`.
pub fn down_id(o: &Observed) -> String {
    match &o.key {
        Some(k) => k.clone(),
        None => format!("{}/{}", o.kind(), o.id),
    }
}

/// One engine step per discovered resource, ordered by [`Kind::delete_after`].
pub fn down_steps(ctx: &RunCtx, observed: &[Observed]) -> Vec<Step> {
    let mut items: Vec<Observed> = observed.to_vec();
    // ENIs and security groups are swept per VPC when their turn comes.
    items.retain(|o| !matches!(o.kind(), Kind::NetworkInterface | Kind::SecurityGroup));
    let vpcs: Vec<String> = observed
        .iter()
        .filter(|o| o.kind() == Kind::Vpc)
        .map(|o| o.id.clone())
        .collect();
    for v in &vpcs {
        items.extend(aws::leftovers::sweeps(v));
    }
    let ids: Vec<String> = items.iter().map(down_id).collect();
    items
        .iter()
        .zip(&ids)
        .map(|(o, id)| {
            let before = o.kind().delete_after();
            let deps = items
                .iter()
                .zip(&ids)
                .filter(|(other, _)| before.contains(&other.kind()))
                .map(|(_, oid)| oid.clone())
                .collect();
            let (ctx, o, id) = (ctx.clone(), o.clone(), id.clone());
            Step {
                id: id.clone(),
                deps,
                action: "delete".into(),
                run: Box::new(move || {
                    Box::pin(async move {
                        let s = ctx.step(&id);
                        delete(&s, &ctx.aws, &ctx.cluster, &o).await
                    })
                }),
            }
        })
        .collect()
}

async fn delete(s: &StepCtx, aws: &Aws, cluster: &str, o: &Observed) -> anyhow::Result<Done> {
    match o.kind() {
        Kind::Vpc
        | Kind::Subnet
        | Kind::InternetGateway
        | Kind::ElasticIp
        | Kind::NatGateway
        | Kind::RouteTable => aws::network::delete(s, aws, o).await,
        Kind::IamRole => aws::iam::delete(s, aws, o).await,
        Kind::ClassicLoadBalancer
        | Kind::LoadBalancer
        | Kind::NetworkInterface
        | Kind::SecurityGroup => aws::leftovers::delete(s, aws, o).await,
        Kind::EksCluster
        | Kind::OidcProvider
        | Kind::AccessEntry
        | Kind::Addon
        | Kind::NodeGroup
        | Kind::PodIdentityAssociation
        | Kind::LogGroup => aws::eks::delete(s, aws, cluster, o).await,
        Kind::SqsQueue => bail!("deleting SQS queues is not supported yet"),
    }
}
