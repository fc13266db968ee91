"""fakekube: a stateful fake Kubernetes API server over plain HTTP, for tests only.

    python tests/fakekube/server.py --host 127.0.0.1 --port 0 --port-file PATH \
        [--kubernetes-version 1.35] [--ready-after 0.3] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import errors
import routing
from api import KubeApi, Request, Response
from registry import Registry
from schemas import Schemas
from stats import RequestStats


class FakeKube:
    """The whole fake cluster: API state, request statistics and the /_fake/ test hooks."""

    def __init__(self, kubernetes_version: str, ready_after: float) -> None:
        self.kubernetes_version = kubernetes_version
        self.ready_after = ready_after
        self.schemas = Schemas(kubernetes_version)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        registry = Registry(self.schemas, self.ready_after)
        registry.seed()
        self.api = KubeApi(registry, self.kubernetes_version)
        self.stats = RequestStats(registry.store.resource_version)

    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        url = urlsplit(target)
        with self.lock:
            if url.path.startswith("/_fake/"):
                return self._hook(method, url.path)
            request = Request(method, dict(parse_qsl(url.query, keep_blank_values=True)), headers, body)
            route = routing.parse(url.path)
            self.stats.record(method, route, request.media_type(), headers.get("authorization", ""))
            try:
                if route is None:
                    raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
                return self.api.handle(request, route)
            except errors.ApiError as exc:
                return Response(exc.code, exc.status())
            except Exception as exc:  # a bug in the fake: answer like a server would, and show it
                traceback.print_exc()
                return Response(500, errors.ApiError(500, "InternalError", f"fakekube: {exc!r}").status())

    def _hook(self, method: str, path: str) -> Response:
        match method, path:
            case "GET", "/_fake/requests":
                return Response(200, self.stats.snapshot(self.api.store.resource_version))
            case "POST", "/_fake/reset":
                self.reset()
                return Response(200, {"reset": True})
            case "GET", "/_fake/objects":
                return Response(200, {"resourceVersion": str(self.api.store.resource_version),
                                      "items": self.api.stored_objects()})
        return Response(404, errors.ApiError(404, "NotFound", f"no test hook {method} {path}").status())


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        while handler.rfile.readline().strip():
            pass  # trailers
        return b"".join(chunks)
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def make_handler(fake: FakeKube, verbose: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fakekube"

        def _serve(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            response = fake.dispatch(self.command, self.path, headers, _read_body(self))
            payload = (response.body if isinstance(response.body, str) else json.dumps(response.body)).encode()
            self.send_response(response.code)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            if verbose:
                print(f"fakekube: {self.command} {self.path} -> {response.code}", file=sys.stderr, flush=True)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default access log (it would print to stderr for every request)."""

    return Handler


def write_port_file(path: Path, port: int) -> None:
    """Atomically publish the port, so a reader never sees a partial file."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(f"{port}\n")
    os.replace(tmp.name, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake Kubernetes API server for tests (plain HTTP).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", type=Path, help="written with the port once the server listens")
    parser.add_argument("--kubernetes-version", default="1.35", help="served version and schema set, e.g. 1.35")
    parser.add_argument("--ready-after", type=float, default=0.3,
                        help="seconds the simulated controllers take to make things ready or finish deletions")
    parser.add_argument("--verbose", action="store_true", help="log each request (never credentials)")
    args = parser.parse_args(argv)

    fake = FakeKube(args.kubernetes_version, args.ready_after)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(fake, args.verbose))
    server.daemon_threads = True
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="fakekube-http",
                               daemon=True)
    serving.start()
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    print(f"fakekube: serving Kubernetes {args.kubernetes_version} on http://{args.host}:{port}",
          file=sys.stderr, flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
