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

/// A Deployment is rolled out exactly when `kubectl rollout status` says so
/// (kubectl `polymorphichelpers/rollout_status.go`, DeploymentStatusViewer):
/// the controller has seen this generation, every replica is updated, no old
/// replica is left, and every updated replica is available; a rollout past
/// its progress deadline has failed.
pub fn deployment_ready(v: &Value) -> Readiness {
    let n = |p: &str| v.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let generation = n("/metadata/generation");
    let observed = n("/status/observedGeneration");
    if generation > observed {
        return Readiness::Pending("waiting for the deployment spec update to be observed".into());
    }
    if let Some(c) = condition(v, "Progressing")
        && c["reason"] == "ProgressDeadlineExceeded"
    {
        return Readiness::Failed(format!(
            "rollout exceeded its progress deadline: {}",
            c["message"].as_str().unwrap_or("")
        ));
    }
    let (replicas, updated, available) = (
        n("/status/replicas"),
        n("/status/updatedReplicas"),
        n("/status/availableReplicas"),
    );
    if let Some(want) = v.pointer("/spec/replicas").and_then(Value::as_i64)
        && updated < want
    {
        return Readiness::Pending(format!(
            "{updated} out of {want} new replicas have been updated"
        ));
    }
    if replicas > updated {
        return Readiness::Pending(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ));
    }
    if available < updated {
        return Readiness::Pending(format!(
            "{available} of {updated} updated replicas are available"
        ));
    }
    Readiness::Ready
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(
        generation: i64,
        observed: i64,
        want: i64,
        replicas: i64,
        updated: i64,
        available: i64,
    ) -> Value {
        json!({
            "metadata": {"generation": generation},
            "spec": {"replicas": want},
            "status": {"observedGeneration": observed, "replicas": replicas,
                       "updatedReplicas": updated, "availableReplicas": available}
        })
    }

    fn pending(r: Readiness) -> String {
        match r {
            Readiness::Pending(s) => s,
            Readiness::Ready => "ready".into(),
            Readiness::Failed(s) => format!("failed: {s}"),
        }
    }

    #[test]
    fn rollout_status_like_kubectl() {
        assert_eq!(
            pending(deployment_ready(&deploy(2, 1, 2, 2, 2, 2))),
            "waiting for the deployment spec update to be observed"
        );
        assert_eq!(
            pending(deployment_ready(&deploy(2, 2, 2, 3, 1, 2))),
            "1 out of 2 new replicas have been updated"
        );
        // Every replica updated but an old one still running: not done yet
        // (the old check said ready here).
        assert_eq!(
            pending(deployment_ready(&deploy(2, 2, 2, 3, 2, 3))),
            "1 old replicas are pending termination"
        );
        // New pods crash-looping: updated but not available.
        assert_eq!(
            pending(deployment_ready(&deploy(2, 2, 2, 2, 2, 1))),
            "1 of 2 updated replicas are available"
        );
        assert!(matches!(
            deployment_ready(&deploy(2, 2, 2, 2, 2, 2)),
            Readiness::Ready
        ));
        let mut stalled = deploy(2, 2, 2, 3, 1, 2);
        stalled["status"]["conditions"] = json!([{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-7\" has timed out progressing."}]);
        assert!(
            pending(deployment_ready(&stalled))
                .starts_with("failed: rollout exceeded its progress deadline")
        );
    }
}
