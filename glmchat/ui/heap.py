"""Keep what the process has loaded out of Python's full garbage collections.

Python's full collections walk every tracked object: with this app's modules loaded (Streamlit, SQLAlchemy,
the SDK) about 90,000, holding the GIL for about 50 ms and stalling every session. Frozen objects are
skipped by the collector; they are still freed when nothing refers to them. (Streamlit's collection after
every run, runner.postScriptGC, is off in .streamlit/config.toml: it also walked every session's objects.)
"""

from __future__ import annotations

import gc
import sys

_modules_frozen = 0  # how many modules were loaded at the last freeze (a count, nothing of a session)


def freeze_loaded() -> None:
    """Freeze what is tracked now if modules were imported since the last call (some load lazily).

    Called before a run creates its objects. Garbage is collected first: a cycle frozen would never be
    collected, and nothing collects after each run (runner.postScriptGC is off). This happens a few times
    in a process's life, when a lazily loaded module first comes in.
    """
    global _modules_frozen
    if len(sys.modules) != _modules_frozen:
        gc.collect()
        gc.freeze()
        _modules_frozen = len(sys.modules)
