//! `eksscale plan`: discover, diff, print. Read-only.

use std::sync::Arc;

use serde::Serialize;

use crate::aws::Aws;
use crate::cli::{Global, Output, PlanArgs};
use crate::plan::{Node, Observed, render};
use crate::resources::{self, Plan};
use crate::spec::{Spec, ZoneLayout};

/// Everything `plan` and `up` compute before acting.
pub struct Prepared {
    pub spec: Arc<Spec>,
    pub aws: Aws,
    pub account: String,
    pub zones: Vec<ZoneLayout>,
    pub graph: Vec<Node>,
    pub observed: Vec<Observed>,
    pub plan: Plan,
}

impl Prepared {
    pub fn zone_names(&self) -> Vec<String> {
        self.zones.iter().map(|z| z.zone.clone()).collect()
    }
}

pub async fn prepare(g: &Global) -> anyhow::Result<Prepared> {
    let loaded = super::load_config(g).await?;
    let spec = Arc::new(loaded.spec);
    let (aws, account) = super::connect(&spec.region).await?;
    let observed = resources::discover_for_spec(&aws, &spec).await?;
    let dups = resources::duplicates(&observed);
    if !dups.is_empty() {
        let list: Vec<String> = dups
            .iter()
            .map(|(k, ids)| format!("{k}: {}", ids.join(", ")))
            .collect();
        anyhow::bail!(
            "more than one resource claims the same part of cluster {} (tag eksscale.io/component):\n  {}\nDelete the extra ones (or their tags) by hand; eksscale will not guess which to keep.",
            spec.name,
            list.join("\n  ")
        );
    }
    check_version_change(&spec, &observed)?;
    let zones = super::resolve_zones(&aws, &spec, &observed).await?;
    let addon_versions =
        crate::aws::eks::default_addon_versions(&aws, &spec.kubernetes_version, &spec.addons)
            .await?;
    let inputs = crate::plan::graph::Inputs {
        account: account.clone(),
        addon_versions,
    };
    let graph = crate::plan::graph::build(&spec, &zones, &inputs);
    let plan = resources::plan(&graph, &observed);
    Ok(Prepared {
        spec,
        aws,
        account,
        zones,
        graph,
        observed,
        plan,
    })
}

/// EKS upgrades one minor version at a time and never downgrades; say so
/// before anything is changed.
fn check_version_change(spec: &Spec, observed: &[Observed]) -> anyhow::Result<()> {
    use crate::catalog::minor_of;
    let Some(current) = observed
        .iter()
        .find(|o| o.kind() == crate::plan::Kind::EksCluster)
        .and_then(|o| o.attrs.get("version"))
    else {
        return Ok(());
    };
    let (Some(have), Some(want)) = (minor_of(current), minor_of(&spec.kubernetes_version)) else {
        return Ok(());
    };
    if want < have {
        return Err(super::usage(format!(
            "cluster {} runs Kubernetes {current}; spec.kubernetesVersion {} would be a downgrade, which EKS does not support",
            spec.name, spec.kubernetes_version
        )));
    }
    if want.0 == have.0 && want.1 > have.1 + 1 {
        return Err(super::usage(format!(
            "cluster {} runs Kubernetes {current}; EKS upgrades one minor version at a time: set spec.kubernetesVersion to {}.{} first",
            spec.name,
            have.0,
            have.1 + 1
        )));
    }
    Ok(())
}

#[derive(Serialize)]
struct PlanJson<'a> {
    command: &'static str,
    cluster: &'a str,
    region: &'a str,
    zones: Vec<String>,
    changes_pending: bool,
    summary: PlanSummary,
    resources: &'a [resources::PlanEntry],
    deletions: &'a [Observed],
    aws_calls: crate::aws::CallStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<crate::plan::timeline::Timeline>,
}

#[derive(Serialize)]
pub struct PlanSummary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    pub refused: usize,
}

pub fn summary(plan: &Plan) -> PlanSummary {
    PlanSummary {
        create: plan.count("create"),
        update: plan.count("update"),
        delete: plan.deletions.len(),
        unchanged: plan.count("no change"),
        refused: plan.refused().len(),
    }
}

pub async fn run(g: &Global, a: PlanArgs) -> anyhow::Result<u8> {
    let p = prepare(g).await?;
    let timeline = a.timeline.then(|| {
        let changes = p
            .plan
            .entries
            .iter()
            .map(|e| (e.id.clone(), e.change.clone()))
            .collect();
        crate::plan::timeline::compute(&p.graph, &changes)
    });
    match g.output {
        Output::Json => super::print_json(&PlanJson {
            command: "plan",
            cluster: &p.spec.name,
            region: &p.spec.region,
            zones: p.zone_names(),
            changes_pending: p.plan.has_changes(),
            summary: summary(&p.plan),
            resources: &p.plan.entries,
            deletions: &p.plan.deletions,
            aws_calls: p.aws.calls.stats(),
            timeline,
        })?,
        Output::Human => {
            print!(
                "{}",
                render::plan_text(
                    &p.spec.name,
                    &p.spec.region,
                    &p.zone_names(),
                    &p.plan,
                    g.verbose
                )
            );
            if p.spec.keda.enabled {
                println!(
                    "KEDA {} is applied to Kubernetes by every `up` (server-side apply, reported per object); `eksscale render` shows those objects.",
                    p.spec.keda.version
                );
            }
            if let Some(t) = &timeline {
                print!("{}", crate::plan::timeline::render(t));
            }
        }
    }
    Ok(if a.exit_code && p.plan.has_changes() {
        super::EXIT_CHANGES_PENDING
    } else {
        0
    })
}
