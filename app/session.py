"""The user's working set, shared by every workspace: kernel banks and model specs by name.

Qt-free: widgets subscribe with plain callbacks and update themselves (with their own signals blocked).
"""

from __future__ import annotations

from typing import Any, Callable

Listener = Callable[[str, str], None]  # (kind, name): "banks", "models", "tap", or a request (see ``request``)


class Session:
    def __init__(self) -> None:
        self.banks: dict[str, Any] = {}  # name -> app.kernels.KernelBank
        self.models: dict[str, Any] = {}  # name -> app.models.ModelSpec
        self._listeners: list[Listener] = []
        self.taps: dict[str, int] = {}  # model name -> feature_info index last asked for (request_tap)
        # session models kept in their file but not restored today (a checkpoint not there): their names stay taken
        # (app.models.session_models.new_name; the main window sets the list ``load`` fills)
        self.kept_models: list[Any] = []

    def subscribe(self, fn: Listener) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def _emit(self, kind: str, name: str) -> None:
        for fn in list(self._listeners):
            fn(kind, name)

    def put_bank(self, name: str, bank: Any) -> None:
        self.banks[name] = bank
        self._emit("banks", name)

    def remove_bank(self, name: str) -> None:
        if self.banks.pop(name, None) is not None:
            self._emit("banks", name)

    def request(self, kind: str, name: str) -> None:
        """Ask whichever workspace serves ``kind`` to act (listeners ignore kinds they do not know). Known:
        "live-head": show the stored probe head ``name`` (its .json path) in a Live pane, on its backbone."""
        self._emit(kind, name)

    def put_model(self, name: str, spec: Any) -> None:
        self.models[name] = spec
        self._emit("models", name)

    def remove_model(self, name: str) -> None:
        if self.models.pop(name, None) is not None:
            self._emit("models", name)

    def request_tap(self, name: str, layer: int) -> None:
        """Ask Live to show layer ``layer`` (a feature_info index) of the session model ``name``."""
        self.taps[name] = int(layer)
        self._emit("tap", name)

    @staticmethod
    def unique_name(existing: dict[str, Any], base: str) -> str:
        if base not in existing:
            return base
        i = 2
        while f"{base} ({i})" in existing:
            i += 1
        return f"{base} ({i})"
