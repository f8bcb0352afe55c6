"""Fine-tune a pretrained SpecTM for microcystin (log10 ug/L): the training code.

Modes:
    ``frozen``: pooled embeddings of every spectrum are computed once (eval mode, no gradients)
        and the baselines' ridge protocol runs on them (:func:`linear_probe`:
        :func:`spectm.evaluate.baselines.fit_cell`, algorithm ``ridge``: StandardScaler -> Ridge
        or the constant predictor when the inner CV prefers it,
        alpha chosen by inner CV over ``GroupKFold`` on the training part's sampling dates, and
        the CV-residual split-conformal half-width from that search's out-of-fold predictions).
    ``full``: the encoder and a linear head on the pooled embedding are trained end to end
        (:func:`fit_full`: AdamW, separate encoder and head learning rates, target standardised
        on the fit rows, bf16 autocast on CUDA only, seeded). About ``val_fraction`` of the
        training part's sampling dates are held out: they pick the epoch (early stopping, best
        weights kept) and calibrate the split-conformal half-width from their residuals. The
        final model is the one trained without them (it is not refitted on all rows). The head
        starts from the ``frozen`` ridge fitted on the other dates (linear probe, then fine-tune:
        LP-FT), or from zeros; epoch 0 (no update) competes in early stopping.

No band is masked at fine-tuning or prediction: the encoder sees every band of the spectrum
(including the diagnostic windows a ``targeted`` encoder never saw during pretraining); bands that
are NaN on the model grid become mask tokens.

The evaluation over outer cells is :mod:`spectm.train.finetune_grid`; the deployable model is
:mod:`spectm.train.deploy`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from spectm.config import EvaluationConfig
from spectm.evaluate.baselines import CellFit, clip_to_range, fit_cell
from spectm.evaluate.conformal import (
    PROTOCOL_SMALL_N,
    conformal_halfwidth,
    loo_mean_abs_residuals,
)
from spectm.model.device import autocast
from spectm.model.encoder import SpecTM
from spectm.model.pretrained import ModelMeta, embed, model_inputs
from spectm.spectral.grids import resample_to_grid
from spectm.tables import find_rrs_columns

MODES = ("frozen", "full")
"""Fine-tuning modes."""
_PRETRAIN_HEADS = ("rec_head.", "idx_head.", "temp_head.")


@dataclass(frozen=True)
class FullConfig:
    """End-to-end fine-tuning settings.

    The first three come from the configuration (``finetune.full_epochs`` and the shared
    ``evaluation`` section; see :meth:`for_evaluation`); the others are the method's own settings.

    Attributes:
        epochs: Upper bound on epochs.
        ridge_grid: Ridge alpha grid of the probe (``demo`` or ``full``, see the baselines).
        inner_splits: Inner date folds of the probe's ridge tuning.
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

    """

    epochs: int
    ridge_grid: str
    inner_splits: int
    encoder_lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 32
    patience: int = 10
    val_fraction: float = 0.2
    grad_clip: float | None = 1.0
    probe_init: bool = True

    @classmethod
    def for_evaluation(cls, evaluation: EvaluationConfig, *, epochs: int, **kw: Any) -> FullConfig:
        """Settings with the probe tuned as the ``evaluation`` protocol tunes every ridge."""
        return cls(
            epochs=epochs, ridge_grid=evaluation.grid, inner_splits=evaluation.inner_splits, **kw
        )

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
    df: pd.DataFrame, meta: ModelMeta, *, what: str = "labelled dataset"
) -> np.ndarray:
    """Rrs of a table resampled (linear) onto the model grid ``meta.wavelengths_nm``.

    Returns:
        Rrs (sr-1), shape (n_rows, n_grid); NaN bands stay NaN (mask tokens downstream).

    Raises:
        ValueError: when the table does not cover the grid or a row has no finite band on it.

    """
    cols, wl = find_rrs_columns(df)
    x = resample_to_grid(df[cols].to_numpy(dtype=float), wl, meta.grid_nm, what=what)
    empty = ~np.isfinite(x).any(axis=1)
    if empty.any():
        rid = df["row_id"].iloc[int(np.argmax(empty))] if "row_id" in df else int(np.argmax(empty))
        raise ValueError(f"{what}: row_id {rid!r} has no finite Rrs on the model grid")
    return x


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
        halfwidth: Split-conformal half-width (log10 ug/L), from ``calibration``; ``inf`` only
            when nothing calibrates the kept model.
        history: Per epoch: ``epoch`` (0 = initial head, before any update), ``train_mse``
            (epoch 0: on the fit rows; then the mean over the epoch's batches) and ``val_mse``
            (after the epoch), both in standardised target units.
        best_epoch: Epoch whose weights were kept (0 = the initial head; with fewer than two
            sampling dates always 0; with ``val_fraction = 0`` the last).
        n_fit: Rows trained on.
        n_val: Validation (calibration) rows.
        calibration: Where ``halfwidth`` comes from: ``validation`` (the held-out dates'
            residuals, the largest one when they are fewer than the conformal rank needs),
            ``probe`` (fewer than two sampling dates: the initial head's own calibration, the
            linear probe's half-width, i.e. the leave-one-out residuals of the mean) or ``none``
            (``val_fraction = 0`` with several dates: ``inf``).
        y_range: Smallest and largest target of the training part (fit and validation rows,
            as the deployable model records it); :meth:`predict` clips to it (as
            :meth:`spectm.evaluate.baselines.CellFit.predict`).

    """

    regressor: Regressor
    meta: ModelMeta
    y_mean: float
    y_std: float
    halfwidth: float
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    n_fit: int = 0
    n_val: int = 0
    calibration: str = "validation"
    y_range: tuple[float, float] = (-np.inf, np.inf)

    @torch.no_grad()
    def predict(self, spectra: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
        """log10 microcystin (n,) of Rrs spectra (sr-1) on the model grid, shape (n, n_grid)."""
        device = next(self.regressor.parameters()).device
        x, mask, wl = model_inputs(self.meta, spectra, device)
        pred = _standardised(self.regressor, x, mask, wl, batch_size) * self.y_std + self.y_mean
        return clip_to_range(pred, self.y_range)

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
    z: np.ndarray,
    y: np.ndarray,
    dates: np.ndarray,
    *,
    grid: str,
    inner_splits: int,
    seed: int,
    alpha: float,
) -> tuple[np.ndarray, float, CellFit]:
    """The ``frozen`` ridge protocol on embeddings z (n, d), folded into one linear map.

    Args:
        z: Pooled embeddings, shape (n, d_model).
        y: Target, shape (n,).
        dates: Sampling-date key per row (inner CV groups), shape (n,).
        grid: Ridge alpha grid (``demo`` or ``full``).
        inner_splits: Inner date folds of the tuning.
        seed: Seed of the inner folds.
        alpha: Conformal miscoverage of the cell's half-width.

    Returns:
        Weights (d,) and intercept with ``z @ w + b`` equal to the tuned cell's prediction, and
        the fitted cell (half-width, parameters). The cell is ``StandardScaler -> Ridge``, or the
        constant predictor when it won the inner CV or there is a single sampling date
        (``cell.constant``): then ``w = 0`` and ``b`` is the mean of ``y``.

    """
    names = [f"spectm_emb_{i}" for i in range(z.shape[1])]
    c = fit_cell(
        z,
        y,
        dates,
        algorithm="ridge",
        feature_names=names,
        grid=grid,
        inner_splits=inner_splits,
        seed=seed,
        alpha=alpha,
    )
    if c.constant:  # StandardScaler -> DummyRegressor(mean)
        mean = np.ravel(c.model.named_steps["model"].constant_)[0]
        return np.zeros(z.shape[1]), float(mean), c
    scale, ridge = c.model.named_steps["scale"], c.model.named_steps["model"]
    w = np.ravel(ridge.coef_) / scale.scale_
    return w, float(np.ravel(ridge.intercept_)[0] - np.sum(scale.mean_ * w)), c


def fit_full(
    encoder: SpecTM,
    meta: ModelMeta,
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

    Small label counts: the probe of ``probe_init`` may be the constant (the fit rows' mean;
    :func:`linear_probe`), and epoch 0 competes in early stopping, so the kept model is never
    worse than the initial head on the held-out dates; their residuals give the half-width, the
    largest one when they are fewer than the conformal rank needs (``small_n="max"``). With fewer
    than two sampling dates nothing is held out: no epoch is trained (nothing could pick one),
    the initial head is kept (the probe, then the constant; or the zero head, also the mean) and
    its own calibration gives the half-width: the leave-one-out residuals of the mean (the
    probe's ``CellFit.halfwidth``), ``inf`` for a single row. With ``val_fraction = 0`` and
    several dates every epoch runs, the last is kept, and the half-width is ``inf``.

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
    x, mask, wl = model_inputs(meta, spectra, device)
    yt = torch.as_tensor((y - y_mean) / y_std, dtype=torch.float32, device=device)  # (n,)
    probe: CellFit | None = None
    if cfg.probe_init:
        z = embed(encoder, meta, np.asarray(spectra)[fit_idx]).astype(float)  # (n_fit, d)
        ys = (y[fit_idx] - y_mean) / y_std
        grid, inner = cfg.ridge_grid, cfg.inner_splits
        w, b, probe = linear_probe(
            z, ys, dates[fit_idx], grid=grid, inner_splits=inner, seed=seed, alpha=alpha
        )
        with torch.no_grad():
            reg.head.weight.copy_(torch.as_tensor(w[None, :], dtype=torch.float32))
            reg.head.bias.fill_(b)
    several_dates = np.unique(dates).size >= 2  # else no epoch: nothing could pick one
    history: list[dict[str, float]] = []
    best_val, best_epoch, best_state, since = math.inf, 0, None, 0
    for epoch in range((cfg.epochs if several_dates else 0) + 1):  # 0: the initial head
        if epoch:
            total = 0.0
            reg.train()
            order = np.random.default_rng([seed, epoch]).permutation(fit_idx)
            for s in range(0, order.size, cfg.batch_size):
                rows = torch.as_tensor(order[s : s + cfg.batch_size], device=device)
                with autocast(device):
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
        y_range=(float(y.min()), float(y.max())),  # the training part's labels
    )
    if val_idx.size:
        resid = np.abs(y[val_idx] - fit.predict(np.asarray(spectra)[val_idx]))
        fit.halfwidth = conformal_halfwidth(resid, alpha=alpha, small_n=PROTOCOL_SMALL_N)
    elif not several_dates:  # the initial head kept: the mean, calibrated leave-one-out
        fit.calibration = "probe"
        if probe is not None:  # fitted on the standardised target
            fit.halfwidth = probe.halfwidth * y_std
        else:
            loo = loo_mean_abs_residuals(y[fit_idx])
            fit.halfwidth = conformal_halfwidth(loo, alpha=alpha, small_n=PROTOCOL_SMALL_N)
    else:
        fit.calibration = "none"
    return fit
