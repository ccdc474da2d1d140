"""The in-place download button moved to ``widgets.common.download_button`` (the Experiments, Models and Probe
workspaces use it); this name stays for older imports."""

from __future__ import annotations

from widgets.common.download_button import DownloadButton

__all__ = ["DownloadButton"]
