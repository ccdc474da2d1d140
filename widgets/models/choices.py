"""The per-layer choices made in the Models workspace's layer table, on top of the builder form: which layers are
frozen (overriding the freeze preset) and which convs get their own initialisation or a Workbench bank."""

from __future__ import annotations

import dataclasses
from typing import Any

from app.models import viz


@dataclasses.dataclass
class LayerChoices:
    freeze: dict[str, bool] = dataclasses.field(default_factory=dict)  # layer path -> frozen
    init: dict[str, str] = dataclasses.field(default_factory=dict)  # conv label -> "bank:NAME" | "init:KIND"

    def inits(self) -> tuple[tuple[str, str], ...]:
        """(layer, init) for the layers given their own initialisation formula."""
        return tuple(sorted((k, v[5:]) for k, v in self.init.items() if v.startswith("init:")))

    def toggles(self) -> tuple[str, ...]:
        """The freeze entries of the single-layer toggles (on top of the preset)."""
        return viz.freeze_entries("", self.freeze)

    def banks(self, session_banks: dict[str, Any]) -> list[tuple[str, Any]]:
        """(layer, KernelBank) for the layers given a Workbench bank that is still in the session."""
        out = []
        for layer, choice in self.init.items():
            bank = session_banks.get(choice[5:]) if choice.startswith("bank:") else None
            if bank is not None:
                out.append((layer, bank))
        return out

    def choose_init(self, layer: str, choice: str) -> None:
        if choice:
            self.init[layer] = choice
        else:
            self.init.pop(layer, None)

    def drop_inits(self) -> tuple[tuple[str, str], ...]:
        """Forget the per-layer initialisation formulas (a Workbench bank stays: it wins over a checkpoint by design
        and the table shows it); returns the (layer, init) dropped. Loading weights does this: an initialisation
        chosen before would otherwise replace that layer's trained weights unseen."""
        gone = self.inits()
        for layer, _kind in gone:
            del self.init[layer]
        return gone

    def uses_bank(self, name: str) -> bool:
        return f"bank:{name}" in self.init.values()

    def drop_bank(self, name: str) -> list[str]:
        """Forget a bank that left the session; returns the layers that used it (they go back to the model's
        initialisation)."""
        gone = [lay for lay, c in self.init.items() if c == f"bank:{name}"]
        for lay in gone:
            del self.init[lay]
        return gone
