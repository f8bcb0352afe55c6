"""Typed, frozen views of the validated configuration: one dataclass per section of config.yaml.

The values and their defaults live in ``config.yaml`` (package data beside this module) and their
types and ranges in ``schema.yaml``; these classes only give them names and types. Lists become
tuples so every section is immutable and hashable. Build them with :meth:`SpectmConfig.from_dict`
from a dict that :func:`spectm.config.validate_config` accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


class _Section:
    """Mixin: build a frozen section from its mapping (keys = field names).

    ``_subsections`` names the fields that are sections of their own (built recursively).
    """

    _subsections: ClassVar[dict[str, type[_Section]]] = {}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, name: str = "") -> Self:
        """Build the section from a validated mapping.

        Raises:
            ValueError: naming the section and the missing or unknown keys.

        """
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        missing = [k for k in names if k not in d]
        unknown = sorted(set(d) - set(names))
        if missing or unknown:
            where = f"config section '{name or cls.__name__}'"
            raise ValueError(f"{where}: missing keys {missing}, unknown keys {unknown}")
        values = {k: _freeze(d[k]) for k in names}
        for key, sub in cls._subsections.items():
            values[key] = sub.from_dict(d[key], name=f"{name or cls.__name__}.{key}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples become lists), as in the YAML."""

        def plain(v: Any) -> Any:
            if isinstance(v, _Section):
                return v.to_dict()
            if isinstance(v, tuple):
                return [plain(x) for x in v]
            return v

        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class SamplesConfig(_Section):
    """``samples``: where the GLERL CSVs come from and the position QC threshold (km)."""

    source: str
    extra_files: tuple[str, ...]
    position_max_km: float


@dataclass(frozen=True)
class PaceDemoConfig(_Section):
    """``pace.demo``: the offline replay granules (size, pixel km, cloud fraction, seed)."""

    max_granules: int | None
    shape: tuple[int, int]
    pixel_km: float
    cloud_fraction: float
    seed: int


@dataclass(frozen=True)
class PaceConfig(_Section):
    """``pace``: PACE OCI L2 AOP source, collection, period (YYYY-MM-DD), flags, demo."""

    source: str
    short_name: str
    version: str
    provider: str
    start: str
    end: str
    download_retries: int
    exclude_flags: tuple[str, ...]
    demo: PaceDemoConfig

    _subsections: ClassVar[dict[str, type[_Section]]] = {"demo": PaceDemoConfig}


@dataclass(frozen=True)
class MatchupConfig(_Section):
    """``matchup``: time window (days), radius (km), depths, validity and homogeneity tests."""

    window_days: float
    radius_km: float
    depth_categories: tuple[str, ...]
    min_valid_frac: float
    max_cv: float
    drop_position_flagged: bool


@dataclass(frozen=True)
class PairsConfig(_Section):
    """``pairs``: lead time and tolerance (days) of 8-day-ahead pairs; pixel-pair limits."""

    lead_days: float
    tolerance_days: float
    pixel_max_dist_km: float
    max_pixel_pairs_per_granule_pair: int


@dataclass(frozen=True)
class ResampleConfig(_Section):
    """``resample``: the Sentinel-2 unit and ESA SRF table version."""

    target: str
    srf_version: str


@dataclass(frozen=True)
class ModelConfig(_Section):
    """``model``: SpecTM size preset, band grid, diagnostic windows (nm), loss weights."""

    preset: str
    grid: str
    mask_windows_nm: tuple[tuple[float, float], ...]
    lambda_reconstruction: float
    lambda_indices: float
    lambda_temporal: float


@dataclass(frozen=True)
class PretrainSection(_Section):
    """``pretrain``: corpus size, split and seed, optimiser, epochs, early stopping, run seeds."""

    max_pixels: int
    val_fraction: float
    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    checkpoint_every: int
    corpus_seed: int
    include_labelled: bool
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class DatasetsConfig(_Section):
    """``datasets``: the labelled datasets built and evaluated (sources x horizons)."""

    sources: tuple[str, ...]
    horizons: tuple[str, ...]


@dataclass(frozen=True)
class EvaluationConfig(_Section):
    """``evaluation``: the protocol shared by SpecTM fine-tuning and the baselines.

    Attributes:
        seeds: Seeds of the outer splits and subsamples.
        n_splits: Outer folds grouped by sampling date.
        inner_splits: Inner date-grouped folds of every hyper-parameter search.
        interval_alpha: Miscoverage of the conformal intervals.
        grid: Hyper-parameter grid size (``demo`` or ``full``).
        protocols: Outer protocols (``date_cv``, ``next_season``).
        bootstrap: Bootstrap resamples of the report's paired comparisons.

    """

    seeds: tuple[int, ...]
    n_splits: int
    inner_splits: int
    interval_alpha: float
    grid: str
    protocols: tuple[str, ...]
    bootstrap: int


@dataclass(frozen=True)
class FinetuneConfig(_Section):
    """``finetune``: modes, label fractions, and where full fine-tuning runs."""

    modes: tuple[str, ...]
    fractions: tuple[float, ...]
    full_fractions: tuple[float, ...]
    full_strategies: tuple[str, ...]
    full_epochs: int
    pooling: str
    probe_inputs: str


@dataclass(frozen=True)
class DeployConfig(_Section):
    """``deploy``: dataset and mode of the deployable current-week model."""

    dataset: str
    mode: str


@dataclass(frozen=True)
class BaselinesConfig(_Section):
    """``baselines``: sklearn algorithms, feature sets and label fractions."""

    algorithms: tuple[str, ...]
    feature_sets: tuple[str, ...]
    fractions: tuple[float, ...]


@dataclass(frozen=True)
class AuxConfig(_Section):
    """``aux``: gridMET AUX features (needs network)."""

    enabled: bool
    variables: tuple[str, ...]
    windows_days: tuple[int, ...]


@dataclass(frozen=True)
class MapsConfig(_Section):
    """``maps``: per-chip microcystin maps from the deployable model."""

    enabled: bool
    latest_n: int | None


@dataclass(frozen=True)
class EnmapDemoConfig(_Section):
    """``enmap.demo``: the offline demo products (count, size in 30 m pixels, cloud, seed)."""

    n_products: int
    shape: tuple[int, int]
    cloud_fraction: float
    seed: int


@dataclass(frozen=True)
class EnmapConfig(_Section):
    """``enmap``: EnMAP L2A source, period (YYYY-MM-DD) and AOI, band subset, chips, demo."""

    enabled: bool
    source: str
    start: str
    end: str
    bbox: tuple[float, float, float, float]
    max_products: int | None
    stac_url: str
    collection: str
    local_dir: str | None
    retries: int
    band_ranges: tuple[tuple[int, int], ...]
    chip_size: int
    quality_layers: tuple[str, ...] | None
    demo: EnmapDemoConfig

    _subsections: ClassVar[dict[str, type[_Section]]] = {"demo": EnmapDemoConfig}

    @property
    def bands(self) -> list[int]:
        """The 1-based EnMAP band numbers of :attr:`band_ranges`, in order."""
        return self.band_numbers(self.band_ranges)

    @staticmethod
    def band_numbers(ranges: Sequence[Sequence[int]]) -> list[int]:
        """1-based band numbers of inclusive ``[first, last]`` ranges, in order.

        Raises:
            ValueError: for a range whose first band is after its last, or overlapping ranges.

        """
        out: list[int] = []
        for lo, hi in ranges:
            if lo > hi:
                raise ValueError(f"config key 'enmap.band_ranges': [{lo}, {hi}] is reversed")
            out += range(int(lo), int(hi) + 1)
        if len(set(out)) != len(out):
            raise ValueError(f"config key 'enmap.band_ranges': {list(ranges)} overlap")
        return out


_SECTIONS: dict[str, type[_Section]] = {
    "samples": SamplesConfig,
    "pace": PaceConfig,
    "matchup": MatchupConfig,
    "pairs": PairsConfig,
    "resample": ResampleConfig,
    "model": ModelConfig,
    "pretrain": PretrainSection,
    "datasets": DatasetsConfig,
    "evaluation": EvaluationConfig,
    "finetune": FinetuneConfig,
    "deploy": DeployConfig,
    "baselines": BaselinesConfig,
    "aux": AuxConfig,
    "maps": MapsConfig,
    "enmap": EnmapConfig,
}


@dataclass(frozen=True)
class SpectmConfig:
    """The whole configuration, one typed section per top-level key of config.yaml."""

    aoi_bbox: tuple[float, float, float, float]
    device: str
    strategies: tuple[str, ...]
    samples: SamplesConfig
    pace: PaceConfig
    matchup: MatchupConfig
    pairs: PairsConfig
    resample: ResampleConfig
    model: ModelConfig
    pretrain: PretrainSection
    datasets: DatasetsConfig
    evaluation: EvaluationConfig
    finetune: FinetuneConfig
    deploy: DeployConfig
    baselines: BaselinesConfig
    aux: AuxConfig
    maps: MapsConfig
    enmap: EnmapConfig
    adapt: Mapping[str, Any]
    """The ``adapt`` section as validated; its typed view is ``spectm.adapt.settings.AdaptConfig``
    (it adds the job's device and thread count, and lives with the experiment's method names)."""

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> SpectmConfig:
        """Typed view of a validated config dict (see :func:`spectm.config.validate_config`)."""
        sections = {k: c.from_dict(cfg[k], name=k) for k, c in _SECTIONS.items()}
        bbox = tuple(float(v) for v in cfg["aoi_bbox"])
        return cls(
            aoi_bbox=(bbox[0], bbox[1], bbox[2], bbox[3]),
            device=str(cfg["device"]),
            strategies=tuple(cfg["strategies"]),
            adapt=dict(cfg["adapt"]),
            **sections,  # type: ignore[arg-type]
        )
