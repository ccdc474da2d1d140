"""Undo/redo for the workbench: a stack of immutable bank snapshots (cheap: banks are small and read-only)."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernels.bank import KernelBank


@dataclass(frozen=True)
class Step:
    bank: KernelBank
    label: str
    merge_key: object = None


class History:
    """The working bank plus undo/redo stacks.

    ``push(bank, label, merge_key)``: a new state; successive pushes with the same non-None ``merge_key``
    (one brush stroke) collapse into one undo step. ``reset(bank)`` clears the history (a file was opened).
    """

    def __init__(self, bank: KernelBank, limit: int = 100, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._undo: list[Step] = []
        self._redo: list[Step] = []
        self._current = Step(bank, "start")
        self.limit = limit
        self.max_bytes = max_bytes  # big banks keep fewer undo steps

    @property
    def bank(self) -> KernelBank:
        return self._current.bank

    def reset(self, bank: KernelBank) -> None:
        self._undo.clear()
        self._redo.clear()
        self._current = Step(bank, "start")

    def push(self, bank: KernelBank, label: str, merge_key: object = None) -> None:
        if merge_key is not None and self._current.merge_key == merge_key and self._undo:
            self._current = Step(bank, label, merge_key)  # same stroke: keep the state before it on the stack
            return
        self._undo.append(self._current)
        del self._undo[:-self.limit]
        total = sum(s.bank.weights.nbytes for s in self._undo)
        while len(self._undo) > 1 and total > self.max_bytes:
            total -= self._undo.pop(0).bank.weights.nbytes
        self._redo.clear()
        self._current = Step(bank, label, merge_key)

    def replace(self, bank: KernelBank) -> None:
        """Change the current state without an undo step (e.g. a rename)."""
        self._current = Step(bank, self._current.label, self._current.merge_key)

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo_label(self) -> str:
        return self._current.label if self._undo else ""

    def redo_label(self) -> str:
        return self._redo[-1].label if self._redo else ""

    def undo(self) -> KernelBank:
        if self._undo:
            self._redo.append(Step(self._current.bank, self._current.label))
            prev = self._undo.pop()
            self._current = Step(prev.bank, prev.label)
        return self.bank

    def redo(self) -> KernelBank:
        if self._redo:
            self._undo.append(Step(self._current.bank, self._current.label))
            self._current = self._redo.pop()
        return self.bank
