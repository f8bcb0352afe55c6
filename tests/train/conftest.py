"""Fixtures of the training tests: generated PACE-like chips and a small pretraining corpus."""

import numpy as np
import pandas as pd
import pytest

from spectm._io import write_netcdf
from spectm.io.corpus import write_corpus
from spectm.spectral.bands import pace_oci_rrs_wavelengths
from spectm.train.corpus import build_corpus
from tests.conftest import chip_dataset

NATIVE = pace_oci_rrs_wavelengths()


def _synth_spectra(rng: np.random.Generator, n: int, wl: np.ndarray) -> np.ndarray:
    """Smooth turbid-water-like Rrs (sr-1): green peak, phycocyanin and chl-a dips, NIR peak."""
    w = np.asarray(wl, dtype=float)[None, :]
    amp, chl, pc = (rng.uniform(lo, hi, (n, 1)) for lo, hi in [(0.004, 0.012), (0, 1), (0, 1)])
    base = amp * np.exp(-(((w - 560) / 90) ** 2)) + 0.001
    dips = (1 - 0.25 * pc * np.exp(-(((w - 622) / 10) ** 2))) * (
        1 - 0.35 * chl * np.exp(-(((w - 672) / 9) ** 2))
    )
    return base * dips + 0.004 * chl * np.exp(-(((w - 705) / 10) ** 2))


def _write_chip(path, rng, day: int, ny: int = 8, nx: int = 10, invalid_frac: float = 0.2):
    """A chip following the contract: Rrs (y, x, wavelength) sr-1, NaN invalid, 2-D lat/lon.

    Returns ``(path, rrs, lat, lon, granule)``; ``rrs`` is on the native PACE OCI grid.
    """
    rrs = _synth_spectra(rng, ny * nx, NATIVE).reshape(ny, nx, NATIVE.size).astype(np.float32)
    rrs[rng.random((ny, nx)) < invalid_frac] = np.nan  # land / cloud
    lat, lon = np.meshgrid(41.5 + 0.01 * np.arange(ny), -83.2 + 0.01 * np.arange(nx), indexing="ij")
    ds = chip_dataset(rrs, lat, lon, NATIVE, pd.Timestamp(f"2024-07-{day:02d}T18:00:00Z"))
    write_netcdf(ds, path)
    return path, rrs, lat, lon, ds.attrs["granule"]


@pytest.fixture
def synth_spectra():
    """``synth_spectra(rng, n, wl)``: n smooth turbid-water Rrs spectra (sr-1) at ``wl`` (nm)."""
    return _synth_spectra


@pytest.fixture
def write_chip():
    """``write_chip(path, rng, day, ny=8, nx=10, invalid_frac=0.2)``: a chip of July ``day``."""
    return _write_chip


@pytest.fixture(scope="module")
def chips(tmp_path_factory):
    """Six chips (``_write_chip`` tuples) of 2024-07-01 to 06, seeded."""
    root = tmp_path_factory.mktemp("chips")
    rng = np.random.default_rng(42)
    return [_write_chip(root / f"chip_{d:02d}.nc", rng, d) for d in range(1, 7)]


@pytest.fixture(scope="module")
def corpus_path(chips, tmp_path_factory):
    """A 300-row corpus of :func:`chips` on the paper grid, 20 % of the dates held out as val."""
    df = build_corpus([c[0] for c in chips], grid="paper", max_pixels=300, val_fraction=0.2, seed=0)
    return write_corpus(df, tmp_path_factory.mktemp("corpus") / "corpus.parquet")
