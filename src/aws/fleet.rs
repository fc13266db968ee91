//! Finding every eksscale cluster of a region without a config, for `list`
//! and `reap`: EKS clusters carrying eksscale's ownership tags, and VPCs of
//! eksscale clusters whose EKS cluster is gone (an interrupted `down`).

use super::tags::{self, TAG_CLUSTER, TAG_REGION, Tags};
use super::{Aws, AwsResultExt};

/// One eksscale deployment found by its tags.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub name: String,
    /// The EKS cluster's tags, or the VPC's when the cluster is gone.
    pub tags: Tags,
    /// When EKS created the cluster.
    pub created: Option<jiff::Timestamp>,
    pub cluster_gone: bool,
}

/// Every region EC2 lists for this account, sorted.
pub async fn regions(aws: &Aws) -> anyhow::Result<Vec<String>> {
    let r = aws
        .ec2
        .describe_regions()
        .send()
        .await
        .ctx("ec2:DescribeRegions")?;
    let mut out: Vec<String> = r
        .regions()
        .iter()
        .filter_map(|r| r.region_name().map(str::to_string))
        .collect();
    out.sort();
    Ok(out)
}

/// eksscale's for this region: tagged with its own name (the same name may
/// exist elsewhere, with another region tag).
fn ours(t: &Tags, name: &str, region: &str) -> bool {
    t.get(TAG_CLUSTER).is_some_and(|c| c == name) && t.get(TAG_REGION).is_none_or(|r| r == region)
}

/// The eksscale clusters of `aws`'s region, by name.
pub async fn clusters(aws: &Aws) -> anyhow::Result<Vec<Tagged>> {
    let region = &aws.region;
    let names: Vec<String> = aws
        .eks
        .list_clusters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("eks:ListClusters")?;
    let mut out: Vec<Tagged> = Vec::new();
    for name in names {
        // Deleted since the listing: not there.
        let Some(c) = aws
            .eks
            .describe_cluster()
            .name(&name)
            .send()
            .await
            .found("eks:DescribeCluster", &["ResourceNotFoundException"])?
            .and_then(|r| r.cluster)
        else {
            continue;
        };
        let t = tags::from_map(c.tags());
        if !ours(&t, &name, region) {
            continue;
        }
        let created = c
            .created_at()
            .and_then(|t| jiff::Timestamp::from_second(t.secs()).ok());
        out.push(Tagged {
            name,
            tags: t,
            created,
            cluster_gone: false,
        });
    }
    let vpcs: Vec<_> = aws
        .ec2
        .describe_vpcs()
        .filters(tags::ec2_filter("tag-key", TAG_CLUSTER))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeVpcs")?;
    for v in vpcs {
        let t = tags::from_ec2(v.tags());
        let Some(name) = t.get(TAG_CLUSTER).cloned() else {
            continue;
        };
        if out.iter().any(|f| f.name == name) || !ours(&t, &name, region) {
            continue;
        }
        out.push(Tagged {
            name,
            tags: t,
            created: None,
            cluster_gone: true,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_needs_the_name_and_no_other_region() {
        let t = |pairs: &[(&str, &str)]| -> Tags {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(ours(&t(&[(TAG_CLUSTER, "demo")]), "demo", "eu-west-1"));
        assert!(ours(
            &t(&[(TAG_CLUSTER, "demo"), (TAG_REGION, "eu-west-1")]),
            "demo",
            "eu-west-1"
        ));
        assert!(!ours(
            &t(&[(TAG_CLUSTER, "demo"), (TAG_REGION, "us-east-1")]),
            "demo",
            "eu-west-1"
        ));
        assert!(!ours(&t(&[(TAG_CLUSTER, "other")]), "demo", "eu-west-1"));
        assert!(!ours(&t(&[]), "demo", "eu-west-1"));
    }
}
