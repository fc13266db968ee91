//! Human-readable plan and status text. Pure functions from data to strings,
//! so that commands decide where it goes (stdout) and tests can read it.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Plan;
use crate::aws::tags::TAG_EXPIRES;
use crate::kinds::{Action, Change, Kind, Observed, cluster, nodegroup, subnet};

pub fn plan_text(
    cluster: &str,
    region: &str,
    zones: &[String],
    plan: &Plan,
    verbose: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for cluster {cluster} in {region} (zones: {})\n",
        zones.join(", ")
    );
    for e in &plan.entries {
        let (mark, note) = match &e.change {
            Change::Create => ("+", "create".to_string()),
            Change::Update { .. } => ("~", "update".to_string()),
            Change::Unchanged => {
                if !verbose {
                    continue;
                }
                (" ", "no change".to_string())
            }
            Change::Replace { .. } => ("!", "needs replacement: refused".to_string()),
        };
        let existing = e
            .existing
            .as_deref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {mark} {:<44} {note}{existing}", e.id);
        if let Change::Update { changes } | Change::Replace { changes } = &e.change {
            for c in changes {
                let from = c.from.as_deref().unwrap_or("(none)");
                let _ = writeln!(
                    out,
                    "        {}: {} -> {}",
                    c.field,
                    shorten(from),
                    shorten(&c.to)
                );
            }
        }
    }
    if let Some(c) = plan.entries.iter().find(|e| e.kind == Kind::EksCluster)
        && let Change::Update { changes } = &c.change
        && let Some(v) = changes.iter().find(|f| f.field == cluster::VERSION)
    {
        let _ = writeln!(
            out,
            "\n  Upgrade: the control plane goes from Kubernetes {} to {} in place (typically 10 minutes; the API stays available), then each node group rolls to the new version one node at a time (maxUnavailable 1). The cluster is not recreated.",
            v.from.as_deref().unwrap_or("?"),
            v.to
        );
    }
    for o in &plan.deletions {
        let _ = writeln!(
            out,
            "  - {:<44} delete: no longer in the config ({})",
            o.key.as_deref().unwrap_or(&o.id),
            o.id
        );
    }
    let refused = plan.refused();
    let _ = writeln!(
        out,
        "\nPlan: {} to create, {} to update, {} to delete, {} unchanged{}.",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.deletions.len(),
        plan.count(Action::NoChange),
        if refused.is_empty() {
            String::new()
        } else {
            format!(", {} refused", refused.len())
        }
    );
    if !refused.is_empty() {
        let _ = writeln!(
            out,
            "Refused changes need a new resource; eksscale never replaces in place. Revert them in the config, or run `eksscale down` and `eksscale up` to rebuild."
        );
    }
    if !plan.has_changes() {
        let _ = writeln!(out, "AWS resources are up to date.");
    }
    out
}

/// Long values (policy documents) are cut for display; `-o json` has them whole.
fn shorten(s: &str) -> String {
    if s.chars().count() > 100 {
        format!(
            "{}... ({} chars)",
            s.chars().take(97).collect::<String>(),
            s.chars().count()
        )
    } else {
        s.to_string()
    }
}

pub fn status_text(cluster: &str, region: &str, observed: &[Observed]) -> String {
    let mut out = String::new();
    if observed.is_empty() {
        let _ = writeln!(out, "No resources found for cluster {cluster} in {region}.");
        return out;
    }
    let _ = writeln!(
        out,
        "Cluster {cluster} in {region}: {} resources\n",
        observed.len()
    );
    let mut by_kind: BTreeMap<Kind, Vec<&Observed>> = BTreeMap::new();
    for o in observed {
        by_kind.entry(o.kind).or_default().push(o);
    }
    let zone_of: BTreeMap<&str, &str> = observed
        .iter()
        .filter(|o| o.kind == Kind::Subnet)
        .filter_map(|o| {
            o.attrs
                .get(subnet::ZONE)
                .map(|z| (o.id.as_str(), z.as_str()))
        })
        .collect();
    for (kind, items) in by_kind {
        let _ = writeln!(out, "{kind}:");
        for o in items {
            let state = o
                .state
                .as_deref()
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default();
            let mut detail = status_detail(o);
            if o.kind == Kind::NodeGroup {
                let mut zones: Vec<&str> = o
                    .attrs
                    .get(nodegroup::SUBNETS)
                    .map(|s| {
                        s.split(',')
                            .filter_map(|id| zone_of.get(id).copied())
                            .collect()
                    })
                    .unwrap_or_default();
                zones.sort();
                zones.dedup();
                if !zones.is_empty() {
                    detail.push_str(&format!(" zones={}", zones.join(",")));
                }
            }
            if let Some(at) = o.tags.get(TAG_EXPIRES) {
                detail.push_str(&format!(" expires-at={at}"));
            }
            if let Some(why) = &o.foreign {
                detail.push_str(&format!("  [not eksscale's, left alone: {why}]"));
            }
            let name = o.key.as_deref().unwrap_or("-");
            let _ = writeln!(out, "  {:<40} {}{state}{detail}", name, o.id);
        }
    }
    out
}

/// The kind's status columns that the resource has, as `key=value`.
fn status_detail(o: &Observed) -> String {
    let parts: Vec<String> = o
        .kind
        .status_columns()
        .iter()
        .filter_map(|k| o.attrs.get(*k).map(|v| format!("{k}={v}")))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("  {}", parts.join(" "))
    }
}
