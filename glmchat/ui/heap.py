"""Keep what the process has loaded out of Python's full garbage collections.

Streamlit runs gc.collect(2) after every script run, fragment reruns included (runner.postScriptGC).
With this app's modules loaded (Streamlit, SQLAlchemy, the SDK) that walked about 90,000 objects and held
the GIL for about 50 ms, so every session's every run stalled every other session. Frozen objects are
skipped by the collector; they are still freed when nothing refers to them.
"""

from __future__ import annotations

import gc
import sys

_modules_frozen = 0  # how many modules were loaded at the last freeze (a count, nothing of a session)


def freeze_loaded() -> None:
    """Freeze what is tracked now if modules were imported since the last call (some load lazily).

    Called before a run creates its objects. Garbage is not collected first: a cycle frozen now is never
    collected, but what imports leave is a few dozen objects, and Streamlit collected after the last run.
    """
    global _modules_frozen
    if len(sys.modules) != _modules_frozen:
        gc.freeze()
        _modules_frozen = len(sys.modules)
