"""Escalation tests run their async parts on asyncio."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def rig(tmp_path):
    from daemon_rig import Rig

    return Rig(tmp_path)
