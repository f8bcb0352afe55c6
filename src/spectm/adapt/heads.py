"""Task heads shared by TerraMind and the full-HSI CNN, and the assembled model.

Segmentation: an FCN decoder of ``channels`` (paper: 256) after terratorch's ``FCNDecoder``
design: per factor 2 of the encoder's stride one stage (2x2 transposed convolution stride 2 ->
3x3 convolution -> channel LayerNorm -> GELU), so the logits come back at chip resolution, then
a 1x1 convolution to the classes. An encoder of stride 1 gets one stage with a 1x1 convolution
in place of the transposed one. Regression: the feature map averaged over space, then
``Linear(D, hidden) -> ReLU -> Linear(hidden, 1)`` (paper: "linear head, hidden 256").
"""

from __future__ import annotations

import math

from torch import Tensor, nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of every pixel of ``(B, C, H, W)``."""

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FCNHead(nn.Module):
    """Features ``(B, D, H/s, W/s)`` -> class logits ``(B, K, H, W)``.

    Args:
        in_channels: Feature channels D.
        n_classes: Classes K.
        channels: Decoder channels (paper: 256).
        stride: Encoder stride s, a power of 2 (16 for TerraMind, 1 for the full-HSI CNN).

    """

    def __init__(self, in_channels: int, n_classes: int, *, channels: int, stride: int) -> None:
        super().__init__()
        n_up = round(math.log2(stride)) if stride >= 1 else -1
        if n_up < 0 or 2**n_up != stride:
            raise ValueError(f"encoder stride must be a power of 2, got {stride}")
        stages: list[nn.Module] = []
        for i in range(max(n_up, 1)):
            c_in = in_channels if i == 0 else channels
            first = (
                nn.ConvTranspose2d(c_in, channels, kernel_size=2, stride=2)
                if i < n_up
                else nn.Conv2d(c_in, channels, kernel_size=1)
            )
            conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
            stages.append(nn.Sequential(first, conv, LayerNorm2d(channels, eps=1e-6), nn.GELU()))
        self.stages = nn.Sequential(*stages)
        self.classifier = nn.Conv2d(channels, n_classes, kernel_size=1)

    def forward(self, z: Tensor) -> Tensor:
        """``(B, D, H/s, W/s)`` -> ``(B, K, H, W)``."""
        return self.classifier(self.stages(z))  # (B, K, H, W)


class RegressionHead(nn.Module):
    """Features ``(B, D, h, w)`` -> one value per chip ``(B,)`` (standardised target units).

    Args:
        in_channels: Feature channels D.
        hidden: Hidden units (paper: 256).

    """

    def __init__(self, in_channels: int, *, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, z: Tensor) -> Tensor:
        """``(B, D, h, w)`` -> ``(B,)``."""
        pooled = z.mean(dim=(2, 3))  # (B, D)
        return self.mlp(pooled).squeeze(-1)  # (B,)


class AdaptModel(nn.Module):
    """Input stage -> encoder -> head: raw reflectance ``(B, C, H, W)`` (NaN invalid) in.

    Args:
        inputs: Reflectance -> encoder input (a :class:`~spectm.adapt.projection.SpectralProjection`
            for TerraMind, band standardisation for the full-HSI CNN); invalid pixels become 0.
        encoder: Module with ``out_channels`` and ``stride`` attributes.
        head: :class:`FCNHead` (logits ``(B, K, H, W)``) or :class:`RegressionHead` (``(B,)``).

    """

    def __init__(self, inputs: nn.Module, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.inputs = inputs
        self.encoder = encoder
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        """Reflectance ``(B, C, H, W)`` -> logits ``(B, K, H, W)`` or values ``(B,)``."""
        return self.head(self.encoder(self.inputs(x)))


def make_head(
    task: str, encoder: nn.Module, *, n_classes: int, decoder_channels: int, head_hidden: int
) -> nn.Module:
    """The head of a task for an encoder (``out_channels``, ``stride``).

    Args:
        task: ``segmentation`` or ``regression``.
        encoder: The encoder the head sits on.
        n_classes: Classes (segmentation).
        decoder_channels: FCN decoder channels.
        head_hidden: Regression hidden units.

    Returns:
        The head.

    """
    d, stride = int(encoder.out_channels), int(encoder.stride)  # type: ignore[arg-type]
    if task == "segmentation":
        return FCNHead(d, n_classes, channels=decoder_channels, stride=stride)
    if task == "regression":
        return RegressionHead(d, hidden=head_hidden)
    raise ValueError(f"unknown task {task!r}; choose segmentation or regression")
