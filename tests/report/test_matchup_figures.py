import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from spectm.report import matchup_figures as mf
from spectm.spectral.srf import s2_band_parameters
from tests.report.helpers import capture_saved_figures, png_size


@pytest.fixture
def saved(monkeypatch):
    return capture_saved_figures(monkeypatch, mf)


def stations():
    samples = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", "d", "e"],
            "site": ["WE2", "WE2", "WE2", "WE4", "transect 1"],
            "station_lat": [41.762, 41.762, 41.762, 41.827, 41.70],
            "station_lon": [-83.330, -83.330, -83.330, -83.193, -83.25],
        }
    )
    exclusions = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", "d", "e"],
            "status": ["matched", "matched", "excluded", "excluded", "matched"],
            "reason": ["matched", "matched", "no granule", "cloud", "matched"],
        }
    )
    return samples, exclusions


def test_station_map_sizes_and_colours(tmp_path, saved):
    samples, exclusions = stations()
    png_size(mf.station_map(samples, exclusions, tmp_path / "station_map.png"))
    ax = saved["station_map.png"].axes[0]
    assert len(ax.lines) > 0  # the shoreline
    (sc,) = ax.collections
    # one marker per WE station (the transect sample is left out), sorted by site
    np.testing.assert_allclose(sc.get_offsets(), [[-83.330, 41.762], [-83.193, 41.827]])
    np.testing.assert_allclose(sc.get_sizes(), [20 + 3 / 2, 20 + 1 / 2])
    np.testing.assert_array_equal(sc.get_array(), [2, 0])
    labels = [t.get_text().replace("(", "").replace(")", "").split() for t in ax.texts]
    assert [(site, float(n)) for site, n in labels] == [("WE2", 2.0), ("WE4", 0.0)]


def test_station_map_labels_are_integer_counts(tmp_path, saved):
    samples, exclusions = stations()
    mf.station_map(samples, exclusions, tmp_path / "station_map.png")
    ax = saved["station_map.png"].axes[0]
    assert [t.get_text() for t in ax.texts] == ["WE2 (2)", "WE4 (0)"]


def test_exclusion_figure_bars(tmp_path, saved):
    _, exclusions = stations()
    png_size(mf.exclusion_figure(exclusions, tmp_path / "excl.png"))
    ax = saved["excl.png"].axes[0]
    widths = [p.get_width() for p in ax.patches]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert dict(zip(labels, widths, strict=True)) == {"matched": 3, "no granule": 1, "cloud": 1}
    assert labels[-1] == "matched"  # ascending: the largest bar on top
    assert ax.get_xscale() == "log"
    assert sorted(t.get_text().strip() for t in ax.texts) == ["1", "1", "3"]


def test_dt_distance_histograms(tmp_path, saved):
    matchups = pd.DataFrame(
        {"dt_hours": [-5.0, 10.0, 30.0, -95.0, 100.0], "dist_km": [0.1, 0.3, 0.35, 1.9, 2.5]}
    )
    png_size(mf.dt_distance_figure(matchups, tmp_path / "dt.png"))
    fig = saved["dt.png"]
    a, b = fig.axes[:2]
    dt_counts = [p.get_height() for p in a.patches]
    assert len(dt_counts) == 16  # 6-hour bins over 0-96 h
    assert dt_counts[0] == 1 and dt_counts[1] == 1 and dt_counts[5] == 1 and dt_counts[15] == 1
    assert sum(dt_counts) == 4  # |dt| = 100 h is beyond the last bin
    dist_counts = [p.get_height() for p in b.patches]
    assert len(dist_counts) == 10 and dist_counts[0] == 1 and dist_counts[1] == 2
    assert dist_counts[9] == 1 and sum(dist_counts) == 4  # 2.5 km is outside 0-2 km
    assert fig._suptitle.get_text() == "5 matchups"


def test_resampled_spectra_figure(tmp_path, saved):
    wl = np.arange(400.0, 721.0, 20.0)
    n = 6
    rng = np.random.default_rng(0)
    rrs = 0.004 + 0.001 * rng.random((n, wl.size))
    matchups = pd.DataFrame(rrs, columns=[f"Rrs_{w:g}" for w in wl])
    matchups["site"] = [f"WE{i}" for i in range(n)]
    matchups["time_utc"] = pd.date_range("2024-07-01", periods=n, freq="D", tz="UTC")
    bands = ["B01", "B02", "B03", "B04", "B05", "B06"]
    naive = pd.DataFrame(0.003 + 0.001 * rng.random((n, 6)), columns=bands)
    srf = naive + 0.0005
    naive["B06"] = np.nan  # beyond PACE: missing, so not drawn
    srf["B06"] = np.nan
    out = mf.resampled_spectra_figure(matchups, naive, srf, tmp_path / "rs.png", n=4)
    png_size(out)
    axes = saved["rs.png"].axes
    assert len(axes) == 4
    rows = [0, 1, 3, 5]  # evenly spread over the six matchups
    assert [ax.get_title() for ax in axes] == [f"WE{i} 2024-07-0{i + 1}" for i in rows]
    centres = s2_band_parameters("S2A", "4.0").set_index("band")["centre_nm"]
    for ax, i in zip(axes, rows, strict=True):
        pace, s2_naive, s2_srf = ax.lines
        np.testing.assert_allclose(pace.get_xdata(), wl)
        np.testing.assert_allclose(pace.get_ydata(), rrs[i])
        np.testing.assert_allclose(s2_naive.get_xdata(), centres[bands[:5]])
        np.testing.assert_allclose(s2_naive.get_ydata(), naive.iloc[i][bands[:5]])
        np.testing.assert_allclose(s2_srf.get_ydata(), srf.iloc[i][bands[:5]])
