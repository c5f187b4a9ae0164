"""Neutralise user/model text before it reaches ``st.markdown``.

Every piece of user or model text goes through :func:`safe_markdown` (or
:func:`safe_inline` for one-line labels) and the result is passed to
``st.markdown`` *without* ``unsafe_allow_html``.  Pure Python, no Streamlit.

What Streamlit 1.67 does on its own (checked in its JS bundle and a browser):

* raw HTML is already shown as text (react-markdown turns raw nodes into
  text), but HTML *entities* are decoded, so ``&#58;smile:`` still becomes
  an emoji and ``&#106;avascript:`` is decoded inside link destinations;
* its url transform only rewrites ``javascript:``/``vbscript:`` to ``#``;
  ``data:``, ``file:`` and relative links stay live, and ``![](http://…)``
  images are fetched;
* math (remark-math + KaTeX) is switched on for the whole message only when
  a ``$…$``/``$$…$$`` is detected, after which any ``$`` pair is math;
  ``\\(…\\)`` / ``\\[…\\]`` are not math;
* ``:red[x]``-style directives (and a bare ``:name``, which silently eats the
  text) are parsed by remark-directive: ``\\:`` stops them.  Emoji
  shortcodes, ``:streamlit:`` and ``:material/…:`` are matched on the final
  text nodes, where the backslash is already gone, so a WORD JOINER (U+2060,
  invisible) is put after their first colon.

Also: st.markdown first runs ``textwrap.dedent(body).strip()``, so an
indented first line is not code there; we apply the same cleaning first.

Design: a small CommonMark block parser (containers, lazy lines, fences,
indented code, tables, definitions) splits code blocks from the rest; an
inline tokenizer cuts code spans and math out of the rest; only the
remaining prose is rewritten, into a canonical form: every ``[``, ``]``,
``<``, lone backtick and ``$`` is backslash-escaped unless it belongs to a
link we rebuilt ourselves (http/https/mailto only) or to a code/math atom.
So whatever CommonMark would have made of the input, the output can only
contain links we emitted.  Definitions and display math are re-emitted in a
form whose block structure does not depend on Streamlit's math detection.
This was checked by fuzzing against Streamlit in Chromium (see the tests).
"""

from __future__ import annotations

import bisect
import html
import re
import textwrap
from typing import Dict, List, Optional, Tuple

__all__ = ["safe_markdown", "safe_inline", "is_allowed_url"]

WORD_JOINER = "\u2060"

# C0 controls except \t and \n (and DEL) are dropped: they have no business in
# chat text and browsers strip some of them inside URLs.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _clean(text: object) -> str:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_RE.sub("", text)


# ---------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------

_ALLOWED_LINK_RE = re.compile(r"(?i)(?:https?://|mailto:)")
_ALLOWED_IMAGE_RE = re.compile(r"(?i)https?://")
_ESC_OR_ENTITY_RE = re.compile(
    r"\\([!-/:-@\[-`{-~])|&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
)
# Any whitespace/control char makes the URL suspicious (browsers silently drop
# tabs/newlines, so "java\tscript:" would still be javascript:).
_URL_BAD_CHARS_RE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029\u00a0]")


def _decode_destination(raw: str) -> str:
    """What CommonMark turns a link destination into (escapes + entities)."""

    def repl(m: "re.Match[str]") -> str:
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


def _encode_destination(url: str) -> str:
    # Backslash-escape everything CommonMark/GFM could read as syntax so the
    # href is exactly ``url`` (no entity decoding, no table-cell split).
    return "".join("\\" + c if c in _DEST_ESCAPE else c for c in url)


# ---------------------------------------------------------------------------
# Block tokenizer: code blocks vs. the rest
# ---------------------------------------------------------------------------

_LIST_RE = re.compile(r"([-+*]|(\d{1,9})[.)])(?=[ \t]|$)")
_HR_RE = re.compile(r"(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_FENCE_OPEN_RE = re.compile(r"(`{3,}|~{3,})(.*)$")
_FENCE_CLOSE_RE = re.compile(r"(`{3,}|~{3,})[ \t]*$")
_HEADING_RE = re.compile(r"#{1,6}(?:[ \t]|$)")
_SETEXT_RE = re.compile(r"(?:=+|-+)[ \t]*$")
_DELIM_ROW_RE = re.compile(r"(?:\|[ \t]*)?:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*(?:\|[ \t]*)?$")
_CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")


def _cells(row: str) -> int:
    """Cell count of a GFM table row (a header must match its delimiter row)."""
    r = row.strip()
    if r.startswith("|"):
        r = r[1:]
    if r.endswith("|") and not r.endswith("\\|"):
        r = r[:-1]
    return len(_CELL_SPLIT_RE.split(r))


_DEF_RE = re.compile(
    r"\[(?P<label>(?:[^\[\]\\\n]|\\.){1,999})\]:[ \t]*"
    r"(?P<dest><[^<>\n]*>|[^\s<]\S*)"
    r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?[ \t]*$"
)


# An invisible definition nothing can reference (all other "[" are escaped).
# Each gets its own label, so even if one were read as text, its "[...]"
# could not resolve to another one.
NEUTRAL_DEFINITION = "[" + WORD_JOINER + "]: <>"


def _neutral_definition(n: int) -> str:
    return NEUTRAL_DEFINITION if n == 0 else "[" + WORD_JOINER + str(n) + "]: <>"


def _valid_def(dm: "re.Match[str]") -> bool:
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


_SPACES_RE = re.compile(" *")


def _lead(s: str, pos: int = 0) -> int:
    """Number of spaces at s[pos:] (lines are tab-expanded before analysis)."""
    return _SPACES_RE.match(s, pos).end() - pos


def _label_key(label: str) -> str:
    return " ".join(label.split()).casefold()


_MAX_NESTING = 100
# first characters that may start anything but paragraph text
_BLOCK_CHARS = frozenset(" \t>#`~-+*_=[|:$\\0123456789")


class _TooDeep(Exception):
    """Absurdly nested quotes/lists: not worth modelling, escape everything."""


def _fence(body: str) -> "Optional[re.Match[str]]":
    fm = _FENCE_OPEN_RE.match(body)
    if fm and fm.group(1)[0] == "`" and "`" in fm.group(2):
        return None  # "```foo`" is inline code, not a fence
    return fm


def _starts_block(rest: str, indented_code: bool) -> bool:
    """Does this line open a block that ends a lazy paragraph / table?"""
    sp = _lead(rest)
    if sp >= 4:
        return indented_code
    body = rest[sp:]
    return bool(
        body.startswith(">")
        or _LIST_RE.match(body)
        or _fence(body)
        or _HEADING_RE.match(body)
        or _HR_RE.match(body)
    )


class _Container:
    __slots__ = ("quote", "width", "has_content")

    def __init__(self, quote: bool, width: int = 0) -> None:
        self.quote = quote  # block quote, else list item
        self.width = width  # list item: columns its content is indented by
        self.has_content = False


def _match_containers(a: str, stack: List[_Container]) -> Tuple[int, int]:
    """How many open containers line ``a`` continues, and where its rest starts."""
    pos, matched = 0, 0
    for c in stack:
        if c.quote:
            sp = _lead(a, pos)
            if sp <= 3 and a.startswith(">", pos + sp):
                pos += sp + 1
                if a.startswith(" ", pos):
                    pos += 1
                matched += 1
                continue
            break
        sp = _lead(a, pos)
        if sp == len(a) - pos:  # blank (after the enclosing quotes' markers)
            if not c.has_content:
                break  # an empty list item ends at a blank line
            matched += 1
            continue
        if sp >= c.width:
            pos += c.width
            matched += 1
            continue
        break
    return matched, pos


def _prefix(stack: List[_Container]) -> str:
    """Line prefix that continues every container in ``stack``."""
    return "".join("> " if c.quote else " " * c.width for c in stack)


_DISPLAY_SCAN = 100  # lines a display-math block may span


def _display_math(lines: List[str], i: int, body: str, stack: List[_Container]) -> Tuple[int, Optional[List[str]]]:
    """Display math opening with ``body`` on line i.

    Returns (last line looked at, content lines or None if there is no
    usable block there).
    """
    if body.rstrip() == "$$":
        closer, parts = "$$", []
    elif body.startswith("\\["):
        closer, first = "\\]", body[2:].rstrip()
        if first.endswith("\\]") and "\\]" not in first[:-2]:
            content = first[:-2].strip()
            if not content or _CITATION_RE.fullmatch(content):
                return i, None
            return i, [content]
        parts = [first] if first.strip() else []
    else:
        return i, None
    k = i
    for k in range(i + 1, min(len(lines), i + 1 + _DISPLAY_SCAN)):
        a = lines[k].expandtabs(4)
        matched, pos = _match_containers(a, stack)
        t = (a[pos:] if matched == len(stack) else a).strip()
        if not t:
            return k, None  # no blank lines inside: keep it simple
        if closer == "$$" and t == "$$":
            return k, parts
        if closer == "\\]" and t.endswith("\\]"):
            t = t[:-2].strip()
            if t:
                parts.append(t)
            return k, parts
        parts.append(t)
    return k, None


def _display_block(lines: List[str], i: int, body: str, stack: List[_Container]) -> Tuple[int, Optional[List[str]]]:
    """Like _display_math, but None also when the content is unsafe as prose.

    The content may come back empty (it held only \\href/\\url junk).
    """
    end, parts = _display_math(lines, i, body, stack)
    if parts is None:
        return end, None
    joined = "\n".join(parts)
    if not joined.strip() or "$$" in joined or not _math_ok(joined):
        return end, None
    return end, [p.strip() for p in (_strip_katex_links(p) for p in parts) if p.strip()]


def _blocks(text: str, defs: Dict[str, str]) -> List[Tuple[str, str]]:
    r"""Split into ('code', s) and ('text', s) segments; collect link defs.

    A small CommonMark block parser (after commonmark.js/micromark): block
    quotes and list items are containers, lazy paragraph continuation is
    honoured, and fenced/indented code is reported as code (emitted
    verbatim).  Lines are analysed with tabs expanded to 4-column stops, which
    is how CommonMark measures them.  Two things are rewritten here, as
    verbatim lines:

    * link reference definitions are recorded in ``defs`` and replaced by an
      empty one (NEUTRAL_DEFINITION);
    * display math (``\[ … \]`` or ``$$ … $$`` on their own lines) becomes a
      ``$$`` block whose content lines are indented 4 more columns and which
      is surrounded by blank lines: the same block structure whether or not
      Streamlit switches math on (if it does not, it is one paragraph).
    """
    lines = text.split("\n")
    n = len(lines)
    out: List[Tuple[str, str]] = []
    stack: List[_Container] = []
    leaf = None  # None, 'para', 'table', 'fence' or 'icode'
    defs_only = False  # the open paragraph so far holds only definitions
    para_last = ""  # last paragraph line: a table header if a delimiter row follows
    fence_ch, fence_len = "", 0
    n_defs = 0
    no_display_before = 0  # lines already scanned in vain for display math
    li = 0

    def display(body: str, at_stack: List[_Container]) -> Optional[Tuple[int, List[str]]]:
        # each line is scanned at most once by a failed attempt: linear time
        nonlocal no_display_before
        if li - 1 < no_display_before or not (body.startswith("$$") or body.startswith("\\[")):
            return None
        end, parts = _display_block(lines, li - 1, body, at_stack)
        if parts is None:
            no_display_before = end + 1
            return None
        return end, parts

    while li < n:
        line = lines[li]
        li += 1
        if not stack and leaf != "fence" and line and line[0] not in _BLOCK_CHARS:
            # fast path: a top-level line that can only be paragraph text
            out.append(("text", line))
            if leaf != "table":
                leaf, defs_only, para_last = "para", False, line
            continue
        a = line.expandtabs(4) if "\t" in line else line
        # 1. which open containers does this line continue?
        matched, pos = _match_containers(a, stack) if stack else (0, 0)
        all_matched = matched == len(stack)
        rest = a[pos:]
        blank = not rest.strip()

        # 2. an open code block continues only if every container did
        open_leaf = leaf
        if leaf == "fence":
            if all_matched:
                out.append(("code", line))
                sp = _lead(rest)
                cm = _FENCE_CLOSE_RE.match(rest, sp)
                if sp <= 3 and cm and cm.group(1)[0] == fence_ch and len(cm.group(1)) >= fence_len:
                    leaf = None
                continue
            leaf = None
        elif leaf == "icode":
            if all_matched and (blank or _lead(rest) >= 4):
                out.append(("code", line))
                continue
            leaf = None
        elif leaf == "table":
            # rows run until a blank line or another block; a table is not a
            # paragraph, so what follows may start anything (even "2." or an
            # empty list item)
            if all_matched and not blank and not _starts_block(rest, True):
                out.append(("text", line))
                continue
            leaf = None
        cut = leaf in ("para", "table")  # a display block must not join these

        # 3. lazy paragraph continuation: containers stay open
        if leaf == "para" and not all_matched and not blank:
            sp = _lead(rest)
            if not _starts_block(rest, False) and not (sp <= 3 and display(rest[sp:], stack[:matched])):
                out.append(("text", line))
                defs_only = False
                para_last = rest
                continue
        if not all_matched:
            del stack[matched:]
            leaf = None

        # 4. new containers.  With a paragraph (or an indented code block,
        # even after blank lines) open in the same container, a list item
        # "interrupts" it; micromark keeps that flag for the whole line.
        interrupt = leaf == "para" or (open_leaf == "icode" and all_matched)
        while True:
            sp = _lead(rest)
            if sp >= 4:
                break
            body = rest[sp:]
            if len(stack) >= _MAX_NESTING:
                raise _TooDeep()
            if body.startswith(">"):
                q = sp + 1 + (1 if body.startswith("> ") else 0)
                if stack:
                    stack[-1].has_content = True
                stack.append(_Container(True))
                rest = rest[q:]
                leaf = None
                cut = False
                continue
            lm = _LIST_RE.match(body)
            if not lm or _HR_RE.match(body):
                break
            after = body[lm.end():]
            content = after.strip()
            if interrupt:
                # interrupting a paragraph: only "-", "+", "*", "1." with text
                num = lm.group(2)
                if not content or (num is not None and num != "1"):
                    break
            gap = _lead(after)
            pad = gap if 1 <= gap <= 4 and content else 1
            if stack:
                stack[-1].has_content = True
            item = _Container(False, sp + len(lm.group(1)) + pad)
            stack.append(item)
            rest = rest[item.width:] if content else ""
            leaf = None
            cut = False
            if not content:
                break

        # 5. the leaf block
        if stack and rest.strip():
            stack[-1].has_content = True
        sp = _lead(rest)
        body = rest[sp:]
        if not body:
            out.append(("text", line))
            if leaf == "para":
                leaf = None
            continue
        if sp >= 4:
            if leaf == "para":
                out.append(("text", line))  # indented code cannot interrupt a paragraph
            else:
                out.append(("code", line))
                leaf = "icode"
            continue
        dmath = display(body, stack)
        if dmath:
            parts = dmath[1]
            cont = _prefix(stack)
            if cut:
                out.append(("code", cont.rstrip()))
            if parts:
                out.append(("code", a[: len(a) - len(body)] + "$$"))
                out.extend(("code", cont + "    " + p) for p in parts)
                out.append(("code", cont + "$$"))
            out.append(("code", cont.rstrip()))
            if stack:
                stack[-1].has_content = True
            li = dmath[0] + 1
            leaf = None
            continue
        fm = _fence(body)
        if fm:
            out.append(("code", line))
            leaf, fence_ch, fence_len = "fence", fm.group(1)[0], len(fm.group(1))
            continue
        if _HEADING_RE.match(body) or _HR_RE.match(body):
            out.append(("text", line))
            leaf = None
            continue
        if leaf is None or (leaf == "para" and defs_only):
            dm = _DEF_RE.match(body)
            if dm and _valid_def(dm):
                dest = dm.group("dest")
                if dest.startswith("<"):
                    dest = dest[1:-1]
                defs.setdefault(_label_key(dm.group("label")), _decode_destination(dest))
                # Keep an empty, unreferenced definition in its place: it is
                # invisible like the original and shapes the blocks around it
                # the same way.  References are resolved to inline links.
                out.append(("code", a[: len(a) - len(body)] + _neutral_definition(n_defs)))
                n_defs += 1
                leaf, defs_only = "para", True
                continue
        if (
            leaf == "para"
            and not defs_only
            and "|" in body
            and _DELIM_ROW_RE.match(body)
            and _cells(body) == _cells(para_last)
        ):
            out.append(("text", line))  # GFM table: the last paragraph line is its header
            leaf = "table"
            continue
        if leaf == "para" and not defs_only and _SETEXT_RE.match(body):
            out.append(("text", line))
            leaf = None
            continue
        out.append(("text", line))
        leaf, defs_only, para_last = "para", False, rest

    segs: List[Tuple[str, str]] = []
    cur_kind, cur_lines = None, []  # type: Optional[str], List[str]
    for kind, text_line in out:
        if kind != cur_kind and cur_lines:
            segs.append((cur_kind, "\n".join(cur_lines)))
            cur_lines = []
        cur_kind = kind
        cur_lines.append(text_line)
    if cur_lines:
        segs.append((cur_kind, "\n".join(cur_lines)))
    return segs


# ---------------------------------------------------------------------------
# Inline tokenizer: code spans and math atoms vs. prose
# ---------------------------------------------------------------------------

_TABLE_DELIM_RE = re.compile(  # unambiguous: no two adjacent [ \t]* runs
    r"(?m)^[ \t>]*(?:\|[ \t]*)?:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*(?:\|[ \t]*)?$"
)
_INLINE_SPECIAL_RE = re.compile(r"[\\`$]")
_RAW_PIPE_RE = re.compile(r"(?<!\\)\|")
_NUMBER_RE = re.compile(r"[+\-]?[\d.,\s]+%?")  # plus "has a digit", checked apart
_CITATION_RE = re.compile(r"[\d\s,-]+")
# Math content that would be dangerous if CommonMark read it as prose (which
# happens when Streamlit's math detection does not fire): links, autolinks,
# definitions, code-span backticks, fences, the logo shortcode, and the word
# joiner our neutral definitions use as labels.
_MATH_UNSAFE_RE = re.compile(
    r"\]\(|\]:|`|~~~|<[A-Za-z][A-Za-z0-9+.\-]{1,31}:|(?i:xmpp:)|:streamlit:|\u2060"
)
_KATEX_LINK_RES = (
    re.compile(r"\\href\s*\{[^{}]*\}"),  # keep the {text} argument
    re.compile(r"\\url\s*\{[^{}]*\}"),
    re.compile(r"\\includegraphics\s*(?:\[[^\]]*\])?\s*\{[^{}]*\}"),
    re.compile(r"\\(?:href|url|includegraphics)(?![A-Za-z])"),
)


def _strip_katex_links(math: str) -> str:
    if "\\" in math:
        for rx in _KATEX_LINK_RES:
            math = rx.sub("", math)
    return math


def _math_ok(content: str) -> bool:
    return not _MATH_UNSAFE_RE.search(content)


class _Runs:
    """Maximal runs of one character, for linear 'next run of length N'."""

    def __init__(self, s: str, ch: str) -> None:
        self.by_len: Dict[int, List[int]] = {}
        for m in re.finditer(re.escape(ch) + "+", s):
            self.by_len.setdefault(m.end() - m.start(), []).append(m.start())

    def next_run(self, length: int, after: int) -> int:
        lst = self.by_len.get(length)
        if not lst:
            return -1
        k = bisect.bisect_left(lst, after)
        return lst[k] if k < len(lst) else -1


def _inline_atoms(seg: str) -> List[Tuple[bool, str]]:
    """Split a text segment into (is_atom, text) pieces.

    Atoms (code spans, math) are emitted verbatim; everything else is prose.
    Code spans and math must close on their own line (a table row or list
    item could otherwise split them differently from us).
    """
    pieces: List[Tuple[bool, str]] = []
    n = len(seg)
    tableish = bool(_TABLE_DELIM_RE.search(seg)) and "|" in seg
    ticks = _Runs(seg, "`")
    dollars = _Runs(seg, "$")
    newlines = [m.start() for m in re.finditer("\n", seg)]
    cache: Dict[str, int] = {}

    def find_cached(needle: str, start: int) -> int:
        # positions only move forward, so a cached hit ahead of us stays valid
        pos = cache.get(needle, -2)
        if pos == -1 or (pos >= start):
            return pos
        pos = seg.find(needle, start)
        cache[needle] = pos
        return pos

    def line_end(pos: int) -> int:
        k = bisect.bisect_left(newlines, pos)
        return newlines[k] if k < len(newlines) else n

    def pipe_bad(content: str) -> bool:
        return tableish and bool(_RAW_PIPE_RE.search(content))

    prose_start = 0
    i = 0

    def add_atom(start: int, end: int, text: str) -> None:
        nonlocal prose_start
        if start > prose_start:
            pieces.append((False, seg[prose_start:start]))
        elif pieces and pieces[-1][0] and pieces[-1][1].endswith("$") and text.startswith("$"):
            pieces.append((False, " "))  # "$a$" + "$b$" must not fuse into "$$"
        pieces.append((True, text))
        prose_start = end

    while True:
        m = _INLINE_SPECIAL_RE.search(seg, i)
        if not m:
            break
        i = m.start()
        c = seg[i]
        if c == "\\":
            nxt = seg[i + 1] if i + 1 < n else ""
            if nxt == "(":
                end = find_cached("\\)", i + 2)
                if 0 <= end < line_end(i):
                    content = seg[i + 2:end].strip()
                    follow = seg[end + 2:end + 3]
                    if content and "$" not in content and _math_ok(content) and not pipe_bad(content):
                        content = _strip_katex_links(content).strip()
                        # "$x$5" is not detected as math by Streamlit
                        delim = "$$" if follow.isdigit() else "$"
                        add_atom(i, end + 2, delim + content + delim if content else "")
                        i = end + 2
                        continue
            elif nxt == "[":
                # (display blocks on their own lines were done by _blocks)
                end = find_cached("\\]", i + 2)
                if 0 <= end < line_end(i):
                    content = seg[i + 2:end].strip()
                    if (
                        content
                        and not _CITATION_RE.fullmatch(content)
                        and "$" not in content
                        and _math_ok(content)
                        and not pipe_bad(content)
                    ):
                        content = _strip_katex_links(content).strip()
                        add_atom(i, end + 2, "$$" + content + "$$" if content else "")
                        i = end + 2
                        continue
            i += 2 if nxt in _ASCII_PUNCT else 1  # escape pair stays prose
            continue
        if c == "`":
            run = i
            while run < n and seg[run] == "`":
                run += 1
            length = run - i
            close = ticks.next_run(length, run)
            if close >= 0 and close < line_end(i) and not pipe_bad(seg[run:close]):
                add_atom(i, close + length, seg[i:close + length])
                i = close + length
                continue
            i = run  # unmatched: prose (escaped later)
            continue
        # c == "$"
        run = i
        while run < n and seg[run] == "$":
            run += 1
        length = run - i
        # Math must close on its own line: a "$$" block across lines would
        # parse differently depending on whether Streamlit turns math on
        # (display blocks on their own lines were already done by _blocks).
        close = dollars.next_run(length, run)
        atom_end = close + length
        if close > line_end(i):
            close = -1
        if close >= 0:
            content = seg[run:close]
            ok = (
                bool(content.strip())
                and content[-1] != "\\"  # "\$" may or may not close: avoid
                and _math_ok(content)
                and not pipe_bad(content)
            )
            if length == 1:
                ok = (
                    ok
                    and not content[0].isspace()
                    and not content[-1].isspace()
                    and not (_NUMBER_RE.fullmatch(content) and any(ch.isdigit() for ch in content))
                    and not seg[close + 1:close + 2].isdigit()
                )
            if ok:
                content = _strip_katex_links(content)
                if length == 1:
                    content = content.strip()
                text = seg[i:run] + content + seg[close:atom_end]
                add_atom(i, atom_end, text if content.strip() else "")
                i = atom_end
                continue
        i = i + 1 if length == 1 else run
    if prose_start < n:
        pieces.append((False, seg[prose_start:]))
    return pieces


# ---------------------------------------------------------------------------
# Prose rewriting
# ---------------------------------------------------------------------------

_PROSE_SPECIAL_RE = re.compile(r"[\\\[\]!<&$:`\x02|]")
_PROSE_SPECIAL_NOPIPE_RE = re.compile(r"[\\\[\]!<&$:`\x02]")
_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_AUTOLINK_RE = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\x00-\x20<>]*)>")
_EMAIL_AUTOLINK_RE = re.compile(
    r"<([A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*)>"
)
# `:name:` shapes that Streamlit turns into emoji/icons/logo on text nodes
_SHORTCODE_RE = re.compile(r":(?:(?=[\w+\-/]*[A-Za-z])[\w+\-/]+|[+\-]1|100|1234):", re.ASCII)
_TASK_PREFIX_RE = re.compile(r"(?:[ \t]*>)*[ \t]*(?:[-+*]|\d{1,9}[.)])[ \t]+")
_TASK_RE = re.compile(r"\[[ xX]\](?=[ \t])")
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
_MAX_LABEL = 999
_BANG_BEFORE_ATOM_RE = re.compile(r"(\\*)!(?=\x02)")
_LEADING_ORDERED_RE = re.compile(r"(\d{1,9})[.)]")


class _Prose:
    """Rewrites one prose string (code/math replaced by \\x02N\\x03)."""

    def __init__(self, s: str, defs: Dict[str, str], escape_pipes: bool, atoms: List[str]) -> None:
        self.s = s
        self.atoms = atoms  # shared with _render_text; links we build go here too
        self.defs = defs
        self.escape_pipes = escape_pipes
        self.match = self._match_brackets(s)

    @staticmethod
    def _match_brackets(s: str) -> Dict[int, int]:
        # Linear bracket matching (escapes and placeholders skipped); the
        # stack resets at blank lines, which links cannot cross.
        match: Dict[int, int] = {}
        stack: List[int] = []
        for m in re.finditer(r"\\.|\x02[^\x03]*\x03|\n[ \t>]*\n|[\[\]]", s, re.S):
            t = m.group()
            if t == "[":
                stack.append(m.start())
            elif t == "]":
                if stack:
                    match[stack.pop()] = m.start()
            elif t[0] == "\n":
                stack = []
        return match

    def render(self, start: int, end: int, in_link: bool) -> str:
        s, out = self.s, []
        special = _PROSE_SPECIAL_RE if self.escape_pipes else _PROSE_SPECIAL_NOPIPE_RE
        i = start
        while i < end:
            m = special.search(s, i, end)
            if not m:
                out.append(s[i:end])
                break
            j = m.start()
            if j > i:
                out.append(s[i:j])
            i = j
            c = s[i]
            if c == "\x02":
                k = s.index("\x03", i) + 1
                out.append(s[i:k])
                i = k
            elif c == "\\":
                nxt = s[i + 1] if i + 1 < len(s) else ""
                if nxt == ":":
                    out.append(self._colon(i + 1, "\\:"))
                    i += 2
                elif nxt and nxt in _ASCII_PUNCT:
                    out.append(s[i:i + 2])  # an existing escape stays as is
                    i += 2
                elif nxt == "\x02":
                    out.append("\\\\")  # a literal backslash must not escape the atom
                    i += 1
                else:
                    out.append("\\")
                    i += 1
            elif c == "[" or (c == "!" and s.startswith("[", i + 1) and i + 1 < end):
                i = self._bracket(i, end, in_link, out)
            elif c == "]":
                out.append("\\]")
                i += 1
            elif c == "<":
                am = _AUTOLINK_RE.match(s, i, end) or _EMAIL_AUTOLINK_RE.match(s, i, end)
                if (
                    am
                    and not in_link
                    and "&" not in am.group(1)
                    and "\\" not in am.group(1)
                    and (am.re is _EMAIL_AUTOLINK_RE or is_allowed_url(am.group(1)))
                ):
                    out.append(self._atom(am.group(0)))
                    i = am.end()
                else:
                    out.append("\\<")
                    i += 1
            elif c == "&":
                out.append("\\&" if _ENTITY_RE.match(s, i, end) else "&")
                i += 1
            elif c == "$":
                out.append("\\$")
                i += 1
            elif c == ":":
                out.append(self._colon(i, ":"))
                i += 1
            elif c == "`":
                out.append("\\`")
                i += 1
            elif c == "|":
                out.append("\\|")
                i += 1
            else:  # "!" not starting an image
                out.append(c)
                i += 1
        return "".join(out)

    def _atom(self, text: str) -> str:
        # Finished links are atoms too, so a later pass (GFM literal autolink
        # breaking) cannot touch their URLs.
        self.atoms.append(text)
        return "\x02%d\x03" % (len(self.atoms) - 1)

    def _colon(self, i: int, prefix: str) -> str:
        s = self.s
        nxt = s[i + 1] if i + 1 < len(s) else ""
        out = prefix
        if prefix == ":" and (nxt.isascii() and nxt.isalpha()):
            out = "\\:"  # no remark-directive (:red[..], :name)
        if _SHORTCODE_RE.match(s, i):
            out += WORD_JOINER  # no emoji / icon / logo substitution
        return out

    def _is_task(self, ob: int) -> bool:
        # "[ ]"/"[x]" right after a list marker (look back a bounded distance)
        s = self.s
        if not _TASK_RE.match(s, ob) or ob == 0 or s[ob - 1] not in " \t":
            return False
        ls = s.rfind("\n", max(0, ob - 100), ob) + 1
        if ls == 0 and ob > 100:
            return False
        return bool(_TASK_PREFIX_RE.fullmatch(s, ls, ob))

    def _bracket(self, i: int, end: int, in_link: bool, out: List[str]) -> int:
        s = self.s
        image = s[i] == "!"
        ob = i + 1 if image else i
        if not image and not in_link and self._is_task(ob):
            out.append(s[ob:ob + 3])  # GFM task list checkbox
            return ob + 3
        cb = self.match.get(ob, -1)
        if cb < 0 or cb >= end:
            out.append("!\\[" if image else "\\[")
            return ob + 1
        text_start, text_end = ob + 1, cb
        url: Optional[str] = None
        stop = -1
        dm = _INLINE_DEST_RE.match(s, cb + 1, end)
        if dm:
            raw = dm.group("adest") if dm.group("adest") is not None else dm.group("dest")
            url = _decode_destination(raw)
            stop = dm.end()
        else:
            # a reference: [text][label], [label][] or [label]
            lo, hi, stop = text_start, text_end, cb + 1
            if s.startswith("[", cb + 1):
                cb2 = self.match.get(cb + 1, -1)
                if 0 <= cb2 < end:
                    if cb2 > cb + 2:
                        lo, hi = cb + 2, cb2
                    stop = cb2 + 1
            # CommonMark labels hold at most 999 characters; checking that before slicing keeps deeply
            # nested brackets linear (each "[" would otherwise copy and fold all the text inside it)
            if self.defs and hi - lo <= _MAX_LABEL:
                label = s[lo:hi]
                key = _label_key(label)
                if key and "\x02" not in label and key in self.defs:
                    url = self.defs[key]
        if url is None:
            # not a link: the bracket is plain text
            out.append("!\\[" if image else "\\[")
            return ob + 1
        inner = _break_literal_autolinks(self.render(text_start, text_end, True))
        if image:
            alt = "🖼 " + inner if inner.strip() else "🖼"
            if not in_link and is_allowed_url(url, image=True):
                out.append(self._atom("[" + alt + "](" + _encode_destination(url) + ")"))
            else:
                out.append(alt)
        elif not in_link and is_allowed_url(url):
            out.append(self._atom("[" + inner + "](" + _encode_destination(url) + ")"))
        else:
            out.append(inner)  # inert: keep the text, drop the URL
        return stop


_PLACEHOLDER_RE = re.compile("\x02(\\d+)\x03")
_LITERAL_START_RE = re.compile(r"(?i)(?:www(?=\.)|https?(?=://))")
_LITERAL_STOP_RE = re.compile(r"[\s<\x02]")


def _break_literal_autolinks(prose: str) -> str:
    """Stop GFM literal autolinks (www., http://) from eating what follows.

    A literal runs to the next whitespace or "<", so it would swallow the
    backslash of our "\\<" (re-arming an autolink) or the opening backtick of
    a code span (turning the rest of the code into prose).  Such literals get
    an escape ("www\\.", "https\\://") so they are plain text.
    """
    if "www" not in prose.lower() and "http" not in prose.lower():
        return prose
    out: List[str] = []
    last = 0
    run_end, run_bad = -1, False
    for m in _LITERAL_START_RE.finditer(prose):
        p = m.start()
        if p >= run_end:
            stop = _LITERAL_STOP_RE.search(prose, p)
            run_end = stop.start() if stop else len(prose)
            run_bad = bool(stop) and stop.group() in "<\x02"
        if run_bad:
            out.append(prose[last:m.end()])
            out.append("\\")
            last = m.end()
    out.append(prose[last:])
    return "".join(out)


def _render_text(seg: str, defs: Dict[str, str], escape_pipes: bool = False) -> str:
    pieces = _inline_atoms(seg)
    atoms: List[str] = []
    buf: List[str] = []
    for is_atom, text in pieces:
        if is_atom:
            buf.append("\x02%d\x03" % len(atoms))
            atoms.append(text)
        else:
            buf.append(text)
    prose = "".join(buf)
    rendered = _Prose(prose, defs, escape_pipes, atoms).render(0, len(prose), False)
    # "!" + a link we built would be an image: escape a bare "!" before atoms
    if "!\x02" in rendered:
        rendered = _BANG_BEFORE_ATOM_RE.sub(
            lambda m: m.group(0) if len(m.group(1)) % 2 else m.group(1) + "\\!", rendered
        )
    # on the final prose: our rewriting may have removed the whitespace that
    # used to end a literal autolink
    rendered = _break_literal_autolinks(rendered)
    for _ in range(3):  # link atoms may contain code atoms
        if "\x02" not in rendered:
            break
        rendered = _PLACEHOLDER_RE.sub(lambda m: atoms[int(m.group(1))], rendered)
    return rendered


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def _streamlit_clean(text: str) -> str:
    # st.markdown runs textwrap.dedent(body).strip() before rendering; we must
    # tokenize exactly what it will render (an indented code block at the
    # start would otherwise turn into prose).
    return textwrap.dedent(text).strip()


def _pipeline(text: str) -> str:
    defs: Dict[str, str] = {}
    out = []
    for kind, seg in _blocks(text, defs):
        out.append(seg if kind == "code" else _render_text(seg, defs))
    return "\n".join(out).rstrip()


def safe_markdown(text: str) -> str:
    """Markdown that st.markdown (without unsafe_allow_html) renders harmlessly."""
    try:
        text = _streamlit_clean(_clean(text))
        out = _pipeline(text)
        if out[:1].isspace():
            # Our rewriting emptied the start of the first line (a removed
            # \url, link text starting with a space), so Streamlit's
            # dedent/strip would shift the rest.  Sanitise what Streamlit will
            # actually render instead.
            out = _pipeline(_streamlit_clean(out))
            if out[:1].isspace():  # pragma: no cover - defensive
                return _fallback(text)
        return out
    except _TooDeep:
        return _fallback(text)
    except Exception:  # pragma: no cover - last resort, must never raise
        return _fallback(text)


def _fallback(text: object) -> str:
    # Escape every ASCII punctuation char (and break shortcodes): dull but inert.
    try:
        t = _streamlit_clean(_clean(text))
        return "".join("\\" + c + WORD_JOINER if c == ":" else "\\" + c if c in _ASCII_PUNCT else c for c in t)
    except Exception:
        return ""


def safe_inline(text: str, max_len: int = 200) -> str:
    """One-line, block-free safe Markdown for labels (titles, file names)."""
    try:
        t = " ".join(_clean(text).split())
        if max_len is not None and max_len >= 1 and len(t) > max_len:
            t = t[: max_len - 1].rstrip() + "…"
        out = _render_text(t, {}, escape_pipes=True)
        # No block syntax: a leading "#", ">", "-", "+", "*", "~" or "1." would
        # make a heading, quote, list, rule or fence.
        m = _LEADING_ORDERED_RE.match(out)
        if m:
            out = m.group(1) + "\\" + out[m.end(1):]
        elif out[:1] in ("#", ">", "-", "+", "*", "~", "=", "_"):
            out = "\\" + out
        return out
    except Exception:  # pragma: no cover
        return _fallback(text)
