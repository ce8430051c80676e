"""The settings model, one frozen pydantic class per section of ``config.json``.

Keys in the file are camelCase, as IronCurtain's users know them; Python reads the snake_case
attributes (``config.resource_budget.max_steps``). API keys are ``SecretStr`` so that printing or
logging a config never shows one; ``config.api_key_for(provider)`` hands out the plain value.
Each part of the appliance is handed only its own section (``config.resource_budget`` is the
session's budget model, ``appliance.session.budget.BudgetLimits`` is this same class).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
)
from pydantic.alias_generators import to_camel

from appliance.config.servers import DeclaredServer, check_name

# How long an escalation waits for an answer before it is denied: the one default, used by the
# config model and by every escalation channel constructed without a config (tests, tools).
DEFAULT_ESCALATION_TIMEOUT_S = 300

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
        defer_build=True,
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


class TaskPlan(_Section):
    """An LLM that reads the user's message (nothing else) and says which tool each part of it
    asks for (policy/task_plan.py checks every step quotes the message; docs/policy-format.md)."""

    enabled: bool = False
    model_id: ModelId = "anthropic:claude-haiku-4-5"


class WebSearch(_Section):
    provider: Literal["brave", "tavily", "serpapi"] | None = None
    api_key: ApiKey | None = None


class AuditTrail(_Section):
    """The audit log's signed checkpoints and its OpenTelemetry export (see
    docs/audit-and-escalation.md)."""

    export: Literal["off", "otlp"] = "off"  # "otlp": endpoint etc. from OTEL_EXPORTER_OTLP_*
    checkpoint_every_records: int = Field(100, ge=1, le=1_000_000)
    checkpoint_every_seconds: float = Field(60.0, ge=1, le=86_400)


class CredentialProxy(_Section):
    allowed_providers: tuple[Provider, ...] = ("anthropic",)


class PackageInstall(_Section):
    """Docker mode's package installs through the credential proxy (IronCurtain's keys, plus
    ``registries`` and ``defaultAction``): see docs/credential-proxy.md, "Packages"."""

    enabled: bool = True
    quarantine_days: int = Field(2, ge=0, le=3650)
    allowed_packages: tuple[str, ...] = ()
    denied_packages: tuple[str, ...] = ()
    default_action: Literal["allow", "deny", "escalate"] = "allow"
    registries: tuple[Literal["npm", "pypi", "debian"], ...] = ("npm", "pypi", "debian")


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
    task_plan: TaskPlan = TaskPlan()
    escalation_timeout_seconds: int = Field(DEFAULT_ESCALATION_TIMEOUT_S, ge=5, le=86_400)
    audit_redaction: bool = True
    audit: AuditTrail = AuditTrail()
    web_search: WebSearch = WebSearch()
    # The GitHub server's token (else GITHUB_PERSONAL_ACCESS_TOKEN from the environment) and
    # GitHub Enterprise host; only the github server's process ever receives the token, and
    # without a token the github server is not started at all.
    github_token: ApiKey | None = None
    github_host: str | None = Field(None, pattern=r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
    allowed_directories: tuple[Directory, ...] = ("~/Downloads", "~/Documents")
    credential_proxy: CredentialProxy = CredentialProxy()
    package_install: PackageInstall = PackageInstall()
    # Kernel confinement of the servers: "enforce" refuses to start a server the kernel cannot
    # confine; "best-effort" starts it with what the kernel has (a weakening, audited).
    confinement: Literal["enforce", "best-effort"] = "enforce"
    # git history changes inside the session sandbox: "additive" allows the ones that lose
    # nothing (commit, branch, tag, merge) and asks a human for the ones that discard work
    # (reset, forced checkout, branch delete) when no rule covers them; "allow" allows both, as
    # IronCurtain does; "escalate" asks for both.
    sandbox_history: Literal["additive", "escalate", "allow"] = "additive"
    # MCP servers beyond (or in place of) the shipped ones: appliance/config/servers.py.
    mcp_servers: dict[str, DeclaredServer] = Field(default_factory=dict)

    @field_validator("mcp_servers")
    @classmethod
    def _server_names(cls, value: dict[str, DeclaredServer]) -> dict[str, DeclaredServer]:
        for name in value:
            check_name(name)
        return value

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
