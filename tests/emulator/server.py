"""Start moto's server with the EKS extension and the AWS rules in front of it (test infrastructure, see README.md).

    python tests/emulator/server.py --host 127.0.0.1 --port 0 --port-file PATH

Writes the bound port to PATH once the socket listens; exits cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

# Must be set before moto is imported: it decides whether IAM knows the AWS managed policies.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

import moto_fixes
from aws_rules import AwsRules, RulesConfig
from eks_ext import ApiServer, EksExtension, Timing


def write_port_file(path: Path, port: int) -> None:
    """Write atomically, so a reader never sees a partial file."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as temp:
        temp.write(f"{port}\n")
    os.replace(temp.name, path)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", type=Path, required=True, help="where to write the bound port")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    logging.basicConfig(format="%(message)s")
    # Werkzeug logs each request at INFO; errors stay visible either way.
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)
    moto_fixes.apply()
    moto_app = DomainDispatcherApplication(create_backend_app)
    # The rules go outermost: they answer before anything else runs, and see every request for the stats.
    extension = EksExtension(moto_app, Timing.from_env(os.environ), ApiServer.from_env(os.environ))
    app = AwsRules(extension, RulesConfig.from_env(os.environ))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, so it cannot run on this (the serving) thread.
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    write_port_file(args.port_file, server.server_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        args.port_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main(sys.argv[1:])
