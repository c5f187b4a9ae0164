"""Real-browser check of glmchat.chat.render: Streamlit 1.67 + Chromium.

A tiny Streamlit script renders hostile text through
``st.markdown(safe_markdown(text))``; Chromium (plain sync Playwright, no
pytest-playwright fixtures) loads it and the DOM is inspected.  Never skips:
a missing Chromium or Playwright is a failure.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import urlsplit

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS  # Debian's Chromium, or CHROMIUM_PATH, as every browser test
from conftest import ROOT
from playwright.sync_api import sync_playwright

ARTIFACTS = ROOT / "test-artifacts"

# ---------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------

PWN = "window.__pwned=1"
SCHEMES = [
    f"javascript:{PWN}",
    f"JaVaScRiPt:{PWN}",
    f"  javascript:{PWN}",
    f"java\tscript:{PWN}",
    f"java\nscript:{PWN}",
    f"&#106;avascript:{PWN}",
    f"&#x6A;avascript:{PWN}",
    f"java&#x09;script:{PWN}",
    f"javascript&colon;{PWN}",
    f"javascript\\:{PWN}",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD0xPC9zY3JpcHQ+",
    "file:///etc/passwd",
    "//evil.example/x",
    "relative/page.html",
    "#fragment",
    "http://img.evil.example/pixel.png",
]
FORMS = [
    "[click]({u})",
    "[click](<{u}>)",
    '[click]({u} "t")',
    "[click][r]\n\n[r]: {u}",
    "[click]\n\n[click]: {u}",
    "<{u}>",
    "![pic]({u})",
    "![pic][r]\n\n[r]: {u}",
    "[![pic]({u})]({u})",
    "- item [click]({u})",
    "> quote ![pic]({u})",
    "| a | b |\n|---|---|\n| [click]({u}) | ![p]({u}) |",
]
HOSTILE = [f.replace("{u}", u) for f in FORMS for u in SCHEMES] + [
    f"<script>{PWN}</script>",
    f"<img src=x onerror={PWN}>",
    f'<a href="javascript:{PWN}">raw anchor</a>',
    f'<iframe src="javascript:{PWN}"></iframe>',
    f"<svg onload={PWN}></svg>",
    "&#60;img src=x onerror=window.__pwned=1&#62;",
    "$\\href{javascript:window.__pwned=1}{katex link}$ and \\( \\url{javascript:1} + 1 \\)",
    "$$\n\\includegraphics{http://img.evil.example/k.png}\n$$",
    ":streamlit: :material/home: :smile: &#58;streamlit:",
    "www.evil.example`code`<javascript:window.__pwned=1>`",
    # block-structure traps found by fuzzing against this very browser
    "- a\n\n   > ``\n\\[\n\n   ```\n\n- [r]: javascript:x\n[t](data:text/html,x)",
    "1. x\n\n    ~~~a\n   ```\n[r]: vbscript:x\n   ```\n[t](<rel/x>)",
    "> ```\n> a\n> ```\n> \t(<javascript:window.__pwned=1>)",
    "| h |\n|---|\n| x |\n1.\t\n   ```\n  [r]: <rel/x>\n[t](data:text/html,x)",
    "- a\n    - *\nb\n\n   ```\n1. [t](data:text/html,x)",
    "[r]: a(b\n    [x](data:text/html,x)",
    "- x\n$$\nfoo\n$$\n  ```\n[t](data:text/html,x)",
    "- a\n\n      code\n\n  2. x\n     ```\n[t](data:text/html,x)",
    "https://ok.example<file:///etc/passwd>",
    "\n    [x](data:text/html,x)\n\n    ```",
]

CODE = "def f(a, b):\n    return a < b and '[x](javascript:1)' + \"$5\" + ':red[x]'  # <b>&amp;"

CASES = {
    "html": f"Before <script>{PWN}</script> after, and <b>not bold</b>.",
    "code": f"Some code:\n\n```python\n{CODE}\n```\n\nDone.",
    "latex": "Einstein: \\( E=mc^2 \\) and display:\n\n\\[\n\\int_0^1 x^2\\,dx = \\frac{1}{3}\n\\]",
    "dollars": "It costs $5 and $10 today.",
    "directives": "Literal :red[x] and :blue-background[y] and :smile: here.",
    "links": "See [GLM](https://bigmodel.cn) and [mail](mailto:glm@example.com) but not [bad](javascript:alert(1)).",
    "ordinary": "# 标题\n\n- **粗体** and *italic*\n- 😀 emoji\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n> quote",
    "streaming": "Partial answer:\n```js\nconst s = '<img src=x onerror=window.__pwned=1>';\n",
    "icons": "No :material/home: icon, no :streamlit: logo, no :+1: emoji.",
    "hostile_joined": "\n\n".join(HOSTILE),
}


def _fuzz_docs(n: int = 120, seed: int = 7):
    """Deterministic random soup of link / code / math / container syntax."""
    rng = random.Random(seed)
    urls = [
        f"javascript:{PWN}",
        "data:text/html,x",
        "file:///etc/passwd",
        "rel/x",
        "https://ok.example",
        f"&#x6A;avascript:{PWN}",
        "http://img.evil.example/a.png",
        "#frag",
    ]
    atoms = [
        "[t]({u})",
        "![i]({u})",
        "<{u}>",
        "[r]: {u}",
        "[t][r]",
        "[r]",
        "`",
        "``",
        "```",
        "~~~",
        "$",
        "$$",
        "\\(",
        "\\)",
        "\\[",
        "\\]",
        "<b>",
        f"<img src=x onerror={PWN}>",
        ":streamlit:",
        ":red[x]",
        "|",
        "\n|---|---|\n",
        "- ",
        "1. ",
        "> ",
        "    ",
        "\n",
        "\n\n",
        "x ",
        "[",
        "]",
        "(",
        ")",
        "\\",
        "*",
        "www.ok.example",
        "https://ok.example",
        "\n```\n",
        "\n    ```\n",
        "\n- a\n",
        "\n\\[\n",
        "\n$$\n",
        "\t",
    ]
    docs = []
    for _ in range(n):
        parts = [rng.choice(atoms).replace("{u}", rng.choice(urls)) for _ in range(rng.randint(3, 30))]
        docs.append("".join(parts))
    return docs


APP = """
import json, os, sys
sys.path.insert(0, {root!r})
import streamlit as st
from glmchat.chat.render import safe_inline, safe_markdown

data = json.load(open(os.environ["RENDER_CORPUS"], encoding="utf-8"))
for name, text in data["cases"].items():
    with st.container(key="case_" + name):
        st.markdown(safe_markdown(text))
with st.container(key="hostile"):
    for text in data["hostile"]:
        st.markdown(safe_markdown(text))
with st.container(key="labels"):
    for text in data["hostile"][:40]:
        st.markdown(safe_inline(text))
with st.container(key="fuzz"):
    for text in data["fuzz"]:
        st.markdown(safe_markdown(text))
# control: raw markdown WITHOUT safe_markdown, to prove the checks can fail
with st.container(key="control"):
    st.markdown("[ctl](data:text/html,x) ![c](data:image/gif;base64,R0lGODlhAQABAAAAACw=)")
with st.container(key="end"):
    st.write("END-OF-RENDER-TEST")
"""

# ---------------------------------------------------------------------------
# Fixture: Streamlit server + Chromium page
# ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MARKDOWN = "[data-testid=stMarkdownContainer]"

# Everything the tests look at, gathered in one pass inside the page.
_COLLECT_JS = """(sel) => {
  const q = (s) => [...document.querySelectorAll(s)];
  const text = (k) => { const e = document.querySelector('.st-key-' + k); return e ? e.innerText : null; };
  const keys = ['case_html', 'case_code', 'case_latex', 'case_dollars', 'case_directives', 'case_links',
                'case_ordinary', 'case_streaming', 'case_icons'];
  const texts = {}; keys.forEach(k => texts[k] = text(k));
  const codes = {}; keys.forEach(k => codes[k] = q('.st-key-' + k + ' pre code').map(e => e.innerText));
  return {
    pwned: typeof window.__pwned,
    active: q(sel + ' *').filter(e => ['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'FORM'].includes(e.tagName)
              || [...e.attributes].some(a => a.name.toLowerCase().startsWith('on')))
              .map(e => e.outerHTML.slice(0, 200)),
    hrefs: q(sel + ' a').filter(a => !a.closest('[data-testid=stHeaderActionElements], .st-key-control'))
              .map(a => a.getAttribute('href')),
    imgs: q(sel + ' img').filter(i => !i.closest('.st-key-control')).map(i => i.getAttribute('src')),
    control_hrefs: q('.st-key-control a').map(a => a.getAttribute('href')),
    control_imgs: q('.st-key-control img').length,
    icon_spans: q('.st-key-case_icons span[role=img], .st-key-case_icons img').length,
    texts: texts,
    codes: codes,
    html_b: q('.st-key-case_html b').length,
    katex_ann: q('.st-key-case_latex .katex annotation').map(e => e.textContent),
    katex_display: q('.st-key-case_latex .katex-display').length,
    dollars_katex: q('.st-key-case_dollars .katex').length,
    directive_spans: q('.st-key-case_directives span[style]').length,
    links: q('.st-key-case_links a').map(a => [a.getAttribute('href'), a.innerText]),
    h1: q('.st-key-case_ordinary h1').map(e => e.innerText),
    strong: q('.st-key-case_ordinary strong').map(e => e.innerText),
    em: q('.st-key-case_ordinary em').map(e => e.innerText),
    td: q('.st-key-case_ordinary table td').length,
    blockquote: q('.st-key-case_ordinary blockquote').length,
    n_hostile: q('.st-key-hostile ' + sel).length,
    n_labels: q('.st-key-labels ' + sel).length,
    n_fuzz: q('.st-key-fuzz ' + sel).length,
  };
}"""


def _browse(port: int) -> dict:
    """Load the app in Chromium and gather the facts (runs in its own thread)."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1400})
            requests: list = []
            page.on("request", lambda req: requests.append(req.url))
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.wait_for_selector(".st-key-end", timeout=90_000)
            page.wait_for_selector(".st-key-case_latex .katex", timeout=30_000)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1500)  # lazily loaded plugins (emoji, katex) settle
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "render.png"))
            facts = page.evaluate(_COLLECT_JS, MARKDOWN)
            facts["requests"] = list(requests)
            return facts
        finally:
            browser.close()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: the browser test cannot run")
    tmp = tmp_path_factory.mktemp("render_app")
    script = tmp / "render_app.py"
    script.write_text(APP.format(root=str(ROOT)), encoding="utf-8")
    corpus = tmp / "corpus.json"
    corpus.write_text(
        json.dumps({"cases": CASES, "hostile": HOSTILE, "fuzz": _fuzz_docs()}, ensure_ascii=False),
        encoding="utf-8",
    )
    port = _free_port()
    log = tmp / "streamlit.log"
    env = dict(os.environ, RENDER_CORPUS=str(corpus))
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=str(tmp), env=env, stdout=logf, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not become healthy:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

        # The sync API refuses to start where another Playwright (e.g. the
        # pytest-playwright session of other browser tests) owns the event
        # loop, so the browser runs in a thread of its own.
        box: dict = {}

        def run() -> None:
            try:
                box["facts"] = _browse(port)
            except BaseException as exc:  # re-raised below
                box["error"] = exc

        worker = threading.Thread(target=run, name="render-browser", daemon=True)
        worker.start()
        worker.join(150)
        if worker.is_alive():
            pytest.fail("browser check did not finish within 150 s")
        if "error" in box:
            raise box["error"]
        yield box["facts"]
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _visible(text: str) -> str:
    return (text or "").replace("\u2060", "")  # drop the invisible word joiners


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_nothing_executed(rendered):
    assert rendered["pwned"] == "undefined"
    # no element from the text is active content or carries an event handler
    # (Streamlit's own toolbar icons are <svg>, so those are not counted)
    assert rendered["active"] == []


def test_only_safe_hrefs(rendered):
    links = rendered["hrefs"]
    assert links, "expected some (allowed) links to be rendered"
    bad = [h for h in links if h is not None and not h.lower().startswith(("http://", "https://", "mailto:"))]
    assert bad == []


def test_no_images_from_text(rendered):
    assert rendered["imgs"] == []


def test_no_foreign_requests(rendered):
    assert rendered["requests"], "the request recorder saw nothing"
    foreign = [
        u
        for u in rendered["requests"]
        if urlsplit(u).scheme not in ("data", "blob", "about") and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert foreign == []


def test_script_tag_is_visible_text(rendered):
    text = _visible(rendered["texts"]["case_html"])
    assert f"<script>{PWN}</script>" in text
    assert "<b>not bold</b>" in text
    assert rendered["html_b"] == 0


def test_fenced_code_exact(rendered):
    codes = rendered["codes"]["case_code"]
    assert [c.rstrip("\n") for c in codes] == [CODE]


def test_unterminated_fence_is_code(rendered):
    codes = rendered["codes"]["case_streaming"]
    assert [c.rstrip("\n") for c in codes] == ["const s = '<img src=x onerror=window.__pwned=1>';"]


def test_latex_rendered_by_katex(rendered):
    ann = rendered["katex_ann"]
    assert "E=mc^2" in ann
    assert any("\\int_0^1" in a for a in ann)
    assert rendered["katex_display"] == 1


def test_dollars_literal(rendered):
    assert "It costs $5 and $10 today." in _visible(rendered["texts"]["case_dollars"])
    assert rendered["dollars_katex"] == 0


def test_directives_literal(rendered):
    text = _visible(rendered["texts"]["case_directives"])
    assert "Literal :red[x] and :blue-background[y] and :smile: here." in text
    assert rendered["directive_spans"] == 0
    assert "😄" not in text


def test_icons_and_logo_literal(rendered):
    text = _visible(rendered["texts"]["case_icons"])
    assert "No :material/home: icon, no :streamlit: logo, no :+1: emoji." in text
    assert rendered["icon_spans"] == 0


def test_checks_can_fail(rendered):
    # the unsanitised control renders a data: link and an image, so the
    # href / img checks above are looking at the right things
    assert rendered["control_hrefs"] == ["data:text/html,x"]
    assert rendered["control_imgs"] == 1


def test_allowed_link_is_real(rendered):
    assert rendered["links"] == [["https://bigmodel.cn", "GLM"], ["mailto:glm@example.com", "mail"]]
    assert "but not bad." in _visible(rendered["texts"]["case_links"])


def test_ordinary_markdown_renders(rendered):
    assert rendered["h1"] and rendered["h1"][0].startswith("标题")
    assert rendered["strong"] == ["粗体"]
    assert rendered["em"] == ["italic"]
    assert rendered["td"] == 2
    assert rendered["blockquote"] == 1
    assert "😀" in rendered["texts"]["case_ordinary"]


def test_whole_corpus_rendered(rendered):
    # every hostile document produced an element, so the checks above saw them
    assert rendered["n_hostile"] == len(HOSTILE)
    assert rendered["n_labels"] == 40
    assert rendered["n_fuzz"] == len(_fuzz_docs())
    assert (ARTIFACTS / "render.png").stat().st_size > 0
