//! Modelled time-to-ready: the critical path of the graph, using a table of
//! typical AWS durations. `plan --timeline` prints it; it shows that nothing
//! but the control plane and a node group is on the critical path, and where
//! the rest of the time goes.
//!
//! Durations are typical values from AWS documentation and field reports, not
//! measurements of this run; resources that exist and need no change count 0.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::kinds::{Change, Kind, Node, NodeSpec, cluster, nodegroup};

/// Typical seconds to create (or update) one resource: each kind's own figure.
pub fn typical_seconds(node: &Node, change: &Change) -> u64 {
    node.spec.typical_seconds(change)
}

/// EKS control plane creation, typically 8-10 minutes.
pub const CONTROL_PLANE: u64 = cluster::CREATE_SECONDS;
/// Managed node group creation, typically 3-4 minutes.
pub const NODE_GROUP: u64 = nodegroup::CREATE_SECONDS;
/// Add-ons that need nodes (coredns, metrics-server) become ACTIVE this long
/// after the first nodes are Ready.
pub const AFTER_NODES: u64 = 15;
/// The target: nothing but control plane and node group on the critical path.
pub const TARGET_SLACK: u64 = 90;

#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub total_seconds: u64,
    pub target_seconds: u64,
    pub within_target: bool,
    /// The critical path, first to last: (node, start, finish) in seconds.
    pub critical_path: Vec<PathStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PathStep {
    pub id: String,
    pub start: u64,
    pub finish: u64,
}

/// Longest path through the graph with the durations above.
pub fn compute(graph: &[Node], changes: &BTreeMap<String, Change>) -> Timeline {
    let index: BTreeMap<&str, &Node> = graph.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut finish: BTreeMap<String, (u64, Option<String>)> = BTreeMap::new();
    fn visit(
        id: &str,
        index: &BTreeMap<&str, &Node>,
        changes: &BTreeMap<String, Change>,
        memo: &mut BTreeMap<String, (u64, Option<String>)>,
    ) -> u64 {
        if let Some((f, _)) = memo.get(id) {
            return *f;
        }
        let node = index[id];
        let mut start = 0;
        let mut via = None;
        for d in &node.deps {
            let f = visit(d, index, changes, memo);
            if f >= start {
                start = f;
                via = Some(d.clone());
            }
        }
        let change = changes.get(id).cloned().unwrap_or(Change::Create);
        let f = start + typical_seconds(node, &change);
        memo.insert(id.to_string(), (f, via));
        f
    }
    for n in graph {
        visit(&n.id, &index, changes, &mut finish);
    }
    // Add-ons that need nodes finish after the last node group is ready.
    let nodes_ready = graph
        .iter()
        .filter(|n| n.kind() == Kind::NodeGroup)
        .map(|n| finish[&n.id].0)
        .max();
    let mut end: Vec<(String, u64)> = graph
        .iter()
        .map(|n| (n.id.clone(), finish[&n.id].0))
        .collect();
    if let Some(ready) = nodes_ready {
        for (id, f) in end.iter_mut() {
            if let NodeSpec::Addon(a) = &index[id.as_str()].spec
                && !a.before_nodes
                && !matches!(changes.get(id.as_str()), Some(Change::Unchanged))
            {
                *f = (*f).max(ready + AFTER_NODES);
            }
        }
    }
    let (last, total) = end
        .iter()
        .max_by_key(|(_, f)| *f)
        .cloned()
        .unwrap_or_default();
    let mut path = Vec::new();
    let mut cur = Some(last.clone());
    if let Some(ready) = nodes_ready
        && total > finish.get(&last).map(|f| f.0).unwrap_or(0)
    {
        // The last step waited for nodes: continue the path through the slowest node group.
        path.push(PathStep {
            id: last.clone(),
            start: ready,
            finish: total,
        });
        cur = graph
            .iter()
            .filter(|n| n.kind() == Kind::NodeGroup)
            .max_by_key(|n| finish[&n.id].0)
            .map(|n| n.id.clone());
    }
    while let Some(id) = cur {
        let (f, via) = finish[&id].clone();
        let node = index[id.as_str()];
        let change = changes.get(&id).cloned().unwrap_or(Change::Create);
        path.push(PathStep {
            id: id.clone(),
            start: f - typical_seconds(node, &change),
            finish: f,
        });
        cur = via;
    }
    path.reverse();
    let target = CONTROL_PLANE + NODE_GROUP + TARGET_SLACK;
    Timeline {
        total_seconds: total,
        target_seconds: target,
        within_target: total <= target,
        critical_path: path,
    }
}

fn mmss(s: u64) -> String {
    format!("{}:{:02}", s / 60, s % 60)
}

pub fn render(t: &Timeline) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nModelled time-to-ready (typical AWS durations; see docs/benchmarks.md):"
    );
    for s in &t.critical_path {
        let _ = writeln!(
            out,
            "  {:>6} -> {:>6}  {}",
            mmss(s.start),
            mmss(s.finish),
            s.id
        );
    }
    let _ = writeln!(
        out,
        "  total {} (target {}: control plane + node group + {}s) {}",
        mmss(t.total_seconds),
        mmss(t.target_seconds),
        TARGET_SLACK,
        if t.within_target {
            "within target"
        } else {
            "OVER TARGET"
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::graph::tests::{spec_with, zones};
    use crate::plan::graph::{Inputs, build};

    #[test]
    fn cold_up_is_control_plane_plus_node_group_plus_little() {
        let s = spec_with(
            "spec:\n  vpc:\n    natGateway: perZone\n  nodeGroups:\n    - name: general\n      perZone: true\n",
        );
        let g = build(&s, &zones(&s), &Inputs::default());
        let t = compute(&g, &BTreeMap::new());
        assert!(t.within_target, "{}", render(&t));
        let ids: Vec<&str> = t.critical_path.iter().map(|p| p.id.as_str()).collect();
        assert!(ids.contains(&"eks-cluster"), "{ids:?}");
        assert!(ids.iter().any(|i| i.starts_with("nodegroup/")), "{ids:?}");
        // Everything on the path besides those two fits in the slack.
        let others: u64 = t
            .critical_path
            .iter()
            .filter(|p| p.id != "eks-cluster" && !p.id.starts_with("nodegroup/"))
            .map(|p| p.finish - p.start)
            .sum();
        assert!(others <= TARGET_SLACK, "{}", render(&t));
        // NAT gateways (2 min) run beside the control plane, not before it.
        assert!(
            !ids.iter().any(|i| i.starts_with("nat-gateway/")),
            "{ids:?}"
        );
    }

    #[test]
    fn nothing_to_do_takes_no_time() {
        let s = spec_with("");
        let g = build(&s, &zones(&s), &Inputs::default());
        let all: BTreeMap<String, Change> = g
            .iter()
            .map(|n| (n.id.clone(), Change::Unchanged))
            .collect();
        assert_eq!(compute(&g, &all).total_seconds, 0);
    }
}
