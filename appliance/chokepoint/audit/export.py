"""Decisions and escalations as OpenTelemetry log records over OTLP/HTTP (``audit.export``).

Off by default. When on, the audit log hands every durable ``call`` record (and every
``outcome-unknown`` record a resumed session writes for a call whose host died while its server
worked; an ``intent`` is not sent, its call record follows) to
:meth:`OtlpExport.submit`, which only puts it on a bounded queue (a few microseconds, never
blocking): when the queue is full the record is dropped and counted. One worker thread drains
the queue in batches, redacts the arguments (always, whatever ``auditRedaction`` says: the
export leaves the machine), builds SDK log records and sends them with the official OTLP/HTTP
exporter, which reads the standard ``OTEL_EXPORTER_OTLP_*`` variables (endpoint, headers,
timeout, certificates) and ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``. A dead
collector costs the worker its retries, never a call. The counts (sent, dropped, failed) go
into every checkpoint and the end record, so a gap in the collector is visible in the log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from typing import Any

from appliance.chokepoint.redact import redact

__all__ = ["OtlpExport", "attributes_for"]

log = logging.getLogger(__name__)
_BATCH = 256
_ARGUMENTS_MAX = 4096
_CLOSE_WAIT_S = 2.0
_EXPORTED = frozenset({"call", "outcome-unknown"})


def attributes_for(record: dict[str, Any]) -> dict[str, Any]:
    """The OTLP attributes of one call record (arguments redacted and cut to 4 KiB)."""
    arguments = json.dumps(redact(record.get("arguments", {})), sort_keys=True, default=str)
    attributes: dict[str, Any] = {
        "ironcurtain.session_id": record.get("sessionId", ""),
        "ironcurtain.seq": int(record.get("seq", 0)),
        "ironcurtain.record_hash": record.get("hash", ""),
        "ironcurtain.server": str(record.get("server", "")),
        "ironcurtain.tool": str(record.get("tool", "")),
        "ironcurtain.arguments": arguments[:_ARGUMENTS_MAX],
        "ironcurtain.decision": str(record.get("decision", "")),
        "ironcurtain.rule": str(record.get("rule", "")),
        "ironcurtain.reason": redact(str(record.get("reason", ""))),
        "ironcurtain.status": str(record.get("status", "")),
        "ironcurtain.duration_ms": float(record.get("durationMs") or 0.0),
        "ironcurtain.policy_digest": str(record.get("policyDigest", "")),
        "ironcurtain.call_digest": str(record.get("callDigest", "")),
    }
    escalation = record.get("escalation")
    if isinstance(escalation, dict):
        attributes["ironcurtain.escalation.outcome"] = str(escalation.get("outcome", ""))
        attributes["ironcurtain.escalation.by"] = str(escalation.get("by", ""))
    return attributes


class OtlpExport:
    """The never-blocking export of one session's call records."""

    def __init__(self, *, queue_size: int = 2048, exporter: Any = None) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

            exporter = OTLPLogExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
        self._exporter = exporter
        self._resource = Resource.create(_default_service())
        self._scope = InstrumentationScope("ironcurtain.audit")
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=queue_size)
        self._counts = {"queued": 0, "sent": 0, "dropped": 0, "failed": 0}
        self._counts_lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="audit-otlp-export", daemon=True)
        self._worker.start()

    def submit(self, record: dict[str, Any]) -> None:
        """Queue a call record for export; never blocks, never raises."""
        if record.get("type") not in _EXPORTED:
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._count("dropped", 1)
            return
        self._count("queued", 1)

    def stats(self) -> dict[str, int]:
        """Counts so far: queued, sent, dropped (queue full or unsent at close), failed."""
        with self._counts_lock:
            return dict(self._counts)

    def close(self) -> None:
        """Send what is queued within a bounded wait; whatever is left counts as dropped."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=_CLOSE_WAIT_S)
        self._worker.join(_CLOSE_WAIT_S)
        self._exporter.shutdown()  # aborts a retry still waiting
        self._worker.join(_CLOSE_WAIT_S)
        left = 0
        while True:
            try:
                left += self._queue.get_nowait() is not None
            except queue.Empty:
                break
        self._count("dropped", left)

    def _count(self, name: str, n: int) -> None:
        with self._counts_lock:
            self._counts[name] += n

    def _run(self) -> None:
        while True:
            batch: list[dict[str, Any]] = []
            item = self._queue.get()
            while item is not None:
                batch.append(item)
                if len(batch) >= _BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._send(batch)
            if item is None:
                return

    def _send(self, batch: list[dict[str, Any]]) -> None:
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        try:
            result = self._exporter.export([self._log_record(r) for r in batch])
            ok = result is LogRecordExportResult.SUCCESS
        except Exception:  # an exporter bug must not kill the worker: count and go on
            log.warning("OTLP export failed", exc_info=True)
            ok = False
        self._count("sent" if ok else "failed", len(batch))

    def _log_record(self, record: dict[str, Any]) -> Any:
        from opentelemetry._logs import LogRecord, SeverityNumber
        from opentelemetry.sdk._logs import ReadableLogRecord

        if record.get("type") == "outcome-unknown":
            record = {**record, "status": "outcome-unknown"}
        decision = str(record.get("decision", ""))
        escalated = isinstance(record.get("escalation"), dict)
        severity = SeverityNumber.INFO if decision == "allow" else SeverityNumber.WARN
        body = f"{decision} {record.get('server', '')}/{record.get('tool', '')}"
        if escalated:
            escalation = record["escalation"]
            body += f" (escalation {escalation.get('outcome', '?')} by {escalation.get('by', '?')})"
        log_record = LogRecord(
            timestamp=_nanoseconds(record.get("ts")),
            observed_timestamp=time.time_ns(),
            severity_text=severity.name,
            severity_number=severity,
            body=body,
            attributes=attributes_for(record),
            event_name=_event_name(record, escalated),
        )
        return ReadableLogRecord(log_record, self._resource, self._scope)


def _event_name(record: dict[str, Any], escalated: bool) -> str:
    if record.get("status") == "outcome-unknown":
        return "ironcurtain.outcome_unknown"
    return "ironcurtain.escalation" if escalated else "ironcurtain.decision"


def _default_service() -> dict[str, str]:
    """``service.name`` is ironcurtain unless the operator named it (the SDK reads both)."""
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    return {} if named else {"service.name": "ironcurtain"}


def _nanoseconds(ts: Any) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        return time.time_ns()
