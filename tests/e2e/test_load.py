"""The load generator (bench/load.py) sees what a browser sees: every reply complete and its own, and, for a
new visitor's first message, the same messages before the first token as Chromium receives. Timings are
measured by the benchmark, never asserted here."""

from __future__ import annotations

import random
import time

import pytest
from browser import keyed_app, open_app, sim, sim_proc  # noqa: F401 - fixtures
from playwright.sync_api import Page, expect

from bench.load import Visitor, message_text, reply_words, run_load

__all__ = ["sim_proc"]


@pytest.fixture(scope="module")
def app(sim_proc, tmp_path_factory):
    yield from keyed_app("load", sim_proc, tmp_path_factory)


def test_every_visitors_reply_is_complete_and_its_own(app, sim):
    report = run_load(app.url, visitors=3, turns=2, think=(0.0, 0.2))
    summary = report.summary()
    assert summary["errors"] == [] and summary["complete"] == summary["turns"] == 6, summary
    assert all(r.first_token_s is not None and r.messages_before_first for r in report.results)
    assert sim.stats()["attempts"] == 6


def test_the_ownership_check_reads_the_visitor_from_every_reply_word():
    """Another visitor's word anywhere in the page shows up as a second owner (bench.load marks the turn)."""
    from bench import load

    words = reply_words(1, 0)
    assert load.WORD_RE.findall(" ".join(words)) == ["1"] * len(words)
    mixed = " ".join(words) + " " + reply_words(2, 0)[0]
    assert {int(v) for v in load.WORD_RE.findall(mixed)} == {1, 2}


def browser_count(page: Page, url: str, text: str, first_word: str) -> int:
    """ForwardMsg frames Chromium receives from Enter until the one that holds the reply's first word."""
    frames: list[tuple[float, bytes]] = []

    def on_socket(ws) -> None:
        if ws.url.endswith("/_stcore/stream"):
            ws.on("framereceived", lambda payload: frames.append((time.monotonic(), payload)))

    page.on("websocket", on_socket)
    open_app(page, url)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    sent = len(frames)
    box.press("Enter")
    expect(page.get_by_text(first_word).first).to_be_visible()
    after = [payload for _, payload in frames[sent:]]
    hit = next(i for i, payload in enumerate(after) if first_word.encode() in payload)
    return hit


def test_a_new_visitors_first_message_gets_the_same_messages_as_in_the_browser(page: Page, app, sim):
    in_browser = browser_count(page, app.url, message_text(90, 0), reply_words(90, 0)[0])
    visitor = Visitor(app.url, 91)
    visitor.run(1, (0.0, 0.0), random.Random(1))
    (turn,) = visitor.results
    assert turn.complete and turn.error is None
    # Both count what the server sent between the message and the first token's delta (21 each when this
    # was written); one apart at most, for a widget value the browser might report on its own meanwhile.
    assert abs(turn.messages_before_first - in_browser) <= 1, (turn.messages_before_first, in_browser)
    print(f"messages before the first token: browser {in_browser}, load generator {turn.messages_before_first}")
