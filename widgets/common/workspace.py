"""The ``Workspace`` protocol: what the main window asks of every workspace.

- ``set_active(active)``: the workspace was shown (True) or hidden (False); its shortcuts work from the moment it
  is shown (they are window-scoped and enabled only while it is active, not tied to keyboard focus inside it);
- ``shortcuts() -> list[str]``: lines for the F1 list;
- ``wait_ready(ms)``: for screenshots and tests, let the first render finish;
- ``shutdown()``: stop and join every worker, thread, camera and process it owns (the window is closing);
- optional ``maybe_keep_changes() -> bool``: False cancels the close (unsaved work the user wants to keep);
- optional ``STEPWISE = True`` (class attribute): the constructor also takes ``stepwise=True``, then builds only
  its frame and leaves the rest to ``build_steps``, an iterator whose owner advances it one step per event-loop turn
  (the main window's start-up: no step blocks the GUI thread long) and uses the workspace only once it is exhausted.
  Without ``stepwise`` (tests, previews, a tab opened early) the constructor runs every step (``run_steps``).

``install_shortcut(workspace, key, slot)`` makes such a shortcut: a ``QAction`` added to the workspace with
``Qt.WindowShortcut`` context, enabled only while the workspace is the visible tab.
"""

from __future__ import annotations

from typing import Callable, Iterator, Protocol, runtime_checkable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@runtime_checkable
class Workspace(Protocol):
    def set_active(self, active: bool) -> None: ...

    def shortcuts(self) -> list[str]: ...

    def wait_ready(self, ms: int) -> None: ...

    def shutdown(self) -> None: ...


def run_steps(steps: Iterator[object]) -> None:
    """Run every remaining step of a ``build_steps`` iterator now."""
    for _ in steps:
        pass


def install_shortcut(owner: QWidget, key: str | QKeySequence | QKeySequence.StandardKey, slot: Callable[[], None],
                     text: str = "") -> QAction:
    """A window-wide shortcut that belongs to ``owner``: it fires whenever ``owner`` is visible (the current tab),
    whatever widget has the focus, and never while another workspace is shown."""
    act = QAction(text or str(key), owner)
    act.setShortcut(key if isinstance(key, QKeySequence) else QKeySequence(key))
    act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    act.triggered.connect(lambda _=False: slot() if owner.isVisible() else None)
    owner.addAction(act)
    return act
