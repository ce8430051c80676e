"""`CredentialProxy`: one per Docker session; the only way the container reaches an LLM API."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.credproxy.ca import ensure_ca
from appliance.credproxy.config import ProxyConfig
from appliance.credproxy.events import ProxyEvent
from appliance.credproxy.providers import PROVIDERS, make_fake_key, make_fake_oauth_token
from appliance.errors import ApplianceError

__all__ = ["CredentialProxy", "ProxyEndpoints", "ProxyStartError"]

logger = logging.getLogger("appliance.credproxy")

# mitmproxy keeps its master and options in module globals (mitmproxy.ctx): two proxies in one
# process would read each other's settings. So: one at a time, enforced.
_RUNNING = threading.Lock()


class ProxyStartError(ApplianceError):
    """The proxy could not start (operator error: the message says what and where)."""


@dataclass(frozen=True)
class ProxyEndpoints:
    tcp_port: int  # on 127.0.0.1, for host-side clients and tests
    unix_socket_path: Path  # mount this into the container
    ca_cert_pem_path: Path  # and this, into its trust store


class CredentialProxy:
    """Swaps the session's fake keys for the real ones on allowed provider routes; refuses the rest.

    `on_event` receives every decision (and token usage); if it raises while a request is being
    forwarded, the request is killed instead. `budget_check` is asked before each request: None
    admits, a string is the reason to refuse (403); `budget_admit(flow_id, body)` is asked once the
    body is read and reserves what the request may cost (settled by its `usage` or `cut` event).
    `fake_keys` are what the container is given.
    Both callbacks run on the proxy's own thread; keep them quick and thread-safe.
    """

    def __init__(
        self,
        config: ProxyConfig,
        on_event: Callable[[ProxyEvent], None],
        *,
        budget_check: Callable[[], str | None] | None = None,
        budget_admit: Callable[[str, bytes], str | None] | None = None,
    ) -> None:
        self.config = config
        self.fake_keys: dict[str, str] = {
            name: make_fake_key(PROVIDERS[name]) for name in config.providers
        }
        if config.anthropic_oauth is not None and "anthropic" in self.fake_keys:
            self.fake_keys["anthropic"] = make_fake_oauth_token()
        self.subscription: Any = None  # the ClaudeSubscription, once started
        self._on_event = on_event
        self._budget_check = budget_check
        self._budget_admit = budget_admit
        # How the package gate asks the user about an unlisted package (defaultAction escalate);
        # set by the session once it is open (docker/run.py), read per question.
        self.package_asker: Any = None
        self._thread: Any = None
        self.ledger: Any = None  # inflight.BodyLedger, once started: bytes of bodies held now
        self._own_socket_dir: Path | None = None
        self._holds_lock = False
        self.endpoints: ProxyEndpoints | None = None

    def start(self) -> ProxyEndpoints:
        if self.endpoints is not None:
            raise ProxyStartError("this proxy is already running")
        if not _RUNNING.acquire(blocking=False):
            raise ProxyStartError("another credential proxy is running in this process")
        self._holds_lock = True
        for note in self.config.loosening():
            logger.warning("credential proxy: boundary loosened: %s", note)
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> ProxyEndpoints:
        from appliance.config.paths import app_paths

        ca = ensure_ca(self.config.confdir or app_paths().home / "ca")
        extra_ca = self.config.extra_upstream_ca
        if extra_ca is not None and not extra_ca.is_file():
            raise ProxyStartError(f"extra_upstream_ca {extra_ca}: no such file")
        socket_path = self._socket_dir() / "proxy.sock"
        # Imported here: mitmproxy costs ~1.6 s, paid only by a session that starts a proxy.
        from appliance.credproxy.engine import ProxyThread
        from appliance.credproxy.oauth import OAuthError

        try:
            addons = self._addons()
        except OAuthError as exc:  # the subscription's file: say what to do, start nothing
            raise ProxyStartError(str(exc)) from None
        self._thread = ProxyThread(
            addons,
            ledger=self.ledger,
            confdir=ca.confdir,
            overrides=dict(self.config.upstream_overrides),
            upstream_ca=self.config.extra_upstream_ca,
            socket_path=socket_path,
            socket_mode=self.config.socket_mode,
            max_body_bytes=self.config.max_body_bytes,
        )
        try:
            port = self._thread.start()
        except Exception as exc:
            raise ProxyStartError(f"credential proxy failed to start: {exc}") from exc
        self.endpoints = ProxyEndpoints(port, socket_path, ca.cert_pem)
        return self.endpoints

    def _addons(self) -> list[Any]:
        from appliance.credproxy.addons.base import Reporter
        from appliance.credproxy.addons.budget import Budget
        from appliance.credproxy.addons.echo import KeyEchoGuard
        from appliance.credproxy.addons.gate import Gate
        from appliance.credproxy.addons.gateway import Gateway, Target
        from appliance.credproxy.addons.intake import BodyIntake
        from appliance.credproxy.addons.keyswap import KeySwap
        from appliance.credproxy.addons.metering import Metering
        from appliance.credproxy.addons.seal import Seal
        from appliance.credproxy.inflight import BodyLedger
        from appliance.credproxy.limits import MAX_UNPARSED_CLIENT_BYTES

        reporter = Reporter(self._on_event)
        self.ledger = BodyLedger(
            self.config.max_inflight_body_bytes,
            self.config.max_body_bytes,
            MAX_UNPARSED_CLIENT_BYTES,
        )
        allowed = self.config.providers
        gateways = {name: Target(url) for name, url in self.config.gateways.items()}
        real = {
            name: self.config.real_keys[name] for name in allowed if name in self.config.real_keys
        }
        oauth: list[Any] = []
        if self.config.anthropic_oauth is not None and "anthropic" in allowed:
            from appliance.credproxy.addons.oauthswap import OAuthSwap
            from appliance.credproxy.oauth import ClaudeSubscription

            self.subscription = ClaudeSubscription(
                self.config.anthropic_oauth,
                token_url=self.config.oauth_token_url,
                ca=self.config.extra_upstream_ca,
            )
            fake = self.fake_keys["anthropic"]
            oauth.append(OAuthSwap("anthropic", fake, self.subscription, reporter))
        more = self.subscription.secrets if self.subscription is not None else None
        packages: list[Any] = []
        registries: frozenset[str] = frozenset()
        settings = self.config.packages
        if settings is not None:
            from appliance.credproxy.addons.packages import PackageGate
            from appliance.credproxy.packages import PackagePolicy

            policy = PackagePolicy(
                registries=settings.registries,
                allowed=settings.allowed_packages,
                denied=settings.denied_packages,
                default_action=settings.default_action,
                quarantine_days=settings.quarantine_days,
            )
            packages.append(PackageGate(policy, reporter, lambda: self.package_asker))
            registries = policy.hosts()
        return [
            BodyIntake(self.ledger, reporter),  # first: every body counts, registries' too
            *packages,  # then: a registry flow is the package gate's alone
            Gate(allowed, reporter),
            Budget(self._budget_check, reporter, self._budget_admit),
            KeySwap(self.fake_keys, real, reporter),
            *oauth,
            Metering(reporter),
            KeyEchoGuard(real, reporter, more),
            Gateway(gateways),
            Seal(
                allowed,
                reporter,
                {n: (t.host, t.port) for n, t in gateways.items()},
                registries,
            ),
        ]

    def _socket_dir(self) -> Path:
        if self.config.socket_dir is not None:
            folder = self.config.socket_dir
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            _check_socket_dir(folder, group_ok=self.config.socket_mode == 0o660)
            (folder / "proxy.sock").unlink(missing_ok=True)
            return folder
        self._own_socket_dir = Path(tempfile.mkdtemp(prefix="ironcurtain-proxy-"))
        return self._own_socket_dir

    @property
    def alive(self) -> bool:
        """True while the proxy serves. A supervisor polls this: a proxy that died leaves the
        agent without its API (fail closed), and the session should say so and end."""
        return self._thread is not None and self._thread.alive

    def stop(self) -> None:
        """Stop serving, remove the socket (and its folder if we made it). Safe to call twice."""
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        if self.endpoints is not None:
            self.endpoints.unix_socket_path.unlink(missing_ok=True)
            self.endpoints = None
        if self._own_socket_dir is not None:
            shutil.rmtree(self._own_socket_dir, ignore_errors=True)
            self._own_socket_dir = None
        if self._holds_lock:
            self._holds_lock = False
            _RUNNING.release()

    def __enter__(self) -> CredentialProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _check_socket_dir(folder: Path, *, group_ok: bool) -> None:
    """The folder is what keeps other users off the socket in the instant before its chmod."""
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ProxyStartError(f"socket_dir {folder}: not a folder owned by this user")
    open_bits = 0o007 if group_ok else 0o077
    if info.st_mode & open_bits:
        mode = oct(stat.S_IMODE(info.st_mode))
        raise ProxyStartError(f"socket_dir {folder}: mode {mode} lets other users in")
