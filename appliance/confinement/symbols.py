"""What a profile's ``$SYMBOLS`` mean on this machine, for this start.

``$ROOTS``        the folders the server's own arguments name (its roots; the session sandbox)
``$PRIVATE_TMP``  a fresh empty folder made for this server, its ``TMPDIR``
``$INTERPRETER``  what the running Python needs to import the rest of the server: the frozen
                  bundle, or the interpreter's library folders, the virtualenv and our packages
                  (never the interpreter's ``bin/``: see ``$ELF_LOADER``)
``$SYSTEM_LIBS``  shared libraries and the loader's cache
``$SYSTEM_CONFIG`` the few ``/etc`` files the C library and Python read (users, time zone,
                  MIME types)
``$DNS``          name resolution configuration
``$CA_CERTS``     the system's certificate authorities
``$DEVICES``      ``/dev/null``, ``/dev/zero``, ``/dev/urandom``
``$GIT``          the ``git`` program, its exec-path (helpers) and its templates
``$PRLIMIT``      util-linux's ``prlimit``, through which the git server starts every git child
                  with that child's own caps (docs/servers-git.md); it can only start what the
                  profile lets it execute, and only lower limits (no capability is left to raise
                  one)
``$ELF_LOADER``   the dynamic loader, which the kernel opens *for execution* with every dynamic
                  program; whoever may run it can run any *readable* ELF file with it, which is why
                  no profile grants read on ``/bin`` or ``/usr/bin``
"""

from __future__ import annotations

import os
import sys

__all__ = ["table"]

_SYSTEM_LIBS = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/etc/ld.so.cache")
_SYSTEM_CONFIG = (
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
    "/usr/share/zoneinfo",
    "/etc/mime.types",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
)
_DNS = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
)
_CA_CERTS = ("/etc/ssl", "/etc/ca-certificates", "/usr/share/ca-certificates", "/etc/pki")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
_OUR_PACKAGES = ("appliance", "servers", "policy")


def bundle_root() -> str:
    """``appliance.host.bundle.bundle_root`` without its pathlib import: the unpacked bundle or the
    source tree."""
    meipass = getattr(sys, "_MEIPASS", None)
    return meipass or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def table(roots: list[str], tmp: str | None) -> dict[str, list[str]]:
    return {
        "$ROOTS": list(roots),
        "$PRIVATE_TMP": [tmp] if tmp else [],
        "$INTERPRETER": interpreter_paths(),
        "$SYSTEM_LIBS": _real(_SYSTEM_LIBS),
        "$SYSTEM_CONFIG": _real(_SYSTEM_CONFIG),
        "$DNS": _real(_DNS),
        "$CA_CERTS": _real(_CA_CERTS),
        "$DEVICES": list(_DEVICES),
        "$GIT": git_paths(),
        "$PRLIMIT": [found] if (found := _which("prlimit")) else [],
        "$ELF_LOADER": _real(_starting("/lib64", "ld-linux") + _starting("/lib", "ld-linux")),
    }


def _real(paths) -> list[str]:
    return [os.path.realpath(p) for p in paths if os.path.exists(p)]


# The standard library's glob, shutil and tempfile are not used here: ``serve`` imports this
# before the server, and those imports would add milliseconds to every start.
def _starting(folder: str, prefix: str) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, n) for n in sorted(names) if n.startswith(prefix)]


def _which(name: str) -> str | None:
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder, name)
        if os.path.isabs(folder) and os.access(candidate, os.X_OK) and os.path.isfile(candidate):
            return os.path.realpath(candidate)
    return None


def interpreter_paths() -> list[str]:
    root = bundle_root()
    if getattr(sys, "frozen", False):
        # One-folder: the folder next to the executable; one-file: the unpacked folder (shared
        # with the parent, read-only here) and the executable, whose archive holds the modules.
        return _real([root, sys.executable, os.path.dirname(sys.executable)])
    found = [os.path.join(root, name) for name in _OUR_PACKAGES]
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        found += _starting(prefix, "lib")
        found.append(os.path.join(prefix, "pyvenv.cfg"))
    cwd = os.getcwd()
    for entry in sys.path:
        # site-packages folders outside the prefixes; never '' or the working directory
        if entry and os.path.abspath(entry) != cwd and "site-packages" in entry:
            found.append(entry)
    return _real(found)


def git_paths() -> list[str]:
    """``git``, its helpers and templates, found without running it (a start costs no process)."""
    program = _which("git")
    if not program:
        return []
    prefix = os.path.dirname(os.path.dirname(program))
    candidates = [program]
    for sub in ("lib/git-core", "libexec/git-core", "share/git-core"):
        candidates.append(os.path.join(prefix, sub))
    return _real(candidates)
