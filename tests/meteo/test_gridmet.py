"""gridMET AUX features (spectm.meteo.gridmet) on small generated files in gridMET's real layout."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import circmean

from spectm._io import write_netcdf
from spectm.meteo import gridmet

# a 1/24 degree grid over western Lake Erie, latitude descending as in gridMET
LAT = np.round(41.9 - np.arange(8) / 24, 6)
LON = np.round(-83.5 + np.arange(9) / 24, 6)
DAYS = pd.date_range("2024-06-01", periods=40, freq="D")
# gridMET packing per variable: (scale_factor, add_offset), values stored as uint16
PACKING = {"pr": (0.1, 0.0), "tmmx": (0.1, 220.0), "th": (1.0, 0.0), "srad": (0.1, 0.0)}
UNITS = {"pr": "mm", "tmmx": "K", "th": "Degrees Clockwise from north", "srad": "W m-2"}


def make_values(var: str, seed: int, water: np.ndarray | None = None) -> np.ndarray:
    """Seeded daily values (day, lat, lon) exactly representable in the packed encoding."""
    rng = np.random.default_rng(seed)
    scale, offset = PACKING[var]
    top = {"pr": 400, "tmmx": 1000, "th": 359, "srad": 3500}[var]
    packed = rng.integers(0, top, size=(DAYS.size, LAT.size, LON.size))
    values = packed * scale + offset
    if water is not None:
        values[:, water] = np.nan
    return values


def write_fake_gridmet(
    path: Path, var: str, values: np.ndarray, *, nc_name: str | None = None
) -> Path:
    """Write one variable as gridMET's aggregated files are laid out (dims day, lat, lon).

    Packed uint16 with scale_factor/add_offset and _FillValue 32767, ``day`` as days since
    1900-01-01, latitude descending, variable named as in the OPeNDAP aggregation.
    """
    name = nc_name or gridmet.GRIDMET_VARIABLES[var].nc_name
    scale, offset = PACKING[var]
    ds = xr.Dataset(
        {
            name: (
                ("day", "lat", "lon"),
                values,
                {
                    "units": UNITS[var],
                    "description": gridmet.GRIDMET_VARIABLES[var].description,
                    "long_name": var,
                    "standard_name": var,
                    "coordinate_system": "WGS84,EPSG:4326",
                },
            )
        },
        coords={
            "day": ("day", DAYS, {"long_name": "time", "standard_name": "time"}),
            "lat": ("lat", LAT, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", LON, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={"author": "spectm test fixture in gridMET layout", "Conventions": "CF-1.6"},
    )
    encoding = {
        name: {"dtype": "uint16", "scale_factor": scale, "add_offset": offset, "_FillValue": 32767},
        "day": {"units": "days since 1900-01-01 00:00:00", "calendar": "gregorian", "dtype": "f8"},
    }
    return write_netcdf(ds, path, encoding=encoding)


@pytest.fixture(scope="module")
def gridmet_dir(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("gridmet")
    water = np.zeros((LAT.size, LON.size), dtype=bool)
    water[3:6, 3:7] = True  # a masked "lake" in the middle of the grid
    for seed, var in enumerate(PACKING):
        path = tmp_path / f"agg_met_{var}_1979_CurrentYear_CONUS.nc"
        write_fake_gridmet(path, var, make_values(var, seed, water))
    return tmp_path


def opener_for(folder: Path):
    template = str(folder / "agg_met_{var}_1979_CurrentYear_CONUS.nc")
    return partial(gridmet.open_gridmet, url_template=template)


def samples_on_cells(cells, times):
    return pd.DataFrame(
        {
            "time_utc": pd.to_datetime(times, utc=True),
            "lat": [LAT[i] for i, _ in cells],
            "lon": [LON[j] for _, j in cells],
        },
        index=[f"s{k}" for k in range(len(cells))],
    )


def test_window_aggregation_equals_hand_computation(gridmet_dir):
    cells = [(0, 0), (7, 8), (2, 5)]
    times = ["2024-06-20T14:30:00", "2024-06-16T23:59:00", "2024-07-10T00:05:00"]
    samples = samples_on_cells(cells, times)
    windows = (1, 3, 7, 14)
    out = gridmet.aux_features(
        samples,
        variables=("pr", "tmmx", "th"),
        windows_days=windows,
        opener=opener_for(gridmet_dir),
    )
    expected_cols = [
        f"aux_{v}_{a}_{w}d"
        for v, a in (("pr", "sum"), ("tmmx", "mean"), ("th", "circmean"))
        for w in windows
    ]
    assert out.columns.tolist() == expected_cols
    assert out.index.tolist() == samples.index.tolist()

    water = np.zeros((LAT.size, LON.size), dtype=bool)
    water[3:6, 3:7] = True
    truth = {v: make_values(v, seed, water) for seed, v in enumerate(PACKING)}
    for k, ((i, j), t) in enumerate(zip(cells, times, strict=True)):
        d = DAYS.get_loc(pd.Timestamp(t).normalize())
        for w in windows:
            days = range(d - w, d)  # the w days before the sample day, not the day itself
            pr = sum(truth["pr"][x, i, j] for x in days)
            tmax = sum(truth["tmmx"][x, i, j] for x in days) / w
            th = circmean([truth["th"][x, i, j] for x in days], high=360, low=0)
            row = out.iloc[k]
            assert row[f"aux_pr_sum_{w}d"] == pytest.approx(pr, abs=1e-9)
            assert row[f"aux_tmmx_mean_{w}d"] == pytest.approx(tmax, abs=1e-9)
            diff = (row[f"aux_th_circmean_{w}d"] - th + 180) % 360 - 180
            assert abs(diff) < 1e-6


def test_sample_day_itself_never_enters_a_window(tmp_path):
    values = make_values("pr", 7)
    d = 20
    path = tmp_path / "agg_met_pr_1979_CurrentYear_CONUS.nc"
    samples = samples_on_cells([(1, 1)], [DAYS[d] + pd.Timedelta(hours=15)])

    write_fake_gridmet(path, "pr", values)
    base = gridmet.aux_features(samples, variables=("pr",), opener=opener_for(tmp_path))

    values[d, 1, 1] = 3000.0  # a storm on the sample day: must not change any feature
    write_fake_gridmet(path, "pr", values)
    storm_today = gridmet.aux_features(samples, variables=("pr",), opener=opener_for(tmp_path))
    pd.testing.assert_frame_equal(storm_today, base)

    values[d - 1, 1, 1] = 3000.0  # the day before is in every window
    write_fake_gridmet(path, "pr", values)
    storm_yesterday = gridmet.aux_features(samples, variables=("pr",), opener=opener_for(tmp_path))
    assert (storm_yesterday.to_numpy() > base.to_numpy() + 2000).all()


def test_masked_water_uses_nearest_valid_cell(gridmet_dir):
    ds = gridmet.open_gridmet(
        "srad", url_template=str(gridmet_dir / "agg_met_{var}_1979_CurrentYear_CONUS.nc")
    )
    # (4, 4) is inside the masked lake; its nearest valid cell is on the lake's edge
    lat, lon = [LAT[4], LAT[0]], [LON[4], LON[0]]
    series = gridmet.gridmet_point_series(ds, lat, lon, "2024-06-05", "2024-06-09")
    assert series.dims == ("day", "point") and series.shape == (5, 2)
    assert np.isfinite(series.to_numpy()).all()
    assert series["cell_dist_km"][0] > 3.0 and series["cell_dist_km"][1] < 1e-6
    # the chosen cell is valid and no other valid cell is closer (brute force)
    grid = ds["daily_mean_shortwave_radiation_at_surface"].isel(day=4).to_numpy()
    yy, xx = np.nonzero(np.isfinite(grid))
    coslat = np.cos(np.deg2rad(np.mean(lat)))
    d_all = np.hypot((LON[xx] - lon[0]) * coslat, LAT[yy] - lat[0]) * 111.195
    assert series["cell_dist_km"][0] == pytest.approx(d_all.min(), rel=1e-9)
    # plain nearest-cell selection would have returned the masked (NaN) cell
    plain = ds["daily_mean_shortwave_radiation_at_surface"].sel(
        lat=lat[0], lon=lon[0], method="nearest"
    )
    assert np.isnan(plain.isel(day=4).item())

    far = gridmet.gridmet_point_series(
        ds, [LAT[4]], [LON[4]], "2024-06-05", "2024-06-06", max_dist_km=1.0
    )
    assert np.isnan(far.to_numpy()).all()


def test_point_series_agrees_with_xarray_nearest_selection(gridmet_dir):
    ds = gridmet.open_gridmet(
        "tmmx", url_template=str(gridmet_dir / "agg_met_{var}_1979_CurrentYear_CONUS.nc")
    )
    rng = np.random.default_rng(3)
    lat = rng.uniform(LAT[2] - 0.015, LAT[0] + 0.015, 12)  # land rows only, off-centre points
    lon = rng.uniform(LON[0], LON[-1], 12)
    series = gridmet.gridmet_point_series(ds, lat, lon, "2024-06-03", "2024-06-12")
    ref = (
        ds["daily_maximum_temperature"]
        .sel(
            lat=xr.DataArray(lat, dims="point"),
            lon=xr.DataArray(lon, dims="point"),
            method="nearest",
        )
        .sel(day=slice("2024-06-03", "2024-06-12"))
    )
    np.testing.assert_allclose(series.to_numpy(), ref.transpose("day", "point").to_numpy())


def test_windows_not_covered_by_data_are_nan(gridmet_dir):
    samples = samples_on_cells([(0, 0), (0, 0)], ["2024-06-05T12:00", "2024-07-15T12:00"])
    out = gridmet.aux_features(samples, variables=("pr",), opener=opener_for(gridmet_dir))
    # sample 0: day index 4 -> 1d and 3d covered, 7d and 14d start before the data
    assert out.iloc[0][["aux_pr_sum_1d", "aux_pr_sum_3d"]].notna().all()
    assert out.iloc[0][["aux_pr_sum_7d", "aux_pr_sum_14d"]].isna().all()
    # sample 1: 2024-07-15 is beyond the last day + 1 (2024-07-10) -> the windows lack data
    assert out.iloc[1][["aux_pr_sum_1d", "aux_pr_sum_3d"]].isna().all()
    # a sample 330 km outside the grid has no valid cell within max_dist_km
    far = samples.iloc[:1].assign(lat=LAT[0] + 3.0)
    far_out = gridmet.aux_features(far, variables=("pr",), opener=opener_for(gridmet_dir))
    assert far_out.isna().to_numpy().all()


def test_missing_variable_and_bad_input_give_clear_errors(tmp_path, gridmet_dir):
    write_fake_gridmet(
        tmp_path / "agg_met_tmmx_1979_CurrentYear_CONUS.nc", "tmmx", make_values("tmmx", 1),
        nc_name="air_temperature",  # the yearly files' name, not the aggregation's
    )  # fmt: skip
    samples = samples_on_cells([(0, 0)], ["2024-06-20T12:00"])
    with pytest.raises(
        ValueError, match=r"lacks variable 'daily_maximum_temperature'.*air_temperature"
    ):
        gridmet.aux_features(samples, variables=("tmmx",), opener=opener_for(tmp_path))
    with pytest.raises(ValueError, match=r"unknown gridMET variable 'tmax'"):
        gridmet.aux_features(samples, variables=("tmax",), opener=opener_for(gridmet_dir))
    with pytest.raises(OSError, match=r"agg_met_vpd_1979_CurrentYear_CONUS\.nc"):
        gridmet.aux_features(samples, variables=("vpd",), opener=opener_for(gridmet_dir))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['lon'\]"):
        gridmet.aux_features(samples.drop(columns="lon"), opener=opener_for(gridmet_dir))
    bad = samples.assign(time_utc=["not a time"])
    with pytest.raises(ValueError, match=r"'time_utc'.*row 's0'"):
        gridmet.aux_features(bad, variables=("pr",), opener=opener_for(gridmet_dir))
    with pytest.raises(ValueError, match="windows_days"):
        gridmet.aux_features(
            samples, variables=("pr",), windows_days=(0, 3), opener=opener_for(gridmet_dir)
        )


def test_many_samples_share_cells_and_stay_aligned(gridmet_dir):
    rng = np.random.default_rng(11)
    n = 500
    cells = [(int(rng.integers(0, 3)), int(rng.integers(0, 9))) for _ in range(n)]
    times = DAYS[rng.integers(14, 40, n)] + pd.to_timedelta(rng.integers(0, 86400, n), unit="s")
    samples = samples_on_cells(cells, times).sample(frac=1.0, random_state=1)
    out = gridmet.aux_features(
        samples, variables=("pr",), windows_days=(3,), opener=opener_for(gridmet_dir)
    )
    truth = make_values("pr", 0)
    for label in samples.index[:25]:
        k = int(label[1:])
        (i, j), d = cells[k], DAYS.get_loc(pd.Timestamp(times[k]).normalize())
        assert out.loc[label, "aux_pr_sum_3d"] == pytest.approx(truth[d - 3 : d, i, j].sum())
