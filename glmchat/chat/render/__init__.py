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

Modules, in the order text goes through them:

* ``pipeline``: the entry points, Streamlit's own cleaning, the fallback;
* ``blocks``: the block parser (code vs. text lines, definitions, display
  math), on the line recognisers and containers of ``block_syntax``;
* ``inline``: code spans and math atoms cut out of a text block;
* ``prose``: the rewriting of what is left (escapes, brackets, directives);
* ``links``: which URLs may stay live and how links are rebuilt;
* ``latex``: which math is safe, and display-math blocks;
* ``text``: small shared helpers.
"""

from __future__ import annotations

from glmchat.chat.render.links import NEUTRAL_DEFINITION, is_allowed_url
from glmchat.chat.render.pipeline import safe_inline, safe_markdown
from glmchat.chat.render.text import WORD_JOINER

__all__ = ["safe_markdown", "safe_inline", "is_allowed_url", "NEUTRAL_DEFINITION", "WORD_JOINER"]
