"""SpecTM: a small transformer over the bands of one spectrum (one token per band).

Token design (assumption, the paper does not publish it):

* value embedding: ``Linear(1, d_model)`` of the band's normalised Rrs;
* a learned mask token replaces the value embedding of a masked band;
* wavelength encoding: sinusoidal features of the band wavelength in nm (periods from
  ``min_period_nm`` to ``max_period_nm``, geometric) -> ``Linear``, added to every band token, so
  the encoder accepts any band grid;
* a learned CLS token is prepended; its final state is the pooled spectrum embedding that the
  index and temporal heads read. For probing, :func:`pool` also offers the mean of the final band
  tokens over the visible bands (``mean``) or over the visible bands inside the diagnostic
  windows (``window``).

The encoder is a stack of pre-norm transformer blocks (bidirectional attention), nanoGPT style.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from spectm.model.heads import IndexHead, ReconstructionHead, TemporalHead
from spectm.model.losses import spectm_loss


@dataclass(frozen=True)
class SpecTMConfig:
    """Architecture and loss weights of SpecTM.

    Attributes:
        n_bands: Bands of the pretraining grid (recorded for loading; the encoder itself accepts
            any grid because bands are identified by wavelength, not position).
        n_indices: Outputs of the bio-optical index head.
        n_layers: Transformer blocks.
        d_model: Token width.
        n_heads: Attention heads (must divide ``d_model``).
        mlp_ratio: Hidden width of the block MLP relative to ``d_model``.
        dropout: Dropout on attention weights, residual branches and embeddings (default 0,
            as in MAE/nanoGPT pretraining on plentiful data; it also costs CPU time).
        n_wavelength_freqs: Sinusoid frequencies of the wavelength encoding.
        min_period_nm: Shortest sinusoid period (nm); about the band spacing.
        max_period_nm: Longest sinusoid period (nm); longer than the spectral range.
        w_rec: Weight of the masked-band reconstruction loss (paper: 1.0).
        w_idx: Weight of the bio-optical index loss (paper: 0.5).
        w_temp: Weight of the 8-day-ahead loss (paper: 0.3).

    """

    n_bands: int = 122
    n_indices: int = 6
    n_layers: int = 6
    d_model: int = 256
    n_heads: int = 8
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    n_wavelength_freqs: int = 16
    min_period_nm: float = 2.0
    max_period_nm: float = 2000.0
    w_rec: float = 1.0
    w_idx: float = 0.5
    w_temp: float = 0.3

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"model config: d_model={self.d_model} not divisible by n_heads={self.n_heads}"
            )
        for key in ("n_bands", "n_indices", "n_layers", "d_model", "n_heads", "n_wavelength_freqs"):
            if getattr(self, key) < 1:
                raise ValueError(f"model config: {key} must be >= 1, got {getattr(self, key)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model config: dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON- and checkpoint-safe)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpecTMConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown SpecTM config keys {unknown}; known: {sorted(known)}")
        return cls(**d)


PRESETS: dict[str, SpecTMConfig] = {
    # the paper's encoder: 6-layer, 256-dim, 8 heads (reported "about 6 M parameters")
    "paper": SpecTMConfig(n_layers=6, d_model=256, n_heads=8),
    # between the two, for a 2-core CPU budget: 0.85 M parameters; a pretraining step (batch 64,
    # 122 bands, 2 threads) takes about 4x tiny's time and a sixth of paper's
    "small": SpecTMConfig(n_layers=4, d_model=128, n_heads=4),
    # CPU demo and tests
    "tiny": SpecTMConfig(n_layers=2, d_model=64, n_heads=4),
}


def preset_config(name: str, **overrides: Any) -> SpecTMConfig:
    """Return a named preset (``paper``, ``small`` or ``tiny``) with field overrides.

    Args:
        name: Preset name, a key of :data:`PRESETS`.
        **overrides: :class:`SpecTMConfig` fields to replace (e.g. ``n_bands=172``).

    Raises:
        ValueError: naming the unknown preset and the known ones.

    """
    if name not in PRESETS:
        raise ValueError(f"unknown SpecTM preset {name!r}; expected one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)


class WavelengthEncoding(nn.Module):
    """Sinusoidal features of the wavelength (nm) followed by a linear map to ``d_model``."""

    def __init__(self, cfg: SpecTMConfig) -> None:
        super().__init__()
        k = torch.arange(cfg.n_wavelength_freqs, dtype=torch.float64)
        ratio = cfg.min_period_nm / cfg.max_period_nm
        periods = cfg.max_period_nm * ratio ** (k / max(cfg.n_wavelength_freqs - 1, 1))
        self.angular: Tensor
        self.register_buffer("angular", (2 * math.pi / periods).float(), persistent=False)
        self.proj = nn.Linear(2 * cfg.n_wavelength_freqs, cfg.d_model)

    def forward(self, wavelengths_nm: Tensor) -> Tensor:
        """Encode wavelengths (..., n_bands) in nm as (..., n_bands, d_model)."""
        phase = wavelengths_nm.float().unsqueeze(-1) * self.angular  # (..., n_bands, n_freqs)
        return self.proj(torch.cat([phase.sin(), phase.cos()], dim=-1))  # (..., n_bands, d)


class SelfAttention(nn.Module):
    """Multi-head bidirectional self-attention."""

    def __init__(self, cfg: SpecTMConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """Attend over tokens x (B, T, d) -> (B, T, d)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, d)
        q = q.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)  # (B, h, T, d/h)
        k = k.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)  # (B, h, T, d/h)
        v = v.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)  # (B, h, T, d/h)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # (B, h, T, d/h)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, d)
        return self.resid_drop(self.proj(y))  # (B, T, d)


class MLP(nn.Module):
    """Position-wise feed-forward network."""

    def __init__(self, cfg: SpecTMConfig) -> None:
        super().__init__()
        hidden = int(cfg.mlp_ratio * cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, hidden)
        self.proj = nn.Linear(hidden, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, d) -> (B, T, d)."""
        return self.drop(self.proj(F.gelu(self.fc(x))))  # (B, T, d)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln(x))`` then ``x + mlp(ln(x))``."""

    def __init__(self, cfg: SpecTMConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, d) -> (B, T, d)."""
        x = x + self.attn(self.ln_1(x))  # (B, T, d)
        return x + self.mlp(self.ln_2(x))  # (B, T, d)


class SpecTM(nn.Module):
    """Spectral transformer with reconstruction, index and 8-day-ahead heads."""

    def __init__(self, cfg: SpecTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.value_embed = nn.Linear(1, d)
        self.mask_token = nn.Parameter(torch.zeros(d))
        self.wavelength_enc = WavelengthEncoding(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.ln_f = nn.LayerNorm(d)
        self.rec_head = ReconstructionHead(d)
        self.idx_head = IndexHead(d, cfg.n_indices)
        self.temp_head = TemporalHead(d)
        self.apply(self._init_weights)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.normal_(self.cls_token, std=0.02)
        for name, p in self.named_parameters():  # scaled init of residual projections (GPT-2)
            if name.endswith("proj.weight") and ".blocks." in f".{name}":
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def encode(self, x: Tensor, wavelengths: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Run the encoder.

        Args:
            x: Normalised spectra (B, n_bands). Values at masked bands are never read.
            wavelengths: Band wavelengths in nm, (n_bands,) or (B, n_bands).
            mask: Boolean (B, n_bands), True = band hidden (value replaced by the mask token).

        Returns:
            Pooled embedding (B, d_model) and band tokens (B, n_bands, d_model).

        """
        B = x.shape[0]
        x = torch.where(mask, 0.0, x)  # (B, N) hidden values cannot leak (NaN-safe too)
        val = self.value_embed(x.unsqueeze(-1))  # (B, N, d)
        val = torch.where(mask.unsqueeze(-1), self.mask_token.to(val.dtype), val)  # (B, N, d)
        tok = val + self.wavelength_enc(wavelengths)  # (B, N, d)
        h = torch.cat([self.cls_token.expand(B, 1, -1).to(tok.dtype), tok], dim=1)  # (B, 1+N, d)
        h = self.drop(h)
        for block in self.blocks:
            h = block(h)  # (B, 1+N, d)
        h = self.ln_f(h)  # (B, 1+N, d)
        return h[:, 0], h[:, 1:]  # (B, d), (B, N, d)

    def forward(
        self,
        x: Tensor,
        wavelengths: Tensor,
        mask: Tensor,
        targets: dict[str, Tensor] | None = None,
    ) -> tuple[dict[str, Tensor], dict[str, Tensor] | None]:
        """Encode, apply the heads and, given targets, the multi-task loss.

        Args:
            x: Normalised spectra (B, n_bands).
            wavelengths: Band wavelengths in nm, (n_bands,) or (B, n_bands).
            mask: Boolean (B, n_bands), True = masked.
            targets: Optional ``spectrum`` (B, n_bands), ``indices`` (B, n_indices) and
                ``future`` (B, n_bands), normalised, NaN = unknown (see
                :func:`spectm.model.losses.spectm_loss`).

        Returns:
            ``outputs`` with ``embedding`` (B, d_model), ``reconstruction`` (B, n_bands),
            ``indices`` (B, n_indices), ``future`` (B, n_bands); and the loss dict (``total``,
            ``rec``, ``idx``, ``temp``) or None without targets.

        """
        pooled, tokens = self.encode(x, wavelengths, mask)  # (B, d), (B, N, d)
        outputs = {
            "embedding": pooled,  # (B, d)
            "reconstruction": self.rec_head(tokens),  # (B, N)
            "indices": self.idx_head(pooled),  # (B, n_indices)
            "future": self.temp_head(tokens, pooled),  # (B, N)
        }
        if targets is None:
            return outputs, None
        losses = spectm_loss(
            outputs,
            targets,
            mask,
            w_rec=self.cfg.w_rec,
            w_idx=self.cfg.w_idx,
            w_temp=self.cfg.w_temp,
        )
        return outputs, losses


def count_parameters(model: nn.Module) -> int:
    """Count the trainable parameters of a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


POOLINGS: tuple[str, ...] = ("cls", "mean", "window")
"""Spectrum embeddings :func:`pool` can form from the encoder output."""


def pool(
    cls_state: Tensor, tokens: Tensor, mask: Tensor, how: str, window: Tensor | None = None
) -> Tensor:
    """One embedding per spectrum from the encoder output (:meth:`SpecTM.encode`).

    Args:
        cls_state: Final CLS state, shape (B, d_model).
        tokens: Final band tokens, shape (B, n_bands, d_model).
        mask: Boolean (B, n_bands), True = band hidden from the encoder.
        how: ``cls`` (``cls_state`` itself), ``mean`` (mean of the tokens of the visible bands) or
            ``window`` (mean of the tokens of the visible bands where ``window`` is True).
        window: Boolean (n_bands,), the bands inside the diagnostic windows (``window`` only).

    Returns:
        Embeddings, shape (B, d_model).

    Raises:
        ValueError: on an unknown ``how`` (naming :data:`POOLINGS`), ``window`` pooling without
            ``window``, or a spectrum with no band to pool (naming its row in the batch).

    """
    if how not in POOLINGS:
        raise ValueError(f"unknown pooling {how!r}; expected one of {POOLINGS}")
    if how == "cls":
        return cls_state
    keep = ~mask  # (B, N)
    if how == "window":
        if window is None:
            raise ValueError("pooling 'window' needs the window bands (window, shape (n_bands,))")
        keep = keep & window.to(device=mask.device, dtype=torch.bool)  # (B, N)
    count = keep.sum(dim=1)  # (B,)
    if bool((count == 0).any()):
        row = int(torch.nonzero(count == 0)[0])
        raise ValueError(f"pooling {how!r}: spectrum row {row} has no visible band to pool")
    w = keep.to(tokens.dtype).unsqueeze(-1)  # (B, N, 1)
    return (tokens * w).sum(dim=1) / count.to(tokens.dtype).unsqueeze(-1)  # (B, d)
