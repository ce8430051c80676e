"""How soon ``ironcurtain start`` answers: ``python tests/bench/bench_start.py [--binary B]``.

Runs an interactive ``start`` on a pseudo-terminal (as a user's shell does) against a scripted
model on loopback, and times, from the spawn: the first byte on the terminal, and the ``> ``
prompt. Figures:

- first visible output, cold: a fresh ``IRONCURTAIN_HOME`` and an empty compiled-sandbox cache
  (the sandbox compiles on this run); target ≤ 0.2 s.
- start to first prompt, warm: the same home and cache again, medians of ``--runs``; target
  ≤ 0.5 s. The prompt comes before the session is open (servers, sandbox and litellm load while
  the user types), so a third figure, with no target, says when the session really answers:
- first message answered, warm: a message typed the moment the prompt shows, to the scripted
  model's answer on the screen.

Without ``--binary`` the source checkout's CLI is timed (``python -m appliance.cli``). Prints one
line per figure (``figures.figure``: name, figure, target, met), which ``run_all.py`` collects.
On a loaded machine wall time includes waiting for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import figure  # noqa: E402 - after the path set-up

from appliance.agent.scripted_llm import ScriptedLLM  # noqa: E402

TARGET_FIRST_OUTPUT_S = 0.2
TARGET_PROMPT_S = 0.5


def time_start(
    command: list[str], env: dict[str, str], timeout: float = 120
) -> tuple[float, float]:
    """(seconds to the first byte, seconds to the ``> `` prompt) of one interactive start."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the CLI on the terminal pty.fork made
        os.chdir(REPO)
        os.execvpe(command[0], command, env)
    started = time.perf_counter()
    first = prompt = answered = None
    seen = b""
    try:
        while answered is None and time.perf_counter() - started < timeout:
            ready, _, _ = select.select([fd], [], [], 0.01)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            now = time.perf_counter() - started
            first = now if first is None else first
            seen += chunk
            if prompt is None and (b"\n> " in seen or seen.startswith(b"> ")):
                prompt = now
                os.write(fd, b"hello\n")
            if prompt is not None and b"agent: " in seen:
                answered = now
    finally:
        os.write(fd, b"/quit\n")
        _reap(pid)
        os.close(fd)
    if first is None or prompt is None or answered is None:
        raise RuntimeError(f"no answer within {timeout} s; the terminal showed {seen[-800:]!r}")
    return first, prompt, answered


def _reap(pid: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _environment(home: Path, cache: Path, llm: ScriptedLLM) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    config = {"agentModelId": "openai:scripted", "openaiApiKey": "sk-bench-no-power"}
    config["openaiBaseUrl"] = llm.openai_base
    (home / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TERM", "PYTHONPATH")}
    env |= {"HOME": str(home.parent), "IRONCURTAIN_HOME": str(home)}
    env |= {"IRONCURTAIN_CACHE": str(cache), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return env


def report(name: str, value: float, target: float) -> bool:
    figure(name, value, "s", target=target)  # a line to read, and one for run_all.py's table
    return value <= target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", type=Path, help="a built ironcurtain (default: the checkout)")
    parser.add_argument("--runs", type=int, default=5, help="warm runs (median), default 5")
    args = parser.parse_args(argv)
    command = [str(args.binary)] if args.binary else [sys.executable, "-m", "appliance.cli"]
    command.append("start")
    with tempfile.TemporaryDirectory(prefix="ic-bench-start-") as tmp, ScriptedLLM([]) as llm:
        env = _environment(Path(tmp) / "home", Path(tmp) / "cache", llm)
        cold_first, cold_prompt, cold_answer = time_start(command, env)
        warm = [time_start(command, env) for _ in range(args.runs)]
    warm_first, warm_prompt, warm_answer = (statistics.median(w[i] for w in warm) for i in range(3))
    print(f"command: {' '.join(command)}")
    print(
        f"cold: first output {cold_first:.3f} s, prompt {cold_prompt:.3f} s, "
        f"first answer {cold_answer:.3f} s (the sandbox compiled)"
    )
    print(
        f"warm (median of {args.runs}): first output {warm_first:.3f} s, "
        f"prompt {warm_prompt:.3f} s, first answer {warm_answer:.3f} s"
    )
    ok = report("first visible output, cold", cold_first, TARGET_FIRST_OUTPUT_S)
    ok &= report("start to first prompt, warm", warm_prompt, TARGET_PROMPT_S)
    figure("first message answered, warm", warm_answer, "s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
