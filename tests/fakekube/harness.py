"""Starting server.py as a subprocess for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

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
