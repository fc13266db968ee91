"""Starting server.py as a subprocess for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
READY_AFTER = 0.5
KEDA_MANIFEST = Path(
    os.environ.get("EKSSCALE_KEDA_MANIFEST")
    or HERE.parents[1].parent / "shared" / "keda" / "2.20.2" / "keda-2.20.2.yaml"
)


def start_server(port_file: Path, *extra: str) -> subprocess.Popen[str]:
    """Start server.py on a free port and wait until it has written its port file."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "--host", "127.0.0.1", "--port", "0", "--port-file",
         str(port_file), "--kubernetes-version", "1.35", "--ready-after", str(READY_AFTER), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"fakekube did not start: {process.communicate()[1]}")
        time.sleep(0.05)
    return process


EMULATOR = HERE.parent / "emulator" / "server.py"
# The emulator's AWS-rule delays off: a test creates a VPC or role and uses it at once.
EMULATOR_SETTINGS = {"EMULATOR_IAM_PROPAGATION_SECONDS": "0", "EMULATOR_EC2_CONSISTENCY_SECONDS": "0"}


def start_emulator(port_file: Path) -> subprocess.Popen[str]:
    """tests/emulator/server.py (moto with the EKS extension) on a free port: the STS and EKS fakekube calls."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")} | EMULATOR_SETTINGS
    log = port_file.with_name(port_file.name + ".log")
    with log.open("w") as stderr:  # a file, not a pipe nobody reads (moto can be chatty)
        process = subprocess.Popen([sys.executable, str(EMULATOR), "--host", "127.0.0.1", "--port", "0",
                                    "--port-file", str(port_file)], env=env, stdout=subprocess.DEVNULL,
                                   stderr=stderr, text=True)
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the emulator did not start: {log.read_text()}")
        time.sleep(0.05)
    return process


def eks_token(region: str, cluster: str, access_key: str = "AKIAIOSFODNN7EXAMPLE",
              secret_key: str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", sign_cluster: bool = True) -> str:
    """A token made as `aws eks get-token` makes it (awscli customizations/eks/get_token.py): botocore presigns
    GetCallerIdentity on the regional STS endpoint for 60 s with `x-k8s-aws-id` among the signed headers."""
    import base64

    import botocore.session

    session = botocore.session.get_session()
    sts = session.create_client("sts", region_name=region, aws_access_key_id=access_key,
                                aws_secret_access_key=secret_key, endpoint_url=f"https://sts.{region}.amazonaws.com")

    def add_cluster_header(request: Any, **_: Any) -> None:
        request.headers["x-k8s-aws-id"] = cluster

    if sign_cluster:
        sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
