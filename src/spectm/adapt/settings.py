"""Settings of the TerraMind channel-adaptation experiment, and its method and task names."""

from __future__ import annotations

from dataclasses import dataclass

from spectm.config.sections import _Section

METHODS: tuple[str, ...] = ("naive", "srf", "learned", "full_hsi")
"""Input methods: three EnMAP -> S2L2A projections into TerraMind, and the full-HSI CNN."""

PROJECTIONS: tuple[str, ...] = ("naive", "srf", "learned")
"""The methods that feed TerraMind through a projection to the 12 S2L2A bands."""

TASKS: tuple[str, ...] = ("segmentation", "regression")
"""Tasks: per-pixel classes (mIoU) and the per-chip mean of ``target`` (R²)."""


@dataclass(frozen=True)
class AdaptConfig(_Section):
    """``adapt``: the channel-adaptation experiment (every key is configured; no defaults here).

    Attributes:
        backbone: terratorch registry name of TerraMind (``terratorch_terramind_v1_tiny``,
            ``..._small``, ``..._base``, ``..._large``).
        weights_path: A TerraMind checkpoint file; None = the Hugging Face cache if it holds the
            backbone's checkpoint, else random initialisation (never downloaded).
        srf_target: Sentinel-2 unit of the SRF table (``S2A``, ``S2B``, ``S2C``).
        srf_version: ESA SRF table version (``"4.0"`` or ``"3.0"``).
        min_coverage: Fraction of each S2 band's response EnMAP must cover (else an error).
        decoder_channels: Channels of the FCN segmentation decoder (paper: 256).
        head_hidden: Hidden units of the regression head (paper: 256).
        epochs: Upper bound on training epochs (paper: 100).
        patience: Epochs without validation-loss improvement before stopping (paper: 20).
        batch_size: Chips per step.
        lr: AdamW learning rate (every parameter).
        weight_decay: AdamW weight decay (matrices and convolution kernels; not the learned
            projection, norms or biases).
        val_fraction: Fraction of scenes held out for early stopping (at least one).
        test_fraction: Fraction of scenes held out for the test metric (at least one).
        split_seed: Seed of the scene split (the same split for every method and seed).
        methods: Methods run (from :data:`METHODS`).
        tasks: Tasks run (from :data:`TASKS`).
        seeds: Seeds of model initialisation and batch order (paper: 10 seeds).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:<i>`` or ``mps``.
        num_threads: torch CPU threads (None = torch's default).

    """

    backbone: str
    weights_path: str | None
    srf_target: str
    srf_version: str
    min_coverage: float
    decoder_channels: int
    head_hidden: int
    epochs: int
    patience: int
    batch_size: int
    lr: float
    weight_decay: float
    val_fraction: float
    test_fraction: float
    split_seed: int
    methods: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    device: str
    num_threads: int | None

    def __post_init__(self) -> None:
        for key in ("epochs", "patience", "batch_size", "decoder_channels", "head_hidden"):
            if getattr(self, key) < 1:
                raise ValueError(f"adapt config: {key} must be >= 1, got {getattr(self, key)}")
        if not self.lr > 0:
            raise ValueError(f"adapt config: lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"adapt config: weight_decay must be >= 0, got {self.weight_decay}")
        for key in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(self, key) < 1.0:
                raise ValueError(f"adapt config: {key} must be in (0, 1), got {getattr(self, key)}")
        if not 0.0 < self.min_coverage <= 1.0:
            raise ValueError(
                f"adapt config: min_coverage must be in (0, 1], got {self.min_coverage}"
            )
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ValueError(f"adapt config: unknown methods {bad}; choose from {list(METHODS)}")
        bad = [t for t in self.tasks if t not in TASKS]
        if bad:
            raise ValueError(f"adapt config: unknown tasks {bad}; choose from {list(TASKS)}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"adapt config: num_threads must be >= 1, got {self.num_threads}")
