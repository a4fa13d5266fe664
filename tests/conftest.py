"""Shared fixtures: the sample registry, registry copies to break, and a moto server on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cells import Registry, load_registry
from cells.loader import DEFAULT_REGISTRY


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(DEFAULT_REGISTRY)


@pytest.fixture
def registry_copy(tmp_path: Path) -> Path:
    """A writable copy of the sample registry."""
    dest = tmp_path / "registry"
    shutil.copytree(DEFAULT_REGISTRY, dest)
    return dest


@pytest.fixture
def edit_yaml() -> Callable[[Path, Callable[[dict[str, Any]], None]], None]:
    """Load a YAML file, let the test change the data, write it back."""

    def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    return edit


@pytest.fixture(scope="session")
def server() -> Iterator[Any]:
    """A stand-in for Pulumi Cloud's deployment endpoints on 127.0.0.1 for the session (tests/cloud_server.py)."""
    from cloud_server import CloudServer

    started = CloudServer().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def cloud(server: Any) -> Any:
    """The stand-in's state, emptied for each test."""
    server.cloud.reset()
    return server.cloud


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 for the whole session; tests talk to it with real boto3 calls."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    """Fake credentials and the moto endpoint for boto3; returns the endpoint."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    return moto_endpoint
