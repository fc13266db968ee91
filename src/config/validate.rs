//! Every rule a config must satisfy, checked before any AWS call.
//!
//! Each broken rule becomes a [`Problem`] anchored at a YAML path; the loader
//! turns paths into `file:line:column`. All problems are collected (not just
//! the first), so one run shows everything to fix.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::Ipv4Net;

use super::schema::{API_VERSION, ConfigFile, KIND, KedaIdentity, KedaInstaller, NatMode, Zones};
use crate::catalog::{self, ADDONS, KEDA_RELEASES, KUBERNETES_VERSIONS, SAMPLES};
use crate::spec::{
    self, AccessSpec, EndpointSpec, KedaSpec, NodeGroupSpec, Spec, Taint, VpcSpec, ZoneChoice,
};

/// One broken rule, at a path such as `spec.nodeGroups[0].minSize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

/// Something legal but probably unintended; printed, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: String,
    pub message: String,
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    warnings: Vec<Warning>,
}

impl Checker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }
    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Maximum length of an EKS cluster name.
pub const CLUSTER_NAME_MAX: usize = 100;
/// Maximum length of an EKS managed node group name.
pub const NODEGROUP_NAME_MAX: usize = 63;
/// EC2 allows 50 tags per resource; eksscale uses up to 8 of its own.
pub const USER_TAGS_MAX: usize = 40;

/// A usable spec with its warnings, or every problem (with the warnings).
pub type Validated = Result<(Spec, Vec<Warning>), (Vec<Problem>, Vec<Warning>)>;

/// Validates a parsed file. `region_fallback` is the region from the AWS SDK
/// chain (`AWS_REGION`, profile), used when `metadata.region` is absent.
pub fn validate(file: &ConfigFile, region_fallback: Option<String>) -> Validated {
    let mut c = Checker::default();

    if file.api_version != API_VERSION {
        c.err(
            "apiVersion",
            format!(
                "apiVersion must be {API_VERSION:?}, got {:?}",
                file.api_version
            ),
        );
    }
    if file.kind != KIND {
        c.err(
            "kind",
            format!("kind must be {KIND:?}, got {:?}", file.kind),
        );
    }

    let name = file.metadata.name.clone();
    check_cluster_name(&mut c, &name);

    let region = match (&file.metadata.region, region_fallback) {
        (Some(r), _) => {
            check_region(&mut c, "metadata.region", r);
            r.clone()
        }
        (None, Some(r)) => {
            check_region(&mut c, "metadata.region", &r);
            r
        }
        (None, None) => {
            c.err(
                "metadata.region",
                "metadata.region is not set and no region was found in AWS_REGION, AWS_DEFAULT_REGION or the AWS profile; add `region: us-west-2` (for example) under metadata",
            );
            String::new()
        }
    };

    check_tags(&mut c, &file.metadata.tags);

    let s = &file.spec;
    if !KUBERNETES_VERSIONS.contains(&s.kubernetes_version.as_str()) {
        c.err(
            "spec.kubernetesVersion",
            format!(
                "spec.kubernetesVersion {:?} is not a version eksscale supports; use one of {}",
                s.kubernetes_version,
                KUBERNETES_VERSIONS.join(", ")
            ),
        );
    }

    // --- VPC -----------------------------------------------------------------
    let cidr = check_vpc_cidr(&mut c, &s.vpc.cidr);
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
                } else if !region.is_empty() && !is_zone_of(z, &region) {
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

    // --- Endpoint ------------------------------------------------------------
    let ep = &s.endpoint;
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

    // --- Logging -------------------------------------------------------------
    let mut logging = s.logging.clone();
    let before = logging.len();
    logging.sort();
    logging.dedup();
    if logging.len() != before {
        c.err("spec.logging", "spec.logging lists a log type twice");
    }

    // --- Access ----------------------------------------------------------------
    let mut admins_seen = BTreeSet::new();
    for (i, arn) in s.access.admins.iter().enumerate() {
        let path = format!("spec.access.admins[{i}]");
        if !is_principal_arn(arn) {
            c.err(
                &path,
                format!("{arn:?} is not an IAM role or user ARN such as arn:aws:iam::123456789012:role/Admin"),
            );
        } else if !admins_seen.insert(arn) {
            c.err(
                &path,
                format!("{arn:?} is listed twice in spec.access.admins"),
            );
        }
    }
    if !s.access.bootstrap_creator_admin && s.access.admins.is_empty() {
        c.warn(
            "spec.access",
            "bootstrapCreatorAdmin is false and no admins are listed: nobody will be able to use the Kubernetes API, and eksscale cannot install KEDA",
        );
    }

    // --- Add-ons -----------------------------------------------------------------
    let mut addons_seen = BTreeSet::new();
    for (i, a) in s.addons.iter().enumerate() {
        let path = format!("spec.addons[{i}]");
        if catalog::addon(a).is_none() {
            let hint = catalog::suggest(a, ADDONS.iter().map(|x| x.name))
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_else(|| {
                    format!(
                        "; known add-ons: {}",
                        ADDONS.iter().map(|x| x.name).collect::<Vec<_>>().join(", ")
                    )
                });
            c.err(
                &path,
                format!("{a:?} is not an EKS add-on eksscale knows{hint}"),
            );
        } else if !addons_seen.insert(a) {
            c.err(&path, format!("add-on {a:?} is listed twice"));
        }
    }

    // --- Node groups -----------------------------------------------------------
    if s.node_groups.is_empty() {
        c.err(
            "spec.nodeGroups",
            "spec.nodeGroups must have at least one node group (KEDA and the samples need nodes to run on)",
        );
    }
    let zone_suffix_len = match &zones {
        ZoneChoice::Names(n) => n
            .iter()
            .map(|z| z.strip_prefix(&region).map_or(1, str::len))
            .max()
            .unwrap_or(1),
        ZoneChoice::Count(_) => 1,
    };
    let mut ng_names: BTreeMap<String, String> = BTreeMap::new();
    let mut node_groups = Vec::new();
    for (i, ng) in s.node_groups.iter().enumerate() {
        let p = format!("spec.nodeGroups[{i}]");
        if !is_eks_name(&ng.name) {
            c.err(
                format!("{p}.name"),
                format!("node group name {:?} must start with a letter or digit and contain only letters, digits, '-' and '_'", ng.name),
            );
        }
        let longest = if ng.per_zone {
            ng.name.len() + 1 + zone_suffix_len
        } else {
            ng.name.len()
        };
        if longest > NODEGROUP_NAME_MAX {
            c.err(
                format!("{p}.name"),
                format!(
                    "node group name {:?} is too long: EKS allows {NODEGROUP_NAME_MAX} characters{}",
                    ng.name,
                    if ng.per_zone { " including the -<zone> suffix added by perZone" } else { "" }
                ),
            );
        }
        let expanded: Vec<String> = if ng.per_zone {
            expected_suffixes(&zones, &region)
                .into_iter()
                .map(|s| format!("{}-{s}", ng.name))
                .collect()
        } else {
            vec![ng.name.clone()]
        };
        for n in expanded {
            if let Some(other) = ng_names.insert(n.clone(), p.clone()) {
                c.err(
                    format!("{p}.name"),
                    format!("node group name {n:?} is used twice (also by {other}); node group names must be unique"),
                );
                break;
            }
        }
        if ng.instance_types.is_empty() {
            c.err(
                format!("{p}.instanceTypes"),
                "instanceTypes must list at least one EC2 instance type, e.g. [m6i.large]",
            );
        }
        if ng.instance_types.len() > 20 {
            c.err(
                format!("{p}.instanceTypes"),
                "instanceTypes may list at most 20 types (EKS limit)",
            );
        }
        for (j, t) in ng.instance_types.iter().enumerate() {
            if !is_instance_type(t) {
                c.err(
                    format!("{p}.instanceTypes[{j}]"),
                    format!("{t:?} is not an EC2 instance type name such as m6i.large"),
                );
            }
        }
        let (min, desired, max) = (ng.min_size, ng.desired_size, ng.max_size);
        if min < 0 {
            c.err(
                format!("{p}.minSize"),
                format!("minSize must be 0 or more, got {min}"),
            );
        }
        if max < 1 {
            c.err(
                format!("{p}.maxSize"),
                format!("maxSize must be at least 1, got {max}"),
            );
        }
        if max > 1000 {
            c.err(
                format!("{p}.maxSize"),
                format!("maxSize must be at most 1000 (EKS limit per node group), got {max}"),
            );
        }
        if min > desired {
            c.err(
                format!("{p}.desiredSize"),
                format!("desiredSize ({desired}) must be at least minSize ({min}); raise desiredSize or lower minSize"),
            );
        }
        if desired > max {
            c.err(
                format!("{p}.desiredSize"),
                format!("desiredSize ({desired}) must be at most maxSize ({max}); raise maxSize or lower desiredSize"),
            );
        }
        for (k, v) in &ng.labels {
            if let Err(e) = check_label_key(k) {
                c.err(
                    format!("{p}.labels.{k}"),
                    format!("label key {k:?} is invalid: {e}"),
                );
            }
            if let Err(e) = check_label_value(v) {
                c.err(
                    format!("{p}.labels.{k}"),
                    format!("label value {v:?} is invalid: {e}"),
                );
            }
        }
        let mut taints = Vec::new();
        for (j, t) in ng.taints.iter().enumerate() {
            if let Err(e) = check_label_key(&t.key) {
                c.err(
                    format!("{p}.taints[{j}].key"),
                    format!("taint key {:?} is invalid: {e}", t.key),
                );
            }
            if let Some(v) = &t.value
                && let Err(e) = check_label_value(v)
            {
                c.err(
                    format!("{p}.taints[{j}].value"),
                    format!("taint value {v:?} is invalid: {e}"),
                );
            }
            taints.push(Taint {
                key: t.key.clone(),
                value: t.value.clone(),
                effect: t.effect,
            });
        }
        if ng.taints.len() > 50 {
            c.err(
                format!("{p}.taints"),
                "a node group may have at most 50 taints (EKS limit)",
            );
        }
        node_groups.push(NodeGroupSpec {
            name: ng.name.clone(),
            instance_types: ng.instance_types.clone(),
            capacity: ng.capacity_type,
            min: clamp_i32(min),
            desired: clamp_i32(desired),
            max: clamp_i32(max),
            per_zone: ng.per_zone,
            labels: ng.labels.clone(),
            taints,
        });
    }
    if s.vpc.nat_gateway == NatMode::None {
        c.warn(
            "spec.vpc.natGateway",
            "natGateway: none puts node groups in the public subnets (nodes get public IPs; no inbound traffic is allowed by default)",
        );
    }

    // --- KEDA ------------------------------------------------------------------
    let k = &s.keda;
    match catalog::keda_release(&k.version) {
        None => c.err(
            "spec.keda.version",
            format!(
                "KEDA version {:?} is not one eksscale supports; use one of {}",
                k.version,
                KEDA_RELEASES
                    .iter()
                    .map(|r| r.version)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Some(r) => {
            if let (Some(v), Some(lo), Some(hi)) = (
                catalog::minor_of(&s.kubernetes_version),
                catalog::minor_of(r.kubernetes_min),
                catalog::minor_of(r.kubernetes_max),
            ) && k.enabled
                && (v < lo || v > hi)
            {
                c.warn(
                    "spec.keda.version",
                    format!(
                        "KEDA {} is tested on Kubernetes {}-{}; the cluster runs {}",
                        r.version, r.kubernetes_min, r.kubernetes_max, s.kubernetes_version
                    ),
                );
            }
        }
    }
    if !(1..=10).contains(&k.operator_replicas) {
        c.err(
            "spec.keda.operatorReplicas",
            format!(
                "operatorReplicas must be between 1 and 10, got {} (2 gives a warm standby)",
                k.operator_replicas
            ),
        );
    }
    if k.enabled
        && k.identity == KedaIdentity::PodIdentity
        && !s.addons.iter().any(|a| a == "eks-pod-identity-agent")
    {
        c.err(
            "spec.keda.identity",
            "keda.identity is podIdentity but the eks-pod-identity-agent add-on is not in spec.addons; add it, or use identity: irsa",
        );
    }
    if let Some(m) = &k.manifest
        && m.trim().is_empty()
    {
        c.err(
            "spec.keda.manifest",
            "keda.manifest is empty; give a local path or an https:// URL, or remove it",
        );
    }

    if k.installer == KedaInstaller::Helm && k.manifest.is_some() {
        c.err(
            "spec.keda.manifest",
            "keda.manifest is for installer: manifest; installer: helm installs the kedacore/keda chart of keda.version from https://kedacore.github.io/charts. Remove one of the two",
        );
    }

    // --- Samples ---------------------------------------------------------------
    let mut samples_seen = BTreeSet::new();
    for (i, name) in s.samples.iter().enumerate() {
        let path = format!("spec.samples[{i}]");
        if !SAMPLES.contains(&name.as_str()) {
            let hint = catalog::suggest(name, SAMPLES.iter().copied())
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_else(|| format!("; available samples: {}", SAMPLES.join(", ")));
            c.err(&path, format!("sample {name:?} does not exist{hint}"));
        } else if !samples_seen.insert(name) {
            c.err(&path, format!("sample {name:?} is listed twice"));
        }
    }
    if !s.samples.is_empty() && k.enabled {
        c.warn(
            "spec.samples",
            "sample workloads are not deployed by this version of eksscale yet; only the KEDA operator's permissions for them (the sqs-consumer queue) are created",
        );
    }
    if !s.samples.is_empty() && !k.enabled {
        c.err(
            "spec.samples",
            "the samples scale with KEDA, but spec.keda.enabled is false; enable KEDA or set samples: []",
        );
    }

    // --- TTL ---------------------------------------------------------------------
    let ttl = match &s.ttl {
        None => None,
        Some(t) => match parse_ttl(t) {
            Ok(d) => Some(d),
            Err(e) => {
                c.err(
                    "spec.ttl",
                    format!("ttl {t:?} is not a duration: {e}; write e.g. 8h, 90m or 2d"),
                );
                None
            }
        },
    };

    if !c.problems.is_empty() {
        return Err((c.problems, c.warnings));
    }
    let spec = Spec {
        name,
        region,
        tags: file.metadata.tags.clone(),
        kubernetes_version: s.kubernetes_version.clone(),
        vpc: VpcSpec {
            cidr: cidr.expect("checked above"),
            zones,
            nat: s.vpc.nat_gateway,
        },
        endpoint: EndpointSpec {
            public: ep.public,
            private: ep.private,
            public_access_cidrs: if ep.public {
                ep.public_access_cidrs.clone()
            } else {
                Vec::new()
            },
        },
        logging,
        access: AccessSpec {
            bootstrap_creator_admin: s.access.bootstrap_creator_admin,
            admins: s.access.admins.clone(),
        },
        addons: s.addons.clone(),
        node_groups,
        keda: KedaSpec {
            enabled: k.enabled,
            version: k.version.clone(),
            identity: k.identity,
            operator_replicas: clamp_i32(k.operator_replicas),
            manifest: k.manifest.clone(),
            installer: k.installer,
        },
        samples: s.samples.clone(),
        ttl,
    };
    Ok((spec, c.warnings))
}

fn clamp_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

fn check_cluster_name(c: &mut Checker, name: &str) {
    if name.is_empty() {
        c.err(
            "metadata.name",
            "metadata.name is empty; give the cluster a name such as demo",
        );
    } else if name.len() > CLUSTER_NAME_MAX {
        c.err(
            "metadata.name",
            format!(
                "metadata.name is {} characters; EKS allows at most {CLUSTER_NAME_MAX}",
                name.len()
            ),
        );
    } else if !is_eks_name(name) {
        c.err(
            "metadata.name",
            format!("metadata.name {name:?} must start with a letter or digit and contain only letters, digits, '-' and '_' (EKS naming rules)"),
        );
    }
}

/// EKS names: start alphanumeric, then `[A-Za-z0-9_-]`.
pub fn is_eks_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `us-west-2`, `eu-central-1`, `us-gov-west-1`, `ap-southeast-3`, ...
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn check_region(c: &mut Checker, path: &str, r: &str) {
    if !is_region(r) {
        c.err(
            path,
            format!("{r:?} is not an AWS region name such as us-west-2 or eu-central-1"),
        );
    }
}

fn is_zone_of(zone: &str, region: &str) -> bool {
    zone.strip_prefix(region)
        .is_some_and(|s| s.len() == 1 && s.chars().all(|c| c.is_ascii_lowercase()))
}

fn expected_suffixes(zones: &ZoneChoice, region: &str) -> Vec<String> {
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

fn check_tags(c: &mut Checker, tags: &BTreeMap<String, String>) {
    if tags.len() > USER_TAGS_MAX {
        c.err(
            "metadata.tags",
            format!("metadata.tags has {} tags; at most {USER_TAGS_MAX} are allowed (AWS allows 50 and eksscale adds its own)", tags.len()),
        );
    }
    for (k, v) in tags {
        let path = format!("metadata.tags.{k}");
        if k.is_empty() || k.len() > 128 {
            c.err(&path, format!("tag key {k:?} must be 1-128 characters"));
        } else if k.to_ascii_lowercase().starts_with("aws:") {
            c.err(
                &path,
                format!("tag key {k:?} uses the reserved aws: prefix"),
            );
        } else if k.starts_with("eksscale.io/") || k.starts_with("kubernetes.io/") {
            c.err(
                &path,
                format!("tag key {k:?} uses a prefix eksscale manages itself; choose another key"),
            );
        } else if !k.chars().all(is_tag_char) {
            c.err(
                &path,
                format!(
                    "tag key {k:?} may only contain letters, digits, spaces and + - = . _ : / @"
                ),
            );
        }
        if v.len() > 256 {
            c.err(
                &path,
                format!("tag value for {k:?} is longer than 256 characters"),
            );
        } else if !v.chars().all(is_tag_char) {
            c.err(
                &path,
                format!(
                    "tag value {v:?} may only contain letters, digits, spaces and + - = . _ : / @"
                ),
            );
        }
    }
}

fn is_tag_char(ch: char) -> bool {
    ch.is_alphanumeric() || " +-=._:/@".contains(ch)
}

fn is_principal_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && (parts[5].starts_with("role/") || parts[5].starts_with("user/"))
        && parts[5].len() > 5
}

fn is_instance_type(t: &str) -> bool {
    let Some((family, size)) = t.split_once('.') else {
        return false;
    };
    family
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase())
        && family
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !size.is_empty()
        && size
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Kubernetes qualified name, optionally prefixed by a DNS subdomain and `/`.
fn check_label_key(k: &str) -> Result<(), String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty()
            || p.len() > 253
            || !p.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            }))
    {
        return Err("the prefix before '/' must be a DNS subdomain such as example.com".into());
    }
    if name.is_empty() || name.len() > 63 {
        return Err("the name part must be 1-63 characters".into());
    }
    check_label_value(name)
}

fn check_label_value(v: &str) -> Result<(), String> {
    if v.len() > 63 {
        return Err("must be at most 63 characters".into());
    }
    if v.is_empty() {
        return Ok(());
    }
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    let first = v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let last = v.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
    if first && last && v.chars().all(ok_char) {
        Ok(())
    } else {
        Err("must start and end with a letter or digit and contain only letters, digits, '-', '_' and '.'".into())
    }
}

/// A duration such as `90s`, `10m`, `8h`, `2d` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty".into());
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for ch in t.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("unknown unit {ch:?} (use s, m, h or d)")),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| "a number must come before each unit".to_string())?;
        total = total.saturating_add(n.saturating_mul(unit));
        num.clear();
    }
    if !num.is_empty() {
        return Err("the last number has no unit".into());
    }
    if total == 0 {
        return Err("must be longer than zero".into());
    }
    Ok(std::time::Duration::from_secs(total))
}

/// A TTL: a duration of at least 10 minutes and at most 30 days.
pub fn parse_ttl(s: &str) -> Result<jiff::SignedDuration, String> {
    let d = parse_duration(s)?;
    if d.as_secs() < 600 {
        return Err("must be at least 10m".into());
    }
    if d.as_secs() > 30 * 86_400 {
        return Err("must be at most 30d".into());
    }
    jiff::SignedDuration::try_from(d).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in [
            "us-west-2",
            "eu-central-1",
            "us-gov-west-1",
            "ap-southeast-3",
            "cn-north-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "us-west",
            "US-west-2",
            "uswest2",
            "us-west-2a",
            "",
            "u-west-2",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("8h").unwrap().as_secs(), 8 * 3600);
        assert_eq!(parse_ttl("1h30m").unwrap().as_secs(), 5400);
        assert!(parse_ttl("5m").is_err());
        assert!(parse_ttl("8").is_err());
        assert!(parse_ttl("8x").is_err());
        assert!(parse_ttl("60d").is_err());
    }

    #[test]
    fn label_rules() {
        assert!(check_label_key("team").is_ok());
        assert!(check_label_key("example.com/team").is_ok());
        assert!(check_label_key("Example.com/team").is_err());
        assert!(check_label_key("-team").is_err());
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("a b").is_err());
    }

    #[test]
    fn principal_arns() {
        assert!(is_principal_arn("arn:aws:iam::123456789012:role/Admin"));
        assert!(is_principal_arn("arn:aws:iam::123456789012:user/alice"));
        assert!(!is_principal_arn("arn:aws:iam::123456789012:group/admins"));
        assert!(!is_principal_arn("arn:aws:iam::1234:role/Admin"));
        assert!(!is_principal_arn("Admin"));
    }
}
