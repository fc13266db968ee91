"""EKS behaviour that moto 5.2.5 lacks, layered over moto's server for eksscale's tests.

Two parts, both test infrastructure (see README.md):

* ``EksExtension`` is a WSGI middleware in front of moto's app. It serves the EKS
  operations moto has no routes for (add-ons, access entries, Pod Identity
  associations, cluster and node group version updates, tags on non-cluster
  resources) from in-memory state, and passes every other request to moto untouched.
* ``EksExtension`` also patches moto's own EKS request handlers, so that clusters
  and node groups behave closer to real EKS (per-cluster OIDC issuer, access and
  VPC config, cluster security group, log group, lifecycle timing, failures), and
  so that clusters can point at a test's own Kubernetes API server (``ApiServer``).

Wire shapes follow the EKS API reference (restJson1): timestamps are epoch seconds,
optional fields are omitted rather than null, errors carry ``x-amzn-ErrorType``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import EC2ClientError, InvalidSubnetIdError
from moto.ec2.models import ec2_backends
from moto.eks.exceptions import (
    EKSError,
    InvalidParameterException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.eks.models import (
    CLUSTER_NOT_FOUND_MSG,
    CLUSTER_NOT_READY_MSG,
    NODEGROUP_NOT_FOUND_MSG,
    Cluster,
    EKSBackend,
    Nodegroup,
    eks_backends,
    validate_safe_to_delete,
)
from moto.eks.responses import EKSResponse
from moto.eks.utils import validate_role_arn
from moto.iam.models import get_account_id_from, iam_backends
from moto.logs.models import logs_backends
from moto.utilities.utils import get_partition

FAIL_TAG = "emulator.eksscale.io/fail"
"""Tag on CreateCluster/CreateNodegroup/CreateAddon: the resource ends failed with this message."""

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class NotFoundException(EKSError):
    """The tagging operations' not-found error (the other operations use ResourceNotFoundException)."""

    TYPE = "NotFoundException"
    STATUS = 404


# --- Configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """How long resources stay CREATING / DELETING; 0 means instant, as in plain moto."""

    cluster_create: float = 0.0
    nodegroup_create: float = 0.0
    addon_create: float = 0.0
    delete: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Timing:
        def seconds(name: str) -> float:
            value = float(env.get(name) or 0)
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
            return value

        return cls(
            cluster_create=seconds("EMULATOR_EKS_CLUSTER_CREATE_SECONDS"),
            nodegroup_create=seconds("EMULATOR_EKS_NODEGROUP_CREATE_SECONDS"),
            addon_create=seconds("EMULATOR_EKS_ADDON_CREATE_SECONDS"),
            delete=seconds("EMULATOR_EKS_DELETE_SECONDS"),
        )


@dataclass(frozen=True)
class ApiServer:
    """A Kubernetes API server a test runs, given to clusters as their endpoint and CA (see README.md).

    Unset (the default), each cluster keeps its own made-up endpoint and moto's random CA data. The CA file holds
    what EKS puts in ``certificateAuthority.data``: "The Base64-encoded certificate data required to communicate with
    your cluster" (EKS API reference, Certificate), i.e. the base64 of the PEM CA certificate that kubeconfig's
    ``certificate-authority-data`` takes as is.
    """

    endpoint: str | None = None  # e.g. https://127.0.0.1:6443, given as every cluster's `endpoint`
    ca_file: Path | None = None  # holds the base64 of the PEM CA, as `certificateAuthority.data` carries it
    cluster: str | None = None  # only this cluster gets the endpoint and CA; None: every cluster

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ApiServer:
        endpoint = env.get("EMULATOR_EKS_API_ENDPOINT") or None
        ca_file = env.get("EMULATOR_EKS_API_CA_FILE") or None
        cluster = env.get("EMULATOR_EKS_API_CLUSTER") or None
        if endpoint is None:
            if ca_file or cluster:
                raise ValueError("EMULATOR_EKS_API_CA_FILE and EMULATOR_EKS_API_CLUSTER need EMULATOR_EKS_API_ENDPOINT")
            return cls()
        parts = urlsplit(endpoint)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"EMULATOR_EKS_API_ENDPOINT must be an http(s)://host[:port] URL, got {endpoint!r}")
        return cls(endpoint=endpoint.rstrip("/"), ca_file=Path(ca_file) if ca_file else None, cluster=cluster)

    def serves(self, cluster_name: str) -> bool:
        return self.endpoint is not None and self.cluster in (None, cluster_name)

    def ca_data(self) -> str | None:
        """The CA file's content, read anew each time (the test may write it after the emulator starts);
        None while the file is missing or empty. Whitespace (line wrapping, the final newline) is dropped."""
        if self.ca_file is None:
            return None
        try:
            data = "".join(self.ca_file.read_text().split())
        except FileNotFoundError:
            return None
        return data or None


# --- Add-on catalog ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AddonRelease:
    version: str
    first_minor: int  # oldest Kubernetes 1.x minor it supports
    last_minor: int  # newest Kubernetes 1.x minor it supports

    def supports(self, minor: int) -> bool:
        return self.first_minor <= minor <= self.last_minor


@dataclass(frozen=True)
class AddonSpec:
    type: str
    namespace: str  # where the add-on's service accounts (and Pod Identity associations) live
    releases: tuple[AddonRelease, ...]  # newest first; the newest compatible one is the default

    def compatible(self, minor: int) -> list[AddonRelease]:
        return [release for release in self.releases if release.supports(minor)]


def _releases(*rows: tuple[str, int, int]) -> tuple[AddonRelease, ...]:
    return tuple(AddonRelease(*row) for row in rows)


ADDON_CATALOG: dict[str, AddonSpec] = {
    "vpc-cni": AddonSpec(
        "networking",
        "kube-system",
        _releases(("v1.21.1-eksbuild.3", 33, 37), ("v1.20.4-eksbuild.2", 31, 37), ("v1.19.6-eksbuild.7", 31, 35)),
    ),
    "coredns": AddonSpec(
        "networking",
        "kube-system",
        _releases(
            ("v1.12.4-eksbuild.1", 33, 37),
            ("v1.12.1-eksbuild.2", 32, 37),
            ("v1.11.4-eksbuild.14", 31, 33),
            ("v1.11.3-eksbuild.2", 31, 32),
        ),
    ),
    # kube-proxy ships one build line per Kubernetes minor.
    "kube-proxy": AddonSpec(
        "networking",
        "kube-system",
        _releases(
            *(
                (f"v1.{minor}.{patch}-eksbuild.{build}", minor, minor)
                for minor in range(37, 30, -1)
                for patch, build in ((4, 2), (0, 1))
            )
        ),
    ),
    "eks-pod-identity-agent": AddonSpec(
        "security",
        "kube-system",
        _releases(("v1.3.8-eksbuild.2", 31, 37), ("v1.3.7-eksbuild.2", 31, 37), ("v1.3.4-eksbuild.1", 31, 34)),
    ),
    "metrics-server": AddonSpec(
        "observability",
        "kube-system",
        _releases(("v0.8.0-eksbuild.2", 31, 37), ("v0.7.2-eksbuild.4", 31, 37)),
    ),
    "aws-ebs-csi-driver": AddonSpec(
        "storage",
        "kube-system",
        _releases(("v1.50.1-eksbuild.1", 32, 37), ("v1.48.0-eksbuild.2", 31, 37), ("v1.45.0-eksbuild.2", 31, 35)),
    ),
}

ACCESS_POLICY_NAMES = (
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSAdminPolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSViewPolicy",
)
AUTHENTICATION_MODES = ("API", "API_AND_CONFIG_MAP", "CONFIG_MAP")
# UpgradePolicyRequest.supportType; botocore's EKS model: "New clusters, by default, have extended support enabled".
SUPPORT_TYPES = ("STANDARD", "EXTENDED")
DEFAULT_SUPPORT_TYPE = "EXTENDED"
# Node groups of Kubernetes 1.30 and later default to AL2023 (AWS "What's new", 2024-05: "Starting with Kubernetes
# version 1.30 or newer, any newly created managed node groups will automatically default to using AL2023");
# older ones to AL2. A launch template with its own image makes the node group CUSTOM.
FIRST_AL2023_DEFAULT_MINOR = 30
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
ENDPOINT_FIELDS = {
    "endpointPublicAccess": "EndpointPublicAccess",
    "endpointPrivateAccess": "EndpointPrivateAccess",
    "publicAccessCidrs": "PublicAccessCidrs",
}
# Kubernetes username EKS assigns to each access-entry type (STANDARD derives it from the principal).
NODE_ENTRY_USERNAMES = {
    "EC2": "system:node:{{EC2PrivateDNSName}}",
    "EC2_LINUX": "system:node:{{EC2PrivateDNSName}}",
    "EC2_WINDOWS": "system:node:{{EC2PrivateDNSName}}",
    "FARGATE_LINUX": "system:node:{{SessionName}}",
    "HYBRID_LINUX": "system:node:{{SessionName}}",
}
# UpdateNodegroupConfig request fields and the UpdateParamType EKS reports for each.
NODEGROUP_UPDATE_PARAMS = (
    ("scalingConfig", "minSize", "MinSize"),
    ("scalingConfig", "maxSize", "MaxSize"),
    ("scalingConfig", "desiredSize", "DesiredSize"),
    ("labels", "addOrUpdateLabels", "LabelsToAdd"),
    ("labels", "removeLabels", "LabelsToRemove"),
    ("taints", "addOrUpdateTaints", "TaintsToAdd"),
    ("taints", "removeTaints", "TaintsToRemove"),
    ("updateConfig", "maxUnavailable", "MaxUnavailable"),
    ("updateConfig", "maxUnavailablePercentage", "MaxUnavailablePercentage"),
    ("nodeRepairConfig", "enabled", "NodeRepairEnabled"),
)
# Node AMIs: the newest Kubernetes patch EKS ships per 1.x minor (0 if not listed), and the date of the newest AMI
# release. The latest release version of a Kubernetes version is "1.NN.<patch>-<date>", as for EKS optimized AMIs.
KUBERNETES_PATCHES = {31: 13, 32: 9, 33: 5, 34: 2, 35: 0}
AMI_RELEASE_DATE = "20251120"
RELEASE_VERSION = re.compile(r"1\.(?P<minor>\d+)\.(?P<patch>\d+)-(?P<date>\d{8})")
IAM_PRINCIPAL = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):(?P<kind>role|user)/(?:.*/)?(?P<name>[^/]+)"
)
DEFAULT_MAX_RESULTS = 100


def access_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/{name}"


def kubernetes_minor(version: str) -> int:
    """The minor of a "1.NN" Kubernetes version (InvalidParameterException otherwise)."""
    match = re.fullmatch(r"1\.(\d+)", version or "")
    if not match:
        raise InvalidParameterException(message=f"Invalid Kubernetes version: {version}")
    return int(match.group(1))


def default_ami_type(version: str, custom_image: bool) -> str:
    """The amiType EKS gives a node group created without one."""
    if custom_image:
        return "CUSTOM"
    match = re.fullmatch(r"1\.(\d+)", version or "")
    if match and int(match.group(1)) < FIRST_AL2023_DEFAULT_MINOR:
        return "AL2_x86_64"
    return "AL2023_x86_64_STANDARD"


def launch_template_version(account: str, region: str, spec: Mapping[str, Any] | None) -> Any | None:
    """The moto LaunchTemplateVersion a node group's launchTemplate {id|name, version} names, if it exists."""
    if not spec:
        return None
    ec2 = ec2_backends[account][region]
    try:
        if spec.get("id"):
            template = ec2.get_launch_template(spec["id"])
        elif spec.get("name"):
            template = ec2.get_launch_template_by_name(spec["name"])
        else:
            return None
        return template.get_version(spec.get("version") or "$Default")
    except EC2ClientError:
        return None


def ec2_not_found_via_eks(code: str, message: str) -> InvalidParameterException:
    """EKS passes EC2's not-found error on in its own, as seen from real EKS:
    "The subnet ID 'subnet-0df1...' does not exist (Service: AmazonEC2; Status Code: 400; Error Code:
    InvalidSubnetID.NotFound; Request ID: ...; Proxy: null)" (AdminTurnedDevOps/DevOps-The-Hard-Way-AWS#16)."""
    return InvalidParameterException(
        message=f"{message} (Service: AmazonEC2; Status Code: 400; Error Code: {code}; "
        f"Request ID: {uuid.uuid4()}; Proxy: null)"
    )


def latest_release_version(version: str) -> str:
    """The newest node AMI release version of a Kubernetes version, e.g. "1.33.5-20251120"."""
    match = re.fullmatch(r"1\.(\d+)", version or "")
    patch = KUBERNETES_PATCHES.get(int(match.group(1)), 0) if match else 0
    return f"{version}.{patch}-{AMI_RELEASE_DATE}"


def _release_key(release_version: str) -> tuple[int, int, str] | None:
    """(minor, patch, date) of a release version, to order them; None if it has another form."""
    match = RELEASE_VERSION.fullmatch(release_version or "")
    return (int(match["minor"]), int(match["patch"]), match["date"]) if match else None


def _addon_release(name: str, version: str | None, kubernetes_version: str) -> AddonRelease:
    """The catalog release `version` of add-on `name` (or its default) for a cluster version."""
    spec = ADDON_CATALOG.get(name)
    compatible = spec.compatible(kubernetes_minor(kubernetes_version)) if spec else []
    if not compatible:
        raise InvalidParameterException(
            message=f"Addon {name} specified is not supported in {kubernetes_version} cluster version"
        )
    if version is None:
        return compatible[0]
    for release in compatible:
        if release.version == version:
            return release
    raise InvalidParameterException(
        message=f"Addon version {version} specified is not supported for {name} in {kubernetes_version} cluster version"
    )


# --- State ------------------------------------------------------------------------------------


def _now() -> float:
    return round(time.time(), 3)


@dataclass
class Lifecycle:
    """Pending status changes of one resource (a moto Cluster or Nodegroup, or an Addon).

    The resource is CREATING until ``ready_at``, then ACTIVE, or ``failed_status`` with a
    health issue when created with the failure tag. While an update runs it is UPDATING
    until ``updated_at``, then ACTIVE with the ``pending`` attribute values. Once deleted it
    is DELETING until ``gone_at``; the owner removes it when ``settle`` says so.
    """

    ready_at: float
    failed_status: str
    fail_message: str | None
    gone_at: float | None = None
    updated_at: float | None = None
    pending: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def begin(cls, resource: Any, seconds: float, tags: Mapping[str, str] | None, failed_status: str) -> Lifecycle:
        now = time.time()
        life = cls(ready_at=now + seconds, failed_status=failed_status, fail_message=(tags or {}).get(FAIL_TAG))
        resource.status = "CREATING"
        resource.health = {"issues": []}
        life.settle(resource, now)
        return life

    def update(self, resource: Any, seconds: float, changes: Mapping[str, Any]) -> float:
        """Start an update that sets `changes` (attribute values) when it ends; returns when that is."""
        resource.status = "UPDATING"
        self.updated_at = time.time() + seconds
        self.pending = dict(changes)
        return self.updated_at

    def end(self, resource: Any, seconds: float) -> None:
        if resource.status != "DELETING":
            resource.status = "DELETING"
            self.gone_at = time.time() + seconds

    def settle(self, resource: Any, now: float) -> bool:
        """Apply the status change that is due; True once the resource should be removed."""
        if resource.status == "CREATING" and now >= self.ready_at:
            if self.fail_message is None:
                resource.status = "ACTIVE"
            else:
                resource.status = self.failed_status
                resource.health = {"issues": [{"code": "InternalFailure", "message": self.fail_message}]}
        if resource.status == "UPDATING" and self.updated_at is not None and now >= self.updated_at:
            for name, value in self.pending.items():
                setattr(resource, name, value)
            resource.status = "ACTIVE"
            self.updated_at, self.pending = None, {}
        return self.gone_at is not None and now >= self.gone_at


@dataclass
class Addon:
    name: str
    arn: str
    version: str
    life: Lifecycle = field(init=False)
    tags: dict[str, str]
    service_account_role_arn: str | None
    configuration_values: str | None
    created_at: float
    modified_at: float
    status: str = "CREATING"
    health: dict[str, Any] = field(default_factory=dict)
    preserve: bool = False  # DeleteAddon's preserve: the software stays on the cluster, EKS stops managing it


@dataclass
class AssociatedPolicy:
    policy_arn: str
    access_scope: dict[str, Any]
    associated_at: float
    modified_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "policyArn": self.policy_arn,
            "accessScope": self.access_scope,
            "associatedAt": self.associated_at,
            "modifiedAt": self.modified_at,
        }


@dataclass
class AccessEntry:
    principal_arn: str
    arn: str
    type: str
    username: str
    kubernetes_groups: list[str]
    tags: dict[str, str]
    created_at: float
    modified_at: float
    policies: dict[str, AssociatedPolicy] = field(default_factory=dict)


@dataclass
class PodIdentityAssociation:
    id: str
    arn: str
    namespace: str
    service_account: str
    role_arn: str
    tags: dict[str, str]
    created_at: float
    modified_at: float
    owner_arn: str | None = None  # the add-on that manages it, if any


@dataclass
class Update:
    """An accepted update; DescribeUpdate reports it InProgress until ``done_at``, then Successful.

    Most updates are applied at once (``done_at`` 0); node group version updates take time.
    """

    id: str
    type: str
    params: list[dict[str, str]]
    created_at: float
    nodegroup: str | None = None
    addon: str | None = None
    done_at: float = 0.0

    @property
    def status(self) -> str:
        return "Successful" if time.time() >= self.done_at else "InProgress"

    @classmethod
    def accepted(cls, update_type: str, params: list[dict[str, str]], **scope: str) -> Update:
        return cls(str(uuid.uuid4()), update_type, params, _now(), **scope)

    def to_json(self, status: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": status,
            "type": self.type,
            "params": self.params,
            "createdAt": self.created_at,
            "errors": [],
        }


@dataclass
class ClusterExt:
    """What the emulator keeps for one moto Cluster beyond moto's own fields."""

    life: Lifecycle
    security_group_id: str
    nodegroup_lives: dict[str, Lifecycle] = field(default_factory=dict)
    addons: dict[str, Addon] = field(default_factory=dict)
    access_entries: dict[str, AccessEntry] = field(default_factory=dict)
    associations: dict[str, PodIdentityAssociation] = field(default_factory=dict)
    updates: dict[str, Update] = field(default_factory=dict)

    def drop_associations_of(self, addon: Addon) -> None:
        for association in [a for a in self.associations.values() if a.owner_arn == addon.arn]:
            del self.associations[association.id]


@dataclass
class Call:
    """One request to an operation the extension serves."""

    account: str
    region: str
    params: dict[str, str]  # decoded URI labels
    query: dict[str, list[str]]
    body: dict[str, Any]

    @property
    def partition(self) -> str:
        return get_partition(self.region)

    def arn(self, resource: str) -> str:
        return f"arn:{self.partition}:eks:{self.region}:{self.account}:{resource}"

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def required(self, name: str) -> Any:
        if self.body.get(name) is None:
            raise InvalidParameterException(message=f"{name} is required")
        return self.body[name]

    def page(self, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """One page of `items` and, if more remain, {"nextToken": ...}."""
        max_results = self.query_value("maxResults") or str(DEFAULT_MAX_RESULTS)
        if not max_results.isdigit() or not 1 <= int(max_results) <= 100:
            raise InvalidParameterException(message="maxResults must be between 1 and 100")
        token = self.query_value("nextToken") or "0"
        if not token.isdigit():
            raise InvalidParameterException(message="The nextToken is invalid")
        start = int(token)
        end = start + int(max_results)
        return items[start:end], ({"nextToken": str(end)} if end < len(items) else {})


# --- Helpers used by the patched moto handlers ------------------------------------------------


def _logging(enabled: set[str]) -> dict[str, Any]:
    """EKS's representation of a set of enabled control-plane log types."""
    groups = [
        {"types": [t for t in LOG_TYPES if t in enabled], "enabled": True},
        {"types": [t for t in LOG_TYPES if t not in enabled], "enabled": False},
    ]
    return {"clusterLogging": [group for group in groups if group["types"]]}


def _enabled_log_types(current: set[str], logging: Mapping[str, Any] | None) -> set[str]:
    """`current` with a Logging request's clusterLogging entries applied."""
    enabled = set(current)
    for setup in (logging or {}).get("clusterLogging", []):
        types = set(setup.get("types", []))
        if types - set(LOG_TYPES):
            raise InvalidParameterException(message=f"Unknown log types: {sorted(types - set(LOG_TYPES))}")
        enabled = enabled | types if setup.get("enabled") else enabled - types
    return enabled


def _ensure_log_group(account: str, region: str, cluster_name: str) -> None:
    """Real EKS creates the log group when it first ships a log type, and never deletes it."""
    logs = logs_backends[account][region]
    name = f"/aws/eks/{cluster_name}/cluster"
    if name not in logs.groups:
        logs.create_log_group(name, tags={})


def _upgrade_policy(request: Mapping[str, Any] | None, default: str) -> dict[str, str]:
    """An UpgradePolicyRequest as EKS returns it (UpgradePolicyResponse)."""
    support_type = (request or {}).get("supportType") or default
    if support_type not in SUPPORT_TYPES:
        raise InvalidParameterException(
            message=f"Invalid upgradePolicy.supportType: {support_type}. Valid values are {list(SUPPORT_TYPES)}"
        )
    return {"supportType": support_type}


def _check_endpoint_access(config: Mapping[str, Any]) -> None:
    if not config["endpointPublicAccess"] and not config["endpointPrivateAccess"]:
        raise InvalidParameterException(
            message="Invalid endpoint access configuration: public and private access cannot both be disabled"
        )


def _vpc_of(account: str, region: str, subnet_ids: list[str]) -> str:
    """The one VPC holding `subnet_ids`, which must span two Availability Zones."""
    if not subnet_ids:
        raise InvalidParameterException(message="resourcesVpcConfig.subnetIds is required")
    ec2 = ec2_backends[account][region]
    subnets = []
    for subnet_id in subnet_ids:
        try:
            subnets.append(ec2.get_subnet(subnet_id))
        except InvalidSubnetIdError:
            raise ec2_not_found_via_eks(
                "InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist"
            ) from None
    vpcs = {subnet.vpc_id for subnet in subnets}
    if len(vpcs) != 1:
        raise InvalidParameterException(message="Subnets specified must belong to one VPC")
    if len({subnet.availability_zone for subnet in subnets}) < 2:
        raise InvalidParameterException(message="Subnets specified must be in at least two different AZs")
    return vpcs.pop()


def _caller_principal(account: str, partition: str, access_key: str) -> str:
    """The IAM principal behind an access key, as EKS records the cluster creator."""
    iam = iam_backends[account][partition]
    key = iam.access_keys.get(access_key)
    if key is not None and key.role_arn:  # credentials from sts:AssumeRole
        return key.role_arn
    user = iam.get_user_from_access_key_id(access_key)
    return user.arn if user else f"arn:{partition}:iam::{account}:user/moto"


# --- The extension ----------------------------------------------------------------------------

Route = tuple[str, re.Pattern[str], str]


def _route(method: str, template: str, handler: str) -> Route:
    """A route from an API-reference URI template; labels match one percent-encoded segment."""
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return method, re.compile(pattern + "$"), handler


ROUTES: list[Route] = [
    _route("GET", "/addons/supported-versions", "describe_addon_versions"),
    _route("GET", "/access-policies", "list_access_policies"),
    _route("POST", "/clusters/{name}/addons", "create_addon"),
    _route("GET", "/clusters/{name}/addons", "list_addons"),
    _route("GET", "/clusters/{name}/addons/{addonName}", "describe_addon"),
    _route("DELETE", "/clusters/{name}/addons/{addonName}", "delete_addon"),
    _route("POST", "/clusters/{name}/addons/{addonName}/update", "update_addon"),
    _route("POST", "/clusters/{name}/access-entries", "create_access_entry"),
    _route("GET", "/clusters/{name}/access-entries", "list_access_entries"),
    _route("GET", "/clusters/{name}/access-entries/{principalArn}", "describe_access_entry"),
    _route("POST", "/clusters/{name}/access-entries/{principalArn}", "update_access_entry"),
    _route("DELETE", "/clusters/{name}/access-entries/{principalArn}", "delete_access_entry"),
    _route("POST", "/clusters/{name}/access-entries/{principalArn}/access-policies", "associate_access_policy"),
    _route("GET", "/clusters/{name}/access-entries/{principalArn}/access-policies", "list_associated_access_policies"),
    _route(
        "DELETE",
        "/clusters/{name}/access-entries/{principalArn}/access-policies/{policyArn}",
        "disassociate_access_policy",
    ),
    _route("POST", "/clusters/{name}/pod-identity-associations", "create_pod_identity_association"),
    _route("GET", "/clusters/{name}/pod-identity-associations", "list_pod_identity_associations"),
    _route("GET", "/clusters/{name}/pod-identity-associations/{associationId}", "describe_pod_identity_association"),
    _route("POST", "/clusters/{name}/pod-identity-associations/{associationId}", "update_pod_identity_association"),
    _route("DELETE", "/clusters/{name}/pod-identity-associations/{associationId}", "delete_pod_identity_association"),
    _route("POST", "/clusters/{name}/update-config", "update_cluster_config"),
    _route("POST", "/clusters/{name}/updates", "update_cluster_version"),
    _route("GET", "/clusters/{name}/updates/{updateId}", "describe_update"),
    _route("POST", "/clusters/{name}/node-groups/{nodegroupName}/update-version", "update_nodegroup_version"),
    # The ARN may arrive with its slashes encoded or not.
    ("POST", re.compile(r"/tags/(?P<resourceArn>.+)$"), "tag_resource"),
    ("GET", re.compile(r"/tags/(?P<resourceArn>.+)$"), "list_tags_for_resource"),
    ("DELETE", re.compile(r"/tags/(?P<resourceArn>.+)$"), "untag_resource"),
]


def _credential_scope(environ: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(access key, region, service) from a SigV4 Authorization header."""
    match = re.search(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request", environ.get("HTTP_AUTHORIZATION", ""))
    return (match.group(1), match.group(2), match.group(3)) if match else None


def _account(environ: Mapping[str, Any], access_key: str) -> str:
    """The account a request acts in, decided as moto's BaseResponse.get_current_account does."""
    return os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID") or get_account_id_from(access_key)


class EksExtension:
    """WSGI middleware serving the missing EKS operations; it also patches moto's EKS handlers."""

    def __init__(self, app: WsgiApp, timing: Timing, api_server: ApiServer | None = None) -> None:
        self.app = app
        self.timing = timing
        self.api_server = api_server or ApiServer()
        self._lock = threading.RLock()
        # Lives exactly as long as moto keeps the cluster (so moto's reset clears it too).
        self._clusters: weakref.WeakKeyDictionary[Cluster, ClusterExt] = weakref.WeakKeyDictionary()
        self._patch_moto()

    # WSGI ------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scope = _credential_scope(environ)
        with self._lock:
            self._settle_all()
        if scope is None or scope[2] != "eks":
            return self.app(environ, start_response)
        access_key, region, _ = scope
        with self._lock:
            try:
                matched = self._match(environ, _account(environ, access_key), region)
                if matched is None:
                    return self.app(environ, start_response)
                handler, call = matched
                status, body, headers = 200, json.dumps(handler(call)), []
            except EKSError as error:
                status, body, headers = error.STATUS, error.description, [("x-amzn-ErrorType", error.TYPE)]
            finally:
                self._settle_all()  # so that a zero-second delete is complete when its response arrives
        data = body.encode()
        headers += [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [data]

    def _match(
        self, environ: dict[str, Any], account: str, region: str
    ) -> tuple[Callable[[Call], dict[str, Any]], Call] | None:
        raw_uri = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
        path = raw_uri.split("?", 1)[0]
        for method, pattern, name in ROUTES:
            match = pattern.match(path)
            if method != environ["REQUEST_METHOD"] or match is None:
                continue
            params = {key: unquote(value) for key, value in match.groupdict().items()}
            if "resourceArn" in params and re.match(r"arn:[^:]+:eks:[^:]*:[^:]*:cluster/", params["resourceArn"]):
                return None  # moto tags clusters itself
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw_body = environ["wsgi.input"].read(length) if length else b""
            call = Call(
                account, region, params, parse_qs(environ.get("QUERY_STRING", "")), json.loads(raw_body or b"{}")
            )
            return getattr(self, name), call
        return None

    # Lifecycle -------------------------------------------------------------------------------

    def _settle_all(self) -> None:
        """Apply due CREATING/DELETING transitions in every account and region."""
        now = time.time()
        for account_backends in list(eks_backends.values()):
            for backend in list(account_backends.values()):
                for cluster in list(backend.clusters.values()):
                    ext = self._clusters.get(cluster)
                    if ext is not None:
                        self._settle_cluster(backend, cluster, ext, now)

    def _settle_cluster(self, backend: EKSBackend, cluster: Cluster, ext: ClusterExt, now: float) -> None:
        for name, life in list(ext.nodegroup_lives.items()):
            if life.settle(cluster.nodegroups[name], now):
                backend.delete_nodegroup(cluster.name, name)
                del ext.nodegroup_lives[name]
        for addon in list(ext.addons.values()):
            if addon.life.settle(addon, now):
                del ext.addons[addon.name]
                ext.drop_associations_of(addon)
        if ext.life.settle(cluster, now):
            backend.delete_cluster(cluster.name)  # add-ons, access entries, associations go with it
            ec2 = ec2_backends[backend.account_id][backend.region_name]
            if ec2.get_security_group_from_id(ext.security_group_id):
                ec2.delete_security_group(group_id=ext.security_group_id)

    # Clusters: lookups -----------------------------------------------------------------------

    def _cluster(self, call: Call) -> tuple[Cluster, ClusterExt]:
        name = call.params["name"]
        cluster = eks_backends[call.account][call.region].clusters.get(name)
        if cluster is None:
            raise ResourceNotFoundException(message=CLUSTER_NOT_FOUND_MSG.format(clusterName=name))
        return cluster, self._clusters[cluster]

    def _active_cluster(self, call: Call) -> tuple[Cluster, ClusterExt]:
        cluster, ext = self._cluster(call)
        if cluster.status != "ACTIVE":
            raise InvalidRequestException(message=CLUSTER_NOT_READY_MSG.format(clusterName=cluster.name))
        return cluster, ext

    # Patches to moto's own EKS handlers ------------------------------------------------------

    def _patch_moto(self) -> None:
        ext = self
        moto_create_cluster = EKSResponse.create_cluster
        moto_create_nodegroup = EKSResponse.create_nodegroup
        moto_update_nodegroup_config = EKSResponse.update_nodegroup_config

        def create_cluster(response: EKSResponse) -> ActionResult:
            vpc_request = response._get_param("resourcesVpcConfig") or {}
            access_request = response._get_param("accessConfig") or {}
            mode = access_request.get("authenticationMode", "API_AND_CONFIG_MAP")
            if mode not in AUTHENTICATION_MODES:
                raise InvalidParameterException(message=f"Unsupported authenticationMode: {mode}")
            enabled_logs = _enabled_log_types(set(), response._get_param("logging"))
            upgrade_policy = _upgrade_policy(response._get_param("upgradePolicy"), DEFAULT_SUPPORT_TYPE)
            subnet_ids = vpc_request.get("subnetIds") or []
            vpc_config = {
                "subnetIds": subnet_ids,
                "securityGroupIds": vpc_request.get("securityGroupIds") or [],
                "vpcId": _vpc_of(response.current_account, response.region, subnet_ids),
                "endpointPublicAccess": vpc_request.get("endpointPublicAccess", True),
                "endpointPrivateAccess": vpc_request.get("endpointPrivateAccess", False),
                "publicAccessCidrs": vpc_request.get("publicAccessCidrs") or ["0.0.0.0/0"],
            }
            _check_endpoint_access(vpc_config)
            result = moto_create_cluster(response)
            cluster: Cluster = result.result["cluster"]  # type: ignore[index]
            # moto's Cluster has no such field; its serializer emits the attribute as upgradePolicy.
            cluster.upgrade_policy = upgrade_policy  # type: ignore[attr-defined]
            ext._on_cluster_created(response, cluster, vpc_config, enabled_logs, access_request, mode)
            ext._show_api_server(cluster)
            return result

        def describe_cluster(response: EKSResponse) -> ActionResult:
            cluster = response.eks_backend.describe_cluster(name=response._get_param("name"))
            ext._show_api_server(cluster)
            return ActionResult({"cluster": cluster})

        def delete_cluster(response: EKSResponse) -> ActionResult:
            cluster = response.eks_backend.describe_cluster(response._get_param("name"))
            validate_safe_to_delete(cluster)
            ext._clusters[cluster].life.end(cluster, ext.timing.delete)
            return ActionResult({"cluster": cluster})

        def create_nodegroup(response: EKSResponse) -> ActionResult:
            result = moto_create_nodegroup(response)
            nodegroup = result.result["nodegroup"]  # type: ignore[index]
            cluster = response.eks_backend.clusters[nodegroup.cluster_name]
            nodegroup.version = response._get_param("version") or cluster.version  # moto defaults to 1.19
            # moto's default release version is a 1.19 AMI's.
            nodegroup.release_version = response._get_param("releaseVersion") or latest_release_version(
                nodegroup.version
            )
            if not response._get_param("amiType"):  # moto defaults to AL2_x86_64 whatever the version
                template = launch_template_version(
                    response.current_account, response.region, response._get_param("launchTemplate")
                )
                nodegroup.ami_type = default_ami_type(nodegroup.version, bool(template and template.image_id))
            life = Lifecycle.begin(nodegroup, ext.timing.nodegroup_create, nodegroup.tags, "CREATE_FAILED")
            ext._clusters[cluster].nodegroup_lives[nodegroup.nodegroup_name] = life
            return result

        def delete_nodegroup(response: EKSResponse) -> ActionResult:
            cluster_name = response._get_param("name")
            nodegroup = response.eks_backend.describe_nodegroup(cluster_name, response._get_param("nodegroupName"))
            cluster = response.eks_backend.clusters[cluster_name]
            ext._clusters[cluster].nodegroup_lives[nodegroup.nodegroup_name].end(nodegroup, ext.timing.delete)
            return ActionResult({"nodegroup": nodegroup})

        def update_nodegroup_config(response: EKSResponse) -> ActionResult:
            """Record the update for DescribeUpdate, with the parameter types EKS reports."""
            result = moto_update_nodegroup_config(response)
            moto_update = result.result["update"]  # type: ignore[index]
            params = []
            for group, key, param_type in NODEGROUP_UPDATE_PARAMS:
                request = response._get_param(group) or {}
                if key in request:
                    params.append({"type": param_type, "value": json.dumps(request[key])})
            moto_update["params"] = params
            cluster = response.eks_backend.clusters[response._get_param("name")]
            ext._clusters[cluster].updates[moto_update["id"]] = Update(
                moto_update["id"],
                moto_update["type"],
                moto_update["params"],
                _now(),
                nodegroup=response._get_param("nodegroupName"),
            )
            return result

        patches = (
            create_cluster,
            describe_cluster,
            delete_cluster,
            create_nodegroup,
            delete_nodegroup,
            update_nodegroup_config,
        )
        for patched in patches:
            setattr(EKSResponse, patched.__name__, patched)

    def _show_api_server(self, cluster: Cluster) -> None:
        """Point the cluster at the test's API server, if one is configured for it (``ApiServer``).

        The CA file is read on every call, so data written after the emulator started shows in the next
        DescribeCluster; while the file is missing, the cluster keeps the CA data it had (moto's random string).
        """
        endpoint = self.api_server.endpoint
        if endpoint is None or not self.api_server.serves(cluster.name):
            return
        cluster.endpoint = endpoint
        data = self.api_server.ca_data()
        if data is not None:
            cluster.certificate_authority = {"data": data}

    def _on_cluster_created(
        self,
        response: EKSResponse,
        cluster: Cluster,
        vpc_config: dict[str, Any],
        enabled_logs: set[str],
        access_request: Mapping[str, Any],
        mode: str,
    ) -> None:
        account, region = response.current_account, response.region
        # Real EKS uses one ID for the OIDC issuer and the API endpoint host.
        oidc_id = secrets.token_hex(16).upper()
        cluster.identity = {"oidc": {"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc_id}"}}
        cluster.endpoint = f"https://{oidc_id}.gr7.{region}.eks.amazonaws.com"

        security_group = ec2_backends[account][region].create_security_group(
            name=f"eks-cluster-sg-{cluster.name}-{secrets.randbelow(10**10):010d}",
            description="EKS created security group applied to ENI that is attached to EKS Control Plane master nodes,"
            " as well as any managed workloads.",
            vpc_id=vpc_config["vpcId"],
            tags={"aws:eks:cluster-name": cluster.name, f"kubernetes.io/cluster/{cluster.name}": "owned"},
        )
        cluster.resources_vpc_config = {**vpc_config, "clusterSecurityGroupId": security_group.id}
        bootstrap = access_request.get("bootstrapClusterCreatorAdminPermissions", True)
        # moto's Cluster has no such field; its serializer emits the attribute as accessConfig.
        cluster.access_config = {  # type: ignore[attr-defined]
            "bootstrapClusterCreatorAdminPermissions": bootstrap,
            "authenticationMode": mode,
        }
        cluster.logging = _logging(enabled_logs)
        if enabled_logs:
            _ensure_log_group(account, region, cluster.name)

        life = Lifecycle.begin(cluster, self.timing.cluster_create, cluster.tags, "FAILED")
        ext = self._clusters[cluster] = ClusterExt(life=life, security_group_id=security_group.id)
        if bootstrap and mode != "CONFIG_MAP":
            call = Call(account, region, {"name": cluster.name}, {}, {})
            creator = _caller_principal(account, call.partition, response.access_key)
            entry = self._new_access_entry(call, cluster.name, creator, "STANDARD", [], None, {})
            admin = access_policy_arn(call.partition, "AmazonEKSClusterAdminPolicy")
            entry.policies[admin] = AssociatedPolicy(
                admin, {"type": "cluster", "namespaces": []}, entry.created_at, entry.created_at
            )
            ext.access_entries[creator] = entry

    # Cluster updates -------------------------------------------------------------------------

    def update_cluster_config(self, call: Call) -> dict[str, Any]:
        """Logging, endpoint access or upgrade policy; moto would replace resourcesVpcConfig wholesale and answer {}."""
        cluster, ext = self._active_cluster(call)
        kinds_served = ("resourcesVpcConfig", "logging", "upgradePolicy")
        unsupported = set(call.body) - {*kinds_served, "clientRequestToken"}
        if unsupported:
            raise InvalidParameterException(message=f"The emulator cannot update {sorted(unsupported)}")
        kinds = [kind for kind in kinds_served if kind in call.body]
        if len(kinds) != 1:
            raise InvalidParameterException(message="Only one type of update can be allowed.")
        if kinds == ["logging"]:
            current = _enabled_log_types(set(), cluster.logging)
            enabled = _enabled_log_types(current, call.body["logging"])
            if enabled == current:
                raise InvalidParameterException(message="No changes needed for the logging config provided")
            cluster.logging = _logging(enabled)
            if enabled:
                _ensure_log_group(call.account, call.region, cluster.name)
            update = Update.accepted(
                "LoggingUpdate", [{"type": "ClusterLogging", "value": json.dumps(cluster.logging)}]
            )
        elif kinds == ["upgradePolicy"]:
            # UpdateType UpgradePolicyUpdate with an UpgradePolicy param (botocore's EKS model enums).
            current = cluster.upgrade_policy["supportType"]  # type: ignore[attr-defined]
            policy = _upgrade_policy(call.body["upgradePolicy"], current)
            cluster.upgrade_policy = policy  # type: ignore[attr-defined]
            update = Update.accepted("UpgradePolicyUpdate", [{"type": "UpgradePolicy", "value": policy["supportType"]}])
        else:
            request = call.body["resourcesVpcConfig"]
            if set(request) - set(ENDPOINT_FIELDS):
                raise InvalidParameterException(
                    message="The emulator can only update endpoint access in resourcesVpcConfig"
                )
            vpc = cluster.resources_vpc_config
            changed = {key: value for key, value in request.items() if value != vpc[key]}
            if not changed:
                raise InvalidParameterException(
                    message="Cluster is already at the desired configuration with "
                    f"endpointPrivateAccess: {vpc['endpointPrivateAccess']}, "
                    f"endpointPublicAccess: {vpc['endpointPublicAccess']}, "
                    f"and Public Endpoint Restrictions: {vpc['publicAccessCidrs']}"
                )
            _check_endpoint_access({**vpc, **changed})
            vpc.update(changed)
            params = [{"type": ENDPOINT_FIELDS[key], "value": json.dumps(value)} for key, value in changed.items()]
            update = Update.accepted("EndpointAccessUpdate", params)
        ext.updates[update.id] = update
        return {"update": update.to_json("InProgress")}

    def update_cluster_version(self, call: Call) -> dict[str, Any]:
        cluster, ext = self._active_cluster(call)
        version = call.required("version")
        if kubernetes_minor(version) != kubernetes_minor(cluster.version) + 1:
            raise InvalidParameterException(
                message=f"Unsupported Kubernetes minor version update from {cluster.version} to {version}"
            )
        cluster.version = version
        update = Update.accepted("VersionUpdate", [{"type": "Version", "value": version}])
        ext.updates[update.id] = update
        return {"update": update.to_json("InProgress")}

    def describe_update(self, call: Call) -> dict[str, Any]:
        _, ext = self._cluster(call)
        update = ext.updates.get(call.params["updateId"])
        if update is None or (update.nodegroup, update.addon) != (
            call.query_value("nodegroupName"),
            call.query_value("addonName"),
        ):
            raise ResourceNotFoundException(message=f"No update found for ID: {call.params['updateId']}.")
        return {"update": update.to_json(update.status)}

    # Node group updates ----------------------------------------------------------------------

    def update_nodegroup_version(self, call: Call) -> dict[str, Any]:
        """A rolling update to a Kubernetes version and AMI release: UPDATING for the node group create time."""
        cluster, ext = self._active_cluster(call)
        name = call.params["nodegroupName"]
        nodegroup: Nodegroup | None = cluster.nodegroups.get(name)
        if nodegroup is None:
            raise ResourceNotFoundException(message=NODEGROUP_NOT_FOUND_MSG.format(nodegroupName=name))
        if nodegroup.status != "ACTIVE":
            raise ResourceInUseException(
                message=f"Nodegroup {name} cannot be updated as it is currently in {nodegroup.status} status"
            )
        requested = call.body.get("version")
        version = cluster.version if requested is None else requested
        minor = kubernetes_minor(version)
        if minor > kubernetes_minor(cluster.version):
            raise InvalidParameterException(
                message=f"Requested Kubernetes version {version} is newer than the cluster version {cluster.version}"
            )
        if minor < kubernetes_minor(nodegroup.version):
            raise InvalidParameterException(
                message=f"Requested Kubernetes version {version} is older than the node group version "
                f"{nodegroup.version}: a node group cannot be rolled back"
            )
        params = [{"type": "Version", "value": version}]
        release_version = call.body.get("releaseVersion")
        if release_version is not None:
            requested_key = _release_key(release_version)
            latest_key = _release_key(latest_release_version(version))
            if requested_key is None or requested_key[0] != minor or (latest_key and requested_key > latest_key):
                raise InvalidParameterException(
                    message=f"Requested release version {release_version} is not valid for Kubernetes version {version}"
                )
            current_key = _release_key(nodegroup.release_version)
            if current_key is not None and requested_key < current_key:
                raise InvalidParameterException(
                    message=f"Requested release version {release_version} is older than the node group release "
                    f"version {nodegroup.release_version}: a node group cannot be rolled back"
                )
            params.append({"type": "ReleaseVersion", "value": release_version})
        changes: dict[str, Any] = {
            "version": version,
            "release_version": release_version or latest_release_version(version),
        }
        template_request = call.body.get("launchTemplate")
        if template_request is not None:
            template = nodegroup.launch_template
            if not template:
                raise InvalidParameterException(
                    message="A launch template can only be specified for a node group created with a launch template"
                )
            identifiers = [key for key in ("id", "name") if key in template_request]
            if not identifiers or any(template_request[key] != template.get(key) for key in identifiers):
                raise InvalidParameterException(
                    message="The launch template must be the one the node group was created with (same id or name)"
                )
            if "name" in template:
                params.append({"type": "LaunchTemplateName", "value": template["name"]})
            if "version" in template_request:
                params.append({"type": "LaunchTemplateVersion", "value": template_request["version"]})
                changes["launch_template"] = {**template, "version": template_request["version"]}
        # force (drain past Pod disruption budgets) and clientRequestToken are accepted; nothing drains here.
        nodegroup.modified_at = utcnow()
        update = Update.accepted("VersionUpdate", params, nodegroup=name)
        update.done_at = ext.nodegroup_lives[name].update(nodegroup, self.timing.nodegroup_create, changes)
        ext.updates[update.id] = update
        return {"update": update.to_json("InProgress")}

    # Add-ons ---------------------------------------------------------------------------------

    def describe_addon_versions(self, call: Call) -> dict[str, Any]:
        kubernetes_version = call.query_value("kubernetesVersion")
        minors = [kubernetes_minor(kubernetes_version)] if kubernetes_version else list(range(31, 38))
        wanted = call.query_value("addonName")
        addons = []
        for name, spec in ADDON_CATALOG.items():
            versions = []
            for release in spec.releases:
                compatibilities = [
                    {
                        "clusterVersion": f"1.{minor}",
                        "platformVersions": ["*"],
                        "defaultVersion": spec.compatible(minor)[0] is release,
                    }
                    for minor in minors
                    if release.supports(minor)
                ]
                if compatibilities:
                    versions.append(
                        {
                            "addonVersion": release.version,
                            "architecture": ["amd64", "arm64"],
                            "compatibilities": compatibilities,
                            "requiresConfiguration": False,
                        }
                    )
            if versions and wanted in (None, name):
                addons.append(
                    {
                        "addonName": name,
                        "type": spec.type,
                        "addonVersions": versions,
                        "publisher": "eks",
                        "owner": "aws",
                    }
                )
        page, token = call.page(addons)
        return {"addons": page, **token}

    def _addon(self, call: Call) -> tuple[Cluster, ClusterExt, Addon]:
        cluster, ext = self._cluster(call)
        addon = ext.addons.get(call.params["addonName"])
        if addon is None:
            raise ResourceNotFoundException(
                message=f"No addon: {call.params['addonName']} found in cluster: {cluster.name}"
            )
        return cluster, ext, addon

    def _addon_json(self, cluster: Cluster, ext: ClusterExt, addon: Addon) -> dict[str, Any]:
        optional = {
            "serviceAccountRoleArn": addon.service_account_role_arn,
            "configurationValues": addon.configuration_values,
        }
        return {
            "addonName": addon.name,
            "clusterName": cluster.name,
            "status": addon.status,
            "addonVersion": addon.version,
            "health": addon.health,
            "addonArn": addon.arn,
            "createdAt": addon.created_at,
            "modifiedAt": addon.modified_at,
            "tags": addon.tags,
            "publisher": "eks",
            "owner": "aws",
            "podIdentityAssociations": [a.arn for a in ext.associations.values() if a.owner_arn == addon.arn],
            **{key: value for key, value in optional.items() if value is not None},
        }

    def _replace_addon_associations(
        self, call: Call, ext: ClusterExt, addon: Addon, requested: list[dict[str, str]]
    ) -> None:
        """Make the add-on's own Pod Identity associations exactly `requested`."""
        namespace = ADDON_CATALOG[addon.name].namespace
        taken = {
            a.service_account
            for a in ext.associations.values()
            if a.namespace == namespace and a.owner_arn != addon.arn
        }
        for request in requested:
            validate_role_arn(request.get("roleArn", ""))
            if request.get("serviceAccount") in taken:
                raise ResourceInUseException(
                    message=f"Association already exists for {namespace}/{request['serviceAccount']}"
                )
        ext.drop_associations_of(addon)
        for request in requested:
            association = self._new_association(call, namespace, request["serviceAccount"], request["roleArn"], {})
            association.owner_arn = addon.arn
            ext.associations[association.id] = association

    def create_addon(self, call: Call) -> dict[str, Any]:
        cluster, ext = self._active_cluster(call)
        name = call.required("addonName")
        if name in ext.addons:
            raise ResourceInUseException(message=f"Addon already exists with name: {name}")
        release = _addon_release(name, call.body.get("addonVersion"), cluster.version)
        role_arn = call.body.get("serviceAccountRoleArn")
        if role_arn is not None:
            validate_role_arn(role_arn)
        now = _now()
        addon = Addon(
            name=name,
            arn=call.arn(f"addon/{cluster.name}/{name}/{uuid.uuid4()}"),
            version=release.version,
            tags=call.body.get("tags") or {},
            service_account_role_arn=role_arn,
            configuration_values=call.body.get("configurationValues"),
            created_at=now,
            modified_at=now,
        )
        self._replace_addon_associations(call, ext, addon, call.body.get("podIdentityAssociations") or [])
        addon.life = Lifecycle.begin(addon, self.timing.addon_create, addon.tags, "CREATE_FAILED")
        ext.addons[name] = addon
        return {"addon": self._addon_json(cluster, ext, addon)}

    def describe_addon(self, call: Call) -> dict[str, Any]:
        cluster, ext, addon = self._addon(call)
        return {"addon": self._addon_json(cluster, ext, addon)}

    def list_addons(self, call: Call) -> dict[str, Any]:
        _, ext = self._cluster(call)
        page, token = call.page(sorted(ext.addons))
        return {"addons": page, **token}

    def update_addon(self, call: Call) -> dict[str, Any]:
        cluster, ext = self._active_cluster(call)
        _, _, addon = self._addon(call)
        params = []
        if "addonVersion" in call.body:
            addon.version = _addon_release(addon.name, call.body["addonVersion"], cluster.version).version
            params.append({"type": "AddonVersion", "value": addon.version})
        if "serviceAccountRoleArn" in call.body:
            validate_role_arn(call.body["serviceAccountRoleArn"])
            addon.service_account_role_arn = call.body["serviceAccountRoleArn"]
            params.append({"type": "ServiceAccountRoleArn", "value": addon.service_account_role_arn})
        if "resolveConflicts" in call.body:
            params.append({"type": "ResolveConflicts", "value": call.body["resolveConflicts"]})
        if "configurationValues" in call.body:
            addon.configuration_values = call.body["configurationValues"]
            params.append({"type": "ConfigurationValues", "value": addon.configuration_values})
        if "podIdentityAssociations" in call.body:
            self._replace_addon_associations(call, ext, addon, call.body["podIdentityAssociations"])
            params.append(
                {"type": "PodIdentityAssociations", "value": json.dumps(call.body["podIdentityAssociations"])}
            )
        addon.modified_at = _now()
        update = Update.accepted("AddonUpdate", params, addon=addon.name)
        ext.updates[update.id] = update
        return {"update": update.to_json("InProgress")}

    def delete_addon(self, call: Call) -> dict[str, Any]:
        cluster, ext, addon = self._addon(call)
        # preserve is a query parameter (DeleteAddonRequest, location querystring); nothing runs here to keep.
        addon.preserve = call.query_value("preserve") == "true"
        addon.life.end(addon, self.timing.delete)
        return {"addon": self._addon_json(cluster, ext, addon)}

    # Access entries --------------------------------------------------------------------------

    def _new_access_entry(
        self,
        call: Call,
        cluster_name: str,
        principal_arn: str,
        entry_type: str,
        groups: list[str],
        username: str | None,
        tags: dict[str, str],
    ) -> AccessEntry:
        principal = IAM_PRINCIPAL.fullmatch(principal_arn)
        if principal is None:
            raise InvalidParameterException(message=f"The specified principalArn is invalid: {principal_arn}")
        if entry_type != "STANDARD" and (entry_type not in NODE_ENTRY_USERNAMES or principal["kind"] != "role"):
            raise InvalidParameterException(message=f"Access entry type {entry_type} is not valid for {principal_arn}")
        if username is None:
            if entry_type in NODE_ENTRY_USERNAMES:
                username = NODE_ENTRY_USERNAMES[entry_type]
            elif principal["kind"] == "role":
                role_session = f"assumed-role/{principal['name']}/{{{{SessionName}}}}"
                username = f"arn:{principal['partition']}:sts::{principal['account']}:{role_session}"
            else:
                username = principal_arn
        now = _now()
        return AccessEntry(
            principal_arn=principal_arn,
            arn=call.arn(
                f"access-entry/{cluster_name}/{principal['kind']}/{principal['account']}/{principal['name']}/{uuid.uuid4()}"
            ),
            type=entry_type,
            username=username,
            kubernetes_groups=groups,
            tags=tags,
            created_at=now,
            modified_at=now,
        )

    def _access_entry(self, call: Call) -> tuple[Cluster, ClusterExt, AccessEntry]:
        cluster, ext = self._cluster(call)
        entry = ext.access_entries.get(call.params["principalArn"])
        if entry is None:
            raise ResourceNotFoundException(
                message=f"The specified access entry resource {call.params['principalArn']} could not be found."
            )
        return cluster, ext, entry

    @staticmethod
    def _access_entry_json(cluster: Cluster, entry: AccessEntry) -> dict[str, Any]:
        return {
            "accessEntry": {
                "clusterName": cluster.name,
                "principalArn": entry.principal_arn,
                "kubernetesGroups": entry.kubernetes_groups,
                "accessEntryArn": entry.arn,
                "createdAt": entry.created_at,
                "modifiedAt": entry.modified_at,
                "tags": entry.tags,
                "username": entry.username,
                "type": entry.type,
            }
        }

    def create_access_entry(self, call: Call) -> dict[str, Any]:
        cluster, ext = self._active_cluster(call)
        if cluster.access_config["authenticationMode"] == "CONFIG_MAP":  # type: ignore[attr-defined]
            raise InvalidRequestException(
                message="The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP]"
                " to perform this operation."
            )
        principal_arn = call.required("principalArn")
        if principal_arn in ext.access_entries:
            raise ResourceInUseException(
                message="The specified access entry resource is already in use on this cluster."
            )
        entry = self._new_access_entry(
            call,
            cluster.name,
            principal_arn,
            call.body.get("type") or "STANDARD",
            call.body.get("kubernetesGroups") or [],
            call.body.get("username"),
            call.body.get("tags") or {},
        )
        ext.access_entries[principal_arn] = entry
        return self._access_entry_json(cluster, entry)

    def describe_access_entry(self, call: Call) -> dict[str, Any]:
        cluster, _, entry = self._access_entry(call)
        return self._access_entry_json(cluster, entry)

    def list_access_entries(self, call: Call) -> dict[str, Any]:
        _, ext = self._cluster(call)
        policy_arn = call.query_value("associatedPolicyArn")
        principals = sorted(
            arn for arn, entry in ext.access_entries.items() if policy_arn is None or policy_arn in entry.policies
        )
        page, token = call.page(principals)
        return {"accessEntries": page, **token}

    def update_access_entry(self, call: Call) -> dict[str, Any]:
        self._active_cluster(call)
        cluster, _, entry = self._access_entry(call)
        if "kubernetesGroups" in call.body:
            entry.kubernetes_groups = call.body["kubernetesGroups"]
        if "username" in call.body:
            entry.username = call.body["username"]
        entry.modified_at = _now()
        return self._access_entry_json(cluster, entry)

    def delete_access_entry(self, call: Call) -> dict[str, Any]:
        _, ext, entry = self._access_entry(call)
        del ext.access_entries[entry.principal_arn]
        return {}

    def associate_access_policy(self, call: Call) -> dict[str, Any]:
        self._active_cluster(call)
        cluster, _, entry = self._access_entry(call)
        policy_arn = call.required("policyArn")
        if policy_arn not in {access_policy_arn(call.partition, name) for name in ACCESS_POLICY_NAMES}:
            raise InvalidParameterException(message=f"The policyArn {policy_arn} is not a valid access policy")
        scope = call.required("accessScope")
        namespaces = scope.get("namespaces") or []
        if scope.get("type") not in ("cluster", "namespace") or (scope["type"] == "namespace") != bool(namespaces):
            raise InvalidParameterException(
                message="accessScope must be type cluster without namespaces, or type namespace with namespaces"
            )
        scope = {"type": scope["type"], "namespaces": namespaces}
        now = _now()
        existing = entry.policies.get(policy_arn)
        entry.policies[policy_arn] = AssociatedPolicy(
            policy_arn, scope, existing.associated_at if existing else now, now
        )
        return {
            "clusterName": cluster.name,
            "principalArn": entry.principal_arn,
            "associatedAccessPolicy": entry.policies[policy_arn].to_json(),
        }

    def list_associated_access_policies(self, call: Call) -> dict[str, Any]:
        cluster, _, entry = self._access_entry(call)
        page, token = call.page([policy.to_json() for _, policy in sorted(entry.policies.items())])
        return {
            "clusterName": cluster.name,
            "principalArn": entry.principal_arn,
            "associatedAccessPolicies": page,
            **token,
        }

    def disassociate_access_policy(self, call: Call) -> dict[str, Any]:
        _, _, entry = self._access_entry(call)
        if entry.policies.pop(call.params["policyArn"], None) is None:
            raise ResourceNotFoundException(
                message=f"The policy {call.params['policyArn']} is not associated with {entry.principal_arn}."
            )
        return {}

    def list_access_policies(self, call: Call) -> dict[str, Any]:
        policies = [{"name": name, "arn": access_policy_arn(call.partition, name)} for name in ACCESS_POLICY_NAMES]
        page, token = call.page(policies)
        return {"accessPolicies": page, **token}

    # Pod Identity associations ---------------------------------------------------------------

    @staticmethod
    def _new_association(
        call: Call, namespace: str, service_account: str, role_arn: str, tags: dict[str, str]
    ) -> PodIdentityAssociation:
        association_id = "a-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(17))
        now = _now()
        return PodIdentityAssociation(
            id=association_id,
            arn=call.arn(f"podidentityassociation/{call.params['name']}/{association_id}"),
            namespace=namespace,
            service_account=service_account,
            role_arn=role_arn,
            tags=tags,
            created_at=now,
            modified_at=now,
        )

    def _association(self, call: Call) -> tuple[Cluster, ClusterExt, PodIdentityAssociation]:
        cluster, ext = self._cluster(call)
        association = ext.associations.get(call.params["associationId"])
        if association is None:
            raise ResourceNotFoundException(
                message=f"Pod Identity association {call.params['associationId']} not found"
            )
        return cluster, ext, association

    @staticmethod
    def _association_summary(cluster: Cluster, association: PodIdentityAssociation) -> dict[str, Any]:
        summary = {
            "clusterName": cluster.name,
            "namespace": association.namespace,
            "serviceAccount": association.service_account,
            "associationArn": association.arn,
            "associationId": association.id,
        }
        return summary | ({"ownerArn": association.owner_arn} if association.owner_arn else {})

    def _association_json(self, cluster: Cluster, association: PodIdentityAssociation) -> dict[str, Any]:
        return {
            "association": self._association_summary(cluster, association)
            | {
                "roleArn": association.role_arn,
                "tags": association.tags,
                "createdAt": association.created_at,
                "modifiedAt": association.modified_at,
            }
        }

    def create_pod_identity_association(self, call: Call) -> dict[str, Any]:
        cluster, ext = self._active_cluster(call)
        namespace, service_account = call.required("namespace"), call.required("serviceAccount")
        validate_role_arn(call.required("roleArn"))
        if any((a.namespace, a.service_account) == (namespace, service_account) for a in ext.associations.values()):
            raise ResourceInUseException(message=f"Association already exists for {namespace}/{service_account}")
        association = self._new_association(
            call, namespace, service_account, call.body["roleArn"], call.body.get("tags") or {}
        )
        ext.associations[association.id] = association
        return self._association_json(cluster, association)

    def describe_pod_identity_association(self, call: Call) -> dict[str, Any]:
        cluster, _, association = self._association(call)
        return self._association_json(cluster, association)

    def list_pod_identity_associations(self, call: Call) -> dict[str, Any]:
        cluster, ext = self._cluster(call)
        filters = {"namespace": call.query_value("namespace"), "service_account": call.query_value("serviceAccount")}
        matching = [
            self._association_summary(cluster, association)
            for association in sorted(ext.associations.values(), key=lambda a: (a.namespace, a.service_account))
            if all(wanted is None or getattr(association, key) == wanted for key, wanted in filters.items())
        ]
        page, token = call.page(matching)
        return {"associations": page, **token}

    def update_pod_identity_association(self, call: Call) -> dict[str, Any]:
        self._active_cluster(call)
        cluster, _, association = self._association(call)
        if "roleArn" in call.body:
            validate_role_arn(call.body["roleArn"])
            association.role_arn = call.body["roleArn"]
        association.modified_at = _now()
        return self._association_json(cluster, association)

    def delete_pod_identity_association(self, call: Call) -> dict[str, Any]:
        cluster, ext, association = self._association(call)
        del ext.associations[association.id]
        return self._association_json(cluster, association)

    # Tags on add-ons, access entries, Pod Identity associations and node groups ---------------

    def _tags_of(self, call: Call) -> dict[str, str]:
        """The live tag map of the resource named by the ARN in the path."""
        arn = call.params["resourceArn"]
        for cluster in eks_backends[call.account][call.region].clusters.values():
            ext = self._clusters[cluster]
            resources: list[Any] = [
                *cluster.nodegroups.values(),
                *ext.addons.values(),
                *ext.access_entries.values(),
                *ext.associations.values(),
            ]
            for resource in resources:
                if resource.arn == arn:
                    return resource.tags
        raise NotFoundException(message=f"Resource {arn} not found")

    def tag_resource(self, call: Call) -> dict[str, Any]:
        self._tags_of(call).update(call.required("tags"))
        return {}

    def untag_resource(self, call: Call) -> dict[str, Any]:
        tags = self._tags_of(call)
        for key in call.query.get("tagKeys", []):
            tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, call: Call) -> dict[str, Any]:
        return {"tags": self._tags_of(call)}
