//! What the engine tells the outside world while it works. Steps and the
//! executor only *send* events; `engine::report` decides how they are shown
//! (progress bars, plain lines, JSON lines). Sending never blocks or fails.

use serde::Serialize;
use tokio::sync::mpsc;

/// What a step did, once it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Deleted,
    /// Nothing to delete: already gone.
    Absent,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Deleted => "deleted",
            Outcome::Absent => "absent",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step began (its dependencies are done).
    Started { id: String, action: super::Verb },
    /// A long step reports what it is doing or waiting for.
    Progress { id: String, message: String },
    Finished {
        id: String,
        outcome: Outcome,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        elapsed_ms: u64,
    },
    Failed {
        id: String,
        error: String,
        elapsed_ms: u64,
    },
    /// Not run because a dependency failed or the run was interrupted.
    Skipped { id: String, reason: String },
    /// A message not tied to one step (warnings, phase changes).
    Note { level: Level, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warn,
}

/// Cheap to clone; hand one to every step.
#[derive(Debug, Clone)]
pub struct EventSink {
    tx: Option<mpsc::UnboundedSender<Event>>,
}

impl EventSink {
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx: Some(tx) }, rx)
    }

    /// A sink that drops everything (for tests).
    #[cfg(test)]
    pub fn discard() -> Self {
        Self { tx: None }
    }

    pub fn send(&self, e: Event) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(e);
        }
    }

    pub fn progress(&self, id: &str, message: impl Into<String>) {
        self.send(Event::Progress {
            id: id.to_string(),
            message: message.into(),
        });
    }

    pub fn info(&self, message: impl Into<String>) {
        self.send(Event::Note {
            level: Level::Info,
            message: message.into(),
        });
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.send(Event::Note {
            level: Level::Warn,
            message: message.into(),
        });
    }
}
