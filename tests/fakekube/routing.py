"""Mapping request paths onto what they address."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class ResourcePath:
    group: str
    version: str
    plural: str
    namespace: str | None  # None: cluster-scoped path (or a list across all namespaces)
    name: str | None  # None: the collection
    subresource: str | None


@dataclass(frozen=True)
class Route:
    kind: str  # version | health | core-versions | groups | group | resources | resource
    template: str
    group: str = ""
    version: str = ""
    resource: ResourcePath | None = None


def _resource_route(prefix: str, group: str, version: str, rest: list[str]) -> Route | None:
    namespace = None
    namespaced_path = (rest[0] == "namespaces" and len(rest) >= 3
                       and not (group == "" and len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES))
    if namespaced_path:
        namespace, rest = rest[1], rest[2:]
    if not 1 <= len(rest) <= 3 or not all(rest):
        return None
    plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)
    template = prefix + ("/namespaces/{namespace}" if namespaced_path else "") + f"/{plural}"
    template += "/{name}" if name is not None else ""
    template += f"/{sub}" if sub is not None else ""
    return Route("resource", template, group, version, ResourcePath(group, version, plural, namespace, name, sub))


def parse(path: str) -> Route | None:
    parts = [unquote(p) for p in path.split("/") if p]
    match parts:
        case ["version"]:
            return Route("version", "/version")
        case ["healthz" | "readyz" | "livez" as check]:
            return Route("health", f"/{check}")
        case ["api"]:
            return Route("core-versions", "/api")
        case ["api", "v1"]:
            return Route("resources", "/api/v1", "", "v1")
        case ["api", "v1", *rest]:
            return _resource_route("/api/v1", "", "v1", rest)
        case ["apis"]:
            return Route("groups", "/apis")
        case ["apis", group]:
            return Route("group", f"/apis/{group}", group)
        case ["apis", group, version]:
            return Route("resources", f"/apis/{group}/{version}", group, version)
        case ["apis", group, version, *rest]:
            return _resource_route(f"/apis/{group}/{version}", group, version, rest)
    return None
