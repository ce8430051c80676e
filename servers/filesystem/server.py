"""The 14 tools of the reference filesystem server: names, argument schemas, annotations.

The schemas match ``@modelcontextprotocol/server-filesystem`` so policies and clients written for
it apply unchanged; ``head``/``tail`` are integers >= 0 here where the reference takes any number.
Every handler is wrapped so an OSError becomes a short tool error (``isError: true``) naming the
path, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from servers.filesystem import reading, writing
from servers.filesystem.reading import Context
from servers.filesystem.resolve import reason, shown
from servers.wire.server import StdioServer, Tool, ToolError, ToolResult

__all__ = ["build_server", "tools"]

_PATH = {"type": "string"}
# `content` repeats the text block for clients that read structured content; a text over
# STRUCTURED_TEXT_LIMIT is sent once (in the text block) with `{"inText": true}` here instead.
_TEXT_OUTPUT = {
    "type": "object",
    "properties": {"content": {"type": "string"}, "inText": {"type": "boolean"}},
}
_READ = {"readOnlyHint": True}
_STRINGS = {"type": "array", "items": {"type": "string"}}


def _object(required: list[str], **properties: dict) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_READ_TEXT = _object(
    ["path"],
    path=_PATH,
    head={"type": "integer", "minimum": 0, "description": "only the first N lines"},
    tail={"type": "integer", "minimum": 0, "description": "only the last N lines"},
)
_EDIT = _object(["oldText", "newText"], oldText={"type": "string"}, newText={"type": "string"})

# name -> (handler, description, schema, annotations, text output?)
_TABLE: dict[str, tuple[Callable, str, dict, dict, bool]] = {
    "read_file": (
        reading.read_text_file,
        "Read a text file. Deprecated alias of read_text_file.",
        _READ_TEXT,
        _READ,
        True,
    ),
    "read_text_file": (
        reading.read_text_file,
        "Read a UTF-8 text file inside the allowed directories; head or tail reads only the "
        "first or last N lines. Large and binary files are refused with a clear message.",
        _READ_TEXT,
        _READ,
        True,
    ),
    "read_media_file": (
        reading.read_media_file,
        "Read an image or audio file; returns base64 data with its MIME type.",
        _object(["path"], path=_PATH),
        _READ,
        False,
    ),
    "read_multiple_files": (
        reading.read_multiple_files,
        "Read several text files at once; a failing path is reported without failing the rest.",
        _object(["paths"], paths={**_STRINGS, "minItems": 1}),
        _READ,
        True,
    ),
    "write_file": (
        writing.write_file,
        "Create a file or replace its content atomically (mode and line endings are kept).",
        _object(["path", "content"], path=_PATH, content={"type": "string"}),
        {"readOnlyHint": False, "idempotentHint": True, "destructiveHint": True},
        True,
    ),
    "edit_file": (
        writing.edit_file,
        "Replace exact text in a file; each oldText must occur exactly once. Returns a unified "
        "diff; dryRun shows it without writing.",
        _object(
            ["path", "edits"],
            path=_PATH,
            edits={"type": "array", "items": _EDIT},
            dryRun={"type": "boolean", "default": False},
        ),
        {"readOnlyHint": False, "idempotentHint": False, "destructiveHint": True},
        True,
    ),
    "create_directory": (
        writing.create_directory,
        "Create a directory and any missing parents; fine if it already exists.",
        _object(["path"], path=_PATH),
        {"readOnlyHint": False, "idempotentHint": True, "destructiveHint": False},
        True,
    ),
    "list_directory": (
        reading.list_directory,
        "List a directory's entries marked [DIR], [FILE], [LINK] or [OTHER].",
        _object(["path"], path=_PATH),
        _READ,
        True,
    ),
    "list_directory_with_sizes": (
        reading.list_directory_with_sizes,
        "List a directory's entries with file sizes, sorted by name or size.",
        _object(["path"], path=_PATH, sortBy={"type": "string", "enum": ["name", "size"]}),
        _READ,
        True,
    ),
    "directory_tree": (
        reading.directory_tree,
        "A recursive JSON tree of entries (name, type, children); symlinked directories are not "
        "entered; excludePatterns are globs. Size, depth and time are capped.",
        _object(["path"], path=_PATH, excludePatterns=_STRINGS),
        _READ,
        True,
    ),
    "move_file": (
        writing.move_file,
        "Move or rename a file or directory; never overwrites an existing destination.",
        _object(["source", "destination"], source=_PATH, destination=_PATH),
        {"readOnlyHint": False, "idempotentHint": False, "destructiveHint": False},
        True,
    ),
    "search_files": (
        reading.search_files,
        "Find entries whose path relative to `path` matches a glob ('**/*.py', 'src/*.ts'; a "
        "pattern without '/' matches names at any depth). Results and time are capped.",
        _object(
            ["path", "pattern"], path=_PATH, pattern={"type": "string"}, excludePatterns=_STRINGS
        ),
        _READ,
        True,
    ),
    "get_file_info": (
        reading.get_file_info,
        "Size, times, type and permissions of a file or directory.",
        _object(["path"], path=_PATH),
        _READ,
        True,
    ),
    "list_allowed_directories": (
        reading.list_allowed_directories,
        "The directories this server may access (fixed when it started).",
        _object([]),
        _READ,
        True,
    ),
}


def tools(ctx: Context) -> list[Tool]:
    return [
        Tool(
            name=name,
            description=description,
            input_schema=schema,
            handler=partial(_guarded, handler, ctx),
            annotations=annotations,
            output_schema=_TEXT_OUTPUT if text_output else None,
        )
        for name, (handler, description, schema, annotations, text_output) in _TABLE.items()
    ]


def _guarded(handler: Callable[[Context, dict], ToolResult], ctx: Context, args: dict):
    try:
        return handler(ctx, args)
    except OSError as exc:
        where = args.get("path") or args.get("source") or ""
        raise ToolError(f"{shown(str(where))}: {reason(exc)}".lstrip(": ")) from None
    except UnicodeError:
        raise ToolError("a path or text is not valid Unicode") from None


def build_server(ctx: Context) -> StdioServer:
    return StdioServer(
        "ironcurtain-filesystem",
        "0.1.0",
        tools(ctx),
        instructions="Allowed directories: " + ", ".join(ctx.roots.listing()),
    )
