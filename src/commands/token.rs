//! `eksscale token`: an ExecCredential for kubectl. Prints JSON only (the
//! exec plugin protocol, whatever `-o` says), makes no AWS call (signing is
//! local), and never logs the token.

use std::fmt;

use serde::Serialize;

use super::output::Report;
use crate::aws::token::ExecCredential;
use crate::cli::TokenArgs;

/// The credential, printed as JSON in both output modes.
#[derive(Serialize)]
#[serde(transparent)]
pub struct TokenReport(ExecCredential);

impl fmt::Display for TokenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_string(&self.0).map_err(|_| fmt::Error)?;
        writeln!(f, "{json}")
    }
}

impl Report for TokenReport {}

pub async fn run(g: &crate::cli::Global, a: TokenArgs) -> anyhow::Result<TokenReport> {
    let (name, region) = match (a.name, a.region) {
        (Some(name), Some(region)) => (name, region),
        (Some(name), None) => {
            let region = crate::aws::region_from_chain().await.ok_or_else(|| {
                super::usage("--region is required with --name (or set AWS_REGION)")
            })?;
            (name, region)
        }
        // The cluster of the config file (-f), as `status` and `down` do.
        (None, region) => {
            let fallback = match &region {
                Some(r) => Some(r.clone()),
                None => super::region_fallback(&g.file).await,
            };
            let (name, from_file) = crate::config::identity(&g.file, fallback)?;
            (name, region.unwrap_or(from_file))
        }
    };
    super::check_identity(&name, &region)?;
    let aws = crate::aws::Aws::connect(&region).await;
    let cred = crate::aws::token::exec_credential(&aws.sdk, &region, &name).await?;
    Ok(TokenReport(cred))
}
