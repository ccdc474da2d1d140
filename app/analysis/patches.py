"""Top-activating patches: for a layer and a channel, the dataset crops (receptive fields) that excite it most.

Each image's best position is the argmax of the channel's map; the crop is that unit's receptive field, measured
(``app.analysis.receptive_field``: boxes are (top, left, bottom, right) in input pixels, end-exclusive, clipped to
the image; a box is in the pixels the model saw, the image resized to its input size, and ``Patch.image_box`` is
the same box in the image's own pixels). ``top_patches`` is a task generator (progress, cancel) over the dataset in
batches."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from app.analysis.receptive_field import RF, box_for, boxes_for, receptive_field  # noqa: F401  (box_for, RF: re-exported)
from app.models.inputs import as_seen
from app.tasks import CancelToken, Progress, check


def image_pixels(box, input_hw, image_hw) -> tuple[int, int, int, int]:
    """A (top, left, bottom, right) box in the model's input pixels (``input_hw``) in the pixels of the image it was
    resized from (``image_hw``; ``app.models.inputs.resize`` stretches, it does not crop): scaled, the start down
    and the end up to whole pixels, clipped to the image."""
    import math

    (H, W), (h, w) = (int(v) for v in input_hw), (int(v) for v in image_hw)
    top, left, bottom, right = box
    sy, sx = h / H, w / W
    return (max(0, math.floor(top * sy + 1e-9)), max(0, math.floor(left * sx + 1e-9)),
            min(h, math.ceil(bottom * sy - 1e-9)), min(w, math.ceil(right * sx - 1e-9)))


@dataclass(frozen=True)
class Patch:
    index: int  # image index in the dataset
    value: float  # the channel's activation there
    y: int  # map position (row, col)
    x: int
    box: tuple[int, int, int, int]  # (top, left, bottom, right) in the model's input pixels (clipped): the image
    # resized to the input spec's size where it has one (a digits image, 8x8, seen at 28x28), else the image's own
    label: int
    image: np.ndarray  # uint8 crop (h, w, C), from the image as the model saw it (resized)
    tied: int = 0  # images whose best value reaches the k-th's: more than k, and the choice among them is no ranking
    image_box: tuple[int, int, int, int] | None = None  # ``box`` in the image's own pixels (widened to whole pixels)
    input_size: tuple[int, int] | None = None  # (H, W) of the model's input, the pixels ``box`` is in


def top_patches(model, images: np.ndarray, labels: np.ndarray, ispec, layer: int, channel: int, k: int = 16,
                device="cpu", batch: int = 128, cancel: CancelToken | None = None):
    """Task: the ``k`` images whose ``channel`` at ``layer`` reaches the highest value, with their crops."""
    import torch

    from app.models.inputs import to_tensor

    model = model.to(device).eval()
    n = len(images)
    best_v = np.full(n, -np.inf, dtype=np.float64)
    best_pos = np.zeros((n, 2), dtype=np.int64)
    hw = None
    with torch.inference_mode():
        for s in range(0, n, batch):
            check(cancel)
            x = to_tensor(images[s:s + batch], ispec, device)
            hw = tuple(x.shape[-2:])
            m = model.forward_intermediates(x, [layer])[0]
            if not 0 <= channel < m.shape[1]:
                raise ValueError(f"channel {channel} out of range: the layer has {m.shape[1]} channels")
            c = m[:, channel].float()
            flat = c.flatten(1)
            v, idx = flat.max(1)
            best_v[s:s + len(v)] = v.cpu().numpy()
            best_pos[s:s + len(v), 0] = (idx // c.shape[-1]).cpu().numpy()
            best_pos[s:s + len(v), 1] = (idx % c.shape[-1]).cpu().numpy()
            yield Progress(min(n, s + batch), n, f"scanning {min(n, s + batch)}/{n} images")
    order = np.argsort(-best_v, kind="stable")[:k]
    rf = receptive_field(model, layer, ispec, hw, device)
    tied = int(np.count_nonzero(best_v >= best_v[order[-1]])) if len(order) else 0
    boxes = boxes_for(rf, [tuple(int(v) for v in best_pos[i]) for i in order], hw) if len(order) else []
    out = []
    for i, (top, left, bottom, right) in zip(order, boxes):
        y, x = (int(v) for v in best_pos[i])
        img = np.asarray(images[i])
        if img.ndim == 2:
            img = img[..., None]
        image_box = image_pixels((top, left, bottom, right), hw, img.shape[:2])
        if img.shape[:2] != hw or img.shape[2] != ispec.channels:  # the model saw it resized or converted (grey by
            # luma): crop from the very pixels it was given (to_tensor's resize and conversion), not a cv2 resize
            img = as_seen(img[None], ispec, size=hw)[0]
        crop = np.ascontiguousarray(img[top:bottom, left:right])
        out.append(Patch(int(i), float(best_v[i]), y, x, (top, left, bottom, right), int(labels[i]), crop, tied,
                         image_box, tuple(int(v) for v in hw)))
    # the boxes are measured: the returned field no longer holds the model (a view keeping it would keep the model)
    return tuple(out), dataclasses.replace(rf, measure=None, cache={})
