//! End to end on the AWS emulator: the EKS layer. Cluster on all 6 subnets,
//! one OIDC provider for its issuer, the CNI IRSA role pinned to
//! kube-system/aws-node, admin access entries, add-ons, one node group per
//! zone; idempotence; updates; and `down` leaving nothing, also after a
//! failed cluster.

use std::collections::BTreeSet;

use crate::common::{Reader, Workspace, policy_json, unique_name};

const ADMIN: &str = "arn:aws:iam::123456789012:role/PlatformAdmin";

fn spec(extra_ng: &str, version: &str) -> String {
    format!(
        "  kubernetesVersion: \"{version}\"
  vpc:
    cidr: 10.30.0.0/16
    zones: 3
    natGateway: perZone
  endpoint:
    public: true
    private: true
    publicAccessCidrs: [203.0.113.0/24]
  logging: [api, audit]
  access:
    admins: [{ADMIN}]
  nodeGroups:
    - name: general
      instanceTypes: [m6i.large, m7i.large]
      perZone: true
      labels: {{workload: general}}
      taints: [{{key: dedicated, value: general, effect: NoSchedule}}]
{extra_ng}  keda:
    enabled: false
  samples: []
"
    )
}

#[tokio::test]
async fn cluster_with_irsa_access_addons_and_zonal_node_groups() {
    let region = "eu-west-1";
    let name = unique_name("eks");
    let ws = Workspace::new();
    ws.config(
        &name,
        region,
        &spec(
            "      minSize: 1\n      desiredSize: 1\n      maxSize: 3\n",
            "1.35",
        ),
    );
    let aws = Reader::new(region).await;

    let up = ws.run(&["up", "-o", "json"]).expect(0).summary();
    assert_eq!(up["ok"], true, "{up}");

    // --- Cluster: ACTIVE, on all 6 subnets, endpoint/logging/auth as configured.
    let c = aws.eks.describe_cluster().name(&name).send().await.unwrap();
    let c = c.cluster().unwrap();
    assert_eq!(c.status().unwrap().as_str(), "ACTIVE");
    assert_eq!(c.version(), Some("1.35"));
    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(Reader::tag_filter(&name))
        .send()
        .await
        .unwrap();
    let ours: BTreeSet<&str> = subnets
        .subnets()
        .iter()
        .map(|s| s.subnet_id().unwrap())
        .collect();
    let vpc_cfg = c.resources_vpc_config().unwrap();
    let used: BTreeSet<&str> = vpc_cfg.subnet_ids().iter().map(String::as_str).collect();
    assert_eq!(ours.len(), 6);
    assert_eq!(
        used, ours,
        "the cluster uses every public and private subnet"
    );
    assert!(vpc_cfg.endpoint_public_access());
    assert!(vpc_cfg.endpoint_private_access());
    assert_eq!(
        vpc_cfg.public_access_cidrs(),
        ["203.0.113.0/24".to_string()]
    );
    let logging: BTreeSet<&str> = c
        .logging()
        .unwrap()
        .cluster_logging()
        .iter()
        .filter(|l| l.enabled() == Some(true))
        .flat_map(|l| l.types().iter().map(|t| t.as_str()))
        .collect();
    assert_eq!(logging, BTreeSet::from(["api", "audit"]));
    assert_eq!(
        c.access_config()
            .unwrap()
            .authentication_mode()
            .unwrap()
            .as_str(),
        "API"
    );
    assert_eq!(c.tags().unwrap()["eksscale.io/cluster"], name);

    // --- Exactly one OIDC provider, for this cluster's issuer.
    let issuer = c
        .identity()
        .unwrap()
        .oidc()
        .unwrap()
        .issuer()
        .unwrap()
        .trim_start_matches("https://")
        .to_string();
    let providers = aws
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap();
    let matching: Vec<String> = providers
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .filter(|arn| arn.ends_with(&issuer))
        .map(str::to_string)
        .collect();
    assert_eq!(matching.len(), 1, "one provider per issuer: {matching:?}");
    let provider_arn = &matching[0];
    let p = aws
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(provider_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(p.client_id_list(), ["sts.amazonaws.com".to_string()]);
    assert!(
        p.tags()
            .iter()
            .any(|t| t.key() == "eksscale.io/cluster" && t.value() == name)
    );

    // --- vpc-cni IRSA role: trust pinned to kube-system/aws-node and the STS audience.
    let cni_role = eksscale::spec::role_name(&name, region, "vpc-cni");
    let r = aws.role(&cni_role).await;
    let trust = policy_json(r.assume_role_policy_document().unwrap());
    let st = &trust["Statement"][0];
    assert_eq!(st["Principal"]["Federated"], provider_arn.as_str());
    assert_eq!(st["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(
        st["Condition"]["StringEquals"][format!("{issuer}:sub")],
        "system:serviceaccount:kube-system:aws-node"
    );
    assert_eq!(
        st["Condition"]["StringEquals"][format!("{issuer}:aud")],
        "sts.amazonaws.com"
    );
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(&cni_role)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_name())
        .collect();
    assert_eq!(names, ["AmazonEKS_CNI_Policy"]);
    // The CNI policy goes to the IRSA role, not to the nodes.
    let node_policies = aws
        .iam
        .list_attached_role_policies()
        .role_name(eksscale::spec::role_name(&name, region, "node"))
        .send()
        .await
        .unwrap();
    assert!(
        !node_policies
            .attached_policies()
            .iter()
            .any(|p| p.policy_name() == Some("AmazonEKS_CNI_Policy"))
    );

    // --- Access entry for the admin, with the cluster-admin policy at cluster scope.
    let pols = aws
        .eks
        .list_associated_access_policies()
        .cluster_name(&name)
        .principal_arn(ADMIN)
        .send()
        .await
        .unwrap();
    let pols = pols.associated_access_policies();
    assert_eq!(pols.len(), 1);
    assert!(
        pols[0]
            .policy_arn()
            .unwrap()
            .ends_with("/AmazonEKSClusterAdminPolicy")
    );
    assert_eq!(
        pols[0].access_scope().unwrap().r#type().unwrap().as_str(),
        "cluster"
    );

    // --- Add-ons: all five, vpc-cni with its IRSA role.
    let addons = aws
        .eks
        .list_addons()
        .cluster_name(&name)
        .send()
        .await
        .unwrap();
    let got: BTreeSet<&str> = addons.addons().iter().map(String::as_str).collect();
    assert_eq!(
        got,
        BTreeSet::from([
            "coredns",
            "eks-pod-identity-agent",
            "kube-proxy",
            "metrics-server",
            "vpc-cni"
        ])
    );
    let cni = aws
        .eks
        .describe_addon()
        .cluster_name(&name)
        .addon_name("vpc-cni")
        .send()
        .await
        .unwrap();
    let cni = cni.addon().unwrap();
    assert_eq!(cni.service_account_role_arn(), Some(r.arn()));
    assert_eq!(cni.status().unwrap().as_str(), "ACTIVE");
    assert!(cni.addon_version().unwrap().starts_with('v'));

    // --- One node group per zone, each in that zone's private subnet.
    let ngs = aws
        .eks
        .list_nodegroups()
        .cluster_name(&name)
        .send()
        .await
        .unwrap();
    let mut ng_names: Vec<String> = ngs.nodegroups().to_vec();
    ng_names.sort();
    assert_eq!(ng_names, ["general-a", "general-b", "general-c"]);
    let private: Vec<(String, String)> = subnets
        .subnets()
        .iter()
        .filter(|s| s.map_public_ip_on_launch() == Some(false))
        .map(|s| {
            (
                s.subnet_id().unwrap().to_string(),
                s.availability_zone().unwrap().to_string(),
            )
        })
        .collect();
    for ng_name in &ng_names {
        let ng = aws
            .eks
            .describe_nodegroup()
            .cluster_name(&name)
            .nodegroup_name(ng_name)
            .send()
            .await
            .unwrap();
        let ng = ng.nodegroup().unwrap();
        assert_eq!(ng.subnets().len(), 1, "{ng_name}");
        let zone = &private
            .iter()
            .find(|(id, _)| id == &ng.subnets()[0])
            .expect("a private subnet")
            .1;
        assert!(
            zone.ends_with(&ng_name[ng_name.len() - 1..]),
            "{ng_name} is in {zone}"
        );
        let sc = ng.scaling_config().unwrap();
        assert_eq!(
            (sc.min_size(), sc.desired_size(), sc.max_size()),
            (Some(1), Some(1), Some(3))
        );
        assert_eq!(ng.labels().unwrap()["workload"], "general");
        assert_eq!(ng.taints()[0].effect().unwrap().as_str(), "NO_SCHEDULE");
        assert_eq!(ng.capacity_type().unwrap().as_str(), "ON_DEMAND");
        assert_eq!(ng.instance_types().len(), 2);
        assert_eq!(
            ng.node_role(),
            Some(
                format!(
                    "arn:aws:iam::123456789012:role/eksscale/{}",
                    eksscale::spec::role_name(&name, region, "node")
                )
                .as_str()
            )
        );
        assert_eq!(ng.tags().unwrap()["eksscale.io/cluster"], name);
    }

    // --- Log group owned by eksscale, with retention.
    let lg = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/eks/{name}/cluster"))
        .send()
        .await
        .unwrap();
    assert_eq!(lg.log_groups().len(), 1);
    assert_eq!(lg.log_groups()[0].retention_in_days(), Some(90));

    // --- A second up makes no mutating call.
    let again = ws.run(&["up", "-o", "json"]).expect(0).summary();
    assert_eq!(again["aws_calls"]["mutating"], 0, "{again}");

    // --- A size change is an in-place update of exactly those node groups.
    ws.config(
        &name,
        region,
        &spec(
            "      minSize: 1\n      desiredSize: 2\n      maxSize: 4\n",
            "1.35",
        ),
    );
    let plan = ws.run(&["plan", "-o", "json"]).expect(0).summary();
    let updates: Vec<&str> = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "update")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        updates,
        [
            "nodegroup/general-a",
            "nodegroup/general-b",
            "nodegroup/general-c"
        ],
        "{plan}"
    );
    ws.run(&["up"]).expect(0);
    let ng = aws
        .eks
        .describe_nodegroup()
        .cluster_name(&name)
        .nodegroup_name("general-b")
        .send()
        .await
        .unwrap();
    let sc = ng.nodegroup().unwrap().scaling_config().unwrap();
    assert_eq!((sc.desired_size(), sc.max_size()), (Some(2), Some(4)));
    ws.run(&["plan", "--exit-code"]).expect(0);

    // --- A version change is an upgrade: control plane first, then node groups; never a new cluster.
    ws.config(
        &name,
        region,
        &spec(
            "      minSize: 1\n      desiredSize: 2\n      maxSize: 4\n",
            "1.36",
        ),
    );
    let plan = ws.run(&["plan", "-o", "json"]).expect(0).summary();
    let cluster_entry = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "eks-cluster")
        .unwrap();
    assert_eq!(cluster_entry["action"], "update", "{cluster_entry}");
    assert_eq!(cluster_entry["changes"][0]["field"], "version");
    assert_eq!(plan["summary"]["create"], 0);
    let text = ws.run(&["plan"]).expect(0).stdout();
    assert!(
        text.contains("Upgrade: the control plane goes from Kubernetes 1.35 to 1.36 in place"),
        "{text}"
    );
    let up = ws.run(&["up", "-o", "json"]).expect(0);
    let arn_before = c.arn().unwrap().to_string();
    let after = aws.eks.describe_cluster().name(&name).send().await.unwrap();
    assert_eq!(after.cluster().unwrap().version(), Some("1.36"));
    assert_eq!(
        after.cluster().unwrap().arn(),
        Some(arn_before.as_str()),
        "same cluster, upgraded"
    );
    let ng = aws
        .eks
        .describe_nodegroup()
        .cluster_name(&name)
        .nodegroup_name("general-a")
        .send()
        .await
        .unwrap();
    assert_eq!(ng.nodegroup().unwrap().version(), Some("1.36"));
    let finished: Vec<String> = up
        .events()
        .iter()
        .filter(|e| e["event"] == "finished" && e["outcome"] == "updated")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let pos = |id: &str| {
        finished
            .iter()
            .position(|x| x == id)
            .unwrap_or_else(|| panic!("{id} not updated: {finished:?}"))
    };
    assert!(
        pos("eks-cluster") < pos("nodegroup/general-a"),
        "control plane before nodes"
    );
    // A downgrade is refused before any change.
    ws.config(&name, region, &spec("", "1.34"));
    let err = ws.run(&["up"]).expect(2).stderr();
    assert!(err.contains("downgrade"), "{err}");

    // --- down leaves nothing: cluster, OIDC provider, log group, roles, network.
    ws.run(&["down", "--name", &name, "--region", region, "--yes"])
        .expect(0);
    assert!(aws.eks.describe_cluster().name(&name).send().await.is_err());
    let providers = aws
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap();
    assert!(
        !providers
            .open_id_connect_provider_list()
            .iter()
            .any(|p| p.arn() == Some(provider_arn.as_str()))
    );
    let lg = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/eks/{name}/"))
        .send()
        .await
        .unwrap();
    assert!(lg.log_groups().is_empty());
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
}

#[tokio::test]
async fn failed_cluster_reports_the_reason_and_down_still_cleans_up() {
    let region = "eu-west-1";
    let name = unique_name("eksfail");
    let ws = Workspace::new();
    let cfg = ws.config(&name, region, &spec("", "1.35"));
    // The emulator fails any EKS resource carrying this tag (tests/emulator/README.md).
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "    team: e2e\n",
        "    team: e2e\n    emulator.eksscale.io/fail: injected control plane failure\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let aws = Reader::new(region).await;

    let run = ws.run(&["up"]).expect(1);
    let err = format!("{}{}", run.stdout(), run.stderr());
    assert!(err.contains("FAILED"), "{err}");
    assert!(
        err.contains("injected control plane failure"),
        "the reason from EKS is shown: {err}"
    );
    assert!(
        err.contains("eksscale down"),
        "the message says how to clean up: {err}"
    );

    ws.run(&["down", "--yes"]).expect(0);
    assert!(aws.eks.describe_cluster().name(&name).send().await.is_err());
    assert_eq!(aws.tagged(&name).await, Vec::<String>::new());
}
