"""The link policy: which URLs may stay live, and how links, images and definitions are rebuilt.

Only http/https/mailto links (images: http/https) survive, and only in a form we emitted ourselves;
everything else keeps its text and loses its URL.
"""

from __future__ import annotations

import html
import re

from glmchat.chat.render.text import WORD_JOINER, label_key

_ALLOWED_LINK_RE = re.compile(r"(?i)(?:https?://|mailto:)")
_ALLOWED_IMAGE_RE = re.compile(r"(?i)https?://")
_ESC_OR_ENTITY_RE = re.compile(r"\\([!-/:-@\[-`{-~])|&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Any whitespace/control char makes the URL suspicious (browsers silently drop
# tabs/newlines, so "java\tscript:" would still be javascript:).
_URL_BAD_CHARS_RE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029\u00a0]")


def decode_destination(raw: str) -> str:
    """What CommonMark turns a link destination into (escapes + entities)."""

    def repl(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return m.group(1)
        return html.unescape("&" + m.group(2) + ";")

    return _ESC_OR_ENTITY_RE.sub(repl, raw)


def is_allowed_url(url: str, image: bool = False) -> bool:
    """True for an (already decoded) http/https/mailto URL; images: http(s)."""
    if not url or _URL_BAD_CHARS_RE.search(url):
        return False
    return bool((_ALLOWED_IMAGE_RE if image else _ALLOWED_LINK_RE).match(url))


_DEST_ESCAPE = frozenset("\\()<>&`$[]|*_")


def encode_destination(url: str) -> str:
    # Backslash-escape everything CommonMark/GFM could read as syntax so the
    # href is exactly ``url`` (no entity decoding, no table-cell split).
    return "".join("\\" + c if c in _DEST_ESCAPE else c for c in url)


# ---------------------------------------------------------------------------
# Link reference definitions
# ---------------------------------------------------------------------------

_DEF_RE = re.compile(
    r"\[(?P<label>(?:[^\[\]\\\n]|\\.){1,999})\]:[ \t]*"
    r"(?P<dest><[^<>\n]*>|[^\s<]\S*)"
    r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?[ \t]*$"
)


# An invisible definition nothing can reference (all other "[" are escaped).
# Each gets its own label, so even if one were read as text, its "[...]"
# could not resolve to another one.
NEUTRAL_DEFINITION = "[" + WORD_JOINER + "]: <>"


def neutral_definition(n: int) -> str:
    return NEUTRAL_DEFINITION if n == 0 else "[" + WORD_JOINER + str(n) + "]: <>"


def _valid_def(dm: re.Match[str]) -> bool:
    # Only what CommonMark surely takes for a definition (balanced parens in a
    # bare destination); anything else stays (escaped) paragraph text.
    label, dest = dm.group("label"), dm.group("dest")
    if not label.strip() or label.startswith("^"):  # "[^1]:" is a footnote
        return False
    if dest.startswith("<"):
        return "\\" not in dest
    depth = 0
    for m in re.finditer(r"\\.|[()]", dest):
        t = m.group()
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def definition(body: str) -> tuple[str, str] | None:
    """(label key, decoded URL) when the line ``body`` is a link reference definition, else None."""
    dm = _DEF_RE.match(body)
    if not dm or not _valid_def(dm):
        return None
    dest = dm.group("dest")
    if dest.startswith("<"):
        dest = dest[1:-1]
    return label_key(dm.group("label")), decode_destination(dest)


# ---------------------------------------------------------------------------
# Inline links, images and autolinks
# ---------------------------------------------------------------------------

# "(dest "title")" after "]": on one line only (an inert link's "(...)" is
# dropped, and a line break inside could be a block boundary); possessive
# quantifiers keep long runs of spaces linear.
_INLINE_DEST_RE = re.compile(
    r"\([ \t]*+"
    r"(?:<(?P<adest>(?:[^<>\n\\\x02]|\\[^\n\x02])*+)>"
    r"|(?P<dest>(?:[^\s()\\\x02]|\\[^\s\x02]|\((?:[^\s()\\\x02]|\\[^\s\x02])*+\))*+))"
    r"(?:[ \t]++(?:\"(?:[^\"\\\n\x02]|\\[^\n\x02])*+\"|'(?:[^'\\\n\x02]|\\[^\n\x02])*+'"
    r"|\((?:[^()\\\n\x02]|\\[^\n\x02])*+\)))?+"
    r"[ \t]*+\)"
)
_AUTOLINK_RE = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\x00-\x20<>]*)>")
_EMAIL_AUTOLINK_RE = re.compile(
    r"<([A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*)>"
)


def inline_destination(s: str, pos: int, end: int) -> tuple[str, int] | None:
    """(decoded URL, where it stops) for an inline link's "(dest "title")" at s[pos:end], else None."""
    dm = _INLINE_DEST_RE.match(s, pos, end)
    if not dm:
        return None
    raw = dm.group("adest") if dm.group("adest") is not None else dm.group("dest")
    return decode_destination(raw), dm.end()


def allowed_autolink(s: str, i: int, end: int) -> re.Match[str] | None:
    """The autolink "<…>" at s[i:end] if it may stay live (http/https/mailto or an e-mail address)."""
    am = _AUTOLINK_RE.match(s, i, end)
    email = False
    if not am:
        am, email = _EMAIL_AUTOLINK_RE.match(s, i, end), True
    if am and "&" not in am.group(1) and "\\" not in am.group(1) and (email or is_allowed_url(am.group(1))):
        return am
    return None


def link_markup(inner: str, url: str, image: bool, in_link: bool) -> tuple[str, bool]:
    """What a link (or image) with rendered text ``inner`` and decoded ``url`` becomes.

    Returns (markup, live): a live link we built, or the text alone. An image
    is never loaded: it becomes a link to itself, or its alt text.
    """
    if image:
        alt = "🖼 " + inner if inner.strip() else "🖼"
        if not in_link and is_allowed_url(url, image=True):
            return "[" + alt + "](" + encode_destination(url) + ")", True
        return alt, False
    if not in_link and is_allowed_url(url):
        return "[" + inner + "](" + encode_destination(url) + ")", True
    return inner, False  # inert: keep the text, drop the URL


_LITERAL_START_RE = re.compile(r"(?i)(?:www(?=\.)|https?(?=://))")
_LITERAL_STOP_RE = re.compile(r"[\s<\x02]")


def break_literal_autolinks(prose: str) -> str:
    """Stop GFM literal autolinks (www., http://) from eating what follows.

    A literal runs to the next whitespace or "<", so it would swallow the
    backslash of our "\\<" (re-arming an autolink) or the opening backtick of
    a code span (turning the rest of the code into prose).  Such literals get
    an escape ("www\\.", "https\\://") so they are plain text.
    """
    if "www" not in prose.lower() and "http" not in prose.lower():
        return prose
    out: list[str] = []
    last = 0
    run_end, run_bad = -1, False
    for m in _LITERAL_START_RE.finditer(prose):
        p = m.start()
        if p >= run_end:
            stop = _LITERAL_STOP_RE.search(prose, p)
            run_end = stop.start() if stop else len(prose)
            run_bad = bool(stop) and stop.group() in "<\x02"
        if run_bad:
            out.append(prose[last : m.end()])
            out.append("\\")
            last = m.end()
    out.append(prose[last:])
    return "".join(out)
