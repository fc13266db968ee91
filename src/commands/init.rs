//! `eksscale init`: write the annotated starter config.

use crate::cli::{Global, InitArgs, Output};
use crate::config::{self, starter};

pub async fn run(g: &Global, a: InitArgs) -> anyhow::Result<u8> {
    if g.file.exists() && !a.force {
        return Err(super::usage(format!(
            "{} already exists; pass --force to overwrite it, or -f to write elsewhere",
            g.file.display()
        )));
    }
    let region = match a.region {
        Some(r) => r,
        None => crate::aws::region_from_environment()
            .await
            .unwrap_or_else(|| "us-west-2".to_string()),
    };
    let text = starter::render(&a.name, &region)?;
    // Check before writing: an invalid --name or --region must not leave a file behind.
    config::parse(&g.file.display().to_string(), &text, None)?;
    if let Some(dir) = g.file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&g.file, text)?;
    match g.output {
        Output::Json => super::print_json(&serde_json::json!({
            "command": "init", "ok": true, "file": g.file, "cluster": a.name, "region": region,
        }))?,
        Output::Human => println!(
            "Wrote {} for cluster {} in {region}. Next: `eksscale plan`, then `eksscale up`.",
            g.file.display(),
            a.name
        ),
    }
    Ok(0)
}
