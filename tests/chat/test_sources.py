"""glmchat.sources: parsing web search results, citations, the sources list and stored records.

Link safety is checked on the *structure* of the Markdown, with a small scanner independent of the code
under test: every construct CommonMark could turn into a link or image is found, and its target must be
http(s). Outputs are checked as produced and after glmchat.chat.render.safe_markdown.
"""

from __future__ import annotations

import html
import json
import re

import pytest

from glmchat.chat.render import NEUTRAL_DEFINITION, safe_markdown
from glmchat.chat.sources import Source, cite, from_record, parse, sources_markdown, to_record
from glmsim.simulator import _hostile_results, _search_results

# ---------------------------------------------------------------------------------------------------------
# Link scanner

_FENCE = re.compile(r"^[ \t>]*(?:[-+*]|\d+[.)])?[ \t]*(`{3,}|~{3,})")
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\x00-\x20<>]*)>")
_DEFINITION = re.compile(r"^[ \t>]*\[(?:[^\]\\]|\\.)+\]:", re.M)
_HTTP = re.compile(r"(?i)https?://[^\x00-\x20\x7f]+$")


def _strip_code(md: str) -> str:
    out, fence = [], None
    for line in md.split("\n"):
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            out.append("")
        elif fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            out.append("")
        else:
            out.append(line)
    return re.sub(r"(?<!\\)(`+)[^\n]*?(?<!`)\1(?!`)", " ", "\n".join(out))


def _matching(text: str, i: int, open_: str, close: str) -> int:
    depth = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        depth += text[i] == open_
        depth -= text[i] == close
        if depth == 0:
            return i
        i += 1
    return -1


def links(md: str) -> list[tuple[str, str]]:
    """(kind, target) of every link-like construct: link, autolink, image, definition, reference."""
    text = _strip_code(md)
    # safe_markdown leaves an empty, unreferenced definition in place of a real one: that one is fine
    found = [("definition", m.group()) for m in _DEFINITION.finditer(text.replace(NEUTRAL_DEFINITION, ""))]
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "<" and (m := _AUTOLINK.match(text, i)):
            found.append(("autolink", m.group(1)))
        elif c == "!" and text.startswith("[", i + 1):
            found.append(("image", ""))
        elif c == "[":
            j = _matching(text, i, "[", "]")
            if j > 0 and text.startswith("(", j + 1):
                k = _matching(text, j + 1, "(", ")")
                dest = text[j + 2 : k].strip().split()[0] if text[j + 2 : k].strip() else ""
                dest = html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", dest.strip("<>")))
                found.append(("link", dest))
            elif j > 0 and text.startswith("[", j + 1):
                found.append(("reference", text[i : j + 1]))
        i += 1
    return found


def targets(md: str) -> list[str]:
    found = links(md)
    bad = [(kind, url) for kind, url in found if kind != "link" and kind != "autolink" or not _HTTP.match(url)]
    assert not bad, (md, bad)
    return [url for _, url in found]


def test_scanner_finds_links():
    assert links("[a](javascript:x) <data:x> ![i](https://a)\n[r]: https://b") == [
        ("definition", "[r]:"),
        ("link", "javascript:x"),
        ("autolink", "data:x"),
        ("image", ""),
        ("link", "https://a"),
    ]
    assert links("`[a](javascript:x)`\n```\n[b](data:x)\n```") == []
    with pytest.raises(AssertionError):
        targets("[a](data:text/html,x)")


# ---------------------------------------------------------------------------------------------------------
# parse

HOSTILE_LINKS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "  javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "java\x00script:alert(1)",
    "&#106;avascript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "DATA:text/html;base64,PHNjcmlwdD4=",
    "file:///etc/passwd",
    "//evil.example/x",
    "evil.html",
    "./x",
    "#top",
    "ftp://example.com/x",
    "mailto:a@b.example",
    "https://",
    "https:///path",
    "https:evil.example",
    "https:\\\\evil.example",
    "https://[::1/",
    "http://a b.example/",
    "https://evil.example\\@good.example/",
    "https://<script>.example/",
    "javascript://evil.example/%0aalert(1)",
    "",
    "   ",
    42,
    None,
    ["https://a.example"],
    {"href": "https://a.example"},
]


@pytest.mark.parametrize("link", HOSTILE_LINKS)
def test_unsafe_links_become_none(link):
    [source] = parse([{"title": "T", "link": link, "refer": "ref_1"}])
    assert source.link is None and source.site == "" and source.title == "T"


@pytest.mark.parametrize(
    "raw,link,site",
    [
        ("https://news1.example/article-1", "https://news1.example/article-1", "news1.example"),
        ("  \thttps://www.Example.COM/a?b=1#c\n", "https://www.Example.COM/a?b=1#c", "example.com"),
        ("HTTP://WWW.EXAMPLE.ORG", "http://WWW.EXAMPLE.ORG", "example.org"),
        ("\x00https://a.example/\x01", "https://a.example/", "a.example"),
        ("https://a.example/x y", "https://a.example/x%20y", "a.example"),
        ("https://user@host.example:8443/p", "https://user@host.example:8443/p", "host.example"),
        ("https://例子.example/路径", "https://例子.example/路径", "例子.example"),
        ("https://www.", "https://www.", "www."),
    ],
)
def test_safe_links_are_kept_with_their_site(raw, link, site):
    [source] = parse([{"title": "T", "link": raw}])
    assert (source.link, source.site) == (link, site)


def test_parse_numbers_in_order_and_skips_malformed_items():
    raw = [
        "not a dict",
        None,
        3,
        {"title": "", "link": ""},
        {"content": "no title, no link"},
        {"title": "  First \n title ", "link": "https://a.example/1", "refer": "ref_1", "media": "M"},
        {"title": None, "link": "https://www.b.example/2", "refer": "ref_2"},
        {"title": ["x"], "link": "javascript:alert(1)"},
        {"title": "Fourth", "link": "https://d.example", "refer": 7},
    ]
    assert parse(raw) == [
        Source(1, "First title", "a.example", "https://a.example/1", "ref_1"),
        Source(2, "b.example", "b.example", "https://www.b.example/2", "ref_2"),
        Source(3, "", "", None, None),
        Source(4, "Fourth", "d.example", "https://d.example", None),
    ]
    for bad in (None, "x", {"title": "t"}, 5):
        assert parse(bad) == []


def test_titles_are_cleaned_and_clipped():
    [long, ctl] = parse(
        [
            {"title": "x" * 500, "link": "https://a.example"},
            {"title": "a\x00b\x1bc\u0085d\tTab", "link": "https://a.example"},
        ]
    )
    assert len(long.title) == 200 and long.title.endswith("…")
    assert ctl.title == "a b c d Tab"


def test_parse_simulator_results():
    sources = parse(_search_results("Tell me about tea", {"count": 7}, False))
    assert [s.n for s in sources] == list(range(1, 8))
    assert len({s.site for s in sources}) == 7 and all(s.link.startswith("https://") for s in sources)
    assert all("Tell me about tea" in s.title for s in sources)
    hostile = parse(_hostile_results())
    assert [s.link for s in hostile] == [
        None,
        None,
        "https://evil3.example/img",
        None,
        "https://normal5.example/article-5",
    ]
    assert hostile[2].title == "<img src=x onerror=alert(1)>Title"


# ---------------------------------------------------------------------------------------------------------
# cite

SOURCES = parse(
    [
        {"title": "One", "link": "https://one.example/a", "refer": "ref_1"},
        {"title": "Two", "link": "javascript:alert(1)", "refer": "ref_2"},
        {"title": "Three", "link": "https://three.example/p_(x)?a=1&b=$2", "refer": "ref_3"},
    ]
)


def test_cite_links_and_plain_numbers():
    out = cite("A [ref_1], B [ref_2] and C [ref_3][ref_1].", SOURCES)
    assert out == (
        "A [\\[1\\]](https://one.example/a), B \\[2\\] and C "
        "[\\[3\\]](https://three.example/p\\_%28x%29?a=1\\&b=\\$2)[\\[1\\]](https://one.example/a)."
    )
    assert targets(out) == [
        "https://one.example/a",
        "https://three.example/p_(x)?a=1&b=$2".replace("(", "%28").replace(")", "%29"),
        "https://one.example/a",
    ]
    assert targets(safe_markdown(out)) == targets(out)
    assert safe_markdown(out) == out


def test_cite_chinese_brackets_unknown_refs_and_other_text():
    out = cite("据报道【ref_1】，另见[ref_9]【ref_7】和 [ref_x] [REF_1] ref_1 [ ref_1 ]", SOURCES)
    assert out == ("据报道[\\[1\\]](https://one.example/a)，另见[ref_9]【ref_7】和 [ref_x] [REF_1] ref_1 [ ref_1 ]")
    assert cite("no markers", SOURCES) == "no markers"
    assert cite("[ref_1]", []) == "[ref_1]"


def test_cite_leaves_code_alone():
    text = (
        "Intro [ref_1] `[ref_1]` and ``a ` [ref_1]`` then [ref_3]\n\n"
        "```python\nx = data[ref_1]  # [ref_1]\n```\n\n"
        "~~~\n[ref_1]\n~~~\n\n"
        "> ```\n> [ref_1]\n> ```\n\n"
        "- item\n\n  ````md\n  ```\n  [ref_1]\n  ````\n\n"
        "\\`[ref_1]\\` after escaped backticks; unclosed ` [ref_1]\n\n"
        "`open\n\n[ref_1]` code spans do not cross blank lines"
    )
    out = cite(text, SOURCES)
    link1 = "[\\[1\\]](https://one.example/a)"
    for kept in (
        "`[ref_1]`",
        "``a ` [ref_1]``",
        "x = data[ref_1]  # [ref_1]",
        "~~~\n[ref_1]\n~~~",
        "> ```\n> [ref_1]\n> ```",
        "  ```\n  [ref_1]\n  ````",
    ):
        assert kept in out
    assert out.startswith(f"Intro {link1} `[ref_1]`")
    assert f"\\`{link1}\\` after escaped backticks; unclosed ` {link1}" in out
    assert out.endswith(f"`open\n\n{link1}` code spans do not cross blank lines")
    assert out.count(link1) == 4


def test_cite_falls_back_to_position_without_refer():
    sources = parse([{"title": "A", "link": "https://a.example"}, {"title": "B", "link": "https://b.example"}])
    assert cite("x [ref_2]", sources) == "x [\\[2\\]](https://b.example)"


def test_cite_through_safe_markdown_with_hostile_sources():
    sources = parse(_hostile_results())
    answer = "Hostile [ref_1][ref_2][ref_3][ref_4][ref_5] [ref_99] `[ref_1]`\n\n```text\n[ref_2] inside\n```"
    out = cite(answer, sources)
    assert targets(out) == ["https://evil3.example/img", "https://normal5.example/article-5"]
    rendered = safe_markdown(out)
    assert targets(rendered) == targets(out)
    assert "javascript" not in rendered.lower() and "data:" not in rendered
    assert "`[ref_1]`" in rendered and "[ref_2] inside" in rendered


# ---------------------------------------------------------------------------------------------------------
# sources_markdown


def test_markdown_list():
    sources = parse(
        [
            {"title": "Python (programming language)", "link": "https://en.wikipedia.example/wiki/Python_(language)"},
            {"title": "No link", "link": "javascript:alert(1)"},
            {"title": "", "link": "https://www.site.example/x"},
            {"link": "data:text/html,x"},
        ]
    )
    md = sources_markdown(sources, "en")
    assert md.split("\n") == [
        "1. [Python (programming language)](https://en.wikipedia.example/wiki/Python\\_%28language%29)"
        " · en\\.wikipedia\\.example",
        "2. No link",
        "3. [site\\.example](https://www.site.example/x)",
        "4. Source 4",
    ]
    assert sources_markdown(sources, "zh").endswith("4. 来源 4")
    assert sources_markdown([], "en") == ""
    assert safe_markdown(md) == md


HOSTILE_TITLES = [
    "<img src=x onerror=alert(1)>Title",
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "![img](https://evil.example/p.png)",
    "<https://evil.example>",
    "<javascript:alert(1)>",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "`code` [a](data:text/html,x)",
    "&#106;avascript:alert(1)",
    "www.evil.example and https://evil.example/x",
    "$x$ and \\(y\\) and \\[z\\]",
    "# Heading",
    "> quote",
    "1. list",
    "- item",
    "| a | b |",
    ":red[x] :smile: :material/home:",
    "**bold** _it_ ~~del~~",
    "a\\",
    "[",
    "]",
    "[[x]]",
    "\\[1\\]",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_titles_stay_text(title):
    sources = parse(
        [
            {"title": title, "link": "https://ok.example/p", "refer": "ref_1"},
            {"title": title, "link": "javascript:alert(1)", "refer": "ref_2"},
        ]
    )
    md = sources_markdown(sources, "en")
    assert targets(md) == ["https://ok.example/p"]
    rendered = safe_markdown(md)
    assert targets(rendered) == ["https://ok.example/p"]
    assert rendered.count("\n") == 1 and rendered.startswith("1. [") and "\n2. " in rendered
    assert "$" not in rendered.replace("\\$", "")  # no math either


def test_hostile_simulator_sources_list():
    md = sources_markdown(parse(_hostile_results()), "en")
    assert targets(md) == ["https://evil3.example/img", "https://normal5.example/article-5"]
    assert targets(safe_markdown(md)) == targets(md)
    assert "\\<img src=x onerror=alert(1)>Title" in md


def test_random_soup_has_only_http_links():
    import random

    rng = random.Random(7)
    atoms = [
        "[",
        "]",
        "(",
        ")",
        "<",
        ">",
        "\\",
        "`",
        "$",
        "!",
        ":",
        "&#58;",
        "javascript:",
        "https://a.example",
        "data:",
        " ",
        "\n",
        "ref_1",
        "[ref_1]",
        "【ref_2】",
        "*",
        "_",
        "|",
        "#",
    ]
    for _ in range(300):

        def soup(n):
            return "".join(rng.choice(atoms) for _ in range(n))

        raw = [
            {
                "title": soup(8),
                "link": rng.choice(["", "https://a.example/", "http://b.example?q="]) + soup(4),
                "refer": f"ref_{i + 1}",
            }
            for i in range(3)
        ]
        sources = parse(raw)
        linked = sum(1 for s in sources if s.link)
        md = sources_markdown(sources, "en")
        assert len(targets(md)) == len(targets(safe_markdown(md))) == linked, md
        # the answer's own links are safe_markdown's job; its brackets may swallow a citation: never unsafe
        targets(safe_markdown(cite(soup(20), sources)))


# ---------------------------------------------------------------------------------------------------------
# records


def test_record_round_trip_is_json_safe():
    sources = parse(_search_results("喝茶的好处", {}, True) + _hostile_results())
    record = to_record(sources)
    assert json.loads(json.dumps(record, ensure_ascii=False)) == record
    assert record[0] == {
        "n": 1,
        "title": sources[0].title,
        "site": sources[0].site,
        "link": sources[0].link,
        "refer": "ref_1",
    }
    assert from_record(record) == sources
    assert from_record(json.loads(json.dumps(record))) == sources


def test_records_are_validated_again():
    record = [
        {"n": 9, "title": "<b>x</b>", "site": "forged.example", "link": "javascript:alert(1)", "refer": "ref_1"},
        "junk",
        {"n": 1, "title": "ok", "site": "", "link": "https://www.ok.example", "refer": None},
        {"title": 5, "link": 6},
    ]
    assert from_record(record) == [
        Source(1, "<b>x</b>", "", None, "ref_1"),
        Source(2, "ok", "ok.example", "https://www.ok.example", None),
        Source(3, "", "", None, None),
    ]
    assert from_record(None) == [] and from_record({"a": 1}) == []


def test_at_most_fifty_sources():
    raw = [{"title": f"T{i}", "link": f"https://h{i}.example"} for i in range(80)]
    assert len(parse(raw)) == 50 and len(from_record(raw)) == 50


def test_cite_respects_backslashes_before_markers():
    link1 = "[\\[1\\]](https://one.example/a)"
    assert cite("x \\[ref_1] y", SOURCES) == "x \\[ref_1] y"  # an escaped bracket stays text
    assert cite("x \\\\[ref_1]", SOURCES) == "x \\\\" + link1  # an escaped backslash, then a marker
    out = cite("x \\【ref_1】", SOURCES)  # a literal backslash before 【 must not escape the link
    assert out == "x \\\\" + link1 and targets(safe_markdown(out)) == ["https://one.example/a"]


@pytest.mark.parametrize(
    "text", ["Tell me about green tea", "Compare a few GLM models", "解释一下递归", "sim:sources-hostile"]
)
def test_simulator_answers_cite_and_render_safely(text):
    import httpx

    from glmsim.simulator import Simulator

    body = {
        "model": "glm-4-flash",
        "messages": [{"role": "user", "content": text}],
        "tools": [{"type": "web_search", "web_search": {"search_engine": "search_std", "count": 3}}],
    }
    with httpx.Client(transport=Simulator().transport()) as http:
        reply = http.post(
            "http://sim.local/api/paas/v4/chat/completions", json=body, headers={"authorization": "Bearer k"}
        ).json()
    sources = parse(reply["web_search"])
    answer = cite(reply["choices"][0]["message"]["content"], sources)
    assert "[ref_1]" not in answer.split("`")[0]
    rendered = safe_markdown(answer)
    linked = [s.link for s in sources if s.link]
    expected = linked[:3] if "hostile" not in text else linked
    assert targets(rendered) == expected
    for md in (sources_markdown(sources, "zh"), safe_markdown(sources_markdown(sources, "zh"))):
        assert targets(md) == linked
