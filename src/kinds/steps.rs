//! Turning the graph into engine steps: one ensure step per desired node for
//! `up`, one delete step per discovered resource for `down` (ordered by each
//! kind's `DELETE_AFTER`), and [`Outputs`], the shared record of what exists
//! that later steps resolve their references against.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::model::{Node, Observed, Resolve};
use super::{Cx, Deletion, Kind, NodeSpec, diff, sweep_item};
use crate::aws::Aws;
use crate::engine::step::StepCtx;
use crate::engine::{Cancel, EventSink, Step, Verb};

/// Results of finished steps plus what discovery found, by node id.
#[derive(Debug, Clone, Default)]
pub struct Outputs(Arc<RwLock<BTreeMap<String, Observed>>>);

impl Outputs {
    pub fn seeded(observed: &[Observed]) -> Self {
        Self(Arc::new(RwLock::new(by_key(observed))))
    }
    pub fn insert(&self, key: &str, o: Observed) {
        self.0
            .write()
            .expect("outputs lock")
            .insert(key.to_string(), o);
    }
}

impl Resolve for Outputs {
    fn get(&self, node: &str) -> Option<Observed> {
        self.0.read().expect("outputs lock").get(node).cloned()
    }
}

/// Keyed view of discovery results (first match per key wins; duplicates are
/// reported by `plan::duplicates` before anything runs).
pub fn by_key(observed: &[Observed]) -> BTreeMap<String, Observed> {
    let mut m = BTreeMap::new();
    for o in observed {
        if let Some(k) = &o.key {
            m.entry(k.clone()).or_insert_with(|| o.clone());
        }
    }
    m
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
    pub fn step(&self, id: &str) -> StepCtx {
        StepCtx::new(id, self.events.clone(), self.cancel.clone())
    }
}

/// One engine step per desired node.
pub fn up_steps(
    ctx: &RunCtx,
    graph: &[Node],
    observed: &[Observed],
    outputs: &Outputs,
) -> Vec<Step> {
    let world = by_key(observed);
    let mut steps: Vec<Step> = graph
        .iter()
        .map(|node| {
            let obs = world.get(&node.id).cloned();
            let planned = obs.as_ref().filter(|o| !o.is_going_away());
            let verb = Verb::from(diff(node, planned, &world).action());
            let (ctx, node, outputs) = (ctx.clone(), node.clone(), outputs.clone());
            Step {
                id: node.id.clone(),
                deps: node.deps.clone(),
                verb,
                run: Box::new(move || {
                    Box::pin(async move {
                        let s = ctx.step(&node.id);
                        let cx = Cx {
                            step: &s,
                            aws: &ctx.aws,
                            cluster: &ctx.cluster,
                            refs: &outputs,
                        };
                        let (done, o) = super::ensure(&cx, &node, obs.as_ref()).await?;
                        outputs.insert(&node.id, o);
                        Ok(done)
                    })
                }),
            }
        })
        .collect();
    // Add-ons that need nodes are waited for after the node groups that can
    // run them (their ensure step does not wait).
    for node in graph {
        if let NodeSpec::Addon(a) = &node.spec
            && let Some(step) = super::addon::ready_step(ctx, node, a, outputs)
        {
            steps.push(step);
        }
    }
    steps
}

/// Step id for a discovered resource in `down`.
pub fn down_id(o: &Observed) -> String {
    match &o.key {
        Some(k) => k.clone(),
        None => format!("{}/{}", o.kind, o.id),
    }
}

/// What `down` runs for what discovery found: one item per resource, one
/// sweep per VPC for swept kinds, nothing for what goes with the cluster.
pub fn down_items(observed: &[Observed]) -> Vec<Observed> {
    let mut items: Vec<Observed> = observed
        .iter()
        .filter(|o| o.kind.deletion() == Deletion::Each)
        .cloned()
        .collect();
    let vpcs: Vec<&str> = observed
        .iter()
        .filter(|o| o.kind == Kind::Vpc)
        .map(|o| o.id.as_str())
        .collect();
    for kind in Kind::ALL
        .iter()
        .filter(|k| k.deletion() == Deletion::SweptPerVpc)
    {
        for v in &vpcs {
            items.push(sweep_item(*kind, v));
        }
    }
    items
}

/// One engine step per item of [`down_items`], ordered by
/// [`Kind::delete_after`].
pub fn down_steps(ctx: &RunCtx, observed: &[Observed]) -> Vec<Step> {
    let items = down_items(observed);
    let ids: Vec<String> = items.iter().map(down_id).collect();
    items
        .iter()
        .zip(&ids)
        .map(|(o, id)| {
            let before = o.kind.delete_after();
            let deps = items
                .iter()
                .zip(&ids)
                .filter(|(other, _)| before.contains(&other.kind))
                .map(|(_, oid)| oid.clone())
                .collect();
            let (ctx, o, id) = (ctx.clone(), o.clone(), id.clone());
            Step {
                id: id.clone(),
                deps,
                verb: Verb::Delete,
                run: Box::new(move || {
                    Box::pin(async move {
                        let s = ctx.step(&id);
                        let empty = BTreeMap::new();
                        let cx = Cx {
                            step: &s,
                            aws: &ctx.aws,
                            cluster: &ctx.cluster,
                            refs: &empty,
                        };
                        super::delete(&cx, &o).await
                    })
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(kind: Kind, id: &str) -> Observed {
        Observed::new(kind, id)
    }

    #[test]
    fn down_sweeps_each_vpc_and_leaves_rules_to_the_cluster() {
        let observed = vec![
            found(Kind::Vpc, "vpc-1"),
            found(Kind::NetworkInterface, "eni-1"),
            found(Kind::SecurityGroup, "sg-1"),
            found(Kind::SecurityGroupRule, "sg-cluster"),
            found(Kind::EksCluster, "demo"),
        ];
        let items = down_items(&observed);
        let ids: Vec<String> = items.iter().map(down_id).collect();
        assert!(ids.contains(&"sweep/network-interface/vpc-1".to_string()));
        assert!(ids.contains(&"sweep/security-group/vpc-1".to_string()));
        assert!(
            !ids.iter()
                .any(|i| i.contains("eni-1") || i.contains("sg-1"))
        );
        assert!(!ids.iter().any(|i| i.starts_with("security-group-rule")));
        assert_eq!(items.len(), 4);
    }
}
