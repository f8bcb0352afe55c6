"""Which ``pretrain`` config keys each job depends on (imported by the workflow; no torch).

A job is re-run when one of its parameters changes, so each rule receives only the keys that
change its result: adding a pretraining seed adds a run and re-runs no other, and an optimiser
setting re-runs pretraining but not the corpus.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CORPUS_KEYS: tuple[str, ...] = ("max_pixels", "val_fraction", "corpus_seed")
"""Keys of the ``pretrain`` section that shape the corpus (``include_labelled`` acts through the
corpus rule's inputs)."""

TRAINING_KEYS: tuple[str, ...] = (
    "lr",
    "weight_decay",
    "batch_size",
    "max_epochs",
    "patience",
    "checkpoint_every",
)
"""Keys of the ``pretrain`` section that one pretraining run uses (its seed is a wildcard)."""


def subset(section: Mapping[str, Any], keys: tuple[str, ...], *, name: str = "pretrain") -> dict:
    """``{key: section[key]}`` for ``keys``; a missing key is an error naming it."""
    missing = [k for k in keys if k not in section]
    if missing:
        raise KeyError(f"config section '{name}' lacks keys {missing}")
    return {k: section[k] for k in keys}
