"""A minimal HTTP client for talking to fakekube from tests (standard library only)."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlencode

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass
class Reply:
    code: int
    body: Any
    content_type: str

    @property
    def reason(self) -> str | None:
        return self.body.get("reason") if isinstance(self.body, dict) else None


class Kube:
    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None, token: str | None = None) -> None:
        """`tls`: talk HTTPS trusting that context's CAs; `token`: sent as `Authorization: Bearer`."""
        self.host, self.port, self.tls, self.token = host, port, tls, token

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> Reply:
        if params:
            path += "?" + urlencode(params)
        payload = body if isinstance(body, (bytes, type(None))) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        connection = (http.client.HTTPSConnection(self.host, self.port, timeout=30, context=self.tls) if self.tls
                      else http.client.HTTPConnection(self.host, self.port, timeout=30))
        try:
            all_headers = {"Content-Type": content_type, **(headers or {})}
            if self.token and not path.startswith("/_fake/"):
                all_headers.setdefault("Authorization", f"Bearer {self.token}")
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            raw = response.read().decode()
            response_type = response.getheader("Content-Type", "")
        finally:
            connection.close()
        return Reply(response.status, json.loads(raw) if response_type.startswith("application/json") else raw,
                     response_type)

    def get(self, path: str, **params: str) -> Reply:
        return self.request("GET", path, params=params)

    def apply(self, path: str, obj: Any, manager: str = "test", **params: str) -> Reply:
        return self.request("PATCH", path, obj, APPLY, params={"fieldManager": manager, **params})

    def delete(self, path: str, **params: str) -> Reply:
        return self.request("DELETE", path, params=params)

    def requests(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.get("/_fake/requests").body
        return stats

    def wait_for(self, path: str, predicate: Callable[[Reply], bool], timeout: float = 10.0) -> Reply:
        """Poll GET `path` until `predicate` holds; fail with the last reply otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.get(path)
            if predicate(reply):
                return reply
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting on {path}; last reply {reply.code}: {reply.body}")
            time.sleep(0.05)


def _find_condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind), None)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    found = _find_condition(obj, kind)
    assert found is not None, f"no {kind} condition in {obj.get('status')}"
    return found


def is_true(obj: dict[str, Any], kind: str) -> bool:
    found = _find_condition(obj, kind)
    return found is not None and found["status"] == "True"


def url_for(obj: dict[str, Any], plural: str) -> str:
    """The object's URL, given its resource plural."""
    api_version, metadata = obj["apiVersion"], obj["metadata"]
    prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    namespace = f"/namespaces/{metadata['namespace']}" if metadata.get("namespace") else ""
    return f"{prefix}{namespace}/{plural}/{metadata['name']}"
