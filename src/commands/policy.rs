//! `eksscale policy`: every IAM role eksscale creates for a cluster, with its
//! trust policy, attached AWS managed policies and inline permissions, as
//! they would be created now. Values that exist only after `up` (the account
//! id without credentials, the OIDC provider before the cluster) are marked
//! placeholders.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::output::Report;
use crate::cli::{Global, PolicyArgs};
use crate::kinds::{Kind, NodeSpec, Observed, cluster, oidc_provider};
use crate::plan::graph;

#[derive(Serialize)]
pub struct RolePolicies {
    role: String,
    purpose: String,
    trust: serde_json::Value,
    managed_policies: Vec<String>,
    inline_policies: BTreeMap<String, serde_json::Value>,
}

const ACCOUNT_PLACEHOLDER: &str = "EKSSCALE-PLACEHOLDER-ACCOUNT";

/// What `policy` reports: every role (a JSON array of them), or with
/// `--operator` the operator's policy document.
#[derive(Serialize)]
#[serde(untagged)]
pub enum PolicyReport {
    Roles(Vec<RolePolicies>),
    Operator(serde_json::Value),
}

impl fmt::Display for PolicyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pretty =
            |v: &serde_json::Value| serde_json::to_string_pretty(v).map_err(|_| fmt::Error);
        let roles = match self {
            PolicyReport::Roles(roles) => roles,
            PolicyReport::Operator(doc) => return writeln!(f, "{}", pretty(doc)?),
        };
        for r in roles {
            writeln!(f, "# {} ({})", r.role, r.purpose)?;
            writeln!(f, "## trust policy\n{}", pretty(&r.trust)?)?;
            writeln!(f, "## attached AWS managed policies")?;
            if r.managed_policies.is_empty() {
                writeln!(f, "(none)")?;
            }
            for m in &r.managed_policies {
                writeln!(f, "{m}")?;
            }
            for (name, doc) in &r.inline_policies {
                writeln!(f, "## inline policy {name}\n{}", pretty(doc)?)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl Report for PolicyReport {}

pub async fn run(g: &Global, a: PolicyArgs) -> anyhow::Result<PolicyReport> {
    let loaded = super::load_config(g).await?;
    let spec = loaded.spec;
    let known = async {
        let (aws, account) = crate::aws::connect_checked(&spec.region).await?;
        let found = cluster::read(&aws, &spec.name).await?;
        anyhow::Ok((account, found))
    };
    let (account, found) =
        match tokio::time::timeout(std::time::Duration::from_secs(15), known).await {
            Ok(Ok(v)) => v,
            _ => {
                eprintln!("note: AWS not reachable; the account id is a placeholder");
                (ACCOUNT_PLACEHOLDER.to_string(), None)
            }
        };
    // Before the cluster exists its issuer is unknown: use a marked placeholder.
    let issuer = found
        .as_ref()
        .and_then(|c| c.internal.get(cluster::ISSUER).cloned())
        .unwrap_or_else(|| {
            format!(
                "https://oidc.eks.{}.amazonaws.com/id/EKSSCALE-PLACEHOLDER-ISSUER",
                spec.region
            )
        });
    let host = issuer.trim_start_matches("https://").to_string();
    let mut world: BTreeMap<String, Observed> = BTreeMap::new();
    let mut oidc = Observed::new(
        Kind::OidcProvider,
        format!(
            "arn:{}:iam::{account}:oidc-provider/{host}",
            crate::spec::partition(&spec.region)
        ),
    )
    .attr(oidc_provider::URL, host);
    oidc.arn = Some(oidc.id.clone());
    world.insert(oidc_provider::ID.into(), oidc);
    let mut c = found.unwrap_or_else(|| Observed::new(Kind::EksCluster, &spec.name));
    c.arn.get_or_insert_with(|| {
        format!(
            "arn:{}:eks:{}:{account}:cluster/{}",
            crate::spec::partition(&spec.region),
            spec.region,
            spec.name
        )
    });
    world.insert(cluster::ID.into(), c);

    let names: Vec<String> = (0..spec.vpc.zones.count())
        .map(|i| format!("{}{}", spec.region, (b'a' + i as u8) as char))
        .collect();
    let zones =
        crate::spec::layout(spec.vpc.cidr, &spec.region, &names).map_err(anyhow::Error::msg)?;
    let samples = crate::samples::selected(&spec, &super::config_dir(g))?;
    let inputs = graph::Inputs {
        account: account.clone(),
        addon_versions: BTreeMap::new(),
        queue_samples: samples
            .iter()
            .filter(|s| s.queue)
            .map(|s| s.name.clone())
            .collect(),
    };
    let nodes = graph::build(&spec, &zones, &inputs);
    if a.operator {
        let managed: Vec<String> = nodes
            .iter()
            .filter_map(|n| match &n.spec {
                NodeSpec::IamRole(r) => Some(r.managed.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        let doc = crate::policy::operator(&crate::policy::Operator {
            cluster: &spec.name,
            region: &spec.region,
            account: &account,
            managed_policies: managed,
            boundary: spec.permissions_boundary.as_deref(),
        })?;
        return Ok(PolicyReport::Operator(doc));
    }
    let mut out = Vec::new();
    let mut available = Vec::new();
    for node in nodes {
        let NodeSpec::IamRole(role) = &node.spec else {
            continue;
        };
        let purpose = node.id.trim_start_matches("iam-role/").to_string();
        available.push(purpose.clone());
        if a.role.as_ref().is_some_and(|r| r != &purpose) {
            continue;
        }
        out.push(RolePolicies {
            role: role.name.clone(),
            purpose,
            trust: role.trust.document(&world).unwrap_or_default(),
            managed_policies: role.managed.clone(),
            inline_policies: role.inline.iter().cloned().collect(),
        });
    }
    if out.is_empty() {
        return Err(super::usage(format!(
            "no role {:?}; roles for this config: {}",
            a.role.unwrap_or_default(),
            available.join(", ")
        )));
    }
    Ok(PolicyReport::Roles(out))
}
