//! What the EC2 kinds share: deletes that retry while AWS still reports a
//! dependency (ENIs of a deleted cluster or load balancer take minutes to
//! go), and splitting SDK errors into their code and a readable message.

use std::time::Duration;

use crate::aws::{describe_error, error_code};
use crate::engine::wait::Poll;

use super::Cx;

/// How long deletes keep retrying while AWS reports a dependency.
pub const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// An SDK error as (code, readable error).
pub type Coded = (Option<String>, anyhow::Error);

/// Splits an SDK error into its code and a readable error.
pub fn coded<E, R>(op: &str, e: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Coded
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = error_code(&e).map(str::to_string);
    (code, describe_error(op, e))
}

/// Runs `op` until it succeeds, retrying while AWS reports a dependency that
/// is still going away. `Ok(false)` means the resource was already gone.
pub async fn retry_dependency<F, Fut>(
    cx: &Cx<'_>,
    what: &str,
    not_found: &[&str],
    mut op: F,
) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), Coded>>,
{
    cx.step
        .wait(
            format!("{what} to have no dependencies left"),
            DEPENDENCY_TIMEOUT,
            Duration::from_secs(15),
            || {
                let fut = op();
                async move {
                    match fut.await {
                        Ok(()) => Ok(Poll::Ready(true)),
                        Err((Some(code), _)) if not_found.contains(&code.as_str()) => {
                            Ok(Poll::Ready(false))
                        }
                        Err((Some(code), e))
                            if code == "DependencyViolation"
                                || code == "InvalidIPAddress.InUse"
                                || code == "AuthFailure" =>
                        {
                            Ok(Poll::Pending(format!("{e:#}")))
                        }
                        Err((_, e)) => Err(e),
                    }
                }
            },
        )
        .await
}

/// Adds or changes tags on EC2 resources (nothing to do when empty).
pub async fn tag(cx: &Cx<'_>, id: &str, t: &crate::aws::tags::Tags) -> anyhow::Result<()> {
    if t.is_empty() {
        return Ok(());
    }
    cx.step.progress(format!("tagging {id}"));
    super::retry::eventually(cx, "ec2:CreateTags", super::retry::Lag::Ec2Id, || async {
        cx.aws
            .ec2
            .create_tags()
            .resources(id)
            .set_tags(Some(crate::aws::tags::to_ec2(t)))
            .send()
            .await
            .map_err(|e| coded("ec2:CreateTags", e))
    })
    .await?;
    Ok(())
}
