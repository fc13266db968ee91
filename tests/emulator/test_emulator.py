"""Tests for the EKS emulator: server.py run as a subprocess, driven with boto3.

Every EKS response is also checked against botocore's EKS service model (the AWS API
reference in machine form): no nulls, no unknown fields, epoch-second timestamps, enum values
the SDKs know.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import Shape

from eks_ext import ApiServer

SERVER = Path(__file__).with_name("server.py")
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-test"
CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
FAIL_TAG = "emulator.eksscale.io/fail"


# --- Server and clients -----------------------------------------------------------------------


# The shared servers keep the AWS rules on but with no propagation delays: these tests create a VPC, role or
# provider and use it at once. test_aws_rules.py starts servers with the delays (and the switch) it tests.
NO_DELAYS = {"EMULATOR_IAM_PROPAGATION_SECONDS": "0", "EMULATOR_EC2_CONSISTENCY_SECONDS": "0"}


@contextmanager
def running_server(directory: Path, settings: dict[str, str]) -> Iterator[str]:
    port_file = directory / "port"
    env = {key: value for key, value in os.environ.items() if not key.startswith("EMULATOR_")} | settings
    command = [sys.executable, str(SERVER), "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)]
    process = subprocess.Popen(command, env=env)
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert process.poll() is None, "the emulator exited during start-up"
            assert time.monotonic() < deadline, "the emulator did not write its port file"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text().strip()}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("emulator"), NO_DELAYS) as url:
        yield url


@pytest.fixture(scope="session")
def timed_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    timing = NO_DELAYS | {
        "EMULATOR_EKS_CLUSTER_CREATE_SECONDS": "2",
        "EMULATOR_EKS_NODEGROUP_CREATE_SECONDS": "2",
        "EMULATOR_EKS_ADDON_CREATE_SECONDS": "2",
        "EMULATOR_EKS_DELETE_SECONDS": "2",
    }
    with running_server(tmp_path_factory.mktemp("timed-emulator"), timing) as url:
        yield url


def check_shape(value: Any, shape: Shape, path: str) -> None:
    """Assert that `value` is what the model's `shape` allows on the wire."""
    assert value is not None, f"{path} is null"
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), path
        for key, member in value.items():
            assert key in shape.members, f"{path}.{key} is not a member of {shape.name}"
            check_shape(member, shape.members[key], f"{path}.{key}")
    elif kind == "list":
        assert isinstance(value, list), path
        for index, item in enumerate(value):
            check_shape(item, shape.member, f"{path}[{index}]")  # type: ignore[attr-defined]
    elif kind == "map":
        assert isinstance(value, dict), path
        for key, item in value.items():
            check_shape(item, shape.value, f"{path}.{key}")  # type: ignore[attr-defined]
    elif kind == "timestamp":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (
            f"{path} is not epoch seconds: {value!r}"
        )
    elif kind == "boolean":
        assert isinstance(value, bool), path
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), path
    else:
        assert kind == "string" and isinstance(value, str), f"{path}: {value!r} is not a {kind}"
        assert not shape.enum or value in shape.enum, f"{path}: {value!r} is not one of {shape.enum}"


def check_response(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    body = json.loads(response_dict["body"] or b"{}")
    if response_dict["status_code"] < 300:
        check_shape(body, operation_model.output_shape, operation_model.name)
    else:
        assert "x-amzn-errortype" in response_dict["headers"], operation_model.name
        assert isinstance(body.get("message"), str), operation_model.name


class Aws:
    def __init__(self, endpoint: str, region: str = "us-east-1", **credentials: str) -> None:
        self.endpoint, self.region = endpoint, region
        self.credentials = credentials or {"aws_access_key_id": "AKIAEMULATORTEST", "aws_secret_access_key": "secret"}

    def client(self, service: str) -> Any:
        client = boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            config=Config(retries={"max_attempts": 1}),
            **self.credentials,
        )
        if service == "eks":
            client.meta.events.register("before-parse.eks.*", check_response)
        return client


@pytest.fixture
def aws(endpoint: str) -> Aws:
    return Aws(endpoint)


@pytest.fixture
def eks(aws: Aws) -> Any:
    return aws.client("eks")


def new_subnets(aws: Aws) -> tuple[str, list[str]]:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index}.0/24", AvailabilityZone=f"{aws.region}{zone}")["Subnet"][
            "SubnetId"
        ]
        for index, zone in enumerate("ab")
    ]
    return vpc, subnets


def new_cluster(aws: Aws, version: str = "1.33", **kwargs: Any) -> dict[str, Any]:
    _, subnets = new_subnets(aws)
    name = f"c-{uuid.uuid4().hex[:10]}"
    vpc_config = {"subnetIds": subnets, **kwargs.pop("resourcesVpcConfig", {})}
    return aws.client("eks").create_cluster(
        name=name, version=version, roleArn=ROLE, resourcesVpcConfig=vpc_config, **kwargs
    )["cluster"]


def new_nodegroup(aws: Aws, cluster: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return aws.client("eks").create_nodegroup(
        clusterName=cluster["name"],
        nodegroupName=f"ng-{uuid.uuid4().hex[:6]}",
        nodeRole=ROLE,
        subnets=cluster["resourcesVpcConfig"]["subnetIds"],
        **kwargs,
    )["nodegroup"]


def error(code: str, status: int, call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """Assert that `call` fails with `code` and HTTP `status`; return the message."""
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    response = raised.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    return response["Error"]["Message"]


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


# --- Server -----------------------------------------------------------------------------------


def test_server_writes_port_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    command = [sys.executable, str(SERVER), "--port", "0", "--port-file", str(port_file)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    wait_for(port_file.exists, timeout=60)
    assert re.fullmatch(r"\d+\n", port_file.read_text())
    eks = Aws(f"http://127.0.0.1:{port_file.read_text().strip()}").client("eks")
    assert eks.list_clusters()["clusters"] == []
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert not port_file.exists()
    assert "GET /clusters" not in stderr  # requests are only logged with --verbose


# --- Clusters ---------------------------------------------------------------------------------


def test_nat_gateway_interface_is_requester_managed_and_goes_with_the_gateway(aws: Aws) -> None:
    """moto_fixes: the NAT gateway's ENI looks like EC2's (requester-managed, type nat_gateway) and is deleted,
    and its Elastic IP disassociated, when the gateway is."""
    ec2 = aws.client("ec2")
    vpc, subnets = new_subnets(aws)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnets[0], AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]
    assert [
        (e["RequesterManaged"], e["InterfaceType"], e["Status"], e["Description"]) for e in enis
    ] == [(True, "nat_gateway", "in-use", f"Interface for NAT Gateway {nat}")]
    ec2.delete_nat_gateway(NatGatewayId=nat)
    assert ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"] == []
    address = ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0]
    assert not address.get("AssociationId") and not address.get("NetworkInterfaceId")
    ec2.release_address(AllocationId=allocation)


def test_each_cluster_gets_its_own_oidc_issuer(aws: Aws, eks: Any) -> None:
    first, second = new_cluster(aws), new_cluster(aws)
    issuers = [eks.describe_cluster(name=c["name"])["cluster"]["identity"]["oidc"]["issuer"] for c in (first, second)]
    assert issuers[0] != issuers[1]
    for issuer in issuers:
        assert re.fullmatch(r"https://oidc\.eks\.us-east-1\.amazonaws\.com/id/[0-9A-F]{32}", issuer)


# --- A test's own Kubernetes API server ---------------------------------------------------------


def test_api_server_settings_are_checked_at_start(tmp_path: Path) -> None:
    assert ApiServer.from_env({}) == ApiServer()
    ca_file = tmp_path / "ca.b64"
    settings = {"EMULATOR_EKS_API_ENDPOINT": "https://127.0.0.1:6443/", "EMULATOR_EKS_API_CA_FILE": str(ca_file)}
    server = ApiServer.from_env(settings)
    assert (server.endpoint, server.ca_file, server.cluster) == ("https://127.0.0.1:6443", ca_file, None)
    assert server.serves("any") and server.ca_data() is None  # the file is not written yet
    ca_file.write_text("TFMwdExTMUNSVWRKVGlCRFJWSlV\nKVVWSlJRMEZVUlMwdExTMHQK\n")  # wrapped, as `base64` writes it
    assert server.ca_data() == "TFMwdExTMUNSVWRKVGlCRFJWSlVKVVWSlJRMEZVUlMwdExTMHQK"
    only = ApiServer.from_env({**settings, "EMULATOR_EKS_API_CLUSTER": "demo"})
    assert only.serves("demo") and not only.serves("other")
    for bad in (
        {"EMULATOR_EKS_API_CA_FILE": str(ca_file)},
        {"EMULATOR_EKS_API_CLUSTER": "demo"},
        {"EMULATOR_EKS_API_ENDPOINT": "127.0.0.1:6443"},
        {"EMULATOR_EKS_API_ENDPOINT": "https://127.0.0.1:6443/api"},
    ):
        with pytest.raises(ValueError):
            ApiServer.from_env(bad)


def test_clusters_point_at_the_test_api_server(tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("api-server")
    ca_file = directory / "ca.b64"  # written only once the emulator runs, as a test's API server would
    settings = NO_DELAYS | {
        "EMULATOR_EKS_API_ENDPOINT": "https://127.0.0.1:6443",
        "EMULATOR_EKS_API_CA_FILE": str(ca_file),
    }
    with running_server(directory, settings) as url:
        aws = Aws(url)
        eks = aws.client("eks")
        created = new_cluster(aws)
        assert created["endpoint"] == "https://127.0.0.1:6443"
        moto_ca = created["certificateAuthority"]["data"]  # no file yet: moto's own data
        assert eks.describe_cluster(name=created["name"])["cluster"]["certificateAuthority"]["data"] == moto_ca
        ca_file.write_text("Zmlyc3QtY2E=\n")
        cluster = eks.describe_cluster(name=created["name"])["cluster"]
        assert cluster["endpoint"] == "https://127.0.0.1:6443"
        assert cluster["certificateAuthority"]["data"] == "Zmlyc3QtY2E="
        ca_file.write_text("c2Vjb25kLWNh")  # read again on every DescribeCluster
        assert eks.describe_cluster(name=created["name"])["cluster"]["certificateAuthority"]["data"] == "c2Vjb25kLWNh"
        later = new_cluster(aws)
        assert (later["endpoint"], later["certificateAuthority"]["data"]) == ("https://127.0.0.1:6443", "c2Vjb25kLWNh")
        # The OIDC issuers stay per cluster.
        assert created["identity"]["oidc"]["issuer"] != later["identity"]["oidc"]["issuer"]


def test_only_the_named_cluster_points_at_the_test_api_server(tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("api-server-one")
    ca_file = directory / "ca.b64"
    ca_file.write_text("b25lLWNh")
    settings = NO_DELAYS | {
        "EMULATOR_EKS_API_ENDPOINT": "https://127.0.0.1:7443",
        "EMULATOR_EKS_API_CA_FILE": str(ca_file),
        "EMULATOR_EKS_API_CLUSTER": "served",
    }
    with running_server(directory, settings) as url:
        aws = Aws(url)
        eks = aws.client("eks")
        _, subnets = new_subnets(aws)
        eks.create_cluster(name="served", version="1.33", roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnets})
        other = new_cluster(aws)
        served = eks.describe_cluster(name="served")["cluster"]
        assert (served["endpoint"], served["certificateAuthority"]["data"]) == ("https://127.0.0.1:7443", "b25lLWNh")
        other = eks.describe_cluster(name=other["name"])["cluster"]
        assert re.fullmatch(r"https://[0-9A-F]{32}\.gr7\.us-east-1\.eks\.amazonaws\.com", other["endpoint"])
        assert other["certificateAuthority"]["data"] != "b25lLWNh"


def test_cluster_reports_vpc_and_access_config_with_defaults(aws: Aws, eks: Any) -> None:
    vpc, subnets = new_subnets(aws)
    name = f"c-{uuid.uuid4().hex[:10]}"
    eks.create_cluster(name=name, version="1.33", roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnets})
    cluster = eks.describe_cluster(name=name)["cluster"]
    config = cluster["resourcesVpcConfig"]
    assert config["subnetIds"] == subnets
    assert config["vpcId"] == vpc
    assert config["endpointPublicAccess"] is True
    assert config["endpointPrivateAccess"] is False
    assert config["publicAccessCidrs"] == ["0.0.0.0/0"]
    assert config["securityGroupIds"] == []
    assert config["clusterSecurityGroupId"].startswith("sg-")
    assert cluster["accessConfig"] == {
        "authenticationMode": "API_AND_CONFIG_MAP",
        "bootstrapClusterCreatorAdminPermissions": True,
    }

    custom = new_cluster(
        aws,
        resourcesVpcConfig={"endpointPrivateAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
        accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
    )
    assert custom["resourcesVpcConfig"]["endpointPrivateAccess"] is True
    assert custom["resourcesVpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert custom["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert eks.list_access_entries(clusterName=custom["name"])["accessEntries"] == []


def test_cluster_security_group_is_created_in_the_vpc_and_deleted_with_the_cluster(aws: Aws, eks: Any) -> None:
    ec2 = aws.client("ec2")
    cluster = new_cluster(aws)
    group_id = cluster["resourcesVpcConfig"]["clusterSecurityGroupId"]
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert group["VpcId"] == cluster["resourcesVpcConfig"]["vpcId"]
    assert re.fullmatch(rf"eks-cluster-sg-{cluster['name']}-\d{{10}}", group["GroupName"])
    tags = {tag["Key"]: tag["Value"] for tag in group["Tags"]}
    assert tags["aws:eks:cluster-name"] == cluster["name"]
    assert tags[f"kubernetes.io/cluster/{cluster['name']}"] == "owned"

    assert eks.delete_cluster(name=cluster["name"])["cluster"]["status"] == "DELETING"
    error("ResourceNotFoundException", 404, eks.describe_cluster, name=cluster["name"])
    assert ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroups"] == []


def test_create_cluster_validates_subnets_and_access_config(aws: Aws, eks: Any) -> None:
    ec2 = aws.client("ec2")
    _, subnets = new_subnets(aws)
    create = dict(name="bad", roleArn=ROLE, version="1.33")
    assert "does not exist" in error(
        "InvalidParameterException",
        400,
        eks.create_cluster,
        resourcesVpcConfig={"subnetIds": ["subnet-00000000"]},
        **create,
    )
    assert "two different AZs" in error(
        "InvalidParameterException", 400, eks.create_cluster, resourcesVpcConfig={"subnetIds": subnets[:1]}, **create
    )
    error(
        "InvalidParameterException",
        400,
        eks.create_cluster,
        resourcesVpcConfig={"subnetIds": subnets, "endpointPublicAccess": False, "endpointPrivateAccess": False},
        **create,
    )
    assert "bad" not in eks.list_clusters()["clusters"]
    assert (
        ec2.describe_security_groups(Filters=[{"Name": "tag:aws:eks:cluster-name", "Values": ["bad"]}])[
            "SecurityGroups"
        ]
        == []
    )


def test_region_comes_from_the_request_signature(endpoint: str) -> None:
    ireland = Aws(endpoint, region="eu-west-1")
    cluster = new_cluster(ireland)
    eks = ireland.client("eks")
    addon = eks.create_addon(clusterName=cluster["name"], addonName="coredns")["addon"]
    assert addon["addonArn"].startswith(f"arn:aws:eks:eu-west-1:{ACCOUNT}:addon/{cluster['name']}/coredns/")
    assert cluster["identity"]["oidc"]["issuer"].startswith("https://oidc.eks.eu-west-1.amazonaws.com/id/")
    error("ResourceNotFoundException", 404, Aws(endpoint).client("eks").list_addons, clusterName=cluster["name"])


def test_cluster_creator_gets_an_admin_access_entry(aws: Aws, eks: Any) -> None:
    cluster = new_cluster(aws)
    creator = f"arn:aws:iam::{ACCOUNT}:user/moto"
    assert eks.list_access_entries(clusterName=cluster["name"])["accessEntries"] == [creator]
    policies = eks.list_associated_access_policies(clusterName=cluster["name"], principalArn=creator)[
        "associatedAccessPolicies"
    ]
    assert [(p["policyArn"], p["accessScope"]["type"]) for p in policies] == [(CLUSTER_ADMIN, "cluster")]


def test_cluster_creator_is_the_assumed_role(aws: Aws) -> None:
    iam, sts = aws.client("iam"), aws.client("sts")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}],
    }
    role_arn = iam.create_role(RoleName=f"deployer-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="ci")["Credentials"]
    deployer = Aws(
        aws.endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    cluster = new_cluster(deployer)
    entry = deployer.client("eks").describe_access_entry(clusterName=cluster["name"], principalArn=role_arn)[
        "accessEntry"
    ]
    assert entry["username"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_arn.rsplit('/', 1)[1]}/{{{{SessionName}}}}"


def test_delete_cluster_is_refused_while_node_groups_exist(aws: Aws, eks: Any) -> None:
    cluster = new_cluster(aws)
    nodegroup = new_nodegroup(aws, cluster)
    assert nodegroup["version"] == "1.33"
    error("ResourceInUseException", 409, eks.delete_cluster, name=cluster["name"])
    eks.delete_nodegroup(clusterName=cluster["name"], nodegroupName=nodegroup["nodegroupName"])
    eks.delete_cluster(name=cluster["name"])


def test_delete_cluster_drops_addons_access_entries_and_associations(aws: Aws, eks: Any) -> None:
    cluster = new_cluster(aws)
    name = cluster["name"]
    addon_arn = eks.create_addon(clusterName=name, addonName="coredns")["addon"]["addonArn"]
    eks.create_access_entry(clusterName=name, principalArn=ROLE)
    eks.create_pod_identity_association(clusterName=name, namespace="default", serviceAccount="app", roleArn=ROLE)
    eks.delete_cluster(name=name)

    _, subnets = new_subnets(aws)
    eks.create_cluster(name=name, version="1.33", roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnets})
    assert eks.list_addons(clusterName=name)["addons"] == []
    assert eks.list_access_entries(clusterName=name)["accessEntries"] == [f"arn:aws:iam::{ACCOUNT}:user/moto"]
    assert eks.list_pod_identity_associations(clusterName=name)["associations"] == []
    error("NotFoundException", 404, eks.list_tags_for_resource, resourceArn=addon_arn)


def test_logging_creates_the_log_group_which_outlives_the_cluster(aws: Aws, eks: Any) -> None:
    logs = aws.client("logs")
    quiet = new_cluster(aws)
    assert logs.describe_log_groups(logGroupNamePrefix=f"/aws/eks/{quiet['name']}/")["logGroups"] == []
    assert all(not setup["enabled"] for setup in quiet["logging"]["clusterLogging"])

    cluster = new_cluster(aws, logging={"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]})
    group = f"/aws/eks/{cluster['name']}/cluster"
    assert cluster["logging"]["clusterLogging"] == [
        {"types": ["api", "audit"], "enabled": True},
        {"types": ["authenticator", "controllerManager", "scheduler"], "enabled": False},
    ]
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]] == [group]
    eks.delete_cluster(name=cluster["name"])
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]] == [group]


# --- Cluster updates --------------------------------------------------------------------------


def test_update_cluster_config_merges_logging(aws: Aws, eks: Any) -> None:
    cluster = new_cluster(aws)
    name = cluster["name"]
    update = eks.update_cluster_config(name=name, logging={"clusterLogging": [{"types": ["audit"], "enabled": True}]})[
        "update"
    ]
    assert (update["type"], update["status"]) == ("LoggingUpdate", "InProgress")
    assert eks.describe_update(name=name, updateId=update["id"])["update"]["status"] == "Successful"
    assert aws.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/eks/{name}/cluster")["logGroups"]

    eks.update_cluster_config(name=name, logging={"clusterLogging": [{"types": ["api"], "enabled": True}]})
    logging = eks.describe_cluster(name=name)["cluster"]["logging"]["clusterLogging"]
    assert logging[0] == {"types": ["api", "audit"], "enabled": True}
    assert "No changes needed" in error(
        "InvalidParameterException",
        400,
        eks.update_cluster_config,
        name=name,
        logging={"clusterLogging": [{"types": ["api"], "enabled": True}]},
    )


def test_update_cluster_config_merges_endpoint_access(aws: Aws, eks: Any) -> None:
    cluster = new_cluster(aws)
    name = cluster["name"]
    update = eks.update_cluster_config(
        name=name, resourcesVpcConfig={"endpointPrivateAccess": True, "publicAccessCidrs": ["198.51.100.0/24"]}
    )["update"]
    assert update["type"] == "EndpointAccessUpdate"
    assert {p["type"]: p["value"] for p in update["params"]} == {
        "EndpointPrivateAccess": "true",
        "PublicAccessCidrs": '["198.51.100.0/24"]',
    }
    config = eks.describe_cluster(name=name)["cluster"]["resourcesVpcConfig"]
    assert config == cluster["resourcesVpcConfig"] | {
        "endpointPrivateAccess": True,
        "publicAccessCidrs": ["198.51.100.0/24"],
    }
    error(
        "InvalidParameterException",
        400,
        eks.update_cluster_config,
        name=name,
        resourcesVpcConfig={"endpointPrivateAccess": True},
    )
    error(
        "InvalidParameterException",
        400,
        eks.update_cluster_config,
        name=name,
        resourcesVpcConfig={"endpointPublicAccess": False},
        logging={"clusterLogging": [{"types": ["api"], "enabled": True}]},
    )
    error(
        "ResourceNotFoundException",
        404,
        eks.update_cluster_config,
        name="missing",
        resourcesVpcConfig={"endpointPrivateAccess": True},
    )


def test_update_cluster_version_allows_one_minor_at_a_time(aws: Aws, eks: Any) -> None:
    name = new_cluster(aws, version="1.32")["name"]
    assert "from 1.32 to 1.34" in error(
        "InvalidParameterException", 400, eks.update_cluster_version, name=name, version="1.34"
    )
    update = eks.update_cluster_version(name=name, version="1.33")["update"]
    assert (update["type"], update["params"]) == ("VersionUpdate", [{"type": "Version", "value": "1.33"}])
    described = eks.describe_update(name=name, updateId=update["id"])["update"]
    assert described == update | {"status": "Successful"}
    assert eks.describe_cluster(name=name)["cluster"]["version"] == "1.33"
    error("ResourceNotFoundException", 404, eks.describe_update, name=name, updateId=str(uuid.uuid4()))
    error("ResourceNotFoundException", 404, eks.describe_update, name=name, updateId=update["id"], addonName="coredns")


def test_node_group_updates_can_be_described(aws: Aws, eks: Any) -> None:
    cluster = new_cluster(aws)
    nodegroup = new_nodegroup(aws, cluster)["nodegroupName"]
    update = eks.update_nodegroup_config(
        clusterName=cluster["name"], nodegroupName=nodegroup, scalingConfig={"desiredSize": 3}
    )["update"]
    assert update["params"] == [{"type": "DesiredSize", "value": "3"}]
    described = eks.describe_update(name=cluster["name"], updateId=update["id"], nodegroupName=nodegroup)["update"]
    assert (described["id"], described["status"]) == (update["id"], "Successful")


RELEASE_VERSION = r"1\.{minor}\.\d+-20\d{{6}}"


def test_node_group_release_version_matches_its_kubernetes_version(aws: Aws) -> None:
    cluster = new_cluster(aws, version="1.33")
    assert re.fullmatch(RELEASE_VERSION.format(minor=33), new_nodegroup(aws, cluster)["releaseVersion"])
    assert re.fullmatch(RELEASE_VERSION.format(minor=31), new_nodegroup(aws, cluster, version="1.31")["releaseVersion"])
    assert new_nodegroup(aws, cluster, releaseVersion="1.33.1-20250701")["releaseVersion"] == "1.33.1-20250701"


def test_update_nodegroup_version(aws: Aws, eks: Any) -> None:
    cluster = new_cluster(aws, version="1.33")
    name = cluster["name"]
    nodegroup = new_nodegroup(aws, cluster, version="1.31")
    ng = nodegroup["nodegroupName"]

    update = eks.update_nodegroup_version(clusterName=name, nodegroupName=ng, version="1.32", force=True)["update"]
    assert (update["type"], update["status"], update["params"], update["errors"]) == (
        "VersionUpdate",
        "InProgress",
        [{"type": "Version", "value": "1.32"}],
        [],
    )
    described = eks.describe_update(name=name, updateId=update["id"], nodegroupName=ng)["update"]
    assert described == update | {"status": "Successful"}
    error("ResourceNotFoundException", 404, eks.describe_update, name=name, updateId=update["id"])
    after = eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]
    assert (after["status"], after["version"]) == ("ACTIVE", "1.32")
    assert re.fullmatch(RELEASE_VERSION.format(minor=32), after["releaseVersion"])
    assert after["modifiedAt"] >= nodegroup["modifiedAt"]

    # No version: the cluster's.
    # A token EKS accepts: 33 to 126 characters (see test_aws_rules.py).
    token = f"update-{uuid.uuid4()}"
    update = eks.update_nodegroup_version(clusterName=name, nodegroupName=ng, clientRequestToken=token)["update"]
    assert update["params"] == [{"type": "Version", "value": "1.33"}]
    assert eks.describe_update(name=name, updateId=update["id"], nodegroupName=ng)["update"]["status"] == "Successful"
    after = eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]
    assert after["version"] == "1.33"
    assert re.fullmatch(RELEASE_VERSION.format(minor=33), after["releaseVersion"])

    # The current version again, with an explicit AMI release version.
    update = eks.update_nodegroup_version(
        clusterName=name, nodegroupName=ng, version="1.33", releaseVersion=after["releaseVersion"]
    )["update"]
    assert update["params"] == [
        {"type": "Version", "value": "1.33"},
        {"type": "ReleaseVersion", "value": after["releaseVersion"]},
    ]
    assert eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]["releaseVersion"] == after[
        "releaseVersion"
    ]


def test_update_nodegroup_version_with_launch_template(aws: Aws, eks: Any) -> None:
    ec2 = aws.client("ec2")
    template_name = f"lt-{uuid.uuid4().hex[:8]}"
    template = ec2.create_launch_template(LaunchTemplateName=template_name, LaunchTemplateData={})["LaunchTemplate"]
    ec2.create_launch_template_version(LaunchTemplateName=template_name, LaunchTemplateData={"UserData": ""})
    cluster = new_cluster(aws, version="1.33")
    name = cluster["name"]
    ng = new_nodegroup(aws, cluster, launchTemplate={"name": template_name, "version": "1"})["nodegroupName"]

    update = eks.update_nodegroup_version(
        clusterName=name, nodegroupName=ng, launchTemplate={"id": template["LaunchTemplateId"], "version": "2"}
    )["update"]
    assert update["params"] == [
        {"type": "Version", "value": "1.33"},
        {"type": "LaunchTemplateName", "value": template_name},
        {"type": "LaunchTemplateVersion", "value": "2"},
    ]
    assert eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]["launchTemplate"] == {
        "name": template_name,
        "id": template["LaunchTemplateId"],
        "version": "2",
    }
    assert "the one the node group was created with" in error(
        "InvalidParameterException",
        400,
        eks.update_nodegroup_version,
        clusterName=name,
        nodegroupName=ng,
        launchTemplate={"name": "another-template", "version": "3"},
    )
    error(
        "InvalidParameterException",
        400,
        eks.update_nodegroup_version,
        clusterName=name,
        nodegroupName=ng,
        launchTemplate={"version": "3"},
    )
    plain = new_nodegroup(aws, cluster)["nodegroupName"]
    error(
        "InvalidParameterException",
        400,
        eks.update_nodegroup_version,
        clusterName=name,
        nodegroupName=plain,
        launchTemplate={"name": template_name, "version": "2"},
    )
    assert eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]["launchTemplate"]["version"] == "2"


def test_update_nodegroup_version_errors(aws: Aws, eks: Any) -> None:
    cluster = new_cluster(aws, version="1.33")
    name = cluster["name"]
    nodegroup = new_nodegroup(aws, cluster, version="1.32")
    ng = nodegroup["nodegroupName"]
    update = eks.update_nodegroup_version

    assert error("ResourceNotFoundException", 404, update, clusterName="missing", nodegroupName=ng) == (
        "No cluster found for name: missing."
    )
    assert error("ResourceNotFoundException", 404, update, clusterName=name, nodegroupName="missing") == (
        "No node group found for name: missing."
    )

    assert "newer than the cluster version 1.33" in error(
        "InvalidParameterException", 400, update, clusterName=name, nodegroupName=ng, version="1.34"
    )
    assert "older than the node group version 1.32" in error(
        "InvalidParameterException", 400, update, clusterName=name, nodegroupName=ng, version="1.31"
    )
    error("InvalidParameterException", 400, update, clusterName=name, nodegroupName=ng, version="latest")
    current = nodegroup["releaseVersion"]
    for release_version, problem in (
        ("not-a-release", "is not valid for Kubernetes version 1.32"),
        (current.replace("1.32", "1.33"), "is not valid for Kubernetes version 1.32"),  # another version's AMI
        ("1.32.99-20991231", "is not valid for Kubernetes version 1.32"),  # newer than the newest AMI
        ("1.32.0-20200101", "a node group cannot be rolled back"),
    ):
        assert problem in error(
            "InvalidParameterException",
            400,
            update,
            clusterName=name,
            nodegroupName=ng,
            version="1.32",
            releaseVersion=release_version,
        )
    described = eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]
    assert (described["status"], described["version"], described["releaseVersion"]) == ("ACTIVE", "1.32", current)

    failed_nodegroup = new_nodegroup(aws, cluster, tags={FAIL_TAG: "no capacity"})["nodegroupName"]
    assert "CREATE_FAILED" in error(
        "ResourceInUseException", 409, update, clusterName=name, nodegroupName=failed_nodegroup
    )

    failed_cluster = new_cluster(aws, tags={FAIL_TAG: "control plane exploded"})["name"]
    assert error("InvalidRequestException", 400, update, clusterName=failed_cluster, nodegroupName=ng) == (
        f"Cluster '{failed_cluster}' is not in ACTIVE status"
    )


# --- Add-ons ----------------------------------------------------------------------------------

ADDONS = {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "metrics-server", "aws-ebs-csi-driver"}


def test_addon_version_table(eks: Any) -> None:
    addons = eks.describe_addon_versions()["addons"]
    assert {addon["addonName"] for addon in addons} == ADDONS
    for addon in addons:
        assert (addon["owner"], addon["publisher"]) == ("aws", "eks")
        assert len(addon["addonVersions"]) >= 2
        for minor in range(31, 38):
            cluster_version = f"1.{minor}"
            flags = [
                compatibility["defaultVersion"]
                for version in addon["addonVersions"]
                for compatibility in version["compatibilities"]
                if compatibility["clusterVersion"] == cluster_version
            ]
            assert len(flags) >= 2 and flags.count(True) == 1, (addon["addonName"], cluster_version)

    kube_proxy = eks.describe_addon_versions(kubernetesVersion="1.35", addonName="kube-proxy")["addons"]
    assert [addon["addonName"] for addon in kube_proxy] == ["kube-proxy"]
    for version in kube_proxy[0]["addonVersions"]:
        assert version["addonVersion"].startswith("v1.35.")
        assert [c["clusterVersion"] for c in version["compatibilities"]] == ["1.35"]
    assert eks.describe_addon_versions(kubernetesVersion="1.19")["addons"] == []

    first = eks.describe_addon_versions(maxResults=4)
    rest = eks.describe_addon_versions(maxResults=4, nextToken=first["nextToken"])
    assert {a["addonName"] for a in first["addons"] + rest["addons"]} == ADDONS
    assert "nextToken" not in rest


def default_version(eks: Any, addon: str, cluster_version: str) -> str:
    versions = eks.describe_addon_versions(kubernetesVersion=cluster_version, addonName=addon)["addons"][0][
        "addonVersions"
    ]
    return next(v["addonVersion"] for v in versions if v["compatibilities"][0]["defaultVersion"])


def test_addon_lifecycle(aws: Aws, eks: Any) -> None:
    name = new_cluster(aws, version="1.34")["name"]
    addon = eks.create_addon(clusterName=name, addonName="coredns", tags={"team": "platform"})["addon"]
    assert addon["addonVersion"] == default_version(eks, "coredns", "1.34")
    assert addon["status"] == "ACTIVE"
    assert addon["health"] == {"issues": []}
    assert re.fullmatch(rf"arn:aws:eks:us-east-1:{ACCOUNT}:addon/{name}/coredns/[0-9a-f-]{{36}}", addon["addonArn"])
    assert addon["tags"] == {"team": "platform"} and addon["podIdentityAssociations"] == []
    assert "serviceAccountRoleArn" not in addon and "configurationValues" not in addon
    assert eks.describe_addon(clusterName=name, addonName="coredns")["addon"] == addon

    eks.create_addon(
        clusterName=name, addonName="vpc-cni", serviceAccountRoleArn=ROLE, configurationValues='{"env":{}}'
    )
    described = eks.describe_addon(clusterName=name, addonName="vpc-cni")["addon"]
    assert (described["serviceAccountRoleArn"], described["configurationValues"]) == (ROLE, '{"env":{}}')
    assert eks.list_addons(clusterName=name)["addons"] == ["coredns", "vpc-cni"]
    page = eks.list_addons(clusterName=name, maxResults=1)
    assert page["addons"] == ["coredns"]
    last = eks.list_addons(clusterName=name, maxResults=1, nextToken=page["nextToken"])
    assert last["addons"] == ["vpc-cni"] and "nextToken" not in last

    coredns = eks.describe_addon_versions(kubernetesVersion="1.34", addonName="coredns")["addons"][0]
    older = coredns["addonVersions"][-1]
    update = eks.update_addon(
        clusterName=name, addonName="coredns", addonVersion=older["addonVersion"], resolveConflicts="OVERWRITE"
    )["update"]
    assert update["type"] == "AddonUpdate"
    assert {"type": "AddonVersion", "value": older["addonVersion"]} in update["params"]
    assert (
        eks.describe_update(name=name, updateId=update["id"], addonName="coredns")["update"]["status"] == "Successful"
    )
    assert eks.describe_addon(clusterName=name, addonName="coredns")["addon"]["addonVersion"] == older["addonVersion"]

    assert eks.delete_addon(clusterName=name, addonName="coredns")["addon"]["status"] == "DELETING"
    error("ResourceNotFoundException", 404, eks.describe_addon, clusterName=name, addonName="coredns")
    assert eks.list_addons(clusterName=name)["addons"] == ["vpc-cni"]


def test_addon_errors(aws: Aws, eks: Any) -> None:
    name = new_cluster(aws, version="1.31")["name"]
    eks.create_addon(clusterName=name, addonName="kube-proxy")
    error("ResourceInUseException", 409, eks.create_addon, clusterName=name, addonName="kube-proxy")
    error("InvalidParameterException", 400, eks.create_addon, clusterName=name, addonName="not-an-addon")
    error(
        "InvalidParameterException",
        400,
        eks.create_addon,
        clusterName=name,
        addonName="vpc-cni",
        addonVersion="v1.21.1-eksbuild.3",
    )
    error(
        "InvalidParameterException",
        400,
        eks.update_addon,
        clusterName=name,
        addonName="kube-proxy",
        addonVersion="v1.32.0-eksbuild.1",
    )
    error("ResourceNotFoundException", 404, eks.describe_addon, clusterName=name, addonName="coredns")
    message = error("ResourceNotFoundException", 404, eks.create_addon, clusterName="missing", addonName="coredns")
    assert message == "No cluster found for name: missing."
    error("ResourceNotFoundException", 404, eks.list_addons, clusterName="missing")


def test_addon_pod_identity_associations(aws: Aws, eks: Any) -> None:
    name = new_cluster(aws)["name"]
    addon = eks.create_addon(
        clusterName=name,
        addonName="aws-ebs-csi-driver",
        podIdentityAssociations=[{"serviceAccount": "ebs-csi-controller-sa", "roleArn": ROLE}],
    )["addon"]
    [summary] = eks.list_pod_identity_associations(clusterName=name)["associations"]
    assert addon["podIdentityAssociations"] == [summary["associationArn"]]
    assert (summary["namespace"], summary["serviceAccount"], summary["ownerArn"]) == (
        "kube-system",
        "ebs-csi-controller-sa",
        addon["addonArn"],
    )
    error(
        "ResourceInUseException",
        409,
        eks.create_pod_identity_association,
        clusterName=name,
        namespace="kube-system",
        serviceAccount="ebs-csi-controller-sa",
        roleArn=ROLE,
    )

    eks.delete_addon(clusterName=name, addonName="aws-ebs-csi-driver")
    assert eks.list_pod_identity_associations(clusterName=name)["associations"] == []


# --- Access entries ---------------------------------------------------------------------------


def test_access_entry_lifecycle(aws: Aws, eks: Any) -> None:
    name = new_cluster(aws)["name"]
    role = f"arn:aws:iam::{ACCOUNT}:role/team/developers"
    entry = eks.create_access_entry(clusterName=name, principalArn=role, kubernetesGroups=["devs"], tags={"k": "v"})[
        "accessEntry"
    ]
    assert entry["type"] == "STANDARD"
    assert entry["username"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/developers/{{{{SessionName}}}}"
    assert re.fullmatch(
        rf"arn:aws:eks:us-east-1:{ACCOUNT}:access-entry/{name}/role/{ACCOUNT}/developers/[0-9a-f-]{{36}}",
        entry["accessEntryArn"],
    )
    assert eks.describe_access_entry(clusterName=name, principalArn=role)["accessEntry"] == entry
    error("ResourceInUseException", 409, eks.create_access_entry, clusterName=name, principalArn=role)
    error("InvalidParameterException", 400, eks.create_access_entry, clusterName=name, principalArn="not-an-arn")

    node_role = f"arn:aws:iam::{ACCOUNT}:role/nodes"
    node_entry = eks.create_access_entry(clusterName=name, principalArn=node_role, type="EC2_LINUX")["accessEntry"]
    assert node_entry["username"] == "system:node:{{EC2PrivateDNSName}}"

    updated = eks.update_access_entry(clusterName=name, principalArn=role, kubernetesGroups=["admins"], username="dev")[
        "accessEntry"
    ]
    assert (updated["kubernetesGroups"], updated["username"], updated["createdAt"]) == (
        ["admins"],
        "dev",
        entry["createdAt"],
    )

    associated = eks.associate_access_policy(
        clusterName=name, principalArn=role, policyArn=VIEW, accessScope={"type": "namespace", "namespaces": ["apps"]}
    )
    assert (associated["clusterName"], associated["principalArn"]) == (name, role)
    assert associated["associatedAccessPolicy"]["accessScope"] == {"type": "namespace", "namespaces": ["apps"]}
    error(
        "InvalidParameterException",
        400,
        eks.associate_access_policy,
        clusterName=name,
        principalArn=role,
        policyArn=VIEW + "X",
        accessScope={"type": "cluster"},
    )
    error(
        "InvalidParameterException",
        400,
        eks.associate_access_policy,
        clusterName=name,
        principalArn=role,
        policyArn=VIEW,
        accessScope={"type": "namespace"},
    )
    listed = eks.list_associated_access_policies(clusterName=name, principalArn=role)
    assert [p["policyArn"] for p in listed["associatedAccessPolicies"]] == [VIEW]
    assert eks.list_access_entries(clusterName=name, associatedPolicyArn=VIEW)["accessEntries"] == [role]
    assert sorted(eks.list_access_entries(clusterName=name)["accessEntries"]) == sorted(
        [role, node_role, f"arn:aws:iam::{ACCOUNT}:user/moto"]
    )

    eks.disassociate_access_policy(clusterName=name, principalArn=role, policyArn=VIEW)
    error(
        "ResourceNotFoundException",
        404,
        eks.disassociate_access_policy,
        clusterName=name,
        principalArn=role,
        policyArn=VIEW,
    )
    assert eks.list_access_entries(clusterName=name, associatedPolicyArn=VIEW)["accessEntries"] == []

    eks.delete_access_entry(clusterName=name, principalArn=role)
    error("ResourceNotFoundException", 404, eks.describe_access_entry, clusterName=name, principalArn=role)
    error("ResourceNotFoundException", 404, eks.delete_access_entry, clusterName=name, principalArn=role)


def test_access_entries_need_the_api_authentication_mode(aws: Aws, eks: Any) -> None:
    name = new_cluster(aws, accessConfig={"authenticationMode": "CONFIG_MAP"})["name"]
    assert eks.list_access_entries(clusterName=name)["accessEntries"] == []
    error("InvalidRequestException", 400, eks.create_access_entry, clusterName=name, principalArn=ROLE)


def test_list_access_policies(eks: Any) -> None:
    policies = eks.list_access_policies()["accessPolicies"]
    assert {p["name"]: p["arn"] for p in policies} == {
        name: f"arn:aws:eks::aws:cluster-access-policy/{name}"
        for name in (
            "AmazonEKSClusterAdminPolicy",
            "AmazonEKSAdminPolicy",
            "AmazonEKSEditPolicy",
            "AmazonEKSViewPolicy",
        )
    }


# --- Pod Identity associations ----------------------------------------------------------------


def test_pod_identity_association_lifecycle(aws: Aws, eks: Any) -> None:
    name = new_cluster(aws)["name"]
    association = eks.create_pod_identity_association(
        clusterName=name, namespace="keda", serviceAccount="keda-operator", roleArn=ROLE, tags={"app": "keda"}
    )["association"]
    association_id = association["associationId"]
    assert re.fullmatch(r"a-[a-z0-9]{17}", association_id)
    assert (
        association["associationArn"]
        == f"arn:aws:eks:us-east-1:{ACCOUNT}:podidentityassociation/{name}/{association_id}"
    )
    assert "ownerArn" not in association
    assert (
        eks.describe_pod_identity_association(clusterName=name, associationId=association_id)["association"]
        == association
    )
    error(
        "ResourceInUseException",
        409,
        eks.create_pod_identity_association,
        clusterName=name,
        namespace="keda",
        serviceAccount="keda-operator",
        roleArn=ROLE,
    )

    eks.create_pod_identity_association(clusterName=name, namespace="apps", serviceAccount="worker", roleArn=ROLE)
    assert len(eks.list_pod_identity_associations(clusterName=name)["associations"]) == 2
    [only] = eks.list_pod_identity_associations(clusterName=name, namespace="keda")["associations"]
    assert only == {
        key: association[key]
        for key in ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId")
    }
    assert eks.list_pod_identity_associations(clusterName=name, serviceAccount="nobody")["associations"] == []

    other_role = f"arn:aws:iam::{ACCOUNT}:role/other"
    updated = eks.update_pod_identity_association(clusterName=name, associationId=association_id, roleArn=other_role)[
        "association"
    ]
    assert updated["roleArn"] == other_role
    assert (
        eks.delete_pod_identity_association(clusterName=name, associationId=association_id)["association"]["roleArn"]
        == other_role
    )
    error(
        "ResourceNotFoundException",
        404,
        eks.describe_pod_identity_association,
        clusterName=name,
        associationId=association_id,
    )


# --- Tags -------------------------------------------------------------------------------------


def test_tags_on_every_resource_type(aws: Aws, eks: Any) -> None:
    cluster = new_cluster(aws)
    name = cluster["name"]
    arns = [
        cluster["arn"],
        new_nodegroup(aws, cluster, tags={"initial": "yes"})["nodegroupArn"],
        eks.create_addon(clusterName=name, addonName="coredns", tags={"initial": "yes"})["addon"]["addonArn"],
        eks.create_access_entry(clusterName=name, principalArn=ROLE, tags={"initial": "yes"})["accessEntry"][
            "accessEntryArn"
        ],
        eks.create_pod_identity_association(
            clusterName=name, namespace="a", serviceAccount="b", roleArn=ROLE, tags={"initial": "yes"}
        )["association"]["associationArn"],
    ]
    for arn in arns:
        eks.tag_resource(resourceArn=arn, tags={"owner": "eksscale", "initial": "yes"})
        assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"owner": "eksscale", "initial": "yes"}, arn
        eks.untag_resource(resourceArn=arn, tagKeys=["initial"])
        assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"owner": "eksscale"}, arn
    nodegroup = eks.describe_nodegroup(clusterName=name, nodegroupName=arns[1].split("/")[2])["nodegroup"]
    assert nodegroup["tags"] == {"owner": "eksscale"}
    error(
        "NotFoundException",
        404,
        eks.list_tags_for_resource,
        resourceArn=f"arn:aws:eks:us-east-1:{ACCOUNT}:addon/{name}/nope/x",
    )


# --- Failure injection ------------------------------------------------------------------------


def test_failure_tag_fails_clusters_node_groups_and_addons(aws: Aws, eks: Any) -> None:
    failed = new_cluster(aws, tags={FAIL_TAG: "control plane exploded"})
    assert failed["status"] == "FAILED"
    assert failed["health"]["issues"] == [{"code": "InternalFailure", "message": "control plane exploded"}]
    error("InvalidRequestException", 400, eks.create_addon, clusterName=failed["name"], addonName="coredns")
    eks.delete_cluster(name=failed["name"])
    assert failed["name"] not in eks.list_clusters()["clusters"]

    cluster = new_cluster(aws)
    nodegroup = new_nodegroup(aws, cluster, tags={FAIL_TAG: "no capacity"})
    assert (nodegroup["status"], nodegroup["health"]["issues"][0]["message"]) == ("CREATE_FAILED", "no capacity")
    addon = eks.create_addon(clusterName=cluster["name"], addonName="coredns", tags={FAIL_TAG: "crash loop"})["addon"]
    assert (addon["status"], addon["health"]["issues"]) == (
        "CREATE_FAILED",
        [{"code": "InternalFailure", "message": "crash loop"}],
    )


# --- Lifecycle timing -------------------------------------------------------------------------


def test_resources_are_creating_then_active(timed_endpoint: str) -> None:
    aws = Aws(timed_endpoint)
    eks = aws.client("eks")
    cluster = new_cluster(aws)
    name = cluster["name"]
    assert cluster["status"] == "CREATING"
    assert eks.describe_cluster(name=name)["cluster"]["status"] == "CREATING"
    error(
        "InvalidRequestException",
        400,
        eks.create_nodegroup,
        clusterName=name,
        nodegroupName="early",
        nodeRole=ROLE,
        subnets=["subnet-1"],
    )
    wait_for(lambda: eks.describe_cluster(name=name)["cluster"]["status"] == "ACTIVE")

    nodegroup = new_nodegroup(aws, cluster)["nodegroupName"]
    addon = eks.create_addon(clusterName=name, addonName="coredns")["addon"]
    assert addon["status"] == "CREATING"
    assert eks.describe_nodegroup(clusterName=name, nodegroupName=nodegroup)["nodegroup"]["status"] == "CREATING"
    wait_for(
        lambda: eks.describe_nodegroup(clusterName=name, nodegroupName=nodegroup)["nodegroup"]["status"] == "ACTIVE"
    )
    wait_for(lambda: eks.describe_addon(clusterName=name, addonName="coredns")["addon"]["status"] == "ACTIVE")


def test_node_group_version_update_takes_time(timed_endpoint: str) -> None:
    aws = Aws(timed_endpoint)
    eks = aws.client("eks")
    cluster = new_cluster(aws, version="1.33")
    name = cluster["name"]
    error("InvalidRequestException", 400, eks.update_nodegroup_version, clusterName=name, nodegroupName="early")
    wait_for(lambda: eks.describe_cluster(name=name)["cluster"]["status"] == "ACTIVE")
    nodegroup = new_nodegroup(aws, cluster, version="1.32")
    ng = nodegroup["nodegroupName"]
    assert "CREATING" in error(
        "ResourceInUseException", 409, eks.update_nodegroup_version, clusterName=name, nodegroupName=ng
    )
    wait_for(lambda: eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]["status"] == "ACTIVE")

    update = eks.update_nodegroup_version(clusterName=name, nodegroupName=ng)["update"]
    assert update["status"] == "InProgress"
    during = eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]
    assert (during["status"], during["version"], during["releaseVersion"]) == (
        "UPDATING",
        "1.32",
        nodegroup["releaseVersion"],
    )
    assert eks.describe_update(name=name, updateId=update["id"], nodegroupName=ng)["update"]["status"] == "InProgress"
    assert "UPDATING" in error(
        "ResourceInUseException", 409, eks.update_nodegroup_version, clusterName=name, nodegroupName=ng
    )
    wait_for(lambda: eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]["status"] == "ACTIVE")
    after = eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]
    assert after["version"] == "1.33" and after["releaseVersion"].startswith("1.33.")
    assert eks.describe_update(name=name, updateId=update["id"], nodegroupName=ng)["update"]["status"] == "Successful"


def test_deleted_resources_linger_as_deleting(timed_endpoint: str) -> None:
    aws = Aws(timed_endpoint)
    eks = aws.client("eks")
    name = new_cluster(aws, tags={FAIL_TAG: "boom"})["name"]
    wait_for(lambda: eks.describe_cluster(name=name)["cluster"]["status"] == "FAILED")
    eks.delete_cluster(name=name)
    assert eks.describe_cluster(name=name)["cluster"]["status"] == "DELETING"
    assert name in eks.list_clusters()["clusters"]
    wait_for(lambda: name not in eks.list_clusters()["clusters"])

    cluster = new_cluster(aws)
    name = cluster["name"]
    wait_for(lambda: eks.describe_cluster(name=name)["cluster"]["status"] == "ACTIVE")
    nodegroup = new_nodegroup(aws, cluster)["nodegroupName"]
    eks.delete_nodegroup(clusterName=name, nodegroupName=nodegroup)
    assert eks.describe_nodegroup(clusterName=name, nodegroupName=nodegroup)["nodegroup"]["status"] == "DELETING"
    error("ResourceInUseException", 409, eks.delete_cluster, name=name)
    wait_for(lambda: eks.list_nodegroups(clusterName=name)["nodegroups"] == [])
    eks.create_addon(clusterName=name, addonName="coredns")
    eks.delete_addon(clusterName=name, addonName="coredns")
    assert eks.describe_addon(clusterName=name, addonName="coredns")["addon"]["status"] == "DELETING"
    wait_for(lambda: eks.list_addons(clusterName=name)["addons"] == [])
