"""TerraMind from terratorch's backbone registry for S2L2A input, with offline weights only.

``build_terramind`` makes ``terratorch_terramind_v1_<size>`` (``TerraMindViT``, patch 16) for
the one modality ``S2L2A`` at the chip size (fixed 2-D sin-cos positional embeddings built for
that size) and wraps it as a feature map encoder (:class:`TerraMindEncoder`).

Weights are never downloaded: they come from ``weights_path`` when given, else from the local
Hugging Face cache when it already holds the backbone's checkpoint (``try_to_load_from_cache``,
which reads only the disk), else the model keeps terratorch's random initialisation. The
returned ``weights`` string (``pretrained`` or ``random``) goes into every result row.
Loading is strict except for the positional-embedding buffer, which is recomputed for the chip
size: a checkpoint lacking any other encoder weight is refused instead of silently mixing
pretrained and random layers.

Importing terratorch takes about 10 s (it imports its datasets, torchgeo, diffusers, ...), so it
is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from spectm._io import PathLike

logger = logging.getLogger(__name__)

BACKBONES: tuple[str, ...] = (
    "terratorch_terramind_v1_tiny",
    "terratorch_terramind_v1_small",
    "terratorch_terramind_v1_base",
    "terratorch_terramind_v1_large",
)
"""Supported registry names (TerraMind v1, whose S2L2A statistics we standardise with)."""

MODALITY = "S2L2A"
"""TerraMind's input modality: the 12 Sentinel-2 L2A bands, standardised reflectance x 10^4."""


@contextlib.contextmanager
def _keep_matmul_precision() -> Iterator[None]:
    """Import terratorch without letting it change torch's float32 matmul precision.

    Importing terratorch sets ``torch.set_float32_matmul_precision("medium")`` for the whole
    process (on a CPU with bf16 support that lowers the precision of every float32 matmul);
    the setting the process had is restored.
    """
    before = torch.get_float32_matmul_precision()
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def _hub_file(backbone: str) -> tuple[str, str]:
    """Hugging Face (repo id, file name) of a backbone's checkpoint, as terratorch downloads it."""
    with _keep_matmul_precision():
        from terratorch.models.backbones.terramind.model.terramind_register import (
            pretrained_weights,
        )

    entry = pretrained_weights[backbone.removeprefix("terratorch_")]
    return str(entry["hf_hub_id"]), str(entry["hf_hub_filename"])


def find_pretrained_weights(
    backbone: str, weights_path: PathLike | None, *, cache_dir: PathLike | None = None
) -> Path | None:
    """The checkpoint to load, without touching the network.

    Args:
        backbone: Registry name (one of :data:`BACKBONES`).
        weights_path: A configured checkpoint file, or None to look in the Hugging Face cache.
        cache_dir: Hugging Face hub cache (None = its default, ``HF_HUB_CACHE``).

    Returns:
        The checkpoint file, or None when there is none locally (random initialisation).

    Raises:
        FileNotFoundError: when ``weights_path`` is given but is not a file.

    """
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"TerraMind weights_path {path} is not a file")
        return path
    from huggingface_hub import try_to_load_from_cache

    repo, name = _hub_file(backbone)
    hit = try_to_load_from_cache(
        repo, name, cache_dir=None if cache_dir is None else Path(cache_dir)
    )
    return Path(hit) if isinstance(hit, str) else None


def _state_dict(path: Path) -> dict[str, Tensor]:
    state: Any = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):  # wrapped checkpoints
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict")
    return state


def load_terramind_weights(vit: nn.Module, path: Path) -> None:
    """Load a TerraMind checkpoint into ``vit`` (every weight but the positional embedding).

    Keys of other modalities and of the decoder in the checkpoint are ignored.

    Raises:
        ValueError: when the checkpoint lacks (or has another shape for) any encoder weight.

    """
    state = _state_dict(path)
    own = vit.state_dict()
    use = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    lacking = [k for k in own if k not in use and not k.endswith(".pos_emb")]
    if lacking:
        raise ValueError(
            f"{path}: no matching weights for {len(lacking)} of {len(own)} TerraMind tensors "
            f"(e.g. {lacking[:3]}); is it the checkpoint of this backbone?"
        )
    vit.load_state_dict(use, strict=False)
    logger.info("loaded TerraMind weights from %s (%d tensors)", path, len(use))


class TerraMindEncoder(nn.Module):
    """TerraMind as a feature-map encoder: S2L2A ``(B, 12, H, W)`` -> ``(B, D, H/p, W/p)``.

    The features are the last block's tokens after the encoder norm, put back on the patch grid
    (token ``i * (W/p) + j`` is patch row ``i``, column ``j``, as TerraMind patchifies).

    Attributes:
        vit: terratorch's ``TerraMindViT``.
        out_channels: Feature channels D (192 tiny, 384 small, 768 base, 1024 large).
        stride: Patch size p (16).

    """

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit
        self.out_channels = int(vit.out_channels[-1])  # type: ignore[index]
        embeddings: Any = vit.encoder_embeddings
        self.stride = int(next(iter(embeddings.values())).patch_size[0])

    def forward(self, x: Tensor) -> Tensor:
        """Standardised S2L2A ``(B, 12, H, W)`` -> features ``(B, D, H/p, W/p)``."""
        b, _, h, w = x.shape
        tokens = self.vit(x)[-1]  # (B, N, D), N = (H/p)(W/p)
        grid = tokens.transpose(1, 2)  # (B, D, N)
        return grid.reshape(b, self.out_channels, h // self.stride, w // self.stride)


def build_terramind(
    backbone: str,
    *,
    img_size: int,
    weights_path: PathLike | None,
    cache_dir: PathLike | None = None,
) -> tuple[TerraMindEncoder, str]:
    """TerraMind for S2L2A chips of ``img_size`` x ``img_size`` pixels.

    Args:
        backbone: Registry name (one of :data:`BACKBONES`).
        img_size: Chip side (pixels), a multiple of the patch size 16.
        weights_path: A checkpoint file, or None for the Hugging Face cache (see the module).
        cache_dir: Hugging Face hub cache (None = its default).

    Returns:
        The encoder (random parameters drawn from torch's current RNG state) and ``weights``:
        ``pretrained`` or ``random``.

    Raises:
        ValueError: for an unknown backbone or a chip size that is not a multiple of 16.

    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown TerraMind backbone {backbone!r}; choose from {list(BACKBONES)}")
    if img_size < 16 or img_size % 16:
        raise ValueError(f"chip size {img_size} must be a positive multiple of 16 (patch size)")
    with _keep_matmul_precision():
        from terratorch.registry import BACKBONE_REGISTRY

    vit = BACKBONE_REGISTRY.build(
        backbone, modalities=[MODALITY], pretrained=False, img_size=img_size, merge_method="mean"
    )
    path = find_pretrained_weights(backbone, weights_path, cache_dir=cache_dir)
    if path is None:
        logger.warning("no local %s checkpoint: TerraMind is randomly initialised", backbone)
        return TerraMindEncoder(vit), "random"
    load_terramind_weights(vit, path)
    return TerraMindEncoder(vit), "pretrained"
