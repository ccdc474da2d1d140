"""Two side-by-side columns of a splitter that become two tabs of one column when their host is too narrow for both.

The Probe workspace's three columns (dataset, models and settings, results) need about 1,230 pixels; on a 1,024 or
1,280 pixel laptop screen the window scrolled sideways and the results column was cut off. ``Reflow`` watches the
host's width: below what the splitter's columns need side by side, the first two move into a ``QTabWidget`` in the
splitter's first place ("1 · Dataset" | "2 · Models and probe"); once the host is wide enough again (plus a margin,
so that a width near the limit does not flip back and forth), they go back to their own places with the sizes they
had. The widgets move, nothing is rebuilt: their state and signal connections stay as they are.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QAbstractScrollArea, QSplitter, QTabWidget, QWidget


class Reflow(QObject):
    changed = Signal(bool)  # True: the two columns are tabs now

    MARGIN = 40  # pixels past the limit before the columns go back side by side

    def __init__(self, host: QWidget, splitter: QSplitter, columns: tuple[QWidget, QWidget],
                 titles: tuple[str, str], tips: tuple[str, str] = ("", "")) -> None:
        super().__init__(host)
        self.host, self.splitter, self.columns = host, splitter, columns
        self.tabs = QTabWidget(host)
        self.tabs.setObjectName("reflowTabs")
        self.tabs.hide()
        self.titles, self.tips = titles, tips
        self.narrow = False
        self._wide_sizes: list[int] | None = None
        self._watched: QWidget | None = None  # the viewport of the scroll area the host sits in, if any
        host.installEventFilter(self)

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
            self.set_narrow(True)
        elif self.narrow and width >= need + self.MARGIN:
            self.set_narrow(False)

    def set_narrow(self, narrow: bool) -> None:
        if narrow == self.narrow:
            return
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
        self.narrow = narrow
        self.changed.emit(narrow)
