"""Fine-tune a pretrained SpecTM for microcystin (log10 ug/L), and train the deployable model.

Modes:
    ``frozen``: pooled embeddings of every spectrum are computed once (eval mode, no gradients).
        Each outer cell then runs the baselines' ridge protocol on them
        (:func:`spectm.evaluate.baselines.fit_cell`, algorithm ``ridge``: StandardScaler -> Ridge,
        alpha chosen by inner CV over ``GroupKFold`` on the training part's sampling dates, and the
        CV-residual split-conformal half-width from that search's out-of-fold predictions).
    ``full``: the encoder and a linear head on the pooled embedding are trained end to end
        (AdamW, separate encoder and head learning rates, target standardised on the fit rows,
        bf16 autocast on CUDA only, seeded). About ``val_fraction`` of the training part's
        sampling dates are held out: they pick the epoch (early stopping, best weights kept) and
        calibrate the split-conformal half-width from their residuals. The final model is the
        one trained without them (it is not refitted on all rows). The head starts from the
        ``frozen`` ridge fitted on the other dates (linear probe, then fine-tune: LP-FT), or from
        zeros; epoch 0 (no update) competes in early stopping.

No band is masked at fine-tuning or prediction: the encoder sees every band of the spectrum
(including the diagnostic windows a ``targeted`` encoder never saw during pretraining); bands that
are NaN on the model grid become mask tokens.

Outer protocol identical to the baselines: per (dataset, horizon), for each seed,
``date_grouped_splits(date_groups(time_utc), n_splits, seed)``, and the training part subsampled
with ``subsample_fraction(train_idx, fraction, seed)``. Method names ``spectm_<mask
strategy>_<mode>``, feature set ``spectm_<grid>``; predictions follow
:data:`spectm.evaluate.baselines.PREDICTION_COLUMNS`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.nn import functional as F

import spectm
from spectm._io import write_csv, write_parquet
from spectm.evaluate.baselines import PREDICTION_COLUMNS, CellFit, check_labelled, fit_cell
from spectm.evaluate.conformal import conformal_halfwidth
from spectm.evaluate.splits import date_grouped_splits, date_groups, subsample_fraction
from spectm.model.encoder import SpecTM
from spectm.predict import resample_to_grid, save_deployable
from spectm.tables import find_rrs_columns
from spectm.train.checkpoint import embed, load_pretrained
from spectm.train.device import resolve_device

logger = logging.getLogger(__name__)

MODES = ("frozen", "full")
_PRETRAIN_HEADS = ("rec_head.", "idx_head.", "temp_head.")

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FullConfig:
    """End-to-end fine-tuning settings.

    Attributes:
        epochs: Upper bound on epochs.
        encoder_lr: AdamW learning rate of the encoder.
        head_lr: AdamW learning rate of the linear head.
        weight_decay: AdamW weight decay.
        batch_size: Spectra per step.
        patience: Epochs without validation improvement before stopping.
        val_fraction: Fraction of the training part's sampling dates held out for early stopping
            and conformal calibration (at least one date when there are two or more).
        grad_clip: Max global gradient norm (None = no clipping).
        probe_init: Start the head from a linear probe instead of zeros (LP-FT, Kumar et al.
            2022, ICLR): the ``frozen`` ridge protocol run on the fit rows' pretrained pooled
            embeddings, folded into the head. Epoch 0 (the probe itself) competes in early
            stopping, so the kept model is never worse than the probe on the validation dates.
        ridge_grid: Ridge alpha grid of the probe (``demo`` or ``full``, see the baselines).
        inner_splits: Inner date folds of the probe's ridge tuning.

    """

    epochs: int = 60
    encoder_lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 32
    patience: int = 10
    val_fraction: float = 0.2
    grad_clip: float | None = 1.0
    probe_init: bool = True
    ridge_grid: str = "full"
    inner_splits: int = 5

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "patience"):
            if getattr(self, key) < 1:
                raise ValueError(f"fine-tune config: {key} must be >= 1, got {getattr(self, key)}")
        for key in ("encoder_lr", "head_lr"):
            if not getattr(self, key) > 0:
                raise ValueError(f"fine-tune config: {key} must be > 0, got {getattr(self, key)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(
                f"fine-tune config: val_fraction must be in [0, 1), got {self.val_fraction}"
            )


def spectra_on_model_grid(
    df: pd.DataFrame, meta: dict[str, Any], *, what: str = "labelled dataset"
) -> np.ndarray:
    """Rrs of a table resampled (linear) onto the model grid ``meta['wavelengths_nm']``.

    Returns:
        Rrs (sr-1), shape (n_rows, n_grid); NaN bands stay NaN (mask tokens downstream).

    Raises:
        ValueError: when the table does not cover the grid or a row has no finite band on it.

    """
    cols, wl = find_rrs_columns(df)
    x = resample_to_grid(df[cols].to_numpy(dtype=float), wl, meta["wavelengths_nm"], what=what)
    empty = ~np.isfinite(x).any(axis=1)
    if empty.any():
        rid = df["row_id"].iloc[int(np.argmax(empty))] if "row_id" in df else int(np.argmax(empty))
        raise ValueError(f"{what}: row_id {rid!r} has no finite Rrs on the model grid")
    return x


def _inputs(meta: dict[str, Any], spectra: np.ndarray, device: torch.device) -> tuple[Tensor, ...]:
    """Normalised spectra (n, n_grid), mask (n, n_grid; True = NaN) and wavelengths (n_grid,)."""
    x = np.asarray(spectra, dtype=float)
    mask = ~np.isfinite(x)
    z = (x - np.asarray(meta["norm_mean"])) / np.asarray(meta["norm_std"])  # (n, n_grid)
    return (
        torch.as_tensor(np.nan_to_num(z), dtype=torch.float32, device=device),
        torch.as_tensor(mask, device=device),
        torch.tensor(meta["wavelengths_nm"], dtype=torch.float32, device=device),
    )


def _autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Regressor(nn.Module):
    """SpecTM encoder + a linear head on the pooled embedding (standardised log10 target)."""

    def __init__(self, encoder: SpecTM) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.cfg.d_model, 1)
        nn.init.zeros_(self.head.weight)  # start from the mean of the target
        nn.init.zeros_(self.head.bias)

    def encoder_parameters(self) -> Iterator[nn.Parameter]:
        """Encoder parameters (the unused pretraining heads left out)."""
        for name, p in self.encoder.named_parameters():
            if not name.startswith(_PRETRAIN_HEADS):
                yield p

    def forward(self, x: Tensor, wavelengths: Tensor, mask: Tensor) -> Tensor:
        """Normalised spectra (B, N), wavelengths (N,), mask (B, N) -> prediction (B,)."""
        pooled, _ = self.encoder.encode(x, wavelengths, mask)  # (B, d)
        return self.head(pooled).squeeze(-1)  # (B,)


def inner_validation_split(
    dates: np.ndarray, *, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out about ``val_fraction`` of the sampling dates (at least 1, never all).

    Returns:
        Fit and validation row indices; validation is empty with fewer than 2 dates.

    """
    unique = np.unique(dates)
    if unique.size < 2 or val_fraction <= 0:
        return np.arange(len(dates)), np.empty(0, dtype=int)
    n_val = min(unique.size - 1, max(1, round(val_fraction * unique.size)))
    val_dates = np.random.default_rng([seed, 11]).permutation(unique)[:n_val]
    val = np.isin(dates, val_dates)
    return np.flatnonzero(~val), np.flatnonzero(val)


@dataclass
class FullFit:
    """One end-to-end fine-tuned regressor.

    Attributes:
        regressor: Encoder + head (eval mode, best-validation weights).
        meta: Pretrained meta (grid, normalisation).
        y_mean: Target mean of the fit rows (log10 ug/L).
        y_std: Target standard deviation of the fit rows (log10 ug/L).
        halfwidth: Split-conformal half-width from the validation residuals (log10; inf if none).
        history: Per epoch: ``epoch`` (0 = initial head, before any update), ``train_mse``
            (epoch 0: on the fit rows; then the mean over the epoch's batches) and ``val_mse``
            (after the epoch), both in standardised target units.
        best_epoch: Epoch whose weights were kept (0 = the initial head; the last without
            validation rows).
        n_fit: Rows trained on.
        n_val: Validation (calibration) rows.

    """

    regressor: Regressor
    meta: dict[str, Any]
    y_mean: float
    y_std: float
    halfwidth: float
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    n_fit: int = 0
    n_val: int = 0

    @torch.no_grad()
    def predict(self, spectra: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
        """log10 microcystin (n,) of Rrs spectra (sr-1) on the model grid, shape (n, n_grid)."""
        device = next(self.regressor.parameters()).device
        x, mask, wl = _inputs(self.meta, spectra, device)
        return _standardised(self.regressor, x, mask, wl, batch_size) * self.y_std + self.y_mean

    def folded_head(self) -> tuple[np.ndarray, float]:
        """Head weights (d_model,) and bias mapping the pooled embedding to log10 ug/L."""
        w = self.regressor.head.weight.detach().cpu().double().numpy()[0] * self.y_std
        b = float(self.regressor.head.bias.detach().cpu()) * self.y_std + self.y_mean
        return w, b


@torch.no_grad()
def _standardised(
    reg: Regressor, x: Tensor, mask: Tensor, wl: Tensor, batch_size: int
) -> np.ndarray:
    reg.eval()
    out = []
    for s in range(0, x.shape[0], batch_size):  # float32: the same numbers as deployment
        out.append(reg(x[s : s + batch_size], wl, mask[s : s + batch_size]).float().cpu())
    return torch.cat(out).double().numpy() if out else np.empty(0)


def linear_probe(
    z: np.ndarray, y: np.ndarray, dates: np.ndarray, **kw: Any
) -> tuple[np.ndarray, float, CellFit]:
    """The ``frozen`` ridge protocol on embeddings z (n, d), folded into one linear map.

    Args:
        z: Pooled embeddings, shape (n, d_model).
        y: Target, shape (n,).
        dates: Sampling-date key per row (inner CV groups), shape (n,).
        **kw: ``grid``, ``inner_splits``, ``seed``, ``alpha`` of
            :func:`spectm.evaluate.baselines.fit_cell`.

    Returns:
        Weights (d,) and intercept with ``z @ w + b`` equal to the tuned
        ``StandardScaler -> Ridge`` prediction, and the fitted cell (half-width, parameters).

    """
    names = [f"spectm_emb_{i}" for i in range(z.shape[1])]
    c = fit_cell(z, y, dates, algorithm="ridge", feature_names=names, **kw)
    scale, ridge = c.model.named_steps["scale"], c.model.named_steps["model"]
    w = np.ravel(ridge.coef_) / scale.scale_
    return w, float(np.ravel(ridge.intercept_)[0] - np.sum(scale.mean_ * w)), c


def fit_full(
    encoder: SpecTM,
    meta: dict[str, Any],
    spectra: np.ndarray,
    y: np.ndarray,
    dates: np.ndarray,
    *,
    cfg: FullConfig,
    seed: int,
    alpha: float,
    device: torch.device,
) -> FullFit:
    """Fine-tune a copy of ``encoder`` + a linear head end to end on one training part.

    Args:
        encoder: Pretrained SpecTM (not modified).
        meta: Its meta (grid, normalisation).
        spectra: Rrs (sr-1) on the model grid, shape (n, n_grid).
        y: log10 microcystin (log10 ug/L), shape (n,).
        dates: Sampling-date key per row, shape (n,).
        cfg: Settings.
        seed: Seeds the validation dates, the batch order and dropout.
        alpha: Conformal miscoverage.
        device: Where to train.

    Returns:
        The fitted :class:`FullFit`.

    """
    fit_idx, val_idx = inner_validation_split(dates, val_fraction=cfg.val_fraction, seed=seed)
    y = np.asarray(y, dtype=float)
    y_mean = float(y[fit_idx].mean())
    y_std = float(y[fit_idx].std()) or 1.0
    torch.manual_seed(seed)  # dropout, when the encoder has any
    reg = Regressor(copy.deepcopy(encoder)).to(device)
    opt = torch.optim.AdamW(
        [
            {"params": list(reg.encoder_parameters()), "lr": cfg.encoder_lr},
            {"params": list(reg.head.parameters()), "lr": cfg.head_lr},
        ],
        weight_decay=cfg.weight_decay,
    )
    x, mask, wl = _inputs(meta, spectra, device)
    yt = torch.as_tensor((y - y_mean) / y_std, dtype=torch.float32, device=device)  # (n,)
    if cfg.probe_init:
        z = embed(encoder, meta, np.asarray(spectra)[fit_idx]).astype(float)  # (n_fit, d)
        ys = (y[fit_idx] - y_mean) / y_std
        kw = dict(grid=cfg.ridge_grid, inner_splits=cfg.inner_splits, seed=seed)
        w, b, _ = linear_probe(z, ys, dates[fit_idx], **kw)
        with torch.no_grad():
            reg.head.weight.copy_(torch.as_tensor(w[None, :], dtype=torch.float32))
            reg.head.bias.fill_(b)
    history: list[dict[str, float]] = []
    best_val, best_epoch, best_state, since = math.inf, 0, None, 0
    for epoch in range(cfg.epochs + 1):  # epoch 0: the initial head, before any update
        if epoch:
            total = 0.0
            reg.train()
            order = np.random.default_rng([seed, epoch]).permutation(fit_idx)
            for s in range(0, order.size, cfg.batch_size):
                rows = torch.as_tensor(order[s : s + cfg.batch_size], device=device)
                with _autocast(device):
                    pred = reg(x[rows], wl, mask[rows])  # (b,)
                loss = F.mse_loss(pred.float(), yt[rows])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip is not None:
                    nn.utils.clip_grad_norm_(reg.parameters(), cfg.grad_clip)
                opt.step()
                total += float(loss.detach()) * rows.numel()
            train_mse = total / fit_idx.size
        else:
            p = _standardised(reg, x[fit_idx], mask[fit_idx], wl, 1024)
            train_mse = float(np.mean((p - yt[fit_idx].cpu().numpy()) ** 2))
        row = {"epoch": float(epoch), "train_mse": train_mse, "val_mse": math.nan}
        if val_idx.size:
            p = _standardised(reg, x[val_idx], mask[val_idx], wl, 1024)
            row["val_mse"] = float(np.mean((p - yt[val_idx].cpu().numpy()) ** 2))
            if row["val_mse"] < best_val:
                best_val, best_epoch, since = row["val_mse"], epoch, 0
                best_state = {k: v.detach().clone() for k, v in reg.state_dict().items()}
            else:
                since += 1
        history.append(row)
        if val_idx.size and since >= cfg.patience:
            break
    if best_state is not None:
        reg.load_state_dict(best_state)
    reg.eval()
    fit = FullFit(
        regressor=reg,
        meta=meta,
        y_mean=y_mean,
        y_std=y_std,
        halfwidth=math.inf,
        history=history,
        best_epoch=best_epoch if val_idx.size else len(history) - 1,
        n_fit=int(fit_idx.size),
        n_val=int(val_idx.size),
    )
    if val_idx.size:
        resid = np.abs(y[val_idx] - fit.predict(np.asarray(spectra)[val_idx]))
        fit.halfwidth = conformal_halfwidth(resid, alpha=alpha)
    return fit


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _frame(
    test: pd.DataFrame, y_true: np.ndarray, pred: np.ndarray, q: float, **cols: Any
) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "dataset": test["dataset"].to_numpy(),
            "method": cols["method"],
            "horizon": test["horizon"].to_numpy(),
            "feature_set": cols["feature_set"],
            "fraction": float(cols["fraction"]),
            "seed": int(cols["seed"]),
            "fold": int(cols["fold"]),
            "row_id": test["row_id"].to_numpy(),
            "date": date_groups(test["time_utc"]),
            "y_true_log10": y_true,
            "y_pred_log10": pred,
            "pi_lo_log10": pred - q,
            "pi_hi_log10": pred + q,
            "abs_dt_hours": (
                test["dt_hours"].abs().to_numpy(dtype=float)
                if "dt_hours" in test
                else np.full(len(test), np.nan)
            ),
            "config": json.dumps(cols["config"], sort_keys=True, default=str),
        }
    )
    if not np.isfinite(pred).all():
        raise FloatingPointError(f"{cols['method']} predicted non-finite values ({cols['config']})")
    return out


def _frozen_cell(
    z: np.ndarray, y: np.ndarray, dates: np.ndarray, tr: np.ndarray, te: np.ndarray, **kw: Any
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Ridge on frozen embeddings z (n, d_model): test predictions, half-width, config."""
    names = [f"spectm_emb_{i}" for i in range(z.shape[1])]
    c = fit_cell(z[tr], y[tr], dates[tr], algorithm="ridge", feature_names=names, **kw)
    conf = {"mode": "frozen", "inner_folds": len(c.inner_splits), **c.best_params}
    return np.ravel(c.model.predict(z[te])), c.halfwidth, conf


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


def _outer_cells(
    dates: np.ndarray, seeds: Sequence[int], fractions: Sequence[float], n_splits: int
) -> Iterator[tuple[int, int, float, np.ndarray, np.ndarray]]:
    """(seed, fold, fraction, train rows, test rows) exactly as the baselines draw them."""
    for seed in map(int, seeds):
        splits = date_grouped_splits(dates, n_splits=n_splits, seed=seed)
        for fold, (train_idx, test_idx) in enumerate(splits):
            for fraction in fractions:
                tr = subsample_fraction(train_idx, fraction=fraction, seed=seed)
                yield seed, fold, float(fraction), tr, test_idx


def run_finetune_grid(
    df: pd.DataFrame,
    checkpoint_path: PathLike,
    *,
    fractions: Sequence[float],
    seeds: Sequence[int],
    modes: Sequence[str] = MODES,
    n_splits: int = 5,
    inner_splits: int = 5,
    alpha: float = 0.1,
    full_fractions: Sequence[float] | None = None,
    ridge_grid: str = "full",
    full: FullConfig | None = None,
    device: str = "auto",
    num_threads: int | None = None,
    method_prefix: str | None = None,
) -> pd.DataFrame:
    """Test-fold predictions of SpecTM fine-tuned per outer cell (same splits as the baselines).

    Args:
        df: Labelled dataset (``row_id``, ``dataset``, ``horizon``, ``time_utc``,
            ``log10_microcystin``, ``Rrs_<nm>`` sr-1 at any wavelengths covering the model grid,
            optional ``dt_hours``). Split per dataset x horizon, rows in table order.
        checkpoint_path: Pretrained ``model.pt``.
        fractions: Label fractions of the outer training part, each in (0, 1].
        seeds: Seeds (outer split, subsample, inner folds, fine-tuning).
        modes: ``frozen`` and/or ``full``.
        n_splits: Outer date-grouped folds.
        inner_splits: Inner date folds of the ridge (frozen, and the probe of ``full``).
        alpha: Conformal miscoverage.
        full_fractions: Fractions run in ``full`` mode (None = all ``fractions``).
        ridge_grid: Ridge alpha grid (baselines' ``demo`` or ``full``) of frozen and the probe.
        full: Settings of ``full`` mode (default :class:`FullConfig`); its ``ridge_grid`` and
            ``inner_splits`` are those given here.
        device: ``auto``, ``cpu``, ``cuda``, ``mps``.
        num_threads: Torch CPU threads during the run (None = unchanged).
        method_prefix: Method name prefix; default ``spectm_<mask strategy>``.

    Returns:
        Predictions (:data:`~spectm.evaluate.baselines.PREDICTION_COLUMNS`), one row per test
        prediction; ``attrs`` holds wall times (s) and the number of ``full`` fits.

    Raises:
        ValueError: on unknown modes, bad fractions, or a malformed dataset.

    """
    bad_modes = [m for m in modes if m not in MODES]
    if bad_modes or not modes:
        raise ValueError(f"unknown fine-tuning mode(s) {list(modes)}; expected some of {MODES}")
    for f in [*fractions, *(full_fractions or [])]:
        if not 0 < f <= 1:
            raise ValueError(f"label fraction must be in (0, 1], got {f}")
    full_set = list(fractions if full_fractions is None else full_fractions)
    stray = [f for f in full_set if not np.isclose(f, list(fractions)).any()]
    if stray:
        raise ValueError(f"full_fractions {stray} are not among fractions {list(fractions)}")
    check_labelled(df)
    cfg = replace(full or FullConfig(), ridge_grid=ridge_grid, inner_splits=inner_splits)
    frames: list[pd.DataFrame] = []
    wall = {"embed": 0.0, "frozen": 0.0, "full": 0.0}
    n_full = 0
    with _threads(num_threads):
        dev = resolve_device(device)
        model, meta = load_pretrained(checkpoint_path, device=dev)
        x_all = spectra_on_model_grid(df, meta)
        prefix = method_prefix or f"spectm_{meta['mask_strategy']}"
        feature_set = f"spectm_{meta.get('grid', 'unknown')}"
        for key, idx in sorted(df.groupby(["dataset", "horizon"]).indices.items()):
            sub, x = df.iloc[idx].reset_index(drop=True), x_all[idx]
            y = sub["log10_microcystin"].to_numpy(dtype=float)
            dates = date_groups(sub["time_utc"])
            t0 = time.perf_counter()
            z = embed(model, meta, x).astype(float) if "frozen" in modes else None  # (n, d)
            wall["embed"] += time.perf_counter() - t0
            for seed, fold, fraction, tr, te in _outer_cells(dates, seeds, fractions, n_splits):
                jobs: list[tuple[str, Any, np.ndarray, dict[str, Any]]] = []
                if z is not None:
                    kw = dict(grid=ridge_grid, inner_splits=inner_splits, seed=seed, alpha=alpha)
                    jobs.append(("frozen", _frozen_cell, z, kw))
                if "full" in modes and np.isclose(fraction, full_set).any():
                    kw = dict(model=model, meta=meta, cfg=cfg, seed=seed, alpha=alpha, device=dev)
                    jobs.append(("full", _full_cell, x, kw))
                for mode, run, inputs, kw in jobs:
                    t0 = time.perf_counter()
                    pred, q, conf = run(inputs, y, dates, tr, te, **kw)
                    wall[mode] += time.perf_counter() - t0
                    n_full += mode == "full"
                    conf.update(n_train=int(tr.size), checkpoint=Path(checkpoint_path).name)
                    keys = dict(method=f"{prefix}_{mode}", feature_set=feature_set, config=conf)
                    keys.update(fraction=fraction, seed=seed, fold=fold)
                    frames.append(_frame(sub.iloc[te], y[te], pred, q, **keys))
            logger.info("fine-tuned %s: wall seconds %s", key, wall)
    out = (
        pd.concat(frames, ignore_index=True)[list(PREDICTION_COLUMNS)]
        if frames
        else pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    )
    out.attrs = {
        "wall_seconds": {k: round(v, 2) for k, v in wall.items()},
        "n_full_fits": n_full,
        "device": str(dev),
    }
    return out


def write_predictions(predictions: pd.DataFrame, path: PathLike) -> Path:
    """Write a predictions table atomically (Parquet, or CSV when ``path`` ends in ``.csv``).

    Raises:
        ValueError: if a column of :data:`~spectm.evaluate.baselines.PREDICTION_COLUMNS` is missing.

    """
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions table lacks column(s) {missing}")
    table = predictions[list(PREDICTION_COLUMNS)]
    if str(path).endswith(".csv"):
        return write_csv(table, path)
    return write_parquet(table, path)


def train_deployable(
    df: pd.DataFrame,
    checkpoint_path: PathLike,
    out_path: PathLike,
    *,
    mode: str = "frozen",
    alpha: float = 0.1,
    seed: int = 0,
    inner_splits: int = 5,
    ridge_grid: str = "full",
    full: FullConfig | None = None,
    device: str = "auto",
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
        mode: ``frozen`` or ``full``.
        alpha: Conformal miscoverage (intervals at level 1 - alpha).
        seed: Seed of inner folds, validation dates and fine-tuning.
        inner_splits: Inner date folds of the ridge (``frozen``, and the probe of ``full``).
        ridge_grid: Ridge alpha grid, ``demo`` or ``full`` (``frozen``, and the probe).
        full: Settings of ``full`` mode (default :class:`FullConfig`); its ``ridge_grid`` and
            ``inner_splits`` are those given here.
        device: Training device.
        num_threads: Torch CPU threads during training (None = unchanged).

    Returns:
        ``out_path``.

    Raises:
        ValueError: on an unknown mode, several horizons, or a malformed dataset.

    """
    if mode not in MODES:
        raise ValueError(f"unknown fine-tuning mode {mode!r}; expected one of {MODES}")
    check_labelled(df)
    horizons = sorted(df["horizon"].unique())
    if len(horizons) != 1:
        raise ValueError(f"a deployable model needs one horizon, the dataset has {horizons}")
    y = df["log10_microcystin"].to_numpy(dtype=float)
    dates = date_groups(df["time_utc"])
    with _threads(num_threads):
        dev = resolve_device(device)
        model, meta = load_pretrained(checkpoint_path, device=dev)
        x = spectra_on_model_grid(df, meta)
        if mode == "frozen":
            z = embed(model, meta, x).astype(float)
            kw = dict(grid=ridge_grid, inner_splits=inner_splits, seed=seed, alpha=alpha)
            w, b, c = linear_probe(z, y, dates, **kw)
            state, q = model.state_dict(), c.halfwidth
            fit_info: dict[str, Any] = {"inner_folds": len(c.inner_splits)}
            fit_info.update({f"ridge_{k}": v for k, v in c.best_params.items()})
        else:
            cfg = replace(full or FullConfig(), ridge_grid=ridge_grid, inner_splits=inner_splits)
            fit = fit_full(model, meta, x, y, dates, cfg=cfg, seed=seed, alpha=alpha, device=dev)
            w, b = fit.folded_head()
            state, q = fit.regressor.encoder.state_dict(), fit.halfwidth
            fit_info = {"n_fit": fit.n_fit, "n_val": fit.n_val, "best_epoch": fit.best_epoch}
            fit_info.update(epochs_run=len(fit.history) - 1, **asdict(cfg))
    t = pd.to_datetime(df["time_utc"], utc=True)
    info = {
        "mode": mode,
        "method": f"spectm_{meta['mask_strategy']}_{mode}",
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
