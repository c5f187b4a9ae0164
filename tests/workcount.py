"""Counting the work a function does, so that "grows linearly" is checked with counts a busy machine cannot
change (tests/chat/test_render.py, tests/e2e/test_security_browser.py).

`work(fn, *args)` runs fn once and counts, in glmchat's own code (every module under glmchat/):

- `lines`: the lines it executed (sys.settrace);
- `calls`: the calls it made into C functions and methods (sys.setprofile `c_call` events);
- `regex_calls` and `regex_chars`: every call of a regular expression, and the characters each one scanned.
  For the duration, every compiled pattern of a loaded glmchat module (module globals, and those in a tuple,
  list or dict there) and the module's `re` go through a counting proxy. A search counts the characters
  from its start position to the end of its match, or to the end of the text when it fails; finditer,
  findall, sub, subn and split count the whole text; match and fullmatch the span they matched. So a loop
  that searches the rest of the text again and again counts as the quadratic work it is, though its call
  count is linear.

The same input gives the same counts on a quiet machine and a loaded one. What no count here sees is the
work inside one C call beyond what it is charged: a regular expression's backtracking within the span it
scanned, or the scan of a `str` method; each of those calls counts once in `calls` (str methods) or with
its scanned span (patterns).
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass

from conftest import ROOT

GLMCHAT = str(ROOT / "glmchat") + "/"


@dataclass
class Work:
    lines: int = 0
    calls: int = 0
    regex_calls: int = 0
    regex_chars: int = 0

    def ratios(self, smaller: Work) -> dict[str, float]:
        """Each count of self over the same count of `smaller` (a count that is 0 there compares with 1)."""
        return {k: v / max(getattr(smaller, k), 1) for k, v in asdict(self).items()}


def _ours(frame) -> bool:
    return frame.f_code.co_filename.startswith(GLMCHAT)


class _Pattern:
    """A compiled pattern that charges the Work for each call; everything else is the real pattern's."""

    def __init__(self, real: re.Pattern, work: Work) -> None:
        self._real, self._work = real, work

    def __getattr__(self, name):
        return getattr(self._real, name)

    def _charge(self, chars: int) -> None:
        self._work.regex_calls += 1
        self._work.regex_chars += max(chars, 0)

    @staticmethod
    def _span(string, pos, endpos) -> tuple[int, int]:
        n = len(string)
        end = n if endpos is None else max(0, min(endpos, n))
        return max(0, min(pos, end)), end

    def match(self, string, pos=0, endpos=sys.maxsize):
        m = self._real.match(string, pos, endpos)
        start, _ = self._span(string, pos, endpos)
        self._charge(m.end() - start if m else 0)
        return m

    def fullmatch(self, string, pos=0, endpos=sys.maxsize):
        m = self._real.fullmatch(string, pos, endpos)
        start, _ = self._span(string, pos, endpos)
        self._charge(m.end() - start if m else 0)
        return m

    def search(self, string, pos=0, endpos=sys.maxsize):
        m = self._real.search(string, pos, endpos)
        start, end = self._span(string, pos, endpos)
        self._charge((m.end() if m else end) - start)
        return m

    def finditer(self, string, pos=0, endpos=sys.maxsize):
        start, end = self._span(string, pos, endpos)
        self._charge(end - start)
        return self._real.finditer(string, pos, endpos)

    def findall(self, string, pos=0, endpos=sys.maxsize):
        start, end = self._span(string, pos, endpos)
        self._charge(end - start)
        return self._real.findall(string, pos, endpos)

    def sub(self, repl, string, count=0):
        self._charge(len(string))
        return self._real.sub(repl, string, count)

    def subn(self, repl, string, count=0):
        self._charge(len(string))
        return self._real.subn(repl, string, count)

    def split(self, string, maxsplit=0):
        self._charge(len(string))
        return self._real.split(string, maxsplit)


class _Re:
    """The `re` module as glmchat's code sees it meanwhile: its functions compile to counting patterns."""

    def __init__(self, work: Work) -> None:
        self._work = work

    def __getattr__(self, name):
        return getattr(re, name)

    def compile(self, pattern, flags=0):
        return _Pattern(re.compile(pattern, flags), self._work)

    def match(self, pattern, string, flags=0):
        return self.compile(pattern, flags).match(string)

    def fullmatch(self, pattern, string, flags=0):
        return self.compile(pattern, flags).fullmatch(string)

    def search(self, pattern, string, flags=0):
        return self.compile(pattern, flags).search(string)

    def finditer(self, pattern, string, flags=0):
        return self.compile(pattern, flags).finditer(string)

    def findall(self, pattern, string, flags=0):
        return self.compile(pattern, flags).findall(string)

    def sub(self, pattern, repl, string, count=0, flags=0):
        return self.compile(pattern, flags).sub(repl, string, count)

    def subn(self, pattern, repl, string, count=0, flags=0):
        return self.compile(pattern, flags).subn(repl, string, count)

    def split(self, pattern, string, maxsplit=0, flags=0):
        return self.compile(pattern, flags).split(string, maxsplit)


def _proxied(value, work: Work):
    """value with its patterns swapped for counting ones, or None when it holds none."""
    if isinstance(value, re.Pattern):
        return _Pattern(value, work)
    if value is re:
        return _Re(work)
    if isinstance(value, (tuple, list)) and any(isinstance(v, re.Pattern) for v in value):
        return type(value)(_Pattern(v, work) if isinstance(v, re.Pattern) else v for v in value)
    if isinstance(value, dict) and any(isinstance(v, re.Pattern) for v in value.values()):
        return {k: _Pattern(v, work) if isinstance(v, re.Pattern) else v for k, v in value.items()}
    return None


def work(fn, *args, **kwargs) -> Work:
    """Run fn(*args, **kwargs) once on this thread and count the work glmchat's code did in it."""
    counted = Work()
    swapped: list[tuple[object, str, object]] = []
    for module in [m for name, m in list(sys.modules.items()) if name == "glmchat" or name.startswith("glmchat.")]:
        if not str(getattr(module, "__file__", "") or "").startswith(GLMCHAT):
            continue
        for name, value in list(vars(module).items()):
            proxy = _proxied(value, counted)
            if proxy is not None:
                swapped.append((module, name, value))
                setattr(module, name, proxy)

    def line_tracer(frame, event, arg):
        if event == "line":
            counted.lines += 1
        return line_tracer

    def call_tracer(frame, event, arg):
        return line_tracer if _ours(frame) else None

    def profiler(frame, event, arg):
        if event == "c_call" and _ours(frame):
            counted.calls += 1

    old_trace, old_profile = sys.gettrace(), sys.getprofile()
    sys.settrace(call_tracer)
    sys.setprofile(profiler)
    try:
        fn(*args, **kwargs)
    finally:
        sys.settrace(old_trace)
        sys.setprofile(old_profile)
        for module, name, value in reversed(swapped):
            setattr(module, name, value)
    return counted


def sized(unit: str, n: int) -> str:
    """unit repeated and cut to exactly n characters."""
    return (unit * (n // len(unit) + 1))[:n]


def assert_linear(fn, small: str, large: str, bound: float) -> tuple[Work, Work]:
    """fn's work on `large` (k times `small`'s length) is at most `bound` times its work on `small`, in every
    count. Linear work gives k; quadratic gives k*k."""
    ws, wl = work(fn, small), work(fn, large)
    worst = {k: r for k, r in wl.ratios(ws).items() if r > bound}
    assert not worst, (
        f"{len(large) / len(small):.0f}x the text cost {worst} times the work (bound {bound}): small {ws}, large {wl}"
    )
    return ws, wl


__all__ = ["Work", "assert_linear", "sized", "work"]
