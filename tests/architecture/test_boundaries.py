"""Every import of the appliance against the boundary rules in ``boundary_rules.py``.

Walks each module's syntax tree (function-level imports included, so a lazy import cannot hide a
crossing) and fails with one sentence per broken rule: which module, which line, what it imported
and the rule's own sentence. Imports under ``if TYPE_CHECKING:`` are counted too: a boundary that
holds only at run time is not one a reader can see.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from boundary_rules import (
    DYNAMIC,
    PENDING,
    PROCESS,
    ROOTS,
    RULES,
    SERVER_IMPLEMENTATIONS,
    STDLIB_LEAVES,
    Rule,
)

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = {"build_out", "__pycache__"}


@dataclass(frozen=True)
class Use:
    """One import (or process start) in one module."""

    module: str
    line: int
    target: str  # dotted name imported, or PROCESS


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            if SKIP_DIRS.isdisjoint(path.relative_to(REPO).parts):
                found[module_name(path)] = path
    return found


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


_PROCESS_MODULES = ("subprocess", "pty", "multiprocessing")
_PROCESS_ATTRS = re.compile(
    r"^(create_subprocess_(exec|shell)|subprocess_(exec|shell)|open_process|run_process"
    r"|posix_spawnp?|forkpty|exec[lv]p?e?|spawn[lv]p?e?)$"
)
_OS_ONLY = {"fork", "system", "popen"}


def _starts_process(node: ast.AST) -> bool:
    """A call to any function that starts a process, by the attribute's name."""
    if not isinstance(node, ast.Attribute):
        return False
    if _PROCESS_ATTRS.match(node.attr):
        return True
    return node.attr in _OS_ONLY and isinstance(node.value, ast.Name) and node.value.id == "os"


def _dynamic_import(node: ast.AST) -> str | None:
    """``importlib.import_module(X)`` or ``__import__(X)``: X when a literal, else DYNAMIC."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__"):
        return None
    first = node.args[0]
    literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
    return first.value if literal else DYNAMIC


def uses_of(module: str, path: Path) -> list[Use]:
    """Every import (as a dotted name: ``a.b.c`` for ``from a.b import c``), dynamic import and
    process start."""
    return uses_in(module, path.read_text(), is_package=path.name == "__init__.py")


def uses_in(module: str, source: str, *, is_package: bool = False) -> list[Use]:
    tree = ast.parse(source)
    found: list[Use] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Use(module, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node)
            found += [Use(module, node.lineno, f"{base}.{alias.name}") for alias in node.names]
            if base == "os" and any(_PROCESS_ATTRS.match(a.name) or a.name in _OS_ONLY
                                    for a in node.names):  # fmt: skip
                found.append(Use(module, node.lineno, PROCESS))
        elif _starts_process(node):
            found.append(Use(module, node.lineno, PROCESS))
        elif (target := _dynamic_import(node)) is not None:
            found.append(Use(module, node.lineno, target))
            if target.split(".")[0] in _PROCESS_MODULES:
                found.append(Use(module, node.lineno, PROCESS))
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            u.target.split(".")[0] in _PROCESS_MODULES for u in found[-len(node.names) :]
        ):
            found.append(Use(module, node.lineno, PROCESS))
    return found


def under(name: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def forbidden_for(rule: Rule, module: str) -> tuple[str, ...]:
    if rule.id == "servers-apart":
        own = [s for s in SERVER_IMPLEMENTATIONS if under(module, [s])]
        return tuple(s for s in SERVER_IMPLEMENTATIONS if s not in own)
    return rule.forbidden


def breaks(rule: Rule, use: Use) -> bool:
    if not under(use.module, rule.where) or under(use.module, rule.except_where):
        return False
    return any(
        use.target == f if f.startswith("<") else under(use.target, [f])
        for f in forbidden_for(rule, use.module)
    )


def _excused(rule: Rule, use: Use) -> bool:
    return any(under(use.module, [m]) for m in rule.exceptions)


def _pending(rule: Rule, use: Use) -> bool:
    return any(
        rule.id == rid and use.module == importer and under(use.target, [target])
        for rid, importer, target, _ in PENDING
    )


@pytest.fixture(scope="module")
def uses() -> list[Use]:
    return [use for module, path in all_modules().items() for use in uses_of(module, path)]


def sentence(rule: Rule, use: Use) -> str:
    what = {PROCESS: "starts a process", DYNAMIC: "imports a module named at run time"}.get(
        use.target, f"imports {use.target}"
    )
    return f"{use.module} (line {use.line}) {what}, but {rule.sentence} [rule {rule.id}]"


def test_every_import_keeps_the_boundaries(uses: list[Use]) -> None:
    broken = [
        sentence(rule, use)
        for rule in RULES
        for use in uses
        if breaks(rule, use) and not _excused(rule, use) and not _pending(rule, use)
    ]
    assert not broken, "boundary broken:\n" + "\n".join(sorted(set(broken)))


def test_every_exception_still_excuses_something(uses: list[Use]) -> None:
    """An exception kept after its reason went away would silently allow the next violation."""
    stale = [
        f"rule {rule.id}: the exception for {module} excuses nothing any more; remove it"
        for rule in RULES
        for module in rule.exceptions
        if not any(breaks(rule, u) and under(u.module, [module]) for u in uses)
    ]
    assert not stale, "\n".join(stale)


def test_pending_violations_still_exist(uses: list[Use]) -> None:
    """A pending entry (another issue removes it) must go once the import is gone."""
    rules = {rule.id: rule for rule in RULES}
    gone = [
        f"{importer} no longer imports {target} (issue {issue}): remove it from PENDING"
        for rid, importer, target, issue in PENDING
        if not any(
            u.module == importer and under(u.target, [target]) and breaks(rules[rid], u)
            for u in uses
        )
    ]
    assert not gone, "\n".join(gone)


def test_wire_leaves_import_only_the_standard_library(uses: list[Use]) -> None:
    """policy.safe_json and policy.schema are shared with the servers; they stay stdlib-only."""
    outside = [
        f"{use.module} (line {use.line}) imports {use.target}, but it is shared with the"
        " servers and may import only the standard library [rule wire-leaves-are-stdlib]"
        for use in uses
        if use.module in STDLIB_LEAVES
        and not use.target.startswith("<")
        and use.target.split(".")[0] not in sys.stdlib_module_names
        and not use.target.startswith("__future__")
    ]
    assert not outside, "\n".join(outside)


def test_the_walker_sees_what_it_must(tmp_path: Path) -> None:
    """The checks cannot pass by seeing nothing: lazy imports, relative imports and each way to
    start a process are found in a module written for the purpose."""
    source = tmp_path / "probe.py"
    source.write_text(
        "import os\nfrom . import sibling\n"
        "def f():\n    import wasmtime\n    from ..x import y\n"
        "    os.execvp('a', ['a'])\n    os.system('a')\n"
        "async def g(loop):\n    import asyncio\n    await asyncio.create_subprocess_exec('a')\n"
        "    await loop.subprocess_shell('a')\n"
        "def h():\n    from pty import spawn\n    from os import posix_spawn\n"
    )
    found = uses_of("pkg.sub.probe", source)
    targets = [u.target for u in found]
    assert "wasmtime" in targets and "pkg.sub.sibling" in targets and "pkg.x.y" in targets
    assert sorted(u.line for u in found if u.target == PROCESS) == [6, 7, 10, 11, 13, 14]
    rule = next(r for r in RULES if r.id == "only-sandbox-wasmtime")
    assert breaks(rule, Use("appliance.agent.loop", 1, "wasmtime.Store"))
    assert not breaks(rule, Use("appliance.sandbox.engine", 1, "wasmtime.Store"))
    assert sentence(rule, Use("appliance.agent.loop", 3, "wasmtime")) == (
        "appliance.agent.loop (line 3) imports wasmtime, but only appliance.sandbox imports"
        " wasmtime [rule only-sandbox-wasmtime]"
    )


VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "architecture" / "hidden_imports.json"


@pytest.mark.parametrize(
    "case", json.loads(VECTORS.read_text())["cases"], ids=lambda c: c["description"][:60]
)
def test_hidden_crossings_are_found(case: dict) -> None:
    """Ways to hide a crossing (lazy, aliased, relative, dynamic, type-only imports; each way to
    start a process) are each caught by the rule the vector names, and allowed uses are not."""
    found = uses_in(case["module"], case["source"], is_package=case.get("is_package", False))
    broken = sorted(
        {
            rule.id
            for rule in RULES
            for use in found
            if breaks(rule, use) and not _excused(rule, use)
        }
    )
    assert broken == sorted(case["expected_rules"]), case["description"]
