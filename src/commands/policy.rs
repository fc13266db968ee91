//! `eksscale policy`: every IAM role eksscale creates for a cluster, with its
//! trust policy, attached AWS managed policies and inline permissions, as
//! they would be created now. Values that exist only after `up` (the account
//! id without credentials, the OIDC provider before the cluster) are marked
//! placeholders.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::{Global, Output, PolicyArgs};
use crate::plan::graph::{self, NodeSpec};
use crate::plan::{Kind, Observed};

#[derive(Serialize)]
struct RolePolicies {
    role: String,
    purpose: String,
    trust: serde_json::Value,
    managed_policies: Vec<String>,
    inline_policies: BTreeMap<String, serde_json::Value>,
}

const ACCOUNT_PLACEHOLDER: &str = "EKSSCALE-PLACEHOLDER-ACCOUNT";

pub async fn run(g: &Global, a: PolicyArgs) -> anyhow::Result<u8> {
    let loaded = super::load_config(g).await?;
    let spec = loaded.spec;
    let known = async {
        let (aws, account) = super::connect(&spec.region).await?;
        let cluster = crate::aws::eks::read_cluster(&aws, &spec.name).await?;
        anyhow::Ok((account, cluster))
    };
    let (account, cluster) =
        match tokio::time::timeout(std::time::Duration::from_secs(15), known).await {
            Ok(Ok(v)) => v,
            _ => {
                eprintln!("note: AWS not reachable; the account id is a placeholder");
                (ACCOUNT_PLACEHOLDER.to_string(), None)
            }
        };
    // Before the cluster exists its issuer is unknown: use a marked placeholder.
    let issuer = cluster
        .as_ref()
        .and_then(|c| c.internal.get("issuer").cloned())
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
            graph::partition(&spec.region)
        ),
    )
    .attr("url", host);
    oidc.arn = Some(oidc.id.clone());
    world.insert(graph::OIDC.into(), oidc);
    let mut c = cluster.unwrap_or_else(|| Observed::new(Kind::EksCluster, &spec.name));
    c.arn.get_or_insert_with(|| {
        format!(
            "arn:{}:eks:{}:{account}:cluster/{}",
            graph::partition(&spec.region),
            spec.region,
            spec.name
        )
    });
    world.insert(graph::CLUSTER.into(), c);

    let names: Vec<String> = (0..spec.vpc.zones.count())
        .map(|i| format!("{}{}", spec.region, (b'a' + i as u8) as char))
        .collect();
    let zones =
        crate::spec::layout(spec.vpc.cidr, &spec.region, &names).map_err(anyhow::Error::msg)?;
    let inputs = graph::Inputs {
        account: account.clone(),
        addon_versions: BTreeMap::new(),
    };
    let mut out = Vec::new();
    for node in graph::build(&spec, &zones, &inputs) {
        let NodeSpec::IamRole(role) = &node.spec else {
            continue;
        };
        let purpose = node.id.trim_start_matches("iam-role/").to_string();
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
            "no role {:?}; roles for this config: cluster, node, vpc-cni (with the vpc-cni add-on), keda-operator (with KEDA)",
            a.role.unwrap_or_default()
        )));
    }
    match g.output {
        Output::Json => super::print_json(&out)?,
        Output::Human => {
            for r in &out {
                println!("# {} ({})", r.role, r.purpose);
                println!(
                    "## trust policy\n{}",
                    serde_json::to_string_pretty(&r.trust)?
                );
                println!("## attached AWS managed policies");
                if r.managed_policies.is_empty() {
                    println!("(none)");
                }
                for m in &r.managed_policies {
                    println!("{m}");
                }
                for (name, doc) in &r.inline_policies {
                    println!(
                        "## inline policy {name}\n{}",
                        serde_json::to_string_pretty(doc)?
                    );
                }
                println!();
            }
        }
    }
    Ok(0)
}
