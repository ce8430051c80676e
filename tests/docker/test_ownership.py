"""Lending the workspace to the agent's uid on a root host (F7), attacked: a hard link or a
symlink in the workspace must not carry the lend to a file outside it; the no-engine message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.docker.container import DockerUnavailable, docker_client
from appliance.docker.ownership import AGENT_UID, lent_workspace


@pytest.mark.skipif(os.getuid() != 0, reason="lending applies to a root host")
def test_the_lend_stays_inside_the_workspace(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret, linked = outside / "secret.txt", outside / "linked.txt"
    secret.write_text("root's")
    linked.write_text("root's too")
    workspace = tmp_path / "ws"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "sub" / "work.txt").write_text("work")
    (workspace / "to-secret").symlink_to(secret)
    os.link(linked, workspace / "hardlink.txt")
    with lent_workspace(workspace):
        assert (workspace / "sub" / "work.txt").stat().st_uid == AGENT_UID
        assert workspace.stat().st_uid == AGENT_UID
        assert (workspace / "to-secret").lstat().st_uid == AGENT_UID  # the link, not its target
        assert secret.stat().st_uid == 0
        assert linked.stat().st_uid == 0  # multiply linked: never lent
        (workspace / "sub" / "new.txt").write_text("made during the session")
        os.chown(workspace / "sub" / "new.txt", AGENT_UID, AGENT_UID)  # as the agent would
    for path in (workspace, workspace / "sub" / "work.txt", workspace / "sub" / "new.txt"):
        assert path.stat().st_uid == 0


def test_no_engine_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(DockerUnavailable) as raised:
        docker_client()
    message = str(raised.value)
    assert "start the engine" in message or "Docker Desktop" in message
    assert ".ci/system-deps" not in message
