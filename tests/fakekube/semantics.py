"""Checks the API server makes beyond the OpenAPI schema: names, labels, selectors, immutable fields."""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

import names
import labelselectors
from failures import FAIL_ANNOTATION, FAILURE_MODES
from fieldpaths import MISSING, Path, get_path, same
from schemas import FieldError

ANNOTATIONS_SIZE_LIMIT = 256 * 1024  # TotalAnnotationSizeLimitB
_RBAC = "rbac.authorization.k8s.io"
_NAME_RULES: dict[tuple[str, str], Callable[[str], list[str]]] = {
    ("", "Namespace"): names.dns1123_label,
    ("", "Service"): names.dns1035_label,
    (_RBAC, "Role"): names.path_segment_name,
    (_RBAC, "ClusterRole"): names.path_segment_name,
    (_RBAC, "RoleBinding"): names.path_segment_name,
    (_RBAC, "ClusterRoleBinding"): names.path_segment_name,
}
_WORKLOADS_WITH_SELECTOR = {("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"),
                            ("apps", "DaemonSet")}
_POD_TEMPLATE_KINDS = _WORKLOADS_WITH_SELECTOR | {("batch", "Job")}
_IMMUTABLE: dict[tuple[str, str], tuple[tuple[Path, str], ...]] = {
    **{k: ((("spec", "selector"), "field is immutable"),) for k in _WORKLOADS_WITH_SELECTOR},
    ("batch", "Job"): ((("spec", "selector"), "field is immutable"), (("spec", "template"), "field is immutable")),
    (_RBAC, "RoleBinding"): ((("roleRef",), "cannot change roleRef"),),
    (_RBAC, "ClusterRoleBinding"): ((("roleRef",), "cannot change roleRef"),),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): ((("spec", "group"), "field is immutable"),
                                                           (("spec", "scope"), "field is immutable")),
}


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _invalid(field: str, message: str) -> FieldError:
    return FieldError(field, "FieldValueInvalid", message)


def _expected_name(group: str, kind: str, obj: dict[str, Any]) -> str | None:
    spec = obj.get("spec") or {}
    if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        return f"{(spec.get('names') or {}).get('plural', '')}.{spec.get('group', '')}"
    if (group, kind) == ("apiregistration.k8s.io", "APIService"):
        return f"{spec.get('version', '')}.{spec.get('group', '')}"
    return None


def _check_name(group: str, kind: str, obj: dict[str, Any]) -> list[FieldError]:
    name = (obj.get("metadata") or {}).get("name")
    if not name:
        return [FieldError("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")]
    if not isinstance(name, str):
        return []  # the schema reports the type
    rule = _NAME_RULES.get((group, kind), names.dns1123_subdomain)
    errors = [_invalid("metadata.name", f'Invalid value: "{name}": {p}') for p in rule(name)]
    expected = _expected_name(group, kind, obj)
    if expected is not None and name != expected:
        errors.append(_invalid("metadata.name", f'Invalid value: "{name}": must be {expected}'))
    return errors


def go_json(value: Any) -> str:
    """How field.Error renders a complex bad value: Go's compact json.Marshal (k8s.io/apimachinery
    pkg/util/validation/field/errors.go, ErrorBody). Map keys sort; a LabelSelector keeps its struct order."""
    if isinstance(value, dict) and set(value) <= {"matchLabels", "matchExpressions"}:
        ordered = {k: value[k] for k in ("matchLabels", "matchExpressions") if value.get(k)}
        return "{" + ",".join(f"{json.dumps(k)}:{_selector_part(k, v)}" for k, v in ordered.items()) + "}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _selector_part(key: str, value: Any) -> str:
    if key == "matchLabels":
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return "[" + ",".join(json.dumps({k: e[k] for k in ("key", "operator", "values") if e.get(k) is not None},
                                     separators=(",", ":")) for e in value) + "]"


def _check_labels(field: str, labels: Any) -> list[FieldError]:
    """ValidateLabels (apimachinery pkg/apis/meta/v1/validation): key as a qualified name, value as a label."""
    errors = []
    for key, value in labels.items() if isinstance(labels, dict) else ():
        errors += [_invalid(field, f'Invalid value: "{key}": {p}') for p in names.qualified_name(key)]
        if isinstance(value, str):
            errors += [_invalid(field, f'Invalid value: "{value}": {p}') for p in names.label_value(value)]
    return errors


def _check_annotations(field: str, annotations: Any) -> list[FieldError]:
    """ValidateAnnotations (apimachinery pkg/api/validation/objectmeta.go): keys are qualified names once
    lower-cased, and keys plus values may total at most TotalAnnotationSizeLimitB (256 KiB) bytes."""
    if not isinstance(annotations, dict):
        return []
    errors = [_invalid(field, f'Invalid value: "{key}": {p}')
              for key in annotations for p in names.qualified_name(str(key).lower())]
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_SIZE_LIMIT:
        errors.append(FieldError(field, "FieldValueTooLong",
                                 f"Too long: may not be more than {ANNOTATIONS_SIZE_LIMIT} bytes"))
    return errors


def _check_metadata(prefix: str, metadata: Any) -> list[FieldError]:
    if not isinstance(metadata, dict):
        return []
    errors = _check_labels(f"{prefix}metadata.labels", metadata.get("labels"))
    errors += _check_annotations(f"{prefix}metadata.annotations", metadata.get("annotations"))
    failure = (metadata.get("annotations") or {}).get(FAIL_ANNOTATION)
    if failure is not None and failure not in FAILURE_MODES:
        errors.append(FieldError(f"{prefix}metadata.annotations", "FieldValueNotSupported",
                                 f'Unsupported value: "{failure}": {FAIL_ANNOTATION} must be one of '
                                 + ", ".join(FAILURE_MODES)))
    return errors


def _check_selector(kind: str, spec: dict[str, Any]) -> list[FieldError]:
    """ValidateDeploymentSpec and its siblings (pkg/apis/apps/validation/validation.go): a non-empty selector
    that selects the pod template's labels."""
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        return []
    try:
        requirements = labelselectors.from_label_selector(selector)
    except labelselectors.SelectorError as exc:
        return [_invalid("spec.selector", f"Invalid value: {go_json(selector)}: {exc}")]
    if not requirements:
        return [_invalid("spec.selector", f"Invalid value: {go_json(selector)}: empty selector is invalid for "
                                          f"{kind.lower()}")]
    labels = get_path(spec, ("template", "metadata", "labels"))
    if labels is MISSING or not labelselectors.matches(requirements, labels):
        shown = go_json(labels) if isinstance(labels, dict) else "null"
        return [_invalid("spec.template.metadata.labels",
                         f"Invalid value: {shown}: `selector` does not match template `labels`")]
    return []


def validate_object(obj: dict[str, Any]) -> list[FieldError]:
    """Semantic checks for an object as it would be stored."""
    group, kind = group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", ""))
    errors = _check_name(group, kind, obj) + _check_metadata("", obj.get("metadata"))
    finalizers = (obj.get("metadata") or {}).get("finalizers") or []
    for index, finalizer in enumerate(finalizers if isinstance(finalizers, list) else []):
        errors += [_invalid(f"metadata.finalizers[{index}]", f'Invalid value: "{finalizer}": {p}')
                   for p in names.qualified_name(str(finalizer))]
    spec = obj.get("spec")
    if (group, kind) in _POD_TEMPLATE_KINDS and isinstance(spec, dict):
        errors += _check_metadata("spec.template.", (spec.get("template") or {}).get("metadata"))
    if (group, kind) in _WORKLOADS_WITH_SELECTOR and isinstance(spec, dict):
        errors += _check_selector(kind, spec)
    return errors


# ValidatePodUpdate (pkg/apis/core/validation/validation.go); the real message goes on with a diff.
_POD_UPDATE_RULE = ("pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
                    "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                    "was previously negative)")


def _pod_spec_fixed(pod: dict[str, Any]) -> Any:
    """The part of a pod spec that may not change: all but images, deadlines and tolerations."""
    raw = pod.get("spec")
    spec: dict[str, Any] = copy.deepcopy(raw) if isinstance(raw, dict) else {}
    for field in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
        spec.pop(field, None)
    for containers in ("containers", "initContainers"):
        for container in spec.get(containers) or []:
            if isinstance(container, dict):
                container.pop("image", None)
    return spec


# ValidatePersistentVolumeClaimUpdate (pkg/apis/core/validation/validation.go); the real message goes on with a diff.
_PVC_UPDATE_RULE = ("spec is immutable after creation except resources.requests and volumeAttributesClassName for "
                    "bound claims")


def _claim_spec_fixed(old: dict[str, Any], new: dict[str, Any]) -> tuple[Any, Any]:
    """The parts of two PVC specs that may not differ: `volumeName` may be set once (by the binder), the
    requests and the VolumeAttributesClass may change."""
    specs = []
    for obj in (old, new):
        raw = obj.get("spec")
        spec: dict[str, Any] = copy.deepcopy(raw) if isinstance(raw, dict) else {}
        spec.pop("volumeAttributesClassName", None)
        if isinstance(spec.get("resources"), dict):
            spec["resources"].pop("requests", None)
        specs.append(spec)
    if not specs[0].get("volumeName"):
        specs[0].pop("volumeName", None)
        specs[1].pop("volumeName", None)
    return specs[0], specs[1]


def _load_balancer_class(service: dict[str, Any]) -> Any:
    spec = service.get("spec") if isinstance(service.get("spec"), dict) else {}
    return spec.get("type"), spec.get("loadBalancerClass")


def validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[FieldError]:
    """Fields that cannot change once the object exists."""
    group, kind = group_of(str(new.get("apiVersion", ""))), str(new.get("kind", ""))
    errors = []
    for path, message in _IMMUTABLE.get((group, kind), ()):
        if not same(get_path(old, path), get_path(new, path)):
            # ValidateImmutableField: field.Invalid(path, newValue, "field is immutable")
            value = get_path(new, path)
            shown = "null" if value is MISSING else (f'"{value}"' if isinstance(value, str) else go_json(value))
            errors.append(_invalid(".".join(path), f"Invalid value: {shown}: {message}"))
    if (group, kind) == ("", "Pod") and not same(_pod_spec_fixed(old), _pod_spec_fixed(new)):
        errors.append(FieldError("spec", "FieldValueForbidden", f"Forbidden: {_POD_UPDATE_RULE}"))
    if (group, kind) == ("", "PersistentVolumeClaim") and not same(*_claim_spec_fixed(old, new)):
        errors.append(FieldError("spec", "FieldValueForbidden", f"Forbidden: {_PVC_UPDATE_RULE}"))
    if (group, kind) == ("", "Service"):
        # validateLoadBalancerClassField: between two LoadBalancer Services the class may not change
        (old_type, old_class), (new_type, new_class) = _load_balancer_class(old), _load_balancer_class(new)
        if old_type == new_type == "LoadBalancer" and old_class != new_class:
            shown = "null" if new_class is None else f'"{new_class}"'
            errors.append(_invalid("spec.loadBalancerClass", f"Invalid value: {shown}: may not change once set"))
    if old.get("immutable") is True and (group, kind) in {("", "ConfigMap"), ("", "Secret")}:
        for field in ("data", "binaryData", "immutable"):
            if not same(old.get(field, MISSING), new.get(field, MISSING)):
                errors.append(FieldError(field, "FieldValueForbidden",
                                         "Forbidden: field is immutable when `immutable` is set"))
    return errors
