"""Run one snippet of agent code and describe what happened as a JSON-ready dict.

The answer has stdout, stderr (both captured here, capped: the host never inherits the guest's
streams), the value of the last expression or of a variable named ``result``, and an error with a
short traceback that shows only the agent's own lines.
"""

import ast
import builtins
import io
import json
import random
import sys

import ic_stdlib

AGENT_FILE = "<agent>"
_TRACEBACK_FRAMES = 6


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit):
        self._parts = []
        self._kept = 0
        self._limit = limit
        self.dropped = 0

    def writable(self):
        return True

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self._limit - self._kept
        if room > 0:
            self._parts.append(text[:room])
            self._kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def text(self):
        body = "".join(self._parts)
        if self.dropped:
            body += f"\n[... {self.dropped} more characters dropped: output cap reached]"
        return body


# Agent code imports the allowed packages; C functions called from agent code (strptime, for
# one) import their helpers through the agent frame's __import__, so those pass too.
_IMPORTABLE = frozenset(ic_stdlib.ALLOWED + ic_stdlib.SUPPORT)


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level != 0 or (name not in _IMPORTABLE and name.partition(".")[0] not in ic_stdlib.ALLOWED):
        raise ImportError(f"module {name!r} is not available in the sandbox", name=name)
    return builtins.__import__(name, globals, locals, fromlist, level)


def _no_open(*args, **kwargs):
    raise PermissionError(
        "the sandbox has no filesystem; read files with filesystem.read_text_file(path=...)"
    )


def _no_input(*args, **kwargs):
    raise EOFError("the sandbox has no standard input")


# Built once, at build time: every run is a fresh instance, so sharing it leaks nothing between
# runs, and not copying ~150 builtins per run keeps their pages untouched (copy-on-write).
_SAFE_BUILTINS = dict(vars(builtins))
_SAFE_BUILTINS.update(__import__=_guarded_import, open=_no_open, input=_no_input)


def agent_globals(extra):
    """A fresh module namespace: the sandbox's builtins plus the tool namespaces."""
    _SAFE_BUILTINS["help"] = extra["help"]
    namespace = {"__name__": "__main__", "__builtins__": _SAFE_BUILTINS}
    namespace.update(extra)
    return namespace


def _run_code(code, namespace):
    tree = ast.parse(code, filename=AGENT_FILE, mode="exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, AGENT_FILE, "exec"), namespace)  # noqa: S102 - this is the sandbox
    if last is not None:
        value = eval(compile(last, AGENT_FILE, "eval"), namespace)  # noqa: S307 - the sandbox
        if value is not None:
            return value
    return namespace.get("result")


def render_value(value, limit):
    """JSON text when the value is JSON data, else its repr; capped at ``limit`` characters."""
    if value is None:
        return None
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    if len(text) > limit:
        text = text[:limit] + f"... [{len(text) - limit} more characters dropped]"
    return text


def _agent_frames(tb):
    """(line, function) of the agent's own frames, innermost last; the guest's frames are hidden."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == AGENT_FILE:
            frames.append((tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return frames[-_TRACEBACK_FRAMES:]


def _short_traceback(exc, code):
    lines = code.splitlines()
    out = []
    for lineno, name in _agent_frames(exc.__traceback__):
        source = lines[lineno - 1].strip() if 0 < (lineno or 0) <= len(lines) else ""
        out.append(f"  line {lineno}, in {name}: {source}".rstrip(": "))
    if isinstance(exc, SyntaxError) and exc.lineno:
        out.append(f"  line {exc.lineno}: {(exc.text or '').strip()}")
    return "\n".join(out)


def _safe_str(exc):
    try:
        return str(exc.msg) if isinstance(exc, SyntaxError) else str(exc)
    except BaseException:  # an exception whose __str__ raises still has to be reported
        return f"<{type(exc).__name__} whose message could not be rendered>"


def describe_error(exc, code):
    message = _safe_str(exc)
    return {
        "type": type(exc).__name__,
        "message": message[:2000],
        "traceback": _short_traceback(exc, code),
    }


def execute(code, extra, max_output):
    """Execute ``code``; never raises: every failure becomes the ``error`` entry."""
    # random's state was seeded at build time and lives in the snapshot: without this, every
    # execution would draw the same "random" numbers.
    random.seed()
    stdout, stderr = CappedText(max_output), CappedText(max_output)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr
    value, error = None, None
    try:
        value = _run_code(code, agent_globals(extra))
    except BaseException as exc:  # SystemExit and MemoryError are the agent's errors too
        error = describe_error(exc, code)
    finally:
        sys.stdout, sys.stderr = saved
    rendered = None
    if error is None:
        try:
            rendered = render_value(value, max_output)
        except BaseException as exc:  # a hostile __repr__ is the agent's error too
            error = describe_error(exc, code)
    return {
        "stdout": stdout.text(),
        "stderr": stderr.text(),
        "result": rendered,
        "error": error,
        "output_truncated": bool(stdout.dropped or stderr.dropped),
    }
