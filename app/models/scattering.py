"""``scattering``: the 2-D wavelet scattering transform (Mallat 2012; Bruna & Mallat 2013), computed exactly as
kymatio's ``Scattering2D`` (Andreux et al. 2020, v0.3) so that the coefficients match it up to float rounding.
Data-independent: fixed Morlet wavelets and a Gaussian low-pass; no filter sees the data, nothing is random.

Per input channel (grey: one, colour: each of R, G, B separately), with J scales and L orientations:

- order 0: x * phi_J (1 map);
- order 1: |x * psi_{j1,theta1}| * phi_J (J L maps);
- order 2: ||x * psi_{j1,theta1}| * psi_{j2,theta2}| * phi_J for j2 > j1 (L^2 J (J - 1) / 2 maps);

all subsampled by 2^J. The convolutions are products in the Fourier domain (``torch.fft``) after kymatio's
reflection padding of the input to ``compute_padding(H, W, J)`` (the next multiple of 2^J above H + 2^J, so any size
from 2^J up works, multiple of 2^J or not); each output map is cropped back to floor(H / 2^J) x floor(W / 2^J).
Subsampling is done in the Fourier domain (periodisation), as kymatio does.

Layers (``feature_info``, stride 2^J): ``order1`` = [order 0, order 1] (C (1 + J L) channels) and, with
``max_order=2``, ``order2`` = [order 0, order 1, order 2] (C (1 + J L + L^2 J (J - 1) / 2) channels; 81 per input
channel for J=2, L=8). Channels are input-channel major, then kymatio's order (S0; S1 by (j1, theta1); S2 by (j1,
theta1, j2, theta2)): ``order2`` of a grey image is kymatio's output ``(B, 1, K, H', W')`` reshaped to (B, K, H', W').

The filters of the built size (``input_size``) are buffers (so the state dict, hence the probe's feature-cache key,
changes with J, L and the size); other sizes (Live's processing size) get theirs built once and cached (a few kept).
Memory is bounded: a batch is transformed as runs of image channels of about ``chunk_bytes`` of intermediates each
(the largest is the order-2 product of the finest scale, L x L padded-size complex values per image channel; order 2
takes the first-order orientations in groups, so that even one large colour frame stays within the budget). The
transform runs in float32 (float64 inputs in float64), outside autocast.
"""

from __future__ import annotations

from collections import OrderedDict
from numbers import Integral

import torch
import torch.nn.functional as F

from app.models.base import Backbone, LayerInfo, ModelError
from app.models.deskew import deskew as deskew_images
from app.models.registry import register_backbone
from app.models.scattering_filters import FilterBank, compute_padding, filter_bank, psi_levels

MAX_L = 64  # orientations: more is a typo (and L^2 order-2 maps per scale pair)
MAX_ORDERS = (1, 2)
CACHED_SIZES = 4  # filter banks of sizes other than the built one kept per model (Live's processing size)


def check_options(J: int, L: int, max_order: int, in_channels: int, input_size: int) -> None:
    """``ModelError`` naming the option for a value the transform cannot use."""
    for name, v in (("J", J), ("L", L), ("max_order", max_order), ("in_channels", in_channels),
                    ("input_size", input_size)):
        if isinstance(v, bool) or not isinstance(v, Integral):
            raise ModelError(f"{name} must be a whole number, got {v!r}")
    if J < 1:
        raise ModelError(f"J (the number of scales, log2 of the scattering scale) must be at least 1, got {J}")
    if not 1 <= L <= MAX_L:
        raise ModelError(f"L (the number of orientations) must be between 1 and {MAX_L}, got {L}")
    if max_order not in MAX_ORDERS:
        raise ModelError(f"max_order must be 1 or 2 (the scattering orders computed), got {max_order}")
    if in_channels < 1:
        raise ModelError(f"in_channels must be at least 1, got {in_channels}")
    check_size(J, input_size, input_size, "input_size")


def check_size(J: int, H: int, W: int, what: str = "the input") -> None:
    if 2 ** J > min(H, W):
        biggest = max(0, min(H, W).bit_length() - 1)
        raise ModelError(f"J={J} is too large for {what} of {H}x{W} pixels: 2^J = {2 ** J} must not exceed the smaller "
                         f"side (use J <= {biggest}, or larger images)")


def subsample_fourier(x: torch.Tensor, k: int) -> torch.Tensor:
    """The spectrum of the signal subsampled by k along both axes: the spectrum periodised (mean of its k x k
    blocks), as kymatio's ``subsample_fourier``."""
    return fold(x, k).div_(k * k) if k > 1 else x


def fold(x: torch.Tensor, k: int) -> torch.Tensor:
    """k^2 times ``subsample_fourier(x, k)``: ``x.reshape(..., k, m/k, k, n/k).sum(dim=(-4, -2))``, as sums of
    contiguous slices (a complex reduction over strided dimensions is several times slower on CPU)."""
    if k == 1:
        return x
    *lead, m, n = x.shape
    r = x.reshape(-1, k, (m // k) * n)
    s = r[:, 0] + r[:, 1]
    for i in range(2, k):
        s += r[:, i]
    s = s.reshape(-1, m // k, k, n // k)
    t = s[:, :, 0] + s[:, :, 1]
    for j in range(2, k):
        t += s[:, :, j]
    return t.reshape(*lead, m // k, n // k)


def pad_reflect(x: torch.Tensor, Mp: int, Np: int) -> torch.Tensor:
    """(n, H, W) -> (n, Mp, Np): kymatio's reflection padding (torch's reflect mode cannot pad a side by the whole
    signal; kymatio pads one less and adds the mirrored row/column, and so does this)."""
    n, H, W = x.shape
    top, bottom = (Mp - H) // 2, (Mp - H + 1) // 2
    left, right = (Np - W) // 2, (Np - W + 1) // 2
    full_h, full_w = top == H, left == W
    x = F.pad(x[:, None], (left - full_w, right - full_w, top - full_h, bottom - full_h), mode="reflect")[:, 0]
    if full_h:
        x = torch.cat([x[:, 1:2], x, x[:, -2:-1]], dim=1)
    if full_w:
        x = torch.cat([x[:, :, 1:2], x, x[:, :, -2:-1]], dim=2)
    return x


class Scattering(Backbone):
    fixed_input_size = False  # any size from 2^J up (reflection-padded as kymatio does)

    def __init__(
        self,
        in_channels: int = 3,
        J: int = 2,
        L: int = 8,
        max_order: int = 2,
        input_size: int = 32,
        num_classes: int = 0,
        chunk_bytes: int = 64 * 2**20,
        deskew: bool = False,
    ) -> None:
        super().__init__()
        check_options(J, L, max_order, in_channels, input_size)
        self.deskew = bool(deskew)
        self.J, self.L, self.max_order = int(J), int(L), int(max_order)
        self.in_channels = int(in_channels)
        self.chunk_bytes = int(chunk_bytes)
        self.default_input = (self.in_channels, int(input_size), int(input_size))
        self.n_order1 = 1 + self.J * self.L
        self.n_order2 = self.L ** 2 * self.J * (self.J - 1) // 2
        self.padded = compute_padding(int(input_size), int(input_size), self.J)
        for name, arr in filter_bank(*self.padded, self.J, self.L).arrays().items():
            self.register_buffer(name, torch.from_numpy(arr))
        self._banks: OrderedDict = OrderedDict()  # (Mp, Np, device) -> filters of another size
        c, s = self.in_channels, 2 ** self.J
        self.feature_info = [LayerInfo("order1", c * self.n_order1, s, "scattering")]
        if self.max_order == 2:
            self.feature_info.append(LayerInfo("order2", c * (self.n_order1 + self.n_order2), s, "scattering"))
        self.num_features = self.feature_info[-1].channels
        self.reset_classifier(num_classes)

    @property
    def channels_per_input(self) -> int:
        """Scattering coefficients per input channel at the last layer (81 for J=2, L=8, max_order=2)."""
        return self.n_order1 + (self.n_order2 if self.max_order == 2 else 0)

    # --- filters ----------------------------------------------------------------------------------------------
    def filters(self, Mp: int, Np: int, device: torch.device) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """(phi[r], psi[j][r]) at padded size (Mp, Np) on ``device`` (the buffers for the built size)."""
        if (Mp, Np) == self.padded and self.phi0.device == device:
            bufs = dict(self.named_buffers())
            phi = [bufs[f"phi{r}"] for r in range(self.J)]
            psi = [[bufs[f"psi{j}_{r}"] for r in range(psi_levels(j, self.J))] for j in range(self.J)]
            return phi, psi
        key = (Mp, Np, str(device))
        got = self._banks.get(key)
        if got is None:
            with torch.inference_mode(False), torch.no_grad():  # plain tensors, usable outside inference mode too
                bank: FilterBank = filter_bank(Mp, Np, self.J, self.L)
                got = ([torch.from_numpy(p).to(device) for p in bank.phi],
                       [[torch.from_numpy(p).to(device) for p in levels] for levels in bank.psi])
            self._banks[key] = got
            while len(self._banks) > CACHED_SIZES:
                self._banks.popitem(last=False)
        else:
            self._banks.move_to_end(key)
        return got

    def _apply(self, fn, *args, **kwargs):  # .to() / .cuda(): the cached banks of other sizes are rebuilt lazily
        self._banks = OrderedDict()
        return super()._apply(fn, *args, **kwargs)

    # --- the transform ------------------------------------------------------------------------------------------
    def scatter(self, x: torch.Tensor, order: int | None = None) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, K, H // 2^J, W // 2^J), K = 1 + J L (order 1) or + L^2 J (J-1) / 2 (order 2):
        kymatio's ``Scattering2D(J, (H, W), L, max_order)(x)``, computed ``chunk_bytes`` at a time."""
        order = self.max_order if order is None else int(order)
        if x.dim() != 4:
            raise ModelError(f"scattering: expected a (batch, channels, height, width) tensor, got shape "
                             f"{tuple(x.shape)}")
        B, C, H, W = x.shape
        if C != self.in_channels:
            raise ModelError(f"scattering: built for in_channels={self.in_channels}, got an input with {C} channels")
        check_size(self.J, H, W)
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        Mp, Np = compute_padding(H, W, self.J)
        phi, psi = self.filters(Mp, Np, x.device)
        phi = [p.to(x.dtype) for p in phi]
        psi = [[p.to(x.dtype) for p in levels] for levels in psi]
        L = self.L
        # the largest intermediate per image channel: the order-2 products of the finest scale, L (theta1 group) x L
        # complex values per padded pixel, twice (product and transform); a chunk is a run of image channels
        two = order == 2 and self.J > 1
        group = max(1, min(L, self.chunk_bytes // max(1, Mp * Np * 4 * x.element_size() * L))) if two else L
        per_channel = Mp * Np * 4 * x.element_size() * L * (group if two else 1)
        step = max(1, self.chunk_bytes // max(1, per_channel))
        flat = x.reshape(B * C, H, W)
        with torch.autocast(x.device.type, enabled=False):  # FFTs of half precision: power-of-2 sizes only (CUDA)
            outs = [self._scatter(flat[i:i + step], Mp, Np, phi, psi, order, group) for i in range(0, B * C, step)]
        S = torch.cat(outs) if len(outs) > 1 else outs[0]
        return S.reshape(B, C, *S.shape[1:])

    def _scatter(self, x: torch.Tensor, Mp: int, Np: int, phi, psi, order: int, group: int) -> torch.Tensor:
        """(n, H, W) real -> (n, K, H', W'): kymatio's ``scattering2d`` core, the L orientations of a scale (and the
        L x L pairs of a scale pair) at once."""
        J = self.J
        fft, ifft = torch.fft.fft2, torch.fft.ifft2
        n = x.shape[0]
        # the 1 / k^2 of each subsampling (a mean over k x k spectral blocks) folded into the filter before it
        phi = [p / 4 ** (J - r) for r, p in enumerate(phi)]

        def low(u: torch.Tensor, res: int) -> torch.Tensor:  # * phi_J, subsampled to 2^J, cropped
            s = ifft(fold(u * phi[res], 2 ** (J - res))).real
            return s[..., 1:-1, 1:-1]

        U0 = fft(pad_reflect(x, Mp, Np))
        out = [low(U0, 0)[:, None]]
        U1 = []
        for j1 in range(J):
            u = fold(U0[:, None] * (psi[j1][0] / 4 ** j1), 2 ** j1)
            u = fft(ifft(u).abs())  # (n, L, Mp / 2^j1, Np / 2^j1)
            out.append(low(u, j1))
            U1.append(u)
        if order >= 2:
            g = group
            for j1 in range(J - 1):
                for t0 in range(0, self.L, g):  # theta1 in groups: bounds the (n, g, L, ...) products
                    parts = []
                    for j2 in range(j1 + 1, J):
                        u2 = U1[j1][:, t0:t0 + g, None] * (psi[j2][j1] / 4 ** (j2 - j1))
                        u2 = fft(ifft(fold(u2, 2 ** (j2 - j1))).abs())  # (n, g, L, ...)
                        parts.append(low(u2, j2))
                        del u2
                    out.append(torch.cat(parts, dim=2).reshape(n, -1, *parts[0].shape[-2:]))
        return torch.cat(out, dim=1)

    # --- the backbone interface -----------------------------------------------------------------------------
    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """What the transform sees: each image deskewed by its own moments where ``deskew`` is on (as rdsn's)."""
        return deskew_images(x) if self.deskew else x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_intermediates(x, [-1])[0]

    def forward_intermediates(self, x: torch.Tensor, indices: list[int] | int | None = None,
                              stop_early: bool = True) -> list[torch.Tensor]:
        n = len(self.feature_info)
        if indices is None:
            want = list(range(n))
        elif isinstance(indices, int):
            want = [n - 1 - i for i in range(indices)][::-1]
        else:
            want = [i if i >= 0 else n + i for i in indices]
        for i in want:
            if not 0 <= i < n:
                raise IndexError(f"layer index {i} out of range 0..{n - 1}")
        if not want:
            return []
        S = self.scatter(self.prepare(x), order=max(want) + 1)  # order1 needs no order-2 coefficients
        B, C, _, h, w = S.shape
        maps = []
        for i in want:
            k = self.n_order1 if i == 0 else self.n_order1 + self.n_order2
            maps.append(S[:, :, :k].reshape(B, C * k, h, w))
        return maps


@register_backbone("scattering", "2-D wavelet scattering (Mallat; kymatio's Scattering2D): fixed Morlet wavelets, "
                                 "orders 0-2, J scales, L orientations, per input channel; data-independent")
def scattering(**kw) -> Scattering:
    return Scattering(**kw)
