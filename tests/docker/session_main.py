"""A Docker-mode session in its own process, so tests can SIGTERM or SIGKILL it.

Usage: python -m tests.docker.session_main IMAGE SESSION_ID SANDBOX SCRIPT [pty] [sweeps]
Prints the agent's output (with `pty`, the agent owns this process's terminal instead), then
`exit=<code>`; the process exits with the session's code. `sweeps`: the git guard sweeps only,
without its watch (so git metadata can still be there when a test kills the session).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import anyio

from tests.docker.docker_helpers import run_script


def main() -> int:
    image, session_id, sandbox, script = sys.argv[1:5]
    pty = "pty" in sys.argv[5:]
    if "sweeps" in sys.argv[5:]:
        from appliance.docker import run

        run.GitWatch = functools.partial(run.GitWatch, events=False)  # type: ignore[misc]
    code, output = anyio.run(lambda: run_script(image, script, Path(sandbox), session_id, pty=pty))
    print(output, end="")
    print(f"exit={code}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
