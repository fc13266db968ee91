"""Checks the API server makes beyond the OpenAPI schema: names, labels, selectors, immutable fields."""

from __future__ import annotations

from typing import Any, Callable

import names
import labelselectors
from failures import FAIL_ANNOTATION, FAILURE_MODES
from fieldpaths import MISSING, Path, get_path, same
from schemas import FieldError

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


def _check_keys_and_values(field: str, mapping: Any, check_values: bool) -> list[FieldError]:
    errors = []
    for key, value in (mapping or {}).items() if isinstance(mapping, dict) else ():
        errors += [_invalid(field, f'Invalid value: "{key}": {p}') for p in names.qualified_name(key)]
        if check_values and isinstance(value, str):
            errors += [_invalid(f"{field}", f'Invalid value: "{value}": {p}') for p in names.label_value(value)]
    return errors


def _check_metadata(prefix: str, metadata: Any) -> list[FieldError]:
    if not isinstance(metadata, dict):
        return []
    errors = _check_keys_and_values(f"{prefix}metadata.labels", metadata.get("labels"), check_values=True)
    errors += _check_keys_and_values(f"{prefix}metadata.annotations", metadata.get("annotations"),
                                     check_values=False)
    failure = (metadata.get("annotations") or {}).get(FAIL_ANNOTATION)
    if failure is not None and failure not in FAILURE_MODES:
        errors.append(FieldError(f"{prefix}metadata.annotations", "FieldValueNotSupported",
                                 f'Unsupported value: "{failure}": {FAIL_ANNOTATION} must be one of '
                                 + ", ".join(FAILURE_MODES)))
    return errors


def _check_selector(spec: dict[str, Any]) -> list[FieldError]:
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        return []
    try:
        requirements = labelselectors.from_label_selector(selector)
    except labelselectors.SelectorError as exc:
        return [_invalid("spec.selector", f"Invalid value: {exc}")]
    if not requirements:
        return [_invalid("spec.selector", "Invalid value: empty selector is invalid for this workload")]
    labels = get_path(spec, ("template", "metadata", "labels"))
    if labels is MISSING or not labelselectors.matches(requirements, labels):
        return [_invalid("spec.template.metadata.labels",
                         "Invalid value: `selector` does not match template `labels`")]
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
        errors += _check_selector(spec)
    return errors


def validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[FieldError]:
    """Fields that cannot change once the object exists."""
    group, kind = group_of(str(new.get("apiVersion", ""))), str(new.get("kind", ""))
    errors = []
    for path, message in _IMMUTABLE.get((group, kind), ()):
        if not same(get_path(old, path), get_path(new, path)):
            errors.append(_invalid(".".join(path), f"Invalid value: {message}"))
    if old.get("immutable") is True and (group, kind) in {("", "ConfigMap"), ("", "Secret")}:
        for field in ("data", "binaryData", "immutable"):
            if not same(old.get(field, MISSING), new.get(field, MISSING)):
                errors.append(FieldError(field, "FieldValueForbidden",
                                         "Forbidden: field is immutable when `immutable` is set"))
    return errors
