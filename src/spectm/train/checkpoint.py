"""The resumable state of SpecTM pretraining (:class:`TrainState`) and its file, written atomically.

The final artefact ``model.pt`` and everything that uses it live in :mod:`spectm.model.pretrained`.

``checkpoint.pt`` is one torch file holding a plain dict::

    model       encoder + heads state_dict
    optimizer   AdamW state_dict
    meta        spectm.model.pretrained.ModelMeta.to_dict()
    state       the fields of TrainState (see there), by name

``config.json`` beside it holds ``meta`` again. The file holds only tensors and plain Python values,
so it loads with ``weights_only=True``. The dataclasses are converted to and from dicts only here,
at the file boundary.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from spectm._io import atomic_path, write_json
from spectm.model.pretrained import CONFIG_NAME, ModelMeta, load_torch_file

CHECKPOINT_NAME = "checkpoint.pt"
LOSSES_NAME = "losses.csv"


def cuda_rng_states() -> list[Tensor]:
    """The CUDA RNG state of every device ([] without CUDA)."""
    return torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []


@dataclass(eq=False)
class TrainState:
    """Everything besides weights and optimiser that a checkpoint needs to resume a run exactly.

    The defaults are those of a run that has not started; the RNG states default to the
    current ones. No ``==`` (it holds tensors): compare field by field.

    Attributes:
        step: Optimisation steps done.
        epoch: Epoch in progress (0-based); after the last epoch, the number of epochs run.
        batch_in_epoch: Next batch of that epoch (0-based).
        stop: Early stopping or ``max_steps`` ended training: nothing left to train.
        finished: ``model.pt`` is written.
        best_val: Best validation loss so far (inf before the first).
        best_step: Step of ``best_val`` (-1 before the first).
        best_model: CPU state_dict at ``best_val``, or None.
        epochs_since_best: Epochs without improvement (the early-stopping counter).
        loss_log: The rows of ``losses.csv`` (step, epoch, split, rec, idx, temp, total).
        resumed_from: Steps at which the run resumed from a checkpoint.
        rng_torch: Torch CPU RNG state (uint8 tensor; dropout draws from it).
        rng_cuda: CUDA RNG state per device ([] without CUDA).

    """

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    stop: bool = False
    finished: bool = False
    best_val: float = math.inf
    best_step: int = -1
    best_model: dict[str, Tensor] | None = None
    epochs_since_best: int = 0
    loss_log: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: list[int] = field(default_factory=list)
    rng_torch: Tensor = field(default_factory=torch.get_rng_state)
    rng_cuda: list[Tensor] = field(default_factory=cuda_rng_states)


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """The contents of ``checkpoint.pt`` (no ``==``: it holds tensors).

    Attributes:
        state: Progress of the run.
        model: SpecTM state_dict (encoder and heads).
        optimizer: AdamW state_dict.
        meta: Metadata of the model being trained (with its summary once finished).

    """

    state: TrainState
    model: dict[str, Tensor]
    optimizer: dict[str, Any]
    meta: ModelMeta


_STATE_FIELDS = [f.name for f in fields(TrainState)]
_TOP_KEYS = ["model", "optimizer", "meta", "state"]


def save_checkpoint(ckpt: Checkpoint, path: str | os.PathLike[str]) -> Path:
    """Save a training checkpoint atomically and write ``config.json`` (its meta) beside it.

    Args:
        ckpt: What to save.
        path: Destination, usually ``out_dir/checkpoint.pt``.

    Returns:
        ``path``.

    """
    meta = ckpt.meta.to_dict()
    blob = {
        "model": ckpt.model,
        "optimizer": ckpt.optimizer,
        "meta": meta,
        "state": {name: getattr(ckpt.state, name) for name in _STATE_FIELDS},
    }
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    write_json(meta, Path(path).parent / CONFIG_NAME)
    return Path(path)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` onto the CPU.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file if it is not a torch file (empty, truncated, another
            format, or refused by the weights-only loader,
            :func:`~spectm.model.pretrained.load_torch_file`), or not a SpecTM pretraining
            checkpoint of this version (e.g. an older version's).

    """
    blob = load_torch_file(path, "a SpecTM pretraining checkpoint.pt (delete it to start afresh)")
    top = blob if isinstance(blob, dict) else {}
    state = top.get("state")
    missing = [k for k in _TOP_KEYS if k not in top]
    if isinstance(state, dict):
        missing += [f"state.{k}" for k in _STATE_FIELDS if k not in state]
    if missing or not isinstance(state, dict):
        raise ValueError(
            f"{path} is not a SpecTM pretraining checkpoint of this version (missing "
            f"{missing or ['state']}); delete it or pretrain with resume=False to start afresh"
        )
    return Checkpoint(
        state=TrainState(**{k: state[k] for k in _STATE_FIELDS}),
        model=top["model"],
        optimizer=top["optimizer"],
        meta=ModelMeta.from_dict(dict(top["meta"]), what=str(path)),
    )
