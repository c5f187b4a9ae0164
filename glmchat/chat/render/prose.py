"""Prose rewriting: one text segment, with its code and math atoms set aside, into canonical safe Markdown.

Every ``[``, ``]``, ``<``, lone backtick and ``$`` is backslash-escaped unless
it belongs to a link we rebuilt ourselves (see links.py) or to a code/math
atom; directives and emoji shortcodes are neutralised.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from glmchat.chat.render.inline import inline_atoms
from glmchat.chat.render.links import allowed_autolink, break_literal_autolinks, inline_destination, link_markup
from glmchat.chat.render.text import ASCII_PUNCT, WORD_JOINER, label_key

_PROSE_SPECIAL_RE = re.compile(r"[\\\[\]!<&$:`\x02|]")
_PROSE_SPECIAL_NOPIPE_RE = re.compile(r"[\\\[\]!<&$:`\x02]")
_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# `:name:` shapes that Streamlit turns into emoji/icons/logo on text nodes
_SHORTCODE_RE = re.compile(r":(?:(?=[\w+\-/]*[A-Za-z])[\w+\-/]+|[+\-]1|100|1234):", re.ASCII)
_TASK_PREFIX_RE = re.compile(r"(?:[ \t]*>)*[ \t]*(?:[-+*]|\d{1,9}[.)])[ \t]+")
_TASK_RE = re.compile(r"\[[ xX]\](?=[ \t])")
_MAX_LABEL = 999
_BANG_BEFORE_ATOM_RE = re.compile(r"(\\*)!(?=\x02)")
_PLACEHOLDER_RE = re.compile("\x02(\\d+)\x03")


def render_text(seg: str, defs: dict[str, str], escape_pipes: bool = False) -> str:
    """One text segment: atoms set aside, the prose rewritten, the atoms put back."""
    pieces = inline_atoms(seg)
    atoms: list[str] = []
    buf: list[str] = []
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
    rendered = break_literal_autolinks(rendered)
    for _ in range(3):  # link atoms may contain code atoms
        if "\x02" not in rendered:
            break
        rendered = _PLACEHOLDER_RE.sub(lambda m: atoms[int(m.group(1))], rendered)
    return rendered


_Handler = Callable[["_Prose", int, int, bool, list[str]], int]


class _Prose:
    """Rewrites one prose string (code/math replaced by \\x02N\\x03)."""

    def __init__(self, s: str, defs: dict[str, str], escape_pipes: bool, atoms: list[str]) -> None:
        self.s = s
        self.atoms = atoms  # shared with render_text; links we build go here too
        self.defs = defs
        self.escape_pipes = escape_pipes
        self.match = self._match_brackets(s)

    @staticmethod
    def _match_brackets(s: str) -> dict[int, int]:
        # Linear bracket matching (escapes and placeholders skipped); the
        # stack resets at blank lines, which links cannot cross.
        match: dict[int, int] = {}
        stack: list[int] = []
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
            i = self._HANDLERS[s[j]](self, j, end, in_link, out)
        return "".join(out)

    # -- one handler per special character: each appends its output and returns where to go on

    def _placeholder(self, i: int, end: int, in_link: bool, out: list[str]) -> int:
        k = self.s.index("\x03", i) + 1
        out.append(self.s[i:k])
        return k

    def _backslash(self, i: int, end: int, in_link: bool, out: list[str]) -> int:
        s = self.s
        nxt = s[i + 1] if i + 1 < len(s) else ""
        if nxt == ":":
            out.append(self._colon(i + 1, "\\:"))
            return i + 2
        if nxt and nxt in ASCII_PUNCT:
            out.append(s[i : i + 2])  # an existing escape stays as is
            return i + 2
        if nxt == "\x02":
            out.append("\\\\")  # a literal backslash must not escape the atom
            return i + 1
        out.append("\\")
        return i + 1

    def _bang(self, i: int, end: int, in_link: bool, out: list[str]) -> int:
        if self.s.startswith("[", i + 1) and i + 1 < end:
            return self._bracket(i, end, in_link, out)
        out.append("!")  # "!" not starting an image
        return i + 1

    def _escaped(self, i: int, end: int, in_link: bool, out: list[str]) -> int:
        out.append("\\" + self.s[i])  # "]", "$", "`" and (in labels) "|"
        return i + 1

    def _angle(self, i: int, end: int, in_link: bool, out: list[str]) -> int:
        am = None if in_link else allowed_autolink(self.s, i, end)
        if am:
            out.append(self._atom(am.group(0)))
            return am.end()
        out.append("\\<")
        return i + 1

    def _ampersand(self, i: int, end: int, in_link: bool, out: list[str]) -> int:
        out.append("\\&" if _ENTITY_RE.match(self.s, i, end) else "&")
        return i + 1

    def _colon_char(self, i: int, end: int, in_link: bool, out: list[str]) -> int:
        out.append(self._colon(i, ":"))
        return i + 1

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

    # -- brackets: links, images, references, task checkboxes ------------------

    def _is_task(self, ob: int) -> bool:
        # "[ ]"/"[x]" right after a list marker (look back a bounded distance)
        s = self.s
        if not _TASK_RE.match(s, ob) or ob == 0 or s[ob - 1] not in " \t":
            return False
        ls = s.rfind("\n", max(0, ob - 100), ob) + 1
        if ls == 0 and ob > 100:
            return False
        return bool(_TASK_PREFIX_RE.fullmatch(s, ls, ob))

    def _bracket(self, i: int, end: int, in_link: bool, out: list[str]) -> int:
        s = self.s
        image = s[i] == "!"
        ob = i + 1 if image else i
        if not image and not in_link and self._is_task(ob):
            out.append(s[ob : ob + 3])  # GFM task list checkbox
            return ob + 3
        cb = self.match.get(ob, -1)
        url, stop = (None, -1) if cb < 0 or cb >= end else self._target(ob, cb, end)
        if url is None:
            # not a link: the bracket is plain text
            out.append("!\\[" if image else "\\[")
            return ob + 1
        inner = break_literal_autolinks(self.render(ob + 1, cb, True))
        markup, live = link_markup(inner, url, image, in_link)
        out.append(self._atom(markup) if live else markup)
        return stop

    def _target(self, ob: int, cb: int, end: int) -> tuple[str | None, int]:
        """The URL of the link whose text is s[ob+1:cb], and where the link stops."""
        found = inline_destination(self.s, cb + 1, end)
        if found:
            return found
        return self._reference(ob, cb, end)

    def _reference(self, ob: int, cb: int, end: int) -> tuple[str | None, int]:
        # a reference: [text][label], [label][] or [label]
        s = self.s
        lo, hi, stop = ob + 1, cb, cb + 1
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
            key = label_key(label)
            if key and "\x02" not in label and key in self.defs:
                return self.defs[key], stop
        return None, stop

    _HANDLERS: dict[str, _Handler] = {
        "\x02": _placeholder,
        "\\": _backslash,
        "[": _bracket,
        "!": _bang,
        "]": _escaped,
        "<": _angle,
        "&": _ampersand,
        "$": _escaped,
        ":": _colon_char,
        "`": _escaped,
        "|": _escaped,
    }
