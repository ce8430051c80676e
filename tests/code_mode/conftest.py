"""Code Mode tests: the real guest in the real wasmtime, real servers, a scripted LLM."""

from __future__ import annotations

import os

import pytest

from wasm_guest.build import DEFAULT_OUT, ensure_built

# Content-keyed, so one compiled-guest cache for every test process is safe (saves ~10 s each).
SHARED_CACHE = DEFAULT_OUT / "test-cache"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def guest_wasm():
    return ensure_built()


@pytest.fixture
def shared_cache(monkeypatch: pytest.MonkeyPatch, guest_wasm):
    monkeypatch.setenv("IRONCURTAIN_CACHE", str(SHARED_CACHE))
    return SHARED_CACHE


@pytest.fixture
def cli_env(shared_cache, tmp_path):
    env = dict(os.environ)
    env["IRONCURTAIN_HOME"] = str(tmp_path / "home")
    env["IRONCURTAIN_CACHE"] = str(shared_cache)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return env
