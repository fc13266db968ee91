//! A launch template per node group, eksscale's own: instance metadata
//! with IMDSv2 required and a hop limit of 1, so pods (which run one hop
//! away, behind the node's network namespace) cannot read the node role's
//! credentials (EKS best practices guide, security, "Restrict the use of
//! host networking and block access to instance metadata service"); and an
//! encrypted gp3 volume for the node's data. No AMI and no security groups
//! are set, so EKS keeps choosing the AMI from the node group's `amiType`
//! and attaching the cluster security group (EKS user guide, "Customize
//! managed nodes with launch templates").

use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataEndpointState,
    LaunchTemplateInstanceMetadataOptionsRequest, RequestLaunchTemplateData, ResourceType,
    VolumeType,
};

use super::ec2;
use super::retry::{self, Lag};
use super::{Change, Cx, Deletion, DiscoverCx, Ensure, Kind, Node, NodeId, NodeSpec, Observed};
use super::{Phase, Value};
use crate::aws::tags::{self, Tags};
use crate::aws::{Aws, AwsResultExt, describe_error, error_code};
use crate::engine::{Done, Outcome};

pub const LABEL: &str = "launch-template";
pub const DELETE_AFTER: &[Kind] = &[Kind::NodeGroup];
pub const BILLABLE: bool = false;
pub const PHASE: Phase = Phase::Tagged;
pub const DELETION: Deletion = Deletion::Each;

pub const HTTP_TOKENS: &str = "httpTokens";
pub const HOP_LIMIT: &str = "httpPutResponseHopLimit";
/// `<device>:<type>:<GiB>:<encrypted>`.
pub const VOLUME: &str = "volume";
pub const STATUS_COLUMNS: &[&str] = &[HTTP_TOKENS, HOP_LIMIT, VOLUME];

/// Key in `Observed::internal`: the template's default version number.
pub const VERSION: &str = "version";

/// `launch-template/<node group name>`.
pub fn id(nodegroup: &str) -> NodeId {
    format!("launch-template/{nodegroup}")
}

#[derive(Debug, Clone)]
pub struct Desired {
    /// `eksscale-<cluster>-<node group>` (unique in the region).
    pub name: String,
    /// The node's data volume: `/dev/xvda` (Amazon Linux), `/dev/xvdb`
    /// (Bottlerocket's data volume).
    pub device: String,
    pub volume_gib: i32,
}

impl Desired {
    pub fn node(self, id: &str, tags: Tags) -> Node {
        let volume = volume_text(&self.device, "gp3", self.volume_gib, true);
        Node::new(id, NodeSpec::LaunchTemplate(self))
            .mutable(HTTP_TOKENS, Value::lit("required"))
            .mutable(HOP_LIMIT, Value::lit("1"))
            .mutable(VOLUME, Value::lit(volume))
            .tagged(tags)
    }

    fn data(&self) -> RequestLaunchTemplateData {
        RequestLaunchTemplateData::builder()
            .metadata_options(
                LaunchTemplateInstanceMetadataOptionsRequest::builder()
                    .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                    .http_tokens(LaunchTemplateHttpTokensState::Required)
                    .http_put_response_hop_limit(1)
                    .build(),
            )
            .block_device_mappings(
                LaunchTemplateBlockDeviceMappingRequest::builder()
                    .device_name(&self.device)
                    .ebs(
                        LaunchTemplateEbsBlockDeviceRequest::builder()
                            .volume_type(VolumeType::Gp3)
                            .volume_size(self.volume_gib)
                            .encrypted(true)
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }
}

fn volume_text(device: &str, kind: &str, gib: i32, encrypted: bool) -> String {
    format!("{device}:{kind}:{gib}:{}", if encrypted { "encrypted" } else { "plain" })
}

pub fn typical_seconds(_: &Desired, _: &Change) -> u64 {
    2
}

pub async fn discover(cx: &DiscoverCx<'_>) -> anyhow::Result<Vec<Observed>> {
    let templates = cx
        .aws
        .ec2
        .describe_launch_templates()
        .filters(tags::ec2_cluster_filter(cx.cluster))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ec2:DescribeLaunchTemplates")?;
    let mut out = Vec::new();
    for lt in templates {
        let t = tags::from_ec2(lt.tags());
        if !tags::for_cluster(&t, cx.cluster) {
            continue;
        }
        let lt_id = lt.launch_template_id().unwrap_or_default();
        let version = lt.default_version_number().unwrap_or(1);
        // Listed, so it exists: a version read that answers NotFound is EC2
        // catching up with a template created moments ago; compare it as
        // unknown (an update makes a new version) rather than create a second.
        let o = read_version(cx.aws, lt_id, version)
            .await?
            .unwrap_or_else(|| observe(lt_id, version, None));
        out.push(o.claimed(t, cx.cluster, &cx.aws.region));
    }
    Ok(out)
}

/// One version of a template, as compared; `None` if it went away meanwhile.
async fn read_version(aws: &Aws, lt_id: &str, version: i64) -> anyhow::Result<Option<Observed>> {
    let Some(r) = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(lt_id)
        .versions(version.to_string())
        .send()
        .await
        .found(
            "ec2:DescribeLaunchTemplateVersions",
            &[
                "InvalidLaunchTemplateId.NotFound",
                "InvalidLaunchTemplateId.VersionNotFound",
            ],
        )?
    else {
        return Ok(None);
    };
    let Some(v) = r.launch_template_versions().first() else {
        return Ok(None);
    };
    Ok(Some(observe(lt_id, version, v.launch_template_data())))
}

fn observe(
    lt_id: &str,
    version: i64,
    data: Option<&aws_sdk_ec2::types::ResponseLaunchTemplateData>,
) -> Observed {
    let md = data.and_then(|d| d.metadata_options());
    let volume = data
        .and_then(|d| d.block_device_mappings().first())
        .map(|b| {
            let ebs = b.ebs();
            volume_text(
                b.device_name().unwrap_or_default(),
                ebs.and_then(|e| e.volume_type())
                    .map(|t| t.as_str())
                    .unwrap_or("none"),
                ebs.and_then(|e| e.volume_size()).unwrap_or(0),
                ebs.and_then(|e| e.encrypted()).unwrap_or(false),
            )
        })
        .unwrap_or_else(|| "none".into());
    let mut o = Observed::new(Kind::LaunchTemplate, lt_id)
        .attr(
            HTTP_TOKENS,
            md.and_then(|m| m.http_tokens())
                .map(|t| t.as_str())
                .unwrap_or("optional"),
        )
        .attr(
            HOP_LIMIT,
            md.and_then(|m| m.http_put_response_hop_limit())
                .unwrap_or(2)
                .to_string(),
        )
        .attr(VOLUME, volume);
    o.internal.insert(VERSION.into(), version.to_string());
    o
}

pub async fn ensure(
    cx: &Cx<'_>,
    node: &Node,
    want: &Desired,
    e: Ensure<'_>,
) -> anyhow::Result<(Done, Observed)> {
    match e {
        Ensure::Create => {
            let r = cx
                .aws
                .ec2
                .create_launch_template()
                .launch_template_name(&want.name)
                .launch_template_data(want.data())
                .tag_specifications(tags::ec2_spec(ResourceType::LaunchTemplate, &node.tags))
                .send()
                .await
                .ctx("ec2:CreateLaunchTemplate")?;
            let lt = r
                .launch_template()
                .ok_or_else(|| anyhow::anyhow!("CreateLaunchTemplate returned nothing"))?;
            let lt_id = lt.launch_template_id().unwrap_or_default().to_string();
            let mut o = node.realized(&lt_id, cx.refs, None);
            o.internal.insert(
                VERSION.into(),
                lt.default_version_number().unwrap_or(1).to_string(),
            );
            Ok((Done::with(Outcome::Created, lt_id), o))
        }
        Ensure::Update { obs, .. } => {
            // Templates are versioned: a new version, made the default; the
            // node group then rolls to it (its `launchTemplate` attribute).
            let v = retry::eventually(cx, "ec2:CreateLaunchTemplateVersion", Lag::Ec2Id, || async {
                cx.aws
                    .ec2
                    .create_launch_template_version()
                    .launch_template_id(&obs.id)
                    .launch_template_data(want.data())
                    .send()
                    .await
                    .map_err(|e| ec2::coded("ec2:CreateLaunchTemplateVersion", e))
            })
            .await?;
            let version = v
                .launch_template_version()
                .and_then(|v| v.version_number())
                .ok_or_else(|| anyhow::anyhow!("CreateLaunchTemplateVersion returned no version"))?;
            cx.aws
                .ec2
                .modify_launch_template()
                .launch_template_id(&obs.id)
                .default_version(version.to_string())
                .send()
                .await
                .ctx("ec2:ModifyLaunchTemplate")?;
            ec2::tag(cx, &obs.id, &e.tag_changes()).await?;
            let mut o = node.realized(&obs.id, cx.refs, Some(obs));
            o.internal.insert(VERSION.into(), version.to_string());
            Ok((Done::with(Outcome::Updated, e.fields()), o))
        }
        Ensure::Unchanged(obs) => Ok((Done::new(Outcome::Unchanged), obs.clone())),
    }
}

pub async fn delete(cx: &Cx<'_>, obs: &Observed) -> anyhow::Result<Done> {
    match cx
        .aws
        .ec2
        .delete_launch_template()
        .launch_template_id(&obs.id)
        .send()
        .await
    {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e)
            if error_code(&e).is_some_and(|c| {
                c == "InvalidLaunchTemplateId.NotFound"
                    || c == "InvalidLaunchTemplateName.NotFoundException"
            }) =>
        {
            Ok(Done::new(Outcome::Absent))
        }
        Err(e) => Err(describe_error("ec2:DeleteLaunchTemplate", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_reads_exactly_the_compared_attributes() {
        let node = Desired {
            name: "eksscale-demo-general".into(),
            device: "/dev/xvda".into(),
            volume_gib: 20,
        }
        .node(&id("general"), Tags::new());
        let data = aws_sdk_ec2::types::ResponseLaunchTemplateData::builder()
            .metadata_options(
                aws_sdk_ec2::types::LaunchTemplateInstanceMetadataOptions::builder()
                    .http_tokens(LaunchTemplateHttpTokensState::Required)
                    .http_put_response_hop_limit(1)
                    .build(),
            )
            .block_device_mappings(
                aws_sdk_ec2::types::LaunchTemplateBlockDeviceMapping::builder()
                    .device_name("/dev/xvda")
                    .ebs(
                        aws_sdk_ec2::types::LaunchTemplateEbsBlockDevice::builder()
                            .volume_type(VolumeType::Gp3)
                            .volume_size(20)
                            .encrypted(true)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let o = observe("lt-1", 1, Some(&data));
        assert_eq!(
            o.attrs.keys().collect::<Vec<_>>(),
            node.attrs.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            super::super::diff(&node, Some(&o), &std::collections::BTreeMap::new()),
            Change::Unchanged
        );
        // A template someone loosened (hop limit 2) is an update.
        let loose = data.clone();
        let o = observe("lt-1", 1, None);
        assert!(super::super::diff(&node, Some(&o), &std::collections::BTreeMap::new()).is_change());
        let _ = loose;
    }
}
