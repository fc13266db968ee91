//! The first real `up` must succeed: end to end with the emulator's AWS rules
//! on (tests/emulator/README.md, "AWS rules"), which answer the way AWS does
//! where moto would accept anything: client request tokens, AMI types per
//! architecture, zones EKS does not support, IAM and EC2 eventual
//! consistency, throttling, and resources still being deleted.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{Emulator, Reader, Workspace, census, unique_name};

/// What a config of tests/configs/small.yaml must have once `up` is done.
fn small_cluster() -> BTreeMap<String, usize> {
    [
        ("vpc", 1),
        ("subnet", 4),
        ("igw", 1),
        ("eip", 2),
        ("nat", 2),
        ("route-table", 3),
        ("role", 3),
        ("cluster", 1),
        ("nodegroup", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

async fn nodegroup(aws: &Reader, cluster: &str, name: &str) -> aws_sdk_eks::types::Nodegroup {
    aws.eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("node group {name}: {e}"))
        .nodegroup
        .expect("a node group")
}

/// Graviton and GPU node groups get the AMI types their instances need; the
/// control plane is on STANDARD support; five zones in us-east-1 never
/// include use1-az3.
#[tokio::test]
async fn ami_types_support_type_and_zones_follow_aws_rules() {
    let name = unique_name("rules");
    let ws = Workspace::new();
    ws.config_file("arm-and-gpu.yaml", &[("name", &name)]);
    let aws = Reader::new("us-east-1").await;
    ws.run(&["up"]).expect(0);

    let arm = nodegroup(&aws, &name, "arm").await;
    assert_eq!(
        arm.ami_type().map(|a| a.as_str()),
        Some("AL2023_ARM_64_STANDARD")
    );
    let gpu = nodegroup(&aws, &name, "gpu").await;
    assert_eq!(
        gpu.ami_type().map(|a| a.as_str()),
        Some("AL2023_x86_64_NVIDIA")
    );

    let c = aws.eks.describe_cluster().name(&name).send().await.unwrap();
    let support = c
        .cluster()
        .and_then(|c| c.upgrade_policy())
        .and_then(|u| u.support_type())
        .map(|s| s.as_str().to_string());
    assert_eq!(support.as_deref(), Some("STANDARD"));

    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(Reader::tag_filter(&name))
        .send()
        .await
        .unwrap();
    let mut zone_ids: Vec<&str> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone_id())
        .collect();
    zone_ids.sort();
    zone_ids.dedup();
    assert_eq!(zone_ids.len(), 5, "{zone_ids:?}");
    assert!(!zone_ids.contains(&"use1-az3"), "{zone_ids:?}");

    // Nothing to do now; and the tokens EKS got were long enough (or it would
    // have answered InvalidParameterException above).
    let again = ws.run(&["up", "-o", "json"]).expect(0).summary();
    assert_eq!(again["aws_calls"]["mutating"], 0, "{again}");
    ws.run(&["down", "--yes"]).expect(0);
    assert!(census(&aws, &name).await.is_empty());
}

/// With 10% of all requests throttled or answered 503, `up` and `down` still
/// succeed, and say that the SDK retried.
#[tokio::test]
async fn up_and_down_ride_out_throttling() {
    let emulator = Emulator::start(&[
        ("EMULATOR_THROTTLE_RATE", "0.1"),
        ("EMULATOR_THROTTLE_SEED", "7"),
    ]);
    let name = unique_name("throttle");
    let region = "us-west-2";
    let ws = Workspace::new();
    ws.config_file("small.yaml", &[("name", &name), ("region", region)]);
    let up = ws
        .command(&emulator.url, &["up", "-o", "json"])
        .output()
        .unwrap();
    let run = crate::common::Run(up).expect(0);
    let s = run.summary();
    assert_eq!(s["ok"], true, "{s}");
    assert!(s["aws_calls"]["retries"].as_u64().unwrap() > 0, "{s}");
    assert!(
        run.events().iter().any(|e| e["event"] == "note"
            && e["message"]
                .as_str()
                .unwrap()
                .contains("the SDK retries it")),
        "retries are reported, never silent"
    );
    let aws = Reader::at(&emulator.url, region).await;
    assert_eq!(census(&aws, &name).await, small_cluster());
    let down = ws
        .command(&emulator.url, &["down", "--yes", "-o", "json"])
        .output()
        .unwrap();
    let s = crate::common::Run(down).expect(0).summary();
    assert_eq!(s["ok"], true, "{s}");
    let stats = emulator.stats().await;
    assert!(
        stats["injectedFailures"].as_u64().unwrap_or(0) > 0,
        "the emulator did throttle: {stats}"
    );
    assert!(census(&aws, &name).await.is_empty());
}

/// `up` killed with SIGKILL at five points, then run to the end, converges:
/// every kind exactly as many times as the config says, nothing duplicated.
#[tokio::test]
async fn up_killed_at_any_moment_converges_without_duplicates() {
    let emulator = Emulator::start(&[
        ("EMULATOR_EKS_CLUSTER_CREATE_SECONDS", "3"),
        ("EMULATOR_EKS_NODEGROUP_CREATE_SECONDS", "2"),
    ]);
    let name = unique_name("sigkill");
    let region = "us-west-2";
    let ws = Workspace::new();
    ws.config_file("small.yaml", &[("name", &name), ("region", region)]);
    // Fixed "random" points, spread over the network, IAM and EKS phases.
    for ms in [150, 700, 1600, 3300, 5200] {
        let mut child = ws
            .command(&emulator.url, &["up"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    ws.command(&emulator.url, &["up"])
        .output()
        .map(crate::common::Run)
        .unwrap()
        .expect(0);
    let aws = Reader::at(&emulator.url, region).await;
    assert_eq!(census(&aws, &name).await, small_cluster());
    let again = ws
        .command(&emulator.url, &["up", "-o", "json"])
        .output()
        .map(crate::common::Run)
        .unwrap()
        .expect(0)
        .summary();
    assert_eq!(again["aws_calls"]["mutating"], 0, "{again}");
    ws.command(&emulator.url, &["down", "--yes"])
        .output()
        .map(crate::common::Run)
        .unwrap()
        .expect(0);
}

/// `down` interrupted while node groups are DELETING, then `up`: it waits for
/// the deletes to finish and creates the node groups again (instead of
/// waiting for a DELETING node group to become ACTIVE until it times out).
#[tokio::test]
async fn up_after_an_interrupted_down_recreates_what_was_deleting() {
    let emulator = Emulator::start(&[("EMULATOR_EKS_DELETE_SECONDS", "6")]);
    let name = unique_name("redo");
    let region = "us-west-2";
    let ws = Workspace::new();
    ws.config_file("small.yaml", &[("name", &name), ("region", region)]);
    let run = |args: &[&str]| crate::common::Run(ws.command(&emulator.url, args).output().unwrap());
    run(&["up"]).expect(0);
    let aws = Reader::at(&emulator.url, region).await;

    let mut down = ws
        .command(&emulator.url, &["down", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ng = nodegroup(&aws, &name, "general-a").await;
        if ng.status().map(|s| s.as_str()) == Some("DELETING") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the node group never started deleting"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = down.kill();
    let _ = down.wait();

    let plan = run(&["plan", "-o", "json"]).expect(0).summary();
    let entry = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "nodegroup/general-a")
        .cloned()
        .unwrap();
    assert_eq!(
        entry["action"], "create",
        "plan shows it will be made again: {entry}"
    );
    let up = run(&["up"]).expect(0);
    assert!(
        up.stderr()
            .contains("waiting for it to go, then creating it again"),
        "{}",
        up.stderr()
    );
    let ng = nodegroup(&aws, &name, "general-a").await;
    assert_eq!(ng.status().map(|s| s.as_str()), Some("ACTIVE"));
    assert_eq!(census(&aws, &name).await, small_cluster());
    run(&["down", "--yes"]).expect(0);
}
