//! Availability zones the region offers this account, with their zone IDs,
//! and which instance types each offers (which ones a spec uses is decided in
//! `plan::zones`).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::LocationType;

use super::tags;
use super::{Aws, AwsResultExt};

/// One availability zone: its name (account-specific mapping) and zone ID
/// (the same physical zone in every account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub id: String,
}

/// Availability zones of the region, in name order, that are plain zones
/// (not Local or Wavelength zones) and available to this account.
pub async fn available(aws: &Aws) -> anyhow::Result<Vec<Zone>> {
    let r = aws
        .ec2
        .describe_availability_zones()
        .filters(tags::ec2_filter("state", "available"))
        .send()
        .await
        .ctx("ec2:DescribeAvailabilityZones")?;
    let mut zones: Vec<Zone> = r
        .availability_zones()
        .iter()
        .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
        .filter_map(|z| {
            Some(Zone {
                name: z.zone_name()?.to_string(),
                id: z.zone_id().unwrap_or_default().to_string(),
            })
        })
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(zones)
}

/// For each zone, which of `types` it offers (DescribeInstanceTypeOfferings).
pub async fn offerings(
    aws: &Aws,
    types: &[String],
) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    if types.is_empty() {
        return Ok(BTreeMap::new());
    }
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("instance-type")
        .set_values(Some(types.to_vec()))
        .build();
    let offers = aws
        .ec2
        .describe_instance_type_offerings()
        .location_type(LocationType::AvailabilityZone)
        .filters(filter)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeInstanceTypeOfferings")?;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in offers {
        if let (Some(zone), Some(t)) = (o.location(), o.instance_type()) {
            out.entry(zone.to_string())
                .or_default()
                .insert(t.as_str().to_string());
        }
    }
    Ok(out)
}
