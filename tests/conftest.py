"""Shared test fixtures and factories (tiny, generated, seeded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml

from spectm._io import write_netcdf
from spectm.config import EvaluationConfig, MatchupConfig, PairsConfig

MATCHUP = MatchupConfig(
    window_days=4.0,
    radius_km=2.0,
    depth_categories=("Surface",),
    min_valid_frac=0.5,
    max_cv=0.15,
    drop_position_flagged=True,
)
"""Matchup settings of the tests (explicit, so a change of config.yaml cannot move a test)."""

PAIRS = PairsConfig(
    lead_days=8.0, tolerance_days=2.0, pixel_max_dist_km=0.75, max_pixel_pairs_per_granule_pair=2000
)
"""Pixel-pair settings of the tests."""


PRETRAIN_DEFAULTS = {
    "mask_strategy": "targeted",
    "mask_windows_nm": ((615, 640), (660, 680), (695, 720)),
    "lr": 1e-4,
    "weight_decay": 0.01,
    "batch_size": 256,
    "max_epochs": 100,
    "patience": 10,
    "checkpoint_every": 200,
    "seed": 0,
    "device": "cpu",
}
"""Pretraining settings of the tests unless a test says otherwise (the paper's optimiser)."""


def pretrain_config(**kw: object) -> Any:
    """A ``spectm.train.pretrain.PretrainConfig`` of :data:`PRETRAIN_DEFAULTS` updated by ``kw``."""
    from spectm.train.pretrain import PretrainConfig

    return PretrainConfig(**{**PRETRAIN_DEFAULTS, **kw})  # type: ignore[arg-type]


def tiny_pretrain_config(**kw: object) -> Any:
    """A one-layer, 16-dim SpecTM trained briefly on the CPU with one thread, no progress bar."""
    base = {
        "preset": "tiny",
        "model": {"n_layers": 1, "d_model": 16, "n_heads": 2},
        "batch_size": 64,
        "max_epochs": 1,
        "lr": 1e-3,
        "device": "cpu",
        "num_threads": 1,
        "progress": False,
    }
    return pretrain_config(**{**base, **kw})


def evaluation(**kw: object) -> EvaluationConfig:
    """Evaluation protocol settings for tests: 2 seeds, 3 outer and inner folds, demo grid."""
    base = {
        "seeds": (0, 1),
        "n_splits": 3,
        "inner_splits": 3,
        "interval_alpha": 0.1,
        "grid": "demo",
        "protocols": ("date_cv",),
        "bootstrap": 200,
    }
    return EvaluationConfig(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _float32_matmul_precision():
    """Every test starts and ends with torch's default float32 matmul precision.

    Importing terratorch sets it to "medium" for the whole process, which would change the
    numbers of every later test that compares float32 results exactly.
    """
    torch.set_float32_matmul_precision("highest")
    yield
    torch.set_float32_matmul_precision("highest")


@pytest.fixture
def one_thread():
    """One torch thread: on a busy 2-core runner, OpenMP spin-waiting makes tiny models slow."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def turbid_spectra(latent: np.ndarray, wl: np.ndarray) -> np.ndarray:
    """Smooth turbid-water-like Rrs (sr-1) at ``wl`` (nm) from ``latent`` (n, k) in [0, 1].

    Column 0 scales the green peak, column 1 the chl-a dip at 672 nm and the red-edge peak, and
    column 2 (when present) the phycocyanin dip at 622 nm. Returns shape (n, n_wl).
    """
    w = np.asarray(wl, dtype=float)[None, :]
    amp, chl = latent[:, [0]], latent[:, [1]]
    pc = latent[:, [2]] if latent.shape[1] > 2 else np.zeros_like(amp)
    base = (0.004 + 0.008 * amp) * np.exp(-(((w - 560) / 90) ** 2)) + 0.001
    dips = (1 - 0.25 * pc * np.exp(-(((w - 622) / 10) ** 2))) * (
        1 - 0.35 * chl * np.exp(-(((w - 672) / 9) ** 2))
    )
    return base * dips + 0.004 * chl * np.exp(-(((w - 705) / 10) ** 2))


def chip_dataset(
    rrs: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    wavelength: np.ndarray,
    start: pd.Timestamp,
    *,
    minutes: float = 5.0,
    version: str = "3.0",
    granule: str | None = None,
) -> xr.Dataset:
    """A chip that follows the whole chip contract (``spectm.io.chips.validate_chip`` passes).

    Args:
        rrs: Rrs (sr-1), shape (ny, nx, n_wl); NaN = invalid (its l2_flags get the LAND bit).
        lat: Latitudes (deg), shape (ny, nx).
        lon: Longitudes (deg), shape (ny, nx).
        wavelength: Band centres (nm), shape (n_wl,).
        start: ``time_coverage_start`` (UTC).
        minutes: Duration of the overpass (``time_coverage_end - start``).
        version: ``processing_version``.
        granule: Granule file name (default: the PACE name of ``start`` and ``version``).
    """
    start = pd.Timestamp(start)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    end = start + pd.Timedelta(minutes=minutes)
    v = version.replace(".", "_")
    granule = granule or f"PACE_OCI.{start.strftime('%Y%m%dT%H%M%S')}.L2.OC_AOP.V{v}.nc"
    flags = np.where(np.isfinite(rrs).all(axis=-1), 0, 1 << 1).astype(np.int32)
    return xr.Dataset(
        {
            "Rrs": (("y", "x", "wavelength"), np.asarray(rrs, dtype=np.float32), {"units": "sr-1"}),
            "l2_flags": (
                ("y", "x"),
                flags,
                {"flag_masks": np.array([1, 2], dtype=np.int32), "flag_meanings": "ATMFAIL LAND"},
            ),
        },
        coords={
            "wavelength": np.asarray(wavelength, dtype=float),
            "lat": (("y", "x"), np.asarray(lat, dtype=float)),
            "lon": (("y", "x"), np.asarray(lon, dtype=float)),
        },
        attrs={
            "units": "sr-1",
            "sensor": "PACE_OCI",
            "granule": granule,
            "source_file": granule,
            "processing_version": version,
            "time_coverage_start": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "time_coverage_end": end.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "flags_applied": "LAND",
            "bbox": np.array([-83.5, 41.3, -82.45, 42.2]),
        },
    )


def write_test_chip(path: Path, *args: object, **kwargs: object) -> Path:
    """Write :func:`chip_dataset` (same arguments) to ``path`` and return the path."""
    return write_netcdf(chip_dataset(*args, **kwargs), path)  # type: ignore[arg-type]


def grid_lat_lon(ny: int, nx: int, *, lat0: float = 41.5, lon0: float = -83.2, step: float = 0.01):
    """2-D (ny, nx) latitude and longitude arrays of a regular grid (deg)."""
    return np.meshgrid(lat0 + step * np.arange(ny), lon0 + step * np.arange(nx), indexing="ij")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished run of the tiny workflow (``tests.test_workflow.tiny_config``), run once.

    Shared by the workflow tests and the docs test (``tests/test_docs_run.py``); a test that
    changes the run works on a copy.
    """
    from tests.test_workflow import _snakemake, tiny_config

    work = tmp_path_factory.mktemp("tiny")
    (work / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
    proc = _snakemake("-d", str(work), "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-8000:]
    return work
