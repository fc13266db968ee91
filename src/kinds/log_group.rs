//! The control-plane log group `/aws/eks/<cluster>/cluster`. eksscale creates
//! it before the cluster so it owns it (retention, tags): EKS would create it
//! without a retention and never delete it, so it would bill forever.

use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeSpec, Observed, Phase};
use super::Value;
use crate::aws::tags::{self, Tags};
use crate::aws::{AwsResultExt, describe_error, error_code};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "log-group";
pub const ID: &str = "log-group";
pub const DELETE_AFTER: &[Kind] = &[Kind::EksCluster];
pub const BILLABLE: bool = true;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;

pub const RETENTION: &str = "retentionInDays";
pub const STATUS_COLUMNS: &[&str] = &[RETENTION];

/// Days CloudWatch keeps control-plane logs (EKS itself never expires them).
pub const RETENTION_DAYS: i32 = 90;

/// The log group EKS writes a cluster's control-plane logs to.
pub fn name(cluster: &str) -> String {
    format!("/aws/eks/{cluster}/cluster")
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub retention_days: i32,
}

impl Desired {
    pub fn node(self, tags: Tags) -> Node {
        let days = self.retention_days;
        Node::new(ID, NodeSpec::LogGroup(self))
            .mutable(RETENTION, Value::lit(days.to_string()))
            .tagged(tags)
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    2
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let name = name(cx.cluster);
    let r = cx
        .aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&name)
        .send()
        .await
        .ctx("logs:DescribeLogGroups")?;
    let Some(g) = r
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name.as_str()))
    else {
        return Ok(Vec::new());
    };
    let arn = g
        .log_group_arn()
        .map(str::to_string)
        .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()));
    let t = match &arn {
        Some(arn) => {
            let r = cx
                .aws
                .logs
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .found("logs:ListTagsForResource", &["ResourceNotFoundException"])?;
            // Deleted since DescribeLogGroups: not there.
            let Some(r) = r else {
                return Ok(Vec::new());
            };
            tags::from_map(r.tags())
        }
        None => Tags::new(),
    };
    let mut o = observe(g, t.clone()).claimed(t, cx.cluster, &cx.aws.region);
    o.arn = arn;
    Ok(vec![o])
}

fn observe(g: &aws_sdk_cloudwatchlogs::types::LogGroup, t: Tags) -> Observed {
    Observed::new(Kind::LogGroup, g.log_group_name().unwrap_or_default())
        .attr(
            RETENTION,
            g.retention_in_days()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "never".into()),
        )
        .tags(t)
        .keyed(ID)
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    let logs = &cx.aws.logs;
    let retention = || async {
        logs.put_retention_policy()
            .log_group_name(&want.name)
            .retention_in_days(want.retention_days)
            .send()
            .await
            .ctx("logs:PutRetentionPolicy")
    };
    match e {
        Ensure::Create => {
            match logs
                .create_log_group()
                .log_group_name(&want.name)
                .set_tags(Some(tags::to_map(&node.tags)))
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if error_code(&e) == Some("ResourceAlreadyExistsException") => {}
                Err(e) => return Err(describe_error("logs:CreateLogGroup", e)),
            }
            retention().await?;
            Ok((
                Done::with(Outcome::Created, &want.name),
                node.realized(&want.name, cx.refs, None),
            ))
        }
        Ensure::Update { obs, .. } => {
            if e.touches(RETENTION) {
                retention().await?;
            }
            let t = e.tag_changes();
            if !t.is_empty()
                && let Some(arn) = &obs.arn
            {
                logs.tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tags::to_map(&t)))
                    .send()
                    .await
                    .ctx("logs:TagResource")?;
            }
            Ok((
                Done::with(Outcome::Updated, e.fields()),
                node.realized(&want.name, cx.refs, Some(obs)),
            ))
        }
        Ensure::Unchanged(obs) => Ok((Done::new(Outcome::Unchanged), obs.clone())),
    }
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    match cx
        .aws
        .logs
        .delete_log_group()
        .log_group_name(&obs.id)
        .send()
        .await
    {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {
            Ok(Done::new(Outcome::Absent))
        }
        Err(e) => Err(describe_error("logs:DeleteLogGroup", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_exactly_the_compared_attributes() {
        let node = Desired {
            name: name("demo"),
            retention_days: RETENTION_DAYS,
        }
        .node(Tags::new());
        let g = aws_sdk_cloudwatchlogs::types::LogGroup::builder()
            .log_group_name(name("demo"))
            .retention_in_days(RETENTION_DAYS)
            .build();
        let o = observe(&g, Tags::new());
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            super::super::diff(&node, Some(&o), &std::collections::BTreeMap::new()),
            Change::Unchanged
        );
    }
}
