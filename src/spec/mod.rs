//! The validated, fully defaulted description of one cluster: what the rest of
//! the program works from. Built only by `config::validate`; nothing here can
//! be invalid. Also the pure, deterministic derivations from it: subnet CIDRs
//! and AWS resource names (`names`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

mod names;
pub use names::*;

#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub region: String,
    /// User tags from `metadata.tags`, added to every AWS resource.
    pub tags: BTreeMap<String, String>,
    pub kubernetes_version: String,
    pub vpc: VpcSpec,
    pub endpoint: EndpointSpec,
    pub logging: Vec<LogType>,
    pub access: AccessSpec,
    /// Set as the permissions boundary of every role eksscale creates.
    pub permissions_boundary: Option<String>,
    pub addons: Vec<String>,
    pub node_groups: Vec<NodeGroupSpec>,
    pub keda: KedaSpec,
    pub samples: Vec<String>,
    /// `spec.templatesDir` as written (relative to the config file).
    pub templates_dir: Option<String>,
    pub ttl: Option<jiff::SignedDuration>,
    pub support_type: SupportType,
}

#[derive(Debug, Clone)]
pub struct VpcSpec {
    pub cidr: Ipv4Net,
    pub zones: ZoneChoice,
    pub nat: NatMode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneChoice {
    /// The first N available zones of the region, resolved at run time.
    Count(usize),
    Names(Vec<String>),
}

impl ZoneChoice {
    pub fn count(&self) -> usize {
        match self {
            ZoneChoice::Count(n) => *n,
            ZoneChoice::Names(v) => v.len(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EndpointSpec {
    pub public: bool,
    pub private: bool,
    pub public_access_cidrs: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AccessSpec {
    pub bootstrap_creator_admin: bool,
    pub admins: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NodeGroupSpec {
    pub name: String,
    pub instance_types: Vec<String>,
    /// Given in the config, or chosen from the instance types.
    pub ami_type: AmiType,
    pub capacity: CapacityType,
    pub min: i32,
    pub desired: i32,
    pub max: i32,
    pub per_zone: bool,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// Size of the node's encrypted gp3 data volume.
    pub volume_gib: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone)]
pub struct KedaSpec {
    pub enabled: bool,
    pub version: String,
    pub identity: KedaIdentity,
    pub operator_replicas: i32,
    pub manifest: Option<String>,
    /// Verified against `manifest` when given (required for URLs).
    pub manifest_sha256: Option<String>,
    /// Where the images must come from (default `ghcr.io/kedacore`).
    pub image_registry: Option<String>,
    pub installer: KedaInstaller,
}

// --- Choices a config makes, spelled as in the file (also its schema) --------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NatMode {
    /// One NAT gateway in the first zone, shared by all private subnets.
    #[default]
    Single,
    /// One NAT gateway per zone; each private subnet routes through its own zone.
    PerZone,
    /// No NAT gateway: node groups go in the public subnets (cheapest).
    None,
}

/// EKS control-plane log types, spelled as in the EKS API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LogType {
    Api,
    Audit,
    Authenticator,
    ControllerManager,
    Scheduler,
}

impl LogType {
    pub const ALL: [LogType; 5] = [
        LogType::Api,
        LogType::Audit,
        LogType::Authenticator,
        LogType::ControllerManager,
        LogType::Scheduler,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::Api => "api",
            LogType::Audit => "audit",
            LogType::Authenticator => "authenticator",
            LogType::ControllerManager => "controllerManager",
            LogType::Scheduler => "scheduler",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum CapacityType {
    #[default]
    #[serde(rename = "ON_DEMAND")]
    OnDemand,
    #[serde(rename = "SPOT")]
    Spot,
}

impl CapacityType {
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::OnDemand => "ON_DEMAND",
            CapacityType::Spot => "SPOT",
        }
    }
}

/// Kubernetes spelling in the file; mapped to the EKS API spelling on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn eks_api(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NO_SCHEDULE",
            TaintEffect::PreferNoSchedule => "PREFER_NO_SCHEDULE",
            TaintEffect::NoExecute => "NO_EXECUTE",
        }
    }
}

/// How KEDA gets onto the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum KedaInstaller {
    /// eksscale applies the (customised) release manifest with server-side apply.
    #[default]
    Manifest,
    /// `helm upgrade --install` of the kedacore chart, with generated values.
    Helm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum KedaIdentity {
    #[default]
    Irsa,
    PodIdentity,
}

/// EKS support policy (`upgradePolicy.supportType`): what happens when the
/// Kubernetes version leaves standard support. EKS's default is EXTENDED,
/// billed at about six times the standard control-plane price; eksscale's
/// default is STANDARD (the cluster is upgraded automatically instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum SupportType {
    #[default]
    #[serde(rename = "STANDARD")]
    Standard,
    #[serde(rename = "EXTENDED")]
    Extended,
}

impl SupportType {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportType::Standard => "STANDARD",
            SupportType::Extended => "EXTENDED",
        }
    }
}

/// The Linux AMI types of EKS managed node groups (the EKS API's spelling).
/// CUSTOM and Windows are not offered: eksscale's nodes run KEDA and Linux
/// workloads from its own launch template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum AmiType {
    #[serde(rename = "AL2023_x86_64_STANDARD")]
    Al2023X86_64Standard,
    #[serde(rename = "AL2023_ARM_64_STANDARD")]
    Al2023Arm64Standard,
    #[serde(rename = "AL2023_x86_64_NVIDIA")]
    Al2023X86_64Nvidia,
    #[serde(rename = "AL2023_ARM_64_NVIDIA")]
    Al2023Arm64Nvidia,
    #[serde(rename = "AL2023_x86_64_NEURON")]
    Al2023X86_64Neuron,
    #[serde(rename = "BOTTLEROCKET_x86_64")]
    BottlerocketX86_64,
    #[serde(rename = "BOTTLEROCKET_ARM_64")]
    BottlerocketArm64,
    #[serde(rename = "BOTTLEROCKET_x86_64_NVIDIA")]
    BottlerocketX86_64Nvidia,
    #[serde(rename = "BOTTLEROCKET_ARM_64_NVIDIA")]
    BottlerocketArm64Nvidia,
    #[serde(rename = "AL2_x86_64")]
    Al2X86_64,
    #[serde(rename = "AL2_ARM_64")]
    Al2Arm64,
    #[serde(rename = "AL2_x86_64_GPU")]
    Al2X86_64Gpu,
}

impl AmiType {
    pub fn as_str(self) -> &'static str {
        match self {
            AmiType::Al2023X86_64Standard => "AL2023_x86_64_STANDARD",
            AmiType::Al2023Arm64Standard => "AL2023_ARM_64_STANDARD",
            AmiType::Al2023X86_64Nvidia => "AL2023_x86_64_NVIDIA",
            AmiType::Al2023Arm64Nvidia => "AL2023_ARM_64_NVIDIA",
            AmiType::Al2023X86_64Neuron => "AL2023_x86_64_NEURON",
            AmiType::BottlerocketX86_64 => "BOTTLEROCKET_x86_64",
            AmiType::BottlerocketArm64 => "BOTTLEROCKET_ARM_64",
            AmiType::BottlerocketX86_64Nvidia => "BOTTLEROCKET_x86_64_NVIDIA",
            AmiType::BottlerocketArm64Nvidia => "BOTTLEROCKET_ARM_64_NVIDIA",
            AmiType::Al2X86_64 => "AL2_x86_64",
            AmiType::Al2Arm64 => "AL2_ARM_64",
            AmiType::Al2X86_64Gpu => "AL2_x86_64_GPU",
        }
    }
    /// The architecture it runs on.
    pub fn arch(self) -> Option<crate::catalog::instance_types::Arch> {
        use crate::catalog::instance_types::Arch;
        Some(if self.as_str().contains("ARM_64") {
            Arch::Arm64
        } else {
            Arch::X86_64
        })
    }
    /// The accelerator its drivers are for.
    pub fn accelerator(self) -> crate::catalog::instance_types::Accelerator {
        use crate::catalog::instance_types::Accelerator;
        let s = self.as_str();
        if s.contains("NVIDIA") || s.ends_with("_GPU") {
            Accelerator::Nvidia
        } else if s.contains("NEURON") {
            Accelerator::Neuron
        } else {
            Accelerator::None
        }
    }
    /// Amazon Linux 2: EKS publishes no AL2 AMIs for Kubernetes 1.33 and later.
    pub fn is_al2(self) -> bool {
        matches!(
            self,
            AmiType::Al2X86_64 | AmiType::Al2Arm64 | AmiType::Al2X86_64Gpu
        )
    }
}

/// One availability zone's share of the VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneLayout {
    pub zone: String,
    /// The zone's letter(s) after the region, e.g. `a` for `us-west-2a`.
    pub suffix: String,
    pub public: Ipv4Net,
    pub private: Ipv4Net,
}

/// Smallest subnet AWS allows.
pub const MIN_SUBNET_PREFIX: u8 = 28;

/// Carves one public and one private subnet per zone out of the VPC CIDR,
/// deterministically: the same inputs always give the same subnets.
///
/// Private subnets (nodes and pods, which take VPC IPs through the VPC CNI)
/// share the first half of the VPC equally; public subnets (load balancers and
/// NAT gateways) are a quarter of that size, from the second half, but never
/// smaller than /28. For 10.0.0.0/16 and 3 zones: private /19s at 10.0.0.0,
/// 10.0.32.0, 10.0.64.0; public /21s at 10.0.128.0, 10.0.136.0, 10.0.144.0.
pub fn carve_subnets(cidr: Ipv4Net, zones: usize) -> Result<Vec<(Ipv4Net, Ipv4Net)>, String> {
    if zones == 0 {
        return Err("no zones".into());
    }
    let k = zones.next_power_of_two().trailing_zeros() as u8;
    let private_prefix = cidr.prefix_len() + 1 + k;
    if private_prefix > MIN_SUBNET_PREFIX {
        return Err(format!(
            "{cidr} is too small for {zones} zones: each private subnet would be /{private_prefix}, smaller than the /{MIN_SUBNET_PREFIX} AWS allows"
        ));
    }
    let public_prefix = (private_prefix + 2).min(MIN_SUBNET_PREFIX);
    let half = cidr.prefix_len() + 1;
    let first_half = Ipv4Net::new(cidr.network(), half).map_err(|e| e.to_string())?;
    let second_start = u32::from(cidr.network()) + (1u32 << (32 - half));
    let second_half =
        Ipv4Net::new(Ipv4Addr::from(second_start), half).map_err(|e| e.to_string())?;
    let private: Vec<Ipv4Net> = first_half
        .subnets(private_prefix)
        .map_err(|e| e.to_string())?
        .take(zones)
        .collect();
    let public: Vec<Ipv4Net> = second_half
        .subnets(public_prefix)
        .map_err(|e| e.to_string())?
        .take(zones)
        .collect();
    Ok(public.into_iter().zip(private).collect())
}

/// Lays the zones out over the VPC (zones already resolved to names).
pub fn layout(cidr: Ipv4Net, region: &str, zones: &[String]) -> Result<Vec<ZoneLayout>, String> {
    let pairs = carve_subnets(cidr, zones.len())?;
    Ok(zones
        .iter()
        .zip(pairs)
        .map(|(zone, (public, private))| ZoneLayout {
            zone: zone.clone(),
            suffix: zone.strip_prefix(region).unwrap_or(zone).to_string(),
            public,
            private,
        })
        .collect())
}

impl Spec {
    pub fn role_name(&self, purpose: &str) -> String {
        role_name(&self.name, &self.region, purpose)
    }

    /// Node group names as created in EKS (`general-a`, ... when `perZone`).
    pub fn node_group_names(
        &self,
        zones: &[ZoneLayout],
    ) -> Vec<(String, &NodeGroupSpec, Option<ZoneLayout>)> {
        let mut out = Vec::new();
        for ng in &self.node_groups {
            if ng.per_zone {
                for z in zones {
                    out.push((format!("{}-{}", ng.name, z.suffix), ng, Some(z.clone())));
                }
            } else {
                out.push((ng.name.clone(), ng, None));
            }
        }
        out
    }

    pub fn log_group_name(&self) -> String {
        format!("/aws/eks/{}/cluster", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn carves_documented_layout_for_three_zones() {
        let got = carve_subnets(net("10.0.0.0/16"), 3).unwrap();
        let want = [
            ("10.0.128.0/21", "10.0.0.0/19"),
            ("10.0.136.0/21", "10.0.32.0/19"),
            ("10.0.144.0/21", "10.0.64.0/19"),
        ];
        for ((pub_, priv_), (wp, wv)) in got.iter().zip(want) {
            assert_eq!(pub_.to_string(), wp);
            assert_eq!(priv_.to_string(), wv);
        }
    }

    #[test]
    fn subnets_never_overlap_and_stay_inside_the_vpc() {
        for prefix in 16..=24u8 {
            for zones in 2..=6usize {
                let vpc = Ipv4Net::new(Ipv4Addr::new(10, 1, 0, 0), prefix)
                    .unwrap()
                    .trunc();
                let Ok(pairs) = carve_subnets(vpc, zones) else {
                    assert!(prefix + 1 + zones.next_power_of_two().trailing_zeros() as u8 > 28);
                    continue;
                };
                let all: Vec<Ipv4Net> = pairs.iter().flat_map(|(a, b)| [*a, *b]).collect();
                assert_eq!(all.len(), zones * 2);
                for (i, a) in all.iter().enumerate() {
                    assert!(vpc.contains(a), "{a} outside {vpc}");
                    assert!(a.prefix_len() <= 28);
                    for b in &all[i + 1..] {
                        assert!(!a.contains(b) && !b.contains(a), "{a} overlaps {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_slash_24_fits_six_zones_but_not_nine() {
        assert!(carve_subnets(net("10.0.0.0/24"), 6).is_ok());
        assert!(carve_subnets(net("10.0.0.0/24"), 9).is_err());
    }
}
