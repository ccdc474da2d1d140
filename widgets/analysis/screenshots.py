"""The README's Insight pictures, taken from the real window offscreen (the CKA one is simply
``python main.py --screenshot docs/screenshots/insight-cka.png --workspace insight``)::

    QT_QPA_PLATFORM=offscreen python -m widgets.analysis.screenshots docs/screenshots

writes ``insight-patches.png`` (top-activating patches of a trained model's channel), ``insight-filters.png``
(trained vs random twin vs the session's bank), ``insight-fold.png`` (lc-resnet20's fold view) and
``probe-projector.png`` (a Probe run on digits with its feature projection and one point's image opened).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def _settle(app, until, limit_s: float = 120.0) -> None:
    t = time.monotonic()
    while not until() and time.monotonic() - t < limit_s:
        app.processEvents()
        time.sleep(0.01)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)


def _grab(win, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not win.grab().save(str(path), "PNG"):
        raise SystemExit(f"error: could not write {path}")
    print(path)


def patches(app, out: Path) -> None:
    from app.models.zoo import default_specs
    from widgets.main_window import MainWindow

    win = MainWindow(workspace="insight", persist=False)
    win.resize(1400, 900)
    win.show()
    spec = next(s for s in default_specs() if s.label == "simple (trained, MNIST)")
    win.insight.show_patches(spec, 1, 5)
    _settle(app, lambda: win.insight.patches.view_data is not None)
    _grab(win, out / "insight-patches.png")
    ins = win.insight
    ins.tabs.setCurrentWidget(ins.filters)
    ins.filters.compute()
    _settle(app, lambda: len(ins.filters.sets) > 0 and not ins.busy())
    _grab(win, out / "insight-filters.png")
    ins.tabs.setCurrentWidget(ins.fold)
    ins.fold.compute()
    _settle(app, lambda: len(ins.fold.folded) > 0)
    ins.fold.layer.setCurrentIndex(min(4, ins.fold.layer.count() - 1))
    _settle(app, lambda: True)
    _grab(win, out / "insight-fold.png")
    win.close()


def projector(app, out: Path) -> None:
    import numpy as np

    from app.models.zoo import default_specs
    from app.probe.config import ProbeConfig
    from app.probe.run import run_probe
    from app.tasks import run_to_end
    from widgets.main_window import MainWindow
    from widgets.probe.model import RunView

    spec = next(s for s in default_specs() if s.label == "simple (trained, MNIST)")
    result = run_to_end(run_probe(ProbeConfig(model=spec, dataset="digits", head="logistic", seed=0)))
    win = MainWindow(workspace="probe", persist=False)
    win.resize(1400, 900)
    win.show()
    probe = win.probe
    run = RunView.from_result(result)
    probe.results.show_run(run)
    probe.tabs.setCurrentWidget(probe.results)
    probe.gallery.load(run)
    pj = probe.results.projector
    probe.results.lower.setCurrentWidget(pj)
    pj.requested.emit("pca")
    _settle(app, lambda: pj.data is not None and not probe.gallery.busy())
    k = int(np.argmax(pj.data.projection.xy[:, 0]))
    pj.select(int(pj.data.projection.indices[k]))
    _settle(app, lambda: True)
    _grab(win, out / "probe-projector.png")
    win.close()


def main(argv: list[str]) -> int:
    from widgets.application import make_app

    out = Path(argv[0] if argv else "docs/screenshots")
    app = make_app()
    patches(app, out)
    projector(app, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
