"""The appliance's exception tree (``appliance/errors.py``) holds every public error class.

A class in ``appliance/`` that derives from an exception and is not private must be in the tree
(or pending, in a module another issue owns), and the tree must keep each class's old builtin
base so existing ``except ValueError``/``OSError``/``RuntimeError`` clauses still catch it.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from appliance.errors import ApplianceError, ConfinementError

REPO = Path(__file__).resolve().parents[2]

#: "module:Class" -> (parent in the tree, builtin base it kept or None)
TREE: dict[str, tuple[type[BaseException], type[BaseException] | None]] = {
    "appliance.config.loading:ConfigError": (ApplianceError, None),
    "appliance.host.workspace:WorkspaceRefused": (ApplianceError, ValueError),
    "appliance.cli.setup:SetupCancelled": (ApplianceError, None),
    "appliance.host.runner:ToolFailed": (ApplianceError, RuntimeError),
    "appliance.agent.model_errors:ModelError": (ApplianceError, None),
    "appliance.agent.loop:MissingKey": (ApplianceError, None),
    "appliance.session.budget:BudgetExceeded": (ApplianceError, None),
    "appliance.sandbox.limits:SandboxError": (ApplianceError, RuntimeError),
    "appliance.sandbox.limits:RunStopped": (ApplianceError, None),
    "appliance.sandbox.crossing:TextTooLarge": (ApplianceError, ValueError),
    "appliance.confinement.apply:ConfinementUnavailable": (ConfinementError, None),
    "appliance.confinement.protected:ConfinementRefused": (ConfinementError, None),
    "appliance.confinement.profile:ProfileError": (ConfinementError, ValueError),
    "appliance.confinement.seccomp:SeccompError": (ConfinementError, OSError),
    "appliance.confinement.landlock:LandlockError": (ConfinementError, OSError),
    "appliance.chokepoint.trip:SessionStopped": (ApplianceError, None),
    "appliance.chokepoint.server_pool:ServerCallError": (ApplianceError, None),
    "appliance.chokepoint.audit.log:AuditWriteError": (ApplianceError, None),
    "appliance.chokepoint.audit.seal:SealError": (ApplianceError, None),
    "appliance.chokepoint.audit.signing:SigningKeyError": (ApplianceError, None),
    "appliance.config.servers:ServerDeclarationError": (ApplianceError, ValueError),
    "appliance.daemon.signal_setup:SetupError": (ApplianceError, None),
    "appliance.daemon.jobs:JobError": (ApplianceError, ValueError),
    "appliance.credproxy.proxy:ProxyStartError": (ApplianceError, None),
    "appliance.credproxy.ca:CaError": (ApplianceError, None),
    "appliance.credproxy.oauth:OAuthError": (ApplianceError, None),
    "appliance.docker.image:ImageBuildError": (ApplianceError, None),
    "appliance.docker.container:DockerUnavailable": (ApplianceError, None),
    "appliance.docker.supervise:AttachError": (ApplianceError, None),
    "appliance.docker.git_guard:WorkspaceHasGit": (ApplianceError, ValueError),
}

#: "module:Class" -> issue whose module this is (only its base needs changing); none left
PENDING: dict[str, int] = {}

_EXCEPTION_BASES = {"Exception", "ValueError", "OSError", "RuntimeError", "ApplianceError"}


def declared_exceptions() -> set[str]:
    """Public classes in appliance/ whose base is a builtin exception or one of ours."""
    names = {name.split(":")[1] for name in TREE} | {"ConfinementError"}
    found: set[str] = set()
    for path in sorted((REPO / "appliance").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
            if bases & (_EXCEPTION_BASES | names) and module != "appliance.errors":
                found.add(f"{module}:{node.name}")
    return found


def _load(qualified: str) -> type[BaseException]:
    module, name = qualified.split(":")
    return getattr(importlib.import_module(module), name)


def test_every_public_exception_is_in_the_tree_or_pending() -> None:
    outside = declared_exceptions() - set(TREE) - set(PENDING)
    assert not outside, f"exception classes outside appliance/errors.py's tree: {sorted(outside)}"


def test_the_tree_and_the_builtin_bases_hold() -> None:
    wrong = []
    for qualified, (parent, builtin) in TREE.items():
        cls = _load(qualified)
        if not issubclass(cls, parent) or (builtin and not issubclass(cls, builtin)):
            wrong.append(f"{qualified} should derive from {parent.__name__} and {builtin}")
    assert not wrong, "\n".join(wrong)


def test_pending_classes_are_still_outside_the_tree() -> None:
    """Once the owning issue re-parents one, it moves from PENDING to TREE."""
    joined = [q for q in PENDING if issubclass(_load(q), ApplianceError)]
    assert not joined, f"now in the tree, move them from PENDING to TREE: {joined}"
