"""Protocol-level attacks on the hosted modes, against the real `streamlit run` server.

A visitor is not bound to what the widgets offer: tests/stclient.py speaks Streamlit's WebSocket
protocol directly and sends any value for any widget id, any header, any session id, and PUTs files
at will. Each test reproduces one break from the security review and states what must hold instead.
Upstream requests are read from the in-process simulator (conftest's sim_server), which keeps their
bodies; counts that live in the database are read with sqlite3.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser import AppServer, streamlit_app
from conftest import CANARY_KEY

from bench.stclient import Element, StClient, chat_value, widget
from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t
from glmchat.hosting import passwords
from glmchat.ui.sidebar import model_label

EN = "en"
PASSWORD = "correct horse 电池 staple"
WRONG = "a wrong guess"
MB = 1024 * 1024
# Every setting the app reads, blank (= unset) unless a server names it: the developer's shell stays out.
SETTINGS = (
    "GLMCHAT_ACCESS_MODE",
    "GLMCHAT_ACCESS_PASSWORD_HASH",
    "GLMCHAT_ALLOWED_EMAILS",
    "GLMCHAT_ALLOW_OWN_KEY",
    "GLMCHAT_BEHIND_PROXY",
    "GLMCHAT_HOST_KEY_HISTORY",
    "GLMCHAT_ADMIN_EMAILS",
    "GLMCHAT_LOG_CONTENT",
    "GLMCHAT_MAX_MESSAGE_CHARS",
    "GLMCHAT_MAX_ATTACHMENTS",
    "GLMCHAT_MAX_CONVERSATION_MESSAGES",
    "GLMCHAT_MAX_CONVERSATIONS",
    *(
        f"GLMCHAT_LIMIT_{n}"
        for n in (
            "RPM",
            "VISITOR_RPM",
            "TOKENS_DAY",
            "VISITOR_TOKENS_DAY",
            "CNY_DAY",
            "VISITOR_CNY_DAY",
            "STREAMS",
            "VISITOR_STREAMS",
        )
    ),
)


# -- servers, sessions and the database -------------------------------------------------------------------


@dataclass
class App:
    url: str
    db: Path
    server: AppServer

    def count(self, table: str) -> int:
        with sqlite3.connect(self.db, timeout=30) as conn:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def clear(self, table: str) -> None:
        if not self.db.exists():
            return  # no session has run yet, so the app has not made its tables
        with sqlite3.connect(self.db, timeout=30) as conn:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
                conn.execute(f"DELETE FROM {table}")


def serve(name: str, sim, tmp_path_factory, **settings: str) -> Iterator[App]:
    """Generator body for a module's app: the host's canary key on the simulator, a database of its own."""
    db = tmp_path_factory.mktemp(name) / "glmchat.db"
    env = {
        **dict.fromkeys(SETTINGS, ""),
        "ZHIPUAI_API_KEY": CANARY_KEY,
        "ZHIPUAI_BASE_URL": sim.base_url,
        "GLMCHAT_DATABASE_URL": f"sqlite:///{db}",
        "GLMCHAT_OWNER_SECRET": f"attacks-{name}",
        **settings,
    }
    with streamlit_app(f"attacks-{name}", env) as server:
        yield App(server.url, db, server)


@pytest.fixture(scope="module")
def password_hash() -> str:
    return passwords.hash_password(PASSWORD)


@pytest.fixture(scope="module")
def gate_app(sim_server, tmp_path_factory, password_hash):
    """Gate mode with the access password and a ¥ day limit; one attachment per message."""
    yield from serve(
        "gate",
        sim_server,
        tmp_path_factory,
        GLMCHAT_ACCESS_MODE="gate",
        GLMCHAT_ACCESS_PASSWORD_HASH=password_hash,
        GLMCHAT_LIMIT_CNY_DAY="1",
        GLMCHAT_MAX_ATTACHMENTS="1",
    )


@pytest.fixture(scope="module")
def proxyless_app(sim_server, tmp_path_factory, password_hash):
    """Gate mode without a declared proxy, two requests a minute per visitor."""
    yield from serve(
        "proxyless",
        sim_server,
        tmp_path_factory,
        GLMCHAT_ACCESS_MODE="gate",
        GLMCHAT_ACCESS_PASSWORD_HASH=password_hash,
        GLMCHAT_LIMIT_VISITOR_RPM="2",
    )


@pytest.fixture(scope="module")
def personal_app(sim_server, tmp_path_factory):
    yield from serve("personal", sim_server, tmp_path_factory, GLMCHAT_ACCESS_MODE="personal")


@pytest.fixture
def upstream(sim_server):
    """The in-process simulator, its counters and recorded request bodies reset."""
    sim_server.reset()
    return sim_server


@pytest.fixture
def session():
    """Open sessions (StClient(app.url, **options).open()); all closed after the test."""
    opened: list[StClient] = []

    def open_session(app: App, **options) -> StClient:
        client = StClient(app.url, **options)
        opened.append(client)
        return client.open()

    yield open_session
    for client in opened:
        client.close()


@contextmanager
def fresh_throttle(app: App):
    """No password failures before or after: the throttle state of one test must not reach another."""
    app.clear("login_failures")
    try:
        yield
    finally:
        app.clear("login_failures")


# -- what a visitor does ----------------------------------------------------------------------------------


def submit_button(client: StClient) -> Element:
    return client.find(kind="button", where=lambda e: e.proto.button.is_form_submitter)


def try_password(client: StClient, password: str) -> None:
    """Submit the gate's form as the browser does: the field's value and the submit button's trigger."""
    client.rerun(client.value("w_password", password), client.value(submit_button(client), True))


def pass_gate(client: StClient) -> None:
    try_password(client, PASSWORD)
    assert client.has(kind="chat_input") and not client.has("w_password"), client.texts()


def gate_outcome(client: StClient) -> str | None:
    """ "wrong" or "wait" from the gate's error, None when it shows neither."""
    wait_prefix = t("gate.wait", EN, s="\0").split("\0")[0]
    texts = [e.text for e in client.find_all(kind="alert")]
    if any(t("gate.wrong", EN) in text for text in texts):
        return "wrong"
    if any(text.startswith(wait_prefix) for text in texts):
        return "wait"
    return None


def send(client: StClient, text: str, files=()) -> None:
    client.rerun(client.value(client.find(kind="chat_input"), chat_value(text, files)))


def say(text: str) -> str:
    """The simulator trigger that makes the reply exactly `text`."""
    return "sim:say=" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def sent(upstream) -> list[dict]:
    """The request bodies the simulator received, in order."""
    return list(upstream.requests)


# -- 1. forged model and parameters -------------------------------------------------------------------------


def test_a_forged_model_never_reaches_the_api(gate_app, upstream, session):
    catalogue = load()
    forged = "glm-5.3"  # §12: unconfirmed, so not in the catalogue; the simulator records it if it is sent
    assert forged not in catalogue.ids()  # outside the catalogue: no price, so the ¥ limit cannot count it
    client = session(gate_app)
    pass_gate(client)
    assert forged not in client.find("w_model").options

    # One rerun carries both: the model selectbox set to an id it never offered, and a message.
    client.rerun(
        client.value("w_model", forged), client.value(client.find(kind="chat_input"), "forged model sim:tokens=3")
    )
    models = [body.get("model") for body in sent(upstream)]
    assert models, f"no request reached the API; the page says: {client.texts()}"
    assert all(m in catalogue.ids() for m in models), f"models sent upstream: {models}"


def test_forged_parameter_values_stay_within_the_widgets_bounds(gate_app, upstream, session):
    catalogue = load()
    client = session(gate_app)
    pass_gate(client)

    # The parameter widgets exist only while the expander is open; open it through its own state.
    client.rerun(client.value("w_params_open", True))
    ids = {key: client.find(key).id for key in ("w_temperature", "w_top_p", "w_max_tokens", "w_thinking")}
    forged = [
        widget(ids["w_temperature"], double_array_value=[7.5]),
        widget(ids["w_top_p"], double_array_value=[0.0]),
        widget(ids["w_max_tokens"], int_value=10**9),
        widget(ids["w_thinking"], string_value="maybe"),
    ]  # a checkbox's id with a string value

    def send_forged(c: StClient, text: str) -> None:
        c.rerun(*forged, c.value(c.find(kind="chat_input"), text))

    send_forged(client, "while drawn sim:tokens=2")
    client.rerun(client.value("w_params_open", False))  # drawn before, not now: Streamlit keeps its metadata
    assert not client.has("w_temperature")
    send_forged(client, "drawn before sim:tokens=2")
    other = session(gate_app)  # never drawn in this session: the ids are the same in every session
    pass_gate(other)
    send_forged(other, "never drawn sim:tokens=2")

    # A number the max-tokens input allowed for the model it was drawn for, sent together with a model
    # whose limit is lower: the input's id (hence its bounds on the server) does not change with the model.
    client.rerun(client.value("w_params_open", True))
    drawn_max = int(client.find("w_max_tokens").proto.number_input.max)
    smaller = next(
        m for m in catalogue.models if m.max_output < drawn_max and not m.offline and not m.supports("vision")
    )
    client.rerun(
        widget(ids["w_max_tokens"], int_value=drawn_max),
        client.value("w_model", model_label(smaller, EN, has_key=True)),  # the option as the page shows it
        client.value(client.find(kind="chat_input"), "bounds of another model sim:tokens=2"),
    )

    bodies = sent(upstream)
    assert len(bodies) == 4, f"{len(bodies)} requests; pages say: {client.texts()} / {other.texts()}"
    assert bodies[-1]["model"] == smaller.id
    for body in bodies:
        model = catalogue.get(body["model"])
        shown = {k: body.get(k) for k in ("model", "temperature", "top_p", "max_tokens", "thinking")}
        assert 0 <= body.get("temperature", 0) <= 1, shown
        assert 0.01 <= body.get("top_p", 1) <= 1, shown
        assert 1 <= body.get("max_tokens", 1) <= model.max_output, shown
        assert body.get("thinking") in (None, {"type": "enabled"}, {"type": "disabled"}), shown


# -- 2. parallel password guesses ---------------------------------------------------------------------------


def test_parallel_wrong_passwords_are_checked_one_at_a_time(gate_app, session):
    with fresh_throttle(gate_app):
        first = session(gate_app)
        for _ in range(passwords.FREE_ATTEMPTS):
            try_password(first, WRONG)
            assert gate_outcome(first) == "wrong", first.texts()
        last_failure_seen = time.monotonic()  # the failure was recorded before its run ended
        assert gate_app.count("login_failures") == passwords.FREE_ATTEMPTS
        guessers = [session(gate_app) for _ in range(5)]
        # Past the first wait exactly one more attempt may be checked; the throttle is time-based, so
        # waiting it out is the setup, not what is measured.
        time.sleep(max(0.0, last_failure_seen + passwords.FIRST_WAIT + 0.5 - time.monotonic()))
        barrier = threading.Barrier(len(guessers))

        def guess(client: StClient) -> None:
            barrier.wait(timeout=60)
            try_password(client, WRONG)

        with ThreadPoolExecutor(len(guessers)) as pool:
            list(pool.map(guess, guessers))
        outcomes = [gate_outcome(c) for c in guessers]
        failures = gate_app.count("login_failures")

    assert failures == passwords.FREE_ATTEMPTS + 1, f"{failures} failures recorded; the five saw {outcomes}"
    assert outcomes.count("wrong") <= 1 and outcomes.count("wait") == 5 - outcomes.count("wrong"), outcomes


# -- 3. forged X-Forwarded-For ------------------------------------------------------------------------------


def test_forged_forwarded_for_headers_are_one_visitor_for_the_limits(proxyless_app, upstream, session):
    for i in range(3):
        client = session(proxyless_app, headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
        pass_gate(client)
        for j in range(2):
            send(client, f"visitor {i} message {j} sim:tokens=2")
    attempts = upstream.stats()["attempts"]
    assert 1 <= attempts <= 2, f"{attempts} upstream requests under a 2-a-minute visitor limit"


def test_forged_forwarded_for_headers_get_no_fresh_password_attempts(proxyless_app, session):
    with fresh_throttle(proxyless_app):
        clients = [session(proxyless_app, headers={"X-Forwarded-For": f"198.51.100.{i + 1}"}) for i in range(4)]
        for client in clients[: passwords.FREE_ATTEMPTS]:
            try_password(client, WRONG)
            assert gate_outcome(client) == "wrong", client.texts()
        # Within the first wait (2 s) of the third failure, as one client the fourth must wait.
        last = time.monotonic()
        try_password(clients[-1], WRONG)
        took = time.monotonic() - last
        outcome, failures = gate_outcome(clients[-1]), proxyless_app.count("login_failures")
    assert (outcome, failures) == ("wait", passwords.FREE_ATTEMPTS), (
        f"fourth address: {outcome!r}, {failures} failures recorded ({took:.1f} s after the third)"
    )


# -- 4. uploads before the gate, and how much a session may hold ---------------------------------------------


def test_no_uploads_before_the_gate(gate_app, upstream, session):
    client = session(gate_app)
    assert client.has("w_password")
    name = f"pre-gate-{secrets.token_hex(4)}.png"
    urls = client.upload_urls([name])  # Streamlit answers this for any session; without a URL, make one up
    file_id = urls.file_urls[0].file_id if urls.file_urls else str(uuid.uuid4())
    parked = client.upload(name, os.urandom(8 * MB), "image/png", file_id=file_id)
    assert 400 <= parked.status < 500, f"an 8 MB PUT before the gate got HTTP {parked.status} (expected 403)"

    # Nothing was held: after the gate, a message naming that file carries only the file put since.
    pass_gate(client)
    later = client.upload(f"after-gate-{secrets.token_hex(4)}.txt", b"put after the gate\n", "text/plain")
    assert 200 <= later.status < 300, later
    send(client, "two files? sim:tokens=2", [parked, later])
    page = client.text()
    assert later.name in page, page
    assert name not in page, page
    assert all(name not in json.dumps(body, ensure_ascii=False) for body in sent(upstream))


def test_an_admitted_session_holds_a_bounded_number_of_files(gate_app, session):
    client = session(gate_app)
    pass_gate(client)
    allowed = 1 + 1  # GLMCHAT_MAX_ATTACHMENTS + 1
    statuses = [client.upload(f"small-{i}.txt", b"x" * 1000, "text/plain").status for i in range(allowed + 1)]
    assert all(200 <= s < 300 for s in statuses[:allowed]) and 400 <= statuses[allowed] < 500, statuses


def test_an_admitted_session_holds_a_bounded_number_of_bytes(gate_app, session):
    client = session(gate_app)
    pass_gate(client)
    # (1 + 1) x 20 MB may be held: two 15 MB files fit, a third does not.
    statuses = [client.upload(f"big-{i}.bin", os.urandom(15 * MB)).status for i in range(3)]
    assert all(200 <= s < 300 for s in statuses[:2]) and 400 <= statuses[2] < 500, statuses


# -- 5. an import over the History page's 20 MB ---------------------------------------------------------------


def export_bytes(title: str) -> bytes:
    """A valid export of one short conversation."""
    return json.dumps(
        {
            "format": "glmchat-export",
            "version": 1,
            "conversations": [
                {
                    "title": title,
                    "model": load().default_id,
                    "settings": {},
                    "messages": [{"id": uuid.uuid4().hex, "role": "user", "content": f"{title}: hello"}],
                }
            ],
        }
    ).encode()


def import_file(client: StClient, name: str, data: bytes) -> int:
    """Put a file into the History page's import uploader and press Import; the PUT's status."""
    upload = client.upload(name, data, "application/json")
    if 200 <= upload.status < 300:
        client.rerun(client.value("w_import_file", [upload]))
        if client.has("import-go"):
            client.rerun(client.value("import-go", True))
    return upload.status


def test_an_import_over_20_mb_is_refused(personal_app, session):
    client = session(personal_app, page="history")
    assert client.has("w_import_file"), client.texts()
    # A small export imports: the path below is the real one.
    import_file(client, "small.json", export_bytes("small import"))
    assert t("history.imported", EN, n=1) in client.texts(), client.texts()
    before = personal_app.count("conversations")

    small = export_bytes("padded import")
    big = small + b" " * (21 * MB - len(small))  # still valid JSON: whitespace after the value
    status = import_file(client, "big.json", big)
    errors = [e.text for e in client.find_all(kind="alert") if e.proto.alert.format == e.proto.alert.ERROR]
    assert 400 <= status < 500 or errors, f"PUT {status}; the page says {client.texts()}"
    assert personal_app.count("conversations") == before, "the 21 MB export was imported"


# -- 6. another client presenting a session's id -------------------------------------------------------------


def test_another_clients_session_id_gives_no_way_in(gate_app, session):
    secret, reply = f"secret-{secrets.token_hex(6)}", f"reply-{secrets.token_hex(6)}"
    owner = session(gate_app)
    pass_gate(owner)
    send(owner, f"{secret} {say(reply)}")
    assert reply in owner.texts(), owner.texts()

    # The id of A's session, presented as a reconnecting browser does, from another address.
    intruder = session(gate_app, session_id=owner.session_id, source_address="127.0.0.2")
    assert intruder.has("w_password") and not intruder.has(kind="chat_input"), (
        f"B (session {intruder.session_id}; A's is {owner.session_id}) is shown: {intruder.texts()[:6]}"
    )
    received = intruder.received()
    assert secret.encode() not in received and reply.encode() not in received, "A's chat reached B"
