"""Request accounting for the /_fake/requests hook."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from faults import KINDS as FAULT_KINDS

from routing import Route


def kube_verb(method: str, route: Route | None, media_type: str) -> str:
    """The Kubernetes verb of a request (`apply` is told apart from other patches)."""
    if route is None or route.resource is None:
        return method.lower()
    collection = route.resource.name is None
    match method:
        case "GET":
            return "list" if collection else "get"
        case "POST":
            return "create"
        case "PUT":
            return "update"
        case "PATCH":
            return "apply" if media_type == "application/apply-patch+yaml" else "patch"
        case "DELETE":
            return "deletecollection" if collection else "delete"
    return method.lower()


def authorization_kind(header: str) -> str:
    """`bearer`, `other` or `none`; the credential itself is never kept."""
    if not header:
        return "none"
    return "bearer" if header.lower().startswith("bearer ") and header[7:].strip() else "other"


class RequestStats:
    """Thread-safe: authentication and injected faults are counted outside the state lock."""

    def __init__(self, baseline_resource_version: int) -> None:
        self._baseline = baseline_resource_version
        self._lock = threading.Lock()
        self._routes: Counter[str] = Counter()
        self._verbs: Counter[str] = Counter()
        self._authorization: Counter[str] = Counter()
        self._eks_tokens: Counter[str] = Counter()
        self._distinct_tokens: set[str] = set()  # SHA-256 of each valid token, never the token
        self._faults: Counter[str] = Counter()

    def record(self, method: str, route: Route | None, media_type: str, authorization: str) -> None:
        with self._lock:
            self._routes[f"{method} {route.template if route else 'unknown'}"] += 1
            self._verbs[kube_verb(method, route, media_type)] += 1
            self._authorization[authorization_kind(authorization)] += 1

    def record_eks_token(self, valid: bool, digest: str | None = None) -> None:
        with self._lock:
            self._eks_tokens["valid" if valid else "rejected"] += 1
            if valid and digest:
                self._distinct_tokens.add(digest)

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self, resource_version: int) -> dict[str, Any]:
        """Counts since the last reset; `writes` is how many times stored state changed; `eksTokens` how many
        requests carried a valid EKS token and how many were refused (--auth aws-iam), `eksTokensDistinct` how
        many different valid tokens were seen (a client that refreshes its token shows more than one);
        `faults` what was injected."""
        with self._lock:
            return {
                "total": sum(self._routes.values()),
                "byRoute": dict(sorted(self._routes.items())),
                "byVerb": dict(sorted(self._verbs.items())),
                "authorization": {kind: self._authorization[kind] for kind in ("bearer", "other", "none")},
                "eksTokens": {kind: self._eks_tokens[kind] for kind in ("valid", "rejected")},
                "eksTokensDistinct": len(self._distinct_tokens),
                "faults": {kind: self._faults[kind] for kind in FAULT_KINDS},
                "writes": resource_version - self._baseline,
            }
