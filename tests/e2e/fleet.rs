//! End to end: `list` and `reap` over two regions. A cluster whose expiry
//! has passed is removed; one that has not, one without a TTL, and one whose
//! expiry tag is not a time are left; `--dry-run` changes nothing; without
//! `--yes` and a terminal, `reap` refuses.

use crate::common::{Reader, Workspace, unique_name};

// Regions no other test uses: `list` sees every eksscale cluster in them.
const R1: &str = "ca-central-1";
const R2: &str = "sa-east-1";

fn up(name: &str, region: &str, ttl: Option<&str>) -> Workspace {
    let ws = Workspace::new();
    ws.config(
        name,
        region,
        &format!(
            "  vpc:\n    zones: 2\n    natGateway: none\n  addons: [vpc-cni, coredns, kube-proxy]\n  nodeGroups:\n    - name: general\n      minSize: 1\n      desiredSize: 1\n      maxSize: 1\n  keda:\n    enabled: false\n  samples: []\n{}",
            ttl.map(|t| format!("  ttl: {t}\n")).unwrap_or_default()
        ),
    );
    ws.run(&["up", "--no-kubeconfig"]).expect(0);
    ws
}

/// Sets the expiry tag on the cluster and its VPC, as `up` wrote it.
async fn set_expiry(name: &str, region: &str, value: &str) {
    let aws = Reader::new(region).await;
    let arn = aws
        .eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap()
        .arn
        .unwrap();
    aws.eks
        .tag_resource()
        .resource_arn(arn)
        .tags("eksscale.io/expires-at", value)
        .send()
        .await
        .unwrap();
    let vpc = aws
        .ec2
        .describe_vpcs()
        .filters(Reader::tag_filter(name))
        .send()
        .await
        .unwrap()
        .vpcs()[0]
        .vpc_id()
        .unwrap()
        .to_string();
    aws.ec2
        .create_tags()
        .resources(vpc)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("eksscale.io/expires-at")
                .value(value)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

fn by_name(list: &serde_json::Value, name: &str) -> serde_json::Value {
    list["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} not listed: {list}"))
}

#[tokio::test]
async fn reap_removes_expired_clusters_in_every_region_and_nothing_else() {
    let expired = unique_name("expired");
    let later = unique_name("later");
    let forever = unique_name("forever");
    let broken = unique_name("badttl");
    let elsewhere = unique_name("expired2");
    let _w1 = up(&expired, R1, Some("1h"));
    let w2 = up(&later, R1, Some("2d"));
    let _w3 = up(&forever, R1, None);
    let _w4 = up(&broken, R1, Some("1h"));
    let _w5 = up(&elsewhere, R2, Some("1h"));
    // `up` wrote the expiry on the VPC and the cluster.
    let r1 = Reader::new(R1).await;
    let c = r1
        .eks
        .describe_cluster()
        .name(&later)
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert!(c.tags().unwrap().contains_key("eksscale.io/expires-at"));
    set_expiry(&expired, R1, "2026-01-01T00:00:00Z").await;
    set_expiry(&elsewhere, R2, "2026-01-01T00:00:00Z").await;
    set_expiry(&broken, R1, "next tuesday").await;

    let ws = Workspace::new();
    let list = ws
        .run(&["list", "--region", R1, "--region", R2, "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(by_name(&list, &expired)["expired"], true, "{list}");
    assert_eq!(by_name(&list, &elsewhere)["region"], R2);
    assert_eq!(by_name(&list, &elsewhere)["expired"], true);
    assert_eq!(by_name(&list, &later)["expired"], false);
    assert!(by_name(&list, &forever)["expires_at"].is_null());
    let b = by_name(&list, &broken);
    assert_eq!(b["expired"], false);
    assert!(
        b["expiry_problem"]
            .as_str()
            .unwrap()
            .contains("not an RFC 3339 time")
    );
    let e = by_name(&list, &expired);
    // ca-central-1 is not in the price table: unknown, not guessed.
    assert!(
        e["created"].is_string() && e["monthly_estimate"].is_null(),
        "{e}"
    );

    // Without --yes and without a terminal: refused, nothing changes.
    ws.run(&["reap", "--region", R1, "--region", R2]).expect(2);
    // --dry-run names the two expired clusters and deletes nothing.
    let dry = ws
        .run(&[
            "reap",
            "--region",
            R1,
            "--region",
            R2,
            "--dry-run",
            "-o",
            "json",
        ])
        .expect(0)
        .summary();
    let mut would: Vec<String> = dry["expired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    would.sort();
    let mut want = vec![expired.clone(), elsewhere.clone()];
    want.sort();
    assert_eq!(would, want);
    assert!(
        !r1.tagged(&expired).await.is_empty(),
        "dry run deleted nothing"
    );

    let reaped = ws
        .run(&[
            "reap", "--region", R1, "--region", R2, "--yes", "-o", "json",
        ])
        .expect(0)
        .summary();
    assert_eq!(reaped["reaped"].as_array().unwrap().len(), 2, "{reaped}");
    assert!(r1.tagged(&expired).await.is_empty());
    assert!(Reader::new(R2).await.tagged(&elsewhere).await.is_empty());
    for kept in [&later, &forever, &broken] {
        assert!(!r1.tagged(kept).await.is_empty(), "{kept} was left alone");
    }
    for (name, region) in [(&later, R1), (&forever, R1), (&broken, R1)] {
        w2.run(&["down", "--name", name, "--region", region, "--yes"])
            .expect(0);
    }
}
