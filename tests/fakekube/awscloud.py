"""The AWS calls fakekube's simulated cloud controllers make (--aws-endpoint: the AWS emulator, moto).

fakekube never creates load balancers or volumes: tests create them in the emulator, tagged as the real
controllers tag them, and the simulated controllers only find and delete them when the Kubernetes object that
owns them is deleted (cloudcontrollers.py, storage.py). Like podidentity.py's EKS lookups, the calls carry
fixed test credentials (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the environment): the emulator
checks no signature and takes the region from the credential scope.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import boto3
import botocore.config
import botocore.exceptions

TEST_ACCESS_KEY = "AKIAFAKEKUBE00000000"
TEST_SECRET_KEY = "fakekube-test-secret"
# Short timeouts and few retries: the controllers run under fakekube's state lock, and a failed call is simply
# retried by the controller later (the standard retry mode still rides out the emulator's injected throttling).
CLIENT_CONFIG = botocore.config.Config(connect_timeout=2, read_timeout=10,
                                       retries={"mode": "standard", "max_attempts": 2})
TAG_BATCH = 20  # DescribeTags takes at most 20 load balancer names (ELB) or ARNs (ELBv2)


class CloudError(Exception):
    """An AWS call failed: the controller keeps its finalizer and tries again later."""


@dataclass(frozen=True)
class Balancer:
    api: str  # "elb" (classic) or "elbv2"
    name: str
    arn: str  # empty for classic load balancers
    tags: dict[str, str]


@dataclass
class CloudSettings:
    """What the simulated cloud controllers know about their cluster; `aws` is None without --aws-endpoint."""

    region: str = "us-east-1"
    cluster: str = ""
    aws: AwsCloud | None = None


@dataclass
class AwsCloud:
    endpoint: str
    region: str
    verbose: bool = False  # log failed calls to stderr
    # what the controllers did, for GET /_fake/aws (newest last); cleared by POST /_fake/reset
    actions: list[dict[str, str]] = field(default_factory=list)
    failures: int = 0
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.session.Session().client(
                service, region_name=self.region, endpoint_url=self.endpoint, config=CLIENT_CONFIG,
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or TEST_ACCESS_KEY,
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or TEST_SECRET_KEY)
        return self._clients[service]

    def clear(self) -> None:
        self.actions.clear()
        self.failures = 0

    def _record(self, action: str, **details: str) -> None:
        self.actions.append({"action": action, **details, "time": f"{time.time():.3f}"})
        if action == "Failed" and self.verbose:
            print(f"fakekube: AWS call failed, will retry: {details.get('error')}", file=sys.stderr, flush=True)

    def _failed(self, what: str, exc: Exception) -> CloudError:
        self.failures += 1
        self._record("Failed", call=what, error=str(exc))
        return CloudError(f"{what}: {exc}")

    def call(self, what: str, function: Callable[[], Any]) -> Any:
        """Run one AWS call; any failure (an AWS error, no emulator, a timeout) becomes CloudError."""
        try:
            return function()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._failed(what, exc) from exc

    # --- load balancers ---------------------------------------------------------------------------
    def classic_load_balancers(self) -> list[Balancer]:
        elb = self.client("elb")
        names = [lb["LoadBalancerName"] for page in self._pages(elb, "describe_load_balancers")
                 for lb in page.get("LoadBalancerDescriptions", [])]
        tags = self._tags("elb:DescribeTags", names, "LoadBalancerName",
                          lambda batch: elb.describe_tags(LoadBalancerNames=batch))
        return [Balancer("elb", name, "", tags[name]) for name in names if name in tags]

    def v2_load_balancers(self) -> list[Balancer]:
        elbv2 = self.client("elbv2")
        found = [(lb["LoadBalancerName"], lb["LoadBalancerArn"])
                 for page in self._pages(elbv2, "describe_load_balancers") for lb in page.get("LoadBalancers", [])]
        tags = self._v2_tags([arn for _, arn in found])
        return [Balancer("elbv2", name, arn, tags[arn]) for name, arn in found if arn in tags]

    def v2_target_groups(self) -> list[Balancer]:
        elbv2 = self.client("elbv2")
        found = [(tg["TargetGroupName"], tg["TargetGroupArn"])
                 for page in self._pages(elbv2, "describe_target_groups") for tg in page.get("TargetGroups", [])]
        tags = self._v2_tags([arn for _, arn in found])
        return [Balancer("elbv2", name, arn, tags[arn]) for name, arn in found if arn in tags]

    def target_groups_of(self, balancer: Balancer) -> list[str]:
        elbv2 = self.client("elbv2")
        answer = self.call("elbv2:DescribeTargetGroups",
                           lambda: elbv2.describe_target_groups(LoadBalancerArn=balancer.arn))
        return [tg["TargetGroupArn"] for tg in answer.get("TargetGroups", [])]

    def delete_load_balancer(self, balancer: Balancer) -> None:
        if balancer.api == "elb":
            elb = self.client("elb")
            self.call("elb:DeleteLoadBalancer", lambda: elb.delete_load_balancer(LoadBalancerName=balancer.name))
        else:
            elbv2 = self.client("elbv2")
            self.call("elbv2:DeleteLoadBalancer",
                      lambda: elbv2.delete_load_balancer(LoadBalancerArn=balancer.arn))
        self._record("DeleteLoadBalancer", api=balancer.api, name=balancer.name)

    def delete_target_group(self, arn: str) -> None:
        elbv2 = self.client("elbv2")
        try:
            elbv2.delete_target_group(TargetGroupArn=arn)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TargetGroupNotFound":
                return  # gone already: what the controller wanted
            raise self._failed("elbv2:DeleteTargetGroup", exc) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._failed("elbv2:DeleteTargetGroup", exc) from exc
        self._record("DeleteTargetGroup", arn=arn)

    # --- volumes ----------------------------------------------------------------------------------
    def delete_volume(self, volume_id: str) -> None:
        """The EBS CSI driver's DeleteVolume: a volume that does not exist counts as deleted (the driver answers
        success on ErrNotFound); one still attached fails with VolumeInUse, and is retried."""
        ec2 = self.client("ec2")
        try:
            ec2.delete_volume(VolumeId=volume_id)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidVolume.NotFound":
                self._record("DeleteVolume", volume=volume_id, result="NotFound")
                return
            raise self._failed(f"ec2:DeleteVolume {volume_id}", exc) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._failed(f"ec2:DeleteVolume {volume_id}", exc) from exc
        self._record("DeleteVolume", volume=volume_id, result="Deleted")

    # --- helpers ----------------------------------------------------------------------------------
    def _pages(self, client: Any, operation: str) -> Iterator[dict[str, Any]]:
        paginator = client.get_paginator(operation)
        service = client.meta.service_model.endpoint_prefix
        pages = self.call(f"{service}:{operation}", lambda: list(paginator.paginate()))
        yield from pages

    def _v2_tags(self, arns: list[str]) -> dict[str, dict[str, str]]:
        elbv2 = self.client("elbv2")
        return self._tags("elbv2:DescribeTags", arns, "ResourceArn",
                          lambda batch: elbv2.describe_tags(ResourceArns=batch))

    def _tags(self, what: str, keys: list[str], key_field: str,
              describe: Callable[[list[str]], Any]) -> dict[str, dict[str, str]]:
        """Tags by name or ARN, 20 at a time. DescribeTags fails as a whole when one of them was deleted after the
        listing (another cluster's controller, or a test's ``down``, deletes them meanwhile: the emulator's rule
        12, as AWS answers): then that batch is read one at a time and the gone ones are left out."""
        tags: dict[str, dict[str, str]] = {}
        for batch in _batches(keys):
            try:
                answers = [describe(batch)]
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in GONE:
                    raise self._failed(what, exc) from exc
                answers = []
                for one in batch:
                    try:
                        answers.append(describe([one]))
                    except botocore.exceptions.ClientError as exc_one:
                        if exc_one.response.get("Error", {}).get("Code") not in GONE:
                            raise self._failed(what, exc_one) from exc_one
            except botocore.exceptions.BotoCoreError as exc:
                raise self._failed(what, exc) from exc
            for answer in answers:
                for description in answer.get("TagDescriptions", []):
                    tags[description[key_field]] = _tag_map(description.get("Tags"))
        return tags


# DescribeTags' answers for a name or ARN deleted after the listing (classic ELB and ELBv2 alike).
GONE = {"LoadBalancerNotFound", "TargetGroupNotFound"}


def _batches(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), TAG_BATCH):
        yield items[start:start + TAG_BATCH]


def _tag_map(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}
