import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from spectm.data_files import data_path
from spectm.geo import WESTERN_BASIN_BBOX, geodesic_km, in_bbox
from spectm.io.chips import ChipContractError, read_chip_file, validate_chip, write_chip
from spectm.io.pace_l2 import (
    L2_AOP_NAME_RE,
    L2_AOP_STEM_PATTERN,
    L2_FLAG_MASKS,
    L2_FLAG_NAMES,
    NASA_MATCHUP_EXCLUDE,
    L2ReadError,
    flag_bits,
    flag_names_in,
    flag_statistics,
    flagged,
    granule_time,
    make_chip,
    open_l2_aop,
    processing_version_from_name,
    read_chip,
)
from spectm.report.quicklook import rgb_image, true_colour_png
from spectm.sources.pace.replay import write_demo_granule
from spectm.tables import spectra_matrix

TABLE = data_path("pace_oci", "lake_erie_pace_oci_l2aop_rrs_glerl_matchups_2024_2025.csv")
SMALL = {"shape": (48, 44), "pixel_km": 3.0, "cloud_fraction": 0.15}
G_TURBID = "PACE_OCI.20241009T180532.L2.OC_AOP.V3_0.nc"  # autumn: turbid, TURBIDW pixels
MEANINGS = " ".join(L2_FLAG_NAMES)


def bit(name):
    return 1 << L2_FLAG_NAMES.index(name)


@pytest.fixture(scope="module")
def granule(tmp_path_factory):
    return write_demo_granule(G_TURBID, tmp_path_factory.mktemp("l2"), seed=0, **SMALL)


@pytest.fixture(scope="module")
def chip(granule):
    return read_chip(granule, bbox=WESTERN_BASIN_BBOX)


def raw_flags(path):
    with h5py.File(path, "r") as f:
        return f["geophysical_data/l2_flags"][...].astype(np.int64) & 0xFFFFFFFF


# --------------------------------------------------------------------------- flags


def test_flag_bits_against_known_masks():
    assert flag_bits(["LAND"], L2_FLAG_MASKS, MEANINGS) == 2
    assert flag_bits(["CLDICE"], L2_FLAG_MASKS, MEANINGS) == 512
    assert flag_bits(["TURBIDW"], L2_FLAG_MASKS, MEANINGS) == 2048
    assert flag_bits(["PRODFAIL"], L2_FLAG_MASKS, MEANINGS) == 2**30
    assert flag_bits([], L2_FLAG_MASKS, MEANINGS) == 0
    # NASA matchup exclusion: 1+2+8+16+32+256+512+4096+16384+65536+2**25+2**26
    assert flag_bits(NASA_MATCHUP_EXCLUDE, L2_FLAG_MASKS, MEANINGS) == 100750139
    for kept in ("TURBIDW", "CHLFAIL", "CHLWARN"):
        assert kept not in NASA_MATCHUP_EXCLUDE
    assert len(L2_FLAG_NAMES) == 32
    assert L2_FLAG_MASKS.dtype == np.int32 and L2_FLAG_MASKS[-1] == -(2**31)


def test_flag_bits_errors():
    with pytest.raises(ValueError, match="unknown l2_flags name 'CLOUD'"):
        flag_bits(["CLOUD"], L2_FLAG_MASKS, MEANINGS)
    with pytest.raises(ValueError, match="ambiguous"):
        flag_bits(["SPARE"], L2_FLAG_MASKS, MEANINGS)
    with pytest.raises(ValueError, match="flag_masks has 2 values"):
        flag_bits(["LAND"], [1, 2], MEANINGS)


def test_bit_31_and_decoding_of_int32_values():
    meanings = MEANINGS.rsplit(" ", 1)[0] + " TOP"
    top = flag_bits(["TOP"], L2_FLAG_MASKS, meanings)
    assert top == 2**31
    values = np.array([np.int32(-(2**31)), 2 | 512, 0], dtype=np.int32)
    assert flagged(values, top).tolist() == [True, False, False]
    assert flagged(values, 512).tolist() == [False, True, False]
    assert flag_names_in(2 | 2048, L2_FLAG_MASKS, MEANINGS) == ["LAND", "TURBIDW"]


def test_processing_version_from_name():
    assert processing_version_from_name("PACE_OCI.20240929T185124.L2.OC_AOP.V3_0.nc") == "3.0"
    assert processing_version_from_name("x/PACE_OCI.20250427T175213.L2.OC_AOP.V3_1.NRT.nc") == "3.1"
    with pytest.raises(ValueError, match="not a PACE OCI L2 AOP file name"):
        processing_version_from_name("PACE_OCI.20240929T185124.L1B.V3.nc")


def test_granule_time_from_file_name_path_or_stem():
    t = pd.Timestamp("2024-09-29T18:51:24Z")
    assert granule_time("PACE_OCI.20240929T185124.L2.OC_AOP.V3_0.nc") == t
    assert granule_time("PACE_OCI.20240929T185124.L2.OC_AOP.V3_0") == t  # wildcard stem
    assert granule_time(Path("x") / "PACE_OCI.20240929T185124.L2.OC_AOP.V3_1.NRT.nc") == t
    assert str(granule_time("PACE_OCI.20240929T185124.L2.OC_AOP.V3_1.NRT").tz) == "UTC"
    for bad in ("PACE_OCI.20240929T185124.L1B.V3.nc", "PACE_OCI.20240929T185124.L2.OC_AOP.V3_0.h5"):
        with pytest.raises(ValueError, match="not a PACE OCI L2 AOP file name"):
            granule_time(bad)


def test_one_granule_name_pattern():
    """The file-name regex is the stem pattern plus .nc; the stem pattern is the wildcard's."""
    assert L2_AOP_NAME_RE.pattern == rf"^{L2_AOP_STEM_PATTERN}\.nc$"
    stem = re.compile(L2_AOP_STEM_PATTERN)
    for name in (
        "PACE_OCI.20240929T185124.L2.OC_AOP.V3_0",
        "PACE_OCI.20250427T175213.L2.OC_AOP.V3_1.NRT",
        "PACE_OCI.20250427T175213.L2.OC_AOP.V10",
    ):
        assert stem.fullmatch(name), name
        assert L2_AOP_NAME_RE.match(name + ".nc").groups() == stem.fullmatch(name).groups()
    for name in (
        "PACE_OCI.20240929T185124.L2.OC_AOP.V3_0.nc",  # a file name, not a stem
        "PACE_OCI.20240929T1851.L2.OC_AOP.V3_0",  # short time
        "PACE_OCI.20240929T185124.L2.OC_BGC.V3_0",  # another product
        "PACE_OCI.20240929T185124.L2.OC_AOP.V3_",
    ):
        assert stem.fullmatch(name) is None, name
        assert L2_AOP_NAME_RE.match(name + ".nc") is None, name


# --------------------------------------------------------------------------- read_chip


def test_round_trip_station_spectra_and_flags(granule, chip):
    df = pd.read_csv(TABLE)
    spectra, wl = spectra_matrix(df)
    validate_chip(chip)
    np.testing.assert_array_equal(chip["wavelength"].values, wl)
    rows = np.flatnonzero((df["granule"] == G_TURBID).to_numpy())
    flags = chip["l2_flags"].values.astype(np.int64) & 0xFFFFFFFF
    turbid_station = 0
    for i in rows:
        d = geodesic_km(chip["lat"].values, chip["lon"].values, df["lat"][i], df["lon"][i])
        y, x = np.unravel_index(np.argmin(d), d.shape)
        # int16 packing: half a step of 2e-6 sr-1 plus float32 rounding
        np.testing.assert_allclose(chip["Rrs"].values[y, x], spectra[i], atol=1.0e-6 + 1e-8, rtol=0)
        turbid_station += bool(flags[y, x] & bit("TURBIDW"))
    assert turbid_station >= 1  # TURBIDW stations stay valid
    rrs = chip["Rrs"].values
    valid = np.isfinite(rrs).all(axis=-1)
    assert (np.isnan(rrs).all(axis=-1) == ~valid).all()  # whole pixels, never single bands
    excluded = (flags & flag_bits(NASA_MATCHUP_EXCLUDE, L2_FLAG_MASKS, MEANINGS)) != 0
    np.testing.assert_array_equal(valid, ~excluded)
    for name in ("LAND", "CLDICE", "STRAYLIGHT"):
        assert ((flags & bit(name)) != 0).any(), name
        assert not valid[(flags & bit(name)) != 0].any(), name
    turbid = (flags & bit("TURBIDW")) != 0
    assert turbid.sum() > 5 and valid[turbid & ~excluded].all()
    assert chip.attrs["granule"] == G_TURBID
    assert chip.attrs["processing_version"] == "3.0"
    assert chip.attrs["time_coverage_start"] == "2024-10-09T18:05:32.000Z"
    assert chip.attrs["flags_applied"].split() == list(NASA_MATCHUP_EXCLUDE)
    np.testing.assert_array_equal(chip.attrs["bbox"], WESTERN_BASIN_BBOX)


def test_only_the_bbox_window_is_read(granule, chip):
    with h5py.File(granule, "r") as f:
        lat = f["navigation_data/latitude"][...]
        lon = f["navigation_data/longitude"][...]
        full = f["geophysical_data/Rrs"].shape
    ny, nx, nb = chip["Rrs"].shape
    assert ny < full[0] and nx < full[1] and nb == full[2]
    inside = in_bbox(lat, lon, WESTERN_BASIN_BBOX)
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    np.testing.assert_array_equal(chip["line"].values, np.arange(rows[0], rows[-1] + 1))
    np.testing.assert_array_equal(chip["pixel"].values, np.arange(cols[0], cols[-1] + 1))
    win = in_bbox(chip["lat"].values, chip["lon"].values, WESTERN_BASIN_BBOX)
    assert win.sum() == inside.sum()  # every AOI pixel is in the window ...
    assert win[0].any() and win[-1].any() and win[:, 0].any() and win[:, -1].any()  # ... tightly
    np.testing.assert_array_equal(
        chip["lat"].values, lat[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    )


def test_exclude_flags_are_configurable(granule, chip):
    loose = read_chip(granule, bbox=WESTERN_BASIN_BBOX, exclude_flags=["LAND"])
    flags = loose["l2_flags"].values.astype(np.int64) & 0xFFFFFFFF
    stray = (flags & bit("STRAYLIGHT")) != 0
    assert np.isfinite(loose["Rrs"].values[stray]).all()
    assert np.isnan(chip["Rrs"].values[stray]).all()
    cloud = (flags & bit("CLDICE")) != 0
    assert np.isnan(loose["Rrs"].values[cloud]).all()  # fill values stay NaN
    with pytest.raises(L2ReadError, match="unknown l2_flags name 'CLOUDS'"):
        read_chip(granule, bbox=WESTERN_BASIN_BBOX, exclude_flags=["CLOUDS"])


def test_truncated_file_error_names_the_file(granule, tmp_path):
    bad = tmp_path / granule.name
    bad.write_bytes(granule.read_bytes()[: granule.stat().st_size // 2])
    with pytest.raises(L2ReadError, match=rf"{bad.name}.*truncated or corrupt"):
        read_chip(bad, bbox=WESTERN_BASIN_BBOX)
    text = tmp_path / "notes.nc"
    text.write_text("not a netcdf file")
    with pytest.raises(L2ReadError, match=r"notes\.nc"):
        open_l2_aop(text)
    with pytest.raises(FileNotFoundError, match=r"missing\.nc"):
        open_l2_aop(tmp_path / "missing.nc")


def test_missing_group_or_variable_error(granule, tmp_path):
    no_nav = tmp_path / "no_nav.nc"
    shutil.copy(granule, no_nav)
    with h5py.File(no_nav, "r+") as f:
        del f["navigation_data"]
    with pytest.raises(L2ReadError, match=r"no_nav.nc: group 'navigation_data' is missing"):
        read_chip(no_nav, bbox=WESTERN_BASIN_BBOX)
    no_flags = tmp_path / "no_flags.nc"
    shutil.copy(granule, no_flags)
    with h5py.File(no_flags, "r+") as f:
        del f["geophysical_data/l2_flags"]
    with pytest.raises(L2ReadError, match=r"no_flags.nc: variable 'geophysical_data/l2_flags'"):
        read_chip(no_flags, bbox=WESTERN_BASIN_BBOX)


def test_bbox_outside_granule_is_an_error(granule):
    with pytest.raises(L2ReadError, match=rf"{granule.name}: granule does not intersect bbox"):
        read_chip(granule, bbox=(-80.0, 30.0, -79.0, 31.0))


# --------------------------------------------------------------------------- chip contract


def test_chip_write_read_round_trip(chip, tmp_path):
    path = write_chip(chip, tmp_path / "c.nc")
    back = read_chip_file(path)
    np.testing.assert_array_equal(back["Rrs"].values, chip["Rrs"].values)
    assert back["Rrs"].dtype == np.float32
    np.testing.assert_array_equal(back["l2_flags"].values, chip["l2_flags"].values)
    np.testing.assert_array_equal(back["lat"].values, chip["lat"].values)
    for key in (
        "granule",
        "processing_version",
        "time_coverage_start",
        "flags_applied",
        "units",
        "sensor",
    ):
        assert back.attrs[key] == chip.attrs[key]
    np.testing.assert_array_equal(back.attrs["bbox"], chip.attrs["bbox"])


def test_validation_catches_contract_violations(chip):
    with pytest.raises(ChipContractError, match=r"Rrs dims are \('x', 'y', 'wavelength'\)"):
        validate_chip(chip.transpose("x", "y", "wavelength"), name="swapped.nc")
    bad = chip.copy()
    bad["Rrs"] = bad["Rrs"].astype(np.float64)
    del bad.attrs["granule"]
    lat = bad["lat"].values.copy()
    lat[0, 0] = np.nan
    bad = bad.assign_coords(lat=(("y", "x"), lat))
    with pytest.raises(ChipContractError) as err:
        validate_chip(bad, name="bad.nc")
    msg = str(err.value)
    assert (
        "bad.nc" in msg and "float32" in msg and "'granule'" in msg and "lat must be defined" in msg
    )


def test_no_half_written_chip_after_failure(chip, tmp_path):
    path = write_chip(chip, tmp_path / "c.nc")
    before = path.read_bytes()
    with pytest.raises(ChipContractError):
        write_chip(chip.transpose("x", "y", "wavelength"), path)
    # an extra variable of Python objects passes validation and fails after the file is opened
    broken = chip.assign(extra=(("y",), np.array([{"a": 1}] * chip.sizes["y"], dtype=object)))
    with pytest.raises(ValueError, match="cannot serialize"):
        write_chip(broken, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.nc"]  # no temporary leftovers


def test_make_chip_writes_chip_and_flag_statistics(granule, tmp_path):
    out = make_chip(
        granule,
        tmp_path / "chip.nc",
        bbox=WESTERN_BASIN_BBOX,
        exclude_flags=NASA_MATCHUP_EXCLUDE,
        stats_path=tmp_path / "f.json",
    )
    stats = json.loads((tmp_path / "f.json").read_text())
    chip = read_chip_file(out)
    aoi = in_bbox(chip["lat"].values, chip["lon"].values, WESTERN_BASIN_BBOX)
    valid = np.isfinite(chip["Rrs"].values).all(axis=-1)
    assert stats["granule"] == G_TURBID
    assert stats["n_pixels_aoi"] == aoi.sum() and stats["n_pixels_window"] == aoi.size
    assert stats["n_valid_aoi"] == (valid & aoi).sum()
    flags = chip["l2_flags"].values.astype(np.int64) & 0xFFFFFFFF
    assert stats["flags"]["LAND"]["count"] == ((flags & 2) != 0)[aoi].sum() > 0
    assert stats["flags"]["LAND"]["excluded"] and not stats["flags"]["TURBIDW"]["excluded"]
    assert "SPARE" not in stats["flags"] and len(stats["flags"]) == 26
    assert all(0.0 <= v["fraction"] <= 1.0 for v in stats["flags"].values())


def test_flag_statistics_on_a_tiny_chip():
    flags = np.array([[2, 512], [512 | 256, 2048]], dtype=np.int32)
    rrs = np.full((2, 2, 3), 0.01, np.float32)
    rrs[flags != 2048] = np.nan
    tiny = xr.Dataset(
        {"Rrs": (("y", "x", "wavelength"), rrs),
         "l2_flags": (("y", "x"), flags, {"flag_masks": L2_FLAG_MASKS, "flag_meanings": MEANINGS})},
        coords={"wavelength": [400.0, 500.0, 600.0],
                "lat": (("y", "x"), [[41.5, 41.5], [41.6, 45.0]]),
                "lon": (("y", "x"), [[-83.0, -83.0], [-83.0, -83.0]])},
        attrs={"bbox": np.array(WESTERN_BASIN_BBOX), "flags_applied": "LAND CLDICE STRAYLIGHT"},
    )  # fmt: skip
    s = flag_statistics(tiny)
    assert s["n_pixels_aoi"] == 3 and s["n_valid_aoi"] == 0  # the TURBIDW pixel is outside the bbox
    assert s["flags"]["CLDICE"] == {"count": 2, "fraction": 2 / 3, "excluded": True}
    assert s["flags"]["TURBIDW"]["count"] == 0


# --------------------------------------------------------------------------- quicklook


def test_true_colour_png(chip, tmp_path):
    df = pd.read_csv(TABLE)
    out = true_colour_png(chip, tmp_path / "q.png", stations=df[df["granule"] == G_TURBID])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.png"]
    rgb = rgb_image(chip)
    valid = np.isfinite(chip["Rrs"].values).all(axis=-1)
    np.testing.assert_array_equal(np.isfinite(rgb).all(axis=-1), valid)
    assert np.nanmin(rgb) >= 0.0 and np.nanmax(rgb) <= 1.0
    with pytest.raises(ValueError, match=r"within 5\.0 nm of 645"):
        rgb_image(chip.sel(wavelength=slice(None, 600)))
