"""The channel-adaptation experiment: scene split, one (task, method, seed) run, summary tables.

One run (:func:`run_adapt`, or :func:`run_to_json` from chip files to a JSON row):

1. the chips are split by scene (``product``) into train / validation / test with
   ``split_seed`` (:func:`split_scenes`; whole scenes on one side, the same split for every
   method and seed; at least 3 scenes);
2. with torch seeded by ``seed``, the model is built: projection (``naive|srf|learned``) ->
   TerraMind (:mod:`spectm.adapt.terramind`, weights ``pretrained`` or ``random``) or band
   standardisation -> full-HSI CNN (``full_hsi``, weights ``n/a``), then the task head;
3. it is trained on the train scenes with early stopping on the validation scenes
   (:func:`spectm.adapt.fit.fit_model`) and scored on the test scenes: mIoU over the classes
   present (segmentation) or R² of the per-chip mean target (regression; the target is
   standardised with the training chips' mean and std for training, scored in its own unit).

The result row (:data:`ROW_KEYS`) is written as JSON (:func:`write_row`); :func:`write_summary`
gathers rows into ``summary.csv`` (one row per task x method x seed) and a table of mean ± sd
over seeds per task x method; :func:`write_coverage` writes the per-band EnMAP -> S2 coverage.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from spectm._io import PathLike, write_csv, write_json
from spectm.adapt.chips import EnmapChips, read_enmap_chips
from spectm.adapt.fit import TaskData, fit_model, predict
from spectm.adapt.fullhsi import BandStandardise, FullHSIEncoder, band_statistics
from spectm.adapt.heads import AdaptModel, make_head
from spectm.adapt.metrics import confusion_matrix, mean_iou, r2
from spectm.adapt.projection import build_projection, coverage_table
from spectm.adapt.settings import METHODS, TASKS, AdaptConfig
from spectm.adapt.terramind import build_terramind
from spectm.model.device import resolve_device, torch_threads

logger = logging.getLogger(__name__)

FULL_HSI_BACKBONE = "spectm_fullhsi_cnn"
"""``backbone`` of ``full_hsi`` rows."""

METRICS = {"segmentation": "miou", "regression": "r2"}
"""Test metric of each task."""

ROW_KEYS: tuple[str, ...] = (
    "task",
    "method",
    "seed",
    "weights",
    "backbone",
    "metric",
    "value",
    "epochs_run",
    "best_epoch",
    "best_val_loss",
    "n_train",
    "n_val",
    "n_test",
    "train_scenes",
    "val_scenes",
    "test_scenes",
    "n_bands",
    "chip_size",
    "data_kind",
    "wall_s",
    "device",
)
"""Keys of a result row (scenes are space-separated; ``data_kind`` is ``demo`` or ``real``)."""

SPLITS = ("train", "val", "test")


def split_scenes(
    scenes: Sequence[str] | np.ndarray, *, seed: int, val_fraction: float, test_fraction: float
) -> dict[str, tuple[str, ...]]:
    """Assign whole scenes to train / val / test.

    About ``test_fraction`` and ``val_fraction`` of the scenes (rounded, at least one each) go to
    test and validation, the rest (at least one) to training, in a seeded random order.

    Args:
        scenes: Scene of every chip (repeats allowed).
        seed: Seed of the assignment.
        val_fraction: Fraction of scenes for validation.
        test_fraction: Fraction of scenes for testing.

    Returns:
        ``{"train": scenes, "val": scenes, "test": scenes}``, each sorted and disjoint.

    Raises:
        ValueError: with fewer than 3 distinct scenes.

    """
    unique = sorted({str(s) for s in scenes})
    n = len(unique)
    if n < 3:
        raise ValueError(
            f"the scene split needs at least 3 scenes (one each for train, validation and test) "
            f"so that no scene is on two sides; the chips come from {n}: {unique}"
        )
    n_test = min(n - 2, max(1, round(test_fraction * n)))
    n_val = min(n - 1 - n_test, max(1, round(val_fraction * n)))
    order = [unique[i] for i in np.random.default_rng([seed, 2603]).permutation(n)]
    return {
        "test": tuple(sorted(order[:n_test])),
        "val": tuple(sorted(order[n_test : n_test + n_val])),
        "train": tuple(sorted(order[n_test + n_val :])),
    }


def _task_data(chips: EnmapChips, task: str, y_mean: float, y_std: float) -> TaskData:
    x = torch.from_numpy(np.ascontiguousarray(chips.reflectance))  # (n, C, H, W)
    if task == "segmentation":
        return TaskData(x, torch.from_numpy(chips.label))  # (n, H, W)
    y = (chips.target - y_mean) / y_std  # (n,)
    return TaskData(x, torch.as_tensor(y, dtype=torch.float32))


def build_model(
    method: str,
    task: str,
    train: EnmapChips,
    cfg: AdaptConfig,
    *,
    n_classes: int,
    cache_dir: PathLike | None = None,
) -> tuple[AdaptModel, str, str]:
    """The model of a method and task (random parts drawn from torch's current RNG).

    Args:
        method: One of :data:`~spectm.adapt.settings.METHODS`.
        task: One of :data:`~spectm.adapt.settings.TASKS`.
        train: Training chips (band set, chip size; band statistics for ``full_hsi``).
        cfg: Settings.
        n_classes: Classes of the segmentation head.
        cache_dir: Hugging Face hub cache to look for TerraMind weights in (None = default).

    Returns:
        The model (on the CPU), ``weights`` (``pretrained|random|n/a``) and ``backbone``.

    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {list(METHODS)}")
    h, w = train.reflectance.shape[2:]
    if h != w:
        raise ValueError(f"chips must be square, got {h}x{w}")
    encoder: nn.Module
    inputs: nn.Module
    if method == "full_hsi":
        inputs = BandStandardise(*band_statistics(train.reflectance))
        encoder, weights, backbone = (
            FullHSIEncoder(train.wavelength_nm.size),
            "n/a",
            FULL_HSI_BACKBONE,
        )
    else:
        inputs = build_projection(
            method,
            train.wavelength_nm,
            train.fwhm_nm,
            target=cfg.srf_target,
            version=cfg.srf_version,
            min_coverage=cfg.min_coverage,
        )
        encoder, weights = build_terramind(
            cfg.backbone, img_size=int(h), weights_path=cfg.weights_path, cache_dir=cache_dir
        )
        backbone = cfg.backbone
    head = make_head(
        task,
        encoder,
        n_classes=n_classes,
        decoder_channels=cfg.decoder_channels,
        head_hidden=cfg.head_hidden,
    )
    return AdaptModel(inputs, encoder, head), weights, backbone


def _score(task: str, truth: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    if task == "segmentation":
        return mean_iou(confusion_matrix(truth, pred, n_classes))
    return r2(truth, pred)


def _nan_to_none(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def run_adapt(
    chips: EnmapChips,
    *,
    task: str,
    method: str,
    seed: int,
    cfg: AdaptConfig,
    cache_dir: PathLike | None = None,
) -> dict[str, Any]:
    """Train and test one (task, method, seed).

    Args:
        chips: Every chip of the experiment.
        task: ``segmentation`` or ``regression``.
        method: ``naive``, ``srf``, ``learned`` or ``full_hsi``.
        seed: Seeds torch (model initialisation) and the batch order.
        cfg: Settings.
        cache_dir: Hugging Face hub cache for TerraMind weights (None = default).

    Returns:
        The result row (keys :data:`ROW_KEYS`; a NaN metric, e.g. R² of one test chip, is None).

    Raises:
        ValueError: for an unknown task or method, fewer than 3 scenes, or a split without
            usable chips (regression: chips without a finite target at a valid pixel are left
            out; segmentation: train, validation or test scenes without a labelled pixel).

    """
    t0 = time.perf_counter()
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {list(TASKS)}")
    device = resolve_device(cfg.device)
    if task == "regression":
        keep = np.flatnonzero(np.isfinite(chips.target))
        if not keep.size:
            raise ValueError("regression needs chips with a 'target' finite at a valid pixel")
        if keep.size < len(chips):
            logger.warning("%d chips without a valid target pixel left out", len(chips) - keep.size)
        chips = chips.subset(keep)
    split = split_scenes(
        chips.scene,
        seed=cfg.split_seed,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
    )
    parts = {k: chips.subset(np.flatnonzero(np.isin(chips.scene, split[k]))) for k in SPLITS}
    n_classes = chips.n_classes
    if task == "segmentation":
        if chips.label.max() >= n_classes:
            raise ValueError(f"labels reach {chips.label.max()} but there are {n_classes} classes")
        for k in SPLITS:
            if not (parts[k].label >= 0).any():
                raise ValueError(f"no labelled valid pixel in the {k} scenes {split[k]}")
    y_mean = float(parts["train"].target.mean()) if task == "regression" else 0.0
    y_std = float(parts["train"].target.std()) if task == "regression" else 1.0
    y_std = y_std if y_std > 0 else 1.0
    with torch_threads(cfg.num_threads):
        torch.manual_seed(seed)
        random.seed(seed)
        model, weights, backbone = build_model(
            method, task, parts["train"], cfg, n_classes=n_classes, cache_dir=cache_dir
        )
        model.to(device)
        data = {k: _task_data(parts[k], task, y_mean, y_std) for k in SPLITS}
        fit = fit_model(
            model,
            task,
            data["train"],
            data["val"],
            epochs=cfg.epochs,
            patience=cfg.patience,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            seed=seed,
            device=device,
        )
        pred = predict(model, task, data["test"].x, batch_size=cfg.batch_size, device=device)
    test = parts["test"]
    if task == "segmentation":
        value = _score(task, test.label, pred, n_classes)
    else:
        value = _score(task, test.target, pred * y_std + y_mean, n_classes)
    row = {
        "task": task,
        "method": method,
        "seed": int(seed),
        "weights": weights,
        "backbone": backbone,
        "metric": METRICS[task],
        "value": float(value),
        "epochs_run": fit.epochs_run,
        "best_epoch": fit.best_epoch,
        "best_val_loss": float(fit.best_val_loss),
        "n_train": len(parts["train"]),
        "n_val": len(parts["val"]),
        "n_test": len(test),
        "train_scenes": " ".join(split["train"]),
        "val_scenes": " ".join(split["val"]),
        "test_scenes": " ".join(split["test"]),
        "n_bands": int(chips.wavelength_nm.size),
        "chip_size": int(chips.reflectance.shape[-1]),
        "data_kind": "demo" if chips.demo else "real",
        "wall_s": round(time.perf_counter() - t0, 3),
        "device": str(device),
    }
    return {k: _nan_to_none(v) for k, v in row.items()}


def write_row(row: dict[str, Any], path: PathLike) -> Path:
    """Write one run's row as JSON (atomic)."""
    missing = [k for k in ROW_KEYS if k not in row]
    if missing:
        raise ValueError(f"result row lacks {missing}")
    return write_json({k: _nan_to_none(row[k]) for k in ROW_KEYS}, path)


def run_to_json(
    chip_paths: Sequence[PathLike],
    out_paths: Sequence[PathLike],
    *,
    task: str,
    method: str,
    seeds: Sequence[int],
    cfg: AdaptConfig,
) -> list[dict[str, Any]]:
    """Read the chips once, run (task, method) for each seed and write one JSON row per seed.

    Args:
        chip_paths: EnMAP chip files (every scene of the experiment).
        out_paths: One JSON file per seed, in the order of ``seeds``.
        task: ``segmentation`` or ``regression``.
        method: ``naive``, ``srf``, ``learned`` or ``full_hsi``.
        seeds: Seeds of the runs.
        cfg: Settings.

    Returns:
        The rows written.

    """
    if len(out_paths) != len(seeds):
        raise ValueError(f"{len(out_paths)} output files for {len(seeds)} seeds")
    chips = read_enmap_chips(chip_paths)
    rows = []
    for seed, out in zip(seeds, out_paths, strict=True):
        row = run_adapt(chips, task=task, method=method, seed=int(seed), cfg=cfg)
        write_row(row, out)
        logger.info(
            "%s %s seed %d: %s = %s (%s)",
            task,
            method,
            seed,
            row["metric"],
            row["value"],
            row["weights"],
        )
        rows.append(row)
    return rows


def read_rows(paths: Sequence[PathLike]) -> pd.DataFrame:
    """Gather JSON rows into one table (one row per task x method x seed, sorted).

    Raises:
        ValueError: when a row lacks a key or a (task, method, seed) occurs twice.

    """
    rows = []
    for p in paths:
        row = json.loads(Path(p).read_text())
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise ValueError(f"{p}: result row lacks {missing}")
        rows.append({k: row[k] for k in ROW_KEYS})
    df = pd.DataFrame(rows, columns=list(ROW_KEYS))
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    dup = df.duplicated(["task", "method", "seed"], keep=False)
    if dup.any():
        twice = df.loc[dup, ["task", "method", "seed"]].drop_duplicates().to_dict("records")
        raise ValueError(f"duplicate result rows for {twice}")
    return _sorted(df).reset_index(drop=True)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    rank = {
        "task": {t: i for i, t in enumerate(TASKS)},
        "method": {m: i for i, m in enumerate(METHODS)},
    }
    return df.sort_values(
        [c for c in ("task", "method", "seed") if c in df.columns],
        key=lambda s: s.map(rank[str(s.name)]) if s.name in rank else s,
    )


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd of the test metric over seeds per task x method (and backbone, weights).

    Args:
        rows: Result rows (:func:`read_rows`).

    Returns:
        One row per group: ``task, method, backbone, weights, metric, n_seeds`` (runs),
        ``n_finite`` (runs with a finite metric), ``mean``, ``sd`` (sample sd, ddof 1, over the
        finite values; NaN for fewer than 2) and ``mean_sd`` (text, 3 decimals).

    """
    keys = ["task", "method", "backbone", "weights", "metric"]
    out = []
    for group, g in rows.groupby(keys, sort=False):
        v = g["value"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        mean = float(v.mean()) if v.size else math.nan
        sd = float(v.std(ddof=1)) if v.size >= 2 else math.nan
        text = "nan" if not v.size else f"{mean:.3f} ± {sd:.3f}" if v.size >= 2 else f"{mean:.3f}"
        out.append(
            dict(zip(keys, group, strict=True))
            | {"n_seeds": len(g), "n_finite": int(v.size), "mean": mean, "sd": sd, "mean_sd": text}
        )
    cols = [*keys, "n_seeds", "n_finite", "mean", "sd", "mean_sd"]
    return _sorted(pd.DataFrame(out, columns=cols)).reset_index(drop=True)


def write_summary(
    row_paths: Sequence[PathLike], summary_path: PathLike, table_path: PathLike
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``summary.csv`` (every row) and the mean ± sd table (both atomic CSV).

    A missing number is an empty cell; ``weights`` of ``full_hsi`` is the text ``n/a``, which
    pandas reads as missing by default: read back with
    ``pd.read_csv(path, keep_default_na=False, na_values=[""])``.

    Returns:
        The rows and the table.

    """
    rows = read_rows(row_paths)
    table = summarise(rows)
    write_csv(rows, summary_path)
    write_csv(table, table_path)
    return rows, table


def write_coverage(
    chip_paths: Sequence[PathLike], out_path: PathLike, *, cfg: AdaptConfig
) -> pd.DataFrame:
    """Write the per-band EnMAP -> S2L2A coverage table of the chips' band set (CSV).

    Returns:
        The table (:func:`spectm.adapt.projection.coverage_table`).

    """
    chips = read_enmap_chips(chip_paths)
    table = coverage_table(
        chips.wavelength_nm,
        chips.fwhm_nm,
        target=cfg.srf_target,
        version=cfg.srf_version,
        min_coverage=cfg.min_coverage,
    )
    write_csv(table, out_path)
    return table
