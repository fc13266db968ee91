//! `eksscale cost`: the config's monthly estimate from the dated price table.

use std::fmt;

use serde::Serialize;

use super::output::Report;
use crate::cli::Global;
use crate::cost::Estimate;

#[derive(Serialize)]
pub struct CostReport {
    command: &'static str,
    /// Whether the command did what it was asked (like every summary).
    ok: bool,
    #[serde(flatten)]
    estimate: Estimate,
    #[serde(skip)]
    covered: bool,
    #[serde(skip)]
    regions: Vec<String>,
}

impl fmt::Display for CostReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.estimate;
        if !self.covered {
            writeln!(
                f,
                "eksscale's price table has no prices for {} (it covers {}): every line is unknown.",
                e.region,
                self.regions.join(", ")
            )?;
        }
        writeln!(f, "Monthly estimate for {} ({}):", e.region, e.currency)?;
        f.write_str(&crate::cost::text(e))?;
        writeln!(f, "Not estimated: {}.", e.not_estimated.join("; "))
    }
}

impl Report for CostReport {}

pub async fn run(g: &Global) -> anyhow::Result<CostReport> {
    let loaded = super::load_config(g).await?;
    let spec = loaded.spec;
    let table = crate::catalog::prices::table();
    Ok(CostReport {
        command: "cost",
        ok: true,
        estimate: crate::cost::of_spec(&spec, spec.vpc.zones.count()),
        covered: table.covers(&spec.region),
        regions: table.regions(),
    })
}
