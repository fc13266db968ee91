//! IAM policy documents: templates in `policies/`, rendered with values and
//! linted before use. The lint is the "least privilege, checked" principle in
//! code: no wildcard actions, no `Resource: "*"` except for actions AWS does
//! not scope, and web-identity trust pinned to both `sub` and `aud`.

use anyhow::{Context, bail};
use serde_json::Value;

const TRUST_SERVICE: &str = include_str!("../policies/trust-service.json.j2");
const TRUST_IRSA: &str = include_str!("../policies/trust-irsa.json.j2");
const TRUST_POD_IDENTITY: &str = include_str!("../policies/trust-pod-identity.json.j2");
const TRUST_EKS_CLUSTER: &str = include_str!("../policies/trust-eks-cluster.json.j2");
const OPERATOR: &str = include_str!("../policies/operator.json.j2");
const KEDA_OPERATOR: &str = include_str!("../policies/keda-operator.json.j2");
const SAMPLE_CONSUMER: &str = include_str!("../policies/sample-consumer.json.j2");

/// Actions that AWS only grants on `Resource: "*"` (no resource-level
/// scoping, per the Service Authorization Reference): besides these, every
/// `ec2:Describe*` and `elasticloadbalancing:Describe*`.
const UNSCOPABLE_ACTIONS: &[&str] = &[
    "cloudwatch:GetMetricData",
    "eks:DescribeAddonVersions",
    "eks:ListClusters",
    "iam:ListOpenIDConnectProviders",
    "iam:ListRoles",
    "logs:DescribeLogGroups",
    "sqs:ListQueues",
    "sts:GetCallerIdentity",
];

fn unscopable(action: &str) -> bool {
    UNSCOPABLE_ACTIONS.contains(&action)
        || action.starts_with("ec2:Describe")
        || action.starts_with("elasticloadbalancing:Describe")
}

fn render(name: &str, template: &str, ctx: minijinja::Value) -> anyhow::Result<Value> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Json);
    env.add_template(name, template)?;
    let text = env.get_template(name)?.render(ctx)?;
    let doc: Value = serde_json::from_str(&text)
        .with_context(|| format!("policies/{name} rendered invalid JSON"))?;
    lint(&doc).with_context(|| format!("policies/{name} failed the least-privilege lint"))?;
    Ok(doc)
}

/// Trust for an AWS service principal (e.g. `eks.amazonaws.com`).
pub fn trust_service(service: &str) -> anyhow::Result<Value> {
    render(
        "trust-service.json.j2",
        TRUST_SERVICE,
        minijinja::context! { service },
    )
}

/// IRSA trust: only `system:serviceaccount:<ns>:<sa>` of this cluster's OIDC
/// issuer, with audience `sts.amazonaws.com`.
pub fn trust_irsa(
    provider_arn: &str,
    issuer_url: &str,
    namespace: &str,
    service_account: &str,
) -> anyhow::Result<Value> {
    let issuer = issuer_url.trim_start_matches("https://");
    render(
        "trust-irsa.json.j2",
        TRUST_IRSA,
        minijinja::context! { provider_arn, issuer, namespace, service_account },
    )
}

/// EKS Pod Identity trust, limited to one cluster of one account and to one
/// namespace and service account (the session tags EKS Pod Identity sets:
/// EKS user guide, "Define which namespaces and service accounts ... can use
/// a role", `aws:RequestTag/kubernetes-namespace` and
/// `aws:RequestTag/kubernetes-service-account`).
pub fn trust_pod_identity(
    account_id: &str,
    cluster_arn: &str,
    namespace: &str,
    service_account: &str,
) -> anyhow::Result<Value> {
    render(
        "trust-pod-identity.json.j2",
        TRUST_POD_IDENTITY,
        minijinja::context! { account_id, cluster_arn, namespace, service_account },
    )
}

/// The EKS cluster role's trust, pinned to this account and this cluster's
/// ARN (confused-deputy protection: IAM user guide, "The confused deputy
/// problem", `aws:SourceAccount` / `aws:SourceArn`).
pub fn trust_eks_cluster(account_id: &str, cluster_arn: &str) -> anyhow::Result<Value> {
    render(
        "trust-eks-cluster.json.j2",
        TRUST_EKS_CLUSTER,
        minijinja::context! { account_id, cluster_arn },
    )
}

/// What the operator policy is rendered for.
#[derive(Debug, Clone)]
pub struct Operator<'a> {
    pub cluster: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// The AWS managed policies eksscale attaches to its roles.
    pub managed_policies: Vec<String>,
    pub boundary: Option<&'a str>,
}

/// The IAM policy a person or CI role needs to run `up` and `down` for one
/// cluster: explicit actions only; creates only with the ownership tags;
/// changes and deletes only of resources carrying them (or, for what
/// Kubernetes made, the cluster's Kubernetes tags); IAM writes only under
/// eksscale's path and this cluster's role name prefix; PassRole only to EKS;
/// AttachRolePolicy only of the managed policies eksscale uses.
pub fn operator(o: &Operator<'_>) -> anyhow::Result<Value> {
    let partition = crate::spec::partition(o.region);
    let dns_suffix = if partition == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    let mut managed = o.managed_policies.clone();
    managed.sort();
    managed.dedup();
    let role_arn_pattern = format!(
        "arn:{partition}:iam::{}:role/eksscale/{}*",
        o.account,
        crate::spec::role_prefix(o.cluster, o.region)
    );
    render(
        "operator.json.j2",
        OPERATOR,
        minijinja::context! {
            name => o.cluster,
            region => o.region,
            account => o.account,
            partition,
            dns_suffix,
            boundary => o.boundary,
            managed_policies => managed,
            role_arn_pattern,
            // crate::samples::queue_name: eksscale-<cluster>-<sample>, or
            // for long names a shortened head and the name's hash.
            queue_arn_patterns => [
                format!("arn:{partition}:sqs:{}:{}:eksscale-{}-*", o.region, o.account, o.cluster),
                format!(
                    "arn:{partition}:sqs:{}:{}:eksscale-*-{}-*",
                    o.region,
                    o.account,
                    crate::spec::short_hash(o.cluster)
                ),
            ],
            eks_arn => format!("arn:{partition}:eks:{}:{}", o.region, o.account),
            ec2_arn => format!("arn:{partition}:ec2:{}:{}", o.region, o.account),
            elb_arn => format!("arn:{partition}:elasticloadbalancing:{}:{}", o.region, o.account),
        },
    )
}

/// What the KEDA operator's scalers need to read, and nothing more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KedaPermissions {
    /// SQS queues whose depth drives a ScaledObject (`aws-sqs-queue` triggers).
    pub sqs_queue_arns: Vec<String>,
    /// Whether any trigger reads CloudWatch metrics (`aws-cloudwatch`).
    pub cloudwatch: bool,
}

/// A queue sample's consumer: receive, delete, extend the visibility of and
/// read the attributes of messages in its one queue, nothing else.
pub fn sample_consumer(queue_arn: &str) -> anyhow::Result<Value> {
    render(
        "sample-consumer.json.j2",
        SAMPLE_CONSUMER,
        minijinja::context! { queue_arn },
    )
}

/// The KEDA operator's permission policy, or `None` when no trigger needs AWS.
pub fn keda_operator(p: &KedaPermissions) -> anyhow::Result<Option<Value>> {
    #[derive(serde::Serialize)]
    struct St {
        sid: &'static str,
        actions: Vec<&'static str>,
        resources: Vec<String>,
    }
    let mut statements = Vec::new();
    if !p.sqs_queue_arns.is_empty() {
        let mut queues = p.sqs_queue_arns.clone();
        queues.sort();
        queues.dedup();
        statements.push(St {
            sid: "ReadQueueDepthForScaling",
            actions: vec!["sqs:GetQueueAttributes"],
            resources: queues,
        });
    }
    if p.cloudwatch {
        // GetMetricData cannot be scoped to resources (AWS documents "*").
        statements.push(St {
            sid: "ReadMetricsForScaling",
            actions: vec!["cloudwatch:GetMetricData"],
            resources: vec!["*".into()],
        });
    }
    if statements.is_empty() {
        return Ok(None);
    }
    render(
        "keda-operator.json.j2",
        KEDA_OPERATOR,
        minijinja::context! { statements => minijinja::Value::from(minijinja::value::Serde(&statements)) },
    )
    .map(Some)
}

/// One canonical text form (sorted keys, no whitespace) for comparisons.
pub fn canonical(doc: &Value) -> String {
    serde_json::to_string(doc).expect("JSON values serialize")
}

/// Parses a policy document as IAM returns it (URL-encoded JSON).
pub fn parse_returned(doc: &str) -> anyhow::Result<Value> {
    let decoded = percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .context("policy document is not valid UTF-8")?;
    serde_json::from_str(&decoded).context("policy document is not valid JSON")
}

fn as_list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(other) => vec![other],
        None => vec![],
    }
}

/// A `Resource: "*"` statement that a condition narrows to one cluster's
/// resources (tags), to tagging at creation, or to named services.
fn narrowed_by_condition(st: &Value) -> bool {
    let Some(cond) = st.get("Condition").and_then(Value::as_object) else {
        return false;
    };
    cond.values()
        .filter_map(Value::as_object)
        .flat_map(|m| m.keys())
        .any(|k| {
            k.starts_with("aws:RequestTag/")
                || k.starts_with("aws:ResourceTag/")
                || k == "ec2:CreateAction"
                || k == "iam:AWSServiceName"
        })
}

/// Least-privilege checks every document must pass.
pub fn lint(doc: &Value) -> anyhow::Result<()> {
    let statements = as_list(doc.get("Statement"));
    if statements.is_empty() {
        bail!("no Statement");
    }
    for (i, st) in statements.iter().enumerate() {
        if st.get("NotAction").is_some()
            || st.get("NotResource").is_some()
            || st.get("NotPrincipal").is_some()
        {
            bail!("statement {i}: NotAction/NotResource/NotPrincipal are not allowed");
        }
        let actions: Vec<&str> = as_list(st.get("Action"))
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        if actions.is_empty() {
            bail!("statement {i}: no Action");
        }
        for a in &actions {
            if a.contains('*') {
                bail!("statement {i}: wildcard action {a:?}; list the exact actions needed");
            }
        }
        let is_trust = st.get("Principal").is_some();
        if is_trust {
            if actions.contains(&"sts:AssumeRoleWithWebIdentity") {
                let eq = st
                    .pointer("/Condition/StringEquals")
                    .and_then(Value::as_object);
                let pinned =
                    |suffix: &str| eq.is_some_and(|m| m.keys().any(|k| k.ends_with(suffix)));
                if !pinned(":sub") || !pinned(":aud") {
                    bail!(
                        "statement {i}: web-identity trust must pin both :sub and :aud with StringEquals"
                    );
                }
            }
            continue;
        }
        for r in as_list(st.get("Resource")) {
            if r.as_str() == Some("*")
                && !actions.iter().all(|a| unscopable(a))
                && !narrowed_by_condition(st)
            {
                bail!(
                    "statement {i}: Resource \"*\" is only allowed for actions AWS cannot scope (ec2:Describe*, elasticloadbalancing:Describe*, {}) or under a tag or service condition",
                    UNSCOPABLE_ACTIONS.join(", ")
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn irsa_trust_is_pinned_to_sub_and_aud() {
        let d = trust_irsa(
            "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC",
            "https://oidc.eks.us-west-2.amazonaws.com/id/ABC",
            "kube-system",
            "aws-node",
        )
        .unwrap();
        let eq = &d["Statement"][0]["Condition"]["StringEquals"];
        assert_eq!(
            eq["oidc.eks.us-west-2.amazonaws.com/id/ABC:sub"],
            "system:serviceaccount:kube-system:aws-node"
        );
        assert_eq!(
            eq["oidc.eks.us-west-2.amazonaws.com/id/ABC:aud"],
            "sts.amazonaws.com"
        );
    }

    #[test]
    fn lint_rejects_wildcards_and_unpinned_trust() {
        let wildcard = json!({"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:aws:sqs:us-west-2:1:q"}]});
        assert!(lint(&wildcard).is_err());
        let star_resource = json!({"Statement": [{"Effect": "Allow", "Action": ["sqs:GetQueueAttributes"], "Resource": "*"}]});
        assert!(lint(&star_resource).is_err());
        let metrics = json!({"Statement": [{"Effect": "Allow", "Action": ["cloudwatch:GetMetricData"], "Resource": "*"}]});
        assert!(lint(&metrics).is_ok());
        let unpinned = json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": "x"}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLike": {"x:sub": "*"}}}]});
        assert!(lint(&unpinned).is_err());
    }

    #[test]
    fn returned_documents_are_url_decoded() {
        let d = parse_returned("%7B%22Version%22%3A%222012-10-17%22%7D").unwrap();
        assert_eq!(d["Version"], "2012-10-17");
        assert_eq!(parse_returned("{\"a\":1}").unwrap()["a"], 1);
    }

    #[test]
    fn keda_policy_has_only_what_triggers_need() {
        assert_eq!(keda_operator(&KedaPermissions::default()).unwrap(), None);
        let q = "arn:aws:sqs:us-west-2:123456789012:eksscale-demo-sqs-consumer".to_string();
        let d = keda_operator(&KedaPermissions {
            sqs_queue_arns: vec![q.clone()],
            cloudwatch: false,
        })
        .unwrap()
        .unwrap();
        assert_eq!(d["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(
            d["Statement"][0]["Action"],
            serde_json::json!(["sqs:GetQueueAttributes"])
        );
        assert_eq!(d["Statement"][0]["Resource"], serde_json::json!([q]));
        let both = keda_operator(&KedaPermissions {
            sqs_queue_arns: vec![q],
            cloudwatch: true,
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            both["Statement"][1]["Action"],
            serde_json::json!(["cloudwatch:GetMetricData"])
        );
    }

    #[test]
    fn service_values_are_json_escaped() {
        assert!(
            trust_service("eks.amazonaws.com\",\"x\":\"y").is_ok_and(|d| {
                d["Statement"][0]["Principal"]["Service"]
                    .as_str()
                    .unwrap()
                    .contains('"')
            })
        );
    }
}
