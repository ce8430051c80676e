"""What a session's audit log is opened with, from the configuration: the installation's
signing key, how often to sign, and the OpenTelemetry export when it is turned on."""

from __future__ import annotations

from typing import Any

from appliance.chokepoint.audit.log import AuditWriteError, CheckpointEvery
from appliance.chokepoint.audit.signing import Signer, SigningKeyError
from appliance.config.paths import AppPaths
from appliance.config.settings import Config

__all__ = ["audit_options"]


def audit_options(config: Config, paths: AppPaths) -> dict[str, Any]:
    """Keyword arguments for ``AuditLog.create`` / ``open_existing``. A key that cannot be read
    or made stops the session (raised as ``AuditWriteError``): no unsigned log by surprise."""
    try:
        signer = Signer.load_or_create(paths.audit_key)
    except SigningKeyError as exc:
        raise AuditWriteError(str(exc)) from exc
    every = CheckpointEvery(
        records=config.audit.checkpoint_every_records,
        seconds=config.audit.checkpoint_every_seconds,
    )
    observer = None
    if config.audit.export == "otlp":
        from appliance.chokepoint.audit.export import OtlpExport

        observer = OtlpExport()
    return {"signer": signer, "every": every, "observer": observer}
