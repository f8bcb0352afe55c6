"""Temporal pairs: labelled station pairs (lead ± tolerance) and unlabelled pixel pairs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from spectm.pairs import labelled_pairs, pixel_pairs, write_labelled_pairs, write_pixel_pairs
from tests.conftest import PAIRS

WL = np.array([412.0, 443.0, 490.0, 555.0, 620.0, 665.0])
T0 = pd.Timestamp("2024-07-01T18:00:00Z")
DAY = pd.Timedelta(days=1)
LABEL = "particulate_microcystin_ugL"


LEAD = {"lead_days": 8.0, "tolerance_days": 2.0, "depth_categories": ("Surface",)}
"""8-day-ahead label settings of these tests (the shipped config's values)."""


def spectra_df(rows: list[tuple[str, pd.Timestamp]]) -> pd.DataFrame:
    """Station spectra; spectrum k has Rrs = k + band index (identifies the row)."""
    df = pd.DataFrame({"station": [r[0] for r in rows], "time_utc": [r[1] for r in rows]})
    df["time_utc"] = pd.to_datetime(df["time_utc"], utc=True)
    df["lat"] = 41.8
    df["lon"] = -83.3
    for b, w in enumerate(WL):
        df[f"Rrs_{w:g}"] = np.arange(len(rows), dtype=float) + b / 10.0
    return df


def samples_df(rows: list[dict]) -> pd.DataFrame:
    out = []
    for k, r in enumerate(rows):
        base = {
            "sample_id": f"s{k:02d}",
            "site": "WE8",
            "time_utc": T0,
            "depth_category": "Surface",
            LABEL: 1.0 + k,
            f"{LABEL}_censored": False,
            f"{LABEL}_dl": 0.1,
        }
        base.update(r)
        out.append(base)
    df = pd.DataFrame(out)
    df["time_utc"] = pd.to_datetime(df["time_utc"], utc=True)
    return df


def test_label_is_same_station_sample_closest_to_lead():
    spec = spectra_df([("WE8", T0)])
    smp = samples_df(
        [
            {"time_utc": T0},  # same week: never a label for the 8-day horizon
            {"time_utc": T0 + 5.9 * DAY},  # before lead - tol
            {"time_utc": T0 + 7 * DAY},
            {"time_utc": T0 + 8.5 * DAY},  # closest to t + 8 d
            {"time_utc": T0 + 8 * DAY, "site": "WE2"},  # other station
            {"time_utc": T0 + 8 * DAY, "depth_category": "Bottom"},  # not surface
            {"time_utc": T0 + 8 * DAY, LABEL: np.nan},  # missing, not censored
        ]
    )
    p = labelled_pairs(spec, smp, **LEAD)
    assert len(p) == 1
    assert p["label_sample_id"].iloc[0] == "s03"
    assert p["lead_hours"].iloc[0] == pytest.approx(8.5 * 24)
    assert p["time_utc"].iloc[0] == T0 and p["label_time_utc"].iloc[0] == T0 + 8.5 * DAY
    assert p[LABEL].iloc[0] == 4.0


@pytest.mark.parametrize(
    ("lag", "found"),
    [(6 * DAY, True), (10 * DAY, True), (10 * DAY + pd.Timedelta(seconds=1), False)],
)
def test_tolerance_boundaries_inclusive(lag, found):
    p = labelled_pairs(spectra_df([("WE8", T0)]), samples_df([{"time_utc": T0 + lag}]), **LEAD)
    assert (len(p) == 1) is found


def test_tie_goes_to_earlier_sample_and_censored_label_kept():
    smp = samples_df(
        [
            {"time_utc": T0 + 9 * DAY},
            {"time_utc": T0 + 7 * DAY, LABEL: np.nan, f"{LABEL}_censored": True},
        ]
    )
    p = labelled_pairs(spectra_df([("WE8", T0)]), smp, **LEAD)
    assert p["label_sample_id"].iloc[0] == "s01"
    assert bool(p[f"{LABEL}_censored"].iloc[0]) and np.isnan(p[LABEL].iloc[0])
    assert p[f"{LABEL}_dl"].iloc[0] == 0.1


def test_each_spectrum_keeps_its_own_time_and_spectrum():
    spec = spectra_df([("WE8", T0), ("WE8", T0 + 7 * DAY), ("WE2", T0 + 7 * DAY)])
    smp = samples_df(
        [
            {"time_utc": T0 + 7 * DAY},  # same-day sample of spectrum 1: must not be its label
            {"time_utc": T0 + 8 * DAY},
            {"time_utc": T0 + 15 * DAY},
            {"time_utc": T0 + 15 * DAY, "site": "WE2"},
        ]
    )
    p = labelled_pairs(spec, smp, **LEAD).set_index("time_utc")
    assert len(p) == 3
    assert p.loc[[T0], "label_sample_id"].tolist() == ["s01"]
    later = p.loc[T0 + 7 * DAY].set_index("station")
    assert later.loc["WE8", "label_sample_id"] == "s02"
    assert later.loc["WE2", "label_sample_id"] == "s03"
    assert later.loc["WE2", "Rrs_412"] == 2.0 and later.loc["WE8", "Rrs_412"] == 1.0
    assert (p["lead_hours"] >= 6 * 24).all()


def test_labelled_pairs_bad_input(tmp_path):
    spec = spectra_df([("WE8", T0)])
    with pytest.raises(ValueError, match="tolerance_days"):
        labelled_pairs(spec, samples_df([{}]), **{**LEAD, "lead_days": 2.0})
    with pytest.raises(ValueError, match="depth_category"):
        labelled_pairs(spec, samples_df([{}]).drop(columns="depth_category"), **LEAD)
    with pytest.raises(ValueError, match="station"):
        labelled_pairs(spec.drop(columns="station"), samples_df([{}]), **LEAD)
    p = labelled_pairs(spec, samples_df([{"time_utc": T0 + 8 * DAY}]), **LEAD)
    write_labelled_pairs(p, tmp_path / "p.parquet")
    back = pd.read_parquet(tmp_path / "p.parquet")
    assert back["pair_id"].tolist() == ["pair000000"]
    with pytest.raises(ValueError, match="lead_hours"):
        write_labelled_pairs(p.drop(columns="lead_hours"), tmp_path / "q.parquet")
    assert not (tmp_path / "q.parquet").exists()


# --------------------------------------------------------------------------- pixel pairs


def write_chip(
    path: Path,
    start: pd.Timestamp,
    *,
    dlat: float = 0.0,
    hole: bool = False,
    offset: float = 0.0,
    valid: np.ndarray | None = None,
) -> Path:
    """A 5 x 5 chip; pixel (i, j) has Rrs = 0.001 * (5 i + j + 1) + band / 1000 + offset.

    ``hole`` flags pixel (2, 2); ``valid`` (bool, 5 x 5) flags every pixel where it is False.
    """
    j, i = np.meshgrid(np.arange(5), np.arange(5))
    lat = 41.7 + 0.01 * i + dlat
    lon = -83.3 + 0.01 * j
    rrs = (0.001 * (5 * i + j + 1))[..., None] + np.arange(WL.size) / 1000.0 + offset
    if hole:
        rrs[2, 2] = np.nan
    if valid is not None:
        rrs[~valid] = np.nan
    end = start + pd.Timedelta(minutes=5)
    ds = xr.Dataset(
        {
            "Rrs": (("y", "x", "wavelength"), rrs.astype(np.float32)),
            "l2_flags": (("y", "x"), np.zeros((5, 5), np.int32)),
        },
        coords={"wavelength": WL, "lat": (("y", "x"), lat), "lon": (("y", "x"), lon)},
        attrs={
            "granule": f"PACE_OCI.{start.strftime('%Y%m%dT%H%M%S')}.L2.OC_AOP.V3_0.nc",
            "processing_version": "3.0",
            "time_coverage_start": start.isoformat(),
            "time_coverage_end": end.isoformat(),
            "sensor": "OCI",
        },
    )
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def test_pixel_pairs_lead_window_location_and_values(tmp_path):
    a = write_chip(tmp_path / "a.nc", T0)
    b = write_chip(tmp_path / "b.nc", T0 + 8 * DAY, dlat=0.001, hole=True)
    c = write_chip(tmp_path / "c.nc", T0 + 3 * DAY)
    d = write_chip(tmp_path / "d.nc", T0 + 10 * DAY + pd.Timedelta(hours=1))
    p = pixel_pairs([d, c, b, a], PAIRS)
    pairs = set(zip(p["granule_t"].str[9:17], p["granule_t8"].str[9:17], strict=True))
    assert pairs == {("20240701", "20240709"), ("20240704", "20240711")}
    ab = p[p["granule_t"].str.contains("20240701")]
    assert len(ab) == 24  # the hole in b has no valid neighbour within 0.75 km
    assert ab["lead_hours"].eq(8 * 24).all()
    assert ab["dist_km"].between(0.10, 0.12).all()  # 0.001 deg of latitude
    np.testing.assert_allclose(ab["future_Rrs_412"], ab["Rrs_412"], rtol=1e-6)
    assert ab["time_utc"].iloc[0] == T0 + pd.Timedelta(minutes=2.5)
    cd = p[p["granule_t"].str.contains("20240704")]
    assert cd["lead_hours"].iloc[0] == pytest.approx(7 * 24 + 1)


def test_pixel_pairs_cap_is_seeded(tmp_path):
    a = write_chip(tmp_path / "a.nc", T0)
    b = write_chip(tmp_path / "b.nc", T0 + 8 * DAY, dlat=0.001)
    one = pixel_pairs([a, b], replace(PAIRS, max_pixel_pairs_per_granule_pair=10), seed=1)
    again = pixel_pairs([a, b], replace(PAIRS, max_pixel_pairs_per_granule_pair=10), seed=1)
    other = pixel_pairs([a, b], replace(PAIRS, max_pixel_pairs_per_granule_pair=10), seed=2)
    assert len(one) == 10
    pd.testing.assert_frame_equal(one, again)
    assert not one["Rrs_412"].equals(other["Rrs_412"])
    assert (
        len(pixel_pairs([a, b], replace(PAIRS, pixel_max_dist_km=0.05))) == 0
    )  # nothing within 50 m here


def test_pixel_pairs_empty_and_writer(tmp_path):
    a = write_chip(tmp_path / "a.nc", T0)
    empty = pixel_pairs([a], PAIRS)
    assert len(empty) == 0 and "future_Rrs_412" in empty.columns
    b = write_chip(tmp_path / "b.nc", T0 + 7 * DAY)
    p = pixel_pairs([a, b], PAIRS)
    write_pixel_pairs(p, tmp_path / "pp.parquet")
    assert len(pd.read_parquet(tmp_path / "pp.parquet")) == 25
    with pytest.raises(ValueError, match="future_Rrs_"):
        write_pixel_pairs(p.drop(columns=[c for c in p if c.startswith("future_")]), tmp_path / "x")


def test_pixel_pairs_take_each_spectrum_from_its_own_chip(tmp_path):
    """The chips differ: Rrs at t from the earlier chip, future_Rrs from the later one.

    The later chip lies one row (0.01 deg, 1.1 km) north and is 0.05 sr-1 brighter: pixel (i, j)
    of the earlier chip sits exactly on pixel (i - 1, j) of the later one; row 0 has no partner
    within 0.75 km.
    """
    early = write_chip(tmp_path / "a.nc", T0)
    late = write_chip(tmp_path / "b.nc", T0 + 8 * DAY, dlat=0.01, offset=0.05)
    p = pixel_pairs([late, early], PAIRS)
    assert len(p) == 20 and (p["granule_t"].str[9:17] == "20240701").all()
    assert p["dist_km"].max() < 1e-6
    # the pixel (i, j) of each pair, from its position in the earlier chip
    i = np.rint((p["lat"].to_numpy() - 41.7) / 0.01).astype(int)
    j = np.rint((p["lon"].to_numpy() + 83.3) / 0.01).astype(int)
    assert sorted(zip(i, j, strict=True)) == [(a, b) for a in range(1, 5) for b in range(5)]
    for b, w in enumerate(WL):
        now = 0.001 * (5 * i + j + 1) + b / 1000.0
        later = 0.001 * (5 * (i - 1) + j + 1) + b / 1000.0 + 0.05
        np.testing.assert_allclose(p[f"Rrs_{w:g}"], now, rtol=1e-6)
        np.testing.assert_allclose(p[f"future_Rrs_{w:g}"], later, rtol=1e-6)
    assert (p["future_time_utc"] - p["time_utc"]).eq(8 * DAY).all()


# --------------------------------------------------------------------------- edges and contracts


def test_labelled_pairs_columns_carried_values_and_censoring():
    spec = spectra_df([("WE8", T0), ("WE2", T0)])
    spec["granule"] = ["g0", "g1"]
    spec["stress_test"] = [False, True]
    smp = samples_df(
        [
            {"time_utc": T0 + 8 * DAY, "depth_category": "Scum"},
            # censored flag missing: the measured value is used, not censored
            {"time_utc": T0 + 9 * DAY, "site": "WE2", f"{LABEL}_censored": np.nan},
            # neither a value nor a censored flag: not a label, though nearest to t + 8 d
            {"time_utc": T0 + 8 * DAY, "site": "WE2", LABEL: np.nan, f"{LABEL}_censored": np.nan},
        ]
    )
    p = labelled_pairs(spec, smp, **{**LEAD, "depth_categories": ("Surface", "Scum")})
    assert list(p.columns[:10]) == [
        "pair_id", "station", "time_utc", "label_time_utc", "lead_hours", "label_sample_id",
        "label_depth_category", LABEL, f"{LABEL}_censored", f"{LABEL}_dl",
    ]  # fmt: skip
    assert p["pair_id"].tolist() == ["pair000000", "pair000001"]
    assert p["label_sample_id"].tolist() == ["s00", "s01"]
    assert p["label_depth_category"].tolist() == ["Scum", "Surface"]
    assert p[f"{LABEL}_censored"].tolist() == [False, False]
    assert p[f"{LABEL}_censored"].dtype == bool and p[LABEL].tolist() == [1.0, 2.0]
    assert p["granule"].tolist() == ["g0", "g1"] and p["stress_test"].tolist() == [False, True]
    assert p["lat"].tolist() == [41.8, 41.8] and p["Rrs_412"].tolist() == [0.0, 1.0]


def test_labelled_pairs_other_column_names_and_their_errors():
    """A matchups table (site, granule_time_utc) works as spectra; explicit columns too."""
    spec = spectra_df([("WE8", T0)]).rename(columns={"station": "site", "time_utc": "t"})
    spec["granule_time_utc"] = spec["t"]
    smp = samples_df([{"time_utc": T0 + 8 * DAY}])
    p = labelled_pairs(spec.drop(columns="t"), smp, **LEAD)
    assert p["station"].tolist() == ["WE8"] and p["time_utc"].tolist() == [T0]
    q = labelled_pairs(
        spec.assign(code="WE8", t=T0 + DAY), smp, station_column="code", time_column="t", **LEAD
    )
    assert q["time_utc"].tolist() == [T0 + DAY] and q["lead_hours"].tolist() == [7 * 24]
    with pytest.raises(ValueError, match="spectra table has no station column 'nope'"):
        labelled_pairs(spec, smp, station_column="nope", **LEAD)
    with pytest.raises(ValueError, match="spectra table has no time column 'nope'"):
        labelled_pairs(spec, smp, time_column="nope", **LEAD)
    with pytest.raises(ValueError, match=r"needs a time column, one of \['time_utc', 'granule"):
        labelled_pairs(spec.drop(columns=["t", "granule_time_utc"]), smp, **LEAD)
    naive = spec.assign(granule_time_utc=spec["granule_time_utc"].dt.tz_localize(None))
    with pytest.raises(
        ValueError, match="spectra column 'granule_time_utc' must be timezone-aware"
    ):
        labelled_pairs(naive, smp, **LEAD)
    smp_naive = smp.assign(time_utc=smp["time_utc"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="samples column 'time_utc' must be timezone-aware"):
        labelled_pairs(spec, smp_naive, **LEAD)


def test_labelled_pairs_zero_tolerance_and_nanosecond_boundary():
    exact = labelled_pairs(
        spectra_df([("WE8", T0)]),
        samples_df([{"time_utc": T0 + 8 * DAY}]),
        **{**LEAD, "tolerance_days": 0.0},
    )
    assert len(exact) == 1  # a tolerance of 0 is allowed: the sample exactly at t + lead
    ns = pd.Timedelta(1, "ns")
    late = samples_df([{"time_utc": T0 + 10 * DAY + ns}])
    assert len(labelled_pairs(spectra_df([("WE8", T0)]), late, **LEAD)) == 0
    with pytest.raises(ValueError, match="0 <= tolerance_days < lead_days"):
        labelled_pairs(spectra_df([("WE8", T0)]), late, **{**LEAD, "tolerance_days": -0.5})


def test_write_pairs_errors_name_the_table(tmp_path):
    p = labelled_pairs(
        spectra_df([("WE8", T0), ("WE8", T0)]), samples_df([{"time_utc": T0 + 8 * DAY}]), **LEAD
    )
    with pytest.raises(ValueError, match="labelled pairs column 'pair_id' has duplicates"):
        write_labelled_pairs(p.assign(pair_id="same"), tmp_path / "p.parquet")
    with pytest.raises(ValueError, match=r"labelled pairs table lacks column\(s\) \['station'\]"):
        write_labelled_pairs(p.drop(columns="station"), tmp_path / "p.parquet")
    a = write_chip(tmp_path / "a.nc", T0)
    b = write_chip(tmp_path / "b.nc", T0 + 8 * DAY)
    pix = pixel_pairs([a, b], PAIRS)
    with pytest.raises(ValueError, match=r"pixel pairs table lacks column\(s\) \['dist_km'\]"):
        write_pixel_pairs(pix.drop(columns="dist_km"), tmp_path / "q.parquet")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.nc", "b.nc"]


def test_pixel_pairs_lead_window_edges_are_inclusive_to_the_nanosecond(tmp_path):
    """Chips 6 d (lead - tol) and 10 d (lead + tol) after t pair with it; 10 d + 5 ns does not.

    The first chip in time has no partner: the later chips must still be paired.
    """
    lonely = write_chip(tmp_path / "z.nc", T0 - 30 * DAY)
    a = write_chip(tmp_path / "a.nc", T0)
    lo = write_chip(tmp_path / "lo.nc", T0 + 6 * DAY)
    hi = write_chip(tmp_path / "hi.nc", T0 + 10 * DAY)
    late = write_chip(tmp_path / "late.nc", T0 + 10 * DAY + pd.Timedelta(5, "ns"))
    names = {
        f: f"PACE_OCI.{t.strftime('%Y%m%dT%H%M%S')}.L2.OC_AOP.V3_0.nc"
        for f, t in [("a", T0), ("lo", T0 + 6 * DAY), ("hi", T0 + 10 * DAY)]
    }
    p = pixel_pairs([hi, lo, a, lonely], PAIRS)
    got = p.groupby(["granule_t", "granule_t8"]).size().to_dict()
    assert got == {(names["a"], names["lo"]): 25, (names["a"], names["hi"]): 25}
    assert sorted(p["lead_hours"].unique()) == [6 * 24, 10 * 24]
    assert isinstance(p.index, pd.RangeIndex) and p.index[-1] == len(p) - 1
    q = pixel_pairs([late, lo, a, lonely], PAIRS)
    assert q.groupby(["granule_t", "granule_t8"]).size().to_dict() == {
        (names["a"], names["lo"]): 25
    }


def test_pixel_pairs_single_valid_pixels_and_empty_chips(tmp_path):
    """One valid pixel at t, a later chip with none, one after it with one: exactly one pair."""
    one = np.zeros((5, 5), dtype=bool)
    one[1, 3] = True
    t = write_chip(tmp_path / "t.nc", T0, valid=one)
    empty = write_chip(tmp_path / "e.nc", T0 + 7 * DAY, valid=np.zeros((5, 5), dtype=bool))
    later = write_chip(tmp_path / "l.nc", T0 + 8 * DAY, valid=one, offset=0.05)
    p = pixel_pairs([t, empty, later], PAIRS)
    assert len(p) == 1
    assert p["granule_t8"].iloc[0].startswith("PACE_OCI.20240709")
    assert p["Rrs_412"].iloc[0] == pytest.approx(0.009)  # pixel (1, 3): 0.001 * (5 + 3 + 1)
    assert p["future_Rrs_412"].iloc[0] == pytest.approx(0.059)


def test_pixel_pairs_chain_reuses_chips_and_inclusive_distance(tmp_path):
    """Chips 8 days apart in a chain (the middle one is t8 of the first and t of the last)."""
    a = write_chip(tmp_path / "a.nc", T0)
    b = write_chip(tmp_path / "b.nc", T0 + 8 * DAY, dlat=0.001)
    c = write_chip(tmp_path / "c.nc", T0 + 16 * DAY)
    p = pixel_pairs([a, b, c], PAIRS)
    assert p.groupby("granule_t").size().tolist() == [25, 25]
    # max distance inclusive: a threshold equal to the largest distance keeps every pair
    d_max = float(p["dist_km"].max())
    assert len(pixel_pairs([a, b, c], replace(PAIRS, pixel_max_dist_km=d_max))) == 50
    assert len(pixel_pairs([a, b, c], replace(PAIRS, pixel_max_dist_km=d_max * 0.999))) < 50


def test_pixel_pairs_cap_draws_distinct_pixels_and_default_seed(tmp_path):
    a = write_chip(tmp_path / "a.nc", T0)
    b = write_chip(tmp_path / "b.nc", T0 + 8 * DAY, dlat=0.001)
    cfg = replace(PAIRS, max_pixel_pairs_per_granule_pair=20)
    p = pixel_pairs([a, b], cfg)
    assert len(p) == 20 and not p.duplicated(["lat", "lon"]).any()  # without replacement
    pd.testing.assert_frame_equal(p, pixel_pairs([a, b], cfg, seed=0))
    exactly = pixel_pairs([a, b], replace(PAIRS, max_pixel_pairs_per_granule_pair=25))
    assert len(exactly) == 25 and not exactly.duplicated(["lat", "lon"]).any()
    one = pixel_pairs([a, b], replace(PAIRS, max_pixel_pairs_per_granule_pair=1))
    assert len(one) == 1
    for bad in ({"pixel_max_dist_km": 0.0}, {"max_pixel_pairs_per_granule_pair": 0}):
        with pytest.raises(ValueError, match=r"need max_dist_km > 0 and max_pairs_per_granule"):
            pixel_pairs([a, b], replace(PAIRS, **bad))


def test_pixel_pairs_empty_result_has_the_columns_and_dtypes_of_a_full_one(tmp_path):
    a = write_chip(tmp_path / "a.nc", T0)
    b = write_chip(tmp_path / "b.nc", T0 + 8 * DAY)
    full = pixel_pairs([a, b], PAIRS)
    empty = pixel_pairs([a], PAIRS)
    assert len(empty) == 0
    assert empty.dtypes.astype(str).to_dict() == full.dtypes.astype(str).to_dict()
    none = pixel_pairs([], PAIRS)  # no chip at all: no band either
    assert list(none.columns) == [
        "granule_t", "granule_t8", "time_utc", "future_time_utc", "lat", "lon", "lead_hours",
        "dist_km",
    ]  # fmt: skip


def test_labelled_pairs_station_codes_compare_as_text():
    """Numeric site codes in the samples match the same codes written as text in the spectra."""
    spec = spectra_df([("8", T0)])
    smp = samples_df([{"time_utc": T0 + 8 * DAY, "site": 8}])
    assert smp["site"].dtype.kind == "i"
    p = labelled_pairs(spec, smp, **LEAD)
    assert p["station"].tolist() == ["8"] and p["label_sample_id"].tolist() == ["s00"]


def test_pixel_pairs_later_chip_out_of_reach_does_not_stop_the_next(tmp_path):
    a = write_chip(tmp_path / "a.nc", T0)
    far = write_chip(tmp_path / "far.nc", T0 + 7 * DAY, dlat=1.0)  # in time, 110 km away
    b = write_chip(tmp_path / "b.nc", T0 + 8 * DAY)
    p = pixel_pairs([a, far, b], PAIRS)
    assert len(p) == 25 and (p["lead_hours"] == 8 * 24).all()
