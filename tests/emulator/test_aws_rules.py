"""Tests for the AWS rules layer (aws_rules.py): server.py run as a subprocess, driven with boto3.

Each rule is shown refusing a request the way real AWS does and accepting the corrected one.
Helpers (clients with the EKS shape checks, server start-up) come from test_emulator.py.
"""

from __future__ import annotations

import html
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.utils import get_service_model
from moto.ec2.models import ec2_backends

from aws_rules import (
    SQS_ERRORS,
    Balancer,
    Request,
    RulesConfig,
    ami_needs,
    batch_entry_bytes,
    check_client_request_token,
    ec2_referenced_ids,
    federated_principals,
    instance_type_fits,
    sqs_call,
    vpc_dependents,
)
from test_emulator import ACCOUNT, NO_DELAYS, ROLE, Aws, error, new_cluster, new_subnets, running_server

IAM_SECONDS = 1.5
EC2_SECONDS = 1.0
TRUST_EC2 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
# aws-smithy's THROTTLING_ERRORS (aws-runtime retries/classifiers.rs), and its transient HTTP statuses.
RETRYABLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
}
TRANSIENT_STATUSES = {500, 502, 503, 504}


# --- Servers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Rules on, no propagation delays: for the rules that refuse a request whatever the timing."""
    with running_server(tmp_path_factory.mktemp("rules"), NO_DELAYS) as url:
        yield url


@pytest.fixture(scope="module")
def delayed_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Rules on with short IAM and EC2 propagation delays (rules 5 and 6)."""
    settings = {
        "EMULATOR_IAM_PROPAGATION_SECONDS": str(IAM_SECONDS),
        "EMULATOR_EC2_CONSISTENCY_SECONDS": str(EC2_SECONDS),
    }
    with running_server(tmp_path_factory.mktemp("delayed"), settings) as url:
        yield url


@pytest.fixture
def aws(rules_endpoint: str) -> Aws:
    return Aws(rules_endpoint)


@pytest.fixture
def eks(aws: Aws) -> Any:
    return aws.client("eks")


def stats(endpoint: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint}/_emulator/stats") as response:
        return json.load(response)


def new_role(aws: Aws, trust: dict[str, Any] = TRUST_EC2) -> str:
    name = f"r-{uuid.uuid4().hex[:10]}"
    return aws.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def token(length: int) -> str:
    return (uuid.uuid4().hex * 4)[:length]


def new_nodegroup(aws: Aws, cluster: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """test_emulator's helper, with the name and node role overridable."""
    defaults = {
        "nodegroupName": f"ng-{uuid.uuid4().hex[:6]}",
        "nodeRole": ROLE,
        "subnets": cluster["resourcesVpcConfig"]["subnetIds"],
    }
    return aws.client("eks").create_nodegroup(clusterName=cluster["name"], **(defaults | kwargs))["nodegroup"]


def settled_subnets(aws: Aws) -> list[str]:
    """Two subnets in a new VPC, each used only once EC2 has propagated what it names (rule 6)."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    time.sleep(EC2_SECONDS)
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    time.sleep(EC2_SECONDS)
    return subnets


# --- Rule 1: clientRequestToken -----------------------------------------------------------------


def test_token_length_is_checked_as_a_unit() -> None:
    check_client_request_token(None)
    check_client_request_token(token(33))
    check_client_request_token(token(126))
    for bad in (token(32), token(127), ""):
        with pytest.raises(Exception) as raised:
            check_client_request_token(bad)
        assert getattr(raised.value, "status", None) == 400


def test_client_request_token_must_be_33_to_126_characters(aws: Aws, eks: Any) -> None:
    _, subnets = new_subnets(aws)
    create = {"version": "1.33", "roleArn": ROLE, "resourcesVpcConfig": {"subnetIds": subnets}}
    for bad in (token(17), token(127)):
        message = error(
            "InvalidParameterException",
            400,
            eks.create_cluster,
            name=f"c-{uuid.uuid4().hex[:8]}",
            clientRequestToken=bad,
            **create,
        )
        assert message == "The client request token parameter must be between 33 and 126 characters."
    cluster = eks.create_cluster(name=f"c-{uuid.uuid4().hex[:8]}", clientRequestToken=token(33), **create)["cluster"]
    assert cluster["status"] == "ACTIVE"

    name = cluster["name"]
    error(
        "InvalidParameterException",
        400,
        eks.create_addon,
        clusterName=name,
        addonName="coredns",
        clientRequestToken="short",
    )
    error("InvalidParameterException", 400, new_nodegroup, aws, cluster, clientRequestToken="eksscale-0123abcd")
    error(
        "InvalidParameterException",
        400,
        eks.create_access_entry,
        clusterName=name,
        principalArn=ROLE,
        clientRequestToken="x",
    )
    assert eks.create_addon(clusterName=name, addonName="coredns", clientRequestToken=token(126))["addon"]


def test_a_retried_create_with_the_same_token_is_idempotent(aws: Aws, eks: Any) -> None:
    _, subnets = new_subnets(aws)
    name, same = f"c-{uuid.uuid4().hex[:8]}", token(40)
    create = {"name": name, "version": "1.33", "roleArn": ROLE, "resourcesVpcConfig": {"subnetIds": subnets}}
    first = eks.create_cluster(clientRequestToken=same, **create)["cluster"]
    again = eks.create_cluster(clientRequestToken=same, **create)["cluster"]
    assert (again["arn"], again["createdAt"]) == (first["arn"], first["createdAt"])
    assert eks.list_clusters()["clusters"].count(name) == 1
    # Another token for the same name is a second create: moto's ResourceInUseException.
    error("ResourceInUseException", 409, eks.create_cluster, clientRequestToken=token(40), **create)
    # The same token with other parameters.
    error(
        "InvalidParameterException", 400, eks.create_cluster, clientRequestToken=same, **(create | {"version": "1.32"})
    )

    addon_token = token(36)
    addon = eks.create_addon(clusterName=name, addonName="coredns", clientRequestToken=addon_token)["addon"]
    assert (
        eks.create_addon(clusterName=name, addonName="coredns", clientRequestToken=addon_token)["addon"]["addonArn"]
        == addon["addonArn"]
    )
    error(
        "InvalidParameterException",
        400,
        eks.create_addon,
        clusterName=name,
        addonName="coredns",
        clientRequestToken=addon_token,
        tags={"changed": "yes"},
    )

    ng_token = token(50)
    nodegroup = new_nodegroup(aws, first, nodegroupName="workers", clientRequestToken=ng_token)
    assert (
        new_nodegroup(aws, first, nodegroupName="workers", clientRequestToken=ng_token)["nodegroupArn"]
        == nodegroup["nodegroupArn"]
    )

    # Once the resource is gone, the token creates anew (the emulator's choice; see README).
    eks.delete_nodegroup(clusterName=name, nodegroupName="workers")
    again = new_nodegroup(aws, first, nodegroupName="workers", clientRequestToken=ng_token)
    assert again["nodegroupArn"] != nodegroup["nodegroupArn"]


# --- Rules 2 and 3: AMI types -------------------------------------------------------------------


def test_ami_needs_and_instance_data_as_units() -> None:
    assert ami_needs("CUSTOM") is None
    standard = ami_needs("AL2023_x86_64_STANDARD")
    arm = ami_needs("AL2023_ARM_64_STANDARD")
    nvidia = ami_needs("AL2023_x86_64_NVIDIA")
    neuron = ami_needs("AL2023_x86_64_NEURON")
    assert standard is not None and arm is not None and nvidia is not None and neuron is not None
    assert instance_type_fits("t3.medium", standard) and not instance_type_fits("t4g.medium", standard)
    assert instance_type_fits("m7g.large", arm) and not instance_type_fits("m5.large", arm)
    assert instance_type_fits("g5.xlarge", standard)  # a GPU instance with a standard AMI is allowed
    assert instance_type_fits("g5.xlarge", nvidia) and instance_type_fits("p4d.24xlarge", nvidia)
    assert not instance_type_fits("m5.large", nvidia) and not instance_type_fits("inf2.xlarge", nvidia)
    assert instance_type_fits("inf2.xlarge", neuron) and instance_type_fits("trn1.2xlarge", neuron)
    bottlerocket_arm_gpu = ami_needs("BOTTLEROCKET_ARM_64_NVIDIA")
    assert bottlerocket_arm_gpu is not None and instance_type_fits("g5g.xlarge", bottlerocket_arm_gpu)
    assert not instance_type_fits("x9.nonexistent", standard)


def test_ami_type_must_fit_the_instance_types(aws: Aws, eks: Any) -> None:
    cluster = new_cluster(aws, version="1.33")
    name = cluster["name"]
    assert new_nodegroup(aws, cluster)["amiType"] == "AL2023_x86_64_STANDARD"  # EKS's default since 1.30
    assert (
        error("InvalidParameterException", 400, new_nodegroup, aws, cluster, instanceTypes=["t4g.medium"])
        == "[t4g.medium] is not a valid instance type for requested amiType AL2023_x86_64_STANDARD"
    )
    assert (
        error(
            "InvalidParameterException",
            400,
            new_nodegroup,
            aws,
            cluster,
            amiType="AL2023_ARM_64_STANDARD",
            instanceTypes=["m7g.large", "m5.large", "t3.medium"],
        )
        == "[m5.large, t3.medium] is not a valid instance type for requested amiType AL2023_ARM_64_STANDARD"
    )
    arm = new_nodegroup(aws, cluster, amiType="AL2023_ARM_64_STANDARD", instanceTypes=["t4g.medium", "m7g.large"])
    described = eks.describe_nodegroup(clusterName=name, nodegroupName=arm["nodegroupName"])["nodegroup"]
    assert (described["amiType"], described["instanceTypes"]) == ("AL2023_ARM_64_STANDARD", ["t4g.medium", "m7g.large"])

    new_nodegroup(aws, cluster, instanceTypes=["g5.xlarge"])  # GPU instances run the standard AMI too
    error("InvalidParameterException", 400, new_nodegroup, aws, cluster, amiType="AL2023_x86_64_NVIDIA")
    assert new_nodegroup(aws, cluster, amiType="AL2023_x86_64_NVIDIA", instanceTypes=["g5.xlarge"])["amiType"] == (
        "AL2023_x86_64_NVIDIA"
    )
    new_nodegroup(aws, cluster, amiType="BOTTLEROCKET_ARM_64_NVIDIA", instanceTypes=["g5g.xlarge"])
    new_nodegroup(aws, cluster, amiType="AL2023_x86_64_NEURON", instanceTypes=["inf2.xlarge"])
    error("InvalidParameterException", 400, new_nodegroup, aws, cluster, amiType="AL2023_x86_64_NEURON")
    assert "[m99.large]" in error(
        "InvalidParameterException", 400, new_nodegroup, aws, cluster, instanceTypes=["m99.large"]
    )


def test_custom_ami_type_needs_a_launch_template_image(aws: Aws, eks: Any) -> None:
    ec2 = aws.client("ec2")
    cluster = new_cluster(aws, version="1.33")
    error("InvalidParameterException", 400, new_nodegroup, aws, cluster, amiType="CUSTOM")
    plain = ec2.create_launch_template(LaunchTemplateName=f"lt-{uuid.uuid4().hex[:8]}", LaunchTemplateData={})
    plain_id = plain["LaunchTemplate"]["LaunchTemplateId"]
    error(
        "InvalidParameterException", 400, new_nodegroup, aws, cluster, amiType="CUSTOM", launchTemplate={"id": plain_id}
    )

    data = {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m7g.large"}
    custom = ec2.create_launch_template(LaunchTemplateName=f"lt-{uuid.uuid4().hex[:8]}", LaunchTemplateData=data)
    custom_id = custom["LaunchTemplate"]["LaunchTemplateId"]
    nodegroup = new_nodegroup(aws, cluster, launchTemplate={"id": custom_id, "version": "1"})
    assert nodegroup["amiType"] == "CUSTOM"  # EKS's amiType for a launch template with its own image
    assert nodegroup["launchTemplate"]["id"] == custom_id
    # With an AMI type, the launch template's instance type must fit it (an arm64 type here).
    assert "[m7g.large]" in error(
        "InvalidParameterException",
        400,
        new_nodegroup,
        aws,
        cluster,
        amiType="AL2023_x86_64_STANDARD",
        launchTemplate={"id": plain_id},
        instanceTypes=["m7g.large"],
    )


def test_al2_ami_types_are_refused_from_kubernetes_1_33(aws: Aws, eks: Any) -> None:
    cluster = new_cluster(aws, version="1.33")
    for ami_type in ("AL2_x86_64", "AL2_ARM_64", "AL2_x86_64_GPU"):
        instance = {"AL2_x86_64": "t3.medium", "AL2_ARM_64": "t4g.medium", "AL2_x86_64_GPU": "g5.xlarge"}[ami_type]
        assert (
            error(
                "InvalidParameterException",
                400,
                new_nodegroup,
                aws,
                cluster,
                amiType=ami_type,
                instanceTypes=[instance],
            )
            == f"AMI Type {ami_type} is only supported for kubernetes versions 1.32 or earlier"
        )
    old = new_nodegroup(aws, cluster, version="1.32", amiType="AL2_x86_64")
    assert old["amiType"] == "AL2_x86_64"
    assert new_nodegroup(aws, cluster, version="1.29")["amiType"] == "AL2_x86_64"  # the default before 1.30
    assert "only supported for kubernetes versions 1.32" in error(
        "InvalidParameterException",
        400,
        eks.update_nodegroup_version,
        clusterName=cluster["name"],
        nodegroupName=old["nodegroupName"],
        version="1.33",
    )


# --- Rule 4: zones ------------------------------------------------------------------------------


def test_moto_zone_ids_and_instance_type_offerings(aws: Aws) -> None:
    """What the rules rely on in moto's EC2 data (us-east-1e is use1-az3, which EKS does not support)."""
    ec2 = aws.client("ec2")
    zones = {z["ZoneName"]: z["ZoneId"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    assert zones["us-east-1e"] == "use1-az3"
    offered = ec2.describe_instance_type_offerings(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": ["m7g.large", "g5.xlarge"]}]
    )["InstanceTypeOfferings"]
    where = {(o["InstanceType"], o["Location"]) for o in offered}
    assert ("m7g.large", "us-east-1a") in where and ("g5.xlarge", "us-east-1a") in where
    assert not any(location == "us-east-1e" for _, location in where)


def test_create_cluster_refuses_zones_eks_does_not_support(aws: Aws, eks: Any) -> None:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        zone: ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("abe")
    }
    name = f"c-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as raised:
        eks.create_cluster(
            name=name, version="1.33", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [subnets["a"], subnets["e"]]}
        )
    response = raised.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "UnsupportedAvailabilityZoneException",
        400,
    )
    assert response["Error"]["Message"] == (
        f"Cannot create cluster '{name}' because us-east-1e, the targeted availability zone, does not currently "
        "have sufficient capacity to support the cluster. Retry and choose from these availability zones: "
        "us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1f"
    )
    assert response["validZones"] == ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"]
    assert response["clusterName"] == name
    cluster = eks.create_cluster(
        name=name, version="1.33", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [subnets["a"], subnets["b"]]}
    )["cluster"]
    assert cluster["status"] == "ACTIVE"


# --- Rule 5: IAM propagation --------------------------------------------------------------------


def test_a_new_role_is_not_usable_by_eks_at_once(delayed_endpoint: str) -> None:
    aws = Aws(delayed_endpoint)
    eks = aws.client("eks")
    subnets = settled_subnets(aws)
    role = new_role(aws)
    create = {"name": f"c-{uuid.uuid4().hex[:8]}", "version": "1.33", "resourcesVpcConfig": {"subnetIds": subnets}}
    assert error("InvalidParameterException", 400, eks.create_cluster, roleArn=role, **create) == (
        f"Role with arn: {role}, could not be assumed because it does not exist or the trusted entity is not correct"
    )
    assert eks.create_cluster(roleArn=ROLE, **create)["cluster"]  # a role IAM has no record of is not checked
    cluster = eks.describe_cluster(name=create["name"])["cluster"]

    node_role = new_role(aws)
    assert error("InvalidParameterException", 400, new_nodegroup, aws, cluster, nodeRole=node_role) == (
        "Following required service principals [ec2.amazonaws.com] were not found in the trust relationships "
        f"of nodeRole {node_role}"
    )
    pod_role = new_role(aws)
    association = {"clusterName": cluster["name"], "namespace": "apps", "serviceAccount": "app", "roleArn": pod_role}
    assert error("InvalidParameterException", 400, eks.create_pod_identity_association, **association) == (
        "Role provided in the request does not exist."
    )
    error(
        "InvalidParameterException",
        400,
        eks.create_addon,
        clusterName=cluster["name"],
        addonName="aws-ebs-csi-driver",
        serviceAccountRoleArn=pod_role,
    )
    time.sleep(IAM_SECONDS)
    assert new_nodegroup(aws, cluster, nodeRole=node_role)["nodeRole"] == node_role
    assert eks.create_pod_identity_association(**association)["association"]["roleArn"] == pod_role


def test_a_new_oidc_provider_is_not_a_valid_principal_at_once(delayed_endpoint: str) -> None:
    aws = Aws(delayed_endpoint)
    iam = aws.client("iam")
    issuer = f"oidc.eks.us-east-1.amazonaws.com/id/{uuid.uuid4().hex.upper()}"
    provider = iam.create_open_id_connect_provider(
        Url=f"https://{issuer}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )["OpenIDConnectProviderArn"]

    def trust(federated: str | list[str]) -> str:
        statement = {
            "Effect": "Allow",
            "Principal": {"Federated": federated},
            "Action": "sts:AssumeRoleWithWebIdentity",
        }
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    name = f"irsa-{uuid.uuid4().hex[:8]}"
    message = error(
        "MalformedPolicyDocument", 400, iam.create_role, RoleName=name, AssumeRolePolicyDocument=trust(provider)
    )
    assert message == f'Invalid principal in policy: "Federated":"{provider}"'
    time.sleep(IAM_SECONDS)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(provider))

    missing = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/{'0' * 32}"
    error("MalformedPolicyDocument", 400, iam.update_assume_role_policy, RoleName=name, PolicyDocument=trust([missing]))
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust([provider]))


def test_federated_principals_as_a_unit() -> None:
    policy = {
        "Statement": [{"Principal": {"Federated": ["a", "b"]}}, {"Principal": "*"}, {"Principal": {"Federated": "c"}}]
    }
    assert federated_principals(json.dumps(policy)) == ["a", "b", "c"]
    assert federated_principals("not json") == []


# --- Rule 6: EC2 eventual consistency -----------------------------------------------------------


def test_new_ec2_ids_are_not_found_for_a_moment(delayed_endpoint: str) -> None:
    aws = Aws(delayed_endpoint)
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    assert error("InvalidVpcID.NotFound", 400, ec2.create_subnet, VpcId=vpc, CidrBlock="10.0.1.0/24") == (
        f"The vpc ID '{vpc}' does not exist"
    )
    error("InvalidVpcID.NotFound", 400, ec2.describe_vpcs, VpcIds=[vpc])
    error("InvalidVpcID.NotFound", 400, ec2.create_tags, Resources=[vpc], Tags=[{"Key": "k", "Value": "v"}])
    # Finding by filter is not affected.
    assert [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"]] == [vpc]

    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    template = ec2.create_launch_template(LaunchTemplateName=f"lt-{uuid.uuid4().hex[:8]}", LaunchTemplateData={})
    template_id = template["LaunchTemplate"]["LaunchTemplateId"]
    error("InvalidInternetGatewayID.NotFound", 400, ec2.describe_internet_gateways, InternetGatewayIds=[igw])
    error("InvalidAllocationID.NotFound", 400, ec2.describe_addresses, AllocationIds=[allocation])
    error("InvalidLaunchTemplateId.NotFound", 400, ec2.describe_launch_template_versions, LaunchTemplateId=template_id)

    time.sleep(EC2_SECONDS)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    route_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    group = ec2.create_security_group(GroupName="g", Description="d", VpcId=vpc)["GroupId"]
    error("InvalidSubnetID.NotFound", 400, ec2.create_nat_gateway, SubnetId=subnet, AllocationId=allocation)
    error("InvalidRouteTableID.NotFound", 400, ec2.describe_route_tables, RouteTableIds=[route_table])
    error("InvalidGroup.NotFound", 400, ec2.describe_security_groups, GroupIds=[group])
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)

    time.sleep(EC2_SECONDS)
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    assert error("NatGatewayNotFound", 400, ec2.describe_nat_gateways, NatGatewayIds=[nat]) == (
        f"NAT gateway {nat} was not found."
    )

    # EKS passes EC2's answer on.
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    message = error(
        "InvalidParameterException",
        400,
        aws.client("eks").create_cluster,
        name=f"c-{uuid.uuid4().hex[:8]}",
        version="1.33",
        roleArn=ROLE,
        resourcesVpcConfig={"subnetIds": [subnet, other]},
    )
    assert message.startswith(f"The subnet ID '{other}' does not exist (Service: AmazonEC2; Status Code: 400; ")
    assert "Error Code: InvalidSubnetID.NotFound" in message

    time.sleep(EC2_SECONDS)
    assert ec2.describe_subnets(SubnetIds=[subnet, other])["Subnets"]
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"]


def test_referenced_ids_skip_filters_and_tags() -> None:
    params = {"Action": "CreateTags", "ResourceId.1": "vpc-1", "Tag.1.Value": "vpc-2", "Filter.1.Value.1": "vpc-3"}
    assert ec2_referenced_ids(params) == ["vpc-1"]


# --- Rule 10: EC2 dependencies ------------------------------------------------------------------


def dependency_violation(call: Any, **kwargs: Any) -> str:
    return error("DependencyViolation", 400, call, **kwargs)


def new_vpc(ec2: Any, zones: str = "a") -> tuple[str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(zones)
    ]
    return vpc, subnets


def new_group(ec2: Any, vpc: str, name: str = "g") -> str:
    return ec2.create_security_group(GroupName=f"{name}-{uuid.uuid4().hex[:6]}", Description="d", VpcId=vpc)["GroupId"]


def classic_elb(aws: Aws, subnet: str, group: str, **kwargs: Any) -> str:
    name = f"clb-{uuid.uuid4().hex[:8]}"
    listener = {"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 80}
    aws.client("elb").create_load_balancer(
        LoadBalancerName=name, Listeners=[listener], Subnets=[subnet], SecurityGroups=[group], **kwargs
    )
    return name


def test_moto_classic_elb_makes_no_interfaces_but_a_security_group_that_outlives_it(aws: Aws) -> None:
    """What moto 5.2.5 does for a classic ELB in a VPC (reported, not changed): no network interfaces at all; without
    SecurityGroups a new group ``default_elb_<uuid>`` in that VPC, left behind when the load balancer is deleted.
    Real ELB puts requester-managed interfaces in the subnets and, in a nondefault VPC, uses the VPC's default group
    (Classic Load Balancers guide, "Configure security groups for your Classic Load Balancer")."""
    ec2, elb = aws.client("ec2"), aws.client("elb")
    vpc, [subnet] = new_vpc(ec2)
    listener = {"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 80}
    elb.create_load_balancer(LoadBalancerName="moto-defaults", Listeners=[listener], Subnets=[subnet])
    in_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    assert ec2.describe_network_interfaces(Filters=in_vpc)["NetworkInterfaces"] == []
    groups = {g["GroupName"]: g["GroupId"] for g in ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"]}
    [made] = [name for name in groups if name.startswith("default_elb_")]
    [described] = elb.describe_load_balancers(LoadBalancerNames=["moto-defaults"])["LoadBalancerDescriptions"]
    assert described["SecurityGroups"] == [groups[made]]
    elb.delete_load_balancer(LoadBalancerName="moto-defaults")
    left = {g["GroupName"] for g in ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"]}
    assert made in left  # so it blocks DeleteVpc until deleted (rule 10)
    ec2.delete_subnet(SubnetId=subnet)
    dependency_violation(ec2.delete_vpc, VpcId=vpc)
    ec2.delete_security_group(GroupId=groups[made])
    ec2.delete_vpc(VpcId=vpc)


def test_delete_vpc_is_refused_while_anything_depends_on_it(aws: Aws) -> None:
    ec2 = aws.client("ec2")

    vpc, [subnet] = new_vpc(ec2)  # moto's own check, in EC2's words (moto's omit the quotes for route tables)
    assert dependency_violation(ec2.delete_vpc, VpcId=vpc) == f"The vpc '{vpc}' has dependencies and cannot be deleted."
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)

    vpc, _ = new_vpc(ec2, zones="")
    group = new_group(ec2, vpc)
    assert dependency_violation(ec2.delete_vpc, VpcId=vpc) == f"The vpc '{vpc}' has dependencies and cannot be deleted."
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)  # the default group goes with the VPC

    vpc, _ = new_vpc(ec2, zones="")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    dependency_violation(ec2.delete_vpc, VpcId=vpc)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_vpc(VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=igw)

    vpc, _ = new_vpc(ec2, zones="")
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    assert dependency_violation(ec2.delete_vpc, VpcId=vpc) == f"The vpc '{vpc}' has dependencies and cannot be deleted."
    ec2.delete_route_table(RouteTableId=table)
    ec2.delete_vpc(VpcId=vpc)  # the main route table goes with the VPC

    # A VPC that does not exist is moto's to answer.
    error("InvalidVpcID.NotFound", 400, ec2.delete_vpc, VpcId=vpc)


def test_vpc_interfaces_and_load_balancers_count_even_without_subnets() -> None:
    """Over the API a subnet always goes last (it cannot be deleted before its interfaces and load balancers), so
    the VPC-level check of those is shown on moto's objects directly."""
    with mock_aws():
        ec2_client = boto3.client("ec2", region_name="us-east-1")
        vpc, [subnet] = new_vpc(ec2_client)
        eni = ec2_client.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
        ec2 = ec2_backends[ACCOUNT]["us-east-1"]
        balancer = Balancer("lb", vpc, (subnet,), (), public=False)
        expected = [f"subnet {subnet}", f"network interface {eni}", "load balancer lb"]
        assert vpc_dependents(ec2, [balancer], vpc) == expected
        ec2.delete_subnet(subnet)  # moto's own backend, past the rules: the interface is left behind
        assert vpc_dependents(ec2, [], vpc) == [f"network interface {eni}"]


def test_delete_subnet_is_refused_while_interfaces_or_load_balancers_are_in_it(aws: Aws) -> None:
    ec2 = aws.client("ec2")
    vpc, [subnet, other] = new_vpc(ec2, zones="ab")
    group = new_group(ec2, vpc)

    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    assert dependency_violation(ec2.delete_subnet, SubnetId=subnet) == (
        f"The subnet '{subnet}' has dependencies and cannot be deleted."
    )
    ec2.delete_network_interface(NetworkInterfaceId=eni)

    clb = classic_elb(aws, subnet, group)
    dependency_violation(ec2.delete_subnet, SubnetId=subnet)
    aws.client("elb").delete_load_balancer(LoadBalancerName=clb)

    elbv2 = aws.client("elbv2")
    alb = elbv2.create_load_balancer(Name=f"alb-{uuid.uuid4().hex[:8]}", Subnets=[subnet, other])
    arn = alb["LoadBalancers"][0]["LoadBalancerArn"]
    dependency_violation(ec2.delete_subnet, SubnetId=other)
    elbv2.delete_load_balancer(LoadBalancerArn=arn)

    [instance] = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"]
    dependency_violation(ec2.delete_subnet, SubnetId=subnet)
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])  # its primary interface goes with it

    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_subnet(SubnetId=other)
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)


def test_delete_security_group_is_refused_while_used_or_referenced(aws: Aws) -> None:
    ec2 = aws.client("ec2")
    vpc, [subnet] = new_vpc(ec2)
    used, rules, lb_group = new_group(ec2, vpc, "used"), new_group(ec2, vpc, "rules"), new_group(ec2, vpc, "lb")

    eni = ec2.create_network_interface(SubnetId=subnet, Groups=[used])["NetworkInterface"]["NetworkInterfaceId"]
    assert dependency_violation(ec2.delete_security_group, GroupId=used) == f"resource {used} has a dependent object"
    ec2.delete_network_interface(NetworkInterfaceId=eni)

    for direction in ("ingress", "egress"):
        permission = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": used}]}
        getattr(ec2, f"authorize_security_group_{direction}")(GroupId=rules, IpPermissions=[permission])
        dependency_violation(ec2.delete_security_group, GroupId=used)
        getattr(ec2, f"revoke_security_group_{direction}")(GroupId=rules, IpPermissions=[permission])
    # A group's rules naming itself go with it.
    itself = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": rules}]}
    ec2.authorize_security_group_ingress(GroupId=rules, IpPermissions=[itself])
    ec2.delete_security_group(GroupId=rules)
    ec2.delete_security_group(GroupId=used)

    clb = classic_elb(aws, subnet, lb_group)
    dependency_violation(ec2.delete_security_group, GroupId=lb_group)
    aws.client("elb").delete_load_balancer(LoadBalancerName=clb)
    ec2.delete_security_group(GroupId=lb_group)


def test_detach_internet_gateway_is_refused_while_public_addresses_are_mapped(aws: Aws) -> None:
    """A VPC as eksscale builds it, torn down in the order real EC2 needs: every step is refused while what it
    depends on is still there, and the correctly ordered teardown goes through."""
    ec2 = aws.client("ec2")
    vpc, [public, private] = new_vpc(ec2, zones="ab")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    public_association = ec2.associate_route_table(RouteTableId=public_table, SubnetId=public)["AssociationId"]
    nat_address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=nat_address)["NatGateway"]["NatGatewayId"]
    private_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    private_association = ec2.associate_route_table(RouteTableId=private_table, SubnetId=private)["AssociationId"]
    group = new_group(ec2, vpc)
    clb = classic_elb(aws, public, group, Scheme="internet-facing")

    detach = {"InternetGatewayId": igw, "VpcId": vpc}
    assert dependency_violation(ec2.detach_internet_gateway, **detach) == (
        f"Network {vpc} has some mapped public address(es). Please unmap those public address(es) before detaching "
        "the gateway."
    )
    assert dependency_violation(ec2.delete_internet_gateway, InternetGatewayId=igw) == (
        f"The internetGateway '{igw}' has dependencies and cannot be deleted."
    )
    dependency_violation(ec2.delete_subnet, SubnetId=public)  # the NAT gateway's interface, the load balancer

    # The internet-facing load balancer maps public addresses; an internal one would not.
    aws.client("elb").delete_load_balancer(LoadBalancerName=clb)
    internal = classic_elb(aws, private, group, Scheme="internal")
    dependency_violation(ec2.detach_internet_gateway, **detach)  # the NAT gateway still

    # An Elastic IP on a plain interface maps one too, until disassociated.
    ec2.delete_nat_gateway(NatGatewayId=nat)
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["State"] == "deleted"
    ec2.release_address(AllocationId=nat_address)
    eni = ec2.create_network_interface(SubnetId=private)["NetworkInterface"]["NetworkInterfaceId"]
    address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    association = ec2.associate_address(AllocationId=address, NetworkInterfaceId=eni)["AssociationId"]
    dependency_violation(ec2.detach_internet_gateway, **detach)
    ec2.disassociate_address(AssociationId=association)
    ec2.release_address(AllocationId=address)

    # Nothing public is left: the ordered teardown goes through. A deleted NAT gateway's interface is gone.
    ec2.detach_internet_gateway(**detach)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_subnet(SubnetId=public)
    dependency_violation(ec2.delete_subnet, SubnetId=private)  # the interface, the internal load balancer
    ec2.delete_network_interface(NetworkInterfaceId=eni)
    aws.client("elb").delete_load_balancer(LoadBalancerName=internal)
    ec2.delete_subnet(SubnetId=private)
    ec2.disassociate_route_table(AssociationId=public_association)
    ec2.disassociate_route_table(AssociationId=private_association)
    dependency_violation(ec2.delete_vpc, VpcId=vpc)  # route tables, security group
    for table in (public_table, private_table):
        ec2.delete_route_table(RouteTableId=table)
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)


# --- Rule 12: ELBv2 DescribeTags ---------------------------------------------------------------


def test_elbv2_describe_tags_fails_as_a_whole_for_a_missing_arn(aws: Aws) -> None:
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    vpc, subnets = new_vpc(ec2, "ab")
    lb = elbv2.create_load_balancer(Name=f"lb-{uuid.uuid4().hex[:6]}", Subnets=subnets, Type="network")
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(Name=f"tg-{uuid.uuid4().hex[:6]}", Protocol="TCP", Port=80, VpcId=vpc)
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    described = elbv2.describe_tags(ResourceArns=[lb_arn, tg_arn])["TagDescriptions"]
    assert sorted(d["ResourceArn"] for d in described) == sorted([lb_arn, tg_arn])
    elbv2.delete_target_group(TargetGroupArn=tg_arn)
    assert "target group" in error("TargetGroupNotFound", 400, elbv2.describe_tags, ResourceArns=[lb_arn, tg_arn])
    elbv2.delete_load_balancer(LoadBalancerArn=lb_arn)
    assert "load balancer" in error("LoadBalancerNotFound", 400, elbv2.describe_tags, ResourceArns=[lb_arn])
    # Classic ELB: moto already refuses a missing name in AWS's code.
    error("LoadBalancerNotFound", 400, aws.client("elb").describe_tags, LoadBalancerNames=["not-there"])


# --- Rule 11: SQS -------------------------------------------------------------------------------

SQS_WINDOW = 1.5  # EMULATOR_SQS_DELETED_RECENTLY_SECONDS for these tests; AWS's is 60


@pytest.fixture(scope="module")
def sqs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Rules on, with a short wait before a deleted queue's name can be reused."""
    settings = NO_DELAYS | {"EMULATOR_SQS_DELETED_RECENTLY_SECONDS": str(SQS_WINDOW)}
    with running_server(tmp_path_factory.mktemp("sqs"), settings) as url:
        yield url


@pytest.fixture
def sqs(sqs_endpoint: str) -> Any:
    client = Aws(sqs_endpoint).client("sqs")
    assert client.meta.service_model.protocol == "json"  # botocore, like aws-sdk-rust, speaks SQS's JSON protocol
    return client


Answer = tuple[int, dict[str, str], bytes]


def signed(url: str, body: bytes, headers: dict[str, str], path: str = "/") -> Answer:
    """POST a SigV4-signed SQS request; (status, headers with lower-case names, body)."""
    request = AWSRequest(method="POST", url=url + path, data=body, headers=headers)
    SigV4Auth(Credentials("AKIAEMULATORTEST", "secret"), "sqs", "us-east-1").add_auth(request)
    sent = urllib.request.Request(url + path, data=body, headers=dict(request.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(sent) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as failed:
        return failed.code, {k.lower(): v for k, v in failed.headers.items()}, failed.read()


def sqs_query(url: str, params: dict[str, str], path: str = "/") -> Answer:
    """A query-protocol request (form-encoded, as SDKs sent them before 2023; botocore's model is JSON-only now)."""
    form = urllib.parse.urlencode({"Version": "2012-11-05", **params}).encode()
    return signed(url, form, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, path)


def sqs_json(url: str, operation: str, body: dict[str, Any]) -> Answer:
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{operation}"}
    return signed(url, json.dumps(body).encode(), headers)


def query_error(answer: Answer) -> tuple[int, str, str]:
    """(status, code, message) of a query-protocol error document."""
    status, headers, body = answer
    assert headers["content-type"].startswith("text/xml"), headers
    text = body.decode()
    assert text.startswith("<?xml") and "<ErrorResponse" in text and "<Type>Sender</Type>" in text, text
    code, message = (re.search(rf"<{tag}>([^<]*)</{tag}>", text) for tag in ("Code", "Message"))
    assert code and message, text
    return status, code.group(1), html.unescape(message.group(1))


def sqs_refused(code: str, call: Any, **kwargs: Any) -> str:
    """boto3 reads the query code from x-amzn-query-error: assert it and HTTP 400; return the message."""
    return error(code, 400, call, **kwargs)


def new_queue(sqs: Any, suffix: str = "", **attributes: str) -> tuple[str, str]:
    """A new queue's (URL, ARN)."""
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:10]}{suffix}", Attributes=attributes)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_sqs_error_codes_are_the_smithy_models() -> None:
    model = get_service_model("sqs")  # moto's copy keeps the awsQueryError traits botocore drops
    for shape, (code, status) in SQS_ERRORS.items():
        if shape == "InvalidParameterValue":
            continue  # a common error: no shape
        trait = model.shape_for(shape).metadata.get("error", {})
        assert (trait.get("code", shape), trait.get("httpStatusCode", 400)) == (code, status), shape
    assert RulesConfig.from_env({}).sqs_deleted_recently == 60
    assert RulesConfig.from_env({"EMULATOR_SQS_DELETED_RECENTLY_SECONDS": "2"}).sqs_deleted_recently == 2
    with pytest.raises(ValueError):
        RulesConfig.from_env({"EMULATOR_SQS_DELETED_RECENTLY_SECONDS": "-1"})


def test_queue_names(sqs: Any) -> None:
    base = uuid.uuid4().hex[:8]
    standard = "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
    fifo = (
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with "
        ".fifo suffix and be 1 to 80 in length."
    )
    # moto accepts a standard queue named *.fifo.
    assert sqs_refused("InvalidParameterValue", sqs.create_queue, QueueName=f"{base}.fifo") == standard
    for bad in (f"{base}.x", f"{base} q", "", "q" * 81):
        assert sqs_refused("InvalidParameterValue", sqs.create_queue, QueueName=bad) == standard
    for bad in (base, f"{'f' * 76}.fifo", f"{base}.FIFO"):
        message = sqs_refused(
            "InvalidParameterValue", sqs.create_queue, QueueName=bad, Attributes={"FifoQueue": "true"}
        )
        assert message == fifo
    sqs.create_queue(QueueName=f"{base}-80{'s' * (80 - len(base) - 3)}")
    sqs.create_queue(QueueName=f"{base}_{'f' * (75 - len(base) - 1)}.fifo", Attributes={"FifoQueue": "true"})


def test_create_queue_is_idempotent_only_with_the_same_attributes(sqs: Any) -> None:
    """moto's own behaviour, kept: the same name and attribute values answer the queue's URL (API reference,
    CreateQueue); other values are QueueAlreadyExists (the JSON protocol's QueueNameExists)."""
    name = f"q-{uuid.uuid4().hex[:10]}"
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "40"})["QueueUrl"]
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "40"})["QueueUrl"] == url
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    sqs_refused("QueueAlreadyExists", sqs.create_queue, QueueName=name, Attributes={"VisibilityTimeout": "41"})


def test_a_deleted_queue_name_cannot_be_reused_for_a_while(sqs_endpoint: str, sqs: Any) -> None:
    name = f"q-{uuid.uuid4().hex[:10]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    message = sqs_refused("AWS.SimpleQueueService.QueueDeletedRecently", sqs.create_queue, QueueName=name)
    assert (
        message == "You must wait 60 seconds after deleting a queue before you can create another with the same name."
    )
    status, headers, body = sqs_json(sqs_endpoint, "CreateQueue", {"QueueName": name})
    assert (status, headers["x-amzn-query-error"], headers["content-type"]) == (
        400,
        "AWS.SimpleQueueService.QueueDeletedRecently;Sender",
        "application/x-amz-json-1.0",
    )
    assert json.loads(body) == {"__type": "com.amazonaws.sqs#QueueDeletedRecently", "message": message}
    assert query_error(sqs_query(sqs_endpoint, {"Action": "CreateQueue", "QueueName": name})) == (
        400,
        "AWS.SimpleQueueService.QueueDeletedRecently",
        message,
    )
    sqs.create_queue(QueueName=f"{name}-other")  # other names are free
    time.sleep(SQS_WINDOW)
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    # Deleted by the query protocol (queue URL as the path) counts the same; a reset of moto forgets it.
    assert sqs_query(sqs_endpoint, {"Action": "DeleteQueue"}, path=urllib.parse.urlsplit(url).path)[0] == 200
    sqs_refused("AWS.SimpleQueueService.QueueDeletedRecently", sqs.create_queue, QueueName=name)
    with urllib.request.urlopen(urllib.request.Request(f"{sqs_endpoint}/moto-api/reset", method="POST")):
        pass
    sqs.create_queue(QueueName=name)


def test_queue_attribute_names(sqs: Any) -> None:
    name = f"q-{uuid.uuid4().hex[:10]}"
    for attributes, unknown in (
        ({"Bogus": "1"}, "Bogus"),
        ({"QueueArn": "arn:aws:sqs:us-east-1:123456789012:x"}, "QueueArn"),
        ({"FifoQueue": "false"}, "FifoQueue"),  # a standard queue takes no FifoQueue at all
        ({"ContentBasedDeduplication": "false"}, "ContentBasedDeduplication"),
        ({"DeduplicationScope": "queue"}, "DeduplicationScope"),
        ({"FifoThroughputLimit": "perQueue"}, "FifoThroughputLimit"),
    ):
        message = sqs_refused("InvalidAttributeName", sqs.create_queue, QueueName=name, Attributes=attributes)
        assert message == f"Unknown Attribute {unknown}."
    fifo_attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup"}
    fifo_url, _ = new_queue(sqs, ".fifo", **fifo_attributes, FifoThroughputLimit="perMessageGroupId")
    url, _ = new_queue(sqs)
    for queue_url in (url, fifo_url):  # the type is fixed at creation
        message = sqs_refused(
            "InvalidAttributeName", sqs.set_queue_attributes, QueueUrl=queue_url, Attributes={"FifoQueue": "true"}
        )
        assert message == "Unknown Attribute FifoQueue."
    sqs_refused(
        "InvalidAttributeName", sqs.set_queue_attributes, QueueUrl=url, Attributes={"ContentBasedDeduplication": "true"}
    )
    sqs.set_queue_attributes(QueueUrl=fifo_url, Attributes={"ContentBasedDeduplication": "false"})


@pytest.mark.parametrize(
    ("attribute", "low", "high"),
    [
        ("DelaySeconds", 0, 900),
        ("MaximumMessageSize", 1024, 1_048_576),
        ("MessageRetentionPeriod", 60, 1_209_600),
        ("ReceiveMessageWaitTimeSeconds", 0, 20),
        ("VisibilityTimeout", 0, 43_200),
        ("KmsDataKeyReusePeriodSeconds", 60, 86_400),
    ],
)
def test_queue_attribute_ranges(sqs: Any, attribute: str, low: int, high: int) -> None:
    message = f"Invalid value for the parameter {attribute}."
    url, _ = new_queue(sqs)
    for bad in (str(low - 1), str(high + 1), "ten", "1.5", ""):
        name = f"q-{uuid.uuid4().hex[:10]}"
        assert (
            sqs_refused("InvalidAttributeValue", sqs.create_queue, QueueName=name, Attributes={attribute: bad})
            == message
        )
        assert (
            sqs_refused("InvalidAttributeValue", sqs.set_queue_attributes, QueueUrl=url, Attributes={attribute: bad})
            == message
        )
    for good in (low, high):
        new_queue(sqs, **{attribute: str(good)})
        sqs.set_queue_attributes(QueueUrl=url, Attributes={attribute: str(good)})


def test_one_kind_of_server_side_encryption(sqs: Any) -> None:
    both = {"SqsManagedSseEnabled": "true", "KmsMasterKeyId": "alias/aws/sqs"}
    message = (
        "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE."
    )
    name = f"q-{uuid.uuid4().hex[:10]}"
    assert sqs_refused("InvalidAttributeName", sqs.create_queue, QueueName=name, Attributes=both) == message
    url, _ = new_queue(sqs)
    assert sqs_refused("InvalidAttributeName", sqs.set_queue_attributes, QueueUrl=url, Attributes=both) == message
    new_queue(sqs, SqsManagedSseEnabled="false", KmsMasterKeyId="alias/aws/sqs")
    new_queue(sqs, SqsManagedSseEnabled="true")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "alias/aws/sqs"})


def test_redrive_policy(sqs: Any) -> None:
    _, dlq = new_queue(sqs)
    _, fifo_dlq = new_queue(sqs, ".fifo", FifoQueue="true")

    def refused(policy: Any, fifo: bool = False) -> str:
        value = policy if isinstance(policy, str) else json.dumps(policy)
        attributes = {"RedrivePolicy": value, **({"FifoQueue": "true"} if fifo else {})}
        name = f"q-{uuid.uuid4().hex[:10]}{'.fifo' if fifo else ''}"
        message = sqs_refused("InvalidParameterValue", sqs.create_queue, QueueName=name, Attributes=attributes)
        prefix = f"Value {value} for parameter RedrivePolicy is invalid. Reason: "
        return message.removeprefix(prefix) if message.startswith(prefix) else f"(whole) {message}"

    assert refused("not json") == (
        "(whole) Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map."
    )
    assert refused({}) == "Redrive policy does not contain mandatory attribute: maxReceiveCount."
    assert (
        refused({"maxReceiveCount": 5}) == "Redrive policy does not contain mandatory attribute: deadLetterTargetArn."
    )
    for count in (0, 1001, "many", -1):
        assert refused({"deadLetterTargetArn": dlq, "maxReceiveCount": count}) == (
            f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000 both inclusive."
        )
    assert refused({"deadLetterTargetArn": "dlq", "maxReceiveCount": 5}) == "Invalid value for deadLetterTargetArn."
    elsewhere = dlq.replace(":us-east-1:", ":eu-west-1:")
    other_owner = dlq.replace(f":{ACCOUNT}:", ":111122223333:")
    assert refused({"deadLetterTargetArn": elsewhere, "maxReceiveCount": 5}) == (
        "Dead-letter target must be in same region as the source."
    )
    assert refused({"deadLetterTargetArn": other_owner, "maxReceiveCount": 5}) == (
        "Dead-letter target owner should be same as the source."
    )
    assert refused({"deadLetterTargetArn": f"{dlq}-gone", "maxReceiveCount": 5}) == "Dead letter target does not exist."
    mismatch = "Dead-letter queue must be same type of queue as the source.."
    assert refused({"deadLetterTargetArn": fifo_dlq, "maxReceiveCount": 5}) == mismatch
    assert refused({"deadLetterTargetArn": dlq, "maxReceiveCount": 5}, fifo=True) == mismatch

    # Accepted: counts 1..1000, as a number or a string; a FIFO queue with a FIFO dead-letter queue.
    url, _ = new_queue(sqs, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": 1}))
    new_queue(sqs, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": "1000"}))
    new_queue(
        sqs,
        ".fifo",
        FifoQueue="true",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": fifo_dlq, "maxReceiveCount": 3}),
    )
    # SetQueueAttributes checks the same, against the queue's own type; "" removes the policy.
    policy = json.dumps({"deadLetterTargetArn": fifo_dlq, "maxReceiveCount": 3})
    sqs_refused("InvalidParameterValue", sqs.set_queue_attributes, QueueUrl=url, Attributes={"RedrivePolicy": policy})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": ""})
    assert "RedrivePolicy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_send_message_batch_limits(sqs: Any) -> None:
    url, _ = new_queue(sqs)

    def entries(count: int, **fields: Any) -> list[dict[str, Any]]:
        return [{"Id": f"m{index}", "MessageBody": "x", **fields} for index in range(count)]

    # More than 10 entries is refused before the Ids are looked at (moto looked at them first).
    too_many = [{"Id": "same", "MessageBody": "x"}] * 11
    message = sqs_refused(
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", sqs.send_message_batch, QueueUrl=url, Entries=too_many
    )
    assert message == "Maximum number of entries per request are 10. You have sent 11."
    for bad in ("a.b", "é", "x" * 81):  # moto's \w takes "é"
        sqs_refused(
            "AWS.SimpleQueueService.InvalidBatchEntryId",
            sqs.send_message_batch,
            QueueUrl=url,
            Entries=[{"Id": bad, "MessageBody": "x"}],
        )
    duplicate = [{"Id": "a", "MessageBody": "x"}, {"Id": "b", "MessageBody": "y"}, {"Id": "a", "MessageBody": "z"}]
    message = sqs_refused(
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", sqs.send_message_batch, QueueUrl=url, Entries=duplicate
    )
    assert message == "Id a repeated."
    assert len(sqs.send_message_batch(QueueUrl=url, Entries=entries(10))["Successful"]) == 10

    # 1 MiB in all, counted in UTF-8 bytes with the message attributes (moto counts characters of bodies).
    limit = 1_048_576
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "é" * (limit // 2)}])
    message = sqs_refused(
        "AWS.SimpleQueueService.BatchRequestTooLong",
        sqs.send_message_batch,
        QueueUrl=url,
        Entries=[{"Id": "a", "MessageBody": "é" * (limit // 4)}, {"Id": "b", "MessageBody": "é" * (limit // 4 + 1)}],
    )
    assert message == f"Batch requests cannot be longer than {limit} bytes. You have sent {limit + 2} bytes."
    attribute = {"k": {"DataType": "String", "StringValue": "v"}}  # 1 + 6 + 1 bytes
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x" * (limit - 8), "MessageAttributes": attribute}]
    )
    sqs_refused(
        "AWS.SimpleQueueService.BatchRequestTooLong",
        sqs.send_message_batch,
        QueueUrl=url,
        Entries=[{"Id": "a", "MessageBody": "x" * (limit - 7), "MessageAttributes": attribute}],
    )
    sqs_refused("AWS.SimpleQueueService.EmptyBatchRequest", sqs.send_message_batch, QueueUrl=url, Entries=[])  # moto's


def test_sqs_call_reads_both_protocols_and_batch_sizes_as_units() -> None:
    def request(content_type: str, body: bytes, path: str = "/", operation: str = "SendMessageBatch") -> Request:
        environ = {"CONTENT_TYPE": content_type}
        return Request(environ, "sqs", "us-east-1", ACCOUNT, "POST", path, {}, body, operation=operation)

    query = request("application/x-www-form-urlencoded", b"", path=f"/{ACCOUNT}/from-path")
    query.params = {
        "SendMessageBatchRequestEntry.2.Id": "b",
        "SendMessageBatchRequestEntry.2.MessageBody": "second",
        "SendMessageBatchRequestEntry.1.Id": "a",
        "SendMessageBatchRequestEntry.1.MessageBody": "first",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": "k",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType": "Binary",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.BinaryValue": "AAEC",
    }
    call = sqs_call(query)
    assert call.queue_name == "from-path"
    assert call.entries == [
        {"Id": "a", "MessageBody": "first", "MessageAttributes": {"k": {"DataType": "Binary", "BinaryValue": "AAEC"}}},
        {"Id": "b", "MessageBody": "second", "MessageAttributes": {}},
    ]
    assert batch_entry_bytes(call.entries[0]) == 5 + 1 + 6 + 3  # body, name, type, 3 decoded bytes

    create = request("application/x-www-form-urlencoded", b"", operation="CreateQueue")
    create.params = {"QueueName": "named", "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "7"}
    assert (sqs_call(create).queue_name, sqs_call(create).attributes) == ("named", {"VisibilityTimeout": "7"})
    body = {"QueueUrl": f"http://localhost/{ACCOUNT}/by-url", "Attributes": {"DelaySeconds": 5}}
    set_attributes = request("application/x-amz-json-1.0", b"", operation="SetQueueAttributes")
    set_attributes.json = body
    assert (sqs_call(set_attributes).queue_name, sqs_call(set_attributes).attributes) == (
        "by-url",
        {"DelaySeconds": "5"},
    )


def test_sqs_rules_answer_in_the_query_protocol_too(sqs_endpoint: str, sqs: Any) -> None:
    name = f"q-{uuid.uuid4().hex[:10]}"
    assert query_error(sqs_query(sqs_endpoint, {"Action": "CreateQueue", "QueueName": f"{name}.fifo"}))[:2] == (
        400,
        "InvalidParameterValue",
    )
    attribute = {"Action": "CreateQueue", "QueueName": name, "Attribute.1.Name": "VisibilityTimeout"}
    assert query_error(sqs_query(sqs_endpoint, attribute | {"Attribute.1.Value": "43201"})) == (
        400,
        "InvalidAttributeValue",
        "Invalid value for the parameter VisibilityTimeout.",
    )
    status, _, body = sqs_query(sqs_endpoint, attribute | {"Attribute.1.Value": "43200"})
    assert status == 200 and b"<QueueUrl>" in body
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    unknown = {"Action": "SetQueueAttributes", "QueueUrl": url, "Attribute.1.Name": "Fifo", "Attribute.1.Value": "1"}
    assert query_error(sqs_query(sqs_endpoint, unknown)) == (400, "InvalidAttributeName", "Unknown Attribute Fifo.")
    batch = {"Action": "SendMessageBatch", "QueueUrl": url}
    for index in range(1, 12):
        batch |= {
            f"SendMessageBatchRequestEntry.{index}.Id": f"m{index}",
            f"SendMessageBatchRequestEntry.{index}.MessageBody": "x",
        }
    assert query_error(sqs_query(sqs_endpoint, batch))[:2] == (
        400,
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    )
    # JSON errors carry __type, the query code in x-amzn-query-error, and the JSON content type.
    status, headers, body = sqs_json(sqs_endpoint, "SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Fifo": "1"}})
    assert (status, headers["x-amzn-query-error"], headers["content-type"]) == (
        400,
        "InvalidAttributeName;Sender",
        "application/x-amz-json-1.0",
    )
    assert json.loads(body) == {
        "__type": "com.amazonaws.sqs#InvalidAttributeName",
        "message": "Unknown Attribute Fifo.",
    }


def test_stats_count_sqs_operations_in_both_protocols(sqs_endpoint: str, sqs: Any) -> None:
    before = stats(sqs_endpoint)["requests"]
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:10]}")["QueueUrl"]  # JSON
    sqs_query(sqs_endpoint, {"Action": "CreateQueue", "QueueName": f"q-{uuid.uuid4().hex[:10]}"})
    sqs_query(sqs_endpoint, {"Action": "CreateQueue", "QueueName": "bad.name"})  # refused, still counted
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}])
    sqs_query(sqs_endpoint, {"Action": "DeleteQueue"}, path=urllib.parse.urlsplit(url).path)
    after = stats(sqs_endpoint)["requests"]
    assert after["sqs:CreateQueue"] == before.get("sqs:CreateQueue", 0) + 3
    assert after["sqs:SendMessageBatch"] == before.get("sqs:SendMessageBatch", 0) + 1
    assert after["sqs:DeleteQueue"] == before.get("sqs:DeleteQueue", 0) + 1


# --- The switch ---------------------------------------------------------------------------------


def test_rules_can_be_switched_off(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_server(tmp_path_factory.mktemp("rules-off"), {"EMULATOR_AWS_RULES": "0"}) as url:
        aws = Aws(url)
        new_subnets(aws)  # subnets in a VPC created a moment ago
        cluster = new_cluster(aws, clientRequestToken="short")
        assert new_nodegroup(aws, cluster, instanceTypes=["t4g.medium"])["amiType"] == "AL2023_x86_64_STANDARD"
        assert stats(url)["requests"]["ec2:CreateVpc"] == 2
        ec2 = aws.client("ec2")
        _, [subnet] = new_vpc(ec2)
        ec2.create_network_interface(SubnetId=subnet)
        ec2.delete_subnet(SubnetId=subnet)  # moto's leniency (rule 10)
        sqs = aws.client("sqs")
        sqs.create_queue(QueueName="standard.fifo", Attributes={"VisibilityTimeout": "43201"})  # rule 11


# --- Rule 7: states in between ------------------------------------------------------------------


def test_create_while_deleting_and_addon_preserve(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = NO_DELAYS | {"EMULATOR_EKS_DELETE_SECONDS": "2"}
    with running_server(tmp_path_factory.mktemp("deleting"), settings) as url:
        aws = Aws(url)
        eks = aws.client("eks")
        cluster = new_cluster(aws)
        name = cluster["name"]
        new_nodegroup(aws, cluster, nodegroupName="workers")
        eks.delete_nodegroup(clusterName=name, nodegroupName="workers")
        assert eks.describe_nodegroup(clusterName=name, nodegroupName="workers")["nodegroup"]["status"] == "DELETING"
        error("ResourceInUseException", 409, new_nodegroup, aws, cluster, nodegroupName="workers")

        eks.create_addon(clusterName=name, addonName="coredns")
        update = eks.update_addon(clusterName=name, addonName="coredns", resolveConflicts="OVERWRITE")["update"]
        assert (
            eks.describe_update(name=name, updateId=update["id"], addonName="coredns")["update"]["id"] == update["id"]
        )
        eks.delete_addon(clusterName=name, addonName="coredns", preserve=True)
        assert eks.describe_addon(clusterName=name, addonName="coredns")["addon"]["status"] == "DELETING"
        error("ResourceInUseException", 409, eks.create_addon, clusterName=name, addonName="coredns")
        assert stats(url)["addonDeletions"] == [{"clusterName": name, "addonName": "coredns", "preserve": True}]


# --- Rule 8: throttling -------------------------------------------------------------------------


def outcomes(url: str, count: int) -> list[tuple[str, str, int]]:
    """(service, error code or "ok", HTTP status) of ``count`` calls to each of EC2, IAM, EKS and Logs."""

    def client(service: str) -> Any:
        # Without test_emulator's EKS shape check: a front-end 503 has no x-amzn-ErrorType.
        return boto3.client(
            service,
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="AKIAEMULATORTEST",
            aws_secret_access_key="secret",
            config=Config(retries={"total_max_attempts": 1}),  # no retries: see every injected failure
        )

    calls = {
        "ec2": client("ec2").describe_vpcs,
        "iam": client("iam").list_roles,
        "eks": client("eks").list_clusters,
        "logs": client("logs").describe_log_groups,
    }
    seen = []
    for _ in range(count):
        for service, call in calls.items():
            try:
                call()
                seen.append((service, "ok", 200))
            except ClientError as raised:
                response = raised.response
                seen.append((service, response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]))
    return seen


def test_throttling_is_retryable_in_each_protocol_and_reproducible(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = NO_DELAYS | {"EMULATOR_THROTTLE_RATE": "0.5", "EMULATOR_THROTTLE_SEED": "7"}
    with running_server(tmp_path_factory.mktemp("throttled"), settings) as url:
        first = outcomes(url, 10)
        failures = [outcome for outcome in first if outcome[1] != "ok"]
        assert 5 < len(failures) < 35
        for service, code, status in failures:
            assert code in RETRYABLE_CODES or status in TRANSIENT_STATUSES, (service, code, status)
        allowed = {
            "ec2": {("RequestLimitExceeded", 503), ("InternalError", 500), ("Unavailable", 503), ("503", 503)},
            "iam": {("Throttling", 400), ("503", 503)},
            "eks": {("ThrottlingException", 429), ("ServiceUnavailableException", 503), ("ServerException", 500)}
            | {("503", 503)},
            "logs": {("ThrottlingException", 400), ("503", 503)},
        }
        for service, code, status in failures:
            assert (code, status) in allowed[service], (service, code, status)
        counted = stats(url)
        assert counted["injectedFailures"] == len(failures)
        assert counted["requests"]["ec2:DescribeVpcs"] == 10
        assert counted["requests"]["eks:ListClusters"] == 10
        assert counted["requests"]["logs:DescribeLogGroups"] == 10
        # moto's own API is never throttled.
        for _ in range(20):
            with urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")):
                pass
        # A client with the SDKs' standard retry strategy gets through every time.
        standard = boto3.client(
            "ec2",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="AKIAEMULATORTEST",
            aws_secret_access_key="secret",
            config=Config(retries={"max_attempts": 10, "mode": "standard"}),
        )
        for _ in range(10):
            standard.describe_vpcs()
    with running_server(tmp_path_factory.mktemp("throttled-again"), settings) as url:
        assert outcomes(url, 10) == first  # same seed, same requests: the same failures


# --- Stats --------------------------------------------------------------------------------------


def test_stats_count_requests_per_operation(rules_endpoint: str) -> None:
    aws = Aws(rules_endpoint)
    before = stats(rules_endpoint)["requests"]
    aws.client("ec2").describe_availability_zones()
    aws.client("sts").get_caller_identity()
    aws.client("eks").list_clusters()
    aws.client("eks").describe_addon_versions(addonName="coredns")
    aws.client("logs").describe_log_groups()
    after = stats(rules_endpoint)["requests"]
    for key in (
        "ec2:DescribeAvailabilityZones",
        "sts:GetCallerIdentity",
        "eks:ListClusters",
        "eks:DescribeAddonVersions",
        "logs:DescribeLogGroups",
    ):
        assert after[key] == before.get(key, 0) + 1, key


# --- Rule 9: upgrade policy, and launch templates -----------------------------------------------


def test_upgrade_policy(aws: Aws, eks: Any) -> None:
    default = new_cluster(aws)
    assert default["upgradePolicy"] == {"supportType": "EXTENDED"}
    standard = new_cluster(aws, upgradePolicy={"supportType": "STANDARD"})
    name = standard["name"]
    assert eks.describe_cluster(name=name)["cluster"]["upgradePolicy"] == {"supportType": "STANDARD"}
    error("InvalidParameterException", 400, new_cluster, aws, upgradePolicy={"supportType": "FOREVER"})
    update = eks.update_cluster_config(name=name, upgradePolicy={"supportType": "EXTENDED"})["update"]
    assert (update["type"], update["params"]) == (
        "UpgradePolicyUpdate",
        [{"type": "UpgradePolicy", "value": "EXTENDED"}],
    )
    assert eks.describe_update(name=name, updateId=update["id"])["update"]["status"] == "Successful"
    assert eks.describe_cluster(name=name)["cluster"]["upgradePolicy"] == {"supportType": "EXTENDED"}


def test_launch_template_metadata_options_and_block_devices(aws: Aws, eks: Any) -> None:
    ec2 = aws.client("ec2")
    data = {
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 50, "VolumeType": "gp3"}}],
    }
    name = f"lt-{uuid.uuid4().hex[:8]}"
    template_id = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)["LaunchTemplate"][
        "LaunchTemplateId"
    ]
    [version] = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Latest"])[
        "LaunchTemplateVersions"
    ]
    assert version["LaunchTemplateData"]["MetadataOptions"] == data["MetadataOptions"]
    assert version["LaunchTemplateData"]["BlockDeviceMappings"] == data["BlockDeviceMappings"]
    cluster = new_cluster(aws)
    nodegroup = new_nodegroup(aws, cluster, launchTemplate={"id": template_id, "version": "1"})
    assert nodegroup["launchTemplate"] == {"id": template_id, "name": name, "version": "1"}
