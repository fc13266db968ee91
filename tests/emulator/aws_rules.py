"""AWS rules: answer the way real AWS does where moto 5.2.5 is more lenient (test infrastructure, see README.md).

``AwsRules`` is a WSGI middleware in front of the EKS extension. Before a request reaches
moto it applies the rules below, each a small function with its source named next to it,
and answers with AWS's own error (code, HTTP status, wire format of the service's protocol)
when a rule says real AWS would refuse the request. It also counts the requests per AWS
operation and serves them on ``GET /_emulator/stats``, so end-to-end tests can check which
operations eksscale called.

1. EKS ``clientRequestToken``: 33..126 characters; a retry with the same token is idempotent.
2. CreateNodegroup ``amiType`` must fit the instance types (architecture, NVIDIA GPU, Neuron).
3. AL2 AMI types are refused for Kubernetes 1.33 and later.
4. CreateCluster refuses subnets in the Availability Zones EKS does not support.
5. IAM eventual consistency: a new role or OIDC provider is not usable at once.
6. EC2 eventual consistency: a new EC2 ID answers "not found" for a moment.
8. Throttling and 5xx errors on a fraction of requests.
10. EC2 dependencies: no deleting a VPC, subnet or security group, or detaching an internet gateway, while something
    still depends on it.
11. SQS: queue names, queue attributes and dead-letter queues, SendMessageBatch limits, and no reusing a deleted
    queue's name for a minute; in the query and the JSON protocol alike.
12. ELBv2 DescribeTags fails as a whole when one of the ARNs names no load balancer or target group.

(Rules 7 and 9 of the README, deleting states and upgrade policies, are features of the EKS
extension itself, not refusals, so they live in ``eks_ext.py``.)
"""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import botocore.session
from moto.ec2.exceptions import InvalidSubnetIdError
from moto.ec2.models import ec2_backends
from moto.ec2.models.instance_types import INSTANCE_TYPES
from moto.eks.exceptions import InvalidParameterException
from moto.eks.models import eks_backends
from moto.elb.models import elb_backends
from moto.elbv2.models import elbv2_backends
from moto.iam.models import iam_backends
from moto.sqs.models import sqs_backends
from moto.utilities.utils import get_partition

from eks_ext import _account, _credential_scope, default_ami_type, kubernetes_minor, launch_template_version

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Headers = list[tuple[str, str]]

STATS_PATH = "/_emulator/stats"
MOTO_API_PREFIX = "/moto-api/"


# --- Configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RulesConfig:
    """Read once at start; see the README's "AWS rules" section."""

    enabled: bool = True
    iam_propagation: float = 2.0  # seconds a new IAM role / OIDC provider is not yet usable (rule 5)
    ec2_consistency: float = 1.0  # seconds a new EC2 ID answers NotFound when named by ID (rule 6)
    throttle_rate: float = 0.0  # fraction of requests answered with a retryable error (rule 8)
    throttle_seed: int = 0
    sqs_deleted_recently: float = 60.0  # seconds a deleted SQS queue's name cannot be reused (rule 11)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RulesConfig:
        def seconds(name: str, default: float) -> float:
            value = float(env.get(name) or default)
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
            return value

        switch = env.get("EMULATOR_AWS_RULES") or "1"
        if switch not in ("0", "1"):
            raise ValueError(f"EMULATOR_AWS_RULES must be 0 or 1, got {switch!r}")
        rate = float(env.get("EMULATOR_THROTTLE_RATE") or 0)
        if not 0 <= rate <= 1:
            raise ValueError(f"EMULATOR_THROTTLE_RATE must be between 0 and 1, got {rate}")
        return cls(
            enabled=switch == "1",
            iam_propagation=seconds("EMULATOR_IAM_PROPAGATION_SECONDS", 2.0),
            ec2_consistency=seconds("EMULATOR_EC2_CONSISTENCY_SECONDS", 1.0),
            throttle_rate=rate,
            throttle_seed=int(env.get("EMULATOR_THROTTLE_SEED") or 0),
            sqs_deleted_recently=seconds("EMULATOR_SQS_DELETED_RECENTLY_SECONDS", 60.0),
        )


# --- Errors, in each protocol's wire format -----------------------------------------------------


class AwsError(Exception):
    """A complete HTTP answer that stands for an AWS error."""

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        super().__init__(f"{status} {body[:200]!r}")
        self.status, self.headers, self.body = status, headers, body

    @property
    def code(self) -> str:
        """The AWS error code, for the stats and the tests."""
        for name, value in self.headers:
            if name.lower() == "x-amzn-errortype":
                return value
        match = re.search(rb"<Code>([^<]+)</Code>|\"__type\":\s*\"([^\"]+)\"", self.body)
        if match:
            return (match.group(1) or match.group(2)).decode()
        return str(self.status)


def eks_error(code: str, status: int, message: str, **fields: Any) -> AwsError:
    """restJson1, as the EKS API reference shows: x-amzn-ErrorType plus {"message": ...} and the shape's fields."""
    body = {"message": message, **{key: value for key, value in fields.items() if value is not None}}
    headers = [("x-amzn-ErrorType", code), ("Content-Type", "application/json")]
    return AwsError(status, headers, json.dumps(body).encode())


def invalid_parameter(message: str, **fields: Any) -> AwsError:
    return eks_error("InvalidParameterException", 400, message, **fields)


def ec2_error(code: str, message: str, status: int = 400) -> AwsError:
    """The EC2 query API's error document (EC2 API reference, "Error codes for the Amazon EC2 API")."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{_xml(message)}</Message></Error></Errors>"
        f"<RequestID>{uuid.uuid4()}</RequestID></Response>"
    )
    return AwsError(status, [("Content-Type", "text/xml;charset=UTF-8")], body.encode())


def query_error(service: str, version: str, code: str, message: str, status: int) -> AwsError:
    """The query protocol's error document (IAM, STS, ELB): seen from IAM as
    ``<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>
    <Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>...`` (legion-platform/legion#807)."""
    fault = "Sender" if status < 500 else "Receiver"
    body = (
        f'<ErrorResponse xmlns="https://{service}.amazonaws.com/doc/{version}/"><Error><Type>{fault}</Type>'
        f"<Code>{code}</Code><Message>{_xml(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return AwsError(status, [("Content-Type", "text/xml")], body.encode())


def json_error(code: str, message: str, status: int) -> AwsError:
    """awsJson1_1 (CloudWatch Logs): {"__type": code, "message": ...}."""
    body = json.dumps({"__type": code, "message": message}).encode()
    return AwsError(status, [("Content-Type", "application/x-amz-json-1.1")], body)


def plain_503() -> AwsError:
    """A 503 from the front end, with no AWS error document: the HTML page AWS endpoints answer then (botocore's
    parsers recognise it: a 5xx whose body starts with ``<html>`` is a "generic error response")."""
    body = b"<html><body><b>Http/1.1 Service Unavailable</b></body> </html>"
    return AwsError(503, [("Content-Type", "text/html")], body)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# --- Requests -----------------------------------------------------------------------------------


def _eks_routes() -> list[tuple[str, re.Pattern[str], str, int]]:
    """(method, path pattern, operation, literal length) for every EKS operation in botocore's model."""
    model = botocore.session.get_session().get_service_model("eks")
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        template = http["requestUri"].split("?", 1)[0]
        # ARNs in /tags/{resourceArn} may arrive with their slashes unencoded.
        pattern = re.sub(
            r"\{(\w+)\+?\}",
            lambda m: f"(?P<{m.group(1)}>.+)" if m.group(1) == "resourceArn" else f"(?P<{m.group(1)}>[^/]+)",
            template,
        )
        routes.append((http["method"], re.compile(pattern + "$"), name, len(re.sub(r"\{[^}]*\}", "", template))))
    # Literal segments win over labels: /clusters/{name}/updates before /clusters/{name}/{...}.
    return sorted(routes, key=lambda route: -route[3])


EKS_ROUTES = _eks_routes()
EKS_MODEL = botocore.session.get_session().get_service_model("eks")
# Operations whose input has a clientRequestToken in the JSON body (rule 1).
EKS_TOKEN_OPERATIONS = frozenset(
    name
    for name in EKS_MODEL.operation_names
    if (member := EKS_MODEL.operation_model(name).input_shape.members.get("clientRequestToken")) is not None
    and member.serialization.get("location") is None
)


@dataclass
class Request:
    """One signed AWS API request, as far as the rules need it."""

    environ: dict[str, Any]
    service: str  # the SigV4 credential scope's service: ec2, iam, eks, sts, logs, elasticloadbalancing, ...
    region: str
    account: str
    method: str
    path: str  # still percent-encoded
    query: dict[str, list[str]]
    body: bytes
    operation: str = "Unknown"
    params: dict[str, str] = field(default_factory=dict)  # query protocol (EC2, IAM, STS, ELB) parameters
    json: dict[str, Any] = field(default_factory=dict)  # JSON body (EKS, CloudWatch Logs)
    labels: dict[str, str] = field(default_factory=dict)  # EKS URI labels, decoded

    @property
    def key(self) -> str:
        return f"{self.service}:{self.operation}"

    @property
    def content_type(self) -> str:
        return self.environ.get("CONTENT_TYPE") or ""


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, put back as a fresh stream so the apps behind can read it again."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body: bytes = b""
    if length:
        body = environ["wsgi.input"].read(length)
    elif environ.get("wsgi.input_terminated"):
        body = environ["wsgi.input"].read()
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def parse_request(environ: dict[str, Any]) -> Request | None:
    """The request's AWS service, account, region and operation; None if it is not SigV4-signed."""
    scope = _credential_scope(environ)
    if scope is None:
        return None
    access_key, region, service = scope
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
    request = Request(
        environ=environ,
        service=service,
        region=region,
        account=_account(environ, access_key),
        method=environ["REQUEST_METHOD"],
        path=raw_uri.split("?", 1)[0],
        query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
        body=_read_body(environ),
    )
    if service == "eks":
        for method, pattern, name, _ in EKS_ROUTES:
            match = pattern.match(request.path)
            if method == request.method and match:
                request.operation = name
                request.labels = {key: unquote(value) for key, value in match.groupdict().items()}
                break
        request.json = _json_object(request.body)
    elif "json" in request.content_type:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        request.operation = target.rsplit(".", 1)[-1] or "Unknown"
        request.json = _json_object(request.body)
    else:
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True) if request.body else {}
        merged = {**request.query, **form}
        request.params = {key: values[0] for key, values in merged.items() if values}
        request.operation = request.params.get("Action", "Unknown")
    return request


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- Rule 1: EKS clientRequestToken -------------------------------------------------------------

TOKEN_LENGTH = range(33, 127)


def check_client_request_token(token: Any, **fields: Any) -> None:
    """EKS refuses tokens outside 33..126 characters, although its model sets no length.

    Source: ansible-collections/community.aws#817 and #844 ("InvalidParameterException ... The client
    request token parameter must be between 33 and 126 characters.").
    """
    if token is not None and (not isinstance(token, str) or len(token) not in TOKEN_LENGTH):
        raise invalid_parameter("The client request token parameter must be between 33 and 126 characters.", **fields)


@dataclass
class IdempotentCall:
    """A successful call made with a clientRequestToken, kept to answer its retries."""

    fingerprint: str
    status: str
    headers: Headers
    body: bytes


def request_fingerprint(request: Request) -> str:
    """What must be the same for a retry to count as the same request: everything but the token."""
    body = {key: value for key, value in request.json.items() if key != "clientRequestToken"}
    query = sorted((key, value) for key, value in request.query.items() if key != "clientRequestToken")
    return json.dumps([request.method, request.path, query, body], sort_keys=True)


def check_same_parameters(record: IdempotentCall, request: Request, **fields: Any) -> None:
    """The same token with other parameters is refused.

    Source: the EKS API reference documents clientRequestToken only as "A unique, case-sensitive identifier
    that you provide to ensure the idempotency of the request"; the refusal follows the general AWS rule
    ("If you retry a successful request using the same client token, but one or more of the parameters are
    different, the retry fails", EC2 "Ensuring idempotency"). EKS has no IdempotentParameterMismatch error in
    its model, so this answers InvalidParameterException; EKS's exact wording is NOT confirmed.
    """
    if record.fingerprint != request_fingerprint(request):
        raise invalid_parameter(
            "The client request token has already been used with different request parameters.", **fields
        )


# What a create made, to tell whether a retry's resource still exists (a re-created one has a new ARN or time):
# (describe path, response member, identifying fields).
CREATED_RESOURCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "CreateCluster": ("/clusters/{clusterName}", "cluster", ("arn", "createdAt")),
    "CreateNodegroup": ("/clusters/{clusterName}/node-groups/{nodegroupName}", "nodegroup", ("nodegroupArn",)),
    "CreateAddon": ("/clusters/{clusterName}/addons/{addonName}", "addon", ("addonArn",)),
    "CreateAccessEntry": (
        "/clusters/{clusterName}/access-entries/{principalArn}",
        "accessEntry",
        ("accessEntryArn",),
    ),
    "CreatePodIdentityAssociation": (
        "/clusters/{clusterName}/pod-identity-associations/{associationId}",
        "association",
        ("associationArn",),
    ),
}


# --- Rules 2 and 3: AMI types -------------------------------------------------------------------

# EKS stopped publishing AL2 AMIs: "Amazon EKS will end support for EKS optimized AL2 ... AMIs ... on November
# 26, 2025"; AL2023 and Bottlerocket are the AMIs for Kubernetes 1.33 and later (Amazon EKS User Guide,
# "Guide to EKS AL2 & AL2-Accelerated AMIs transition features").
AL2_AMI_TYPES = frozenset({"AL2_x86_64", "AL2_x86_64_GPU", "AL2_ARM_64"})
LAST_AL2_MINOR = 32
DEFAULT_INSTANCE_TYPE = "t3.medium"  # CreateNodegroup instanceTypes: "then t3.medium is used, by default"


@dataclass(frozen=True)
class AmiNeeds:
    """What an AMI type needs of an instance type."""

    architecture: str  # x86_64 or arm64
    accelerators: frozenset[str]  # any one of these ("nvidia", "neuron"); empty: none needed


def ami_needs(ami_type: str) -> AmiNeeds | None:
    """The needs of an EKS AMI type; None for CUSTOM (the launch template's image decides) or unknown types.

    *_x86_64* types need x86_64, *_ARM_64* types arm64. NVIDIA types (AL2023_*_NVIDIA, BOTTLEROCKET_*_NVIDIA*)
    need an NVIDIA GPU; AL2023_x86_64_NEURON needs Inferentia/Trainium. AL2_x86_64_GPU is the AL2 "accelerated"
    AMI, for NVIDIA GPU and Inferentia/Trainium instances alike. STANDARD (and Windows, Bottlerocket) types take
    any instance of their architecture, GPU ones included: the API reference only advises "If you specify a GPU
    instance type, make sure to also specify an applicable GPU AMI type".
    """
    if ami_type == "CUSTOM" or not re.search(r"_(x86_64|ARM_64)(_|$)", ami_type):
        return None
    architecture = "arm64" if "_ARM_64" in ami_type else "x86_64"
    if ami_type == "AL2_x86_64_GPU":
        return AmiNeeds(architecture, frozenset({"nvidia", "neuron"}))
    if "_NVIDIA" in ami_type:
        return AmiNeeds(architecture, frozenset({"nvidia"}))
    if "_NEURON" in ami_type:
        return AmiNeeds(architecture, frozenset({"neuron"}))
    return AmiNeeds(architecture, frozenset())


def instance_type_fits(instance_type: str, needs: AmiNeeds) -> bool:
    """Whether moto's instance-type data (what DescribeInstanceTypes serves) meets an AMI type's needs."""
    data = INSTANCE_TYPES.get(instance_type)
    if data is None:
        return False
    if needs.architecture not in data.get("ProcessorInfo", {}).get("SupportedArchitectures", []):
        return False
    if not needs.accelerators:
        return True
    accelerators = set()
    if any(gpu.get("Manufacturer") == "NVIDIA" for gpu in data.get("GpuInfo", {}).get("Gpus", [])):
        accelerators.add("nvidia")
    inference = data.get("InferenceAcceleratorInfo", {}).get("Accelerators", [])
    if data.get("NeuronInfo") or any(a.get("Manufacturer") == "AWS" for a in inference):
        accelerators.add("neuron")
    return bool(accelerators & needs.accelerators)


def check_ami_type_fits_instance_types(ami_type: str, instance_types: list[str], **fields: Any) -> None:
    """Rule 2: every instance type must fit the AMI type.

    Source: real EKS answers, e.g. "InvalidParameterException: [t4g.medium] is not a valid instance type for
    requested amiType AL2023_x86_64_STANDARD" (HHS/simpler-grants-gov#12404), "[t4g.small] ... AL2_x86_64"
    (ManagedKube/kubernetes-ops#231), "[g5g.xlarge] ... AL2_x86_64_GPU" (eksctl-io/eksctl#4973). Listing several
    offenders comma-separated in the brackets, and refusing unknown instance types and non-GPU instances for
    NVIDIA AMI types the same way, is NOT confirmed.
    """
    needs = ami_needs(ami_type)
    if needs is None:
        return
    offending = [name for name in instance_types if not instance_type_fits(name, needs)]
    if offending:
        raise invalid_parameter(
            f"[{', '.join(offending)}] is not a valid instance type for requested amiType {ami_type}", **fields
        )


def check_ami_type_supports_version(ami_type: str, version: str, **fields: Any) -> None:
    """Rule 3: no AL2 AMI types for Kubernetes 1.33 and later.

    Source: real EKS, "InvalidParameterException ... CreateNodegroup operation: AMI Type AL2_x86_64 is only
    supported for kubernetes versions 1.32 or earlier" (scylladb/scylla-cluster-tests#12524).
    """
    if ami_type in AL2_AMI_TYPES and _minor(version) > LAST_AL2_MINOR:
        raise invalid_parameter(
            f"AMI Type {ami_type} is only supported for kubernetes versions 1.{LAST_AL2_MINOR} or earlier", **fields
        )


def check_custom_ami_type(ami_type: str, image_id: str | None, **fields: Any) -> None:
    """CUSTOM means "the launch template's AMI", so it needs a launch template with an image id.

    Source: the API reference (amiType: with a launch template that "uses a custom AMI, then don't specify
    amiType"); EKS's error for CUSTOM without one is NOT confirmed, this wording is the emulator's.
    """
    if ami_type == "CUSTOM" and not image_id:
        raise invalid_parameter("amiType CUSTOM requires a launch template that specifies an image id", **fields)


def _minor(version: str) -> int:
    try:
        return kubernetes_minor(version)
    except InvalidParameterException:  # a malformed version is the extension's to refuse
        return 0


# --- Rule 4: Availability Zones EKS does not support ---------------------------------------------

# Amazon EKS User Guide, "View Amazon EKS networking requirements for VPC and subnets" (network-reqs.html
# #network-requirements-subnets): cluster subnets can't be in these zone IDs; eksctl avoids the same
# (eksctl-io/eksctl pkg/az tests).
UNSUPPORTED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3"})


def check_cluster_zones(
    cluster_name: str, subnet_zones: list[tuple[str, str]], region_zones: list[tuple[str, str]]
) -> None:
    """Rule 4: CreateCluster with a subnet in an unsupported zone → UnsupportedAvailabilityZoneException.

    ``subnet_zones`` and ``region_zones`` are (zone name, zone ID) pairs. Source: real EKS answers 400 with
    ``{"clusterName": ..., "validZones": ["us-east-1a", ...], "message": "Cannot create cluster 'c' because
    us-east-1c, the targeted availability zone, does not currently have sufficient capacity to support the
    cluster. Retry and choose from these availability zones: us-east-1a, us-east-1b, us-east-1d"}``
    (rancher/rancher#14224, eksctl-io/eksctl#817); botocore's shape has message, clusterName, nodegroupName,
    validZones.
    """
    bad = [name for name, zone_id in subnet_zones if zone_id in UNSUPPORTED_ZONE_IDS]
    if not bad:
        return
    valid = sorted(name for name, zone_id in region_zones if zone_id not in UNSUPPORTED_ZONE_IDS)
    raise eks_error(
        "UnsupportedAvailabilityZoneException",
        400,
        f"Cannot create cluster '{cluster_name}' because {bad[0]}, the targeted availability zone, does not "
        "currently have sufficient capacity to support the cluster. Retry and choose from these availability "
        f"zones: {', '.join(valid)}",
        clusterName=cluster_name,
        validZones=valid,
    )


# --- Rule 5: IAM propagation --------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # moto's create_date is naive UTC


def is_young(create_date: datetime, window: float) -> bool:
    """Created less than ``window`` seconds ago: IAM has not propagated it everywhere yet.

    Source: IAM User Guide, "Troubleshoot IAM" → "Changes that I make are not always immediately visible".
    """
    return (_utcnow() - create_date).total_seconds() < window


def young_role(account: str, region: str, arn: Any, window: float) -> bool:
    """Whether ``arn`` names a role moto knows that is younger than ``window`` (unknown roles are not checked)."""
    if not isinstance(arn, str) or ":role/" not in arn:
        return False
    roles = iam_backends[account][get_partition(region)].roles.values()
    role = next((role for role in roles if role.arn == arn), None)
    return role is not None and is_young(role.create_date, window)


def role_not_assumable(operation: str, arn: str, **fields: Any) -> AwsError:
    """What EKS says when it cannot use a role yet, per operation.

    Sources: CreateCluster "Role with arn: arn:aws:iam::...:role/x, could not be assumed because it does not
    exist or the trusted entity is not correct" (terraform-aws-modules/terraform-aws-eks#2406,
    aws/aws-k8s-tester#232); CreateNodegroup "Following required service principals [ec2.amazonaws.com] were
    not found in the trust relationships of nodeRole arn:..." (aws/aws-k8s-tester, config comments), which is
    what a role EKS cannot see yet looks like, inferred, NOT confirmed for propagation; Create/Update
    PodIdentityAssociation "Role provided in the request does not exist" (hashicorp/terraform-provider-aws#34717
    retries on it); CreateAddon/UpdateAddon: terraform-provider-aws retries InvalidParameterException
    "does not exist", the exact wording is NOT confirmed, the Pod Identity one is used.
    """
    if operation == "CreateCluster":
        message = (
            f"Role with arn: {arn}, could not be assumed because it does not exist or the trusted entity is not correct"
        )
    elif operation == "CreateNodegroup":
        message = (
            "Following required service principals [ec2.amazonaws.com] were not found in the trust relationships "
            f"of nodeRole {arn}"
        )
    else:
        message = "Role provided in the request does not exist."
    return invalid_parameter(message, **fields)


def eks_role_arns(request: Request) -> list[str]:
    """The IAM roles an EKS request asks EKS to use."""
    body = request.json
    keys = {
        "CreateCluster": ["roleArn"],
        "CreateNodegroup": ["nodeRole"],
        "CreateAddon": ["serviceAccountRoleArn"],
        "UpdateAddon": ["serviceAccountRoleArn"],
        "CreatePodIdentityAssociation": ["roleArn"],
        "UpdatePodIdentityAssociation": ["roleArn"],
    }.get(request.operation, [])
    arns = [body[key] for key in keys if isinstance(body.get(key), str)]
    if request.operation in ("CreateAddon", "UpdateAddon"):
        for association in body.get("podIdentityAssociations") or []:
            if isinstance(association, dict) and isinstance(association.get("roleArn"), str):
                arns.append(association["roleArn"])
    return arns


OIDC_PROVIDER_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:oidc-provider/.+")


def federated_principals(policy_document: str) -> list[str]:
    """The Federated principals of a trust policy (Principal.Federated, a string or a list)."""
    try:
        policy = json.loads(policy_document)
    except ValueError:
        return []
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    principals: list[str] = []
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        federated = principal.get("Federated") if isinstance(principal, dict) else None
        principals += [federated] if isinstance(federated, str) else [p for p in federated or [] if isinstance(p, str)]
    return principals


def check_federated_principals(account: str, region: str, policy_document: str, window: float) -> None:
    """IAM refuses a trust policy naming an OIDC provider it cannot see yet (or at all).

    Source: IAM answers 400 MalformedPolicyDocument "Invalid principal in policy: "AWS":"arn:aws:iam::...:role/x""
    for a principal that does not exist (opstrace/opstrace#88, hashicorp/terraform-provider-aws#8905); the same
    wording with "Federated" for an OIDC provider is inferred, NOT confirmed.
    """
    providers = iam_backends[account][get_partition(region)].open_id_providers
    for arn in federated_principals(policy_document):
        if not OIDC_PROVIDER_ARN.fullmatch(arn):
            continue  # SAML providers and web identity domains (cognito-identity.amazonaws.com) are not checked
        provider = providers.get(arn)
        if provider is None or is_young(provider.create_date, window):
            raise query_error(
                "iam", "2010-05-08", "MalformedPolicyDocument", f'Invalid principal in policy: "Federated":"{arn}"', 400
            )


# --- Rule 6: EC2 eventual consistency -----------------------------------------------------------

# The element holding the new ID in each create's response.
EC2_CREATES = {
    "CreateVpc": "vpcId",
    "CreateSubnet": "subnetId",
    "CreateInternetGateway": "internetGatewayId",
    "AllocateAddress": "allocationId",
    "CreateNatGateway": "natGatewayId",
    "CreateRouteTable": "routeTableId",
    "CreateSecurityGroup": "groupId",
    "CreateLaunchTemplate": "launchTemplateId",
}
# EC2's not-found error per ID prefix. Messages as real EC2 words them: "The vpc ID 'vpc-0c54...' does not exist",
# "The allocation ID 'eipalloc-...' does not exist", "The internetGateway ID 'igw-gone' does not exist" (public
# logs and tests found by code search), "The subnet ID ... does not exist" (ansible/ansible#66783), "The security
# group ... does not exist" and the launch template one as moto words them; the NAT gateway wording ("NAT gateway
# nat-... was not found.") is seen in one public fake only, NOT confirmed.
EC2_NOT_FOUND = {
    "vpc": ("InvalidVpcID.NotFound", "The vpc ID '{id}' does not exist"),
    "subnet": ("InvalidSubnetID.NotFound", "The subnet ID '{id}' does not exist"),
    "igw": ("InvalidInternetGatewayID.NotFound", "The internetGateway ID '{id}' does not exist"),
    "eipalloc": ("InvalidAllocationID.NotFound", "The allocation ID '{id}' does not exist"),
    "nat": ("NatGatewayNotFound", "NAT gateway {id} was not found."),
    "rtb": ("InvalidRouteTableID.NotFound", "The routeTable ID '{id}' does not exist"),
    "sg": ("InvalidGroup.NotFound", "The security group '{id}' does not exist"),
    "lt": ("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID {id}, does not exist."),
}
# Parameters that do not name resources: filters find by attribute, tags are free text.
NOT_REFERENCES = re.compile(r"^(Filter|Tag|TagSpecification)\.")


class RecentIds:
    """EC2 IDs created in the last ``window`` seconds, per account and region (rule 11 keeps deleted SQS queue names
    in one too).

    Source: Amazon EC2 API reference, "Eventual consistency in the Amazon EC2 API": "if you run a command to
    modify or describe the resource that you just created, its ID might not have propagated throughout the
    system, and you will get an error responding that the resource does not exist".
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._created: dict[tuple[str, str, str], float] = {}

    def add(self, account: str, region: str, resource_id: str, now: float) -> None:
        if self.window > 0:
            self._created[(account, region, resource_id)] = now
            self._created = {key: at for key, at in self._created.items() if now - at < self.window}

    def is_recent(self, account: str, region: str, resource_id: str, now: float) -> bool:
        created = self._created.get((account, region, resource_id))
        return created is not None and now - created < self.window


def created_ec2_id(operation: str, response_body: bytes) -> str | None:
    """The ID an EC2 create call's response gives, if it is one of the creates tracked."""
    element = EC2_CREATES.get(operation)
    match = re.search(rf"<{element}>([^<]+)</{element}>".encode(), response_body) if element else None
    return match.group(1).decode() if match else None


def ec2_not_found(resource_id: str) -> tuple[str, str]:
    code, message = EC2_NOT_FOUND[resource_id.rsplit("-", 1)[0]]
    return code, message.format(id=resource_id)


def ec2_referenced_ids(params: Mapping[str, str]) -> list[str]:
    """Every parameter value of an EC2 request that may name a resource by ID (VpcId, SubnetId.1, ResourceId.2…)."""
    skipped = ("Action", "Version")
    return [value for key, value in params.items() if not NOT_REFERENCES.match(key) and key not in skipped]


def eks_referenced_ec2_ids(request: Request) -> list[str]:
    """EC2 IDs an EKS create names: subnets, security groups, launch template."""
    body = request.json
    ids: list[Any] = []
    if request.operation == "CreateCluster":
        vpc = body.get("resourcesVpcConfig") or {}
        ids += (vpc.get("subnetIds") or []) + (vpc.get("securityGroupIds") or [])
    elif request.operation == "CreateNodegroup":
        ids += body.get("subnets") or []
        ids += (body.get("remoteAccess") or {}).get("sourceSecurityGroups") or []
        ids.append((body.get("launchTemplate") or {}).get("id"))
    return [value for value in ids if isinstance(value, str)]


# --- Rule 8: throttling and transient errors ----------------------------------------------------


class Throttler:
    """Answers a fraction of requests with an error every AWS SDK's standard retry strategy retries.

    Codes from aws-smithy's THROTTLING_ERRORS (Throttling, ThrottlingException, RequestLimitExceeded, ...) and
    its transient HTTP statuses 500/502/503/504 (also @smithy/service-error-classification). Formats: EC2
    RequestLimitExceeded is HTTP 503 (EC2 API reference, "Request throttling for the Amazon EC2 API" names the
    code; the 503 is what EC2 answers in practice); query-protocol services answer 400 Throttling "Rate exceeded"
    (legion-platform/legion#807, jantman/awslimitchecker#86); EKS ThrottlingException is 429 and
    ServiceUnavailableException 503, ServerException 500 in botocore's EKS model; CloudWatch Logs'
    ThrottlingException has no status in its model, so awsJson's default 400.
    """

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def choose(self, request: Request) -> AwsError | None:
        with self._lock:
            if self.rate <= 0 or self._random.random() >= self.rate:
                return None
            choices = self._choices(request)
            return choices[self._random.randrange(len(choices))]()

    @staticmethod
    def _choices(request: Request) -> list[Callable[[], AwsError]]:
        if request.service == "ec2":
            return [
                lambda: ec2_error("RequestLimitExceeded", "Request limit exceeded.", 503),
                lambda: ec2_error("InternalError", "An internal error has occurred", 500),
                lambda: ec2_error("Unavailable", "The server is overloaded and can't handle the request.", 503),
                plain_503,
            ]
        if request.service == "eks":
            return [
                lambda: eks_error("ThrottlingException", 429, "Rate exceeded", clusterName=request.labels.get("name")),
                lambda: eks_error("ServiceUnavailableException", 503, "Service unavailable. Please try again."),
                lambda: eks_error("ServerException", 500, "An internal error occurred. Please try again."),
                plain_503,
            ]
        if "json" in request.content_type:
            return [lambda: json_error("ThrottlingException", "Rate exceeded", 400), plain_503]
        if request.params:
            version = request.params.get("Version", "")
            return [lambda: query_error(request.service, version, "Throttling", "Rate exceeded", 400), plain_503]
        return [plain_503]


# --- Rule 10: EC2 dependencies ------------------------------------------------------------------

# What real EC2 refuses to delete or detach while something still depends on it, and moto 5.2.5 accepts (moto
# already refuses DeleteVpc with subnets, extra route tables or an attached VPN gateway, and DeleteInternetGateway
# while attached, the latter in its own words). Sources, per check, on the functions below.
DEPENDENCY_OPERATIONS = frozenset(
    {"DeleteVpc", "DeleteSubnet", "DeleteSecurityGroup", "DetachInternetGateway", "DeleteInternetGateway"}
)
# NAT gateway states in which real EC2 has released the gateway's network interface and Elastic IP. moto keeps
# both (the interface, and the address associated with it until ReleaseAddress) after DeleteNatGateway.
GONE_NAT_STATES = frozenset({"deleted", "failed"})

log = logging.getLogger("aws_rules")


@dataclass(frozen=True)
class Balancer:
    """A classic ELB or an ELBv2 load balancer, as far as EC2's dependency checks need it.

    moto creates no network interfaces for load balancers (real ELB puts requester-managed ones in each of the
    load balancer's subnets, with its security groups, and public IPs when internet-facing), so the load balancer
    itself stands for them.
    """

    name: str
    vpc_id: str | None
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    public: bool  # internet-facing: its network interfaces have public IPs


def load_balancers(account: str, region: str) -> list[Balancer]:
    """Every classic ELB and ELBv2 load balancer moto has in an account and region."""
    balancers = [
        Balancer(
            name=lb.name,
            vpc_id=lb.vpc_id,
            subnet_ids=tuple(lb.subnets or ()),
            security_group_ids=tuple(lb.security_groups or ()),
            public=lb.scheme == "internet-facing",
        )
        for lb in list(elb_backends[account][region].load_balancers.values())
    ]
    balancers += [
        Balancer(
            name=lb.name,
            vpc_id=lb.vpc_id,
            subnet_ids=tuple(subnet.id for subnet in lb.subnets or ()),
            security_group_ids=tuple(lb.security_groups or ()),
            public=lb.scheme == "internet-facing" and lb.type != "gateway",
        )
        for lb in list(elbv2_backends[account][region].load_balancers.values())
    ]
    return balancers


def live_network_interfaces(ec2: Any) -> list[Any]:
    """moto's network interfaces, less those real EC2 has deleted by then and moto keeps: a deleted (or failed) NAT
    gateway's, and the primary interface of a terminated instance (EC2 creates it with DeleteOnTermination; moto
    keeps it, still ``in-use``). Any status counts: an ``available`` interface blocks as much as an ``in-use`` one
    (eksctl-io/eksctl#1849: a dangling "available" ENI keeps its security group from being deleted)."""
    gone = {nat._eni.id for nat in list(ec2.nat_gateways.values()) if nat.state in GONE_NAT_STATES}
    live = []
    for eni in list(ec2.enis.values()):
        instance = eni.instance
        if eni.id in gone or (instance is not None and instance.state == "terminated" and eni.device_index == 0):
            continue
        live.append(eni)
    return live


def vpc_dependents(ec2: Any, balancers: list[Balancer], vpc_id: str) -> list[str]:
    """What keeps DeleteVpc from succeeding.

    Source: EC2 API reference, DeleteVpc: "You must detach or delete all gateways and resources that are associated
    with the VPC before you can delete it. For example, you must terminate all instances running in the VPC, delete
    all security groups associated with the VPC (except the default one), delete all route tables associated with
    the VPC (except the default one), and so on." Load balancers: eksctl-io/eksctl#103 ("deleting VPC stack will
    fail when there [are] resources such as ELBs"). moto checks the subnets, the route tables and VPN gateways.
    """
    found = [
        f"subnet {subnet.id}"
        for zone in list(ec2.subnets.values())
        for subnet in list(zone.values())
        if subnet.vpc_id == vpc_id
    ]
    groups = list(ec2.groups.get(vpc_id, {}).values())
    found += [f"security group {group.id}" for group in groups if not group.is_default]
    found += [
        f"internet gateway {igw.id}"
        for igw in list(ec2.internet_gateways.values())
        if igw.vpc is not None and igw.vpc.id == vpc_id
    ]
    found += [
        f"route table {table.id}"
        for table in list(ec2.route_tables.values())
        if table.vpc_id == vpc_id and table.main_association_id is None
    ]
    found += [f"network interface {eni.id}" for eni in live_network_interfaces(ec2) if eni.subnet.vpc_id == vpc_id]
    found += [f"load balancer {lb.name}" for lb in balancers if lb.vpc_id == vpc_id]
    return found


def subnet_dependents(ec2: Any, balancers: list[Balancer], subnet_id: str) -> list[str]:
    """What keeps DeleteSubnet from succeeding: network interfaces in it (an instance's, a NAT gateway's, a load
    balancer's, a detached one), and load balancers using it.

    Source: EC2 API reference, DeleteSubnet: "You must terminate all running instances in the subnet before you can
    delete the subnet"; what blocks in practice is any network interface: eksctl-io/eksctl#7589 (leaked network
    interface: "The subnet 'subnet-...' has dependencies and cannot be deleted."), appvia/kore#808 (a load
    balancer's), gruntwork-io/cloud-nuke#285 (VPC endpoints'). moto checks nothing.
    """
    found = [f"network interface {eni.id}" for eni in live_network_interfaces(ec2) if eni.subnet.id == subnet_id]
    found += [f"load balancer {lb.name}" for lb in balancers if subnet_id in lb.subnet_ids]
    return found


def _references(rule: Any, group: Any) -> bool:
    source = rule.source_group or {}
    if source.get("GroupId"):
        return bool(source["GroupId"] == group.id)
    return bool(source.get("GroupName")) and source.get("GroupName") == group.name


def security_group_dependents(ec2: Any, balancers: list[Balancer], group: Any) -> list[str]:
    """What keeps DeleteSecurityGroup from succeeding: a network interface (or load balancer) using the group, or
    another group of the VPC whose inbound or outbound rules reference it (a group referencing itself does not
    count: its rules go with it).

    Source: EC2 API reference, DeleteSecurityGroup: "If you attempt to delete a security group that is associated
    with an instance or network interface, is referenced by another security group in the same VPC, or has a VPC
    association, the operation fails with DependencyViolation." Load balancers: eksctl-io/eksctl#1960 (deleting a
    Kubernetes ELB's group while the ELB is still being deleted). moto checks nothing.
    """
    found = [
        f"network interface {eni.id}"
        for eni in live_network_interfaces(ec2)
        if any(getattr(used, "id", used) == group.id for used in eni.group_set)
    ]
    found += [f"load balancer {lb.name}" for lb in balancers if group.id in lb.security_group_ids]
    for other in list(ec2.groups.get(group.vpc_id, {}).values()):
        rules = [*other.ingress_rules, *other.egress_rules]
        if other.id != group.id and any(_references(rule, group) for rule in rules):
            found.append(f"security group {other.id}")
    return found


def mapped_public_addresses(ec2: Any, balancers: list[Balancer], vpc_id: str) -> list[str]:
    """What in a VPC has a public IPv4 address, keeping DetachInternetGateway from succeeding: a network interface
    with one (an Elastic IP associated with it or its instance, or one assigned at launch), a NAT gateway that is
    not deleted yet, an internet-facing load balancer.

    Source: EC2 API reference, DetachInternetGateway: "The VPC must not contain any running instances with Elastic IP
    addresses or public IPv4 addresses." Load balancers: jenkins-x/terraform-aws-eks-jx#373 ("The Public IP its
    referring to is attached to the Load balancer"), eksctl-io/eksctl#253. NAT gateways: a NAT gateway holds its
    Elastic IP until it is deleted, and a deleted one no longer does (it releases its interface). moto checks nothing.
    """
    found = [
        f"network interface {eni.id} ({eni.public_ip})"
        for eni in live_network_interfaces(ec2)
        if eni.subnet.vpc_id == vpc_id and eni.public_ip
    ]
    found += [
        f"NAT gateway {nat.id}"
        for nat in list(ec2.nat_gateways.values())
        if nat.vpc_id == vpc_id and nat.state not in GONE_NAT_STATES and nat.connectivity_type != "private"
    ]
    found += [f"load balancer {lb.name}" for lb in balancers if lb.vpc_id == vpc_id and lb.public]
    return found


def check_ec2_dependencies(account: str, region: str, operation: str, params: Mapping[str, str]) -> None:
    """Rule 10: refuse a delete or detach while something depends on the resource, with EC2's DependencyViolation.

    Error texts, as real EC2 answers (400, EC2's XML error document):
    - DeleteVpc: "The vpc 'vpc-...' has dependencies and cannot be deleted." (terraform-aws-modules/terraform-aws-vpc
      #540 shows the whole XML response; gruntwork-io/cloud-nuke#345, eksctl-io/eksctl#616).
    - DeleteSubnet: "The subnet 'subnet-...' has dependencies and cannot be deleted." (eksctl-io/eksctl#7589,
      terraform-aws-modules/terraform-aws-vpc#1081).
    - DeleteSecurityGroup: "resource sg-... has a dependent object" (eksctl-io/eksctl#1849, #1960).
    - DetachInternetGateway: "Network vpc-... has some mapped public address(es). Please unmap those public
      address(es) before detaching the gateway." (eksctl-io/eksctl#253, hashicorp/terraform#1303).
    - DeleteInternetGateway while attached: "The internetGateway 'igw-...' has dependencies and cannot be deleted."
      (eksctl-io/eksctl#616, giantswarm/aws-operator#109); moto refuses it too, as "igw-... is being utilized by
      vpc-...".
    Resources that do not exist are left to moto's not-found answers.
    """
    ec2 = ec2_backends[account][region]
    found: list[str] = []
    message = ""
    if operation == "DeleteVpc":
        vpc_id = params.get("VpcId", "")
        if vpc_id in ec2.vpcs:
            found = vpc_dependents(ec2, load_balancers(account, region), vpc_id)
            message = f"The vpc '{vpc_id}' has dependencies and cannot be deleted."
    elif operation == "DeleteSubnet":
        subnet_id = params.get("SubnetId", "")
        if _find_subnet(ec2, subnet_id) is not None:
            found = subnet_dependents(ec2, load_balancers(account, region), subnet_id)
            message = f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
    elif operation == "DeleteSecurityGroup":
        if params.get("GroupId"):
            group = ec2.get_security_group_from_id(params["GroupId"])
        else:
            group = ec2.get_security_group_by_name_or_id(params.get("GroupName", ""))
        if group is not None:
            found = security_group_dependents(ec2, load_balancers(account, region), group)
            message = f"resource {group.id} has a dependent object"
    elif operation in ("DetachInternetGateway", "DeleteInternetGateway"):
        igw_id = params.get("InternetGatewayId", "")
        igw = ec2.internet_gateways.get(igw_id)
        attached = igw.vpc.id if igw is not None and igw.vpc is not None else None
        if operation == "DeleteInternetGateway" and attached:
            found = [f"attachment to {attached}"]
            message = f"The internetGateway '{igw_id}' has dependencies and cannot be deleted."
        elif operation == "DetachInternetGateway" and attached and attached == params.get("VpcId"):
            found = mapped_public_addresses(ec2, load_balancers(account, region), attached)
            message = (
                f"Network {attached} has some mapped public address(es). Please unmap those public address(es) "
                "before detaching the gateway."
            )
    if found:
        log.warning("%s refused (DependencyViolation): %s", operation, ", ".join(found))
        raise ec2_error("DependencyViolation", message)


# --- Rule 11: SQS -------------------------------------------------------------------------------

# SQS speaks two protocols: the query protocol (form-encoded `Action=CreateQueue`, XML answers) and, since 2023, the
# JSON protocol (`X-Amz-Target: AmazonSQS.CreateQueue`, `application/x-amz-json-1.0`), which the AWS SDKs use now
# (botocore, aws-sdk-rust). The rules read both (``SqsCall``) and answer in the request's own protocol (``sqs_error``).
# moto 5.2.5 already checks a queue's name (but takes a .fifo name for a standard queue), refuses a CreateQueue
# naming an existing queue with other attribute values (QueueAlreadyExists) and answers the URL when they are the
# same, checks MaximumMessageSize, the SendMessageBatch entry count, Ids and duplicates, and a batch's length in
# characters.

SQS_ERROR_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
# Error shape → (query-protocol code, HTTP status): the awsQueryError traits of the SQS Smithy model (botocore's copy
# drops them; moto's service-2.moto-extras.json keeps them). InvalidParameterValue is a common error without a shape.
SQS_ERRORS: dict[str, tuple[str, int]] = {
    "QueueDeletedRecently": ("AWS.SimpleQueueService.QueueDeletedRecently", 400),
    "InvalidAttributeName": ("InvalidAttributeName", 400),
    "InvalidAttributeValue": ("InvalidAttributeValue", 400),
    "InvalidParameterValue": ("InvalidParameterValue", 400),
    "TooManyEntriesInBatchRequest": ("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400),
    "InvalidBatchEntryId": ("AWS.SimpleQueueService.InvalidBatchEntryId", 400),
    "BatchEntryIdsNotDistinct": ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400),
    "BatchRequestTooLong": ("AWS.SimpleQueueService.BatchRequestTooLong", 400),
}


ELBV2_VERSION = "2015-12-01"


def check_elbv2_describe_tags(account: str, region: str, params: Mapping[str, str]) -> None:
    """Rule 12: ``DescribeTags`` (ELBv2) answers ``LoadBalancerNotFound`` / ``TargetGroupNotFound`` when any of its
    ``ResourceArns`` names a load balancer or target group that does not exist, instead of the tags of the others;
    moto answers with empty tags for it. Source: ELBv2 API reference, DescribeTags, Errors ("LoadBalancerNotFound:
    The specified load balancer does not exist.", "TargetGroupNotFound: The specified target group does not
    exist."); botocore's elbv2 model lists both for DescribeTags. A load balancer deleted between a listing and
    DescribeTags is the case this catches (the controller deletes them while ``down`` waits)."""
    backend = elbv2_backends[account][region]
    for arn in [value for key, value in sorted(params.items()) if key.startswith("ResourceArns.member.")]:
        if ":loadbalancer/" in arn and arn not in backend.load_balancers:
            raise query_error(
                "elasticloadbalancing", ELBV2_VERSION, "LoadBalancerNotFound",
                "The specified load balancer does not exist.", 400,
            )
        if ":targetgroup/" in arn and arn not in backend.target_groups:
            raise query_error(
                "elasticloadbalancing", ELBV2_VERSION, "TargetGroupNotFound",
                "The specified target group does not exist.", 400,
            )


def sqs_error(json_protocol: bool, shape: str, message: str) -> AwsError:
    """An SQS error in the request's protocol.

    JSON (Amazon SQS Developer Guide, "Interpreting Amazon SQS JSON API responses"): header
    ``x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender`` and body
    ``{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "..."}``; seen from real SQS as
    ``{"__type":"com.amazonaws.sqs#InvalidAttributeValue","message":"Invalid value for the parameter Policy."}``
    (hashicorp/terraform-provider-aws#42209). The ``__type`` of InvalidParameterValue, which has no shape, is NOT
    confirmed (the SDKs take the code from the header). Query ("Interpreting Amazon SQS XML API responses"):
    ``<ErrorResponse><Error><Type>Sender</Type><Code>...</Code><Message>...</Message><Detail/></Error>``.
    """
    code, status = SQS_ERRORS[shape]
    if json_protocol:
        body = json.dumps({"__type": f"com.amazonaws.sqs#{shape}", "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-query-error", f"{code};Sender")]
        return AwsError(status, headers, body)
    xml = (
        f'<?xml version="1.0"?><ErrorResponse xmlns="{SQS_ERROR_NAMESPACE}"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{_xml(message)}</Message><Detail/></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return AwsError(status, [("Content-Type", "text/xml")], xml.encode())


@dataclass
class SqsCall:
    """What the SQS rules read of a request, whichever protocol carried it."""

    queue_name: str  # CreateQueue's QueueName, else the last segment of QueueUrl (or of the path, query protocol)
    attributes: dict[str, str]  # CreateQueue / SetQueueAttributes Attributes
    entries: list[dict[str, Any]]  # SendMessageBatch Entries, in the JSON protocol's shape


def _indexed(params: Mapping[str, str], prefix: str) -> list[dict[str, str]]:
    """The query protocol's flattened list ``Prefix.1.Name=..&Prefix.1.Value=..`` as [{"Name": .., "Value": ..}]."""
    items: dict[int, dict[str, str]] = {}
    for key, value in params.items():
        match = re.fullmatch(rf"{re.escape(prefix)}\.(\d+)\.(.+)", key)
        if match:
            items.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [items[index] for index in sorted(items)]


def sqs_call(request: Request) -> SqsCall:
    """Read a request in either protocol. Query names: ``Attribute.N.Name``/``.Value``,
    ``SendMessageBatchRequestEntry.N.Id``/``.MessageBody``/``.MessageAttribute.M.Name``/``.Value.DataType``... (SQS
    API reference, query examples); JSON names: the JSON members (``Attributes``, ``Entries``)."""
    if "json" in request.content_type:
        body = request.json
        raw_attributes = body.get("Attributes") if isinstance(body.get("Attributes"), dict) else {}
        attributes = {str(key): str(value) for key, value in (raw_attributes or {}).items()}
        entries = [entry for entry in body.get("Entries") or [] if isinstance(entry, dict)]
        queue_name, queue_url = body.get("QueueName"), body.get("QueueUrl")
    else:
        params = request.params
        attributes = {item.get("Name", ""): item.get("Value", "") for item in _indexed(params, "Attribute")}
        entries = []
        for item in _indexed(params, "SendMessageBatchRequestEntry"):
            entry: dict[str, Any] = {key: value for key, value in item.items() if "." not in key}
            message_attributes = {}
            for attribute in _indexed(item, "MessageAttribute"):
                value = {
                    key.removeprefix("Value."): text for key, text in attribute.items() if key.startswith("Value.")
                }
                message_attributes[attribute.get("Name", "")] = value
            entry["MessageAttributes"] = message_attributes
            entries.append(entry)
        queue_name, queue_url = params.get("QueueName"), params.get("QueueUrl")
    if not isinstance(queue_name, str) or request.operation != "CreateQueue":
        source = queue_url if isinstance(queue_url, str) and queue_url else unquote(request.path)
        queue_name = source.rstrip("/").rsplit("/", 1)[-1]
    return SqsCall(queue_name, attributes, entries)


def _sqs_queue(account: str, region: str, name: str) -> Any | None:
    return sqs_backends[account][region].queues.get(name)


STANDARD_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
FIFO_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")


def check_queue_name(name: str, fifo: bool, json_protocol: bool) -> None:
    """CreateQueue: "A queue name can have up to 80 characters. Valid values: alphanumeric characters, hyphens (-), and
    underscores (_). A FIFO queue name must end with the .fifo suffix." (API reference, CreateQueue QueueName).

    Sources: a standard queue named ``messages.fifo`` → InvalidParameterValue "Can only include alphanumeric
    characters, hyphens, or underscores. 1 to 80 in length" (boto/botocore#3058; moto accepts it); a FIFO queue's bad
    name → "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with
    .fifo suffix and be 1 to 80 in length." (aws/aws-cdk#11041, mapbox/cloudfriend#94; moto words it otherwise).
    """
    if fifo and not FIFO_QUEUE_NAME.fullmatch(name):
        raise sqs_error(
            json_protocol,
            "InvalidParameterValue",
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end "
            "with .fifo suffix and be 1 to 80 in length.",
        )
    if not fifo and not STANDARD_QUEUE_NAME.fullmatch(name):
        raise sqs_error(
            json_protocol,
            "InvalidParameterValue",
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        )


# The attributes CreateQueue and SetQueueAttributes take (API reference, CreateQueue and SetQueueAttributes,
# "Attributes"); the others apply "only to FIFO (first-in-first-out) queues", and FifoQueue "only during queue
# creation. You can't change it for an existing queue."
SQS_ATTRIBUTES = frozenset(
    {
        "DelaySeconds",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "Policy",
        "ReceiveMessageWaitTimeSeconds",
        "VisibilityTimeout",
        "RedrivePolicy",
        "RedriveAllowPolicy",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
        "SqsManagedSseEnabled",
    }
)
SQS_FIFO_ATTRIBUTES = frozenset({"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"})
# Valid integer values, from the same "Attributes" documentation.
SQS_INTEGER_ATTRIBUTES: dict[str, tuple[int, int]] = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 1_048_576),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
MAX_RECEIVE_COUNT = range(1, 1001)
SQS_ARN = re.compile(r"arn:(aws[a-z-]*):sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]+)")


def check_queue_attributes(
    account: str, region: str, operation: str, attributes: Mapping[str, str], fifo: bool, json_protocol: bool
) -> None:
    """CreateQueue / SetQueueAttributes attributes: names, integer ranges, one kind of encryption, the redrive policy.

    Sources:
    - A name the operation does not take → InvalidAttributeName "Unknown Attribute <name>." Seen for ``QueueName``
      (CoorpAcademy/serverless-plugins#225) and for ``FifoQueue`` set to ``false`` on CreateQueue
      (crossplane-contrib/provider-aws#457; localstack/localstack#10820, checked against AWS), although the API
      reference lists false as valid; ``ContentBasedDeduplication`` on a standard queue the same
      (localstack/localstack#6602). ``DeduplicationScope`` and ``FifoThroughputLimit`` on a standard queue, and
      ``FifoQueue`` in SetQueueAttributes, refused the same way: inferred, NOT confirmed. moto accepts them all.
    - Integers out of the documented ranges (or not integers) → InvalidAttributeValue "Invalid value for the
      parameter <name>." (wording: hashicorp/terraform-provider-aws#42209, for Policy). moto checks only
      MaximumMessageSize, and answers a 500 for a non-integer.
    - SqsManagedSseEnabled=true with a KmsMasterKeyId: "Only one server-side encryption option is supported per queue"
      (API reference); AWS answers "You can use one type of server-side encryption (SSE) at one time."
      (ansible-collections/community.aws#2433); the code InvalidAttributeName and the message's second sentence are
      what AWS-compatible emulators answer, NOT confirmed. moto accepts it.
    - RedrivePolicy: ``check_redrive_policy``.
    """
    allowed = SQS_ATTRIBUTES | (SQS_FIFO_ATTRIBUTES if fifo else frozenset())
    if operation == "CreateQueue" and fifo:
        allowed |= {"FifoQueue"}
    for name in attributes:
        if name not in allowed:
            raise sqs_error(json_protocol, "InvalidAttributeName", f"Unknown Attribute {name}.")
    for name, (low, high) in SQS_INTEGER_ATTRIBUTES.items():
        value = attributes.get(name)
        if value is not None and not (re.fullmatch(r"-?\d+", value.strip()) and low <= int(value) <= high):
            raise sqs_error(json_protocol, "InvalidAttributeValue", f"Invalid value for the parameter {name}.")
    if attributes.get("SqsManagedSseEnabled", "").lower() == "true" and attributes.get("KmsMasterKeyId"):
        raise sqs_error(
            json_protocol,
            "InvalidAttributeName",
            "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or "
            "SQS SSE.",
        )
    if attributes.get("RedrivePolicy"):  # "" removes the policy
        check_redrive_policy(account, region, attributes["RedrivePolicy"], fifo, json_protocol)


def check_redrive_policy(account: str, region: str, value: str, fifo: bool, json_protocol: bool) -> None:
    """RedrivePolicy: a JSON object with ``maxReceiveCount`` (1 to 1000) and ``deadLetterTargetArn``, naming a queue
    of the same account and region and of the same type (API reference, SetQueueAttributes: "The dead-letter queue of
    a FIFO queue must also be a FIFO queue. Similarly, the dead-letter queue of a standard queue must also be a
    standard queue."; SQS Developer Guide, dead-letter queues: same account and Region).

    Every refusal is InvalidParameterValue "Value <policy> for parameter RedrivePolicy is invalid. Reason: <reason>".
    Reasons seen from AWS: "Redrive policy does not contain mandatory attribute: deadLetterTargetArn."
    (crossplane-contrib/provider-aws#443), "...: maxReceiveCount." (go-to-k/cdkd, checked first: ``{}`` names it),
    "Dead letter target does not exist." (serverless/serverless#5215), "Dead-letter queue must be same type of queue
    as the source.." (two periods: awslabs/aws-solutions-constructs#342, byu-oit/handel#253). From eucalyptus's
    AWS-compatible SQS (eucalyptus/eucalyptus SimpleQueueService.java), NOT confirmed: not JSON, the maxReceiveCount
    range, a malformed ARN, another region, another account. moto answers a 500 for bad JSON, NonExistentQueue for a
    missing target, accepts any maxReceiveCount and a FIFO target for a standard queue.
    """

    def invalid(reason: str) -> AwsError:
        return sqs_error(
            json_protocol,
            "InvalidParameterValue",
            f"Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}",
        )

    try:
        policy = json.loads(value)
    except ValueError:
        policy = None
    if not isinstance(policy, dict):
        raise sqs_error(
            json_protocol,
            "InvalidParameterValue",
            "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.",
        )
    for mandatory in ("maxReceiveCount", "deadLetterTargetArn"):
        if mandatory not in policy:
            raise invalid(f"Redrive policy does not contain mandatory attribute: {mandatory}.")
    count = policy["maxReceiveCount"]
    if isinstance(count, bool) or not re.fullmatch(r"-?\d+", str(count)) or int(count) not in MAX_RECEIVE_COUNT:
        raise invalid(f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000 both inclusive.")
    arn = SQS_ARN.fullmatch(str(policy["deadLetterTargetArn"]))
    if arn is None:
        raise invalid("Invalid value for deadLetterTargetArn.")
    _, target_region, target_account, target_name = arn.groups()
    if target_region != region:
        raise invalid("Dead-letter target must be in same region as the source.")
    if target_account != account:
        raise invalid("Dead-letter target owner should be same as the source.")
    target = _sqs_queue(account, region, target_name)
    if target is None:
        raise invalid("Dead letter target does not exist.")
    if bool(target.fifo_queue) != fifo:
        raise invalid("Dead-letter queue must be same type of queue as the source..")


def check_queue_not_deleted_recently(recently_deleted: bool, json_protocol: bool) -> None:
    """CreateQueue of a name deleted less than a minute ago (``EMULATOR_SQS_DELETED_RECENTLY_SECONDS``).

    Source: API reference, CreateQueue and DeleteQueue: "When you delete a queue, you must wait at least 60 seconds
    before creating a queue with the same name."; AWS answers "AWS.SimpleQueueService.QueueDeletedRecently: You must
    wait 60 seconds after deleting a queue before you can create another with the same name." (hashicorp/terraform
    #15139, hashicorp/terraform-provider-aws#3113, which retries it). moto lets the name be reused at once.
    """
    if recently_deleted:
        raise sqs_error(
            json_protocol,
            "QueueDeletedRecently",
            "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
        )


MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 1_048_576
BATCH_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


def batch_entry_bytes(entry: Mapping[str, Any]) -> int:
    """An entry's size as SQS counts it: the body's UTF-8 bytes plus every part of its message attributes ("All
    parts of the message attribute, including Name, Type, and Value, are part of the message size restriction",
    API reference, MessageAttributeValue). Binary values arrive base64-encoded in both protocols."""
    size = len(str(entry.get("MessageBody") or "").encode())
    attributes = entry.get("MessageAttributes") or {}
    for name, value in attributes.items() if isinstance(attributes, dict) else []:
        value = value if isinstance(value, dict) else {}
        size += len(str(name).encode()) + len(str(value.get("DataType") or "").encode())
        if value.get("StringValue") is not None:
            size += len(str(value["StringValue"]).encode())
        if value.get("BinaryValue") is not None:
            try:
                size += len(base64.b64decode(str(value["BinaryValue"])))
            except ValueError:
                size += len(str(value["BinaryValue"]))
    return size


def check_send_message_batch(entries: list[dict[str, Any]], json_protocol: bool) -> None:
    """SendMessageBatch: at most 10 entries, Ids of alphanumerics, hyphens and underscores (up to 80) and distinct,
    and at most 1 MiB in all (API reference, SendMessageBatch: "The maximum allowed individual message size and the
    maximum total payload size (the sum of the individual lengths of all of the batched messages) are both 1 MiB
    1,048,576 bytes"; 256 KiB until August 2025, hashicorp/terraform-provider-aws#45152; SendMessageBatchRequestEntry
    Id). Codes from the Smithy model; the messages are moto's, NOT confirmed.

    moto already checks all four, but counts characters of the body only (no attribute, no UTF-8 bytes), lets Python's
    ``\\w`` take non-ASCII letters in Ids, and checks the count last. An empty batch is left to moto's
    EmptyBatchRequest.
    """
    if len(entries) > MAX_BATCH_ENTRIES:
        raise sqs_error(
            json_protocol,
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}. You have sent {len(entries)}.",
        )
    seen: set[str] = set()
    for entry in entries:
        entry_id = str(entry.get("Id") or "")
        if not BATCH_ENTRY_ID.fullmatch(entry_id):
            raise sqs_error(
                json_protocol,
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at "
                "most 80 letters long.",
            )
        if entry_id in seen:
            raise sqs_error(json_protocol, "BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.")
        seen.add(entry_id)
    total = sum(batch_entry_bytes(entry) for entry in entries)
    if total > MAX_BATCH_BYTES:
        raise sqs_error(
            json_protocol,
            "BatchRequestTooLong",
            f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent {total} bytes.",
        )


# --- Stats --------------------------------------------------------------------------------------


class Stats:
    """Requests per AWS operation, injected failures and add-on deletions, for ``GET /_emulator/stats``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.addon_deletions: list[dict[str, Any]] = []

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(sorted(self.requests.items())),
                "injectedFailures": sum(self.injected.values()),
                "injectedByOperation": dict(sorted(self.injected.items())),
                "addonDeletions": list(self.addon_deletions),
            }


# --- The middleware -----------------------------------------------------------------------------


class AwsRules:
    """WSGI middleware applying the rules above in front of ``app`` (the EKS extension over moto)."""

    def __init__(self, app: WsgiApp, config: RulesConfig) -> None:
        self.app = app
        self.config = config
        self.stats = Stats()
        self.throttler = Throttler(config.throttle_rate, config.throttle_seed)
        self.recent_ec2_ids = RecentIds(config.ec2_consistency)
        self.deleted_queues = RecentIds(config.sqs_deleted_recently)
        self._lock = threading.Lock()
        self._idempotency_lock = threading.Lock()
        self._calls: dict[tuple[str, str, str, str], IdempotentCall] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == STATS_PATH:
            return self._serve_stats(environ, start_response)
        if path == "/moto-api/reset":
            with self._lock:  # a new world: no queue names cooling down (rule 11)
                self.deleted_queues = RecentIds(self.config.sqs_deleted_recently)
        request = None if path.startswith(MOTO_API_PREFIX) else parse_request(environ)
        if request is None:
            return self.app(environ, start_response)
        with self.stats._lock:
            self.stats.requests[request.key] += 1
        try:
            if not self.config.enabled:
                status, headers, body = self._call(environ)
            else:
                status, headers, body = self._apply_rules(request)
        except AwsError as error:
            status, headers, body = f"{error.status} {HTTPStatus(error.status).phrase}", error.headers, error.body
            headers = [*headers, ("x-amzn-RequestId", str(uuid.uuid4()))]
        self._observe(request, status, body)
        start_response(status, _with_length(headers, body))
        return [body]

    # Rules ------------------------------------------------------------------------------------

    def _apply_rules(self, request: Request) -> tuple[str, Headers, bytes]:
        injected = self.throttler.choose(request)
        if injected is not None:
            with self.stats._lock:
                self.stats.injected[request.key] += 1
            raise injected
        if request.service == "ec2":
            self._check_ec2_ids(request)
            if request.operation in DEPENDENCY_OPERATIONS and request.params.get("DryRun") != "true":
                check_ec2_dependencies(request.account, request.region, request.operation, request.params)
        elif request.service == "iam" and request.operation in ("CreateRole", "UpdateAssumeRolePolicy"):
            document = request.params.get("AssumeRolePolicyDocument") or request.params.get("PolicyDocument") or ""
            check_federated_principals(request.account, request.region, document, self.config.iam_propagation)
        elif request.service == "eks":
            return self._eks(request)
        elif request.service == "sqs":
            self._check_sqs(request)
        elif (
            request.service == "elasticloadbalancing"
            and request.operation == "DescribeTags"
            and request.params.get("Version") == ELBV2_VERSION
        ):
            check_elbv2_describe_tags(request.account, request.region, request.params)
        return self._call(request.environ)

    def _check_sqs(self, request: Request) -> None:
        """Rule 11 for one SQS request, in either protocol."""
        json_protocol = "json" in request.content_type
        operation = request.operation
        if operation not in ("CreateQueue", "SetQueueAttributes", "SendMessageBatch"):
            return
        call = sqs_call(request)
        if operation == "SendMessageBatch":
            check_send_message_batch(call.entries, json_protocol)
            return
        if operation == "CreateQueue":
            fifo = call.attributes.get("FifoQueue", "").lower() == "true"
            check_queue_name(call.queue_name, fifo, json_protocol)
        else:
            queue = _sqs_queue(request.account, request.region, call.queue_name)
            if queue is None:
                return  # moto answers QueueDoesNotExist
            fifo = bool(queue.fifo_queue)
        check_queue_attributes(request.account, request.region, operation, call.attributes, fifo, json_protocol)
        if operation == "CreateQueue" and _sqs_queue(request.account, request.region, call.queue_name) is None:
            with self._lock:
                deleted = self.deleted_queues.is_recent(
                    request.account, request.region, call.queue_name, time.monotonic()
                )
            check_queue_not_deleted_recently(deleted, json_protocol)

    def _check_ec2_ids(self, request: Request) -> None:
        now = time.monotonic()
        with self._lock:
            for value in ec2_referenced_ids(request.params):
                if self.recent_ec2_ids.is_recent(request.account, request.region, value, now):
                    raise ec2_error(*ec2_not_found(value))

    def _eks(self, request: Request) -> tuple[str, Headers, bytes]:
        fields = {"clusterName": request.labels.get("name") or request.json.get("name")}
        if request.operation in ("CreateNodegroup", "UpdateNodegroupVersion", "UpdateNodegroupConfig"):
            fields["nodegroupName"] = request.json.get("nodegroupName") or request.labels.get("nodegroupName")
        token = request.json.get("clientRequestToken") if request.operation in EKS_TOKEN_OPERATIONS else None
        check_client_request_token(token, **fields)
        if token is None:
            self._check_eks(request, fields)
            return self._call(request.environ)
        key = (request.account, request.region, request.operation, token)
        with self._idempotency_lock:  # one call per token at a time, so a retry sees the first one's outcome
            record = self._calls.get(key)
            if record is not None and not self._still_there(request, record):
                del self._calls[key]
                record = None
            if record is not None:
                check_same_parameters(record, request, **fields)
                return record.status, record.headers, record.body
            self._check_eks(request, fields)
            status, headers, body = self._call(request.environ)
            if status.startswith("2"):
                self._calls[key] = IdempotentCall(request_fingerprint(request), status, headers, body)
            return status, headers, body

    def _check_eks(self, request: Request, fields: dict[str, Any]) -> None:
        """Rules 2-6 for one EKS request."""
        for arn in eks_role_arns(request):
            if young_role(request.account, request.region, arn, self.config.iam_propagation):
                raise role_not_assumable(request.operation, arn, **fields)
        now = time.monotonic()
        with self._lock:
            for value in eks_referenced_ec2_ids(request):
                if self.recent_ec2_ids.is_recent(request.account, request.region, value, now):
                    code, message = ec2_not_found(value)
                    raise invalid_parameter(
                        f"{message} (Service: AmazonEC2; Status Code: 400; Error Code: {code}; "
                        f"Request ID: {uuid.uuid4()}; Proxy: null)",
                        **fields,
                    )
        if request.operation == "CreateCluster":
            self._check_cluster_zones(request)
        elif request.operation == "CreateNodegroup":
            self._check_nodegroup_ami(request, fields)
        elif request.operation == "UpdateNodegroupVersion":
            self._check_nodegroup_version_update(request, fields)

    def _check_cluster_zones(self, request: Request) -> None:
        ec2 = ec2_backends[request.account][request.region]
        subnet_zones = []
        for subnet_id in (request.json.get("resourcesVpcConfig") or {}).get("subnetIds") or []:
            subnet = _find_subnet(ec2, subnet_id)
            if subnet is not None:
                subnet_zones.append((subnet.availability_zone, subnet.availability_zone_id))
        region_zones = [(zone.name, zone.zone_id) for zone in ec2.describe_availability_zones()]
        check_cluster_zones(str(request.json.get("name")), subnet_zones, region_zones)

    def _check_nodegroup_ami(self, request: Request, fields: dict[str, Any]) -> None:
        body = request.json
        cluster = eks_backends[request.account][request.region].clusters.get(request.labels.get("name", ""))
        if cluster is None:
            return  # the extension answers ResourceNotFoundException
        version = body.get("version") or cluster.version
        template = launch_template_version(request.account, request.region, body.get("launchTemplate"))
        image_id = template.image_id if template is not None else None
        ami_type = body.get("amiType") or default_ami_type(version, bool(image_id))
        instance_types = body.get("instanceTypes") or (
            [template.instance_type] if template is not None and template.instance_type else [DEFAULT_INSTANCE_TYPE]
        )
        check_custom_ami_type(ami_type, image_id, **fields)
        check_ami_type_supports_version(ami_type, version, **fields)
        check_ami_type_fits_instance_types(ami_type, [str(name) for name in instance_types], **fields)

    def _check_nodegroup_version_update(self, request: Request, fields: dict[str, Any]) -> None:
        """Rule 3 for UpdateNodegroupVersion: an AL2 node group cannot move to 1.33 or later (inferred, as above)."""
        cluster = eks_backends[request.account][request.region].clusters.get(request.labels.get("name", ""))
        nodegroup = cluster.nodegroups.get(request.labels.get("nodegroupName", "")) if cluster else None
        if nodegroup is not None:
            version = request.json.get("version") or cluster.version  # type: ignore[union-attr]
            check_ami_type_supports_version(nodegroup.ami_type, version, **fields)

    def _still_there(self, request: Request, record: IdempotentCall) -> bool:
        """Whether the resource a recorded create made still exists (else a retry creates anew)."""
        created = CREATED_RESOURCES.get(request.operation)
        if created is None:
            return True  # updates: the same token answers the same update
        template, member, identity = created
        made = _json_object(record.body).get(member) or {}
        values = {
            "clusterName": request.labels.get("name") or request.json.get("name") or "",
            **{key: str(value) for key, value in request.json.items() if isinstance(value, str)},
            "associationId": str(made.get("associationId", "")),
        }
        path = template.format(**{key: quote(value, safe="") for key, value in values.items()})
        status, _, body = self._call(_describe_environ(request.environ, path))
        found = _json_object(body).get(member) or {}
        return status.startswith("200") and all(found.get(key) == made.get(key) for key in identity)

    # Plumbing ---------------------------------------------------------------------------------

    def _call(self, environ: dict[str, Any]) -> tuple[str, Headers, bytes]:
        """Run the wrapped app and collect its whole answer."""
        captured: dict[str, Any] = {}
        written: list[bytes] = []

        def start_response(status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, list(headers)
            return written.append

        result = self.app(environ, start_response)
        try:
            body = b"".join([*written, *result])
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return captured["status"], captured["headers"], body

    def _observe(self, request: Request, status: str, body: bytes) -> None:
        """Learn from successful answers: new EC2 IDs (rule 6), add-on deletions (for the stats)."""
        if not status.startswith("2"):
            return
        if request.service == "ec2":
            created = created_ec2_id(request.operation, body)
            if created is not None:
                with self._lock:
                    self.recent_ec2_ids.add(request.account, request.region, created, time.monotonic())
        elif request.service == "sqs" and request.operation == "DeleteQueue":
            name = sqs_call(request).queue_name
            with self._lock:
                self.deleted_queues.add(request.account, request.region, name, time.monotonic())
        elif request.operation == "DeleteAddon":
            values = request.query.get("preserve") or ["false"]
            deletion = {
                "clusterName": request.labels.get("name"),
                "addonName": request.labels.get("addonName"),
                "preserve": values[0] == "true",
            }
            with self.stats._lock:
                self.stats.addon_deletions.append(deletion)

    def _serve_stats(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "GET":
            body = b'{"message": "use GET"}'
            start_response("405 Method Not Allowed", _with_length([("Content-Type", "application/json")], body))
            return [body]
        body = json.dumps(self.stats.to_json()).encode()
        start_response("200 OK", _with_length([("Content-Type", "application/json")], body))
        return [body]


def _with_length(headers: Headers, body: bytes) -> Headers:
    return [(name, value) for name, value in headers if name.lower() != "content-length"] + [
        ("Content-Length", str(len(body)))
    ]


def _describe_environ(environ: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A GET of ``path`` with the same signature, to look at a resource without going through the rules."""
    describe = {key: value for key, value in environ.items() if key != "HTTP_CONTENT_TYPE"}
    describe.update(
        REQUEST_METHOD="GET",
        PATH_INFO=unquote(path),
        RAW_URI=path,
        REQUEST_URI=path,
        QUERY_STRING="",
        CONTENT_TYPE="",
        CONTENT_LENGTH="0",
    )
    describe["wsgi.input"] = io.BytesIO(b"")
    return describe


def _find_subnet(ec2: Any, subnet_id: str) -> Any | None:
    try:
        return ec2.get_subnet(subnet_id)
    except InvalidSubnetIdError:  # the extension answers it
        return None
