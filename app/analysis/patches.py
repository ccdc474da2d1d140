"""Top-activating patches: for a layer and a channel, the dataset crops (receptive fields) that excite it most.

The receptive field of a unit is measured, not assumed: the gradient of one central unit of the layer's map with
respect to a blank input is non-zero exactly on the pixels it sees (``receptive_field``). Each image's best
position is the argmax of the channel's map; the crop is the receptive field around that position, clipped to the
image. ``top_patches`` is a task generator (progress, cancel) over the dataset in batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.tasks import CancelToken, Progress, check


@dataclass(frozen=True)
class Patch:
    index: int  # image index in the dataset
    value: float  # the channel's activation there
    y: int  # map position (row, col)
    x: int
    box: tuple[int, int, int, int]  # (top, left, bottom, right) in input pixels (clipped)
    label: int
    image: np.ndarray  # uint8 crop (h, w, C)
    tied: int = 0  # images whose best value reaches the k-th's: more than k, and the choice among them is no ranking


@dataclass(frozen=True)
class RF:
    size: tuple[int, int]  # receptive field height, width in input pixels
    stride: tuple[float, float]  # input pixels per map step
    offset: tuple[float, float]  # input position of map position (0, 0)'s centre


def receptive_field(model, layer: int, ispec, input_hw: tuple[int, int], device="cpu") -> RF:
    """The receptive field of ``layer`` (measured by a gradient on a blank input of ``input_hw``)."""
    import torch

    h, w = input_hw
    x = torch.zeros(1, ispec.channels, h, w, device=device, requires_grad=True)
    with torch.enable_grad():
        m = model.forward_intermediates(x, [layer])[0]
        mh, mw = m.shape[-2:]
        cy, cx = mh // 2, mw // 2
        m[0, :, cy, cx].sum().backward()
    g = x.grad.abs().sum(1)[0].cpu().numpy()
    ys, xs = np.nonzero(g > 0)
    if len(ys) == 0:
        return RF((h, w), (h / max(1, mh), w / max(1, mw)), (0.0, 0.0))
    size = (int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1))
    stride = (h / mh, w / mw)
    centre = ((ys.max() + ys.min()) / 2.0, (xs.max() + xs.min()) / 2.0)
    offset = (centre[0] - cy * stride[0], centre[1] - cx * stride[1])
    return RF(size, stride, offset)


def box_for(rf: RF, y: int, x: int, hw: tuple[int, int]) -> tuple[int, int, int, int]:
    cy = rf.offset[0] + y * rf.stride[0]
    cx = rf.offset[1] + x * rf.stride[1]
    top = int(round(cy - (rf.size[0] - 1) / 2))
    left = int(round(cx - (rf.size[1] - 1) / 2))
    return max(0, top), max(0, left), min(hw[0], top + rf.size[0]), min(hw[1], left + rf.size[1])


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
    out = []
    for i in order:
        y, x = (int(v) for v in best_pos[i])
        top, left, bottom, right = box_for(rf, y, x, hw)
        img = np.asarray(images[i])
        if img.ndim == 2:
            img = img[..., None]
        if img.shape[:2] != hw:  # the model saw a resized image: crop from the resized picture
            import cv2

            img = cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)
            if img.ndim == 2:
                img = img[..., None]
        crop = np.ascontiguousarray(img[top:bottom, left:right])
        out.append(Patch(int(i), float(best_v[i]), y, x, (top, left, bottom, right), int(labels[i]), crop, tied))
    return tuple(out), rf
