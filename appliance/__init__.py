"""The trusted host of the IronCurtain appliance.

Everything an agent does leaves through this package: the CLI, configuration, sessions and the
agent loop, the chokepoint that mediates every tool call, escalation, the audit log, the
WebAssembly sandbox host and Docker mode with its credential proxy. It must never let a tool call
reach a server without a policy decision, and never fail open.

May import: ``policy.api``, ``policy.compiler.api``, ``servers.wire`` and its own packages;
never a server implementation, never a private ``policy`` module
(tests/architecture/boundary_rules.py; docs/architecture.md draws it).
"""

import os

__version__ = "0.1.0"

# Settings the trusted process fixes for the libraries it imports, before any of them loads.
# Forced, not defaulted; servers do not inherit them (they get a fixed environment).
#
# litellm in its default "DEV" mode loads a `.env` file from the current folder (and the folders
# above it) into this process's environment when it is imported. `ironcurtain start` runs in the
# user's project folder, which is the agent's workspace: a `.env` the agent wrote there (Docker
# mode writes the workspace directly) would become host configuration at the next start, e.g.
# HTTPS_PROXY and SSL_CERT_FILE routing the model API key through the attacker.
os.environ["LITELLM_MODE"] = "PRODUCTION"
# No pydantic plugins: a plugin is code from whatever distribution is installed beside us, run
# inside the chokepoint's process on every model; finding them also scans every installed
# package's entry points (~7 ms of each start).
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
# Programs are found by absolute PATH entries only. An empty or relative entry ("", ".", "bin")
# names the working folder, and this process and its servers run in the agent's workspace: a
# `docker`, `npx` or `git` the agent wrote there would be what runs.
if "PATH" in os.environ:
    os.environ["PATH"] = os.pathsep.join(
        entry for entry in os.environ["PATH"].split(os.pathsep) if os.path.isabs(entry)
    )
