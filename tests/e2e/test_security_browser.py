"""Security suite, part 1 (issue 6): XSS, injection and secrets, in Chromium against the real app.

Hostile text reaches the page every way it can: the model's reply (the simulator's ``sim:say`` trigger
answers with any text), the user's own message, conversation titles (sidebar and History page), an imported
export file (every saved field: reasoning, sources, earlier answers, summary, file names, model name, error
code), uploaded file names and web-search sources. The payloads are data in tests/xss_corpus.py.

After every case the page is scanned (``SCAN_JS``): nothing ran (``window.__xss`` and alert/confirm/prompt/
print are trapped in every frame before any page script), no link has a scheme but http/https/mailto or is
an in-page ``#``, no active element, foreign media or applied directive came from the text, and the browser
asked no host but the app's. Secrets: the host key (CANARY_KEY) never reaches the page, the WebSocket, any
HTTP response body, the server log or the database (the SQLite file, and every column of every table of a
PostgreSQL database), and query parameters cannot change the key, the endpoint or the model.

One app server for the module (personal mode, its own SQLite file), talking to a simulator inside this
process that accepts only CANARY_KEY and keeps every request it got, and one more on a fresh PostgreSQL
database for the PostgreSQL test; each test opens a fresh page (a new Streamlit session) in one shared
browser context.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import sqlalchemy as sa
import xss_corpus as corpus
from browser import (
    Recorder,
    attach,
    bubbles,
    caption,
    foreign,
    has_line,
    history_env,
    idle,
    reply_body,
    send,
    sidebar,
    streamlit_app,
    tokens,
)
from conftest import CANARY_KEY
from playwright.sync_api import Page, expect
from replicas import pg_database
from workcount import assert_linear

from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t
from glmchat.chat.render import safe_markdown
from glmchat.store import Store
from glmchat.ui.sidebar import row_title
from glmsim.simulator import Simulator

__all__ = ["pg_database"]  # a fixture used via pytest, imported on purpose

EN = "en"
LOCAL = "local"  # the one owner of personal mode
NEEDLES = (CANARY_KEY, "SECRETcanary")  # the key, and its distinctive middle in case it was cut or re-encoded

expect.set_options(timeout=20_000)

# Runs in every frame before the page's own scripts: any payload that executes leaves a trace in __xssHits.
TRAP_JS = """(() => {
  const hits = [];
  Object.defineProperty(window, '__xssHits', {value: hits});
  Object.defineProperty(window, '__xss', {get: () => hits.length ? 1 : undefined,
                                          set: (v) => { hits.push('__xss=' + v); }});
  for (const name of ['alert', 'confirm', 'prompt', 'print']) window[name] = () => { hits.push(name); };
})()"""

# Everything a payload could have turned into, in the whole document.
SCAN_JS = r"""() => {
  const q = (sel) => [...document.querySelectorAll(sel)];
  const md = '[data-testid=stMarkdownContainer]';
  // KaTeX's output, Streamlit's heading anchors and code-block copy buttons (shown on hover)
  const ours = (e) => e.closest('.katex, [data-testid=stHeaderActionElements], [data-testid=stElementToolbar], '
                                + '[data-testid=stBaseButton-elementToolbar]');
  const ACTIVE = new Set(['SCRIPT', 'IFRAME', 'FRAME', 'OBJECT', 'EMBED', 'FORM', 'STYLE', 'LINK', 'META', 'BASE',
    'INPUT', 'BUTTON', 'TEXTAREA', 'SELECT', 'VIDEO', 'AUDIO', 'SOURCE', 'TRACK', 'DETAILS', 'DIALOG', 'IMG',
    'PICTURE', 'SVG', 'MATH', 'CANVAS', 'TEMPLATE', 'MARQUEE', 'NOSCRIPT']);
  const sameOrigin = (u) => {
    try {
      const p = new URL(u, location.href);
      return p.origin === location.origin || p.protocol === 'data:' || p.protocol === 'blob:';
    } catch (e) { return false; }
  };
  return {
    hits: [...window.__xssHits],
    links: q('a[href], area[href]').map(a => a.getAttribute('href'))
             .filter(h => !/^(https?:|mailto:|#)/i.test(h) || /[\u0000-\u001f]/.test(h)),
    svgLinks: q('svg a, svg [href]').filter(e => !ours(e)).map(e => e.outerHTML.slice(0, 120)),
    active: q(md + ' *').filter(e => ACTIVE.has(e.tagName.toUpperCase()) && !ours(e)
                                 && !e.matches('input[type=checkbox][disabled]'))
              .map(e => e.outerHTML.slice(0, 160)),
    handlers: q('*').filter(e => [...e.attributes].some(a => /^on/i.test(a.name))).map(e => e.outerHTML.slice(0, 160)),
    media: q('img, video, audio, iframe, frame, source, embed, object, track, image, input[type=image]')
             .map(e => e.currentSrc || e.getAttribute('src') || e.getAttribute('href') || e.getAttribute('data') || '')
             .filter(u => u && !sameOrigin(u)),
    styled: q(md + ' [style], ' + md + ' [class*=stMarkdownColored], ' + md + ' .stMarkdownBadge')
              .filter(e => !ours(e) && !e.closest('pre, code, [data-testid=stTooltipHoverTarget], .katex-error')
                           && !e.matches('[data-testid=stTooltipHoverTarget]')
                           && !e.parentElement.closest('.stMarkdownBadge'))  // a badge's icon: counted below
              .map(e => e.outerHTML.slice(0, 160)),
    icons: q(md + ' span[role=img]').map(e => e.textContent),
    errors: q('[data-testid=stException]').length + (document.body.innerText.includes('Traceback') ? 1 : 0),
  };
}"""


@dataclass
class Tab:
    """A page of the module's browser context with what it recorded."""

    page: Page
    rec: Recorder
    dialogs: list[str] = field(default_factory=list)


# Every page of this module; the canary test reads all their WebSocket frames and HTTP response bodies.
FRAMES = Recorder(bodies=True)


def b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def visible(locator) -> str:
    return locator.inner_text().replace("\u2060", "")  # the renderer's invisible word joiners


def assert_inert(tab: Tab, since: int = 0, chips: int = 0) -> None:
    """Nothing on the page came alive; `chips`: attachment badges expected (st.badge: icon + colour)."""
    facts = tab.page.evaluate(SCAN_JS)
    assert facts["hits"] == [] and tab.dialogs == [], f"script ran: {facts['hits']} {tab.dialogs}"
    assert facts["links"] == [], f"links with other schemes: {facts['links']}"
    assert facts["svgLinks"] == [], facts["svgLinks"]
    assert facts["active"] == [], f"active elements from the text: {facts['active']}"
    assert facts["handlers"] == [], f"event handler attributes: {facts['handlers']}"
    assert facts["media"] == [], f"media from other hosts: {facts['media']}"
    badges = [s for s in facts["styled"] if "stMarkdownBadge" in s]
    assert len(badges) == chips and len(facts["styled"]) == chips, f"directives applied: {facts['styled']}"
    assert facts["icons"] == ["description"] * chips, f"icons from the text: {facts['icons']}"
    assert facts["errors"] == 0, "the page shows an exception"
    elsewhere = foreign(tab.rec.requests[since:])
    assert elsewhere == [], f"the page contacted other hosts: {elsewhere}"


def turn(page: Page, text: str, n_prior: int, timeout: float = 30_000):
    """Send text; wait for the finished reply (its usage caption) and the end of the run; return the reply."""
    send(page, text)
    reply = bubbles(page).nth(n_prior + 1)
    expect(caption(reply, "tokens")).to_be_visible(timeout=timeout)
    idle(page, timeout)
    return reply


# Counts the elements the page adds and removes (each with everything inside it) from now on.
DOM_WORK_JS = """() => {
  if (window.__domWork) return;
  const W = window.__domWork = {changed: 0};
  const size = (n) => n.nodeType === 1 ? 1 + n.getElementsByTagName('*').length : 0;
  new MutationObserver((records) => {
    for (const r of records) for (const n of [...r.addedNodes, ...r.removedNodes]) W.changed += size(n);
  }).observe(document.body, {childList: true, subtree: true});
}"""


def counted_turn(tab: Tab, text: str, n_prior: int) -> tuple[int, int]:
    """turn(), and what it cost the page: (elements added and removed, size of the WebSocket frames it received,
    in characters as the Recorder decodes them)."""
    tab.page.evaluate(DOM_WORK_JS)
    tab.page.evaluate("() => { window.__domWork.changed = 0; }")
    since = len(tab.rec.frames)
    turn(tab.page, text, n_prior)
    return tab.page.evaluate("() => window.__domWork.changed"), sum(len(f) for f in tab.rec.frames[since:])


def open_app(tab: Tab, url: str) -> None:
    tab.page.goto(url)
    tab.page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=30_000)
    idle(tab.page)


def new_chat(page: Page) -> None:
    sidebar(page).get_by_role("button", name=t("side.new_chat", EN)).click()
    expect(bubbles(page)).to_have_count(0)
    idle(page)


def go_history(page: Page) -> None:
    sidebar(page).get_by_role("link", name=t("page.history", EN)).click()
    expect(page.get_by_role("heading", name=t("page.history", EN))).to_be_visible()
    idle(page)


# -- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed_sim():
    """A simulator in this process (its requests and headers are readable) that accepts only CANARY_KEY."""
    simulator = Simulator(valid_keys={CANARY_KEY})
    server, thread = simulator.serve()
    simulator.base_url = f"http://127.0.0.1:{server.server_address[1]}/api/paas/v4"
    yield simulator
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def db_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("security") / "glmchat.db"


@pytest.fixture(scope="module")
def app(keyed_sim, db_file):
    with streamlit_app("security", history_env(keyed_sim, f"sqlite:///{db_file}")) as server:
        yield server


@pytest.fixture(scope="module")
def context(browser, browser_context_args):
    ctx = browser.new_context(**browser_context_args)
    ctx.add_init_script(TRAP_JS)
    yield ctx
    ctx.close()


@pytest.fixture
def tab(context):
    page = context.new_page()
    tab = Tab(page, Recorder())
    tab.rec.attach(page)
    FRAMES.attach(page)

    def on_dialog(dialog) -> None:
        tab.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield tab
    page.close()


# -- the checks themselves ---------------------------------------------------------------------------------


def test_checks_can_fail(tab: Tab, app):
    """The trap and the scan see a script run, a bad link, foreign media, active content and a directive."""
    open_app(tab, app.url)
    clean = tab.page.evaluate(SCAN_JS)
    assert clean["hits"] == [] and clean["links"] == [] and clean["active"] == [] and clean["styled"] == []
    with tab.page.expect_request("https://evil.example/probe.png"):
        tab.page.evaluate("""() => {
          window.__xss = 1; alert('x');
          document.body.insertAdjacentHTML('beforeend', '<div data-testid="stMarkdownContainer"><a href="java'
            + 'script:void 0">j</a><img src="https://evil.example/probe.png"><iframe></iframe>'
            + '<span class="stMarkdownColoredText">c</span></div>');
        }""")
    facts = tab.page.evaluate(SCAN_JS)
    assert facts["hits"] == ["__xss=1", "alert"]
    assert facts["links"] == ["javascript:void 0"]
    assert facts["media"] == ["https://evil.example/probe.png"]
    assert [a[:7] for a in facts["active"]] == ["<img sr", "<iframe"]
    assert len(facts["styled"]) == 1
    assert foreign(tab.rec.requests) == ["https://evil.example/probe.png"]


# -- model output and the user's own message ---------------------------------------------------------------

# What each group must show literally (word joiners aside), proving the payload reached the page as text.
LITERAL = {
    "html": [
        f"<script>{corpus.PWN}</script>",
        f"<img src=x onerror={corpus.PWN}>",
        "<style>*{display:none!important}</style>",
    ],
    "links": ["inline 1", "<javascript:window.__xss=1>"],
    "images": ["🖼 md image"],
    "math": [],  # KaTeX draws its text as separate glyphs; the .katex count below shows it ran
    "directives": corpus.LITERAL_DIRECTIVES,
}


def test_model_reply_and_user_message_are_inert(tab: Tab, app, keyed_sim):
    open_app(tab, app.url)
    n, seen = 0, set()
    for kind, mark, text in corpus.messages():
        since = len(tab.rec.requests)
        # The same payload twice: as the user's message, and as the model's reply (sim:say).
        reply = turn(tab.page, f"{text}\n\nsim:say={b64url(text)}", n)
        user = bubbles(tab.page).nth(n)
        for bubble in (user, reply):
            expect(bubble).to_contain_text(mark)
            if kind not in seen:  # a group's first message holds its LITERAL examples
                missing = [s for s in LITERAL[kind] if s not in visible(bubble)]
                assert not missing, f"{kind}: not shown as text: {missing}"
        seen.add(kind)
        if kind == "math":
            assert reply.locator(".katex").count() > 0, "math was not rendered: the KaTeX cases were not tested"
        if kind == "links":  # every target in the group is a bad one: no link at all
            assert reply.locator("a").count() == 0 and user.locator("a").count() == 0
        assert_inert(tab, since)
        n += 2
    assert keyed_sim.requests[-1]["messages"][-1]["content"].startswith(text[:100])


def test_hostile_web_search_sources_are_inert(tab: Tab, app, keyed_sim):
    open_app(tab, app.url)
    sidebar(tab.page).get_by_text(t("side.web_search", EN), exact=True).click()
    expect(sidebar(tab.page).get_by_role("switch", name=t("side.web_search", EN))).to_be_checked()
    idle(tab.page)
    since = len(tab.rec.requests)
    # The simulator's hostile results, cited by a reply that carries payloads of its own.
    text = "Cited [ref_1][ref_2][ref_3][ref_4][ref_5]【ref_1】 [ref_9]\n\n" + "\n\n".join(corpus.RAW_HTML[:6])
    reply = turn(tab.page, f"news sim:sources-hostile sim:say={b64url(text)}", 0)
    expect(caption(reply, t("chat.sources", EN, n=5))).to_be_visible()
    assert_inert(tab, since)
    links = reply.locator("a[href]").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    # The two https results link (in the answer and in the list); the javascript:/data: ones do not.
    assert {"https://normal5.example/article-5", "https://evil3.example/img"} <= set(links), links
    assert "<img src=x onerror=alert(1)>Title" in visible(reply)  # the hostile title is text


# -- oversized ---------------------------------------------------------------------------------------------


def test_oversized_reply_keeps_the_page_responsive(tab: Tab, app):
    """A 200 KB reply renders whole and inert, and the chat still answers after it without redoing it.

    Counted, not timed: what a small turn costs the page, in elements added and removed (the DOM work) and in
    the size of the WebSocket frames it receives, after the big reply against before it. A page that re-rendered or
    was sent the big reply again on every turn would pay its ~9,000 elements or ~600 KB of frames each time.
    """
    open_app(tab, app.url)
    # Each figure is the smaller of two turns, as the big reply is redrawn once when it stops being the last.
    before = [counted_turn(tab, "warm up sim:tokens=3", 0), counted_turn(tab, "small sim:tokens=3", 2)]
    since = len(tab.rec.requests)
    copies = 200_000 // len(corpus.BIG_BLOCK) + 1
    reply = turn(tab.page, f"sim:say={b64url(corpus.BIG_BLOCK)} sim:repeat={copies}", 4, timeout=120_000)
    assert visible(reply).count(corpus.BIG_BLOCK_END) == copies
    assert_inert(tab, since)
    big = reply.evaluate("e => e.getElementsByTagName('*').length")
    after = [counted_turn(tab, "still there? sim:tokens=3", 6), counted_turn(tab, "and now? sim:tokens=3", 8)]
    (dom_before, bytes_before), (dom_after, bytes_after) = (
        tuple(map(min, zip(*x, strict=False))) for x in (before, after)
    )
    print(
        f"small turn: {dom_before} elements changed and {bytes_before} chars of frames received "
        f"before the 200 KB reply "
        f"({big} elements), {dom_after} and {bytes_after} after"
    )
    # Streamlit reruns the script with the big message on every turn, so some more work is expected; redoing
    # the big reply each time is not.
    assert dom_after < 10 * dom_before, (
        f"a small turn changed {dom_after} elements after the big reply ({big} elements), {dom_before} before it"
    )
    assert bytes_after < 10 * bytes_before, (
        f"a small turn received {bytes_after} chars after the big reply, {bytes_before} before it"
    )


def test_renderer_stays_linear_on_hostile_shapes():
    """safe_markdown's work grows linearly: 8x the text may cost 8x, not 64x. Counted, not timed: lines run,
    calls into C and characters scanned by regexes (tests/workcount.py; 7.1-8.1x measured, bound 16x)."""
    shapes = {
        "nested brackets": lambda n: "[" * (n // 2) + "]" * (n // 2),
        "nested links": lambda n: "[a" * (n // 4) + "](https://ok.example)" * (n // 40),
        "corpus": lambda n: (corpus.BIG_BLOCK * (n // len(corpus.BIG_BLOCK) + 1))[:n],
    }
    for name, make in shapes.items():
        try:
            assert_linear(safe_markdown, make(10_000), make(80_000), bound=16)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


# -- conversation titles: sidebar and History page ---------------------------------------------------------


def test_titles_are_inert_in_the_sidebar_and_history(tab: Tab, app):
    open_app(tab, app.url)
    for title in corpus.TITLES:
        new_chat(tab.page)
        since = len(tab.rec.requests)
        # The first line becomes the title; the simulator's canned answer and reasoning quote it too.
        reply = turn(tab.page, f"{title}\n\ntitlecase sim:think", 0)
        expect(reply.get_by_test_id("stExpander").filter(has_text=t("chat.thinking", EN))).to_have_count(1)
        assert_inert(tab, since)
    shown = visible(sidebar(tab.page))
    for title in corpus.LITERAL_TITLES:
        # The sidebar cuts a title to its row's width (sidebar.row_title): that much of it, as text.
        assert row_title(title).rstrip("…") in shown, f"title not shown as text in the sidebar: {title!r}"
    go_history(tab.page)
    assert_inert(tab)
    listing = visible(tab.page.get_by_test_id("stMain"))
    for title in corpus.LITERAL_TITLES:
        assert title[:30] in listing, f"title not shown as text on the History page: {title!r}"
    # Search results show a snippet of the matching message.
    tab.page.get_by_role("textbox", name=t("history.search", EN)).fill("titlecase")
    tab.page.keyboard.press("Enter")
    expect(tab.page.get_by_test_id("stMain")).to_contain_text(t("history.count", EN, n=len(corpus.TITLES)))
    idle(tab.page)
    assert_inert(tab)


# -- an imported export file ----------------------------------------------------------------------------------


def import_file(tab: Tab, data: dict) -> None:
    """Import `data` through the History page's uploader; wait for the success message."""
    go_history(tab.page)
    tab.page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        {"name": "export.json", "mimeType": "application/json", "buffer": json.dumps(data).encode()}
    )
    tab.page.get_by_role("button", name=t("history.import_go", EN), exact=True).click()
    done = tab.page.get_by_test_id("stAlert").filter(has_text=t("history.imported", EN, n=len(data["conversations"])))
    copies = tab.page.locator(".st-key-import-all button")  # asked when chats of an earlier file are here
    expect(done.or_(copies)).to_be_visible()
    if copies.count():
        copies.click()
    expect(done).to_be_visible()
    tab.page.reload()
    expect(tab.page.get_by_role("heading", name=t("page.history", EN))).to_be_visible()
    idle(tab.page)


def imported_ids(db_file: Path, titles: list[str]) -> list[str]:
    store = Store(f"sqlite:///{db_file}")
    try:
        by_title = {c["title"]: c["id"] for c in store.list_conversations(LOCAL, limit=500)}
    finally:
        store.close()
    return [by_title[title] for title in titles]


def open_conversation(tab: Tab, app, cid: str, mark: str, timeout: float = 30_000) -> None:
    tab.page.goto(f"{app.url}/?c={cid}")
    expect(bubbles(tab.page).first).to_contain_text(mark, timeout=timeout)
    idle(tab.page, timeout)


def test_imported_export_is_inert(tab: Tab, app, db_file):
    open_app(tab, app.url)
    data = corpus.hostile_export()
    import_file(tab, data)
    assert_inert(tab)
    listing = visible(tab.page.get_by_test_id("stMain"))
    assert "Imported <img src=x onerror=" in listing and "Big x" in listing, listing[:2000]
    tab.page.get_by_role("textbox", name=t("history.search", EN)).fill(corpus.IMPORT_NEEDLE)
    tab.page.keyboard.press("Enter")
    expect(tab.page.get_by_test_id("stMain")).to_contain_text(t("history.count", EN, n=1))
    idle(tab.page)
    assert_inert(tab)

    first, big = imported_ids(db_file, [c["title"] for c in data["conversations"]])
    since = len(tab.rec.requests)
    open_conversation(tab, app, first, corpus.IMPORT_MARK)
    user, answer = bubbles(tab.page).nth(0), bubbles(tab.page).nth(1)
    expect(answer).to_contain_text(corpus.IMPORT_MARK)
    expect(user.get_by_test_id("stImage")).to_have_count(1)
    expect(user.get_by_test_id("stImageCaption")).to_have_count(1)
    expect(caption(answer, t("chat.sources", EN, n=5))).to_be_visible()
    # The summary and the reasoning are drawn too (inside closed expanders).
    for label in (t("chat.summary", EN), t("chat.thinking", EN)):
        expect(tab.page.get_by_test_id("stExpander").filter(has_text=label)).to_have_count(1)
    assert tab.page.get_by_test_id("stExpander").locator(".katex").count() > 0, "expander contents not drawn"
    assert_inert(tab, since, chips=1)  # the text attachment's badge
    links = answer.locator("a[href]").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert set(links) >= corpus.SAFE_SOURCE_LINKS, links
    # The earlier answer the file kept inside this one is its sibling now: shown by ‹, as inert.
    answer.locator('[class*="st-key-branch-prev-"]').get_by_role("button").click()
    expect(caption(bubbles(tab.page).nth(1), "1 / 2")).to_be_visible()
    expect(bubbles(tab.page).nth(1).locator(".katex").first).to_be_visible()
    idle(tab.page)
    assert_inert(tab, since, chips=1)

    # 120 KB with brackets nested 30,000 deep: drawn whole, and the chat still answers.
    open_conversation(tab, app, big, corpus.BIG_IMPORT_END, timeout=90_000)
    assert_inert(tab, since)
    turn(tab.page, "after the big one sim:tokens=2", 1, timeout=90_000)
    assert_inert(tab, since)


def test_file_names_and_saved_metadata_are_inert(tab: Tab, app, db_file):
    """Uploaded file names, and a saved message's model name, error code and file names, are text too."""
    open_app(tab, app.url)
    since = len(tab.rec.requests)
    attach(
        tab.page,
        {"name": corpus.IMAGE_NAME, "mimeType": "image/png", "buffer": base64.b64decode(corpus.png())},
        {"name": corpus.DOC_NAME, "mimeType": "text/plain", "buffer": b"notes"},
    )
    send(tab.page, "look at these")
    expect(bubbles(tab.page)).to_have_count(2)  # the answer is a refusal: this model does not see images
    expect(bubbles(tab.page).first.get_by_test_id("stImageCaption")).to_have_count(1)
    idle(tab.page)
    assert_inert(tab, since, chips=1)

    data = corpus.hostile_meta_export()
    import_file(tab, data)
    [cid] = imported_ids(db_file, [data["conversations"][0]["title"]])
    since = len(tab.rec.requests)
    open_conversation(tab, app, cid, "question")
    expect(bubbles(tab.page)).to_have_count(4)
    expect(tab.page.get_by_test_id("stAlert")).to_be_visible()  # the saved error
    expect(tab.page.get_by_test_id("stImageCaption")).to_have_count(1)  # drawn after the image
    earlier = bubbles(tab.page).nth(1)
    expect(caption(earlier, "2 / 2")).to_be_visible()  # the earlier answer, with its hostile model name
    earlier.locator('[class*="st-key-branch-prev-"]').get_by_role("button").click()
    expect(caption(bubbles(tab.page).nth(1), "1 / 2")).to_be_visible()
    idle(tab.page)
    assert_inert(tab, since, chips=1)


# -- secrets -----------------------------------------------------------------------------------------------


def shown_model(page: Page) -> str:
    """The id of the model the sidebar shows."""
    label = sidebar(page).get_by_role("combobox", name=t("side.model", EN)).input_value()
    catalogue = load()
    # The option shows the name, then marks and price (sidebar.model_label).
    [model_id] = [i for i in catalogue.ids() if (label + " ").startswith(catalogue.get(i).label(EN) + " ")]
    return model_id


def test_query_parameters_cannot_set_key_endpoint_or_model(tab: Tab, app, keyed_sim):
    catalogue = load()
    other = next(i for i in reversed(catalogue.ids()) if i not in (catalogue.default_id, catalogue.offline_id))
    params = {
        "ZHIPUAI_API_KEY": "x-key",
        "api_key": "x-key",
        "key": "x-key",
        "w_visitor_key": "x-key",
        "ZHIPUAI_BASE_URL": f"http://{corpus.EVIL}/api/paas/v4",
        "base_url": f"http://{corpus.EVIL}/api",
        "model": other,
        "w_model": other,
        "w_custom_model": other,
        "GLMCHAT_DATABASE_URL": "sqlite:////tmp/evil.db",
        "c": "<img src=x onerror=window.__xss=1>",
    }
    before = keyed_sim.attempts
    open_app(tab, f"{app.url}/?{urlencode(params)}")
    model = shown_model(tab.page)
    assert model == catalogue.default_id
    turn(tab.page, "which key and model? sim:tokens=2", 0)
    assert keyed_sim.attempts == before + 1, "the request did not reach the configured simulator"
    assert keyed_sim.headers[-1]["authorization"] == f"Bearer {CANARY_KEY}"
    assert keyed_sim.requests[-1]["model"] == model
    assert_inert(tab)
    sidebar(tab.page).get_by_text(t("side.settings", EN)).click()  # the key's note is in the settings
    expect(sidebar(tab.page)).to_contain_text(t("side.key_set", EN))  # still the host's key
    # Its sliders' code loads now: let the recorder read those responses before the page closes.
    expect(sidebar(tab.page).get_by_test_id("stSlider").first).to_be_visible()
    idle(tab.page)
    tab.page.wait_for_load_state("networkidle")


def pg_cells(url: str) -> dict[str, list[str]]:
    """Every non-null value of every column of every table in the database, as text, by "table.column".

    Cast by PostgreSQL itself (::text), so JSON, numbers and dates are read as stored; a bytea column (none
    today) is read with encode(..., 'escape'), which keeps printable ASCII as it is."""
    engine = sa.create_engine(url)
    quote = engine.dialect.identifier_preparer.quote
    cells: dict[str, list[str]] = {}
    try:
        with engine.connect() as c:
            columns = c.execute(
                sa.text(
                    "SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
                    " JOIN information_schema.tables t USING (table_schema, table_name)"
                    " WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')"
                    " ORDER BY 1, 2, c.ordinal_position"
                )
            ).all()
            for schema, table, column, data_type in columns:
                col = quote(column)
                value = f"encode({col}, 'escape')" if data_type == "bytea" else f"{col}::text"
                rows = c.execute(sa.text(f"SELECT {value} FROM {quote(schema)}.{quote(table)} WHERE {col} IS NOT NULL"))
                cells[f"{table}.{column}"] = [r[0] for r in rows]
    finally:
        engine.dispose()
    return cells


@pytest.fixture
def pg_app(keyed_sim, pg_database):
    """The keyed app (personal mode) saving to a fresh PostgreSQL database of its own (dropped afterwards)."""
    with streamlit_app("security-pg", history_env(keyed_sim, pg_database)) as server:
        server.database_url = pg_database
        yield server


def test_canary_key_never_reaches_postgresql(tab: Tab, pg_app):
    """A reply, a regenerated one, feedback and an error saved to PostgreSQL: no cell of any table holds the key."""
    tag = f"pgcanary{time.time_ns()}"
    since = len(pg_app.log_text())
    open_app(tab, pg_app.url)
    reply = turn(tab.page, f"{tag} sim:tokens=3", 0)
    regen = tab.page.locator('[class*="st-key-regen-"]')
    regen.get_by_role("button").click()  # Streamlit also keeps a hidden copy of the button
    expect(caption(reply, "2 / 2")).to_be_visible()  # the earlier answer kept beside the new one
    idle(tab.page)
    expect(reply_body(reply).first).to_have_text(tokens(3))
    reply.get_by_test_id("stFeedbackButton").first.click()
    expect(reply.get_by_test_id("stFeedbackButtonActive")).to_have_count(1)
    idle(tab.page)
    send(tab.page, "sim:401")  # a failed request: its saved error must not quote the key either
    expect(bubbles(tab.page).nth(3).get_by_test_id("stAlert")).to_be_visible()
    idle(tab.page)

    cells = pg_cells(pg_app.database_url)
    everything = {name: "\n".join(values) for name, values in cells.items()}
    saved = lambda name: everything.get(name, "")  # noqa: E731
    # The scan read what the turns saved, so an empty or unreadable database cannot pass it.
    assert f"{tag} sim:tokens=3" in saved("messages.content") and tokens(3) in saved("messages.content"), (
        f"the scan did not read the conversation: {sorted(everything)}"
    )
    assert '"feedback"' in saved("messages.extra_json"), saved("messages.extra_json")  # the thumb
    assert "1002" in saved("messages.error_json"), saved("messages.error_json")  # the 401's saved error
    assert tag in saved("conversations.title")
    tables = {name.split(".")[0] for name in cells}
    assert {"conversations", "messages", "app_meta", "spend", "schema_version"} <= tables, tables
    print(f"scanned {sum(map(len, cells.values()))} cells in {len(cells)} columns of {len(tables)} tables")
    for needle in NEEDLES:
        holding = [name for name, text in everything.items() if needle in text]
        assert not holding, f"PostgreSQL columns hold the key: {holding}"
    # The server's log has the app's own line for the three requests (reply, regenerated reply, 401), and no key.
    lines = pg_app.request_lines(since, until=lambda ls: has_line(ls, status="error", http_status=401))
    assert [(line["status"], line["http_status"]) for line in lines] == [("ok", None), ("ok", None), ("error", 401)]
    log = pg_app.log_text()
    assert not [n for n in NEEDLES if n in log], "the PostgreSQL-backed server logged the key"


def test_canary_key_never_reaches_page_socket_log_or_database(tab: Tab, app, keyed_sim, db_file):
    """Runs last: also checks every frame and response body the module's earlier pages received."""
    since = len(app.log_text())
    open_app(tab, app.url)
    turn(tab.page, "canary sim:tokens=3", 0)
    send(tab.page, "sim:401")  # a failed request: its error must not quote the key either
    expect(bubbles(tab.page).nth(3).get_by_test_id("stAlert")).to_be_visible()
    idle(tab.page)
    assert len(FRAMES.frames) > 100, "too few WebSocket frames recorded to mean anything"
    # The bodies read include pages, the app's own endpoints and media, so the scan below covers them.
    paths = [urlsplit(u).path for u, _ in FRAMES.responses]
    assert "/" in paths and "/_stcore/host-config" in paths, sorted(set(paths))
    assert any(p.startswith("/media/") for p in paths), f"no /media/ body was read: {sorted(set(paths))}"
    # Only a response without a body may go unread (a redirect, or a cached copy of a file read before);
    # Playwright reports no response for the WebSocket upgrade at all.
    assert not FRAMES.never_read(), FRAMES.never_read()
    stored = tab.page.evaluate("() => JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie])")
    for needle in NEEDLES:
        assert needle not in tab.page.content() and needle not in stored
        assert not [f for f in FRAMES.frames if needle in f], "a WebSocket frame carries the key"
        assert not [u for u in FRAMES.requests if needle in u], "a request URL carries the key"
        assert not FRAMES.bodies_with(needle), f"response bodies carry the key: {FRAMES.bodies_with(needle)}"
        assert needle not in app.log_text()
    # The log holds the app's own line for this test's two requests: the scan above read real app output.
    lines = app.request_lines(since, until=lambda ls: has_line(ls, status="error", http_status=401))
    assert has_line(lines, status="ok", completion_tokens=3), f"no request line for the reply: {lines}"
    assert has_line(lines, status="error", code="1002", http_status=401), f"no request line for the 401: {lines}"
    files = sorted(db_file.parent.glob(db_file.name + "*"))  # the database and its -wal / -shm files
    assert files and files[0].stat().st_size > 0
    for path in files:
        data = path.read_bytes()
        assert not any(n.encode() in data for n in NEEDLES), f"{path.name} holds the key"
    # Every request the app made carried the configured key, and only that one.
    assert {h.get("authorization") for h in keyed_sim.headers} == {f"Bearer {CANARY_KEY}"}
