"""The scenario triggers: ``sim:name`` or ``sim:name=value`` words in the last user message.

The full list, with what each one does, is the table in ``glmsim.simulator``'s docstring. This module reads
them (``parse_triggers``, case-insensitive names) and decides what they decide on their own: the error a
request gets before any body (``failure``) and the pace of its chunks (``pacing``). What they change in a
reply's content, reasoning and ending is ``glmsim.compose``.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable

from glmsim.wire import (
    HTML_502,
    MSG_1002,
    MSG_1112,
    MSG_1113,
    MSG_1211,
    MSG_1261,
    MSG_1301,
    MSG_1302,
    MSG_1305,
    Plan,
)

TRIGGER_RE = re.compile(r"\bsim:([a-z0-9_]+(?:-[a-z0-9_]+)*)(?:=(\S+))?", re.IGNORECASE)
_BASE64URL_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_MAX_COPIES = 1000
_SLOW_DELAY = 0.2  # seconds between pieces for sim:slow


def parse_triggers(text: str) -> dict[str, str]:
    return {name.lower(): value or "" for name, value in TRIGGER_RE.findall(text)}


def strip_triggers(text: str) -> str:
    """The text without its trigger words."""
    return TRIGGER_RE.sub("", text)


def number(value: str) -> float | None:
    """A trigger's value as a finite number >= 0, or None."""
    try:
        parsed = float(value)
    except ValueError:
        return None
    return parsed if math.isfinite(parsed) and parsed >= 0 else None


def say(value: str) -> str | None:
    """The text of ``sim:say=B``: B as base64url UTF-8 (padding optional), or None if it does not decode."""
    if not _BASE64URL_RE.fullmatch(value):
        return None
    bare = value.rstrip("=")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4)).decode("utf-8")
    except ValueError:  # bad length or padding (binascii.Error), or not UTF-8 (UnicodeDecodeError)
        return None


def copies(triggers: dict[str, str]) -> int:
    """How many times ``sim:repeat`` asks for the ``sim:say`` text; 0 when it does not."""
    if "say" not in triggers or not triggers.get("repeat", "").isdigit():
        return 0
    return min(max(int(triggers["repeat"]), 1), _MAX_COPIES)


def failure(triggers: dict[str, str], text: str, rid: str, first_time: Callable[[str, str], bool]) -> Plan | None:
    """The error a trigger asks for before any body is sent, if any.

    ``first_time(trigger, text)`` says whether this is the first attempt with that message text (the "-once"
    triggers fail only then); it is asked only when such a trigger is present.
    """
    if "401" in triggers:
        return Plan.error(401, "1002", MSG_1002, rid)
    if "balance" in triggers:
        return Plan.error(429, "1113", MSG_1113, rid)
    if "account" in triggers:
        return Plan.error(429, "1112", MSG_1112, rid)
    if "busy" in triggers:
        return Plan.error(429, "1305", MSG_1305, rid)
    if "busy-once" in triggers and first_time("busy-once", text):
        return Plan.error(429, "1302", MSG_1302, rid)
    if "policy" in triggers:
        return Plan.error(400, "1301", MSG_1301, rid)
    if "badparam" in triggers:
        return Plan.error(400, "1214", "messages 参数非法。请检查文档。", rid)
    if "toolong" in triggers:
        return Plan.error(400, "1261", MSG_1261, rid)
    if "unknown-model" in triggers:
        return Plan.error(400, "1211", MSG_1211, rid)
    if "500" in triggers or ("500-once" in triggers and first_time("500-once", text)):
        return Plan.error(500, "500", "Internal Error", rid)
    if "502" in triggers:
        return Plan.body(502, HTML_502, "text/html", rid)
    if "error200" in triggers:
        return Plan.error(200, "1214", "messages 参数非法。请检查文档。", rid)
    if "hang" in triggers:
        return Plan(200, {}, pre_delay=math.inf)
    if "say" in triggers and say(triggers["say"]) is None:
        return Plan.error(400, "1214", "sim:say is not base64url UTF-8", rid)
    return None


def pacing(triggers: dict[str, str], ttft: float, token_delay: float) -> tuple[float, float]:
    """(seconds before the first chunk, seconds between chunks): the simulator's own, unless a trigger says."""
    if "ttft" in triggers and number(triggers["ttft"]) is not None:
        ttft = number(triggers["ttft"])
    delay = token_delay
    if "slow" in triggers:
        delay = _SLOW_DELAY
    if number(triggers.get("rate", "")):
        delay = 1 / number(triggers["rate"])
    return ttft, delay
