"""The in-process prompt, and the composite where the first answer wins."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest
from esc_factories import trequest

from appliance.chokepoint.escalation import FileChannel, FirstAnswer, InteractivePrompt, Verdict
from appliance.chokepoint.escalation.display import neutralise

pytestmark = pytest.mark.anyio


async def wait_pending(prompt: InteractivePrompt, count: int = 1) -> None:
    with anyio.fail_after(5):
        while len(prompt.pending()) < count:
            await anyio.sleep(0.01)


async def test_prompt_prints_the_call_and_takes_approve(anyio_backend) -> None:
    shown: list[str] = []
    prompt = InteractivePrompt(shown.append, timeout_s=5)
    request = trequest(arguments={"path": "/home/u/\x1b[2Jx", "content": "\u202eevil"})
    async with anyio.create_task_group() as group:

        async def approve() -> None:
            await wait_pending(prompt)
            (pending,) = prompt.pending()
            assert pending.number == 1 and pending.request == request
            assert prompt.approve(1, scope="similar")

        group.start_soon(approve)
        verdict = await prompt.ask(request)
    assert verdict == Verdict(approved=True, by="user", scope="similar")
    text = "".join(shown)
    assert "filesystem/write_file" in text and "writes outside the sandbox" in text
    assert "\x1b" not in text and "\u202e" not in text
    assert '"path": "/home/u/\\u001b[2Jx"' in text and "\\u202eevil" in text
    assert prompt.pending() == []
    assert not prompt.approve(1)  # answered already: nothing is waiting


async def test_prompt_deny_from_another_thread(anyio_backend) -> None:
    prompt = InteractivePrompt(lambda _text: None, timeout_s=5)

    def input_loop() -> None:
        while not prompt.pending():
            threading.Event().wait(0.01)
        assert not prompt.deny(99)
        assert prompt.deny(prompt.pending()[0].number, note="no")

    thread = threading.Thread(target=input_loop)
    thread.start()
    verdict = await prompt.ask(trequest())
    thread.join()
    assert verdict == Verdict(approved=False, by="user", note="no")


async def test_prompt_timeout_denies(anyio_backend) -> None:
    shown: list[str] = []
    verdict = await InteractivePrompt(shown.append, timeout_s=0.1).ask(trequest())
    assert verdict.timed_out and not verdict.approved
    assert "no answer within 0.1 s: denied" in shown[-1]


async def test_prompt_with_a_broken_writer_denies(anyio_backend) -> None:
    def broken(_text: str) -> None:
        raise BrokenPipeError

    verdict = await InteractivePrompt(broken, timeout_s=5).ask(trequest())
    assert not verdict.approved and "BrokenPipeError" in verdict.note


async def test_prompt_commands_and_a_stream_writer(anyio_backend) -> None:
    import io

    stream = io.StringIO()
    prompt = InteractivePrompt(stream, timeout_s=5)
    async with anyio.create_task_group() as group:

        async def typed() -> None:
            await wait_pending(prompt, 2)
            assert prompt.command("hello") is None
            assert prompt.command("/approve x").startswith("usage:")
            assert prompt.command("/deny 1 similar").startswith("usage:")
            assert prompt.command("/approve 7") == "no pending escalation 7"
            assert prompt.command("/approve 1 similar") == "[1] approved"
            assert prompt.command("/deny 2") == "[2] denied"

        group.start_soon(typed)
        results: list[Verdict] = []

        async def ask(request_id: str) -> None:
            results.append(await prompt.ask(trequest(request_id)))

        group.start_soon(ask, "a")
        await wait_pending(prompt, 1)
        group.start_soon(ask, "b")
    assert sorted((v.approved, v.scope) for v in results) == [(False, "once"), (True, "similar")]
    assert "[1] filesystem/write_file" in stream.getvalue() and "[2]" in stream.getvalue()


def test_prompt_refuses_an_unknown_scope() -> None:
    with pytest.raises(ValueError, match="scope"):
        InteractivePrompt(print).approve(1, scope="forever")


async def test_first_answer_wins_and_the_file_request_is_withdrawn(tmp_path: Path) -> None:
    prompt = InteractivePrompt(lambda _text: None, timeout_s=5)
    both = FirstAnswer(prompt, FileChannel(tmp_path, timeout_s=5, poll_s=0.01))
    async with anyio.create_task_group() as group:

        async def approve() -> None:
            await wait_pending(prompt)
            assert [p.name for p in tmp_path.iterdir()] == ["request-req1.json"]
            prompt.approve(1)

        group.start_soon(approve)
        verdict = await both.ask(trequest())
    assert verdict.approved and verdict.by == "user"
    assert list(tmp_path.iterdir()) == []


async def test_file_answer_wins_and_the_prompt_forgets(tmp_path: Path) -> None:
    import json

    prompt = InteractivePrompt(lambda _text: None, timeout_s=5)
    both = FirstAnswer(prompt, FileChannel(tmp_path, timeout_s=5, poll_s=0.01))
    request = trequest()

    async def listener() -> None:
        await wait_pending(prompt)
        answer = {"id": request.id, "decision": "deny", "callDigest": request.call_digest}
        (tmp_path / "t").write_text(json.dumps(answer))
        (tmp_path / "t").rename(tmp_path / f"response-{request.id}.json")

    async with anyio.create_task_group() as group:
        group.start_soon(listener)
        verdict = await both.ask(request)
    assert not verdict.approved and verdict.by == "listener"
    assert prompt.pending() == [] and list(tmp_path.iterdir()) == []


class Exploding:
    async def ask(self, request):
        raise RuntimeError("boom")


async def test_a_failing_channel_denies(anyio_backend) -> None:
    verdict = await FirstAnswer(Exploding()).ask(trequest())
    assert not verdict.approved and verdict.failed and "RuntimeError" in verdict.note


async def test_a_broken_channel_does_not_preempt_the_person(tmp_path: Path) -> None:
    prompt = InteractivePrompt(lambda _text: None, timeout_s=5)
    (tmp_path / "file").write_text("x")
    broken_files = FileChannel(tmp_path / "file" / "esc", timeout_s=5)
    both = FirstAnswer(Exploding(), broken_files, prompt)
    async with anyio.create_task_group() as group:

        async def approve() -> None:
            await wait_pending(prompt)
            await anyio.sleep(0.05)  # the broken channels have long given up by now
            prompt.approve(1)

        group.start_soon(approve)
        verdict = await both.ask(trequest())
    assert verdict.approved and verdict.by == "user"


async def test_when_nobody_answers_the_timeout_is_returned(tmp_path: Path) -> None:
    both = FirstAnswer(
        FileChannel(tmp_path, timeout_s=0.1, poll_s=0.01),
        InteractivePrompt(lambda _text: None, timeout_s=0.15),
    )
    verdict = await both.ask(trequest())
    assert not verdict.approved and verdict.timed_out and verdict.outcome == "timeout"
    assert list(tmp_path.iterdir()) == []


def test_neutralise_escapes_controls_and_bidi_but_keeps_text() -> None:
    assert neutralise("plain text, ünïcödé") == "plain text, ünïcödé"
    assert neutralise("a\x1b]0;title\x07b") == "a\\x1b]0;title\\x07b"
    assert neutralise("line\nnext\\x1b") == "line\\nnext\\\\x1b"  # a literal \x1b stays distinct
    assert neutralise("\u202e\u200b\x9b") == "\\u202e\\u200b\\x9b"
    assert neutralise('{"a": "\\u001b\x9b"}', json_text=True) == '{"a": "\\u001b\\x9b"}'
