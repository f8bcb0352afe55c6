"""The deployable microcystin model: SpecTM fine-tuned on every labelled row, with intervals."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import spectm
from spectm._io import PathLike
from spectm.config import EvaluationConfig
from spectm.evaluate.protocol import check_labelled
from spectm.evaluate.splits import date_groups
from spectm.model.device import resolve_device, torch_threads
from spectm.model.pretrained import embed, load_pretrained, save_deployable
from spectm.train.finetune import MODES, FullConfig, fit_full, linear_probe, spectra_on_model_grid


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
    held-out ``val_fraction`` of dates, which pick the epoch and calibrate the half-width.

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
        ``out_path``.

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
    return save_deployable(
        out_path,
        model_state=state,
        meta=meta,
        head_weight=w,
        head_bias=b,
        halfwidth_log10=q,
        alpha=alpha,
        info=info,
    )
