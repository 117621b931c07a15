"""The sandbox HTTP server: one ThreadingHTTPServer, HTTP/1.1 keep-alive, routing by path.

/_sandbox/... goes to the control API; everything else to the provider modules (Google OAuth,
Gmail and Calendar; Entra ID and Microsoft Graph), which all share one `SandboxState`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from sandbox.control import ControlApi
from sandbox.google.gcal_api import GoogleCalendarProvider
from sandbox.google.gmail_api import GmailProvider
from sandbox.google.oauth import GoogleOAuth
from sandbox.http import Request, Response, Router
from sandbox.microsoft.entra import EntraProvider
from sandbox.microsoft.graph_api import GraphProvider
from sandbox.state import SandboxState
from sandbox.workload.model import Workload

log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    """Tracks open keep-alive connections so `stop()` can close them instead of serving on."""

    daemon_threads = True
    request_queue_size = 256
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        with self._open_lock:
            self._open.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            doomed = list(self._open)
            self._open.clear()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "TouchpointSandbox/1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silent: request lines carry tokens' neighbours and the benchmark sends thousands."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        app: SandboxServer = self.server.app  # type: ignore[attr-defined]
        body = self._read_body()
        request = Request.build(self.command, self.path, dict(self.headers.items()), body)
        try:
            response = app.dispatch(request)
        except Exception:  # a bug in a handler must answer 500, not kill the connection
            log.exception("sandbox handler failed for %s %s", request.method, request.path)
            response = Response.json(
                500,
                {"error": {"code": 500, "message": "sandbox internal error", "status": "INTERNAL"}},
            )
        self.send_response(response.status)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class SandboxServer:
    """The sandbox on 127.0.0.1; `with SandboxServer(generate_workload()) as server: ...`."""

    def __init__(self, workload: Workload, host: str = "127.0.0.1", port: int = 0) -> None:
        self.workload = workload
        self.state = SandboxState(workload)
        self.google_oauth = GoogleOAuth(self.state)
        self.gmail = GmailProvider(self.state)
        self.calendar = GoogleCalendarProvider(self.state)
        self.graph = GraphProvider(self.state)
        self.entra = EntraProvider(self.state)
        self.control = ControlApi(self.state)
        self.router = Router()
        # Google's fixed paths first: Entra's /{tenant}/... routes match any first segment.
        for provider in (self.google_oauth, self.gmail, self.calendar, self.graph, self.entra):
            self.router.extend(provider.router)
        self._httpd = _Server((host, port), _Handler)
        self._httpd.app = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/_sandbox/"):
            return self.control.dispatch(request)
        return self.router.dispatch(request)

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, daemon=True, name="sandbox-http")
            self._thread.start()
        return self

    def _serve(self) -> None:
        self._serving.set()
        try:
            self._httpd.serve_forever(poll_interval=0.1)
        finally:
            self._serving.clear()

    def serve_forever(self) -> None:
        """Serves in the calling thread until `stop()` is called from another one."""
        self._serve()

    def stop(self) -> None:
        if self._serving.is_set():
            self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
