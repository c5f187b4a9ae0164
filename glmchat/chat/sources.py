"""Web search sources: validate the API's ``web_search`` results, cite them in the answer, list them.

Pure Python, no Streamlit. The citations and the list hold only http/https links even before
``glmchat.chat.render.safe_markdown``, and pass through it unchanged; the rest of a cited answer (the model's own
Markdown) still needs that pass:

* :func:`parse` turns the raw API list into numbered :class:`Source` items (hostile links become None);
* :func:`cite` turns ``[ref_N]`` / ``【ref_N】`` markers into ``[\\[n\\]](link)`` (or plain ``\\[n\\]``),
  outside fenced code and code spans;
* :func:`sources_markdown` renders the compact numbered list;
* :func:`to_record` / :func:`from_record` store the list with a message (JSON-safe, re-validated on load).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from glmchat.chat.render import is_allowed_url, safe_inline

__all__ = ["Source", "parse", "cite", "sources_markdown", "to_record", "from_record"]

TITLE_MAX = 200
SOURCES_MAX = 50  # the API's maximum count; further items are ignored
LINK_MAX = 2048

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What browsers drop anywhere in a URL (so "java\tscript:" is javascript:).
_URL_DROPPED_RE = re.compile(r"[\t\n\r]")
_URL_EDGES_RE = re.compile(r"^[\s\x00-\x20\x7f-\x9f\ufeff]+|[\s\x00-\x20\x7f-\x9f\ufeff]+$")
# Left inside a URL after that: percent-encoded, so the link never carries whitespace or controls.
_URL_ENCODE_RE = re.compile(r"[\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f\u3000\ufeff]")
_HOST_RE = re.compile(r"[\w.-]+")  # letters (IDN), digits, dots and hyphens only
_MARKER_RE = re.compile(r"\[ref_(\d{1,4})\]|【ref_(\d{1,4})】")
_FENCE_RE = re.compile(r"^(?:[ \t]*>)*[ \t]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)*(`{3,}|~{3,})(.*)$")
_BACKTICKS_RE = re.compile(r"(?<!\\)(?:\\\\)*(`+)")  # a run of backticks not opened by an escape
_PARAGRAPH_BREAK_RE = re.compile(r"(\n[ \t>]*\n)")  # code spans do not cross blank lines
# Title text is made literal before safe_inline, which handles "<", "&", ":", "|" and block starts: backslashes,
# emphasis, math, code and the "." / "/" of literal autolinks (www.x, https://x) are backslash-escaped, and
# square brackets become full-width ones. Not "\\[": safe_markdown reads "\\[x\\]" as display math.
_LITERAL_RE = re.compile(r"[\\*_~./$`]")
_BRACKETS = str.maketrans("[]", "\uff3b\uff3d")
# In link destinations: characters that are invalid in URLs, or that safe_markdown could read as math
# ("\\(", "\\["), are percent-encoded; "&", "$", "*", "_" are backslash-escaped (their meaning in a URL stays).
_DEST_PERCENT = frozenset(' "()<>[]\\^`{|}')
_DEST_ESCAPE = frozenset("&$*_")

_FALLBACK_TITLE = {"zh": "来源 {n}", "en": "Source {n}"}


@dataclass(frozen=True)
class Source:
    n: int  # 1-based, in the API's order: the number shown in citations and in the list
    title: str  # plain text (not Markdown), stripped, at most TITLE_MAX characters; may be ""
    site: str  # host of the link, lowercased, without "www."; "" without a safe link
    link: str | None  # an http(s) URL with a host and no whitespace, else None
    refer: str | None  # the API's citation key, e.g. "ref_1"


# ---------------------------------------------------------------------------------------------------------
# Parsing


def _safe_link(raw: object) -> str | None:
    if not isinstance(raw, str) or "\\" in raw:  # browsers read "\\" as "/" in http(s) URLs: not worth it
        return None
    url = _URL_EDGES_RE.sub("", _URL_DROPPED_RE.sub("", raw))
    url = _URL_ENCODE_RE.sub(lambda m: quote(m.group()), url)
    if not url or len(url) > LINK_MAX:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. a malformed IPv6 literal
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or not _HOST_RE.fullmatch(host):
        return None
    url = parts.scheme.lower() + url[len(parts.scheme) :]
    return url if is_allowed_url(url) else None


def _site(link: str | None) -> str:
    if link is None:
        return ""
    host = (urlsplit(link).hostname or "").lower()
    return host[4:] if host.startswith("www.") and len(host) > 4 else host


def _plain(raw: object, limit: int) -> str:
    if not isinstance(raw, str):
        return ""
    text = " ".join(_CONTROL_RE.sub(" ", raw).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _refer(raw: object) -> str | None:
    refer = _plain(raw, 64)
    return refer or None


def _source(n: int, item: object) -> Source | None:
    if not isinstance(item, dict):
        return None
    link = _safe_link(item.get("link"))
    site = _site(link)
    title = _plain(item.get("title"), TITLE_MAX)
    raw_link = item.get("link")
    if not title and not (isinstance(raw_link, str) and raw_link.strip()):
        return None  # neither a title nor a link: nothing to show or cite
    return Source(n=n, title=title or site, site=site, link=link, refer=_refer(item.get("refer")))


def parse(raw: object) -> list[Source]:
    """The API's ``web_search`` list as Sources numbered 1..N; malformed items are skipped."""
    if not isinstance(raw, (list, tuple)):
        return []
    sources: list[Source] = []
    for item in raw:
        if len(sources) >= SOURCES_MAX:
            break
        source = _source(len(sources) + 1, item)
        if source is not None:
            sources.append(source)
    return sources


def to_record(sources: list[Source]) -> list[dict]:
    """JSON-safe dicts for storing with a message."""
    return [{"n": s.n, "title": s.title, "site": s.site, "link": s.link, "refer": s.refer} for s in sources]


def from_record(record: object) -> list[Source]:
    """Sources back from :func:`to_record` output; validated again (a stored record is input too)."""
    if not isinstance(record, (list, tuple)):
        return []
    sources: list[Source] = []
    for item in record:
        if len(sources) >= SOURCES_MAX:
            break
        if not isinstance(item, dict):
            continue
        link = _safe_link(item.get("link"))
        site = _site(link)
        title = _plain(item.get("title"), TITLE_MAX)
        sources.append(
            Source(n=len(sources) + 1, title=title or site, site=site, link=link, refer=_refer(item.get("refer")))
        )
    return sources


# ---------------------------------------------------------------------------------------------------------
# Markdown


def _destination(url: str) -> str:
    """``url`` as a Markdown link destination that CommonMark and safe_markdown both read back as ``url``."""
    return "".join("%%%02X" % ord(c) if c in _DEST_PERCENT else "\\" + c if c in _DEST_ESCAPE else c for c in url)


def _citation(source: Source) -> str:
    label = f"\\[{source.n}\\]"
    return f"[{label}]({_destination(source.link)})" if source.link else label


def _lookup(sources: list[Source]) -> dict[int, Source]:
    """Marker number -> Source: by ``refer`` ("ref_N"), else by position for items without a refer."""
    table: dict[int, Source] = {}
    for s in sources:
        m = re.fullmatch(r"ref_(\d{1,4})", s.refer or "")
        if m:
            table.setdefault(int(m.group(1)), s)
    for s in sources:
        if s.refer is None:
            table.setdefault(s.n, s)
    return table


def _cite_prose(text: str, table: dict[int, Source]) -> str:
    def repl(m: re.Match[str]) -> str:
        source = table.get(int(m.group(1) or m.group(2)))
        if source is None:
            return m.group(0)
        backslashes = len(text[: m.start()]) - len(text[: m.start()].rstrip("\\"))
        if backslashes % 2:
            if m.group(1):
                return m.group(0)  # "\\[ref_1]": the author escaped the bracket
            return "\\" + _citation(source)  # a literal "\\" before "【": keep it literal, not an escape
        return _citation(source)

    return _MARKER_RE.sub(repl, text)


def _cite_paragraph(text: str, table: dict[int, Source]) -> str:
    """Cite outside code spans: a backtick run up to the next run of the same length."""
    out: list[str] = []
    pos = prose = 0
    while (m := _BACKTICKS_RE.search(text, pos)) is not None:
        run = m.group(1)
        start = m.start(1)
        closer = next((c for c in re.finditer("`+", text[m.end() :]) if len(c.group()) == len(run)), None)
        if closer is None:
            pos = m.end()  # unmatched: the backticks are text
            continue
        end = m.end() + closer.end()
        out.append(_cite_prose(text[prose:start], table))
        out.append(text[start:end])
        pos = prose = end
    out.append(_cite_prose(text[prose:], table))
    return "".join(out)


def _cite_inline(text: str, table: dict[int, Source]) -> str:
    parts = _PARAGRAPH_BREAK_RE.split(text)
    return "".join(part if i % 2 else _cite_paragraph(part, table) for i, part in enumerate(parts))


def cite(text: str, sources: list[Source]) -> str:
    """Replace ``[ref_N]``/``【ref_N】`` markers with numbered citations, leaving code alone.

    A source with a link becomes ``[\\[n\\]](link)``, one without ``\\[n\\]``; markers that match no source
    stay as they are. Fenced code blocks (also inside quotes and lists) and code spans are not touched.
    """
    if not isinstance(text, str) or not sources or not _MARKER_RE.search(text):
        return text
    table = _lookup(sources)
    lines = text.split("\n")
    out: list[str] = []
    prose: list[str] = []
    fence = ""

    def flush() -> None:
        if prose:
            out.append(_cite_inline("\n".join(prose), table))
            prose.clear()

    for line in lines:
        m = _FENCE_RE.match(line)
        if fence:
            out.append(line)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2).strip():
                fence = ""
        elif m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            flush()
            out.append(line)
            fence = m.group(1)
        else:
            prose.append(line)
    flush()
    return "\n".join(out)


def _literal(text: str) -> str:
    """Inline Markdown showing ``text`` verbatim: every syntax character escaped, then safe_inline."""
    return safe_inline(_LITERAL_RE.sub(lambda m: "\\" + m.group(), text.translate(_BRACKETS)), max_len=None)


def _entry(source: Source, lang: str) -> str:
    title = source.title or _FALLBACK_TITLE.get(lang, _FALLBACK_TITLE["en"]).replace("{n}", str(source.n))
    text = _literal(title)
    if source.link:
        text = f"[{text}]({_destination(source.link)})"
    if source.site and source.site != source.title:
        text += " · " + _literal(source.site)
    return f"{source.n}. {text}"


def sources_markdown(sources: list[Source], lang: str = "en") -> str:
    """A compact numbered list ``1. [Title](link) · site``; "" for no sources. Feed it to safe_markdown."""
    return "\n".join(_entry(s, lang) for s in sources)
