"""The inline tokenizer: code spans and math atoms, cut out of a text segment before its prose is rewritten.

Atoms are emitted verbatim; everything else is prose.  Code spans and math
must close on their own line (a table row or list item could otherwise split
them differently from us).
"""

from __future__ import annotations

import bisect
import re

from glmchat.chat.render.latex import CITATION_RE, math_ok, strip_katex_links
from glmchat.chat.render.text import ASCII_PUNCT

_TABLE_DELIM_RE = re.compile(  # unambiguous: no two adjacent [ \t]* runs
    r"(?m)^[ \t>]*(?:\|[ \t]*)?:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*(?:\|[ \t]*)?$"
)
_INLINE_SPECIAL_RE = re.compile(r"[\\`$]")
_RAW_PIPE_RE = re.compile(r"(?<!\\)\|")
_NUMBER_RE = re.compile(r"[+\-]?[\d.,\s]+%?")  # plus "has a digit", checked apart

Piece = tuple[bool, str]  # (is_atom, text)


class _Runs:
    """Maximal runs of one character, for linear 'next run of length N'."""

    def __init__(self, s: str, ch: str) -> None:
        self.by_len: dict[int, list[int]] = {}
        for m in re.finditer(re.escape(ch) + "+", s):
            self.by_len.setdefault(m.end() - m.start(), []).append(m.start())

    def next_run(self, length: int, after: int) -> int:
        lst = self.by_len.get(length)
        if not lst:
            return -1
        k = bisect.bisect_left(lst, after)
        return lst[k] if k < len(lst) else -1


def inline_atoms(seg: str) -> list[Piece]:
    """Split a text segment into (is_atom, text) pieces.

    Atoms (code spans, math) are emitted verbatim; everything else is prose.
    Code spans and math must close on their own line (a table row or list
    item could otherwise split them differently from us).
    """
    return _AtomScanner(seg).scan()


class _AtomScanner:
    def __init__(self, seg: str) -> None:
        self.seg = seg
        self.n = len(seg)
        self.tableish = bool(_TABLE_DELIM_RE.search(seg)) and "|" in seg
        self.ticks = _Runs(seg, "`")
        self.dollars = _Runs(seg, "$")
        self.newlines = [m.start() for m in re.finditer("\n", seg)]
        self.cache: dict[str, int] = {}
        self.pieces: list[Piece] = []
        self.prose_start = 0

    def scan(self) -> list[Piece]:
        seg, i = self.seg, 0
        while True:
            m = _INLINE_SPECIAL_RE.search(seg, i)
            if not m:
                break
            i = m.start()
            c = seg[i]
            if c == "\\":
                i = self._backslash(i)
            elif c == "`":
                i = self._backticks(i)
            else:
                i = self._dollars(i)
        if self.prose_start < self.n:
            self.pieces.append((False, self.seg[self.prose_start :]))
        return self.pieces

    # -- helpers ---------------------------------------------------------------

    def _find(self, needle: str, start: int) -> int:
        # positions only move forward, so a cached hit ahead of us stays valid
        pos = self.cache.get(needle, -2)
        if pos == -1 or (pos >= start):
            return pos
        pos = self.seg.find(needle, start)
        self.cache[needle] = pos
        return pos

    def _line_end(self, pos: int) -> int:
        k = bisect.bisect_left(self.newlines, pos)
        return self.newlines[k] if k < len(self.newlines) else self.n

    def _pipe_bad(self, content: str) -> bool:
        return self.tableish and bool(_RAW_PIPE_RE.search(content))

    def _add_atom(self, start: int, end: int, text: str) -> None:
        pieces = self.pieces
        if start > self.prose_start:
            pieces.append((False, self.seg[self.prose_start : start]))
        elif pieces and pieces[-1][0] and pieces[-1][1].endswith("$") and text.startswith("$"):
            pieces.append((False, " "))  # "$a$" + "$b$" must not fuse into "$$"
        pieces.append((True, text))
        self.prose_start = end

    # -- one method per special character; each returns where to go on -------

    def _backslash(self, i: int) -> int:
        nxt = self.seg[i + 1] if i + 1 < self.n else ""
        stop = -1
        if nxt == "(":
            stop = self._paren_math(i)
        elif nxt == "[":
            stop = self._bracket_math(i)
        if stop >= 0:
            return stop
        return i + (2 if nxt in ASCII_PUNCT else 1)  # escape pair stays prose

    def _paren_math(self, i: int) -> int:
        """``\\( … \\)`` on one line becomes ``$…$``; -1 when it is not math."""
        seg = self.seg
        end = self._find("\\)", i + 2)
        if not 0 <= end < self._line_end(i):
            return -1
        content = seg[i + 2 : end].strip()
        follow = seg[end + 2 : end + 3]
        if not (content and "$" not in content and math_ok(content) and not self._pipe_bad(content)):
            return -1
        content = strip_katex_links(content).strip()
        # "$x$5" is not detected as math by Streamlit
        delim = "$$" if follow.isdigit() else "$"
        self._add_atom(i, end + 2, delim + content + delim if content else "")
        return end + 2

    def _bracket_math(self, i: int) -> int:
        """``\\[ … \\]`` within a line becomes ``$$…$$``; -1 when it is not math."""
        # (display blocks on their own lines were done by the block parser)
        seg = self.seg
        end = self._find("\\]", i + 2)
        if not 0 <= end < self._line_end(i):
            return -1
        content = seg[i + 2 : end].strip()
        if not (
            content
            and not CITATION_RE.fullmatch(content)
            and "$" not in content
            and math_ok(content)
            and not self._pipe_bad(content)
        ):
            return -1
        content = strip_katex_links(content).strip()
        self._add_atom(i, end + 2, "$$" + content + "$$" if content else "")
        return end + 2

    def _backticks(self, i: int) -> int:
        seg, n = self.seg, self.n
        run = i
        while run < n and seg[run] == "`":
            run += 1
        length = run - i
        close = self.ticks.next_run(length, run)
        if close >= 0 and close < self._line_end(i) and not self._pipe_bad(seg[run:close]):
            self._add_atom(i, close + length, seg[i : close + length])
            return close + length
        return run  # unmatched: prose (escaped later)

    def _dollars(self, i: int) -> int:
        seg, n = self.seg, self.n
        run = i
        while run < n and seg[run] == "$":
            run += 1
        length = run - i
        # Math must close on its own line: a "$$" block across lines would
        # parse differently depending on whether Streamlit turns math on
        # (display blocks on their own lines were already done by the block parser).
        close = self.dollars.next_run(length, run)
        atom_end = close + length
        if close > self._line_end(i):
            close = -1
        if close >= 0 and self._dollar_math_ok(run, close, length):
            content = strip_katex_links(seg[run:close])
            if length == 1:
                content = content.strip()
            text = seg[i:run] + content + seg[close:atom_end]
            self._add_atom(i, atom_end, text if content.strip() else "")
            return atom_end
        return i + 1 if length == 1 else run

    def _dollar_math_ok(self, run: int, close: int, length: int) -> bool:
        seg = self.seg
        content = seg[run:close]
        ok = (
            bool(content.strip())
            and content[-1] != "\\"  # "\$" may or may not close: avoid
            and math_ok(content)
            and not self._pipe_bad(content)
        )
        if length == 1:
            ok = (
                ok
                and not content[0].isspace()
                and not content[-1].isspace()
                and not (_NUMBER_RE.fullmatch(content) and any(ch.isdigit() for ch in content))
                and not seg[close + 1 : close + 2].isdigit()
            )
        return ok
