"""The protocol client (tests/stclient.py) against the real app: a session, a message, widget values, uploads.

It speaks Streamlit's WebSocket protocol directly; these tests show it sees what a browser would, so
the attack suite (tests/e2e/test_attacks.py) can rely on it.
"""

from __future__ import annotations

import pytest
from browser import keyed_env, sim_proc, start_streamlit, tokens  # noqa: F401 - sim_proc is a fixture

from bench.stclient import StClient, chat_value
from glmchat.chat.i18n import t
from glmchat.chat.render import safe_markdown

__all__ = ["sim_proc"]


@pytest.fixture(scope="module")
def app(sim_proc):
    """The app with the canary key, talking to the simulator process."""
    yield from start_streamlit("stclient", keyed_env(sim_proc))


@pytest.fixture
def client(app, sim_proc):
    sim_proc.reset()
    with StClient(app.url) as c:
        yield c.open()


def test_a_message_streams_its_reply_through_the_deltas(client, sim_proc):
    assert client.session_id, "no session id in new_session"
    box = client.find(kind="chat_input")
    assert box.key == "w_prompt" and box.root == "bottom"
    assert box.text == t("chat.placeholder", "en")

    arrivals: list[str] = []
    client.on_message = lambda msg, at: arrivals.append(msg.WhichOneof("type"))
    client.rerun(client.value(box, "hello sim:tokens=5"))
    assert arrivals[0] == "new_session" and "script_finished" in arrivals, arrivals
    assert tokens(5) in client.texts(), client.texts()
    assert safe_markdown("hello sim:tokens=5") in client.texts()  # the question, as the page draws it
    stats = sim_proc.stats()
    assert (stats["attempts"], stats["requests"]) == (1, 1), stats


def test_a_widget_value_round_trip_switches_the_language(client):
    client.rerun(client.value("w_params_open", True))  # the language is in the sidebar's settings
    lang = client.find("w_lang")
    assert lang.kind == "selectbox" and "中文" in lang.options, lang
    assert client.find(kind="chat_input").text == t("chat.placeholder", "en")

    client.rerun(client.value(lang, "中文"))  # the frontend sends the option as shown
    assert client.find(kind="chat_input").text == t("chat.placeholder", "zh")
    assert client.find("w_model").label == t("side.model", "zh")

    client.rerun(client.value(lang, "English"))
    assert client.find(kind="chat_input").text == t("chat.placeholder", "en")


def test_messages_sent_by_reference_are_resolved(client):
    # A reply over global.minCachedMessageSize (10 kB) is cacheable; once the client lists its hash,
    # the next run sends only a ref_hash in its place.
    client.rerun(client.value(client.find(kind="chat_input"), "long sim:tokens=3000"))
    assert tokens(3000) in client.texts()
    client.rerun(client.value("w_params_open", True))  # the language is in the sidebar's settings
    client.rerun(client.value("w_lang", "English"))
    assert client.cache_hits > 0, "the server sent no message by reference"
    assert tokens(3000) in client.texts()
    assert not client.errors, client.errors


def test_a_file_uploaded_over_http_reaches_the_chat_input(client, sim_proc):
    urls = client.upload_urls(["notes.txt"])
    assert len(urls.file_urls) == 1 and urls.file_urls[0].upload_url.endswith(urls.file_urls[0].file_id)
    upload = client.upload("notes-4c1e.txt", b"file text\n", "text/plain")
    assert upload.status == 204, upload

    client.rerun(client.value(client.find(kind="chat_input"), chat_value("with a file sim:tokens=2", [upload])))
    assert any("notes-4c1e.txt" in text for text in client.texts()), client.texts()  # the file's chip
    assert tokens(2) in client.texts()
    assert sim_proc.stats()["requests"] == 1


def test_a_client_may_connect_from_another_loopback_address_with_extra_headers(app):
    with StClient(app.url, source_address="127.0.0.2", headers={"X-Test": "1"}) as other:
        other.open()
        assert other.has(kind="chat_input")
        assert other.session_id
