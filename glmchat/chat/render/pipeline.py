"""The two entry points: a whole message (safe_markdown) and a one-line label (safe_inline).

Text is cleaned the way st.markdown will see it, split into code and text
blocks, and each text block is rewritten; anything unexpected falls back to
escaping every punctuation character.
"""

from __future__ import annotations

import re
import textwrap

from glmchat.chat.render.block_syntax import TooDeep
from glmchat.chat.render.blocks import split_blocks
from glmchat.chat.render.prose import render_text
from glmchat.chat.render.text import ASCII_PUNCT, WORD_JOINER

# C0 controls except \t and \n (and DEL) are dropped: they have no business in
# chat text and browsers strip some of them inside URLs.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_LEADING_ORDERED_RE = re.compile(r"(\d{1,9})[.)]")


def _clean(text: object) -> str:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_RE.sub("", text)


def _streamlit_clean(text: str) -> str:
    # st.markdown runs textwrap.dedent(body).strip() before rendering; we must
    # tokenize exactly what it will render (an indented code block at the
    # start would otherwise turn into prose).
    return textwrap.dedent(text).strip()


def _pipeline(text: str) -> str:
    defs: dict[str, str] = {}
    out = []
    for kind, seg in split_blocks(text, defs):
        out.append(seg if kind == "code" else render_text(seg, defs))
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
    except TooDeep:
        return _fallback(text)
    except Exception:  # pragma: no cover - last resort, must never raise
        return _fallback(text)


def _fallback(text: object) -> str:
    # Escape every ASCII punctuation char (and break shortcodes): dull but inert.
    try:
        t = _streamlit_clean(_clean(text))
        return "".join("\\" + c + WORD_JOINER if c == ":" else "\\" + c if c in ASCII_PUNCT else c for c in t)
    except Exception:
        return ""


def safe_inline(text: str, max_len: int = 200) -> str:
    """One-line, block-free safe Markdown for labels (titles, file names)."""
    try:
        t = " ".join(_clean(text).split())
        if max_len is not None and max_len >= 1 and len(t) > max_len:
            t = t[: max_len - 1].rstrip() + "…"
        out = render_text(t, {}, escape_pipes=True)
        # No block syntax: a leading "#", ">", "-", "+", "*", "~" or "1." would
        # make a heading, quote, list, rule or fence.
        m = _LEADING_ORDERED_RE.match(out)
        if m:
            out = m.group(1) + "\\" + out[m.end(1) :]
        elif out[:1] in ("#", ">", "-", "+", "*", "~", "=", "_"):
            out = "\\" + out
        return out
    except Exception:  # pragma: no cover
        return _fallback(text)
