"""The hand-written invariants: well-formed, and held by the shipped policy."""

from __future__ import annotations

from policy.compiler.scenarios import CONTEXT, load_invariants
from policy.compiler.verify import find_failures
from policy.loader import Policy, default_policy_dir, load_policy
from policy.models import DynamicListsFile, ToolAnnotationsFile
from tests.compiler.support import protected


def test_the_shipped_policy_holds_every_invariant():
    invariants = load_invariants()
    assert invariants.context == CONTEXT  # so the exact ones can go into test-scenarios.json
    assert len(invariants.invariants) >= 15
    assert (
        find_failures(load_policy(default_policy_dir()), (), CONTEXT, invariants, protected) == []
    )


def test_an_invariant_is_checked_not_merely_listed():
    """A policy without the shipped rules' escalations must break the 'never allow' ones."""
    shipped = load_policy(default_policy_dir())
    loose_rule = shipped.rules[0].model_copy(
        update={
            "name": "allow-everything-for-test",
            "when": shipped.rules[0].when.model_copy(
                update={
                    "server": None,
                    "tool": None,
                    "side_effects": None,
                    "roles": (
                        "write-path",
                        "delete-path",
                        "read-path",
                        "git-remote-url",
                        "delete-history",
                        "write-history",
                        "branch-name",
                        "github-owner",
                        "github-repo",
                    ),
                }
            ),
        }
    )
    annotations = ToolAnnotationsFile.model_validate_json(
        (default_policy_dir() / "tool-annotations.json").read_bytes()
    )
    loose = Policy.build((loose_rule,), annotations, DynamicListsFile())
    failures = find_failures(loose, (), CONTEXT, load_invariants(), protected)
    never_allow = [i for i in load_invariants().invariants if i.never == "allow"]
    assert {f.description for f in failures} == {i.description for i in never_allow}
    assert all(f.invariant and f.got == "allow" for f in failures)
