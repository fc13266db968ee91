//! One module per subcommand. Each walks the same picture: config -> spec ->
//! graph -> discover -> diff -> execute -> report. This module holds what
//! they share: loading the config, connecting to AWS, resolving zones, the
//! Ctrl-C handler and the exit-code rules.

pub mod down;
pub mod init;
pub mod kubeconfig;
pub mod plan;
pub mod policy;
pub mod render;
pub mod status;
pub mod token;
pub mod up;

use std::io::IsTerminal;

use anyhow::Context;
use serde::Serialize;

use crate::aws::{self, Aws, CallStats};
use crate::cli::{Cli, Command, Global, Output, TargetArgs};
use crate::config::{self, ConfigError, Loaded};
use crate::engine::report::{self, Mode};
use crate::engine::{Cancel, EventSink};
use crate::plan::{Kind, Observed};
use crate::spec::{Spec, ZoneChoice, ZoneLayout};

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
    if err.downcast_ref::<ConfigError>().is_some() || err.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = cli.global;
    match cli.command {
        Command::Init(a) => init::run(&g, a).await,
        Command::Plan(a) => plan::run(&g, a).await,
        Command::Up(a) => up::run(&g, a).await,
        Command::Status(a) => status::run(&g, a).await,
        Command::Down(a) => down::run(&g, a).await,
        Command::Kubeconfig(a) => kubeconfig::run(&g, a).await,
        Command::Token(a) => token::run(a).await,
        Command::Render(a) => render::run(&g, a).await,
        Command::Policy(a) => policy::run(&g, a).await,
    }
}

/// Loads and validates the config; prints its warnings to stderr.
pub async fn load_config(g: &Global) -> anyhow::Result<Loaded> {
    let fallback = aws::region_from_environment().await;
    let loaded = config::load(&g.file, fallback)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded)
}

/// The cluster a command acts on: from --name/--region, or the config's
/// metadata (only name and region are read, so `down` works even if the rest
/// of the file no longer validates).
pub async fn target(g: &Global, t: &TargetArgs) -> anyhow::Result<(String, String)> {
    if let Some(name) = &t.name {
        let region = match &t.region {
            Some(r) => r.clone(),
            None => aws::region_from_environment()
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
    let fallback = aws::region_from_environment().await;
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

/// Connects and checks credentials with one read call, so a missing or
/// expired credential is reported before anything else happens.
pub async fn connect(region: &str) -> anyhow::Result<(Aws, String)> {
    let aws = Aws::connect(region).await;
    let who = aws.sts.get_caller_identity().send().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot use AWS credentials: {}\nSet AWS_PROFILE (and run `aws sso login` for SSO profiles), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
            aws::describe_error("sts:GetCallerIdentity", e)
        )
    })?;
    let account = who.account().unwrap_or_default().to_string();
    Ok((aws, account))
}

/// Zone names for the spec: listed names (checked against the region), or
/// the first N available zones, preferring zones the cluster already uses.
pub async fn resolve_zones(
    aws: &Aws,
    spec: &Spec,
    observed: &[Observed],
) -> anyhow::Result<Vec<ZoneLayout>> {
    let available = aws::network::available_zones(aws).await?;
    let names = match &spec.vpc.zones {
        ZoneChoice::Names(names) => {
            if let Some(bad) = names.iter().find(|z| !available.contains(z)) {
                return Err(usage(format!(
                    "zone {bad} is not available in {} for this account; available zones: {}",
                    spec.region,
                    available.join(", ")
                )));
            }
            names.clone()
        }
        ZoneChoice::Count(n) => {
            let mut chosen: Vec<String> = observed
                .iter()
                .filter(|o| o.kind() == Kind::Subnet)
                .filter_map(|o| o.attrs.get("zone").cloned())
                .filter(|z| available.contains(z))
                .collect();
            chosen.sort();
            chosen.dedup();
            chosen.truncate(*n);
            for z in &available {
                if chosen.len() >= *n {
                    break;
                }
                if !chosen.contains(z) {
                    chosen.push(z.clone());
                }
            }
            if chosen.len() < *n {
                return Err(usage(format!(
                    "spec.vpc.zones asks for {n} zones but {} has only {} available: {}; lower spec.vpc.zones",
                    spec.region,
                    available.len(),
                    available.join(", ")
                )));
            }
            chosen.sort();
            chosen
        }
    };
    crate::spec::layout(spec.vpc.cidr, &spec.region, &names).map_err(usage)
}

/// Starts the reporter for the chosen output; returns the sink steps use.
pub fn reporter(g: &Global) -> (EventSink, tokio::task::JoinHandle<()>) {
    let (sink, rx) = EventSink::channel();
    let handle = report::spawn(Mode::detect(g.output == Output::Json), g.verbose, rx);
    (sink, handle)
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
/// terminal unless `--yes` was given.
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

/// Prints one JSON document to stdout (the final summary in `-o json`).
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// Fields every JSON summary carries.
#[derive(Debug, Serialize)]
pub struct SummaryHead<'a> {
    pub command: &'a str,
    pub cluster: &'a str,
    pub region: &'a str,
    pub ok: bool,
    pub aws_calls: CallStats,
}
