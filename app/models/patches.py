"""``patches``: the data-dependent single-layer baseline (Coates, Lee & Ng 2011; Thiry, Arbel, Belilovsky & Oyallon
2021): one layer of filters taken from the TRAINING images themselves, then a non-linearity and grid pooling.

Per position: the ``patch_size`` x ``patch_size`` patch (all channels) -> contrast normalisation (minus its mean,
over sqrt(variance + 0.01); ``normalize``) -> ZCA whitening fitted on training patches (``zca_eps`` relative to the
mean eigenvalue; 0 = off) -> the encoder: ``k`` filters from ``source``:

- ``patches``: k random (whitened) training patches (with ``zca_eps`` > 0: Thiry et al.'s whitened patches), unit
  norm for the dot-product encoders (split, soft, relu), as drawn for triangle and nearest;
- ``kmeans``: the k centroids of seeded mini-batch k-means on the whitened patches (Coates & Ng).

-> ``activation`` (layers: ``whiten``, the D = C x size^2 whitened patch values per position; ``encode``, the
features): ``triangle`` (Coates' k-means triangle: max(0, mean_j |z - c_j| - |z - c_k|)), ``split`` (the
split +-ReLU of Coates' soft-threshold encoder: [max(0, f.z - alpha), max(0, -f.z - alpha)], 2k channels), ``soft``
(max(0, f.z - alpha)), ``relu`` (max(0, f.z)) or ``nearest`` (Thiry et al.'s code: 1 for each of the
round(fraction x k) filters nearest to z, and, in k more channels, to -z, else 0; euclidean distances to the
filters as fitted; 2k channels; a k-th-value search per position makes it several times slower than ``split``);
dot products use unit-norm filters.

The fitted state (whitening matrix, patch mean, filters) is in the state dict, so the weights' hash (the probe's
feature cache key) covers it. Until ``fit_patches`` runs, the model is usable but data-independent: identity
whitening and seeded random unit filters (``fitted`` is 0); the probe fits it on its training split first
(``app.probe.extract.fit_backbone``), never on validation or test images.

The D x D whitening matrix (and its fit's float64 covariance) is bounded before anything is allocated
(``patch_fit.check_dim``: the kernel generator's ``MAX_WHITEN_BYTES``, D <= 5,792, e.g. 3 channels x 43x43 or 64
channels x 9x9); a larger D is a ``ModelError`` naming the size, unless ``FILTER_EXPLORER_LIMITS=off``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from app.models import patch_fit as pf
from app.models.base import Backbone, LayerInfo, ModelError
from app.models.registry import register_backbone
from app.tasks import CancelToken, Progress, check, run_to_end

ACTIVATIONS = {"triangle": "Coates' k-means triangle", "split": "split +-ReLU (2k channels)",
               "soft": "soft threshold", "relu": "ReLU", "nearest": "Thiry's nearest filters of z and -z (2k channels)"}
SOURCES = ("patches", "kmeans")
PADDINGS = ("same", "valid")
OPTION_CHOICES = {"source": SOURCES, "padding": PADDINGS}  # shown as lists in the Models workspace
OPTION_TIPS = {  # the Models workspace's tooltips (app.models.options)
    "k": "Number of filters taken from the training patches (random patches or k-means centroids); the split and "
         "nearest encoders give 2k channels",
    "patch_size": "Side of the square patches (pixels): the filters' size",
    "stride": "Step between two patch positions (pixels; 1: every position)",
    "source": "Where the filters come from: 'patches', k random whitened training patches (Thiry et al.); "
              "'kmeans', the centroids of k-means on them (Coates & Ng)",
    "zca_eps": "ZCA whitening strength: added to the patch covariance's eigenvalues, relative to their mean (0: no "
               "whitening; smaller whitens harder)",
    "activation": "Encoder: triangle (Coates' k-means triangle), split (+-ReLU of the dot products, 2k channels), "
                  "soft (soft threshold), relu, nearest (Thiry et al.: 1 for the filters among the nearest "
                  "'fraction' of k to the patch, and to its negative; 2k channels; slower)",
    "alpha": "Threshold of the split and soft encoders on f.z: a unit-norm filter f against the whitened patch z, "
             "whose length is about sqrt(channels x size^2), not 1 (so not a threshold on a cosine)",
    "fraction": "Nearest encoder: the share of the k filters marked as near each patch (Thiry et al. use 0.4)",
    "normalize": "Contrast-normalise each patch (minus its mean, over its standard deviation) before whitening",
    "padding": "same: patches centred on every pixel (zero padded; maps keep the image's size); valid: only "
               "patches inside the image",
    "fit_images": "Training images the whitening and the filters are fitted on (at most)",
    "n_patches": "Training patches sampled for the whitening statistics and the filters",
    "kmeans_epochs": "Passes of mini-batch k-means over the sampled patches",
}
CHUNK_BYTES = 24 * 2**20  # encoder maps per chunk of images (``map_chunks``): ~ the last-level cache, measured


class Patches(Backbone):
    needs_fit = True  # the probe calls fit_steps(training images) once before extracting

    def __init__(
        self,
        in_channels: int = 3,
        k: int = 256,
        patch_size: int = 6,
        stride: int = 1,
        source: str = "kmeans",
        zca_eps: float = 0.1,
        activation: str = "triangle",
        alpha: float = 0.25,
        fraction: float = 0.4,
        normalize: bool = True,
        padding: str = "same",
        pool_grid: int = 2,
        fit_images: int = 10000,
        n_patches: int = 100000,
        kmeans_epochs: int = 10,
        input_size: int = 32,
        num_classes: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if in_channels < 1 or k < 1 or patch_size < 1 or stride < 1 or pool_grid < 1:
            raise ModelError(f"patches: in_channels, k, patch_size, stride and pool_grid must be at least 1 (got "
                             f"{in_channels}, {k}, {patch_size}, {stride}, {pool_grid})")
        if source not in SOURCES:
            raise ModelError(f"patches: source must be one of {', '.join(SOURCES)}, got {source!r}")
        if activation not in ACTIVATIONS:
            raise ModelError(f"patches: activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if padding not in PADDINGS:
            raise ModelError(f"patches: padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        if not 0 < fraction < 1:
            raise ModelError(f"patches: fraction must be between 0 and 1 (the share of the k filters marked near a "
                             f"patch), got {fraction}")
        if zca_eps < 0 or fit_images < 1 or n_patches < k or kmeans_epochs < 1:
            raise ModelError(f"patches: need zca_eps >= 0, fit_images >= 1, n_patches >= k and kmeans_epochs >= 1 "
                             f"(got {zca_eps}, {fit_images}, {n_patches} for k={k}, {kmeans_epochs})")
        pf.check_dim(in_channels, patch_size)  # the D x D whitening, before it is allocated (FILTER_EXPLORER_LIMITS)
        self.k, self.size, self.stride = int(k), int(patch_size), int(stride)
        self.source, self.zca_eps, self.act_name = source, float(zca_eps), activation
        self.alpha, self.normalize, self.padding = float(alpha), bool(normalize), padding
        self.fraction = float(fraction)
        self.pool_grid, self.fit_images, self.n_patches = int(pool_grid), int(fit_images), int(n_patches)
        self.kmeans_epochs, self.seed = int(kmeans_epochs), int(seed)
        self.default_input = (int(in_channels), int(input_size), int(input_size))
        D = int(in_channels) * self.size * self.size
        self.D = D
        self.register_buffer("zca", torch.eye(D))  # (D, D)
        self.register_buffer("patch_mean", torch.zeros(D))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.uint8))
        self.encoder = nn.Conv2d(D, self.k, 1, bias=False)  # filters in whitened-patch space, (k, D, 1, 1)
        g = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            w = torch.randn(self.k, D, generator=g)
            self.encoder.weight.copy_(F.normalize(w, dim=1).reshape(self.k, D, 1, 1))
        for p in self.parameters():
            p.requires_grad_(False)
        channels = 2 * self.k if activation in ("split", "nearest") else self.k
        self.feature_info = [LayerInfo("whiten", D, self.stride, "conv"),
                             LayerInfo("encode", channels, self.stride, "conv")]
        self.num_features = channels * self.pool_grid ** 2
        self.reset_classifier(num_classes)

    # --- the layer ------------------------------------------------------------------------------------------
    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        return pf.pad_same(x, self.size, self.stride) if self.padding == "same" else x

    def whitened(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, D, H', W'): each position's patch, contrast-normalised and whitened."""
        x = self._pad(x)
        c = x.shape[1]
        W = self.zca.reshape(self.D, c, self.size, self.size)
        z = F.conv2d(x, W, None, stride=self.stride)  # (a convolution: far faster on CPU than unfold + matmul)
        shift = (self.zca @ self.patch_mean).view(1, -1, 1, 1)
        if not torch.is_grad_enabled():  # extraction: the same maths in place, no (N, D, H', W') temporaries
            if self.normalize:
                mu, sd = self._moments(x)
                z.addcmul_(mu, self.zca.sum(1).view(1, -1, 1, 1), value=-1).div_(sd)
            return z.sub_(shift)
        if self.normalize:
            mu, sd = self._moments(x)
            z = (z - mu * self.zca.sum(1).view(1, -1, 1, 1)) / sd
        return z - shift

    def _moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each window's mean and sqrt(variance + eps) over its C x size x size values, (N, 1, H', W') each."""
        pool = lambda t: F.avg_pool2d(t, self.size, self.stride)  # noqa: E731
        mu = pool(x.mean(1, keepdim=True))
        var = (pool((x * x).mean(1, keepdim=True)) - mu * mu).clamp_min_(0)
        return mu, torch.sqrt(var + pf.NORM_EPS)

    def _encode(self, z: torch.Tensor) -> torch.Tensor:
        """(N, D, H', W') whitened patches -> (N, k or 2k, H', W') activations (in place where no gradient is
        recorded: these maps are the largest tensors of the probe)."""
        n, D, h, w = z.shape
        Wk = self.encoder.weight.reshape(self.k, D)
        s = torch.matmul(Wk, z.reshape(n, D, h * w))  # (N, k, L)
        inplace = not torch.is_grad_enabled()
        if self.act_name == "triangle":
            c2 = (Wk * Wk).sum(1).view(1, -1, 1)
            z2 = (z * z).sum(1).reshape(n, 1, h * w)
            if inplace:
                d = s.mul_(-2).add_(z2).add_(c2).clamp_min_(0).sqrt_()
                mu = d.mean(1, keepdim=True)
                out = torch.sub(mu, d, out=d).relu_()  # mean - d, one pass
            else:
                d = torch.sqrt((z2 - 2 * s + c2).clamp_min(0))
                out = torch.relu(d.mean(1, keepdim=True) - d)
        elif self.act_name == "nearest":  # |z - c|^2 / 2 = |z|^2 / 2 + (|c|^2 / 2 - c.z): rank by the bracket
            half = (Wk * Wk).sum(1).view(1, -1, 1) * 0.5
            out = torch.cat([self._nearest(half - s), self._nearest(half + s)], dim=1)  # z's, then -z's
        elif self.act_name == "split":
            out = torch.cat([torch.relu(s - self.alpha), torch.relu(-s - self.alpha)], dim=1)
        elif self.act_name == "soft":
            out = s.sub_(self.alpha).relu_() if inplace else torch.relu(s - self.alpha)
        else:
            out = s.relu_() if inplace else torch.relu(s)
        return out.reshape(n, -1, h, w)

    def _nearest(self, dist: torch.Tensor) -> torch.Tensor:
        """(N, k, L) distances (up to a per-position constant) -> 1 where a filter is among the ``fraction`` x k
        nearest to the position's patch, else 0 (ties at the boundary all count)."""
        q = max(1, min(self.k, int(round(self.fraction * self.k))))
        return (dist <= dist.kthvalue(q, dim=1, keepdim=True).values).to(dist.dtype)

    def map_chunks(self, x: torch.Tensor, layer: int):
        """The maps of layer ``layer`` for ``x`` (N, C, H, W), a few images at a time: each chunk's encoder maps stay
        within ``CHUNK_BYTES``, so that the encoder's element-wise passes run in the processor's cache instead of
        main memory (``app.probe.extract`` pools each chunk as it comes). Every image's maps are the same numbers as
        in one batch."""
        h, w = pf.out_size(x.shape[-2:], self.size, self.stride, self.padding == "same")
        per_image = max(1, self.feature_info[-1].channels * h * w * x.element_size())
        step = max(1, CHUNK_BYTES // per_image)
        for start in range(0, len(x), step):
            yield self.forward_intermediates(x[start:start + step], [layer])[0]

    def kernels_as_shown(self, path: str, weight: torch.Tensor) -> tuple[torch.Tensor, str] | None:
        """The Models workspace's kernel view: the encoder's k filters (a 1x1 convolution over the D whitened patch
        values) drawn as the C x size x size patches they are, in whitened space (as Coates & Ng draw their
        centroids); other layers as they are."""
        if path != "encoder":
            return None
        c = self.D // (self.size * self.size)
        state = ("fitted on training patches" if int(self.fitted) else
                 "not fitted: random until the Probe fits them on its training split")
        return (weight.reshape(self.k, c, self.size, self.size),
                f"{self.size}x{self.size} patches in whitened space, {state}")

    def stages(self):
        return [(self.feature_info[0], self.whitened), (self.feature_info[1], self._encode)]

    def pool(self, feats: torch.Tensor) -> torch.Tensor:
        if feats.dim() != 4:
            return feats
        return F.adaptive_avg_pool2d(feats, self.pool_grid).flatten(1)

    # --- the fit --------------------------------------------------------------------------------------------
    def fit_steps(self, x: torch.Tensor, seed: int | None = None, cancel: CancelToken | None = None):
        """Task: fit the whitening and the filters on ``x`` (TRAINING images as the model sees them, (N, C, H, W));
        deterministic for a given ``x`` and ``seed`` (default: the model's)."""
        seed = self.seed if seed is None else int(seed)
        dev = self.zca.device
        x = x.to(dev, torch.float32)
        yield Progress(0, None, f"patches: sampling {self.n_patches:,} training patches")
        P = pf.sample_patches(self._pad(x), self.size, self.stride, self.n_patches, seed)
        if self.normalize:
            P = pf.contrast_normalize(P)
        check(cancel)
        yield Progress(0, None, "patches: whitening statistics (ZCA)")
        W, m = pf.zca(P, self.zca_eps)
        Z = (P - m) @ W.T
        if self.source == "kmeans":
            C = yield from pf.kmeans(Z, self.k, epochs=self.kmeans_epochs, seed=seed + 1, cancel=cancel)
        else:
            g = torch.Generator().manual_seed(seed + 1)
            C = Z[torch.randperm(len(Z), generator=g)[:self.k].to(dev)]
        if self.act_name not in ("triangle", "nearest"):  # dot-product encoders: unit filters
            C = F.normalize(C, dim=1)
        with torch.no_grad():
            self.zca.copy_(W)
            self.patch_mean.copy_(m)
            self.encoder.weight.copy_(C.reshape(self.k, self.D, 1, 1))
            self.fitted.fill_(1)

    def fit_patches(self, x: torch.Tensor, seed: int | None = None) -> "Patches":
        """``fit_steps`` run to its end (no progress, no cancel)."""
        run_to_end(self.fit_steps(x, seed))
        return self


@register_backbone("patches", "Data-dependent single layer (Coates & Ng; Thiry et al.): k filters from training "
                              "patches (random, whitened or k-means centroids), triangle / split +-ReLU / soft-"
                              "threshold / nearest-filters encoder, grid pooling; fitted on the training split "
                              "only")
def patches(**kw) -> Patches:
    return Patches(**kw)
