//! What Kubernetes (and EKS) leave in the VPC, which blocks deleting it and,
//! for load balancers, keeps billing: classic ELBs from `Service type:
//! LoadBalancer`, ALBs/NLBs and target groups from the AWS Load Balancer
//! Controller, detached ENIs from the VPC CNI, and security groups created
//! for those load balancers. eksctl's best-known `delete` failure is exactly
//! these blocking the VPC; `down` sweeps them before the network goes.

use std::time::Duration;

use anyhow::bail;

use super::tags;
use super::{Aws, AwsResultExt, error_code};
use crate::engine::step::StepCtx;
use crate::engine::wait::Poll;
use crate::engine::{Done, Outcome};
use crate::plan::{Kind, Observed};

/// Marker in `Observed::internal` for the per-VPC sweep steps.
pub const SWEEP: &str = "sweep";

/// Load balancers, target groups, detached ENIs and non-default security
/// groups inside the given VPCs.
pub async fn discover(aws: &Aws, vpcs: &[String]) -> anyhow::Result<Vec<Observed>> {
    if vpcs.is_empty() {
        return Ok(Vec::new());
    }
    let in_vpc = |v: Option<&str>| v.is_some_and(|v| vpcs.iter().any(|x| x == v));
    let (classic, v2, groups, enis, sgs) = tokio::try_join!(
        async {
            aws.elb
                .describe_load_balancers()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .ctx("elasticloadbalancing:DescribeLoadBalancers")
        },
        async {
            aws.elbv2
                .describe_load_balancers()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .ctx("elasticloadbalancing:DescribeLoadBalancers (v2)")
        },
        async {
            aws.elbv2
                .describe_target_groups()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .ctx("elasticloadbalancing:DescribeTargetGroups")
        },
        async {
            let mut all = Vec::new();
            for vpc in vpcs {
                let r = aws
                    .ec2
                    .describe_network_interfaces()
                    .filters(tags::ec2_filter("vpc-id", vpc))
                    .filters(tags::ec2_filter("status", "available"))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .ctx("ec2:DescribeNetworkInterfaces")?;
                all.extend(r);
            }
            anyhow::Ok(all)
        },
        async {
            let mut all = Vec::new();
            for vpc in vpcs {
                let r = aws
                    .ec2
                    .describe_security_groups()
                    .filters(tags::ec2_filter("vpc-id", vpc))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .ctx("ec2:DescribeSecurityGroups")?;
                all.extend(r);
            }
            anyhow::Ok(all)
        },
    )?;
    let mut out = Vec::new();
    for lb in classic.iter().filter(|l| in_vpc(l.vpc_id())) {
        out.push(Observed::new(
            Kind::ClassicLoadBalancer,
            lb.load_balancer_name().unwrap_or_default(),
        ));
    }
    for lb in v2.iter().filter(|l| in_vpc(l.vpc_id())) {
        let mut o = Observed::new(
            Kind::LoadBalancer,
            lb.load_balancer_arn().unwrap_or_default(),
        );
        o.internal.insert("type".into(), "load-balancer".into());
        out.push(o);
    }
    for tg in groups.iter().filter(|g| in_vpc(g.vpc_id())) {
        let mut o = Observed::new(
            Kind::LoadBalancer,
            tg.target_group_arn().unwrap_or_default(),
        );
        o.internal.insert("type".into(), "target-group".into());
        out.push(o);
    }
    for eni in &enis {
        let mut o = Observed::new(
            Kind::NetworkInterface,
            eni.network_interface_id().unwrap_or_default(),
        );
        if let Some(d) = eni.description() {
            o.attrs.insert("description".into(), d.to_string());
        }
        out.push(o);
    }
    for sg in sgs.iter().filter(|g| g.group_name() != Some("default")) {
        let mut o = Observed::new(Kind::SecurityGroup, sg.group_id().unwrap_or_default());
        if let Some(n) = sg.group_name() {
            o.attrs.insert("name".into(), n.to_string());
        }
        out.push(o);
    }
    Ok(out)
}

/// The sweep steps `down` runs for a VPC: they list again when they run,
/// because ENIs and security groups are freed only as nodes, the cluster and
/// load balancers go.
pub fn sweeps(vpc: &str) -> Vec<Observed> {
    [Kind::NetworkInterface, Kind::SecurityGroup]
        .into_iter()
        .map(|k| {
            let mut o = Observed::new(k, vpc);
            o.key = Some(format!("sweep/{}/{vpc}", k.label()));
            o.internal.insert(SWEEP.into(), "true".into());
            o
        })
        .collect()
}

const LB_TIMEOUT: Duration = Duration::from_secs(10 * 60);

pub async fn delete(s: &StepCtx, aws: &Aws, obs: &Observed) -> anyhow::Result<Done> {
    if obs.internal.contains_key(SWEEP) {
        return sweep(s, aws, obs.kind(), &obs.id).await;
    }
    let id = obs.id.as_str();
    match obs.kind() {
        Kind::ClassicLoadBalancer => {
            aws.elb
                .delete_load_balancer()
                .load_balancer_name(id)
                .send()
                .await
                .ctx("elasticloadbalancing:DeleteLoadBalancer")?;
            Ok(Done::new(Outcome::Deleted))
        }
        Kind::LoadBalancer
            if obs.internal.get("type").map(String::as_str) == Some("target-group") =>
        {
            // Target groups are in use until their load balancer's listeners go.
            s.wait(
                format!("target group {id} to be released"),
                LB_TIMEOUT,
                Duration::from_secs(10),
                || async {
                    match aws
                        .elbv2
                        .delete_target_group()
                        .target_group_arn(id)
                        .send()
                        .await
                    {
                        Ok(_) => Ok(Poll::Ready(())),
                        Err(e) if error_code(&e) == Some("ResourceInUse") => {
                            Ok(Poll::Pending("in use".into()))
                        }
                        Err(e) => Err(super::describe_error(
                            "elasticloadbalancing:DeleteTargetGroup",
                            e,
                        )),
                    }
                },
            )
            .await?;
            Ok(Done::new(Outcome::Deleted))
        }
        Kind::LoadBalancer => {
            aws.elbv2
                .delete_load_balancer()
                .load_balancer_arn(id)
                .send()
                .await
                .ctx("elasticloadbalancing:DeleteLoadBalancer (v2)")?;
            Ok(Done::new(Outcome::Deleted))
        }
        Kind::NetworkInterface => delete_eni(aws, id).await,
        Kind::SecurityGroup => delete_sg(s, aws, id).await,
        other => bail!("leftovers::delete called for {other}"),
    }
}

async fn delete_eni(aws: &Aws, id: &str) -> anyhow::Result<Done> {
    match aws
        .ec2
        .delete_network_interface()
        .network_interface_id(id)
        .send()
        .await
    {
        Ok(_) => Ok(Done::new(Outcome::Deleted)),
        Err(e) if error_code(&e) == Some("InvalidNetworkInterfaceID.NotFound") => {
            Ok(Done::new(Outcome::Absent))
        }
        Err(e) => Err(super::describe_error("ec2:DeleteNetworkInterface", e)),
    }
}

async fn delete_sg(s: &StepCtx, aws: &Aws, id: &str) -> anyhow::Result<Done> {
    let deleted = s
        .wait(
            format!("security group {id} to be unused"),
            LB_TIMEOUT,
            Duration::from_secs(15),
            || async {
                match aws.ec2.delete_security_group().group_id(id).send().await {
                    Ok(_) => Ok(Poll::Ready(true)),
                    Err(e) if error_code(&e) == Some("InvalidGroup.NotFound") => {
                        Ok(Poll::Ready(false))
                    }
                    Err(e) if error_code(&e) == Some("DependencyViolation") => {
                        Ok(Poll::Pending("still referenced".into()))
                    }
                    Err(e) => Err(super::describe_error("ec2:DeleteSecurityGroup", e)),
                }
            },
        )
        .await?;
    Ok(Done::new(if deleted {
        Outcome::Deleted
    } else {
        Outcome::Absent
    }))
}

/// Lists again and deletes what is there now.
async fn sweep(s: &StepCtx, aws: &Aws, kind: Kind, vpc: &str) -> anyhow::Result<Done> {
    let found: Vec<Observed> = discover(aws, &[vpc.to_string()])
        .await?
        .into_iter()
        .filter(|o| o.kind() == kind)
        .collect();
    if kind == Kind::SecurityGroup {
        // Groups may reference each other; drop rules first so none blocks another.
        for sg in &found {
            revoke_all(aws, &sg.id).await?;
        }
    }
    for o in &found {
        s.progress(format!("deleting {}", o.id));
        match kind {
            Kind::NetworkInterface => delete_eni(aws, &o.id).await?,
            _ => delete_sg(s, aws, &o.id).await?,
        };
    }
    Ok(if found.is_empty() {
        Done::new(Outcome::Absent)
    } else {
        Done::with(
            Outcome::Deleted,
            found
                .iter()
                .map(|o| o.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )
    })
}

async fn revoke_all(aws: &Aws, group: &str) -> anyhow::Result<()> {
    let r = aws
        .ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .ctx("ec2:DescribeSecurityGroups")?;
    for sg in r.security_groups() {
        if !sg.ip_permissions().is_empty() {
            aws.ec2
                .revoke_security_group_ingress()
                .group_id(group)
                .set_ip_permissions(Some(sg.ip_permissions().to_vec()))
                .send()
                .await
                .ctx("ec2:RevokeSecurityGroupIngress")?;
        }
        let refs_groups: Vec<_> = sg
            .ip_permissions_egress()
            .iter()
            .filter(|p| !p.user_id_group_pairs().is_empty())
            .cloned()
            .collect();
        if !refs_groups.is_empty() {
            aws.ec2
                .revoke_security_group_egress()
                .group_id(group)
                .set_ip_permissions(Some(refs_groups))
                .send()
                .await
                .ctx("ec2:RevokeSecurityGroupEgress")?;
        }
    }
    Ok(())
}
