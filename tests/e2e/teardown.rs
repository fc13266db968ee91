//! End to end: `down` leaves nothing billable. Kubernetes first (a user's
//! LoadBalancer Service and an EBS-backed claim are deleted through the API,
//! so the cloud controllers, simulated by the fake API server against the
//! emulator, release the load balancer and the volume), then AWS (the CNI's
//! leftover ENI); and with the API server gone, the same resources are
//! deleted from AWS by their Kubernetes tags. Plus `cost`.

use crate::common::{FakeKube, Reader, Workspace, endpoint, unique_name};

fn config(ws: &Workspace, name: &str, region: &str) {
    ws.config(
        name,
        region,
        "  vpc:\n    zones: 2\n    natGateway: none\n  addons: [vpc-cni, coredns, kube-proxy, aws-ebs-csi-driver]\n  nodeGroups:\n    - name: general\n      minSize: 1\n      desiredSize: 1\n      maxSize: 2\n  keda:\n    enabled: false\n  samples: []\n",
    );
}

/// What Kubernetes made in AWS for the cluster, as its controllers tag it:
/// a classic load balancer for Service shop/web, an EBS volume for claim
/// shop/data, a detached ENI of the VPC CNI. Returns (lb name, volume id, eni id).
async fn kubernetes_made(aws: &Reader, name: &str, region: &str) -> (String, String, String) {
    let subnet = aws
        .ec2
        .describe_subnets()
        .filters(Reader::tag_filter(name))
        .send()
        .await
        .unwrap()
        .subnets()[0]
        .clone();
    let subnet_id = subnet.subnet_id().unwrap().to_string();
    let lb = format!("a{}", &uuid_like(name)[..31]);
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    // The in-tree controller gives each load balancer a group of its own,
    // tagged for the cluster (cloud-provider-aws: k8s-elb-<name>).
    let sg = aws
        .ec2
        .create_security_group()
        .group_name(format!("k8s-elb-{lb}"))
        .description("Security group for Kubernetes ELB (shop/web)")
        .vpc_id(subnet.vpc_id().unwrap())
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
                .tags(tag(&format!("kubernetes.io/cluster/{name}"), "owned"))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    aws.elb
        .create_load_balancer()
        .load_balancer_name(&lb)
        .listeners(tcp_80())
        .subnets(&subnet_id)
        .security_groups(&sg)
        .tags(
            aws_sdk_elasticloadbalancing::types::Tag::builder()
                .key(format!("kubernetes.io/cluster/{name}"))
                .value("owned")
                .build()
                .unwrap(),
        )
        .tags(
            aws_sdk_elasticloadbalancing::types::Tag::builder()
                .key("kubernetes.io/service-name")
                .value("shop/web")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // The EBS CSI driver tags a volume with its defaults (no cluster name
    // among them) plus the add-on's extraVolumeTags, which eksscale set to
    // the cluster's ownership tags.
    let addon = aws
        .eks
        .describe_addon()
        .cluster_name(name)
        .addon_name("aws-ebs-csi-driver")
        .send()
        .await
        .unwrap();
    let config: serde_json::Value = serde_json::from_str(
        addon
            .addon()
            .and_then(|a| a.configuration_values())
            .expect("eksscale sets the driver's configurationValues"),
    )
    .unwrap();
    let extra = config["controller"]["extraVolumeTags"]
        .as_object()
        .expect("extraVolumeTags")
        .clone();
    assert_eq!(extra["eksscale.io/cluster"], name, "{config}");
    assert_eq!(extra["eksscale.io/region"], region, "{config}");
    let mut volume_tags = aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(aws_sdk_ec2::types::ResourceType::Volume)
        .tags(tag("CSIVolumeName", "pvc-0123"))
        .tags(tag("kubernetes.io/created-for/pvc/name", "data"))
        .tags(tag("ebs.csi.aws.com/cluster", "true"));
    for (k, v) in &extra {
        volume_tags = volume_tags.tags(tag(k, v.as_str().unwrap()));
    }
    let vol = aws
        .ec2
        .create_volume()
        .availability_zone(subnet.availability_zone().unwrap())
        .size(10)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
        .tag_specifications(volume_tags.build())
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_string();
    let eni = aws
        .ec2
        .create_network_interface()
        .subnet_id(&subnet_id)
        .description("aws-K8S-i-0123456789abcdef0")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::NetworkInterface)
                .tags(tag("cluster.k8s.amazonaws.com/name", name))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .network_interface()
        .unwrap()
        .network_interface_id()
        .unwrap()
        .to_string();
    (lb, vol, eni)
}

/// The listener of a Service's classic ELB: TCP 80 to a node port.
fn tcp_80() -> aws_sdk_elasticloadbalancing::types::Listener {
    aws_sdk_elasticloadbalancing::types::Listener::builder()
        .protocol("TCP")
        .load_balancer_port(80)
        .instance_port(30080)
        .build()
        .unwrap()
}

/// 32 lowercase hex-ish characters derived from `s` (an in-tree LB name).
fn uuid_like(s: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut out = String::new();
    for i in 0..4u8 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (s, i).hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// The user's objects: Service shop/web (LoadBalancer), claim shop/data
/// bound to a PersistentVolume of the EBS CSI driver for `volume`.
async fn user_objects(kube: &FakeKube, volume: &str) {
    kube.create(
        "/api/v1/namespaces",
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .await;
    kube.create(
        "/api/v1/namespaces/shop/services",
        serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
        }),
    )
    .await;
    kube.create(
        "/api/v1/persistentvolumes",
        serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "pv-data"},
            "spec": {
                "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "gp3",
                "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": volume, "fsType": "ext4"},
                "claimRef": {"namespace": "shop", "name": "data"}
            }
        }),
    )
    .await;
    kube.create(
        "/api/v1/namespaces/shop/persistentvolumeclaims",
        serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "shop"},
            "spec": {
                "accessModes": ["ReadWriteOnce"], "storageClassName": "gp3",
                "resources": {"requests": {"storage": "10Gi"}}, "volumeName": "pv-data"
            }
        }),
    )
    .await;
}

async fn exists(aws: &Reader, lb: &str, vol: &str, eni: &str) -> (bool, bool, bool) {
    let lb = aws
        .elb
        .describe_load_balancers()
        .load_balancer_names(lb)
        .send()
        .await
        .is_ok();
    let vol = aws
        .ec2
        .describe_volumes()
        .volume_ids(vol)
        .send()
        .await
        .is_ok_and(|r| !r.volumes().is_empty());
    let eni = aws
        .ec2
        .describe_network_interfaces()
        .network_interface_ids(eni)
        .send()
        .await
        .is_ok_and(|r| !r.network_interfaces().is_empty());
    (lb, vol, eni)
}

#[tokio::test]
async fn down_deletes_load_balancers_and_volumes_through_kubernetes_and_proves_nothing_bills() {
    let region = "eu-west-1";
    let name = unique_name("teardown");
    let ws = Workspace::new();
    config(&ws, &name, region);
    let shared = endpoint();
    let kube = FakeKube::start_with(&[
        "--aws-endpoint",
        &shared,
        "--cluster-name",
        &name,
        "--aws-region",
        region,
    ]);
    let kc = kube.kubeconfig(&ws);
    let kc = kc.to_str().unwrap();
    let aws = Reader::new(region).await;
    ws.run(&["up", "--kubeconfig", kc]).expect(0);
    // The EBS CSI driver's configurationValues (eksscale's volume tags) are
    // compared like every attribute: a second `up` changes nothing.
    let again = ws
        .run(&["up", "--kubeconfig", kc, "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(again["aws_calls"]["mutating"], 0, "{again}");
    let (lb, vol, eni) = kubernetes_made(&aws, &name, region).await;
    user_objects(&kube, &vol).await;
    assert_eq!(exists(&aws, &lb, &vol, &eni).await, (true, true, true));

    // Dry run: says what it would delete, including what Kubernetes made.
    let dry = ws
        .run(&["down", "--dry-run", "-o", "json"])
        .expect(0)
        .summary();
    let would = dry["would_delete"].to_string();
    assert!(would.contains(&vol) && would.contains(&lb), "{dry}");

    let down = ws
        .run(&["down", "--kubeconfig", kc, "--yes", "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(
        down["steps"]["k8s/release-aws-resources"]["outcome"], "deleted",
        "{down}"
    );
    // The controllers released them (the fake API server's record), not a sweep.
    let actions: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!("{}/_fake/aws", kube.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let done: Vec<String> = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{} {}", a["action"], a["name"].as_str().unwrap_or_default()))
        .collect();
    assert!(
        done.iter()
            .any(|a| a.contains("DeleteLoadBalancer") && a.contains(&lb)),
        "{actions}"
    );
    assert!(done.iter().any(|a| a.contains("DeleteVolume")), "{actions}");
    assert!(
        kube.of_kind("Service")
            .await
            .iter()
            .all(|s| s["metadata"]["name"] != "web")
    );
    assert!(kube.of_kind("PersistentVolumeClaim").await.is_empty());
    assert_eq!(exists(&aws, &lb, &vol, &eni).await, (false, false, false));
    assert_eq!(down["billable_left"], serde_json::json!([]), "{down}");
    assert_eq!(down["remaining"], serde_json::json!([]));
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
}

#[tokio::test]
async fn with_the_api_server_gone_down_deletes_them_by_their_kubernetes_tags() {
    let region = "eu-west-1";
    let name = unique_name("teardown-noapi");
    let ws = Workspace::new();
    config(&ws, &name, region);
    let kube = FakeKube::start();
    let kc = kube.kubeconfig(&ws);
    let kc = kc.to_str().unwrap().to_string();
    let aws = Reader::new(region).await;
    ws.run(&["up", "--kubeconfig", &kc]).expect(0);
    let (lb, vol, eni) = kubernetes_made(&aws, &name, region).await;
    user_objects(&kube, &vol).await;
    drop(kube); // the API server is gone (as when the control plane is unreachable)

    let down = ws
        .run(&["down", "--kubeconfig", &kc, "--yes", "-o", "json"])
        .expect(0);
    // -o json: the warning is an event on stdout.
    assert!(
        down.stdout().contains("deleted by their Kubernetes tags"),
        "{}",
        down.stdout()
    );
    assert_eq!(exists(&aws, &lb, &vol, &eni).await, (false, false, false));
    let s = down.summary();
    assert_eq!(s["billable_left"], serde_json::json!([]), "{s}");
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
}

#[tokio::test]
async fn cost_is_the_sum_of_its_lines_and_plan_shows_it() {
    let ws = Workspace::new();
    let name = unique_name("cost");
    ws.config(
        &name,
        "us-east-1",
        "  vpc:\n    zones: 3\n    natGateway: perZone\n  nodeGroups:\n    - name: general\n      perZone: true\n      instanceTypes: [m6i.large]\n      minSize: 1\n      desiredSize: 2\n      maxSize: 3\n      volumeSize: 50\n",
    );
    let c = ws.run(&["cost", "-o", "json"]).expect(0).summary();
    assert_eq!(c["currency"], "USD");
    assert_eq!(c["region"], "us-east-1");
    assert!(c["prices_as_of"].as_str().unwrap().starts_with("20"));
    let items = c["items"].as_array().unwrap();
    let sum: f64 = items.iter().map(|i| i["monthly"].as_f64().unwrap()).sum();
    let total = c["monthly_total"].as_f64().unwrap();
    assert!((sum - total).abs() < 0.01, "{c}");
    let find = |label: &str| {
        items
            .iter()
            .find(|i| i["item"].as_str().unwrap().starts_with(label))
            .unwrap_or_else(|| panic!("{label} in {c}"))
            .clone()
    };
    assert_eq!(find("NAT gateway")["quantity"], 3.0);
    assert_eq!(find("EC2 m6i.large")["quantity"], 6.0);
    assert_eq!(find("EBS gp3 root volumes")["quantity"], 300.0);
    assert_eq!(find("public IPv4")["quantity"], 3.0);
    // Each line is quantity x unit price x 730 hours (or per GiB-month).
    let nat = find("NAT gateway");
    assert!(
        (nat["monthly"].as_f64().unwrap() - 3.0 * nat["unit_price"].as_f64().unwrap() * 730.0)
            .abs()
            < 0.01
    );

    let plan = ws.run(&["plan", "-o", "json"]).expect(0).summary();
    assert!(
        (plan["cost"]["monthly"].as_f64().unwrap() - total).abs() < 0.01,
        "{plan}"
    );
    assert_eq!(plan["cost"]["current_monthly"], 0.0);

    // A region outside the table: every line unknown, and it says so.
    ws.config(&name, "ap-southeast-7", "  vpc:\n    zones: 2\n");
    let out = ws.run(&["cost"]).expect(0);
    assert!(
        out.stdout().contains("has no prices for ap-southeast-7"),
        "{}",
        out.stdout()
    );
}

/// Load balancers deleted by their controller between DescribeLoadBalancers
/// and DescribeTags (what happens while `down` waits for them): AWS fails the
/// whole DescribeTags (emulator rule 12), so discovery reads the others one by
/// one and leaves the gone ones out instead of failing `down`.
#[tokio::test]
async fn tags_of_load_balancers_deleted_meanwhile_leave_them_out() {
    let region = "eu-west-3";
    let aws = Reader::new(region).await;
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(1200));
    let vpc = aws
        .ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    settle().await;
    let mut subnets = Vec::new();
    for (i, zone) in ["a", "b"].iter().enumerate() {
        let s = aws
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.9.{i}.0/24"))
            .availability_zone(format!("{region}{zone}"))
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    settle().await;
    let suffix = unique_name("t");
    let mut arns = Vec::new();
    for n in 0..3 {
        let lb = aws
            .elbv2
            .create_load_balancer()
            .name(format!("{suffix}-{n}"))
            .set_subnets(Some(subnets.clone()))
            .r#type(aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Network)
            .send()
            .await
            .unwrap();
        arns.push(
            lb.load_balancers()[0]
                .load_balancer_arn()
                .unwrap()
                .to_string(),
        );
    }
    let mut names = Vec::new();
    for n in 0..3 {
        let name = format!("{suffix}-c{n}");
        aws.elb
            .create_load_balancer()
            .load_balancer_name(&name)
            .listeners(tcp_80())
            .subnets(&subnets[0])
            .send()
            .await
            .unwrap();
        names.push(name);
    }
    let all = eksscale::kinds::load_balancer::tags_of(&aws.elbv2, &arns)
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    aws.elbv2
        .delete_load_balancer()
        .load_balancer_arn(&arns[1])
        .send()
        .await
        .unwrap();
    aws.elb
        .delete_load_balancer()
        .load_balancer_name(&names[1])
        .send()
        .await
        .unwrap();
    let left = eksscale::kinds::load_balancer::tags_of(&aws.elbv2, &arns)
        .await
        .unwrap();
    assert_eq!(left.keys().collect::<Vec<_>>(), vec![&arns[0], &arns[2]]);
    let left = eksscale::kinds::classic_load_balancer::tags_of(&aws.elb, &names)
        .await
        .unwrap();
    assert_eq!(left.keys().collect::<Vec<_>>(), vec![&names[0], &names[2]]);
    for arn in [&arns[0], &arns[2]] {
        aws.elbv2
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .unwrap();
    }
    for name in [&names[0], &names[2]] {
        aws.elb
            .delete_load_balancer()
            .load_balancer_name(name)
            .send()
            .await
            .unwrap();
    }
}
