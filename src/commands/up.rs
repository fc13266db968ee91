//! `eksscale up`: plan, then run the graph, then delete what the config no
//! longer asks for. Failures keep what was created and say how to go on.

use std::fmt::Write;

use serde::Serialize;

use crate::cli::{Global, Output, UpArgs};
use crate::engine::{self, Outcome, RunReport};
use crate::resources::{self, Outputs, RunCtx};
use crate::spec::KedaInstaller;

#[derive(Serialize)]
struct UpJson<'a> {
    #[serde(flatten)]
    head: super::SummaryHead<'a>,
    interrupted: bool,
    counts: Counts,
    steps: &'a std::collections::BTreeMap<String, engine::StepStatus>,
    elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

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
            .filter(|s| matches!(s, engine::StepStatus::Skipped { .. }))
            .count(),
    }
}

/// How KEDA goes on, decided (and checked) before anything changes.
enum Keda {
    Manifest {
        objects: Vec<crate::kube::apply::Object>,
        origin: String,
    },
    Helm {
        install: resources::HelmInstall,
        version: String,
    },
}

pub async fn run(g: &Global, a: UpArgs) -> anyhow::Result<u8> {
    let p = super::plan::prepare(g).await?;
    // Everything that can fail without AWS is done before the first change.
    let keda = if p.spec.keda.enabled {
        let role_arn = format!(
            "arn:{}:iam::{}:role/eksscale/{}",
            crate::plan::graph::partition(&p.spec.region),
            p.account,
            p.spec.role_name("keda-operator")
        );
        let dir = g
            .file
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        Some(match p.spec.keda.installer {
            KedaInstaller::Manifest => {
                let (objects, origin) = crate::keda::objects(&p.spec.keda, &dir, &role_arn).await?;
                Keda::Manifest { objects, origin }
            }
            KedaInstaller::Helm => {
                let (helm, version) = crate::keda::helm::locate()
                    .await
                    .map_err(|e| super::usage(format!("{e:#}; nothing was changed")))?;
                let values = crate::keda::helm::values(&p.spec.keda, &p.spec.name, &role_arn)?;
                Keda::Helm {
                    install: resources::HelmInstall { helm, values },
                    version,
                }
            }
        })
    } else {
        None
    };
    let refused = p.plan.refused();
    if !refused.is_empty() {
        let list: Vec<String> = refused
            .iter()
            .map(|e| match &e.change {
                crate::plan::Change::Replace { changes } => format!(
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
            .collect();
        return Err(super::usage(format!(
            "the config changes fields that cannot be changed in place; nothing was changed:\n  {}\nRevert them, or run `eksscale down` then `eksscale up` to rebuild.",
            list.join("\n  ")
        )));
    }

    let (events, reporter) = super::reporter(g);
    let cancel = super::install_interrupt();
    let ctx = RunCtx {
        aws: p.aws.clone(),
        cluster: p.spec.name.clone(),
        events: events.clone(),
        cancel: cancel.clone(),
    };
    events.info(format!(
        "eksscale up: cluster {} in {} (zones {}): {} to create, {} to update, {} to delete",
        p.spec.name,
        p.spec.region,
        p.zone_names().join(", "),
        p.plan.count("create"),
        p.plan.count("update"),
        p.plan.deletions.len()
    ));
    let outputs = Outputs::seeded(&p.observed);
    let mut steps = resources::up_steps(&ctx, &p.spec, &p.graph, &p.observed, &outputs);
    if !a.no_kubeconfig {
        steps.push(resources::kubeconfig_step(&p.spec, &outputs));
    }
    if let Some(keda) = keda {
        let access = match &g.kubeconfig {
            Some(path) => resources::KubeAccess::File {
                path: path.clone(),
                context: g.context.clone(),
            },
            None => resources::KubeAccess::Eks,
        };
        let applier = std::sync::Arc::new(crate::kube::apply::Applier::new(
            &p.spec.name,
            a.force_conflicts,
            a.kube_timeout,
        ));
        match keda {
            Keda::Manifest { objects, origin } => {
                events.info(format!(
                    "KEDA {}: {} objects from {origin}",
                    p.spec.keda.version,
                    objects.len()
                ));
                steps.extend(resources::kube_steps(
                    &ctx, &p.spec, &p.graph, &access, &applier, &objects, &outputs,
                ));
            }
            Keda::Helm { install, version } => {
                events.info(format!(
                    "KEDA {}: chart {}/{} with {} ({version})",
                    p.spec.keda.version,
                    crate::keda::helm::CHART_REPO,
                    crate::keda::helm::CHART,
                    install.helm.display()
                ));
                steps.extend(resources::kube_steps(
                    &ctx,
                    &p.spec,
                    &p.graph,
                    &access,
                    &applier,
                    &[],
                    &outputs,
                ));
                steps.push(resources::helm_step(
                    &ctx, &p.spec, &p.graph, &access, &applier, install, &outputs,
                ));
            }
        }
    }
    let mut report = engine::execute(steps, usize::from(g.concurrency), &events, &cancel).await?;

    if report.is_success() && !p.plan.deletions.is_empty() {
        events.info(format!(
            "deleting {} resources no longer in the config",
            p.plan.deletions.len()
        ));
        let prune = resources::down_steps(&ctx, &p.plan.deletions);
        let pruned = engine::execute(prune, usize::from(g.concurrency), &events, &cancel).await?;
        report.interrupted |= pruned.interrupted;
        report.steps.extend(pruned.steps);
    }
    drop(ctx);
    drop(events);
    let _ = reporter.await;

    let ok = report.is_success();
    let name = &p.spec.name;
    let region = &p.spec.region;
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
    match g.output {
        Output::Json => super::print_json(&UpJson {
            head: super::SummaryHead {
                command: "up",
                cluster: name,
                region,
                ok,
                aws_calls: p.aws.calls.stats(),
            },
            interrupted: report.interrupted,
            counts: counts(&report),
            steps: &report.steps,
            elapsed_ms: report.elapsed_ms,
            next: next.clone(),
        })?,
        Output::Human => print!(
            "{}",
            human_summary(&report, &p.aws.calls.stats(), next.as_deref())
        ),
    }
    Ok(if report.interrupted {
        super::EXIT_INTERRUPTED
    } else if ok {
        0
    } else {
        1
    })
}

fn human_summary(r: &RunReport, calls: &crate::aws::CallStats, next: Option<&str>) -> String {
    let c = counts(r);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} created, {} updated, {} deleted, {} unchanged, {} failed, {} skipped in {} ({} AWS calls: {} read, {} mutating).",
        c.created,
        c.updated,
        c.deleted,
        c.unchanged,
        c.failed,
        c.skipped,
        engine::human_duration(std::time::Duration::from_millis(r.elapsed_ms)),
        calls.read + calls.mutating,
        calls.read,
        calls.mutating
    );
    for (id, err) in r.failed() {
        let _ = writeln!(out, "failed: {id}: {err}");
    }
    if let Some(n) = next {
        let _ = writeln!(out, "{n}");
    }
    out
}
