//! The dated price table (`prices.tsv`, sources in docs/pricing-sources.md):
//! on-demand list prices in USD for the regions it covers. A price missing
//! for a region is unknown, never guessed from another region.

use std::collections::BTreeMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("prices.tsv");

/// Hours in a month, as AWS pricing pages count them.
pub const HOURS_PER_MONTH: f64 = 730.0;

#[derive(Debug)]
pub struct Prices {
    /// `YYYY-MM-DD`.
    pub as_of: String,
    pub currency: String,
    /// Spot price ≈ on-demand × (1 − this); an estimate, marked as one.
    pub spot_discount: f64,
    /// (region, item) -> price per unit.
    rows: BTreeMap<(String, String), f64>,
}

impl Prices {
    pub fn get(&self, region: &str, item: &str) -> Option<f64> {
        self.rows
            .get(&(region.to_string(), item.to_string()))
            .copied()
    }

    /// Regions with at least the EKS control-plane price.
    pub fn regions(&self) -> Vec<String> {
        let mut r: Vec<String> = self
            .rows
            .keys()
            .filter(|(_, item)| item == "eks-cluster-standard")
            .map(|(r, _)| r.clone())
            .collect();
        r.dedup();
        r
    }

    pub fn covers(&self, region: &str) -> bool {
        self.get(region, "eks-cluster-standard").is_some()
    }
}

fn parse(text: &str) -> Result<Prices, String> {
    let mut as_of = None;
    let mut currency = None;
    let mut spot = None;
    let mut rows = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(c) = line.strip_prefix('#') {
            let c = c.trim();
            if let Some(v) = c.strip_prefix("prices_as_of:") {
                as_of = Some(v.trim().to_string());
            } else if let Some(v) = c.strip_prefix("currency:") {
                currency = Some(v.trim().to_string());
            } else if let Some(v) = c.strip_prefix("spot_discount_estimate:") {
                spot = Some(
                    v.trim()
                        .parse::<f64>()
                        .map_err(|e| format!("spot_discount_estimate: {e}"))?,
                );
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [region, item, _unit, price, _source] = cols[..] else {
            return Err(format!("line {}: expected 5 tab-separated columns", n + 1));
        };
        let price: f64 = price
            .parse()
            .map_err(|e| format!("line {}: price {price:?}: {e}", n + 1))?;
        rows.insert((region.to_string(), item.to_string()), price);
    }
    Ok(Prices {
        as_of: as_of.ok_or("no prices_as_of line")?,
        currency: currency.ok_or("no currency line")?,
        spot_discount: spot.ok_or("no spot_discount_estimate line")?,
        rows,
    })
}

/// The table compiled into eksscale.
pub fn table() -> &'static Prices {
    static T: OnceLock<Prices> = OnceLock::new();
    T.get_or_init(|| parse(TABLE).expect("src/catalog/prices.tsv is well-formed (unit-tested)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_has_what_cost_needs() {
        let t = parse(TABLE).unwrap();
        assert_eq!(t.currency, "USD");
        assert!(t.spot_discount > 0.0 && t.spot_discount < 1.0);
        for region in [
            "us-east-1",
            "us-east-2",
            "us-west-2",
            "eu-west-1",
            "eu-central-1",
        ] {
            assert!(t.covers(region), "{region}");
            assert!(t.get(region, "public-ipv4").is_some(), "{region}");
        }
        assert_eq!(t.get("us-east-1", "eks-cluster-standard"), Some(0.10));
        assert!(t.get("us-east-1", "ec2:m6i.large").is_some());
        assert_eq!(t.get("ap-south-2", "eks-cluster-standard"), None);
    }

    /// Prices change: once the table is more than a year old this fails, so
    /// it is refreshed (docs/pricing-sources.md says how).
    #[test]
    fn the_table_is_less_than_a_year_old() {
        let t = parse(TABLE).unwrap();
        let as_of: jiff::civil::Date = t.as_of.parse().unwrap();
        let today = jiff::Zoned::now().date();
        assert!(
            as_of.saturating_add(jiff::Span::new().years(1)) >= today,
            "src/catalog/prices.tsv is from {}, more than a year ago: refresh it (docs/pricing-sources.md)",
            t.as_of
        );
    }

    #[test]
    fn bad_rows_are_refused() {
        let e = parse("# prices_as_of: 2026-01-01\n# currency: USD\n# spot_discount_estimate: 0.5\nus-east-1\tx\thour\n").unwrap_err();
        assert!(e.contains("line 4"), "{e}");
    }
}
