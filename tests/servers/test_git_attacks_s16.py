"""Round-16 attacks on the git server (in memory, real git); each test is a reproducer that
failed before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_git_support import GitServer, git

SECRET = "OPENAI_API_KEY=sk-TOPSECRET-s16"


def _repo_with_subdir(tmp_path: Path, tracked: bool) -> tuple[GitServer, Path]:
    base = tmp_path / "base"
    work = base / "w"
    (work / "sub").mkdir(parents=True)
    git(work, "init", "-q")
    (work / "sub" / "a.txt").write_text("a\n")
    (work / ".env").write_text(SECRET + "\n")
    git(work, "add", "-A")
    if not tracked:
        git(work, "rm", "-q", "--cached", ".env")
    git(work, "commit", "-qm", "first")
    if tracked:
        (work / ".env").write_text(SECRET + "-changed\n")
    return GitServer("--base-dir", base), work


@pytest.mark.parametrize("spec", [":/", ":(top)*", "../*", "..", ":(top,icase)*"])
def test_add_from_a_subdirectory_never_stages_the_top_level_env(tmp_path, spec) -> None:
    # The .env excludes were relative to the directory git ran in: from w/sub they only
    # excluded w/sub/**/.env, and ':/' staged (then diffed) the top-level .env.
    server, work = _repo_with_subdir(tmp_path, tracked=False)
    server.call("git_add", path=str(work / "sub"), files=[spec])
    assert ".env" not in git(work, "diff", "--cached", "--name-only").split()
    _, data = server.call("git_diff", path=str(work / "sub"), staged=True, paths=[spec])
    assert SECRET not in str(data)


@pytest.mark.parametrize("spec", [":/", "../*", ".."])
def test_diff_and_show_from_a_subdirectory_never_show_a_tracked_env(tmp_path, spec) -> None:
    server, work = _repo_with_subdir(tmp_path, tracked=True)
    sub = str(work / "sub")
    for call in (
        lambda: server.call("git_diff", path=sub, paths=[spec]),
        lambda: server.call("git_diff", path=sub),
        lambda: server.call("git_show", path=sub, object="HEAD"),
        lambda: server.call("git_diff", path=sub, source="HEAD~0", paths=[spec]),
    ):
        _, data = call()
        assert "TOPSECRET" not in str(data)


def test_checkout_from_a_subdirectory_never_restores_the_top_level_env(tmp_path) -> None:
    server, work = _repo_with_subdir(tmp_path, tracked=True)
    server.call("git_checkout", path=str(work / "sub"), target="HEAD", paths=[":/"], force=True)
    assert (work / ".env").read_text() == SECRET + "-changed\n"


def _outside_repository(root: Path) -> Path:
    outside = root / "outside"
    outside.mkdir()
    git(outside, "init", "-q")
    (outside / "secret.txt").write_text("SECRET-OUTSIDE-42\n")
    git(outside, "add", ".")
    git(outside, "commit", "-qm", "private work")
    return outside


def _decoy(base: Path, outside: Path) -> None:
    # base/p is an honest repository; base/p/x an ordinary folder of it; base/p/x.git a
    # repository-shaped folder whose commondir is the outside repository's git directory.
    git(base / "p", "init", "-q")
    (base / "p" / "x").mkdir()
    fake = base / "p" / "x.git"
    (fake / "objects").mkdir(parents=True)
    (fake / "refs").mkdir()
    (fake / "HEAD").write_text("ref: refs/heads/master\n")
    (fake / "commondir").write_text(f"{outside / '.git'}\n")


@pytest.mark.parametrize("url", ["{p}/x", "file://{p}/x"])
def test_a_local_remote_inside_a_repository_never_reaches_a_sibling_dot_git(tmp_path, url) -> None:
    # The server checked the repository the folder lies in (base/p); git's far side tried
    # 'x', then 'x.git', and cloned the unchecked x.git, whose commondir led outside the base.
    base = tmp_path / "base"
    (base / "p").mkdir(parents=True)
    outside = _outside_repository(tmp_path)
    _decoy(base, outside)
    server = GitServer("--base-dir", base)
    url = url.format(p=base / "p")
    message = server.error("git_clone", url=url, localPath=str(base / "c"))
    assert "not the top of a repository" in message
    assert not (base / "c" / "secret.txt").exists()
    message = server.error("git_remote", path=str(base / "p"), mode="add", name="ev", url=url)
    assert "not the top of a repository" in message
    git(base / "p", "remote", "add", "ev", url)
    message = server.error("git_fetch", path=str(base / "p"), remote="ev")
    assert "not the top of a repository" in message
    # The folder a repository's top, bare or not, is still a remote.
    git(base, "init", "-q", "--bare", "b.git")
    server.ok("git_clone", url=str(base / "b.git"), localPath=str(base / "c2"))
    server.ok("git_clone", url=str(base / "c2"), localPath=str(base / "c3"))


@pytest.mark.parametrize("directories", [False, True])
def test_clean_never_removes_an_env_file(tmp_path, directories) -> None:
    # git clean -d removed a whole untracked folder with the .env files in it: exclude
    # pathspecs do not reach inside a folder clean removes.
    server, work = _repo_with_subdir(tmp_path, tracked=False)
    (work / "d" / "e").mkdir(parents=True)
    for name in ("d/.ENV", "d/e/.env.local", "sub/.env"):
        (work / name).write_text(SECRET + "\n")
    (work / "d" / "f.txt").write_text("junk\n")
    (work / "u.txt").write_text("junk\n")
    dry = server.ok("git_clean", path=str(work), dryRun=True, force=False, directories=directories)
    assert not any(".env" in name.lower() for name in dry["wouldRemove"])
    server.ok("git_clean", path=str(work), force=True, directories=directories)
    for name in (".env", "d/.ENV", "d/e/.env.local", "sub/.env"):
        assert (work / name).read_text() == SECRET + "\n", name
    assert not (work / "u.txt").exists()
    assert not (work / "d" / "f.txt").exists() if directories else (work / "d" / "f.txt").exists()


@pytest.mark.parametrize("where", ["", "sub"])
def test_stash_never_takes_an_env_file(tmp_path, where) -> None:
    # A stash is a commit: with a .env in it, git_branch startPoint=stash@{0} then git_push
    # sent the .env to a remote; with includeUntracked the .env also left the work tree.
    server, work = _repo_with_subdir(tmp_path, tracked=True)
    (work / "cfg").mkdir()
    (work / "cfg" / ".env.local").write_text(SECRET + "\n")
    (work / "sub" / "a.txt").write_text("a changed\n")
    server.ok("git_stash", path=str(work / where), mode="push", includeUntracked=True)
    assert (work / ".env").read_text() == SECRET + "-changed\n"
    assert (work / "cfg" / ".env.local").read_text() == SECRET + "\n"
    assert (work / "sub" / "a.txt").read_text() == "a\n"
    stashed = git(work, "diff", "stash@{0}^1", "stash@{0}")
    stashed += git(work, "show", "--format=", "stash@{0}^3")
    assert "-changed" not in stashed
    assert ".env" not in stashed
    server.ok("git_stash", path=str(work), mode="pop")
    assert (work / "sub" / "a.txt").read_text() == "a changed\n"


def _rebase_state(tmp_path: Path, files: dict[str, str]) -> tuple[GitServer, Path]:
    base = tmp_path / "base"
    work = base / "w"
    work.mkdir(parents=True)
    git(work, "init", "-q")
    (work / "a.txt").write_text("a\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "one")
    head = git(work, "rev-parse", "HEAD").strip()
    state = work / ".git" / "rebase-merge"
    state.mkdir()
    defaults = {"head-name": "refs/heads/master", "onto": head, "orig-head": head}
    defaults |= {"interactive": "", "done": "", "end": "1", "msgnum": "0"}
    for name, text in (defaults | files).items():
        (state / name).write_text(text if not text or text.endswith("\n") else text + "\n")
    return GitServer("--base-dir", base), work


@pytest.mark.parametrize("line", ["exec {cmd}", "x {cmd}", " \tx {cmd}", "pick HEAD\nexec {cmd}"])
@pytest.mark.parametrize("mode", ["continue", "skip"])
def test_resuming_a_rebase_never_runs_an_exec_line_the_agent_wrote(tmp_path, line, mode) -> None:
    # rebase-merge/git-rebase-todo is an ordinary file in the git directory: an 'exec' line
    # written there ran a shell command on git_rebase mode=continue (unconfined: as the user).
    proof = tmp_path / "PROOF"
    server, work = _rebase_state(tmp_path, {"git-rebase-todo": line.format(cmd=f"id > {proof}")})
    message = server.error("git_rebase", path=str(work), mode=mode)
    assert "git-rebase-todo line" in message
    assert not proof.exists()
    # abort still works and runs nothing
    server.ok("git_rebase", path=str(work), mode="abort")
    assert not proof.exists()


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("strategy", "../evil", "merge strategy"),
        ("gpg_sign_opt", "-Skey", "signing"),
    ],
)
def test_resuming_a_rebase_refuses_program_naming_state(tmp_path, name, text, needle) -> None:
    server, work = _rebase_state(tmp_path, {"git-rebase-todo": "noop", name: text})
    assert needle in server.error("git_rebase", path=str(work), mode="continue")


def test_resuming_a_cherry_pick_checks_the_sequencer_state(tmp_path) -> None:
    server, work = _rebase_state(tmp_path, {})
    (work / ".git" / "rebase-merge").rename(work / ".git" / "unused")
    sequencer = work / ".git" / "sequencer"
    sequencer.mkdir()
    (sequencer / "todo").write_text(f"pick HEAD\nexec id > {tmp_path / 'PROOF'}\n")
    assert "todo line 2" in server.error("git_cherry_pick", path=str(work), continueOperation=True)
    (sequencer / "todo").write_text("pick HEAD\n")
    (sequencer / "opts").write_text("[options]\n\tstrategy = ../evil\n")
    assert "merge strategy" in server.error(
        "git_cherry_pick", path=str(work), continueOperation=True
    )
    (sequencer / "opts").write_text("[alias]\n\tx = !id\n")
    assert "alias.x" in server.error("git_cherry_pick", path=str(work), continueOperation=True)
    assert not (tmp_path / "PROOF").exists()


def test_resuming_refuses_an_apply_backend_state(tmp_path) -> None:
    # rebase-apply/ (git am's state: apply-opt options for git apply, patch files) is never
    # made by the server; resuming from one the agent wrote is refused.
    server, work = _rebase_state(tmp_path, {})
    (work / ".git" / "rebase-merge").rename(work / ".git" / "rebase-apply")
    (work / ".git" / "rebase-apply" / "apply-opt").write_text("'--unsafe-paths'\n")
    assert "apply-backend" in server.error("git_rebase", path=str(work), mode="continue")


@pytest.mark.parametrize(
    ("name", "text"),
    [("commondir", "{outside}/.git\n"), ("config", "[include]\n\tpath = {outside}/.git/config\n")],
)
def test_a_bare_repository_is_made_only_in_an_empty_folder(tmp_path, name, text) -> None:
    # git init --bare read what the folder already held as the repository's own files: a
    # 'commondir' made it rewrite another repository's config (core.bare = true, breaking it)
    # and create its objects and refs there.
    base = tmp_path / "base"
    base.mkdir()
    outside = _outside_repository(tmp_path)
    before = (outside / ".git" / "config").read_text()
    server = GitServer("--base-dir", base)
    prepared = base / "x"
    prepared.mkdir()
    (prepared / name).write_text(text.format(outside=outside))
    message = server.error("git_init", path=str(prepared), bare=True)
    assert "not empty" in message
    assert (outside / ".git" / "config").read_text() == before
    assert not (prepared / "HEAD").exists()
    # new and empty folders, and a plain repository in a folder with files, are still made
    (base / "empty").mkdir()
    server.ok("git_init", path=str(base / "empty"), bare=True)
    server.ok("git_init", path=str(base / "new"), bare=True)
    server.ok("git_init", path=str(prepared))


@pytest.mark.parametrize("kind", ["gitfile", "symlink", "gitfile-commondir"])
def test_set_working_dir_never_initialises_over_a_refused_repository(tmp_path, kind) -> None:
    # git_set_working_dir initializeIfNotPresent ran 'git init' on any folder the checks
    # refused: over a .git file (or link) naming a git directory outside the base, git init
    # reinitialised that repository (its config rewritten: core.bare flipped).
    base = tmp_path / "base"
    folder = base / "d"
    folder.mkdir(parents=True)
    outside = _outside_repository(tmp_path)
    git(outside, "config", "core.bare", "true")
    before = (outside / ".git" / "config").read_text()
    if kind == "gitfile":
        (folder / ".git").write_text(f"gitdir: {outside / '.git'}\n")
    elif kind == "symlink":
        (folder / ".git").symlink_to(outside / ".git")
    else:
        inner = base / "inner"
        inner.mkdir()
        (inner / "HEAD").write_text("ref: refs/heads/master\n")
        (inner / "commondir").write_text(f"{outside / '.git'}\n")
        (folder / ".git").write_text(f"gitdir: {inner}\n")
    server = GitServer("--base-dir", base)
    server.error("git_set_working_dir", path=str(folder), initializeIfNotPresent=True)
    assert "already a git repository" in server.error("git_init", path=str(folder))
    assert (outside / ".git" / "config").read_text() == before
    # a folder in no repository is still initialised
    (base / "plain").mkdir()
    server.ok("git_set_working_dir", path=str(base / "plain"), initializeIfNotPresent=True)
    assert (base / "plain" / ".git" / "HEAD").is_file()
