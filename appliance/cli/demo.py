"""``ironcurtain demo``: a whole Code Mode session with a scripted model and no API key.

Everything but the model is real: the WebAssembly sandbox, the policy engine with the shipped
policy, the MCP servers over stdio, escalation and the hash-chained audit log. The model is a
script served on 127.0.0.1 through litellm's normal client. The agent reads and summarises notes,
commits them with git, is denied a read of a secrets file and adapts to the reason, has a push
escalated (answered automatically here, and shown as such), and the audit trail is printed and
verified at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

DEMO_MODEL = "openai:scripted-demo"  # served by ScriptedLLM on 127.0.0.1

NOTES = {
    "notes/meeting.md": "# Planning meeting\n- Ship the policy engine first\n- Then the sandbox\n",
    "notes/todo.md": "# To do\n- write the README\n- measure start-up\n",
    ".env": "DEPLOY_TOKEN=demo-secret-that-must-stay-put\n",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep", action="store_true", help="keep the demo's temporary folder for inspection"
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="one line per step, refusals, the answer and the audit verdict (no code or trail)",
    )


def run(args: argparse.Namespace) -> int:
    import anyio

    from appliance.agent.model_worker import start_early

    start_early(DEMO_MODEL)  # the model client's process imports litellm meanwhile
    workdir = Path(tempfile.mkdtemp(prefix="ironcurtain-demo-"))
    try:
        return anyio.run(_demo, workdir, args)
    finally:
        if args.keep:
            print(f"\ndemo files kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _script(sandbox: Path, remote: Path) -> list:
    from appliance.agent.scripted_llm import Step

    def adapt(messages: list[dict]) -> dict:
        last = str(messages[-1].get("content", ""))
        if "DENIED" in last:
            reason = last.split("DENIED:", 1)[1].strip().splitlines()[0][:200]
            note = f"I could not read .env: the policy said: {reason}\\n"
            return {
                "code": "filesystem.write_file(path='notes/blocked.md', "
                f"content='{note.replace(chr(39), '')}')\n'noted the refusal'"
            }
        return {"text": "Reading .env was not refused; stopping here."}

    def report(messages: list[dict]) -> dict:
        last = str(messages[-1].get("content", ""))
        pushed = "error" not in last.lower() and "denied" not in last.lower()
        ending = "pushed after your approval" if pushed else f"could not push: {last[:200]}"
        return {
            "text": "Done: I summarised the notes into summary.md, committed them, noted that "
            f".env is off limits (notes/blocked.md), and {ending}."
        }

    steps: list[Step] = [
        {
            "code": "listing = filesystem.list_directory(path='notes')\n"
            "print(listing)\n"
            "texts = {name: filesystem.read_text_file(path='notes/' + name)\n"
            "         for name in ('meeting.md', 'todo.md')}\n"
            "print({k: len(v) for k, v in texts.items()})"
        },
        {
            "code": "summary = '# Summary\\n' + '\\n'.join(\n"
            "    line for name in ('meeting.md', 'todo.md')\n"
            "    for line in filesystem.read_text_file(path='notes/' + name).splitlines()\n"
            "    if line.startswith('- '))\n"
            "filesystem.write_file(path='summary.md', content=summary + '\\n')\n"
            f"git.git_init(path={str(sandbox)!r}, initialBranch='main')\n"
            f"git.git_add(path={str(sandbox)!r}, files=['summary.md', 'notes'])\n"
            f"git.git_commit(path={str(sandbox)!r}, message='Add notes and a summary')"
        },
        {
            "code": "try:\n"
            "    print(filesystem.read_text_file(path='.env'))\n"
            "except ToolError as denied:\n"
            "    print(denied)"
        },
        adapt,
        {
            "code": f"git.git_remote(path={str(sandbox)!r}, mode='add', name='origin', "
            f"url={str(remote)!r})\n"
            f"git.git_push(path={str(sandbox)!r}, remote='origin', branch='main')"
        },
        report,
    ]
    return steps


class DemoApprover:
    """Answers escalations in the demo, loudly, so the user sees where a human would decide."""

    def __init__(self, out) -> None:
        self.out = out

    async def ask(self, request):
        from appliance.chokepoint.escalation.models import Verdict

        print(
            f"\n[escalation] {request.server}.{request.tool} {request.arguments}\n"
            f"             reason: {request.reason}\n"
            "             demo: answered 'approve' automatically (a human decides this in a real "
            "session: /approve, /deny, or `ironcurtain escalation-listener`)\n",
            file=self.out,
            flush=True,
        )
        return Verdict(approved=True, by="demo")


def _bare_repository(folder: Path) -> None:
    """An empty bare repository whose HEAD is ``main``: the files ``git init --bare`` writes that
    git needs, written here so the host starts no process (only named runners do)."""
    for sub in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
        (folder / sub).mkdir(parents=True)
    (folder / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "config").write_text(
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
    )


async def _demo(workdir: Path, args: argparse.Namespace) -> int:
    from appliance.agent.code_session import Terminal, run_code_session
    from appliance.agent.scripted_llm import ScriptedLLM
    from appliance.chokepoint.audit import verify_file
    from appliance.cli.main import main as cli_main
    from appliance.config.model_settings import ModelSettings
    from appliance.config.paths import AppPaths, app_paths
    from appliance.config.settings import Config
    from appliance.session.core import SessionOptions

    sandbox = workdir / "sandbox"
    # The git server works inside the sandbox only, so the stand-in "remote" lives there too.
    remote = sandbox / "remote.git"
    for name, text in NOTES.items():
        (sandbox / name).parent.mkdir(parents=True, exist_ok=True)
        (sandbox / name).write_text(text)
    _bare_repository(remote)
    paths = AppPaths(home=workdir / "home", cache=app_paths().cache)
    terminal = Terminal(verbose=not args.quiet)
    options = SessionOptions(
        task="demo", sandbox=sandbox, interactive_channel=DemoApprover(sys.stdout), mode="demo"
    )
    with ScriptedLLM(_script(sandbox, remote)) as llm:
        model = ModelSettings(DEMO_MODEL, api_key="sk-demo-no-power", api_base=llm.openai_base)
        outcome = await run_code_session(
            Config(),
            paths,
            options,
            model=model,
            terminal=terminal,
            first_message="Summarise my notes into summary.md, commit them, and push to origin.",
        )
    session = outcome.session
    if not args.quiet:
        print("\n== audit trail", flush=True)
        cli_main(["audit", "show", str(session.audit_path), "--key", str(paths.audit_key)])
    else:
        cli_main(["audit", "verify", str(session.audit_path), "--key", str(paths.audit_key)])
    from appliance.cli.audit_cmd import trusted_keys

    result = verify_file(session.audit_path, trusted_keys([paths.audit_key]))
    closed = result.status == "closed"
    verdict = "intact, closed and signed" if closed else str(result.status).upper()
    print(f"\n== audit verify: {verdict} ({result.entries} records)")
    return 0 if closed else 1
