"""Where the appliance keeps its files.

Order of precedence for the home folder: ``IRONCURTAIN_HOME``; else ``~/.ironcurtain`` when it
exists (IronCurtain's users keep their files); else the platform's user data folder. The cache
(compiled sandbox module, image build state) follows ``IRONCURTAIN_HOME`` when that is set, so a
test or a second installation never shares a cache with the user's; ``IRONCURTAIN_CACHE`` names
the cache folder explicitly (everything in it is keyed by content, so sharing one is safe).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PROTECTED_IN_HOME", "AppPaths", "app_paths"]

# THE list of protected paths (docs/policy-format.md, "Protected paths", shows the same list):
# the policy engine denies any call naming one of them, whatever the rules say. Relative to the
# appliance home; `*` is exactly one component. The cache folder is protected too (it may live
# outside the home: see `protected_patterns`).
PROTECTED_IN_HOME = (
    "config.json",  # configuration (API keys)
    "mcp-servers.json",  # IronCurtain's server declarations (their credentials)
    "constitution.md",  # the user's constitution ...
    "constitution-user.md",
    "generated",  # ... and the policy compiled from it
    "running",  # the registry of running sessions (escalation routing)
    "daemon",  # the daemon's console token and its audit of answers (appliance/daemon)
    "jobs",  # scheduled jobs: their tasks, constitutions, compiled policies and run logs
    "ca",  # the credential proxy's CA: its private key signs any TLS certificate
    "audit-signing-key.pem",  # signs audit checkpoints: whoever holds it can sign a rewrite
    "sessions/*/audit.jsonl",
    "sessions/*/audit.journal",  # the log's write-ahead copy (chokepoint/audit/journal.py)
    "sessions/*/escalations",
    "sessions/*/session.log",
    "sessions/*/history.json",
    "sessions/*/session.json",
    "sessions/*/git-guard.json",  # Docker mode's git baseline: what the last sweep trusts
)


@dataclass(frozen=True)
class AppPaths:
    home: Path
    cache: Path

    @property
    def config_file(self) -> Path:
        return self.home / "config.json"

    @property
    def constitution(self) -> Path:
        return self.home / "constitution.md"

    @property
    def user_constitution(self) -> Path:
        return self.home / "constitution-user.md"

    @property
    def generated(self) -> Path:
        return self.home / "generated"

    @property
    def sessions(self) -> Path:
        return self.home / "sessions"

    @property
    def registry(self) -> Path:
        """One file per running session, for the escalation listener."""
        return self.home / "running"

    def session_dir(self, session_id: str) -> Path:
        return self.sessions / session_id

    @property
    def ca_dir(self) -> Path:
        """The credential proxy's CA (``mitmproxy-ca.pem`` holds its private key)."""
        return self.home / "ca"

    @property
    def audit_key(self) -> Path:
        """The installation's Ed25519 key that signs audit checkpoints (0600)."""
        return self.home / "audit-signing-key.pem"

    def protected_patterns(self) -> tuple[str, ...]:
        """Absolute path patterns the policy engine denies always (``*`` = one component)."""
        return (*(str(self.home / name) for name in PROTECTED_IN_HOME), str(self.cache))


def app_paths(environ: dict[str, str] | None = None) -> AppPaths:
    env = os.environ if environ is None else environ
    cache_override = env.get("IRONCURTAIN_CACHE")
    cache = Path(cache_override).expanduser().absolute() if cache_override else None
    override = env.get("IRONCURTAIN_HOME")
    if override:
        home = Path(override).expanduser().absolute()
        return AppPaths(home=home, cache=cache or home / "cache")
    import platformdirs  # imported here: the servers never need it

    legacy = Path("~/.ironcurtain").expanduser()
    home = legacy if legacy.is_dir() else Path(platformdirs.user_data_dir("ironcurtain"))
    return AppPaths(home=home, cache=cache or Path(platformdirs.user_cache_dir("ironcurtain")))
