"""The resumable training state of SpecTM pretraining (written atomically).

The final artefact ``model.pt`` and everything that uses it live in :mod:`spectm.model.pretrained`.

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

``meta`` is :meth:`spectm.model.pretrained.ModelMeta.to_dict`. The file holds only tensors and
plain Python values, so it loads with ``weights_only=True``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from spectm._io import atomic_path, write_json
from spectm.model.pretrained import CONFIG_NAME

CHECKPOINT_NAME = "checkpoint.pt"
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
