import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import rasterio
import xarray as xr

from spectm.report import maps
from spectm.report.maps import plot_microcystin_map, write_microcystin_geotiff
from tests.conftest import grid_lat_lon
from tests.report.helpers import capture_saved_figures, png_size


def tiny_map(data_kind="demo"):
    mc = np.array(
        [
            [0.01, 0.05, 1.0, 5.0],  # 0.01 is below the colour range
            [np.nan, 0.2, 20.0, 500.0],  # 500 is above it; NaN = no estimate
            [0.1, np.nan, 2.0, 50.0],
        ]
    )
    lat, lon = grid_lat_lon(3, 4)
    return xr.Dataset(
        {"microcystin_ugL": (("y", "x"), mc)},
        coords={"lat": (("y", "x"), lat), "lon": (("y", "x"), lon)},
        attrs={
            "time_coverage_start": "2024-08-05T18:07:31.000000Z",
            "granule": "PACE_OCI.20240805T180731.L2.OC_AOP.V3_0.nc",
            "data_kind": data_kind,
            "model_method": "spectm_targeted_frozen",
            "interval_level": 0.9,
            "conformal_halfwidth_log10": 0.2,
        },
    )


def test_map_clips_to_the_log_range_and_labels(tmp_path, monkeypatch):
    saved = capture_saved_figures(monkeypatch, maps)
    out = plot_microcystin_map(tiny_map(), tmp_path / "maps" / "m.png")
    assert out == tmp_path / "maps" / "m.png"
    png_size(out)
    fig = saved["m.png"]
    ax = fig.axes[0]
    mesh = ax.collections[0]
    shown = np.ma.filled(np.ma.asarray(mesh.get_array(), dtype=float), np.nan).reshape(3, 4)
    want = np.array([[0.05, 0.05, 1.0, 5.0], [np.nan, 0.2, 20.0, 50.0], [0.1, np.nan, 2.0, 50.0]])
    np.testing.assert_allclose(shown, want)
    assert (mesh.norm.vmin, mesh.norm.vmax) == (0.05, 50.0)
    assert isinstance(mesh.norm, matplotlib.colors.LogNorm)
    assert "2024-08-05 18:07 UTC" in ax.get_title()
    assert "PACE_OCI.20240805T180731.L2.OC_AOP.V3_0.nc" in ax.get_title()
    (note,) = [t.get_text() for t in fig.texts]
    assert "spectm_targeted_frozen" in note and "not a measurement" in note
    assert "10 pixels" in note  # finite estimates
    assert "90% interval: estimate x/÷ 1.58" in note  # 10 ** 0.2
    assert "DEMO input" in note


def test_map_of_real_data_has_no_demo_note_and_custom_range(tmp_path, monkeypatch):
    saved = capture_saved_figures(monkeypatch, maps)
    plot_microcystin_map(tiny_map("real"), tmp_path / "m.png", vmin=1.0, vmax=10.0)
    fig = saved["m.png"]
    mesh = fig.axes[0].collections[0]
    shown = np.ma.filled(np.ma.asarray(mesh.get_array(), dtype=float), np.nan).reshape(3, 4)
    assert np.nanmin(shown) == 1.0 and np.nanmax(shown) == 10.0
    assert "DEMO" not in fig.texts[0].get_text()


@pytest.mark.parametrize(
    ("drop", "kwargs", "match"),
    [
        ("lat", {}, "lacks 'lat'"),
        ("microcystin_ugL", {}, "lacks 'microcystin_ugL'"),
        (None, {"vmin": 0.0}, "0 < vmin < vmax"),
        (None, {"vmin": 5.0, "vmax": 5.0}, "0 < vmin < vmax"),
    ],
)
def test_map_refuses_bad_input_and_writes_nothing(tmp_path, drop, kwargs, match):
    ds = tiny_map()
    if drop:
        ds = ds.drop_vars(drop)
    with pytest.raises(ValueError, match=match):
        plot_microcystin_map(ds, tmp_path / "m.png", **kwargs)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- GeoTIFF


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance (km, sphere of radius 6371 km), broadcasting."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def rotated_swath(ny=12, nx=15, pixel_km=1.2, angle_deg=25.0, seed=0):
    """A PACE-like swath tilted against north, jittered: lat/lon (ny, nx) in degrees."""
    rng = np.random.default_rng(seed)
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    a = np.radians(angle_deg)
    east = pixel_km * (i * np.cos(a) - j * np.sin(a)) + rng.uniform(-0.05, 0.05, (ny, nx))
    north = pixel_km * (i * np.sin(a) + j * np.cos(a)) + rng.uniform(-0.05, 0.05, (ny, nx))
    lat = 41.6 + north / 111.195
    lon = -83.1 + east / (111.195 * np.cos(np.radians(41.6)))
    return lat, lon


def swath_map(seed=0):
    rng = np.random.default_rng(seed)
    lat, lon = rotated_swath(seed=seed)
    mc = rng.uniform(0.1, 30.0, lat.shape)
    mc[rng.random(lat.shape) < 0.15] = np.nan  # cloud: no estimate
    ood = np.where(np.isnan(mc), np.nan, np.where(rng.random(lat.shape) < 0.2, 2.0, 0.0))
    ds = tiny_map()
    ds = xr.Dataset(
        {
            "microcystin_ugL": (("y", "x"), mc, {"units": "ug L-1", "long_name": "estimate"}),
            "microcystin_lo_ugL": (("y", "x"), mc / 2, {"units": "ug L-1"}),
            "microcystin_hi_ugL": (("y", "x"), mc * 2, {"units": "ug L-1"}),
            "ood_flag": (("y", "x"), ood),
        },
        coords={"lat": (("y", "x"), lat), "lon": (("y", "x"), lon)},
        attrs=ds.attrs,
    )
    return ds


def test_geotiff_is_a_cog_on_a_regular_grid_with_nearest_pixel_values(tmp_path):
    ds = swath_map()
    out = write_microcystin_geotiff(ds, tmp_path / "maps" / "m.tif")
    assert out == tmp_path / "maps" / "m.tif"
    assert [p.name for p in out.parent.iterdir()] == ["m.tif"]  # no temporary left behind
    with rasterio.open(out) as src:
        assert src.count == 4 and src.crs.to_epsg() == 4326
        assert src.dtypes == ("float32",) * 4 and np.isnan(src.nodata)
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.profile["tiled"]
        assert src.descriptions == (
            "microcystin_ugL: estimate (ug L-1)",
            "microcystin_lo_ugL: microcystin_lo_ugL (ug L-1)",
            "microcystin_hi_ugL: microcystin_hi_ugL (ug L-1)",
            "ood_flag: ood_flag",
        )
        assert src.tags()["granule"] == ds.attrs["granule"]
        data = src.read()
        rows, cols = np.meshgrid(np.arange(src.height), np.arange(src.width), indexing="ij")
        cx, cy = src.xy(rows.ravel(), cols.ravel())  # cell centres (lon, lat)
        res_lat = src.res[1]
    lat, lon = ds["lat"].values.ravel(), ds["lon"].values.ravel()
    # pixel size: median distance to the nearest other pixel centre (brute force, great circle)
    pair = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    np.fill_diagonal(pair, np.inf)
    pixel_km = np.median(pair.min(axis=1))
    assert res_lat * 111.195 == pytest.approx(pixel_km, rel=0.02)  # grid spacing = pixel size
    d = haversine_km(np.asarray(cy)[:, None], np.asarray(cx)[:, None], lat[None, :], lon[None, :])
    order = np.argsort(d, axis=1)
    d1 = np.take_along_axis(d, order[:, :1], axis=1)[:, 0]
    d2 = np.take_along_axis(d, order[:, 1:2], axis=1)[:, 0]
    near = (d1 < 0.5 * pixel_km) & (d2 > 1.05 * d1)  # unambiguous nearest pixel, well inside
    far = d1 > 1.5 * pixel_km  # well outside the swath
    assert near.sum() > 50 and far.sum() > 50  # the tilted swath leaves empty corners
    flat = data.reshape(4, -1)
    for band, name in enumerate(["microcystin_ugL", "microcystin_lo_ugL", "microcystin_hi_ugL"]):
        want = ds[name].values.ravel()[order[near, 0]].astype(np.float32)
        np.testing.assert_array_equal(flat[band, near], want)  # NaN where the pixel had none
    np.testing.assert_array_equal(flat[3, near], ds["ood_flag"].values.ravel()[order[near, 0]])
    assert np.isnan(flat[:, far]).all()


def test_geotiff_refuses_a_dataset_without_coordinates(tmp_path):
    with pytest.raises(ValueError, match="lacks 'lon'"):
        write_microcystin_geotiff(swath_map().drop_vars("lon"), tmp_path / "m.tif")
    assert list(tmp_path.iterdir()) == []


def test_map_marks_pixels_outside_the_training_domain(tmp_path, monkeypatch):
    saved = capture_saved_figures(monkeypatch, maps)
    ds = tiny_map()
    ood = np.zeros((3, 4))
    ood[0, 1], ood[2, 3] = 2, 5  # flagged
    ood[1, 0] = np.nan  # no estimate
    ds["ood_flag"] = (("y", "x"), ood)
    ds.attrs["n_ood_pixels"] = 2
    plot_microcystin_map(ds, tmp_path / "m.png")
    fig = saved["m.png"]
    marks = fig.axes[0].collections[1].get_offsets()
    lat, lon = grid_lat_lon(3, 4)
    np.testing.assert_allclose(marks, [[lon[0, 1], lat[0, 1]], [lon[2, 3], lat[2, 3]]])
    assert "2 pixels (red x) outside the model's training domain" in fig.texts[0].get_text()
