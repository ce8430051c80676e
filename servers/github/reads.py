"""Handlers of the read-only tools: each maps the official tool's arguments to GitHub's REST
(GraphQL for ``list_issues``, whose cursor paging only GraphQL has) and returns the JSON."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from servers.github.api import GitHubApi
from servers.wire.server import ToolError

__all__ = ["READS", "repo_path"]

Handler = Callable[[GitHubApi, dict[str, Any]], Any]


def repo_path(args: dict[str, Any]) -> str:
    """``/repos/OWNER/REPO`` with both names percent-encoded: an argument cannot add a path."""
    return f"/repos/{_seg(args['owner'])}/{_seg(args['repo'])}"


def _seg(value: Any) -> str:
    text = str(value)
    if not text or text in (".", ".."):
        raise ToolError(f"{text!r} is not a GitHub name")
    return quote(text, safe="")


def _page(args: dict[str, Any], default: int = 30) -> dict[str, Any]:
    return {
        "page": int(args.get("page", 1)),
        "per_page": min(int(args.get("perPage", default)), 100),
    }


def get_me(api: GitHubApi, args: dict[str, Any]) -> Any:
    return api.request("GET", "/user")


def get_teams(api: GitHubApi, args: dict[str, Any]) -> Any:
    if args.get("user"):
        raise ToolError("get_teams here reports the authenticated user's teams only; omit user")
    return api.paged("/user/teams", {"per_page": 100})


def get_team_members(api: GitHubApi, args: dict[str, Any]) -> Any:
    path = f"/orgs/{_seg(args['org'])}/teams/{_seg(args['team_slug'])}/members"
    return [m.get("login") for m in api.paged(path, {"per_page": 100})]


def get_file_contents(api: GitHubApi, args: dict[str, Any]) -> Any:
    path = "/".join(_seg(p) for p in str(args.get("path", "")).strip("/").split("/") if p)
    params = (
        {"ref": args.get("sha") or args.get("ref")} if args.get("sha") or args.get("ref") else None
    )
    body = api.request("GET", f"{repo_path(args)}/contents/{path}", params=params)
    if isinstance(body, dict) and body.get("encoding") == "base64" and "content" in body:
        raw = base64.b64decode(body["content"])
        try:
            body = {**body, "content": raw.decode("utf-8"), "encoding": "utf-8"}
        except UnicodeDecodeError:
            body = {**body, "content": f"[binary file, {len(raw)} bytes]", "encoding": "none"}
    return body


def list_branches(api: GitHubApi, args: dict[str, Any]) -> Any:
    return api.paged(f"{repo_path(args)}/branches", _page(args))


def list_commits(api: GitHubApi, args: dict[str, Any]) -> Any:
    params = _page(args)
    for key in ("sha", "author"):
        if args.get(key):
            params[key] = args[key]
    return api.paged(f"{repo_path(args)}/commits", params)


def get_commit(api: GitHubApi, args: dict[str, Any]) -> Any:
    body = api.request("GET", f"{repo_path(args)}/commits/{_seg(args['sha'])}", params=_page(args))
    if not args.get("include_diff", True) and isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("files", "stats")}
    return body


def list_tags(api: GitHubApi, args: dict[str, Any]) -> Any:
    return api.paged(f"{repo_path(args)}/tags", _page(args))


def get_tag(api: GitHubApi, args: dict[str, Any]) -> Any:
    ref = api.request("GET", f"{repo_path(args)}/git/ref/tags/{_seg(args['tag'])}")
    target = ref.get("object", {})
    if target.get("type") == "tag":
        return api.request("GET", f"{repo_path(args)}/git/tags/{_seg(target['sha'])}")
    return ref


def list_releases(api: GitHubApi, args: dict[str, Any]) -> Any:
    return api.paged(f"{repo_path(args)}/releases", _page(args))


def get_latest_release(api: GitHubApi, args: dict[str, Any]) -> Any:
    return api.request("GET", f"{repo_path(args)}/releases/latest")


def get_release_by_tag(api: GitHubApi, args: dict[str, Any]) -> Any:
    return api.request("GET", f"{repo_path(args)}/releases/tags/{_seg(args['tag'])}")


def get_label(api: GitHubApi, args: dict[str, Any]) -> Any:
    return api.request("GET", f"{repo_path(args)}/labels/{_seg(args['name'])}")


def list_issue_types(api: GitHubApi, args: dict[str, Any]) -> Any:
    return api.request("GET", f"/orgs/{_seg(args['owner'])}/issue-types")


def issue_read(api: GitHubApi, args: dict[str, Any]) -> Any:
    base = f"{repo_path(args)}/issues/{int(args['issue_number'])}"
    method = args["method"]
    if method == "get":
        return api.request("GET", base)
    suffix = {"get_comments": "/comments", "get_sub_issues": "/sub_issues", "get_labels": "/labels"}
    if method in suffix:
        return api.paged(base + suffix[method], _page(args))
    if method == "get_parent":
        return api.request("GET", base + "/parent")
    raise ToolError(f"issue_read: unknown method {method!r}")


_LIST_ISSUES = """
query($owner: String!, $repo: String!, $first: Int!, $after: String, $states: [IssueState!],
      $labels: [String!], $since: DateTime, $field: IssueOrderField!, $direction: OrderDirection!) {
  repository(owner: $owner, name: $repo) {
    issues(first: $first, after: $after, states: $states, labels: $labels,
           filterBy: {since: $since}, orderBy: {field: $field, direction: $direction}) {
      nodes { number title state url createdAt updatedAt author { login }
              labels(first: 20) { nodes { name } } comments { totalCount } }
      pageInfo { hasNextPage endCursor }
      totalCount
    }
  }
}"""


def list_issues(api: GitHubApi, args: dict[str, Any]) -> Any:
    state = args.get("state")
    variables = {
        "owner": args["owner"],
        "repo": args["repo"],
        "first": min(int(args.get("perPage", 30)), 100),
        "after": args.get("after"),
        "states": [state] if state else ["OPEN", "CLOSED"],
        "labels": args.get("labels") or None,
        "since": args.get("since"),
        "field": args.get("orderBy", "CREATED_AT"),
        "direction": args.get("direction", "DESC"),
    }
    data = api.graphql(_LIST_ISSUES, variables)
    issues = (data.get("repository") or {}).get("issues") or {}
    return {
        "issues": issues.get("nodes", []),
        "pageInfo": issues.get("pageInfo", {}),
        "totalCount": issues.get("totalCount", 0),
    }


def list_pull_requests(api: GitHubApi, args: dict[str, Any]) -> Any:
    params = _page(args)
    for key in ("state", "head", "base", "sort", "direction"):
        if args.get(key):
            params[key] = args[key]
    return api.paged(f"{repo_path(args)}/pulls", params)


_PR_SUFFIX = {
    "get_files": "/files",
    "get_commits": "/commits",
    "get_review_comments": "/comments",
    "get_reviews": "/reviews",
}


def pull_request_read(api: GitHubApi, args: dict[str, Any]) -> Any:
    base = f"{repo_path(args)}/pulls/{int(args['pullNumber'])}"
    method = args["method"]
    if method == "get":
        return api.request("GET", base)
    if method == "get_diff":
        return api.request("GET", base, accept="application/vnd.github.diff")
    if method in _PR_SUFFIX:
        return api.paged(base + _PR_SUFFIX[method], _page(args))
    if method == "get_comments":
        issue = f"{repo_path(args)}/issues/{int(args['pullNumber'])}/comments"
        return api.paged(issue, _page(args))
    head = api.request("GET", base).get("head", {}).get("sha", "")
    if method == "get_status":
        return api.request("GET", f"{repo_path(args)}/commits/{_seg(head)}/status")
    if method == "get_check_runs":
        return api.request("GET", f"{repo_path(args)}/commits/{_seg(head)}/check-runs")
    raise ToolError(f"pull_request_read: unknown method {method!r}")


def _search(kind: str, qualifier: str = "") -> Handler:
    def handler(api: GitHubApi, args: dict[str, Any]) -> Any:
        query = str(args["query"])
        if qualifier and qualifier not in query:
            query = f"{qualifier} {query}"
        if args.get("owner") and args.get("repo"):
            query = f"repo:{args['owner']}/{args['repo']} {query}"
        elif args.get("owner"):
            query = f"user:{args['owner']} {query}"
        params = {"q": query, **_page(args)}
        for key in ("sort", "order"):
            if args.get(key):
                params[key] = args[key]
        body = api.request("GET", f"/search/{kind}", params=params)
        if kind == "repositories" and args.get("minimal_output", True):
            keep = ("full_name", "description", "html_url", "stargazers_count", "language")
            items = [{k: item.get(k) for k in keep} for item in body.get("items", [])]
            body = {**body, "items": items}
        return body

    return handler


READS: dict[str, Handler] = {
    "get_me": get_me,
    "get_teams": get_teams,
    "get_team_members": get_team_members,
    "get_file_contents": get_file_contents,
    "list_branches": list_branches,
    "list_commits": list_commits,
    "get_commit": get_commit,
    "list_tags": list_tags,
    "get_tag": get_tag,
    "list_releases": list_releases,
    "get_latest_release": get_latest_release,
    "get_release_by_tag": get_release_by_tag,
    "get_label": get_label,
    "list_issue_types": list_issue_types,
    "issue_read": issue_read,
    "list_issues": list_issues,
    "list_pull_requests": list_pull_requests,
    "pull_request_read": pull_request_read,
    "search_code": _search("code"),
    "search_issues": _search("issues", "is:issue"),
    "search_pull_requests": _search("issues", "is:pr"),
    "search_repositories": _search("repositories"),
    "search_users": _search("users"),
}
