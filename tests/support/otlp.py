"""An OTLP/HTTP metrics receiver on loopback, as an OpenTelemetry Collector's ``otlp`` receiver
takes them (POST /v1/metrics, protobuf): what it received, as {(name, attributes): value}."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (ExportMetricsServiceRequest,
                                                                          ExportMetricsServiceResponse)


class OtlpReceiver:
    def __init__(self):
        self.requests: list[ExportMetricsServiceRequest] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportMetricsServiceRequest()
                request.ParseFromString(body)
                receiver.requests.append(request)
                answer = ExportMetricsServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/metrics" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def gauges(self) -> dict[tuple[str, frozenset], float]:
        """The last value of each gauge series received, with its resource's service name."""
        found = {}
        for request in self.requests:
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        if m.WhichOneof("data") != "gauge":
                            continue
                        for point in m.gauge.data_points:
                            attributes = frozenset((a.key, a.value.string_value) for a in point.attributes)
                            found[(m.name, attributes)] = (point.as_double if point.WhichOneof("value") == "as_double"
                                                           else point.as_int)
        return found

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
