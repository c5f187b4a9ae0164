"""Browser: the access gate cannot be skipped, and the host's limits hold under refresh, a second tab and a restart."""

from __future__ import annotations

import re

import pytest
from browser import (  # noqa: F401 - fixtures, found by pytest by name
    CANARY_KEY,
    Recorder,
    bubbles,
    has_line,
    history_env,
    idle,
    open_app,
    send,  # noqa: F401
    sim,  # noqa: F401 - fixtures and helpers shared by the browser tests
    sim_proc,
    stop_button,
    streamlit_app,
)
from playwright.sync_api import Browser, Page, expect

from glmchat.chat.i18n import t
from glmchat.hosting import access, passwords
from glmchat.store import Store
from glmchat.store.schema import login_failures_t

EN = "en"
PASSWORD = "correct horse 电池 staple"
OWNER_SECRET = "browser-test-owner-secret"


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'glmchat.db'}"


def english_page(browser: Browser, browser_context_args) -> Page:
    return browser.new_context(**{**browser_context_args, "locale": "en-US"}).new_page()


def gate_field(page: Page):
    return page.get_by_label(t("gate.password", EN))


def last_reply(page: Page):
    return bubbles(page, "assistant").last


def test_the_gate_holds_against_urls_parameters_and_guessing(browser: Browser, browser_context_args, sim, sqlite_url):
    env = {
        **history_env(sim, sqlite_url, mode="gate"),
        "GLMCHAT_OWNER_SECRET": OWNER_SECRET,
        "GLMCHAT_ACCESS_PASSWORD_HASH": passwords.hash_password(PASSWORD),
    }
    with streamlit_app("access-gate", env) as app:
        page = english_page(browser, browser_context_args)
        rec = Recorder()
        rec.attach(page)
        # Every way in shows the gate and nothing else: the root, another page's URL, forged parameters.
        for path in ("/", "/history", "/usage", "/?c=" + "0" * 32 + "&gate_passed=1&api_key=x&model=glm-4-plus"):
            page.goto(app.url + path)
            expect(gate_field(page)).to_be_visible(timeout=30_000)
            idle(page)
            expect(page.get_by_test_id("stChatInput")).to_have_count(0)
            expect(page.get_by_test_id("stSidebar")).to_have_count(0)
            expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)

        # Wrong guesses: three are free, then each waits longer (2 s, 4 s, ...); attempts made while
        # waiting are refused without being checked, even with the right password, in any tab.
        def guess(p: Page, text: str, expected: str) -> None:
            # The form clears itself after a submit; typing before that clear lands would be wiped.
            expect(gate_field(p)).to_have_value("")
            gate_field(p).fill(text)
            expect(gate_field(p)).to_have_value(text)
            # The button, not Enter: Enter right after fill() sometimes submitted the form before the
            # field's value was taken (an empty password, which is ignored), in about half the runs here.
            # Leaving the field first, as a person's mouse-down does well before the click: once in a full
            # CI run, a click sent at once after fill() also left no message and an empty field.
            gate_field(p).blur()
            # And a moment for the page to take the value into the form: a CI run at 84d3be5 and one run
            # in three here just after it still submitted an empty field (no message) with the click at once.
            p.wait_for_timeout(150)
            p.get_by_role("button", name=t("gate.enter", EN)).click()
            expect(p.get_by_text(re.compile(expected))).to_be_visible()
            idle(p)

        for _ in range(passwords.FREE_ATTEMPTS):
            guess(page, "not the password", t("gate.wrong", EN))
        # Five more failures from this client (as if guessed over the last minutes): now it must wait 64 s.
        store = Store(sqlite_url)
        client = access.tag(OWNER_SECRET, "ip", "local")  # loopback visitors are "local"
        for _ in range(5):
            store.begin_login_attempt(client, lambda client_failures, app_failures: 0, passwords.WINDOW)
        guess(page, PASSWORD, "Too many attempts")
        other = english_page(browser, browser_context_args)
        other.goto(app.url)
        expect(gate_field(other)).to_be_visible(timeout=30_000)
        idle(other)
        guess(other, PASSWORD, "Too many attempts")
        assert sim.stats()["attempts"] == 0
        # Once the failures are old (deleted here, instead of waiting) the right password opens the app.
        with store._tx(write=True) as conn:
            conn.execute(login_failures_t.delete())
        expect(gate_field(other)).to_have_value("")
        gate_field(other).fill(PASSWORD)
        expect(gate_field(other)).to_have_value(PASSWORD)
        gate_field(other).press("Enter")
        other.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
        send(other, "through the gate sim:tokens=2")
        expect(last_reply(other)).to_contain_text("tok0 tok1")
        other.reload()  # a new session: the gate again
        expect(gate_field(other)).to_be_visible(timeout=30_000)
        expect(other.get_by_test_id("stChatInput")).to_have_count(0)
        # The app's own line for the one request is in the log, so the log checked below is real app output.
        lines = app.request_lines(until=lambda ls: has_line(ls, status="ok", completion_tokens=2))
        assert has_line(lines, status="ok", completion_tokens=2), f"no request line for the reply: {lines}"
        log = app.log_text()
        frames = " ".join(rec.frames)
        for secret in (PASSWORD, "not the password", CANARY_KEY):
            assert secret not in log, secret
            assert secret not in frames, secret
            assert secret not in page.content(), secret
        page.context.close()
        other.context.close()


def test_limits_hold_under_a_refresh_a_second_tab_and_a_restart(
    browser: Browser, browser_context_args, sim, sqlite_url
):
    env = {**history_env(sim, sqlite_url), "GLMCHAT_LIMIT_RPM": "2", "GLMCHAT_LIMIT_STREAMS": "1"}
    refused_rpm = t("limit.rpm", EN)
    with streamlit_app("access-limits", env) as app:
        a = open_app(english_page(browser, browser_context_args), app.url)
        # One stream at a time: a second tab is refused while the first streams.
        send(a, "slow one sim:tokens=300 sim:rate=5")  # a minute: stopped below
        expect(last_reply(a)).to_contain_text("tok0", timeout=15_000)
        b = open_app(english_page(browser, browser_context_args), app.url)
        send(b, "meanwhile sim:tokens=2")
        expect(last_reply(b)).to_contain_text(t("limit.streams", EN))
        # Stopping the first reply ends its stream at once (its lease would last a minute).
        stop_button(a).click()
        expect(stop_button(a)).to_have_count(0)
        idle(a)
        # Two requests a minute: the stopped one was the first; this is the second; the third is refused.
        send(a, "second sim:tokens=2")
        expect(last_reply(a)).to_contain_text("tok0 tok1")
        idle(a)
        send(a, "third sim:tokens=2")
        expect(last_reply(a)).to_contain_text(refused_rpm)
        expect(last_reply(a)).to_contain_text("It resets in")
        a.reload()
        open_app(a, app.url)
        send(a, "after a refresh sim:tokens=2")
        expect(last_reply(a)).to_contain_text(refused_rpm)
        send(b, "in the other tab sim:tokens=2")
        expect(last_reply(b)).to_contain_text(refused_rpm)
        a.context.close()
        b.context.close()
    attempts = sim.stats()["attempts"]
    assert attempts == 2
    with streamlit_app("access-limits-restarted", env) as app:  # same database: the counters survive
        c = open_app(english_page(browser, browser_context_args), app.url)
        send(c, "after a restart sim:tokens=2")
        expect(last_reply(c)).to_contain_text(refused_rpm)
        c.context.close()
    assert sim.stats()["attempts"] == attempts
