"""What fakehelm knows of the kedacore/keda chart: the value names eksscale sets, and a small rendering.

The rendering follows kedacore/charts `keda/templates/` for the values eksscale sets: the operator, metrics
API server and admission webhook Deployments, the operator service account, the metrics Service and
APIService, PodDisruptionBudgets, and the six KEDA CRDs (`templates/crds/*.yaml`, see `crds()`).
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fakekube"))
from manifests import load_documents  # noqa: E402

CHART_REPO = "https://kedacore.github.io/charts"
OPERATOR, METRICS, WEBHOOKS = "keda-operator", "keda-operator-metrics-apiserver", "keda-admission-webhooks"
REPO_ROOT = Path(__file__).resolve().parents[2]


class HelmError(Exception):
    pass


# --- The chart's value names eksscale uses, and their types ------------------

SPREAD = list
PDB = {"minAvailable": int, "maxUnavailable": int}
KNOWN: dict[str, Any] = {
    "operator": {"replicaCount": int},
    "podIdentity": {"aws": {"irsa": {"enabled": bool, "roleArn": str, "stsRegionalEndpoints": str}}},
    "topologySpreadConstraints": {"operator": SPREAD, "metricsServer": SPREAD, "webhooks": SPREAD},
    "podDisruptionBudget": {"operator": PDB, "metricServer": PDB, "webhooks": PDB},
    "additionalLabels": dict,
    # kedacore/charts keda/values.yaml: `crds.install` (default true) and `crds.additionalAnnotations`
    # (e.g. `helm.sh/resource-policy: keep` to keep the CRDs on uninstall). eksscale sets neither.
    "crds": {"install": bool, "additionalAnnotations": dict},
    # keda/values.yaml `image.<component>.{registry,repository,tag}` (registry ghcr.io, repository
    # kedacore/<image>, tag the appVersion): eksscale sets registry and repository for a mirror.
    "image": {component: {"registry": str, "repository": str, "tag": str}
              for component in ("keda", "metricsApiServer", "webhooks")},
}


def check_values(values: Any, known: Any = KNOWN, path: str = "") -> None:
    if isinstance(known, dict):
        if not isinstance(values, dict):
            raise HelmError(f"values: {path or '.'} must be a map")
        for key, value in values.items():
            if key not in known:
                raise HelmError(f"values: {path}{key} is not a value of the keda chart")
            check_values(value, known[key], f"{path}{key}.")
    elif not isinstance(values, known) or (known is int and isinstance(values, bool)):
        raise HelmError(f"values: {path.rstrip('.')} must be a {known.__name__}, got {values!r}")


# --- The CRDs -----------------------------------------------------------------


def keda_manifest(version: str) -> Path:
    """The KEDA release manifest whose CRDs the chart of `version` carries (kedacore releases chart and KEDA
    with the same version): $FAKEHELM_KEDA_MANIFEST, else $EKSSCALE_KEDA_MANIFEST when it is that version's
    file (as scripts/lib.sh and tests/fakekube/harness.py set it), else ../shared/keda/V/keda-V.yaml beside
    the repository."""
    wanted = f"keda-{version}.yaml"
    candidates = []
    if explicit := os.environ.get("FAKEHELM_KEDA_MANIFEST"):
        candidates.append(Path(explicit))
    if (shared := os.environ.get("EKSSCALE_KEDA_MANIFEST")) and Path(shared).name == wanted:
        candidates.append(Path(shared))
    candidates.append(REPO_ROOT.parent / "shared" / "keda" / version / wanted)
    for path in candidates:
        if path.is_file():
            return path
    raise HelmError(f"fakehelm: no KEDA {version} manifest for the chart's CRDs (looked at "
                    f"{', '.join(map(str, candidates))}); set FAKEHELM_KEDA_MANIFEST")


def crds(version: str, crd_labels: dict[str, str], extra_annotations: dict[str, str]) -> list[dict[str, Any]]:
    """The chart renders the KEDA CRDs as ordinary templates (kedacore/charts keda/templates/crds/*.yaml,
    each inside `{{- if .Values.crds.install }}`), not from a `crds/` directory, so helm creates, upgrades and
    deletes them with the release. Metadata as in those templates: the controller-gen annotation plus
    `crds.additionalAnnotations`; labels `app.kubernetes.io/name: keda-operator` plus `keda.crd-labels`
    (_helpers.tpl: no `app.kubernetes.io/instance`, no `additionalLabels`). The spec is the release manifest's."""
    objects = []
    for doc in load_documents(keda_manifest(version).read_text()):
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        crd = copy.deepcopy(doc)
        crd.pop("status", None)
        annotations = {k: v for k, v in (doc["metadata"].get("annotations") or {}).items()
                       if k.startswith("controller-gen.kubebuilder.io/")}
        crd["metadata"] = {"name": doc["metadata"]["name"],
                           "labels": {"app.kubernetes.io/name": OPERATOR, **crd_labels},
                           "annotations": {**annotations, **extra_annotations}}
        objects.append(crd)
    if len(objects) != 6:
        raise HelmError(f"fakehelm: expected the six KEDA CRDs in the {version} manifest, found {len(objects)}")
    return objects


# --- A small rendering of the chart for those values -------------------------


def render(name: str, namespace: str, version: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart's objects for these values, with the chart's own labels (`keda.labels` in _helpers.tpl).
    Helm's release annotations are added by the caller (helm.py, as helm's setMetadataVisitor does)."""
    crd_labels = {
        "helm.sh/chart": f"keda-{version}",
        "app.kubernetes.io/component": "operator",
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/part-of": OPERATOR,
        "app.kubernetes.io/version": version,
    }
    labels = {**crd_labels, "app.kubernetes.io/instance": name, **values.get("additionalLabels", {})}

    def meta(obj_name: str, namespaced: bool = True, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        m: dict[str, Any] = {"name": obj_name, "labels": dict(labels)}
        if annotations:
            m["annotations"] = dict(annotations)
        if namespaced:
            m["namespace"] = namespace
        return m

    spread = values.get("topologySpreadConstraints", {})
    replicas = values.get("operator", {}).get("replicaCount", 1)

    images = values.get("image", {})

    def image_ref(component: str, image: str) -> str:
        """`{{ registry }}/{{ repository }}:{{ tag | default appVersion }}` as the chart's Deployments write it
        (values `image.keda`, `image.metricsApiServer`, `image.webhooks`; defaults ghcr.io, kedacore/<image>)."""
        given = images.get(component, {})
        registry = given.get("registry", "ghcr.io")
        repository = given.get("repository", f"kedacore/{image}")
        return f"{registry}/{repository}:{given.get('tag') or version}"

    def deployment(app: str, image: str, spread_key: str, count: int, port: int) -> dict[str, Any]:
        component = {"keda": "keda", "keda-metrics-apiserver": "metricsApiServer",
                     "keda-admission-webhooks": "webhooks"}[image]
        pod: dict[str, Any] = {
            "serviceAccountName": OPERATOR,
            "containers": [{"name": app, "image": image_ref(component, image),
                            "ports": [{"containerPort": port, "name": "https" if port != 8080 else "http"}]}],
        }
        if spread.get(spread_key):
            pod["topologySpreadConstraints"] = spread[spread_key]
        return {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(app),
            "spec": {"replicas": count, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app, **labels}}, "spec": pod}},
        }

    irsa = values.get("podIdentity", {}).get("aws", {}).get("irsa", {})
    sa_annotations = {}
    if irsa.get("enabled"):
        if irsa.get("roleArn"):
            sa_annotations["eks.amazonaws.com/role-arn"] = irsa["roleArn"]
        if irsa.get("stsRegionalEndpoints"):
            sa_annotations["eks.amazonaws.com/sts-regional-endpoints"] = irsa["stsRegionalEndpoints"]
        sa_annotations["eks.amazonaws.com/token-expiration"] = "86400"
    objects: list[dict[str, Any]] = []
    if values.get("crds", {}).get("install", True):
        objects += crds(version, crd_labels, values.get("crds", {}).get("additionalAnnotations", {}))
    objects += [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(OPERATOR, annotations=sa_annotations)},
        deployment(OPERATOR, "keda", "operator", replicas, 8080),
        deployment(METRICS, "keda-metrics-apiserver", "metricsServer", 1, 6443),
        deployment(WEBHOOKS, "keda-admission-webhooks", "webhooks", 1, 9443),
        {"apiVersion": "v1", "kind": "Service", "metadata": meta(METRICS),
         "spec": {"selector": {"app": METRICS}, "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": meta("v1beta1.external.metrics.k8s.io", namespaced=False),
         "spec": {"service": {"name": METRICS, "namespace": namespace}, "group": "external.metrics.k8s.io",
                  "version": "v1beta1", "insecureSkipTLSVerify": True, "groupPriorityMinimum": 100,
                  "versionPriority": 100}},
    ]
    for key, app in (("operator", OPERATOR), ("metricServer", METRICS), ("webhooks", WEBHOOKS)):
        pdb = values.get("podDisruptionBudget", {}).get(key)
        if pdb:
            objects.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(app),
                            "spec": {**pdb, "selector": {"matchLabels": {"app": app}}}})
    return objects
