"""Moment deskewing of each image by itself (the classic MNIST pre-processing; LeCun et al.'s table lists it as
"deskewing"): no statistics of any dataset, so a random backbone that deskews stays data-independent.

For each image, the ink ``w = x - min(x)`` (summed over channels; the image's darkest value is its background) gives
the centre of mass ``(m_r, m_c)`` and the second moments ``v_rr``, ``v_rc``; the slant ``alpha = v_rc / v_rr`` is
removed by a horizontal shear about the centre of mass, which is moved to the middle of the frame:

    output(r, c) = input(m_r + (r - H/2), m_c + alpha (r - H/2) + (c - W/2))      (bilinear, background outside)

which is the affine map of the widely used NumPy / SciPy version (``scipy.ndimage.affine_transform`` with matrix
``[[1, 0], [alpha, 1]]`` and offset ``m - A (H/2, W/2)``; tests/test_deskew.py compares the two). An image with no
ink (every pixel equal) is returned unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from app.models.inputs import channels_last


def deskew(x: torch.Tensor) -> torch.Tensor:
    """Each image of the batch ``x`` (N, C, H, W), pre-processed or not, deskewed about its own centre of mass; in
    the batch's memory order (channels-last stays channels-last)."""
    n, _, h, w = x.shape
    if n == 0:
        return x
    xf = x.float()
    bg = xf.amin(dim=(2, 3), keepdim=True)  # (N, C, 1, 1): each channel's background
    ink = (xf - bg).sum(1)  # (N, H, W), >= 0
    tot = ink.sum(dim=(1, 2))
    empty = tot <= 1e-12
    tot = torch.where(empty, torch.ones_like(tot), tot)
    r = torch.arange(h, dtype=xf.dtype, device=x.device).view(1, h, 1)
    c = torch.arange(w, dtype=xf.dtype, device=x.device).view(1, 1, w)
    m_r = (ink * r).sum(dim=(1, 2)) / tot
    m_c = (ink * c).sum(dim=(1, 2)) / tot
    dr = r - m_r.view(n, 1, 1)
    v_rr = (ink * dr * dr).sum(dim=(1, 2)) / tot
    v_rc = (ink * dr * (c - m_c.view(n, 1, 1))).sum(dim=(1, 2)) / tot
    alpha = v_rc / v_rr.clamp_min(1e-12)
    # an empty image: no shift, no shear (the identity map below)
    m_r = torch.where(empty, torch.full_like(m_r, h / 2), m_r)
    m_c = torch.where(empty, torch.full_like(m_c, w / 2), m_c)
    alpha = torch.where(empty, torch.zeros_like(alpha), alpha)
    o_r = (torch.arange(h, dtype=xf.dtype, device=x.device) - h / 2).view(1, h, 1)
    o_c = (torch.arange(w, dtype=xf.dtype, device=x.device) - w / 2).view(1, 1, w)
    src_r = m_r.view(n, 1, 1) + o_r.expand(n, h, w)
    src_c = m_c.view(n, 1, 1) + alpha.view(n, 1, 1) * o_r + o_c
    return _warp(x, xf, bg, src_r, src_c)


def _warp(x: torch.Tensor, xf: torch.Tensor, bg: torch.Tensor, src_r: torch.Tensor, src_c: torch.Tensor):
    """``xf`` (``x`` as float) sampled at the source pixel coordinates (``src_r``, ``src_c``: (N or 1, H, W); pixel
    centres at integers), bilinear, the background ``bg`` (N, C, 1, 1) outside the frame; ``x``'s dtype and memory
    order."""
    n, _, h, w = x.shape
    # grid_sample's coordinates: -1 and 1 are the centres of the first and last pixels (align_corners=True)
    grid = torch.stack([src_c * (2 / max(w - 1, 1)) - 1, src_r * (2 / max(h - 1, 1)) - 1], dim=-1)
    grid = grid.expand(n, h, w, 2)
    out = (F.grid_sample(xf - bg, grid, mode="bilinear", padding_mode="zeros", align_corners=True) + bg).to(x.dtype)
    # the batch's own memory order: a channels-last batch (the CPU's, ``to_tensor``) stays channels-last, or every
    # convolution after this takes torch's slow path (rdsn k = 1024 on MNIST, 2 threads: 230 vs 1,240 images/s)
    return channels_last(out) if x.stride(1) == 1 and x.shape[1] * x.shape[2] * x.shape[3] > 1 else out


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Each image of the batch ``x`` (N, C, H, W) rotated by ``degrees`` about the middle of its frame (a positive
    angle turns the picture counter-clockwise as a person sees it); bilinear, each channel's background (its darkest
    value, as ``deskew`` takes it) where the rotated frame leaves the image; in the batch's memory order. 0 degrees
    returns ``x`` itself. With pixel centres at integer coordinates, the middle m = ((H-1)/2, (W-1)/2), rows down and
    a = the angle in radians:

        output(r, c) = input(m_r + cos(a) (r - m_r) + sin(a) (c - m_c), m_c - sin(a) (r - m_r) + cos(a) (c - m_c))
    """
    if float(degrees) == 0.0 or x.shape[0] == 0:
        return x
    _, _, h, w = x.shape
    a = math.radians(float(degrees))
    xf = x.float()
    m_r, m_c = (h - 1) / 2, (w - 1) / 2
    o_r = (torch.arange(h, dtype=xf.dtype, device=x.device) - m_r).view(1, h, 1)
    o_c = (torch.arange(w, dtype=xf.dtype, device=x.device) - m_c).view(1, 1, w)
    src_r = m_r + math.cos(a) * o_r + math.sin(a) * o_c
    src_c = m_c - math.sin(a) * o_r + math.cos(a) * o_c
    return _warp(x, xf, xf.amin(dim=(2, 3), keepdim=True), src_r, src_c)
