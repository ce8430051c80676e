"""What the shipped servers offer, known without starting them.

The agent's catalogue (Code Mode's namespaces and ``help()``, the tools ``mcp-proxy`` and the
Docker gate list) used to need every server started and asked ``tools/list`` before the first
line of agent code ran: ~150-300 ms of process starts for a snippet that may call no tool. The
shipped servers' tools are fixed by this release's code, so their list is data:
``servers/catalog.json``, written by ``python -m appliance.session.catalog --write`` from the
servers' own live answers, and compared with them by ``tests/chokepoint/test_shipped_catalog.py``
(the test fails, naming that command, the moment a server's tools change).

Only the listing uses it. A call still starts its server and the chokepoint still checks the
tool against the *live* list (``structural-unannotated-tool``, ``structural-stale-annotation``),
so a wrong file costs a wrong description, never a decision. Declared servers are always asked:
their code is not ours and can change under the same name.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from appliance.chokepoint.server_pool import ToolInfo, tool_info
from appliance.host.bundle import bundle_root

__all__ = ["catalog_path", "shipped_catalog"]


def catalog_path():
    return bundle_root() / "servers" / "catalog.json"


@cache
def shipped_catalog() -> dict[str, tuple[ToolInfo, ...]]:
    """Each shipped server's tools as its live ``tools/list`` gives them; {} when the file is
    missing or unreadable (then every server is started and asked, as before)."""
    try:
        data = json.loads(catalog_path().read_text(encoding="utf-8"))
        return {
            server: tuple(tool_info(server, tool) for tool in tools)
            for server, tools in data["servers"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _live(tools: list[ToolInfo]) -> dict[str, Any]:
    servers: dict[str, list[dict[str, Any]]] = {}
    for t in tools:
        entry = {"name": t.name, "description": t.description, "inputSchema": t.input_schema}
        servers.setdefault(t.server, []).append(entry)
    return {"servers": {name: servers[name] for name in sorted(servers)}}


async def live_catalog() -> dict[str, Any]:
    """Start every shipped server (in a scratch sandbox) and write down what it lists."""
    import tempfile
    from pathlib import Path

    from appliance.chokepoint.server_pool import ServerPool
    from appliance.config.servers import BUILTIN_SERVERS
    from appliance.config.settings import Config
    from appliance.session.core import server_specs

    with tempfile.TemporaryDirectory(prefix="ironcurtain-catalog-") as scratch:
        specs = [
            s
            for s in server_specs(Config(), Path(scratch), all_shipped=True, use_catalog=False)
            if s.name in BUILTIN_SERVERS
        ]
        async with ServerPool(specs) as pool:
            return _live(await pool.all_tools())


def main(argv: list[str] | None = None) -> int:
    import argparse

    import anyio

    from appliance.host.atomic import write_text_atomic

    parser = argparse.ArgumentParser(prog="python -m appliance.session.catalog")
    parser.add_argument("--write", action="store_true", help=f"rewrite {catalog_path()}")
    args = parser.parse_args(argv)
    text = json.dumps(anyio.run(live_catalog), indent=1, sort_keys=True) + "\n"
    if not args.write:
        print(text, end="")
        return 0
    write_text_atomic(catalog_path(), text, mode=0o644)
    print(f"wrote {catalog_path()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
