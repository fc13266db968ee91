"""fakekube: a stateful fake Kubernetes (EKS) API server, for tests only.

    python tests/fakekube/server.py --host 127.0.0.1 --port 0 --port-file PATH \
        [--kubernetes-version 1.35] [--ready-after 0.3] [--progress-deadline-scale 1] [--verbose] \
        [--tls-dir DIR] [--auth none|aws-iam --sts-endpoint URL --cluster-name NAME] \
        [--eks-endpoint URL] [--aws-endpoint URL] [--aws-region REGION] [--deny-for SECONDS] \
        [--fail-rate R --fail-kinds 500,503,reset --fail-reads-only --fail-seed N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import certs
import errors
import faults
import routing
from api import KubeApi, Request, Response
from awscloud import AwsCloud, CloudSettings
from eksauth import EksAuthenticator, TokenRejected, bearer_token, unauthorized_status
from podidentity import Association, AssociationError, EksAssociations, PodIdentityWebhook
from registry import Registry
from reviews import ADMIN, AccessPolicy, UserInfo
from schemas import Schemas
from stats import RequestStats

DROP = object()  # answer nothing: reset the connection (an injected fault)


class FakeKube:
    """The whole fake cluster: API state, request statistics and the /_fake/ test hooks."""

    def __init__(self, kubernetes_version: str, ready_after: float, deadline_scale: float = 1.0,
                 authenticator: EksAuthenticator | None = None, webhook: PodIdentityWebhook | None = None,
                 fault_config: faults.FaultConfig = faults.FaultConfig(), fault_seed: int | None = None,
                 deny_for: float = 0.0, verbose: bool = False, cloud: CloudSettings | None = None) -> None:
        self.kubernetes_version = kubernetes_version
        self.ready_after = ready_after
        self.deadline_scale = deadline_scale
        self.schemas = Schemas(kubernetes_version)
        self.authenticator = authenticator
        self.webhook = webhook or PodIdentityWebhook(None)
        self.faults = faults.Faults(fault_config, fault_seed)
        self.started = time.time()
        self.deny_for = deny_for
        self.access = AccessPolicy(self.started + deny_for)
        self.verbose = verbose
        self.cloud = cloud or CloudSettings()
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to a fresh cluster; settings changed through hooks return to the command line's."""
        registry = Registry(self.schemas, self.ready_after, (self.webhook.mutate,), self.deadline_scale, self.cloud)
        registry.seed()
        self.api = KubeApi(registry, self.kubernetes_version, self.access)
        self.stats = RequestStats(registry.store.resource_version)
        self.faults.reset()
        self.access.deny_until(self.started + self.deny_for)
        self.webhook.clear()
        if self.cloud.aws is not None:
            self.cloud.aws.clear()

    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response | object:
        url = urlsplit(target)
        if url.path.startswith("/_fake/"):
            with self.lock:
                return self._hook(method, url.path, body)
        route = routing.parse(url.path)
        request = Request(method, dict(parse_qsl(url.query, keep_blank_values=True)), headers, body)
        self.stats.record(method, route, request.media_type(), headers.get("authorization", ""))
        fault = self.faults.draw(method)
        if fault is not None:
            self.stats.record_fault(fault)
            if fault == "reset":
                return DROP
            return Response(*faults.status_body(fault))
        user = self._authenticate(headers.get("authorization", ""))
        if user is None:
            return Response(401, unauthorized_status())
        request.user = user
        with self.lock:
            try:
                if route is None:
                    raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
                return self.api.handle(request, route)
            except errors.ApiError as exc:
                return Response(exc.code, exc.status())
            except Exception as exc:  # a bug in the fake: answer like a server would, and show it
                traceback.print_exc()
                return Response(500, errors.ApiError(500, "InternalError", f"fakekube: {exc!r}").status())

    def _authenticate(self, authorization: str) -> UserInfo | None:
        """--auth none: everyone is the cluster admin. --auth aws-iam: a valid EKS token is required (no
        anonymous access), verified outside the state lock since it calls STS."""
        if self.authenticator is None:
            return ADMIN
        token = bearer_token(authorization)
        try:
            if token is None:
                raise TokenRejected("no bearer token")
            identity = self.authenticator.verify(token)
        except TokenRejected as rejected:
            self.stats.record_eks_token(False)
            if self.verbose:
                print(f"fakekube: token rejected: {rejected}", file=sys.stderr, flush=True)
            return None
        self.stats.record_eks_token(True, hashlib.sha256(token.encode()).hexdigest())
        return identity.user()

    def _hook(self, method: str, path: str, body: bytes) -> Response:
        try:
            match method, path:
                case "GET", "/_fake/requests":
                    return Response(200, self.stats.snapshot(self.api.store.resource_version))
                case "POST", "/_fake/reset":
                    self.reset()
                    return Response(200, {"reset": True})
                case "GET", "/_fake/objects":
                    return Response(200, {"resourceVersion": str(self.api.store.resource_version),
                                          "items": self.api.stored_objects()})
                case "GET", "/_fake/faults":
                    return Response(200, self.faults.config.to_json())
                case "POST", "/_fake/faults":
                    self.faults.set(faults.FaultConfig.parse(_json_body(body)))
                    return Response(200, self.faults.config.to_json())
                case "GET", "/_fake/pod-identity-associations":
                    return Response(200, {"items": self.webhook.associations()})
                case "POST", "/_fake/pod-identity-associations":
                    association = Association.parse(_json_body(body))
                    self.webhook.register(association)
                    return Response(201, association.to_json())
                case "GET", "/_fake/aws":
                    aws = self.cloud.aws
                    return Response(200, {"endpoint": aws.endpoint if aws else None, "region": self.cloud.region,
                                          "cluster": self.cloud.cluster, "failures": aws.failures if aws else 0,
                                          "actions": list(aws.actions) if aws else []})
                case "POST", "/_fake/deny-for":
                    seconds = _json_body(body).get("seconds")
                    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                        raise ValueError("seconds must be a number, at least 0")
                    self.access.deny_until(time.time() + seconds)
                    return Response(200, {"deniedFor": seconds})
        except (ValueError, faults.FaultConfigError, AssociationError) as exc:
            return Response(400, errors.bad_request(f"bad test hook request: {exc}").status())
        return Response(404, errors.ApiError(404, "NotFound", f"no test hook {method} {path}").status())


def _json_body(body: bytes) -> dict[str, Any]:
    value = json.loads(body or b"{}")
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


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
            if not isinstance(response, Response):
                self._drop()
                if verbose:
                    print(f"fakekube: {self.command} {self.path} -> reset", file=sys.stderr, flush=True)
                return
            payload = (response.body if isinstance(response.body, str) else json.dumps(response.body)).encode()
            self.send_response(response.code)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            if verbose:
                print(f"fakekube: {self.command} {self.path} -> {response.code}", file=sys.stderr, flush=True)

        def _drop(self) -> None:
            """Close with SO_LINGER 0: the kernel sends RST instead of FIN, so the client sees a reset."""
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default access log (it would print to stderr for every request)."""

    return Handler


class TlsServer(ThreadingHTTPServer):
    """HTTPS; the handshake runs in the connection's own thread, so a stalled client blocks nobody."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return  # a client that does not trust the CA, or went away: nothing to serve
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
            super().handle_error(request, client_address)


def write_port_file(path: Path, port: int) -> None:
    """Atomically publish the port, so a reader never sees a partial file."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(f"{port}\n")
    os.replace(tmp.name, path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Fake Kubernetes (EKS) API server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", type=Path, help="written with the port once the server listens")
    parser.add_argument("--kubernetes-version", default="1.35", help="served version and schema set, e.g. 1.35")
    parser.add_argument("--ready-after", type=float, default=0.3,
                        help="seconds the simulated controllers take to make things ready or finish deletions")
    parser.add_argument("--progress-deadline-scale", type=float, default=1.0,
                        help="multiplies a Deployment's progressDeadlineSeconds (0.01: 600 s become 6 s)")
    parser.add_argument("--verbose", action="store_true", help="log each request (never credentials)")
    parser.add_argument("--tls-dir", type=Path,
                        help="serve HTTPS with a fresh test CA, written to DIR/ca.crt and DIR/ca.b64")
    parser.add_argument("--auth", choices=("none", "aws-iam"), default="none",
                        help="aws-iam: require EKS tokens (k8s-aws-v1.), verified against --sts-endpoint")
    parser.add_argument("--sts-endpoint", help="the STS the presigned GetCallerIdentity URL is sent to")
    parser.add_argument("--cluster-name", help="the cluster name tokens must be signed for (x-k8s-aws-id)")
    parser.add_argument("--token-lifetime", type=float, default=15 * 60,
                        help="seconds after X-Amz-Date an EKS token is honoured (EKS: 15 minutes); shorter makes "
                             "a client refresh its token during a test")
    parser.add_argument("--eks-endpoint", help="look Pod Identity associations up there (needs --cluster-name)")
    parser.add_argument("--aws-endpoint",
                        help="the AWS emulator the cloud controllers call to delete load balancers and EBS volumes "
                             "(needs --cluster-name)")
    parser.add_argument("--aws-region", default="us-east-1",
                        help="the cluster's region (for --eks-endpoint, --aws-endpoint and load balancer names)")
    parser.add_argument("--deny-for", type=float, default=0.0,
                        help="SelfSubjectAccessReviews answer allowed=false for this long after start")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="fraction (0..1) of requests that fail")
    parser.add_argument("--fail-kinds", default=",".join(faults.KINDS),
                        help="comma-separated failures to inject: 500, 503, reset")
    parser.add_argument("--fail-reads-only", action="store_true", help="inject failures into GETs only")
    parser.add_argument("--fail-seed", type=int, help="seed for choosing which requests fail")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.auth == "aws-iam" and not (args.sts_endpoint and args.cluster_name):
        parser.error("--auth aws-iam needs --sts-endpoint and --cluster-name")
    if args.eks_endpoint and not args.cluster_name:
        parser.error("--eks-endpoint needs --cluster-name")
    if args.aws_endpoint and not args.cluster_name:
        parser.error("--aws-endpoint needs --cluster-name")
    try:
        fault_config = faults.FaultConfig.parse({"rate": args.fail_rate, "kinds": args.fail_kinds.split(","),
                                                 "reads_only": args.fail_reads_only})
    except faults.FaultConfigError as exc:
        parser.error(str(exc))
    authenticator = (EksAuthenticator(args.sts_endpoint, args.cluster_name, args.token_lifetime)
                     if args.auth == "aws-iam" else None)
    eks = EksAssociations(args.eks_endpoint, args.cluster_name, args.aws_region) if args.eks_endpoint else None
    aws = AwsCloud(args.aws_endpoint.rstrip("/"), args.aws_region, args.verbose) if args.aws_endpoint else None
    cloud = CloudSettings(args.aws_region, args.cluster_name or "", aws)
    fake = FakeKube(args.kubernetes_version, args.ready_after, args.progress_deadline_scale, authenticator,
                    PodIdentityWebhook(eks), fault_config, args.fail_seed, args.deny_for, args.verbose, cloud)
    handler = make_handler(fake, args.verbose)
    if args.tls_dir:
        credentials = certs.generate()
        certs.publish(credentials, args.tls_dir)
        server: ThreadingHTTPServer = TlsServer((args.host, args.port), handler, certs.server_context(credentials))
    else:
        server = ThreadingHTTPServer((args.host, args.port), handler)
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
    scheme = "https" if args.tls_dir else "http"
    print(f"fakekube: serving Kubernetes {args.kubernetes_version} on {scheme}://{args.host}:{port}",
          file=sys.stderr, flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
