"""The browser tests' Recorder: a body Chromium did not keep is still scanned when it can be read again."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from browser import Recorder

FONT = b"wOF2 font bytes with sk-canary-like text"


class _Files(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Length", str(len(FONT)))
        self.end_headers()
        self.wfile.write(FONT)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def files_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@dataclass
class _Dropped:
    """A response whose body Chromium no longer has, as Playwright reports it."""

    url: str
    status: int = 200

    def body(self) -> bytes:
        raise RuntimeError("Response.body: Protocol error (Network.getResponseBody): No data found for resource")


@dataclass
class _Request:
    res: _Dropped

    def response(self):
        return self.res


def test_a_dropped_static_body_is_read_again_and_scanned(files_url):
    rec = Recorder(bodies=True)
    url = f"{files_url}/static/media/KaTeX_Main-Regular.B22Nviop.woff2"
    rec._finished(_Request(_Dropped(url)))
    assert rec.never_read() == []
    assert rec.bodies_with("sk-canary-like") == [url]


def test_a_dropped_body_outside_static_stays_unread(files_url):
    """Only hash-named /static/ files serve the same bytes again; a page or /media/ body may not."""
    rec = Recorder(bodies=True)
    for path in ("/", "/media/abc.png", "/_stcore/host-config"):
        rec._finished(_Request(_Dropped(files_url + path)))
    assert [u[1] for u in rec.never_read()] == [files_url + p for p in ("/", "/media/abc.png", "/_stcore/host-config")]
    assert rec.bodies_with("sk-canary-like") == []
