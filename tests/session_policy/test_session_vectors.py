"""The session-aware vectors (``tests/vectors/session_policy/*/sequences.json``): sequences of
calls with results, then the call judged, in ``policy test``'s scenario format, replayed through
the pure engine and the same ``SessionRun`` the chokepoint uses."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from appliance.cli.policy_cmd import _protected_for
from policy.loader import load_policy
from policy.models import EvalContext, ToolCall
from policy.scenarios import load_scenarios, replay
from policy.session_run import SessionRun
from policy.task_binding import content_words
from policy.task_grants import described_words, instructions, task_grants

VECTORS = Path(__file__).parents[1] / "vectors" / "session_policy"
FILES = sorted(VECTORS.glob("*/sequences.json"))
CASES = [
    pytest.param(path, index, id=f"{path.parent.name}:{scenario.description[:50]}")
    for path in FILES
    for index, scenario in enumerate(load_scenarios(path).scenarios)
]


def test_every_domain_has_vectors_with_rule_ids() -> None:
    domains = {"actions", "askedby", "asks", "banking", "binding", "dates", "messaging"}
    domains |= {"confirm", "copied", "fields", "narrowed", "numbers", "outscored", "reworded"}
    domains |= {"amounts", "empty", "objects", "phrases", "possessor", "travel", "typed"}
    domains |= {"months", "owners", "several", "pointed", "dated", "articles", "planned"}
    domains |= {"about"}
    assert {p.parent.name for p in FILES} == domains
    for path in FILES:
        for scenario in load_scenarios(path).scenarios:
            assert scenario.expected_rule, scenario.description


@pytest.mark.parametrize(("path", "index"), CASES)
def test_vector(path: Path, index: int) -> None:
    loaded = load_scenarios(path)
    one = loaded.model_copy(update={"scenarios": (loaded.scenarios[index],)})
    (result,) = replay(one, load_policy(path.parent / "policy"), _protected_for)
    got = f"{result.decision.decision} ({result.decision.rule})"
    assert result.passed, f"{result.scenario.description}: {got}: {result.decision.reason}"


def test_policy_test_runs_sequences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ironcurtain policy test`` on a folder whose scenarios are sequences."""
    import shutil

    from appliance.cli.main import main

    folder = tmp_path / "policy"
    shutil.copytree(VECTORS / "messaging" / "policy", folder)
    shutil.copy(VECTORS / "messaging" / "sequences.json", folder / "test-scenarios.json")
    assert main(["policy", "test", "--policy-dir", str(folder)]) == 0
    total = len(load_scenarios(folder / "test-scenarios.json").scenarios)
    assert f"{total} of {total} scenarios pass" in capsys.readouterr().out
    data = (folder / "test-scenarios.json").read_text().replace('"allow-contacts"', '"x"', 1)
    (folder / "test-scenarios.json").write_text(data)
    assert main(["policy", "test", "--policy-dir", str(folder)]) == 1


GRANTS = json.loads((VECTORS / "task_grants.json").read_text())["cases"]


@pytest.mark.parametrize("case", GRANTS, ids=[c["description"][:50] for c in GRANTS])
def test_task_grant_vector(case: dict) -> None:
    today = date.fromisoformat(case["today"]) if "today" in case else None
    grants = task_grants(case["input"], today)
    for name, values in case["expect"].items():
        assert set(values) <= set(grants.get(name, ())), (case["description"], grants)
    for name, values in case.get("absent", {}).items():
        assert not set(values) & set(grants.get(name, ())), (case["description"], grants)
    if not case["expect"]:
        assert grants == {}


def test_policy_show_names_listings_and_warns_without_owned_by(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from appliance.cli.main import main

    assert main(["policy", "show", "--policy-dir", str(VECTORS / "binding" / "policy")]) == 0
    out = capsys.readouterr().out
    assert "listing notes/list_notes: binds @task:notes by id 'id', described by title" in out
    assert "only records whose 'owner' is one of: @me" in out
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: mail/list_messages has no ownedBy: a record someone else made, described in "
        "the user's words, can be bound to @task:messages"
    ]


ASKED = json.loads((VECTORS / "instructions.json").read_text())["cases"]


@pytest.mark.parametrize("case", ASKED, ids=[c["description"][:50] for c in ASKED])
def test_instruction_vector(case: dict) -> None:
    found = [i.asked() for i in instructions(case["input"], case.get("verbs", ()))]
    assert found == case["asked"], case["description"]


@pytest.mark.parametrize(
    ("text", "asks", "expected"),
    [
        ("Could you resend both payslips to her work email?", ["send*"], True),
        ("Please put in an expense for my hotel", ["submit*"], True),
        ("sign off Tom's monitor arm", ["approv*"], True),
        ("Leave him a short note saying why", ["comment*"], True),
        ("drop her a line about it", ["messag*"], True),
        ("Leave the SSO one open", ["comment*"], False),  # leaves something out, writes nothing
        ("put the old laptop in the cupboard", ["submit*"], False),  # "put", not "put in"
        ("sign the form", ["approv*"], False),
        ("Scrap my draft for the co-working pass", ["delet*"], True),
        ("Clear out my old drafts", ["delet*"], True),
        ("clear Tom's claim", ["delet*"], False),  # "clear": empty, or approve?
        ("thank him on his refactor PR", ["comment*"], True),
        ("thank him on his refactor PR", ["messag*"], True),
        ("Send him a thank-you from me", ["messag*"], True),
        ("remind Paul's parents about the timeline", ["messag*"], True),
        ("warn Ada about the parcel texts", ["tell"], True),
        ("ask Carmen whether Leila needs to sign", ["messag*"], True),
        ("change his grade to a B-", ["grad*"], True),
        ("fix the mark on Mia's essay", ["mark*"], True),
        ("update the expense", ["expense"], False),  # an expense changed is no new expense
        ("take caio-dev off the repo", ["remov*"], True),
        ("take Friday off", ["remov*"], False),
        ("take 10% off the invoice", ["delet*", "remov*"], False),  # a discount
        ("get rid of the entry too", ["remov*"], True),
        ("throw away the old exports", ["delet*"], True),
        ("Please get in touch with Sofia Rossi's parents", ["messag*"], True),
        ("reach out to Jonas about the invoice", ["contact"], True),
        ("bin the old drafts", ["delet*"], False),  # a noun at a piece's start as often
        ("contact Jonas about the invoice", ["messag*"], False),  # a policy listing it reads it
        ("push back the deadline on the map exercise", ["extend*"], True),
        ("postpone the quiz to Friday", ["extend*"], True),
        ("Sofia Rossi's Weimar essay gets an A-", ["giv*"], True),
        ("The SSH rule for his home IP is stale. Can you remove it?", ["remov* rule*"], True),
        # a sense is the user's verb's, never the other way round, and only one left in no
        # doubt: "drop" (a table, or a line?), "clear" and "bump" ask for themselves only
        ("delete the draft", ["scrap*"], False),
        ("drop the staging table", ["delet*"], False),
        ("clear the queue", ["delet*"], False),
        ("bump him to maintain", ["grant*"], False),
        ("get the invoice from Acme", ["delet*", "messag*"], False),
        ("push the branch to origin", ["extend*"], False),
        ("Tomás gets back tomorrow", ["giv*"], False),
        ("I have nothing to hide", ["hid*"], False),
    ],
)
def test_verbs_that_ask_for_what_another_verb_names(text: str, asks: list, expected: bool):
    assert any(i.fits(asks) for i in instructions(text, asks)) is expected


DESCRIBED = [
    # (request, words that bind records, words that do not)
    ("Did Tom attach a receipt for the PyCon ticket? If not, leave him a comment", ["PyCon"], []),
    ("Did I share my grocery list with sam@home.example?", [], ["grocery"]),
    ("Pay the power bill, don't pay the Fiber Net one", ["power"], ["Fiber"]),
]


@pytest.mark.parametrize(("text", "present", "absent"), DESCRIBED)
def test_described_words_keep_questions_only_beside_an_instruction(
    text: str, present: list[str], absent: list[str]
) -> None:
    words = described_words(text)
    assert set(present) <= set(words) and not set(absent) & set(words), words


@pytest.mark.parametrize(
    ("description", "asked", "bound"),
    [
        ("Kowalski & Sons plumbing", "share the plumber's contact", True),  # stem and 's
        ("omar-s/readme-typo", "delete the readme typo branch", True),  # hyphen parts
        ("Team ideas", "share the team's ideas", True),
        ("Grocery list", "share the hiking guide", False),
    ],
)
def test_record_words_match_by_rough_stem_and_parts(
    description: str, asked: str, bound: bool
) -> None:
    assert bool(content_words(description) & content_words(asked)) is bound


def test_policy_show_names_tools_asked_by_instructions(capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.cli.main import main

    assert main(["policy", "show", "--policy-dir", str(VECTORS / "askedby" / "policy")]) == 0
    out = capsys.readouterr().out
    assert "tool notes/share_note: asked by 'shar*', 'send' (otherwise refused" in out


@pytest.mark.parametrize(
    "name", ["task:identifiers", "task:amounts", "task:asked", "task:described", "task:excluded"]
)
def test_records_may_not_bind_into_a_list_the_request_fills(name: str) -> None:
    """A listing's ids must not land in a list the request's reading fills: in task:asked a
    record id would read as an instruction."""
    from pydantic import ValidationError

    from policy.task_binding import RecordsSpec

    with pytest.raises(ValidationError, match="bound records need a list of their own"):
        RecordsSpec.model_validate({"grants": name, "id": "id", "describedBy": ["title"]})


def test_a_call_is_judged_and_audited_with_only_the_lists_it_can_read() -> None:
    """Other tools' shares and the words records are bound by stay out of the state a call is
    judged with (and so out of its audit record); its own share is in."""
    run = SessionRun(load_policy(VECTORS / "askedby" / "policy"))
    run.grant_task("Share the grocery list with sam@home.example and delete the hiking guide")
    assert any("delet" in name for name in run.state.lists)
    call = ToolCall(
        server="notes", tool="share_note", arguments={"id": "n-3", "to": "sam@home.example"}
    )
    seen = run.judge(call, EvalContext(home="/h")).seen.lists
    assert "task:emails/asks:shar*|send" in seen and "task:asked" in seen
    assert not [n for n in seen if "delet" in n or n.startswith(("task:described", "task:exc"))]


def test_a_request_read_as_no_instruction_says_so() -> None:
    """A request in which no instruction was read (not English, or no verb first) refuses every
    askedBy tool; the refusal says that nothing was read and what an instruction looks like."""
    run = SessionRun(load_policy(VECTORS / "askedby" / "policy"))
    run.grant_task("Bitte die Einkaufsliste mit sam@home.example teilen")
    call = ToolCall(
        server="notes", tool="share_note", arguments={"id": "n-3", "to": "sam@home.example"}
    )
    judged = run.judge(call, EvalContext(home="/home/user"))
    assert judged.decision.rule == "task-not-asked"
    assert "nothing in it was read as an instruction to act" in judged.decision.reason
    run.grant_task("Delete the hiking guide")  # read, but not as sharing: what was read is said
    judged = run.judge(call, EvalContext(home="/home/user"))
    assert "it was read as: delete (the hiking guide)" in judged.decision.reason


def test_a_resumed_session_keeps_the_best_binding_it_had() -> None:
    """The best binding score goes into the audit with the ids it bound; a resumed session
    starts from it, so a narrower listing after the resume binds nothing worse."""
    from appliance.chokepoint.session_guard import restore

    run = SessionRun(load_policy(VECTORS / "binding" / "policy"))
    run.grant_task("Delete the hiking photos note")
    records = [{"type": "task-grants", "grants": {k: list(v) for k, v in run.state.lists.items()}}]
    full = [{"id": "n-7", "title": "Hiking guide", "owner": "me"},
            {"id": "n-8", "title": "Hiking photos", "owner": "me"}]  # fmt: skip
    assert run.observe("notes", "list_notes", json.dumps(full)) == {"task:notes": ("n-8",)}
    # two object words met ("hiking photos" of "the hiking photos note"), two words in all, no
    # possessor: 2·10⁴ + 2·10² + 0
    assert run.binding_best == {"task:notes": 20200}
    bound = {"taskBindings": {"task:notes": ["n-8"]}, "taskBindingScores": run.binding_best}
    records.append(bound)
    resumed = SessionRun(load_policy(VECTORS / "binding" / "policy"))
    restore(resumed, records)
    assert resumed.binding_best == {"task:notes": 20200}
    narrow = json.dumps([{"id": "n-7", "title": "Hiking guide", "owner": "me"}])
    assert resumed.observe("notes", "list_notes", narrow) == {}
    assert resumed.state.lists["task:notes"] == ("n-8",)
    # A log written before object words held the count of all words (2): read strictly, as if
    # the object had met both, so the narrower listing still binds nothing.
    older = SessionRun(load_policy(VECTORS / "binding" / "policy"))
    restore(older, [records[0], {**bound, "taskBindingScores": {"task:notes": 2}}])
    assert older.binding_best == {"task:notes": 20200}
    assert older.observe("notes", "list_notes", narrow) == {}


def test_written_by_others_must_name_described_fields(tmp_path: Path) -> None:
    import shutil

    from policy.api import PolicyLoadError

    folder = tmp_path / "policy"
    shutil.copytree(VECTORS / "binding" / "policy", folder)
    path = folder / "tool-annotations.json"
    path.write_text(
        path.read_text().replace('"writtenByOthers": ["reason"]', '"writtenByOthers": ["notes"]')
    )
    with pytest.raises(
        PolicyLoadError, match="writtenByOthers names fields that are not describedBy"
    ):
        load_policy(folder)


def test_when_not_asked_needs_asked_by(tmp_path: Path) -> None:
    import shutil

    from policy.models import PolicyLoadError

    folder = tmp_path / "policy"
    shutil.copytree(VECTORS / "outscored" / "policy", folder)
    annotations = json.loads((folder / "tool-annotations.json").read_text())
    tool = annotations["servers"]["repo"]["tools"][-1]
    del tool["askedBy"]
    (folder / "tool-annotations.json").write_text(json.dumps(annotations))
    with pytest.raises(PolicyLoadError, match="whenNotAsked applies to a tool with askedBy"):
        load_policy(folder)
