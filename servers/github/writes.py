"""Handlers of the tools that change something on GitHub. The policy escalates every one of
them by default; here they only map the official arguments to REST (GraphQL for review threads,
which REST cannot add to a pending review)."""

from __future__ import annotations

import base64
from typing import Any

from servers.github.api import GitHubApi
from servers.github.reads import Handler, _seg, repo_path
from servers.wire.server import ToolError

__all__ = ["WRITES"]

COPILOT_AGENT = "Copilot"
COPILOT_REVIEWER = "copilot-pull-request-reviewer[bot]"


def _pick(args: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: args[key] for key in keys if args.get(key) is not None}


def _file_path(args: dict[str, Any]) -> str:
    return "/".join(_seg(p) for p in str(args["path"]).strip("/").split("/") if p)


def add_issue_comment(api: GitHubApi, args: dict[str, Any]) -> Any:
    path = f"{repo_path(args)}/issues/{int(args['issue_number'])}/comments"
    return api.request("POST", path, json={"body": args.get("body", "")})


def add_reply_to_pull_request_comment(api: GitHubApi, args: dict[str, Any]) -> Any:
    if "pullNumber" not in args:
        raise ToolError("add_reply_to_pull_request_comment needs pullNumber")
    path = (
        f"{repo_path(args)}/pulls/{int(args['pullNumber'])}/comments/"
        f"{int(args['commentId'])}/replies"
    )
    return api.request("POST", path, json={"body": args.get("body", "")})


def assign_copilot_to_issue(api: GitHubApi, args: dict[str, Any]) -> Any:
    body: dict[str, Any] = {"assignees": [COPILOT_AGENT]}
    assignment = _pick(args, "base_ref", "custom_instructions")
    if assignment:
        body["agent_assignment"] = assignment
    path = f"{repo_path(args)}/issues/{int(args['issue_number'])}/assignees"
    return api.request("POST", path, json=body)


def create_branch(api: GitHubApi, args: dict[str, Any]) -> Any:
    source = args.get("from_branch")
    if not source:
        source = api.request("GET", repo_path(args)).get("default_branch")
    ref = api.request("GET", f"{repo_path(args)}/git/ref/heads/{_seg(source)}")
    sha = ref.get("object", {}).get("sha")
    body = {"ref": f"refs/heads/{args['branch']}", "sha": sha}
    return api.request("POST", f"{repo_path(args)}/git/refs", json=body)


def create_or_update_file(api: GitHubApi, args: dict[str, Any]) -> Any:
    content = base64.b64encode(str(args["content"]).encode("utf-8")).decode("ascii")
    body = {"message": args["message"], "content": content, "branch": args["branch"]}
    body.update(_pick(args, "sha"))
    return api.request("PUT", f"{repo_path(args)}/contents/{_file_path(args)}", json=body)


def delete_file(api: GitHubApi, args: dict[str, Any]) -> Any:
    path = f"{repo_path(args)}/contents/{_file_path(args)}"
    current = api.request("GET", path, params={"ref": args["branch"]})
    if not isinstance(current, dict) or "sha" not in current:
        raise ToolError(f"{args['path']!r} is not a file on {args['branch']!r}")
    body = {"message": args["message"], "branch": args["branch"], "sha": current["sha"]}
    return api.request("DELETE", path, json=body)


def push_files(api: GitHubApi, args: dict[str, Any]) -> Any:
    """One commit with every file, through the Git database API (blobs, tree, commit, ref)."""
    files = args["files"]
    if not files or not all(isinstance(f, dict) and "path" in f and "content" in f for f in files):
        raise ToolError("push_files: files must be a non-empty list of {path, content}")
    base = repo_path(args)
    ref = api.request("GET", f"{base}/git/ref/heads/{_seg(args['branch'])}")
    parent = ref["object"]["sha"]
    commit = api.request("GET", f"{base}/git/commits/{_seg(parent)}")
    tree = [
        {"path": str(f["path"]), "mode": "100644", "type": "blob", "content": str(f["content"])}
        for f in files
    ]
    new_tree = api.request(
        "POST", f"{base}/git/trees", json={"base_tree": commit["tree"]["sha"], "tree": tree}
    )
    new_commit = api.request(
        "POST",
        f"{base}/git/commits",
        json={"message": args["message"], "tree": new_tree["sha"], "parents": [parent]},
    )
    return api.request(
        "PATCH",
        f"{base}/git/refs/heads/{_seg(args['branch'])}",
        json={"sha": new_commit["sha"], "force": False},
    )


def create_pull_request(api: GitHubApi, args: dict[str, Any]) -> Any:
    body = _pick(args, "title", "head", "base", "body", "draft", "maintainer_can_modify")
    return api.request("POST", f"{repo_path(args)}/pulls", json=body)


def update_pull_request(api: GitHubApi, args: dict[str, Any]) -> Any:
    base = f"{repo_path(args)}/pulls/{int(args['pullNumber'])}"
    body = _pick(args, "title", "body", "state", "base", "maintainer_can_modify")
    result = api.request("PATCH", base, json=body) if body else api.request("GET", base)
    if args.get("reviewers"):
        api.request("POST", base + "/requested_reviewers", json={"reviewers": args["reviewers"]})
    if "draft" in args:
        change = "convertPullRequestToDraft" if args["draft"] else "markPullRequestReadyForReview"
        mutation = (
            f"mutation($id: ID!) {{ {change}(input: {{pullRequestId: $id}}) "
            "{ clientMutationId } }"
        )
        api.graphql(mutation, {"id": result.get("node_id")})
    return result


def update_pull_request_branch(api: GitHubApi, args: dict[str, Any]) -> Any:
    path = f"{repo_path(args)}/pulls/{int(args['pullNumber'])}/update-branch"
    body = {"expected_head_sha": args["expectedHeadSha"]} if args.get("expectedHeadSha") else {}
    return api.request("PUT", path, json=body)


def merge_pull_request(api: GitHubApi, args: dict[str, Any]) -> Any:
    path = f"{repo_path(args)}/pulls/{int(args['pullNumber'])}/merge"
    return api.request(
        "PUT", path, json=_pick(args, "commit_title", "commit_message", "merge_method")
    )


def request_copilot_review(api: GitHubApi, args: dict[str, Any]) -> Any:
    path = f"{repo_path(args)}/pulls/{int(args['pullNumber'])}/requested_reviewers"
    return api.request("POST", path, json={"reviewers": [COPILOT_REVIEWER]})


def _pending_review(api: GitHubApi, args: dict[str, Any]) -> dict[str, Any]:
    login = api.request("GET", "/user").get("login")
    path = f"{repo_path(args)}/pulls/{int(args['pullNumber'])}/reviews"
    for review in api.paged(path, {"per_page": 100}, pages=MAX_REVIEW_PAGES):
        if review.get("state") == "PENDING" and (review.get("user") or {}).get("login") == login:
            return review
    raise ToolError("there is no pending review of yours on this pull request; create one first")


MAX_REVIEW_PAGES = 3


def pull_request_review_write(api: GitHubApi, args: dict[str, Any]) -> Any:
    base = f"{repo_path(args)}/pulls/{int(args['pullNumber'])}/reviews"
    method = args["method"]
    if method == "create":
        body = _pick(args, "body", "event")
        if args.get("commitID"):
            body["commit_id"] = args["commitID"]
        return api.request("POST", base, json=body)
    if method == "submit_pending":
        review = _pending_review(api, args)
        body = {"event": args.get("event", "COMMENT"), **_pick(args, "body")}
        return api.request("POST", f"{base}/{int(review['id'])}/events", json=body)
    if method == "delete_pending":
        review = _pending_review(api, args)
        return api.request("DELETE", f"{base}/{int(review['id'])}")
    raise ToolError(f"pull_request_review_write: method {method!r} is not offered here")


_ADD_THREAD = """
mutation($review: ID!, $path: String!, $body: String!, $subject: PullRequestReviewThreadSubjectType,
         $line: Int, $side: DiffSide, $startLine: Int, $startSide: DiffSide) {
  addPullRequestReviewThread(input: {pullRequestReviewId: $review, path: $path, body: $body,
      subjectType: $subject, line: $line, side: $side, startLine: $startLine,
      startSide: $startSide}) { thread { id isResolved } }
}"""


def add_comment_to_pending_review(api: GitHubApi, args: dict[str, Any]) -> Any:
    review = _pending_review(api, args)
    variables = {
        "review": review.get("node_id"),
        "path": args["path"],
        "body": args["body"],
        "subject": args["subjectType"],
        "line": args.get("line"),
        "side": args.get("side"),
        "startLine": args.get("startLine"),
        "startSide": args.get("startSide"),
    }
    return api.graphql(_ADD_THREAD, variables)


def issue_write(api: GitHubApi, args: dict[str, Any]) -> Any:
    body = _pick(args, "title", "body", "labels", "assignees", "milestone", "type", "state")
    if args.get("state_reason"):
        body["state_reason"] = args["state_reason"]
    if args["method"] == "create":
        if not args.get("title"):
            raise ToolError("issue_write create needs a title")
        return api.request("POST", f"{repo_path(args)}/issues", json=body)
    if args["method"] == "update":
        if "issue_number" not in args:
            raise ToolError("issue_write update needs issue_number")
        path = f"{repo_path(args)}/issues/{int(args['issue_number'])}"
        return api.request("PATCH", path, json=body)
    raise ToolError(f"issue_write: unknown method {args['method']!r}")


def sub_issue_write(api: GitHubApi, args: dict[str, Any]) -> Any:
    base = f"{repo_path(args)}/issues/{int(args['issue_number'])}"
    method = args["method"]
    sub = int(args["sub_issue_id"])
    if method == "add":
        body: dict[str, Any] = {"sub_issue_id": sub, **_pick(args, "replace_parent")}
        return api.request("POST", base + "/sub_issues", json=body)
    if method == "remove":
        return api.request("DELETE", base + "/sub_issue", json={"sub_issue_id": sub})
    if method == "reprioritize":
        body = {"sub_issue_id": sub, **_pick(args, "after_id", "before_id")}
        return api.request("PATCH", base + "/sub_issues/priority", json=body)
    raise ToolError(f"sub_issue_write: unknown method {method!r} (add, remove, reprioritize)")


def create_repository(api: GitHubApi, args: dict[str, Any]) -> Any:
    body = {"name": args["name"], **_pick(args, "description", "private")}
    if "autoInit" in args:
        body["auto_init"] = args["autoInit"]
    org = args.get("organization")
    path = f"/orgs/{_seg(org)}/repos" if org else "/user/repos"
    return api.request("POST", path, json=body)


def fork_repository(api: GitHubApi, args: dict[str, Any]) -> Any:
    return api.request("POST", f"{repo_path(args)}/forks", json=_pick(args, "organization"))


WRITES: dict[str, Handler] = {
    "add_comment_to_pending_review": add_comment_to_pending_review,
    "add_issue_comment": add_issue_comment,
    "add_reply_to_pull_request_comment": add_reply_to_pull_request_comment,
    "assign_copilot_to_issue": assign_copilot_to_issue,
    "create_branch": create_branch,
    "create_or_update_file": create_or_update_file,
    "create_pull_request": create_pull_request,
    "create_repository": create_repository,
    "delete_file": delete_file,
    "fork_repository": fork_repository,
    "issue_write": issue_write,
    "merge_pull_request": merge_pull_request,
    "pull_request_review_write": pull_request_review_write,
    "push_files": push_files,
    "request_copilot_review": request_copilot_review,
    "sub_issue_write": sub_issue_write,
    "update_pull_request": update_pull_request,
    "update_pull_request_branch": update_pull_request_branch,
}
