"""The guest's deliberate standard library, loaded once at build time (pre-initialisation).

componentize-py gives the guest a filesystem only while it is being built: whatever is imported
then is captured in the snapshot, and at run time the host grants no directories, so nothing else
can be loaded from a file. ``load()`` imports the allowed modules (and runs their lazy imports),
then removes the path-based importer, so an import that was not made here fails in the guest.
Modules compiled into the interpreter (``_socket``, ``select``...) stay importable by the bare
machinery; they are harmless because the host's WASI grants no sockets, files or environment —
the tests prove that by reaching for them anyway.
"""

import gc
import importlib
import sys

# What agent code may ``import``: useful, pure computation. Sub-modules follow their package.
ALLOWED = (
    "abc", "array", "base64", "binascii", "bisect", "calendar", "cmath", "collections",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "enum",
    "fnmatch", "fractions", "functools", "hashlib", "heapq", "hmac", "html", "io", "itertools",
    "json", "keyword", "math", "numbers", "operator", "os", "pprint", "random", "re", "secrets",
    "shlex", "statistics", "string", "struct", "sys", "textwrap", "time", "types", "typing",
    "unicodedata", "urllib", "uuid", "zlib",
)  # fmt: skip

# Loaded for the allowed modules' own lazy imports (importable, but not advertised).
SUPPORT = (
    "_strptime", "locale", "ast", "encodings.ascii", "encodings.latin_1", "encodings.utf_16",
    "encodings.utf_32", "encodings.cp1252", "encodings.idna", "html.parser", "json.decoder",
    "json.encoder", "linecache", "posixpath", "traceback", "urllib.parse", "collections.abc",
)  # fmt: skip

# Must never be in the snapshot: the build fails if any of these got loaded along the way.
FORBIDDEN = (
    "socket", "ssl", "_ssl", "subprocess", "ctypes", "_ctypes", "multiprocessing", "threading",
    "asyncio", "selectors", "http", "urllib.request", "ftplib", "smtplib", "pickle", "shutil",
    "tempfile", "pathlib", "zipfile", "tarfile", "sqlite3", "webbrowser", "pty", "signal",
)  # fmt: skip


def _warm_up():
    """Run the code paths that import lazily, so they are in the snapshot before paths go."""
    import datetime
    import decimal
    import json
    import re
    import textwrap

    datetime.datetime.strptime("2024-01-02 03:04", "%Y-%m-%d %H:%M").isoformat()
    json.loads(json.dumps({"a": [1.5, "é", None]}))
    re.compile(r"(?P<x>\w+)\s*=\s*\d+", re.I).findall("a = 1")
    decimal.Decimal("1.10") * 3
    textwrap.fill("warm " * 40, width=30)
    for codec in ("ascii", "latin-1", "utf-16", "utf-32", "cp1252"):
        "é".encode(codec, errors="replace")
    "{:>10,.2f} {!r}".format(1234.5, "x")


def load():
    """Import the allowed set, check nothing forbidden came along, then close the file importer."""
    for name in ALLOWED + SUPPORT:
        importlib.import_module(name)
    _warm_up()
    present = sorted(name for name in FORBIDDEN if name in sys.modules)
    if present:
        raise RuntimeError(f"forbidden modules loaded into the guest snapshot: {present}")
    # No file-based imports after the build: the directories they came from do not exist at run
    # time, and clearing the finder caches also drops build-machine mtimes from the snapshot.
    sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "__name__", "") != "PathFinder"]
    sys.path_hooks.clear()
    sys.path_importer_cache.clear()
    sys.path[:] = []


def freeze():
    """Called last at build time: everything loaded lives for the whole run, so move it out of
    the collector's sight; the first collection in a run then does not walk the stdlib."""
    gc.collect()
    _scrub_free_memory()
    gc.freeze()


def _scrub_free_memory():
    """Overwrite memory freed during the build: values that died there (file mtimes from the
    build machine, stat buffers) would otherwise be captured in the snapshot."""
    junk = [[bytes(size) for _ in range(64)] for size in range(0, 512, 8)]
    junk += [bytearray(size) for size in range(1024, 1 << 16, 1024)]
    junk += [float(i) for i in range(5000)] + [i + 2**40 for i in range(5000)]
    del junk
