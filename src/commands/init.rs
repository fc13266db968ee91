//! `eksscale init`: write the annotated starter config.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::output::Report;
use crate::cli::{Global, InitArgs};
use crate::config::{self, starter};

/// What `init` reports.
#[derive(Serialize)]
pub struct InitReport {
    command: &'static str,
    ok: bool,
    file: PathBuf,
    cluster: String,
    region: String,
}

impl fmt::Display for InitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Wrote {} for cluster {} in {}. Next: `eksscale plan`, then `eksscale up`.",
            self.file.display(),
            self.cluster,
            self.region
        )
    }
}

impl Report for InitReport {}

pub async fn run(g: &Global, a: InitArgs) -> anyhow::Result<InitReport> {
    if g.file.exists() && !a.force {
        return Err(super::usage(format!(
            "{} already exists; pass --force to overwrite it, or -f to write elsewhere",
            g.file.display()
        )));
    }
    let region = match a.region {
        Some(r) => r,
        None => crate::aws::region_from_chain()
            .await
            .unwrap_or_else(|| "us-west-2".to_string()),
    };
    // The flags first, named as the user typed them (not as lines of a file
    // that was never written).
    super::check_identity(&a.name, &region)?;
    let text = starter::render(&a.name, &region)?;
    // Check before writing: an invalid --name or --region must not leave a file behind.
    config::parse(&g.file.display().to_string(), &text, None)?;
    if let Some(dir) = g.file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&g.file, text)?;
    Ok(InitReport {
        command: "init",
        ok: true,
        file: g.file.clone(),
        cluster: a.name,
        region,
    })
}
