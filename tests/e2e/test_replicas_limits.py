"""Browser test: the host's spending limits hold across two app replicas behind nginx on one PostgreSQL
database (issue 6). Each replica counts the other's requests and streams, because both count in the database.

The module starts its own servers (tests/replicas.py): a fresh database, two limited replicas, nginx.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from browser import (
    bubbles,
    idle,
    send,
    sim,  # noqa: F401 - the simulator process, not conftest's in-process one
    sim_proc,
    stop_button,
)
from playwright.sync_api import Browser, Locator, Page, expect
from replicas import pg_database, replica_set
from test_replicas import Client

from glmchat.chat.i18n import t

__all__ = ["pg_database", "sim_proc"]  # fixtures used via pytest, imported on purpose

EN = "en"  # browser_context_args gives every context the en-US locale
# Two requests a minute and one reply streaming at once, app-wide. The other limits are blanked (no limit),
# so none can come in from the developer's shell and refuse for another reason.
LIMITS = {
    "GLMCHAT_LIMIT_RPM": "2",
    "GLMCHAT_LIMIT_STREAMS": "1",
    **{
        f"GLMCHAT_LIMIT_{n}": ""
        for n in ("VISITOR_RPM", "TOKENS_DAY", "VISITOR_TOKENS_DAY", "CNY_DAY", "VISITOR_CNY_DAY", "VISITOR_STREAMS")
    },
}

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def limited(sim_proc, pg_database):
    """Two replicas with LIMITS behind nginx, on this module's database."""
    with replica_set(sim_proc, pg_database, "replicas-limits", LIMITS) as started:
        yield started


def reply_to(page: Page, text: str) -> Locator:
    """Send text; the bubble after it, i.e. its reply (the earlier replies may hold the same refusal)."""
    send(page, text)
    expect(bubbles(page, "user").last).to_contain_text(text)
    return bubbles(page).last


def spend_rows(database_url: str) -> list[tuple]:
    """(started_at, active_until) of every row in the spend table, oldest first."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(sa.text("SELECT started_at, active_until FROM spend ORDER BY started_at"))
            ]
    finally:
        engine.dispose()


def test_limits_hold_across_two_replicas(browser: Browser, browser_context_args, limited, sim):
    first, second = limited.addrs
    on_a = Client(browser, browser_context_args, "limits-a", limited.proxy_url, replica=first)
    on_b = Client(browser, browser_context_args, "limits-b", limited.proxy_url, replica=second)
    refused_rpm, refused_streams = t("limit.rpm", EN), t("limit.streams", EN)
    try:
        a, b = on_a.page(limited.proxy_url), on_b.page(limited.proxy_url)
        assert (on_a.replica(), on_b.replica()) == (first, second), "the pinned cookies were not honoured"
        assert (on_a.cookie(), on_b.cookie()) == (first, second), "nginx's cookie does not name the replica"

        # 1. One stream at a time, app-wide: replica B sees replica A's stream in the database.
        slow = reply_to(a, "slow one sim:tokens=300 sim:rate=5")  # a minute long: stopped below
        expect(slow).to_contain_text("tok0")
        expect(reply_to(b, "meanwhile sim:tokens=2")).to_contain_text(refused_streams)
        idle(b)
        assert sim.stats()["attempts"] == 1, "B's refused request reached the API"

        # 2. Stopped on A, the stream ends at once (its lease would last a minute): B may stream now.
        stop_button(a).click()
        expect(stop_button(a)).to_have_count(0)
        idle(a)
        expect(reply_to(b, "second sim:tokens=2")).to_contain_text("tok0 tok1")
        idle(b)

        # 3. That was request 2 of the minute: the third is refused on either replica, reload or not.
        third = reply_to(a, "third sim:tokens=2")
        expect(third).to_contain_text(refused_rpm)
        expect(third).to_contain_text("It resets in")
        idle(a)
        a.reload()
        a.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
        idle(a)
        reloaded = reply_to(a, "after a reload sim:tokens=2")
        expect(reloaded).to_contain_text(refused_rpm)
        expect(reloaded).to_contain_text("It resets in")
        idle(a)
        other = reply_to(b, "on the other replica sim:tokens=2")
        expect(other).to_contain_text(refused_rpm)
        expect(other).to_contain_text("It resets in")
        idle(b)
    finally:
        on_a.context.close()
        on_b.context.close()

    # Every response each browser got came from its own replica, the reload's too.
    for client, replica in ((on_a, first), (on_b, second)):
        elsewhere = [(u, h) for u, h in client.seen if h != replica]
        assert not elsewhere, f"{client.agent} is pinned to {replica}, but these went elsewhere: {elsewhere}"
    loads = [h for u, h in on_a.seen if urlsplit(u).path == "/"]
    assert loads == [first, first], f"A's page load and its reload: {loads}"

    # 4. Only the slow reply and B's second request reached the API.
    assert sim.stats()["attempts"] == 2
    # 5. One spend row for each, both finished (the stopped one too): no lease holds a stream slot.
    rows = spend_rows(limited.database_url)
    assert len(rows) == 2, rows
    assert [until for _, until in rows] == [None, None], f"a request is still marked active: {rows}"
