"""Schema validation shared by the fake API server and validate_manifests.py.

Built-in kinds are checked against kubernetes-validate's strict JSON schemas (unknown fields rejected);
custom resources against their CRD's openAPIV3Schema, translated to JSON Schema 2020-12.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path as FsPath
from typing import Any

import jsonschema
from referencing import Registry, Resource

DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"
OBJECT_META_REF = DEFINITIONS_URI + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class SchemaError(Exception):
    """No schema is available for the object."""


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _schema_dir(kubernetes_version: str) -> FsPath:
    """The strict schema folder for the newest schema release not newer than the requested minor."""
    root = FsPath(str(resources.files("kubernetes_validate") / "kubernetes-json-schema"))
    wanted = _version_key(".".join(kubernetes_version.removeprefix("v").split(".")[:2]))
    available = {}
    for folder in root.iterdir():
        if match := re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", folder.name):
            available[(int(match.group(1)), int(match.group(2)))] = folder
    usable = [v for v in available if v <= wanted]
    if not usable or wanted > max(available):
        raise SchemaError(f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version} "
                          f"(it has {min(available)[0]}.{min(available)[1]} to "
                          f"{max(available)[0]}.{max(available)[1]})")
    return available[max(usable)]


def _schema_file_name(api_version: str, kind: str) -> str:
    """kubernetes-validate's naming: rbac.authorization.k8s.io/v1 Role -> role-rbac-v1.json."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


def _translate(node: dict[str, Any]) -> dict[str, Any]:
    """openAPIV3Schema (structural, with x-kubernetes-* extensions) -> JSON Schema 2020-12."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _translate(child) for name, child in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = _translate(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_translate(child) for child in value]
        elif key in ("nullable", "exclusiveMinimum", "exclusiveMaximum", "default", "description", "example",
                     "externalDocs", "title") or key.startswith("x-kubernetes-"):
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if node.get(flag) is True and bound in out:
            out[flag] = out.pop(bound)
    if node.get("x-kubernetes-embedded-resource"):
        out.setdefault("properties", {}).update(
            apiVersion={"type": "string"}, kind={"type": "string"}, metadata={"$ref": OBJECT_META_REF})
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    is_object = node.get("type") == "object" or "properties" in node
    if is_object and "additionalProperties" not in out and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def custom_resource_schema(open_api_v3_schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema for a custom resource: its CRD schema plus the standard apiVersion/kind/metadata."""
    schema = _translate(open_api_v3_schema)
    properties = schema.setdefault("properties", {})
    properties.update(apiVersion={"type": "string"}, kind={"type": "string"}, metadata={"$ref": OBJECT_META_REF})
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _field(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _shown(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _field_errors(error: jsonschema.ValidationError) -> list[FieldError]:
    path = list(error.absolute_path)
    instance, rule = error.instance, error.validator
    if rule == "additionalProperties" and isinstance(instance, dict):
        allowed = set((error.schema.get("properties") or {}).keys())
        return [FieldError(_field(path + [k]), "FieldValueInvalid", f'unknown field "{_field(path + [k])}"')
                for k in sorted(instance) if k not in allowed]
    if rule == "required" and isinstance(instance, dict):
        return [FieldError(_field(path + [k]), "FieldValueRequired", "Required value")
                for k in error.validator_value if k not in instance]
    if rule == "enum":
        supported = ", ".join(_shown(v) for v in error.validator_value if v is not None)
        return [FieldError(_field(path), "FieldValueNotSupported",
                           f"Unsupported value: {_shown(instance)}: supported values: {supported}")]
    if rule == "type":
        wanted = [t for t in (error.validator_value if isinstance(error.validator_value, list)
                              else [error.validator_value]) if t != "null"]
        return [FieldError(_field(path), "FieldValueTypeInvalid",
                           f"Invalid value: {_shown(instance)}: must be of type {' or '.join(wanted)}")]
    if rule in ("oneOf", "anyOf"):
        return [FieldError(_field(path), "FieldValueTypeInvalid",
                           f"Invalid value: {_shown(instance)}: does not match any of the allowed types")]
    return [FieldError(_field(path), "FieldValueInvalid", f"Invalid value: {_shown(instance)}: {error.message}")]


def _errors(validator: jsonschema.protocols.Validator, obj: dict[str, Any]) -> list[FieldError]:
    found: dict[str, FieldError] = {}
    for error in validator.iter_errors(obj):
        for field_error in _field_errors(error):
            found.setdefault(str(field_error), field_error)
    return sorted(found.values(), key=lambda e: (e.field, e.message))


class Schemas:
    """Validators for one Kubernetes minor version, built lazily and cached."""

    def __init__(self, kubernetes_version: str) -> None:
        self.kubernetes_version = kubernetes_version
        self._dir = _schema_dir(kubernetes_version)
        definitions = json.loads((self._dir / "_definitions.json").read_text())
        self._registry: Registry = Resource.from_contents(definitions) @ Registry()
        self._builtin: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
        self._custom: dict[tuple[str, str, str], jsonschema.protocols.Validator] = {}

    def has_builtin(self, api_version: str, kind: str) -> bool:
        return (self._dir / _schema_file_name(api_version, kind)).is_file()

    def _builtin_validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator:
        key = (api_version, kind)
        if key not in self._builtin:
            file = self._dir / _schema_file_name(api_version, kind)
            if not file.is_file():
                raise SchemaError(f"no schema for {kind} {api_version} in Kubernetes {self.kubernetes_version}")
            self._builtin[key] = jsonschema.Draft202012Validator(json.loads(file.read_text()),
                                                                 registry=self._registry)
        return self._builtin[key]

    def _custom_validator(self, crd: dict[str, Any], version: str) -> jsonschema.protocols.Validator:
        metadata = crd.get("metadata", {})
        key = (metadata.get("name", ""), metadata.get("resourceVersion", ""), version)
        if key not in self._custom:
            entry = next((v for v in crd.get("spec", {}).get("versions", []) if v.get("name") == version), None)
            if entry is None:
                raise SchemaError(f"CustomResourceDefinition {key[0]} has no version {version}")
            open_api = ((entry.get("schema") or {}).get("openAPIV3Schema")
                        or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
            self._custom[key] = jsonschema.Draft202012Validator(custom_resource_schema(open_api),
                                                                registry=self._registry)
        return self._custom[key]

    def validate_builtin(self, obj: dict[str, Any]) -> list[FieldError]:
        return _errors(self._builtin_validator(str(obj.get("apiVersion", "")), str(obj.get("kind", ""))), obj)

    def validate_custom(self, obj: dict[str, Any], crd: dict[str, Any]) -> list[FieldError]:
        version = str(obj.get("apiVersion", "")).rpartition("/")[2]
        return _errors(self._custom_validator(crd, version), obj)
