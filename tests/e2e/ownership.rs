//! Never touch what eksscale does not own; least privilege for eksscale
//! itself, proven. A same-named cluster made by another tool, the same
//! cluster name in two regions, things someone else put in eksscale's VPC;
//! and every AWS call of `up` and `down` checked against the operator
//! policy `eksscale policy --operator` prints.

use std::collections::BTreeSet;

use crate::common::{Emulator, Reader, Run, Workspace, census, mutating_requests, unique_name};

/// New EC2 ids answer NotFound for a moment (the emulator's AWS rule, as EC2
/// does): this test's own calls wait it out.
async fn visible_soon() {
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
}

/// A cluster made directly (no eksscale tags), with a node group: what
/// eksctl or Terraform would have made under the same name.
async fn foreign_cluster(aws: &Reader, name: &str) {
    let vpc = aws
        .ec2
        .create_vpc()
        .cidr_block("10.90.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    visible_soon().await;
    let mut subnets = Vec::new();
    for (i, zone) in ["us-west-2a", "us-west-2b"].iter().enumerate() {
        let s = aws
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.90.{i}.0/24"))
            .availability_zone(*zone)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    visible_soon().await;
    let trust = |service: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"{service}"}},"Action":"sts:AssumeRole"}}]}}"#
        )
    };
    let role = aws
        .iam
        .create_role()
        .role_name(format!("{name}-by-another-tool"))
        .assume_role_policy_document(trust("eks.amazonaws.com"))
        .send()
        .await
        .unwrap();
    let role = role.role().unwrap().arn().to_string();
    // IAM propagation (the emulator's AWS rule, as IAM does).
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    aws.eks
        .create_cluster()
        .name(name)
        .role_arn(&role)
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .set_subnet_ids(Some(subnets.clone()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.eks
        .create_nodegroup()
        .cluster_name(name)
        .nodegroup_name("theirs")
        .node_role(&role)
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_same_named_cluster_eksscale_did_not_make_is_never_touched() {
    let emulator = Emulator::start(&[]);
    let name = unique_name("theirs");
    let region = "us-west-2";
    let aws = Reader::at(&emulator.url, region).await;
    foreign_cluster(&aws, &name).await;
    let ws = Workspace::new();
    ws.config_file("small.yaml", &[("name", &name), ("region", region)]);
    let run = |args: &[&str]| Run(ws.command(&emulator.url, args).output().unwrap());

    let before = mutating_requests(&emulator.url).await;
    let up = run(&["up"]).expect(1);
    assert!(
        up.stderr().contains("eksscale does not own") && up.stderr().contains(&name),
        "{}",
        up.stderr()
    );
    assert_eq!(
        mutating_requests(&emulator.url).await,
        before,
        "up made no mutating call"
    );

    let down = run(&["down", "--yes"]).expect(0);
    assert!(
        down.stdout().contains("Not owned by eksscale, left alone"),
        "{}",
        down.stdout()
    );
    assert!(down.stdout().contains("eksscale did not create it"));
    let c = aws.eks.describe_cluster().name(&name).send().await.unwrap();
    assert_eq!(
        c.cluster().unwrap().status().unwrap().as_str(),
        "ACTIVE",
        "their cluster is untouched"
    );
    let ngs = aws
        .eks
        .list_nodegroups()
        .cluster_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(ngs.nodegroups(), ["theirs".to_string()]);
}

#[tokio::test]
async fn the_same_cluster_name_in_two_regions_keeps_separate_roles() {
    let name = unique_name("tworeg");
    let (west, east) = ("us-west-2", "eu-west-1");
    let (ws_w, ws_e) = (Workspace::new(), Workspace::new());
    ws_w.config_file("small.yaml", &[("name", &name), ("region", west)]);
    ws_e.config_file("small.yaml", &[("name", &name), ("region", east)]);
    ws_w.run(&["up"]).expect(0);
    ws_e.run(&["up"]).expect(0);
    let (aws_w, aws_e) = (Reader::new(west).await, Reader::new(east).await);
    for role in ["cluster", "node", "vpc-cni"] {
        let w = eksscale::spec::role_name(&name, west, role);
        let e = eksscale::spec::role_name(&name, east, role);
        assert_ne!(w, e);
        aws_w.role(&w).await;
        aws_w.role(&e).await;
    }
    let east_provider = oidc_provider_for(&aws_e, &name).await;

    ws_w.run(&["down", "--yes"]).expect(0);
    // East is untouched: roles, OIDC provider, cluster.
    for role in ["cluster", "node", "vpc-cni"] {
        aws_e
            .role(&eksscale::spec::role_name(&name, east, role))
            .await;
    }
    assert_eq!(oidc_provider_for(&aws_e, &name).await, east_provider);
    let c = aws_e
        .eks
        .describe_cluster()
        .name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(c.cluster().unwrap().status().unwrap().as_str(), "ACTIVE");
    let calls = ws_e
        .run(&["up", "-o", "json"])
        .expect(0)
        .summary()
        .get("aws_calls")
        .cloned()
        .expect("the JSON summary counts AWS calls");
    assert_eq!(calls["mutating"], 0, "east still converged: {calls}");
    ws_e.run(&["down", "--yes"]).expect(0);
    assert!(census(&aws_e, &name).await.is_empty());
}

/// The ARN of the OIDC provider of the cluster's issuer.
async fn oidc_provider_for(aws: &Reader, cluster: &str) -> String {
    let c = aws
        .eks
        .describe_cluster()
        .name(cluster)
        .send()
        .await
        .unwrap();
    let issuer = c
        .cluster()
        .and_then(|c| c.identity())
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .unwrap()
        .trim_start_matches("https://")
        .to_string();
    let providers = aws
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap();
    providers
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .find(|a| a.ends_with(&issuer))
        .unwrap_or_else(|| panic!("no OIDC provider for {issuer}"))
        .to_string()
}

#[tokio::test]
async fn down_leaves_what_else_is_in_the_vpc_and_names_it() {
    let name = unique_name("vpcuse");
    let region = "us-east-2";
    let ws = Workspace::new();
    ws.config_file("small.yaml", &[("name", &name), ("region", region)]);
    ws.run(&["up"]).expect(0);
    let aws = Reader::new(region).await;
    let vpcs = aws
        .ec2
        .describe_vpcs()
        .filters(Reader::tag_filter(&name))
        .send()
        .await
        .unwrap();
    let vpc = vpcs.vpcs()[0].vpc_id().unwrap().to_string();
    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(Reader::tag_filter(&name))
        .send()
        .await
        .unwrap();
    let public = subnets
        .subnets()
        .iter()
        .find(|s| s.map_public_ip_on_launch() == Some(true))
        .unwrap()
        .subnet_id()
        .unwrap()
        .to_string();

    // Someone else's database security group and load balancer, in our VPC.
    let sg = aws
        .ec2
        .create_security_group()
        .group_name("rds")
        .description("someone else's database")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    let sg = sg.group_id().unwrap().to_string();
    visible_soon().await;
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(&sg)
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432)
        .cidr_ip("10.0.0.0/8")
        .send()
        .await
        .unwrap();
    let lb = format!("theirs-{}", std::process::id() % 10_000);
    aws.elb
        .create_load_balancer()
        .load_balancer_name(&lb)
        .listeners(
            aws_sdk_elasticloadbalancing::types::Listener::builder()
                .protocol("HTTP")
                .load_balancer_port(80)
                .instance_port(8080)
                .build()
                .unwrap(),
        )
        .subnets(&public)
        // Without groups, ELB makes a `default_elb_…` group that outlives it (as moto does too).
        .security_groups(&sg)
        .send()
        .await
        .unwrap();

    let down = ws.run(&["down", "--yes"]).expect(1);
    let out = down.stdout();
    assert!(
        out.contains(&format!("VPC {vpc} is still used by")),
        "{out}"
    );
    assert!(
        out.contains(&format!("security-group {sg} \"rds\"")),
        "{out}"
    );
    assert!(
        out.contains(&format!("classic-load-balancer {lb}")),
        "{out}"
    );
    // Both untouched: the group keeps its rule, the load balancer exists.
    let g = aws
        .ec2
        .describe_security_groups()
        .group_ids(&sg)
        .send()
        .await
        .unwrap();
    assert_eq!(g.security_groups()[0].ip_permissions().len(), 1);
    aws.elb
        .describe_load_balancers()
        .load_balancer_names(&lb)
        .send()
        .await
        .unwrap();
    // What was eksscale's and not blocked is gone (the cluster, NATs, roles).
    let left = census(&aws, &name).await;
    assert_eq!(
        left.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["igw".into(), "subnet".into(), "vpc".into()]),
        "{left:?}"
    );

    // Once they are removed, down finishes.
    aws.elb
        .delete_load_balancer()
        .load_balancer_name(&lb)
        .send()
        .await
        .unwrap();
    aws.ec2
        .delete_security_group()
        .group_id(&sg)
        .send()
        .await
        .unwrap();
    ws.run(&["down", "--yes"]).expect(0);
    assert!(census(&aws, &name).await.is_empty());
}

/// The actions of an IAM policy document's Allow statements.
fn allowed_actions(doc: &serde_json::Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for st in doc["Statement"].as_array().unwrap() {
        assert_eq!(st["Effect"], "Allow");
        match &st["Action"] {
            serde_json::Value::String(a) => {
                out.insert(a.clone());
            }
            serde_json::Value::Array(a) => {
                out.extend(a.iter().map(|x| x.as_str().unwrap().to_string()));
            }
            other => panic!("Action {other}"),
        }
    }
    out
}

/// Every AWS call of `up`, a no-op `up`, a config change and `down` is
/// allowed by the operator policy, which parliament finds nothing wrong
/// with; with a permissions boundary configured, every role has it; the
/// nodes' launch templates require IMDSv2 with a hop limit of 1.
#[tokio::test]
async fn every_call_is_allowed_by_the_operator_policy() {
    let emulator = Emulator::start(&[]);
    let name = unique_name("oppol");
    let region = "us-west-2";
    let aws = Reader::at(&emulator.url, region).await;
    let boundary = aws
        .iam
        .create_policy()
        .policy_name(format!("{name}-boundary"))
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:DescribeInstances"],"Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let boundary = boundary.policy().unwrap().arn().unwrap().to_string();
    let ws = Workspace::new();
    let kube = crate::common::FakeKube::start();
    let kc = kube.kubeconfig(&ws);
    let kc = kc.to_str().unwrap();
    let run = |args: &[&str]| Run(ws.command(&emulator.url, args).output().unwrap());
    let manifest = crate::common::keda_manifest();
    let write = |desired: &str| {
        ws.config_file(
            "operator.yaml",
            &[
                ("name", &name),
                ("region", region),
                ("boundary", &boundary),
                ("desired", desired),
                ("manifest", manifest.to_str().unwrap()),
            ],
        )
    };
    write("1");
    let policy = run(&["policy", "--operator", "-o", "json"])
        .expect(0)
        .summary();

    run(&["up", "--kubeconfig", kc]).expect(0);
    run(&["up", "--kubeconfig", kc]).expect(0);
    write("2");
    run(&["up", "--kubeconfig", kc]).expect(0);
    run(&["samples", "load", "sqs-consumer", "--messages", "3"]).expect(0);

    // Checked now, before down removes them.
    for role in [
        "cluster",
        "node",
        "vpc-cni",
        "keda-operator",
        "sample-sqs-consumer",
    ] {
        let r = aws
            .role(&eksscale::spec::role_name(&name, region, role))
            .await;
        assert_eq!(
            r.permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn()),
            Some(boundary.as_str()),
            "{role}"
        );
    }
    let lts = aws
        .ec2
        .describe_launch_templates()
        .filters(Reader::tag_filter(&name))
        .send()
        .await
        .unwrap();
    assert_eq!(lts.launch_templates().len(), 2, "one per node group");
    for lt in lts.launch_templates() {
        let v = aws
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(lt.launch_template_id().unwrap())
            .versions("$Default")
            .send()
            .await
            .unwrap();
        let data = v.launch_template_versions()[0]
            .launch_template_data()
            .unwrap();
        let md = data.metadata_options().unwrap();
        assert_eq!(md.http_tokens().unwrap().as_str(), "required");
        assert_eq!(md.http_put_response_hop_limit(), Some(1));
        let ebs = data.block_device_mappings()[0].ebs().unwrap();
        assert_eq!(ebs.volume_type().unwrap().as_str(), "gp3");
        assert_eq!(ebs.encrypted(), Some(true));
    }
    let ng = aws
        .eks
        .describe_nodegroup()
        .cluster_name(&name)
        .nodegroup_name("general-a")
        .send()
        .await
        .unwrap();
    assert!(
        ng.nodegroup().unwrap().launch_template().is_some(),
        "the node group uses it"
    );

    run(&["down", "--kubeconfig", kc, "--yes"]).expect(0);

    let allowed = allowed_actions(&policy);
    let stats = crate::common::stats(&emulator.url).await;
    let called: BTreeSet<String> = stats["requests"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    // Calls this test made itself, not eksscale.
    let mine = ["iam:CreatePolicy"];
    // Operations whose IAM action has another name (Service Authorization
    // Reference: SendMessageBatch is authorised by sqs:SendMessage).
    let action = |op: &str| match op {
        "sqs:SendMessageBatch" => "sqs:SendMessage".to_string(),
        other => other.to_string(),
    };
    let missing: Vec<&String> = called
        .iter()
        .filter(|c| !allowed.contains(&action(c)) && !mine.contains(&c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "calls the operator policy does not allow: {missing:?}"
    );
    assert!(called.len() > 40, "the run made calls: {called:?}");

    // parliament (PyPI) lints the document: no finding.
    let file = ws.path("operator-policy.json");
    std::fs::write(&file, policy.to_string()).unwrap();
    let python = std::env::var("EKSSCALE_TEST_PYTHON").expect("run through scripts/test.sh");
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(
            "import sys\nfrom parliament import analyze_policy_string\np = analyze_policy_string(open(sys.argv[1]).read(), include_community_auditors=False)\nfor f in p.findings:\n    print(f.issue, f.detail, f.location)\nsys.exit(1 if p.findings else 0)\n",
        )
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "parliament findings:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
