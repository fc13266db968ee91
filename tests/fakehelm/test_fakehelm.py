"""The fake helm keeps to the contract eksscale relies on, and to what real helm 3 does: strict chart values, a
rendering with Helm's labels and the chart's CRDs, the ownership check, release states through interrupts, and
uninstall's resource policy and --wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

import helm
from harness import KEDA_MANIFEST, start_server
from kubeclient import MERGE, Kube
from manifests import load_documents

HELM_PY = Path(helm.__file__).resolve()
VALUES = {
    "operator": {"replicaCount": 2},
    "podIdentity": {"aws": {"irsa": {"enabled": True, "roleArn": "arn:aws:iam::123456789012:role/r",
                                     "stsRegionalEndpoints": "true"}}},
    "topologySpreadConstraints": {
        key: [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": {"app": app}}}]
        for key, app in (("operator", helm.OPERATOR), ("metricsServer", helm.METRICS), ("webhooks", helm.WEBHOOKS))
    },
    "podDisruptionBudget": {"operator": {"minAvailable": 1}},
    "additionalLabels": {"eksscale.io/cluster": "demo"},
}
CRDS = ["cloudeventsources.eventing.keda.sh", "clustercloudeventsources.eventing.keda.sh",
        "clustertriggerauthentications.keda.sh", "scaledjobs.keda.sh", "scaledobjects.keda.sh",
        "triggerauthentications.keda.sh"]
SA = "/api/v1/namespaces/keda/serviceaccounts/keda-operator"
OPERATOR_DEPLOYMENT = "/apis/apps/v1/namespaces/keda/deployments/keda-operator"
PDB = "/apis/policy/v1/namespaces/keda/poddisruptionbudgets/keda-operator"
RELEASE_METADATA = {"labels": {"app.kubernetes.io/managed-by": "Helm"},
                    "annotations": {"meta.helm.sh/release-name": "keda", "meta.helm.sh/release-namespace": "keda"}}


def crd_url(name: str) -> str:
    return f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"


def test_values_are_checked_against_the_chart_names_and_types() -> None:
    helm.check_values(VALUES)
    helm.check_values({"crds": {"install": False, "additionalAnnotations": {"helm.sh/resource-policy": "keep"}}})
    for bad, message in [
        ({"topologySpreadConstraints": {"metricServer": []}}, "topologySpreadConstraints.metricServer is not"),
        ({"operator": {"replicaCount": "2"}}, "operator.replicaCount must be a int"),
        ({"operator": {"replicaCount": True}}, "operator.replicaCount must be a int"),
        ({"podIdentity": {"aws": {"irsa": {"stsRegionalEndpoints": True}}}}, "stsRegionalEndpoints must be a str"),
        ({"replicaCount": 2}, "replicaCount is not a value"),
        ({"crds": {"install": "yes"}}, "crds.install must be a bool"),
    ]:
        with pytest.raises(helm.HelmError, match=message.replace(".", r"\.")):
            helm.check_values(bad)


def test_images_come_from_the_image_values_as_the_charts_deployments_write_them() -> None:
    mirror = {"registry": "registry.example.com", "repository": "mirror/kedacore/keda"}
    helm.check_values({"image": {"keda": mirror}})
    objects = helm.render("keda", "keda", "2.20.2", {"image": {"keda": mirror}})
    images = {o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["image"]
              for o in objects if o["kind"] == "Deployment"}
    assert images == {
        helm.OPERATOR: "registry.example.com/mirror/kedacore/keda:2.20.2",
        helm.METRICS: "ghcr.io/kedacore/keda-metrics-apiserver:2.20.2",
        helm.WEBHOOKS: "ghcr.io/kedacore/keda-admission-webhooks:2.20.2",
    }
    with pytest.raises(helm.HelmError, match=r"image\.keda\.digest is not a value"):
        helm.check_values({"image": {"keda": {"digest": "sha256:0"}}})


def test_timeouts_are_go_durations() -> None:
    assert helm.parse_duration("5m0s") == 300
    assert helm.parse_duration("1m30s") == 90
    assert helm.parse_duration("1h") == 3600
    assert helm.parse_duration("250ms") == 0.25
    with pytest.raises(helm.HelmError, match='invalid duration "5"'):
        helm.parse_duration("5")


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Kube, Path]]:
    process = start_server(tmp_path / "port")
    port = int((tmp_path / "port").read_text())
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "fake", "user": {"token": "test-only"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    monkeypatch.setenv("FAKEHELM_STATE", str(tmp_path / "state.json"))
    for knob in ("FAKEHELM_VERSION", "FAKEHELM_SLOW_SECONDS", "FAKEHELM_LOG"):
        monkeypatch.delenv(knob, raising=False)
    try:
        yield Kube("127.0.0.1", port), kubeconfig
    finally:
        process.terminate()
        process.communicate(timeout=10)


def values_file(tmp_path: Path, values: dict[str, Any], name: str = "values.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(values))
    os.chmod(path, 0o600)
    return path


def upgrade_args(kubeconfig: Path, values: Path) -> list[str]:
    return ["upgrade", "--install", "keda", "keda", "--repo", helm.CHART_REPO, "--version", "2.20.2",
            "--namespace", "keda", "--create-namespace", "--values", str(values), "--kubeconfig", str(kubeconfig)]


def upgrade(kubeconfig: Path, values: Path) -> int:
    return helm.main(upgrade_args(kubeconfig, values))


def uninstall(kubeconfig: Path, *extra: str) -> int:
    return helm.main(["uninstall", "keda", "--namespace", "keda", *extra, "--kubeconfig", str(kubeconfig)])


def releases(kubeconfig: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, str]]:
    capsys.readouterr()
    helm.main(["list", "--namespace", "keda", *extra, "--filter", "^keda$", "--output", "json",
               "--kubeconfig", str(kubeconfig)])
    found: list[dict[str, str]] = json.loads(capsys.readouterr().out)
    return found


def release(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str] | None:
    """(status, revision) of the release as `helm list --all` shows it."""
    found = releases(kubeconfig, capsys, "--all")
    return (found[0]["status"], found[0]["revision"]) if found else None


def test_install_upgrade_and_uninstall(cluster: tuple[Kube, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    values = values_file(tmp_path, VALUES)
    os.chmod(values, 0o644)
    with pytest.raises(helm.HelmError, match="readable by others"):
        upgrade(kubeconfig, values)
    os.chmod(values, 0o600)
    assert upgrade(kubeconfig, values) == 0
    assert 'Release "keda" does not exist. Installing it now.' in capsys.readouterr().out

    operator = kube.get(OPERATOR_DEPLOYMENT).body
    assert operator["spec"]["replicas"] == 2
    assert operator["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert operator["metadata"]["labels"]["eksscale.io/cluster"] == "demo"
    assert operator["metadata"]["annotations"]["meta.helm.sh/release-name"] == "keda"
    sa = kube.get(SA).body
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn:aws:iam::123456789012:role/r"
    assert kube.get(PDB).code == 200

    [listed] = releases(kubeconfig, capsys, "--all")
    assert (listed["chart"], listed["status"], listed["revision"]) == ("keda-2.20.2", "deployed", "1")

    # One replica, no PDB: the next revision drops the object it no longer renders.
    values.write_text(json.dumps({**VALUES, "operator": {"replicaCount": 1}, "podDisruptionBudget": {}}))
    assert upgrade(kubeconfig, values) == 0
    assert 'Release "keda" has been upgraded. Happy Helming!' in capsys.readouterr().out
    assert kube.get(PDB).code == 404
    assert release(kubeconfig, capsys) == ("deployed", "2")

    assert uninstall(kubeconfig, "--wait") == 0
    assert kube.get(OPERATOR_DEPLOYMENT).code == 404
    assert releases(kubeconfig, capsys, "--all") == []
    with pytest.raises(helm.HelmError, match="uninstall: Release not loaded: keda: release: not found"):
        uninstall(kubeconfig)


def test_version_short_prints_fakehelm_version(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("FAKEHELM_VERSION", raising=False)
    helm.main(["version", "--short"])
    assert capsys.readouterr().out.strip().startswith("v3.19.0+g")
    monkeypatch.setenv("FAKEHELM_VERSION", "v3.6.3+gd506314")
    helm.main(["version", "--short"])
    assert capsys.readouterr().out.strip() == "v3.6.3+gd506314"


# --- 1. The CRDs are release objects ---------------------------------------------


def test_the_chart_crds_are_created_upgraded_and_deleted_with_the_release(
        cluster: tuple[Kube, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    values = values_file(tmp_path, VALUES)
    assert upgrade(kubeconfig, values) == 0
    manifest = {d["metadata"]["name"]: d for d in load_documents(KEDA_MANIFEST.read_text())
                if d["kind"] == "CustomResourceDefinition"}
    for name in CRDS:
        crd = kube.get(crd_url(name)).body
        # kedacore/charts keda/templates/crds/*.yaml labels ("keda.crd-labels"): no instance, no additionalLabels.
        assert crd["metadata"]["labels"] == {
            "app.kubernetes.io/name": "keda-operator", "helm.sh/chart": "keda-2.20.2",
            "app.kubernetes.io/component": "operator", "app.kubernetes.io/managed-by": "Helm",
            "app.kubernetes.io/part-of": "keda-operator", "app.kubernetes.io/version": "2.20.2"}
        assert crd["metadata"]["annotations"] == {
            "controller-gen.kubebuilder.io/version": "v0.21.0",
            "meta.helm.sh/release-name": "keda", "meta.helm.sh/release-namespace": "keda"}
        assert crd["spec"]["versions"] == manifest[name]["spec"]["versions"]

    # crds.install: false renders no CRDs, so the upgrade deletes those of the previous revision.
    values.write_text(json.dumps({**VALUES, "crds": {"install": False}}))
    assert upgrade(kubeconfig, values) == 0
    for name in CRDS:
        kube.wait_for(crd_url(name), lambda r: r.code == 404)
    values.write_text(json.dumps(VALUES))
    assert upgrade(kubeconfig, values) == 0
    assert all(kube.get(crd_url(name)).code == 200 for name in CRDS)

    # helm uninstall deletes them; --wait returns once they are gone.
    assert uninstall(kubeconfig, "--wait") == 0
    assert [kube.get(crd_url(name)).code for name in CRDS] == [404] * 6


# --- 2. Ownership: objects that already exist ------------------------------------


def test_install_refuses_existing_objects_without_the_release_metadata(
        cluster: tuple[Kube, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    values = values_file(tmp_path, VALUES)
    # A CRD applied by `keda.installer: manifest` (or kubectl) has no Helm metadata.
    crd = next(d for d in load_documents(KEDA_MANIFEST.read_text())
               if d["kind"] == "CustomResourceDefinition" and d["metadata"]["name"] == "scaledobjects.keda.sh")
    assert kube.apply(crd_url("scaledobjects.keda.sh"), crd, "eksscale").code in (200, 201)
    with pytest.raises(helm.HelmError) as error:
        upgrade(kubeconfig, values)
    assert str(error.value) == (
        'Unable to continue with install: CustomResourceDefinition "scaledobjects.keda.sh" in namespace "" exists '
        'and cannot be imported into the current release: invalid ownership metadata; label validation error: '
        'missing key "app.kubernetes.io/managed-by": must be set to "Helm"; annotation validation error: missing '
        'key "meta.helm.sh/release-name": must be set to "keda"; annotation validation error: missing key '
        '"meta.helm.sh/release-namespace": must be set to "keda"')
    # Nothing applied, no release recorded, not even the namespace (install.go checks before creating anything).
    assert kube.get(crd_url("scaledjobs.keda.sh")).code == 404
    assert kube.get("/api/v1/namespaces/keda").code == 404
    assert releases(kubeconfig, capsys, "--all") == []

    # Owned by another release: each wrong value is named.
    kube.request("PATCH", crd_url("scaledobjects.keda.sh"), {"metadata": {
        "labels": {"app.kubernetes.io/managed-by": "Helm"},
        "annotations": {"meta.helm.sh/release-name": "other", "meta.helm.sh/release-namespace": "keda"}}}, MERGE)
    with pytest.raises(helm.HelmError, match=(
            'invalid ownership metadata; annotation validation error: key "meta.helm.sh/release-name" must equal '
            '"keda": current value is "other"$')):
        upgrade(kubeconfig, values)

    # With this release's metadata, helm (>= 3.2) adopts it.
    kube.request("PATCH", crd_url("scaledobjects.keda.sh"), {"metadata": RELEASE_METADATA}, MERGE)
    assert upgrade(kubeconfig, values) == 0
    assert release(kubeconfig, capsys) == ("deployed", "1")
    assert kube.get(OPERATOR_DEPLOYMENT).code == 200


def test_upgrade_refuses_new_objects_that_exist_without_the_release_metadata(
        cluster: tuple[Kube, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    values = values_file(tmp_path, {**VALUES, "podDisruptionBudget": {}})
    assert upgrade(kubeconfig, values) == 0
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": "keda-operator", "namespace": "keda"},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "keda-operator"}}}}
    assert kube.apply(PDB, pdb, "someone").code in (200, 201)
    values.write_text(json.dumps(VALUES))
    with pytest.raises(helm.HelmError, match=(
            r'^UPGRADE FAILED: Unable to continue with update: PodDisruptionBudget "keda-operator" in namespace '
            r'"keda" exists and cannot be imported into the current release: invalid ownership metadata; label '
            r'validation error: missing key "app.kubernetes.io/managed-by": must be set to "Helm"; ')):
        upgrade(kubeconfig, values)
    assert release(kubeconfig, capsys) == ("deployed", "1")  # no revision 2
    assert kube.get(OPERATOR_DEPLOYMENT).body["spec"]["replicas"] == 2  # unchanged (VALUES has 2 as well)
    assert "app.kubernetes.io/managed-by" not in (kube.get(PDB).body["metadata"].get("labels") or {})

    # Objects the release already has are not checked: a hand edit of a label does not block the upgrade.
    kube.request("PATCH", SA, {"metadata": {"labels": {"app.kubernetes.io/managed-by": "kubectl"}}}, MERGE)
    kube.delete(PDB)
    assert upgrade(kubeconfig, values) == 0
    assert kube.get(SA).body["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert release(kubeconfig, capsys) == ("deployed", "2")


# --- 3. Uninstall: resource policy and --wait ------------------------------------


def test_uninstall_leaves_objects_annotated_keep(cluster: tuple[Kube, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    keep = {**VALUES, "crds": {"additionalAnnotations": {"helm.sh/resource-policy": "keep"}}}
    values = values_file(tmp_path, keep)
    assert upgrade(kubeconfig, values) == 0
    capsys.readouterr()
    assert uninstall(kubeconfig, "--wait") == 0
    out = capsys.readouterr().out
    assert out == ("These resources were kept due to the resource policy:\n"
                   + "".join(f"[CustomResourceDefinition] {name}\n" for name in CRDS)
                   + '\nrelease "keda" uninstalled\n')
    assert all(kube.get(crd_url(name)).code == 200 for name in CRDS)
    assert kube.get(OPERATOR_DEPLOYMENT).code == 404
    assert releases(kubeconfig, capsys, "--all") == []
    # The kept CRDs still carry this release's metadata, so a new install adopts them.
    assert upgrade(kubeconfig, values) == 0
    assert release(kubeconfig, capsys) == ("deployed", "1")


def test_keep_on_the_live_object_counts_for_upgrade_but_not_for_uninstall(
        cluster: tuple[Kube, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """helm reads the policy from the stored release manifest on uninstall (uninstall.go deleteRelease ->
    filterManifestsToKeep; helm/helm#10890, #8132), but from the live object when an upgrade drops an object
    (pkg/kube/client.go Update). `kubectl annotate ... helm.sh/resource-policy=keep` therefore does not save an
    object from `helm uninstall`."""
    kube, kubeconfig = cluster
    values = values_file(tmp_path, VALUES)
    assert upgrade(kubeconfig, values) == 0
    keep = {"metadata": {"annotations": {"helm.sh/resource-policy": "keep"}}}
    kube.request("PATCH", PDB, keep, MERGE)
    kube.request("PATCH", crd_url("scaledobjects.keda.sh"), keep, MERGE)
    values.write_text(json.dumps({**VALUES, "podDisruptionBudget": {}}))
    assert upgrade(kubeconfig, values) == 0
    assert kube.get(PDB).code == 200  # the upgrade kept it, and it is no longer the release's
    capsys.readouterr()
    assert uninstall(kubeconfig, "--wait") == 0
    assert "kept" not in capsys.readouterr().out
    assert kube.get(crd_url("scaledobjects.keda.sh")).code == 404  # annotated live only: deleted
    assert kube.get(PDB).code == 200  # not in the release any more: untouched


def hold(kube: Kube) -> None:
    """A finalizer nothing removes (fakekube's KEDA operator only handles it on KEDA's own kinds)."""
    assert kube.request("PATCH", SA, {"metadata": {"finalizers": ["finalizer.keda.sh"]}}, MERGE).code == 200


def release_hold(kube: Kube) -> None:
    assert kube.request("PATCH", SA, {"metadata": {"finalizers": None}}, MERGE).code == 200


def test_uninstall_wait_waits_until_finalizers_let_go(cluster: tuple[Kube, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    assert upgrade(kubeconfig, values_file(tmp_path, VALUES)) == 0
    hold(kube)
    outcome: list[int | Exception] = []

    def run() -> None:
        try:
            outcome.append(uninstall(kubeconfig, "--wait", "--timeout", "30s"))
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    waiter = threading.Thread(target=run)
    waiter.start()
    kube.wait_for(SA, lambda r: r.code == 200 and "deletionTimestamp" in r.body["metadata"])
    time.sleep(1.0)
    assert waiter.is_alive(), f"--wait returned while the ServiceAccount was held: {outcome}"
    release_hold(kube)
    waiter.join(timeout=20)
    assert outcome == [0]
    assert kube.get(SA).code == 404


def test_uninstall_wait_gives_up_after_the_timeout(cluster: tuple[Kube, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    values = values_file(tmp_path, VALUES)
    assert upgrade(kubeconfig, values) == 0
    hold(kube)
    started = time.monotonic()
    with pytest.raises(helm.HelmError, match=r"^uninstallation completed with 1 error\(s\): context deadline exceeded$"):
        uninstall(kubeconfig, "--wait", "--timeout", "1s")
    assert time.monotonic() - started >= 1.0
    # uninstall.go still purges the release; the held object stays Terminating.
    assert releases(kubeconfig, capsys, "--all") == []
    assert "deletionTimestamp" in kube.get(SA).body["metadata"]
    release_hold(kube)
    kube.wait_for(SA, lambda r: r.code == 404)

    # Without --wait, uninstall returns at once and leaves held objects Terminating.
    assert upgrade(kubeconfig, values) == 0
    hold(kube)
    assert uninstall(kubeconfig) == 0
    assert "deletionTimestamp" in kube.get(SA).body["metadata"]
    release_hold(kube)


def test_uninstall_wait_needs_helm_3_7(cluster: tuple[Kube, Path], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    assert upgrade(kubeconfig, values_file(tmp_path, VALUES)) == 0
    monkeypatch.setenv("FAKEHELM_VERSION", "v3.6.3+gd506314")
    with pytest.raises(helm.HelmError, match="^unknown flag: --wait$"):
        uninstall(kubeconfig, "--wait")
    assert release(kubeconfig, capsys) == ("deployed", "1")  # nothing was done
    monkeypatch.setenv("FAKEHELM_VERSION", "v3.7.0+geeac838")
    assert uninstall(kubeconfig, "--wait") == 0
    assert kube.get(OPERATOR_DEPLOYMENT).code == 404


# --- 4. Interrupts ----------------------------------------------------------------


def start_helm(kubeconfig: Path, values: Path, **env: str) -> subprocess.Popen[str]:
    """fakehelm as its own process (as eksscale runs it), pausing 30 s once its release is recorded."""
    return subprocess.Popen([sys.executable, str(HELM_PY), *upgrade_args(kubeconfig, values)],
                            env={**os.environ, "FAKEHELM_SLOW_SECONDS": "30", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_status(kubeconfig: Path, capsys: pytest.CaptureFixture[str], status: str,
                    process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while (release(kubeconfig, capsys) or ("",))[0] != status:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"the release never became {status}"
        time.sleep(0.05)


def test_sigterm_during_install_marks_the_release_failed(cluster: tuple[Kube, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    values = values_file(tmp_path, VALUES)
    process = start_helm(kubeconfig, values)
    wait_for_status(kubeconfig, capsys, "pending-install", process)
    assert releases(kubeconfig, capsys) == []  # `helm list` without --all shows only deployed and failed
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 1
    assert "Release keda has been cancelled.\n" in out
    assert err == "Error: context canceled\n"
    assert release(kubeconfig, capsys) == ("failed", "1")
    assert kube.get(OPERATOR_DEPLOYMENT).code == 404  # it went no further
    # A failed install is upgraded (upgrade.go: the last release, failed, with none deployed, is current).
    assert upgrade(kubeconfig, values) == 0
    assert release(kubeconfig, capsys) == ("deployed", "2")
    assert kube.get(OPERATOR_DEPLOYMENT).code == 200


def test_sigkill_leaves_the_release_pending_and_blocks_the_next_upgrade(
        cluster: tuple[Kube, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    values = values_file(tmp_path, VALUES)
    process = start_helm(kubeconfig, values)
    wait_for_status(kubeconfig, capsys, "pending-install", process)
    process.kill()
    process.communicate(timeout=20)
    assert process.returncode == -signal.SIGKILL
    assert release(kubeconfig, capsys) == ("pending-install", "1")
    with pytest.raises(helm.HelmError, match=r"^UPGRADE FAILED: another operation \(install/upgrade/rollback\) "
                                             r"is in progress$"):
        upgrade(kubeconfig, values)
    assert release(kubeconfig, capsys) == ("pending-install", "1")
    # The way out, as with real helm: uninstall (or rollback), then install again.
    assert uninstall(kubeconfig, "--wait") == 0
    assert upgrade(kubeconfig, values) == 0
    assert release(kubeconfig, capsys) == ("deployed", "1")


def test_sigterm_before_helm_3_7_kills_helm_and_leaves_the_release_pending(
        cluster: tuple[Kube, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, kubeconfig = cluster
    values = values_file(tmp_path, VALUES)
    process = start_helm(kubeconfig, values, FAKEHELM_VERSION="v3.6.3+gd506314")
    wait_for_status(kubeconfig, capsys, "pending-install", process)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=20)
    assert process.returncode == -signal.SIGTERM
    assert "cancelled" not in out
    assert release(kubeconfig, capsys) == ("pending-install", "1")


def test_sigterm_during_upgrade_marks_the_revision_failed(cluster: tuple[Kube, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    values = values_file(tmp_path, VALUES)
    assert upgrade(kubeconfig, values) == 0
    values.write_text(json.dumps({**VALUES, "operator": {"replicaCount": 3}}))
    process = start_helm(kubeconfig, values)
    wait_for_status(kubeconfig, capsys, "pending-upgrade", process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 1
    assert "Release keda has been cancelled.\n" in out
    assert err == "Error: UPGRADE FAILED: context canceled\n"
    assert release(kubeconfig, capsys) == ("failed", "2")
    assert kube.get(OPERATOR_DEPLOYMENT).body["spec"]["replicas"] == 2
    assert upgrade(kubeconfig, values) == 0
    assert release(kubeconfig, capsys) == ("deployed", "3")
    assert kube.get(OPERATOR_DEPLOYMENT).body["spec"]["replicas"] == 3
