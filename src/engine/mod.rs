//! The executor: runs a dependency graph of steps concurrently.
//!
//! A step starts as soon as all of its dependencies have succeeded, bounded
//! by a concurrency limit; independent branches never wait for each other. A
//! failed step skips everything that depends on it while unrelated work runs
//! to completion (so a re-run has less to do). Cancellation (Ctrl-C) stops
//! launching steps and lets the running ones finish.
//!
//! The engine knows nothing about AWS or Kubernetes: a step is an id, its
//! dependencies and a future that reports an [`Outcome`].

pub mod events;
pub mod report;
pub mod step;
pub mod wait;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use events::{Event, EventSink, Outcome};

/// The result a step reports: what happened, plus a short human detail
/// (e.g. the AWS id created, the fields updated).
#[derive(Debug, Clone)]
pub struct Done {
    pub outcome: Outcome,
    pub detail: Option<String>,
}

impl Done {
    pub fn new(outcome: Outcome) -> Self {
        Self {
            outcome,
            detail: None,
        }
    }
    pub fn with(outcome: Outcome, detail: impl Into<String>) -> Self {
        Self {
            outcome,
            detail: Some(detail.into()),
        }
    }
}

pub type StepFuture = BoxFuture<'static, anyhow::Result<Done>>;

/// What a step is about to do, shown when it starts (and in JSON events as
/// `"action"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verb {
    #[serde(rename = "create")]
    Create,
    #[serde(rename = "update")]
    Update,
    /// Exists as desired: look at it (and wait if it is still settling).
    #[serde(rename = "check")]
    Check,
    #[serde(rename = "delete")]
    Delete,
    #[serde(rename = "apply")]
    Apply,
    #[serde(rename = "connect")]
    Connect,
    #[serde(rename = "write")]
    Write,
    #[serde(rename = "refresh discovery")]
    RefreshDiscovery,
    #[serde(rename = "check release")]
    CheckRelease,
    #[serde(rename = "helm uninstall")]
    HelmUninstall,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Check => "check",
            Verb::Delete => "delete",
            Verb::Apply => "apply",
            Verb::Connect => "connect",
            Verb::Write => "write",
            Verb::RefreshDiscovery => "refresh discovery",
            Verb::CheckRelease => "check release",
            Verb::HelmUninstall => "helm uninstall",
        }
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub struct Step {
    pub id: String,
    pub deps: Vec<String>,
    pub verb: Verb,
    pub run: Box<dyn FnOnce() -> StepFuture + Send>,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("id", &self.id)
            .field("deps", &self.deps)
            .field("verb", &self.verb)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepStatus {
    Done {
        outcome: Outcome,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        elapsed_ms: u64,
    },
    Failed {
        error: String,
        elapsed_ms: u64,
    },
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Step id -> what happened to it.
    pub steps: BTreeMap<String, StepStatus>,
    pub interrupted: bool,
    pub elapsed_ms: u64,
}

impl RunReport {
    pub fn failed(&self) -> impl Iterator<Item = (&String, &String)> {
        self.steps.iter().filter_map(|(id, s)| match s {
            StepStatus::Failed { error, .. } => Some((id, error)),
            _ => None,
        })
    }
    pub fn is_success(&self) -> bool {
        !self.interrupted
            && self
                .steps
                .values()
                .all(|s| matches!(s, StepStatus::Done { .. }))
    }
    pub fn count(&self, outcome: Outcome) -> usize {
        self.steps
            .values()
            .filter(|s| matches!(s, StepStatus::Done { outcome: o, .. } if *o == outcome))
            .count()
    }
}

/// Set once by the Ctrl-C handler; observed by the executor and by waits.
#[derive(Debug, Clone)]
pub struct Cancel {
    rx: watch::Receiver<bool>,
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Cancel {
    fn default() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            rx,
            tx: Arc::new(tx),
        }
    }
}

impl Cancel {
    pub fn cancel(&self) {
        let _ = self.tx.send(true);
    }
    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }
    /// Resolves when cancellation is requested.
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// Errors in the graph itself (a bug in graph construction, never user input).
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("step {0:?} is defined twice")]
    Duplicate(String),
    #[error("step {step:?} depends on unknown step {dep:?}")]
    UnknownDependency { step: String, dep: String },
    #[error("dependency cycle through {0:?}")]
    Cycle(String),
}

/// Checks ids are unique, dependencies exist, and there is no cycle.
pub fn check_graph(steps: &[(String, Vec<String>)]) -> Result<(), GraphError> {
    let mut index = HashMap::new();
    for (i, (id, _)) in steps.iter().enumerate() {
        if index.insert(id.as_str(), i).is_some() {
            return Err(GraphError::Duplicate(id.clone()));
        }
    }
    let mut indegree = vec![0usize; steps.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, (id, deps)) in steps.iter().enumerate() {
        for d in deps {
            let Some(&j) = index.get(d.as_str()) else {
                return Err(GraphError::UnknownDependency {
                    step: id.clone(),
                    dep: d.clone(),
                });
            };
            indegree[i] += 1;
            dependents[j].push(i);
        }
    }
    let mut queue: VecDeque<usize> = (0..steps.len()).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = queue.pop_front() {
        seen += 1;
        for &k in &dependents[i] {
            indegree[k] -= 1;
            if indegree[k] == 0 {
                queue.push_back(k);
            }
        }
    }
    if seen != steps.len() {
        let stuck = (0..steps.len())
            .find(|&i| indegree[i] > 0)
            .expect("a step is stuck");
        return Err(GraphError::Cycle(steps[stuck].0.clone()));
    }
    Ok(())
}

/// Runs `steps` respecting dependencies, at most `concurrency` at a time.
pub async fn execute(
    steps: Vec<Step>,
    concurrency: usize,
    events: &EventSink,
    cancel: &Cancel,
) -> Result<RunReport, GraphError> {
    let shape: Vec<(String, Vec<String>)> = steps
        .iter()
        .map(|s| (s.id.clone(), s.deps.clone()))
        .collect();
    check_graph(&shape)?;
    let started = Instant::now();
    let n = steps.len();
    let index: HashMap<String, usize> = shape
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.clone(), i))
        .collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = vec![0; n];
    for (i, (_, deps)) in shape.iter().enumerate() {
        waiting[i] = deps.len();
        for d in deps {
            dependents[index[d]].push(i);
        }
    }
    let mut pending: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut report = RunReport {
        steps: BTreeMap::new(),
        interrupted: false,
        elapsed_ms: 0,
    };
    let mut running: JoinSet<(usize, Instant, anyhow::Result<Done>)> = JoinSet::new();
    let limit = concurrency.max(1);

    loop {
        while running.len() < limit && !cancel.is_cancelled() {
            let Some(i) = ready.pop_front() else { break };
            let step = pending[i].take().expect("each step is launched once");
            events.send(Event::Started {
                id: step.id.clone(),
                action: step.verb,
            });
            let fut = (step.run)();
            running.spawn(async move {
                let t = Instant::now();
                let r = fut.await;
                (i, t, r)
            });
        }
        if running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            // Cancellation first: the steps it ends finish at the same moment,
            // and the user must be told why they stop before they are reported.
            biased;
            _ = cancel.cancelled(), if !report.interrupted => {
                report.interrupted = true;
                events.warn(format!(
                    "interrupted: letting {} running step(s) finish, starting nothing new (Ctrl-C again to quit now)",
                    running.len()
                ));
                continue;
            }
            j = running.join_next() => j,
        };
        let Some(joined) = joined else { break };
        let (i, t, result) = match joined {
            Ok(v) => v,
            Err(e) => {
                // A panicking step is a bug; surface it rather than hang.
                std::panic::resume_unwind(e.into_panic());
            }
        };
        let id = shape[i].0.clone();
        let elapsed_ms = u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(done) => {
                events.send(Event::Finished {
                    id: id.clone(),
                    outcome: done.outcome,
                    detail: done.detail.clone(),
                    elapsed_ms,
                });
                report.steps.insert(
                    id,
                    StepStatus::Done {
                        outcome: done.outcome,
                        detail: done.detail,
                        elapsed_ms,
                    },
                );
                for &k in &dependents[i] {
                    waiting[k] -= 1;
                    if waiting[k] == 0 && pending[k].is_some() {
                        ready.push_back(k);
                    }
                }
            }
            Err(e) => {
                let error = format!("{e:#}");
                events.send(Event::Failed {
                    id: id.clone(),
                    error: error.clone(),
                    elapsed_ms,
                });
                report
                    .steps
                    .insert(id.clone(), StepStatus::Failed { error, elapsed_ms });
                skip_dependents(
                    i,
                    &id,
                    &dependents,
                    &mut pending,
                    &shape,
                    &mut report,
                    events,
                );
            }
        }
    }
    if cancel.is_cancelled() && !report.interrupted {
        report.interrupted = true;
        events.warn(
            "interrupted: letting 0 running step(s) finish, starting nothing new".to_string(),
        );
    }
    for (i, slot) in pending.iter_mut().enumerate() {
        if slot.take().is_some() {
            let id = shape[i].0.clone();
            let reason = if report.interrupted {
                "not started: interrupted".to_string()
            } else {
                "not started".to_string()
            };
            events.send(Event::Skipped {
                id: id.clone(),
                reason: reason.clone(),
            });
            report.steps.insert(id, StepStatus::Skipped { reason });
        }
    }
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

fn skip_dependents(
    failed: usize,
    failed_id: &str,
    dependents: &[Vec<usize>],
    pending: &mut [Option<Step>],
    shape: &[(String, Vec<String>)],
    report: &mut RunReport,
    events: &EventSink,
) {
    let mut stack = dependents[failed].clone();
    while let Some(k) = stack.pop() {
        if pending[k].take().is_some() {
            let id = shape[k].0.clone();
            let reason = format!("skipped: {failed_id} failed");
            events.send(Event::Skipped {
                id: id.clone(),
                reason: reason.clone(),
            });
            report.steps.insert(id, StepStatus::Skipped { reason });
            stack.extend(dependents[k].iter().copied());
        }
    }
}

/// Elapsed time as `1m05s` / `12s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn step(
        id: &str,
        deps: &[&str],
        log: Arc<Mutex<Vec<String>>>,
        fail: bool,
        delay_ms: u64,
    ) -> Step {
        let id_owned = id.to_string();
        Step {
            id: id.to_string(),
            deps: deps.iter().map(|d| d.to_string()).collect(),
            verb: Verb::Create,
            run: Box::new(move || {
                Box::pin(async move {
                    log.lock().unwrap().push(format!("start {id_owned}"));
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    log.lock().unwrap().push(format!("end {id_owned}"));
                    if fail {
                        anyhow::bail!("boom")
                    }
                    Ok(Done::new(Outcome::Created))
                })
            }),
        }
    }

    #[tokio::test]
    async fn dependencies_finish_before_dependents_start() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let steps = vec![
            step("c", &["a", "b"], log.clone(), false, 1),
            step("a", &[], log.clone(), false, 20),
            step("b", &[], log.clone(), false, 5),
        ];
        let r = execute(steps, 4, &EventSink::discard(), &Cancel::default())
            .await
            .unwrap();
        assert!(r.is_success());
        let log = log.lock().unwrap().clone();
        let pos = |s: &str| log.iter().position(|x| x == s).unwrap();
        assert!(pos("end a") < pos("start c"));
        assert!(pos("end b") < pos("start c"));
        // a and b ran concurrently: b started before a ended.
        assert!(pos("start b") < pos("end a"));
    }

    #[tokio::test]
    async fn failure_skips_only_dependents() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let steps = vec![
            step("a", &[], log.clone(), true, 1),
            step("b", &["a"], log.clone(), false, 1),
            step("c", &["b"], log.clone(), false, 1),
            step("x", &[], log.clone(), false, 10),
        ];
        let r = execute(steps, 4, &EventSink::discard(), &Cancel::default())
            .await
            .unwrap();
        assert!(!r.is_success());
        assert!(matches!(r.steps["a"], StepStatus::Failed { .. }));
        assert!(matches!(r.steps["b"], StepStatus::Skipped { .. }));
        assert!(matches!(r.steps["c"], StepStatus::Skipped { .. }));
        assert!(matches!(r.steps["x"], StepStatus::Done { .. }));
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let steps = (0..10)
            .map(|i| {
                let (live, peak) = (live.clone(), peak.clone());
                Step {
                    id: format!("s{i}"),
                    deps: vec![],
                    verb: Verb::Create,
                    run: Box::new(move || {
                        Box::pin(async move {
                            let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            live.fetch_sub(1, Ordering::SeqCst);
                            Ok(Done::new(Outcome::Created))
                        })
                    }),
                }
            })
            .collect();
        execute(steps, 3, &EventSink::discard(), &Cancel::default())
            .await
            .unwrap();
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn cancel_stops_launching_but_lets_running_finish() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let cancel = Cancel::default();
        let c2 = cancel.clone();
        let steps = vec![
            Step {
                id: "a".into(),
                deps: vec![],
                verb: Verb::Create,
                run: Box::new(move || {
                    Box::pin(async move {
                        c2.cancel();
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        Ok(Done::new(Outcome::Created))
                    })
                }),
            },
            step("b", &["a"], log.clone(), false, 1),
        ];
        let r = execute(steps, 1, &EventSink::discard(), &cancel)
            .await
            .unwrap();
        assert!(r.interrupted);
        assert!(matches!(r.steps["a"], StepStatus::Done { .. }));
        assert!(matches!(r.steps["b"], StepStatus::Skipped { .. }));
        assert!(log.lock().unwrap().is_empty());
    }

    #[test]
    fn graph_errors_are_caught() {
        let g = |v: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
            v.iter()
                .map(|(a, d)| (a.to_string(), d.iter().map(|x| x.to_string()).collect()))
                .collect()
        };
        assert!(matches!(
            check_graph(&g(&[("a", &["b"]), ("b", &["a"])])),
            Err(GraphError::Cycle(_))
        ));
        assert!(matches!(
            check_graph(&g(&[("a", &["z"])])),
            Err(GraphError::UnknownDependency { .. })
        ));
        assert!(matches!(
            check_graph(&g(&[("a", &[]), ("a", &[])])),
            Err(GraphError::Duplicate(_))
        ));
    }
}
