"""The torch device: ``auto`` prefers CUDA, then Apple MPS, then CPU; bf16 autocast on CUDA."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Resolve a device name to an available ``torch.device``.

    Args:
        name: ``auto`` (cuda -> mps -> cpu) or an explicit ``cpu``, ``cuda``, ``cuda:<i>``, ``mps``.

    Returns:
        The device.

    Raises:
        ValueError: if the name is not a device or the requested device is not available here.

    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as err:
        raise ValueError(
            f"device {name!r} is not a torch device (use auto, cpu, cuda, mps)"
        ) from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device {name!r} requested but Apple MPS is not available on this machine"
        )
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {name!r} is not supported (use auto, cpu, cuda, mps)")
    return dev


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bfloat16 autocast on CUDA; a no-op elsewhere (CPU and MPS train in float32)."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` torch CPU threads (None = unchanged), restoring the count after."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
