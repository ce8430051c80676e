"""Adversarial cases for the filesystem server, kept as data in tests/vectors/filesystem/*.json.

Each case builds a small tree under a temp dir (always ``root/``, the allowed directory, and
``outside/secret`` holding ``TOP-SECRET``), runs one tool call in memory and checks the expected
error substring or result. After every case, whatever it expects, nothing under ``outside/`` may
have changed (names, content, inode, mode) and no result may contain the secret.

``client_messages`` (optional) are sent before the call through ``StdioServer.run`` on byte
streams, after an ``initialize`` that offers the roots capability: what a client says there must
never widen the roots, and the server must never send a request (it never asks for roots).

Setup ops: file (content | content_hex | size+fill, mode), dir (mode), symlink (target),
hardlink (target), fifo, socket, device, chmod (mode). ``path_hex`` names a path by its bytes.
``{tmp}`` and ``{root}`` in arguments and targets are replaced by the real directories.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.servers.conftest import filesystem_server, invoke

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "filesystem"
SECRET = "TOP-SECRET"


def _cases() -> list[Any]:
    cases = []
    for file in sorted(VECTORS.glob("*.json")):
        for case in json.loads(file.read_text()):
            cases.append(pytest.param(case, id=f"{file.stem}:{case['id']}"))
    return cases


def _fill(value: Any, tmp: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{root}", str(tmp / "root")).replace("{tmp}", str(tmp))
    if isinstance(value, list):
        return [_fill(v, tmp) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, tmp) for k, v in value.items()}
    return value


def _path(tmp: Path, op: dict) -> bytes:
    rel = bytes.fromhex(op["path_hex"]) if "path_hex" in op else op["path"].encode()
    return os.fsencode(tmp) + b"/" + rel


def _apply(tmp: Path, op: dict) -> None:
    kind, path = op["op"], _path(tmp, op)
    if kind == "file":
        if "content_hex" in op:
            data = bytes.fromhex(op["content_hex"])
        elif "size" in op:
            data = (op.get("fill", "a").encode() * op["size"])[: op["size"]]
        else:
            data = op.get("content", "").encode()
        Path(os.fsdecode(path)).write_bytes(data)
    elif kind == "dir":
        os.makedirs(path, exist_ok=True)
    elif kind == "symlink":
        os.symlink(_fill(op["target"], tmp), path)
    elif kind == "hardlink":
        os.link(tmp / op["target"], path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(path)
    elif kind == "device":
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("cannot create a device node here")
    elif kind != "chmod":
        raise AssertionError(f"unknown setup op {kind!r}")
    if "mode" in op:
        os.chmod(path, int(op["mode"], 8), follow_symlinks=False)


def _snapshot(top: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            data = p.read_bytes() if stat.S_ISREG(st.st_mode) else b""
            out[str(p)] = (st.st_ino, stat.S_IMODE(st.st_mode), stat.S_IFMT(st.st_mode), data)
    return out


def _check_after(tmp: Path, check: dict) -> None:
    path = tmp / check["path"]
    if "content" in check:
        assert path.read_bytes() == check["content"].encode(), check
    if "content_hex" in check:
        assert path.read_bytes() == bytes.fromhex(check["content_hex"]), check
    if "mode" in check:
        assert format(stat.S_IMODE(path.lstat().st_mode), "o") == check["mode"], check
    if check.get("absent"):
        assert not os.path.lexists(path), check
    if "type" in check:
        kinds = {"file": stat.S_ISREG, "dir": stat.S_ISDIR, "symlink": stat.S_ISLNK}
        kinds["fifo"] = stat.S_ISFIFO
        assert kinds[check["type"]](path.lstat().st_mode), check


def _over_the_wire(server: Any, messages: list[dict], call: dict) -> dict:
    """Run ``messages`` then the call through ``StdioServer.run`` on byte streams; the result."""
    initialize = {
        "jsonrpc": "2.0",
        "id": "init",
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {"roots": {}}},
    }
    request = {"jsonrpc": "2.0", "id": "call", "method": "tools/call"}
    request["params"] = {"name": call["tool"], "arguments": call.get("arguments", {})}
    lines = [json.dumps(m).encode() for m in (initialize, *messages, request)]
    out = io.BytesIO()
    server.run(stdin=io.BytesIO(b"\n".join(lines) + b"\n"), stdout=out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert all(a.get("method") is None for a in answers), "the server sent a request"
    return next(a["result"] for a in answers if a.get("id") == "call")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("case", _cases())
def test_vector(case: dict, tmp_path: Path) -> None:
    if case.get("skip_if_root") and os.geteuid() == 0:
        pytest.skip("root bypasses mode bits; " + case["skip_if_root"])
    (tmp_path / "root").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text(SECRET + "\n")
    for op in case.get("setup", []):
        _apply(tmp_path, op)
    outside = _snapshot(tmp_path / "outside")
    options = case.get("server", {})
    roots = [tmp_path / r for r in options.get("roots", ["root"])]
    server = filesystem_server(*roots, **options.get("options", {}))
    call = _fill(case["call"], tmp_path)
    if "client_messages" in case:
        wire = _over_the_wire(server, _fill(case["client_messages"], tmp_path), call)
    else:
        wire = invoke(server, call["tool"], **call.get("arguments", {})).to_wire()
    expected = _fill(case["expected"], tmp_path)
    texts = [block["text"] for block in wire["content"] if block["type"] == "text"]
    text = "".join(texts) if texts else json.dumps(wire["content"])  # media: the blocks
    if "error" in expected:
        assert wire["isError"], f"expected an error, got: {text[:300]}"
        assert expected["error"] in text, text
    else:
        assert not wire["isError"], text
        for piece in expected.get("contains", []):
            assert piece in text, text
        if "equals" in expected:
            assert text == expected["equals"], text
    for piece in expected.get("not_contains", []):
        assert piece not in text, text
    if "max_wire_bytes" in expected:
        size = len(json.dumps(wire))
        assert size <= expected["max_wire_bytes"], f"{size} bytes on the wire"
    if "structured" in expected:
        assert wire.get("structuredContent") == expected["structured"]
    assert SECRET not in text and SECRET not in json.dumps(wire)
    assert _snapshot(tmp_path / "outside") == outside, "something outside the root changed"
    for check in case.get("after", []):
        _check_after(tmp_path, check)


def test_enough_vectors() -> None:
    assert len(_cases()) >= 40
