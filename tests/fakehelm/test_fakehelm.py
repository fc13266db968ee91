"""The fake helm keeps to the contract eksscale relies on: strict chart values,
a rendering with Helm's labels, idempotent state, and a clean uninstall."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import pytest

import helm
from harness import start_server
from kubeclient import Kube

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


def test_values_are_checked_against_the_chart_names_and_types() -> None:
    helm.check_values(VALUES)
    for bad, message in [
        ({"topologySpreadConstraints": {"metricServer": []}}, "topologySpreadConstraints.metricServer is not"),
        ({"operator": {"replicaCount": "2"}}, "operator.replicaCount must be a int"),
        ({"operator": {"replicaCount": True}}, "operator.replicaCount must be a int"),
        ({"podIdentity": {"aws": {"irsa": {"stsRegionalEndpoints": True}}}}, "stsRegionalEndpoints must be a str"),
        ({"replicaCount": 2}, "replicaCount is not a value"),
    ]:
        with pytest.raises(helm.HelmError, match=message.replace(".", r"\.")):
            helm.check_values(bad)


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
    try:
        yield Kube("127.0.0.1", port), kubeconfig
    finally:
        process.terminate()
        process.communicate(timeout=10)


def upgrade(kubeconfig: Path, values_file: Path) -> int:
    return helm.main(["upgrade", "--install", "keda", "keda", "--repo", helm.CHART_REPO, "--version", "2.20.2",
                      "--namespace", "keda", "--create-namespace", "--values", str(values_file),
                      "--kubeconfig", str(kubeconfig)])


def test_install_upgrade_and_uninstall(cluster: tuple[Kube, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    kube, kubeconfig = cluster
    values_file = tmp_path / "values.yaml"
    values_file.write_text(json.dumps(VALUES))
    os.chmod(values_file, 0o644)
    with pytest.raises(helm.HelmError, match="readable by others"):
        upgrade(kubeconfig, values_file)
    os.chmod(values_file, 0o600)
    assert upgrade(kubeconfig, values_file) == 0

    operator = kube.get("/apis/apps/v1/namespaces/keda/deployments/keda-operator").body
    assert operator["spec"]["replicas"] == 2
    assert operator["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert operator["metadata"]["labels"]["eksscale.io/cluster"] == "demo"
    assert operator["metadata"]["annotations"]["meta.helm.sh/release-name"] == "keda"
    sa = kube.get("/api/v1/namespaces/keda/serviceaccounts/keda-operator").body
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn:aws:iam::123456789012:role/r"
    assert kube.get("/apis/policy/v1/namespaces/keda/poddisruptionbudgets/keda-operator").code == 200

    capsys.readouterr()
    helm.main(["list", "--namespace", "keda", "--all", "--filter", "^keda$", "--output", "json",
               "--kubeconfig", str(kubeconfig)])
    [release] = json.loads(capsys.readouterr().out)
    assert (release["chart"], release["status"], release["revision"]) == ("keda-2.20.2", "deployed", "1")

    # One replica, no PDB: the next revision drops the object it no longer renders.
    values_file.write_text(json.dumps({**VALUES, "operator": {"replicaCount": 1}, "podDisruptionBudget": {}}))
    assert upgrade(kubeconfig, values_file) == 0
    assert kube.get("/apis/policy/v1/namespaces/keda/poddisruptionbudgets/keda-operator").code == 404

    assert helm.main(["uninstall", "keda", "--namespace", "keda", "--wait", "--kubeconfig", str(kubeconfig)]) == 0
    assert kube.get("/apis/apps/v1/namespaces/keda/deployments/keda-operator").code == 404
    with pytest.raises(helm.HelmError, match="not found"):
        helm.main(["uninstall", "keda", "--namespace", "keda", "--kubeconfig", str(kubeconfig)])
