"""Tapping an eager model from two threads at once (the extraction's slices, ``app.probe.extract.in_parts``) gives
each call its own layers' maps: the hooks belong to the module, so ``EagerTaps`` runs one call at a time."""

from __future__ import annotations

import threading
import time

import torch
from torch import nn

from app.models.external.discover import EagerTaps, discover_eager


class Slow(nn.Module):
    """Two convolutions with a pause between them (the GIL released), so that two threads' calls overlap."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(1, 3, 3)
        self.b = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.a(x)
        time.sleep(0.01)
        return self.b(torch.relu(y))


def test_two_threads_tapping_at_once_get_their_own_maps():
    net = Slow().eval()
    taps = discover_eager(net, torch.zeros(1, 1, 12, 12))[0]
    tapper = EagerTaps(net, taps)
    want = list(range(len(taps)))
    xs = [torch.randn(2, 1, 12, 12, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    with torch.no_grad():
        alone = [tapper.run(x, want, stop_early=False) for x in xs]
    got: dict[int, list] = {}
    errors: list[BaseException] = []

    def run(i):
        try:
            with torch.no_grad():
                got[i] = [tapper.run(xs[i], want, stop_early=False) for _ in range(5)]
        except BaseException as exc:  # noqa: BLE001 (the test reports it)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(2):
        for maps in got[i]:
            assert len(maps) == len(alone[i])
            for m, ref in zip(maps, alone[i]):
                assert torch.equal(m, ref)
