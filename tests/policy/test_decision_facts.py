"""``evaluate`` returns the facts it established: every role value, each path as it was resolved,
each URL's host, declared roles included; nothing resolved for the facts alone."""

from __future__ import annotations

from pathlib import Path

from policy_factories import HOME, SANDBOX, make_policy, shipped_policy, tcall, tcontext

from policy.api import CallFacts, RoleFact
from policy.engine import evaluate
from policy.loader import load_policy
from policy.paths import lexical

DECLARED = Path(__file__).resolve().parents[1] / "vectors" / "declared" / "policy"


def test_a_path_is_given_back_as_the_engine_resolved_it() -> None:
    links = {f"{HOME}/Documents/link": "/etc"}

    def resolver(path: str) -> str:
        for link, target in links.items():
            if path.startswith(link + "/"):
                return target + path[len(link) :]
        return lexical(path)

    call = tcall("filesystem", "write_file", path="~/Documents/link/cron.d/x", content="c")
    decision = evaluate(call, shipped_policy(), tcontext(resolve_path=resolver))
    assert decision.facts == CallFacts(
        (RoleFact("write-path", "path", "~/Documents/link/cron.d/x", "path", "/etc/cron.d/x"),)
    )


def test_a_url_is_given_back_with_the_host_the_domain_rules_read() -> None:
    call = tcall("fetch", "http_fetch", url="https://docs.python.org@Evil.COM./x")
    decision = evaluate(call, shipped_policy(), tcontext())
    (fact,) = decision.facts.values
    assert (fact.role, fact.kind, fact.host, fact.real) == ("fetch-url", "url", "evil.com", None)


def test_a_git_remote_left_out_is_an_unknown_value() -> None:
    decision = evaluate(tcall("git", "git_push", path=SANDBOX), shipped_policy(), tcontext())
    assert decision.decision == "escalate"
    remote = decision.facts.of("git-remote-url")
    assert remote == (RoleFact("git-remote-url", "url", None, "remote"),)
    assert decision.facts.of("read-path")[0].real == SANDBOX


def test_declared_roles_numbers_and_extracted_urls_are_facts_too() -> None:
    policy = load_policy(DECLARED)
    call = tcall(
        "messaging",
        "send_payment",
        recipient="bob",
        amount=900,
        memo="see https://Example.org/inv and evil.com/x.",
    )
    decision = evaluate(call, policy, tcontext())
    # bob is no contact: denied, and the facts still hold every value the engine read
    assert (decision.decision, decision.rule) == ("deny", "default-deny")
    by_role = decision.facts.by_role()
    assert [f.value for f in by_role["recipient"]] == ["bob"]
    assert [(f.kind, f.value) for f in by_role["amount"]] == [("number", "900")]
    urls = by_role["text-urls"]
    assert [(f.kind, f.value, f.host) for f in urls] == [
        ("url", "https://Example.org/inv", "example.org"),
        ("url", "evil.com/x", "evil.com"),
    ]
    assert decision.facts.roles() == ("recipient", "amount", "text-urls")
    assert decision.facts.resolved() == {"text-urls": ["example.org", "evil.com"]}


def test_a_call_with_only_opaque_values_still_reports_them() -> None:
    policy = make_policy(
        [{"name": "allow-notes", "then": "allow"}], tools={"note": {"text": ["commit-message"]}}
    )
    decision = evaluate(tcall("srv", "note", text="hello"), policy, tcontext())
    assert decision.rule == "allow-notes"
    assert decision.facts.values == (RoleFact("commit-message", "opaque", "hello", "text"),)


def test_no_facts_before_the_arguments_were_read() -> None:
    policy = make_policy([{"name": "all", "then": "allow"}])
    assert evaluate(tcall("srv", "nope"), policy, tcontext()).facts is None
    bad = evaluate(tcall("srv", "read", path=3), policy, tcontext())
    assert bad.rule == "invalid-arguments" and bad.facts is None


def test_a_denial_reports_only_what_was_resolved_on_the_way() -> None:
    """The protected check stops at the first protected path: a later one stays unresolved
    (the facts never cost a lookup the decision did not need)."""
    policy = make_policy(
        [{"name": "all", "then": "allow"}],
        tools={"copy": {"source": ["read-path"], "destination": ["write-path"]}},
    )
    seen: list[str] = []

    def resolver(path: str) -> str:
        seen.append(path)
        return lexical(path)

    call = tcall("srv", "copy", source=f"{HOME}/.ironcurtain/config.json", destination="/tmp/x")
    decision = evaluate(call, policy, tcontext(resolve_path=resolver))
    assert decision.rule == "structural-protected-path"
    source, destination = decision.facts.values
    assert source.real == f"{HOME}/.ironcurtain/config.json"
    assert destination.real is None and "/tmp/x" not in seen


def test_an_engine_error_has_no_facts_and_keeps_its_cause() -> None:
    def broken(path: str) -> str:
        raise OSError("disk on fire")

    decision = evaluate(
        tcall("srv", "read", path="/x"), make_policy([]), tcontext(resolve_path=broken)
    )
    assert decision.rule == "engine-error" and decision.facts is None
    assert decision.error == "OSError: disk on fire"
