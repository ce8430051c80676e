"""The one place the policy engine's context is built, for the live chokepoint and for
``ironcurtain policy check`` / ``policy replay`` alike, so an offline answer is the live answer.

The context is everything the engine knows besides the policy: the sandbox, the protected paths
(``AppPaths.protected_patterns``: the appliance's own files), the per-server domain gates, the
user's home, and how history roles inside the sandbox are treated. What stays session-only is
what needs the session itself (git's working folder, a remote name's URL): see
``docs/policy-format.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.config.paths import AppPaths
from policy.api import EvalContext, resolve_on_disk

if TYPE_CHECKING:
    from appliance.config.sections import ChokepointSettings

__all__ = ["SERVER_DOMAIN_GATES", "policy_context"]

# server -> the hosts its URL values may name before a human is asked. The shipped servers have
# none: the rules decide every URL (fetch by domain lists, git remotes by escalation). A server
# listed here gets IronCurtain's structural-domain-escalate for any other host.
SERVER_DOMAIN_GATES: Mapping[str, tuple[str, ...]] = {}


def policy_context(
    paths: AppPaths,
    sandbox: str | Path | None,
    *,
    settings: ChokepointSettings | None = None,
    resolve_path: Callable[[str], str] = resolve_on_disk,
) -> EvalContext:
    """``settings``: the chokepoint's section (the engine reads ``sandboxHistory``); None: the
    defaults."""
    if settings is None:
        from appliance.config.sections import ChokepointSettings

        settings = ChokepointSettings.defaults()
    return EvalContext(
        sandbox=None if sandbox is None else str(sandbox),
        protected_patterns=paths.protected_patterns(),
        allowed_domains=dict(SERVER_DOMAIN_GATES),
        resolve_path=resolve_path,
        home=str(Path.home()),
        sandbox_history=settings.sandbox_history,
    )
