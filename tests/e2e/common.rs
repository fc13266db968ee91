//! Support for end-to-end tests: run the built `eksscale` binary against the
//! AWS emulator that `scripts/test.sh` starts, and read AWS back with plain
//! SDK clients (an independent reader, not eksscale's own discovery).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::BehaviorVersion;
use aws_types::region::Region;

/// The emulator endpoint; panics with instructions when it is not running.
pub fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(e) if !e.is_empty() => e,
        _ => panic!(
            "this test needs the AWS emulator: run it through `scripts/test.sh` \
             (which starts moto and sets AWS_ENDPOINT_URL), or start \
             `.venv/bin/python tests/emulator/server.py --port-file /tmp/p` and export \
             AWS_ENDPOINT_URL=http://127.0.0.1:$(cat /tmp/p) AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
        ),
    }
}

/// A cluster name no other test uses (tests share one emulator).
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `eksscale.yaml` for `name` in `region` with `spec` (YAML under `spec:`).
    pub fn config(&self, name: &str, region: &str, spec: &str) -> PathBuf {
        let p = self.path("eksscale.yaml");
        let text = format!(
            "apiVersion: eksscale.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: {name}\n  region: {region}\n  tags:\n    team: e2e\nspec:\n{spec}"
        );
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// Writes `eksscale.yaml` from `tests/configs/<template>`, with `${name}`,
    /// `${region}` and every other `${key}` of `vars` filled in.
    pub fn config_file(&self, template: &str, vars: &[(&str, &str)]) -> PathBuf {
        let mut text = std::fs::read_to_string(repo_path(&format!("tests/configs/{template}")))
            .unwrap_or_else(|e| panic!("tests/configs/{template}: {e}"));
        for (k, v) in vars {
            text = text.replace(&format!("${{{k}}}"), v);
        }
        assert!(
            !text.contains("${"),
            "tests/configs/{template} has a placeholder no test filled in:\n{text}"
        );
        let p = self.path("eksscale.yaml");
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// Runs eksscale in this workspace against the shared emulator.
    pub fn run(&self, args: &[&str]) -> Run {
        Run(self
            .command(&endpoint(), args)
            .output()
            .expect("run eksscale"))
    }

    /// [`Workspace::run`] with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, std::ffi::OsString)]) -> Run {
        let mut cmd = self.command(&endpoint(), args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run(cmd.output().expect("run eksscale"))
    }
}

/// tests/fakehelm as `helm` on a PATH of its own, with its state and call
/// log in the workspace.
pub struct FakeHelm {
    pub bin: PathBuf,
    pub state: PathBuf,
    pub log: PathBuf,
}

impl FakeHelm {
    pub fn install(ws: &Workspace) -> Self {
        let python = std::env::var("EKSSCALE_TEST_PYTHON").unwrap_or_else(|_| {
            panic!("the fake helm runs with the test venv: run this test through scripts/test.sh (sets EKSSCALE_TEST_PYTHON)")
        });
        let bin = ws.path("helm-bin");
        std::fs::create_dir_all(&bin).unwrap();
        let helm = bin.join("helm");
        std::fs::write(
            &helm,
            format!(
                "#!/bin/sh\nexec '{python}' '{}' \"$@\"\n",
                repo_path("tests/fakehelm/helm.py").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self {
            bin,
            state: ws.path("helm-state.json"),
            log: ws.path("helm-calls.jsonl"),
        }
    }

    /// PATH with the fake helm first, and where it keeps state.
    pub fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let mut path = std::ffi::OsString::from(&self.bin);
        if let Some(p) = std::env::var_os("PATH") {
            path.push(":");
            path.push(p);
        }
        vec![
            ("PATH", path),
            ("FAKEHELM_STATE", self.state.clone().into()),
            ("FAKEHELM_LOG", self.log.clone().into()),
        ]
    }

    /// Every call so far, as argv lists.
    pub fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Asserts the exit code, showing all output when it differs.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    /// The last stdout line, parsed as the JSON summary of `-o json`.
    pub fn summary(&self) -> serde_json::Value {
        let out = self.stdout();
        let last = out
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("no JSON summary on stdout; stderr:\n{}", self.stderr()));
        serde_json::from_str(last).unwrap_or_else(|e| panic!("summary is not JSON ({e}): {last}"))
    }
    /// JSON event lines before the summary.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let out = self.stdout();
        let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[..lines.len().saturating_sub(1)]
            .iter()
            .map(|l| serde_json::from_str(l).expect("event line is JSON"))
            .collect()
    }
}

/// Independent AWS clients pointed at the emulator.
pub struct Reader {
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub eks: aws_sdk_eks::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Reader {
    pub async fn new(region: &str) -> Self {
        Self::at(&endpoint(), region).await
    }

    /// A reader for an emulator of the test's own.
    pub async fn at(url: &str, region: &str) -> Self {
        let creds =
            aws_credential_types::Credentials::new("testing", "testing", None, None, "tests");
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(url)
            .credentials_provider(creds)
            .load()
            .await;
        Self {
            ec2: aws_sdk_ec2::Client::new(&sdk),
            iam: aws_sdk_iam::Client::new(&sdk),
            eks: aws_sdk_eks::Client::new(&sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            elb: aws_sdk_elasticloadbalancing::Client::new(&sdk),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
        }
    }

    pub fn tag_filter(cluster: &str) -> aws_sdk_ec2::types::Filter {
        aws_sdk_ec2::types::Filter::builder()
            .name("tag:eksscale.io/cluster")
            .values(cluster)
            .build()
    }

    /// Every EC2/IAM resource still tagged for `cluster` (NAT gateways in
    /// state deleted do not count), as "kind id" strings.
    /// The IAM role `name`; panics when it does not exist.
    pub async fn role(&self, name: &str) -> aws_sdk_iam::types::Role {
        self.iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("role {name}: {e}"))
            .role
            .expect("GetRole returns the role")
    }

    pub async fn tagged(&self, cluster: &str) -> Vec<String> {
        let mut out = Vec::new();
        let f = || Self::tag_filter(cluster);
        let vpcs = self.ec2.describe_vpcs().filters(f()).send().await.unwrap();
        out.extend(
            vpcs.vpcs()
                .iter()
                .map(|v| format!("vpc {}", v.vpc_id().unwrap())),
        );
        let subnets = self
            .ec2
            .describe_subnets()
            .filters(f())
            .send()
            .await
            .unwrap();
        out.extend(
            subnets
                .subnets()
                .iter()
                .map(|s| format!("subnet {}", s.subnet_id().unwrap())),
        );
        let igws = self
            .ec2
            .describe_internet_gateways()
            .filters(f())
            .send()
            .await
            .unwrap();
        out.extend(
            igws.internet_gateways()
                .iter()
                .map(|g| format!("igw {}", g.internet_gateway_id().unwrap())),
        );
        let eips = self
            .ec2
            .describe_addresses()
            .filters(f())
            .send()
            .await
            .unwrap();
        out.extend(
            eips.addresses()
                .iter()
                .map(|a| format!("eip {}", a.allocation_id().unwrap())),
        );
        let rts = self
            .ec2
            .describe_route_tables()
            .filters(f())
            .send()
            .await
            .unwrap();
        out.extend(
            rts.route_tables()
                .iter()
                .map(|r| format!("route-table {}", r.route_table_id().unwrap())),
        );
        for n in self.nat_gateways(cluster).await {
            out.push(format!("nat {}", n.nat_gateway_id().unwrap()));
        }
        let roles: Vec<aws_sdk_iam::types::Role> = self
            .iam
            .list_roles()
            .path_prefix("/eksscale/")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap();
        for r in &roles {
            // Tests run in parallel: another test's role may be deleted
            // between ListRoles and ListRoleTags; a role that is gone is not
            // left over.
            let tags = match self
                .iam
                .list_role_tags()
                .role_name(r.role_name())
                .send()
                .await
            {
                Ok(tags) => tags,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_no_such_entity_exception()) =>
                {
                    continue;
                }
                Err(e) => panic!("ListRoleTags {}: {e:?}", r.role_name()),
            };
            if tags
                .tags()
                .iter()
                .any(|t| t.key() == "eksscale.io/cluster" && t.value() == cluster)
            {
                out.push(format!("role {}", r.role_name()));
            }
        }
        let queues = self
            .sqs
            .list_queues()
            .queue_name_prefix("eksscale-")
            .send()
            .await
            .unwrap();
        for url in queues.queue_urls() {
            // A queue deleted since the listing (by a parallel test) is not
            // left over; any other error is.
            let tags = match self.sqs.list_queue_tags().queue_url(url).send().await {
                Ok(t) => t,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_queue_does_not_exist()) =>
                {
                    continue;
                }
                Err(e) => panic!("ListQueueTags {url}: {e:?}"),
            };
            if tags
                .tags()
                .and_then(|m| m.get("eksscale.io/cluster"))
                .is_some_and(|c| c == cluster)
            {
                out.push(format!("queue {}", url.rsplit('/').next().unwrap()));
            }
        }
        out
    }

    /// Live NAT gateways tagged for the cluster (checked client-side).
    pub async fn nat_gateways(&self, cluster: &str) -> Vec<aws_sdk_ec2::types::NatGateway> {
        let r: Vec<aws_sdk_ec2::types::NatGateway> = self
            .ec2
            .describe_nat_gateways()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap();
        r.iter()
            .filter(|n| {
                n.tags()
                    .iter()
                    .any(|t| t.key() == Some("eksscale.io/cluster") && t.value() == Some(cluster))
                    && n.state().map(|s| s.as_str()) != Some("deleted")
            })
            .cloned()
            .collect()
    }
}

/// Percent-decodes and parses an IAM policy document.
pub fn policy_json(doc: &str) -> serde_json::Value {
    let decoded = percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .unwrap();
    serde_json::from_str(&decoded).unwrap()
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A Python test server (tests/emulator or tests/fakekube) of the test's own,
/// on a free loopback port, stopped on drop.
pub struct TestServer {
    child: std::process::Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts `script` with the test venv's Python and waits for its port file.
    pub fn start(script: &str, args: &[&str], env: &[(&str, &str)], wait_s: u64) -> Self {
        let python = std::env::var("EKSSCALE_TEST_PYTHON").unwrap_or_else(|_| {
            panic!("this test starts {script} with the test venv: run it through scripts/test.sh (sets EKSSCALE_TEST_PYTHON)")
        });
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let mut child = Command::new(python)
            .arg(repo_path(script))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .arg("--port-file")
            .arg(&port_file)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        for _ in 0..wait_s * 10 {
            if let Ok(p) = std::fs::read_to_string(&port_file)
                && !p.trim().is_empty()
            {
                return Self {
                    child,
                    url: format!("http://127.0.0.1:{}", p.trim()),
                    _dir: dir,
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("{script} did not start within {wait_s} s");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fake Kubernetes API server of the test's own (tests/fakekube), stopped on drop.
pub struct FakeKube {
    pub url: String,
    _server: TestServer,
}

impl FakeKube {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With extra server options (tests/fakekube/README.md).
    pub fn start_with(args: &[&str]) -> Self {
        let mut all = vec!["--ready-after", "0.2"];
        all.extend_from_slice(args);
        let server = TestServer::start("tests/fakekube/server.py", &all, &[], 30);
        Self {
            url: server.url.clone(),
            _server: server,
        }
    }

    /// Writes a kubeconfig for this server into `ws` and returns its path.
    pub fn kubeconfig(&self, ws: &Workspace) -> PathBuf {
        let p = ws.path("fake.kubeconfig");
        std::fs::write(
            &p,
            format!(
                "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: \"{}\"}}}}]\nusers: [{{name: fake, user: {{token: test-only}}}}]\ncontexts: [{{name: fake, context: {{cluster: fake, user: fake}}}}]\ncurrent-context: fake\n",
                self.url
            ),
        )
        .unwrap();
        p
    }

    /// Every object the server holds (its test hook).
    pub async fn objects(&self) -> Vec<serde_json::Value> {
        let text = reqwest::get(format!("{}/_fake/objects", self.url))
            .await
            .expect("fake server answers")
            .text()
            .await
            .expect("fake server body");
        let v: serde_json::Value =
            serde_json::from_str(&text).expect("fake server objects are JSON");
        v["items"].as_array().cloned().unwrap_or_default()
    }

    /// Objects labelled for `cluster` by eksscale.
    pub async fn owned(&self, cluster: &str) -> Vec<serde_json::Value> {
        self.objects()
            .await
            .into_iter()
            .filter(|o| o["metadata"]["labels"]["eksscale.io/cluster"] == cluster)
            .collect()
    }

    /// POSTs `body` to `path` (a collection URL) on the server; panics on an error status.
    pub async fn create(&self, path: &str, body: serde_json::Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("fake server answers");
        let status = r.status();
        assert!(
            status.is_success(),
            "POST {path}: {status}: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// Objects of `kind` (any namespace), whoever made them.
    pub async fn of_kind(&self, kind: &str) -> Vec<serde_json::Value> {
        self.objects()
            .await
            .into_iter()
            .filter(|o| o["kind"] == kind)
            .collect()
    }

    pub async fn find(&self, kind: &str, name: &str) -> serde_json::Value {
        self.objects()
            .await
            .into_iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} not found on the fake API server"))
    }
}

/// The KEDA 2.20.2 manifest shared with this project for tests.
pub fn keda_manifest() -> PathBuf {
    match std::env::var_os("EKSSCALE_KEDA_MANIFEST") {
        Some(p) => PathBuf::from(p),
        None => repo_path("../shared/keda/2.20.2/keda-2.20.2.yaml"),
    }
}

/// An AWS emulator of the test's own, with its own settings (e.g. slow EKS
/// creation), stopped on drop.
pub struct Emulator {
    pub url: String,
    _server: TestServer,
}

impl Emulator {
    /// The emulator's request counts per operation and injected failures
    /// (`GET /_emulator/stats`, tests/emulator/README.md).
    pub async fn stats(&self) -> serde_json::Value {
        stats(&self.url).await
    }

    pub fn start(env: &[(&str, &str)]) -> Self {
        let server = TestServer::start("tests/emulator/server.py", &[], env, 60);
        Self {
            url: server.url.clone(),
            _server: server,
        }
    }
}

impl Workspace {
    /// An eksscale command in this workspace against a given endpoint, not run yet.
    pub fn command(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eksscale"));
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            // A KUBECONFIG of the shell running the tests would be shared
            // (and written) by every test: each writes under its own HOME.
            .env_remove("KUBECONFIG")
            .env("AWS_CONFIG_FILE", self.path("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path("no-aws-credentials"),
            )
            .env("HOME", self.dir.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("CI", "1")
            .env("NO_COLOR", "1");
        cmd
    }
}

/// `GET /_emulator/stats` of the emulator at `url`.
pub async fn stats(url: &str) -> serde_json::Value {
    let text = reqwest::get(format!("{url}/_emulator/stats"))
        .await
        .expect("emulator answers")
        .text()
        .await
        .expect("emulator stats body");
    serde_json::from_str(&text).expect("stats are JSON")
}

/// What a cluster has, counted by an independent reader: EC2 and IAM
/// resources by kind (from [`Reader::tagged`]) plus EKS node groups.
pub async fn census(aws: &Reader, cluster: &str) -> BTreeMap<String, usize> {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for item in aws.tagged(cluster).await {
        let kind = item.split(' ').next().unwrap_or_default().to_string();
        *m.entry(kind).or_default() += 1;
    }
    if let Ok(c) = aws.eks.describe_cluster().name(cluster).send().await
        && c.cluster().is_some()
    {
        *m.entry("cluster".into()).or_default() += 1;
        let ngs = aws
            .eks
            .list_nodegroups()
            .cluster_name(cluster)
            .send()
            .await
            .unwrap();
        m.insert("nodegroup".into(), ngs.nodegroups().len());
    }
    m
}

/// Mutating operations the emulator has served so far, `service:Operation`
/// -> count (from `GET /_emulator/stats`).
pub async fn mutating_requests(url: &str) -> BTreeMap<String, u64> {
    let s = stats(url).await;
    s["requests"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    k.split_once(':')
                        .is_some_and(|(_, op)| !eksscale::aws::is_read_operation(op))
                })
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}
