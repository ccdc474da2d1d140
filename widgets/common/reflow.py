"""Layouts that change shape when their workspace is too narrow for them, instead of widening the window.

A workspace sits in a tab that scrolls it (``widgets.tab_holder.TabHolder``): whatever it needs beyond the window is
a sideways scroll away, and on a 1,024 or 1,280 pixel laptop screen the right-hand columns were cut off. A
``WidthWatch`` compares the width the workspace can have (its scroll area's viewport) with what the wide layout
needs, and switches to the narrow layout below it and back once there is room again (plus a margin, so that a width
near the limit does not flip back and forth). Widgets move, nothing is rebuilt: their state and connections stay.

``Reflow``: two side-by-side columns of a splitter become two tabs of one column (the Probe's dataset and
models/settings columns; the wide layout needs ~1,240 px).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QAbstractScrollArea, QSplitter, QTabWidget, QWidget

from widgets.common.qt_override import qt_override


class WidthWatch(QObject):
    """Calls ``set_narrow(True)`` when the host's available width drops below ``need()``, ``set_narrow(False)`` when
    it is at least ``need() + MARGIN`` again. Subclasses say what they need and how they change."""

    changed = Signal(bool)  # True: the narrow layout now

    MARGIN = 40  # pixels past the limit before the wide layout comes back

    def __init__(self, host: QWidget) -> None:
        super().__init__(host)
        self.host = host
        self.narrow = False
        self._watched: QWidget | None = None  # the viewport of the scroll area the host sits in, if any
        host.installEventFilter(self)

    def need(self) -> int:
        raise NotImplementedError

    def set_narrow(self, narrow: bool) -> None:
        raise NotImplementedError

    def available(self) -> int:
        """The width the host can have: its own, or less where it sits in a scroll area (the window's tabs scroll
        a workspace wider than the window) whose viewport is narrower."""
        view = self._viewport()
        return min(self.host.width(), view.width()) if view is not None else self.host.width()

    def _viewport(self) -> QWidget | None:
        w = self.host.parentWidget()
        while w is not None:
            if isinstance(w, QAbstractScrollArea):
                return w.viewport()
            w = w.parentWidget()
        return None

    @qt_override
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        kind = event.type()
        if obj is self.host and kind in (QEvent.Type.ParentChange, QEvent.Type.Show):
            view = self._viewport()
            if view is not None and view is not self._watched:
                view.installEventFilter(self)
                self._watched = view
        if kind in (QEvent.Type.Resize, QEvent.Type.Show) and (obj is self.host or obj is self._watched):
            self.fit(self.available())
        return False

    def fit(self, width: int) -> None:
        need = self.need()
        if not self.narrow and width < need:
            self._switch(True)
        elif self.narrow and width >= need + self.MARGIN:
            self._switch(False)

    def _switch(self, narrow: bool) -> None:
        if narrow != self.narrow:
            self.set_narrow(narrow)
            self.narrow = narrow
            self.changed.emit(narrow)


class Reflow(WidthWatch):
    """Below what the splitter's columns need side by side, its first two columns move into a ``QTabWidget`` in the
    splitter's first place; wide again, they go back to their own places with the sizes they had."""

    def __init__(self, host: QWidget, splitter: QSplitter, columns: tuple[QWidget, QWidget],
                 titles: tuple[str, str], tips: tuple[str, str] = ("", "")) -> None:
        super().__init__(host)
        self.splitter, self.columns = splitter, columns
        self.tabs = QTabWidget(host)
        self.tabs.setObjectName("reflowTabs")
        self.tabs.hide()
        self.titles, self.tips = titles, tips
        self._wide_sizes: list[int] | None = None

    def need(self) -> int:
        """The host width the columns need side by side: each one's least width, the handles, the host's margins."""
        widths = [c.minimumSizeHint().width() for c in self.columns]
        rest = [self.splitter.widget(i) for i in range(self.splitter.count())]
        widths += [w.minimumSizeHint().width() for w in rest if w not in self.columns and w is not self.tabs]
        m = self.host.contentsMargins()
        lay = self.host.layout()
        lm = lay.contentsMargins() if lay is not None else m
        handles = self.splitter.handleWidth() * (len(widths) - 1)
        return sum(widths) + handles + lm.left() + lm.right() + m.left() + m.right()

    def set_narrow(self, narrow: bool) -> None:
        first, second = self.columns
        if narrow:
            self._wide_sizes = self.splitter.sizes()
            total = sum(self._wide_sizes)
            for col, title, tip in zip(self.columns, self.titles, self.tips):
                i = self.tabs.addTab(col, title)  # takes it out of the splitter
                self.tabs.setTabToolTip(i, tip)
            self.splitter.insertWidget(0, self.tabs)
            self.tabs.show()
            self.splitter.setStretchFactor(0, 0)
            left = self.tabs.minimumSizeHint().width()
            self.splitter.setSizes([left, max(0, total - left)])
        else:
            self.splitter.insertWidget(0, first)  # out of the tabs (the tab goes with it)
            self.splitter.insertWidget(1, second)
            self.tabs.setParent(self.host)  # out of the splitter, kept (hidden) for the next time
            self.tabs.hide()
            for i, w in enumerate((first, second)):
                w.show()
                self.splitter.setStretchFactor(i, 0)
            if self._wide_sizes and len(self._wide_sizes) == self.splitter.count():
                self.splitter.setSizes(self._wide_sizes)
