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
