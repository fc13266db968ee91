//! AWS clients, built once per run from the standard SDK chain, and the
//! helpers every AWS module shares: call counting, error codes, tags.
//!
//! Credentials, region, profile and endpoint come from the AWS SDK chain
//! (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, SSO, ...); retries are
//! configured here once. Nothing in `aws/` prints: progress goes through the
//! engine's event sink.

pub mod fleet;
pub mod tags;
pub mod token;
pub mod zones;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;
use aws_types::region::Region;
use serde::Serialize;

/// Counts every AWS operation the SDK sends (once per operation, not per
/// retry attempt), split into reads and mutations, so that "a second `up`
/// makes no mutating call" is measured, not assumed. It also counts and
/// reports the SDK's retries (throttling, 5xx, connection errors), so they
/// are never silent.
#[derive(Clone, Default)]
pub struct CallCounter {
    inner: Arc<Counts>,
}

impl std::fmt::Debug for CallCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallCounter")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Told about each retry (one line, e.g. for the event stream).
pub type RetryNotice = Box<dyn Fn(String) + Send + Sync>;

#[derive(Default)]
struct Counts {
    read: AtomicU64,
    mutating: AtomicU64,
    retries: AtomicU64,
    by_operation: Mutex<BTreeMap<String, u64>>,
    notice: Mutex<Option<RetryNotice>>,
}

/// Call counts, as reported in the JSON summary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CallStats {
    pub read: u64,
    pub mutating: u64,
    /// `service:Operation` -> count, for mutating operations only.
    pub mutating_operations: BTreeMap<String, u64>,
    /// Attempts the SDK repeated after a throttling or transient error.
    pub retries: u64,
}

/// Why the last attempt failed (kept in the operation's config bag so the
/// next attempt can say why it is a retry).
#[derive(Debug, Clone)]
struct AttemptFailure(String);

impl aws_smithy_types::config_bag::Storable for AttemptFailure {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl CallCounter {
    pub fn record(&self, service: &str, operation: &str) {
        if is_read_operation(operation) {
            self.inner.read.fetch_add(1, Ordering::Relaxed);
        } else {
            self.inner.mutating.fetch_add(1, Ordering::Relaxed);
            let mut m = self.inner.by_operation.lock().expect("counter lock");
            *m.entry(format!("{}:{operation}", service.to_ascii_lowercase()))
                .or_default() += 1;
        }
    }

    pub fn stats(&self) -> CallStats {
        CallStats {
            read: self.inner.read.load(Ordering::Relaxed),
            mutating: self.inner.mutating.load(Ordering::Relaxed),
            mutating_operations: self
                .inner
                .by_operation
                .lock()
                .expect("counter lock")
                .clone(),
            retries: self.inner.retries.load(Ordering::Relaxed),
        }
    }

    /// Where retries are reported from now on (`None`: nowhere).
    pub fn on_retry(&self, notice: Option<RetryNotice>) {
        *self.inner.notice.lock().expect("counter lock") = notice;
    }

    fn record_retry(&self, operation: &str, attempt: u32, why: &str) {
        self.inner.retries.fetch_add(1, Ordering::Relaxed);
        if let Some(n) = self.inner.notice.lock().expect("counter lock").as_ref() {
            n(format!(
                "{operation}: {why}; the SDK retries it (attempt {attempt})"
            ));
        }
    }
}

/// AWS naming convention: reads are Describe*/List*/Get*/...
pub fn is_read_operation(op: &str) -> bool {
    ["Describe", "List", "Get", "Search", "Lookup", "Check"]
        .iter()
        .any(|p| op.starts_with(p))
}

fn operation_name(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| format!("{}:{}", m.service().to_ascii_lowercase(), m.name()))
        .unwrap_or_else(|| "an AWS call".to_string())
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "eksscale::CallCounter"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let why = match context.response() {
            Some(r) if r.status().as_u16() >= 400 => {
                let code = r
                    .headers()
                    .get("x-amzn-errortype")
                    .map(|c| format!(" {}", c.split(':').next().unwrap_or(c)))
                    .unwrap_or_default();
                Some(format!("HTTP {}{code}", r.status().as_u16()))
            }
            Some(_) => None,
            None => matches!(context.output_or_error(), Some(Err(_)))
                .then(|| "no response (connection error or timeout)".to_string()),
        };
        if let Some(why) = why {
            cfg.interceptor_state().store_put(AttemptFailure(why));
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        if attempt > 1 {
            let why = cfg
                .load::<AttemptFailure>()
                .map(|f| f.0.clone())
                .unwrap_or_else(|| "a transient error".to_string());
            self.record_retry(&operation_name(cfg), attempt, &why);
        }
        Ok(())
    }

    // Serialization happens once per operation, after the operation's own
    // configuration (which carries its name) is in the bag; retries re-send
    // the serialized request without passing here again.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.record(m.service(), m.name());
        }
        Ok(())
    }
}

/// Every client eksscale uses, sharing one SDK config and one call counter.
#[derive(Debug, Clone)]
pub struct Aws {
    pub region: String,
    pub sdk: SdkConfig,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub eks: aws_sdk_eks::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub sts: aws_sdk_sts::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub calls: CallCounter,
}

impl Aws {
    /// Loads the SDK chain for `region`. Makes no AWS call.
    pub async fn connect(region: &str) -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            // Standard mode (exponential backoff with jitter, a retry quota)
            // retries throttling, 5xx and connection errors; 8 attempts ride
            // out a throttled burst. Adaptive mode would also slow every other
            // call of this client (all of eksscale's concurrent steps).
            .retry_config(RetryConfig::standard().with_max_attempts(8))
            .load()
            .await;
        Self::from_sdk(region, sdk)
    }

    pub fn from_sdk(region: &str, sdk: SdkConfig) -> Self {
        let calls = CallCounter::default();
        macro_rules! client {
            ($krate:ident) => {
                $krate::Client::from_conf(
                    $krate::config::Builder::from(&sdk)
                        .interceptor(calls.clone())
                        .build(),
                )
            };
        }
        Self {
            region: region.to_string(),
            ec2: client!(aws_sdk_ec2),
            iam: client!(aws_sdk_iam),
            eks: client!(aws_sdk_eks),
            logs: client!(aws_sdk_cloudwatchlogs),
            elb: client!(aws_sdk_elasticloadbalancing),
            elbv2: client!(aws_sdk_elasticloadbalancingv2),
            sts: client!(aws_sdk_sts),
            sqs: client!(aws_sdk_sqs),
            sdk,
            calls,
        }
    }
}

/// Connects and checks credentials with one read call (STS
/// GetCallerIdentity), so a missing or expired credential is reported before
/// anything else happens. Returns the clients and the account id.
pub async fn connect_checked(region: &str) -> anyhow::Result<(Aws, String)> {
    use aws_smithy_runtime_api::client::result::SdkError;
    let aws = Aws::connect(region).await;
    // Three attempts, not the run's eight: an endpoint that cannot be reached
    // is said in seconds.
    let who = aws
        .sts
        .get_caller_identity()
        .customize()
        .config_override(
            aws_sdk_sts::config::Builder::default()
                .retry_config(RetryConfig::standard().with_max_attempts(3)),
        )
        .send()
        .await
        .map_err(|e| match e {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => anyhow::anyhow!(
                "cannot reach AWS STS for region {region}{}: {}\nCheck the region name, the network, HTTPS_PROXY/NO_PROXY, and AWS_ENDPOINT_URL if it is set.",
                std::env::var("AWS_ENDPOINT_URL")
                    .map(|u| format!(" at {u}"))
                    .unwrap_or_default(),
                describe_error("sts:GetCallerIdentity", e)
            ),
            e => anyhow::anyhow!(
                "cannot use AWS credentials: {}\nSet AWS_PROFILE (and run `aws sso login` for SSO profiles), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
                describe_error("sts:GetCallerIdentity", e)
            ),
        })?;
    let account = who.account().unwrap_or_default().to_string();
    Ok((aws, account))
}

/// The region from the SDK's full chain: `AWS_REGION` / `AWS_DEFAULT_REGION`,
/// the active profile, then (on EC2, CodeBuild, ECS hosts) instance metadata.
/// Only asked when nothing else names the region, because the metadata
/// lookup can take a second off EC2 (`AWS_EC2_METADATA_DISABLED=true` skips it).
pub async fn region_from_chain() -> Option<String> {
    aws_config::default_provider::region::DefaultRegionChain::builder()
        .build()
        .region()
        .await
        .map(|r| r.to_string())
}

/// The service error code of an SDK error (e.g. `NoSuchEntity`), if any.
pub fn error_code<E, R>(
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> Option<&str>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code())
}

/// Turns an SDK error into a readable one-line error: `service:Op: Code: message`.
pub fn describe_error<E, R>(
    op: &str,
    err: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> anyhow::Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match &err {
        SdkError::ServiceError(s) => {
            let e = s.err();
            let code = e.code().unwrap_or("Unknown");
            let msg = e.message().unwrap_or("no message");
            anyhow::anyhow!("{op}: {code}: {msg}")
        }
        _ => anyhow::anyhow!("{op}: {}", error_chain(&err)),
    }
}

/// An error and its sources, `: `-separated, each message once. (The SDK's
/// `DisplayErrorContext` appends the whole Debug form, which buries the cause
/// under response dumps.)
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let m = e.to_string();
        if !m.is_empty() && !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = e.source();
    }
    out
}

/// `?`-friendly conversion: `client.op().send().await.ctx("ec2:CreateVpc")?`.
pub trait AwsResultExt<T> {
    fn ctx(self, op: &str) -> anyhow::Result<T>;
    /// Like `ctx`, but `None` when the error code is one of `gone`: for reads
    /// after a list, where the resource may be deleted in between (by another
    /// run, or AWS itself).
    fn found(self, op: &str, gone: &[&str]) -> anyhow::Result<Option<T>>;
}

impl<T, E, R> AwsResultExt<T> for Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn ctx(self, op: &str) -> anyhow::Result<T> {
        self.map_err(|e| describe_error(op, e))
    }

    fn found(self, op: &str, gone: &[&str]) -> anyhow::Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if error_code(&e).is_some_and(|c| gone.contains(&c)) => Ok(None),
            Err(e) => Err(describe_error(op, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_operations() {
        for op in ["DescribeVpcs", "ListRoles", "GetRole", "GetCallerIdentity"] {
            assert!(is_read_operation(op), "{op}");
        }
        for op in [
            "CreateVpc",
            "DeleteRole",
            "AttachRolePolicy",
            "TagResource",
            "UpdateAddon",
        ] {
            assert!(!is_read_operation(op), "{op}");
        }
    }

    #[test]
    fn counter_splits_reads_and_mutations() {
        let c = CallCounter::default();
        c.record("EC2", "DescribeVpcs");
        c.record("EC2", "CreateVpc");
        c.record("EC2", "CreateVpc");
        let s = c.stats();
        assert_eq!((s.read, s.mutating), (1, 2));
        assert_eq!(s.mutating_operations["ec2:CreateVpc"], 2);
    }
}
