//! KEDA, the Kubernetes Event-Driven Autoscaler: where its release manifest
//! comes from, and how eksscale adapts it before applying it. The edits are
//! typed (the objects are parsed into k8s-openapi types and changed field by
//! field), never text substitution.
//!
//! - Source: `spec.keda.manifest` (local path, or an https URL with its
//!   sha256, for air-gapped installs and mirrors), else the official release
//!   asset over https, downloaded once and cached under the user's cache
//!   directory. Whatever the source, every object and image is checked
//!   against the release's inventory in `catalog` before anything is applied.
//! - Identity: with IRSA the `keda/keda-operator` service account is annotated
//!   with the operator role; with Pod Identity an EKS association (an AWS
//!   resource in the graph) does the same job.
//! - High availability: `operatorReplicas` operator replicas (leader election,
//!   a warm standby), zone and host topology spread for the operator, the
//!   metrics API server and the admission webhooks, and a PodDisruptionBudget
//!   for every Deployment with more than one replica.

pub mod handover;
pub mod helm;
pub mod helm_cli;
pub mod identity;
pub mod install;
pub mod uninstall;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ServiceAccount, TopologySpreadConstraint};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use crate::kube::object::{Object, parse_manifests};
use crate::spec::{KedaIdentity, KedaSpec};

pub const NAMESPACE: &str = "keda";
/// The operator role's purpose (`eksscale-<cluster>-keda-operator`) and node.
pub const ROLE_PURPOSE: &str = "keda-operator";
pub const ROLE: &str = "iam-role/keda-operator";
pub const OPERATOR: &str = "keda-operator";
pub const METRICS_SERVER: &str = "keda-metrics-apiserver";
pub const WEBHOOKS: &str = "keda-admission";
/// Shown wherever the operator role ARN is not known yet (render before `up`).
pub const ROLE_PLACEHOLDER: &str =
    "EKSSCALE-PLACEHOLDER(keda-operator role ARN, known after eksscale up)";

pub fn release_url(version: &str) -> String {
    format!("https://github.com/kedacore/keda/releases/download/v{version}/keda-{version}.yaml")
}

/// Where the downloaded release manifest is cached.
pub fn cache_path(version: &str) -> anyhow::Result<PathBuf> {
    let base = dirs::cache_dir()
        .context("no cache directory for this user; set spec.keda.manifest to a local file")?;
    Ok(base
        .join("eksscale")
        .join("keda")
        .join(version)
        .join(format!("keda-{version}.yaml")))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A manifest that is not the KEDA release it claims to be (exit 2: nothing
/// was applied).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Untrusted(pub String);

/// The manifest text and a description of where it came from. Every source
/// is checked against the release's inventory in [`verify`] before use; an
/// override with `keda.manifestSha256` is also checked against that.
pub async fn load_manifest(spec: &KedaSpec, config_dir: &Path) -> anyhow::Result<(String, String)> {
    let cache = cache_path(&spec.version);
    load_manifest_from(spec, config_dir, cache, &release_url(&spec.version)).await
}

/// [`load_manifest`] with the cache location and release URL given (tests).
async fn load_manifest_from(
    spec: &KedaSpec,
    config_dir: &Path,
    cache: anyhow::Result<PathBuf>,
    url: &str,
) -> anyhow::Result<(String, String)> {
    if let Some(m) = &spec.manifest {
        let (text, origin) = if m.starts_with("https://") {
            let text = download(m)
                .await
                .with_context(|| format!("downloading spec.keda.manifest {m}"))?;
            (text, m.clone())
        } else {
            let path = if Path::new(m).is_absolute() {
                PathBuf::from(m)
            } else {
                config_dir.join(m)
            };
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading spec.keda.manifest {}", path.display()))?;
            (text, path.display().to_string())
        };
        if let Some(want) = &spec.manifest_sha256 {
            let got = sha256_hex(text.as_bytes());
            if &got != want {
                return Err(Untrusted(format!(
                    "the KEDA manifest {origin} has sha256 {got}, not keda.manifestSha256 {want}; nothing was applied"
                ))
                .into());
            }
        }
        return Ok((text, origin));
    }
    let path = cache?;
    if path.exists() {
        // Re-checked against the release's inventory on every use (in
        // `verify`), not against a checksum kept beside it.
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Ok((text, format!("{} (cached)", path.display())));
    }
    let text = download(url).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot download the KEDA {v} manifest from {url}: {e:#}\nOffline or air-gapped? Set spec.keda.manifest to a local copy of keda-{v}.yaml (or an https mirror URL with keda.manifestSha256).",
            v = spec.version
        )
    })?;
    let dir = path.parent().expect("cache path has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    Ok((text, url.to_string()))
}

/// Every image a parsed object runs (containers and init containers).
fn images(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("image", serde_json::Value::String(i)) => out.push(i.clone()),
                    _ => images(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| images(x, out)),
        _ => {}
    }
}

/// Refuses a manifest with any object or image the release does not have:
/// it is applied with cluster-admin rights (an extra ClusterRoleBinding, or
/// an image from elsewhere, would be too).
pub fn verify(objects: &[Object], spec: &KedaSpec) -> Result<(), Untrusted> {
    let Some(release) = crate::catalog::keda_release(&spec.version) else {
        return Err(Untrusted(format!(
            "KEDA {} is not a release eksscale knows",
            spec.version
        )));
    };
    let registry = spec.image_registry.as_deref().unwrap_or(release.registry);
    let mut problems = Vec::new();
    for o in objects {
        let ns = o.namespace.as_deref().unwrap_or("");
        if !release
            .objects
            .iter()
            .any(|(k, n, name)| *k == o.kind() && *n == ns && *name == o.name)
        {
            problems.push(format!(
                "{} {}{} is not part of the KEDA {} release",
                o.kind(),
                if ns.is_empty() {
                    String::new()
                } else {
                    format!("{ns}/")
                },
                o.name,
                release.version
            ));
        }
        let mut found = Vec::new();
        images(&o.value, &mut found);
        for image in found {
            let ok = release
                .images
                .iter()
                .any(|name| image == format!("{registry}/{name}:{}", release.version));
            if !ok {
                problems.push(format!(
                    "{} runs image {image:?}, which is not one of KEDA {}'s images under {registry}",
                    o.id(),
                    release.version
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Untrusted(format!(
            "the KEDA manifest is not the KEDA {} release, so nothing was applied:\n  {}",
            release.version,
            problems.join("\n  ")
        )))
    }
}

async fn download(url: &str) -> anyhow::Result<String> {
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?
        .get(url)
        .send()
        .await?
        .error_for_status()?;
    Ok(resp.text().await?)
}

/// Values the customisation needs.
#[derive(Debug, Clone)]
pub struct Customize {
    pub identity: KedaIdentity,
    /// The operator role ARN, or [`ROLE_PLACEHOLDER`].
    pub role_arn: String,
    pub operator_replicas: i32,
}

fn typed<T: serde::de::DeserializeOwned>(o: &Object) -> anyhow::Result<T> {
    serde_json::from_value(o.value.clone())
        .with_context(|| format!("{} does not match its Kubernetes schema", o.id()))
}

fn store<T: serde::Serialize>(o: &mut Object, v: &T) -> anyhow::Result<()> {
    o.value = serde_json::to_value(v)?;
    Ok(())
}

pub(crate) fn spread(selector: &LabelSelector) -> Vec<TopologySpreadConstraint> {
    ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
        .iter()
        .map(|key| TopologySpreadConstraint {
            max_skew: 1,
            topology_key: key.to_string(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(selector.clone()),
            ..Default::default()
        })
        .collect()
}

/// Adapts the release objects: identity, replicas, spread, PDBs.
pub fn customize(mut objects: Vec<Object>, c: &Customize) -> anyhow::Result<Vec<Object>> {
    let find = |objs: &[Object], kind: &str, name: &str| {
        objs.iter().position(|o| {
            o.kind() == kind && o.name == name && o.namespace.as_deref() == Some(NAMESPACE)
        })
    };
    for (kind, name) in [
        ("ServiceAccount", OPERATOR),
        ("Deployment", OPERATOR),
        ("Deployment", METRICS_SERVER),
        ("Deployment", WEBHOOKS),
    ] {
        if find(&objects, kind, name).is_none() {
            bail!(
                "the manifest has no {kind} {NAMESPACE}/{name}: it does not look like a KEDA release manifest"
            );
        }
    }

    let i = find(&objects, "ServiceAccount", OPERATOR).expect("checked above");
    let mut sa: ServiceAccount = typed(&objects[i])?;
    if c.identity == KedaIdentity::Irsa {
        let ann = sa.metadata.annotations.get_or_insert_with(Default::default);
        ann.insert("eks.amazonaws.com/role-arn".into(), c.role_arn.clone());
        ann.insert(
            "eks.amazonaws.com/sts-regional-endpoints".into(),
            "true".into(),
        );
    }
    store(&mut objects[i], &sa)?;

    let mut pdbs = Vec::new();
    for name in [OPERATOR, METRICS_SERVER, WEBHOOKS] {
        let i = find(&objects, "Deployment", name).expect("checked above");
        let mut d: Deployment = typed(&objects[i])?;
        let spec = d
            .spec
            .as_mut()
            .with_context(|| format!("Deployment {name} has no spec"))?;
        if name == OPERATOR {
            spec.replicas = Some(c.operator_replicas);
            // A new identity (role, or IRSA <-> Pod Identity) changes the pod
            // template, so the pods are replaced: the webhook that injects
            // the credentials acts only when a pod is created.
            spec.template
                .metadata
                .get_or_insert_with(Default::default)
                .annotations
                .get_or_insert_with(Default::default)
                .insert(
                    identity::ANNOTATION.into(),
                    identity::annotation_value(c.identity, &c.role_arn),
                );
        }
        let selector = spec.selector.clone();
        let pod = spec
            .template
            .spec
            .as_mut()
            .with_context(|| format!("Deployment {name} has no pod spec"))?;
        pod.topology_spread_constraints = Some(spread(&selector));
        if spec.replicas.unwrap_or(1) > 1 {
            pdbs.push(PodDisruptionBudget {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    namespace: Some(NAMESPACE.to_string()),
                    labels: d.metadata.labels.clone(),
                    ..Default::default()
                },
                spec: Some(PodDisruptionBudgetSpec {
                    min_available: Some(IntOrString::Int(1)),
                    selector: Some(selector),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        store(&mut objects[i], &d)?;
    }
    for pdb in pdbs {
        let mut v = serde_json::to_value(&pdb)?;
        v["apiVersion"] = "policy/v1".into();
        v["kind"] = "PodDisruptionBudget".into();
        objects.push(Object::from_value(v)?);
    }
    Ok(objects)
}

/// Loads, parses and customises: exactly what `up` applies.
pub async fn objects(
    spec: &KedaSpec,
    config_dir: &Path,
    role_arn: &str,
) -> anyhow::Result<(Vec<Object>, String)> {
    let (text, origin) = load_manifest(spec, config_dir).await?;
    let parsed = parse_manifests(&text)
        .with_context(|| format!("parsing the KEDA manifest from {origin}"))?;
    verify(&parsed, spec).map_err(|e| Untrusted(format!("{origin}: {e}")))?;
    let objects = customize(
        parsed,
        &Customize {
            identity: spec.identity,
            role_arn: role_arn.to_string(),
            operator_replicas: spec.operator_replicas,
        },
    )?;
    Ok((objects, origin))
}

/// The KEDA 2.20.2 manifest kept beside the project for tests
/// (`EKSSCALE_KEDA_MANIFEST`, set by scripts/test.sh, or ../shared).
#[cfg(test)]
pub fn test_manifest_path() -> String {
    std::env::var("EKSSCALE_KEDA_MANIFEST").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/keda/2.20.2/keda-2.20.2.yaml"
        )
        .to_string()
    })
}

/// Test helper: a KEDA 2.20.2 spec (the shared test manifest for the
/// manifest installer).
#[cfg(test)]
pub fn test_spec(
    identity: KedaIdentity,
    replicas: i32,
    installer: crate::spec::KedaInstaller,
) -> KedaSpec {
    KedaSpec {
        enabled: true,
        version: "2.20.2".into(),
        identity,
        operator_replicas: replicas,
        manifest: (installer == crate::spec::KedaInstaller::Manifest).then(test_manifest_path),
        manifest_sha256: None,
        image_registry: None,
        installer,
    }
}

/// Test helper: `tsc` spreads the pods of `selector` over zones, then hosts,
/// with maxSkew 1 and ScheduleAnyway.
#[cfg(test)]
pub fn assert_zone_and_host_spread(tsc: &serde_json::Value, selector: &serde_json::Value) {
    let tsc = tsc.as_array().expect("topologySpreadConstraints is a list");
    let keys: Vec<&str> = tsc
        .iter()
        .map(|t| t["topologyKey"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    );
    for t in tsc {
        assert_eq!(t["maxSkew"], 1);
        assert_eq!(t["whenUnsatisfiable"], "ScheduleAnyway");
        assert_eq!(&t["labelSelector"], selector, "spreads its own pods");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(identity: KedaIdentity, replicas: i32) -> KedaSpec {
        test_spec(identity, replicas, crate::spec::KedaInstaller::Manifest)
    }

    fn get<'a>(objs: &'a [Object], kind: &str, name: &str) -> &'a Object {
        objs.iter()
            .find(|o| o.kind() == kind && o.name == name)
            .unwrap()
    }

    #[tokio::test]
    async fn irsa_customisation() {
        let role = "arn:aws:iam::123456789012:role/eksscale/eksscale-demo-keda-operator";
        let (objs, _) = objects(&spec(KedaIdentity::Irsa, 2), Path::new("/"), role)
            .await
            .unwrap();
        assert_eq!(objs.len(), 25, "24 upstream objects plus one PDB");
        let sa = &get(&objs, "ServiceAccount", OPERATOR).value;
        assert_eq!(
            sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
            role
        );
        assert_eq!(
            sa["metadata"]["annotations"]["eks.amazonaws.com/sts-regional-endpoints"],
            "true"
        );
        let op = &get(&objs, "Deployment", OPERATOR).value;
        assert_eq!(op["spec"]["replicas"], 2);
        for name in [OPERATOR, METRICS_SERVER, WEBHOOKS] {
            let d = &get(&objs, "Deployment", name).value;
            assert_zone_and_host_spread(
                &d["spec"]["template"]["spec"]["topologySpreadConstraints"],
                &d["spec"]["selector"],
            );
        }
        let pdb = &get(&objs, "PodDisruptionBudget", OPERATOR).value;
        assert_eq!(pdb["spec"]["minAvailable"], 1);
        assert_eq!(pdb["spec"]["selector"], op["spec"]["selector"]);
    }

    #[tokio::test]
    async fn pod_identity_leaves_the_service_account_alone_and_one_replica_has_no_pdb() {
        let (objs, _) = objects(
            &spec(KedaIdentity::PodIdentity, 1),
            Path::new("/"),
            ROLE_PLACEHOLDER,
        )
        .await
        .unwrap();
        let sa = &get(&objs, "ServiceAccount", OPERATOR).value;
        assert!(
            sa["metadata"]["annotations"]
                .get("eks.amazonaws.com/role-arn")
                .is_none()
        );
        assert!(!objs.iter().any(|o| o.kind() == "PodDisruptionBudget"));
    }

    #[tokio::test]
    async fn cache_is_used_offline_and_checked_on_every_use() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(KedaIdentity::Irsa, 2);
        s.manifest = None;
        let cached = dir.path().join("keda").join("keda-2.20.2.yaml");
        // Nothing reachable and nothing cached: the error names spec.keda.manifest.
        let unreachable = "https://127.0.0.1:9/keda-2.20.2.yaml";
        let err = load_manifest_from(&s, dir.path(), Ok(cached.clone()), unreachable)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("spec.keda.manifest"), "{err}");
        assert!(!cached.exists());
        // A cached copy is used without the network, and passes the inventory.
        let text = std::fs::read_to_string(test_manifest_path()).unwrap();
        std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
        std::fs::write(&cached, &text).unwrap();
        let (got, origin) = load_manifest_from(&s, dir.path(), Ok(cached.clone()), unreachable)
            .await
            .unwrap();
        assert_eq!(got, text);
        assert!(origin.ends_with("(cached)"), "{origin}");
        verify(&parse_manifests(&got).unwrap(), &s).unwrap();
        // A cache with an extra cluster-admin binding is refused, whatever
        // checksum file someone put beside it.
        std::fs::write(&cached, format!("{text}\n---\n{ADMIN_BINDING}")).unwrap();
        std::fs::write(cached.with_extension("yaml.sha256"), "anything\n").unwrap();
        let (got, _) = load_manifest_from(&s, dir.path(), Ok(cached), unreachable)
            .await
            .unwrap();
        let err = verify(&parse_manifests(&got).unwrap(), &s).unwrap_err().0;
        assert!(
            err.contains("ClusterRoleBinding backdoor is not part of the KEDA 2.20.2 release"),
            "{err}"
        );
    }

    const ADMIN_BINDING: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: backdoor}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: keda-operator, namespace: keda}]\n";

    #[tokio::test]
    async fn an_override_with_an_extra_object_or_image_is_refused_before_anything_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(test_manifest_path()).unwrap();
        let f = dir.path().join("keda.yaml");
        let mut s = spec(KedaIdentity::Irsa, 2);
        s.manifest = Some("keda.yaml".into());

        std::fs::write(&f, format!("{text}\n---\n{ADMIN_BINDING}")).unwrap();
        let err = objects(&s, dir.path(), "x").await.unwrap_err();
        assert!(err.downcast_ref::<Untrusted>().is_some(), "{err:#}");
        assert!(
            format!("{err:#}").contains("ClusterRoleBinding backdoor"),
            "{err:#}"
        );

        std::fs::write(
            &f,
            text.replace("ghcr.io/kedacore/keda:2.20.2", "docker.io/evil/keda:2.20.2"),
        )
        .unwrap();
        let err = format!("{:#}", objects(&s, dir.path(), "x").await.unwrap_err());
        assert!(err.contains("\"docker.io/evil/keda:2.20.2\""), "{err}");

        // A mirror is allowed when configured.
        std::fs::write(
            &f,
            text.replace("ghcr.io/kedacore/", "registry.example.com/mirror/kedacore/"),
        )
        .unwrap();
        s.image_registry = Some("registry.example.com/mirror/kedacore".into());
        objects(&s, dir.path(), "x").await.unwrap();

        // keda.manifestSha256 is checked.
        s.image_registry = None;
        std::fs::write(&f, &text).unwrap();
        s.manifest_sha256 = Some("0".repeat(64));
        let err = format!("{:#}", objects(&s, dir.path(), "x").await.unwrap_err());
        assert!(err.contains("not keda.manifestSha256"), "{err}");
        s.manifest_sha256 = Some(sha256_hex(text.as_bytes()));
        objects(&s, dir.path(), "x").await.unwrap();
    }

    #[tokio::test]
    async fn a_manifest_that_is_not_keda_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("not-keda.yaml");
        std::fs::write(&f, "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n").unwrap();
        let mut s = spec(KedaIdentity::Irsa, 2);
        s.manifest = Some("not-keda.yaml".into());
        let err = objects(&s, dir.path(), "x").await.unwrap_err().to_string();
        assert!(
            err.contains("Namespace x is not part of the KEDA 2.20.2 release"),
            "{err}"
        );
    }
}
