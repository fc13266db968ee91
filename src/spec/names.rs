//! Names eksscale derives from a cluster name and region: IAM role names
//! (region-scoped, at most 64 characters), region codes, ARN partitions.

use sha2::{Digest, Sha256};

/// `aws`, `aws-cn` or `aws-us-gov`, for ARNs.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Longest IAM role name AWS accepts.
pub const IAM_ROLE_NAME_MAX: usize = 64;

/// A region's short code, as AWS writes it in zone IDs: `us-west-2` ->
/// `usw2`, `ap-southeast-1` -> `apse1`, `us-gov-west-1` -> `usgw1`.
pub fn region_code(region: &str) -> String {
    let parts: Vec<&str> = region.split('-').collect();
    let mut code = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i == 0 || p.chars().all(|c| c.is_ascii_digit()) {
            code.push_str(p);
            continue;
        }
        code.push_str(match *p {
            "north" => "n",
            "south" => "s",
            "east" => "e",
            "west" => "w",
            "central" => "c",
            "northeast" => "ne",
            "northwest" => "nw",
            "southeast" => "se",
            "southwest" => "sw",
            "gov" => "g",
            other => &other[..1],
        });
    }
    code
}

/// `eksscale-<cluster>-<region code>-<purpose>`: IAM is global, so the same
/// cluster name in two regions gets two sets of roles. Shortened to 64
/// characters with a stable hash of the cluster name and region when needed,
/// so two long names never collide.
pub fn role_name(cluster: &str, region: &str, purpose: &str) -> String {
    let code = region_code(region);
    let full = format!("eksscale-{cluster}-{code}-{purpose}");
    if full.len() <= IAM_ROLE_NAME_MAX {
        return full;
    }
    let hash = short_hash(&format!("{cluster}/{region}"));
    let room = IAM_ROLE_NAME_MAX - "eksscale-".len() - 1 - hash.len() - 1 - purpose.len();
    let head: String = cluster.chars().take(room).collect();
    format!("eksscale-{head}-{hash}-{purpose}")
}

/// The name prefix every role of a cluster in a region starts with (for
/// listing); long names are found by tag within the shorter prefix.
pub fn role_prefix(cluster: &str, region: &str) -> String {
    let full = format!("eksscale-{cluster}-{}-", region_code(region));
    if full.len() <= 40 {
        full
    } else {
        let head: String = cluster.chars().take(10).collect();
        format!("eksscale-{head}")
    }
}

/// First 8 hex characters of the SHA-256 of `s`.
pub fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    hex::encode(&digest[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_fit_iam_limits_and_stay_distinct() {
        assert_eq!(
            role_name("demo", "us-west-2", "cluster"),
            "eksscale-demo-usw2-cluster"
        );
        assert_ne!(
            role_name("demo", "us-west-2", "node"),
            role_name("demo", "eu-west-1", "node"),
            "one set of roles per region"
        );
        let a = role_name(&"a".repeat(100), "us-west-2", "keda-operator");
        let b = role_name(
            &format!("{}b", "a".repeat(99)),
            "us-west-2",
            "keda-operator",
        );
        let c = role_name(&"a".repeat(100), "eu-west-1", "keda-operator");
        assert!(a.len() <= 64 && b.len() <= 64 && c.len() <= 64);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(a.ends_with("-keda-operator"));
        for (name, region) in [("demo", "us-west-2"), (&*"x".repeat(60), "ap-southeast-3")] {
            assert!(role_name(name, region, "node").starts_with(&role_prefix(name, region)));
        }
    }

    #[test]
    fn region_codes_are_distinct() {
        let regions = [
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "ca-central-1",
            "ca-west-1",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-east-1",
            "sa-east-1",
            "me-south-1",
            "me-central-1",
            "af-south-1",
            "il-central-1",
            "mx-central-1",
            "us-gov-west-1",
            "us-gov-east-1",
            "cn-north-1",
            "cn-northwest-1",
        ];
        let mut codes: Vec<String> = regions.iter().map(|r| region_code(r)).collect();
        assert_eq!(region_code("ap-southeast-1"), "apse1");
        assert_eq!(region_code("us-gov-west-1"), "usgw1");
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), regions.len());
    }
}
