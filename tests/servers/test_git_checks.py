"""The argument checks, differentially against git itself: a name we accept, git accepts too.

``check_branch_name`` is our copy of git's ref-name rules plus two of our own (no leading ``+``,
never an option). Hypothesis generates names from the characters that matter; any name we
accept must pass ``git check-ref-format --branch`` (so git never sees a name it would read
otherwise), and must not be able to act as an option or a refspec.
"""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.git.checks import check_branch_name, check_remote_name, check_revision
from servers.wire.server import ToolError

_ALPHABET = "ab-+./:@{}~^?*[\\ \t\x00\x7flock"
names = st.text(alphabet=_ALPHABET, min_size=1, max_size=12)


def _ours(name: str) -> bool:
    try:
        check_branch_name(name)
    except ToolError:
        return False
    return True


def _gits(name: str) -> bool:
    if "\x00" in name:
        return False
    run = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, timeout=10
    )
    return run.returncode == 0


@settings(max_examples=150, deadline=None)
@given(names)
def test_every_branch_name_we_accept_git_accepts(name: str) -> None:
    if _ours(name):
        assert _gits(name), name
        assert not name.startswith(("-", "+")) and ":" not in name


@pytest.mark.parametrize(
    "name", ["main", "feature/x-1", "release-2.0", "user/ünïcode", "a.b", "v1"]
)
def test_ordinary_branch_names_pass(name: str) -> None:
    assert check_branch_name(name) == name and _gits(name)


@pytest.mark.parametrize(
    ("check", "value", "problem"),
    [
        (check_branch_name, "-x", "starts with '-'"),
        (check_branch_name, "+main", "starts with '+'"),
        (check_branch_name, "a:b", "one of ~^:?*[\\"),
        (check_branch_name, "a/.hidden", "component starting with '.'"),
        (check_branch_name, "x" * 256, "longer than 255"),
        (check_remote_name, "up stream", "not a remote name"),
        (check_remote_name, "-o", "starts with '-'"),
        (check_revision, "HEAD\n--hard", "space or control"),
        (check_revision, "", "must not be empty"),
    ],
)
def test_refusals_name_the_problem(check, value: str, problem: str) -> None:
    with pytest.raises(ToolError) as caught:
        check(value)
    assert problem in str(caught.value)


@pytest.mark.parametrize("value", ["HEAD~2", "stash@{0}", "v1..v2", "a1b2c3d", "HEAD:dir/f.txt"])
def test_revisions_git_understands_pass(value: str) -> None:
    assert check_revision(value) == value
