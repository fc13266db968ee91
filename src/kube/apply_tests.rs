use super::super::object::parse_manifests;
use super::*;
use crate::engine::{self, StepStatus};

/// The fake API server started by scripts/test.sh.
fn fake_server() -> String {
    std::env::var("EKSSCALE_TEST_KUBE").unwrap_or_else(|_| {
            panic!("this test needs the fake Kubernetes API server: run it through scripts/test.sh (which sets EKSSCALE_TEST_KUBE)")
        })
}

fn fake_client() -> kube::Client {
    kube::Client::try_from(kube::Config::new(fake_server().parse().unwrap())).unwrap()
}

async fn applier(cluster: &str) -> Arc<Applier> {
    let a = Applier::new(cluster, false, Duration::from_secs(30));
    a.connect(fake_client());
    Arc::new(a)
}

fn keda_manifest() -> String {
    let path = crate::keda::test_manifest_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("the KEDA manifest at {path}: {e}"))
}

fn outcomes(r: &engine::RunReport) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (id, s) in &r.steps {
        if !id.starts_with("k8s/") || id == "k8s/discovery-refresh" {
            continue;
        }
        let key = match s {
            StepStatus::Done { outcome, .. } => outcome.as_str().to_string(),
            StepStatus::Failed { error, .. } => format!("failed: {id}: {error}"),
            StepStatus::Skipped { reason } => format!("skipped: {id}: {reason}"),
        };
        *m.entry(key).or_default() += 1;
    }
    m
}

#[test]
fn manifests_parse_and_order() {
    let objs = parse_manifests(&keda_manifest()).unwrap();
    assert_eq!(objs.len(), 24);
    assert_eq!(
        objs.iter()
            .filter(|o| o.apply_phase() == ApplyPhase::Foundations)
            .count(),
        7,
        "6 CRDs and the namespace"
    );
    assert_eq!(
        objs.iter()
            .filter(|o| o.apply_phase() == ApplyPhase::Registrations)
            .count(),
        2,
        "APIService and webhook configuration"
    );
}

/// Apply the KEDA manifest and a few objects that use its CRDs; applying
/// again changes nothing; deleting leaves nothing behind.
#[tokio::test]
async fn apply_reapply_and_delete_against_the_fake_api_server() {
    let cluster = format!("apply-{}", std::process::id());
    let a = applier(&cluster).await;
    let mut objs = parse_manifests(&keda_manifest()).unwrap();
    let ns = format!("demo-{}", std::process::id());
    objs.extend(
        parse_manifests(&format!(
            r#"
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: worker, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: worker}}}}
  template:
    metadata: {{labels: {{app: worker}}}}
    spec:
      containers: [{{name: worker, image: "public.ecr.aws/docker/library/busybox:1.36"}}]
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: worker, namespace: {ns}}}
spec:
  scaleTargetRef: {{name: worker}}
  minReplicaCount: 1
  maxReplicaCount: 5
  triggers:
    - type: cron
      metadata: {{timezone: Etc/UTC, start: "0 8 * * *", end: "0 18 * * *", desiredReplicas: "3"}}
"#
        ))
        .unwrap(),
    );
    let (events, cancel) = (EventSink::discard(), Cancel::default());
    let run = |objs: Vec<Object>| {
        let a = a.clone();
        let (events, cancel) = (events.clone(), cancel.clone());
        async move {
            let steps = apply_steps(&a, &objs, &[], &events, &cancel);
            engine::execute(steps, 8, &events, &cancel).await.unwrap()
        }
    };
    let first = run(objs.clone()).await;
    assert_eq!(
        outcomes(&first),
        BTreeMap::from([("created".to_string(), 27)]),
        "{:?}",
        first.steps
    );
    let second = run(objs.clone()).await;
    assert_eq!(
        outcomes(&second),
        BTreeMap::from([("unchanged".to_string(), 27)])
    );

    // Every object carries eksscale's labels.
    let owned = a.find_owned().await.unwrap();
    assert!(owned.len() >= 27, "found {}", owned.len());

    let steps = delete_steps(&a, &owned, &events, &cancel);
    let r = engine::execute(steps, 8, &events, &cancel).await.unwrap();
    assert!(r.is_success(), "{:?}", r.steps);
    assert!(a.find_owned().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_deployment_that_cannot_run_reports_why() {
    let a = Applier::new("fail", false, Duration::from_secs(3));
    a.connect(fake_client());
    let a = Arc::new(a);
    let ns = format!("broken-{}", std::process::id());
    let objs = parse_manifests(&format!(
        r#"
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web}}
      annotations: {{fakekube.eksscale.io/fail: ImagePullBackOff}}
    spec:
      containers: [{{name: web, image: "example.invalid/web:1"}}]
"#
    ))
    .unwrap();
    let (events, cancel) = (EventSink::discard(), Cancel::default());
    let steps = apply_steps(&a, &objs, &[], &events, &cancel);
    let r = engine::execute(steps, 4, &events, &cancel).await.unwrap();
    let err = match &r.steps[&format!("k8s/Deployment/{ns}/web")] {
        StepStatus::Failed { error, .. } => error.clone(),
        other => panic!("expected a failure, got {other:?}"),
    };
    assert!(err.contains("timed out"), "{err}");
    assert!(
        err.contains("ImagePullBackOff"),
        "the reason is shown: {err}"
    );
}
