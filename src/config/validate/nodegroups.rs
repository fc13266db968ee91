//! Node groups: names (also after the per-zone suffix), instance types,
//! sizes, labels and taints.

use std::collections::BTreeMap;

use super::names::{check_label_key, check_label_value, clamp_i32, is_eks_name, is_instance_type};
use super::network::expected_suffixes;
use super::{Checker, NODEGROUP_NAME_MAX};
use crate::catalog::instance_types::{self, InstanceType};
use crate::config::schema::NodeGroupFile;
use crate::config::schema::SpecFile;
use crate::spec::AmiType;
use crate::spec::{NodeGroupSpec, Taint, ZoneChoice};

pub(super) fn check(
    c: &mut Checker,
    s: &SpecFile,
    zones: &ZoneChoice,
    region: &str,
) -> Vec<NodeGroupSpec> {
    if s.node_groups.is_empty() {
        c.err(
            "spec.nodeGroups",
            "spec.nodeGroups must have at least one node group (KEDA and the samples need nodes to run on)",
        );
    }
    let zone_suffix_len = match zones {
        ZoneChoice::Names(n) => n
            .iter()
            .map(|z| z.strip_prefix(region).map_or(1, str::len))
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
            expected_suffixes(zones, region)
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
        let ami_type = ami_type(c, &p, ng, &s.kubernetes_version);
        // gp3 volumes are 1 GiB to 16 TiB; nodes need room for images.
        if !(20..=16384).contains(&ng.volume_size) {
            c.err(
                format!("{p}.volumeSize"),
                format!(
                    "{p}.volumeSize must be 20 to 16384 (GiB of the node's gp3 volume), got {}",
                    ng.volume_size
                ),
            );
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
            ami_type,
            capacity: ng.capacity_type,
            min: clamp_i32(min),
            desired: clamp_i32(desired),
            max: clamp_i32(max),
            per_zone: ng.per_zone,
            labels: ng.labels.clone(),
            taints,
            volume_gib: clamp_i32(ng.volume_size),
        });
    }
    node_groups
}

/// The node group's AMI type: as given (checked against its instance types
/// and Kubernetes version), or chosen from the instance types. EKS checks the
/// same at CreateNodegroup, minutes into `up`; here it is exit 2 before any
/// AWS call.
fn ami_type(c: &mut Checker, p: &str, ng: &NodeGroupFile, kubernetes: &str) -> AmiType {
    let mut known: Vec<InstanceType> = Vec::new();
    for (j, t) in ng.instance_types.iter().enumerate() {
        match instance_types::get(t) {
            Some(it) => known.push(it),
            // Syntax errors are reported above; a new type eksscale does not
            // know yet can be used by naming the AMI type.
            None if !is_instance_type(t) => {}
            None if ng.ami_type.is_some() => c.warn(
                format!("{p}.instanceTypes[{j}]"),
                format!("{p}.instanceTypes[{j}]: instance type {t:?} is not in eksscale's catalog; EKS will check it against amiType"),
            ),
            None => c.err(
                format!("{p}.instanceTypes[{j}]"),
                format!("{p}.instanceTypes[{j}]: {t:?} is not an EC2 instance type eksscale knows (check the spelling; for a type newer than eksscale's catalog, set amiType explicitly)"),
            ),
        }
    }
    let ami = match ng.ami_type {
        Some(ami) => {
            for t in known.iter().filter(|t| !instance_types::fits(ami, t)) {
                c.err(
                    format!("{p}.amiType"),
                    format!(
                        "{p}.amiType: [{}] is not a valid instance type for amiType {} ({} is {}{}); pick a matching instance type or amiType",
                        t.name,
                        ami.as_str(),
                        t.name,
                        t.arch.as_str(),
                        match t.accelerator {
                            instance_types::Accelerator::None => ", no GPU",
                            instance_types::Accelerator::Nvidia => ", NVIDIA GPU",
                            instance_types::Accelerator::Neuron => ", AWS Neuron",
                        }
                    ),
                );
            }
            ami
        }
        None => match instance_types::default_ami(&known) {
            Ok(ami) => ami,
            Err(why) if !known.is_empty() => {
                c.err(
                    format!("{p}.instanceTypes"),
                    format!("{p}.instanceTypes: {why}"),
                );
                AmiType::Al2023X86_64Standard
            }
            Err(_) => AmiType::Al2023X86_64Standard,
        },
    };
    if ami.is_al2() && crate::catalog::minor_of(kubernetes).is_some_and(|v| v >= (1, 33)) {
        c.err(
            format!("{p}.amiType"),
            format!(
                "{p}.amiType: {} is Amazon Linux 2, which EKS does not offer for Kubernetes 1.33 and later; use the AL2023 equivalent",
                ami.as_str()
            ),
        );
    }
    ami
}
