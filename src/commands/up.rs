//! `eksscale up`: plan, then run the graph, then delete what the config no
//! longer asks for. Failures keep what was created and say how to go on.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::output::Report;
use crate::cli::{Global, UpArgs};
use crate::engine::{self, Outcome, RunReport, StepStatus};
use crate::keda::install;
use crate::kinds::Change;
use crate::kinds::steps::{Outputs, RunCtx, down_steps, up_steps};
use crate::kube::apply::Applier;
use crate::kube::steps::{KubeAccess, kubeconfig_step};

#[derive(Serialize, Default)]
struct Counts {
    created: usize,
    updated: usize,
    deleted: usize,
    unchanged: usize,
    failed: usize,
    skipped: usize,
}

fn counts(r: &RunReport) -> Counts {
    Counts {
        created: r.count(Outcome::Created),
        updated: r.count(Outcome::Updated),
        deleted: r.count(Outcome::Deleted),
        unchanged: r.count(Outcome::Unchanged),
        failed: r.failed().count(),
        skipped: r
            .steps
            .values()
            .filter(|s| matches!(s, StepStatus::Skipped { .. }))
            .count(),
    }
}

/// What `up` reports.
#[derive(Serialize)]
pub struct UpReport {
    #[serde(flatten)]
    head: super::SummaryHead,
    interrupted: bool,
    counts: Counts,
    steps: BTreeMap<String, StepStatus>,
    elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

impl fmt::Display for UpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, calls) = (&self.counts, &self.head.aws_calls);
        writeln!(
            f,
            "\n{} created, {} updated, {} deleted, {} unchanged, {} failed, {} skipped in {} ({} AWS calls: {} read, {} mutating{}{}).",
            c.created,
            c.updated,
            c.deleted,
            c.unchanged,
            c.failed,
            c.skipped,
            engine::human_duration(std::time::Duration::from_millis(self.elapsed_ms)),
            calls.read + calls.mutating,
            calls.read,
            calls.mutating,
            if calls.retries > 0 {
                format!(
                    "; {} retried after throttling or transient errors",
                    calls.retries
                )
            } else {
                String::new()
            },
            match self.head.kube_calls {
                k if k.read + k.write > 0 => format!(
                    "; {} Kubernetes requests: {} read, {} write",
                    k.read + k.write,
                    k.read,
                    k.write
                ),
                _ => String::new(),
            }
        )?;
        for (id, s) in &self.steps {
            if let StepStatus::Failed { error, .. } = s {
                writeln!(f, "failed: {id}: {error}")?;
            }
        }
        if let Some(n) = &self.next {
            writeln!(f, "{n}")?;
        }
        Ok(())
    }
}

impl Report for UpReport {
    fn exit_code(&self) -> u8 {
        if self.interrupted {
            super::EXIT_INTERRUPTED
        } else if self.head.ok {
            0
        } else {
            1
        }
    }
}

/// The refused replacements, one line each, for the usage error.
fn refused_lines(p: &super::plan::Prepared) -> Vec<String> {
    p.plan
        .refused()
        .iter()
        .map(|e| match &e.change {
            Change::Replace { changes } => format!(
                "{}: {}",
                e.id,
                changes
                    .iter()
                    .map(|c| format!(
                        "{} {} -> {}",
                        c.field,
                        c.from.as_deref().unwrap_or("(none)"),
                        c.to
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => e.id.clone(),
        })
        .collect()
}

/// How the Kubernetes phase reaches the API: `--kubeconfig`, else EKS.
fn kube_access(g: &Global) -> KubeAccess {
    match &g.kubeconfig {
        Some(path) => KubeAccess::File {
            path: path.clone(),
            context: g.context.clone(),
        },
        None => KubeAccess::Eks,
    }
}

pub async fn run(g: &Global, a: UpArgs) -> anyhow::Result<UpReport> {
    if let Some(path) = &g.kubeconfig {
        crate::kube::check_file_access(path, g.context.as_deref())
            .map_err(|e| super::usage(format!("{e}; nothing was changed")))?;
    }
    let p = super::plan::prepare(g).await?;
    // Everything that can fail without AWS is done before the first change.
    let keda = if p.spec.keda.enabled {
        let dir = g
            .file
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        Some(install::prepare(&p.spec, &p.account, &dir).await?)
    } else {
        None
    };
    let (sample_objects, sample_warnings) = p.sample_objects()?;
    let refused = refused_lines(&p);
    if !refused.is_empty() {
        return Err(super::usage(format!(
            "the config changes fields that cannot be changed in place; nothing was changed:\n  {}\nRevert them, or run `eksscale down` then `eksscale up` to rebuild.",
            refused.join("\n  ")
        )));
    }

    let (events, reporter) = super::reporter(g);
    for w in sample_warnings {
        events.warn(w);
    }
    super::report_retries(&p.aws, &events);
    let cancel = super::install_interrupt();
    let ctx = RunCtx {
        aws: p.aws.clone(),
        cluster: p.spec.name.clone(),
        events: events.clone(),
        cancel: cancel.clone(),
    };
    let summary = super::plan::summary(&p.plan);
    events.info(format!(
        "eksscale up: cluster {} in {} (zones {}): {} to create, {} to update, {} to delete",
        p.spec.name,
        p.spec.region,
        p.zone_names().join(", "),
        summary.create,
        summary.update,
        summary.delete
    ));
    events.info(super::plan::plan_cost(&p).line());
    let outputs = Outputs::seeded(&p.observed);
    let mut steps = up_steps(&ctx, &p.graph, &p.observed, &outputs);
    if !a.no_kubeconfig {
        steps.push(kubeconfig_step(&p.spec.name, &p.spec.region, &outputs));
    }
    if let Some(keda) = keda {
        let access = kube_access(g);
        let applier = std::sync::Arc::new(Applier::new(
            &p.spec.name,
            a.force_conflicts,
            a.kube_timeout,
        ));
        events.info(keda.describe(&p.spec.keda.version));
        let phase = install::Phase {
            ctx: ctx.clone(),
            spec: p.spec.clone(),
            access,
            applier,
            outputs: outputs.clone(),
        };
        steps.extend(install::steps(keda, sample_objects, &phase, &p.graph));
    }
    let mut report = engine::execute(steps, usize::from(g.concurrency), &events, &cancel).await?;

    // KEDA turned off on a cluster that has it: uninstall it (its custom
    // resources first, while the operator runs) before its role goes.
    if report.is_success()
        && !p.spec.keda.enabled
        && p.observed
            .iter()
            .any(|o| o.kind == crate::kinds::Kind::EksCluster && o.foreign.is_none())
    {
        let access = kube_access(g);
        if let Some(r) = crate::keda::uninstall::cleanup(
            &ctx,
            &p.spec.region,
            &access,
            &p.observed,
            usize::from(g.concurrency),
            "keda.enabled is false, but KEDA cannot be uninstalled",
            None,
        )
        .await?
        {
            report.interrupted |= r.interrupted;
            report.steps.extend(r.steps);
        }
    }
    if report.is_success() && !p.plan.deletions.is_empty() {
        events.info(format!(
            "deleting {} resources no longer in the config",
            p.plan.deletions.len()
        ));
        for o in &p.plan.deletions {
            if o.kind == crate::kinds::Kind::Addon
                && crate::catalog::addon(&o.id).is_some_and(|i| i.core)
            {
                events.warn(format!(
                    "add-on {} left the config: EKS stops managing it, but its pods keep running (DeleteAddon with preserve), because removing it would break the cluster's {}",
                    o.id,
                    match o.id.as_str() {
                        "vpc-cni" => "pod networking",
                        "coredns" => "DNS",
                        _ => "service routing",
                    }
                ));
            }
        }
        let prune = down_steps(&ctx, &p.plan.deletions);
        let pruned = engine::execute(prune, usize::from(g.concurrency), &events, &cancel).await?;
        report.interrupted |= pruned.interrupted;
        report.steps.extend(pruned.steps);
    }
    drop(ctx);
    drop(events);
    super::stop_reporting_retries(&p.aws);
    let _ = reporter.await;

    let ok = report.is_success();
    let (name, region) = (&p.spec.name, &p.spec.region);
    let next = if ok {
        None
    } else if report.interrupted {
        Some(format!(
            "interrupted; what was created is kept and tagged. Run `eksscale up` to continue, or `eksscale down --name {name} --region {region}` to remove it."
        ))
    } else {
        Some(format!(
            "what was created is kept and tagged. Fix the cause above and run `eksscale up` again to continue, or `eksscale down --name {name} --region {region}` to remove everything."
        ))
    };
    Ok(UpReport {
        head: super::SummaryHead {
            command: "up",
            cluster: name.clone(),
            region: region.clone(),
            ok,
            aws_calls: p.aws.calls.stats(),
            kube_calls: crate::kube::calls::stats(),
        },
        interrupted: report.interrupted,
        counts: counts(&report),
        elapsed_ms: report.elapsed_ms,
        steps: report.steps,
        next,
    })
}
