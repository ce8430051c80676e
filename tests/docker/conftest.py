"""Docker-mode fixtures: the engine (or a skip saying why) and the TEST image."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def engine() -> Any:
    from appliance.docker.container import DockerUnavailable, docker_client

    try:
        return docker_client()
    except DockerUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc}")


@pytest.fixture(scope="session")
def test_image(engine: Any) -> str:
    from appliance.docker.image import ensure_test_image

    if not (Path("/bin/busybox").is_file() and shutil.which("socat")):
        pytest.skip("busybox-static and socat are needed for the TEST image (.ci/system-deps)")
    return ensure_test_image(engine).tag
