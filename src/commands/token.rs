//! `eksscale token`: an ExecCredential for kubectl. Prints JSON only, makes
//! no AWS call (signing is local), and never logs the token.

use crate::cli::TokenArgs;

pub async fn run(a: TokenArgs) -> anyhow::Result<u8> {
    let region = match a.region {
        Some(r) => r,
        None => crate::aws::region_from_environment()
            .await
            .ok_or_else(|| super::usage("--region is required (or set AWS_REGION)"))?,
    };
    super::check_identity(&a.name, &region)?;
    let aws = crate::aws::Aws::connect(&region).await;
    let cred = crate::aws::token::exec_credential(&aws.sdk, &region, &a.name).await?;
    println!("{}", serde_json::to_string(&cred)?);
    Ok(0)
}
