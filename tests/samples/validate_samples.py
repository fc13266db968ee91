"""Validate rendered sample workloads before they reach a cluster.

    python tests/samples/validate_samples.py DIR --kubernetes-version 1.33 --keda-manifest PATH \
        [--checkov PATH | --no-checkov] [--replicas 12]

DIR holds rendered manifests (every *.yaml / *.yml below it), as `eksscale render --out DIR` writes them. It
may hold other objects too (the KEDA install): only the sample objects are checked, that is every object in
namespace eksscale-samples, every object labelled eksscale.io/sample (so a template that forgot its namespace
is caught) and the eksscale-samples Namespace itself. Checks:

  schema    built-in kinds against kubernetes-validate's strict schemas for --kubernetes-version (unknown
            fields are errors) and the API server's name/label/selector rules; ScaledObject,
            TriggerAuthentication and ScaledJob against the openAPIV3Schema of the KEDA manifest's CRDs
            (tests/fakekube/schemas.py, shared with the fake API server)
  keda      the CRD's CEL rule, KEDA's admission webhook rules and scaler metadata (keda_rules.py)
  contract  the samples contract of docs/samples.md: namespace, labels, a ScaledObject per Deployment, no
            `replicas` under KEDA, zone and host spread, exactly one PodDisruptionBudget that never blocks a
            drain, the Pod Security `restricted` profile (podsecurity.py)
  checkov   checkov's Kubernetes framework over the sample objects; any failed check is an error; skips
            must carry a reason (`checkov.io/skipN: CKV_K8S_xx=reason`)
  spread    kube-scheduler's PodTopologySpread placement of 1 to --replicas replicas of each Deployment on
            3 zones x 2 nodes (spread.py), every tie-break followed: zone and node skew must stay <= 1

checkov is found at --checkov, $EKSSCALE_CHECKOV, .venv-checkov/bin/checkov (scripts/lib.sh creates it) or on
PATH. Exit status: 0 everything passed, 1 problems found (listed as `error ...` lines), 2 bad usage. The
last line is a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "tests" / "fakekube")]

import yaml  # noqa: E402

import keda_rules  # noqa: E402
import labelselectors  # noqa: E402
import podsecurity  # noqa: E402
import spread  # noqa: E402
from manifests import ManifestError, load_documents  # noqa: E402
from schemas import SchemaError, Schemas  # noqa: E402
from validate_manifests import crd_index, problems_of  # noqa: E402

NAMESPACE = "eksscale-samples"
SAMPLE_LABEL = "eksscale.io/sample"
NAME_LABEL = "app.kubernetes.io/name"
KEDA_KINDS = {"ScaledObject", "ScaledJob", "TriggerAuthentication", "ClusterTriggerAuthentication"}
SPREAD_KEYS = (spread.ZONE, spread.HOSTNAME)

Obj = Mapping[str, Any]


@dataclass
class Source:
    file: Path
    obj: dict[str, Any]

    @property
    def meta(self) -> dict[str, Any]:
        return self.obj.get("metadata") or {}

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind"))

    @property
    def name(self) -> str:
        return str(self.meta.get("name"))

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


class Report:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, subject: str, message: str) -> None:
        line = f"error {subject}: {message}"
        self.errors.append(line)
        print(line)


def load(directory: Path, report: Report) -> list[Source]:
    sources = []
    files = sorted(f for f in directory.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
    for file in files:
        try:
            documents = load_documents(file.read_text())
        except (ManifestError, OSError, UnicodeDecodeError) as exc:
            report.error(str(file), str(exc))
            continue
        for doc in documents:
            if isinstance(doc, dict):
                sources.append(Source(file, doc))
            else:
                report.error(str(file), "a document is not a Kubernetes object (a mapping)")
    return sources


def is_sample_object(source: Source) -> bool:
    if source.kind == "Namespace":
        return source.name == NAMESPACE
    return source.meta.get("namespace") == NAMESPACE or SAMPLE_LABEL in (source.meta.get("labels") or {})


def check_schemas(sources: list[Source], schemas: Schemas, crds: Any, report: Report) -> None:
    for s in sources:
        for problem in problems_of(s.obj, schemas, crds):
            report.error(s.label, problem)


def check_keda(sources: list[Source], crds: Mapping[tuple[str, str], Obj], report: Report) -> None:
    for crd_key, crd in crds.items():
        if crd_key[1] in KEDA_KINDS:
            for rule in set(keda_rules.cel_rules(crd)) - keda_rules.KNOWN_CEL_RULES:
                print(f"note {crd_key[1]}: CEL rule not modelled, not checked: {rule}")
    deployments = {s.name: s.obj for s in sources if s.kind == "Deployment"}
    auths = {s.name for s in sources if s.kind == "TriggerAuthentication"}
    cluster_auths = {s.name for s in sources if s.kind == "ClusterTriggerAuthentication"}
    scaled = [s for s in sources if s.kind == "ScaledObject"]
    for s in scaled:
        for problem in keda_rules.scaled_object_problems(s.obj, deployments, auths, cluster_auths):
            report.error(s.label, problem)
    for s in sources:
        if s.kind == "TriggerAuthentication":
            for problem in keda_rules.trigger_authentication_problems(s.obj):
                report.error(s.label, problem)
    for problem in keda_rules.duplicate_targets([s.obj for s in scaled]):
        subject, _, message = problem.partition(": ")
        report.error(subject, message)


def _selects(selector: Any, labels: Mapping[str, str]) -> bool:
    if not isinstance(selector, dict):
        return False
    try:
        return labelselectors.matches(labelselectors.from_label_selector(selector), labels)
    except labelselectors.SelectorError:
        return False


def _pdb_never_blocks(spec: Obj) -> str | None:
    """Why this PDB could block a drain of a 1-replica workload, or None."""
    if "minAvailable" in spec:
        if str(spec["minAvailable"]) in ("0", "0%"):
            return None
        return f"minAvailable {spec['minAvailable']} blocks node drains at low replica counts; use maxUnavailable: 1"
    value = str(spec.get("maxUnavailable", ""))
    if value.endswith("%") and value[:-1].isdigit() and int(value[:-1]) > 0:
        return None
    if value.isdigit() and int(value) >= 1:
        return None
    return f"maxUnavailable {value or '(unset)'} allows no eviction; use maxUnavailable: 1"


def check_contract(sources: list[Source], report: Report) -> None:
    pdbs = [s for s in sources if s.kind == "PodDisruptionBudget"]
    scaled = {s.name: s for s in sources if s.kind == "ScaledObject"}
    for s in sources:
        labels = s.meta.get("labels") or {}
        if s.kind == "Namespace":
            if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
                report.error(s.label, "the samples namespace must enforce the restricted Pod Security profile")
            continue
        if s.meta.get("namespace") != NAMESPACE:
            report.error(s.label, f"every sample object belongs in namespace {NAMESPACE}")
        if not labels.get(NAME_LABEL):
            report.error(s.label, f"label {NAME_LABEL} (the sample name) is missing")
        elif SAMPLE_LABEL in labels and labels[NAME_LABEL] != labels[SAMPLE_LABEL]:
            report.error(s.label, f"label {NAME_LABEL}={labels[NAME_LABEL]} is not the sample's name "
                                  f"{labels[SAMPLE_LABEL]}")
        if s.kind in ("Deployment", "ScaledObject") and SAMPLE_LABEL in labels and s.name != labels[SAMPLE_LABEL]:
            report.error(s.label, f"a sample's {s.kind} is named after the sample ({labels[SAMPLE_LABEL]})")
    for s in (s for s in sources if s.kind == "Deployment"):
        spec = s.obj.get("spec") or {}
        template = spec.get("template") or {}
        pod_labels = (template.get("metadata") or {}).get("labels") or {}
        pod_spec = template.get("spec") or {}
        if NAME_LABEL not in pod_labels:
            report.error(s.label, f"the pod template needs label {NAME_LABEL}")
        so = scaled.get(s.name)
        if so is None or ((so.obj.get("spec") or {}).get("scaleTargetRef") or {}).get("name") != s.name:
            report.error(s.label, "no ScaledObject of the same name scales this Deployment")
        elif "replicas" in spec:
            report.error(s.label, "spec.replicas is set, but KEDA owns the replica count: every re-apply would "
                                  "reset it (leave the field out)")
        constraints = pod_spec.get("topologySpreadConstraints") or []
        for key in SPREAD_KEYS:
            matching = [c for c in constraints if c.get("topologyKey") == key]
            if not matching:
                report.error(s.label, f"no topologySpreadConstraint over {key}")
            for c in matching:
                if c.get("maxSkew") != 1:
                    report.error(s.label, f"the {key} spread needs maxSkew 1")
                if not _selects(c.get("labelSelector"), pod_labels):
                    report.error(s.label, f"the {key} spread's labelSelector does not select the pod template")
                if "pod-template-hash" not in (c.get("matchLabelKeys") or []):
                    report.error(s.label, f"the {key} spread needs matchLabelKeys: [pod-template-hash]")
        covering = [p for p in pdbs if _selects((p.obj.get("spec") or {}).get("selector"), pod_labels)]
        if len(covering) != 1:
            report.error(s.label, f"{len(covering)} PodDisruptionBudgets select its pods; exactly one must "
                                  "(the eviction API refuses pods with several)")
        for p in covering:
            reason = _pdb_never_blocks(p.obj.get("spec") or {})
            if reason:
                report.error(p.label, reason)
        for problem in podsecurity.restricted_problems(pod_spec):
            report.error(s.label, f"Pod Security restricted: {problem}")


def find_checkov(explicit: str | None) -> str | None:
    for candidate in (explicit, os.environ.get("EKSSCALE_CHECKOV"), str(ROOT / ".venv-checkov" / "bin" / "checkov")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("checkov")


def run_checkov(checkov: str, sources: list[Source], directory: Path, report: Report) -> dict[str, int]:
    with tempfile.TemporaryDirectory(prefix="eksscale-checkov-") as tmp:
        by_file: dict[Path, list[dict[str, Any]]] = {}
        for s in sources:
            by_file.setdefault(s.file.relative_to(directory), []).append(s.obj)
        for rel, objs in by_file.items():
            target = Path(tmp) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.safe_dump_all(objs, sort_keys=False))
        command = [checkov, "--framework", "kubernetes", "--directory", tmp, "--output", "json", "--skip-download"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            report.error("checkov", f"could not run {checkov}: {exc}")
            return {}
    try:
        output = json.loads(done.stdout)
    except json.JSONDecodeError:
        report.error("checkov", f"exit {done.returncode}, no JSON report; stderr: {done.stderr.strip()[-2000:]}")
        return {}
    reports = output if isinstance(output, list) else [output]
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for part in reports:
        results = part.get("results") or {}
        for check in results.get("failed_checks") or []:
            report.error(f"checkov {check.get('check_id')}", f"{check.get('check_name')}: {check.get('resource')} "
                                                            f"({check.get('file_path')})")
        for check in results.get("skipped_checks") or []:
            reason = ((check.get("check_result") or {}).get("suppress_comment") or "").strip()
            print(f"skip {check.get('check_id')} {check.get('resource')}: {reason or '(no reason)'}")
            if not reason:
                report.error(f"checkov {check.get('check_id')}", f"skipped for {check.get('resource')} without a "
                                                                "reason (checkov.io/skipN: CHECK=reason)")
        for error in results.get("parsing_errors") or []:
            report.error("checkov", f"could not parse {error}")
        summary = part.get("summary") or {}
        for key in counts:
            counts[key] += int(summary.get(key, 0))
    return counts


def check_spread(sources: list[Source], replicas: int, report: Report) -> int:
    nodes = spread.cluster()
    checked = 0
    for s in (s for s in sources if s.kind == "Deployment"):
        template = (s.obj.get("spec") or {}).get("template") or {}
        labels = {**((template.get("metadata") or {}).get("labels") or {}), spread.POD_TEMPLATE_HASH: "sim"}
        try:
            model = spread.Model(template.get("spec") or {}, labels, nodes)
        except spread.SpecError as exc:
            report.error(s.label, f"spread: {exc}")
            continue
        checked += 1
        findings = spread.check(model, replicas)
        for f in findings:
            report.error(s.label, f"spread: {f.message}; placement: {', '.join(n.split('.')[0] for n in f.path)}")
        if not findings:
            final = model.place(replicas)
            per_zone: dict[str, int] = {}
            for name in final.nodes:
                zone = next(n.labels[spread.ZONE] for n in nodes if n.name == name)
                per_zone[zone] = per_zone.get(zone, 0) + 1
            shown = " ".join(f"{z}={c}" for z, c in sorted(per_zone.items()))
            print(f"ok spread {s.label}: 1..{replicas} replicas keep zone and node skew <= 1 "
                  f"(every tie-break); at {replicas}: {shown}")
    return checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, metavar="DIR")
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("--keda-manifest", required=True, type=Path)
    parser.add_argument("--checkov", help="the checkov executable (default: see above)")
    parser.add_argument("--no-checkov", action="store_true", help="leave checkov out (quicker; not for CI)")
    parser.add_argument("--replicas", type=int, default=12, help="replicas to place in the spread check")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        parser.error(f"{args.directory} is not a directory")
    if not args.keda_manifest.is_file():
        parser.error(f"{args.keda_manifest}: no such file (the KEDA release manifest)")
    checkov = None if args.no_checkov else find_checkov(args.checkov)
    if not args.no_checkov and checkov is None:
        parser.error("checkov not found: pass --checkov PATH, set EKSSCALE_CHECKOV, or run scripts/test.sh once "
                     "(it creates .venv-checkov)")
    try:
        schemas = Schemas(args.kubernetes_version)
        crds = crd_index([str(args.keda_manifest)])
    except (SchemaError, ManifestError, OSError) as exc:
        parser.error(str(exc))
    if not any(kind in KEDA_KINDS for _, kind in crds):
        parser.error(f"{args.keda_manifest} defines no KEDA CustomResourceDefinitions")

    report = Report()
    everything = load(args.directory, report)
    sources = [s for s in everything if is_sample_object(s)]
    samples = sorted({str((s.meta.get("labels") or {}).get(SAMPLE_LABEL) or (s.meta.get("labels") or {})
                          .get(NAME_LABEL)) for s in sources if s.kind != "Namespace"})
    print(f"checking {len(sources)} sample objects ({', '.join(samples) or 'none'}) of {len(everything)} in "
          f"{args.directory}")
    if not sources:
        report.error(str(args.directory), f"no sample objects (namespace {NAMESPACE} or label {SAMPLE_LABEL})")
    check_schemas(sources, schemas, crds, report)
    check_keda(sources, crds, report)
    check_contract(sources, report)
    counts = run_checkov(checkov, sources, args.directory, report) if checkov and sources else {}
    deployments = check_spread(sources, args.replicas, report)

    checkov_text = ("checkov skipped" if args.no_checkov else
                    f"checkov {counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
                    f"{counts.get('skipped', 0)} skipped")
    verdict = "FAILED" if report.errors else "OK"
    print(f"summary: {verdict}: {len(sources)} objects of {len(samples)} samples (Kubernetes "
          f"{args.kubernetes_version}); {checkov_text}; spread simulated for {deployments} Deployments; "
          f"{len(report.errors)} problems")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
