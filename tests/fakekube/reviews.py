"""Reviews a client asks about itself: SelfSubjectAccessReview ("may I?", as `kubectl auth can-i` and
eksscale's access checks ask) and SelfSubjectReview (`kubectl auth whoami`). Both are answered on POST and
never stored (pkg/registry/authorization/selfsubjectaccessreview/rest.go,
pkg/registry/authentication/selfsubjectreview/rest.go).

Every request is allowed, except during a denial window (`--deny-for`, `POST /_fake/deny-for`) that stands in
for an EKS access entry or access policy that has not propagated yet.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import errors

DENIAL_REASON = ("fakekube: access denied for now (--deny-for): the EKS access policy has not taken effect "
                 "yet")


@dataclass(frozen=True)
class UserInfo:
    """Who a request is from, as an authenticator reports it (authentication.k8s.io/v1 UserInfo)."""
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ("system:authenticated",)
    extra: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.username}
        if self.uid:
            out["uid"] = self.uid
        out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


# With --auth none every request is taken to be the cluster creator's admin (EKS bootstrap admin rights).
ADMIN = UserInfo("kubernetes-admin", groups=("system:masters", "system:authenticated"))


class AccessPolicy:
    """Whether SelfSubjectAccessReviews are allowed now (thread-safe: hooks set it outside the state lock)."""

    def __init__(self, deny_until: float) -> None:
        self._lock = threading.Lock()
        self._deny_until = deny_until

    def deny_until(self, at: float) -> None:
        with self._lock:
            self._deny_until = at

    def denied(self, now: float) -> bool:
        with self._lock:
            return now < self._deny_until


def access_review(body: dict[str, Any], policy: AccessPolicy, now: float) -> dict[str, Any]:
    spec = body.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    # ValidateSelfSubjectAccessReviewSpec (pkg/apis/authorization/validation/validation.go)
    if resource is not None and non_resource is not None:
        cause = errors.Cause("FieldValueInvalid", f"Invalid value: {_json(non_resource)}: cannot be specified in "
                             "combination with resourceAttributes", "spec.nonResourceAttributes")
        raise errors.invalid("SelfSubjectAccessReview", "authorization.k8s.io", "", [cause])
    if resource is None and non_resource is None:
        cause = errors.Cause("FieldValueInvalid", "Invalid value: null: exactly one of nonResourceAttributes or "
                             "resourceAttributes must be specified", "spec.resourceAttributes")
        raise errors.invalid("SelfSubjectAccessReview", "authorization.k8s.io", "", [cause])
    status: dict[str, Any] = {"allowed": True}
    if policy.denied(now):
        status = {"allowed": False, "reason": DENIAL_REASON}
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {},
            "spec": spec, "status": status}


def self_review(user: UserInfo) -> dict[str, Any]:
    return {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
            "status": {"userInfo": user.to_json()}}


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
