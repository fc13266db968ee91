use super::*;
use crate::config;
use crate::kinds::Kind;

pub fn spec_with(extra: &str) -> Spec {
    let text = format!(
        "apiVersion: eksscale.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: demo\n  region: us-west-2\n{extra}"
    );
    config::parse("test", &text, None).unwrap().spec
}

pub fn zones(spec: &Spec) -> Vec<ZoneLayout> {
    let names: Vec<String> = ["a", "b", "c"]
        .iter()
        .take(spec.vpc.zones.count())
        .map(|s| format!("us-west-2{s}"))
        .collect();
    crate::spec::layout(spec.vpc.cidr, &spec.region, &names).unwrap()
}

fn ids(nodes: &[Node], kind: Kind) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.kind() == kind)
        .map(|n| n.id.clone())
        .collect()
}

#[test]
fn nat_count_follows_mode() {
    for (mode, n) in [("single", 1), ("perZone", 3), ("none", 0)] {
        let s = spec_with(&format!("spec:\n  vpc:\n    natGateway: {mode}\n"));
        let g = build(&s, &zones(&s), &Inputs::default());
        assert_eq!(ids(&g, Kind::NatGateway).len(), n, "{mode}");
        assert_eq!(ids(&g, Kind::ElasticIp).len(), n, "{mode}");
        assert_eq!(ids(&g, Kind::Subnet).len(), 6);
        assert_eq!(ids(&g, Kind::RouteTable).len(), 4);
    }
}

#[test]
fn private_routes_stay_in_zone_when_per_zone() {
    let s = spec_with("spec:\n  vpc:\n    natGateway: perZone\n");
    let g = build(&s, &zones(&s), &Inputs::default());
    let rt = g
        .iter()
        .find(|n| n.id == "route-table/private/us-west-2b")
        .unwrap();
    assert!(rt.deps.contains(&"nat-gateway/us-west-2b".to_string()));
    let s = spec_with("spec:\n  vpc:\n    natGateway: single\n");
    let g = build(&s, &zones(&s), &Inputs::default());
    let rt = g
        .iter()
        .find(|n| n.id == "route-table/private/us-west-2b")
        .unwrap();
    assert!(rt.deps.contains(&"nat-gateway/us-west-2a".to_string()));
}

#[test]
fn graph_is_a_valid_dag_with_expected_tags() {
    let s = spec_with("");
    let g = build(&s, &zones(&s), &Inputs::default());
    let shape: Vec<(String, Vec<String>)> =
        g.iter().map(|n| (n.id.clone(), n.deps.clone())).collect();
    crate::engine::check_graph(&shape).unwrap();
    let public = g
        .iter()
        .find(|n| n.id == "subnet/public/us-west-2a")
        .unwrap();
    assert_eq!(public.tags["kubernetes.io/role/elb"], "1");
    assert_eq!(public.tags["kubernetes.io/cluster/demo"], "shared");
    assert_eq!(public.tags[TAG_COMPONENT], "subnet/public/us-west-2a");
    let private = g
        .iter()
        .find(|n| n.id == "subnet/private/us-west-2c")
        .unwrap();
    assert_eq!(private.tags["kubernetes.io/role/internal-elb"], "1");
}

#[test]
fn every_node_is_tagged_with_its_own_id() {
    let s = spec_with("spec:\n  keda:\n    identity: podIdentity\n");
    let g = build(&s, &zones(&s), &Inputs::default());
    for n in g.iter().filter(|n| n.kind() != Kind::SecurityGroupRule) {
        assert_eq!(n.tags.get(TAG_COMPONENT), Some(&n.id), "{}", n.id);
        assert_eq!(n.tags.get(TAG_CLUSTER).map(String::as_str), Some("demo"));
        assert_eq!(
            n.tags.get(TAG_REGION).map(String::as_str),
            Some("us-west-2")
        );
    }
}
