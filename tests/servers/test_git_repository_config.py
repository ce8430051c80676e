"""A repository's config is data: keys outside the allowlist are refused, and nothing runs.

Vectors: ``tests/vectors/git/repository_config.json``. The server is the real one over stdio
under strace (``git_traced``), so "nothing runs" is observed, not assumed: every ``execve``
of the server and its descendants is recorded, failed attempts included. A hypothesis property
test then writes random configs (allowed and refused keys, drivers named in attributes,
subsections of any spelling) and shows the same for each.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from git_traced import TracedGitServer, foreign, git_exec_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_git_support import git, write_hooks

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "git" / "repository_config.json"
DATA = json.loads(VECTORS.read_text())
CASES = DATA["cases"]
PROBE = DATA["probe"]
BATTERY: list[tuple[str, dict[str, Any]]] = [
    ("git_status", {}),
    ("git_diff", {}),
    ("git_log", {"patch": True}),
    ("git_add", {"files": ["a.txt"]}),
    ("git_commit", {"message": "c"}),
    ("git_blame", {"filePath": "a.txt"}),
    ("git_show", {"object": "HEAD"}),
    ("git_remote", {"mode": "list"}),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("gitcfg")
    base = root / "base"
    template = root / "template"
    template.mkdir()
    base.mkdir()
    git(template, "init", "-q", "-b", "main")
    (template / "a.txt").write_text("one\n")
    git(template, "add", ".")
    git(template, "commit", "-qm", "first")
    (template / "a.txt").write_text("two\n")
    hooks = root / "hooks"
    hooks.mkdir()
    write_hooks(hooks, root / "hook-mark")
    server = TracedGitServer(root / "strace.log", "--base-dir", str(base))
    yield {"base": base, "template": template, "server": server, "hooks": hooks}
    server.close()


_COUNTER = itertools.count()


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def config_text(entries: list[list[str]]) -> str:
    """Entries as git config file text, written the way an agent would write the file."""
    lines = []
    for key, value in entries:
        section, _, rest = key.partition(".")
        sub, _, var = rest.rpartition(".")
        header = f'[{section} "{sub}"]' if sub else f"[{section}]"
        lines += [header, f"\t{var} = {_quote(value)}"]
    return "\n".join(lines) + "\n"


def _arm(world: dict[str, Any], case: dict[str, Any]) -> Path:
    repo = world["base"] / f"r{next(_COUNTER)}"
    shutil.copytree(world["template"], repo, symlinks=True)
    hooks = str(world["hooks"])
    entries = [[k, v.replace("{hooks}", hooks)] for k, v in case["config"]]
    if case["id"] == "core-worktree-outside":
        git(repo, "config", "core.bare", "true")
    with (repo / ".git" / "config").open("a") as handle:
        handle.write(config_text(entries))
    if case.get("worktree_config"):
        (repo / ".git" / "config.worktree").write_text(config_text(case["worktree_config"]))
    if case.get("attributes"):
        (repo / ".gitattributes").write_text(case["attributes"] + "\n")
    return repo


def _keys(case: dict[str, Any]) -> set[str]:
    entries = case["config"] + case.get("worktree_config", [])
    return {key.lower() for key, _ in entries}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_repository_config_vector(world: dict[str, Any], case: dict[str, Any]) -> None:
    repo = _arm(world, case)
    server: TracedGitServer = world["server"]
    before = len(server.programs())
    answers = [server.call(name, path=str(repo), **args) for name, args in BATTERY]
    started = server.programs()[before:]
    assert foreign(started, git_exec_path()) == [], f"{case['id']}: git started {started}"
    if case.get("accepted"):
        for (name, _), (is_error, text) in zip(BATTERY, answers, strict=True):
            assert not is_error, f"{name}: {text}"
        return
    for (name, _), (is_error, text) in zip(BATTERY, answers, strict=True):
        assert is_error, f"{case['id']}: {name} was not refused: {text[:300]}"
        assert "refused" in text, text
        if "control characters" not in text and "core.worktree" not in text:
            named = text.split("sets ", 1)[1].split(" (", 1)[0].strip("'").lower()
            assert named in _keys(case), f"{case['id']}: refusal names {named!r}: {text}"


# --- the property: random configs, no program but git ---------------------------------------

_PROGRAM_KEYS = [
    "core.fsmonitor", "core.sshCommand", "core.editor", "core.pager", "pager.status",
    "sequence.editor", "uploadpack.packObjectsHook", "credential.helper", "gpg.program",
    "diff.external", "core.alternateRefsCommand", "interactive.diffFilter",
]  # fmt: skip
_FILE_KEYS = [
    "blame.ignoreRevsFile", "diff.orderFile", "mailmap.file", "commit.template",
    "core.excludesFile", "http.sslCAInfo", "include.path", "trace2.normalTarget",
]  # fmt: skip
_DRIVERS = [("filter", "clean"), ("filter", "smudge"), ("filter", "process"),
            ("diff", "textconv"), ("diff", "command"), ("merge", "driver"),
            ("remote", "uploadpack"), ("credential", "helper"), ("hook", "command")]  # fmt: skip
_ALLOWED = [
    ("core.filemode", "true"), ("core.logallrefupdates", "true"), ("user.name", "A"),
    ("user.email", "a@b"), ("remote.o.url", "https://example.com/r"),
    ("branch.main.remote", "o"), ("core.autocrlf", "false"),
]  # fmt: skip
_names = st.text(alphabet="abcXYZ.=-_ 0", min_size=1, max_size=6).filter(
    lambda s: s.strip() == s and '"' not in s
)
_programs = st.sampled_from([PROBE, f"sh -c {PROBE}", f"!{PROBE}", f"{PROBE} --x; {PROBE}"])
_files = st.sampled_from(["/etc/passwd", "/dev/zero", "../../outside", "~/.gitconfig"])


@st.composite
def _configs(draw: st.DrawFn) -> dict[str, Any]:
    entries: list[list[str]] = [list(pair) for pair in draw(st.lists(st.sampled_from(_ALLOWED)))]
    bad = draw(st.integers(min_value=0, max_value=4))
    attributes = []
    for _ in range(bad):
        kind = draw(st.sampled_from(["program", "file", "driver"]))
        if kind == "program":
            entries.append([draw(st.sampled_from(_PROGRAM_KEYS)), draw(_programs)])
        elif kind == "file":
            entries.append([draw(st.sampled_from(_FILE_KEYS)), draw(_files)])
        else:
            section, var = draw(st.sampled_from(_DRIVERS))
            name = draw(_names)
            entries.append([f"{section}.{name}.{var}", draw(_programs)])
            if section in ("filter", "diff", "merge"):
                attributes.append(f"* {section}={name.replace(' ', '_')}")
    shuffled = draw(st.permutations(entries))
    return {"id": "generated", "config": list(shuffled), "attributes": "\n".join(attributes),
            "bad": bad}  # fmt: skip


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=_configs())
def test_no_random_config_starts_a_program(world: dict[str, Any], case: dict[str, Any]) -> None:
    repo = _arm(world, case)
    server: TracedGitServer = world["server"]
    before = len(server.programs())
    answers = [server.call(name, path=str(repo), **args) for name, args in BATTERY]
    started = server.programs()[before:]
    assert foreign(started, git_exec_path()) == [], f"{case}: git started {started}"
    status_refused, text = answers[0]
    assert status_refused == (case["bad"] > 0), f"{case}: {text[:300]}"
