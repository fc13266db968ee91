//! Which availability zones a spec uses: the listed names, or the first N
//! the region offers, preferring zones the cluster already uses so a re-run
//! never moves it. Pure: the zones on offer come from `aws::zones`.

use crate::kinds::{Kind, Observed, subnet};
use crate::spec::{Spec, ZoneChoice, ZoneLayout};

/// A zone choice that cannot be met (a usage error: nothing was changed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ZoneError(pub String);

/// The spec's zones laid out over its VPC CIDR.
pub fn layout(
    spec: &Spec,
    available: &[String],
    observed: &[Observed],
) -> Result<Vec<ZoneLayout>, ZoneError> {
    let names = choose(spec, available, observed)?;
    crate::spec::layout(spec.vpc.cidr, &spec.region, &names).map_err(ZoneError)
}

/// Zone names for the spec.
pub fn choose(
    spec: &Spec,
    available: &[String],
    observed: &[Observed],
) -> Result<Vec<String>, ZoneError> {
    match &spec.vpc.zones {
        ZoneChoice::Names(names) => {
            if let Some(bad) = names.iter().find(|z| !available.contains(z)) {
                return Err(ZoneError(format!(
                    "zone {bad} is not available in {} for this account; available zones: {}",
                    spec.region,
                    available.join(", ")
                )));
            }
            Ok(names.clone())
        }
        ZoneChoice::Count(n) => {
            let mut chosen: Vec<String> = observed
                .iter()
                .filter(|o| o.kind == Kind::Subnet)
                .filter_map(|o| o.attrs.get(subnet::ZONE).cloned())
                .filter(|z| available.contains(z))
                .collect();
            chosen.sort();
            chosen.dedup();
            chosen.truncate(*n);
            for z in available {
                if chosen.len() >= *n {
                    break;
                }
                if !chosen.contains(z) {
                    chosen.push(z.clone());
                }
            }
            if chosen.len() < *n {
                return Err(ZoneError(format!(
                    "spec.vpc.zones asks for {n} zones but {} has only {} available: {}; lower spec.vpc.zones",
                    spec.region,
                    available.len(),
                    available.join(", ")
                )));
            }
            chosen.sort();
            Ok(chosen)
        }
    }
}
