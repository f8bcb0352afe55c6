"""SpecTM's multi-task self-supervised loss.

``total = w_rec * rec + w_idx * idx + w_temp * temp`` (paper: 1.0 / 0.5 / 0.3), each term a mean
squared error in normalised units:

* ``rec``: reconstruction of the masked bands only. Visible bands never enter the loss. With no
  masked band (the ``none`` strategy) the term is 0 and carries no gradient.
* ``idx``: bio-optical indices of the unmasked spectrum, predicted from the pooled token. NaN
  targets (index not computable for that spectrum) are ignored.
* ``temp``: the whole spectrum 8 days later. Rows without a future spectrum (NaN) are ignored.

Every term averages over the elements it uses, so an empty term is exactly 0 (no NaN) and keeps
the autograd graph connected.
"""

from __future__ import annotations

import torch
from torch import Tensor


def selected_mse(pred: Tensor, target: Tensor, select: Tensor) -> Tensor:
    """Mean squared error over the selected elements with a finite target.

    Args:
        pred: Predictions, any shape.
        target: Targets, same shape; NaN entries are ignored.
        select: Boolean, same shape (or broadcastable); only True entries count.

    Returns:
        Scalar float32 tensor; 0 when nothing is selected.

    """
    use = select & torch.isfinite(target)
    diff = torch.where(use, pred.float() - torch.nan_to_num(target.float()), 0.0)
    return (diff**2).sum() / use.sum().clamp(min=1)


def spectm_loss(
    outputs: dict[str, Tensor],
    targets: dict[str, Tensor],
    mask: Tensor,
    *,
    w_rec: float,
    w_idx: float,
    w_temp: float,
) -> dict[str, Tensor]:
    """Compute the weighted multi-task loss and its parts.

    Args:
        outputs: ``reconstruction`` (B, n_bands), ``indices`` (B, n_indices), ``future``
            (B, n_bands), all normalised.
        targets: ``spectrum`` (B, n_bands) the unmasked normalised spectrum; ``indices``
            (B, n_indices) normalised index values (NaN = unknown); ``future`` (B, n_bands)
            normalised spectrum at t + 8 d (NaN = no future spectrum). Missing keys count as
            all-NaN (the term is 0).
        mask: Boolean (B, n_bands), True = band hidden from the encoder.
        w_rec: Weight of the reconstruction term.
        w_idx: Weight of the index term.
        w_temp: Weight of the temporal term.

    Returns:
        Scalars ``total``, ``rec``, ``idx``, ``temp``.

    """
    rec = selected_mse(outputs["reconstruction"], targets["spectrum"], mask)
    zero = outputs["indices"].sum() * 0.0  # graph-connected zero for absent targets
    idx = (
        selected_mse(
            outputs["indices"],
            targets["indices"],
            torch.ones_like(targets["indices"], dtype=torch.bool),
        )
        if "indices" in targets
        else zero
    )
    temp = (
        selected_mse(
            outputs["future"],
            targets["future"],
            torch.ones_like(targets["future"], dtype=torch.bool),
        )
        if "future" in targets
        else zero
    )
    total = w_rec * rec + w_idx * idx + w_temp * temp
    return {"total": total, "rec": rec, "idx": idx, "temp": temp}
