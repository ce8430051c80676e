"""Shared test set-up: a clean environment, no real LLM, no internet."""

from __future__ import annotations

import os

import pytest

# Set before anything imports litellm, or its import reaches for the internet.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

_PROVIDER_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GOOGLE_GENERATIVE_AI_API_KEY")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Every test gets its own IronCurtain home and no provider keys from the developer's shell."""
    for key in _PROVIDER_KEYS:
        monkeypatch.delenv(key, raising=False)
    home = tmp_path_factory.mktemp("ironcurtain-home")
    monkeypatch.setenv("IRONCURTAIN_HOME", str(home))
    yield
