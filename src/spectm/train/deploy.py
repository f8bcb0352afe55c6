"""The deployable microcystin model: SpecTM fine-tuned on every labelled row, with intervals.

The model also stores the envelope of its training spectra on the model grid
(:func:`fit_domain_envelope`), which :mod:`spectm.predict` uses to flag out-of-domain input.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import spectm
from spectm._io import PathLike, keep_last_good
from spectm.config import EvaluationConfig
from spectm.evaluate.protocol import check_labelled
from spectm.evaluate.splits import date_groups
from spectm.model.device import resolve_device, torch_threads
from spectm.model.pretrained import (
    DomainEnvelope,
    embed,
    load_pretrained,
    relative_brightness,
    save_deployable,
)
from spectm.train.finetune import MODES, FullConfig, fit_full, linear_probe, spectra_on_model_grid

ENVELOPE_QUANTILES = (0.005, 0.995)
"""Per-band training quantiles that bound the domain envelope (and the brightness range).
Assumption: the extreme 0.5 % on each side are rare, not out of domain."""

ENVELOPE_TOL_FRACTION = 0.1
"""Per-band tolerance beyond the quantiles, as a fraction of the band's quantile range, ..."""

ENVELOPE_TOL_FLOOR_SR = 0.001
"""... plus this absolute tolerance (sr-1). Assumption: PACE OCI Rrs noise/uncertainty is of
order 1e-3 sr-1, so a band is not outside the envelope by less than the noise."""

ENVELOPE_MAX_OUTSIDE_FRACTION = 0.05
"""A spectrum is flagged ``outside_envelope`` when more than this fraction of its finite grid
bands is outside ``[lo - tol, hi + tol]`` (7 of the 122 ``paper`` bands: one noisy band is not
enough). Chosen on the real matchup dataset (185 spectra, before its 7 near-real-time
duplicates were merged; 5 folds of held-out dates): 1.6 % of held-out spectra outside, 91 % of
the same spectra multiplied by pi."""

BRIGHTNESS_MARGIN = 1.5
"""A spectrum is flagged ``brightness`` when its brightness relative to the training median
spectrum is outside the training range widened by this factor (``lo / 1.5``, ``hi * 1.5``).
Assumption: water brighter or darker than any training water by half again is extrapolation."""


def fit_domain_envelope(spectra_grid: np.ndarray, grid_nm: np.ndarray) -> DomainEnvelope:
    """The envelope of the training spectra on the model grid, stored in the deployable model.

    Per band: the :data:`ENVELOPE_QUANTILES` ``lo``/``hi``, the tolerance
    ``ENVELOPE_TOL_FRACTION * (hi - lo) + ENVELOPE_TOL_FLOOR_SR`` and the median spectrum; and the
    same quantiles of the training brightness (:meth:`DomainEnvelope.brightness`). Flagging
    (:func:`spectm.predict.domain_flags`) uses :data:`ENVELOPE_MAX_OUTSIDE_FRACTION` and
    :data:`BRIGHTNESS_MARGIN`, stored with it.

    Args:
        spectra_grid: Training Rrs (sr-1) on the model grid, shape (n, n_grid); NaN = missing.
        grid_nm: The model grid (nm), shape (n_grid,).

    Returns:
        The envelope.

    Raises:
        ValueError: on a shape mismatch, naming the first grid band without any finite training
            value, or when the median spectrum is not positive on average.

    """
    x = np.asarray(spectra_grid, dtype=float)
    grid = np.asarray(grid_nm, dtype=float)
    if x.ndim != 2 or x.shape[1] != grid.size or x.shape[0] < 1:
        raise ValueError(f"training spectra have shape {x.shape}; expected (n >= 1, {grid.size})")
    empty = ~np.isfinite(x).any(axis=0)
    if empty.any():
        raise ValueError(
            f"training spectra have no finite Rrs at {grid[empty][0]:g} nm "
            f"({int(empty.sum())} empty grid band(s)); cannot fit the domain envelope"
        )
    q_lo, q_hi = ENVELOPE_QUANTILES
    lo, hi = np.nanquantile(x, q_lo, axis=0), np.nanquantile(x, q_hi, axis=0)
    median = np.nanmedian(x, axis=0)
    if not median.mean() > 0:
        raise ValueError(
            f"training spectra: the median spectrum averages {median.mean():.3g} sr-1 over the "
            "grid; expected a positive mean Rrs"
        )
    b = relative_brightness(x, median)
    b = b[np.isfinite(b)]
    return DomainEnvelope(
        lo=lo.tolist(),
        hi=hi.tolist(),
        tol=(ENVELOPE_TOL_FRACTION * (hi - lo) + ENVELOPE_TOL_FLOOR_SR).tolist(),
        median=median.tolist(),
        brightness_range=(float(np.quantile(b, q_lo)), float(np.quantile(b, q_hi))),
        quantiles=(q_lo, q_hi),
        max_outside_fraction=ENVELOPE_MAX_OUTSIDE_FRACTION,
        brightness_margin=BRIGHTNESS_MARGIN,
        n=int(x.shape[0]),
    )


def train_deployable(
    df: pd.DataFrame,
    checkpoint_path: PathLike,
    out_path: PathLike,
    *,
    evaluation: EvaluationConfig,
    mode: str,
    full: FullConfig,
    device: str,
    num_threads: int | None = None,
) -> Path:
    """Fit the microcystin model on every row of one labelled dataset and save it for prediction.

    ``frozen``: ridge on the frozen embeddings, tuned by inner date CV on all rows; the half-width
    comes from the out-of-fold residuals. ``full``: end-to-end fine-tuning on all rows but the
    held-out ``val_fraction`` of dates, which pick the epoch and calibrate the half-width. Both
    store the envelope of all rows' spectra on the model grid (:func:`fit_domain_envelope`).

    Args:
        df: Labelled dataset, one horizon (normally ``current_week``).
        checkpoint_path: Pretrained ``model.pt``.
        out_path: Output ``.pt`` (a ``config.json`` is written in the same folder).
        evaluation: The shared protocol: its first seed (inner folds, validation dates,
            fine-tuning), inner folds and ridge grid (``frozen``, and the probe of ``full``) and
            interval level (intervals at 1 - ``interval_alpha``).
        mode: ``frozen`` or ``full``.
        full: Settings of ``full`` mode (:meth:`FullConfig.for_evaluation`).
        device: Training device.
        num_threads: Torch CPU threads during training (None = unchanged).

    Returns:
        ``out_path``; a copy is kept in ``last-good/`` beside it
        (:func:`spectm._io.keep_last_good`).

    Raises:
        ValueError: on an unknown mode, several horizons, or a malformed dataset.

    """
    alpha, seed = evaluation.interval_alpha, evaluation.seeds[0]
    ridge_grid, inner_splits = evaluation.grid, evaluation.inner_splits
    if mode not in MODES:
        raise ValueError(f"unknown fine-tuning mode {mode!r}; expected one of {MODES}")
    check_labelled(df)
    horizons = sorted(df["horizon"].unique())
    if len(horizons) != 1:
        raise ValueError(f"a deployable model needs one horizon, the dataset has {horizons}")
    y = df["log10_microcystin"].to_numpy(dtype=float)
    dates = date_groups(df["time_utc"])
    with torch_threads(num_threads):
        dev = resolve_device(device)
        model, meta = load_pretrained(checkpoint_path, device=dev)
        x = spectra_on_model_grid(df, meta)
        envelope = fit_domain_envelope(x, meta.grid_nm)
        if mode == "frozen":
            z = embed(model, meta, x).astype(float)
            w, b, c = linear_probe(
                z, y, dates, grid=ridge_grid, inner_splits=inner_splits, seed=seed, alpha=alpha
            )
            state, q = model.state_dict(), c.halfwidth
            fit_info: dict[str, Any] = {"inner_folds": len(c.inner_splits)}
            fit_info.update({f"ridge_{k}": v for k, v in c.best_params.items()})
        else:
            cfg = full
            fit = fit_full(model, meta, x, y, dates, cfg=cfg, seed=seed, alpha=alpha, device=dev)
            w, b = fit.folded_head()
            state, q = fit.regressor.encoder.state_dict(), fit.halfwidth
            fit_info = {"n_fit": fit.n_fit, "n_val": fit.n_val, "best_epoch": fit.best_epoch}
            fit_info.update(epochs_run=len(fit.history) - 1, **asdict(cfg))
    t = pd.to_datetime(df["time_utc"], utc=True)
    info = {
        "mode": mode,
        "method": f"spectm_{meta.mask_strategy}_{mode}",
        "horizon": horizons[0],
        "checkpoint": str(checkpoint_path),
        "seed": seed,
        "fit": fit_info,
        "training": {
            "n": len(df),
            "n_dates": int(np.unique(dates).size),
            "datasets": sorted(str(d) for d in df["dataset"].unique()),
            "date_min": t.min().strftime("%Y-%m-%d"),
            "date_max": t.max().strftime("%Y-%m-%d"),
            "log10_microcystin_range": [float(y.min()), float(y.max())],
        },
        "spectm_version": spectm.__version__,
        "torch_version": str(torch.__version__),
        "created_utc": pd.Timestamp.now(tz="UTC").isoformat(),
    }
    path = save_deployable(
        out_path,
        model_state=state,
        meta=meta,
        head_weight=w,
        head_bias=b,
        halfwidth_log10=q,
        alpha=alpha,
        info=info,
        envelope=envelope,
    )
    keep_last_good(path)  # survives a failed rerun: Snakemake deletes out_path first
    return path
