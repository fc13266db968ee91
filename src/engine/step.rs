//! What a running step needs from the engine: where to report progress, and
//! whether Ctrl-C was pressed. AWS and Kubernetes code get one of these, so
//! they never print.

use std::time::Duration;

use super::wait::{Poll, Wait};
use super::{Cancel, EventSink};

#[derive(Debug, Clone)]
pub struct StepCtx {
    pub id: String,
    pub events: EventSink,
    pub cancel: Cancel,
}

impl StepCtx {
    pub fn new(id: impl Into<String>, events: EventSink, cancel: Cancel) -> Self {
        Self {
            id: id.into(),
            events,
            cancel,
        }
    }

    pub fn progress(&self, message: impl Into<String>) {
        self.events.progress(&self.id, message);
    }

    pub async fn wait<T, F, Fut>(
        &self,
        what: impl Into<String>,
        timeout: Duration,
        max_interval: Duration,
        check: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Poll<T>>>,
    {
        Wait::new(what, timeout, max_interval)
            .run(&self.id, &self.events, &self.cancel, check)
            .await
    }
}
