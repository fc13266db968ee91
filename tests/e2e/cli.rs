//! The command-line contract: init never overwrites, every subcommand teaches
//! with examples, kubeconfig is merged and private, token leaks nothing,
//! destructive commands need --yes without a terminal, JSON errors for CI.

use std::os::unix::fs::PermissionsExt;

use crate::common::{Reader, Workspace, unique_name};

#[test]
fn init_writes_a_valid_file_and_never_overwrites_without_force() {
    let ws = Workspace::new();
    ws.run(&["init", "--name", "first", "--region", "eu-west-1"])
        .expect(0);
    let file = ws.path("eksscale.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    assert!(original.contains("name: first"));
    let again = ws.run(&["init", "--name", "second"]).expect(2);
    assert!(again.stderr().contains("--force"), "{}", again.stderr());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    // An invalid name is refused and leaves the file as it was.
    ws.run(&["init", "--force", "--name", "-bad"]).expect(2);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    ws.run(&["init", "--force", "--name", "second"]).expect(0);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("name: second")
    );
}

#[test]
fn every_subcommand_has_help_with_examples() {
    let ws = Workspace::new();
    let top = ws.run(&["--help"]).expect(0).stdout();
    assert!(top.contains("Exit codes"), "{top}");
    for cmd in [
        "init",
        "plan",
        "up",
        "status",
        "down",
        "kubeconfig",
        "token",
        "render",
        "policy",
        "samples",
        "cost",
        "list",
        "reap",
    ] {
        let out = ws.run(&[cmd, "--help"]).expect(0).stdout();
        assert!(
            out.contains("Examples:"),
            "{cmd} --help lacks examples:\n{out}"
        );
    }
}

/// A reader that stops early (`| head`) closes the pipe: a normal end.
#[test]
fn a_closed_stdout_is_a_normal_end_not_a_panic() {
    let ws = Workspace::new();
    ws.config(
        &unique_name("pipe"),
        "us-west-2",
        &format!(
            "  keda:\n    manifest: {}\n",
            crate::common::keda_manifest().display()
        ),
    );
    for (args, reader) in [
        ("render", "head -c 100"),
        ("render -o json", "head -c 100"),
        ("status -o json", "head -1"),
        ("samples", "head -1"),
    ] {
        let cmd = ws.command(&crate::common::endpoint(), &[]);
        let script = format!(
            "'{}' {args} 2>stderr.txt | {reader} >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
            cmd.get_program().to_string_lossy()
        );
        let mut sh = std::process::Command::new("bash");
        sh.arg("-c").arg(&script).current_dir(ws.dir.path());
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                sh.env(k, v);
            }
        }
        let out = sh.output().unwrap();
        let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let stderr = std::fs::read_to_string(ws.path("stderr.txt")).unwrap_or_default();
        assert_eq!(code, "0", "`eksscale {args} | {reader}`: {stderr}");
        assert!(
            !stderr.contains("panicked"),
            "`eksscale {args} | {reader}`: {stderr}"
        );
    }
}

#[test]
fn errors_are_json_for_machines_and_exit_2_for_usage() {
    let ws = Workspace::new();
    let run = ws
        .run(&["plan", "-o", "json", "-f", "missing.yaml"])
        .expect(2);
    let s = run.summary();
    assert_eq!(s["ok"], false);
    assert_eq!(s["exit_code"], 2);
    assert!(s["error"].as_str().unwrap().contains("eksscale init"));
}

#[test]
fn an_unreachable_endpoint_is_not_called_a_credentials_problem() {
    let ws = Workspace::new();
    ws.config(
        &unique_name("noreach"),
        "us-west-2",
        "  keda:\n    enabled: false\n  samples: []\n",
    );
    let mut cmd = ws.command("http://127.0.0.1:9", &["plan", "-o", "json"]);
    let run = crate::common::Run(cmd.output().unwrap()).expect(1);
    let error = run.summary()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("cannot reach AWS STS for region us-west-2 at http://127.0.0.1:9")
            && error.contains("HTTPS_PROXY"),
        "{error}"
    );
    assert!(
        !error.contains("credentials"),
        "not a credentials problem: {error}"
    );
}

#[test]
fn token_takes_the_cluster_from_the_config_file_or_the_flags() {
    let ws = Workspace::new();
    let name = unique_name("tok");
    ws.config(
        &name,
        "eu-west-1",
        "  keda:\n    enabled: false\n  samples: []\n",
    );
    let token = |args: &[&str]| -> String {
        let out = ws.run(args).expect(0).stdout();
        let cred: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(cred["kind"], "ExecCredential");
        let t = cred["status"]["token"].as_str().unwrap();
        let url = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            t.trim_start_matches("k8s-aws-v1."),
        )
        .unwrap();
        String::from_utf8(url).unwrap()
    };
    // From eksscale.yaml: its region's STS endpoint.
    assert!(token(&["token"]).starts_with("https://sts.eu-west-1.amazonaws.com/"));
    // --name and --region win over the file.
    assert!(
        token(&["token", "--name", "other", "--region", "us-east-2"])
            .starts_with("https://sts.us-east-2.amazonaws.com/")
    );
    ws.run(&["token", "-f", "missing.yaml"]).expect(2);
}

#[test]
fn down_refuses_without_a_terminal_unless_yes() {
    let ws = Workspace::new();
    ws.config(
        &unique_name("nodel"),
        "us-west-2",
        "  keda:\n    enabled: false\n  samples: []\n",
    );
    ws.run(&["up"]).expect(0);
    let refused = ws.run(&["down"]).expect(2);
    assert!(refused.stderr().contains("--yes"), "{}", refused.stderr());
    ws.run(&["status", "-o", "json"]).expect(0);
    ws.run(&["down", "--yes"]).expect(0);
}

#[tokio::test]
async fn kubeconfig_is_merged_private_and_uses_eksscale_token() {
    let region = "us-west-2";
    let name = unique_name("kc");
    let ws = Workspace::new();
    ws.config(
        &name,
        region,
        "  vpc:\n    natGateway: none\n  keda:\n    enabled: false\n  samples: []\n",
    );
    // An existing kubeconfig with another cluster, which must survive.
    let kube_dir = ws.path(".kube");
    std::fs::create_dir_all(&kube_dir).unwrap();
    let config = kube_dir.join("config");
    std::fs::write(
        &config,
        "apiVersion: v1\nkind: Config\nclusters: [{name: other, cluster: {server: 'https://other'}}]\nusers: [{name: other, user: {token: x}}]\ncontexts: [{name: other, context: {cluster: other, user: other}}]\ncurrent-context: other\n",
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();

    let up = ws.run(&["up", "-o", "json"]).expect(0).summary();
    assert_eq!(up["steps"]["kubeconfig"]["outcome"], "created", "{up}");
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let kc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let context = format!("eksscale-{region}-{name}");
    assert_eq!(kc["current-context"], context.as_str());
    assert_eq!(
        kc["clusters"].as_array().unwrap().len(),
        2,
        "the other cluster is kept"
    );
    let aws = Reader::new(region).await;
    let c = aws.eks.describe_cluster().name(&name).send().await.unwrap();
    let c = c.cluster().unwrap();
    let cluster = kc["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == context.as_str())
        .unwrap();
    assert_eq!(cluster["cluster"]["server"], c.endpoint().unwrap());
    assert_eq!(
        cluster["cluster"]["certificate-authority-data"],
        c.certificate_authority().unwrap().data().unwrap()
    );
    let user = kc["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == context.as_str())
        .unwrap();
    let exec = &user["user"]["exec"];
    assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1beta1");
    assert!(exec["command"].as_str().unwrap().ends_with("eksscale"));
    assert_eq!(
        exec["args"],
        serde_json::json!(["token", "--name", name, "--region", region])
    );

    // A second up leaves the file alone.
    let again = ws.run(&["up", "-o", "json"]).expect(0).summary();
    assert_eq!(again["steps"]["kubeconfig"]["outcome"], "unchanged");

    // The kubeconfig command: another file, an alias, prints the context name.
    let out = ws.path("alias.kubeconfig");
    let printed = ws
        .run(&[
            "kubeconfig",
            "--out",
            out.to_str().unwrap(),
            "--alias",
            "demo",
        ])
        .expect(0)
        .stdout();
    assert_eq!(printed.trim(), "demo");
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The token the exec entry runs: an ExecCredential that leaks no secret.
    let tok = ws
        .run(&["token", "--name", &name, "--region", region])
        .expect(0);
    let cred: serde_json::Value = serde_json::from_str(tok.stdout().trim()).unwrap();
    assert_eq!(cred["kind"], "ExecCredential");
    assert!(
        cred["status"]["token"]
            .as_str()
            .unwrap()
            .starts_with("k8s-aws-v1.")
    );
    let expires: jiff::Timestamp = cred["status"]["expirationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let ahead = expires.duration_since(jiff::Timestamp::now()).as_secs();
    assert!(
        (13 * 60..=14 * 60).contains(&ahead),
        "expires {ahead}s ahead"
    );
    assert!(
        !tok.stdout().contains("testing") && !tok.stderr().contains("testing"),
        "no key material in output"
    );

    ws.run(&["down", "--yes"]).expect(0);
}
