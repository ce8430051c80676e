"""The grant check: no folder given to a server may reach a protected one (real paths)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from appliance.confinement import ConfinementRefused, ProfileError, load_profile, plan_for
from appliance.confinement.apply import app_homes
from appliance.confinement.protected import check_grants, protected_folders
from tests.confinement.conftest import World


def test_protected_folders_name_the_appliance_home_and_credentials(world: World) -> None:
    found = protected_folders()
    for name in (".ssh", ".gnupg", ".aws", ".config/gcloud", ".kube", ".docker", ".ironcurtain"):
        assert str(world.home / name) in found


def test_a_root_that_contains_the_home_secrets_is_refused(world: World) -> None:
    with pytest.raises(ConfinementRefused, match=r"contains .*\.ssh"):
        plan_for("filesystem", [str(world.home)])


def test_the_session_folder_is_refused_but_its_sandbox_is_granted(world: World) -> None:
    with pytest.raises(ConfinementRefused, match="is inside"):
        plan_for("filesystem", [str(world.sandbox.parent)])
    plan = plan_for("filesystem", [str(world.sandbox)])
    assert plan.write[0] == str(world.sandbox) and plan.roots == (str(world.sandbox),)


def test_a_folder_inside_the_appliance_home_that_is_no_sandbox_is_refused(world: World) -> None:
    (world.app_home / "generated").mkdir()
    with pytest.raises(ConfinementRefused, match="is inside"):
        plan_for("git", ["--base-dir", str(world.app_home / "generated")])


def test_a_symlink_to_a_protected_folder_is_judged_by_its_target(
    world: World, tmp_path: Path
) -> None:
    link = tmp_path / "innocent"
    link.symlink_to(world.home / ".ssh")
    with pytest.raises(ConfinementRefused):
        check_grants([str(link)], protected_folders(), app_homes())


def test_git_without_base_dir_is_confined_to_its_working_folder(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    plan = plan_for("git", [])
    assert plan.roots == (str(work.resolve()),)


@pytest.mark.parametrize("where", ["program", "package", "around", "venv"])
def test_no_server_may_write_the_appliances_own_code(
    world: World, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read, yes (every server runs it); write, never: the source tree, a package of ours, a
    folder holding the tree, the virtual environment — the host would run the change next."""
    root = Path(__file__).resolve().parents[2]
    folder = {"program": root, "package": root / "appliance", "around": root.parent,
              "venv": Path(sys.prefix)}[where]  # fmt: skip
    monkeypatch.chdir(folder)
    # A folder around the checkout may hold other protected folders too (a clone in /tmp holds
    # this test's home): either refusal names why.
    why = "program files|no server may reach" if where == "around" else "program files"
    with pytest.raises(ConfinementRefused, match=why):
        plan_for("git", [])


def test_shipped_profiles_grant_no_shell_and_no_binaries_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # git's root defaults to the working folder
    for server in ("filesystem", "git", "fetch"):
        plan = plan_for(server, [])
        granted = [*plan.read, *plan.write, *plan.execute]
        assert not any(p in ("/bin", "/usr/bin", "/sbin", "/usr/sbin") for p in granted), server
        assert not any(p.endswith("/sh") or p.endswith("/bash") for p in plan.execute), server
    assert plan_for("filesystem", []).execute == ()
    assert plan_for("fetch", []).execute == ()


def test_a_bad_profile_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "confinement.json"
    bad.write_text(json.dumps({"network": {"connect_tcp": ["any"]}}))
    with pytest.raises(ProfileError, match=r"confinement\.json: field network\.connect_tcp\.0"):
        load_profile("x", bad)
    bad.write_text(json.dumps({"read": ["/x"], "readd": []}))
    with pytest.raises(ProfileError, match="field readd"):
        load_profile("x", bad)
    with pytest.raises(ProfileError, match="no confinement profile for server 'nope'"):
        load_profile("nope", tmp_path / "missing.json")


def test_missing_mechanisms_are_named_with_what_to_do() -> None:
    from appliance.confinement import Features

    old = Features(
        landlock_abi=3,
        seccomp_filter=True,
        seccomp_arch=True,
        user_namespaces=False,
        running_as_root=False,
        root_process_cap=False,
    )
    text = "; ".join(old.missing(needs_network_namespace=True))
    assert "Landlock ABI 6" in text and "this kernel's is ABI 3" in text
    assert "user namespaces are disabled" in text
    full = Features(7, True, True, True, True, True)
    assert full.missing(needs_network_namespace=True) == []


def test_a_dead_servers_private_tmp_is_adopted_or_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from appliance.confinement.apply import _private_tmp

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    empty = tmp_path / "ironcurtain-confined-999999-abc"  # above pid_max here: never alive
    empty.mkdir(mode=0o700)
    left = tmp_path / "ironcurtain-confined-999998-abc"
    (left / "home").mkdir(parents=True, mode=0o700)
    left.chmod(0o700)
    (left / "home" / "x").write_text("left by a killed git server")
    live = tmp_path / f"ironcurtain-confined-{os.getpid()}-def"
    live.mkdir(mode=0o700)
    loose = tmp_path / "ironcurtain-confined-999997-abc"
    loose.mkdir(mode=0o755)  # not private: never adopted
    loose.chmod(0o755)
    first = _private_tmp()
    second = _private_tmp()
    assert not empty.exists() and not left.exists()
    assert live.exists() and loose.exists()
    for made in (first, second):
        assert Path(made).name.startswith(f"ironcurtain-confined-{os.getpid()}-")
        assert os.stat(made).st_mode & 0o777 == 0o700 and not os.listdir(made)


@pytest.mark.parametrize(
    ("inside", "granted"),
    [
        ("job-workspaces/report", True),  # a scheduled job's own workspace
        ("job-workspaces/report/sub", True),
        ("job-workspaces", False),  # the folder above every job's workspace
        ("jobs/report/policy", False),  # the job's compiled policy
        ("jobs/report", False),
        ("job-workspaces/../generated", False),  # resolved before it is judged
        ("sessions/x/sandbox/../audit-dir", False),
    ],
)
def test_a_jobs_workspace_is_granted_and_nothing_else_of_the_home(
    world: World, inside: str, granted: bool
) -> None:
    folder = world.app_home / inside
    folder.mkdir(parents=True, exist_ok=True)
    if granted:
        assert plan_for("filesystem", [str(folder)]).roots == (str(folder.resolve()),)
    else:
        with pytest.raises(ConfinementRefused, match="is inside"):
            plan_for("filesystem", [str(folder)])
