"""The sandbox over real HTTP on loopback: stdlib ``ThreadingHTTPServer``, one thread per request.

``serve()`` starts it in a daemon thread and returns a :class:`RunningServer` (a context
manager with ``.url``); ``serve_forever()`` blocks, for ``relimport sandbox serve``. Delays are
``time.sleep`` in the request's thread; a dropped connection is a socket closed without a
response. Only loopback addresses are accepted: this project never listens on a network.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from importer.sandbox.answer import Action
from importer.sandbox.core import Sandbox


def check_loopback(host: str) -> str:
    """``host`` if it is a loopback address (``localhost`` means 127.0.0.1); else ValueError."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(
            f"The sandbox listens only on a loopback address (127.0.0.1, ::1), not {host!r}."
        )
    return host


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops SYNs when a client opens 8 connections
    sandbox: Sandbox

    def server_bind(self) -> None:
        super().server_bind()
        self.open: set[socket.socket] = set()  # connections being served (kept alive)
        self.open_lock = threading.Lock()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.open_lock:
            self.open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.open_lock:
                self.open.discard(request)

    def drop_connections(self) -> None:
        """Close every connection being served, as a server that goes away does."""
        with self.open_lock:
            for connection in self.open:
                with contextlib.suppress(OSError):  # already closed by its client
                    connection.shutdown(socket.SHUT_RDWR)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two sends: no 40 ms delayed-ACK wait
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the statistics say what happened."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name: value for name, value in self.headers.items()}
        answer = self.server.sandbox.handle(self.command, self.path, headers, body)
        if answer.delay > 0:
            time.sleep(answer.delay)
        if answer.action is Action.DROP:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
            self.close_connection = True


def _bind(sandbox: Sandbox, host: str, port: int) -> _Server:
    host = check_loopback(host)
    server_class = _IPv6Server if ":" in host else _Server
    server = server_class((host, port), _Handler)
    server.sandbox = sandbox
    return server


def _url(server: _Server) -> str:
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else host
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class RunningServer:
    """A sandbox served on loopback in a daemon thread, until :meth:`close`."""

    def __init__(self, sandbox: Sandbox, host: str, port: int) -> None:
        self.sandbox = sandbox
        self._server = _bind(sandbox, host, port)
        self.url = _url(self._server)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox {self.url}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port (waits for the serving loop, not for requests).
        Connections kept alive stay served until their client closes them."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def go_away(self) -> None:
        """Stop as a server that crashed or lost its network does: the port is closed and every
        open connection with it (clients then fail to connect)."""
        self.close()
        self._server.drop_connections()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``sandbox`` in the background; ``port=0`` picks a free port (see ``.url``)."""
    return RunningServer(sandbox, host, port)


def serve_forever(
    sandbox: Sandbox,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve ``sandbox`` until ``stop`` is set or Ctrl-C; ``ready`` gets the URL once bound."""
    with serve(sandbox, host, port) as running:
        if ready is not None:
            ready(running.url)
        (stop or threading.Event()).wait()
