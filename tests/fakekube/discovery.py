"""Discovery documents: legacy /api, /apis, /apis/{g}/{v} lists and aggregated discovery (apidiscovery.k8s.io/v2)."""

from __future__ import annotations

from typing import Any, Sequence

from catalog import SCALE_KIND, SUBRESOURCE_VERBS, ResourceType, group_versions

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> bool:
    """True when the Accept header asks for apidiscovery.k8s.io/v2 APIGroupDiscoveryList."""
    for media_range in accept.split(","):
        params = {p.strip() for p in media_range.split(";")[1:]}
        if {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"} <= params:
            return True
    return False


def api_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}


def _group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def group_list(types: Sequence[ResourceType]) -> dict[str, Any]:
    groups = [_group_entry(g, vs) for g, vs in group_versions(types).items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str, types: Sequence[ResourceType]) -> dict[str, Any] | None:
    versions = group_versions(types).get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def _subresource_kind(rt: ResourceType, subresource: str) -> tuple[str, str, str]:
    return SCALE_KIND if subresource == "scale" else (rt.group, rt.version, rt.kind)


def resource_list(group: str, version: str, types: Sequence[ResourceType]) -> dict[str, Any] | None:
    selected = [rt for rt in types if rt.group_version == (group, version)]
    if not selected:
        return None
    resources: list[dict[str, Any]] = []
    for rt in selected:
        entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                                 "kind": rt.kind, "verbs": list(rt.verbs)}
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            sub_group, sub_version, sub_kind = _subresource_kind(rt, sub)
            sub_entry: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "",
                                         "namespaced": rt.namespaced, "kind": sub_kind,
                                         "verbs": list(SUBRESOURCE_VERBS)}
            if (sub_group, sub_version) != (group, version):
                sub_entry.update(group=sub_group, version=sub_version)
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.subresources:
        entry["subresources"] = [
            {"subresource": sub,
             "responseKind": dict(zip(("group", "version", "kind"), _subresource_kind(rt, sub))),
             "verbs": list(SUBRESOURCE_VERBS)}
            for sub in rt.subresources
        ]
    return entry


def aggregated(types: Sequence[ResourceType], core: bool) -> dict[str, Any]:
    """APIGroupDiscoveryList for /api (core=True) or /apis (every named group)."""
    items = []
    for group, versions in group_versions(types).items():
        if (group == "") != core:
            continue
        items.append({
            "metadata": {"name": group} if group else {},
            "versions": [
                {"version": v, "freshness": "Current",
                 "resources": [_aggregated_resource(rt) for rt in types if rt.group_version == (group, v)]}
                for v in versions
            ],
        })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": items}
