//! Bounded retries for AWS's eventual consistency, reported as progress
//! (never silent): an id EC2 returned a moment ago can answer
//! `InvalidVpcID.NotFound` ("Eventual consistency in the Amazon EC2 API",
//! EC2 API reference), and a new IAM role or OIDC provider is not usable for
//! a few seconds ("Changes that I make are not always immediately visible",
//! IAM user guide): CreateCluster answers "Role ... could not be assumed",
//! CreateRole with a new OIDC principal "Invalid principal in policy". The
//! SDK's standard retry mode does not retry these (they are not throttling
//! or transient errors), so the calls that can meet them retry here.

use std::future::Future;
use std::time::Duration;

use super::Cx;
use super::ec2::Coded;
use crate::engine::wait::Poll;

/// What kind of delay a call may meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lag {
    /// EC2: an id created moments ago is not visible yet.
    Ec2Id,
    /// IAM: a role or OIDC provider created moments ago is not usable yet.
    Iam,
}

impl Lag {
    fn timeout(self) -> Duration {
        match self {
            Lag::Ec2Id => Duration::from_secs(60),
            // IAM propagation is usually seconds; AWS gives no bound.
            Lag::Iam => Duration::from_secs(3 * 60),
        }
    }

    /// Whether an error is this delay (and so worth another try).
    pub fn matches(self, code: Option<&str>, message: &str) -> bool {
        let code = code.unwrap_or("");
        match self {
            Lag::Ec2Id => code.ends_with(".NotFound") || code == "NatGatewayNotFound",
            Lag::Iam => match code {
                "MalformedPolicyDocument" => message.contains("Invalid principal"),
                "InvalidParameterException" => {
                    let m = message.to_ascii_lowercase();
                    m.contains("role") || m.contains("principal") || m.contains("does not exist")
                }
                _ => false,
            },
        }
    }

    fn what(self) -> &'static str {
        match self {
            Lag::Ec2Id => "new EC2 ids to become visible (eventual consistency)",
            Lag::Iam => "IAM to propagate the new role (eventual consistency)",
        }
    }
}

/// Runs `op` until it succeeds, retrying (with backoff, up to a bound) while
/// it fails with `lag`; any other error ends it.
pub async fn eventually<T, F, Fut>(
    cx: &Cx<'_>,
    op_name: &str,
    lag: Lag,
    mut op: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Coded>>,
{
    cx.step
        .wait(
            format!("{op_name}: {}", lag.what()),
            lag.timeout(),
            Duration::from_secs(10),
            || {
                let fut = op();
                async move {
                    match fut.await {
                        Ok(v) => Ok(Poll::Ready(v)),
                        Err((code, e)) if lag.matches(code.as_deref(), &format!("{e:#}")) => {
                            Ok(Poll::Pending(format!("{e:#}")))
                        }
                        Err((_, e)) => Err(e),
                    }
                }
            },
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_what_aws_answers_while_it_catches_up() {
        assert!(Lag::Ec2Id.matches(
            Some("InvalidVpcID.NotFound"),
            "The vpc ID 'vpc-1' does not exist"
        ));
        assert!(Lag::Ec2Id.matches(Some("NatGatewayNotFound"), ""));
        assert!(!Lag::Ec2Id.matches(Some("DependencyViolation"), ""));
        assert!(Lag::Iam.matches(
            Some("InvalidParameterException"),
            "Role with arn: arn:aws:iam::1:role/x, could not be assumed because it does not exist or the trusted entity is not correct"
        ));
        assert!(Lag::Iam.matches(
            Some("MalformedPolicyDocument"),
            "Invalid principal in policy: \"Federated\":\"arn:aws:iam::1:oidc-provider/x\""
        ));
        assert!(!Lag::Iam.matches(Some("MalformedPolicyDocument"), "Syntax errors in policy"));
        assert!(!Lag::Iam.matches(
            Some("InvalidParameterException"),
            "version 1.99 is not supported"
        ));
    }
}
