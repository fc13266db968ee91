"""KEDA's rules beyond its CRD schemas, for ScaledObjects and TriggerAuthentications (KEDA 2.20).

The CRD schema (checked with jsonschema elsewhere) says which fields exist; these are the rules the API
server and KEDA's admission webhook apply on top, and the scaler metadata KEDA parses only when it builds the
scaler (a typo there is silently ignored or fails at run time, so it is checked here):

- CRD `x-kubernetes-validations` (CEL): the one rule KEDA 2.20 ships, minReplicaCount <= maxReplicaCount
  (default 100). Any other CEL rule found in the manifest is reported as not checked.
- Admission webhook (apis/keda/v1alpha1/scaledobject_webhook.go): one ScaledObject per workload; cpu and
  memory triggers need the container's request (or limit) for that resource; only-cpu/memory triggers cannot
  have minReplicaCount 0 ("scale to zero doesn't work in this case"); idleReplicaCount < minReplicaCount;
  unique trigger names; `fallback` only with AverageValue metrics and no cpu/memory trigger.
  TriggerAuthentication: podIdentity.roleArn and identityOwner are mutually exclusive.
- Scaler metadata (pkg/scalers/*_scaler.go, the `keda:"name=..."` struct tags): known keys, required keys,
  number/bool formats; cron expressions with robfig/cron's five-field parser, IANA time zones.
- References: scaleTargetRef names a Deployment of the set, authenticationRef a TriggerAuthentication.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Any, Iterator, Mapping

Obj = Mapping[str, Any]

KNOWN_CEL_RULES = {
    "!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount) ? self.maxReplicaCount : 100)",
}
_AWS_AUTH_KEYS = {"identityOwner", "awsRoleArn", "awsAccessKeyID", "awsAccessKeyIDFromEnv", "awsSecretAccessKey",
                  "awsSecretAccessKeyFromEnv", "awsSessionToken", "awsSessionTokenFromEnv"}
SCALER_KEYS: dict[str, set[str]] = {
    "aws-sqs-queue": {"queueURL", "queueURLFromEnv", "queueLength", "activationQueueLength", "awsRegion",
                      "awsEndpoint", "scaleOnInFlight", "scaleOnDelayed"} | _AWS_AUTH_KEYS,
    "cron": {"start", "end", "timezone", "desiredReplicas"},
    "cpu": {"value", "activationValue", "containerName", "type"},
    "memory": {"value", "activationValue", "containerName", "type"},
}
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")
_CRON_FIELDS = (("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None),
                ("month", 1, 12, ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                                  "DEC"]),
                ("day of week", 0, 6, ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]))


def cel_rules(crd: Obj) -> Iterator[str]:
    """Every x-kubernetes-validations rule in a CRD's schemas."""
    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for rule in node.get("x-kubernetes-validations") or []:
                yield str(rule.get("rule", ""))
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)
    yield from walk(crd.get("spec", {}).get("versions", []))


def _int(text: Any) -> int | None:
    try:
        return int(str(text), 10)
    except ValueError:
        return None


def cron_problems(expression: str) -> list[str]:
    """robfig/cron/v3 with Minute|Hour|Dom|Month|Dow: five fields of `*`, `?`, values, ranges, steps, lists."""
    fields = expression.split()
    if len(fields) != 5:
        return [f"{expression!r} has {len(fields)} fields; KEDA's cron parser takes exactly 5 "
                "(minute hour day-of-month month day-of-week)"]
    problems = []
    for text, (label, low, high, names) in zip(fields, _CRON_FIELDS):
        for part in text.split(","):
            span, _, step = part.partition("/")
            if step and (_int(step) is None or _int(step) <= 0):  # type: ignore[operator]
                problems.append(f"{label} {part!r}: bad step")
                continue
            if span in ("*", "?"):
                continue
            bounds = span.split("-")
            values = []
            for bound in bounds:
                value = _int(bound)
                if value is None and names and bound.upper() in names:
                    value = names.index(bound.upper()) + low
                values.append(value)
            if len(values) > 2 or any(v is None or not low <= v <= high for v in values):
                problems.append(f"{label} {part!r}: not a value or range within {low}-{high}")
            elif len(values) == 2 and values[0] > values[1]:  # type: ignore[operator]
                problems.append(f"{label} {part!r}: range start after its end")
    return problems


def _metadata_problems(trigger: Obj, containers: list[Obj]) -> list[str]:
    kind, meta = trigger.get("type"), trigger.get("metadata") or {}
    known = SCALER_KEYS.get(str(kind))
    if known is None:
        return []  # a scaler these rules do not know: the schema check is all there is
    problems = [f"metadata.{key} is not a {kind} scaler parameter in KEDA 2.20 (KEDA would ignore it)"
                for key in sorted(set(meta) - known)]
    if kind == "aws-sqs-queue":
        if not (meta.get("queueURL") or meta.get("queueURLFromEnv")):
            problems.append("metadata.queueURL (or queueURLFromEnv) is required")
        url = str(meta.get("queueURL", ""))
        if url.startswith(("http://", "https://")) and len(re.sub(r"^https?://[^/]*", "", url).split("/")) != 3:
            problems.append(f"metadata.queueURL {url!r}: KEDA takes the queue name from a /<account>/<name> path")
        if not meta.get("awsRegion"):
            problems.append("metadata.awsRegion is required")
        for key in ("queueLength", "activationQueueLength"):
            if key in meta and _int(meta[key]) is None:
                problems.append(f"metadata.{key} {meta[key]!r} is not an integer")
        for key in ("scaleOnInFlight", "scaleOnDelayed"):
            if key in meta and str(meta[key]).lower() not in ("true", "false", "1", "0"):
                problems.append(f"metadata.{key} {meta[key]!r} is not a boolean")
    elif kind == "cron":
        for key in ("start", "end", "timezone", "desiredReplicas"):
            if not meta.get(key):
                problems.append(f"metadata.{key} is required")
        for key in ("start", "end"):
            if meta.get(key):
                problems += [f"metadata.{key}: {p}" for p in cron_problems(str(meta[key]))]
        if meta.get("start") and meta.get("start") == meta.get("end"):
            problems.append("metadata.start and end cannot be the same time")
        if meta.get("timezone"):
            try:
                zoneinfo.ZoneInfo(str(meta["timezone"]))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                problems.append(f"metadata.timezone {meta['timezone']!r} is not an IANA time zone")
        replicas = _int(meta.get("desiredReplicas", ""))
        if meta.get("desiredReplicas") and (replicas is None or replicas <= 0):
            problems.append(f"metadata.desiredReplicas {meta['desiredReplicas']!r} must be a positive integer")
    else:  # cpu, memory
        if "type" in meta:
            problems.append("metadata.type was removed in KEDA 2.18: set the trigger's metricType instead")
        metric_type = trigger.get("metricType")
        if metric_type not in ("Utilization", "AverageValue"):
            problems.append(f"metricType must be Utilization or AverageValue for a {kind} trigger")
        value = str(meta.get("value", ""))
        if not value:
            problems.append("metadata.value is required")
        elif metric_type == "Utilization" and (_int(value) is None or _int(value) <= 0):  # type: ignore[operator]
            problems.append(f"metadata.value {value!r}: Utilization is a whole percentage of the request")
        elif metric_type == "AverageValue" and not _QUANTITY.match(value):
            problems.append(f"metadata.value {value!r} is not a Kubernetes quantity")
        name = meta.get("containerName")
        chosen = [c for c in containers if not name or c.get("name") == name]
        if name and not chosen:
            problems.append(f"metadata.containerName {name!r} is not a container of the target")
        for container in chosen:
            resources = container.get("resources") or {}
            if not any(_positive((resources.get(part) or {}).get(kind)) for part in ("requests", "limits")):
                # verifyCPUMemoryScalers (a LimitRange default would also do; samples carry none)
                problems.append(f"the scaledobject has a {kind} trigger but the container "
                                f"{container.get('name')} doesn't have the {kind} request defined")
    return problems


def _positive(quantity: Any) -> bool:
    text = str(quantity or "")
    match = _QUANTITY.match(text)
    return bool(match) and float(match.group(1)) > 0


def scaled_object_problems(so: Obj, deployments: Mapping[str, Obj], auths: set[str],
                           cluster_auths: set[str]) -> list[str]:
    spec = so.get("spec") or {}
    problems = []
    low = spec.get("minReplicaCount")
    high = spec.get("maxReplicaCount", 100)
    if low is not None and isinstance(high, int) and low > high:
        problems.append("minReplicaCount must be less than or equal to maxReplicaCount")  # the CRD's CEL rule
    idle = spec.get("idleReplicaCount")
    if idle is not None and idle >= (low or 0):
        problems.append("idleReplicaCount must be lower than minReplicaCount")
    target = spec.get("scaleTargetRef") or {}
    kind, api = target.get("kind", "Deployment"), target.get("apiVersion", "apps/v1")
    deployment = deployments.get(str(target.get("name")))
    containers: list[Obj] = []
    if (api, kind) != ("apps/v1", "Deployment"):
        problems.append(f"scaleTargetRef is {api} {kind}; the samples scale Deployments")
    elif deployment is None:
        problems.append(f"scaleTargetRef names Deployment {target.get('name')!r}, which is not in the set")
    else:
        containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers") or []
    triggers = spec.get("triggers") or []
    names = [t.get("name") for t in triggers if t.get("name")]
    if len(names) != len(set(names)):
        problems.append("trigger names must be unique")
    for index, trigger in enumerate(triggers):
        where = f"triggers[{index}] ({trigger.get('type')})"
        problems += [f"{where}: {p}" for p in _metadata_problems(trigger, containers)]
        ref = trigger.get("authenticationRef")
        if ref:
            ref_kind = ref.get("kind", "TriggerAuthentication")
            known = cluster_auths if ref_kind == "ClusterTriggerAuthentication" else auths
            if ref.get("name") not in known:
                problems.append(f"{where}: authenticationRef names {ref_kind} {ref.get('name')!r}, "
                                "which is not in the set")
        if trigger.get("metricType") == "Utilization" and trigger.get("type") not in ("cpu", "memory"):
            problems.append(f"{where}: metricType Utilization is only for cpu and memory triggers")
        if trigger.get("useCachedMetrics") and trigger.get("type") in ("cpu", "memory"):
            problems.append(f"{where}: useCachedMetrics is not supported for cpu and memory triggers")
    kinds = {t.get("type") for t in triggers}
    if kinds and kinds <= {"cpu", "memory"} and not low:
        problems.append("scaledobject has only cpu/memory triggers AND minReplica is 0 "
                        "(scale to zero doesn't work in this case)")
    if spec.get("fallback") is not None and (kinds & {"cpu", "memory"} or any(
            t.get("metricType", "AverageValue") != "AverageValue" for t in triggers)):
        problems.append("fallback works only with AverageValue metrics and no cpu/memory trigger")
    return problems


def trigger_authentication_problems(ta: Obj) -> list[str]:
    identity = (ta.get("spec") or {}).get("podIdentity") or {}
    if identity.get("roleArn") and identity.get("identityOwner"):
        return ["podIdentity.roleArn and podIdentity.identityOwner are mutually exclusive"]
    return []


def duplicate_targets(scaled_objects: list[Obj]) -> list[str]:
    """The webhook refuses a second ScaledObject for a workload (or the same HPA name)."""
    seen: dict[tuple[str, str], str] = {}
    problems = []
    for so in scaled_objects:
        meta, target = so.get("metadata") or {}, (so.get("spec") or {}).get("scaleTargetRef") or {}
        key = (str(meta.get("namespace")), str(target.get("name")))
        if key in seen:
            problems.append(f"ScaledObject/{meta.get('name')}: the workload {target.get('name')!r} is already "
                            f"managed by the ScaledObject {seen[key]!r}")
        seen.setdefault(key, str(meta.get("name")))
    return problems
