"""Issue 14: the GUI thread's garbage collector (``widgets.common.gcguard.MainThreadGC``) freezes, rather than
collects, a young generation of long-lived objects in the desktop app: during the start-up, and after big imports
(collecting 50k-200k such objects stalled the GUI thread 50-110 ms). Outside those it collects as before."""

from __future__ import annotations

import gc
import sys
import types

import pytest

pytestmark = pytest.mark.gui


class Cycle:
    def __init__(self):
        self.me = self


@pytest.fixture
def guard(qapp):
    from widgets.application import main_thread_gc

    g = main_thread_gc()
    gc.collect()
    yield g
    g.starting = g.freeze_imports = False
    gc.unfreeze()  # what a test froze goes back to the oldest generation
    gc.collect()


def _cycles(n):
    for _ in range(n):
        Cycle()  # unreachable at once: cyclic garbage


def test_by_default_a_due_young_generation_is_collected(guard):
    frozen = gc.get_freeze_count()
    _cycles(guard.threshold[0] + 50)
    assert guard.check() >= guard.threshold[0]
    assert gc.get_freeze_count() == frozen


def test_during_the_start_up_the_young_generation_is_frozen_not_collected(guard):
    guard.starting = True
    froze, frozen = guard.froze, gc.get_freeze_count()
    _cycles(guard.threshold[0] + 50)
    assert guard.check() == 0  # nothing collected
    assert guard.froze == froze + 1 and gc.get_freeze_count() >= frozen + guard.threshold[0]
    assert gc.get_count()[0] < guard.threshold[0]
    guard.starting = False
    _cycles(guard.threshold[0] + 50)
    assert guard.check() >= guard.threshold[0]  # after the start-up: collected again


def test_a_big_young_generation_after_imports_is_frozen(guard, monkeypatch):
    from widgets.common import gcguard

    guard.freeze_imports = True
    monkeypatch.setattr(gcguard, "FREEZE_ABOVE", 2000)
    guard.check()  # the module count as it is now
    # big, but no module imported since the last check: collected (it may be garbage made by the app)
    _cycles(3000)
    assert guard.check() >= 3000
    # as big, with modules imported meanwhile: frozen (long-lived module objects; collecting them stalled the GUI)
    names = [f"_gc_freeze_test_{i}" for i in range(gcguard.IMPORTS)]
    for name in names:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    froze = guard.froze
    _cycles(3000)
    assert guard.check() == 0 and guard.froze == froze + 1
    # a small young generation is collected even after imports
    for name in (f"_gc_freeze_test_b{i}" for i in range(gcguard.IMPORTS)):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    _cycles(guard.threshold[0] + 50)
    assert guard.check() >= guard.threshold[0] and guard.froze == froze + 1
