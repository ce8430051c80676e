"""The GitHub token's two host-side moments: ``setup`` asks for it, ``doctor`` checks it.

Why a module of its own: ``setup.py`` and ``doctor.py`` each call one function here, so the
token's handling (where it may come from, what is checked, what is shown) stays in one place.
The token is shown only masked; the check talks only to the configured API host (``githubHost``,
or ``IRONCURTAIN_GITHUB_API_URL`` — the same test override the github server reads) and only
with ``doctor --online``. ``gh auth token`` is run only when the user says yes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from appliance.config.settings import mask_secret

__all__ = ["ask_github_token", "check_github", "gh_cli_token", "token_report"]

WANTED_SCOPES = ("repo", "read:org")  # what the 41 tools need on a classic token
EXPIRY_WARNING_DAYS = 7


def gh_cli_token(run: Callable[..., Any] = subprocess.run) -> str | None:
    """The GitHub CLI's token (``gh auth token``), or None when gh is missing or logged out."""
    gh = shutil.which("gh")
    if gh is None:
        return None
    try:
        done = run([gh, "auth", "token"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    token = (done.stdout or "").strip()
    return token if done.returncode == 0 and token and " " not in token else None


def ask_github_token(
    io: Any,
    data: dict,
    set_valid: Callable[..., bool],
    paths: Any,
    gh: Callable[[], str | None] | None = None,
) -> None:
    """The setup step: the github server's token, typed, or ``gh`` to take the GitHub CLI's
    (run only on that answer: the user allows it by typing it)."""
    read_gh = gh or gh_cli_token
    stored = data.get("githubToken")
    hint = f"Enter keeps {mask_secret(stored)}" if stored else "Enter to skip"
    while True:
        token = io.ask_secret(
            f"GitHub token for the github server (hidden; {hint}; gh: use `gh auth token`): "
        ).strip()
        if token == "gh":  # noqa: S105 - the answer that means "ask gh", not a secret
            token = read_gh()
            if not token:
                io.say("gh gave no token (not installed, or `gh auth login` first).")
                continue
            if set_valid(io, data, ("githubToken",), token, paths):
                io.say(f"githubToken set from gh ({mask_secret(token)}).")
                return
            continue
        if not token or set_valid(io, data, ("githubToken",), token, paths):
            return


def token_report(api_url: str, token: str, timeout: float = 10.0) -> tuple[str, str, str]:
    """(status, detail, fix) for one ``GET /user`` with ``token``: ok, warn or fail."""
    import httpx

    try:
        response = httpx.get(
            f"{api_url.rstrip('/')}/user",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "User-Agent": "ironcurtain-doctor",
            },
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        )
    except httpx.HTTPError as exc:
        return "fail", f"{api_url} unreachable ({type(exc).__name__})", "check githubHost"
    if response.status_code == 401:
        return "fail", "GitHub refused the token (401): expired or revoked", _SET
    if response.status_code != 200:
        return "fail", f"GET /user answered {response.status_code}", _SET
    login = response.json().get("login", "?")
    scopes_header = response.headers.get("x-oauth-scopes")
    detail = f"token of {login}"
    problems = []
    if scopes_header is not None:  # classic tokens; fine-grained ones list no scopes
        scopes = {s.strip() for s in scopes_header.split(",") if s.strip()}
        detail += f", scopes: {', '.join(sorted(scopes)) or '(none)'}"
        missing = [s for s in WANTED_SCOPES if s not in scopes and not _implied(s, scopes)]
        if missing:
            problems.append(f"missing scope(s) {', '.join(missing)}")
    else:
        detail += " (fine-grained: permissions are per repository)"
    expiry = _expiry(response.headers.get("github-authentication-token-expiration"))
    if expiry is not None:
        days = (expiry - datetime.now(UTC)).days
        detail += f", expires {expiry:%Y-%m-%d}"
        if days < EXPIRY_WARNING_DAYS:
            problems.append(f"expires in {max(days, 0)} day(s)")
    if problems:
        return "warn", f"{detail}: {'; '.join(problems)}", _SET
    return "ok", detail, ""


_SET = "make a new token and run `ironcurtain config set githubToken TOKEN` (or setup)"


def _implied(scope: str, held: set[str]) -> bool:
    return scope == "read:org" and ("admin:org" in held or "write:org" in held)


def _expiry(value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S %z"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def check_github(config: Any, online: bool, make: dict[str, Callable[..., Any]]) -> list[Any]:
    """doctor's checks: is a token configured; with ``--online``, is it valid, scoped, current.
    ``make`` holds doctor's ``ok``/``warn``/``fail`` so the checks look like its others."""
    from servers.github.api import api_url_for_host

    token = config.github_token.get_secret_value() if config.github_token else None
    if token is None:  # not a fault: many users never touch GitHub
        detail = "not set: the github server reads public data only (set with setup)"
        return [make["ok"]("github-token", detail, required=False)]
    checks = [make["ok"]("github-token", f"set ({mask_secret(token)})", required=False)]
    if online:
        url = os.environ.get("IRONCURTAIN_GITHUB_API_URL") or api_url_for_host(config.github_host)
        status, detail, fix = token_report(url, token)
        if status == "ok":
            checks.append(make["ok"]("github-online", detail, required=False))
        else:
            checks.append(make[status]("github-online", detail, fix))
    return checks
