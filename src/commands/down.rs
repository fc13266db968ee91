//! `eksscale down`: delete everything discovery finds for the cluster, in
//! reverse dependency order, then discover again to prove nothing is left.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::output::Report;
use crate::cli::{DownArgs, Global};
use crate::engine::{self, Outcome, StepStatus};
use crate::keda::uninstall;
use crate::kinds::steps::{RunCtx, down_items, down_steps};
use crate::kinds::{self, Kind, Observed, Scope};
use crate::kube::steps::KubeAccess;

/// What `down` reports.
#[derive(Serialize)]
pub struct DownReport {
    #[serde(flatten)]
    head: super::SummaryHead,
    dry_run: bool,
    interrupted: bool,
    deleted: usize,
    /// What still exists after the run (empty on success).
    remaining: Vec<Observed>,
    /// Found for the cluster but not eksscale's: never modified or deleted.
    left_alone: Vec<Observed>,
    /// eksscale's, but kept because something else still uses them (each with
    /// what blocks it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    blocked: Vec<Blocked>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<BTreeMap<String, StepStatus>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    would_delete: Vec<String>,
    /// The proof: what of `remaining` bills, with its monthly cost where the
    /// price table knows it (`null`: usage-based or unknown).
    billable_left: Vec<BillableLeft>,
    prices_as_of: String,
    #[serde(skip)]
    elapsed_ms: u64,
}

#[derive(Serialize)]
struct BillableLeft {
    kind: Kind,
    id: String,
    monthly: Option<f64>,
}

fn billable(remaining: &[Observed], region: &str) -> Vec<BillableLeft> {
    remaining
        .iter()
        .filter(|o| o.kind.billable())
        .map(|o| BillableLeft {
            kind: o.kind,
            id: o.id.clone(),
            monthly: crate::cost::monthly_of(o, region),
        })
        .collect()
}

#[derive(Serialize)]
struct Blocked {
    kind: Kind,
    id: String,
    reason: String,
}

/// What is kept and why, once per reason (a VPC's blockers are one reason
/// for the VPC, its subnets and its gateway).
fn write_blocked(f: &mut fmt::Formatter<'_>, verb: &str, blocked: &[Blocked]) -> fmt::Result {
    let mut by_reason: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for b in blocked {
        by_reason
            .entry(&b.reason)
            .or_default()
            .push(format!("{} {}", b.kind, b.id));
    }
    for (reason, items) in by_reason {
        writeln!(f, "{verb} {}: {reason}", items.join(", "))?;
    }
    Ok(())
}

/// Resources grouped by kind, one line per kind: `  subnet (6): a, b, ...`.
fn grouped(items: &[Observed]) -> String {
    let mut by_kind: BTreeMap<Kind, Vec<&str>> = BTreeMap::new();
    for o in items {
        by_kind.entry(o.kind).or_default().push(&o.id);
    }
    by_kind
        .iter()
        .map(|(k, ids)| format!("  {k} ({}): {}\n", ids.len(), ids.join(", ")))
        .collect()
}

impl fmt::Display for DownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, region) = (&self.head.cluster, &self.head.region);
        if !self.left_alone.is_empty() {
            writeln!(
                f,
                "Not owned by eksscale, left alone ({}):",
                self.left_alone.len()
            )?;
            for o in &self.left_alone {
                writeln!(
                    f,
                    "  {} {}: {}",
                    o.kind,
                    o.id,
                    o.foreign.as_deref().unwrap_or_default()
                )?;
            }
        }
        if self.steps.is_none() {
            if self.remaining.is_empty() {
                return writeln!(
                    f,
                    "Nothing to delete: no resources found for cluster {name} in {region}."
                );
            }
            writeln!(
                f,
                "Would delete {} resources of cluster {name} in {region}:",
                self.remaining.len()
            )?;
            f.write_str(&grouped(&self.remaining))?;
            write_blocked(f, "Would keep", &self.blocked)?;
            return Ok(());
        }
        writeln!(
            f,
            "\n{} deleted in {}.",
            self.deleted,
            engine::human_duration(std::time::Duration::from_millis(self.elapsed_ms))
        )?;
        for (id, s) in self.steps.iter().flatten() {
            if let StepStatus::Failed { error, .. } = s {
                writeln!(f, "failed: {id}: {error}")?;
            }
        }
        if self.remaining.is_empty() {
            return writeln!(
                f,
                "Nothing tagged for cluster {name} remains in {region}: nothing billable left."
            );
        }
        write_blocked(f, "Kept", &self.blocked)?;
        if self.billable_left.is_empty() {
            writeln!(f, "Nothing billable left.")?;
        } else {
            let known: f64 = self.billable_left.iter().filter_map(|b| b.monthly).sum();
            writeln!(
                f,
                "Still billing ({}), about {known:.2} USD a month where the price table knows (prices of {}):",
                self.billable_left.len(),
                self.prices_as_of
            )?;
            for b in &self.billable_left {
                writeln!(
                    f,
                    "  {} {}: {}",
                    b.kind,
                    b.id,
                    b.monthly
                        .map(|m| format!("{m:.2} USD/month"))
                        .unwrap_or_else(|| "usage-based or not in the price table".into())
                )?;
            }
        }
        let free: Vec<&Observed> = self
            .remaining
            .iter()
            .filter(|o| !o.kind.billable())
            .collect();
        if !free.is_empty() {
            writeln!(f, "Still present, not billing ({}):", free.len())?;
            for o in free {
                writeln!(f, "  {} {}", o.kind, o.id)?;
            }
        }
        writeln!(
            f,
            "Run `eksscale down --name {name} --region {region}` again to retry; see docs/troubleshooting.md if it persists."
        )
    }
}

impl DownReport {
    /// How many resources were deleted.
    pub fn deleted(&self) -> usize {
        self.deleted
    }
}

impl Report for DownReport {
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

pub async fn run(g: &Global, a: DownArgs) -> anyhow::Result<DownReport> {
    use std::io::IsTerminal;
    // No one to ask and no --yes: refuse now, not after discovering everything.
    if !a.dry_run && !g.yes && !std::io::stdin().is_terminal() {
        return Err(super::usage(
            "refusing to delete without confirmation: there is no terminal to ask on; pass --yes (or --dry-run to see what would be deleted)",
        ));
    }
    if let Some(path) = &g.kubeconfig {
        crate::kube::check_file_access(path, g.context.as_deref())
            .map_err(|e| super::usage(format!("{e}; nothing was deleted")))?;
    }
    let (name, region) = super::target(g, &a.target).await?;
    let (aws, _) = crate::aws::connect_checked(&region).await?;
    let discovered = kinds::discover(&aws, &name, Scope::Everything).await?;
    let (found, left_alone): (Vec<Observed>, Vec<Observed>) =
        discovered.into_iter().partition(|o| o.is_ours());
    // --keep-logs: the log group is neither deleted nor counted as left over.
    let kept_logs = |o: &Observed| a.keep_logs && o.kind == Kind::LogGroup;
    let found: Vec<Observed> = found.into_iter().filter(|o| !kept_logs(o)).collect();
    let head = |ok: bool| super::SummaryHead {
        command: "down",
        cluster: name.clone(),
        region: region.clone(),
        ok,
        aws_calls: aws.calls.stats(),
        kube_calls: crate::kube::calls::stats(),
    };

    // Blockers are what is not ours: the whole picture decides what is kept.
    let everything: Vec<Observed> = found.iter().chain(&left_alone).cloned().collect();
    let blocked: Vec<Blocked> = down_items(&everything)
        .kept
        .into_iter()
        .map(|(o, reason)| Blocked {
            kind: o.kind,
            id: o.id,
            reason,
        })
        .collect();
    if a.dry_run || found.is_empty() {
        let would_delete = found
            .iter()
            .map(|o| format!("{} {}", o.kind, o.id))
            .collect();
        return Ok(DownReport {
            head: head(true),
            dry_run: a.dry_run,
            interrupted: false,
            deleted: 0,
            remaining: found,
            left_alone,
            blocked,
            steps: None,
            would_delete,
            elapsed_ms: 0,
            billable_left: Vec::new(),
            prices_as_of: crate::catalog::prices::table().as_of.clone(),
        });
    }

    super::confirm(
        g,
        &format!(
            "About to delete {} resources of cluster {name} in {region}:\n{}",
            found.len(),
            grouped(&found)
        ),
        &name,
    )?;

    let (events, reporter) = super::reporter(g);
    super::report_retries(&aws, &events);
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
        .any(|o| o.kind == Kind::EksCluster && o.state.as_deref() == Some("ACTIVE"));
    let access = match &g.kubeconfig {
        Some(path) => Some(KubeAccess::File {
            path: path.clone(),
            context: g.context.clone(),
        }),
        None if cluster_active => Some(KubeAccess::Eks),
        None => None,
    };
    let mut kube_report = None;
    if let Some(access) = access {
        kube_report = uninstall::cleanup(
            &ctx,
            &region,
            &access,
            &found,
            usize::from(g.concurrency),
            "skipping the Kubernetes cleanup (deleting the cluster removes those objects; load balancers and volumes are deleted by their Kubernetes tags)",
            Some(a.release_timeout),
        )
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
    let steps = down_steps(&ctx, &everything);
    let mut report = engine::execute(steps, usize::from(g.concurrency), &events, &cancel).await?;
    if let Some(k) = kube_report {
        report.interrupted |= k.interrupted;
        report.steps.extend(
            k.steps
                .into_iter()
                .filter(|(_, s)| matches!(s, StepStatus::Done { .. })),
        );
    }
    events.info("checking that nothing is left");
    let remaining: Vec<Observed> = kinds::discover(&aws, &name, Scope::Everything)
        .await?
        .into_iter()
        .filter(|o| o.is_ours() && !kept_logs(o))
        .collect();
    drop(ctx);
    drop(events);
    super::stop_reporting_retries(&aws);
    let _ = reporter.await;

    let ok = report.is_success() && remaining.is_empty();
    Ok(DownReport {
        head: head(ok),
        dry_run: false,
        interrupted: report.interrupted,
        deleted: report.count(Outcome::Deleted),
        left_alone,
        blocked,
        steps: Some(report.steps),
        would_delete: Vec::new(),
        elapsed_ms: report.elapsed_ms,
        billable_left: billable(&remaining, &region),
        prices_as_of: crate::catalog::prices::table().as_of.clone(),
        remaining,
    })
}
