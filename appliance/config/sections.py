"""The chokepoint's section of the settings: the one place a whole ``Config`` is cut down to what
the chokepoint and the parts it opens (audit log, escalation channels, the policy engine's
context) may read.

Configuration flows one way: file and environment → ``Config``, validated once → one section
per part, immutable. The session assembles a run (servers, model keys, the audit header) and is
the one holder of the whole ``Config``; the chokepoint never sees an API key, a server
declaration or a model setting it has no use for. Every value here is the ``Config``'s own (no
default is written twice): ``ChokepointSettings.of(config)`` is the only way one is made.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from appliance.config.models import AuditTrail, AutoApprove, Config, TaskPlan

__all__ = ["ChokepointSettings"]


@dataclass(frozen=True, slots=True)
class ChokepointSettings:
    # auditRedaction: arguments are redacted before the audit log and the approver see them
    redaction: bool
    # escalationTimeoutSeconds: an unanswered escalation is denied after this long
    escalation_timeout_seconds: int
    # autoApprove: the optional LLM that may approve (never deny) an escalated call
    auto_approve: AutoApprove
    # taskPlan: the optional LLM that reads the user's message into a task plan
    task_plan: TaskPlan
    # audit: checkpoint signing cadence and the OpenTelemetry export
    audit: AuditTrail
    # sandboxHistory: how the engine treats history roles inside the sandbox
    sandbox_history: Literal["additive", "escalate", "allow"]

    @classmethod
    def of(cls, config: Config) -> ChokepointSettings:
        return cls(
            redaction=config.audit_redaction,
            escalation_timeout_seconds=config.escalation_timeout_seconds,
            auto_approve=config.auto_approve,
            task_plan=config.task_plan,
            audit=config.audit,
            sandbox_history=config.sandbox_history,
        )

    @staticmethod
    @functools.cache
    def defaults() -> ChokepointSettings:
        """The section of a configuration with nothing set (tools run with no config file)."""
        return ChokepointSettings.of(Config())
