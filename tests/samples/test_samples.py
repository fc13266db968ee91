"""The built-in samples (templates/samples/) rendered with minijinja and validated, and the validator's own parts.

Run from the repository root with the test venv (scripts/test.sh does): python -m pytest tests/samples -q.
checkov comes from .venv-checkov (or $EKSSCALE_CHECKOV); without it the end-to-end tests fail and say so.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "fakekube")]

import keda_rules  # noqa: E402
import render  # noqa: E402
import spread  # noqa: E402
import validate_samples  # noqa: E402

KUBERNETES_VERSION = "1.33"
KEDA_MANIFEST = Path(os.environ.get("EKSSCALE_KEDA_MANIFEST")
                     or render.ROOT.parent / "shared" / "keda" / "2.20.2" / "keda-2.20.2.yaml")
SAMPLES = ["cpu-scaler", "cron-scaler", "sqs-consumer"]
IDENTITIES = ["irsa", "pod-identity"]
NAME = {"app.kubernetes.io/name": "x", spread.POD_TEMPLATE_HASH: "sim"}


@pytest.fixture(scope="session")
def keda_manifest() -> Path:
    if not KEDA_MANIFEST.is_file():
        pytest.fail(f"the KEDA 2.20.2 manifest is not at {KEDA_MANIFEST}; set EKSSCALE_KEDA_MANIFEST")
    return KEDA_MANIFEST


@pytest.fixture(scope="session")
def checkov() -> str:
    found = validate_samples.find_checkov(None)
    if found is None:
        pytest.fail("checkov not found: run scripts/test.sh once (it creates .venv-checkov) or set EKSSCALE_CHECKOV")
    return found


def objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def rendered(sample: str, identity: str = "irsa") -> list[dict[str, Any]]:
    return objects(render.render_sample(render.BUILTIN / sample, identity))


def find(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == kind)


def validate(directory: Path, keda: Path, *extra: str) -> int:
    return validate_samples.main([str(directory), "--kubernetes-version", KUBERNETES_VERSION,
                                  "--keda-manifest", str(keda), *extra])


def write(directory: Path, objs: list[dict[str, Any]], name: str = "samples.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(yaml.safe_dump_all(objs, sort_keys=False))
    return directory


def all_rendered(identity: str = "irsa") -> list[dict[str, Any]]:
    return [o for s in SAMPLES for o in rendered(s, identity)]


# --- the built-in samples, end to end -------------------------------------------------------------------------

def test_the_builtin_samples_are_the_three_documented() -> None:
    assert render.sample_names() == SAMPLES
    for sample in SAMPLES:
        meta = render.metadata(render.BUILTIN / sample)
        assert meta["queue"] is (sample == "sqs-consumer")
        assert "\n" not in meta["description"]


@pytest.mark.parametrize("identity", IDENTITIES)
def test_builtin_samples_pass_every_check(identity: str, tmp_path: Path, keda_manifest: Path, checkov: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    render.render_all(tmp_path / "samples", identity=identity)
    # What `eksscale render --out` also holds: the KEDA install (ignored) and the samples Namespace.
    shutil.copy(keda_manifest, tmp_path / "keda.yaml")
    write(tmp_path, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "eksscale-samples", "labels": {"pod-security.kubernetes.io/enforce": "restricted",
                                               "pod-security.kubernetes.io/enforce-version": "latest",
                                               "app.kubernetes.io/managed-by": "eksscale"}}}], "namespace.yaml")
    code = validate(tmp_path, keda_manifest, "--checkov", checkov)
    out = capsys.readouterr().out
    assert code == 0, out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("summary: OK: ") and "3 samples" in summary and "0 failed" in summary, summary
    assert "spread simulated for 3 Deployments" in summary
    assert out.count("ok spread ") == 3


def test_a_checkov_failure_fails_the_validator(tmp_path: Path, keda_manifest: Path, checkov: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    objs = rendered("cron-scaler")
    container = find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    del container["securityContext"]["readOnlyRootFilesystem"]
    assert validate(write(tmp_path, objs), keda_manifest, "--checkov", checkov) == 1
    out = capsys.readouterr().out
    assert "error checkov CKV_K8S_22" in out and "summary: FAILED" in out


# --- the templates and the contract ---------------------------------------------------------------------------

@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("sample", SAMPLES)
def test_names_namespace_and_labels(sample: str, identity: str) -> None:
    objs = rendered(sample, identity)
    assert {o["kind"] for o in objs} >= {"Deployment", "ScaledObject", "PodDisruptionBudget", "NetworkPolicy"}
    assert "Namespace" not in {o["kind"] for o in objs}, "eksscale creates the Namespace, templates must not"
    for o in objs:
        assert o["metadata"]["namespace"] == "eksscale-samples"
        assert o["metadata"]["labels"]["app.kubernetes.io/name"] == sample
    assert find(objs, "Deployment")["metadata"]["name"] == sample
    assert find(objs, "ScaledObject")["metadata"]["name"] == sample
    pod = find(objs, "Deployment")["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == sample
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_irsa_annotates_the_service_account_and_pod_identity_does_not() -> None:
    irsa = find(rendered("sqs-consumer", "irsa"), "ServiceAccount")
    assert irsa["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/eksscale-demo-sample-sqs-consumer"}
    assert "annotations" not in find(rendered("sqs-consumer", "pod-identity"), "ServiceAccount")["metadata"]


def test_only_pod_identity_may_reach_the_pod_identity_agent() -> None:
    def agent_rules(identity: str) -> list[Any]:
        policy = find(rendered("sqs-consumer", identity), "NetworkPolicy")
        return [r for r in policy["spec"]["egress"] for peer in r.get("to", [])
                if peer.get("ipBlock", {}).get("cidr") == "169.254.170.23/32"]
    assert agent_rules("irsa") == []
    assert agent_rules("pod-identity")[0]["ports"] == [{"protocol": "TCP", "port": 80}]


def test_the_consumer_gets_its_queue_and_region() -> None:
    objs = rendered("sqs-consumer")
    env = {e["name"]: e["value"] for e in find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]}
    url = "https://sqs.us-west-2.amazonaws.com/123456789012/eksscale-demo-sqs-consumer"
    assert env["QUEUE_URL"] == url and env["AWS_REGION"] == "us-west-2"
    trigger = find(objs, "ScaledObject")["spec"]["triggers"][0]
    assert trigger["metadata"]["queueURL"] == url
    assert trigger["authenticationRef"] == {"name": "sqs-consumer"}
    assert find(objs, "TriggerAuthentication")["spec"]["podIdentity"]["provider"] == "aws"


@pytest.mark.parametrize("hostile", ['a"b\\c', "x: y # z", "line\nbreak", "{{ not a template }}", "yes", "0x10",
                                     "- item", "'single'", "é ☃"])
def test_inserted_values_are_quoted(hostile: str) -> None:
    """Every context value goes through tojson, so no value can change the YAML around it or its type."""
    for sample in SAMPLES:
        meta = render.metadata(render.BUILTIN / sample)
        ctx = render.context(sample, meta["queue"], "irsa")
        ctx["region"] = hostile
        if ctx["queue"]:
            ctx["queue"]["url"] = hostile
            ctx["role_arn"] = hostile
        objs = objects(render.render_sample(render.BUILTIN / sample, ctx=ctx))
        if sample == "sqs-consumer":
            container = find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
            env = {e["name"]: e["value"] for e in container["env"]}
            assert env["QUEUE_URL"] == hostile and env["AWS_REGION"] == hostile
            assert find(objs, "ServiceAccount")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == hostile
            assert find(objs, "ScaledObject")["spec"]["triggers"][0]["metadata"]["awsRegion"] == hostile


def test_templates_use_only_the_documented_context() -> None:
    """Strict undefined: a template that reads anything else fails to render."""
    for sample in SAMPLES:
        meta = render.metadata(render.BUILTIN / sample)
        ctx = render.context(sample, meta["queue"])
        for template in sorted((render.BUILTIN / sample).glob("*.yaml.j2")):
            undeclared = render.environment().undeclared_variables_in_str(template.read_text())
            assert undeclared <= set(ctx), f"{template}: {undeclared - set(ctx)}"


# --- the validator finds what is wrong ------------------------------------------------------------------------

def _broken(tmp_path: Path, keda: Path, capsys: pytest.CaptureFixture[str], sample: str, change: Any) -> str:
    objs = rendered(sample)
    change(objs)
    assert validate(write(tmp_path, objs), keda, "--no-checkov") == 1
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("summary: FAILED")
    return out


def test_unknown_fields_are_errors(tmp_path: Path, keda_manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(objs: list[dict[str, Any]]) -> None:
        find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
        find(objs, "ScaledObject")["spec"]["minReplicas"] = 1
    out = _broken(tmp_path, keda_manifest, capsys, "cpu-scaler", change)
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolice"' in out
    assert 'unknown field "spec.minReplicas"' in out


def test_keda_rules_are_errors(tmp_path: Path, keda_manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(objs: list[dict[str, Any]]) -> None:
        so = find(objs, "ScaledObject")["spec"]
        so["minReplicaCount"] = 0
        del find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["resources"]
    out = _broken(tmp_path, keda_manifest, capsys, "cpu-scaler", change)
    assert "scale to zero doesn't work in this case" in out
    assert "doesn't have the cpu request defined" in out


def test_cron_metadata_is_checked(tmp_path: Path, keda_manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(objs: list[dict[str, Any]]) -> None:
        meta = find(objs, "ScaledObject")["spec"]["triggers"][0]["metadata"]
        meta.update(timezone="America/Gotham", start="0 25 * * 1-5", desiredReplica="3")
    out = _broken(tmp_path, keda_manifest, capsys, "cron-scaler", change)
    assert "not an IANA time zone" in out and "hour '25'" in out and "metadata.desiredReplica is not" in out


def test_contract_rules_are_errors(tmp_path: Path, keda_manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(objs: list[dict[str, Any]]) -> None:
        deployment = find(objs, "Deployment")
        deployment["spec"]["replicas"] = 2
        pod = deployment["spec"]["template"]["spec"]
        pod["topologySpreadConstraints"] = [c for c in pod["topologySpreadConstraints"]
                                            if c["topologyKey"] == spread.HOSTNAME]
        pod["securityContext"].pop("runAsNonRoot")
        pod["containers"][0]["securityContext"].pop("runAsNonRoot")
        pdb = find(objs, "PodDisruptionBudget")["spec"]
        pdb["minAvailable"] = 1
        del pdb["maxUnavailable"]
    out = _broken(tmp_path, keda_manifest, capsys, "sqs-consumer", change)
    assert "spec.replicas is set" in out
    assert "no topologySpreadConstraint over topology.kubernetes.io/zone" in out
    assert "Pod Security restricted: containers[consumer]: runAsNonRoot must be true" in out
    assert "minAvailable 1 blocks node drains" in out
    assert "spread: at 2 replicas the zone skew is 2" in out


def test_bad_usage_exits_2(tmp_path: Path, keda_manifest: Path) -> None:
    with pytest.raises(SystemExit) as missing:
        validate(tmp_path / "nope", keda_manifest)
    assert missing.value.code == 2
    with pytest.raises(SystemExit) as version:
        validate(tmp_path, keda_manifest, "--kubernetes-version", "1.2", "--no-checkov")
    assert version.value.code == 2


# --- the spread model -----------------------------------------------------------------------------------------

def constraint(key: str, when: str = "ScheduleAnyway", **extra: Any) -> dict[str, Any]:
    return {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "x"}},
            "matchLabelKeys": [spread.POD_TEMPLATE_HASH], **extra}


def model(*constraints: dict[str, Any], **pod: Any) -> spread.Model:
    return spread.Model({"topologySpreadConstraints": list(constraints), **pod}, NAME, spread.cluster())


@pytest.mark.parametrize("when", ["ScheduleAnyway", "DoNotSchedule"])
def test_zone_and_host_spread_keeps_the_skew_at_every_count(when: str) -> None:
    m = model(constraint(spread.ZONE, when), constraint(spread.HOSTNAME, when))
    assert spread.check(m, 12) == []
    placed = m.place(12).nodes
    assert [n.split(".")[0] for n in placed[:6]] == ["ip-10-0-0-1", "ip-10-0-1-1", "ip-10-0-2-1",
                                                      "ip-10-0-0-2", "ip-10-0-1-2", "ip-10-0-2-2"]


def test_host_spread_alone_does_not_keep_the_zone_skew() -> None:
    """A constraint set that fails: nodes are balanced, but the second pod may share the first one's zone."""
    findings = spread.check(model(constraint(spread.HOSTNAME)), 12)
    assert len(findings) == 1 and findings[0].replicas == 2
    assert "zone skew is 2" in findings[0].message


def test_zone_spread_alone_does_not_keep_the_node_skew() -> None:
    findings = spread.check(model(constraint(spread.ZONE)), 12)
    assert findings[0].replicas == 4 and "node skew 2" in findings[0].message


def test_a_selector_that_misses_the_pods_spreads_nothing() -> None:
    wrong = {"labelSelector": {"matchLabels": {"app": "other"}}}
    findings = spread.check(model(constraint(spread.ZONE, **wrong), constraint(spread.HOSTNAME, **wrong)), 12)
    assert findings[0].replicas == 2


def test_ties_are_explored_beyond_the_name_order() -> None:
    """Nodes named so that name order alternates zones: host spread alone then looks fine in name order, but
    the scheduler breaks ties at random, and one of its choices puts the second pod in the first one's zone."""
    nodes = [spread.Node(f"n{i}", {spread.ZONE: "abc"[i % 3], spread.HOSTNAME: f"n{i}"}) for i in range(6)]
    m = spread.Model({"topologySpreadConstraints": [constraint(spread.HOSTNAME)]}, NAME, nodes)
    assert spread.check(m, 12, explore_ties=False) == []
    findings = spread.check(m, 12)
    assert findings[0].replicas == 2 and "zone skew is 2" in findings[0].message


def test_scores_follow_the_scheduler_formula() -> None:
    m = model(constraint(spread.ZONE), constraint(spread.HOSTNAME))
    first = spread.cluster()[0].name  # zone a, node 1
    scores = m.scores({first: 1}, m.feasible({first: 1}))
    # weights log(3 zones + 2) and log(6 nodes + 2); raw: node a-1 round(1.61 + 2.08) = 4, a-2 round(1.61) = 2,
    # the rest 0; normalised 100 * (max + min - raw) // max
    assert sorted(scores.values()) == [0, 50, 100, 100, 100, 100]
    assert scores[first] == 0


def test_do_not_schedule_filters_the_crowded_zone() -> None:
    m = model(constraint(spread.ZONE, "DoNotSchedule"))
    first = spread.cluster()[0]
    assert all(n.labels[spread.ZONE] != first.labels[spread.ZONE] for n in m.feasible({first.name: 1}))


def test_min_domains_beyond_the_zones_makes_the_fourth_replica_unschedulable() -> None:
    findings = spread.check(model(constraint(spread.ZONE, "DoNotSchedule", minDomains=4),
                                  constraint(spread.HOSTNAME)), 12)
    assert findings[0].replicas == 4 and "cannot be scheduled" in findings[0].message


def test_node_selector_limits_the_nodes() -> None:
    m = model(constraint(spread.ZONE), nodeSelector={spread.ZONE: "us-west-2b"})
    assert {n.labels[spread.ZONE] for n in m.feasible({})} == {"us-west-2b"}


def test_rounding_is_gos() -> None:
    assert [spread._round_half_away(v) for v in (0.5, 1.5, 2.5, 2.49)] == [1, 2, 3, 2]


# --- KEDA rule helpers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("expression", ["0 8 * * 1-5", "0 18 * * MON-FRI", "*/15 * * * *", "0 0 1 JAN,JUL ?"])
def test_cron_expressions_keda_accepts(expression: str) -> None:
    assert keda_rules.cron_problems(expression) == []


@pytest.mark.parametrize("expression", ["0 8 * *", "60 8 * * *", "0 8 * * 7", "0 8 * * 5-1", "@daily", "*/0 * * * *"])
def test_cron_expressions_keda_refuses(expression: str) -> None:
    assert keda_rules.cron_problems(expression) != []


def test_the_keda_manifest_has_only_the_cel_rule_modelled(keda_manifest: Path) -> None:
    crds = validate_samples.crd_index([str(keda_manifest)])
    rules = {r for key, crd in crds.items() if key[1] in validate_samples.KEDA_KINDS
             for r in keda_rules.cel_rules(crd)}
    assert rules == keda_rules.KNOWN_CEL_RULES


def test_duplicate_scale_targets() -> None:
    so = find(rendered("cpu-scaler"), "ScaledObject")
    other = copy.deepcopy(so)
    other["metadata"]["name"] = "second"
    assert "already managed by the ScaledObject 'cpu-scaler'" in keda_rules.duplicate_targets([so, other])[0]
