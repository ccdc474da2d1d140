"""Python overrides of Qt's virtual functions never let an exception out (``@qt_override``).

Why: PySide6 6.10 and 6.11 (``Sbk_GetPyOverride`` in shiboken) keep an exception raised inside a Python override as
a *stored* error while a Python caller is up the stack (``app.exec()`` counts). Every override looked up for the
first time on a widget while that error is stored has its function's reference count decremented once more than it
was incremented (a borrowed reference released on the error path). A few such lookups later the function in the class
dict is freed, and the next resize or paint of any widget of that class crashes the process with a segmentation
fault, with no traceback printed. Measured here (PySide6-Essentials 6.11.3 and 6.10.3; 6.9.3 and 6.8.3 do not
crash, though 6.9.3 drops the exception without printing it): a widget whose ``resizeEvent`` raises inside
``app.exec()`` and a fresh ``QGraphicsView`` subclass shown next take the subclass's ``resizeEvent`` from 3
references to 2, then the process dies (SIGSEGV). It is how a script that trains in the Probe and then ``grab()``s the
window crashed in 3 of 15 runs (found from core dumps): the Live workspace, half built at start-up, raised in
``resizeEvent`` during the ``grab()`` (which sends hidden widgets their pending resizes); the next ``ImageView``
resized freed ``ImageView.resizeEvent``.

So every Qt virtual this package overrides (``*Event``, ``event``, ``eventFilter``, ``sizeHint``, ``paint``,
``boundingRect``, ...) is decorated with ``@qt_override``: an exception is reported (its traceback on standard error,
the newest in ``caught``, and each listener called, such as the main window's status bar) and the override returns
what Qt's own implementation would (the base class's result for the value-returning ones; for ``QDialog.done`` and
``reject`` the base's, which closes the dialog; nothing for the event handlers). ``tests/test_qt_override.py`` checks that every such override in ``widgets/`` is decorated, and drives
the crash that started it. pyqtgraph's own overrides (154 in 0.14) are decorated the same way when the app starts
(``guard_modules("pyqtgraph")`` in ``widgets.application.make_app``), and those of a pyqtgraph module imported later
as it is imported.
"""

from __future__ import annotations

import functools
import sys
import traceback
from typing import Callable

#: The virtuals whose result Qt uses, and QDialog's ``done`` / ``reject`` (a dialog can always be closed): on an
#: exception, the base class's implementation runs instead (and its result is returned).
RETURNING = frozenset({"sizeHint", "minimumSizeHint", "event", "eventFilter", "viewportEvent", "boundingRect",
                       "heightForWidth", "hasHeightForWidth", "shape", "itemChange", "done", "reject",
                       "rowCount", "columnCount", "count", "itemAt", "takeAt", "expandingDirections",
                       "minimumSize"})

#: The reports so far, newest last ("Class.method: ExceptionType: message"); at most ``KEEP``.
caught: list[str] = []
KEEP = 50
total = 0  # how many were caught since the start (``caught`` keeps the last ``KEEP``)
_listeners: list[Callable[[str], None]] = []
_printed: dict[tuple[str, str, str], int] = {}  # (class, method, exception type) -> how many times caught


def add_listener(fn: Callable[[str], None]) -> Callable[[], None]:
    """Call ``fn(report)`` for each exception caught from now on (in the GUI thread); returns the unsubscribe."""
    _listeners.append(fn)
    return lambda: _listeners.remove(fn) if fn in _listeners else None


def report(obj: object, name: str, exc: BaseException) -> str:
    """Print the traceback (once per override and exception type: a paint that fails fails at every frame) and
    tell the listeners; never raises."""
    text = f"{type(obj).__name__}.{name}: {type(exc).__name__}: {exc}"
    key = (type(obj).__qualname__, name, type(exc).__name__)
    _printed[key] = _printed.get(key, 0) + 1
    try:
        if _printed[key] == 1:
            sys.stderr.write(f"Filter Explorer: an exception in the Qt override {type(obj).__name__}.{name} was "
                             f"caught (the window carries on; the same again is not printed):\n")
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    except Exception:  # noqa: BLE001 - a closed stderr must not turn a report into a crash
        pass
    global total
    total += 1
    caught.append(text)
    del caught[:-KEEP]
    for fn in list(_listeners):
        try:
            fn(text)
        except Exception:  # noqa: BLE001 - the same: a listener's failure stays here
            pass
    return text


def _fallback(self, wrapper, name: str, args: tuple):
    """What Qt's implementation returns: the next class's ``name`` after the one that holds ``wrapper``."""
    if name not in RETURNING:
        return None
    try:
        owner = next(c for c in type(self).__mro__ if c.__dict__.get(name) is wrapper)
        return getattr(super(owner, self), name)(*args)
    except Exception as exc:  # noqa: BLE001 - e.g. a pure virtual (QGraphicsItem.boundingRect)
        report(self, f"{name} (Qt's own)", exc)
        if name == "boundingRect":
            from PySide6.QtCore import QRectF

            return QRectF()
        if name in ("rowCount", "columnCount", "count"):  # a table model's or a layout's (pure virtual): empty
            return 0
        return False if name in ("event", "eventFilter", "viewportEvent", "hasHeightForWidth") else None


#: The method names Qt calls back (besides every ``*Event``) that ``is_qt_virtual`` recognises.
CALLBACKS = frozenset({"event", "eventFilter", "sizeHint", "minimumSizeHint", "paint", "boundingRect", "shape",
                       "itemChange", "heightForWidth", "hasHeightForWidth", "viewportEvent", "timerEvent",
                       "done", "accept", "reject"})  # QDialog's: Esc and the window's close call them virtually
#: An item model's methods its views call back (only for ``QAbstractItemModel`` subclasses: ``QGraphicsItem.data``,
#: for one, is no callback).
MODEL_CALLBACKS = frozenset({"data", "headerData", "rowCount", "columnCount", "flags", "index", "parent", "sort"})
#: A layout's methods Qt calls back (only for ``QLayout`` subclasses, such as ``widgets.common.flow.FlowLayout``).
LAYOUT_CALLBACKS = frozenset({"addItem", "count", "itemAt", "takeAt", "expandingDirections", "setGeometry",
                              "minimumSize", "sizeHint", "heightForWidth", "hasHeightForWidth"})


def is_qt_virtual(cls: type, name: str) -> bool:
    """``name`` is a method of a PySide6 class in ``cls``'s ancestry, and one of the kinds Qt calls back on the GUI
    thread. ``QThread.run`` is not among them: it runs in its own thread with no Python caller, where PySide6 prints
    an exception instead of storing it, and the listeners here are GUI-thread code; the app's two ``run`` overrides
    catch everything themselves (``widgets.common.worker``, ``widgets.live.runner``)."""
    if name in MODEL_CALLBACKS:
        from PySide6.QtCore import QAbstractItemModel

        return issubclass(cls, QAbstractItemModel)
    if name in LAYOUT_CALLBACKS:
        from PySide6.QtWidgets import QLayout

        if issubclass(cls, QLayout):
            return True
    if not (name.endswith("Event") or name in CALLBACKS):
        return False
    return any(c.__module__.startswith("PySide6") and name in vars(c) for c in cls.__mro__[1:])


def guard_modules(prefix: str) -> int:
    """Decorate, in place, every Qt virtual overridden by a class of the modules already imported whose name starts
    with ``prefix`` (``make_app`` does it for pyqtgraph: an exception in its ``paint`` or ``resizeEvent`` would crash
    the app the same way), and of those imported later (``guard_on_import``: pyqtgraph's export dialog imports its
    exporters when a user first asks for it). Returns how many were decorated now; a second call decorates none."""
    n = 0
    for modname, mod in list(sys.modules.items()):
        if mod is not None and (modname == prefix or modname.startswith(prefix + ".")):
            n += _guard_module(mod)
    guard_on_import(prefix)
    return n


def _guard_module(mod) -> int:
    n = 0
    modname = getattr(mod, "__name__", None)
    for cls in [c for c in list(vars(mod).values()) if isinstance(c, type) and c.__module__ == modname]:
        for name, fn in list(vars(cls).items()):
            if (name.endswith("Event") or name in CALLBACKS or name in MODEL_CALLBACKS) and callable(fn) \
                    and not getattr(fn, "__qt_override__", False) and is_qt_virtual(cls, name):
                setattr(cls, name, qt_override(fn))
                n += 1
    return n


class _GuardOnImport:
    """A ``sys.meta_path`` finder that finds nothing itself: for a module under one of ``prefixes`` it asks the other
    finders for the spec and wraps the loader's ``exec_module`` so that the module's overrides are decorated as soon
    as its code ran (``_guard_module``)."""

    def __init__(self) -> None:
        self.prefixes: set[str] = set()

    def find_spec(self, name, path, target=None):
        if not any(name == p or name.startswith(p + ".") for p in self.prefixes):
            return None
        import importlib.machinery

        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        run = getattr(spec.loader, "exec_module", None)
        if run is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec  # a loader this does not know: the module stays as it is (``guard_modules`` can run again)

        def exec_module(module) -> None:
            run(module)
            _guard_module(module)

        spec.loader.exec_module = exec_module  # this module's own loader object (one per spec)
        return spec


_on_import = _GuardOnImport()


def guard_on_import(prefix: str) -> None:
    """From now on, decorate the Qt overrides of each module under ``prefix`` when it is imported. Idempotent."""
    _on_import.prefixes.add(prefix)
    if _on_import not in sys.meta_path:
        sys.meta_path.insert(0, _on_import)


def qt_override(fn):
    """Decorate a Python override of a Qt virtual function: see the module docstring."""
    name = fn.__name__

    @functools.wraps(fn)
    def guarded(self, *args):
        try:
            return fn(self, *args)
        except Exception as exc:  # noqa: BLE001 - nothing may leave a Qt virtual (module docstring)
            report(self, name, exc)
            return _fallback(self, guarded, name, args)

    guarded.__qt_override__ = True
    return guarded
