"""Tool namespaces for agent code inside the sandbox: ``git.git_status()``, ``tools.call(...)``.

Everything here is a convenience over one host import, ``tools.call(name, args_json)``. The host
re-checks every call (name in the catalogue, argument size, JSON shape) and the chokepoint decides;
nothing in this module is a security boundary, it only turns the host's answers into Python values
and exceptions the agent can act on.
"""

import json

# Text results that look like a JSON object or array come back parsed; anything else stays text.
_JSON_OPENERS = ("{", "[")


class ToolError(Exception):
    """A tool call the host refused or that failed: ``ToolError("DENIED: outside the sandbox")``."""


class UnknownToolError(ToolError, AttributeError):
    """A server or tool the catalogue does not list (also an AttributeError, like attributes)."""


def _decode(text):
    stripped = text.lstrip()
    if stripped.startswith(_JSON_OPENERS):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


class ToolBridge:
    """Holds the catalogue for one run and forwards calls to the host import."""

    def __init__(self, catalog, host_call):
        self._host_call = host_call
        self.tools = {}
        for entry in catalog:
            self.tools[f"{entry['server']}.{entry['name']}"] = entry

    def call(self, name, args=None):
        if not isinstance(name, str) or name not in self.tools:
            raise UnknownToolError(f"unknown tool {name!r}; help() lists the available tools")
        args_json = self._encode_args(name, args)
        ok, text = self._host_call(name, args_json)
        if not ok:
            raise ToolError(text)
        return _decode(text)

    @staticmethod
    def _encode_args(name, args):
        if args is None:
            return "{}"
        if isinstance(args, str):
            try:
                parsed = json.loads(args)
            except ValueError as exc:
                raise ToolError(f"{name}: arguments are not valid JSON ({exc})") from None
            args = parsed
        if not isinstance(args, dict):
            raise ToolError(f"{name}: arguments must be a JSON object, got {type(args).__name__}")
        try:
            return json.dumps(args, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ToolError(f"{name}: arguments are not JSON-serialisable ({exc})") from None

    def servers(self):
        names = []
        for entry in self.tools.values():
            if entry["server"] not in names:
                names.append(entry["server"])
        return names


def python_name(name):
    return name.replace("-", "_").replace(".", "_")


class ToolFunction:
    """``git.git_log(max_count=5)``; positional arguments fill the required ones in order."""

    def __init__(self, bridge, entry):
        self._bridge = bridge
        self._entry = entry
        self.__name__ = python_name(entry["name"])
        self.__doc__ = describe_tool(entry)

    def __call__(self, *args, **kwargs):
        entry = self._entry
        required = list(entry.get("required") or [])
        if len(args) > len(required):
            raise ToolError(
                f"{entry['server']}.{entry['name']}: takes at most {len(required)} positional "
                f"arguments ({', '.join(required) or 'none'}); pass the others by name"
            )
        for key, value in zip(required, args, strict=False):
            if key in kwargs:
                raise ToolError(f"{entry['server']}.{entry['name']}: {key!r} given twice")
            kwargs[key] = value
        return self._bridge.call(f"{entry['server']}.{entry['name']}", kwargs)

    def __repr__(self):
        return f"<tool {self._entry['server']}.{self._entry['name']}>"


class ServerNamespace:
    """One MCP server's tools as attributes: ``filesystem.read_text_file``."""

    def __init__(self, bridge, server):
        self._server = server
        self._functions = {}
        for entry in bridge.tools.values():
            if entry["server"] == server:
                self._functions[python_name(entry["name"])] = ToolFunction(bridge, entry)

    def __getattr__(self, attr):
        functions = self.__dict__.get("_functions", {})
        if attr in functions:
            return functions[attr]
        known = ", ".join(sorted(functions)) or "none"
        raise UnknownToolError(f"server {self._server!r} has no tool {attr!r}; its tools: {known}")

    def __dir__(self):
        return sorted(self._functions)

    def __repr__(self):
        return f"<tools of {self._server}: {', '.join(sorted(self._functions))}>"


class ToolsNamespace:
    """``tools.call("git.git_status", {})`` and ``tools.git.git_status()``."""

    def __init__(self, bridge, servers):
        self._bridge = bridge
        self._servers = servers

    def call(self, name, args=None):
        return self._bridge.call(name, args)

    def __getattr__(self, attr):
        servers = self.__dict__.get("_servers", {})
        if attr in servers:
            return servers[attr]
        raise UnknownToolError(f"no server {attr!r}; servers: {', '.join(sorted(servers))}")


def _signature(entry):
    required = list(entry.get("required") or [])
    optional = [p for p in (entry.get("properties") or {}) if p not in required]
    parts = required + [f"{p}=..." for p in optional]
    return f"{entry['server']}.{python_name(entry['name'])}({', '.join(parts)})"


def describe_tool(entry):
    lines = [_signature(entry)]
    if entry.get("description"):
        lines.append("    " + str(entry["description"]).strip().replace("\n", "\n    "))
    for prop, schema in (entry.get("properties") or {}).items():
        # the host's catalogue gives each argument's JSON type as a string; a schema also works
        schema = schema if isinstance(schema, dict) else {"type": schema}
        mark = "required" if prop in (entry.get("required") or []) else "optional"
        kind = schema.get("type") if isinstance(schema.get("type"), str) else "any"
        text = str(schema.get("description", "")).strip()
        lines.append(f"    {prop} ({kind}, {mark}){': ' + text if text else ''}")
    return "\n".join(lines)


def _first_line(text):
    return str(text or "").strip().split("\n", 1)[0][:120]


def help_text(bridge, topic=None):
    """The text ``help()`` prints: answered from the catalogue, never from the policy."""
    if topic is None:
        lines = ["Servers and tools (help('server') or help('server.tool') for details):"]
        for server in bridge.servers():
            lines.append(f"  {server}:")
            for entry in bridge.tools.values():
                if entry["server"] == server:
                    lines.append(
                        f"    {_signature(entry)}  {_first_line(entry.get('description'))}"
                    )
        lines.append("Call them as server.tool(arg=value); a refused call raises ToolError.")
        return "\n".join(lines)
    if isinstance(topic, ToolFunction):
        return topic.__doc__
    if isinstance(topic, ServerNamespace):  # help(filesystem): the object, not its name
        topic = topic._server
    topic = str(topic)
    if topic in bridge.tools:
        return describe_tool(bridge.tools[topic])
    entries = [e for e in bridge.tools.values() if e["server"] == topic]
    if entries:
        return "\n".join(describe_tool(e) for e in entries)
    return f"no server or tool named {topic!r}; help() lists them"


def build_namespaces(bridge):
    """The names agent code sees: one attribute per server, ``tools``, ``ToolError``, ``help``."""
    servers = {python_name(s): ServerNamespace(bridge, s) for s in bridge.servers()}

    # Replaces the builtin on purpose: pydoc is not in the guest; this answers from the catalogue.
    def help(topic=None):
        print(help_text(bridge, topic))

    names = dict(servers)
    names["tools"] = ToolsNamespace(bridge, servers)
    names["ToolError"] = ToolError
    names["help"] = help
    return names
