"""``rdsn``: the random depthwise signed network of Xue & Roshan.

stem: conv in->k (``stem_kernel``, 5x5 for 32 px inputs, "same" padding unless ``stem_padding``) + sign; then
``blocks`` times [2x2 average pool -> depthwise conv -> sign -> depthwise conv -> sign]; global average pooling (or a
``pool_grid`` x ``pool_grid`` grid of averages) -> k (x grid^2) features. Weights and biases are drawn N(0, 1) from
``seed`` and never trained (``requires_grad`` is off). With ``deskew`` (off by default) each image is first deskewed
by its own moments (``app.models.deskew``: no dataset statistics, so the network stays data-independent). With
``rotation_views`` = a (degrees; 0, off, by default) the pooled features (``extract_pooled``: the probe's) are the mean
of the image's own and of two copies rotated by -a and +a about the frame's middle (each deskewed after its rotation
where ``deskew`` is on): features less sensitive to small rotations, no dataset statistics, three times the work. The
maps (``forward_intermediates``, what Live and Models show) are the image's own.

After the stem the net is depthwise, so channels are independent: ``extract_pooled(x, chunk=...)`` computes a
chunk of channels through all layers, pools it and concatenates, so k = 100,000 features fit in bounded memory
without materialising all k maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from app.models.base import Backbone, LayerInfo
from app.models.deskew import deskew as deskew_images
from app.models.deskew import rotate
from app.models.registry import register_backbone

ACTS = {
    "sign": torch.sign,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "abs": torch.abs,
}
ACTS_INPLACE = {
    "sign": torch.Tensor.sign_,
    "relu": torch.Tensor.relu_,
    "tanh": torch.Tensor.tanh_,
    "abs": torch.Tensor.abs_,
}


OPTION_TIPS = {  # the Models workspace's tooltips (app.models.options), over the shared ones
    "pool": "How the last maps are pooled into features: the average or the maximum over each cell of the "
            "pool_grid x pool_grid grid (the blocks' own 2x2 pooling is always an average)",
    "kernel_size": "Side of the blocks' depthwise kernels in pixels (odd: 3, 5, 7), the same for every block",
}


class RDSN(Backbone):
    def __init__(
        self,
        in_channels: int = 3,
        k: int = 1024,
        blocks: int = 2,
        stem_kernel: int | None = None,
        stem_padding: int | None = None,
        kernel_size: int = 3,
        pool_grid: int = 1,
        pool: str = "avg",
        activation: str = "sign",
        bias: bool = True,
        input_size: int = 32,
        num_classes: int = 0,
        seed: int = 0,
        chunk_bytes: int = 64 * 2**20,
        deskew: bool = False,
        rotation_views: float = 0.0,
    ) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"rdsn: in_channels must be 1 or 3, got {in_channels}")
        if k < 1 or blocks < 0:
            raise ValueError(f"rdsn: k must be >= 1 and blocks >= 0 (got k={k}, blocks={blocks})")
        if activation not in ACTS:
            raise ValueError(f"rdsn: activation must be one of {tuple(ACTS)}")
        if pool not in ("avg", "max"):
            raise ValueError("rdsn: pool must be 'avg' or 'max'")
        if stem_kernel is None:
            stem_kernel = 5 if input_size <= 64 else 7
        pad = stem_kernel // 2 if stem_padding is None else int(stem_padding)
        if not 0 <= pad < stem_kernel:
            raise ValueError(f"rdsn: stem_padding must be 0..{stem_kernel - 1} for a {stem_kernel}x{stem_kernel} stem, "
                             f"got {stem_padding}")
        self.k, self.n_blocks, self.pool_grid, self.pool_kind = int(k), int(blocks), int(pool_grid), pool
        self.act_name = activation
        self.deskew = bool(deskew)
        self.rotation_views = float(rotation_views)
        if not 0.0 <= self.rotation_views <= 45.0:
            raise ValueError(f"rdsn: rotation_views must be 0 (off) to 45 degrees, got {rotation_views}")
        self.chunk_bytes = int(chunk_bytes)
        self.default_input = (int(in_channels), int(input_size), int(input_size))
        g = torch.Generator().manual_seed(int(seed))
        self.stem = nn.Conv2d(in_channels, k, stem_kernel, padding=pad, bias=bias)
        self.dw = nn.ModuleList()
        for _ in range(2 * blocks):
            self.dw.append(nn.Conv2d(k, k, kernel_size, padding=kernel_size // 2, groups=k, bias=bias))
        with torch.no_grad():
            for conv in [self.stem, *self.dw]:
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
                if conv.bias is not None:
                    conv.bias.copy_(torch.randn(conv.bias.shape, generator=g))
        for p in self.parameters():
            p.requires_grad_(False)
        self.feature_info = [LayerInfo("stem", k, 1, "conv")] + [
            LayerInfo(f"block{i + 1}", k, 2 ** (i + 1), "block") for i in range(blocks)
        ]
        self.num_features = k * self.pool_grid**2
        self.reset_classifier(num_classes)

    # --- the layer functions, on a slice of channels ------------------------------------------------------
    def _act(self, x: torch.Tensor) -> torch.Tensor:
        # conv outputs are fresh tensors: activate in place outside autograd (halves the memory traffic)
        if not torch.is_grad_enabled() or not x.requires_grad:
            return ACTS_INPLACE[self.act_name](x)
        return ACTS[self.act_name](x)

    @staticmethod
    def _conv(x: torch.Tensor, conv: nn.Conv2d, sl: slice | None, depthwise: bool) -> torch.Tensor:
        w = conv.weight if sl is None else conv.weight[sl]
        b = conv.bias if (conv.bias is None or sl is None) else conv.bias[sl]
        groups = w.shape[0] if depthwise else 1
        return F.conv2d(x, w, b, padding=conv.padding, groups=groups)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """What the stem sees: the pre-processed batch, each image deskewed by itself where ``deskew`` is on."""
        return deskew_images(x) if self.deskew else x

    def views(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The pre-processed batches whose pooled features are averaged: the image's own, then (``rotation_views`` a
        > 0) its copies rotated by -a and +a, each rotated before it is deskewed."""
        if self.rotation_views == 0.0:
            return [self.prepare(x)]
        return [self.prepare(x)] + [self.prepare(rotate(x, s * self.rotation_views)) for s in (-1.0, 1.0)]

    def _stem(self, x: torch.Tensor, sl: slice | None = None) -> torch.Tensor:
        return self._act(self._conv(x, self.stem, sl, False))

    def _block(self, i: int, x: torch.Tensor, sl: slice | None = None) -> torch.Tensor:
        x = F.avg_pool2d(x, 2)
        x = self._act(self._conv(x, self.dw[2 * i], sl, True))
        return self._act(self._conv(x, self.dw[2 * i + 1], sl, True))

    def stages(self):
        out = [(self.feature_info[0], (lambda x: self._stem(self.prepare(x))))]
        for i in range(self.n_blocks):
            out.append((self.feature_info[i + 1], (lambda x, i=i: self._block(i, x))))
        return out

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        d = {"stem": self.stem}
        for i, conv in enumerate(self.dw):
            d[f"block{i // 2 + 1}.dw{i % 2 + 1}"] = conv
        return d

    def _pool(self, feats: torch.Tensor, grid: int, kind: str | None = None) -> torch.Tensor:
        kind = kind or self.pool_kind
        if kind == "avgmax":  # both poolings of the same maps, (channel, [avg cells, max cells]) order
            n, c = feats.shape[:2]
            return torch.cat([self._pool(feats, grid, "avg").reshape(n, c, -1),
                              self._pool(feats, grid, "max").reshape(n, c, -1)], dim=2).flatten(1)
        if grid <= 1:
            return feats.amax(dim=(2, 3)) if kind == "max" else feats.mean(dim=(2, 3))
        fn = F.adaptive_max_pool2d if kind == "max" else F.adaptive_avg_pool2d
        return fn(feats, grid).flatten(1)

    def pool(self, feats: torch.Tensor) -> torch.Tensor:
        return self._pool(feats, self.pool_grid) if feats.dim() == 4 else feats

    def chunk_size(self, x: torch.Tensor) -> int:
        """Channels per chunk so that a chunk's maps stay within ``chunk_bytes``."""
        n, _, h, w = x.shape
        per_channel = max(1, n * h * w * x.element_size() * 3)
        return max(1, min(self.k, self.chunk_bytes // per_channel))

    def extract_pooled(self, x: torch.Tensor, chunk: int | None = None, pool: int | None = None,
                       layer: int | None = None, kind: str | None = None) -> torch.Tensor:
        """Pooled features (N, k * grid^2) of layer ``layer`` (default: the last), computed ``chunk`` channels at
        a time. Feature order is channel-major (channel, grid row, grid column), the same as ``forward_head(...,
        pre_logits=True)`` for the same grid (with ``rotation_views``: the mean over ``views(x)``). ``kind`` ("avg",
        "max" or "avgmax" = both, 2 k grid^2 features) overrides the model's pooling kind."""
        grid = self.pool_grid if pool is None else int(pool)
        last = self.n_blocks if layer is None else (layer if layer >= 0 else self.n_blocks + 1 + layer)
        if not 0 <= last <= self.n_blocks:
            raise IndexError(f"rdsn: layer {layer} out of range 0..{self.n_blocks}")
        chunk = int(chunk) if chunk else self.chunk_size(x)
        parts = []
        with torch.no_grad():
            views = self.views(x)
            for start in range(0, self.k, chunk):
                sl = slice(start, min(self.k, start + chunk))
                acc = None
                for v in views:  # the views' pooled features summed in a fixed order, then averaged
                    y = self._stem(v, sl)
                    for i in range(last):
                        y = self._block(i, y, sl)
                    pooled = self._pool(y, grid, kind).reshape(x.shape[0], -1)
                    del y
                    acc = pooled if acc is None else acc.add_(pooled)
                parts.append(acc if len(views) == 1 else acc.div_(len(views)))
        return torch.cat(parts, dim=1)


@register_backbone("rdsn", "Random depthwise signed network (Xue & Roshan): N(0,1) weights, sign activations, never "
                           "trained; k up to 100,000 features by channel chunks")
def rdsn(**kw) -> RDSN:
    return RDSN(**kw)
