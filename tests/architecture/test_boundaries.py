"""Every import in the product, checked against the boundary rules (boundaries.json).

The rules are data; each failure prints the rule's sentence, the module and the import, so a
reader learns the design from the error. Function-level imports count the same as top-level
ones: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = json.loads((Path(__file__).with_name("boundaries.json")).read_text())

# Calls that start a process (module, attribute); "*" is any attribute of the module.
_STARTERS = {
    ("subprocess", "*"),
    ("pty", "spawn"),
    ("pty", "fork"),
    ("asyncio", "create_subprocess_exec"),
    ("asyncio", "create_subprocess_shell"),
    ("anyio", "run_process"),
    ("anyio", "open_process"),
    *(
        ("os", name)
        for name in [
            *["system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp"],
            *["execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe"],
            *["spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle"],
        ]
    ),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, ast.Module]:
    found = {}
    for package in RULES["packages"]:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "build_out" in path.parts or (package == "wasm_guest" and "guest" in path.parts):
                continue  # the guest's own sources run inside the sandbox, not in the product
            found[_module_name(path)] = ast.parse(path.read_text(), str(path))
    return found


def _imports(module: str, tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = module.split(".")[: -node.level] if node.level else []
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            # 'from X import Y' is judged as X.Y (a rule on X covers it; one on X.Z does not)
            yield from (f"{prefix}.{alias.name}" for alias in node.names)


def _under(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _breaks(rule: dict, module: str, imported: str) -> bool:
    if not _under(module, rule["from"]) or _under(module, rule.get("except_from", [])):
        return False
    if not _under(imported, rule["may_not_import"]):
        return False
    for exception in rule.get("exceptions", []):
        if _under(module, [exception["from"]]) and _under(imported, [exception["import"]]):
            return False
    return True


def _violations(rule: dict) -> list[str]:
    found = set()
    for module, tree in _modules().items():
        for imported in _imports(module, tree):
            if _breaks(rule, module, imported):
                found.add(f"{module} imports {imported}")
    return sorted(found)


@pytest.mark.parametrize("rule", RULES["forbidden"], ids=lambda r: r["rule"][:60])
def test_forbidden_imports(rule: dict) -> None:
    broken = _violations(rule)
    assert not broken, f"Rule broken: {rule['rule']}.\n  " + "\n  ".join(broken)


@pytest.mark.parametrize("rule", RULES["only"], ids=lambda r: r["rule"][:60])
def test_only_named_modules_import_a_library(rule: dict) -> None:
    broken = sorted(
        {
            f"{module} imports {imported}"
            for module, tree in _modules().items()
            for imported in _imports(module, tree)
            if _under(imported, [rule["import"]]) and not _under(module, rule["from"])
        }
    )
    assert not broken, f"Rule broken: {rule['rule']}.\n  " + "\n  ".join(broken)


def _starts_processes(tree: ast.Module) -> list[str]:
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in _STARTERS or (node.value.id, "*") in _STARTERS:
                calls.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and node.module in ("subprocess", "pty"):
            calls.append(f"from {node.module} import … (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            named = {alias.name for alias in node.names}
            calls += [f"from os import {n}" for n in sorted(named) if ("os", n) in _STARTERS]
    return calls


def test_only_named_runner_modules_start_processes() -> None:
    named = RULES["process_starters"]["modules"]
    broken = [
        f"{module}: {', '.join(calls)}"
        for module, tree in _modules().items()
        if module not in named and (calls := _starts_processes(tree))
    ]
    rule = RULES["process_starters"]["rule"]
    assert not broken, f"Rule broken: {rule} ({', '.join(named)}).\n  " + "\n  ".join(broken)


def test_every_named_runner_still_starts_processes() -> None:
    """A runner that no longer starts anything leaves the list, so the list stays the truth."""
    idle = [m for m in RULES["process_starters"]["modules"] if not _starts_processes(_modules()[m])]
    assert not idle, f"named as process starters but start none: {idle}"


def test_the_rules_can_fail() -> None:
    """Each kind of rule catches a made-up breach (a check that cannot fail checks nothing)."""
    rule = RULES["forbidden"][0]
    assert _breaks(rule, "policy.engine", "appliance.chokepoint.trip")
    assert not _breaks(rule, "policy.compiler.llm", "litellm")
    tree = ast.parse("import subprocess\nsubprocess.run(['x'])\n")
    assert _starts_processes(tree)
