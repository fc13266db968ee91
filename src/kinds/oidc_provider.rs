//! The cluster's IAM OIDC identity provider: what makes IRSA work. One per
//! cluster issuer, audience `sts.amazonaws.com`, no thumbprint (IAM validates
//! EKS issuers through its own trusted CAs).

use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value};
use crate::aws::tags::{self, Tags};
use crate::aws::{AwsResultExt, describe_error, error_code};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "oidc-provider";
pub const ID: &str = "oidc-provider";
pub const DELETE_AFTER: &[Kind] = &[Kind::EksCluster];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::InCluster;
pub const DELETION: Deletion = Deletion::Each;

/// The issuer without `https://` (how IAM stores it).
pub const URL: &str = "url";
pub const CLIENT_IDS: &str = "clientIds";
pub const STATUS_COLUMNS: &[&str] = &[URL];

const AUDIENCE: &str = "sts.amazonaws.com";

#[derive(Debug, Clone)]
pub struct Desired {
    /// The cluster node whose issuer this provider trusts.
    pub cluster: NodeId,
}

impl Desired {
    pub fn node(self, tags: Tags) -> Node {
        let cluster = self.cluster.clone();
        let of = cluster.clone();
        Node::new(ID, NodeSpec::OidcProvider(self))
            .dep(&cluster)
            .fixed(
                URL,
                Value::computed(move |r| {
                    r.get(&of)
                        .and_then(|c| c.internal.get(super::cluster::ISSUER).cloned())
                        .map(|u| u.trim_start_matches("https://").to_string())
                }),
            )
            .mutable(CLIENT_IDS, Value::lit(AUDIENCE))
            .tagged(tags)
    }
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    2
}

/// The provider tagged for the cluster, or the one for its issuer.
pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let iam = &cx.aws.iam;
    let list = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .ctx("iam:ListOpenIDConnectProviders")?;
    let issuer = cx
        .eks
        .and_then(|c| c.internal.get(super::cluster::ISSUER))
        .map(|i| i.trim_start_matches("https://").to_string());
    let arns: Vec<String> = list
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn().map(str::to_string))
        // Provider ARNs end with the issuer host/path; only EKS issuers can be ours.
        .filter(|arn| arn.contains("oidc-provider/oidc.eks."))
        .collect();
    let read = arns.iter().map(|arn| async move {
        let p = iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .found("iam:GetOpenIDConnectProvider", &["NoSuchEntity"])?;
        anyhow::Ok(p.map(|p| (arn.clone(), p)))
    });
    let mut out = Vec::new();
    for (arn, p) in futures::future::try_join_all(read)
        .await?
        .into_iter()
        .flatten()
    {
        let o = observe(&arn, &p);
        let url = o.attrs.get(URL).cloned().unwrap_or_default();
        let region = &cx.aws.region;
        // Ours by its tags; one for our cluster's issuer without them is in
        // our way (reported, never changed); others are not our business.
        if tags::owned_by(&o.tags, cx.cluster, region) || issuer.as_deref() == Some(url.as_str())
        {
            let t = o.tags.clone();
            out.push(o.claimed(t, cx.cluster, region));
        }
    }
    Ok(out)
}

fn observe(
    arn: &str,
    p: &aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIdConnectProviderOutput,
) -> Observed {
    let url = p
        .url()
        .unwrap_or_default()
        .trim_start_matches("https://")
        .to_string();
    let mut ids = p.client_id_list().to_vec();
    ids.sort();
    let mut o = Observed::new(Kind::OidcProvider, arn)
        .attr(URL, url)
        .attr(CLIENT_IDS, ids.join(","))
        .tags(tags::from_iam(p.tags()))
        .keyed(ID);
    o.arn = Some(arn.to_string());
    o
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    let iam = &cx.aws.iam;
    match e {
        Ensure::Create => {
            let issuer = cx
                .refs
                .get(&want.cluster)
                .and_then(|c| c.internal.get(super::cluster::ISSUER).cloned())
                .ok_or_else(|| anyhow::anyhow!("the cluster has no OIDC issuer yet"))?;
            let created = iam
                .create_open_id_connect_provider()
                .url(&issuer)
                .client_id_list(AUDIENCE)
                .set_tags(Some(tags::to_iam(&node.tags)?))
                .send()
                .await
                .ctx("iam:CreateOpenIDConnectProvider")?;
            let arn = created
                .open_id_connect_provider_arn()
                .ok_or_else(|| anyhow::anyhow!("CreateOpenIDConnectProvider returned no ARN"))?
                .to_string();
            let mut o = node.realized(&arn, cx.refs, None);
            o.arn = Some(arn.clone());
            Ok((Done::with(Outcome::Created, arn), o))
        }
        Ensure::Update { obs, .. } => {
            if e.touches(CLIENT_IDS) {
                iam.add_client_id_to_open_id_connect_provider()
                    .open_id_connect_provider_arn(&obs.id)
                    .client_id(AUDIENCE)
                    .send()
                    .await
                    .ctx("iam:AddClientIDToOpenIDConnectProvider")?;
            }
            let t = e.tag_changes();
            if !t.is_empty() {
                iam.tag_open_id_connect_provider()
                    .open_id_connect_provider_arn(&obs.id)
                    .set_tags(Some(tags::to_iam(&t)?))
                    .send()
                    .await
                    .ctx("iam:TagOpenIDConnectProvider")?;
            }
            let mut o = node.realized(&obs.id, cx.refs, Some(obs));
            o.arn = Some(obs.id.clone());
            Ok((Done::with(Outcome::Updated, e.fields()), o))
        }
        Ensure::Unchanged(obs) => Ok((Done::new(Outcome::Unchanged), obs.clone())),
    }
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    match cx
        .aws
        .iam
        .delete_open_id_connect_provider()
        .open_id_connect_provider_arn(&obs.id)
        .send()
        .await
    {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e) if error_code(&e) == Some("NoSuchEntity") => Ok(Done::new(Outcome::Absent)),
        Err(e) => Err(describe_error("iam:DeleteOpenIDConnectProvider", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_exactly_the_compared_attributes() {
        let node = Desired {
            cluster: super::super::cluster::ID.into(),
        }
        .node(Tags::new());
        let p = aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIdConnectProviderOutput::builder()
            .url("https://oidc.eks.us-west-2.amazonaws.com/id/ABC")
            .client_id_list(AUDIENCE)
            .build();
        let o = observe("arn:aws:iam::1:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC", &p);
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
        let cluster = Observed::new(Kind::EksCluster, "demo");
        let mut cluster = cluster;
        cluster.internal.insert(
            super::super::cluster::ISSUER.into(),
            "https://oidc.eks.us-west-2.amazonaws.com/id/ABC".into(),
        );
        let world: std::collections::BTreeMap<String, Observed> =
            [(super::super::cluster::ID.to_string(), cluster)].into();
        assert_eq!(super::super::diff(&node, Some(&o), &world), Change::Unchanged);
    }
}
