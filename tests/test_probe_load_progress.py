"""A probe run shows its dataset's decoding (a first load of 60,000 JPEG files took ~10 s with no sign of life: the
CLI said "loading dataset" and nothing else); the run's figures do not change."""

from __future__ import annotations

import cv2
import numpy as np

from app.models.spec import ModelSpec
from app.probe.config import ProbeConfig
from app.probe.run import run_probe


def _folder(root, n=12):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c, cls in enumerate(("dark", "light")):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 100, (8, 8, 3)) + 150 * c
                cv2.imwrite(str(d / f"{i}.png"), img.astype(np.uint8))
    return root


def test_a_probe_run_shows_the_decoding_of_its_splits(fe_home, tmp_path):
    cfg = ProbeConfig(model=ModelSpec.make("simple"), dataset=f"imagefolder:{_folder(tmp_path / 'shapes')}", val=4,
                      head="ridge")
    task = run_probe(cfg)
    messages = []
    try:
        while True:
            messages.append(next(task).message)
    except StopIteration as stop:
        result = stop.value
    decoding = [m for m in messages if m.startswith("decoding")]
    assert any("train" in m for m in decoding) and any("test" in m for m in decoding), messages
    assert result.n_train == 20 and result.n_test == 24 and result.top1 > 0.9
