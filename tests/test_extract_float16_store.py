"""Features stored as float16 are rounded by torch where they are computed (the CPU's workers, an accelerator),
not by numpy in the task's thread: the same bits as numpy's rounding of the float32 features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.models.inputs import InputSpec
from app.models.registry import create
from app.probe import extract as ex
from app.tasks import run_to_end


@pytest.mark.parametrize("threads", [1, 2])
def test_float16_features_are_numpys_rounding_of_the_float32_ones(threads):
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = create("rdsn", k=24, in_channels=1, input_size=28, seed=0)
        images = np.random.default_rng(0).integers(0, 256, (70, 28, 28, 1), dtype=np.uint8)
        spec = InputSpec(channels=1, size=None, mean=(0.5,), std=(0.25,))
        f32 = run_to_end(ex.extract(model, images, spec, 1, "grid3", dtype="float32")).array
        f16 = run_to_end(ex.extract(model, images, spec, 1, "grid3", dtype="float16")).array
    finally:
        torch.set_num_threads(prev)
    assert f16.dtype == np.float16 and f32.dtype == np.float32
    np.testing.assert_array_equal(f16.view(np.uint16), f32.astype(np.float16).view(np.uint16))
