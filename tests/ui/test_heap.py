"""glmchat.heap: what is loaded is frozen once, and again only after new imports."""

from __future__ import annotations

import gc
import sys
import types

import pytest

from glmchat.ui import heap


@pytest.fixture
def unfrozen(monkeypatch):
    gc.unfreeze()
    monkeypatch.setattr(heap, "_modules_frozen", 0)
    yield
    gc.unfreeze()


def test_loaded_objects_are_frozen_once_and_again_after_an_import(unfrozen, monkeypatch):
    assert gc.get_freeze_count() == 0
    heap.freeze_loaded()
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # this process's modules, classes and functions

    later = [[] for _ in range(1000)]  # tracked objects made after the freeze (a run's objects)
    heap.freeze_loaded()
    # Nothing new was imported: nothing more is frozen (the count can drop: frozen objects are still freed,
    # and other threads of the test process free some).
    assert gc.get_freeze_count() <= frozen

    monkeypatch.setitem(sys.modules, "glmchat_test_lazy_module", types.ModuleType("glmchat_test_lazy_module"))
    heap.freeze_loaded()
    assert gc.get_freeze_count() >= frozen + len(later) // 2


def test_garbage_is_collected_before_a_freeze_so_no_cycle_is_kept_for_ever(unfrozen, monkeypatch):
    import weakref

    class Node:
        pass

    gc.disable()  # the cycle below must still be there when freeze_loaded runs
    try:
        node = Node()
        node.me = node  # a cycle: only a collection frees it
        gone = weakref.ref(node)
        del node
        monkeypatch.setitem(sys.modules, "glmchat_test_lazy_module", types.ModuleType("glmchat_test_lazy_module"))
        heap.freeze_loaded()
    finally:
        gc.enable()
    assert gone() is None


def test_streamlit_does_not_collect_after_every_run():
    """Its full collection walked every session's objects on every run (18% of the CPU at 3 arrivals a second)."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).parents[2] / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["runner"]["postScriptGC"] is False
