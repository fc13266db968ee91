//! EKS authentication tokens, as `aws eks get-token` makes them, without the
//! AWS CLI: `k8s-aws-v1.` + unpadded base64url of a presigned STS
//! `GetCallerIdentity` URL (regional endpoint) whose signed headers include
//! `x-k8s-aws-id: <cluster>`, valid 60 s for the API server to verify.
//! Signed with the `aws-sigv4` crate. Tokens and keys are never logged.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine;
use serde::Serialize;

pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// `aws eks get-token` reports expiry 14 minutes ahead (the API server
/// accepts a presigned URL for 15).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);
/// Shortens the expiry `eksscale token` reports, in seconds (61 to 840):
/// clients (kube-rs, client-go) then fetch a new token sooner, which is how
/// the tests see a long run refresh its token against an API server that
/// honours tokens for less time. Anything else means 14 minutes.
pub const EXPIRY_ENV: &str = "EKSSCALE_TOKEN_EXPIRY_SECONDS";

/// How far ahead the ExecCredential's expiry is.
pub fn lifetime(setting: Option<&str>) -> Duration {
    setting
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| (61..=TOKEN_LIFETIME.as_secs()).contains(s))
        .map(Duration::from_secs)
        .unwrap_or(TOKEN_LIFETIME)
}
const URL_EXPIRES: Duration = Duration::from_secs(60);
const STS_API_VERSION: &str = "2011-06-15";
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";

/// Percent-encoding for query values, as AWS (and botocore) expect.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn sts_host(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("sts.{region}.{suffix}")
}

/// The token for `cluster`, signed with `creds` at `time`.
pub fn token(
    creds: &Credentials,
    region: &str,
    cluster: &str,
    time: SystemTime,
) -> anyhow::Result<String> {
    let host = sts_host(region);
    let base = format!("https://{host}/?Action=GetCallerIdentity&Version={STS_API_VERSION}");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(URL_EXPIRES);
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(settings)
        .build()
        .context("building SigV4 signing parameters")?
        .into();
    let headers = [("host", host.as_str()), ("x-k8s-aws-id", cluster)];
    let request = SignableRequest::new("GET", &base, headers.into_iter(), SignableBody::Bytes(&[]))
        .context("preparing the STS request to sign")?;
    let (instructions, _) = sign(request, &params)
        .context("signing the STS request")?
        .into_parts();
    // Same parameter order as botocore: operation, auth parameters, signature last.
    let mut url = base;
    let signed: Vec<(&str, String)> = instructions
        .params()
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect();
    let order = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ];
    for key in order {
        if let Some((_, v)) = signed.iter().find(|(k, _)| *k == key) {
            url.push('&');
            url.push_str(key);
            url.push('=');
            url.push_str(&percent_encoding::utf8_percent_encode(v, QUERY).to_string());
        }
    }
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url.as_bytes())
    ))
}

/// What `eksscale token` prints: a client-go ExecCredential.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecCredential {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub spec: serde_json::Value,
    pub status: ExecStatus,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecStatus {
    pub expiration_timestamp: String,
    pub token: String,
}

/// Resolves credentials from the SDK chain and builds the ExecCredential.
pub async fn exec_credential(
    sdk: &aws_types::SdkConfig,
    region: &str,
    cluster: &str,
) -> anyhow::Result<ExecCredential> {
    let provider = sdk
        .credentials_provider()
        .context("no AWS credentials provider is configured")?;
    let creds = provider.provide_credentials().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot load AWS credentials: {}\nSet AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
            super::error_chain(&e)
        )
    })?;
    let now = SystemTime::now();
    let token = token(&creds, region, cluster, now)?;
    let setting = std::env::var(EXPIRY_ENV).ok();
    let lifetime = lifetime(setting.as_deref());
    if let Some(s) = &setting
        && lifetime == TOKEN_LIFETIME
        && s.trim() != TOKEN_LIFETIME.as_secs().to_string()
    {
        // stderr: kubectl shows the exec plugin's stderr; stdout is the credential.
        eprintln!(
            "warning: {EXPIRY_ENV}={s:?} is not a number of seconds from 61 to {}; the token expires in 14 minutes",
            TOKEN_LIFETIME.as_secs()
        );
    }
    let expires = jiff::Timestamp::try_from(now + lifetime).context("clock out of range")?;
    Ok(ExecCredential {
        kind: "ExecCredential",
        api_version: EXEC_API_VERSION,
        spec: serde_json::json!({}),
        status: ExecStatus {
            expiration_timestamp: expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            token,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_can_only_be_shortened_within_bounds() {
        assert_eq!(lifetime(None), TOKEN_LIFETIME);
        assert_eq!(lifetime(Some("90")), Duration::from_secs(90));
        for bad in ["60", "841", "0", "-5", "soon", ""] {
            assert_eq!(lifetime(Some(bad)), TOKEN_LIFETIME, "{bad}");
        }
    }
    use std::process::Command;

    fn fixed() -> (Credentials, SystemTime) {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("FwoGZXIvYXdzEXAMPLE//token+with/specials=".into()),
            None,
            "test",
        );
        (
            creds,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_390_000),
        )
    }

    #[test]
    fn token_shape() {
        let (creds, t) = fixed();
        let tok = token(&creds, "us-west-2", "demo", t).unwrap();
        let b64 = tok.strip_prefix(TOKEN_PREFIX).unwrap();
        assert!(!b64.contains('='), "unpadded");
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b64)
                .unwrap(),
        )
        .unwrap();
        assert!(url.starts_with("https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256"));
        assert!(url.contains("&X-Amz-Expires=60&"));
        assert!(url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"));
        assert!(url.contains("X-Amz-Security-Token="));
    }

    /// The reference implementation behind `aws eks get-token` is botocore;
    /// for identical inputs the token must be identical, byte for byte.
    #[test]
    fn token_matches_botocore() {
        let python = std::env::var("EKSSCALE_TEST_PYTHON").unwrap_or_else(|_| {
            panic!("this test compares with botocore: run it through scripts/test.sh (sets EKSSCALE_TEST_PYTHON to the .venv python)")
        });
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/eks_token.py");
        for (session, region, cluster) in [
            (true, "us-west-2", "demo"),
            (false, "eu-central-1", "a_b-1"),
        ] {
            let (mut creds, t) = fixed();
            if !session {
                creds = Credentials::new(
                    creds.access_key_id(),
                    creds.secret_access_key(),
                    None,
                    None,
                    "test",
                );
            }
            let ours = token(&creds, region, cluster, t).unwrap();
            let epoch = t
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                .to_string();
            let mut cmd = Command::new(&python);
            cmd.arg(script)
                .args([
                    "--access-key",
                    creds.access_key_id(),
                    "--secret-key",
                    creds.secret_access_key(),
                ])
                .args(["--region", region, "--cluster", cluster, "--epoch", &epoch]);
            if let Some(s) = creds.session_token() {
                cmd.args(["--session-token", s]);
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = String::from_utf8(out.stdout).unwrap();
            assert_eq!(
                ours,
                theirs.trim(),
                "session token: {session}, region {region}"
            );
        }
    }
}
