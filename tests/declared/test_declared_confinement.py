"""A declared server with a ``confinement`` profile runs under it (``ironcurtain confine``): the
same kernel line as the shipped servers, for a program the appliance did not write."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest

from appliance.chokepoint.server_pool import ServerCallError, ServerPool
from appliance.config.settings import config_from_data
from appliance.session.core import server_specs

HERE = Path(__file__).parent


def _profile(outbox_dir: Path) -> dict:
    return {
        "roots": {"default": "none"},
        "read": ["$INTERPRETER", "$SYSTEM_LIBS", "$SYSTEM_CONFIG", "$DEVICES", str(HERE)],
        "write": [str(outbox_dir), "/dev/null"],
        "execute": [os.path.realpath(sys.executable), "$ELF_LOADER"],
        "network": {"connect_tcp": []},
        "private_tmp": True,
    }


async def _peek_and_send(tmp_path: Path, confinement: dict | None) -> tuple[str, str, Path]:
    secret = tmp_path / "home" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    outbox = tmp_path / "out" / "outbox.jsonl"
    outbox.parent.mkdir()
    entry = {"command": sys.executable, "args": [str(HERE / "mail_server.py")],
             "env": {"MAIL_OUTBOX": str(outbox)}}  # fmt: skip
    if confinement is not None:
        entry["confinement"] = confinement
    config = config_from_data({"mcpServers": {"mail": entry}}, tmp_path / "config.json")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    specs = [s for s in server_specs(config, sandbox) if s.name == "mail"]
    async with ServerPool(specs, start_timeout_s=60) as pool:
        peeked = await pool.call("mail", "peek", {"path": str(secret)})
        sent = await pool.call("mail", "send_message", {"recipient": "a@b.c", "body": "hi"})
    return peeked.text, sent.text, outbox


def test_the_profile_confines_the_declared_server(tmp_path: Path) -> None:
    peeked, sent, outbox = anyio.run(_peek_and_send, tmp_path, _profile(tmp_path / "out"))
    assert peeked == "error: Permission denied"
    assert sent == "message done" and json.loads(outbox.read_text())["recipient"] == "a@b.c"


def test_without_a_profile_the_same_server_reads_the_key(tmp_path: Path) -> None:
    """Control: the refusal above is the profile's doing."""
    peeked, _, _ = anyio.run(_peek_and_send, tmp_path, None)
    assert peeked.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")


def test_a_profile_that_cannot_apply_stops_the_server(tmp_path: Path) -> None:
    broken = {**_profile(tmp_path / "out"), "read": ["$NO_SUCH_SYMBOL"]}
    with pytest.raises(BaseExceptionGroup) as failed:
        anyio.run(_peek_and_send, tmp_path, broken)
    assert failed.group_contains(ServerCallError, match="the mail server did not start")
