"""What the KEDA operator does for a ScaledObject: own an HPA `keda-hpa-<name>` and report status."""

from __future__ import annotations

from typing import Any

from status import World, condition
from store import Record

GROUP, PLURAL, KIND = "keda.sh", "scaledobjects", "ScaledObject"
OPERATOR = "keda-operator"
# KEDA's controllers all use the one finalizer name: scaledObjectFinalizer, scaledJobFinalizer
# (controllers/keda/scaled{object,job}_finalizer.go), authenticationFinalizer for TriggerAuthentication and
# ClusterTriggerAuthentication (controllers/keda/util/finalizer.go) and cloudEventSourceFinalizer for
# CloudEventSource and ClusterCloudEventSource (controllers/eventing/finalizer.go).
FINALIZER = "finalizer.keda.sh"
FINALIZED = (("keda.sh", "scaledobjects"), ("keda.sh", "scaledjobs"), ("keda.sh", "triggerauthentications"),
             ("keda.sh", "clustertriggerauthentications"), ("eventing.keda.sh", "cloudeventsources"),
             ("eventing.keda.sh", "clustercloudeventsources"))
HPA_API_VERSION = "autoscaling/v2"
DEFAULT_MAX_REPLICAS = 100


def hpa_name(scaled_object: dict[str, Any]) -> str:
    return f"keda-hpa-{scaled_object['metadata']['name']}"


def _target(scaled_object: dict[str, Any]) -> dict[str, str]:
    reference = scaled_object.get("spec", {}).get("scaleTargetRef", {})
    return {"apiVersion": reference.get("apiVersion") or "apps/v1", "kind": reference.get("kind") or "Deployment",
            "name": reference.get("name", "")}


def _metric_names(scaled_object: dict[str, Any]) -> list[str]:
    return [f"s{index}-{trigger.get('type', '')}"
            for index, trigger in enumerate(scaled_object.get("spec", {}).get("triggers", []))]


def desired_hpa(scaled_object: dict[str, Any]) -> dict[str, Any]:
    """The HorizontalPodAutoscaler KEDA keeps for the ScaledObject (one External metric per trigger)."""
    metadata, spec = scaled_object["metadata"], scaled_object.get("spec", {})
    name = metadata["name"]
    labels = {**(metadata.get("labels") or {}), "app.kubernetes.io/managed-by": OPERATOR,
              "app.kubernetes.io/name": hpa_name(scaled_object), "app.kubernetes.io/part-of": name,
              "scaledobject.keda.sh/name": name}
    hpa_spec: dict[str, Any] = {
        "scaleTargetRef": _target(scaled_object),
        "minReplicas": max(int(spec.get("minReplicaCount", 0)), 1),
        "maxReplicas": int(spec.get("maxReplicaCount", DEFAULT_MAX_REPLICAS)),
        "metrics": [{"type": "External", "external": {
            "metric": {"name": metric, "selector": {"matchLabels": {"scaledobject.keda.sh/name": name}}},
            "target": {"type": "AverageValue", "averageValue": "1"}}} for metric in _metric_names(scaled_object)],
    }
    behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
    if behavior:
        hpa_spec["behavior"] = behavior
    return {
        "apiVersion": HPA_API_VERSION,
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": hpa_name(scaled_object),
            "namespace": metadata["namespace"],
            "labels": labels,
            "ownerReferences": [{"apiVersion": scaled_object["apiVersion"], "kind": KIND, "name": name,
                                 "uid": metadata["uid"], "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": hpa_spec,
    }


def scaledobject_status(record: Record, world: World) -> dict[str, Any]:
    obj = record.obj
    target = _target(obj)
    target_type = world.registry.find_kind(target["apiVersion"], target["kind"])
    target_exists = target_type is not None and world.registry.store.get(
        world.registry.key(target_type, obj["metadata"]["namespace"], target["name"])) is not None
    if target_exists:  # KEDA's conditions carry no timestamps
        ready = condition("Ready", True, "ScaledObjectReady",
                          "ScaledObject is defined correctly and is ready for scaling", None)
    else:
        ready = condition("Ready", False, "ScaledObjectCheckFailed",
                          "ScaledObject doesn't have correct scaleTargetRef specification", None)
    status: dict[str, Any] = {
        "conditions": [
            ready,
            condition("Active", False, "ScalerNotActive", "Scaling is not performed because triggers are not active",
                      None),
            condition("Fallback", False, "NoFallbackFound", "No fallbacks are active on this scaled object", None),
        ],
        "hpaName": hpa_name(obj),
        "externalMetricNames": _metric_names(obj),
        "triggersTypes": ",".join(t.get("type", "") for t in obj.get("spec", {}).get("triggers", [])),
    }
    if target_type is not None:
        status["scaleTargetKind"] = f"{target['apiVersion']}.{target['kind']}"
        status["scaleTargetGVKR"] = {"group": target_type.group, "version": target_type.version,
                                     "kind": target_type.kind, "resource": target_type.plural}
    return status
