//! Availability zones the region offers this account (which ones a spec uses
//! is decided in `plan::zones`).

use super::tags;
use super::{Aws, AwsResultExt};

/// Availability zones of the region, in name order, that are plain zones
/// (not Local or Wavelength zones) and available to this account.
pub async fn available(aws: &Aws) -> anyhow::Result<Vec<String>> {
    let r = aws
        .ec2
        .describe_availability_zones()
        .filters(tags::ec2_filter("state", "available"))
        .send()
        .await
        .ctx("ec2:DescribeAvailabilityZones")?;
    let mut zones: Vec<String> = r
        .availability_zones()
        .iter()
        .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
        .filter_map(|z| z.zone_name().map(str::to_string))
        .collect();
    zones.sort();
    Ok(zones)
}
