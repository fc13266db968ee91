"""EKS authentication (`--auth aws-iam`): bearer tokens checked the way aws-iam-authenticator does.

A token is `k8s-aws-v1.` + unpadded base64url of a presigned STS GetCallerIdentity URL whose signature
covers the header `x-k8s-aws-id: <cluster name>` (awscli's customizations/eks/get_token.py, eksscale's
src/aws/token.rs). The checks follow aws-iam-authenticator's pkg/token/token.go, `tokenVerifier.Verify`:
size, prefix, base64url, https, an STS host, path `/`, only the known query parameters and each once,
Action=GetCallerIdentity, x-k8s-aws-id among X-Amz-SignedHeaders, 0 <= X-Amz-Expires <= 900, and X-Amz-Date
plus 15 minutes not passed (STS ignores X-Amz-Expires). Then the URL's query is sent as a GET to the STS
endpoint (here the AWS emulator) with `x-k8s-aws-id: <cluster>`, and the caller's ARN comes back.

Two additions, both because the emulator (moto) is not real STS: `Version=2011-06-15` and the SigV4 query
parameters must be present (real STS rejects the request otherwise; the authenticator lets STS say so), and
the query's credential is restated as an `Authorization` header, because moto routes a request to STS and
finds its caller by that header only (it never checks signatures).

Like kube-apiserver's cached token authenticator, successes are remembered for a while (here
CACHE_SECONDS, never past the token's own expiry), keyed by a hash: the token itself is never kept or
logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from calendar import timegm
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from reviews import UserInfo

TOKEN_PREFIX = "k8s-aws-v1."
MAX_TOKEN_BYTES = 4096  # maxTokenLenBytes
CLUSTER_ID_HEADER = "x-k8s-aws-id"
PRESIGNED_URL_LIFETIME = 15 * 60  # presignedURLExpiration: STS honours a presigned URL this long
MAX_EXPIRES = 900
CACHE_SECONDS = 10.0
STS_TIMEOUT = 10.0
ALLOWED_PARAMETERS = {"action", "version", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires",
                      "x-amz-security-token", "x-amz-signature", "x-amz-signedheaders"}  # parameterWhitelist
REQUIRED_PARAMETERS = ("x-amz-algorithm", "x-amz-credential", "x-amz-signature")
# The STS endpoints of the aws and aws-cn partitions (stsHostsForPartition): global and regional.
_STS_HOST = re.compile(r"^sts(-fips)?(\.(?P<region>[a-z]{2}(-[a-z]+)+-\d+))?\.amazonaws\.com(?P<cn>\.cn)?$")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>[^:]+):sts::(?P<account>\d+):assumed-role/(?P<role>[^/]+)/(?P<session>.+)$")


class TokenRejected(Exception):
    """Why a token was refused (for tests and --verbose; the client only ever sees 401 Unauthorized)."""


@dataclass(frozen=True)
class Identity:
    arn: str
    account: str
    user_id: str
    access_key_id: str

    def user(self) -> UserInfo:
        """The user EKS makes of the caller: an access entry's default username is the IAM user's ARN, or for
        a role session `arn:aws:sts::<account>:assumed-role/<role>/{{SessionName}}` filled in (the same as the
        ARN STS reports); `extra` carries what aws-iam-authenticator adds (arn, canonicalArn, sessionName,
        accessKeyId, principalId)."""
        session, canonical = "", self.arn
        match = _ASSUMED_ROLE.match(self.arn)
        if match:  # arn.Canonicalize: an assumed-role session stands for its IAM role
            session = match.group("session")
            canonical = f"arn:{match.group('partition')}:iam::{match.group('account')}:role/{match.group('role')}"
        extra = {"arn": [self.arn], "canonicalArn": [canonical], "sessionName": [session],
                 "accessKeyId": [self.access_key_id], "principalId": [self.user_id]}
        return UserInfo(self.arn, f"aws-iam-authenticator:{self.account}:{self.user_id.split(':')[0]}",
                        ("system:authenticated",), extra)


def _decode(token: str) -> str:
    """base64.RawURLEncoding.DecodeString: URL alphabet, no padding."""
    body = token[len(TOKEN_PREFIX):]
    if not _BASE64URL.match(body) or len(body) % 4 == 1:
        raise TokenRejected("input token was not properly formatted: illegal base64 data")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise TokenRejected(f"input token was not properly formatted: {exc}") from exc


def parse_token(token: str, now: float, lifetime: float = PRESIGNED_URL_LIFETIME) -> tuple[str, dict[str, str]]:
    """The presigned URL's raw query and its parameters (lower-cased names), once every format check passed.
    ``lifetime``: how long after X-Amz-Date the URL is honoured (15 minutes; shorter with ``--token-lifetime``,
    so a test sees a client refresh its token during one run)."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRejected("input token was not properly formatted: token is too large")
    if not token.startswith(TOKEN_PREFIX):
        raise TokenRejected(f'input token was not properly formatted: token is missing expected "{TOKEN_PREFIX}" '
                            "prefix")
    url = urlsplit(_decode(token))
    if url.scheme != "https":
        raise TokenRejected(f'unexpected scheme "{url.scheme}" in pre-signed URL')
    host = _STS_HOST.match(url.netloc)
    if host is None or bool(host.group("cn")) != (host.group("region") or "").startswith("cn-"):
        raise TokenRejected(f'unexpected hostname "{url.netloc}" in pre-signed URL')
    if url.path != "/":
        raise TokenRejected("unexpected path in pre-signed URL")
    pairs = parse_qsl(url.query, keep_blank_values=True)
    params: dict[str, str] = {}
    for key, value in pairs:
        if key.lower() not in ALLOWED_PARAMETERS:
            raise TokenRejected(f'non-whitelisted query parameter "{key}"')
        if key.lower() in params:
            raise TokenRejected("query parameter with multiple values not supported")
        params[key.lower()] = value
    if params.get("action") != "GetCallerIdentity":
        raise TokenRejected("unexpected action parameter in pre-signed URL")
    if params.get("version") != "2011-06-15":
        raise TokenRejected("unexpected version parameter in pre-signed URL")  # STS's rule (see module doc)
    if CLUSTER_ID_HEADER not in [h.lower() for h in params.get("x-amz-signedheaders", "").split(";")]:
        raise TokenRejected(f"client did not sign the {CLUSTER_ID_HEADER} header in the pre-signed URL")
    try:
        expires = int(params.get("x-amz-expires", ""))
    except ValueError:
        expires = -1
    if not 0 <= expires <= MAX_EXPIRES:
        raise TokenRejected("invalid X-Amz-Expires parameter in pre-signed URL")
    for name in REQUIRED_PARAMETERS:
        if not params.get(name):
            raise TokenRejected(f"{name} parameter must be present in pre-signed URL")
    if not params.get("x-amz-date"):
        raise TokenRejected("X-Amz-Date parameter must be present in pre-signed URL")
    try:
        signed_at = timegm(time.strptime(params["x-amz-date"], "%Y%m%dT%H%M%SZ"))
    except ValueError as exc:
        raise TokenRejected(f"error parsing X-Amz-Date parameter: {exc}") from exc
    if now > signed_at + lifetime:
        raise TokenRejected("X-Amz-Date parameter is expired (15 minute expiration)")
    return url.query, params


def _caller(body: bytes, content_type: str) -> tuple[str, str, str]:
    """(Arn, Account, UserId) from GetCallerIdentity's answer: JSON when STS honours `accept:
    application/json` (as real STS does), the query protocol's XML otherwise (as moto answers)."""
    if "json" in content_type:
        result = json.loads(body)["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
        return result["Arn"], result["Account"], result["UserId"]
    root = ElementTree.fromstring(body)
    found = {element.tag.rsplit("}", 1)[-1]: (element.text or "") for element in root.iter()}
    return found["Arn"], found.get("Account", ""), found.get("UserId", "")


class EksAuthenticator:
    def __init__(self, sts_endpoint: str, cluster_name: str, lifetime: float = PRESIGNED_URL_LIFETIME) -> None:
        self.sts_endpoint = sts_endpoint.rstrip("/")
        self.cluster_name = cluster_name
        self.lifetime = lifetime
        self._cache: dict[str, tuple[float, Identity]] = {}
        self._lock = threading.Lock()

    def verify(self, token: str, now: float | None = None) -> Identity:
        now = time.time() if now is None else now
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            cached = self._cache.get(digest)
            if cached is not None and now < cached[0]:
                return cached[1]
        query, params = parse_token(token, now, self.lifetime)
        identity = self._call_sts(query, params)
        signed_at = timegm(time.strptime(params["x-amz-date"], "%Y%m%dT%H%M%SZ"))
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[digest] = (min(now + CACHE_SECONDS, signed_at + self.lifetime), identity)
        return identity

    def _call_sts(self, query: str, params: dict[str, str]) -> Identity:
        authorization = (f"{params['x-amz-algorithm']} Credential={params['x-amz-credential']}, "
                         f"SignedHeaders={params['x-amz-signedheaders']}, Signature={params['x-amz-signature']}")
        request = urllib.request.Request(f"{self.sts_endpoint}/?{query}", method="GET", headers={
            CLUSTER_ID_HEADER: self.cluster_name, "accept": "application/json", "authorization": authorization})
        if params.get("x-amz-security-token"):
            request.add_header("x-amz-security-token", params["x-amz-security-token"])
        try:
            with urllib.request.urlopen(request, timeout=STS_TIMEOUT) as response:
                body, content_type = response.read(), response.headers.get("content-type", "")
        except urllib.error.HTTPError as exc:
            raise TokenRejected(f"sts getCallerIdentity failed: error from AWS (expected 200, got {exc.code})") \
                from None
        except OSError as exc:
            raise TokenRejected(f"sts getCallerIdentity failed: error during GET: {exc}") from None
        try:
            arn, account, user_id = _caller(body, content_type)
        except (KeyError, ValueError, ElementTree.ParseError) as exc:
            raise TokenRejected(f"sts getCallerIdentity failed: {exc!r}") from None
        return Identity(arn, account, user_id, params["x-amz-credential"].split("/")[0])


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (kube-apiserver's bearertoken authenticator:
    scheme case-insensitive, surrounding spaces trimmed), or None."""
    parts = authorization.strip().split(" ", 1)
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].strip():
        return None
    return parts[1].strip()


def unauthorized_status() -> dict[str, Any]:
    """What kube-apiserver answers when authentication fails: responsewriters.ErrorNegotiated(
    apierrors.NewUnauthorized("Unauthorized")) in apiserver pkg/endpoints/filters/authentication.go."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
            "reason": "Unauthorized", "code": 401}
