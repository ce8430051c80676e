"""config.json, the side settings that weaken the boundary, the model's key, and (``--online``) one
tiny completion.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.cli.doctor.base import Check, Facts, fail, ok, warn

if TYPE_CHECKING:
    from appliance.config.models import Config


def check_config(facts: Facts) -> list[Check]:
    file = facts.paths.config_file
    if facts.config_error:
        # `config set` and `setup` refuse to touch a file they cannot read (nothing is lost), so
        # the only fixes are the file itself, or moving it away.
        fix = f"edit {file} where the error points, or move it away and run `ironcurtain setup`"
        return [fail("config", facts.config_error.replace("\n", "; "), fix)]
    checks = [ok("config", f"{file}" if file.exists() else "no config.json: the defaults apply")]
    if file.exists() and file.stat().st_mode & 0o077:
        checks.append(_loose_mode(facts.config, file))
    checks.append(_provider_key(facts))
    if facts.online and checks[-1].status == "ok":
        checks.append(_online(facts))
    from appliance.cli.github_token import check_github

    checks += check_github(facts.config, facts.online, {"ok": ok, "warn": warn, "fail": fail})
    return checks + _side_settings(facts.config)


def _loose_mode(config: Config, file: Path) -> Check:
    """Others can read config.json: a failure when it holds a key, else a warning."""
    from appliance.config.settings import is_secret_path

    mode, fix = oct(file.stat().st_mode & 0o777), f"chmod 600 {file}"
    keys = [p for p, source in config.sources.items() if source == "file" and is_secret_path(p)]
    if keys:
        return fail("config-mode", f"{file} has mode {mode} and holds {', '.join(keys)}", fix)
    return warn("config-mode", f"{file} has mode {mode} (no keys in it yet)", fix, required=True)


def _side_settings(config: Config) -> list[Check]:
    """Settings that work but not as the user may think: each is a warning."""
    from appliance.config.settings import PROVIDER_ENV, weakening_settings

    checks = []
    # the optional model callers: each on, with no key for its provider, does nothing useful
    for name, setting, section, without in (
        ("auto-approve-key", "autoApprove", config.auto_approve, "every escalation asks you"),
        ("task-plan-key", "taskPlan", config.task_plan, "no message is planned"),
    ):
        provider = section.model_id.partition(":")[0]
        local = provider == "openai" and config.openai_base_url
        if section.enabled and not (config.api_key_for(provider) or local):
            detail = f"{setting} is on but there is no {provider} key: {without}"
            variable = PROVIDER_ENV.get(provider, "its key")
            fix = f"export {variable}, or `ironcurtain config set {setting}.enabled false`"
            checks.append(warn(name, detail, fix))
    search = config.web_search
    if search.provider and search.api_key is None:
        detail = f"webSearch.provider is {search.provider} but webSearch.apiKey is not set"
        checks.append(warn("web-search-key", detail, "ironcurtain config set webSearch.apiKey"))
    loosened = weakening_settings(config)
    if loosened:
        detail = f"{len(loosened)} setting(s) loosen the defaults: " + " ".join(loosened)
        checks.append(warn("loosened", detail, "ironcurtain config unset FIELD (if unintended)"))
    return checks


def _provider_key(facts: Facts) -> Check:
    from appliance.agent.code_session import MissingKey, model_settings
    from appliance.config.settings import PROVIDER_ENV

    config = facts.config
    provider = config.agent_provider
    try:
        settings = model_settings(config)
    except MissingKey:
        variable = PROVIDER_ENV.get(provider, "the provider's key variable")
        detail = f"no API key for {provider} ({variable} unset, none in config.json)"
        return fail("provider-key", detail, f"export {variable}, or run `ironcurtain setup`")
    source = config.sources.get(f"{provider}ApiKey", "default")
    where = f"key from {source}" if settings.api_key else f"no key, base URL {settings.api_base}"
    return ok("provider-key", f"{config.agent_model_id}: {where}")


def _online(facts: Facts) -> Check:
    """One tiny completion; only with --online. The error text is litellm's, never the key."""
    from appliance.agent.code_session import model_settings
    from appliance.agent.loop import litellm_model

    settings = model_settings(facts.config)
    started = time.perf_counter()
    try:
        import litellm

        litellm.suppress_debug_info = True  # else it prints help banners into --json output
        with contextlib.redirect_stdout(sys.stderr):
            litellm.completion(
                model=litellm_model(settings.model_id),
                messages=[{"role": "user", "content": "Reply with: ok"}],
                max_tokens=1,
                api_key=settings.api_key,
                api_base=settings.api_base,
                timeout=15,
                num_retries=0,
            )
    except Exception as exc:  # any failure of the call is the finding
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return fail("provider-online", first, "check the key, the model id and the network")
    elapsed = time.perf_counter() - started
    return ok("provider-online", f"{settings.model_id} answered in {elapsed:.1f} s")
