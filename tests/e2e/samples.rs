//! End to end: the sample workloads. Queues with SSE and a dead-letter
//! queue, a consumer role scoped to its queue, every object applied after
//! KEDA, nothing changed by a second `up`, pruning, `samples load`, the
//! rendered objects validated (kubernetes-validate, KEDA's CRD schemas,
//! checkov, the spread simulation), a user's templates, bad input, `down`.

use std::collections::BTreeSet;

use aws_sdk_sqs::types::QueueAttributeName;

use crate::common::{
    FakeKube, Reader, Workspace, keda_manifest, policy_json, repo_path, unique_name,
};

const ALL: &str = "[sqs-consumer, cron-scaler, cpu-scaler]";

fn config(ws: &Workspace, name: &str, region: &str, samples: &str, extra: &str) {
    ws.config_file(
        "samples.yaml",
        &[
            ("name", name),
            ("region", region),
            ("identity", "irsa"),
            ("manifest", keda_manifest().to_str().unwrap()),
            ("samples", samples),
            ("extra", extra),
        ],
    );
}

/// (kind, name) of every object of the samples namespace.
async fn sample_objects(kube: &FakeKube) -> BTreeSet<(String, String)> {
    kube.objects()
        .await
        .into_iter()
        .filter(|o| {
            o["metadata"]["namespace"] == "eksscale-samples"
                && !o["metadata"]["labels"]["eksscale.io/sample"].is_null()
        })
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_string(),
                o["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn queue_attributes(
    aws: &Reader,
    name: &str,
) -> std::collections::HashMap<QueueAttributeName, String> {
    let url = aws
        .sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("queue {name}: {e}"))
        .queue_url
        .unwrap();
    aws.sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default()
}

#[tokio::test]
async fn samples_are_created_left_alone_pruned_loaded_validated_and_removed() {
    let region = "us-east-2";
    let name = unique_name("samples");
    let ws = Workspace::new();
    config(&ws, &name, region, ALL, "");
    let kube = FakeKube::start();
    let kc = kube.kubeconfig(&ws);
    let kc = kc.to_str().unwrap();
    let aws = Reader::new(region).await;

    let up = ws
        .run(&["up", "--kubeconfig", kc, "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(up["ok"], true, "{up}");

    // --- The queue and its DLQ: SSE, redrive, tags.
    let queue = format!("eksscale-{name}-sqs-consumer");
    let q = queue_attributes(&aws, &queue).await;
    let dlq = queue_attributes(&aws, &format!("{queue}-dlq")).await;
    assert_eq!(q[&QueueAttributeName::SqsManagedSseEnabled], "true");
    assert_eq!(dlq[&QueueAttributeName::SqsManagedSseEnabled], "true");
    let redrive: serde_json::Value =
        serde_json::from_str(&q[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"],
        dlq[&QueueAttributeName::QueueArn].as_str()
    );
    let queue_arn = q[&QueueAttributeName::QueueArn].clone();

    // --- The consumer's role: its own service account, its own queue, four actions.
    let role_name = eksscale::spec::role_name(&name, region, "sample-sqs-consumer");
    let role = aws.role(&role_name).await;
    let trust = policy_json(role.assume_role_policy_document().unwrap());
    let eq = trust["Statement"][0]["Condition"]["StringEquals"]
        .as_object()
        .unwrap();
    assert!(
        eq.iter().any(|(k, v)| k.ends_with(":sub")
            && v == "system:serviceaccount:eksscale-samples:sqs-consumer"),
        "{trust}"
    );
    let inline = aws
        .iam
        .get_role_policy()
        .role_name(&role_name)
        .policy_name("consume-queue")
        .send()
        .await
        .unwrap();
    let doc = policy_json(inline.policy_document());
    assert_eq!(
        doc["Statement"],
        serde_json::json!([{
            "Sid": "ConsumeTheSampleQueue",
            "Effect": "Allow",
            "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            "Resource": queue_arn,
        }])
    );

    // --- Every sample object, applied after KEDA, pointing at the queue and role.
    let objects = sample_objects(&kube).await;
    for sample in ["sqs-consumer", "cron-scaler", "cpu-scaler"] {
        for kind in ["Deployment", "ScaledObject", "PodDisruptionBudget"] {
            assert!(
                objects.contains(&(kind.to_string(), sample.to_string())),
                "{kind} {sample} missing: {objects:?}"
            );
        }
    }
    let so = kube.find("ScaledObject", "sqs-consumer").await;
    assert!(
        so["spec"]["triggers"][0]["metadata"]["queueURL"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/123456789012/{queue}"))
    );
    let sa = kube.find("ServiceAccount", "sqs-consumer").await;
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        role.arn()
    );
    let ns = kube.find("Namespace", "eksscale-samples").await;
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );

    // --- A second up changes nothing, in AWS or in Kubernetes.
    let again = ws
        .run(&["up", "--kubeconfig", kc, "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(again["aws_calls"]["mutating"], 0, "{}", again["aws_calls"]);
    assert_eq!(again["kube_calls"]["write"], 0, "{}", again["kube_calls"]);

    // --- The rendered objects validate: schemas, KEDA's CRDs, checkov, spread.
    let out = ws.path("rendered");
    ws.run(&["render", "--out", out.to_str().unwrap()])
        .expect(0);
    let python = std::env::var("EKSSCALE_TEST_PYTHON").unwrap();
    let check = std::process::Command::new(python)
        .arg(repo_path("tests/samples/validate_samples.py"))
        .arg(&out)
        .args(["--kubernetes-version", "1.35", "--keda-manifest"])
        .arg(keda_manifest())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "validate_samples.py: {}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // --- Load: 25 messages wait in the queue (nothing consumes in the fakes).
    let load = ws
        .run(&[
            "samples",
            "load",
            "sqs-consumer",
            "--messages",
            "25",
            "-o",
            "json",
        ])
        .expect(0)
        .summary();
    assert_eq!(load["sent"], 25, "{load}");
    let q = queue_attributes(&aws, &queue).await;
    assert_eq!(q[&QueueAttributeName::ApproximateNumberOfMessages], "25");
    // --watch: nobody consumes here, so the queue does not drain (exit 1);
    // the readings show the depth and the Deployment's replicas.
    let watched = ws
        .run(&[
            "samples",
            "load",
            "sqs-consumer",
            "--messages",
            "0",
            "--watch",
            "--timeout",
            "5s",
            "--interval",
            "1s",
            "--kubeconfig",
            kc,
            "-o",
            "json",
        ])
        .expect(1)
        .summary();
    let readings = watched["watch"]["readings"].as_array().unwrap();
    assert!(readings.len() >= 2, "{watched}");
    assert_eq!(readings[0]["depth"], 25, "{watched}");
    assert!(readings[0]["desired"].is_u64(), "{watched}");
    assert_eq!(watched["watch"]["drained"], false);

    // --- A sample taken out of the config is pruned (scaled object first).
    config(&ws, &name, region, "[sqs-consumer, cron-scaler]", "");
    let pruned = ws
        .run(&["up", "--kubeconfig", kc, "-o", "json"])
        .expect(0)
        .summary();
    let detail = pruned["steps"]["k8s/prune"]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("k8s/ScaledObject/eksscale-samples/cpu-scaler")
            && detail.contains("k8s/Deployment/eksscale-samples/cpu-scaler"),
        "{pruned}"
    );
    assert!(
        sample_objects(&kube)
            .await
            .iter()
            .all(|(_, n)| n != "cpu-scaler")
    );

    // --- down: the Kubernetes objects, the queues, the roles; nothing left.
    ws.run(&["down", "--kubeconfig", kc, "--yes"]).expect(0);
    assert!(sample_objects(&kube).await.is_empty());
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_users_templates_add_a_sample_override_one_and_get_default_spread() {
    let region = "us-east-2";
    let name = unique_name("mysamples");
    let ws = Workspace::new();
    let dir = ws.path("my-samples");
    let hello = dir.join("hello");
    std::fs::create_dir_all(&hello).unwrap();
    std::fs::write(hello.join("sample.yaml"), "description: Says hello.\n").unwrap();
    std::fs::write(
        hello.join("10-app.yaml.j2"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ sample | tojson }}\nspec:\n  selector:\n    matchLabels: {app: hello}\n  template:\n    metadata:\n      labels: {app: hello}\n    spec:\n      containers:\n        - name: hello\n          image: public.ecr.aws/nginx/nginx-unprivileged:1.29.1-alpine\n",
    )
    .unwrap();
    let cron = dir.join("cron-scaler");
    std::fs::create_dir_all(&cron).unwrap();
    std::fs::write(cron.join("sample.yaml"), "description: My own cron.\n").unwrap();
    std::fs::write(
        cron.join("10-marker.yaml.j2"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cron-scaler-is-mine\ndata:\n  cluster: {{ cluster | tojson }}\n  zones: {{ zones | join(\",\") | tojson }}\n",
    )
    .unwrap();
    config(
        &ws,
        &name,
        region,
        "[hello, cron-scaler]",
        "  templatesDir: my-samples",
    );

    let listed = ws.run(&["samples", "-o", "json"]).expect(0).summary();
    let names: Vec<&str> = listed["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["cpu-scaler", "cron-scaler", "hello", "sqs-consumer"]
    );
    let cron_listed = &listed["samples"][1];
    assert_eq!(cron_listed["overrides_built_in"], true);
    assert_eq!(cron_listed["selected"], true);

    let kube = FakeKube::start();
    let kc = kube.kubeconfig(&ws);
    let up = ws
        .run(&["up", "--kubeconfig", kc.to_str().unwrap()])
        .expect(0);
    assert!(
        up.stderr()
            .contains("Deployment hello has no topologySpreadConstraints"),
        "{}",
        up.stderr()
    );
    let d = kube.find("Deployment", "hello").await;
    let tsc = d["spec"]["template"]["spec"]["topologySpreadConstraints"]
        .as_array()
        .unwrap();
    let keys: Vec<&str> = tsc
        .iter()
        .map(|t| t["topologyKey"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    );
    assert!(tsc.iter().all(|t| t["maxSkew"] == 1
        && t["labelSelector"] == serde_json::json!({"matchLabels": {"app": "hello"}})
        && t["matchLabelKeys"] == serde_json::json!(["pod-template-hash"])));
    let marker = kube.find("ConfigMap", "cron-scaler-is-mine").await;
    assert_eq!(marker["data"]["cluster"], name.as_str());
    let objects = sample_objects(&kube).await;
    assert!(
        !objects.contains(&("ScaledObject".into(), "cron-scaler".into())),
        "the built-in cron-scaler was replaced: {objects:?}"
    );
    // No queue sample: no queue, no consumer role.
    let aws = Reader::new(region).await;
    assert!(
        aws.tagged(&name)
            .await
            .iter()
            .all(|t| !t.starts_with("queue ") && !t.contains("sample-"))
    );
    ws.run(&["down", "--kubeconfig", kc.to_str().unwrap(), "--yes"])
        .expect(0);
}

#[tokio::test]
async fn bad_samples_are_usage_errors_before_any_aws_call() {
    let region = "us-east-2";
    let name = unique_name("badsamples");
    let ws = Workspace::new();
    let aws = Reader::new(region).await;
    let expect_2 = |samples: &str, extra: &str, wanted: &[&str]| {
        config(&ws, &name, region, samples, extra);
        let run = ws.run(&["up"]).expect(2);
        for w in wanted {
            assert!(run.stderr().contains(w), "{w:?} not in: {}", run.stderr());
        }
    };
    expect_2(
        "[sqs-consumr]",
        "",
        &["sqs-consumr", "did you mean \"sqs-consumer\""],
    );
    expect_2(
        "[cron-scaler]",
        "  templatesDir: nope",
        &["spec.templatesDir", "nope"],
    );
    let dir = ws.path("broken");
    let s = dir.join("broken");
    std::fs::create_dir_all(&s).unwrap();
    std::fs::write(s.join("sample.yaml"), "description: broken\n").unwrap();
    std::fs::write(
        s.join("10-a.yaml.j2"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  q: {{ queue.url | tojson }}\n",
    )
    .unwrap();
    expect_2(
        "[broken]",
        "  templatesDir: broken",
        &["10-a.yaml.j2:6", "queue.url"],
    );
    expect_2(
        "[nosuch]",
        "  templatesDir: broken",
        &["available samples: broken, cpu-scaler, cron-scaler, sqs-consumer"],
    );
    std::fs::write(
        s.join("10-a.yaml.j2"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
    )
    .unwrap();
    expect_2(
        "[broken]",
        "  templatesDir: broken",
        &["without metadata.name"],
    );
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
}
