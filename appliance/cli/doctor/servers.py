"""Every server of the registry (shipped and declared) starts and lists its tools, as a session
would start them; then whether the policy can judge those tools (``annotations.py``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from appliance.cli.doctor.annotations import annotation_checks
from appliance.cli.doctor.base import SERVER_START_TIMEOUT_S, Check, Facts, fail, ok
from appliance.cli.doctor.confinement import _innermost


def check_servers(facts: Facts) -> list[Check]:
    import anyio

    with tempfile.TemporaryDirectory(prefix="ironcurtain-doctor-") as sandbox:
        return anyio.run(_list_tools, facts, Path(sandbox))


async def _list_tools(facts: Facts, sandbox: Path) -> list[Check]:
    import anyio

    from appliance.chokepoint.server_pool import ServerPool
    from appliance.session.core import server_specs

    specs = server_specs(facts.config, sandbox)
    found: dict[str, Check] = {}
    listed: dict[str, dict] = {}

    async def probe(pool: ServerPool, name: str) -> None:
        name_of = f"server:{name}"
        try:
            tools = await pool.tools(name)
        except Exception as exc:  # the finding: this server does not start
            cause = _innermost(exc.__cause__ or exc)
            detail = f"does not start or list its tools: {type(cause).__name__}: {cause}"[:240]
            fix = f"run `ironcurtain serve {name}` by hand and read its error output"
            if pool.specs[name].remote:
                detail = f"unreachable: {cause}"[:240]
                fix = f"check mcpServers.{name}.url and its headers (`ironcurtain servers list`)"
            found[name] = fail(name_of, detail, fix)
            return
        found[name] = ok(name_of, f"{len(tools)} tools")
        listed[name] = {tool: info.input_schema for tool, info in tools.items()}

    pool = ServerPool(specs, start_timeout_s=SERVER_START_TIMEOUT_S)
    async with pool, anyio.create_task_group() as group:
        for spec in specs:
            group.start_soon(probe, pool, spec.name)
    started = [found[spec.name] for spec in specs]
    return started + annotation_checks(
        facts, {s.name: listed[s.name] for s in specs if s.name in listed}
    )
