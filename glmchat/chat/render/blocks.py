r"""The block parser: which lines are code (emitted verbatim) and which are text to sanitise.

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

Each line goes through the same steps, one method each: the open containers
it continues, an open code block or table, lazy paragraph continuation, new
containers, then the leaf block it starts (one method per kind).
"""

from __future__ import annotations

from glmchat.chat.render.block_syntax import (
    BLOCK_CHARS,
    DELIM_ROW_RE,
    FENCE_CLOSE_RE,
    HEADING_RE,
    HR_RE,
    MAX_NESTING,
    SETEXT_RE,
    Container,
    TooDeep,
    cells,
    fence,
    list_item,
    match_containers,
    prefix,
    starts_block,
)
from glmchat.chat.render.latex import display_block
from glmchat.chat.render.links import definition, neutral_definition
from glmchat.chat.render.text import lead

Segment = tuple[str, str]  # ("code" or "text", lines)


def split_blocks(text: str, defs: dict[str, str]) -> list[Segment]:
    """Split into ('code', s) and ('text', s) segments; collect link defs into ``defs``."""
    return _segments(_BlockParser(text, defs).parse())


def _segments(out: list[Segment]) -> list[Segment]:
    """Join consecutive lines of the same kind."""
    segs: list[Segment] = []
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


class _BlockParser:
    def __init__(self, text: str, defs: dict[str, str]) -> None:
        self.lines = text.split("\n")
        self.defs = defs
        self.out: list[Segment] = []  # one ("code"/"text", line) per output line
        self.stack: list[Container] = []
        self.leaf: str | None = None  # None, 'para', 'table', 'fence' or 'icode'
        self.defs_only = False  # the open paragraph so far holds only definitions
        self.para_last = ""  # last paragraph line: a table header if a delimiter row follows
        self.fence_ch, self.fence_len = "", 0
        self.n_defs = 0
        self.no_display_before = 0  # lines already scanned in vain for display math
        self.li = 0  # the next line

    def parse(self) -> list[Segment]:
        lines, out, n = self.lines, self.out, len(self.lines)
        while self.li < n:
            line = lines[self.li]
            self.li += 1
            if not self.stack and self.leaf != "fence" and line and line[0] not in BLOCK_CHARS:
                # fast path: a top-level line that can only be paragraph text
                out.append(("text", line))
                if self.leaf != "table":
                    self.leaf, self.defs_only, self.para_last = "para", False, line
                continue
            self._line(line)
        return out

    def _line(self, line: str) -> None:
        a = line.expandtabs(4) if "\t" in line else line
        # 1. which open containers does this line continue?
        matched, pos = match_containers(a, self.stack) if self.stack else (0, 0)
        all_matched = matched == len(self.stack)
        rest = a[pos:]
        blank = not rest.strip()

        # 2. an open code block continues only if every container did
        open_leaf = self.leaf
        if self._continue_leaf(line, rest, blank, all_matched):
            return
        cut = self.leaf in ("para", "table")  # a display block must not join these

        # 3. lazy paragraph continuation: containers stay open
        if self._lazy_line(line, rest, blank, all_matched, matched):
            return
        if not all_matched:
            del self.stack[matched:]
            self.leaf = None

        # 4. new containers.  With a paragraph (or an indented code block,
        # even after blank lines) open in the same container, a list item
        # "interrupts" it; micromark keeps that flag for the whole line.
        interrupt = self.leaf == "para" or (open_leaf == "icode" and all_matched)
        rest, cut = self._open_containers(rest, interrupt, cut)

        # 5. the leaf block
        self._leaf_block(line, a, rest, cut)

    def _display(self, body: str, at_stack: list[Container]) -> tuple[int, list[str]] | None:
        """Display math opening with ``body`` on the current line: (last line, content lines)."""
        # each line is scanned at most once by a failed attempt: linear time
        if self.li - 1 < self.no_display_before or not (body.startswith("$$") or body.startswith("\\[")):
            return None
        end, parts = display_block(self.lines, self.li - 1, body, at_stack)
        if parts is None:
            self.no_display_before = end + 1
            return None
        return end, parts

    # -- step 2: an open fence, indented code block or table -----------------

    def _continue_leaf(self, line: str, rest: str, blank: bool, all_matched: bool) -> bool:
        if self.leaf == "fence":
            return self._fence_line(line, rest, all_matched)
        if self.leaf == "icode":
            return self._indented_line(line, rest, blank, all_matched)
        if self.leaf == "table":
            return self._table_row(line, rest, blank, all_matched)
        return False

    def _fence_line(self, line: str, rest: str, all_matched: bool) -> bool:
        if not all_matched:
            self.leaf = None
            return False
        self.out.append(("code", line))
        sp = lead(rest)
        cm = FENCE_CLOSE_RE.match(rest, sp)
        if sp <= 3 and cm and cm.group(1)[0] == self.fence_ch and len(cm.group(1)) >= self.fence_len:
            self.leaf = None
        return True

    def _indented_line(self, line: str, rest: str, blank: bool, all_matched: bool) -> bool:
        if all_matched and (blank or lead(rest) >= 4):
            self.out.append(("code", line))
            return True
        self.leaf = None
        return False

    def _table_row(self, line: str, rest: str, blank: bool, all_matched: bool) -> bool:
        # rows run until a blank line or another block; a table is not a
        # paragraph, so what follows may start anything (even "2." or an
        # empty list item)
        if all_matched and not blank and not starts_block(rest, True):
            self.out.append(("text", line))
            return True
        self.leaf = None
        return False

    # -- step 3 ----------------------------------------------------------------

    def _lazy_line(self, line: str, rest: str, blank: bool, all_matched: bool, matched: int) -> bool:
        if self.leaf != "para" or all_matched or blank:
            return False
        sp = lead(rest)
        if starts_block(rest, False) or (sp <= 3 and self._display(rest[sp:], self.stack[:matched])):
            return False
        self.out.append(("text", line))
        self.defs_only = False
        self.para_last = rest
        return True

    # -- step 4 ----------------------------------------------------------------

    def _open_containers(self, rest: str, interrupt: bool, cut: bool) -> tuple[str, bool]:
        """Open the block quotes and list items the line starts; returns (rest of the line, cut)."""
        while True:
            sp = lead(rest)
            if sp >= 4:
                break
            body = rest[sp:]
            if len(self.stack) >= MAX_NESTING:
                raise TooDeep()
            if body.startswith(">"):
                self._push(Container(True))
                rest = rest[sp + 1 + (1 if body.startswith("> ") else 0) :]
                cut = False
                continue
            opened = list_item(sp, body, interrupt)
            if opened is None:
                break
            item, has_content = opened
            self._push(item)
            cut = False
            if not has_content:
                rest = ""
                break
            rest = rest[item.width :]
        return rest, cut

    def _push(self, container: Container) -> None:
        if self.stack:
            self.stack[-1].has_content = True
        self.stack.append(container)
        self.leaf = None

    # -- step 5: the leaf block, one method per kind ---------------------------

    def _leaf_block(self, line: str, a: str, rest: str, cut: bool) -> None:
        if self.stack and rest.strip():
            self.stack[-1].has_content = True
        sp = lead(rest)
        body = rest[sp:]
        if not body:
            self._blank_line(line)
        elif sp >= 4:
            self._indented_code(line)
        elif not (
            self._display_math(a, body, cut)
            or self._fence_open(line, body)
            or self._heading_or_rule(line, body)
            or self._definition(a, body)
            or self._table_start(line, body)
            or self._setext_underline(line, body)
        ):
            self._paragraph(line, rest)

    def _blank_line(self, line: str) -> None:
        self.out.append(("text", line))
        if self.leaf == "para":
            self.leaf = None

    def _indented_code(self, line: str) -> None:
        if self.leaf == "para":
            self.out.append(("text", line))  # indented code cannot interrupt a paragraph
        else:
            self.out.append(("code", line))
            self.leaf = "icode"

    def _display_math(self, a: str, body: str, cut: bool) -> bool:
        dmath = self._display(body, self.stack)
        if not dmath:
            return False
        end, parts = dmath
        out = self.out
        cont = prefix(self.stack)
        if cut:
            out.append(("code", cont.rstrip()))
        if parts:
            out.append(("code", a[: len(a) - len(body)] + "$$"))
            out.extend(("code", cont + "    " + p) for p in parts)
            out.append(("code", cont + "$$"))
        out.append(("code", cont.rstrip()))
        if self.stack:
            self.stack[-1].has_content = True
        self.li = end + 1
        self.leaf = None
        return True

    def _fence_open(self, line: str, body: str) -> bool:
        fm = fence(body)
        if not fm:
            return False
        self.out.append(("code", line))
        self.leaf, self.fence_ch, self.fence_len = "fence", fm.group(1)[0], len(fm.group(1))
        return True

    def _heading_or_rule(self, line: str, body: str) -> bool:
        if not (HEADING_RE.match(body) or HR_RE.match(body)):
            return False
        self.out.append(("text", line))
        self.leaf = None
        return True

    def _definition(self, a: str, body: str) -> bool:
        if not (self.leaf is None or (self.leaf == "para" and self.defs_only)):
            return False
        found = definition(body)
        if found is None:
            return False
        key, url = found
        self.defs.setdefault(key, url)
        # Keep an empty, unreferenced definition in its place: it is
        # invisible like the original and shapes the blocks around it
        # the same way.  References are resolved to inline links.
        self.out.append(("code", a[: len(a) - len(body)] + neutral_definition(self.n_defs)))
        self.n_defs += 1
        self.leaf, self.defs_only = "para", True
        return True

    def _table_start(self, line: str, body: str) -> bool:
        if (
            self.leaf == "para"
            and not self.defs_only
            and "|" in body
            and DELIM_ROW_RE.match(body)
            and cells(body) == cells(self.para_last)
        ):
            self.out.append(("text", line))  # GFM table: the last paragraph line is its header
            self.leaf = "table"
            return True
        return False

    def _setext_underline(self, line: str, body: str) -> bool:
        if self.leaf == "para" and not self.defs_only and SETEXT_RE.match(body):
            self.out.append(("text", line))
            self.leaf = None
            return True
        return False

    def _paragraph(self, line: str, rest: str) -> None:
        self.out.append(("text", line))
        self.leaf, self.defs_only, self.para_last = "para", False, rest
