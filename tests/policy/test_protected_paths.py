"""Protected paths are one list (appliance.config.paths.PROTECTED_IN_HOME), documented, and
denied by the live engine whatever the rules say; the credential proxy's CA key is on it (issue 14,
F15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.config.paths import PROTECTED_IN_HOME, AppPaths

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "policy-format.md"


def _example(name: str) -> str:
    return name.replace("*", "2026-session")


@pytest.mark.parametrize("name", PROTECTED_IN_HOME)
def test_every_entry_is_documented(name: str) -> None:
    table = DOC.read_text(encoding="utf-8").split("**Protected paths**", 1)[1].split("\n\n", 3)
    text = "\n".join(table[:3])
    leaf = name.rsplit("/", 1)[-1]
    assert f"`{leaf}" in text or f"`{name}" in text, f"{name} is not in docs/policy-format.md"


RELATIVE = ["ca/mitmproxy-ca.pem", "ca/mitmproxy-ca-cert.pem", "running/x.json"] + [
    _example(name) for name in PROTECTED_IN_HOME
]


def test_policy_check_denies_each_protected_path(tmp_path: Path) -> None:
    home = tmp_path / "ichome"
    env = {**os.environ, "IRONCURTAIN_HOME": str(home), "PYTHONPATH": str(ROOT)}
    lines = []
    for relative in RELATIVE:
        target = str(home / relative)
        for tool, args in (
            ("read_text_file", {"path": target}),
            ("write_file", {"path": target, "content": "x"}),
        ):
            call = {"id": f"{tool} {relative}", "server": "filesystem", "tool": tool}
            lines.append(json.dumps({**call, "arguments": args}))
    done = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "policy", "check", "--batch", "-"],
        input="\n".join(lines), capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(lines) == 2 * len(RELATIVE)
    for result in results:
        assert (result["decision"], result["rule"]) == ("deny", "structural-protected-path"), result


def test_patterns_are_the_list_plus_the_cache(tmp_path: Path) -> None:
    paths = AppPaths(home=tmp_path / "h", cache=tmp_path / "c")
    assert paths.protected_patterns() == (
        *(str(tmp_path / "h" / name) for name in PROTECTED_IN_HOME),
        str(tmp_path / "c"),
    )
    assert str(paths.ca_dir) in paths.protected_patterns()
