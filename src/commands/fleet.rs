//! `eksscale list` and `eksscale reap`: every eksscale cluster in some
//! regions, found by tags (the EKS cluster, or its VPC once the cluster is
//! gone), its expiry (`eksscale.io/expires-at`, written by `spec.ttl`) and
//! its cost; and `down` for the expired ones, for CI janitors.

use std::fmt;

use serde::Serialize;

use super::output::Report;
use crate::aws::Aws;
use crate::aws::tags::TAG_EXPIRES;
use crate::cli::{DownArgs, Global, ReapArgs, RegionsArgs, TargetArgs};
use crate::kinds::{self, Scope};

/// One cluster `list` found.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub name: String,
    pub region: String,
    /// RFC 3339, when known (from the EKS cluster).
    pub created: Option<String>,
    pub expires_at: Option<String>,
    pub expired: bool,
    /// Set when the expiry tag is not a time: never treated as expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry_problem: Option<String>,
    /// The EKS cluster is gone; the VPC (or more) is left.
    pub cluster_gone: bool,
    pub monthly_estimate: Option<f64>,
    pub cost_so_far: Option<f64>,
}

async fn regions(g: &Global, a: &RegionsArgs) -> anyhow::Result<Vec<String>> {
    if !a.regions.is_empty() {
        return Ok(a.regions.clone());
    }
    let fallback = if g.file.exists() {
        crate::config::identity(&g.file, crate::aws::region_from_chain().await)
            .ok()
            .map(|(_, r)| r)
    } else {
        crate::aws::region_from_chain().await
    };
    let home = fallback.ok_or_else(|| {
        super::usage("no region: pass --region (repeatable) or --all-regions, or set AWS_REGION")
    })?;
    if !a.all_regions {
        return Ok(vec![home]);
    }
    crate::aws::fleet::regions(&Aws::connect(&home).await).await
}

/// (expires_at, expired, problem) from a tag value.
fn expiry(tag: Option<&String>, now: jiff::Timestamp) -> (Option<String>, bool, Option<String>) {
    let Some(t) = tag else {
        return (None, false, None);
    };
    match t.parse::<jiff::Timestamp>() {
        Ok(at) => (Some(at.to_string()), at <= now, None),
        Err(e) => (
            Some(t.clone()),
            false,
            Some(format!(
                "{TAG_EXPIRES}={t:?} is not an RFC 3339 time ({e}); this cluster is never reaped"
            )),
        ),
    }
}

/// The eksscale clusters of one region.
async fn in_region(region: &str) -> anyhow::Result<Vec<Found>> {
    let (aws, _) = crate::aws::connect_checked(region).await?;
    let now = jiff::Timestamp::now();
    let mut out: Vec<Found> = crate::aws::fleet::clusters(&aws)
        .await?
        .into_iter()
        .map(|c| {
            let (expires_at, expired, expiry_problem) = expiry(c.tags.get(TAG_EXPIRES), now);
            Found {
                name: c.name,
                region: region.to_string(),
                created: c.created.map(|t| t.to_string()),
                expires_at,
                expired,
                expiry_problem,
                cluster_gone: c.cluster_gone,
                monthly_estimate: None,
                cost_so_far: None,
            }
        })
        .collect();
    for f in &mut out {
        let observed = kinds::discover(&aws, &f.name, Scope::Managed).await?;
        let e = crate::cost::estimate(
            &crate::cost::Inventory::of_observed(&observed),
            region,
            crate::catalog::prices::table(),
        );
        f.monthly_estimate = e.monthly_total;
        let hours = f
            .created
            .as_deref()
            .and_then(|c| c.parse::<jiff::Timestamp>().ok())
            .map(|c| (now.as_second() - c.as_second()).max(0) as f64 / 3600.0);
        f.cost_so_far = e.monthly_total.zip(hours).map(|(m, h)| {
            (m * h / crate::catalog::prices::HOURS_PER_MONTH * 100.0).round() / 100.0
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

async fn find_all(g: &Global, a: &RegionsArgs) -> anyhow::Result<Vec<Found>> {
    let mut out = Vec::new();
    for r in regions(g, a).await? {
        out.extend(in_region(&r).await?);
    }
    Ok(out)
}

#[derive(Serialize)]
pub struct ListReport {
    command: &'static str,
    /// Whether the command did what it was asked (like every summary).
    ok: bool,
    clusters: Vec<Found>,
    prices_as_of: String,
}

fn age(created: Option<&str>) -> String {
    created
        .and_then(|c| c.parse::<jiff::Timestamp>().ok())
        .map(|c| {
            let s = (jiff::Timestamp::now().as_second() - c.as_second()).max(0) as u64;
            crate::engine::human_duration(std::time::Duration::from_secs(s))
        })
        .unwrap_or_else(|| "?".into())
}

impl fmt::Display for ListReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.clusters.is_empty() {
            return writeln!(f, "No eksscale clusters found.");
        }
        let money = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "?".into());
        writeln!(
            f,
            "{:<32} {:<15} {:>9}  {:<22} {:>10} {:>10}",
            "CLUSTER", "REGION", "AGE", "EXPIRES", "USD/MONTH", "SO FAR"
        )?;
        for c in &self.clusters {
            let expires = match (&c.expires_at, c.expired, &c.expiry_problem) {
                (_, _, Some(_)) => "invalid tag".to_string(),
                (Some(at), true, _) => format!("{at} (expired)"),
                (Some(at), false, _) => at.clone(),
                (None, _, _) => "never".into(),
            };
            writeln!(
                f,
                "{:<32} {:<15} {:>9}  {:<22} {:>10} {:>10}{}",
                c.name,
                c.region,
                age(c.created.as_deref()),
                expires,
                money(c.monthly_estimate),
                money(c.cost_so_far),
                if c.cluster_gone {
                    "  (cluster gone; resources left)"
                } else {
                    ""
                }
            )?;
        }
        for c in &self.clusters {
            if let Some(p) = &c.expiry_problem {
                writeln!(f, "warning: {} ({}): {p}", c.name, c.region)?;
            }
        }
        writeln!(f, "(estimates from prices of {})", self.prices_as_of)
    }
}

impl Report for ListReport {}

pub async fn list(g: &Global, a: RegionsArgs) -> anyhow::Result<ListReport> {
    Ok(ListReport {
        command: "list",
        ok: true,
        clusters: find_all(g, &a).await?,
        prices_as_of: crate::catalog::prices::table().as_of.clone(),
    })
}

#[derive(Serialize)]
pub struct Reaped {
    name: String,
    region: String,
    ok: bool,
    deleted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
pub struct ReapReport {
    command: &'static str,
    /// Whether the command did what it was asked (like every summary).
    ok: bool,
    dry_run: bool,
    /// Expired clusters (with --dry-run: what would be deleted).
    expired: Vec<Found>,
    reaped: Vec<Reaped>,
    /// Not expired, no expiry, or an expiry tag that is not a time.
    left: Vec<Found>,
}

impl fmt::Display for ReapReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.left.iter().filter(|c| c.expiry_problem.is_some()) {
            writeln!(
                f,
                "skipped {} ({}): {}",
                c.name,
                c.region,
                c.expiry_problem.as_deref().unwrap_or_default()
            )?;
        }
        if self.expired.is_empty() {
            return writeln!(
                f,
                "No expired eksscale cluster ({} others left alone).",
                self.left.len()
            );
        }
        if self.dry_run {
            writeln!(f, "Would delete {} expired clusters:", self.expired.len())?;
            for c in &self.expired {
                writeln!(
                    f,
                    "  {} ({}), expired {}",
                    c.name,
                    c.region,
                    c.expires_at.as_deref().unwrap_or_default()
                )?;
            }
            return Ok(());
        }
        for r in &self.reaped {
            match &r.error {
                None if r.ok => writeln!(
                    f,
                    "deleted {} ({}): {} resources",
                    r.name, r.region, r.deleted
                )?,
                None => writeln!(
                    f,
                    "NOT fully deleted {} ({}): see the output above",
                    r.name, r.region
                )?,
                Some(e) => writeln!(f, "FAILED {} ({}): {e}", r.name, r.region)?,
            }
        }
        writeln!(f, "{} others left alone.", self.left.len())
    }
}

impl Report for ReapReport {
    fn exit_code(&self) -> u8 {
        if self.reaped.iter().all(|r| r.ok) {
            0
        } else {
            1
        }
    }
}

pub async fn reap(g: &Global, a: ReapArgs) -> anyhow::Result<ReapReport> {
    use std::io::IsTerminal;
    if !a.dry_run && !g.yes && !std::io::stdin().is_terminal() {
        return Err(super::usage(
            "reap deletes clusters: there is no terminal to ask on, so pass --yes (or --dry-run to see what it would delete)",
        ));
    }
    let all = find_all(g, &a.regions).await?;
    let (expired, left): (Vec<Found>, Vec<Found>) = all.into_iter().partition(|c| c.expired);
    if a.dry_run || expired.is_empty() {
        return Ok(ReapReport {
            command: "reap",
            ok: true,
            dry_run: a.dry_run,
            expired,
            reaped: Vec::new(),
            left,
        });
    }
    let list: Vec<String> = expired
        .iter()
        .map(|c| {
            format!(
                "  {} ({}), expired {}",
                c.name,
                c.region,
                c.expires_at.as_deref().unwrap_or_default()
            )
        })
        .collect();
    super::confirm(
        g,
        &format!(
            "About to delete {} expired clusters with everything they made:\n{}\n",
            expired.len(),
            list.join("\n")
        ),
        "reap",
    )?;
    // Confirmed once for all of them.
    let mut inner = g.clone();
    inner.yes = true;
    let mut reaped = Vec::new();
    for c in &expired {
        eprintln!("reaping {} ({})", c.name, c.region);
        let args = DownArgs {
            target: TargetArgs {
                name: Some(c.name.clone()),
                region: Some(c.region.clone()),
            },
            dry_run: false,
            keep_logs: false,
            release_timeout: std::time::Duration::from_secs(5 * 60),
        };
        let r = super::down::run(&inner, args).await;
        reaped.push(match r {
            Ok(d) => Reaped {
                name: c.name.clone(),
                region: c.region.clone(),
                ok: d.exit_code() == 0,
                deleted: d.deleted(),
                error: None,
            },
            Err(e) => Reaped {
                name: c.name.clone(),
                region: c.region.clone(),
                ok: false,
                deleted: 0,
                error: Some(format!("{e:#}")),
            },
        });
    }
    Ok(ReapReport {
        command: "reap",
        ok: reaped.iter().all(|r| r.ok),
        dry_run: false,
        expired,
        reaped,
        left,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_tags_that_are_not_times_never_expire() {
        let now: jiff::Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        assert_eq!(
            expiry(Some(&"2026-11-30T11:00:00Z".to_string()), now),
            (Some("2026-11-30T11:00:00Z".into()), true, None)
        );
        assert!(!expiry(Some(&"2026-11-30T13:00:00Z".to_string()), now).1);
        assert_eq!(expiry(None, now), (None, false, None));
        let (_, expired, problem) = expiry(Some(&"tomorrow".to_string()), now);
        assert!(!expired && problem.unwrap().contains("never reaped"));
    }
}
