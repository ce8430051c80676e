"""``ironcurtain doctor`` against temporary homes (the autouse fixture sets IRONCURTAIN_HOME).

Only one test starts the real MCP servers (a few seconds); the others skip that group. Docker is
pointed at a socket that does not exist, so its checks are the same warning on every machine.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import doctor
from appliance.cli.main import main
from appliance.config.paths import app_paths
from policy.loader import default_policy_dir

CASES = json.loads((Path(__file__).with_name("config_cases.json")).read_text())["cases"]
KEY = "sk-ant-api03-doctor-test-key-0123456789"


@pytest.fixture(autouse=True)
def _installation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A guest file that exists, an unreachable Docker engine, no key unless a test sets one."""
    guest = tmp_path / "guest.wasm"
    guest.write_bytes(b"\0asm" + b"\x0d\0\x01\0")
    monkeypatch.setenv("IRONCURTAIN_GUEST_WASM", str(guest))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    return guest


def run_doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["doctor", "--json", *args])
    payload = json.loads(capsys.readouterr().out)
    return code, payload


def by_name(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in payload["checks"]}


def write_config(data: dict[str, Any] | str | bytes) -> Path:
    file = app_paths().config_file
    file.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        file.write_bytes(data)
    else:
        file.write_text(data if isinstance(data, str) else json.dumps(data))
    file.chmod(0o600)
    return file


def user_policy() -> Path:
    """A copy of the shipped policy as the user's compiled policy."""
    target = app_paths().generated
    shutil.copytree(default_policy_dir(), target)
    return target


FAST = ("--skip", "servers")


def test_a_healthy_installation_passes_with_every_group_reported(capsys) -> None:
    write_config({"anthropicApiKey": KEY})
    code, payload = run_doctor(capsys)
    checks = by_name(payload)
    failed = {n: c["detail"] for n, c in checks.items() if c["status"] == "fail"}
    assert failed == {}
    assert code == 0 and payload["ok"] is True
    assert checks["provider-key"]["detail"].endswith("key from file")
    for server, at_least in (("filesystem", 14), ("git", 28), ("fetch", 2)):
        check = checks[f"server:{server}"]
        assert check["status"] == "ok" and int(check["detail"].split()[0]) >= at_least
    assert checks["policy-scenarios"]["status"] == "ok"
    assert checks["policy-git-guard"]["status"] == "ok"
    # Optional and first-use things warn but never fail the run.
    assert checks["docker"]["status"] == "warn" and checks["docker"]["required"] is False
    assert checks["guest-cache"]["status"] == "warn"
    assert checks["proxy-ca"]["status"] == "warn"
    assert payload["seconds"] < 30


def test_json_shape_is_stable_for_scripts(capsys) -> None:
    code, payload = run_doctor(capsys, *FAST)
    assert set(payload) == {"ok", "seconds", "checks"}
    for check in payload["checks"]:
        assert set(check) == {"name", "required", "status", "detail", "fix"}
        assert check["status"] in {"ok", "warn", "fail", "skip"}
        assert isinstance(check["required"], bool)
        if check["status"] in ("warn", "fail"):
            assert check["fix"], check
    assert by_name(payload)["servers"]["status"] == "skip"
    assert code == (0 if payload["ok"] else 1)


@pytest.mark.parametrize("case", CASES, ids=[c["description"] for c in CASES])
def test_a_malformed_config_fails_naming_file_and_field(capsys, case: dict[str, Any]) -> None:
    file = write_config(bytes.fromhex(case["hex"]) if "hex" in case else case["text"])
    code, payload = run_doctor(capsys, *FAST)
    check = by_name(payload)["config"]
    assert code == 1 and payload["ok"] is False
    assert check["status"] == "fail" and check["required"] is True
    assert str(file) in check["detail"] or "config.json" in check["detail"]
    for words in case["mentions"]:
        assert words in check["detail"], (words, check["detail"])
    for secret in case.get("never", []):
        assert secret not in json.dumps(payload)


def test_a_config_readable_by_others_fails(capsys) -> None:
    file = write_config({"anthropicApiKey": KEY})
    file.chmod(0o644)
    code, payload = run_doctor(capsys, *FAST)
    assert code == 1
    check = by_name(payload)["config-mode"]
    assert check["status"] == "fail" and "anthropicApiKey" in check["detail"]
    assert check["fix"] == f"chmod 600 {file}" and KEY not in json.dumps(payload)


def test_a_missing_key_fails_and_names_the_variable(capsys) -> None:
    code, payload = run_doctor(capsys, *FAST)
    check = by_name(payload)["provider-key"]
    assert code == 1
    assert check["status"] == "fail" and "ANTHROPIC_API_KEY" in check["detail"]
    assert "ANTHROPIC_API_KEY" in check["fix"] and "setup" in check["fix"]


def test_a_key_from_the_environment_counts_and_is_never_printed(capsys, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    code, payload = run_doctor(capsys, *FAST)
    assert by_name(payload)["provider-key"]["detail"].endswith("key from environment")
    assert KEY not in json.dumps(payload)
    assert code == 0


def test_a_missing_guest_fails_with_its_path(capsys, monkeypatch, tmp_path: Path) -> None:
    write_config({"anthropicApiKey": KEY})
    missing = tmp_path / "nowhere" / "guest.wasm"
    monkeypatch.setenv("IRONCURTAIN_GUEST_WASM", str(missing))
    code, payload = run_doctor(capsys, *FAST)
    check = by_name(payload)["guest"]
    assert code == 1
    assert check["status"] == "fail" and str(missing) in check["detail"]
    assert "wasm_guest.build" in check["fix"]


def test_a_broken_user_policy_fails_naming_the_file(capsys) -> None:
    write_config({"anthropicApiKey": KEY})
    folder = user_policy()
    (folder / "compiled-policy.json").write_text('{"rules": [')
    code, payload = run_doctor(capsys, *FAST)
    check = by_name(payload)["policy"]
    assert code == 1
    assert check["status"] == "fail"
    assert str(folder / "compiled-policy.json") in check["detail"]
    assert str(folder) in check["fix"]


def test_a_policy_older_than_the_users_constitution_fails(capsys) -> None:
    write_config({"anthropicApiKey": KEY})
    user_policy()
    app_paths().constitution.write_text("Never touch my photos.\n")
    code, payload = run_doctor(capsys, *FAST)
    check = by_name(payload)["policy-fresh"]
    assert code == 1
    assert check["status"] == "fail" and "compile-policy" in check["fix"]


def test_a_failing_scenario_fails_and_is_named(capsys) -> None:
    write_config({"anthropicApiKey": KEY})
    folder = user_policy()
    scenarios_file = folder / "test-scenarios.json"
    data = json.loads(scenarios_file.read_text())
    first = data["scenarios"][0]
    first["expectedDecision"] = "deny" if first["expectedDecision"] != "deny" else "allow"
    scenarios_file.write_text(json.dumps(data))
    code, payload = run_doctor(capsys, *FAST)
    check = by_name(payload)["policy-scenarios"]
    assert code == 1
    assert check["status"] == "fail" and first["description"] in check["detail"]


@pytest.mark.parametrize("tool", ["write_file", "edit_file", "move_file"])
def test_a_rule_allowing_writes_cannot_open_git_internals(capsys, tool: str) -> None:
    write_config({"anthropicApiKey": KEY})
    folder = user_policy()
    compiled_file = folder / "compiled-policy.json"
    compiled = json.loads(compiled_file.read_text())
    compiled["rules"].insert(
        0,
        {
            "name": "allow-all-writes",
            "description": "a careless rule",
            "principle": "none",
            "if": {"server": ["filesystem"], "tool": [tool]},
            "then": "allow",
            "reason": "anything goes",
        },
    )
    compiled_file.write_text(json.dumps(compiled))
    _, payload = run_doctor(capsys, *FAST)
    checks = by_name(payload)
    assert checks["policy"]["status"] == "ok"
    # Writes into a git directory escalate structurally (structural-git-internals-escalate),
    # which a rule's allow cannot lower: the careless rule no longer opens them (issue 12).
    assert checks["policy-git-guard"]["status"] == "ok", checks["policy-git-guard"]


def test_a_ca_key_readable_by_others_fails_and_a_good_one_passes(capsys) -> None:
    write_config({"anthropicApiKey": KEY})
    folder = app_paths().home / "ca"
    folder.mkdir(mode=0o700)
    key = folder / "mitmproxy-ca.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o644)
    code, payload = run_doctor(capsys, *FAST)
    assert code == 1 and by_name(payload)["proxy-ca"]["status"] == "fail"
    key.chmod(0o600)
    code, payload = run_doctor(capsys, *FAST)
    assert code == 0 and by_name(payload)["proxy-ca"]["status"] == "ok"


def test_a_check_that_crashes_fails_closed(monkeypatch) -> None:
    def broken(facts: doctor.Facts) -> list[doctor.Check]:
        raise RuntimeError("probe exploded")

    monkeypatch.setitem(doctor.GROUPS, "disk", broken)
    keep = frozenset(doctor.GROUPS) - {"disk"}
    checks = doctor.run_checks(doctor.gather_facts(), skip=keep)
    disk = next(c for c in checks if c.name == "disk")
    assert disk.status == "fail" and disk.required and "probe exploded" in disk.detail


def test_human_output_has_one_line_per_check_with_fixes(capsys) -> None:
    code = main(["doctor", *FAST])
    out = capsys.readouterr().out
    assert code == 1  # no key
    lines = [line for line in out.splitlines() if line.strip()]
    key_line = next(line for line in lines if " provider-key " in line)
    assert key_line.startswith("FAIL") and "(required)" in key_line and "-> fix:" in key_line
    docker_line = next(line for line in lines if " docker " in line)
    assert docker_line.startswith("warn") and "(optional)" in docker_line
    assert lines[-1].startswith("1 required check(s) FAILED")


def test_online_makes_one_tiny_call_to_the_scripted_model(capsys) -> None:
    from appliance.agent.scripted_llm import ScriptedLLM

    with ScriptedLLM([{"text": "ok"}]) as llm:
        write_config(
            {
                "agentModelId": "openai:gpt-4o-mini",
                "openaiApiKey": "sk-doctor-online-0123456789",
                "openaiBaseUrl": llm.openai_base,
            }
        )
        code, payload = run_doctor(capsys, "--online", *FAST)
        assert len(llm.requests) == 1
        assert llm.requests[0]["max_tokens"] == 1
    assert by_name(payload)["provider-online"]["status"] == "ok"
    assert code == 0, [c for c in payload["checks"] if c["status"] == "fail"]


def test_online_reports_an_unreachable_model_as_a_failure(capsys, tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    write_config(
        {
            "agentModelId": "openai:gpt-4o-mini",
            "openaiApiKey": "sk-doctor-online-0123456789",
            "openaiBaseUrl": f"http://127.0.0.1:{port}/v1",
        }
    )
    code, payload = run_doctor(capsys, "--online", *FAST)
    check = by_name(payload)["provider-online"]
    assert code == 1 and check["status"] == "fail"
    assert "sk-doctor-online" not in json.dumps(payload)


def test_without_online_no_model_is_called(capsys) -> None:
    write_config({"anthropicApiKey": KEY})
    code, payload = run_doctor(capsys, *FAST)
    assert "provider-online" not in by_name(payload)
    assert code == 0
    assert os.environ.get("ANTHROPIC_API_KEY") is None


def test_a_file_that_is_not_a_component_fails_as_guest(capsys, tmp_path: Path, monkeypatch) -> None:
    write_config({"anthropicApiKey": KEY})
    core_module = tmp_path / "core.wasm"
    core_module.write_bytes(b"\0asm\x01\0\0\0")  # a core module, not a component
    monkeypatch.setenv("IRONCURTAIN_GUEST_WASM", str(core_module))
    code, payload = run_doctor(capsys, *FAST)
    check = by_name(payload)["guest"]
    assert (
        code == 1 and check["status"] == "fail" and "not a WebAssembly component" in check["detail"]
    )


def test_a_server_that_does_not_start_fails_naming_it(monkeypatch) -> None:
    import sys

    from appliance.chokepoint.server_pool import ServerSpec
    from appliance.session import core as session

    def specs(config, sandbox):
        crash = (sys.executable, "-c", "import sys; sys.exit('no such server')")
        return [
            ServerSpec("filesystem", (str(sandbox),), cwd=str(sandbox)),
            ServerSpec("broken", argv=crash),
        ]

    monkeypatch.setattr(session, "server_specs", specs)
    checks = {c.name: c for c in doctor.check_servers(doctor.gather_facts())}
    assert checks["server:filesystem"].status == "ok"
    broken = checks["server:broken"]
    assert broken.status == "fail" and broken.required
    assert "ironcurtain serve broken" in broken.fix


def test_a_hung_check_fails_after_the_timeout_and_does_not_hold_the_doctor(monkeypatch) -> None:
    import threading
    import time

    release = threading.Event()

    def hung(facts: doctor.Facts) -> list[doctor.Check]:
        release.wait(30)
        return [doctor.ok("disk", "too late")]

    monkeypatch.setitem(doctor.GROUPS, "disk", hung)
    keep = frozenset(doctor.GROUPS) - {"disk"}
    started = time.monotonic()
    checks = doctor.run_checks(doctor.gather_facts(), skip=keep, timeout_s=0.3)
    release.set()
    disk = next(c for c in checks if c.name == "disk")
    assert disk.status == "fail" and "no answer within 0.3 s" in disk.detail
    assert time.monotonic() - started < 5


def test_settings_that_work_but_surprise_are_warnings_not_failures(capsys) -> None:
    write_config(
        {
            "anthropicApiKey": KEY,
            "autoApprove": {"enabled": True, "modelId": "openai:gpt-4o-mini"},
            "taskPlan": {"enabled": True, "modelId": "google:gemini-2.5-flash"},
            "webSearch": {"provider": "brave"},
            "resourceBudget": {"maxSteps": None},
        }
    )
    code, payload = run_doctor(capsys, *FAST)
    checks = by_name(payload)
    assert checks["auto-approve-key"]["status"] == "warn"
    assert "OPENAI_API_KEY" in checks["auto-approve-key"]["fix"]
    assert checks["task-plan-key"]["status"] == "warn"
    assert "taskPlan.enabled false" in checks["task-plan-key"]["fix"]
    assert checks["web-search-key"]["status"] == "warn"
    loosened = checks["loosened"]
    assert loosened["status"] == "warn" and "resourceBudget.maxSteps" in loosened["detail"]
    assert "autoApprove is on" in loosened["detail"] and "taskPlan is on" in loosened["detail"]
    assert code == 0


def test_the_command_in_a_fresh_process_imports_cleanly_and_exits_by_its_findings() -> None:
    """Fresh imports from concurrent groups once deadlocked (``_DeadlockError``): not again."""
    import subprocess
    import sys

    write_config({"anthropicApiKey": KEY})
    command = [sys.executable, "-m", "appliance.cli", "doctor", "--json", "--skip", "servers"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    payload = json.loads(done.stdout)
    failed = [c for c in payload["checks"] if c["status"] == "fail"]
    assert failed == [] and done.returncode == 0, (failed, done.stderr[-2000:])


def _record_hash(folder: Path, digest: str) -> None:
    file = folder / "compiled-policy.json"
    compiled = json.loads(file.read_text())
    compiled["constitutionHash"] = digest
    file.write_text(json.dumps(compiled))


def test_a_policy_compiled_from_today_s_constitution_is_fresh(capsys) -> None:
    from appliance.cli.compile_cmd import constitution_text
    from policy.compiler.cache import constitution_digest

    write_config({"anthropicApiKey": KEY})
    folder = user_policy()
    paths = app_paths()
    paths.constitution.write_text("Never touch my photos.\n")
    paths.user_constitution.write_text("Pushing to my own forks is fine.\n")
    _record_hash(folder, constitution_digest(constitution_text(paths)))  # compile-policy's
    code, payload = run_doctor(capsys, *FAST)
    check = by_name(payload)["policy-fresh"]
    assert check["status"] == "ok" and "constitution-user.md" in check["detail"]
    assert code == 0
    # An addition made after compiling is not in force until the policy is compiled again.
    paths.user_constitution.write_text("Pushing anywhere is fine.\n")
    code, payload = run_doctor(capsys, *FAST)
    assert code == 1 and by_name(payload)["policy-fresh"]["status"] == "fail"


def test_a_constitution_never_compiled_fails_because_the_shipped_policy_applies(capsys) -> None:
    write_config({"anthropicApiKey": KEY})
    app_paths().user_constitution.parent.mkdir(parents=True, exist_ok=True)
    app_paths().user_constitution.write_text("Only ask me about pushes.\n")
    code, payload = run_doctor(capsys, *FAST)
    check = by_name(payload)["policy-fresh"]
    assert code == 1 and check["status"] == "fail"
    assert "constitution-user.md is not compiled" in check["detail"]
    assert check["fix"] == doctor.as_installed("ironcurtain compile-policy")  # uv run: prefixed


def test_a_policy_without_a_constitution_hash_warns(capsys) -> None:
    write_config({"anthropicApiKey": KEY})
    folder = user_policy()
    _record_hash(folder, "")
    code, payload = run_doctor(capsys, *FAST)
    assert by_name(payload)["policy-fresh"]["status"] == "warn"
    assert code == 0


def test_a_user_policy_folder_without_compiled_policy_is_flagged_as_ignored(capsys) -> None:
    write_config({"anthropicApiKey": KEY})
    folder = user_policy()
    (folder / "compiled-policy.json").unlink()
    code, payload = run_doctor(capsys, *FAST)
    checks = by_name(payload)
    assert checks["policy-user-dir"]["status"] == "warn"
    assert "the shipped policy" in checks["policy"]["detail"]
    assert code == 0


def test_a_readable_config_without_keys_only_warns(capsys, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)  # the key lives in the environment, not the file
    file = write_config({"resourceBudget": {"maxSteps": 100}})
    file.chmod(0o644)
    code, payload = run_doctor(capsys, *FAST)
    assert by_name(payload)["config-mode"]["status"] == "warn"
    assert code == 0


def test_a_policy_file_others_can_write_fails(capsys) -> None:
    write_config({"anthropicApiKey": KEY})
    folder = user_policy()
    (folder / "compiled-policy.json").chmod(0o666)
    code, payload = run_doctor(capsys, *FAST)
    check = by_name(payload)["permissions"]
    assert code == 1 and check["status"] == "fail"
    assert str(folder / "compiled-policy.json") in check["detail"] and "0o666" in check["detail"]


def test_fixes_are_spelled_the_way_this_copy_is_run(monkeypatch):
    """In a uv checkout the user's shell reaches the command through uv; an invalid config.json
    is fixed in the file (config set and setup refuse to write over what they cannot read)."""
    from appliance.cli import doctor

    doctor.invocation.cache_clear()
    monkeypatch.setenv("UV_RUN_RECURSION_DEPTH", "1")
    try:
        assert doctor.as_installed("run `ironcurtain compile-policy`") == (
            "run `uv run ironcurtain compile-policy`"
        )
        assert doctor.as_installed("python -m wasm_guest.build") == (
            "uv run python -m wasm_guest.build"
        )
        assert doctor.as_installed("reinstall ironcurtain (wasmtime 50)") == (
            "reinstall ironcurtain (wasmtime 50)"
        )
        doctor.invocation.cache_clear()
        monkeypatch.delenv("UV_RUN_RECURSION_DEPTH")
        monkeypatch.setenv("PATH", "/nonexistent")
        assert doctor.as_installed("`ironcurtain setup`") == "`uv run ironcurtain setup`"
    finally:
        doctor.invocation.cache_clear()


def test_an_invalid_config_gets_a_fix_that_works(tmp_path, monkeypatch):
    from appliance.cli import doctor
    from appliance.config.paths import app_paths

    paths = app_paths()
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text("{bad")
    facts = doctor.Facts(paths=paths, config=None, config_error="not valid JSON", online=False)
    (check,) = doctor.check_config(facts)
    assert check.status == "fail"
    assert "config set" not in check.fix
    assert str(paths.config_file) in check.fix and "setup" in check.fix
