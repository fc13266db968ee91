//! Every rule a config must satisfy, checked before any AWS call.
//!
//! Each broken rule becomes a [`Problem`] anchored at a YAML path; the loader
//! turns paths into `file:line:column`. All problems are collected (not just
//! the first), so one run shows everything to fix.

use std::collections::BTreeSet;

mod duration;
mod names;
mod network;
mod nodegroups;

pub use duration::{parse_duration, parse_ttl};
pub use names::{is_eks_name, is_region};

use super::schema::{API_VERSION, ConfigFile, KIND, KedaIdentity, KedaInstaller, NatMode};
use crate::catalog::{self, ADDONS, KEDA_RELEASES, KUBERNETES_VERSIONS, SAMPLES};
use crate::spec::{AccessSpec, EndpointSpec, KedaSpec, Spec, VpcSpec};
use names::{check_cluster_name, check_region, check_tags, clamp_i32, is_principal_arn};

/// One broken rule, at a path such as `spec.nodeGroups[0].minSize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

/// Something legal but probably unintended; printed, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: String,
    pub message: String,
}

#[derive(Default)]
pub(super) struct Checker {
    problems: Vec<Problem>,
    warnings: Vec<Warning>,
}

impl Checker {
    /// A problem at `path`; the message names the full path first (as
    /// `spec.nodeGroups[0].desiredSize: ...`) unless it already does.
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let (path, message) = (path.into(), message.into());
        let message = if message.starts_with(&path) {
            message
        } else {
            format!("{path}: {message}")
        };
        self.problems.push(Problem { path, message });
    }
    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Maximum length of an EKS cluster name.
pub const CLUSTER_NAME_MAX: usize = 100;
/// Maximum length of an EKS managed node group name.
pub const NODEGROUP_NAME_MAX: usize = 63;
/// EC2 allows 50 tags per resource; eksscale uses up to 8 of its own.
pub const USER_TAGS_MAX: usize = 40;

/// A usable spec with its warnings, or every problem (with the warnings).
pub type Validated = Result<(Spec, Vec<Warning>), (Vec<Problem>, Vec<Warning>)>;

/// Validates a parsed file. `region_fallback` is the region from the AWS SDK
/// chain (`AWS_REGION`, profile), used when `metadata.region` is absent.
pub fn validate(file: &ConfigFile, region_fallback: Option<String>) -> Validated {
    let mut c = Checker::default();

    if file.api_version != API_VERSION {
        c.err(
            "apiVersion",
            format!(
                "apiVersion must be {API_VERSION:?}, got {:?}",
                file.api_version
            ),
        );
    }
    if file.kind != KIND {
        c.err(
            "kind",
            format!("kind must be {KIND:?}, got {:?}", file.kind),
        );
    }

    let name = file.metadata.name.clone();
    check_cluster_name(&mut c, &name);

    let region = match (&file.metadata.region, region_fallback) {
        (Some(r), _) => {
            check_region(&mut c, "metadata.region", r);
            r.clone()
        }
        (None, Some(r)) => {
            check_region(&mut c, "metadata.region", &r);
            r
        }
        (None, None) => {
            c.err(
                "metadata.region",
                "metadata.region is not set and no region was found in AWS_REGION, AWS_DEFAULT_REGION or the AWS profile; add `region: us-west-2` (for example) under metadata",
            );
            String::new()
        }
    };

    check_tags(&mut c, &file.metadata.tags);

    let s = &file.spec;
    if !KUBERNETES_VERSIONS.contains(&s.kubernetes_version.as_str()) {
        c.err(
            "spec.kubernetesVersion",
            format!(
                "spec.kubernetesVersion {:?} is not a version eksscale supports; use one of {}",
                s.kubernetes_version,
                KUBERNETES_VERSIONS.join(", ")
            ),
        );
    }
    let (cidr, zones) = network::vpc(&mut c, s, &region);
    let ep = &s.endpoint;
    network::endpoint(&mut c, ep);

    // --- Logging -------------------------------------------------------------
    let mut logging = s.logging.clone();
    let before = logging.len();
    logging.sort();
    logging.dedup();
    if logging.len() != before {
        c.err("spec.logging", "spec.logging lists a log type twice");
    }

    // --- Access ----------------------------------------------------------------
    let mut admins_seen = BTreeSet::new();
    for (i, arn) in s.access.admins.iter().enumerate() {
        let path = format!("spec.access.admins[{i}]");
        if !is_principal_arn(arn) {
            c.err(
                &path,
                format!("{arn:?} is not an IAM role or user ARN such as arn:aws:iam::123456789012:role/Admin"),
            );
        } else if !admins_seen.insert(arn) {
            c.err(
                &path,
                format!("{arn:?} is listed twice in spec.access.admins"),
            );
        }
    }
    if !s.access.bootstrap_creator_admin && s.access.admins.is_empty() {
        c.warn(
            "spec.access",
            "bootstrapCreatorAdmin is false and no admins are listed: nobody will be able to use the Kubernetes API, and eksscale cannot install KEDA",
        );
    }

    if let Some(b) = &s.iam.permissions_boundary
        && !names::is_policy_arn(b)
    {
        c.err(
            "spec.iam.permissionsBoundary",
            format!("spec.iam.permissionsBoundary {b:?} is not a managed policy ARN such as arn:aws:iam::123456789012:policy/Boundary"),
        );
    }

    // --- Add-ons -----------------------------------------------------------------
    let mut addons_seen = BTreeSet::new();
    for (i, a) in s.addons.iter().enumerate() {
        let path = format!("spec.addons[{i}]");
        if catalog::addon(a).is_none() {
            let hint = catalog::suggest(a, ADDONS.iter().map(|x| x.name))
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_else(|| {
                    format!(
                        "; known add-ons: {}",
                        ADDONS.iter().map(|x| x.name).collect::<Vec<_>>().join(", ")
                    )
                });
            c.err(
                &path,
                format!("{a:?} is not an EKS add-on eksscale knows{hint}"),
            );
        } else if !addons_seen.insert(a) {
            c.err(&path, format!("add-on {a:?} is listed twice"));
        }
    }
    if !s.addons.iter().any(|a| a == "vpc-cni") {
        c.err(
            "spec.addons",
            "spec.addons must include vpc-cni: without it EKS bootstraps a self-managed aws-node that runs with the node role, which has no CNI permissions, so nodes stay NotReady and the node groups fail (eksscale gives vpc-cni its own IRSA role)",
        );
    }

    // --- Node groups -------------------------------------------------------------
    let node_groups = nodegroups::check(&mut c, s, &zones, &region);
    if s.vpc.nat_gateway == NatMode::None {
        c.warn(
            "spec.vpc.natGateway",
            "natGateway: none puts node groups in the public subnets (nodes get public IPs; no inbound traffic is allowed by default)",
        );
    }

    // --- KEDA ------------------------------------------------------------------
    let k = &s.keda;
    match catalog::keda_release(&k.version) {
        None => c.err(
            "spec.keda.version",
            format!(
                "KEDA version {:?} is not one eksscale supports; use one of {}",
                k.version,
                KEDA_RELEASES
                    .iter()
                    .map(|r| r.version)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Some(r) => {
            if let (Some(v), Some(lo), Some(hi)) = (
                catalog::minor_of(&s.kubernetes_version),
                catalog::minor_of(r.kubernetes_min),
                catalog::minor_of(r.kubernetes_max),
            ) && k.enabled
                && (v < lo || v > hi)
            {
                c.warn(
                    "spec.keda.version",
                    format!(
                        "KEDA {} is tested on Kubernetes {}-{}; the cluster runs {}",
                        r.version, r.kubernetes_min, r.kubernetes_max, s.kubernetes_version
                    ),
                );
            }
        }
    }
    if !(1..=10).contains(&k.operator_replicas) {
        c.err(
            "spec.keda.operatorReplicas",
            format!(
                "operatorReplicas must be between 1 and 10, got {} (2 gives a warm standby)",
                k.operator_replicas
            ),
        );
    }
    if k.enabled
        && k.identity == KedaIdentity::PodIdentity
        && !s.addons.iter().any(|a| a == "eks-pod-identity-agent")
    {
        c.err(
            "spec.keda.identity",
            "keda.identity is podIdentity but the eks-pod-identity-agent add-on is not in spec.addons; add it, or use identity: irsa",
        );
    }
    if let Some(m) = &k.manifest {
        if m.trim().is_empty() {
            c.err(
                "spec.keda.manifest",
                "keda.manifest is empty; give a local path or an https:// URL, or remove it",
            );
        } else if m.starts_with("http://") {
            c.err(
                "spec.keda.manifest",
                "keda.manifest is an http:// URL: the manifest is applied with cluster-admin rights, so it must come over https:// (with keda.manifestSha256) or from a local file",
            );
        } else if m.starts_with("https://") && k.manifest_sha256.is_none() {
            c.err(
                "spec.keda.manifestSha256",
                "keda.manifest is a URL: set keda.manifestSha256 to the sha256 of the file you expect (`sha256sum keda-<version>.yaml`), so a changed download is refused",
            );
        }
    }
    if let Some(h) = &k.manifest_sha256
        && (h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()))
    {
        c.err(
            "spec.keda.manifestSha256",
            format!("keda.manifestSha256 {h:?} is not a sha256 (64 hexadecimal characters)"),
        );
    }
    if let Some(r) = &k.image_registry
        && (r.is_empty()
            || r.contains("://")
            || r.contains(char::is_whitespace)
            || r.contains(['@', ':'])
                && !r.split('/').next().is_some_and(|host| host.contains(':')))
    {
        c.err(
            "spec.keda.imageRegistry",
            format!("keda.imageRegistry {r:?} must be a registry and path such as registry.example.com/mirror/kedacore (no scheme, tag or digest)"),
        );
    }

    if k.installer == KedaInstaller::Helm && k.manifest.is_some() {
        c.err(
            "spec.keda.manifest",
            "keda.manifest is for installer: manifest; installer: helm installs the kedacore/keda chart of keda.version from https://kedacore.github.io/charts. Remove one of the two",
        );
    }

    // --- Samples ---------------------------------------------------------------
    let mut samples_seen = BTreeSet::new();
    for (i, name) in s.samples.iter().enumerate() {
        let path = format!("spec.samples[{i}]");
        // With templatesDir the names are checked when the directory is read
        // (before any AWS call): a user's own samples are valid names.
        if s.templates_dir.is_none() && !SAMPLES.contains(&name.as_str()) {
            let hint = catalog::suggest(name, SAMPLES.iter().copied())
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_else(|| format!("; available samples: {}", SAMPLES.join(", ")));
            c.err(&path, format!("sample {name:?} does not exist{hint}"));
        } else if !samples_seen.insert(name) {
            c.err(&path, format!("sample {name:?} is listed twice"));
        }
    }
    if s.templates_dir
        .as_deref()
        .is_some_and(|d| d.trim().is_empty())
    {
        c.err(
            "spec.templatesDir",
            "spec.templatesDir is empty; name a directory of sample templates (see docs/samples.md) or leave it out",
        );
    }
    if !s.samples.is_empty() && !k.enabled {
        c.err(
            "spec.samples",
            "the samples scale with KEDA, but spec.keda.enabled is false; enable KEDA or set samples: []",
        );
    }

    // --- TTL ---------------------------------------------------------------------
    let ttl = match &s.ttl {
        None => None,
        Some(t) => match parse_ttl(t) {
            Ok(d) => Some(d),
            Err(e) => {
                c.err(
                    "spec.ttl",
                    format!("ttl {t:?} is not a duration: {e}; write e.g. 8h, 90m or 2d"),
                );
                None
            }
        },
    };

    if !c.problems.is_empty() {
        return Err((c.problems, c.warnings));
    }
    let spec = Spec {
        name,
        region,
        tags: file.metadata.tags.clone(),
        kubernetes_version: s.kubernetes_version.clone(),
        vpc: VpcSpec {
            cidr: cidr.expect("checked above"),
            zones,
            nat: s.vpc.nat_gateway,
        },
        endpoint: EndpointSpec {
            public: ep.public,
            private: ep.private,
            public_access_cidrs: if ep.public {
                ep.public_access_cidrs.clone()
            } else {
                Vec::new()
            },
        },
        logging,
        access: AccessSpec {
            bootstrap_creator_admin: s.access.bootstrap_creator_admin,
            admins: s.access.admins.clone(),
        },
        permissions_boundary: s.iam.permissions_boundary.clone(),
        addons: s.addons.clone(),
        node_groups,
        keda: KedaSpec {
            enabled: k.enabled,
            version: k.version.clone(),
            identity: k.identity,
            operator_replicas: clamp_i32(k.operator_replicas),
            manifest: k.manifest.clone(),
            manifest_sha256: k.manifest_sha256.as_ref().map(|s| s.to_ascii_lowercase()),
            image_registry: k
                .image_registry
                .as_ref()
                .map(|r| r.trim_end_matches('/').to_string()),
            installer: k.installer,
        },
        samples: s.samples.clone(),
        templates_dir: s.templates_dir.clone(),
        ttl,
        support_type: s.support_type,
    };
    Ok((spec, c.warnings))
}
