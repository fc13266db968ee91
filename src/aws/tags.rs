//! Tags are the state: conversions between eksscale's tag maps and each
//! service's tag types, plus the filters discovery uses.

use std::collections::{BTreeMap, HashMap};

/// Which cluster a resource belongs to (`eksscale.io/cluster=<name>`).
pub const TAG_CLUSTER: &str = "eksscale.io/cluster";
/// Which region's deployment a resource belongs to: IAM is global, so
/// clusters of the same name in two regions must not share roles.
pub const TAG_REGION: &str = "eksscale.io/region";
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

/// `tag:eksscale.io/cluster = <name>` (EC2 describe filter; ownership is
/// then checked with [`owned_by`], region included).
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

/// Whether a resource belongs to this deployment of `cluster` in `region`:
/// it must carry both ownership tags. Nothing without them is ever modified
/// or deleted.
pub fn owned_by(tags: &Tags, cluster: &str, region: &str) -> bool {
    tags.get(TAG_CLUSTER).is_some_and(|c| c == cluster)
        && tags.get(TAG_REGION).is_some_and(|r| r == region)
}

/// Carries `eksscale.io/cluster=<cluster>` (what the EC2 tag filter asks
/// for; checked again because not every EC2 implementation honours it).
pub fn for_cluster(tags: &Tags, cluster: &str) -> bool {
    tags.get(TAG_CLUSTER).is_some_and(|c| c == cluster)
}

/// Tagged for the same cluster name in another region: another deployment's,
/// not ours and not in our way (IAM roles and OIDC providers are global).
pub fn other_region(tags: &Tags, cluster: &str, region: &str) -> bool {
    tags.get(TAG_CLUSTER).is_some_and(|c| c == cluster)
        && tags.get(TAG_REGION).is_some_and(|r| r != region)
}

/// Why a resource found for `cluster` is not eksscale's, or `None` if it is.
pub fn not_ours(tags: &Tags, cluster: &str, region: &str) -> Option<String> {
    if owned_by(tags, cluster, region) {
        return None;
    }
    Some(match (tags.get(TAG_CLUSTER), tags.get(TAG_REGION)) {
        (None, _) => format!("it has no {TAG_CLUSTER} tag: eksscale did not create it"),
        (Some(c), _) if c != cluster => format!("it is tagged {TAG_CLUSTER}={c}"),
        (Some(_), None) => format!("it has no {TAG_REGION}={region} tag"),
        (Some(_), Some(r)) => format!("it is tagged {TAG_REGION}={r}"),
    })
}

/// The graph node id recorded on the resource.
pub fn component(tags: &Tags) -> Option<String> {
    tags.get(TAG_COMPONENT).cloned()
}
