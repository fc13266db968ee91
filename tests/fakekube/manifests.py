"""Reading Kubernetes objects from YAML or JSON text, the way kubectl does."""

from __future__ import annotations

import json
from typing import Any

import yaml


_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser is ~7x faster


class KubeYamlLoader(_SafeLoader):  # type: ignore[misc]
    """Safe loading that keeps unquoted dates as strings: Kubernetes has no date type."""


KubeYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class ManifestError(ValueError):
    """The text is not a stream of YAML/JSON objects."""


def load_documents(text: str) -> list[Any]:
    """All non-empty documents of a multi-document YAML stream (JSON is accepted too)."""
    try:
        return [doc for doc in yaml.load_all(text, Loader=KubeYamlLoader) if doc is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(f"cannot parse YAML: {exc}") from exc


def load_object(body: bytes) -> dict[str, Any]:
    """A request body holding exactly one object, as JSON or YAML."""
    text = body.decode("utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        documents = load_documents(text)
        if len(documents) != 1:
            raise ManifestError(f"expected one object, found {len(documents)} documents") from None
        value = documents[0]
    if not isinstance(value, dict):
        raise ManifestError("the body must be a JSON or YAML object")
    return value
