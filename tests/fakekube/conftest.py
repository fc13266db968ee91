"""Fixtures: one fakekube server process for the session, reset before every test."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from harness import KEDA_MANIFEST, start_server
from kubeclient import Kube
from manifests import load_documents


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    port_file = tmp_path_factory.mktemp("fakekube") / "port"
    process = start_server(port_file)
    try:
        yield Kube("127.0.0.1", int(port_file.read_text()))
    finally:
        process.terminate()
        process.communicate(timeout=10)


@pytest.fixture
def kube(server: Kube) -> Kube:
    assert server.request("POST", "/_fake/reset").code == 200
    return server


@pytest.fixture(scope="session")
def keda_manifest() -> Path:
    assert KEDA_MANIFEST.is_file(), f"the KEDA manifest is expected at {KEDA_MANIFEST} (shared/ beside the repo)"
    return KEDA_MANIFEST


@pytest.fixture(scope="session")
def keda_objects(keda_manifest: Path) -> list[dict[str, Any]]:
    """The manifest's objects, parsed once (tests must not modify them)."""
    objects: list[dict[str, Any]] = load_documents(keda_manifest.read_text())
    return objects
