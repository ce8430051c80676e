"""`ironcurtain completion`: scripts generated from the CLI, exercised in the real shells."""

from __future__ import annotations

import argparse
import shutil
import subprocess

import pytest

from appliance.cli import completion
from appliance.cli import main as cli
from appliance.cli.completion import Node, command_tree, script_for


@pytest.fixture(scope="module")
def tree() -> Node:
    return command_tree()


@pytest.fixture(scope="module")
def bash_script(tree: Node) -> str:
    return script_for("bash", tree)


def bash_complete(script: str, line: str, path: str = "/usr/bin:/bin", cwd=None) -> list[str]:
    program = (
        f"{script}\n"
        'read -ra COMP_WORDS <<<"$LINE"; [[ "$LINE" == *" " ]] && COMP_WORDS+=("")\n'
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _ironcurtain; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", program],
        env={"LINE": line, "PATH": path},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [w for w in done.stdout.splitlines() if w]


def test_the_tree_has_every_available_command(tree):
    available = {n for n, (m, _) in cli.COMMANDS.items() if importlib_spec(m)}
    assert set(tree.children) == available
    assert {"show", "get", "set", "unset"} <= set(tree.children["config"][1].children)
    assert tree.children["config"][0] == cli.COMMANDS["config"][1]
    assert "--older-than" in tree.children["sessions"][1].children["clean"][1].options


def importlib_spec(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_bash_completes_commands_subcommands_options_and_fields(bash_script):
    assert "config" in bash_complete(bash_script, "ironcurtain con")
    assert "setup" in bash_complete(bash_script, "ironcurtain se")
    assert bash_complete(bash_script, "ironcurtain config g") == ["get"]
    assert bash_complete(bash_script, "ironcurtain config set resourceBudget.maxS") == [
        "resourceBudget.maxSteps",
        "resourceBudget.maxSessionSeconds",
    ]
    assert "--older-than" in bash_complete(bash_script, "ironcurtain sessions clean --")
    # An option in front does not lose the command path.
    assert bash_complete(bash_script, "ironcurtain --json config un") == ["unset"]


def test_the_command_prints_the_script(capsys):
    assert completion.run(argparse.Namespace(shell="fish")) == 0
    assert "complete -c ironcurtain" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed")
def test_zsh_script_offers_described_entries(tree):
    script = script_for("zsh", tree)
    program = (
        "compdef() { :; }; _describe() { print -rl -- ${(P)4}; }\n"
        f"{script}\n"
        'words=(ironcurtain config ""); CURRENT=3; _ironcurtain\n'
    )
    done = subprocess.run(
        ["zsh", "-f", "-c", program], capture_output=True, text=True, check=True, timeout=30
    )
    assert "set:validate and store one value in config.json" in done.stdout.splitlines()
    assert "--json:print the settings as JSON" in done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish not installed")
def test_fish_script_completes(tree, tmp_path):
    script = tmp_path / "ironcurtain.fish"
    script.write_text(script_for("fish", tree))
    done = subprocess.run(
        ["fish", "--no-config", "-c", f"source {script}; complete -C 'ironcurtain sessions c'"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert done.stdout.splitlines() == ["clean\tremove old sessions (never a running one)"]


def test_option_values_complete_session_ids_agents_and_folders(bash_script, tmp_path):
    # The session ids come from `ironcurtain sessions --ids`: a stand-in prints two.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ironcurtain").write_text("#!/bin/sh\necho 20261204-100000-aaaaaa\necho 20261203-0\n")
    (fake / "ironcurtain").chmod(0o755)
    (tmp_path / "work").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    path = f"{fake}:/usr/bin:/bin"

    def complete(line: str) -> list[str]:
        return bash_complete(bash_script, line, path=path, cwd=tmp_path)

    assert complete("ironcurtain start --resume 2026120") == [
        "20261204-100000-aaaaaa",
        "20261203-0",
    ]
    assert complete("ironcurtain start --agent ") == ["builtin", "claude-code", "codex"]
    assert sorted(complete("ironcurtain start --sandbox ")) == ["bin", "work"]  # no notes.txt
    assert "20261203-0" in complete("ironcurtain audit show ")
    assert "notes.txt" in complete("ironcurtain exec no")


def test_sessions_ids_lists_newest_first(capsys):
    from appliance.cli import sessions
    from appliance.config.paths import app_paths

    for name in ("20260101-000000-aaaaaa", "20260102-000000-bbbbbb"):
        folder = app_paths().sessions / name
        folder.mkdir(parents=True)
        (folder / "session.json").write_text(f'{{"id": "{name}", "started": "{name[:8]}"}}')
    args = argparse.Namespace(action=None, json=False, ids=True)
    assert sessions.run(args) == 0
    assert capsys.readouterr().out.split() == [
        "20260102-000000-bbbbbb",
        "20260101-000000-aaaaaa",
    ]
