"""A server's ``/bin/sh``, replaced inside its own mount namespace by a program it names.

Some programs a server runs start a child through the shell whatever the command (git's local
transport: ``sh -c "git-upload-pack '<path>'"``). Granting the real shell would give anyone who
steers that program a scripting language; granting nothing breaks the feature. A profile's
``shell`` names a module (``servers.git.far_side``) whose ``main(argv)`` accepts the few command
lines the server needs and executes them without a shell. Here that module is put in place:

1. the server is in a new mount namespace (``process.enter_namespaces(mounts=True)``), its
   mounts private, so nothing done here is seen outside this process tree;
2. a launcher script is written in the private TMP, bind-mounted over the real ``/bin/sh``
   (the file the symlink resolves to), and unlinked from TMP, so the only path to it is
   ``/bin/sh`` — which Landlock grants execute on but never write;
3. the launcher starts the module with this interpreter: a source checkout runs
   ``python -I`` on the launcher itself, which loads the module's file (it must need only the
   standard library); a frozen appliance runs its executable with the hidden
   argument ``__shell:MODULE`` (``appliance.cli.main``).

The returned paths (the shell's real path and the interpreter) are what Landlock must let the
server execute for the launcher to start.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["SHELL_MODULES", "install"]

# Modules a profile may name as its shell: each is a strict parser of the commands it allows.
SHELL_MODULES = frozenset({"servers.git.far_side"})
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: bytes | None, target: bytes, flags: int) -> None:
    if _libc.mount(source, target, None, flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target.decode()}: {os.strerror(err)}")


def launcher_text(module: str, root: str) -> str:
    """The script that stands in for ``/bin/sh`` (its first line picks the interpreter)."""
    if getattr(sys, "frozen", False):
        return f"#!{sys.executable} __shell:{module}\n"
    # Loaded by file, not through sys.path: Landlock lets the server read its packages but not
    # list the checkout's top folder, so a path-based import would not find them.
    source = os.path.join(root, *module.split(".")) + ".py"
    return (
        f"#!{sys.executable} -I\n"
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('shell', {source!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "sys.exit(module.main(sys.argv[1:]))\n"
    )


def install(module: str, tmp: str, root: str) -> list[str]:
    """Put ``module`` in place of ``/bin/sh``; returns the paths Landlock must let execute."""
    if module not in SHELL_MODULES:
        raise ValueError(f"{module!r} is not a shell this appliance provides")
    target = os.path.realpath("/bin/sh")
    launcher = os.path.join(tmp, f".shell-{os.urandom(6).hex()}")
    fd = os.open(launcher, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o500)
    try:
        os.write(fd, launcher_text(module, root).encode())
    finally:
        os.close(fd)
    try:
        _mount(None, b"/", _MS_REC | _MS_PRIVATE)
        _mount(os.fsencode(launcher), os.fsencode(target), _MS_BIND)
    finally:
        os.unlink(launcher)
    return [target, os.path.realpath(sys.executable)]
