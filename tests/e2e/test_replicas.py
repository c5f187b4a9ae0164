"""Browser tests of two app replicas behind nginx (scripts/replicas.sh, deploy/nginx.conf.template) on one
PostgreSQL database: sticky sessions by nginx's own cookie, a conversation opened on the other replica,
and a replica restarted under an open page.

The module starts its own servers (tests/replicas.py): a fresh database, two replicas, nginx on free ports.
"""

from __future__ import annotations

import io
import re
import secrets
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from browser import (  # noqa: F401 - fixtures and helpers shared by the browser tests
    MARKDOWN,
    Recorder,
    attach,
    bubbles,
    caption,
    choose,
    conversation_param,
    has_line,
    idle,
    open_app,
    reply_body,
    request_lines,
    send,
    sim,
    sim_proc,
    tokens,
)
from conftest import CANARY_KEY
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect
from replicas import pg_database, replicas

from glmchat.chat.i18n import t
from glmchat.store import Store

__all__ = ["pg_database", "replicas", "sim_proc"]  # fixtures used via pytest, imported on purpose

EN = "en"
VISION = "GLM-4.5V (vision, thinking)"
LOCAL = "local"  # the single owner of shared mode
COOKIE = "glmchat_replica"
HEADER = "x-glmchat-replica"
CID = re.compile(r"[0-9a-f]{32}")

expect.set_options(timeout=15_000)


def png(w: int = 64, h: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (30, 160, 60)).save(buf, "PNG")
    return buf.getvalue()


class Client:
    """A browser context with its own user agent (so nginx's access log tells its requests apart) and a
    record of the X-GLMChat-Replica header of every response it got from the proxy."""

    def __init__(self, browser: Browser, context_args: dict, name: str, proxy_url: str, replica: str | None = None):
        self.agent = f"Mozilla/5.0 (X11; Linux x86_64) glmchat-replica-test-{name}-{secrets.token_hex(3)}"
        self.context: BrowserContext = browser.new_context(**context_args, user_agent=self.agent)
        self.proxy = urlsplit(proxy_url).netloc
        if replica is not None:  # pinned by nginx's own cookie, as if an earlier response had set it
            self.context.add_cookies([{"name": COOKIE, "value": replica, "url": proxy_url}])
        self.seen: list[tuple[str, str | None]] = []  # (url, header) of every response from the proxy
        self.context.on("response", self._response)

    def _response(self, response) -> None:
        if urlsplit(response.url).netloc == self.proxy:
            self.seen.append((response.url, response.headers.get(HEADER)))

    def page(self, url: str, rec: Recorder | None = None) -> Page:
        return open_app(self.context.new_page(), url, rec)

    def replica(self) -> str:
        """The replica the first page load went to."""
        return next(h for u, h in self.seen if urlsplit(u).path == "/")

    def cookie(self) -> str | None:
        return next((c["value"] for c in self.context.cookies() if c["name"] == COOKIE), None)


def chat(page: Page, text: str, n_tokens: int = 5, n_prior: int = 0) -> str:
    """Send text, wait for the simulator's whole reply and its usage line; return the conversation id."""
    send(page, f"{text} sim:tokens={n_tokens}")
    bot = bubbles(page).nth(n_prior + 1)
    expect(reply_body(bot)).to_have_text(tokens(n_tokens))
    expect(caption(bot, "tokens")).to_contain_text(f"{n_tokens} out")
    deadline = time.monotonic() + 10
    while (cid := conversation_param(page)) is None and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert cid is not None and CID.fullmatch(cid), f"no ?c=<id> in the URL: {page.url}"
    return cid


def logged(replicas, agent: str, until: str, timeout: float = 15) -> list[str]:
    """nginx's access log lines of one user agent, once a line matching `until` is there (a WebSocket is
    logged when it closes)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in replicas.access_log() if f'"{agent}"' in line]
        if any(re.search(until, line) for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def saved(replicas, cid: str) -> tuple[dict | None, list[dict]]:
    store = Store(replicas.database_url)
    try:
        return store.conversation(LOCAL, cid), store.messages(LOCAL, cid)
    finally:
        store.close()


# -- 1. sticky sessions ------------------------------------------------------------------------------------


def test_each_browser_sticks_to_one_replica(browser: Browser, browser_context_args, replicas, sim):
    clients = [Client(browser, browser_context_args, name, replicas.proxy_url) for name in ("a", "b")]
    try:
        recs = [Recorder(), Recorder()]
        pages = [c.page(replicas.proxy_url, rec) for c, rec in zip(clients, recs, strict=False)]
        got = [c.replica() for c in clients]
        assert sorted(got) == sorted(replicas.addrs), f"the two browsers were not spread over both replicas: {got}"
        assert [c.cookie() for c in clients] == got, "nginx's cookie does not name the replica that answered"

        words = []
        for page in pages:
            choose(page, t("side.model", EN), VISION)
            attach(page, {"name": "green.png", "mimeType": "image/png", "buffer": png()})
            words.append(f"Sticky{secrets.token_hex(3)}")
            chat(page, f"{words[-1]} what colour is this?")
            thumb = bubbles(page, "user").first.get_by_test_id("stImage").locator("img")
            expect(thumb).to_have_count(1)
            # The thumbnail lives in the replica's memory: it loads only if /media/ went to that replica.
            page.wait_for_function("img => img.complete && img.naturalWidth === 64", arg=thumb.element_handle())
            idle(page)
    finally:
        for client in clients:
            client.context.close()  # closes the WebSockets: nginx logs them now

    for client, replica, rec in zip(clients, got, recs, strict=False):
        paths = [urlsplit(u).path for u, _ in client.seen]
        assert "/" in paths, paths
        for prefix in ("/static/", "/_stcore/upload_file/", "/media/"):
            assert any(p.startswith(prefix) for p in paths), f"no {prefix} request: {paths}"
        elsewhere = [(u, h) for u, h in client.seen if h != replica]
        assert not elsewhere, f"{client.agent} is on {replica}, but these went elsewhere: {elsewhere}"
        assert rec.frames, "no WebSocket frames: the session never ran"

        # nginx's own record, WebSocket included (Playwright shows no headers of a WebSocket handshake).
        lines = logged(replicas, client.agent, r'"GET /_stcore/stream HTTP/1\.1" 101 ')
        assert any(re.search(r'"GET /_stcore/stream HTTP/1\.1" 101 ', line) for line in lines), lines
        assert any(re.search(r'"PUT /_stcore/upload_file/\S+ HTTP/1\.1" 204 ', line) for line in lines), lines
        upstreams = {re.search(r" upstream=(\S+) ", line).group(1) for line in lines}
        assert upstreams == {replica}, f"{client.agent}: requests went to {upstreams}, not only {replica}"
        # The session id in an upload's path would let a reader of the log resume that session: not logged.
        sessions = {p.split("/")[3] for p in paths if p.startswith("/_stcore/upload_file/")}
        assert sessions and not [sid for sid in sessions if sid in "\n".join(replicas.access_log())]

    # Streamlit's metrics are not for visitors: through the proxy they do not exist.
    with urllib.request.urlopen(replicas.replica_urls[0] + "/_stcore/metrics", timeout=10) as direct:
        assert direct.status == 200  # the operator's way, on a replica's own loopback port
    with pytest.raises(urllib.error.HTTPError) as hidden:
        urllib.request.urlopen(replicas.proxy_url + "/_stcore/metrics", timeout=10)
    assert hidden.value.code == 404

    # What was typed and the server's key stay out of every log, nginx's included. Each replica's log holds
    # the app's own line for the request it served, so these logs are real app output, not just a banner.
    logs = replicas.logs()
    served = {name: request_lines(text) for name, text in logs.items() if name.startswith("replica-")}
    assert len(served) == 2 and all(has_line(lines, status="ok", completion_tokens=5) for lines in served.values()), (
        f"a replica's log lacks the request line of its chat: {served}"
    )
    for name, text in logs.items():
        assert CANARY_KEY not in text, f"the API key is in {name}"
        assert not [w for w in words if w in text], f"chat text is in {name}"


def test_the_load_generators_visitors_stick_to_a_replica_and_spread_over_both(replicas, sim):
    """bench/load.py's visitors keep nginx's cookie as a browser does. Without it every health check and every
    WebSocket took turns in the round robin: all 64 sessions of a capacity step went to one replica."""
    from bench.load import run_load

    report = run_load(replicas.proxy_url, visitors=4, turns=1)
    assert report.summary()["complete"] == 4, report.summary()
    streams = [
        line for line in replicas.access_log() if '"GET /_stcore/stream HTTP/1.1" 101 ' in line and "stclient" in line
    ]
    assert len(streams) == 4, streams
    went = [
        (re.search(r" upstream=(\S+) ", line).group(1), re.search(r" cookie=(\S*) ", line).group(1)) for line in streams
    ]
    assert all(upstream == cookie for upstream, cookie in went), went  # each on the replica its cookie names
    assert {upstream for upstream, _ in went} == set(replicas.addrs), went


# -- 2. one database: a conversation from replica A opens on replica B --------------------------------------


def test_conversations_of_both_replicas_share_one_database(browser: Browser, browser_context_args, replicas, sim):
    first, second = replicas.addrs
    on_a = Client(browser, browser_context_args, "on-a", replicas.proxy_url, replica=first)
    on_b = Client(browser, browser_context_args, "on-b", replicas.proxy_url, replica=second)
    try:
        tag = secrets.token_hex(3)
        page_a, page_b = on_a.page(replicas.proxy_url), on_b.page(replicas.proxy_url)
        cid_a = chat(page_a, f"from A {tag}")
        cid_b = chat(page_b, f"from B {tag}")
        assert cid_a != cid_b
        assert (on_a.replica(), on_b.replica()) == (first, second), "the pinned cookies were not honoured"

        for cid, side in ((cid_a, "A"), (cid_b, "B")):
            conversation, messages = saved(replicas, cid)
            assert conversation is not None, f"conversation {side} is not in {replicas.database_url}"
            assert [(m["role"], m["content"]) for m in messages] == [
                ("user", f"from {side} {tag} sim:tokens=5"),
                ("assistant", tokens(5)),
            ], messages

        # B's browser opens A's conversation by its URL: replica B reads it from the shared database.
        page = on_b.page(f"{replicas.proxy_url}/?c={cid_a}")
        served = [h for u, h in on_b.seen if u.endswith(f"/?c={cid_a}")]
        assert served == [second], f"?c= was not served by replica B ({second}): {served}"
        expect(bubbles(page)).to_have_count(2)
        expect(bubbles(page, "user").first.locator(MARKDOWN)).to_have_text(f"from A {tag} sim:tokens=5")
        expect(reply_body(bubbles(page, "assistant").first)).to_have_text(tokens(5))
        assert conversation_param(page) == cid_a
    finally:
        on_a.context.close()
        on_b.context.close()


# -- 3. a replica restarted: its sessions are gone, its conversations are not ------------------------------


def upload_session(page: Page, image: bytes) -> tuple[str, str | None]:
    """Put an image into the chat input; return (the Streamlit session id in its upload URL, the replica)."""
    with page.expect_response(lambda r: r.request.method == "PUT" and "/_stcore/upload_file/" in r.url) as info:
        page.get_by_test_id("stChatInput").locator("input[type=file]").set_input_files(
            [{"name": "pic.png", "mimeType": "image/png", "buffer": image}]
        )
    response = info.value
    assert response.status == 204, f"upload refused: {response.status} from {response.headers.get(HEADER)}"
    return urlsplit(response.url).path.split("/")[3], response.headers.get(HEADER)


def test_restarted_replica_loses_sessions_not_conversations(browser: Browser, browser_context_args, replicas, sim):
    first = replicas.addrs[0]
    client = Client(browser, browser_context_args, "restart", replicas.proxy_url, replica=first)
    pinned = None
    try:
        page = client.page(replicas.proxy_url)
        cid = chat(page, "survive a restart")
        assert client.replica() == first
        before, where = upload_session(page, png())
        assert where == first

        # Killed with the page open: the page reconnects, to the restarted replica or (if it retried while
        # that one was down) to the other. Either way its session is gone: a new one takes the upload.
        with page.expect_websocket(timeout=60_000):
            replicas.restart(0)
        # The open page's first message to its new session is answered (it used to be dropped: it arrived
        # before the chat input was registered there, so its on_submit callback never ran).
        page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
        idle(page)
        assert chat(page, "right after the restart", n_prior=2) == cid
        after, where = upload_session(page, png(32, 32))
        assert where in replicas.addrs and where == client.cookie(), (where, client.cookie())
        assert after != before, "the page kept its Streamlit session across the restart"

        # Reopened, the conversation is all there, from the shared database.
        page.goto(f"{replicas.proxy_url}/?c={cid}")
        page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
        expect(bubbles(page)).to_have_count(4)
        expect(reply_body(bubbles(page, "assistant").first)).to_have_text(tokens(5))

        # And on the restarted replica itself, at once: its failures while it was away did not mark it
        # down for its own clients (max_fails=0 in its group).
        pinned = Client(browser, browser_context_args, "pinned", replicas.proxy_url, replica=first)
        reopened = pinned.page(f"{replicas.proxy_url}/?c={cid}")
        assert [h for u, h in pinned.seen if u.endswith(f"/?c={cid}")] == [first]
        expect(bubbles(reopened, "user").first.locator(MARKDOWN)).to_have_text("survive a restart sim:tokens=5")
        expect(reply_body(bubbles(reopened, "assistant").first)).to_have_text(tokens(5))
        assert chat(reopened, "after the restart", n_prior=4) == cid  # the conversation goes on there
    finally:
        client.context.close()
        if pinned is not None:
            pinned.context.close()

    _, messages = saved(replicas, cid)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "survive a restart sim:tokens=5"),
        ("assistant", tokens(5)),
        ("user", "right after the restart sim:tokens=5"),
        ("assistant", tokens(5)),
        ("user", "after the restart sim:tokens=5"),
        ("assistant", tokens(5)),
    ], messages
