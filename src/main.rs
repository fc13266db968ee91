//! eksscale: entry point. Parses arguments, runs the command, maps errors to
//! exit codes (0 ok, 1 runtime failure, 2 usage/config error, 3 plan changes
//! pending, 130 interrupted).

mod aws;
mod catalog;
mod cli;
mod commands;
mod config;
mod engine;
mod keda;
mod kube;
mod plan;
mod policy;
mod resources;
mod spec;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
                println!("{doc}");
            }
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}
