"""The task planner (taskPlan): an LLM reads the user's message, and only it, into a plan that
policy.task_plan checks step by step; any failure means no plan. The model is the scripted one
on loopback, reached through litellm's normal clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from chokepoint_helpers import session_for

from appliance.agent.scripted_llm import ScriptedLLM
from appliance.chokepoint.task_planner import PROMPT, TaskPlanner, parse_answer, tool_lines
from appliance.config.model_settings import ModelSettings
from appliance.config.models import TaskPlan
from appliance.config.settings import Config, weakening_settings
from policy.loader import load_policy
from policy.session_run import SessionRun
from policy.task_plan import check_plan

pytestmark = pytest.mark.anyio

POLICY = Path(__file__).parents[1] / "vectors" / "session_policy" / "planned" / "policy"
TASK = (
    "Salary changes from the calibration meeting: Sunita goes to 67,500. Aaliyah to 70k - hmm, "
    "no, sorry, 69,750 for Aaliyah, I had her mixed up with someone else."
)
PLAN = {
    "steps": [
        {"tool": "hr/update_salary", "quote": "Sunita goes to 67,500", "if": False},
        {"tool": "hr/update_salary", "quote": "69,750 for Aaliyah", "if": False},
    ]
}


def _planner(llm: ScriptedLLM, provider: str = "openai") -> TaskPlanner:
    base = llm.openai_base if provider == "openai" else llm.anthropic_base
    return TaskPlanner(ModelSettings(f"{provider}:planner", api_key="k", api_base=base), 20)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_plan_comes_from_the_users_words_and_the_tool_list_only(provider):
    policy = load_policy(POLICY)
    with ScriptedLLM([{"text": json.dumps(PLAN)}]) as llm:
        plan = await _planner(llm, provider).plan(TASK, policy)
        (request,) = llm.requests
    assert [s.quote for s in plan.steps] == ["Sunita goes to 67,500", "69,750 for Aaliyah"]
    assert plan.refused == ()
    sent = json.dumps(request, ensure_ascii=False)
    assert "Sunita goes to 67,500" in sent and "hr/update_salary (amount, employee)" in sent
    assert "changes something" in sent and "reads only" in sent
    # nothing of the policy's rules or lists, nor of any result: only its tools' names
    assert "deny-salaries-other-than-typed" not in sent and "@team" not in sent


async def test_a_fenced_answer_is_read_and_prose_is_no_plan():
    policy = load_policy(POLICY)
    fenced = "```json\n" + json.dumps(PLAN) + "\n```"
    with ScriptedLLM([{"text": fenced}, {"text": "Sure! Sunita gets a raise."}]) as llm:
        planner = _planner(llm)
        first = await planner.plan(TASK, policy)
        second = await planner.plan(TASK, policy)
    assert len(first.steps) == 2
    assert second.steps == () and "not JSON" in second.refused[0]


async def test_an_unreachable_or_failing_model_is_no_plan():
    policy = load_policy(POLICY)
    down = ModelSettings("openai:planner", api_key="k", api_base="http://127.0.0.1:9/v1")
    plan = await TaskPlanner(down, timeout_s=10).plan(TASK, policy)
    assert plan.steps == () and plan.refused[0].startswith("the planner failed")
    with ScriptedLLM([{"status": 500}], fallback={"status": 500}) as llm:
        plan = await _planner(llm).plan(TASK, policy)
    assert plan.steps == () and "failed" in plan.refused[0]


def test_the_shipped_prompt_is_the_one_the_recorded_plans_answered():
    import hashlib

    recorded = json.loads((POLICY.parents[1] / "round17" / "hr" / "plans.json").read_text())
    assert recorded["prompt"] == hashlib.sha256(PROMPT.encode()).hexdigest()
    assert recorded["tools"] == tool_lines(load_policy(POLICY.parents[1] / "round17/hr/policy"))


Q = "Sunita goes to 67,500"


def _one(tool: str, quote: object = Q, **more: object) -> dict:
    return {"steps": [{"tool": tool, "quote": quote, **more}]}


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ([1, 2], "is not an object"),
        ({"steps": "hr/update_salary"}, "is not an object"),
        (_one("hr/update_salary", "Sunita goes to 76,500"), "not in the request"),
        (_one("update_salary"), "is not 'server/tool'"),
        (_one("hr/pay_bonus"), "not a tool of the policy"),
        (_one("hr/list_employees"), "changes nothing"),
        (_one("hr/send_payslip"), "has no askedBy"),
        (_one("hr/update_salary", "  "), "is not a piece of the request"),
        (_one("hr/update_salary", 67500), "is not a piece of the request"),
        (_one("hr/update_salary", **{"if": "yes"}), "is not true or false"),
        ({"steps": ["hr/update_salary"]}, "not an object with"),
    ],
)
def test_a_step_that_does_not_hold_is_refused_with_why(answer, why):
    plan = check_plan(answer, TASK, load_policy(POLICY))
    assert plan.steps == ()
    assert why in plan.refused[0], plan.refused


def test_quotes_match_across_white_space_and_negatives_only_at_the_start():
    policy = load_policy(POLICY)
    task = "Sunita   goes to\n67,500, and don't  change Kofi. Tell Aaliyah she doesn't need to ask."
    answer = {
        "steps": [
            {"tool": "hr/update_salary", "quote": "Sunita goes to 67,500"},
            {"tool": "hr/update_salary", "quote": "don't change Kofi"},
            {"tool": "hr/message_employee", "quote": "Tell Aaliyah she doesn't need to ask"},
            {"tool": "hr/update_salary", "quote": "Sunita goes to 67,500"},  # twice: once
        ]
    }
    plan = check_plan(answer, task, policy)
    assert [s.tool for s in plan.steps] == ["hr/update_salary", "hr/message_employee"]
    assert plan.refused == ('step 2: hr/update_salary: "don\'t change Kofi" says what not to do',)


def test_a_quote_with_a_condition_is_conditional_whatever_the_planner_said():
    task = "Salary changes: if the sheet says so, Sunita goes to 67,500."
    answer = _one("hr/update_salary", f"if the sheet says so, {Q}", **{"if": False})
    (step,) = check_plan(answer, task, load_policy(POLICY)).steps
    assert step.conditional
    # a condition before the quote, in its sentence; none in the next sentence
    task = "If the sheet is signed: Sunita goes to 67,500. Aaliyah to 69,750, no matter what."
    answer = {
        "steps": [
            {"tool": "hr/update_salary", "quote": Q, "if": False},
            {"tool": "hr/update_salary", "quote": "Aaliyah to 69,750", "if": False},
        ]
    }
    steps = check_plan(answer, task, load_policy(POLICY)).steps
    assert [s.conditional for s in steps] == [True, False]


ABOUT_TASK = (
    "Sunita's raise came through at calibration. She goes to 67,500. Kofi stays where he "
    'is. Carmen wrote "Aaliyah as well" in the notes, but not Aaliyah yet. If the sheet is '
    "signed, Leila to 71,000 too, her review is done. Tell her, please."
)


@pytest.mark.parametrize(
    ("about", "why"),
    [
        ("Kofi", "is said to be left as it is ('stays')"),
        ("Aaliyah as well", "is quoted, negated or asked about"),
        ("not Aaliyah yet", "says what not to do"),
        ("Aaliyah yet", "is quoted, negated or asked about"),
        ("Marta", "is not in the request as written"),
        (["Sunita"], "is not a piece of the request"),
        ("Sunita " * 40, "is longer than 200 characters"),
    ],
)
def test_an_about_that_does_not_hold_refuses_its_step(about, why):
    answer = _one("hr/update_salary", "She goes to 67,500", about=about)
    plan = check_plan(answer, ABOUT_TASK, load_policy(POLICY))
    assert plan.steps == ()
    assert why in plan.refused[0], plan.refused


def test_an_about_names_what_the_quote_points_to():
    policy = load_policy(POLICY)
    answer = {
        "steps": [
            {"tool": "hr/update_salary", "quote": "She goes to 67,500", "about": "Sunita"},
            {"tool": "hr/message_employee", "quote": "Tell her", "about": "Leila"},
        ]
    }
    plan = check_plan(answer, ABOUT_TASK, policy)
    assert plan.refused == ()
    first, second = plan.steps
    assert (first.about, first.conditional) == ("Sunita", False)
    # "Leila" is typed only in a sentence on a condition: the step is asked, whatever it quotes
    assert (second.about, second.conditional) == ("Leila", True)
    assert "(about 'Sunita')" in plan.describe()
    # the about's words describe the step's records: "Sunita" is in update_salary's share
    (run := SessionRun(policy)).grant_task(ABOUT_TASK, plan.steps)
    asked_by = "|".join(policy.annotations["hr"]["update_salary"].asked_by)
    assert "Sunita" in run.state.lists[f"task:described/asks:{asked_by}"]


def test_a_quote_that_names_its_record_takes_no_about():
    task = "Kofi is fine. Please set emp-1061 to 67,500."
    answer = _one("hr/update_salary", "set emp-1061 to 67,500", about="Kofi")
    plan = check_plan(answer, task, load_policy(POLICY))
    assert plan.steps == ()
    assert "names 'emp-1061' in its clause; it takes no 'about'" in plan.refused[0]


def test_a_plan_grants_the_quotes_values_and_no_other():
    policy = load_policy(POLICY)
    run = SessionRun(policy)
    steps = check_plan(PLAN, TASK, policy).steps
    grants, line = run.grant_task(TASK, steps)
    scope = "task:amounts/asks:" + "|".join(policy.annotations["hr"]["update_salary"].asked_by)
    assert set(grants[scope]) >= {"67500", "69750"} and "70000" not in grants[scope]
    assert "hr/update_salary (planned: 'Sunita goes to 67,500')" in line


def test_too_many_steps_are_cut_at_the_limit():
    quotes = [f"{Q} ({n})" for n in range(40)]
    task = " ".join(quotes)
    steps = [{"tool": "hr/update_salary", "quote": q} for q in quotes]
    plan = check_plan({"steps": steps}, task, load_policy(POLICY))
    assert len(plan.steps) == 24 and "at most 24" in plan.refused[-1]


async def test_a_session_with_task_plan_on_plans_each_message_and_audits_it(home, tmp_path):
    answer = json.dumps(_one("filesystem/write_file", "write notes.txt"))
    with ScriptedLLM([{"text": answer}]) as llm:
        config = Config(
            escalation_timeout_seconds=5,
            task_plan=TaskPlan(enabled=True, model_id="openai:planner"),
            openai_api_key="sk-test",
            openai_base_url=llm.openai_base,
        )
        assert any(w.startswith("taskPlan is on") for w in weakening_settings(config))
        async with session_for(home, tmp_path / "sandbox", config=config) as session:
            line = await session.chokepoint.grant_planned_task("please write notes.txt for me")
            audit = session.chokepoint.audit.path
        sent = json.dumps(llm.requests[0])
    assert "please write notes.txt for me" in sent
    # the shipped filesystem tools are not judged by what the request asks (no askedBy)
    assert "has no askedBy" in line
    records = [json.loads(x) for x in Path(audit).read_text().splitlines() if x.strip()]
    (granted,) = [r for r in records if r.get("type") == "task-grants" and "plan" in r]
    assert granted["plan"]["steps"] == [] and "has no askedBy" in granted["plan"]["refused"][0]


def test_parse_answer_reads_json_or_nothing():
    assert parse_answer('{"steps": []}') == {"steps": []}
    assert parse_answer('```\n{"steps": []}\n```') == {"steps": []}
    assert parse_answer("no") is None


def test_a_question_or_a_negated_part_is_kept_only_as_asked_on_a_condition():
    task = "Should Sunita go to 67,500? And no need to tell Aaliyah anything, she knows."
    answer = {
        "steps": [
            {"tool": "hr/update_salary", "quote": "Sunita go to 67,500"},
            {"tool": "hr/message_employee", "quote": "tell Aaliyah anything"},
        ]
    }
    plan = check_plan(answer, task, load_policy(POLICY))
    assert [s.conditional for s in plan.steps] == [True, True]


def test_words_inside_double_quotation_marks_are_refused():
    task = "Carmen wrote “Sunita goes to 67,500” in the notes. Sunita goes to 67,500 then."
    plan = check_plan(_one("hr/update_salary"), task, load_policy(POLICY))
    # also typed outside the marks: kept, but asked (one of its places is quoted words)
    assert len(plan.steps) == 1 and plan.steps[0].conditional
    task = 'Carmen wrote "Sunita goes to 67,500" in the notes; just summarise them.'
    plan = check_plan(_one("hr/update_salary"), task, load_policy(POLICY))
    assert plan.steps == () and "inside quotation marks" in plan.refused[0]


def _read_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    repo = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "IRONCURTAIN_HOME": "/nonexistent-ic-home"}
    argv = [sys.executable, "-m", "appliance.cli", "policy", "read", "--policy-dir", str(POLICY)]
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, env=env, cwd=str(repo), timeout=120,
        input=stdin,
    )  # fmt: skip


def test_policy_read_shows_the_reading_with_and_without_a_plan(tmp_path):
    alone = _read_cli(TASK)
    assert alone.returncode == 0, alone.stderr
    assert "tool hr/update_salary: not asked (task-not-asked)" in alone.stdout
    planned = _read_cli("--plan", "-", TASK, stdin=json.dumps(PLAN))
    assert planned.returncode == 0, planned.stderr
    assert "task plan: 2 step(s)" in planned.stdout
    (line,) = [x for x in planned.stdout.splitlines() if x.startswith("tool hr/update_salary")]
    assert "asked;" in line and "69750" in line and "70000" not in line
    assert "described#" not in planned.stdout  # the binding words are not shown as grants


def test_policy_read_refuses_a_plan_it_cannot_read(tmp_path):
    bad = _read_cli("--plan", "-", TASK, stdin="{steps: oops")
    assert bad.returncode == 2 and "--plan -: not JSON" in bad.stderr
    missing = _read_cli("--plan", str(tmp_path / "nope.json"), TASK)
    assert missing.returncode == 2 and "nope.json" in missing.stderr


async def test_pty_messages_are_planned_and_granted_in_the_order_typed(home, tmp_path):
    import queue

    import anyio

    from appliance.docker.supervise import _grant_messages, _take_messages

    first = json.dumps(_one("filesystem/write_file", "write a.txt"))
    second = json.dumps(_one("filesystem/write_file", "write b.txt"))
    with ScriptedLLM([{"text": first, "delay": 0.3}, {"text": second}]) as llm:
        config = Config(
            escalation_timeout_seconds=5,
            task_plan=TaskPlan(enabled=True, model_id="openai:planner"),
            openai_api_key="sk-test",
            openai_base_url=llm.openai_base,
        )
        async with session_for(home, tmp_path / "sandbox", config=config) as session:
            typed: queue.SimpleQueue[str] = queue.SimpleQueue()
            typed.put("now write a.txt please")
            typed.put("and write b.txt too")
            send, receive = anyio.create_memory_object_stream[str](4)
            async with anyio.create_task_group() as group:
                group.start_soon(_grant_messages, session, receive)
                _take_messages(session, typed, send)
                assert session.chokepoint.latest_user_message == "and write b.txt too"
                send.close()
            audit = session.chokepoint.audit.path
    records = [json.loads(x) for x in Path(audit).read_text().splitlines() if x.strip()]
    granted = [r for r in records if r.get("type") == "task-grants"]
    assert all("write_file has no askedBy" in r["plan"]["refused"][0] for r in granted)
    words = [r["grants"]["task:identifiers"] for r in granted]
    assert len(words) == 2 and "a.txt" in words[0] and "b.txt" in words[1]
    asked = [json.dumps(r["messages"]) for r in llm.requests]
    assert "a.txt" in asked[0] and "b.txt" in asked[1]  # planned one after the other


def test_a_refusal_names_a_huge_value_short():
    huge = "hr/" + "x" * 100_000
    steps = [{"tool": huge, "quote": Q}, {"tool": "hr/update_salary", "quote": [Q] * 50_000}]
    plan = check_plan({"steps": steps}, TASK, load_policy(POLICY))
    assert plan.steps == () and all(len(r) < 200 for r in plan.refused), plan.refused
