"""EnMAP -> Sentinel-2 L2A projections against independent expectations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spectm.adapt.projection import (
    REFLECTANCE_SCALE,
    SpectralProjection,
    build_projection,
    coverage_table,
    projection_resampler,
)
from spectm.spectral.resample import resample
from spectm.spectral.srf import S2_L2A_BANDS, TERRAMIND_S2L2A_MEAN, TERRAMIND_S2L2A_STD
from tests.adapt.test_factory import class_spectra, enmap_band_set

KW = {"target": "S2A", "version": "4.0", "min_coverage": 0.95}

# ESA S2A central wavelengths (nm), S2 MSI user handbook; independent of the SRF tables
S2A_CENTRES = {
    "B01": 442.7,
    "B02": 492.7,
    "B03": 559.8,
    "B04": 664.6,
    "B05": 704.1,
    "B06": 740.5,
    "B07": 782.8,
    "B08": 832.8,
    "B8A": 864.7,
    "B09": 945.1,
    "B11": 1613.7,
    "B12": 2202.4,
}


def _spectra(wl: np.ndarray, n: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.dirichlet(np.ones(3), size=n)  # (n, 3)
    return mix @ class_spectra(wl) + rng.normal(0, 0.002, (n, wl.size))  # (n, C)


def _as_image(spectra: np.ndarray) -> torch.Tensor:
    """``(n, C)`` spectra as a ``(1, C, 1, n)`` chip batch."""
    return torch.as_tensor(spectra.T[None, :, None, :], dtype=torch.float32)


def test_naive_picks_the_enmap_band_nearest_each_s2_centre():
    _, wl, fwhm = enmap_band_set()
    proj = build_projection("naive", wl, fwhm, **KW)
    w = proj.weight.numpy()
    assert set(np.unique(w)) == {0.0, 1.0} and (w.sum(axis=1) == 1).all()
    # a spectrum equal to each band's centre: the naive output is the chosen band's centre
    chosen = wl[np.argmax(w, axis=1)]
    spacing = np.diff(wl)
    for k, band in enumerate(S2_L2A_BANDS):
        c = S2A_CENTRES[band]
        nearest = wl[np.argmin(np.abs(wl - c))]
        local = spacing[min(np.searchsorted(wl, c), spacing.size - 1)]
        # the SRF centroid sits within ~2 nm of the handbook centre: the same or a neighbour band
        assert abs(chosen[k] - nearest) <= local + 1e-9, band
        assert abs(chosen[k] - c) <= local / 2 + 2.0, band
    assert not list(proj.parameters())  # fixed


def test_srf_rows_equal_the_spectral_srf_resampling():
    _, wl, fwhm = enmap_band_set()
    spectra = _spectra(wl)
    proj = build_projection("srf", wl, fwhm, **KW)
    got = proj(_as_image(spectra))[0, :, 0, :].T.double().numpy()  # (n, 12)
    want = resample(
        spectra, wl, source_fwhm_nm=fwhm, method="srf", scale=1e4, standardise=True, **KW
    )
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4)
    # and by hand: weights rows sum to 1, output = (W x * 1e4 - mean) / std
    w = proj.weight.double().numpy()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
    by_hand = (spectra @ w.T * REFLECTANCE_SCALE - TERRAMIND_S2L2A_MEAN) / TERRAMIND_S2L2A_STD
    np.testing.assert_allclose(got, by_hand, atol=2e-4)
    assert not list(proj.parameters())


def test_learned_starts_at_srf_and_moves_after_a_step():
    _, wl, fwhm = enmap_band_set()
    srf = build_projection("srf", wl, fwhm, **KW)
    learned = build_projection("learned", wl, fwhm, **KW)
    assert [n for n, _ in learned.named_parameters()] == ["weight"]
    torch.testing.assert_close(learned.weight.detach(), srf.weight)
    x = _as_image(_spectra(wl))
    torch.testing.assert_close(learned(x), srf(x))
    opt = torch.optim.SGD(learned.parameters(), lr=1e-3)
    learned(x).pow(2).mean().backward()
    opt.step()
    assert not torch.equal(learned.weight.detach(), srf.weight)


def test_nan_pixels_become_zero_after_standardisation():
    _, wl, fwhm = enmap_band_set()
    spectra = _spectra(wl, n=4)
    spectra[1, 10] = np.nan  # one bad band invalidates the whole pixel
    spectra[3] = np.nan
    for method in ("naive", "srf", "learned"):
        y = build_projection(method, wl, fwhm, **KW)(_as_image(spectra))[0, :, 0, :]  # (12, n)
        assert torch.isfinite(y).all()
        assert (y[:, [1, 3]] == 0).all() and (y[:, [0, 2]] != 0).all()


def test_every_s2_band_is_covered_by_enmap_and_recorded():
    _, wl, fwhm = enmap_band_set()
    table = coverage_table(wl, fwhm, **KW)
    assert table["band"].tolist() == list(S2_L2A_BANDS)
    assert table["valid"].all() and (table["coverage"] >= 0.95).all()
    assert (table["srf_n_source_bands"] >= 1).all()
    assert (table["srf_source_min_nm"] <= table["naive_source_nm"]).all()
    assert (table["naive_source_nm"] <= table["srf_source_max_nm"]).all()
    b11 = table.set_index("band").loc["B11"]
    assert 1560 < b11["srf_weighted_source_nm"] < 1660


def test_uncovered_bands_are_refused_not_zero_filled():
    _, wl, fwhm = enmap_band_set()
    vnir = wl < 1000
    with pytest.raises(ValueError, match=r"B11.*B12"):
        projection_resampler("srf", wl[vnir], fwhm[vnir], **KW)
    with pytest.raises(ValueError, match="unknown projection"):
        projection_resampler("gaussian", wl, fwhm, **KW)
    with pytest.raises(ValueError, match="12 rows"):
        SpectralProjection(np.ones((3, 5)), trainable=False)


def test_standardisation_is_terratorchs():
    from terratorch.models.backbones.terramind.model import terramind_register as reg

    key = "untok_sen2l2a@224"
    np.testing.assert_allclose(TERRAMIND_S2L2A_MEAN, reg.v1_pretraining_mean[key])
    np.testing.assert_allclose(TERRAMIND_S2L2A_STD, reg.v1_pretraining_std[key])
    assert reg.PRETRAINED_BANDS[key][-2:] == ["SWIR_1", "SWIR_2"]  # B11, B12: no B10
