//! Polling until a resource reaches a state, the one way eksscale waits.
//!
//! Every wait has a timeout and names what it waits for; polls start at a
//! sixteenth of the interval AWS recommends for that resource (2 s for EKS
//! clusters' 30 s) and double up to it, never beyond it. Cancellation ends a
//! wait early: the resource keeps converging in AWS and `up` resumes it.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{Cancel, EventSink, human_duration};

/// One observation of the thing being waited for.
#[derive(Debug)]
pub enum Poll<T> {
    Ready(T),
    /// Not there yet; the text is the current state, shown as progress.
    Pending(String),
    /// Will never get there (e.g. status FAILED); the text says why.
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Wait {
    /// Completes "waiting for ..." e.g. "cluster demo to become ACTIVE".
    pub what: String,
    pub timeout: Duration,
    /// Longest pause between polls (the AWS-recommended waiter delay).
    pub max_interval: Duration,
}

impl Wait {
    pub fn new(what: impl Into<String>, timeout: Duration, max_interval: Duration) -> Self {
        Self {
            what: what.into(),
            timeout,
            max_interval,
        }
    }

    /// Polls `check` until it is ready, fails, times out or is cancelled.
    pub async fn run<T, F, Fut>(
        &self,
        id: &str,
        events: &EventSink,
        cancel: &Cancel,
        mut check: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Poll<T>>>,
    {
        let start = Instant::now();
        // First look again soon (many waits end within a second or two), then
        // double up to the interval AWS recommends for the resource.
        let mut interval =
            (self.max_interval / 16).clamp(Duration::from_millis(100), Duration::from_secs(2));
        loop {
            let last = match check().await? {
                Poll::Ready(v) => return Ok(v),
                Poll::Failed(why) => anyhow::bail!("{} failed: {why}", self.what),
                Poll::Pending(state) => state,
            };
            let elapsed = start.elapsed();
            if elapsed >= self.timeout {
                anyhow::bail!(
                    "timed out after {} waiting for {} (last state: {last}); it may still finish in AWS: run the same command again to resume",
                    human_duration(self.timeout),
                    self.what
                );
            }
            events.progress(
                id,
                format!(
                    "waiting for {}: {last} ({})",
                    self.what,
                    human_duration(elapsed)
                ),
            );
            let pause = interval.min(self.timeout.saturating_sub(elapsed));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.cancelled() => anyhow::bail!(
                    "interrupted while waiting for {} (last state: {last})",
                    self.what
                ),
            }
            interval = (interval * 2).min(self.max_interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_when_ready_and_times_out_otherwise() {
        let mut n = 0;
        let w = Wait::new(
            "thing to be ready",
            Duration::from_secs(5),
            Duration::from_millis(5),
        );
        let v = w
            .run("x", &EventSink::discard(), &Cancel::default(), || {
                n += 1;
                let r = if n < 3 {
                    Poll::Pending("CREATING".into())
                } else {
                    Poll::Ready(n)
                };
                async move { Ok(r) }
            })
            .await
            .unwrap();
        assert_eq!(v, 3);

        let w = Wait::new(
            "never",
            Duration::from_millis(60),
            Duration::from_millis(10),
        );
        let err = w
            .run("x", &EventSink::discard(), &Cancel::default(), || async {
                Ok(Poll::<()>::Pending("CREATING".into()))
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("timed out after 60ms waiting for never (last state: CREATING)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn failure_state_is_reported() {
        let w = Wait::new(
            "cluster x to become ACTIVE",
            Duration::from_secs(60),
            Duration::from_secs(5),
        );
        let err = w
            .run("x", &EventSink::discard(), &Cancel::default(), || async {
                Ok(Poll::<()>::Failed(
                    "status FAILED: subnet has no free IPs".into(),
                ))
            })
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "cluster x to become ACTIVE failed: status FAILED: subnet has no free IPs"
        );
    }
}
