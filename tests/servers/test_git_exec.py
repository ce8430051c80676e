"""A repository's own config must never make the git server run a program.

Cases are data (``tests/vectors/git/config_exec.json``). Each is first armed in a repository
driven by plain git with a control command, which must leave a mark (so every case is live);
then armed in a fresh repository driven through the server, where nothing may be marked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_git_support import Fixture, GitServer, git, make_repo, write_hooks

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "git" / "config_exec.json"
CASES = json.loads(VECTORS.read_text())["cases"]

ALWAYS = ["git_status", "git_diff", "git_log", "git_add", "git_commit", "git_checkout"]
NEED_CLEAN_TREE = {"git_merge", "git_rebase", "git_cherry_pick"}
CALLS: dict[str, list[dict[str, Any]]] = {
    "git_status": [{}],
    "git_diff": [{}],
    "git_log": [{"patch": True, "stat": True}],
    "git_add": [{"files": ["a.txt", "new.txt"]}],
    "git_commit": [{"message": "agent commit"}],
    "git_checkout": [{"target": "HEAD~1", "paths": ["a.txt"]}],
    "git_stash": [{"mode": "push", "includeUntracked": True}, {"mode": "pop"}],
    "git_reset": [{"mode": "hard", "target": "HEAD~1"}],
    "git_merge": [{"branch": "side"}, {"abort": True}],
    "git_rebase": [{"upstream": "side"}, {"mode": "abort"}],
    "git_cherry_pick": [{"commits": ["side"]}, {"abort": True}],
    "git_push": [{"branch": "main", "remoteBranch": "agent"}],
    "git_fetch": [{}],
    "git_pull": [{"branch": "side"}],
    "git_tag": [{"mode": "create", "tagName": "t1", "message": "annotated"}],
    "git_show": [{"object": "HEAD"}],
    "git_blame": [{"filePath": "a.txt"}],
    "git_reflog": [{}],
}


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def _arm(case: dict[str, Any], root: Path) -> tuple[Fixture, Path, dict[str, str]]:
    fx = make_repo(root)
    mark = root / "mark"
    mark.mkdir()
    names = {"mark": str(mark), "hooks": str(root / "hooks"), "bare": str(fx.bare),
             "included": str(root / "included.cfg"), "base": str(fx.base),
             "prog": str(root / "prog.sh")}  # fmt: skip
    write_hooks(root / "hooks", mark)
    (root / "prog.sh").write_text(f'#!/bin/sh\ntouch "{mark}/program"\nexit 1\n')
    (root / "prog.sh").chmod(0o755)
    for key, value in _fill(case.get("included", []), names):
        git(root, "config", "--file", names["included"], key, value)
    for key, value in _fill(case["config"], names):
        git(fx.repo, "config", "--file", str(fx.repo / ".git" / "config"), key, value)
    if "attributes" in case:
        (fx.repo / ".gitattributes").write_text(case["attributes"] + "\n")
    if case.get("git_dir_hooks"):
        write_hooks(fx.repo / ".git" / "hooks", mark)
        write_hooks(fx.bare / "hooks", mark)
    if case.get("alternates"):
        info = fx.repo / ".git" / "objects" / "info"
        info.mkdir(exist_ok=True)
        (info / "alternates").write_text(f"{fx.bare / 'objects'}\n")
    if case.get("far_side"):
        _far_side(case, fx, names)
    if case.get("signed_commit"):
        _make_signed_head(fx.repo)
    return fx, mark, names


def _far_side(case: dict[str, Any], fx: Fixture, names: dict[str, str]) -> None:
    far = fx.base / "far"
    git(fx.base, "clone", "-q", str(fx.bare), str(far))
    git(far, "checkout", "-q", "-b", "elsewhere", "origin/side")
    git(far, "checkout", "-q", "main")  # main checked out: a push to it updates the files
    for key, value in _fill(case["far_config"], names):
        git(far, "config", key, value)
    (far / ".gitattributes").write_text(case["far_attributes"] + "\n")
    git(fx.repo, "remote", "add", "far", "../far")
    git(fx.repo, "commit", "-q", "--allow-empty", "-m", "something to push")


def _make_signed_head(repo: Path) -> None:
    # A commit carrying a (fake) signature: enough for log.showSignature to call gpg.program.
    head = git(repo, "cat-file", "commit", "HEAD")
    header, _, message = head.partition("\n\n")
    signature = (
        "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----"
    )
    body = f"{header}\n{signature}\n\n{message}"
    path = repo / ".git" / "signed-commit"
    path.write_text(body)
    new = git(repo, "hash-object", "-t", "commit", "-w", str(path)).strip()
    git(repo, "update-ref", "HEAD", new)


def _battery(case: dict[str, Any], names: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    calls = [(name, args) for name in ALWAYS for args in CALLS[name]]
    for entry in case["tools"]:
        name, given = (entry, None) if isinstance(entry, str) else entry
        if name in NEED_CLEAN_TREE:
            calls.append(("git_reset", {"mode": "hard", "target": "HEAD"}))
        calls += (
            [(name, _fill(given, names))]
            if given is not None
            else [(name, args) for args in CALLS[name]]
        )
    return calls


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_repository_config_runs_nothing(case: dict[str, Any], tmp_path: Path) -> None:
    if case["control"]:
        fx, mark, _ = _arm(case, tmp_path / "control")
        git(fx.repo, *case["control"], check=False)
        assert any(mark.iterdir()), f"control `git {' '.join(case['control'])}` ran nothing"

    # Line one: a repository whose config holds a key outside the allowlist is refused,
    # naming the key; nothing runs.
    fx, mark, names = _arm(case, tmp_path / "served")
    server = GitServer("--base-dir", fx.base)
    answers = {}
    for name, args in _battery(case, names):
        answers.setdefault(name, server.call(name, **{"path": str(fx.repo), **args}))
    assert sorted(p.name for p in mark.iterdir()) == []
    if case["config"]:
        for name in ("git_status", "git_commit"):
            assert answers[name][0], f"{name} should be refused: {answers[name][1]}"
            assert "does not accept" in answers[name][1], answers[name][1]

    # Line two, with line one switched off (test-only): the runner's overrides still
    # neutralise the repository's drivers, and the basic tools work on it.
    fx, mark, names = _arm(case, tmp_path / "trusted")
    server = GitServer("--base-dir", fx.base, "--test-only-trust-repository")
    server.ok("git_set_working_dir", path=str(fx.repo))
    answers = {}
    for name, args in _battery(case, names):
        answers.setdefault(name, server.call(name, **args))
    assert sorted(p.name for p in mark.iterdir()) == []
    for name in ("git_status", "git_commit"):
        assert not answers[name][0], f"{name} failed: {answers[name][1]}"
