"""The controller's health endpoint: HTTP GET /healthz (alive) and /readyz (leading and synced)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HealthServer:
    def __init__(self, address: str, port: int, checks: dict[str, Callable[[], bool]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                check = checks.get(self.path.split("?")[0])
                ok = check is not None and check()
                body = b"ok\n" if ok else (b"not ready\n" if check is not None else b"not found\n")
                self.send_response(200 if ok else 503 if check is not None else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds: no log line each

        self._server = ThreadingHTTPServer((address, port), Handler)
        self._server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, args=(0.2,), name="health", daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
