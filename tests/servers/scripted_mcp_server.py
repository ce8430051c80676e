"""An MCP server that misbehaves on purpose, for the client's tests: run as
``python scripted_mcp_server.py MODE``. It answers ``initialize`` and a paged ``tools/list``
correctly; what it does on ``tools/call`` depends on MODE:

- ``chatty``: progress and logging notifications, then a ``ping`` request of its own (whose
  answer it reports back), then the result
- ``deep``: a result nested 100,000 levels deep
- ``deep-structured``: a parseable ``structuredContent`` nested 200 levels deep
- ``long``: a 10 MB line
- ``garbage``: a line that is not JSON
- ``error``: a JSON-RPC error answer (the next call works)
- ``stranger``: an answer to a request never sent, then the real answer
- ``slow``: the result after ``arguments["ms"]`` milliseconds
"""

from __future__ import annotations

import json
import sys
import time

PAGES = [["one", "two"], ["three"]]


def send(out, message) -> None:
    out.write((json.dumps(message) if not isinstance(message, str) else message) + "\n")
    out.flush()


def tools_page(params: dict) -> dict:
    index = int(params.get("cursor") or 0)
    tools = [{"name": n, "inputSchema": {"type": "object"}} for n in PAGES[index]]
    page: dict = {"tools": tools}
    if index + 1 < len(PAGES):
        page["nextCursor"] = str(index + 1)
    return page


def call(mode: str, request: dict, out, calls: list[int]) -> None:
    rid = request["id"]
    calls.append(rid)
    text = {"content": [{"type": "text", "text": f"called {request['params']['name']}"}]}
    if mode == "chatty":
        token = {"progressToken": rid, "progress": 1, "total": 2}
        send(out, {"jsonrpc": "2.0", "method": "notifications/progress", "params": token})
        log = {"level": "info", "data": "working"}
        send(out, {"jsonrpc": "2.0", "method": "notifications/message", "params": log})
        send(out, {"jsonrpc": "2.0", "id": "srv-1", "method": "ping"})
        send(out, {"jsonrpc": "2.0", "id": "srv-2", "method": "roots/list"})
        answers = [json.loads(sys.stdin.readline()) for _ in range(2)]
        text["content"][0]["text"] = json.dumps(answers)
    elif mode == "deep":
        depth = 100_000
        send(out, f'{{"jsonrpc":"2.0","id":{rid},"result":{"[" * depth}{"]" * depth}}}')
        return
    elif mode == "deep-structured":
        nested: object = 1
        for _ in range(200):
            nested = {"a": nested}
        text["structuredContent"] = {"x": nested}
    elif mode == "long":
        pad = "x" * 10_000_000
        send(out, f'{{"jsonrpc":"2.0","id":{rid},"result":{{"pad":"{pad}"}}}}')
        return
    elif mode == "garbage":
        send(out, "this is not json")
        return
    elif mode == "error" and len(calls) == 1:
        send(out, {"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": "bad"}})
        return
    elif mode == "slow":
        time.sleep(request["params"]["arguments"]["ms"] / 1000)
    elif mode == "stranger":
        send(out, {"jsonrpc": "2.0", "id": 9999, "result": {}})
    send(out, {"jsonrpc": "2.0", "id": rid, "result": text})


def main(mode: str) -> None:
    out = sys.stdout
    calls: list[int] = []
    for line in sys.stdin:
        request = json.loads(line)
        method = request.get("method")
        if "id" not in request:
            continue
        if method == "initialize":
            result = {
                "protocolVersion": request["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "scripted", "version": "0"},
            }
            send(out, {"jsonrpc": "2.0", "id": request["id"], "result": result})
        elif method == "tools/list":
            page = tools_page(request.get("params") or {})
            send(out, {"jsonrpc": "2.0", "id": request["id"], "result": page})
        elif method == "tools/call":
            call(mode, request, out, calls)


if __name__ == "__main__":
    main(sys.argv[1])
