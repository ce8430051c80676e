"""The one place the git server starts a process: ``git``, with repository-controlled execution off.

Every call goes through :meth:`GitRunner.run` and its single spawn (``shell=False``):

- an environment built from nothing: no inherited ``GIT_*`` (``GIT_DIR``, ``GIT_SSH``,
  ``GIT_CONFIG_PARAMETERS``, ...), ``HOME`` an empty private directory, no system or global
  config, no attributes outside the tree, no prompts (terminal, askpass, ssh);
- a fixed ``-c`` list switching off what config with fixed names could run: fsmonitor, hooks
  (``core.hooksPath=/dev/null``: no file can ever be found there), ssh, pager, editors, external
  diff, credential helpers, signing programs, transports other than file and https;
- per-repository overrides for the drivers the repository names itself (``repoconfig``);
- a timeout, and a client's cancellation (``notifications/cancelled``), that stop the whole
  process group and remove the call's leftovers (``waiting``: one path for both), and stdout
  capped with a marker.

This module never takes an argument list from the agent without the tools' checks in front.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from servers.git import waiting
from servers.git.repoconfig import ALLOWED_PROTOCOLS, RepoConfig, derive
from servers.git.trust import MAX_CONFIG_BYTES, RepositoryRefused, check_listing, parse_scoped
from servers.wire import cancel
from servers.wire.server import ToolError

__all__ = ["GitFailed", "GitOutput", "GitRunner", "GitTimedOut", "Repo"]

_STDERR_CAP = 64 * 1024
AGENT_NAME = "IronCurtain agent"
AGENT_EMAIL = "agent@ironcurtain.invalid"


@dataclass(frozen=True)
class Repo:
    """Where one git call runs. ``git_dir`` None (init, clone): no repository, and git runs
    in a private empty directory, so every path handed to it must be absolute."""

    cwd: Path
    git_dir: Path | None = None
    work_tree: Path | None = None
    common_dir: Path | None = None


@dataclass(frozen=True)
class GitOutput:
    code: int
    stdout: str
    stderr: str
    truncated: bool


class GitFailed(ToolError):
    """git answered with an exit code the tool did not expect.

    The agent sees git's message only after :func:`sanitized`: a value git quotes that the call
    did not itself supply (a line of a file git read, say) is withheld."""

    def __init__(self, subcommand: str, output: GitOutput, argv: Sequence[str] = ()) -> None:
        detail = sanitized(output.stderr.strip() or output.stdout.strip(), argv)
        super().__init__(f"git {subcommand} failed (exit {output.code}): {detail}")
        self.output = output


class GitTimedOut(ToolError):
    """git reached its deadline: its process group was stopped and the call's leftovers removed
    (``waiting``); a tool that made something (a clone's folder) removes it."""


_QUOTED = re.compile(r"'([^'\n]*)'")
_WITHHELD = "[withheld: not from this call's arguments]"


def sanitized(text: str, argv: Sequence[str]) -> str:
    """git's message with every quoted value and every trailing ``: value`` that is not part of
    the call's own arguments replaced by a marker; at most 20 lines of 300 characters."""
    known = "\n".join(argv)
    lines = []
    for line in text.splitlines()[-20:]:
        line = _QUOTED.sub(lambda m: m.group(0) if m.group(1) in known else f"'{_WITHHELD}'", line)
        head, sep, tail = line.rpartition(": ")
        if sep and tail and " " not in tail.strip() and tail.strip() not in known:
            line = f"{head}: {_WITHHELD}"
        lines.append(line[:300])
    return "\n".join(lines)


def _program(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"the git server needs `{name}` on PATH and found none")
    return os.path.realpath(found)


def _safe_path() -> str:
    # Relative PATH entries would let a repository's files shadow cat/false/git's helpers.
    entries = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(e for e in entries if os.path.isabs(e)) or os.defpath


def _fixed_config(tools: dict[str, str]) -> list[tuple[str, str]]:
    refuse = tools["false"]
    pairs = [
        ("core.fsmonitor", "false"),
        ("core.hooksPath", "/dev/null"),
        ("core.sshCommand", refuse),
        ("core.askPass", refuse),
        ("core.pager", "cat"),
        ("core.editor", tools["true"]),
        ("sequence.editor", tools["true"]),
        ("core.attributesFile", "/dev/null"),
        ("core.alternateRefsCommand", tools["true"]),
        ("core.quotePath", "false"),
        ("diff.external", ""),
        ("credential.helper", ""),
        ("protocol.allow", "never"),
        ("protocol.ext.allow", "never"),
        ("protocol.ssh.allow", "never"),
        ("protocol.git.allow", "never"),
        ("protocol.http.allow", "never"),
        ("init.templateDir", ""),
        ("commit.gpgSign", "false"),
        ("tag.gpgSign", "false"),
        ("tag.forceSignAnnotated", "false"),
        ("push.gpgSign", "false"),
        ("gpg.program", refuse),
        ("gpg.openpgp.program", refuse),
        ("gpg.x509.program", refuse),
        ("gpg.ssh.program", refuse),
        ("gpg.ssh.defaultKeyCommand", refuse),
        ("log.showSignature", "false"),
        ("submodule.recurse", "false"),
        ("core.packedGitLimit", "256m"),  # stays far inside the child's address-space cap
        ("core.packedGitWindowSize", "32m"),
        ("core.deltaBaseCacheLimit", "64m"),
        ("pack.threads", "2"),
        ("fetch.recurseSubmodules", "false"),
        ("push.recurseSubmodules", "no"),
        ("push.followTags", "false"),
        ("gc.auto", "0"),
        ("maintenance.auto", "false"),
        ("color.ui", "false"),
        ("http.saveCookies", "false"),
        ("http.cookieFile", ""),
        ("http.sslVerify", "true"),
        ("http.proxy", ""),  # empty: no proxy at all, whatever the repository says
        ("http.curloptResolve", ""),  # empty: clears any pinned addresses
        # never follow a redirect: the remote judged (and its address checked) is the one
        # reached; git's default follows the first request's redirect to any host
        ("http.followRedirects", "false"),
        ("advice.detachedHead", "false"),
    ]
    pairs += [(f"protocol.{name}.allow", "always") for name in ALLOWED_PROTOCOLS]
    return pairs


# Never look into a submodule: git would start a child git there, which reads that
# repository's own config (its filters, its fsmonitor) before any check of ours.
_NO_SUBMODULES = [
    ("diff.ignoreSubmodules", "all"),
    ("status.submoduleSummary", "false"),
    ("fetch.recurseSubmodules", "false"),
]


class GitRunner:
    """Runs git for the tools; one instance per server process."""

    def __init__(
        self,
        timeout: float = 30.0,
        max_output: int = 512 * 1024,
        *,
        trust_repository: bool = False,
    ) -> None:
        self.timeout = timeout
        self.max_output = max_output
        # Test-only (``--test-only-trust-repository``): skip the repository-content checks.
        self.trust_repository = trust_repository
        self.tools = {name: _program(name) for name in ("cat", "false", "true")}
        self._scratch = Path(tempfile.mkdtemp(prefix="ironcurtain-git-"))
        atexit.register(shutil.rmtree, self._scratch, True)
        home = self._scratch / "home"
        home.mkdir(mode=0o700)
        self._env = {
            "PATH": _safe_path(),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_ATTR_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": self.tools["false"],
            "GIT_SSH_COMMAND": self.tools["false"],
            "GIT_PAGER": "cat",
            "PAGER": "cat",
            "GIT_EDITOR": self.tools["true"],
            "GIT_SEQUENCE_EDITOR": self.tools["true"],
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_PROTOCOL_FROM_USER": "0",
            "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MiB of address space per arena
        }
        if getattr(sys, "frozen", False):
            # Confined, /bin/sh is the appliance's executable (the far side of a local
            # transport, servers/git/far_side.py): let it run from this process's unpacked
            # bundle instead of unpacking another copy (appliance.host.bundle).
            self._env.update({k: v for k, v in os.environ.items() if k.startswith("_PYI_")})
        argv = [*child_limits(_program("prlimit"), timeout), _program("git"), "--no-pager"]
        fixed = _fixed_config(self.tools) + ([] if trust_repository else _NO_SUBMODULES)
        for key, value in fixed:
            argv += ["-c", f"{key}={value}"]
        self._argv = tuple(argv)
        # git clears GIT_CONFIG_PARAMETERS for the other end of a local transport, where the
        # remote repository's own hooks would run: the commands started there carry the same
        # overrides, and never update a checked-out branch (which would run its filters).
        far_side = [*argv, "-c", "receive.denyCurrentBranch=refuse", "-c", "receive.autogc=false"]
        far_side += ["-c", "receive.denyDeleteCurrent=refuse"]
        self.tools["upload-pack"] = _shell_join([*far_side, "upload-pack"])
        self.tools["receive-pack"] = _shell_join([*far_side, "receive-pack"])
        self._configs: dict[Path, tuple[object, RepoConfig]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._active = waiting.Running()  # our gits per git directory

    def run(
        self,
        repo: Repo,
        args: Sequence[str],
        *,
        timeout: float | None = None,
        ok: tuple[int, ...] = (0,),
        stdin: str | None = None,
    ) -> GitOutput:
        """Run ``git args`` for ``repo``; raise :class:`GitFailed` on an exit code not in ``ok``."""
        env = self._repo_env(repo)
        cwd = repo.cwd if repo.git_dir is not None else self._scratch
        argv = [*self._argv, *args]
        return self._spawn(argv, cwd, env, stdin, timeout or self.timeout, ok, where=repo)

    def _repo_env(self, repo: Repo) -> dict[str, str]:
        env = dict(self._env)
        if repo.git_dir is None:
            # init and clone: no discovery above our private directory, whose parent is the
            # ceiling, so no surrounding repository's config is ever read.
            env["GIT_CEILING_DIRECTORIES"] = str(self._scratch.parent)
            return env
        env["GIT_DIR"] = str(repo.git_dir)
        if repo.work_tree is not None:
            # Set explicitly: a core.worktree in the repository's config could point anywhere.
            env["GIT_WORK_TREE"] = str(repo.work_tree)
        config = self._repo_config(repo, repo.git_dir, env)
        if config.sets_worktree and repo.work_tree is None:
            raise ToolError(f"refused: the bare repository {repo.git_dir} sets core.worktree")
        pairs = list(config.overrides)
        pairs += [] if config.has_name else [("user.name", AGENT_NAME)]
        pairs += [] if config.has_email else [("user.email", AGENT_EMAIL)]
        env["GIT_CONFIG_COUNT"] = str(len(pairs))
        for index, (key, value) in enumerate(pairs):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env

    def _repo_config(self, repo: Repo, git_dir: Path, env: dict[str, str]) -> RepoConfig:
        common = repo.common_dir or git_dir
        signature = _signature(common / "config", git_dir / "config.worktree")
        with self._lock:
            cached = self._configs.get(git_dir)
        if cached is not None and cached[0] == signature:
            return cached[1]
        if not self.trust_repository:
            for path in (common / "config", git_dir / "config.worktree"):
                _check_size(path)
        # --no-includes: git opens no file an include names (the include key is refused). Only
        # the test-only trust switch follows includes, so that line two still sees them.
        includes = [] if self.trust_repository else ["--no-includes"]
        command = ["config", "--list", *includes, "--show-scope", "-z"]
        argv = [*self._argv, *command]
        cap = 4 * MAX_CONFIG_BYTES
        listing = self._spawn(argv, repo.cwd, env, None, self.timeout, (0,), cap, where=repo)
        entries = parse_scoped(listing.stdout)
        if not self.trust_repository:
            check_listing(entries, str(git_dir))
        config = derive([(key, value) for _, key, value in entries], self.tools)
        if not config.has_includes:  # included files could change without our noticing
            with self._lock:
                self._configs[git_dir] = (signature, config)
        return config

    def _buffers(self) -> tuple[IO[bytes], IO[bytes], IO[bytes]]:
        # stdout, stderr and stdin as files (bounded memory, no pipe deadlocks), opened once
        # per worker thread: opening three temporary files per call cost more than git did.
        files = getattr(self._local, "files", None)
        if files is None:
            # Kept open for the thread's life on purpose; closed when the thread's state goes.
            files = tuple(tempfile.TemporaryFile(dir=self._scratch) for _ in range(3))  # noqa: SIM115
            self._local.files = files
        for handle in files:
            handle.seek(0)
            handle.truncate()
        return files

    def _spawn(
        self,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        stdin: str | None,
        timeout: float,
        ok: tuple[int, ...],
        cap: int | None = None,
        where: Repo | None = None,
    ) -> GitOutput:
        for part in (*argv, stdin or ""):
            _check_text(part)
        cancel.checkpoint()  # a tool's next git after a cancellation never starts
        subcommand = next((a for a in argv[len(self._argv) :] if not a.startswith("-")), "?")
        out, err, feed = self._buffers()
        if stdin is not None:
            feed.write(stdin.encode())
            feed.seek(0)
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=feed if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                shell=False,
                close_fds=True,
                start_new_session=True,
            )
        except OSError as exc:
            raise ToolError(f"could not run git in {cwd}: {exc.strerror}") from exc
        dirs = tuple(str(d) for d in (where.git_dir, where.common_dir) if d) if where else ()
        try:
            code = waiting.wait(proc, timeout, subcommand, dirs, self._active)
        except waiting.TimedOut as exc:
            raise GitTimedOut(str(exc)) from None
        stdout, truncated = _read_capped(out, cap or self.max_output)
        stderr, _ = _read_capped(err, _STDERR_CAP)
        output = GitOutput(code, stdout, stderr, truncated)
        if code not in ok:
            raise GitFailed(subcommand, output, argv[len(self._argv) :])
        return output


# Caps every git child carries (docs/servers-git.md states them): address space, CPU seconds,
# open files, and the size of any file it writes (its captured stdout and stderr included).
MEMORY_CAP = 512 * 1024 * 1024
OPEN_FILES_CAP = 256
FILE_SIZE_CAP = 1024 * 1024 * 1024


def child_limits(prlimit: str, timeout: float) -> list[str]:
    """``prlimit`` options putting the caps on the git child before git's first instruction.

    A wrapper rather than ``preexec_fn``: the server is threaded, and Python code between fork
    and exec in a threaded process can deadlock. CPU seconds: the longest deadline (remote
    commands get four times the timeout) plus a margin; the timeout still kills the group."""
    cpu = int(timeout * 4) + 5
    return [
        prlimit,
        f"--as={MEMORY_CAP}",
        f"--cpu={cpu}",
        f"--nofile={OPEN_FILES_CAP}",
        f"--fsize={FILE_SIZE_CAP}",
        "--core=0",
        "--",
    ]


def _check_size(path: Path) -> None:
    try:
        info = path.lstat()
    except OSError:
        return
    if not stat.S_ISREG(info.st_mode):
        # A symlinked config (a cloned tree can hold a bare-repository-shaped folder whose
        # config links to another repository's) would be read from wherever it points.
        raise RepositoryRefused(f"refused: {path} is not a regular file (a link or special file)")
    size = info.st_size
    if size > MAX_CONFIG_BYTES:
        raise RepositoryRefused(
            f"refused: {path} is {size} bytes, over the {MAX_CONFIG_BYTES}-byte cap for a "
            "repository config"
        )


def _shell_join(words: list[str]) -> str:
    # shlex.join's quoting, without its import: every word single-quoted.
    return " ".join("'" + word.replace("'", "'\"'\"'") + "'" for word in words)


def _check_text(value: str) -> None:
    # A NUL would truncate the argument; a lone surrogate can't be encoded for the OS at all.
    if "\x00" in value:
        raise ToolError("an argument contains a NUL byte")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ToolError("an argument is not valid text (lone surrogate)") from None


def _signature(*paths: Path) -> tuple[object, ...]:
    # ctime is in the key because a process can set mtime back but not ctime.
    parts: list[object] = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            parts.append(None)
            continue
        parts.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(parts)


def _read_capped(handle: IO[bytes], cap: int) -> tuple[str, bool]:
    handle.seek(0)
    data = handle.read(cap + 1)
    truncated = len(data) > cap
    text = data[:cap].decode("utf-8", "replace")
    if truncated:
        text += f"\n[... output truncated at {cap} bytes ...]"
    return text, truncated
