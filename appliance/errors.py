"""Every error the appliance raises on purpose, as one tree (the way httpx draws its own).

Catch ``ApplianceError`` to handle anything the appliance refuses or cannot do; catch a leaf to
handle one case. Each class still lives in the module that raises it (its name and import path
are unchanged for callers) and keeps the builtin base it had (``ValueError``, ``OSError``,
``RuntimeError``), so an ``except`` written for that base still catches it.

    ApplianceError                   (module under appliance/; builtin base kept)
    ├── ConfigError             config.loading       a config file or key does not validate
    ├── WorkspaceRefused        host.workspace       a folder may not be a workspace (ValueError)
    ├── SetupCancelled          cli.setup            setup interrupted; nothing written
    ├── ToolFailed              host.runner          a one-shot host tool failed (RuntimeError)
    ├── ModelError              agent.model_errors   a model call failed (message for the user)
    ├── MissingKey              agent.loop           the model has no key and no base URL
    ├── BudgetExceeded          session.budget       a session limit was reached
    ├── SandboxError            sandbox.limits       the sandbox cannot run (RuntimeError)
    ├── RunStopped              sandbox.limits       a tool call ends the run (interrupt, stop)
    ├── TextTooLarge            sandbox.crossing     a guest string over its cap (ValueError)
    ├── SessionStopped          chokepoint.trip      the session must end (its audit failed)
    ├── ServerCallError         chokepoint.server_pool  a server could not answer a call
    ├── AuditWriteError         chokepoint.audit.log    the audit log could not be written
    ├── SealError               chokepoint.audit.seal   a record's seal cannot be made or read
    ├── SigningKeyError         chokepoint.audit.signing  the installation's signing key is unusable
    ├── ServerDeclarationError  config.servers       an mcpServers entry cannot be used (ValueError)
    ├── SetupError              daemon.signal_setup  Signal pairing cannot be completed
    ├── JobError                daemon.jobs          a job is unknown or unreadable (ValueError)
    ├── ProxyStartError         credproxy.proxy      the credential proxy cannot start
    ├── CaError                 credproxy.ca         the proxy's CA files are unsafe or unusable
    ├── OAuthError              credproxy.oauth      a Claude subscription's tokens are unusable
    ├── ImageBuildError         docker.image         a container image cannot be built
    ├── DockerUnavailable       docker.container     no container engine answers
    ├── AttachError             docker.supervise     PTY mode cannot attach the terminal
    ├── WorkspaceHasGit         docker.git_guard     its git cannot be kept read-only (ValueError)
    └── ConfinementError        errors               kernel confinement cannot be applied
        ├── ConfinementUnavailable  confinement.apply      a mechanism is missing (enforce)
        ├── ConfinementRefused      confinement.protected  a grant exposes a protected folder
        ├── ProfileError            confinement.profile    a profile file is wrong (ValueError)
        ├── SeccompError            confinement.seccomp    the kernel refused the filter (OSError)
        └── LandlockError           confinement.landlock   a Landlock call failed (OSError)

The credential proxy's classes are raised in the host process (the proxy runs mitmproxy on a
thread of it, and its addons raise none of them), and this module imports nothing, so importing
it costs the proxy nothing and crosses no boundary.

Private control-flow exceptions (``_UsageError``, ``_ConfigProblem``, ``_Invalid``) never leave
their module and stay out. Who sees what: the agent gets a short sanitized reason, never
``str(exc)`` of these; the operator gets the message, which names file, field and value.
This module imports nothing, so every package may import it.
"""

from __future__ import annotations

__all__ = ["ApplianceError", "ConfinementError"]


class ApplianceError(Exception):
    """Base of every error the appliance raises on purpose; the message is safe for the operator."""


class ConfinementError(ApplianceError):
    """Kernel confinement of a server cannot be applied as its profile asks."""
