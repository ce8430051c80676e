"""What a session's audit log is opened with, from the configuration's ``audit`` section: the
installation's signing key, how often to sign, and the OpenTelemetry export when it is on."""

from __future__ import annotations

from typing import Any

from appliance.chokepoint.audit.log import AuditWriteError, CheckpointEvery
from appliance.chokepoint.audit.signing import Signer, SigningKeyError
from appliance.config.paths import AppPaths
from appliance.config.settings import AuditTrail

__all__ = ["audit_options"]


def audit_options(trail: AuditTrail, paths: AppPaths) -> dict[str, Any]:
    """Keyword arguments for ``AuditLog.create`` / ``open_existing``. A key that cannot be read
    or made stops the session (raised as ``AuditWriteError``): no unsigned log by surprise."""
    try:
        signer = Signer.load_or_create(paths.audit_key)
    except SigningKeyError as exc:
        raise AuditWriteError(str(exc)) from exc
    every = CheckpointEvery(
        records=trail.checkpoint_every_records,
        seconds=trail.checkpoint_every_seconds,
    )
    observer = None
    if trail.export == "otlp":
        from appliance.chokepoint.audit.export import OtlpExport

        observer = OtlpExport()
    return {"signer": signer, "every": every, "observer": observer}
