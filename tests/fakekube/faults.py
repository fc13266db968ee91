"""Injected request failures (`--fail-rate`, `POST /_fake/faults`): the flaky network and overloaded control
plane a client must retry through.

A chosen fraction of API requests (or of reads only) fails before anything is done: 500 InternalError and 503
ServiceUnavailable are answered with the Status bodies kube-apiserver sends (apimachinery
pkg/api/errors/errors.go, NewInternalError and NewServiceUnavailable), `reset` drops the TCP connection with
no response at all (an RST, as a load balancer dropping a connection does).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

KINDS = ("500", "503", "reset")
READ_METHODS = ("GET", "HEAD")
INJECTED = "fakekube: injected fault"


class FaultConfigError(ValueError):
    """A fault configuration that cannot be used (bad rate or kind)."""


@dataclass(frozen=True)
class FaultConfig:
    rate: float = 0.0
    kinds: tuple[str, ...] = KINDS
    reads_only: bool = False

    @classmethod
    def parse(cls, body: dict[str, Any]) -> FaultConfig:
        rate = body.get("rate", 0.0)
        kinds = body.get("kinds", list(KINDS))
        reads_only = body.get("reads_only", False)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise FaultConfigError("rate must be a number from 0 to 1")
        if not isinstance(kinds, list) or not kinds or any(k not in KINDS for k in kinds):
            raise FaultConfigError(f"kinds must be a non-empty list of {', '.join(KINDS)}")
        if not isinstance(reads_only, bool):
            raise FaultConfigError("reads_only must be true or false")
        return cls(float(rate), tuple(kinds), reads_only)

    def to_json(self) -> dict[str, Any]:
        return {"rate": self.rate, "kinds": list(self.kinds), "reads_only": self.reads_only}


class Faults:
    """Decides, per request, whether and how it fails (thread-safe)."""

    def __init__(self, default: FaultConfig, seed: int | None = None) -> None:
        self.default = default
        self.config = default
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def set(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config

    def reset(self) -> None:
        self.set(self.default)

    def draw(self, method: str) -> str | None:
        """The fault kind for this request, or None to serve it normally."""
        with self._lock:
            config = self.config
            if config.rate <= 0 or (config.reads_only and method not in READ_METHODS):
                return None
            if self._random.random() >= config.rate:
                return None
            return self._random.choice(config.kinds)


def status_body(kind: str) -> tuple[int, dict[str, Any]]:
    if kind == "500":
        return 500, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": f"Internal error occurred: {INJECTED}", "reason": "InternalError",
                     "details": {"causes": [{"message": INJECTED}]}, "code": 500}
    return 503, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": "the server is currently unable to handle the request", "reason": "ServiceUnavailable",
                 "code": 503}
