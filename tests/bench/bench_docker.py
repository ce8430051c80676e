"""Docker mode: container start to agent ready, with the image already built (target <= 2 s for
the container, <= 1 s for Claude Code and for Codex).

    python tests/bench/bench_docker.py [--runs N]

"Ready" for the TEST image: the entry wrapper has the proxy relay listening and the agent
command has printed its first line. For the Claude Code image (measured only if it is built):
the same, with the agent being `claude --version` and `claude --help` (Claude Code's native
executable has loaded; `--help` builds its whole command table), and `npm --version` with and
without the compile cache warmed at image build (Node's own start, for the agent's work).
Every container is created with the full lockdown of `ContainerSpec`. Prints medians, not
asserted anywhere.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from appliance.credproxy.ca import ensure_ca
from appliance.docker.adapters import AgentLaunch, base_env, entry_command
from appliance.docker.agent_image import CLAUDE_CODE_RECIPE, codex_recipe
from appliance.docker.container import (
    ContainerSpec,
    RuntimeDir,
    create_container,
    docker_client,
    remove_container,
)
from appliance.docker.image import ensure_test_image, image_exists
from appliance.docker.lifeline import Lifeline


def start_to_ready(
    client, image: str, agent: list[str], marker: str, workspace: Path, ca_cert: Path
) -> float:
    """Seconds from `create` to the agent printing `marker`, with the runtime folder written as
    a session writes it (MCP config, the proxy's CA certificate)."""
    # The lifeline too: without the host's end of it the container's watchdog ends the agent.
    with RuntimeDir() as runtime, Lifeline(runtime.path):
        launch = AgentLaunch(entry_command(agent), base_env())
        runtime.write_files(launch, ca_cert)
        RuntimeDir.lend_path(runtime.path)  # as a session does: a root host runs the agent as 65532
        spec = ContainerSpec(image, launch, workspace, runtime.path, f"bench-{time.time_ns()}")
        started = time.perf_counter()
        container = create_container(client, spec)
        try:
            container.start()
            seen = ""
            for chunk in container.logs(stream=True, follow=True):
                seen += chunk.decode(errors="replace")
                if marker in seen:
                    return time.perf_counter() - started
            raise RuntimeError(f"{image}: the agent never printed {marker!r}: {seen[-500:]}")
        finally:
            remove_container(container)


def measure(
    client, label: str, image: str, agent: list[str], marker: str, runs: int, target: float = 2
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        workspace, ca = Path(scratch), ensure_ca(Path(scratch) / "ca").cert_pem
        start_to_ready(client, image, agent, marker, workspace, ca)  # warm the engine's caches
        times = [start_to_ready(client, image, agent, marker, workspace, ca) for _ in range(runs)]
    print(f"{label:<44} median {statistics.median(times):6.3f} s   "
          f"min {min(times):6.3f}   max {max(times):6.3f}   (n={runs})")  # fmt: skip
    from figures import figure

    figure(f"docker start to ready, {label}", statistics.median(times), "s", target)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    client = docker_client()
    started = time.perf_counter()
    test_image = ensure_test_image(client)
    how = "built" if test_image.built else "found"
    print(f"test image {test_image.tag}: {how} in {time.perf_counter() - started:.2f} s")
    measure(client, "test image: start -> agent ready", test_image.tag,
            ["/bin/sh", "-c", "echo ready"], "ready", runs)  # fmt: skip
    claude = CLAUDE_CODE_RECIPE.tag()
    if image_exists(client, claude):
        measure(client, "claude-code image: start -> claude --version", claude,
                ["claude", "--version"], "(Claude Code)", runs, target=1)  # fmt: skip
        measure(client, "claude-code image: start -> claude --help", claude,
                ["claude", "--help"], "Usage: claude", runs, target=1)  # fmt: skip
        npm = 'echo "npm-$(npm --version)"'
        measure(client, "claude-code image: start -> npm, warm cache", claude,
                ["/bin/sh", "-c", npm], "npm-1", runs, target=1)  # fmt: skip
        measure(client, "claude-code image: start -> npm, no cache", claude,
                ["/bin/sh", "-c", f"unset NODE_COMPILE_CACHE; {npm}"], "npm-1", runs,
                target=None)  # fmt: skip
    else:
        print(f"claude-code image {claude} not built: skipped (ironcurtain start --agent "
              "claude-code builds it)")  # fmt: skip
    codex = codex_recipe().tag()
    if image_exists(client, codex):
        measure(client, "codex image: start -> codex --version", codex,
                ["codex", "--version"], "codex-cli", runs, target=1)  # fmt: skip
    else:
        print(f"codex image {codex} not built: skipped (ironcurtain start --agent codex builds it)")


if __name__ == "__main__":
    main()
