//! Shows engine events: progress bars on a terminal, timestamped lines in CI
//! logs, JSON lines for machines. This is the only engine module that prints,
//! and it prints progress to stderr (JSON events go to stdout, where a CI job
//! parses them together with the final summary).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::events::{Event, Level, Outcome};
use super::human_duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// indicatif: one line per step with its state and elapsed time.
    Tty,
    /// One timestamped line per event on stderr.
    Plain,
    /// One JSON object per event on stdout.
    Json,
}

impl Mode {
    /// Bars only on an interactive terminal outside CI; JSON when asked.
    pub fn detect(json: bool) -> Self {
        if json {
            return Mode::Json;
        }
        let term_ok = std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true);
        if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() && term_ok {
            Mode::Tty
        } else {
            Mode::Plain
        }
    }
}

/// Starts the reporter; it ends when every `EventSink` is dropped.
pub fn spawn(mode: Mode, verbose: bool, mut rx: mpsc::UnboundedReceiver<Event>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut view = View::new(mode, verbose);
        while let Some(e) = rx.recv().await {
            view.show(e);
        }
        view.finish();
    })
}

struct View {
    mode: Mode,
    verbose: bool,
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    color: bool,
}

impl View {
    fn new(mode: Mode, verbose: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if mode == Mode::Tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let color = std::env::var_os("NO_COLOR").is_none() && mode == Mode::Tty;
        Self {
            mode,
            verbose,
            multi,
            bars: HashMap::new(),
            color,
        }
    }

    fn show(&mut self, e: Event) {
        match self.mode {
            Mode::Json => {
                let mut out = std::io::stdout().lock();
                if let Ok(line) = serde_json::to_string(&e) {
                    let _ = writeln!(out, "{line}");
                }
            }
            Mode::Plain => self.plain(e),
            Mode::Tty => self.tty(e),
        }
    }

    fn plain(&self, e: Event) {
        let line = match e {
            Event::Started { id, action } => format!("{id}: {action}..."),
            Event::Progress { id, message } => format!("{id}: {message}"),
            Event::Finished {
                id,
                outcome,
                detail,
                elapsed_ms,
            } => {
                if outcome == Outcome::Unchanged && !self.verbose {
                    return;
                }
                format!(
                    "{id}: {}{} ({})",
                    outcome.as_str(),
                    detail.map(|d| format!(": {d}")).unwrap_or_default(),
                    human_duration(Duration::from_millis(elapsed_ms))
                )
            }
            Event::Failed {
                id,
                error,
                elapsed_ms,
            } => format!(
                "{id}: FAILED after {}: {error}",
                human_duration(Duration::from_millis(elapsed_ms))
            ),
            Event::Skipped { id, reason } => format!("{id}: {reason}"),
            Event::Note { level, message } => match level {
                Level::Info => message,
                Level::Warn => format!("warning: {message}"),
            },
        };
        let now = jiff::Timestamp::now().strftime("%H:%M:%S");
        eprintln!("{now} {line}");
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn tty(&mut self, e: Event) {
        match e {
            Event::Started { id, action } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:<40} {msg} [{elapsed}]")
                        .expect("static template")
                        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
                );
                bar.set_prefix(id.clone());
                bar.set_message(format!("{action}..."));
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars.insert(id, bar);
            }
            Event::Progress { id, message } => {
                if let Some(bar) = self.bars.get(&id) {
                    bar.set_message(message);
                }
            }
            Event::Finished {
                id,
                outcome,
                detail,
                elapsed_ms,
            } => {
                let mark = match outcome {
                    Outcome::Created | Outcome::Updated | Outcome::Deleted => self.paint("32", "✓"),
                    Outcome::Unchanged | Outcome::Absent => self.paint("2", "·"),
                };
                let text = format!(
                    "{mark} {id:<40} {}{} ({})",
                    outcome.as_str(),
                    detail.map(|d| format!(": {d}")).unwrap_or_default(),
                    human_duration(Duration::from_millis(elapsed_ms))
                );
                self.finish_bar(&id, text, outcome == Outcome::Unchanged && !self.verbose);
            }
            Event::Failed {
                id,
                error,
                elapsed_ms,
            } => {
                let text = format!(
                    "{} {id:<40} FAILED after {}: {error}",
                    self.paint("31", "✗"),
                    human_duration(Duration::from_millis(elapsed_ms))
                );
                self.finish_bar(&id, text, false);
            }
            Event::Skipped { id, reason } => {
                let _ = self
                    .multi
                    .println(format!("{} {id:<40} {reason}", self.paint("33", "-")));
            }
            Event::Note { level, message } => {
                let text = match level {
                    Level::Info => message,
                    Level::Warn => format!("{} {message}", self.paint("33", "warning:")),
                };
                let _ = self.multi.println(text);
            }
        }
    }

    fn finish_bar(&mut self, id: &str, text: String, quiet: bool) {
        if let Some(bar) = self.bars.remove(id) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        if !quiet {
            let _ = self.multi.println(text);
        }
    }

    fn finish(&mut self) {
        for (_, bar) in self.bars.drain() {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}
