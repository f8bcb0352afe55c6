"""Model band grids and linear resampling of spectra onto them.

Grids:
    ``native``: the sensor's own bands (PACE OCI: the 172 L2 AOP Rrs wavelengths, 346-719 nm).
    ``paper``: a uniform 2.5 nm grid from 415 to 717.5 nm, 122 bands. Assumption: the SpecTM
        paper uses 122 PACE bands but does not list them; this grid has exactly 122 bands and
        exactly 28 of them fall in the half-open diagnostic windows [615,640) [660,680) [695,720),
        matching the paper's counts (see docs/assumptions.md).

PACE has no Rrs between 589 and 612 nm (blue/red CCD transition), so grid bands that fall in a
gap wider than ``max_gap_nm`` between source bands are linearly interpolated across it and
flagged ``gap_filled``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from spectm.spectral.bands import pace_oci_rrs_wavelengths

PAPER_GRID_START_NM = 415.0
PAPER_GRID_STEP_NM = 2.5
PAPER_GRID_N = 122

MAX_SOURCE_GAP_NM = 30.0
"""Widest gap between input bands that may be bridged by linear interpolation (nm); PACE's
589-612 nm gap (25 nm) is bridged (assumption)."""


def paper_grid() -> np.ndarray:
    """The uniform 2.5 nm grid 415-717.5 nm, shape ``(122,)``."""
    return PAPER_GRID_START_NM + PAPER_GRID_STEP_NM * np.arange(PAPER_GRID_N)


def model_grid(name: str) -> np.ndarray:
    """Wavelengths (nm) of a named model grid: ``native`` (PACE OCI) or ``paper``."""
    if name == "native":
        return pace_oci_rrs_wavelengths()
    if name == "paper":
        return paper_grid()
    raise ValueError(f"unknown model grid {name!r}; expected 'native' or 'paper'")


@dataclass(frozen=True)
class GridResampler:
    """Linear interpolation from source wavelengths onto a target grid.

    Attributes:
        source_nm: Source wavelengths (nm), shape ``(n_src,)``, increasing.
        target_nm: Target wavelengths (nm), shape ``(n_tgt,)``.
        weights: Interpolation matrix, shape ``(n_tgt, n_src)``; rows sum to 1.
        gap_filled: True for target bands interpolated across a source gap, ``(n_tgt,)``.
        outside: True for target bands outside the source range (value NaN), ``(n_tgt,)``.
    """

    source_nm: np.ndarray
    target_nm: np.ndarray
    weights: np.ndarray
    gap_filled: np.ndarray
    outside: np.ndarray

    def __call__(self, spectra: np.ndarray) -> np.ndarray:
        """Resample spectra ``(..., n_src)`` to ``(..., n_tgt)``.

        A NaN in either source band used by a target band makes that target band NaN.
        """
        x = np.asarray(spectra, dtype=float)
        if x.shape[-1] != self.source_nm.size:
            raise ValueError(
                f"spectra have {x.shape[-1]} bands, resampler expects {self.source_nm.size}"
            )
        used = self.weights > 0  # (n_tgt, n_src)
        finite = np.isfinite(x)
        filled = np.where(finite, x, 0.0)
        out = filled @ self.weights.T  # (..., n_tgt)
        bad = (~finite).astype(float) @ used.T.astype(float) > 0  # (..., n_tgt)
        out[bad] = np.nan
        out[..., self.outside] = np.nan
        return out


def grid_resampler(
    source_nm: np.ndarray, target_nm: np.ndarray, *, max_gap_nm: float = 6.0
) -> GridResampler:
    """Build a linear-interpolation resampler from ``source_nm`` to ``target_nm`` (both nm).

    Args:
        source_nm: Increasing source wavelengths (nm).
        target_nm: Target wavelengths (nm).
        max_gap_nm: Target bands lying between two source bands further apart than this are
            flagged ``gap_filled`` (PACE's 588-613 nm gap is 25 nm; regular spacing is <= 2.5 nm).
    """
    src = np.asarray(source_nm, dtype=float)
    tgt = np.asarray(target_nm, dtype=float)
    if np.any(np.diff(src) <= 0):
        raise ValueError("source wavelengths must be strictly increasing")
    w = np.zeros((tgt.size, src.size))
    gap = np.zeros(tgt.size, dtype=bool)
    outside = (tgt < src[0] - 1e-9) | (tgt > src[-1] + 1e-9)
    for i, t in enumerate(tgt):
        if outside[i]:
            continue
        j = int(np.searchsorted(src, t))
        if j < src.size and abs(src[j] - t) < 1e-9:
            w[i, j] = 1.0
            continue
        lo, hi = j - 1, j
        span = src[hi] - src[lo]
        frac = (t - src[lo]) / span
        w[i, lo], w[i, hi] = 1.0 - frac, frac
        gap[i] = span > max_gap_nm
    return GridResampler(src, tgt, w, gap, outside)


def covering_resampler(
    source_nm: np.ndarray,
    grid_nm: np.ndarray,
    *,
    what: str,
    max_gap_nm: float = MAX_SOURCE_GAP_NM,
) -> GridResampler:
    """A linear resampler onto ``grid_nm``, refusing grids the source bands do not cover.

    Args:
        source_nm: Wavelengths of the input spectra (nm), increasing, shape (n_src,).
        grid_nm: Model grid (nm), shape (n_grid,).
        what: Name of the input for the error message (a file or table).
        max_gap_nm: Grid bands between two source bands further apart than this are not covered.

    Raises:
        ValueError: naming ``what`` and the uncovered wavelength range(s).

    """
    src = np.asarray(source_nm, dtype=float)
    grid = np.asarray(grid_nm, dtype=float)
    res = grid_resampler(src, grid)
    gaps = [
        (lo, hi)
        for lo, hi in itertools.pairwise(src)
        if hi - lo > max_gap_nm and ((grid > lo) & (grid < hi)).any()
    ]
    if res.outside.any() or gaps:
        out = grid[res.outside]
        below, above = out[out < src[0]], out[out > src[-1]]
        parts = [f"{g[0]:g}-{g[-1]:g} nm" for g in (below, above) if g.size]
        parts += [f"{lo:g}-{hi:g} nm (gap wider than {max_gap_nm:g} nm)" for lo, hi in gaps]
        raise ValueError(
            f"{what}: spectra at {src[0]:g}-{src[-1]:g} nm do not cover the model grid "
            f"{grid[0]:g}-{grid[-1]:g} nm; missing {', '.join(parts)}"
        )
    return res


def resample_to_grid(
    spectra: np.ndarray,
    source_nm: np.ndarray,
    grid_nm: np.ndarray,
    *,
    what: str,
    max_gap_nm: float = MAX_SOURCE_GAP_NM,
) -> np.ndarray:
    """Linearly resample spectra onto the model grid, refusing grids the input does not cover.

    Args:
        spectra: Rrs (sr-1), shape (n, n_src); NaN propagates to the grid bands it touches.
        source_nm: Wavelengths of ``spectra`` (nm), increasing, shape (n_src,).
        grid_nm: Model grid (nm), shape (n_grid,).
        what: Name of the input for the error message (a file or table).
        max_gap_nm: Grid bands between two source bands further apart than this are not covered.

    Returns:
        Rrs (sr-1) on the grid, float64, shape (n, n_grid).

    Raises:
        ValueError: naming ``what`` and the uncovered wavelength range(s).

    """
    res = covering_resampler(source_nm, grid_nm, what=what, max_gap_nm=max_gap_nm)
    return res(spectra)
