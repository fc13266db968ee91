//! Tags are the state: conversions between eksscale's tag maps and each
//! service's tag types, plus the filters discovery uses.

use std::collections::{BTreeMap, HashMap};

/// Which cluster a resource belongs to (`eksscale.io/cluster=<name>`).
pub const TAG_CLUSTER: &str = "eksscale.io/cluster";
/// Which graph node a resource is (`eksscale.io/component=subnet/public/...`).
pub const TAG_COMPONENT: &str = "eksscale.io/component";
/// When a cluster with `spec.ttl` expires (RFC 3339, UTC), on its VPC.
pub const TAG_EXPIRES: &str = "eksscale.io/expires-at";

pub type Tags = BTreeMap<String, String>;

pub fn from_ec2(tags: &[aws_sdk_ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

pub fn to_ec2(tags: &Tags) -> Vec<aws_sdk_ec2::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn ec2_spec(
    kind: aws_sdk_ec2::types::ResourceType,
    tags: &Tags,
) -> aws_sdk_ec2::types::TagSpecification {
    aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(to_ec2(tags)))
        .build()
}

/// `tag:eksscale.io/cluster = <name>` (EC2 describe filter).
pub fn ec2_cluster_filter(cluster: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(format!("tag:{TAG_CLUSTER}"))
        .values(cluster)
        .build()
}

pub fn ec2_filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

pub fn from_iam(tags: &[aws_sdk_iam::types::Tag]) -> Tags {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

pub fn to_iam(tags: &Tags) -> anyhow::Result<Vec<aws_sdk_iam::types::Tag>> {
    tags.iter()
        .map(|(k, v)| Ok(aws_sdk_iam::types::Tag::builder().key(k).value(v).build()?))
        .collect()
}

pub fn to_map(tags: &Tags) -> HashMap<String, String> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

pub fn from_map(tags: Option<&HashMap<String, String>>) -> Tags {
    tags.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Whether a resource belongs to `cluster` according to its tags.
pub fn owned_by(tags: &Tags, cluster: &str) -> bool {
    tags.get(TAG_CLUSTER).is_some_and(|c| c == cluster)
}

/// The graph node id recorded on the resource.
pub fn component(tags: &Tags) -> Option<String> {
    tags.get(TAG_COMPONENT).cloned()
}
