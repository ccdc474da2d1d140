"""The filter bank of the 2-D scattering transform, in the Fourier domain: kymatio's construction (Andreux et al.
2020, ``kymatio/scattering2d/filter_bank.py`` and ``utils.compute_padding``, v0.3), vectorised.

- ``psi[j][r]``: the L Morlet wavelets of scale j (j = 0..J-1; sigma 0.8 * 2^j, centre frequency 3 pi / 4 / 2^j,
  slant 4 / L, angle (int(L - L/2 - 1) - theta) pi / L for theta = 0..L-1), their Fourier transforms (real: each
  filter is Hermitian in space) periodised to resolution r (the spectrum folded onto (M / 2^r, N / 2^r)), for
  r = 0..min(j + 1, max(J - 1, 1)) - 1: an (L, M / 2^r, N / 2^r) array;
- ``phi[r]``: the Gaussian low-pass (sigma 0.8 * 2^(J-1)) at resolutions r = 0..J-1;

computed at the PADDED size (``compute_padding``), each Gaussian envelope periodised over 5 x 5 copies of the grid,
normalised by 2 * 3.1415 * sigma^2 / slant (kymatio's constant, kept so the coefficients match it). The filters are
computed in float64 (kymatio accumulates in complex64) and returned as float32 numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PI_KYMATIO = 3.1415  # kymatio's normalisation constant (not math.pi): kept so that the coefficients match its own


def compute_padding(M: int, N: int, J: int) -> tuple[int, int]:
    """The padded size kymatio computes the transform at: the next multiple of 2^J above M + 2^J (and N + 2^J)."""
    return ((M + 2 ** J) // 2 ** J + 1) * 2 ** J, ((N + 2 ** J) // 2 ** J + 1) * 2 ** J


def gabor_2d(M: int, N: int, sigma: float, theta: float, xi: float, slant: float = 1.0,
             offset: int = 0) -> np.ndarray:
    """A Gabor filter g_sigma(u) exp(i xi . u) in space, (M, N) complex128, periodised over 5 x 5 copies."""
    c, s = np.float32(np.cos(theta)), np.float32(np.sin(theta))  # kymatio builds the rotation in float32
    R = np.array([[c, -s], [s, c]], np.float32)
    R_inv = np.array([[c, s], [-s, c]], np.float32)
    D = np.array([[1, 0], [0, slant * slant]])
    curv = np.dot(R, np.dot(D, R_inv)) / (2 * sigma * sigma)
    a, b, d = curv[0, 0], curv[0, 1] + curv[1, 0], curv[1, 1]
    kx, ky = xi * np.cos(theta), xi * np.sin(theta)
    gab = np.zeros((M, N), np.complex128)
    rows, cols = np.arange(M, dtype=np.float64), np.arange(N, dtype=np.float64)
    for ex in (-2, -1, 0, 1, 2):
        xx = (offset + ex * M + rows)[:, None]
        for ey in (-2, -1, 0, 1, 2):
            yy = (offset + ey * N + cols)[None, :]
            gab += np.exp(-(a * xx * xx + b * xx * yy + d * yy * yy) + 1j * (xx * kx + yy * ky))
    return gab / (2 * PI_KYMATIO * sigma * sigma / slant)


def morlet_2d(M: int, N: int, sigma: float, theta: float, xi: float, slant: float = 0.5,
              offset: int = 0) -> np.ndarray:
    """A Morlet wavelet: the Gabor filter minus K times its envelope, K such that the sum (the mean) is zero."""
    wv = gabor_2d(M, N, sigma, theta, xi, slant, offset)
    wv_modulus = gabor_2d(M, N, sigma, theta, 0, slant, offset)
    K = np.sum(wv) / np.sum(wv_modulus)
    return wv - K * wv_modulus


def periodize_filter_fft(x: np.ndarray, res: int) -> np.ndarray:
    """The spectrum ``x`` (M, N) as seen after subsampling by 2^res: the high frequencies beyond the new Nyquist band
    masked off, then folded (summed) onto (M / 2^res, N / 2^res)."""
    M, N = x.shape
    k = 2 ** res
    mask = np.ones(x.shape, np.float32)
    len_x, start_x = int(M * (1 - 2 ** (-res))), int(M * 2 ** (-res - 1))
    len_y, start_y = int(N * (1 - 2 ** (-res))), int(N * 2 ** (-res - 1))
    mask[start_x:start_x + len_x, :] = 0
    mask[:, start_y:start_y + len_y] = 0
    return (x * mask).reshape(k, M // k, k, N // k).sum(axis=(0, 2))


def psi_angle(theta: int, L: int) -> float:
    return (int(L - L / 2 - 1) - theta) * np.pi / L


@dataclass(frozen=True)
class FilterBank:
    """The filters of one padded size (see the module docstring); float32 numpy arrays."""
    M: int
    N: int
    J: int
    L: int
    phi: tuple[np.ndarray, ...]  # phi[r]: (M / 2^r, N / 2^r), r = 0..J-1
    psi: tuple[tuple[np.ndarray, ...], ...]  # psi[j][r]: (L, M / 2^r, N / 2^r)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every filter by a stable name (``phi{r}``, ``psi{j}_{r}``): the module's buffers."""
        out = {f"phi{r}": p for r, p in enumerate(self.phi)}
        for j, levels in enumerate(self.psi):
            out.update({f"psi{j}_{r}": p for r, p in enumerate(levels)})
        return out


def psi_levels(j: int, J: int) -> int:
    """How many resolutions wavelet scale j is needed at (kymatio: min(j + 1, max(J - 1, 1)))."""
    return min(j + 1, max(J - 1, 1))


def filter_bank(M: int, N: int, J: int, L: int = 8) -> FilterBank:
    """kymatio's ``filter_bank(M, N, J, L)`` (M, N: the padded size, multiples of 2^J)."""
    psi = []
    for j in range(J):
        per_res: list[list[np.ndarray]] = [[] for _ in range(psi_levels(j, J))]
        for theta in range(L):
            sig = morlet_2d(M, N, 0.8 * 2 ** j, psi_angle(theta, L), 3.0 / 4.0 * np.pi / 2 ** j, 4.0 / L)
            f = np.real(np.fft.fft2(sig))  # the imaginary part is zero (up to rounding): the filter is Hermitian
            for r in range(len(per_res)):
                per_res[r].append(periodize_filter_fft(f, r))
        psi.append(tuple(np.stack(p).astype(np.float32) for p in per_res))
    f = np.real(np.fft.fft2(gabor_2d(M, N, 0.8 * 2 ** (J - 1), 0, 0)))
    phi = tuple(periodize_filter_fft(f, r).astype(np.float32) for r in range(J))
    return FilterBank(M, N, J, L, phi, tuple(psi))


def littlewood_paley(bank: FilterBank) -> np.ndarray:
    """sum over the wavelets of |psi_hat|^2 (+ the mirrored spectrum, for the real-signal frame) + |phi_hat|^2 at
    resolution 0, (M, N): a frame is non-expansive where this stays at or below 1 (kymatio's design stays below
    ~1 for L = 8)."""
    psi = np.concatenate([levels[0] for levels in bank.psi]).astype(np.float64)
    mirrored = np.roll(psi[:, ::-1, ::-1], (1, 1), axis=(1, 2))  # psi_hat(-omega)
    return 0.5 * ((psi ** 2).sum(0) + (mirrored ** 2).sum(0)) + bank.phi[0].astype(np.float64) ** 2
