"""The Experiments workspace's recipe file: Open… adds a .toml recipe to the list, and the file the selection loaded is
read again when its contents change (an edit in another program), seen by a digest of its bytes. A mixin of
``ExperimentsWorkspace`` (its ``recipe``, ``recipe_combo``, ``quick``, ``dataset``, ``claim`` and the
``_loaded_from``, ``_loaded_digest``, ``_recipe_error``, ``_reloaded_note``, ``_own_dataset`` state)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.errors import AppError, message
from app.experiments.recipe import load_recipe

# the line under Run while the recipe file, edited since it was loaded, does not read (Run says it again, runs nothing)
BROKEN = "The recipe file changed and no longer reads"


class RecipeFile:
    def _reload(self) -> bool:
        """Read the selected recipe file again when its contents changed since it was last read (edited in another
        program while this workspace showed it: the plan and a run must be the file's as it is now). True when the
        file changed (read again, or no longer reading); a file that no longer reads keeps the recipe as it was and
        sets ``_recipe_error`` (the project's message), which the line under Run shows and Run refuses with, until
        the file reads again."""
        path = self._loaded_from
        if not path or self.recipe is None:
            return False
        digest = _digest(path)
        if digest == self._loaded_digest:
            return False
        self._loaded_digest = digest
        try:
            recipe = load_recipe(path)
        except AppError as exc:
            self._recipe_error = message(exc)
            self._reloaded_note = None
            return True
        self._recipe_error = None
        quick = self.quick.isChecked()
        if self.dataset.value() == self._own_dataset:  # not chosen by the user: the file's own dataset
            self.dataset.set_value(recipe.dataset(quick))
        self._own_dataset = recipe.dataset(quick)
        self.recipe = recipe
        self.claim.setText(f"<b>{recipe.title}</b><br>{recipe.claim}")
        self._reloaded_note = f"Recipe reloaded from {Path(path).name} (the file changed since it was read)."
        return True

    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open recipe", str(Path.home()), "Recipes (*.toml)")
        if path:
            self.load_file(path)

    def load_file(self, path: str) -> bool:
        try:
            r = load_recipe(path)
        except AppError as exc:
            QMessageBox.warning(self, "Recipe", message(exc))
            return False
        self.recipe_combo.addItem(r.name, str(path))
        self.recipe_combo.setCurrentIndex(self.recipe_combo.count() - 1)
        return True


def _digest(path: str) -> str | None:
    """The recipe file's contents as a digest (None: it cannot be read): an edit is seen whatever its time stamp (two
    saves within one tick of the file system's clock, or a copy that kept the old time)."""
    import hashlib

    try:
        return hashlib.sha1(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
