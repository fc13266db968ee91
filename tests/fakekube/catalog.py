"""The resource types the fake server serves: a built-in set plus whatever CustomResourceDefinitions add."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update")
SUBRESOURCE_VERBS = ("get",)
SCALE_KIND = ("autoscaling", "v1", "Scale")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = VERBS
    stored: bool = True  # False: a review answered on POST and never kept (SelfSubjectAccessReview)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> tuple[str, str]:
        return self.group, self.version


def _t(group: str, version: str, plural: str, kind: str, namespaced: bool = True, short: tuple[str, ...] = (),
       categories: tuple[str, ...] = (), subresources: tuple[str, ...] = ()) -> ResourceType:
    return ResourceType(group, version, plural, kind.lower(), kind, namespaced, short, categories, subresources)


def _review(group: str, plural: str, kind: str) -> ResourceType:
    """Create-only, never stored: discovery lists them with the single verb `create`, as kube-apiserver does."""
    return ResourceType(group, "v1", plural, kind.lower(), kind, False, verbs=("create",), stored=False)


_ALL = ("all",)
_STATUS = ("status",)
_STATUS_SCALE = ("status", "scale")

BUILTIN: tuple[ResourceType, ...] = (
    _t("", "v1", "namespaces", "Namespace", False, ("ns",), subresources=_STATUS),
    _t("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
    _t("", "v1", "services", "Service", short=("svc",), categories=_ALL, subresources=_STATUS),
    _t("", "v1", "configmaps", "ConfigMap", short=("cm",)),
    _t("", "v1", "secrets", "Secret"),
    _t("", "v1", "pods", "Pod", short=("po",), categories=_ALL, subresources=_STATUS),
    _t("", "v1", "nodes", "Node", False, ("no",), subresources=_STATUS),
    _t("", "v1", "events", "Event", short=("ev",)),
    _t("", "v1", "endpoints", "Endpoints", short=("ep",)),
    _t("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",), subresources=_STATUS),
    _t("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",), subresources=_STATUS),
    _t("apps", "v1", "deployments", "Deployment", short=("deploy",), categories=_ALL, subresources=_STATUS_SCALE),
    _t("apps", "v1", "daemonsets", "DaemonSet", short=("ds",), categories=_ALL, subresources=_STATUS),
    _t("apps", "v1", "statefulsets", "StatefulSet", short=("sts",), categories=_ALL, subresources=_STATUS_SCALE),
    _t("apps", "v1", "replicasets", "ReplicaSet", short=("rs",), categories=_ALL, subresources=_STATUS_SCALE),
    _t("batch", "v1", "jobs", "Job", categories=_ALL, subresources=_STATUS),
    _t("batch", "v1", "cronjobs", "CronJob", short=("cj",), categories=_ALL, subresources=_STATUS),
    _t("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short=("hpa",),
       categories=_ALL, subresources=_STATUS),
    _t("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",), subresources=_STATUS),
    _t("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _t("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _t("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
       ("crd", "crds"), subresources=_STATUS),
    _t("apiregistration.k8s.io", "v1", "apiservices", "APIService", False, subresources=_STATUS),
    _t("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
       False),
    _t("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
       False),
    _t("coordination.k8s.io", "v1", "leases", "Lease"),
    _t("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short=("netpol",)),
    _t("networking.k8s.io", "v1", "ingresses", "Ingress", short=("ing",), subresources=_STATUS),
    _t("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    _t("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",)),
    _review("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview"),
    _review("authentication.k8s.io", "selfsubjectreviews", "SelfSubjectReview"),
)

NAMESPACES = BUILTIN[0]
CRDS = next(t for t in BUILTIN if t.kind == "CustomResourceDefinition")
PODS = next(t for t in BUILTIN if t.kind == "Pod")
REPLICASETS = next(t for t in BUILTIN if t.kind == "ReplicaSet")
DEPLOYMENTS = next(t for t in BUILTIN if t.kind == "Deployment")
SERVICEACCOUNTS = next(t for t in BUILTIN if t.kind == "ServiceAccount")
PVCS = next(t for t in BUILTIN if t.kind == "PersistentVolumeClaim")
PVS = next(t for t in BUILTIN if t.kind == "PersistentVolume")
INGRESSES = next(t for t in BUILTIN if t.kind == "Ingress")
INGRESSCLASSES = next(t for t in BUILTIN if t.kind == "IngressClass")


def crd_types(crd: dict[str, Any]) -> list[ResourceType]:
    """One ResourceType per served version of a CustomResourceDefinition."""
    spec = crd.get("spec", {})
    crd_names = spec.get("names", {})
    kind = crd_names.get("kind", "")
    return [
        ResourceType(
            group=spec.get("group", ""),
            version=version["name"],
            plural=crd_names.get("plural", ""),
            singular=crd_names.get("singular") or kind.lower(),
            kind=kind,
            namespaced=spec.get("scope") == "Namespaced",
            short_names=tuple(crd_names.get("shortNames") or ()),
            categories=tuple(crd_names.get("categories") or ()),
            subresources=tuple(sorted((version.get("subresources") or {}).keys())),
        )
        for version in spec.get("versions", [])
        if version.get("served")
    ]


_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version ordering: GA before beta before alpha, higher numbers first (sort descending)."""
    match = _KUBE_VERSION.match(version)
    if not match:
        return (0, 0, 0)
    stability = {None: 3, "beta": 2, "alpha": 1}[match.group(2)]
    return (stability, int(match.group(1)), int(match.group(3) or 0))


def group_versions(types: Iterable[ResourceType]) -> dict[str, list[str]]:
    """Group name -> its versions, preferred first."""
    found: dict[str, set[str]] = {}
    for rt in types:
        found.setdefault(rt.group, set()).add(rt.version)
    return {group: sorted(versions, key=version_priority, reverse=True) for group, versions in found.items()}
