"""The simulator's two adapters, which send a ``glmsim.wire.Plan`` with its timing.

* ``Transport``: an in-process httpx transport (``Simulator().transport()``), handed to the SDK as its
  ``http_client``'s transport. Delays are slept in the reader's thread; one longer than the request's read
  timeout raises ``httpx.ReadTimeout``, a cut body ``httpx.RemoteProtocolError``.
* ``Server``: a loopback HTTP/1.1 server (``Simulator().serve()``), one thread per connection, bodies chunked.
  sim:hang and sim:stall sleep there at most 120 s, and stop as soon as the client hangs up or the server
  shuts down.

Both count an SSE body in ``Simulator.open_streams`` while it is sent, and record its timing in
``Simulator.events`` when it ends (``StreamTally``).
"""

from __future__ import annotations

import math
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from glmsim.wire import Plan

if TYPE_CHECKING:
    from glmsim.simulator import Simulator

_DEFAULT_READ_TIMEOUT = 30.0
_SERVER_MAX_WAIT = 120.0  # hang/stall on the loopback server never block a thread longer than this


class StreamTally:
    """Counts an SSE body as open while it is being sent, and records its timing when it ends.

    start() and end() each take effect once, so end() may come from the reader or from close() in
    another thread, whichever happens first.
    """

    def __init__(self, sim: Simulator, counted: bool):
        self._sim, self._counted = sim, counted
        self._lock = threading.Lock()
        self._state = "new"  # new -> open -> done, or new -> done when closed before it started
        self.first = self.last = None
        self.chunks = 0

    def start(self) -> None:
        with self._lock:
            if self._state != "new":
                return
            self._state = "open"
        if self._counted:
            self._sim._stream_started()

    def end(self) -> None:
        with self._lock:
            was_open, self._state = self._state == "open", "done"
        if was_open and self._counted:
            self._sim._stream_ended(self)

    def sent(self) -> None:
        self.last = time.time()
        self.first = self.first or self.last
        self.chunks += 1

    def __enter__(self) -> StreamTally:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.end()


# ---------------------------------------------------------------------------------------------------------
# In-process transport


class SimStream(httpx.SyncByteStream):
    """Incremental body; close() from any thread wakes a reader blocked in a delay."""

    def __init__(self, sim: Simulator, plan: Plan, request: httpx.Request, read_timeout: float):
        self._plan, self._request, self._read_timeout = plan, request, read_timeout
        self._closed = threading.Event()
        self._tally = StreamTally(sim, plan.sse)

    def __iter__(self):
        self._tally.start()
        try:
            for delay, data in self._plan.parts:
                if not self._pause(delay):
                    return
                self._tally.sent()
                yield data
            if self._plan.ending == "cut":
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body (incomplete chunked read)",
                    request=self._request,
                )
            if self._plan.ending == "stall":
                self._pause(math.inf)
        finally:
            self._tally.end()

    def _pause(self, seconds: float) -> bool:
        """Wait like a socket read would; False if the stream was closed meanwhile."""
        if self._closed.is_set():
            return False
        if seconds > self._read_timeout:
            if self._closed.wait(self._read_timeout):
                return False
            raise httpx.ReadTimeout("timed out", request=self._request)
        return seconds <= 0 or not self._closed.wait(seconds)

    def close(self) -> None:
        # A reader suspended between chunks may never resume, so the stream counts as ended right here.
        self._closed.set()
        self._tally.end()


class Transport(httpx.BaseTransport):
    def __init__(self, sim: Simulator):
        self._sim = sim

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = request.url.query.decode("ascii", "replace")
        plan = self._sim._dispatch(request.method, request.url.path, headers, request.read(), query)
        read_timeout = (request.extensions.get("timeout") or {}).get("read") or _DEFAULT_READ_TIMEOUT
        if plan.pre_delay > read_timeout:
            time.sleep(read_timeout)
            raise httpx.ReadTimeout("timed out", request=request)
        if plan.pre_delay > 0:
            time.sleep(plan.pre_delay)
        if plan.simple:
            return httpx.Response(plan.status, headers=plan.headers, content=plan.parts[0][1])
        return httpx.Response(
            plan.status, headers=plan.headers, stream=SimStream(self._sim, plan, request, read_timeout)
        )


# ---------------------------------------------------------------------------------------------------------
# Loopback HTTP server

_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a burst of connections from many sessions while the
    # accepting thread waits for the GIL overflows it, and connects fail as the real API's front end would
    # not make them (one fault soak logged 4 such connection failures, each an app retry no fault called for).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: Simulator):
        self.sim = sim
        self.stopping = threading.Event()  # wakes handlers sleeping in hang/stall
        super().__init__(address, _Handler)

    def get_request(self):
        sock, address = super().get_request()
        # Each SSE event is a small write; without this Nagle would batch them and distort timing.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()

    def server_close(self) -> None:
        self.stopping.set()
        super().server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GLMSimulator/1.0"
    server: Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args) -> None:
        """Quiet: the simulator's counters are the log."""

    def handle(self) -> None:
        # A client that goes away (Stop button, timeout, closed keep-alive) is normal, not a server error.
        try:
            super().handle()
        except _DISCONNECTS:
            self.close_connection = True

    def _handle(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        url = urlsplit(self.path)
        self._send(self.server.sim._dispatch(method, url.path, headers, body, url.query))

    def _send(self, plan: Plan) -> None:
        if plan.pre_delay == math.inf:
            self._idle(_SERVER_MAX_WAIT)
            self.close_connection = True  # give up without ever answering
            return
        if plan.pre_delay > 0 and not self._idle(plan.pre_delay):
            self.close_connection = True
            return
        self.send_response(plan.status)
        for name, value in plan.headers.items():
            self.send_header(name, value)
        if plan.simple:
            self.send_header("Content-Length", str(len(plan.parts[0][1])))
            self.end_headers()
            self.wfile.write(plan.parts[0][1])
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with StreamTally(self.server.sim, plan.sse) as tally:
            for delay, data in plan.parts:
                if delay > 0 and not self._idle(delay):
                    self.close_connection = True
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                tally.sent()
            if plan.ending == "cut":
                self._drop()
            elif plan.ending == "stall":
                self._idle(_SERVER_MAX_WAIT)
                self._drop()
            else:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

    def _drop(self) -> None:
        """Close abruptly mid-body: the client sees an incomplete chunked read."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone
        self.connection.close()

    def _idle(self, seconds: float) -> bool:
        """Sleep; False as soon as the client hangs up or the server stops."""
        deadline = time.monotonic() + seconds
        watch_socket = True
        while (left := deadline - time.monotonic()) > 0:
            if self.server.stopping.is_set():
                return False
            step = min(left, 0.05)
            if not watch_socket:
                self.server.stopping.wait(step)
                continue
            if select.select([self.connection], [], [], step)[0]:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return False  # orderly close by the client
                except OSError:
                    return False
                watch_socket = False  # the client sent more bytes; readable forever, so stop polling it
        return not self.server.stopping.is_set()
