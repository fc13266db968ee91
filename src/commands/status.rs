//! `eksscale status`: discovery plus a table. Read-only; needs only the
//! cluster name and region.

use serde::Serialize;

use crate::cli::{Global, Output, TargetArgs};
use crate::plan::{Observed, render};
use crate::resources;

#[derive(Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    head: super::SummaryHead<'a>,
    exists: bool,
    resources: &'a [Observed],
}

pub async fn run(g: &Global, t: TargetArgs) -> anyhow::Result<u8> {
    let (name, region) = super::target(g, &t).await?;
    let (aws, _) = super::connect(&region).await?;
    let observed = resources::discover_cluster(&aws, &name).await?;
    match g.output {
        Output::Json => super::print_json(&StatusJson {
            head: super::SummaryHead {
                command: "status",
                cluster: &name,
                region: &region,
                ok: true,
                aws_calls: aws.calls.stats(),
            },
            exists: !observed.is_empty(),
            resources: &observed,
        })?,
        Output::Human => print!("{}", render::status_text(&name, &region, &observed)),
    }
    Ok(0)
}
