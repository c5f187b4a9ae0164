"""Unit tests for glmchat.chat.render (pure Python, no browser).

The hostile-input checks look at the *structure* of the output: a small
independent scanner finds every construct CommonMark could turn into a link
or image (inline links, reference definitions, autolinks, images) and every
URL found must be http(s)/mailto.
"""

from __future__ import annotations

import html
import random
import re

import pytest
from workcount import assert_linear, sized

from glmchat.chat.render import NEUTRAL_DEFINITION, WORD_JOINER, is_allowed_url, safe_inline, safe_markdown

# ---------------------------------------------------------------------------
# Output-structure scanner (deliberately independent of the implementation)
# ---------------------------------------------------------------------------

_FENCE_LINE = re.compile(r"^[ \t>]*(?:[-+*]|\d+[.)])?[ \t]*(`{3,}|~{3,})")
_DEF_LINE = re.compile(r"^[ \t>]*(?:(?:[-+*]|\d+[.)])[ \t]+)?\[(?:[^\]\\]|\\.)+\]:")
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\x00-\x20<>]*)>")
_EMAIL_AUTOLINK = re.compile(r"<[^\s<>@]+@[^\s<>@]+>")
_NEUTRAL_DEF = re.compile("\\[" + WORD_JOINER + r"\d*\]: <>$")
_OK_URL = re.compile(r"(?i)(?:https?://|mailto:)[^\x00-\x20\x7f]*$")


def _strip_code(md: str) -> str:
    """Blank out fenced blocks (top-level style) and same-line code spans."""
    out, fence = [], None
    for line in md.split("\n"):
        m = _FENCE_LINE.match(line)
        if fence is None and m and not (m.group(1)[0] == "`" and "`" in line[m.end() :]):
            fence = m.group(1)
            out.append("")
            continue
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line[m.end() :].strip():
                fence = None
            out.append("")
            continue
        out.append(line)
    text = "\n".join(out)
    # code spans: unescaped backtick run .. same run on the same line
    return re.sub(r"(?<!\\)(`+)[^\n]*?(?<!`)\1(?!`)", " ", text)


def _unescape(url: str) -> str:
    url = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", url)
    return html.unescape(url)


def live_urls(md: str):
    """(kind, url) for everything in ``md`` that could become a link/image."""
    found = []
    text = _strip_code(md)
    for line in text.split("\n"):
        # the empty, unreferenced definition safe_markdown leaves in place of
        # a real one is fine; any other definition is not
        if _DEF_LINE.match(line) and not _NEUTRAL_DEF.search(line):
            found.append(("definition", line))
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "<":
            m = _AUTOLINK.match(text, i)
            if m:
                found.append(("autolink", m.group(1)))
                i = m.end()
                continue
            if _EMAIL_AUTOLINK.match(text, i):
                i += 1
                continue
        if c == "!" and text.startswith("[", i + 1) and (i == 0 or text[i - 1] != "\\"):
            found.append(("image", text[i : i + 40]))
        if c == "[":
            # find the matching unescaped "]"
            depth, j = 0, i
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == "[":
                    depth += 1
                elif text[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j < n and text.startswith("(", j + 1):
                k, depth2 = j + 1, 0
                while k < n:
                    if text[k] == "\\":
                        k += 2
                        continue
                    if text[k] == "(":
                        depth2 += 1
                    elif text[k] == ")":
                        depth2 -= 1
                        if depth2 == 0:
                            break
                    k += 1
                dest = text[j + 2 : k].strip()
                if dest.startswith("<") and ">" in dest:
                    dest = dest[1 : dest.index(">")]
                else:
                    dest = dest.split()[0] if dest.split() else ""
                found.append(("link", _unescape(dest)))
            elif j < n and text.startswith("[", j + 1):
                found.append(("reference", text[i : j + 1]))
        i += 1
    return found


def bad_links(md: str):
    bad = []
    for kind, url in live_urls(md):
        if kind in ("definition", "image", "reference"):
            bad.append((kind, url))
        elif not _OK_URL.match(url):
            bad.append((kind, url))
    return bad


# ---------------------------------------------------------------------------
# Hostile corpus: link forms x scheme variants
# ---------------------------------------------------------------------------

SCHEMES = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "  javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "java\x00script:alert(1)",
    "\x01javascript:alert(1)",
    "&#106;avascript:alert(1)",
    "&#x6A;avascript:alert(1)",
    "&#X6a;avascript:alert(1)",
    "java&#x09;script:alert(1)",
    "javascript&#58;alert(1)",
    "javascript&colon;alert(1)",
    "ja&Tab;vascript:alert(1)",
    "javascript\\:alert(1)",
    "javascript://%0aalert(1)",
    "vbscript:msgbox(1)",
    "VBScript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "DATA:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
    "//evil.example/x",
    "evil.html",
    "./relative/path",
    "#fragment",
    "ftp://example.com/x",
    "xmpp:someone@example.com",
    "\\javascript:alert(1)",
]

FORMS = [
    "[click]({u})",
    "[click](<{u}>)",
    '[click]({u} "title")',
    "[click][r]\n\n[r]: {u}",
    "[click][]\n\n[click]: {u}",
    "[click]\n\n[click]: {u}",
    "[click][r]\n\n[r]: <{u}>",
    "<{u}>",
    "![pic]({u})",
    "![pic][r]\n\n[r]: {u}",
    "[![pic]({u})]({u})",
    "- item [click]({u})",
    "> quote [click]({u})",
    "| a | b |\n|---|---|\n| [click]({u}) | x |",
    "# Heading [click]({u})",
    "**[click]({u})**",
    "text `code` [click]({u}) `more`",
    "[a `b` c]({u})",
]

HOSTILE = [f.replace("{u}", u) for f in FORMS for u in SCHEMES]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_disallowed_link_survives(text):
    out = safe_markdown(text)
    assert isinstance(out, str)
    assert bad_links(out) == [], (text, out)
    assert "](javascript:" not in out.lower()


def test_scanner_detects_links():
    # sanity check of the test helper itself
    assert bad_links("[a](javascript:x)")
    assert bad_links("[a]: javascript:x")
    assert bad_links(NEUTRAL_DEFINITION) == []
    assert bad_links("<javascript:x>")
    assert bad_links("![a](https://x.org/a.png)")
    assert bad_links("[a](https://x.org)") == []
    assert bad_links("`[a](javascript:x)`") == []
    assert bad_links("\\[a](javascript:x)") == []


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "rel/x", "//evil/x", "#top", "ftp://x"],
)
def test_disallowed_inline_link_keeps_text(url):
    out = safe_markdown(f"see [the docs]({url}) now")
    assert out == "see the docs now"


def test_allowed_links_stay_links():
    assert safe_markdown("[GLM](https://bigmodel.cn)") == "[GLM](https://bigmodel.cn)"
    assert safe_markdown("[x](http://example.com/a_b)") == "[x](http://example.com/a\\_b)"
    assert safe_markdown("[mail](mailto:a@b.co)") == "[mail](mailto:a@b.co)"
    assert safe_markdown("<https://example.com>") == "<https://example.com>"
    assert safe_markdown("<a@b.co>") == "<a@b.co>"
    # entities / escapes in the destination are resolved once, then re-encoded
    out = safe_markdown("[q](https://x.org/?a=1&amp;b=2)")
    assert out == "[q](https://x.org/?a=1\\&b=2)"
    # parentheses survive
    assert safe_markdown("[w](https://en.wikipedia.org/wiki/Foo_(bar))") == (
        "[w](https://en.wikipedia.org/wiki/Foo\\_\\(bar\\))"
    )
    # GFM literal autolinks are plain text here and allowed anyway
    assert safe_markdown("see https://bigmodel.cn") == "see https://bigmodel.cn"


def test_no_image_from_adjacent_bang():
    # an inert link's text ending in "!" right before a link we keep
    out = safe_markdown("[a!](javascript:x)[b](https://y.org/i.png)")
    assert out == "a\\![b](https://y.org/i.png)"
    assert bad_links(out) == []


def test_link_destination_must_be_on_one_line():
    assert safe_markdown("[t](\nhttps://x.org)") == "\\[t\\](\nhttps://x.org)"
    assert safe_markdown('[t](https://x.org "title")') == "[t](https://x.org)"


def test_reference_links_resolved_or_inert():
    nd = NEUTRAL_DEFINITION
    assert safe_markdown("[GLM][g]\n\n[g]: https://bigmodel.cn") == f"[GLM](https://bigmodel.cn)\n\n{nd}"
    assert safe_markdown("[GLM][]\n\n[glm]: https://bigmodel.cn 'title'") == f"[GLM](https://bigmodel.cn)\n\n{nd}"
    assert safe_markdown("[bad][b]\n\n[b]: javascript:alert(1)") == f"bad\n\n{nd}"
    assert safe_markdown("> [b]: <javascript:alert(1)>\n> [x][b]") == f"> {nd}\n> x"
    # not a valid definition (unbalanced parenthesis): stays visible text
    assert safe_markdown("[r]: a(b") == "\\[r\\]: a(b"
    # unknown reference: plain (escaped) text
    assert safe_markdown("[a][nope]") == "\\[a\\]\\[nope\\]"
    # footnotes are not links here
    out = safe_markdown("text[^1]\n\n[^1]: note")
    assert bad_links(out) == []


def test_images_become_links_or_text():
    assert safe_markdown("![cat](https://x.org/cat.png)") == "[🖼 cat](https://x.org/cat.png)"
    assert safe_markdown("![](https://x.org/cat.png)") == "[🖼](https://x.org/cat.png)"
    assert safe_markdown("![cat](data:image/png;base64,AAAA)") == "🖼 cat"
    assert safe_markdown("![cat](mailto:a@b.co)") == "🖼 cat"
    assert safe_markdown("![c][r]\n\n[r]: http://x.org/c.png").startswith("[🖼 c](http://x.org/c.png)\n")
    # an image inside a link must not produce a nested link
    out = safe_markdown("[![badge](https://x.org/b.svg)](https://x.org)")
    assert out == "[🖼 badge](https://x.org)"
    assert "![" not in safe_markdown("![a](https://x.org/a.png) ![b](b.png) ![c][c]")


# ---------------------------------------------------------------------------
# Rule 1: raw HTML shown as text
# ---------------------------------------------------------------------------


def test_raw_html_escaped():
    out = safe_markdown("<script>alert(1)</script> and <img src=x onerror=alert(1)>")
    assert out == "\\<script>alert(1)\\</script> and \\<img src=x onerror=alert(1)>"
    assert safe_markdown("<div>\n*x*\n</div>") == "\\<div>\n*x*\n\\</div>"
    assert safe_markdown("<!-- hidden -->") == "\\<!-- hidden -->"


def test_entities_shown_literally():
    assert safe_markdown("&#106;avascript:alert(1)") == "\\&#106;avascript\\:alert(1)"
    assert safe_markdown("&lt;b&gt; &amp; &#x3A;") == "\\&lt;b\\&gt; \\&amp; \\&#x3A;"
    # a bare ampersand is left alone
    assert safe_markdown("Tom & Jerry, AT&T") == "Tom & Jerry, AT&T"


# ---------------------------------------------------------------------------
# Rule 4: code is byte-exact
# ---------------------------------------------------------------------------

CODE_BLOCKS = [
    "```python\nif a < b and c > d:\n    print('[x](javascript:1) $5 :red[x] &amp;')\n```",
    "~~~\n<script>alert(1)</script>\n\\(x\\) $$y$$ ![i](http://x/i.png)\n~~~",
    "````md\n```\nnested fence\n```\n````",
    "```\n\n\nblank lines\n\n```",
    '```js title="a b"\nconst s = `tpl ${x}`;\n```',
]


@pytest.mark.parametrize("block", CODE_BLOCKS)
def test_fenced_code_exact(block):
    text = f"Intro <b>text</b>:\n\n{block}\n\nOutro $5."
    out = safe_markdown(text)
    assert block in out
    assert out.startswith("Intro \\<b>text\\</b>:")
    assert out.endswith("Outro \\$5.")


def test_unterminated_fence_streaming():
    text = "Here:\n```python\nx = '<b>' + '[a](javascript:x)'\n"
    out = safe_markdown(text)
    assert out == text.rstrip()  # nothing outside code needs escaping
    text2 = "a < b\n~~~\n<i>unterminated"
    assert safe_markdown(text2) == "a \\< b\n~~~\n<i>unterminated"


def test_indented_code_exact():
    text = "Para.\n\n    <b>code</b> [x](javascript:1)\n    $5\n\nAfter <i>."
    out = safe_markdown(text)
    assert "    <b>code</b> [x](javascript:1)\n    $5" in out
    assert out.endswith("After \\<i>.")
    # an indented line continuing a paragraph is prose, not code
    assert safe_markdown("Para\n    <b>") == "Para\n    \\<b>"


def test_code_in_lists_and_quotes():
    text = "1. Step:\n\n   ```bash\n   echo '<x>' $HOME\n   ```\n2. Next <b>"
    out = safe_markdown(text)
    assert "   ```bash\n   echo '<x>' $HOME\n   ```" in out
    assert out.endswith("2. Next \\<b>")
    text = "- item\n\n    ```py\n    x < 3\n    ```"
    assert safe_markdown(text) == text
    text = "> ```\n> <b>quoted code</b>\n> ```\n> after <b>"
    assert safe_markdown(text) == "> ```\n> <b>quoted code</b>\n> ```\n> after \\<b>"


def test_inline_code_exact():
    text = "Use `a < b && c[0]` and ``x ` y`` and `$5` and `:red[x]`, not <b>."
    out = safe_markdown(text)
    for span in ("`a < b && c[0]`", "``x ` y``", "`$5`", "`:red[x]`"):
        assert span in out
    assert out.endswith("not \\<b>.")
    # an unmatched backtick is escaped so it cannot pair up later
    assert safe_markdown("a ` b") == "a \\` b"


def test_code_span_with_pipe_in_table_is_not_trusted():
    text = "| a | b |\n|---|---|\n| `x | [y](javascript:1)` | z |"
    out = safe_markdown(text)
    assert bad_links(out) == []
    assert "javascript" not in out


# ---------------------------------------------------------------------------
# Rule 5: LaTeX
# ---------------------------------------------------------------------------


def test_latex_inline_and_display():
    assert safe_markdown(r"Energy \( E=mc^2 \) here") == "Energy $E=mc^2$ here"
    # display blocks: content indented 4 more, blank lines around, so the
    # block structure is the same whether or not Streamlit turns math on
    assert safe_markdown("\\[\n\\int_0^1 x\\,dx\n\\]") == "$$\n    \\int_0^1 x\\,dx\n$$"
    assert safe_markdown(r"\[ a^2+b^2=c^2 \]") == "$$\n    a^2+b^2=c^2\n$$"
    assert safe_markdown("See:\n\\[ x \\]\nafter") == "See:\n\n$$\n    x\n$$\n\nafter"
    # inside a list item / quote the block keeps the container
    assert safe_markdown("1. Formula:\n   \\[\n   E=mc^2\n   \\]") == "1. Formula:\n\n   $$\n       E=mc^2\n   $$"
    assert safe_markdown("> \\[ a \\]\n> b") == "> $$\n>     a\n> $$\n>\n> b"
    assert safe_markdown(r"so \[x+1\] inline") == "so $$x+1$$ inline"
    # followed by a digit: "$x$5" would not be detected by Streamlit
    assert safe_markdown(r"\(x\)5") == "$$x$$5"
    # math content is verbatim (KaTeX needs <, &, _)
    assert safe_markdown(r"\( a<b \& c_1 \)") == r"$a<b \& c_1$"


def test_existing_dollar_math_kept():
    assert safe_markdown("$x^2$ and $a<b$") == "$x^2$ and $a<b$"
    text = "$$\n\\sum_{i=1}^n i = \\frac{n(n+1)}{2}\n$$"
    assert safe_markdown(text) == "$$\n    \\sum_{i=1}^n i = \\frac{n(n+1)}{2}\n$$"
    assert safe_markdown("inline $$x_1$$ too") == "inline $$x_1$$ too"
    # "$$" across lines that is not a block on its own lines: not math
    assert safe_markdown("a $$x\ny$$ b") == "a \\$\\$x\ny\\$\\$ b"


def test_lone_dollars_escaped():
    assert safe_markdown("It costs $5 and $10.") == "It costs \\$5 and \\$10."
    assert safe_markdown("$") == "\\$"
    assert safe_markdown("$5$") == "\\$5\\$"  # a plain number is not math
    assert safe_markdown("$ x $") == "\\$ x \\$"  # spaces inside: not math
    assert safe_markdown("between $a and $b") == "between \\$a and \\$b"
    assert safe_markdown("$$ unterminated") == "\\$\\$ unterminated"
    assert safe_markdown("\\$ already escaped") == "\\$ already escaped"
    assert safe_markdown("$x$5") == "\\$x\\$5"


def test_katex_href_and_url_removed():
    assert safe_markdown(r"$\href{javascript:alert(1)}{click}$") == "${click}$"
    assert safe_markdown(r"\( \href{https://x.org}{y} + 1 \)") == "${y} + 1$"
    assert safe_markdown(r"$a + \url{https://x.org}$") == "$a +$"
    assert safe_markdown("$$\n\\includegraphics{http://x.org/a.png}\n$$") == ""
    assert "includegraphics" not in safe_markdown("\\[\n\\includegraphics[w=1]{http://x.org/a.png} + 1\n\\]")
    out = safe_markdown(r"\[ \url{javascript:1} \]")
    assert "url" not in out and "javascript" not in out


def test_math_with_link_syntax_is_not_trusted():
    # if Streamlit's math detection did not fire, this would be prose
    out = safe_markdown("$[a](data:text/html,x)$")
    assert bad_links(out) == []
    assert out.startswith("\\$")


def test_block_structure_regressions():
    # cases found by fuzzing in the browser: the output's block structure
    # must be what the tokenizer assumed, so code never hides a live link
    cases = [
        "- a\n\n   > ``\n\\[\n\n   ```\n\n- [r]: javascript:x\n[t](data:x)",
        "> ```\n> a\n> ```\n> \t(<javascript:x>)",
        "| h |\n|---|\n| x |\n1.\t\n   ```\n  [r]: <rel/x>\n[t](data:x)",
        "- a\n    - *\nb\n\n   ```\n1. [t](data:x)",
        "[r]: a(b\n    [x](data:y)",
        "- [ ] $$\n\t- *\n$$\n\n   ```\n1. [t](data:x)",
        "- x\n$$\nfoo\n$$\n  ```\n[t](data:x)",
        "https://ok.example<file:///etc/passwd>",
        "www.ok.example``- - <javascript:x>``",
        "[r]: file:///x\n===\n    ![i](https://ok.example/i.png)",
        "- a\n```_x``\n\n    [t](data:x)",
    ]
    for text in cases:
        out = safe_markdown(text)
        assert bad_links(out) == [], (text, out)
    # a definition keeps its line (an empty, unreferenced one): it ends the
    # list item and its fence, so the second fence is top-level and runs on
    out = safe_markdown("1. x\n\n    ~~~a\n   ```\n[r]: vbscript:x\n   ```\n[t](<rel/x>)")
    assert out.split("\n")[4] == NEUTRAL_DEFINITION
    assert out.endswith("\n   ```\n[t](<rel/x>)")  # verbatim: it is code


def test_citation_brackets_are_not_math():
    assert safe_markdown(r"see \[1\] and \[2, 3\]") == r"see \[1\] and \[2, 3\]"


# ---------------------------------------------------------------------------
# Rule 6: Streamlit directives / shortcodes
# ---------------------------------------------------------------------------


def test_directives_neutralised():
    assert safe_markdown(":red[alert]") == "\\:red\\[alert\\]"
    assert safe_markdown(":blue-background[x] :rainbow[y]") == "\\:blue-background\\[x\\] \\:rainbow\\[y\\]"
    # a bare ":name" is a directive too (Streamlit would drop "Colors:red")
    assert safe_markdown("Colors:red") == "Colors\\:red"
    wj = WORD_JOINER
    assert safe_markdown(":smile:") == f"\\:{wj}smile:"
    assert safe_markdown(":streamlit:") == f"\\:{wj}streamlit:"
    assert safe_markdown(":material/home:") == f"\\:{wj}material/home:"
    assert safe_markdown(":+1:") == f":{wj}+1:"
    assert safe_markdown("\\:smile:") == f"\\:{wj}smile:"
    # ordinary colons are untouched
    assert safe_markdown("Note: at 10:30:45, see https://x.org") == "Note: at 10:30:45, see https://x.org"


# ---------------------------------------------------------------------------
# Rule 7: ordinary Markdown unchanged
# ---------------------------------------------------------------------------

ORDINARY = [
    "# 标题\n\n## Sub *title*\n\nSome **bold**, _italic_, ~~strike~~ and 中文文本。😀🎉",
    "- one\n- two\n  - nested\n\n1. first\n2. second",
    "> quoted\n> > nested quote",
    "| 名称 | 值 |\n|:---|---:|\n| a | 1 |\n| b | 2 |",
    "- [ ] todo\n- [x] done",
    "Line with trailing backslash\\\nnext line",
    "***\n\nText *emph* and __strong__.",
    "Escapes stay: \\* \\_ \\# \\[1\\] \\<b>",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_markdown_unchanged(text):
    assert safe_markdown(text) == text


# ---------------------------------------------------------------------------
# Rule 8: robustness and speed
# ---------------------------------------------------------------------------


def test_controls_stripped():
    out = safe_markdown("a\x00b\x01c\x1fd\x7fe\tf\r\ng\rh")
    assert out == "abcde\tf\ng\nh"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\\",
        "\\\\",
        "`",
        "```",
        "~~~",
        "$",
        "$$",
        "[",
        "]",
        "![",
        "<",
        "&",
        ":",
        "\\(",
        "\\[",
        "\n\n\n",
        " " * 10,
        None,
        42,
    ],
)
def test_edge_inputs(text):
    out = safe_markdown(text)
    assert isinstance(out, str)
    assert isinstance(safe_inline(text), str)


_ALPHABET = list("[]()<>!&#;:$`\\~*_|-+>.\n \t/\"'=^{}") + [
    "javascript:",
    "https://x.org",
    "data:",
    "&#106;",
    "```",
    "$$",
    "\\(",
    "\\)",
    "\\[",
    "\\]",
    "    ",
    "- ",
    "> ",
    "1. ",
    "a",
    "b",
    "中",
    "😀",
    "\x00",
    "\x07",
    "\r",
]


def test_random_inputs_never_raise_and_stay_safe():
    rng = random.Random(1234)
    for _ in range(3000):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 60)))
        out = safe_markdown(text)
        assert isinstance(out, str)
        assert not re.search(r"[\x00-\x08\x0b-\x1f]", out)
        label = safe_inline(text, max_len=rng.randint(1, 80))
        assert isinstance(label, str) and "\n" not in label


def test_random_link_soup_has_no_bad_links():
    rng = random.Random(99)
    parts = [
        "[",
        "]",
        "(",
        ")",
        "<",
        ">",
        "!",
        "javascript:alert(1)",
        "data:x",
        "https://ok.org",
        " ",
        "x",
        ":",
        "\n",
        "`",
        "\\",
    ]
    for _ in range(2000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(1, 30)))
        out = safe_markdown(text)
        assert bad_links(out) == [], (text, out)


ADVERSARIAL = [
    "[",
    "]",
    "$",
    "$$ ",
    "`",
    "`` ` ",
    "\\(",
    "\\[",
    ":a",
    "<",
    "&#1",
    "![",
    "[a](",
    "\n",
    "- ",
    "> ",
    "[`$\\(:<&",
    " ",
    "$$\n",
    "\\[\nx\n",
    "- a\n  \\[\n",
    "[a](" + " " * 5000 + "x",
    "www." + "a" * 100 + "<",
]


def _grows_linearly(unit: str, n: int = 4_000) -> None:
    # Counted, not timed (the box is noisy): 10x the input must cost about 10x the work, not the 100x a
    # quadratic renderer would do. Lines run, calls into C and characters scanned by regexes are exact
    # counts (tests/workcount.py), so a small input is enough and a bound of 20x leaves room only for the
    # input's own structure (10.0-11.1x measured). The small input holds at least 8 units.
    n = max(n, 8 * len(unit))
    assert_linear(safe_markdown, sized(unit, n), sized(unit, 10 * n), bound=20)


@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_adversarial_input_costs_linear_time(unit):
    _grows_linearly(unit)
    assert isinstance(safe_markdown(unit * 1000), str)


def test_realistic_megabyte_costs_linear_time():
    chunk = (
        "## 标题 Section\nSome **bold** `code < 3` [link](https://bigmodel.cn) $x^2$ \\( E=mc^2 \\) $5.\n"
        "- item <https://example.com> [bad](javascript:alert(1)) :smile: :red[x]\n\n"
        "```python\ndef f(x):\n    return x < 3\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n> quote <b>x</b> &amp;\n"
    )
    _grows_linearly(chunk, 10_000)
    assert bad_links(safe_markdown((chunk * (1_000_000 // len(chunk) + 1))[:1_000_000])) == []


# ---------------------------------------------------------------------------
# safe_inline
# ---------------------------------------------------------------------------


def test_safe_inline_basic():
    assert safe_inline("My chat") == "My chat"
    assert safe_inline("line one\nline two\r\n\tthree") == "line one line two three"
    assert safe_inline("# not a heading") == "\\# not a heading"
    assert safe_inline("> not a quote") == "\\> not a quote"
    assert safe_inline("- not a list") == "\\- not a list"
    assert safe_inline("+ not a list") == "\\+ not a list"
    assert safe_inline("1. not a list") == "1\\. not a list"
    assert safe_inline("2) not a list") == "2\\) not a list"
    assert safe_inline("a | b | c") == "a \\| b \\| c"
    assert safe_inline("~~~ not a fence") == "\\~~~ not a fence"
    assert safe_inline("report.pdf") == "report.pdf"


def test_safe_inline_neutralises():
    assert safe_inline("<script>x</script>") == "\\<script>x\\</script>"
    assert safe_inline("[x](javascript:alert(1))") == "x"
    assert safe_inline("[GLM](https://bigmodel.cn)") == "[GLM](https://bigmodel.cn)"
    assert safe_inline(":red[x] $5") == "\\:red\\[x\\] \\$5"
    assert safe_inline(r"\[ x \]") == "$$x$$"  # no display block in a label


def test_safe_inline_clips():
    assert safe_inline("x" * 300) == "x" * 199 + "…"
    assert safe_inline("abcdef", max_len=4) == "abc…"
    assert safe_inline("abcd", max_len=4) == "abcd"
    assert len(safe_inline("中" * 1000)) == 200


def test_is_allowed_url():
    assert is_allowed_url("https://x.org")
    assert is_allowed_url("HTTP://x.org")
    assert is_allowed_url("mailto:a@b.co")
    assert not is_allowed_url("mailto:a@b.co", image=True)
    for bad in ("javascript:x", " https://x.org", "java\tscript:x", "data:x", "//x.org", "x.html", ""):
        assert not is_allowed_url(bad)
