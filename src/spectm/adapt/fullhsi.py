"""The full-HSI upper bound: a small spectral-spatial CNN of ours on every selected EnMAP band.

Reflectance is standardised band by band with the training chips' statistics (valid pixels),
invalid pixels (any NaN band) set to 0 afterwards, as for the projections; then a 1x1
convolution reduces the C bands to ``width`` channels (the spectral stage), and ``n_conv`` 3x3
convolutions (GroupNorm, GELU) mix space at full resolution (stride 1). It is trained from
scratch with the same heads (:mod:`spectm.adapt.heads`), loss, optimiser and early stopping as
TerraMind. The paper's upper bound is SpectralEarth's pretrained full-HSI models; this one is
not pretrained, so it bounds what all bands give a small model, not a foundation model.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

WIDTH = 64
"""Channels after the 1x1 spectral reduction."""
CHANNELS = 128
"""Channels of the 3x3 spatial convolutions (the encoder's ``out_channels``)."""
N_CONV = 3
"""Number of 3x3 convolutions."""


def band_statistics(reflectance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation over the valid pixels of chips.

    Args:
        reflectance: Reflectance (unitless), ``(n, C, H, W)``, NaN invalid.

    Returns:
        Mean and std (unitless), each ``(C,)``; a zero std becomes 1.

    Raises:
        ValueError: when no pixel is valid in every band.

    """
    x = np.moveaxis(np.asarray(reflectance, dtype=np.float64), 1, -1).reshape(
        -1, reflectance.shape[1]
    )  # (n*H*W, C)
    x = x[np.isfinite(x).all(axis=1)]
    if not x.shape[0]:
        raise ValueError("no valid pixel to standardise the bands with")
    std = x.std(axis=0)
    return x.mean(axis=0), np.where(std > 0, std, 1.0)


class BandStandardise(nn.Module):
    """Reflectance ``(B, C, H, W)`` -> ``(x - mean) / std`` per band; invalid pixels -> 0."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))  # (C,)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))  # (C,)
        self.mean: Tensor
        self.std: Tensor

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        valid = torch.isfinite(x).all(dim=1, keepdim=True)  # (B, 1, H, W)
        z = (x.float() - self.mean[:, None, None]) / self.std[:, None, None]
        return torch.where(valid, z, torch.zeros_like(z))  # (B, C, H, W)


class FullHSIEncoder(nn.Module):
    """Standardised bands ``(B, C, H, W)`` -> features ``(B, CHANNELS, H, W)`` (stride 1).

    Args:
        n_bands: Input bands C.

    """

    def __init__(self, n_bands: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(n_bands, WIDTH, kernel_size=1), nn.GELU()]
        c_in = WIDTH
        for _ in range(N_CONV):
            layers += [
                nn.Conv2d(c_in, CHANNELS, kernel_size=3, padding=1),
                nn.GroupNorm(8, CHANNELS),
                nn.GELU(),
            ]
            c_in = CHANNELS
        self.net = nn.Sequential(*layers)
        self.out_channels = CHANNELS
        self.stride = 1

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, CHANNELS, H, W)``."""
        return self.net(x)
