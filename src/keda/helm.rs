//! `keda.installer: helm`: KEDA from the kedacore Helm chart, for teams
//! standardised on Helm. eksscale generates the chart values (the same
//! identity, replicas, topology spread and PodDisruptionBudget as the manifest
//! installer), runs the `helm` found on PATH, and then does its own waits, so
//! a failure says why (pods Pending, image pulls, the 6443 path) instead of
//! helm's bare timeout.
//!
//! Idempotent like everything else: when the release is deployed with the
//! same chart version and the same values, `up` changes nothing (no new
//! revision). `down` uninstalls the release only if its operator carries this
//! cluster's `eksscale.io/cluster` label, i.e. eksscale installed it.
//!
//! The value names follow the kedacore/keda chart (`operator.replicaCount`,
//! `podIdentity.aws.irsa.*`, `topologySpreadConstraints.{operator,
//! metricsServer,webhooks}`, `podDisruptionBudget.{operator,metricServer,
//! webhooks}`, `additionalLabels`); the chart version comes from the
//! catalog's table (`catalog::KedaRelease::chart_version`): kedacore has
//! released charts whose version differs from the KEDA they ship.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};

use crate::engine::Cancel;
use crate::kube::object::{LABEL_CLUSTER, Object};
use crate::spec::{KedaIdentity, KedaSpec};

pub const CHART_REPO: &str = "https://kedacore.github.io/charts";
pub const CHART: &str = "keda";
pub const RELEASE: &str = "keda";
/// The chart's Deployments (and their pods' `app` label) with default values.
pub const OPERATOR: &str = "keda-operator";
pub const METRICS_SERVER: &str = "keda-operator-metrics-apiserver";
pub const WEBHOOKS: &str = "keda-admission-webhooks";

/// What `up` waits for after helm returns: the Deployments rolled out, the
/// external metrics APIService Available.
pub fn readiness_objects() -> Vec<Object> {
    let mut out: Vec<Object> = [OPERATOR, METRICS_SERVER, WEBHOOKS]
        .iter()
        .map(|name| {
            Object::from_value(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": super::NAMESPACE},
            }))
            .expect("a well-formed object")
        })
        .collect();
    out.push(
        Object::from_value(json!({
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1beta1.external.metrics.k8s.io"},
        }))
        .expect("a well-formed object"),
    );
    out
}

fn selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some([("app".to_string(), app.to_string())].into()),
        ..Default::default()
    }
}

/// The chart values for this spec: identity, replicas, spread, PDB, labels.
pub fn values(spec: &KedaSpec, cluster: &str, role_arn: &str) -> anyhow::Result<Value> {
    let spread = |app: &str| serde_json::to_value(super::spread(&selector(app)));
    let mut v = json!({
        "operator": {"replicaCount": spec.operator_replicas},
        "topologySpreadConstraints": {
            "operator": spread(OPERATOR)?,
            "metricsServer": spread(METRICS_SERVER)?,
            "webhooks": spread(WEBHOOKS)?,
        },
        "additionalLabels": {LABEL_CLUSTER: crate::kube::object::cluster_label(cluster)},
    });
    // The metrics server and webhooks run one replica in the chart; a PDB
    // with minAvailable 1 on a single replica would block every node drain.
    if spec.operator_replicas > 1 {
        v["podDisruptionBudget"] = json!({"operator": {"minAvailable": 1}});
    }
    // A mirror: the chart's `image.<component>.registry` / `.repository`
    // (chart values since 2.x; default `ghcr.io` + `kedacore/<image>`), so
    // the images come from where the manifest installer would take them.
    if let Some(mirror) = &spec.image_registry {
        let (registry, path) = mirror.split_once('/').unwrap_or((mirror.as_str(), ""));
        let repository = |image: &str| match path {
            "" => image.to_string(),
            p => format!("{p}/{image}"),
        };
        v["image"] = json!({
            "keda": {"registry": registry, "repository": repository("keda")},
            "metricsApiServer": {"registry": registry, "repository": repository("keda-metrics-apiserver")},
            "webhooks": {"registry": registry, "repository": repository("keda-admission-webhooks")},
        });
    }
    if spec.identity == KedaIdentity::Irsa {
        v["podIdentity"] = json!({"aws": {"irsa": {
            "enabled": true,
            "roleArn": role_arn,
            "stsRegionalEndpoints": "true",
        }}});
    }
    Ok(v)
}

/// The first executable `helm` on PATH.
pub fn find() -> Option<PathBuf> {
    which::which("helm").ok()
}

/// The helm to use, checked to be new enough; the error says what to do.
pub async fn locate() -> anyhow::Result<(PathBuf, String)> {
    let Some(helm) = find() else {
        bail!(
            "keda.installer is helm, but no `helm` was found on PATH. Install Helm {}.{} or later (https://helm.sh/docs/intro/install/), or set keda.installer: manifest",
            super::helm_cli::MIN_VERSION.0,
            super::helm_cli::MIN_VERSION.1
        );
    };
    let version = run(&helm, &["version", "--short"])
        .await?
        .trim()
        .to_string();
    super::helm_cli::check_version(&helm, &version)?;
    Ok((helm, version))
}

async fn run(helm: &Path, args: &[&str]) -> anyhow::Result<String> {
    super::helm_cli::run(helm, args, None).await
}

/// How helm reaches the cluster.
pub struct Access {
    pub kubeconfig: PathBuf,
    pub context: Option<String>,
}

impl Access {
    fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--kubeconfig".to_string(),
            self.kubeconfig.display().to_string(),
        ];
        if let Some(c) = &self.context {
            a.extend(["--kube-context".to_string(), c.clone()]);
        }
        a
    }
}

/// The release as helm reports it, if it exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub chart: String,
    pub status: String,
    pub revision: String,
    pub values: Value,
}

async fn run_with(
    helm: &Path,
    args: &[&str],
    access: &Access,
    cancel: Option<&Cancel>,
) -> anyhow::Result<String> {
    let extra = access.args();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(extra.iter().map(String::as_str));
    super::helm_cli::run(helm, &all, cancel).await
}

pub async fn release(helm: &Path, access: &Access) -> anyhow::Result<Option<Release>> {
    let filter = format!("^{RELEASE}$");
    let list = run_with(
        helm,
        &[
            "list",
            "--namespace",
            super::NAMESPACE,
            "--all",
            "--filter",
            &filter,
            "--output",
            "json",
        ],
        access,
        None,
    )
    .await?;
    let list: Vec<Value> =
        serde_json::from_str(&list).context("reading `helm list --output json`")?;
    let Some(r) = list.iter().find(|r| r["name"] == RELEASE) else {
        return Ok(None);
    };
    let values = run_with(
        helm,
        &[
            "get",
            "values",
            RELEASE,
            "--namespace",
            super::NAMESPACE,
            "--output",
            "json",
        ],
        access,
        None,
    )
    .await?;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    Ok(Some(Release {
        chart: text(&r["chart"]),
        status: text(&r["status"]),
        revision: text(&r["revision"]),
        values: serde_json::from_str(&values).context("reading `helm get values --output json`")?,
    }))
}

/// What `up` does to the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Install,
    Upgrade,
    None,
}

pub fn decide(current: Option<&Release>, version: &str, wanted: &Value) -> Action {
    match current {
        None => Action::Install,
        Some(r)
            if r.status == "deployed"
                && r.chart == format!("{CHART}-{version}")
                && &r.values == wanted =>
        {
            Action::None
        }
        Some(_) => Action::Upgrade,
    }
}

/// `helm upgrade --install` with the values written to a private file.
pub async fn install(
    helm: &Path,
    access: &Access,
    chart_version: &str,
    values: &Value,
    dir: &Path,
    cancel: &Cancel,
) -> anyhow::Result<()> {
    let file = dir.join("keda-values.yaml");
    crate::kube::kubeconfig::write_private(&file, &crate::kube::kubeconfig::yaml_11_safe(values)?)?;
    let file = file.display().to_string();
    run_with(
        helm,
        &[
            "upgrade",
            "--install",
            RELEASE,
            CHART,
            "--repo",
            CHART_REPO,
            "--version",
            chart_version,
            "--namespace",
            super::NAMESPACE,
            "--create-namespace",
            "--values",
            &file,
        ],
        access,
        Some(cancel),
    )
    .await
    .map(drop)
}

pub async fn uninstall(helm: &Path, access: &Access, cancel: &Cancel) -> anyhow::Result<()> {
    run_with(
        helm,
        &[
            "uninstall",
            RELEASE,
            "--namespace",
            super::NAMESPACE,
            "--wait",
        ],
        access,
        Some(cancel),
    )
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(identity: KedaIdentity, replicas: i32) -> KedaSpec {
        super::super::test_spec(identity, replicas, crate::spec::KedaInstaller::Helm)
    }

    #[test]
    fn irsa_values_carry_identity_replicas_spread_pdb_and_label() {
        let arn = "arn:aws:iam::123456789012:role/eksscale/eksscale-demo-keda-operator";
        let v = values(&spec(KedaIdentity::Irsa, 2), "demo", arn).unwrap();
        assert_eq!(v["operator"]["replicaCount"], 2);
        let irsa = &v["podIdentity"]["aws"]["irsa"];
        assert_eq!(irsa["enabled"], true);
        assert_eq!(irsa["roleArn"], arn);
        assert_eq!(irsa["stsRegionalEndpoints"], "true");
        for (key, app) in [
            ("operator", OPERATOR),
            ("metricsServer", METRICS_SERVER),
            ("webhooks", WEBHOOKS),
        ] {
            super::super::assert_zone_and_host_spread(
                &v["topologySpreadConstraints"][key],
                &json!({"matchLabels": {"app": app}}),
            );
        }
        assert_eq!(v["podDisruptionBudget"]["operator"]["minAvailable"], 1);
        assert_eq!(v["additionalLabels"]["eksscale.io/cluster"], "demo");
    }

    #[test]
    fn pod_identity_and_one_replica_leave_out_irsa_and_the_pdb() {
        let v = values(&spec(KedaIdentity::PodIdentity, 1), "demo", "unused").unwrap();
        assert!(v.get("podIdentity").is_none());
        assert!(v.get("podDisruptionBudget").is_none());
        assert_eq!(v["operator"]["replicaCount"], 1);
    }

    #[test]
    fn a_mirror_registry_sets_every_image() {
        let mut s = spec(KedaIdentity::Irsa, 2);
        assert!(values(&s, "demo", "arn").unwrap().get("image").is_none());
        s.image_registry = Some("registry.example.com/mirror/kedacore".into());
        let v = values(&s, "demo", "arn").unwrap();
        for (component, image) in [
            ("keda", "keda"),
            ("metricsApiServer", "keda-metrics-apiserver"),
            ("webhooks", "keda-admission-webhooks"),
        ] {
            assert_eq!(v["image"][component]["registry"], "registry.example.com");
            assert_eq!(
                v["image"][component]["repository"],
                format!("mirror/kedacore/{image}")
            );
        }
        s.image_registry = Some("registry.example.com".into());
        let v = values(&s, "demo", "arn").unwrap();
        assert_eq!(v["image"]["keda"]["repository"], "keda");
    }

    #[test]
    fn same_chart_and_values_change_nothing() {
        let wanted = json!({"operator": {"replicaCount": 2}});
        let r = Release {
            chart: "keda-2.20.2".into(),
            status: "deployed".into(),
            revision: "1".into(),
            values: wanted.clone(),
        };
        assert_eq!(decide(Some(&r), "2.20.2", &wanted), Action::None);
        assert_eq!(decide(None, "2.20.2", &wanted), Action::Install);
        let other = json!({"operator": {"replicaCount": 3}});
        assert_eq!(decide(Some(&r), "2.20.2", &other), Action::Upgrade);
        assert_eq!(decide(Some(&r), "2.20.3", &wanted), Action::Upgrade);
        let failed = Release {
            status: "failed".into(),
            ..r
        };
        assert_eq!(decide(Some(&failed), "2.20.2", &wanted), Action::Upgrade);
    }
}
