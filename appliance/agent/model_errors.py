"""One sentence for a failed model call: what went wrong, where, and what the user can do.

litellm raises its own exception tree (``AuthenticationError``, ``APIConnectionError``,
``InternalServerError``, …) with messages of several hundred characters that repeat the
provider's JSON. The user of an interactive session needs the cause and the next step; the
traceback is for ``--debug``. Exceptions are matched by class name so this module never imports
litellm (seconds of import time) just to word an error.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from appliance.errors import ApplianceError

__all__ = ["Failure", "ModelError", "describe_failure", "describe_model_error", "failure_of"]

_DNS = re.compile(
    r"Name or service not known|nodename nor servname|getaddrinfo failed|"
    r"Temporary failure in name resolution|No address associated with hostname",
    re.IGNORECASE,
)
_REFUSED = re.compile(r"Connection refused|ConnectError|All connection attempts failed", re.I)


class ModelError(ApplianceError):
    """A model call failed; ``str(exc)`` is one sentence for the user, ``__cause__`` the detail."""


class Failure(NamedTuple):
    """What the wording needs of a failed call: its exception's class names (with bases), HTTP
    status, first line and cause chain. Plain data, so a failure in the model worker process
    (``model_worker.py``) is worded in the session exactly as one in this process."""

    names: frozenset[str]
    type_name: str
    status: int | None
    text: str
    chain: str


def failure_of(exc: BaseException) -> Failure:
    status = getattr(exc, "status_code", None)
    return Failure(
        names=frozenset(cls.__name__ for cls in type(exc).__mro__),
        type_name=type(exc).__name__,
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        text=_first_line(exc),
        chain=_chain_text(exc),
    )


def describe_model_error(exc: BaseException, model_id: str, api_base: str | None) -> str:
    """One line naming the failure, the endpoint and the fix; never the key."""
    return describe_failure(failure_of(exc), model_id, api_base)


def describe_failure(failure: Failure, model_id: str, api_base: str | None) -> str:
    provider = model_id.partition(":")[0]
    provider = "gemini" if provider == "google" else provider
    where = api_base or f"the {provider} API"
    names, text, status, chain = failure.names, failure.text, failure.status, failure.chain
    setting = f"{_ours(provider)}BaseUrl"
    if "AuthenticationError" in names or status == 401:
        # Imported here: the worker's first imports stay light, so it starts earlier (~90 ms).
        from appliance.config.models import PROVIDER_ENV

        variable = PROVIDER_ENV.get(_ours(provider), "the provider's key")
        return f"{where} refused the API key (401). Check {variable} or run `ironcurtain setup`."
    if "PermissionDeniedError" in names or status == 403:
        return f"{where} refused access (403) for model {model_id}: check the key's permissions."
    if "NotFoundError" in names or status == 404:
        return f"{where} does not know model {model_id} (404): check agentModelId."
    if "RateLimitError" in names or status == 429:
        return f"{where} is rate limiting this key (429): wait a little and retry."
    if "Timeout" in names or "Timeout" in failure.type_name:
        return f"{where} did not answer in time: check the network, then retry."
    if _DNS.search(text) or _DNS.search(chain):
        host = _host(api_base) or f"the {provider} API host"
        return f"cannot resolve {host} (DNS failure): check the network or {setting}."
    if "APIConnectionError" in names or _REFUSED.search(chain):
        return f"cannot reach {where}: nothing answered. Check the network or {setting}."
    if (isinstance(status, int) and status >= 500) or "InternalServerError" in names:
        code = f" ({status})" if isinstance(status, int) else ""
        return f"{where} failed on its side{code}: retry in a moment."
    if "BadRequestError" in names or status == 400:
        return f"{where} refused the request (400): {text}"
    return f"the model call failed ({failure.type_name}): {text}"


def _ours(provider: str) -> str:
    return "google" if provider == "gemini" else provider


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _chain_text(exc: BaseException) -> str:
    parts: list[str] = []
    seen: Any = exc
    for _ in range(6):
        if seen is None:
            break
        parts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def _host(url: str | None) -> str | None:
    if not url:
        return None
    return url.partition("://")[2].split("/", 1)[0] or None
