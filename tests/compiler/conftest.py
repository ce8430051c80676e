"""The compiler tests' scripted LLM: one loopback server per test, answering from ``recorded/``."""

from __future__ import annotations

import pytest

from appliance.agent.scripted_llm import ScriptedLLM
from tests.compiler.support import dispatcher


@pytest.fixture
def script():
    """One scripted LLM per test (a restarted server could inherit a pooled connection's port);
    ``script.overrides`` changes its answers, ``script.requests`` is cleared by each run."""
    overrides: dict = {}
    with ScriptedLLM([dispatcher(overrides)] * 200) as llm:
        llm.overrides = overrides
        yield llm
