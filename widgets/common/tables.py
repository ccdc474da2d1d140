"""Filling a table whose columns are sized to their contents without measuring them again at every cell.

A ``QHeaderView`` section in ``ResizeToContents`` mode measures its whole column again whenever an item of it
changes, and a table on screen passes the new widths on to its layout: filling N rows cell by cell costs O(N^2)
measurements and as many re-layouts. Measured on the GUI thread: the Models workspace's layer table took 0.6-0.9 s
to fill lc-resnet20's 58 rows at each option change, the Experiments table 240 ms for the CIFAR-10 ablation's 40 cells.
``bulk_fill(table)`` fixes those columns while the block runs and gives them their mode back after it: one
measurement per column at the end."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from PySide6.QtWidgets import QHeaderView, QTableWidget


@contextmanager
def bulk_fill(table: QTableWidget) -> Iterator[QTableWidget]:
    """Within the block, the horizontal header's ResizeToContents columns are Fixed (sized once, at its end)."""
    hh = table.horizontalHeader()
    modes = [hh.sectionResizeMode(c) for c in range(table.columnCount())]
    fitted = [c for c, m in enumerate(modes) if m == QHeaderView.ResizeMode.ResizeToContents]
    for c in fitted:
        hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Fixed)
    try:
        yield table
    finally:
        for c in fitted:
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
