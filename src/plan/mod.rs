//! The plan: for every node of the desired graph, what `up` would do to it
//! (from the generic diff in `kinds::model`), plus what is tagged for the
//! cluster but no longer in the config. Pure data in, data out: nothing here
//! talks to AWS or prints.

pub mod graph;
pub mod render;
pub mod timeline;
pub mod zones;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::kinds::steps::by_key;
use crate::kinds::{Action, Change, Deletion, Kind, Node, Observed, diff};

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
            .filter(|e| e.change.action() == Action::Replace)
            .collect()
    }
    pub fn count(&self, action: Action) -> usize {
        self.entries
            .iter()
            .filter(|e| e.change.action() == action)
            .count()
    }
    /// The planned change of every node, by id (for the timeline).
    pub fn changes(&self) -> BTreeMap<String, Change> {
        self.entries
            .iter()
            .map(|e| (e.id.clone(), e.change.clone()))
            .collect()
    }
}

/// Resources in the way of the graph that eksscale does not own (a cluster of
/// the same name made by eksctl, an untagged role with one of its names):
/// `up` stops before any change rather than adopting or replacing them.
pub fn foreign_conflicts<'a>(graph: &[Node], observed: &'a [Observed]) -> Vec<&'a Observed> {
    let wanted: BTreeSet<&str> = graph.iter().map(|n| n.id.as_str()).collect();
    observed
        .iter()
        .filter(|o| !o.is_ours())
        .filter(|o| o.key.as_deref().is_some_and(|k| wanted.contains(k)))
        .collect()
}

/// Two resources claiming the same graph node (e.g. a VPC created twice by
/// hand-run tooling) must be resolved by a human before eksscale acts.
pub fn duplicates(observed: &[Observed]) -> Vec<(String, Vec<String>)> {
    let mut m: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for o in observed.iter().filter(|o| o.is_ours()) {
        if let Some(k) = &o.key {
            m.entry(k).or_default().push(o.id.clone());
        }
    }
    m.into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(k, ids)| (k.to_string(), ids))
        .collect()
}

/// Compares the graph with what discovery found (only eksscale's own
/// resources: see [`foreign_conflicts`] for the others).
pub fn plan(graph: &[Node], observed: &[Observed]) -> Plan {
    let ours: Vec<Observed> = observed.iter().filter(|o| o.is_ours()).cloned().collect();
    let observed = &ours[..];
    let world = by_key(observed);
    let wanted: BTreeSet<&str> = graph.iter().map(|n| n.id.as_str()).collect();
    let entries = graph
        .iter()
        .map(|n| {
            let obs = world.get(&n.id).filter(|o| !o.is_going_away());
            PlanEntry {
                id: n.id.clone(),
                kind: n.kind(),
                change: diff(n, obs, &world),
                existing: obs.map(|o| o.id.clone()),
            }
        })
        .collect();
    // What goes with the cluster (the KEDA ingress rule in EKS's own security
    // group) is observed for the plan, never pruned.
    let deletions = observed
        .iter()
        .filter(|o| o.kind.deletion() != Deletion::WithCluster)
        .filter(|o| o.key.as_deref().is_some_and(|k| !wanted.contains(k)))
        .cloned()
        .collect();
    Plan { entries, deletions }
}
