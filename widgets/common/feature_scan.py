"""PySide6's import hook, made cheap: it reads every module imported after PySide6 with ``inspect.getsource``.

PySide6 (6.x, ``shibokensupport.feature``) decides for each module imported after it whether the module "uses
PySide6", for its ``from __feature__ import ...`` switches: ``_mod_uses_pyside(module)`` takes the module's whole
source through ``inspect.getsource`` and looks for the string "PySide6". That goes through ``linecache``, which splits
and keeps every such file's lines for the life of the process, and through ``tokenize`` for the file's encoding.
The desktop app imports Qt first and torch, scikit-learn and the rest after the window shows, on the preload thread:
measured on this 2-core VM, ``import torch`` after PySide6 took 1.35-1.65 s against 1.27-1.46 s alone, and left 825
files and 16.7 MB of source text in ``linecache``, while that thread shares the interpreter lock with the GUI thread.

``install()`` replaces the function with one that reads a ``.py`` file's bytes and looks for ``b"PySide6"``: the
same answer (``getsource`` of a module is its whole file), nothing kept; modules with no ``.py`` file go to PySide6's
own function, as before. Where PySide6 has no such function (another version), nothing is changed."""

from __future__ import annotations

import sys

_original = None


def uses_pyside(module) -> bool:
    """Whether ``module``'s source mentions PySide6 (``_mod_uses_pyside``'s question), from the file's bytes."""
    path = getattr(module, "__file__", None)
    if isinstance(path, str) and path.endswith(".py"):
        try:
            with open(path, "rb") as f:
                return b"PySide6" in f.read()
        except OSError:
            pass
    return bool(_original(module)) if _original is not None else False


def install() -> bool:
    """Put ``uses_pyside`` in place of PySide6's scan (idempotent); whether it is in place."""
    global _original
    import PySide6.QtCore  # noqa: F401 - loads the feature module

    feature = sys.modules.get("shibokensupport.feature")
    current = getattr(feature, "_mod_uses_pyside", None)
    if current is None:
        return False
    if current is not uses_pyside:
        _original = current
        feature._mod_uses_pyside = uses_pyside
    return True
