"""What one line is, for the block parser: container markers, fences, headings, rules, table rows.

Lines are analysed with tabs expanded to 4-column stops, which is how CommonMark measures them.
"""

from __future__ import annotations

import re

from glmchat.chat.render.text import lead

LIST_RE = re.compile(r"([-+*]|(\d{1,9})[.)])(?=[ \t]|$)")
HR_RE = re.compile(r"(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_FENCE_OPEN_RE = re.compile(r"(`{3,}|~{3,})(.*)$")
FENCE_CLOSE_RE = re.compile(r"(`{3,}|~{3,})[ \t]*$")
HEADING_RE = re.compile(r"#{1,6}(?:[ \t]|$)")
SETEXT_RE = re.compile(r"(?:=+|-+)[ \t]*$")
DELIM_ROW_RE = re.compile(r"(?:\|[ \t]*)?:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*(?:\|[ \t]*)?$")
_CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")

MAX_NESTING = 100
# first characters that may start anything but paragraph text
BLOCK_CHARS = frozenset(" \t>#`~-+*_=[|:$\\0123456789")


class TooDeep(Exception):
    """Absurdly nested quotes/lists: not worth modelling, escape everything."""


def cells(row: str) -> int:
    """Cell count of a GFM table row (a header must match its delimiter row)."""
    r = row.strip()
    if r.startswith("|"):
        r = r[1:]
    if r.endswith("|") and not r.endswith("\\|"):
        r = r[:-1]
    return len(_CELL_SPLIT_RE.split(r))


def fence(body: str) -> re.Match[str] | None:
    fm = _FENCE_OPEN_RE.match(body)
    if fm and fm.group(1)[0] == "`" and "`" in fm.group(2):
        return None  # "```foo`" is inline code, not a fence
    return fm


def starts_block(rest: str, indented_code: bool) -> bool:
    """Does this line open a block that ends a lazy paragraph / table?"""
    sp = lead(rest)
    if sp >= 4:
        return indented_code
    body = rest[sp:]
    return bool(
        body.startswith(">") or LIST_RE.match(body) or fence(body) or HEADING_RE.match(body) or HR_RE.match(body)
    )


class Container:
    __slots__ = ("quote", "width", "has_content")

    def __init__(self, quote: bool, width: int = 0) -> None:
        self.quote = quote  # block quote, else list item
        self.width = width  # list item: columns its content is indented by
        self.has_content = False


def list_item(sp: int, body: str, interrupt: bool) -> tuple[Container, bool] | None:
    """The list item that ``body`` (indented ``sp``) opens, and whether it has content on this line."""
    lm = LIST_RE.match(body)
    if not lm or HR_RE.match(body):
        return None
    after = body[lm.end() :]
    content = after.strip()
    if interrupt:
        # interrupting a paragraph: only "-", "+", "*", "1." with text
        num = lm.group(2)
        if not content or (num is not None and num != "1"):
            return None
    gap = lead(after)
    pad = gap if 1 <= gap <= 4 and content else 1
    return Container(False, sp + len(lm.group(1)) + pad), bool(content)


def match_containers(a: str, stack: list[Container]) -> tuple[int, int]:
    """How many open containers line ``a`` continues, and where its rest starts."""
    pos, matched = 0, 0
    for c in stack:
        if c.quote:
            sp = lead(a, pos)
            if sp <= 3 and a.startswith(">", pos + sp):
                pos += sp + 1
                if a.startswith(" ", pos):
                    pos += 1
                matched += 1
                continue
            break
        sp = lead(a, pos)
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


def prefix(stack: list[Container]) -> str:
    """Line prefix that continues every container in ``stack``."""
    return "".join("> " if c.quote else " " * c.width for c in stack)
