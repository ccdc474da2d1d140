"""Built models of the Models workspace: ``viz.inspect_task`` runs off the GUI thread; the immutable
``viz.ModelView`` snapshots (and build errors) are cached by spec key and by the version of the files the spec reads
(``files_version``): a checkpoint rewritten on disk (``train --resume X --out X``) is built again, not shown with
its old kernels."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.models import viz
from app.models.spec import ModelSpec
from widgets.common.worker import WorkerPool

MAX_CACHED_VIEWS = 12


def files_version(spec: ModelSpec) -> str:
    """The identity of the files ``spec`` is built from (the weights, their JSON sidecar, a model file the user
    brought): size, mtime, ctime and inode of each, as ``app.storage.content_id`` memoises its digest, so a file
    rewritten in place, even at the same size with its old mtime put back, is a new version. A stat, not a hash: this
    runs on the GUI thread, and a checkpoint can be hundreds of MB."""
    files = {str(spec.weights or "")}
    if spec.weights:
        files.add(str(Path(spec.weights).expanduser().with_suffix(".json")))
    if spec.backbone == "external":
        files.add(str(dict(spec.options).get("source") or ""))
    parts = []
    for f in sorted(files):
        if not f or f.startswith("timm:"):
            continue
        try:
            st = Path(f).expanduser().stat()
        except OSError:
            parts.append(f"{f}:-")
            continue
        parts.append(f"{f}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}")
    return ";".join(parts)


def view_key(spec: ModelSpec, inits: tuple = ()) -> str:
    return (spec.key() + "|" + ",".join(f"{n}:{id(b)}" for n, b in spec.banks) + "|" + repr(inits) + "|"
            + files_version(spec))


class ViewCache(QObject):
    built = Signal(str)  # key: a snapshot is ready
    failed = Signal(str)  # key: the build failed (the message is in ``errors``)

    def __init__(self, pool: WorkerPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.views: dict[str, viz.ModelView] = {}
        self.errors: dict[str, str] = {}
        self.running: dict[str, object] = {}

    def request(self, spec: ModelSpec, title: str, inits: tuple = (), optional: tuple = ()) -> str:
        """Start building ``spec`` unless it is built, failed or under way; returns its key."""
        key = view_key(spec, inits)
        if key in self.views or key in self.running or key in self.errors:
            return key
        worker = self.pool.start(
            lambda token, s=spec, t=title, i=inits, o=optional: viz.inspect_task(s, t, token, i, o),
            name=f"build {title}")
        self.running[key] = worker
        worker.on(finished=lambda view, k=key: self._on_built(k, view),
                  failed=lambda msg, k=key: self._on_failed(k, msg), cancelled=lambda k=key: self.running.pop(k, None))
        return key

    def busy(self) -> bool:
        return bool(self.running)

    def _on_built(self, key: str, view: viz.ModelView) -> None:
        self.running.pop(key, None)
        self.views[key] = view
        self.built.emit(key)

    def _on_failed(self, key: str, msg: str) -> None:
        self.running.pop(key, None)
        self.errors[key] = msg
        self.failed.emit(key)

    def trim(self, shown: set[int], keep: int = MAX_CACHED_VIEWS) -> None:
        """Forget the oldest snapshots (kernel copies can be tens of MB) except those on screen (ids in ``shown``)."""
        for key in list(self.views):
            if len(self.views) <= keep:
                break
            if id(self.views[key]) not in shown:
                del self.views[key]
