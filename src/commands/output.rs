//! The one place command results are printed. Every command returns a value
//! that is both serialisable (`-o json`: one JSON object on stdout) and
//! displayable (human text on stdout); progress and warnings go to stderr.
//!
//! A reader that stops early (`eksscale render | head -c 100`,
//! `eksscale status -o json | head -1`) closes the pipe: that is a normal
//! end, not an error, so it exits 0 without a panic message.

use std::fmt::Display;
use std::io::Write;

use serde::Serialize;

use crate::cli::Output;

/// A command's result.
pub trait Report: Serialize + Display {
    /// The process exit code this result means (0 unless it says otherwise).
    fn exit_code(&self) -> u8 {
        0
    }
}

/// Prints `r` as JSON or text; returns its exit code.
pub fn emit<R: Report>(output: Output, r: &R) -> anyhow::Result<u8> {
    let text = match output {
        Output::Json => format!("{}\n", serde_json::to_string(r)?),
        Output::Human => r.to_string(),
    };
    stdout(&text)?;
    Ok(r.exit_code())
}

/// Writes to stdout; a closed pipe ends the output quietly.
pub fn stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
