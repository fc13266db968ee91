//! One module per subcommand. Each walks the same picture: config -> spec ->
//! graph -> discover -> diff -> execute -> report, wiring the boxes together
//! and returning a result that `output` prints; none calls an AWS SDK client
//! itself. This module holds what they share: loading the config, the
//! cluster a command targets, the Ctrl-C handler, confirmation, and the
//! exit-code rules.

pub mod cost;
pub mod down;
pub mod fleet;
pub mod init;
pub mod kubeconfig;
pub mod output;
pub mod plan;
pub mod plan_kube;
pub mod policy;
pub mod render;
pub mod samples;
pub mod status;
pub mod token;
pub mod up;

use std::io::IsTerminal;

use anyhow::Context;
use serde::Serialize;

use crate::aws::{self, CallStats};
use crate::cli::{Cli, Command, Global, Output, TargetArgs};
use crate::config::{self, ConfigError, Loaded};
use crate::engine::report::{self, Mode};
use crate::engine::{Cancel, EventSink};
use output::emit;

/// Exit code when interrupted by Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;
pub const EXIT_CHANGES_PENDING: u8 = 3;

/// A mistake in how eksscale was invoked or configured (exit code 2);
/// nothing has been changed when one is returned.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Exit code for an error: 2 for usage/config problems, 1 for the rest.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    let usage = err.downcast_ref::<ConfigError>().is_some()
        || err.downcast_ref::<UsageError>().is_some()
        || err
            .downcast_ref::<crate::plan::zones::ZoneError>()
            .is_some()
        || err
            .downcast_ref::<crate::keda::install::NotInstallable>()
            .is_some()
        || err.downcast_ref::<crate::keda::Untrusted>().is_some()
        || err.downcast_ref::<crate::samples::Invalid>().is_some();
    if usage { 2 } else { 1 }
}

/// Runs the command and prints its result; returns the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = cli.global;
    let o = g.output;
    match cli.command {
        Command::Init(a) => emit(o, &init::run(&g, a).await?),
        Command::Plan(a) => emit(o, &plan::run(&g, a).await?),
        Command::Up(a) => emit(o, &up::run(&g, a).await?),
        Command::Status(a) => emit(o, &status::run(&g, a).await?),
        Command::Down(a) => emit(o, &down::run(&g, a).await?),
        Command::Kubeconfig(a) => emit(o, &kubeconfig::run(&g, a).await?),
        Command::Token(a) => emit(o, &token::run(&g, a).await?),
        Command::Render(a) => emit(o, &render::run(&g, a).await?),
        Command::Policy(a) => emit(o, &policy::run(&g, a).await?),
        Command::Cost => emit(o, &cost::run(&g).await?),
        Command::List(a) => emit(o, &fleet::list(&g, a).await?),
        Command::Reap(a) => emit(o, &fleet::reap(&g, a).await?),
        Command::Samples(a) => match a.action {
            None => emit(o, &samples::list(&g).await?),
            Some(crate::cli::SamplesAction::Load(l)) => emit(o, &samples::load(&g, l).await?),
        },
    }
}

/// Loads and validates the config; prints its warnings to stderr.
/// The directory of the config file (relative paths in it start there).
pub fn config_dir(g: &Global) -> std::path::PathBuf {
    g.file
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

pub async fn load_config(g: &Global) -> anyhow::Result<Loaded> {
    let fallback = region_fallback(&g.file).await;
    let loaded = config::load(&g.file, fallback)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    check_local_manifest(&loaded.spec.keda, &config_dir(g))?;
    Ok(loaded)
}

/// A local `keda.manifest` must exist before anything else happens (exit 2),
/// not when KEDA's turn comes after the AWS work.
fn check_local_manifest(k: &crate::spec::KedaSpec, dir: &std::path::Path) -> anyhow::Result<()> {
    let Some(m) = k
        .manifest
        .as_deref()
        .filter(|m| k.enabled && !m.starts_with("https://"))
    else {
        return Ok(());
    };
    let path = dir.join(m);
    if path.is_file() {
        return Ok(());
    }
    Err(usage(format!(
        "spec.keda.manifest {m:?}: no such file ({}; a relative path is taken from the config file's directory); give the path of a KEDA release manifest, or remove keda.manifest to download the release",
        path.display()
    )))
}

/// The region to use when the config names none (asked only then).
async fn region_fallback(file: &std::path::Path) -> Option<String> {
    if config::declares_region(file) {
        None
    } else {
        aws::region_from_chain().await
    }
}

/// The cluster a command acts on: from --name/--region, or the config's
/// metadata (only name and region are read, so `down` works even if the rest
/// of the file no longer validates).
pub async fn target(g: &Global, t: &TargetArgs) -> anyhow::Result<(String, String)> {
    if let Some(name) = &t.name {
        let region = match &t.region {
            Some(r) => r.clone(),
            None => aws::region_from_chain()
                .await
                .ok_or_else(|| usage("--region is required with --name (or set AWS_REGION)"))?,
        };
        check_identity(name, &region)?;
        return Ok((name.clone(), region));
    }
    if t.region.is_some() {
        return Err(usage(
            "--region needs --name; to use the config file, drop both",
        ));
    }
    let fallback = region_fallback(&g.file).await;
    let (name, region) = config::identity(&g.file, fallback)?;
    Ok((name, region))
}

pub fn check_identity(name: &str, region: &str) -> anyhow::Result<()> {
    if !config::validate::is_eks_name(name) || name.len() > config::validate::CLUSTER_NAME_MAX {
        return Err(usage(format!(
            "--name {name:?} is not a valid EKS cluster name (starts with a letter or digit; letters, digits, '-' and '_'; at most 100 characters)"
        )));
    }
    if !config::validate::is_region(region) {
        return Err(usage(format!(
            "--region {region:?} is not an AWS region name such as us-west-2"
        )));
    }
    Ok(())
}

/// Starts the reporter for the chosen output; returns the sink steps use.
pub fn reporter(g: &Global) -> (EventSink, tokio::task::JoinHandle<()>) {
    let (sink, rx) = EventSink::channel();
    let handle = report::spawn(Mode::detect(g.output == Output::Json), g.verbose, rx);
    (sink, handle)
}

/// Reports the SDK's retries as warnings in the event stream until
/// `stop_reporting_retries` (which must run before awaiting the reporter:
/// the notice holds a sender).
pub fn report_retries(aws: &aws::Aws, events: &EventSink) {
    let events = events.clone();
    aws.calls.on_retry(Some(Box::new(move |m| events.warn(m))));
}

pub fn stop_reporting_retries(aws: &aws::Aws) {
    aws.calls.on_retry(None);
}

/// Ctrl-C requests cancellation (a second Ctrl-C exits at once). The engine
/// announces the interruption; this task holds no event sink, so the
/// reporter can finish when the run does.
pub fn install_interrupt() -> Cancel {
    let cancel = Cancel::default();
    let c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    });
    cancel
}

/// Asks for confirmation of a destructive action, or refuses without a
/// terminal unless `--yes` was given. `prompt` may span several lines.
pub fn confirm(g: &Global, prompt: &str, expected: &str) -> anyhow::Result<()> {
    if g.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(
            "refusing to delete without confirmation: there is no terminal to ask on; pass --yes",
        ));
    }
    eprint!("{prompt} Type the cluster name ({expected}) to confirm: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading confirmation")?;
    if line.trim() == expected {
        Ok(())
    } else {
        Err(usage("not confirmed; nothing was deleted"))
    }
}

/// Fields every JSON summary carries.
#[derive(Debug, Serialize)]
pub struct SummaryHead {
    pub command: &'static str,
    pub cluster: String,
    pub region: String,
    pub ok: bool,
    pub aws_calls: CallStats,
    /// Kubernetes API requests (reads and writes); a no-op `up` writes nothing.
    pub kube_calls: crate::kube::calls::KubeCalls,
}
