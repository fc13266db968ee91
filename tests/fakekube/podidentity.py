"""The EKS pod identity webhook: AWS credentials wiring added to a pod when it is created, never later.

IAM roles for service accounts (IRSA): a pod whose ServiceAccount carries `eks.amazonaws.com/role-arn` gets
AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE and AWS_STS_REGIONAL_ENDPOINTS=regional in every container and
init container, plus the projected token volume `aws-iam-token` mounted at
/var/run/secrets/eks.amazonaws.com/serviceaccount (aws/amazon-eks-pod-identity-webhook pkg/handler/
handler.go; variables a container already sets are left alone).

EKS Pod Identity: a pod whose (namespace, service account) has an association gets
AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials and
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, with the `eks-pod-identity-token` volume mounted at
/var/run/secrets/pods.eks.amazonaws.com/serviceaccount. Associations come from the test hook
`POST /_fake/pod-identity-associations` and, with --eks-endpoint, from EKS ListPodIdentityAssociations on the
AWS emulator, asked at each pod creation.

A changed annotation or association reaches only pods created afterwards: a Deployment must be restarted.
"""

from __future__ import annotations

import copy
import datetime
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import catalog
from registry import Registry

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
IRSA_TOKEN_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
IRSA_VOLUME = "aws-iam-token"
POD_IDENTITY_TOKEN_DIR = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
POD_IDENTITY_VOLUME = "eks-pod-identity-token"
POD_IDENTITY_URI = "http://169.254.170.23/v1/credentials"
EKS_TIMEOUT = 10.0


class AssociationError(ValueError):
    """A hook body that is not an association."""


@dataclass(frozen=True)
class Association:
    namespace: str
    service_account: str
    role_arn: str

    @classmethod
    def parse(cls, body: dict[str, Any]) -> Association:
        fields = [body.get(k) for k in ("namespace", "serviceAccount", "roleArn")]
        if not all(isinstance(f, str) and f for f in fields):
            raise AssociationError("namespace, serviceAccount and roleArn must be non-empty strings")
        return cls(*fields)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, str]:
        return {"namespace": self.namespace, "serviceAccount": self.service_account, "roleArn": self.role_arn}


class EksAssociations:
    """ListPodIdentityAssociations on an EKS endpoint (the emulator: a SigV4-shaped Authorization header is
    enough, since it reads the region from the credential scope and checks no signature)."""

    def __init__(self, endpoint: str, cluster_name: str, region: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.cluster_name = cluster_name
        self.region = region

    def exists(self, namespace: str, service_account: str) -> bool:
        query = urllib.parse.urlencode({"namespace": namespace, "serviceAccount": service_account})
        path = f"/clusters/{urllib.parse.quote(self.cluster_name, safe='')}/pod-identity-associations?{query}"
        day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
        request = urllib.request.Request(self.endpoint + path, method="GET", headers={
            "authorization": f"AWS4-HMAC-SHA256 Credential=AKIAFAKEKUBE/{day}/{self.region}/eks/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=0",
            "x-amz-date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")})
        try:
            with urllib.request.urlopen(request, timeout=EKS_TIMEOUT) as response:
                return bool(json.loads(response.read()).get("associations"))
        except (urllib.error.URLError, OSError, ValueError):
            return False  # no cluster (yet), or no emulator: no association


class PodIdentityWebhook:
    def __init__(self, eks: EksAssociations | None) -> None:
        self.eks = eks
        self._associations: dict[tuple[str, str], Association] = {}
        self._lock = threading.Lock()

    def register(self, association: Association) -> None:
        with self._lock:
            self._associations[(association.namespace, association.service_account)] = association

    def clear(self) -> None:
        with self._lock:
            self._associations.clear()

    def associations(self) -> list[dict[str, str]]:
        with self._lock:
            return [a.to_json() for _, a in sorted(self._associations.items())]

    def _associated(self, namespace: str, service_account: str) -> bool:
        with self._lock:
            if (namespace, service_account) in self._associations:
                return True
        return self.eks is not None and self.eks.exists(namespace, service_account)

    def mutate(self, registry: Registry, pod: dict[str, Any]) -> None:
        """Mutating admission for a pod being created (registry.PodMutator)."""
        namespace = pod["metadata"]["namespace"]
        account = pod["spec"].get("serviceAccountName", "default")
        service_account = registry.store.get(registry.key(catalog.SERVICEACCOUNTS, namespace, account))
        role = ((service_account.metadata.get("annotations") or {}).get(ROLE_ANNOTATION)
                if service_account is not None else None)
        if role:
            _inject(pod, {"AWS_ROLE_ARN": role, "AWS_WEB_IDENTITY_TOKEN_FILE": f"{IRSA_TOKEN_DIR}/token",
                          "AWS_STS_REGIONAL_ENDPOINTS": "regional"},
                    IRSA_VOLUME, IRSA_TOKEN_DIR, "sts.amazonaws.com", "token")
        if self._associated(namespace, account):
            _inject(pod, {"AWS_CONTAINER_CREDENTIALS_FULL_URI": POD_IDENTITY_URI,
                          "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": f"{POD_IDENTITY_TOKEN_DIR}/{POD_IDENTITY_VOLUME}"},
                    POD_IDENTITY_VOLUME, POD_IDENTITY_TOKEN_DIR, "pods.eks.amazonaws.com", POD_IDENTITY_VOLUME)


def _inject(pod: dict[str, Any], env: dict[str, str], volume: str, mount_path: str, audience: str,
            token_path: str) -> None:
    spec = pod["spec"]
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            present = {e.get("name") for e in container.get("env") or []}
            container["env"] = [*(container.get("env") or []),
                                *({"name": k, "value": v} for k, v in env.items() if k not in present)]
            mounts = container.get("volumeMounts") or []
            if not any(m.get("mountPath") == mount_path for m in mounts):
                container["volumeMounts"] = [*mounts, {"name": volume, "readOnly": True, "mountPath": mount_path}]
    if not any(v.get("name") == volume for v in spec.get("volumes") or []):
        spec["volumes"] = [*(spec.get("volumes") or []), {"name": volume, "projected": {"sources": [
            {"serviceAccountToken": {"audience": audience, "expirationSeconds": 86400, "path": token_path}}]}}]
    pod["spec"] = copy.deepcopy(spec)
