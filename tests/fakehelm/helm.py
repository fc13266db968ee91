"""fakehelm: a stand-in for the `helm` CLI, for eksscale's tests only.

No Helm binary (and no chart repository) can be installed on the test machine,
so this script plays the part of `helm` for the commands eksscale runs with
`keda.installer: helm`, against the fake Kubernetes API server:

    helm version --short
    helm list --namespace NS --all --filter ^NAME$ --output json  --kubeconfig K [--kube-context C]
    helm get values NAME --namespace NS --output json              --kubeconfig K [--kube-context C]
    helm upgrade --install NAME CHART --repo URL --version V --namespace NS --create-namespace
         --values FILE                                             --kubeconfig K [--kube-context C]
    helm uninstall NAME --namespace NS --wait                      --kubeconfig K [--kube-context C]

`upgrade --install` checks the values against the kedacore/keda chart value
names eksscale relies on (a typo or wrong type is an error here, where real
Helm would silently ignore it), then applies a small rendering of the chart:
the objects and labels the chart's templates produce for those values (the
operator, metrics API server and admission webhook Deployments, the operator
service account, the metrics Service and APIService, PodDisruptionBudgets).

Environment: FAKEHELM_STATE (JSON file with the releases), FAKEHELM_LOG (one
JSON line per call, argv), FAKEHELM_VERSION (what `version --short` prints).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fakekube"))
from kubeclient import Kube  # noqa: E402

CHART_REPO = "https://kedacore.github.io/charts"
MANAGER = "helm"
OPERATOR, METRICS, WEBHOOKS = "keda-operator", "keda-operator-metrics-apiserver", "keda-admission-webhooks"


class HelmError(Exception):
    pass


def options(argv: list[str]) -> tuple[list[str], dict[str, str | bool]]:
    """Positional arguments and --flags (flags without a value are True)."""
    flags_without_value = {"--install", "--create-namespace", "--wait", "--all", "--short"}
    positional: list[str] = []
    flags: dict[str, str | bool] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in flags_without_value:
            flags[arg] = True
        elif arg.startswith("--"):
            if i + 1 >= len(argv):
                raise HelmError(f"flag needs an argument: {arg}")
            flags[arg] = argv[i + 1]
            i += 1
        else:
            positional.append(arg)
        i += 1
    return positional, flags


def kube_for(flags: dict[str, str | bool]) -> Kube:
    path = flags.get("--kubeconfig")
    if not isinstance(path, str):
        raise HelmError("eksscale must pass --kubeconfig")
    config = yaml.safe_load(Path(path).read_text())
    wanted = flags.get("--kube-context") or config.get("current-context")
    context = next(c["context"] for c in config["contexts"] if c["name"] == wanted)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    url = urlsplit(cluster["server"])
    return Kube(url.hostname or "127.0.0.1", url.port or 80)


def load_state() -> dict[str, Any]:
    path = Path(os.environ["FAKEHELM_STATE"])
    return json.loads(path.read_text()) if path.exists() else {}


def save_state(state: dict[str, Any]) -> None:
    Path(os.environ["FAKEHELM_STATE"]).write_text(json.dumps(state, indent=2))


# --- The chart's value names eksscale uses, and their types ------------------

SPREAD = list
PDB = {"minAvailable": int, "maxUnavailable": int}
KNOWN: dict[str, Any] = {
    "operator": {"replicaCount": int},
    "podIdentity": {"aws": {"irsa": {"enabled": bool, "roleArn": str, "stsRegionalEndpoints": str}}},
    "topologySpreadConstraints": {"operator": SPREAD, "metricsServer": SPREAD, "webhooks": SPREAD},
    "podDisruptionBudget": {"operator": PDB, "metricServer": PDB, "webhooks": PDB},
    "additionalLabels": dict,
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


# --- A small rendering of the chart for those values -------------------------


def render(name: str, namespace: str, version: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    labels = {
        "helm.sh/chart": f"keda-{version}",
        "app.kubernetes.io/component": "operator",
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/part-of": OPERATOR,
        "app.kubernetes.io/version": version,
        **values.get("additionalLabels", {}),
    }
    meta_annotations = {"meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": namespace}

    def meta(obj_name: str, namespaced: bool = True, **extra: Any) -> dict[str, Any]:
        m: dict[str, Any] = {"name": obj_name, "labels": dict(labels), "annotations": dict(meta_annotations)}
        if namespaced:
            m["namespace"] = namespace
        m["annotations"].update(extra.get("annotations", {}))
        return m

    spread = values.get("topologySpreadConstraints", {})
    replicas = values.get("operator", {}).get("replicaCount", 1)

    def deployment(app: str, image: str, spread_key: str, count: int, port: int) -> dict[str, Any]:
        pod: dict[str, Any] = {
            "serviceAccountName": OPERATOR,
            "containers": [{"name": app, "image": f"ghcr.io/kedacore/{image}:{version}",
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
    objects = [
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


PLURALS = {"ServiceAccount": "serviceaccounts", "Deployment": "deployments", "Service": "services",
           "APIService": "apiservices", "PodDisruptionBudget": "poddisruptionbudgets", "Namespace": "namespaces"}


def url(obj: dict[str, Any]) -> str:
    api_version, metadata = obj["apiVersion"], obj["metadata"]
    prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    namespace = f"/namespaces/{metadata['namespace']}" if metadata.get("namespace") else ""
    return f"{prefix}{namespace}/{PLURALS[obj['kind']]}/{metadata['name']}"


def upgrade(positional: list[str], flags: dict[str, str | bool]) -> None:
    if flags.get("--install") is not True or len(positional) != 3:
        raise HelmError("eksscale runs `helm upgrade --install NAME CHART ...`")
    _, name, chart = positional
    if chart != "keda" or flags.get("--repo") != CHART_REPO:
        raise HelmError(f"chart {chart!r} from {flags.get('--repo')!r}: expected keda from {CHART_REPO}")
    version, namespace = str(flags.get("--version", "")), str(flags.get("--namespace", "default"))
    if not version:
        raise HelmError("eksscale must pin --version")
    values_file = Path(str(flags["--values"]))
    if values_file.stat().st_mode & 0o077:
        raise HelmError(f"{values_file} is readable by others")
    values = yaml.safe_load(values_file.read_text()) or {}
    check_values(values)
    kube = kube_for(flags)
    if flags.get("--create-namespace"):
        kube.apply(url({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
                   {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, MANAGER)
    objects = render(name, namespace, version, values)
    for obj in objects:
        reply = kube.apply(url(obj), obj, MANAGER)
        if reply.code >= 300:
            raise HelmError(f"{obj['kind']} {obj['metadata']['name']}: {reply.code} {reply.body}")
    state = load_state()
    previous = state.get(name, {})
    # Objects of an earlier revision that this one no longer renders (e.g. a PDB) go.
    for old in previous.get("objects", []):
        if old not in [url(o) for o in objects]:
            kube.delete(old)
    state[name] = {"name": name, "namespace": namespace, "revision": previous.get("revision", 0) + 1,
                   "status": "deployed", "chart": f"keda-{version}", "app_version": version,
                   "values": values, "objects": [url(o) for o in objects]}
    save_state(state)
    print(f'Release "{name}" has been {"upgraded" if previous else "installed"}. Happy Helming!')


def main(argv: list[str]) -> int:
    if log := os.environ.get("FAKEHELM_LOG"):
        with open(log, "a") as f:
            f.write(json.dumps(argv) + "\n")
    positional, flags = options(argv)
    command = positional[0] if positional else ""
    if command == "version":
        print(os.environ.get("FAKEHELM_VERSION", "v3.19.0+gfake"))
    elif command == "list":
        kube_for(flags)
        namespace = flags.get("--namespace")
        found = [{k: r[k] for k in ("name", "namespace", "revision", "status", "chart", "app_version")}
                 | {"revision": str(r["revision"])}
                 for r in load_state().values() if r["namespace"] == namespace]
        print(json.dumps(found))
    elif command == "get" and positional[1:2] == ["values"]:
        kube_for(flags)
        release = load_state().get(positional[2])
        if release is None:
            raise HelmError("release: not found")
        print(json.dumps(release["values"]))
    elif command == "upgrade":
        upgrade(positional, flags)
    elif command == "uninstall":
        kube = kube_for(flags)
        state = load_state()
        release = state.pop(positional[1], None)
        if release is None:
            raise HelmError(f"uninstall: Release not loaded: {positional[1]}: release: not found")
        for path in release["objects"]:
            kube.delete(path)
        save_state(state)
        print(f'release "{positional[1]}" uninstalled')
    else:
        raise HelmError(f"fakehelm does not implement {' '.join(argv)!r}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except HelmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
