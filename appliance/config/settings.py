"""The appliance's settings: ``config.json`` plus provider keys from the environment.

One frozen pydantic model, validated once at the boundary and then passed around explicitly.
Keys in the file are camelCase, as IronCurtain's users know them; Python code reads the snake_case
attributes (``config.resource_budget.max_steps``). API keys are ``SecretStr`` so that printing or
logging a config never shows one; ``config.api_key_for(provider)`` hands out the plain value.

Errors, by audience: a bad file raises ``ConfigError`` whose message names the file, the dotted
field, the (masked, for keys) value and what was expected. A malformed file is never overwritten.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from appliance.config.paths import AppPaths, app_paths
from appliance.host.atomic import write_text_atomic

__all__ = [
    "PROVIDER_ENV",
    "AutoApprove",
    "Config",
    "ConfigError",
    "CredentialProxy",
    "ResourceBudget",
    "Source",
    "WebSearch",
    "config_from_data",
    "is_secret_path",
    "load_config",
    "mask_secret",
    "read_file_config",
    "read_raw_config",
    "save_config",
    "setting_paths",
    "to_snake",
    "weakening_settings",
]

Provider = Literal["anthropic", "openai", "google"]
Source = Literal["default", "file", "environment"]

# Environment variables that win over the file (the names IronCurtain's users already export).
PROVIDER_ENV: Mapping[str, str] = MappingProxyType(
    {
        "anthropic": "ANTHROPIC_API_KEY",
        "openai": "OPENAI_API_KEY",
        "google": "GOOGLE_GENERATIVE_AI_API_KEY",
    }
)
GITHUB_TOKEN_ENV = "GITHUB_PERSONAL_ACCESS_TOKEN"  # noqa: S105 - a variable's name
_KEY_FIELD = {"anthropic": "anthropicApiKey", "openai": "openaiApiKey", "google": "googleApiKey"}
_BASE_URL_FIELD = {
    "anthropic": "anthropic_base_url",
    "openai": "openai_base_url",
    "google": "google_base_url",
}


def _model_id(value: str) -> str:
    provider, sep, model = value.partition(":")
    if not sep or not provider or not model or provider != provider.strip() or " " in value:
        raise ValueError("expected 'provider:model', e.g. 'anthropic:claude-sonnet-4-6'")
    return value


def _directory(value: str) -> str:
    if "\x00" in value or not value.startswith(("/", "~")):
        raise ValueError("expected an absolute path or one starting with '~'")
    return value


def _api_key(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if not text or any(c.isspace() for c in text):
        raise ValueError("expected a non-empty key without spaces or line breaks")
    return value


def _base_url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    host = rest.split("/", 1)[0]
    if scheme not in ("http", "https") or not sep or not host or "@" in host:
        raise ValueError("expected an http(s) URL without user info, e.g. 'https://host/v1'")
    return value


ModelId = Annotated[str, AfterValidator(_model_id)]
Directory = Annotated[str, AfterValidator(_directory)]
ApiKey = Annotated[SecretStr, AfterValidator(_api_key)]
BaseUrl = Annotated[str, AfterValidator(_base_url)]


class _Section(BaseModel):
    # strict: "300" is not a number and 1 is not true; the file says what it means.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class ResourceBudget(_Section):
    """Per-session limits; ``None`` (``null`` in the file) disables one."""

    max_total_tokens: int | None = Field(1_000_000, ge=1)
    max_steps: int | None = Field(200, ge=1)
    max_session_seconds: int | None = Field(1800, ge=1)
    max_estimated_cost_usd: float | None = Field(5.0, gt=0)


class AutoApprove(_Section):
    enabled: bool = False
    model_id: ModelId = "anthropic:claude-haiku-4-5"


class WebSearch(_Section):
    provider: Literal["brave", "tavily", "serpapi"] | None = None
    api_key: ApiKey | None = None


class CredentialProxy(_Section):
    allowed_providers: tuple[Provider, ...] = ("anthropic",)


class Config(_Section):
    agent_model_id: ModelId = "anthropic:claude-sonnet-4-6"
    policy_model_id: ModelId = "anthropic:claude-sonnet-4-6"
    anthropic_api_key: ApiKey | None = None
    openai_api_key: ApiKey | None = None
    google_api_key: ApiKey | None = None
    # Where each provider's API is reached: a gateway (LiteLLM proxy, OpenRouter, Ollama), a
    # regional endpoint, or a scripted server in a test. None: the provider's own endpoint.
    anthropic_base_url: BaseUrl | None = None
    openai_base_url: BaseUrl | None = None
    google_base_url: BaseUrl | None = None
    resource_budget: ResourceBudget = ResourceBudget()
    auto_approve: AutoApprove = AutoApprove()
    escalation_timeout_seconds: int = Field(300, ge=5, le=86_400)
    audit_redaction: bool = True
    web_search: WebSearch = WebSearch()
    # The GitHub server's token (else GITHUB_PERSONAL_ACCESS_TOKEN from the environment) and
    # GitHub Enterprise host; only the github server's process ever receives the token.
    github_token: ApiKey | None = None
    github_host: str | None = Field(None, pattern=r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
    allowed_directories: tuple[Directory, ...] = ("~/Downloads", "~/Documents")
    credential_proxy: CredentialProxy = CredentialProxy()
    # Kernel confinement of the servers: "enforce" refuses to start a server the kernel cannot
    # confine; "best-effort" starts it with what the kernel has (a weakening, audited).
    confinement: Literal["enforce", "best-effort"] = "enforce"

    _sources: Mapping[str, Source] = PrivateAttr(default_factory=dict)

    @property
    def sources(self) -> Mapping[str, Source]:
        """Where each effective value came from, by dotted camelCase path (every leaf listed)."""
        return MappingProxyType({p: self._sources.get(p, "default") for p in setting_paths()})

    @property
    def agent_provider(self) -> str:
        return self.agent_model_id.partition(":")[0]

    def base_url_for(self, provider: str) -> str | None:
        """The configured endpoint for ``provider`` (``gemini`` is litellm's name for google)."""
        field = _BASE_URL_FIELD.get("google" if provider == "gemini" else provider)
        return getattr(self, field) if field else None

    def api_key_for(self, provider: str) -> str | None:
        """The plain key for ``provider`` (``anthropic``, ``openai``, ``google``), or None."""
        field = _KEY_FIELD.get("google" if provider == "gemini" else provider)  # litellm's name
        secret = getattr(self, to_snake(field), None) if field else None
        return secret.get_secret_value() if secret is not None else None


class ConfigError(Exception):
    """A config file (or key from the environment) that does not validate; safe to print."""

    def __init__(self, message: str, *, file: Path, field: str = "", value: str = "") -> None:
        super().__init__(message)
        self.file = file
        self.field = field
        self.value = value


def to_snake(alias: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in alias)


def setting_paths(model: type[BaseModel] = Config, prefix: str = "") -> tuple[str, ...]:
    """Every leaf setting as a dotted camelCase path, in declaration order."""
    paths: list[str] = []
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        if isinstance(info.annotation, type) and issubclass(info.annotation, _Section):
            paths.extend(setting_paths(info.annotation, path + "."))
        else:
            paths.append(path)
    return tuple(paths)


def mask_secret(value: str | None) -> str:
    """Enough to tell two keys apart, never enough to use one."""
    if not value:
        return "(not set)"
    return f"****{value[-4:]}" if len(value) >= 16 else "****"


def is_secret_path(path: str) -> bool:
    return path.rsplit(".", 1)[-1].lower().endswith(("apikey", "token"))


# --- reading ------------------------------------------------------------------------------------


def read_file_config(paths: AppPaths | None = None) -> Config:
    """The settings from ``config.json`` alone (no environment): the base for edits and saving."""
    paths = paths or app_paths()
    return _validate(_read_raw(paths.config_file), paths.config_file, {})


def read_raw_config(paths: AppPaths | None = None) -> dict[str, Any]:
    """The file's JSON object as written (``{}`` when absent), after checking it validates."""
    paths = paths or app_paths()
    data = _read_raw(paths.config_file)
    _validate(data, paths.config_file, {})
    return data


def load_config(paths: AppPaths | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The effective settings: defaults, then ``config.json``, then provider keys from the env."""
    paths = paths or app_paths()
    env = os.environ if environ is None else environ
    data = _read_raw(paths.config_file)
    overrides = {
        _KEY_FIELD[provider]: env[var] for provider, var in PROVIDER_ENV.items() if env.get(var)
    }
    if env.get(GITHUB_TOKEN_ENV) and not data.get("githubToken"):
        overrides["githubToken"] = env[GITHUB_TOKEN_ENV]
    return _validate(data | overrides, paths.config_file, overrides)


def _read_raw(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read the file: {exc}", file=file) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            file=file,
        ) from None
    if not isinstance(data, dict):
        found = type(data).__name__
        raise ConfigError(
            f"{file}: expected a JSON object at the top level, found {found}", file=file
        )
    return data


def config_from_data(data: Mapping[str, Any], file: Path) -> Config:
    """Validate a would-be ``config.json`` object (for edits); errors name ``file``."""
    return _validate(dict(data), file, {})


def _validate(data: dict[str, Any], file: Path, env_keys: Mapping[str, str]) -> Config:
    try:
        # JSON mode: arrays become tuples while strictness still refuses "300" for a number.
        config = Config.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        raise _explain(exc, file, env_keys) from None
    sources: dict[str, Source] = {p: "file" for p in setting_paths() if _present(data, p)}
    sources |= {p: "environment" for p in env_keys}
    config._sources = sources
    return config


def _present(data: Mapping[str, Any], dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


# --- explaining a bad file ----------------------------------------------------------------------


def _explain(exc: ValidationError, file: Path, env_keys: Mapping[str, str]) -> ConfigError:
    lines: list[str] = []
    first: tuple[str, str] = ("", "")
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        env_var = _env_var_for(str(loc[0])) if loc and loc[0] in env_keys else None
        where = f"environment variable {env_var}" if env_var else str(file)
        value = _show(field, err.get("input"))
        unknown = "unknown field " if err["type"] == "extra_forbidden" else ""
        lines.append(f"{where}: {unknown}{field} = {value}: expected {_expected(err, loc)}")
        first = first if first[0] else (field, value)
    return ConfigError("\n".join(lines), file=file, field=first[0], value=first[1])


def _env_var_for(alias: str) -> str | None:
    return next((PROVIDER_ENV[p] for p, f in _KEY_FIELD.items() if f == alias), None)


def _show(field: str, value: Any) -> str:
    """The bad value as the operator should see it: keys and key-like strings masked."""
    name = field.rsplit(".", 1)[-1].lower()
    if isinstance(value, str) and (
        any(word in name for word in ("key", "secret", "token", "password"))
        or (len(value) >= 20 and not any(c.isspace() or c in "/:~." for c in value))
    ):
        return f"{json.dumps(mask_secret(value))} (masked)"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(err: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    parent, info = _field_at(loc)
    if err["type"] == "extra_forbidden":
        known = ", ".join(f.alias or n for n, f in parent.model_fields.items())
        return f"one of the known fields here: {known}"
    text = str(err["msg"]).removeprefix("Value error, ").removeprefix("expected ")
    text = text.removeprefix("Input should be ")
    if err["type"] in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        text = f"a number {text}"
    if info is not None and not info.is_required() and _nullable(info):
        text += ", or null"
    return text


def _field_at(loc: tuple[Any, ...]) -> tuple[type[BaseModel], Any]:
    """The model holding the field at ``loc`` and the field's info (None if unknown)."""
    model: type[BaseModel] = Config
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        if info is not None:
            nested = info.annotation
            if not (isinstance(nested, type) and issubclass(nested, _Section)):
                break
            model = nested
        info = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if info is None:
            break
    return model, info


def _nullable(info: Any) -> bool:
    return type(None) in get_args(info.annotation)


# --- writing ------------------------------------------------------------------------------------


def save_config(config: Config, paths: AppPaths | None = None) -> Path:
    """Write the explicitly set values of ``config`` to ``config.json``, atomically, mode 0600.

    Only values that were set are written, so a default changed in a later release still
    reaches the user. Refuses a config holding keys taken from the environment (they would
    leak into the file) and refuses to replace an existing file that does not validate.
    """
    paths = paths or app_paths()
    if any(source == "environment" for source in config._sources.values()):
        raise ValueError(
            "refusing to write API keys from the environment into config.json; "
            "save a config made by read_file_config(), not load_config()"
        )
    read_file_config(paths)  # raises ConfigError: a malformed file is never overwritten
    data = _plain(config.model_dump(exclude_unset=True))
    _validate(data, paths.config_file, {})  # model_copy(update=...) skips validation; we don't
    _atomic_write(paths.config_file, json.dumps(data, indent=2) + "\n")
    return paths.config_file


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _atomic_write(file: Path, text: str) -> None:
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_text_atomic(file, text, mode=0o600, durable_rename=True)


# --- settings that loosen the defaults ----------------------------------------------------------


def weakening_settings(config: Config) -> list[str]:
    """One sentence per setting that loosens a secure default (session start, audit header)."""
    out: list[str] = []
    if config.auto_approve.enabled:
        out.append(
            f"autoApprove is on: the model {config.auto_approve.model_id} may approve escalated "
            "tool calls without asking you."
        )
    if not config.audit_redaction:
        out.append("auditRedaction is off: secrets in tool arguments are written to the audit log.")
    if config.escalation_timeout_seconds > 600:
        out.append(
            f"escalationTimeoutSeconds is {config.escalation_timeout_seconds} (default 300): an "
            "escalation stays approvable long after its context has scrolled away."
        )
    out.extend(_budget_warnings(config.resource_budget))
    out.extend(_directory_warnings(config.allowed_directories))
    extra = [p for p in config.credential_proxy.allowed_providers if p != "anthropic"]
    if extra:
        out.append(
            f"credentialProxy.allowedProviders adds {', '.join(extra)}: the Docker agent may reach "
            "those APIs with your real keys."
        )
    if config.confinement == "best-effort":
        out.append(_confinement_warning())
    for provider, field in _BASE_URL_FIELD.items():
        url = getattr(config, field)
        if url and url.startswith("http://") and not _is_loopback_url(url):
            out.append(
                f"{provider}BaseUrl {url} is plain http: your {provider} key crosses the network "
                "unencrypted."
            )
    return out


def _confinement_warning() -> str:
    from appliance.confinement import probe  # the kernel's features, read when it matters

    missing = probe().missing(needs_network_namespace=True)
    lacking = "; ".join(missing) if missing else "nothing on this kernel today"
    return (
        'confinement is "best-effort": a server starts even when the kernel cannot confine it '
        f"(missing: {lacking})."
    )


def _budget_warnings(budget: ResourceBudget) -> list[str]:
    out = []
    for name, info in ResourceBudget.model_fields.items():
        value, default, alias = getattr(budget, name), info.default, info.alias or name
        if value is None:
            out.append(f"resourceBudget.{alias} is disabled (null): no limit (default {default}).")
        elif value > default:
            out.append(f"resourceBudget.{alias} is {value}, above the default {default}.")
    return out


def _directory_warnings(directories: tuple[str, ...]) -> list[str]:
    defaults = Config.model_fields["allowed_directories"].default
    out = []
    for directory in directories:
        if directory.rstrip("/") in {"", "~"}:
            out.append(
                f"allowedDirectories includes {directory}: filesystem tools can reach everything "
                "under it that the policy allows."
            )
        elif directory not in defaults:
            out.append(f"allowedDirectories adds {directory} beyond the defaults.")
    return out


def _is_loopback_url(url: str) -> bool:
    host = url.partition("://")[2].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")
