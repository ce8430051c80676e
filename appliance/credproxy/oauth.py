"""A Claude subscription's OAuth token, held by the host for the credential proxy.

Claude Code users log in with a subscription: Claude Code keeps the tokens in
``~/.claude/.credentials.json`` (``claudeAiOauth``: ``accessToken``, ``refreshToken``,
``expiresAt`` in milliseconds). The file is read here, on the host, and never copied or mounted
into the container: the agent gets a placeholder token of the same shape (through
``CLAUDE_CODE_OAUTH_TOKEN``) and the proxy writes the real access token into each request to the
Anthropic API. When the token is near its expiry (or the API said 401), it is refreshed with the
refresh token against Anthropic's token endpoint, and the new tokens are written back to the
user's file atomically (mode kept, other fields kept), so Claude Code on the host goes on with
them too.

Two holders of one refresh token race: Claude Code on the host may refresh while a session runs.
So the file is read again before each refresh; if it holds tokens newer than ours, they are
adopted and nothing is exchanged (a refresh token is single-use for Anthropic).

Facts (Claude Code's public client, as Claude Code itself presents it): the token endpoint is
``https://platform.claude.com/v1/oauth/token``, a form-encoded ``grant_type=refresh_token`` grant
with client id ``9d1c250a-e61b-44d9-88ed-5944d1962f5e``; the answer carries ``access_token``,
``expires_in`` (seconds) and usually a new ``refresh_token``.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError
from appliance.host.atomic import write_text_atomic

__all__ = [
    "CLIENT_ID",
    "TOKEN_URL",
    "ClaudeSubscription",
    "OAuthError",
    "Tokens",
    "default_credentials_file",
    "read_tokens",
]

log = logging.getLogger("appliance.credproxy")

CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
TOKEN_URL = "https://platform.claude.com/v1/oauth/token"  # noqa: S105 - a URL, not a secret
REFRESH_MARGIN_S = 300.0  # refresh this long before the token expires
_REFRESH_TIMEOUT_S = 20.0
_RETRY_PAUSE_S = 15.0  # after a network failure, before the endpoint is tried again
_MAX_FILE_BYTES = 64 * 1024
_MAX_ANSWER_BYTES = 64 * 1024
_MAX_TOKEN_CHARS = 8192
_MIN_TOKEN_CHARS = 16


class OAuthError(ApplianceError):
    """The subscription's tokens cannot be read or refreshed (the message says what to do)."""


class _Refused(OAuthError):
    """The token endpoint refused this refresh token: it will not work again."""


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str
    expires_at: float  # seconds since the epoch

    def __repr__(self) -> str:  # never a token in a log line or a traceback
        return f"Tokens(expires_at={self.expires_at:.0f})"


def default_credentials_file() -> Path:
    return Path.home() / ".claude" / ".credentials.json"


def read_tokens(path: Path) -> Tokens:
    """The ``claudeAiOauth`` tokens of Claude Code's credentials file; :class:`OAuthError`
    naming the file and the field when it cannot be used."""
    data = _read_json(path)
    oauth = data.get("claudeAiOauth")
    if not isinstance(oauth, dict):
        raise OAuthError(f"{path}: no claudeAiOauth section (log in with `claude` first)")
    access, refresh, expires = (oauth.get(k) for k in ("accessToken", "refreshToken", "expiresAt"))
    for name, value in (("accessToken", access), ("refreshToken", refresh)):
        if not _token_shaped(value):
            raise OAuthError(f"{path}: claudeAiOauth.{name} is missing or not a token")
    if isinstance(expires, bool) or not isinstance(expires, int | float) or expires <= 0:
        raise OAuthError(f"{path}: claudeAiOauth.expiresAt is missing or not a time")
    return Tokens(str(access), str(refresh), float(expires) / 1000.0)


class ClaudeSubscription:
    """The current access token, refreshed when needed; safe to use from several threads.

    ``token_url`` is Anthropic's endpoint unless a test names a loopback one (ProxyConfig
    checks that); ``ca`` is the bundle its TLS is verified with (None: the system's).
    """

    def __init__(
        self,
        path: Path,
        *,
        token_url: str = TOKEN_URL,
        ca: Path | None = None,
        clock: Callable[[], float] = time.time,
        on_refresh: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.token_url = token_url
        self.ca = ca
        self._clock = clock
        self._on_refresh = on_refresh
        self._lock = threading.Lock()
        self._tokens = read_tokens(path)
        self._stale = False
        self.refreshes = 0
        # After a refused refresh: (the refresh token that was refused, why). Nothing more is
        # sent with that token (no retry storm); new tokens in the file (the user logged in
        # again on the host) clear it. After a network failure: a short pause before the next.
        self._refused: tuple[str, str] | None = None
        self._retry_after = 0.0

    def secrets(self) -> tuple[str, ...]:
        """What must never reach the container or a log: the current tokens."""
        tokens = self._tokens
        return (tokens.access, tokens.refresh)

    def fresh_token(self) -> str | None:
        """The access token if it needs no refresh now, else None (no I/O, for the hot path)."""
        tokens = self._tokens
        if self._stale or tokens.expires_at - self._clock() < REFRESH_MARGIN_S:
            return None
        return tokens.access

    def access_token(self) -> str:
        """A usable access token, refreshing first when it is near its expiry or was refused.
        Blocking (up to ~20 s): call it off the proxy's event loop."""
        token = self.fresh_token()
        if token is not None:
            return token
        with self._lock:  # one refresh for every request that waits on it
            token = self.fresh_token()
            if token is not None:
                return token
            self._tokens = self._renewed()
            self._stale = False
            return self._tokens.access

    def refused(self, access: str) -> None:
        """The API answered 401 to ``access``: the next request refreshes first."""
        if access == self._tokens.access:
            self._stale = True

    def _renewed(self) -> Tokens:
        on_disk = read_tokens(self.path)
        if on_disk.refresh != self._tokens.refresh and (
            on_disk.expires_at - self._clock() >= REFRESH_MARGIN_S
        ):
            self._refused = None
            self._report("adopted the tokens Claude Code refreshed on the host")
            return on_disk  # someone else (Claude Code on the host) refreshed: ours is spent
        if self._refused is not None and self._refused[0] == on_disk.refresh:
            raise OAuthError(self._refused[1])
        if self._clock() < self._retry_after:
            raise OAuthError("the token endpoint could not be reached a moment ago; retry soon")
        try:
            renewed = self._exchange(on_disk.refresh)
        except _Refused as exc:
            self._refused = (on_disk.refresh, str(exc))
            raise OAuthError(str(exc)) from None
        except OAuthError:
            self._retry_after = self._clock() + _RETRY_PAUSE_S
            raise
        self._write_back(renewed)
        self.refreshes += 1
        self._report("refreshed the subscription's access token")
        return renewed

    def _exchange(self, refresh: str) -> Tokens:
        import httpx

        form = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": CLIENT_ID}
        try:
            with httpx.Client(
                trust_env=False,  # never an environment proxy: the refresh token goes here
                verify=ssl.create_default_context(cafile=str(self.ca)) if self.ca else True,
                timeout=_REFRESH_TIMEOUT_S,
                follow_redirects=False,
            ) as client:
                answer = client.post(self.token_url, data=form)
                body = answer.content[: _MAX_ANSWER_BYTES + 1]
        except httpx.HTTPError as exc:
            raise OAuthError(
                f"cannot reach the token endpoint to refresh the Claude subscription's token "
                f"({type(exc).__name__}); check the network, or log in again with `claude`"
            ) from None
        if answer.status_code != 200:
            raise _Refused(
                f"the token endpoint refused to refresh the Claude subscription's token (HTTP "
                f"{answer.status_code}); log in again with `claude` on this machine, or set "
                "IRONCURTAIN_DOCKER_AUTH=apikey to use an API key"
            )
        if len(body) > _MAX_ANSWER_BYTES:
            raise OAuthError("the token endpoint's answer is too large; nothing was changed")
        try:
            data = json.loads(body)
        except ValueError:
            raise OAuthError("the token endpoint answered with no JSON; nothing changed") from None
        access = data.get("access_token") if isinstance(data, dict) else None
        expires_in = data.get("expires_in") if isinstance(data, dict) else None
        if not _token_shaped(access):
            raise OAuthError("the token endpoint's answer has no access_token; nothing was changed")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            raise OAuthError("the token endpoint's answer has no expires_in; nothing was changed")
        if not 0 < expires_in <= 366 * 86400:
            raise OAuthError("the token endpoint's expires_in is out of range; nothing changed")
        new_refresh = data.get("refresh_token")
        refresh_out = str(new_refresh) if _token_shaped(new_refresh) else refresh
        return Tokens(str(access), refresh_out, self._clock() + float(expires_in))

    def _write_back(self, tokens: Tokens) -> None:
        """The user's file with the new tokens, every other field kept, mode kept; atomic."""
        data = _read_json(self.path)
        oauth = data.get("claudeAiOauth")
        oauth = dict(oauth) if isinstance(oauth, dict) else {}
        oauth.update(
            accessToken=tokens.access,
            refreshToken=tokens.refresh,
            expiresAt=int(tokens.expires_at * 1000),
        )
        data["claudeAiOauth"] = oauth
        mode = stat.S_IMODE(self.path.stat().st_mode)
        try:
            write_text_atomic(self.path, json.dumps(data), mode=mode, durable_rename=True)
        except OSError as exc:
            # The exchange spent the old refresh token: keep going with the new ones in memory
            # and say so; the user's own Claude Code will ask them to log in again.
            log.warning("could not write the refreshed tokens back to %s: %s", self.path, exc)

    def _report(self, what: str) -> None:
        log.info("credential proxy: %s", what)
        if self._on_refresh is not None:
            self._on_refresh(what)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise OAuthError(
            f"{path}: cannot read Claude Code's credentials ({exc.strerror}); log in with "
            "`claude`, or set IRONCURTAIN_DOCKER_AUTH=apikey to use an API key"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(_MAX_FILE_BYTES + 1)
    if len(raw) > _MAX_FILE_BYTES:
        raise OAuthError(f"{path}: larger than {_MAX_FILE_BYTES} bytes; not a credentials file")
    try:
        data = json.loads(raw)
    except ValueError:
        raise OAuthError(f"{path}: not JSON") from None
    if not isinstance(data, dict):
        raise OAuthError(f"{path}: not a JSON object")
    return data


def _token_shaped(value: object) -> bool:
    """A token we will put in a header: printable ASCII without spaces, bounded. At least 16
    characters: real ones are ~100, and the echo guard searches every response for them (a
    two-letter "token" would cut every answer)."""
    return (
        isinstance(value, str)
        and _MIN_TOKEN_CHARS <= len(value) <= _MAX_TOKEN_CHARS
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )
