//! The on-disk shape of `eksscale.yaml`, exactly as a user writes it.
//!
//! These types only describe syntax and defaults: every struct rejects unknown
//! fields (a typo must never be silently ignored) and every field has a
//! documented default. Meaning is checked later in `validate.rs`, which turns
//! a [`ConfigFile`] into a resolved [`crate::spec::Spec`].

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

pub use crate::spec::{
    AmiType, CapacityType, KedaIdentity, KedaInstaller, LogType, NatMode, SupportType, TaintEffect,
};

pub const API_VERSION: &str = "eksscale.io/v1alpha1";
pub const KIND: &str = "Cluster";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigFile {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: SpecFile,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    /// Falls back to the AWS SDK chain (`AWS_REGION`, profile) when absent.
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpecFile {
    #[serde(default = "default_kubernetes_version")]
    pub kubernetes_version: String,
    #[serde(default)]
    pub support_type: SupportType,
    #[serde(default)]
    pub vpc: VpcFile,
    #[serde(default)]
    pub endpoint: EndpointFile,
    #[serde(default = "default_logging")]
    pub logging: Vec<LogType>,
    #[serde(default)]
    pub access: AccessFile,
    #[serde(default)]
    pub iam: IamFile,
    #[serde(default = "default_addons")]
    pub addons: Vec<String>,
    #[serde(default = "default_node_groups")]
    pub node_groups: Vec<NodeGroupFile>,
    #[serde(default)]
    pub keda: KedaFile,
    #[serde(default = "default_samples")]
    pub samples: Vec<String>,
    /// A directory of the user's own sample templates (same layout as
    /// templates/samples), relative to the config file.
    #[serde(default)]
    pub templates_dir: Option<String>,
    #[serde(default)]
    pub ttl: Option<String>,
}

impl Default for SpecFile {
    fn default() -> Self {
        Self {
            kubernetes_version: default_kubernetes_version(),
            support_type: SupportType::default(),
            vpc: VpcFile::default(),
            endpoint: EndpointFile::default(),
            logging: default_logging(),
            access: AccessFile::default(),
            iam: IamFile::default(),
            addons: default_addons(),
            node_groups: default_node_groups(),
            keda: KedaFile::default(),
            samples: default_samples(),
            templates_dir: None,
            ttl: None,
        }
    }
}

pub const DEFAULT_KUBERNETES_VERSION: &str = "1.35";
fn default_kubernetes_version() -> String {
    DEFAULT_KUBERNETES_VERSION.to_string()
}
fn default_logging() -> Vec<LogType> {
    vec![LogType::Api, LogType::Audit, LogType::Authenticator]
}
pub const DEFAULT_ADDONS: [&str; 5] = [
    "vpc-cni",
    "coredns",
    "kube-proxy",
    "eks-pod-identity-agent",
    "metrics-server",
];
fn default_addons() -> Vec<String> {
    DEFAULT_ADDONS.iter().map(|s| s.to_string()).collect()
}
pub const DEFAULT_SAMPLES: [&str; 3] = ["sqs-consumer", "cron-scaler", "cpu-scaler"];
fn default_samples() -> Vec<String> {
    DEFAULT_SAMPLES.iter().map(|s| s.to_string()).collect()
}
fn default_node_groups() -> Vec<NodeGroupFile> {
    vec![NodeGroupFile::named("general")]
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VpcFile {
    #[serde(default = "default_cidr")]
    pub cidr: String,
    #[serde(default)]
    pub zones: Zones,
    #[serde(default)]
    pub nat_gateway: NatMode,
}

impl Default for VpcFile {
    fn default() -> Self {
        Self {
            cidr: default_cidr(),
            zones: Zones::default(),
            nat_gateway: NatMode::default(),
        }
    }
}
fn default_cidr() -> String {
    "10.0.0.0/16".to_string()
}

/// `zones: 3` or `zones: [us-west-2a, us-west-2b]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Zones {
    Count(i64),
    Names(Vec<String>),
}

impl Default for Zones {
    fn default() -> Self {
        Zones::Count(3)
    }
}

impl<'de> Deserialize<'de> for Zones {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ZonesVisitor;
        impl<'de> Visitor<'de> for ZonesVisitor {
            type Value = Zones;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a zone count such as 3, or a list of zone names such as [us-west-2a, us-west-2b]")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Zones, E> {
                Ok(Zones::Count(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Zones, E> {
                Ok(Zones::Count(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Zones, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<String>()? {
                    names.push(n);
                }
                Ok(Zones::Names(names))
            }
        }
        d.deserialize_any(ZonesVisitor)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointFile {
    #[serde(default = "yes")]
    pub public: bool,
    #[serde(default = "yes")]
    pub private: bool,
    #[serde(default = "default_public_cidrs")]
    pub public_access_cidrs: Vec<String>,
}

impl Default for EndpointFile {
    fn default() -> Self {
        Self {
            public: true,
            private: true,
            public_access_cidrs: default_public_cidrs(),
        }
    }
}
fn yes() -> bool {
    true
}
fn default_public_cidrs() -> Vec<String> {
    vec!["0.0.0.0/0".to_string()]
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IamFile {
    /// A managed policy ARN set as the permissions boundary of every role.
    #[serde(default)]
    pub permissions_boundary: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccessFile {
    #[serde(default = "yes")]
    pub bootstrap_creator_admin: bool,
    #[serde(default)]
    pub admins: Vec<String>,
}

impl Default for AccessFile {
    fn default() -> Self {
        Self {
            bootstrap_creator_admin: true,
            admins: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeGroupFile {
    pub name: String,
    #[serde(default = "default_instance_types")]
    pub instance_types: Vec<String>,
    /// Default: chosen from the instance types (architecture, GPU).
    #[serde(default)]
    pub ami_type: Option<AmiType>,
    #[serde(default)]
    pub capacity_type: CapacityType,
    #[serde(default = "default_min")]
    pub min_size: i64,
    #[serde(default = "default_desired")]
    pub desired_size: i64,
    #[serde(default = "default_max")]
    pub max_size: i64,
    #[serde(default)]
    pub per_zone: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<TaintFile>,
    /// GiB of the node's encrypted gp3 volume.
    #[serde(default = "default_volume_size")]
    pub volume_size: i64,
}

impl NodeGroupFile {
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_string(),
            instance_types: default_instance_types(),
            ami_type: None,
            capacity_type: CapacityType::OnDemand,
            min_size: default_min(),
            desired_size: default_desired(),
            max_size: default_max(),
            per_zone: false,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            volume_size: default_volume_size(),
        }
    }
}
fn default_volume_size() -> i64 {
    20
}
fn default_instance_types() -> Vec<String> {
    vec!["m6i.large".to_string()]
}
fn default_min() -> i64 {
    2
}
fn default_desired() -> i64 {
    3
}
fn default_max() -> i64 {
    6
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TaintFile {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KedaFile {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_keda_version")]
    pub version: String,
    #[serde(default)]
    pub identity: KedaIdentity,
    #[serde(default = "default_operator_replicas")]
    pub operator_replicas: i64,
    #[serde(default)]
    pub manifest: Option<String>,
    /// sha256 of `manifest` (required when it is a URL).
    #[serde(default)]
    pub manifest_sha256: Option<String>,
    /// A mirror of `ghcr.io/kedacore` the manifest's images come from.
    #[serde(default)]
    pub image_registry: Option<String>,
    #[serde(default)]
    pub installer: KedaInstaller,
}

impl Default for KedaFile {
    fn default() -> Self {
        Self {
            enabled: true,
            version: default_keda_version(),
            identity: KedaIdentity::default(),
            operator_replicas: default_operator_replicas(),
            manifest: None,
            manifest_sha256: None,
            image_registry: None,
            installer: KedaInstaller::default(),
        }
    }
}
pub const DEFAULT_KEDA_VERSION: &str = "2.20.2";
fn default_keda_version() -> String {
    DEFAULT_KEDA_VERSION.to_string()
}
fn default_operator_replicas() -> i64 {
    2
}
