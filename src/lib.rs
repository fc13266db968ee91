//! eksscale: one small YAML file to a production-shaped Amazon EKS cluster
//! with KEDA event-driven autoscaling, and back to nothing.
//!
//! The program is one data flow, and every command is a walk over it:
//! `config` -> `spec` -> `plan::graph` (desired nodes, built by `kinds`) ->
//! `kinds::discover` -> `plan` (diff) -> `engine` (execute the steps `kinds`,
//! `kube` and `keda` make) -> `commands::output` (report). See
//! docs/architecture.md for what each module may touch.

pub mod aws;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cost;
pub mod engine;
pub mod keda;
pub mod kinds;
pub mod kube;
pub mod plan;
pub mod policy;
pub mod samples;
pub mod spec;

use std::process::ExitCode;

use clap::Parser;

/// Parses arguments, runs the command, maps errors to exit codes (0 ok,
/// 1 runtime failure, 2 usage/config error, 3 plan changes pending, 130
/// interrupted).
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let json = cli.global.output == cli::Output::Json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = commands::exit_code_for(&err);
            let message = format!("{err:#}");
            if json {
                let doc = serde_json::json!({"ok": false, "exit_code": code, "error": message});
                let _ = commands::output::stdout(&format!("{doc}\n"));
            }
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}
