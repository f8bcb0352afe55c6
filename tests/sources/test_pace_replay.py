import re
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from spectm.config import PaceDemoConfig
from spectm.data_files import data_path
from spectm.geo import WESTERN_BASIN_BBOX, geodesic_km, in_bbox, water_mask
from spectm.io.pace_l2 import L2_FLAG_NAMES
from spectm.sources import pace
from spectm.sources.pace import earthdata, replay
from spectm.tables import spectra_matrix

TABLE = data_path("pace_oci", "lake_erie_pace_oci_l2aop_rrs_glerl_matchups_2024_2025.csv")
SMALL = {
    "shape": (48, 44),
    "pixel_km": 3.0,
    "cloud_fraction": 0.15,
}  # 144 x 132 km: covers the AOI, fast to write
G_JUNE = "PACE_OCI.20240616T172214.L2.OC_AOP.V3_0.nc"  # 7 stations, 5+ km apart
G_SCUM = "PACE_OCI.20240813T180853.L2.OC_AOP.V3_0.nc"  # scum station 1.2 km from WE6


DEMO = PaceDemoConfig(max_granules=None, seed=0, **SMALL)


def bit(name):
    return 1 << L2_FLAG_NAMES.index(name)


@pytest.fixture(scope="module")
def table():
    df = pd.read_csv(TABLE)
    spectra, wl = spectra_matrix(df)
    return df, spectra, wl


@pytest.fixture(scope="module")
def june(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return replay.write_demo_granule(G_JUNE, out, seed=7, **SMALL)


def raw(path):
    """The file read with h5py, without any CF decoding."""
    with h5py.File(path, "r") as f:
        return {
            "rrs": f["geophysical_data/Rrs"][...],
            "rrs_attrs": dict(f["geophysical_data/Rrs"].attrs),
            "flags": f["geophysical_data/l2_flags"][...].astype(np.int64) & 0xFFFFFFFF,
            "flag_attrs": dict(f["geophysical_data/l2_flags"].attrs),
            "lat": f["navigation_data/latitude"][...].astype(float),
            "lon": f["navigation_data/longitude"][...].astype(float),
            "wl": f["sensor_band_parameters/wavelength_3d"][...],
            "attrs": dict(f.attrs),
            "chunks": f["geophysical_data/Rrs"].chunks,
            "compression": f["geophysical_data/Rrs"].compression,
        }


def test_demo_granules_lists_the_45_real_granules(table):
    df, _, _ = table
    g = replay.demo_granules()
    assert len(g) == 45 == df["granule"].nunique()
    assert g["granule"].is_unique
    assert g["n_spectra"].sum() == 183 == len(df)
    assert set(g["processing_version"]) == {"3.0"}
    assert g["nrt"].sum() == 1
    assert g["time_start"].is_monotonic_increasing
    first = g.iloc[0]
    assert first["granule"] == "PACE_OCI.20240316T180334.L2.OC_AOP.V3_0.nc"
    assert first["time_start"] == pd.Timestamp("2024-03-16T18:03:34Z")
    assert (g["time_end"] - g["time_start"]).dt.total_seconds().between(299, 300).all()


def test_table_with_inconsistent_time_is_rejected(tmp_path, table):
    df, _, _ = table
    bad = df.copy()
    bad.loc[3, "granule_time_utc"] = "2024-03-24T17:44:15Z"
    path = tmp_path / "t.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"t\.csv: row 3"):
        replay.demo_granules(path)


def test_file_structure_is_l2_aop(june):
    r = raw(june)
    assert june.name == G_JUNE
    a = r["attrs"]
    assert a["title"] == "OCI Level-2 Data AOP"
    assert a["product_name"] == G_JUNE
    assert a["processing_version"] == "3.0"
    assert (a["instrument"], a["platform"]) == ("OCI", "PACE")
    assert a["time_coverage_start"] == "2024-06-16T17:22:14.000Z"
    assert "NOT a NASA file" in a["spectm_demo"]
    assert r["rrs"].dtype == np.int16
    assert r["rrs"].shape == (48, 44, 172)
    assert r["rrs_attrs"]["scale_factor"] == np.float32(2e-6)
    assert r["rrs_attrs"]["add_offset"] == np.float32(0.05)
    assert r["rrs_attrs"]["_FillValue"] == -32767
    assert r["compression"] == "gzip"
    assert r["chunks"][2] == 172
    wl = r["wl"]
    assert (wl.size, wl[0], wl[-1]) == (172, 346, 719)
    assert 588 in wl and 613 in wl and not ((wl > 588) & (wl < 613)).any()  # the CCD gap
    assert r["flag_attrs"]["flag_meanings"].split() == list(L2_FLAG_NAMES)
    assert r["flag_attrs"]["flag_masks"][-1] == np.int32(-(2**31))
    assert r["lat"].dtype == float and r["lat"].shape == (48, 44)
    with xr.open_datatree(june, engine="h5netcdf") as dt:
        assert set(dt.children) == {
            "sensor_band_parameters", "geophysical_data", "navigation_data", "scan_line_attributes"
        }  # fmt: skip
        assert {"aot_865", "angstrom", "avw", "nflh", "Rrs", "l2_flags"} <= set(
            dt["geophysical_data"].data_vars
        )
        t = pd.DatetimeIndex(dt["scan_line_attributes"]["time"].values).tz_localize("UTC")
        assert t.is_monotonic_increasing
        start = pd.Timestamp(dt.attrs["time_coverage_start"])
        end = pd.Timestamp(dt.attrs["time_coverage_end"])
        assert start <= t[0] and t[-1] <= end
        avw = dt["geophysical_data"]["avw"].values
        assert np.nanmin(avw) >= 400 and np.nanmax(avw) <= 700


def test_swath_is_rotated_and_covers_aoi_and_stations(june, table):
    df, _, _ = table
    r = raw(june)
    lat, lon = r["lat"], r["lon"]
    # not a lat/lon grid: latitude changes along a line and longitude along a column
    assert np.ptp(lat[24, :]) > 0.1 and np.ptp(lon[:, 22]) > 0.1
    # heading of the line direction: 10-15 degrees west of north
    d_lat = (lat[-1, 22] - lat[0, 22]) * 110.95
    d_lon = (lon[-1, 22] - lon[0, 22]) * 111.32 * np.cos(np.radians(41.75))
    assert -15.5 < np.degrees(np.arctan2(d_lon, d_lat)) < -9.5
    lon_min, lat_min, lon_max, lat_max = WESTERN_BASIN_BBOX
    rows = df[df["granule"] == G_JUNE]
    for la, lo in [
        (lat_min, lon_min),
        (lat_max, lon_max),
        *zip(rows["lat"], rows["lon"], strict=True),
    ]:
        assert geodesic_km(lat, lon, la, lo).min() < SMALL["pixel_km"]
    assert in_bbox(lat, lon, WESTERN_BASIN_BBOX).sum() < lat.size  # the swath extends beyond


def test_station_pixels_hold_the_real_spectra(june, table):
    df, spectra, _ = table
    r = raw(june)
    decoded = r["rrs"].astype(float) * 2e-6 + 0.05
    rows = np.flatnonzero((df["granule"] == G_JUNE).to_numpy())
    for i in rows:
        d = geodesic_km(r["lat"], r["lon"], df["lat"][i], df["lon"][i])
        y, x = np.unravel_index(np.argmin(d), d.shape)
        np.testing.assert_allclose(decoded[y, x], spectra[i], atol=1.01e-6, rtol=0)
        assert (
            r["flags"][y, x] & (bit("LAND") | bit("CLDICE") | bit("STRAYLIGHT") | bit("HIGLINT"))
            == 0
        )


def test_land_cloud_and_noise(june, table):
    df, spectra, _ = table
    r = raw(june)
    flags, rrs = r["flags"], r["rrs"]
    land = (flags & bit("LAND")) != 0
    cloud = (flags & bit("CLDICE")) != 0
    np.testing.assert_array_equal(land, ~water_mask(r["lat"], r["lon"]))
    assert (rrs[land | cloud] == -32767).all()
    assert (rrs[~land & ~cloud] != -32767).all()
    assert 0.10 < cloud.mean() < 0.16  # cloud_fraction 0.15 minus the clear station areas
    rows = df[df["granule"] == G_JUNE]
    d = geodesic_km(
        r["lat"][..., None], r["lon"][..., None], rows["lat"].to_numpy(), rows["lon"].to_numpy()
    )
    assert d.min(axis=-1)[cloud].min() >= 2.99  # generator uses a plane approximation
    stray = (flags & bit("STRAYLIGHT")) != 0
    assert stray.any() and not (stray & cloud).any()
    # pixels 1-2.5 km from a station: its spectrum with ~1 % multiplicative noise
    i = np.flatnonzero((df["granule"] == G_JUNE).to_numpy())
    near = (d.min(axis=-1) > 0.8) & (d.min(axis=-1) < 2.5) & ~land & ~cloud & ~stray
    k = d.argmin(axis=-1)[near]
    ratio = (rrs[near].astype(float) * 2e-6 + 0.05) / spectra[i][k]
    good = np.abs(spectra[i][k]) > 2e-3
    assert near.sum() >= 3
    assert 0.003 < np.std(ratio[good] - 1) < 0.03


def test_deterministic_for_a_seed(tmp_path):
    a = replay.write_demo_granule(G_JUNE, tmp_path / "a", seed=3, **SMALL)
    b = replay.write_demo_granule(G_JUNE, tmp_path / "b", seed=3, **SMALL)
    c = replay.write_demo_granule(G_JUNE, tmp_path / "c", seed=4, **SMALL)
    ra, rb, rc = raw(a), raw(b), raw(c)
    for key in ("rrs", "flags", "lat", "lon"):
        np.testing.assert_array_equal(ra[key], rb[key])
    assert not np.array_equal(ra["lat"], rc["lat"])
    assert not np.array_equal(ra["flags"], rc["flags"])


def test_nearby_stations_with_different_spectra_get_distinct_pixels(tmp_path, table):
    df, spectra, _ = table
    # 2024.1 (scum) and WE6 are 1.2 km apart: with 3 km pixels they share a nearest pixel,
    # so one spectrum moves to the nearest free pixel; both must be present exactly
    p = replay.write_demo_granule(G_SCUM, tmp_path, seed=0, **SMALL)
    r = raw(p)
    decoded = r["rrs"].astype(float) * 2e-6 + 0.05
    for i in np.flatnonzero((df["granule"] == G_SCUM).to_numpy()):
        d = geodesic_km(r["lat"], r["lon"], df["lat"][i], df["lon"][i])
        close = d < 2.0 * SMALL["pixel_km"]
        err = np.abs(decoded[close] - spectra[i]).max(axis=-1)
        assert err.min() <= 1.01e-6, df["station"][i]


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="not in the matchup table"):
        replay.write_demo_granule(
            "PACE_OCI.20200101T000000.L2.OC_AOP.V3_0.nc", tmp_path, seed=0, **SMALL
        )
    with pytest.raises(ValueError, match="must be named like its granule"):
        replay.write_demo_granule(G_JUNE, tmp_path / "other.nc", seed=0, **SMALL)
    with pytest.raises(ValueError, match="does not cover the AOI"):
        replay.write_demo_granule(
            G_JUNE, tmp_path, shape=(20, 20), pixel_km=1.2, seed=0, cloud_fraction=0.15
        )
    with pytest.raises(ValueError, match="cloud_fraction"):
        replay.write_demo_granule(G_JUNE, tmp_path, seed=0, **{**SMALL, "cloud_fraction": 0.95})
    assert list(tmp_path.iterdir()) == []


def test_no_cloud_when_cloud_fraction_zero(tmp_path):
    p = replay.write_demo_granule(G_JUNE, tmp_path, seed=1, **{**SMALL, "cloud_fraction": 0.0})
    flags = raw(p)["flags"]
    assert not (flags & (bit("CLDICE") | bit("STRAYLIGHT"))).any()


# --------------------------------------------------------------------------- the source interface

SEARCH = {
    "short_name": "PACE_OCI_L2_AOP",
    "version": "3.0",
    "provider": "OB_CLOUD",
    "bbox": WESTERN_BASIN_BBOX,
}


def test_demo_manifest_and_granule_through_the_source_interface(tmp_path):
    path = pace.write_granule_manifest(
        tmp_path / "manifest.csv", source="demo", start="2024-06-01", end="2024-06-30", **SEARCH
    )
    m = earthdata.read_manifest(path)
    assert sorted(m.columns) == sorted([*earthdata.REQUIRED_MANIFEST_COLUMNS, pace.SUPERSEDES])
    assert G_JUNE in set(m["granule"])
    t = pd.to_datetime(m["time_start"], utc=True)
    assert t.is_monotonic_increasing
    assert t.min() >= pd.Timestamp("2024-06-01", tz="UTC")
    assert t.max() < pd.Timestamp("2024-07-01", tz="UTC")
    assert (m["url"] == "demo:replay/" + m["granule"]).all()
    assert m["size_bytes"].isna().all() and (m["provider"] == "demo").all()

    two = pace.demo_manifest("2024-06-01", "2024-06-30", max_granules=2)
    assert two["granule"].tolist() == m["granule"].head(2).tolist()

    demo = PaceDemoConfig(max_granules=None, seed=7, **SMALL)
    out = pace.fetch_granule(path, G_JUNE, tmp_path, source="demo", retries=1, demo=demo)
    direct = replay.write_demo_granule(G_JUNE, tmp_path / "direct", seed=7, **SMALL)
    assert out == tmp_path / G_JUNE
    a, b = raw(out), raw(direct)
    for key in ("rrs", "flags", "lat", "lon"):
        np.testing.assert_array_equal(a[key], b[key])


def test_source_interface_rejects_bad_requests(tmp_path):
    with pytest.raises(ValueError, match="unknown source 'nasa'"):
        pace.write_granule_manifest(
            tmp_path / "m.csv", source="nasa", start="2024-06-01", end="2024-06-30", **SEARCH
        )
    with pytest.raises(RuntimeError, match=r"no PACE_OCI_L2_AOP v3\.0 granules"):
        pace.write_granule_manifest(
            tmp_path / "m.csv", source="demo", start="2020-01-01", end="2020-01-31", **SEARCH
        )
    path = pace.write_granule_manifest(
        tmp_path / "m.csv", source="demo", start="2024-06-01", end="2024-06-30", **SEARCH
    )
    with pytest.raises(KeyError, match="not in the manifest"):
        pace.fetch_granule(
            path,
            "PACE_OCI.20200101T000000.L2.OC_AOP.V3_0.nc",
            tmp_path,
            source="demo",
            retries=1,
            demo=DEMO,
        )
    with pytest.raises(ValueError, match="unknown source 'nasa'"):
        pace.fetch_granule(path, G_JUNE, tmp_path, source="nasa", retries=1, demo=DEMO)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


def test_demo_source_does_not_import_earthaccess(tmp_path):
    """earthaccess costs about a second per job; only the earthdata source may import it."""
    code = (
        "import sys\n"
        "from spectm.sources import pace\n"
        f"m = pace.write_granule_manifest({str(tmp_path / 'm.csv')!r}, source='demo',"
        " short_name='PACE_OCI_L2_AOP', version='3.0', provider='OB_CLOUD',"
        " start='2024-06-16', end='2024-06-16', bbox=(-83.5, 41.3, -82.45, 42.2))\n"
        "from spectm.config import PaceDemoConfig\n"
        "demo = PaceDemoConfig(max_granules=None, shape=(48, 44), pixel_km=3.0,"
        " cloud_fraction=0.15, seed=42)\n"
        f"pace.fetch_granule(m, {G_JUNE!r}, {str(tmp_path)!r}, source='demo', retries=1,"
        " demo=demo)\n"
        "assert 'earthaccess' not in sys.modules, 'earthaccess was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / G_JUNE).is_file()


# ---------------------------------------------------------------------- one product per overpass

G_REFINED = "PACE_OCI.20250427T175213.L2.OC_AOP.V3_0.nc"
G_NRT = "PACE_OCI.20250427T175213.L2.OC_AOP.V3_0.NRT.nc"  # the same overpass, near real time


def _manifest(names: list[str]) -> pd.DataFrame:
    """A generated manifest of these granule names (other columns filled in)."""
    return pd.DataFrame(
        {"granule": names, "url": [f"https://x/{n}" for n in names], "size_bytes": 1}
    )


def test_one_product_per_overpass_rule_on_generated_manifests():
    t1, t2, t3 = "20240601T170000", "20240602T171500", "20240603T173000"
    names = [
        f"PACE_OCI.{t1}.L2.OC_AOP.V3_1.NRT.nc",  # NRT listed before its refined granule
        f"PACE_OCI.{t2}.L2.OC_AOP.V3_1.NRT.nc",  # NRT only: the only product of t2, kept
        f"PACE_OCI.{t1}.L2.OC_AOP.V3_1.nc",
        f"PACE_OCI.{t3}.L2.OC_AOP.V3_0.nc",  # two refined versions: the higher one is kept
        f"PACE_OCI.{t3}.L2.OC_AOP.V3_1.nc",
        f"PACE_OCI.{t3}.L2.OC_AOP.V10_0.NRT.nc",  # refined beats NRT, whatever the version
    ]
    got = pace.one_product_per_overpass(_manifest(names))
    assert got["granule"].tolist() == [names[1], names[2], names[4]]  # input order kept
    assert got["url"].tolist() == [f"https://x/{n}" for n in got["granule"]]
    assert got[pace.SUPERSEDES].tolist() == ["", names[0], f"{names[3]} {names[5]}"]
    assert got.index.tolist() == [0, 1, 2]
    # the rule applied again changes nothing (the record of what was superseded stays)
    pd.testing.assert_frame_equal(pace.one_product_per_overpass(got), got)
    # nothing to supersede: every row stays, with an empty record
    plain = pace.one_product_per_overpass(_manifest([names[1], names[2]]))
    assert plain["granule"].tolist() == [names[1], names[2]]
    assert plain[pace.SUPERSEDES].tolist() == ["", ""]
    with pytest.raises(ValueError, match=r"manifest row 1: granule 'PACE_OCI\.x\.nc'"):
        pace.one_product_per_overpass(_manifest([names[1], "PACE_OCI.x.nc"]))


def test_demo_manifest_lists_the_refined_granule_of_the_nrt_overpass(tmp_path):
    g = replay.demo_granules()
    assert {G_REFINED, G_NRT} <= set(g["granule"])  # the replay table has both files
    full = pace.demo_manifest()
    assert len(full) == 44 == g["time_start"].nunique()
    assert G_NRT not in set(full["granule"]) and G_REFINED in set(full["granule"])
    assert full[pace.SUPERSEDES].tolist() == [
        G_NRT if n == G_REFINED else "" for n in full["granule"]
    ]
    # max_granules counts overpasses: the NRT file (which sorts first) is never the one taken
    one = pace.demo_manifest("2025-04-27", "2025-04-27", max_granules=1)
    assert one["granule"].tolist() == [G_REFINED]

    path = pace.write_granule_manifest(
        tmp_path / "m.csv", source="demo", start="2025-04-01", end="2025-04-30", **SEARCH
    )
    m = earthdata.read_manifest(path)
    assert G_REFINED in set(m["granule"]) and G_NRT not in set(m["granule"])
    assert m.set_index("granule").loc[G_REFINED, pace.SUPERSEDES] == G_NRT
    assert m[pace.SUPERSEDES].isna().sum() == len(m) - 1  # empty cells for the others
    with pytest.raises(
        KeyError, match=rf"{re.escape(G_NRT)}.*superseded by '{re.escape(G_REFINED)}'"
    ):
        pace.fetch_granule(path, G_NRT, tmp_path, source="demo", retries=1, demo=DEMO)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]
