//! What eksscale knows about the outside world, in one place: the Kubernetes
//! versions EKS offers, the EKS add-ons it can install, the KEDA releases it has
//! been tested with, and typical AWS durations used for the modelled timeline.
//!
//! Validation reads these tables so that a bad version or add-on name is caught
//! before any AWS call. AWS remains the authority at run time (e.g. the add-on
//! version comes from `DescribeAddonVersions`).

pub mod instance_types;
pub mod prices;

/// Kubernetes minor versions eksscale accepts for `spec.kubernetesVersion`.
pub const KUBERNETES_VERSIONS: &[&str] = &["1.32", "1.33", "1.34", "1.35", "1.36"];

/// An EKS add-on eksscale knows how to order and wait for.
#[derive(Debug, Clone, Copy)]
pub struct AddonInfo {
    pub name: &'static str,
    /// Runs as a DaemonSet (or equivalent) and becomes ACTIVE without nodes; node
    /// groups wait for these, because pods on new nodes need them from the start.
    pub before_nodes: bool,
    /// The IRSA identity eksscale creates for the add-on, if it needs AWS permissions.
    pub irsa: Option<Irsa>,
    /// Deleting it from a running cluster would break it (pod networking, DNS,
    /// service routing): when it leaves the config, EKS stops managing it but its
    /// workloads keep running (`DeleteAddon` with `preserve`).
    pub core: bool,
}

/// An add-on's service account and the AWS managed policy its role gets.
#[derive(Debug, Clone, Copy)]
pub struct Irsa {
    pub namespace: &'static str,
    pub service_account: &'static str,
    /// Name after `arn:<partition>:iam::aws:policy/`.
    pub policy: &'static str,
}

pub const ADDONS: &[AddonInfo] = &[
    AddonInfo {
        name: "vpc-cni",
        before_nodes: true,
        irsa: Some(Irsa {
            namespace: "kube-system",
            service_account: "aws-node",
            policy: "AmazonEKS_CNI_Policy",
        }),
        core: true,
    },
    AddonInfo {
        name: "kube-proxy",
        before_nodes: true,
        irsa: None,
        core: true,
    },
    AddonInfo {
        name: "eks-pod-identity-agent",
        before_nodes: true,
        irsa: None,
        core: false,
    },
    AddonInfo {
        name: "coredns",
        before_nodes: false,
        irsa: None,
        core: true,
    },
    AddonInfo {
        name: "metrics-server",
        before_nodes: false,
        irsa: None,
        core: false,
    },
    // Without AWS permissions no volume is ever provisioned: the controller's
    // service account gets an IRSA role with AWS's policy for the driver
    // (EKS user guide, "Amazon EBS CSI driver" > "Step 1: Create an IAM role").
    AddonInfo {
        name: "aws-ebs-csi-driver",
        before_nodes: false,
        irsa: Some(Irsa {
            namespace: "kube-system",
            service_account: "ebs-csi-controller-sa",
            policy: "service-role/AmazonEBSCSIDriverPolicy",
        }),
        core: false,
    },
    AddonInfo {
        name: "snapshot-controller",
        before_nodes: false,
        irsa: None,
        core: false,
    },
    AddonInfo {
        name: "kube-state-metrics",
        before_nodes: false,
        irsa: None,
        core: false,
    },
    AddonInfo {
        name: "cert-manager",
        before_nodes: false,
        irsa: None,
        core: false,
    },
];

pub fn addon(name: &str) -> Option<&'static AddonInfo> {
    ADDONS.iter().find(|a| a.name == name)
}

/// The `configurationValues` eksscale sets on an add-on (EKS checks them
/// against the add-on's configuration schema, `DescribeAddonConfiguration`).
/// The EBS CSI driver tags every volume it creates with the cluster's
/// ownership tags (`controller.extraVolumeTags`, in that schema; by default
/// its volumes carry no cluster name), so `down` finds the volumes a claim
/// left behind even when the Kubernetes API is gone. Other add-ons: none,
/// and a user's own values are left alone.
pub fn addon_configuration(name: &str, cluster: &str, region: &str) -> Option<String> {
    use crate::aws::tags::{TAG_CLUSTER, TAG_REGION};
    (name == "aws-ebs-csi-driver").then(|| {
        let mut tags = serde_json::Map::new();
        tags.insert(TAG_CLUSTER.into(), cluster.into());
        tags.insert(TAG_REGION.into(), region.into());
        serde_json::json!({ "controller": { "extraVolumeTags": tags } }).to_string()
    })
}

/// A KEDA release eksscale can install, the Kubernetes versions KEDA tested
/// it on (KEDA's compatibility matrix), and what its release manifest
/// contains: every object (kind, namespace, name) and the images it runs. A
/// manifest (downloaded, cached or given in `keda.manifest`) with any other
/// object or image is refused before anything is applied: it is applied with
/// cluster-admin rights, so it is checked against this inventory, not trusted
/// on first use.
#[derive(Debug, Clone, Copy)]
pub struct KedaRelease {
    pub version: &'static str,
    pub kubernetes_min: &'static str,
    pub kubernetes_max: &'static str,
    /// (kind, namespace or "" for cluster-scoped, name).
    pub objects: &'static [(&'static str, &'static str, &'static str)],
    /// Image names under the registry (`<registry>/<name>:<version>`).
    pub images: &'static [&'static str],
    /// The registry the official manifest's images come from.
    pub registry: &'static str,
    /// The kedacore/keda Helm chart version that ships this KEDA (`None`:
    /// not known, so `keda.installer: helm` is refused for it). The chart's
    /// version has differed from its appVersion before (chart 2.8.2 shipped
    /// KEDA 2.8.1), so it is looked up, never assumed.
    pub chart_version: Option<&'static str>,
}

/// From `kubectl kustomize config/default` of kedacore/keda at v2.20.2 (the
/// recipe of KEDA's `make release`): 24 objects, 3 images.
const KEDA_2_20_2_OBJECTS: &[(&str, &str, &str)] = &[
    ("Namespace", "", "keda"),
    (
        "CustomResourceDefinition",
        "",
        "cloudeventsources.eventing.keda.sh",
    ),
    (
        "CustomResourceDefinition",
        "",
        "clustercloudeventsources.eventing.keda.sh",
    ),
    (
        "CustomResourceDefinition",
        "",
        "clustertriggerauthentications.keda.sh",
    ),
    ("CustomResourceDefinition", "", "scaledjobs.keda.sh"),
    ("CustomResourceDefinition", "", "scaledobjects.keda.sh"),
    (
        "CustomResourceDefinition",
        "",
        "triggerauthentications.keda.sh",
    ),
    ("ServiceAccount", "keda", "keda-operator"),
    ("Role", "keda", "keda-operator"),
    ("ClusterRole", "", "keda-external-metrics-reader"),
    ("ClusterRole", "", "keda-operator"),
    ("RoleBinding", "keda", "keda-operator"),
    ("RoleBinding", "kube-system", "keda-auth-reader"),
    (
        "ClusterRoleBinding",
        "",
        "keda-hpa-controller-external-metrics",
    ),
    ("ClusterRoleBinding", "", "keda-operator"),
    ("ClusterRoleBinding", "", "keda-system-auth-delegator"),
    ("Service", "keda", "keda-admission-webhooks"),
    ("Service", "keda", "keda-metrics-apiserver"),
    ("Service", "keda", "keda-operator"),
    ("Deployment", "keda", "keda-admission"),
    ("Deployment", "keda", "keda-metrics-apiserver"),
    ("Deployment", "keda", "keda-operator"),
    ("APIService", "", "v1beta1.external.metrics.k8s.io"),
    ("ValidatingWebhookConfiguration", "", "keda-admission"),
];

pub const KEDA_RELEASES: &[KedaRelease] = &[KedaRelease {
    version: "2.20.2",
    kubernetes_min: "1.33",
    kubernetes_max: "1.35",
    objects: KEDA_2_20_2_OBJECTS,
    images: &["keda", "keda-metrics-apiserver", "keda-admission-webhooks"],
    registry: "ghcr.io/kedacore",
    // Chart keda-2.20.2.tgz (kedacore.github.io/charts) has appVersion 2.20.2:
    // public install guides pin "KEDA 2.20.2 (chart 2.20.2, appVersion
    // 2.20.2)" and `helm pull kedacore/keda --version 2.20.2`; the index
    // lists keda-2.20.1.tgz with appVersion 2.20.1. Check with `helm search
    // repo kedacore/keda --versions` when adding a release.
    chart_version: Some("2.20.2"),
}];

pub fn keda_release(version: &str) -> Option<&'static KedaRelease> {
    KEDA_RELEASES.iter().find(|r| r.version == version)
}

/// Samples shipped in `templates/samples/`.
pub const SAMPLES: &[&str] = &["sqs-consumer", "cron-scaler", "cpu-scaler"];

/// Compares "1.33"-style versions numerically.
pub fn minor_of(version: &str) -> Option<(u32, u32)> {
    let (a, b) = version.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Closest candidate for a "did you mean" hint (small edit distance).
pub fn suggest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(input, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            suggest("vpc-nci", ADDONS.iter().map(|a| a.name)),
            Some("vpc-cni")
        );
        assert_eq!(
            suggest("corends", ADDONS.iter().map(|a| a.name)),
            Some("coredns")
        );
        assert_eq!(suggest("postgres", ADDONS.iter().map(|a| a.name)), None);
    }

    #[test]
    fn minor_versions_compare_numerically() {
        assert!(minor_of("1.9").unwrap() < minor_of("1.10").unwrap());
        assert_eq!(minor_of("1.x"), None);
    }
}
