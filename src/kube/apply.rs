//! The apply engine: server-side apply of a set of objects in dependency
//! order, as engine steps (so they run concurrently, show progress, and
//! appear in the JSON summary as created / configured / unchanged).
//!
//! Order: CustomResourceDefinitions and Namespaces first, each CRD waited for
//! until Established; then everything else; APIServices and webhook
//! configurations last (a webhook registered before its server is ready would
//! block the other applies). Deployments are waited for until rolled out,
//! APIServices until Available, Jobs until complete; a wait that fails says
//! why (pods pending with no nodes, image pull errors, ...). Deleting runs the
//! same sets in reverse, waiting for finalizers, CRDs last.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::Value;

use super::object::{
    ANNOTATION_APPLIED, ApplyPhase, LABEL_CLUSTER, LABEL_MANAGED_BY, Object, is_subset, labelled,
    with_applied_hash,
};
use super::readiness::{
    Readiness, apiservice_ready, crd_ready, deployment_ready, job_ready, pod_problem,
};
use crate::engine::step::StepCtx;
use crate::engine::wait::Poll;
use crate::engine::{Cancel, Done, EventSink, Outcome, Step, Verb};

pub const FIELD_MANAGER: &str = "eksscale";

/// An error worth another try: the API server answering 5xx or 429 (it does
/// while the control plane scales), or the connection failing.
pub fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs one API call, again after a transient failure (5 tries, 0.5 s to 4 s
/// apart): a 500 or a reset while the control plane scales is not a reason
/// to fail a step. Server-side apply, get, list and delete are idempotent.
pub async fn retried<T, F, Fut>(mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(500);
    for _ in 0..4 {
        match call().await {
            Err(e) if transient(&e) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    call().await
}

/// Kubernetes answers quickly; poll every couple of seconds at most.
const KUBE_POLL: Duration = Duration::from_secs(2);

/// Applies and deletes objects on one cluster.
pub struct Applier {
    /// Set by [`Applier::connect`] (the cluster may not exist when steps are built).
    client: tokio::sync::OnceCell<kube::Client>,
    cluster: String,
    force: std::sync::atomic::AtomicBool,
    timeout: Duration,
    kinds: Mutex<HashMap<String, (ApiResource, ApiCapabilities)>>,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("cluster", &self.cluster)
            .finish()
    }
}

fn gvk_key(gvk: &GroupVersionKind) -> String {
    format!("{}/{}/{}", gvk.group, gvk.version, gvk.kind)
}

impl Applier {
    /// `force`: take ownership of fields another field manager owns
    /// (otherwise such a conflict is an error). `timeout`: for each wait.
    pub fn new(cluster: &str, force: bool, timeout: Duration) -> Self {
        Self {
            client: tokio::sync::OnceCell::new(),
            cluster: cluster.to_string(),
            force: force.into(),
            timeout,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// Takes over fields other managers own from now on (after an installer
    /// switch, helm's fields on the CRDs the manifest now applies).
    pub fn force_conflicts(&self) {
        self.force.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Uses `client` from now on (the first call wins).
    pub fn connect(&self, client: kube::Client) {
        let _ = self.client.set(client);
    }

    pub fn client(&self) -> anyhow::Result<&kube::Client> {
        self.client
            .get()
            .context("not connected to the Kubernetes API")
    }

    /// Resolves a kind through discovery of its group/version only (cached).
    async fn resolve(
        &self,
        gvk: &GroupVersionKind,
    ) -> anyhow::Result<(ApiResource, ApiCapabilities)> {
        let key = gvk_key(gvk);
        if let Some(hit) = self.kinds.lock().expect("kinds lock").get(&key).cloned() {
            return Ok(hit);
        }
        let client = self.client()?;
        let found = retried(|| kube::discovery::pinned_kind(client, gvk)).await.with_context(|| {
            format!(
                "the cluster does not serve {} ({}); if it is a custom resource, its CustomResourceDefinition must be installed first",
                gvk.kind,
                if gvk.group.is_empty() { gvk.version.clone() } else { format!("{}/{}", gvk.group, gvk.version) }
            )
        })?;
        self.kinds
            .lock()
            .expect("kinds lock")
            .insert(key, found.clone());
        Ok(found)
    }

    /// Forgets cached kinds (after CRDs are installed or removed).
    pub fn refresh_discovery(&self) {
        self.kinds.lock().expect("kinds lock").clear();
    }

    async fn api(&self, obj: &Object) -> anyhow::Result<Api<DynamicObject>> {
        let (ar, caps) = self.resolve(&obj.gvk).await?;
        Ok(match caps.scope {
            Scope::Namespaced => Api::namespaced_with(
                self.client()?.clone(),
                obj.namespace.as_deref().unwrap_or("default"),
                &ar,
            ),
            Scope::Cluster => Api::all_with(self.client()?.clone(), &ar),
        })
    }

    /// The object with eksscale's labels.
    pub fn labelled(&self, obj: &Object) -> Value {
        labelled(&obj.value, &self.cluster)
    }

    /// What [`Applier::apply`] would do to `obj`, without writing: create
    /// (absent), update (content or live fields differ), or nothing.
    pub async fn preview(&self, obj: &Object) -> anyhow::Result<Outcome> {
        let api = match self.api(obj).await {
            Ok(api) => api,
            // A custom resource whose CRD this run would install first.
            Err(_) if obj.apply_phase() != ApplyPhase::Foundations => {
                return Ok(Outcome::Created);
            }
            Err(e) => return Err(e),
        };
        let Some(live) = retried(|| api.get_opt(&obj.name))
            .await
            .with_context(|| format!("reading {}", obj.id()))?
        else {
            return Ok(Outcome::Created);
        };
        let (body, hash) = with_applied_hash(self.labelled(obj));
        let same = live
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_APPLIED))
            == Some(&hash)
            && is_subset(&body, &serde_json::to_value(&live)?);
        Ok(if same {
            Outcome::Unchanged
        } else {
            Outcome::Updated
        })
    }

    /// Server-side apply of one object, then the wait its kind needs.
    pub async fn apply(&self, s: &StepCtx, obj: &Object) -> anyhow::Result<Done> {
        let api = self.api(obj).await?;
        let before = retried(|| api.get_opt(&obj.name))
            .await
            .with_context(|| format!("reading {}", obj.id()))?;
        let (body, hash) = with_applied_hash(self.labelled(obj));
        if let Some(live) = &before
            && live
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_APPLIED))
                == Some(&hash)
            && is_subset(&body, &serde_json::to_value(live)?)
        {
            // Applied before exactly like this, and nobody changed it since.
            self.wait_ready(s, obj, &api).await?;
            return Ok(Done::new(Outcome::Unchanged));
        }
        let mut params = PatchParams::apply(FIELD_MANAGER);
        if self.force.load(std::sync::atomic::Ordering::Relaxed) {
            params = params.force();
        }
        let patch = Patch::Apply(&body);
        let after = match retried(|| api.patch(&obj.name, &params, &patch)).await {
            Ok(o) => o,
            Err(kube::Error::Api(e)) if e.code == 409 => bail!(
                "{} has fields owned by another field manager ({}); run `eksscale up --force-conflicts` to take them over",
                obj.id(),
                e.message
            ),
            Err(kube::Error::Api(e)) if e.code == 422 => {
                bail!("{} was rejected as invalid: {}", obj.id(), e.message)
            }
            Err(e) => return Err(e).with_context(|| format!("applying {}", obj.id())),
        };
        let outcome = match &before {
            None => Outcome::Created,
            Some(b) if b.metadata.resource_version == after.metadata.resource_version => {
                Outcome::Unchanged
            }
            Some(_) => Outcome::Updated,
        };
        self.wait_ready(s, obj, &api).await?;
        Ok(match outcome {
            Outcome::Updated => Done::with(outcome, "configured"),
            _ => Done::new(outcome),
        })
    }

    /// Waits until an object that something else applied (helm) is ready.
    pub async fn wait_for(&self, s: &StepCtx, obj: &Object) -> anyhow::Result<()> {
        let api = self.api(obj).await?;
        self.wait_ready(s, obj, &api).await
    }

    async fn wait_ready(
        &self,
        s: &StepCtx,
        obj: &Object,
        api: &Api<DynamicObject>,
    ) -> anyhow::Result<()> {
        let check: fn(&Value) -> Readiness = match obj.kind() {
            "CustomResourceDefinition" => crd_ready,
            "Deployment" => deployment_ready,
            "APIService" => apiservice_ready,
            "Job" => job_ready,
            _ => return Ok(()),
        };
        let what = format!("{} {} to be ready", obj.kind(), obj.name);
        let waited = s
            .wait(what, self.timeout, KUBE_POLL, || async {
                let cur = match api.get(&obj.name).await {
                    Ok(cur) => cur,
                    // One failed poll does not end a wait of minutes: the API
                    // answers 5xx or drops connections while it scales.
                    Err(e) if transient(&e) => {
                        return Ok(Poll::Pending(format!(
                            "the API failed a read ({e}); retrying"
                        )));
                    }
                    Err(e) => return Err(e).with_context(|| format!("reading {}", obj.id())),
                };
                let v = serde_json::to_value(&cur)?;
                Ok(match check(&v) {
                    Readiness::Ready => Poll::Ready(()),
                    Readiness::Failed(why) if obj.kind() == "Deployment" => {
                        let pods = self.pod_problems(obj, &v).await.unwrap_or_default();
                        Poll::Failed(if pods.is_empty() {
                            why
                        } else {
                            format!("{why}; {pods}")
                        })
                    }
                    Readiness::Failed(why) => Poll::Failed(why),
                    Readiness::Pending(state) if obj.kind() == "Deployment" => {
                        let pods = self.pod_problems(obj, &v).await.unwrap_or_default();
                        Poll::Pending(if pods.is_empty() {
                            state
                        } else {
                            format!("{state}; {pods}")
                        })
                    }
                    Readiness::Pending(state) => Poll::Pending(state),
                })
            })
            .await;
        if obj.kind() == "APIService" {
            // The usual cause: the control plane cannot reach the pods on the nodes.
            return waited.context(
                "the control plane must reach the metrics API server on the nodes over TCP 6443 (admission webhooks: 9443); check the cluster security group's ingress from itself (see docs/troubleshooting.md)",
            );
        }
        waited
    }

    /// Why a Deployment's pods are not running: scheduling and container
    /// waiting reasons, as `kubectl describe` would show them.
    async fn pod_problems(&self, obj: &Object, deploy: &Value) -> anyhow::Result<String> {
        let Some(labels) = deploy["spec"]["selector"]["matchLabels"].as_object() else {
            return Ok(String::new());
        };
        let selector: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        let pods: Api<DynamicObject> = Api::namespaced_with(
            self.client()?.clone(),
            obj.namespace.as_deref().unwrap_or("default"),
            &ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()),
        );
        let params = ListParams::default().labels(&selector.join(","));
        let list = retried(|| pods.list(&params)).await?;
        let mut problems = BTreeMap::new();
        for p in list.items {
            let v = serde_json::to_value(&p)?;
            let name = p.metadata.name.unwrap_or_default();
            if let Some(reason) = pod_problem(&v) {
                problems.insert(name, reason);
            }
        }
        Ok(problems
            .into_iter()
            .map(|(pod, why)| format!("pod {pod}: {why}"))
            .collect::<Vec<_>>()
            .join("; "))
    }

    /// Deletes one object and waits until it is gone (finalizers included).
    pub async fn delete(&self, s: &StepCtx, obj: &Object) -> anyhow::Result<Done> {
        let api = match self.api(obj).await {
            Ok(api) => api,
            // Its CRD is already gone, and with it every object of the kind.
            Err(_) if obj.apply_phase() != ApplyPhase::Foundations => {
                return Ok(Done::new(Outcome::Absent));
            }
            Err(e) => return Err(e),
        };
        let dp = DeleteParams::background();
        match retried(|| api.delete(&obj.name, &dp)).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Done::new(Outcome::Absent)),
            Err(e) => return Err(e).with_context(|| format!("deleting {}", obj.id())),
        }
        s.wait(
            format!("{} {} to be deleted", obj.kind(), obj.name),
            self.timeout,
            KUBE_POLL,
            || async {
                let found = match api.get_opt(&obj.name).await {
                    Ok(found) => found,
                    Err(e) if transient(&e) => {
                        return Ok(Poll::Pending(format!(
                            "the API failed a read ({e}); retrying"
                        )));
                    }
                    Err(e) => return Err(e.into()),
                };
                Ok(match found {
                    None => Poll::Ready(()),
                    Some(o) => {
                        let finalizers = o.metadata.finalizers.unwrap_or_default();
                        Poll::Pending(if finalizers.is_empty() {
                            "terminating".into()
                        } else {
                            format!("terminating, finalizers: {}", finalizers.join(", "))
                        })
                    }
                })
            },
        )
        .await?;
        Ok(Done::new(Outcome::Deleted))
    }

    /// Every object labelled for this cluster by eksscale, across all kinds
    /// the cluster serves (for `down`, which has no manifest to go by).
    pub async fn find_owned(&self) -> anyhow::Result<Vec<Object>> {
        let client = self.client()?.clone();
        let discovery =
            match retried(|| kube::Discovery::new(client.clone()).run_aggregated()).await {
                Ok(d) => d,
                Err(_) => retried(|| kube::Discovery::new(client.clone()).run())
                    .await
                    .context("discovering the cluster's API resources")?,
            };
        let selector = format!(
            "{LABEL_MANAGED_BY}=eksscale,{LABEL_CLUSTER}={}",
            super::object::cluster_label(&self.cluster)
        );
        let mut out = Vec::new();
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                if !caps.supports_operation(kube::discovery::verbs::LIST)
                    || !caps.supports_operation(kube::discovery::verbs::DELETE)
                {
                    continue;
                }
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
                let params = ListParams::default().labels(&selector);
                let list = match retried(|| api.list(&params)).await {
                    Ok(l) => l,
                    Err(kube::Error::Api(e)) if e.code == 404 || e.code == 405 || e.code == 403 => {
                        continue;
                    }
                    Err(e) => return Err(e).with_context(|| format!("listing {}", ar.plural)),
                };
                for item in list.items {
                    let mut v = serde_json::to_value(&item)?;
                    v["apiVersion"] = Value::String(ar.api_version.clone());
                    v["kind"] = Value::String(ar.kind.clone());
                    out.push(Object::from_value(v)?);
                }
            }
        }
        Ok(out)
    }
}

/// Apply steps for `objects`; every step also depends on `after`.
pub fn apply_steps(
    applier: &Arc<Applier>,
    objects: &[Object],
    after: &[String],
    events: &EventSink,
    cancel: &Cancel,
) -> Vec<Step> {
    apply_steps_named("", applier, objects, after, events, cancel)
}

/// [`apply_steps`] for a second set in the same run (`group` names its
/// discovery barrier step).
pub fn apply_steps_named(
    group: &str,
    applier: &Arc<Applier>,
    objects: &[Object],
    after: &[String],
    events: &EventSink,
    cancel: &Cancel,
) -> Vec<Step> {
    let barrier = if group.is_empty() {
        "k8s/discovery-refresh".to_string()
    } else {
        format!("k8s/{group}/discovery-refresh")
    };
    let of_phase = |p: ApplyPhase| -> Vec<String> {
        objects
            .iter()
            .filter(|o| o.apply_phase() == p)
            .map(Object::id)
            .collect()
    };
    let (foundations, middle) = (
        of_phase(ApplyPhase::Foundations),
        of_phase(ApplyPhase::Objects),
    );
    let mut steps = Vec::new();
    {
        let applier = applier.clone();
        steps.push(Step {
            id: barrier.clone(),
            deps: foundations,
            verb: Verb::RefreshDiscovery,
            run: Box::new(move || {
                Box::pin(async move {
                    // New CRDs are Established now; resolve kinds afresh.
                    applier.refresh_discovery();
                    Ok(Done::new(Outcome::Unchanged))
                })
            }),
        });
    }
    // Identity before pods: a pod's service account (and what the webhook
    // injects from its annotations) must exist when the pod is created.
    let accounts: Vec<String> = objects
        .iter()
        .filter(|o| o.kind() == "ServiceAccount")
        .map(Object::id)
        .collect();
    for o in objects {
        let mut deps: Vec<String> = after.to_vec();
        match o.apply_phase() {
            ApplyPhase::Foundations => {}
            ApplyPhase::Objects if is_workload(o.kind()) => {
                deps.push(barrier.clone());
                deps.extend(accounts.iter().cloned());
            }
            ApplyPhase::Objects => deps.push(barrier.clone()),
            ApplyPhase::Registrations => {
                deps.push(barrier.clone());
                deps.extend(middle.iter().cloned());
            }
        }
        let (applier, obj, id) = (applier.clone(), o.clone(), o.id());
        let s = StepCtx::new(&id, events.clone(), cancel.clone());
        steps.push(Step {
            id,
            deps,
            verb: Verb::Apply,
            run: Box::new(move || Box::pin(async move { applier.apply(&s, &obj).await })),
        });
    }
    if let Some(first) = steps.first_mut() {
        first.deps.extend(after.iter().cloned());
    }
    steps
}

/// Kinds whose pods use a service account.
fn is_workload(kind: &str) -> bool {
    matches!(
        kind,
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob" | "Pod"
    )
}

/// Delete steps for `objects`; the last ones (CRDs) are what `before` waits for.
pub fn delete_steps(
    applier: &Arc<Applier>,
    objects: &[Object],
    events: &EventSink,
    cancel: &Cancel,
) -> Vec<Step> {
    let ids: Vec<_> = objects
        .iter()
        .map(|o| (o.delete_phase(), format!("delete/{}", o.id())))
        .collect();
    objects
        .iter()
        .zip(&ids)
        .map(|(o, (rank, id))| {
            let deps = ids
                .iter()
                .filter(|(r, _)| r < rank)
                .map(|(_, d)| d.clone())
                .collect();
            let (applier, obj) = (applier.clone(), o.clone());
            let s = StepCtx::new(id, events.clone(), cancel.clone());
            Step {
                id: id.clone(),
                deps,
                verb: Verb::Delete,
                run: Box::new(move || Box::pin(async move { applier.delete(&s, &obj).await })),
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
