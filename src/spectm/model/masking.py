"""Which bands the encoder does not see: targeted, random or no masking.

SpecTM's deterministic mask is ``m_b = 1[b in D]``: every band whose wavelength lies in one of the
diagnostic windows D is masked, all other bands stay visible. The windows are defined in nm
(half-open ``[lo, hi)``), never as band indices, so the mask follows any band grid.

Strategies:
    ``targeted``: every band inside a window, the same for every sample.
    ``random``: per sample, as many bands as ``targeted`` masks, drawn uniformly without
        replacement from the eligible bands with a seeded generator (the ablation in the paper).
    ``none``: no band is masked. The reconstruction term then has no target and contributes 0;
        only the index and temporal terms train the encoder (see :mod:`spectm.model.losses`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_WINDOWS_NM: tuple[tuple[float, float], ...] = (
    (615.0, 640.0),  # phycocyanin absorption
    (660.0, 680.0),  # chlorophyll-a red absorption
    (695.0, 720.0),  # red / near-infrared edge
)
"""SpecTM's diagnostic windows (nm, half-open ``[lo, hi)``); Imtiaz et al. 2026, arXiv 2603.22097.

Phycocyanin 615-640, chlorophyll-a red absorption 660-680, red/NIR 695-720 nm.
"""

MASK_STRATEGIES = ("targeted", "random", "none")


def check_windows(windows_nm: Sequence[Sequence[float]]) -> tuple[tuple[float, float], ...]:
    """Validate diagnostic windows and return them as a tuple of ``(lo, hi)`` pairs (nm).

    Raises:
        ValueError: if a window is not a finite pair with ``lo < hi``.

    """
    out = []
    for k, win in enumerate(windows_nm):
        pair = tuple(float(v) for v in win)
        if len(pair) != 2 or not np.all(np.isfinite(pair)) or pair[0] >= pair[1]:
            raise ValueError(
                f"mask window #{k} {tuple(win)} must be (lo_nm, hi_nm) with finite lo < hi"
            )
        out.append((pair[0], pair[1]))
    return tuple(out)


def window_mask(
    wavelengths_nm: np.ndarray | Sequence[float],
    windows_nm: Sequence[Sequence[float]] = DEFAULT_WINDOWS_NM,
) -> np.ndarray:
    """Bands whose wavelength falls in any half-open window ``[lo, hi)``.

    Args:
        wavelengths_nm: Band wavelengths (nm), shape ``(n_bands,)``.
        windows_nm: Windows ``(lo, hi)`` in nm.

    Returns:
        Boolean array, shape ``(n_bands,)``, True where the band is in a window.

    """
    wl = np.asarray(wavelengths_nm, dtype=float)
    inside = np.zeros(wl.shape, dtype=bool)
    for lo, hi in check_windows(windows_nm):
        inside |= (wl >= lo) & (wl < hi)
    return inside


def make_mask(
    strategy: str,
    wavelengths_nm: np.ndarray | Sequence[float],
    n_samples: int,
    *,
    windows_nm: Sequence[Sequence[float]] = DEFAULT_WINDOWS_NM,
    rng: np.random.Generator | None = None,
    eligible: np.ndarray | None = None,
) -> np.ndarray:
    """Build the band mask for a batch of spectra.

    Args:
        strategy: ``targeted``, ``random`` or ``none``.
        wavelengths_nm: Band wavelengths (nm), shape ``(n_bands,)``.
        n_samples: Number of spectra in the batch.
        windows_nm: Diagnostic windows (nm). ``random`` masks as many bands as they contain.
        rng: Generator for ``random`` (required there, so every draw is seeded).
        eligible: Bands ``random`` may draw from, shape ``(n_bands,)`` (default: all). Used to
            keep gap-filled (interpolated, never measured) bands out of the draw.

    Returns:
        Boolean mask, shape ``(n_samples, n_bands)``, True = masked (hidden from the encoder).

    Raises:
        ValueError: on an unknown strategy, windows that contain no band of the grid, or too few
            eligible bands.

    """
    wl = np.asarray(wavelengths_nm, dtype=float)
    if strategy not in MASK_STRATEGIES:
        raise ValueError(f"unknown mask strategy {strategy!r}; expected one of {MASK_STRATEGIES}")
    if strategy == "none":
        return np.zeros((n_samples, wl.size), dtype=bool)
    targeted = window_mask(wl, windows_nm)
    n_masked = int(targeted.sum())
    if n_masked == 0:
        raise ValueError(
            f"mask windows {check_windows(windows_nm)} nm contain none of the "
            f"{wl.size} bands ({wl.min():g}-{wl.max():g} nm)"
        )
    if strategy == "targeted":
        return np.broadcast_to(targeted, (n_samples, wl.size)).copy()
    if rng is None:
        raise ValueError("the 'random' mask strategy needs a seeded numpy Generator (rng)")
    ok = np.ones(wl.size, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    if ok.shape != wl.shape or int(ok.sum()) < n_masked:
        raise ValueError(
            f"random masking needs {n_masked} eligible bands, got {int(ok.sum())} "
            f"(eligible shape {ok.shape}, bands {wl.shape})"
        )
    keys = rng.random((n_samples, wl.size))  # (n_samples, n_bands)
    keys[:, ~ok] = np.inf  # never drawn
    chosen = np.argpartition(keys, n_masked - 1, axis=1)[:, :n_masked]  # (n_samples, n_masked)
    mask = np.zeros((n_samples, wl.size), dtype=bool)
    np.put_along_axis(mask, chosen, True, axis=1)
    return mask
