"""A hostile MCP server over real stdio that answers with a line of millions of tiny values
(``[{},{},…]``): within the line limit, yet ~1.5 GB of Python objects once parsed. The client
counts a long line's values (brackets and commas outside strings) before parsing it and gives
up on the connection with a clear error; a long line of text, commas and brackets inside its
strings, is read as before."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from servers.wire.client import MAX_VALUES, ProtocolError, StdioClient

pytestmark = pytest.mark.anyio

_SERVER = """
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\\n"); sys.stdout.flush()
for line in sys.stdin:
    m = json.loads(line)
    if m.get("method") == "initialize":
        send({"jsonrpc": "2.0", "id": m["id"], "result": {"protocolVersion": "2025-11-25",
              "capabilities": {"tools": {}}, "serverInfo": {"name": "hostile", "version": "0"}}})
    elif m.get("method") == "tools/call":
        name = m["params"]["name"]
        if name == "tiny":  # COUNT empty objects, written by hand: no 1.5 GB in this process
            head = '{"jsonrpc": "2.0", "id": %d, "result": {"content": [], "x": [' % m["id"]
            sys.stdout.write(head + "{}," * COUNT + "{}]}}\\n"); sys.stdout.flush()
        else:  # one long text whose commas and brackets are inside its string
            text = "a,b,[{c}] " * (COUNT // 2)
            send({"jsonrpc": "2.0", "id": m["id"],
                  "result": {"content": [{"type": "text", "text": text}]}})
"""


def _script(tmp_path: Path, count: int) -> Path:
    script = tmp_path / "values.py"
    script.write_text(textwrap.dedent(_SERVER).replace("COUNT", str(count)))
    return script


async def test_a_line_of_millions_of_tiny_values_is_refused_before_it_is_parsed(tmp_path):
    script = _script(tmp_path, MAX_VALUES + 10)
    with anyio.fail_after(20):
        async with StdioClient([sys.executable, str(script)]) as client:
            await client.initialize()
            with pytest.raises(ProtocolError, match=f"the limit is {MAX_VALUES}"):
                await client.call_tool("tiny", {})


async def test_a_long_text_with_commas_and_brackets_in_its_string_is_read(tmp_path):
    script = _script(tmp_path, MAX_VALUES + 10)
    with anyio.fail_after(20):
        async with StdioClient([sys.executable, str(script)]) as client:
            await client.initialize()
            result = await client.call_tool("text", {})
    text = result["content"][0]["text"]
    assert text.count(",") > MAX_VALUES and text.startswith("a,b,[{c}] ")
