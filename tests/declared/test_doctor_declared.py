"""doctor and declared servers: tools the policy cannot judge (no annotation, or one made for
another input schema) are named with the command that fixes them, and a declared server's
confinement is its own profile or a warning that it has none."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from appliance.cli import doctor
from appliance.cli.doctor.confinement import check_confinement
from appliance.cli.main import main
from appliance.config.paths import app_paths
from policy.loader import default_policy_dir

SERVER = Path(__file__).with_name("messaging_server.py")
VECTORS = Path(__file__).parents[1] / "vectors" / "declared" / "policy"


def _annotations(messaging: dict | None) -> None:
    """The user's policy folder: the shipped policy plus the messaging server's annotations."""
    generated = app_paths().generated
    generated.mkdir(parents=True, exist_ok=True)
    shipped = default_policy_dir()
    for name in ("compiled-policy.json", "dynamic-lists.json"):
        (generated / name).write_text((shipped / name).read_text())
    data = json.loads((shipped / "tool-annotations.json").read_text())
    declared = json.loads((VECTORS / "tool-annotations.json").read_text())
    data["roles"] = declared["roles"]
    if messaging is not None:
        data["servers"]["messaging"] = messaging
    (generated / "tool-annotations.json").write_text(json.dumps(data))


def _server_checks() -> dict[str, doctor.Check]:
    return {c.name: c for c in doctor.check_servers(doctor.gather_facts())}


def test_missing_stale_and_complete_annotations() -> None:
    assert main(["servers", "add", "messaging", "--", sys.executable, str(SERVER)]) == 0
    checks = _server_checks()
    missing = checks["annotations:messaging"]
    assert checks["server:messaging"].status == "ok"
    assert missing.status == "warn" and not missing.required
    assert "3 without annotations (list_sent, send_message, send_payment)" in missing.detail
    assert missing.fix.endswith("ironcurtain servers annotate messaging")
    assert checks["annotations:filesystem"].status == "ok"
    assert checks["annotations:git"].status == "ok"

    declared = json.loads((VECTORS / "tool-annotations.json").read_text())["servers"]["messaging"]
    # send_message annotated when it took only a recipient: its body is new since then
    declared["tools"][0]["inputSchema"] = {
        "type": "object",
        "properties": {"recipient": {"type": "string"}},
        "required": ["recipient"],
    }
    _annotations(declared)
    stale = _server_checks()["annotations:messaging"]
    assert stale.status == "warn"
    assert "1 changed their input schema since annotated (send_message)" in stale.detail
    assert "without annotations" not in stale.detail

    del declared["tools"][0]["inputSchema"]
    _annotations(declared)
    assert _server_checks()["annotations:messaging"].detail == "all 3 tools annotated"


def test_a_declared_servers_confinement_is_its_own_profile_or_a_warning(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"roots": {"default": "none"}, "read": ["$INTERPRETER"]}))
    argv = ["--", sys.executable, str(SERVER)]
    assert main(["servers", "add", "plain", *argv]) == 0
    assert main(["servers", "add", "boxed", "--confinement", str(profile), *argv]) == 0
    config = app_paths().config_file
    data = json.loads(config.read_text())
    data["mcpServers"]["broken"] = {"command": sys.executable, "confinement": {"roots": 7}}
    config.write_text(json.dumps(data))
    checks = {c.name: c for c in check_confinement(doctor.gather_facts())}
    plain, boxed, broken = (checks[f"confinement:{n}"] for n in ("plain", "boxed", "broken"))
    assert plain.status == "warn" and "runs with your rights" in plain.detail
    assert "mcpServers.plain" in plain.fix
    assert boxed.status == "ok" and str(profile) in boxed.detail
    assert broken.status == "fail" and "mcpServers.broken.confinement" in broken.detail
