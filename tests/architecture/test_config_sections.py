"""Configuration flows one way and each part reads only its own section (issue 17).

The chokepoint package (trip, audit, escalation, approvals, the policy context) receives
``appliance.config.sections.ChokepointSettings``; nothing in it may import the whole ``Config``,
which holds API keys, server declarations and model settings it has no use for. The session's
budget takes the ``resourceBudget`` section. This test fails with the module and line that
reaches for the whole model.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# modules that must receive sections, never the whole Config
SECTION_ONLY = (*sorted((REPO / "appliance" / "chokepoint").rglob("*.py")),
                REPO / "appliance" / "session" / "budget.py")  # fmt: skip


def _whole_config_imports(path: Path, root: Path = REPO) -> list[str]:
    module = ".".join(path.relative_to(root).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("appliance.config"):
            found += [
                f"{module} (line {node.lineno}) imports {node.module}.Config, but the chokepoint"
                " and the budget read only their own section (appliance.config.sections)"
                for alias in node.names
                if alias.name == "Config"
            ]
    return found


def test_the_chokepoint_and_the_budget_never_import_the_whole_config() -> None:
    problems = [line for path in SECTION_ONLY for line in _whole_config_imports(path)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_whole_config_import(tmp_path: Path) -> None:
    """The rule attacks itself: a module that imports Config, at any depth, is named."""
    probe = tmp_path / "appliance" / "chokepoint" / "probe.py"
    probe.parent.mkdir(parents=True)
    source = "def f():\n    from appliance.config.settings import Config as C\n    return C\n"
    probe.write_text(source, encoding="utf-8")
    assert _whole_config_imports(probe, tmp_path) == [
        "appliance.chokepoint.probe (line 2) imports appliance.config.settings.Config,"
        " but the chokepoint and the budget read only their own section (appliance.config.sections)"
    ]
