"""How the agent in the container is authenticated upstream: an API key, or a Claude
subscription (Claude Code's OAuth login on the host).

``IRONCURTAIN_DOCKER_AUTH`` chooses: ``apikey`` (the configured key, as before), ``oauth`` (the
subscription; its credentials file must exist), or unset: the API key when one is configured,
else the subscription when Claude Code is logged in on this machine. Either way the real secret
stays on the host; the container gets a placeholder of the right shape.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from appliance.credproxy.oauth import default_credentials_file

__all__ = ["AUTH_VARIABLE", "DockerAuth", "choose_auth"]

AUTH_VARIABLE = "IRONCURTAIN_DOCKER_AUTH"


@dataclass(frozen=True)
class DockerAuth:
    kind: str  # "apikey" or "oauth"
    key: str | None = None  # the API key (apikey)
    credentials: Path | None = None  # Claude Code's credentials file (oauth)


def choose_auth(
    provider: str,
    api_key: str | None,
    environ: Mapping[str, str] | None = None,
    credentials: Path | None = None,
) -> DockerAuth:
    """The session's authentication, or ValueError saying what is missing and how to fix it."""
    env = os.environ if environ is None else environ
    wanted = env.get(AUTH_VARIABLE, "").strip().lower()
    if wanted not in ("", "apikey", "oauth"):
        raise ValueError(f"{AUTH_VARIABLE}={env.get(AUTH_VARIABLE)!r}: use apikey or oauth")
    path = credentials if credentials is not None else default_credentials_file()
    if wanted == "oauth" or (wanted == "" and not api_key and provider == "anthropic"):
        if provider != "anthropic":
            raise ValueError(f"{AUTH_VARIABLE}=oauth: only Claude (anthropic) subscriptions")
        if path.is_file():
            return DockerAuth("oauth", credentials=path)
        if wanted == "oauth":
            raise ValueError(
                f"{AUTH_VARIABLE}=oauth but Claude Code is not logged in here ({path} is "
                "missing): run `claude` once and log in, or configure an API key"
            )
    if not api_key:
        raise ValueError(
            f"no {provider} API key is configured and no Claude subscription login was found "
            f"({path}); run `ironcurtain setup`, set the key in the environment, or log in "
            "with `claude`"
        )
    return DockerAuth("apikey", key=api_key)
