use super::*;
use crate::spec::{Taint as SpecTaint, TaintEffect as Effect};

fn desired() -> Desired {
    Desired {
        name: "general-a".into(),
        cluster: "eks-cluster".into(),
        role: "iam-role/node".into(),
        subnets: vec!["subnet/private/us-west-2a".into()],
        instance_types: vec!["m7i.large".into(), "m6i.large".into()],
        ami_type: "AL2023_x86_64_STANDARD".into(),
        capacity: "ON_DEMAND".into(),
        min: 1,
        desired: 2,
        max: 3,
        labels: [("workload".to_string(), "general".to_string())].into(),
        taints: vec![SpecTaint {
            key: "dedicated".into(),
            value: Some("general".into()),
            effect: Effect::NoSchedule,
        }],
        version: "1.35".into(),
        launch_template: None,
        after: vec![],
    }
}

#[test]
fn discovery_reads_exactly_the_compared_attributes() {
    let node = desired().node(Tags::new());
    let ng = aws_sdk_eks::types::Nodegroup::builder()
        .nodegroup_name("general-a")
        .subnets("subnet-1")
        .instance_types("m6i.large")
        .instance_types("m7i.large")
        .ami_type(AmiTypes::Al2023X8664Standard)
        .node_role("arn:aws:iam::1:role/eksscale/node")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(1)
                .desired_size(2)
                .max_size(3)
                .build(),
        )
        .labels("workload", "general")
        .taints(
            Taint::builder()
                .key("dedicated")
                .value("general")
                .effect(TaintEffect::NoSchedule)
                .build(),
        )
        .version("1.35")
        .build();
    let o = observe(&ng, "demo", "us-west-2");
    assert_eq!(
        o.attrs.keys().collect::<Vec<_>>(),
        node.attrs.keys().collect::<Vec<_>>()
    );
    for f in [
        INSTANCE_TYPES,
        AMI_TYPE,
        LABELS,
        TAINTS,
        MIN_SIZE,
        DESIRED_SIZE,
        MAX_SIZE,
        VERSION,
    ] {
        assert_eq!(
            Some(&o.attrs[f]),
            node.attrs[f].value.resolve(&BTreeMap::new()).as_ref(),
            "{f}"
        );
    }
}

#[test]
fn labels_and_taints_round_trip_through_their_text() {
    let d = desired();
    let text = labels_text(&d.labels);
    assert_eq!(parse_labels(&text), d.labels);
    let taints = taints_text([
        ("dedicated", Some("general"), "NO_SCHEDULE"),
        ("spot", None, "PREFER_NO_SCHEDULE"),
    ]);
    assert_eq!(
        taints,
        "dedicated=general:NO_SCHEDULE,spot=:PREFER_NO_SCHEDULE"
    );
    assert_eq!(
        parse_taints(&taints),
        vec![
            (
                "dedicated".to_string(),
                Some("general".to_string()),
                "NO_SCHEDULE".to_string()
            ),
            ("spot".to_string(), None, "PREFER_NO_SCHEDULE".to_string()),
        ]
    );
    assert!(parse_taints("").is_empty());
    assert!(parse_labels("").is_empty());
}
