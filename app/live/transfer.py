"""Moving frames between host and device for the live engine, so that two frames can be in flight. Qt-free.

On CUDA a frame's work is queued, not waited for (``LiveEngine.submit``); what it needs from here:

- ``Uploader``: a uint8 (H, W, 3) frame -> device memory, through page-locked host buffers used in turn (two: the
  buffer of frame n is rewritten for frame n + 2, once its copy out has finished) and a copy stream of its own,
  so that the next frame's upload overlaps the current frame's forward on the compute stream (which waits for the
  upload's event before it reads the frame);
- ``to_host``: a device tensor's copy to host memory, queued (torch copies a ``non_blocking`` read-back into
  page-locked memory); its values are there once the frame's ``Fence`` has passed. A CPU tensor is returned as it is;
- ``Fence``: an event recorded on the compute stream after a frame's last read-back was queued; ``wait()`` blocks
  until the device got there. On CPU it is nothing: the work was done when it was queued;
- ``Work`` (a pane's maps, before its colours), ``Launched`` (a pane queued), ``Pending`` (a submitted frame) and its
  ``Marks`` (CUDA timing events: each pane's own device time): what ``LiveEngine.collect`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:  # annotations only (app.live.config and app.live.stats import nothing from here)
    from app.live.config import Prediction
    from app.live.stats import MapStats


def pinned_empty(shape: tuple[int, ...]) -> torch.Tensor:
    """A page-locked uint8 host tensor (CUDA only: an asynchronous upload's source)."""
    return torch.empty(shape, dtype=torch.uint8, pin_memory=True)


class Uploader:
    """uint8 HWC frames -> the device through ``BUFFERS`` page-locked buffers and a copy stream (CUDA only)."""

    BUFFERS = 2

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self.buffers: list[torch.Tensor | None] = [None] * self.BUFFERS
        self.events: list = [None] * self.BUFFERS  # recorded on the copy stream after each buffer's last copy out
        self.slot = 0  # the buffer the next frame goes through
        self._stream = None

    def __call__(self, frame: np.ndarray) -> torch.Tensor:
        i = self.slot
        self.slot = (i + 1) % self.BUFFERS
        if self.events[i] is not None:
            self.events[i].synchronize()  # that buffer's previous upload has left it: it may be rewritten
        buf = self.buffers[i]
        if buf is None or tuple(buf.shape) != frame.shape:
            buf = self.buffers[i] = pinned_empty(frame.shape)
        np.copyto(buf.numpy(), frame)
        x, self.events[i] = self._copy(buf, self.events[i])
        return x

    def _copy(self, buf: torch.Tensor, event):
        """The asynchronous copy of ``buf`` on the copy stream; the compute stream waits for it (its event), and
        the device memory is kept from reuse until the compute stream is done with it."""
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        compute = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self._stream):
            x = buf.to(self.device, non_blocking=True)
        if event is None:
            event = torch.cuda.Event()
        event.record(self._stream)
        compute.wait_event(event)
        x.record_stream(compute)
        return x, event


def to_host(t: torch.Tensor) -> torch.Tensor:
    """``t`` on the host: itself on CPU; on a device a queued copy into page-locked memory (read it after the
    frame's ``Fence.wait()``)."""
    return t if t.device.type == "cpu" else t.to("cpu", non_blocking=True)


class Fence:
    """The point a frame's queued work has to reach before its host copies may be read (CUDA: an event on the
    compute stream, recorded when the fence is made; CPU: already passed)."""

    def __init__(self, device: torch.device) -> None:
        self.event = None
        if torch.device(device).type == "cuda":
            self.event = torch.cuda.Event()
            self.event.record(torch.cuda.current_stream(device))

    def wait(self) -> None:
        if self.event is not None:
            self.event.synchronize()


@dataclass(frozen=True)
class Work:
    """One pane between the two passes of ``LiveEngine.submit``: its maps computed, not yet coloured."""

    label: str
    layers: tuple[tuple[str, int, int], ...]
    layer: int
    first: int
    count: int
    channels: int
    map_size: tuple[int, int]
    focus: int | None
    shown: torch.Tensor  # float32 (n, h, w), new memory
    factor: int
    stats: MapStats | None
    range: tuple[float, float]
    aspect: float
    ms: float
    predictions: tuple[Prediction, ...] = ()
    classifier: bool = False
    note: str = ""  # how the model runs here (its batch norms folded), for the pane's timing tooltip


@dataclass(frozen=True)
class Launched:
    """One pane queued on the device: its host copies (read once the frame's fence has passed)."""

    work: Work
    mosaic: torch.Tensor  # uint8 (H, W, 3) on the host
    grid: Any
    values: torch.Tensor  # the shown maps, float32 on the host
    ends: torch.Tensor  # (lo, hi) of the colour scale
    shared: bool  # one range for every pane (shared contrast)
    ms: float  # the pane's host time to here


@dataclass(frozen=True)
class Pending:
    """A frame submitted to ``LiveEngine.submit`` and not yet collected."""

    t0: float  # perf_counter() when it was submitted
    index: int
    read_ms: float
    source: str
    fps: float
    caption: str
    colormap: str
    symmetric: bool
    panes: tuple  # PaneResult (a pane that failed before its work was queued) or Launched
    shown: np.ndarray | torch.Tensor  # the frame as shown, or its host copy being made
    fence: Fence
    marks: "Marks"


class Marks:
    """CUDA: timing events on the compute stream, one after the frame's pre-processing, one after each pane's maps
    (the first pass of ``submit``), one after each pane's colours and read-backs (the second); read once the frame's
    fence has passed. ``pane_ms(i, n)``: pane i's device time, its two spans plus a 1/n share of the pre-processing
    (as the host's figure shares it). On CPU nothing is recorded, and ``pane_ms`` is None: the host's time is the
    work's."""

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self.events: list | None = [] if self.device.type == "cuda" else None
        if self.events is not None:
            self.mark()

    def mark(self) -> None:
        if self.events is not None:
            e = torch.cuda.Event(enable_timing=True)
            e.record(torch.cuda.current_stream(self.device))
            self.events.append(e)

    def after(self, value):
        """``value``, with a mark recorded after the work that made it (in a comprehension)."""
        self.mark()
        return value

    def span(self, a: int, b: int) -> float:
        return float(self.events[a].elapsed_time(self.events[b]))

    def pane_ms(self, i: int, n: int) -> float | None:
        if self.events is None or len(self.events) != 2 + 2 * n:
            return None
        # marks: 0 start, 1 pre-processed, 2..n+1 each pane's maps, n+2..2n+1 each pane's colours
        return self.span(0, 1) / n + self.span(1 + i, 2 + i) + self.span(1 + n + i, 2 + n + i)
