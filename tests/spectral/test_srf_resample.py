import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from spectral import BandResampler

from spectm.data_files import data_path
from spectm.spectral.bands import enmap_bands, pace_oci_rrs_bands
from spectm.spectral.resample import band_coverage, build_resampler, resample, write_resampled_table
from spectm.spectral.srf import (
    S2_L2A_BANDS,
    TERRAMIND_S2L2A_MEAN,
    TERRAMIND_S2L2A_STD,
    gaussian_srf,
    load_srf,
    s2_band_parameters,
)

PACE = pace_oci_rrs_bands()
ENMAP = enmap_bands()
SIGMA_PER_FWHM = 1.0 / np.sqrt(8.0 * np.log(2.0))


def smooth_spectrum(wl):
    """Smooth synthetic reflectance-like spectrum (features >= 15 nm wide), any wavelength."""
    wl = np.asarray(wl, dtype=float)
    return (
        0.010
        + 0.004 * np.sin(wl / 37.0)
        + 0.003 * np.exp(-(((wl - 560.0) / 40.0) ** 2))
        + 0.002 * np.exp(-(((wl - 705.0) / 15.0) ** 2))
        + 1e-6 * (wl - 400.0)
    )


# ---------------------------------------------------------------- SRF tables and constants


def test_terramind_order_and_statistics():
    assert S2_L2A_BANDS == (
        "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12",
    )  # fmt: skip
    assert TERRAMIND_S2L2A_MEAN.shape == TERRAMIND_S2L2A_STD.shape == (12,)
    assert TERRAMIND_S2L2A_MEAN[0] == 1390.458 and TERRAMIND_S2L2A_MEAN[8] == 3132.22
    assert TERRAMIND_S2L2A_STD[4] == 2085.321 and TERRAMIND_S2L2A_STD[11] == 1334.311


def test_load_srf_maps_file_columns_and_drops_b10():
    srf = load_srf("S2A", "4.0")
    assert srf.dims == ("band", "wavelength")
    assert tuple(srf["band"].values) == S2_L2A_BANDS
    raw = pd.read_csv(data_path("sentinel2_srf", "S2A_MSI_SRF_ESA_v4.0_1nm.csv"))
    np.testing.assert_array_equal(srf.sel(band="B8A").values, raw["B8A"].values)
    np.testing.assert_array_equal(srf.sel(band="B09").values, raw["B9"].values)
    np.testing.assert_array_equal(srf.sel(band="B11").values, raw["B11"].values)
    assert srf["wavelength"].values[0] == 300 and srf["wavelength"].values[-1] == 2600


def test_srf_centroids_match_published_s2c_centres():
    # S2C centres listed independently (jbferet/prosail, see data/SOURCES.md)
    par = s2_band_parameters("S2C", "4.0").set_index("band")["centre_nm"]
    expected = {"B02": 489.0, "B03": 560.6, "B04": 666.5, "B05": 707.1, "B8A": 865.6}
    for band, centre in expected.items():
        assert par[band] == pytest.approx(centre, abs=0.15)


def test_unknown_sensor_lists_choices():
    with pytest.raises(ValueError, match=r"S2A v4\.0.*S2C v4\.0"):
        load_srf("S2C", "3.0")
    with pytest.raises(ValueError, match="choose from"):
        load_srf("S2D")


def test_v3_v4_differ_only_in_b02():
    v3, v4 = load_srf("S2A", "3.0"), load_srf("S2A", "4.0")
    diff = np.abs(v3 - v4).max("wavelength").to_series()
    assert 0.01 < diff["B02"] < 0.05
    assert (diff.drop(["B02", "B11", "B12"]) < 1e-6).all()
    assert diff["B11"] < 0.005 and diff["B12"] < 0.005
    spec = smooth_spectrum(PACE["centre_nm"])[None, :]
    a = resample(
        spec, PACE["centre_nm"], source_fwhm_nm=PACE["fwhm_nm"], method="srf", version="3.0"
    )
    b = resample(
        spec, PACE["centre_nm"], source_fwhm_nm=PACE["fwhm_nm"], method="srf", version="4.0"
    )
    rel = np.abs(a - b)[0, :5] / b[0, :5]
    assert rel[1] > 1e-6 and rel.max() < 5e-3  # B02 moves, a little
    assert (rel[[0, 2, 3, 4]] < 1e-6).all()


def test_gaussian_srf_shape_and_norm():
    wl = np.arange(400.0, 600.0, 0.1)
    g = gaussian_srf(500.0, 10.0, wl)
    assert g.max() == pytest.approx(1.0)
    assert np.interp(505.0, wl, g) == pytest.approx(0.5, abs=1e-3)
    area = gaussian_srf([450.0, 500.0], [5.0, 20.0], wl, normalise="area")
    assert area.shape == (2, wl.size)
    np.testing.assert_allclose(area.sum(axis=1) * 0.1, 1.0, atol=1e-9)


# ---------------------------------------------------------------- (a) Gaussian method vs SPy

SPY_CENTRES = np.array([490.0, 560.0, 665.0, 705.0])
SPY_FWHM = np.array([65.0, 35.0, 30.0, 15.0])


def _ours_gaussian(spec, src, fwhm_src):
    table = pd.DataFrame(
        {"band": ["a", "b", "c", "d"], "centre_nm": SPY_CENTRES, "fwhm_nm": SPY_FWHM}
    )
    return resample(spec, src, source_fwhm_nm=fwhm_src, target=table, method="gaussian")


def test_gaussian_matches_spy_on_linear_spectrum():
    # Both estimators are symmetric about the target centre (centres on the 5 nm source lattice),
    # so on a spectrum linear in wavelength both must return R(centre) exactly.
    src = np.arange(250.0, 950.0, 5.0)
    spec = 0.01 + 2e-5 * (src - 380.0)
    ours = _ours_gaussian(spec, src, 5.0)
    spy = BandResampler(src, SPY_CENTRES, [5.0] * src.size, SPY_FWHM)(spec)
    truth = 0.01 + 2e-5 * (SPY_CENTRES - 380.0)
    np.testing.assert_allclose(ours, truth, rtol=1e-9)
    np.testing.assert_allclose(spy, truth, rtol=1e-9)


def test_gaussian_vs_spy_on_curved_spectrum_difference_is_bounded():
    # SPy integrates the target Gaussian only over +-FWHM/2 with boxcar sources; ours integrates
    # the full target Gaussian against Gaussian sources. On R = a + q (lambda - C)^2 sampled at the
    # source centres, ours = R(C) + q (sigma_t^2 + sigma_s^2) exactly (the weights are a Gaussian
    # of variance sigma_t^2 + sigma_s^2 over a lattice much finer than that width), while SPy's
    # truncated weights have a variance below sigma_t^2. So |ours - spy| <= q (sigma_t^2 +
    # sigma_s^2) and ours - spy > 0. (Tolerance: weights below 1e-6 are dropped, a 4.7 sigma cut.)
    src = np.arange(250.0, 950.0, 5.0)
    q = 1e-6
    for centre, fwhm in zip(SPY_CENTRES, SPY_FWHM, strict=True):
        spec = 0.01 + q * (src - centre) ** 2
        ours = _ours_gaussian(spec, src, 5.0)[list(SPY_CENTRES).index(centre)]
        spy = BandResampler(src, [centre], [5.0] * src.size, [fwhm])(spec)[0]
        var = (fwhm * SIGMA_PER_FWHM) ** 2 + (5.0 * SIGMA_PER_FWHM) ** 2
        assert ours - 0.01 == pytest.approx(q * var, rel=1e-3)
        assert 0.0 < ours - spy <= q * var


# ---------------------------------------------------------------- (b) srf vs brute force


def _tabulated(band):
    raw = pd.read_csv(data_path("sentinel2_srf", "S2A_MSI_SRF_ESA_v4.0_1nm.csv"))
    column = {"B01": "B1", "B02": "B2", "B03": "B3", "B04": "B4", "B05": "B5"}[band]
    return raw["wavelength_nm"].to_numpy(float), raw[column].to_numpy(float)


@pytest.mark.parametrize("band", ["B01", "B02", "B03", "B04", "B05"])
def test_srf_method_matches_bruteforce_band_integral(band):
    # Reference: 1 nm trapezoid integral of the tabulated SRF against the true spectrum.
    wl, s = _tabulated(band)
    truth = np.trapezoid(s * smooth_spectrum(wl), wl) / np.trapezoid(s, wl)
    c, f = PACE["centre_nm"].to_numpy(), PACE["fwhm_nm"].to_numpy()
    spec = smooth_spectrum(c)  # the spectrum sampled at the PACE band centres
    got = resample(spec, c, source_fwhm_nm=f, method="srf")[S2_L2A_BANDS.index(band)]
    # The srf weights smooth the SRF by the source Gaussian once, so the estimate carries at most
    # max|R''| * sigma_s^2 / 2 of curvature bias (plus the lattice sum error, far smaller).
    near = (wl > wl[s > 0].min() - 15) & (wl < wl[s > 0].max() + 15)
    curv = np.abs(np.gradient(np.gradient(smooth_spectrum(wl), wl), wl))[near].max()
    bound = curv * (f.max() * SIGMA_PER_FWHM) ** 2 / 2
    assert abs(got - truth) <= bound + 1e-7
    naive = resample(spec, c, source_fwhm_nm=f, method="naive")[S2_L2A_BANDS.index(band)]
    assert abs(got - truth) < abs(naive - truth) + 1e-7


def test_srf_weights_match_independent_integration():
    c, f = PACE["centre_nm"].to_numpy(), PACE["fwhm_nm"].to_numpy()
    res = build_resampler(c, f, method="srf")
    for band in ["B01", "B05"]:
        wl, s = _tabulated(band)
        nz = wl[s > 0]
        fine = np.arange(nz.min() - 30, nz.max() + 30, 0.05)
        s_fine = np.interp(fine, wl, s)
        sigma = f * SIGMA_PER_FWHM
        g = np.exp(-0.5 * ((fine[None, :] - c[:, None]) / sigma[:, None]) ** 2) / sigma[:, None]
        w = np.trapezoid(s_fine[None, :] * g, fine, axis=1)
        w /= w.sum()
        k = S2_L2A_BANDS.index(band)
        w[w < 1e-6] = 0.0  # the resampler drops weights below 1e-6
        w /= w.sum()
        np.testing.assert_allclose(res.weights[k], w, atol=2e-5)


# ---------------------------------------------------------------- (c)-(e) flat, PACE, EnMAP


@pytest.mark.parametrize("method", ["naive", "srf", "gaussian"])
@pytest.mark.parametrize("sensor", ["pace", "enmap"])
def test_flat_spectrum_stays_flat(method, sensor):
    tab = PACE if sensor == "pace" else ENMAP
    spec = np.full((2, len(tab)), 0.0123)
    out = resample(spec, tab["centre_nm"], source_fwhm_nm=tab["fwhm_nm"], method=method)
    valid = band_coverage(tab["centre_nm"], tab["fwhm_nm"], method=method)["valid"].to_numpy()
    assert valid[:5].all()
    np.testing.assert_allclose(out[:, valid], 0.0123, atol=1e-9)
    assert np.isnan(out[:, ~valid]).all()


@pytest.mark.parametrize("method", ["naive", "srf"])
def test_pace_covers_only_b01_to_b05(method, caplog):
    with caplog.at_level(logging.WARNING, logger="spectm.spectral.resample"):
        cov = band_coverage(PACE["centre_nm"], PACE["fwhm_nm"], method=method).set_index("band")
    assert (cov.loc[["B01", "B02", "B03", "B04", "B05"], "coverage"] > 0.999).all()
    assert (cov.loc[list(S2_L2A_BANDS[5:]), "coverage"] == 0.0).all()
    assert cov["valid"].tolist() == [True] * 5 + [False] * 7
    assert "B06" in caplog.text and "B12" in caplog.text
    rng = np.random.default_rng(0)
    spec = rng.uniform(0.001, 0.02, size=(3, len(PACE)))
    out = resample(spec, PACE["centre_nm"], source_fwhm_nm=PACE["fwhm_nm"], method=method)
    assert np.isfinite(out[:, :5]).all() and np.isnan(out[:, 5:]).all()


def test_pace_naive_picks_band_nearest_srf_centroid():
    cov = band_coverage(PACE["centre_nm"], PACE["fwhm_nm"], method="naive").set_index("band")
    # S2A v4 centroids 442.70 / 492.72 / 559.85 / 664.62 / 704.11 nm
    # -> PACE 442 / 492 / 560 / 665 / 704
    nominal = PACE.set_index("centre_nm")["wavelength"]
    picked = [nominal[c] for c in cov["main_source_nm"].iloc[:5]]
    assert picked == [442, 492, 560, 665, 704]


def test_pace_gap_is_not_support():
    # A target band inside PACE's 589-612 nm gap has no coverage, even with neighbours around it.
    table = pd.DataFrame(
        {"band": ["gap", "ok"], "centre_nm": [600.0, 640.0], "fwhm_nm": [6.0, 6.0]}
    )
    cov = band_coverage(PACE["centre_nm"], PACE["fwhm_nm"], target=table, method="gaussian")
    assert cov["coverage"].iloc[0] < 0.05 and not cov["valid"].iloc[0]
    assert cov["coverage"].iloc[1] > 0.999


def test_enmap_covers_all_twelve():
    for method in ["naive", "srf"]:
        cov = band_coverage(ENMAP["centre_nm"], ENMAP["fwhm_nm"], method=method)
        assert cov["valid"].all()
        assert cov["coverage"].iloc[0] > 0.998  # B01 starts at 412 nm, EnMAP at 418.4 nm
        assert (cov["coverage"].iloc[1:] == 1.0).all()


def test_nan_source_band_propagates_only_where_used():
    c, f = PACE["centre_nm"].to_numpy(), PACE["fwhm_nm"].to_numpy()
    spec = np.full((1, c.size), 0.01)
    spec[0, np.argmin(np.abs(c - 705.0))] = np.nan
    out = resample(spec, c, source_fwhm_nm=f, method="srf")
    assert np.isnan(out[0, 4]) and np.isfinite(out[0, :4]).all()


# ---------------------------------------------------------------- (f)-(h) containers and scaling


def test_xarray_leading_dims_match_numpy():
    rng = np.random.default_rng(1)
    cube = rng.uniform(0.001, 0.02, size=(3, 4, len(PACE)))
    da = xr.DataArray(
        cube,
        dims=("y", "x", "wavelength"),
        coords={"wavelength": PACE["centre_nm"].to_numpy(), "lat": (("y", "x"), np.ones((3, 4)))},
        name="Rrs",
    )
    out = resample(da, source_fwhm_nm=PACE["fwhm_nm"], method="srf")
    assert out.dims == ("y", "x", "band")
    assert tuple(out["band"].values) == S2_L2A_BANDS
    assert "lat" in out.coords and out["coverage"].sel(band="B06") == 0.0
    assert out.attrs["invalid_bands"] == "B06,B07,B08,B8A,B09,B11,B12"
    ref = resample(cube, PACE["centre_nm"], source_fwhm_nm=PACE["fwhm_nm"], method="srf")
    np.testing.assert_allclose(out.values, ref, equal_nan=True)


def test_dask_input_stays_lazy():
    da_mod = pytest.importorskip("dask.array", reason="dask not installed; numpy path tested above")
    rng = np.random.default_rng(2)
    cube = rng.uniform(0.001, 0.02, size=(4, 6, len(PACE)))
    lazy = xr.DataArray(
        da_mod.from_array(cube, chunks=(2, 3, -1)),
        dims=("y", "x", "wavelength"),
        coords={"wavelength": PACE["centre_nm"].to_numpy()},
    )
    out = resample(lazy, source_fwhm_nm=PACE["fwhm_nm"], method="srf")
    assert isinstance(out.data, da_mod.Array)  # still a dask graph, nothing computed
    assert out.chunks is not None and out.chunks[:2] == ((2, 2), (3, 3))
    ref = resample(cube, PACE["centre_nm"], source_fwhm_nm=PACE["fwhm_nm"], method="srf")
    np.testing.assert_allclose(out.compute().values, ref, equal_nan=True)


def test_dataframe_in_dataframe_out():
    cols = [f"Rrs_{w}" for w in PACE["wavelength"]]
    df = pd.DataFrame(np.full((2, len(cols)), 0.01), columns=cols)
    df.insert(0, "station", ["WE2", "WE4"])
    out = resample(df, method="naive")
    assert list(out.columns) == ["station", *S2_L2A_BANDS]
    np.testing.assert_allclose(out[["B01", "B05"]], 0.01)
    assert out["B06"].isna().all()


def test_reflectance_scaling_and_standardisation():
    spec = np.full((1, len(PACE)), 0.01)  # Rrs, sr-1
    kw = {"source_fwhm_nm": PACE["fwhm_nm"], "method": "srf"}
    refl = resample(spec, PACE["centre_nm"], rrs_to_reflectance=True, scale=1e4, **kw)
    np.testing.assert_allclose(refl[0, :5], np.pi * 100.0)
    std = resample(
        spec, PACE["centre_nm"], rrs_to_reflectance=True, scale=1e4, standardise=True, **kw
    )
    assert std[0, 0] == pytest.approx((np.pi * 100.0 - 1390.458) / 2106.761)
    assert std[0, 4] == pytest.approx((np.pi * 100.0 - 2199.1) / 2085.321)
    assert np.isnan(std[0, 5:]).all()


def test_bad_arguments():
    c = PACE["centre_nm"]
    with pytest.raises(ValueError, match="unknown resampling method"):
        resample(np.zeros((1, len(c))), c, method="cubic")
    with pytest.raises(ValueError, match="source_nm is required"):
        resample(np.zeros((1, len(c))))
    with pytest.raises(ValueError, match="expects 172"):
        resample(np.zeros((1, 5)), c, source_fwhm_nm=5.0)
    with pytest.raises(ValueError, match="tabulated SRF"):
        band_coverage(c, 5.0, target=s2_band_parameters(), method="srf")
    with pytest.raises(ValueError, match="no 'wavelength' dim"):
        resample(xr.DataArray(np.zeros((2, 3)), dims=("y", "band")), c)


# ---------------------------------------------------------------- CLI


def test_write_resampled_table_rrs_columns(tmp_path):
    cols = [f"Rrs_{w}" for w in PACE["wavelength"]]
    df = pd.DataFrame(np.full((3, len(cols)), 0.02), columns=cols)
    df.insert(0, "sample_id", [1, 2, 3])
    src = tmp_path / "in.parquet"
    df.to_parquet(src)
    cov = write_resampled_table(
        src, tmp_path / "out.csv", target="S2A", version="4.0", method="srf", sensor="pace_oci",
        coverage_path=tmp_path / "cov.csv",
    )  # fmt: skip
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["sample_id", *S2_L2A_BANDS]
    np.testing.assert_allclose(out[list(S2_L2A_BANDS[:5])], 0.02)
    assert out["B09"].isna().all()
    assert cov["valid"].sum() == 5
    assert pd.read_csv(tmp_path / "cov.csv")["band"].tolist() == list(S2_L2A_BANDS)


def test_write_resampled_table_wavelength_file(tmp_path):
    # EnMAP band order is not wavelength order (VNIR/SWIR overlap); shuffle the file rows too.
    rng = np.random.default_rng(3)
    spec = rng.uniform(500.0, 3000.0, size=(2, len(ENMAP)))
    df = pd.DataFrame(spec, columns=[str(b) for b in ENMAP["band"]])
    df["scene"] = ["a", "b"]
    df.to_csv(tmp_path / "in.csv", index=False)
    wav = ENMAP.rename(columns={"centre_nm": "wavelength_nm"})[["band", "wavelength_nm", "fwhm_nm"]]
    wav.sample(frac=1.0, random_state=0).to_csv(tmp_path / "wl.csv", index=False)
    cov = write_resampled_table(
        tmp_path / "in.csv",
        tmp_path / "out.csv",
        target="S2A",
        version="4.0",
        method="srf",
        wavelength_file=tmp_path / "wl.csv",
    )
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["scene", *S2_L2A_BANDS]
    ref = resample(spec, ENMAP["centre_nm"], source_fwhm_nm=ENMAP["fwhm_nm"], method="srf")
    np.testing.assert_allclose(out[list(S2_L2A_BANDS)].to_numpy(), ref, rtol=1e-9)
    assert cov["valid"].all()
