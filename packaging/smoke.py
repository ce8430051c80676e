"""Smoke test of a frozen appliance: ``python packaging/smoke.py BINARY [BINARY ...]``.

Each binary runs with an emptied environment (a temporary HOME and IRONCURTAIN_HOME, a PATH with
every system tool except Python), and, where the machine allows it, in a new network namespace with
only loopback up: the frozen app must need neither a Python nor the internet. Checked, in order:
``--version``; ``policy check`` of a protected path (denied by the shipped policy); ``exec`` of a
snippet that writes and reads a file through the filesystem tool; ``serve filesystem`` answering
``tools/list`` to raw JSON-RPC on stdin; ``demo`` end to end (scripted model on 127.0.0.1, real
sandbox, servers, git and audit); then ``start TASK`` through each provider route litellm takes —
Anthropic, OpenAI, Google (Gemini) — each against a scripted server of that API's shape on
loopback, reached through the provider's base-URL setting (``anthropicBaseUrl``, …). The scripted
server runs in a helper (this file, ``--route``) inside the same network namespace as the binary,
so loopback is shared and nothing else is reachable. Exit status 0 when every check passed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["SmokeFailure", "clean_environment", "main", "python_free_path"]

REPO = Path(__file__).resolve().parents[1]
_SYSTEM_BIN = ("/usr/local/bin", "/usr/bin", "/bin")
# provider -> (model id, key variable, base-URL setting, ScriptedLLM attribute, litellm's route)
ROUTES = {
    "anthropic": ("anthropic:claude-sonnet-4-6", "ANTHROPIC_API_KEY", "anthropicBaseUrl",
                  "anthropic_base", "anthropic"),
    "openai": ("openai:gpt-5", "OPENAI_API_KEY", "openaiBaseUrl", "openai_base", "openai"),
    "google": ("google:gemini-2.5-flash", "GOOGLE_GENERATIVE_AI_API_KEY", "googleBaseUrl",
               "google_base", "gemini"),
}  # fmt: skip
_NETNS = ("unshare", "--net", "--")
_LO_UP = '/usr/sbin/ip link set lo up && exec "$0" "$@"'


class SmokeFailure(AssertionError):
    """A check failed; the message says which one, with the command's output."""


def python_free_path(target: Path, sources: tuple[str, ...] = _SYSTEM_BIN) -> str:
    """A folder of links to every system executable except Python; returns it as PATH."""
    target.mkdir(parents=True, exist_ok=True)
    for folder in sources:
        for entry in sorted(Path(folder).glob("*")) if Path(folder).is_dir() else []:
            link = target / entry.name
            if entry.name.startswith(("python", "pip", "pydoc")) or link.exists():
                continue
            link.symlink_to(entry)
    return str(target)


def clean_environment(root: Path) -> dict[str, str]:
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": python_free_path(root / "bin"),
        "HOME": str(home),
        "IRONCURTAIN_HOME": str(root / "ic-home"),
        "LANG": "C.UTF-8",
        "TMPDIR": str(root / "tmp"),
    }
    (root / "tmp").mkdir(exist_ok=True)
    if shutil.which("python3", path=env["PATH"]) or shutil.which("python", path=env["PATH"]):
        raise SmokeFailure(f"a Python is still reachable on PATH={env['PATH']}")
    return env


def _isolation() -> tuple[str, ...]:
    """Run in a fresh network namespace (loopback only) when unshare is permitted here."""
    probe = [*_NETNS, "/bin/sh", "-c", "/usr/sbin/ip link set lo up"]
    try:
        ok = subprocess.run(probe, capture_output=True, check=False, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return (*_NETNS, "/bin/sh", "-c", _LO_UP) if ok else ()


class Runner:
    def __init__(self, binary: Path, env: dict[str, str], isolation: tuple[str, ...]) -> None:
        self.binary, self.env, self.isolation = binary, env, isolation

    def run(self, *args: str, stdin: str | None = None, timeout: float = 240) -> str:
        command = [*self.isolation, str(self.binary), *args]
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if done.returncode != 0:
            raise SmokeFailure(
                f"`ironcurtain {' '.join(args)}` exited {done.returncode}\n"
                f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-3000:]}"
            )
        return done.stdout


def check_version(runner: Runner, root: Path) -> str:
    out = runner.run("--version")
    if not out.startswith("ironcurtain "):
        raise SmokeFailure(f"--version printed {out!r}")
    return out.strip()


def check_policy(runner: Runner, root: Path) -> str:
    config = Path(runner.env["IRONCURTAIN_HOME"]) / "config.json"
    call = json.dumps({"path": str(config)})
    out = json.loads(runner.run("policy", "check", "filesystem", "read_text_file", call))
    if out.get("decision") != "deny" or out.get("rule") != "structural-protected-path":
        raise SmokeFailure(f"reading the appliance's own config was not denied: {out}")
    return f"{out['decision']} by {out['rule']}"


def check_exec(runner: Runner, root: Path) -> str:
    sandbox = root / "sandbox"
    sandbox.mkdir()
    snippet = root / "snippet.py"
    snippet.write_text(
        "filesystem.write_file(path='hello.txt', content='hello from the sandbox')\n"
        "print(filesystem.read_text_file(path='hello.txt'))\n"
    )
    out = json.loads(runner.run("exec", str(snippet), "--sandbox", str(sandbox)))
    if "hello from the sandbox" not in out.get("stdout", "") or out.get("tool_calls") != 2:
        raise SmokeFailure(f"exec did not write and read through the tool: {out}")
    if (sandbox / "hello.txt").read_text() != "hello from the sandbox":
        raise SmokeFailure("exec reported success but the file is not in the sandbox")
    return f"{out['tool_calls']} tool calls, {out.get('duration_s', 0):.2f} s"


def check_serve(runner: Runner, root: Path) -> str:
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "smoke", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]  # fmt: skip
    stdin = "".join(json.dumps(m) + "\n" for m in messages)
    out = runner.run("serve", "filesystem", str(root), stdin=stdin, timeout=60)
    replies = {r.get("id"): r for r in map(json.loads, out.splitlines()) if r.get("id")}
    tools = [t["name"] for t in replies.get(2, {}).get("result", {}).get("tools", [])]
    if "read_text_file" not in tools or len(tools) != 14:
        raise SmokeFailure(f"tools/list answered {tools or out[-1000:]!r}")
    return f"{len(tools)} tools"


def check_demo(runner: Runner, root: Path) -> str:
    out = runner.run("demo", "--quiet", timeout=300)
    if "audit verify: intact, closed and signed" not in out:
        raise SmokeFailure(f"demo ended without a verified audit log:\n{out[-2000:]}")
    # The scripted model's last answer: every step ran (a model client that fails still ends
    # the session with a verified log, so the log alone proves nothing about the model path).
    if "Done: I summarised the notes" not in out or "model error" in out:
        raise SmokeFailure(f"demo did not reach the model's final answer:\n{out[-2000:]}")
    return "audit verified, final answer shown"


def check_job(runner: Runner, root: Path) -> str:
    """A scheduled job added and listed: the cron reader (cronsim) is in the build."""
    runner.run("job", "add", "smoke", "--schedule", "0 7 * * 1-5", "--task", "say hello")
    listed = json.loads(runner.run("job", "list", "--json"))["jobs"]
    if [(j["name"], j["schedule"]) for j in listed] != [("smoke", "0 7 * * 1-5")]:
        raise SmokeFailure(f"job list printed {listed!r}")
    return f"next run {listed[0]['nextRun']}"


def check_route(provider: str) -> Callable[[Runner, Path], str]:
    """``start TASK`` through ``provider``'s route: the helper serves the scripted API inside the
    binary's network namespace and checks what the session did."""

    def check(runner: Runner, root: Path) -> str:
        plan = root / "plan.json"
        plan.write_text(json.dumps({"binary": str(runner.binary), "env": runner.env}))
        helper = [*runner.isolation, sys.executable, str(Path(__file__).resolve())]
        done = subprocess.run(
            [*helper, "--route", provider, str(plan)],
            capture_output=True,
            text=True,
            timeout=300,
            env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
        )
        if done.returncode != 0:
            raise SmokeFailure(f"{provider} route:\n{done.stdout[-2500:]}{done.stderr[-2500:]}")
        return done.stdout.strip().splitlines()[-1]

    return check


def run_route(provider: str, plan_file: Path) -> int:
    """The helper's side of :func:`check_route` (run as ``smoke.py --route PROVIDER PLAN``)."""
    sys.path.insert(0, str(REPO))
    from appliance.agent.scripted_llm import ScriptedLLM

    plan = json.loads(plan_file.read_text())
    model_id, key_var, setting, attribute, route = ROUTES[provider]
    root = plan_file.parent
    sandbox = root / "sandbox"
    sandbox.mkdir()
    steps = [
        {"code": f"filesystem.write_file(path='route.txt', content='written via {provider}')"},
        {"text": f"done via {provider}"},
    ]
    # On the first route the task planner (taskPlan) reads the message first, through the same
    # provider: its litellm call and the plan check run in the frozen build too.
    planned = provider == next(iter(ROUTES))
    if planned:
        answer = {"steps": [{"tool": "filesystem/write_file", "quote": "write route.txt"}]}
        steps.insert(0, {"text": json.dumps(answer)})
    env = {**plan["env"], key_var: "smoke-key-with-no-power-0123"}
    with ScriptedLLM(steps) as llm:
        home = Path(env["IRONCURTAIN_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        config = {"agentModelId": model_id, setting: getattr(llm, attribute)}
        if planned:
            config["taskPlan"] = {"enabled": True, "modelId": model_id}
        (home / "config.json").write_text(json.dumps(config))
        command = [plan["binary"], "start", "write route.txt", "--sandbox", str(sandbox)]
        # Run from a project folder holding a `.env` an agent could have written: the frozen
        # binary must not load it (it names a proxy where nothing listens, so a binary that
        # loaded it could not reach the model and the route would fail).
        project = root / "project"
        project.mkdir()
        trap = "http://127.0.0.1:9"
        (project / ".env").write_text(f"HTTP_PROXY={trap}\nHTTPS_PROXY={trap}\nhttp_proxy={trap}\n")
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            timeout=240,
            stdin=subprocess.DEVNULL,
            cwd=project,
        )
        routes = list(llm.routes)
    problems = []
    if done.returncode != 0:
        problems.append(f"`ironcurtain start` exited {done.returncode}")
    if f"done via {provider}" not in done.stdout:
        problems.append("the model's final answer was not shown")
    target = sandbox / "route.txt"
    if not target.is_file() or target.read_text() != f"written via {provider}":
        problems.append("the tool call did not write route.txt in the sandbox")
    if routes != [route] * len(steps):
        problems.append(f"expected {len(steps)} {route} requests, the scripted server saw {routes}")
    if planned and "task plan: no step" not in done.stdout + done.stderr:
        # the shipped filesystem tools have no askedBy: the step is refused, and said so
        problems.append("the task plan was not shown")
    if "Traceback" in done.stderr:
        problems.append("a traceback reached the user")
    if problems:
        print("; ".join(problems))
        print(f"stdout: {done.stdout[-1500:]}\nstderr: {done.stderr[-2500:]}")
        return 1
    also = " (the first a task plan)" if planned else ""
    print(f"{model_id}: {len(steps)} {route} requests{also}, tool call written")
    return 0


CHECKS: tuple[tuple[str, Callable[[Runner, Path], str]], ...] = (
    ("--version", check_version),
    ("policy check", check_policy),
    ("exec", check_exec),
    ("serve filesystem", check_serve),
    ("demo", check_demo),
    ("job add and list", check_job),
    *((f"start via {provider}", check_route(provider)) for provider in ROUTES),
)


def smoke(binary: Path) -> list[str]:
    """Run every check against ``binary``; return the failures (empty: all passed)."""
    failures = []
    isolation = _isolation()
    print(f"{binary}: network {'namespace, loopback only' if isolation else 'NOT isolated'}")
    with tempfile.TemporaryDirectory(prefix="ic-smoke-") as tmp:
        root = Path(tmp)
        runner = Runner(binary.absolute(), clean_environment(root), isolation)
        for name, check in CHECKS:
            folder = root / name.replace(" ", "-").strip("-")
            folder.mkdir()
            started = time.monotonic()
            try:
                detail = check(runner, folder)
            except (SmokeFailure, subprocess.TimeoutExpired, ValueError) as exc:
                failures.append(f"{name}: {exc}")
                print(f"  FAIL {name}: {exc}")
                continue
            print(f"  ok   {name:20} {time.monotonic() - started:6.2f} s  {detail}")
    return failures


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--route"] and len(args) == 3:
        return run_route(args[1], Path(args[2]))
    binaries = [Path(a) for a in args]
    if not binaries:
        print("usage: python packaging/smoke.py BINARY [BINARY ...]", file=sys.stderr)
        return 2
    failed = False
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            print(f"{binary}: not an executable file", file=sys.stderr)
            return 2
        failed |= bool(smoke(binary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
