"""The Kernel Workbench's toolbar: file, undo/redo, copy/paste and image actions, the sample photographs, the
working bank's title; and the workbench's shortcuts, window-wide while it is shown
(``widgets.common.workspace.install_shortcut``: they work as soon as the tab is shown, whatever has the focus).
``build(ws)`` creates the actions and sets them on the workspace (``ws.undo_act``, ...).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QSizePolicy, QToolBar, QWidget

from app.kernels import ops
from widgets.common.workspace import install_shortcut


class KernelToolbar(QToolBar):
    def __init__(self, parent: QWidget) -> None:
        super().__init__("Kernel bank", parent)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.sample_combo = QComboBox()
        for name in ops.SAMPLE_IMAGES:
            self.sample_combo.addItem(f"sample: {name}.jpg", name)
        self.sample_combo.setToolTip("Built-in sample photographs (scikit-learn)")
        self.title_label = QLabel()
        self.title_label.setToolTip("The working bank (autosaved; also shared with the Models workspace)")

    def _act(self, ws: QWidget, text: str, slot, keys=(), tip: str = "", toolbar: bool = True) -> QAction:
        """A toolbar action (no key of its own) plus window-wide shortcuts for ``keys`` while the workbench is
        shown: they work as soon as the tab is shown, whatever has the focus."""
        keys = list(keys) if isinstance(keys, (list, tuple)) else [keys]
        act = QAction(text, ws)
        if keys:
            first = QKeySequence(keys[0]).toString()
            tip = f"{tip} ({first})" if tip else first
            for k in keys:
                install_shortcut(ws, k, lambda a=act: a.trigger() if a.isEnabled() else None, text)
        act.setToolTip(tip or text)
        act.setStatusTip(tip or text)
        act.triggered.connect(ws.editor.grid.finish_edit)  # first: a value typed in a cell and not yet entered
        act.triggered.connect(slot)
        if toolbar:
            self.addAction(act)
        return act

    def build(self, ws) -> None:
        sk = QKeySequence.StandardKey
        ws.new_act = self._act(ws, "New", ws.new_bank, sk.New, "New empty bank with the generator's shape")
        ws.open_act = self._act(ws, "Open…", ws.open_bank, sk.Open, "Open a bank file (.json, .npz, .npy)")
        ws.save_act = self._act(ws, "Save", ws.save_bank, sk.Save, "Save the bank")
        ws.save_as_act = self._act(ws, "Save As…", ws.save_bank_as, "Ctrl+Shift+S", "Save the bank to a new file")
        self.addSeparator()
        ws.undo_act = self._act(ws, "Undo", ws.undo, "Ctrl+Z", "Undo the last change")
        ws.redo_act = self._act(ws, "Redo", ws.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo")
        ws.copy_act = self._act(ws, "Copy kernel", ws.editor.copy_kernel, "Ctrl+C", "Copy the selected kernel")
        ws.paste_act = self._act(ws, "Paste kernel", ws.editor.paste_kernel, "Ctrl+V",
                                     "Paste the copied kernel into the selected one")
        self.addSeparator()
        ws.image_act = self._act(ws, "Open image…", ws.open_image, "Ctrl+I",
                                     "Show the responses on an image of yours (or drop one on the window)")
        self.sample_combo.activated.connect(ws._on_sample)
        self.addWidget(self.sample_combo)
        ws.generate_act = self._act(ws, "Generate", ws.generate, "Ctrl+G", toolbar=False)
        ws.freeze_act = self._act(ws, "Freeze selected", ws.toggle_freeze_selected, "Ctrl+L", toolbar=False)
        ws.prev_act = self._act(ws, "Previous kernel", lambda: ws.select(ws.selected - 1), "Alt+Left",
                                    toolbar=False)
        ws.next_act = self._act(ws, "Next kernel", lambda: ws.select(ws.selected + 1), "Alt+Right",
                                    toolbar=False)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.addWidget(spacer)
        self.addWidget(self.title_label)

