"""``python -m widgets.preview NAME``: one workspace or panel alone in a window (as Orange's ``WidgetPreview``).

NAME is a workspace (kernels, models, live, probe), the dataset browser (data) or a panel (probe.compare,
probe.results, probe.curves, probe.settings, probe.history, models.builder, models.layers, models.kernels).
Workspaces are made through their public constructors ``Workspace(session, settings)`` only.

``--screenshot PATH`` renders it offscreen to a PNG and exits; ``python -m widgets.preview probe --time`` measures
the Probe's first use headless (digits, a random and a trained backbone, default settings, through the real
widgets; see docs/benchmarks/probe-gui.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch  # noqa: F401  (torch before Qt)


# each maker imports its module when called, so a preview loads only what it shows
def _kernels(session, settings):
    from widgets.kernels.workspace import KernelWorkspace

    return KernelWorkspace(session, settings)


def _models(session, settings):
    from widgets.models.workspace import ModelsWorkspace

    return ModelsWorkspace(session, settings)


def _live(session, settings):
    from widgets.live.workspace import LiveWorkspace

    return LiveWorkspace(session, settings)


def _probe(session, settings):
    from widgets.probe.workspace import ProbeWorkspace

    return ProbeWorkspace(session, settings)


def _data(_session, settings):
    from widgets.data.browser import DatasetBrowser

    return DatasetBrowser(settings=settings)


def _probe_panel(name: str):
    def make(_session, _settings):
        from app.probe.config import HEADS, POOLINGS
        from widgets.probe import compare, curves, history_panel, results, settings_panel

        return {"compare": compare.CompareView, "results": results.ResultsView, "curves": curves.CurvesView,
                "history": history_panel.HistoryPanel,
                "settings": lambda: settings_panel.ProbeSettings(HEADS, POOLINGS)}[name]()

    return make


def _models_panel(name: str):
    def make(_session, _settings):
        from widgets.models import builder_form, kernel_compare, layer_table

        return {"builder": builder_form.BuilderForm, "layers": layer_table.LayerTable,
                "kernels": kernel_compare.KernelCompare}[name]()

    return make


TARGETS: dict[str, Callable[[Any, Any], Any]] = {
    "kernels": _kernels, "models": _models, "live": _live, "probe": _probe, "data": _data,
    **{f"probe.{n}": _probe_panel(n) for n in ("compare", "results", "curves", "history", "settings")},
    **{f"models.{n}": _models_panel(n) for n in ("builder", "layers", "kernels")},
}


def make(name: str, session=None, settings=None):
    """The widget ``name`` (see ``TARGETS``), made with a fresh session and the app's settings file."""
    from app.session import Session
    from widgets.common.settings import settings as app_settings

    if name not in TARGETS:
        raise KeyError(f"unknown preview {name!r}; choose one of: {', '.join(TARGETS)}")
    return TARGETS[name](session or Session(), settings if settings is not None else app_settings())


def _settle(app, widget, ms: int) -> None:
    from PySide6.QtCore import QElapsedTimer

    t = QElapsedTimer()
    t.start()
    wait = getattr(widget, "wait_ready", None)
    while t.elapsed() < ms:
        app.processEvents()
        if callable(wait):
            wait(10)


def _shutdown(widget) -> None:
    fn = getattr(widget, "shutdown", None)
    if callable(fn):
        fn()


def time_probe(ws, app, subset: int, epochs: int) -> int:
    """Press Train on digits with simple (random) and a trained model; print the wall time to the comparison."""
    ws.browser.dataset_name = "digits"
    ws.browser.subset_size = subset
    trained = [x for x in ws.models.labels() if "(trained, MNIST)" in x]
    ws.models.set_checked(["simple (random)"] + trained[:1])
    ps = ws.probe_settings
    ps.head.setCurrentIndex(ps.head.findData("logistic"))
    ps.editor("logistic", "epochs").setValue(epochs)
    ps.seeds.setValue(1)
    ps.test_limit.setValue(0)
    done: list[float] = []
    ws.batchDone.connect(lambda: done.append(time.perf_counter()))
    t0 = time.perf_counter()
    ws.train()
    while not done:
        app.processEvents()
        time.sleep(0.002)
    print(f"models: {', '.join(ws.models.checked_labels())}; dataset digits, subset {subset or 'all'}, "
          f"logistic head, {epochs} epochs")
    print(f"Train pressed -> both accuracies in the comparison: {done[0] - t0:.1f} s (wall)")
    for g in ws.compare.groups:
        print(f"  {g.label:28s} top-1 {100 * g.top1_mean:5.1f}%  (runs {g.n_runs})")
    if ws.banner.text():
        print("message:", ws.banner.text(), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m widgets.preview", description=__doc__.split("\n\n")[0])
    ap.add_argument("name", choices=sorted(TARGETS), metavar="NAME", help=", ".join(TARGETS))
    ap.add_argument("--size", default="1400x860", help="window size WxH (default 1400x860)")
    ap.add_argument("--screenshot", metavar="PATH", help="render offscreen to this PNG and exit")
    ap.add_argument("--time", action="store_true", help="probe only: time the first use (digits, random vs trained)")
    ap.add_argument("--subset", type=int, default=0, help="--time: training images (0 = all)")
    ap.add_argument("--epochs", type=int, default=100, help="--time: head iterations")
    args = ap.parse_args(argv)
    if args.time and args.name != "probe":
        ap.error("--time measures the probe workspace: python -m widgets.preview probe --time")
    if args.time or args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app import device
    from widgets.application import make_app

    device.configure_threads(None)
    app = make_app()
    widget = make(args.name)
    w, h = (int(v) for v in args.size.lower().split("x"))
    widget.resize(w, h)
    widget.setWindowTitle(f"Filter Explorer — {args.name}")
    widget.show()
    set_active = getattr(widget, "set_active", None)
    if callable(set_active):
        set_active(True)
    try:
        if args.time:
            return time_probe(widget, app, args.subset, args.epochs)
        if args.screenshot:
            _settle(app, widget, 1500)
            path = Path(args.screenshot)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not widget.grab().save(str(path), "PNG"):
                print(f"error: could not write {path}", file=sys.stderr)
                return 1
            print(path)
            return 0
        return int(app.exec())
    finally:
        _shutdown(widget)


if __name__ == "__main__":
    sys.exit(main())
