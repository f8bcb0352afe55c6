import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import xarray as xr

from spectm.report import maps
from spectm.report.maps import plot_microcystin_map
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
