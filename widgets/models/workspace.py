"""The Models workspace: build a backbone, see its layers and kernels, compare two models, add it to the session.

Left: the builder form (``builder_form``). Right, top: the layer table (``layer_table``: per-layer freeze toggles and
Workbench banks). Right, bottom: two kernel panels side by side (``kernel_compare``). Builds run off the GUI thread
and are cached as immutable ``ModelView`` snapshots (``view_cache``); this module wires them together. Train… and its
dialog: ``train_link``; Load weights…: ``weights_loading``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from app.models import describe, names, session_models, viz
from app.models.options import flag
from app.models.build import checkpoint_extras
from app.models.catalog import bank_state
from app.models.spec import ModelSpec
from app.session import Session
from widgets.common.worker import WorkerPool
from widgets.common.workspace import install_shortcut, run_steps
from widgets.models import persist
from widgets.models.builder_form import BuilderForm
from widgets.models.choices import LayerChoices
from widgets.models.kernel_compare import BUILDER, KernelCompare
from widgets.models.open_model import OwnModelPanel, splitter, widen_for_tree
from widgets.models.layer_table import COL_BANK, COL_FROZEN, LayerTable  # noqa: F401  (tests read the columns)
from widgets.models.train_link import TrainLink
from widgets.models.view_cache import ViewCache, view_key
from widgets.models.weights_loading import WeightsLoading
from widgets.models.words import arms_text, auto_name, stages_html, unweighted


class ModelsWorkspace(TrainLink, WeightsLoading, QWidget):
    _session_event = Signal(str, str)  # (kind, name), queued to the GUI thread from any thread
    STEPWISE = True  # built in four steps (widgets.common.workspace): the start-up never blocks for all of it

    def __init__(self, session: Session, settings: QSettings, parent: QWidget | None = None, *,
                 stepwise: bool = False) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.pool = WorkerPool(self)
        self.cache = ViewCache(self.pool, self)
        self._views = self.cache.views  # key -> snapshot (the same dict)
        self._builder_spec: ModelSpec | None = None
        self._builder_view: viz.ModelView | None = None
        self.choices = LayerChoices()  # the layer table's freeze toggles and per-layer initialisations
        self._builder_inits: tuple[tuple[str, str], ...] = ()  # per-layer inits of the current build
        self._builder_view_key = ""
        self._weights: str | None = None
        self._pending_weights: str | None = None
        self._loading = False
        self.train_dialog = None
        self._restore_layer = ""

        self._rebuild_timer = QTimer(self)
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(200)
        self._rebuild_timer.timeout.connect(self.rebuild)
        self.build_steps = self._build(session, settings)
        if not stepwise:
            run_steps(self.build_steps)

    def _build(self, session: Session, settings: QSettings):
        """The form, the layer table and kernel panels, "Your model" and the wiring, then the restored state."""
        self.form = f = BuilderForm()
        yield
        self.layers = LayerTable()
        self.kernels = KernelCompare()
        yield
        # the widgets tests and the preview reach for, by their old names
        self.backbone, self.init, self.seed, self.freeze, self.name_edit = f.backbone, f.init, f.seed, f.freeze, \
            f.name_edit
        self.weights_label, self.banner, self.status, self.add_btn = f.weights_label, f.banner, f.status, f.add_btn
        self.table, self.totals = self.layers.table, self.layers.totals
        self.panel_a, self.panel_b, self.compare = self.kernels.panel_a, self.kernels.panel_b, self.kernels.compare
        self.scale, self.link = self.kernels.scale, self.kernels.link
        self.right_splitter = splitter(Qt.Orientation.Vertical, (self.layers, 2, 300), (self.kernels, 3, 520))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.own = OwnModelPanel(session, settings, self.pool)  # "Your model": open a model file (Ctrl+Shift+O)
        self.left_tabs = QTabWidget()
        for w, text in ((f, "Build"), (self.own, "Your model")):
            self.left_tabs.addTab(w, text)
        self.main_splitter = splitter(Qt.Orientation.Horizontal, (self.left_tabs, 0, 380),
                                       (self.right_splitter, 1, 1020))
        lay.addWidget(self.main_splitter)
        self.left_tabs.currentChanged.connect(lambda i: widen_for_tree(self.main_splitter, i == 1))

        f.backbone.currentIndexChanged.connect(self._on_backbone)
        f.changed.connect(self._changed)
        f.freeze.currentIndexChanged.connect(self._on_preset)
        f.load_btn.clicked.connect(self.choose_weights)
        f.clear_weights_btn.clicked.connect(self.clear_weights)
        f.add_btn.clicked.connect(self.add_to_session)
        f.train_btn.clicked.connect(self.open_train)
        f.reset_btn.clicked.connect(self.reset_options)
        self.layers.frozenToggled.connect(self._on_frozen_toggled)
        self.layers.initChosen.connect(self._on_layer_init)
        self.layers.kernelLayerSelected.connect(self._on_kernel_layer)
        self.kernels.attach(self.cache, lambda: (self._builder_spec, self._builder_view))
        self.kernels.changed.connect(self._save)
        self.cache.built.connect(self._on_built)
        self.cache.failed.connect(self._on_built)
        self.own.opened.connect(lambda name: self.panel_b.select_source(f"session:{name}"))
        for seq, fn, text in (("Ctrl+O", self.choose_weights, "Load weights"),
                              ("Ctrl+Return", self.add_to_session, "Add to session"),
                              ("Ctrl+Enter", self.add_to_session, "Add to session"),
                              ("Ctrl+Shift+O", self.open_model, "Open model"),
                              ("Ctrl+T", self.open_train, "Train"), ("Ctrl+B", self.backbone.setFocus, "Backbone"),
                              ("Ctrl+R", self.retry, "Rebuild")):
            install_shortcut(self, seq, fn, text)
        yield
        self._restore()
        self._session_event.connect(self._on_session_event)
        self._unsubscribe = session.subscribe(lambda kind, name: self._session_event.emit(kind, name))
        self._refresh_sources()
        self.rebuild()

    def shortcuts(self) -> list[str]:
        return ["Ctrl+B: choose the backbone", "Ctrl+O: load weights", "Ctrl+Shift+O: open a model file",
                "Ctrl+Return: add to session",
                "Ctrl+T: train…", "Ctrl+R: rebuild now"]

    def option_widget(self, name: str) -> QWidget:
        return self.form.option_widget(name)

    # ============================================================================================== spec
    def current_spec(self, weights: str | None | bool = False, layer_inits: tuple | None = None) -> ModelSpec:
        """The builder's spec (ValueError with a readable message when a field is wrong). ``layer_inits``: the
        per-layer initialisations its name mentions (default: the layer table's)."""
        backbone = self.backbone.currentData()
        options = self.form.option_values()
        w = self._weights if weights is False else weights
        banks = self.choices.banks(self.session.banks)
        init = "checkpoint" if w else self.init.currentData()
        state = "trained" if w else (bank_state(banks) if banks else "random")
        inits = self.choices.inits() if layer_inits is None else layer_inits
        label = self.name_edit.text().strip() or auto_name(backbone, options, init, w, banks, inits)
        ck_banks, ck_input = checkpoint_extras(w, backbone) if w else ((), None)
        mine = {layer for layer, _ in banks}  # a bank chosen here for a layer wins over the checkpoint's
        banks = list(banks) + [(layer, b) for layer, b in ck_banks if layer not in mine]
        spec = ModelSpec.make(backbone, label=label, options=options, init=init, weights=w,
                              freeze=viz.freeze_entries(self.freeze.currentData(), self.choices.freeze),
                              seed=self.seed.value(), weight_state=state, banks=tuple(banks))
        return dataclasses.replace(spec, input=ck_input) if ck_input is not None else spec

    def final_spec(self) -> ModelSpec:
        """The complete builder spec (per-layer initialisations turned into banks), as Live/Probe/training get it."""
        spec, inits, toggles = self.current_spec(), self.choices.inits(), self.choices.toggles()
        if not inits and not toggles:
            return spec
        view = self._views.get(view_key(spec, inits))
        if view is not None:
            return view.spec
        return viz.resolve_layer_inits(spec, inits, toggles)[0]

    def build_error(self) -> str | None:
        """Why the builder's model, as the form and table say now, does not build (its build failed; or a field is
        wrong), else None (built, or still building)."""
        try:
            spec = self.current_spec()
        except ValueError as exc:
            return str(exc)
        return self.cache.errors.get(view_key(spec, self.choices.inits()))

    def train_spec(self) -> ModelSpec:
        """What Train… trains: the builder's model as it is now (the dialog asks at Start). ValueError: why it
        cannot be trained (it does not build)."""
        error = self.build_error()
        if error:
            raise ValueError(f"the builder's model does not build: {error}")
        return self.final_spec()

    # ============================================================================================ builds
    @Slot()
    def _changed(self, *_args) -> None:
        if not self._loading:
            self._rebuild_timer.start()

    @Slot(int)
    def _on_backbone(self, _index: int) -> None:
        if self._loading:
            return
        bb = self.backbone.currentData()
        self.choices = LayerChoices(*persist.saved_layers(self.settings, bb, self.session.banks))
        self._weights = None
        self.weights_label.setText(f"none ({unweighted(bb)})")
        self.form.fill_options(bb, persist.saved_options(self.settings, bb))
        self.form.description.setText(describe(bb))
        self.rebuild()

    @Slot(int)
    def _on_preset(self, _index: int) -> None:
        if not self._loading:
            self.choices.freeze.clear()
            self._rebuild_timer.start()

    @Slot()
    def reset_options(self) -> None:
        self.form.fill_options(self.backbone.currentData(), {})
        self.rebuild()

    @Slot()
    def retry(self) -> None:
        """Ctrl+R: build again now, a failed build too (a failure is remembered per spec, so that Add to session and
        the kernel panels can refuse it; the user asking again is the moment to try it again)."""
        try:
            spec = self.current_spec()
        except ValueError:
            spec = None
        if spec is not None:
            self.cache.errors.pop(view_key(spec, self.choices.inits()), None)
        self.rebuild()

    @Slot()
    def rebuild(self) -> None:
        """Build the builder's spec off the GUI thread (cached by spec)."""
        self._rebuild_timer.stop()
        try:
            spec = self.current_spec()
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self._builder_spec = spec
        self._builder_inits = self.choices.inits()
        self._save()
        self.status.setText(f"Building {spec.label}…")
        self.cache.request(spec, spec.label, self._builder_inits, self.choices.toggles())
        self._deliver_builder()

    @Slot(str)
    def _on_built(self, _key: str) -> None:
        self._deliver_builder()
        self.kernels.deliver_panels()
        self._trim_cache()

    def _trim_cache(self, keep: int | None = None) -> None:
        shown = {id(self._builder_view), id(self.panel_a.view()), id(self.panel_b.view())}
        self.cache.trim(shown, *(() if keep is None else (keep,)))

    def _deliver_builder(self) -> None:
        spec = self._builder_spec
        if spec is None:
            return
        key = view_key(spec, self._builder_inits)
        if key in self.cache.errors:
            # the error stays in the cache (Add to session, Train… and a kernel panel showing this spec refuse it;
            # it was popped here, so they found nothing and a panel waited on "Building …" forever); a change gives
            # a new key, Ctrl+R (retry) tries the same spec again
            msg = self.cache.errors[key]
            if self._pending_weights and spec.weights == self._pending_weights:
                self.cache.errors.pop(key)  # a refused file: loading it again (fixed) tries again
                self._weights_refused(msg)
            else:
                self._show_error(f"Could not build {spec.backbone}: {msg}")
                if self.train_dialog is not None and self.train_dialog.isVisible():
                    self.train_dialog.show_unbuildable(spec.label, msg)
            return
        view = self._views.get(key)
        if view is None:
            return
        note = ""
        if self._pending_weights and spec.weights == self._pending_weights:
            self._weights = self._pending_weights
            self._pending_weights = None
            self.weights_label.setText(Path(self._weights).name)
            self.weights_label.setToolTip(self._weights)
            note = self._forget_layer_inits()
            self._save()
        self._builder_view = view
        self._builder_view_key = key
        self.banner.hide()
        self.status.setText(f"{spec.label}: {len(view.rows)} layers with parameters"
                            + "".join(f"\n{n}" for n in view.notes) + note)
        self.layers.fill(view, self.session.banks, self.choices.init)
        self.layers.table_title.setText(f"<b>Layers of {spec.label}</b>")
        self.totals.setText(view.totals_text())
        self.form.stages.setText(stages_html(view))
        self._show_arms(spec, view)
        self.add_btn.setEnabled(True)
        if self.panel_a.source_id() == BUILDER:
            self.panel_a.set_view(view)
            if self._restore_layer:
                self.panel_a.select_layer(self._restore_layer)
                self._restore_layer = ""
        if self.panel_b.source_id() == BUILDER:
            self.panel_b.set_view(view)
        self.kernels.update_compare()
        self._sync_train_dialog()

    def _show_arms(self, spec: ModelSpec, view: viz.ModelView) -> None:
        """For a model with a ``learn_spatial`` option (LC blocks): the parameter counts of both arms."""
        if "learn_spatial" not in self.form.field_names():
            self.form.arms.hide()
            return
        value = dict(spec.options).get("learn_spatial", self.form.field_default("learn_spatial"))
        try:  # "off" from an older sidecar is off (bool("off") is True)
            learned = flag("learn_spatial", value)
        except ValueError:
            learned = bool(self.form.field_default("learn_spatial"))
        twin = dataclasses.replace(spec, options=tuple(sorted({**dict(spec.options),
                                                               "learn_spatial": not learned}.items())))
        key = self.cache.request(twin, f"{spec.label} (other arm)", self._builder_inits, self.choices.toggles())
        self.form.arms.setText(arms_text(view, self._views.get(key), learned))
        self.form.arms.show()

    def _show_error(self, text: str) -> None:
        self.form.show_error(text)

    # ============================================================================================ table
    @Slot(str, bool)
    def _on_frozen_toggled(self, path: str, frozen: bool) -> None:
        self.choices.freeze[path] = frozen
        self._rebuild_timer.start()

    def set_layer_frozen(self, path: str, frozen: bool) -> None:
        """Freeze or unfreeze one layer (what ticking its Freeze box does)."""
        self.choices.freeze[path] = frozen
        self.rebuild()

    @Slot(str, str)
    def _on_layer_init(self, layer: str, choice: str) -> None:
        self.choices.choose_init(layer, choice)
        self.rebuild()

    def layer_init_combo(self, label: str):
        return self.layers.combo(label)

    @Slot(str)
    def _on_kernel_layer(self, path: str) -> None:
        if self.panel_a.source_id() != BUILDER:
            self.panel_a.select_source(BUILDER)
        self.panel_a.select_layer(path)

    # ============================================================================================ panels
    def _refresh_sources(self) -> None:
        error = self.kernels.refresh_sources(self.session.models)
        if error:
            self.status.setText(error)

    # ============================================================================================ session
    @Slot()
    def add_to_session(self) -> str | None:
        try:
            spec = self.final_spec()
        except Exception as exc:  # a bad field (ValueError, its own message) or a per-layer init that cannot be made
            self._show_error(str(exc) if isinstance(exc, ValueError) else f"Not added: {exc}")
            return None
        error = self.build_error()  # a model that does not build is not offered to Live and Probe
        if error:
            self._show_error(f"Not added: the model does not build: {error}")
            return None
        name = session_models.new_name(self.session, spec.label)  # not a kept model's name either
        if name != spec.label:
            spec = dataclasses.replace(spec, label=name)
        self.session.put_model(name, spec)
        self.status.setText(f"Added “{name}” to the session (Live and Probe can use it now).")
        return name

    @Slot(str, str)
    def _on_session_event(self, kind: str, name: str) -> None:
        if kind == "models":
            self._refresh_sources()
            self.own.refresh()
        elif kind == "banks":
            if self.choices.uses_bank(name):
                if name not in self.session.banks:  # removed: those layers go back to the model's init
                    gone = self.choices.drop_bank(name)
                    self._show_error(f"The Workbench bank {name!r} was removed from the session; "
                                     f"{', '.join(gone)} now use the model's initialisation.")
                self._rebuild_timer.start()
            if self._builder_view is not None:
                self.layers.fill(self._builder_view, self.session.banks, self.choices.init)

    # ========================================================================================= your model
    @Slot()
    def open_model(self) -> None:
        self.left_tabs.setCurrentWidget(self.own)
        self.own.choose_file()

    # ============================================================================================ settings
    def _save(self) -> None:
        if not self._loading:
            persist.save(self)

    def _restore(self) -> None:
        self._loading = True
        persist.restore(self)
        self._loading = False
        self.name_edit.textEdited.connect(lambda _t: self._save())
        self.kernels.load_panel(self.panel_b)

    # ============================================================================================ lifecycle
    def set_active(self, active: bool) -> None:
        pass  # the shortcuts are window-wide and follow visibility (install_shortcut)

    def busy(self) -> bool:
        return self.cache.busy() or self._rebuild_timer.isActive() or self.own.busy()

    def builder_ready(self) -> bool:
        """True when the table and panel show the builder's current spec (nothing pending)."""
        return (not self.busy() and self._builder_spec is not None
                and self._builder_view_key == view_key(self._builder_spec, self._builder_inits))

    def wait_ready(self, ms: int) -> None:
        """For screenshots and tests: let pending builds finish (up to ``ms``)."""
        from PySide6.QtCore import QCoreApplication, QElapsedTimer

        t = QElapsedTimer()
        t.start()
        while t.elapsed() < ms:
            QCoreApplication.processEvents()
            if not self.busy():
                break
            self.thread().msleep(5)

    def shutdown(self) -> None:
        """Stop every worker this workspace owns (called on close)."""
        self._rebuild_timer.stop()
        if self.train_dialog is not None:
            self.train_dialog.shutdown()
        self._unsubscribe()
        self.pool.shutdown()

