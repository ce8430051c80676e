"""The read-only tools: read files, list and walk directories, search, describe, list roots.

Each handler takes the checked arguments and returns a ToolResult; refusals raise ToolError.
Text results carry ``structuredContent: {"content": text}`` like the reference server, except text
over STRUCTURED_TEXT_LIMIT, sent once (``{"inText": true}``); head/tail read at most
HEAD_TAIL_LINE_BYTES a line asked for, so ``head: 1`` of a newline-free file stays small.
"""

from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import dataclass

from servers.filesystem.fileio import (
    Limits,
    TooLarge,
    decode_text,
    open_regular,
    read_all,
    read_head,
    read_tail,
)
from servers.filesystem.resolve import Roots, shown
from servers.filesystem.walk import Budget, Glob, list_entries, search, tree
from servers.wire.server import ToolError, ToolResult

MAX_MULTIPLE_FILES = 100
MAX_LISTING = 10_000
MAX_SEARCH_RESULTS = 1_000
MAX_PATTERNS = 100
WALK_ENTRIES = 100_000
TREE_ENTRIES = 10_000  # a tree is returned whole as JSON: keep it readable (~1 MB at most)
WALK_DEPTH = 64
WALK_SECONDS = 10.0
_MEDIA = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".svg": "image/svg+xml",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
}


@dataclass(frozen=True)
class Context:
    roots: Roots
    limits: Limits


STRUCTURED_TEXT_LIMIT = 64 * 1024  # characters; larger text is not sent twice
HEAD_TAIL_LINE_BYTES = 64 * 1024  # what one line of head/tail may take (newline-free files)


def text_result(text: str) -> ToolResult:
    if len(text) > STRUCTURED_TEXT_LIMIT:
        return ToolResult(text, structured={"inText": True})
    return ToolResult(text, structured={"content": text})


def read_text_file(ctx: Context, args: dict) -> ToolResult:
    return text_result(_read_text(ctx, args["path"], args.get("head"), args.get("tail")))


def _read_text(ctx: Context, path: str, head: int | None, tail: int | None) -> str:
    if head is not None and tail is not None:
        raise ToolError("give either head or tail, not both")
    cap = ctx.limits.max_read_bytes
    if head is not None or tail is not None:  # a line count asks for lines, not the whole cap
        cap = min(cap, max(1, head if head is not None else tail) * HEAD_TAIL_LINE_BYTES)
    with ctx.roots.locate(path) as loc:
        fd, st = open_regular(loc, ctx.limits)
        shown_path = loc.path
    try:
        if head is not None:
            data, cut = read_head(fd, head, cap)
            text = decode_text(data, shown_path, cut_end=cut)
            return text + (f"\n[truncated: head stopped at the {cap}-byte limit]" if cut else "")
        if tail is not None:
            data, cut = read_tail(fd, tail, cap, st.st_size)
            text = decode_text(data, shown_path, cut_start=cut)
            return (f"[truncated: tail stopped at the {cap}-byte limit]\n" if cut else "") + text
        return decode_text(read_all(fd, shown_path, cap), shown_path)
    finally:
        os.close(fd)


def read_media_file(ctx: Context, args: dict) -> ToolResult:
    import binascii

    with ctx.roots.locate(args["path"]) as loc:
        fd, _st = open_regular(loc, ctx.limits)
        shown_path = shown(loc.path)
    try:
        data = read_all(fd, shown_path, ctx.limits.max_read_bytes)
    finally:
        os.close(fd)
    mime = _MEDIA.get(os.path.splitext(shown_path)[1].lower(), "application/octet-stream")
    encoded = binascii.b2a_base64(data, newline=False).decode("ascii")
    kind = mime.split("/")[0]
    if kind in ("image", "audio"):
        block = {"type": kind, "data": encoded, "mimeType": mime}
    else:
        from urllib.parse import quote

        uri = "file://" + quote(shown_path)
        block = {"type": "resource", "resource": {"uri": uri, "mimeType": mime, "blob": encoded}}
    return ToolResult(f"{mime}, {len(data)} bytes", content=[block])


def read_multiple_files(ctx: Context, args: dict) -> ToolResult:
    paths = args["paths"]
    if len(paths) > MAX_MULTIPLE_FILES:
        raise ToolError(f"at most {MAX_MULTIPLE_FILES} paths per call")
    cap = ctx.limits.max_read_bytes
    budget = cap
    skipped = f"Error - skipped, it would pass the combined limit of {cap} bytes for one call"
    parts = []
    for path in paths:
        if budget <= 0:
            parts.append(f"{shown(path)}: {skipped}")
            continue
        try:
            limits = Limits(budget, ctx.limits.allow_hardlinks, ctx.limits.umask)
            text = _read_text(Context(ctx.roots, limits), path, None, None)
        except TooLarge as exc:
            parts.append(f"{shown(path)}: {skipped if budget < cap else f'Error - {exc}'}")
            continue
        except ToolError as exc:
            parts.append(f"{shown(path)}: Error - {exc}")
            continue
        budget -= len(text.encode())
        parts.append(f"{shown(path)}:\n{text}\n")
    return text_result("\n---\n".join(parts))


_LABELS = {"directory": "[DIR]", "file": "[FILE]", "symlink": "[LINK]", "other": "[OTHER]"}


def list_directory(ctx: Context, args: dict) -> ToolResult:
    entries, cut = _listing(ctx, args["path"])
    lines = [f"{_LABELS[kind]} {shown(name)}" for name, kind, _size in entries]
    if cut:
        lines.append(f"[listing cut at {MAX_LISTING} entries]")
    return text_result("\n".join(lines))


def list_directory_with_sizes(ctx: Context, args: dict) -> ToolResult:
    entries, cut = _listing(ctx, args["path"], sizes=True)
    rows = [(shown(name), kind, size) for name, kind, size in entries]
    if args.get("sortBy") == "size":
        rows.sort(key=lambda row: (-row[2], row[0]))
    lines = [
        f"[DIR]  {name}"
        if kind == "directory"
        else f"{_LABELS[kind]:<6} {name:<30} {_size(size):>10}"
        for name, kind, size in rows
    ]
    files = [row for row in rows if row[1] != "directory"]
    lines += [
        "",
        f"Total: {len(files)} files, {len(rows) - len(files)} directories",
        f"Combined size: {_size(sum(row[2] for row in files))}",
    ]
    if cut:
        lines.append(f"[listing cut at {MAX_LISTING} entries]")
    return text_result("\n".join(lines))


def _listing(ctx: Context, path: str, sizes: bool = False) -> tuple[list, bool]:
    with ctx.roots.locate(path) as loc:
        fd = loc.open_dir()
    try:
        return list_entries(fd, MAX_LISTING, sizes)
    finally:
        os.close(fd)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"


def _globs(patterns: list[str]) -> list[Glob]:
    if len(patterns) > MAX_PATTERNS:
        raise ToolError(f"at most {MAX_PATTERNS} excludePatterns")
    return [Glob(p) for p in patterns]


def directory_tree(ctx: Context, args: dict) -> ToolResult:
    excludes = _globs(args.get("excludePatterns") or [])
    budget = Budget(min(TREE_ENTRIES, WALK_ENTRIES), WALK_DEPTH, WALK_SECONDS)
    with ctx.roots.locate(args["path"]) as loc:
        fd = loc.open_dir()
    try:
        nodes = tree(fd, excludes, budget)
    finally:
        os.close(fd)
    text = json.dumps(nodes, indent=2, ensure_ascii=False)
    if budget.stopped:
        text += f"\n\nWalk incomplete: {budget.stopped}."
    return text_result(text)


def search_files(ctx: Context, args: dict) -> ToolResult:
    pattern = Glob(args["pattern"])
    excludes = _globs(args.get("excludePatterns") or [])
    budget = Budget(WALK_ENTRIES, WALK_DEPTH, WALK_SECONDS)
    found: list[tuple[str, ...]] = []
    with ctx.roots.locate(args["path"]) as loc:
        fd = loc.open_dir()
        base = loc.path.rstrip("/")
    try:
        search(fd, pattern, excludes, budget, found, MAX_SEARCH_RESULTS)
    finally:
        os.close(fd)
    lines = [shown("/".join((base, *rel))) for rel in found] or ["No matches found"]
    return text_result("\n".join([*lines, *budget.notes()]))


def get_file_info(ctx: Context, args: dict) -> ToolResult:
    with ctx.roots.locate(args["path"]) as loc:
        st = loc.lstat if loc.name is not None else os.fstat(loc.dir_fd)
        if st is None:
            raise ToolError(f"{shown(loc.path)}: no such file or directory")
    info = {
        "size": st.st_size,
        "changed": _when(st.st_ctime),  # Linux stat has no birth time
        "modified": _when(st.st_mtime),
        "accessed": _when(st.st_atime),
        "isDirectory": str(stat.S_ISDIR(st.st_mode)).lower(),
        "isFile": str(stat.S_ISREG(st.st_mode)).lower(),
        "isSymbolicLink": str(stat.S_ISLNK(st.st_mode)).lower(),
        "permissions": format(stat.S_IMODE(st.st_mode), "o"),
        "hardLinks": st.st_nlink,
    }
    return text_result("\n".join(f"{key}: {value}" for key, value in info.items()))


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def list_allowed_directories(ctx: Context, args: dict) -> ToolResult:
    return text_result("Allowed directories:\n" + "\n".join(map(shown, ctx.roots.listing())))
