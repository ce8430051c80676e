"""The GitHub server over stdio, driven by the real MCP SDK client, against a scripted GitHub
API on loopback: every tool once, pagination, rate limits, scoped errors, and no token leak."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from github_fake import SHA, TOKEN, fake_github

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("servers_conftest_for_github", HERE / "conftest.py")
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
stdio_session, result_text = _helpers.stdio_session, _helpers.result_text

pytestmark = pytest.mark.anyio
ARGV = ["github", "--allow-private-addresses"]
REPO = {"owner": "alice", "repo": "tool"}

# One call per tool: (tool, arguments, the request it must make: method, path suffix).
CALLS: list[tuple[str, dict[str, Any], tuple[str, str]]] = [
    ("get_me", {}, ("GET", "/user")),
    ("get_teams", {}, ("GET", "/user/teams")),
    ("get_team_members", {"org": "acme", "team_slug": "core"}, ("GET", "/teams/core/members")),
    (
        "get_file_contents",
        {**REPO, "path": "src/a.py", "ref": "main"},
        ("GET", "/contents/src/a.py"),
    ),
    ("list_branches", {**REPO, "perPage": 1}, ("GET", "/branches")),
    ("list_commits", {**REPO, "sha": "main", "author": "alice"}, ("GET", "/commits")),
    ("get_commit", {**REPO, "sha": SHA, "include_diff": False}, ("GET", f"/commits/{SHA}")),
    ("list_tags", REPO, ("GET", "/tags")),
    ("get_tag", {**REPO, "tag": "v1"}, ("GET", "/git/tags/" + "t" * 40)),
    ("list_releases", REPO, ("GET", "/releases")),
    ("get_latest_release", REPO, ("GET", "/releases/latest")),
    ("get_release_by_tag", {**REPO, "tag": "v1"}, ("GET", "/releases/tags/v1")),
    ("get_label", {**REPO, "name": "bug"}, ("GET", "/labels/bug")),
    ("list_issue_types", {"owner": "acme"}, ("GET", "/orgs/acme/issue-types")),
    (
        "issue_read",
        {**REPO, "method": "get_comments", "issue_number": 3},
        ("GET", "/issues/3/comments"),
    ),
    ("list_issues", {**REPO, "state": "OPEN", "labels": ["bug"]}, ("POST", "/graphql")),
    ("list_pull_requests", {**REPO, "state": "open", "base": "main"}, ("GET", "/pulls")),
    (
        "pull_request_read",
        {**REPO, "method": "get_status", "pullNumber": 4},
        ("GET", f"/commits/{SHA}/status"),
    ),
    ("search_code", {"query": "def main"}, ("GET", "/search/code")),
    ("search_issues", {"query": "crash", **REPO}, ("GET", "/search/issues")),
    ("search_pull_requests", {"query": "fix"}, ("GET", "/search/issues")),
    ("search_repositories", {"query": "tool"}, ("GET", "/search/repositories")),
    ("search_users", {"query": "alice"}, ("GET", "/search/users")),
    (
        "add_issue_comment",
        {**REPO, "issue_number": 3, "body": "hi"},
        ("POST", "/issues/3/comments"),
    ),
    (
        "add_reply_to_pull_request_comment",
        {**REPO, "pullNumber": 4, "commentId": 8, "body": "ok"},
        ("POST", "/pulls/4/comments/8/replies"),
    ),
    ("assign_copilot_to_issue", {**REPO, "issue_number": 3}, ("POST", "/issues/3/assignees")),
    ("create_branch", {**REPO, "branch": "fix", "from_branch": "main"}, ("POST", "/git/refs")),
    (
        "create_or_update_file",
        {**REPO, "path": "a.txt", "content": "x", "message": "m", "branch": "fix"},
        ("PUT", "/contents/a.txt"),
    ),
    (
        "delete_file",
        {**REPO, "path": "a.txt", "message": "m", "branch": "fix"},
        ("DELETE", "/contents/a.txt"),
    ),
    (
        "push_files",
        {**REPO, "branch": "fix", "message": "m", "files": [{"path": "b.txt", "content": "y"}]},
        ("PATCH", "/git/refs/heads/fix"),
    ),
    (
        "create_pull_request",
        {**REPO, "title": "Fix", "head": "fix", "base": "main"},
        ("POST", "/pulls"),
    ),
    (
        "update_pull_request",
        {**REPO, "pullNumber": 4, "title": "New", "reviewers": ["bob"]},
        ("POST", "/pulls/4/requested_reviewers"),
    ),
    ("update_pull_request_branch", {**REPO, "pullNumber": 4}, ("PUT", "/pulls/4/update-branch")),
    (
        "merge_pull_request",
        {**REPO, "pullNumber": 4, "merge_method": "squash"},
        ("PUT", "/pulls/4/merge"),
    ),
    ("request_copilot_review", {**REPO, "pullNumber": 4}, ("POST", "/pulls/4/requested_reviewers")),
    (
        "pull_request_review_write",
        {**REPO, "method": "submit_pending", "pullNumber": 4, "event": "COMMENT"},
        ("POST", "/pulls/4/reviews/77/events"),
    ),
    (
        "add_comment_to_pending_review",
        {
            **REPO,
            "pullNumber": 4,
            "path": "a.py",
            "body": "nit",
            "subjectType": "LINE",
            "line": 2,
            "side": "RIGHT",
        },
        ("POST", "/graphql"),
    ),
    (
        "issue_write",
        {**REPO, "method": "create", "title": "Bug", "labels": ["bug"]},
        ("POST", "/issues"),
    ),
    (
        "sub_issue_write",
        {**REPO, "method": "add", "issue_number": 3, "sub_issue_id": 11},
        ("POST", "/issues/3/sub_issues"),
    ),
    ("create_repository", {"name": "new", "private": True}, ("POST", "/user/repos")),
    ("fork_repository", {**REPO, "organization": "acme"}, ("POST", "/forks")),
]


async def test_lists_the_official_tools_with_their_schemas() -> None:
    async with stdio_session(ARGV) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert len(tools) == 41 and {name for name, _, _ in CALLS} == set(tools)
    assert tools["create_pull_request"].input_schema["required"] == [
        "owner",
        "repo",
        "title",
        "head",
        "base",
    ]
    assert tools["merge_pull_request"].input_schema["properties"]["merge_method"]["enum"] == [
        "merge",
        "squash",
        "rebase",
    ]
    assert tools["get_me"].annotations.read_only_hint is True
    assert tools["push_files"].annotations.read_only_hint is False


async def test_every_tool_once_without_leaking_the_token() -> None:
    env = {"GITHUB_PERSONAL_ACCESS_TOKEN": TOKEN, "IRONCURTAIN_GITHUB_API_URL": ""}
    with fake_github() as fake:
        env["IRONCURTAIN_GITHUB_API_URL"] = fake.url
        outputs: list[str] = []
        async with stdio_session(ARGV, env=env) as session:
            for tool, arguments, (method, suffix) in CALLS:
                before = len(fake.seen)
                result = await session.call_tool(tool, arguments)
                text = result_text(result)
                outputs.append(text + json.dumps(result.structured_content))
                assert not result.is_error, f"{tool}: {text}"
                made = [(s.method, s.path) for s in fake.seen[before:]]
                assert any(m == method and p.endswith(suffix) for m, p in made), (tool, made)
    assert all(s.headers.get("Authorization") == f"Bearer {TOKEN}" for s in fake.seen)
    assert not any(TOKEN in out for out in outputs)
    pushed = next(s.body for s in fake.seen if s.path.endswith("/git/trees"))
    assert pushed["tree"][0]["path"] == "b.txt" and pushed["base_tree"] == "d" * 40


async def test_a_tool_returns_the_page_asked_for() -> None:
    env = {"GITHUB_PERSONAL_ACCESS_TOKEN": TOKEN}
    with fake_github() as fake:
        env["IRONCURTAIN_GITHUB_API_URL"] = fake.url
        async with stdio_session(ARGV, env=env) as session:
            one = await session.call_tool("list_branches", {**REPO, "perPage": 1})
    # a tool returns the page asked for (page/perPage, as the official server does); following
    # Link headers across pages is tested on the client (test_github_api.py).
    assert one.structured_content["items"] == [{"name": "b1", "commit": {"sha": SHA}}]


async def test_errors_name_the_scope_and_never_the_token() -> None:
    env = {"GITHUB_PERSONAL_ACCESS_TOKEN": TOKEN}
    with fake_github() as fake:
        fake.scopes = "repo"
        env["IRONCURTAIN_GITHUB_API_URL"] = fake.url
        async with stdio_session(ARGV, env=env) as session:
            hidden = await session.call_tool("list_tags", {"owner": "private-org", "repo": "x"})
            forbidden = await session.call_tool(
                "create_repository", {"name": "n", "organization": "acme"}
            )
            fake.rate_limited(reset_in=3600)
            limited = await session.call_tool("get_me", {})
        user_calls = sum(1 for s in fake.seen if s.path == "/user")
        bad = {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_wrongWRONGwrong0000000000000000000000"}
        bad["IRONCURTAIN_GITHUB_API_URL"] = fake.url
        async with stdio_session(ARGV, env=bad) as session:
            refused = await session.call_tool("get_me", {})
    assert (
        hidden.is_error and "404" in result_text(hidden) and "scope(s): repo" in result_text(hidden)
    )
    assert forbidden.is_error and "admin:org" in result_text(forbidden)
    assert "the token has: repo" in result_text(forbidden)
    assert (
        limited.is_error
        and "rate limit" in result_text(limited)
        and "Not retried" in result_text(limited)
    )
    assert user_calls == 1  # a long wait is reported, not retried
    assert refused.is_error and "401" in result_text(refused)
    for result in (hidden, forbidden, limited, refused):
        assert TOKEN not in result_text(result) and "ghp_wrong" not in result_text(result)


def test_refuses_a_loopback_api_without_the_test_flag() -> None:
    with fake_github() as fake:
        env = {"GITHUB_PERSONAL_ACCESS_TOKEN": TOKEN, "IRONCURTAIN_GITHUB_API_URL": fake.url}
        cmd = [sys.executable, "-m", "appliance.cli", "serve", "--no-confine", "github"]
        done = subprocess.run(
            cmd,
            input=b"",
            capture_output=True,
            timeout=30,
            cwd=HERE.parents[1],
            env={**_helpers.os.environ, **env},
        )
    assert done.returncode == 2 and b"only https" in done.stderr
    assert fake.seen == []
