"""Recorded LLM answers for a small constitution, served by the scripted LLM on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.config.paths import AppPaths
from policy.compiler.annotate import ToolSpec
from policy.compiler.llm import LiteLLM
from policy.compiler.pipeline import CompileInputs

RECORDED = Path(__file__).parent / "recorded"
CONSTITUTION = (RECORDED / "constitution.md").read_text(encoding="utf-8")
_SERVER = re.compile(r"^Server: (\S+)$", re.MULTILINE)
_LIST = re.compile(r"^List: @(\S+)$", re.MULTILINE)


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


def tool_specs() -> dict[str, list[ToolSpec]]:
    return {s: [ToolSpec(**t) for t in ts] for s, ts in recorded("tools.json").items()}


def request_key(messages: list[dict[str, Any]]) -> str:
    """Which recorded answer a request wants: ``rules-fetch``, ``lists-news-sites``, ``judge``."""
    system, prompt = messages[0]["content"], messages[-1]["content"]
    if system.startswith("You harden"):
        server = _SERVER.search(prompt)
        return f"harden-{server.group(1) if server else '?'}"
    if system.startswith("You are the judge"):
        return "judge"
    if "adjust the security constitution" in system:
        return "customize"
    if found := _LIST.search(prompt):
        return f"lists-{found.group(1)}"
    stage = (
        "annotate"
        if "argument roles" in system
        else "rules"
        if "compile" in system
        else "scenarios"
    )
    server = _SERVER.search(prompt)
    return f"{stage}-{server.group(1) if server else '?'}"


def dispatcher(overrides: dict[str, Any]) -> Callable[[list], dict[str, Any]]:
    """A script step answering every request from ``recorded/`` (or ``overrides``, which the
    test may change between runs): replies can be a value (sent as JSON), a string (sent as is)
    or a function of the messages."""

    def answer(messages: list[dict[str, Any]]) -> dict[str, Any]:
        key = request_key(messages)
        value = overrides.get(key)
        if value is None and (RECORDED / f"{key}.json").exists():
            value = recorded(f"{key}.json")
        if value is None:
            return {"text": f"(no recorded answer for {key})"}
        if callable(value):
            value = value(messages)
        return {"text": value if isinstance(value, str) else json.dumps(value)}

    return answer


def client(base_url: str, timeout_s: float = 10.0) -> LiteLLM:
    return LiteLLM("openai:scripted", api_key="sk-test", base_url=base_url, timeout_s=timeout_s)


def protected(ironcurtain_home: str) -> tuple[str, ...]:
    home = Path(ironcurtain_home)
    return AppPaths(home=home, cache=home / "cache").protected_patterns()


def inputs(tmp: Path, tools: dict[str, list[ToolSpec]] | None = None) -> CompileInputs:
    return CompileInputs(
        constitution=CONSTITUTION,
        tools=tools or tool_specs(),
        policy_dir=tmp / "generated",
        cache_dir=tmp / "cache",
        protected=protected,
        now=lambda: "2026-11-22T00:00:00Z",
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
