import logging

import numpy as np
import pandas as pd
import pytest

from spectm.spectral.bands import pace_oci_rrs_wavelengths
from spectm.spectral.indices import (
    INDICES,
    compute_indices,
    index_array,
    index_band_table,
    line_height,
)

# A tiny sensor with exactly the wanted wavelengths, one value per band (sr-1), chosen by hand.
WL = np.array([443, 555, 600, 620, 625, 650, 665, 670, 681, 700, 708, 709, 753], dtype=float)
R = {
    443: 0.004,
    555: 0.010,
    600: 0.008,
    620: 0.006,
    625: 0.0062,
    650: 0.0075,
    665: 0.005,
    670: 0.0052,
    681: 0.007,
    700: 0.009,
    708: 0.011,
    709: 0.0112,
    753: 0.003,
}
SPEC = np.array([[R[int(w)] for w in WL]])


def test_hand_computed_values():
    df = compute_indices(SPEC, WL)
    assert list(df.columns) == list(INDICES)
    got = df.iloc[0]
    # NDCI: (0.011 - 0.005) / (0.011 + 0.005) = 0.006 / 0.016
    assert got["NDCI"] == pytest.approx(0.375, abs=1e-12)
    # SS(681) = 0.007 - 0.005 - (0.0112 - 0.005) * 16 / 44 = 0.002 - 0.0062 * 0.363636...
    ss681 = 0.002 - 0.0062 * 16.0 / 44.0
    assert got["FLH681"] == pytest.approx(ss681, abs=1e-12)
    assert got["CI_cyano"] == pytest.approx(-ss681, abs=1e-12)
    # SS(665) = 0.005 - 0.006 - (0.007 - 0.006) * 45 / 61
    assert got["SS665"] == pytest.approx(-0.001 - 0.001 * 45.0 / 61.0, abs=1e-12)
    assert got["PC_709_620"] == pytest.approx(0.0112 / 0.006, rel=1e-12)
    assert got["PC_650_625"] == pytest.approx(0.0075 / 0.0062, rel=1e-12)
    assert got["PC_700_600"] == pytest.approx(0.009 / 0.008, rel=1e-12)
    # Hu CI = 0.010 - [0.004 + 112/227 * (0.0052 - 0.004)]
    assert got["CI_Hu"] == pytest.approx(0.006 - 112.0 / 227.0 * 0.0012, abs=1e-12)
    # MCI = 0.0112 - 0.007 - (0.003 - 0.007) * 28 / 72
    assert got["MCI"] == pytest.approx(0.0042 + 0.004 * 28.0 / 72.0, abs=1e-12)


def test_line_height_of_straight_line_is_zero():
    assert line_height(np.array(1.0), np.array(2.0), np.array(4.0), 0.0, 1.0, 3.0) == 0.0


@pytest.mark.parametrize("level", [0.0, 0.0123, 5.0])
def test_flat_spectrum_zero_line_heights(level):
    wl = np.arange(400.0, 800.0, 1.0)
    spec = np.full((3, wl.size), level)
    df = compute_indices(spec, wl)
    for name in ["CI_cyano", "SS665", "FLH681", "CI_Hu", "MCI"]:
        np.testing.assert_allclose(df[name].to_numpy(), 0.0, atol=1e-12)
    if level > 0:
        np.testing.assert_allclose(df["NDCI"], 0.0, atol=1e-12)
        for name in ["PC_709_620", "PC_650_625", "PC_700_600"]:
            np.testing.assert_allclose(df[name], 1.0, rtol=1e-12)
    else:  # 0/0 ratios are NaN, not inf or a warning
        assert df["NDCI"].isna().all()
        assert df["PC_709_620"].isna().all()


def test_pace_mci_and_600nm_ratio_nan_with_logged_reason(caplog):
    wl = pace_oci_rrs_wavelengths()
    rng = np.random.default_rng(0)
    spec = rng.uniform(0.001, 0.02, size=(4, wl.size))
    # warning the first time in a process, debug afterwards: capture both
    with caplog.at_level(logging.DEBUG, logger="spectm.spectral.indices"):
        df = compute_indices(spec, wl)
    assert df["MCI"].isna().all()
    assert df["PC_700_600"].isna().all()  # 600 nm lies in PACE's 589-612 nm gap
    for name in ["NDCI", "CI_cyano", "SS665", "FLH681", "PC_709_620", "PC_650_625", "CI_Hu"]:
        assert df[name].notna().all(), name
    text = caplog.text
    assert "MCI" in text and "753.00" in text and "719.00" in text
    assert "PC_700_600" in text and "600.00" in text


def test_pace_band_table():
    tab = index_band_table(pace_oci_rrs_wavelengths())
    ndci = tab[tab["index"] == "NDCI"].set_index("wanted_nm")
    assert ndci.loc[665.0, "nearest_nm"] == 665.0
    assert ndci.loc[708.0, "nearest_nm"] == 708.0
    assert ndci["used"].all()
    mci = tab[tab["index"] == "MCI"].set_index("wanted_nm")
    assert not mci.loc[753.0, "used"]
    assert mci.loc[753.0, "nearest_nm"] == 719.0
    hu = tab[tab["index"] == "CI_Hu"].set_index("wanted_nm")
    # 443 nm is absent on PACE: 442 and 445 exist, nearest is 442 (1 nm)
    assert hu.loc[443.0, "nearest_nm"] == 442.0
    assert hu.loc[443.0, "offset_nm"] == -1.0


def test_tolerance_behaviour():
    # the 753 band shifted to 756 nm: 3 nm away is accepted, 3.5 nm is not
    wl = WL.copy()
    wl[-1] = 756.0
    ok = compute_indices(SPEC, wl, names=["MCI"], tolerance_nm=3.0)
    assert np.isfinite(ok["MCI"]).all()
    wl[-1] = 756.5
    bad = compute_indices(SPEC, wl, names=["MCI"], tolerance_nm=3.0)
    assert bad["MCI"].isna().all()
    loose = compute_indices(SPEC, wl, names=["MCI"], tolerance_nm=4.0)
    # the coefficients stay the published ones; only the band picked changes
    assert loose["MCI"].iloc[0] == pytest.approx(0.0042 + 0.004 * 28.0 / 72.0, abs=1e-12)


def test_index_array_leading_dims_and_names_order():
    rng = np.random.default_rng(1)
    cube = rng.uniform(0.001, 0.02, size=(2, 3, WL.size))
    arr = index_array(cube, WL, names=["MCI", "NDCI"])
    assert arr.shape == (2, 3, 2)
    flat = compute_indices(cube.reshape(-1, WL.size), WL, names=["MCI", "NDCI"])
    np.testing.assert_allclose(arr.reshape(-1, 2), flat.to_numpy())


def test_nan_band_propagates_only_to_indices_using_it():
    spec = SPEC.copy()
    spec[0, list(WL).index(753.0)] = np.nan
    df = compute_indices(spec, WL)
    assert np.isnan(df.loc[0, "MCI"])
    assert df.drop(columns="MCI").notna().all(axis=None)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown bio-optical index"):
        compute_indices(SPEC, WL, names=["NDVI"])
    with pytest.raises(ValueError, match="last axis"):
        compute_indices(SPEC[:, :-1], WL)
    with pytest.raises(ValueError, match=r"\(n_spectra, n_bands\)"):
        compute_indices(SPEC[0], WL)
    assert isinstance(compute_indices(SPEC, WL), pd.DataFrame)


def test_registry_metadata():
    for ix in INDICES.values():
        assert ix.formula and ix.source and len(ix.wavelengths_nm) >= 2
        assert all(400 <= w <= 760 for w in ix.wavelengths_nm)


def test_index_array_keeps_float32_across_blocks(monkeypatch):
    import spectm.spectral.indices as si

    monkeypatch.setattr(si, "CHUNK_ROWS", 3)  # 10 rows: blocks of 3, 3, 3 and 1
    scale = np.linspace(0.5, 1.5, 10)[:, None]
    x = (SPEC * scale).astype(np.float32)
    x[7, list(WL).index(665.0)] = np.nan
    out = index_array(x, WL)
    assert out.dtype == np.float32 and out.shape == (10, len(INDICES))
    ndci = list(INDICES).index("NDCI")
    # NDCI is scale-free: 0.375 on every row (hand value above) but the one missing 665 nm
    expect = np.full(10, 0.375)
    expect[7] = np.nan
    np.testing.assert_allclose(out[:, ndci], expect, rtol=1e-6)
    np.testing.assert_allclose(out, index_array(x.astype(np.float64), WL), rtol=1e-5, atol=1e-9)
    assert index_array(x.astype(np.float64), WL).dtype == np.float64
