import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from spectm.report import quicklook
from spectm.report.quicklook import rgb_image, true_colour_png
from tests.conftest import chip_dataset, grid_lat_lon
from tests.report.helpers import png_size

WL = np.array([465.0, 555.0, 645.0, 700.0])
LAND = (0.80, 0.72, 0.55)
CLOUD = (1.0, 1.0, 1.0)


def tiny_chip(**attrs):
    """4 x 3 chip: one reddish pixel, one land pixel, one cloud pixel, one negative pixel."""
    rrs = np.full((4, 3, WL.size), 0.01)
    rrs[0, 0, :3] = [0.005, 0.01, 0.02]  # B, G, R
    rrs[1, 1] = np.nan  # LAND (chip_dataset flags invalid pixels as land)
    rrs[2, 2] = np.nan  # made CLDICE (and LAND) below: cloud wins
    rrs[3, 0] = -0.001  # negative Rrs shows black
    lat, lon = grid_lat_lon(4, 3)
    chip = chip_dataset(rrs, lat, lon, WL, pd.Timestamp("2024-07-01T18:00"))
    flags = chip["l2_flags"].values.copy()
    flags[2, 2] |= 4
    meanings = {"flag_masks": np.array([1, 2, 4], np.int32), "flag_meanings": "ATMFAIL LAND CLDICE"}
    chip["l2_flags"] = (("y", "x"), flags, meanings)
    chip.attrs.update(attrs)
    return chip


@pytest.fixture
def kept(monkeypatch):
    """Figures the quicklook would close, kept open for inspection and closed afterwards."""
    figs = []
    close = plt.close
    monkeypatch.setattr(quicklook.plt, "close", figs.append)
    yield figs
    for fig in figs:
        close(fig)


def test_rgb_image_one_stretch_for_all_channels():
    rgb = rgb_image(tiny_chip(), upper_percentile=100.0)  # stretch to the brightest value 0.02
    assert rgb.shape == (4, 3, 3)
    assert rgb[0, 0] == pytest.approx([1.0, 0.5**0.6, 0.25**0.6])  # R, G, B keep their ratios
    assert rgb[0, 1] == pytest.approx([0.5**0.6] * 3)
    assert rgb[3, 0] == pytest.approx([0.0, 0.0, 0.0])
    assert np.isnan(rgb[1, 1]).all() and np.isnan(rgb[2, 2]).all()
    assert np.isfinite(rgb).all(axis=-1).sum() == 10


def test_rgb_image_needs_bands_near_rgb():
    chip = tiny_chip().isel(wavelength=[0, 1, 3])  # no band within 5 nm of 645 nm
    with pytest.raises(ValueError, match="645"):
        rgb_image(chip)


def test_true_colour_png_image_and_labels(tmp_path, kept):
    stations = pd.DataFrame({"lat": [41.51], "lon": [-83.19], "station": ["WE2"]})
    chip = tiny_chip(spectm_demo="replay")
    out = true_colour_png(chip, tmp_path / "q" / "chip.png", stations=stations)

    assert out == tmp_path / "q" / "chip.png"
    assert png_size(out) == (770, 770)  # 7 x 7 in at 110 dpi
    assert [p.name for p in out.parent.iterdir()] == ["chip.png"]

    (fig,) = kept
    ax = fig.axes[0]
    image = np.asarray(ax.collections[0].get_array()).reshape(4, 3, 4)
    assert (image[..., 3] == 1.0).all()  # every pixel drawn, invalid ones by reason
    assert image[1, 1, :3] == pytest.approx(LAND)
    assert image[2, 2, :3] == pytest.approx(CLOUD)
    expected = rgb_image(chip)
    assert image[0, 0, :3] == pytest.approx(expected[0, 0])
    assert image[3, 0, :3] == pytest.approx([0.0, 0.0, 0.0])
    assert ax.get_title() == chip.attrs["granule"]
    assert [t.get_text() for t in ax.texts] == ["WE2"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "land",
        "cloud/ice",
        "other flag/fill",
    ]
    assert any("generated replay granule" in t.get_text() for t in fig.texts)


def test_true_colour_png_real_chip_has_no_demo_note(tmp_path, kept):
    true_colour_png(tiny_chip(), tmp_path / "chip.png", title="my title")
    (fig,) = kept
    assert fig.axes[0].get_title() == "my title"
    assert len(fig.texts) == 0
