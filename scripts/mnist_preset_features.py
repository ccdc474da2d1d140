"""The random-mnist preset's backbone as it was in sessions 8-10 (no deskewing; one-pixel shift views at test time,
``views``) and its splits on full MNIST (55,000 train / 5,000 validation / 10,000 test, split
seed 0) and its features through the probe's extraction and cache: the shared part of the screening scripts
``mnist_head_screen.py`` and ``mnist_aug_screen.py`` (issue #13)."""

import time

import numpy as np

from app.data import load
from app.models.spec import ModelSpec
from app.probe import extract as ex
from app.probe.config import TTA_SHIFTS, ProbeConfig
from app.probe.resolve import resolve
from app.probe.selection import select_and_fit
from app.probe.run import test_split, train_splits
from app.tasks import run_to_end


class PresetFeatures:
    def __init__(self, root: str) -> None:
        full = load("mnist", "train", root)
        cfg = ProbeConfig(model=ModelSpec.make("rdsn", options={"blocks": 2, "k": 1024, "activation": "relu"}, seed=0),
                          dataset="mnist", data_root=root, layer=1, pooling="avgmaxgrid3", head="logistic")
        self.record, self.model = resolve(cfg, full)
        self.train, self.val = train_splits(self.record, full)
        self.test = test_split(self.record)
        self._whash = ex.weights_hash(self.model) + "|" + self.record.model.key()

    def features(self, ds, split: str) -> np.ndarray:
        """(N, 18,432) features of ``ds`` as the probe stores them (cached under the probe's key; float16 at size)."""
        r = self.record
        key = ex.cache_key(weights=self._whash, layer=1, pooling="avgmaxgrid3", content=ex.content_digest(ds),
                           data_root=r.data_root, split=split, ispec=r.input, dtype="auto", dataset="mnist")
        return run_to_end(ex.extract(self.model, ds.images, r.input, 1, "avgmaxgrid3", key=key)).array

    def views(self, ds, split: str) -> np.ndarray:
        """float32 mean of the features of ``ds`` and of its four one-pixel shifts (the preset's test-time views)."""
        X = np.array(self.features(ds, split), dtype=np.float32)
        for dy, dx in TTA_SHIFTS:
            X += self.features(ds.shifted(dy, dx), f"{split} shifted {dy},{dx}")
        return X / (1 + len(TTA_SHIFTS))


def head_options(record, arg: str | None) -> dict:
    """The preset's head options with ``key=value,...`` overrides (each value of its option's type)."""
    opts = dict(record.options)
    for kv in (arg.split(",") if arg else []):
        k, v = kv.split("=")
        opts[k] = type(opts[k])(v)
    return opts


def fit_each(label: str, wds, train, val, test, opts: dict) -> None:
    """One logistic fit from zero per weight decay on (features, labels) pairs; prints validation and test top-1
    (test printed, never used to choose)."""
    for wd in wds:
        t0 = time.time()
        sel = run_to_end(select_and_fit("logistic", *train, *val, *test, 10, opts, grid=(wd,)))
        top1 = float((sel.result.scores.argmax(1) == test[1]).mean() * 100)
        print(f"{label} wd {wd:g}: validation {100 * sel.val_top1:.2f}%, test {top1:.2f}% "
              f"({sel.result.stop}; {time.time() - t0:.0f} s)", flush=True)
