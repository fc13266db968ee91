//! How `up` installs KEDA: decided and checked before anything changes (the
//! manifest is loaded, verified and customised, or a usable `helm` is found),
//! then turned into engine steps that connect to the cluster once the
//! identities KEDA needs exist and apply the objects (or run helm).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::helm;
use crate::engine::{Done, Outcome, Step, Verb};
use crate::kinds::steps::{Outputs, RunCtx};
use crate::kinds::{Kind, Node, NodeId, cluster};
use crate::kube::apply::{Applier, apply_steps};
use crate::kube::object::Object;
use crate::kube::steps::{CONNECT, KubeAccess, connect_step};
use crate::spec::{KedaInstaller, Spec, partition};

pub const HELM_STEP: &str = "k8s/helm/keda";

/// What `up` will install, resolved before the first change.
pub enum Install {
    Manifest {
        objects: Vec<Object>,
        origin: String,
    },
    Helm {
        helm: std::path::PathBuf,
        /// `helm version --short`.
        helm_version: String,
        /// The kedacore/keda chart version (from the catalog).
        chart_version: String,
        values: serde_json::Value,
    },
}

/// A usage error found while preparing (exit 2: nothing was changed).
#[derive(Debug, thiserror::Error)]
#[error("{0}; nothing was changed")]
pub struct NotInstallable(pub String);

/// The KEDA operator role's ARN (deterministic: the role may not exist yet).
pub fn operator_role_arn(spec: &Spec, account: &str) -> String {
    format!(
        "arn:{}:iam::{account}:role/eksscale/{}",
        partition(&spec.region),
        spec.role_name(super::ROLE_PURPOSE)
    )
}

/// Everything that can fail without touching AWS or the cluster.
pub async fn prepare(spec: &Spec, account: &str, config_dir: &Path) -> anyhow::Result<Install> {
    let role_arn = operator_role_arn(spec, account);
    Ok(match spec.keda.installer {
        KedaInstaller::Manifest => {
            let (objects, origin) = super::objects(&spec.keda, config_dir, &role_arn).await?;
            Install::Manifest { objects, origin }
        }
        KedaInstaller::Helm => {
            let (helm, helm_version) = helm::locate()
                .await
                .map_err(|e| NotInstallable(format!("{e:#}")))?;
            let chart_version = crate::catalog::keda_release(&spec.keda.version)
                .and_then(|r| r.chart_version)
                .ok_or_else(|| {
                    NotInstallable(format!(
                        "eksscale's catalog knows no kedacore/keda chart version for KEDA {}; set keda.installer: manifest, or use a KEDA version whose chart is known",
                        spec.keda.version
                    ))
                })?
                .to_string();
            let values = helm::values(&spec.keda, &spec.name, &role_arn)?;
            Install::Helm {
                helm,
                helm_version,
                chart_version,
                values,
            }
        }
    })
}

impl Install {
    /// One line for the run's log.
    pub fn describe(&self, version: &str) -> String {
        match self {
            Install::Manifest { objects, origin } => {
                format!("KEDA {version}: {} objects from {origin}", objects.len())
            }
            Install::Helm {
                helm,
                helm_version,
                chart_version,
                ..
            } => format!(
                "KEDA {version}: chart {}/{} {chart_version} with {} ({helm_version})",
                helm::CHART_REPO,
                helm::CHART,
                helm.display()
            ),
        }
    }
}

/// What the connect step waits for: the cluster, the KEDA role and its
/// association, the admins' access entries and the control plane's path to
/// KEDA's ports.
fn before_connect(graph: &[Node]) -> Vec<NodeId> {
    graph
        .iter()
        .filter(|n| {
            n.id == cluster::ID
                || n.id == super::ROLE
                || matches!(
                    n.kind(),
                    Kind::AccessEntry | Kind::PodIdentityAssociation | Kind::SecurityGroupRule
                )
        })
        .map(|n| n.id.clone())
        .collect()
}

fn nodegroups(graph: &[Node]) -> Vec<NodeId> {
    graph
        .iter()
        .filter(|n| n.kind() == Kind::NodeGroup)
        .map(|n| n.id.clone())
        .collect()
}

/// The KEDA part of `up`: connect; switch installers if the config did;
/// then apply the objects (Deployments also wait for the node groups, since
/// their pods need somewhere to run), or run helm once the API answers and
/// the node groups exist; then apply `extra` (the samples) and remove what
/// eksscale applied earlier that is no longer wanted.
/// What the Kubernetes phase of `up` works with (cheap to clone into steps).
#[derive(Clone)]
pub struct Phase {
    pub ctx: RunCtx,
    pub spec: Arc<Spec>,
    pub access: KubeAccess,
    pub applier: Arc<Applier>,
    pub outputs: Outputs,
}

impl Phase {
    /// How helm reaches the cluster (a kubeconfig in `dir` for EKS).
    fn helm_access(&self, dir: &Path) -> anyhow::Result<helm::Access> {
        helm_access(
            &self.access,
            &self.spec.name,
            &self.spec.region,
            &self.outputs,
            dir,
        )
    }
}

pub fn steps(install: Install, extra: Vec<Object>, p: &Phase, graph: &[Node]) -> Vec<Step> {
    let (ctx, applier) = (&p.ctx, &p.applier);
    let mut steps = vec![connect_step(
        ctx,
        &p.spec.region,
        &p.access,
        applier,
        &p.outputs,
        before_connect(graph),
    )];
    let helm_mode = matches!(install, Install::Helm { .. });
    steps.push(handover_step(p, helm_mode));
    let mut wanted = Vec::new();
    let keda_done: Vec<String> = match install {
        Install::Manifest { objects, .. } => {
            let mut applies = apply_steps(
                applier,
                &objects,
                &[HANDOVER_STEP.to_string()],
                &ctx.events,
                &ctx.cancel,
            );
            for st in applies.iter_mut() {
                if st.id.starts_with("k8s/Deployment/") {
                    st.deps.extend(nodegroups(graph));
                }
            }
            wanted.extend(objects);
            let ids = applies.iter().map(|s| s.id.clone()).collect();
            steps.extend(applies);
            ids
        }
        Install::Helm {
            helm,
            values,
            chart_version,
            ..
        } => {
            steps.push(helm_step(p, graph, helm, (chart_version, values)));
            vec![HELM_STEP.to_string()]
        }
    };
    steps.push(identity_step(p, keda_done));
    let keda_done = vec![IDENTITY_STEP.to_string()];
    let mut done = keda_done.clone();
    if !extra.is_empty() {
        let mut applies = crate::kube::apply::apply_steps_named(
            "samples",
            applier,
            &extra,
            &keda_done,
            &ctx.events,
            &ctx.cancel,
        );
        for st in applies.iter_mut() {
            if st.id.starts_with("k8s/Deployment/") {
                st.deps.extend(nodegroups(graph));
            }
        }
        done.extend(applies.iter().map(|s| s.id.clone()));
        steps.extend(applies);
        wanted.extend(extra);
    }
    steps.push(crate::kube::prune::prune_step(ctx, applier, wanted, done));
    steps
}

pub const HANDOVER_STEP: &str = "k8s/keda-installer";
pub const IDENTITY_STEP: &str = "k8s/keda-identity";

/// Once the operator is rolled out: its pods carry the AWS identity.
fn identity_step(p: &Phase, deps: Vec<String>) -> Step {
    let (ctx, identity, applier) = (p.ctx.clone(), p.spec.keda.identity, p.applier.clone());
    Step {
        id: IDENTITY_STEP.into(),
        deps,
        verb: Verb::Check,
        run: Box::new(move || {
            Box::pin(async move {
                let s = ctx.step(IDENTITY_STEP);
                super::identity::ensure_in_pods(
                    &applier,
                    &s,
                    super::NAMESPACE,
                    super::OPERATOR,
                    identity,
                )
                .await
            })
        }),
    }
}

/// Hands KEDA over when `keda.installer` changed since the last `up`.
fn handover_step(p: &Phase, helm_mode: bool) -> Step {
    let p = p.clone();
    Step {
        id: HANDOVER_STEP.into(),
        deps: vec![CONNECT.into()],
        verb: Verb::CheckRelease,
        run: Box::new(move || {
            Box::pin(async move {
                let s = p.ctx.step(HANDOVER_STEP);
                let did = if helm_mode {
                    super::handover::manifest_to_helm(&p.applier, &s).await?
                } else if super::uninstall::helm_release_is_ours(p.applier.client()?, &p.spec.name)
                    .await?
                {
                    let dir = helm_workdir()?;
                    let to = p.helm_access(dir.path())?;
                    Some(
                        super::handover::helm_to_manifest(
                            &p.applier,
                            &s,
                            helm::find(),
                            &to,
                            &p.ctx.cancel,
                        )
                        .await?,
                    )
                } else {
                    None
                };
                Ok(match did {
                    Some(what) => Done::with(Outcome::Updated, what),
                    None => Done::new(Outcome::Unchanged),
                })
            })
        }),
    }
}

/// A private (0700) directory for the files handed to helm, removed on drop.
pub fn helm_workdir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("eksscale-helm-")
        .tempdir()
        .context("creating a private temporary directory for helm")
}

/// How helm reaches the same cluster: the given kubeconfig, or for EKS a
/// private kubeconfig written into `dir` whose user runs `eksscale token`.
pub fn helm_access(
    access: &KubeAccess,
    name: &str,
    region: &str,
    r: &dyn crate::kinds::Resolve,
    dir: &Path,
) -> anyhow::Result<helm::Access> {
    Ok(match access.target(name, region, r)? {
        crate::kube::Target::File { path, context } => helm::Access {
            kubeconfig: path,
            context,
        },
        crate::kube::Target::Eks(entry) => {
            let path = dir.join("kubeconfig");
            crate::kube::kubeconfig::update(&path, &entry)?;
            helm::Access {
                kubeconfig: path,
                context: Some(entry.name),
            }
        }
    })
}

/// `keda.installer: helm`: install or upgrade the chart once the API answers
/// and the node groups exist, then wait like the manifest installer does.
fn helm_step(
    p: &Phase,
    graph: &[Node],
    helm_bin: std::path::PathBuf,
    (chart_version, values): (String, serde_json::Value),
) -> Step {
    let mut deps = vec![HANDOVER_STEP.to_string()];
    deps.extend(nodegroups(graph));
    let p = p.clone();
    Step {
        id: HELM_STEP.into(),
        deps,
        verb: Verb::CheckRelease,
        run: Box::new(move || {
            Box::pin(async move {
                let s = p.ctx.step(HELM_STEP);
                let dir = helm_workdir()?;
                let to = p.helm_access(dir.path())?;
                let version = &chart_version;
                let current = helm::release(&helm_bin, &to).await?;
                let action = helm::decide(current.as_ref(), version, &values);
                if action != helm::Action::None {
                    s.progress(format!(
                        "helm upgrade --install {} {} --repo {} --version {version}",
                        helm::RELEASE,
                        helm::CHART,
                        helm::CHART_REPO,
                    ));
                    helm::install(&helm_bin, &to, version, &values, dir.path(), &p.ctx.cancel)
                        .await?;
                }
                for obj in helm::readiness_objects() {
                    p.applier.wait_for(&s, &obj).await?;
                }
                let after = helm::release(&helm_bin, &to)
                    .await?
                    .context("helm reports no keda release after installing it")?;
                let detail = format!("chart {}, revision {}", after.chart, after.revision);
                Ok(Done::with(
                    match action {
                        helm::Action::Install => Outcome::Created,
                        helm::Action::Upgrade => Outcome::Updated,
                        helm::Action::None => Outcome::Unchanged,
                    },
                    detail,
                ))
            })
        }),
    }
}
