"""A rough GLM token estimate, for what the API has not counted yet."""

from __future__ import annotations

import math
import re

# CJK ideographs, kana, hangul and full-width/CJK punctuation.
CJK = (
    "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0002ffff"
)
CJK_RE = re.compile(f"[{CJK}]")
PER_MESSAGE = 4  # role and framing overhead of one message
PER_IMAGE = 1000  # a rough figure: the API counts image tokens itself and does not publish the rule


def estimate_tokens(text: str) -> int:
    """0.7 per CJK character, one per 4 other characters, rounded up."""
    cjk = len(CJK_RE.findall(text))
    return math.ceil(cjk * 0.7 + (len(text) - cjk) / 4)


def message_tokens(message: dict) -> int:
    content = message.get("content")
    if isinstance(content, list):  # vision content arrays: count the text parts
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    files = message.get("attachments") or ()
    extra = sum(PER_IMAGE if f.get("kind") == "image" else estimate_tokens(f.get("text") or "") for f in files)
    return estimate_tokens(content or "") + PER_MESSAGE + extra
