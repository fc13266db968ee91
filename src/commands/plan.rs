//! `eksscale plan`: discover, diff, print. Read-only.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::output::Report;
use crate::aws::Aws;
use crate::cli::{Global, PlanArgs};
use crate::kinds::{self, Action, Kind, Node, Observed, Scope, cluster};
use crate::plan::graph::{self, Inputs};
use crate::plan::timeline::{self, Timeline};
use crate::plan::{Plan, PlanEntry, render};
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
    /// The selected samples (templates read and checked).
    pub samples: Vec<crate::samples::Sample>,
}

impl Prepared {
    pub fn zone_names(&self) -> Vec<String> {
        self.zones.iter().map(|z| z.zone.clone()).collect()
    }

    /// The selected samples' objects for this account and these zones, and
    /// warnings (a user Deployment that got the default spread).
    pub fn sample_objects(
        &self,
    ) -> Result<(Vec<crate::kube::object::Object>, Vec<String>), crate::samples::Invalid> {
        crate::samples::objects(
            &self.samples,
            &crate::samples::Inputs {
                spec: &self.spec,
                account: &self.account,
                zones: self.zone_names(),
            },
        )
    }
}

pub async fn prepare(g: &Global) -> anyhow::Result<Prepared> {
    let loaded = super::load_config(g).await?;
    let spec = Arc::new(loaded.spec);
    // Samples are read and checked before the first AWS call.
    let samples = crate::samples::selected(&spec, &super::config_dir(g))?;
    // A template that does not render fails here, before any AWS call (the
    // real render, with the account and zones, follows once they are known).
    crate::samples::objects(
        &samples,
        &crate::samples::Inputs {
            spec: &spec,
            account: "000000000000",
            zones: (0..spec.vpc.zones.count())
                .map(|i| format!("{}{}", spec.region, (b'a' + i as u8) as char))
                .collect(),
        },
    )?;
    let (aws, account) = crate::aws::connect_checked(&spec.region).await?;
    let observed = kinds::discover(&aws, &spec.name, Scope::Managed).await?;
    let dups = crate::plan::duplicates(&observed);
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
    let types = crate::plan::zones::instance_types(&spec);
    let (zones_offered, instance_types) = tokio::try_join!(
        crate::aws::zones::available(&aws),
        crate::aws::zones::offerings(&aws, &types),
    )?;
    let offer = crate::plan::zones::Offer {
        zones: zones_offered,
        instance_types,
    };
    let zones = crate::plan::zones::layout(&spec, &offer, &observed)?;
    let addon_versions =
        kinds::addon::default_versions(&aws, &spec.kubernetes_version, &spec.addons).await?;
    let inputs = Inputs {
        account: account.clone(),
        addon_versions,
        queue_samples: samples
            .iter()
            .filter(|s| s.queue)
            .map(|s| s.name.clone())
            .collect(),
    };
    let graph = graph::build(&spec, &zones, &inputs);
    refuse_foreign(&spec, &graph, &observed)?;
    let plan = crate::plan::plan(&graph, &observed);
    Ok(Prepared {
        spec,
        samples,
        aws,
        account,
        zones,
        graph,
        observed,
        plan,
    })
}

/// Stops before any change when something eksscale does not own has one of
/// its names (checked on the graph's node ids: cluster, roles, log group,
/// OIDC provider, node groups, add-ons, network by component tag).
fn refuse_foreign(spec: &Spec, graph: &[Node], observed: &[Observed]) -> anyhow::Result<()> {
    let foreign = crate::plan::foreign_conflicts(graph, observed);
    if foreign.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = foreign
        .iter()
        .map(|o| {
            format!(
                "{} {} ({})",
                o.kind,
                o.id,
                o.foreign.as_deref().unwrap_or_default()
            )
        })
        .collect();
    Err(NotOwned(format!(
        "cluster {} in {} collides with resources eksscale does not own; it will not modify or adopt them, and nothing was changed:\n  {}\nUse another cluster name, or remove them with the tool that created them.",
        spec.name,
        spec.region,
        list.join("\n  ")
    ))
    .into())
}

/// Resources in the way that eksscale does not own (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotOwned(pub String);

/// EKS upgrades one minor version at a time and never downgrades; say so
/// before anything is changed.
fn check_version_change(spec: &Spec, observed: &[Observed]) -> anyhow::Result<()> {
    use crate::catalog::minor_of;
    let Some(current) = observed
        .iter()
        .find(|o| o.kind == Kind::EksCluster && o.is_ours())
        .and_then(|o| o.attrs.get(cluster::VERSION))
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
pub struct PlanSummary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    pub refused: usize,
}

pub fn summary(plan: &Plan) -> PlanSummary {
    PlanSummary {
        create: plan.count(Action::Create),
        update: plan.count(Action::Update),
        delete: plan.deletions.len(),
        unchanged: plan.count(Action::NoChange),
        refused: plan.refused().len(),
    }
}

#[derive(Serialize)]
pub struct PlanCost {
    /// Every price is in the table (otherwise `monthly` is the known part).
    complete: bool,
    currency: String,
    prices_as_of: String,
    /// After `up` (`null`: a price is not in the table for the region).
    monthly: Option<f64>,
    /// What exists now.
    current_monthly: Option<f64>,
    change: Option<f64>,
}

/// The estimate of the config, of what exists, and the difference.
pub fn plan_cost(p: &Prepared) -> PlanCost {
    let want = crate::cost::of_spec(&p.spec, p.zones.len());
    let now = crate::cost::estimate(
        &crate::cost::Inventory::of_observed(&p.observed),
        &p.spec.region,
        crate::catalog::prices::table(),
    );
    PlanCost {
        complete: want.complete,
        currency: want.currency,
        prices_as_of: want.prices_as_of,
        change: want
            .monthly_total
            .zip(now.monthly_total)
            .map(|(a, b)| ((a - b) * 100.0).round() / 100.0),
        monthly: want.monthly_total,
        current_monthly: now.monthly_total,
    }
}

impl PlanCost {
    /// One line for people.
    pub fn line(&self) -> String {
        let m = |v: Option<f64>| {
            v.map(|v| format!("{v:.2} {}", self.currency))
                .unwrap_or_else(|| "unknown (a price is not in the table)".into())
        };
        format!(
            "Estimated cost: {}{} a month{} (prices of {}; `eksscale cost` shows the lines).",
            if self.complete { "" } else { "at least " },
            m(self.monthly),
            match (self.current_monthly, self.change) {
                (Some(now), Some(d)) if now > 0.0 => format!(", now {now:.2}, change {d:+.2}"),
                _ => String::new(),
            },
            self.prices_as_of
        )
    }
}

/// What `plan` reports.
#[derive(Serialize)]
pub struct PlanReport {
    command: &'static str,
    /// Whether the command did what it was asked (like every summary).
    ok: bool,
    cluster: String,
    region: String,
    zones: Vec<String>,
    changes_pending: bool,
    summary: PlanSummary,
    resources: Vec<PlanEntry>,
    deletions: Vec<Observed>,
    aws_calls: crate::aws::CallStats,
    /// Kubernetes reads (`plan` never writes).
    kube_calls: crate::kube::calls::KubeCalls,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<Timeline>,
    /// The monthly estimate after `up`, what exists costs now, the change.
    cost: PlanCost,
    /// What `up` would change in the cluster (KEDA, samples, pruning).
    kubernetes: super::plan_kube::KubePlan,
    #[serde(skip)]
    plan: Plan,
    #[serde(skip)]
    verbose: bool,
    #[serde(skip)]
    keda_version: Option<String>,
    #[serde(skip)]
    exit_code: u8,
}

impl fmt::Display for PlanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render::plan_text(
            &self.cluster,
            &self.region,
            &self.zones,
            &self.plan,
            self.verbose,
        ))?;
        if let Some(v) = &self.keda_version {
            writeln!(
                f,
                "KEDA {v} and the samples are applied by `up` with server-side apply (objects unchanged since the last `up` are not sent again); `eksscale render` shows them."
            )?;
        }
        if let Some(t) = &self.timeline {
            f.write_str(&timeline::render(t))?;
        }
        f.write_str(&self.kubernetes.text())?;
        writeln!(f, "{}", self.cost.line())
    }
}

impl Report for PlanReport {
    fn exit_code(&self) -> u8 {
        self.exit_code
    }
}

pub async fn run(g: &Global, a: PlanArgs) -> anyhow::Result<PlanReport> {
    let p = prepare(g).await?;
    let timeline = a
        .timeline
        .then(|| timeline::compute(&p.graph, &p.plan.changes()));
    let kubernetes = super::plan_kube::plan(g, &p).await;
    let exit_code = if a.exit_code && (p.plan.has_changes() || kubernetes.has_changes()) {
        super::EXIT_CHANGES_PENDING
    } else {
        0
    };
    let cost = plan_cost(&p);
    Ok(PlanReport {
        cost,
        changes_pending: p.plan.has_changes() || kubernetes.has_changes(),
        kubernetes,
        command: "plan",
        ok: true,
        cluster: p.spec.name.clone(),
        region: p.spec.region.clone(),
        zones: p.zone_names(),
        summary: summary(&p.plan),
        resources: p.plan.entries.clone(),
        deletions: p.plan.deletions.clone(),
        aws_calls: p.aws.calls.stats(),
        kube_calls: crate::kube::calls::stats(),
        timeline,
        verbose: g.verbose,
        keda_version: p.spec.keda.enabled.then(|| p.spec.keda.version.clone()),
        plan: p.plan,
        exit_code,
    })
}
