"""``ironcurtain setup``: the first-run wizard (also run by ``start`` when ``needs_setup``).

Asks for the LLM provider and its key, the agent model, a web search provider and its key, and
auto-approve; current values are the defaults, so re-running it is how to change them. Nothing
is written until the last answer: Ctrl-C or end of input at any prompt leaves ``config.json``
as it was. Keys are read without echo and never printed, only masked.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from appliance.config.paths import AppPaths, app_paths
from appliance.config.settings import (
    PROVIDER_ENV,
    Config,
    ConfigError,
    config_from_data,
    load_config,
    mask_secret,
    read_raw_config,
    save_config,
    weakening_settings,
)
from appliance.errors import ApplianceError

__all__ = ["Prompts", "SetupCancelled", "first_run_setup", "needs_setup", "run_wizard"]

PROVIDERS = ("anthropic", "openai", "google")
DEFAULT_MODELS = {
    "anthropic": "anthropic:claude-sonnet-4-6",
    "openai": "openai:gpt-5",
    "google": "google:gemini-2.5-pro",
}
_KEY_PREFIX = {"anthropic": "sk-ant-", "openai": "sk-", "google": "AIza"}
_SEARCH = ("none", "brave", "tavily", "serpapi")


class SetupCancelled(ApplianceError):
    """The user pressed Ctrl-C or input ended (``end_of_input``); nothing was written."""

    def __init__(self, *, end_of_input: bool = False) -> None:
        super().__init__("end of input" if end_of_input else "interrupted")
        self.end_of_input = end_of_input


NEXT_STEPS = (
    'next: `ironcurtain start` for a session (or `ironcurtain start "a task"`), '
    "`ironcurtain demo` to watch one with a scripted model, `ironcurtain doctor` to check "
    "the installation."
)
NO_TERMINAL = (
    "setup needs answers, and its input ended before the last one (stdin is not a terminal, so "
    "nobody can type them). Nothing was written. "
    "Run `ironcurtain setup` in a terminal, or configure without it: export ANTHROPIC_API_KEY "
    "(or OPENAI_API_KEY, GOOGLE_GENERATIVE_AI_API_KEY), or `ironcurtain config set "
    "agentModelId PROVIDER:MODEL`."
)


def _cancelled_message(exc: SetupCancelled) -> tuple[str, int]:
    """What to tell the user when the wizard stopped, and the exit status."""
    if exc.end_of_input and not _stdin_is_terminal():
        return NO_TERMINAL, 2
    return "setup cancelled: config.json unchanged. Run `ironcurtain setup` when ready.", 130


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def first_run_setup(paths: AppPaths) -> int | None:
    """For ``start``: run the wizard when nothing is configured. None to go on, else the exit
    status (the wizard was cancelled, or cannot run without answers)."""
    if not needs_setup(paths):
        return None
    print("No configuration yet: running `ironcurtain setup` first.\n", file=sys.stderr)
    try:
        run_wizard(paths, next_steps=False)
    except SetupCancelled as exc:
        message, status = _cancelled_message(exc)
        print(f"\nironcurtain: {message}", file=sys.stderr)
        return status
    print("set-up done: starting the session.\n", file=sys.stderr)
    return None


def _read_secret(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    # Piped input is not echoed by anyone; getpass would reach for /dev/tty instead.
    return _read_line(prompt)


def _ask(prompt: str) -> str:
    return input(prompt) if sys.stdin.isatty() else _read_line(prompt)


def _read_line(prompt: str) -> str:
    """One line of piped input, read so that Ctrl-C always ends the wait.

    ``input()`` on a pipe writes the prompt, then blocks in read(): a SIGINT that lands
    between the two (a fast or scripted answerer, a loaded machine) only marks itself pending,
    and nothing runs the handler until the read returns, so the wizard hangs instead of
    cancelling. Waiting in short select() rounds gives the interpreter a chance to raise
    KeyboardInterrupt between them. Bytes are read one at a time from the descriptor, so
    nothing past the line is taken from whoever reads standard input next."""
    import select

    print(prompt, end="", flush=True)
    fd = sys.stdin.fileno()
    line = bytearray()
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        byte = os.read(fd, 1)
        if not byte:
            if line:
                break
            raise EOFError
        if byte == b"\n":
            break
        line += byte
    return line.decode(errors="replace").rstrip("\r")


@dataclass(frozen=True)
class Prompts:
    """The wizard's terminal, injectable for tests."""

    ask: Callable[[str], str] = _ask
    ask_secret: Callable[[str], str] = _read_secret
    say: Callable[[str], None] = field(default=print)


def needs_setup(paths: AppPaths | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """True when there is no config file and no provider key in the environment."""
    paths = paths or app_paths()
    env = os.environ if environ is None else environ
    return not paths.config_file.exists() and not any(env.get(v) for v in PROVIDER_ENV.values())


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Ctrl-C at any prompt leaves config.json untouched."


def run(args: argparse.Namespace) -> int:
    try:
        run_wizard()
    except ConfigError as exc:
        print(
            f"ironcurtain setup: {exc}\nfix or move the file, then run setup again", file=sys.stderr
        )
        return 2
    except SetupCancelled as exc:
        message, status = _cancelled_message(exc)
        print(f"\nironcurtain setup: {message}", file=sys.stderr)
        return status
    return 0


def run_wizard(
    paths: AppPaths | None = None,
    environ: Mapping[str, str] | None = None,
    prompts: Prompts | None = None,
    *,
    next_steps: bool = True,
) -> Config:
    """Ask, validate, then write ``config.json`` (0600) once; returns the effective config."""
    paths = paths or app_paths()
    env = os.environ if environ is None else environ
    io = prompts or Prompts()
    data = read_raw_config(paths)  # a malformed file stops here, untouched
    before = _contents(paths)
    try:
        answers = _interview(io, dict(data), env, paths)
    except KeyboardInterrupt:
        raise SetupCancelled from None
    except EOFError:
        raise SetupCancelled(end_of_input=True) from None
    if _contents(paths) != before:
        # Someone ran `config set` while we asked; writing now would silently undo it.
        raise ConfigError(
            f"{paths.config_file}: changed by another process while setup ran; nothing written",
            file=paths.config_file,
        )
    save_config(config_from_data(answers, paths.config_file), paths)
    effective = load_config(paths, env)
    io.say(f"saved {paths.config_file}")
    for sentence in weakening_settings(effective):
        io.say(f"warning: {sentence}")
    if next_steps:
        io.say(NEXT_STEPS)
    return effective


def _contents(paths: AppPaths) -> bytes | None:
    try:
        return paths.config_file.read_bytes()
    except FileNotFoundError:
        return None


def _interview(io: Prompts, data: dict[str, Any], env: Mapping[str, str], paths: AppPaths) -> dict:
    current = config_from_data(data, paths.config_file)
    io.say(f"IronCurtain set-up (writes {paths.config_file}; Enter keeps the value in brackets)")
    default_provider = current.agent_provider if current.agent_provider in PROVIDERS else None
    provider = _choose(io, "LLM provider", PROVIDERS, default_provider or "anthropic")
    _ask_provider_key(io, data, provider, env, paths)
    if provider == "openai":
        shown = current.openai_base_url or "api.openai.com"
        while True:  # a refused URL is asked again; Enter keeps what is there
            url = io.ask(f"OpenAI-compatible base URL [{shown}]: ").strip()
            if not url or _set_valid(io, data, ("openaiBaseUrl",), url, paths):
                break
    _ask_model(io, data, provider, current, paths)
    _ask_web_search(io, data, current, paths)
    from appliance.cli.github_token import ask_github_token

    ask_github_token(io, data, _set_valid, paths)
    enabled = _yes_no(
        io, "Let an LLM auto-approve escalations it judges safe", current.auto_approve.enabled
    )
    data.setdefault("autoApprove", {})["enabled"] = enabled
    if provider != "anthropic" and "modelId" not in data["autoApprove"]:
        data["autoApprove"]["modelId"] = data["agentModelId"]
    return data


def _ask_provider_key(
    io: Prompts, data: dict, provider: str, env: Mapping[str, str], paths: AppPaths
) -> None:
    var, key_field = PROVIDER_ENV[provider], f"{provider}ApiKey"
    if env.get(var):
        io.say(f"{var} is set in your environment; it is used and wins over config.json.")
        return
    stored = data.get(key_field)
    hint = f"Enter keeps the stored key {mask_secret(stored)}" if stored else "Enter to skip"
    while True:
        key = io.ask_secret(f"{provider} API key (hidden; {hint}): ").strip()
        if not key:
            if not stored:
                io.say(f"no key stored: export {var} or run `ironcurtain setup` again later.")
            return
        if _set_valid(io, data, (key_field,), key, paths):
            break
    prefix = _KEY_PREFIX.get(provider)
    if prefix and not key.startswith(prefix):
        io.say(f"note: {provider} keys usually start with {prefix!r}; stored anyway.")


def _ask_model(io: Prompts, data: dict, provider: str, current: Config, paths: AppPaths) -> None:
    same = current.agent_provider == provider
    default = current.agent_model_id if same else DEFAULT_MODELS[provider]
    while True:
        model = io.ask(f"Agent model [{default}]: ").strip() or default
        model = model if ":" in model else f"{provider}:{model}"
        if _set_valid(io, data, ("agentModelId",), model, paths):
            break
    if provider != "anthropic" and "policyModelId" not in data:
        # The default policy model is Anthropic's; without that key it could never run.
        data["policyModelId"] = model
        io.say(f"policyModelId set to {model} as well (change with `ironcurtain config set`).")


def _ask_web_search(io: Prompts, data: dict, current: Config, paths: AppPaths) -> None:
    search = _choose(io, "Web search provider", _SEARCH, current.web_search.provider or "none")
    section = data.setdefault("webSearch", {})
    if search == "none":
        section["provider"] = None
        return
    same = current.web_search.provider == search and current.web_search.api_key is not None
    hint = f"Enter keeps {mask_secret(section.get('apiKey'))}" if same else "Enter to skip"
    section["provider"] = search
    while True:
        key = io.ask_secret(f"{search} API key (hidden; {hint}): ").strip()
        if not key or _set_valid(io, data, ("webSearch", "apiKey"), key, paths):
            return


def _set_valid(io: Prompts, data: dict, path: tuple[str, ...], value: Any, paths: AppPaths) -> bool:
    """Store ``value`` at ``path`` if the whole config still validates; else say why."""
    trial = {**data}
    node = trial
    for part in path[:-1]:
        child = dict(node.get(part) or {})  # copied: a refused value must not leak into data
        node[part] = child
        node = child
    node[path[-1]] = value
    try:
        config_from_data(trial, paths.config_file)
    except ConfigError as exc:
        io.say(f"not accepted: {str(exc).split(': ', 1)[-1]}")
        return False
    data.clear()
    data.update(trial)
    return True


def _choose(io: Prompts, question: str, options: tuple[str, ...], default: str) -> str:
    while True:
        answer = io.ask(f"{question} [{'/'.join(options)}] ({default}): ").strip().lower()
        if not answer:
            return default
        if answer in options:
            return answer
        io.say(f"please answer one of: {', '.join(options)}")


def _yes_no(io: Prompts, question: str, default: bool) -> bool:
    while True:
        answer = io.ask(f"{question}? [y/n] ({'y' if default else 'n'}): ").strip().lower()
        if not answer:
            return default
        if answer in ("y", "yes", "n", "no"):
            return answer.startswith("y")
        io.say("please answer y or n")
