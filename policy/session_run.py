"""One session's policy state, run forward call by call: the same steps for the live chokepoint,
``policy test`` sequences and the session-policy benchmark.

Pure (no I/O): task grants from the user's text, the session's lists, counters and sums, and the
provenance memory of labelled results. :meth:`SessionRun.judge` decides a call with the state as
it stands; :meth:`SessionRun.went_ahead` applies its update once the call was allowed or
approved; :meth:`SessionRun.observe` remembers a result's pieces under the tool's label.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, NamedTuple

from policy.loader import Policy
from policy.models import Decision, EvalContext, ToolCall
from policy.provenance import ProvenanceMemory, phrases_of
from policy.session_policy import (
    SessionPolicies,
    asks_verbs,
    confirmed_ids,
    evaluate_in_session,
    scoped_lists_named,
    session_lists_named,
    tool_scopes,
)
from policy.session_state import (
    OBJECTS,
    RECORD_FIELDS,
    RECORD_SEPARATOR,
    TASK_WORDS,
    SessionState,
    StateUpdate,
    apply_updates,
    scoped_list,
)
from policy.task_binding import (
    MAX_RECORDS,
    RecordsSpec,
    bind_records,
    content_words,
    descriptions,
    granted_fields,
    listing_nouns,
    narrowing,
    records_listed,
    result_json,
)
from policy.task_grants import (
    ASKED,
    ASKED_IF,
    CONFIRMED,
    DESCRIBED,
    DESCRIBED_OBJECT,
    DESCRIBED_OWNER,
    EXCLUDED,
    GRANT_LISTS,
    ON_CONDITION,
    ON_CONDITION_LIFTED,
    UNCONFIRMED,
    describe_grants,
    described_words,
    excluded_words,
    instructions,
    object_words,
    objects_asked,
    part_words,
    scoped_described,
    scoped_grants,
    task_grants,
)
from policy.task_plan import PlanStep, with_plan

__all__ = ["Judged", "SessionRun"]

_MAX_SEEN = 50_000  # records remembered per bound list, for the contest of later listings
# Objects of one session bound each by their own words (a request listing more binds the rest
# only together): each is one more binding per listing.
MAX_PARTS = 12
_PART = re.compile(rf"{re.escape(DESCRIBED)}#\d+")


class Judged(NamedTuple):
    """One call's decision, the state the engine saw, and what the session would record."""

    decision: Decision
    seen: SessionState
    update: StateUpdate


def _object(described: str) -> str:
    """The list of a ``task:described`` list's object words (scoped alike)."""
    return described.replace(DESCRIBED, DESCRIBED_OBJECT, 1)


def _owner(described: str) -> str:
    return described.replace(DESCRIBED, DESCRIBED_OWNER, 1)


def _tiers(
    grants: dict[str, tuple[str, ...]], described: str, words: tuple[tuple[str, ...], ...]
) -> None:
    owners, objects = words
    if owners:
        grants[_owner(described)] = owners
    if objects:
        grants[_object(described)] = objects


class SessionRun:
    def __init__(self, policy: Policy, today: date | None = None) -> None:
        self.policy = policy
        # places a date typed without a year (task:dates); None: the machine's date
        self.today = today
        self.policies = SessionPolicies(policy)
        self.state = SessionState()
        # Results are remembered, and arguments searched, only for a policy that asks where a
        # value came from: for the others it is work no decision reads (~20 us a call). Runs
        # of words only for one that asks whether a text copies a result (``words``); the
        # length of the texts read only for one that asks what was read before (``afterText``).
        conditions = [rule.when.provenance for rule in policy.rules if rule.when.provenance]
        self.tracks_provenance = bool(conditions)
        self.memory = ProvenanceMemory(
            runs={c.from_ for c in conditions if c.words is not None},
            texts={c.from_ for c in conditions if c.after_text is not None},
        )
        # What the policy reads of a request, fixed with the policy: computed once.
        self._verbs = asks_verbs(policy)
        self._tool_scopes = tool_scopes(policy)
        self._rule_scopes = {
            name: (base, scope)
            for name, (base, scope) in scoped_lists_named(policy).items()
            if scope is not None
        }
        self._read: dict[tuple[str, str], frozenset[str]] = {}
        self._binds_records = any(
            a.records is not None for tools in policy.annotations.values() for a in tools.values()
        )
        # The kind of object each listing lists, by the nouns of its name ("bucket" for
        # list_buckets; "search" in search_notes names none): an instruction that names one
        # kind and not another's describes no object of the other.
        kinds = {
            tool: listing_nouns(tool)
            for tools in policy.annotations.values()
            for tool, annotation in tools.items()
            if annotation.records is not None
        }
        every = frozenset().union(*kinds.values())
        self._confirm = _strictest_confirm(policy)
        # per listing tool: (its kind, the other listings' kinds but its own)
        self._kinds = {tool: (mine, every - mine) for tool, mine in kinds.items()}
        # Counters and sums of calls judged but not yet settled (waiting for a human, or for
        # the server): counted by every decision meanwhile, so two calls in flight cannot both
        # pass a threshold that only one of them may cross.
        self._pending: dict[int, StateUpdate] = {}
        # The best binding score each records list has seen in a listing of this session (in
        # the audit with the ids it bound: a resumed session starts from it).
        self.binding_best: dict[str, int] = {}
        # per bound list, the records its listings have shown (words, owner): a later, narrower
        # listing's binding is contested by them too (results are not audited: a resumed
        # session starts without them)
        self.records_seen: dict[str, dict[str, tuple[frozenset[str], str | None]]] = {}
        # records waiting for the human's confirmation as their listing described them, and
        # the others the request's words fit (for the question; results are not logged)
        self.described_as: dict[str, str] = {}
        self.rivals_of: dict[str, dict[str, str]] = {}
        # per bound record, the values its alsoGrants fields granted (they wait with it)
        self.fields_of: dict[str, tuple[str, ...]] = {}
        # the bound lists a listing called with no narrowing argument has filled this session
        # (not audited: a resumed session confirms what a narrowed listing binds)
        self.listed_whole: set[str] = set()
        # the phrases of short words the user's requests typed (see grant_task; not audited: a
        # resumed session finds values it typed tainted, fail closed)
        self._typed: set[str] = set()

    def grant_task(
        self, text: str, plan: Iterable[PlanStep] = ()
    ) -> tuple[dict[str, tuple[str, ...]], str]:
        """Add the values the user's message names to the ``task:*`` lists (a union over the
        session's messages); returns this message's grants and the line to show the user.
        ``plan``: checked steps (``policy.task_plan.check_plan``) giving parts of the message
        to tools, beside how the reader read those parts."""
        grants = task_grants(text, self.today)
        # Runs of short words the user typed ("Priya Shah"): an argument that is one of them is
        # the user's value, even where a result wrote it too (the phrases provenance keeps).
        for phrase in phrases_of(text[:MAX_TYPED_CHARS]):
            self._typed.add(phrase)
        # The request's instructions (for ``asks`` and for the objects records are bound by),
        # read once.
        items = instructions(text, self._verbs) if self._binds_records or self._verbs else ()
        if self._verbs:
            items = with_plan(items, plan, self.policy, self._verbs)
        if self._binds_records:
            described, excluded = described_words(text), excluded_words(text)
            if described:
                grants[DESCRIBED] = described
            if excluded:
                grants[EXCLUDED] = excluded
            _tiers(grants, DESCRIBED, object_words(items))
        if self._verbs:
            # Each scoped list a rule reads holds the values of the instructions it accepts.
            asked = tuple(i.asked() for i in items)
            if asked:
                grants[ASKED] = asked
            if on_condition := tuple(i.asked() for i in items if i.conditional):
                grants[ASKED_IF] = on_condition
            # how many objects the instructions name (a count condition's 'reaches': "asked")
            grants[OBJECTS] = (objects_asked(items),)
            shares = {
                scope: scoped_grants(items, scope, self.today)
                for _, scope in self._rule_scopes.values()
            }
            for name, (base, scope) in self._rule_scopes.items():
                # only values the whole request grants too: an instruction's text read alone
                # can make more of it (a question the request leaves out, "also #4711" read as
                # an amount once its "#" is cut off), and a scope only narrows
                whole = set(grants.get(base, ()))
                values = tuple(v for v in shares[scope].get(base, ()) if v in whole)
                if values:
                    grants[name] = values
            # Each tool's askedBy: its share of every list, and the words its records bind by.
            conditional = [i for i in items if i.conditional]
            for scope in self._tool_scopes:
                for base, values in scoped_grants(items, scope, self.today).items():
                    whole = set(grants.get(base, ()))  # a share only narrows, as above
                    if shared := tuple(v for v in values if v in whole):
                        grants[scoped_list(base, scope)] = shared
                only, plain = self._on_condition(items, scope) if conditional else ((), ())
                if only:
                    grants[scoped_list(ON_CONDITION, scope)] = only
                given = scoped_list(ON_CONDITION, scope) in self.state.lists  # by one before
                if given and (plain or not conditional):
                    # an earlier message gave values on a condition: those this one types
                    # without one are asked for now
                    plain = plain or self._plain_values(items, scope)
                    if plain:
                        grants[scoped_list(ON_CONDITION_LIFTED, scope)] = plain
                grants[scoped_list(OBJECTS, scope)] = (objects_asked(items, scope),)
                words = scoped_described(items, scope)
                if words:
                    grants[scoped_list(DESCRIBED, scope)] = words
                    _tiers(grants, scoped_list(DESCRIBED, scope), object_words(items, scope))
        if self._binds_records:
            self._parts(grants, items)
        if grants:
            self.state = apply_updates(self.state, StateUpdate(extend=grants))
        return grants, describe_grants(grants)

    def _on_condition(
        self, items, scope: tuple[str, ...]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The values (case-folded) that only instructions given on a condition typed, of
        those the tool's ``askedBy`` accepts (a call using one is put to the human even when
        another instruction asks for the tool unconditionally), and those the others typed."""
        given = scoped_grants([i for i in items if i.conditional], scope, self.today)
        if not given:
            return (), ()
        said = set(self._plain_values(items, scope))
        only = {v.casefold() for name in GRANT_LISTS for v in given.get(name, ())} - said
        return tuple(sorted(only)), tuple(sorted(said))

    def _plain_values(self, items, scope: tuple[str, ...]) -> tuple[str, ...]:
        plain = scoped_grants([i for i in items if not i.conditional], scope, self.today)
        return tuple(sorted({v.casefold() for name in GRANT_LISTS for v in plain.get(name, ())}))

    def _parts(self, grants: dict[str, tuple[str, ...]], items) -> None:
        """When the request names several objects ("approve Tom's monitor arm and Luis's
        charger", "approve the hotel and approve the train"), each object's words, to bind its
        own best record as well (``task:described#N``, and each tool's share): ranked together,
        the object in more words ("monitor arm") would outscore the other, left unbound."""
        parts = [part for item in items for part in item.one_by_one()][:MAX_PARTS]
        if len(parts) < 2:
            return
        at = sum(1 for name in self.state.lists if _PART.fullmatch(name))  # earlier messages'
        for number, part in enumerate(parts, start=at):
            words = part_words(part)
            if not words or number >= MAX_PARTS:
                continue
            name = f"{DESCRIBED}#{number}"
            grants[name] = words
            _tiers(grants, name, object_words([part]))
            for scope in self._tool_scopes:
                if part.fits(scope):
                    grants[scoped_list(name, scope)] = words
                    _tiers(grants, scoped_list(name, scope), object_words([part], scope))

    def judge(self, call: ToolCall, context: EvalContext) -> Judged:
        seen = self._state_for(call)
        decision, update = evaluate_in_session(call, self.policies, context, seen)
        if self._pending and decision.decision != "deny":
            # Counts of calls still waiting for the human are reserved, so two calls in flight
            # cannot both pass a cap; but a rule that asks while a count is low ("confirm the
            # first payment") must not be ended by a call the human may yet refuse. Judged
            # also as settled, the stricter decision stands.
            settled = self._state_for(call, reserved=False)
            other, other_update = evaluate_in_session(call, self.policies, context, settled)
            if _STRICTNESS[other.decision] > _STRICTNESS[decision.decision]:
                seen, decision, update = settled, other, other_update
        if decision.decision == "escalate" and update.extend.get(CONFIRMED):
            # asked to confirm a record, or asked for another reason and confirming one too
            decision = self._shown_to_confirm(decision, confirmed_ids(update.extend[CONFIRMED]))
        judged = Judged(decision, seen, update)
        if update.count or update.add:
            self._pending[id(judged)] = update
        return judged

    def _shown_to_confirm(self, decision: Decision, ids: Iterable[str]) -> Decision:
        """The question with what the human is asked to confirm: each record as its listing
        described it, and the others the request's words also fit."""
        shown = "; ".join(f"{i!r}: {self.described_as[i]}" for i in ids if self.described_as.get(i))
        if not shown:
            return decision  # a resumed session knows the ids only (results are not logged)
        rivals = {r: t for i in ids for r, t in self.rivals_of.get(i, {}).items()}
        others = "; ".join(f"{r!r}: {t}" for r, t in list(rivals.items())[:3])
        also = f" (the request's words also fit {others})" if others else ""
        return decision._replace(reason=f"{decision.reason} — {shown}{also}")

    def went_ahead(self, judged: Judged) -> None:
        """The call was allowed or approved: record what its rules say to record."""
        self._pending.pop(id(judged), None)
        self.state = apply_updates(self.state, judged.update)

    def settle(self, judged: Judged) -> None:
        """The call's trip is over: a reservation it still holds (refused) is dropped."""
        self._pending.pop(id(judged), None)

    def observe(
        self,
        server: str,
        tool: str,
        text: str,
        structured: Any = None,
        *,
        listing: bool = True,
        arguments: Mapping[str, Any] | None = None,
    ) -> dict[str, tuple[str, ...]]:
        """A result came back: remember its pieces under the tool's declared label (unset:
        untrusted; trusted results are not remembered), and, for a listing tool with
        ``records``, bind the records the user's request describes to the task. Returns the
        ids newly bound, by list (for the audit: a resumed session binds them again). An error
        result (``listing=False``) binds nothing. ``arguments`` are the listing call's: one
        that narrowed the listing (a filter, a search, a page) may have left out the record
        the user meant."""
        annotation = self.policy.annotations.get(server, {}).get(tool)
        bound: dict[str, tuple[str, ...]] = {}
        if listing and annotation is not None and annotation.records is not None:
            narrowed = narrowing(annotation.records, arguments)
            bound = self._bind(annotation.records, result_json(text, structured), tool, narrowed)
        if not self.tracks_provenance:
            return bound
        label = (annotation.result if annotation is not None else None) or "untrusted"
        if label != "trusted":
            self.memory.remember(label, text)
            if structured is not None:
                # Code Mode hands the agent the structured content, not the text, when there is
                # some: what it reads is what must be remembered (the two may differ).
                try:
                    read = json.dumps(structured, ensure_ascii=False)
                except (TypeError, ValueError, RecursionError):
                    self.memory.saturated.add(label)  # cannot be read: every value carries it
                else:
                    if read != text:
                        self.memory.remember(label, read)
        return bound

    def _bind(
        self, spec: RecordsSpec, forms: Iterable[Any], tool: str, narrowed: str = ""
    ) -> dict[str, tuple[str, ...]]:
        # Sessions audited before task:described existed bind by the words they granted.
        words = self.state.lists.get(DESCRIBED) or self.state.lists.get(TASK_WORDS, ())
        forms = _Replay(forms)  # read by several bindings, parsed once and only as needed
        if not narrowed and (held := records_listed(spec, forms)) > MAX_RECORDS:
            # records past the limit neither bind nor contest: the one meant may be among
            # them (round 13: 10,100 imported cards pushed the user's plumber past it)
            narrowed = f"its size ({held} records, the first {MAX_RECORDS} read)"
        excluded = self.state.lists.get(EXCLUDED, ())
        # the whole request's words, then each object's of a request naming several
        targets = self._targets(spec, tool, DESCRIBED, words)
        for number in range(MAX_PARTS):
            part = f"{DESCRIBED}#{number}"
            if part not in self.state.lists:
                break
            targets += self._targets(spec, tool, part, self.state.lists[part])
        owner_lists = self._owner_lists()
        bound: dict[str, tuple[str, ...]] = {}
        # bound by a whole request, per list (a tool's share is its own: a record the words for
        # one tool bound is no less "bound by one object's words alone" for another)
        whole: dict[str, set[str]] = {}
        for name, by, described, scope in targets:
            if not by:
                continue
            lists = self.state.lists
            owners, objects = lists.get(_owner(described), ()), lists.get(_object(described), ())
            listed = self.records_seen.setdefault(name, {})
            earlier = self.state.lists.get(name, ())
            ids, best, rivals, contested, seen, recontested, unvouched = bind_records(
                spec,
                forms,
                by,
                owner_lists,
                tool,
                excluded,
                objects,
                owners,
                listed,
                earlier,
            )
            if len(listed) < _MAX_SEEN:
                listed.update(seen)
            if not narrowed and seen:
                # a whole listing that showed records (one that read none — an error in text,
                # a refused argument — shows no rival either)
                self.listed_whole.add(name)
            self._await_confirmation(bound, recontested)
            # A listing binds only records as good as the best the session has listed for these
            # words: a narrower search (one an injection asked for) that leaves the described
            # record out does not make a worse one the best.
            # the best listed for these words, into this list (an object's own: its words')
            key = f"{name}|{described}" if "#" in described else name
            if best < self.binding_best.get(key, 0):
                continue
            self.binding_best[key] = best
            known = {*self.state.lists.get(name, ()), *bound.get(name, ())}
            new = tuple(i for i in ids if i not in known)
            if new:  # several targets bind into one list (each object of the request's)
                bound[name] = (*bound.get(name, ()), *new)
            for i in new:  # alsoGrants: each bound record's fields, to lists of their own
                for also, values in granted_fields(spec, forms, (i,)).items():
                    also = scoped_list(also, scope) if scope is not None else also
                    bound[also] = tuple(dict.fromkeys((*bound.get(also, ()), *values)))
                    self.fields_of[i] = (*self.fields_of.get(i, ()), *values)
                    # and which record granted each (a list condition's ofRecord)
                    linked = (f"{i}{RECORD_SEPARATOR}{v}" for v in values)
                    bound[RECORD_FIELDS] = tuple(
                        dict.fromkeys((*bound.get(RECORD_FIELDS, ()), *linked))
                    )
            if "#" in described:
                # bound by one object's words alone ("… and Luis's charger"), not by the whole
                # request's: a few words a teammate's record can repeat ("and thanks!", ", the
                # first leg"); the human confirms it (session 20's probe)
                by_whole = whole.setdefault(name, set(self.state.lists.get(name, ())))
                if scope is None:  # the request's own list: what any of its words bound
                    by_whole = set().union(by_whole, *whole.values())
                alone = [i for i in ids if i not in by_whole]
                if alone:
                    asked = self._await_confirmation(bound, alone)
                    shown = descriptions(spec, forms, asked)
                    for i in asked:
                        self.described_as[i] = (
                            f"{shown.get(i, i)} (bound by the words of one of the objects the "
                            "request lists, not by the request as a whole)"
                        )
            else:
                whole.setdefault(name, set(self.state.lists.get(name, ()))).update(ids)
            narrowed_here = bool(narrowed) and name not in self.listed_whole
            confirm = self._confirm.get(spec.grants, spec.confirm)
            if unvouched and (narrowed_here or confirm == "unvouched"):
                # A listing narrowed by the agent's arguments ("state": "running", a search)
                # shows no rival of what it left out: the record the user meant may be one of
                # those, and someone else's record, described in the user's words, is bound
                # alone. Nothing but its maker's words vouches for it: the human confirms it.
                asked = self._await_confirmation(bound, unvouched)
                shown = descriptions(spec, forms, asked)
                why = (
                    f"found by a listing narrowed by {narrowed}: the record meant may be one it "
                    "left out"
                    if narrowed_here
                    else "nothing but its own words, which its maker wrote, says it is the one "
                    "meant"
                )
                for i in asked:
                    self.described_as[i] = f"{shown.get(i, i)} ({why})"
            if ids and (confirm == "always" or contested or (confirm and rivals)):
                # the human confirms these before a side effect uses them (the audit keeps the
                # list with the bindings, so a resumed session asks too); an id the user typed
                # is theirs already. Whatever the listing declares, a record another owner's
                # record contests is confirmed (see _outscored in task_binding): one bound
                # before, by a narrower listing that showed no rival, too.
                asked = self._await_confirmation(bound, ids)
                if asked:
                    self.described_as.update(descriptions(spec, forms, asked))
                    others = descriptions(spec, forms, rivals[:3])
                    for i in asked:
                        self.rivals_of[i] = others
        if bound:
            self.state = apply_updates(self.state, StateUpdate(extend=bound))
        return bound

    def _targets(
        self, spec: RecordsSpec, tool: str, described: str, words: tuple[str, ...]
    ) -> list[tuple[str, tuple[str, ...], str, tuple[str, ...] | None]]:
        """What a listing binds by ``described`` (the whole request's words, or one object's):
        (the list it grants, the words, their list, the askedBy scope) for the request, and for
        what each tool's own instructions describe."""
        targets: list[tuple[str, tuple[str, ...], str, tuple[str, ...] | None]] = [
            (spec.grants, words, described, None)
        ]
        mine, others = self._kinds.get(tool, (frozenset(), frozenset()))
        for scope in self._tool_scopes:
            scoped = self.state.lists.get(scoped_list(described, scope), ())
            said = content_words(" ".join(scoped))
            if said & others and not said & mine:
                # "delete the old exports bucket" asks delete_vm too (askedBy "delet*"), but
                # it speaks of a bucket: its "old" describes no VM.
                continue
            targets.append(
                (scoped_list(spec.grants, scope), scoped, scoped_list(described, scope), scope)
            )
        return targets

    def _owner_lists(self) -> dict[str, tuple[str, ...]]:
        """The lists an ``ownedBy`` entry may name: the standing ones, and the request's own
        (``@task:emails``: "shut down the demo VM of dev@agency.example", whose owner the user
        typed). Only the whole request's values: which instruction typed the owner does not
        matter to whose record it is. Compared exactly, as every owner is (``task:emails`` is
        lower-cased: an owner field written ``Dev@…`` is not admitted by it)."""
        lists = dict(self.policy.lists)
        for name in GRANT_LISTS:
            lists[name] = self.state.lists.get(name, ())
        return lists

    def _await_confirmation(
        self, bound: dict[str, tuple[str, ...]], ids: Iterable[str]
    ) -> tuple[str, ...]:
        """Add ``ids`` to the records waiting for the human's confirmation (``bound``: the
        lists this listing extends), but those the user typed, already waiting or confirmed;
        the ids added."""
        lists = self.state.lists
        typed = {v for g in GRANT_LISTS for v in lists.get(g, ())}
        waiting = bound.get(UNCONFIRMED, ())
        settled = {*typed, *waiting, *lists.get(UNCONFIRMED, ()), *lists.get(CONFIRMED, ())}
        asked = tuple(dict.fromkeys(i for i in ids if i not in settled))
        if asked:
            # a record's alsoGrants values wait with it (the address on file of a contact the
            # human has not confirmed is not yet the user's either)
            fields = (v for i in asked for v in self.fields_of.get(i, ()) if v not in settled)
            bound[UNCONFIRMED] = waiting + asked + tuple(dict.fromkeys(fields))
        return asked

    def _lists_read(self, call: ToolCall) -> frozenset[str]:
        key = (call.server, call.tool)
        found = self._read.get(key)
        if found is None:
            annotation = self.policy.annotations.get(call.server, {}).get(call.tool)
            found = self._read[key] = _lists_read(self.policy, annotation)
        return found

    def _state_for(self, call: ToolCall, reserved: bool = True) -> SessionState:
        state = self.state
        read = self._lists_read(call)
        if any(name not in read for name in state.lists):
            # Judged with (and written to the call's audit record with) only the lists this
            # call's decision can read: the rules' lists, the request's words and instructions,
            # and, for a tool with askedBy, its own shares of them. Other tools' shares and the
            # words records are bound by would only make every record bigger.
            kept = {name: values for name, values in state.lists.items() if name in read}
            state = state.model_copy(update={"lists": kept})
        for update in self._pending.values() if reserved else ():
            state = apply_updates(state, StateUpdate(count=update.count, add=update.add))
        if not self.tracks_provenance:
            return state
        hits, too_long = self.memory.search(call.arguments)
        if self._typed and hits:
            hits = _not_typed(hits, self._typed)
        copies, too_many = self.memory.copies(call.arguments)
        saturated = tuple(sorted({*self.memory.saturated, *too_long, *too_many}))
        read = dict(sorted(self.memory.read.items()))
        if not hits and not copies and not saturated and not read:
            return state
        return state.model_copy(
            update={"tainted": hits, "copied": copies, "saturated": saturated, "read": read}
        )


_STRICTNESS = {"allow": 0, "escalate": 1, "deny": 2}
_CONFIRMS = (None, "contested", "unvouched", "always")  # from the loosest


def _strictest_confirm(policy: Policy) -> dict[str, str | None]:
    """Per list a listing grants, the strictest ``confirm`` of every listing whose lists a rule
    allows for the same role (its ``grants`` or an ``alsoGrants`` list): the agent picks the
    listing, so a sibling declared with none ("list_expenses" beside "list_team_expenses",
    confirm unvouched; one granting "task:team-expenses" where a rule allows either for an
    expense; a trip listing granting its expense's id by alsoGrants) binds nothing unasked."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def join(a: str, b: str) -> None:
        parent[root(a)] = root(b)

    listings = [
        annotation.records
        for tools in policy.annotations.values()
        for annotation in tools.values()
        if annotation.records is not None
    ]
    granted = {r.grants for r in listings} | {
        name for r in listings for name in (r.also_grants or {}).values()
    }
    for records in listings:  # a listing's own lists go together
        for name in (records.also_grants or {}).values():
            join(name, records.grants)
    by_role: dict[str, str] = {}  # lists listings grant that a rule allows for the same role
    for rule in policy.rules:
        for condition in rule.when.lists or ():
            for allowed in condition.allowed:
                name = allowed[1:].split("/", 1)[0] if allowed.startswith("@task:") else ""
                if name not in granted:
                    continue
                for role in condition.roles:
                    join(name, by_role.setdefault(role, name))
    strictest: dict[str, str | None] = {}
    for records in listings:
        group = root(records.grants)
        if _CONFIRMS.index(records.confirm) > _CONFIRMS.index(strictest.get(group)):
            strictest[group] = records.confirm
    return {r.grants: strictest.get(root(r.grants)) for r in listings}


MAX_TYPED_CHARS = 20_000  # of a request, read for its phrases


def _not_typed(hits: dict[str, tuple[str, ...]], typed: set[str]) -> dict[str, tuple[str, ...]]:
    """``hits`` without the phrases (several words) the user typed: those are the user's."""
    kept = {
        label: tuple(p for p in pieces if " " not in p or p not in typed)
        for label, pieces in hits.items()
    }
    return {label: pieces for label, pieces in kept.items() if pieces}


def _lists_read(policy: Policy, annotation: Any) -> frozenset[str]:
    named = {*session_lists_named(policy), TASK_WORDS, ASKED, ASKED_IF, UNCONFIRMED, CONFIRMED}
    named.add(OBJECTS)  # what a count's 'reaches' compares with
    named.add(ON_CONDITION)  # its scoped share: the values asked for only on a condition
    named.add(ON_CONDITION_LIFTED)  # and those a later message asked for without one
    asked_by = annotation.asked_by if annotation is not None else None
    if asked_by is not None:
        bases = {name.partition("/asks:")[0] for name in named if name.startswith("task:")}
        named |= {scoped_list(base, asked_by) for base in bases}
    return frozenset(named)


class _Replay:
    """An iterable over a generator's items that can be iterated again: each item is produced
    once, when first reached (so a result's text is parsed only if some binding needs it)."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = iter(items)
        self._seen: list[Any] = []

    def __iter__(self):
        index = 0
        while True:
            if index == len(self._seen):
                try:
                    self._seen.append(next(self._items))
                except StopIteration:
                    return
            yield self._seen[index]
            index += 1
