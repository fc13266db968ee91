//! The bridge between the desired graph and the AWS modules: for each kind
//! of resource, how it is discovered, ensured and deleted. Commands use this
//! to turn (graph, discovered) into a plan, `up` steps or `down` steps, which
//! the engine then runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::aws::tags::Tags;
use crate::aws::{self, Aws};
use crate::engine::step::StepCtx;
use crate::engine::{Cancel, Done, EventSink, Step};
use crate::plan::graph::{CLUSTER, TAG_EXPIRES};
use crate::plan::{Change, Kind, Node, Observed, Resolve, diff};
use crate::spec::Spec;

/// Every AWS resource tagged (or named) for `cluster`, found without a config.
pub async fn discover_cluster(aws: &Aws, cluster: &str) -> anyhow::Result<Vec<Observed>> {
    let log_group = log_group_name(cluster);
    let (network, roles, eks) = tokio::try_join!(
        aws::network::discover(aws, cluster),
        aws::iam::discover_cluster(aws, cluster),
        aws::eks::discover(aws, cluster, &log_group),
    )?;
    let vpcs: Vec<String> = network
        .iter()
        .filter(|o| o.kind() == Kind::Vpc)
        .map(|o| o.id.clone())
        .collect();
    let leftovers = aws::leftovers::discover(aws, &vpcs).await?;
    Ok([network, roles, eks, leftovers]
        .into_iter()
        .flatten()
        .collect())
}

/// The control-plane log group EKS writes to.
pub fn log_group_name(cluster: &str) -> String {
    format!("/aws/eks/{cluster}/cluster")
}

/// What `up` compares against: the cluster's resources, keyed by graph node.
pub async fn discover_for_spec(aws: &Aws, spec: &Spec) -> anyhow::Result<Vec<Observed>> {
    let log_group = spec.log_group_name();
    let (network, roles, eks) = tokio::try_join!(
        aws::network::discover(aws, &spec.name),
        aws::iam::discover_cluster(aws, &spec.name),
        aws::eks::discover(aws, &spec.name, &log_group),
    )?;
    Ok([network, roles, eks].into_iter().flatten().collect())
}

/// Results of finished steps plus what discovery found, by node id.
#[derive(Debug, Clone, Default)]
pub struct Outputs(Arc<RwLock<BTreeMap<String, Observed>>>);

impl Outputs {
    pub fn seeded(observed: &[Observed]) -> Self {
        let map = observed
            .iter()
            .filter_map(|o| o.key.clone().map(|k| (k, o.clone())))
            .collect();
        Self(Arc::new(RwLock::new(map)))
    }
    pub fn insert(&self, key: &str, o: Observed) {
        self.0
            .write()
            .expect("outputs lock")
            .insert(key.to_string(), o);
    }
}

impl Resolve for Outputs {
    fn get(&self, node: &str) -> Option<Observed> {
        self.0.read().expect("outputs lock").get(node).cloned()
    }
}

/// One line of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanEntry {
    pub id: String,
    pub kind: Kind,
    #[serde(flatten)]
    pub change: Change,
    /// The AWS id of the existing resource, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub entries: Vec<PlanEntry>,
    /// Tagged for the cluster but no longer in the config: `up` deletes them
    /// after everything else succeeded.
    pub deletions: Vec<Observed>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.deletions.is_empty() || self.entries.iter().any(|e| e.change.is_change())
    }
    pub fn refused(&self) -> Vec<&PlanEntry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.change, Change::Replace { .. }))
            .collect()
    }
    pub fn count(&self, label: &str) -> usize {
        self.entries
            .iter()
            .filter(|e| e.change.label() == label)
            .count()
    }
}

/// Keyed view of discovery results (first match per key wins; duplicates are
/// reported by [`duplicates`]).
pub fn by_key(observed: &[Observed]) -> BTreeMap<String, Observed> {
    let mut m = BTreeMap::new();
    for o in observed {
        if let Some(k) = &o.key {
            m.entry(k.clone()).or_insert_with(|| o.clone());
        }
    }
    m
}

/// Two resources claiming the same graph node (e.g. a VPC created twice by
/// hand-run tooling) must be resolved by a human before eksscale acts.
pub fn duplicates(observed: &[Observed]) -> Vec<(String, Vec<String>)> {
    let mut m: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for o in observed {
        if let Some(k) = &o.key {
            m.entry(k).or_default().push(o.id.clone());
        }
    }
    m.into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(k, ids)| (k.to_string(), ids))
        .collect()
}

pub fn plan(graph: &[Node], observed: &[Observed]) -> Plan {
    let world = by_key(observed);
    let wanted: BTreeSet<&str> = graph.iter().map(|n| n.id.as_str()).collect();
    let entries = graph
        .iter()
        .map(|n| {
            let obs = world.get(&n.id);
            PlanEntry {
                id: n.id.clone(),
                kind: n.kind,
                change: diff(n, obs, &world),
                existing: obs.map(|o| o.id.clone()),
            }
        })
        .collect();
    // The KEDA ingress rule is a property of the cluster security group (EKS's,
    // deleted with the cluster): observed for the plan, never pruned.
    let deletions = observed
        .iter()
        .filter(|o| o.kind() != Kind::SecurityGroupRule)
        .filter(|o| o.key.as_deref().is_some_and(|k| !wanted.contains(k)))
        .cloned()
        .collect();
    Plan { entries, deletions }
}

/// Shared by every step of one run.
#[derive(Debug, Clone)]
pub struct RunCtx {
    pub aws: Aws,
    pub cluster: String,
    pub events: EventSink,
    pub cancel: Cancel,
}

impl RunCtx {
    fn step(&self, id: &str) -> StepCtx {
        StepCtx::new(id, self.events.clone(), self.cancel.clone())
    }
}

/// Tags set only when a resource is created (never updated later).
fn create_only_tags(spec: &Spec, kind: Kind) -> Tags {
    let mut t = Tags::new();
    if let Some(ttl) = spec.ttl
        && matches!(kind, Kind::Vpc)
        && let Ok(at) = jiff::Timestamp::now().checked_add(ttl)
    {
        t.insert(
            TAG_EXPIRES.to_string(),
            at.round(jiff::Unit::Second).unwrap_or(at).to_string(),
        );
    }
    t
}

/// One engine step per desired node.
pub fn up_steps(
    ctx: &RunCtx,
    spec: &Arc<Spec>,
    graph: &[Node],
    observed: &[Observed],
    outputs: &Outputs,
) -> Vec<Step> {
    let world = by_key(observed);
    graph
        .iter()
        .map(|node| {
            let obs = world.get(&node.id).cloned();
            let action = diff(node, obs.as_ref(), &world).label().to_string();
            let (ctx, spec, node, outputs) =
                (ctx.clone(), spec.clone(), node.clone(), outputs.clone());
            Step {
                id: node.id.clone(),
                deps: node.deps.clone(),
                action: if action == "no change" {
                    "check".into()
                } else {
                    action
                },
                run: Box::new(move || {
                    Box::pin(async move {
                        let s = ctx.step(&node.id);
                        let (done, o) =
                            ensure(&s, &ctx.aws, &spec, &node, obs.as_ref(), &outputs).await?;
                        outputs.insert(&node.id, o);
                        Ok(done)
                    })
                }),
            }
        })
        .collect()
}

async fn ensure(
    s: &StepCtx,
    aws: &Aws,
    spec: &Spec,
    node: &Node,
    obs: Option<&Observed>,
    r: &Outputs,
) -> anyhow::Result<(Done, Observed)> {
    match node.kind {
        Kind::Vpc
        | Kind::Subnet
        | Kind::InternetGateway
        | Kind::ElasticIp
        | Kind::NatGateway
        | Kind::RouteTable => {
            aws::network::ensure(s, aws, node, obs, r, &create_only_tags(spec, node.kind)).await
        }
        Kind::IamRole => aws::iam::ensure(s, aws, node, obs, r).await,
        Kind::EksCluster
        | Kind::OidcProvider
        | Kind::AccessEntry
        | Kind::Addon
        | Kind::NodeGroup
        | Kind::LogGroup
        | Kind::PodIdentityAssociation
        | Kind::SecurityGroupRule => aws::eks::ensure(s, aws, &spec.name, node, obs, r).await,
        other => bail!("{other} is not created by `up`"),
    }
}

/// Step id for a discovered resource in `down`.
pub fn down_id(o: &Observed) -> String {
    match &o.key {
        Some(k) => k.clone(),
        None => format!("{}/{}", o.kind(), o.id),
    }
}

/// One engine step per discovered resource, ordered by [`Kind::delete_after`].
pub fn down_steps(ctx: &RunCtx, observed: &[Observed]) -> Vec<Step> {
    let mut items: Vec<Observed> = observed.to_vec();
    // ENIs and security groups are swept per VPC when their turn comes; the
    // KEDA ingress rule lives in the cluster security group, which EKS deletes.
    items.retain(|o| {
        !matches!(
            o.kind(),
            Kind::NetworkInterface | Kind::SecurityGroup | Kind::SecurityGroupRule
        )
    });
    let vpcs: Vec<String> = observed
        .iter()
        .filter(|o| o.kind() == Kind::Vpc)
        .map(|o| o.id.clone())
        .collect();
    for v in &vpcs {
        items.extend(aws::leftovers::sweeps(v));
    }
    let ids: Vec<String> = items.iter().map(down_id).collect();
    items
        .iter()
        .zip(&ids)
        .map(|(o, id)| {
            let before = o.kind().delete_after();
            let deps = items
                .iter()
                .zip(&ids)
                .filter(|(other, _)| before.contains(&other.kind()))
                .map(|(_, oid)| oid.clone())
                .collect();
            let (ctx, o, id) = (ctx.clone(), o.clone(), id.clone());
            Step {
                id: id.clone(),
                deps,
                action: "delete".into(),
                run: Box::new(move || {
                    Box::pin(async move {
                        let s = ctx.step(&id);
                        delete(&s, &ctx.aws, &ctx.cluster, &o).await
                    })
                }),
            }
        })
        .collect()
}

async fn delete(s: &StepCtx, aws: &Aws, cluster: &str, o: &Observed) -> anyhow::Result<Done> {
    match o.kind() {
        Kind::Vpc
        | Kind::Subnet
        | Kind::InternetGateway
        | Kind::ElasticIp
        | Kind::NatGateway
        | Kind::RouteTable => aws::network::delete(s, aws, o).await,
        Kind::IamRole => aws::iam::delete(s, aws, o).await,
        Kind::ClassicLoadBalancer
        | Kind::LoadBalancer
        | Kind::NetworkInterface
        | Kind::SecurityGroup => aws::leftovers::delete(s, aws, o).await,
        Kind::EksCluster
        | Kind::OidcProvider
        | Kind::AccessEntry
        | Kind::Addon
        | Kind::NodeGroup
        | Kind::PodIdentityAssociation
        | Kind::LogGroup => aws::eks::delete(s, aws, cluster, o).await,
        Kind::SecurityGroupRule => {
            bail!("{} is not deleted by eksscale directly", o.kind())
        }
    }
}

/// How the Kubernetes phase reaches the API.
#[derive(Debug, Clone)]
pub enum KubeAccess {
    /// A kubeconfig given with `--kubeconfig` (tunnels, proxies, tests).
    File {
        path: std::path::PathBuf,
        context: Option<String>,
    },
    /// The EKS endpoint, authenticated with `eksscale token`.
    Eks,
}

impl KubeAccess {
    /// The concrete target, once the cluster (if EKS) is known.
    pub fn target(
        &self,
        cluster: &str,
        region: &str,
        r: &dyn Resolve,
    ) -> anyhow::Result<crate::kube::Target> {
        Ok(match self {
            KubeAccess::File { path, context } => crate::kube::Target::File {
                path: path.clone(),
                context: context.clone(),
            },
            KubeAccess::Eks => {
                let c = r.get(CLUSTER).context("the cluster does not exist yet")?;
                let (Some(endpoint), Some(ca)) = (
                    c.internal.get("endpoint"),
                    c.internal.get("certificateAuthority"),
                ) else {
                    bail!("cluster {cluster} has no endpoint yet");
                };
                crate::kube::Target::Eks(crate::kube::eks_entry(
                    &crate::kube::context_name(cluster, region),
                    cluster,
                    region,
                    endpoint,
                    ca,
                ))
            }
        })
    }
}

pub const KUBE_CONNECT: &str = "k8s/connect";
pub const KUBECONFIG_STEP: &str = "kubeconfig";

/// The Kubernetes phase of `up`: connect once the cluster and the identities
/// KEDA needs exist, then apply `objects` (Deployments also wait for the node
/// groups, since their pods need somewhere to run).
pub fn kube_steps(
    ctx: &RunCtx,
    spec: &Arc<Spec>,
    graph: &[Node],
    access: &KubeAccess,
    applier: &Arc<crate::kube::apply::Applier>,
    objects: &[crate::kube::apply::Object],
    outputs: &Outputs,
) -> Vec<Step> {
    let before: Vec<String> = graph
        .iter()
        .filter(|n| {
            n.id == CLUSTER
                || n.id == crate::plan::graph::KEDA_ROLE
                || matches!(
                    n.kind,
                    Kind::AccessEntry | Kind::PodIdentityAssociation | Kind::SecurityGroupRule
                )
        })
        .map(|n| n.id.clone())
        .collect();
    let nodegroups: Vec<String> = graph
        .iter()
        .filter(|n| n.kind == Kind::NodeGroup)
        .map(|n| n.id.clone())
        .collect();
    let mut steps = Vec::new();
    {
        let (ctx, spec, access, applier, outputs) = (
            ctx.clone(),
            spec.clone(),
            access.clone(),
            applier.clone(),
            outputs.clone(),
        );
        steps.push(Step {
            id: KUBE_CONNECT.into(),
            deps: before,
            action: "connect".into(),
            run: Box::new(move || {
                Box::pin(async move {
                    let s = ctx.step(KUBE_CONNECT);
                    let target = access.target(&spec.name, &spec.region, &outputs)?;
                    let client = crate::kube::client(&target).await?;
                    // A new endpoint's DNS and a new access entry take a moment to work.
                    let version = s
                        .wait(
                            "the Kubernetes API to answer",
                            std::time::Duration::from_secs(5 * 60),
                            std::time::Duration::from_secs(10),
                            || async {
                                Ok(match client.apiserver_version().await {
                                    Ok(v) => crate::engine::wait::Poll::Ready(v.git_version),
                                    Err(e) => crate::engine::wait::Poll::Pending(e.to_string()),
                                })
                            },
                        )
                        .await?;
                    applier.connect(client);
                    Ok(Done::with(
                        crate::engine::Outcome::Unchanged,
                        format!("Kubernetes {version}"),
                    ))
                })
            }),
        });
    }
    let mut applies = crate::kube::apply::apply_steps(
        applier,
        objects,
        &[KUBE_CONNECT.to_string()],
        &ctx.events,
        &ctx.cancel,
    );
    for st in applies.iter_mut() {
        if st.id.starts_with("k8s/Deployment/") {
            st.deps.extend(nodegroups.iter().cloned());
        }
    }
    steps.extend(applies);
    steps
}

pub const HELM_STEP: &str = "k8s/helm/keda";
pub const HELM_UNINSTALL_STEP: &str = "k8s/helm/keda-uninstall";

impl KubeAccess {
    /// How helm reaches the same cluster: the given kubeconfig, or for EKS a
    /// private kubeconfig written into `dir` whose user runs `eksscale token`.
    pub fn helm(
        &self,
        cluster: &str,
        region: &str,
        r: &dyn Resolve,
        dir: &std::path::Path,
    ) -> anyhow::Result<crate::keda::helm::Access> {
        Ok(match self.target(cluster, region, r)? {
            crate::kube::Target::File { path, context } => crate::keda::helm::Access {
                kubeconfig: path,
                context,
            },
            crate::kube::Target::Eks(entry) => {
                let path = dir.join("kubeconfig");
                crate::kube::kubeconfig::update(&path, &entry)?;
                crate::keda::helm::Access {
                    kubeconfig: path,
                    context: Some(entry.name),
                }
            }
        })
    }
}

/// A private (0700) directory for the files handed to helm, removed on drop.
fn helm_workdir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("eksscale-helm-")
        .tempdir()
        .context("creating a private temporary directory for helm")
}

/// What the helm installer needs, resolved before anything changes.
#[derive(Debug, Clone)]
pub struct HelmInstall {
    pub helm: std::path::PathBuf,
    pub values: serde_json::Value,
}

/// `keda.installer: helm`: install or upgrade the chart once the API answers
/// and the node groups exist, then wait like the manifest installer does.
pub fn helm_step(
    ctx: &RunCtx,
    spec: &Arc<Spec>,
    graph: &[Node],
    access: &KubeAccess,
    applier: &Arc<crate::kube::apply::Applier>,
    install: HelmInstall,
    outputs: &Outputs,
) -> Step {
    use crate::keda::helm;
    let mut deps = vec![KUBE_CONNECT.to_string()];
    deps.extend(
        graph
            .iter()
            .filter(|n| n.kind == Kind::NodeGroup)
            .map(|n| n.id.clone()),
    );
    let (ctx, spec, access, applier, outputs) = (
        ctx.clone(),
        spec.clone(),
        access.clone(),
        applier.clone(),
        outputs.clone(),
    );
    Step {
        id: HELM_STEP.into(),
        deps,
        action: "check release".into(),
        run: Box::new(move || {
            Box::pin(async move {
                let s = ctx.step(HELM_STEP);
                let dir = helm_workdir()?;
                let to = access.helm(&spec.name, &spec.region, &outputs, dir.path())?;
                let version = &spec.keda.version;
                let current = helm::release(&install.helm, &to).await?;
                let action = helm::decide(current.as_ref(), version, &install.values);
                if action != helm::Action::None {
                    s.progress(format!(
                        "helm upgrade --install {} {} --repo {} --version {version}",
                        helm::RELEASE,
                        helm::CHART,
                        helm::CHART_REPO,
                    ));
                    helm::install(&install.helm, &to, version, &install.values, dir.path()).await?;
                }
                for obj in helm::readiness_objects() {
                    applier.wait_for(&s, &obj).await?;
                }
                let after = helm::release(&install.helm, &to)
                    .await?
                    .context("helm reports no keda release after installing it")?;
                let detail = format!("chart {}, revision {}", after.chart, after.revision);
                Ok(Done::with(
                    match action {
                        helm::Action::Install => crate::engine::Outcome::Created,
                        helm::Action::Upgrade => crate::engine::Outcome::Updated,
                        helm::Action::None => crate::engine::Outcome::Unchanged,
                    },
                    detail,
                ))
            })
        }),
    }
}

/// Whether this cluster's KEDA was installed by eksscale with helm: the
/// chart's operator Deployment carries our cluster label and Helm's marks.
async fn helm_release_is_ours(client: &::kube::Client, cluster: &str) -> anyhow::Result<bool> {
    let api: ::kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        ::kube::Api::namespaced(client.clone(), crate::keda::NAMESPACE);
    let Some(d) = api.get_opt(crate::keda::helm::OPERATOR).await? else {
        return Ok(false);
    };
    let labels = d.metadata.labels.unwrap_or_default();
    let annotations = d.metadata.annotations.unwrap_or_default();
    Ok(labels
        .get(crate::kube::apply::LABEL_CLUSTER)
        .map(String::as_str)
        == Some(cluster)
        && labels
            .get(crate::kube::apply::LABEL_MANAGED_BY)
            .map(String::as_str)
            == Some("Helm")
        && annotations
            .get("meta.helm.sh/release-name")
            .map(String::as_str)
            == Some(crate::keda::helm::RELEASE))
}

/// `down`: uninstall the helm release after the scaled objects are gone.
fn helm_uninstall_step(
    ctx: &RunCtx,
    helm: std::path::PathBuf,
    to: crate::keda::helm::Access,
    dir: tempfile::TempDir,
    deps: Vec<String>,
) -> Step {
    let ctx = ctx.clone();
    Step {
        id: HELM_UNINSTALL_STEP.into(),
        deps,
        action: "helm uninstall".into(),
        run: Box::new(move || {
            Box::pin(async move {
                let s = ctx.step(HELM_UNINSTALL_STEP);
                s.progress(format!(
                    "helm uninstall {} --namespace {}",
                    crate::keda::helm::RELEASE,
                    crate::keda::NAMESPACE
                ));
                crate::keda::helm::uninstall(&helm, &to).await?;
                drop(dir);
                Ok(Done::new(crate::engine::Outcome::Deleted))
            })
        }),
    }
}

/// Writes the kubeconfig entry once the cluster is ACTIVE.
pub fn kubeconfig_step(spec: &Arc<Spec>, outputs: &Outputs) -> Step {
    let (spec, outputs) = (spec.clone(), outputs.clone());
    Step {
        id: KUBECONFIG_STEP.into(),
        deps: vec![CLUSTER.into()],
        action: "write".into(),
        run: Box::new(move || {
            Box::pin(async move {
                let crate::kube::Target::Eks(entry) =
                    KubeAccess::Eks.target(&spec.name, &spec.region, &outputs)?
                else {
                    unreachable!("EKS access gives an EKS target")
                };
                let path = crate::kube::kubeconfig::default_path()?;
                let before = std::fs::read_to_string(&path).ok();
                crate::kube::kubeconfig::update(&path, &entry)?;
                let after = std::fs::read_to_string(&path).ok();
                let had_entry = before
                    .as_deref()
                    .is_some_and(|t| t.contains(&format!("name: {}", entry.name)));
                let outcome = if before == after {
                    crate::engine::Outcome::Unchanged
                } else if had_entry {
                    crate::engine::Outcome::Updated
                } else {
                    crate::engine::Outcome::Created
                };
                Ok(Done::with(
                    outcome,
                    format!("context {} in {}", entry.name, path.display()),
                ))
            })
        }),
    }
}

/// `down`'s Kubernetes phase: delete every object eksscale labelled for the
/// cluster (ScaledObjects first so their HPAs go, then KEDA, CRDs last).
/// Returns `None` when the API cannot be reached; deleting the cluster
/// removes the objects anyway, so `down` goes on.
pub async fn kube_cleanup(
    ctx: &RunCtx,
    region: &str,
    access: &KubeAccess,
    observed: &[Observed],
    concurrency: usize,
) -> anyhow::Result<Option<crate::engine::RunReport>> {
    let world = by_key(observed);
    let reachable = async {
        let target = access.target(&ctx.cluster, region, &world)?;
        let client = crate::kube::client(&target).await?;
        client.apiserver_version().await?;
        let applier = Arc::new(crate::kube::apply::Applier::new(
            &ctx.cluster,
            false,
            std::time::Duration::from_secs(5 * 60),
        ));
        applier.connect(client.clone());
        let owned = applier.find_owned().await?;
        let helm_release = helm_release_is_ours(&client, &ctx.cluster).await?;
        anyhow::Ok((applier, owned, helm_release))
    };
    let (applier, owned, helm_release) = match tokio::time::timeout(
        std::time::Duration::from_secs(60),
        reachable,
    )
    .await
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            ctx.events.warn(format!(
                "cannot reach the Kubernetes API ({e:#}); skipping the Kubernetes cleanup (deleting the cluster removes those objects)"
            ));
            return Ok(None);
        }
        Err(_) => {
            ctx.events.warn(
                "the Kubernetes API did not answer within 60s; skipping the Kubernetes cleanup",
            );
            return Ok(None);
        }
    };
    let helm = if helm_release {
        match crate::keda::helm::find() {
            Some(helm) => {
                let dir = helm_workdir()?;
                let to = access.helm(&ctx.cluster, region, &world, dir.path())?;
                Some((helm, to, dir))
            }
            None => {
                ctx.events.warn(
                    "KEDA was installed with helm, but no `helm` is on PATH; skipping `helm uninstall` (deleting the cluster removes KEDA anyway)",
                );
                None
            }
        }
    } else {
        None
    };
    if owned.is_empty() && helm.is_none() {
        return Ok(None);
    }
    ctx.events.info(format!(
        "deleting {} Kubernetes objects eksscale applied{}",
        owned.len(),
        if helm.is_some() {
            ", then the KEDA helm release"
        } else {
            ""
        }
    ));
    let mut steps = crate::kube::apply::delete_steps(&applier, &owned, &ctx.events, &ctx.cancel);
    if let Some((helm, to, dir)) = helm {
        let deps = steps.iter().map(|s| s.id.clone()).collect();
        steps.push(helm_uninstall_step(ctx, helm, to, dir, deps));
    }
    Ok(Some(
        crate::engine::execute(steps, concurrency, &ctx.events, &ctx.cancel).await?,
    ))
}
