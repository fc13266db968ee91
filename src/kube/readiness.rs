//! When an applied object is ready, read from its status the way kubectl and
//! the controllers report it, and why a pod is not running.

use serde_json::Value;

pub enum Readiness {
    Ready,
    Pending(String),
    Failed(String),
}

fn condition<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    v["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

pub fn crd_ready(v: &Value) -> Readiness {
    match condition(v, "Established") {
        Some(c) if c["status"] == "True" => Readiness::Ready,
        Some(c) => Readiness::Pending(format!(
            "not established: {}",
            c["message"].as_str().unwrap_or("")
        )),
        None => Readiness::Pending("not established".into()),
    }
}

pub fn deployment_ready(v: &Value) -> Readiness {
    let n = |p: &str| v.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let want = v
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let generation = n("/metadata/generation");
    let observed = n("/status/observedGeneration");
    let (updated, available) = (n("/status/updatedReplicas"), n("/status/availableReplicas"));
    if let Some(c) = condition(v, "Progressing")
        && c["reason"] == "ProgressDeadlineExceeded"
    {
        return Readiness::Failed(format!(
            "rollout stalled: {}",
            c["message"].as_str().unwrap_or("")
        ));
    }
    if observed >= generation && updated >= want && available >= want {
        Readiness::Ready
    } else {
        Readiness::Pending(format!(
            "{available}/{want} replicas available, {updated} updated"
        ))
    }
}

pub fn apiservice_ready(v: &Value) -> Readiness {
    match condition(v, "Available") {
        Some(c) if c["status"] == "True" => Readiness::Ready,
        Some(c) => Readiness::Pending(format!(
            "not available: {} {}",
            c["reason"].as_str().unwrap_or(""),
            c["message"].as_str().unwrap_or("")
        )),
        None => Readiness::Pending("not available yet".into()),
    }
}

pub fn job_ready(v: &Value) -> Readiness {
    if condition(v, "Complete").is_some_and(|c| c["status"] == "True") {
        Readiness::Ready
    } else if let Some(c) = condition(v, "Failed").filter(|c| c["status"] == "True") {
        Readiness::Failed(format!(
            "job failed: {}",
            c["message"].as_str().unwrap_or("")
        ))
    } else {
        Readiness::Pending("running".into())
    }
}

/// One line on why a pod is not running, or `None` if it is fine.
pub fn pod_problem(v: &Value) -> Option<String> {
    if let Some(c) = condition(v, "PodScheduled").filter(|c| c["status"] == "False") {
        return Some(format!(
            "Pending: {}: {}",
            c["reason"].as_str().unwrap_or("Unschedulable"),
            c["message"].as_str().unwrap_or("")
        ));
    }
    let statuses = v["status"]["containerStatuses"].as_array()?;
    statuses.iter().find_map(|s| {
        let w = &s["state"]["waiting"];
        w["reason"]
            .as_str()
            .map(|r| match w["message"].as_str().filter(|m| !m.is_empty()) {
                Some(m) => format!("{r}: {m}"),
                None => r.to_string(),
            })
    })
}
