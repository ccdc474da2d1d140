"""The eliding combo box moved to ``widgets.common.elided_combo`` (the Models workspace uses it too); its old home
here re-exports it."""

from widgets.common.elided_combo import ElidedCombo

__all__ = ["ElidedCombo"]
