"""How the simulator counts a prompt's tokens: its own model of GLM's tokenizer, not the app's estimate.

GLM's tokenizer is a byte-pair vocabulary the SDK does not ship, so the simulator counts the way such
vocabularies split text: Han characters about 1.5 to a token (a common pair is one token), other CJK
(kana, hangul, full-width punctuation) one each, a Latin word one token per 5 letters or part of 5, digits
in groups of 3, each other symbol one token, whitespace nothing. A message adds 3 for its role and framing
and the request 3 for the assistant's turn; an image in a content array costs one token per 28×28 patch,
at most 1,600 (a ViT-style encoder; the platform does not publish its rule). These are the simulator's
assumptions, stated here so a test can see where the app's own estimate (glmchat/chat/tokens.py) differs.
"""

from __future__ import annotations

import math
import re

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
# Other CJK: radicals, punctuation, kana, bopomofo, hangul, full-width forms.
OTHER_CJK = "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\uac00-\ud7af\ufe30-\ufe4f\uff00-\uffef"
CJK = HAN + OTHER_CJK
CJK_RE = re.compile(f"[{CJK}]")

_PIECE_RE = re.compile(rf"(?P<han>[{HAN}]+)|(?P<cjk>[{OTHER_CJK}])|(?P<word>[^\W\d_]+)|(?P<num>\d+)|(?P<space>\s+)|.")
PER_MESSAGE = 3
PER_REQUEST = 3
PATCH = 28
MAX_IMAGE_TOKENS = 1600


def text_tokens(text: str) -> int:
    """The tokens of a piece of text, as the simulator's tokenizer model counts them."""
    total = 0
    for m in _PIECE_RE.finditer(text):
        kind = m.lastgroup
        piece = m.group()
        if kind == "han":
            total += math.ceil(len(piece) / 1.5)
        elif kind == "word":
            total += math.ceil(len(piece) / 5)
        elif kind == "num":
            total += math.ceil(len(piece) / 3)
        elif kind != "space":
            total += 1
    return total


def image_tokens(width: int, height: int) -> int:
    return min(MAX_IMAGE_TOKENS, math.ceil(width / PATCH) * math.ceil(height / PATCH))


def prompt_tokens(messages: list[dict], image_size=None) -> int:
    """A request's prompt tokens: its messages' text and images, and the framing around them.

    `image_size(url) -> (width, height) | None` measures an image part; without it images count nothing.
    """
    total = PER_REQUEST
    for message in messages:
        total += PER_MESSAGE
        content = message.get("content")
        if isinstance(content, str):
            total += text_tokens(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if isinstance(part.get("text"), str):
                    total += text_tokens(part["text"])
                elif part.get("type") == "image_url" and image_size is not None:
                    size = image_size(str((part.get("image_url") or {}).get("url") or ""))
                    if size:
                        total += image_tokens(*size)
    return total
