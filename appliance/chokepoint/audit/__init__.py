"""The session audit trail: what every tool call was and what was decided, kept so that a later
edit, cut or rewrite shows.

``log.py`` writes it (sealed records, group-committed fsyncs, signed checkpoints off the call
path), ``seal.py`` and ``signing.py`` define the seal and the checkpoint signature, ``verify.py``
checks a file, ``export.py`` sends decisions to OpenTelemetry. This package never decides a call
and never lets a record go unwritten: a failed write raises, and the chokepoint stops the session.
"""

from appliance.chokepoint.audit.log import (
    FORMAT_VERSION,
    AuditLog,
    AuditWriteError,
    CheckpointEvery,
    json_problem,
)
from appliance.chokepoint.audit.signing import Signer, SigningKeyError
from appliance.chokepoint.audit.verify import Status, VerifyResult, verify_file

__all__ = [
    "FORMAT_VERSION",
    "AuditLog",
    "AuditWriteError",
    "CheckpointEvery",
    "Signer",
    "SigningKeyError",
    "Status",
    "VerifyResult",
    "json_problem",
    "verify_file",
]
