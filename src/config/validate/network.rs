//! The network part of a config: the VPC CIDR, its zones, and the endpoint.

use std::collections::BTreeSet;

use ipnet::Ipv4Net;

use super::Checker;
use crate::config::schema::{EndpointFile, SpecFile, Zones};
use crate::spec::{self, ZoneChoice};

/// The VPC CIDR (if valid) and the zone choice.
pub(super) fn vpc(c: &mut Checker, s: &SpecFile, region: &str) -> (Option<Ipv4Net>, ZoneChoice) {
    let cidr = check_vpc_cidr(c, &s.vpc.cidr);
    let zones = match &s.vpc.zones {
        Zones::Count(n) => {
            if *n < 2 {
                c.err(
                    "spec.vpc.zones",
                    format!("spec.vpc.zones must be at least 2 (EKS needs subnets in two zones), got {n}"),
                );
            } else if *n > 6 {
                c.err(
                    "spec.vpc.zones",
                    format!(
                        "spec.vpc.zones must be at most 6 (no AWS region has more zones), got {n}"
                    ),
                );
            }
            ZoneChoice::Count(usize::try_from((*n).clamp(0, 6)).unwrap_or(0))
        }
        Zones::Names(names) => {
            if names.len() < 2 {
                c.err(
                    "spec.vpc.zones",
                    format!(
                        "spec.vpc.zones must list at least 2 zones (EKS needs subnets in two zones), got {}",
                        names.len()
                    ),
                );
            }
            let mut seen = BTreeSet::new();
            for (i, z) in names.iter().enumerate() {
                let path = format!("spec.vpc.zones[{i}]");
                if !seen.insert(z) {
                    c.err(
                        &path,
                        format!("zone {z:?} is listed twice in spec.vpc.zones"),
                    );
                } else if !region.is_empty() && !is_zone_of(z, region) {
                    c.err(
                        &path,
                        format!("zone {z:?} is not in region {region} (zone names are the region plus a letter, e.g. {region}a)"),
                    );
                }
            }
            ZoneChoice::Names(names.clone())
        }
    };
    if let Some(cidr) = cidr
        && zones.count() >= 2
        && let Err(e) = spec::carve_subnets(cidr, zones.count())
    {
        c.err(
            "spec.vpc.cidr",
            format!("spec.vpc.cidr must fit a public and a private subnet per zone: {e}; use a larger block (e.g. a /16) or fewer zones"),
        );
    }
    (cidr, zones)
}

/// Endpoint access: public, private or both, and who may reach it.
pub(super) fn endpoint(c: &mut Checker, ep: &EndpointFile) {
    if !ep.public && !ep.private {
        c.err(
            "spec.endpoint",
            "spec.endpoint must enable public or private access (or both); with neither, nothing can reach the Kubernetes API",
        );
    }
    if ep.public_access_cidrs.is_empty() && ep.public {
        c.err(
            "spec.endpoint.publicAccessCidrs",
            "spec.endpoint.publicAccessCidrs is empty but public access is on; list the CIDRs allowed (e.g. [\"203.0.113.0/24\"]) or set public: false",
        );
    }
    for (i, cidr) in ep.public_access_cidrs.iter().enumerate() {
        let path = format!("spec.endpoint.publicAccessCidrs[{i}]");
        match cidr.parse::<Ipv4Net>() {
            Ok(n) if n != n.trunc() => c.err(
                &path,
                format!("{cidr:?} has host bits set; did you mean {}?", n.trunc()),
            ),
            Ok(_) => {}
            Err(_) => c.err(
                &path,
                format!("{cidr:?} is not an IPv4 CIDR block such as 203.0.113.0/24"),
            ),
        }
    }
    if ep.public && ep.public_access_cidrs.iter().any(|c| c == "0.0.0.0/0") {
        c.warn(
            "spec.endpoint.publicAccessCidrs",
            "the Kubernetes API is reachable from any IPv4 address (0.0.0.0/0); narrow publicAccessCidrs for production",
        );
    }
    if !ep.private {
        c.warn(
            "spec.endpoint.private",
            "private endpoint access is off: nodes reach the API over the internet through the NAT gateway",
        );
    }
}

pub(super) fn is_zone_of(zone: &str, region: &str) -> bool {
    zone.strip_prefix(region)
        .is_some_and(|s| s.len() == 1 && s.chars().all(|c| c.is_ascii_lowercase()))
}

pub(super) fn expected_suffixes(zones: &ZoneChoice, region: &str) -> Vec<String> {
    match zones {
        ZoneChoice::Names(n) => n
            .iter()
            .map(|z| z.strip_prefix(region).unwrap_or(z).to_string())
            .collect(),
        ZoneChoice::Count(n) => (0..*n)
            .map(|i| ((b'a' + i as u8) as char).to_string())
            .collect(),
    }
}

fn check_vpc_cidr(c: &mut Checker, cidr: &str) -> Option<Ipv4Net> {
    let Ok(net) = cidr.parse::<Ipv4Net>() else {
        c.err(
            "spec.vpc.cidr",
            format!("{cidr:?} is not an IPv4 CIDR block such as 10.0.0.0/16"),
        );
        return None;
    };
    if net != net.trunc() {
        c.err(
            "spec.vpc.cidr",
            format!("{cidr:?} has host bits set; did you mean {}?", net.trunc()),
        );
        return None;
    }
    if !(16..=24).contains(&net.prefix_len()) {
        c.err(
            "spec.vpc.cidr",
            format!(
                "spec.vpc.cidr must be between /16 and /24, got /{}",
                net.prefix_len()
            ),
        );
        return None;
    }
    let private: [Ipv4Net; 3] = [
        "10.0.0.0/8".parse().expect("literal"),
        "172.16.0.0/12".parse().expect("literal"),
        "192.168.0.0/16".parse().expect("literal"),
    ];
    if !private.iter().any(|p| p.contains(&net)) {
        c.warn(
            "spec.vpc.cidr",
            format!("{net} is not a private (RFC 1918) range; nodes will use these addresses"),
        );
    }
    let docker: Ipv4Net = "172.17.0.0/16".parse().expect("literal");
    if docker.contains(&net) || net.contains(&docker) {
        c.err(
            "spec.vpc.cidr",
            format!("{net} overlaps 172.17.0.0/16, which EKS nodes use for Docker's bridge; pick another range such as 10.0.0.0/16"),
        );
    }
    Some(net)
}
