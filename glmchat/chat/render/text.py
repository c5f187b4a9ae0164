"""Small helpers shared by the renderer's modules: characters and line measures."""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"

ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")

_SPACES_RE = re.compile(" *")


def lead(s: str, pos: int = 0) -> int:
    """Number of spaces at s[pos:] (lines are tab-expanded before analysis)."""
    return _SPACES_RE.match(s, pos).end() - pos


def label_key(label: str) -> str:
    """A link label as CommonMark matches it: whitespace collapsed, case folded."""
    return " ".join(label.split()).casefold()
