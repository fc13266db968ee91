"""The failure-injection annotation: a pod template carrying it never becomes ready."""

from __future__ import annotations

from typing import Any

FAIL_ANNOTATION = "fakekube.eksscale.io/fail"
FAILURE_MODES = ("ImagePullBackOff", "Unschedulable", "CrashLoopBackOff")


def injected_failure(pod_metadata: dict[str, Any] | None) -> str | None:
    """The failure mode requested by a pod (template) metadata, if any."""
    value = ((pod_metadata or {}).get("annotations") or {}).get(FAIL_ANNOTATION)
    return value if value in FAILURE_MODES else None
