"""Spending limits for the host's API key: settings, and the check that refuses a request.

No Streamlit and no database here: `Store.reserve_request` counts what was used and asks `Limits.check`.
What both sides speak of (the China Standard Time day, the rolling minute, a `Usage`, a `Refusal`) is the
store's, below this module: glmchat.store.spend, imported here by the same names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from glmchat.store.spend import CST, UNAVAILABLE, WINDOW, Refusal, Usage, day_start

__all__ = [
    "CST",
    "PREFIX",
    "UNAVAILABLE",
    "UNPRICED",
    "WINDOW",
    "Limits",
    "Refusal",
    "ScopeLimits",
    "Usage",
    "day_start",
]

PREFIX = "GLMCHAT_LIMIT_"

_WHOLE = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")

# A model without a catalogue price: limits in ¥ could not count it, so the host's key is not used for it.
UNPRICED = Refusal("unpriced", "app", None, None, None)


@dataclass(frozen=True)
class ScopeLimits:
    rpm: int | None
    tokens_day: int | None
    cny_day: float | None
    streams: int | None


@dataclass(frozen=True)
class Limits:
    """The configured limits; None means no limit. Names: GLMCHAT_LIMIT_<FIELD IN CAPITALS>."""

    rpm: int | None = None
    visitor_rpm: int | None = None
    tokens_day: int | None = None
    visitor_tokens_day: int | None = None
    cny_day: float | None = None
    visitor_cny_day: float | None = None
    streams: int | None = None
    visitor_streams: int | None = None

    @classmethod
    def from_settings(cls, lookup: Callable[[str], object]) -> Limits:
        """Read every limit through lookup(name); absent, blank or 0 is no limit, anything else
        that is not a number >= 0 raises ValueError naming the setting."""
        values = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            raw = lookup(name)
            # str(): a number written without quotes in secrets.toml arrives as int or float
            text = "" if raw is None else str(raw).strip()
            if not text:
                values[f.name] = None
                continue
            decimal = f.name.endswith("cny_day")
            if not (_DECIMAL if decimal else _WHOLE).fullmatch(text):
                what = "a number of yuan" if decimal else "a whole number"
                raise ValueError(f"{name} must be {what} (0 or blank for no limit)")
            number = float(text) if decimal else int(text)
            values[f.name] = number or None
        return cls(**values)

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    def scope(self, scope: str) -> ScopeLimits:
        """The four limits of one scope, "app" or "visitor"."""
        p = {"app": "", "visitor": "visitor_"}[scope]
        return ScopeLimits(
            getattr(self, p + "rpm"),
            getattr(self, p + "tokens_day"),
            getattr(self, p + "cny_day"),
            getattr(self, p + "streams"),
        )

    def check(self, visitor: Usage, app: Usage, now: datetime) -> Refusal | None:
        """The first limit reached, the visitor's before the app's; within a scope the day limits come
        first, since theirs is the longest wait and waiting out the others would not help."""
        until_tomorrow = (day_start(now) + timedelta(days=1) - now).total_seconds()
        for name, usage in (("visitor", visitor), ("app", app)):
            lim = self.scope(name)
            if lim.tokens_day is not None and usage.tokens >= lim.tokens_day:
                return Refusal("tokens_day", name, until_tomorrow, lim.tokens_day, usage.tokens)
            if lim.cny_day is not None and usage.cost >= lim.cny_day:
                return Refusal("cny_day", name, until_tomorrow, lim.cny_day, usage.cost)
            if lim.rpm is not None and len(usage.recent) >= lim.rpm:
                # Room comes back when all but rpm - 1 of the counted requests have left the window.
                frees = usage.recent[len(usage.recent) - lim.rpm] + timedelta(seconds=WINDOW)
                return Refusal("rpm", name, max(0.0, (frees - now).total_seconds()), lim.rpm, len(usage.recent))
            if lim.streams is not None and usage.streams >= lim.streams:
                return Refusal("streams", name, None, lim.streams, usage.streams)
        return None
