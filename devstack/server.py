"""Serve a WSGI app on loopback in a background thread, for tests and the sandbox.

Two details make it faithful enough to test a client against:
- TCP_NODELAY on every accepted socket: without it, HTTP/1.1 keep-alive meets delayed ACKs
  and every request stalls about 40 ms, so benchmarks would measure the stall;
- an app can raise `DropConnection` to reset the socket with no response at all, which is how
  simulators script "connection reset before/after the request was processed".
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class DropConnection(Exception):  # noqa: N818 (it is a signal to the server, not an error)
    """Raised by an app to close the client's connection with a TCP reset and no response."""


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        """Stay quiet: tests read the simulators' own request records instead."""

    def handle(self) -> None:
        # Keep-alive loop of BaseHTTPRequestHandler, with wsgiref's single-request body.
        self.close_connection = True
        self.handle_one()
        while not self.close_connection:
            self.handle_one()

    def handle_one(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        handler = _KeepAliveServerHandler(
            self.rfile,
            self.wfile,  # type: ignore[arg-type]  # a socket writer is the IO[bytes] wsgiref wants
            self.get_stderr(),
            self.get_environ(),
            multithread=True,
        )
        handler.request_handler = self  # type: ignore[attr-defined]  # wsgiref back-pointer
        try:
            handler.run(self.server.get_app())  # type: ignore[attr-defined]
        except DropConnection:
            self._reset()
            return
        connection = self.headers.get("Connection", "").lower()
        self.close_connection = connection == "close" or self.request_version != "HTTP/1.1"

    def _reset(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class _KeepAliveServerHandler(ServerHandler):
    """wsgiref's handler speaking HTTP/1.1 and letting DropConnection through."""

    http_version = "1.1"

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], DropConnection):
            raise DropConnection
        super().handle_error()

    def close(self) -> None:
        # wsgiref logs the status on close; there is none when the app dropped the connection.
        if getattr(self, "status", None) is None:
            self.status = "000 Dropped"
        super().close()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


@dataclass
class RunningServer:
    """A served app: its base URL and how to stop it."""

    url: str
    _server: _ThreadingServer
    _thread: threading.Thread

    def close(self) -> None:
        """Stop accepting requests and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve `app` on host:port (port 0 = any free one) until `close()`."""

    def one_block(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # Keep-alive needs a Content-Length: an app that sets one may stream its body (the media
        # host does, so big files never sit in memory); any other body is sent as one block.
        sized = False

        def capture(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            nonlocal sized
            sized = any(name.lower() == "content-length" for name, _ in headers)
            return start_response(status, headers, *exc)

        result = app(environ, capture)
        return result if sized else [b"".join(result)]

    server = make_server(host, port, one_block, server_class=_ThreadingServer, handler_class=_Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    bound_port = server.server_address[1]
    return RunningServer(url=f"http://{host}:{bound_port}", _server=server, _thread=thread)
