"""The git server's tools in memory, on real repositories: what each one does and answers."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_git_support import Fixture, GitServer, git, make_repo

from servers.git.context import GitContext
from servers.git.enrich import remote_urls as _remote_urls
from servers.git.repoconfig import derive, parse_listing
from servers.git.runner import GitRunner
from servers.git.workspace import Workspace
from servers.wire.server import ToolError

NAMES = sorted(
    [
        "git_add",
        "git_blame",
        "git_branch",
        "git_changelog_analyze",
        "git_checkout",
        "git_cherry_pick",
        "git_clean",
        "git_clear_working_dir",
        "git_clone",
        "git_commit",
        "git_diff",
        "git_fetch",
        "git_init",
        "git_log",
        "git_merge",
        "git_pull",
        "git_push",
        "git_rebase",
        "git_reflog",
        "git_remote",
        "git_reset",
        "git_set_working_dir",
        "git_show",
        "git_stash",
        "git_status",
        "git_tag",
        "git_worktree",
        "git_wrapup_instructions",
    ]
)


@pytest.fixture
def fx(tmp_path: Path) -> Fixture:
    return make_repo(tmp_path)


@pytest.fixture
def server(fx: Fixture) -> GitServer:
    server = GitServer("--base-dir", fx.base)
    server.ok("git_set_working_dir", path=str(fx.repo))
    return server


def _closed(schema: dict[str, Any]) -> bool:
    if schema.get("type") != "object":
        return True
    nested = [s for s in schema.get("properties", {}).values() if isinstance(s, dict)]
    return schema.get("additionalProperties") is False and all(_closed(s) for s in nested)


def test_the_28_tools_with_closed_schemas(server: GitServer) -> None:
    tools = server.server.tools
    assert sorted(tools) == NAMES
    for tool in tools.values():
        assert _closed(tool.input_schema), tool.name
        takes_path = "path" in tool.input_schema["properties"]
        assert takes_path or tool.name in {"git_clone", "git_clear_working_dir",
                                           "git_wrapup_instructions"}  # fmt: skip


def test_status_add_commit_log(server: GitServer, fx: Fixture) -> None:
    status = server.ok("git_status")
    assert status["currentBranch"] == "main" and status["upstream"] is None
    assert status["unstagedChanges"]["modified"] == ["a.txt"]
    assert status["untrackedFiles"] == ["new.txt"] and not status["isClean"]
    added = server.ok("git_add", files=["a.txt", "new.txt"])
    assert sorted(added["stagedFiles"]) == ["a.txt", "new.txt"]
    commit = server.ok("git_commit", message="Add things\n\nWith a body.",
                       author={"name": "Ada", "email": "ada@example.invalid"})  # fmt: skip
    assert commit["author"] == "Ada <ada@example.invalid>"
    assert sorted(commit["committedFiles"]) == ["a.txt", "new.txt"]
    assert commit["status"]["isClean"]
    log = server.ok("git_log", maxCount=2)
    assert [c["subject"] for c in log["commits"]] == ["Add things", "third"]
    assert log["commits"][0]["body"] == "With a body."
    assert log["commits"][0]["hash"] == commit["commitHash"]
    assert git(fx.repo, "log", "-1", "--format=%an").strip() == "Ada"


def test_commit_identity_defaults_and_amend(server: GitServer, fx: Fixture) -> None:
    first = server.ok("git_commit", message="empty", allowEmpty=True)
    assert first["author"] == "IronCurtain agent <agent@ironcurtain.invalid>"
    amended = server.ok("git_commit", message="reworded", amend=True, allowEmpty=True)
    assert amended["commitHash"] != first["commitHash"]
    assert git(fx.repo, "log", "-2", "--format=%s").split("\n")[:2] == ["reworded", "third"]


def test_log_filters_stat_patch_and_empty_repository(server: GitServer, fx: Fixture) -> None:
    log = server.ok("git_log", filePath="b.txt", stat=True, patch=True)
    assert [c["subject"] for c in log["commits"]] == ["third", "first"]
    assert "b.txt | 1 +" in log["commits"][0]["stat"] and "+buzz" in log["commits"][0]["patch"]
    assert server.ok("git_log", grep="side", branch="side", oneline=True)["commits"][0].keys() \
        == {"hash", "shortHash", "subject"}  # fmt: skip
    server.ok("git_init", path=str(fx.base / "empty"))
    assert server.ok("git_log", path=str(fx.base / "empty"))["commits"] == []


def test_diff_modes(server: GitServer) -> None:
    unstaged = server.ok("git_diff")
    assert "+local" in unstaged["diff"] and unstaged["filesChanged"] == 1
    assert unstaged["insertions"] == 1 and unstaged["deletions"] == 0
    assert server.ok("git_diff", staged=True)["diff"] == ""
    between = server.ok("git_diff", source="side", target="main", nameOnly=True)
    assert between["diff"].split() == ["a.txt", "b.txt"] and between["filesChanged"] == 2
    assert (
        "1 file changed"
        in server.ok("git_diff", target="HEAD~1", stat=True, paths=["b.txt"])["diff"]
    )


def test_show_blame_reflog(server: GitServer) -> None:
    assert server.ok("git_show", object="side", filePath="a.txt")["content"] == "side\n"
    shown = server.ok("git_show", object="HEAD", stat=True)
    assert shown["type"] == "commit" and "b.txt | 1 +" in shown["content"]
    blame = server.ok("git_blame", filePath="b.txt", startLine=2)
    assert [(line["lineNumber"], line["content"]) for line in blame["lines"]] == [(2, "buzz")]
    assert blame["lines"][0]["author"] == "Test"
    reflog = server.ok("git_reflog", maxCount=1)
    assert reflog["entries"][0]["selector"] == "HEAD@{0}"


def test_branches(server: GitServer, fx: Fixture) -> None:
    made = server.ok("git_branch", operation="create", name="topic", startPoint="side")
    assert made["commit"] == git(fx.repo, "rev-parse", "side").strip()
    listed = server.ok("git_branch", operation="list")
    assert {b["name"] for b in listed["branches"]} == {"main", "side", "topic"}
    assert listed["currentBranch"] == "main"
    server.ok("git_branch", operation="rename", name="topic", newName="topic2")
    assert "not fully merged" in server.error("git_branch", operation="delete", name="topic2")
    gone = server.ok("git_branch", operation="delete", name="topic2", force=True)
    assert gone == {"operation": "delete", "deleted": "topic2", "forced": True,
                    "commitWas": made["commit"]}  # fmt: skip
    assert server.ok("git_branch", operation="show-current")["currentBranch"] == "main"


def test_tags(server: GitServer) -> None:
    server.ok("git_tag", mode="create", tagName="v1", message="Release 1")
    server.ok("git_tag", mode="create", tagName="light", commit="side")
    tags = {t["name"]: t for t in server.ok("git_tag", mode="list")["tags"]}
    assert tags["v1"]["annotated"] and tags["v1"]["message"] == "Release 1"
    assert not tags["light"]["annotated"]
    assert "already exists" in server.error("git_tag", mode="create", tagName="v1")
    assert server.ok("git_tag", mode="delete", tagName="light")["deleted"] == "light"


def test_reset_reports_what_hard_discards(server: GitServer, fx: Fixture) -> None:
    server.ok("git_add", files=["new.txt"])
    soft = server.ok("git_reset", mode="soft", target="HEAD~1")
    assert soft["previousHead"] != soft["head"]
    assert "b.txt" in soft["status"]["stagedChanges"]["modified"]
    hard = server.ok("git_reset", mode="hard")
    assert hard["discardedChanges"] == ["a.txt", "b.txt", "new.txt"]
    assert not (fx.repo / "new.txt").exists() and hard["status"]["isClean"]


def test_clean_needs_force_and_reports(server: GitServer, fx: Fixture) -> None:
    (fx.repo / "junk").mkdir()
    (fx.repo / "junk" / "x").write_text("x")
    dry = server.ok("git_clean", force=False, dryRun=True, directories=True)
    assert dry["wouldRemove"] == ["junk/", "new.txt"] and (fx.repo / "new.txt").exists()
    done = server.ok("git_clean", force=True)
    assert done["removed"] == ["new.txt"] and (fx.repo / "junk").exists()


def test_checkout_switch_create_restore(server: GitServer, fx: Fixture) -> None:
    restored = server.ok("git_checkout", target="HEAD", paths=["a.txt"])
    assert restored["restoredPaths"] == ["a.txt"] and (fx.repo / "a.txt").read_text() == "main\n"
    made = server.ok("git_checkout", target="feature", createBranch=True)
    assert made["branchCreated"] and made["currentBranch"] == "feature"
    switched = server.ok("git_checkout", target="side")
    assert switched["currentBranch"] == "side" and (fx.repo / "a.txt").read_text() == "side\n"
    detached = server.ok("git_checkout", target="HEAD~1")
    assert detached["currentBranch"] is None


def test_stash_round_trip(server: GitServer, fx: Fixture) -> None:
    pushed = server.ok("git_stash", mode="push", message="wip", includeUntracked=True)
    assert pushed["created"] == "stash@{0}" and pushed["status"]["isClean"]
    listed = server.ok("git_stash", mode="list")["stashes"]
    assert listed[0]["ref"] == "stash@{0}" and "wip" in listed[0]["description"]
    popped = server.ok("git_stash", mode="pop")
    assert popped["success"] and (fx.repo / "new.txt").exists()
    assert server.ok("git_stash", mode="push")["created"] is None or True


def test_merge_conflict_then_abort(server: GitServer) -> None:
    server.ok("git_reset", mode="hard")
    merged = server.ok("git_merge", branch="side")
    assert merged["conflicts"] and merged["conflictedFiles"] == ["a.txt"]
    assert not merged["success"]
    aborted = server.ok("git_merge", abort=True)
    assert aborted["aborted"] and not aborted["conflicts"]


def test_merge_fast_forward_and_cherry_pick(server: GitServer, fx: Fixture) -> None:
    server.ok("git_reset", mode="hard")
    server.ok("git_checkout", target="ff", createBranch=True)
    server.ok("git_reset", mode="hard", target="HEAD~1")
    assert server.ok("git_merge", branch="main")["fastForward"]
    server.ok("git_checkout", target="side")
    picked = server.ok("git_cherry_pick", commits=["main"])
    assert picked["success"] and picked["pickedCommits"] == ["main"]
    assert (fx.repo / "b.txt").read_text() == "bee\nbuzz\n"


def test_rebase_and_conflict_abort(server: GitServer, fx: Fixture) -> None:
    server.ok("git_reset", mode="hard")
    server.ok("git_checkout", target="side")
    conflicted = server.ok("git_rebase", upstream="main")
    assert conflicted["conflicts"] and conflicted["conflictedFiles"] == ["a.txt"]
    assert server.ok("git_rebase", mode="abort")["status"]["currentBranch"] == "side"
    server.ok("git_checkout", target="topic", createBranch=True)
    server.ok("git_reset", mode="hard", target="HEAD~1")
    (fx.repo / "c.txt").write_text("c\n")
    server.ok("git_commit", message="c", files=["c.txt"])
    rebased = server.ok("git_rebase", upstream="main")
    assert rebased["success"]
    assert git(fx.repo, "log", "--format=%s", "-3").split("\n")[:3] == ["c", "third", "main change"]


def test_remotes_push_fetch_pull(server: GitServer, fx: Fixture) -> None:
    remotes = server.ok("git_remote", mode="list")["remotes"]
    assert remotes == [{"name": "origin", "fetch": "../origin.git", "push": "../origin.git"}]
    server.ok("git_commit", message="local", files=["a.txt"])
    pushed = server.ok("git_push", setUpstream=True)
    assert pushed["updates"][0]["ref"] == "refs/heads/main:refs/heads/main"
    assert git(fx.bare, "log", "-1", "--format=%s", "main").strip() == "local"
    assert server.ok("git_status")["upstream"] == "origin/main"
    server.ok("git_reset", mode="hard", target="HEAD~1")
    rejected = server.error("git_push")
    assert "rejected" in rejected
    forced = server.ok("git_push", force=True)
    assert forced["forced"] and git(fx.bare, "log", "-1", "--format=%s", "main").strip() == "third"
    assert server.ok("git_push", remoteBranch="side", delete=True)["deleted"]
    assert "side" not in git(fx.bare, "branch")
    server.ok("git_remote", mode="add", name="mirror", url=str(fx.bare))
    assert server.ok("git_remote", mode="get-url", name="mirror")["urls"] == [str(fx.bare)]
    fetched = server.ok("git_fetch", all=True, prune=True)
    assert set(fetched["remotes"]) == {"origin", "mirror"}
    assert server.ok("git_pull", ffOnly=True)["success"]
    server.ok("git_remote", mode="remove", name="mirror")


def test_clone_and_worktrees(server: GitServer, fx: Fixture) -> None:
    cloned = server.ok("git_clone", url="file://" + str(fx.bare), localPath=str(fx.base / "c"))
    assert cloned["localPath"] == str(fx.base / "c") and (fx.base / "c" / "b.txt").exists()
    assert server.ok("git_status", path=str(fx.base / "c"))["upstream"] == "origin/main"
    added = server.ok("git_worktree", mode="add", worktreePath="../wt", branch="wtb")
    assert added["added"] == str(fx.base / "wt")
    assert server.ok("git_status", path=str(fx.base / "wt"))["currentBranch"] == "wtb"
    paths = [w["path"] for w in server.ok("git_worktree")["worktrees"]]
    assert paths == [str(fx.repo), str(fx.base / "wt")]
    server.ok("git_worktree", mode="remove", worktreePath=str(fx.base / "wt"))
    assert not (fx.base / "wt").exists()


def test_changelog_and_wrapup(server: GitServer) -> None:
    server.ok("git_tag", mode="create", tagName="v0", commit="HEAD~1")
    analysis = server.ok("git_changelog_analyze", reviewTypes=["gaps", "security"],
                         sinceTag="v0")  # fmt: skip
    assert [c["subject"] for c in analysis["gitContext"]["commits"]] == ["third"]
    assert analysis["gitContext"]["tags"][0]["name"] == "v0"
    assert "Gaps:" in analysis["reviewInstructions"]
    wrap = server.ok("git_wrapup_instructions", acknowledgement="yes", createTag=False)
    assert "Tag the release" not in wrap["instructions"]
    assert wrap["gitStatus"]["unstagedChanges"]["modified"] == ["a.txt"]


def test_working_dir_lifecycle_and_init(server: GitServer, fx: Fixture) -> None:
    new = fx.base / "fresh"
    new.mkdir()
    assert "not inside a git repository" in server.error("git_set_working_dir", path=str(new))
    made = server.ok("git_set_working_dir", path=str(new), initializeIfNotPresent=True)
    assert made["repository"]["status"]["commit"] is None
    assert server.ok("git_clear_working_dir")["cleared"] == str(new)
    assert "not inside a git repository" in server.error("git_status")  # the base itself
    init = server.ok("git_init", path=str(fx.base / "x"), initialBranch="trunk")
    assert init["initialBranch"] == "trunk" and not (fx.base / "x" / ".git" / "hooks").exists()
    assert "already a git repository" in server.error("git_init", path=str(fx.base / "x"))


def test_without_base_dir_relative_paths_need_a_working_dir(fx: Fixture) -> None:
    server = GitServer()
    assert "no working directory" in server.error("git_status")
    assert "relative" in server.error("git_status", path="repo")
    assert server.ok("git_status", path=str(fx.repo))["currentBranch"] == "main"


def test_unicode_and_spaces_in_file_names(server: GitServer, fx: Fixture) -> None:
    (fx.repo / "ünï cödé.txt").write_text("x\n")
    (fx.repo / "a.txt").rename(fx.repo / "renamed a.txt")
    server.ok("git_add", all=True)
    staged = server.ok("git_status")["stagedChanges"]
    assert "ünï cödé.txt" in staged["added"]
    assert staged["renamed"] == ["a.txt -> renamed a.txt"] or "renamed a.txt" in staged["added"]


def test_output_cap(fx: Fixture) -> None:
    (fx.repo / "big.txt").write_text("line\n" * 5000)
    small = GitServer("--base-dir", fx.base, "--max-output", "1000")
    assert "truncated" not in small.ok("git_diff", path=str(fx.repo))
    small.ok("git_add", path=str(fx.repo), files=["big.txt"])
    capped = small.ok("git_diff", path=str(fx.repo), staged=True)
    assert capped["truncated"] is True
    assert capped["diff"].endswith("[... output truncated at 1000 bytes ...]")
    for n in range(100):
        (fx.repo / f"untracked-{n:03}.txt").write_text("x")
    assert small.ok("git_status", path=str(fx.repo))["truncated"] is True


def test_timeout_kills_the_whole_process_group(
    fx: Fixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A git that hangs (its child sleeps on): the call fails promptly and nothing lingers.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    marker = tmp_path / "slept"
    (bindir / "git").write_text(f"#!/bin/sh\n(sleep 1.5; touch {marker}) &\nwait\n")
    (bindir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    hasty = GitServer("--base-dir", fx.base, "--timeout", "0.2")
    started = time.monotonic()
    assert "timed out after 0.2 s" in hasty.error("git_status", path=str(fx.repo))
    assert time.monotonic() - started < 1.2  # the deadline, not the 1.5 s the child wanted
    time.sleep(max(0.0, started + 2.0 - time.monotonic()))  # past when it would have touched
    assert not marker.exists()


def test_config_written_after_first_call_is_refused(server: GitServer, fx: Fixture) -> None:
    server.ok("git_status")  # the repository's config listing is now cached
    mark = fx.root / "mark"
    mark.mkdir()
    config = str(fx.repo / ".git" / "config")
    git(fx.repo, "config", "--file", config, "filter.late.clean", f"touch {mark}/late; cat")
    git(fx.repo, "config", "--file", config, "core.fsmonitor", f"touch {mark}/late-fsmonitor")
    (fx.repo / ".gitattributes").write_text("* filter=late\n")
    assert "'core.fsmonitor'" in server.error("git_add", files=["a.txt"])
    assert "git config --unset" in server.error("git_status")
    assert list(mark.iterdir()) == []


def test_derive_overrides_every_named_driver() -> None:
    tools = {"cat": "/bin/cat", "false": "/bin/false", "true": "/bin/true",
             "upload-pack": "UP", "receive-pack": "RP"}  # fmt: skip
    raw = ("filter.Evil.clean\nx\x00merge.m.driver\nx\x00remote.o.uploadpack\nx\x00"
           "credential.https://h.helper\nx\x00protocol.ext.allow\nalways\x00"
           "protocol.file.allow\nalways\x00include.path\n/f\x00user.name\nA\x00")  # fmt: skip
    config = derive(parse_listing(raw), tools)
    overrides = dict(config.overrides)
    assert overrides["filter.Evil.clean"] == "" and overrides["filter.Evil.required"] == "false"
    assert overrides["merge.m.driver"] == "/bin/false"
    assert overrides["remote.o.uploadpack"] == "UP" and overrides["remote.o.receivepack"] == "RP"
    assert overrides["credential.https://h.helper"] == ""
    assert overrides["protocol.ext.allow"] == "never" and "protocol.file.allow" not in overrides
    assert config.has_includes and config.has_name and not config.has_email
    http = derive(parse_listing("http.https://h/.proxy\nhttp://evil:3128\x00"), tools)
    assert dict(http.overrides)["http.https://h/.sslverify"] == "true"
    assert dict(http.overrides)["http.https://h/.proxy"] == ""


def remote_urls(path: str, remote: str = "origin", *, push: bool = False, base_dir) -> list[str]:
    """The judge's remote lookup, on a context like the server's own."""
    ctx = GitContext(GitRunner(10.0, 64 * 1024), Workspace(Path(base_dir)))
    return _remote_urls(ctx, path, remote, push=push)


def test_remote_urls_for_the_chokepoint(fx: Fixture) -> None:
    assert remote_urls(str(fx.repo), base_dir=fx.base) == ["../origin.git"]
    git(fx.repo, "config", "remote.origin.pushurl", "https://example.invalid/push.git")
    pushed = remote_urls("repo", push=True, base_dir=fx.base)
    assert pushed == ["https://example.invalid/push.git"]
    # A rewrite rule is repository config outside the allowlist: the repository is refused.
    git(fx.repo, "config", "url.https://rewritten.invalid/.insteadOf", "https://example.invalid/")
    with pytest.raises(ToolError, match=r"url\.https://rewritten\.invalid/\.insteadof"):
        remote_urls("repo", push=True, base_dir=fx.base)
    with pytest.raises(ToolError, match="outside the allowed directory"):
        remote_urls(str(fx.root), base_dir=fx.base)
    with pytest.raises(ToolError, match="starts with '-'"):
        remote_urls(str(fx.repo), "--upload-pack=x", base_dir=fx.base)


def test_concurrent_calls_keep_their_outputs_apart(server: GitServer) -> None:
    # The stdio core runs calls on worker threads; each thread has its own output files.
    calls = [("git_status", {}), ("git_log", {"maxCount": 3}), ("git_diff", {})] * 8
    expected = {name: server.ok(name, **args) for name, args in calls[:3]}
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda call: server.ok(call[0], **call[1]), calls))
    for (name, _), answer in zip(calls, answers, strict=True):
        assert answer == expected[name], name


def test_a_symlinked_config_inside_the_base_is_refused(server: GitServer, fx: Fixture) -> None:
    # Inside the base, containment passes; the config itself must still be a regular file,
    # so one repository can't borrow another's config (remote URLs with tokens) by a link.
    other = fx.base / "other-config"
    other.write_text('[remote "origin"]\n\turl = https://u:ghp_TOKEN@example.com/r\n')
    config = fx.repo / ".git" / "config"
    config.unlink()
    config.symlink_to(other)
    message = server.error("git_remote", mode="list")
    assert "is not a regular file" in message and "ghp_TOKEN" not in message
