//! `eksscale down`: delete everything discovery finds for the cluster, in
//! reverse dependency order, then discover again to prove nothing is left.

use std::fmt::Write;

use serde::Serialize;

use crate::cli::{DownArgs, Global, Output};
use crate::engine::{self, Outcome};
use crate::plan::Observed;
use crate::resources::{self, RunCtx};

#[derive(Serialize)]
struct DownJson<'a> {
    #[serde(flatten)]
    head: super::SummaryHead<'a>,
    dry_run: bool,
    interrupted: bool,
    deleted: usize,
    /// What still exists after the run (empty on success).
    remaining: &'a [Observed],
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<&'a std::collections::BTreeMap<String, engine::StepStatus>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    would_delete: Vec<String>,
}

pub async fn run(g: &Global, a: DownArgs) -> anyhow::Result<u8> {
    let (name, region) = super::target(g, &a.target).await?;
    let (aws, _) = super::connect(&region).await?;
    let found = resources::discover_cluster(&aws, &name).await?;

    if a.dry_run || found.is_empty() {
        let would: Vec<String> = found
            .iter()
            .map(|o| format!("{} {}", o.kind(), o.id))
            .collect();
        match g.output {
            Output::Json => super::print_json(&DownJson {
                head: super::SummaryHead {
                    command: "down",
                    cluster: &name,
                    region: &region,
                    ok: true,
                    aws_calls: aws.calls.stats(),
                },
                dry_run: a.dry_run,
                interrupted: false,
                deleted: 0,
                remaining: &found,
                steps: None,
                would_delete: would,
            })?,
            Output::Human if found.is_empty() => {
                println!("Nothing to delete: no resources found for cluster {name} in {region}.")
            }
            Output::Human => {
                println!(
                    "Would delete {} resources of cluster {name} in {region}:",
                    found.len()
                );
                for w in would {
                    println!("  {w}");
                }
            }
        }
        return Ok(0);
    }

    super::confirm(
        g,
        &format!(
            "About to delete {} resources of cluster {name} in {region}.",
            found.len()
        ),
        &name,
    )?;

    let (events, reporter) = super::reporter(g);
    let cancel = super::install_interrupt();
    let ctx = RunCtx {
        aws: aws.clone(),
        cluster: name.clone(),
        events: events.clone(),
        cancel: cancel.clone(),
    };
    events.info(format!(
        "eksscale down: deleting {} resources of cluster {name} in {region}",
        found.len()
    ));
    let cluster_active = found
        .iter()
        .any(|o| o.kind() == crate::plan::Kind::EksCluster && o.state.as_deref() == Some("ACTIVE"));
    let access = match &g.kubeconfig {
        Some(path) => Some(resources::KubeAccess::File {
            path: path.clone(),
            context: g.context.clone(),
        }),
        None if cluster_active => Some(resources::KubeAccess::Eks),
        None => None,
    };
    let mut kube_report = None;
    if let Some(access) = access {
        kube_report =
            resources::kube_cleanup(&ctx, &region, &access, &found, usize::from(g.concurrency))
                .await?;
    }
    // Best effort: whatever is left in Kubernetes goes with the cluster, and
    // stopping here would leave billable AWS resources behind.
    if let Some(k) = &kube_report {
        for (id, err) in k.failed() {
            events.warn(format!(
                "{id}: {err}; continuing, deleting the cluster removes it"
            ));
        }
    }
    let steps = resources::down_steps(&ctx, &found);
    let mut report = engine::execute(steps, usize::from(g.concurrency), &events, &cancel).await?;
    if let Some(k) = kube_report {
        report.interrupted |= k.interrupted;
        report.steps.extend(
            k.steps
                .into_iter()
                .filter(|(_, s)| matches!(s, engine::StepStatus::Done { .. })),
        );
    }
    events.info("checking that nothing is left");
    let remaining = resources::discover_cluster(&aws, &name).await?;
    drop(ctx);
    drop(events);
    let _ = reporter.await;

    let ok = report.is_success() && remaining.is_empty();
    match g.output {
        Output::Json => super::print_json(&DownJson {
            head: super::SummaryHead {
                command: "down",
                cluster: &name,
                region: &region,
                ok,
                aws_calls: aws.calls.stats(),
            },
            dry_run: false,
            interrupted: report.interrupted,
            deleted: report.count(Outcome::Deleted),
            remaining: &remaining,
            steps: Some(&report.steps),
            would_delete: Vec::new(),
        })?,
        Output::Human => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "\n{} deleted in {}.",
                report.count(Outcome::Deleted),
                engine::human_duration(std::time::Duration::from_millis(report.elapsed_ms))
            );
            for (id, err) in report.failed() {
                let _ = writeln!(out, "failed: {id}: {err}");
            }
            if remaining.is_empty() {
                let _ = writeln!(
                    out,
                    "Nothing tagged for cluster {name} remains in {region}."
                );
            } else {
                let _ = writeln!(out, "Still present ({}):", remaining.len());
                for o in &remaining {
                    let bill = if o.kind().billable() {
                        "  (billable)"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "  {} {}{bill}", o.kind(), o.id);
                }
                let _ = writeln!(
                    out,
                    "Run `eksscale down --name {name} --region {region}` again to retry; see docs/troubleshooting.md if it persists."
                );
            }
            print!("{out}");
        }
    }
    Ok(if report.interrupted {
        super::EXIT_INTERRUPTED
    } else if ok {
        0
    } else {
        1
    })
}
