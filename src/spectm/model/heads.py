"""SpecTM's three self-supervised heads on top of the encoder.

* :class:`ReconstructionHead`: each band token -> its (normalised) value; used at masked bands.
* :class:`IndexHead`: pooled token -> bio-optical indices of the unmasked spectrum.
* :class:`TemporalHead`: each band token together with the pooled token -> the (normalised) value
  of that band 8 days later, so the whole future spectrum comes out on the input band grid.
"""

from __future__ import annotations

from typing import cast

from torch import Tensor, nn
from torch.nn import functional as F


class ReconstructionHead(nn.Module):
    """Linear read-out of one value per band token."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.out = nn.Linear(d_model, 1)

    def forward(self, tokens: Tensor) -> Tensor:
        """Map band tokens (B, n_bands, d_model) to values (B, n_bands)."""
        return self.out(tokens).squeeze(-1)  # (B, n_bands)


class IndexHead(nn.Module):
    """Two-layer MLP from the pooled token to the bio-optical indices."""

    def __init__(self, d_model: int, n_indices: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, n_indices)
        )

    def forward(self, pooled: Tensor) -> Tensor:
        """Map pooled tokens (B, d_model) to indices (B, n_indices)."""
        return self.net(pooled)  # (B, n_indices)


class TemporalHead(nn.Module):
    """Per-band MLP on ``[band token, pooled token]`` -> value of that band at t + 8 d.

    The band token carries what the encoder knows about this wavelength now; the pooled token
    carries the state of the whole spectrum (the water mass), from which change is predicted.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * d_model, d_model), nn.GELU(), nn.Linear(d_model, 1))

    def forward(self, tokens: Tensor, pooled: Tensor) -> Tensor:
        """Map band tokens (B, n_bands, d) and pooled tokens (B, d) to values (B, n_bands).

        The first layer on ``[token, pooled]`` is computed as ``W_t token + (W_p pooled + b)``:
        the same function and parameters, without copying the pooled token to every band.
        """
        first, act, last = cast(tuple[nn.Linear, nn.GELU, nn.Linear], tuple(self.net))
        d = tokens.shape[-1]
        w = first.weight  # (d, 2d): [W_t | W_p]
        ctx = F.linear(pooled, w[:, d:], first.bias)  # (B, d), once per spectrum
        hidden = F.linear(tokens, w[:, :d]) + ctx.unsqueeze(1)  # (B, n_bands, d)
        return last(act(hidden)).squeeze(-1)  # (B, n_bands)
