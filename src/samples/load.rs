//! What `eksscale samples load` does in AWS and Kubernetes: find a sample's
//! queue, send messages to it, read its depth and the sample Deployment's
//! replicas. `commands::samples` wires these and prints.

use anyhow::Context;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};

/// The URL of queue `name`; not found is an error that says to run `up`.
pub async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<String> {
    Ok(sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| crate::aws::describe_error("sqs:GetQueueUrl", e))
        .with_context(|| format!("queue {name} not found: run `eksscale up` first"))?
        .queue_url()
        .unwrap_or_default()
        .to_string())
}

/// (ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<(u64, u64)> {
    let r = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| crate::aws::describe_error("sqs:GetQueueAttributes", e))?;
    let get = |k: QueueAttributeName| {
        r.attributes()
            .and_then(|a| a.get(&k))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// Sends `n` messages in batches of 10 (SendMessageBatch's maximum); a
/// failed entry is sent once more.
pub async fn send(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    sample: &str,
    n: u32,
) -> anyhow::Result<u32> {
    let mut sent = 0;
    let mut next = 0;
    while next < n {
        let batch: Vec<SendMessageBatchRequestEntry> = (next..n.min(next + 10))
            .map(|i| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(
                        serde_json::json!({"sample": sample, "message": i, "from": "eksscale samples load"})
                            .to_string(),
                    )
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        next = n.min(next + 10);
        let mut entries = batch;
        for attempt in 0..2 {
            let r = sqs
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(|e| crate::aws::describe_error("sqs:SendMessageBatch", e))?;
            sent += r.successful().len() as u32;
            let failed: Vec<&str> = r.failed().iter().map(|f| f.id()).collect();
            if failed.is_empty() {
                break;
            }
            if attempt == 1 {
                anyhow::bail!(
                    "SQS refused {} messages twice: {}",
                    failed.len(),
                    r.failed()
                        .iter()
                        .map(|f| format!("{} ({})", f.code(), f.message().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            entries.retain(|e| failed.contains(&e.id()));
        }
    }
    Ok(sent)
}

/// The sample Deployment's (spec.replicas, status.readyReplicas).
pub async fn replicas(client: &kube::Client, name: &str) -> anyhow::Result<(u64, u64)> {
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client.clone(), crate::samples::NAMESPACE);
    let d = api.get(name).await?;
    let desired = d.spec.and_then(|s| s.replicas).unwrap_or(0);
    let ready = d.status.and_then(|s| s.ready_replicas).unwrap_or(0);
    Ok((desired.max(0) as u64, ready.max(0) as u64))
}
