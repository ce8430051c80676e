"""The filesystem server over stdio with the real SDK client: every tool, the wire shapes,
client-offered roots, an unprivileged run, start-up errors."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from tests.servers.conftest import REPO_ROOT, result_text, stdio_session

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore:The roots capability is deprecated"),
]

TOOLS = {
    "read_file",
    "read_text_file",
    "read_media_file",
    "read_multiple_files",
    "write_file",
    "edit_file",
    "create_directory",
    "list_directory",
    "list_directory_with_sizes",
    "directory_tree",
    "move_file",
    "search_files",
    "get_file_info",
    "list_allowed_directories",
}
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "src").mkdir(parents=True)
    (root / "notes.txt").write_text("alpha\nbeta\ngamma\n")
    (root / "src" / "main.py").write_text("print('hi')\n")
    (root / "pic.png").write_bytes(PNG)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("TOP-SECRET\n")
    os.symlink("../outside/secret", root / "escape")
    os.mkfifo(root / "pipe")
    return root


async def _call(session, tool: str, **arguments):
    result = await session.call_tool(tool, arguments)
    return result, result_text(result)


async def test_lists_the_fourteen_tools_with_schemas(tree: Path) -> None:
    async with stdio_session(["filesystem", str(tree)]) as session:
        listed = (await session.list_tools()).tools
    assert {t.name for t in listed} == TOOLS
    by_name = {t.name: t for t in listed}
    assert by_name["edit_file"].input_schema["required"] == ["path", "edits"]
    assert by_name["read_text_file"].annotations.read_only_hint is True
    assert by_name["write_file"].annotations.destructive_hint is True


async def test_read_tools_over_stdio(tree: Path) -> None:
    async with stdio_session(["filesystem", str(tree)]) as session:
        result, text = await _call(session, "read_text_file", path="notes.txt", tail=1)
        assert text == "gamma\n" and result.structured_content == {"content": text}
        _, text = await _call(session, "read_file", path=str(tree / "notes.txt"), head=1)
        assert text == "alpha\n"
        result, _ = await _call(session, "read_media_file", path="pic.png")
        block = result.content[0]
        assert block.type == "image" and block.mime_type == "image/png"
        assert base64.b64decode(block.data) == PNG
        result, _ = await _call(session, "read_media_file", path="notes.txt")
        resource = result.content[0].resource
        assert resource.mime_type == "application/octet-stream"
        assert base64.b64decode(resource.blob) == b"alpha\nbeta\ngamma\n"
        _, text = await _call(session, "read_multiple_files", paths=["notes.txt", "escape"])
        assert "notes.txt:\nalpha" in text and "escape: Error - Access denied" in text
        _, text = await _call(session, "list_directory", path=".")
        assert text.splitlines() == [
            "[LINK] escape",
            "[FILE] notes.txt",
            "[FILE] pic.png",
            "[OTHER] pipe",
            "[DIR] src",
        ]
        _, text = await _call(session, "list_directory_with_sizes", path=".", sortBy="size")
        assert text.startswith("[FILE] notes.txt") and "Combined size: 33 B" in text
        _, text = await _call(session, "directory_tree", path=".", excludePatterns=["*.png"])
        nodes = json.loads(text)
        assert [n["name"] for n in nodes] == ["escape", "notes.txt", "pipe", "src"]
        assert nodes[3]["children"] == [{"name": "main.py", "type": "file"}]
        _, text = await _call(session, "search_files", path=".", pattern="**/*.py")
        assert text == str(tree / "src" / "main.py")
        _, text = await _call(session, "get_file_info", path="src")
        assert "isDirectory: true" in text
        _, text = await _call(session, "list_allowed_directories")
        assert text == f"Allowed directories:\n{tree.resolve()}"


async def test_write_tools_over_stdio(tree: Path) -> None:
    async with stdio_session(["filesystem", str(tree)]) as session:
        _, text = await _call(session, "create_directory", path="out/deep")
        assert text.startswith("Successfully created directory")
        await _call(session, "write_file", path="out/deep/a.txt", content="one\ntwo\n")
        edit = {"oldText": "two", "newText": "2"}
        result, text = await _call(session, "edit_file", path="out/deep/a.txt", edits=[edit])
        assert not result.is_error and "-two\n+2\n" in text
        _, text = await _call(session, "move_file", source="out/deep/a.txt", destination="b.txt")
        assert text.startswith("Successfully moved")
    assert (tree / "b.txt").read_text() == "one\n2\n"
    assert not (tree / "out" / "deep" / "a.txt").exists()


async def test_refusals_are_error_results_without_tracebacks(tree: Path) -> None:
    async with stdio_session(["filesystem", str(tree)]) as session:
        for tool, args, message in [
            ("read_text_file", {"path": "escape"}, "outside the allowed directories"),
            ("read_text_file", {"path": "pipe"}, "not a regular file"),
            ("write_file", {"path": "../x", "content": ""}, "'..' is not allowed"),
            ("read_text_file", {"path": 7}, "expected string"),
            ("read_text_file", {"path": "notes.txt", "extra": 1}, "unknown argument"),
            ("no_such_tool", {}, "Unknown tool"),
        ]:
            result, text = await _call(session, tool, **args)
            assert result.is_error, (tool, text)
            assert message in text and "Traceback" not in text, text
            assert result.structured_content is None


async def test_concurrent_calls_all_answered(tree: Path) -> None:
    async with stdio_session(["filesystem", str(tree)]) as session:
        answers: list[str] = []

        async def one(i: int) -> None:
            path = f"c{i}.txt"
            await session.call_tool("write_file", {"path": path, "content": f"{i}\n"})
            answers.append(result_text(await session.call_tool("read_text_file", {"path": path})))

        async with anyio.create_task_group() as group:
            for i in range(20):
                group.start_soon(one, i)
    assert sorted(answers) == sorted(f"{i}\n" for i in range(20))


async def test_roots_offered_by_the_client_never_widen(tree: Path) -> None:
    from mcp import types

    asked: list[bool] = []

    async def offer_everything(context) -> types.ListRootsResult:
        asked.append(True)
        return types.ListRootsResult(roots=[types.Root(uri="file:///", name="everything")])

    async with stdio_session(
        ["filesystem", str(tree)], list_roots_callback=offer_everything
    ) as session:
        await session.send_roots_list_changed()
        _, listed = await _call(session, "list_allowed_directories")
        result, text = await _call(session, "read_text_file", path="/etc/hostname")
    assert listed == f"Allowed directories:\n{tree.resolve()}"
    assert result.is_error and "outside the allowed directories" in text
    assert asked == []  # the server never requests roots at all


_DROP_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def _unprivileged_prefix() -> list[str]:
    """A command prefix under which mode bits apply to the server, or skip the test."""
    if os.geteuid() != 0:
        return []
    # Root bypasses mode bits; without CAP_DAC_OVERRIDE/READ_SEARCH it is held to them like
    # any user, which is how this test gets a directory the server really cannot read.
    if shutil.which("setpriv") and subprocess.run([*_DROP_DAC, "true"]).returncode == 0:
        return _DROP_DAC
    pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE with setpriv")


async def test_unreadable_subdirectory_skipped_when_permissions_apply(tree: Path) -> None:
    prefix = _unprivileged_prefix()
    locked = tree / "locked"
    locked.mkdir()
    (locked / "hidden.txt").write_text("x")
    locked.chmod(0)
    try:
        async with stdio_session(["filesystem", str(tree)], prefix=prefix) as session:
            _, tree_text = await _call(session, "directory_tree", path=".")
            _, found = await _call(session, "search_files", path=".", pattern="*.txt")
            result, text = await _call(session, "read_text_file", path="locked/hidden.txt")
    finally:
        locked.chmod(0o755)
    node = next(n for n in json.loads(tree_text) if n["name"] == "locked")
    assert node["skipped"] == "permission denied" and node["children"] == []
    assert "notes.txt" in found and "Skipped: locked: permission denied" in found
    assert result.is_error and "permission denied" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/no/such/dir"], "cannot open root '/no/such/dir'"),
        # (not /tmp: it holds the tests' appliance home, which confinement refuses to grant)
        (["--max-read-bytes", "0", "/usr/share"], "--max-read-bytes must be at least 1"),
    ],
)
def test_bad_command_line_is_a_clear_error(argv: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "serve", "filesystem", *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_allow_hardlinks_warns_at_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance.cli",
            "serve",
            "filesystem",
            str(tmp_path),
            "--allow-hardlinks",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0 and "WARNING --allow-hardlinks" in proc.stderr
