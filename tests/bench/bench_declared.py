"""Declared servers: what the chokepoint adds for a server the user declared, beside a shipped
one, and how long ``servers add`` takes to reach the first allowed call.

1. One session whose policy is the shipped one plus the declared messaging server's annotations,
   roles and rules (tests/vectors/declared/policy: a ``recipient`` identifier on a list, links in
   the body judged by ``text-urls``). Pairs of (direct call, gated call), alternating, to the
   shipped filesystem server (read_text_file) and to the declared server (send_message, a real
   MCP SDK server), each side over its own direct stdio client too, so a pair sees one machine
   state. Overhead = gated minus direct, per pair. Targets: each median <= 0.35 ms (issue 18's
   chokepoint target), p99 <= 1 ms, and the two medians within 0.1 ms of each other (a declared
   server costs what a shipped one costs).
2. ``ironcurtain servers add messaging -- python messaging_server.py`` then ``ironcurtain exec``
   of a snippet calling ``messaging.send_message`` (two CLI processes, as a user types them; the
   annotations are in the policy folder already, as ``servers annotate`` leaves them), minus the
   declared server's own start (spawn, initialize, tools/list, timed directly). Target <= 2 s.

    uv run python tests/bench/bench_declared.py [--calls 500]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from figures import figure, load_average  # noqa: E402 - after the path set-up
from stdio_bench import serve_argv  # noqa: E402

SERVER = ROOT / "tests" / "declared" / "messaging_server.py"
DECLARED = ROOT / "tests" / "vectors" / "declared" / "policy"
SEND = {"recipient": "alice@example.org", "body": "see https://example.org/notes"}


def merged_policy(folder: Path) -> Path:
    """The shipped policy with the declared messaging server's roles, tools, rules and lists."""
    from policy.loader import default_policy_dir

    def read(base: Path, name: str) -> dict:
        return json.loads((base / name).read_text()) if (base / name).exists() else {}

    shipped = default_policy_dir()
    folder.mkdir(parents=True, exist_ok=True)
    ours, theirs = read(shipped, "tool-annotations.json"), read(DECLARED, "tool-annotations.json")
    annotations = {"roles": theirs["roles"], "servers": {**ours["servers"], **theirs["servers"]}}
    rules = read(DECLARED, "compiled-policy.json")["rules"]
    compiled = {"rules": [*rules, *read(shipped, "compiled-policy.json")["rules"]]}
    lists = {**read(shipped, "dynamic-lists.json").get("lists", {}),
             **read(DECLARED, "dynamic-lists.json")["lists"]}  # fmt: skip
    for name, data in (("tool-annotations.json", annotations),
                       ("compiled-policy.json", compiled),
                       ("dynamic-lists.json", {"lists": lists})):  # fmt: skip
        (folder / name).write_text(json.dumps(data))
    return folder


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def side_by_side(tmp: Path, calls: int) -> tuple[list[float], list[float]]:
    from appliance.chokepoint.server_pool import ServerSpec
    from appliance.config.paths import AppPaths
    from appliance.config.settings import Config
    from appliance.session.core import SessionOptions, open_session, server_specs
    from servers.wire.client import StdioClient

    sandbox = tmp / "sandbox"
    sandbox.mkdir()
    for i in range(calls):
        (sandbox / f"f{i}.txt").write_text(f"file {i}\n")
    paths = AppPaths(home=tmp / "home", cache=tmp / "home" / "cache")
    options = SessionOptions(task="bench", sandbox=sandbox, policy_dir=merged_policy(tmp / "p"))
    messaging = ServerSpec("messaging", argv=(sys.executable, str(SERVER)))
    specs = [*server_specs(Config(), sandbox), messaging]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shipped: list[float] = []
    declared: list[float] = []
    async with (
        StdioClient(serve_argv("filesystem", str(sandbox)), env=env, cwd=str(ROOT)) as fs,
        StdioClient([sys.executable, str(SERVER)], env=env) as msg,
        open_session(Config(), paths, options, specs=specs) as session,
    ):
        for client in (fs, msg):
            await client.initialize()
        for name in ("filesystem", "messaging"):
            await session.servers.tools(name)
        for i in range(calls):
            # distinct arguments per call: the circuit breaker never sees a repeat
            send = {**SEND, "body": f"{SEND['body']}/{i}"}
            read = {"path": str(sandbox / f"f{i}.txt")}
            for client, server, tool, arguments, out in (
                (fs, "filesystem", "read_text_file", read, shipped),
                (msg, "messaging", "send_message", send, declared),
            ):
                start = time.perf_counter()
                await client.call_tool(tool, arguments)
                middle = time.perf_counter()
                outcome = await session.chokepoint.call(server, tool, arguments)
                out.append((time.perf_counter() - middle) - (middle - start))
                if not outcome.ok:
                    raise SystemExit(f"unexpected refusal: {outcome.text}")
    return shipped, declared


async def server_start(runs: int = 5) -> float:
    """The declared server's own start, as the pool does it: spawn, initialize, tools/list."""
    from servers.wire.client import StdioClient

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        async with StdioClient([sys.executable, str(SERVER)], env=dict(os.environ)) as client:
            await client.initialize()
            await client.list_tools()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def add_to_first_call(tmp: Path) -> float:
    """Two CLI processes, as typed: ``servers add`` then ``exec`` of a one-call snippet."""
    home = tmp / "ichome"
    merged_policy(home / "generated")  # `servers annotate` already done
    # An installation's cache holds the compiled sandbox module already (its first `exec` or
    # `doctor` compiled it, ~10 s once): warm this one, untimed, so the figure is the usual case.
    env = {**os.environ, "IRONCURTAIN_HOME": str(home), "IRONCURTAIN_CACHE": str(tmp / "cache"),
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    cli = [sys.executable, "-m", "appliance.cli"]
    warm, first = tmp / "warm.py", tmp / "first.py"
    warm.write_text("print(1)\n")
    first.write_text(f"print(messaging.send_message(**{SEND!r}))\n")
    _run([*cli, "exec", str(warm), "--sandbox", str(tmp / "sb")], env)
    start = time.perf_counter()
    _run([*cli, "servers", "add", "messaging", "--", sys.executable, str(SERVER)], env)
    added = time.perf_counter()
    out = _run([*cli, "exec", str(first), "--sandbox", str(tmp / "sb")], env)
    end = time.perf_counter()
    if "sent to alice@example.org" not in out:
        raise SystemExit(f"the first call was not allowed: {out[-400:]}")
    print(f"servers add: {added - start:.2f} s; exec until the call returned: {end - added:.2f} s")
    return end - start


def _run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[3:5])} failed: {done.stderr[-400:]}{done.stdout}")
    return done.stdout


async def main(calls: int) -> None:
    print(f"load average {load_average()} (before)")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        shipped, declared = await side_by_side(tmp, calls)
        s50, d50 = statistics.median(shipped) * 1e3, statistics.median(declared) * 1e3
        print(f"pairs per server: {calls} (filesystem read_text_file; messaging send_message)")
        figure("chokepoint overhead, shipped filesystem server, median", s50, "ms", target=0.35)
        figure("chokepoint overhead, declared messaging server, median", d50, "ms", target=0.35)
        figure("chokepoint overhead, shipped server, p99", _pct(shipped, 0.99) * 1e3, "ms", 1.0)
        figure("chokepoint overhead, declared server, p99", _pct(declared, 0.99) * 1e3, "ms", 1.0)
        apart = abs(d50 - s50)  # either may be the cheaper one
        figure("declared and shipped overheads apart (|difference|), medians", apart, "ms", 0.1)
        own = await server_start()
        total = await anyio.to_thread.run_sync(add_to_first_call, tmp)
        print(f"declared server's own start (spawn, initialize, tools/list): {own * 1e3:.0f} ms")
        print(f"servers add + exec (two processes) until the allowed call: {total:.2f} s")
        figure("servers add -> first allowed call, minus the server's start", total - own, "s", 2.0)
    print(f"load average {load_average()} (after)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    anyio.run(main, parser.parse_args().calls)
