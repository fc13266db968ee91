//! EC2 instance types, offline: architecture, accelerator, size. Generated
//! from AWS's DescribeInstanceTypes data (as shipped by moto) by
//! `scripts/gen-instance-types.py`, so that a node group's instance types and
//! AMI type are checked before any AWS call (a Graviton type with an x86 AMI
//! is refused by EKS only after the control plane has been created).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::spec::AmiType;

const DATA: &str = include_str!("instance_types.tsv");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Accelerator {
    None,
    Nvidia,
    Neuron,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceType {
    pub name: &'static str,
    pub arch: Arch,
    pub accelerator: Accelerator,
    pub vcpus: u32,
    pub memory_mib: u32,
}

fn table() -> &'static HashMap<&'static str, InstanceType> {
    static TABLE: OnceLock<HashMap<&'static str, InstanceType>> = OnceLock::new();
    TABLE.get_or_init(|| {
        DATA.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let mut f = l.split('\t');
                let name = f.next()?;
                let arch = match f.next()? {
                    "arm64" => Arch::Arm64,
                    _ => Arch::X86_64,
                };
                let accelerator = match f.next()? {
                    "nvidia" => Accelerator::Nvidia,
                    "neuron" => Accelerator::Neuron,
                    _ => Accelerator::None,
                };
                let vcpus = f.next()?.parse().ok()?;
                let memory_mib = f.next()?.parse().ok()?;
                Some((
                    name,
                    InstanceType {
                        name,
                        arch,
                        accelerator,
                        vcpus,
                        memory_mib,
                    },
                ))
            })
            .collect()
    })
}

/// The instance type, if eksscale's catalog knows it.
pub fn get(name: &str) -> Option<InstanceType> {
    table().get(name).copied()
}

/// Whether EKS accepts `ami` for `t` (the rule EKS applies at
/// CreateNodegroup: "[t4g.medium] is not a valid instance type for requested
/// amiType AL2023_x86_64_STANDARD").
pub fn fits(ami: AmiType, t: &InstanceType) -> bool {
    let arch_ok = match ami.arch() {
        Some(a) => a == t.arch,
        None => true,
    };
    let acc_ok = match ami.accelerator() {
        Accelerator::None => true,
        // GPU and Neuron AMIs need the accelerator on every node.
        Accelerator::Nvidia => t.accelerator == Accelerator::Nvidia,
        Accelerator::Neuron => t.accelerator == Accelerator::Neuron,
    };
    arch_ok && acc_ok
}

/// The AMI type for a node group's instance types when the config names
/// none: Amazon Linux 2023 for their architecture, with the NVIDIA or Neuron
/// variant when every type has that accelerator. Mixed architectures, or GPU
/// types mixed with plain ones, cannot share one AMI: the error says why.
pub fn default_ami(types: &[InstanceType]) -> Result<AmiType, String> {
    let Some(first) = types.first() else {
        return Err("no instance types".into());
    };
    if let Some(other) = types.iter().find(|t| t.arch != first.arch) {
        return Err(format!(
            "{} is {} but {} is {}: a node group runs one AMI, so its instance types must share an architecture; put them in separate node groups",
            first.name,
            first.arch.as_str(),
            other.name,
            other.arch.as_str()
        ));
    }
    let all = |a: Accelerator| types.iter().all(|t| t.accelerator == a);
    let any = |a: Accelerator| types.iter().any(|t| t.accelerator == a);
    let accelerator = if all(Accelerator::Nvidia) {
        Accelerator::Nvidia
    } else if all(Accelerator::Neuron) {
        Accelerator::Neuron
    } else if any(Accelerator::Nvidia) || any(Accelerator::Neuron) {
        return Err(
            "mixes accelerated (GPU or Neuron) and plain instance types: the accelerated AMI needs the accelerator on every node, the standard AMI has no drivers; put them in separate node groups"
                .into(),
        );
    } else {
        Accelerator::None
    };
    Ok(match (first.arch, accelerator) {
        (Arch::X86_64, Accelerator::None) => AmiType::Al2023X86_64Standard,
        (Arch::Arm64, Accelerator::None) => AmiType::Al2023Arm64Standard,
        (Arch::X86_64, Accelerator::Nvidia) => AmiType::Al2023X86_64Nvidia,
        (Arch::Arm64, Accelerator::Nvidia) => AmiType::Al2023Arm64Nvidia,
        (_, Accelerator::Neuron) => AmiType::Al2023X86_64Neuron,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: &str) -> InstanceType {
        get(n).unwrap_or_else(|| panic!("{n} is in the catalog"))
    }

    #[test]
    fn the_catalog_knows_current_types() {
        assert_eq!(t("m7g.large").arch, Arch::Arm64);
        assert_eq!(t("m6i.large").arch, Arch::X86_64);
        assert_eq!(t("g5.xlarge").accelerator, Accelerator::Nvidia);
        assert_eq!(t("inf2.xlarge").accelerator, Accelerator::Neuron);
        assert_eq!((t("m6i.large").vcpus, t("m6i.large").memory_mib), (2, 8192));
        assert!(get("m6i.huge").is_none());
        assert!(
            get("mac1.metal").is_none(),
            "EKS does not run Mac instances"
        );
    }

    #[test]
    fn default_ami_follows_architecture_and_accelerator() {
        let ami = |names: &[&str]| default_ami(&names.iter().map(|n| t(n)).collect::<Vec<_>>());
        assert_eq!(
            ami(&["m6i.large", "m7i.large"]),
            Ok(AmiType::Al2023X86_64Standard)
        );
        assert_eq!(
            ami(&["m7g.large", "t4g.medium"]),
            Ok(AmiType::Al2023Arm64Standard)
        );
        assert_eq!(ami(&["g5.xlarge"]), Ok(AmiType::Al2023X86_64Nvidia));
        assert_eq!(ami(&["g5g.xlarge"]), Ok(AmiType::Al2023Arm64Nvidia));
        assert_eq!(ami(&["inf2.xlarge"]), Ok(AmiType::Al2023X86_64Neuron));
        assert!(
            ami(&["m6i.large", "m7g.large"])
                .unwrap_err()
                .contains("architecture")
        );
        assert!(
            ami(&["g5.xlarge", "m6i.large"])
                .unwrap_err()
                .contains("GPU")
        );
    }

    #[test]
    fn fits_matches_what_eks_accepts() {
        assert!(!fits(AmiType::Al2023X86_64Standard, &t("t4g.medium")));
        assert!(fits(AmiType::Al2023Arm64Standard, &t("t4g.medium")));
        assert!(fits(AmiType::Al2023X86_64Standard, &t("g5.xlarge")));
        assert!(!fits(AmiType::Al2023X86_64Nvidia, &t("m6i.large")));
        assert!(fits(AmiType::BottlerocketArm64, &t("m7g.large")));
    }
}
