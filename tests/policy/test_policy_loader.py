"""Loading policy folders: IronCurtain's shapes accepted, every mistake named precisely."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy.loader import default_policy_dir, load_policy
from policy.models import PolicyLoadError

# The shapes of IronCurtain's own files (facts of the format), with its metadata keys.
IRONCURTAIN_RULES = {
    "generatedAt": "2026-02-19T18:06:22.142Z",
    "constitutionHash": "1a55",
    "inputHash": "fb9c",
    "serverName": "fetch",
    "listDefinitions": [{"name": "news", "type": "domains"}],
    "rules": [
        {
            "name": "allow-downloads",
            "description": "Downloads",
            "principle": "guidance",
            "if": {"paths": {"roles": ["read-path", "write-path"], "within": "/home/u/Downloads"}},
            "then": "allow",
            "reason": "ok",
        },
        {
            "name": "allow-news",
            "description": "news",
            "principle": "p",
            "if": {
                "server": ["fetch"],
                "tool": ["http_fetch"],
                "domains": {"roles": ["fetch-url"], "allowed": ["@news"]},
            },
            "then": "allow",
            "reason": "news",
        },
        {
            "name": "info",
            "description": "d",
            "principle": "p",
            "if": {"tool": ["list_allowed_directories"], "sideEffects": False},
            "then": "allow",
            "reason": "r",
        },
    ],
}
IRONCURTAIN_ANNOTATIONS = {
    "generatedAt": "x",
    "servers": {
        "filesystem": {
            "inputHash": "d8d1",
            "tools": [
                {
                    "toolName": "read_multiple_files",
                    "comment": "c",
                    "sideEffects": True,
                    "args": {"paths": ["read-path"]},
                    "serverName": "filesystem",
                },
                {
                    "toolName": "list_allowed_directories",
                    "comment": "c",
                    "sideEffects": False,
                    "args": {},
                    "serverName": "filesystem",
                },
            ],
        }
    },
}
IRONCURTAIN_LISTS = {
    "generatedAt": "x",
    "lists": {
        "news": {
            "values": ["bbc.com"],
            "manualAdditions": [],
            "manualRemovals": [],
            "resolvedAt": "x",
            "inputHash": "5906",
        }
    },
}


def write(folder: Path, rules: Any = None, annotations: Any = None, lists: Any = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (
        ("compiled-policy.json", IRONCURTAIN_RULES if rules is None else rules),
        ("tool-annotations.json", IRONCURTAIN_ANNOTATIONS if annotations is None else annotations),
        ("dynamic-lists.json", IRONCURTAIN_LISTS if lists is None else lists),
    ):
        if data is not False:
            text = data if isinstance(data, str) else json.dumps(data)
            (folder / name).write_text(text)
    return folder


def test_ironcurtain_files_load_unchanged(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path))
    assert [r.name for r in policy.rules] == ["allow-downloads", "allow-news", "info"]
    assert policy.lists == {"news": ("bbc.com",)}
    assert policy.plan_for("filesystem", "read_multiple_files") is not None
    assert len(policy.digest) == 64


def test_dynamic_lists_file_is_optional(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, lists=False))
    assert policy.lists == {}
    assert policy.missing_lists == ("news",)


def test_the_shipped_policy_loads() -> None:
    policy = load_policy(default_policy_dir())
    assert policy.rules and not policy.missing_lists


def test_digest_ignores_metadata_and_follows_content(tmp_path: Path) -> None:
    base = load_policy(write(tmp_path / "a")).digest
    renamed = json.loads(json.dumps(IRONCURTAIN_RULES))
    renamed["generatedAt"] = "another day"
    assert load_policy(write(tmp_path / "b", rules=renamed)).digest == base
    renamed["rules"][0]["then"] = "escalate"
    assert load_policy(write(tmp_path / "c", rules=renamed)).digest != base
    more = json.loads(json.dumps(IRONCURTAIN_LISTS))
    more["lists"]["news"]["manualAdditions"] = ["cnn.com"]
    assert load_policy(write(tmp_path / "d", lists=more)).digest != base


def _mutated(data: dict, path: list[Any], value: Any) -> dict:
    copy = json.loads(json.dumps(data))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


@pytest.mark.parametrize(
    ("file", "path", "value", "where", "expected"),
    [
        (
            "rules",
            ["rules", 0, "then"],
            "maybe",
            "$.rules[0].then",
            "'allow', 'deny' or 'escalate'",
        ),
        (
            "rules",
            ["rules", 0, "if", "paths", "within"],
            "Downloads",
            "$.rules[0].if.paths.within",
            "absolute",
        ),
        (
            "rules",
            ["rules", 1, "if", "domains", "roles"],
            ["fetch-uri"],
            "$.rules[1].if.domains.roles[0]",
            "'fetch-url'",
        ),
        ("rules", ["rules", 0, "if", "color"], "red", "$.rules[0].if.color", "Extra inputs"),
        ("rules", ["rules", 1, "name"], "allow-downloads", "$.rules[1].name", "unique"),
        ("rules", ["rules", 0, "name"], "default-deny", "$.rules[0].name", "structural"),
        ("rules", ["rules"], "all", "$.rules", "tuple"),
        (
            "annotations",
            ["servers", "filesystem", "tools", 0, "serverName"],
            "git",
            "$.servers.filesystem.tools[0].serverName",
            "'filesystem'",
        ),
        (
            "annotations",
            ["servers", "filesystem", "tools", 0, "args", "paths"],
            ["read-pth"],
            "$.servers.filesystem.tools[0].args.paths[0]",
            "read-path",
        ),
        (
            "annotations",
            ["servers", "filesystem", "tools", 0, "args", "bad key!"],
            ["none"],
            "$.servers.filesystem.tools[0].args",
            "argument key",
        ),
        (
            "annotations",
            ["servers", "filesystem", "tools", 0, "args", "paths"],
            {
                "default": ["read-path"],
                "when": [{"arg": "x", "equals": 1, "in": [1], "roles": ["none"]}],
            },
            "$.servers.filesystem.tools[0].args.paths.when[0]",
            "exactly one",
        ),
        (
            "annotations",
            ["servers", "filesystem", "tools", 1, "toolName"],
            "read_multiple_files",
            "$.servers.filesystem.tools[1].toolName",
            "unique",
        ),
        (
            "annotations",
            ["servers", "filesystem", "tools", 0, "args", "paths"],
            {"default": ["read-path"], "when": [{"arg": "nope", "equals": 1, "roles": ["none"]}]},
            "$.servers.filesystem.tools[0].args",
            "'nope' is not an argument",
        ),
        ("lists", ["lists", "news", "values"], "bbc.com", "$.lists.news.values", "tuple"),
    ],
)
def test_a_bad_field_is_named_with_file_path_value_and_expectation(
    tmp_path: Path, file: str, path: list, value: Any, where: str, expected: str
) -> None:
    originals = {
        "rules": IRONCURTAIN_RULES,
        "annotations": IRONCURTAIN_ANNOTATIONS,
        "lists": IRONCURTAIN_LISTS,
    }
    folder = write(tmp_path, **{file: _mutated(originals[file], path, value)})
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(folder)
    error = caught.value
    assert error.where == where
    assert expected in error.expected or expected in str(error)
    assert Path(error.file).parent == folder
    assert str(folder) in str(error)


def test_missing_and_unparsable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match=r"compiled-policy\.json.*does not exist"):
        load_policy(write(tmp_path / "a", rules=False))
    with pytest.raises(PolicyLoadError, match=r"tool-annotations.json: line 1 column 2"):
        load_policy(write(tmp_path / "b", annotations="{oops"))
