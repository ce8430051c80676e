"""The git server's stand-in for /bin/sh: the far side of a local transport runs, nothing else
(vectors: tests/vectors/git/far_side_shell.json)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from servers.git.far_side import Refused, main, parse

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "git" / "far_side_shell.json").read_text()
)["cases"]


def _real(command: str) -> str:
    git, prlimit = shutil.which("git"), shutil.which("prlimit")
    assert git and prlimit
    return command.replace("/usr/bin/git", git).replace("/usr/bin/prlimit", prlimit)


@pytest.mark.parametrize("case", VECTORS, ids=[c["description"] for c in VECTORS])
def test_far_side_vectors(case: dict) -> None:
    command = _real(case["command"])
    if case["expect"] == "refuse":
        with pytest.raises(Refused):
            parse(command)
        return
    argv = parse(command)
    assert argv[-2:] == case["argv_tail"]
    assert Path(argv[0]).is_absolute()
    assert Path(argv[0]).name in ("git", "prlimit")


def test_anything_but_dash_c_exits_126(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["/tmp/script.sh"]) == 126
    assert main(["-c", "id; true"]) == 126
    assert "runs no shell" in capsys.readouterr().err
