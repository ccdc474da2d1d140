"""The desktop start-up's heavy work, off the GUI thread (issue 14: the GUI thread is never blocked > 50 ms).

After the first paint the main window starts one ``Preloader`` thread. It imports torch and then, in build order
(the shown workspace first), the Qt-free modules each workspace needs (``import_core``) and does its start-up work
whose results are immutable (``warm_up``: the Kernel Workbench's default bank). The GUI thread stays free meanwhile
(paints, input, timers) and builds each workspace once its part is loaded: what is left on the GUI thread is importing
the workspace's own widget modules and constructing its widgets, which Qt allows nowhere else.

Every step, in the thread and on the GUI thread, is logged as a ``Step`` (name, thread, start, seconds), so that a test
can check where the heavy work ran and ``scripts/first_paint.py`` can report what the start-up spent where.

``shortcut_text``: which key presses count as shortcuts, for the window's word about one pressed on a tab whose
workspace is still being built.
"""

from __future__ import annotations

import ast
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Step:
    name: str  # "import torch", "import kernels", "warm up kernels", "build kernels"
    thread: int  # threading.get_ident() of the thread that ran it
    start: float  # time.perf_counter() when it began
    seconds: float


def workspace_class(key: str) -> type:
    """Import the module of workspace ``key`` and return its class. On the GUI thread only: these modules define Qt
    classes (PySide6 registers their meta-objects; doing that in another thread crashed Qt's event dispatch here)."""
    if key == "kernels":
        from widgets.kernels.workspace import KernelWorkspace as cls
    elif key == "models":
        from widgets.models.workspace import ModelsWorkspace as cls
    elif key == "live":
        from widgets.live.workspace import LiveWorkspace as cls
    elif key == "probe":
        from widgets.probe.workspace import ProbeWorkspace as cls
    elif key == "experiments":
        from widgets.experiments.workspace import ExperimentsWorkspace as cls
    elif key == "insight":
        from widgets.analysis.workspace import InsightWorkspace as cls
    else:
        raise KeyError(key)
    return cls


WORKSPACE_MODULES = {"kernels": "widgets.kernels.workspace", "models": "widgets.models.workspace",
                     "live": "widgets.live.workspace", "probe": "widgets.probe.workspace",
                     "experiments": "widgets.experiments.workspace", "insight": "widgets.analysis.workspace"}
_WIDGETS = Path(__file__).resolve().parent


def _module_file(name: str) -> Path | None:
    """The source of project module ``name`` (``widgets.a.b``): widgets/a/b.py or widgets/a/b/__init__.py."""
    if name != "widgets" and not name.startswith("widgets."):
        return None
    base = _WIDGETS.joinpath(*name.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(name: str) -> list[str]:
    """The ``widgets`` modules that module ``name`` imports at its top level (not inside functions: those are
    imported when first used), in source order."""
    path = _module_file(name)
    if path is None:
        return []
    found: list[str] = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        stmts = [node] if not isinstance(node, (ast.If, ast.Try)) else list(ast.walk(node))
        for st in stmts:
            if isinstance(st, ast.Import):
                found += [a.name for a in st.names]
            elif isinstance(st, ast.ImportFrom) and st.module and not st.level:
                found.append(st.module)
                found += [f"{st.module}.{a.name}" for a in st.names if _module_file(f"{st.module}.{a.name}")]
    return [m for m in found if _module_file(m)]


def widget_modules(key: str) -> list[str]:
    """Workspace ``key``'s module and every project widget module it imports (through each other), each after the
    ones it imports and after its packages: the order in which importing them one at a time loads each alone
    (``MainWindow`` imports one per event-loop turn; each is 2-10 ms instead of 20-90 ms for all of them). Found by
    reading their source (no import), so any thread; ``tests/test_perf_startup_split.py`` keeps it complete."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        parts = name.split(".")
        for i in range(1, len(parts)):  # the packages first: importing widgets.a.b runs widgets/a/__init__.py
            visit(".".join(parts[:i]))
        for dep in _imported(name):
            visit(dep)
        order.append(name)

    visit(WORKSPACE_MODULES[key])
    return order


def import_core(key: str) -> None:
    """Import the Qt-free modules (``app``, OpenCV, SQLite) that workspace ``key``'s module needs, so that importing
    it on the GUI thread afterwards costs only its widget classes. Any thread. ``tests/test_perf_heartbeat_start.py``
    keeps these lists complete (importing the workspace module after them loads no new ``app`` module)."""
    if key == "kernels":
        import cv2  # noqa: F401  (its sample photograph's decoder: imported by the first worker otherwise, 50-100 ms
        # of the GIL while the workbench first paints)

        import app.kernels.edit  # noqa: F401
        import app.kernels.generators  # noqa: F401
        import app.kernels.io  # noqa: F401
        import app.kernels.ops  # noqa: F401
        import app.session  # noqa: F401
        import app.tasks  # noqa: F401
    elif key == "models":
        import app.models.build  # noqa: F401  (the shipped model list, read by its constructor's last step)
        import app.models.catalog  # noqa: F401  (bank_state: the weight state of a model built from banks)
        import app.models.external  # noqa: F401
        import app.models.external.opened  # noqa: F401
        import app.models.inputs  # noqa: F401
        import app.models.kernel_mosaic  # noqa: F401
        import app.models.registry  # noqa: F401
        import app.models.session_models  # noqa: F401  (new models' names: new_name)
        import app.models.viz  # noqa: F401
        import app.models.zoo  # noqa: F401
    elif key == "live":
        import cv2  # noqa: F401

        import app.live.config  # noqa: F401
        import app.live.engine  # noqa: F401
        import app.live.pipeline  # noqa: F401
        import app.live.predict  # noqa: F401
        import app.live.sources  # noqa: F401
        import app.live.stats  # noqa: F401
        import app.live.stills  # noqa: F401  (image and dataset sources, opened on the live thread)
        import app.models.zoo  # noqa: F401
        import app.probe.head_export  # noqa: F401
    elif key == "probe":
        import sqlite3  # noqa: F401

        import app.data.caches  # noqa: F401  (the browser's Disk use button)
        import app.eta  # noqa: F401  (the run panel's time left)
        import app.data.catalog  # noqa: F401
        import app.data.formats  # noqa: F401
        import app.data.imagefolder  # noqa: F401
        import app.data.preview  # noqa: F401
        import app.data.remote  # noqa: F401
        import app.metrics  # noqa: F401  (the Results header's standard errors)
        import app.models.catalog  # noqa: F401
        import app.probe.caveats  # noqa: F401
        import app.probe.compare  # noqa: F401
        import app.probe.config  # noqa: F401
        import app.probe.gallery  # noqa: F401
        import app.probe.history  # noqa: F401
        import app.probe.paired  # noqa: F401
        import app.probe.presets  # noqa: F401
    elif key == "experiments":
        import app.experiments.cell_files  # noqa: F401
        import app.experiments.executors  # noqa: F401
        import app.experiments.recipe  # noqa: F401
        import app.experiments.report  # noqa: F401  (with app.experiments.results: the plot of the first recipe's plan)
        import app.experiments.runner  # noqa: F401
        import app.experiments.store  # noqa: F401
        import app.probe.caveats  # noqa: F401  (recipe_caveats, the plan's amber note)
        import app.probe.paired  # noqa: F401  (an ablation's cells against their baseline's, image by image)
    elif key == "insight":
        import app.analysis.cka  # noqa: F401  (its values' text: cka_text)
        import app.analysis.filters  # noqa: F401  (the orientation bins' centres and convention of its plot)
        import app.analysis.jobs  # noqa: F401
        import app.analysis.projector_jobs  # noqa: F401  (the Probe results' projector and pair gallery)
    else:
        raise KeyError(key)


def warm_up(key: str) -> None:
    """Start-up work whose results are immutable, done before workspace ``key`` is built. Any thread."""
    if key == "kernels":
        from widgets.kernels.defaults import default_bank

        default_bank()
    elif key == "probe":  # the run history: created at the first launch (schema, WAL: disk writes), checked
        from app.errors import AppError
        from app.probe.history import History

        try:
            History().close()
        except AppError:  # unusable: the workspace moves it aside and says so when it opens it
            pass
    elif key == "experiments":  # creates the experiments database at the first launch (its schema: a disk write)
        from app.errors import AppError
        from app.experiments.store import Store

        try:
            Store().done("")
        except AppError:  # an unusable database: the workspace says so when it reads it
            pass


TORCH_LIBRARIES = ("libtorch_global_deps.so", "libc10.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so",
                   "libtorch_python.so")


def _package_folder(name: str) -> Path | None:
    """Linux: the folder of the installed package ``name`` while it is not imported yet, else None (nothing to do)."""
    from importlib.util import find_spec

    if not sys.platform.startswith("linux") or name in sys.modules:
        return None
    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _dlopen(paths, flags_of) -> None:
    """Load each existing shared library in ``paths`` with the C library's ``dlopen`` through ctypes: a foreign call,
    for which ctypes releases the GIL (Python's own import holds it while the dynamic linker works). ``flags_of(path)``:
    its dlopen flags. A library that fails to load is left to the import, which reports why."""
    import ctypes

    dlopen = ctypes.CDLL(None).dlopen
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
    for path in paths:
        if path.exists():
            dlopen(str(path).encode(), flags_of(path))


def _load_torch_libraries() -> None:
    """Linux: load torch's shared libraries without the GIL (``_dlopen``). Python's own import holds the GIL while the
    dynamic linker loads them (libtorch_cpu.so: 430 MB, 0.4-0.5 s here, the GUI thread frozen meanwhile: heartbeat
    gaps of 410-430 ms, 80-100 ms with this); ``import torch`` then finds them loaded. The same flags as torch (global
    for its deps library). Only a head start: a library that is not there is skipped and the import does the rest."""
    import os

    folder = _package_folder("torch")
    if folder is not None:
        _dlopen([folder / "lib" / name for name in TORCH_LIBRARIES],
                lambda p: os.RTLD_NOW | (os.RTLD_GLOBAL if p.name == "libtorch_global_deps.so" else os.RTLD_LOCAL))


def _load_opencv_library() -> None:
    """Linux: load OpenCV's extension module (``cv2/cv2*.so``, 74 MB, and the 80 MB of libraries it links) without the
    GIL (``_dlopen``), as ``_load_torch_libraries`` does for torch. Measured on a cold start (the page cache dropped):
    the GUI thread waited 94-111 ms when the Kernel Workbench's modules imported cv2 (docs/benchmarks/startup.md,
    session 16). ``import cv2`` then finds the library loaded (the same path). Skipped where it is not found."""
    import os

    folder = _package_folder("cv2")
    if folder is not None:
        _dlopen(sorted(folder.glob("cv2*.so")), lambda p: os.RTLD_NOW | os.RTLD_LOCAL)


def _import_torch() -> None:
    """Measured here: importing torch in a thread leaves the GUI thread's heartbeat gaps at ~0.25-0.4 s instead of
    2 s; its shared libraries loaded first without the GIL (``_load_torch_libraries``), at ~0.1 s."""
    if "torch" not in sys.modules:
        _load_torch_libraries()
    import torch  # noqa: F401


WAIT_BUILT_S = 5.0  # the longest the preloader waits for the GUI thread to build the workspace it prepared


class Preloader:
    """One thread that does the start-up's imports and warm-ups in ``order`` (module keys of ``workspace_class``).

    ``ready(key)``: that workspace's Qt-free modules are loaded and its warm-up done: building it now costs only its
    widget modules and widgets. After each workspace it waits (``WAIT_BUILT_S`` at most) until ``built()``.
    A step that fails marks the rest ready: the GUI thread then imports the module itself and reports the real error.
    ``stop()`` skips the steps not yet begun; the step under way (an import cannot be interrupted) ends first. The
    thread is not a daemon: a window closed during the start-up, while torch was being imported, crashed at exit
    ("malloc(): unsorted double linked list corrupted", torch's "terminate called ... ErrorReport") as the interpreter
    tore torch down under the import; now the exit waits for that one step (``tests/test_startup_close_early.py``).
    """

    def __init__(self, order: list[str], log: Callable[[Step], None]) -> None:
        self.order = list(order)  # the order of the imports (``prefer`` moves a key forward)
        self._todo = list(order)  # the keys whose imports have not begun
        self._log = log
        self._ready: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = False
        self._built = threading.Event()
        self.error: str | None = None
        self.modules: dict[str, list[str]] = {}  # key -> its widget modules in import order (``widget_modules``)
        self.loaded_torch = "torch" not in sys.modules  # torch's import hook then ran in this thread (thread counts)
        self.thread = threading.Thread(target=self._run, name="start-up preload")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stopped = True
        self._built.set()

    def built(self) -> None:
        """The GUI thread built a workspace: go on with the next one's imports."""
        self._built.set()

    def ready(self, key: str) -> bool:
        with self._lock:
            return key in self._ready

    def prefer(self, key: str) -> None:
        """The user opened ``key``'s tab: its imports come next, before the other workspaces' (not before the one
        under way)."""
        with self._lock:
            if key in self._todo:
                self._todo.remove(key)
                self._todo.insert(0, key)
                self.order = [k for k in self.order if k not in self._todo] + list(self._todo)

    def _next(self) -> str | None:
        with self._lock:
            return self._todo.pop(0) if self._todo else None

    def _mark(self, key: str) -> None:
        with self._lock:
            self._ready.add(key)

    def _step(self, name: str, fn: Callable[[], object]) -> object:
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self._log(Step(name, threading.get_ident(), t, time.perf_counter() - t))

    def _run(self) -> None:
        try:
            self._step("import torch", _import_torch)
            self._step("load opencv", _load_opencv_library)
            self._mark("torch")
            while (key := self._next()) is not None:
                if self._stopped:
                    return
                self._step(f"import {key}", lambda: import_core(key))
                self._step(f"warm up {key}", lambda: warm_up(key))
                self.modules[key] = widget_modules(key)
                self._mark(key)
                # one at a time: while the GUI thread builds this workspace, the next imports would compete with it
                # for the interpreter (the GIL) and double its build time; the timeout keeps a window that is never
                # shown (or builds nothing) from holding the preloading
                self._built.wait(WAIT_BUILT_S)
                self._built.clear()
        except Exception as exc:  # the GUI thread imports again and shows the real error there
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._ready.update(["torch", *self.order])


def shortcut_text(event) -> str | None:
    """The key combination of a key press that looks like a shortcut (with Ctrl, Alt or Meta, or Return, Enter,
    Escape, Delete, an F-key), as the platform writes it; None for plain typing and a modifier pressed alone."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QKeySequence

    k = event.key()
    mods = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier
    special = k in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Delete) or \
        Qt.Key.Key_F1 <= k <= Qt.Key.Key_F35
    if k in (Qt.Key.Key_Control, Qt.Key.Key_Shift, Qt.Key.Key_Alt, Qt.Key.Key_Meta):
        return None
    if not (event.modifiers() & mods or special):
        return None
    return QKeySequence(event.keyCombination()).toString(QKeySequence.SequenceFormat.NativeText)
