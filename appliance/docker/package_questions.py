"""Asking the user about a package the agent wants that no list names (``packageInstall``
``defaultAction: "escalate"``): the question is an escalation of the session, like a tool call's,
so it is answered where those are (the `--pty` prompt, `escalation-listener`, the daemon), times
out like them (a refusal), and its answer holds for that package for the rest of the session.

The question runs on the credential proxy's event loop while the client's request waits; the
session's file channel is loop-agnostic (files and sleeps), so it is used as it is.
"""

from __future__ import annotations

from typing import Any

from appliance.chokepoint.escalation.models import EscalationRequest, call_digest, new_request_id
from appliance.credproxy.addons.packages import PackageAsker
from appliance.credproxy.packages import PackageRequest

__all__ = ["SERVER", "package_asker"]

SERVER = "packages"  # how the question names itself to the approver (no such MCP server)


def package_asker(session: Any) -> PackageAsker:
    chokepoint = session.chokepoint

    async def ask(request: PackageRequest) -> tuple[bool, str]:
        if chokepoint.escalation is None:
            return False, "no approval channel is available"
        arguments = {"registry": request.registry, "package": request.package}
        if request.version:
            arguments["version"] = request.version
        question = EscalationRequest(
            id=new_request_id(),
            session_id=session.id,
            server=SERVER,
            tool="install",
            arguments=arguments,
            reason=(
                f"the agent's {request.registry} client asks for {request.package}, which is not "
                "on packageInstall.allowedPackages (defaultAction escalate); approving lets it "
                "install this package, versions past the quarantine only, for the rest of the "
                "session"
            ),
            rule="package-escalate",
            call_digest=call_digest(SERVER, "install", arguments, chokepoint.policy.digest),
            policy_digest=chokepoint.policy.digest,
            targets={"package": [f"{request.registry}:{request.package}"]},
        )
        verdict = await chokepoint.escalation.ask(question)
        return verdict.approved, f"{verdict.outcome} by {verdict.by}"

    return ask
