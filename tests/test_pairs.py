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


def write_chip(path: Path, start: pd.Timestamp, *, dlat: float = 0.0, hole: bool = False) -> Path:
    """A 5 x 5 chip; pixel (i, j) has Rrs = 0.001 * (5 i + j + 1) + band / 1000."""
    j, i = np.meshgrid(np.arange(5), np.arange(5))
    lat = 41.7 + 0.01 * i + dlat
    lon = -83.3 + 0.01 * j
    rrs = (0.001 * (5 * i + j + 1))[..., None] + np.arange(WL.size) / 1000.0
    if hole:
        rrs[2, 2] = np.nan
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
