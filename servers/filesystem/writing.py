"""The tools that change the tree: write_file, edit_file, create_directory, move_file.

Writes are atomic and keep the old file's mode and line endings (``fileio.write_atomic``).
``edit_file`` applies each edit only where its ``oldText`` occurs exactly once: an empty or
ambiguous ``oldText`` is an error, never a guess. ``move_file`` never follows a symlink at either
end and never overwrites: a file or symlink is moved with ``link`` + ``unlink`` (``link`` fails
atomically if the destination exists); a directory, which cannot be hard-linked, is renamed
after a no-follow check that the destination is absent. Python has no ``renameat2`` wrapper, so
in the instant between that check and the rename only an *empty directory* created there by
someone else could be replaced (rename refuses a non-empty directory or a non-directory).
"""

from __future__ import annotations

import os
import stat

from servers.filesystem.fileio import (
    check_writable,
    decode_text,
    line_ending,
    open_regular,
    read_all,
    write_atomic,
)
from servers.filesystem.reading import Context, text_result
from servers.filesystem.resolve import Location, shown
from servers.wire.server import ToolError, ToolResult

_SAMPLE = 64 * 1024
MAX_EDITS = 200  # each edit rescans the file: bound the work one call can ask for


def write_file(ctx: Context, args: dict) -> ToolResult:
    data = args["content"].encode("utf-8")  # a lone surrogate is refused, never written
    if len(data) > ctx.limits.max_read_bytes:
        raise ToolError(f"content is larger than the {ctx.limits.max_read_bytes}-byte limit")
    with ctx.roots.locate(args["path"]) as loc:
        if _existing_ending(ctx, loc) == b"\r\n" and b"\r" not in data:
            data = data.replace(b"\n", b"\r\n")
        write_atomic(loc, data, ctx.limits)
        return text_result(f"Successfully wrote to {shown(loc.path)}")


def _existing_ending(ctx: Context, loc: Location) -> bytes | None:
    if loc.lstat is None or not stat.S_ISREG(loc.lstat.st_mode):
        return None  # new file, or write_atomic will refuse it with the precise reason
    check_writable(loc, ctx.limits)
    fd, _st = open_regular(loc, ctx.limits)
    try:
        return line_ending(os.read(fd, _SAMPLE))
    finally:
        os.close(fd)


def edit_file(ctx: Context, args: dict) -> ToolResult:
    if not 1 <= len(args["edits"]) <= MAX_EDITS:
        raise ToolError(f"give between 1 and {MAX_EDITS} edits per call")
    with ctx.roots.locate(args["path"]) as loc:
        fd, _st = open_regular(loc, ctx.limits)
        try:
            data = read_all(fd, loc.path, ctx.limits.max_read_bytes)
        finally:
            os.close(fd)
        decode_text(data, loc.path)  # refuses binary content with a clear message
        try:
            original = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{shown(loc.path)}: not valid UTF-8; edit_file edits text") from None
        crlf = line_ending(data) == b"\r\n"
        before = original.replace("\r\n", "\n") if crlf else original
        after = _apply_edits(before, args["edits"], crlf)
        diff = _diff(before, after, shown(loc.path))
        if not args.get("dryRun"):
            out = after.replace("\n", "\r\n") if crlf else after
            write_atomic(loc, out.encode("utf-8"), ctx.limits)
    return text_result(diff)


def _apply_edits(text: str, edits: list[dict], crlf: bool) -> str:
    for number, edit in enumerate(edits, start=1):
        old, new = edit["oldText"], edit["newText"]
        if crlf:
            old, new = old.replace("\r\n", "\n"), new.replace("\r\n", "\n")
        if not old:
            raise ToolError(f"edit {number}: oldText is empty; say which text to replace")
        first = text.find(old)
        if first < 0:
            raise ToolError(f"edit {number}: oldText not found in the file (no change made)")
        if text.find(old, first + 1) >= 0:
            raise ToolError(
                f"edit {number}: oldText occurs more than once; add surrounding lines to make "
                "it unique (no change made)"
            )
        text = text[:first] + new + text[first + len(old) :]
    return text


def _diff(before: str, after: str, path: str) -> str:
    import difflib

    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{path}\toriginal",
        tofile=f"{path}\tmodified",
    )
    body = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    fence = "```"
    while fence in body:
        fence += "`"
    return f"{fence}diff\n{body}{fence}\n"


def create_directory(ctx: Context, args: dict) -> ToolResult:
    with ctx.roots.locate(args["path"], make_dirs=True) as loc:
        return text_result(f"Successfully created directory {shown(loc.path)}")


def move_file(ctx: Context, args: dict) -> ToolResult:
    with (
        ctx.roots.locate(args["source"], follow_final=False) as src,
        ctx.roots.locate(args["destination"], follow_final=False) as dst,
    ):
        _check_move(src, dst)
        if stat.S_ISDIR(src.lstat.st_mode):
            if _exists(dst):
                raise ToolError(f"{shown(dst.path)}: already exists; refusing to overwrite")
            os.rename(src.name, dst.name, src_dir_fd=src.dir_fd, dst_dir_fd=dst.dir_fd)
        else:
            _link_then_unlink(src, dst)
        return text_result(f"Successfully moved {shown(src.path)} to {shown(dst.path)}")


def _check_move(src: Location, dst: Location) -> None:
    if src.name is None or dst.name is None:
        raise ToolError("an allowed directory itself cannot be moved or replaced")
    if src.lstat is None:
        raise ToolError(f"{shown(src.path)}: no such file or directory")
    mode = src.lstat.st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
        raise ToolError(f"{shown(src.path)}: refused, not a regular file, directory or symlink")
    if dst.lstat is not None:
        raise ToolError(f"{shown(dst.path)}: already exists; refusing to overwrite")
    for loc in (src, dst):
        if os.fstat(loc.dir_fd).st_mode & 0o222 == 0:
            raise ToolError(f"{shown(loc.path)}: refused, the directory is read-only")


def _exists(loc: Location) -> bool:
    try:
        os.lstat(loc.name, dir_fd=loc.dir_fd)
    except FileNotFoundError:
        return False
    return True


def _link_then_unlink(src: Location, dst: Location) -> None:
    try:
        os.link(
            src.name, dst.name, src_dir_fd=src.dir_fd, dst_dir_fd=dst.dir_fd, follow_symlinks=False
        )
    except FileExistsError:
        raise ToolError(f"{shown(dst.path)}: already exists; refusing to overwrite") from None
    linked = os.lstat(dst.name, dir_fd=dst.dir_fd)
    checked = src.lstat
    if (linked.st_dev, linked.st_ino) != (checked.st_dev, checked.st_ino):
        os.unlink(dst.name, dir_fd=dst.dir_fd)  # the source was swapped under us: undo
        raise ToolError(f"{shown(src.path)}: changed during the move; nothing was moved")
    os.unlink(src.name, dir_fd=src.dir_fd)
