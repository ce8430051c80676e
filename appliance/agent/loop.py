"""The builtin agent: a litellm chat loop with one tool, ``execute_code``.

The model writes Python; :class:`CodeExecutor` runs it in the WebAssembly sandbox, where the only
way out is a tool call through the chokepoint. This module holds the conversation, enforces the
budgets between steps and before each execution, stops a model that repeats the same code with
the same outcome, truncates large results, and persists the history for ``--resume``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from appliance.agent.model_errors import ModelError, describe_model_error
from appliance.agent.model_worker import Completion, completion_from
from appliance.config.model_settings import ModelSettings
from appliance.errors import ApplianceError
from appliance.host.atomic import write_text_atomic
from appliance.session.budget import Budget, BudgetExceeded
from policy.api import JSONRefused
from policy.api import loads as safe_loads

if TYPE_CHECKING:
    from appliance.config.settings import Config

__all__ = [
    "Agent",
    "InProcessModel",
    "MissingKey",
    "ModelClient",
    "ModelError",
    "ModelSettings",
    "complete_once",
    "import_litellm",
    "litellm_model",
    "model_settings",
    "system_prompt",
    "transcript",
    "truncate",
]

RESULT_CAP_BYTES = 100_000
# A model's whole answer is far smaller (128k output tokens is ~0.5 MB): more is not code.
ARGUMENTS_CAP_BYTES = 2 * 1024 * 1024
LOOP_REPEATS = 3

EXECUTE_CODE_TOOL = {
    "type": "function",
    "function": {
        "name": "execute_code",
        "description": (
            "Run Python in the sandbox. Tools are called as SERVER.TOOL(arg=value), e.g. "
            "filesystem.read_text_file(path='notes.md'). print() what you need to see; the value "
            "of the last expression is returned too."
        ),
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "Python source to run"}},
            "required": ["code"],
        },
    },
}


def preload_litellm(model_id: str | None = None) -> None:
    """Start importing litellm on a daemon thread now (~2 s of CPU), so that it runs while the
    servers and the sandbox start instead of after them; the first model call's own
    ``import litellm`` then waits on the import lock for this one instead of starting again.
    For a model litellm reaches through the OpenAI SDK (``openai:``, ``azure:``), the SDK's
    resource modules too: the first request imports them otherwise (~0.4 s, measured).
    Lives here because only the model loop, the auto-approver and the compiler import litellm."""
    import threading

    global _preload
    if _preload is not None:
        return
    openai_sdk = (model_id or "").partition(":")[0] in _THROUGH_OPENAI_SDK
    _preload = threading.Thread(
        target=_import_litellm, args=(openai_sdk,), name="import-litellm", daemon=True
    )
    _preload.start()


_THROUGH_OPENAI_SDK = frozenset({"openai", "azure"})
# The preload thread, once started: every other import of litellm waits for it to end rather
# than import the same packages beside it (two threads importing litellm and the OpenAI SDK's
# resources at once deadlocked on CPython's module locks: a job run hung with one thread left).
_preload: Any = None


def _import_litellm(openai_sdk: bool) -> None:
    import_litellm()
    if openai_sdk:
        import openai.resources  # noqa: F401 - what litellm's first OpenAI request imports


# IronCurtain's provider names where litellm's differ (Google AI Studio is litellm's "gemini").
_LITELLM_PROVIDER = {"google": "gemini"}


def litellm_model(model_id: str) -> str:
    """``provider:model`` (IronCurtain's naming) to litellm's ``provider/model``."""
    provider, sep, name = model_id.partition(":")
    if not sep or not provider or not name:
        raise ValueError(f"model id {model_id!r} must look like provider:model")
    return f"{_LITELLM_PROVIDER.get(provider, provider)}/{name}"


def import_litellm() -> Any:
    """litellm, imported offline (no cost-map download) and quiet (no banners on stdout)."""
    import threading

    if _preload is not None and _preload is not threading.current_thread():
        _preload.join()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def complete_once(
    model: ModelSettings, messages: list[dict[str, str]], timeout_s: float, **params: Any
) -> str:
    """One short completion in this thread, its text ("" when it has none): the auto-approver's
    and the task planner's calls (``params``: ``max_tokens``, ``temperature``…)."""
    response = import_litellm().completion(
        model=litellm_model(model.model_id),
        messages=messages,
        api_key=model.api_key,
        api_base=model.api_base,
        timeout=timeout_s,
        **params,
    )
    return response.choices[0].message.content or ""


class MissingKey(ApplianceError):
    """The model has neither a key nor a base URL; the message says what to set."""


def model_settings(config: Config, model_id: str | None = None) -> ModelSettings:
    """The agent model's settings (or ``model_id``'s); MissingKey when it has neither a key nor
    a base URL (a gateway may need no key)."""
    model_id = model_id or config.agent_model_id
    litellm_model(model_id)  # ValueError: not provider:model
    settings = ModelSettings.for_model(config, model_id)
    if not settings.api_key and not settings.api_base:
        provider = model_id.partition(":")[0]
        from appliance.config.settings import PROVIDER_ENV

        variable = PROVIDER_ENV.get(
            "google" if provider == "gemini" else provider, "the provider's API key variable"
        )
        raise MissingKey(
            f"no API key for {provider!r} (model {model_id}). Set {variable}, or "
            "run `ironcurtain setup` / `ironcurtain config set` to store one. "
            "To try the appliance without a key, run `ironcurtain demo`."
        )
    return settings


def transcript(messages: Sequence[dict[str, Any]], last: int = 10) -> list[tuple[str, str]]:
    """A conversation as the user saw it: (``you``/``agent``, text), the last few entries."""
    shown = [
        ("you" if m["role"] == "user" else "agent", m["content"])
        for m in messages
        if m.get("role") in ("user", "assistant")
        and isinstance(m.get("content"), str)
        and m["content"].strip()
    ]
    return shown[-last:]


def system_prompt(catalog: Sequence[dict[str, Any]], sandbox: str) -> str:
    lines = [
        "You are an agent that acts by writing Python, run by the execute_code tool in a "
        "WebAssembly sandbox with no direct access to files, network or environment.",
        f"Your working folder (the sandbox) is {sandbox}. Use paths inside it unless the task "
        "says otherwise.",
        "Every tool call goes through a security policy. A call may be allowed, denied "
        "(it raises ToolError('DENIED: reason')) or sent to the user for approval. Never retry a "
        "denied call or try to get around it: read the reason and choose another way, or explain "
        "to the user what you could not do. A call whose arguments do not fit the tool's "
        "parameters raises ToolError('INVALID ARGUMENTS: reason'): fix them and call again.",
        "Batch work: one execute_code can make many tool calls. Print only what you need; large "
        "results are cut in the middle.",
        "help() lists the tools; help('git') describes one server's tools and their arguments.",
        "",
        "Tools:",
    ]
    for entry in catalog:
        summary = (entry.get("description") or "").strip().split("\n")[0][:110]
        args = ", ".join(entry.get("required") or [])
        lines.append(f"- {entry['server']}.{entry['name']}({args}): {summary}")
    return "\n".join(lines)


def truncate(text: str, cap: int = RESULT_CAP_BYTES) -> str:
    data = text.encode()
    if len(data) <= cap:
        return text
    half = cap // 2
    head = data[:half].decode(errors="ignore")
    tail = data[-half:].decode(errors="ignore")
    cut = len(data) - 2 * half
    return f"{head}\n[... {cut} bytes cut: the result was {len(data)} bytes ...]\n{tail}"


class ModelClient(Protocol):
    async def complete(
        self, request: dict[str, Any], model_id: str, api_base: str | None
    ) -> Completion: ...


class InProcessModel:
    """litellm in this process (the worker's alternative: tools and tests that make a few calls)."""

    async def complete(
        self, request: dict[str, Any], model_id: str, api_base: str | None
    ) -> Completion:
        # The first import takes seconds: in a thread, so the event loop (Ctrl-C, the
        # escalation prompt, the elapsed-time display) stays live meanwhile.
        litellm = await anyio.to_thread.run_sync(import_litellm)
        try:
            response = await litellm.acompletion(**request)
        except Exception as exc:  # every failure of the call: one sentence for the user
            raise ModelError(describe_model_error(exc, model_id, api_base)) from exc
        return completion_from(response, litellm)


class Agent:
    def __init__(
        self,
        *,
        model: ModelSettings,
        execute: Callable[[str], Awaitable[str]],
        budget: Budget,
        system: str,
        history_path: Path | None = None,
        report: Callable[[str, str], None] = lambda kind, text: None,
        on_usage: Callable[[Budget], None] | None = None,
        client: ModelClient | None = None,
    ) -> None:
        """``client``: where model calls run (a session passes its :class:`ModelWorker`); None:
        litellm in this process."""
        self.model = model
        self.client = client if client is not None else InProcessModel()
        self.execute = execute
        self.budget = budget
        self.history_path = history_path
        self.report = report
        self.on_usage = on_usage  # after each model step: the session publishes its use
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
        self.stopped_by_budget = False
        self._recent: list[str] = []
        if history_path is not None and history_path.exists():
            self.messages = json.loads(history_path.read_text())

    async def send(self, user_message: str) -> str:
        """Run one user turn to its end; return the model's final text.

        A failed model call raises :class:`ModelError` with the user's message kept in the
        history, so :meth:`resume` (``/retry``) sends it again, to the same model or another.
        """
        self.messages.append({"role": "user", "content": user_message})
        self._save()
        return await self.resume()

    async def resume(self) -> str:
        """Go on from the conversation as it stands (after a failed or interrupted model call)."""
        try:
            return await self._turn()
        except BudgetExceeded as exc:
            self.stopped_by_budget = True
            text = f"Stopped: {exc}."
            self.report("budget", text)
            return text
        finally:
            # Cancelled (Ctrl-C) between a tool call and its result: answer the call, or every
            # later request would be refused for a tool call without a result.
            self._close_open_calls()

    async def _turn(self) -> str:
        while True:
            self._check_budget()
            message = await self._complete()
            calls = message.get("tool_calls") or []
            self.messages.append(message)
            self._save()
            if not calls:
                return message.get("content") or ""
            for call in calls:
                result = await self._run_tool(call)
                self.messages.append(
                    {"role": "tool", "tool_call_id": call["id"], "content": result}
                )
                self._save()
                if self._looping(call, result):
                    text = "Stopped: the agent repeated the same code with the same outcome."
                    self.report("loop", text)
                    return text

    async def _complete(self) -> dict[str, Any]:
        self.report("thinking", "")
        try:
            done = await self.client.complete(
                self._request(), self.model.model_id, self.model.api_base
            )
        finally:
            self.report("thinking-done", "")
        self.budget.add_step()
        self.budget.add_usage(done.tokens, done.cost)
        if self.on_usage is not None:
            self.on_usage(self.budget)
        if done.message.get("content"):
            self.report("assistant", done.message["content"])
        return done.message

    def _request(self) -> dict[str, Any]:
        return {
            "model": litellm_model(self.model.model_id),
            "messages": self.messages,
            "tools": [EXECUTE_CODE_TOOL],
            "api_key": self.model.api_key,
            "api_base": self.model.api_base,
            "timeout": self.model.timeout_s,
            # Our one tool is never a litellm MCP-gateway tool: litellm must not act as an MCP
            # client, and skipping its check also skips importing the MCP SDK (~0.37 s) on the
            # first request.
            "_skip_mcp_handler": True,
        }

    def _close_open_calls(self) -> None:
        last = next((m for m in reversed(self.messages) if m.get("role") == "assistant"), None)
        if last is None or not last.get("tool_calls"):
            return
        answered = {m.get("tool_call_id") for m in self.messages if m.get("role") == "tool"}
        missing = [c["id"] for c in last["tool_calls"] if c["id"] not in answered]
        for call_id in missing:
            self.messages.append(
                {"role": "tool", "tool_call_id": call_id, "content": "ERROR: not run: interrupted"}
            )
        if missing:
            self._save()

    async def _run_tool(self, call: dict[str, Any]) -> str:
        function = call.get("function", {})
        if function.get("name") != "execute_code":
            return f"ERROR: unknown tool {function.get('name')!r}; the only tool is execute_code"
        try:
            # The model's text: parsed with limits (size, depth, NaN, lone surrogates), since
            # json.loads raises RecursionError on deep nesting and lets a lone surrogate through.
            arguments = safe_loads(function.get("arguments") or "{}", max_bytes=ARGUMENTS_CAP_BYTES)
        except JSONRefused as exc:
            return f"ERROR: execute_code arguments {exc}"
        code = arguments.get("code") if isinstance(arguments, dict) else None
        if not isinstance(code, str):
            return "ERROR: execute_code needs a string argument 'code'"
        self._check_budget()
        self.report("code", code)
        result = truncate(await self.execute(code))
        self.report("result", result)
        return result

    def _check_budget(self) -> None:
        for warning in self.budget.check():
            self.report("budget", warning)

    def _looping(self, call: dict[str, Any], result: str) -> bool:
        arguments = str(call.get("function", {}).get("arguments", ""))
        # surrogatepass: refused arguments are still compared, and may hold a lone surrogate.
        key = hashlib.sha256(
            (arguments + "\0" + result).encode("utf-8", "surrogatepass")
        ).hexdigest()
        self._recent.append(key)
        self._recent = self._recent[-LOOP_REPEATS:]
        return len(self._recent) == LOOP_REPEATS and len(set(self._recent)) == 1

    def _save(self) -> None:
        if self.history_path is None:
            return
        # The conversation can hold anything the agent read: private to the user, like the rest.
        write_text_atomic(self.history_path, json.dumps(self.messages, indent=1))
