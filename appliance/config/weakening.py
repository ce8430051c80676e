"""One sentence per setting that loosens a secure default, printed at session start and written
into the audit header. Each helper receives only the section it judges.
"""

from __future__ import annotations

from appliance.config.models import (
    _BASE_URL_FIELD,
    DEFAULT_ESCALATION_TIMEOUT_S,
    Config,
    ResourceBudget,
)


def weakening_settings(config: Config) -> list[str]:
    """One sentence per setting that loosens a secure default (session start, audit header)."""
    out: list[str] = []
    if config.auto_approve.enabled:
        out.append(
            f"autoApprove is on: the model {config.auto_approve.model_id} may approve escalated "
            "tool calls without asking you."
        )
    if config.task_plan.enabled:
        out.append(
            f"taskPlan is on: the model {config.task_plan.model_id} reads each of your messages "
            "and says which tools it asks for (each step quoting your words; values still only "
            "those you typed)."
        )
    if not config.audit_redaction:
        out.append("auditRedaction is off: secrets in tool arguments are written to the audit log.")
    if config.sandbox_history == "allow":
        out.append(
            "sandboxHistory is allow: git history changes inside the sandbox that discard work "
            "(reset, forced checkout, branch delete) are allowed without a rule or a human, as "
            "IronCurtain does."
        )
    for name, server in sorted(config.mcp_servers.items()):
        if server.command is not None and not server.disabled and server.confinement is None:
            out.append(
                f"mcpServers.{name} has no confinement profile: the server runs with your rights "
                "(docs/servers.md, 'Confine it')."
            )
        if server.url is not None and not server.disabled:
            out.append(
                f"mcpServers.{name} is a remote server ({server.url}): kernel confinement does "
                "not apply to it; only the policy stands between the agent and it "
                "(docs/servers.md, 'Remote servers')."
            )
    if config.escalation_timeout_seconds > 600:
        out.append(
            f"escalationTimeoutSeconds is {config.escalation_timeout_seconds} "
            f"(default {DEFAULT_ESCALATION_TIMEOUT_S}): an "
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
