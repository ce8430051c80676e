"""A real OTLP/HTTP logs receiver on loopback, built on the official protobuf definitions
(``opentelemetry-proto``): it decodes each ``ExportLogsServiceRequest`` it is sent, so a test
asserts on what a collector would get. No Collector binary is in the package registries here."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class OtlpReceiver:
    """``with OtlpReceiver() as r:`` then point ``OTEL_EXPORTER_OTLP_ENDPOINT`` at ``r.url``."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = ExportLogsServiceRequest()
                request.ParseFromString(body)
                receiver._take(self.path, self.headers.get("Content-Type"), request)
                reply = ExportLogsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _take(self, path: str, content_type: str | None, request: ExportLogsServiceRequest):
        self.requests += 1
        for resource_logs in request.resource_logs:
            resource = {a.key: _value(a.value) for a in resource_logs.resource.attributes}
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    self.records.append({
                        "path": path,
                        "content_type": content_type,
                        "resource": resource,
                        "scope": scope_logs.scope.name,
                        "time_unix_nano": record.time_unix_nano,
                        "severity_text": record.severity_text,
                        "severity_number": record.severity_number,
                        "event_name": record.event_name,
                        "body": _value(record.body),
                        "attributes": {a.key: _value(a.value) for a in record.attributes},
                    })  # fmt: skip

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
