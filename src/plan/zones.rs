//! Which availability zones a spec uses: the listed names, or the first N
//! the region offers, preferring zones the cluster already uses so a re-run
//! never moves it. A zone is usable only if EKS supports its zone ID for
//! control planes and it offers every instance type the node groups ask for;
//! otherwise CreateCluster or CreateNodegroup fail minutes into `up`, after
//! the NAT gateways are already billing. Pure: what AWS offers comes from
//! `aws::zones`.

use std::collections::{BTreeMap, BTreeSet};

use crate::aws::zones::Zone;
use crate::kinds::{Kind, Observed, subnet};
use crate::spec::{Spec, ZoneChoice, ZoneLayout};

/// Zone IDs where EKS does not create control planes (EKS user guide,
/// "View Amazon EKS networking requirements for VPC and subnets": "subnets
/// ... can't be in use1-az3 in us-east-1, usw1-az2 in us-west-1, or
/// cac1-az3 in ca-central-1"; CreateCluster answers
/// UnsupportedAvailabilityZoneException).
pub const EKS_UNSUPPORTED_ZONE_IDS: &[&str] = &["use1-az3", "usw1-az2", "cac1-az3"];

/// A zone choice that cannot be met (a usage error: nothing was changed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ZoneError(pub String);

/// What AWS offers, as `choose` needs it.
#[derive(Debug, Clone, Default)]
pub struct Offer {
    pub zones: Vec<Zone>,
    /// Zone name -> instance types offered there (only the ones asked about).
    pub instance_types: BTreeMap<String, BTreeSet<String>>,
}

/// Every instance type the node groups ask for.
pub fn instance_types(spec: &Spec) -> Vec<String> {
    let mut v: Vec<String> = spec
        .node_groups
        .iter()
        .flat_map(|ng| ng.instance_types.iter().cloned())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The spec's zones laid out over its VPC CIDR.
pub fn layout(
    spec: &Spec,
    offer: &Offer,
    observed: &[Observed],
) -> Result<Vec<ZoneLayout>, ZoneError> {
    let names = choose(spec, offer, observed)?;
    crate::spec::layout(spec.vpc.cidr, &spec.region, &names).map_err(ZoneError)
}

/// Why a zone cannot host the cluster, if it cannot.
fn unusable(zone: &Zone, types: &[String], offer: &Offer) -> Option<String> {
    if EKS_UNSUPPORTED_ZONE_IDS.contains(&zone.id.as_str()) {
        return Some(format!(
            "{} ({}): EKS does not support this zone",
            zone.name, zone.id
        ));
    }
    let offered = offer.instance_types.get(&zone.name);
    let missing: Vec<&str> = types
        .iter()
        .filter(|t| !offered.is_some_and(|o| o.contains(*t)))
        .map(String::as_str)
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} ({}): {} not offered there",
            zone.name,
            zone.id,
            missing.join(", ")
        )
    })
}

/// Zone names for the spec.
pub fn choose(spec: &Spec, offer: &Offer, observed: &[Observed]) -> Result<Vec<String>, ZoneError> {
    let types = instance_types(spec);
    let names: Vec<&str> = offer.zones.iter().map(|z| z.name.as_str()).collect();
    let mut skipped = Vec::new();
    let usable: Vec<&str> = offer
        .zones
        .iter()
        .filter(|z| match unusable(z, &types, offer) {
            Some(why) => {
                skipped.push(why);
                false
            }
            None => true,
        })
        .map(|z| z.name.as_str())
        .collect();
    match &spec.vpc.zones {
        ZoneChoice::Names(wanted) => {
            if let Some(bad) = wanted.iter().find(|z| !names.contains(&z.as_str())) {
                return Err(ZoneError(format!(
                    "zone {bad} is not available in {} for this account; available zones: {}",
                    spec.region,
                    names.join(", ")
                )));
            }
            let bad: Vec<String> = wanted
                .iter()
                .filter_map(|w| offer.zones.iter().find(|z| &z.name == w))
                .filter_map(|z| unusable(z, &types, offer))
                .collect();
            if !bad.is_empty() {
                return Err(ZoneError(format!(
                    "spec.vpc.zones lists zones that cannot host this cluster: {}; usable zones in {}: {}",
                    bad.join("; "),
                    spec.region,
                    usable.join(", ")
                )));
            }
            Ok(wanted.clone())
        }
        ZoneChoice::Count(n) => {
            let mut chosen: Vec<String> = observed
                .iter()
                .filter(|o| o.kind == Kind::Subnet && o.is_ours())
                .filter_map(|o| o.attrs.get(subnet::ZONE).cloned())
                .filter(|z| usable.contains(&z.as_str()))
                .collect();
            chosen.sort();
            chosen.dedup();
            chosen.truncate(*n);
            for z in &usable {
                if chosen.len() >= *n {
                    break;
                }
                if !chosen.iter().any(|c| c == z) {
                    chosen.push(z.to_string());
                }
            }
            if chosen.len() < *n {
                let why = if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" (not usable: {})", skipped.join("; "))
                };
                return Err(ZoneError(format!(
                    "spec.vpc.zones asks for {n} zones but only {} zones of {} can host this cluster: {}{why}; lower spec.vpc.zones or change the node groups' instance types",
                    usable.len(),
                    spec.region,
                    usable.join(", ")
                )));
            }
            chosen.sort();
            Ok(chosen)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(types: &[&str]) -> Offer {
        let zones: Vec<Zone> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .zip([
                "use1-az6", "use1-az1", "use1-az2", "use1-az4", "use1-az3", "use1-az5",
            ])
            .map(|(l, id)| Zone {
                name: format!("us-east-1{l}"),
                id: id.to_string(),
            })
            .collect();
        let instance_types = zones
            .iter()
            .map(|z| {
                let mut t: BTreeSet<String> = types.iter().map(|s| s.to_string()).collect();
                if z.name == "us-east-1c" {
                    t.remove("m7g.large");
                }
                (z.name.clone(), t)
            })
            .collect();
        Offer {
            zones,
            instance_types,
        }
    }

    fn us_east(extra: &str) -> Spec {
        let text = format!(
            "apiVersion: eksscale.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: demo\n  region: us-east-1\nspec:\n{extra}"
        );
        crate::config::parse("test", &text, None).unwrap().spec
    }

    #[test]
    fn five_zones_in_us_east_1_skip_use1_az3() {
        let s = us_east("  vpc:\n    zones: 5\n");
        let z = choose(&s, &offer(&["m6i.large"]), &[]).unwrap();
        assert_eq!(z.len(), 5);
        assert!(!z.contains(&"us-east-1e".to_string()), "{z:?}");
    }

    #[test]
    fn zones_without_the_instance_types_are_skipped_or_refused() {
        let s = us_east(
            "  vpc:\n    zones: 3\n  nodeGroups:\n    - name: arm\n      instanceTypes: [m7g.large]\n",
        );
        let z = choose(&s, &offer(&["m7g.large"]), &[]).unwrap();
        assert_eq!(z, ["us-east-1a", "us-east-1b", "us-east-1d"]);
        let s = us_east(
            "  vpc:\n    zones: 6\n  nodeGroups:\n    - name: arm\n      instanceTypes: [m7g.large]\n",
        );
        let err = choose(&s, &offer(&["m7g.large"]), &[]).unwrap_err().0;
        assert!(err.contains("use1-az3): EKS does not support"), "{err}");
        assert!(err.contains("m7g.large not offered"), "{err}");
        let s = us_east("  vpc:\n    zones: [us-east-1a, us-east-1e]\n");
        let err = choose(&s, &offer(&["m6i.large"]), &[]).unwrap_err().0;
        assert!(err.contains("us-east-1e (use1-az3)"), "{err}");
    }
}
