//! End to end: KEDA installed by `up` on the fake Kubernetes API server, with
//! its AWS identity in the emulator. IRSA and Pod Identity, re-apply
//! unchanged, render validated against the Kubernetes and KEDA schemas, and
//! `down` removing both sides.

use std::process::Command;

use crate::common::{
    FakeHelm, FakeKube, Reader, Workspace, keda_manifest, policy_json, unique_name,
};

fn spec(identity: &str, addons: &str) -> String {
    spec_with(
        identity,
        addons,
        &format!("manifest: {}", keda_manifest().display()),
    )
}

/// The test config with `source` as the last `keda:` line (manifest or installer).
fn spec_with(identity: &str, addons: &str, source: &str) -> String {
    format!(
        "  vpc:\n    zones: 2\n    natGateway: none\n  addons: [{addons}]\n  nodeGroups:\n    - name: general\n      minSize: 1\n      desiredSize: 2\n      maxSize: 3\n  keda:\n    identity: {identity}\n    operatorReplicas: 2\n    {source}\n  samples: [sqs-consumer]\n"
    )
}

fn step_outcomes(
    summary: &serde_json::Value,
    prefix: &str,
) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for (id, s) in summary["steps"].as_object().unwrap() {
        // KEDA's objects only: the sample's (eksscale-samples) are counted
        // by tests/e2e/samples.rs.
        if id.contains("eksscale-samples") || id.starts_with("k8s/samples/") {
            continue;
        }
        let bookkeeping = [
            "k8s/connect",
            "k8s/discovery-refresh",
            "k8s/keda-installer",
            "k8s/keda-identity",
            "k8s/prune",
        ];
        if id.starts_with(prefix) && !bookkeeping.contains(&id.as_str()) {
            let key = s["outcome"]
                .as_str()
                .unwrap_or(s["status"].as_str().unwrap())
                .to_string();
            *m.entry(key).or_default() += 1;
        }
    }
    m
}

/// KEDA's highly available shape, whichever installer put it there: the IRSA
/// annotations, two operator replicas, every Deployment spread over zones and
/// hosts (its own pods), and the operator's PDB.
async fn assert_keda_shape(kube: &FakeKube, deployments: [&str; 3], role_arn: &str) {
    let sa = kube.find("ServiceAccount", "keda-operator").await;
    let ann = &sa["metadata"]["annotations"];
    assert_eq!(ann["eks.amazonaws.com/role-arn"], role_arn);
    assert_eq!(ann["eks.amazonaws.com/sts-regional-endpoints"], "true");
    let op = kube.find("Deployment", deployments[0]).await;
    assert_eq!(op["spec"]["replicas"], 2);
    for d in deployments {
        let d = kube.find("Deployment", d).await;
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
            && t["whenUnsatisfiable"] == "ScheduleAnyway"
            && t["labelSelector"] == d["spec"]["selector"]));
    }
    let pdb = kube.find("PodDisruptionBudget", "keda-operator").await;
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"]["selector"], op["spec"]["selector"]);
}

/// The KEDA operator's live pods.
async fn operator_pods(kube: &FakeKube) -> Vec<serde_json::Value> {
    kube.objects()
        .await
        .into_iter()
        .filter(|o| {
            o["kind"] == "Pod"
                && o["metadata"]["namespace"] == "keda"
                && o["metadata"]["labels"]["app"] == "keda-operator"
                && o["metadata"]["deletionTimestamp"].is_null()
        })
        .collect()
}

/// The environment variable names of a pod's containers.
fn env_names(pod: &serde_json::Value) -> Vec<String> {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn keda_with_irsa_installs_highly_available_and_least_privileged() {
    let region = "eu-central-1";
    let name = unique_name("keda");
    let ws = Workspace::new();
    ws.config(&name, region, &spec("irsa", "vpc-cni, coredns, kube-proxy"));
    let kube = FakeKube::start();
    let kc = kube.kubeconfig(&ws);
    let kc = kc.to_str().unwrap();
    let aws = Reader::new(region).await;

    let up = ws
        .run(&["up", "--kubeconfig", kc, "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(up["ok"], true, "{up}");
    assert_eq!(
        step_outcomes(&up, "k8s/"),
        [("created".to_string(), 25)].into(),
        "24 upstream objects plus the operator PDB"
    );

    // --- The operator role: trust pinned to keda/keda-operator, only the sample queue readable.
    let role_name = eksscale::spec::role_name(&name, region, "keda-operator");
    let role = aws.role(&role_name).await;
    let role = &role;
    let trust = policy_json(role.assume_role_policy_document().unwrap());
    let st = &trust["Statement"][0];
    assert_eq!(st["Action"], "sts:AssumeRoleWithWebIdentity");
    let eq = st["Condition"]["StringEquals"].as_object().unwrap();
    assert_eq!(eq.len(), 2);
    assert!(
        eq.iter()
            .any(|(k, v)| k.ends_with(":sub") && v == "system:serviceaccount:keda:keda-operator")
    );
    assert!(
        eq.iter()
            .any(|(k, v)| k.ends_with(":aud") && v == "sts.amazonaws.com")
    );
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(&role_name)
        .send()
        .await
        .unwrap();
    assert!(
        attached.attached_policies().is_empty(),
        "no managed policies on the KEDA role"
    );
    let inline = aws
        .iam
        .get_role_policy()
        .role_name(&role_name)
        .policy_name("keda-scalers")
        .send()
        .await
        .unwrap();
    let doc = policy_json(inline.policy_document());
    assert_eq!(
        doc["Statement"],
        serde_json::json!([{
            "Sid": "ReadQueueDepthForScaling",
            "Effect": "Allow",
            "Action": ["sqs:GetQueueAttributes"],
            "Resource": [format!("arn:aws:sqs:{region}:123456789012:eksscale-{name}-sqs-consumer")]
        }])
    );

    // --- Kubernetes side: annotated service account, replicas, spread, PDB, labels.
    assert_keda_shape(
        &kube,
        ["keda-operator", "keda-metrics-apiserver", "keda-admission"],
        role.arn(),
    )
    .await;
    let owned: Vec<_> = kube
        .owned(&name)
        .await
        .into_iter()
        .filter(|o| {
            o["metadata"]["labels"]["eksscale.io/sample"].is_null()
                && o["metadata"]["name"] != "eksscale-samples"
        })
        .collect();
    assert_eq!(owned.len(), 25);
    assert!(
        owned
            .iter()
            .all(|o| o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "eksscale")
    );

    // --- Re-run: every object unchanged, no AWS mutation.
    let again = ws
        .run(&["up", "--kubeconfig", kc, "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(
        step_outcomes(&again, "k8s/"),
        [("unchanged".to_string(), 25)].into()
    );
    assert_eq!(again["aws_calls"]["mutating"], 0);
    assert_eq!(
        again["kube_calls"]["write"], 0,
        "a no-op up sends nothing to Kubernetes: {}",
        again["kube_calls"]
    );
    assert_eq!(again["steps"]["k8s/keda-identity"]["outcome"], "unchanged");
    for p in &operator_pods(&kube).await {
        assert!(env_names(p).contains(&"AWS_ROLE_ARN".to_string()), "{p}");
    }

    // --- render writes what up applies, with the real role ARN now, and it validates.
    let out = ws.path("rendered");
    ws.run(&["render", "--out", out.to_str().unwrap()])
        .expect(0);
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(
        files.len(),
        25 + 7,
        "KEDA's 25 and the sample's namespace plus 6 objects"
    );
    let all: String = std::fs::read_dir(&out)
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect();
    assert!(all.contains(role.arn()));
    assert!(!all.contains("EKSSCALE-PLACEHOLDER"));
    let python = std::env::var("EKSSCALE_TEST_PYTHON").expect("run through scripts/test.sh");
    let v = Command::new(python)
        .arg(crate::common::repo_path(
            "tests/fakekube/validate_manifests.py",
        ))
        .args(["--kubernetes-version", "1.35", "--crds"])
        .arg(keda_manifest())
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "rendered manifests must validate:\n{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );

    // --- down: Kubernetes objects first, then AWS; nothing left on either side.
    ws.run(&["down", "--kubeconfig", kc, "--yes"]).expect(0);
    assert!(kube.owned(&name).await.is_empty());
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
    assert!(
        aws.iam
            .get_role()
            .role_name(&role_name)
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn keda_with_pod_identity_uses_an_association_instead_of_annotations() {
    let region = "eu-central-1";
    let name = unique_name("kedapi");
    let ws = Workspace::new();
    ws.config(
        &name,
        region,
        &spec(
            "podIdentity",
            "vpc-cni, coredns, kube-proxy, eks-pod-identity-agent",
        ),
    );
    // The fake API server's Pod Identity webhook looks associations up in the
    // emulator, as the EKS Pod Identity webhook does.
    let endpoint = crate::common::endpoint();
    let kube = FakeKube::start_with(&[
        "--eks-endpoint",
        &endpoint,
        "--cluster-name",
        &name,
        "--aws-region",
        region,
    ]);
    let kc = kube.kubeconfig(&ws);
    let aws = Reader::new(region).await;

    ws.run(&["up", "--kubeconfig", kc.to_str().unwrap()])
        .expect(0);
    let role_name = eksscale::spec::role_name(&name, region, "keda-operator");
    let role = aws.role(&role_name).await;
    let role_arn = role.arn().to_string();
    let trust = policy_json(role.assume_role_policy_document().unwrap());
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "pods.eks.amazonaws.com"
    );
    assert_eq!(
        trust["Statement"][0]["Action"],
        serde_json::json!(["sts:AssumeRole", "sts:TagSession"])
    );

    let assoc = aws
        .eks
        .list_pod_identity_associations()
        .cluster_name(&name)
        .send()
        .await
        .unwrap();
    // KEDA's and the sqs-consumer sample's, each for its own service account.
    let mut pairs: Vec<(String, String)> = assoc
        .associations()
        .iter()
        .map(|a| {
            (
                a.namespace().unwrap_or_default().to_string(),
                a.service_account().unwrap_or_default().to_string(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("eksscale-samples".to_string(), "sqs-consumer".to_string()),
            ("keda".to_string(), "keda-operator".to_string())
        ]
    );
    let assoc: Vec<_> = assoc
        .associations()
        .iter()
        .filter(|a| a.namespace() == Some("keda"))
        .collect();
    let d = aws
        .eks
        .describe_pod_identity_association()
        .cluster_name(&name)
        .association_id(assoc[0].association_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(d.association().unwrap().role_arn(), Some(role_arn.as_str()));
    let sa = kube.find("ServiceAccount", "keda-operator").await;
    assert!(
        sa["metadata"]["annotations"]
            .get("eks.amazonaws.com/role-arn")
            .is_none()
    );
    // The operator's pods got their credentials from the association.
    let pods = operator_pods(&kube).await;
    assert!(!pods.is_empty());
    for p in &pods {
        assert!(
            env_names(p).contains(&"AWS_CONTAINER_CREDENTIALS_FULL_URI".to_string()),
            "{p}"
        );
    }

    ws.run(&["down", "--kubeconfig", kc.to_str().unwrap(), "--yes"])
        .expect(0);
    assert!(kube.owned(&name).await.is_empty());
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
}

#[tokio::test]
async fn missing_manifest_offline_fails_before_anything_is_created() {
    let region = "eu-central-1";
    let name = unique_name("kedaoff");
    let ws = Workspace::new();
    // A manifest URL that cannot be reached (as when offline): the download is
    // the first thing `up` does, so nothing may exist afterwards.
    ws.config(
        &name,
        region,
        &spec_with(
            "irsa",
            "vpc-cni",
            "manifest: https://127.0.0.1:9/keda-2.20.2.yaml\n    manifestSha256: 9bae123eb64fab8f96c67bbd576bb5819e4794df346c5aaa402a01c68b0557ab",
        ),
    );
    let aws = Reader::new(region).await;
    let run = ws.run(&["up"]).expect(1);
    assert!(
        run.stderr().contains("spec.keda.manifest"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        aws.tagged(&name).await,
        Vec::<String>::new(),
        "nothing half-created"
    );
}

#[tokio::test]
async fn keda_with_helm_installs_the_chart_with_generated_values() {
    let region = "eu-central-1";
    let name = unique_name("kedahelm");
    let ws = Workspace::new();
    ws.config(
        &name,
        region,
        &spec_with("irsa", "vpc-cni, coredns, kube-proxy", "installer: helm"),
    );
    let kube = FakeKube::start();
    let kc = kube.kubeconfig(&ws);
    let kc = kc.to_str().unwrap();
    let aws = Reader::new(region).await;

    // --- No helm on PATH: a usage error before any AWS change.
    let empty = ws.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let run = ws
        .run_env(
            &["up", "--kubeconfig", kc, "-o", "json"],
            &[("PATH", empty.into_os_string())],
        )
        .expect(2);
    assert!(
        run.stderr().contains("no `helm` was found on PATH")
            && run.stderr().contains("installer: manifest"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        aws.tagged(&name).await,
        Vec::<String>::new(),
        "nothing half-created"
    );

    // --- With helm: one pinned `upgrade --install` of the kedacore chart.
    let helm = FakeHelm::install(&ws);
    let up = ws
        .run_env(&["up", "--kubeconfig", kc, "-o", "json"], &helm.env())
        .expect(0)
        .summary();
    assert_eq!(up["steps"]["k8s/helm/keda"]["outcome"], "created", "{up}");
    let upgrades: Vec<Vec<String>> = helm
        .calls()
        .into_iter()
        .filter(|c| c[0] == "upgrade")
        .collect();
    assert_eq!(upgrades.len(), 1);
    let call = upgrades[0].join(" ");
    for part in [
        "upgrade --install keda keda",
        "--repo https://kedacore.github.io/charts",
        "--version 2.20.2",
        "--namespace keda --create-namespace",
    ] {
        assert!(call.contains(part), "{call}");
    }
    assert!(call.contains(&format!("--kubeconfig {kc}")), "{call}");

    // What the chart made of the generated values.
    let role_name = eksscale::spec::role_name(&name, region, "keda-operator");
    let role_arn = aws.role(&role_name).await.arn().to_string();
    assert_keda_shape(
        &kube,
        [
            "keda-operator",
            "keda-operator-metrics-apiserver",
            "keda-admission-webhooks",
        ],
        &role_arn,
    )
    .await;
    let op = kube.find("Deployment", "keda-operator").await;
    assert_eq!(
        op["metadata"]["labels"]["eksscale.io/cluster"],
        name.as_str()
    );

    // --- Re-run: no new revision, no AWS mutation.
    let again = ws
        .run_env(&["up", "--kubeconfig", kc, "-o", "json"], &helm.env())
        .expect(0)
        .summary();
    assert_eq!(again["steps"]["k8s/helm/keda"]["outcome"], "unchanged");
    assert_eq!(again["aws_calls"]["mutating"], 0);
    assert_eq!(
        helm.calls().iter().filter(|c| c[0] == "upgrade").count(),
        1,
        "no second upgrade"
    );

    // --- plan reads the release (helm list, get values) and installs nothing.
    let plan = |config: &str, code: i32| {
        ws.config(&name, region, config);
        ws.run_env(
            &["plan", "--kubeconfig", kc, "--exit-code", "-o", "json"],
            &helm.env(),
        )
        .expect(code)
        .summary()
    };
    let same = spec_with("irsa", "vpc-cni, coredns, kube-proxy", "installer: helm");
    let p = plan(&same, 0);
    assert_eq!(
        p["kubernetes"]["helm_release"]["action"], "unchanged",
        "{p}"
    );
    assert_eq!(
        p["kubernetes"]["helm_release"]["chart"], "keda-2.20.2",
        "{p}"
    );
    let mirror = spec_with(
        "irsa",
        "vpc-cni, coredns, kube-proxy",
        "installer: helm\n    imageRegistry: registry.example.com/kedacore",
    );
    let p = plan(&mirror, 3);
    assert_eq!(p["kubernetes"]["helm_release"]["action"], "upgrade", "{p}");
    assert_eq!(p["aws_calls"]["mutating"], 0, "{p}");
    assert_eq!(
        helm.calls().iter().filter(|c| c[0] == "upgrade").count(),
        1,
        "plan upgrades nothing"
    );
    // up upgrades the release; the chart pulls every image from the mirror.
    ws.run_env(&["up", "--kubeconfig", kc, "-o", "json"], &helm.env())
        .expect(0);
    for d in [
        "keda-operator",
        "keda-operator-metrics-apiserver",
        "keda-admission-webhooks",
    ] {
        let image =
            kube.find("Deployment", d).await["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_string();
        assert!(
            image.starts_with("registry.example.com/kedacore/"),
            "{d}: {image}"
        );
    }
    ws.config(&name, region, &same);

    // --- render: the chart values up hands to helm.
    let r = ws.run(&["render", "-o", "json"]).expect(0);
    let r: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(r["installer"], "helm");
    assert_eq!(
        r["values"]["podIdentity"]["aws"]["irsa"]["roleArn"],
        role_arn.as_str()
    );

    // --- down: helm uninstall, then AWS; nothing left on either side.
    ws.run_env(&["down", "--kubeconfig", kc, "--yes"], &helm.env())
        .expect(0);
    assert!(helm.calls().iter().any(|c| c[0] == "uninstall"));
    assert!(
        kube.objects()
            .await
            .iter()
            .all(|o| o["metadata"]["labels"]["eksscale.io/cluster"] != name.as_str()),
        "the release's objects are gone"
    );
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
}
