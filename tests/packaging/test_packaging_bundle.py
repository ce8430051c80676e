"""appliance.host.bundle: bundled resources by relative name, and what a frozen child inherits."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from appliance.host import bundle

REPO = Path(__file__).resolve().parents[2]


def test_from_source_resources_are_found_in_the_tree() -> None:
    assert bundle.resource_path("policy/constitution.md") == REPO / "policy" / "constitution.md"
    assert bundle.resource_path("policy/constitution.md").is_file()


def test_frozen_resources_are_found_in_the_unpacked_bundle(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert bundle.resource_path("wasm_guest/guest.wasm") == tmp_path / "wasm_guest" / "guest.wasm"


@pytest.mark.parametrize("name", ["/etc/passwd", "../secrets", "policy/../../x"])
def test_a_resource_name_cannot_leave_the_bundle(name: str) -> None:
    with pytest.raises(ValueError, match="relative to the bundle"):
        bundle.resource_path(name)


_FROZEN_ENV = {
    "_PYI_ARCHIVE_FILE": "/opt/ironcurtain",
    "_PYI_APPLICATION_HOME_DIR": "/tmp/_MEI123",
    "_PYI_PARENT_PROCESS_LEVEL": "1",
    "ANTHROPIC_API_KEY": "sk-ant-secret",
    "LD_LIBRARY_PATH": "/tmp/_MEI123",
}


def test_a_source_checkout_passes_nothing_to_its_children() -> None:
    assert bundle.child_environment(_FROZEN_ENV) == {}


def test_a_frozen_app_passes_only_the_bootloader_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert bundle.child_environment(_FROZEN_ENV) == {
        "_PYI_ARCHIVE_FILE": "/opt/ironcurtain",
        "_PYI_APPLICATION_HOME_DIR": "/tmp/_MEI123",
        "_PYI_PARENT_PROCESS_LEVEL": "1",
    }
    assert bundle.child_environment({}) == {}
