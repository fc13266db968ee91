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
    // eksscale's own first: a foreign resource is only seen where none is.
    let (ours, foreign): (Vec<&Observed>, Vec<&Observed>) =
        observed.iter().partition(|o| o.is_ours());
    for o in ours.into_iter().chain(foreign) {
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

/// What `down` does with what discovery found.
#[derive(Debug, Default)]
pub struct Down {
    /// One item per resource, one sweep per VPC for swept kinds.
    pub items: Vec<Observed>,
    /// eksscale's, but kept: a VPC (with its subnets and internet gateway)
    /// that something not made for the cluster still uses. The reason names
    /// each blocker by id, name and owner.
    pub kept: Vec<(Observed, String)>,
}

/// Which of eksscale's VPCs something else still uses, and what.
fn blocked_vpcs(observed: &[Observed]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in observed.iter().filter(|o| !o.is_ours()) {
        if let Some(vpc) = o.internal.get(super::VPC) {
            let name = o
                .attrs
                .get("name")
                .map(|n| format!(" {n:?}"))
                .unwrap_or_default();
            let owner = o
                .internal
                .get(super::OWNER)
                .map(|a| format!(" (owner {a})"))
                .unwrap_or_default();
            m.entry(vpc.clone())
                .or_default()
                .push(format!("{} {}{name}{owner}", o.kind, o.id));
        }
    }
    m
}

/// What `down` runs for what discovery found: only eksscale's resources,
/// nothing for what goes with the cluster, and not the network of a VPC that
/// something else still uses (deleting it would fail after retrying for
/// minutes, and eksscale never touches what it does not own).
pub fn down_items(observed: &[Observed]) -> Down {
    let blocked = blocked_vpcs(observed);
    fn vpc_of(o: &Observed) -> Option<&String> {
        match o.kind {
            Kind::Vpc => Some(&o.id),
            Kind::Subnet => o.attrs.get(super::subnet::VPC),
            Kind::InternetGateway => o.attrs.get(super::internet_gateway::ATTACHED_VPC),
            _ => None,
        }
    }
    let in_blocked = |o: &Observed| vpc_of(o).filter(|v| blocked.contains_key(*v)).cloned();
    let mut kept = Vec::new();
    let mut items: Vec<Observed> = Vec::new();
    for o in observed
        .iter()
        .filter(|o| o.is_ours() && o.kind.deletion() == Deletion::Each)
    {
        match in_blocked(o) {
            Some(vpc) => kept.push((
                o.clone(),
                format!("VPC {vpc} is still used by: {}", blocked[&vpc].join("; ")),
            )),
            None => items.push(o.clone()),
        }
    }
    let vpcs: Vec<&str> = observed
        .iter()
        .filter(|o| o.kind == Kind::Vpc && o.is_ours())
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
    Down { items, kept }
}

/// One engine step per item of [`down_items`], ordered by
/// [`Kind::delete_after`].
pub fn down_steps(ctx: &RunCtx, observed: &[Observed]) -> Vec<Step> {
    let items = down_items(observed).items;
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
        let items = down_items(&observed).items;
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

    #[test]
    fn a_vpc_something_else_uses_is_kept_with_its_subnets() {
        let mut sg = found(Kind::SecurityGroup, "sg-rds");
        sg.internal.insert(super::super::VPC.into(), "vpc-1".into());
        sg.attrs.insert("name".into(), "rds".into());
        sg.foreign = Some("not made for cluster demo".into());
        let subnet = found(Kind::Subnet, "subnet-1").attr(super::super::subnet::VPC, "vpc-1");
        let observed = vec![
            found(Kind::Vpc, "vpc-1"),
            subnet,
            found(Kind::RouteTable, "rtb-1"),
            sg,
        ];
        let down = down_items(&observed);
        let ids: Vec<String> = down.items.iter().map(down_id).collect();
        assert!(ids.contains(&"route-table/rtb-1".to_string()), "{ids:?}");
        assert!(
            !ids.iter()
                .any(|i| i.contains("vpc/vpc-1") || i.contains("subnet-1"))
        );
        assert_eq!(down.kept.len(), 2);
        assert!(down.kept[0].1.contains("sg-rds \"rds\""), "{:?}", down.kept);
    }
}
