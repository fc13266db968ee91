//! `eksscale status`: discovery plus a table. Read-only; needs only the
//! cluster name and region.

use std::fmt;

use serde::Serialize;

use super::output::Report;
use crate::cli::{Global, TargetArgs};
use crate::kinds::{self, Observed, Scope};
use crate::plan::render;

/// What `status` reports.
#[derive(Serialize)]
pub struct StatusReport {
    #[serde(flatten)]
    head: super::SummaryHead,
    exists: bool,
    resources: Vec<Observed>,
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render::status_text(
            &self.head.cluster,
            &self.head.region,
            &self.resources,
        ))
    }
}

impl Report for StatusReport {}

pub async fn run(g: &Global, t: TargetArgs) -> anyhow::Result<StatusReport> {
    let (name, region) = super::target(g, &t).await?;
    let (aws, _) = crate::aws::connect_checked(&region).await?;
    let observed = kinds::discover(&aws, &name, Scope::Everything).await?;
    Ok(StatusReport {
        head: super::SummaryHead {
            command: "status",
            cluster: name,
            region,
            ok: true,
            aws_calls: aws.calls.stats(),
            kube_calls: crate::kube::calls::stats(),
        },
        exists: !observed.is_empty(),
        resources: observed,
    })
}
