"""The training loop of the adaptation experiment (nanoGPT-style: one function, no framework).

AdamW over every parameter (decay on matrices and kernels only; the ``learned`` projection,
norms and biases undecayed), chips in a seeded random order each epoch, bf16 autocast on CUDA
only (losses in float32), validation loss after every epoch, early stopping after ``patience``
epochs without improvement, the best epoch's weights restored at the end.

Losses: segmentation = cross-entropy averaged over labelled pixels (label -1, which includes
invalid pixels, ignored; a batch without a labelled pixel is skipped); regression = MSE of the
standardised per-chip target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from spectm.adapt.settings import TASKS
from spectm.model.device import autocast


@dataclass(frozen=True)
class TaskData:
    """Chips and their task targets, on the CPU.

    Attributes:
        x: Reflectance (unitless), ``(n, C, H, W)`` float32, NaN invalid.
        y: Segmentation: class index ``(n, H, W)`` int64 (-1 ignored); regression: standardised
            per-chip target ``(n,)`` float32.

    """

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class FitResult:
    """What training did.

    Attributes:
        history: Per epoch: ``epoch`` (1-based), ``train_loss`` (mean over the epoch's batches)
            and ``val_loss``.
        best_epoch: Epoch whose weights were kept (lowest validation loss; 0 if none improved).
        epochs_run: Epochs trained (< ``epochs`` when early stopping ended training).
        best_val_loss: Validation loss of the kept weights.

    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    best_val_loss: float = math.nan


def task_loss(task: str, out: Tensor, y: Tensor) -> tuple[Tensor, int]:
    """Loss of a batch and the number of targets it averages over.

    Args:
        task: ``segmentation`` or ``regression``.
        out: Logits ``(B, K, H, W)`` or values ``(B,)``.
        y: Class index ``(B, H, W)`` (-1 ignored) or standardised target ``(B,)``.

    Returns:
        The mean loss (float32 scalar) and its count (labelled pixels or chips).

    """
    if task == "segmentation":
        n = int((y >= 0).sum())
        total = F.cross_entropy(out.float(), y, ignore_index=-1, reduction="sum")
        return total / max(n, 1), n
    if task == "regression":
        return F.mse_loss(out.float(), y.float()), int(y.numel())
    raise ValueError(f"unknown task {task!r}; choose from {list(TASKS)}")


def make_optimizer(model: nn.Module, *, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; weight decay on tensors of 2+ dims outside the input stage (``model.inputs``)."""
    stage = getattr(model, "inputs", None)
    inputs = {id(p) for p in stage.parameters()} if isinstance(stage, nn.Module) else set()
    decay: list[nn.Parameter] = []
    plain: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 and id(p) not in inputs else plain).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)


def train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    task: str,
    x: Tensor,
    y: Tensor,
    device: torch.device,
) -> float | None:
    """One optimiser step on a batch; returns its loss (None: no labelled pixel, skipped)."""
    x, y = x.to(device), y.to(device)
    with autocast(device):
        out = model(x)  # (B, K, H, W) or (B,)
    loss, n = task_loss(task, out, y)
    if n == 0:
        return None
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


@torch.no_grad()
def predict(
    model: nn.Module, task: str, x: Tensor, *, batch_size: int, device: torch.device
) -> np.ndarray:
    """Predictions in eval mode.

    Returns:
        Segmentation: class index ``(n, H, W)`` int64; regression: values ``(n,)`` float64
        (standardised units).

    """
    model.eval()
    out = []
    for s in range(0, x.shape[0], batch_size):
        with autocast(device):
            p = model(x[s : s + batch_size].to(device))
        p = p.float().argmax(dim=1) if task == "segmentation" else p.float()
        out.append(p.cpu())
    res = torch.cat(out).numpy()
    return res if task == "segmentation" else res.astype(np.float64)


@torch.no_grad()
def evaluate_loss(
    model: nn.Module, task: str, data: TaskData, *, batch_size: int, device: torch.device
) -> float:
    """Loss over a whole set (per labelled pixel or per chip); NaN when it has no target."""
    model.eval()
    total, count = 0.0, 0
    for s in range(0, len(data), batch_size):
        x, y = data.x[s : s + batch_size].to(device), data.y[s : s + batch_size].to(device)
        with autocast(device):
            out = model(x)
        loss, n = task_loss(task, out, y)
        total, count = total + float(loss) * n, count + n
    return total / count if count else math.nan


def fit_model(
    model: nn.Module,
    task: str,
    train: TaskData,
    val: TaskData,
    *,
    epochs: int,
    patience: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    device: torch.device,
) -> FitResult:
    """Train ``model`` in place with early stopping on ``val``; the best weights are restored.

    Args:
        model: The model, already on ``device`` (see :class:`spectm.adapt.heads.AdaptModel`).
        task: ``segmentation`` or ``regression``.
        train: Training chips.
        val: Validation chips (early stopping).
        epochs: Upper bound on epochs.
        patience: Epochs without a lower validation loss before stopping.
        batch_size: Chips per step.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay (see :func:`make_optimizer`).
        seed: Seeds the chip order of every epoch.
        device: Where to train.

    Returns:
        The training record.

    """
    opt = make_optimizer(model, lr=lr, weight_decay=weight_decay)
    res = FitResult()
    best_state: dict[str, Tensor] | None = None
    best, since = math.inf, 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = np.random.default_rng([seed, epoch]).permutation(len(train))
        losses = []
        for s in range(0, order.size, batch_size):
            idx = torch.as_tensor(order[s : s + batch_size])
            loss = train_step(model, opt, task, train.x[idx], train.y[idx], device)
            if loss is not None:
                losses.append(loss)
        val_loss = evaluate_loss(model, task, val, batch_size=batch_size, device=device)
        train_loss = float(np.mean(losses)) if losses else math.nan
        res.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        res.epochs_run = epoch
        if val_loss < best:
            best, since, res.best_epoch = val_loss, 0, epoch
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            since += 1
            if since >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
        res.best_val_loss = best
    model.eval()
    return res
