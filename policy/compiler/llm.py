"""The compiler's view of a language model: ask with a system and a user text, get text back.

``LiteLLM`` is the real one (litellm imported lazily; model ids ``provider:model``); anything with
the same ``complete`` method can stand in. ``ask_json`` turns an answer into a validated pydantic
model or raises ``CompileError`` quoting what was wrong, so a malformed answer never travels on.
Token use and cost are summed across threads (stages run servers in parallel).
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from policy.compiler.errors import CompileError

__all__ = ["LLM", "LiteLLM", "Usage", "ask_json"]

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.DOTALL)


class LLM(Protocol):
    def complete(self, system: str, prompt: str) -> str: ...


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class LiteLLM:
    """A model reached through litellm's normal client, with a hard per-request timeout."""

    def __init__(
        self,
        model_id: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        provider, sep, name = model_id.partition(":")
        if not sep or not provider or not name:
            raise CompileError("llm", f"model id {model_id!r} must look like provider:model")
        self.model = f"{provider}/{name}"
        self.api_key, self.base_url, self.timeout_s = api_key, base_url, timeout_s
        self.usage = Usage()
        self._lock = threading.Lock()

    def complete(self, system: str, prompt: str) -> str:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
        try:
            response = litellm.completion(
                model=self.model,
                messages=messages,
                api_key=self.api_key,
                api_base=self.base_url,
                timeout=self.timeout_s,
                num_retries=0,
                max_retries=0,
                temperature=0,
            )
        except Exception as exc:  # litellm's error classes are many; all mean "no answer"
            kind = "timed out" if "timeout" in type(exc).__name__.lower() else "failed"
            detail = " ".join(str(exc).split())[:160]  # provider messages carry no key
            raise CompileError(
                "llm", f"request to {self.model} {kind}: {type(exc).__name__}: {detail}"
            ) from exc
        self._count(litellm, response)
        return response.choices[0].message.content or ""

    def _count(self, litellm: Any, response: Any) -> None:
        usage = getattr(response, "usage", None)
        try:
            cost = float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # unknown model: no price known, reported as 0
            cost = 0.0
        with self._lock:
            self.usage.calls += 1
            self.usage.prompt_tokens += getattr(usage, "prompt_tokens", 0) or 0
            self.usage.completion_tokens += getattr(usage, "completion_tokens", 0) or 0
            self.usage.cost_usd += cost


def ask_json[M: BaseModel](
    llm: LLM, system: str, prompt: str, model: type[M], stage: str, server: str | None = None
) -> M:
    """One request whose answer must be a JSON object fitting ``model``."""
    text = llm.complete(system, prompt)
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        shown = body[:60].replace("\n", " ")
        raise CompileError(
            stage, f"the LLM's answer is not JSON ({exc.msg}); it began: {shown!r}", server
        ) from None
    except RecursionError:
        raise CompileError(stage, "the LLM's answer is nested too deeply to read", server) from None
    try:
        return model.model_validate(data)
    except RecursionError:
        raise CompileError(
            stage, "the LLM's answer is nested too deeply to check", server
        ) from None
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        shown = repr(error.get("input"))[:60]
        raise CompileError(
            stage, f"the LLM's answer does not fit: {where}: {error['msg']} (got {shown})", server
        ) from None
