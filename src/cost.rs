//! Monthly cost estimates from the dated price table: of a config (what `up`
//! would run), of what exists (for `plan`'s change, `list` and what `down`
//! leaves), item by item. A price the table lacks for the region is
//! "unknown", never guessed. Usage-based charges (NAT data, load balancer
//! capacity units, log ingestion, SQS requests) are not estimated, and the
//! output says so.

use serde::Serialize;

use crate::catalog::prices::{HOURS_PER_MONTH, Prices};
use crate::kinds::{Kind, Observed};
use crate::spec::{CapacityType, NatMode, Spec, SupportType};

/// What runs and bills by the hour (or by the GiB-month).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub clusters: u32,
    pub extended_support: bool,
    pub nat_gateways: u32,
    /// Public IPv4 addresses: one per NAT gateway, one per node in a public subnet.
    pub public_ipv4: u32,
    /// (instance type, Spot, count, root volume GiB).
    pub nodes: Vec<(String, bool, u32, u32)>,
    /// (ELB item: `elb-classic` | `elb-application` | `elb-network`, count).
    pub load_balancers: Vec<(String, u32)>,
    /// Other EBS volumes (left by Kubernetes): total GiB.
    pub volumes_gib: u32,
}

/// One line of an estimate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    pub item: String,
    pub quantity: f64,
    /// Per unit (per hour, or per GiB-month); `None`: not in the table.
    pub unit_price: Option<f64>,
    pub monthly: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Estimate {
    pub currency: String,
    pub prices_as_of: String,
    pub region: String,
    /// The sum of the lines whose price is known (`None`: none is).
    pub monthly_total: Option<f64>,
    /// Every line's price is known, so the total is the whole estimate.
    pub complete: bool,
    /// Lines whose price the table lacks for the region (not in the total).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    pub items: Vec<Line>,
    /// What is not estimated (usage-based charges).
    pub not_estimated: Vec<String>,
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl Inventory {
    /// What a config runs once `up` is done, with `zones` zones.
    pub fn of_spec(spec: &Spec, zones: usize) -> Self {
        let zones = zones as u32;
        let nat_gateways = match spec.vpc.nat {
            NatMode::Single => 1,
            NatMode::PerZone => zones,
            NatMode::None => 0,
        };
        let mut nodes = Vec::new();
        let mut public_nodes = 0;
        for ng in &spec.node_groups {
            let count = ng.desired.max(0) as u32 * if ng.per_zone { zones } else { 1 };
            // On-demand groups launch the first type; Spot diversifies, and
            // the first type stands for the group.
            let t = ng.instance_types.first().cloned().unwrap_or_default();
            nodes.push((
                t,
                ng.capacity == CapacityType::Spot,
                count,
                ng.volume_gib.max(0) as u32,
            ));
            if spec.vpc.nat == NatMode::None {
                public_nodes += count;
            }
        }
        Inventory {
            clusters: 1,
            extended_support: false,
            nat_gateways,
            public_ipv4: nat_gateways + public_nodes,
            nodes,
            load_balancers: Vec::new(),
            volumes_gib: 0,
        }
    }

    /// What exists, from discovery (node groups by their compared attributes).
    pub fn of_observed(observed: &[Observed]) -> Self {
        use crate::kinds::{launch_template, nodegroup};
        let mut inv = Inventory::default();
        let volume_of = |ng: &Observed| -> u32 {
            observed
                .iter()
                .filter(|o| o.kind == Kind::LaunchTemplate)
                .find(|lt| {
                    lt.key.as_deref().is_some_and(|k| {
                        ng.key
                            .as_deref()
                            .is_some_and(|n| k.ends_with(n.trim_start_matches("nodegroup/")))
                    })
                })
                .and_then(|lt| lt.attrs.get(launch_template::VOLUME))
                .and_then(|v| v.split_whitespace().find_map(|w| w.strip_suffix("GiB")))
                .and_then(|n| n.parse().ok())
                .unwrap_or(20)
        };
        for o in observed.iter().filter(|o| o.is_ours()) {
            match o.kind {
                Kind::EksCluster => inv.clusters += 1,
                Kind::NatGateway if o.state.as_deref() != Some("deleted") => {
                    inv.nat_gateways += 1;
                }
                Kind::ElasticIp => inv.public_ipv4 += 1,
                Kind::NodeGroup => {
                    let t = o
                        .attrs
                        .get(nodegroup::INSTANCE_TYPES)
                        .and_then(|t| t.split(',').next())
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    let spot =
                        o.attrs.get(nodegroup::CAPACITY_TYPE).map(String::as_str) == Some("SPOT");
                    let n = o
                        .attrs
                        .get(nodegroup::DESIRED_SIZE)
                        .and_then(|d| d.parse().ok())
                        .unwrap_or(0);
                    inv.nodes.push((t, spot, n, volume_of(o)));
                }
                Kind::ClassicLoadBalancer => push_lb(&mut inv, "elb-classic"),
                Kind::LoadBalancer
                    if o.internal.get("type").map(String::as_str) != Some("target-group") =>
                {
                    let item = match o.attrs.get("type").map(String::as_str) {
                        Some("network") => "elb-network",
                        _ => "elb-application",
                    };
                    push_lb(&mut inv, item);
                }
                Kind::Instance => inv.nodes.push((
                    o.attrs
                        .get(crate::kinds::instance::TYPE)
                        .cloned()
                        .unwrap_or_default(),
                    false,
                    1,
                    0,
                )),
                Kind::Volume => {
                    inv.volumes_gib += o
                        .attrs
                        .get(crate::kinds::volume::SIZE)
                        .and_then(|s| s.parse::<u32>().ok())
                        .unwrap_or(0);
                }
                _ => {}
            }
        }
        inv
    }
}

fn push_lb(inv: &mut Inventory, item: &str) {
    match inv.load_balancers.iter_mut().find(|(i, _)| i == item) {
        Some((_, n)) => *n += 1,
        None => inv.load_balancers.push((item.to_string(), 1)),
    }
}

/// The monthly estimate of `inv` in `region`.
pub fn estimate(inv: &Inventory, region: &str, prices: &Prices) -> Estimate {
    let mut items = Vec::new();
    let mut hourly = |item: &str, label: String, qty: f64, factor: f64, note: Option<String>| {
        if qty == 0.0 {
            return;
        }
        let unit = prices.get(region, item).map(|p| p * factor);
        items.push(Line {
            item: label,
            quantity: qty,
            unit_price: unit,
            monthly: unit.map(|u| round2(u * qty * HOURS_PER_MONTH)),
            note,
        });
    };
    hourly(
        if inv.extended_support {
            "eks-cluster-extended"
        } else {
            "eks-cluster-standard"
        },
        "EKS control plane".into(),
        inv.clusters as f64,
        1.0,
        None,
    );
    hourly(
        "nat-gateway",
        "NAT gateway".into(),
        inv.nat_gateways as f64,
        1.0,
        Some("plus data processed per GB (not estimated)".into()),
    );
    hourly(
        "public-ipv4",
        "public IPv4 address".into(),
        inv.public_ipv4 as f64,
        1.0,
        None,
    );
    for (t, spot, n, _) in &inv.nodes {
        let factor = if *spot {
            1.0 - prices.spot_discount
        } else {
            1.0
        };
        hourly(
            &format!("ec2:{t}"),
            format!("EC2 {t} ({})", if *spot { "Spot" } else { "on-demand" }),
            *n as f64,
            factor,
            spot.then(|| {
                format!(
                    "Spot estimated at {:.0}% below on-demand; the real price varies",
                    prices.spot_discount * 100.0
                )
            }),
        );
    }
    for (lb, n) in &inv.load_balancers {
        hourly(
            lb,
            format!("load balancer ({})", lb.trim_start_matches("elb-")),
            *n as f64,
            1.0,
            Some("plus capacity units (not estimated)".into()),
        );
    }
    let root_gib: u32 = inv.nodes.iter().map(|(_, _, n, gib)| n * gib).sum();
    for (label, gib) in [
        ("EBS gp3 root volumes", root_gib),
        ("EBS volumes", inv.volumes_gib),
    ] {
        if gib == 0 {
            continue;
        }
        let unit = prices.get(region, "ebs-gp3-gb-month");
        items.push(Line {
            item: label.into(),
            quantity: gib as f64,
            unit_price: unit,
            monthly: unit.map(|u| round2(u * gib as f64)),
            note: Some("GiB-month".into()),
        });
    }
    let known: Vec<f64> = items.iter().filter_map(|l| l.monthly).collect();
    let unknown: Vec<String> = items
        .iter()
        .filter(|l| l.monthly.is_none())
        .map(|l| l.item.clone())
        .collect();
    let monthly_total = if known.is_empty() && !items.is_empty() {
        None
    } else {
        Some(round2(known.iter().sum()))
    };
    Estimate {
        currency: prices.currency.clone(),
        prices_as_of: prices.as_of.clone(),
        region: region.to_string(),
        monthly_total,
        complete: unknown.is_empty(),
        unknown,
        items,
        not_estimated: vec![
            "NAT gateway data processing".into(),
            "load balancer capacity units".into(),
            "CloudWatch Logs ingestion and storage".into(),
            "SQS requests (the first million a month are free)".into(),
            "data transfer".into(),
        ],
    }
}

/// The config's estimate (the zones `up` lays out).
pub fn of_spec(spec: &Spec, zones: usize) -> Estimate {
    let mut inv = Inventory::of_spec(spec, zones);
    inv.extended_support = false;
    let mut e = estimate(&inv, &spec.region, crate::catalog::prices::table());
    if spec.support_type == SupportType::Extended
        && let Some(p) = crate::catalog::prices::table().get(&spec.region, "eks-cluster-extended")
    {
        e.not_estimated.push(format!(
            "extended support: once Kubernetes {} leaves standard support, the control plane costs {p} per hour instead (supportType: EXTENDED)",
            spec.kubernetes_version
        ));
    }
    e
}

/// What one existing resource costs a month, where the table says (`None`:
/// free, usage-based, or not in the table).
pub fn monthly_of(o: &Observed, region: &str) -> Option<f64> {
    let mut one = o.clone();
    one.foreign = None;
    let e = estimate(
        &Inventory::of_observed(std::slice::from_ref(&one)),
        region,
        crate::catalog::prices::table(),
    );
    if e.items.is_empty() {
        return None;
    }
    e.monthly_total
}

/// Human text: one line per item, the total, the date of the prices.
pub fn text(e: &Estimate) -> String {
    let money = |v: Option<f64>| match v {
        Some(v) => format!("{v:>10.2}"),
        None => format!("{:>10}", "unknown"),
    };
    let mut out = String::new();
    for l in &e.items {
        out.push_str(&format!(
            "  {:<34} {:>7} x {:>9}  {} {}{}\n",
            l.item,
            l.quantity,
            l.unit_price
                .map(|p| format!("{p:.4}"))
                .unwrap_or_else(|| "unknown".into()),
            money(l.monthly),
            e.currency,
            l.note
                .as_deref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "  {:<34} {:>21}  {} {}/month  (prices of {}, {})\n",
        if e.complete {
            "total"
        } else {
            "total of the known lines"
        },
        "",
        money(e.monthly_total),
        e.currency,
        e.prices_as_of,
        e.region
    ));
    if !e.unknown.is_empty() {
        out.push_str(&format!(
            "  not in the price table for {}: {} (so the real total is higher)\n",
            e.region,
            e.unknown.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::graph::tests::spec_with;

    #[test]
    fn a_config_costs_the_sum_of_its_lines_from_the_table() {
        let spec = spec_with(
            "spec:\n  vpc:\n    zones: 3\n    natGateway: perZone\n  nodeGroups:\n    - name: a\n      instanceTypes: [m6i.large]\n      perZone: true\n      minSize: 1\n      desiredSize: 2\n      maxSize: 3\n      volumeSize: 50\n    - name: s\n      instanceTypes: [m6i.xlarge]\n      capacityType: SPOT\n      minSize: 0\n      desiredSize: 1\n      maxSize: 3\n",
        );
        let p = crate::catalog::prices::table();
        let r = "us-east-2";
        let e = estimate(&Inventory::of_spec(&spec, 3), r, p);
        let h = HOURS_PER_MONTH;
        let want = 0.10 * h
            + 3.0 * p.get(r, "nat-gateway").unwrap() * h
            + 3.0 * p.get(r, "public-ipv4").unwrap() * h
            + 6.0 * p.get(r, "ec2:m6i.large").unwrap() * h
            + (1.0 - p.spot_discount) * p.get(r, "ec2:m6i.xlarge").unwrap() * h
            + (6.0 * 50.0 + 20.0) * p.get(r, "ebs-gp3-gb-month").unwrap_or(f64::NAN);
        // us-east-2 has no EBS price in the table: unknown, and left out of
        // the total (which says it is incomplete).
        assert!(want.is_nan());
        assert!(!e.complete);
        assert_eq!(e.unknown, ["EBS gp3 root volumes"]);
        let known: f64 = e.items.iter().filter_map(|l| l.monthly).sum();
        assert!((e.monthly_total.unwrap() - known).abs() < 0.01);
        let ebs = e
            .items
            .iter()
            .find(|l| l.item == "EBS gp3 root volumes")
            .unwrap();
        assert_eq!((ebs.quantity, ebs.unit_price), (320.0, None));

        let r = "us-east-1";
        let e = estimate(&Inventory::of_spec(&spec, 3), r, p);
        let want = 0.10 * h
            + 3.0 * p.get(r, "nat-gateway").unwrap() * h
            + 3.0 * p.get(r, "public-ipv4").unwrap() * h
            + 6.0 * p.get(r, "ec2:m6i.large").unwrap() * h
            + (1.0 - p.spot_discount) * p.get(r, "ec2:m6i.xlarge").unwrap() * h
            + (6.0 * 50.0 + 20.0) * p.get(r, "ebs-gp3-gb-month").unwrap();
        let total = e.monthly_total.unwrap();
        assert!(e.complete);
        assert!((total - want).abs() < 0.05, "{total} vs {want}");
        let sum: f64 = e.items.iter().map(|l| l.monthly.unwrap()).sum();
        assert!((total - sum).abs() < 0.01);
        assert!(
            e.items
                .iter()
                .any(|l| l.note.as_deref().is_some_and(|n| n.contains("Spot")))
        );
    }

    #[test]
    fn no_nat_puts_a_public_ip_on_every_node() {
        let spec = spec_with(
            "spec:\n  vpc:\n    zones: 2\n    natGateway: none\n  nodeGroups:\n    - name: a\n      minSize: 1\n      desiredSize: 3\n      maxSize: 3\n",
        );
        let inv = Inventory::of_spec(&spec, 2);
        assert_eq!((inv.nat_gateways, inv.public_ipv4), (0, 3));
    }

    #[test]
    fn a_region_outside_the_table_is_unknown_not_guessed() {
        let spec = spec_with("spec:\n  vpc:\n    zones: 2\n");
        let e = estimate(
            &Inventory::of_spec(&spec, 2),
            "ap-southeast-7",
            crate::catalog::prices::table(),
        );
        assert_eq!(e.monthly_total, None);
        assert!(e.items.iter().all(|l| l.unit_price.is_none()));
    }
}
