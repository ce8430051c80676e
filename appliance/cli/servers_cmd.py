"""``ironcurtain servers list|add|remove|annotate``: the MCP servers behind the chokepoint.

``add`` and ``remove`` edit ``mcpServers`` in config.json (validated, written atomically, 0600);
``list`` starts each server once to show its tools and whether the active policy has them
annotated (and against the same schema); ``annotate NAME`` runs the LLM annotator for that server
(as ``annotate-tools --server NAME``), or with ``--edit`` opens the annotations in ``$EDITOR``
for writing by hand. Tools without annotations are refused at run time with a message naming
this command (docs/servers.md, "Bring your own server").
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from appliance.config.paths import AppPaths, app_paths

EXIT_CONFIG = 2


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="servers_command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", help="servers, their tools and annotation state")
    listing.add_argument("--json", action="store_true", help="one JSON object")
    add = sub.add_parser("add", help="declare a server: NAME -- COMMAND ARGS…, or NAME --url URL")
    add.add_argument("name")
    _add_options(add)
    add.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS…")
    remove = sub.add_parser("remove", help="remove a declared server (or disable a shipped one)")
    remove.add_argument("name")
    annotate = sub.add_parser("annotate", help="annotate a server's tools (LLM, or --edit)")
    annotate.add_argument("name")
    annotate.add_argument("--edit", action="store_true", help="write the annotations by hand")
    annotate.add_argument("--timeout", type=float, default=120.0, help="seconds per LLM request")


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="a remote server over Streamable HTTP")
    parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--cwd", help="the server's working folder (default: the session sandbox)")
    parser.add_argument("--confinement", metavar="PROFILE", help="a confinement profile (JSON)")
    parser.add_argument("--replace", action="store_true", help="replace an entry of that name")


def _split_add(args: argparse.Namespace) -> list[str]:
    """argparse hands everything after NAME to the remainder: the options before ``--`` are
    parsed here, the words after it are the server's command."""
    words = list(args.command)
    cut = words.index("--") if "--" in words else len(words)
    options = argparse.ArgumentParser(
        prog="ironcurtain servers add NAME", add_help=False, allow_abbrev=False
    )
    _add_options(options)
    try:
        parsed, rest = options.parse_known_args(words[:cut])
    except SystemExit:
        raise _Refused("see the usage above") from None
    for key, value in vars(parsed).items():
        if value not in (None, [], False):
            setattr(args, key, value)
    return [*rest, *words[cut + 1 :]]


def run(args: argparse.Namespace) -> int:
    from appliance.config.servers import ServerDeclarationError
    from appliance.config.settings import ConfigError

    paths = app_paths()
    action = {"list": _list, "add": _add, "remove": _remove, "annotate": _annotate}
    try:
        return action[args.servers_command](args, paths)
    except (ConfigError, ServerDeclarationError, _Refused) as exc:
        print(f"ironcurtain servers {args.servers_command}: {exc}", file=sys.stderr)
        return EXIT_CONFIG


class _Refused(Exception):
    pass


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise _Refused(f"{flag} {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


def _add(args: argparse.Namespace, paths: AppPaths) -> int:
    from appliance.config.servers import DeclaredServer, check_name
    from appliance.config.settings import read_file_config, save_config

    name = check_name(args.name)
    command = _split_add(args)
    if bool(command) == bool(args.url):
        raise _Refused("give the server's command after --, or --url (not both)")
    entry: dict[str, Any] = {}
    if command:
        entry = {"command": command[0], "args": tuple(command[1:])}
        if args.cwd:
            entry["cwd"] = str(Path(args.cwd).expanduser().absolute())
        if args.confinement:
            profile = Path(args.confinement).expanduser().absolute()
            if not profile.is_file():
                raise _Refused(f"--confinement {args.confinement}: no such file")
            entry["confinement"] = str(profile)
    else:
        entry = {"url": args.url, "headers": _pairs(args.header, "--header")}
    if args.env:
        entry["env"] = _pairs(args.env, "--env")
    try:
        declared = DeclaredServer.model_validate(entry)
    except ValueError as exc:
        raise _Refused(f"mcpServers.{name}: {_first_error(exc)}") from None
    config = read_file_config(paths)
    if name in config.mcp_servers and not args.replace:
        raise _Refused(f"{name!r} is already declared; pass --replace to change it")
    servers = {**config.mcp_servers, name: declared}
    save_config(config.model_copy(update={"mcp_servers": servers}), paths)
    print(f"declared {name} in {paths.config_file}")
    if declared.remote:
        print("note: a remote server is not a process here: kernel confinement does not apply")
    if declared.confinement is None and not declared.remote:
        print("note: no confinement profile: it will run with your rights (docs/confinement.md)")
    print(f"next: `ironcurtain servers annotate {name}` so the policy can judge its tools")
    return 0


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where + ': ' if where else ''}{first.get('msg', exc)}"
    return str(exc)


def _remove(args: argparse.Namespace, paths: AppPaths) -> int:
    from appliance.config.servers import BUILTIN_SERVERS, DeclaredServer
    from appliance.config.settings import read_file_config, save_config

    config = read_file_config(paths)
    servers = dict(config.mcp_servers)
    if args.name in BUILTIN_SERVERS:
        servers[args.name] = DeclaredServer(disabled=True)
        message = f"disabled the shipped {args.name} server (remove the entry to restore it)"
    elif args.name in servers:
        del servers[args.name]
        message = f"removed {args.name}"
    else:
        raise _Refused(f"no declared server {args.name!r}")
    save_config(config.model_copy(update={"mcp_servers": servers}), paths)
    print(f"{message} in {paths.config_file}")
    return 0


def _list(args: argparse.Namespace, paths: AppPaths) -> int:
    from appliance.config.servers import registry
    from appliance.config.settings import load_config
    from appliance.session.core import policy_dir_for
    from policy.api import load_policy

    config = load_config(paths)
    policy = load_policy(policy_dir_for(paths))
    print("starting each server once to list its tools…", file=sys.stderr, flush=True)
    live = _live_tools(config)
    available = {"github_token": config.github_token is not None}
    rows = [
        _row(name, declared, live.get(name), policy.annotations.get(name, {}))
        for name, declared in registry(config.mcp_servers, available).items()
    ]
    if args.json:
        print(json.dumps({"servers": rows}, indent=2))
        return 0
    for row in rows:
        state = _state(row)
        print(f"{row['name']:<14} {row['kind']:<8} {state}")
        print(f"{'':<14} command: {row['command']}")
        print(f"{'':<14} confinement: {row['confinement']}")
    return 0


def _row(name: str, declared: Any, tools: Any, annotated: dict[str, Any]) -> dict[str, Any]:
    """One server's line: ``tools`` is {tool: live input schema}, or why it did not start."""
    from appliance.chokepoint.trip import same_schema

    started = isinstance(tools, dict)
    live: dict[str, Any] = tools if started else {}
    return {
        "name": name,
        "kind": "shipped" if declared is None else "remote" if declared.remote else "stdio",
        "command": _command(name, declared),
        "confinement": _confinement(declared),
        "tools": len(live) if started else None,
        "error": None if started else tools,
        "unannotated": sorted(set(live) - set(annotated)),
        "stale": sorted(
            tool
            for tool, schema in live.items()
            if tool in annotated
            and annotated[tool].input_schema is not None
            and not same_schema(annotated[tool].input_schema, schema)
        ),
    }


def _state(row: dict[str, Any]) -> str:
    if row["error"]:
        return f"{'unreachable' if row['kind'] == 'remote' else 'did not start'}: {row['error']}"
    problems = []
    if row["unannotated"]:
        problems.append(f"{len(row['unannotated'])} unannotated ({', '.join(row['unannotated'])})")
    if row["stale"]:
        problems.append(f"{len(row['stale'])} changed since annotated ({', '.join(row['stale'])})")
    fix = f" — run `ironcurtain servers annotate {row['name']}`" if problems else ""
    return f"{row['tools']} tools, " + ("; ".join(problems) or "all annotated") + fix


def _command(name: str, declared: Any) -> str:
    if declared is None:
        return f"ironcurtain serve {name}"
    if declared.remote:
        return declared.url
    return shlex.join([declared.command, *declared.args])


def _confinement(declared: Any) -> str:
    if declared is None:
        return "shipped profile (servers/NAME/confinement.json)"
    if declared.remote:
        return "NONE: a remote server; kernel confinement does not apply, only the policy"
    if declared.confinement is None:
        return "NONE: runs with your rights"
    return declared.confinement if isinstance(declared.confinement, str) else "inline profile"


def _live_tools(config: Any, only: str | None = None) -> dict[str, Any]:
    """name → {tool: input schema}, or an error string for a server that did not start."""
    import anyio

    from appliance.chokepoint.server_pool import ServerCallError, ServerPool
    from appliance.session.core import server_specs

    async def collect(scratch: Path) -> dict[str, Any]:
        specs = [s for s in server_specs(config, scratch) if not only or s.name == only]
        if only and not specs:
            raise _Refused(f"no server named {only!r}")
        out: dict[str, Any] = {}
        async with ServerPool(specs, start_timeout_s=60) as pool:
            for spec in specs:
                try:
                    tools = await pool.tools(spec.name)
                    out[spec.name] = {t.name: t.input_schema for t in tools.values()}
                except ServerCallError as exc:  # one bad server never fails the listing
                    cause = exc.__cause__ if spec.remote else None
                    out[spec.name] = str(cause or exc)
        return out

    with tempfile.TemporaryDirectory(prefix="ironcurtain-servers-") as scratch:
        return anyio.run(collect, Path(scratch))


def _annotate(args: argparse.Namespace, paths: AppPaths) -> int:
    if not args.edit:
        from appliance.cli.main import main as cli_main

        return cli_main(["annotate-tools", "--server", args.name, "--timeout", str(args.timeout)])
    return _annotate_by_hand(args.name, paths)


def _annotate_by_hand(name: str, paths: AppPaths) -> int:
    """Open the server's annotations (existing, or a draft from its live tools) in $EDITOR;
    validate; merge into the user's policy folder atomically. A draft that does not validate
    is kept and named, and nothing is written."""
    from appliance.config.settings import load_config
    from appliance.session.core import policy_dir_for
    from policy.api import ServerAnnotations, load_policy

    tools = _live_tools(load_config(paths), only=name).get(name)
    if isinstance(tools, str) or tools is None:
        raise _Refused(f"{name}: {tools or 'no tools'}")
    current = load_policy(policy_dir_for(paths)).annotations.get(name, {})
    draft = {"tools": [_draft_tool(name, tool, schema, current.get(tool)) for tool, schema in
                       sorted(tools.items())]}  # fmt: skip
    fd, where = tempfile.mkstemp(prefix=f"ironcurtain-annotate-{name}-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(draft, indent=2) + "\n")
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    print(_ROLE_HELP, file=sys.stderr)
    done = subprocess.run([*shlex.split(editor), where], check=False)
    if done.returncode != 0:
        raise _Refused(f"the editor exited with {done.returncode}; draft kept at {where}")
    try:
        edited = ServerAnnotations.model_validate_json(Path(where).read_text())
    except ValueError as exc:
        raise _Refused(f"{where}: {_first_error(exc)} (draft kept; fix it and run again)") from None
    _install_annotations(paths, name, edited)
    os.unlink(where)
    print(f"annotations for {name}: {len(edited.tools)} tools written to {paths.generated}")
    print("next: `ironcurtain compile-policy` so the rules cover the new tools")
    return 0


_ROLE_HELP = (
    "annotate each argument with its roles: read-path, write-path, delete-path, write-history, "
    "delete-history, fetch-url, git-remote-url, github-owner, github-repo, branch-name, "
    'commit-message, or "none" (docs/policy-format.md); inputSchema is what the tool takes'
)


def _draft_tool(server: str, tool: str, schema: dict[str, Any], existing: Any) -> dict[str, Any]:
    if existing is not None:
        entry = existing.model_dump(mode="json", by_alias=True, exclude_none=True)
    else:
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        entry = {
            "toolName": tool,
            "serverName": server,
            "comment": "",
            "sideEffects": True,
            "args": {arg: ["none"] for arg in props},
        }
    entry["inputSchema"] = schema
    return entry


def _install_annotations(paths: AppPaths, name: str, edited: Any) -> None:
    """Merge one server's annotations into the user's policy folder (made from the shipped
    policy when the user has none yet), through the compiler's atomic, load-checked install."""
    from policy.api import ToolAnnotationsFile, default_policy_dir
    from policy.compiler.api import install_files

    source = paths.generated if (paths.generated / "compiled-policy.json").is_file() else None
    base = source or default_policy_dir()
    files: dict[str, Any] = {}
    if source is None:
        for file in ("compiled-policy.json", "dynamic-lists.json", "test-scenarios.json"):
            if (base / file).is_file():
                files[file] = json.loads((base / file).read_text())
    existing = ToolAnnotationsFile.model_validate_json((base / "tool-annotations.json").read_text())
    servers = {s: a.model_dump(mode="json", by_alias=True, exclude_none=True)
               for s, a in existing.servers.items()}  # fmt: skip
    servers[name] = edited.model_dump(mode="json", by_alias=True, exclude_none=True)
    files["tool-annotations.json"] = {"generatedAt": existing.generated_at, "servers": servers}
    install_files(paths.generated, files)
