"""Each server's profile, on the real kernel: what a compromised server tries is refused.

The double (``tests/confinement/double.py``) is started through the same launcher as the real
servers (``ironcurtain serve NAME``'s code path) with the real profile of each server.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.confinement.conftest import World, run_double

SERVERS = ("filesystem", "git", "fetch", "github")
# fetch and github have no folder to write to; the others write into the session's sandbox only.
WRITES_INSIDE = {"filesystem": "ok", "git": "ok", "fetch": "EACCES", "github": "EACCES"}
# No network at all (no socket can be made) vs TCP rules (ports other than theirs refused).
LOOPBACK = {"filesystem": "EPERM", "git": "EACCES", "fetch": "EACCES", "github": "EACCES"}


@pytest.fixture
def listeners(tmp_path: Path) -> Iterator[dict[str, str]]:
    tcp = socket.create_server(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX)
    unix_path = str(tmp_path / "host.sock")
    unix.bind(unix_path)
    unix.listen()
    try:
        yield {"DOUBLE_PORT": str(tcp.getsockname()[1]), "DOUBLE_UNIX": unix_path}
    finally:
        tcp.close()
        unix.close()


@pytest.mark.parametrize("server", SERVERS)
def test_secrets_and_appliance_home_are_out_of_reach(server: str, world: World) -> None:
    inside = world.sandbox / "proof.txt"
    found = run_double(
        world,
        server,
        ["read_ssh_key", "write_config", "read_other_session", "chown_config", "write_inside"],
        DOUBLE_INSIDE=str(inside),
    )
    assert found["read_ssh_key"] == "EACCES"
    assert found["write_config"] == "EACCES"
    assert found["read_other_session"] == "EACCES"
    assert found["chown_config"] == "EPERM"  # seccomp: Landlock does not mediate owners
    assert found["write_inside"] == WRITES_INSIDE[server]
    assert inside.exists() == (WRITES_INSIDE[server] == "ok")
    assert (world.app_home / "config.json").read_text().startswith('{"agentModelId"')


@pytest.mark.parametrize("server", SERVERS)
def test_no_shell_and_no_foreign_network(
    server: str, world: World, listeners: dict[str, str]
) -> None:
    found = run_double(
        world, server, ["exec_shell", "connect_loopback", "connect_unix"], **listeners
    )
    # git's /bin/sh is a stand-in that runs only the far side of a local transport
    # (servers/git/far_side.py): it starts, and runs nothing asked of it here.
    assert found["exec_shell"] == ("refused" if server == "git" else "EACCES")
    assert found["connect_loopback"] == LOOPBACK[server]
    assert found["connect_unix"] == "EPERM"


@pytest.mark.parametrize("server", SERVERS)
def test_resource_caps(server: str, world: World) -> None:
    found = run_double(world, server, ["fork_many", "allocate_4gib"])
    assert found["fork_many"] == "EAGAIN"
    assert found["allocate_4gib"] == "ENOMEM"


def test_the_same_attempts_succeed_unconfined(world: World, listeners: dict[str, str]) -> None:
    """Control: without confinement the double reaches all of it, so the refusals above are the
    kernel's doing, not the test's."""
    found = run_double(
        world,
        "--no-confine",
        ["read_ssh_key", "write_config", "read_other_session", "exec_shell", "connect_loopback"],
        **listeners,
    )
    assert set(found.values()) == {"ok"}, found
    assert os.path.getsize(world.app_home / "config.json") > 0
