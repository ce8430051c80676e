"""Fixtures for the session-policy tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config.paths import AppPaths


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def home(tmp_path: Path) -> AppPaths:
    return AppPaths(home=tmp_path / "home", cache=tmp_path / "cache")
