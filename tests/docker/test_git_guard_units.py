"""The git metadata guard without a container: names and shapes recognised, the walk bounded
and never led out of the workspace by a link, the user's config read for the paths it names,
and the read-only mounts the container gets."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from appliance.docker.adapters import AgentLaunch
from appliance.docker.container import ContainerSpec
from appliance.docker.git_config_paths import named_paths
from appliance.docker.git_guard import (
    WorkspaceHasGit,
    save_pending,
    sweep_left_behind,
    take_baseline,
)
from appliance.docker.git_metadata import is_dot_git, quarantine, scan


def bare(folder: Path) -> Path:
    (folder / "objects").mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "HEAD").write_text("ref: refs/heads/main\n")
    return folder


@pytest.mark.parametrize(
    "name", [".git", ".GIT", ".Git", ".git.", ".git ", ".g\u200cit", "\ufeff.git", "GIT~1",
             ".git::$INDEX_ALLOCATION"],
)  # fmt: skip
def test_names_a_filesystem_could_resolve_to_dot_git(name: str) -> None:
    assert is_dot_git(name)


@pytest.mark.parametrize("name", [".gitignore", ".github", "git", ".git-old", ".gitx"])
def test_other_names_are_not_dot_git(name: str) -> None:
    assert not is_dot_git(name)


def test_shapes_found_and_not(tmp_path: Path) -> None:
    bare(tmp_path / "a" / "repo")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "HEAD").mkdir()  # a folder named HEAD: git wants a file or link
    (tmp_path / "b" / "refs").mkdir()
    (tmp_path / "c" / "wt").mkdir(parents=True)
    (tmp_path / "c" / "wt" / "HEAD").write_text("ref: refs/heads/x\n")
    (tmp_path / "c" / "wt" / "commondir").write_text("../..\n")
    found = {(f.relative, f.kind) for f in scan(tmp_path).found}
    assert found == {("a/repo", "git-dir-shaped"), ("c/wt", "git-dir-shaped")}


def test_the_walk_is_bounded(tmp_path: Path) -> None:
    for index in range(50):
        (tmp_path / f"d{index}").mkdir()
    assert scan(tmp_path, max_steps=20).complete is False
    assert scan(tmp_path).complete is True


def test_quarantine_never_follows_a_folder_swapped_for_a_link(tmp_path: Path) -> None:
    """Found at ws/a/.git; meanwhile `a` became a link to a folder outside with its own .git:
    that one is never renamed."""
    workspace, outside = tmp_path / "ws", tmp_path / "outside"
    (workspace / "a" / ".git").mkdir(parents=True)
    (outside / ".git").mkdir(parents=True)
    [found] = scan(workspace).found
    os.rename(workspace / "a", workspace / "a-old")
    (workspace / "a").symlink_to(outside)
    [(_, outcome)] = quarantine(workspace, [found], ".q")
    assert outcome.startswith("error")
    assert (outside / ".git").is_dir() and not (outside / ".git.q").exists()


def test_quarantine_picks_a_free_name(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git.q").mkdir()
    (tmp_path / ".git.q" / "keep").write_text("x")
    [found] = scan(tmp_path).found
    [(_, outcome)] = quarantine(tmp_path, [found], ".q")
    # the session's name is taken (the agent may know it): a random one, never onto another
    assert outcome.startswith(".git.q-") and len(outcome) == len(".git.q-") + 8
    assert (tmp_path / ".git.q" / "keep").exists() and (tmp_path / outcome).is_dir()


def test_config_names_paths_of_code_and_config(tmp_path: Path) -> None:
    config = tmp_path / ".git" / "config"
    config.parent.mkdir()
    config.write_text(
        '[core]\n\thooksPath = .husky/_\n\tpager = "./tools/pager" -R # comment\n'
        '[include]\n\tpath = ../team.gitconfig\n[filter "x.y"]\n\tclean = scripts/clean.sh %f\n'
        '[alias]\n\tst = !bin/st \\\n --flag\n[remote "origin"]\n\turl = ../elsewhere/repo\n'
        '[core.sub]\n\tpager = ignored\n'
    )  # fmt: skip
    found = set(named_paths(config, tmp_path))
    for path in (".husky/_", "tools/pager", "team.gitconfig", "scripts/clean.sh", "bin/st"):
        assert tmp_path / path in found, path
    assert not any("elsewhere" in str(p) for p in found)  # remote urls are not code


def test_the_container_gets_the_original_git_metadata_read_only(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    subprocess.run(["git", "-C", str(workspace), "config", "core.hooksPath", "hooks"], check=True)
    (workspace / "hooks").mkdir()
    bare(workspace / "fixtures" / "r.git")
    baseline = take_baseline(workspace)
    launch, read_only = AgentLaunch(["true"], {}), baseline.read_only
    spec = ContainerSpec("img", launch, workspace, tmp_path / "rt", "s", read_only=read_only)
    volumes = spec.run_kwargs()["volumes"]
    for path in (".git", "hooks", "fixtures/r.git"):
        assert volumes[str(workspace / path)] == {"bind": str(workspace / path), "mode": "ro"}
    assert volumes[str(workspace)]["mode"] == "rw"


def test_a_named_path_through_a_link_is_refused(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    subprocess.run(["git", "-C", str(workspace), "config", "core.hooksPath", "l/hooks"], check=True)
    (workspace / "real" / "hooks").mkdir(parents=True)
    (workspace / "l").symlink_to("real")
    with pytest.raises(WorkspaceHasGit, match="through a link"):
        take_baseline(workspace)


def test_scan_speed(tmp_path: Path) -> None:
    """Measured, and bounded loosely: 20,000 entries in 1,000 folders."""
    for folder in range(1000):
        (tmp_path / str(folder)).mkdir()
        for name in range(19):
            (tmp_path / str(folder) / str(name)).touch()
    began = time.perf_counter()
    result = scan(tmp_path)
    took = time.perf_counter() - began
    print(f"scan of 20,000 entries: {took * 1000:.0f} ms")
    assert result.complete and took < 5


def test_a_dot_git_link_replaced_by_another_is_not_the_original(tmp_path: Path) -> None:
    """A link is never mounted: the agent can replace it, and the new link may get the old
    inode number back. Its change time tells them apart."""
    bare(tmp_path / "mine")
    (tmp_path / ".git").symlink_to("mine")
    baseline = take_baseline(tmp_path)
    assert baseline.sweep(".q").renamed == ()
    time.sleep(0.01)
    bare(tmp_path / "evil")
    (tmp_path / ".git").unlink()
    (tmp_path / ".git").symlink_to("evil")
    renamed = {(f.relative, o) for f, o in baseline.sweep(".q").renamed}
    assert (".git", ".git.q") in renamed and ("evil", "HEAD.q") in renamed


def test_a_relative_hooks_path_in_the_users_own_config_is_watched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, workspace = tmp_path / "home", tmp_path / "ws"
    home.mkdir()
    (home / ".gitconfig").write_text("[core]\n\thooksPath = .githooks\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    baseline = take_baseline(workspace)
    assert ((".githooks",), None) in baseline.named
    (workspace / ".githooks").mkdir()
    renamed = {(f.relative, o) for f, o in baseline.sweep(".q").renamed}
    assert renamed == {(".githooks", ".githooks.q")}


def _sweeps_of_an_unreadable_folder(workspace: Path) -> list:
    baseline = take_baseline(workspace)
    (workspace / "a" / ".git").mkdir(parents=True)
    (workspace / "a").chmod(0o111)
    during = baseline.sweep(".q")
    after = baseline.sweep(".q", final=True)
    return [during.complete, len(during.renamed), after.complete,
            sorted(f.relative for f, _ in after.renamed)]  # fmt: skip


def test_a_folder_made_unreadable_does_not_hide_a_dot_git(tmp_path: Path) -> None:
    """`chmod 111 a`: git still finds `a/.git` (search permission is enough), a listing does
    not. The sweep during the session says it is incomplete; the last one opens it up. Run as
    an ordinary user (root reads everything): as root, in a forked child that drops to one."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    if os.getuid() != 0:
        assert _sweeps_of_an_unreadable_folder(workspace) == [False, 0, True, ["a/.git"]]
        return
    # pytest's folders are root's alone (0700): the ordinary user's workspace is elsewhere
    workspace = Path(tempfile.mkdtemp(prefix="git-guard-unreadable-"))
    os.chown(workspace, 4321, 4321)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgroups([])
            os.setgid(4321)
            os.setuid(4321)
            os.write(write, repr(_sweeps_of_an_unreadable_folder(workspace)).encode())
        except BaseException as exc:
            os.write(write, repr(exc).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        seen = answer.read()
    os.waitpid(child, 0)
    shutil.rmtree(workspace)
    assert seen == repr([False, 0, True, ["a/.git"]])


def test_the_next_start_runs_the_last_sweep_of_a_killed_session(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    workspace, sessions = tmp_path / "ws", tmp_path / "sessions"
    (sessions / "s1").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    pending = save_pending(take_baseline(workspace), sessions / "s1", "s1")
    bare(workspace / "sub" / ".git")  # what the agent made before its host was killed
    sweep_left_behind(sessions, alive=lambda pid: True)  # still running: left alone
    assert pending.exists() and (workspace / "sub" / ".git").is_dir()
    sweep_left_behind(sessions, alive=lambda pid: False)
    assert not pending.exists()
    assert sorted(p.name for p in (workspace / "sub").iterdir()) == [
        ".git.ironcurtain-quarantined-s1"]  # fmt: skip
    assert (workspace / ".git" / "HEAD").is_file()  # the original stays
    assert "left by session s1, which ended abnormally" in capsys.readouterr().err


def test_a_named_path_that_is_a_link_out_of_the_workspace_is_never_mounted(tmp_path: Path) -> None:
    """core.hooksPath = hooks, where hooks links to a folder outside: mounting it would show
    that folder to the agent. Watched instead: replaced, it is renamed."""
    workspace, outside = tmp_path / "ws", tmp_path / "shared-hooks"
    outside.mkdir()
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    subprocess.run(["git", "-C", str(workspace), "config", "core.hooksPath", "hooks"], check=True)
    (workspace / "hooks").symlink_to(outside)
    baseline = take_baseline(workspace)
    assert baseline.read_only == (workspace / ".git",)
    time.sleep(0.01)
    (workspace / "hooks").unlink()
    (workspace / "hooks").mkdir()
    assert {f.relative for f, _ in baseline.sweep(".q").renamed} == {"hooks"}


def test_a_found_entry_replaced_before_its_rename_is_left_for_the_next_look(
    tmp_path: Path,
) -> None:
    """Found at ws/sub/.git; meanwhile `sub` moved aside and a new sub/.git made (the vector
    nested-original-moved-aside): what is there now may be an original put back, so it is not
    renamed on the old finding, and the outcome is no error (the watch's event for the new
    entry, or the next sweep, looks at it as it is)."""
    from appliance.docker.git_metadata import REPLACED

    (tmp_path / "sub" / ".git").mkdir(parents=True)
    [found] = scan(tmp_path).found
    os.rename(tmp_path / "sub", tmp_path / "sub2")
    (tmp_path / "sub" / ".git").mkdir(parents=True)
    [(_, outcome)] = quarantine(tmp_path, [found], ".q")
    assert outcome == REPLACED and not outcome.startswith("error")
    assert (tmp_path / "sub" / ".git").is_dir()  # left for the next look
    assert {f.relative for f in scan(tmp_path).found} == {"sub/.git", "sub2/.git"}
