"""EnMAP bands -> TerraMind's 12 Sentinel-2 L2A bands, as torch modules (1x1 maps over bands).

Each projection is ``y_k = sum_c W_kc x_c`` over the spectral axis of a chip batch, followed by
TerraMind's S2L2A input convention: reflectance x 10^4, then ``(y - mean_k) / std_k`` with the
TerraMind v1 pretraining statistics (:data:`spectm.spectral.srf.TERRAMIND_S2L2A_MEAN` /
``_STD``, copied from terratorch ``terramind_register.py``, ``v1_pretraining_mean/std
["untok_sen2l2a@224"]``; a test checks them against the installed terratorch).

``naive``
    Fixed: ``W_kc = 1`` for the EnMAP band whose centre is nearest the S2 band's SRF-weighted
    centroid (TerraMind HSI paper, "naive").
``srf``
    Fixed: the normalised SRF weights of :func:`spectm.spectral.resample.build_resampler` with
    ``method="srf"`` for the chips' own centres and FWHM, the very weights
    :func:`spectm.spectral.resample.resample` applies (ESA SRF integrated against each EnMAP band's
    Gaussian response; see that module).
``learned``
    Trainable, started from the ``srf`` weights and updated with the rest of the model (beyond
    the paper). It is unconstrained (weights may leave [0, 1] and rows need not sum to 1) and is
    kept out of weight decay, which would otherwise shrink the reflectance scale TerraMind's
    standardisation assumes.

Coverage: every S2 band's response must lie inside EnMAP's support (``min_coverage``, by default
0.95); otherwise :func:`build_projection` refuses, naming the bands (never a zero-filled
channel). :func:`coverage_table` records per band the coverage and the source bands of ``naive``
and ``srf``.

NaN: a pixel with any non-finite band is invalid; it is set to 0 *after* standardisation (the
pretraining mean of every band) so it perturbs the encoder as little as possible, and the
training loss and metrics ignore it (label -1, left out of the chip target; see
:mod:`spectm.adapt.chips`).

The projection runs in float32 even under bf16 autocast (bf16 keeps ~3 significant digits, too
coarse for reflectance x 10^4 before standardisation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from spectm.adapt.settings import PROJECTIONS
from spectm.spectral.resample import Resampler, build_resampler
from spectm.spectral.srf import S2_L2A_BANDS, TERRAMIND_S2L2A_MEAN, TERRAMIND_S2L2A_STD

REFLECTANCE_SCALE = 1e4
"""TerraMind's S2L2A input unit: surface reflectance x 10^4."""


def projection_resampler(
    method: str,
    wavelength_nm: np.ndarray,
    fwhm_nm: np.ndarray,
    *,
    target: str,
    version: str,
    min_coverage: float,
) -> Resampler:
    """The fixed EnMAP -> S2L2A map of a method (``learned`` starts from ``srf``).

    Args:
        method: ``naive``, ``srf`` or ``learned``.
        wavelength_nm: EnMAP band centres (nm), ``(C,)``.
        fwhm_nm: EnMAP band FWHM (nm), ``(C,)``.
        target: Sentinel-2 unit of the SRF table (``S2A``, ``S2B``, ``S2C``).
        version: ESA SRF table version.
        min_coverage: Minimum fraction of every S2 band's response inside EnMAP's support.

    Returns:
        The resampler; ``weights`` ``(12, C)``, rows summing to 1.

    Raises:
        ValueError: for an unknown method, or when an S2 band is not covered.

    """
    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection {method!r}; choose from {list(PROJECTIONS)}")
    res = build_resampler(
        wavelength_nm,
        fwhm_nm,
        target=target,
        version=version,
        method="naive" if method == "naive" else "srf",
        min_coverage=min_coverage,
    )
    if res.bands != S2_L2A_BANDS:
        raise ValueError(f"expected the 12 S2L2A bands {S2_L2A_BANDS}, got {res.bands}")
    if not res.valid.all():
        lost = {
            b: round(float(c), 3)
            for b, c, v in zip(res.bands, res.coverage, res.valid, strict=True)
            if not v
        }
        raise ValueError(
            f"the chips' bands do not cover Sentinel-2 bands {lost} (coverage below "
            f"{min_coverage}); TerraMind needs all 12, none is zero-filled"
        )
    return res


class SpectralProjection(nn.Module):
    """Reflectance ``(B, C, H, W)`` -> TerraMind-standardised S2L2A ``(B, 12, H, W)``.

    Args:
        weights: Map from the C source bands to the 12 S2L2A bands, ``(12, C)``.
        trainable: Make ``weight`` a parameter (``learned``) instead of a fixed buffer.

    """

    def __init__(self, weights: np.ndarray, *, trainable: bool) -> None:
        super().__init__()
        w = torch.as_tensor(np.asarray(weights), dtype=torch.float32)  # (12, C)
        if w.shape[0] != len(S2_L2A_BANDS):
            raise ValueError(f"weights must have {len(S2_L2A_BANDS)} rows, got {w.shape[0]}")
        self.weight: Tensor
        if trainable:
            self.weight = nn.Parameter(w)
        else:
            self.register_buffer("weight", w)
        self.register_buffer("mean", torch.as_tensor(TERRAMIND_S2L2A_MEAN, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(TERRAMIND_S2L2A_STD, dtype=torch.float32))
        self.mean: Tensor
        self.std: Tensor

    @property
    def n_source(self) -> int:
        """Number of source bands C."""
        return int(self.weight.shape[1])

    def forward(self, x: Tensor) -> Tensor:
        """Project and standardise; invalid pixels (any NaN band) become 0 in every band."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            valid = torch.isfinite(x).all(dim=1, keepdim=True)  # (B, 1, H, W)
            x = torch.where(valid, x, torch.zeros_like(x))  # (B, C, H, W)
            y = torch.einsum("kc,bchw->bkhw", self.weight.float(), x)  # (B, 12, H, W)
            y = (y * REFLECTANCE_SCALE - self.mean[:, None, None]) / self.std[:, None, None]
            return torch.where(valid, y, torch.zeros_like(y))  # (B, 12, H, W)


def build_projection(
    method: str,
    wavelength_nm: np.ndarray,
    fwhm_nm: np.ndarray,
    *,
    target: str,
    version: str,
    min_coverage: float,
) -> SpectralProjection:
    """The projection module of a method (see the module docstring).

    Args:
        method: ``naive``, ``srf`` or ``learned``.
        wavelength_nm: EnMAP band centres (nm), ``(C,)``.
        fwhm_nm: EnMAP band FWHM (nm), ``(C,)``.
        target: Sentinel-2 unit of the SRF table.
        version: ESA SRF table version.
        min_coverage: Minimum S2 band coverage.

    Returns:
        The module; trainable for ``learned`` only.

    """
    res = projection_resampler(
        method, wavelength_nm, fwhm_nm, target=target, version=version, min_coverage=min_coverage
    )
    return SpectralProjection(res.weights, trainable=method == "learned")


def coverage_table(
    wavelength_nm: np.ndarray,
    fwhm_nm: np.ndarray,
    *,
    target: str,
    version: str,
    min_coverage: float,
) -> pd.DataFrame:
    """Per-band EnMAP -> S2L2A coverage and source bands of ``naive`` and ``srf``.

    Args:
        wavelength_nm: EnMAP band centres (nm), ``(C,)``.
        fwhm_nm: EnMAP band FWHM (nm), ``(C,)``.
        target: Sentinel-2 unit of the SRF table.
        version: ESA SRF table version.
        min_coverage: The coverage threshold recorded in ``valid``.

    Returns:
        One row per S2L2A band (TerraMind order): ``band``, ``centre_nm`` (SRF centroid),
        ``coverage`` (fraction of the response inside EnMAP's support), ``valid``,
        ``naive_source_nm`` (the nearest EnMAP centre), ``srf_n_source_bands``,
        ``srf_source_min_nm``, ``srf_source_max_nm``, ``srf_weighted_source_nm``,
        ``srf_main_source_nm``, ``terramind_mean``, ``terramind_std`` (reflectance x 10^4),
        ``target`` (SRF table) and ``min_coverage``.

    """
    naive, srf = (
        build_resampler(
            wavelength_nm,
            fwhm_nm,
            target=target,
            version=version,
            method=method,
            min_coverage=min_coverage,
        ).provenance()
        for method in ("naive", "srf")
    )
    out = naive[["band", "centre_nm", "coverage", "valid"]].copy()
    out["naive_source_nm"] = naive["main_source_nm"]
    for col in ("n_source_bands", "source_min_nm", "source_max_nm", "weighted_source_nm"):
        out[f"srf_{col}"] = srf[col]
    out["srf_main_source_nm"] = srf["main_source_nm"]
    out["terramind_mean"] = TERRAMIND_S2L2A_MEAN
    out["terramind_std"] = TERRAMIND_S2L2A_STD
    out["target"] = naive["target"]
    out["min_coverage"] = float(min_coverage)
    return out
