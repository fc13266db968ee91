//! Kubernetes objects as eksscale handles them: parsed from manifests, given
//! step ids, ordered into apply and delete phases, and labelled as eksscale's.

use anyhow::Context;
use kube::core::GroupVersionKind;
use serde_json::Value;

pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_CLUSTER: &str = "eksscale.io/cluster";
/// The cluster's full name, when the label had to be shortened.
pub const ANNOTATION_CLUSTER: &str = "eksscale.io/cluster-name";
/// A hash of the content eksscale last applied, so an unchanged object is
/// not sent again (a no-op `up` makes no Kubernetes write).
pub const ANNOTATION_APPLIED: &str = "eksscale.io/applied-hash";

/// The `eksscale.io/cluster` label value for a cluster: the name when it is
/// a valid label value, else a shortened form with a hash of the name.
/// EKS names allow 100 characters and may end with `-` or `_`; Kubernetes
/// label values allow 63 and must begin and end with a letter or digit
/// (apimachinery `IsValidLabelValue`), so a long name would make every apply
/// fail minutes into `up`.
pub fn cluster_label(cluster: &str) -> String {
    let valid = cluster.len() <= 63
        && cluster
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && cluster
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if valid {
        return cluster.to_string();
    }
    let hash = crate::spec::short_hash(cluster);
    let head: String = cluster.chars().take(63 - 1 - hash.len()).collect();
    format!("{head}-{hash}")
}

/// Apply order: CustomResourceDefinitions and Namespaces first (each CRD
/// waited for until Established), then everything else, then APIServices and
/// webhook configurations (a webhook registered before its server is ready
/// would block the other applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApplyPhase {
    Foundations,
    Objects,
    Registrations,
}

/// Delete order, first to last: KEDA scaled objects (their HPAs go with them),
/// webhooks and APIServices, everything else, Namespaces, CRDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeletePhase {
    ScaledObjects,
    Registrations,
    Objects,
    Namespaces,
    Definitions,
}

/// One object to apply, as parsed from a manifest.
#[derive(Debug, Clone)]
pub struct Object {
    pub value: Value,
    pub gvk: GroupVersionKind,
    pub name: String,
    pub namespace: Option<String>,
}

impl Object {
    pub fn from_value(value: Value) -> anyhow::Result<Self> {
        let api_version = value["apiVersion"]
            .as_str()
            .context("object without apiVersion")?;
        let kind = value["kind"].as_str().context("object without kind")?;
        let name = value["metadata"]["name"]
            .as_str()
            .with_context(|| format!("{kind} without metadata.name"))?
            .to_string();
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        let namespace = value["metadata"]["namespace"].as_str().map(str::to_string);
        Ok(Self {
            gvk: GroupVersionKind::gvk(&group, &version, kind),
            value,
            name,
            namespace,
        })
    }

    pub fn kind(&self) -> &str {
        &self.gvk.kind
    }

    /// Step id: `k8s/<Kind>/<namespace>/<name>` or `k8s/<Kind>/<name>`.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("k8s/{}/{ns}/{}", self.gvk.kind, self.name),
            None => format!("k8s/{}/{}", self.gvk.kind, self.name),
        }
    }

    /// When it is applied relative to the other objects.
    pub fn apply_phase(&self) -> ApplyPhase {
        match self.kind() {
            "CustomResourceDefinition" | "Namespace" => ApplyPhase::Foundations,
            "APIService" | "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => {
                ApplyPhase::Registrations
            }
            _ => ApplyPhase::Objects,
        }
    }

    /// When it is deleted relative to the other objects.
    pub fn delete_phase(&self) -> DeletePhase {
        match self.kind() {
            "ScaledObject"
            | "ScaledJob"
            | "TriggerAuthentication"
            | "ClusterTriggerAuthentication"
            | "CloudEventSource"
            | "ClusterCloudEventSource" => DeletePhase::ScaledObjects,
            "APIService" | "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => {
                DeletePhase::Registrations
            }
            "Namespace" => DeletePhase::Namespaces,
            "CustomResourceDefinition" => DeletePhase::Definitions,
            _ => DeletePhase::Objects,
        }
    }
}

/// Parses a multi-document YAML stream (lists are flattened, empty documents skipped).
pub fn parse_manifests(text: &str) -> anyhow::Result<Vec<Object>> {
    let docs: Vec<Value> =
        serde_saphyr::from_str_multiple(text).context("the manifest is not valid YAML")?;
    let mut out = Vec::new();
    for doc in docs {
        if doc.is_null() {
            continue;
        }
        if doc["kind"].as_str().is_some_and(|k| k.ends_with("List"))
            && let Some(items) = doc["items"].as_array()
        {
            for item in items {
                out.push(Object::from_value(item.clone())?);
            }
            continue;
        }
        out.push(Object::from_value(doc)?);
    }
    Ok(out)
}

/// An object with eksscale's labels (`managed-by` and the cluster).
pub fn labelled(value: &Value, cluster: &str) -> Value {
    let mut v = value.clone();
    if let Some(meta) = v["metadata"].as_object_mut() {
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if !labels.is_object() {
            *labels = Value::Object(Default::default());
        }
        labels[LABEL_MANAGED_BY] = Value::String("eksscale".into());
        let label = cluster_label(cluster);
        let shortened = label != cluster;
        labels[LABEL_CLUSTER] = Value::String(label);
        if shortened {
            let ann = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Default::default()));
            if !ann.is_object() {
                *ann = Value::Object(Default::default());
            }
            ann[ANNOTATION_CLUSTER] = Value::String(cluster.to_string());
        }
    }
    v
}

/// The object as eksscale applies it: labelled, with the hash of that
/// content in an annotation.
pub fn with_applied_hash(mut v: Value) -> (Value, String) {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(serde_json::to_vec(&v).unwrap_or_default());
    let hash = hex::encode(&digest[..16]);
    if let Some(meta) = v["metadata"].as_object_mut() {
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if !ann.is_object() {
            *ann = Value::Object(Default::default());
        }
        ann[ANNOTATION_APPLIED] = Value::String(hash.clone());
    }
    (v, hash)
}

/// Whether every field of `want` has the same value in `live` (the server's
/// copy, with defaults and other managers' fields added). Lists must have the
/// same length, element by element; an empty or null value in `want` matches
/// an absent one. `status` is the server's and ignored. A difference means
/// someone changed what eksscale applied (drift), so it is applied again.
pub fn is_subset(want: &Value, live: &Value) -> bool {
    fn sub(want: &Value, live: &Value) -> bool {
        match want {
            Value::Null => true,
            Value::Object(m) if m.is_empty() => live.is_null() || live.is_object(),
            Value::Object(m) => {
                live.is_object()
                    && m.iter()
                        .all(|(k, w)| sub(w, live.get(k).unwrap_or(&Value::Null)))
            }
            Value::Array(a) if a.is_empty() => {
                live.is_null() || live.as_array().is_some_and(Vec::is_empty)
            }
            Value::Array(a) => live
                .as_array()
                .is_some_and(|l| l.len() == a.len() && a.iter().zip(l).all(|(w, l)| sub(w, l))),
            _ => want == live,
        }
    }
    match want.as_object() {
        Some(m) => m
            .iter()
            .filter(|(k, _)| k.as_str() != "status")
            .all(|(k, w)| sub(w, live.get(k).unwrap_or(&Value::Null))),
        None => sub(want, live),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_ignores_defaults_and_status_but_sees_changed_fields() {
        let want = serde_json::json!({
            "metadata": {"name": "a", "labels": {"x": "1"}, "creationTimestamp": null},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}], "volumes": []}}},
            "status": {}
        });
        let mut live = serde_json::json!({
            "metadata": {"name": "a", "labels": {"x": "1", "y": "2"}, "uid": "u"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i:1", "imagePullPolicy": "IfNotPresent"}]}}},
            "status": {"replicas": 2}
        });
        assert!(is_subset(&want, &live));
        live["spec"]["template"]["spec"]["containers"][0]["image"] = "i:2".into();
        assert!(!is_subset(&want, &live));
        live["spec"]["template"]["spec"]["containers"][0]["image"] = "i:1".into();
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"name": "sidecar"}));
        assert!(!is_subset(&want, &live), "an added list element is drift");
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .pop();
        live["metadata"]["labels"]["x"] = "changed".into();
        assert!(!is_subset(&want, &live));
    }

    #[test]
    fn the_applied_hash_follows_the_content() {
        let a = serde_json::json!({"metadata": {"name": "a"}, "data": {"k": "1"}});
        let b = serde_json::json!({"metadata": {"name": "a"}, "data": {"k": "2"}});
        let (va, ha) = with_applied_hash(a.clone());
        assert_eq!(
            va["metadata"]["annotations"][ANNOTATION_APPLIED],
            ha.as_str()
        );
        assert_eq!(with_applied_hash(a).1, ha);
        assert_ne!(with_applied_hash(b).1, ha);
    }

    #[test]
    fn cluster_labels_are_always_valid_label_values() {
        assert_eq!(cluster_label("demo"), "demo");
        let long = format!("{}-", "a".repeat(99));
        for name in [long.as_str(), "demo_", "x-", &"b".repeat(64)] {
            let l = cluster_label(name);
            assert!(l.len() <= 63, "{l}");
            assert!(l.chars().last().unwrap().is_ascii_alphanumeric(), "{l}");
            assert!(
                l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{l}"
            );
        }
        assert_ne!(
            cluster_label(&format!("{}1", "a".repeat(99))),
            cluster_label(&long)
        );
        let v = labelled(&serde_json::json!({"metadata": {"name": "x"}}), &long);
        assert_eq!(
            v["metadata"]["annotations"][ANNOTATION_CLUSTER],
            long.as_str()
        );
    }
}
