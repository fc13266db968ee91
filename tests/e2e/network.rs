//! End to end on the AWS emulator: the network and IAM layers.
//! `up` on a 3-zone perZone config, checked with independent SDK clients;
//! idempotence (0 mutating calls), plan exit codes, `down` twice.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{Reader, Workspace, policy_json, unique_name};

const REGION: &str = "us-west-2";

fn spec(nat: &str) -> String {
    format!(
        "  vpc:\n    cidr: 10.20.0.0/16\n    zones: 3\n    natGateway: {nat}\n  samples: []\n  keda:\n    enabled: false\n"
    )
}

fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

#[tokio::test]
async fn per_zone_network_and_roles_end_to_end() {
    let name = unique_name("net");
    let ws = Workspace::new();
    ws.config(&name, REGION, &spec("perZone"));
    let aws = Reader::new(REGION).await;

    // Before: changes pending.
    ws.run(&["plan", "--exit-code"]).expect(3);

    let up = ws.run(&["up", "-o", "json"]).expect(0);
    let s = up.summary();
    assert_eq!(s["ok"], true, "{s}");
    assert!(s["counts"]["created"].as_u64().unwrap() >= 20, "{s}");
    assert!(s["aws_calls"]["mutating"].as_u64().unwrap() > 0);
    // Events are JSON lines before the summary.
    assert!(
        up.events()
            .iter()
            .any(|e| e["event"] == "finished" && e["id"] == "vpc")
    );

    // --- VPC
    let vpcs = aws
        .ec2
        .describe_vpcs()
        .filters(Reader::tag_filter(&name))
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1);
    let vpc = &vpcs.vpcs()[0];
    let vpc_id = vpc.vpc_id().unwrap();
    assert_eq!(vpc.cidr_block(), Some("10.20.0.0/16"));
    assert_eq!(
        tag(vpc.tags(), "team"),
        Some("e2e"),
        "metadata.tags reach every resource"
    );
    assert_eq!(
        tag(vpc.tags(), &format!("kubernetes.io/cluster/{name}")),
        Some("shared")
    );
    let hostnames = aws
        .ec2
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    assert_eq!(
        hostnames.enable_dns_hostnames().and_then(|v| v.value()),
        Some(true)
    );

    // --- 6 subnets in 3 zones, tagged for load balancers
    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(Reader::tag_filter(&name))
        .send()
        .await
        .unwrap();
    let subnets = subnets.subnets();
    assert_eq!(subnets.len(), 6);
    let zones: BTreeSet<&str> = subnets
        .iter()
        .map(|s| s.availability_zone().unwrap())
        .collect();
    assert_eq!(zones.len(), 3);
    let mut public_by_zone = BTreeMap::new();
    let mut private_by_zone = BTreeMap::new();
    for sn in subnets {
        let zone = sn.availability_zone().unwrap().to_string();
        assert_eq!(sn.vpc_id(), Some(vpc_id));
        assert_eq!(
            tag(sn.tags(), &format!("kubernetes.io/cluster/{name}")),
            Some("shared")
        );
        if tag(sn.tags(), "kubernetes.io/role/elb") == Some("1") {
            assert_eq!(sn.map_public_ip_on_launch(), Some(true));
            assert!(
                public_by_zone
                    .insert(zone, sn.subnet_id().unwrap().to_string())
                    .is_none()
            );
        } else {
            assert_eq!(tag(sn.tags(), "kubernetes.io/role/internal-elb"), Some("1"));
            assert_eq!(sn.map_public_ip_on_launch(), Some(false));
            assert!(
                private_by_zone
                    .insert(zone, sn.subnet_id().unwrap().to_string())
                    .is_none()
            );
        }
    }
    assert_eq!(public_by_zone.len(), 3);
    assert_eq!(private_by_zone.len(), 3);

    // --- Internet gateway attached
    let igws = aws
        .ec2
        .describe_internet_gateways()
        .filters(Reader::tag_filter(&name))
        .send()
        .await
        .unwrap();
    assert_eq!(igws.internet_gateways().len(), 1);
    let igw = &igws.internet_gateways()[0];
    assert_eq!(igw.attachments()[0].vpc_id(), Some(vpc_id));
    let igw_id = igw.internet_gateway_id().unwrap();

    // --- perZone: one NAT per zone, each in that zone's public subnet, with an EIP
    let nats = aws.nat_gateways(&name).await;
    assert_eq!(nats.len(), 3);
    let mut nat_zone = BTreeMap::new();
    for n in &nats {
        let zone = public_by_zone
            .iter()
            .find(|(_, id)| Some(id.as_str()) == n.subnet_id())
            .map(|(z, _)| z.clone())
            .expect("NAT sits in a public subnet");
        assert!(n.nat_gateway_addresses()[0].allocation_id().is_some());
        nat_zone.insert(n.nat_gateway_id().unwrap().to_string(), zone);
    }
    assert_eq!(nat_zone.values().collect::<BTreeSet<_>>().len(), 3);
    let eips = aws
        .ec2
        .describe_addresses()
        .filters(Reader::tag_filter(&name))
        .send()
        .await
        .unwrap();
    assert_eq!(eips.addresses().len(), 3);

    // --- Routes: public -> IGW; each private subnet -> the NAT in its own zone
    let rts = aws
        .ec2
        .describe_route_tables()
        .filters(Reader::tag_filter(&name))
        .send()
        .await
        .unwrap();
    let default_target = |rt: &aws_sdk_ec2::types::RouteTable| {
        rt.routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .and_then(|r| r.nat_gateway_id().or(r.gateway_id()))
            .map(str::to_string)
    };
    let mut checked_private = 0;
    for rt in rts.route_tables() {
        let assoc: BTreeSet<&str> = rt
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id())
            .collect();
        let target = default_target(rt).expect("every table has a default route");
        if target == igw_id {
            let want: BTreeSet<&str> = public_by_zone.values().map(String::as_str).collect();
            assert_eq!(assoc, want);
        } else {
            let (zone, _) = private_by_zone
                .iter()
                .find(|(_, id)| assoc.contains(id.as_str()))
                .expect("private table is associated with a private subnet");
            assert_eq!(assoc.len(), 1);
            assert_eq!(
                &nat_zone[&target], zone,
                "private subnet in {zone} must route via its own zone's NAT"
            );
            checked_private += 1;
        }
    }
    assert_eq!(checked_private, 3);

    // --- IAM roles: trust and attached policies
    for (role, service, policies) in [
        (
            "cluster",
            "eks.amazonaws.com",
            vec!["AmazonEKSClusterPolicy"],
        ),
        (
            "node",
            "ec2.amazonaws.com",
            vec![
                "AmazonEC2ContainerRegistryPullOnly",
                "AmazonEKSWorkerNodePolicy",
            ],
        ),
    ] {
        let role_name = eksscale::spec::role_name(&name, REGION, role);
        let r = aws.role(&role_name).await;
        let r = &r;
        assert_eq!(r.path(), "/eksscale/");
        let trust = policy_json(r.assume_role_policy_document().unwrap());
        assert_eq!(trust["Statement"][0]["Principal"]["Service"], service);
        assert_eq!(trust["Statement"][0]["Action"], "sts:AssumeRole");
        if role == "cluster" {
            // Confused-deputy protection: only this account's cluster of this name.
            let c = &trust["Statement"][0]["Condition"];
            assert_eq!(c["StringEquals"]["aws:SourceAccount"], "123456789012");
            assert_eq!(
                c["ArnLike"]["aws:SourceArn"],
                format!("arn:aws:eks:{REGION}:123456789012:cluster/{name}")
            );
        }
        let attached = aws
            .iam
            .list_attached_role_policies()
            .role_name(&role_name)
            .send()
            .await
            .unwrap();
        let mut names: Vec<&str> = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_name())
            .collect();
        names.sort();
        assert_eq!(names, policies, "{role}");
        assert!(
            r.tags()
                .iter()
                .any(|t| t.key() == "eksscale.io/region" && t.value() == REGION),
            "ownership is scoped to the region"
        );
        assert!(
            r.tags()
                .iter()
                .any(|t| t.key() == "eksscale.io/cluster" && t.value() == name)
        );
    }

    // --- Idempotent: a second up makes no mutating call; plan sees nothing to do.
    let again = ws.run(&["up", "-o", "json"]).expect(0).summary();
    assert_eq!(
        again["aws_calls"]["mutating"], 0,
        "second up must not mutate: {again}"
    );
    assert_eq!(again["counts"]["created"], 0);
    ws.run(&["plan", "--exit-code"]).expect(0);

    // --- status from name + region alone
    let status = ws
        .run(&["status", "--name", &name, "--region", REGION, "-o", "json"])
        .expect(0)
        .summary();
    assert_eq!(status["exists"], true);
    assert!(status["resources"].as_array().unwrap().len() >= 24);

    // --- down from name + region; nothing tagged remains; down again succeeds.
    let down = ws
        .run(&[
            "down", "--name", &name, "--region", REGION, "--yes", "-o", "json",
        ])
        .expect(0)
        .summary();
    assert_eq!(down["ok"], true, "{down}");
    assert_eq!(down["remaining"].as_array().unwrap().len(), 0);
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
    let again = ws
        .run(&[
            "down", "--name", &name, "--region", REGION, "--yes", "-o", "json",
        ])
        .expect(0)
        .summary();
    assert_eq!(again["aws_calls"]["mutating"], 0);
}

#[tokio::test]
async fn nat_modes_single_and_none() {
    for (mode, nats) in [("single", 1usize), ("none", 0)] {
        let name = unique_name(&format!("nat-{}", mode.to_lowercase()));
        let ws = Workspace::new();
        ws.config(&name, REGION, &spec(mode));
        let aws = Reader::new(REGION).await;
        ws.run(&["up"]).expect(0);
        assert_eq!(aws.nat_gateways(&name).await.len(), nats, "{mode}");
        let rts = aws
            .ec2
            .describe_route_tables()
            .filters(Reader::tag_filter(&name))
            .send()
            .await
            .unwrap();
        let nat_targets: BTreeSet<String> = rts
            .route_tables()
            .iter()
            .flat_map(|rt| rt.routes())
            .filter_map(|r| r.nat_gateway_id().map(str::to_string))
            .collect();
        assert_eq!(
            nat_targets.len(),
            nats,
            "{mode}: all private tables share one NAT, or none"
        );
        ws.run(&["down", "--yes"]).expect(0);
        assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
    }
}

#[tokio::test]
async fn switching_nat_mode_converges_and_removes_what_is_no_longer_needed() {
    let name = unique_name("natswitch");
    let ws = Workspace::new();
    ws.config(&name, REGION, &spec("perZone"));
    let aws = Reader::new(REGION).await;
    ws.run(&["up"]).expect(0);
    assert_eq!(aws.nat_gateways(&name).await.len(), 3);

    ws.config(&name, REGION, &spec("single"));
    let plan = ws.run(&["plan", "-o", "json"]).expect(0).summary();
    assert_eq!(
        plan["summary"]["delete"], 4,
        "two NATs and their EIPs go: {plan}"
    );
    assert_eq!(
        plan["summary"]["update"], 2,
        "two private route tables re-point: {plan}"
    );
    ws.run(&["up"]).expect(0);
    assert_eq!(aws.nat_gateways(&name).await.len(), 1);
    ws.run(&["plan", "--exit-code"]).expect(0);
    ws.run(&["down", "--yes"]).expect(0);
    assert!(aws.tagged(&name).await.is_empty());
}
