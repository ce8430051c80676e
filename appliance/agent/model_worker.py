"""The model client in its own process: litellm runs in a worker, the session talks to it over a
pipe, one JSON line per request and per answer.

Two reasons, measured and structural:

- **Start-up.** Importing litellm costs ~2 s of CPU (2,600 modules). In the session's process it
  competed for the interpreter lock with everything the session starts meanwhile (servers, the
  WebAssembly sandbox), so a thread could not hide it: ``demo`` took 3.4 s. The worker imports it
  on the second core while the session starts.
- **A boundary.** litellm is the largest dependency we have and it parses what the network sends.
  In its own process it holds no audit log, no approval channel and no server pipe: a flaw in it
  reaches the API key the request carries, not the chokepoint. Its answers are data here: each
  is checked for shape before the agent loop sees it.

The worker is this same program (``self_command()``, so ``python -P`` or the frozen executable)
started with ``__model-worker``; it starts in ``/``, never in the workspace (loaders search
their working folder: python-dotenv, ``python -m``), and the kernel keeps it from writing files
and running programs (:func:`confine_worker`). Its standard output is the protocol only: anything
litellm prints goes to its standard error. A request that is cancelled (Ctrl-C), times out or
meets a dead worker ends the worker; the next request starts a new one.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import traceback
from typing import IO, Any, NamedTuple

import anyio

from appliance.agent.model_errors import Failure, ModelError, describe_failure, failure_of

__all__ = [
    "WORKER_ARG",
    "Completion",
    "ModelWorker",
    "completion_from",
    "confine_worker",
    "serve",
    "start_early",
    "take",
]

WORKER_ARG = "__model-worker"
_MAX_ANSWER = 64 * 1024 * 1024  # one answer line; a model message is far smaller
_LOG = "worker.log"  # in the worker's folder: its standard error
_GRACE_S = 30.0  # beyond the request's own timeout, before a silent worker is given up


class Completion(NamedTuple):
    """One model step: the assistant message (as the conversation keeps it), tokens, cost."""

    message: dict[str, Any]
    tokens: int
    cost: float


def completion_from(response: Any, litellm: Any) -> Completion:
    """litellm's response object as the conversation keeps it."""
    usage = getattr(response, "usage", None)
    tokens = int(getattr(usage, "total_tokens", 0) or 0)
    try:
        cost = float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:  # unknown model prices: count tokens, not dollars
        cost = 0.0
    message = response.choices[0].message
    out: dict[str, Any] = {"role": "assistant", "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments},
            }
            for c in message.tool_calls
        ]
    return Completion(out, tokens, cost)


# -- the worker process ------------------------------------------------------------------------


def serve(argv: list[str]) -> int:
    """The worker's main: import litellm, then answer one request per line until stdin ends."""
    # The protocol gets its own descriptor; fd 1 becomes stderr, so a print() anywhere (litellm
    # has some) cannot break a line of the protocol.
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    private = argv[argv.index("--tmp") + 1] if "--tmp" in argv else None
    if private is None or not os.path.isdir(private):
        print("ironcurtain model worker: --tmp FOLDER is required", file=sys.stderr)
        return 2
    confine_worker(private)  # before litellm runs a line: this thread is still the only one
    from appliance.agent.loop import import_litellm
    from appliance.host import startup

    startup.entered()  # ~0.25 s of the import is the collector's otherwise
    litellm = import_litellm()
    if "--openai-sdk" in argv:
        import openai.resources  # noqa: F401 - what litellm's first OpenAI request imports
    startup.loaded()
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            response = litellm.completion(**request)
            answer: dict[str, Any] = {"ok": completion_from(response, litellm)._asdict()}
        except Exception as exc:
            failure = failure_of(exc)._asdict()
            failure["names"] = sorted(failure["names"])
            answer = {"error": failure, "traceback": traceback.format_exc()[-4000:]}
        protocol.write(json.dumps(answer).encode("utf-8") + b"\n")
    return 0


# What the worker may read besides its program (every folder on sys.path, the interpreter's
# prefixes, a frozen executable's bundle): system libraries (libc's name-service modules are
# loaded at the first DNS lookup), CA certificates and zone data, /etc (resolver, hosts), the
# random device. Not the user's files: not the home (keys, ~/.ironcurtain/config.json, the
# workspace), not /tmp, /var or /run. A flaw in litellm cannot read them and send them away.
_SYSTEM_READS = ("/usr", "/lib", "/lib64", "/etc", "/dev/urandom", "/dev/null", "/proc/self")


_WORKER_LIMITS = {
    resource.RLIMIT_CORE: 0,
    resource.RLIMIT_FSIZE: 1 << 30,  # its private folder holds litellm's scratch files, no more
    resource.RLIMIT_NOFILE: 4096,
}


def _program_folders() -> list[str]:
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, *filter(None, sys.path)}
    bundle = getattr(sys, "_MEIPASS", None)  # the frozen executable's unpacked modules
    if bundle:
        folders.add(bundle)
    if getattr(sys, "frozen", False):
        # A PyInstaller build reads its modules from the archive inside the executable itself,
        # import after import: without it litellm's first lazy import fails once confined.
        folders.update({sys.executable, os.path.realpath(sys.executable)})
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"):
        value = os.environ.get(name)
        if value and os.path.isabs(value):
            folders.add(value)
    return sorted(f for f in folders if os.path.isabs(f))


def confine_worker(private: str) -> str:
    """The worker may read its program and the system's libraries and certificates, write only
    ``private`` (its temporary folder, made and removed by the session), reach the network (the
    provider, wherever its base URL points), and nothing else: no user file read, no program
    run. Landlock, applied to this process for good; where the kernel has none, nothing is
    applied and the answer says so (the worker is a second line here, the chokepoint the first)."""
    from appliance.confinement import kernel, landlock, process, seccomp

    if landlock.abi_version() < 1:
        return "not confined (no Landlock in this kernel)"
    os.environ["TMPDIR"] = private
    tempfile.tempdir = private
    rules = landlock.Ruleset(landlock.abi_version(), handle_net=False)
    for folder in (*_SYSTEM_READS, *_program_folders()):
        if os.path.exists(folder):
            rules.allow_path(folder, landlock.FS.READ)
    rules.allow_path(private, landlock.FS.WRITE)
    process.drop_capabilities()  # a root user's worker keeps none
    process.set_no_new_privs()
    # It holds the provider's key: never in a core file, never readable by another process of
    # the user through /proc (an MCP server, a program the agent got run), bounded writes and fds.
    process.set_not_dumpable()
    process.set_limits(_WORKER_LIMITS)
    rules.enforce()
    applied = "landlock"
    features = kernel.probe()
    if features.seccomp_filter and features.seccomp_arch:
        # The servers' filter (no ptrace, mounts, namespaces, modules, BPF, keyrings, io_uring,
        # handle-based opens), sockets for TCP and the C library's address lookup only.
        domains = frozenset({seccomp.AF_INET, seccomp.AF_INET6, seccomp.AF_NETLINK})
        seccomp.install(seccomp.build_filter(domains))
        applied += " and seccomp"
    return (
        f"confined ({applied}): reads its program and the system's, writes only {private}, "
        "runs nothing"
    )


# -- the session's side ------------------------------------------------------------------------


class ModelWorker:
    """The session's handle on its worker: started early (:meth:`start`), then one request at a
    time (:meth:`complete`), closed with the session (:meth:`close`)."""

    def __init__(self, model_id: str, *, stderr: IO[Any] | int = subprocess.DEVNULL) -> None:
        self.openai_sdk = model_id.partition(":")[0] in ("openai", "azure")
        self.stderr = stderr
        self._process: subprocess.Popen[bytes] | None = None
        self._tmp: str | None = None  # the worker's only writable folder, removed with it
        self._lock = threading.Lock()  # the process handle (start may come from another thread)
        self._turn = anyio.Lock()  # one request on the pipe at a time

    def start(self) -> None:
        """Start the worker now (it imports litellm while the session does other work)."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return
        self._kill()  # one that died on its own: its pipes and folder go first
        with self._lock:
            from appliance.chokepoint.server_pool import self_command

            self._tmp = tempfile.mkdtemp(prefix="ironcurtain-model-")
            argv = [*self_command(), WORKER_ARG, "--tmp", self._tmp]
            if self.openai_sdk:
                argv.append("--openai-sdk")
            # Its own messages (litellm's warnings, a crash) into a file its failure is read
            # from, unless the caller (--debug) wants them on the terminal.
            log = None
            if self.stderr == subprocess.DEVNULL:
                log = open(os.path.join(self._tmp, _LOG), "wb")  # noqa: SIM115 - closed below
            try:
                self._process = subprocess.Popen(
                    argv,
                    env=worker_environment(),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log if log is not None else self.stderr,
                    cwd="/",  # never the workspace (see the docstring); HOME may not exist
                    start_new_session=True,  # Ctrl-C reaches the session, which ends the worker
                )
            finally:
                if log is not None:
                    log.close()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def close(self) -> None:
        """End the worker at once: it keeps nothing worth a clean exit (litellm's interpreter
        shutdown alone takes a second or more)."""
        self._kill()

    def _kill(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            tmp, self._tmp = self._tmp, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if process is not None:
            process.stdout.close()  # type: ignore[union-attr]
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    async def complete(
        self, request: dict[str, Any], model_id: str, api_base: str | None
    ) -> Completion:
        """One model step in the worker; :class:`ModelError` (one sentence) when it fails."""
        async with self._turn:
            return await self._complete(request, model_id, api_base)

    async def _complete(
        self, request: dict[str, Any], model_id: str, api_base: str | None
    ) -> Completion:
        self.start()
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        line = json.dumps(request).encode("utf-8") + b"\n"
        limit = float(request.get("timeout") or 600) + _GRACE_S
        try:
            with anyio.fail_after(limit):
                raw = await anyio.to_thread.run_sync(
                    _exchange, process, line, abandon_on_cancel=True
                )
        except TimeoutError:
            self._kill()
            raise ModelError(
                f"the model call did not finish in {limit:g} s; the model client was restarted"
            ) from None
        except BaseException:  # cancelled (Ctrl-C): the answer would come to nobody
            self._kill()
            raise
        if raw is None:
            try:  # the answer ended because the worker is ending: its exit status
                code = process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
            said = self._last_words()
            self._kill()
            raise ModelError(
                f"the model client stopped (exit {code}{': ' + said if said else ''}); the next "
                "step starts a new one"
            )
        return _answer(raw, model_id, api_base)

    def _last_words(self) -> str:
        """The last line the worker wrote to its log, as plain text (the worker is not trusted:
        no control characters reach the terminal, 200 characters at most)."""
        if self._tmp is None:
            return ""
        try:
            with open(os.path.join(self._tmp, _LOG), "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 4096))
                tail = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        if not lines:
            return ""
        shown = "".join(c for c in lines[-1] if c.isprintable())
        return shown[:200]


# What the worker inherits, by name (an allowlist, as for the servers): the locale, where the
# network is reached (proxies, CA bundles) and litellm's offline switch. Never the variables that
# hold credentials (other providers' keys, GITHUB_TOKEN, AWS_*): the request carries the one key
# the call needs, and nothing else enters the process that parses the network's answers.
_WORKER_ENV = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "LITELLM_LOCAL_MODEL_COST_MAP", "IRONCURTAIN_DEBUG",
)  # fmt: skip


def worker_environment(environ: Any = None) -> dict[str, str]:
    from appliance.host.bundle import child_environment

    env = os.environ if environ is None else environ
    out = {name: env[name] for name in _WORKER_ENV if name in env}
    out.update(child_environment(env))  # a one-file build's worker reuses the unpacked folder
    return out


def _exchange(process: subprocess.Popen[bytes], line: bytes) -> bytes | None:
    """Send one request and read its answer (a thread); None when the worker is gone."""
    try:
        process.stdin.write(line)  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
        raw = process.stdout.readline(_MAX_ANSWER)  # type: ignore[union-attr]
    except (OSError, ValueError):
        return None
    return raw if raw.endswith(b"\n") else None


class _WorkerFailure(Exception):
    """The worker's own traceback, kept as the ModelError's cause for ``--debug``."""


def _answer(raw: bytes, model_id: str, api_base: str | None) -> Completion:
    """The worker's line, checked for shape: it comes from the process that parses the network."""
    try:
        data = json.loads(raw)
    except RecursionError:  # nesting no answer of ours has: a worker gone wrong
        raise ModelError("the model client sent an answer nested too deeply") from None
    except ValueError:
        raise ModelError("the model client sent an answer that is not JSON") from None
    if not isinstance(data, dict):
        raise ModelError("the model client sent an answer that is not an object")
    if "error" in data:
        failure = _failure(data["error"])
        cause = _WorkerFailure(str(data.get("traceback", ""))[-4000:])
        raise ModelError(describe_failure(failure, model_id, api_base)) from cause
    ok = data.get("ok")
    if not isinstance(ok, dict):
        raise ModelError("the model client sent an answer without a result")
    message, tokens, cost = ok.get("message"), ok.get("tokens"), ok.get("cost")
    if not _is_number(tokens) or not _is_number(cost) or tokens < 0 or cost < 0:
        raise ModelError("the model client sent an answer with unusable usage figures")
    return Completion(_message(message), int(tokens), float(cost))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _message(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict) or message.get("role") != "assistant":
        raise ModelError("the model client sent a message that is not the assistant's")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise ModelError("the model client sent message content that is not text")
    out: dict[str, Any] = {"role": "assistant", "content": content}
    calls = message.get("tool_calls")
    if calls is None:
        return out
    if not isinstance(calls, list):
        raise ModelError("the model client sent tool calls that are not a list")
    checked = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not (
            isinstance(function, dict)
            and isinstance(call.get("id"), str)
            and isinstance(function.get("name"), str)
            and isinstance(function.get("arguments"), str)
        ):
            raise ModelError("the model client sent a tool call without id, name and arguments")
        checked.append(
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": function["name"], "arguments": function["arguments"]},
            }
        )
    out["tool_calls"] = checked
    return out


def _failure(error: Any) -> Failure:
    if not isinstance(error, dict):
        error = {}
    names = error.get("names")
    status = error.get("status")
    return Failure(
        names=frozenset(n for n in names if isinstance(n, str))
        if isinstance(names, list)
        else frozenset(),
        type_name=str(error.get("type_name", "Exception"))[:100],
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        text=str(error.get("text", ""))[:300],
        chain=str(error.get("chain", ""))[:4000],
    )


# -- one worker per process, started as early as the model is known ---------------------------

_early: dict[str, ModelWorker] = {}


def start_early(model_id: str) -> None:
    """Start the worker for ``model_id`` now (``demo``, ``start``: before the session opens),
    for :func:`take` to hand to the session."""
    worker = _early.get(model_id)
    if worker is None:
        if not _early:
            atexit.register(_close_early)  # a session that never took it: ended with us
        worker = _early[model_id] = ModelWorker(model_id, stderr=_worker_stderr())
    worker.start()


def _close_early() -> None:
    for worker in list(_early.values()):
        worker.close()
    _early.clear()


def take(model_id: str) -> ModelWorker:
    """The worker started early for ``model_id``, or a new one, started; the caller closes it."""
    worker = _early.pop(model_id, None) or ModelWorker(model_id, stderr=_worker_stderr())
    worker.start()
    return worker


def _worker_stderr() -> IO[Any] | int:
    # litellm's own warnings are for debugging: shown with --debug, dropped otherwise
    return sys.stderr if os.environ.get("IRONCURTAIN_DEBUG") else subprocess.DEVNULL
