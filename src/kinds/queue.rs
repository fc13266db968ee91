//! SQS queues for the samples that scale on a queue: the queue a sample
//! consumes (server-side encryption with SQS-managed keys, a redrive policy
//! to its dead-letter queue) and that dead-letter queue. Found by name prefix
//! and proved ours by tags; deleted by `down`.
//!
//! SQS rules relied on (Amazon SQS API Reference, encoded in
//! tests/emulator/aws_rules.py): names of at most 80 characters of
//! `[A-Za-z0-9_-]`; CreateQueue is idempotent only with identical attributes;
//! a name cannot be created again within 60 s of DeleteQueue
//! (`QueueDeletedRecently`), which `up` waits out; `maxReceiveCount` 1-1000
//! and a dead-letter queue of the same type in the same account and region.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;

use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed, Phase};
use super::Value;
use crate::aws::tags::{self, Tags};
use crate::aws::{AwsResultExt, describe_error, error_code};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "sqs-queue";
pub const DELETE_AFTER: &[Kind] = &[];
pub const BILLABLE: bool = true;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;

pub const SSE: &str = "sqsManagedSse";
pub const REDRIVE: &str = "redrive";
pub const RETENTION: &str = "retentionSeconds";
pub const VISIBILITY: &str = "visibilityTimeout";
pub const STATUS_COLUMNS: &[&str] = &[SSE, REDRIVE, RETENTION];
/// Where the queue URL is kept in `Observed::internal`.
pub const URL: &str = "url";

/// A message received this many times without being deleted goes to the DLQ.
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// Four days (SQS's default) for the queue, fourteen (the maximum) for the
/// dead-letter queue, so a failed message outlives the original's retention.
pub const RETENTION_QUEUE: u32 = 4 * 24 * 3600;
pub const RETENTION_DLQ: u32 = 14 * 24 * 3600;
/// Longer than a consumer takes for a batch (the sample's receive uses 120).
pub const VISIBILITY_SECONDS: u32 = 120;

pub fn id(name: &str) -> NodeId {
    format!("{LABEL}/{name}")
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    /// The dead-letter queue's node (its ARN goes into the redrive policy).
    pub dead_letter: Option<NodeId>,
    pub retention_seconds: u32,
}

impl Desired {
    pub fn node(self, id: &str, tags: Tags) -> Node {
        let redrive = match &self.dead_letter {
            Some(dlq) => {
                let dlq = dlq.clone();
                Value::computed(move |r| {
                    r.arn_of(&dlq)
                        .map(|arn| format!("{arn} after {MAX_RECEIVE_COUNT} receives"))
                })
            }
            None => Value::lit("none"),
        };
        let deps: Vec<NodeId> = self.dead_letter.iter().cloned().collect();
        let retention = self.retention_seconds;
        Node::new(id, NodeSpec::Queue(self))
            .mutable(SSE, Value::lit("true"))
            .mutable(REDRIVE, redrive)
            .mutable(RETENTION, Value::lit(retention.to_string()))
            .mutable(VISIBILITY, Value::lit(VISIBILITY_SECONDS.to_string()))
            .deps(deps)
            .tagged(tags)
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    2
}

/// The queue attributes eksscale sets, as SQS names them.
fn attributes(want: &Desired, dlq_arn: Option<&str>) -> HashMap<QueueAttributeName, String> {
    let mut a = HashMap::from([
        (QueueAttributeName::SqsManagedSseEnabled, "true".to_string()),
        (
            QueueAttributeName::MessageRetentionPeriod,
            want.retention_seconds.to_string(),
        ),
        (
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY_SECONDS.to_string(),
        ),
    ]);
    if let Some(arn) = dlq_arn {
        a.insert(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
                .to_string(),
        );
    }
    a
}

/// The comparable form of a RedrivePolicy attribute.
fn redrive_text(policy: Option<&str>) -> String {
    let Some(p) = policy.and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok()) else {
        return "none".into();
    };
    let count = match &p["maxReceiveCount"] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!(
        "{} after {count} receives",
        p["deadLetterTargetArn"].as_str().unwrap_or_default()
    )
}

fn observe(name: &str, url: &str, attrs: &HashMap<QueueAttributeName, String>, t: Tags) -> Observed {
    let get = |k: QueueAttributeName| attrs.get(&k).cloned();
    let mut o = Observed::new(Kind::Queue, name)
        .attr(
            SSE,
            get(QueueAttributeName::SqsManagedSseEnabled).unwrap_or_else(|| "false".into()),
        )
        .attr(
            REDRIVE,
            redrive_text(get(QueueAttributeName::RedrivePolicy).as_deref()),
        )
        .attr(
            RETENTION,
            get(QueueAttributeName::MessageRetentionPeriod).unwrap_or_default(),
        )
        .attr(
            VISIBILITY,
            get(QueueAttributeName::VisibilityTimeout).unwrap_or_default(),
        )
        .tags(t);
    o.arn = get(QueueAttributeName::QueueArn);
    o.internal.insert(URL.into(), url.to_string());
    o
}

async fn read(cx: &DiscoverCx<'_>, url: &str) -> anyhow::Result<Option<Observed>> {
    let sqs = &cx.aws.sqs;
    let gone = &["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"];
    let Some(a) = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .found("sqs:GetQueueAttributes", gone)?
    else {
        return Ok(None);
    };
    let Some(t) = sqs
        .list_queue_tags()
        .queue_url(url)
        .send()
        .await
        .found("sqs:ListQueueTags", gone)?
    else {
        return Ok(None);
    };
    let attrs = a.attributes().cloned().unwrap_or_default();
    let t = tags::from_map(t.tags());
    let name = url.rsplit('/').next().unwrap_or_default();
    Ok(Some(
        observe(name, url, &attrs, t.clone()).claimed(t, cx.cluster, &cx.aws.region),
    ))
}

/// Queues whose names could be this cluster's (`eksscale-<cluster>...`),
/// with their tags: the tags decide whose they are.
pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let prefix: String = format!("eksscale-{}", cx.cluster.chars().take(20).collect::<String>());
    let mut urls = Vec::new();
    let mut next = None;
    loop {
        let r = cx
            .aws
            .sqs
            .list_queues()
            .queue_name_prefix(&prefix)
            .max_results(1000)
            .set_next_token(next)
            .send()
            .await
            .ctx("sqs:ListQueues")?;
        urls.extend(r.queue_urls().iter().cloned());
        next = r.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    // Names eksscale gives this cluster's queues (crate::samples::queue_name):
    // a longer cluster name that shares the prefix is someone else's.
    let plain = format!("eksscale-{}-", cx.cluster);
    let hashed = format!("-{}-", crate::spec::short_hash(cx.cluster));
    let mut out = Vec::new();
    for url in urls {
        let name = url.rsplit('/').next().unwrap_or_default();
        if !(name.starts_with(&plain) || name.contains(&hashed)) {
            continue;
        }
        let Some(mut o) = read(cx, &url).await? else {
            continue;
        };
        // Another eksscale cluster's (one whose name extends this one's).
        if o.tags
            .get(tags::TAG_CLUSTER)
            .is_some_and(|c| c != cx.cluster)
        {
            continue;
        }
        if o.key.is_none() {
            // Untagged at one of our names: matched by name, so `up` sees it
            // (and refuses it as not ours) instead of failing to create it.
            let rest = name
                .strip_prefix(&plain)
                .or_else(|| name.split_once(&hashed).map(|(_, r)| r))
                .unwrap_or(name);
            o.key = Some(id(rest));
        }
        out.push(o);
    }
    Ok(out)
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    let sqs = &cx.aws.sqs;
    let dlq_arn = want.dead_letter.as_ref().and_then(|d| cx.refs.arn_of(d));
    if want.dead_letter.is_some() && dlq_arn.is_none() {
        anyhow::bail!("{}: its dead-letter queue's ARN is not known", node.id);
    }
    match e {
        Ensure::Create => {
            let mut waited = Duration::ZERO;
            let url = loop {
                match sqs
                    .create_queue()
                    .queue_name(&want.name)
                    .set_attributes(Some(attributes(want, dlq_arn.as_deref())))
                    .set_tags(Some(tags::to_map(&node.tags)))
                    .send()
                    .await
                {
                    Ok(r) => break r.queue_url().unwrap_or_default().to_string(),
                    // SQS: "wait at least 60 seconds before creating a queue
                    // with the same name" (DeleteQueue, API reference).
                    Err(err)
                        if error_code(&err).is_some_and(|c| c.contains("QueueDeletedRecently"))
                            && waited < Duration::from_secs(75) =>
                    {
                        cx.step.progress(format!(
                            "SQS does not allow creating {} again within 60 s of deleting it; waiting",
                            want.name
                        ));
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        waited += Duration::from_secs(5);
                    }
                    Err(err) => return Err(describe_error("sqs:CreateQueue", err)),
                }
            };
            let a = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .ctx("sqs:GetQueueAttributes")?;
            let arn = a
                .attributes()
                .and_then(|m| m.get(&QueueAttributeName::QueueArn))
                .cloned();
            let mut o = node.realized(&want.name, cx.refs, None);
            o.arn = arn;
            o.internal.insert(URL.into(), url);
            Ok((Done::with(Outcome::Created, &want.name), o))
        }
        Ensure::Update { obs, .. } => {
            let url = obs
                .internal
                .get(URL)
                .cloned()
                .unwrap_or_default();
            let fields = [SSE, REDRIVE, RETENTION, VISIBILITY];
            if fields.iter().any(|f| e.touches(f)) {
                sqs.set_queue_attributes()
                    .queue_url(&url)
                    .set_attributes(Some(attributes(want, dlq_arn.as_deref())))
                    .send()
                    .await
                    .ctx("sqs:SetQueueAttributes")?;
            }
            let t = e.tag_changes();
            if !t.is_empty() {
                sqs.tag_queue()
                    .queue_url(&url)
                    .set_tags(Some(tags::to_map(&t)))
                    .send()
                    .await
                    .ctx("sqs:TagQueue")?;
            }
            Ok((
                Done::with(Outcome::Updated, e.fields()),
                node.realized(&obs.id, cx.refs, Some(obs)),
            ))
        }
        Ensure::Unchanged(obs) => Ok((Done::new(Outcome::Unchanged), obs.clone())),
    }
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    let url = obs.internal.get(URL).cloned().unwrap_or_default();
    match cx.aws.sqs.delete_queue().queue_url(&url).send().await {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e)
            if error_code(&e).is_some_and(|c| {
                c.contains("NonExistentQueue") || c.contains("QueueDoesNotExist")
            }) =>
        {
            Ok(Done::new(Outcome::Absent))
        }
        Err(e) => Err(describe_error("sqs:DeleteQueue", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_exactly_the_compared_attributes() {
        let dlq_arn = "arn:aws:sqs:us-west-2:123456789012:q-dlq";
        let want = Desired {
            name: "q".into(),
            dead_letter: Some(id("q-dlq")),
            retention_seconds: RETENTION_QUEUE,
        };
        let node = want.clone().node(&id("q"), Tags::new());
        let attrs = attributes(&want, Some(dlq_arn));
        let o = observe("q", "https://sqs/q", &attrs, Tags::new());
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
        let mut dlq = Observed::new(Kind::Queue, "q-dlq");
        dlq.arn = Some(dlq_arn.into());
        let refs: std::collections::BTreeMap<String, Observed> =
            [(id("q-dlq"), dlq)].into_iter().collect();
        assert_eq!(super::super::diff(&node, Some(&o), &refs), Change::Unchanged);
    }

    #[test]
    fn redrive_policies_compare_whatever_the_count_type() {
        assert_eq!(
            redrive_text(Some(r#"{"deadLetterTargetArn":"a","maxReceiveCount":"5"}"#)),
            redrive_text(Some(r#"{"deadLetterTargetArn":"a","maxReceiveCount":5}"#))
        );
        assert_eq!(redrive_text(None), "none");
    }
}
