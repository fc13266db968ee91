//! Names and values AWS and Kubernetes constrain: cluster, region, tags,
//! principal ARNs, instance types, label keys and values.

use std::collections::BTreeMap;

use super::{CLUSTER_NAME_MAX, Checker, USER_TAGS_MAX};

pub(super) fn clamp_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

pub(super) fn check_cluster_name(c: &mut Checker, name: &str) {
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

pub(super) fn check_region(c: &mut Checker, path: &str, r: &str) {
    if !is_region(r) {
        c.err(
            path,
            format!("{r:?} is not an AWS region name such as us-west-2 or eu-central-1"),
        );
    }
}

pub(super) fn check_tags(c: &mut Checker, tags: &BTreeMap<String, String>) {
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

/// `arn:<partition>:iam::<account or aws>:policy/<path/name>`.
pub(super) fn is_policy_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && (parts[4] == "aws"
            || (parts[4].len() == 12 && parts[4].chars().all(|c| c.is_ascii_digit())))
        && parts[5].starts_with("policy/")
        && parts[5].len() > 7
}

pub(super) fn is_principal_arn(arn: &str) -> bool {
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

pub(super) fn is_instance_type(t: &str) -> bool {
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
pub(super) fn check_label_key(k: &str) -> Result<(), String> {
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

pub(super) fn check_label_value(v: &str) -> Result<(), String> {
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
