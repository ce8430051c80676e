"""Docker mode (optional): the engine, the agent image, and the credential proxy's CA."""

from __future__ import annotations

import os
from typing import Any

from appliance.cli.doctor.base import Check, Facts, fail, ok, warn


def check_docker(facts: Facts) -> list[Check]:
    fix = "only Docker Agent Mode needs it: install and start the Docker engine"
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
    except Exception as exc:  # unreachable for whatever reason: Code Mode does not care
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        return [warn("docker", f"Docker engine not reachable: {reason}", fix)]
    checks = [ok("docker", f"engine {client.version().get('Version', '?')}", required=False)]
    return [*checks, _agent_image(client)]


def _agent_image(client: Any) -> Check:
    from appliance.docker.agent_image import CLAUDE_CODE_RECIPE

    tag = CLAUDE_CODE_RECIPE.tag()
    fix = "built on the first `ironcurtain start --agent claude-code` (as root, ~3 min)"
    repository = tag.partition(":")[0]
    names = [t for image in client.images.list(name=repository) for t in image.tags]
    if tag in names:
        return ok("agent-image", tag, required=False)
    if names:
        return warn("agent-image", f"only older builds ({', '.join(sorted(names)[:2])})", fix)
    return warn("agent-image", f"{tag} is not built", fix)


def check_ca(facts: Facts) -> list[Check]:
    folder = facts.paths.home / "ca"
    key = folder / "mitmproxy-ca.pem"
    if not key.exists():
        detail = f"no proxy CA in {folder}: created on the first Docker session"
        return [warn("proxy-ca", detail, "nothing to do", required=True)]
    info = key.lstat()
    if not key.is_file() or key.is_symlink():
        return [fail("proxy-ca", f"{key} is not a regular file", f"delete {folder} to renew it")]
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        detail = (
            f"{key} (the CA's private key) has mode {oct(info.st_mode & 0o777)}, uid {info.st_uid}"
        )
        return [fail("proxy-ca", detail, f"chmod 600 {key} (or delete {folder} to renew it)")]
    return [ok("proxy-ca", f"{key}, mode 0600")]
