"""Self-supervised pretraining of SpecTM: one readable loop, seeded, resumable.

:func:`pretrain` reads top to bottom like nanoGPT's ``train.py``, one function per phase:
:func:`prepare_data` (per-band normalisation from the train split, index targets, future
spectra); ``_build`` the model and optimiser, or ``_resume`` them and the run's progress from
``checkpoint.pt``; then epoch by epoch ``_losses`` + ``_train_step`` per batch, ``_evaluate`` on
the validation split after each epoch (early stopping), ``_save`` a checkpoint every
``checkpoint_every`` steps and after each epoch; finally ``model.pt`` (best validation weights),
``config.json`` and ``losses.csv``. What changes as the run goes (step, epoch, best validation loss,
...) are local variables of the loop; a checkpoint saves them as a
:class:`~spectm.train.checkpoint.TrainState`.

Determinism: model init uses ``seed``; the data order of epoch ``e`` is a permutation drawn from
``(seed, e)`` and random masks from ``(seed, 2, e, batch)`` (validation: ``(seed, 3, batch)``); the
torch RNG (dropout) is saved in each checkpoint. A run killed and resumed from its last checkpoint
therefore ends with the same weights as an uninterrupted run (exactly on CPU).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from tqdm import tqdm

from spectm._io import keep_last_good, last_good_path, write_csv
from spectm.config import ModelConfig, PretrainSection
from spectm.io.corpus import FUTURE_PREFIX, read_corpus
from spectm.model.device import autocast, resolve_device, torch_threads
from spectm.model.encoder import SpecTM, SpecTMConfig, count_parameters, preset_config
from spectm.model.masking import MASK_STRATEGIES, check_windows, make_mask
from spectm.model.pretrained import MODEL_NAME, ModelMeta, RunSummary, save_model
from spectm.spectral.indices import compute_indices, index_band_table
from spectm.tables import find_rrs_columns
from spectm.train.checkpoint import (
    CHECKPOINT_NAME,
    LOSSES_NAME,
    Checkpoint,
    TrainState,
    cuda_rng_states,
    load_checkpoint,
    save_checkpoint,
)
from spectm.train.settings import TRAINING_KEYS, subset

logger = logging.getLogger(__name__)

DEFAULT_INDEX_TARGETS = (
    "NDCI",
    "CI_cyano",
    "SS665",
    "PC_709_620",
    "PC_650_625",
    "PC_700_600",
    "CI_Hu",
    "MCI",
)
"""Candidate SSL index targets (FLH681 left out: it equals -CI_cyano). Those not computable from
measured bands of the grid (wanted band beyond tolerance or gap-filled) are dropped."""

INDEX_CLIP = 10.0
"""Normalised index targets are clipped to +-INDEX_CLIP robust standard deviations (band ratios
explode where the denominator band is near zero)."""

RUNTIME_KEYS = ("device", "num_threads", "progress", "resume")
"""Config keys that may change between a run and its resumption."""


@dataclass(frozen=True, kw_only=True)
class PretrainConfig:
    """Pretraining settings.

    The settings of the workflow (preset, loss weights, windows, optimiser, epochs, patience,
    checkpoint cadence, seed, device) have no default here: they come from the ``model`` and
    ``pretrain`` sections of the configuration (:meth:`from_sections`). The others are the
    method's own settings or runtime switches.

    Attributes:
        preset: SpecTM preset (``paper``, ``small`` or ``tiny``).
        model: Overrides of :class:`~spectm.model.encoder.SpecTMConfig` fields (e.g. loss weights).
        mask_strategy: ``targeted``, ``random`` or ``none``.
        mask_windows_nm: Diagnostic windows ``(lo, hi)`` in nm, half-open.
        index_names: Index targets; None = :data:`DEFAULT_INDEX_TARGETS` available on the grid.
        index_tolerance_nm: Band-matching tolerance of the indices (nm).
        lr: AdamW learning rate (constant).
        weight_decay: AdamW weight decay.
        batch_size: Spectra per step.
        max_epochs: Upper bound on epochs.
        max_steps: Optional upper bound on optimisation steps.
        patience: Epochs without validation improvement before stopping.
        min_delta: Improvement smaller than this does not count.
        grad_clip: Max global gradient norm (None = no clipping).
        checkpoint_every: Steps between checkpoints (one is also written after every epoch).
        seed: Seed of init, data order and random masks.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:<i>`` or ``mps``.
        num_threads: Torch CPU threads during the run (None = torch's default). On a shared or
            busy CPU, 1 avoids OpenMP spin-waiting, which can make small models 10x slower.
        progress: Progress bar; None = only when stderr is a terminal.
        resume: Continue from ``out_dir/checkpoint.pt`` if it exists (else start afresh).

    """

    preset: str
    model: dict[str, Any] = field(default_factory=dict)
    mask_strategy: str
    mask_windows_nm: tuple[tuple[float, float], ...]
    index_names: tuple[str, ...] | None = None
    index_tolerance_nm: float = 3.0
    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    max_steps: int | None = None
    patience: int
    min_delta: float = 0.0
    grad_clip: float | None = 1.0
    checkpoint_every: int
    seed: int
    device: str
    num_threads: int | None = None
    progress: bool | None = None
    resume: bool = True

    def __post_init__(self) -> None:
        if self.mask_strategy not in MASK_STRATEGIES:
            raise ValueError(
                f"pretrain config: mask_strategy {self.mask_strategy!r} not in {MASK_STRATEGIES}"
            )
        object.__setattr__(self, "mask_windows_nm", check_windows(self.mask_windows_nm))
        if self.index_names is not None:
            object.__setattr__(self, "index_names", tuple(self.index_names))
        for key in ("batch_size", "max_epochs", "patience", "checkpoint_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"pretrain config: {key} must be >= 1, got {getattr(self, key)}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"pretrain config: num_threads must be >= 1, got {self.num_threads}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"pretrain config: max_steps must be >= 1, got {self.max_steps}")
        preset_config(self.preset, **self.model)  # fails early on a bad preset or override

    @classmethod
    def from_sections(
        cls,
        model: ModelConfig,
        pretrain: PretrainSection | Mapping[str, Any],
        *,
        strategy: str,
        seed: int,
        device: str,
        **runtime: Any,
    ) -> PretrainConfig:
        """Settings of one masking strategy from the ``model`` and ``pretrain`` config sections.

        Args:
            model: Preset, diagnostic windows and loss weights.
            pretrain: Optimiser, batch size, epochs, early stopping, checkpoints: the section, or
                a mapping with at least its :data:`~spectm.train.settings.TRAINING_KEYS` (what the
                workflow's ``pretrain`` rule passes).
            strategy: ``targeted``, ``random`` or ``none``.
            seed: Seed of this run (one of ``pretrain.seeds``): initialisation, data order, masks.
            device: ``auto``, ``cpu``, ``cuda`` or ``mps`` (the config's top-level ``device``).
            **runtime: Other fields (``num_threads``, ``progress``, ``resume``, ...).

        """
        section = pretrain if isinstance(pretrain, Mapping) else pretrain.to_dict()
        return cls(
            preset=model.preset,
            model={
                "w_rec": model.lambda_reconstruction,
                "w_idx": model.lambda_indices,
                "w_temp": model.lambda_temporal,
            },
            mask_strategy=strategy,
            mask_windows_nm=model.mask_windows_nm,
            **subset(section, TRAINING_KEYS),
            seed=seed,
            device=device,
            **runtime,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON- and checkpoint-safe; tuples become lists)."""
        d = asdict(self)
        d["mask_windows_nm"] = [list(w) for w in self.mask_windows_nm]
        d["index_names"] = None if self.index_names is None else list(self.index_names)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PretrainConfig:
        """Build from a plain dict (e.g. YAML); unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown pretrain config keys {unknown}; known: {sorted(known)}")
        d = dict(d)
        if "mask_windows_nm" in d:
            d["mask_windows_nm"] = tuple(tuple(w) for w in d["mask_windows_nm"])
        return cls(**d)


@dataclass
class _Split:
    x: Tensor  # (n, n_bands) normalised Rrs
    indices: Tensor  # (n, n_indices) normalised index targets, NaN = unknown
    future: Tensor  # (n, n_bands) normalised Rrs at t + 8 d, NaN = none

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device) -> _Split:
        """The split on ``device`` (moved once, so that no batch waits for a host copy)."""
        return _Split(self.x.to(device), self.indices.to(device), self.future.to(device))


def select_index_targets(
    wavelengths_nm: np.ndarray, gap_filled_nm: list[float], cfg: PretrainConfig
) -> list[str]:
    """Index targets computable from measured bands of the grid.

    Raises:
        ValueError: if an explicitly requested index cannot be computed, or none can.

    """
    wanted = list(cfg.index_names or DEFAULT_INDEX_TARGETS)
    table = index_band_table(wavelengths_nm, names=wanted, tolerance_nm=cfg.index_tolerance_nm)
    table["ok"] = table["used"] & ~np.isin(table["nearest_nm"], gap_filled_nm)
    ok = table.groupby("index", sort=False)["ok"].all()
    bad = [n for n in wanted if not ok[n]]
    if cfg.index_names is not None and bad:
        raise ValueError(f"pretrain config: index_names {bad} cannot be computed on this grid")
    names = [n for n in wanted if ok[n]]
    if not names:
        raise ValueError("no bio-optical index can be computed on this band grid")
    return names


def _robust_scale(values: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Median and IQR/1.349 per column of ``values`` (n, k), ignoring NaN."""
    center, scale = np.zeros(len(names)), np.ones(len(names))
    for j, name in enumerate(names):
        v = values[:, j][np.isfinite(values[:, j])]
        if v.size == 0:
            raise ValueError(f"index target {name} is NaN for every training spectrum")
        q25, q50, q75 = np.percentile(v, [25, 50, 75])
        s = (q75 - q25) / 1.349
        center[j] = q50
        scale[j] = s if s > 0 else (v.std() if v.std() > 0 else 1.0)
    return center, scale


def _to_split(df: pd.DataFrame, cols: list[str], meta: ModelMeta) -> _Split:
    """Normalised tensors of one split, using the statistics in ``meta``."""
    wl = meta.grid_nm
    mean, std = np.asarray(meta.norm_mean), np.asarray(meta.norm_std)
    rrs = df[cols].to_numpy(dtype=float)  # (n, n_bands) sr-1
    fut_cols = [FUTURE_PREFIX + c.removeprefix("Rrs_") for c in cols]
    fut = df[fut_cols].to_numpy(dtype=float)  # (n, n_bands) sr-1, NaN = none
    idx = compute_indices(rrs, wl, names=meta.index_names, tolerance_nm=meta.index_tolerance_nm)
    z_idx = (idx.to_numpy() - meta.index_center) / meta.index_scale  # (n, n_indices)
    return _Split(
        x=torch.as_tensor((rrs - mean) / std, dtype=torch.float32),
        indices=torch.as_tensor(np.clip(z_idx, -INDEX_CLIP, INDEX_CLIP), dtype=torch.float32),
        future=torch.as_tensor((fut - mean) / std, dtype=torch.float32),
    )


def prepare_data(
    corpus: pd.DataFrame, cfg: PretrainConfig, corpus_path: str
) -> tuple[_Split, _Split, ModelMeta]:
    """Train/val tensors and the metadata (grid, normalisation, targets) stored with the model."""
    cols, wl = find_rrs_columns(corpus)
    train_df, val_df = corpus[corpus["split"] == "train"], corpus[corpus["split"] == "val"]
    if len(train_df) == 0:
        raise ValueError(f"corpus {corpus_path}: no row with split == 'train'")
    rrs = train_df[cols].to_numpy(dtype=float)
    std = rrs.std(axis=0)
    gap_filled = [float(w) for w in corpus.attrs.get("gap_filled_nm", [])]
    names = select_index_targets(wl, gap_filled, cfg)
    center, scale = _robust_scale(
        compute_indices(rrs, wl, names=names, tolerance_nm=cfg.index_tolerance_nm).to_numpy(), names
    )
    model_cfg = preset_config(
        cfg.preset, **{**cfg.model, "n_bands": wl.size, "n_indices": len(names)}
    )
    meta = ModelMeta(
        model_config=model_cfg.to_dict(),
        pretrain_config=cfg.to_dict(),
        grid=str(corpus.attrs.get("grid", "unknown")),
        wavelengths_nm=[float(w) for w in wl],
        gap_filled_nm=gap_filled,
        norm_mean=[float(v) for v in rrs.mean(axis=0)],
        norm_std=[float(v) if v > 0 else 1.0 for v in std],
        index_names=names,
        index_center=[float(v) for v in center],
        index_scale=[float(v) for v in scale],
        index_tolerance_nm=cfg.index_tolerance_nm,
        mask_strategy=cfg.mask_strategy,
        mask_windows_nm=[list(w) for w in cfg.mask_windows_nm],
        corpus={"path": corpus_path, "n_train": len(train_df), "n_val": len(val_df)},
    )
    return _to_split(train_df, cols, meta), _to_split(val_df, cols, meta), meta


# ------------------------------------------------------------------ build or resume


def _build(
    meta: ModelMeta, cfg: PretrainConfig, device: torch.device
) -> tuple[SpecTM, torch.optim.Optimizer]:
    """A SpecTM initialised from ``cfg.seed`` and its AdamW optimiser (constant learning rate)."""
    torch.manual_seed(cfg.seed)
    model = SpecTM(SpecTMConfig.from_dict(meta.model_config)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return model, opt


def _resume_mismatch(old: ModelMeta, meta: ModelMeta) -> str | None:
    """Why a checkpoint made with ``old`` cannot continue as the run ``meta`` (None: it can)."""
    a, b = dict(old.pretrain_config), dict(meta.pretrain_config)
    diff = sorted(k for k in a.keys() | b.keys() if k not in RUNTIME_KEYS and a.get(k) != b.get(k))
    if diff:
        return f"config keys {diff} differ from the checkpoint"
    if old.corpus["n_train"] != meta.corpus["n_train"] or not np.allclose(
        old.norm_mean, meta.norm_mean, rtol=1e-6, atol=0
    ):
        return "the corpus differs from the one it was trained on"
    return None


STALE_SUFFIX = ".stale"
"""A checkpoint of another config or corpus is renamed ``checkpoint.pt.stale`` (kept, not used)."""


def _set_aside(path: Path, reason: str) -> None:
    """Rename the checkpoint ``path`` to ``<name>.stale`` (replacing an earlier one) and log why.

    A changed pretraining setting or a grown corpus (new granules of a weekly refresh) is a new
    run: it is never resumed from, or into, the old one, and the old checkpoint is kept aside.
    """
    stale = path.with_name(path.name + STALE_SUFFIX)
    path.replace(stale)
    logger.warning("%s: %s; starting afresh (the old checkpoint is now %s)", path, reason, stale)


def _resume(
    ckpt: Checkpoint, model: SpecTM, opt: torch.optim.Optimizer, device: torch.device
) -> TrainState:
    """Load ``ckpt`` into ``model`` and ``opt``, restore the torch RNG, return its progress.

    ``ckpt`` must belong to this run (:func:`_resume_mismatch` returned None).
    """
    model.load_state_dict(ckpt.model)
    opt.load_state_dict(ckpt.optimizer)
    torch.set_rng_state(ckpt.state.rng_torch)
    if device.type == "cuda" and ckpt.state.rng_cuda:
        torch.cuda.set_rng_state_all(ckpt.state.rng_cuda)
    return ckpt.state


# ------------------------------------------------------------------ one step, evaluation


def _batch_mask(meta: ModelMeta, n: int, entropy: list[int], eligible: np.ndarray) -> Tensor:
    """Mask (n, n_bands) for one batch; random draws come from ``entropy`` (seed, stream, ...)."""
    mask = make_mask(
        meta.mask_strategy,
        meta.grid_nm,
        n,
        windows_nm=meta.mask_windows_nm,
        rng=np.random.default_rng(entropy),
        eligible=eligible,
    )
    return torch.from_numpy(mask)


def _losses(
    model: SpecTM, data: _Split, rows: Tensor, mask: Tensor, wl: Tensor, device: torch.device
) -> dict[str, Tensor]:
    """Multi-task losses of ``model`` on one batch (bf16 autocast on CUDA).

    Args:
        model: The model.
        data: A split.
        rows: Rows of ``data`` in the batch, shape (n,).
        mask: Bool (n, n_bands), True = band hidden from the encoder.
        wl: Band wavelengths (nm) on ``device``, shape (n_bands,).
        device: Where the model is.

    Returns:
        Scalar losses ``total``, ``rec``, ``idx``, ``temp`` (see :func:`spectm.model.losses`).

    """
    mask = mask.to(device)
    targets = {
        "spectrum": data.x[rows].to(device),
        "indices": data.indices[rows].to(device),
        "future": data.future[rows].to(device),
    }
    with autocast(device):
        _, losses = model(targets["spectrum"], wl, mask, targets)
    assert losses is not None
    return losses


def _train_step(
    model: SpecTM,
    opt: torch.optim.Optimizer,
    losses: dict[str, Tensor],
    grad_clip: float | None,
) -> dict[str, Tensor]:
    """One AdamW step on ``losses["total"]``, gradients clipped to norm ``grad_clip``.

    Returns:
        The losses, detached, still on the model's device: reading them back is left to the
        caller (the loop reads many steps at once, so that a GPU never waits for the host).

    """
    opt.zero_grad(set_to_none=True)
    losses["total"].backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return {k: v.detach() for k, v in losses.items()}


@torch.no_grad()
def _evaluate(
    model: SpecTM,
    data: _Split,
    meta: ModelMeta,
    eligible: np.ndarray,
    wl: Tensor,
    device: torch.device,
) -> dict[str, float]:
    """Row-weighted mean validation losses; random masks are fixed per batch across epochs."""
    model.eval()
    seed, bs = meta.pretrain_config["seed"], meta.pretrain_config["batch_size"]
    sums = {"rec": 0.0, "idx": 0.0, "temp": 0.0, "total": 0.0}
    for b, start in enumerate(range(0, len(data), bs)):
        rows = torch.arange(start, min(start + bs, len(data)))
        mask = _batch_mask(meta, rows.numel(), [seed, 3, b], eligible)
        losses = _losses(model, data, rows, mask, wl, device)
        for k in sums:
            sums[k] += float(losses[k]) * rows.numel()
    model.train()
    return {k: v / len(data) for k, v in sums.items()}


# ------------------------------------------------------------------ save


LOSS_COLUMNS = ["step", "epoch", "split", "rec", "idx", "temp", "total"]
"""Columns of ``losses.csv``: one row per training step and per validation."""


def _save(
    out: Path,
    state: TrainState,
    model: SpecTM,
    opt: torch.optim.Optimizer,
    meta: ModelMeta,
) -> None:
    """Write ``checkpoint.pt`` (with ``config.json``) and ``losses.csv`` into ``out``."""
    ckpt = Checkpoint(state=state, model=model.state_dict(), optimizer=opt.state_dict(), meta=meta)
    save_checkpoint(ckpt, out / CHECKPOINT_NAME)
    write_csv(pd.DataFrame(state.loss_log, columns=LOSS_COLUMNS), out / LOSSES_NAME)


# ------------------------------------------------------------------ the loop


def pretrain(
    corpus_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], cfg: PretrainConfig
) -> Path:
    """Pretrain SpecTM on a corpus; resume from ``out_dir/checkpoint.pt`` when present.

    Args:
        corpus_path: Corpus Parquet (:func:`spectm.train.corpus.write_corpus`).
        out_dir: Output directory: ``checkpoint.pt``, ``config.json``, ``losses.csv``, ``model.pt``.
        cfg: Settings.

    Returns:
        Path of ``model.pt`` (weights with the best validation loss; the last weights when the
        corpus has no validation split).

    Raises:
        ValueError: on a bad corpus, an unavailable device, or a checkpoint from another config
            or version.

    """
    try:
        with torch_threads(cfg.num_threads):
            return _pretrain(Path(corpus_path), Path(out_dir), cfg)
    except BaseException:
        kept = last_good_path(Path(out_dir) / MODEL_NAME)
        if kept.exists():
            logger.error("pretraining failed; the last finished run is still in %s", kept.parent)
        raise


def _pretrain(corpus_path: Path, out: Path, cfg: PretrainConfig) -> Path:
    """Run :func:`pretrain` (torch threads already set)."""
    device = resolve_device(cfg.device)
    train, val, meta = prepare_data(read_corpus(corpus_path), cfg, str(corpus_path))
    train, val = train.to(device), val.to(device)
    eligible = ~np.isin(meta.wavelengths_nm, meta.gap_filled_nm)  # (n_bands,) random masks: no gaps
    wl = torch.tensor(meta.wavelengths_nm, dtype=torch.float32, device=device)  # (n_bands,) nm

    model, opt = _build(meta, cfg, device)
    start = TrainState()
    resumable = cfg.resume and (out / CHECKPOINT_NAME).exists()
    ckpt = load_checkpoint(out / CHECKPOINT_NAME) if resumable else None
    reason = None if ckpt is None else _resume_mismatch(ckpt.meta, meta)
    if reason is not None:
        _set_aside(out / CHECKPOINT_NAME, reason)
    elif ckpt is not None:
        start = _resume(ckpt, model, opt, device)
        if start.finished and (out / MODEL_NAME).exists():
            logger.info("pretraining in %s already finished at step %d", out, start.step)
            return out / MODEL_NAME
        start.resumed_from.append(start.step)
        logger.info("resuming pretraining from step %d (epoch %d)", start.step, start.epoch)
    logger.info("SpecTM %s: %d parameters on %s", cfg.preset, count_parameters(model), device)

    # the run's progress: plain locals, from the checkpoint when resuming
    step, epoch, batch_in_epoch = start.step, start.epoch, start.batch_in_epoch
    stop, epochs_since_best = start.stop, start.epochs_since_best
    best_val, best_step, best_model = start.best_val, start.best_step, start.best_model
    loss_log, resumed_from = start.loss_log, start.resumed_from  # rows of losses.csv

    def snapshot(finished: bool = False) -> TrainState:
        """These locals as they stand, with the torch RNG state: what a checkpoint saves."""
        return TrainState(
            step=step, epoch=epoch, batch_in_epoch=batch_in_epoch, stop=stop, finished=finished,
            best_val=best_val, best_step=best_step, best_model=best_model,
            epochs_since_best=epochs_since_best, loss_log=loss_log, resumed_from=resumed_from,
            rng_torch=torch.get_rng_state(), rng_cuda=cuda_rng_states(),
        )  # fmt: skip

    n_batches = math.ceil(len(train) / cfg.batch_size)
    all_steps = n_batches * cfg.max_epochs
    show = sys.stderr.isatty() if cfg.progress is None else cfg.progress
    bar = tqdm(
        total=all_steps if cfg.max_steps is None else min(cfg.max_steps, all_steps),
        initial=step,
        disable=not show,
        desc="pretrain",
        unit="step",
    )
    # the training losses stay on the device until a checkpoint, a validation or the end of an
    # epoch reads them all back at once: no step waits for the host (what a GPU would do)
    pending: list[tuple[int, int, dict[str, Tensor]]] = []

    def read_back() -> None:
        if not pending:
            return
        keys = list(pending[0][2])
        values = torch.stack([torch.stack([d[k] for k in keys]) for _, _, d in pending])
        for (s_, e_, _), vals in zip(pending, values.float().cpu().tolist(), strict=True):
            row = dict(zip(keys, vals, strict=True))
            loss_log.append({"step": s_, "epoch": e_, "split": "train", **row})
        bar.set_postfix(loss=f"{loss_log[-1]['total']:.4f}")
        pending.clear()

    model.train()
    while not stop and epoch < cfg.max_epochs:
        order = torch.from_numpy(np.random.default_rng([cfg.seed, epoch]).permutation(len(train)))
        for b in range(batch_in_epoch, n_batches):
            rows = order[b * cfg.batch_size : (b + 1) * cfg.batch_size].to(device)
            mask = _batch_mask(meta, rows.numel(), [cfg.seed, 2, epoch, b], eligible)
            losses = _losses(model, train, rows, mask, wl, device)
            pending.append((step + 1, epoch, _train_step(model, opt, losses, cfg.grad_clip)))
            step, batch_in_epoch = step + 1, b + 1
            bar.update(1)
            if cfg.max_steps is not None and step >= cfg.max_steps:
                stop = True
                break
            if step % cfg.checkpoint_every == 0:
                read_back()
                _save(out, snapshot(), model, opt, meta)
        read_back()

        # end of the epoch (or of max_steps): validate, early stopping, checkpoint
        if len(val):
            v = _evaluate(model, val, meta, eligible, wl, device)
            loss_log.append({"step": step, "epoch": epoch, "split": "val", **v})
            if v["total"] < best_val - cfg.min_delta:
                best_val, best_step, epochs_since_best = v["total"], step, 0
                best_model = {k: t.detach().cpu().clone() for k, t in model.state_dict().items()}
            else:
                epochs_since_best += 1
                stop = stop or epochs_since_best >= cfg.patience
            logger.info(
                "epoch %d, step %d: val loss %.4f (best %.4f at step %d)",
                epoch, step, v["total"], best_val, best_step,
            )  # fmt: skip
        epoch, batch_in_epoch = epoch + 1, 0
        _save(out, snapshot(), model, opt, meta)
    bar.close()

    # model.pt: the best validation weights (the last ones without a validation split)
    summary = RunSummary(
        best_val=best_val if math.isfinite(best_val) else None,
        best_step=best_step,
        final_step=step,
        epochs_run=epoch,
        stopped_early=bool(epochs_since_best >= cfg.patience),
        resumed_from=list(resumed_from),
        n_parameters=count_parameters(model),
        torch_version=str(torch.__version__),
    )
    final_meta = meta.with_summary(summary)
    final = best_model if best_model is not None else model.state_dict()
    path = save_model({k: t.detach().cpu() for k, t in final.items()}, final_meta, out / MODEL_NAME)
    _save(out, snapshot(finished=True), model, opt, final_meta)
    kept = keep_last_good(path, out / LOSSES_NAME)
    logger.info("pretraining finished; a copy is kept in %s", kept[0].parent)
    return path
