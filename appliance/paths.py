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

__all__ = ["AppPaths", "app_paths"]

# Files inside a session folder that the agent must never touch, whatever the policy says.
_SESSION_PRIVATE = ("audit.jsonl", "escalations", "session.log", "history.json", "session.json")


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

    def protected_patterns(self) -> tuple[str, ...]:
        """Absolute path patterns the policy engine denies always (``*`` = one component)."""
        sessions = self.sessions / "*"
        return (
            str(self.config_file),
            str(self.constitution),
            str(self.user_constitution),
            str(self.generated),
            str(self.registry),
            str(self.cache),
            *(str(sessions / name) for name in _SESSION_PRIVATE),
        )


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
