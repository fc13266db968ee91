"""The controllers that own AWS load balancers: the cloud provider's service controller and the AWS Load Balancer
Controller (LBC), for Services of type LoadBalancer and ALB Ingresses.

fakekube creates no load balancers (tests create them in the AWS emulator, tagged as these controllers tag
them); it keeps the controllers' finalizers and, with --aws-endpoint, deletes the load balancers when their
owner is deleted, `--ready-after` later, and only then lets the owner go. Without --aws-endpoint (or while the
emulator fails) the finalizers stay, as on a cluster whose controllers can no longer reach AWS.

Service controller (k8s.io/cloud-provider controllers/service/controller.go, run on EKS by the AWS cloud
controller manager, kubernetes/cloud-provider-aws pkg/providers/v1/aws.go):
- `wantsLoadBalancer`: `type: LoadBalancer` and no `spec.loadBalancerClass`. Such a Service gets
  `service.kubernetes.io/load-balancer-cleanup` (servicehelper.LoadBalancerCleanupFinalizer) before its load
  balancer is made, even when the AWS provider then leaves it to the LBC (`ImplementedElsewhere`).
- `needsCleanup`: the finalizer is there and the Service is being deleted or no longer of type LoadBalancer.
  `EnsureLoadBalancerDeleted` does nothing for `service.beta.kubernetes.io/aws-load-balancer-type: external`
  or `nlb-ip` (isLBExternal), deletes the ELBv2 load balancer (and its target groups) for `nlb`, else the
  classic ELB. The real provider finds it by name only (`cloudprovider.DefaultLoadBalancerName`: "a" + the
  Service UID without dashes, 32 characters at most); fakekube also takes a load balancer tagged as the
  provider tags it: `kubernetes.io/service-name=<namespace>/<name>` plus the `kubernetes.io/cluster/<cluster>`
  key (tags.go, TagNameKubernetesService, TagNameKubernetesClusterPrefix). Then the finalizer goes.

AWS Load Balancer Controller (kubernetes-sigs/aws-load-balancer-controller):
- Services (pkg/service/service_utils.go IsServiceSupported): `spec.loadBalancerClass: service.k8s.aws/nlb`,
  or no class and the type annotation `nlb-ip`, or `external` with
  `service.beta.kubernetes.io/aws-load-balancer-nlb-target-type` `ip` or `instance`. Finalizer
  `service.k8s.aws/resources` (shared_constants.ServiceFinalizer).
- Ingresses (pkg/ingress/group_loader.go classifyIngress, class_loader.go): the `kubernetes.io/ingress.class`
  annotation, when present, decides alone (it must be `alb`, the controller's default --ingress-class);
  otherwise `spec.ingressClassName` must name an IngressClass whose `spec.controller` is
  `ingress.k8s.aws/alb` (an unknown class is not the LBC's); an Ingress with neither is not managed
  (--manage-ingresses-without-ingress-class defaults to false). Finalizer (pkg/ingress/finalizer.go):
  `ingress.k8s.aws/resources` for an Ingress of its own, `group.ingress.k8s.aws/<group>` with the annotation
  `alb.ingress.kubernetes.io/group.name`. A deleted member of a group that still has other members only loses
  its finalizer; the last one takes the load balancer with it.
- What it deletes (pkg/deploy/tracking/provider.go): the ELBv2 load balancers and target groups tagged
  `elbv2.k8s.aws/cluster=<cluster>` and `service.k8s.aws/stack=<namespace>/<name>` (Services) or
  `ingress.k8s.aws/stack=<namespace>/<name>` (an Ingress of its own) / `=<group>` (explicit group).

Status (computed on read): such Services and Ingresses report `status.loadBalancer.ingress[0].hostname`
(shaped like the real DNS names) `--ready-after` after their last spec change; others `loadBalancer: {}`.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

import catalog
import errors
from awscloud import AwsCloud, Balancer, CloudError
from registry import INGRESS_CLASS_ANNOTATION, Registry
from status import World
from store import Key, Record

SERVICE_LB_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
LBC_SERVICE_FINALIZER = "service.k8s.aws/resources"
LBC_INGRESS_FINALIZER = "ingress.k8s.aws/resources"
LBC_GROUP_FINALIZER_PREFIX = "group.ingress.k8s.aws/"
LBC_NLB_CLASS = "service.k8s.aws/nlb"
ALB_CONTROLLER = "ingress.k8s.aws/alb"
ALB_INGRESS_CLASS = "alb"
TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"
NLB_TARGET_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
GROUP_ANNOTATION = "alb.ingress.kubernetes.io/group.name"
SERVICE_NAME_TAG = "kubernetes.io/service-name"
CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
LBC_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
LBC_SERVICE_STACK_TAG = "service.k8s.aws/stack"
LBC_INGRESS_STACK_TAG = "ingress.k8s.aws/stack"
# Field managers of the finalizer writes (assumed names: the real ones depend on how the binaries are built).
CLOUD_CONTROLLER_MANAGER = "cloud-controller-manager"
LOAD_BALANCER_CONTROLLER = "aws-load-balancer-controller"
RETRY_AT = "cloudRetryAt"  # record memory: when a controller whose AWS call failed tries again (wall clock)
_GROUP_NAME = re.compile(r"^([a-z0-9][-a-z0-9.]*)?[a-z0-9]$")  # group_loader.go validateGroupName

FINALIZERS = (SERVICE_LB_FINALIZER, LBC_SERVICE_FINALIZER, LBC_INGRESS_FINALIZER)


def handles_finalizer(finalizer: str) -> bool:
    return finalizer in FINALIZERS or finalizer.startswith(LBC_GROUP_FINALIZER_PREFIX)


# --- who handles what --------------------------------------------------------------------------------------

def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def is_load_balancer(service: dict[str, Any]) -> bool:
    return _spec(service).get("type") == "LoadBalancer"


def wants_cloud_load_balancer(service: dict[str, Any]) -> bool:
    """The service controller's wantsLoadBalancer."""
    return is_load_balancer(service) and not _spec(service).get("loadBalancerClass")


def external_load_balancer(service: dict[str, Any]) -> bool:
    """cloud-provider-aws isLBExternal: left to the AWS Load Balancer Controller."""
    return _annotations(service).get(TYPE_ANNOTATION) in ("external", "nlb-ip")


def in_tree_nlb(service: dict[str, Any]) -> bool:
    return _annotations(service).get(TYPE_ANNOTATION) == "nlb"


def lbc_service(service: dict[str, Any]) -> bool:
    """The LBC's IsServiceSupported (ServiceTypeLoadBalancerOnly off, its default)."""
    load_balancer_class = _spec(service).get("loadBalancerClass")
    if load_balancer_class:
        return bool(load_balancer_class == LBC_NLB_CLASS)
    annotations = _annotations(service)
    kind = annotations.get(TYPE_ANNOTATION)
    return kind == "nlb-ip" or (kind == "external"
                                and annotations.get(NLB_TARGET_TYPE_ANNOTATION) in ("ip", "instance"))


def default_load_balancer_name(uid: str) -> str:
    """cloudprovider.DefaultLoadBalancerName: what the AWS provider names (and finds) a Service's ELB by."""
    return ("a" + uid.replace("-", ""))[:32]


@dataclass(frozen=True)
class GroupId:
    """An LBC Ingress group: implicit (namespace and name of its one Ingress) or explicit (namespace "")."""

    namespace: str
    name: str

    @property
    def explicit(self) -> bool:
        return self.namespace == ""

    @property
    def stack(self) -> str:
        return self.name if self.explicit else f"{self.namespace}/{self.name}"

    @property
    def finalizer(self) -> str:
        return LBC_GROUP_FINALIZER_PREFIX + self.name if self.explicit else LBC_INGRESS_FINALIZER


def _alb_class(registry: Registry, ingress: dict[str, Any]) -> bool:
    annotations = _annotations(ingress)
    if INGRESS_CLASS_ANNOTATION in annotations:  # takes priority over ingressClassName
        return annotations[INGRESS_CLASS_ANNOTATION] == ALB_INGRESS_CLASS
    class_name = _spec(ingress).get("ingressClassName")
    if not class_name:
        return False
    ingress_class = registry.store.get(registry.key(catalog.INGRESSCLASSES, "", str(class_name)))
    return ingress_class is not None and _spec(ingress_class.obj).get("controller") == ALB_CONTROLLER


def ingress_group(registry: Registry, ingress: dict[str, Any], deleting: bool = False) -> GroupId | None:
    """The LBC group an Ingress belongs to (loadGroupIDIfAnyHelper); None when the LBC does not manage it, or
    when it is being deleted (then it belongs to no group)."""
    if deleting or not _alb_class(registry, ingress):
        return None
    metadata = ingress.get("metadata") or {}
    group = _annotations(ingress).get(GROUP_ANNOTATION)
    if group is not None:
        return GroupId("", group) if _GROUP_NAME.match(group) and len(group) <= 63 else None
    return GroupId(str(metadata.get("namespace", "")), str(metadata.get("name", "")))


def _finalizer_groups(ingress: Record) -> list[tuple[str, GroupId]]:
    """LoadGroupIDsPendingFinalization: the groups an Ingress's finalizers name."""
    groups = []
    for finalizer in ingress.metadata.get("finalizers") or []:
        if finalizer == LBC_INGRESS_FINALIZER:
            groups.append((finalizer, GroupId(ingress.metadata["namespace"], ingress.metadata["name"])))
        elif finalizer.startswith(LBC_GROUP_FINALIZER_PREFIX):
            groups.append((finalizer, GroupId("", finalizer[len(LBC_GROUP_FINALIZER_PREFIX):])))
    return groups


# --- the controllers ---------------------------------------------------------------------------------------

def run(registry: Registry, at: float) -> bool:
    """One pass of the service controller and the LBC; True when anything was written."""
    changed = _claim(registry)
    if registry.cloud.aws is not None:
        changed |= _clean_up_services(registry, registry.cloud.aws, at)
        changed |= _clean_up_ingresses(registry, registry.cloud.aws, at)
    return changed


def _add(registry: Registry, key: Key, finalizer: str, manager: str) -> bool:
    try:
        registry.add_finalizer(key, finalizer, manager)
    except errors.ApiError:
        return False  # like a controller whose update is refused: it tries again on the next pass
    return True


def _claim(registry: Registry) -> bool:
    """Finalizers go on before any load balancer is made."""
    changed = False
    for key, record in registry.store.select("", "services"):
        finalizers = record.metadata.get("finalizers") or []
        if record.deleting_since is not None:
            continue
        if wants_cloud_load_balancer(record.obj) and SERVICE_LB_FINALIZER not in finalizers:
            changed |= _add(registry, key, SERVICE_LB_FINALIZER, CLOUD_CONTROLLER_MANAGER)
        current = registry.store.get(key)
        if current is not None and lbc_service(current.obj) \
                and LBC_SERVICE_FINALIZER not in (current.metadata.get("finalizers") or []):
            changed |= _add(registry, key, LBC_SERVICE_FINALIZER, LOAD_BALANCER_CONTROLLER)
    for key, record in registry.store.select(catalog.INGRESSES.group, catalog.INGRESSES.plural):
        group = ingress_group(registry, record.obj, record.deleting_since is not None)
        if group is not None and group.finalizer not in (record.metadata.get("finalizers") or []):
            changed |= _add(registry, key, group.finalizer, LOAD_BALANCER_CONTROLLER)
    return changed


def _due(registry: Registry, since: float, at: float, record: Record) -> bool:
    """The controller's work is due --ready-after after `since`, and not while it backs off after a failure."""
    return at - since >= registry.ready_after and time.time() >= record.memory.get(RETRY_AT, 0.0)


def _attempt(registry: Registry, record: Record, work: Callable[[], None]) -> bool:
    """Run the AWS side of a cleanup; on failure back off (the finalizer stays) and answer False."""
    try:
        work()
    except CloudError:
        record.memory[RETRY_AT] = time.time() + max(registry.ready_after, 1.0)
        return False
    record.memory.pop(RETRY_AT, None)
    return True


def _clean_up_services(registry: Registry, aws: AwsCloud, at: float) -> bool:
    changed = False
    cluster = registry.cloud.cluster
    for key, record in registry.store.select("", "services"):
        deleting = record.deleting_since is not None
        finalizers = record.metadata.get("finalizers") or []
        if SERVICE_LB_FINALIZER in finalizers and (deleting or not is_load_balancer(record.obj)):
            since = record.deleting_since if record.deleting_since is not None else record.changed_at
            if _due(registry, since, at, record) and _attempt(
                    registry, record, lambda: _delete_in_tree(aws, cluster, record)):
                registry.drop_finalizer(key, SERVICE_LB_FINALIZER)
                changed = True
        current = registry.store.get(key)
        if current is None or current.deleting_since is None \
                or LBC_SERVICE_FINALIZER not in (current.metadata.get("finalizers") or []):
            continue
        stack = f"{key[2]}/{key[3]}"
        if _due(registry, current.deleting_since, at, current) and _attempt(
                registry, current, lambda: _delete_stack(aws, cluster, LBC_SERVICE_STACK_TAG, stack)):
            registry.drop_finalizer(key, LBC_SERVICE_FINALIZER)
            changed = True
    return changed


def _delete_in_tree(aws: AwsCloud, cluster: str, service: Record) -> None:
    """cloud-provider-aws EnsureLoadBalancerDeleted (see the module notes for what counts as its own)."""
    if external_load_balancer(service.obj):
        return
    name = default_load_balancer_name(str(service.metadata.get("uid", "")))
    owner = f"{service.metadata['namespace']}/{service.metadata['name']}"

    def own(balancer: Balancer) -> bool:
        return balancer.name == name or (balancer.tags.get(SERVICE_NAME_TAG) == owner
                                         and CLUSTER_TAG_PREFIX + cluster in balancer.tags)

    if in_tree_nlb(service.obj):
        for balancer in [b for b in aws.v2_load_balancers() if own(b)]:
            target_groups = aws.target_groups_of(balancer)  # listed first, deleted after the load balancer
            aws.delete_load_balancer(balancer)
            for arn in target_groups:
                aws.delete_target_group(arn)
    else:
        for balancer in [b for b in aws.classic_load_balancers() if own(b)]:
            aws.delete_load_balancer(balancer)


def _delete_stack(aws: AwsCloud, cluster: str, stack_tag: str, stack: str) -> None:
    """The LBC deleting a stack: every ELBv2 load balancer, then target group, carrying its tracking tags."""
    def own(resource: Balancer) -> bool:
        return resource.tags.get(stack_tag) == stack and resource.tags.get(LBC_CLUSTER_TAG) == cluster

    for balancer in [b for b in aws.v2_load_balancers() if own(b)]:
        aws.delete_load_balancer(balancer)
    for target_group in [t for t in aws.v2_target_groups() if own(t)]:
        aws.delete_target_group(target_group.arn)


def _clean_up_ingresses(registry: Registry, aws: AwsCloud, at: float) -> bool:
    ingresses = registry.store.select(catalog.INGRESSES.group, catalog.INGRESSES.plural)
    pending: dict[GroupId, list[tuple[Key, str]]] = {}
    for key, record in ingresses:
        if record.deleting_since is None or not _due(registry, record.deleting_since, at, record):
            continue
        for finalizer, group in _finalizer_groups(record):
            pending.setdefault(group, []).append((key, finalizer))
    changed = False
    for group, members in pending.items():
        active = [k for k, r in ingresses if ingress_group(registry, r.obj, r.deleting_since is not None) == group]
        records = [registry.store.get(key) for key, _ in members]
        if not active:  # the group's last member: its load balancer goes
            first = next(r for r in records if r is not None)
            if not _attempt(registry, first,
                            lambda: _delete_stack(aws, registry.cloud.cluster, LBC_INGRESS_STACK_TAG, group.stack)):
                for record in records:
                    if record is not None:
                        record.memory[RETRY_AT] = first.memory[RETRY_AT]
                continue
        for key, finalizer in members:  # other members keep the load balancer; this one just leaves
            registry.drop_finalizer(key, finalizer)
            changed = True
    return changed


# --- status ------------------------------------------------------------------------------------------------

def _hex(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _digits(text: str, length: int) -> str:
    return str(int(hashlib.sha256(text.encode()).hexdigest(), 16))[:length]


def _lbc_name_part(text: str, length: int) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)[:length]


def service_hostname(registry: Registry, service: dict[str, Any]) -> str | None:
    """The DNS name the controller would write: `a<uid>-<n>.<region>.elb.amazonaws.com` for a classic ELB,
    `<name>-<hex>.elb.<region>.amazonaws.com` for an NLB; None when no controller provisions one."""
    if not is_load_balancer(service):
        return None
    metadata = service.get("metadata") or {}
    uid, region = str(metadata.get("uid", "")), registry.cloud.region
    if lbc_service(service):
        name = (f"k8s-{_lbc_name_part(str(metadata.get('namespace', '')), 8)}-"
                f"{_lbc_name_part(str(metadata.get('name', '')), 8)}-{_hex(uid, 10)}")
        return f"{name}-{_hex(uid + '/dns', 16)}.elb.{region}.amazonaws.com"
    if not wants_cloud_load_balancer(service) or external_load_balancer(service):
        return None
    name = default_load_balancer_name(uid)
    if in_tree_nlb(service):
        return f"{name}-{_hex(uid + '/dns', 16)}.elb.{region}.amazonaws.com"
    return f"{name}-{_digits(uid, 10)}.{region}.elb.amazonaws.com"


def ingress_hostname(registry: Registry, ingress: Record) -> str | None:
    group = ingress_group(registry, ingress.obj)
    if group is None:
        return None
    if group.explicit:
        name = f"k8s-{_lbc_name_part(group.name, 17)}-{_hex(group.stack, 10)}"
    else:
        name = f"k8s-{_lbc_name_part(group.namespace, 8)}-{_lbc_name_part(group.name, 8)}-{_hex(group.stack, 10)}"
    return f"{name}-{_digits(group.stack, 10)}.{registry.cloud.region}.elb.amazonaws.com"


def _load_balancer_status(hostname: str | None) -> dict[str, Any]:
    return {"loadBalancer": {"ingress": [{"hostname": hostname}]} if hostname else {}}


def service_status(record: Record, world: World) -> dict[str, Any]:
    ready = world.ready(record)
    return _load_balancer_status(service_hostname(world.registry, record.obj) if ready else None)


def ingress_status(record: Record, world: World) -> dict[str, Any]:
    ready = world.ready(record)
    return _load_balancer_status(ingress_hostname(world.registry, record) if ready else None)
