//! End to end: what a real API server makes eksscale handle over a cluster's
//! life: a cluster name too long for a label, pruning what the config no
//! longer asks for, KEDA turned off, users' KEDA objects at `down`, and an
//! API server that fails some reads.

use crate::common::{FakeKube, Reader, Workspace, keda_manifest, unique_name};

/// The `keda:` line that picks the installer.
fn source(installer: &str) -> String {
    match installer {
        "helm" => "installer: helm".into(),
        _ => format!("manifest: {}", keda_manifest().display()),
    }
}

fn config(ws: &Workspace, name: &str, region: &str, enabled: bool, replicas: u8) {
    ws.config_file(
        "keda-lifecycle.yaml",
        &[
            ("name", name),
            ("region", region),
            ("enabled", if enabled { "true" } else { "false" }),
            ("replicas", &replicas.to_string()),
            ("source", &source("manifest")),
        ],
    );
}

/// A user's namespace with a Deployment, a ScaledObject and a
/// TriggerAuthentication (KEDA adds its finalizer to both).
async fn user_scaled_object(kube: &FakeKube) {
    kube.create(
        "/api/v1/namespaces",
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}),
    )
    .await;
    kube.create(
        "/apis/keda.sh/v1alpha1/namespaces/apps/triggerauthentications",
        serde_json::json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
            "metadata": {"name": "aws", "namespace": "apps"},
            "spec": {"podIdentity": {"provider": "aws"}}
        }),
    )
    .await;
    kube.create(
        "/apis/keda.sh/v1alpha1/namespaces/apps/scaledobjects",
        serde_json::json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": "worker", "namespace": "apps"},
            "spec": {
                "scaleTargetRef": {"name": "worker"},
                "triggers": [{"type": "cron", "metadata": {
                    "timezone": "Etc/UTC", "start": "0 8 * * *", "end": "0 18 * * *", "desiredReplicas": "2"
                }}]
            }
        }),
    )
    .await;
}

fn valid_label_value(v: &str) -> bool {
    v.len() <= 63
        && (v.is_empty()
            || (v.starts_with(|c: char| c.is_ascii_alphanumeric())
                && v.ends_with(|c: char| c.is_ascii_alphanumeric())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))))
}

#[tokio::test]
async fn a_100_character_cluster_name_ending_in_a_dash_gets_valid_labels() {
    let region = "us-east-2";
    let mut name = unique_name("long");
    while name.len() < 99 {
        name.push('x');
    }
    name.push('-');
    assert_eq!(name.len(), 100);
    let ws = Workspace::new();
    config(&ws, &name, region, true, 2);
    let kube = FakeKube::start();
    let kc = kube.kubeconfig(&ws);
    let kc = kc.to_str().unwrap();
    ws.run(&["up", "--kubeconfig", kc]).expect(0);

    let owned: Vec<_> = kube
        .objects()
        .await
        .into_iter()
        .filter(|o| o["metadata"]["annotations"]["eksscale.io/cluster-name"] == name.as_str())
        .collect();
    assert_eq!(owned.len(), 25, "every object carries the full name");
    for o in &owned {
        for (k, v) in o["metadata"]["labels"].as_object().unwrap() {
            assert!(
                valid_label_value(v.as_str().unwrap()),
                "{k}={v} on {}",
                o["metadata"]["name"]
            );
        }
    }
    ws.run(&["down", "--kubeconfig", kc, "--yes"]).expect(0);
    assert!(
        kube.objects()
            .await
            .iter()
            .all(|o| o["metadata"]["annotations"]["eksscale.io/cluster-name"] != name.as_str())
    );
}

#[tokio::test]
async fn fewer_replicas_prune_the_pdb_and_keda_off_uninstalls_it_users_objects_first() {
    let region = "eu-west-1";
    let name = unique_name("prune");
    let ws = Workspace::new();
    let kube = FakeKube::start();
    let kc = kube.kubeconfig(&ws);
    let kc = kc.to_str().unwrap();
    let aws = Reader::new(region).await;

    config(&ws, &name, region, true, 2);
    ws.run(&["up", "--kubeconfig", kc]).expect(0);
    assert_eq!(kube.of_kind("PodDisruptionBudget").await.len(), 1);

    // operatorReplicas 2 -> 1: the PDB (minAvailable 1 of 1 would block
    // every drain) is removed, shown in the summary.
    config(&ws, &name, region, true, 1);
    // plan shows it first, and says changes are pending.
    let plan = ws
        .run(&["plan", "--kubeconfig", kc, "--exit-code", "-o", "json"])
        .expect(3)
        .summary();
    assert_eq!(
        plan["kubernetes"]["delete"],
        serde_json::json!(["k8s/PodDisruptionBudget/keda/keda-operator"]),
        "{plan}"
    );
    assert!(plan["kubernetes"]["create"].as_array().unwrap().is_empty());
    // plan reads, never writes.
    assert_eq!(plan["kube_calls"]["write"], 0, "{plan}");
    assert!(plan["kube_calls"]["read"].as_u64().unwrap() > 0, "{plan}");
    assert_eq!(plan["aws_calls"]["mutating"], 0, "{plan}");
    let up = ws
        .run(&["up", "--kubeconfig", kc, "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(up["steps"]["k8s/prune"]["outcome"], "deleted", "{up}");
    assert!(
        up["steps"]["k8s/prune"]["detail"]
            .as_str()
            .unwrap()
            .contains("k8s/PodDisruptionBudget/keda/keda-operator")
    );
    assert!(kube.of_kind("PodDisruptionBudget").await.is_empty());
    let again = ws
        .run(&["up", "--kubeconfig", kc, "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(again["steps"]["k8s/prune"]["outcome"], "unchanged");
    let plan = ws
        .run(&["plan", "--kubeconfig", kc, "--exit-code", "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(plan["kubernetes"]["unchanged"], 24, "{plan}");

    // keda.enabled: false with a user's ScaledObject in the cluster: the
    // custom resources go first (the operator removes KEDA's finalizer),
    // then KEDA, then its CRDs; then its role.
    user_scaled_object(&kube).await;
    config(&ws, &name, region, false, 1);
    let off = ws
        .run(&["up", "--kubeconfig", kc, "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(
        off["steps"]["k8s/keda-custom-resources"]["outcome"], "deleted",
        "{off}"
    );
    assert!(kube.owned(&name).await.is_empty());
    for kind in [
        "ScaledObject",
        "TriggerAuthentication",
        "CustomResourceDefinition",
        "Deployment",
    ] {
        let left: Vec<_> = kube
            .of_kind(kind)
            .await
            .into_iter()
            .filter(|o| o["metadata"]["namespace"] != "kube-system")
            .collect();
        assert!(left.is_empty(), "{kind} left: {left:?}");
    }
    let role = eksscale::spec::role_name(&name, region, "keda-operator");
    assert!(aws.iam.get_role().role_name(&role).send().await.is_err());
    ws.run(&["down", "--kubeconfig", kc, "--yes"]).expect(0);
}

#[tokio::test]
async fn down_deletes_users_keda_objects_while_the_operator_runs() {
    let region = "eu-west-1";
    let name = unique_name("kdown");
    let ws = Workspace::new();
    let kube = FakeKube::start();
    let kc = kube.kubeconfig(&ws);
    let kc = kc.to_str().unwrap();
    config(&ws, &name, region, true, 2);
    ws.run(&["up", "--kubeconfig", kc]).expect(0);
    user_scaled_object(&kube).await;

    let started = std::time::Instant::now();
    ws.run(&["down", "--kubeconfig", kc, "--yes"]).expect(0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "down waited on a finalizer: {:?}",
        started.elapsed()
    );
    for kind in [
        "ScaledObject",
        "TriggerAuthentication",
        "CustomResourceDefinition",
    ] {
        assert!(kube.of_kind(kind).await.is_empty(), "{kind} left");
    }
}

#[tokio::test]
async fn an_api_server_failing_a_tenth_of_reads_does_not_fail_up() {
    let region = "ap-southeast-2";
    let name = unique_name("flaky");
    let ws = Workspace::new();
    let kube = FakeKube::start_with(&[
        "--fail-rate",
        "0.1",
        "--fail-reads-only",
        "--fail-seed",
        "11",
    ]);
    let kc = kube.kubeconfig(&ws);
    let kc = kc.to_str().unwrap();
    config(&ws, &name, region, true, 2);
    ws.run(&["up", "--kubeconfig", kc]).expect(0);
    let stats: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!("{}/_fake/requests", kube.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let faults = &stats["faults"];
    let injected: u64 = ["500", "503", "reset"]
        .iter()
        .map(|k| faults[*k].as_u64().unwrap_or(0))
        .sum();
    assert!(injected > 0, "no fault was injected: {stats}");
    ws.run(&["down", "--kubeconfig", kc, "--yes"]).expect(0);
}

fn switch_config(ws: &Workspace, name: &str, region: &str, installer: &str, enabled: bool) {
    ws.config_file(
        "keda-lifecycle.yaml",
        &[
            ("name", name),
            ("region", region),
            ("enabled", if enabled { "true" } else { "false" }),
            ("replicas", "2"),
            ("source", &source(installer)),
        ],
    );
}

/// How many KEDA operators the cluster runs, and the CRDs' owners.
async fn keda_census(kube: &FakeKube) -> (usize, Vec<String>) {
    let operators = kube
        .of_kind("Deployment")
        .await
        .iter()
        .filter(|d| d["metadata"]["name"] == "keda-operator")
        .count();
    let crds = kube
        .of_kind("CustomResourceDefinition")
        .await
        .iter()
        .filter(|c| c["metadata"]["name"].as_str().unwrap().ends_with("keda.sh"))
        .map(|c| {
            c["metadata"]["labels"]["app.kubernetes.io/managed-by"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    (operators, crds)
}

#[tokio::test]
async fn switching_installers_keeps_one_keda_and_the_users_scaled_objects() {
    let region = "eu-north-1";
    let name = unique_name("switch");
    let ws = Workspace::new();
    let kube = FakeKube::start();
    let kc = kube.kubeconfig(&ws);
    let kc = kc.to_str().unwrap();
    let helm = crate::common::FakeHelm::install(&ws);
    let env = helm.env();
    let up = |installer: &str, enabled: bool| {
        switch_config(&ws, &name, region, installer, enabled);
        ws.run_env(&["up", "--kubeconfig", kc, "-o", "json"], &env)
            .expect(0)
            .summary()
    };

    up("manifest", true);
    user_scaled_object(&kube).await;
    assert_eq!(keda_census(&kube).await, (1, vec!["eksscale".into(); 6]));

    // manifest -> helm: the manifest's objects go, helm adopts the CRDs
    // (so the user's ScaledObject survives), one operator.
    let s = up("helm", true);
    assert_eq!(
        s["steps"]["k8s/keda-installer"]["outcome"], "updated",
        "{s}"
    );
    assert_eq!(keda_census(&kube).await, (1, vec!["Helm".into(); 6]));
    let left: Vec<String> = kube
        .owned(&name)
        .await
        .iter()
        .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "eksscale")
        .map(|o| format!("{} {}", o["kind"], o["metadata"]["name"]))
        .collect();
    assert!(
        left.is_empty(),
        "nothing of the manifest install is left labelled as eksscale's: {left:?}"
    );
    assert_eq!(kube.of_kind("ScaledObject").await.len(), 1);

    // helm -> manifest: the release is uninstalled but keeps the CRDs.
    let s = up("manifest", true);
    assert_eq!(
        s["steps"]["k8s/keda-installer"]["outcome"], "updated",
        "{s}"
    );
    assert!(
        helm.calls().iter().any(|c| c[0] == "uninstall"),
        "{:?}",
        helm.calls()
    );
    assert_eq!(keda_census(&kube).await, (1, vec!["eksscale".into(); 6]));
    assert_eq!(kube.of_kind("ScaledObject").await.len(), 1);
    let again = up("manifest", true);
    assert_eq!(again["kube_calls"]["write"], 0, "{}", again["kube_calls"]);

    // enabled: false: no KEDA at all, nothing of eksscale's left.
    up("manifest", false);
    assert_eq!(keda_census(&kube).await, (0, vec![]));
    assert!(kube.owned(&name).await.is_empty());
    ws.run_env(&["down", "--kubeconfig", kc, "--yes"], &env)
        .expect(0);
}

#[tokio::test]
async fn a_helm_older_than_3_7_is_refused_before_any_change() {
    let region = "eu-north-1";
    let name = unique_name("oldhelm");
    let ws = Workspace::new();
    switch_config(&ws, &name, region, "helm", true);
    let helm = crate::common::FakeHelm::install(&ws);
    let mut env = helm.env();
    env.push(("FAKEHELM_VERSION", "v3.6.3+gd506314".into()));
    let run = ws.run_env(&["up"], &env).expect(2);
    assert!(
        run.stderr().contains("Helm 3.7 or later"),
        "{}",
        run.stderr()
    );
    let aws = Reader::new(region).await;
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_missing_kubeconfig_or_context_is_a_usage_error_before_any_change() {
    let region = "eu-north-1";
    let name = unique_name("nokc");
    let ws = Workspace::new();
    config(&ws, &name, region, true, 2);
    let missing = ws.path("nope.kubeconfig");
    let run = ws
        .run(&["up", "--kubeconfig", missing.to_str().unwrap()])
        .expect(2);
    assert!(run.stderr().contains("nope.kubeconfig"), "{}", run.stderr());
    let kube = FakeKube::start();
    let kc = kube.kubeconfig(&ws);
    let run = ws
        .run(&[
            "up",
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--context",
            "staging",
        ])
        .expect(2);
    assert!(run.stderr().contains("staging"), "{}", run.stderr());
    let aws = Reader::new(region).await;
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
}
