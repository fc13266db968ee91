"""fakehelm: a stand-in for the `helm` CLI, for eksscale's tests only.

No Helm binary (and no chart repository) can be installed on the test machine,
so this script plays the part of `helm` for the commands eksscale runs with
`keda.installer: helm`, against the fake Kubernetes API server:

    helm version --short
    helm list --namespace NS --all --filter ^NAME$ --output json  --kubeconfig K [--kube-context C]
    helm get values NAME --namespace NS --output json              --kubeconfig K [--kube-context C]
    helm upgrade --install NAME CHART --repo URL --version V --namespace NS --create-namespace
         --values FILE                                             --kubeconfig K [--kube-context C]
    helm uninstall NAME --namespace NS [--wait] [--timeout D]      --kubeconfig K [--kube-context C]

`upgrade --install` checks the values against the kedacore/keda chart value
names eksscale relies on (a typo or wrong type is an error here, where real
Helm would silently ignore it), renders the chart (chart.py, CRDs included)
and then behaves as helm 3's pkg/action install.go / upgrade.go do: release
records with pending-install / pending-upgrade / deployed / failed /
superseded, the ownership check on objects that already exist, the SIGTERM
handling of helm >= 3.7, and uninstall.go's resource policy and `--wait`.

Environment: FAKEHELM_STATE (JSON file with the releases), FAKEHELM_LOG (one
JSON line per call, argv), FAKEHELM_VERSION (what `version --short` prints,
and which helm behaviours apply), FAKEHELM_SLOW_SECONDS (an install or upgrade
pauses that long once its release is recorded pending, so a test can signal
it), FAKEHELM_KEDA_MANIFEST (where the chart's CRDs come from, see chart.py).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fakekube"))
from chart import CHART_REPO, METRICS, OPERATOR, WEBHOOKS, HelmError, check_values, render  # noqa: E402,F401
from kubeclient import Kube  # noqa: E402

MANAGER = "helm"
DEFAULT_VERSION = "v3.19.0+gfake"

# helm pkg/action/validate.go
MANAGED_BY, HELM = "app.kubernetes.io/managed-by", "Helm"
RELEASE_NAME, RELEASE_NAMESPACE = "meta.helm.sh/release-name", "meta.helm.sh/release-namespace"
# helm pkg/kube/resource_policy.go
RESOURCE_POLICY, KEEP = "helm.sh/resource-policy", "keep"
# helm pkg/release/status.go: Status.IsPending()
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
# helm pkg/action/action.go (errPending), returned by upgrade.go prepareUpgrade for a pending last release
ERR_PENDING = "another operation (install/upgrade/rollback) is in progress"
# helm cmd/helm/upgrade.go: --history-max default (settings.MaxHistory)
HISTORY_MAX = 10

# helm pkg/releaseutil/kind_sorter.go (the kinds this chart renders, in that file's order)
INSTALL_ORDER = ["Namespace", "PodDisruptionBudget", "ServiceAccount", "CustomResourceDefinition",
                 "Service", "Deployment", "APIService"]
UNINSTALL_ORDER = ["APIService", "Service", "Deployment", "CustomResourceDefinition", "ServiceAccount",
                   "PodDisruptionBudget", "Namespace"]

PLURALS = {"ServiceAccount": "serviceaccounts", "Deployment": "deployments", "Service": "services",
           "APIService": "apiservices", "PodDisruptionBudget": "poddisruptionbudgets", "Namespace": "namespaces",
           "CustomResourceDefinition": "customresourcedefinitions"}


# --- Command line -------------------------------------------------------------


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


def helm_version() -> tuple[int, int, int]:
    text = os.environ.get("FAKEHELM_VERSION", DEFAULT_VERSION)
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text)
    if not match:
        raise HelmError(f"fakehelm: FAKEHELM_VERSION {text!r} is not vMAJOR.MINOR.PATCH")
    return int(match[1]), int(match[2]), int(match[3])


# Flags newer than helm 3.0, and the release that added them (cobra answers `unknown flag: --x` before).
# `uninstall --wait`: helm/helm#9702 ("add optional boolean '--wait' flag to 'uninstall' command"), milestone
# 3.7.0; `helm uninstall --help` of 3.6 has no --wait.
FLAGS_SINCE = {("uninstall", "--wait"): (3, 7, 0)}


def parse_duration(text: str) -> float:
    """A Go time.Duration as helm's --timeout takes it ("5m0s", "90s", "1h", "500ms")."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise HelmError(f'invalid argument "{text}" for "--timeout" flag: time: invalid duration "{text}"')
    return sum(float(n) * units[u] for n, u in parts)


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


# --- Release records (helm keeps them in Secrets; here a JSON file) -------------


def load_state() -> dict[str, Any]:
    path = Path(os.environ["FAKEHELM_STATE"])
    return json.loads(path.read_text()) if path.exists() else {}


def save_state(state: dict[str, Any]) -> None:
    """Written whole and renamed, so a reader (another helm, a test polling) never sees half a file."""
    path = Path(os.environ["FAKEHELM_STATE"])
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)


def release_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"  # helm stores releases in the release namespace


def now() -> str:
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S.%f %z %Z")


def record(name: str, namespace: str, history: list[dict[str, Any]]) -> None:
    state = load_state()
    state[release_key(namespace, name)] = {"name": name, "namespace": namespace, "history": history[-HISTORY_MAX:]}
    save_state(state)


def set_status(rev: dict[str, Any], status: str, description: str) -> None:
    rev.update(status=status, description=description, updated=now())


# --- Objects ------------------------------------------------------------------


def url(obj: dict[str, Any]) -> str:
    api_version, metadata = obj["apiVersion"], obj["metadata"]
    prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    namespace = f"/namespaces/{metadata['namespace']}" if metadata.get("namespace") else ""
    return f"{prefix}{namespace}/{PLURALS[obj['kind']]}/{metadata['name']}"


def object_key(obj: dict[str, Any]) -> str:
    """helm pkg/action/upgrade.go objectKey: group/version, kind, namespace, name."""
    m = obj["metadata"]
    return f"{obj['apiVersion']}/{obj['kind']}/{m.get('namespace', '')}/{m['name']}"


def by_kind(objects: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    """helm pkg/releaseutil/kind_sorter.go: stable sort by kind; unknown kinds last."""
    return sorted(objects, key=lambda o: order.index(o["kind"]) if o["kind"] in order else len(order))


def release_objects(name: str, namespace: str, version: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The release manifest: the chart rendered, sorted in install order (pkg/action/action.go renderResources),
    with helm's release metadata on every object (pkg/action/validate.go setMetadataVisitor, which install.go and
    upgrade.go run with force: label managed-by=Helm, annotations release-name and release-namespace)."""
    objects = by_kind(render(name, namespace, version, values), INSTALL_ORDER)
    for obj in objects:
        meta = obj["metadata"]
        meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY: HELM}
        meta["annotations"] = {**(meta.get("annotations") or {}), RELEASE_NAME: name, RELEASE_NAMESPACE: namespace}
    return objects


def resource_string(obj: dict[str, Any]) -> str:
    """helm pkg/action/validate.go resourceString: cluster-scoped objects are `in namespace ""`."""
    m = obj["metadata"]
    return f'{obj["kind"]} "{m["name"]}" in namespace "{m.get("namespace", "")}"'


def ownership_problems(existing: dict[str, Any], name: str, namespace: str) -> list[str]:
    """helm pkg/action/validate.go checkOwnership / requireValue."""
    labels = existing["metadata"].get("labels") or {}
    annotations = existing["metadata"].get("annotations") or {}
    problems = []
    for kind, found, key, want in (("label", labels, MANAGED_BY, HELM),
                                   ("annotation", annotations, RELEASE_NAME, name),
                                   ("annotation", annotations, RELEASE_NAMESPACE, namespace)):
        if key not in found:
            problems.append(f'{kind} validation error: missing key "{key}": must be set to "{want}"')
        elif found[key] != want:
            problems.append(f'{kind} validation error: key "{key}" must equal "{want}": '
                            f'current value is "{found[key]}"')
    return problems


def existing_resource_conflict(kube: Kube, objects: list[dict[str, Any]], name: str, namespace: str) -> None:
    """helm pkg/action/validate.go existingResourceConflict: every object that already exists must carry the
    release's ownership metadata (helm >= 3.2 then adopts it); the first one that does not stops everything."""
    for obj in objects:
        reply = kube.get(url(obj))
        if reply.code == 404:
            continue
        if reply.code != 200:
            raise HelmError(f"could not get information about the resource {resource_string(obj)}: {reply.body}")
        if problems := ownership_problems(reply.body, name, namespace):
            raise HelmError(f"{resource_string(obj)} exists and cannot be imported into the current release: "
                            f"invalid ownership metadata; {'; '.join(problems)}")


def apply(kube: Kube, obj: dict[str, Any]) -> None:
    # Helm 3 creates, or patches with a three-way merge that takes over what it changes: forced apply here.
    reply = kube.apply(url(obj), obj, MANAGER, force="true")
    if reply.code >= 300:
        message = reply.body.get("message") if isinstance(reply.body, dict) else reply.body
        raise HelmError(f"failed to create resource: {message}")


# --- Interrupts ---------------------------------------------------------------


@contextlib.contextmanager
def cancellation(release: str) -> Iterator[threading.Event]:
    """helm >= 3.7 (helm/helm#9180, "Handle SIGTERMs during helm upgrade and helm install"; cmd/helm/install.go
    runInstall and cmd/helm/upgrade.go): SIGTERM or SIGINT prints `Release NAME has been cancelled.` and cancels
    the action's context; install.go/upgrade.go then mark the release failed (failRelease) and return
    `context canceled`. Older helm has no handler: Go's default kills the process, and the release stays
    pending-install / pending-upgrade."""
    cancelled = threading.Event()
    if helm_version() < (3, 7, 0) or threading.current_thread() is not threading.main_thread():
        yield cancelled
        return

    def handler(signum: int, frame: Any) -> None:
        os.write(1, f"Release {release} has been cancelled.\n".encode())
        cancelled.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield cancelled
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def pause(cancelled: threading.Event) -> None:
    if seconds := float(os.environ.get("FAKEHELM_SLOW_SECONDS", "0") or 0):
        cancelled.wait(seconds)


# --- upgrade --install ----------------------------------------------------------


def print_status(name: str, namespace: str, rev: dict[str, Any]) -> None:
    """cmd/helm/status.go statusPrinter (table output), without notes."""
    deployed = datetime.datetime.now().strftime("%a %b %e %H:%M:%S %Y")
    print(f"NAME: {name}\nLAST DEPLOYED: {deployed}\nNAMESPACE: {namespace}\nSTATUS: {rev['status']}\n"
          f"REVISION: {rev['revision']}\nTEST SUITE: None")


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
    history = load_state().get(release_key(namespace, name), {}).get("history", [])
    # cmd/helm/upgrade.go: with --install, a release without history is installed.
    with cancellation(name) as cancelled:
        if not history:
            install(kube, name, namespace, version, values, flags, cancelled)
        else:
            upgrade_release(kube, name, namespace, version, values, history, cancelled)


def install(kube: Kube, name: str, namespace: str, version: str, values: dict[str, Any],
            flags: dict[str, str | bool], cancelled: threading.Event) -> None:
    """helm pkg/action/install.go RunWithContext / performInstall."""
    print(f'Release "{name}" does not exist. Installing it now.', flush=True)
    objects = release_objects(name, namespace, version, values)
    try:
        existing_resource_conflict(kube, objects, name, namespace)
    except HelmError as exc:
        # install.go's wrap in current helm 3 (helm 4: "unable to continue with install"). Older helm 3 releases
        # said "rendered manifests contain a resource that already exists. Unable to continue with install"; the
        # claim was dropped by helm/helm#10397. Nothing has been stored or created yet.
        raise HelmError(f"Unable to continue with install: {exc}") from None
    if flags.get("--create-namespace"):
        # install.go: Create a Namespace labelled name=NS; AlreadyExists is fine.
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"name": namespace}}}
        reply = kube.request("POST", "/api/v1/namespaces", ns, params={"fieldManager": MANAGER})
        if reply.code >= 300 and reply.code != 409:
            raise HelmError(f"failed to create namespace {namespace}: {reply.body}")
    rev = {"revision": 1, "chart": f"keda-{version}", "app_version": version, "values": values,
           "manifest": objects}
    set_status(rev, "pending-install", "Initial install underway")
    history = [rev]
    record(name, namespace, history)
    try:
        pause(cancelled)
        for obj in objects:
            if cancelled.is_set():
                break
            apply(kube, obj)
        if cancelled.is_set():
            raise HelmError("context canceled")
    except HelmError as exc:
        # install.go failRelease: the release is recorded failed with the reason.
        set_status(rev, "failed", f'Release "{name}" failed: {exc}')
        record(name, namespace, history)
        raise
    set_status(rev, "deployed", "Install complete")
    record(name, namespace, history)
    print_status(name, namespace, rev)


def upgrade_release(kube: Kube, name: str, namespace: str, version: str, values: dict[str, Any],
                    history: list[dict[str, Any]], cancelled: threading.Event) -> None:
    """helm pkg/action/upgrade.go prepareUpgrade / performUpgrade / releasingUpgrade; cmd/helm/upgrade.go
    wraps every error in "UPGRADE FAILED"."""
    last = history[-1]
    if last["status"] in PENDING:
        raise HelmError(f"UPGRADE FAILED: {ERR_PENDING}")
    current = last if last["status"] == "deployed" else next(
        (r for r in reversed(history) if r["status"] == "deployed"), None)
    if current is None:
        if last["status"] not in ("failed", "superseded"):
            raise HelmError(f'UPGRADE FAILED: "{name}" has no deployed releases')
        current = last
    objects = release_objects(name, namespace, version, values)
    known = {object_key(o) for o in current["manifest"]}
    try:
        # upgrade.go: only objects the current release does not have are checked.
        existing_resource_conflict(kube, [o for o in objects if object_key(o) not in known], name, namespace)
    except HelmError as exc:
        raise HelmError(f"UPGRADE FAILED: Unable to continue with update: {exc}") from None
    rev = {"revision": last["revision"] + 1, "chart": f"keda-{version}", "app_version": version,
           "values": values, "manifest": objects}
    set_status(rev, "pending-upgrade", "Preparing upgrade")
    history.append(rev)
    record(name, namespace, history)
    try:
        pause(cancelled)
        for obj in objects:
            if cancelled.is_set():
                break
            apply(kube, obj)
        # pkg/kube/client.go Update: what the current release has and the new one does not is deleted, unless
        # the live object says helm.sh/resource-policy: keep.
        wanted = {object_key(o) for o in objects}
        for old in current["manifest"]:
            if cancelled.is_set():
                break
            if object_key(old) in wanted:
                continue
            live = kube.get(url(old))
            if live.code == 200 and (live.body["metadata"].get("annotations") or {}).get(RESOURCE_POLICY) == KEEP:
                continue
            kube.delete(url(old), propagationPolicy="Background")
        if cancelled.is_set():
            raise HelmError("context canceled")
    except HelmError as exc:
        set_status(rev, "failed", f'Upgrade "{name}" failed: {exc}')
        record(name, namespace, history)
        raise HelmError(f"UPGRADE FAILED: {exc}") from None
    current.update(status="superseded", updated=now())
    set_status(rev, "deployed", "Upgrade complete")
    record(name, namespace, history)
    print(f'Release "{name}" has been upgraded. Happy Helming!')
    print_status(name, namespace, rev)


# --- uninstall ------------------------------------------------------------------


def keep_policy(obj: dict[str, Any]) -> bool:
    """helm pkg/action/resource_policy.go filterManifestsToKeep: read from the stored manifest."""
    policy = (obj["metadata"].get("annotations") or {}).get(RESOURCE_POLICY)
    return policy is not None and policy.strip().lower() == KEEP


def wait_for_delete(kube: Kube, objects: list[dict[str, Any]], timeout: float) -> str | None:
    """helm pkg/kube/wait.go waitForDeletedResources: poll until every object GETs 404 (finalizers hold an
    object, so they hold the wait); helm polls every 2s, here faster. The error on timeout is that of
    wait.PollUntilContextCancel with a context timeout."""
    deadline = time.monotonic() + timeout
    while True:
        pending = False
        for obj in objects:
            reply = kube.get(url(obj))
            if reply.code == 200:
                pending = True
                break
            if reply.code != 404:
                return str(reply.body.get("message") if isinstance(reply.body, dict) else reply.body)
        if not pending:
            return None
        if time.monotonic() >= deadline:
            return "context deadline exceeded"
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def uninstall(positional: list[str], flags: dict[str, str | bool]) -> None:
    """helm pkg/action/uninstall.go Run (KeepHistory false) and cmd/helm/uninstall.go."""
    name, namespace = positional[1], str(flags.get("--namespace", "default"))
    timeout = parse_duration(str(flags.get("--timeout", "5m0s")))
    kube = kube_for(flags)
    state = load_state()
    release = state.get(release_key(namespace, name))
    if release is None:
        raise HelmError(f"uninstall: Release not loaded: {name}: release: not found")
    history = release["history"]
    last = history[-1]
    set_status(last, "uninstalling", "Deletion in progress (or silently failed)")
    record(name, namespace, history)
    manifest = by_kind(last["manifest"], UNINSTALL_ORDER)
    kept = [o for o in manifest if keep_policy(o)]
    deleted = [o for o in manifest if not keep_policy(o)]
    failures = []
    for obj in deleted:
        reply = kube.delete(url(obj), propagationPolicy="Background")
        if reply.code >= 300 and reply.code != 404:  # pkg/kube/client.go Delete ignores NotFound
            failures.append(obj)
    if failures:
        raise HelmError(f"failed to delete release: {name}")
    errs = []
    if flags.get("--wait") and (err := wait_for_delete(kube, deleted, timeout)):
        errs.append(err)
    state = load_state()
    state.pop(release_key(namespace, name), None)  # purge: no --keep-history
    save_state(state)
    if errs:
        raise HelmError(f"uninstallation completed with {len(errs)} error(s): {'; '.join(errs)}")
    if kept:
        print("These resources were kept due to the resource policy:\n"
              + "".join(f"[{o['kind']}] {o['metadata']['name']}\n" for o in kept))
    print(f'release "{name}" uninstalled')


# --- list, get values, version --------------------------------------------------


def list_releases(flags: dict[str, str | bool]) -> None:
    """pkg/action/list.go: the latest revision of each release; without --all only deployed and failed ones."""
    kube_for(flags)
    namespace = flags.get("--namespace", "default")
    pattern = re.compile(str(flags.get("--filter", "")))
    found = []
    for release in load_state().values():
        last = release["history"][-1]
        if release["namespace"] != namespace or not pattern.search(release["name"]):
            continue
        if not flags.get("--all") and last["status"] not in ("deployed", "failed"):
            continue
        found.append({"name": release["name"], "namespace": release["namespace"], "revision": str(last["revision"]),
                      "updated": last["updated"], "status": last["status"], "chart": last["chart"],
                      "app_version": last["app_version"]})
    print(json.dumps(found))


def main(argv: list[str]) -> int:
    if log := os.environ.get("FAKEHELM_LOG"):
        with open(log, "a") as f:
            f.write(json.dumps(argv) + "\n")
    positional, flags = options(argv)
    command = positional[0] if positional else ""
    for (cmd, flag), since in FLAGS_SINCE.items():
        if command == cmd and flag in flags and helm_version() < since:
            raise HelmError(f"unknown flag: {flag}")
    if command == "version":
        print(os.environ.get("FAKEHELM_VERSION", DEFAULT_VERSION))
    elif command == "list":
        list_releases(flags)
    elif command == "get" and positional[1:2] == ["values"]:
        kube_for(flags)
        release = load_state().get(release_key(str(flags.get("--namespace", "default")), positional[2]))
        if release is None:
            raise HelmError("release: not found")
        print(json.dumps(release["history"][-1]["values"]))
    elif command == "upgrade":
        upgrade(positional, flags)
    elif command == "uninstall":
        uninstall(positional, flags)
    else:
        raise HelmError(f"fakehelm does not implement {' '.join(argv)!r}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except HelmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
