"""The chokepoint: the one place a tool call becomes an effect.

The trip of a call, in order: known server and tool → arguments fit the tool's own input schema →
the server's judge, when its declaration names one (facts that need I/O, found in the confined
server: a git remote's URL; this module names no server) → policy engine → on escalate:
session whitelist → auto-approver (optional, may only approve) → human → circuit breaker → an
``intent`` record (durable before the server is called) → the real MCP server → the call's audit
record (written and fsynced before the result returns, naming its intent) → result.

Every way in (the WASM bridge, Docker mode's socket, ``ironcurtain mcp-proxy``) calls
:meth:`Chokepoint.call`. Errors are split by audience: the agent reads ``DENIED: <reason>``
(``INVALID ARGUMENTS: <reason>`` when the call does not fit the tool's schema),
``ESCALATION DENIED: …`` or a short server error, never a traceback; the operator's log has the
detail. Anything unexpected inside the trip denies, and is audited as such.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from appliance.chokepoint.approvals import ApprovalWhitelist, CircuitBreaker, scope_for, targets
from appliance.chokepoint.audit import AuditLog, AuditWriteError, json_problem
from appliance.chokepoint.escalation.models import (
    EscalationRequest,
    Verdict,
    call_digest,
    new_request_id,
    plain_call_digest,
)
from appliance.chokepoint.redact import redact, redact_literals
from appliance.chokepoint.server_pool import ServerCallError, ServerPool
from appliance.chokepoint.session_guard import audit_fields
from appliance.chokepoint.turns import Held, Turn, Turns
from appliance.errors import ApplianceError
from policy.api import (
    CallFacts,
    Decision,
    EvalContext,
    Judged,
    Policy,
    SessionRun,
    ToolCall,
    absolute,
    arg_roles,
    check_arguments,
    evaluate,
)

if TYPE_CHECKING:
    from appliance.chokepoint.task_planner import TaskPlanner
    from appliance.config.sections import ChokepointSettings
    from policy.api import CheckedPlan

__all__ = ["CallOutcome", "Chokepoint", "EscalationChannel", "SessionStopped"]

log = logging.getLogger(__name__)


class EscalationChannel(Protocol):
    async def ask(self, request: EscalationRequest) -> Verdict: ...


class AutoApprover(Protocol):
    async def review(self, request: EscalationRequest) -> bool: ...


class SessionStopped(ApplianceError):
    """The audit log could not be written: the session must end (no unaudited effects)."""


@dataclass(frozen=True)
class CallOutcome:
    ok: bool
    text: str
    decision: Decision
    structured: dict[str, Any] | None = None
    escalation: dict[str, str] | None = None


@dataclass
class _Trip:
    """What one call has gathered so far, for the audit entry."""

    call: ToolCall
    digest: str
    started: float
    escalation: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None  # the audit record's body, built while the server works


class Chokepoint:
    def __init__(
        self,
        *,
        servers: ServerPool,
        policy: Policy,
        context: EvalContext,
        audit: AuditLog,
        escalation: EscalationChannel | None,
        session_id: str,
        settings: ChokepointSettings,
        auto_approver: AutoApprover | None = None,
        secrets: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
        server_roots: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.servers = servers
        self.policy = policy
        self.context = context
        self.audit = audit
        self.escalation = escalation
        self.session_id = session_id
        self.auto_approver = auto_approver
        # taskPlan: reads the user's message into a checked plan (None: the reader alone)
        self.task_planner: TaskPlanner | None = None
        self.settings = settings
        self.redaction = settings.redaction
        self.secrets = tuple(sorted(set(secrets), key=len, reverse=True))  # longest first
        self.whitelist = ApprovalWhitelist()
        # Task grants, session lists, counters, sums and provenance (issue 24).
        self.session_state = SessionRun(policy)
        # Servers confined to folders (filesystem): an escalated path outside them is refused
        # at once rather than put to a human whose approval the server would not honour.
        self.server_roots = dict(server_roots or {})
        self.breaker = CircuitBreaker(clock)
        self.latest_user_message = ""
        self.stats = {"calls": 0, "denied": 0, "escalated": 0}
        self._in_flight = 0  # calls between entry and their audit record
        self.turns = Turns()
        self._turn_of: dict[tuple[str, str], Turn] = {}

    async def grant_planned_task(self, text: str) -> str:
        """:meth:`grant_task`, once the task planner (``taskPlan``, when configured) has read
        the message into a plan."""
        planner = self.task_planner
        return self.grant_task(text, await planner.plan(text, self.policy) if planner else None)

    def grant_task(self, text: str, plan: CheckedPlan | None = None) -> str:
        """The user's own message starts (or continues) a task: the values it names become
        ``task:*`` session lists, written to the audit with the plan's steps (``plan``: the
        task planner's, checked); returns the lines to show the user."""
        grants, line = self.session_state.grant_task(text, plan.steps if plan else ())
        entry: dict[str, Any] = {
            "type": "task-grants",
            "grants": {k: list(v) for k, v in grants.items()},
        }
        if plan is not None:
            entry["plan"] = {
                "steps": [
                    {"tool": s.tool, "quote": s.quote, "if": s.conditional} for s in plan.steps
                ],
                "refused": list(plan.refused),
            }
            line = f"{plan.describe()}\n{line}"
        if self.redaction:  # a card number the user typed is masked here as in arguments
            entry = redact(entry)
        try:
            self.audit.append(redact_literals(entry, self.secrets) if self.secrets else entry)
        except AuditWriteError as exc:
            raise SessionStopped(f"the audit log could not be written: {exc}") from exc
        return line

    async def call(self, server: str, tool: str, arguments: Any) -> CallOutcome:
        """Mediate one tool call. Never raises except :class:`SessionStopped` (and the caller's
        own cancellation, once the trip is audited as cut off)."""
        self.stats["calls"] += 1
        self._in_flight += 1
        try:
            return await self._mediate(server, tool, arguments)
        finally:
            self._in_flight -= 1

    async def refused(
        self, server: str, tool: str, arguments: dict[str, Any], rule: str, reason: str
    ) -> None:
        """Audit a call a front refused before asking (Code Mode's bridge: a tool outside the
        run's catalogue), so a probe for tools leaves a trace on every front. Never runs it."""
        if json_problem(arguments) is not None:
            arguments = {}
        call = ToolCall(server=server, tool=tool, arguments=arguments)
        trip = _Trip(
            call, call_digest(server, tool, arguments, self.policy.digest), time.perf_counter()
        )
        self.stats["calls"] += 1
        self._in_flight += 1
        try:
            await self._record(
                trip, self._denied(Decision(decision="deny", rule=rule, reason=reason))
            )
        finally:
            self._in_flight -= 1

    async def _mediate(self, server: str, tool: str, arguments: Any) -> CallOutcome:
        # Audit before effect: arguments the log cannot hold (NaN, Infinity, too deep, not
        # JSON data) are refused here, on every front, and recorded without them.
        # One encoding gives the digest and tells the arguments are plain JSON data; anything
        # else (rare) is asked why, and digested as before.
        policy_digest = self.policy.digest
        digest = (
            plain_call_digest(server, tool, arguments, policy_digest)
            if isinstance(arguments, dict)
            else None
        )
        unrecordable = None
        if digest is None:
            unrecordable = json_problem(arguments)
            if unrecordable is None and isinstance(arguments, dict):
                # JSON writes any key as a string, but no canonical form (sorted keys) holds
                # keys of mixed types ({1: "a", "b": 2}, an in-process caller's): no digest
                unrecordable = "keys of mixed types have no canonical form"
        if unrecordable is not None:
            arguments = {}
        args = arguments if isinstance(arguments, dict) else {}
        if digest is None:
            digest = call_digest(server, tool, args, policy_digest)
        trip = _Trip(
            ToolCall(server=server, tool=tool, arguments=args), digest, time.perf_counter()
        )
        try:
            if unrecordable is not None:
                outcome = self._denied(
                    Decision(
                        decision="deny",
                        rule="invalid-json",
                        reason=f"arguments are not plain JSON data ({unrecordable})",
                    )
                )
            else:
                outcome = await self._trip(trip, arguments)
        except SessionStopped:
            raise
        except anyio.get_cancelled_exc_class():
            # The caller stopped waiting (Code Mode's run passed its wall-clock limit): the
            # escalation was withdrawn, the server told to stop; the trip is audited as cut off.
            with anyio.CancelScope(shield=True):
                await self._record(trip, self._cut_off(trip))
            raise
        except Exception:
            log.exception("chokepoint failure on %s.%s", server, tool)
            decision = Decision(decision="deny", rule="chokepoint-error", reason="internal error")
            outcome = CallOutcome(
                False, "DENIED: internal error while checking this call", decision
            )
        with anyio.CancelScope(shield=True):  # an outcome known is recorded, however late
            await self._record(trip, outcome)
        return outcome

    def _cut_off(self, trip: _Trip) -> CallOutcome:
        """A trip its caller stopped waiting for, as the audit records it: the decision so far (a
        call not yet judged: a denial, rule ``cut-off``), ``status: cut-off``, and an escalation
        still unanswered as ``withdrawn``. A call that reached its server may have had its
        effect: the record says it went ahead."""
        ruling = trip.extra.get("ruling")
        decision = (
            ruling.decision
            if ruling is not None
            else Decision(
                decision="deny", rule="cut-off", reason="its caller stopped waiting for it"
            )
        )
        escalation = trip.escalation
        if escalation is None and decision.decision == "escalate":
            escalation = {"outcome": "withdrawn", "by": "chokepoint"}
        trip.extra["status"] = "cut-off"
        return CallOutcome(False, "ERROR: the call was cut off", decision, None, escalation)

    async def _trip(self, trip: _Trip, raw_arguments: Any) -> CallOutcome:
        # judged and run in one turn on the file system (``turns``): no other call changes what
        # its paths lead to between the two
        async with self.turns.hold(self._turn(trip.call)) as held:
            return await self._judged_and_run(trip, raw_arguments, held)

    def _turn(self, call: ToolCall) -> Turn:
        """``alone`` for a call with side effects whose arguments can name a path (or one the
        policy does not know: it is refused, alone), ``shared`` for one that only reads paths,
        None for one that names none."""
        key = (call.server, call.tool)
        if key not in self._turn_of:
            annotation = self.policy.annotations.get(call.server, {}).get(call.tool)
            if annotation is None:
                turn: Turn = "alone"
            elif self.policy.roles.path_roles.isdisjoint(
                role for spec in annotation.args.values() for role in arg_roles(spec)
            ):
                turn = None
            else:
                turn = "alone" if annotation.side_effects else "shared"
            self._turn_of[key] = turn
        return self._turn_of[key]

    async def _judged_and_run(self, trip: _Trip, raw_arguments: Any, held: Held) -> CallOutcome:
        asked = trip.call
        structural = await self._check_structure(asked, raw_arguments)
        if structural is not None:
            return self._denied(structural)
        try:
            call = await self._as_judged(trip, asked)
        except ServerCallError as exc:
            self._heard(asked, exc)
            return self._denied(Decision(decision="deny", rule="server-judge", reason=str(exc)))
        ruling = self.session_state.judge(call, self.context)
        trip.extra["ruling"] = ruling
        try:
            return await self._decided(trip, asked, call, ruling, held)
        finally:
            self.session_state.settle(ruling)  # a refused call's reservation is dropped

    async def _as_judged(self, trip: _Trip, asked: ToolCall) -> ToolCall:
        """The call as the engine judges it; ``trip.call`` becomes the call as it will run."""
        judged = await self.servers.judge(asked.server, asked.tool, dict(asked.arguments))
        if judged is None:
            trip.call = asked
            return asked
        # The server's judge: the call as it will run (paths anchored where the server
        # resolves them) and the copy the engine judges (facts found with I/O).
        run, facts = judged
        trip.call = asked.model_copy(update={"arguments": run})
        return asked.model_copy(update={"arguments": facts})

    async def _decided(
        self, trip: _Trip, asked: ToolCall, call: ToolCall, ruling: Judged, held: Held
    ) -> CallOutcome:
        decision = ruling.decision
        if decision.decision == "deny":
            return self._denied(decision)
        if decision.decision == "escalate":
            self.stats["escalated"] += 1
            async with self.turns.released(held):  # the other calls go on while a human is asked
                refusal = await self._escalate(trip, call, decision)
            if refusal is not None:
                return refusal
            if held.turn is not None:
                moved = await self._moved_since(trip, asked, decision)
                if moved is not None:
                    return moved
        if not self.breaker.allow(trip.digest):
            return self._denied(
                Decision(
                    decision="deny",
                    rule="circuit-breaker",
                    reason="the same call was repeated more than 20 times in 60 s; try another way",
                )
            )
        self.session_state.went_ahead(ruling)  # allowed or approved: the session records it
        trip.extra["recorded"] = True
        return await self._forward(trip, decision)

    async def _moved_since(
        self, trip: _Trip, asked: ToolCall, approved: Decision
    ) -> CallOutcome | None:
        """A refusal when the approved call's paths lead elsewhere now than when it was judged
        (other calls ran while the human was asked): what runs is what was approved, or
        nothing. Judged again here, the turn taken again, by the same engine and judge."""
        try:
            again = evaluate(await self._as_judged(trip, asked), self.policy, self.context)
        except ServerCallError as exc:
            self._heard(asked, exc)
            again = Decision(decision="deny", rule="server-judge", reason=str(exc))
        if approved.facts is None or again.facts == approved.facts:
            return None  # (a decision without facts named no path: nothing to lead elsewhere)
        return self._denied(
            Decision(
                decision="deny",
                rule="structural-changed-since-approved",
                reason=(
                    "what this call's paths lead to changed while it waited for approval "
                    "(another call changed the files); ask again"
                ),
                facts=again.facts,
            )
        )

    async def _check_structure(self, call: ToolCall, raw_arguments: Any) -> Decision | None:
        if not self.servers.has_server(call.server):
            return Decision(
                decision="deny",
                rule="structural-unknown-server",
                reason=f"there is no server named {call.server!r}",
            )
        try:
            tools = await self.servers.tools(call.server)
        except ServerCallError as exc:
            self._heard(call, exc)
            return Decision(decision="deny", rule="server-unavailable", reason=str(exc))
        info = tools.get(call.tool)
        if info is None:
            return Decision(
                decision="deny",
                rule="structural-unknown-tool",
                reason=f"the {call.server} server has no tool {call.tool!r}",
            )
        annotation = self.policy.annotations.get(call.server, {}).get(call.tool)
        if annotation is None:
            return Decision(
                decision="deny",
                rule="structural-unannotated-tool",
                reason=(
                    f"{call.server}/{call.tool} has no annotations, so the policy cannot judge "
                    f"it; the operator can run `ironcurtain servers annotate {call.server}`"
                ),
            )
        if annotation.input_schema is not None and not same_schema(
            annotation.input_schema, info.input_schema
        ):
            return Decision(
                decision="deny",
                rule="structural-stale-annotation",
                reason=(
                    f"{call.server}/{call.tool} changed its input schema since it was annotated; "
                    f"the operator can run `ironcurtain servers annotate {call.server}`"
                ),
            )
        problem = check_arguments(raw_arguments, info.input_schema)
        if problem:
            return Decision(decision="deny", rule="invalid-arguments", reason=problem)
        return None

    async def _escalate(
        self, trip: _Trip, call: ToolCall, decision: Decision
    ) -> CallOutcome | None:
        # The engine's facts: every later step reads the paths it resolved and the hosts it
        # read (a decision without them scopes nothing and whitelists nothing: a human decides).
        facts = decision.facts or CallFacts()
        unreachable = self._outside_server_roots(call.server, facts)
        if unreachable is not None:
            # Asking a human is pointless: the server itself would refuse the path.
            trip.escalation = {"outcome": "denied", "by": "chokepoint"}
            text = (
                f"ESCALATION DENIED: {unreachable} is outside the folders the {call.server} "
                "server may use (the sandbox and allowedDirectories); the user can add a folder "
                "with `ironcurtain config set allowedDirectories '[...]'`"
            )
            return CallOutcome(False, text, decision, None, trip.escalation)
        entry = self.whitelist.match(call.server, call.tool, facts, decision.escalated_roles)
        if entry is not None:
            trip.escalation = {
                "outcome": "whitelisted",
                "by": "whitelist",
                "entry": entry.describe(),
            }
            return None
        similar = scope_for(call.server, call.tool, facts, decision.escalated_roles)
        request = EscalationRequest(
            id=new_request_id(),
            session_id=self.session_id,
            server=call.server,
            tool=call.tool,
            arguments=self._shown(call.arguments),
            reason=redact_literals(decision.reason, self.secrets),
            rule=decision.rule,
            call_digest=trip.digest,
            policy_digest=self.policy.digest,
            targets=self._shown(targets(facts)),
            similar=self._shown(similar.describe()) if similar is not None else "",
        )
        if self.auto_approver is not None and await self._auto_approves(request):
            trip.escalation = {"outcome": "auto-approved", "by": "auto-approver"}
            return None
        verdict = await self._ask_human(request)
        trip.escalation = {"outcome": verdict.outcome, "by": verdict.by}
        if not verdict.approved:
            reason = verdict.note or "the user did not approve this call"
            return CallOutcome(
                False, f"ESCALATION DENIED: {reason}", decision, None, trip.escalation
            )
        if verdict.scope == "similar" and similar is not None:
            self.whitelist.add(similar)  # the very entry the approver was shown
            trip.escalation["whitelisted"] = similar.describe()
        return None

    def _shown(self, value: Any) -> Any:
        """What an approver, or the audit, may see of the agent's data: redacted (unless turned
        off), and the declared servers' credentials never."""
        return redact_literals(redact(value) if self.redaction else value, self.secrets)

    def _outside_server_roots(self, server: str, facts: CallFacts) -> str | None:
        roots = self.server_roots.get(server)
        if not roots:
            return None
        ctx = self.context
        real_roots = [
            ctx.resolve_path(absolute(root, ctx.home, ctx.home)).rstrip("/").split("/")
            for root in roots
        ]
        for fact in facts.values:
            if fact.kind != "path" or fact.value is None:
                continue
            if fact.real is None:  # never resolved by the engine: not known to be inside
                return fact.value
            parts = fact.real.split("/")
            if not any(parts[: len(root)] == root for root in real_roots):
                return fact.value
        return None

    async def _auto_approves(self, request: EscalationRequest) -> bool:
        try:
            return bool(await self.auto_approver.review(request))
        except Exception:
            log.warning("auto-approver failed; escalating to a human", exc_info=True)
            return False

    async def _ask_human(self, request: EscalationRequest) -> Verdict:
        if self.escalation is None:
            return Verdict.deny("chokepoint", "no approval channel is available")
        try:
            return await self.escalation.ask(request)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception:
            log.exception("escalation channel failed")
            return Verdict.deny("chokepoint", "the approval channel failed")

    async def _forward(self, trip: _Trip, decision: Decision) -> CallOutcome:
        call = trip.call  # the agent's own arguments, not the enriched copy

        def prepare() -> None:
            # While the server works: everything of the audit record known before the result
            # (all but status and duration). Must not raise into the request: a failure here
            # leaves the body to _record, which builds it again and fails loudly there.
            try:
                trip.body = self._body(trip, decision, trip.escalation)
            except Exception:
                trip.body = None

        await self._intend(trip, decision)  # durable before the server can act
        try:
            result = await self.servers.call(
                call.server, call.tool, dict(call.arguments), while_waiting=prepare
            )
        except ServerCallError as exc:
            trip.extra["status"] = "server-error"
            self._heard(call, exc)
            return CallOutcome(False, f"ERROR: {exc}", decision, None, trip.escalation)
        trip.extra["status"] = "error" if result.is_error else "ok"
        bound = self.session_state.observe(
            call.server,
            call.tool,
            result.text,
            result.structured,
            listing=not result.is_error,
            arguments=call.arguments,
        )
        if bound:
            trip.extra["bound"] = {name: list(ids) for name, ids in bound.items()}
        return CallOutcome(
            not result.is_error, result.text, decision, result.structured, trip.escalation
        )

    async def _intend(self, trip: _Trip, decision: Decision) -> None:
        """Write the call's intent record (no arguments: the completed record has them) and make
        it durable before the server is called, so a host that dies while the server works
        leaves a trace of a call that may have had its effect. The state update goes in too, so
        a resumed session counts that call (a sum, a counter) as gone ahead. Any failure stops
        the session before the call runs."""
        intent: dict[str, Any] = {
            "type": "intent",
            "server": trip.call.server,
            "tool": trip.call.tool,
            "decision": decision.decision,
            "rule": decision.rule,
            "callDigest": trip.digest,
        }
        if trip.escalation is not None:
            intent["escalation"] = trip.escalation
        ruling = trip.extra.get("ruling")
        if ruling is not None and not ruling.update.empty:
            update = ruling.update.audit_form()
            intent["sessionUpdate"] = redact(update) if self.redaction else update
        if self.secrets:
            intent = redact_literals(intent, self.secrets)

        def write() -> None:
            trip.extra["intent"] = self.audit.append(intent)["seq"]

        await self._durably(write)

    async def _durably(self, write: Callable[[], None]) -> None:
        try:
            if self._in_flight == 1:
                # The only call in flight: sync here, since the hop to a worker thread and back
                # costs more than the fdatasync itself (~0.25 vs ~0.2 ms) and nothing waits.
                write()
            else:
                # Calls overlap: on a worker thread, so the fsync does not stall the others on
                # the event loop and concurrent appends share one sync (the log groups them).
                await anyio.to_thread.run_sync(write)
        except AuditWriteError as exc:
            raise SessionStopped(f"the audit log could not be written: {exc}") from exc

    def _heard(self, call: ToolCall, exc: ServerCallError) -> None:
        """The agent reads what a server wrote into a failure (a JSON-RPC error's text, a remote
        end's reason) as it reads a result: remembered under the tool's label, like an error
        result (it binds no records)."""
        if exc.server_text:
            self.session_state.observe(call.server, call.tool, exc.server_text, listing=False)

    def _denied(self, decision: Decision) -> CallOutcome:
        self.stats["denied"] += 1
        # a call that does not fit the tool's schema is a mistake to correct, not a refusal
        label = "INVALID ARGUMENTS" if decision.rule == "invalid-arguments" else "DENIED"
        return CallOutcome(False, f"{label}: {decision.reason}", decision)

    async def _record(self, trip: _Trip, outcome: CallOutcome) -> None:
        default_status = "ok" if outcome.ok else "denied"
        # The body was built while the server worked when the call went ahead with the same
        # decision and escalation; otherwise (refused, or a failure in between) it is built now.
        body = trip.body
        if (
            body is None
            or body["decision"] != outcome.decision.decision
            or body["rule"] != outcome.decision.rule
            or body["escalation"] != outcome.escalation
        ):
            body = self._body(trip, outcome.decision, outcome.escalation)
        # durationMs and status (a number and a fixed word: nothing to redact) go after the
        # escalation, where records have always had them.
        duration = round((time.perf_counter() - trip.started) * 1000, 3)
        status = trip.extra.get("status", default_status)
        entry: dict[str, Any] = {}
        for key, value in body.items():
            entry[key] = value
            if key == "escalation":
                entry["durationMs"], entry["status"] = duration, status
        if trip.extra.get("bound"):  # ids the result bound to the task (bound again on resume)
            entry["taskBindings"] = self._shown(trip.extra["bound"])
            best = self.session_state.binding_best  # how well they met the request's words
            entry["taskBindingScores"] = {n: best[n] for n in trip.extra["bound"] if n in best}
        if "intent" in trip.extra:  # the intent record this one completes
            entry["intent"] = trip.extra["intent"]
            # Its intent is on disk already (the call cannot have gone unrecorded): this record
            # is written at once and made durable with the next sync (the next intent, a
            # checkpoint, the close). A power cut may lose it: the call then shows as of unknown
            # outcome. One durable write per call, not two (bench_chokepoint: +0.04 ms, not
            # +0.15). A refusal, which has no intent, is still durable before the agent reads it.
            try:
                self.audit.append(entry, durable=False)
            except AuditWriteError as exc:
                raise SessionStopped(f"the audit log could not be written: {exc}") from exc
            return
        await self._durably(lambda: self.audit.append(entry))

    def _body(
        self, trip: _Trip, decision: Decision, escalation: dict[str, str] | None
    ) -> dict[str, Any]:
        """The call's audit record without its status and duration, redacted."""
        call = trip.call
        body: dict[str, Any] = {
            "server": call.server,
            "tool": call.tool,
            "arguments": redact(call.arguments) if self.redaction else call.arguments,
            "decision": decision.decision,
            "rule": decision.rule,
            "reason": decision.reason,
            "escalation": escalation,
            "callDigest": trip.digest,
            "policyDigest": self.policy.digest,
        }
        body.update(self._established(decision))
        ruling = trip.extra.get("ruling")
        if ruling is not None:
            fields = audit_fields(ruling, applied=trip.extra.get("recorded", False))
            body.update(redact(fields) if self.redaction else fields)
        if self.secrets:  # a declared server's credentials never reach the log
            body = redact_literals(body, self.secrets)
        return body

    def _established(self, decision: Decision) -> dict[str, Any]:
        """The engine's share of the record: what it resolved (each path's real form, each
        URL's host, by role) and, when it failed, why (for the operator, never the agent)."""
        found: dict[str, Any] = {}
        resolved = decision.facts.resolved() if decision.facts is not None else None
        if resolved:
            found["resolved"] = redact(resolved) if self.redaction else resolved
        if decision.error is not None:
            found["engineError"] = redact(decision.error) if self.redaction else decision.error
        return found


def same_schema(annotated: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """The same arguments: the names a tool takes and the ones it requires. A new argument is
    one the annotation gives no role (so the policy could not judge it); wording, types and
    bounds are the schema check's business, and an IronCurtain file annotated against the
    reference servers must still fit ours, whose schemas say the same in other words."""
    return _arguments(annotated) == _arguments(live)


def _arguments(schema: Mapping[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    properties = schema.get("properties")
    required = schema.get("required")
    return (
        frozenset(properties) if isinstance(properties, dict) else frozenset(),
        frozenset(r for r in required if isinstance(r, str))
        if isinstance(required, list)
        else frozenset(),
    )
