"""timm's ``crop_pct`` (resize the shorter side to size / crop_pct, then centre-crop size) is not made by the app's
input pipeline, which resizes the whole image to the size: the input spec read from a timm ``pretrained_cfg`` says so
in its ``source``. Fake cfg dicts: no timm needed."""

from __future__ import annotations

import pytest

from app.models.external import formats
from app.models.external.model import from_metadata, metadata_input

CFG = {"input_size": (3, 224, 224), "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
       "interpolation": "bicubic", "crop_pct": 0.875, "crop_mode": "center"}


def test_the_timm_metadata_keeps_crop_pct_and_the_input_spec_states_the_crop():
    meta = formats._timm_meta(dict(CFG), None)
    assert meta["crop_pct"] == 0.875 and meta["size"] == [224, 224]
    inp = metadata_input(meta, "timm:fake_net")
    assert inp.size == (224, 224) and inp.interpolation == "bicubic"  # the tensor is unchanged ...
    assert inp.source.startswith("model metadata (timm:fake_net); ")  # ... and the source says what timm does
    assert "crop_pct 0.875" in inp.source
    assert "resizes the shorter side to 256, then centre-crops 224x224" in inp.source  # int(224 / 0.875)
    assert "whole image is resized to 224x224, without that crop" in inp.source
    assert from_metadata(inp)  # still recognised as the file's metadata (re-read at every build)


def test_int_of_size_over_crop_pct_and_the_other_crop_modes():
    note = formats.crop_note(formats._timm_meta(dict(CFG, crop_pct=0.95), None))
    assert "shorter side to 235" in note  # int(224 / 0.95) = int(235.79)
    note = formats.crop_note(formats._timm_meta(dict(CFG, crop_mode="squash"), None))
    assert "crop_mode squash: resizes to 256x256, then centre-crops 224x224" in note
    note = formats.crop_note(formats._timm_meta(dict(CFG, input_size=(3, 192, 256)), None))
    assert "cover 219x292 keeping the aspect, then centre-crops 192x256" in note


@pytest.mark.parametrize("cfg", [dict(CFG, crop_pct=1.0), {k: v for k, v in CFG.items() if k != "crop_pct"}])
def test_no_crop_no_note(cfg):
    inp = metadata_input(formats._timm_meta(cfg, None), "timm:fake_net")
    assert inp.source == "model metadata (timm:fake_net)"


def test_read_metadata_of_a_timm_name_carries_the_crop(monkeypatch):
    """The path ``spec_for`` takes (timm itself faked: its cfg is all that is read)."""
    monkeypatch.setattr(formats, "check_timm", lambda name: None)
    monkeypatch.setattr(formats, "_timm_cfg", lambda timm, name: dict(CFG))
    meta = formats.read_metadata("timm:fake_net", "timm")
    inp = metadata_input(meta, "timm:fake_net")
    assert "centre-crops 224x224" in inp.source
    assert inp.with_(source="") == metadata_input(dict(meta, crop_pct=None), "timm:x").with_(source="")
