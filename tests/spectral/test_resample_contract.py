"""The resampler's contract around the numbers: provenance, argument checks, outputs' metadata.

test_srf_resample.py checks the resampled values against independent references; a mutation run
(docs/testing.md) showed that the per-band provenance table, the default source FWHM, the
argument checks and the metadata of the DataArray, DataFrame and CSV outputs were not checked.
Expectations here are written out by hand for small hand-made band sets.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from spectm.spectral.resample import build_resampler, resample, write_resampled_table
from spectm.spectral.srf import S2_L2A_BANDS

SOURCE = np.array([480.0, 490.0, 500.0, 510.0, 520.0])
"""Five 10 nm wide source bands around 500 nm."""

TARGET = pd.DataFrame({"band": ["A", "Z"], "centre_nm": [500.0, 900.0], "fwhm_nm": [10.0, 10.0]})
"""Band A inside the source support, band Z far outside it."""

PROVENANCE = [
    "band", "centre_nm", "coverage", "valid", "n_source_bands", "source_min_nm", "source_max_nm",
    "weighted_source_nm", "main_source_nm", "method", "target",
]  # fmt: skip


def exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


def test_provenance_of_a_naive_and_a_gaussian_resampler():
    naive = build_resampler(SOURCE, 10.0, target=TARGET, method="naive").provenance()
    assert list(naive.columns) == PROVENANCE
    a, z = naive.iloc[0], naive.iloc[1]
    assert (a["band"], a["centre_nm"], a["valid"], a["n_source_bands"]) == ("A", 500.0, True, 1)
    assert a["coverage"] == pytest.approx(1.0)
    for col in ("source_min_nm", "source_max_nm", "weighted_source_nm", "main_source_nm"):
        assert a[col] == 500.0, col
    # Z: nothing of its response in the support, no source band used, nothing to describe
    assert (z["valid"], z["coverage"], z["n_source_bands"]) == (False, 0.0, 0)
    assert (
        z[["source_min_nm", "source_max_nm", "weighted_source_nm", "main_source_nm"]].isna().all()
    )
    assert set(naive["method"]) == {"naive"} and set(naive["target"]) == {"band table"}

    gauss = build_resampler(SOURCE, 10.0, target=TARGET, method="gaussian").provenance()
    g = gauss.iloc[0]
    # symmetric target and sources: every band weighs in, the weighted centre is the middle one
    assert g["n_source_bands"] == 5
    assert (g["source_min_nm"], g["source_max_nm"], g["main_source_nm"]) == (480.0, 520.0, 500.0)
    assert g["weighted_source_nm"] == pytest.approx(500.0)
    assert gauss.iloc[1]["n_source_bands"] == 0 and np.isnan(gauss.iloc[1]["main_source_nm"])


def test_default_source_fwhm_is_the_distance_to_the_nearest_band(caplog):
    caplog.set_level(logging.INFO, logger="spectm.spectral.resample")
    res = build_resampler([430.0, 400.0, 470.0, 410.0], target=TARGET, method="gaussian")
    np.testing.assert_array_equal(res.source_fwhm_nm, [20.0, 10.0, 40.0, 10.0])  # input order
    assert "source_fwhm_nm not given: using each band's distance to its nearest neighbour" in (
        caplog.text
    )
    two = build_resampler([495.0, 505.0], target=TARGET, method="naive")
    np.testing.assert_array_equal(two.source_fwhm_nm, [10.0, 10.0])
    one = build_resampler([500.0], 40.0, target=TARGET, method="gaussian")
    assert one.source_fwhm_nm.tolist() == [40.0] and one.weights[0].tolist() == [1.0]


@pytest.mark.parametrize(
    ("source", "fwhm", "message"),
    [
        (
            [[500.0, 510.0]],
            5.0,
            "source_nm must be a non-empty 1-D array of finite wavelengths (nm)",
        ),
        ([], 5.0, "source_nm must be a non-empty 1-D array of finite wavelengths (nm)"),
        (
            [500.0, np.nan],
            5.0,
            "source_nm must be a non-empty 1-D array of finite wavelengths (nm)",
        ),
        ([500.0], None, "source_fwhm_nm is required for a single source band"),
        ([500.0, 510.0], 0.0, "source_fwhm_nm must be finite and > 0 for every source band"),
        ([500.0, 510.0], -1.0, "source_fwhm_nm must be finite and > 0 for every source band"),
        (
            [500.0, 510.0],
            [5.0, np.nan],
            "source_fwhm_nm must be finite and > 0 for every source band",
        ),
    ],
)
def test_source_band_checks(source, fwhm, message):
    with pytest.raises(ValueError, match=exact(message)):
        build_resampler(source, fwhm, target=TARGET, method="naive")


def test_apply_checks_the_band_count_and_propagates_nan_only_where_used():
    res = build_resampler(SOURCE, 10.0, target=TARGET, method="naive")
    with pytest.raises(ValueError, match=exact("spectra have 3 bands, the resampler expects 5")):
        res.apply(np.zeros((2, 3)))
    x = np.array([[1.0, 2.0, 3.0, 4.0, np.nan], [1.0, 2.0, np.nan, 4.0, 5.0]])
    out = res.apply(x)  # A uses only the 500 nm band; Z is invalid
    assert out.shape == (2, 2) and out[0, 0] == 3.0 and np.isnan(out[1, 0])
    assert np.isnan(out[:, 1]).all()


def _reference_apply(weights, valid, x):
    """Resampled values written from the definition: per target, the weighted sum in float64;
    NaN where a band of non-zero weight is not finite or the target is invalid."""
    out = np.full((x.shape[0], weights.shape[0]), np.nan)
    for r in range(x.shape[0]):
        for k in range(weights.shape[0]):
            used = weights[k] > 0
            if valid[k] and np.isfinite(x[r, used]).all():
                pairs = zip(weights[k, used], x[r, used], strict=True)
                out[r, k] = sum(float(w) * float(v) for w, v in pairs)
    return out


def test_apply_keeps_float32_and_matches_the_definition_across_blocks(monkeypatch):
    import spectm.spectral.resample as rs

    monkeypatch.setattr(rs, "CHUNK_ROWS", 7)  # blocks of 7 rows: 30 rows = 4 blocks + 2 rows
    src = np.linspace(440.0, 900.0, 93)
    res = build_resampler(src, 6.0, method="srf")
    rng = np.random.default_rng(3)
    x = (0.01 + 0.002 * rng.standard_normal((30, src.size))).astype(np.float32)
    x[4, 10] = np.nan  # a band inside B02's run
    x[11, :] = np.nan  # a flagged pixel
    x[17, -1] = np.inf  # a band only the longest targets weigh
    x[23, 0] = np.nan  # a band no target weighs: nothing becomes NaN
    out = res.apply(x)
    assert out.dtype == np.float32 and out.shape == (30, 12)
    expect = _reference_apply(res.weights, res.valid, x.astype(np.float64))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expect))
    np.testing.assert_allclose(out, expect, rtol=2e-6, equal_nan=True)
    assert np.isfinite(out[23][res.valid]).all()
    out64 = res.apply(x.astype(np.float64))
    assert out64.dtype == np.float64
    np.testing.assert_allclose(out64, expect, rtol=1e-12, equal_nan=True)
    again = res.apply(x.reshape(5, 6, -1))  # any leading shape
    np.testing.assert_allclose(again, out.reshape(5, 6, -1), rtol=1e-6, equal_nan=True)


def test_apply_nan_at_a_zero_weight_inside_a_run_stays_out_of_the_result():
    # bands listed out of wavelength order: the 500 nm band sits between two bands of band A's
    # run but only the 900 nm band (weight 0 for A) is NaN, so A stays finite
    src = np.array([490.0, 900.0, 500.0, 510.0])
    res = build_resampler(src, 10.0, target=TARGET, method="gaussian", min_coverage=0.5)
    k = 0
    (lo, hi, targets), *_ = res.source_blocks
    assert (lo, hi) == (0, 4) and k in targets and res.weights[k, 1] == 0.0  # inside the run
    x = np.array([[1.0, np.nan, 3.0, 5.0], [1.0, 2.0, np.nan, 5.0]], dtype=np.float32)
    out = res.apply(x)
    expect = _reference_apply(res.weights, res.valid, x.astype(np.float64))
    np.testing.assert_allclose(out, expect, rtol=1e-6, equal_nan=True)
    assert np.isfinite(out[0, k]) and np.isnan(out[1, k])


def test_source_blocks_group_targets_whose_runs_are_close():
    # two Gaussian targets 40 nm apart on a 5 nm grid, and one far away
    src = np.arange(400.0, 1000.0, 5.0)
    table = pd.DataFrame(
        {"band": ["A", "B", "C"], "centre_nm": [500.0, 540.0, 900.0], "fwhm_nm": [10.0] * 3}
    )
    res = build_resampler(src, 5.0, target=table, method="gaussian")
    blocks = [(lo, hi, t.tolist()) for lo, hi, t in res.source_blocks]
    assert [t for _, _, t in blocks] == [[0, 1], [2]]
    for lo, hi, targets in blocks:  # every non-zero weight of a target lies in its block's run
        for k in targets:
            used = np.flatnonzero(res.weights[k] > 0)
            assert lo <= used.min() and used.max() < hi


def test_resample_keeps_float32_through_scale_and_standardisation():
    src = np.linspace(400.0, 2400.0, 201)
    x = np.full((3, src.size), 0.01, dtype=np.float32)
    y = resample(x, src, source_fwhm_nm=10.0, method="srf", rrs_to_reflectance=True,
                 scale=1e4, standardise=True)  # fmt: skip
    assert y.dtype == np.float32
    da = xr.DataArray(x, dims=("pixel", "wavelength"), coords={"wavelength": src})
    assert resample(da, source_fwhm_nm=10.0, method="srf").dtype == np.float32
    assert resample(x.astype(np.float64), src, source_fwhm_nm=10.0).dtype == np.float64


def test_dataarray_output_metadata():
    da = xr.DataArray(
        np.full((2, SOURCE.size), 0.01),
        dims=("pixel", "wavelength"),
        coords={"wavelength": SOURCE},
        name="Rrs",
        attrs={"units": "sr-1"},
    )
    out = resample(da, source_fwhm_nm=10.0, target=TARGET, method="naive")
    assert out.name == "Rrs" and out.dims == ("pixel", "band")
    assert out["band"].values.tolist() == ["A", "Z"]
    assert out["centre_nm"].values.tolist() == [500.0, 900.0]
    assert out["coverage"].values.tolist()[1] == 0.0
    assert out["n_source_bands"].values.tolist() == [1, 0]
    assert out["main_source_nm"].values[0] == 500.0 and np.isnan(out["main_source_nm"].values[1])
    assert out.attrs == {
        "units": "sr-1", "resample_method": "naive", "resample_target": "band table",
        "min_coverage": 0.95, "invalid_bands": "Z", "rrs_to_reflectance": 0, "scale": 1.0,
        "standardised": 0,
    }  # fmt: skip
    refl = resample(da, source_fwhm_nm=10.0, target=TARGET, rrs_to_reflectance=True, scale=2.0)
    assert refl.attrs["units"] == "1" and refl.attrs["rrs_to_reflectance"] == 1
    assert refl.attrs["scale"] == 2.0 and refl.values[0, 0] == pytest.approx(0.02 * np.pi)
    no_units = resample(
        da.assign_attrs(units=None).drop_attrs(), source_fwhm_nm=10.0, target=TARGET
    )
    assert no_units.attrs["units"] == ""
    s2 = xr.DataArray(np.full((1, 5), 0.01), dims=("p", "wavelength"),
                      coords={"wavelength": [490.0, 560.0, 665.0, 705.0, 740.0]})  # fmt: skip
    std = resample(s2, source_fwhm_nm=10.0, min_coverage=0.01, standardise=True)
    assert std.attrs["units"] == "1 (TerraMind-standardised)" and std.attrs["standardised"] == 1
    with pytest.raises(
        ValueError, match=exact("DataArray has no 'wavelength' coordinate; pass source_nm")
    ):
        resample(xr.DataArray(np.zeros((1, 5)), dims=("p", "wavelength")), target=TARGET)
    with pytest.raises(ValueError, match=exact("source_nm has 4 values but 'wavelength' has 5")):
        resample(da, SOURCE[:4], source_fwhm_nm=10.0, target=TARGET)
    with pytest.raises(ValueError, match="needs the 12 Sentinel-2 L2A bands as target"):
        resample(da, source_fwhm_nm=10.0, target=TARGET, standardise=True)


def test_dataframe_and_array_inputs():
    df = pd.DataFrame(np.full((2, SOURCE.size), 0.01), columns=[f"Rrs_{w:g}" for w in SOURCE])
    df.insert(0, "station", ["WE2", "WE4"])
    out = resample(df, source_fwhm_nm=10.0, target=TARGET)
    assert list(out.columns) == ["station", "A", "Z"]
    prov = build_resampler(SOURCE, 10.0, target=TARGET).provenance()
    assert out.attrs["resample"]["band"] == ["A", "Z"]
    assert out.attrs["resample"]["n_source_bands"] == prov["n_source_bands"].tolist()
    with pytest.raises(ValueError, match=exact("input table already has columns ['A']")):
        resample(df.assign(A=1.0), source_fwhm_nm=10.0, target=TARGET)
    with pytest.raises(
        ValueError, match=exact("source_nm has 4 values but the table has 5 Rrs columns")
    ):
        resample(df, SOURCE[:4], source_fwhm_nm=10.0, target=TARGET)
    # an explicit source_nm replaces the column wavelengths
    shifted = resample(df, SOURCE + 400.0, source_fwhm_nm=10.0, target=TARGET)
    assert shifted["A"].isna().all() and shifted["Z"].notna().all()
    arr = resample([[0.01, 0.02, 0.03, 0.04, 0.05]], [480, 490, 500, 510, 520], source_fwhm_nm=10.0,
                   target=TARGET)  # fmt: skip
    assert isinstance(arr, np.ndarray) and arr[0, 0] == 0.03
    with pytest.raises(ValueError, match=exact("source_nm is required for a numpy array")):
        resample(np.zeros((1, 5)), target=TARGET)
    s2 = resample(np.full((1, SOURCE.size), 0.01), SOURCE, source_fwhm_nm=10.0, min_coverage=0.01)
    assert s2.shape == (1, len(S2_L2A_BANDS))  # the default target: Sentinel-2A


def test_write_resampled_table_band_number_files_and_their_errors(tmp_path):
    df = pd.DataFrame({"2": [0.02], "1": [0.01], "3": [0.03], "scene": ["a"]})
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    out = tmp_path / "out.csv"
    # rows by band number, out of order; wavelengths not in band order either
    wl = pd.DataFrame({"band": [3, 1, 2], "wavelength_nm": [510.0, 500.0, 490.0],
                       "fwhm_nm": [10.0, 10.0, 10.0]})  # fmt: skip
    wl.to_csv(tmp_path / "wl.csv", index=False)
    cov = write_resampled_table(src, out, target=TARGET, version="4.0", method="naive",
                                wavelength_file=tmp_path / "wl.csv")  # fmt: skip
    got = pd.read_csv(out)
    assert list(got.columns) == ["scene", "A", "Z"] and got["A"].tolist() == [0.01]  # band 1
    assert cov["main_source_nm"].iloc[0] == 500.0
    # support 485-515 nm from the file's FWHM: +-3.5 sigma of A's response
    assert cov["coverage"].iloc[0] == pytest.approx(0.99967, abs=1e-5)
    # no band column: the rows pair with the band columns in their order in the table (2, 1, 3)
    pd.DataFrame({"wavelength_nm": [500.0, 510.0, 490.0]}).to_csv(
        tmp_path / "plain.csv", index=False
    )
    write_resampled_table(src, out, target=TARGET, version="4.0", method="naive",
                          wavelength_file=tmp_path / "plain.csv", fwhm_nm=10.0)  # fmt: skip
    assert pd.read_csv(out)["A"].tolist() == [0.02]  # column 2 sits at 500 nm here
    # a FWHM given as an argument overrides the file's: 2 nm bands 10 nm apart leave gaps
    cov2 = write_resampled_table(src, out, target=TARGET, version="4.0", fwhm_nm=2.0,
                                 method="naive", wavelength_file=tmp_path / "wl.csv")  # fmt: skip
    assert not cov2["valid"].iloc[0]

    def fails(table: pd.DataFrame, message: str, data=src) -> None:
        table.to_csv(tmp_path / "bad.csv", index=False)
        with pytest.raises(ValueError, match=exact(message)):
            write_resampled_table(data, out, target=TARGET, version="4.0", method="naive",
                                  wavelength_file=tmp_path / "bad.csv")  # fmt: skip

    bad = tmp_path / "bad.csv"
    fails(
        wl.rename(columns={"wavelength_nm": "nm"}),
        f"{bad}: no 'wavelength_nm' column (columns: ['band', 'nm', 'fwhm_nm']); expected a band "
        "table CSV with wavelength_nm (nm) and optional band, fwhm_nm (nm) columns",
    )
    fails(wl[wl["band"] != 2], f"{bad}: no row for band columns ['2'] of {src}")
    fails(wl.drop(columns="band").head(2), f"{bad} has 2 rows for 3 band columns of {src}")
    fails(
        wl.assign(wavelength_nm=500.0),
        f"{bad}: column wavelength_nm: duplicate wavelength 500 nm (500, 500, 500); "
        "expected one band per wavelength",
    )
    no_numbers = tmp_path / "words.csv"
    df.rename(columns={"1": "x", "2": "y", "3": "z"}).to_csv(no_numbers, index=False)
    fails(wl, f"{no_numbers}: no plain band-number columns to pair with {bad}", data=no_numbers)


def test_sensor_band_tables_and_their_errors(tmp_path):
    df = pd.DataFrame({"Rrs_500": [0.01], "Rrs_600": [0.02]})
    df.to_csv(tmp_path / "in.csv", index=False)
    src = tmp_path / "in.csv"
    unknown = f"{src}: unknown sensor 'modis'; choose from ['pace_oci', 'enmap']"
    with pytest.raises(ValueError, match=exact(f"{unknown}; expected the modis band centres")):
        write_resampled_table(tmp_path / "in.csv", tmp_path / "o.csv", target=TARGET,
                              version="4.0", sensor="modis")  # fmt: skip
    off_grid = f"{src}: wavelengths [600.0] nm are not pace_oci bands"
    with pytest.raises(ValueError, match=exact(f"{off_grid}; expected the pace_oci band centres")):
        write_resampled_table(tmp_path / "in.csv", tmp_path / "o.csv", target=TARGET,
                              version="4.0", sensor="pace_oci")  # fmt: skip
    assert not (tmp_path / "o.csv").exists()


# --------------------------------------------------------------------------- coverage and weights

GAP_SOURCE = np.array([500.0, 510.0, 522.0])
GAP_FWHM = np.array([10.0, 2.0, 2.0])
"""A wide band, then two narrow ones 12 nm apart: a gap (> 2 FWHM) between 511 and 521 nm only."""

WIDE = pd.DataFrame({"band": ["W"], "centre_nm": [515.0], "fwhm_nm": [20.0]})
"""A 20 nm target band over the gap (tabulated at 1 nm: 20 / 20 samples per nm, at least 1)."""


def hand_coverage() -> float:
    """Coverage of WIDE by GAP_SOURCE, by hand: the support is 495-523 nm without 511-521 nm."""
    g = np.arange(455.0, 576.0)  # 515 -+ 3 FWHM, 1 nm
    s = np.exp(-4.0 * np.log(2.0) * (g - 515.0) ** 2 / 20.0**2)
    inside = (g >= 495.0) & (g <= 523.0) & ~((g > 511.0) & (g < 521.0))
    return float(s[inside].sum() / s.sum())


def test_coverage_excludes_exactly_the_wide_gap(caplog):
    expected = hand_coverage()
    assert 0.3 < expected < 0.95
    res = build_resampler(GAP_SOURCE, GAP_FWHM, target=WIDE, method="gaussian", min_coverage=0.3)
    assert res.coverage[0] == pytest.approx(expected, rel=1e-9) and res.valid[0]
    # the threshold is inclusive: exactly the band's coverage keeps it, a hair more does not
    at = build_resampler(GAP_SOURCE, GAP_FWHM, target=WIDE, method="naive",
                         min_coverage=float(res.coverage[0]))  # fmt: skip
    assert at.valid[0]
    caplog.set_level(logging.WARNING, logger="spectm.spectral.resample")
    above = build_resampler(GAP_SOURCE, GAP_FWHM, target=WIDE, method="naive",
                            min_coverage=float(res.coverage[0]) + 1e-9)  # fmt: skip
    assert not above.valid[0] and not above.weights.any()
    assert caplog.messages == [
        f"target band W (band table) set to NaN: {100 * expected:.1f} % of its response lies "
        f"inside the source's spectral support (min {100 * expected:.1f} %)"
    ]
    # resample() passes min_coverage on: the band is there at 0.3, NaN at the default 0.95
    x = np.array([[0.01, 0.02, 0.03]])
    kw = {"source_fwhm_nm": GAP_FWHM, "target": WIDE, "method": "gaussian"}
    assert np.isfinite(resample(x, GAP_SOURCE, min_coverage=0.3, **kw)).all()
    assert np.isnan(resample(x, GAP_SOURCE, **kw)).all()
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match=exact(f"min_coverage must be in (0, 1], got {bad}")):
            build_resampler(GAP_SOURCE, GAP_FWHM, target=WIDE, min_coverage=bad)
    full = build_resampler(SOURCE, 10.0, target=TARGET, min_coverage=1.0)
    assert full.valid.tolist() == [False, False]  # 1 is allowed; A's tails fall outside


def test_gaussian_weights_match_numerical_integration_for_sparse_sources():
    """w_ki = integral S_k g_i by the trapezoid rule on a fine grid, for bands 10 nm apart.

    S_k is the Gaussian target sampled every 0.5 nm (20 samples per FWHM), cut beyond 3 FWHM and
    linear between samples: the response the module documents.
    """
    res = build_resampler(SOURCE, 10.0, target=TARGET, method="gaussian")
    lam = np.linspace(440.0, 560.0, 240001)
    sig = 10.0 / np.sqrt(8.0 * np.log(2.0))
    knots = np.arange(440.0, 560.5, 0.5)
    samples = np.exp(-0.5 * ((knots - 500.0) / sig) ** 2) * (np.abs(knots - 500.0) <= 30.0)
    s_k = np.interp(lam, knots, samples)
    g = np.exp(-0.5 * ((lam[None, :] - SOURCE[:, None]) / sig) ** 2) / (sig * np.sqrt(2 * np.pi))
    w = np.trapezoid(s_k[None, :] * g, lam, axis=1)
    np.testing.assert_allclose(res.weights[0], w / w.sum(), rtol=1e-5)


def test_gaussian_method_on_sentinel2_uses_the_bands_gaussian_parameters():
    from spectm.spectral.srf import s2_band_parameters

    wl = np.arange(400.0, 720.0, 2.5)
    x = (0.01 + 0.004 * np.sin(wl / 20.0))[None, :]  # curved: the response shape matters
    gauss = resample(x, wl, source_fwhm_nm=2.5, method="gaussian", version="3.0")
    table = resample(x, wl, source_fwhm_nm=2.5, method="gaussian",
                     target=s2_band_parameters("S2A", "3.0"))  # fmt: skip
    srf = resample(x, wl, source_fwhm_nm=2.5, method="srf", version="3.0")
    ok = np.isfinite(gauss[0])
    assert ok.sum() >= 4
    np.testing.assert_allclose(gauss[0, ok], table[0, ok], rtol=1e-4)
    assert np.abs(gauss[0, ok] - srf[0, ok]).max() > 1e-5  # not the tabulated SRF
    prov = build_resampler(wl, 2.5, method="gaussian").provenance()
    assert set(prov["target"]) == {"S2A v4.0"}


def test_provenance_per_band_ranges_and_float_columns():
    two = pd.DataFrame({"band": ["A", "B"], "centre_nm": [500.0, 510.0], "fwhm_nm": [10.0, 10.0]})
    prov = build_resampler(SOURCE, 10.0, target=two, method="naive").provenance()
    assert prov["source_min_nm"].tolist() == [500.0, 510.0]
    assert prov["source_max_nm"].tolist() == [500.0, 510.0]
    for col in ("source_min_nm", "source_max_nm", "weighted_source_nm", "main_source_nm"):
        p = build_resampler(SOURCE, 10.0, target=TARGET, method="naive").provenance()
        assert p[col].dtype == np.float64, col


def test_target_table_and_method_errors():
    with pytest.raises(ValueError, match=exact("target band table lacks columns ['fwhm_nm']")):
        build_resampler(SOURCE, 10.0, target=TARGET.drop(columns="fwhm_nm"))
    message = "method 'srf' needs a tabulated SRF; use method='gaussian'"
    with pytest.raises(ValueError, match=exact(message)):
        build_resampler(SOURCE, 10.0, target=TARGET, method="srf")
    message = "standardise=True needs the 12 Sentinel-2 L2A bands as target"
    with pytest.raises(ValueError, match=exact(message)):
        resample(np.zeros((1, 5)), SOURCE, source_fwhm_nm=10.0, target=TARGET, standardise=True)


def test_apply_keeps_leading_dimensions():
    res = build_resampler(SOURCE, 10.0, target=TARGET, method="naive")
    cube = np.arange(2 * 3 * 5, dtype=float).reshape(2, 3, 5)
    out = res.apply(cube)
    assert out.shape == (2, 3, 2) and (out[..., 0] == cube[..., 2]).all()


def test_write_resampled_table_passes_every_setting_on(tmp_path):
    wl = np.arange(400.0, 720.0, 2.5)
    x = 0.01 + 0.004 * np.sin(wl / 20.0)
    df = pd.DataFrame([x, x * 1.1], columns=[f"Rrs_{w:g}" for w in wl])
    src = tmp_path / "in.pq"  # parquet under its short suffix
    df.to_parquet(src)
    kw = {"target": "S2B", "version": "3.0", "method": "gaussian", "min_coverage": 0.5}
    cov = write_resampled_table(src, tmp_path / "o.csv", rrs_to_reflectance=True, scale=2.0,
                                standardise=True, **kw)  # fmt: skip
    want = resample(df, source_fwhm_nm=2.5, rrs_to_reflectance=True, scale=2.0, standardise=True,
                    **kw)  # fmt: skip
    got = pd.read_csv(tmp_path / "o.csv")
    np.testing.assert_allclose(got[list(S2_L2A_BANDS)], want[list(S2_L2A_BANDS)], rtol=1e-9)
    ref = build_resampler(wl, 2.5, **kw).provenance()
    pd.testing.assert_frame_equal(cov, ref)
    assert set(cov["method"]) == {"gaussian"} and set(cov["target"]) == {"S2B v3.0"}
    # defaults: the srf method; without a sensor or FWHM, the FWHM is the band spacing
    default = write_resampled_table(src, tmp_path / "d.csv", target="S2A", version="4.0")
    assert set(default["method"]) == {"srf"}
    pd.testing.assert_frame_equal(default, build_resampler(wl, 2.5, method="srf").provenance())


def test_sensor_tables_give_exact_centres_and_reject_off_grid_wavelengths(tmp_path):
    from spectm.spectral.bands import enmap_bands

    enmap = enmap_bands().head(40)
    df = pd.DataFrame(
        [np.full(len(enmap), 0.05)], columns=[f"Rrs_{w:g}" for w in enmap["centre_nm"]]
    )
    df.to_csv(tmp_path / "e.csv", index=False)
    cov = write_resampled_table(tmp_path / "e.csv", tmp_path / "o.csv", target="S2A",
                                version="4.0", sensor="enmap", method="gaussian")  # fmt: skip
    ref = build_resampler(enmap["centre_nm"], enmap["fwhm_nm"], method="gaussian").provenance()
    pd.testing.assert_frame_equal(cov, ref)
    off = pd.DataFrame([np.full(7, 0.01)], columns=[f"Rrs_{w:g}" for w in
                       (500.5, 501.5, 503.5, 505.5, 507.5, 509.5, 512.0)])  # fmt: skip
    off.to_csv(tmp_path / "off.csv", index=False)
    message = (
        f"{tmp_path / 'off.csv'}: wavelengths [500.5, 501.5, 503.5, 505.5, 507.5] nm are not "
        "pace_oci bands; expected the pace_oci band centres"
    )
    with pytest.raises(ValueError, match=exact(message)):
        write_resampled_table(tmp_path / "off.csv", tmp_path / "o.csv", target="S2A",
                              version="4.0", sensor="pace_oci")  # fmt: skip
