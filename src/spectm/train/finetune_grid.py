"""SpecTM fine-tuning evaluated over the outer cells of the shared protocol.

Per (dataset, horizon), for each protocol, seed, fold and label fraction exactly the cells of the
baselines (:func:`spectm.evaluate.protocol.evaluation_cells`): ``frozen`` (ridge on frozen
pooled embeddings) in every cell, ``full`` (end-to-end fine-tuning) in the cells of
``full_fractions``. Method names ``spectm_<mask strategy>_<mode>``, feature set
``spectm_<grid>``, ``pretrain_seed`` the encoder's pretraining seed; predictions follow
:data:`spectm.evaluate.protocol.PREDICTION_COLUMNS`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spectm._io import PathLike
from spectm.config import EvaluationConfig
from spectm.evaluate.baselines import fit_cell
from spectm.evaluate.features import build_features
from spectm.evaluate.protocol import (
    check_fractions,
    concat_predictions,
    evaluation_cells,
    labelled_groups,
    prediction_frame,
)
from spectm.model.device import resolve_device, torch_threads
from spectm.model.encoder import SpecTM
from spectm.model.pretrained import ModelMeta, embed, load_pretrained
from spectm.train.finetune import MODES, FullConfig, fit_full, spectra_on_model_grid

logger = logging.getLogger(__name__)


def _frozen_cell(
    z: np.ndarray, y: np.ndarray, dates: np.ndarray, tr: np.ndarray, te: np.ndarray, **kw: Any
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Ridge on frozen probe features z (n, k): test predictions, half-width, config."""
    c = fit_cell(z[tr], y[tr], dates[tr], algorithm="ridge", **kw)
    conf = {"mode": "frozen", "inner_folds": len(c.inner_splits), **c.best_params}
    return c.predict(z[te]), c.halfwidth, conf


PROBE_INPUTS = ("embedding", "embedding+indices")
"""Inputs of the ``frozen`` probe."""


def probe_features(
    model: SpecTM,
    meta: ModelMeta,
    spectra: np.ndarray,
    table: pd.DataFrame,
    pooling: str,
    probe_inputs: str,
) -> tuple[np.ndarray, list[str]]:
    """The ``frozen`` probe's features: pooled embeddings, optionally with bio-optical indices.

    Args:
        model: Pretrained SpecTM.
        meta: Its metadata.
        spectra: Rrs (sr-1) on the model grid, shape (n, n_grid).
        table: The labelled rows (``Rrs_<nm>`` at sensor wavelengths) for the indices.
        pooling: :data:`~spectm.model.encoder.POOLINGS`.
        probe_inputs: One of :data:`PROBE_INPUTS`.

    Returns:
        Features (n, k) and their names.

    Raises:
        ValueError: on unknown ``probe_inputs`` or ``pooling``.

    """
    if probe_inputs not in PROBE_INPUTS:
        raise ValueError(f"unknown probe_inputs {probe_inputs!r}; expected one of {PROBE_INPUTS}")
    z = embed(model, meta, spectra, pooling=pooling).astype(float)  # (n, d)
    names = [f"spectm_emb_{i}" for i in range(z.shape[1])]
    if probe_inputs == "embedding+indices":
        idx, idx_names = build_features(table, "indices")
        z, names = np.hstack([z, idx]), names + idx_names
    return z, names


def _full_cell(
    x: np.ndarray, y: np.ndarray, dates: np.ndarray, tr: np.ndarray, te: np.ndarray, **kw: Any
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """End-to-end fine-tuning on x (n, n_grid): test predictions, half-width, config."""
    model, meta = kw["model"], kw["meta"]
    rest = {k: v for k, v in kw.items() if k not in ("model", "meta")}
    fit = fit_full(model, meta, x[tr], y[tr], dates[tr], **rest)
    conf = {"mode": "full", "n_fit": fit.n_fit, "n_val": fit.n_val, "best_epoch": fit.best_epoch}
    conf.update(epochs_run=len(fit.history) - 1, **asdict(kw["cfg"]))
    return fit.predict(x[te]), fit.halfwidth, conf


def run_finetune_grid(
    df: pd.DataFrame,
    checkpoint_path: PathLike,
    *,
    evaluation: EvaluationConfig,
    fractions: Sequence[float],
    modes: Sequence[str],
    full_fractions: Sequence[float],
    full: FullConfig,
    device: str,
    pooling: str,
    probe_inputs: str,
    num_threads: int | None = None,
    method_prefix: str | None = None,
) -> pd.DataFrame:
    """Test-fold predictions of SpecTM fine-tuned per outer cell (same splits as the baselines).

    Args:
        df: Labelled dataset (``row_id``, ``dataset``, ``horizon``, ``time_utc``,
            ``log10_microcystin``, ``Rrs_<nm>`` sr-1 at any wavelengths covering the model grid,
            optional ``dt_hours``). Split per dataset x horizon, rows in table order.
        checkpoint_path: Pretrained ``model.pt``.
        evaluation: The shared protocol: seeds (outer split, subsample, inner folds,
            fine-tuning), outer folds, inner folds and ridge grid of ``frozen``, interval level.
        fractions: Label fractions of the outer training part, each in (0, 1].
        modes: ``frozen`` and/or ``full``.
        full_fractions: Fractions run in ``full`` mode (a subset of ``fractions``).
        full: Settings of ``full`` mode (:meth:`FullConfig.for_evaluation`).
        device: ``auto``, ``cpu``, ``cuda``, ``mps``.
        pooling: Pooled embedding of the ``frozen`` probe (:data:`~spectm.model.encoder.POOLINGS`;
            ``full`` mode trains its head on the CLS state).
        probe_inputs: ``embedding`` or ``embedding+indices`` (the bio-optical indices of the
            baselines' ``indices`` feature set beside the embedding) for the ``frozen`` probe.
        num_threads: Torch CPU threads during the run (None = unchanged).
        method_prefix: Method name prefix; default ``spectm_<mask strategy>``.

    Returns:
        Predictions (:data:`~spectm.evaluate.protocol.PREDICTION_COLUMNS`), one row per test
        prediction; ``attrs`` holds wall times (s) and the number of ``full`` fits.

    Raises:
        ValueError: on unknown modes, bad fractions, or a malformed dataset.

    """
    bad_modes = [m for m in modes if m not in MODES]
    if bad_modes or not modes:
        raise ValueError(f"unknown fine-tuning mode(s) {list(modes)}; expected some of {MODES}")
    seeds, n_splits, alpha = evaluation.seeds, evaluation.n_splits, evaluation.interval_alpha
    ridge_grid, inner_splits = evaluation.grid, evaluation.inner_splits
    check_fractions([*fractions, *full_fractions])
    full_set = list(full_fractions)
    stray = [f for f in full_set if not np.isclose(f, list(fractions)).any()]
    if stray:
        raise ValueError(f"full_fractions {stray} are not among fractions {list(fractions)}")
    groups = labelled_groups(df)
    cfg = full
    frames: list[pd.DataFrame] = []
    wall = {"embed": 0.0, "frozen": 0.0, "full": 0.0}
    n_full = 0
    with torch_threads(num_threads):
        dev = resolve_device(device)
        model, meta = load_pretrained(checkpoint_path, device=dev)
        x_all = spectra_on_model_grid(df, meta)
        prefix = method_prefix or f"spectm_{meta.mask_strategy}"
        pretrain_seed = int(meta.pretrain_config["seed"])
        feature_set = f"spectm_{meta.grid}"
        for group in groups:
            x, y, dates = x_all[group.index], group.y, group.dates
            t0 = time.perf_counter()
            z = None
            if "frozen" in modes:
                z, z_names = probe_features(model, meta, x, group.table, pooling, probe_inputs)
            wall["embed"] += time.perf_counter() - t0
            cells = evaluation_cells(
                dates,
                seeds=seeds,
                fractions=fractions,
                n_splits=n_splits,
                protocols=evaluation.protocols,
            )
            for cell in cells:
                jobs: list[tuple[str, Any, np.ndarray, dict[str, Any]]] = []
                if z is not None:
                    kw = dict(
                        grid=ridge_grid,
                        inner_splits=inner_splits,
                        seed=cell.seed,
                        alpha=alpha,
                        feature_names=z_names,
                    )
                    jobs.append(("frozen", _frozen_cell, z, kw))
                if "full" in modes and np.isclose(cell.fraction, full_set).any():
                    kw = dict(
                        model=model, meta=meta, cfg=cfg, seed=cell.seed, alpha=alpha, device=dev
                    )
                    jobs.append(("full", _full_cell, x, kw))
                for mode, run, inputs, kw in jobs:
                    t0 = time.perf_counter()
                    pred, q, conf = run(inputs, y, dates, cell.train, cell.test, **kw)
                    wall[mode] += time.perf_counter() - t0
                    n_full += mode == "full"
                    conf.update(n_train=int(cell.train.size), checkpoint=Path(checkpoint_path).name)
                    if mode == "frozen":
                        conf.update(pooling=pooling, probe_inputs=probe_inputs)
                    frames.append(
                        prediction_frame(
                            group,
                            cell,
                            pred,
                            q,
                            method=f"{prefix}_{mode}",
                            feature_set=feature_set,
                            config=conf,
                            pretrain_seed=pretrain_seed,
                        )
                    )
            logger.info("fine-tuned %s: wall seconds %s", group.key, wall)
    out = concat_predictions(frames)
    out.attrs = {
        "wall_seconds": {k: round(v, 2) for k, v in wall.items()},
        "n_full_fits": n_full,
        "device": str(dev),
    }
    return out
