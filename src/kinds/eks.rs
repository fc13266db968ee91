//! What the EKS kinds share: EKS's recommended polling interval, its
//! not-found code, reading listed items, tagging by ARN, waiting for an update by its id, and
//! reading EKS's own health issues into one line.

use std::time::Duration;

use aws_sdk_eks::types::UpdateStatus;

use crate::aws::tags::{self, Tags};
use crate::aws::{Aws, AwsResultExt};
use crate::engine::wait::Poll;

use super::Cx;

/// AWS's EKS waiters poll every 30 s.
pub const EKS_POLL: Duration = Duration::from_secs(30);
pub const NOT_FOUND: &str = "ResourceNotFoundException";
/// How long an EKS update (version, config) may take.
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// Reads each listed item of a cluster at once; those gone since the listing
/// (`None`) are left out.
pub async fn found_all<F>(
    reads: impl IntoIterator<Item = F>,
) -> anyhow::Result<Vec<super::Observed>>
where
    F: Future<Output = anyhow::Result<Option<super::Observed>>>,
{
    Ok(futures::future::try_join_all(reads)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// `code: message; code: message` from EKS health issues.
pub fn health_text<'a>(
    issues: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> String {
    issues
        .into_iter()
        .map(|(code, msg)| {
            format!(
                "{}: {}",
                code.unwrap_or("issue"),
                msg.unwrap_or("no message")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Adds `t` to an EKS resource's tags (nothing to do when empty).
pub async fn tag(aws: &Aws, arn: &str, t: &Tags) -> anyhow::Result<()> {
    if t.is_empty() {
        return Ok(());
    }
    aws.eks
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags::to_map(t)))
        .send()
        .await
        .ctx("eks:TagResource")?;
    Ok(())
}

/// What an EKS update belongs to (`DescribeUpdate` needs it).
#[derive(Debug, Clone, Copy)]
pub enum UpdateOf<'a> {
    Cluster,
    Nodegroup(&'a str),
    Addon(&'a str),
}

/// Waits for an EKS update (cluster, node group or add-on) to finish.
pub async fn wait_update(cx: &Cx<'_>, of: UpdateOf<'_>, id: Option<&str>) -> anyhow::Result<()> {
    let Some(id) = id else { return Ok(()) };
    let (nodegroup, addon) = match of {
        UpdateOf::Cluster => (None, None),
        UpdateOf::Nodegroup(n) => (Some(n), None),
        UpdateOf::Addon(a) => (None, Some(a)),
    };
    let subject = nodegroup.or(addon).unwrap_or(cx.cluster);
    cx.step
        .wait(
            format!("update {id} of {subject}"),
            UPDATE_TIMEOUT,
            EKS_POLL,
            || async {
                let u = cx
                    .aws
                    .eks
                    .describe_update()
                    .name(cx.cluster)
                    .set_nodegroup_name(nodegroup.map(str::to_string))
                    .set_addon_name(addon.map(str::to_string))
                    .update_id(id)
                    .send()
                    .await
                    .ctx("eks:DescribeUpdate")?;
                let Some(u) = u.update() else {
                    return Ok(Poll::Pending("not visible yet".into()));
                };
                Ok(match u.status() {
                    Some(UpdateStatus::Successful) => Poll::Ready(()),
                    Some(UpdateStatus::Failed) | Some(UpdateStatus::Cancelled) => Poll::Failed(
                        u.errors()
                            .iter()
                            .map(|e| {
                                format!(
                                    "{}: {}",
                                    e.error_code().map(|c| c.as_str()).unwrap_or("error"),
                                    e.error_message().unwrap_or("")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                    other => {
                        Poll::Pending(other.map(|s| s.as_str()).unwrap_or("unknown").to_string())
                    }
                })
            },
        )
        .await
}
