"""LaTeX: what math content is safe to leave to KaTeX, and display-math blocks on their own lines.

Math atoms are emitted verbatim, so their content must be harmless even if
Streamlit's math detection does not fire and CommonMark reads it as prose.
"""

from __future__ import annotations

import re

from glmchat.chat.render.block_syntax import Container, match_containers

CITATION_RE = re.compile(r"[\d\s,-]+")
# Math content that would be dangerous if CommonMark read it as prose (which
# happens when Streamlit's math detection does not fire): links, autolinks,
# definitions, code-span backticks, fences, the logo shortcode, and the word
# joiner our neutral definitions use as labels.
_MATH_UNSAFE_RE = re.compile(r"\]\(|\]:|`|~~~|<[A-Za-z][A-Za-z0-9+.\-]{1,31}:|(?i:xmpp:)|:streamlit:|\u2060")
_KATEX_LINK_RES = (
    re.compile(r"\\href\s*\{[^{}]*\}"),  # keep the {text} argument
    re.compile(r"\\url\s*\{[^{}]*\}"),
    re.compile(r"\\includegraphics\s*(?:\[[^\]]*\])?\s*\{[^{}]*\}"),
    re.compile(r"\\(?:href|url|includegraphics)(?![A-Za-z])"),
)


def strip_katex_links(math: str) -> str:
    if "\\" in math:
        for rx in _KATEX_LINK_RES:
            math = rx.sub("", math)
    return math


def math_ok(content: str) -> bool:
    return not _MATH_UNSAFE_RE.search(content)


# ---------------------------------------------------------------------------
# Display math: \[ … \] or $$ … $$ on their own lines
# ---------------------------------------------------------------------------

_DISPLAY_SCAN = 100  # lines a display-math block may span


def _one_line(content: str) -> list[str] | None:
    """``\\[ content \\]`` on one line."""
    content = content.strip()
    if not content or CITATION_RE.fullmatch(content):
        return None
    return [content]


def _closing(
    lines: list[str], i: int, closer: str, parts: list[str], stack: list[Container]
) -> tuple[int, list[str] | None]:
    """The lines after an opening on line i, up to ``closer`` on its own line."""
    k = i
    for k in range(i + 1, min(len(lines), i + 1 + _DISPLAY_SCAN)):
        a = lines[k].expandtabs(4)
        matched, pos = match_containers(a, stack)
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


def _display_math(lines: list[str], i: int, body: str, stack: list[Container]) -> tuple[int, list[str] | None]:
    """Display math opening with ``body`` on line i.

    Returns (last line looked at, content lines or None if there is no
    usable block there).
    """
    if body.rstrip() == "$$":
        closer, parts = "$$", []
    elif body.startswith("\\["):
        closer, first = "\\]", body[2:].rstrip()
        if first.endswith("\\]") and "\\]" not in first[:-2]:
            return i, _one_line(first[:-2])
        parts = [first] if first.strip() else []
    else:
        return i, None
    return _closing(lines, i, closer, parts, stack)


def display_block(lines: list[str], i: int, body: str, stack: list[Container]) -> tuple[int, list[str] | None]:
    """Like _display_math, but None also when the content is unsafe as prose.

    The content may come back empty (it held only \\href/\\url junk).
    """
    end, parts = _display_math(lines, i, body, stack)
    if parts is None:
        return end, None
    joined = "\n".join(parts)
    if not joined.strip() or "$$" in joined or not math_ok(joined):
        return end, None
    return end, [p.strip() for p in (strip_katex_links(p) for p in parts) if p.strip()]
