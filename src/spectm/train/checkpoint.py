"""Checkpoint and model files of SpecTM pretraining (written atomically), and using a saved model.

:func:`load_pretrained` loads ``model.pt``; :func:`embed` gives pooled embeddings of spectra and
:func:`reconstruct` predicts hidden bands, both from Rrs in sr-1 on the model's band grid.

``checkpoint.pt`` (resumable training state, see :data:`CHECKPOINT_KEYS`)::

    model              encoder + heads state_dict
    optimizer          AdamW state_dict
    step               optimisation steps done
    epoch              epoch in progress (0-based)
    batch_in_epoch     next batch of that epoch
    stop               early stopping / max_steps reached: nothing left to train
    finished           model.pt written
    rng_torch          torch CPU RNG state (dropout); rng_cuda: CUDA RNG states or []
    best_val           best validation loss so far (inf before the first)
    best_step          step of best_val (-1 before the first)
    best_model         state_dict at best_val, or None
    epochs_since_best  epochs without improvement (early-stopping counter)
    loss_log           list of rows written to losses.csv
    resumed_from       steps at which a run resumed from this checkpoint
    meta               see below

``model.pt`` (final artefact): ``{"model": state_dict, "meta": meta}``. ``meta`` holds the full
resolved configuration and everything needed to use the weights: ``model_config``,
``pretrain_config``, ``grid``, ``wavelengths_nm``, ``gap_filled_nm``, ``norm_mean``/``norm_std``
(per-band Rrs statistics of the train split, sr-1), ``index_names``, ``index_center``/
``index_scale``, ``index_tolerance_nm``, ``mask_strategy``, ``mask_windows_nm``, ``corpus``, and
in ``model.pt`` also the run summary (``best_val``, ``best_step``, ``final_step``, ``epochs_run``,
``stopped_early``, ``resumed_from``, ``n_parameters``, ``torch_version``).

All files hold only tensors and plain Python values, so they load with ``weights_only=True``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from spectm._io import atomic_path, write_json
from spectm.model.encoder import SpecTM, SpecTMConfig
from spectm.model.masking import window_mask

CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.pt"
CONFIG_NAME = "config.json"
LOSSES_NAME = "losses.csv"

CHECKPOINT_KEYS = (
    "model",
    "optimizer",
    "step",
    "epoch",
    "batch_in_epoch",
    "stop",
    "finished",
    "rng_torch",
    "rng_cuda",
    "best_val",
    "best_step",
    "best_model",
    "epochs_since_best",
    "loss_log",
    "resumed_from",
    "meta",
)


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Save a training checkpoint atomically and write ``config.json`` (its ``meta``) beside it.

    Raises:
        ValueError: if ``state`` lacks one of :data:`CHECKPOINT_KEYS`.

    """
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks keys {missing}")
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    write_json(state["meta"], Path(path).parent / CONFIG_NAME)
    return Path(path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` onto the CPU.

    Raises:
        ValueError: naming the file if it is not a SpecTM checkpoint.

    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise ValueError(f"{path} is not a SpecTM checkpoint (missing keys {missing})")
    return dict(state)


def save_model(
    state_dict: dict[str, torch.Tensor], meta: dict[str, Any], path: str | os.PathLike[str]
) -> Path:
    """Save final weights and their metadata atomically (``config.json`` beside it)."""
    with atomic_path(path) as tmp:
        torch.save({"model": state_dict, "meta": meta}, tmp)
    write_json(meta, Path(path).parent / CONFIG_NAME)
    return Path(path)


def load_pretrained(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[SpecTM, dict[str, Any]]:
    """Load a pretrained SpecTM (``model.pt``) in eval mode.

    Args:
        path: A ``model.pt`` written by pretraining.
        device: Where to put the model.

    Returns:
        The model and its ``meta`` dict (config, band grid, normalisation, mask windows, ...).

    Raises:
        ValueError: naming the file if it is not a SpecTM model file.

    """
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "model" not in blob or "meta" not in blob:
        raise ValueError(f"{path} is not a SpecTM model file (expected keys 'model' and 'meta')")
    meta = dict(blob["meta"])
    model = SpecTM(SpecTMConfig.from_dict(meta["model_config"]))
    model.load_state_dict(blob["model"])
    model.to(device).eval()
    return model, meta


def _normalised_input(
    meta: dict[str, Any], spectra: np.ndarray, hidden: np.ndarray | None
) -> tuple[Tensor, Tensor]:
    """Normalised spectra and the mask (NaN bands and ``hidden`` bands are masked)."""
    x = np.asarray(spectra, dtype=float)
    wl = np.asarray(meta["wavelengths_nm"])
    if x.ndim != 2 or x.shape[1] != wl.size:
        raise ValueError(
            f"spectra have shape {x.shape}; the model expects (n, {wl.size}) Rrs on its grid "
            f"{wl[0]:g}-{wl[-1]:g} nm (meta['wavelengths_nm'])"
        )
    mask = ~np.isfinite(x)
    if hidden is not None:
        mask |= np.broadcast_to(np.asarray(hidden, dtype=bool), x.shape)
    if mask.all(axis=1).any():
        raise ValueError(
            f"spectrum row {int(np.flatnonzero(mask.all(axis=1))[0])} has no visible band"
        )
    z = (x - np.asarray(meta["norm_mean"])) / np.asarray(meta["norm_std"])  # (n, n_bands)
    return torch.as_tensor(np.nan_to_num(z), dtype=torch.float32), torch.from_numpy(mask)


@torch.no_grad()
def _run(
    model: SpecTM,
    meta: dict[str, Any],
    spectra: np.ndarray,
    hidden: np.ndarray | None,
    key: str,
    batch_size: int,
) -> np.ndarray:
    x, mask = _normalised_input(meta, spectra, hidden)
    device = next(model.parameters()).device
    wl = torch.tensor(meta["wavelengths_nm"], dtype=torch.float32, device=device)
    model.eval()
    parts = []
    for start in range(0, x.shape[0], batch_size):
        xb, mb = (
            x[start : start + batch_size].to(device),
            mask[start : start + batch_size].to(device),
        )
        out, _ = model(xb, wl, mb)
        parts.append(out[key].float().cpu().numpy())
    return np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)


def embed(
    model: SpecTM,
    meta: dict[str, Any],
    spectra: np.ndarray,
    *,
    hide_windows: bool = False,
    batch_size: int = 1024,
) -> np.ndarray:
    """Pooled SpecTM embeddings of spectra (eval mode, no gradients, batched).

    Args:
        model: From :func:`load_pretrained`.
        meta: Its metadata.
        spectra: Rrs (sr-1) on the model grid ``meta['wavelengths_nm']``, shape (n, n_bands).
            NaN bands are treated as masked (mask token).
        hide_windows: Also mask the diagnostic windows ``meta['mask_windows_nm']`` (the input the
            targeted-pretrained encoder saw); default: every finite band is visible.
        batch_size: Spectra per forward pass.

    Returns:
        Embeddings, float32, shape (n, d_model).

    """
    hidden = window_mask(meta["wavelengths_nm"], meta["mask_windows_nm"]) if hide_windows else None
    out = _run(model, meta, spectra, hidden, "embedding", batch_size)
    return out.reshape(len(np.asarray(spectra)), model.cfg.d_model)


def reconstruct(
    model: SpecTM,
    meta: dict[str, Any],
    spectra: np.ndarray,
    hidden: np.ndarray,
    *,
    batch_size: int = 1024,
) -> np.ndarray:
    """Reconstruct hidden bands of spectra.

    Args:
        model: From :func:`load_pretrained`.
        meta: Its metadata.
        spectra: Rrs (sr-1) on the model grid, shape (n, n_bands); values at hidden bands unused.
        hidden: Bands to mask, shape (n_bands,) or (n, n_bands), True = hidden.
        batch_size: Spectra per forward pass.

    Returns:
        Reconstructed Rrs (sr-1, de-normalised), shape (n, n_bands); meaningful at hidden bands.

    """
    z = _run(model, meta, spectra, hidden, "reconstruction", batch_size)
    return z * np.asarray(meta["norm_std"]) + np.asarray(meta["norm_mean"])
